//! Tests of the node's internals (its contract is tested in `core/tests/node.rs`).
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use crate::wire::{self, Message};
use crate::{Config, Event, Identity, Instant, Node};

fn datagram(msgs: &[Message<'_>]) -> Vec<u8> {
    let body: Vec<u8> = msgs.iter().flat_map(wire::encode_to_vec).collect();
    wire::encode_frame(b"", None, &body).unwrap_or_default()
}

/// Suspicions raised, confirmed and refuted over and over leave stale timer entries; the
/// heap is compacted so they never outnumber the running suspicions by much, and a
/// suspicion that is still running still times out.
#[test]
fn stale_suspicion_timers_are_compacted() {
    let addr = |port: u16| SocketAddr::from(([10, 0, 0, 1], port));
    let me = Identity { name: "me".into(), addr: addr(1), meta: vec![] };
    let mut node = Node::new(Config::lan(), me, [5; 32], Instant::ZERO).unwrap_or_else(|_| unreachable!());
    let names: Vec<String> = (0..50).map(|i| alloc::format!("m{i:02}")).collect();
    let port = |i: usize| 1000 + u16::try_from(i).unwrap_or(0);
    for (i, name) in names.iter().enumerate() {
        let alive = Message::Alive { name, incarnation: 0, addr: addr(port(i)).into(), meta: b"" };
        node.handle_datagram(Instant::ZERO, addr(2), &datagram(&[alive]));
    }
    let start = Instant::from_millis(10);
    let long = Message::Suspect { name: "m49", incarnation: 0, from: "m48" };
    node.handle_datagram(start, addr(3), &datagram(&[long]));
    let mut incarnation = [0u32; 49];
    for round in 0..400usize {
        let now = start + Duration::from_millis(5 * round as u64);
        let k = round % 49;
        let (name, inc) = (names[k].as_str(), incarnation[k]);
        let mut msgs = vec![Message::Suspect { name, incarnation: inc, from: "m48" }];
        for by in ["m45", "m46", "m47"] {
            msgs.push(Message::Suspect { name, incarnation: inc, from: by });
        }
        node.handle_datagram(now, addr(4), &datagram(&msgs));
        let refutation = Message::Alive { name, incarnation: inc + 1, addr: addr(port(k)).into(), meta: b"" };
        node.handle_datagram(now, addr(port(k)), &datagram(&[refutation]));
        incarnation[k] = inc + 1;
        let (timers, running) = node.suspicions.sizes();
        assert!(timers <= 2 * running + 16, "{timers} timers for {running} suspicions");
    }
    assert_eq!(node.suspicions.sizes().1, 1, "only m49's suspicion is still running");
    let mut failed = false;
    while let Some(now) = node.poll_timeout().filter(|&t| t < start + Duration::from_secs(120)) {
        node.handle_timeout(now);
        while node.poll_transmit(now, &mut [0u8; 1400]).is_some() {}
        while let Some(e) = node.poll_event() {
            failed |= matches!(&e, Event::MemberFailed(m) if m.name == "m49");
        }
        if failed {
            break;
        }
    }
    assert!(failed, "the running suspicion still timed out");
}
