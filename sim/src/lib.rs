//! `rumor-sim`: a deterministic, virtual-time cluster of real [`rumor_core::Node`]s.
//!
//! Every node is the real protocol core; only the network and the clock are simulated. The
//! network delivers datagrams after a latency drawn per packet from a [`Delay`] distribution
//! (uniform, log-normal or Pareto, so packets reorder: [`NetStats::reordered`] counts it),
//! drops them with a per-link probability, and honours partitions. Nodes can be killed,
//! restarted with the same name, stalled (they process nothing for a while, then catch up, like
//! a process starved of CPU), asked to leave, or churned on a schedule ([`Cluster::churn`]).
//! One `seed` fixes every random choice, so a run replays exactly.
//!
//! It is a library (`no_std` + `alloc`) so tests, benchmarks, the `rumor sim` command and the
//! browser visualizer can all drive it.
//!
//! ```
//! use core::time::Duration;
//! use rumor_core::{Config, Status};
//! use rumor_sim::Cluster;
//!
//! let mut c = Cluster::new(7);
//! let ids: Vec<usize> = (0..5).map(|i| c.add_node(&format!("n{i}"), Config::lan())).collect();
//! for &i in &ids[1..] { c.join(i, &[ids[0]]); }
//! c.run_for(Duration::from_secs(10));
//! assert!(c.converged(&ids));
//! assert_eq!(c.status(ids[1], "n4"), Some(Status::Alive));
//! ```
//!
//! Large clusters: [`Cluster::bootstrap`] brings thousands of nodes to a formed, quiet cluster
//! in one step (through the nodes' real receive path), and [`Cluster::set_record_events`]
//! keeps the event log from growing with the square of the cluster size.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

extern crate alloc;

mod events;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_core::wire::{self, Addr, Message};
use rumor_core::{Config, Event, Identity, Instant, Node, Status};
use smallvec::SmallVec;

use crate::events::EventQueue;

/// How the one-way delay of each packet on a link is drawn, on top of
/// [`Link::latency_min`] and never above [`Link::latency_max`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Delay {
    /// Uniform in `[latency_min, latency_max]`: bounded jitter.
    #[default]
    Uniform,
    /// `latency_min` plus a log-normal excess with the given median and shape (`sigma`, the
    /// standard deviation of its logarithm; 0.5 is a mildly skewed LAN, 1.5 a bursty WAN).
    /// Most packets are near the median, a few are far slower.
    LogNormal {
        /// Median of the excess over `latency_min`.
        median: Duration,
        /// Spread of the logarithm of the excess.
        sigma: f64,
    },
    /// `latency_min` plus a Pareto (Lomax) excess: `scale · (U^(-1/shape) − 1)`. The tail
    /// decays polynomially: with `shape` ≤ 2 a few packets take many times the typical delay,
    /// like queues in an overloaded router. Capped at `latency_max`.
    Pareto {
        /// Typical size of the excess.
        scale: Duration,
        /// Tail index; smaller means a heavier tail. Must be positive.
        shape: f64,
    },
}

/// Network conditions of one directed link (or the default for all links).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Shortest one-way delay.
    pub latency_min: Duration,
    /// Longest one-way delay. Packets sent close together may arrive out of order whenever
    /// the delay varies.
    pub latency_max: Duration,
    /// Probability that a packet is lost (0..=1).
    pub loss: f64,
    /// How each packet's delay is drawn between the two bounds.
    pub delay: Delay,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            latency_min: Duration::from_micros(200),
            latency_max: Duration::from_millis(2),
            loss: 0.0,
            delay: Delay::Uniform,
        }
    }
}

impl Link {
    /// A link whose every packet takes exactly `latency` (so nothing reorders).
    pub fn constant(latency: Duration) -> Self {
        Link { latency_min: latency, latency_max: latency, ..Link::default() }
    }

    /// Draws one packet's one-way delay.
    pub fn sample_delay(&self, rng: &mut impl Rng) -> Duration {
        let span = self.latency_max.saturating_sub(self.latency_min);
        let excess = match self.delay {
            // Kept exactly as the original uniform draw, so seeds replay across versions.
            Delay::Uniform => return self.latency_min + span.mul_f64(rng.random::<f64>()),
            Delay::LogNormal { median, sigma } => {
                // Box–Muller; `1 - u` keeps the logarithm's argument in (0, 1].
                let u1 = 1.0 - rng.random::<f64>();
                let u2 = rng.random::<f64>();
                let normal = libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2);
                median.as_secs_f64() * libm::exp(sigma * normal)
            }
            Delay::Pareto { scale, shape } => {
                let u = 1.0 - rng.random::<f64>();
                scale.as_secs_f64() * (libm::pow(u, -1.0 / shape.max(f64::MIN_POSITIVE)) - 1.0)
            }
        };
        let excess = if excess.is_finite() { excess.clamp(0.0, span.as_secs_f64()) } else { span.as_secs_f64() };
        self.latency_min + Duration::from_secs_f64(excess).min(span)
    }
}

/// Latest arrival time of a packet in flight to each destination (by index).
type Tracker = SmallVec<[(u32, Instant); 4]>;

/// Starts loading the cache line that holds `value`: the simulator's nodes do not fit in the
/// CPU caches, and it knows which it will touch next (see [`Cluster::step`]). A no-op where the
/// target has no prefetch instruction the build may use.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse"))]
    safe_arch::prefetch_t0(value);
    #[cfg(not(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse")))]
    let _ = value;
}

/// One simulated process.
#[derive(Debug)]
pub struct SimNode {
    running: bool,
    stalled_until: Option<Instant>,
    wake_at: Option<Instant>,
    /// The protocol core.
    pub node: Node,
    /// Latest arrival time of a packet in flight to each destination (by index), to count
    /// reordering. Inline: every send reads it.
    in_flight: Tracker,
    /// Events it emitted, with the virtual time they were drained at (empty while
    /// [`Cluster::set_record_events`] is off).
    pub events: Vec<(Instant, Event)>,
    backlog: Vec<(SocketAddr, Vec<u8>)>,
    config: Config,
    name: String,
    seeds: Vec<usize>,
}

impl SimNode {
    /// Starts loading the fields an event reads (see [`Node::prefetch`]).
    fn prefetch(&self) {
        prefetch(&self.running);
        self.node.prefetch();
        // Every send reads the reorder tracker, whose length is at its end.
        prefetch(&self.in_flight);
        prefetch(&self.events);
    }

    /// Whether the process is running (not killed). Stalled nodes are running.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Whether it is stalled now.
    pub fn is_stalled(&self) -> bool {
        self.stalled_until.is_some()
    }

    /// Datagrams that arrived during the current stall and wait to be processed.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A scheduled event as the event queue holds it, in 8 bytes: the node it is for, and either
/// a wake-up's generation (tagged with [`WAKE`]) or the slot where any other action waits.
/// Wake-ups, most of them stale by the time they are due, take no slot; and the node of the
/// events ahead is known without reading their slots (to prefetch it).
#[derive(Clone, Copy, Debug)]
struct Queued {
    node: u32,
    tag: u32,
}

/// Marks a [`Queued`] wake-up; the other 31 bits are its generation.
const WAKE: u32 = 1 << 31;

impl Queued {
    fn wake(node: usize, generation: u32) -> Self {
        Queued { node: u32::try_from(node).unwrap_or(u32::MAX), tag: WAKE | generation }
    }

    fn action(node: usize, slot: u32) -> Self {
        Queued { node: u32::try_from(node).unwrap_or(u32::MAX), tag: slot & !WAKE }
    }

    /// The slot of its action; `None` for a wake-up.
    fn slot(self) -> Option<usize> {
        (self.tag & WAKE == 0).then_some(self.tag as usize)
    }
}

#[derive(Debug)]
enum Action {
    Deliver { to: usize, from: SocketAddr, bytes: Vec<u8> },
    Resume { node: usize },
    Kill { node: usize },
    Leave { node: usize },
    Restart { node: usize },
}

/// Counters of the simulated network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Dropped by random loss.
    pub lost: u64,
    /// Dropped by a partition.
    pub cut: u64,
    /// Addressed to a killed node or an unknown address.
    pub undeliverable: u64,
    /// Largest datagram seen.
    pub max_packet: usize,
    /// Datagrams scheduled to arrive before a datagram sent earlier on the same directed link
    /// (so the receiver sees them out of order).
    pub reordered: u64,
}

/// Process churn for [`Cluster::churn`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Churn {
    /// Fraction of the given nodes that restart per minute (0.01: one node in a hundred).
    /// Restarts are a Poisson process at that rate.
    pub per_minute: f64,
    /// How long a process stays down before it restarts with the same name.
    pub downtime: Duration,
    /// Whether a process leaves gracefully (and stops `leave_timeout` later) instead of
    /// crashing.
    pub graceful: bool,
}

/// One planned restart of [`Cluster::churn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChurnEvent {
    /// The node.
    pub node: usize,
    /// When it stops (or starts leaving, if graceful).
    pub stop: Instant,
    /// When the new process starts and joins its seeds.
    pub restart: Instant,
}

/// [`Cluster::bootstrap`] could not bring a node to the formed, quiet state (its
/// configuration's rate limits refused the bootstrap traffic, or its member limit is too low).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootstrapError {
    /// The node.
    pub node: usize,
    /// Live members it knows (the cluster has more).
    pub knows: usize,
    /// Updates still queued for gossip.
    pub queued: usize,
}

impl fmt::Display for BootstrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bootstrap of node {} stopped knowing {} members with {} queued", self.node, self.knows, self.queued)
    }
}

/// The address range [`Cluster::bootstrap`] sends from; nothing lives there, so the answers
/// are dropped (TEST-NET-1, RFC 5737).
const BOOTSTRAP_NET: u32 = 0xc000_0200;
/// Bootstrap packets sent from one address before moving to the next, well under the default
/// per-source burst of the rate limiter.
const BOOTSTRAP_PER_SOURCE: u32 = 256;
/// The most nodes a cluster can have: each gets its own address in 10.0.0.0/8.
pub const MAX_NODES: usize = 0x00ff_fffe;
/// Port every simulated node listens on.
const PORT: u16 = 7946;

/// A simulated cluster on virtual time.
pub struct Cluster {
    now: Instant,
    nodes: Vec<SimNode>,
    /// Per node, the generation (31 bits, wrapping) of its one valid wake-up; scheduled
    /// wakes of other generations are stale. Kept apart from the nodes so that discarding a
    /// stale wake touches 4 bytes instead of a node's state. (A stale wake would be taken
    /// for valid only after exactly 2³¹ reschedules of its node while it waits.)
    wake_gen: Vec<u32>,
    /// Scheduled events in time order, ties in scheduling order; an action other than a
    /// wake-up waits in `slots`.
    queue: EventQueue<Queued>,
    slots: Vec<Option<Action>>,
    free_slots: Vec<u32>,
    rng: ChaCha8Rng,
    default_link: Link,
    links: BTreeMap<(usize, usize), Link>,
    partition: Option<Vec<u16>>,
    buf: Vec<u8>,
    /// Datagram buffers of delivered packets, reused for new ones.
    spare: Vec<Vec<u8>>,
    outgoing: Vec<(SocketAddr, Vec<u8>)>,
    record_events: bool,
    net: NetStats,
}

impl Cluster {
    /// An empty cluster at time zero whose every random choice derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Cluster {
            now: Instant::ZERO,
            nodes: Vec::new(),
            wake_gen: Vec::new(),
            queue: EventQueue::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            default_link: Link::default(),
            links: BTreeMap::new(),
            partition: None,
            buf: vec![0; 65_536],
            spare: Vec::new(),
            outgoing: Vec::new(),
            record_events: true,
            net: NetStats::default(),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Network counters so far.
    pub fn net_stats(&self) -> NetStats {
        self.net
    }

    /// The address node `index` gets: 10.x.y.z:7946, unique per index below [`MAX_NODES`].
    pub fn addr_for(index: usize) -> SocketAddr {
        let i = u32::try_from(index).unwrap_or(u32::MAX) + 1;
        let ip = Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff));
        SocketAddr::new(IpAddr::V4(ip), PORT)
    }

    /// The node listening at `addr`, the inverse of [`Cluster::addr_for`].
    pub fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        let SocketAddr::V4(v4) = addr else { return None };
        let ip = u32::from(*v4.ip());
        if v4.port() != PORT || ip & 0xff00_0000 != 0x0a00_0000 {
            return None;
        }
        let index = usize::try_from((ip & 0x00ff_ffff).checked_sub(1)?).ok()?;
        // `add_node` keeps indices below `MAX_NODES`, where addresses are unique.
        (index < self.nodes.len()).then_some(index)
    }

    /// Whether events are appended to [`SimNode::events`] (on by default). With thousands of
    /// nodes each one's log grows with the cluster (every join is an event everywhere), so
    /// benchmarks turn it off; events are still drained from the nodes.
    pub fn set_record_events(&mut self, on: bool) {
        self.record_events = on;
    }

    /// Adds a running node that has not joined anyone yet; returns its index.
    ///
    /// # Panics
    /// If `config` or `name` is invalid (a test-script error), or the cluster already has
    /// [`MAX_NODES`] nodes.
    pub fn add_node(&mut self, name: &str, config: Config) -> usize {
        let index = self.nodes.len();
        assert!(index < MAX_NODES, "a simulated cluster has at most {MAX_NODES} nodes");
        let addr = Self::addr_for(index);
        let node = self.make_node(name, addr, config.clone());
        self.wake_gen.push(0);
        self.nodes.push(SimNode {
            node,
            events: Vec::new(),
            config,
            name: name.into(),
            seeds: Vec::new(),
            running: true,
            stalled_until: None,
            backlog: Vec::new(),
            wake_at: None,
            in_flight: SmallVec::new(),
        });
        self.drive(index);
        index
    }

    #[allow(clippy::expect_used)]
    fn make_node(&mut self, name: &str, addr: SocketAddr, config: Config) -> Node {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let identity = Identity { name: name.into(), addr, meta: Vec::new() };
        Node::new(config, identity, seed, self.now).expect("valid simulated node")
    }

    /// Node `index`.
    ///
    /// # Panics
    /// If there is no such node.
    #[allow(clippy::indexing_slicing)]
    pub fn node(&self, index: usize) -> &SimNode {
        &self.nodes[index]
    }

    /// Node `index`, mutably (to issue commands; call [`Cluster::drive`] afterwards).
    ///
    /// # Panics
    /// If there is no such node.
    #[allow(clippy::indexing_slicing)]
    pub fn node_mut(&mut self, index: usize) -> &mut SimNode {
        &mut self.nodes[index]
    }

    /// Number of nodes ever added.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `index` joins through the given seed nodes (remembered for restarts).
    pub fn join(&mut self, index: usize, seeds: &[usize]) {
        let addrs: Vec<SocketAddr> =
            seeds.iter().filter(|&&s| s < self.nodes.len()).map(|&s| Self::addr_for(s)).collect();
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(index) {
            n.seeds = seeds.to_vec();
            let _ = n.node.join(&addrs, now);
        }
        self.drive(index);
    }

    /// Gracefully leaves (the node keeps running until its leave completes).
    pub fn leave(&mut self, index: usize) {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(index) {
            let _ = n.node.leave(now);
        }
        self.drive(index);
    }

    /// Kills the process: it stops at once, without leaving.
    pub fn kill(&mut self, index: usize) {
        if let Some(n) = self.nodes.get_mut(index) {
            n.running = false;
            n.stalled_until = None;
            n.backlog.clear();
            n.wake_at = None;
            n.in_flight.clear();
        }
    }

    /// Starts a new process with the same name and address but another config (a rolling
    /// configuration change), which joins its seeds; later restarts keep the new config.
    ///
    /// # Panics
    /// If `config` is invalid (a test-script error).
    pub fn restart_with(&mut self, index: usize, config: Config) {
        if let Some(n) = self.nodes.get_mut(index) {
            n.config = config;
        }
        self.restart(index);
    }

    /// Starts a new process with the same name, address and config, which joins its seeds.
    pub fn restart(&mut self, index: usize) {
        let Some(n) = self.nodes.get(index) else { return };
        let (name, addr, config, seeds) = (n.name.clone(), Self::addr_for(index), n.config.clone(), n.seeds.clone());
        let node = self.make_node(&name, addr, config);
        if let Some(n) = self.nodes.get_mut(index) {
            n.node = node;
            n.running = true;
            n.stalled_until = None;
            n.backlog.clear();
            // Timers of the old process must not wake the new one.
            n.wake_at = None;
        }
        self.invalidate_wakes(index);
        self.join(index, &seeds);
    }

    /// Stalls the process for `duration`: it handles no packets and no timers, then handles
    /// everything that queued up at once (the Lifeguard paper's CPU-exhaustion scenario).
    /// Stalling a stalled node extends the stall if `duration` reaches further.
    pub fn stall(&mut self, index: usize, duration: Duration) {
        let until = self.now + duration;
        let Some(n) = self.nodes.get_mut(index) else { return };
        if !n.running {
            return;
        }
        let until = n.stalled_until.map_or(until, |t| t.max(until));
        n.stalled_until = Some(until);
        self.schedule(until, Action::Resume { node: index });
    }

    /// Restarts a fraction of `nodes` per minute for the next `duration`, as planned and
    /// returned here (deterministic by the cluster's seed). Each planned node stops at its
    /// time — crashes, or leaves and stops `leave_timeout` later if `churn.graceful` — and a
    /// new process with the same name starts `churn.downtime` later and joins its seeds (the
    /// ones of its last [`Cluster::join`], or given by [`Cluster::bootstrap`]). A node is
    /// not planned again while it is down.
    pub fn churn(&mut self, nodes: &[usize], churn: Churn, duration: Duration) -> Vec<ChurnEvent> {
        let mut plan = Vec::new();
        #[allow(clippy::cast_precision_loss)]
        let rate_per_sec = churn.per_minute.max(0.0) * nodes.len() as f64 / 60.0;
        if nodes.is_empty() || rate_per_sec <= 0.0 || !rate_per_sec.is_finite() {
            return plan;
        }
        let end = self.now + duration;
        let mut up_again: BTreeMap<usize, Instant> = BTreeMap::new();
        let mut t = self.now;
        loop {
            // Exponential gaps make the restarts a Poisson process.
            let gap = -libm::log(1.0 - self.rng.random::<f64>()) / rate_per_sec;
            t += Duration::from_secs_f64(gap.min(1e9));
            if t >= end {
                break;
            }
            let pick = nodes.get(self.rng.random_range(0..nodes.len())).copied();
            let Some(node) = pick.filter(|n| up_again.get(n).is_none_or(|&at| at <= t)) else { continue };
            let Some(n) = self.nodes.get(node) else { continue };
            let stop = if churn.graceful { t + n.config.leave_timeout } else { t };
            let restart = stop + churn.downtime;
            up_again.insert(node, restart);
            if churn.graceful {
                self.schedule(t, Action::Leave { node });
            }
            self.schedule(stop, Action::Kill { node });
            self.schedule(restart, Action::Restart { node });
            plan.push(ChurnEvent { node, stop: t, restart });
        }
        plan
    }

    /// Sets the conditions of every link without an override.
    pub fn set_default_link(&mut self, link: Link) {
        self.default_link = link;
    }

    /// Sets the packet loss of every link without an override.
    pub fn set_loss(&mut self, loss: f64) {
        self.default_link.loss = loss;
    }

    /// Overrides the directed link `from → to`.
    pub fn set_link(&mut self, from: usize, to: usize, link: Link) {
        self.links.insert((from, to), link);
    }

    /// Removes every link override.
    pub fn clear_links(&mut self) {
        self.links.clear();
    }

    /// Cuts the network into groups: packets only flow within a group. Nodes in no group
    /// form one more group together.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        let mut map = vec![0u16; self.nodes.len()];
        for (g, members) in groups.iter().enumerate() {
            for &i in *members {
                if let Some(slot) = map.get_mut(i) {
                    *slot = u16::try_from(g + 1).unwrap_or(u16::MAX);
                }
            }
        }
        self.partition = Some(map);
    }

    /// Removes the partition.
    pub fn heal(&mut self) {
        self.partition = None;
    }

    /// Brings the running nodes among `ids` to a formed, quiet cluster at the current time:
    /// each learns every other one, as from a full-state exchange, and its gossip of that
    /// news runs out — the state of a cluster that formed long ago and has been stable since.
    /// It costs about as much as each node handling one anti-entropy exchange, where joining
    /// node by node costs a gossip storm of `n² · retransmits` updates (hours of CPU at
    /// 10 000 nodes).
    ///
    /// It goes through the real protocol: each node receives full-state chunks (`Sync` and
    /// `Alive` messages, sealed with its primary key if it has one) and then pings, whose acks
    /// carry its queued gossip away, all with [`Node::handle_datagram`] from addresses where
    /// no node lives (192.0.2.0/24), so the answers are dropped. Those datagrams, the acks and
    /// the resulting events are not recorded and not counted in [`NetStats`]; they do count in
    /// each node's own [`Node::stats`]. Nodes without seeds get up to three others as seeds,
    /// for [`Cluster::restart`].
    ///
    /// # Errors
    /// If a node's rate limits or `max_members` refused part of it; that node and those
    /// after it are left as they are.
    pub fn bootstrap(&mut self, ids: &[usize]) -> Result<(), BootstrapError> {
        let members: Vec<usize> =
            ids.iter().copied().filter(|&i| self.nodes.get(i).is_some_and(|n| n.running)).collect();
        let mut claims: Vec<(String, u32, SocketAddr, Vec<u8>)> = Vec::with_capacity(members.len());
        for &i in &members {
            if let Some(n) = self.nodes.get(i) {
                if let Some(me) = n.node.member(&n.name) {
                    claims.push((n.name.clone(), me.incarnation, me.addr, me.meta.to_vec()));
                }
            }
        }
        let mut buf = core::mem::take(&mut self.buf);
        let mut source = 0u32;
        let mut sent_from_source = 0u32;
        let mut nonce_counter = 0u64;
        let now = self.now;
        for (k, &i) in members.iter().enumerate() {
            if self.nodes.get(i).is_some_and(|n| n.seeds.is_empty()) && members.len() > 1 {
                let seeds: Vec<usize> = (0..3.min(members.len() - 1))
                    .map(|j| members.get((k + 1 + j) % members.len()).copied().unwrap_or(i))
                    .collect();
                if let Some(n) = self.nodes.get_mut(i) {
                    n.seeds = seeds;
                }
            }
            let Some(n) = self.nodes.get_mut(i) else { continue };
            let mut next_source = || {
                if sent_from_source >= BOOTSTRAP_PER_SOURCE {
                    sent_from_source = 0;
                    source = (source + 1) % 254;
                }
                sent_from_source += 1;
                SocketAddr::new(IpAddr::V4(Ipv4Addr::from(BOOTSTRAP_NET + 1 + source)), PORT)
            };
            let config = n.node.config();
            let label = config.label.clone().into_bytes();
            let key = config.keyring.primary().cloned();
            let space = config.mtu - wire::Header::encoded_len(&label, true) - wire::TAG_LEN;
            let mut frame = |body: &[u8]| {
                let seal = key.as_ref().map(|k| {
                    nonce_counter += 1;
                    let mut nonce = [0u8; wire::NONCE_LEN];
                    for (d, s) in nonce.iter_mut().zip(b"boot".iter().chain(&nonce_counter.to_be_bytes())) {
                        *d = *s;
                    }
                    (k, nonce)
                });
                wire::encode_frame(&label, seal, body).unwrap_or_default()
            };
            // Full state, as a seed that knows everyone would answer a join.
            let mut chunks = Vec::new();
            let mut body = vec![0u8; space];
            let start = Message::Sync { from: &n.name, reply: true };
            let mut pos = 0;
            wire::encode_into(&start, &mut body, &mut pos);
            for (name, incarnation, addr, meta) in &claims {
                if *name == n.name {
                    continue;
                }
                let alive = Message::Alive { name, incarnation: *incarnation, addr: Addr::from(*addr), meta };
                if !wire::encode_into(&alive, &mut body, &mut pos) {
                    chunks.push(frame(body.get(..pos).unwrap_or_default()));
                    pos = 0;
                    wire::encode_into(&start, &mut body, &mut pos);
                    wire::encode_into(&alive, &mut body, &mut pos);
                }
            }
            chunks.push(frame(body.get(..pos).unwrap_or_default()));
            for chunk in &chunks {
                n.node.handle_datagram(now, next_source(), chunk);
                Self::discard_outputs(&mut n.node, now, &mut buf);
            }
            // Pings whose acks carry the queued gossip away, until nothing is queued. Every
            // ack takes at least one update, so this ends.
            let ping_limit = n.node.gossip_queue_len().saturating_mul(64) + 16;
            for seq in 0..ping_limit {
                if n.node.gossip_queue_len() == 0 {
                    break;
                }
                let ping = Message::Ping { seq: u32::try_from(seq).unwrap_or(u32::MAX), target: &n.name };
                let mut pos = 0;
                wire::encode_into(&ping, &mut body, &mut pos);
                let packet = frame(body.get(..pos).unwrap_or_default());
                n.node.handle_datagram(now, next_source(), &packet);
                Self::discard_outputs(&mut n.node, now, &mut buf);
            }
            let (knows, queued) = (n.node.live_members(), n.node.gossip_queue_len());
            if knows < members.len() || queued > 0 {
                self.buf = buf;
                return Err(BootstrapError { node: i, knows, queued });
            }
        }
        self.buf = buf;
        for &i in &members {
            self.drive(i);
        }
        Ok(())
    }

    fn discard_outputs(node: &mut Node, now: Instant, buf: &mut [u8]) {
        while node.poll_transmit(now, buf).is_some() {}
        while node.poll_event().is_some() {}
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.run_until(until);
    }

    /// Runs until virtual time `until`.
    pub fn run_until(&mut self, until: Instant) {
        while self.step(until) {}
        self.now = self.now.max(until);
    }

    /// Runs until `done` holds (checked every `check_every`) or `limit` passes; returns the
    /// time it first held.
    pub fn run_until_true(
        &mut self,
        limit: Duration,
        check_every: Duration,
        mut done: impl FnMut(&Cluster) -> bool,
    ) -> Option<Instant> {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return Some(self.now);
            }
            let next = (self.now + check_every).min(end);
            self.run_until(next);
        }
        done(self).then_some(self.now)
    }

    /// Processes the next scheduled action if it is due by `until`.
    fn step(&mut self, until: Instant) -> bool {
        let due = self.queue.peek().is_some_and(|at| at <= until);
        if !due {
            return false;
        }
        let Some((at, event)) = self.queue.pop() else { return false };
        // At ten thousand nodes their states do not fit in the CPU caches. The memory of
        // the event after next is prefetched in two dependent steps, each a whole event
        // ahead of the next: its node and action now, then (once they are in cache) what
        // its handling reads beyond the node.
        let second = self.queue.peek_second().filter(|&q| self.is_current(q));
        if let Some(second) = second {
            if let Some(n) = self.nodes.get(second.node as usize) {
                n.prefetch();
            }
            if let Some(action) = second.slot().and_then(|slot| self.slots.get(slot)) {
                prefetch(action);
            }
        }
        self.now = self.now.max(at);
        match event.slot() {
            // Most wakes are stale (an ack arrived before the probe timeout): decided from
            // the compact generation table without touching the node.
            None if self.is_current(event) => self.wake(event.node as usize),
            None => {}
            Some(slot) => {
                let Some(action) = self.slots.get_mut(slot).and_then(Option::take) else { return true };
                self.free_slots.push(event.tag);
                self.perform(action);
            }
        }
        if let Some(second) = second {
            self.prefetch_input(second);
        }
        true
    }

    /// Makes every wake-up queued for node `index` stale; returns the generation of the next
    /// one (31 bits, wrapping).
    fn invalidate_wakes(&mut self, index: usize) -> Option<u32> {
        let g = self.wake_gen.get_mut(index)?;
        *g = g.wrapping_add(1) & !WAKE;
        Some(*g)
    }

    /// Whether `event` is not a stale wake-up.
    fn is_current(&self, event: Queued) -> bool {
        event.slot().is_some() || self.wake_gen.get(event.node as usize) == Some(&(event.tag & !WAKE))
    }

    /// The second prefetch step for `event`, whose node and action the first step had a
    /// whole event's time to load: what its handling reads beyond the node (see
    /// [`Node::prefetch_input`]).
    fn prefetch_input(&self, event: Queued) {
        let from = match event.slot() {
            None => None,
            Some(slot) => match self.slots.get(slot) {
                Some(Some(Action::Deliver { from, .. })) => Some(from.ip()),
                _ => return,
            },
        };
        if let Some(n) = self.nodes.get(event.node as usize) {
            n.node.prefetch_input(from);
        }
    }

    fn wake(&mut self, index: usize) {
        let Some(n) = self.nodes.get_mut(index) else { return };
        if n.running && n.stalled_until.is_none() {
            n.wake_at = None;
            n.node.handle_timeout(self.now);
            self.drive(index);
        }
    }

    fn perform(&mut self, action: Action) {
        let now = self.now;
        match action {
            Action::Deliver { to, from, bytes } => {
                let Some(n) = self.nodes.get_mut(to) else { return };
                if !n.running {
                    self.net.undeliverable += 1;
                    self.recycle(bytes);
                } else if n.stalled_until.is_some() {
                    n.backlog.push((from, bytes));
                } else {
                    n.node.handle_datagram(now, from, &bytes);
                    self.recycle(bytes);
                    self.drive(to);
                }
            }
            Action::Resume { node } => {
                let Some(n) = self.nodes.get_mut(node) else { return };
                if n.running && n.stalled_until.is_some_and(|t| t <= now) {
                    n.stalled_until = None;
                    let backlog = core::mem::take(&mut n.backlog);
                    for (from, bytes) in &backlog {
                        n.node.handle_datagram(now, *from, bytes);
                    }
                    n.node.handle_timeout(now);
                    n.wake_at = None;
                    for (_, bytes) in backlog {
                        self.recycle(bytes);
                    }
                    self.drive(node);
                }
            }
            Action::Kill { node } => self.kill(node),
            Action::Leave { node } => {
                if self.nodes.get(node).is_some_and(|n| n.running) {
                    self.leave(node);
                }
            }
            Action::Restart { node } => self.restart(node),
        }
    }

    fn recycle(&mut self, mut bytes: Vec<u8>) {
        if self.spare.len() < 4096 {
            bytes.clear();
            self.spare.push(bytes);
        }
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        let node = match action {
            Action::Deliver { to: node, .. }
            | Action::Resume { node }
            | Action::Kill { node }
            | Action::Leave { node }
            | Action::Restart { node } => node,
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    *s = Some(action);
                }
                slot
            }
            None => {
                self.slots.push(Some(action));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.queue.push(at, Queued::action(node, slot));
    }

    /// Drains node `index`'s outputs into the network and its event log, and schedules its
    /// next timer. Call after issuing a command through [`Cluster::node_mut`].
    pub fn drive(&mut self, index: usize) {
        let now = self.now;
        let mut buf = core::mem::take(&mut self.buf);
        let mut outgoing = core::mem::take(&mut self.outgoing);
        let Some(n) = self.nodes.get_mut(index) else {
            self.buf = buf;
            self.outgoing = outgoing;
            return;
        };
        if !n.running || n.stalled_until.is_some() {
            self.buf = buf;
            self.outgoing = outgoing;
            return;
        }
        while let Some(t) = n.node.poll_transmit(now, &mut buf) {
            let mut bytes = self.spare.pop().unwrap_or_default();
            bytes.extend_from_slice(buf.get(..t.size).unwrap_or_default());
            outgoing.push((t.destination, bytes));
        }
        while let Some(e) = n.node.poll_event() {
            if self.record_events {
                n.events.push((now, e));
            }
        }
        let wake = n.node.poll_timeout().map(|t| t.max(now));
        let from = Self::addr_for(index);
        let reschedule = wake.is_some() && wake != n.wake_at;
        if reschedule {
            n.wake_at = wake;
        }
        self.buf = buf;
        if let (true, Some(at)) = (reschedule, wake) {
            if let Some(generation) = self.invalidate_wakes(index) {
                self.queue.push(at, Queued::wake(index, generation));
            }
        }
        for (dst, bytes) in outgoing.drain(..) {
            self.send(index, from, dst, bytes);
        }
        self.outgoing = outgoing;
    }

    /// Injects a datagram from an arbitrary address (tests of hostile input).
    pub fn inject(&mut self, to: usize, from: SocketAddr, bytes: Vec<u8>) {
        let at = self.now;
        self.schedule(at, Action::Deliver { to, from, bytes });
    }

    fn send(&mut self, from_index: usize, from: SocketAddr, dst: SocketAddr, bytes: Vec<u8>) {
        self.net.sent += 1;
        self.net.bytes += bytes.len() as u64;
        self.net.max_packet = self.net.max_packet.max(bytes.len());
        let Some(to) = self.index_of(dst) else {
            self.net.undeliverable += 1;
            self.recycle(bytes);
            return;
        };
        if let Some(p) = &self.partition {
            if p.get(from_index) != p.get(to) {
                self.net.cut += 1;
                self.recycle(bytes);
                return;
            }
        }
        let link = if self.links.is_empty() {
            self.default_link
        } else {
            self.links.get(&(from_index, to)).copied().unwrap_or(self.default_link)
        };
        if link.loss > 0.0 && self.rng.random::<f64>() < link.loss {
            self.net.lost += 1;
            self.recycle(bytes);
            return;
        }
        let at = self.now + link.sample_delay(&mut self.rng);
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(from_index) {
            // Packets still in flight from this node, by destination: one sent now that
            // arrives before an earlier one overtakes it. An entry that already arrived can
            // never count as overtaken (its arrival is not after `at`), so the list is only
            // pruned now and then, to stay short.
            if n.in_flight.len() >= 4 {
                n.in_flight.retain(|(_, arrival)| *arrival > now);
            }
            let to = u32::try_from(to).unwrap_or(u32::MAX);
            match n.in_flight.iter_mut().find(|(d, _)| *d == to) {
                Some((_, latest)) => {
                    if at < *latest {
                        self.net.reordered += 1;
                    }
                    *latest = (*latest).max(at);
                }
                None => n.in_flight.push((to, at)),
            }
        }
        self.schedule(at, Action::Deliver { to, from, bytes });
    }

    // ---- observations ---------------------------------------------------------------------

    /// The user broadcasts node `index` delivered (recorded events), as `(origin, payload)`,
    /// sorted.
    pub fn broadcasts_received(&self, index: usize) -> Vec<(String, Vec<u8>)> {
        let mut got: Vec<(String, Vec<u8>)> = self
            .node(index)
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::UserBroadcast { origin, payload } => Some((origin.clone(), payload.clone())),
                _ => None,
            })
            .collect();
        got.sort();
        got
    }

    /// How node `viewer` sees member `name` (`None`: unknown to it).
    pub fn status(&self, viewer: usize, name: &str) -> Option<Status> {
        self.nodes.get(viewer)?.node.member(name).map(|m| m.status)
    }

    /// Whether every listed node sees the same members with the same status and incarnation.
    pub fn converged(&self, viewers: &[usize]) -> bool {
        let view = |i: usize| -> Vec<(String, Status, u32)> {
            let Some(n) = self.nodes.get(i) else { return Vec::new() };
            let mut v: Vec<_> = n.node.members().map(|m| (String::from(m.name), m.status, m.incarnation)).collect();
            v.sort();
            v
        };
        let Some((&first, rest)) = viewers.split_first() else { return true };
        let reference = view(first);
        rest.iter().all(|&i| view(i) == reference)
    }

    /// Whether every listed node sees exactly the listed nodes as alive (and nobody else).
    pub fn all_alive(&self, viewers: &[usize]) -> bool {
        viewers.iter().all(|&v| {
            let Some(n) = self.nodes.get(v) else { return false };
            let alive = n.node.members().filter(|m| m.status == Status::Alive).count();
            alive == viewers.len()
                && viewers
                    .iter()
                    .all(|&o| self.nodes.get(o).is_some_and(|on| self.status(v, &on.name) == Some(Status::Alive)))
        })
    }

    /// Indices of running nodes.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes.get(i).is_some_and(|n| n.running)).collect()
    }
}
