//! A node's life in the cluster: joining through seeds (retried with backoff), leaving
//! gracefully (the leave is gossiped and sent to a few members, who acknowledge it), and
//! forgetting members that failed or left long ago.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha12Rng;

use super::transmit::encode_msgs;
use super::{Error, Node};
use crate::config::Config;
use crate::event::Event;
use crate::queue;
use crate::state::{Liveness, Status, Update};
use crate::time::Instant;
use crate::wire::{self, Message};

/// A graceful leave in progress: the notice goes to `needed` members directly, each carried by
/// a ping whose ack says it arrived. Members that do not ack within a probe timeout are
/// replaced by others (see [`Node::send_leave_notices`]) until enough acked or the leave times
/// out.
#[derive(Clone, Debug)]
pub(super) struct Leave {
    pub(super) deadline: Instant,
    /// When the members that have not acked are replaced by others.
    retry_at: Instant,
    /// The notices not yet acknowledged: ping sequence number and member position (positions
    /// are stable while leaving: tombstones are not reaped then).
    pending: Vec<(u32, usize)>,
    /// Members sent a notice so far, acked or not.
    tried: Vec<usize>,
    acknowledged: u32,
    needed: u32,
    done: bool,
}

/// Seeds and the join's progress, the leave's, and the reap timer.
pub(super) struct Lifecycle {
    seeds: Vec<SocketAddr>,
    pub(super) joined: bool,
    /// When to try the seeds again, and the backoff used last.
    join_retry: Option<(Instant, Duration)>,
    pub(super) leave: Option<Leave>,
    next_reap: Instant,
}

impl Lifecycle {
    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, seeds, joined, join_retry, leave, next_reap);
    }

    pub(super) fn new(config: &Config, now: Instant) -> Self {
        Lifecycle {
            seeds: Vec::new(),
            joined: true,
            join_retry: None,
            leave: None,
            next_reap: now + reap_interval(config),
        }
    }

    pub(super) fn has_left(&self) -> bool {
        self.leave.as_ref().is_some_and(|l| l.done)
    }

    /// This node has exchanged state with a member: the join is done.
    pub(super) fn joined_now(&mut self) {
        self.joined = true;
        self.join_retry = None;
    }

    pub(super) fn join_retry_deadline(&self) -> Option<Instant> {
        self.join_retry.map(|(at, _)| at)
    }

    /// The backoff of the last join attempt, if the next one is due at `now`.
    pub(super) fn join_retry_due(&self, now: Instant) -> Option<Duration> {
        self.join_retry.filter(|&(at, _)| now >= at).map(|(_, backoff)| backoff)
    }

    /// A random seed (for a node left alone).
    pub(super) fn random_seed(&self, rng: &mut ChaCha12Rng) -> Option<SocketAddr> {
        if self.seeds.is_empty() {
            return None;
        }
        self.seeds.get(rng.random_range(0..self.seeds.len())).copied()
    }

    pub(super) fn leave_timed_out(&self, now: Instant) -> bool {
        self.leave.as_ref().is_some_and(|l| now >= l.deadline)
    }

    /// When the leave next needs attention: its retry, or its end.
    pub(super) fn leave_deadline(&self) -> Option<Instant> {
        self.leave.as_ref().map(|l| if l.done { l.deadline } else { l.retry_at.min(l.deadline) })
    }

    /// Counts an ack of a leave notice (once per member); whether the leave has now been
    /// acknowledged enough.
    pub(super) fn leave_acked(&mut self, seq: u32) -> bool {
        let Some(l) = self.leave.as_mut().filter(|l| !l.done) else { return false };
        let Some(at) = l.pending.iter().position(|&(s, _)| s == seq) else { return false };
        let (_, member) = l.pending.swap_remove(at);
        // Any other notice still pending for the same member is answered by this ack.
        l.pending.retain(|&(_, m)| m != member);
        l.acknowledged += 1;
        l.acknowledged >= l.needed
    }

    pub(super) fn reap_deadline(&self) -> Instant {
        self.next_reap
    }

    /// Whether reaping is due at `now`; if so, schedules the next one.
    pub(super) fn reap_due(&mut self, now: Instant, config: &Config) -> bool {
        if now < self.next_reap {
            return false;
        }
        self.next_reap = now + reap_interval(config);
        true
    }
}

fn reap_interval(config: &Config) -> Duration {
    (config.tombstone_ttl / 8).max(Duration::from_secs(1))
}

impl Node {
    /// Joins a cluster through `seeds` (a state exchange with each). Seeds that do not answer
    /// are retried with exponential backoff until one does; meanwhile the node works alone.
    /// With no seeds the node starts a new cluster.
    pub fn join(&mut self, seeds: &[SocketAddr], now: Instant) -> Result<(), Error> {
        if self.lifecycle.leave.is_some() {
            return Err(Error::Leaving);
        }
        let own = self.local.addr;
        let l = &mut self.lifecycle;
        l.seeds.clear();
        for s in seeds {
            if *s != own && !l.seeds.contains(s) {
                l.seeds.push(*s);
            }
        }
        if l.seeds.is_empty() {
            l.joined_now();
            return Ok(());
        }
        l.joined = false;
        self.attempt_join(now, self.config.join_retry_min);
        Ok(())
    }

    /// Marks a failed member as left and gossips it, so that every member turns it to left
    /// (`Left` outranks `Dead` at the same incarnation) and stops reporting it as failed:
    /// `serf force-leave`. Its tombstone is then reaped after `Config::tombstone_ttl` like any
    /// other. If the member is in fact alive it refutes this, as it would a failure.
    /// [`Error::UnknownMember`] for a name this node does not know (or its own);
    /// [`Error::NotFailed`] unless the member is failed in this node's view.
    pub fn force_leave(&mut self, name: &str, now: Instant) -> Result<(), Error> {
        if self.lifecycle.leave.is_some() {
            return Err(Error::Leaving);
        }
        if name == &*self.local.name {
            return Err(Error::UnknownMember);
        }
        let m = self.members.by_name(name).ok_or(Error::UnknownMember)?;
        let Liveness { incarnation, status } = m.liveness();
        if status != Status::Dead {
            return Err(Error::NotFailed(status));
        }
        self.apply(now, name, Update::Status(Liveness { incarnation, status: Status::Left }), None, None);
        Ok(())
    }

    /// Sends our state to every seed as a request, and schedules the next attempt.
    pub(super) fn attempt_join(&mut self, now: Instant, next_backoff: Duration) {
        for seed in self.lifecycle.seeds.clone() {
            self.stats.syncs_started += 1;
            self.send_state(seed, false);
        }
        // Jitter spreads the retries of many nodes started together.
        let jittered = next_backoff.mul_f64(0.75 + 0.5 * self.rng.random::<f64>());
        self.lifecycle.join_retry = Some((now + jittered, next_backoff));
    }

    /// Leaves gracefully: gossips that this node left and sends the notice directly to a few
    /// members. [`Event::LeaveComplete`] follows once they acknowledged it or
    /// `Config::leave_timeout` passed; keep driving the node until then.
    pub fn leave(&mut self, now: Instant) -> Result<(), Error> {
        if self.lifecycle.leave.is_some() {
            return Ok(());
        }
        self.probe.stop();
        let notice = Message::Left { name: &self.local.name, incarnation: self.local.incarnation };
        let bytes = wire::encode_to_vec(&notice);
        self.gossip.push_member(now, queue::SELF, &bytes);
        let leave_acks = self.config.leave_acks as usize;
        let targets = self.members.random(leave_acks, None, |m| m.is_live(), &mut self.rng);
        let needed = u32::try_from(targets.len()).unwrap_or(u32::MAX);
        self.lifecycle.leave = Some(Leave {
            deadline: now + self.config.leave_timeout,
            retry_at: now + self.config.probe_timeout,
            pending: Vec::with_capacity(targets.len()),
            tried: Vec::with_capacity(targets.len()),
            acknowledged: 0,
            needed,
            done: false,
        });
        self.send_leave_notices(&targets, &bytes);
        if needed == 0 {
            self.finish_leave();
        }
        Ok(())
    }

    /// Sends the leave notice (`left`, this node's encoded `Left`) to the members at
    /// `targets`, each with a ping whose ack counts.
    fn send_leave_notices(&mut self, targets: &[usize], left: &[u8]) {
        for &i in targets {
            let Some(m) = self.members.get(i) else { continue };
            let (name, Some(addr)) = (m.name(), m.addr()) else { continue };
            let addr = SocketAddr::from(addr);
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            let mut body = encode_msgs(&[Message::Ping { seq, target: name }]);
            body.extend_from_slice(left);
            self.push_outgoing(addr, body, true);
            if let Some(l) = self.lifecycle.leave.as_mut() {
                l.pending.push((seq, i));
                if !l.tried.contains(&i) {
                    l.tried.push(i);
                }
            }
        }
    }

    /// A probe timeout passed and fewer members than needed acked the leave notice: send it
    /// to as many others, members not tried yet first, then again to those that did not
    /// answer. The notice's gossip is retransmitted only a few times in a small cluster, and
    /// if the members first chosen have crashed unnoticed (or the network drops the notice
    /// or its ack) nobody learns of the leave, and every member ends up declaring the leaver
    /// failed. Found by the seed sweep (seeds 116766 and 117310: two of the three members
    /// chosen had crashed a moment before, and the third's notice or its ack was lost).
    /// Bounded: one round per probe timeout, at most `leave_acks` notices a round, until the
    /// leave times out.
    pub(super) fn retry_leave(&mut self, now: Instant) {
        let Some(l) = self.lifecycle.leave.as_mut().filter(|l| !l.done && now >= l.retry_at) else { return };
        l.retry_at = now + self.config.probe_timeout;
        let missing = l.needed.saturating_sub(l.acknowledged) as usize;
        let tried = l.tried.clone();
        let unanswered: Vec<usize> = l.pending.iter().map(|&(_, m)| m).collect();
        let mut targets =
            self.members.random(missing, None, |m| m.is_live() && !tried.contains(&m.pos()), &mut self.rng);
        if targets.len() < missing {
            let again = self.members.random(
                missing - targets.len(),
                None,
                |m| m.is_live() && unanswered.contains(&m.pos()),
                &mut self.rng,
            );
            targets.extend(again);
        }
        let notice = Message::Left { name: &self.local.name, incarnation: self.local.incarnation };
        let bytes = wire::encode_to_vec(&notice);
        self.send_leave_notices(&targets, &bytes);
    }

    pub(super) fn finish_leave(&mut self) {
        let Some(l) = self.lifecycle.leave.as_mut() else { return };
        if l.done {
            return;
        }
        l.done = true;
        let acknowledged = l.acknowledged;
        self.push_event(Event::LeaveComplete { acknowledged });
    }

    /// Forgets tombstones older than `tombstone_ttl`.
    pub(super) fn reap(&mut self, now: Instant) {
        let ttl = self.config.tombstone_ttl;
        let keep = |m: crate::table::MemberRef<'_>| m.is_live() || m.changed_at().is_none_or(|at| now - at < ttl);
        if let Some(remap) = self.members.reap(keep, &mut self.rng) {
            self.gossip.remap(&remap.0);
        }
    }
}
