//! Probing (SWIM §4): one member per protocol period, directly, then through
//! `indirect_checks` other members; with Lifeguard's nacks, a missing nack counts against this
//! node's own health rather than the target's. Also the other side: relaying an indirect
//! probe for another member and acknowledging (or nacking) in time.
//!
//! One lost datagram must not fail a probe: on a lossy network a failed probe is a
//! suspicion gossiped to every member and refuted by the target, which is most of what a
//! lossy cluster sends. So the direct ping is sent again when the indirect probes go out (the
//! UDP analogue of memberlist's TCP fallback probe), and a member relaying an indirect probe
//! pings the target again halfway to its nack if no ack has come. With uniform loss `p` on
//! every datagram, a probe fails only if both direct round trips and all `k` relayed paths
//! fail: `(1 − (1−p)²)² · (1 − (1−p)² · (1 − (1 − (1−p)²)²))^k`, which for k = 3 is 0.038 %
//! at 10 % loss (0.77 % with single pings) and 1.1 % at 20 % (7.4 %); for the LAN default
//! k = 5, 0.002 % and 0.22 %.
//!
//! A probe that fails anyway tells its target straight away (Lifeguard's buddy system, which
//! otherwise waits for this node's next ping to a suspect, a whole round of the member list
//! away): a live target refutes within a round trip, so its refutation starts spreading
//! right behind the suspicion instead of once gossip has carried the suspicion to it, and
//! a third as many members ever hear the suspicion (at N = 1000 and 20 % loss). On a lossy
//! network most suspicions are of live members, and this is what keeps their gossip small.

use alloc::collections::VecDeque;
use core::net::SocketAddr;

use super::Node;
use super::transmit::encode_msgs;
use crate::name::Name;
use crate::state::{Liveness, Status, Update};
use crate::time::Instant;
use crate::wire::{Addr, Message};

/// Indirect probe requests relayed at once, at most; the oldest is forgotten first.
const MAX_RELAYS: usize = 256;

#[derive(Clone, Debug)]
struct Probe {
    seq: u32,
    /// Inline for usual names: starting a probe allocates nothing.
    target: Name,
    addr: SocketAddr,
    /// When the ping went out (for the round-trip time).
    started: Instant,
    direct_deadline: Instant,
    end: Instant,
    indirect_sent: bool,
    expected_nacks: u32,
    nacks: u32,
}

#[derive(Clone, Debug)]
struct Relay {
    local_seq: u32,
    requester: SocketAddr,
    requester_seq: u32,
    nack_at: Instant,
    want_nack: bool,
    /// The member pinged for the requester, for the second ping.
    target: Name,
    target_addr: SocketAddr,
}

/// The probe in flight (at most one), when the next one starts, and the indirect probes this
/// node relays for others, with the second pings they are due (`(when, local_seq)`, in time
/// order: every relay waits the same time).
#[derive(Debug)]
pub(super) struct Prober {
    next: Instant,
    current: Option<Probe>,
    relays: VecDeque<Relay>,
    repings: VecDeque<(Instant, u32)>,
}

impl Prober {
    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, next, current, relays, repings);
    }

    pub(super) fn new(first: Instant) -> Self {
        Prober { next: first, current: None, relays: VecDeque::new(), repings: VecDeque::new() }
    }

    /// When the probe in flight next needs attention, or the next one starts.
    pub(super) fn deadline(&self) -> Instant {
        match &self.current {
            Some(p) if !p.indirect_sent => p.direct_deadline.min(p.end),
            Some(p) => p.end,
            None => self.next,
        }
    }

    /// When the oldest relay must be answered with a nack, or a relayed ping sent again.
    pub(super) fn relay_deadline(&self) -> Option<Instant> {
        let nack = self.relays.front().map(|r| r.nack_at);
        let reping = self.repings.front().map(|&(at, _)| at);
        match (nack, reping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Stops probing (the node is leaving).
    pub(super) fn stop(&mut self) {
        self.current = None;
    }

    /// Counts a nack for the probe in flight; whether it was one.
    pub(super) fn nacked(&mut self, seq: u32) -> bool {
        match self.current.as_mut().filter(|p| p.seq == seq) {
            Some(p) => {
                p.nacks += 1;
                true
            }
            None => false,
        }
    }
}

impl Node {
    pub(super) fn run_probe(&mut self, now: Instant) {
        if self.probe.current.as_ref().is_some_and(|p| !p.indirect_sent && now >= p.direct_deadline) {
            self.send_indirect_probes();
        }
        if self.probe.current.as_ref().is_some_and(|p| now >= p.end) {
            self.probe_failed(now);
        }
        if self.probe.current.is_none() && now >= self.probe.next {
            self.start_probe(now);
        }
    }

    fn start_probe(&mut self, now: Instant) {
        let interval = self.awareness.scale(self.config.probe_interval);
        self.probe.next = now + interval;
        let Some(i) = self.members.next_probe_target(&mut self.rng) else { return };
        self.hints.probe_started(&self.members);
        let Some(m) = self.members.get(i) else { return };
        let Some(addr) = m.addr().map(SocketAddr::from) else { return };
        let target = Name::from(m.name());
        let liveness = m.liveness();
        let seq = self.take_seq();
        let ping = Message::Ping { seq, target: &target };
        if self.config.lifeguard.buddy && liveness.status == Status::Suspect {
            let suspect = Message::Suspect { name: &target, incarnation: liveness.incarnation, from: &self.local.name };
            let body = encode_msgs(&[ping, suspect]);
            self.push_outgoing(addr, body, true);
        } else {
            self.send(addr, &[ping], true);
        }
        self.stats.probes_sent += 1;
        let timeout = self.awareness.scale(self.config.probe_timeout);
        self.probe.current = Some(Probe {
            seq,
            target,
            addr,
            started: now,
            direct_deadline: now + timeout,
            end: now + interval,
            indirect_sent: false,
            expected_nacks: 0,
            nacks: 0,
        });
    }

    fn send_indirect_probes(&mut self) {
        let Some(p) = self.probe.current.as_mut() else { return };
        p.indirect_sent = true;
        let (seq, target, addr) = (p.seq, p.target.clone(), p.addr);
        // The second direct ping (see the module's comment); its ack ends the probe as well.
        self.send(addr, &[Message::Ping { seq, target: &target }], true);
        self.stats.pings_resent += 1;
        let exclude = self.members.index_of(&target);
        let helpers =
            self.members.random(self.config.indirect_checks as usize, exclude, |m| m.is_live(), &mut self.rng);
        let nack = self.config.lifeguard.nacks;
        let req = Message::PingReq { seq, target: &target, addr: Addr::from(addr), nack };
        let body = encode_msgs(&[req]);
        let mut sent = 0;
        for i in helpers {
            if let Some(helper) = self.members.addr_of(i) {
                self.push_outgoing(helper, body.clone(), true);
                sent += 1;
            }
        }
        self.stats.indirect_probes_sent += u64::from(sent);
        if let Some(p) = self.probe.current.as_mut() {
            p.expected_nacks = if nack { sent } else { 0 };
        }
    }

    fn probe_failed(&mut self, now: Instant) {
        let Some(p) = self.probe.current.take() else { return };
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
        self.apply(now, &p.target, Update::Status(Liveness { incarnation, status: Status::Suspect }), None, None);
        if self.config.lifeguard.buddy {
            // Tell the suspect at once (the buddy system, see the module's comment).
            let notice = encode_msgs(&[Message::Suspect { name: &p.target, incarnation, from: &self.local.name }]);
            self.push_outgoing(p.addr, notice, false);
        }
    }

    /// An ack: for the probe in flight, for a probe relayed for another member (passed on),
    /// or for a leave notice.
    pub(super) fn on_ack(&mut self, seq: u32) {
        if let Some(p) = self.probe.current.take_if(|p| p.seq == seq) {
            self.probe_rtt.record(self.input_at - p.started);
            self.awareness.apply(-1);
            return;
        }
        if let Some(pos) = self.probe.relays.iter().position(|r| r.local_seq == seq) {
            if let Some(r) = self.probe.relays.remove(pos) {
                self.send(r.requester, &[Message::Ack { seq: r.requester_seq }], true);
            }
            return;
        }
        if self.lifecycle.leave_acked(seq) {
            self.finish_leave();
        }
    }

    pub(super) fn on_ping_req(
        &mut self,
        now: Instant,
        from: SocketAddr,
        seq: u32,
        target: &str,
        addr: SocketAddr,
        nack: bool,
    ) {
        let local_seq = self.take_seq();
        self.send(addr, &[Message::Ping { seq: local_seq, target }], true);
        // Answer in time for the requester, which waits until the end of its probe period.
        let wait = (self.config.probe_interval.saturating_sub(self.config.probe_timeout)).mul_f64(0.8);
        let relays = &mut self.probe.relays;
        relays.push_back(Relay {
            local_seq,
            requester: from,
            requester_seq: seq,
            nack_at: now + wait,
            want_nack: nack,
            target: Name::from(target),
            target_addr: addr,
        });
        if relays.len() > MAX_RELAYS {
            relays.pop_front();
        }
        self.probe.repings.push_back((now + wait / 2, local_seq));
        if self.probe.repings.len() > MAX_RELAYS {
            self.probe.repings.pop_front();
        }
    }

    /// Sends the second pings that are due for relays still unanswered, then nacks the
    /// relays whose time is up.
    pub(super) fn expire_relays(&mut self, now: Instant) {
        while let Some(&(at, local_seq)) = self.probe.repings.front() {
            if at > now {
                break;
            }
            self.probe.repings.pop_front();
            if let Some(r) = self.probe.relays.iter().find(|r| r.local_seq == local_seq) {
                let (addr, target) = (r.target_addr, r.target.clone());
                self.send(addr, &[Message::Ping { seq: local_seq, target: &target }], true);
                self.stats.pings_resent += 1;
            }
        }
        while self.probe.relays.front().is_some_and(|r| r.nack_at <= now) {
            let Some(r) = self.probe.relays.pop_front() else { break };
            if r.want_nack {
                self.send(r.requester, &[Message::Nack { seq: r.requester_seq }], true);
            }
        }
    }
}
