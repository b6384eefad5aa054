//! `Name`: a member name as the member table stores it.
//!
//! Names are at most 64 bytes and usually far shorter. A short one lives inline in the key,
//! so a table of ten thousand members makes no allocation per name and a lookup reads no
//! second cache line for the comparison. It hashes, compares and orders exactly as the `str`
//! it holds (the table is looked up by `&str` through `Borrow`).

use alloc::boxed::Box;
use core::borrow::Borrow;
use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Deref;

/// Longest name kept inline; the enum is then as large as three words.
const INLINE: usize = 22;

#[derive(Clone)]
pub(crate) enum Name {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Name {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Built from a `str` in `From<&str>`, so the bytes are valid UTF-8 and this is
            // never the empty fallback.
            Name::Inline { len, bytes } => {
                core::str::from_utf8(bytes.get(..usize::from(*len)).unwrap_or_default()).unwrap_or_default()
            }
            Name::Heap(s) => s,
        }
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Self {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                for (d, b) in bytes.iter_mut().zip(s.as_bytes()) {
                    *d = *b;
                }
                Name::Inline { len, bytes }
            }
            _ => Name::Heap(s.into()),
        }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use core::hash::BuildHasher;

    #[test]
    fn behaves_like_the_str_it_holds() {
        let hasher = foldhash::fast::FixedState::with_seed(7);
        let long: String = "é".repeat(32);
        for s in ["a", "node-1234", "exactly-twenty-two-by", "twenty-three-bytes-long", long.as_str()] {
            let n = Name::from(s);
            assert_eq!(n.as_str(), s);
            assert_eq!(hasher.hash_one(&n), hasher.hash_one(s), "{s}");
            assert_eq!(matches!(n, Name::Inline { .. }), s.len() <= INLINE, "{s}");
        }
        assert!(Name::from("a") < Name::from("b"));
        assert_eq!(core::mem::size_of::<Name>(), 24);
    }
}
