//! Encryption as the protocol sees it: turning it on in a running cluster (the migration of
//! `Config::accept_plaintext` and `send_plaintext`), and a flood that spoofs a member's source
//! address. Seeded, no sleeps.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use core::net::SocketAddr;
use core::time::Duration;

use rumor_core::wire::{Message, encode_frame, encode_to_vec};
use rumor_core::{Config, Event, Key, Keyring, KeyringError, Status};
use rumor_sim::Cluster;

mod common;
use common::{SEC, cluster, converge};

/// Suspicions and failures any node reported, as "viewer: event member".
fn trouble(c: &Cluster, ids: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for &v in ids {
        for (_, e) in &c.node(v).events {
            if let Event::MemberSuspect(m) | Event::MemberFailed(m) = e {
                out.push(format!("n{v}: {} {}", e.kind(), m.name));
            }
        }
    }
    out
}

/// The three rolling steps of docs/agent.md, one node restarted at a time: a plaintext
/// cluster ends encrypted with no suspicion, no failure and no datagram refused on the way,
/// and then refuses plaintext.
#[test]
fn encryption_is_turned_on_in_three_rolling_steps_without_suspicion() {
    let (mut c, ids) = cluster(31, 8, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    let key = Key::from_bytes([7; 32]);
    let step1 = Config {
        keyring: Keyring::with_primary(key.clone()),
        accept_plaintext: true,
        send_plaintext: true,
        ..Config::lan()
    };
    let step2 = Config { send_plaintext: false, ..step1.clone() };
    let step3 = Config { accept_plaintext: false, ..step2.clone() };
    let mut refused = 0;
    for (step, config) in [step1, step2, step3].into_iter().enumerate() {
        for &i in &ids {
            // What the node counted before it restarts (a restart starts from zero).
            let s = c.node(i).node.stats();
            refused += s.dropped_auth + s.dropped_malformed + s.dropped_rate_limited;
            c.restart_with(i, config.clone());
            c.run_for(2 * SEC);
        }
        c.run_for(5 * SEC);
        assert!(c.all_alive(&ids) && c.converged(&ids), "after step {}", step + 1);
    }
    c.run_for(20 * SEC);
    for &i in &ids {
        let s = c.node(i).node.stats();
        refused += s.dropped_auth + s.dropped_malformed + s.dropped_rate_limited;
    }
    assert_eq!(trouble(&c, &ids), Vec::<String>::new());
    assert_eq!(refused, 0, "no datagram was refused during the migration");
    assert!(ids.iter().all(|&i| c.node(i).node.keyring().is_enabled() && !c.node(i).node.config().accept_plaintext));

    // Encrypted now: a plaintext ping is refused as unauthenticated.
    let before = c.node(ids[0]).node.stats().dropped_auth;
    let ping = encode_to_vec(&Message::Ping { seq: 1, target: "n0" });
    c.inject(ids[0], "10.9.9.9:7946".parse().unwrap(), encode_frame(b"", None, &ping).unwrap());
    c.run_for(SEC);
    assert_eq!(c.node(ids[0]).node.stats().dropped_auth, before + 1);
}

/// Skipping step 1 (a node sealing while the others cannot open) is what the migration
/// avoids: the sealed node is cut off and suspected.
#[test]
fn sealing_before_every_node_holds_the_key_partitions() {
    let (mut c, ids) = cluster(32, 4, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    let sealed = Config { keyring: Keyring::with_primary(Key::from_bytes([7; 32])), ..Config::lan() };
    c.restart_with(ids[3], sealed);
    c.run_for(30 * SEC);
    assert!(c.node(ids[0]).node.stats().dropped_auth > 0);
    assert_ne!(c.status(ids[0], "n3"), Some(Status::Alive), "{:?}", trouble(&c, &ids));
}

/// A key is never installed on a node that does not encrypt (it would seal at once and cut
/// the node off), and a keyring holds at most 16 keys.
#[test]
fn key_operations_need_encryption_and_room() {
    let (mut c, ids) = cluster(33, 2, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    let node = &mut c.node_mut(ids[0]).node;
    assert_eq!(node.install_key(Key::from_bytes([1; 32])), Err(KeyringError::NotEncrypted));
    assert!(!node.keyring().is_enabled());
    let config = Config { keyring: Keyring::with_primary(Key::from_bytes([0; 32])), ..Config::lan() };
    let (mut c, ids) = cluster(34, 2, config);
    converge(&mut c, &ids, 30 * SEC);
    let node = &mut c.node_mut(ids[0]).node;
    for b in 1..16 {
        node.install_key(Key::from_bytes([b; 32])).unwrap();
    }
    node.install_key(Key::from_bytes([1; 32])).expect("already installed: nothing to do");
    assert_eq!(node.install_key(Key::from_bytes([16; 32])), Err(KeyringError::Full));
    assert_eq!(node.keyring().keys().count(), 16);
}

/// A flood of unauthenticated datagrams from a member's own source address (spoofed: same
/// IP, another port) at 4 000 a second, 8 times the per-source rate limit, for 30 s. The
/// member's own sealed frames come from a nonce stream that authenticated before, so they
/// get through on the stream's own allowance: neither node ever suspects the other. Two
/// nodes, so that no indirect probe can hide a lost ack.
#[test]
fn a_flood_spoofing_a_members_address_does_not_cost_it_its_liveness() {
    let config = Config { keyring: Keyring::with_primary(Key::from_bytes([9; 32])), ..Config::lan() };
    let (mut c, ids) = cluster(35, 2, config);
    converge(&mut c, &ids, 30 * SEC);
    let (victim, member) = (ids[0], ids[1]);
    let spoofed = SocketAddr::new(Cluster::addr_for(member).ip(), 40_000);
    let wrong_key = Key::from_bytes([10; 32]);
    let mut rng = 0x5eedu64;
    let mut forged = 0u64;
    for ms in 0..30_000u64 {
        for k in 0..4u64 {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let bytes = if k % 2 == 0 {
                rng.to_le_bytes().repeat(12)
            } else {
                // Sealed with another key on a fresh stream: costs a decryption if let in.
                let mut nonce = [0u8; 12];
                nonce[..8].copy_from_slice(&rng.to_be_bytes());
                nonce[8..].copy_from_slice(&(ms as u32).to_be_bytes());
                let ping = encode_to_vec(&Message::Ping { seq: 1, target: "n0" });
                encode_frame(b"", Some((&wrong_key, nonce)), &ping).unwrap()
            };
            c.inject(victim, spoofed, bytes);
            forged += 1;
        }
        c.run_for(Duration::from_millis(1));
    }
    c.run_for(10 * SEC);
    let s = c.node(victim).node.stats();
    assert!(s.dropped_rate_limited > forged / 2, "the flood was mostly rate-limited: {s:?}");
    assert_eq!(trouble(&c, &ids), Vec::<String>::new(), "{s:?}");
    assert!(c.all_alive(&ids));
}
