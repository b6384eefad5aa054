//! The dissemination queue: updates waiting to be piggybacked, fewest-sent first.
//!
//! Every entry is stored encoded, so packing a packet is a copy. Entries are ordered by
//! `(times sent, newest first)`; each time one is packed its count goes up, and after the
//! retransmit limit (`λ·log N`) it is dropped. A newer update about a member replaces the
//! queued one. User broadcasts share the queue but may use at most a byte budget of each
//! packet, and their number is bounded, so membership traffic is never starved.
//!
//! Memory is what bounds a large simulation: under heavy loss every node has an update
//! about nearly every member queued (10⁸ entries at 10 000 nodes). So an entry is 16 bytes —
//! its id, the member's position in the member table and where its bytes are — and the
//! bytes of all entries share one arena, behind a 2-byte length; the arena is compacted when
//! more of it is garbage than not. The queued entry about each member is found through a
//! vector indexed by member position.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Whom an entry is about: a position in the member table, or one of these.
pub(crate) type Key = u32;
/// This node itself (it is not in its member table).
pub(crate) const SELF: Key = u32::MAX;
/// A user broadcast.
const USER: Key = u32::MAX - 1;
/// A member that was forgotten (reaped) while an update about it was queued: the update is
/// still sent, but nothing replaces it.
const FORGOTTEN: Key = u32::MAX - 2;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Unique and increasing: a higher id is a newer entry.
    id: u64,
    key: Key,
    /// Where the entry's length and bytes are in the arena.
    at: u32,
}

impl Entry {
    fn is_user(self) -> bool {
        self.key == USER
    }
}

/// The queue, ordered by `(times sent, newest first)`: `buckets[c]` holds the entries sent
/// `c` times, newest first, so packing takes from the front of the first buckets and a packed
/// entry moves to the next bucket, usually to one of its ends (no tree rebalancing per entry).
#[derive(Clone, Debug)]
pub(crate) struct BroadcastQueue {
    len: usize,
    buckets: Vec<VecDeque<Entry>>,
    /// Every queued entry's bytes, each behind its length (2 bytes, little-endian).
    arena: Vec<u8>,
    /// Bytes of the arena that belong to no entry any more.
    garbage: usize,
    /// The id of the queued entry about the member at each position (0: none); as long as
    /// the highest position queued.
    by_member: Vec<u64>,
    /// The id of the queued entry about this node (0: none).
    by_self: u64,
    next_id: u64,
    user_entries: usize,
    /// Reused by `fill`: the entries packed from each bucket, in queue order.
    packed: Vec<(usize, Entry)>,
}

/// Most entries inspected per packet, so a queue full of entries too big for the space left
/// cannot make packing expensive.
const MAX_SCAN: usize = 256;
/// No encoded message is shorter than this; below it the packet is full.
const MIN_ENTRY: usize = 3;
/// The arena is not compacted below this size.
const MIN_COMPACT: usize = if cfg!(test) { 64 } else { 4096 };

/// The bytes of `e` in `arena` (its length is the two bytes before them).
fn entry_bytes(arena: &[u8], e: Entry) -> &[u8] {
    let at = e.at as usize;
    let len = arena.get(at..at + 2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map_or(0, u16::from_le_bytes);
    arena.get(at + 2..at + 2 + usize::from(len)).unwrap_or(&[])
}

impl BroadcastQueue {
    #[cfg(feature = "prefetch")]
    pub(crate) fn prefetch(&self) {
        crate::hint::prefetch_fields!(self, len, buckets, arena, by_member, by_self, next_id, user_entries, packed);
    }

    pub(crate) fn new() -> Self {
        BroadcastQueue {
            len: 0,
            buckets: Vec::new(),
            arena: Vec::new(),
            garbage: 0,
            by_member: Vec::new(),
            by_self: 0,
            next_id: 0,
            user_entries: 0,
            packed: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Nothing queued and no memory held: [`BroadcastQueue::fill`] would do nothing.
    pub(crate) fn is_idle(&self) -> bool {
        self.len == 0 && self.buckets.is_empty()
    }

    /// Where the id of the entry queued about `key` is kept (`None` for user broadcasts).
    fn slot(&mut self, key: Key) -> Option<&mut u64> {
        match key {
            SELF => Some(&mut self.by_self),
            USER | FORGOTTEN => None,
            i => {
                let i = i as usize;
                if self.by_member.len() <= i {
                    self.by_member.resize(i + 1, 0);
                }
                self.by_member.get_mut(i)
            }
        }
    }

    /// A new entry: never sent, newer than every other, so it goes first. Returns its id, or
    /// `None` for bytes longer than any packet (not queued).
    fn push_new(&mut self, bytes: &[u8], key: Key) -> Option<u64> {
        let len = u16::try_from(bytes.len()).ok()?;
        let at = u32::try_from(self.arena.len()).ok()?;
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(bytes);
        self.next_id += 1;
        let entry = Entry { id: self.next_id, key, at };
        if self.buckets.is_empty() {
            self.buckets.push(VecDeque::new());
        }
        let b = self.buckets.first_mut()?;
        b.push_front(entry);
        self.len += 1;
        Some(entry.id)
    }

    /// Removes the entry with `id`, wherever it is, and counts its bytes as garbage.
    fn remove_id(&mut self, id: u64) {
        for b in &mut self.buckets {
            // Newest first: ids decrease along the bucket.
            if let Ok(i) = b.binary_search_by(|e| id.cmp(&e.id)) {
                if let Some(e) = b.remove(i) {
                    self.len -= 1;
                    self.garbage += 2 + entry_bytes(&self.arena, e).len();
                }
                return;
            }
        }
    }

    /// Queues an update about `key` (a member's position in the member table, or [`SELF`]),
    /// replacing any queued update about it.
    pub(crate) fn push_member(&mut self, key: Key, bytes: &[u8]) {
        let old = self.slot(key).map_or(0, core::mem::take);
        if old != 0 {
            self.remove_id(old);
        }
        if let Some(id) = self.push_new(bytes, key) {
            if let Some(s) = self.slot(key) {
                *s = id;
            }
        }
        self.compact();
    }

    /// Queues a user broadcast; if more than `max_user` are queued the most-sent oldest one is
    /// evicted. Returns how many were evicted or not queued (0 or 1).
    pub(crate) fn push_user(&mut self, bytes: &[u8], max_user: usize) -> u64 {
        if self.push_new(bytes, USER).is_none() {
            return 1;
        }
        self.user_entries += 1;
        if self.user_entries <= max_user {
            return 0;
        }
        let victim = self.buckets.iter().rev().find_map(|b| b.iter().rev().find(|e| e.is_user()).map(|e| e.id));
        if let Some(id) = victim {
            self.remove_id(id);
            self.user_entries -= 1;
            self.compact();
            return 1;
        }
        0
    }

    /// The member table forgot members: `new_pos[old]` is each member's new position
    /// (`u32::MAX`: forgotten). Queued updates follow their members; those about forgotten
    /// members are still sent.
    pub(crate) fn remap(&mut self, new_pos: &[u32]) {
        if self.is_idle() {
            return;
        }
        let mut by_member: Vec<u64> = Vec::new();
        for e in self.buckets.iter_mut().flatten() {
            if e.key >= FORGOTTEN {
                continue;
            }
            e.key = new_pos.get(e.key as usize).copied().filter(|&p| p < FORGOTTEN).unwrap_or(FORGOTTEN);
            if let Some(i) = usize::try_from(e.key).ok().filter(|_| e.key < FORGOTTEN) {
                if by_member.len() <= i {
                    by_member.resize(i + 1, 0);
                }
                if let Some(s) = by_member.get_mut(i) {
                    *s = e.id;
                }
            }
        }
        self.by_member = by_member;
    }

    /// Rewrites the arena without its garbage once that is more than half of what is live.
    fn compact(&mut self) {
        let live = self.arena.len() - self.garbage;
        if self.arena.len() < MIN_COMPACT || self.garbage <= live / 2 {
            return;
        }
        let mut arena = Vec::with_capacity(live);
        for e in self.buckets.iter_mut().flatten() {
            let bytes = entry_bytes(&self.arena, *e);
            e.at = u32::try_from(arena.len()).unwrap_or(u32::MAX);
            arena.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(0).to_le_bytes());
            arena.extend_from_slice(bytes);
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// Appends queued entries to `out[*pos..]` while they fit, fewest-sent first, with at most
    /// `user_budget` bytes of user broadcasts; member updates sent `limit` times and user
    /// broadcasts sent `user_limit` times are dropped.
    pub(crate) fn fill(
        &mut self,
        out: &mut [u8],
        pos: &mut usize,
        limit: u32,
        user_limit: u32,
        user_budget: usize,
    ) -> usize {
        if self.is_idle() {
            // The steady state: nothing to piggyback and no memory to give back.
            return 0;
        }
        let mut user_bytes = 0;
        let mut scanned = 0;
        let mut packed = core::mem::take(&mut self.packed);
        packed.clear();
        let arena = &self.arena;
        'buckets: for (c, bucket) in self.buckets.iter_mut().enumerate() {
            if scanned >= MAX_SCAN {
                break;
            }
            // Scan this bucket's front; take out what fits, keep the rest in order.
            let mut i = 0;
            while i < bucket.len() {
                if scanned >= MAX_SCAN {
                    break;
                }
                scanned += 1;
                let space = out.len().saturating_sub(*pos);
                if space < MIN_ENTRY {
                    break 'buckets;
                }
                let Some(&entry) = bucket.get(i) else { break };
                let bytes = entry_bytes(arena, entry);
                let len = bytes.len();
                let fits = len <= space && (!entry.is_user() || user_bytes + len <= user_budget);
                let copied = fits
                    && out.get_mut(*pos..*pos + len).is_some_and(|dst| {
                        dst.copy_from_slice(bytes);
                        true
                    });
                if copied {
                    *pos += len;
                    if entry.is_user() {
                        user_bytes += len;
                    }
                    // Entries before `i` that were skipped stay at the front.
                    if let Some(e) = bucket.remove(i) {
                        packed.push((c, e));
                    }
                } else {
                    i += 1;
                }
            }
        }
        let used = packed.len();
        self.len -= used;
        for (c, entry) in packed.drain(..) {
            let sent = u32::try_from(c + 1).unwrap_or(u32::MAX);
            if sent >= if entry.is_user() { user_limit } else { limit } {
                if entry.is_user() {
                    self.user_entries -= 1;
                } else if let Some(s) = self.slot(entry.key) {
                    *s = 0;
                }
                self.garbage += 2 + entry_bytes(&self.arena, entry).len();
                continue;
            }
            self.insert_sorted(c + 1, entry);
        }
        self.packed = packed;
        if self.len == 0 {
            // A drained queue gives its memory back: after a burst of news (a join storm)
            // thousands of nodes would otherwise each keep buckets sized for it.
            self.buckets = Vec::new();
            self.by_member = Vec::new();
            self.arena = Vec::new();
            self.garbage = 0;
            self.packed = Vec::new();
        } else {
            for b in &mut self.buckets {
                if b.is_empty() && b.capacity() > 0 {
                    *b = VecDeque::new();
                }
            }
            self.compact();
        }
        used
    }

    /// Puts `entry` into `buckets[c]` at its place (newest first). Packed entries are
    /// usually newer than all or older than all of their new bucket.
    fn insert_sorted(&mut self, c: usize, entry: Entry) {
        while self.buckets.len() <= c {
            self.buckets.push(VecDeque::new());
        }
        let Some(b) = self.buckets.get_mut(c) else { return };
        self.len += 1;
        match (b.front(), b.back()) {
            (Some(front), _) if entry.id > front.id => b.push_front(entry),
            (_, Some(back)) if entry.id < back.id => b.push_back(entry),
            (None, _) => b.push_back(entry),
            _ => {
                let at = b.partition_point(|e| e.id > entry.id);
                b.insert(at, entry);
            }
        }
    }

    /// How many members (this node included) have an update queued.
    #[cfg(test)]
    fn members_queued(&self) -> usize {
        self.by_member.iter().filter(|&&id| id != 0).count() + usize::from(self.by_self != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec;

    #[test]
    fn fewest_sent_first_and_retransmit_limit() {
        let mut q = BroadcastQueue::new();
        q.push_member(0, &[1; 10]);
        q.push_member(1, &[2; 10]);
        let mut buf = [0u8; 15];
        let mut pos = 0;
        assert_eq!(q.fill(&mut buf, &mut pos, 2, 2, 100), 1);
        assert_eq!(buf[0], 2, "newest first");
        pos = 0;
        q.fill(&mut buf, &mut pos, 2, 2, 100);
        assert_eq!(buf[0], 1, "then the one sent fewer times");
        for _ in 0..2 {
            pos = 0;
            q.fill(&mut buf, &mut pos, 2, 2, 100);
        }
        assert_eq!(q.len(), 0, "each sent twice, then dropped");
    }

    #[test]
    fn newer_update_replaces_and_user_budget_applies() {
        let mut q = BroadcastQueue::new();
        q.push_member(SELF, &[1; 4]);
        q.push_member(SELF, &[3; 4]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.push_user(&[9; 40], 2), 0);
        assert_eq!(q.push_user(&[8; 40], 2), 0);
        assert_eq!(q.push_user(&[7; 40], 2), 1);
        let mut buf = [0u8; 200];
        let mut pos = 0;
        assert_eq!(q.fill(&mut buf, &mut pos, 10, 10, 50), 2, "one user broadcast fits the budget");
        assert_eq!(&buf[..pos], &[[7u8; 40].as_slice(), &[3; 4]].concat()[..]);
    }

    /// The queue as first written (one ordered map keyed by `(sent, newest first)`): the
    /// bucketed queue must pack exactly the same bytes in the same order.
    type RefKey = (u32, core::cmp::Reverse<u64>);
    type RefEntry = (Box<[u8]>, Option<Box<str>>);

    struct Reference {
        entries: alloc::collections::BTreeMap<RefKey, RefEntry>,
        by_member: alloc::collections::BTreeMap<Box<str>, RefKey>,
        next_id: u64,
        user_entries: usize,
    }

    impl Reference {
        fn push_member(&mut self, member: &str, bytes: Box<[u8]>) {
            self.next_id += 1;
            let key = (0, core::cmp::Reverse(self.next_id));
            if let Some(old) = self.by_member.insert(member.into(), key) {
                self.entries.remove(&old);
            }
            self.entries.insert(key, (bytes, Some(member.into())));
        }

        fn push_user(&mut self, bytes: Box<[u8]>, max_user: usize) -> u64 {
            self.next_id += 1;
            self.entries.insert((0, core::cmp::Reverse(self.next_id)), (bytes, None));
            self.user_entries += 1;
            if self.user_entries <= max_user {
                return 0;
            }
            let victim = self.entries.iter().rev().find(|(_, e)| e.1.is_none()).map(|(k, _)| *k);
            if let Some(k) = victim {
                self.entries.remove(&k);
                self.user_entries -= 1;
                return 1;
            }
            0
        }

        fn fill(&mut self, out: &mut [u8], pos: &mut usize, limit: u32, user_limit: u32, user_budget: usize) -> usize {
            let mut used = Vec::new();
            let mut user_bytes = 0;
            for (key, entry) in self.entries.iter().take(MAX_SCAN) {
                let space = out.len().saturating_sub(*pos);
                if space < MIN_ENTRY {
                    break;
                }
                let len = entry.0.len();
                if len > space || (entry.1.is_none() && user_bytes + len > user_budget) {
                    continue;
                }
                out[*pos..*pos + len].copy_from_slice(&entry.0);
                *pos += len;
                if entry.1.is_none() {
                    user_bytes += len;
                }
                used.push(*key);
            }
            for key in &used {
                let entry = self.entries.remove(key).unwrap();
                let sent = key.0 + 1;
                if sent >= if entry.1.is_some() { limit } else { user_limit } {
                    match &entry.1 {
                        Some(m) if **m == *FORGOTTEN_NAME => {}
                        Some(m) => {
                            self.by_member.remove(m);
                        }
                        None => self.user_entries -= 1,
                    }
                    continue;
                }
                let new_key = (sent, key.1);
                if let Some(m) = entry.1.as_ref().filter(|m| ***m != *FORGOTTEN_NAME) {
                    self.by_member.insert(m.clone(), new_key);
                }
                self.entries.insert(new_key, entry);
            }
            used.len()
        }

        /// Forgets the members `gone` accepts: their queued updates stay, unreplaceable.
        fn forget(&mut self, gone: impl Fn(&str) -> bool) {
            self.by_member.retain(|m, _| !gone(m));
            for e in self.entries.values_mut() {
                if e.1.as_deref().is_some_and(&gone) {
                    e.1 = Some(FORGOTTEN_NAME.into());
                }
            }
        }
    }

    const FORGOTTEN_NAME: &str = "forgotten";

    #[derive(Clone, Debug)]
    enum Op {
        Member(u8, u8),
        User(u8, u8),
        Fill(u8, u8, u8, u8),
        /// Forget the members whose number has this remainder modulo 4.
        Forget(u8),
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packs_exactly_like_the_reference(ops in proptest::collection::vec(proptest::prop_oneof![
            (0u8..12, 3u8..60).prop_map(|(m, l)| Op::Member(m, l)),
            (3u8..60, 1u8..5).prop_map(|(l, max)| Op::User(l, max)),
            (0u8..250, 1u8..7, 1u8..9, 0u8..120).prop_map(|(o, lim, ulim, b)| Op::Fill(o, lim, ulim, b)),
            (0u8..4).prop_map(Op::Forget),
        ], 1..200)) {
            let mut q = BroadcastQueue::new();
            let mut r = Reference {
                entries: Default::default(),
                by_member: Default::default(),
                next_id: 0,
                user_entries: 0,
            };
            // The member table: member numbers in order of their positions (12 is this node).
            let mut table: Vec<u8> = Vec::new();
            let mut tag = 0u8;
            for op in ops {
                tag = tag.wrapping_add(1);
                match op {
                    Op::Member(m, len) => {
                        let name = alloc::format!("m{m}");
                        let bytes: Box<[u8]> = vec![tag; usize::from(len)].into();
                        let key = if m == 12 {
                            SELF
                        } else {
                            let at = table.iter().position(|&t| t == m).unwrap_or_else(|| {
                                table.push(m);
                                table.len() - 1
                            });
                            u32::try_from(at).unwrap()
                        };
                        q.push_member(key, &bytes);
                        r.push_member(&name, bytes);
                    }
                    Op::User(len, max) => {
                        let bytes: Box<[u8]> = vec![tag; usize::from(len)].into();
                        prop_assert_eq!(q.push_user(&bytes, usize::from(max)), r.push_user(bytes, usize::from(max)));
                    }
                    Op::Fill(size, limit, user_limit, budget) => {
                        let (mut a, mut b) = (vec![0u8; usize::from(size)], vec![0u8; usize::from(size)]);
                        let (mut pa, mut pb) = (0, 0);
                        let (limit, user_limit, budget) = (u32::from(limit), u32::from(user_limit), usize::from(budget));
                        let na = q.fill(&mut a, &mut pa, limit, user_limit, budget);
                        let nb = r.fill(&mut b, &mut pb, limit, user_limit, budget);
                        prop_assert_eq!((na, pa, &a), (nb, pb, &b));
                    }
                    Op::Forget(rem) => {
                        let mut new_pos = Vec::new();
                        let mut kept = 0;
                        for &m in &table {
                            new_pos.push(if m % 4 == rem { u32::MAX } else { kept += 1; kept - 1 });
                        }
                        table.retain(|&m| m % 4 != rem);
                        q.remap(&new_pos);
                        r.forget(|name| name.trim_start_matches('m').parse::<u8>().is_ok_and(|m| m != 12 && m % 4 == rem));
                    }
                }
                prop_assert_eq!(q.len(), r.entries.len());
                prop_assert_eq!(q.members_queued(), r.by_member.len());
                prop_assert!(q.garbage <= q.arena.len());
            }
        }
    }
}
