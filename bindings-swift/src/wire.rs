//! The wire codec and the shared encodings for Swift (a packet inspector, the vector tests):
//! the core encodes and decodes; this file mirrors its `Message` as a uniffi enum.

use std::collections::HashMap;
use std::net::SocketAddr;

use rumor_core::wire::{self, Addr, DecodeError, Message, NONCE_LEN};
use rumor_core::{Keyring, meta, user_event};

use crate::types::{FfiError, key_bytes};

/// One protocol message (`rumor_core::wire::Message`), addresses as `ip:port`.
#[derive(uniffi::Enum, Clone, Debug, PartialEq, Eq)]
pub enum WireMessage {
    Ping { seq: u32, target: String },
    Ack { seq: u32 },
    Nack { seq: u32 },
    PingReq { seq: u32, target: String, addr: String, nack: bool },
    Alive { name: String, incarnation: u32, addr: String, meta: Vec<u8> },
    Suspect { name: String, incarnation: u32, from: String },
    Dead { name: String, incarnation: u32, from: String },
    Left { name: String, incarnation: u32 },
    User { origin: String, id: u64, payload: Vec<u8> },
    Sync { from: String, reply: bool },
    Digest { from: String, digest: u64, members: u32 },
}

fn addr_text(a: Addr) -> String {
    SocketAddr::from(a).to_string()
}

fn addr_of(text: &str) -> Result<Addr, FfiError> {
    let a: SocketAddr = text
        .parse()
        .map_err(|_| FfiError::Decode { kind: "BadAddr".into(), message: format!("{text:?} is not ip:port") })?;
    Ok(Addr::from(a))
}

impl From<&Message<'_>> for WireMessage {
    fn from(m: &Message<'_>) -> Self {
        match *m {
            Message::Ping { seq, target } => WireMessage::Ping { seq, target: target.into() },
            Message::Ack { seq } => WireMessage::Ack { seq },
            Message::Nack { seq } => WireMessage::Nack { seq },
            Message::PingReq { seq, target, addr, nack } => {
                WireMessage::PingReq { seq, target: target.into(), addr: addr_text(addr), nack }
            }
            Message::Alive { name, incarnation, addr, meta } => {
                WireMessage::Alive { name: name.into(), incarnation, addr: addr_text(addr), meta: meta.to_vec() }
            }
            Message::Suspect { name, incarnation, from } => {
                WireMessage::Suspect { name: name.into(), incarnation, from: from.into() }
            }
            Message::Dead { name, incarnation, from } => {
                WireMessage::Dead { name: name.into(), incarnation, from: from.into() }
            }
            Message::Left { name, incarnation } => WireMessage::Left { name: name.into(), incarnation },
            Message::User { origin, id, payload } => {
                WireMessage::User { origin: origin.into(), id, payload: payload.to_vec() }
            }
            Message::Sync { from, reply } => WireMessage::Sync { from: from.into(), reply },
            Message::Digest { from, digest, members } => WireMessage::Digest { from: from.into(), digest, members },
        }
    }
}

impl WireMessage {
    /// The core's message, borrowing from `self`; then its wire form with its length prefix.
    fn encode(&self) -> Result<Vec<u8>, FfiError> {
        let m = match self {
            WireMessage::Ping { seq, target } => Message::Ping { seq: *seq, target },
            WireMessage::Ack { seq } => Message::Ack { seq: *seq },
            WireMessage::Nack { seq } => Message::Nack { seq: *seq },
            WireMessage::PingReq { seq, target, addr, nack } => {
                Message::PingReq { seq: *seq, target, addr: addr_of(addr)?, nack: *nack }
            }
            WireMessage::Alive { name, incarnation, addr, meta } => {
                Message::Alive { name, incarnation: *incarnation, addr: addr_of(addr)?, meta }
            }
            WireMessage::Suspect { name, incarnation, from } => {
                Message::Suspect { name, incarnation: *incarnation, from }
            }
            WireMessage::Dead { name, incarnation, from } => Message::Dead { name, incarnation: *incarnation, from },
            WireMessage::Left { name, incarnation } => Message::Left { name, incarnation: *incarnation },
            WireMessage::User { origin, id, payload } => Message::User { origin, id: *id, payload },
            WireMessage::Sync { from, reply } => Message::Sync { from, reply: *reply },
            WireMessage::Digest { from, digest, members } => {
                Message::Digest { from, digest: *digest, members: *members }
            }
        };
        Ok(wire::encode_to_vec(&m))
    }
}

/// A frame's header.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub encrypted: bool,
    pub label: String,
    pub key_id: u8,
    pub nonce: Vec<u8>,
    pub len: u64,
}

/// An opened frame: header, body, its messages and how many of unknown types were skipped.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct DecodedFrame {
    pub header: FrameHeader,
    pub body: Vec<u8>,
    pub messages: Vec<WireMessage>,
    pub skipped: u64,
}

fn decode_error(e: DecodeError) -> FfiError {
    FfiError::Decode { kind: e.kind().0.to_owned(), message: e.to_string() }
}

fn ring(keys: &[Vec<u8>]) -> Result<Keyring, FfiError> {
    Ok(rumor_agent::keys::keyring(keys.iter().map(|k| key_bytes(k)).collect::<Result<Vec<_>, _>>()?))
}

/// A body's messages and how many of unknown types were skipped.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct DecodedBody {
    pub messages: Vec<WireMessage>,
    pub skipped: u64,
}

#[uniffi::export]
pub fn decode_body(body: Vec<u8>) -> Result<DecodedBody, FfiError> {
    let mut messages = Vec::new();
    let skipped = wire::decode_body(&body, &mut messages).map_err(decode_error)?;
    Ok(DecodedBody { messages: messages.iter().map(WireMessage::from).collect(), skipped: skipped as u64 })
}

#[uniffi::export]
pub fn encode_body(messages: Vec<WireMessage>) -> Result<Vec<u8>, FfiError> {
    let mut body = Vec::new();
    for m in &messages {
        body.extend(m.encode()?);
    }
    Ok(body)
}

/// Opens a frame as a receiver with raw 32-byte `keys` (empty: plaintext) and `label`.
#[uniffi::export]
pub fn decode_frame(frame: Vec<u8>, keys: Vec<Vec<u8>>, label: String) -> Result<DecodedFrame, FfiError> {
    let ring = ring(&keys)?;
    let mut body = Vec::new();
    let header = wire::decode_frame(&ring, label.as_bytes(), &frame, &mut body).map_err(decode_error)?;
    let header = FrameHeader {
        encrypted: header.encrypted,
        label: String::from_utf8_lossy(header.label).into_owned(),
        key_id: header.key_id,
        nonce: header.nonce.to_vec(),
        len: header.len as u64,
    };
    let decoded = decode_body(body.clone())?;
    Ok(DecodedFrame { header, body, messages: decoded.messages, skipped: decoded.skipped })
}

/// A frame around `body`, sealed with the raw `key` under the 12-byte `nonce` if both are given.
#[uniffi::export]
pub fn encode_frame(
    body: Vec<u8>,
    label: String,
    key: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
) -> Result<Vec<u8>, FfiError> {
    let seal = match (key, nonce) {
        (None, None) => None,
        (Some(key), Some(nonce)) => {
            let len = nonce.len();
            let nonce: [u8; NONCE_LEN] = nonce
                .try_into()
                .map_err(|_| FfiError::Node { message: format!("nonce must be {NONCE_LEN} bytes, not {len}") })?;
            Some((key_bytes(&key)?, nonce))
        }
        _ => return Err(FfiError::Node { message: "a sealed frame needs both key and nonce".into() }),
    };
    wire::encode_frame(label.as_bytes(), seal.as_ref().map(|(k, n)| (k, *n)), &body).ok_or_else(|| FfiError::Node {
        message: "the frame cannot be encoded (label too long, or a reserved nonce)".into(),
    })
}

/// Node metadata as every runtime encodes it, within `max_len` (default: the protocol's limit).
#[uniffi::export]
pub fn encode_meta(meta: HashMap<String, String>, max_len: Option<u32>) -> Result<Vec<u8>, FfiError> {
    let map = meta.into_iter().collect();
    let max = max_len.map_or(wire::MAX_META_LEN, |n| n as usize);
    meta::encode(&map, max).map_err(|e| FfiError::Meta { message: e.to_string() })
}

#[uniffi::export]
pub fn decode_meta(data: Vec<u8>) -> Result<HashMap<String, String>, FfiError> {
    meta::decode(&data).map(|m| m.into_iter().collect()).map_err(|e| FfiError::Meta { message: e.to_string() })
}

/// A named user event as one broadcast payload.
#[uniffi::export]
pub fn encode_user_event(name: String, payload: Vec<u8>) -> Result<Vec<u8>, FfiError> {
    user_event::encode(&name, &payload).map_err(|e| FfiError::Node { message: e.to_string() })
}

/// A user broadcast read as a named event.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct NamedEvent {
    pub name: String,
    pub payload: Vec<u8>,
}

#[uniffi::export]
pub fn decode_user_event(data: Vec<u8>) -> NamedEvent {
    let e = user_event::decode(&data);
    NamedEvent { name: e.name.into_owned(), payload: e.payload.to_vec() }
}
