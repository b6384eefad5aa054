//! `MemberTable`: the member table, an insertion-ordered map from member name to merged state,
//! packed.
//!
//! Every node keeps a record for every member, so the record's size is most of a node's
//! memory: a thousand agents in one process hold a million records, a 10 000-node simulation
//! 10⁸. A record is 20 bytes — the two incarnations, the status, an IPv4 address and port
//! inline, and where the member's name is — and names, metadata and IPv6 addresses sit
//! together in one byte arena (the *blob*), one entry per member:
//! `[name length: 1][name][metadata length: 2, little-endian][metadata][IPv6 octets: 16, only
//! for an IPv6 address]`. When a member's metadata or IPv6 address changes its entry is
//! written anew at the end and the old one is garbage, collected when there is more garbage
//! than half of what is live. The time of a member's last status change matters only while it
//! is not live (tombstones are forgotten, the recently dead are still gossiped to), so it is
//! kept for those members only, in a small side map.
//!
//! The merge works on the packed form and must agree with [`State::merge`], the lattice the
//! property tests of `state.rs` check; a property test below applies random updates to both.
//!
//! Records are addressed by a stable position (until [`MemberTable::retain`]); an
//! open-addressing index finds them by name. A slot holds the record's position plus one (0:
//! empty) in its low 16 bits (24 past 65 535 slots) and 8 bits of the name's hash above, so a
//! probe compares a name only when those bits match: 3 bytes a slot, 4 in the largest tables. The index has any number of slots, up
//! to 4/5 full: a name's home slot is the high half of the product of its hash and the slot
//! count (Lemire's multiply-shift), so the index grows with the table by a quarter, like the
//! records, instead of doubling (a power-of-two index was 8 bytes per member at 1000). Being our own, the index can be
//! prefetched: [`MemberTable::get_indices_of`] looks up a packet's worth of names in passes
//! (slots, then records, then names, then the comparisons) so their cache misses overlap.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::hash::BuildHasher;

use crate::state::{Liveness, Merged, Status, Update};
#[cfg(test)]
use crate::state::{Payload, State};
use crate::time::Instant;
use crate::wire::Addr;

mod index;
use index::{Index, slots_for};

type Hasher = foldhash::fast::FixedState;

/// Most records a table holds: positions are 24 bits, plus one for the empty slot
/// (`Config::max_members` is checked against it).
pub(crate) const MAX_ENTRIES: usize = (1 << 24) - 2;

/// `Record::bits`: the status (`Status as u8`).
const STATUS: u8 = 0b11;
/// `Record::bits`: an alive claim has been seen (the payload fields are set).
const HAS_PAYLOAD: u8 = 1 << 2;
/// `Record::bits`: the address is IPv6; its octets are at the end of the blob entry.
const V6: u8 = 1 << 3;
/// `Record::bits`: the member has metadata; its length and bytes follow its name in the blob.
const HAS_META: u8 = 1 << 4;
/// `Record::delta`: the payload's incarnation is too far below the liveness incarnation for a
/// byte; it is in the table's side map.
const WIDE: u8 = u8::MAX;
/// The blob is not compacted below this size.
const MIN_COMPACT: usize = if cfg!(test) { 64 } else { 4096 };

/// One member, packed (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    /// Where the member's entry starts in the blob.
    blob: u32,
    /// The liveness incarnation.
    incarnation: u32,
    /// IPv4 octets (unused for IPv6).
    ip: [u8; 4],
    port: u16,
    /// The status and the flags above.
    bits: u8,
    /// How far the alive payload's incarnation is below `incarnation` (it never is above: an
    /// alive claim raises the liveness too), or [`WIDE`]. Nearly always 0 or a few.
    delta: u8,
}

impl Record {
    fn status(&self) -> Status {
        status_of(self.bits & STATUS)
    }

    /// Alive or suspect, with a known address.
    fn is_live(&self) -> bool {
        self.bits & HAS_PAYLOAD != 0 && matches!(self.status(), Status::Alive | Status::Suspect)
    }

    /// The address, given the IPv6 octets of its blob entry (read only for IPv6).
    fn addr(&self, ip6: impl FnOnce() -> [u8; 16]) -> Addr {
        if self.bits & V6 != 0 { Addr::V6(ip6(), self.port) } else { Addr::V4(self.ip, self.port) }
    }
}

fn status_of(s: u8) -> Status {
    match s {
        0 => Status::Alive,
        1 => Status::Suspect,
        2 => Status::Dead,
        _ => Status::Left,
    }
}

/// What the highest-incarnation alive claim about a member said, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PayloadRef<'a> {
    pub(crate) incarnation: u32,
    pub(crate) addr: Addr,
    pub(crate) meta: &'a [u8],
}

/// One member of a [`MemberTable`].
#[derive(Clone, Copy)]
pub(crate) struct MemberRef<'a> {
    rec: &'a Record,
    table: &'a MemberTable,
    pos: u32,
}

/// The parts of the blob entry of `rec`: name, metadata, IPv6 octets (zero when absent), and
/// the entry's length.
fn entry_parts<'b>(blob: &'b [u8], rec: &Record) -> (&'b [u8], &'b [u8], [u8; 16], usize) {
    let at = rec.blob as usize;
    let nlen = usize::from(blob.get(at).copied().unwrap_or(0));
    let name = blob.get(at + 1..at + 1 + nlen).unwrap_or(&[]);
    let mut i = at + 1 + nlen;
    let mut meta: &[u8] = &[];
    if rec.bits & HAS_META != 0 {
        let mlen = blob.get(i..i + 2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map_or(0, u16::from_le_bytes);
        meta = blob.get(i + 2..i + 2 + usize::from(mlen)).unwrap_or(&[]);
        i += 2 + usize::from(mlen);
    }
    let mut ip6 = [0; 16];
    if rec.bits & V6 != 0 {
        ip6 = blob.get(i..i + 16).and_then(|b| <[u8; 16]>::try_from(b).ok()).unwrap_or([0; 16]);
        i += 16;
    }
    (name, meta, ip6, i - at)
}

fn entry_name(blob: &[u8], at: u32) -> &[u8] {
    let at = at as usize;
    let nlen = usize::from(blob.get(at).copied().unwrap_or(0));
    blob.get(at + 1..at + 1 + nlen).unwrap_or(&[])
}

/// The size of the blob entry of `rec`.
fn entry_len(blob: &[u8], rec: &Record) -> usize {
    entry_parts(blob, rec).3
}

/// The alive payload's incarnation of `rec`, at position `pos` of a table whose side map of
/// wide ones is `wide`.
fn payload_incarnation(rec: &Record, wide: &BTreeMap<u32, u32>, pos: u32) -> u32 {
    if rec.delta == WIDE {
        wide.get(&pos).copied().unwrap_or(rec.incarnation)
    } else {
        rec.incarnation.wrapping_sub(u32::from(rec.delta))
    }
}

impl<'a> MemberRef<'a> {
    /// The member's position in the table.
    pub(crate) fn pos(&self) -> usize {
        self.pos as usize
    }

    pub(crate) fn name(&self) -> &'a str {
        // Stored from a `&str`, so always valid; an empty name cannot match any member.
        core::str::from_utf8(entry_name(&self.table.blob, self.rec.blob)).unwrap_or_default()
    }

    pub(crate) fn liveness(&self) -> Liveness {
        Liveness { incarnation: self.rec.incarnation, status: self.rec.status() }
    }

    pub(crate) fn status(&self) -> Status {
        self.rec.status()
    }

    pub(crate) fn has_payload(&self) -> bool {
        self.rec.bits & HAS_PAYLOAD != 0
    }

    /// The address, once an alive claim has been seen. Reads no blob for IPv4.
    pub(crate) fn addr(&self) -> Option<Addr> {
        if !self.has_payload() {
            return None;
        }
        Some(self.rec.addr(|| entry_parts(&self.table.blob, self.rec).2))
    }

    pub(crate) fn payload(&self) -> Option<PayloadRef<'a>> {
        if !self.has_payload() {
            return None;
        }
        let (_, meta, ip6, _) = entry_parts(&self.table.blob, self.rec);
        let addr = self.rec.addr(|| ip6);
        Some(PayloadRef { incarnation: payload_incarnation(self.rec, &self.table.wide, self.pos), addr, meta })
    }

    /// Alive or suspect, with a known address.
    pub(crate) fn is_live(&self) -> bool {
        self.rec.is_live()
    }

    /// When the status last changed; known for members that are not live (for live ones
    /// nothing asks).
    pub(crate) fn changed_at(&self) -> Option<Instant> {
        if self.is_live() { None } else { self.table.since.get(&self.pos).copied() }
    }

    /// The merged state, owned.
    #[cfg(test)]
    pub(crate) fn state(&self) -> State {
        State {
            liveness: self.liveness(),
            payload: self.payload().map(|p| Payload { incarnation: p.incarnation, addr: p.addr, meta: p.meta.into() }),
        }
    }
}

pub(crate) struct MemberTable {
    records: Vec<Record>,
    blob: Vec<u8>,
    /// Bytes of the blob that belong to no record any more.
    garbage: usize,
    index: Index,
    hasher: Hasher,
    /// The time of the last status change of members that are not live, by position.
    since: BTreeMap<u32, Instant>,
    /// The payload incarnation of members whose [`Record::delta`] is [`WIDE`], by position.
    wide: BTreeMap<u32, u32>,
    /// Counts the changes of the merged states the table holds (inserts, merges that changed
    /// something, members forgotten), so that what is computed from them (the anti-entropy
    /// digest) can be cached until the next change.
    generation: u64,
}

fn hash(hasher: &Hasher, name: &[u8]) -> u64 {
    hasher.hash_one(name)
}

impl MemberTable {
    #[cfg(feature = "prefetch")]
    /// Prefetches the table's own fields (not the records they point to).
    pub(crate) fn prefetch_header(&self) {
        crate::hint::prefetch_fields!(self, records, blob, garbage, index, hasher, generation);
    }

    pub(crate) fn with_hasher(hasher: Hasher) -> Self {
        MemberTable {
            records: Vec::new(),
            blob: Vec::new(),
            garbage: 0,
            index: Index::new(0),
            hasher,
            since: BTreeMap::new(),
            wide: BTreeMap::new(),
            generation: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Changes with every change of a merged state the table holds.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn capacity(&self) -> usize {
        self.records.capacity()
    }

    /// Room for `additional` more members without growing, and not more.
    pub(crate) fn reserve_exact(&mut self, additional: usize) {
        self.records.reserve_exact(additional);
        let len = self.records.len();
        if slots_for(len + additional) > self.index.len() {
            // At least a quarter more, so growing one by one rebuilds the index rarely.
            self.resize_index(slots_for((len + additional).max(len + len / 4)));
        }
    }

    /// Gives back the room for more members.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.records.shrink_to_fit();
        self.compact_blob(true);
        self.resize_index(slots_for(self.records.len()));
    }

    /// The member at position `pos`.
    pub(crate) fn get(&self, pos: usize) -> Option<MemberRef<'_>> {
        let rec = self.records.get(pos)?;
        Some(MemberRef { rec, table: self, pos: u32::try_from(pos).ok()? })
    }

    /// The member called `name`.
    pub(crate) fn by_name(&self, name: &str) -> Option<MemberRef<'_>> {
        self.get(self.get_index_of(name)?)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = MemberRef<'_>> {
        (0..self.records.len()).filter_map(|i| self.get(i))
    }

    /// Prefetches the record at `pos` (a hint; nothing if there is none).
    #[cfg(feature = "prefetch")]
    pub(crate) fn prefetch(&self, pos: usize) {
        if let Some(r) = self.records.get(pos) {
            crate::hint::prefetch(r);
        }
    }

    /// Where the blob entry (name first) of the member at `pos` starts: a hint for
    /// [`MemberTable::prefetch_entry`]. Reads the record only.
    #[cfg(feature = "prefetch")]
    pub(crate) fn entry_of(&self, pos: usize) -> Option<u32> {
        self.records.get(pos).map(|r| r.blob)
    }

    /// Starts loading the first line of the blob entry at `at` (see [`MemberTable::entry_of`]),
    /// where the member's name is. Changes nothing.
    #[cfg(feature = "prefetch")]
    pub(crate) fn prefetch_entry(&self, at: u32) {
        if let Some(b) = self.blob.get(at as usize) {
            crate::hint::prefetch(b);
        }
    }

    fn find(&self, h: u64, name: &[u8]) -> Option<usize> {
        let mut i = self.index.home(h)?;
        loop {
            let s = self.index.get(i)?;
            if s == 0 {
                return None;
            }
            if let Some(at) = self.index.position(s, h) {
                if self.records.get(at).is_some_and(|r| entry_name(&self.blob, r.blob) == name) {
                    return Some(at);
                }
            }
            i = self.index.next(i);
        }
    }

    pub(crate) fn get_index_of(&self, name: &str) -> Option<usize> {
        self.find(hash(&self.hasher, name.as_bytes()), name.as_bytes())
    }

    /// [`MemberTable::get_index_of`] for each name (`None` where `names` has none), into `out`
    /// (`u32::MAX`: not found), for up to `out.len()` names. The answers are the same; the
    /// work is ordered so that the cache misses of different names overlap: every name's home
    /// slot is prefetched, then every record a slot names, then every such record's name, and
    /// only then are names compared.
    #[cfg(feature = "prefetch")]
    pub(crate) fn get_indices_of<'a>(&self, names: impl Iterator<Item = Option<&'a str>> + Clone, out: &mut [u32]) {
        let mut hashes = [0u64; BATCH];
        let mut first = [u32::MAX; BATCH];
        let names = names.take(out.len().min(BATCH));
        for (h, name) in hashes.iter_mut().zip(names.clone()) {
            if let Some(name) = name {
                *h = hash(&self.hasher, name.as_bytes());
                if let Some(i) = self.index.home(*h) {
                    self.index.prefetch(i);
                }
            }
        }
        for ((&h, f), name) in hashes.iter().zip(&mut first).zip(names.clone()) {
            let s = name.and(self.index.home(h)).and_then(|i| self.index.get(i)).unwrap_or(0);
            if let Some(at) = self.index.position(s, h) {
                *f = u32::try_from(at).unwrap_or(u32::MAX);
                if let Some(r) = self.records.get(at) {
                    crate::hint::prefetch(r);
                }
            }
        }
        for &f in &first {
            if let Some(r) = self.records.get(f as usize) {
                if let Some(b) = self.blob.get(r.blob as usize) {
                    crate::hint::prefetch(b);
                }
            }
        }
        for ((o, &h), name) in out.iter_mut().zip(&hashes).zip(names) {
            *o = name
                .and_then(|n| self.find(h, n.as_bytes()))
                .map_or(u32::MAX, |i| u32::try_from(i).unwrap_or(u32::MAX));
        }
    }

    /// Appends a blob entry; returns where it starts. Grows the blob by a quarter at a time
    /// (never doubling: thousands of tables would each carry the slack).
    /// The metadata goes in only when there is some (the record's [`HAS_META`] says so).
    fn push_entry(&mut self, name: &[u8], meta: &[u8], ip6: Option<[u8; 16]>) -> u32 {
        let meta_len = if meta.is_empty() { 0 } else { 2 + meta.len() };
        let need = 1 + name.len() + meta_len + if ip6.is_some() { 16 } else { 0 };
        if self.blob.len() + need > self.blob.capacity() {
            self.blob.reserve_exact(need.max(self.blob.len() / 4 + 64));
        }
        let at = u32::try_from(self.blob.len()).unwrap_or(u32::MAX);
        self.blob.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        self.blob.extend_from_slice(name);
        if !meta.is_empty() {
            self.blob.extend_from_slice(&u16::try_from(meta.len()).unwrap_or(u16::MAX).to_le_bytes());
            self.blob.extend_from_slice(meta);
        }
        if let Some(ip) = ip6 {
            self.blob.extend_from_slice(&ip);
        }
        at
    }

    /// Adds a member known only from `update` (a name the table does not hold); returns its
    /// position. A table holds at most [`MAX_ENTRIES`] (the node's `max_members` is checked
    /// against it) and names of at most 255 bytes; past either, nothing is stored (`None`).
    pub(crate) fn insert(&mut self, name: &str, update: Update<'_>, now: Instant) -> Option<usize> {
        let i = self.records.len();
        if i >= MAX_ENTRIES || name.len() > usize::from(u8::MAX) {
            return None;
        }
        let h = hash(&self.hasher, name.as_bytes());
        if slots_for(i + 1) > self.index.len() {
            // Room for the records' capacity, or a quarter more when it is full.
            self.resize_index(slots_for(self.records.capacity().max(i + 1 + i / 4)));
        }
        let mut rec = Record { blob: 0, incarnation: 0, ip: [0; 4], port: 0, bits: 0, delta: 0 };
        let (meta, ip6) = match update {
            Update::Status(l) => {
                rec.incarnation = l.incarnation;
                rec.bits = l.status as u8;
                (&[][..], None)
            }
            Update::Alive { incarnation, addr, meta } => {
                rec.incarnation = incarnation;
                rec.bits = HAS_PAYLOAD | if meta.is_empty() { 0 } else { HAS_META };
                (meta, set_addr(&mut rec, Addr::from(addr)))
            }
        };
        rec.blob = self.push_entry(name.as_bytes(), meta, ip6);
        self.records.push(rec);
        self.index.place(h, i);
        self.set_changed_at(i, now);
        self.generation += 1;
        Some(i)
    }

    /// Merges `update` into the member at `pos`, exactly as [`State::merge`] would.
    pub(crate) fn merge(&mut self, pos: usize, update: Update<'_>) -> Merged {
        let Some(&rec) = self.records.get(pos) else { return Merged::default() };
        let Ok(pos32) = u32::try_from(pos) else { return Merged::default() };
        let mut merged = Merged::default();
        let mut new = rec;
        let mut payload_inc = payload_incarnation(&rec, &self.wide, pos32);
        let liveness = match update {
            Update::Status(l) => l,
            Update::Alive { incarnation, addr, meta } => {
                let addr = Addr::from(addr);
                let (newer, same_meta, same_ip6) = match self.get(pos).and_then(|m| m.payload()) {
                    None => (true, false, false),
                    Some(p) => {
                        let same_meta = *p.meta == *meta;
                        let same_ip6 = matches!((p.addr, addr), (Addr::V6(a, _), Addr::V6(b, _)) if a == b);
                        let newer = if incarnation != p.incarnation {
                            incarnation > p.incarnation
                        } else if addr == p.addr && same_meta {
                            false
                        } else {
                            (addr, meta) > (p.addr, p.meta)
                        };
                        (newer, same_meta, same_ip6)
                    }
                };
                if newer {
                    payload_inc = incarnation;
                    let ip6 = set_addr(&mut new, addr);
                    new.bits |= HAS_PAYLOAD;
                    // A refutation or an IPv4 address change keeps the entry.
                    if !same_meta || (ip6.is_some() && !same_ip6) {
                        self.garbage += entry_len(&self.blob, &rec);
                        let name: Vec<u8> = entry_name(&self.blob, rec.blob).into();
                        new.bits = (new.bits & !HAS_META) | if meta.is_empty() { 0 } else { HAS_META };
                        new.blob = self.push_entry(&name, meta, ip6);
                    } else if ip6.is_none() && rec.bits & V6 != 0 {
                        // Now IPv4: the entry's IPv6 octets are no longer read.
                        self.garbage += 16;
                    }
                    merged.payload = true;
                }
                Liveness { incarnation, status: Status::Alive }
            }
        };
        let current = Liveness { incarnation: rec.incarnation, status: rec.status() };
        if liveness > current {
            new.incarnation = liveness.incarnation;
            new.bits = (new.bits & !STATUS) | liveness.status as u8;
            merged.liveness = true;
        }
        // The payload's incarnation as a distance below the liveness one, or in the side map.
        let delta = new.incarnation.checked_sub(payload_inc).and_then(|d| u8::try_from(d).ok()).filter(|&d| d != WIDE);
        new.delta = match delta {
            _ if new.bits & HAS_PAYLOAD == 0 => 0,
            Some(d) => d,
            None => WIDE,
        };
        if new.delta == WIDE {
            self.wide.insert(pos32, payload_inc);
        } else if rec.delta == WIDE {
            self.wide.remove(&pos32);
        }
        if let Some(r) = self.records.get_mut(pos) {
            *r = new;
        }
        if new.blob != rec.blob {
            self.compact_blob(false);
        }
        if merged.any() {
            self.generation += 1;
        }
        merged
    }

    /// Records that the member at `pos` changed status at `now` (kept only while it is not
    /// live).
    pub(crate) fn set_changed_at(&mut self, pos: usize, now: Instant) {
        let Some(m) = self.get(pos) else { return };
        let (live, pos) = (m.is_live(), m.pos);
        if live {
            self.since.remove(&pos);
        } else {
            self.since.insert(pos, now);
        }
    }

    /// Keeps the members `keep` accepts, in order; positions of later members shift down.
    /// Returns each old position's new one (`u32::MAX`: removed) when any was removed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(MemberRef<'_>) -> bool) -> Option<Vec<u32>> {
        let mut new_pos = Vec::with_capacity(self.records.len());
        let mut kept = 0u32;
        for i in 0..self.records.len() {
            let k = self.get(i).is_some_and(&mut keep);
            new_pos.push(if k { kept } else { u32::MAX });
            kept += u32::from(k);
        }
        if kept as usize == self.records.len() {
            // Nothing goes; drop the times of members that became live since.
            let records = &self.records;
            self.since.retain(|&p, _| records.get(p as usize).is_some_and(|r| !r.is_live()));
            return None;
        }
        let mut i = 0;
        let (blob, garbage) = (&self.blob, &mut self.garbage);
        self.records.retain(|r| {
            let k = new_pos.get(i).is_some_and(|&p| p != u32::MAX);
            if !k {
                *garbage += entry_len(blob, r);
            }
            i += 1;
            k
        });
        let since = core::mem::take(&mut self.since);
        self.since = since
            .into_iter()
            .filter_map(|(p, t)| {
                let np = new_pos.get(p as usize).copied().filter(|&np| np != u32::MAX)?;
                self.records.get(np as usize).filter(|r| !r.is_live()).map(|_| (np, t))
            })
            .collect();
        let wide = core::mem::take(&mut self.wide);
        self.wide = wide
            .into_iter()
            .filter_map(|(p, inc)| Some((new_pos.get(p as usize).copied().filter(|&np| np != u32::MAX)?, inc)))
            .collect();
        self.records.shrink_to(self.records.len() + self.records.len() / 4);
        self.compact_blob(true);
        self.index = Index::new(0);
        self.resize_index(slots_for(self.records.len()));
        self.generation += 1;
        Some(new_pos)
    }

    /// Rewrites the blob with only the live entries, in record order: always when `force`,
    /// else once garbage is more than half of what is live.
    fn compact_blob(&mut self, force: bool) {
        let live = self.blob.len() - self.garbage;
        let due = self.blob.len() >= MIN_COMPACT && self.garbage > live / 2;
        if !(due || (force && (self.garbage > 0 || self.blob.capacity() > self.blob.len()))) {
            return;
        }
        let mut blob = Vec::with_capacity(live);
        for r in &mut self.records {
            let len = entry_len(&self.blob, r);
            let at = r.blob as usize;
            r.blob = u32::try_from(blob.len()).unwrap_or(u32::MAX);
            blob.extend_from_slice(self.blob.get(at..at + len).unwrap_or(&[]));
        }
        self.blob = blob;
        self.garbage = 0;
    }

    /// Rebuilds the index with `n` slots (never fewer than the records need).
    fn resize_index(&mut self, n: usize) {
        let n = n.max(slots_for(self.records.len()));
        if n == self.index.len() {
            return;
        }
        self.index = Index::new(n);
        for i in 0..self.records.len() {
            let h = self.records.get(i).map_or(0, |r| hash(&self.hasher, entry_name(&self.blob, r.blob)));
            self.index.place(h, i);
        }
    }
}

/// Stores `addr` in `rec`; returns the IPv6 octets the blob entry must hold, if any.
fn set_addr(rec: &mut Record, addr: Addr) -> Option<[u8; 16]> {
    match addr {
        Addr::V4(ip, port) => {
            rec.ip = ip;
            rec.port = port;
            rec.bits &= !V6;
            None
        }
        Addr::V6(ip, port) => {
            rec.ip = [0; 4];
            rec.port = port;
            rec.bits |= V6;
            Some(ip)
        }
    }
}

/// Most names [`MemberTable::get_indices_of`] looks up in one call.
#[cfg(feature = "prefetch")]
pub(crate) const BATCH: usize = 48;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use proptest::prelude::*;

    fn table() -> MemberTable {
        MemberTable::with_hasher(Hasher::with_seed(7))
    }

    fn addr(k: u8) -> SocketAddr {
        match k % 4 {
            0 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 7946),
            1 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 7946),
            2 => SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)), 7946),
            _ => SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)), 7947),
        }
    }

    const METAS: [&[u8]; 4] = [b"", b"role=web", b"role=db,zone=eu-west-1", b"x"];

    /// Incarnations: mostly close together, sometimes hundreds apart (a payload far below the
    /// liveness incarnation goes to the side map).
    fn update(kind: u8, inc: u32, a: u8, m: u8) -> Update<'static> {
        let inc = [0, 1, 2, 3, 300, 600][inc as usize % 6];
        let status = match kind % 5 {
            0 | 4 => return Update::Alive { incarnation: inc, addr: addr(a), meta: METAS[usize::from(m % 4)] },
            1 => Status::Suspect,
            2 => Status::Dead,
            _ => Status::Left,
        };
        Update::Status(Liveness { incarnation: inc, status })
    }

    fn name(k: u16) -> String {
        // Some names are long, so entries differ in size.
        if k % 7 == 0 { format!("member-{k}-{}", "x".repeat(usize::from(k % 50))) } else { format!("member-{k}") }
    }

    #[test]
    fn a_record_is_sixteen_bytes() {
        assert_eq!(core::mem::size_of::<Record>(), 16);
    }

    /// Past 65 535 slots the index widens to 4-byte slots; both widths find every member.
    #[test]
    fn large_tables_use_wide_slots() {
        let mut t = table();
        let now = Instant::from_micros(0);
        for n in [100usize, 60_000] {
            for i in t.len()..n {
                assert_eq!(t.insert(&format!("m{i}"), update(1, 1, 0, 0), now), Some(i));
            }
            assert_eq!(t.index.width, if n < 60_000 { 3 } else { 4 });
            assert!((0..n).step_by(7).all(|i| t.get_index_of(&format!("m{i}")) == Some(i)));
            assert_eq!(t.get_index_of("m-absent"), None);
        }
    }

    #[test]
    fn insert_find_merge() {
        let mut t = table();
        let now = Instant::from_micros(5);
        let a = Update::Alive { incarnation: 1, addr: addr(0), meta: b"m" };
        assert_eq!(t.insert("a", a, now), Some(0));
        assert_eq!(t.insert("b", update(1, 3, 0, 0), now), Some(1));
        assert_eq!(t.get_index_of("b"), Some(1));
        assert_eq!(t.get_index_of("c"), None);
        let m = t.by_name("a").unwrap();
        assert_eq!((m.name(), m.is_live(), m.changed_at()), ("a", true, None));
        assert_eq!(m.payload(), Some(PayloadRef { incarnation: 1, addr: Addr::from(addr(0)), meta: b"m" }));
        let b = t.get(1).unwrap();
        assert_eq!((b.name(), b.is_live(), b.addr(), b.changed_at()), ("b", false, None, Some(now)));
        let merged = t.merge(0, Update::Alive { incarnation: 2, addr: addr(2), meta: b"mm" });
        assert!(merged.liveness && merged.payload);
        assert_eq!(t.get(0).unwrap().addr(), Some(Addr::from(addr(2))));
        assert_eq!(t.get(0).unwrap().payload().unwrap().meta, b"mm");
        t.reserve_exact(100);
        assert!(t.capacity() >= 102);
        t.shrink_to_fit();
        assert_eq!(t.capacity(), 2);
        // "a" with its metadata and IPv6 address, then "b" (a name only).
        assert_eq!(t.blob.len(), 1 + 1 + 2 + 2 + 16 + 1 + 1);
        assert_eq!((t.get_index_of("a"), t.get_index_of("b")), (Some(0), Some(1)));
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Merge (or insert) an update about a member.
        Update(u16, u8, u32, u8, u8),
        /// Forget the members whose number has this remainder modulo 5 and that are not live.
        Retain(u8),
        Shrink,
    }

    proptest! {
        /// Against a list of `(name, State)` searched linearly and merged by `State::merge`:
        /// the same positions, states, merge results, status times and order after any mix of
        /// inserts, merges and removals.
        #[test]
        fn behaves_like_a_list_of_states(ops in proptest::collection::vec(proptest::prop_oneof![
            8 => (0u16..40, 0u8..5, 0u32..6, 0u8..4, 0u8..4).prop_map(|(k, kind, inc, a, m)| Op::Update(k, kind, inc, a, m)),
            1 => (0u8..5).prop_map(Op::Retain),
            1 => Just(Op::Shrink),
        ], 0..400)) {
            let mut t = table();
            let mut model: Vec<(String, State, Option<u64>)> = Vec::new();
            for (step, op) in ops.into_iter().enumerate() {
                let now = Instant::from_micros(step as u64);
                match op {
                    Op::Update(k, kind, inc, a, m) => {
                        let name = name(k);
                        let u = update(kind, inc, a, m);
                        match model.iter().position(|(n, _, _)| *n == name) {
                            Some(i) => {
                                let expect = model[i].1.merge(u);
                                prop_assert_eq!(t.get_index_of(&name), Some(i));
                                let merged = t.merge(i, u);
                                prop_assert_eq!(merged, expect);
                                if merged.liveness {
                                    t.set_changed_at(i, now);
                                    model[i].2 = Some(step as u64);
                                }
                            }
                            None => {
                                model.push((name.clone(), State::from_update(u), Some(step as u64)));
                                prop_assert_eq!(t.insert(&name, u, now), Some(model.len() - 1));
                            }
                        }
                    }
                    Op::Retain(rem) => {
                        let gone = |n: &str, live: bool| !live && n.trim_start_matches("member-").split('-').next().unwrap().parse::<u16>().unwrap() % 5 == u16::from(rem);
                        let live_of = |s: &State| s.payload.is_some() && matches!(s.liveness.status, Status::Alive | Status::Suspect);
                        let expect: Vec<u32> = {
                            let mut kept = 0;
                            model.iter().map(|(n, s, _)| if gone(n, live_of(s)) { u32::MAX } else { kept += 1; kept - 1 }).collect()
                        };
                        let any = expect.contains(&u32::MAX);
                        model.retain(|(n, s, _)| !gone(n, live_of(s)));
                        let new_pos = t.retain(|m| !gone(m.name(), m.is_live()));
                        prop_assert_eq!(new_pos, any.then_some(expect));
                    }
                    Op::Shrink => t.shrink_to_fit(),
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert!(t.garbage <= t.blob.len());
            }
            for (i, (n, s, at)) in model.iter().enumerate() {
                prop_assert_eq!(t.get_index_of(n), Some(i));
                let m = t.get(i).unwrap();
                prop_assert_eq!(m.name(), n.as_str());
                prop_assert_eq!(&m.state(), s);
                if !m.is_live() {
                    prop_assert_eq!(m.changed_at(), at.map(Instant::from_micros));
                }
            }
            let listed: Vec<String> = t.iter().map(|m| String::from(m.name())).collect();
            let names: Vec<String> = model.iter().map(|(n, _, _)| n.clone()).collect();
            prop_assert_eq!(listed, names);
            prop_assert_eq!(t.get_index_of("member-300"), None);
            // Every live entry is in the blob once, and nothing else is, after a compaction.
            t.shrink_to_fit();
            let sum: usize = t.records.iter().map(|r| entry_len(&t.blob, r)).sum();
            prop_assert_eq!(sum, t.blob.len());
            // The batched lookup answers as the single one, for names present, absent and
            // missing (`None`), and fills only as many answers as there is room for.
            #[cfg(feature = "prefetch")]
            {
                let probe: Vec<String> = (0..60).map(name).collect();
                let names = probe.iter().enumerate().map(|(i, n)| (i % 4 != 3).then_some(n.as_str()));
                let mut out = [7u32; BATCH + 1];
                t.get_indices_of(names.clone(), &mut out[..BATCH]);
                for (o, name) in out.iter().zip(names).take(BATCH) {
                    let one = name.and_then(|n| t.get_index_of(n)).map_or(u32::MAX, |i| u32::try_from(i).unwrap());
                    prop_assert_eq!(*o, one);
                }
                prop_assert_eq!(out[BATCH], 7);
            }
        }
    }
}
