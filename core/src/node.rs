//! The SWIM + Lifeguard state machine.

use alloc::boxed::Box;
use alloc::collections::{BinaryHeap, VecDeque};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;
use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use indexmap::IndexMap;
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};
use siphasher::sip::SipHasher13;

use crate::config::{Config, ConfigError};
use crate::crypto::{Key, Keyring, KeyringError, NonceSeq, ReplayWindow};
use crate::event::{Event, MemberCounts, MemberView};
use crate::lifeguard::{Awareness, suspicion_bounds, suspicion_timeout};
use crate::name::Name;
use crate::order::ProbeOrder;
use crate::queue::{self, BroadcastQueue};
use crate::ratelimit::{Bucket, RateLimiter};
use crate::state::{Liveness, Status, Update};
use crate::stats::Stats;
use crate::table::{MemberRef, MemberTable, PayloadRef};
use crate::time::Instant;
use crate::wire::{self, Addr, DecodeError, Header, MAX_NAME_LEN, Message, TAG_LEN};

type FastMap<K, V> = IndexMap<K, V, foldhash::fast::FixedState>;

/// Indirect probe requests relayed at once, at most; the oldest is forgotten first.
const MAX_RELAYS: usize = 256;
/// Packets waiting for `poll_transmit`, at most; the oldest is dropped first.
const MAX_OUTBOX: usize = 4096;
/// Events waiting for `poll_event`, at most; the oldest is dropped first.
const MAX_EVENTS: usize = 16_384;
/// User broadcasts remembered for de-duplication, at most.
const MAX_USER_SEEN: usize = 4096;
/// How long a user broadcast id is remembered; far longer than any retransmission lasts.
const USER_SEEN_TTL: Duration = Duration::from_secs(120);
/// Event queue capacity kept once drained; a burst beyond it is released afterwards.
const RETAINED_EVENTS: usize = 8;
/// Replay-window streams (sender lifetimes) tracked, at most.
const MAX_REPLAY_STREAMS: usize = 8192;

/// Who this node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Unique name in the cluster: 1 to 64 bytes of UTF-8.
    pub name: String,
    /// Address other members reach this node at (the advertised address).
    pub addr: SocketAddr,
    /// Initial metadata (at most `Config::max_meta_len` bytes).
    pub meta: Vec<u8>,
}

/// One datagram written by [`Node::poll_transmit`]: send `buf[..size]` to `destination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Bytes written at the start of the caller's buffer.
    pub size: usize,
}

/// A command or constructor was refused. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The configuration is invalid (the field is named).
    Config(ConfigError),
    /// The node name is empty or longer than 64 bytes.
    BadName,
    /// Metadata is longer than `Config::max_meta_len`.
    MetaTooLong {
        /// Given length.
        len: usize,
        /// Allowed length.
        max: usize,
    },
    /// A user broadcast payload is larger than fits the per-packet budget.
    PayloadTooLarge {
        /// Given length.
        len: usize,
        /// Allowed length.
        max: usize,
    },
    /// The node is leaving or has left; it takes no more commands.
    Leaving,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::BadName => f.write_str("node name must be 1 to 64 bytes"),
            Error::MetaTooLong { len, max } => write!(f, "metadata is {len} bytes; at most {max} allowed"),
            Error::PayloadTooLarge { len, max } => write!(f, "broadcast payload is {len} bytes; at most {max} allowed"),
            Error::Leaving => f.write_str("the node is leaving or has left"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

#[derive(Clone, Debug)]
struct Suspicion {
    incarnation: u32,
    started: Instant,
    min: Duration,
    max: Duration,
    /// The first suspecter, then each independent confirmer. `Name`s hold usual names inline,
    /// so checking a confirmation reads one buffer, not one allocation per confirmer.
    confirmers: Vec<Name>,
    deadline: Instant,
    /// Rounds of the final check sent so far (see [`Node::final_check`]): the expiry after
    /// the last one declares the member failed.
    final_checks: u8,
}

#[derive(Clone, Debug)]
struct Probe {
    seq: u32,
    /// Inline for usual names: starting a probe allocates nothing.
    target: Name,
    addr: SocketAddr,
    direct_deadline: Instant,
    end: Instant,
    indirect_sent: bool,
    expected_nacks: u32,
    nacks: u32,
}

#[derive(Clone, Copy, Debug)]
struct Relay {
    local_seq: u32,
    requester: SocketAddr,
    requester_seq: u32,
    nack_at: Instant,
    want_nack: bool,
}

#[derive(Clone, Debug)]
struct Outgoing {
    destination: SocketAddr,
    body: Body,
    piggyback: bool,
}

/// The datagrams waiting for [`Node::poll_transmit`], oldest first. Nearly every input makes
/// at most one (a probe, an ack), so the oldest is kept in the node itself and only a
/// backlog reaches the heap: the common path touches no second allocation.
#[derive(Debug, Default)]
struct Outbox {
    head: Option<Outgoing>,
    rest: VecDeque<Outgoing>,
}

impl Outbox {
    fn len(&self) -> usize {
        usize::from(self.head.is_some()) + self.rest.len()
    }

    fn push_back(&mut self, out: Outgoing) {
        if self.head.is_none() && self.rest.is_empty() {
            self.head = Some(out);
        } else {
            self.rest.push_back(out);
        }
    }

    fn pop_front(&mut self) -> Option<Outgoing> {
        let out = self.head.take().or_else(|| self.rest.pop_front());
        if self.rest.is_empty() && self.rest.capacity() > RETAINED_OUTGOING {
            // A burst (a join's state exchanges) grew it; an idle agent would keep ~150
            // bytes per slot of it (19 KiB for 128 slots, measured).
            self.rest = VecDeque::new();
        }
        out
    }
}

/// Queued datagrams' room kept once the outbox is empty; more is released.
const RETAINED_OUTGOING: usize = 8;

/// Messages of one datagram decoded onto the stack before the node's message vector is used.
const INLINE_MESSAGES: usize = 4;
/// Message vector capacity kept between datagrams (about 2 KiB); a longer one is released.
const RETAINED_MESSAGES: usize = 32;
/// Updates of a gossip packet whose members are looked up in one batch before any is applied
/// (a full 1400-byte packet holds about 40).
const LOOKUP_BATCH: usize = crate::table::BATCH;

/// Rounds of a suspicion's final check before the member is declared failed: each asks the
/// suspect and two other members and waits one probe timeout. One round, at 20 % loss, left
/// the suspect's own answer lost one time in three; at N=3000 the simulator counted 709 false
/// failures in 10 s with one round, 34 with two and none with three.
const FINAL_CHECK_ROUNDS: u8 = 3;

/// Answer buffer capacity kept between datagrams; a longer one (a state-exchange chunk full
/// of stale records was answered) is released.
const RETAINED_ANSWER: usize = 256;

/// Longest body kept inline: a probe, an ack, a ping-req or a suspicion with names of up to
/// 64 bytes.
const INLINE_BODY: usize = 110;

/// The primary messages of an outgoing packet. Most are a few dozen bytes (probes, acks), so
/// they are stored inline, without an allocation per packet; state-exchange chunks and alive
/// claims with long metadata go on the heap.
#[derive(Clone, Debug)]
enum Body {
    Inline { len: u8, bytes: [u8; INLINE_BODY] },
    Heap(Vec<u8>),
}

impl Body {
    fn new() -> Self {
        Body::Inline { len: 0, bytes: [0; INLINE_BODY] }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Body::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Body::Heap(v) => v,
        }
    }

    fn extend_from_slice(&mut self, more: &[u8]) {
        if let Body::Inline { len, bytes } = self {
            let at = usize::from(*len);
            if let (Some(dst), Ok(new_len)) = (bytes.get_mut(at..at + more.len()), u8::try_from(at + more.len())) {
                dst.copy_from_slice(more);
                *len = new_len;
                return;
            }
            *self = Body::Heap(self.as_slice().to_vec());
        }
        if let Body::Heap(v) = self {
            v.extend_from_slice(more);
        }
    }

    /// Appends one length-prefixed message, exactly as [`wire::encode_to_vec`] encodes it.
    fn push_message(&mut self, msg: &Message<'_>) {
        if let Body::Inline { len, bytes } = self {
            let mut pos = usize::from(*len);
            if wire::encode_into(msg, bytes, &mut pos) {
                if let Ok(new_len) = u8::try_from(pos) {
                    *len = new_len;
                    return;
                }
            }
        }
        self.extend_from_slice(&wire::encode_to_vec(msg));
    }
}

#[derive(Clone, Debug)]
struct Leave {
    deadline: Instant,
    pending: Vec<u32>,
    acknowledged: u32,
    needed: u32,
    done: bool,
}

/// The members the probe order names next, as of the last probe, so that the timer that starts
/// the next probe finds what it reads already loading ([`Node::prefetch_input`]): the next
/// target's record and name (its blob entry), and the record of the one after it, whose entry
/// becomes the next hint. A chain of hints, each set from lines the previous one loaded.
#[derive(Clone, Copy, Debug, Default)]
struct ProbeHint {
    /// Position of the next target.
    pos: u32,
    /// Where its blob entry starts.
    entry: u32,
    /// Position of the target after it.
    then: u32,
}

/// How an update reached us: anti-entropy merges are more cautious than gossip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Gossip,
    Sync,
}

/// One member of a Rumor cluster: a SWIM + Lifeguard state machine with no I/O.
///
/// # The I/O contract
///
/// The node never reads a clock, touches a socket or spawns anything. The runtime drives it:
///
/// 1. Create it with [`Node::new`], then call [`Node::join`] with seed addresses (none for the
///    first node of a cluster).
/// 2. Feed it every datagram received on its socket with [`Node::handle_datagram`].
/// 3. When the instant returned by [`Node::poll_timeout`] is reached, call
///    [`Node::handle_timeout`].
/// 4. After each of the calls above (and after any command: [`Node::join`], [`Node::leave`],
///    [`Node::set_meta`], [`Node::broadcast`]), drain, in this order:
///    - [`Node::poll_transmit`] until it returns `None`, sending each datagram;
///    - [`Node::poll_event`] until it returns `None`;
///    - then ask [`Node::poll_timeout`] again for the next wake-up.
///
/// `now` must never go backwards by much (the core tolerates small regressions by saturating).
/// Read the membership at any time with [`Node::members`] and the counters with
/// [`Node::stats`].
///
/// ```
/// use rumor_core::{Config, Identity, Instant, Node};
/// let me = Identity { name: "a".into(), addr: "127.0.0.1:7946".parse().unwrap(), meta: vec![] };
/// let mut node = Node::new(Config::local(), me, [7; 32], Instant::ZERO).unwrap();
/// node.join(&["127.0.0.1:7947".parse().unwrap()], Instant::ZERO).unwrap();
/// let mut buf = [0u8; 1400];
/// let t = node.poll_transmit(Instant::ZERO, &mut buf).expect("a join request to the seed");
/// assert_eq!(t.destination.port(), 7947);
/// ```
// Field order is layout: a simulator runs ten thousand nodes, and each event (a datagram, a
// timer) touches one node's state, which is then rarely in cache. `repr(C)` keeps the fields
// every event reads (timers, the probe, the outbox, the decode buffers, the hot counters)
// together in the first few cache lines, and the rarely used ones after them; `align(64)`
// makes those lines the same wherever the node is stored, so `prefetch` can name each one.
#[repr(C, align(64))]
pub struct Node {
    // -- read by every `poll_timeout` and most wake-ups --
    next_probe: Instant,
    next_gossip: Instant,
    next_push_pull: Instant,
    next_reconnect: Instant,
    next_reap: Instant,
    /// Members (alive or suspect, with a known address) other than this node.
    live: usize,
    probe_cursor: usize,
    /// `retransmit_scale(live)`, kept up to date with `live` (every packet needs it).
    retransmit_scale: u32,
    next_seq: u32,
    /// Whom the probe order names next, as of the last probe: prefetch hints (see
    /// [`Node::prefetch_input`]), never relied on.
    probe_hint: ProbeHint,
    /// `config.mtu` and `config.max_inbound_packet`, beside the other fields every packet
    /// reads.
    mtu: u32,
    max_inbound_packet: u32,
    awareness: Awareness,
    joined: bool,
    join_retry: Option<(Instant, Duration)>,
    probe: Option<Probe>,
    queue: BroadcastQueue,
    stats: Stats,
    // -- read by every datagram in and out --
    limiter: RateLimiter,
    scratch: Vec<u8>,
    /// The decoded messages of the datagram being handled (empty in between).
    messages: Vec<Message<'static>>,
    /// Inline (for usual names) so that checking a ping's target reads no other cache line.
    name: Name,
    outbox: Outbox,
    events: VecDeque<Event>,
    leave: Option<Leave>,
    relays: VecDeque<Relay>,
    suspicion_timers: BinaryHeap<Reverse<(Instant, Name)>>,
    /// Positions in `members`, in the order they are probed (2 bytes each up to 65 536).
    probe_order: ProbeOrder,
    /// Where [`Node::find_member`] looks first. While a state-exchange chunk is applied: where
    /// the next member probably is. While a gossip packet is applied: where the lookup pass
    /// found this message's member. (`u32`: so that it and the member table's record and blob
    /// vectors fit the line after the probe order.)
    lookup_hint: Option<u32>,
    members: MemberTable,
    config: Config,

    // -- the rest --
    addr: SocketAddr,
    meta: Box<[u8]>,
    incarnation: u32,
    rng: ChaCha12Rng,
    /// The running suspicion of each `Suspect` member (and only those).
    suspicions: FastMap<Name, Suspicion>,
    /// Per member name, the highest incarnation of a conflicting alive claim already reported,
    /// so repeats of one conflicting message raise one event. Pruned when members are reaped.
    conflicts_reported: FastMap<Name, u32>,
    seeds: Vec<SocketAddr>,
    user_seen: FastMap<(Box<str>, u64), Instant>,
    next_user_id: u64,
    nonces: NonceSeq,
    replay: ReplayWindow,
    sync_replies: Bucket,
    /// The anti-entropy digest of this node's state (see [`Node::state_digest`]), cached
    /// until the state changes.
    digest: Option<(u64, u32)>,
    /// When a member last became `Dead` here: reconnection looks for recent deaths only.
    last_death: Option<Instant>,
    /// The member count at the last reconnect tick (see `trim_member_table`).
    members_at_trim: usize,
    /// Corrections for the sender of the datagram being handled (see [`Node::answer`]):
    /// encoded messages, sent as one datagram when the datagram is done. Empty in between.
    answer: Vec<u8>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("incarnation", &self.incarnation)
            .field("members", &self.members.len())
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN
}

impl Node {
    /// Creates a node. `seed` drives every random choice (probe order, gossip targets, nonce
    /// start, hash keys): pass 32 bytes from the OS in production, a fixed value for
    /// reproducible runs.
    pub fn new(config: Config, identity: Identity, seed: [u8; 32], now: Instant) -> Result<Node, Error> {
        config.validate()?;
        if !valid_name(&identity.name) {
            return Err(Error::BadName);
        }
        if identity.meta.len() > config.max_meta_len {
            return Err(Error::MetaTooLong { len: identity.meta.len(), max: config.max_meta_len });
        }
        let mut rng = ChaCha12Rng::from_seed(seed);
        let hash_seed = rng.next_u64();
        let hasher = foldhash::fast::FixedState::with_seed(hash_seed);
        let mut nonce = [0u8; wire::NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let jitter = |rng: &mut ChaCha12Rng, d: Duration| now + d.mul_f64(rng.random::<f64>());
        let next_probe = jitter(&mut rng, config.probe_interval);
        let next_gossip = jitter(&mut rng, config.gossip_interval);
        // Spread anti-entropy over the interval so nodes started together do not exchange
        // state in lockstep.
        let next_push_pull = jitter(&mut rng, config.push_pull_interval);
        let next_reconnect = jitter(&mut rng, config.reconnect_interval) + config.reconnect_interval;
        let next_reap = now + reap_interval(&config);
        Ok(Node {
            awareness: Awareness::new(config.awareness_max, config.lifeguard.local_health),
            limiter: RateLimiter::new(config.rate_limit, now, hash_seed ^ 1),
            sync_replies: Bucket::full(config.rate_limit.sync_replies_burst, now),
            replay: ReplayWindow::new(MAX_REPLAY_STREAMS, hash_seed ^ 2),
            queue: BroadcastQueue::new(),
            name: Name::from(identity.name.as_str()),
            addr: identity.addr,
            meta: identity.meta.into_boxed_slice(),
            incarnation: 0,
            members: MemberTable::with_hasher(hasher.clone()),
            suspicions: FastMap::with_hasher(hasher.clone()),
            conflicts_reported: FastMap::with_hasher(hasher),
            live: 0,
            mtu: u32::try_from(config.mtu).unwrap_or(u32::MAX),
            max_inbound_packet: u32::try_from(config.max_inbound_packet).unwrap_or(u32::MAX),
            retransmit_scale: retransmit_scale(0),
            last_death: None,
            members_at_trim: 0,
            answer: Vec::new(),
            probe_order: ProbeOrder::new(),
            probe_cursor: 0,
            probe_hint: ProbeHint::default(),
            probe: None,
            next_probe,
            relays: VecDeque::new(),
            suspicion_timers: BinaryHeap::new(),
            next_seq: rng.next_u32(),
            outbox: Outbox::default(),
            events: VecDeque::new(),
            seeds: Vec::new(),
            joined: true,
            join_retry: None,
            leave: None,
            next_gossip,
            next_push_pull,
            next_reconnect,
            next_reap,
            user_seen: FastMap::with_hasher(foldhash::fast::FixedState::with_seed(hash_seed ^ 4)),
            next_user_id: rng.next_u64(),
            nonces: NonceSeq::new(nonce),
            scratch: Vec::new(),
            messages: Vec::new(),
            lookup_hint: None,
            digest: None,
            stats: Stats::default(),
            rng,
            config,
        })
    }

    // ---- getters -------------------------------------------------------------------------

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This node's advertised address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// This node's current incarnation.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Lifeguard's local health score (0 = healthy; probe timing is stretched by score + 1).
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// Updates waiting in the dissemination queue.
    pub fn gossip_queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Whether this node has exchanged state with another member since `join` (always true
    /// if `join` was given no seeds).
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// Whether a graceful leave has finished (the process may exit).
    pub fn has_left(&self) -> bool {
        self.leave.as_ref().is_some_and(|l| l.done)
    }

    /// The keyring (read-only).
    pub fn keyring(&self) -> &Keyring {
        &self.config.keyring
    }

    /// Adds a key accepted on receipt (see [`Keyring::install`]): installing the first key
    /// makes it primary and turns encryption on.
    pub fn install_key(&mut self, key: Key) {
        self.config.keyring.install(key);
    }

    /// Makes an installed key the one outgoing packets are sealed with.
    pub fn use_key(&mut self, key: &Key) -> Result<(), KeyringError> {
        self.config.keyring.use_key(key)
    }

    /// Removes a key that is not the primary one.
    pub fn remove_key(&mut self, key: &Key) -> Result<(), KeyringError> {
        self.config.keyring.remove(key)
    }

    /// Every known member, this node first. Members known only through a suspicion or failure
    /// notice (never seen alive) are not listed.
    pub fn members(&self) -> impl Iterator<Item = MemberView<'_>> {
        core::iter::once(self.self_view()).chain(self.members.iter().filter_map(view))
    }

    /// One member by name.
    pub fn member(&self, name: &str) -> Option<MemberView<'_>> {
        if name == &*self.name {
            return Some(self.self_view());
        }
        self.members.by_name(name).and_then(view)
    }

    /// Members currently alive or suspect, this node included.
    pub fn live_members(&self) -> usize {
        self.live + 1
    }

    /// How many of [`Node::members`] are in each status, this node included; reads the
    /// member table without allocating.
    pub fn member_counts(&self) -> MemberCounts {
        let mut counts = MemberCounts::default();
        for m in self.members() {
            match m.status {
                Status::Alive => counts.alive += 1,
                Status::Suspect => counts.suspect += 1,
                Status::Dead => counts.failed += 1,
                Status::Left => counts.left += 1,
            }
        }
        counts
    }

    fn self_view(&self) -> MemberView<'_> {
        let status = if self.leave.is_some() { Status::Left } else { Status::Alive };
        MemberView { name: &self.name, addr: self.addr, status, incarnation: self.incarnation, meta: &self.meta }
    }

    // ---- application commands -------------------------------------------------------------

    /// Joins a cluster through `seeds` (a state exchange with each). Seeds that do not answer
    /// are retried with exponential backoff until one does; meanwhile the node works alone.
    /// With no seeds the node starts a new cluster.
    pub fn join(&mut self, seeds: &[SocketAddr], now: Instant) -> Result<(), Error> {
        if self.leave.is_some() {
            return Err(Error::Leaving);
        }
        self.skip_idle_gossip_ticks(now);
        self.seeds.clear();
        for s in seeds {
            if *s != self.addr && !self.seeds.contains(s) {
                self.seeds.push(*s);
            }
        }
        if self.seeds.is_empty() {
            self.joined = true;
            self.join_retry = None;
            return Ok(());
        }
        self.joined = false;
        self.attempt_join(now, self.config.join_retry_min);
        Ok(())
    }

    /// Replaces this node's metadata; the change is gossiped with a higher incarnation.
    pub fn set_meta(&mut self, meta: &[u8], now: Instant) -> Result<(), Error> {
        self.skip_idle_gossip_ticks(now);
        if self.leave.is_some() {
            return Err(Error::Leaving);
        }
        if meta.len() > self.config.max_meta_len {
            return Err(Error::MetaTooLong { len: meta.len(), max: self.config.max_meta_len });
        }
        self.meta = meta.into();
        self.incarnation = self.incarnation.saturating_add(1);
        self.digest = None;
        self.gossip_self_alive();
        Ok(())
    }

    /// Largest payload [`Node::broadcast`] accepts.
    pub fn max_broadcast_len(&self) -> usize {
        // Message length prefix (≤ 2) + variant tag (1) + origin length (1) and bytes + id (≤ 10)
        // + payload length (≤ 3).
        self.config.user_broadcast_budget.saturating_sub(17 + self.name.len())
    }

    /// Sends `payload` to every member, piggybacked on the protocol's traffic. Each member
    /// delivers it once as [`Event::UserBroadcast`]; this node does not.
    pub fn broadcast(&mut self, payload: &[u8], now: Instant) -> Result<(), Error> {
        self.skip_idle_gossip_ticks(now);
        if self.leave.is_some() {
            return Err(Error::Leaving);
        }
        let max = self.max_broadcast_len();
        if payload.len() > max {
            return Err(Error::PayloadTooLarge { len: payload.len(), max });
        }
        let id = self.next_user_id;
        self.next_user_id = self.next_user_id.wrapping_add(1);
        self.remember_user(self.name.as_str().into(), id, now);
        let bytes = wire::encode_to_vec(&Message::User { origin: &self.name, id, payload });
        self.stats.user_broadcasts_dropped += self.queue.push_user(&bytes, self.config.max_queued_user_broadcasts);
        Ok(())
    }

    /// Leaves gracefully: gossips that this node left and sends the notice directly to a few
    /// members. [`Event::LeaveComplete`] follows once they acknowledged it or
    /// `Config::leave_timeout` passed; keep driving the node until then.
    pub fn leave(&mut self, now: Instant) -> Result<(), Error> {
        if self.leave.is_some() {
            return Ok(());
        }
        self.skip_idle_gossip_ticks(now);
        self.probe = None;
        let notice = Message::Left { name: &self.name, incarnation: self.incarnation };
        let bytes = wire::encode_to_vec(&notice);
        self.queue.push_member(queue::SELF, &bytes);
        let targets = self.random_members(self.config.leave_acks as usize, None, |m| m.is_live());
        let mut pending = Vec::with_capacity(targets.len());
        for i in targets {
            let Some(m) = self.members.get(i) else { continue };
            let (name, Some(addr)) = (m.name(), m.addr()) else { continue };
            let addr = SocketAddr::from(addr);
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            let mut body = encode_msgs(&[Message::Ping { seq, target: name }]);
            body.extend_from_slice(&bytes);
            self.push_outgoing(addr, body, true);
            pending.push(seq);
        }
        let needed = u32::try_from(pending.len()).unwrap_or(u32::MAX);
        self.leave =
            Some(Leave { deadline: now + self.config.leave_timeout, pending, acknowledged: 0, needed, done: false });
        if needed == 0 {
            self.finish_leave();
        }
        Ok(())
    }

    // ---- inputs ---------------------------------------------------------------------------

    /// Processes one received datagram. Invalid input of any kind is dropped, counted in
    /// [`Node::stats`], and changes nothing else.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.skip_idle_gossip_ticks(now);
        self.stats.packets_in += 1;
        self.stats.bytes_in += datagram.len() as u64;
        if self.has_left() {
            return;
        }
        if datagram.len() > self.max_inbound_packet as usize {
            self.stats.dropped_oversized += 1;
            return;
        }
        if !self.limiter.allow(now, from.ip()) {
            self.stats.dropped_rate_limited += 1;
            return;
        }
        let mut scratch = core::mem::take(&mut self.scratch);
        match self.open_frame(datagram, &mut scratch) {
            Ok((nonce, body)) => {
                // Nearly every packet holds one or two messages: they are decoded onto the
                // stack. Longer packets (gossip, state exchange) go to the message vector,
                // whose allocation is kept between datagrams; it holds no messages in between,
                // so it can change lifetime without copying anything.
                let mut inline = [Message::Ack { seq: 0 }; INLINE_MESSAGES];
                let mut count = 0;
                let mut msgs = recycle(core::mem::take(&mut self.messages));
                let decoded = wire::decode_body_with(body, |msg| {
                    if let Some(slot) = inline.get_mut(count) {
                        *slot = msg;
                    } else {
                        if count == INLINE_MESSAGES {
                            msgs.extend_from_slice(&inline);
                        }
                        msgs.push(msg);
                    }
                    count += 1;
                });
                match decoded {
                    Ok(skipped) => {
                        if skipped > 0 {
                            self.stats.unknown_messages_skipped += skipped as u64;
                        }
                        if let Some(nonce) = nonce {
                            self.replay.record(&nonce);
                        }
                        let list =
                            if count <= INLINE_MESSAGES { inline.get(..count).unwrap_or_default() } else { &msgs };
                        self.process(now, from, list);
                    }
                    Err(e) => self.count_drop(e),
                }
                // A state-exchange chunk can hold a hundred messages: that allocation is
                // given back rather than kept by every node between exchanges.
                if msgs.capacity() > RETAINED_MESSAGES {
                    msgs = Vec::new();
                }
                self.messages = recycle(msgs);
            }
            Err(e) => self.count_drop(e),
        }
        self.scratch = scratch;
    }

    /// Checks the header and opens the body (in place for plaintext, decrypted into
    /// `scratch` otherwise); returns, for encrypted frames, the nonce to record once the body
    /// decodes. The replay check comes before decryption.
    fn open_frame<'a>(
        &self,
        datagram: &'a [u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<(Option<[u8; wire::NONCE_LEN]>, &'a [u8]), DecodeError> {
        let header = Header::parse(datagram)?;
        if header.encrypted && header.label == self.config.label.as_bytes() && !self.replay.check(&header.nonce) {
            return Err(DecodeError::Replayed);
        }
        let (header, body) = wire::open_frame(&self.config.keyring, self.config.label.as_bytes(), datagram, scratch)?;
        Ok((header.encrypted.then_some(header.nonce), body))
    }

    fn count_drop(&mut self, e: DecodeError) {
        let s = &mut self.stats;
        match e {
            DecodeError::UnknownVersion(_) | DecodeError::UnknownFlags(_) => s.dropped_version += 1,
            DecodeError::WrongLabel => s.dropped_label += 1,
            DecodeError::EncryptionMismatch | DecodeError::Unauthenticated => s.dropped_auth += 1,
            DecodeError::Replayed => s.dropped_replay += 1,
            DecodeError::Truncated
            | DecodeError::BadMagic
            | DecodeError::Malformed
            | DecodeError::BadName
            | DecodeError::MetaTooLong
            | DecodeError::TooManyMessages => s.dropped_malformed += 1,
        }
    }

    fn process(&mut self, now: Instant, from: SocketAddr, msgs: &[Message<'_>]) {
        let mut via = Via::Gossip;
        let mut sync_request = false;
        let mut digest_differs = false;
        self.lookup_hint = None;
        let found = self.look_up_batch(msgs);
        for (k, msg) in msgs.iter().enumerate() {
            if let Some(found) = &found {
                self.lookup_hint = found.get(k).copied().filter(|&i| i != u32::MAX);
            }
            match *msg {
                Message::Ping { seq, target } => {
                    if target == &*self.name {
                        self.send(from, &[Message::Ack { seq }], true);
                    } else {
                        self.stats.misdirected_pings += 1;
                    }
                }
                Message::Ack { seq } => self.on_ack(seq),
                Message::Nack { seq } => {
                    if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
                        p.nacks += 1;
                        self.stats.nacks_received += 1;
                    }
                }
                Message::PingReq { seq, target, addr, nack } => {
                    self.on_ping_req(now, from, seq, target, addr.into(), nack)
                }
                Message::Alive { name, incarnation, addr, meta } => {
                    self.apply(now, name, Update::Alive { incarnation, addr: addr.into(), meta }, None, Some(from));
                }
                Message::Suspect { name, incarnation, from: by } => {
                    self.apply(now, name, status(incarnation, Status::Suspect), Some(by), Some(from));
                }
                Message::Dead { name, incarnation, from: by } => {
                    // A failure learnt through anti-entropy is only a suspicion here: this
                    // node checks for itself, which keeps one stale replica from killing
                    // members across a healed partition.
                    let s = if via == Via::Sync { Status::Suspect } else { Status::Dead };
                    self.apply(now, name, status(incarnation, s), Some(by), Some(from));
                }
                Message::Left { name, incarnation } => {
                    self.apply(now, name, status(incarnation, Status::Left), None, Some(from));
                }
                Message::User { origin, id, payload } => self.on_user(now, origin, id, payload, msg),
                Message::Digest { from: _, digest, members } => {
                    if self.state_digest_cached() == (digest, members) {
                        self.stats.syncs_in_sync += 1;
                    } else {
                        digest_differs = true;
                    }
                }
                Message::Sync { from: _, reply } => {
                    via = Via::Sync;
                    self.lookup_hint = Some(0);
                    sync_request |= !reply;
                    if !self.joined {
                        self.joined = true;
                        self.join_retry = None;
                        self.push_event(Event::Joined);
                        // The seed's answer may predate members that joined at the same time,
                        // and their alive gossip may have finished before anyone knew us:
                        // exchange state with a random member soon rather than in a full
                        // anti-entropy interval.
                        let soon = self.config.probe_interval.saturating_mul(2).mul_f64(1.0 + self.rng.random::<f64>());
                        self.next_push_pull = self.next_push_pull.min(now + soon);
                    }
                }
            }
        }
        self.lookup_hint = None;
        // A state request is answered with our state; a differing digest with our state as a
        // request, so that the sender merges it and answers with its own.
        if (sync_request || digest_differs) && self.leave.is_none() {
            let rl = self.config.rate_limit;
            if self.sync_replies.take(now, rl.sync_replies_per_sec, rl.sync_replies_burst) {
                self.send_state(from, sync_request);
                // Our state holds every correction the answer would carry.
                self.answer.clear();
            } else {
                self.stats.sync_replies_refused += 1;
            }
        }
        self.flush_answer(from);
    }

    /// For a gossip packet (more than a probe's few messages, no state exchange): the position
    /// of each update's member (`u32::MAX`: not known), found in one batch
    /// ([`MemberTable::get_indices_of`], which prefetches the records). When the member table is
    /// out of cache (many nodes in one simulator), the lookups of one packet then wait for
    /// memory together instead of one after another. The positions are only hints to
    /// [`Node::find_member`].
    fn look_up_batch(&self, msgs: &[Message<'_>]) -> Option<[u32; LOOKUP_BATCH]> {
        if msgs.len() <= INLINE_MESSAGES || msgs.iter().any(|m| matches!(m, Message::Sync { .. })) {
            return None;
        }
        let mut found = [u32::MAX; LOOKUP_BATCH];
        let subjects = msgs.iter().map(|msg| match *msg {
            Message::Alive { name, .. }
            | Message::Suspect { name, .. }
            | Message::Dead { name, .. }
            | Message::Left { name, .. } => Some(name),
            _ => None,
        });
        self.members.get_indices_of(subjects, &mut found);
        Some(found)
    }

    fn on_ack(&mut self, seq: u32) {
        if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
            self.probe = None;
            self.awareness.apply(-1);
            return;
        }
        if let Some(pos) = self.relays.iter().position(|r| r.local_seq == seq) {
            if let Some(r) = self.relays.remove(pos) {
                self.send(r.requester, &[Message::Ack { seq: r.requester_seq }], true);
            }
            return;
        }
        let finished = match self.leave.as_mut() {
            Some(l) if !l.done => match l.pending.iter().position(|&s| s == seq) {
                Some(pos) => {
                    l.pending.swap_remove(pos);
                    l.acknowledged += 1;
                    l.acknowledged >= l.needed
                }
                None => false,
            },
            _ => false,
        };
        if finished {
            self.finish_leave();
        }
    }

    fn on_ping_req(&mut self, now: Instant, from: SocketAddr, seq: u32, target: &str, addr: SocketAddr, nack: bool) {
        let local_seq = self.take_seq();
        self.send(addr, &[Message::Ping { seq: local_seq, target }], true);
        // Answer in time for the requester, which waits until the end of its probe period.
        let wait = (self.config.probe_interval.saturating_sub(self.config.probe_timeout)).mul_f64(0.8);
        self.relays.push_back(Relay {
            local_seq,
            requester: from,
            requester_seq: seq,
            nack_at: now + wait,
            want_nack: nack,
        });
        if self.relays.len() > MAX_RELAYS {
            self.relays.pop_front();
        }
    }

    fn on_user(&mut self, now: Instant, origin: &str, id: u64, payload: &[u8], msg: &Message<'_>) {
        self.expire_user_seen(now);
        if origin == &*self.name || self.user_seen.contains_key(&(Box::<str>::from(origin), id)) {
            return;
        }
        self.remember_user(origin.into(), id, now);
        self.push_event(Event::UserBroadcast { origin: origin.into(), payload: payload.to_vec() });
        let bytes = wire::encode_to_vec(msg);
        self.stats.user_broadcasts_dropped += self.queue.push_user(&bytes, self.config.max_queued_user_broadcasts);
    }

    fn remember_user(&mut self, origin: Box<str>, id: u64, now: Instant) {
        if self.user_seen.len() >= MAX_USER_SEEN {
            self.user_seen.shift_remove_index(0);
        }
        self.user_seen.insert((origin, id), now + USER_SEEN_TTL);
    }

    fn expire_user_seen(&mut self, now: Instant) {
        while self.user_seen.first().is_some_and(|(_, &expiry)| expiry <= now) {
            self.user_seen.shift_remove_index(0);
        }
    }

    /// Advances timers: probes, suspicions, gossip, anti-entropy, reconnects, join retries,
    /// leave completion and tombstone reaping.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.skip_idle_gossip_ticks(now);
        if self.has_left() {
            return;
        }
        if let Some(l) = &self.leave {
            if now >= l.deadline {
                self.finish_leave();
                return;
            }
        }
        self.expire_relays(now);
        self.expire_suspicions(now);
        if self.leave.is_none() {
            self.run_probe(now);
        }
        if now >= self.next_gossip {
            self.next_gossip = now + self.config.gossip_interval;
            self.gossip_round(now);
        }
        if self.leave.is_some() {
            return;
        }
        if now >= self.next_push_pull {
            let spread = 0.75 + 0.5 * self.rng.random::<f64>();
            self.next_push_pull = now + self.push_pull_interval().mul_f64(spread);
            let targets = self.random_members(1, None, |m| m.is_live());
            if let Some(addr) = targets.first().and_then(|&i| self.addr_of(i)) {
                self.start_sync(addr);
            }
        }
        if now >= self.next_reconnect {
            self.next_reconnect = now + self.config.reconnect_interval;
            self.reconnect(now);
            self.trim_member_table();
            self.release_buffers();
        }
        if let Some((at, backoff)) = self.join_retry {
            if now >= at {
                self.attempt_join(now, backoff.saturating_mul(2).min(self.config.join_retry_max));
            }
        }
        if now >= self.next_reap {
            self.next_reap = now + reap_interval(&self.config);
            self.reap(now);
        }
    }

    // ---- outputs --------------------------------------------------------------------------

    /// Writes the next datagram to send into `buf` (which should hold `Config::mtu` bytes;
    /// a smaller buffer limits the packet). Returns `None` when nothing is waiting.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(out) = self.outbox.pop_front() {
            if let Some(size) = self.assemble(&out, buf) {
                self.stats.packets_out += 1;
                self.stats.bytes_out += size as u64;
                return Some(Transmit { destination: out.destination, size });
            }
        }
        None
    }

    /// Frames one outgoing packet; `None` if there is nothing worth sending or it cannot fit.
    fn assemble(&mut self, out: &Outgoing, buf: &mut [u8]) -> Option<usize> {
        let limit = buf.len().min(self.mtu as usize);
        let buf = buf.get_mut(..limit)?;
        let encrypted = self.config.keyring.is_enabled();
        let label = self.config.label.as_bytes();
        let header_len = Header::encoded_len(label, encrypted);
        let body_end = limit.checked_sub(if encrypted { TAG_LEN } else { 0 })?;
        let mut pos = header_len;
        let out_body = out.body.as_slice();
        let body = buf.get_mut(pos..pos + out_body.len()).filter(|_| pos + out_body.len() <= body_end);
        let Some(body) = body else {
            self.stats.outbox_dropped += 1;
            return None;
        };
        body.copy_from_slice(out_body);
        pos += out_body.len();
        // An empty queue (the steady state) needs neither the limits nor the queue's buckets.
        if out.piggyback && !self.queue.is_idle() {
            let limit = self.retransmit_limit();
            let user_limit = self.user_retransmit_limit();
            let budget = self.config.user_broadcast_budget;
            self.queue.fill(buf.get_mut(..body_end)?, &mut pos, limit, user_limit, budget);
        }
        if pos == header_len {
            return None;
        }
        if !encrypted {
            Header::write(buf, label, None)?;
            return Some(pos);
        }
        let nonce = self.nonces.next_nonce();
        let key_id = self.config.keyring.primary_id()?;
        Header::write(buf, label, Some((key_id, nonce)))?;
        let (head, rest) = buf.split_at_mut(header_len);
        let sealed_body = rest.get_mut(..pos - header_len)?;
        let (_, tag) = self.config.keyring.seal(nonce, head, sealed_body)?;
        buf.get_mut(pos..pos + TAG_LEN)?.copy_from_slice(&tag);
        Some(pos + TAG_LEN)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > RETAINED_EVENTS {
            // A join delivers an event per member at once; do not keep that much room for ever.
            self.events = VecDeque::new();
        }
        event
    }

    /// Asks the CPU to start loading the part of this node that every datagram and timer
    /// reads (its first ~1.1 KiB: timers, probe, gossip queue, counters, rate limiter,
    /// outbox; the answer buffer; and the configuration's label, keyring and probe
    /// settings). A runtime that knows which node it will drive next, like a simulator of
    /// thousands of nodes whose states do not fit in the CPU caches, calls this while it
    /// handles an earlier event, so the loads overlap with that work. It changes nothing
    /// else.
    #[inline]
    pub fn prefetch(&self) {
        use crate::hint::prefetch;
        // A field in each line of the hot region that events read (`Node` is `repr(C)` and
        // line-aligned; the line numbers hold on 64-bit targets).
        prefetch(&self.next_probe); // 0: timers, live count, probe cursor
        prefetch(&self.mtu); // 1: probe hint, sizes, health, join state
        prefetch(&self.probe); // 2
        prefetch(&self.queue); // 3: the gossip queue's length
        prefetch(&self.stats); // 5: per-packet counters
        prefetch(&self.limiter); // 9
        prefetch(&self.scratch); // 10: decode buffers
        prefetch(&self.outbox); // 11: own name, outbox
        prefetch(&self.events); // 14
        prefetch(&self.relays); // 15: leave state, relays
        prefetch(&self.probe_order); // 16
        prefetch(&self.members); // 17
        prefetch(&self.answer); // 36: every datagram checks for corrections to send back
        // What the packet path reads of the configuration (its layout is the compiler's).
        prefetch(&self.config.label);
        prefetch(&self.config.keyring);
        prefetch(&self.config.probe_timeout);
        prefetch(&self.config.lifeguard);
    }

    /// The step after [`Node::prefetch`], once the node's own state is in cache: starts
    /// loading what handling the next input reads elsewhere in memory. For a datagram from
    /// `datagram_from`, the two rate-limiter slots of its source; for a timer (`None`), the
    /// probe order's next entry and the member table entry of the member it probably names.
    /// It changes nothing.
    #[inline]
    pub fn prefetch_input(&self, datagram_from: Option<IpAddr>) {
        match datagram_from {
            Some(ip) => self.limiter.prefetch(ip),
            None => {
                let hint = self.probe_hint;
                self.probe_order.prefetch(self.probe_cursor);
                self.members.prefetch(hint.pos as usize);
                self.members.prefetch_entry(hint.entry);
                self.members.prefetch(hint.then as usize);
            }
        }
    }

    /// When [`Node::handle_timeout`] should next be called; `None` once the node has left.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.has_left() {
            return None;
        }
        // Gossip ticks only matter while something is queued (see `skip_idle_gossip_ticks`).
        let mut next = if self.queue.len() > 0 { self.next_gossip } else { Instant::from_micros(u64::MAX) };
        let mut consider = |t: Instant| next = next.min(t);
        if let Some(l) = &self.leave {
            consider(l.deadline);
        } else {
            match &self.probe {
                Some(p) if !p.indirect_sent => consider(p.direct_deadline.min(p.end)),
                Some(p) => consider(p.end),
                None => consider(self.next_probe),
            }
            consider(self.next_push_pull);
            consider(self.next_reconnect);
            consider(self.next_reap);
            if let Some((at, _)) = self.join_retry {
                consider(at);
            }
        }
        if let Some(r) = self.relays.front() {
            consider(r.nack_at);
        }
        if let Some(Reverse((at, _))) = self.suspicion_timers.peek() {
            consider(*at);
        }
        Some(next)
    }

    // ---- probing --------------------------------------------------------------------------

    fn take_seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        s
    }

    fn run_probe(&mut self, now: Instant) {
        if let Some(p) = &self.probe {
            if !p.indirect_sent && now >= p.direct_deadline {
                self.send_indirect_probes();
            }
        }
        if self.probe.as_ref().is_some_and(|p| now >= p.end) {
            self.probe_failed(now);
        }
        if self.probe.is_none() && now >= self.next_probe {
            self.start_probe(now);
        }
    }

    fn start_probe(&mut self, now: Instant) {
        let interval = self.awareness.scale(self.config.probe_interval);
        self.next_probe = now + interval;
        let Some(i) = self.next_probe_target() else { return };
        let Some(m) = self.members.get(i) else { return };
        let Some(addr) = m.addr().map(SocketAddr::from) else { return };
        let target = Name::from(m.name());
        let liveness = m.liveness();
        let seq = self.take_seq();
        let ping = Message::Ping { seq, target: &target };
        if self.config.lifeguard.buddy && liveness.status == Status::Suspect {
            let suspect = Message::Suspect { name: &target, incarnation: liveness.incarnation, from: &self.name };
            let body = encode_msgs(&[ping, suspect]);
            self.push_outgoing(addr, body, true);
        } else {
            self.send(addr, &[ping], true);
        }
        self.stats.probes_sent += 1;
        let timeout = self.awareness.scale(self.config.probe_timeout);
        self.probe = Some(Probe {
            seq,
            target,
            addr,
            direct_deadline: now + timeout,
            end: now + interval,
            indirect_sent: false,
            expected_nacks: 0,
            nacks: 0,
        });
    }

    /// The next live member in a shuffled round-robin order (SWIM §4.3): every member is
    /// probed once per round, which bounds the time to first detection.
    fn next_probe_target(&mut self) -> Option<usize> {
        for _ in 0..=self.probe_order.len() {
            if self.probe_cursor >= self.probe_order.len() {
                self.probe_order.retain_below(self.members.len());
                self.probe_order.shuffle(&mut self.rng);
                self.probe_cursor = 0;
            }
            let i = self.probe_order.get(self.probe_cursor)?;
            self.probe_cursor += 1;
            if self.members.get(i).is_some_and(|m| m.is_live()) {
                let at = |cursor: usize| self.probe_order.get(cursor).map_or(0, |p| u32::try_from(p).unwrap_or(0));
                let pos = at(self.probe_cursor);
                let entry = self.members.entry_of(pos as usize).unwrap_or(0);
                self.probe_hint = ProbeHint { pos, entry, then: at(self.probe_cursor + 1) };
                return Some(i);
            }
        }
        None
    }

    fn send_indirect_probes(&mut self) {
        let Some(p) = self.probe.as_mut() else { return };
        p.indirect_sent = true;
        let (seq, target, addr) = (p.seq, p.target.clone(), p.addr);
        let exclude = self.members.get_index_of(&target);
        let helpers = self.random_members(self.config.indirect_checks as usize, exclude, |m| m.is_live());
        let nack = self.config.lifeguard.nacks;
        let req = Message::PingReq { seq, target: &target, addr: Addr::from(addr), nack };
        let body = encode_msgs(&[req]);
        let mut sent = 0;
        for i in helpers {
            if let Some(helper) = self.addr_of(i) {
                self.push_outgoing(helper, body.clone(), true);
                sent += 1;
            }
        }
        self.stats.indirect_probes_sent += u64::from(sent);
        if let Some(p) = self.probe.as_mut() {
            p.expected_nacks = if nack { sent } else { 0 };
        }
    }

    fn probe_failed(&mut self, now: Instant) {
        let Some(p) = self.probe.take() else { return };
        self.stats.probes_failed += 1;
        // Lifeguard: missing nacks mean our own links or CPU are the problem, not the target.
        let delta = if p.expected_nacks > 0 { p.expected_nacks.saturating_sub(p.nacks) } else { 1 };
        self.awareness.apply(i32::try_from(delta).unwrap_or(i32::MAX));
        let Some(m) = self.members.by_name(&p.target) else { return };
        if !m.is_live() {
            return;
        }
        let incarnation = m.liveness().incarnation;
        if m.status() == Status::Alive {
            self.stats.suspicions_raised += 1;
        }
        self.apply(now, &p.target, status(incarnation, Status::Suspect), None, None);
    }

    fn expire_relays(&mut self, now: Instant) {
        while let Some(r) = self.relays.front().copied() {
            if r.nack_at > now {
                break;
            }
            self.relays.pop_front();
            if r.want_nack {
                self.send(r.requester, &[Message::Nack { seq: r.requester_seq }], true);
            }
        }
    }

    // ---- suspicion ------------------------------------------------------------------------

    fn expire_suspicions(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.suspicion_timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, name))) = self.suspicion_timers.pop() else { break };
            let suspect = self.members.by_name(&name).is_some_and(|m| m.status() == Status::Suspect);
            let due = self
                .suspicions
                .get(&name)
                .filter(|s| suspect && s.deadline <= now)
                .map(|s| (s.incarnation, s.final_checks));
            match due {
                Some((incarnation, rounds)) if rounds < FINAL_CHECK_ROUNDS && self.config.lifeguard.buddy => {
                    self.final_check(now, &name, incarnation);
                }
                Some((incarnation, _)) => {
                    self.stats.failures_declared += 1;
                    self.apply(now, &name, status(incarnation, Status::Dead), None, None);
                }
                None => {}
            }
        }
    }

    /// Before declaring a suspect failed, ask it (a ping carrying the suspicion) and two other
    /// members (the suspicion alone) whether anyone knows better, and wait one probe timeout;
    /// [`FINAL_CHECK_ROUNDS`] times, with two other members each time. A suspect that refuted
    /// answers with its new incarnation, and so does any member that saw the refutation (see
    /// `repair_stale`), which covers the case where the refutation's gossip happened to miss
    /// this node. The rounds start early enough that the last one ends one probe timeout after
    /// the suspicion timeout (see [`check_start`]), so the cost is one probe timeout of
    /// detection time and three small packets per round and holder.
    fn final_check(&mut self, now: Instant, name: &str, incarnation: u32) {
        let wait = self.awareness.scale(self.config.probe_timeout);
        let Some(index) = self.members.get_index_of(name) else { return };
        let Some((name, s)) = self.suspicions.get_key_value_mut(name) else { return };
        s.final_checks += 1;
        s.deadline = now + wait;
        let by = s.confirmers.first().cloned().unwrap_or_else(|| self.name.as_str().into());
        let name = name.clone();
        self.suspicion_timers.push(Reverse((now + wait, name.clone())));
        compact_suspicion_timers(&mut self.suspicion_timers, &self.suspicions);
        let suspect = Message::Suspect { name: &name, incarnation, from: &by };
        let notice = encode_msgs(&[suspect]);
        if let Some(addr) = self.addr_of(index) {
            let seq = self.take_seq();
            let mut body = encode_msgs(&[Message::Ping { seq, target: &name }]);
            body.extend_from_slice(notice.as_slice());
            self.push_outgoing(addr, body, true);
        }
        for i in self.random_members(2, Some(index), |m| m.is_live()) {
            if let Some(addr) = self.addr_of(i) {
                self.push_outgoing(addr, notice.clone(), true);
            }
        }
    }

    fn new_suspicion(&self, now: Instant, incarnation: u32, by: &str) -> Suspicion {
        let c = &self.config;
        let (min, max) = suspicion_bounds(c.suspicion_mult, c.suspicion_max_mult, self.live + 1, c.probe_interval);
        let max = if c.lifeguard.dynamic_suspicion { max } else { min };
        let k = self.confirmations_expected();
        let timeout = check_start(c, suspicion_timeout(min, max, k, 0), min);
        Suspicion {
            incarnation,
            started: now,
            min,
            max,
            confirmers: vec![by.into()],
            deadline: now + timeout,
            final_checks: 0,
        }
    }

    /// Lifeguard's K, capped by the members that could possibly confirm.
    fn confirmations_expected(&self) -> u32 {
        let others = u32::try_from(self.live.saturating_sub(1)).unwrap_or(u32::MAX);
        if self.config.lifeguard.dynamic_suspicion { self.config.suspicion_confirmations.min(others) } else { 0 }
    }

    /// Counts an independent confirmation of a suspicion; returns whether it was new. A
    /// confirmation shortens the suspicion until its final check starts, and then no more.
    fn confirm(&mut self, name: &str, incarnation: u32, by: &str) -> bool {
        let k = self.confirmations_expected();
        let Some(s) = self.suspicions.get_mut(name).filter(|s| s.incarnation == incarnation) else { return false };
        let confirmations = u32::try_from(s.confirmers.len().saturating_sub(1)).unwrap_or(u32::MAX);
        if confirmations >= k || s.confirmers.iter().any(|c| c.as_str() == by) {
            return false;
        }
        s.confirmers.push(by.into());
        if s.final_checks > 0 {
            return true;
        }
        let timeout = suspicion_timeout(s.min, s.max, k, confirmations + 1);
        s.deadline = s.started + check_start(&self.config, timeout, s.min);
        let entry = Reverse((s.deadline, Name::from(name)));
        self.suspicion_timers.push(entry);
        compact_suspicion_timers(&mut self.suspicion_timers, &self.suspicions);
        true
    }

    // ---- merging --------------------------------------------------------------------------

    /// Applies one update about `name` and does what follows: events, suspicion timers,
    /// re-gossip of news, refutation when it is about this node. `by` is who suspected or
    /// declared the failure (this node when `None`).
    fn apply(&mut self, now: Instant, name: &str, update: Update<'_>, by: Option<&str>, source: Option<SocketAddr>) {
        if name == &*self.name {
            self.apply_to_self(update, source);
            return;
        }
        let (index, old, merged) = match self.find_member(name) {
            Some(i) => {
                if let Update::Alive { addr, incarnation, .. } = update {
                    if self.is_conflict(i, addr, incarnation) {
                        return;
                    }
                }
                let Some(m) = self.members.get(i) else { return };
                let old = m.has_payload().then_some(m.status());
                let was_live = m.is_live();
                (i, Some((old, was_live)), self.members.merge(i, update))
            }
            None => {
                if self.members.len() >= self.config.max_members {
                    self.stats.members_over_limit += 1;
                    return;
                }
                if self.members.len() == self.members.capacity() {
                    // Grow by a quarter rather than doubling: a node of a 10 000-member
                    // cluster would otherwise carry up to 40 % of empty member slots.
                    self.members.reserve_exact(self.members.len() / 4 + 16);
                }
                let Some(i) = self.members.insert(name, update, now) else { return };
                self.insert_probe_order(i);
                (i, None, crate::state::Merged { liveness: true, payload: true })
            }
        };
        if merged.any() {
            self.digest = None;
        } else {
            if let Update::Status(Liveness { incarnation, status: Status::Suspect }) = update {
                let by = Name::from(by.unwrap_or(&self.name));
                if self.confirm(name, incarnation, &by) {
                    self.gossip_update(index, name, update, Some(&by));
                }
            }
            if let (Update::Status(l), Some(source)) = (update, source) {
                self.repair_stale(index, l, source);
            }
            return;
        }
        let (old_status, was_live) = old.unwrap_or((None, false));
        self.after_merge(now, index, old_status, was_live, merged.liveness, by);
        self.gossip_update(index, name, update, by);
    }

    /// The index of member `name`. While a state-exchange chunk is applied, the member after
    /// the previous one is tried first: the sender lists its members in the order it learnt
    /// them, which is mostly the order this node learnt them too, so most records of a chunk
    /// are found by one comparison with the next entry instead of a hash lookup into a table
    /// of thousands. While a gossip packet is applied, the position its lookup batch found is
    /// tried first (then the next-entry guess is not used: the batch sets every hint). Either
    /// way the answer is the same.
    fn find_member(&mut self, name: &str) -> Option<usize> {
        let hinted =
            self.lookup_hint.map(|i| i as usize).filter(|&i| self.members.get(i).is_some_and(|m| m.name() == name));
        let index = hinted.or_else(|| self.members.get_index_of(name));
        if self.lookup_hint.is_some() {
            self.lookup_hint = Some(index.map_or(0, |i| u32::try_from(i + 1).unwrap_or(0)));
        }
        index
    }

    /// The sender holds a suspicion or failure we know was refuted, or that we know the
    /// member left: tell it directly instead of hoping gossip reaches it before its suspicion
    /// times out. (Found by the simulator's seed sweep: a leave's gossip, retransmitted only a
    /// few times in a small cluster, can miss a node, which then suspects the departed member
    /// and declared it failed although everyone else knew it had left.)
    fn repair_stale(&mut self, index: usize, stale: Liveness, source: SocketAddr) {
        let Some(m) = self.members.get(index) else { return };
        let (name, current) = (m.name(), m.liveness());
        if !matches!(stale.status, Status::Suspect | Status::Dead) {
            return;
        }
        let answer = match current.status {
            Status::Alive if current.incarnation > stale.incarnation => {
                let Some(p) = m.payload() else { return };
                Message::Alive { name, incarnation: p.incarnation, addr: p.addr, meta: p.meta }
            }
            Status::Left if current.incarnation >= stale.incarnation => {
                Message::Left { name, incarnation: current.incarnation }
            }
            _ => return,
        };
        let bytes = encode_msgs(&[answer]);
        self.stats.stale_repairs += 1;
        self.answer(source, bytes.as_slice());
    }

    /// Adds one encoded correction to the answer to the datagram being handled, which comes
    /// from `dst`. Whatever one datagram says that we know better (refuted suspicions, a
    /// suspicion of this node, a leave) is answered by one datagram, sent after it is handled
    /// and without piggybacked gossip: an answer per stale message, each carrying gossip
    /// that other nodes may hold stale too, was most of the traffic under heavy loss.
    fn answer(&mut self, dst: SocketAddr, encoded: &[u8]) {
        if self.answer.len() + encoded.len() > self.packet_space() {
            self.flush_answer(dst);
        }
        self.answer.extend_from_slice(encoded);
    }

    fn flush_answer(&mut self, dst: SocketAddr) {
        if self.answer.is_empty() {
            return;
        }
        let mut body = Body::new();
        body.extend_from_slice(&self.answer);
        self.answer.clear();
        if self.answer.capacity() > RETAINED_ANSWER {
            self.answer = Vec::new();
        }
        self.push_outgoing(dst, body, false);
    }

    /// An alive claim from a new address for a name whose current holder is not known to be
    /// failed or gone is refused (see ARCHITECTURE.md, "Name conflicts").
    fn is_conflict(&mut self, index: usize, addr: SocketAddr, incarnation: u32) -> bool {
        let Some(m) = self.members.get(index) else { return false };
        let (name, Some(known)) = (m.name(), m.addr()) else { return false };
        if known == Addr::from(addr) || !m.is_live() {
            return false;
        }
        self.stats.name_conflicts += 1;
        let reported = self.conflicts_reported.get(name).copied();
        if reported.is_none_or(|seen| incarnation > seen) {
            self.conflicts_reported.insert(name.into(), incarnation);
            let event = Event::NameConflict { name: name.into(), known: known.into(), claimed: addr };
            self.push_event(event);
        }
        true
    }

    /// Events, suspicion timers and the live count after a merge that changed something.
    /// `old_status` is the visible status before (`None`: not visible).
    fn after_merge(
        &mut self,
        now: Instant,
        index: usize,
        old_status: Option<Status>,
        was_live: bool,
        liveness_changed: bool,
        by: Option<&str>,
    ) {
        let Some(m) = self.members.get(index) else { return };
        let l = m.liveness();
        let new_suspicion = (l.status == Status::Suspect && liveness_changed)
            .then(|| self.new_suspicion(now, l.incarnation, by.unwrap_or(&self.name)));
        let Some(m) = self.members.get(index) else { return };
        let status = m.status();
        if liveness_changed {
            let name = Name::from(m.name());
            if old_status != Some(status) {
                self.members.set_changed_at(index, now);
            }
            match new_suspicion {
                Some(s) => {
                    self.suspicion_timers.push(Reverse((s.deadline, name.clone())));
                    self.suspicions.insert(name.clone(), s);
                }
                None => {
                    self.suspicions.swap_remove(name.as_str());
                }
            }
            compact_suspicion_timers(&mut self.suspicion_timers, &self.suspicions);
        }
        if status == Status::Dead && liveness_changed && old_status != Some(status) {
            self.last_death = Some(now);
        }
        let Some(m) = self.members.get(index) else { return };
        let is_live = m.is_live();
        match (is_live, was_live) {
            (true, false) => self.live += 1,
            (false, true) => self.live = self.live.saturating_sub(1),
            _ => {}
        }
        if is_live != was_live {
            self.retransmit_scale = retransmit_scale(self.live);
        }
        let Some(snapshot) = view(m).map(|v| v.to_member()) else { return };
        let event = match (old_status, status) {
            (None | Some(Status::Dead | Status::Left), Status::Alive | Status::Suspect) => {
                Event::MemberJoined(snapshot)
            }
            (Some(Status::Alive), Status::Alive) => Event::MemberUpdated(snapshot),
            (Some(Status::Suspect), Status::Alive) => {
                self.stats.suspicions_refuted += 1;
                Event::MemberAlive(snapshot)
            }
            (Some(Status::Alive), Status::Suspect) => Event::MemberSuspect(snapshot),
            (Some(Status::Alive | Status::Suspect | Status::Left), Status::Dead) => Event::MemberFailed(snapshot),
            (Some(Status::Alive | Status::Suspect | Status::Dead), Status::Left) => Event::MemberLeft(snapshot),
            _ => return,
        };
        self.push_event(event);
    }

    /// Something was said about this node: refute anything that would outlive our claim, and
    /// answer the sender directly so a stale view is corrected at once.
    fn apply_to_self(&mut self, update: Update<'_>, source: Option<SocketAddr>) {
        if self.leave.is_some() {
            return;
        }
        let answer = match update {
            Update::Alive { incarnation, addr, meta } => {
                if addr != self.addr {
                    if incarnation >= self.incarnation {
                        self.stats.name_conflicts += 1;
                        let event = Event::NameConflict { name: (*self.name).into(), known: self.addr, claimed: addr };
                        self.push_event(event);
                    }
                } else if incarnation > self.incarnation || (incarnation == self.incarnation && *meta != *self.meta) {
                    self.refute(incarnation);
                }
                false
            }
            Update::Status(l) => {
                if l.incarnation >= self.incarnation {
                    self.refute(l.incarnation);
                    self.awareness.apply(1);
                    true
                } else {
                    matches!(l.status, Status::Suspect | Status::Dead)
                }
            }
        };
        if let (true, Some(source)) = (answer, source) {
            let bytes = encode_msgs(&[self.self_alive()]);
            self.answer(source, bytes.as_slice());
        }
    }

    fn refute(&mut self, incarnation: u32) {
        self.incarnation = incarnation.saturating_add(1);
        self.digest = None;
        self.stats.refutations += 1;
        self.gossip_self_alive();
    }

    /// This node's current alive claim.
    fn self_alive(&self) -> Message<'_> {
        Message::Alive { name: &self.name, incarnation: self.incarnation, addr: self.addr.into(), meta: &self.meta }
    }

    fn gossip_self_alive(&mut self) {
        let msg = self.self_alive();
        let bytes = wire::encode_to_vec(&msg);
        self.queue.push_member(queue::SELF, &bytes);
    }

    fn gossip_update(&mut self, index: usize, name: &str, update: Update<'_>, by: Option<&str>) {
        let from = by.unwrap_or(&self.name);
        let msg = match update {
            Update::Alive { incarnation, addr, meta } => Message::Alive { name, incarnation, addr: addr.into(), meta },
            Update::Status(Liveness { incarnation, status }) => match status {
                Status::Alive => return,
                Status::Suspect => Message::Suspect { name, incarnation, from },
                Status::Dead => Message::Dead { name, incarnation, from },
                Status::Left => Message::Left { name, incarnation },
            },
        };
        self.queue.push_member(u32::try_from(index).unwrap_or(u32::MAX), &wire::encode_to_vec(&msg));
    }

    fn insert_probe_order(&mut self, index: usize) {
        // A random position in the part of the round not yet probed, so a new member is
        // probed within this round without disturbing the order of the others.
        self.probe_order.push(u32::try_from(index).unwrap_or(u32::MAX));
        let last = self.probe_order.len() - 1;
        let lo = self.probe_cursor.min(last);
        let j = self.rng.random_range(lo..=last);
        self.probe_order.swap(j, last);
    }

    // ---- dissemination and anti-entropy ---------------------------------------------------

    /// A gossip tick with nothing queued does nothing but schedule the next one, so
    /// [`Node::poll_timeout`] leaves the gossip deadline out while the queue is empty (half
    /// the wake-ups of a quiet node). Each entry point calls this first: ticks that passed
    /// while idle are skipped on the same grid of `gossip_interval` steps, so the first round
    /// after a quiet spell goes out exactly when it would have had the node woken for every
    /// tick.
    fn skip_idle_gossip_ticks(&mut self, now: Instant) {
        if self.queue.len() > 0 || self.next_gossip >= now {
            return;
        }
        let interval = u64::try_from(self.config.gossip_interval.as_micros()).unwrap_or(u64::MAX).max(1);
        let behind = now.as_micros() - self.next_gossip.as_micros();
        let ticks = behind.div_ceil(interval);
        self.next_gossip =
            Instant::from_micros(self.next_gossip.as_micros().saturating_add(ticks.saturating_mul(interval)));
    }

    fn gossip_round(&mut self, now: Instant) {
        if self.queue.len() == 0 {
            return;
        }
        let dead_window = self.config.gossip_to_the_dead;
        let targets = self.random_members(self.config.gossip_fanout as usize, None, |m| {
            m.is_live()
                || (m.has_payload()
                    && m.status() == Status::Dead
                    && m.changed_at().is_some_and(|at| now - at < dead_window))
        });
        for i in targets {
            if let Some(addr) = self.addr_of(i) {
                self.push_outgoing(addr, Body::new(), true);
            }
        }
    }

    fn push_pull_interval(&self) -> Duration {
        // memberlist's pushPullScale: above 32 members, one more interval per doubling, so the
        // cluster-wide anti-entropy load grows like n·log n instead of n².
        let n = self.live + 1;
        if n <= 32 {
            return self.config.push_pull_interval;
        }
        #[allow(clippy::cast_precision_loss)]
        let mult = libm::ceil(libm::log2(n as f64) - 5.0) + 1.0;
        self.config.push_pull_interval.mul_f64(mult)
    }

    /// Starts an anti-entropy exchange with `dst` by sending the digest of our state. A peer
    /// whose digest differs answers with its full state as a request (so we merge it and
    /// answer with ours); an equal digest ends the exchange there, at the cost of one small
    /// packet instead of two full states.
    fn start_sync(&mut self, dst: SocketAddr) {
        self.stats.syncs_started += 1;
        let (digest, members) = self.state_digest_cached();
        let body = encode_msgs(&[Message::Digest { from: &self.name, digest, members }]);
        self.push_outgoing(dst, body, true);
    }

    /// The digest of this node's state, from the cache when nothing changed since it was
    /// last computed.
    fn state_digest_cached(&mut self) -> (u64, u32) {
        if let Some(d) = self.digest {
            debug_assert_eq!(d, self.state_digest(), "a state change did not invalidate the digest");
            return d;
        }
        let d = self.state_digest();
        self.digest = Some(d);
        d
    }

    /// The anti-entropy digest of this node's view: the sum (mod 2⁶⁴) of one SipHash-1-3 per
    /// member, this node included, over the member's merged state, and the number of
    /// members summed. Two nodes with equal views have equal digests whatever order they
    /// learnt things in (docs/wire-format.md §4.3.1 defines the hashed bytes). O(members);
    /// the node caches it between state changes.
    pub fn state_digest(&self) -> (u64, u32) {
        let me = Liveness { incarnation: self.incarnation, status: Status::Alive };
        let payload = PayloadRef { incarnation: self.incarnation, addr: Addr::from(self.addr), meta: &self.meta };
        let mut sum = member_hash(&self.name, me, Some(payload));
        for m in self.members.iter() {
            sum = sum.wrapping_add(member_hash(m.name(), m.liveness(), m.payload()));
        }
        (sum, u32::try_from(self.members.len() + 1).unwrap_or(u32::MAX))
    }

    /// Sends this node's whole state to `dst`, split into MTU-sized chunks.
    fn send_state(&mut self, dst: SocketAddr, reply: bool) {
        let space = self.packet_space();
        let mut buf = vec![0u8; space];
        // Only a request's first chunk asks for an answer; the others (and every chunk of an
        // answer) say `reply: true`, so one request costs one answer, not one per chunk.
        let first = Message::Sync { from: &self.name, reply };
        let later = Message::Sync { from: &self.name, reply: true };
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut pos = 0;
        wire::encode_into(&first, &mut buf, &mut pos);
        let mut push = |msg: &Message<'_>, buf: &mut Vec<u8>, pos: &mut usize| {
            if !wire::encode_into(msg, buf, pos) {
                chunks.push(buf.get(..*pos).unwrap_or_default().to_vec());
                *pos = 0;
                wire::encode_into(&later, buf, pos);
                wire::encode_into(msg, buf, pos);
            }
        };
        let me = self.self_alive();
        push(&me, &mut buf, &mut pos);
        for m in self.members.iter() {
            let name = m.name();
            if let Some(p) = m.payload() {
                let alive = Message::Alive { name, incarnation: p.incarnation, addr: p.addr, meta: p.meta };
                push(&alive, &mut buf, &mut pos);
            }
            let Liveness { incarnation, status } = m.liveness();
            let msg = match status {
                Status::Alive => continue,
                Status::Suspect => Message::Suspect { name, incarnation, from: &self.name },
                Status::Dead => Message::Dead { name, incarnation, from: &self.name },
                Status::Left => Message::Left { name, incarnation },
            };
            push(&msg, &mut buf, &mut pos);
        }
        chunks.push(buf.get(..pos).unwrap_or_default().to_vec());
        for chunk in chunks {
            self.push_outgoing(dst, Body::Heap(chunk), false);
        }
    }

    fn attempt_join(&mut self, now: Instant, next_backoff: Duration) {
        for seed in self.seeds.clone() {
            self.stats.syncs_started += 1;
            self.send_state(seed, false);
        }
        // Jitter spreads the retries of many nodes started together.
        let jittered = next_backoff.mul_f64(0.75 + 0.5 * self.rng.random::<f64>());
        self.join_retry = Some((now + jittered, next_backoff));
    }

    /// Tries one recently failed member, so two sides of a healed partition find each other;
    /// and a seed when this node is alone.
    fn reconnect(&mut self, now: Instant) {
        let window = self.config.reconnect_timeout;
        let n = self.members.len();
        // Sampling reads random member entries (cache misses in a large table): skip it when
        // no member can qualify, because none died within the window.
        if n > 0 && self.last_death.is_some_and(|t| now - t < window) {
            for _ in 0..16 {
                let i = self.rng.random_range(0..n);
                let Some(m) = self.members.get(i) else { continue };
                if m.status() == Status::Dead && m.changed_at().is_some_and(|at| now - at < window) {
                    if let Some(addr) = m.addr().map(SocketAddr::from) {
                        self.start_sync(addr);
                    }
                    break;
                }
            }
        }
        if self.live == 0 && self.joined && !self.seeds.is_empty() {
            let seed = self.seeds.get(self.rng.random_range(0..self.seeds.len())).copied();
            if let Some(seed) = seed {
                self.stats.syncs_started += 1;
                self.send_state(seed, false);
            }
        }
    }

    /// Once the member table has stopped growing (no new member for a reconnect interval),
    /// gives back the room it grew into: up to a quarter of the table after a join, in every
    /// node of the cluster.
    fn trim_member_table(&mut self) {
        let len = self.members.len();
        if len == self.members_at_trim && self.members.capacity() > len + len / 16 + 16 {
            self.members.shrink_to_fit();
            self.probe_order.shrink_to_fit();
        }
        self.members_at_trim = len;
    }

    /// Gives back the buffers that bursts grew, every reconnect interval (10 s on a LAN):
    /// between bursts they are reused, but a settled node would keep them for good (about
    /// 2 KiB of messages, outgoing datagrams and events per agent at N = 1000, measured).
    fn release_buffers(&mut self) {
        if self.outbox.len() == 0 {
            self.outbox.rest = VecDeque::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        // Empty between datagrams.
        self.messages = Vec::new();
    }

    /// Forgets tombstones older than `tombstone_ttl`.
    fn reap(&mut self, now: Instant) {
        let ttl = self.config.tombstone_ttl;
        let forgotten = self.members.retain(|m| m.is_live() || m.changed_at().is_none_or(|at| now - at < ttl));
        if let Some(new_pos) = forgotten {
            self.queue.remap(&new_pos);
            self.digest = None;
            let members = &self.members;
            self.conflicts_reported.retain(|name, _| members.get_index_of(name.as_str()).is_some());
            self.probe_order.reset(self.members.len(), &mut self.rng);
            self.probe_cursor = 0;
        }
    }

    fn finish_leave(&mut self) {
        let Some(l) = self.leave.as_mut() else { return };
        if l.done {
            return;
        }
        l.done = true;
        let acknowledged = l.acknowledged;
        self.push_event(Event::LeaveComplete { acknowledged });
    }

    // ---- helpers --------------------------------------------------------------------------

    fn addr_of(&self, index: usize) -> Option<SocketAddr> {
        self.members.get(index).and_then(|m| m.addr()).map(SocketAddr::from)
    }

    /// Up to `k` distinct random members satisfying `eligible`, other than `exclude`.
    fn random_members(
        &mut self,
        k: usize,
        exclude: Option<usize>,
        eligible: impl Fn(MemberRef<'_>) -> bool,
    ) -> Vec<usize> {
        let n = self.members.len();
        let mut picked = Vec::with_capacity(k);
        if k == 0 || n == 0 {
            return picked;
        }
        let ok = |i: usize, picked: &[usize]| {
            Some(i) != exclude && !picked.contains(&i) && self.members.get(i).is_some_and(&eligible)
        };
        if n <= 4 * k + 16 {
            let mut all: Vec<usize> = (0..n).filter(|&i| ok(i, &[])).collect();
            let (chosen, _) = all.partial_shuffle(&mut self.rng, k);
            picked.extend_from_slice(chosen);
            return picked;
        }
        // Rejection sampling: cheap when most members are eligible, bounded when few are.
        for _ in 0..8 * k + 32 {
            let i = self.rng.random_range(0..n);
            if ok(i, &picked) {
                picked.push(i);
                if picked.len() == k {
                    break;
                }
            }
        }
        picked
    }

    fn retransmit_limit(&self) -> u32 {
        self.config.retransmit_mult.saturating_mul(self.retransmit_scale)
    }

    /// User broadcasts are retransmitted `2 × retransmit_mult` more times than member updates.
    /// Nothing repairs a broadcast that gossip missed (anti-entropy carries member state only),
    /// and with `k` transmissions per node a node misses one with probability about `e^-k`:
    /// at 4 transmissions (clusters under 9 members) the simulator's seed sweep lost about one
    /// broadcast in a hundred without any packet loss.
    fn user_retransmit_limit(&self) -> u32 {
        self.config.retransmit_mult.saturating_mul(self.retransmit_scale + 2)
    }

    /// Body bytes available in a packet. Always leaves room for encryption, so a packet sized
    /// before a key is installed still fits after.
    fn packet_space(&self) -> usize {
        self.config.mtu - Header::encoded_len(self.config.label.as_bytes(), true) - TAG_LEN
    }

    fn send(&mut self, dst: SocketAddr, msgs: &[Message<'_>], piggyback: bool) {
        self.push_outgoing(dst, encode_msgs(msgs), piggyback);
    }

    fn push_outgoing(&mut self, destination: SocketAddr, body: Body, piggyback: bool) {
        if self.outbox.len() >= MAX_OUTBOX {
            let _ = self.outbox.pop_front();
            self.stats.outbox_dropped += 1;
        }
        self.outbox.push_back(Outgoing { destination, body, piggyback });
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

/// SipHash-1-3 (keys 0, 0) of one member's merged state, as the anti-entropy digest sums it:
/// name length (u8) and bytes, status (u8: alive 0, suspect 1, dead 2, left 3), incarnation
/// (u32 LE), then 0 without an alive payload, or 1, the payload's incarnation (u32 LE), the
/// address (4 or 6, octets, port u16 LE), metadata length (u16 LE) and bytes.
fn member_hash(name: &str, liveness: Liveness, payload: Option<PayloadRef<'_>>) -> u64 {
    let mut h = SipHasher13::new_with_keys(0, 0);
    h.write(&[u8::try_from(name.len()).unwrap_or(u8::MAX)]);
    h.write(name.as_bytes());
    let Liveness { incarnation, status } = liveness;
    h.write(&[status as u8]);
    h.write(&incarnation.to_le_bytes());
    match payload {
        None => h.write(&[0]),
        Some(p) => {
            h.write(&[1]);
            h.write(&p.incarnation.to_le_bytes());
            match p.addr {
                Addr::V4(ip, port) => {
                    h.write(&[4]);
                    h.write(&ip);
                    h.write(&port.to_le_bytes());
                }
                Addr::V6(ip, port) => {
                    h.write(&[6]);
                    h.write(&ip);
                    h.write(&port.to_le_bytes());
                }
            }
            h.write(&u16::try_from(p.meta.len()).unwrap_or(u16::MAX).to_le_bytes());
            h.write(p.meta);
        }
    }
    h.finish()
}

fn status(incarnation: u32, status: Status) -> Update<'static> {
    Update::Status(Liveness { incarnation, status })
}

fn view(m: MemberRef<'_>) -> Option<MemberView<'_>> {
    let p = m.payload()?;
    let Liveness { incarnation, status } = m.liveness();
    Some(MemberView { name: m.name(), addr: p.addr.into(), status, incarnation, meta: p.meta })
}

/// Empties `v` and hands its allocation over as a vector of another lifetime: collecting in
/// place reuses the buffer (same element layout) and there is no element to convert. This is
/// how one message vector serves every datagram without an allocation per packet.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'b>(mut v: Vec<Message<'_>>) -> Vec<Message<'b>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

fn encode_msgs(msgs: &[Message<'_>]) -> Body {
    let mut out = Body::new();
    for m in msgs {
        out.push_message(m);
    }
    out
}

/// Retransmissions per update are `retransmit_mult × retransmit_scale(live)`: ⌈log10(n + 1)⌉
/// with `n = live + 1` members, at least 1.
fn retransmit_scale(live: usize) -> u32 {
    #[allow(clippy::cast_precision_loss)]
    let scale = libm::ceil(libm::log10((live + 2) as f64)) as u32;
    scale.max(1)
}

/// Suspicion timers are removed lazily: a confirmation or a final-check round pushes a new
/// entry and leaves the old one, and a refuted suspicion leaves its entries until they are
/// due, up to the maximum suspicion timeout later. Under heavy loss that is thousands of
/// stale entries per node (about 7000 at N=3000 and 20 % loss, for ~120 running
/// suspicions). Once the stale ones outnumber the running suspicions, the heap is rebuilt
/// with one entry per suspicion, at its deadline: linear time, paid for by as many pushes.
fn compact_suspicion_timers(timers: &mut BinaryHeap<Reverse<(Instant, Name)>>, suspicions: &FastMap<Name, Suspicion>) {
    let live = suspicions.len();
    if timers.len() <= 2 * live + 16 {
        return;
    }
    let mut entries = core::mem::take(timers).into_vec();
    entries.clear();
    if entries.capacity() > 4 * (2 * live + 16) {
        entries.shrink_to(2 * live + 16);
    }
    entries.extend(suspicions.iter().map(|(name, s)| Reverse((s.deadline, name.clone()))));
    *timers = BinaryHeap::from(entries);
}

/// When a suspicion's final check starts, given its suspicion `timeout`: one probe timeout
/// per round but the last before it, so the member is declared failed one probe timeout after
/// the suspicion timeout (as with a single round), whatever the number of rounds; but not
/// before half the minimum timeout (a configuration whose probe timeout is long next to its
/// suspicion timeout). Without the final check, at the timeout itself.
fn check_start(config: &Config, timeout: Duration, min: Duration) -> Duration {
    if !config.lifeguard.buddy {
        return timeout;
    }
    let lead = config.probe_timeout.saturating_mul(u32::from(FINAL_CHECK_ROUNDS) - 1);
    timeout.saturating_sub(lead).max(min / 2).min(timeout)
}

fn reap_interval(config: &Config) -> Duration {
    (config.tombstone_ttl / 8).max(Duration::from_secs(1))
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    fn datagram(msgs: &[Message<'_>]) -> Vec<u8> {
        let body: Vec<u8> = msgs.iter().flat_map(wire::encode_to_vec).collect();
        wire::encode_frame(b"", None, &body).unwrap_or_default()
    }

    /// Suspicions raised, confirmed and refuted over and over leave stale timer entries; the
    /// heap is compacted so they never outnumber the running suspicions by much, and a
    /// suspicion that is still running still times out.
    #[test]
    fn stale_suspicion_timers_are_compacted() {
        let addr = |port: u16| SocketAddr::from(([10, 0, 0, 1], port));
        let me = Identity { name: "me".into(), addr: addr(1), meta: vec![] };
        let mut node = Node::new(Config::lan(), me, [5; 32], Instant::ZERO).unwrap_or_else(|_| unreachable!());
        let names: Vec<String> = (0..50).map(|i| alloc::format!("m{i:02}")).collect();
        let port = |i: usize| 1000 + u16::try_from(i).unwrap_or(0);
        for (i, name) in names.iter().enumerate() {
            let alive = Message::Alive { name, incarnation: 0, addr: addr(port(i)).into(), meta: b"" };
            node.handle_datagram(Instant::ZERO, addr(2), &datagram(&[alive]));
        }
        let start = Instant::from_millis(10);
        let long = Message::Suspect { name: "m49", incarnation: 0, from: "m48" };
        node.handle_datagram(start, addr(3), &datagram(&[long]));
        let mut incarnation = [0u32; 49];
        for round in 0..400usize {
            let now = start + Duration::from_millis(5 * round as u64);
            let k = round % 49;
            let (name, inc) = (names[k].as_str(), incarnation[k]);
            let mut msgs = vec![Message::Suspect { name, incarnation: inc, from: "m48" }];
            for by in ["m45", "m46", "m47"] {
                msgs.push(Message::Suspect { name, incarnation: inc, from: by });
            }
            node.handle_datagram(now, addr(4), &datagram(&msgs));
            let refutation = Message::Alive { name, incarnation: inc + 1, addr: addr(port(k)).into(), meta: b"" };
            node.handle_datagram(now, addr(port(k)), &datagram(&[refutation]));
            incarnation[k] = inc + 1;
            assert!(
                node.suspicion_timers.len() <= 2 * node.suspicions.len() + 16,
                "{} timers for {} suspicions",
                node.suspicion_timers.len(),
                node.suspicions.len()
            );
        }
        assert_eq!(node.suspicions.len(), 1, "only m49's suspicion is still running");
        let mut failed = false;
        while let Some(now) = node.poll_timeout().filter(|&t| t < start + Duration::from_secs(120)) {
            node.handle_timeout(now);
            while node.poll_transmit(now, &mut [0u8; 1400]).is_some() {}
            while let Some(e) = node.poll_event() {
                failed |= matches!(&e, Event::MemberFailed(m) if m.name == "m49");
            }
            if failed {
                break;
            }
        }
        assert!(failed, "the running suspicion still timed out");
    }

    /// `Node::prefetch` names one field per cache line; this keeps it true when fields move.
    #[test]
    fn prefetch_names_each_hot_line() {
        use core::mem::offset_of;
        let line = |offset: usize| offset / 64;
        assert_eq!(core::mem::align_of::<Node>(), 64);
        // The fields `Node::prefetch` names, in its order, and the lines they are in.
        let named = [
            offset_of!(Node, next_probe),
            offset_of!(Node, mtu),
            offset_of!(Node, probe),
            offset_of!(Node, queue),
            offset_of!(Node, stats),
            offset_of!(Node, limiter),
            offset_of!(Node, scratch),
            offset_of!(Node, outbox),
            offset_of!(Node, events),
            offset_of!(Node, relays),
            offset_of!(Node, probe_order),
            offset_of!(Node, members),
            offset_of!(Node, answer),
        ]
        .map(line);
        assert_eq!(named, [0, 1, 2, 3, 5, 9, 10, 11, 14, 15, 16, 17, 36]);
        // What every datagram or timer reads lies in those lines.
        for (field, offset) in [
            ("live", offset_of!(Node, live)),
            ("probe_cursor", offset_of!(Node, probe_cursor)),
            ("probe_hint", offset_of!(Node, probe_hint)),
            ("max_inbound_packet", offset_of!(Node, max_inbound_packet)),
            ("awareness", offset_of!(Node, awareness)),
            ("messages", offset_of!(Node, messages)),
            ("name", offset_of!(Node, name)),
            ("leave", offset_of!(Node, leave)),
            // `MemberTable` is `repr(C)`: its records and blob vectors (48 bytes) come first.
            ("the member table's records and blob", offset_of!(Node, members) + 47),
        ] {
            assert!(named.contains(&line(offset)), "{field} is in line {}, which is not prefetched", line(offset));
        }
    }
}
