//! Shared harness for the rumor-core fuzz targets (`fuzz_targets/*.rs`) and the seed generator
//! (`examples/gen_seeds.rs`).
//!
//! The `node` and `node_sealed` targets read their input as a sequence of *steps*:
//!
//! ```text
//! step = ctrl:u8 | len:u16 (little endian) | payload[len]
//! ```
//!
//! `ctrl` bits 0–1 pick the sender (three known members and one stranger), bits 2–6 advance
//! the clock by that many × 100 ms before the datagram, and bit 7 (sealed variant only) reuses
//! the previous nonce, i.e. replays. A `len` past the end of the input takes the rest; fewer
//! than 3 bytes left are one last payload with `ctrl = 0`. In `node` the payload is the raw
//! datagram; in `node_sealed` it is the plaintext body, sealed before delivery with a key the
//! node holds, so every step reaches postcard decoding of authenticated input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rumor_core::wire::{self, Addr, Message, NONCE_LEN};
use rumor_core::{Config, Identity, Instant, Key, Keyring, Node};

/// The key of the sealed variants (`frame`'s one-key keyring and `node_sealed`'s node).
pub const KEY_BYTES: [u8; 32] = [7; 32];

/// The fuzzed node's advertised address.
pub fn node_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7946)
}

/// Names of the members the node knows before the fuzz input arrives.
pub const KNOWN: [&str; 3] = ["a", "b", "c"];

/// Sender addresses selected by `ctrl & 3`: the three known members, then a stranger.
pub fn sender(i: u8) -> SocketAddr {
    match i & 3 {
        3 => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9000),
        n => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n)), 7946),
    }
}

/// The body that introduces the known members: one `Alive` per name in [`KNOWN`].
pub fn priming_body() -> Vec<u8> {
    let mut body = Vec::new();
    for (i, name) in KNOWN.iter().enumerate() {
        let msg = Message::Alive { name, incarnation: 1, addr: Addr::from(sender(i as u8)), meta: b"m" };
        body.extend_from_slice(&wire::encode_to_vec(&msg));
    }
    body
}

/// One decoded step of the node input format.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// Control byte (sender, clock advance, replay bit).
    pub ctrl: u8,
    /// The datagram (or plaintext body in the sealed variant).
    pub payload: &'a [u8],
}

/// Splits fuzz input into steps (see the crate docs).
pub fn steps(mut data: &[u8]) -> impl Iterator<Item = Step<'_>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        if data.len() < 3 {
            let payload = std::mem::take(&mut data);
            return Some(Step { ctrl: 0, payload });
        }
        let ctrl = data[0];
        let len = usize::from(u16::from_le_bytes([data[1], data[2]]));
        let rest = &data[3..];
        let take = len.min(rest.len());
        let (payload, tail) = rest.split_at(take);
        data = tail;
        Some(Step { ctrl, payload })
    })
}

/// Encodes steps in the format [`steps`] reads (used by the seed generator).
pub fn encode_steps(steps: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ctrl, payload) in steps {
        let len = u16::try_from(payload.len()).expect("payload fits a u16 length");
        out.push(*ctrl);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(payload);
    }
    out
}

/// A nonce counting up from a fixed start (never the reserved all-`0xff` nonce).
pub fn nonce(counter: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[..4].copy_from_slice(&[0x52, 0x55, 0x46, 0x5a]); // "RUFZ": one replay-window stream
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

/// The node under test: `Config::lan()` (plus `keyring`), name "fuzz", 127.0.0.1:7946,
/// seed `[1; 32]`, created at `Instant::ZERO`.
pub fn new_node(keyring: Keyring) -> Node {
    let config = Config { keyring, ..Config::lan() };
    let me = Identity { name: "fuzz".into(), addr: node_addr(), meta: Vec::new() };
    Node::new(config, me, [1; 32], Instant::ZERO).expect("valid config and identity")
}

/// Frames `body` the way the node under test expects: plaintext, or sealed with `key`.
pub fn frame(key: Option<&Key>, counter: u64, body: &[u8]) -> Vec<u8> {
    wire::encode_frame(b"", key.map(|k| (k, nonce(counter))), body).expect("empty label always fits")
}

/// Drains every transmit and event. Each datagram the node emits must fit the buffer and
/// must decode (frame and body) under the node's own keyring and label: a packet the node
/// sends but a peer with the same configuration would drop is a bug too.
pub fn drain(node: &mut Node, now: Instant) {
    let mut buf = [0u8; 1400];
    let mut opened = Vec::new();
    // The outbox holds at most 4096 packets; bound the loop anyway.
    for _ in 0..10_000 {
        let Some(t) = node.poll_transmit(now, &mut buf) else { break };
        assert!(t.size <= buf.len(), "transmit size {} exceeds the buffer", t.size);
        let sent = &buf[..t.size];
        let label = node.config().label.clone();
        if let Err(e) = wire::decode_frame(node.keyring(), label.as_bytes(), sent, &mut opened) {
            panic!("node emitted a frame it cannot open itself: {e:?}: {sent:02x?}");
        }
        let mut msgs = Vec::new();
        if let Err(e) = wire::decode_body(&opened, &mut msgs) {
            panic!("node emitted a body it cannot decode itself: {e:?}: {opened:02x?}");
        }
    }
    for _ in 0..100_000 {
        if node.poll_event().is_none() {
            break;
        }
    }
}

/// The `node` / `node_sealed` harness.
pub fn run_node(data: &[u8], sealed: bool) {
    let key = Key::from_bytes(KEY_BYTES);
    let keyring = if sealed { Keyring::with_primary(key.clone()) } else { Keyring::new() };
    let seal = sealed.then_some(&key);
    let mut node = new_node(keyring);
    let mut now = Instant::ZERO;
    let mut counter = 0u64;

    // Known members first: a valid frame of Alive messages from "a".
    node.handle_datagram(now, sender(0), &frame(seal, counter, &priming_body()));
    drain(&mut node, now);

    for step in steps(data) {
        now += Duration::from_millis(100 * u64::from((step.ctrl >> 2) & 0x1f));
        let from = sender(step.ctrl);
        if sealed {
            if step.ctrl & 0x80 == 0 {
                counter += 1;
            }
            node.handle_datagram(now, from, &frame(seal, counter, step.payload));
        } else {
            node.handle_datagram(now, from, step.payload);
        }
        drain(&mut node, now);
        node.handle_timeout(now);
        drain(&mut node, now);
    }

    // Let the timers run out: probes fail, suspicions expire, anti-entropy and reaping run.
    for _ in 0..12 {
        now += Duration::from_millis(1500);
        node.handle_timeout(now);
        drain(&mut node, now);
    }
    // Read the view (exercises the getters on whatever state the input produced).
    let live = node.live_members();
    let total = node.members().count();
    assert!(live <= total, "live_members {live} > members {total}");
    let _ = (node.stats(), node.health_score(), node.gossip_queue_len(), node.poll_timeout());
}
