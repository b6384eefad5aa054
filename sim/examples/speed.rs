//! Simulator speed benchmark: how much faster than real time a formed cluster of `NODES` real
//! protocol nodes runs in steady state on one core, and how much memory it takes. The
//! figures in `docs/benchmarks.md` ("Simulator") come from it.
//!
//! `cargo run --release -p rumor-sim --example speed -- [NODES] [WINDOW_S] [WINDOWS] [SEED]`
//!
//! For thousands of nodes, set `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (glibc's malloc then
//! asks for transparent huge pages; `docs/benchmarks.md` gives figures with and without).
//!
//! The cluster is formed with [`Cluster::bootstrap`] (every node knows every other, nothing
//! queued), then runs 30 s so the first anti-entropy round after start-up passes, then
//! `WINDOWS` windows of `WINDOW_S` simulated seconds each are timed. Steady state includes
//! everything a quiet LAN cluster does: probes, acks, timers and the periodic full-state
//! exchanges (anti-entropy), which dominate at large sizes. Each window prints simulated
//! seconds, wall and CPU seconds, the speed-up by each and the work done; then best and
//! median, and peak RSS. On a shared machine trust the CPU figure: the wall clock also counts
//! time spent waiting for a core.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::time::{Duration, Instant as Wall};

use rumor_core::Config;
use rumor_sim::Cluster;

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Peak resident set size in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time this process has run (Linux), in seconds. On a shared machine the wall clock
/// also counts time spent waiting for a core; CPU time does not.
fn cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn median(sorted: &[f64]) -> f64 {
    let m = sorted.len() / 2;
    if sorted.len() % 2 == 0 { (sorted[m - 1] + sorted[m]) / 2.0 } else { sorted[m] }
}

fn syncs(c: &Cluster, ids: &[usize]) -> u64 {
    ids.iter().map(|&i| c.node(i).node.stats().syncs_started).sum()
}

fn main() {
    let n: usize = arg(1, 1000);
    let window: u64 = arg(2, 120);
    let windows: usize = arg(3, 3);
    let seed: u64 = arg(4, 1);
    let mut c = Cluster::new(seed);
    c.set_record_events(false);
    let ids: Vec<usize> = (0..n).map(|i| c.add_node(&format!("node-{i}"), Config::lan())).collect();
    let wall = Wall::now();
    c.bootstrap(&ids).unwrap();
    let bootstrap_s = wall.elapsed().as_secs_f64();
    println!(
        "nodes {n}, seed {seed}: bootstrap {bootstrap_s:.1} s wall, peak RSS {:.0} MiB",
        peak_rss_mib().unwrap_or(0.0)
    );
    let wall = Wall::now();
    c.run_for(Duration::from_secs(30));
    println!("first 30 s (start-up anti-entropy round): {:.1} s wall", wall.elapsed().as_secs_f64());

    let mut speedups = Vec::new();
    let mut cpu_speedups = Vec::new();
    for w in 0..windows {
        let (net, sync) = (c.net_stats(), syncs(&c, &ids));
        let (wall, cpu) = (Wall::now(), cpu_s());
        c.run_for(Duration::from_secs(window));
        let wall_s = wall.elapsed().as_secs_f64();
        let cpu_s = cpu.and_then(|before| cpu_s().map(|after| after - before)).unwrap_or(wall_s);
        let speedup = window as f64 / wall_s;
        speedups.push(speedup);
        cpu_speedups.push(window as f64 / cpu_s);
        let datagrams = c.net_stats().sent - net.sent;
        println!(
            "window {w}: simulated_s {window} wall_s {wall_s:.2} cpu_s {cpu_s:.2} speed-up {speedup:.1}x wall, \
             {:.1}x cpu ({:.0} datagrams/s simulated, {} anti-entropy exchanges)",
            window as f64 / cpu_s,
            datagrams as f64 / window as f64,
            syncs(&c, &ids) - sync
        );
    }
    let live = ids.iter().filter(|&&i| c.node(i).node.live_members() == n).count();
    assert_eq!(live, n, "every node still sees every node alive");
    speedups.sort_by(f64::total_cmp);
    cpu_speedups.sort_by(f64::total_cmp);
    println!(
        "nodes {n}: speed-up best {:.1}x, median {:.1}x (wall); best {:.1}x, median {:.1}x (cpu) \
         over {windows} windows of {window} s; peak RSS {:.0} MiB",
        speedups.last().unwrap(),
        median(&speedups),
        cpu_speedups.last().unwrap(),
        median(&cpu_speedups),
        peak_rss_mib().unwrap_or(0.0)
    );
}
