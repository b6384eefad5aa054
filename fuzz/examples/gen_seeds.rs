//! Writes seed corpora built from valid frames into `fuzz/corpus/<target>/`.
//!
//! ```text
//! cd fuzz && cargo run --example gen_seeds
//! ```
//!
//! Deterministic; re-running overwrites the same `seed-*` files and leaves the rest of a
//! corpus alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rumor_core::wire::{self, Addr, Message};
use rumor_core::{Config, Identity, Instant, Key, Node};
use rumor_fuzz::{KEY_BYTES, encode_steps, frame, node_addr, nonce, sender};

/// `(ctrl, body)` pairs of one node scenario.
type Steps = Vec<(u8, Vec<u8>)>;

fn messages() -> Vec<Message<'static>> {
    let v6 = Addr::V6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 9000);
    vec![
        Message::Ping { seq: 7, target: "fuzz" },
        Message::Ping { seq: 8, target: "a" },
        Message::Ack { seq: 1 },
        Message::Nack { seq: 2 },
        Message::PingReq { seq: 3, target: "b", addr: Addr::from(sender(1)), nack: true },
        Message::Alive { name: "d", incarnation: 1, addr: v6, meta: b"hello" },
        Message::Alive { name: "a", incarnation: 2, addr: Addr::from(sender(0)), meta: b"" },
        Message::Suspect { name: "a", incarnation: 1, from: "b" },
        Message::Suspect { name: "fuzz", incarnation: 0, from: "a" },
        Message::Dead { name: "c", incarnation: 1, from: "b" },
        Message::Left { name: "b", incarnation: 1 },
        Message::User { origin: "a", id: 42, payload: b"hi" },
        Message::Sync { from: "a", reply: false },
        Message::Sync { from: "b", reply: true },
    ]
}

fn body(msgs: &[Message<'_>]) -> Vec<u8> {
    msgs.iter().flat_map(|m| wire::encode_to_vec(m)).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

/// Datagrams a real peer "a" (at `sender(0)`) sends to the node while joining it and
/// gossiping for a few seconds, with the node's replies fed back to the peer.
fn captured_exchange() -> Vec<Vec<u8>> {
    let peer_id = Identity { name: "a".into(), addr: sender(0), meta: b"peer".to_vec() };
    let mut peer = Node::new(Config::lan(), peer_id, [2; 32], Instant::ZERO).expect("peer");
    let mut node = rumor_fuzz::new_node(Default::default());
    peer.join(&[node_addr()], Instant::ZERO).expect("join");
    let mut to_node = Vec::new();
    let mut buf = [0u8; 1400];
    let mut now = Instant::ZERO;
    for _ in 0..30 {
        now += Duration::from_millis(300);
        peer.handle_timeout(now);
        node.handle_timeout(now);
        while let Some(t) = peer.poll_transmit(now, &mut buf) {
            if t.destination == node_addr() {
                let dgram = buf[..t.size].to_vec();
                node.handle_datagram(now, sender(0), &dgram);
                to_node.push(dgram);
            }
        }
        while let Some(t) = node.poll_transmit(now, &mut buf) {
            if t.destination == sender(0) {
                peer.handle_datagram(now, node_addr(), &buf[..t.size]);
            }
        }
        while peer.poll_event().is_some() {}
        while node.poll_event().is_some() {}
    }
    to_node
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let dirs = ["frame", "body", "node", "node_sealed"].map(|t| {
        let d = root.join(t);
        std::fs::create_dir_all(&d).expect("create corpus dir");
        d
    });
    let [frame_dir, body_dir, node_dir, sealed_dir] = &dirs;
    let key = Key::from_bytes(KEY_BYTES);
    let msgs = messages();
    let all = body(&msgs);

    // body: every variant alone, and all of them in one body.
    for (i, m) in msgs.iter().enumerate() {
        write(body_dir, &format!("seed-msg-{i:02}"), &wire::encode_to_vec(m));
    }
    write(body_dir, "seed-all", &all);

    // frame: plaintext and sealed frames, empty and non-empty label.
    for label in [&b""[..], b"prod"] {
        let tag = if label.is_empty() { "nolabel" } else { "label" };
        let plain = wire::encode_frame(label, None, &all).expect("frame");
        let sealed = wire::encode_frame(label, Some((&key, nonce(1))), &all).expect("frame");
        let ping = wire::encode_frame(label, Some((&key, nonce(2))), &body(&msgs[..1])).expect("frame");
        write(frame_dir, &format!("seed-plain-{tag}"), &plain);
        write(frame_dir, &format!("seed-sealed-{tag}"), &sealed);
        write(frame_dir, &format!("seed-sealed-ping-{tag}"), &ping);
    }

    // node / node_sealed: scripted scenarios, one message per step or several per body.
    let scenarios: Vec<(&str, Steps)> = vec![
        ("each", msgs.iter().enumerate().map(|(i, m)| ((i as u8 % 4) | (3 << 2), body(&[*m]))).collect()),
        ("all", vec![(1, all.clone())]),
        (
            "suspect-refute",
            vec![
                (1, body(&[Message::Suspect { name: "fuzz", incarnation: 0, from: "b" }])),
                (2 | (10 << 2), body(&[Message::Dead { name: "a", incarnation: 1, from: "c" }])),
                (
                    20 << 2,
                    body(&[Message::Alive { name: "a", incarnation: 3, addr: Addr::from(sender(0)), meta: b"x" }]),
                ),
            ],
        ),
        (
            "sync",
            vec![(
                3,
                body(&[
                    Message::Sync { from: "e", reply: false },
                    Message::Alive { name: "e", incarnation: 1, addr: Addr::from(sender(3)), meta: b"" },
                    Message::Dead { name: "b", incarnation: 1, from: "e" },
                ]),
            )],
        ),
    ];
    for (name, steps) in &scenarios {
        let plain: Vec<(u8, Vec<u8>)> = steps.iter().map(|(c, b)| (*c, frame(None, 0, b))).collect();
        let refs: Vec<(u8, &[u8])> = plain.iter().map(|(c, f)| (*c, &f[..])).collect();
        write(node_dir, &format!("seed-{name}"), &encode_steps(&refs));
        let refs: Vec<(u8, &[u8])> = steps.iter().map(|(c, b)| (*c, &b[..])).collect();
        write(sealed_dir, &format!("seed-{name}"), &encode_steps(&refs));
    }

    // Real traffic: what a joining peer sends (plaintext frames; their bodies for the sealed
    // variant: an empty label makes the plaintext header exactly 5 bytes, and the checksum
    // ends the frame).
    let captured = captured_exchange();
    let header = wire::Header::encoded_len(b"", false);
    let body = |d: &[u8]| d[header..d.len() - wire::CHECKSUM_LEN].to_vec();
    let refs: Vec<(u8, &[u8])> = captured.iter().map(|d| (3 << 2, &d[..])).collect();
    write(node_dir, "seed-captured", &encode_steps(&refs));
    let bodies: Vec<Vec<u8>> = captured.iter().map(|d| body(d)).collect();
    let refs: Vec<(u8, &[u8])> = bodies.iter().map(|b| (3 << 2, &b[..])).collect();
    write(sealed_dir, "seed-captured", &encode_steps(&refs));
    for (i, d) in captured.iter().take(4).enumerate() {
        write(frame_dir, &format!("seed-captured-{i}"), d);
        write(body_dir, &format!("seed-captured-{i}"), &body(d));
    }

    for d in &dirs {
        let n = std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
        println!("{}: {n} files", d.display());
    }
    println!("captured {} datagrams from a joining peer", captured.len());
}
