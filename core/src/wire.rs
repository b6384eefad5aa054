//! Wire format, version 1: the frame header and the postcard-encoded messages of a body.
//!
//! `docs/wire-format.md` is the specification; this module is its implementation. A frame is
//!
//! ```text
//! magic "RU" | version 1 | flags | label_len | label | [key_id | nonce(12)] | body | tag(16) or crc32(4)
//! ```
//!
//! An encrypted frame (flag `0x01`) ends with its Poly1305 tag; a plaintext one (flag `0x02`,
//! since rumor 0.2) with the CRC-32 of every byte before it, so that corruption in transit is
//! dropped and counted rather than merged (bit-flipped copies of real packets once created
//! fake members on a plaintext agent).
//!
//! and a body is a sequence of messages, each a varint length then a postcard-encoded
//! [`Message`]: the first is the packet's primary message (a probe, an ack, …) and the rest
//! are piggybacked updates. The length prefix lets receivers skip message types newer than
//! they know (a message type is read in its shortest varint form). Decoding borrows names, metadata and payloads from the packet, so a
//! packet whose updates are all known already is merged without allocating per message.

use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// First two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"RU";
/// The wire-format version this code speaks.
pub const VERSION: u8 = 1;
/// Flag bit: the body is sealed with ChaCha20-Poly1305.
pub const FLAG_ENCRYPTED: u8 = 0x01;
/// Flag bit: a plaintext frame, ending with [`CHECKSUM_LEN`] bytes of CRC-32. Every frame has
/// exactly one of the two flags.
pub const FLAG_CHECKSUM: u8 = 0x02;
/// Bytes of a plaintext frame's CRC-32 (IEEE, big-endian) of everything before it.
pub const CHECKSUM_LEN: usize = 4;
/// Longest cluster label, in bytes.
pub const MAX_LABEL_LEN: usize = 64;
/// Longest node name, in bytes (UTF-8, never empty).
pub const MAX_NAME_LEN: usize = 64;
/// Largest metadata value the wire accepts, in bytes.
pub const MAX_META_LEN: usize = 512;
/// Most messages accepted in one packet; bounds the work and memory of one datagram.
pub const MAX_MESSAGES_PER_PACKET: usize = 512;
/// Bytes of the fixed part of the header (magic, version, flags, label length).
pub const FIXED_HEADER_LEN: usize = 5;
/// Bytes of key id + nonce in an encrypted frame's header.
pub const CRYPTO_HEADER_LEN: usize = 1 + NONCE_LEN;
/// ChaCha20-Poly1305 nonce length.
pub const NONCE_LEN: usize = 12;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;

/// A socket address as it travels on the wire (IPv6 flow info and scope id are not carried).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Addr {
    /// IPv4 octets and port.
    V4([u8; 4], u16),
    /// IPv6 octets and port.
    V6([u8; 16], u16),
}

impl From<SocketAddr> for Addr {
    fn from(a: SocketAddr) -> Self {
        match a.ip() {
            IpAddr::V4(ip) => Addr::V4(ip.octets(), a.port()),
            IpAddr::V6(ip) => Addr::V6(ip.octets(), a.port()),
        }
    }
}

impl From<Addr> for SocketAddr {
    fn from(a: Addr) -> Self {
        match a {
            Addr::V4(ip, port) => SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port),
            Addr::V6(ip, port) => SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port),
        }
    }
}

/// One protocol message. The variant order is the wire discriminant (postcard varint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<'a> {
    /// 0 — a probe. `target` is the name the sender believes lives at the destination address;
    /// a node with another name ignores it, so a stale address never vouches for a dead member.
    Ping {
        /// Sequence number to echo in the ack.
        seq: u32,
        /// Name of the probed member.
        target: &'a str,
    },
    /// 1 — answer to a ping.
    Ack {
        /// The ping's sequence number.
        seq: u32,
    },
    /// 2 — an indirect prober could not reach the target (Lifeguard).
    Nack {
        /// The ping-req's sequence number.
        seq: u32,
    },
    /// 3 — please probe `target` at `addr` for me and relay its ack (SWIM PING-REQ).
    PingReq {
        /// Sequence number to use in the relayed ack or nack.
        seq: u32,
        /// Name of the member to probe.
        target: &'a str,
        /// Its address.
        addr: Addr,
        /// Whether the requester wants a nack if the target does not answer.
        nack: bool,
    },
    /// 4 — `name` is alive at `addr` with `meta`, as of `incarnation`.
    Alive {
        /// Member name.
        name: &'a str,
        /// Incarnation the claim is valid for.
        incarnation: u32,
        /// Address the member is reached at.
        addr: Addr,
        /// Opaque application metadata.
        meta: &'a [u8],
    },
    /// 5 — `from` suspects `name` at `incarnation`.
    Suspect {
        /// Member name.
        name: &'a str,
        /// Incarnation suspected.
        incarnation: u32,
        /// Who suspects it.
        from: &'a str,
    },
    /// 6 — `from` declared `name` failed at `incarnation`.
    Dead {
        /// Member name.
        name: &'a str,
        /// Incarnation declared failed.
        incarnation: u32,
        /// Who declared it.
        from: &'a str,
    },
    /// 7 — `name` left gracefully; final for `incarnation`.
    Left {
        /// Member name.
        name: &'a str,
        /// Incarnation that left.
        incarnation: u32,
    },
    /// 8 — an application broadcast, identified by `(origin, id)`.
    User {
        /// Name of the node that broadcast it.
        origin: &'a str,
        /// Unique per origin (a counter from a random start).
        id: u64,
        /// Opaque application bytes.
        payload: &'a [u8],
    },
    /// 9 — the rest of this packet is one chunk of `from`'s full state (anti-entropy).
    /// `reply: false` (only on the first chunk of a request) asks the receiver to answer with
    /// its own full state; later chunks of a request and every chunk of an answer say `true`.
    Sync {
        /// Sender's name.
        from: &'a str,
        /// Whether this is the answer to a sync request.
        reply: bool,
    },
    /// 10 — a summary of `from`'s full state: the sum of one hash per member (this node
    /// included) and the member count. A receiver whose own summary differs answers with its
    /// full state as a request (`Sync` with `reply: false`), so both sides merge; an equal
    /// summary means the views already agree and nothing more is sent.
    Digest {
        /// Sender's name.
        from: &'a str,
        /// Sum (mod 2⁶⁴) of the SipHash-1-3 of each member's state.
        digest: u64,
        /// How many members the sum covers.
        members: u32,
    },
}

impl Message<'_> {
    /// Checks what postcard cannot: names are non-empty and short, metadata is bounded.
    fn validate(&self) -> Result<(), DecodeError> {
        let name = |n: &str| if n.is_empty() || n.len() > MAX_NAME_LEN { Err(DecodeError::BadName) } else { Ok(()) };
        match *self {
            Message::Ping { target, .. } | Message::PingReq { target, .. } => name(target),
            Message::Ack { .. } | Message::Nack { .. } => Ok(()),
            Message::Alive { name: n, meta, .. } => {
                name(n)?;
                if meta.len() > MAX_META_LEN { Err(DecodeError::MetaTooLong) } else { Ok(()) }
            }
            Message::Suspect { name: n, from, .. } | Message::Dead { name: n, from, .. } => name(n).and(name(from)),
            Message::Left { name: n, .. } => name(n),
            Message::User { origin, .. } => name(origin),
            Message::Sync { from, .. } | Message::Digest { from, .. } => name(from),
        }
    }
}

/// Why a datagram was rejected. Each maps to one drop counter in [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the fixed header (5 bytes), or shorter than its header says.
    Truncated,
    /// The magic bytes are wrong: not a Rumor packet.
    BadMagic,
    /// A version this code does not speak.
    UnknownVersion(u8),
    /// Reserved flag bits are set.
    UnknownFlags(u8),
    /// The frame is encrypted and this node has no keys, or the reverse.
    EncryptionMismatch,
    /// The cluster label differs from ours.
    WrongLabel,
    /// No key in the keyring authenticates the frame.
    Unauthenticated,
    /// The nonce was seen before from this sender.
    Replayed,
    /// The body is not a sequence of valid messages, or the label length exceeds 64.
    Malformed,
    /// A name is empty or longer than 64 bytes.
    BadName,
    /// Metadata is longer than 512 bytes.
    MetaTooLong,
    /// More than 512 messages in one packet (skipped unknown types count).
    TooManyMessages,
    /// A plaintext frame whose CRC-32 does not match its bytes: corrupted in transit.
    BadChecksum,
}

impl DecodeError {
    /// The error's name and the byte it carries, if any, as the shared vectors
    /// (`tests/vectors/wire.json`, `error` and `error_value`) and every binding spell them.
    pub const fn kind(&self) -> (&'static str, Option<u8>) {
        match *self {
            DecodeError::Truncated => ("Truncated", None),
            DecodeError::BadMagic => ("BadMagic", None),
            DecodeError::UnknownVersion(v) => ("UnknownVersion", Some(v)),
            DecodeError::UnknownFlags(f) => ("UnknownFlags", Some(f)),
            DecodeError::EncryptionMismatch => ("EncryptionMismatch", None),
            DecodeError::WrongLabel => ("WrongLabel", None),
            DecodeError::Unauthenticated => ("Unauthenticated", None),
            DecodeError::Replayed => ("Replayed", None),
            DecodeError::Malformed => ("Malformed", None),
            DecodeError::BadName => ("BadName", None),
            DecodeError::MetaTooLong => ("MetaTooLong", None),
            DecodeError::TooManyMessages => ("TooManyMessages", None),
            DecodeError::BadChecksum => ("BadChecksum", None),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated frame"),
            DecodeError::BadMagic => f.write_str("not a rumor frame (bad magic)"),
            DecodeError::UnknownVersion(v) => write!(f, "unknown wire version {v}"),
            DecodeError::UnknownFlags(b) => write!(f, "unknown flag bits {b:#04x}"),
            DecodeError::EncryptionMismatch => f.write_str("encryption mode differs from ours"),
            DecodeError::WrongLabel => f.write_str("cluster label differs from ours"),
            DecodeError::Unauthenticated => f.write_str("no key authenticates the frame"),
            DecodeError::Replayed => f.write_str("replayed nonce"),
            DecodeError::Malformed => f.write_str("malformed body"),
            DecodeError::BadName => f.write_str("empty or overlong name"),
            DecodeError::MetaTooLong => f.write_str("metadata too long"),
            DecodeError::TooManyMessages => f.write_str("too many messages in one packet"),
            DecodeError::BadChecksum => f.write_str("checksum mismatch (corrupted in transit)"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// A parsed frame header; borrows the label from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Whether the body is sealed.
    pub encrypted: bool,
    /// The cluster label.
    pub label: &'a [u8],
    /// Key id hint (encrypted frames only).
    pub key_id: u8,
    /// Nonce (encrypted frames only; zero otherwise).
    pub nonce: [u8; NONCE_LEN],
    /// Header length in bytes: the body starts here, and the header is the AEAD's associated data.
    pub len: usize,
}

impl<'a> Header<'a> {
    /// Parses the header at the start of `frame`.
    pub fn parse(frame: &'a [u8]) -> Result<Self, DecodeError> {
        let fixed = frame.get(..FIXED_HEADER_LEN).ok_or(DecodeError::Truncated)?;
        let [m0, m1, version, flags, label_len] =
            <[u8; FIXED_HEADER_LEN]>::try_from(fixed).map_err(|_| DecodeError::Truncated)?;
        if [m0, m1] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if version != VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        if flags != FLAG_ENCRYPTED && flags != FLAG_CHECKSUM {
            return Err(DecodeError::UnknownFlags(flags));
        }
        let label_len = usize::from(label_len);
        if label_len > MAX_LABEL_LEN {
            return Err(DecodeError::Malformed);
        }
        let label_end = FIXED_HEADER_LEN + label_len;
        let label = frame.get(FIXED_HEADER_LEN..label_end).ok_or(DecodeError::Truncated)?;
        let encrypted = flags == FLAG_ENCRYPTED;
        if !encrypted {
            if frame.len() < label_end + CHECKSUM_LEN {
                return Err(DecodeError::Truncated);
            }
            return Ok(Header { encrypted, label, key_id: 0, nonce: [0; NONCE_LEN], len: label_end });
        }
        let crypto = frame.get(label_end..label_end + CRYPTO_HEADER_LEN).ok_or(DecodeError::Truncated)?;
        let (key_id, nonce) = crypto.split_first().ok_or(DecodeError::Truncated)?;
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| DecodeError::Truncated)?;
        if frame.len() < label_end + CRYPTO_HEADER_LEN + TAG_LEN {
            return Err(DecodeError::Truncated);
        }
        Ok(Header { encrypted, label, key_id: *key_id, nonce, len: label_end + CRYPTO_HEADER_LEN })
    }

    /// Length of the header a frame with this label and mode will have.
    pub fn encoded_len(label: &[u8], encrypted: bool) -> usize {
        FIXED_HEADER_LEN + label.len() + if encrypted { CRYPTO_HEADER_LEN } else { 0 }
    }

    /// Writes a header into `out`, returning its length. `out` must hold
    /// [`Header::encoded_len`] bytes and the label must be at most 64 bytes (the config checks).
    pub fn write(out: &mut [u8], label: &[u8], crypto: Option<(u8, [u8; NONCE_LEN])>) -> Option<usize> {
        let len = Header::encoded_len(label, crypto.is_some());
        let out = out.get_mut(..len)?;
        let flags = if crypto.is_some() { FLAG_ENCRYPTED } else { FLAG_CHECKSUM };
        let label_len = u8::try_from(label.len()).ok().filter(|&l| usize::from(l) <= MAX_LABEL_LEN)?;
        let (fixed, rest) = out.split_at_mut(FIXED_HEADER_LEN);
        fixed.copy_from_slice(&[MAGIC[0], MAGIC[1], VERSION, flags, label_len]);
        let (label_out, rest) = rest.split_at_mut(label.len());
        label_out.copy_from_slice(label);
        if let Some((key_id, nonce)) = crypto {
            let (id_out, nonce_out) = rest.split_at_mut(1);
            id_out.copy_from_slice(&[key_id]);
            nonce_out.copy_from_slice(&nonce);
        }
        Some(len)
    }
}

/// The CRC-32 a plaintext frame ends with: of `frame`, every byte before it.
pub fn checksum(frame: &[u8]) -> [u8; CHECKSUM_LEN] {
    crc32fast::hash(frame).to_be_bytes()
}

/// Largest encoded message, so its length prefix takes at most two bytes.
pub const MAX_MESSAGE_LEN: usize = 16_383;
/// Highest message type this version knows. Receivers skip messages of higher types (their
/// length prefix says how far), so later versions can add messages without breaking a rolling
/// upgrade.
pub const LAST_KNOWN_TYPE: u64 = 10;

/// Reads an unsigned LEB128 varint of at most `max_bytes` bytes, in its shortest form.
fn read_varint(bytes: &[u8], max_bytes: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().take(max_bytes.min(10)).enumerate() {
        // The tenth byte may only carry the 64th bit.
        if i == 9 && b > 1 {
            return None;
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // A zero final byte after the first is a padded (non-shortest) form.
            return (i == 0 || b != 0).then_some((value, i + 1));
        }
    }
    None
}

/// Appends one message, with its length prefix, to `out[*pos..]`, advancing `pos`. Returns
/// `false` (and leaves `pos` and the meaning of `out` unchanged) when it does not fit. The
/// message is serialized after two reserved bytes and moved down when its prefix needs only
/// one, so a message may be refused when exactly one byte would have been left.
pub fn encode_into(msg: &Message<'_>, out: &mut [u8], pos: &mut usize) -> bool {
    let Some(space) = out.get_mut(*pos..) else { return false };
    if space.len() < 2 {
        return false;
    }
    let len = match postcard::to_slice(msg, space.get_mut(2..).unwrap_or_default()) {
        Ok(written) => written.len(),
        Err(_) => return false,
    };
    if len > MAX_MESSAGE_LEN {
        return false;
    }
    if let Ok(short) = u8::try_from(len).map(|l| l & 0x7f) {
        if usize::from(short) == len {
            space.copy_within(2..2 + len, 1);
            if let Some(p) = space.first_mut() {
                *p = short;
            }
            *pos += 1 + len;
            return true;
        }
    }
    let prefix = [(len & 0x7f) as u8 | 0x80, (len >> 7) as u8];
    if let Some(p) = space.get_mut(..2) {
        p.copy_from_slice(&prefix);
    }
    *pos += 2 + len;
    true
}

/// Encodes one message, with its length prefix, into a new vector. Callers keep messages
/// within [`MAX_MESSAGE_LEN`] (the node does: metadata, names and the user broadcast budget
/// are bounded); a longer one would be refused by every receiver.
pub fn encode_to_vec(msg: &Message<'_>) -> Vec<u8> {
    // Most messages (every membership update with short metadata) fit a small buffer on the
    // stack: then the vector is allocated once, at its exact size, instead of grown.
    let mut small = [0u8; 256];
    let mut pos = 0;
    if encode_into(msg, &mut small, &mut pos) {
        return small.get(..pos).unwrap_or_default().to_vec();
    }
    // Serializing into a Vec only fails on allocation failure, which aborts anyway.
    let inner = postcard::to_allocvec(msg).unwrap_or_default();
    let mut prefix = [0u8; 10];
    let mut used = 0;
    let mut len = inner.len();
    for slot in prefix.iter_mut() {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        used += 1;
        if len == 0 {
            *slot = byte;
            break;
        }
        *slot = byte | 0x80;
    }
    // Sized exactly, so turning it into a boxed slice for the gossip queue does not reallocate.
    let mut out = Vec::with_capacity(used + inner.len());
    out.extend_from_slice(prefix.get(..used).unwrap_or_default());
    out.extend_from_slice(&inner);
    out
}

/// Decodes a whole body into `out`, validating every message, and returns how many messages
/// of unknown (newer) types were skipped. On error `out` may hold a prefix of the body;
/// callers must discard it (the node drops the whole packet).
pub fn decode_body<'a>(body: &'a [u8], out: &mut Vec<Message<'a>>) -> Result<usize, DecodeError> {
    out.clear();
    decode_body_with(body, |msg| out.push(msg))
}

/// [`decode_body`] handing each validated message to `push`, in order, instead of collecting
/// them (the node keeps the usual one or two on its stack). On error some messages may have
/// been pushed; callers must discard them.
pub(crate) fn decode_body_with<'a>(
    mut body: &'a [u8],
    mut push: impl FnMut(Message<'a>),
) -> Result<usize, DecodeError> {
    let (mut count, mut skipped) = (0, 0);
    while !body.is_empty() {
        if count + skipped == MAX_MESSAGES_PER_PACKET {
            return Err(DecodeError::TooManyMessages);
        }
        let (len, prefix) = match body.first() {
            Some(&b) if b < 0x80 => (usize::from(b), 1),
            _ => {
                let (len, prefix) = read_varint(body, 2).ok_or(DecodeError::Malformed)?;
                (usize::try_from(len).map_err(|_| DecodeError::Malformed)?, prefix)
            }
        };
        let bytes = body.get(prefix..prefix + len).ok_or(DecodeError::Malformed)?;
        body = body.get(prefix + len..).unwrap_or_default();
        let kind = match bytes.first() {
            Some(&b) if b < 0x80 => u64::from(b),
            _ => read_varint(bytes, 10).ok_or(DecodeError::Malformed)?.0,
        };
        if kind > LAST_KNOWN_TYPE {
            skipped += 1;
            continue;
        }
        let (msg, rest) = postcard::take_from_bytes::<Message<'a>>(bytes).map_err(|_| DecodeError::Malformed)?;
        if !rest.is_empty() {
            return Err(DecodeError::Malformed);
        }
        msg.validate()?;
        push(msg);
        count += 1;
    }
    Ok(skipped)
}

/// Frames `body`: header, then the body in the clear, or sealed with `key` under `nonce`
/// (ChaCha20-Poly1305, the header as associated data). This is the exact byte layout
/// [`Node`](crate::Node) sends; it is public for test vectors and second implementations.
pub fn encode_frame(label: &[u8], seal: Option<(&crate::Key, [u8; NONCE_LEN])>, body: &[u8]) -> Option<Vec<u8>> {
    if seal.is_some_and(|(_, nonce)| nonce == crate::crypto::KEY_ID_NONCE) {
        return None;
    }
    let header_len = Header::encoded_len(label, seal.is_some());
    let mut out = alloc::vec![0u8; header_len + body.len() + if seal.is_some() { TAG_LEN } else { CHECKSUM_LEN }];
    let ring = seal.map(|(key, _)| crate::Keyring::with_primary(key.clone()));
    let crypto = seal.zip(ring.as_ref()).and_then(|((_, nonce), ring)| Some((ring.primary_id()?, nonce)));
    Header::write(&mut out, label, crypto)?;
    out.get_mut(header_len..header_len + body.len())?.copy_from_slice(body);
    if let (Some((_, nonce)), Some(ring)) = (seal, ring) {
        let (head, rest) = out.split_at_mut(header_len);
        let (_, tag) = ring.seal(nonce, head, rest.get_mut(..body.len())?)?;
        out.get_mut(header_len + body.len()..)?.copy_from_slice(&tag);
    } else {
        let end = header_len + body.len();
        let crc = checksum(out.get(..end)?);
        out.get_mut(end..)?.copy_from_slice(&crc);
    }
    Some(out)
}

/// Checks and opens a frame: the inverse of [`encode_frame`]. Returns the header and the body
/// (decrypted into `out`). `keyring` empty means "expect plaintext"; the label must match.
pub fn decode_frame<'a>(
    keyring: &crate::Keyring,
    label: &[u8],
    frame: &'a [u8],
    out: &mut Vec<u8>,
) -> Result<Header<'a>, DecodeError> {
    let (header, _) = open_frame(keyring, label, frame, out)?;
    if !header.encrypted {
        // `open_frame` checked the checksum, so the frame holds one.
        let end = frame.len().saturating_sub(CHECKSUM_LEN);
        out.extend_from_slice(frame.get(header.len..end).unwrap_or_default());
    }
    Ok(header)
}

/// [`decode_frame`] without a copy of a plaintext body: returns the header and the body, which
/// is part of `frame` in plaintext and is decrypted into `out` (and borrowed from it) when
/// encrypted.
pub fn open_frame<'f, 'b, 'o: 'b>(
    keyring: &crate::Keyring,
    label: &[u8],
    frame: &'f [u8],
    out: &'o mut Vec<u8>,
) -> Result<(Header<'f>, &'b [u8]), DecodeError>
where
    'f: 'b,
{
    let header = Header::parse(frame)?;
    if header.label != label {
        return Err(DecodeError::WrongLabel);
    }
    if header.encrypted != keyring.is_enabled() {
        return Err(DecodeError::EncryptionMismatch);
    }
    out.clear();
    let payload = frame.get(header.len..).ok_or(DecodeError::Truncated)?;
    if !header.encrypted {
        let end = frame.len().checked_sub(CHECKSUM_LEN).ok_or(DecodeError::Truncated)?;
        let (checked, crc) = frame.split_at(end);
        if checksum(checked) != crc {
            return Err(DecodeError::BadChecksum);
        }
        return Ok((header, payload.get(..end - header.len).ok_or(DecodeError::Truncated)?));
    }
    if header.nonce == crate::crypto::KEY_ID_NONCE {
        return Err(DecodeError::Unauthenticated);
    }
    let aad = frame.get(..header.len).ok_or(DecodeError::Truncated)?;
    let body_len = payload.len().checked_sub(TAG_LEN).ok_or(DecodeError::Truncated)?;
    let (ciphertext, tag) = payload.split_at(body_len);
    out.extend_from_slice(ciphertext);
    if !keyring.open(header.key_id, header.nonce, aad, out, tag) {
        out.clear();
        return Err(DecodeError::Unauthenticated);
    }
    Ok((header, out.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        let mut buf = [0u8; 64];
        let n = Header::write(&mut buf, b"prod", Some((7, [9; NONCE_LEN]))).expect("fits");
        assert_eq!(n, 5 + 4 + 13);
        let mut frame = buf[..n].to_vec();
        frame.extend_from_slice(&[0; TAG_LEN]);
        let h = Header::parse(&frame).expect("parses");
        assert_eq!((h.encrypted, h.label, h.key_id, h.nonce, h.len), (true, &b"prod"[..], 7, [9; NONCE_LEN], n));
    }

    #[test]
    fn header_rejects() {
        assert_eq!(Header::parse(b"RU"), Err(DecodeError::Truncated));
        assert_eq!(Header::parse(b"XX\x01\x00\x00"), Err(DecodeError::BadMagic));
        assert_eq!(Header::parse(b"RU\x02\x00\x00"), Err(DecodeError::UnknownVersion(2)));
        assert_eq!(Header::parse(b"RU\x01\x00\x00"), Err(DecodeError::UnknownFlags(0)));
        assert_eq!(Header::parse(b"RU\x01\x03\x00"), Err(DecodeError::UnknownFlags(3)));
        assert_eq!(Header::parse(b"RU\x01\x02\x00"), Err(DecodeError::Truncated), "no room for the checksum");
        assert_eq!(Header::parse(b"RU\x01\x02\x05ab"), Err(DecodeError::Truncated));
        assert_eq!(Header::parse(b"RU\x01\x01\x00\x01\x02"), Err(DecodeError::Truncated));
    }

    #[test]
    fn body_roundtrip_and_limits() {
        let msgs = [
            Message::Ping { seq: 7, target: "b" },
            Message::Alive { name: "a", incarnation: 3, addr: Addr::V4([10, 0, 0, 1], 7946), meta: b"x" },
            Message::Sync { from: "a", reply: true },
        ];
        let mut buf = [0u8; 256];
        let mut pos = 0;
        for m in &msgs {
            assert!(encode_into(m, &mut buf, &mut pos));
        }
        let mut out = Vec::new();
        decode_body(&buf[..pos], &mut out).expect("decodes");
        assert_eq!(out, msgs);
        assert_eq!(decode_body(&buf[..pos - 1], &mut out), Err(DecodeError::Malformed));
        let empty_name = encode_to_vec(&Message::Left { name: "", incarnation: 1 });
        assert_eq!(decode_body(&empty_name, &mut out), Err(DecodeError::BadName));
        let many = [2u8, 1, 0].repeat(MAX_MESSAGES_PER_PACKET + 1);
        assert_eq!(decode_body(&many, &mut out), Err(DecodeError::TooManyMessages));
        // A newer message type is skipped; a padded length prefix is malformed.
        let newer = [&[3u8, 11, 1, 2][..], &encode_to_vec(&Message::Ack { seq: 5 })].concat();
        assert_eq!(decode_body(&newer, &mut out), Ok(1));
        assert_eq!(out, [Message::Ack { seq: 5 }]);
        assert_eq!(decode_body(&[0x82, 0x00, 1, 0], &mut out), Err(DecodeError::Malformed));
        assert_eq!(decode_body(&[3, 1, 0, 0], &mut out), Err(DecodeError::Malformed), "trailing bytes in a message");
        let mut big = [0u8; 400];
        let mut pos = 0;
        let payload = [7u8; 200];
        assert!(encode_into(&Message::User { origin: "o", id: 1, payload: &payload }, &mut big, &mut pos));
        assert_eq!(&big[..pos], &encode_to_vec(&Message::User { origin: "o", id: 1, payload: &payload })[..]);
        assert_eq!(decode_body(&big[..pos], &mut out), Ok(0));
        let mut tiny = [0u8; 3];
        let mut pos = 0;
        assert!(!encode_into(&msgs[1], &mut tiny, &mut pos));
        assert_eq!(pos, 0);
    }
}
