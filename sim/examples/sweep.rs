//! Seed sweep: many short random scenarios on the simulator, each checked against the
//! protocol's invariants. A failure prints its seed and the command that replays it.
//!
//! ```text
//! cargo run --release -p rumor-sim --example sweep -- [COUNT] [FIRST_SEED]   # sweep
//! cargo run --release -p rumor-sim --example sweep -- --seed SEED            # replay one, verbose
//! ```
//!
//! CI sweeps seeds 1..1000 (`scripts/seed-sweep.sh`, a few seconds). Before a release, sweep
//! far more: rare interleavings show up at one seed in ten thousand (the leave retries came
//! from 3 failures in 30 000). `sweep -- 100000 1` takes about six minutes on one core; a
//! failure prints the command that replays it, and a bug it finds gets a test replaying its
//! seed's script in `sim/tests/regressions.rs`.
//!
//! Each seed draws a cluster (4–24 nodes, LAN timing), a network (loss up to 10 %, uniform,
//! log-normal or Pareto delays) and a fault script (crashes, restarts, a graceful leave, a
//! partition that heals, a stalled node, churn), runs it, removes the network faults, and
//! checks:
//!
//! 1. no false `Failed`: without loss, partitions or stalls, only crashed nodes are ever
//!    declared failed;
//! 2. every running node's view converges: the same members, statuses and incarnations
//!    everywhere, the running nodes alive, crashed ones failed, the one that left left —
//!    unless only its first notices could reach anyone (alone on its side of a partition
//!    with the others there crashed), when failed is right too (`left_is_required`);
//! 3. every user broadcast reaches every node that was running throughout, exactly once.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use std::process::ExitCode;
use std::time::{Duration, Instant as Wall};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use rumor_core::{Config, Event, Instant, Status};
use rumor_sim::{Churn, Cluster, Delay, Link};

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// What one seed does; drawn from the seed, printed on replay.
#[derive(Debug)]
struct Scenario {
    nodes: usize,
    loss: f64,
    link: Link,
    crashes: Vec<usize>,
    restarts: Vec<usize>,
    leaver: Option<usize>,
    partition: Option<(usize, Duration)>,
    stall: Option<(usize, Duration)>,
    churn: Option<Churn>,
}

impl Scenario {
    fn draw(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed);
        let nodes = rng.random_range(4..=24);
        let loss = if rng.random_bool(0.5) { 0.0 } else { rng.random_range(0.01..0.10) };
        let link = match rng.random_range(0..3) {
            0 => Link {
                latency_min: 100 * Duration::from_micros(1),
                latency_max: rng.random_range(1..20) * MS,
                ..Link::default()
            },
            1 => Link {
                latency_min: MS / 2,
                latency_max: SEC,
                delay: Delay::LogNormal { median: rng.random_range(1..10) * MS, sigma: rng.random_range(0.3..1.2) },
                ..Link::default()
            },
            _ => Link {
                latency_min: MS / 2,
                latency_max: SEC,
                delay: Delay::Pareto { scale: rng.random_range(1..5) * MS, shape: rng.random_range(1.5..3.0) },
                ..Link::default()
            },
        };
        // Node 0 stays up: it is everyone's seed.
        let mut others: Vec<usize> = (1..nodes).collect();
        for i in (1..others.len()).rev() {
            others.swap(i, rng.random_range(0..=i));
        }
        let crashes: Vec<usize> = others.iter().copied().take(rng.random_range(0..=2.min(nodes / 3))).collect();
        let restarts = crashes.iter().copied().filter(|_| rng.random_bool(0.5)).collect();
        let leaver = rng.random_bool(0.3).then(|| others[crashes.len()]).filter(|_| nodes > 4);
        let partition = rng.random_bool(0.25).then(|| (rng.random_range(1..nodes), rng.random_range(5..40) * SEC));
        let stall = rng.random_bool(0.25).then(|| (rng.random_range(0..nodes), rng.random_range(1000..8000) * MS));
        let churn = (nodes >= 8 && rng.random_bool(0.15)).then(|| Churn {
            per_minute: rng.random_range(0.02..0.1),
            downtime: rng.random_range(2..20) * SEC,
            graceful: rng.random_bool(0.5),
        });
        Scenario { nodes, loss, link, crashes, restarts, leaver, partition, stall, churn }
    }

    /// Whether the network or the processes may make a live node look dead for a while.
    fn may_suspect_the_living(&self) -> bool {
        self.loss > 0.0 || self.partition.is_some() || self.stall.is_some()
    }
}

fn name(i: usize) -> String {
    format!("n{i}")
}

/// Whether `Left` is the only right outcome for the leaver `l`, whose leave ran from `start`
/// to `end`. A leave reaches the cluster only through the leaver's own packets: its first
/// notices, sent as the leave starts (before a partition drawn for the same moment cuts
/// anything), then notices again to other members every probe timeout while too few
/// acknowledged, and its gossip. Once its leave is over it answers nothing. So when some
/// member that is running and on the leaver's side of any partition could hear those later
/// notices, the leave must be known everywhere (loss is no excuse: the notices are retried;
/// nor is a stall: a stalled member handles what was queued for it afterwards). When none
/// could — every other member on its side of a partition that outlasted the leave crashed or
/// churned down — only the first notices could arrive, and if they were lost or went to
/// members that had just crashed, nobody can learn of the leave: the members then rightly
/// see a silent node, failed. Either way they must agree.
fn left_is_required(
    s: &Scenario,
    ids: &[usize],
    l: usize,
    churn: &[rumor_sim::ChurnEvent],
    start: Instant,
    end: Instant,
) -> bool {
    let cut_off = |j: usize| match s.partition {
        Some((cut, d)) if start + d >= end => (j < cut) != (l < cut),
        _ => false,
    };
    let down =
        |j: usize| s.crashes.contains(&j) || churn.iter().any(|p| p.node == j && p.stop < end && p.restart > start);
    ids.iter().any(|&j| j != l && !down(j) && !cut_off(j))
}

/// Runs one seed; `Err` says which invariant broke.
fn run(seed: u64, verbose: bool) -> Result<(), String> {
    let s = Scenario::draw(seed);
    if verbose {
        println!("{s:#?}");
    }
    let mut c = Cluster::new(seed);
    c.set_default_link(s.link);
    let ids: Vec<usize> = (0..s.nodes).map(|i| c.add_node(&name(i), Config::lan())).collect();
    for &i in &ids[1..] {
        c.join(i, &[ids[0]]);
    }
    c.run_until_true(60 * SEC, SEC / 2, |c| c.all_alive(&ids) && c.converged(&ids))
        .ok_or("the cluster did not form within 60 s")?;

    // A broadcast everyone should get, sent before any fault.
    let mut sent: Vec<(usize, Vec<u8>)> = Vec::new();
    let broadcast = |c: &mut Cluster, from: usize, sent: &mut Vec<(usize, Vec<u8>)>| {
        let payload = format!("seed {seed} #{}", sent.len()).into_bytes();
        let now = c.now();
        c.node_mut(from).node.broadcast(&payload, now).unwrap();
        c.drive(from);
        sent.push((from, payload));
    };
    broadcast(&mut c, ids[0], &mut sent);
    c.set_loss(s.loss);
    c.run_for(2 * SEC);

    // The fault window: 60 s of virtual time.
    let fault_start = c.now();
    let mut touched: Vec<usize> = Vec::new(); // nodes whose process was disturbed
    // The fault window ends after the last churned node is back up: a graceful stop waits for
    // the leave, so a restart planned late in the 40 s churn window can come after 60 s.
    let mut fault_end = fault_start + 60 * SEC;
    let mut churn_plan = Vec::new();
    if let Some(churn) = s.churn {
        // Churn picks among the nodes the script leaves alone.
        let spare: Vec<usize> =
            ids[1..].iter().copied().filter(|i| !s.crashes.contains(i) && Some(*i) != s.leaver).collect();
        let plan = c.churn(&spare, churn, 40 * SEC);
        touched.extend(plan.iter().map(|p| p.node));
        fault_end = plan.iter().map(|p| p.restart + SEC).fold(fault_end, Instant::max);
        if verbose {
            println!("churn plan: {plan:?}");
        }
        churn_plan = plan;
    }
    for &i in &s.crashes {
        c.kill(i);
        touched.push(i);
    }
    if let Some(i) = s.leaver {
        c.leave(i);
        touched.push(i);
    }
    if let Some((i, d)) = s.stall {
        c.stall(i, d);
        touched.push(i);
    }
    if let Some((cut, d)) = s.partition {
        let (a, b) = ids.split_at(cut);
        c.partition(&[a, b]);
        c.run_for(d);
        c.heal();
    }
    c.run_until(fault_start + 20 * SEC);
    for &i in &s.restarts {
        c.restart(i);
    }
    c.run_until(fault_end);
    let mut left_required = true;
    if let Some(i) = s.leaver {
        if !c.node(i).node.has_left() {
            return Err(format!("n{i} did not finish leaving within 60 s"));
        }
        let done = c.node(i).events.iter().find(|(_, e)| matches!(e, Event::LeaveComplete { .. })).map(|(at, _)| *at);
        left_required = left_is_required(&s, &ids, i, &churn_plan, fault_start, done.unwrap_or(fault_end));
        if verbose {
            println!(
                "n{i} left at {:?}; Left required (else Left or failed): {left_required}",
                done.map(|t| t - fault_start)
            );
        }
        c.kill(i);
    }

    // Settle: no more network faults; then everything must agree.
    c.set_loss(0.0);
    let running: Vec<usize> = ids.iter().copied().filter(|&i| c.node(i).is_running()).collect();
    let gone: Vec<usize> = ids.iter().copied().filter(|&i| !c.node(i).is_running()).collect();
    let settled = c.run_until_true(240 * SEC, SEC, |c| {
        c.converged(&running)
            && running.iter().all(|&v| {
                running.iter().all(|&o| c.status(v, &name(o)) == Some(Status::Alive))
                    && gone.iter().all(|&o| {
                        let status = c.status(v, &name(o));
                        match s.leaver {
                            Some(l) if l == o && !left_required => matches!(status, Some(Status::Left | Status::Dead)),
                            Some(l) if l == o => status == Some(Status::Left),
                            _ => status == Some(Status::Dead),
                        }
                    })
            })
    });
    if settled.is_none() {
        let views: Vec<String> = running
            .iter()
            .map(|&v| {
                let view: Vec<String> =
                    c.node(v).node.members().map(|m| format!("{}:{:?}@{}", m.name, m.status, m.incarnation)).collect();
                format!("n{v} sees [{}]", view.join(" "))
            })
            .collect();
        return Err(format!("views did not converge within 240 s after the faults: {}", views.join("; ")));
    }

    // A broadcast after the faults reaches every running node.
    let origin = running[seed as usize % running.len()];
    broadcast(&mut c, origin, &mut sent);
    c.run_for(20 * SEC);

    // Invariant 1: no false Failed.
    if !s.may_suspect_the_living() {
        for &v in &ids {
            for (at, e) in &c.node(v).events {
                if let Event::MemberFailed(m) = e {
                    let victim = m.name.trim_start_matches('n').parse::<usize>().unwrap_or(usize::MAX);
                    let crashed = s.crashes.contains(&victim)
                        || (touched.contains(&victim) && s.churn.is_some_and(|ch| !ch.graceful));
                    if !crashed {
                        return Err(format!(
                            "n{v} declared {} failed at {:?} without loss, partition or stall",
                            m.name,
                            at.as_duration()
                        ));
                    }
                }
            }
        }
    }
    // Invariant 3: every broadcast reaches every node that ran throughout, exactly once.
    let untouched: Vec<usize> = running.iter().copied().filter(|i| !touched.contains(i)).collect();
    for &v in &untouched {
        let got = c.broadcasts_received(v);
        let mut want: Vec<(String, Vec<u8>)> =
            sent.iter().filter(|(o, _)| *o != v).map(|(o, p)| (name(*o), p.clone())).collect();
        want.sort();
        if got != want {
            let show = |v: &[(String, Vec<u8>)]| {
                v.iter().map(|(o, p)| format!("{o}:{}", String::from_utf8_lossy(p))).collect::<Vec<_>>()
            };
            return Err(format!("n{v} delivered broadcasts {:?}, expected {:?}", show(&got), show(&want)));
        }
    }
    // The last broadcast reaches restarted and churned nodes too.
    let (last_origin, last) = sent.last().cloned().unwrap();
    for &v in running.iter().filter(|&&v| v != last_origin) {
        let n = c.broadcasts_received(v).iter().filter(|(_, p)| *p == last).count();
        if n != 1 {
            return Err(format!("n{v} delivered the post-fault broadcast {n} times"));
        }
    }
    if verbose {
        println!("seed {seed}: ok at {:?}, {:?}", c.now().as_duration(), c.net_stats());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--seed") {
        let seed = args.get(1).and_then(|s| s.parse().ok()).expect("--seed SEED");
        return match run(seed, true) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                println!("FAIL seed {seed}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let count: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(300);
    let first: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let wall = Wall::now();
    let mut failures = 0;
    for seed in first..first + count {
        if let Err(e) = run(seed, false) {
            failures += 1;
            println!("FAIL seed {seed}: {e}");
            println!("  replay: cargo run --release -p rumor-sim --example sweep -- --seed {seed}");
        }
    }
    println!(
        "seed sweep: {count} scenarios (seeds {first}..{}), {failures} failed, {:.1} s",
        first + count - 1,
        wall.elapsed().as_secs_f64()
    );
    if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
