//! Named user events, as every Rumor runtime frames them in one broadcast
//! ([`Node::broadcast`](crate::Node::broadcast), delivered as [`Event::UserBroadcast`](crate::Event::UserBroadcast)):
//! the event's name, a NUL byte, its payload. A broadcast without a NUL byte (raw bytes sent
//! by a program) reads as an event with an empty name whose payload is all its bytes.
//!
//! ```
//! use rumor_core::user_event;
//!
//! let bytes = user_event::encode("deploy", b"v2").unwrap();
//! assert_eq!(bytes, b"deploy\0v2");
//! let event = user_event::decode(&bytes);
//! assert_eq!((&*event.name, event.payload), ("deploy", &b"v2"[..]));
//! assert!(user_event::encode("a\0b", b"").is_err());
//! ```

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a user event could not be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserEventError {
    /// The name contains a NUL byte, which ends the name on the wire.
    NulInName,
    /// The name is empty. The codec frames it ([`encode`] takes it: it reads back like a raw
    /// broadcast), but the runtimes' named-event commands (the agent's `send_event`, `rumor
    /// event`, `POST /v1/events`) refuse it: an event nobody can tell apart by name is a
    /// mistake.
    EmptyName,
}

impl fmt::Display for UserEventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserEventError::NulInName => f.write_str("event name must not contain NUL"),
            UserEventError::EmptyName => f.write_str("event name must not be empty"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UserEventError {}

/// A user event read from a broadcast's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEvent<'a> {
    /// The event's name: empty for a broadcast without a NUL byte. Read as UTF-8, with any
    /// invalid sequence replaced by U+FFFD (no Rumor runtime sends one: names are strings).
    pub name: Cow<'a, str>,
    /// The payload bytes, as sent.
    pub payload: &'a [u8],
}

/// The broadcast bytes of the event `name` carrying `payload`. The node then checks the
/// length against its per-packet budget ([`Node::max_broadcast_len`](crate::Node::max_broadcast_len)).
pub fn encode(name: &str, payload: &[u8]) -> Result<Vec<u8>, UserEventError> {
    if name.as_bytes().contains(&0) {
        return Err(UserEventError::NulInName);
    }
    let mut bytes = Vec::with_capacity(name.len() + 1 + payload.len());
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(payload);
    Ok(bytes)
}

/// Reads a broadcast's bytes as a user event. Never fails: any bytes are an event.
pub fn decode(bytes: &[u8]) -> UserEvent<'_> {
    match bytes.iter().position(|b| *b == 0) {
        Some(i) => {
            let (name, rest) = bytes.split_at(i);
            UserEvent { name: String::from_utf8_lossy(name), payload: rest.get(1..).unwrap_or_default() }
        }
        None => UserEvent { name: Cow::Borrowed(""), payload: bytes },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(bytes: &[u8]) -> (&str, &[u8]) {
        let e = decode(bytes);
        match e.name {
            Cow::Borrowed(n) => (n, e.payload),
            Cow::Owned(_) => ("<lossy>", e.payload),
        }
    }

    #[test]
    fn layout() {
        let b = encode("deploy", b"v2").unwrap();
        assert_eq!(b, b"deploy\0v2");
        assert_eq!(parts(&b), ("deploy", &b"v2"[..]));
        assert_eq!(parts(b"raw"), ("", &b"raw"[..]), "no NUL: an unnamed event");
        assert_eq!(parts(b"n\0"), ("n", &b""[..]));
        assert_eq!(parts(b"\0a\0b"), ("", &b"a\0b"[..]), "the first NUL ends the name");
        assert_eq!(parts(b""), ("", &b""[..]));
        assert_eq!(encode("", b"x").unwrap(), b"\0x");
        assert_eq!(encode("a\0", b"x"), Err(UserEventError::NulInName));
        assert_eq!(decode(b"\xff\0p").name, "\u{fffd}");
    }
}
