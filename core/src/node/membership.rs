//! The members this node knows and everything kept by member position: the packed member
//! table, the count of live members (and the retransmission scale that follows it), the
//! shuffled round-robin probe order, and the conflicting claims refused.
//!
//! Positions shift when tombstones are forgotten ([`Membership::reap`]); the probe order is
//! rebuilt here, and the one outside structure keyed by position, the gossip queue, gets the
//! remapping from the caller.

use alloc::vec::Vec;
use core::net::SocketAddr;

use rand::RngExt;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;

use super::FastMap;
use crate::event::MemberView;
use crate::name::Name;
use crate::order::ProbeOrder;
use crate::state::{Liveness, Merged, Update};
use crate::table::{MemberRef, MemberTable};
use crate::time::Instant;

/// A table whose positions changed: `new_pos[old]` is each old position's new one
/// (`u32::MAX`: forgotten). Whoever keeps anything by position must apply it.
#[must_use = "structures keyed by member position must be remapped"]
pub(super) struct Remap(pub(super) Vec<u32>);

pub(super) struct Membership {
    table: MemberTable,
    /// Members (alive or suspect, with a known address) other than this node.
    live: usize,
    /// `retransmit_scale(live)`, kept up to date with `live` (every packet needs it).
    retransmit_scale: u32,
    /// Positions in the table, in the order they are probed.
    order: ProbeOrder,
    /// The next entry of `order` to probe.
    cursor: usize,
    /// Per member name, the refused alive claim from another address with the highest
    /// incarnation: repeats of one claim raise one event, and the claimant is told when the
    /// holder fails or leaves. Pruned when members are reaped; at most one per member.
    claims: FastMap<Name, Claim>,
    /// When a member last became `Dead` here: reconnection looks for recent deaths only.
    last_death: Option<Instant>,
    /// The member count at the last trim (see [`Membership::trim`]).
    len_at_trim: usize,
}

impl Membership {
    #[cfg(feature = "prefetch")]
    pub(super) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, live, retransmit_scale, order, cursor, last_death, len_at_trim);
        self.table.prefetch_header();
    }

    pub(super) fn new(hasher: foldhash::fast::FixedState) -> Self {
        Membership {
            table: MemberTable::with_hasher(hasher.clone()),
            live: 0,
            retransmit_scale: retransmit_scale(0),
            order: ProbeOrder::new(),
            cursor: 0,
            claims: FastMap::with_hasher(hasher),
            last_death: None,
            len_at_trim: 0,
        }
    }

    pub(super) fn table(&self) -> &MemberTable {
        &self.table
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn live(&self) -> usize {
        self.live
    }

    pub(super) fn retransmit_scale(&self) -> u32 {
        self.retransmit_scale
    }

    pub(super) fn last_death(&self) -> Option<Instant> {
        self.last_death
    }

    pub(super) fn get(&self, pos: usize) -> Option<MemberRef<'_>> {
        self.table.get(pos)
    }

    pub(super) fn by_name(&self, name: &str) -> Option<MemberRef<'_>> {
        self.table.by_name(name)
    }

    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.table.get_index_of(name)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = MemberRef<'_>> {
        self.table.iter()
    }

    pub(super) fn addr_of(&self, pos: usize) -> Option<SocketAddr> {
        self.table.get(pos).and_then(|m| m.addr()).map(SocketAddr::from)
    }

    /// Adds a member known only from `update`; returns its position. It joins the probe order
    /// at a random place in the part of the round not yet probed, so it is probed within this
    /// round without disturbing the order of the others.
    pub(super) fn insert(
        &mut self,
        name: &str,
        update: Update<'_>,
        now: Instant,
        rng: &mut ChaCha12Rng,
    ) -> Option<usize> {
        if self.table.len() == self.table.capacity() {
            // Grow by a quarter rather than doubling: a node of a 10 000-member cluster would
            // otherwise carry up to 40 % of empty member slots.
            self.table.reserve_exact(self.table.len() / 4 + 16);
        }
        let i = self.table.insert(name, update, now)?;
        self.order.push(u32::try_from(i).unwrap_or(u32::MAX));
        let last = self.order.len() - 1;
        let lo = self.cursor.min(last);
        let j = rng.random_range(lo..=last);
        self.order.swap(j, last);
        Some(i)
    }

    pub(super) fn merge(&mut self, pos: usize, update: Update<'_>) -> Merged {
        self.table.merge(pos, update)
    }

    /// Records a visible status change of the member at `pos` at `now`.
    pub(super) fn status_changed(&mut self, pos: usize, now: Instant, died: bool) {
        self.table.set_changed_at(pos, now);
        if died {
            self.last_death = Some(now);
        }
    }

    /// Keeps the live count (and the retransmission scale) in step after the member at `pos`
    /// went from `was_live` to whatever it is now.
    pub(super) fn update_live(&mut self, pos: usize, was_live: bool) {
        let is_live = self.table.get(pos).is_some_and(|m| m.is_live());
        match (is_live, was_live) {
            (true, false) => self.live += 1,
            (false, true) => self.live = self.live.saturating_sub(1),
            _ => {}
        }
        if is_live != was_live {
            self.retransmit_scale = retransmit_scale(self.live);
        }
    }

    /// Remembers a refused alive claim for `name`; whether it is news (no claim from that
    /// address at that incarnation or a later one was refused before).
    pub(super) fn note_claim(&mut self, name: &str, claim: Claim) -> bool {
        let known = self.claims.get(name).copied();
        if known.is_none_or(|k| k.addr != claim.addr || claim.incarnation > k.incarnation) {
            self.claims.insert(name.into(), claim);
            return true;
        }
        false
    }

    /// The refused claim for `name`, forgotten (its holder failed or left).
    pub(super) fn take_claim(&mut self, name: &str) -> Option<Claim> {
        self.claims.swap_remove(name)
    }

    /// The next live member in a shuffled round-robin order (SWIM §4.3): every member is
    /// probed once per round, which bounds the time to first detection.
    pub(super) fn next_probe_target(&mut self, rng: &mut ChaCha12Rng) -> Option<usize> {
        for _ in 0..=self.order.len() {
            if self.cursor >= self.order.len() {
                self.order.retain_below(self.table.len());
                self.order.shuffle(rng);
                self.cursor = 0;
            }
            let i = self.order.get(self.cursor)?;
            self.cursor += 1;
            if self.table.get(i).is_some_and(|m| m.is_live()) {
                return Some(i);
            }
        }
        None
    }

    /// The probe order and where the next probe starts looking in it (for the cache hints).
    #[cfg(feature = "prefetch")]
    pub(super) fn probe_order(&self) -> (&ProbeOrder, usize) {
        (&self.order, self.cursor)
    }

    /// Up to `k` distinct random members satisfying `eligible`, other than `exclude`.
    pub(super) fn random(
        &self,
        k: usize,
        exclude: Option<usize>,
        eligible: impl Fn(MemberRef<'_>) -> bool,
        rng: &mut ChaCha12Rng,
    ) -> Vec<usize> {
        let n = self.table.len();
        let mut picked = Vec::with_capacity(k);
        if k == 0 || n == 0 {
            return picked;
        }
        let ok = |i: usize, picked: &[usize]| {
            Some(i) != exclude && !picked.contains(&i) && self.table.get(i).is_some_and(&eligible)
        };
        if n <= 4 * k + 16 {
            let mut all: Vec<usize> = (0..n).filter(|&i| ok(i, &[])).collect();
            let (chosen, _) = all.partial_shuffle(rng, k);
            picked.extend_from_slice(chosen);
            return picked;
        }
        // Rejection sampling: cheap when most members are eligible, bounded when few are.
        for _ in 0..8 * k + 32 {
            let i = rng.random_range(0..n);
            if ok(i, &picked) {
                picked.push(i);
                if picked.len() == k {
                    break;
                }
            }
        }
        picked
    }

    /// Forgets the members `keep` refuses (tombstones past their time), and with them their
    /// refused claims; the probe order starts a new round over what remains.
    pub(super) fn reap(&mut self, keep: impl FnMut(MemberRef<'_>) -> bool, rng: &mut ChaCha12Rng) -> Option<Remap> {
        let new_pos = self.table.retain(keep)?;
        let table = &self.table;
        self.claims.retain(|name, _| table.get_index_of(name.as_str()).is_some());
        self.order.reset(self.table.len(), rng);
        self.cursor = 0;
        Some(Remap(new_pos))
    }

    /// Once the member table has stopped growing (no new member since the last call, a
    /// reconnect interval ago), gives back the room it grew into: up to a quarter of the table
    /// after a join, in every node of the cluster.
    pub(super) fn trim(&mut self) {
        let len = self.table.len();
        if len == self.len_at_trim && self.table.capacity() > len + len / 16 + 16 {
            self.table.shrink_to_fit();
            self.order.shrink_to_fit();
        }
        self.len_at_trim = len;
    }
}

/// The public view of a member, if it was ever seen alive.
/// An alive claim for a member's name from an address other than its holder's, refused while
/// the holder is live (ARCHITECTURE.md, "Name conflicts").
#[derive(Clone, Copy, Debug)]
pub(super) struct Claim {
    pub(super) addr: SocketAddr,
    pub(super) incarnation: u32,
}

pub(super) fn view(m: MemberRef<'_>) -> Option<MemberView<'_>> {
    let p = m.payload()?;
    let Liveness { incarnation, status } = m.liveness();
    Some(MemberView { name: m.name(), addr: p.addr.into(), status, incarnation, meta: p.meta })
}

/// Retransmissions per update are `retransmit_mult × retransmit_scale(live)`: ⌈log10(n + 1)⌉
/// with `n = live + 1` members, at least 1.
fn retransmit_scale(live: usize) -> u32 {
    #[allow(clippy::cast_precision_loss)]
    let scale = libm::ceil(libm::log10((live + 2) as f64)) as u32;
    scale.max(1)
}
