//! Protocol hot-path benchmarks: encoding, decoding, sealing, opening and merging one full
//! 1400-byte packet of Alive updates, and the whole receive path through
//! `Node::handle_datagram` on a node that knows 1000 members.
//!
//! Run: `cargo bench -p rumor-core --bench protocol -- --warm-up-time 1 --measurement-time 3`.
//! Results and their reading are in `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant as WallClock};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rumor_core::state::{State, Update};
use rumor_core::wire::{self, Addr, Header, Message, NONCE_LEN, TAG_LEN};
use rumor_core::{Config, Identity, Instant, Key, Keyring, Node};

/// Size of a full datagram (`Config::lan().mtu`).
const PACKET: usize = 1400;
/// `Config::lan()` has no cluster label.
const LABEL: &[u8] = b"";
/// Members the benchmarked node knows before the measurement.
const MEMBERS: usize = 1000;
/// Incarnation every member is fed at; "known" packets repeat it.
const BASE_INCARNATION: u32 = 1;
/// Incarnations stay below 128 so they encode in one varint byte and every packet, including
/// the "new" ones with bumped incarnations, holds the same number of messages.
const MAX_ONE_BYTE_INCARNATION: u32 = 127;
const NOW: Instant = Instant::from_millis(1_000);
/// Inputs prepared per timed batch: few enough that they stay in cache, as a live node's
/// state and a just-received datagram would.
const BATCH: u64 = 32;

fn key() -> Key {
    Key::from_bytes([0x42; 32])
}

fn sender() -> SocketAddr {
    "10.255.0.1:7946".parse().unwrap()
}

/// The cluster the packets talk about: `node-00000` … `node-00999`, one IPv4 address each,
/// 8 bytes of metadata each.
struct Cluster {
    names: Vec<String>,
    metas: Vec<[u8; 8]>,
}

impl Cluster {
    fn new() -> Self {
        Cluster {
            names: (0..MEMBERS).map(|i| format!("node-{i:05}")).collect(),
            metas: (0..MEMBERS).map(|i| (i as u64).to_be_bytes()).collect(),
        }
    }

    fn alive(&self, i: usize, incarnation: u32) -> Message<'_> {
        Message::Alive {
            name: &self.names[i],
            incarnation,
            addr: Addr::V4([10, 0, (i >> 8) as u8, i as u8], 7946),
            meta: &self.metas[i],
        }
    }

    /// Alive updates for members `first..end`, encoded until `budget` bytes are full.
    /// Returns the body and how many members it holds.
    fn body(&self, first: usize, end: usize, incarnation: u32, budget: usize) -> (Vec<u8>, usize) {
        let mut buf = vec![0u8; budget];
        let mut pos = 0;
        let mut count = 0;
        for i in first..end {
            if !wire::encode_into(&self.alive(i, incarnation), &mut buf, &mut pos) {
                break;
            }
            count += 1;
        }
        buf.truncate(pos);
        (buf, count)
    }
}

/// Body bytes available in a full packet.
fn body_budget(encrypted: bool) -> usize {
    PACKET - Header::encoded_len(LABEL, encrypted) - if encrypted { TAG_LEN } else { 0 }
}

/// A full packet: at most `PACKET` bytes, with no room for one more Alive update.
fn assert_full(frame_len: usize) {
    let one_more = wire::encode_to_vec(&Cluster::new().alive(MEMBERS - 1, MAX_ONE_BYTE_INCARNATION)).len();
    assert!(frame_len <= PACKET && frame_len + one_more > PACKET, "{frame_len} B is not a full packet");
}

/// Frames bodies the way a peer would, with a fresh, increasing nonce for each sealed frame
/// (the receiver's replay window refuses a nonce twice).
struct Sealer {
    key: Option<Key>,
    seq: u32,
}

impl Sealer {
    fn new(encrypted: bool) -> Self {
        Sealer { key: encrypted.then(key), seq: 0 }
    }

    fn frame(&mut self, body: &[u8]) -> Vec<u8> {
        self.seq += 1;
        let mut nonce = [0xa5; NONCE_LEN];
        nonce[8..].copy_from_slice(&self.seq.to_be_bytes());
        wire::encode_frame(LABEL, self.key.as_ref().map(|k| (k, nonce)), body).unwrap()
    }
}

fn drain(node: &mut Node) -> usize {
    let mut buf = [0u8; PACKET];
    while node.poll_transmit(NOW, &mut buf).is_some() {}
    let mut events = 0;
    while node.poll_event().is_some() {
        events += 1;
    }
    events
}

/// A LAN node that knows all 1000 members at `BASE_INCARNATION`, with the rate limiter opened
/// up so that a flood of packets from one sender is not dropped.
fn node_with_members(cluster: &Cluster, sealer: &mut Sealer) -> Node {
    let encrypted = sealer.key.is_some();
    let mut config = Config::lan();
    if encrypted {
        config.keyring = Keyring::with_primary(key());
    }
    config.rate_limit.per_peer_burst = u32::MAX;
    config.rate_limit.global_burst = u32::MAX;
    let me = Identity { name: "bench-self".into(), addr: "10.255.255.1:7946".parse().unwrap(), meta: vec![0; 8] };
    let mut node = Node::new(config, me, [7; 32], NOW).unwrap();
    let mut first = 0;
    while first < MEMBERS {
        let (body, n) = cluster.body(first, MEMBERS, BASE_INCARNATION, body_budget(encrypted));
        node.handle_datagram(NOW, sender(), &sealer.frame(&body));
        first += n;
    }
    drain(&mut node);
    assert_eq!(node.live_members(), MEMBERS + 1, "every member was learnt");
    node
}

fn assert_no_drops(node: &Node) {
    let s = node.stats();
    let drops = s.dropped_oversized
        + s.dropped_rate_limited
        + s.dropped_malformed
        + s.dropped_version
        + s.dropped_label
        + s.dropped_auth
        + s.dropped_replay
        + s.dropped_checksum
        + s.name_conflicts
        + s.members_over_limit;
    assert_eq!(drops, 0, "the benchmark packets must be processed, not dropped: {s:?}");
}

/// Prints packet sizes and checks the AEAD overhead per packet.
fn sizes(_: &mut Criterion) {
    let cluster = Cluster::new();
    let (plain, n_plain) = cluster.body(0, MEMBERS, BASE_INCARNATION, body_budget(false));
    let (sealed, n_sealed) = cluster.body(0, MEMBERS, BASE_INCARNATION, body_budget(true));
    let plain_frame = wire::encode_frame(LABEL, None, &plain).unwrap();
    let sealed_frame = wire::encode_frame(LABEL, Some((&key(), [1; NONCE_LEN])), &plain).unwrap();
    let overhead = sealed_frame.len() - plain_frame.len();
    let msg_len = wire::encode_to_vec(&cluster.alive(42, BASE_INCARNATION)).len();
    eprintln!("alive message (\"node-00042\", IPv4, 8 B meta, incarnation 1), length prefix included: {msg_len} B");
    eprintln!("plaintext 1400 B packet: {n_plain} messages, body {} B, frame {} B", plain.len(), plain_frame.len());
    eprintln!(
        "encrypted 1400 B packet: {n_sealed} messages, body {} B, frame {} B",
        sealed.len(),
        wire::encode_frame(LABEL, Some((&key(), [1; NONCE_LEN])), &sealed).unwrap().len()
    );
    eprintln!("AEAD overhead per packet (same body, sealed minus plaintext): {overhead} B");
    assert_eq!(overhead, 1 + NONCE_LEN + TAG_LEN);
    assert!(overhead <= 29, "AEAD overhead target: at most 29 B per packet");
}

fn codec(c: &mut Criterion) {
    let cluster = Cluster::new();
    let budget = body_budget(false);
    let (body, count) = cluster.body(0, MEMBERS, BASE_INCARNATION, budget);
    // More candidates than fit: the encoder stops at the first one that does not.
    let candidates: Vec<Message<'_>> = (0..count * 2).map(|i| cluster.alive(i, BASE_INCARNATION)).collect();

    let mut buf = vec![0u8; budget];
    let fill = |buf: &mut [u8]| {
        let mut pos = 0;
        for m in &candidates {
            if !wire::encode_into(black_box(m), buf, &mut pos) {
                break;
            }
        }
        pos
    };
    let len = fill(&mut buf);
    assert_eq!(&buf[..len], &body[..]);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("full_packet", |b| b.iter(|| black_box(fill(&mut buf))));
    group.finish();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(count as u64));
    let mut out = Vec::with_capacity(wire::MAX_MESSAGES_PER_PACKET);
    wire::decode_body(&body, &mut out).unwrap();
    assert_eq!(out.len(), count);
    group.bench_function("full_packet", |b| {
        b.iter(|| {
            wire::decode_body(black_box(&body), &mut out).unwrap();
            black_box(out.len())
        })
    });
    group.finish();
}

fn crypto(c: &mut Criterion) {
    let cluster = Cluster::new();
    let (body, _) = cluster.body(0, MEMBERS, BASE_INCARNATION, body_budget(true));
    let key = key();
    let nonce = [3; NONCE_LEN];
    let frame = wire::encode_frame(LABEL, Some((&key, nonce)), &body).unwrap();
    assert_full(frame.len());

    let mut group = c.benchmark_group("seal");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("1400B", |b| {
        b.iter(|| wire::encode_frame(black_box(LABEL), Some((&key, black_box(nonce))), black_box(&body)))
    });
    group.finish();

    // `encode_frame` derives the key id twice per call (and `Node` once per sealed packet):
    // what one derivation costs.
    group_single(c, "key", "id", || black_box(&key).id());

    let keyring = Keyring::with_primary(key.clone());
    let mut out = Vec::with_capacity(PACKET);
    wire::decode_frame(&keyring, LABEL, &frame, &mut out).unwrap();
    assert_eq!(out, body);
    let mut group = c.benchmark_group("open");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("1400B", |b| {
        b.iter(|| wire::decode_frame(&keyring, LABEL, black_box(&frame), &mut out).unwrap().len)
    });
    group.finish();
}

fn group_single<O>(c: &mut Criterion, group: &str, name: &str, mut f: impl FnMut() -> O) {
    let mut group = c.benchmark_group(group);
    group.bench_function(name, |b| b.iter(&mut f));
    group.finish();
}

/// Converts a decoded message into the update the node merges, as `Node::process` does.
fn update<'a>(m: &Message<'a>) -> Update<'a> {
    match *m {
        Message::Alive { incarnation, addr, meta, .. } => Update::Alive { incarnation, addr: addr.into(), meta },
        _ => unreachable!("the benchmark packets hold only Alive updates"),
    }
}

fn merge_all(states: &mut [State], msgs: &[Message<'_>]) -> usize {
    states.iter_mut().zip(msgs).map(|(s, m)| usize::from(s.merge(update(m)).any())).sum()
}

fn merge(c: &mut Criterion) {
    let cluster = Cluster::new();
    let (known, count) = cluster.body(0, MEMBERS, BASE_INCARNATION, body_budget(false));
    let (news, news_count) = cluster.body(0, MEMBERS, BASE_INCARNATION + 1, body_budget(false));
    assert_eq!(count, news_count);
    let mut known_msgs = Vec::new();
    wire::decode_body(&known, &mut known_msgs).unwrap();
    let mut news_msgs = Vec::new();
    wire::decode_body(&news, &mut news_msgs).unwrap();
    let states: Vec<State> = known_msgs.iter().map(|m| State::from_update(update(m))).collect();

    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements(count as u64));
    let mut known_states = states.clone();
    group.bench_function("full_packet_known", |b| {
        b.iter(|| assert_eq!(merge_all(&mut known_states, black_box(&known_msgs)), 0))
    });
    group.bench_function("full_packet_new", |b| {
        b.iter_batched_ref(
            || states.clone(),
            |s| assert_eq!(merge_all(s, black_box(&news_msgs)), count),
            BatchSize::NumIterations(4 * BATCH),
        )
    });
    group.finish();

    // The target, measured in one piece: decode a full packet, then merge every update.
    let mut group = c.benchmark_group("decode_merge");
    group.throughput(Throughput::Elements(count as u64));
    let mut out = Vec::with_capacity(wire::MAX_MESSAGES_PER_PACKET);
    group.bench_function("full_packet_known", |b| {
        b.iter(|| {
            wire::decode_body(black_box(&known), &mut out).unwrap();
            assert_eq!(merge_all(&mut known_states, &out), 0);
        })
    });
    group.bench_function("full_packet_new", |b| {
        b.iter_batched_ref(
            || states.clone(),
            |s| {
                wire::decode_body(black_box(&news), &mut out).unwrap();
                assert_eq!(merge_all(s, &out), count);
            },
            BatchSize::NumIterations(4 * BATCH),
        )
    });
    group.finish();
}

fn handle_datagram(c: &mut Criterion) {
    let cluster = Cluster::new();
    let mut group = c.benchmark_group("handle_datagram");
    for encrypted in [false, true] {
        let mode = if encrypted { "encrypted" } else { "plaintext" };
        let budget = body_budget(encrypted);
        let (known, count) = cluster.body(0, MEMBERS, BASE_INCARNATION, budget);
        group.throughput(Throughput::Elements(count as u64));

        // Known: every update in the packet is already known; nothing changes, nothing is
        // queued or reported.
        let mut sealer = Sealer::new(encrypted);
        let mut node = node_with_members(&cluster, &mut sealer);
        let probe = sealer.frame(&known);
        assert_full(probe.len());
        node.handle_datagram(NOW, sender(), &probe);
        assert_eq!(drain(&mut node), 0, "a packet of known updates is no news");
        if encrypted {
            // Each sealed frame needs a fresh nonce, or the replay window drops it: seal one
            // per iteration outside the timing.
            group.bench_function(format!("full_packet_known/{mode}"), |b| {
                b.iter_batched_ref(
                    || sealer.frame(&known),
                    |frame| node.handle_datagram(NOW, sender(), frame),
                    BatchSize::NumIterations(BATCH),
                )
            });
        } else {
            group.bench_function(format!("full_packet_known/{mode}"), |b| {
                b.iter(|| node.handle_datagram(NOW, sender(), black_box(&probe)))
            });
        }
        assert_no_drops(&node);
        assert_eq!(drain(&mut node), 0);

        // New: every update bumps its member's incarnation, so each one is merged, reported
        // (MemberUpdated) and queued for gossip. A batch of packets is built and sealed before
        // the timing starts and its events are drained after it stops. When the incarnation
        // would need a second varint byte, the node is rebuilt, outside the timing too.
        let mut incarnation = BASE_INCARNATION;
        group.bench_function(format!("full_packet_new/{mode}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let k = left.min(BATCH);
                    left -= k;
                    if incarnation + k as u32 > MAX_ONE_BYTE_INCARNATION {
                        assert_no_drops(&node);
                        node = node_with_members(&cluster, &mut sealer);
                        incarnation = BASE_INCARNATION;
                    }
                    let frames: Vec<Vec<u8>> = (0..k)
                        .map(|_| {
                            incarnation += 1;
                            let (body, n) = cluster.body(0, MEMBERS, incarnation, budget);
                            assert_eq!(n, count);
                            sealer.frame(&body)
                        })
                        .collect();
                    let start = WallClock::now();
                    for frame in &frames {
                        node.handle_datagram(NOW, sender(), black_box(frame));
                    }
                    total += start.elapsed();
                    assert_eq!(drain(&mut node), k as usize * count, "every update is news");
                }
                total
            })
        });
        assert_no_drops(&node);
    }
    group.finish();
}

criterion_group!(benches, sizes, codec, crypto, merge, handle_datagram);
criterion_main!(benches);
