//! Suspicion (SWIM §4.2 with Lifeguard's dynamic timeouts): a suspected member is declared
//! failed when its suspicion times out, unless it refutes first; independent confirmations
//! shorten the timeout from its maximum towards its minimum; before declaring, the holder
//! runs a final check (part of the buddy system switch).

use alloc::collections::BinaryHeap;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::time::Duration;

use super::transmit::encode_msgs;
use super::{FastMap, Node};
use crate::config::Config;
use crate::lifeguard::{suspicion_bounds, suspicion_timeout};
use crate::name::Name;
use crate::state::{Liveness, Status, Update};
use crate::time::Instant;
use crate::wire::Message;

/// Rounds of a suspicion's final check before the member is declared failed: each asks the
/// suspect and two other members and waits one probe timeout. One round, at 20 % loss, left
/// the suspect's own answer lost one time in three; at N=3000 the simulator counted 709 false
/// failures in 10 s with one round, 34 with two and none with three.
const FINAL_CHECK_ROUNDS: u8 = 3;

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

/// The running suspicion of each `Suspect` member (and only those), and their deadlines.
///
/// Deadlines are a heap of `(deadline, name)` removed lazily: a confirmation or a final-check
/// round pushes a new entry and leaves the old one, and an ended suspicion leaves its
/// entries until they are due (an entry whose suspicion moved or ended is skipped then).
/// Under heavy loss that is thousands of stale entries per node (about 7000 at N=3000 and
/// 20 % loss, for ~120 running suspicions), so once the stale ones outnumber the running
/// suspicions the heap is rebuilt with one entry per suspicion, at its deadline: linear time,
/// paid for by as many pushes. The heap thus stays within twice the running suspicions plus
/// 16.
pub(super) struct Suspicions {
    running: FastMap<Name, Suspicion>,
    timers: BinaryHeap<Reverse<(Instant, Name)>>,
}

impl Suspicions {
    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, running, timers);
    }

    pub(super) fn new(hasher: foldhash::fast::FixedState) -> Self {
        Suspicions { running: FastMap::with_hasher(hasher), timers: BinaryHeap::new() }
    }

    /// The earliest deadline (possibly of an ended suspicion, then nothing happens).
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Starts (or restarts) the suspicion of `name`.
    fn start(&mut self, name: Name, s: Suspicion) {
        self.timers.push(Reverse((s.deadline, name.clone())));
        self.running.insert(name, s);
        self.compact();
    }

    /// Ends the suspicion of `name`, if any.
    pub(super) fn end(&mut self, name: &str) {
        self.running.swap_remove(name);
        self.compact();
    }

    /// The next deadline entry due by `now`, removed.
    fn pop_due(&mut self, now: Instant) -> Option<Name> {
        if self.deadline()? > now {
            return None;
        }
        self.timers.pop().map(|Reverse((_, name))| name)
    }

    /// Counts an independent confirmation of a suspicion; returns whether it was new. A
    /// confirmation shortens the suspicion until its final check starts, and then no more.
    fn confirm(&mut self, name: &str, incarnation: u32, by: &str, k: u32, config: &Config) -> bool {
        let Some(s) = self.running.get_mut(name).filter(|s| s.incarnation == incarnation) else { return false };
        let confirmations = u32::try_from(s.confirmers.len().saturating_sub(1)).unwrap_or(u32::MAX);
        if confirmations >= k || s.confirmers.iter().any(|c| c.as_str() == by) {
            return false;
        }
        s.confirmers.push(by.into());
        if s.final_checks > 0 {
            return true;
        }
        let timeout = suspicion_timeout(s.min, s.max, k, confirmations + 1);
        s.deadline = s.started + check_start(config, timeout, s.min);
        self.timers.push(Reverse((s.deadline, Name::from(name))));
        self.compact();
        true
    }

    /// Rebuilds the heap with one entry per running suspicion once stale entries outnumber
    /// them (see the type's docs).
    fn compact(&mut self) {
        let live = self.running.len();
        if self.timers.len() <= 2 * live + 16 {
            return;
        }
        let mut entries = core::mem::take(&mut self.timers).into_vec();
        entries.clear();
        if entries.capacity() > 4 * (2 * live + 16) {
            entries.shrink_to(2 * live + 16);
        }
        entries.extend(self.running.iter().map(|(name, s)| Reverse((s.deadline, name.clone()))));
        self.timers = BinaryHeap::from(entries);
    }

    #[cfg(test)]
    pub(super) fn sizes(&self) -> (usize, usize) {
        (self.timers.len(), self.running.len())
    }
}

impl Node {
    /// Starts the suspicion of the member at `name`, suspected at `incarnation` by `by`.
    pub(super) fn start_suspicion(&mut self, now: Instant, name: Name, incarnation: u32, by: &str) {
        let c = &self.config;
        let live = self.members.live();
        let (min, max) = suspicion_bounds(c.suspicion_mult, c.suspicion_max_mult, live + 1, c.probe_interval);
        let max = if c.lifeguard.dynamic_suspicion { max } else { min };
        let k = self.confirmations_expected();
        let timeout = check_start(c, suspicion_timeout(min, max, k, 0), min);
        let s = Suspicion {
            incarnation,
            started: now,
            min,
            max,
            confirmers: vec![by.into()],
            deadline: now + timeout,
            final_checks: 0,
        };
        self.suspicions.start(name, s);
    }

    /// Lifeguard's K, capped by the members that could possibly confirm.
    fn confirmations_expected(&self) -> u32 {
        let others = u32::try_from(self.members.live().saturating_sub(1)).unwrap_or(u32::MAX);
        if self.config.lifeguard.dynamic_suspicion { self.config.suspicion_confirmations.min(others) } else { 0 }
    }

    /// Counts `by`'s suspicion of `name` at `incarnation` as a confirmation; whether it was a
    /// new one.
    pub(super) fn confirm_suspicion(&mut self, name: &str, incarnation: u32, by: &str) -> bool {
        let k = self.confirmations_expected();
        self.suspicions.confirm(name, incarnation, by, k, &self.config)
    }

    pub(super) fn expire_suspicions(&mut self, now: Instant) {
        while let Some(name) = self.suspicions.pop_due(now) {
            let suspect = self.members.by_name(&name).is_some_and(|m| m.status() == Status::Suspect);
            let due = self
                .suspicions
                .running
                .get(&name)
                .filter(|s| suspect && s.deadline <= now)
                .map(|s| (s.incarnation, s.final_checks));
            match due {
                Some((incarnation, rounds)) if rounds < FINAL_CHECK_ROUNDS && self.config.lifeguard.buddy => {
                    self.final_check(now, &name, incarnation);
                }
                Some((incarnation, _)) => {
                    self.stats.failures_declared += 1;
                    self.apply(now, &name, Update::Status(Liveness { incarnation, status: Status::Dead }), None, None);
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
        let Some(index) = self.members.index_of(name) else { return };
        let Some((name, s)) = self.suspicions.running.get_key_value_mut(name) else { return };
        s.final_checks += 1;
        s.deadline = now + wait;
        let by = s.confirmers.first().cloned().unwrap_or_else(|| self.local.name.as_str().into());
        let name = name.clone();
        self.suspicions.timers.push(Reverse((now + wait, name.clone())));
        self.suspicions.compact();
        let suspect = Message::Suspect { name: &name, incarnation, from: &by };
        let notice = encode_msgs(&[suspect]);
        if let Some(addr) = self.members.addr_of(index) {
            let seq = self.take_seq();
            let mut body = encode_msgs(&[Message::Ping { seq, target: &name }]);
            body.extend_from_slice(notice.as_slice());
            self.push_outgoing(addr, body, true);
        }
        for i in self.members.random(2, Some(index), |m| m.is_live(), &mut self.rng) {
            if let Some(addr) = self.members.addr_of(i) {
                self.push_outgoing(addr, notice.clone(), true);
            }
        }
    }
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
