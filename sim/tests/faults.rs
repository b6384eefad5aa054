//! The simulator's fault models, each checked on a seeded run: latency distributions and the
//! reordering they cause, churn, stalls, and the bootstrap of a formed cluster.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use core::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use rumor_core::{Config, Event, Status};
use rumor_sim::{Churn, Cluster, Delay, Link};

mod common;
use common::{SEC, cluster, converge};

const MS: Duration = Duration::from_millis(1);

fn failed(c: &Cluster, viewer: usize) -> Vec<String> {
    let events = &c.node(viewer).events;
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::MemberFailed(m) => Some(m.name.clone()),
            _ => None,
        })
        .collect()
}

fn samples(link: &Link, n: usize) -> Vec<Duration> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut v: Vec<Duration> = (0..n).map(|_| link.sample_delay(&mut rng)).collect();
    v.sort();
    v
}

#[test]
fn delay_distributions_have_their_shape() {
    let n = 20_000;
    let uniform = Link { latency_min: 2 * MS, latency_max: 10 * MS, ..Link::default() };
    let u = samples(&uniform, n);
    assert!(u[0] >= 2 * MS && u[n - 1] <= 10 * MS);
    let median = u[n / 2];
    assert!(median > 5800 * Duration::from_micros(1) && median < 6200 * Duration::from_micros(1), "{median:?}");

    let lognormal = Link {
        latency_min: MS,
        latency_max: SEC,
        delay: Delay::LogNormal { median: 4 * MS, sigma: 1.0 },
        ..Link::default()
    };
    let l = samples(&lognormal, n);
    assert!(l[0] >= MS && l[n - 1] <= SEC);
    let (median, p99) = (l[n / 2], l[n * 99 / 100]);
    // min + 4 ms · e^(σ·z): the median is 5 ms, the 99th percentile 1 + 4·e^2.33 ≈ 42 ms.
    assert!(median > 4700 * Duration::from_micros(1) && median < 5300 * Duration::from_micros(1), "{median:?}");
    assert!(p99 > 35 * MS && p99 < 50 * MS, "{p99:?}");

    let pareto = Link {
        latency_min: MS,
        latency_max: 2 * SEC,
        delay: Delay::Pareto { scale: 2 * MS, shape: 1.5 },
        ..Link::default()
    };
    let p = samples(&pareto, n);
    assert!(p[0] >= MS && p[n - 1] <= 2 * SEC);
    let (median, p99) = (p[n / 2], p[n * 99 / 100]);
    // Lomax quantiles: scale · ((1 − q)^(−1/shape) − 1): median 1.17 ms, p99 41 ms.
    assert!(median > 2 * MS && median < 2400 * Duration::from_micros(1), "{median:?}");
    assert!(p99 > 35 * MS && p99 < 50 * MS, "{p99:?}");
    // A polynomial tail: the 99.9th percentile is another 4.6 times further out.
    assert!(p[n * 999 / 1000] > 4 * p99);

    assert!(samples(&Link::constant(3 * MS), 100).iter().all(|&d| d == 3 * MS));
}

#[test]
fn jitter_reorders_packets_and_constant_latency_does_not() {
    let run = |link: Link| {
        let (mut c, ids) = cluster(21, 40, Config::lan());
        c.set_default_link(link);
        converge(&mut c, &ids, 30 * SEC);
        // Anti-entropy sends bursts of chunks to one destination: the packets most likely to
        // overtake each other.
        c.run_for(60 * SEC);
        let payload = b"ordered or not".to_vec();
        let now = c.now();
        c.node_mut(ids[3]).node.broadcast(&payload, now).unwrap();
        c.drive(ids[3]);
        c.run_for(10 * SEC);
        for &v in ids.iter().filter(|&&v| v != ids[3]) {
            let got = c.node(v).events.iter().filter(|(_, e)| matches!(e, Event::UserBroadcast { .. })).count();
            assert_eq!(got, 1, "node {v}");
        }
        assert!(c.all_alive(&ids) && c.converged(&ids));
        c.net_stats().reordered
    };
    assert_eq!(run(Link::constant(MS)), 0, "one fixed delay keeps every link in order");
    let reordered = run(Link { latency_min: MS, latency_max: 30 * MS, ..Link::default() });
    assert!(reordered > 0, "jitter reorders, and the protocol does not care");
}

#[test]
fn long_tailed_latency_per_link_and_default_causes_no_false_failure() {
    let (mut c, ids) = cluster(22, 20, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    c.set_default_link(Link {
        latency_min: MS / 2,
        latency_max: SEC,
        delay: Delay::LogNormal { median: 2 * MS, sigma: 1.2 },
        ..Link::default()
    });
    // Everything n5 sends crosses a congested router: a Pareto tail, some packets later than
    // the 500 ms probe timeout.
    let slow =
        Link { latency_min: MS, latency_max: 2 * SEC, delay: Delay::Pareto { scale: 20 * MS, shape: 1.2 }, loss: 0.0 };
    for &o in &ids {
        if o != ids[5] {
            c.set_link(ids[5], o, slow);
        }
    }
    c.run_for(300 * SEC);
    let late_acks: u64 = ids.iter().map(|&v| c.node(v).node.stats().indirect_probes_sent).sum();
    assert!(late_acks > 0, "the tail is long enough for acks to miss the probe timeout");
    for &v in &ids {
        assert!(failed(&c, v).is_empty(), "viewer {v}: {:?}", failed(&c, v));
    }
    assert!(c.all_alive(&ids) && c.converged(&ids));
}

#[test]
fn churn_restarts_nodes_on_schedule_and_the_cluster_recovers() {
    let (mut c, ids) = cluster(23, 24, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    let start = c.now();
    let churn = Churn { per_minute: 0.1, downtime: 5 * SEC, graceful: false };
    let plan = c.churn(&ids[1..], churn, 300 * SEC);
    // 23 nodes at 10 % a minute for five minutes: about 11 restarts.
    assert!((5..=20).contains(&plan.len()), "{} restarts", plan.len());
    assert!(plan.iter().all(|p| p.stop >= start && p.restart == p.stop + 5 * SEC && p.node != ids[0]));
    let first = plan[0];
    c.run_until(first.stop + SEC);
    assert!(!c.node(first.node).is_running(), "planned node is down");
    c.run_until(first.restart + SEC);
    assert!(c.node(first.node).is_running(), "and back");
    c.run_until(start + 300 * SEC);
    let last_restart = plan.iter().map(|p| p.restart).max().unwrap();
    c.run_until(last_restart);
    converge(&mut c, &ids, 60 * SEC);
    // Crashes may be declared failed; nobody else may be.
    let churned: Vec<String> = plan.iter().map(|p| format!("n{}", p.node)).collect();
    for &v in &ids {
        for name in failed(&c, v) {
            assert!(churned.contains(&name), "viewer {v} failed {name}, which never crashed");
        }
    }
    assert!(ids.iter().all(|&i| c.node(i).is_running()));
}

#[test]
fn graceful_churn_is_seen_as_leaves_never_as_failures() {
    let (mut c, ids) = cluster(24, 16, Config::lan());
    converge(&mut c, &ids, 30 * SEC);
    let plan = c.churn(&ids, Churn { per_minute: 0.1, downtime: 10 * SEC, graceful: true }, 180 * SEC);
    assert!(!plan.is_empty());
    c.run_for(180 * SEC);
    let last_restart = plan.iter().map(|p| p.restart).max().unwrap();
    c.run_until(last_restart);
    converge(&mut c, &ids, 60 * SEC);
    let mut left_seen = 0;
    for &v in &ids {
        assert!(failed(&c, v).is_empty(), "viewer {v}: {:?}", failed(&c, v));
        left_seen += c.node(v).events.iter().filter(|(_, e)| matches!(e, Event::MemberLeft(_))).count();
    }
    assert!(left_seen > 0);
}

#[test]
fn a_stalled_node_processes_nothing_then_catches_up_on_everything() {
    let (mut c, ids) = cluster(25, 8, Config::lan());
    converge(&mut c, &ids, 20 * SEC);
    let victim = ids[3];
    let stall_start = c.now();
    c.stall(victim, 4 * SEC);
    // A second, shorter stall does not cut the first one short.
    c.stall(victim, SEC);
    let before = *c.node(victim).node.stats();
    let events_before = c.node(victim).events.len();
    c.run_until(stall_start + 4 * SEC - Duration::from_micros(1));
    let during = *c.node(victim).node.stats();
    assert!(c.node(victim).is_stalled());
    assert_eq!(during.packets_in, before.packets_in, "no packet handled while stalled");
    assert_eq!(during.packets_out, before.packets_out, "nothing sent while stalled");
    assert_eq!(during.probes_sent, before.probes_sent, "no timer ran while stalled");
    assert_eq!(c.node(victim).events.len(), events_before);
    let backlog = c.node(victim).backlog_len() as u64;
    assert!(backlog > 5, "pings and gossip queued up: {backlog}");
    // The others noticed: it stopped answering.
    assert!(ids.iter().any(|&v| c.status(v, "n3") == Some(Status::Suspect)));

    c.run_until(stall_start + 4 * SEC);
    let after = *c.node(victim).node.stats();
    assert!(!c.node(victim).is_stalled());
    assert_eq!(c.node(victim).backlog_len(), 0);
    assert!(after.packets_in >= during.packets_in + backlog, "every queued datagram was handled");
    assert!(after.refutations > 0, "it learnt it was suspected and refuted at once");
    assert!(after.packets_out > during.packets_out);
    converge(&mut c, &ids, 20 * SEC);
    for &v in &ids {
        assert!(failed(&c, v).is_empty());
    }
}

#[test]
fn bootstrap_forms_a_quiet_cluster_through_the_receive_path() {
    let mut c = Cluster::new(26);
    let ids: Vec<usize> = (0..200).map(|i| c.add_node(&format!("b{i}"), Config::lan())).collect();
    c.bootstrap(&ids).unwrap();
    assert_eq!(c.net_stats().sent, 0, "bootstrap traffic is not on the simulated network");
    for &i in &ids {
        let n = &c.node(i).node;
        assert_eq!(n.live_members(), 200, "node {i}");
        assert_eq!(n.gossip_queue_len(), 0, "node {i} is quiet");
        assert!(n.stats().packets_in > 0, "it learnt through handle_datagram");
    }
    assert!(c.converged(&ids));
    // Quiet: steady-state probing only, nobody suspected, and a crash is still detected.
    c.run_for(30 * SEC);
    let per_node_per_sec = c.net_stats().sent as f64 / 200.0 / 30.0;
    assert!(per_node_per_sec < 3.0, "{per_node_per_sec} datagrams/s per node");
    assert!(ids.iter().all(|&i| c.node(i).node.stats().suspicions_raised == 0));
    c.kill(ids[7]);
    let live: Vec<usize> = ids.iter().copied().filter(|&i| i != ids[7]).collect();
    c.run_until_true(60 * SEC, SEC, |c| live.iter().all(|&v| c.status(v, "b7") == Some(Status::Dead)))
        .expect("the crash is detected everywhere");
    // Bootstrapped nodes got seeds, so a restart rejoins.
    c.restart(ids[7]);
    converge(&mut c, &ids, 60 * SEC);
}

#[test]
fn bootstrap_works_with_encryption_and_a_label() {
    let key = rumor_core::Key::from_bytes([9; 32]);
    let config = Config { keyring: rumor_core::Keyring::with_primary(key), label: "prod".into(), ..Config::lan() };
    let mut c = Cluster::new(27);
    let ids: Vec<usize> = (0..30).map(|i| c.add_node(&format!("e{i}"), config.clone())).collect();
    c.bootstrap(&ids).unwrap();
    assert!(ids.iter().all(|&i| c.node(i).node.live_members() == 30));
    c.run_for(20 * SEC);
    assert!(c.all_alive(&ids) && c.converged(&ids));
}
