//! Dissemination: updates are queued and piggybacked on every datagram this node sends, and
//! on gossip rounds to `gossip_fanout` random members every `gossip_interval` while anything is
//! queued. Each update is sent `retransmit_mult × ⌈log10(n + 1)⌉` times, user broadcasts
//! `2 × retransmit_mult` more.

use core::time::Duration;

use super::Node;
use super::transmit::Body;
use crate::config::Config;
use crate::queue::{self, BroadcastQueue};
use crate::state::{Liveness, Status, Update};
use crate::time::Instant;
use crate::wire::{self, Message};

/// The dissemination queue and its round timer.
///
/// Rounds only matter while something is queued, so the deadline is left out of
/// [`Node::poll_timeout`] while the queue is empty (half the wake-ups of a quiet node). The
/// rounds keep to one grid of `gossip_interval` steps: when an update is queued after a quiet
/// spell, the next round is the first grid point from then, exactly when it would have gone
/// out had the node been woken for every empty round.
pub(super) struct Gossip {
    queue: BroadcastQueue,
    /// The next round, on the grid (or behind it while nothing is queued; see [`Gossip::align`]).
    next_round: Instant,
    interval: Duration,
}

impl Gossip {
    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, next_round, interval);
        self.queue.prefetch();
    }

    pub(super) fn new(first_round: Instant, interval: Duration) -> Self {
        Gossip { queue: BroadcastQueue::new(), next_round: first_round, interval }
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// The next round, while anything is queued.
    pub(super) fn deadline(&self) -> Option<Instant> {
        (self.queue.len() > 0).then_some(self.next_round)
    }

    /// Whether a round is due at `now`; if so, schedules the next one.
    pub(super) fn round_due(&mut self, now: Instant) -> bool {
        self.align(now);
        if now < self.next_round {
            return false;
        }
        self.next_round = now + self.interval;
        self.queue.len() > 0
    }

    /// While nothing is queued, moves the next round along the grid to the first point at or
    /// after `now` (the rounds skipped would have sent nothing).
    fn align(&mut self, now: Instant) {
        if self.queue.len() > 0 || self.next_round >= now {
            return;
        }
        let interval = u64::try_from(self.interval.as_micros()).unwrap_or(u64::MAX).max(1);
        let behind = now.as_micros() - self.next_round.as_micros();
        let ticks = behind.div_ceil(interval);
        self.next_round =
            Instant::from_micros(self.next_round.as_micros().saturating_add(ticks.saturating_mul(interval)));
    }

    /// Queues an update about the member at `key` (or [`queue::SELF`]), replacing the one
    /// queued about it.
    pub(super) fn push_member(&mut self, now: Instant, key: queue::Key, bytes: &[u8]) {
        self.align(now);
        self.queue.push_member(key, bytes);
    }

    /// Queues a user broadcast; returns how many were evicted to make room.
    pub(super) fn push_user(&mut self, now: Instant, bytes: &[u8], max_user: usize) -> u64 {
        self.align(now);
        self.queue.push_user(bytes, max_user)
    }

    /// Member positions changed.
    pub(super) fn remap(&mut self, new_pos: &[u32]) {
        self.queue.remap(new_pos);
    }

    /// Piggybacks queued updates on a packet: appends them to `out[*pos..]` while they fit.
    pub(super) fn fill(&mut self, out: &mut [u8], pos: &mut usize, retransmit_scale: u32, config: &Config) {
        // An empty queue (the steady state) needs neither the limits nor the queue's buckets.
        if self.queue.is_idle() {
            return;
        }
        let limit = config.retransmit_mult.saturating_mul(retransmit_scale);
        // User broadcasts are retransmitted `2 × retransmit_mult` more times than member
        // updates. Nothing repairs a broadcast that gossip missed (anti-entropy carries member
        // state only), and with `k` transmissions per node a node misses one with probability
        // about `e^-k`: at 4 transmissions (clusters under 9 members) the simulator's seed
        // sweep lost about one broadcast in a hundred without any packet loss.
        let user_limit = config.retransmit_mult.saturating_mul(retransmit_scale + 2);
        self.queue.fill(out, pos, limit, user_limit, config.user_broadcast_budget);
    }
}

impl Node {
    /// Queues this node's current alive claim.
    pub(super) fn gossip_self_alive(&mut self, now: Instant) {
        let bytes = wire::encode_to_vec(&self.local.alive());
        self.gossip.push_member(now, queue::SELF, &bytes);
    }

    /// Queues `update` about the member at `index`, as news for the others.
    pub(super) fn gossip_update(
        &mut self,
        now: Instant,
        index: usize,
        name: &str,
        update: Update<'_>,
        by: Option<&str>,
    ) {
        let from = by.unwrap_or(&self.local.name);
        let msg = match update {
            Update::Alive { incarnation, addr, meta } => Message::Alive { name, incarnation, addr: addr.into(), meta },
            Update::Status(Liveness { incarnation, status }) => match status {
                Status::Alive => return,
                Status::Suspect => Message::Suspect { name, incarnation, from },
                Status::Dead => Message::Dead { name, incarnation, from },
                Status::Left => Message::Left { name, incarnation },
            },
        };
        let bytes = wire::encode_to_vec(&msg);
        self.gossip.push_member(now, u32::try_from(index).unwrap_or(u32::MAX), &bytes);
    }

    /// A gossip round: an empty packet, filled with queued updates when it is sent, to
    /// `gossip_fanout` live members and members that died within `gossip_to_the_dead`.
    pub(super) fn gossip_round(&mut self, now: Instant) {
        let dead_window = self.config.gossip_to_the_dead;
        let eligible = |m: crate::table::MemberRef<'_>| {
            m.is_live()
                || (m.has_payload()
                    && m.status() == Status::Dead
                    && m.changed_at().is_some_and(|at| now - at < dead_window))
        };
        let targets = self.members.random(self.config.gossip_fanout as usize, None, eligible, &mut self.rng);
        for i in targets {
            if let Some(addr) = self.members.addr_of(i) {
                self.push_outgoing(addr, Body::new(), true);
            }
        }
    }
}
