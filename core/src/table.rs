//! `NameTable`: the member table, an insertion-ordered map from member name to record.
//!
//! Records live in one vector, addressed by a stable index (until [`NameTable::retain`]); an
//! open-addressing index of 4-byte slots finds them by name. A slot holds the record's
//! position plus one (0: empty) in its low 24 bits and 8 bits of the name's hash above, so a
//! probe compares a name only when those bits match. Against `IndexMap<Name, V>` this stores
//! no hash per entry and 4-byte rather than 8-byte positions, 16 bytes less per member in a
//! table that every node keeps for every member (a thousand-node cluster in one process
//! holds a million of them). Being our own, the index can also be prefetched:
//! [`NameTable::get_indices_of`] looks up a packet's worth of names in three passes (slots,
//! then records, then the comparisons) so their cache misses overlap.

use alloc::vec::Vec;
use core::hash::BuildHasher;

use crate::name::Name;

type Hasher = foldhash::fast::FixedState;

/// Most records a table holds: positions are 24 bits, plus one for the empty slot
/// (`Config::max_members` is checked against it).
pub(crate) const MAX_ENTRIES: usize = (1 << 24) - 2;
const POS_MASK: u32 = (1 << 24) - 1;

pub(crate) struct NameTable<V> {
    entries: Vec<(Name, V)>,
    /// Linear probing; the length is 0 or a power of two, at most 7/8 full.
    slots: Vec<u32>,
    hasher: Hasher,
}

fn hash(hasher: &Hasher, name: &str) -> u64 {
    hasher.hash_one(name)
}

/// The slot's tag: the hash's top 8 bits, above the position. (A used slot is never 0: its
/// position has one added.)
fn tag(h: u64) -> u32 {
    ((h >> 56) as u32) << 24
}

/// The slot a position is stored in, with its tag.
fn slot(h: u64, i: usize) -> u32 {
    tag(h) | (u32::try_from(i + 1).unwrap_or(POS_MASK) & POS_MASK)
}

/// Slots for `n` records: a power of two with `n` at most 7/8 of it (0 for none).
fn slots_for(n: usize) -> usize {
    if n == 0 { 0 } else { (n * 8).div_ceil(7).next_power_of_two().max(8) }
}

impl<V> NameTable<V> {
    pub(crate) fn with_hasher(hasher: Hasher) -> Self {
        NameTable { entries: Vec::new(), slots: Vec::new(), hasher }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Room for `additional` more entries without growing, and not more.
    pub(crate) fn reserve_exact(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
        let want = slots_for(self.entries.len() + additional);
        if want > self.slots.len() {
            self.resize_index(want);
        }
    }

    /// Gives back the room for more entries.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        self.resize_index(slots_for(self.entries.len()));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Name, &V)> {
        self.entries.iter().map(|(n, v)| (n, v))
    }

    /// The home slot of hash `h` (`None` while the index is empty).
    fn home(&self, h: u64) -> Option<usize> {
        #[allow(clippy::cast_possible_truncation)] // masked to the table size
        let mask = self.slots.len().checked_sub(1)? as u64;
        #[allow(clippy::cast_possible_truncation)]
        Some((h & mask) as usize)
    }

    fn find(&self, h: u64, name: &str) -> Option<usize> {
        let mut i = self.home(h)?;
        let mask = self.slots.len() - 1;
        loop {
            let s = *self.slots.get(i)?;
            if s == 0 {
                return None;
            }
            if s & !POS_MASK == tag(h) {
                let at = ((s & POS_MASK) as usize).wrapping_sub(1);
                if self.entries.get(at).is_some_and(|(n, _)| n.as_str() == name) {
                    return Some(at);
                }
            }
            i = (i + 1) & mask;
        }
    }

    pub(crate) fn get_index_of(&self, name: &str) -> Option<usize> {
        self.find(hash(&self.hasher, name), name)
    }

    /// [`NameTable::get_index_of`] for each name (`None` where `names` has none), into `out`
    /// (`u32::MAX`: not found), for up to `out.len()` names. The answers are the same; the
    /// work is ordered so that the cache misses of different names overlap: every name's home
    /// slot is prefetched, then every record a slot names, and only then are names compared.
    pub(crate) fn get_indices_of<'a>(&self, names: impl Iterator<Item = Option<&'a str>> + Clone, out: &mut [u32]) {
        let mut hashes = [0u64; BATCH];
        let names = names.take(out.len().min(BATCH));
        for (h, name) in hashes.iter_mut().zip(names.clone()) {
            if let Some(name) = name {
                *h = hash(&self.hasher, name);
                if let Some(s) = self.home(*h).and_then(|i| self.slots.get(i)) {
                    crate::hint::prefetch(s);
                }
            }
        }
        for (&h, name) in hashes.iter().zip(names.clone()) {
            let s = name.and(self.home(h)).and_then(|i| self.slots.get(i)).copied().unwrap_or(0);
            if s != 0 && s & !POS_MASK == tag(h) {
                if let Some(e) = self.entries.get(((s & POS_MASK) as usize).wrapping_sub(1)) {
                    crate::hint::prefetch(e);
                }
            }
        }
        for ((o, &h), name) in out.iter_mut().zip(&hashes).zip(names) {
            *o = name.and_then(|n| self.find(h, n)).map_or(u32::MAX, |i| u32::try_from(i).unwrap_or(u32::MAX));
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        self.get_key_value(name).map(|(_, v)| v)
    }

    pub(crate) fn get_key_value(&self, name: &str) -> Option<(&Name, &V)> {
        self.get_index(self.get_index_of(name)?)
    }

    pub(crate) fn get_index(&self, i: usize) -> Option<(&Name, &V)> {
        self.entries.get(i).map(|(n, v)| (n, v))
    }

    pub(crate) fn get_index_mut(&mut self, i: usize) -> Option<(&Name, &mut V)> {
        self.entries.get_mut(i).map(|(n, v)| (&*n, v))
    }

    /// Inserts or replaces; returns the entry's position and the value it replaced. A table
    /// holds at most [`MAX_ENTRIES`]; past that a new name is not stored (returns
    /// `(MAX_ENTRIES, None)`, a position with no entry). The node never gets there: its
    /// `max_members` is checked against the bound.
    pub(crate) fn insert_full(&mut self, name: Name, value: V) -> (usize, Option<V>) {
        let h = hash(&self.hasher, &name);
        if let Some(i) = self.find(h, &name) {
            let old = self.entries.get_mut(i).map(|(_, v)| core::mem::replace(v, value));
            return (i, old);
        }
        let i = self.entries.len();
        if i >= MAX_ENTRIES {
            return (MAX_ENTRIES, None);
        }
        if slots_for(i + 1) > self.slots.len() {
            self.resize_index(slots_for(i + 1));
        }
        self.entries.push((name, value));
        self.place(h, i);
        (i, None)
    }

    /// Stores position `i` in the first free slot from its home.
    fn place(&mut self, h: u64, i: usize) {
        let Some(mut at) = self.home(h) else { return };
        let mask = self.slots.len() - 1;
        while let Some(s) = self.slots.get_mut(at) {
            if *s == 0 {
                *s = slot(h, i);
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Rebuilds the index with `n` slots (never fewer than the entries need).
    fn resize_index(&mut self, n: usize) {
        let n = n.max(slots_for(self.entries.len()));
        if n == self.slots.len() {
            return;
        }
        self.slots = alloc::vec![0; n];
        for i in 0..self.entries.len() {
            let h = self.entries.get(i).map_or(0, |(name, _)| hash(&self.hasher, name));
            self.place(h, i);
        }
    }

    /// Keeps the entries `keep` accepts, in order; positions of later entries shift down.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Name, &mut V) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(n, v)| keep(n, v));
        if self.entries.len() == before {
            return;
        }
        self.entries.shrink_to(self.entries.len() + self.entries.len() / 4);
        self.slots = Vec::new();
        self.resize_index(slots_for(self.entries.len()));
    }
}

/// Most names [`NameTable::get_indices_of`] looks up in one call.
pub(crate) const BATCH: usize = 48;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use proptest::prelude::*;

    fn table() -> NameTable<u32> {
        NameTable::with_hasher(Hasher::with_seed(7))
    }

    #[test]
    fn insert_find_replace() {
        let mut t = table();
        assert_eq!(t.insert_full("a".into(), 1), (0, None));
        assert_eq!(t.insert_full("a long name that is kept on the heap".into(), 2), (1, None));
        assert_eq!(t.insert_full("a".into(), 3), (0, Some(1)));
        assert_eq!(t.len(), 2);
        assert_eq!(t.get("a"), Some(&3));
        assert_eq!(t.get_index_of("a long name that is kept on the heap"), Some(1));
        assert_eq!(t.get("b"), None);
        assert_eq!(t.get_index(1).map(|(n, v)| (n.as_str(), *v)), Some(("a long name that is kept on the heap", 2)));
        assert!(t.get_index(2).is_none());
        if let Some((_, v)) = t.get_index_mut(0) {
            *v = 9;
        }
        assert_eq!(t.get_key_value("a").map(|(n, v)| (n.as_str(), *v)), Some(("a", 9)));
        t.reserve_exact(100);
        assert!(t.capacity() >= 102);
        t.shrink_to_fit();
        assert_eq!(t.capacity(), 2);
        assert_eq!((t.get_index_of("a"), t.get_index_of("a long name that is kept on the heap")), (Some(0), Some(1)));
    }

    proptest! {
        /// Against a vector of pairs searched linearly: the same positions, values and order
        /// after any mix of inserts, replacements and removals.
        #[test]
        fn behaves_like_an_ordered_list(ops in proptest::collection::vec((0u8..3, 0u16..300, any::<u32>()), 0..600)) {
            let mut t = table();
            let mut model: Vec<(String, u32)> = Vec::new();
            for (op, key, value) in ops {
                let name = format!("member-{key}");
                match op {
                    0 | 1 => {
                        let found = model.iter().position(|(n, _)| *n == name);
                        let expect = match found {
                            Some(i) => {
                                let old = core::mem::replace(&mut model[i].1, value);
                                (i, Some(old))
                            }
                            None => {
                                model.push((name.clone(), value));
                                (model.len() - 1, None)
                            }
                        };
                        prop_assert_eq!(t.insert_full(name.as_str().into(), value), expect);
                    }
                    _ => {
                        // Remove every name whose number shares the key's last digit.
                        let digit = key % 10;
                        let gone = |n: &str| n.trim_start_matches("member-").parse::<u16>().expect("a number") % 10 == digit;
                        model.retain(|(n, _)| !gone(n));
                        t.retain(|n, _| !gone(n));
                    }
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for (i, (n, v)) in model.iter().enumerate() {
                prop_assert_eq!(t.get_index_of(n), Some(i));
                prop_assert_eq!(t.get(n), Some(v));
            }
            let listed: Vec<(String, u32)> = t.iter().map(|(n, v)| (String::from(n.as_str()), *v)).collect();
            prop_assert_eq!(listed, model);
            prop_assert_eq!(t.get_index_of("member-300"), None);
            // The batched lookup answers as the single one, for names present, absent and
            // missing (`None`), and fills only as many answers as there is room for.
            let probe: Vec<String> = (0..320).step_by(5).map(|k| format!("member-{k}")).collect();
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
