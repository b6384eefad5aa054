//! `rumor-sim`: a deterministic, virtual-time cluster of real [`rumor_core::Node`]s.
//!
//! Every node is the real protocol core; only the network and the clock are simulated. The
//! network delivers datagrams after a latency drawn per packet (so packets reorder), drops them
//! with a per-link probability, and honours partitions. Nodes can be killed, restarted with the
//! same name, stalled (they process nothing for a while, then catch up, like a process starved
//! of CPU) or asked to leave. One `seed` fixes every random choice, so a run replays exactly.
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
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

extern crate alloc;

use alloc::collections::{BTreeMap, BinaryHeap};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rumor_core::{Config, Event, Identity, Instant, Node, Status};

/// Network conditions of one directed link (or the default for all links).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Shortest one-way delay.
    pub latency_min: Duration,
    /// Longest one-way delay; each packet's delay is uniform in `[min, max]`, so packets
    /// sent close together may arrive out of order.
    pub latency_max: Duration,
    /// Probability that a packet is lost (0..=1).
    pub loss: f64,
}

impl Default for Link {
    fn default() -> Self {
        Link { latency_min: Duration::from_micros(200), latency_max: Duration::from_millis(2), loss: 0.0 }
    }
}

/// One simulated process.
#[derive(Debug)]
pub struct SimNode {
    /// The protocol core.
    pub node: Node,
    /// Events it emitted, with the virtual time they were drained at.
    pub events: Vec<(Instant, Event)>,
    config: Config,
    name: String,
    addr: SocketAddr,
    seeds: Vec<usize>,
    running: bool,
    stalled_until: Option<Instant>,
    backlog: Vec<(SocketAddr, Vec<u8>)>,
    wake_at: Option<Instant>,
    wake_gen: u64,
}

impl SimNode {
    /// Whether the process is running (not killed). Stalled nodes are running.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Whether it is stalled now.
    pub fn is_stalled(&self) -> bool {
        self.stalled_until.is_some()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Deliver { to: usize, from: SocketAddr, bytes: Vec<u8> },
    Wake { node: usize, generation: u64 },
    Resume { node: usize },
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
}

/// A simulated cluster on virtual time.
pub struct Cluster {
    now: Instant,
    nodes: Vec<SimNode>,
    by_addr: BTreeMap<SocketAddr, usize>,
    queue: BinaryHeap<Reverse<(Instant, u64, Action)>>,
    next_seq: u64,
    rng: ChaCha8Rng,
    default_link: Link,
    links: BTreeMap<(usize, usize), Link>,
    partition: Option<Vec<u16>>,
    buf: Vec<u8>,
    net: NetStats,
}

impl Cluster {
    /// An empty cluster at time zero whose every random choice derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Cluster {
            now: Instant::ZERO,
            nodes: Vec::new(),
            by_addr: BTreeMap::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            default_link: Link::default(),
            links: BTreeMap::new(),
            partition: None,
            buf: vec![0; 65_536],
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

    /// The address node `index` gets: 10.x.y.z:7946, unique per index.
    pub fn addr_for(index: usize) -> SocketAddr {
        let i = u32::try_from(index).unwrap_or(u32::MAX) + 1;
        let ip = Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff));
        SocketAddr::new(IpAddr::V4(ip), 7946)
    }

    /// Adds a running node that has not joined anyone yet; returns its index.
    ///
    /// # Panics
    /// If `config` or `name` is invalid (a test-script error).
    pub fn add_node(&mut self, name: &str, config: Config) -> usize {
        let index = self.nodes.len();
        let addr = Self::addr_for(index);
        let node = self.make_node(name, addr, config.clone());
        self.by_addr.insert(addr, index);
        self.nodes.push(SimNode {
            node,
            events: Vec::new(),
            config,
            name: name.into(),
            addr,
            seeds: Vec::new(),
            running: true,
            stalled_until: None,
            backlog: Vec::new(),
            wake_at: None,
            wake_gen: 0,
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
        let addrs: Vec<SocketAddr> = seeds.iter().filter_map(|&s| self.nodes.get(s).map(|n| n.addr)).collect();
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
        }
    }

    /// Starts a new process with the same name, address and config, which joins its seeds.
    pub fn restart(&mut self, index: usize) {
        let Some(n) = self.nodes.get(index) else { return };
        let (name, addr, config, seeds) = (n.name.clone(), n.addr, n.config.clone(), n.seeds.clone());
        let node = self.make_node(&name, addr, config);
        if let Some(n) = self.nodes.get_mut(index) {
            n.node = node;
            n.running = true;
            n.stalled_until = None;
            n.backlog.clear();
        }
        self.join(index, &seeds);
    }

    /// Stalls the process for `duration`: it handles no packets and no timers, then handles
    /// everything that queued up at once (the Lifeguard paper's CPU-exhaustion scenario).
    pub fn stall(&mut self, index: usize, duration: Duration) {
        let until = self.now + duration;
        let Some(n) = self.nodes.get_mut(index) else { return };
        if !n.running {
            return;
        }
        n.stalled_until = Some(until);
        self.schedule(until, Action::Resume { node: index });
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
        let due = matches!(self.queue.peek(), Some(Reverse((at, _, _))) if *at <= until);
        if !due {
            return false;
        }
        let Some(Reverse((at, _, action))) = self.queue.pop() else { return false };
        self.now = self.now.max(at);
        let now = self.now;
        match action {
            Action::Deliver { to, from, bytes } => {
                let Some(n) = self.nodes.get_mut(to) else { return true };
                if !n.running {
                    self.net.undeliverable += 1;
                } else if n.stalled_until.is_some() {
                    n.backlog.push((from, bytes));
                } else {
                    n.node.handle_datagram(now, from, &bytes);
                    self.drive(to);
                }
            }
            Action::Wake { node, generation } => {
                let Some(n) = self.nodes.get_mut(node) else { return true };
                if n.running && n.stalled_until.is_none() && n.wake_gen == generation {
                    n.wake_at = None;
                    n.node.handle_timeout(now);
                    self.drive(node);
                }
            }
            Action::Resume { node } => {
                let Some(n) = self.nodes.get_mut(node) else { return true };
                if n.running && n.stalled_until.is_some_and(|t| t <= now) {
                    n.stalled_until = None;
                    for (from, bytes) in core::mem::take(&mut n.backlog) {
                        n.node.handle_datagram(now, from, &bytes);
                    }
                    n.node.handle_timeout(now);
                    n.wake_at = None;
                    self.drive(node);
                }
            }
        }
        true
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        self.next_seq += 1;
        self.queue.push(Reverse((at, self.next_seq, action)));
    }

    /// Drains node `index`'s outputs into the network and its event log, and schedules its
    /// next timer. Call after issuing a command through [`Cluster::node_mut`].
    pub fn drive(&mut self, index: usize) {
        let now = self.now;
        let mut buf = core::mem::take(&mut self.buf);
        let mut outgoing = Vec::new();
        let Some(n) = self.nodes.get_mut(index) else { return };
        if !n.running || n.stalled_until.is_some() {
            self.buf = buf;
            return;
        }
        while let Some(t) = n.node.poll_transmit(now, &mut buf) {
            outgoing.push((t.destination, buf.get(..t.size).unwrap_or_default().to_vec()));
        }
        while let Some(e) = n.node.poll_event() {
            n.events.push((now, e));
        }
        let wake = n.node.poll_timeout().map(|t| t.max(now));
        let from = n.addr;
        let reschedule = wake.is_some() && wake != n.wake_at;
        if reschedule {
            n.wake_at = wake;
            n.wake_gen += 1;
        }
        let generation = n.wake_gen;
        self.buf = buf;
        if let (true, Some(at)) = (reschedule, wake) {
            self.schedule(at, Action::Wake { node: index, generation });
        }
        for (dst, bytes) in outgoing {
            self.send(index, from, dst, bytes);
        }
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
        let Some(&to) = self.by_addr.get(&dst) else {
            self.net.undeliverable += 1;
            return;
        };
        if let Some(p) = &self.partition {
            if p.get(from_index) != p.get(to) {
                self.net.cut += 1;
                return;
            }
        }
        let link = self.links.get(&(from_index, to)).copied().unwrap_or(self.default_link);
        if link.loss > 0.0 && self.rng.random::<f64>() < link.loss {
            self.net.lost += 1;
            return;
        }
        let span = link.latency_max.saturating_sub(link.latency_min);
        let delay = link.latency_min + span.mul_f64(self.rng.random::<f64>());
        let at = self.now + delay;
        self.schedule(at, Action::Deliver { to, from, bytes });
    }

    // ---- observations ---------------------------------------------------------------------

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
