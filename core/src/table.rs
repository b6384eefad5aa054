//! `NameTable`: the member table, an insertion-ordered map from member name to record.
//!
//! Records live in one vector, addressed by a stable index (until [`NameTable::retain`]); a
//! hash index of `u32` positions finds them by name. Against `IndexMap<Name, V>` this stores
//! no hash per entry (it is recomputed from the name when the index grows) and 4-byte rather
//! than 8-byte positions: 16 bytes less per member in a table that every node keeps for every
//! member (a thousand-node cluster in one process holds a million of them).

use alloc::vec::Vec;
use core::hash::BuildHasher;

use hashbrown::HashTable;

use crate::name::Name;

type Hasher = foldhash::fast::FixedState;

pub(crate) struct NameTable<V> {
    entries: Vec<(Name, V)>,
    /// Positions in `entries`, hashed by name.
    index: HashTable<u32>,
    hasher: Hasher,
}

fn hash(hasher: &Hasher, name: &str) -> u64 {
    hasher.hash_one(name)
}

/// The hash of the entry at an index position, for the index to move it when it grows.
fn rehash<'a, V>(entries: &'a [(Name, V)], hasher: &'a Hasher) -> impl Fn(&u32) -> u64 + 'a {
    move |&i| entries.get(i as usize).map_or(0, |(n, _)| hash(hasher, n))
}

/// The position as stored in the index (tables are bounded far below 2³² entries by
/// `Config::max_members`).
fn pos(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl<V> NameTable<V> {
    pub(crate) fn with_hasher(hasher: Hasher) -> Self {
        NameTable { entries: Vec::new(), index: HashTable::new(), hasher }
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
        self.index.reserve(additional, rehash(&self.entries, &self.hasher));
    }

    /// Gives back the room for more entries.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        self.index.shrink_to_fit(rehash(&self.entries, &self.hasher));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Name, &V)> {
        self.entries.iter().map(|(n, v)| (n, v))
    }

    pub(crate) fn get_index_of(&self, name: &str) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash(&self.hasher, name), |&i| entries.get(i as usize).is_some_and(|(n, _)| n.as_str() == name))
            .map(|&i| i as usize)
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

    /// Inserts or replaces; returns the entry's position and the value it replaced.
    pub(crate) fn insert_full(&mut self, name: Name, value: V) -> (usize, Option<V>) {
        if let Some(i) = self.get_index_of(&name) {
            let old = self.entries.get_mut(i).map(|(_, v)| core::mem::replace(v, value));
            return (i, old);
        }
        let i = self.entries.len();
        let h = hash(&self.hasher, &name);
        self.entries.push((name, value));
        self.index.insert_unique(h, pos(i), rehash(&self.entries, &self.hasher));
        (i, None)
    }

    /// Keeps the entries `keep` accepts, in order; positions of later entries shift down.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Name, &mut V) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(n, v)| keep(n, v));
        if self.entries.len() == before {
            return;
        }
        self.entries.shrink_to(self.entries.len() + self.entries.len() / 4);
        self.index = HashTable::with_capacity(self.entries.len());
        for (i, (n, _)) in self.entries.iter().enumerate() {
            self.index.insert_unique(hash(&self.hasher, n), pos(i), rehash(&self.entries, &self.hasher));
        }
    }
}

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
        }
    }
}
