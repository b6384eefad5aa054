//! Cache hints, for a runtime that drives thousands of nodes whose states do not fit in the
//! CPU caches (the simulator, which turns on the `prefetch` feature). They change nothing a
//! node computes, and a real agent, whose one node stays in cache, gains nothing from them;
//! without the feature everything here is a no-op and [`Hints`] has no size.
//!
//! With the feature, the simulator asks a node to start loading its state a whole event
//! before it handles it ([`Node::prefetch`]), then, once that is in cache, what the input will
//! read beyond it ([`Node::prefetch_input`]): the rate-limiter slots of a datagram's source,
//! or, for a timer, the member the next probe names. And the member lookups of one packet
//! are batched so that their cache misses overlap.
//!
//! This module decides what to load and when. Which cache lines that is, each structure says
//! for itself, because only it sees its fields: the hot sub-states of the node, the member
//! table, the probe order, the gossip queue and the rate limiter each have a `prefetch`
//! method under the same feature, a list of their fields (`crate::hint::prefetch_fields!`).

#[cfg(feature = "prefetch")]
use core::net::IpAddr;

#[cfg(feature = "prefetch")]
use super::Node;
use super::membership::Membership;
use crate::table::MemberTable;
use crate::wire::Message;

/// Where the next probe and the next member lookup probably lead.
#[derive(Debug, Default)]
pub(super) struct Hints {
    /// The members the probe order names next, as of the last probe.
    #[cfg(feature = "prefetch")]
    probe: ProbeHint,
    /// Where [`Hints::find`] looks first. While a state-exchange chunk is applied: where the
    /// next member probably is. While a gossip packet is applied: where the batched lookup
    /// found this message's member.
    #[cfg(feature = "prefetch")]
    lookup: Option<u32>,
}

/// The batched lookup of a packet's members (`u32::MAX`: not known), on the stack of the
/// receive path while the packet is applied.
#[cfg(feature = "prefetch")]
pub(super) type Batch = Option<[u32; crate::table::BATCH]>;
/// Nothing, without the feature.
#[cfg(not(feature = "prefetch"))]
pub(super) struct Batch;

/// The members the probe order names next, as of the last probe, so that the timer that starts
/// the next probe finds what it reads already loading: the next target's record and name (its
/// blob entry), and the record of the one after it, whose entry becomes the next hint. A chain
/// of hints, each set from lines the previous one loaded.
#[cfg(feature = "prefetch")]
#[derive(Clone, Copy, Debug, Default)]
struct ProbeHint {
    /// Position of the next target.
    pos: u32,
    /// Where its blob entry starts.
    entry: u32,
    /// Position of the target after it.
    then: u32,
}

#[cfg(feature = "prefetch")]
impl Hints {
    /// A probe started: note what the next one will read.
    pub(super) fn probe_started(&mut self, members: &Membership) {
        let (order, cursor) = members.probe_order();
        let at = |c: usize| order.get(c).map_or(0, |p| u32::try_from(p).unwrap_or(0));
        let pos = at(cursor);
        let entry = members.table().entry_of(pos as usize).unwrap_or(0);
        self.probe = ProbeHint { pos, entry, then: at(cursor + 1) };
    }

    /// A packet's messages are about to be applied. For a gossip packet (more than a probe's
    /// few messages, no state exchange) the position of each update's member is looked up in
    /// one batch ([`MemberTable::get_indices_of`]), whose cache misses overlap.
    pub(super) fn start_packet(&mut self, table: &MemberTable, msgs: &[Message<'_>]) -> Batch {
        self.lookup = None;
        if msgs.len() <= super::receive::INLINE_MESSAGES || msgs.iter().any(|m| matches!(m, Message::Sync { .. })) {
            return None;
        }
        let mut found = [u32::MAX; crate::table::BATCH];
        let subjects = msgs.iter().map(|msg| match *msg {
            Message::Alive { name, .. }
            | Message::Suspect { name, .. }
            | Message::Dead { name, .. }
            | Message::Left { name, .. } => Some(name),
            _ => None,
        });
        table.get_indices_of(subjects, &mut found);
        Some(found)
    }

    /// Message `k` of the packet is next.
    pub(super) fn next_message(&mut self, batch: &Batch, k: usize) {
        if let Some(batch) = batch {
            self.lookup = batch.get(k).copied().filter(|&i| i != u32::MAX);
        }
    }

    /// A state-exchange chunk: its members mostly come in the order this node learnt them
    /// too, so each lookup first tries the member after the previous one.
    pub(super) fn sync_started(&mut self) {
        self.lookup = Some(0);
    }

    pub(super) fn end_packet(&mut self) {
        self.lookup = None;
    }

    /// The position of member `name`, trying the hint first. The answer is the table's.
    pub(super) fn find(&mut self, table: &MemberTable, name: &str) -> Option<usize> {
        let hinted = self.lookup.map(|i| i as usize).filter(|&i| table.get(i).is_some_and(|m| m.name() == name));
        let index = hinted.or_else(|| table.get_index_of(name));
        if self.lookup.is_some() {
            self.lookup = Some(index.map_or(0, |i| u32::try_from(i + 1).unwrap_or(0)));
        }
        index
    }
}

#[cfg(not(feature = "prefetch"))]
impl Hints {
    pub(super) fn probe_started(&mut self, _members: &Membership) {}

    pub(super) fn start_packet(&mut self, _table: &MemberTable, _msgs: &[Message<'_>]) -> Batch {
        Batch
    }

    pub(super) fn next_message(&mut self, _batch: &Batch, _k: usize) {}

    pub(super) fn sync_started(&mut self) {}

    pub(super) fn end_packet(&mut self) {}

    pub(super) fn find(&mut self, table: &MemberTable, name: &str) -> Option<usize> {
        table.get_index_of(name)
    }
}

#[cfg(feature = "prefetch")]
impl Node {
    /// Asks the CPU to start loading the parts of this node that every datagram and timer
    /// reads. A runtime that knows which node it will drive next calls this while it handles
    /// an earlier event, so the loads overlap with that work. It changes nothing else.
    #[doc(hidden)]
    #[inline]
    pub fn prefetch(&self) {
        // Each sub-state names the lines of its own that handling an input reads.
        self.probe.prefetch();
        self.gossip.prefetch();
        self.inbound.prefetch();
        self.outbound.prefetch();
        self.lifecycle.prefetch();
        self.members.prefetch();
        self.suspicions.prefetch();
        self.sync.prefetch();
        crate::hint::prefetch_fields!(self, stats, events, local, hints, awareness, next_seq);
        crate::hint::prefetch_fields!(self.stats, packets_in, packets_out, probes_sent);
        crate::hint::prefetch_fields!(self.local, name, addr, incarnation);
        // What the packet path reads of the configuration.
        crate::hint::prefetch_fields!(self.config, label, keyring, probe_timeout, lifeguard, mtu, max_inbound_packet);
    }

    /// The step after [`Node::prefetch`], once the node's own state is in cache: starts
    /// loading what handling the next input reads elsewhere in memory. For a datagram from
    /// `datagram_from`, the two rate-limiter slots of its source; for a timer (`None`), the
    /// probe order's next entry and the member table entries of the members it names next.
    /// It changes nothing.
    #[doc(hidden)]
    #[inline]
    pub fn prefetch_input(&self, datagram_from: Option<IpAddr>) {
        match datagram_from {
            Some(ip) => self.inbound.limiter().prefetch(ip),
            None => {
                let hint = self.hints.probe;
                let (order, cursor) = self.members.probe_order();
                order.prefetch(cursor);
                let table = self.members.table();
                table.prefetch(hint.pos as usize);
                table.prefetch_entry(hint.entry);
                table.prefetch(hint.then as usize);
            }
        }
    }
}
