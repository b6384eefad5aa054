//! The dissemination queue: updates waiting to be piggybacked, fewest-sent first.
//!
//! Every entry is stored encoded, so packing a packet is a copy. Entries are ordered by
//! `(times sent, newest first)`; each time one is packed its count goes up, and after the
//! retransmit limit (`λ·log N`) it is dropped. A newer update about a member replaces the
//! queued one. User broadcasts share the queue but may use at most a byte budget of each
//! packet, and their number is bounded, so membership traffic is never starved.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cmp::Reverse;

use indexmap::IndexMap;

/// Position in the queue: fewest transmissions first, then newest first.
type Key = (u32, Reverse<u64>);

#[derive(Clone, Debug)]
struct Entry {
    bytes: Box<[u8]>,
    /// The member this update is about; `None` for user broadcasts.
    member: Option<Box<str>>,
}

#[derive(Clone, Debug)]
pub(crate) struct BroadcastQueue {
    entries: BTreeMap<Key, Entry>,
    by_member: IndexMap<Box<str>, Key, foldhash::fast::FixedState>,
    next_id: u64,
    user_entries: usize,
}

/// Most entries inspected per packet, so a queue full of entries too big for the space left
/// cannot make packing expensive.
const MAX_SCAN: usize = 256;
/// No encoded message is shorter than this; below it the packet is full.
const MIN_ENTRY: usize = 3;

impl BroadcastQueue {
    pub(crate) fn new(hash_seed: u64) -> Self {
        BroadcastQueue {
            entries: BTreeMap::new(),
            by_member: IndexMap::with_hasher(foldhash::fast::FixedState::with_seed(hash_seed)),
            next_id: 0,
            user_entries: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn key(&mut self) -> Key {
        self.next_id += 1;
        (0, Reverse(self.next_id))
    }

    /// Queues an update about `member`, replacing any queued update about it.
    pub(crate) fn push_member(&mut self, member: &str, bytes: Box<[u8]>) {
        let key = self.key();
        if let Some(old) = self.by_member.get_mut(member) {
            let old_key = core::mem::replace(old, key);
            self.entries.remove(&old_key);
        } else {
            self.by_member.insert(member.into(), key);
        }
        self.entries.insert(key, Entry { bytes, member: Some(member.into()) });
    }

    /// Queues a user broadcast; if more than `max_user` are queued the most-sent oldest one is
    /// evicted. Returns how many were evicted (0 or 1).
    pub(crate) fn push_user(&mut self, bytes: Box<[u8]>, max_user: usize) -> u64 {
        let key = self.key();
        self.entries.insert(key, Entry { bytes, member: None });
        self.user_entries += 1;
        if self.user_entries <= max_user {
            return 0;
        }
        let victim = self.entries.iter().rev().find(|(_, e)| e.member.is_none()).map(|(k, _)| *k);
        if let Some(k) = victim {
            self.entries.remove(&k);
            self.user_entries -= 1;
            return 1;
        }
        0
    }

    /// Appends queued entries to `out[*pos..]` while they fit, fewest-sent first, with at most
    /// `user_budget` bytes of user broadcasts; entries sent `limit` times are dropped.
    pub(crate) fn fill(&mut self, out: &mut [u8], pos: &mut usize, limit: u32, user_budget: usize) -> usize {
        let mut used: Vec<Key> = Vec::new();
        let mut user_bytes = 0;
        for (key, entry) in self.entries.iter().take(MAX_SCAN) {
            let space = out.len().saturating_sub(*pos);
            if space < MIN_ENTRY {
                break;
            }
            let len = entry.bytes.len();
            if len > space || (entry.member.is_none() && user_bytes + len > user_budget) {
                continue;
            }
            if let Some(dst) = out.get_mut(*pos..*pos + len) {
                dst.copy_from_slice(&entry.bytes);
                *pos += len;
                if entry.member.is_none() {
                    user_bytes += len;
                }
                used.push(*key);
            }
        }
        for key in &used {
            let Some(entry) = self.entries.remove(key) else { continue };
            let sent = key.0 + 1;
            if sent >= limit {
                match &entry.member {
                    Some(m) => {
                        self.by_member.swap_remove(m);
                    }
                    None => self.user_entries -= 1,
                }
                continue;
            }
            let new_key = (sent, key.1);
            if let Some(m) = &entry.member {
                if let Some(k) = self.by_member.get_mut(m) {
                    *k = new_key;
                }
            }
            self.entries.insert(new_key, entry);
        }
        // A join queues an update per member; release that room once it has been gossiped.
        if self.by_member.capacity() > 64 && self.by_member.len() * 4 < self.by_member.capacity() {
            self.by_member.shrink_to(self.by_member.len() * 2);
        }
        used.len()
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
        assert_eq!(q.fill(&mut buf, &mut pos, 2, 100), 1);
        assert_eq!(buf[0], 2, "newest first");
        pos = 0;
        q.fill(&mut buf, &mut pos, 2, 100);
        assert_eq!(buf[0], 1, "then the one sent fewer times");
        for _ in 0..2 {
            pos = 0;
            q.fill(&mut buf, &mut pos, 2, 100);
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
        assert_eq!(q.fill(&mut buf, &mut pos, 10, 50), 2, "one user broadcast fits the budget");
        assert_eq!(&buf[..pos], &[[7u8; 40].as_slice(), &[3; 4]].concat()[..]);
    }
}
