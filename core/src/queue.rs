//! The dissemination queue: updates waiting to be piggybacked, fewest-sent first.
//!
//! Every entry is stored encoded, so packing a packet is a copy. Entries are ordered by
//! `(times sent, newest first)`; each time one is packed its count goes up, and after the
//! retransmit limit (`λ·log N`) it is dropped. A newer update about a member replaces the
//! queued one. User broadcasts share the queue but may use at most a byte budget of each
//! packet, and their number is bounded, so membership traffic is never starved.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use indexmap::IndexMap;

use crate::name::Name;

#[derive(Clone, Debug)]
struct Entry {
    /// Unique and increasing: a higher id is a newer entry.
    id: u64,
    bytes: Box<[u8]>,
    /// The member this update is about; `None` for user broadcasts. A `Name` holds usual
    /// names inline, so queueing an update allocates only its bytes.
    member: Option<Name>,
}

/// The queue, ordered by `(times sent, newest first)`: `buckets[c]` holds the entries sent
/// `c` times, newest first, so packing takes from the front of the first buckets and a packed
/// entry moves to the next bucket, usually to one of its ends (no tree rebalancing per entry).
#[derive(Clone, Debug)]
// `repr(C)`: `len` and `buckets` (all that most packets read) come first, in one cache line.
#[repr(C)]
pub(crate) struct BroadcastQueue {
    len: usize,
    buckets: Vec<VecDeque<Entry>>,
    /// The id of the queued entry about each member.
    by_member: IndexMap<Name, u64, foldhash::fast::FixedState>,
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

impl BroadcastQueue {
    pub(crate) fn new(hash_seed: u64) -> Self {
        BroadcastQueue {
            buckets: Vec::new(),
            by_member: IndexMap::with_hasher(foldhash::fast::FixedState::with_seed(hash_seed)),
            next_id: 0,
            len: 0,
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

    /// A new entry: never sent, newer than every other, so it goes first.
    fn push_new(&mut self, bytes: Box<[u8]>, member: Option<Name>) {
        self.next_id += 1;
        let entry = Entry { id: self.next_id, bytes, member };
        if self.buckets.is_empty() {
            self.buckets.push(VecDeque::new());
        }
        if let Some(b) = self.buckets.first_mut() {
            b.push_front(entry);
            self.len += 1;
        }
    }

    /// Removes the entry with `id`, wherever it is.
    fn remove_id(&mut self, id: u64) -> Option<Entry> {
        for b in &mut self.buckets {
            // Newest first: ids decrease along the bucket.
            if let Ok(i) = b.binary_search_by(|e| id.cmp(&e.id)) {
                self.len -= 1;
                return b.remove(i);
            }
        }
        None
    }

    /// Queues an update about `member`, replacing any queued update about it.
    pub(crate) fn push_member(&mut self, member: &str, bytes: Box<[u8]>) {
        let id = self.next_id + 1;
        let member = Name::from(member);
        if let Some(old) = self.by_member.get_mut(member.as_str()) {
            let old_id = core::mem::replace(old, id);
            self.remove_id(old_id);
        } else {
            self.by_member.insert(member.clone(), id);
        }
        self.push_new(bytes, Some(member));
    }

    /// Queues a user broadcast; if more than `max_user` are queued the most-sent oldest one is
    /// evicted. Returns how many were evicted (0 or 1).
    pub(crate) fn push_user(&mut self, bytes: Box<[u8]>, max_user: usize) -> u64 {
        self.push_new(bytes, None);
        self.user_entries += 1;
        if self.user_entries <= max_user {
            return 0;
        }
        let victim = self.buckets.iter().rev().find_map(|b| b.iter().rev().find(|e| e.member.is_none()).map(|e| e.id));
        if let Some(id) = victim {
            self.remove_id(id);
            self.user_entries -= 1;
            return 1;
        }
        0
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
                let Some(entry) = bucket.get(i) else { break };
                let len = entry.bytes.len();
                let fits = len <= space && (entry.member.is_some() || user_bytes + len <= user_budget);
                let copied = fits
                    && out.get_mut(*pos..*pos + len).is_some_and(|dst| {
                        dst.copy_from_slice(&entry.bytes);
                        true
                    });
                if copied {
                    *pos += len;
                    if entry.member.is_none() {
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
            if sent >= if entry.member.is_some() { limit } else { user_limit } {
                match &entry.member {
                    Some(m) => {
                        self.by_member.swap_remove(m);
                    }
                    None => self.user_entries -= 1,
                }
                continue;
            }
            self.insert_sorted(c + 1, entry);
        }
        self.packed = packed;
        if self.len == 0 {
            // A drained queue gives its memory back: after a burst of news (a join storm)
            // thousands of nodes would otherwise each keep buckets sized for it.
            self.buckets = Vec::new();
            self.by_member = IndexMap::with_hasher(self.by_member.hasher().clone());
            self.packed = Vec::new();
        } else {
            for b in &mut self.buckets {
                if b.is_empty() && b.capacity() > 0 {
                    *b = VecDeque::new();
                }
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn fewest_sent_first_and_retransmit_limit() {
        let mut q = BroadcastQueue::new(0);
        q.push_member("a", vec![1; 10].into());
        q.push_member("b", vec![2; 10].into());
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
        let mut q = BroadcastQueue::new(0);
        q.push_member("a", vec![1; 4].into());
        q.push_member("a", vec![3; 4].into());
        assert_eq!(q.len(), 1);
        assert_eq!(q.push_user(vec![9; 40].into(), 2), 0);
        assert_eq!(q.push_user(vec![8; 40].into(), 2), 0);
        assert_eq!(q.push_user(vec![7; 40].into(), 2), 1);
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
                        Some(m) => {
                            self.by_member.remove(m);
                        }
                        None => self.user_entries -= 1,
                    }
                    continue;
                }
                let new_key = (sent, key.1);
                if let Some(m) = &entry.1 {
                    self.by_member.insert(m.clone(), new_key);
                }
                self.entries.insert(new_key, entry);
            }
            used.len()
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Member(u8, u8),
        User(u8, u8),
        Fill(u8, u8, u8, u8),
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packs_exactly_like_the_reference(ops in proptest::collection::vec(proptest::prop_oneof![
            (0u8..12, 3u8..60).prop_map(|(m, l)| Op::Member(m, l)),
            (3u8..60, 1u8..5).prop_map(|(l, max)| Op::User(l, max)),
            (0u8..250, 1u8..7, 1u8..9, 0u8..120).prop_map(|(o, lim, ulim, b)| Op::Fill(o, lim, ulim, b)),
        ], 1..200)) {
            let mut q = BroadcastQueue::new(0);
            let mut r = Reference {
                entries: Default::default(),
                by_member: Default::default(),
                next_id: 0,
                user_entries: 0,
            };
            let mut tag = 0u8;
            for op in ops {
                tag = tag.wrapping_add(1);
                match op {
                    Op::Member(m, len) => {
                        let name = alloc::format!("m{m}");
                        let bytes: Box<[u8]> = vec![tag; usize::from(len)].into();
                        q.push_member(&name, bytes.clone());
                        r.push_member(&name, bytes);
                    }
                    Op::User(len, max) => {
                        let bytes: Box<[u8]> = vec![tag; usize::from(len)].into();
                        prop_assert_eq!(q.push_user(bytes.clone(), usize::from(max)), r.push_user(bytes, usize::from(max)));
                    }
                    Op::Fill(size, limit, user_limit, budget) => {
                        let (mut a, mut b) = (vec![0u8; usize::from(size)], vec![0u8; usize::from(size)]);
                        let (mut pa, mut pb) = (0, 0);
                        let (limit, user_limit, budget) = (u32::from(limit), u32::from(user_limit), usize::from(budget));
                        let na = q.fill(&mut a, &mut pa, limit, user_limit, budget);
                        let nb = r.fill(&mut b, &mut pb, limit, user_limit, budget);
                        prop_assert_eq!((na, pa, &a), (nb, pb, &b));
                    }
                }
                prop_assert_eq!(q.len(), r.entries.len());
                prop_assert_eq!(q.by_member.len(), r.by_member.len());
            }
        }
    }
}
