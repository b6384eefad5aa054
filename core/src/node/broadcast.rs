//! User broadcasts: an application payload gossiped to every member, delivered once by each
//! (the ids seen are remembered long after any retransmission).

use alloc::boxed::Box;
use core::time::Duration;

use super::{Error, FastMap, Node};
use crate::event::Event;
use crate::time::Instant;
use crate::wire::{self, Message};

/// User broadcasts remembered for de-duplication, at most.
const MAX_USER_SEEN: usize = 4096;
/// How long a user broadcast id is remembered; far longer than any retransmission lasts.
const USER_SEEN_TTL: Duration = Duration::from_secs(120);

/// The broadcasts seen (by origin and id, oldest first) and the id of our next one.
pub(super) struct Broadcasts {
    seen: FastMap<(Box<str>, u64), Instant>,
    next_id: u64,
}

impl Broadcasts {
    pub(super) fn new(hash_seed: u64, first_id: u64) -> Self {
        Broadcasts { seen: FastMap::with_hasher(foldhash::fast::FixedState::with_seed(hash_seed)), next_id: first_id }
    }

    /// Forgets the ids remembered longer than [`USER_SEEN_TTL`].
    fn expire(&mut self, now: Instant) {
        while self.seen.first().is_some_and(|(_, &expiry)| expiry <= now) {
            self.seen.shift_remove_index(0);
        }
    }

    /// Whether the broadcast `id` of `origin` is new (then it is remembered).
    fn first_sight(&mut self, origin: &str, id: u64, now: Instant) -> bool {
        if self.seen.contains_key(&(Box::<str>::from(origin), id)) {
            return false;
        }
        self.remember(origin, id, now);
        true
    }

    fn remember(&mut self, origin: &str, id: u64, now: Instant) {
        if self.seen.len() >= MAX_USER_SEEN {
            self.seen.shift_remove_index(0);
        }
        self.seen.insert((origin.into(), id), now + USER_SEEN_TTL);
    }
}

impl Node {
    /// Largest payload [`Node::broadcast`] accepts.
    pub fn max_broadcast_len(&self) -> usize {
        // Message length prefix (≤ 2) + variant tag (1) + origin length (1) and bytes + id (≤ 10)
        // + payload length (≤ 3).
        self.config.user_broadcast_budget.saturating_sub(17 + self.local.name.len())
    }

    /// Sends `payload` to every member, piggybacked on the protocol's traffic. Each member
    /// delivers it once as [`Event::UserBroadcast`]; this node does not.
    pub fn broadcast(&mut self, payload: &[u8], now: Instant) -> Result<(), Error> {
        if self.lifecycle.leave.is_some() {
            return Err(Error::Leaving);
        }
        let max = self.max_broadcast_len();
        if payload.len() > max {
            return Err(Error::PayloadTooLarge { len: payload.len(), max });
        }
        let b = &mut self.broadcasts;
        let id = b.next_id;
        b.next_id = b.next_id.wrapping_add(1);
        b.remember(&self.local.name, id, now);
        let bytes = wire::encode_to_vec(&Message::User { origin: &self.local.name, id, payload });
        let max_queued = self.config.max_queued_user_broadcasts;
        self.stats.user_broadcasts_dropped += self.gossip.push_user(now, &bytes, max_queued);
        Ok(())
    }

    /// A user broadcast arrived: delivered and passed on the first time only.
    pub(super) fn on_user(&mut self, now: Instant, origin: &str, id: u64, payload: &[u8], msg: &Message<'_>) {
        self.broadcasts.expire(now);
        if origin == &*self.local.name || !self.broadcasts.first_sight(origin, id, now) {
            return;
        }
        self.push_event(Event::UserBroadcast { origin: origin.into(), payload: payload.to_vec() });
        let bytes = wire::encode_to_vec(msg);
        let max_queued = self.config.max_queued_user_broadcasts;
        self.stats.user_broadcasts_dropped += self.gossip.push_user(now, &bytes, max_queued);
    }
}
