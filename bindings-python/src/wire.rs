//! The wire codec and the encodings every runtime shares, for Python: what a packet inspector
//! or a test needs. The core encodes and decodes (`rumor_core::wire`, `meta`, `user_event`);
//! this file converts its `Message` to and from a dict (`type` and the variant's fields, as in
//! tests/vectors/wire.json, addresses as `"ip:port"`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rumor_agent::rumor_core::wire::{self, Addr, Message, NONCE_LEN};
use rumor_agent::rumor_core::{Keyring, meta, user_event};

use crate::convert;
use crate::errors;

/// A message as a dict.
fn message_to_py<'py>(py: Python<'py>, message: &Message<'_>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let addr = |a: Addr| SocketAddr::from(a).to_string();
    let bytes = |b: &[u8]| PyBytes::new(py, b);
    let ty = match *message {
        Message::Ping { seq, target } => {
            d.set_item("seq", seq)?;
            d.set_item("target", target)?;
            "Ping"
        }
        Message::Ack { seq } => {
            d.set_item("seq", seq)?;
            "Ack"
        }
        Message::Nack { seq } => {
            d.set_item("seq", seq)?;
            "Nack"
        }
        Message::PingReq { seq, target, addr: a, nack } => {
            d.set_item("seq", seq)?;
            d.set_item("target", target)?;
            d.set_item("addr", addr(a))?;
            d.set_item("nack", nack)?;
            "PingReq"
        }
        Message::Alive { name, incarnation, addr: a, meta } => {
            d.set_item("name", name)?;
            d.set_item("incarnation", incarnation)?;
            d.set_item("addr", addr(a))?;
            d.set_item("meta", bytes(meta))?;
            "Alive"
        }
        Message::Suspect { name, incarnation, from } => {
            d.set_item("name", name)?;
            d.set_item("incarnation", incarnation)?;
            d.set_item("from", from)?;
            "Suspect"
        }
        Message::Dead { name, incarnation, from } => {
            d.set_item("name", name)?;
            d.set_item("incarnation", incarnation)?;
            d.set_item("from", from)?;
            "Dead"
        }
        Message::Left { name, incarnation } => {
            d.set_item("name", name)?;
            d.set_item("incarnation", incarnation)?;
            "Left"
        }
        Message::User { origin, id, payload } => {
            d.set_item("origin", origin)?;
            d.set_item("id", id)?;
            d.set_item("payload", bytes(payload))?;
            "User"
        }
        Message::Sync { from, reply } => {
            d.set_item("from", from)?;
            d.set_item("reply", reply)?;
            "Sync"
        }
        Message::Digest { from, digest, members } => {
            d.set_item("from", from)?;
            d.set_item("digest", digest)?;
            d.set_item("members", members)?;
            "Digest"
        }
    };
    d.set_item("type", ty)?;
    Ok(d)
}

/// The fields of one message dict, owned, so that a `Message` can borrow them.
struct Fields<'a, 'py> {
    dict: &'a Bound<'py, PyDict>,
}

impl Fields<'_, '_> {
    /// Field `key`, read by `read`; a missing or mistyped field names itself.
    fn field<T>(&self, key: &str, read: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<T>) -> PyResult<T> {
        let ty = self.dict.get_item("type")?.map(|t| t.to_string()).unwrap_or_default();
        match self.dict.get_item(key)? {
            Some(v) => read(&v).map_err(|e| errors::value(format_args!("{ty}.{key}: {e}"))),
            None => Err(errors::value(format_args!("a {ty} message needs `{key}`"))),
        }
    }

    fn get<T>(&self, key: &str) -> PyResult<T>
    where
        for<'a, 'py> T: FromPyObject<'a, 'py>,
        for<'a, 'py> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
    {
        self.field(key, |v| v.extract::<T>().map_err(Into::into))
    }

    fn addr(&self, key: &str) -> PyResult<Addr> {
        let text: String = self.get(key)?;
        let a: SocketAddr =
            text.parse().map_err(|_| errors::value(format_args!("`{key}` must be \"ip:port\", not {text:?}")))?;
        Ok(Addr::from(a))
    }
}

/// Encodes one message dict, with its length prefix.
fn encode_message(dict: &Bound<'_, PyDict>) -> PyResult<Vec<u8>> {
    let f = Fields { dict };
    let ty: String = f.get("type")?;
    let (s1, s2): (String, String);
    let b: Vec<u8>;
    let message = match ty.as_str() {
        "Ping" => {
            s1 = f.get("target")?;
            Message::Ping { seq: f.get("seq")?, target: &s1 }
        }
        "Ack" => Message::Ack { seq: f.get("seq")? },
        "Nack" => Message::Nack { seq: f.get("seq")? },
        "PingReq" => {
            s1 = f.get("target")?;
            Message::PingReq { seq: f.get("seq")?, target: &s1, addr: f.addr("addr")?, nack: f.get("nack")? }
        }
        "Alive" => {
            s1 = f.get("name")?;
            b = f.get("meta")?;
            Message::Alive { name: &s1, incarnation: f.get("incarnation")?, addr: f.addr("addr")?, meta: &b }
        }
        "Suspect" | "Dead" => {
            s1 = f.get("name")?;
            s2 = f.get("from")?;
            let incarnation = f.get("incarnation")?;
            if ty == "Suspect" {
                Message::Suspect { name: &s1, incarnation, from: &s2 }
            } else {
                Message::Dead { name: &s1, incarnation, from: &s2 }
            }
        }
        "Left" => {
            s1 = f.get("name")?;
            Message::Left { name: &s1, incarnation: f.get("incarnation")? }
        }
        "User" => {
            s1 = f.get("origin")?;
            b = f.get("payload")?;
            Message::User { origin: &s1, id: f.get("id")?, payload: &b }
        }
        "Sync" => {
            s1 = f.get("from")?;
            Message::Sync { from: &s1, reply: f.get("reply")? }
        }
        "Digest" => {
            s1 = f.get("from")?;
            Message::Digest { from: &s1, digest: f.get("digest")?, members: f.get("members")? }
        }
        other => return Err(errors::value(format_args!("unknown message type {other:?}"))),
    };
    Ok(wire::encode_to_vec(&message))
}

/// `(messages, skipped)` of a frame body.
#[pyfunction]
pub(crate) fn decode_body<'py>(py: Python<'py>, body: &[u8]) -> PyResult<(Vec<Bound<'py, PyDict>>, usize)> {
    let mut messages = Vec::new();
    let skipped = wire::decode_body(body, &mut messages).map_err(|e| errors::decode(py, e))?;
    let list = messages.iter().map(|m| message_to_py(py, m)).collect::<PyResult<Vec<_>>>()?;
    Ok((list, skipped))
}

/// The body holding `messages`.
#[pyfunction]
pub(crate) fn encode_body(py: Python<'_>, messages: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<u8>> {
    let mut body = Vec::new();
    for m in &messages {
        // Any mapping will do (a dict, a MappingProxyType, …).
        let dict = PyDict::new(py);
        dict.update(m.cast::<pyo3::types::PyMapping>()?)?;
        body.extend(encode_message(&dict)?);
    }
    Ok(body)
}

/// Opens a frame as a receiver with `keys` and `label`: `(header, body)`.
#[pyfunction]
#[pyo3(signature = (frame, keys = Vec::new(), label = ""), text_signature = "(frame, keys=(), label='')")]
pub(crate) fn decode_frame<'py>(
    py: Python<'py>,
    frame: &[u8],
    keys: Vec<Bound<'py, PyAny>>,
    label: &str,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
    let ring = keyring(py, &keys)?;
    let mut body = Vec::new();
    let header = wire::decode_frame(&ring, label.as_bytes(), frame, &mut body).map_err(|e| errors::decode(py, e))?;
    let h = PyDict::new(py);
    h.set_item("encrypted", header.encrypted)?;
    h.set_item("label", String::from_utf8_lossy(header.label))?;
    h.set_item("key_id", header.key_id)?;
    h.set_item("nonce", PyBytes::new(py, &header.nonce))?;
    h.set_item("len", header.len)?;
    Ok((h, PyBytes::new(py, &body)))
}

/// A frame around `body`, sealed with `key` under `nonce` if given.
#[pyfunction]
#[pyo3(signature = (body, label = "", key = None, nonce = None))]
pub(crate) fn encode_frame<'py>(
    py: Python<'py>,
    body: &[u8],
    label: &str,
    key: Option<Bound<'py, PyAny>>,
    nonce: Option<Vec<u8>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let seal = match (key, nonce) {
        (None, None) => None,
        (Some(key), Some(nonce)) => {
            let key = convert::key_typed(&key)?.map_err(errors::value)?;
            let len = nonce.len();
            let nonce: [u8; NONCE_LEN] = nonce
                .try_into()
                .map_err(|_| errors::value(format_args!("nonce must be {NONCE_LEN} bytes, not {len}")))?;
            Some((key, nonce))
        }
        _ => return Err(errors::value("a sealed frame needs both key and nonce")),
    };
    let frame = wire::encode_frame(label.as_bytes(), seal.as_ref().map(|(k, n)| (k, *n)), body)
        .ok_or_else(|| errors::value("the frame cannot be encoded (label too long, or a reserved nonce)"))?;
    Ok(PyBytes::new(py, &frame))
}

/// Receiver keys: none (plaintext) or several, the first the primary.
fn keyring(py: Python<'_>, keys: &[Bound<'_, PyAny>]) -> PyResult<Keyring> {
    let keys = keys
        .iter()
        .enumerate()
        .map(|(i, k)| convert::key_typed(k)?.map_err(|e| errors::keyring(py, format_args!("keys[{i}]: {e}"))))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(rumor_agent::keys::keyring(keys))
}

/// Node metadata as every runtime encodes it, within `max_len` (default: the protocol's limit).
#[pyfunction]
#[pyo3(signature = (meta, max_len = None))]
pub(crate) fn encode_meta<'py>(
    py: Python<'py>,
    meta: BTreeMap<String, String>,
    max_len: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = convert::meta_bytes(py, &meta, max_len.unwrap_or(wire::MAX_META_LEN))?;
    Ok(PyBytes::new(py, &bytes))
}

#[pyfunction]
pub(crate) fn decode_meta(py: Python<'_>, data: &[u8]) -> PyResult<BTreeMap<String, String>> {
    meta::decode(data).map_err(|e| errors::meta(py, e))
}

#[pyfunction]
pub(crate) fn encode_user_event<'py>(py: Python<'py>, name: &str, payload: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = user_event::encode(name, payload).map_err(errors::value)?;
    Ok(PyBytes::new(py, &bytes))
}

#[pyfunction]
pub(crate) fn decode_user_event<'py>(py: Python<'py>, data: &[u8]) -> (String, Bound<'py, PyBytes>) {
    let event = user_event::decode(data);
    (event.name.into_owned(), PyBytes::new(py, event.payload))
}

/// A new random key in base64.
#[pyfunction]
pub(crate) fn generate_key(py: Python<'_>) -> PyResult<String> {
    rumor_agent::keys::generate().map(|k| k.to_base64()).map_err(|e| errors::agent(py, e))
}
