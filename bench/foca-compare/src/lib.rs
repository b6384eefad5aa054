//! foca (Caio's sans-IO SWIM crate, from crates.io) on a virtual-time network that mirrors
//! `rumor sim`'s, so that `docs/eval/foca-comparison.md` compares the two protocols on one
//! scenario rather than two harnesses.
//!
//! What mirrors what (`native-node/src/simulate/scenario.rs` and `sim/src/lib.rs`):
//!
//! - **Network**: every datagram handed to the network is counted (bytes, datagrams, largest),
//!   then lost with probability `loss` (one draw per packet, as `Cluster::send`), else delivered
//!   after a one-way delay uniform in `[latency_min, latency_max]` (`Delay::Uniform`, default
//!   0.2–2 ms, so packets reorder). A datagram to a crashed node is counted and dropped.
//! - **Start**: a *preseeded* cluster, the analogue of `rumor sim --bootstrap`: each node is
//!   handed every other member as `Alive` through foca's `apply_many` without re-broadcasting
//!   it, so it starts formed and quiet. Each node's first timers are shifted by a random offset
//!   below one probe period, as if the processes had started at different moments (Rumor's
//!   bootstrap staggers its nodes too; a lockstep start would synchronise every probe).
//! - **Phases**: loss is switched on after the bootstrap; a settle phase (nothing measured);
//!   the measured window, in which `kill` nodes (never node 0, chosen by a seeded shuffle of
//!   the others, as `rumor sim` does) crash at `kill_at` seconds into the window.
//! - **Measures**, with `rumor sim --json`'s field names where they mean the same:
//!   `detect_first_s` / `detect_all_s` / `detected_by` from each live node's `MemberDown`
//!   notification about the crashed node; `false_failed` = `MemberDown` notifications in the
//!   window about live nodes, counted per observing node; `false_suspect` = transitions of a
//!   live member to `Suspect` in some node's view during the window (foca has no suspicion
//!   notification: see [`Sim::scan_suspects`]); traffic over the window's node-seconds.
//!
//! Everything random derives from the seed, so a seed replays the same run.

use std::cell::Cell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::num::NonZeroU32;
use std::rc::Rc;
use std::time::Instant as Wall;

use bytes::{Buf, BufMut};
use foca::{
    AccumulatingRuntime, Codec, Config, Foca, Header, Member, Message, NoCustomBroadcast, OwnedNotification,
    PeriodicParams, PostcardCodec, State, Timer,
};
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

/// The port every simulated node listens on (`rumor-sim` uses the same).
const PORT: u16 = 7946;
/// The first identity's `bump`: seconds since the epoch, as foca's UDP example starts it, so
/// identities encode to the size they would have in practice.
const FIRST_BUMP: u64 = 1_765_000_000;
/// Salt that separates the scenario's random choices from the network's.
const PLAN_SALT: u64 = 0x5eed_0f5c_e7a2_1000;
/// Salt of each node's own random generator.
const NODE_SALT: u64 = 0x0f0c_a5ee_d000_0000;
/// Nanoseconds per second.
const NS: f64 = 1e9;

/// Timing configuration of every foca node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// `Config::new_lan(cluster_size)`: memberlist's LAN defaults.
    Lan,
    /// `Config::new_wan(cluster_size)`: memberlist's WAN defaults.
    Wan,
}

impl Preset {
    /// foca's configuration for a cluster of `nodes`.
    pub fn config(self, nodes: u32) -> Config {
        let size = NonZeroU32::new(nodes.max(1)).unwrap_or(NonZeroU32::MIN);
        match self {
            Preset::Lan => Config::new_lan(size),
            Preset::Wan => Config::new_wan(size),
        }
    }

    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Lan => "lan",
            Preset::Wan => "wan",
        }
    }
}

/// One scenario (the flags of `foca-sim`).
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of nodes.
    pub nodes: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// foca's timing preset.
    pub preset: Preset,
    /// Packet loss probability, from the settle phase on.
    pub loss: f64,
    /// Shortest one-way delay, in milliseconds.
    pub latency_min_ms: f64,
    /// Longest one-way delay, in milliseconds.
    pub latency_max_ms: f64,
    /// Settle phase, in seconds.
    pub settle: f64,
    /// Measured window, in seconds.
    pub duration: f64,
    /// Nodes that crash.
    pub kill: u32,
    /// When they crash, in seconds into the window.
    pub kill_at: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 100,
            seed: 1,
            preset: Preset::Lan,
            loss: 0.0,
            latency_min_ms: 0.2,
            latency_max_ms: 2.0,
            settle: 30.0,
            duration: 90.0,
            kill: 1,
            kill_at: 20.0,
        }
    }
}

impl Options {
    /// Checks the options against each other; the error names the flag.
    pub fn check(&self) -> Result<(), String> {
        let finite = [self.loss, self.latency_min_ms, self.latency_max_ms, self.settle, self.duration, self.kill_at];
        if finite.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err("every number must be finite and not negative".to_owned());
        }
        if self.nodes < 2 {
            return Err(format!("--nodes {} must be at least 2", self.nodes));
        }
        if self.loss > 1.0 {
            return Err(format!("--loss {} must be between 0 and 1", self.loss));
        }
        if self.latency_min_ms > self.latency_max_ms {
            return Err(format!(
                "--latency-min-ms {} must not exceed --latency-max-ms {}",
                self.latency_min_ms, self.latency_max_ms
            ));
        }
        if self.kill + 2 > self.nodes {
            return Err(format!("--kill {} leaves fewer than two live nodes out of --nodes {}", self.kill, self.nodes));
        }
        if self.kill > 0 && self.kill_at >= self.duration {
            return Err(format!("--kill-at {} must be less than --duration {}", self.kill_at, self.duration));
        }
        if self.duration <= 0.0 {
            return Err("--duration must be positive".to_owned());
        }
        Ok(())
    }
}

/// foca's timing constants, as the report prints them.
#[derive(Clone, Debug, Serialize)]
pub struct FocaConstants {
    /// Time between two probes.
    pub probe_period_s: f64,
    /// How long a probe waits for a direct ack before the indirect probes.
    pub probe_rtt_s: f64,
    /// Members asked to probe indirectly.
    pub num_indirect_probes: usize,
    /// The fixed suspicion timeout: a suspect not refuted by then is declared down.
    pub suspect_to_down_after_s: f64,
    /// Times each update is sent.
    pub max_transmissions: u8,
    /// Largest datagram.
    pub max_packet_size: usize,
    /// Whether members declared down are told so (`TurnUndead`).
    pub notify_down_members: bool,
    /// `[period_s, members]` of the periodic gossip (sent only while updates are queued).
    pub periodic_gossip: Option<(f64, usize)>,
    /// `[period_s, members]` of the periodic announce (answered with a `Feed` of members).
    pub periodic_announce: Option<(f64, usize)>,
    /// `[period_s, members]` of the announce to members that are down.
    pub periodic_announce_to_down_members: Option<(f64, usize)>,
    /// How long a down member is remembered.
    pub remove_down_after_s: Option<f64>,
}

impl FocaConstants {
    fn of(c: &Config) -> Self {
        let periodic =
            |p: &Option<PeriodicParams>| p.as_ref().map(|p| (p.frequency.as_secs_f64(), p.num_members.get()));
        FocaConstants {
            probe_period_s: c.probe_period.as_secs_f64(),
            probe_rtt_s: c.probe_rtt.as_secs_f64(),
            num_indirect_probes: c.num_indirect_probes.get(),
            suspect_to_down_after_s: c.suspect_to_down_after.as_secs_f64(),
            max_transmissions: c.max_transmissions.get(),
            max_packet_size: c.max_packet_size.get(),
            notify_down_members: c.notify_down_members,
            periodic_gossip: periodic(&c.periodic_gossip),
            periodic_announce: periodic(&c.periodic_announce),
            periodic_announce_to_down_members: periodic(&c.periodic_announce_to_down_members),
            remove_down_after_s: c.remove_down_after.map(|d| d.as_secs_f64()),
        }
    }
}

/// The outcome of one run, with `rumor sim --json`'s field names where they mean the same.
/// Times are simulated seconds unless named `wall_s`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always `"foca"`.
    pub implementation: &'static str,
    /// The foca version this was built against.
    pub foca_version: &'static str,
    /// Nodes started.
    pub nodes: usize,
    /// The seed.
    pub seed: u64,
    /// foca's preset (`lan` = `Config::new_lan(nodes)`).
    pub preset: &'static str,
    /// foca's timing constants.
    pub config: FocaConstants,
    /// Packet loss from the settle phase on.
    pub loss: f64,
    /// Nodes crashed in the window.
    pub kill: usize,
    /// Length of the measured window.
    pub window_s: f64,
    /// Virtual time simulated in total.
    #[serde(serialize_with = "round3")]
    pub simulated_s: f64,
    /// Wall-clock time of the run.
    #[serde(serialize_with = "round3")]
    pub wall_s: f64,
    /// `simulated_s / wall_s`.
    #[serde(serialize_with = "round1")]
    pub speedup: f64,
    /// Always true: the cluster starts preseeded (`rumor sim --bootstrap`).
    pub bootstrap: bool,
    /// Nodes running at the end, the killed ones excluded.
    pub live_nodes: usize,
    /// From the crash until the first live node had marked every killed node down.
    #[serde(serialize_with = "round3_opt")]
    pub detect_first_s: Option<f64>,
    /// From the crash until every live node had; `null` if some never did.
    #[serde(serialize_with = "round3_opt")]
    pub detect_all_s: Option<f64>,
    /// Live nodes that marked every killed node down.
    pub detected_by: usize,
    /// `MemberDown` notifications in the window about live nodes, one per observing node.
    pub false_failed: u64,
    /// Distinct live nodes those notifications were about.
    pub false_failed_members: usize,
    /// Transitions of a live member to `Suspect` in some node's view during the window (one
    /// per observing node and suspicion, like Rumor's `MemberSuspect` events).
    pub false_suspect: u64,
    /// Times a live node learnt it had been declared down and rejoined under a renewed
    /// identity (foca's `Rejoin` notification) during the window.
    pub rejoins: u64,
    /// Bytes handed to the network per running node per second over the window.
    #[serde(serialize_with = "round1")]
    pub bytes_per_node_per_s: f64,
    /// Datagrams handed to the network per running node per second over the window.
    #[serde(serialize_with = "round3")]
    pub msgs_per_node_per_s: f64,
    /// Largest datagram of the whole run.
    pub max_packet_bytes: usize,
    /// The window's traffic by foca message kind: `[datagrams, bytes]` per node per second.
    pub traffic_by_message: BTreeMap<&'static str, (f64, f64)>,
    /// Errors foca returned from `handle_data` / `handle_timer` during the whole run.
    pub foca_errors: u64,
}

fn round(v: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn round1<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 10.0).round() / 10.0)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn round3<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1000.0).round() / 1000.0)
}

#[allow(clippy::ref_option)]
fn round3_opt<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => round3(v, s),
        None => s.serialize_none(),
    }
}

/// A member's identity: its address plus a counter that `renew` bumps, so a node declared
/// down rejoins at once under a new identity (foca's UDP example does the same).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Id {
    addr: SocketAddr,
    bump: u64,
}

impl foca::Identity for Id {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(Id { addr: self.addr, bump: self.bump.wrapping_add(1) })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.bump > adversary.bump
    }
}

/// The address of node `index` (as `rumor_sim::Cluster::addr_for`).
fn addr_for(index: usize) -> SocketAddr {
    let i = u32::try_from(index).unwrap_or(u32::MAX).wrapping_add(1);
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff)), PORT))
}

/// The node at `addr`, the inverse of [`addr_for`].
fn index_of(addr: &SocketAddr, nodes: usize) -> Option<usize> {
    let SocketAddr::V4(a) = addr else { return None };
    let i = (u32::from(*a.ip()) & 0x00ff_ffff).checked_sub(1)? as usize;
    (i < nodes).then_some(i)
}

/// foca's postcard codec, plus a flag raised whenever it decodes an update saying some member
/// is `Suspect`: the only moments (besides a failed probe of one's own) at which a node's view
/// can turn a member suspect, so the harness looks at that node's view only then.
struct Watch {
    inner: PostcardCodec,
    saw_suspect: Rc<Cell<bool>>,
}

impl Codec<Id> for Watch {
    type Error = <PostcardCodec as Codec<Id>>::Error;

    fn encode_header(&mut self, header: &Header<Id>, buf: impl BufMut) -> Result<(), Self::Error> {
        self.inner.encode_header(header, buf)
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<Header<Id>, Self::Error> {
        self.inner.decode_header(buf)
    }

    fn encode_member(&mut self, member: &Member<Id>, buf: impl BufMut) -> Result<(), Self::Error> {
        self.inner.encode_member(member, buf)
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<Member<Id>, Self::Error> {
        let m = self.inner.decode_member(buf)?;
        if m.state() == State::Suspect {
            self.saw_suspect.set(true);
        }
        Ok(m)
    }
}

type Node = Foca<Id, Watch, ChaCha8Rng, NoCustomBroadcast>;

/// One simulated process.
struct Process {
    foca: Node,
    running: bool,
    saw_suspect: Rc<Cell<bool>>,
    /// The suspicion (identity `bump`, incarnation) this node's view holds about each member,
    /// as last seen by [`Sim::scan_suspects`].
    suspects: Vec<Option<(u64, u16)>>,
}

enum Kind {
    Deliver { to: usize, data: Vec<u8> },
    Timer { node: usize, timer: Timer<Id> },
}

/// A scheduled event; ties are broken by scheduling order, so foca's timers fire in the order
/// they were submitted (foca relies on that, its issue 26).
struct Event {
    at: u64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// What the run observes.
#[derive(Default)]
struct Observer {
    window: Option<(u64, u64)>,
    kill_time: Option<u64>,
    is_killed: Vec<bool>,
    detections: HashSet<(usize, usize)>,
    /// Per viewer: killed nodes it marked down, and when it marked the last one.
    detected: Vec<(usize, u64)>,
    false_failed: u64,
    false_failed_members: HashSet<usize>,
    false_suspect: u64,
    rejoins: u64,
}

impl Observer {
    fn in_window(&self, at: u64) -> bool {
        self.window.is_some_and(|(s, e)| at >= s && at <= e)
    }

    fn killed(&self, i: usize) -> bool {
        self.is_killed.get(i).copied().unwrap_or(false)
    }

    fn member_down(&mut self, viewer: usize, subject: usize, at: u64) {
        if self.killed(subject) && self.kill_time.is_some_and(|k| at >= k) {
            if self.detections.insert((viewer, subject))
                && let Some(d) = self.detected.get_mut(viewer)
            {
                d.0 += 1;
                d.1 = d.1.max(at);
            }
            return;
        }
        if self.in_window(at) {
            self.false_failed += 1;
            self.false_failed_members.insert(subject);
        }
    }

    fn suspected(&mut self, subject: usize, at: u64) {
        let after_kill = self.kill_time.is_some_and(|k| at >= k);
        if self.in_window(at) && !(self.killed(subject) && after_kill) {
            self.false_suspect += 1;
        }
    }
}

/// The network, the processes and the clock.
struct Sim {
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Event>>,
    procs: Vec<Process>,
    rng: ChaCha8Rng,
    latency_min: u64,
    latency_max: u64,
    loss: f64,
    rt: AccumulatingRuntime<Id>,
    sent: u64,
    bytes: u64,
    max_packet: usize,
    /// Datagrams and bytes by message kind, counted only during the window.
    by_message: BTreeMap<&'static str, (u64, u64)>,
    errors: u64,
    obs: Observer,
}

/// The name of a datagram's message kind (its header says).
fn message_kind(data: &[u8]) -> &'static str {
    match PostcardCodec.decode_header(data).map(|h: Header<Id>| h.message) {
        Ok(Message::Ping(_)) => "ping",
        Ok(Message::Ack(_)) => "ack",
        Ok(Message::PingReq { .. }) => "ping_req",
        Ok(Message::IndirectPing { .. }) => "indirect_ping",
        Ok(Message::IndirectAck { .. }) => "indirect_ack",
        Ok(Message::ForwardedAck { .. }) => "forwarded_ack",
        Ok(Message::Gossip) => "gossip",
        Ok(Message::Announce) => "announce",
        Ok(Message::Feed) => "feed",
        Ok(Message::Broadcast) => "broadcast",
        Ok(Message::TurnUndead) => "turn_undead",
        Err(_) => "undecodable",
    }
}

impl Sim {
    fn schedule(&mut self, at: u64, kind: Kind) {
        self.seq += 1;
        self.queue.push(Reverse(Event { at, seq: self.seq, kind }));
    }

    /// Hands what node `index` just produced to the network, the clock and the observer.
    fn flush(&mut self, index: usize, result: Result<(), foca::Error>) {
        if result.is_err() {
            self.errors += 1;
        }
        let n = self.procs.len();
        while let Some((dst, data)) = self.rt.to_send() {
            // Counted when handed to the network, whatever becomes of it (`Cluster::send`).
            self.sent += 1;
            self.bytes += data.len() as u64;
            self.max_packet = self.max_packet.max(data.len());
            if self.obs.in_window(self.now) {
                let e = self.by_message.entry(message_kind(&data)).or_default();
                e.0 += 1;
                e.1 += data.len() as u64;
            }
            if self.loss > 0.0 && self.rng.random::<f64>() < self.loss {
                continue;
            }
            let Some(to) = index_of(&dst.addr, n) else { continue };
            let span = self.latency_max - self.latency_min;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let delay = self.latency_min + (span as f64 * self.rng.random::<f64>()) as u64;
            self.schedule(self.now + delay, Kind::Deliver { to, data: data.to_vec() });
        }
        let mut suspected = false;
        while let Some((after, timer)) = self.rt.to_schedule() {
            // A failed probe of this node's own turned the member suspect.
            suspected |= matches!(timer, Timer::ChangeSuspectToDown { .. });
            let at = self.now + u64::try_from(after.as_nanos()).unwrap_or(u64::MAX / 2);
            self.schedule(at, Kind::Timer { node: index, timer });
        }
        while let Some(note) = self.rt.to_notify() {
            match note {
                OwnedNotification::MemberDown(id) => {
                    if let Some(subject) = index_of(&id.addr, n) {
                        self.obs.member_down(index, subject, self.now);
                    }
                }
                OwnedNotification::Rejoin(_) if self.obs.in_window(self.now) => self.obs.rejoins += 1,
                _ => {}
            }
        }
        let decoded = self.procs.get(index).is_some_and(|p| p.saw_suspect.replace(false));
        if suspected || decoded {
            self.scan_suspects(index);
        }
    }

    /// foca has no notification for a suspicion, so the harness compares node `index`'s view
    /// (`iter_membership_state`) with the suspicions it last saw there and counts each new one.
    /// A suspicion is named by the member's identity and incarnation: a refuted member that is
    /// suspected again carries a higher incarnation, so no suspicion is missed or counted twice
    /// even if the view is not looked at in between.
    fn scan_suspects(&mut self, index: usize) {
        let n = self.procs.len();
        let now = self.now;
        let Some(p) = self.procs.get_mut(index) else { return };
        let mut new = Vec::new();
        for m in p.foca.iter_membership_state() {
            let Some(subject) = index_of(&m.id().addr, n) else { continue };
            let Some(slot) = p.suspects.get_mut(subject) else { continue };
            if m.state() == State::Suspect {
                let key = (m.id().bump, m.incarnation());
                if *slot != Some(key) {
                    *slot = Some(key);
                    new.push(subject);
                }
            } else {
                *slot = None;
            }
        }
        for subject in new {
            self.obs.suspected(subject, now);
        }
    }

    fn handle(&mut self, event: Event) {
        self.now = event.at;
        match event.kind {
            Kind::Deliver { to, data } => {
                let Some(p) = self.procs.get_mut(to).filter(|p| p.running) else { return };
                let r = p.foca.handle_data(&data, &mut self.rt);
                self.flush(to, r);
            }
            Kind::Timer { node, timer } => {
                let Some(p) = self.procs.get_mut(node).filter(|p| p.running) else { return };
                let r = p.foca.handle_timer(timer, &mut self.rt);
                self.flush(node, r);
            }
        }
    }

    fn run_until(&mut self, t: u64) {
        while self.queue.peek().is_some_and(|Reverse(e)| e.at <= t) {
            if let Some(Reverse(e)) = self.queue.pop() {
                self.handle(e);
            }
        }
        self.now = self.now.max(t);
    }

    fn running(&self) -> usize {
        self.procs.iter().filter(|p| p.running).count()
    }
}

fn ns(seconds: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let v = (seconds.clamp(0.0, 1e9) * NS).round() as u64;
    v
}

/// Runs one scenario.
pub fn run(o: &Options) -> Result<Report, String> {
    o.check()?;
    let wall = Wall::now();
    let n = o.nodes as usize;
    let config = o.preset.config(o.nodes);
    let constants = FocaConstants::of(&config);
    let ids: Vec<Id> = (0..n).map(|i| Id { addr: addr_for(i), bump: FIRST_BUMP }).collect();

    // Who crashes: a seeded shuffle of every node but node 0, as `rumor sim` chooses.
    let mut plan_rng = ChaCha8Rng::seed_from_u64(o.seed ^ PLAN_SALT);
    let mut others: Vec<usize> = (1..n).collect();
    others.shuffle(&mut plan_rng);
    let killed: Vec<usize> = others.iter().copied().take(o.kill as usize).collect();

    let mut sim = Sim {
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        procs: Vec::with_capacity(n),
        rng: ChaCha8Rng::seed_from_u64(o.seed),
        latency_min: ns(o.latency_min_ms / 1000.0),
        latency_max: ns(o.latency_max_ms / 1000.0),
        loss: 0.0,
        rt: AccumulatingRuntime::new(),
        sent: 0,
        bytes: 0,
        max_packet: 0,
        by_message: BTreeMap::new(),
        errors: 0,
        obs: Observer { is_killed: vec![false; n], detected: vec![(0, 0); n], ..Observer::default() },
    };
    for &k in &killed {
        if let Some(s) = sim.obs.is_killed.get_mut(k) {
            *s = true;
        }
    }

    // The preseeded cluster: every node learns every other as alive, without gossiping it.
    let period = ns(config.probe_period.as_secs_f64());
    for (i, id) in ids.iter().enumerate() {
        let saw_suspect = Rc::new(Cell::new(false));
        let codec = Watch { inner: PostcardCodec, saw_suspect: Rc::clone(&saw_suspect) };
        let rng = ChaCha8Rng::seed_from_u64(o.seed ^ NODE_SALT ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut foca = Foca::new(id.clone(), config.clone(), rng, codec);
        let members = ids.iter().filter(|m| *m != id).cloned().map(Member::alive);
        let r = foca.apply_many(members, false, &mut sim.rt);
        if r.is_err() {
            sim.errors += 1;
        }
        // Nothing to send (no broadcast); drop the MemberUp notifications; the first timers
        // (probe, periodic gossip and announces) are shifted by this node's start offset.
        while sim.rt.to_send().is_some() {}
        while sim.rt.to_notify().is_some() {}
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let offset = (period as f64 * sim.rng.random::<f64>()) as u64;
        while let Some((after, timer)) = sim.rt.to_schedule() {
            let at = offset + u64::try_from(after.as_nanos()).unwrap_or(u64::MAX / 2);
            sim.schedule(at, Kind::Timer { node: i, timer });
        }
        sim.procs.push(Process { foca, running: true, saw_suspect, suspects: vec![None; n] });
    }

    // Settle with loss on.
    sim.loss = o.loss;
    let t0 = ns(o.settle);
    sim.run_until(t0);

    // The window.
    let end = t0 + ns(o.duration);
    sim.obs.window = Some((t0, end));
    let (sent0, bytes0) = (sim.sent, sim.bytes);
    let mut node_seconds = 0.0;
    let mut last = t0;
    if !killed.is_empty() {
        let kill_time = t0 + ns(o.kill_at);
        sim.run_until(kill_time);
        #[allow(clippy::cast_precision_loss)]
        let running = sim.running() as f64;
        node_seconds += running * (kill_time - last) as f64 / NS;
        last = kill_time;
        for &k in &killed {
            if let Some(p) = sim.procs.get_mut(k) {
                p.running = false;
            }
        }
        sim.obs.kill_time = Some(kill_time);
    }
    sim.run_until(end);
    #[allow(clippy::cast_precision_loss)]
    let running = sim.running() as f64;
    #[allow(clippy::cast_precision_loss)]
    {
        node_seconds += running * (end - last) as f64 / NS;
    }

    // Detection, over the live nodes.
    let live: Vec<usize> = (0..n).filter(|&i| sim.procs.get(i).is_some_and(|p| p.running)).collect();
    let (mut detect_first, mut detect_all, mut detected_by) = (None, None, 0usize);
    if let Some(kill_time) = sim.obs.kill_time {
        #[allow(clippy::cast_precision_loss)]
        let times: Vec<f64> = live
            .iter()
            .filter_map(|&v| sim.obs.detected.get(v))
            .filter(|(count, _)| *count == killed.len())
            .map(|(_, at)| (at - kill_time) as f64 / NS)
            .collect();
        detected_by = times.len();
        detect_first = times.iter().copied().reduce(f64::min);
        if detected_by == live.len() {
            detect_all = times.iter().copied().reduce(f64::max);
        }
    }
    let wall_s = wall.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let simulated_s = end as f64 / NS;
    #[allow(clippy::cast_precision_loss)]
    let per_node_second = |v: u64| if node_seconds > 0.0 { v as f64 / node_seconds } else { 0.0 };
    Ok(Report {
        implementation: "foca",
        foca_version: FOCA_VERSION,
        nodes: n,
        seed: o.seed,
        preset: o.preset.name(),
        config: constants,
        loss: o.loss,
        kill: killed.len(),
        window_s: o.duration,
        simulated_s,
        wall_s,
        speedup: if wall_s > 0.0 { simulated_s / wall_s } else { 0.0 },
        bootstrap: true,
        live_nodes: live.len(),
        detect_first_s: detect_first,
        detect_all_s: detect_all,
        detected_by,
        false_failed: sim.obs.false_failed,
        false_failed_members: sim.obs.false_failed_members.len(),
        false_suspect: sim.obs.false_suspect,
        rejoins: sim.obs.rejoins,
        bytes_per_node_per_s: per_node_second(sim.bytes - bytes0),
        msgs_per_node_per_s: per_node_second(sim.sent - sent0),
        max_packet_bytes: sim.max_packet,
        traffic_by_message: sim
            .by_message
            .iter()
            .map(|(k, &(d, b))| (*k, (round(per_node_second(d), 3), round(per_node_second(b), 1))))
            .collect(),
        foca_errors: sim.errors,
    })
}

/// The foca version `Cargo.toml` asks for.
pub const FOCA_VERSION: &str = "2.0.0";

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: without loss every live node must learn of a crash, and nobody
    /// live may be declared down or suspected.
    #[test]
    fn a_crash_is_detected_by_every_live_node_without_loss() {
        let o = Options { nodes: 20, seed: 7, settle: 2.0, duration: 15.0, kill_at: 2.0, ..Options::default() };
        let r = run(&o).expect("valid options");
        assert_eq!(r.live_nodes, 19);
        assert_eq!(r.detected_by, 19, "{r:?}");
        let all = r.detect_all_s.expect("every live node detects");
        // One probe round to find it, the fixed suspicion timeout (4 × log10(20) s), gossip.
        assert!(all >= r.config.suspect_to_down_after_s && all < 12.0, "{all}");
        assert_eq!((r.false_failed, r.false_suspect, r.rejoins), (0, 0, 0), "{r:?}");
        assert!(r.msgs_per_node_per_s > 1.0 && r.bytes_per_node_per_s > 0.0, "{r:?}");
        assert_eq!(r.foca_errors, 0, "{r:?}");
    }

    /// A seed replays the same run (only the wall-clock fields differ), loss included.
    #[test]
    fn a_seed_replays_the_same_run() {
        let o =
            Options { nodes: 20, seed: 3, loss: 0.2, settle: 2.0, duration: 10.0, kill_at: 2.0, ..Options::default() };
        let json = |mut r: Report| {
            r.wall_s = 0.0;
            r.speedup = 0.0;
            serde_json::to_string(&r).expect("a report encodes")
        };
        let a = run(&o).expect("valid options");
        assert!(a.msgs_per_node_per_s > 0.0 && a.false_suspect > 0, "20 % loss makes suspicions: {a:?}");
        assert_eq!(json(a), json(run(&o).expect("valid options")));
    }

    #[test]
    fn addresses_round_trip() {
        for i in [0, 1, 255, 256, 999, 65_535] {
            assert_eq!(index_of(&addr_for(i), 100_000), Some(i));
        }
        assert_eq!(index_of(&addr_for(10), 10), None);
    }
}
