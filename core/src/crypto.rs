//! Authenticated encryption of frames: keys, the keyring, the nonce sequence and replay window.
//!
//! ## Nonce scheme
//!
//! Every node of a cluster shares the same key, so nonces must be unique across all senders
//! and all restarts without any coordination or persisted state. Each node draws a random
//! 96-bit starting point at start-up and counts up from it, one per packet. Two senders
//! collide only if their counting ranges overlap: with `S` sender lifetimes each sending at
//! most `M` packets, the chance is about `S² · M / 2⁹⁶` — for 10 000 restarts of 10⁹ packets
//! each, about 10⁻¹². Purely random 96-bit nonces would hit the birthday bound far sooner
//! (`(S·M)² / 2⁹⁷`, about 10⁻³ for the same traffic), and XChaCha20's 192-bit random nonces
//! would cost 12 more bytes per packet. The counter also gives receivers a cheap replay window
//! per sender (see [`ReplayWindow`]).
//!
//! Per-packet overhead of encryption: key id (1) + nonce (12) + tag (16) = 29 bytes.

use alloc::vec::Vec;
use core::fmt;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use indexmap::IndexMap;

use crate::ratelimit::Bucket;
use crate::time::Instant;
use crate::wire::{NONCE_LEN, TAG_LEN};

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
/// The most keys a keyring may hold: enough for any rotation (two or three keys at once), and
/// a bound on what a keyring changed over HTTP can grow to.
pub const MAX_KEYS: usize = 16;

/// The nonce reserved for deriving key ids; the nonce sequence skips it.
pub(crate) const KEY_ID_NONCE: [u8; NONCE_LEN] = [0xff; NONCE_LEN];

/// Text that is not a key ([`Key::from_base64`]). Its `Display` completes a sentence about the
/// text ("key 2 is not base64: …").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not base64 (the decoder's explanation).
    NotBase64(alloc::string::String),
    /// Base64 of this many bytes, not [`KEY_LEN`].
    WrongLength(usize),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotBase64(e) => write!(f, "is not base64: {e}"),
            KeyError::WrongLength(n) => write!(f, "is {n} bytes, a key is {KEY_LEN}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyError {}

/// A 256-bit cluster key. `Debug` does not print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    bytes: [u8; KEY_LEN],
}

impl Key {
    /// Wraps 32 secret bytes (generate them with a CSPRNG).
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Key { bytes }
    }

    /// The secret bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Parses a key as people handle it, standard base64 (surrounding white space ignored):
    /// the one text form of a key in keyring files, the CLI, HTTP and every binding.
    pub fn from_base64(text: &str) -> Result<Key, KeyError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| KeyError::NotBase64(alloc::string::ToString::to_string(&e)))?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|b: alloc::vec::Vec<u8>| KeyError::WrongLength(b.len()))?;
        Ok(Key { bytes })
    }

    /// The key as standard base64 text (what [`Key::from_base64`] reads).
    pub fn to_base64(&self) -> alloc::string::String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    /// One-byte hint carried in every frame sealed with this key so a receiver usually tries
    /// one key, not the whole keyring. It is the first byte of the Poly1305 tag of an empty
    /// message under a reserved nonce, so it reveals nothing about the key.
    pub fn id(&self) -> u8 {
        let cipher = ChaCha20Poly1305::new(&self.bytes.into());
        let tag = cipher
            .encrypt_inout_detached(&Nonce::from(KEY_ID_NONCE), b"rumor key id v1", (&mut [][..]).into())
            .unwrap_or_default();
        tag.first().copied().unwrap_or(0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(id={:#04x})", self.id())
    }
}

#[derive(Clone)]
struct KeyEntry {
    key: Key,
    id: u8,
    cipher: ChaCha20Poly1305,
}

impl KeyEntry {
    fn new(key: Key) -> Self {
        let cipher = ChaCha20Poly1305::new(&key.bytes.into());
        KeyEntry { id: key.id(), key, cipher }
    }
}

/// The keys a node accepts; the first (primary) one seals outgoing frames.
///
/// Rotation without downtime: install the new key on every node, make it primary everywhere,
/// then remove the old one.
#[derive(Clone, Default)]
pub struct Keyring {
    entries: Vec<KeyEntry>,
}

/// A keyring change that was refused; the keyring is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyringError {
    /// The key is not in the keyring.
    UnknownKey,
    /// The primary key cannot be removed; make another key primary first.
    RemovePrimary,
    /// The node does not encrypt (its keyring is empty), so it takes no key operations: a key
    /// installed there would seal at once and partition the node from its plaintext cluster.
    /// Turn encryption on with the migration of `Config::accept_plaintext`.
    NotEncrypted,
    /// The keyring already holds [`MAX_KEYS`] keys; remove one first.
    Full,
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyringError::UnknownKey => "key is not in the keyring",
            KeyringError::RemovePrimary => "cannot remove the primary key; make another key primary first",
            KeyringError::NotEncrypted => {
                "this node does not encrypt (started without a keyring), so it takes no key operations; \
                 turn encryption on by restarting with a keyring (docs/agent.md, \"Turning encryption on\")"
            }
            KeyringError::Full => "the keyring already holds 16 keys (the most it may); remove one first",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyringError {}

impl Keyring {
    /// An empty keyring: frames travel unencrypted.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// A keyring holding `primary`.
    pub fn with_primary(primary: Key) -> Self {
        Keyring { entries: alloc::vec![KeyEntry::new(primary)] }
    }

    /// Whether frames are sealed (the keyring is not empty).
    pub fn is_enabled(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The key that seals outgoing frames.
    pub fn primary(&self) -> Option<&Key> {
        self.entries.first().map(|e| &e.key)
    }

    /// The primary key's id (see [`Key::id`]), without deriving it again.
    pub fn primary_id(&self) -> Option<u8> {
        self.entries.first().map(|e| e.id)
    }

    /// All keys, primary first.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.iter().map(|e| &e.key)
    }

    /// Adds a key accepted on receipt. Installing the first key makes it primary (and turns
    /// encryption on). Installing a key already present does nothing.
    pub fn install(&mut self, key: Key) {
        if !self.entries.iter().any(|e| e.key == key) {
            self.entries.push(KeyEntry::new(key));
        }
    }

    /// Makes an installed key the primary one.
    pub fn use_key(&mut self, key: &Key) -> Result<(), KeyringError> {
        let pos = self.entries.iter().position(|e| &e.key == key).ok_or(KeyringError::UnknownKey)?;
        let entry = self.entries.remove(pos);
        self.entries.insert(0, entry);
        Ok(())
    }

    /// Removes a key that is not primary.
    pub fn remove(&mut self, key: &Key) -> Result<(), KeyringError> {
        let pos = self.entries.iter().position(|e| &e.key == key).ok_or(KeyringError::UnknownKey)?;
        if pos == 0 {
            return Err(KeyringError::RemovePrimary);
        }
        self.entries.remove(pos);
        Ok(())
    }

    /// Seals `body` in place with the primary key; returns the key id and the tag.
    pub(crate) fn seal(&self, nonce: [u8; NONCE_LEN], aad: &[u8], body: &mut [u8]) -> Option<(u8, [u8; TAG_LEN])> {
        let entry = self.entries.first()?;
        let tag = entry.cipher.encrypt_inout_detached(&Nonce::from(nonce), aad, body.into()).ok()?;
        Some((entry.id, tag.into()))
    }

    /// Opens `body` in place with the keys whose id matches. On failure `body` is unchanged
    /// (the tag is verified before anything is decrypted).
    pub(crate) fn open(&self, key_id: u8, nonce: [u8; NONCE_LEN], aad: &[u8], body: &mut [u8], tag: &[u8]) -> bool {
        let Ok(tag) = Tag::try_from(tag) else { return false };
        let nonce = Nonce::from(nonce);
        self.entries
            .iter()
            .filter(|e| e.id == key_id)
            .any(|e| e.cipher.decrypt_inout_detached(&nonce, aad, (&mut *body).into(), &tag).is_ok())
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys()).finish()
    }
}

/// This node's nonce sequence: a random 96-bit start, counting up.
#[derive(Clone, Debug)]
pub(crate) struct NonceSeq {
    next: u128,
}

const NONCE_MASK: u128 = (1 << 96) - 1;

impl NonceSeq {
    pub(crate) fn new(random: [u8; NONCE_LEN]) -> Self {
        let mut wide = [0u8; 16];
        wide[4..].copy_from_slice(&random);
        NonceSeq { next: u128::from_be_bytes(wide) }
    }

    pub(crate) fn next_nonce(&mut self) -> [u8; NONCE_LEN] {
        loop {
            let current = self.next;
            self.next = (self.next + 1) & NONCE_MASK;
            let bytes = current.to_be_bytes();
            let mut nonce = [0u8; NONCE_LEN];
            nonce.copy_from_slice(&bytes[4..]);
            if nonce != KEY_ID_NONCE {
                return nonce;
            }
        }
    }
}

/// Rejects replayed encrypted frames.
///
/// A sender's nonces count up, so the first 8 bytes of a nonce identify the sender (they only
/// change when the low 32 bits wrap) and the last 4 are a sequence number. For each such
/// stream the window keeps the highest sequence seen and a 64-bit bitmap of the ones below it,
/// as IPsec and WireGuard do: a nonce seen before, or older than 64 packets behind the newest,
/// is refused. At most `capacity` streams are tracked; the oldest is forgotten first. Only
/// frames that authenticated are ever recorded, so forged nonces cannot poison it.
///
/// Each stream also has an allowance of its own ([`ReplayWindow::admit`]): the receive path
/// lets a frame of a stream that authenticated before through to decryption when its source
/// address is over the rate limit, so a flood of unauthenticated datagrams spoofing a
/// member's address cannot starve that member's own frames. A blind spoofer cannot guess a
/// stream (64 random bits); the allowance bounds what one that can read the traffic costs.
#[derive(Clone, Debug)]
pub(crate) struct ReplayWindow {
    /// Per stream: the highest sequence number, the bitmap below it, the stream's allowance.
    streams: IndexMap<u64, (u32, u64, Bucket), foldhash::fast::FixedState>,
    capacity: usize,
    /// Once full, the position of the oldest stream: a new stream takes its place (positions
    /// form a ring in insertion order), so forgetting is O(1) even when every frame comes
    /// from a stream not tracked (thousands of encrypted senders).
    oldest: usize,
}

impl ReplayWindow {
    pub(crate) fn new(capacity: usize, hash_seed: u64) -> Self {
        let streams = IndexMap::with_hasher(foldhash::fast::FixedState::with_seed(hash_seed));
        ReplayWindow { streams, capacity, oldest: 0 }
    }

    fn split(nonce: &[u8; NONCE_LEN]) -> (u64, u32) {
        let mut hi = [0u8; 8];
        let mut lo = [0u8; 4];
        hi.copy_from_slice(&nonce[..8]);
        lo.copy_from_slice(&nonce[8..]);
        (u64::from_be_bytes(hi), u32::from_be_bytes(lo))
    }

    /// Whether `nonce` would be accepted (nothing is recorded).
    pub(crate) fn check(&self, nonce: &[u8; NONCE_LEN]) -> bool {
        let (stream, seq) = Self::split(nonce);
        match self.streams.get(&stream) {
            None => true,
            Some(&(top, bitmap, _)) => fresh(top, bitmap, seq),
        }
    }

    /// Whether a frame with `nonce`, from a source over the rate limit, goes on to decryption
    /// anyway: its stream authenticated before, the nonce is not a replay, and the stream's
    /// own allowance (`per_sec`, `burst`) has a packet left, which this takes.
    pub(crate) fn admit(&mut self, nonce: &[u8; NONCE_LEN], now: Instant, per_sec: u32, burst: u32) -> bool {
        let (stream, seq) = Self::split(nonce);
        match self.streams.get_mut(&stream) {
            Some((top, bitmap, allowance)) => fresh(*top, *bitmap, seq) && allowance.take(now, per_sec, burst),
            None => false,
        }
    }

    /// Records an accepted nonce, at `now`; a new stream starts with an allowance of `burst`.
    /// Call only after [`ReplayWindow::check`] returned true.
    pub(crate) fn record(&mut self, nonce: &[u8; NONCE_LEN], now: Instant, burst: u32) {
        let (stream, seq) = Self::split(nonce);
        if let Some((top, bitmap, _)) = self.streams.get_mut(&stream) {
            if seq > *top {
                let shift = seq - *top;
                *bitmap = if shift >= 64 { 1 } else { (*bitmap << shift) | 1 };
                *top = seq;
            } else {
                *bitmap |= 1u64 << (*top - seq);
            }
            return;
        }
        if self.streams.len() < self.capacity.max(1) {
            if self.streams.len() == self.streams.capacity() {
                // Grow by a quarter, never past the capacity.
                let room = (self.streams.len() / 4 + 16).min(self.capacity - self.streams.len());
                self.streams.reserve_exact(room);
            }
            self.streams.insert(stream, (seq, 1, Bucket::full(burst, now)));
            return;
        }
        let i = self.oldest % self.streams.len();
        self.oldest = (i + 1) % self.streams.len();
        // `stream` is not tracked, so it cannot collide with another position.
        if self.streams.replace_index(i, stream).is_ok() {
            if let Some((_, v)) = self.streams.get_index_mut(i) {
                *v = (seq, 1, Bucket::full(burst, now));
            }
        }
    }
}

/// Whether `seq` is new for a stream whose highest sequence is `top`, with `bitmap` below it.
fn fresh(top: u32, bitmap: u64, seq: u32) -> bool {
    if seq > top {
        return true;
    }
    let behind = top - seq;
    behind < 64 && bitmap & (1u64 << behind) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_and_write_base64() {
        let key = Key::from_bytes([7; KEY_LEN]);
        let text = key.to_base64();
        assert_eq!(Key::from_base64(&text), Ok(key.clone()));
        assert_eq!(Key::from_base64(&alloc::format!("  {text}\n")), Ok(key), "white space around it is ignored");
        assert_eq!(Key::from_base64("AAAA"), Err(KeyError::WrongLength(3)));
        assert!(matches!(Key::from_base64("not base64!"), Err(KeyError::NotBase64(_))));
        assert_eq!(alloc::string::ToString::to_string(&KeyError::WrongLength(3)), "is 3 bytes, a key is 32");
    }

    fn key(b: u8) -> Key {
        Key::from_bytes([b; KEY_LEN])
    }

    #[test]
    fn seal_open_roundtrip_and_tamper() {
        let ring = Keyring::with_primary(key(1));
        let mut body = *b"hello world";
        let (id, tag) = ring.seal([3; NONCE_LEN], b"aad", &mut body).expect("seals");
        assert_ne!(&body, b"hello world");
        let sealed = body;
        assert!(!ring.open(id, [3; NONCE_LEN], b"aaX", &mut body, &tag));
        assert_eq!(body, sealed, "a failed open leaves the body untouched");
        assert!(!Keyring::with_primary(key(2)).open(id, [3; NONCE_LEN], b"aad", &mut body, &tag));
        assert!(ring.open(id, [3; NONCE_LEN], b"aad", &mut body, &tag));
        assert_eq!(&body, b"hello world");
    }

    #[test]
    fn rotation() {
        let mut ring = Keyring::with_primary(key(1));
        ring.install(key(2));
        ring.install(key(2));
        assert_eq!(ring.keys().count(), 2);
        assert_eq!(ring.remove(&key(1)), Err(KeyringError::RemovePrimary));
        assert_eq!(ring.use_key(&key(3)), Err(KeyringError::UnknownKey));
        ring.use_key(&key(2)).expect("installed");
        assert_eq!(ring.primary(), Some(&key(2)));
        ring.remove(&key(1)).expect("not primary");
        assert_eq!(ring.keys().count(), 1);
    }

    #[test]
    fn nonce_sequence_counts_and_skips_reserved() {
        let mut seq = NonceSeq::new([0xff; NONCE_LEN]);
        // The start is the reserved nonce itself: it is skipped and the counter wraps.
        assert_eq!(seq.next_nonce(), [0; NONCE_LEN]);
        let mut last = [0u8; NONCE_LEN];
        last[NONCE_LEN - 1] = 1;
        assert_eq!(seq.next_nonce(), last);
    }

    #[test]
    fn replay_window() {
        let mut w = ReplayWindow::new(2, 0);
        let n = |stream: u8, seq: u32| {
            let mut x = [stream; NONCE_LEN];
            x[8..].copy_from_slice(&seq.to_be_bytes());
            x
        };
        for s in [5, 3, 4, 100] {
            assert!(w.check(&n(1, s)));
            w.record(&n(1, s), Instant::ZERO, 1);
            assert!(!w.check(&n(1, s)));
        }
        assert!(!w.check(&n(1, 20)), "more than 64 behind the newest");
        assert!(w.check(&n(1, 99)));
        w.record(&n(2, 0), Instant::ZERO, 1);
        w.record(&n(3, 0), Instant::ZERO, 1);
        assert!(w.check(&n(1, 100)), "the oldest stream was forgotten");
    }

    /// Over the rate limit, only fresh nonces of streams that authenticated before are let
    /// through, within each stream's own allowance.
    #[test]
    fn known_streams_have_their_own_allowance() {
        let mut w = ReplayWindow::new(8, 0);
        let n = |stream: u8, seq: u32| {
            let mut x = [stream; NONCE_LEN];
            x[8..].copy_from_slice(&seq.to_be_bytes());
            x
        };
        let t = Instant::from_millis(1_000);
        assert!(!w.admit(&n(1, 1), t, 10, 3), "an unknown stream");
        w.record(&n(1, 1), t, 3);
        assert!(!w.admit(&n(1, 1), t, 10, 3), "a replay");
        assert!(w.admit(&n(1, 2), t, 10, 3) && w.admit(&n(1, 3), t, 10, 3) && w.admit(&n(1, 4), t, 10, 3));
        assert!(!w.admit(&n(1, 5), t, 10, 3), "the burst is spent");
        assert!(!w.admit(&n(2, 5), t, 10, 3), "another stream is not known");
        assert!(w.admit(&n(1, 5), Instant::from_millis(1_100), 10, 3), "refilled at 10 a second");
    }

    /// The window as first written, forgetting the oldest stream with an O(n) shift.
    fn reference_record(
        streams: &mut IndexMap<u64, (u32, u64), foldhash::fast::FixedState>,
        cap: usize,
        nonce: &[u8; NONCE_LEN],
    ) {
        let (stream, seq) = ReplayWindow::split(nonce);
        if let Some((top, bitmap)) = streams.get_mut(&stream) {
            if seq > *top {
                let shift = seq - *top;
                *bitmap = if shift >= 64 { 1 } else { (*bitmap << shift) | 1 };
                *top = seq;
            } else {
                *bitmap |= 1u64 << (*top - seq);
            }
            return;
        }
        if streams.len() >= cap {
            streams.shift_remove_index(0);
        }
        streams.insert(stream, (seq, 1));
    }

    proptest::proptest! {
        #[test]
        fn replay_window_decides_exactly_like_the_reference(
            cap in 1usize..6,
            frames in proptest::collection::vec((0u8..9, 0u32..80), 1..300),
        ) {
            let mut w = ReplayWindow::new(cap, 1);
            let mut r = IndexMap::with_hasher(foldhash::fast::FixedState::with_seed(1));
            for (stream, seq) in frames {
                let mut nonce = [stream; NONCE_LEN];
                nonce[8..].copy_from_slice(&seq.to_be_bytes());
                let (stream_id, seq) = ReplayWindow::split(&nonce);
                let expected = match r.get(&stream_id) {
                    None => true,
                    Some(&(top, bitmap)) => seq > top || (top - seq < 64 && bitmap & (1u64 << (top - seq)) == 0),
                };
                proptest::prop_assert_eq!(w.check(&nonce), expected);
                if expected {
                    w.record(&nonce, Instant::ZERO, 1);
                    reference_record(&mut r, cap, &nonce);
                }
            }
        }
    }
}
