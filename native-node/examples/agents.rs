//! Benchmark: many agents in one process on loopback (`rumor-agent`, one UDP socket each).
//! Converges them, measures resident memory per node and idle CPU, kills one and times its
//! detection by every other node.
//!
//! ```text
//! ulimit -n 8192
//! cargo run --release -p rumor-node --example agents -- [NODES=1000] [PRESET=lan] [IDLE_SECONDS=20]
//! ```
//! Prints a human summary and one JSON line (`{"nodes": …}`) for docs/benchmarks.md. With
//! `RUMOR_BENCH_ALONE=1` the agents join nobody, which measures the fixed cost of an agent.

use std::time::Duration;

use cap::Cap;

use rumor_agent::{Agent, AgentConfig, Handle, NodeMetrics};
use rumor_core::Status;
use tokio::time::Instant;

/// Counts the heap: live bytes and the peak, to tell what the agents hold from what the
/// allocator keeps. The allocator is the `rumor` binary's (see `rumor_node::memory`).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static HEAP: Cap<rumor_node::memory::Jemalloc> = Cap::new(rumor_node::memory::Jemalloc, usize::MAX);
#[cfg(not(feature = "jemalloc"))]
#[global_allocator]
static HEAP: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of this process, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

async fn alive_counts(handles: &[Handle]) -> (usize, usize) {
    let mut min = usize::MAX;
    let mut max = 0;
    for h in handles {
        let n = h.metrics().await.map_or(0, |m| usize::try_from(m.members.alive).unwrap_or(0));
        min = min.min(n);
        max = max.max(n);
    }
    (min, max)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rumor_node::memory::purge_in_background();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nodes: usize = args.first().map_or(Ok(1000), |s| s.parse())?;
    let preset = args.get(1).map_or("lan", String::as_str);
    let idle_secs: u64 = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let protocol = rumor_core::Config::preset(preset).ok_or("preset: lan, wan or local")?;

    // RUMOR_BENCH_ALONE=1: agents that join nobody, to measure the fixed cost of an agent.
    let alone = std::env::var_os("RUMOR_BENCH_ALONE").is_some();
    let rss_before = rss_kib();
    let heap_before = HEAP.allocated();
    let t0 = Instant::now();
    let mut agents = Vec::with_capacity(nodes);
    let mut seeds = Vec::new();
    for i in 0..nodes {
        let mut c = AgentConfig::new(format!("n{i:05}"), "127.0.0.1:0".parse()?, protocol.clone());
        // Join through up to three earlier nodes, like a rolling deployment.
        if !alone {
            c.join = seeds.iter().rev().take(3).map(ToString::to_string).collect();
        }
        let agent = Agent::start(c).await.map_err(|e| format!("node {i}: {e} (raise `ulimit -n`?)"))?;
        if i % 50 == 0 {
            seeds.push(agent.handle().local_addr());
        }
        agents.push(agent);
    }
    let handles: Vec<Handle> = agents.iter().map(Agent::handle).collect();
    println!("started {nodes} agents in {:.1} s", t0.elapsed().as_secs_f64());

    let target = if alone { 1 } else { nodes };
    let converge_deadline = Instant::now() + Duration::from_secs(300);
    let converged_s = loop {
        let (min, max) = alive_counts(&handles).await;
        if min == target {
            break Some(t0.elapsed().as_secs_f64());
        }
        if Instant::now() > converge_deadline {
            println!("not converged: alive seen {min}..{max} of {nodes}");
            break None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if let Some(s) = converged_s {
        println!("converged: every node sees {nodes} alive, {s:.1} s after the first start");
        let dropped = sum_metric(&handles, |m| m.stats.dropped_rate_limited).await;
        println!("datagrams refused by the inbound rate limits during the join: {dropped}");
    }

    // Let the join-time gossip die down (every gossip queue empty, for at most a minute), give
    // the allocator a few seconds to return what it freed, then measure a quiet window.
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    let mut queued = u64::MAX;
    while queued > 0 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        queued = sum_metric(&handles, |m| m.gossip_queue as u64).await;
    }
    println!("gossip queues drained: {queued} updates left");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu0, w0) = (cpu_seconds(), Instant::now());
    let bytes0 = sum_metric(&handles, |m| m.stats.bytes_out).await;
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let wall = w0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let bytes = sum_metric(&handles, |m| m.stats.bytes_out).await.saturating_sub(bytes0);
    // Memory at the end of the quiet window: what a settled agent keeps.
    let rss_steady = rss_kib();
    let heap_steady = HEAP.allocated().saturating_sub(heap_before) as f64 / 1024.0 / nodes as f64;
    let heap_peak = HEAP.max_allocated().saturating_sub(heap_before) as f64 / 1024.0 / nodes as f64;
    let per_node_kib = (rss_steady.saturating_sub(rss_before)) as f64 / nodes as f64;
    println!(
        "steady state: RSS {:.1} MiB total, {per_node_kib:.1} KiB per node; CPU {:.1} % of one core for all \
         ({:.3} % per node); {:.0} B/s sent per node",
        rss_steady as f64 / 1024.0,
        100.0 * cpu / wall,
        100.0 * cpu / wall / nodes as f64,
        bytes as f64 / wall / nodes as f64,
    );
    println!("heap per node: {heap_steady:.1} KiB live at the end of the quiet window, {heap_peak:.1} KiB at the peak");
    if let Some(s) = rumor_node::memory::allocator_stats() {
        let kib = |b: usize| b as f64 / 1024.0 / nodes as f64;
        println!(
            "allocator per node (whole process): {:.1} KiB allocated, {:.1} KiB in active pages, {:.1} KiB resident, \
             {:.1} KiB of it metadata",
            kib(s.allocated),
            kib(s.active),
            kib(s.resident),
            kib(s.metadata)
        );
    }

    if alone {
        println!(
            "{}",
            serde_json::json!({"nodes": nodes, "alone": true, "rss_per_node_kib": per_node_kib,
            "heap_live_per_node_kib": heap_steady})
        );
        return Ok(());
    }
    // Kill one (no leave) and time detection by every other node.
    let victim = handles.get(nodes / 2).ok_or("need at least one node")?.clone();
    let others: Vec<Handle> = handles.iter().filter(|h| h.name() != victim.name()).cloned().collect();
    victim.shutdown().await;
    let t_kill = Instant::now();
    let (mut first, mut all) = (None, None);
    let detect_deadline = t_kill + Duration::from_secs(120);
    while all.is_none() && Instant::now() < detect_deadline {
        let mut failed = 0;
        for h in &others {
            if let Ok(ms) = h.members().await
                && ms.iter().any(|m| m.name == victim.name() && m.state == Status::Dead)
            {
                failed += 1;
            }
        }
        let t = t_kill.elapsed().as_secs_f64();
        if failed > 0 && first.is_none() {
            first = Some(t);
        }
        if failed == others.len() {
            all = Some(t);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "kill detected: first {} s, all {} s",
        first.map_or("never".into(), |t| format!("{t:.1}")),
        all.map_or("never".into(), |t| format!("{t:.1}"))
    );
    println!(
        "{}",
        serde_json::json!({
            "nodes": nodes, "preset": preset, "converged_s": converged_s,
            "rss_total_kib": rss_steady, "rss_per_node_kib": per_node_kib,
            "heap_live_per_node_kib": heap_steady, "heap_peak_per_node_kib": heap_peak,
            "idle_cpu_percent": 100.0 * cpu / wall, "bytes_per_node_per_s": bytes as f64 / wall / nodes as f64,
            "detect_first_s": first, "detect_all_s": all,
        })
    );
    for h in &handles {
        h.shutdown().await;
    }
    Ok(())
}

/// `field` of every agent's metrics, summed (an agent that no longer answers counts 0).
async fn sum_metric(handles: &[Handle], field: impl Fn(&NodeMetrics) -> u64) -> u64 {
    let mut total = 0;
    for h in handles {
        total += h.metrics().await.map_or(0, |m| field(&m));
    }
    total
}
