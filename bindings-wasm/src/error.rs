//! How refusals reach JavaScript: one thrown `Error` per failure, with the core's message.
//! Decoding errors also carry which error it was (`name` names the codec, `kind` the variant),
//! so a caller can branch on it without parsing the message.

use core::fmt::Display;

use js_sys::Reflect;
use wasm_bindgen::{JsError, JsValue};

/// A refusal whose message is all there is to it (bad argument, refused command).
pub(crate) fn refused(message: impl Display) -> JsError {
    JsError::new(&message.to_string())
}

/// An `Error` named `name` (`DecodeError`, `MetaError`, `UserEventError`) with `kind` (the
/// core's variant name), the core's `message` and, when the variant carries one, `value`.
pub(crate) fn named(name: &str, kind: &str, message: impl Display, value: Option<u32>) -> JsValue {
    let error = js_sys::Error::new(&message.to_string());
    error.set_name(name);
    let _ = Reflect::set(&error, &JsValue::from_str("kind"), &JsValue::from_str(kind));
    if let Some(value) = value {
        let _ = Reflect::set(&error, &JsValue::from_str("value"), &JsValue::from(value));
    }
    error.into()
}
