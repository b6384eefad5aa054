//! Plans one scenario from the flags, runs it on a [`Cluster`] and measures it.

use std::collections::{BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant as Wall;

use core::time::Duration;

use rand::RngExt;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_core::{Config, Event, Key, Keyring, Node};
use rumor_sim::{Churn, Cluster, Link};

use super::report::{Dissemination, NodeStats, Report};
use super::{SimArgs, StallMode, node_config, secs};

/// How often events are drained and classified (and, after a heal, convergence is checked).
const TICK: Duration = Duration::from_millis(500);
/// How often the join phase checks whether every node sees every other.
const JOIN_CHECK: Duration = Duration::from_millis(500);
/// How often `--progress` reports, in simulated time.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Salt that separates the scenario's random choices from the simulator's.
const PLAN_SALT: u64 = 0x5eed_0f5c_e7a2_1000;
/// Payload of the timed user broadcast.
const BROADCAST_PAYLOAD: &[u8] = b"rumor sim: timed broadcast";

/// A validated scenario: the flags, checked against each other, plus what derives from them.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    args: SimArgs,
    config: Config,
    nodes: usize,
    kill_at: Duration,
    broadcast_at: Option<Duration>,
    partition: Option<(Duration, Duration)>,
    /// A failure or suspicion is blamed on a fault (not counted as false) if its subject was
    /// down or stalled, or a partition was in force, within this long before the event.
    blame_window: Duration,
}

impl Plan {
    /// Checks the flags against each other; the error names the flags.
    pub(super) fn from_args(args: &SimArgs) -> Result<Plan, String> {
        let nodes = args.nodes as usize;
        let duration = args.duration;
        let mut config = node_config(args);
        if args.encrypt {
            // Any fixed key will do: the simulated cluster shares it, and deriving it from the
            // seed keeps the run reproducible.
            let mut key = [0u8; rumor_core::KEY_LEN];
            ChaCha8Rng::seed_from_u64(args.seed ^ PLAN_SALT.rotate_left(17)).fill_bytes(&mut key);
            config.keyring = Keyring::with_primary(Key::from_bytes(key));
        }
        config.validate().map_err(|e| format!("the {} preset is invalid: {e}", args.preset.name()))?;
        if args.latency_min_ms > args.latency_max_ms {
            return Err(format!(
                "--latency-min-ms {} must not exceed --latency-max-ms {}",
                args.latency_min_ms, args.latency_max_ms
            ));
        }
        if args.stall_min > args.stall_max {
            return Err(format!("--stall-min {} must not exceed --stall-max {}", args.stall_min, args.stall_max));
        }
        let stalling = stalling_count(args);
        // Node 0 started the cluster and is spared from faults, and at least one other node
        // must stay healthy (so churn, too, always has a node to restart).
        let kill = args.kill as usize;
        if kill + stalling + 2 > nodes {
            return Err(format!(
                "--kill {} and --stall {} ({stalling} nodes) leave fewer than two healthy nodes out of --nodes {}",
                args.kill, args.stall, args.nodes
            ));
        }
        let kill_at = args.kill_at.unwrap_or(duration / 2.0);
        if args.kill > 0 && kill_at >= duration {
            return Err(format!("--kill-at {kill_at} must be less than --duration {duration}"));
        }
        let broadcast_at = if args.broadcast { Some(args.broadcast_at.unwrap_or(duration / 4.0)) } else { None };
        if let Some(at) = broadcast_at {
            if at >= duration {
                return Err(format!("--broadcast-at {at} must be less than --duration {duration}"));
            }
        }
        let partition = match (args.partition_at, args.heal_at) {
            (Some(p), Some(h)) => {
                if p >= h {
                    return Err(format!("--partition-at {p} must be less than --heal-at {h}"));
                }
                if h > duration {
                    return Err(format!("--heal-at {h} must not exceed --duration {duration}"));
                }
                Some((secs(p), secs(h)))
            }
            _ => None,
        };
        let blame_window = blame_window(&config, nodes);
        Ok(Plan {
            args: args.clone(),
            config,
            nodes,
            kill_at: secs(kill_at),
            broadcast_at: broadcast_at.map(secs),
            partition,
            blame_window,
        })
    }
}

/// Nodes that stall: `--stall` of them, rounded to the nearest (at least one if the fraction
/// is not zero).
fn stalling_count(args: &SimArgs) -> usize {
    if args.stall <= 0.0 {
        return 0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (args.stall * f64::from(args.nodes)).round() as usize;
    n.max(1)
}

/// The longest a crash or stall can take to show up as a failure somewhere: the maximum
/// suspicion timeout for this cluster size plus four probe intervals (the probe that finds the
/// node, the final check before failure and gossip to the last member).
fn blame_window(config: &Config, nodes: usize) -> Duration {
    #[allow(clippy::cast_precision_loss)]
    let scale = (nodes as f64).log10().max(1.0);
    let min = config.probe_interval.mul_f64(f64::from(config.suspicion_mult) * scale);
    min.saturating_mul(config.suspicion_max_mult.max(1)) + 4 * config.probe_interval
}

/// Something that happens to the cluster at a planned instant.
#[derive(Debug, Clone)]
enum Action {
    Kill,
    Stall {
        node: usize,
        duration: Duration,
    },
    LagStart(usize),
    LagEnd(usize),
    /// The simulator stopped a churned node (its own schedule); only observed here.
    Down(usize),
    /// The simulator restarted it.
    Up(usize),
    Partition,
    Heal,
    Broadcast,
}

/// The simulator's churn schedule for the window (it stops and restarts the nodes itself), as
/// actions to observe. Stops are planned only until `--churn-down` (and the leave timeout, if
/// graceful) before the window's end, so every churned node is back by then.
fn plan_churn(c: &mut Cluster, plan: &Plan, roles: &Roles) -> Vec<(Duration, Action)> {
    let a = &plan.args;
    let leave = if a.churn_graceful { plan.config.leave_timeout.as_secs_f64() } else { 0.0 };
    let horizon = a.duration - a.churn_down - leave;
    if a.churn <= 0.0 || roles.churnable.is_empty() || horizon <= 0.0 {
        return Vec::new();
    }
    let t0 = c.now();
    let churn = Churn { per_minute: a.churn, downtime: secs(a.churn_down), graceful: a.churn_graceful };
    let mut actions = Vec::new();
    for e in c.churn(&roles.churnable, churn, secs(horizon)) {
        // A graceful leave stops the process `leave_timeout` after it starts leaving.
        let stop = e.restart - secs(a.churn_down);
        actions.push((stop.saturating_duration_since(t0), Action::Down(e.node)));
        actions.push((e.restart.saturating_duration_since(t0), Action::Up(e.node)));
    }
    actions
}

/// Who is chosen for what, fixed before the cluster starts.
struct Roles {
    killed: Vec<usize>,
    stalling: Vec<usize>,
    /// Nodes that may be restarted by churn.
    churnable: Vec<usize>,
    /// One half of the partition.
    half: Vec<usize>,
    /// Each node's join seed (`None` for node 0).
    seeds: Vec<Option<usize>>,
}

fn choose_roles(plan: &Plan, rng: &mut ChaCha8Rng) -> Roles {
    let n = plan.nodes;
    let mut others: Vec<usize> = (1..n).collect();
    others.shuffle(rng);
    let kill = plan.args.kill as usize;
    let stalling_n = stalling_count(&plan.args);
    let killed: Vec<usize> = others.iter().copied().take(kill).collect();
    let stalling: Vec<usize> = others.iter().copied().skip(kill).take(stalling_n).collect();
    let churnable: Vec<usize> = {
        let mut v: Vec<usize> = others.iter().copied().skip(kill + stalling_n).collect();
        v.sort_unstable();
        v
    };
    let mut all: Vec<usize> = (0..n).collect();
    all.shuffle(rng);
    let mut half: Vec<usize> = all.into_iter().take(n / 2).collect();
    half.sort_unstable();
    // Each node joins through a random earlier node that will not be killed, so that a node
    // restarted by churn always has a seed that comes back.
    let mut is_killed = vec![false; n];
    for &k in &killed {
        if let Some(slot) = is_killed.get_mut(k) {
            *slot = true;
        }
    }
    let mut eligible: Vec<usize> = Vec::with_capacity(n);
    let mut seeds = Vec::with_capacity(n);
    for i in 0..n {
        let seed = if eligible.is_empty() { None } else { eligible.get(rng.random_range(0..eligible.len())).copied() };
        seeds.push(seed);
        if !is_killed.get(i).copied().unwrap_or(false) {
            eligible.push(i);
        }
    }
    Roles { killed, stalling, churnable, half, seeds }
}

/// Exponentially distributed time of the given mean.
fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -mean * (1.0 - u).ln()
}

/// The window's actions, in time order (relative to the window's start).
fn timeline(plan: &Plan, roles: &Roles, rng: &mut ChaCha8Rng) -> Vec<(Duration, Action)> {
    let a = &plan.args;
    let end = a.duration;
    let mut actions: Vec<(Duration, Action)> = Vec::new();
    if !roles.killed.is_empty() {
        actions.push((plan.kill_at, Action::Kill));
    }
    if let Some(at) = plan.broadcast_at {
        actions.push((at, Action::Broadcast));
    }
    if let Some((p, h)) = plan.partition {
        actions.push((p, Action::Partition));
        actions.push((h, Action::Heal));
    }
    for &node in &roles.stalling {
        let mut t = exponential(rng, a.stall_gap);
        loop {
            let length = a.stall_min + (a.stall_max - a.stall_min) * rng.random::<f64>();
            if t + length > end {
                break;
            }
            match a.stall_mode {
                StallMode::Pause => actions.push((secs(t), Action::Stall { node, duration: secs(length) })),
                StallMode::Lag => {
                    actions.push((secs(t), Action::LagStart(node)));
                    actions.push((secs(t + length), Action::LagEnd(node)));
                }
            }
            t += length + exponential(rng, a.stall_gap);
        }
    }
    // A stable sort keeps same-instant actions in the order they were planned.
    actions.sort_by_key(|(t, _)| *t);
    actions
}

/// What the run observes, fed with every node's events.
struct Observer {
    nodes: usize,
    window_start: rumor_core::Instant,
    window_end: rumor_core::Instant,
    blame_window: Duration,
    /// Per node: intervals during which it was down or stalled (`end` = `None`: still down).
    unavailable: Vec<Vec<(rumor_core::Instant, Option<rumor_core::Instant>)>>,
    partition: Option<(rumor_core::Instant, rumor_core::Instant)>,
    is_killed: Vec<bool>,
    killed_count: usize,
    kill_time: Option<rumor_core::Instant>,
    /// (viewer, killed) pairs already seen failed after the kill.
    detections: HashSet<(usize, usize)>,
    /// Per viewer: killed nodes it marked failed, and when it marked the last one.
    detected: Vec<(usize, rumor_core::Instant)>,
    false_failed: u64,
    false_failed_members: BTreeSet<usize>,
    false_suspect: u64,
    unavailable_failed: u64,
    partition_failed: u64,
    broadcast: Option<BroadcastTrack>,
}

struct BroadcastTrack {
    sent_at: rumor_core::Instant,
    origin: usize,
    /// Nodes running when it was sent.
    targets: Vec<bool>,
    received: Vec<Option<rumor_core::Instant>>,
}

impl Observer {
    fn index_of(&self, name: &str) -> Option<usize> {
        let i: usize = name.strip_prefix("node-")?.parse().ok()?;
        (i < self.nodes).then_some(i)
    }

    /// Whether a failure or suspicion of `subject` at `at` is explained by a fault.
    fn blamed_on_fault(&self, subject: usize, at: rumor_core::Instant) -> Option<Blame> {
        let since = at - self.blame_window;
        if let Some((p, h)) = self.partition {
            if p <= at && h + self.blame_window >= at {
                return Some(Blame::Partition);
            }
        }
        let unavailable = self
            .unavailable
            .get(subject)
            .is_some_and(|spans| spans.iter().any(|&(from, to)| from <= at && to.is_none_or(|t| t >= since)));
        unavailable.then_some(Blame::Unavailable)
    }

    fn observe(&mut self, viewer: usize, at: rumor_core::Instant, event: &Event) {
        let in_window = at >= self.window_start && at <= self.window_end;
        match event {
            Event::MemberFailed(m) => {
                let Some(subject) = self.index_of(&m.name) else { return };
                let killed = self.is_killed.get(subject).copied().unwrap_or(false);
                if let (true, Some(kill_time)) = (killed, self.kill_time) {
                    if at >= kill_time && self.detections.insert((viewer, subject)) {
                        if let Some(d) = self.detected.get_mut(viewer) {
                            d.0 += 1;
                            d.1 = d.1.max(at);
                        }
                    }
                    if at >= kill_time {
                        return;
                    }
                }
                if !in_window {
                    return;
                }
                match self.blamed_on_fault(subject, at) {
                    Some(Blame::Partition) => self.partition_failed += 1,
                    Some(Blame::Unavailable) => self.unavailable_failed += 1,
                    None => {
                        self.false_failed += 1;
                        self.false_failed_members.insert(subject);
                    }
                }
            }
            Event::MemberSuspect(m) => {
                let Some(subject) = self.index_of(&m.name) else { return };
                let after_kill = self.kill_time.is_some_and(|k| at >= k);
                if !in_window || (self.is_killed.get(subject).copied().unwrap_or(false) && after_kill) {
                    return;
                }
                if self.blamed_on_fault(subject, at).is_none() {
                    self.false_suspect += 1;
                }
            }
            Event::UserBroadcast { payload, .. } if payload.as_slice() == BROADCAST_PAYLOAD => {
                if let Some(b) = &mut self.broadcast {
                    if b.targets.get(viewer).copied().unwrap_or(false) {
                        if let Some(slot @ None) = b.received.get_mut(viewer) {
                            *slot = Some(at);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn drain(&mut self, c: &mut Cluster) {
        for i in 0..c.len() {
            let events = std::mem::take(&mut c.node_mut(i).events);
            for (at, event) in &events {
                self.observe(i, *at, event);
            }
        }
    }
}

enum Blame {
    Partition,
    Unavailable,
}

/// A digest of a node's view that does not depend on the order members are stored in: equal
/// views have equal digests (and unequal ones differ but with negligible probability).
fn view_digest(node: &Node) -> (usize, u64) {
    let mut sum = 0u64;
    let mut count = 0usize;
    for m in node.members() {
        let mut h = DefaultHasher::new();
        (m.name, m.status, m.incarnation).hash(&mut h);
        sum = sum.wrapping_add(h.finish());
        count += 1;
    }
    (count, sum)
}

/// Whether every running node holds the same view.
fn converged(c: &Cluster) -> bool {
    let mut digests = (0..c.len()).filter(|&i| c.node(i).is_running()).map(|i| view_digest(&c.node(i).node));
    let Some(first) = digests.next() else { return true };
    digests.all(|d| d == first)
}

/// Whether every running node counts every running node as live (alive or suspect).
fn all_live(c: &Cluster) -> bool {
    let running = c.running();
    running.iter().all(|&i| c.node(i).node.live_members() == running.len())
}

/// `--progress`: a line on standard error whenever another [`PROGRESS_EVERY`] of simulated
/// time has passed.
struct Progress {
    on: bool,
    wall: Wall,
    next: rumor_core::Instant,
}

impl Progress {
    fn report(&mut self, phase: &str, now: rumor_core::Instant) {
        if self.on && now >= self.next {
            eprintln!(
                "rumor sim: {phase}, {:.1} s simulated, {:.1} s wall",
                now.as_duration().as_secs_f64(),
                self.wall.elapsed().as_secs_f64()
            );
            self.next = now + PROGRESS_EVERY;
        }
    }
}

fn seconds_between(from: rumor_core::Instant, to: rumor_core::Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64()
}

/// Runs the plan and measures it.
pub(super) fn run(plan: &Plan) -> Result<Report, String> {
    let wall = Wall::now();
    let a = &plan.args;
    let mut progress = Progress { on: a.progress, wall, next: rumor_core::Instant::ZERO };
    let n = plan.nodes;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ PLAN_SALT);
    let roles = choose_roles(plan, &mut rng);

    let mut c = Cluster::new(a.seed);
    c.set_default_link(Link {
        latency_min: Duration::from_secs_f64(a.latency_min_ms / 1000.0),
        latency_max: Duration::from_secs_f64(a.latency_max_ms / 1000.0),
        ..Link::default()
    });
    for i in 0..n {
        c.add_node(&format!("node-{i}"), plan.config.clone());
    }

    let mut join_s = None;
    let join_deadline = if a.bootstrap {
        let all: Vec<usize> = (0..n).collect();
        c.bootstrap(&all).map_err(|e| format!("the simulator could not bootstrap the cluster: {e}"))?;
        progress.report("bootstrapped", c.now());
        c.now()
    } else {
        // Join: everyone at once, each through its seed.
        for (i, seed) in roles.seeds.iter().enumerate() {
            if let Some(s) = seed {
                c.join(i, &[*s]);
            }
        }
        c.now() + secs(a.join_limit)
    };
    while c.now() < join_deadline {
        let next = (c.now() + JOIN_CHECK).min(join_deadline);
        c.run_until(next);
        progress.report("joining", c.now());
        for i in 0..n {
            c.node_mut(i).events.clear();
        }
        if (0..n).all(|i| c.node(i).node.live_members() == n) {
            join_s = Some(c.now().as_duration().as_secs_f64());
            break;
        }
    }

    // Settle with loss on.
    c.set_loss(a.loss);
    let settle_end = c.now() + secs(a.settle);
    while c.now() < settle_end {
        let next = (c.now() + TICK).min(settle_end);
        c.run_until(next);
        progress.report("settling", c.now());
        for i in 0..n {
            c.node_mut(i).events.clear();
        }
    }

    // The measured window.
    let t0 = c.now();
    let end = t0 + secs(a.duration);
    let mut actions = timeline(plan, &roles, &mut rng);
    actions.extend(plan_churn(&mut c, plan, &roles));
    actions.sort_by_key(|(t, _)| *t);
    let mut is_killed = vec![false; n];
    for &k in &roles.killed {
        if let Some(s) = is_killed.get_mut(k) {
            *s = true;
        }
    }
    let mut obs = Observer {
        nodes: n,
        window_start: t0,
        window_end: end,
        blame_window: plan.blame_window,
        unavailable: vec![Vec::new(); n],
        partition: plan.partition.map(|(p, h)| (t0 + p, t0 + h)),
        is_killed,
        killed_count: roles.killed.len(),
        kill_time: None,
        detections: HashSet::new(),
        detected: vec![(0, rumor_core::Instant::ZERO); n],
        false_failed: 0,
        false_failed_members: BTreeSet::new(),
        false_suspect: 0,
        unavailable_failed: 0,
        partition_failed: 0,
        broadcast: None,
    };
    let net_before = c.net_stats();
    let mut node_seconds = 0.0f64;
    let mut running = c.running().len();
    let mut last = t0;
    let mut next_tick = t0 + TICK;
    let mut pending = actions.iter().peekable();
    let mut heal_converge_s = None;
    let mut heal_all_live_s = None;
    let (mut restarts, mut stalls) = (0u64, 0u64);
    let mut lagging: BTreeSet<usize> = BTreeSet::new();
    let base = Link {
        latency_min: Duration::from_secs_f64(a.latency_min_ms / 1000.0),
        latency_max: Duration::from_secs_f64(a.latency_max_ms / 1000.0),
        loss: a.loss,
        ..Link::default()
    };
    let lag = Link {
        latency_min: base.latency_min + secs(a.stall_lag),
        latency_max: base.latency_max + secs(a.stall_lag),
        ..base
    };
    let slow_down = |c: &mut Cluster, node: usize| {
        for from in (0..n).filter(|&f| f != node) {
            c.set_link(from, node, lag);
        }
    };
    loop {
        // Apply every action that is due.
        while let Some((at, action)) = pending.next_if(|(at, _)| t0 + *at <= c.now()) {
            let now = t0 + *at;
            match action {
                Action::Kill => {
                    for &k in &roles.killed {
                        c.kill(k);
                        if let Some(spans) = obs.unavailable.get_mut(k) {
                            spans.push((now, None));
                        }
                    }
                    obs.kill_time = Some(now);
                }
                Action::Stall { node, duration } => {
                    c.stall(*node, *duration);
                    stalls += 1;
                    if let Some(spans) = obs.unavailable.get_mut(*node) {
                        spans.push((now, Some(now + *duration)));
                    }
                }
                Action::LagStart(node) => {
                    lagging.insert(*node);
                    slow_down(&mut c, *node);
                    stalls += 1;
                    if let Some(spans) = obs.unavailable.get_mut(*node) {
                        spans.push((now, None));
                    }
                }
                Action::LagEnd(node) => {
                    // Overrides can only be cleared all at once: restore the other laggards'.
                    lagging.remove(node);
                    c.clear_links();
                    for &other in &lagging {
                        slow_down(&mut c, other);
                    }
                    // Packets sent just before the end still arrive late.
                    if let Some(span) = obs.unavailable.get_mut(*node).and_then(|s| s.last_mut()) {
                        span.1 = Some(now + secs(a.stall_lag));
                    }
                }
                Action::Down(node) => {
                    if let Some(spans) = obs.unavailable.get_mut(*node) {
                        spans.push((now, None));
                    }
                }
                Action::Up(node) => {
                    restarts += 1;
                    if let Some(span) = obs.unavailable.get_mut(*node).and_then(|s| s.last_mut()) {
                        span.1 = Some(now);
                    }
                }
                Action::Partition => {
                    let rest: Vec<usize> = (0..n).filter(|i| roles.half.binary_search(i).is_err()).collect();
                    c.partition(&[&roles.half, &rest]);
                }
                Action::Heal => c.heal(),
                Action::Broadcast => {
                    let candidates: Vec<usize> =
                        (1..n).filter(|&i| c.node(i).is_running() && !c.node(i).is_stalled()).collect();
                    let origin = candidates.get(rng.random_range(0..candidates.len().max(1))).copied().unwrap_or(0);
                    let now = c.now();
                    let sent = c.node_mut(origin).node.broadcast(BROADCAST_PAYLOAD, now).is_ok();
                    c.drive(origin);
                    if sent {
                        let targets: Vec<bool> = (0..n).map(|i| c.node(i).is_running()).collect();
                        let mut received = vec![None; n];
                        if let Some(r) = received.get_mut(origin) {
                            *r = Some(now);
                        }
                        obs.broadcast = Some(BroadcastTrack { sent_at: now, origin, targets, received });
                    }
                }
            }
            let running_now = c.running().len();
            if running_now != running {
                node_seconds += running as f64 * seconds_between(last, c.now());
                last = c.now();
                running = running_now;
            }
        }
        if c.now() >= next_tick || c.now() >= end {
            obs.drain(&mut c);
            if let Some((_, h)) = obs.partition {
                if c.now() >= h && heal_all_live_s.is_none() && all_live(&c) {
                    heal_all_live_s = Some(seconds_between(h, c.now()));
                }
                if c.now() >= h && heal_converge_s.is_none() && converged(&c) {
                    heal_converge_s = Some(seconds_between(h, c.now()));
                }
            }
            next_tick = c.now() + TICK;
            progress.report("measuring", c.now());
        }
        if c.now() >= end {
            break;
        }
        let next_action = pending.peek().map(|(at, _)| t0 + *at).unwrap_or(end);
        c.run_until(next_action.min(next_tick).min(end));
    }
    node_seconds += running as f64 * seconds_between(last, end);
    let net_after = c.net_stats();
    let converged_at_end = converged(&c);

    // The tail: no new faults, until one view (or the limit).
    let mut tail_converge_s = None;
    if let Some(limit) = a.converge_limit {
        let deadline = end + secs(limit);
        loop {
            obs.drain(&mut c);
            if converged(&c) {
                tail_converge_s = Some(seconds_between(end, c.now()));
                if let Some((_, h)) = obs.partition {
                    heal_converge_s = heal_converge_s.or(Some(seconds_between(h, c.now())));
                    heal_all_live_s = heal_all_live_s.or(Some(seconds_between(h, c.now())));
                }
                break;
            }
            if c.now() >= deadline {
                break;
            }
            let next = (c.now() + TICK).min(deadline);
            c.run_until(next);
            progress.report("converging", c.now());
        }
    }
    obs.drain(&mut c);

    // Detection: over the nodes alive at the end that are not among the killed.
    let live: Vec<usize> =
        (0..n).filter(|&i| c.node(i).is_running() && !obs.is_killed.get(i).copied().unwrap_or(false)).collect();
    let (mut detect_first, mut detect_all, mut detected_by) = (None, None, 0usize);
    if let Some(kill_time) = obs.kill_time {
        let times: Vec<f64> = live
            .iter()
            .filter_map(|&v| obs.detected.get(v))
            .filter(|(count, _)| *count == obs.killed_count)
            .map(|(_, at)| seconds_between(kill_time, *at))
            .collect();
        detected_by = times.len();
        detect_first = times.iter().copied().reduce(f64::min);
        if detected_by == live.len() {
            detect_all = times.iter().copied().reduce(f64::max);
        }
    }

    let net_bytes = net_after.bytes - net_before.bytes;
    let net_msgs = net_after.sent - net_before.sent;
    let dissemination = obs.broadcast.as_ref().map(|b| dissemination(b, &plan.config, a.loss));
    let mut node_stats = NodeStats::default();
    for i in c.running() {
        let st = c.node(i).node.stats();
        node_stats.probes_failed += st.probes_failed;
        node_stats.pings_resent += st.pings_resent;
        node_stats.refutations += st.refutations;
        node_stats.stale_repairs += st.stale_repairs;
        node_stats.syncs_started += st.syncs_started;
        node_stats.syncs_in_sync += st.syncs_in_sync;
        node_stats.sync_replies_refused += st.sync_replies_refused;
        node_stats.dropped_replay += st.dropped_replay;
        node_stats.dropped_rate_limited += st.dropped_rate_limited;
        node_stats.dropped_other += st.dropped_malformed
            + st.dropped_oversized
            + st.dropped_version
            + st.dropped_label
            + st.dropped_auth
            + st.dropped_checksum;
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let simulated_s = c.now().as_duration().as_secs_f64();
    Ok(Report {
        nodes: n,
        seed: a.seed,
        preset: a.preset.name(),
        lifeguard: a.lifeguard.is_on(),
        encrypt: a.encrypt,
        loss: a.loss,
        kill: roles.killed.len(),
        stalling_nodes: roles.stalling.len(),
        churn_per_min: a.churn,
        window_s: a.duration,
        simulated_s,
        wall_s,
        speedup: if wall_s > 0.0 { simulated_s / wall_s } else { 0.0 },
        join_s,
        live_nodes: live.len(),
        detect_first_s: detect_first,
        detect_all_s: detect_all,
        detected_by,
        false_failed: obs.false_failed,
        false_failed_members: obs.false_failed_members.len(),
        false_suspect: obs.false_suspect,
        unavailable_failed: obs.unavailable_failed,
        partition_failed: obs.partition_failed,
        blame_window_s: plan.blame_window.as_secs_f64(),
        stalls,
        restarts,
        bytes_per_node_per_s: if node_seconds > 0.0 { net_bytes as f64 / node_seconds } else { 0.0 },
        msgs_per_node_per_s: if node_seconds > 0.0 { net_msgs as f64 / node_seconds } else { 0.0 },
        max_packet_bytes: net_after.max_packet,
        converged: converged_at_end,
        heal_converge_s,
        heal_all_live_s,
        tail_converge_s,
        dissemination,
        bootstrap: a.bootstrap,
        node_stats,
    })
}

/// Percentiles and the spread curve of the timed broadcast, next to the epidemic model.
fn dissemination(b: &BroadcastTrack, config: &Config, loss: f64) -> Dissemination {
    let targets = b.targets.iter().filter(|&&t| t).count();
    let mut times: Vec<f64> = b
        .received
        .iter()
        .zip(&b.targets)
        .filter_map(|(r, &t)| if t { r.map(|at| seconds_between(b.sent_at, at)) } else { None })
        .collect();
    times.sort_by(f64::total_cmp);
    let round = config.gossip_interval.as_secs_f64();
    let percentile = |p: f64| -> Option<f64> {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let k = ((p * targets as f64).ceil() as usize).max(1);
        times.get(k - 1).copied()
    };
    let last = times.last().copied().unwrap_or(0.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rounds = ((last / round).ceil() as usize).min(10_000);
    #[allow(clippy::cast_precision_loss)]
    let curve: Vec<(f64, f64)> = (0..=rounds)
        .map(|r| {
            let t = r as f64 * round;
            let reached = times.partition_point(|&x| x <= t + 1e-9);
            (r as f64, reached as f64 / targets.max(1) as f64)
        })
        .collect();
    // The epidemic model: fraction(x) = 1 / (1 + (N+1)·e^(−c·N·x)) with
    // c·N = fanout·(1 − loss)·0.5, x in gossip rounds; inverted for each percentile.
    #[allow(clippy::cast_precision_loss)]
    let model = |p: f64| -> f64 {
        let cn = f64::from(config.gossip_fanout) * (1.0 - loss) * 0.5;
        let n = targets as f64;
        if cn <= 0.0 { f64::INFINITY } else { ((n + 1.0) * p / (1.0 - p)).ln() / cn }
    };
    Dissemination {
        origin: b.origin,
        targets,
        reached: times.len(),
        gossip_interval_s: round,
        p50_s: percentile(0.5),
        p99_s: percentile(0.99),
        p9999_s: percentile(0.9999),
        model_p50_rounds: model(0.5),
        model_p99_rounds: model(0.99),
        model_p9999_rounds: model(0.9999),
        curve,
    }
}
