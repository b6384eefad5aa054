//! Every vector of `tests/vectors/wire.json`, decoded in the browser through the binding's
//! JavaScript API (`decodeFrame`, `decodeBody`, `encodeMeta`/`decodeMeta`,
//! `encodeUserEvent`/`decodeUserEvent`) and compared byte for byte with what the vectors say,
//! as `core/tests/vectors.rs` does natively.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use common::{get, hex, json, unhex};
use js_sys::{Array, Uint8Array};
use rumor_core::MetaError;
use serde::Serialize as _;
use serde_json::{Value, json};
use serde_wasm_bindgen::Serializer;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const VECTORS: &str = include_str!("../../tests/vectors/wire.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

/// Runs `f` on every vector of `section`; fails listing every vector that failed.
fn check(section: &str, f: impl Fn(&Value) -> Result<(), String>) -> usize {
    let all = vectors();
    let list = all[section].as_array().unwrap();
    assert!(!list.is_empty(), "section {section} is empty");
    let failures: Vec<String> =
        list.iter().filter_map(|v| f(v).err().map(|e| format!("  {section}/{}: {e}", v["name"]))).collect();
    assert!(failures.is_empty(), "{} of {} vectors failed:\n{}", failures.len(), list.len(), failures.join("\n"));
    list.len()
}

fn same(what: &str, got: &Value, want: &Value) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got}, want {want}")) }
}

/// A vector's message in the binding's shape: addresses as `"ip:port"`.
fn expected_message(v: &Value) -> Value {
    let mut m = v.clone();
    if let Some(addr) = v.get("addr") {
        let octets = unhex(addr["octets"].as_str().unwrap());
        let port = u16::try_from(addr["port"].as_u64().unwrap()).unwrap();
        let ip = match addr["type"].as_str().unwrap() {
            "V4" => Ipv4Addr::from(<[u8; 4]>::try_from(octets).unwrap()).into(),
            "V6" => Ipv6Addr::from(<[u8; 16]>::try_from(octets).unwrap()).into(),
            other => panic!("address type {other}"),
        };
        m["addr"] = Value::String(SocketAddr::new(ip, port).to_string());
    }
    m
}

fn expected_messages(v: &Value) -> Value {
    Value::Array(v["messages"].as_array().unwrap().iter().map(expected_message).collect())
}

fn body(v: &Value) -> Result<Value, String> {
    rumor_wasm::decode_body(&unhex(v["hex"].as_str().unwrap())).map(|r| json(&r)).map_err(|e| json(&e).to_string())
}

/// The receiver's keys, named in the vector, as the `Uint8Array`s a caller passes.
fn keys(names: &Value) -> JsValue {
    let all = vectors();
    let list = Array::new();
    for name in names.as_array().unwrap() {
        let key = unhex(all["keys"][name.as_str().unwrap()]["key"].as_str().unwrap());
        list.push(&Uint8Array::from(key.as_slice()));
    }
    list.into()
}

/// The error's `kind` and `value` as the vectors name them.
fn error_of(e: &JsValue) -> Value {
    json!({"name": json(&get(e, "name")), "kind": json(&get(e, "kind")), "value": json(&get(e, "value"))})
}

#[wasm_bindgen_test]
fn single_messages() {
    check("messages", |v| {
        let got = body(v)?;
        same("messages", &got["messages"], &Value::Array(vec![expected_message(&v["message"])]))?;
        same("skipped", &got["skipped"], &json!(0))
    });
}

#[wasm_bindgen_test]
fn bodies_and_noncanonical_inputs() {
    for section in ["bodies", "noncanonical"] {
        check(section, |v| {
            let got = body(v)?;
            same("messages", &got["messages"], &expected_messages(v))?;
            same("skipped", &got["skipped"], &json!(0))
        });
    }
}

#[wasm_bindgen_test]
fn unknown_types_are_skipped() {
    check("unknown_types", |v| {
        let got = body(v)?;
        same("messages", &got["messages"], &expected_messages(v))?;
        same("skipped", &got["skipped"], &v["skipped"])
    });
}

#[wasm_bindgen_test]
fn frames() {
    check("frames", |v| {
        let label = v["label"].as_str().unwrap();
        let default_keys = Value::Array(v["seal"].get("key").into_iter().cloned().collect());
        let ring = keys(v.get("receiver_keys").unwrap_or(&default_keys));
        let frame = unhex(v["hex"].as_str().unwrap());
        let got = rumor_wasm::decode_frame(&frame, ring, Some(label.into())).map_err(|e| json(&e).to_string())?;
        let got = json(&got);
        let h = &v["header"];
        let want_header = json!({
            "encrypted": h["encrypted"], "label": label, "keyId": h["key_id"], "nonce": h["nonce"], "len": h["len"],
        });
        same("header", &got["header"], &want_header)?;
        same("body", &got["body"], &v["body"])?;
        same("messages", &got["messages"], &expected_messages(v))?;
        same("skipped", &got["skipped"], &json!(0))
    });
}

#[wasm_bindgen_test]
fn invalid_inputs_are_rejected_naming_the_error() {
    check("invalid", |v| {
        let input = unhex(v["hex"].as_str().unwrap());
        let got = match v["kind"].as_str().unwrap() {
            "body" => rumor_wasm::decode_body(&input),
            "frame" => rumor_wasm::decode_frame(
                &input,
                keys(&v["receiver_keys"]),
                Some(v["receiver_label"].as_str().unwrap().into()),
            ),
            other => panic!("kind {other}"),
        };
        match got {
            Ok(r) => Err(format!("accepted: {}", json(&r))),
            Err(e) => {
                let want = json!({"name": "DecodeError", "kind": v["error"], "value": v.get("error_value")});
                same("error", &error_of(&e), &want)
            }
        }
    });
}

#[wasm_bindgen_test]
fn meta() {
    check("meta", |v| {
        let map = v.get("map").map(|m| m.serialize(&Serializer::new().serialize_maps_as_objects(true)).unwrap());
        let max_len = v.get("max_len").map(|n| u32::try_from(n.as_u64().unwrap()).unwrap()).or(Some(u32::MAX));
        let decode_only = v["decode_only"].as_bool() == Some(true);
        match v["error"].as_str() {
            Some("TooLong") => {
                let e = rumor_wasm::encode_meta(map.unwrap(), max_len).err().ok_or("encoded")?;
                same("error", &error_of(&e), &json!({"name": "MetaError", "kind": "TooLong", "value": null}))?;
                let len = usize::try_from(v["len"].as_u64().unwrap()).unwrap();
                let max = usize::try_from(max_len.unwrap()).unwrap();
                same("message", &json(&get(&e, "message")), &json!(MetaError::TooLong { len, max }.to_string()))
            }
            Some("Malformed") => {
                let e = rumor_wasm::decode_meta(&unhex(v["hex"].as_str().unwrap())).err().ok_or("decoded")?;
                same("error", &error_of(&e), &json!({"name": "MetaError", "kind": "Malformed", "value": null}))
            }
            Some(other) => Err(format!("unknown error {other}")),
            None => {
                if !decode_only {
                    let bytes = rumor_wasm::encode_meta(map.unwrap(), max_len).map_err(|e| json(&e).to_string())?;
                    same("encode", &json!(hex(&bytes)), &v["hex"])?;
                }
                let decoded = rumor_wasm::decode_meta(&unhex(v["hex"].as_str().unwrap()))
                    .map_err(|e| json(&get(&e, "message")).to_string())?;
                same("decode", &json(&decoded), &v["map"])
            }
        }
    });
}

#[wasm_bindgen_test]
fn user_events() {
    check("user_events", |v| {
        let (name, payload) = (v["event"].as_str().unwrap(), unhex(v["payload"].as_str().unwrap()));
        match v["error"].as_str() {
            Some("NulInName") => {
                let e = rumor_wasm::encode_user_event(name, &payload).err().ok_or("encoded")?;
                same("error", &error_of(&e), &json!({"name": "UserEventError", "kind": "NulInName", "value": null}))
            }
            Some(other) => Err(format!("unknown error {other}")),
            None => {
                if v["decode_only"].as_bool() != Some(true) {
                    let bytes = rumor_wasm::encode_user_event(name, &payload).map_err(|e| json(&e).to_string())?;
                    same("encode", &json!(hex(&bytes)), &v["hex"])?;
                }
                let decoded = rumor_wasm::decode_user_event(&unhex(v["hex"].as_str().unwrap()));
                same("decode", &json(&decoded), &json!({"name": name, "payload": v["payload"]}))
            }
        }
    });
}

/// Keys given as base64 text open the same frames as keys given as bytes; a key of the wrong
/// length is an exception, not a panic.
#[wasm_bindgen_test]
fn keys_as_base64_and_bad_keys() {
    let all = vectors();
    let frame = all["frames"].as_array().unwrap().iter().find(|f| !f["seal"].is_null()).unwrap();
    let name = frame["seal"]["key"].as_str().unwrap();
    let key = unhex(all["keys"][name]["key"].as_str().unwrap());
    let text = rumor_core::Key::from_bytes(key.clone().try_into().unwrap()).to_base64();
    let bytes = unhex(frame["hex"].as_str().unwrap());
    let label = Some(frame["label"].as_str().unwrap().to_owned());
    let got = rumor_wasm::decode_frame(&bytes, JsValue::from_str(&text), label.clone()).unwrap();
    assert_eq!(json(&get(&got, "body")), frame["body"]);
    let short = Uint8Array::from(&key[..31]);
    let e = rumor_wasm::decode_frame(&bytes, short.into(), label.clone()).unwrap_err();
    assert_eq!(json(&get(&e, "message")), json!("a key is 32 bytes, not 31"));
    let e = rumor_wasm::decode_frame(&bytes, JsValue::from_str("not base64!"), label).unwrap_err();
    assert!(json(&get(&e, "message")).as_str().unwrap().starts_with("a key is not base64"));
}
