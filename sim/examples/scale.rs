//! Measures one cluster size on virtual time: join, steady-state traffic without and with
//! loss, and the detection of a crashed node. The figures in `docs/benchmarks.md` come from it.
//!
//! `cargo run --release -p rumor-sim --example scale -- [NODES] [LOSS] [SETTLE_SECONDS] [SEED]`
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::time::{Duration, Instant as Wall};

use rumor_core::{Config, Event, Status};
use rumor_sim::Cluster;

const SEC: Duration = Duration::from_secs(1);

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Bytes and datagrams per node per second over the next `window`.
fn traffic(c: &mut Cluster, n: usize, window: Duration) -> (f64, f64) {
    let before = c.net_stats();
    c.run_for(window);
    let after = c.net_stats();
    let per = window.as_secs_f64() * n as f64;
    ((after.bytes - before.bytes) as f64 / per, (after.sent - before.sent) as f64 / per)
}

fn main() {
    let n: usize = arg(1, 1000);
    let loss: f64 = arg(2, 0.1);
    let settle: u64 = arg(3, 200);
    let seed: u64 = arg(4, 1);
    let mut c = Cluster::new(seed);
    let ids: Vec<usize> = (0..n).map(|i| c.add_node(&format!("node-{i}"), Config::lan())).collect();
    let wall = Wall::now();
    // Each node joins through a node that joined before it.
    for &i in &ids[1..] {
        c.join(i, &[ids[(i * 7919) % i]]);
    }
    let sample: Vec<usize> = ids.iter().copied().step_by(n.div_ceil(10)).collect();
    let joined = c.run_until_true(300 * SEC, SEC, |c| sample.iter().all(|&v| c.node(v).node.live_members() == n));
    println!("nodes {n}, seed {seed}: sampled nodes see all {n} alive after {:?}", joined.map(|t| t.as_duration()));
    c.run_for(Duration::from_secs(settle));
    let (bytes, pkts) = traffic(&mut c, n, 120 * SEC);
    println!("steady state, no loss:   {bytes:7.0} B/s and {pkts:5.2} datagrams/s per node");
    c.set_loss(loss);
    c.run_for(30 * SEC);
    let (bytes, pkts) = traffic(&mut c, n, 60 * SEC);
    println!("steady state, {:>3.0} % loss: {bytes:7.0} B/s and {pkts:5.2} datagrams/s per node", loss * 100.0);

    let victim = ids[n / 2];
    let victim_name = format!("node-{victim}");
    let live: Vec<usize> = ids.iter().copied().filter(|&i| i != victim).collect();
    let killed_at = c.now();
    let sim_wall = Wall::now();
    c.kill(victim);
    let mut first = None;
    let all = c.run_until_true(120 * SEC, SEC / 10, |c| {
        let dead = live.iter().filter(|&&v| c.status(v, &victim_name) == Some(Status::Dead)).count();
        if dead > 0 && first.is_none() {
            first = Some(c.now() - killed_at);
        }
        dead == live.len()
    });
    let simulated = (c.now() - killed_at).as_secs_f64();
    println!(
        "crash at {:>3.0} % loss: first detection {:?}, all {:?}",
        loss * 100.0,
        first,
        all.map(|t| t - killed_at)
    );
    c.run_for(60 * SEC);
    let false_failed: usize = live
        .iter()
        .map(|&v| {
            c.node(v)
                .events
                .iter()
                .filter(|(_, e)| matches!(e, Event::MemberFailed(m) if m.name != victim_name))
                .count()
        })
        .sum();
    println!("false failed events: {false_failed}");
    println!(
        "simulator: {:.1}x real time during detection; whole run {:.0} s wall",
        simulated / sim_wall.elapsed().as_secs_f64(),
        wall.elapsed().as_secs_f64()
    );
}
