//! Helpers shared by the browser tests: JavaScript values read back as JSON, so they compare
//! with `tests/vectors/wire.json` and with expected shapes directly.
#![allow(dead_code, unreachable_pub)]

use js_sys::{Array, BigInt, Object, Uint8Array};
use serde_json::{Map, Number, Value};
use wasm_bindgen::{JsCast, JsValue};

/// Lower-case hex, as the vectors write bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A JavaScript value as JSON: a `Uint8Array` becomes hex, a `BigInt` its decimal text, an
/// integral number an integer.
pub fn json(value: &JsValue) -> Value {
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Value::String(hex(&bytes.to_vec()));
    }
    if let Some(big) = value.dyn_ref::<BigInt>() {
        return Value::String(String::from(big.to_string(10).unwrap()));
    }
    if let Some(array) = value.dyn_ref::<Array>() {
        return Value::Array(array.iter().map(|v| json(&v)).collect());
    }
    if let Some(s) = value.as_string() {
        return Value::String(s);
    }
    if let Some(b) = value.as_bool() {
        return Value::Bool(b);
    }
    if let Some(n) = value.as_f64() {
        if n.fract() == 0.0 && (0.0..9.007_199_254_740_992e15).contains(&n) {
            return Value::Number(Number::from(n as u64));
        }
        return Number::from_f64(n).map_or(Value::Null, Value::Number);
    }
    if value.is_undefined() || value.is_null() {
        return Value::Null;
    }
    let object: &Object = value.dyn_ref().unwrap();
    let mut map = Map::new();
    for entry in Object::entries(object).iter() {
        let pair: Array = entry.unchecked_into();
        map.insert(pair.get(0).as_string().unwrap(), json(&pair.get(1)));
    }
    Value::Object(map)
}

/// `object[key]`.
pub fn get(object: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(object, &JsValue::from_str(key)).unwrap()
}
