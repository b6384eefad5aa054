//! The golden wire-format vectors in `tests/vectors/wire.json`, shared with every other
//! implementation, checked in both directions against `rumor_core::wire`: encoding gives the
//! vectors' bytes, and decoding them gives the vectors' messages, skip count or error. The
//! `meta` and `user_events` sections check the conventions runtimes share on top of the wire
//! (`rumor_core::meta`, `rumor_core::user_event`) the same way.
//!
//! Each section is run by [`check`]: every vector is tried, and all the failures are reported
//! together with their names.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use rumor_core::wire::{self, Addr, DecodeError, Header, Message};
use rumor_core::{Key, Keyring};
use serde_json::Value;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/wire.json");

type Check = Result<(), String>;

/// The parsed vector file, read once per test binary.
fn vectors() -> &'static Value {
    static VECTORS: OnceLock<Value> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("reading {PATH}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {PATH}: {e}"))
    })
}

/// Runs `f` on every vector of `section` and fails with the list of vectors that failed.
fn check(section: &str, f: impl Fn(&Value) -> Check) {
    let list = vectors()[section].as_array().unwrap_or_else(|| panic!("section {section:?} is missing"));
    assert!(!list.is_empty(), "section {section:?} is empty");
    let failures: Vec<String> = list
        .iter()
        .filter_map(|v| f(v).err().map(|e| format!("  {section}/{}: {e}", v["name"].as_str().unwrap_or("<unnamed>"))))
        .collect();
    assert!(failures.is_empty(), "{} of {} vectors failed:\n{}", failures.len(), list.len(), failures.join("\n"));
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Check {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, want {want:?}")) }
}

// ---- reading the JSON ---------------------------------------------------------------------

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex {s:?}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or_else(|| panic!("missing field {key:?} in {v}"))
}

fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    field(v, key).as_str().unwrap_or_else(|| panic!("{key:?} is not a string in {v}"))
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    unhex(string(v, key))
}

/// Hex bytes that a borrowed `Message` can point at; leaked, which is fine in a test.
fn leaked(v: &Value, key: &str) -> &'static [u8] {
    Vec::leak(bytes(v, key))
}

fn u32_of(v: &Value, key: &str) -> u32 {
    field(v, key).as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or_else(|| panic!("{key:?} is not a u32 in {v}"))
}

fn bool_of(v: &Value, key: &str) -> bool {
    field(v, key).as_bool().unwrap_or_else(|| panic!("{key:?} is not a bool in {v}"))
}

fn keys_are(v: &Value, want: &[&str]) {
    let got: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(got, want.iter().copied().collect::<BTreeSet<_>>(), "unexpected fields in {v}");
}

fn addr(v: &Value) -> Addr {
    keys_are(v, &["type", "octets", "port"]);
    let octets = bytes(v, "octets");
    let port = u16::try_from(field(v, "port").as_u64().unwrap()).unwrap();
    match string(v, "type") {
        "V4" => Addr::V4(octets.try_into().unwrap(), port),
        "V6" => Addr::V6(octets.try_into().unwrap(), port),
        other => panic!("unknown address type {other:?}"),
    }
}

fn message(v: &Value) -> Message<'_> {
    let ty = string(v, "type");
    let m = match ty {
        "Ping" => Message::Ping { seq: u32_of(v, "seq"), target: string(v, "target") },
        "Ack" => Message::Ack { seq: u32_of(v, "seq") },
        "Nack" => Message::Nack { seq: u32_of(v, "seq") },
        "PingReq" => Message::PingReq {
            seq: u32_of(v, "seq"),
            target: string(v, "target"),
            addr: addr(field(v, "addr")),
            nack: bool_of(v, "nack"),
        },
        "Alive" => Message::Alive {
            name: string(v, "name"),
            incarnation: u32_of(v, "incarnation"),
            addr: addr(field(v, "addr")),
            meta: leaked(v, "meta"),
        },
        "Suspect" => {
            Message::Suspect { name: string(v, "name"), incarnation: u32_of(v, "incarnation"), from: string(v, "from") }
        }
        "Dead" => {
            Message::Dead { name: string(v, "name"), incarnation: u32_of(v, "incarnation"), from: string(v, "from") }
        }
        "Left" => Message::Left { name: string(v, "name"), incarnation: u32_of(v, "incarnation") },
        "User" => Message::User {
            origin: string(v, "origin"),
            id: string(v, "id").parse().unwrap_or_else(|e| panic!("User.id in {v}: {e}")),
            payload: leaked(v, "payload"),
        },
        "Sync" => Message::Sync { from: string(v, "from"), reply: bool_of(v, "reply") },
        "Digest" => Message::Digest {
            from: string(v, "from"),
            digest: string(v, "digest").parse().unwrap_or_else(|e| panic!("Digest.digest in {v}: {e}")),
            members: u32_of(v, "members"),
        },
        other => panic!("unknown message type {other:?}"),
    };
    keys_are(v, fields_of(&m));
    m
}

/// The JSON fields of each message type; exhaustive so a new variant must be added here.
fn fields_of(m: &Message<'_>) -> &'static [&'static str] {
    match m {
        Message::Ping { .. } => &["type", "seq", "target"],
        Message::Ack { .. } | Message::Nack { .. } => &["type", "seq"],
        Message::PingReq { .. } => &["type", "seq", "target", "addr", "nack"],
        Message::Alive { .. } => &["type", "name", "incarnation", "addr", "meta"],
        Message::Suspect { .. } | Message::Dead { .. } => &["type", "name", "incarnation", "from"],
        Message::Left { .. } => &["type", "name", "incarnation"],
        Message::User { .. } => &["type", "origin", "id", "payload"],
        Message::Sync { .. } => &["type", "from", "reply"],
        Message::Digest { .. } => &["type", "from", "digest", "members"],
    }
}

fn messages(v: &Value) -> Vec<Message<'_>> {
    field(v, "messages").as_array().unwrap().iter().map(message).collect()
}

fn encode_all(msgs: &[Message<'_>]) -> Vec<u8> {
    msgs.iter().flat_map(wire::encode_to_vec).collect()
}

/// The error a vector names (the core's own spelling, `DecodeError::kind`).
fn error_name(e: DecodeError) -> (&'static str, Option<u8>) {
    e.kind()
}

fn expected_error(v: &Value) -> (String, Option<u8>) {
    let value = v.get("error_value").map(|n| u8::try_from(n.as_u64().unwrap()).unwrap());
    (string(v, "error").to_owned(), value)
}

fn key(name: &str) -> Key {
    let k = vectors()["keys"].get(name).unwrap_or_else(|| panic!("unknown key {name:?}"));
    Key::from_bytes(bytes(k, "key").try_into().unwrap())
}

/// A receiver's keyring: the first key named is primary; none means plaintext.
fn keyring(names: &Value) -> Keyring {
    let mut ring = Keyring::new();
    for n in names.as_array().unwrap() {
        ring.install(key(n.as_str().unwrap()));
    }
    ring
}

/// Opens a frame as a receiver would, then decodes its body; the first error wins.
fn receive(ring: &Keyring, label: &[u8], frame: &[u8]) -> Result<Vec<String>, DecodeError> {
    let mut body = Vec::new();
    wire::decode_frame(ring, label, frame, &mut body)?;
    let mut out = Vec::new();
    wire::decode_body(&body, &mut out)?;
    Ok(out.iter().map(|m| format!("{m:?}")).collect())
}

// ---- the sections -------------------------------------------------------------------------

#[test]
fn format_version() {
    assert_eq!(vectors()["version"].as_u64(), Some(u64::from(wire::VERSION)));
}

#[test]
fn key_ids() {
    let keys = vectors()["keys"].as_object().unwrap();
    assert!(!keys.is_empty());
    for (name, k) in keys {
        let key = Key::from_bytes(bytes(k, "key").try_into().unwrap());
        assert_eq!(u64::from(key.id()), k["id"].as_u64().unwrap(), "key id of {name}");
    }
}

#[test]
fn single_messages() {
    check("messages", |v| {
        let msg = message(field(v, "message"));
        let want = bytes(v, "hex");
        same("encode_to_vec", hex(&wire::encode_to_vec(&msg)), hex(&want))?;
        // encode_into writes the same bytes, after `pos`, given a byte to spare. It may refuse an
        // exact fit (it serializes after two reserved bytes); refusing leaves `pos` alone.
        let mut buf = vec![0u8; 3 + want.len() + 1];
        let mut pos = 3;
        same("encode_into fits", wire::encode_into(&msg, &mut buf, &mut pos), true)?;
        same("encode_into bytes", hex(&buf[3..pos]), hex(&want))?;
        let mut exact = vec![0u8; want.len()];
        let mut pos = 0;
        if wire::encode_into(&msg, &mut exact, &mut pos) {
            same("encode_into exact fit", hex(&exact[..pos]), hex(&want))?;
        } else {
            same("encode_into exact fit refused, pos", pos, 0)?;
        }
        let mut short = vec![0u8; want.len() - 1];
        let mut pos = 0;
        same("encode_into one byte short", (wire::encode_into(&msg, &mut short, &mut pos), pos), (false, 0))?;
        let mut out = Vec::new();
        same("decode_body", wire::decode_body(&want, &mut out), Ok(0))?;
        same("decoded", out, vec![msg])
    });
}

#[test]
fn bodies() {
    check("bodies", |v| {
        let msgs = messages(v);
        let want = bytes(v, "hex");
        same("encoded body", hex(&encode_all(&msgs)), hex(&want))?;
        let mut out = Vec::new();
        same("decode_body", wire::decode_body(&want, &mut out), Ok(0))?;
        same("decoded", out, msgs)
    });
}

#[test]
fn noncanonical_inputs_decode() {
    check("noncanonical", |v| {
        let msgs = messages(v);
        let input = bytes(v, "hex");
        let mut out = Vec::new();
        same("decode_body", wire::decode_body(&input, &mut out), Ok(0))?;
        same("decoded", &out, &msgs)?;
        if encode_all(&msgs) == input { Err("input is canonical; move it to bodies".into()) } else { Ok(()) }
    });
}

#[test]
fn unknown_types_are_skipped() {
    check("unknown_types", |v| {
        let msgs = messages(v);
        let input = bytes(v, "hex");
        let skipped = usize::try_from(field(v, "skipped").as_u64().unwrap()).unwrap();
        if skipped == 0 {
            return Err("skips nothing; move it to bodies".into());
        }
        let mut out = Vec::new();
        same("decode_body", wire::decode_body(&input, &mut out), Ok(skipped))?;
        same("decoded", out, msgs)
    });
}

#[test]
fn frames() {
    check("frames", |v| {
        let label = string(v, "label").as_bytes();
        let msgs = messages(v);
        let body = encode_all(&msgs);
        same("body", hex(&body), string(v, "body").to_owned())?;
        let seal = match field(v, "seal") {
            Value::Null => None,
            s => Some((key(string(s, "key")), <[u8; 12]>::try_from(bytes(s, "nonce")).unwrap())),
        };
        let frame =
            wire::encode_frame(label, seal.as_ref().map(|(k, n)| (k, *n)), &body).ok_or("encode_frame failed")?;
        let want = bytes(v, "hex");
        same("encode_frame", hex(&frame), hex(&want))?;

        let default_keys = Value::Array(seal.iter().map(|_| field(field(v, "seal"), "key").clone()).collect());
        let ring = keyring(v.get("receiver_keys").unwrap_or(&default_keys));
        let mut opened = Vec::new();
        let header =
            wire::decode_frame(&ring, label, &want, &mut opened).map_err(|e| format!("decode_frame: {e:?}"))?;
        let h = field(v, "header");
        let want_header = Header {
            encrypted: bool_of(h, "encrypted"),
            label,
            key_id: u8::try_from(field(h, "key_id").as_u64().unwrap()).unwrap(),
            nonce: bytes(h, "nonce").try_into().unwrap(),
            len: usize::try_from(field(h, "len").as_u64().unwrap()).unwrap(),
        };
        same("header", header, want_header)?;
        same("header encoded_len", Header::encoded_len(label, header.encrypted), header.len)?;
        let tag = if header.encrypted { wire::TAG_LEN } else { wire::CHECKSUM_LEN };
        same("frame length", want.len(), header.len + body.len() + tag)?;
        same("opened body", hex(&opened), hex(&body))?;
        let mut out = Vec::new();
        same("decode_body", wire::decode_body(&opened, &mut out), Ok(0))?;
        same("decoded", out, msgs)
    });
}

#[test]
fn invalid_inputs_are_rejected() {
    check("invalid", |v| {
        let input = bytes(v, "hex");
        let got = match string(v, "kind") {
            "body" => {
                let mut out = Vec::new();
                wire::decode_body(&input, &mut out).map(|_| out.iter().map(|m| format!("{m:?}")).collect())
            }
            "frame" => receive(&keyring(field(v, "receiver_keys")), string(v, "receiver_label").as_bytes(), &input),
            other => panic!("unknown kind {other:?}"),
        };
        match got {
            Ok(msgs) => Err(format!("accepted, decoding to {msgs:?}")),
            Err(e) => {
                let (name, value) = error_name(e);
                same("error", (name.to_owned(), value), expected_error(v))
            }
        }
    });
}

/// `encode_frame` refuses the nonce reserved for key ids, with every key; the `invalid` vector
/// `encrypted_reserved_nonce` shows that receivers refuse it too.
#[test]
fn reserved_nonce_is_never_sealed() {
    let body = encode_all(&[Message::Ack { seq: 1 }]);
    for name in vectors()["keys"].as_object().unwrap().keys() {
        let frame = wire::encode_frame(b"prod", Some((&key(name), [0xff; wire::NONCE_LEN])), &body);
        assert_eq!(frame, None, "sealed with the reserved nonce under {name}");
    }
}

/// The vectors keep covering every message type, both address families, both lengths of the
/// message length prefix, skipped message types and every error a datagram alone can cause
/// (`Replayed` needs a receiver's history, so it has no vector).
#[test]
fn coverage() {
    let all = vectors();
    let types: BTreeSet<&str> =
        all["messages"].as_array().unwrap().iter().map(|v| string(field(v, "message"), "type")).collect();
    let every_type = [
        Message::Ping { seq: 0, target: "" },
        Message::Ack { seq: 0 },
        Message::Nack { seq: 0 },
        Message::PingReq { seq: 0, target: "", addr: Addr::V4([0; 4], 0), nack: false },
        Message::Alive { name: "", incarnation: 0, addr: Addr::V4([0; 4], 0), meta: b"" },
        Message::Suspect { name: "", incarnation: 0, from: "" },
        Message::Dead { name: "", incarnation: 0, from: "" },
        Message::Left { name: "", incarnation: 0 },
        Message::User { origin: "", id: 0, payload: b"" },
        Message::Sync { from: "", reply: false },
        Message::Digest { from: "", digest: 0, members: 0 },
    ];
    assert_eq!(every_type.len(), types.len(), "message types covered: {types:?}");
    assert_eq!(u64::try_from(every_type.len()), Ok(wire::LAST_KNOWN_TYPE + 1));
    for (index, m) in every_type.iter().enumerate() {
        // These encodings are short: a one-byte length prefix, then the type, which is the
        // variant index (all indices are < 128).
        let bytes = wire::encode_to_vec(m);
        assert_eq!(usize::from(bytes[0]), bytes.len() - 1, "{m:?}");
        assert_eq!(bytes.get(1).copied(), u8::try_from(index).ok(), "{m:?}");
    }
    // Message lengths, read from the vectors' own prefixes: the largest one-byte prefix, the
    // smallest two-byte one and the longest message a prefix can describe.
    let lengths: BTreeSet<usize> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let b = bytes(v, "hex");
            let (len, prefix) = match b[0] {
                0..0x80 => (usize::from(b[0]), 1),
                _ => (usize::from(b[0] & 0x7f) | usize::from(b[1]) << 7, 2),
            };
            assert_eq!(prefix + len, b.len(), "length prefix of {}", v["name"]);
            len
        })
        .collect();
    for want in [127, 128, wire::MAX_MESSAGE_LEN] {
        assert!(lengths.contains(&want), "no {want}-byte message");
    }
    let skipped: u64 = all["unknown_types"].as_array().unwrap().iter().map(|v| v["skipped"].as_u64().unwrap()).sum();
    assert!(skipped > 0, "skipped message types");
    let addrs: BTreeSet<&str> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| field(v, "message").get("addr"))
        .map(|a| string(a, "type"))
        .collect();
    assert_eq!(addrs, BTreeSet::from(["V4", "V6"]));

    let errors: BTreeSet<&str> = all["invalid"].as_array().unwrap().iter().map(|v| string(v, "error")).collect();
    let every_error = [
        DecodeError::Truncated,
        DecodeError::BadMagic,
        DecodeError::UnknownVersion(0),
        DecodeError::UnknownFlags(0),
        DecodeError::EncryptionMismatch,
        DecodeError::WrongLabel,
        DecodeError::Unauthenticated,
        DecodeError::Malformed,
        DecodeError::BadName,
        DecodeError::MetaTooLong,
        DecodeError::TooManyMessages,
        DecodeError::BadChecksum,
    ];
    let want: BTreeSet<&str> = every_error.into_iter().map(|e| error_name(e).0).collect();
    assert_eq!(errors, want);

    let frames = all["frames"].as_array().unwrap();
    let sealed = frames.iter().filter(|f| !f["seal"].is_null()).count();
    assert!(sealed > 0 && sealed < frames.len(), "both plaintext and encrypted frames");
    let reserved = all["invalid"].as_array().unwrap().iter().any(|v| {
        let frame = bytes(v, "hex");
        string(v, "kind") == "frame"
            && Header::parse(&frame).is_ok_and(|h| h.encrypted && h.nonce == [0xff; wire::NONCE_LEN])
    });
    assert!(reserved, "a frame sealed with the reserved nonce");
}

/// Node metadata as every runtime encodes it (`rumor_core::meta`), both ways.
#[test]
fn meta() {
    use rumor_core::{MetaError, meta};
    check("meta", |v| {
        let map = v.get("map").map(|m| -> std::collections::BTreeMap<String, String> {
            serde_json::from_value(m.clone()).unwrap_or_else(|e| panic!("map of {v}: {e}"))
        });
        let max_len = v.get("max_len").map_or(usize::MAX, |n| usize::try_from(n.as_u64().unwrap()).unwrap());
        let decode_only = v.get("decode_only").is_some_and(|b| b.as_bool() == Some(true));
        match v.get("error").and_then(Value::as_str) {
            Some("TooLong") => {
                let len = usize::try_from(field(v, "len").as_u64().unwrap()).unwrap();
                same("encode", meta::encode(&map.unwrap(), max_len), Err(MetaError::TooLong { len, max: max_len }))
            }
            Some("Malformed") => same("decode", meta::decode(&bytes(v, "hex")), Err(MetaError::Malformed)),
            Some(other) => Err(format!("unknown error {other:?}")),
            None => {
                let (map, hex) = (map.unwrap(), bytes(v, "hex"));
                if !decode_only {
                    same("encode", meta::encode(&map, max_len), Ok(hex.clone()))?;
                    same("encoded_len", meta::encoded_len(&map), hex.len())?;
                }
                same("decode", meta::decode(&hex), Ok(map))
            }
        }
    });
}

/// Named user events as every runtime frames them (`rumor_core::user_event`), both ways.
#[test]
fn user_events() {
    use rumor_core::user_event::{self, UserEventError};
    check("user_events", |v| {
        let (name, payload) = (string(v, "event"), bytes(v, "payload"));
        let decode_only = v.get("decode_only").is_some_and(|b| b.as_bool() == Some(true));
        match v.get("error").and_then(Value::as_str) {
            Some("NulInName") => same("encode", user_event::encode(name, &payload), Err(UserEventError::NulInName)),
            Some(other) => Err(format!("unknown error {other:?}")),
            None => {
                let hex = bytes(v, "hex");
                if !decode_only {
                    same("encode", user_event::encode(name, &payload), Ok(hex.clone()))?;
                }
                let event = user_event::decode(&hex);
                same("decode", (&*event.name, event.payload), (name, &payload[..]))
            }
        }
    });
}
