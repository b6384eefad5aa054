//! Applying one update about a member, and everything that follows from it: the member
//! table's merge (a join-semilattice, see `state.rs`), events, suspicions started or ended,
//! re-gossip of news, refutation when the update is about this node, direct answers to
//! stale claims, and name conflicts.

use core::net::SocketAddr;

use super::membership::{Claim, view};
use super::transmit::encode_msgs;
use super::{Node, Rival};
use crate::event::Event;
use crate::name::Name;
use crate::state::{Liveness, Merged, Status, Update};
use crate::time::Instant;
use crate::wire::{Addr, Message};

impl Node {
    /// Applies one update about `name` and does what follows: events, suspicion timers,
    /// re-gossip of news, refutation when it is about this node. `by` is who suspected or
    /// declared the failure (this node when `None`); `source` is the address the update came
    /// from (`None`: this node's own conclusion).
    pub(super) fn apply(
        &mut self,
        now: Instant,
        name: &str,
        update: Update<'_>,
        by: Option<&str>,
        source: Option<SocketAddr>,
    ) {
        if name == &*self.local.name {
            self.apply_to_self(now, update, source);
            return;
        }
        let (index, old, merged) = match self.hints.find(self.members.table(), name) {
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
                let Some(i) = self.members.insert(name, update, now, &mut self.rng) else { return };
                (i, None, Merged { liveness: true, payload: true })
            }
        };
        if !merged.any() {
            if let Update::Status(Liveness { incarnation, status: Status::Suspect }) = update {
                let by = Name::from(by.unwrap_or(&self.local.name));
                if self.confirm_suspicion(name, incarnation, &by) {
                    self.gossip_update(now, index, name, update, Some(&by));
                }
            }
            if let (Update::Status(l), Some(source)) = (update, source) {
                self.repair_stale(index, l, source);
            }
            return;
        }
        let (old_status, was_live) = old.unwrap_or((None, false));
        self.after_merge(now, index, old_status, was_live, merged.liveness, by);
        self.gossip_update(now, index, name, update, by);
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

    /// An alive claim from a new address for a name whose current holder is not known to be
    /// failed or gone is refused (see ARCHITECTURE.md, "Name conflicts"). The claim is
    /// remembered, and the first time it is heard both sides are told: the holder gets the
    /// claim and the claimant the holder's, so each reports the conflict.
    fn is_conflict(&mut self, index: usize, addr: SocketAddr, incarnation: u32) -> bool {
        let Some(m) = self.members.get(index) else { return false };
        let (name, Some(known)) = (m.name(), m.addr()) else { return false };
        if known == Addr::from(addr) || !m.is_live() {
            return false;
        }
        self.stats.name_conflicts += 1;
        let name: Name = name.into();
        if !self.members.note_claim(&name, Claim { addr, incarnation }) {
            return true;
        }
        if let Some(p) = self.members.get(index).and_then(|m| m.payload()) {
            let holder = Message::Alive { name: &name, incarnation: p.incarnation, addr: p.addr, meta: p.meta };
            let body = encode_msgs(&[holder]);
            self.push_outgoing(addr, body, false);
        }
        let claim = encode_msgs(&[Message::Alive { name: &name, incarnation, addr: addr.into(), meta: &[] }]);
        self.push_outgoing(known.into(), claim, false);
        let event = Event::NameConflict { name: name.as_str().into(), known: known.into(), claimed: addr };
        self.push_event(event);
        true
    }

    /// The holder of `index`'s name failed or left: a claimant refused meanwhile is told, so
    /// it refutes with a higher incarnation and takes the name in seconds, not at its next
    /// anti-entropy exchange.
    fn hand_over_name(&mut self, index: usize) {
        let Some(m) = self.members.get(index) else { return };
        let (name, Liveness { incarnation, status }) = (Name::from(m.name()), m.liveness());
        let holder = m.addr().map(SocketAddr::from);
        let Some(claim) = self.members.take_claim(&name) else { return };
        if holder == Some(claim.addr) {
            return;
        }
        let msg = match status {
            Status::Dead => Message::Dead { name: &name, incarnation, from: &self.local.name },
            Status::Left => Message::Left { name: &name, incarnation },
            _ => return,
        };
        let body = encode_msgs(&[msg]);
        self.push_outgoing(claim.addr, body, false);
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
        let Liveness { incarnation, status } = m.liveness();
        if liveness_changed {
            let name = Name::from(m.name());
            if status == Status::Suspect {
                let by = Name::from(by.unwrap_or(&self.local.name));
                self.start_suspicion(now, name, incarnation, &by);
            } else {
                self.suspicions.end(&name);
            }
            if old_status != Some(status) {
                self.members.status_changed(index, now, status == Status::Dead);
            }
        }
        self.members.update_live(index, was_live);
        let Some(snapshot) = self.members.get(index).and_then(view).map(|v| v.to_member()) else { return };
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
        if was_live && matches!(status, Status::Dead | Status::Left) {
            self.hand_over_name(index);
        }
    }

    /// Something was said about this node: refute anything that would outlive our claim, and
    /// answer the sender directly so a stale view is corrected at once.
    fn apply_to_self(&mut self, now: Instant, update: Update<'_>, source: Option<SocketAddr>) {
        if self.lifecycle.leave.is_some() {
            return;
        }
        let (my_addr, my_incarnation) = (self.local.addr, self.local.incarnation);
        let answer = match update {
            Update::Alive { incarnation, addr, meta } => {
                if addr != my_addr {
                    self.rival_claim(addr, incarnation);
                } else {
                    self.local.accepted = true;
                    if incarnation > my_incarnation || (incarnation == my_incarnation && *meta != *self.local.meta) {
                        self.refute(now, incarnation);
                    }
                }
                false
            }
            Update::Status(l) => {
                if let Some(rival) = self.local.rival.as_mut().filter(|_| !self.local.accepted) {
                    // Not in anyone's table ourselves, a failure or leave of our name is the
                    // holder's: the refutation below takes the name.
                    if matches!(l.status, Status::Dead | Status::Left) && l.incarnation >= rival.incarnation {
                        rival.gone = true;
                    }
                }
                if l.incarnation >= my_incarnation {
                    self.refute(now, l.incarnation);
                    self.awareness.apply(1);
                    true
                } else {
                    matches!(l.status, Status::Suspect | Status::Dead)
                }
            }
        };
        if let (true, Some(source)) = (answer, source) {
            let bytes = encode_msgs(&[self.local.alive()]);
            self.answer(source, bytes.as_slice());
        }
    }

    /// Another address claims this node's name: reported once per claim, unless it is the
    /// claim of a holder known gone that we took the name from (a stale repeat).
    fn rival_claim(&mut self, addr: SocketAddr, incarnation: u32) {
        let known = self.local.rival.filter(|r| r.addr == addr && incarnation <= r.incarnation);
        if known.is_some() {
            return;
        }
        self.local.rival = Some(Rival { addr, incarnation, gone: false });
        self.stats.name_conflicts += 1;
        let name = (*self.local.name).into();
        self.push_event(Event::NameConflict { name, known: self.local.addr, claimed: addr });
    }

    fn refute(&mut self, now: Instant, incarnation: u32) {
        self.local.bump(incarnation, None);
        self.stats.refutations += 1;
        self.gossip_self_alive(now);
    }
}
