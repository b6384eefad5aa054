//! Conversions between the core's types and plain JavaScript values. Shapes come from the
//! core's serde derives wherever it has them; what they leave as numbers arrays (metadata,
//! payloads) becomes a string map (decoded by `rumor_core::meta`) or a `Uint8Array`.

use alloc::collections::BTreeMap;
use core::net::SocketAddr;

use js_sys::{Array, Object, Reflect, Uint8Array};
use rumor_core::wire::{Addr, Header, Message};
use rumor_core::{Event, Instant, Key, Keyring, Member, Status, meta, user_event};
use serde::Serialize;
use serde_wasm_bindgen::Serializer;
use wasm_bindgen::{JsCast, JsError, JsValue};

use crate::error::refused;

extern crate alloc;

/// The name of status code 0: the observer does not know the member.
pub(crate) const UNKNOWN_STATUS: &str = "unknown";

/// Plain objects for maps, numbers for counters (all below 2^53 in practice; a larger one is
/// an error, not a silent rounding).
const SERIALIZER: Serializer = Serializer::new().serialize_maps_as_objects(true);

/// The compact code of a status: its position in `Status::ALL` plus one (0 is unknown).
pub(crate) fn status_code(status: Status) -> u8 {
    Status::ALL.iter().position(|&s| s == status).and_then(|i| u8::try_from(i + 1).ok()).unwrap_or(0)
}

/// A JavaScript time in milliseconds as the core's instant (negative and NaN are time zero).
pub(crate) fn instant(ms: f64) -> Instant {
    Instant::from_millis_f64(ms)
}

/// A value through its serde shape.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value.serialize(&SERIALIZER).map_err(refused)
}

/// Sets `object[key] = value` on a plain object (which cannot refuse it).
pub(crate) fn set(object: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

/// Reads `object[key]` (undefined if absent or not an object).
pub(crate) fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Bytes as a new `Uint8Array` (a copy in JavaScript's memory).
pub(crate) fn js_bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

/// An `"ip:port"` string as a socket address.
pub(crate) fn socket_addr(text: &str) -> Result<SocketAddr, JsError> {
    text.parse().map_err(|_| refused(format_args!("{text:?} is not a socket address (ip:port)")))
}

/// Metadata as JavaScript sees it: the string map `rumor_core::meta` decodes, or the raw bytes
/// as a `Uint8Array` when they are not one.
pub(crate) fn meta_to_js(raw: &[u8]) -> JsValue {
    match meta::decode(raw) {
        Ok(map) => string_map(&map),
        Err(_) => js_bytes(raw),
    }
}

fn string_map(map: &BTreeMap<String, String>) -> JsValue {
    let object = Object::new();
    for (k, v) in map {
        set(&object, k, &JsValue::from_str(v));
    }
    object.into()
}

/// A JavaScript object of strings (or undefined/null: none), checked and encoded by
/// `rumor_core::meta` against `max_len`.
pub(crate) fn meta_from_js(value: &JsValue, max_len: usize) -> Result<Vec<u8>, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    let map = string_map_from_js(value)?;
    meta::encode(&map, max_len).map_err(refused)
}

/// A JavaScript object whose values are all strings.
pub(crate) fn string_map_from_js(value: &JsValue) -> Result<BTreeMap<String, String>, JsError> {
    serde_wasm_bindgen::from_value(value.clone())
        .map_err(|e| refused(format_args!("metadata must be an object of strings: {e}")))
}

/// A member: its serde shape, with its metadata as [`meta_to_js`] gives it.
pub(crate) fn member_to_js(member: &Member) -> Result<JsValue, JsError> {
    let object = to_js(member)?;
    set(&object, "meta", &meta_to_js(&member.meta));
    Ok(object)
}

/// An event: its serde shape (`type` is `Event::kind`). A member event's metadata is given as
/// [`meta_to_js`] gives it; a user broadcast's payload is a `Uint8Array`, and `name` and `data`
/// are the user event it carries (`rumor_core::user_event`).
pub(crate) fn event_to_js(event: &Event) -> Result<JsValue, JsError> {
    let object = to_js(event)?;
    if let Some(member) = event.member() {
        set(&object, "meta", &meta_to_js(&member.meta));
    }
    if let Event::UserBroadcast { payload, .. } = event {
        set(&object, "payload", &js_bytes(payload));
        let named = user_event::decode(payload);
        set(&object, "name", &JsValue::from_str(&named.name));
        set(&object, "data", &js_bytes(named.payload));
    }
    Ok(object)
}

/// A key: base64 text or 32 bytes (`Uint8Array`).
pub(crate) fn key_from_js(value: &JsValue) -> Result<Key, JsError> {
    let raw = if let Some(text) = value.as_string() {
        return Key::from_base64(&text).map_err(|e| refused(format_args!("a key {e}")));
    } else if let Some(array) = value.dyn_ref::<Uint8Array>() {
        array.to_vec()
    } else {
        return Err(refused("a key is base64 text or a Uint8Array"));
    };
    let len = raw.len();
    let raw: [u8; rumor_core::KEY_LEN] =
        raw.try_into().map_err(|_| refused(format_args!("a key is {} bytes, not {len}", rumor_core::KEY_LEN)))?;
    Ok(Key::from_bytes(raw))
}

/// A keyring from undefined/null (none: plaintext), one key, or an array of keys (the first
/// is the primary).
pub(crate) fn keyring_from_js(value: &JsValue) -> Result<Keyring, JsError> {
    let mut ring = Keyring::new();
    if value.is_undefined() || value.is_null() {
        return Ok(ring);
    }
    if let Some(list) = value.dyn_ref::<Array>() {
        for key in list.iter() {
            ring.install(key_from_js(&key)?);
        }
    } else {
        ring.install(key_from_js(value)?);
    }
    Ok(ring)
}

/// A wire address as a socket address string.
fn addr_to_js(addr: Addr) -> JsValue {
    JsValue::from_str(&SocketAddr::from(addr).to_string())
}

/// One decoded message as a plain object: `type` is the variant's name, the fields keep their
/// names (as in `tests/vectors/wire.json`), bytes are `Uint8Array`s, 64-bit numbers `BigInt`s
/// and addresses `"ip:port"` strings.
pub(crate) fn message_to_js(message: &Message<'_>) -> JsValue {
    let object: JsValue = Object::new().into();
    let put = |key: &str, value: JsValue| set(&object, key, &value);
    let str_ = |s: &str| JsValue::from_str(s);
    let ty = match *message {
        Message::Ping { seq, target } => {
            put("seq", seq.into());
            put("target", str_(target));
            "Ping"
        }
        Message::Ack { seq } => {
            put("seq", seq.into());
            "Ack"
        }
        Message::Nack { seq } => {
            put("seq", seq.into());
            "Nack"
        }
        Message::PingReq { seq, target, addr, nack } => {
            put("seq", seq.into());
            put("target", str_(target));
            put("addr", addr_to_js(addr));
            put("nack", nack.into());
            "PingReq"
        }
        Message::Alive { name, incarnation, addr, meta } => {
            put("name", str_(name));
            put("incarnation", incarnation.into());
            put("addr", addr_to_js(addr));
            put("meta", js_bytes(meta));
            "Alive"
        }
        Message::Suspect { name, incarnation, from } => {
            put("name", str_(name));
            put("incarnation", incarnation.into());
            put("from", str_(from));
            "Suspect"
        }
        Message::Dead { name, incarnation, from } => {
            put("name", str_(name));
            put("incarnation", incarnation.into());
            put("from", str_(from));
            "Dead"
        }
        Message::Left { name, incarnation } => {
            put("name", str_(name));
            put("incarnation", incarnation.into());
            "Left"
        }
        Message::User { origin, id, payload } => {
            put("origin", str_(origin));
            put("id", id.into());
            put("payload", js_bytes(payload));
            "User"
        }
        Message::Sync { from, reply } => {
            put("from", str_(from));
            put("reply", reply.into());
            "Sync"
        }
        Message::Digest { from, digest, members } => {
            put("from", str_(from));
            put("digest", digest.into());
            put("members", members.into());
            "Digest"
        }
    };
    put("type", str_(ty));
    object
}

/// A frame header: `encrypted`, `label` (text), `keyId`, `nonce` (bytes), `len` (its length).
pub(crate) fn header_to_js(header: &Header<'_>) -> JsValue {
    let object: JsValue = Object::new().into();
    set(&object, "encrypted", &header.encrypted.into());
    set(&object, "label", &JsValue::from_str(&String::from_utf8_lossy(header.label)));
    set(&object, "keyId", &header.key_id.into());
    set(&object, "nonce", &js_bytes(&header.nonce));
    set(&object, "len", &JsValue::from_f64(header.len as f64));
    object
}
