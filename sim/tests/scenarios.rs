//! Protocol behaviour, scripted on the virtual-time cluster. Every test is seeded and runs
//! without sleeping; a failure replays exactly.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use rumor_core::{Config, Event, Key, Keyring, Lifeguard, Status};
use rumor_sim::{Cluster, Link};

mod common;
use common::{SEC, cluster, converge};

fn events_about<'a>(c: &'a Cluster, viewer: usize, name: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    c.node(viewer).events.iter().map(|(_, e)| e).filter(move |e| match e {
        Event::MemberJoined(m)
        | Event::MemberUpdated(m)
        | Event::MemberSuspect(m)
        | Event::MemberAlive(m)
        | Event::MemberFailed(m)
        | Event::MemberLeft(m) => m.name == name,
        _ => false,
    })
}

fn failed_events(c: &Cluster, viewer: usize) -> Vec<String> {
    c.node(viewer)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::MemberFailed(m) => Some(m.name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn fifty_nodes_join_and_converge() {
    let (mut c, ids) = cluster(1, 50, Config::lan());
    let took = converge(&mut c, &ids, 30 * SEC);
    assert!(took < 10 * SEC, "took {took:?}");
    for &i in &ids {
        assert!(c.node(i).node.is_joined());
        assert_eq!(c.node(i).node.live_members(), 50);
    }
    // Nobody was ever suspected in a loss-free network.
    for &i in &ids {
        assert_eq!(c.node(i).node.stats().suspicions_raised, 0, "node {i}");
    }
}

#[test]
fn a_killed_node_is_failed_everywhere_and_nobody_else() {
    let (mut c, ids) = cluster(2, 30, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    let victim = ids[7];
    c.kill(victim);
    let live: Vec<usize> = ids.iter().copied().filter(|&i| i != victim).collect();
    let detected = c
        .run_until_true(60 * SEC, SEC / 10, |c| live.iter().all(|&v| c.status(v, "n7") == Some(Status::Dead)))
        .expect("detected everywhere");
    c.run_for(10 * SEC);
    for &v in &live {
        assert_eq!(failed_events(&c, v), vec!["n7".to_string()], "viewer {v} failed exactly n7");
        assert_eq!(c.status(v, "n7"), Some(Status::Dead));
    }
    assert!(c.converged(&live));
    let took = detected - c.now() + 10 * SEC;
    assert!(took < 30 * SEC, "detection took {took:?}");
}

#[test]
fn a_suspect_that_is_alive_refutes() {
    let (mut c, ids) = cluster(3, 10, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    // n4 stops answering long enough to be suspected, then resumes.
    c.stall(ids[4], 3 * SEC);
    c.run_for(30 * SEC);
    let suspected = ids.iter().any(|&v| events_about(&c, v, "n4").any(|e| matches!(e, Event::MemberSuspect(_))));
    assert!(suspected, "someone suspected n4");
    let refuted = ids.iter().any(|&v| events_about(&c, v, "n4").any(|e| matches!(e, Event::MemberAlive(_))));
    assert!(refuted, "someone saw n4 refute");
    assert!(c.node(ids[4]).node.incarnation() > 0, "n4 raised its incarnation");
    assert!(c.node(ids[4]).node.stats().refutations > 0);
    for &v in &ids {
        assert!(failed_events(&c, v).is_empty(), "viewer {v}: nobody failed");
    }
    assert!(c.all_alive(&ids) && c.converged(&ids));
}

#[test]
fn a_partition_heals() {
    let (mut c, ids) = cluster(4, 50, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    let (a, b) = ids.split_at(20);
    c.partition(&[a, b]);
    // Long enough that each side declares the other failed.
    c.run_until_true(180 * SEC, SEC, |c| {
        a.iter().all(|&v| b.iter().all(|&o| c.status(v, &format!("n{o}")) == Some(Status::Dead)))
    })
    .expect("side a declares side b failed");
    c.run_until_true(60 * SEC, SEC, |c| {
        b.iter().all(|&v| a.iter().all(|&o| c.status(v, &format!("n{o}")) == Some(Status::Dead)))
    })
    .expect("side b declares side a failed");
    c.heal();
    let took = converge(&mut c, &ids, 120 * SEC);
    assert!(took < 60 * SEC, "re-merge took {took:?}");
}

#[test]
fn leave_is_seen_as_left_not_failed() {
    let (mut c, ids) = cluster(5, 12, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    c.leave(ids[3]);
    c.run_for(5 * SEC);
    let done = c.node(ids[3]).events.iter().find_map(|(_, e)| match e {
        Event::LeaveComplete { acknowledged } => Some(*acknowledged),
        _ => None,
    });
    assert_eq!(done, Some(3), "three members acknowledged the leave");
    assert!(c.node(ids[3]).node.has_left());
    c.kill(ids[3]);
    c.run_for(60 * SEC);
    for &v in ids.iter().filter(|&&i| i != ids[3]) {
        assert_eq!(c.status(v, "n3"), Some(Status::Left), "viewer {v}");
        assert!(events_about(&c, v, "n3").any(|e| matches!(e, Event::MemberLeft(_))));
        assert!(failed_events(&c, v).is_empty(), "viewer {v}");
    }
}

#[test]
fn a_restarted_node_comes_back_alive() {
    let (mut c, ids) = cluster(6, 15, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    c.kill(ids[9]);
    let others: Vec<usize> = ids.iter().copied().filter(|&i| i != ids[9]).collect();
    c.run_until_true(90 * SEC, SEC, |c| others.iter().all(|&v| c.status(v, "n9") == Some(Status::Dead)))
        .expect("failed");
    let dead_incarnation = c.node(others[0]).node.member("n9").unwrap().incarnation;
    c.restart(ids[9]);
    converge(&mut c, &ids, 30 * SEC);
    let m = c.node(others[0]).node.member("n9").unwrap();
    assert!(m.incarnation > dead_incarnation, "the new process outbid its old death");
    for &v in &others {
        assert!(events_about(&c, v, "n9").any(|e| matches!(e, Event::MemberJoined(_))), "viewer {v} saw it rejoin");
    }
}

#[test]
fn restart_after_leave_rejoins() {
    let (mut c, ids) = cluster(16, 6, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    c.leave(ids[2]);
    c.run_for(5 * SEC);
    c.kill(ids[2]);
    c.run_for(5 * SEC);
    assert_eq!(c.status(ids[0], "n2"), Some(Status::Left));
    c.restart(ids[2]);
    converge(&mut c, &ids, 30 * SEC);
}

#[test]
fn user_broadcast_reaches_every_live_node_at_20_percent_loss() {
    let (mut c, ids) = cluster(7, 40, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    c.set_loss(0.2);
    for (k, &origin) in [ids[0], ids[17], ids[39]].iter().enumerate() {
        let payload = format!("hello {k}").into_bytes();
        let now = c.now();
        c.node_mut(origin).node.broadcast(&payload, now).unwrap();
        c.drive(origin);
    }
    c.run_for(20 * SEC);
    for &v in &ids {
        let got = c.broadcasts_received(v);
        let mut want: Vec<(String, Vec<u8>)> = [("n0", 0), ("n17", 1), ("n39", 2)]
            .iter()
            .filter(|(o, _)| *o != c.node(v).name())
            .map(|(o, k)| (o.to_string(), format!("hello {k}").into_bytes()))
            .collect();
        want.sort();
        assert_eq!(got, want, "node {v} delivers each broadcast exactly once");
    }
}

#[test]
fn wrong_key_or_label_never_enters() {
    let key = |b| Key::from_bytes([b; 32]);
    let good = Config { keyring: Keyring::with_primary(key(1)), label: "prod".into(), ..Config::lan() };
    let (mut c, ids) = cluster(8, 5, good.clone());
    converge(&mut c, &ids, 20 * SEC);
    let wrong_key = c.add_node("intruder-key", Config { keyring: Keyring::with_primary(key(2)), ..good.clone() });
    let wrong_label = c.add_node("intruder-label", Config { label: "staging".into(), ..good.clone() });
    let plain = c.add_node("intruder-plain", Config { label: "prod".into(), ..Config::lan() });
    for i in [wrong_key, wrong_label, plain] {
        c.join(i, &[ids[0], ids[1]]);
    }
    c.run_for(60 * SEC);
    for &v in &ids {
        for name in ["intruder-key", "intruder-label", "intruder-plain"] {
            assert_eq!(c.status(v, name), None, "viewer {v} knows {name}");
        }
    }
    assert!(c.all_alive(&ids));
    let s = c.node(ids[0]).node.stats();
    assert!(s.dropped_auth > 0 && s.dropped_label > 0, "{s:?}");
    for i in [wrong_key, wrong_label, plain] {
        assert!(!c.node(i).node.is_joined());
        assert_eq!(c.node(i).node.live_members(), 1);
    }
}

#[test]
fn keys_rotate_without_suspicion() {
    let k1 = Key::from_bytes([1; 32]);
    let k2 = Key::from_bytes([2; 32]);
    let config = Config { keyring: Keyring::with_primary(k1.clone()), ..Config::lan() };
    let (mut c, ids) = cluster(9, 8, config);
    converge(&mut c, &ids, 20 * SEC);
    // Install everywhere, then switch primaries one node at a time, then remove the old key.
    for &i in &ids {
        c.node_mut(i).node.install_key(k2.clone()).expect("an encrypted node with room");
    }
    c.run_for(2 * SEC);
    for &i in &ids {
        c.node_mut(i).node.use_key(&k2).unwrap();
        c.run_for(SEC / 2);
    }
    c.run_for(2 * SEC);
    for &i in &ids {
        c.node_mut(i).node.remove_key(&k1).unwrap();
    }
    c.run_for(20 * SEC);
    for &i in &ids {
        let s = c.node(i).node.stats();
        assert_eq!((s.suspicions_raised, s.dropped_auth), (0, 0), "node {i}");
    }
    assert!(c.all_alive(&ids) && c.converged(&ids));
}

#[test]
fn metadata_change_is_gossiped_as_update() {
    let (mut c, ids) = cluster(10, 10, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    let now = c.now();
    c.node_mut(ids[5]).node.set_meta(b"role=db", now).unwrap();
    c.drive(ids[5]);
    c.run_for(5 * SEC);
    for &v in &ids {
        assert_eq!(c.node(v).node.member("n5").unwrap().meta, b"role=db", "viewer {v}");
        if v != ids[5] {
            let updated =
                events_about(&c, v, "n5").any(|e| matches!(e, Event::MemberUpdated(m) if m.meta == b"role=db"));
            assert!(updated, "viewer {v} got an Updated event");
        }
    }
}

#[test]
fn join_retries_until_a_seed_appears() {
    let mut c = Cluster::new(11);
    let a = c.add_node("a", Config::lan());
    let b = c.add_node("b", Config::lan());
    c.kill(a); // the seed is down when b starts
    c.join(b, &[a]);
    c.run_for(20 * SEC);
    assert!(!c.node(b).node.is_joined());
    c.restart(a); // a starts a new cluster (its seeds are empty)
    c.join(a, &[]);
    converge(&mut c, &[a, b], 60 * SEC);
    assert!(c.node(b).node.is_joined());
    assert!(c.node(b).events.iter().any(|(_, e)| *e == Event::Joined));
}

#[test]
fn anti_entropy_converges_under_heavy_loss() {
    let (mut c, ids) = cluster(12, 20, Config::lan());
    c.set_loss(0.3);
    let took = converge(&mut c, &ids, 180 * SEC);
    assert!(took < 120 * SEC, "took {took:?}");
}

#[test]
fn no_false_failures_at_10_percent_loss() {
    let (mut c, ids) = cluster(13, 30, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    c.set_loss(0.1);
    c.run_for(300 * SEC);
    for &v in &ids {
        assert!(failed_events(&c, v).is_empty(), "viewer {v}: {:?}", failed_events(&c, v));
    }
    c.set_loss(0.0);
    converge(&mut c, &ids, 30 * SEC);
}

#[test]
fn lifeguard_nacks_and_health_score_rise_for_a_lossy_prober() {
    let (mut c, ids) = cluster(14, 8, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    // n0 can send but hears nothing back: it is the unhealthy one.
    for &o in &ids[1..] {
        c.set_link(o, ids[0], Link { loss: 1.0, ..Link::default() });
    }
    c.run_for(10 * SEC);
    let n0 = c.node(ids[0]).node.stats();
    assert!(n0.probes_failed > 0 && n0.indirect_probes_sent > 0);
    assert!(c.node(ids[0]).node.health_score() > 0, "n0 knows it is unhealthy");
    for &o in &ids[1..] {
        assert_eq!(c.node(o).node.health_score(), 0, "the others stay healthy");
    }
}

#[test]
fn a_stalled_node_is_suspected_then_refutes_with_every_lifeguard_part_alone() {
    // Each Lifeguard extension on its own must keep the core working end to end.
    let parts = [
        Lifeguard { local_health: true, ..Lifeguard::OFF },
        Lifeguard { dynamic_suspicion: true, ..Lifeguard::OFF },
        Lifeguard { buddy: true, ..Lifeguard::OFF },
        Lifeguard { nacks: true, ..Lifeguard::OFF },
        Lifeguard::OFF,
    ];
    for (k, lifeguard) in parts.into_iter().enumerate() {
        let (mut c, ids) = cluster(150 + k as u64, 8, Config { lifeguard, ..Config::lan() });
        converge(&mut c, &ids, 20 * SEC);
        c.stall(ids[2], 5 * SEC);
        c.run_for(40 * SEC);
        assert!(c.node(ids[2]).node.stats().refutations > 0, "{lifeguard:?}");
        assert!(c.all_alive(&ids) && c.converged(&ids), "{lifeguard:?}");
    }
}

#[test]
fn same_seed_replays_exactly() {
    let run = |seed| {
        let (mut c, ids) = cluster(seed, 12, Config::lan());
        c.set_loss(0.05);
        c.run_for(10 * SEC);
        c.kill(ids[3]);
        c.run_for(40 * SEC);
        let log: Vec<_> = ids.iter().map(|&i| c.node(i).events.clone()).collect();
        (log, c.net_stats())
    };
    assert_eq!(run(77), run(77));
    assert_ne!(run(77).1, run(78).1);
}

#[test]
fn a_name_claimed_from_another_address_is_a_conflict() {
    let (mut c, ids) = cluster(17, 4, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    let impostor = c.add_node("n1", Config::lan());
    c.join(impostor, &[ids[0]]);
    c.run_for(20 * SEC);
    // The incumbent keeps the name everywhere; both sides are told.
    let n1_addr = c.node(ids[1]).node.addr();
    for &v in &ids {
        assert_eq!(c.node(v).node.member("n1").unwrap().addr, n1_addr, "viewer {v}");
    }
    assert!(c.node(ids[0]).events.iter().any(|(_, e)| matches!(e, Event::NameConflict { .. })));
    assert!(c.node(ids[0]).node.stats().name_conflicts > 0);
    // The incumbent is told too, and stays the holder; the impostor knows it is refused.
    let impostor_addr = c.node(impostor).node.addr();
    let told = |e: &Event| matches!(e, Event::NameConflict { claimed, .. } if *claimed == impostor_addr);
    assert!(c.node(ids[1]).events.iter().any(|(_, e)| told(e)), "the incumbent saw the conflict");
    assert!(c.node(ids[1]).node.stats().name_conflicts > 0);
    assert_eq!(c.node(ids[1]).node.name_refused(), None, "the incumbent holds the name");
    assert_eq!(c.node(impostor).node.name_refused(), Some(n1_addr), "the impostor is refused");
}

/// A node restarted at a new address with the same name (a rescheduled container) is
/// refused while its old address is live, and takes the name back within a few gossip
/// rounds of the old address being declared failed: the members that refused its claim
/// tell it when the holder fails, and its refutation wins.
#[test]
fn a_node_restarted_at_a_new_address_takes_its_name_back_when_the_old_one_fails() {
    let (mut c, ids) = cluster(18, 10, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    let old_addr = c.node(ids[3]).node.addr();
    c.kill(ids[3]);
    let moved = c.add_node("n3", Config::lan());
    c.join(moved, &[ids[0]]);
    let new_addr = c.node(moved).node.addr();
    c.run_for(SEC);
    assert_eq!(c.node(moved).node.name_refused(), Some(old_addr), "refused while the old address is live");
    let live: Vec<usize> = ids.iter().copied().filter(|&i| i != ids[3]).collect();
    let back = c.run_until_true(60 * SEC, SEC / 10, |c| {
        live.iter()
            .all(|&v| c.node(v).node.member("n3").is_some_and(|m| m.addr == new_addr && m.status == Status::Alive))
    });
    let back = back.expect("n3 back at its new address everywhere");
    let failed = live
        .iter()
        .flat_map(|&v| c.node(v).events.iter())
        .filter(|(_, e)| matches!(e, Event::MemberFailed(m) if m.name == "n3" && m.addr == old_addr))
        .map(|&(t, _)| t)
        .max()
        .expect("the old address was declared failed");
    assert!(back - failed < 2 * SEC, "back {:?} after the old address was failed everywhere", back - failed);
    assert_eq!(c.node(moved).node.name_refused(), None);
    converge(&mut c, &[&live[..], &[moved]].concat(), 10 * SEC);
}

/// The probe failure rate under uniform loss agrees with the model in `core/src/node/probe.rs`
/// (a second direct ping with the indirect probes, a second relayed ping halfway to the
/// nack), for three relays (0.038 % at 10 % loss and 1.1 % at 20 %, against 0.77 % and 7.4 %
/// with one ping each) and for the LAN preset's five (0.22 % at 20 % loss; at 10 %, 0.002 %,
/// too rare to measure here).
#[test]
fn probe_failures_under_loss_match_the_retry_model() {
    fn model(p: f64, k: i32) -> f64 {
        let round_trip_lost = 1.0 - (1.0 - p).powi(2);
        let relayed_path_lost = 1.0 - (1.0 - p).powi(2) * (1.0 - round_trip_lost.powi(2));
        round_trip_lost.powi(2) * relayed_path_lost.powi(k)
    }
    assert_eq!(Config::lan().indirect_checks, 5);
    for (seed, loss, k) in [(21, 0.1, 3), (22, 0.2, 3), (23, 0.2, 5)] {
        let config = Config { indirect_checks: k, ..Config::lan() };
        let (mut c, ids) = cluster(seed, 40, config);
        converge(&mut c, &ids, 30 * SEC);
        let totals = |c: &Cluster| {
            ids.iter()
                .map(|&i| c.node(i).node.stats())
                .fold((0, 0), |(s, f), st| (s + st.probes_sent, f + st.probes_failed))
        };
        let (sent0, failed0) = totals(&c);
        c.set_loss(loss);
        c.run_for(600 * SEC);
        let (sent, failed) = totals(&c);
        let rate = (failed - failed0) as f64 / (sent - sent0) as f64;
        let expected = model(loss, i32::try_from(k).unwrap());
        assert!(
            rate > expected / 3.0 && rate < expected * 2.0,
            "loss {loss}, {k} relays: {failed} of {sent} probes failed ({rate:.5}), the model says {expected:.5}"
        );
        for &v in &ids {
            assert!(failed_events(&c, v).is_empty(), "loss {loss}, viewer {v}: {:?}", failed_events(&c, v));
        }
    }
}

/// `force_leave` on one node turns a failed member into left on every node (the gossiped
/// `Left` outranks `Dead` at the same incarnation), with one `MemberLeft` event each; alive
/// members and unknown names are refused and change nothing.
#[test]
fn force_leave_turns_a_failed_member_left_everywhere() {
    use rumor_core::Error;
    let (mut c, ids) = cluster(21, 8, Config::local());
    converge(&mut c, &ids, 30 * SEC);
    let (victim, operator) = (ids[5], ids[2]);
    let others: Vec<usize> = ids.iter().copied().filter(|&i| i != victim).collect();
    c.kill(victim);
    let failed =
        c.run_until_true(60 * SEC, SEC / 10, |c| others.iter().all(|&i| c.status(i, "n5") == Some(Status::Dead)));
    assert!(failed.is_some(), "the killed n5 was not declared failed everywhere");

    let t = c.now();
    assert_eq!(c.node_mut(operator).node.force_leave("n3", t), Err(Error::NotFailed(Status::Alive)));
    assert_eq!(c.node_mut(operator).node.force_leave("nobody", t), Err(Error::UnknownMember));
    assert_eq!(c.node_mut(operator).node.force_leave("n2", t), Err(Error::UnknownMember), "its own name");
    let inc = c.node(operator).node.member("n5").map(|m| m.incarnation);
    assert_eq!(c.node_mut(operator).node.force_leave("n5", t), Ok(()));
    c.drive(operator);
    assert_eq!(c.status(operator, "n5"), Some(Status::Left), "at once on the operator's node");
    let left =
        c.run_until_true(30 * SEC, SEC / 10, |c| others.iter().all(|&i| c.status(i, "n5") == Some(Status::Left)));
    assert!(left.is_some(), "n5 did not turn left everywhere");
    for &i in &others {
        assert_eq!(c.node(i).node.member("n5").map(|m| m.incarnation), inc, "same incarnation on node {i}");
        let lefts = events_about(&c, i, "n5").filter(|e| matches!(e, Event::MemberLeft(_))).count();
        assert_eq!(lefts, 1, "one MemberLeft about n5 on node {i}");
    }
    // The others stay as they were.
    assert!(c.all_alive(&others));
    // Every answered probe was timed.
    let rtt = c.node(operator).node.probe_rtt();
    assert!(rtt.count() > 0 && rtt.count() <= c.node(operator).node.stats().probes_sent, "{rtt:?}");
    let t = c.now();
    assert_eq!(c.node_mut(operator).node.force_leave("n5", t), Err(Error::NotFailed(Status::Left)));
}
