#![allow(clippy::unwrap_used, missing_docs)]
use std::time::{Duration, Instant as Wall};
use rumor_core::Config;
use rumor_sim::Cluster;
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let secs: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(20000);
    let mut c = Cluster::new(1);
    c.set_record_events(false);
    let mut cfg = Config::lan();
    cfg.push_pull_interval = Duration::from_secs(86_400);
    let ids: Vec<usize> = (0..n).map(|i| c.add_node(&format!("node-{i}"), cfg.clone())).collect();
    c.bootstrap(&ids).unwrap();
    c.run_for(Duration::from_secs(30));
    let w = Wall::now();
    let before = c.net_stats().sent;
    c.run_for(Duration::from_secs(secs));
    let el = w.elapsed().as_secs_f64();
    let d = c.net_stats().sent - before;
    println!("{n} nodes: {:.0}x, {:.1} ns per datagram", secs as f64 / el, el * 1e9 / d as f64);
}
