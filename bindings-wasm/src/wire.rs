//! The wire decoder and the codecs every runtime shares, for JavaScript: what a packet
//! inspector or a test needs, all done by `rumor_core::wire`, `rumor_core::meta` and
//! `rumor_core::user_event`.

use js_sys::{Array, Object};
use rumor_core::wire::{self, DecodeError};
use rumor_core::{MetaError, meta, user_event};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::convert::{header_to_js, js_bytes, keyring_from_js, message_to_js, set, string_map_from_js};
use crate::error::named;

/// A decoding error as a thrown `DecodeError` whose `kind` is the core's variant name and
/// `value` the version or flag byte it carries.
fn decode_error(e: DecodeError) -> JsValue {
    let (kind, value) = e.kind();
    named("DecodeError", kind, e, value.map(u32::from))
}

fn meta_error(e: MetaError) -> JsValue {
    let kind = match e {
        MetaError::TooLong { .. } => "TooLong",
        MetaError::Malformed => "Malformed",
    };
    named("MetaError", kind, e, None)
}

/// `{messages, skipped}` of a body.
fn body_to_js(body: &[u8], into: &JsValue) -> Result<(), JsValue> {
    let mut messages = Vec::new();
    let skipped = wire::decode_body(body, &mut messages).map_err(decode_error)?;
    let list: Array = messages.iter().map(message_to_js).collect();
    set(into, "messages", &list);
    set(into, "skipped", &JsValue::from_f64(skipped as f64));
    Ok(())
}

/// Decodes a datagram as a receiver with `key` (none, one key as base64 or bytes, or an array
/// of keys) and cluster `label` (default none) would, then its body. Returns `{header, body,
/// messages, skipped}`: the header (`encrypted`, `label`, `keyId`, `nonce`, `len`), the opened
/// body, its messages (`type` is the message's name, fields as in `tests/vectors/wire.json`)
/// and how many messages of unknown types were skipped.
///
/// Throws a `DecodeError` (`kind`: `Truncated`, `BadMagic`, `UnknownVersion`, … as in
/// `rumor_core::wire::DecodeError`) for a datagram a node would drop, and an `Error` for a key
/// that is not one.
#[wasm_bindgen(js_name = decodeFrame, unchecked_return_type = "DecodedFrame")]
pub fn decode_frame(
    bytes: &[u8],
    #[wasm_bindgen(unchecked_param_type = "Key | Key[] | null | undefined")] key: JsValue,
    label: Option<String>,
) -> Result<JsValue, JsValue> {
    let ring = keyring_from_js(&key)?;
    let label = label.unwrap_or_default();
    let mut body = Vec::new();
    let header = wire::decode_frame(&ring, label.as_bytes(), bytes, &mut body).map_err(decode_error)?;
    let result: JsValue = Object::new().into();
    set(&result, "header", &header_to_js(&header));
    set(&result, "body", &js_bytes(&body));
    body_to_js(&body, &result)?;
    Ok(result)
}

/// Decodes a frame's body (the messages after the header): `{messages, skipped}` as in
/// [`decode_frame`]. Throws a `DecodeError`.
#[wasm_bindgen(js_name = decodeBody, unchecked_return_type = "DecodedBody")]
pub fn decode_body(body: &[u8]) -> Result<JsValue, JsValue> {
    let result: JsValue = Object::new().into();
    body_to_js(body, &result)?;
    Ok(result)
}

/// Encodes node metadata (an object of strings) as every runtime does; `maxLen` defaults to
/// the protocol's limit (512 bytes). Throws a `MetaError` (`kind` `TooLong`) past it.
#[wasm_bindgen(js_name = encodeMeta)]
pub fn encode_meta(
    #[wasm_bindgen(unchecked_param_type = "Record<string, string>")] map: JsValue,
    #[wasm_bindgen(js_name = maxLen)] max_len: Option<u32>,
) -> Result<Vec<u8>, JsValue> {
    let map = string_map_from_js(&map)?;
    let max_len = max_len.and_then(|n| usize::try_from(n).ok()).unwrap_or(wire::MAX_META_LEN);
    meta::encode(&map, max_len).map_err(meta_error)
}

/// Decodes node metadata into an object of strings. Throws a `MetaError` (`kind` `Malformed`)
/// if the bytes are not a Rumor string map.
#[wasm_bindgen(js_name = decodeMeta, unchecked_return_type = "Record<string, string>")]
pub fn decode_meta(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let map = meta::decode(bytes).map_err(meta_error)?;
    let object: JsValue = Object::new().into();
    for (k, v) in &map {
        set(&object, k, &JsValue::from_str(v));
    }
    Ok(object)
}

/// Frames a named user event for [`Node::broadcast`](crate::Node::broadcast): the name, NUL,
/// the payload. Throws a `UserEventError` (`kind` `NulInName`) if the name contains NUL.
#[wasm_bindgen(js_name = encodeUserEvent)]
pub fn encode_user_event(name: &str, payload: &[u8]) -> Result<Vec<u8>, JsValue> {
    user_event::encode(name, payload).map_err(|e| match e {
        user_event::UserEventError::NulInName => named("UserEventError", "NulInName", e, None),
        user_event::UserEventError::EmptyName => named("UserEventError", "EmptyName", e, None),
    })
}

/// Reads a user broadcast as a named event: `{name, payload}` (no NUL: an unnamed event).
#[wasm_bindgen(js_name = decodeUserEvent, unchecked_return_type = "UserEvent")]
pub fn decode_user_event(bytes: &[u8]) -> JsValue {
    let event = user_event::decode(bytes);
    let object: JsValue = Object::new().into();
    set(&object, "name", &JsValue::from_str(&event.name));
    set(&object, "payload", &js_bytes(event.payload));
    object
}
