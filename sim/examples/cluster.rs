//! A local cluster on virtual time: 20 real protocol nodes join, one crashes, a partition
//! cuts the cluster in two and heals, one node leaves. Prints what the cluster sees.
//!
//! `cargo run -p rumor-sim --example cluster [-- SEED]`
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::time::Duration;

use rumor_core::{Config, Status};
use rumor_sim::Cluster;

const SEC: Duration = Duration::from_secs(1);

fn census(c: &Cluster, viewer: usize) -> String {
    let mut counts = [0usize; 4];
    for m in c.node(viewer).node.members() {
        counts[m.status as usize] += 1;
    }
    format!("alive {:2}  suspect {:2}  failed {:2}  left {:2}", counts[0], counts[1], counts[2], counts[3])
}

fn main() {
    let seed = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(42);
    let mut c = Cluster::new(seed);
    let n = 20;
    let ids: Vec<usize> = (0..n).map(|i| c.add_node(&format!("node-{i:02}"), Config::lan())).collect();
    for &i in &ids[1..] {
        c.join(i, &[ids[0]]);
    }
    let report = |c: &Cluster, what: &str| {
        println!("t={:>6.1}s  {:<44} node-01 sees: {}", c.now().as_duration().as_secs_f64(), what, census(c, ids[1]));
    };
    println!("rumor: {n} nodes on a simulated LAN (seed {seed})\n");
    let t = c.run_until_true(30 * SEC, SEC / 10, |c| c.all_alive(&ids) && c.converged(&ids)).unwrap();
    report(&c, &format!("all joined and converged ({:.1}s)", t.as_duration().as_secs_f64()));

    c.kill(ids[7]);
    report(&c, "node-07 crashes");
    let live: Vec<usize> = ids.iter().copied().filter(|&i| i != ids[7]).collect();
    c.run_until_true(60 * SEC, SEC / 10, |c| live.iter().all(|&v| c.status(v, "node-07") == Some(Status::Dead)))
        .unwrap();
    report(&c, "every live node marks node-07 failed");

    let (a, b) = live.split_at(8);
    c.partition(&[a, b]);
    report(&c, "network partition: 8 | 11");
    c.run_for(60 * SEC);
    report(&c, "sixty seconds into the partition");
    c.heal();
    report(&c, "partition heals");
    c.run_until_true(120 * SEC, SEC / 10, |c| c.all_alive(&live) && c.converged(&live)).unwrap();
    report(&c, "one converged view again");

    c.leave(ids[3]);
    c.run_for(5 * SEC);
    report(&c, "node-03 leaves gracefully");
    let s = c.net_stats();
    let secs = c.now().as_duration().as_secs_f64();
    println!(
        "\nnetwork: {} datagrams, {:.0} B/s per node, largest {} B",
        s.sent,
        s.bytes as f64 / secs / n as f64,
        s.max_packet
    );
}
