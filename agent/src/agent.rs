//! The agent: one [`rumor_core::Node`] driven by a tokio UDP socket and timers.
//!
//! [`Agent::start`] binds the socket and spawns one task (the driver) that owns the node. The
//! driver waits for the first of: a datagram, the node's next timer, or a command from a
//! [`Handle`]; it feeds that to the node, then sends every datagram and publishes every event
//! the node produced. Buffers are allocated once; nothing spins. Handles are cheap clones that
//! talk to the driver over a channel, so any number of tasks (HTTP handlers, the CLI, an
//! embedding program) can use the node concurrently.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rumor_core::user_event::UserEventError;
use rumor_core::{
    Dropped, Event, Identity, Instant, Key, Member, MemberCounts, Node, ProbeRtt, Stats, Status, meta, user_event,
};
use serde::{Serialize, Serializer};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::{AgentConfig, advertise_for_wildcard};
use crate::{Error, keys};

/// Events buffered per subscriber before a slow one starts missing some.
const EVENT_BUFFER: usize = 256;
/// Datagrams read per wake-up before the driver sends what they caused.
const RECV_BATCH: usize = 64;
/// How often seeds whose names did not resolve are looked up again.
const RESOLVE_RETRY: Duration = Duration::from_secs(5);

/// How long a dropped datagram's reason and source stay quiet in the log once logged.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Distinct (reason, source) pairs logged per interval at most; further ones are summed up.
const DROP_LOG_PAIRS: usize = 32;
/// The longest a joiner waits between two warnings that no seed answers.
const JOIN_WARN_MAX: Duration = Duration::from_secs(600);

/// Largest datagram any configuration accepts (`max_inbound_packet` is at most 65 535), plus
/// the byte that shows a datagram to be oversized.
const MAX_DATAGRAM: usize = 65_536;

thread_local! {
    /// The datagram buffers, one pair per runtime thread rather than per agent: a thousand
    /// agents in one process would otherwise hold ~10 KiB each of buffers that are only used
    /// between two awaits. A driver borrows them only synchronously (never across an await).
    static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with this thread's receive and send buffers, cut to `recv_len` and `send_len`.
fn with_buffers<R>(recv_len: usize, send_len: usize, f: impl FnOnce(&mut [u8], &mut [u8]) -> R) -> R {
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let (recv, send) = &mut *b;
        for (buf, len) in [(&mut *recv, recv_len), (&mut *send, send_len)] {
            if buf.len() < len {
                buf.resize(len, 0);
            }
        }
        let recv = recv.get_mut(..recv_len).unwrap_or_default();
        let send = send.get_mut(..send_len).unwrap_or_default();
        f(recv, send)
    })
}

/// One member as the agent reports it (HTTP, events, the library API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberInfo {
    /// Unique name.
    pub name: String,
    /// Gossip address.
    pub addr: SocketAddr,
    /// Liveness in this node's view; serialized as its name (`alive`, `suspect`, `failed` or
    /// `left`).
    #[serde(serialize_with = "status_name")]
    pub state: Status,
    /// Incarnation number.
    pub incarnation: u32,
    /// Metadata (empty if the node set bytes that are not a Rumor string map).
    pub meta: BTreeMap<String, String>,
}

impl From<&Member> for MemberInfo {
    /// The core's member with its metadata decoded (`rumor_core::meta`; empty if the member
    /// set bytes that are not a string map). Bindings that drive a `rumor_core::Node`
    /// themselves convert with this too, so a member reads the same everywhere.
    fn from(m: &Member) -> Self {
        MemberInfo {
            name: m.name.clone(),
            addr: m.addr,
            state: m.status,
            incarnation: m.incarnation,
            meta: meta::decode(&m.meta).unwrap_or_default(),
        }
    }
}

fn status_name<S: Serializer>(status: &Status, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(status.as_str())
}

/// Bytes as text, invalid UTF-8 replaced (the HTTP API's payloads are strings).
fn lossy_text<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

/// What happened, as subscribers of [`Handle::subscribe`] and `GET /v1/events` see it. In JSON,
/// `type` is the core's [`Event::kind`] (`member-joined`, …, `user-event`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum AgentEvent {
    /// A member became alive: new, or back after failing or leaving.
    MemberJoined {
        /// The member.
        member: MemberInfo,
    },
    /// An alive member changed its metadata or address.
    MemberUpdated {
        /// The member.
        member: MemberInfo,
    },
    /// A member is suspected of having failed.
    MemberSuspect {
        /// The member.
        member: MemberInfo,
    },
    /// A suspect member refuted the suspicion.
    MemberAlive {
        /// The member.
        member: MemberInfo,
    },
    /// A member was declared failed.
    MemberFailed {
        /// The member.
        member: MemberInfo,
    },
    /// A member left gracefully.
    MemberLeft {
        /// The member.
        member: MemberInfo,
    },
    /// A user event (`rumor event NAME PAYLOAD`, [`Handle::send_event`]) or raw broadcast
    /// ([`Handle::broadcast`], an empty name) arrived.
    UserEvent {
        /// Node that sent it.
        origin: String,
        /// Event name.
        name: String,
        /// Payload bytes (in JSON, text with invalid UTF-8 replaced).
        #[serde(serialize_with = "lossy_text")]
        payload: Vec<u8>,
    },
    /// Two nodes claim one name.
    NameConflict {
        /// The contested name.
        name: String,
        /// Address known for it.
        known: SocketAddr,
        /// Address of the new claim.
        claimed: SocketAddr,
    },
    /// This node is part of a cluster (a seed answered, or another node joined through it).
    Joined,
    /// A graceful leave finished.
    LeaveComplete {
        /// Members that acknowledged it.
        acknowledged: u32,
    },
}

impl From<Event> for AgentEvent {
    /// The core's event, members converted as [`MemberInfo::from`] does and user broadcasts
    /// read as named events (`rumor_core::user_event`).
    fn from(event: Event) -> Self {
        match event {
            Event::MemberJoined(m) => AgentEvent::MemberJoined { member: MemberInfo::from(&m) },
            Event::MemberUpdated(m) => AgentEvent::MemberUpdated { member: MemberInfo::from(&m) },
            Event::MemberSuspect(m) => AgentEvent::MemberSuspect { member: MemberInfo::from(&m) },
            Event::MemberAlive(m) => AgentEvent::MemberAlive { member: MemberInfo::from(&m) },
            Event::MemberFailed(m) => AgentEvent::MemberFailed { member: MemberInfo::from(&m) },
            Event::MemberLeft(m) => AgentEvent::MemberLeft { member: MemberInfo::from(&m) },
            Event::UserBroadcast { origin, payload } => {
                let event = user_event::decode(&payload);
                AgentEvent::UserEvent { origin, name: event.name.into_owned(), payload: event.payload.to_vec() }
            }
            Event::NameConflict { name, known, claimed } => AgentEvent::NameConflict { name, known, claimed },
            Event::Joined => AgentEvent::Joined,
            Event::LeaveComplete { acknowledged } => AgentEvent::LeaveComplete { acknowledged },
        }
    }
}

/// Counters and gauges (`/metrics` renders them; in JSON, as the relay's `stats` carry them,
/// `stats` and `members` are the core's [`Stats`] and [`MemberCounts`] field for field).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct NodeMetrics {
    /// The core's counters.
    pub stats: Stats,
    /// Members by status, this node included.
    pub members: MemberCounts,
    /// Lifeguard local health score (0 is healthy).
    pub health_score: u32,
    /// Updates waiting in the gossip queue.
    pub gossip_queue: usize,
    /// Round-trip times of this node's answered probes (histogram buckets).
    pub probe_rtt: ProbeRtt,
    /// This node's incarnation.
    pub incarnation: u32,
}

impl NodeMetrics {
    /// Every counter and gauge by name, as a binding hands them out in one dictionary: the
    /// core's counters ([`stats_by_name`]), `members_alive`, `members_suspect`,
    /// `members_failed`, `members_left`, `health_score` and `gossip_queue`.
    pub fn by_name(&self) -> BTreeMap<String, u64> {
        let mut out = stats_by_name(&self.stats);
        let gauges = [
            ("members_alive", self.members.alive),
            ("members_suspect", self.members.suspect),
            ("members_failed", self.members.failed),
            ("members_left", self.members.left),
            ("health_score", self.health_score),
        ];
        out.extend(gauges.map(|(k, v)| (k.to_owned(), u64::from(v))));
        out.insert("gossip_queue".into(), u64::try_from(self.gossip_queue).unwrap_or(u64::MAX));
        out
    }
}

/// The core's counters by their field names (`packets_in`, `probes_sent`, …; the serde names
/// of [`Stats`], as `/metrics` and the relay spell them).
pub fn stats_by_name(stats: &Stats) -> BTreeMap<String, u64> {
    match serde_json::to_value(stats) {
        Ok(serde_json::Value::Object(fields)) => {
            fields.into_iter().filter_map(|(k, v)| v.as_u64().map(|n| (k, n))).collect()
        }
        _ => BTreeMap::new(),
    }
}

/// A keyring change requested through [`Handle::keys`].
#[derive(Clone, Debug)]
pub enum KeyOp {
    /// Only list the keys.
    List,
    /// Add a key (accepted on receipt; not used to send).
    Install(Key),
    /// Make an installed key the one packets are sealed with.
    Use(Key),
    /// Remove a key that is not the primary.
    Remove(Key),
}

/// Where a command's result goes.
type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// Small (16 bytes): the channel allocates room for 32 of them per agent up front, so the
/// rare large arguments are boxed.
enum Command {
    Members(oneshot::Sender<Vec<MemberInfo>>),
    Metrics(oneshot::Sender<NodeMetrics>),
    SetMeta(Box<(Vec<u8>, Reply<()>)>),
    Broadcast(Box<(Vec<u8>, Reply<()>)>),
    Keys(Box<(KeyOp, Reply<Vec<String>>)>),
    // A boxed slice would be 16 bytes; the box of a vector is 8.
    #[allow(clippy::box_collection)]
    Discovered(Box<Vec<SocketAddr>>),
    Join(Box<(Vec<SocketAddr>, Reply<()>)>),
    ForceLeave(Box<(String, Reply<()>)>),
    Leave(oneshot::Sender<u32>),
    Shutdown,
}

struct Shared {
    name: String,
    addr: SocketAddr,
    local_addr: SocketAddr,
    ready: AtomicBool,
    /// [`Node::name_refused`], as last published by the driver.
    name_refused: Mutex<Option<SocketAddr>>,
    max_broadcast: usize,
    max_meta: usize,
    /// Created by the first subscriber: its buffer is most of an idle agent's memory, and
    /// events nobody listens to need no buffer.
    events: OnceLock<broadcast::Sender<AgentEvent>>,
}

/// A cheap, cloneable handle to a running agent.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
}

impl Handle {
    /// This node's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The address other members reach this node at.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The address the UDP socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Joined a cluster through a seed (which accepted this node's name), or started alone
    /// because no seed was configured.
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Relaxed)
    }

    /// The address of another process holding this node's name while the cluster refuses
    /// this node's claim to it ([`Node::name_refused`]); the agent is not ready meanwhile.
    pub fn name_refused(&self) -> Option<SocketAddr> {
        *self.shared.name_refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The agent stopped (left or shut down).
    pub fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Resolves when the agent stops.
    pub async fn stopped(&self) {
        let mut rx = self.stopped.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Every known member, this node included, sorted by name.
    pub async fn members(&self) -> Result<Vec<MemberInfo>, Error> {
        self.ask(Command::Members).await
    }

    /// Counters and gauges.
    pub async fn metrics(&self) -> Result<NodeMetrics, Error> {
        self.ask(Command::Metrics).await
    }

    /// Membership and user events from now on. A subscriber that falls more than 256 events
    /// behind misses the oldest (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.shared.events.get_or_init(|| broadcast::channel(EVENT_BUFFER).0).subscribe()
    }

    /// Replaces this node's metadata; the change is gossiped. [`Error::Meta`] if it does not fit
    /// `Config::max_meta_len` once encoded.
    pub async fn set_meta(&self, meta: BTreeMap<String, String>) -> Result<(), Error> {
        let bytes = meta::encode(&meta, self.shared.max_meta)?;
        self.ask(|tx| Command::SetMeta(Box::new((bytes, tx)))).await?
    }

    /// Sends raw bytes to every member ([`AgentEvent::UserEvent`] with an empty name unless the
    /// bytes follow the user-event layout). [`Error::Node`] if larger than
    /// [`max_event_len`](Handle::max_event_len).
    pub async fn broadcast(&self, payload: Vec<u8>) -> Result<(), Error> {
        self.ask(|tx| Command::Broadcast(Box::new((payload, tx)))).await?
    }

    /// Sends a named user event to every member ([`rumor_core::user_event`]).
    /// [`Error::UserEvent`] if the name is empty or holds a NUL byte.
    pub async fn send_event(&self, name: &str, payload: &[u8]) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::UserEvent(UserEventError::EmptyName));
        }
        self.broadcast(user_event::encode(name, payload)?).await
    }

    /// Largest `name + 1 + payload` a user event may have.
    pub fn max_event_len(&self) -> usize {
        self.shared.max_broadcast
    }

    /// Changes (or lists) the keyring; returns the keys, primary first. The keyring file, if
    /// the agent has one, is rewritten.
    pub async fn keys(&self, op: KeyOp) -> Result<Vec<String>, Error> {
        self.ask(|tx| Command::Keys(Box::new((op, tx)))).await?
    }

    /// Asks the node to join these addresses (found by mDNS or another discovery) unless they
    /// are already members.
    pub async fn discovered(&self, addrs: Vec<SocketAddr>) -> Result<(), Error> {
        self.commands.send(Command::Discovered(Box::new(addrs))).await.map_err(|_| Error::Stopped)
    }

    /// Joins the members at these addresses (`HOST:PORT`, names resolved now) on a running
    /// agent: a state exchange with each, retried with backoff until one answers, as for the
    /// configured seeds (which are kept). Returns the addresses contacted. [`Error::Join`] if
    /// an address is not `HOST:PORT` or does not resolve.
    pub async fn join(&self, addrs: &[String]) -> Result<Vec<SocketAddr>, Error> {
        let mut found = Vec::new();
        for a in addrs {
            let resolved = tokio::net::lookup_host(a.as_str())
                .await
                .map_err(|e| Error::Join(format!("`{a}` does not resolve to an address: {e}")))?;
            let v4 = self.shared.local_addr.is_ipv4();
            let before = found.len();
            found.extend(resolved.filter(|s: &SocketAddr| s.is_ipv4() == v4 || !v4));
            if found.len() == before {
                return Err(Error::Join(format!("`{a}` has no address of this agent's IP family")));
            }
        }
        found.sort();
        found.dedup();
        let contacted = found.clone();
        self.ask(|tx| Command::Join(Box::new((found, tx)))).await??;
        Ok(contacted)
    }

    /// Marks a failed member left and gossips it, so that every member reports it `left`
    /// rather than `failed` (`rumor force-leave`; [`rumor_core::Node::force_leave`]).
    pub async fn force_leave(&self, name: &str) -> Result<(), Error> {
        self.ask(|tx| Command::ForceLeave(Box::new((name.to_owned(), tx)))).await?
    }

    /// Leaves the cluster gracefully and stops the agent. Returns how many members
    /// acknowledged the leave.
    pub async fn leave(&self) -> Result<u32, Error> {
        self.ask(Command::Leave).await
    }

    /// Stops the agent at once, without telling anyone (members will detect it as failed).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
        self.stopped().await;
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }
}

/// A running agent.
pub struct Agent {
    handle: Handle,
    driver: JoinHandle<()>,
}

impl Agent {
    /// Checks the configuration, binds the socket, starts the node and joins the configured
    /// seeds (retried until one answers). Must be called inside a tokio runtime.
    pub async fn start(config: AgentConfig) -> Result<Agent, Error> {
        config.check()?;
        let meta = meta::encode(&config.meta, config.protocol.max_meta_len)?;
        let socket = UdpSocket::bind(config.bind).await.map_err(|e| Error::Bind(config.bind, e))?;
        let local_addr = socket.local_addr().map_err(|e| Error::Bind(config.bind, e))?;
        let addr = match config.advertise {
            Some(a) => a,
            None if local_addr.ip().is_unspecified() => {
                advertise_for_wildcard(local_addr).ok_or(Error::Advertise(local_addr))?
            }
            None => local_addr,
        };

        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Random(e.to_string()))?;
        let clock = tokio::time::Instant::now();
        let identity = Identity { name: config.name.clone(), addr, meta };
        // One byte more than accepted, so that an oversized datagram is seen (and counted) as such.
        let recv_len = (config.protocol.max_inbound_packet + 1).min(MAX_DATAGRAM);
        let mut node = Node::new(config.protocol.clone(), identity, seed, now(clock))?;
        let has_seeds = !config.join.is_empty();
        if !has_seeds {
            node.join(&[], now(clock))?;
        }

        let (commands, rx) = mpsc::channel(256);
        let (stopped_tx, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            name: config.name.clone(),
            addr,
            local_addr,
            ready: AtomicBool::new(!has_seeds),
            name_refused: Mutex::new(None),
            max_broadcast: node.max_broadcast_len(),
            max_meta: config.protocol.max_meta_len,
            events: OnceLock::new(),
        });
        let handle = Handle { commands, shared: shared.clone(), stopped };
        // The rumor binary logs its own start-up line, with what it serves around the agent.
        tracing::debug!(
            name = %config.name,
            bind = %local_addr,
            advertise = %addr,
            encryption = %describe_encryption(&config.protocol),
            label = %config.protocol.label,
            seeds = ?config.join,
            "agent started"
        );

        let driver = Driver {
            node: Box::new(node),
            socket,
            clock,
            commands: rx,
            shared,
            seeds: config.join.clone(),
            unresolved: has_seeds,
            joined_seeds: !has_seeds,
            joined_once: false,
            refused: None,
            keyring_file: config.keyring_file.clone(),
            recv_len,
            drops: DropLog::default(),
            join_watch: None,
            leave_waiters: Vec::new(),
            joined_addrs: Vec::new(),
            stopped: stopped_tx,
        };
        // The driver future itself, not an `async` block around it: the block would hold the
        // driver twice (once captured, once in `run`'s state), doubling each agent's task.
        let driver = tokio::spawn(driver.run());
        Ok(Agent { handle, driver })
    }

    /// A handle to the agent.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Waits until the agent stops (after [`Handle::leave`] or [`Handle::shutdown`]).
    pub async fn wait(self) {
        let _ = self.driver.await;
    }
}

/// The encryption a protocol configuration runs with, for the start-up line: `off`,
/// `on (primary key id 0x3a)`, or the step of a migration to encryption.
pub fn describe_encryption(protocol: &rumor_core::Config) -> String {
    let Some(id) = protocol.keyring.primary_id() else { return "off".into() };
    let keys = protocol.keyring.keys().count();
    let mode = match (protocol.accept_plaintext, protocol.send_plaintext) {
        (false, _) => "on",
        (true, false) => "migrating (step 2: sends sealed, accepts plaintext)",
        (true, true) => "migrating (step 1: sends plaintext, accepts both)",
    };
    format!("{mode} (primary key id {id:#04x}, {keys} key{})", if keys == 1 { "" } else { "s" })
}

/// Rate-limited warnings about dropped datagrams: one line per reason and source address per
/// [`DROP_LOG_INTERVAL`], at most [`DROP_LOG_PAIRS`] of them per interval (a flood from many
/// addresses is summed up in one line); the counters in the metrics count every drop.
#[derive(Default)]
struct DropLog {
    window_start: Option<tokio::time::Instant>,
    logged: HashSet<(Dropped, IpAddr)>,
    unlogged: u64,
}

impl DropLog {
    fn note(&mut self, reason: Dropped, from: SocketAddr) {
        let now = tokio::time::Instant::now();
        if self.window_start.is_none_or(|t| now.duration_since(t) >= DROP_LOG_INTERVAL) {
            if self.unlogged > 0 {
                tracing::warn!(
                    count = self.unlogged,
                    "dropped datagrams from more sources than are logged one by one (see \
                     rumor_dropped_packets_total)"
                );
            }
            self.window_start = Some(now);
            self.logged.clear();
            self.unlogged = 0;
        }
        let key = (reason, from.ip());
        if self.logged.contains(&key) {
            return;
        }
        if self.logged.len() >= DROP_LOG_PAIRS {
            self.unlogged += 1;
            return;
        }
        self.logged.insert(key);
        tracing::warn!(
            reason = reason.as_str(),
            from = %from,
            "dropped a datagram: {} (not logged again for this source and reason for {} s)",
            reason.hint(),
            DROP_LOG_INTERVAL.as_secs()
        );
    }
}

/// A join no seed has answered yet: warned about after its first few attempts, then less and
/// less often.
struct JoinWatch {
    started: tokio::time::Instant,
    next_warning: Duration,
}

fn now(clock: tokio::time::Instant) -> Instant {
    Instant::from_micros(u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX))
}

struct Driver {
    /// Boxed: an `async fn` taking `self` holds its argument twice (rust-lang/rust#62958), so a
    /// node inline would double in every agent's task.
    node: Box<Node>,
    socket: UdpSocket,
    clock: tokio::time::Instant,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    seeds: Vec<String>,
    /// Seeds still need resolving (before the first join, or while none resolved).
    unresolved: bool,
    /// `join` was called with seeds (so `is_joined` means a seed answered).
    joined_seeds: bool,
    /// A seed answered once (or there were none): readiness does not go back on a later join.
    joined_once: bool,
    /// [`Node::name_refused`] as last published.
    refused: Option<SocketAddr>,
    keyring_file: Option<PathBuf>,
    /// Receive buffer length: `max_inbound_packet + 1`.
    recv_len: usize,
    drops: DropLog,
    /// Set while seeds were given and none has answered.
    join_watch: Option<JoinWatch>,
    leave_waiters: Vec<oneshot::Sender<u32>>,
    /// Every address joined so far (seeds, discovered and `Handle::join`): `Node::join`
    /// replaces its seed list, so a later join passes them all.
    joined_addrs: Vec<SocketAddr>,
    /// Set once `run` returns.
    stopped: watch::Sender<bool>,
}

impl Driver {
    async fn run(mut self) {
        self.serve().await;
        let _ = self.stopped.send(true);
    }

    async fn serve(&mut self) {
        let mut next_resolve = tokio::time::Instant::now();
        loop {
            self.flush().await;
            if self.publish_events() {
                self.flush().await;
                return;
            }
            let refused = self.node.name_refused();
            if refused != self.refused {
                self.refused = refused;
                *self.shared.name_refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = refused;
                match refused {
                    Some(holder) => {
                        tracing::warn!(%holder, "this node's name is held by another address: not ready until that one fails or leaves (a restart elsewhere), or rename one of them")
                    }
                    None => tracing::info!("the cluster accepted this node's name"),
                }
            }
            // Joined once, it stays joined for readiness: a later `Handle::join` of an address
            // that does not answer does not take the node out of its cluster.
            if self.joined_seeds && self.node.is_joined() {
                self.joined_once = true;
            }
            let ready = self.joined_once && refused.is_none();
            self.shared.ready.store(ready, Ordering::Relaxed);
            self.watch_join();
            let far = self.clock + Duration::from_secs(3600);
            let deadline =
                self.node.poll_timeout().map_or(far, |t| self.clock + Duration::from_micros(t.as_micros())).min(far);
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Shutdown) | None => {
                        tracing::info!("agent shut down without leaving");
                        return;
                    }
                    Some(cmd) => self.command(cmd),
                },
                r = self.socket.readable() => match r {
                    Ok(()) => self.receive(),
                    Err(e) => tracing::debug!("recv: {e}"),
                },
                () = tokio::time::sleep_until(deadline) => {
                    let t = now(self.clock);
                    self.node.handle_timeout(t);
                }
                () = tokio::time::sleep_until(next_resolve), if self.unresolved => {
                    self.resolve_seeds().await;
                    next_resolve = tokio::time::Instant::now() + RESOLVE_RETRY;
                }
            }
        }
    }

    /// Warns while no seed has answered: first after about four join attempts (the retries
    /// back off from `join_retry_min`: attempts at 0, 1, 3 and 7 times it), then twice as long
    /// after each warning, up to [`JOIN_WARN_MAX`]; says so once a seed answers.
    fn watch_join(&mut self) {
        let Some(w) = &mut self.join_watch else { return };
        let waited = w.started.elapsed();
        if self.node.is_joined() {
            if w.next_warning > self.node.config().join_retry_min * 7 {
                tracing::info!(after = ?waited, "a seed answered: joined");
            }
            self.join_watch = None;
            return;
        }
        if waited < w.next_warning {
            return;
        }
        w.next_warning = (w.next_warning * 2).min(JOIN_WARN_MAX).max(waited + Duration::from_secs(1));
        let encryption = describe_encryption(self.node.config());
        let label = &self.node.config().label;
        tracing::warn!(
            seeds = ?self.seeds,
            waited = ?waited,
            "no seed has answered the join yet (retrying): check that a seed is running and reachable at that \
             address (firewall, port), that this node has the cluster's key (here encryption is {encryption}; \
             the seed logs `dropped a datagram` with reason `auth` for a wrong key) and the same label \
             (here {label:?})"
        );
    }

    /// Handles the datagrams waiting on the socket (a batch at most), after readiness.
    fn receive(&mut self) {
        let (node, socket, clock, drops) = (&mut self.node, &self.socket, self.clock, &mut self.drops);
        with_buffers(self.recv_len, 0, |buf, _| {
            for _ in 0..RECV_BATCH {
                match socket.try_recv_from(buf) {
                    Ok((n, from)) => {
                        if let Some(bytes) = buf.get(..n)
                            && let Some(reason) = node.handle_datagram(now(clock), from, bytes)
                        {
                            drops.note(reason, from);
                        }
                    }
                    Err(e) => {
                        if e.kind() != std::io::ErrorKind::WouldBlock {
                            tracing::debug!("recv: {e}");
                        }
                        break;
                    }
                }
            }
        });
    }

    async fn flush(&mut self) {
        let t = now(self.clock);
        let mtu = self.node.config().mtu;
        loop {
            // Send from the thread's buffer while the socket takes datagrams; a datagram it
            // refuses for now is copied out and awaited (the buffer is never held across an
            // await).
            let (node, socket) = (&mut self.node, &self.socket);
            // Exactly an MTU: the node fills what it is given.
            let blocked = with_buffers(0, mtu, |_, send| {
                while let Some(tx) = node.poll_transmit(t, send) {
                    let Some(bytes) = send.get(..tx.size) else { continue };
                    match socket.try_send_to(bytes, tx.destination) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            return Some((bytes.to_vec(), tx.destination));
                        }
                        Err(e) => tracing::debug!(to = %tx.destination, "send: {e}"),
                    }
                }
                None
            });
            let Some((bytes, to)) = blocked else { return };
            if let Err(e) = self.socket.send_to(&bytes, to).await {
                tracing::debug!(%to, "send: {e}");
            }
        }
    }

    /// Publishes the node's events; true once a leave has completed.
    fn publish_events(&mut self) -> bool {
        let mut done = false;
        while let Some(event) = self.node.poll_event() {
            log_event(&event);
            if let Event::LeaveComplete { acknowledged } = event {
                for w in self.leave_waiters.drain(..) {
                    let _ = w.send(acknowledged);
                }
                done = true;
            }
            self.publish(event);
        }
        done
    }

    /// Hands an event to the subscribers, if any.
    fn publish(&self, event: Event) {
        if let Some(tx) = self.shared.events.get()
            && tx.receiver_count() > 0
        {
            let _ = tx.send(AgentEvent::from(event));
        }
    }

    fn remember_joined(&mut self, addrs: &[SocketAddr]) {
        for a in addrs {
            if !self.joined_addrs.contains(a) {
                self.joined_addrs.push(*a);
            }
        }
    }

    async fn resolve_seeds(&mut self) {
        let mut addrs = Vec::new();
        let v4 = self.shared.local_addr.is_ipv4();
        for seed in &self.seeds {
            match tokio::net::lookup_host(seed.as_str()).await {
                Ok(found) => addrs.extend(found.filter(|a| a.is_ipv4() == v4 || !v4)),
                Err(e) => tracing::warn!(seed = %seed, "cannot resolve seed: {e}"),
            }
        }
        addrs.sort();
        addrs.dedup();
        if addrs.is_empty() {
            return;
        }
        let t = now(self.clock);
        self.remember_joined(&addrs);
        match self.node.join(&addrs, t) {
            Ok(()) => {
                self.unresolved = false;
                self.joined_seeds = true;
                tracing::info!(seeds = ?addrs, "joining");
                if !self.node.is_joined() && self.join_watch.is_none() {
                    let first = self.node.config().join_retry_min * 7;
                    self.join_watch = Some(JoinWatch { started: tokio::time::Instant::now(), next_warning: first });
                }
            }
            Err(e) => tracing::warn!("join: {e}"),
        }
    }

    fn command(&mut self, cmd: Command) {
        let t = now(self.clock);
        match cmd {
            Command::Members(tx) => {
                let mut members: Vec<MemberInfo> =
                    self.node.members().map(|m| MemberInfo::from(&m.to_member())).collect();
                members.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = tx.send(members);
            }
            Command::Metrics(tx) => {
                let _ = tx.send(NodeMetrics {
                    stats: *self.node.stats(),
                    members: self.node.member_counts(),
                    health_score: self.node.health_score(),
                    gossip_queue: self.node.gossip_queue_len(),
                    probe_rtt: *self.node.probe_rtt(),
                    incarnation: self.node.incarnation(),
                });
            }
            Command::SetMeta(args) => {
                let (bytes, tx) = *args;
                let _ = tx.send(self.node.set_meta(&bytes, t).map_err(Error::Node));
            }
            Command::Broadcast(args) => {
                let (bytes, tx) = *args;
                let sent = self.node.broadcast(&bytes, t).map_err(Error::Node);
                if sent.is_ok() {
                    // The core delivers a broadcast to the other members only; this node's own
                    // subscribers get it here, as Serf delivers its own user events.
                    self.publish(Event::UserBroadcast { origin: self.shared.name.clone(), payload: bytes });
                }
                let _ = tx.send(sent);
            }
            Command::Join(args) => {
                let (addrs, tx) = *args;
                self.remember_joined(&addrs);
                let all = self.joined_addrs.clone();
                let joined = self.node.join(&all, t).map_err(Error::Node);
                if joined.is_ok() {
                    self.joined_seeds = true;
                    tracing::info!(addrs = ?addrs, "joining on request");
                }
                let _ = tx.send(joined);
            }
            Command::ForceLeave(args) => {
                let (name, tx) = *args;
                let forced = self.node.force_leave(&name, t).map_err(Error::Node);
                if forced.is_ok() {
                    tracing::info!(member = %name, "forced to leave");
                }
                let _ = tx.send(forced);
            }
            Command::Keys(args) => {
                let (op, tx) = *args;
                let _ = tx.send(self.keys(op));
            }
            Command::Discovered(addrs) => {
                let known: Vec<SocketAddr> = self.node.members().map(|m| m.addr).collect();
                let new: Vec<SocketAddr> =
                    addrs.iter().copied().filter(|a| *a != self.shared.addr && !known.contains(a)).collect();
                if !new.is_empty() && !self.node.has_left() {
                    tracing::info!(peers = ?new, "discovered");
                    self.remember_joined(&new);
                    let all = self.joined_addrs.clone();
                    if self.node.join(&all, t).is_ok() {
                        self.joined_seeds = true;
                    }
                }
            }
            Command::Leave(tx) => {
                self.leave_waiters.push(tx);
                if let Err(e) = self.node.leave(t) {
                    tracing::warn!("leave: {e}");
                }
                tracing::info!("leaving");
            }
            Command::Shutdown => {}
        }
    }

    fn keys(&mut self, op: KeyOp) -> Result<Vec<String>, Error> {
        let changed = match op {
            KeyOp::List => false,
            KeyOp::Install(k) => {
                self.node.install_key(k)?;
                true
            }
            KeyOp::Use(k) => {
                self.node.use_key(&k)?;
                true
            }
            KeyOp::Remove(k) => {
                self.node.remove_key(&k)?;
                true
            }
        };
        let ring = self.node.keyring();
        if changed {
            tracing::info!(keys = ring.keys().count(), primary = ?ring.primary_id(), "keyring changed");
            if let Some(path) = &self.keyring_file {
                keys::save_keyring(path, ring).map_err(|e| Error::KeyringFile(path.clone(), e))?;
            }
        }
        Ok(keys::list(ring))
    }
}

fn log_event(event: &Event) {
    match event {
        Event::MemberJoined(m) => tracing::info!(member = %m.name, addr = %m.addr, "member joined"),
        Event::MemberUpdated(m) => tracing::info!(member = %m.name, "member updated"),
        Event::MemberSuspect(m) => tracing::info!(member = %m.name, "member suspect"),
        Event::MemberAlive(m) => tracing::info!(member = %m.name, "member alive again"),
        Event::MemberFailed(m) => tracing::warn!(member = %m.name, "member failed"),
        Event::MemberLeft(m) => tracing::info!(member = %m.name, "member left"),
        Event::UserBroadcast { origin, payload } => tracing::debug!(%origin, len = payload.len(), "user event"),
        Event::NameConflict { name, known, claimed } => {
            tracing::warn!(%name, %known, %claimed, "name conflict: another node claims this name")
        }
        Event::Joined => tracing::info!("joined the cluster"),
        Event::LeaveComplete { acknowledged } => tracing::info!(acknowledged, "left the cluster"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Command>(), 16);
    }

    /// The JSON `type` of every agent event is the core's name for the event it came from.
    #[test]
    fn event_types_are_the_core_kinds() {
        let member = Member {
            name: "b".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 2)),
            status: Status::Dead,
            incarnation: 1,
            meta: meta::encode(&BTreeMap::from([("role".into(), "db".into())]), 512).unwrap_or_default(),
        };
        let addr = member.addr;
        let events = [
            Event::MemberJoined(member.clone()),
            Event::MemberUpdated(member.clone()),
            Event::MemberSuspect(member.clone()),
            Event::MemberAlive(member.clone()),
            Event::MemberFailed(member.clone()),
            Event::MemberLeft(member),
            Event::UserBroadcast { origin: "a".into(), payload: b"deploy\0v\xff".to_vec() },
            Event::NameConflict { name: "b".into(), known: addr, claimed: addr },
            Event::Joined,
            Event::LeaveComplete { acknowledged: 2 },
        ];
        for event in events {
            let kind = event.kind();
            let json = serde_json::to_value(AgentEvent::from(event)).expect("serializes");
            assert_eq!(json["type"], kind, "{json}");
        }
        let failed = AgentEvent::from(Event::MemberFailed(Member {
            name: "b".into(),
            addr,
            status: Status::Dead,
            incarnation: 1,
            meta: b"\x01\x04role\x02db".to_vec(),
        }));
        assert_eq!(
            serde_json::to_string(&failed).expect("serializes"),
            r#"{"type":"member-failed","member":{"name":"b","addr":"127.0.0.1:2","state":"failed","incarnation":1,"meta":{"role":"db"}}}"#
        );
        let user = AgentEvent::from(Event::UserBroadcast { origin: "a".into(), payload: b"deploy\0v\xff".to_vec() });
        assert_eq!(
            user,
            AgentEvent::UserEvent { origin: "a".into(), name: "deploy".into(), payload: b"v\xff".to_vec() }
        );
        assert_eq!(
            serde_json::to_string(&user).expect("serializes"),
            "{\"type\":\"user-event\",\"origin\":\"a\",\"name\":\"deploy\",\"payload\":\"v\u{fffd}\"}"
        );
    }
}
