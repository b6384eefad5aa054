//! `Name`: a member name as the member table stores it.
//!
//! Names are at most 64 bytes and usually far shorter. A short one (up to 23 bytes) lives
//! inline in the key, so a table of ten thousand members makes no allocation per name and a
//! lookup reads no second cache line for the comparison. It hashes, compares and orders
//! exactly as the `str` it holds (the table is looked up by `&str` through `Borrow`), and
//! reading it as a `str` costs no UTF-8 check (`smol_str` keeps that invariant), which
//! matters: the member table, the probe and every ping's target compare names.

use core::borrow::Borrow;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Deref;

use smol_str::SmolStr;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Name(SmolStr);

impl Name {
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Self {
        Name(SmolStr::new(s))
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

// By hand, so that it provably hashes as the `str` does (the `Borrow` contract).
impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
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
            assert_eq!(n.0.is_heap_allocated(), s.len() > 23, "{s}");
        }
        assert!(Name::from("a") < Name::from("b"));
        assert!(Name::from("b") > Name::from("abc"));
        assert_eq!(core::mem::size_of::<Name>(), 24);
    }
}
