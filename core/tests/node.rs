//! The node's contract, driven by hand: bad input is dropped, counted and changes nothing;
//! commands validate; the buddy system, refutation and join backoff behave as documented.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use core::net::SocketAddr;
use core::time::Duration;

use rumor_core::wire::{self, Addr, Message, decode_body, encode_frame};
use rumor_core::{Config, Error, Event, Identity, Instant, Key, Keyring, Node, Stats, Status};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

fn node_with(config: Config) -> Node {
    let me = Identity { name: "me".into(), addr: addr(1), meta: b"m".to_vec() };
    Node::new(config, me, [3; 32], Instant::ZERO).unwrap()
}

fn body(msgs: &[Message<'_>]) -> Vec<u8> {
    msgs.iter().flat_map(wire::encode_to_vec).collect()
}

fn alive(name: &str, port: u16, incarnation: u32) -> Message<'_> {
    Message::Alive { name, incarnation, addr: Addr::from(addr(port)), meta: b"" }
}

/// Every datagram the node wants to send now, as its destination and plaintext body
/// (plaintext nodes only).
fn bodies(node: &mut Node, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buf = [0u8; 1400];
    let mut out = Vec::new();
    while let Some(t) = node.poll_transmit(now, &mut buf) {
        let mut plain = Vec::new();
        wire::decode_frame(&Keyring::new(), b"", &buf[..t.size], &mut plain).unwrap();
        out.push((t.destination, plain));
    }
    out
}

/// Every datagram the node wants to send now, decoded (plaintext nodes only).
fn drain(node: &mut Node, now: Instant) -> Vec<(SocketAddr, Vec<String>)> {
    let mut out = Vec::new();
    for (to, plain) in bodies(node, now) {
        let mut msgs = Vec::new();
        decode_body(&plain, &mut msgs).unwrap();
        out.push((to, msgs.iter().map(|m| format!("{m:?}")).collect()));
    }
    out
}

/// Teaches `node` the alive members member-0000 … in packets of 20, and drains its output.
fn teach_members(node: &mut Node, count: u16, now: Instant) {
    for chunk in (0..count).collect::<Vec<u16>>().chunks(20) {
        let names: Vec<String> = chunk.iter().map(|i| format!("member-{i:04}")).collect();
        let msgs: Vec<Message<'_>> = names.iter().zip(chunk).map(|(n, i)| alive(n, 1000 + i, 0)).collect();
        node.handle_datagram(now, addr(2), &encode_frame(b"", None, &body(&msgs)).unwrap());
    }
    drain(node, now);
}

fn snapshot(node: &Node) -> (Vec<rumor_core::Member>, u32, usize) {
    (node.members().map(|m| m.to_member()).collect(), node.incarnation(), node.gossip_queue_len())
}

#[test]
fn bad_datagrams_are_dropped_counted_and_change_nothing() {
    let key = Key::from_bytes([9; 32]);
    let config = Config { keyring: Keyring::with_primary(key.clone()), label: "prod".into(), ..Config::lan() };
    let mut node = node_with(config.clone());
    let t = Instant::from_millis(10);
    let good = body(&[alive("a", 2, 0), alive("b", 3, 0)]);
    let frame = encode_frame(b"prod", Some((&key, [1; 12])), &good).unwrap();
    node.handle_datagram(t, addr(2), &frame);
    while node.poll_event().is_some() {}
    let _ = drain_encrypted(&mut node, t);
    let before = snapshot(&node);
    let stats_before = *node.stats();

    let other_key = Key::from_bytes([8; 32]);
    let mut tampered = encode_frame(b"prod", Some((&key, [2; 12])), &good).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("garbage", b"hello, world".to_vec()),
        ("truncated", frame[..frame.len() / 2].to_vec()),
        ("oversized", vec![0; 10_000]),
        ("unknown version", [b"RU\x09\x01\x04prod".as_slice(), &[0; 40]].concat()),
        ("wrong label", encode_frame(b"dev", Some((&key, [3; 12])), &good).unwrap()),
        ("wrong key", encode_frame(b"prod", Some((&other_key, [4; 12])), &good).unwrap()),
        ("plaintext", encode_frame(b"prod", None, &good).unwrap()),
        ("tampered", tampered),
        ("replayed", frame.clone()),
        ("malformed body", encode_frame(b"prod", Some((&key, [5; 12])), &[0xff; 40]).unwrap()),
        ("empty name", encode_frame(b"prod", Some((&key, [6; 12])), &body(&[alive("", 2, 9)])).unwrap()),
    ];
    for (what, bytes) in &cases {
        node.handle_datagram(t, addr(2), bytes);
        assert_eq!(snapshot(&node), before, "{what} changed the state");
        assert!(node.poll_event().is_none(), "{what} raised an event");
    }
    let s = node.stats();
    let diff = |f: fn(&Stats) -> u64| f(s) - f(&stats_before);
    assert_eq!(diff(|s| s.dropped_malformed), 5, "empty, garbage, truncated, malformed body, empty name");
    assert_eq!(diff(|s| s.dropped_oversized), 1);
    assert_eq!(diff(|s| s.dropped_version), 1);
    assert_eq!(diff(|s| s.dropped_label), 1);
    assert_eq!(diff(|s| s.dropped_auth), 3, "wrong key, plaintext, tampered");
    assert_eq!(diff(|s| s.dropped_replay), 1);
    assert_eq!(diff(|s| s.packets_in), cases.len() as u64);
}

fn drain_encrypted(node: &mut Node, now: Instant) -> usize {
    let mut buf = [0u8; 1400];
    let mut n = 0;
    while node.poll_transmit(now, &mut buf).is_some() {
        n += 1;
    }
    n
}

#[test]
fn a_flood_from_one_source_is_rate_limited_but_others_get_through() {
    let mut config = Config::lan();
    config.rate_limit.per_peer_burst = 10;
    config.rate_limit.per_peer_per_sec = 1;
    let mut node = node_with(config);
    let t = Instant::from_millis(10);
    let frame = encode_frame(b"", None, &body(&[Message::Ack { seq: 1 }])).unwrap();
    let flooder = SocketAddr::from(([10, 0, 0, 66], 5000));
    for _ in 0..100 {
        node.handle_datagram(t, flooder, &frame);
    }
    assert_eq!(node.stats().dropped_rate_limited, 90);
    node.handle_datagram(t, addr(2), &encode_frame(b"", None, &body(&[alive("a", 2, 0)])).unwrap());
    assert_eq!(node.member("a").unwrap().status, Status::Alive);
}

#[test]
fn a_ping_is_acked_only_for_our_name() {
    let mut node = node_with(Config::lan());
    let t = Instant::from_millis(5);
    node.handle_datagram(
        t,
        addr(2),
        &encode_frame(b"", None, &body(&[Message::Ping { seq: 42, target: "me" }])).unwrap(),
    );
    node.handle_datagram(
        t,
        addr(2),
        &encode_frame(b"", None, &body(&[Message::Ping { seq: 43, target: "old" }])).unwrap(),
    );
    let out = drain(&mut node, t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, addr(2));
    assert_eq!(out[0].1[0], "Ack { seq: 42 }");
    assert_eq!(node.stats().misdirected_pings, 1);
}

#[test]
fn suspicion_about_self_is_refuted_and_answered_directly() {
    let mut node = node_with(Config::lan());
    let t = Instant::from_millis(5);
    let suspect = Message::Suspect { name: "me", incarnation: 0, from: "x" };
    node.handle_datagram(t, addr(7), &encode_frame(b"", None, &body(&[alive("x", 7, 0), suspect])).unwrap());
    assert_eq!(node.incarnation(), 1);
    assert_eq!(node.stats().refutations, 1);
    assert_eq!(node.health_score(), 1, "refuting raises the local health score");
    let out = drain(&mut node, t);
    let to_sender: Vec<_> = out.iter().filter(|(d, _)| *d == addr(7)).collect();
    assert!(
        to_sender.iter().any(|(_, m)| m.iter().any(|s| s.starts_with("Alive { name: \"me\", incarnation: 1"))),
        "{out:?}"
    );
    // A stale suspicion (older incarnation) does not refute again but is answered.
    let stale = Message::Suspect { name: "me", incarnation: 0, from: "y" };
    node.handle_datagram(t, addr(8), &encode_frame(b"", None, &body(&[stale])).unwrap());
    assert_eq!(node.incarnation(), 1);
    assert!(
        drain(&mut node, t)
            .iter()
            .any(|(d, m)| *d == addr(8) && m[0].starts_with("Alive { name: \"me\", incarnation: 1"))
    );
}

#[test]
fn probes_to_a_suspect_carry_the_suspicion() {
    let mut node = node_with(Config::lan());
    let t = Instant::from_millis(1);
    let msgs = [alive("x", 7, 4), Message::Suspect { name: "x", incarnation: 4, from: "z" }];
    node.handle_datagram(t, addr(9), &encode_frame(b"", None, &body(&msgs)).unwrap());
    assert_eq!(node.member("x").unwrap().status, Status::Suspect);
    drain(&mut node, t);
    // Run until the node probes x (its only member).
    for _ in 0..50 {
        let now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
        let out = drain(&mut node, now);
        if let Some((_, m)) = out.iter().find(|(d, m)| *d == addr(7) && m[0].starts_with("Ping")) {
            assert!(m.iter().any(|s| s.starts_with("Suspect { name: \"x\", incarnation: 4")), "{m:?}");
            return;
        }
    }
    panic!("x was never probed");
}

#[test]
fn commands_validate_their_input() {
    let mut node = node_with(Config::lan());
    let t = Instant::ZERO;
    assert_eq!(node.set_meta(&[0; 600], t), Err(Error::MetaTooLong { len: 600, max: 512 }));
    let max = node.max_broadcast_len();
    assert!(matches!(node.broadcast(&vec![0; max + 1], t), Err(Error::PayloadTooLarge { .. })));
    node.broadcast(&vec![0; max], t).unwrap();
    node.set_meta(b"new", t).unwrap();
    assert_eq!(node.incarnation(), 1);
    let bad =
        |name: &str| Node::new(Config::lan(), Identity { name: name.into(), addr: addr(1), meta: vec![] }, [0; 32], t);
    assert_eq!(bad("").unwrap_err(), Error::BadName);
    assert_eq!(bad(&"x".repeat(65)).unwrap_err(), Error::BadName);
    let err = Node::new(
        Config { mtu: 10, ..Config::lan() },
        Identity { name: "a".into(), addr: addr(1), meta: vec![] },
        [0; 32],
        t,
    );
    assert_eq!(err.unwrap_err().to_string(), "invalid config field `mtu`: must be between 512 and 65000 bytes");
}

#[test]
fn leaving_alone_completes_at_once_and_stops_the_node() {
    let mut node = node_with(Config::lan());
    node.leave(Instant::ZERO).unwrap();
    assert_eq!(node.poll_event(), Some(Event::LeaveComplete { acknowledged: 0 }));
    assert!(node.has_left());
    assert_eq!(node.poll_timeout(), None);
    assert_eq!(node.broadcast(b"x", Instant::ZERO), Err(Error::Leaving));
    assert_eq!(node.join(&[addr(2)], Instant::ZERO), Err(Error::Leaving));
    assert_eq!(node.member("me").unwrap().status, Status::Left);
}

#[test]
fn join_retries_back_off_exponentially() {
    let mut node = node_with(Config::lan());
    node.join(&[addr(2)], Instant::ZERO).unwrap();
    let mut sends = Vec::new();
    let mut now = Instant::ZERO;
    while now < Instant::from_millis(60_000) {
        if drain(&mut node, now).iter().any(|(d, m)| *d == addr(2) && m[0].starts_with("Sync")) {
            sends.push(now);
        }
        now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
    }
    let gaps: Vec<Duration> = sends.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() >= 4, "{sends:?}");
    // Gap i is join_retry_min (1 s) doubled i times, ±25 % jitter, capped at join_retry_max (30 s).
    for (i, g) in gaps.iter().enumerate() {
        let nominal = Duration::from_secs(2u64.pow(i as u32).min(30));
        assert!(*g >= nominal.mul_f64(0.74) && *g <= nominal.mul_f64(1.26), "gap {i}: {g:?}");
    }
    assert!(!node.is_joined());
}

#[test]
fn packets_respect_the_mtu_and_anti_entropy_is_chunked() {
    let mut node = node_with(Config::lan());
    let t = Instant::from_millis(1);
    // Teach the node 300 members, then ask it for its state.
    teach_members(&mut node, 300, t);
    let request = Message::Sync { from: "member-0000", reply: false };
    node.handle_datagram(t, addr(1000), &encode_frame(b"", None, &body(&[request])).unwrap());
    let mut buf = [0u8; 1400];
    let mut chunks = 0;
    let mut names = std::collections::BTreeSet::new();
    while let Some(tx) = node.poll_transmit(t, &mut buf) {
        assert!(tx.size <= 1400);
        let mut plain = Vec::new();
        wire::decode_frame(&Keyring::new(), b"", &buf[..tx.size], &mut plain).unwrap();
        let mut msgs = Vec::new();
        decode_body(&plain, &mut msgs).unwrap();
        if let Some(Message::Sync { reply: true, .. }) = msgs.first() {
            chunks += 1;
            for m in &msgs {
                if let Message::Alive { name, .. } = m {
                    names.insert(name.to_string());
                }
            }
        }
    }
    assert!(chunks >= 5, "{chunks} chunks");
    assert_eq!(names.len(), 301, "every member and the node itself");
}

#[test]
fn full_state_replies_are_rate_limited() {
    let mut node = node_with(Config::lan());
    let t = Instant::from_millis(1);
    for i in 0..100u8 {
        let request = Message::Sync { from: "asker", reply: false };
        node.handle_datagram(
            t,
            SocketAddr::from(([10, 1, 0, i], 7946)),
            &encode_frame(b"", None, &body(&[request])).unwrap(),
        );
    }
    let answered = drain(&mut node, t).len();
    assert_eq!(answered, 50, "the burst allowance");
    assert_eq!(node.stats().sync_replies_refused, 50);
}

#[test]
fn a_multi_chunk_request_gets_one_answer() {
    let mut asker = node_with(Config::lan());
    let t = Instant::from_millis(1);
    teach_members(&mut asker, 300, t);
    // The asker joins a fresh node: its request spans several chunks.
    asker.join(&[SocketAddr::from(([10, 0, 0, 9], 9))], t).unwrap();
    let mut buf = [0u8; 1400];
    let mut request = Vec::new();
    while let Some(tx) = asker.poll_transmit(t, &mut buf) {
        request.push(buf[..tx.size].to_vec());
    }
    assert!(request.len() >= 5);
    let me = Identity { name: "seed".into(), addr: SocketAddr::from(([10, 0, 0, 9], 9)), meta: vec![] };
    let mut seed = Node::new(Config::lan(), me, [4; 32], t).unwrap();
    for datagram in &request {
        // Teach the seed the same members first, so its answer is as big as the request.
        let mut plain = Vec::new();
        wire::decode_frame(&Keyring::new(), b"", datagram, &mut plain).unwrap();
        let mut msgs = Vec::new();
        decode_body(&plain, &mut msgs).unwrap();
        let updates: Vec<u8> =
            msgs.iter().filter(|m| matches!(m, Message::Alive { .. })).flat_map(wire::encode_to_vec).collect();
        seed.handle_datagram(t, addr(3), &encode_frame(b"", None, &updates).unwrap());
    }
    drain(&mut seed, t);
    for datagram in &request {
        seed.handle_datagram(t, addr(1), datagram);
    }
    let answers = drain(&mut seed, t).iter().filter(|(_, m)| m[0].starts_with("Sync")).count();
    // One answer of about the request's size; one answer per chunk would be ~request.len()².
    assert!(answers.abs_diff(request.len()) <= 1, "{answers} answer chunks for {} request chunks", request.len());
}

#[test]
fn the_largest_broadcast_is_delivered() {
    let config = Config { mtu: 20_000, max_inbound_packet: 20_000, user_broadcast_budget: 16_383, ..Config::lan() };
    let mut a = node_with(config.clone());
    let b_id = Identity { name: "b".into(), addr: addr(2), meta: vec![] };
    let mut b = Node::new(config, b_id, [5; 32], Instant::ZERO).unwrap();
    a.join(&[addr(2)], Instant::ZERO).unwrap();
    let payload = vec![7u8; a.max_broadcast_len()];
    assert!(payload.len() > 16_000);
    a.broadcast(&payload, Instant::ZERO).unwrap();
    let mut buf = vec![0u8; 20_000];
    let mut delivered = Vec::new();
    for step in 0..50u64 {
        let now = Instant::from_millis(step * 100);
        a.handle_timeout(now);
        b.handle_timeout(now);
        while let Some(tx) = a.poll_transmit(now, &mut buf) {
            b.handle_datagram(now, addr(1), &buf[..tx.size]);
        }
        while let Some(tx) = b.poll_transmit(now, &mut buf) {
            a.handle_datagram(now, addr(2), &buf[..tx.size]);
        }
        delivered.extend(std::iter::from_fn(|| b.poll_event()).filter_map(|e| match e {
            Event::UserBroadcast { origin, payload } => Some((origin, payload)),
            _ => None,
        }));
    }
    assert_eq!(b.stats().dropped_malformed, 0);
    assert_eq!(delivered.len(), 1, "delivered exactly once");
    assert!(delivered[0].0 == "me" && delivered[0].1 == payload);
}

/// A node named `name` at `addr(port)` that knows nobody.
fn named(name: &str, port: u16, seed: u8) -> Node {
    let me = Identity { name: name.into(), addr: addr(port), meta: vec![] };
    Node::new(Config::lan(), me, [seed; 32], Instant::ZERO).unwrap()
}

#[test]
fn equal_views_have_equal_digests_whatever_the_order_they_were_learnt_in() {
    let t = Instant::from_millis(1);
    let updates = [
        alive("x", 20, 0),
        Message::Suspect { name: "x", incarnation: 0, from: "y" },
        alive("y", 21, 3),
        Message::Alive { name: "z", incarnation: 1, addr: Addr::from(addr(22)), meta: b"role=db" },
        Message::Left { name: "z", incarnation: 1 },
        alive("x", 20, 1),
    ];
    let mut a = named("a", 10, 1);
    let mut b = named("a", 10, 2);
    for m in &updates {
        a.handle_datagram(t, addr(30), &encode_frame(b"", None, &body(&[*m])).unwrap());
    }
    for m in updates.iter().rev() {
        b.handle_datagram(t, addr(31), &encode_frame(b"", None, &body(&[*m])).unwrap());
    }
    assert_eq!(a.state_digest(), b.state_digest());
    assert_eq!(a.state_digest().1, 4, "three members and the node itself");
    // Any difference shows: one more update, or the node's own metadata.
    let before = a.state_digest();
    a.handle_datagram(t, addr(30), &encode_frame(b"", None, &body(&[alive("y", 21, 4)])).unwrap());
    assert_ne!(a.state_digest(), before);
    b.set_meta(b"new", t).unwrap();
    assert_ne!(b.state_digest().0, before.0);
}

#[test]
fn an_equal_digest_costs_nothing_and_a_different_one_starts_a_full_exchange() {
    let t = Instant::from_millis(1);
    let mut node = named("a", 10, 1);
    teach_members(&mut node, 50, t);
    let (digest, members) = node.state_digest();
    // A peer with the same view: no answer at all.
    let same = Message::Digest { from: "member-0001", digest, members };
    node.handle_datagram(t, addr(1001), &encode_frame(b"", None, &body(&[same])).unwrap());
    assert!(drain(&mut node, t).is_empty());
    assert_eq!(node.stats().syncs_in_sync, 1);
    // A peer whose view differs gets our whole state, as a request for its own.
    let other = Message::Digest { from: "member-0001", digest: digest ^ 1, members };
    node.handle_datagram(t, addr(1001), &encode_frame(b"", None, &body(&[other])).unwrap());
    let out = drain(&mut node, t);
    assert!(!out.is_empty() && out.iter().all(|(dst, _)| *dst == addr(1001)));
    assert_eq!(out[0].1[0], format!("{:?}", Message::Sync { from: "a", reply: false }));
    assert!(out[1..].iter().all(|(_, m)| m[0] == format!("{:?}", Message::Sync { from: "a", reply: true })));
    let alive_claims = out.iter().flat_map(|(_, m)| m).filter(|m| m.starts_with("Alive")).count();
    assert_eq!(alive_claims, 51);
}

#[test]
fn the_periodic_exchange_sends_a_digest_and_a_quiet_node_skips_gossip_ticks() {
    let config = Config::lan();
    let mut node = named("a", 10, 1);
    teach_members(&mut node, 5, Instant::ZERO);
    // Let the gossip of the five new members run out.
    let mut now = Instant::ZERO;
    while node.gossip_queue_len() > 0 {
        now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
        drain(&mut node, now);
        assert!(now < Instant::from_millis(30_000), "gossip never ran out");
    }
    // Quiet: the node wakes for probes and anti-entropy, never for a gossip tick.
    let mut wakes = 0;
    let mut digests = 0;
    let until = now + config.push_pull_interval * 2;
    while now < until {
        now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
        wakes += 1;
        for (_, msgs) in drain(&mut node, now) {
            digests += msgs.iter().filter(|m| m.starts_with("Digest")).count();
            assert!(!msgs.iter().any(|m| m.starts_with("Sync")), "no full state while views may agree");
        }
    }
    let span = config.push_pull_interval * 2;
    let probes = span.as_millis() / config.probe_interval.as_millis();
    assert!(wakes <= probes as usize * 2 + 8, "{wakes} wake-ups in {span:?}: gossip ticks were not skipped");
    assert!(digests >= 1, "no anti-entropy digest sent");
}

/// A node decodes up to four messages of a datagram onto its stack and the rest into a vector:
/// every message of a packet is applied, in order, on both sides of that boundary.
#[test]
fn every_message_of_a_packet_is_applied_whatever_its_count() {
    for count in [1u16, 3, 4, 5, 6, 9, 46] {
        let mut node = node_with(Config::lan());
        let names: Vec<String> = (0..count).map(|i| format!("member-{i:04}")).collect();
        let mut msgs: Vec<Message<'_>> = names.iter().zip(0..).map(|(n, i)| alive(n, 1000 + i, 0)).collect();
        // The last message overrides the first: order matters.
        msgs.push(alive(&names[0], 1000, 7));
        node.handle_datagram(Instant::ZERO, addr(2), &encode_frame(b"", None, &body(&msgs)).unwrap());
        assert_eq!(node.live_members(), usize::from(count) + 1, "{count} messages");
        assert_eq!(node.member("member-0000").map(|m| m.incarnation), Some(7), "{count} messages");
        assert_eq!(node.stats().dropped_malformed, 0);
    }
}

/// The cache hints of feature `prefetch` (the simulator's).
#[cfg(feature = "prefetch")]
#[test]
fn prefetch_hints_change_nothing_in_any_state() {
    let prefetch_all = |node: &Node| {
        node.prefetch();
        node.prefetch_input(Some(addr(7).ip()));
        node.prefetch_input(Some("::1".parse().unwrap()));
        node.prefetch_input(None);
    };
    let mut node = node_with(Config::lan());
    // Alone: nothing to probe, an empty probe order.
    let (before, stats) = (snapshot(&node), node.stats());
    prefetch_all(&node);
    assert_eq!((snapshot(&node), node.stats()), (before, stats));
    // With members, through a whole probe round and past its end (the cursor then points
    // beyond the probe order until the next probe reshuffles it).
    teach_members(&mut node, 30, Instant::ZERO);
    let mut now = Instant::ZERO;
    for _ in 0..40 {
        let (before, stats, wake) = (snapshot(&node), node.stats(), node.poll_timeout());
        prefetch_all(&node);
        assert_eq!((snapshot(&node), node.stats(), node.poll_timeout()), (before, stats, wake));
        now = node.poll_timeout().unwrap().max(now);
        node.handle_timeout(now);
        drain(&mut node, now);
    }
}

/// A gossip packet's members are looked up in one pass before its updates are applied (a
/// prefetching optimisation). Updates that add members, or that follow an update about the
/// same member in the packet, must still land exactly as they would one per datagram.
#[test]
fn a_gossip_packet_applies_like_its_updates_one_by_one() {
    let msgs = [
        alive("new-1", 3001, 0),
        Message::Suspect { name: "new-1", incarnation: 0, from: "member-0003" },
        Message::Suspect { name: "member-0001", incarnation: 0, from: "member-0002" },
        alive("member-0002", 1002, 1),
        Message::Left { name: "member-0004", incarnation: 0 },
        Message::Suspect { name: "member-0001", incarnation: 0, from: "member-0005" },
        Message::Dead { name: "member-0006", incarnation: 0, from: "member-0007" },
        alive("new-2", 3002, 0),
        Message::Suspect { name: "new-2", incarnation: 0, from: "member-0008" },
        Message::Suspect { name: "me", incarnation: 0, from: "member-0009" },
    ];
    let t = Instant::from_millis(5);
    let taught = || {
        let mut node = node_with(Config::lan());
        teach_members(&mut node, 12, Instant::ZERO);
        while node.poll_event().is_some() {}
        node
    };
    let (mut packet, mut single) = (taught(), taught());
    packet.handle_datagram(t, addr(2), &encode_frame(b"", None, &body(&msgs)).unwrap());
    for (i, m) in msgs.iter().enumerate() {
        // From different hosts, so the per-host rate limit never applies.
        let from = SocketAddr::from(([10, 0, 1, u8::try_from(i).unwrap()], 2));
        single.handle_datagram(t, from, &encode_frame(b"", None, &body(std::slice::from_ref(m))).unwrap());
    }
    let events = |n: &mut Node| std::iter::from_fn(|| n.poll_event()).collect::<Vec<_>>();
    let (packet_events, single_events) = (events(&mut packet), events(&mut single));
    assert!(packet_events.len() >= 6, "{packet_events:?}");
    assert_eq!(packet_events, single_events);
    assert_eq!(snapshot(&packet), snapshot(&single));
    assert_eq!(packet.member("new-2").map(|m| m.status), Some(Status::Suspect));
    assert_eq!(packet.member("member-0004").map(|m| m.status), Some(Status::Left));
    assert_eq!(packet.incarnation(), 1, "refuted the suspicion of itself");
}

/// Whatever one datagram says that the node knows better is answered by one datagram to its
/// sender, in the order the datagram said it, without piggybacked gossip.
#[test]
fn stale_updates_of_one_datagram_get_one_answer_without_gossip() {
    let mut node = node_with(Config::lan());
    let t = Instant::from_millis(5);
    teach_members(&mut node, 12, Instant::ZERO);
    let news = [
        alive("member-0001", 1001, 2),
        Message::Left { name: "member-0002", incarnation: 1 },
        Message::Suspect { name: "me", incarnation: 0, from: "member-0005" },
    ];
    node.handle_datagram(t, addr(2), &encode_frame(b"", None, &body(&news)).unwrap());
    drain(&mut node, t);
    assert_eq!(node.incarnation(), 1);
    assert!(node.gossip_queue_len() > 0, "there is gossip a piggyback would carry");
    let repairs = node.stats().stale_repairs;

    let stale = [
        Message::Suspect { name: "member-0001", incarnation: 1, from: "member-0006" },
        Message::Dead { name: "member-0002", incarnation: 0, from: "member-0006" },
        Message::Suspect { name: "member-0003", incarnation: 0, from: "member-0006" },
        Message::Suspect { name: "me", incarnation: 0, from: "member-0006" },
    ];
    node.handle_datagram(t, addr(8), &encode_frame(b"", None, &body(&stale)).unwrap());
    let answers: Vec<_> = drain(&mut node, t).into_iter().filter(|(d, _)| *d == addr(8)).collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let msgs = &answers[0].1;
    assert_eq!(msgs.len(), 3, "the three corrections and nothing else: {msgs:?}");
    assert!(msgs[0].starts_with("Alive { name: \"member-0001\", incarnation: 2"), "{msgs:?}");
    assert!(msgs[1].starts_with("Left { name: \"member-0002\", incarnation: 1"), "{msgs:?}");
    assert!(msgs[2].starts_with("Alive { name: \"me\", incarnation: 1"), "{msgs:?}");
    assert_eq!(node.stats().stale_repairs - repairs, 2, "the suspicion of member-0003 was news");
    assert_eq!(node.member("member-0003").unwrap().status, Status::Suspect);
}

/// Runs `node` (which knows member-0000 … member-0011 and suspects member-0001 since `t0`)
/// until it declares member-0001 failed or `until`. Every ping is acked (so the node's own
/// health stays perfect), except that `answer_check(round)` decides whether the suspect
/// answers the ping of final-check round `round` (0, 1, 2) with a refutation. Returns the
/// times of the final-check rounds (counted by their notices to other members) and of the
/// failure, if any.
fn run_final_check(
    node: &mut Node,
    t0: Instant,
    until: Instant,
    answer_check: impl Fn(usize) -> bool,
) -> (Vec<Instant>, Option<Instant>) {
    let suspect = addr(1001);
    let mut rounds: Vec<Instant> = Vec::new();
    loop {
        let now = node.poll_timeout().unwrap();
        if now > until {
            return (rounds, None);
        }
        node.handle_timeout(now);
        let out = drain(node, now);
        let mut notices = 0;
        let mut replies: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        for (dest, msgs) in &out {
            // (Not the gossip of the suspicion, which ends within a second.)
            let notice = msgs.len() == 1 && msgs[0].starts_with("Suspect { name: \"member-0001\"");
            if *dest != suspect && notice && now - t0 > Duration::from_secs(1) {
                notices += 1;
            }
            if let Some(seq) = msgs[0].strip_prefix("Ping { seq: ").and_then(|s| s.split(',').next()) {
                let seq: u32 = seq.parse().unwrap();
                let mut reply = vec![Message::Ack { seq }];
                let is_check = msgs.len() == 2 && msgs[1].starts_with("Suspect { name: \"member-0001\"");
                if *dest == suspect && is_check && answer_check(rounds.len()) {
                    reply.push(alive("member-0001", 1001, 1));
                }
                replies.push((*dest, body(&reply)));
            }
        }
        if notices > 0 {
            assert_eq!(notices, 2, "each round asks two other members: {out:?}");
            rounds.push(now);
        }
        for (from, reply) in replies {
            node.handle_datagram(now, from, &encode_frame(b"", None, &reply).unwrap());
        }
        drain(node, now);
        while let Some(e) = node.poll_event() {
            if matches!(&e, Event::MemberFailed(m) if m.name == "member-0001") {
                return (rounds, Some(now));
            }
        }
    }
}

fn suspecting_node(t0: Instant) -> Node {
    let mut node = node_with(Config::lan());
    teach_members(&mut node, 12, Instant::ZERO);
    let suspicion = Message::Suspect { name: "member-0001", incarnation: 0, from: "member-0002" };
    node.handle_datagram(t0, addr(2), &encode_frame(b"", None, &body(&[suspicion])).unwrap());
    drain(&mut node, t0);
    while node.poll_event().is_some() {}
    assert_eq!(node.member("member-0001").unwrap().status, Status::Suspect);
    node
}

/// The final check asks three times, one probe timeout apart, and the suspect is declared
/// failed one probe timeout after its suspicion timeout, as with one round; an answer to the
/// last round still saves it.
#[test]
fn the_final_check_asks_three_times_and_costs_one_probe_timeout() {
    let config = Config::lan();
    let t0 = Instant::from_millis(100);
    let until = t0 + Duration::from_secs(60);
    // 12 members and this node; no confirmations, so the timeout is the maximum, in whole ms.
    let min = config.probe_interval.mul_f64(f64::from(config.suspicion_mult) * 13f64.log10());
    let max = min * config.suspicion_max_mult;
    let max = Duration::from_millis(u64::try_from(max.as_millis()).unwrap());
    let pt = config.probe_timeout;

    let (rounds, failed) = run_final_check(&mut suspecting_node(t0), t0, until, |_| false);
    assert_eq!(rounds.len(), 3, "{rounds:?}");
    assert_eq!(rounds[1] - rounds[0], pt);
    assert_eq!(rounds[2] - rounds[1], pt);
    let failed = failed.expect("declared failed");
    assert_eq!(failed - rounds[2], pt);
    assert_eq!(failed - t0, max + pt, "the same detection time as a single round");

    let mut node = suspecting_node(t0);
    let (rounds, failed) = run_final_check(&mut node, t0, until, |round| round == 2);
    assert_eq!(rounds.len(), 3, "{rounds:?}");
    assert_eq!(failed, None, "the answer to the last round refuted the suspicion");
    assert_eq!(node.member("member-0001").unwrap().status, Status::Alive);
}

/// Every plaintext datagram the node wants to send now, with its decoded messages' owned
/// fields that the probe tests look at: `(destination, kind, seq)`.
fn probe_traffic(node: &mut Node, now: Instant) -> Vec<(SocketAddr, &'static str, u32)> {
    let mut out = Vec::new();
    for (to, plain) in bodies(node, now) {
        let mut msgs = Vec::new();
        decode_body(&plain, &mut msgs).unwrap();
        for m in msgs {
            let (kind, seq) = match m {
                Message::Ping { seq, .. } => ("ping", seq),
                Message::PingReq { seq, .. } => ("ping-req", seq),
                Message::Ack { seq } => ("ack", seq),
                Message::Nack { seq } => ("nack", seq),
                Message::Suspect { incarnation, .. } => ("suspect", incarnation),
                _ => continue,
            };
            out.push((to, kind, seq));
        }
    }
    out
}

fn ack(seq: u32) -> Vec<u8> {
    encode_frame(b"", None, &body(&[Message::Ack { seq }])).unwrap()
}

/// Runs the node's timers until its first probe's ping; returns when, to whom and its seq.
fn first_probe(node: &mut Node) -> (Instant, SocketAddr, u32) {
    for _ in 0..50 {
        let now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
        if let Some(&(to, _, seq)) = probe_traffic(node, now).iter().find(|(_, kind, _)| *kind == "ping") {
            return (now, to, seq);
        }
    }
    panic!("no probe started");
}

/// Runs the node's timers up to `until`, returning what it sent.
fn run_until(node: &mut Node, until: Instant) -> Vec<(Instant, SocketAddr, &'static str, u32)> {
    let mut sent = Vec::new();
    while let Some(now) = node.poll_timeout().filter(|&t| t <= until) {
        node.handle_timeout(now);
        sent.extend(probe_traffic(node, now).into_iter().map(|(to, kind, seq)| (now, to, kind, seq)));
    }
    sent
}

/// One lost datagram does not fail a probe: when the indirect probes go out, the direct ping
/// goes again, and an ack to it (the same seq) ends the probe. Without any ack the probe
/// still fails at the end of its period, as before.
#[test]
fn a_probe_pings_again_with_its_indirect_probes_and_either_ack_saves_the_target() {
    let config = Config::lan();
    for answer in [true, false] {
        let mut node = node_with(config.clone());
        teach_members(&mut node, 12, Instant::ZERO);
        while node.poll_event().is_some() {}
        let (t1, target, seq) = first_probe(&mut node);
        let sent = run_until(&mut node, t1 + config.probe_timeout);
        let at_timeout: Vec<_> = sent.iter().filter(|(t, ..)| *t == t1 + config.probe_timeout).collect();
        assert!(at_timeout.contains(&&(t1 + config.probe_timeout, target, "ping", seq)), "{sent:?}");
        let reqs = at_timeout.iter().filter(|(_, to, kind, s)| *kind == "ping-req" && *s == seq && *to != target);
        assert_eq!(reqs.count(), config.indirect_checks as usize, "{sent:?}");
        assert_eq!(node.stats().pings_resent, 1);

        let t2 = t1 + config.probe_timeout + Duration::from_millis(100);
        if answer {
            node.handle_datagram(t2, target, &ack(seq));
        }
        run_until(&mut node, t1 + config.probe_interval + Duration::from_millis(1));
        let suspected = node.members().any(|m| m.to_member().status == Status::Suspect);
        assert_eq!(node.stats().probes_failed, u64::from(!answer));
        assert_eq!(suspected, !answer, "answered: {answer}");
    }
}

/// A probe that fails tells its target at once (the buddy system), so a live target refutes
/// within a round trip instead of once gossip reaches it; the refutation ends the suspicion.
/// Without the buddy system nothing is sent to the target.
#[test]
fn a_failed_probe_tells_its_target_at_once_and_the_answer_ends_the_suspicion() {
    for buddy in [true, false] {
        let mut config = Config::lan();
        config.lifeguard.buddy = buddy;
        let mut node = node_with(config.clone());
        teach_members(&mut node, 12, Instant::ZERO);
        while node.poll_event().is_some() {}
        let (t1, target, _) = first_probe(&mut node);
        let end = t1 + config.probe_interval;
        let sent = run_until(&mut node, end);
        assert_eq!(node.stats().probes_failed, 1);
        let notices: Vec<_> = sent.iter().filter(|(_, to, kind, _)| *to == target && *kind == "suspect").collect();
        if !buddy {
            assert!(notices.is_empty(), "{sent:?}");
            continue;
        }
        assert_eq!(notices, vec![&(end, target, "suspect", 0)], "{sent:?}");
        let name = node.members().find(|m| m.to_member().status == Status::Suspect).unwrap().to_member().name;

        let refutation = body(&[alive(&name, target.port(), 1)]);
        node.handle_datagram(end + Duration::from_millis(2), target, &encode_frame(b"", None, &refutation).unwrap());
        assert_eq!(node.member(&name).unwrap().status, Status::Alive);
        let events: Vec<Event> = core::iter::from_fn(|| node.poll_event()).collect();
        assert!(events.iter().any(|e| matches!(e, Event::MemberAlive(m) if m.name == name)), "{events:?}");
    }
}

/// A member relaying an indirect probe pings the target again halfway to the nack it owes
/// the requester; an ack to either ping is passed on, and without one the nack is sent on
/// time after exactly one second ping.
#[test]
fn a_relayed_probe_pings_again_halfway_to_its_nack() {
    let config = Config::lan();
    let wait = (config.probe_interval - config.probe_timeout).mul_f64(0.8);
    for answer in [true, false] {
        let mut node = node_with(config.clone());
        let t = Instant::from_millis(3);
        teach_members(&mut node, 12, t);
        let (requester, target) = (addr(1002), addr(1005));
        let req = Message::PingReq { seq: 77, target: "member-0005", addr: Addr::from(target), nack: true };
        node.handle_datagram(t, requester, &encode_frame(b"", None, &body(&[req])).unwrap());
        let first = probe_traffic(&mut node, t);
        let &(_, _, local) = first.iter().find(|(to, kind, _)| *to == target && *kind == "ping").unwrap();

        let sent = run_until(&mut node, t + wait / 2);
        assert!(sent.contains(&(t + wait / 2, target, "ping", local)), "{sent:?}");
        assert_eq!(node.stats().pings_resent, 1);
        let t2 = t + wait / 2 + Duration::from_millis(50);
        let mut passed_on = Vec::new();
        if answer {
            node.handle_datagram(t2, target, &ack(local));
            passed_on = probe_traffic(&mut node, t2);
        }
        let later = run_until(&mut node, t + wait + Duration::from_millis(1));
        let to_requester: Vec<_> = passed_on
            .iter()
            .map(|&(to, kind, seq)| (to, kind, seq))
            .chain(later.iter().map(|&(_, to, kind, seq)| (to, kind, seq)))
            .filter(|(to, ..)| *to == requester)
            .collect();
        let expected = if answer { "ack" } else { "nack" };
        assert_eq!(to_requester, vec![(requester, expected, 77)], "answered: {answer}");
        assert_eq!(node.stats().pings_resent, 1, "one second ping only");
    }
}

/// Plaintext frames end with a CRC-32: every single-bit corruption of a real gossip packet is
/// dropped, counted under a reason, and changes nothing (without it, bit-flipped copies of
/// real packets once created fake members on a plaintext agent).
#[test]
fn every_bit_flip_of_a_plaintext_packet_is_dropped_and_counted() {
    let mut node = node_with(Config::lan());
    let t = Instant::from_millis(10);
    teach_members(&mut node, 3, t);
    while node.poll_event().is_some() {}
    let before = snapshot(&node);
    let stats_before = *node.stats();
    let msgs = [
        alive("new-a", 3000, 1),
        alive("new-b", 3001, 2),
        Message::Suspect { name: "member-0001", incarnation: 0, from: "x" },
    ];
    let frame = encode_frame(b"", None, &body(&msgs)).unwrap();
    let flips = frame.len() * 8;
    for bit in 0..flips {
        let mut bad = frame.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        node.handle_datagram(t, addr(2), &bad);
        assert_eq!(snapshot(&node), before, "bit {bit} changed the state");
        assert!(node.poll_event().is_none(), "bit {bit} raised an event");
    }
    let s = node.stats();
    let dropped = |s: &Stats| s.dropped_checksum + s.dropped_malformed + s.dropped_version + s.dropped_label;
    assert_eq!(dropped(s) - dropped(&stats_before), flips as u64, "{s:?}");
    assert!(s.dropped_checksum - stats_before.dropped_checksum > flips as u64 / 2, "most are checksum failures");
    // The intact frame is applied.
    node.handle_datagram(t, addr(2), &frame);
    assert!(node.member("new-a").is_some());
}
