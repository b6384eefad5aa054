//! Node metadata as every Rumor runtime writes it: a string map encoded with postcard (the
//! number of entries, then each key and value as length-prefixed UTF-8, in key order). The
//! protocol itself carries metadata as opaque bytes ([`Identity::meta`](crate::Identity),
//! [`Node::set_meta`](crate::Node::set_meta)); this encoding is the convention the agent, the
//! bindings and the HTTP API share, so metadata set from Python or Swift reads the same
//! everywhere. The empty map is the empty byte string: every member of a large cluster stores
//! every other member's metadata, and no bytes at all cost no allocation.
//!
//! ```
//! use std::collections::BTreeMap;
//! use rumor_core::meta;
//!
//! let map = BTreeMap::from([("role".to_string(), "db".to_string())]);
//! let bytes = meta::encode(&map, 512).unwrap();
//! assert_eq!(bytes, b"\x01\x04role\x02db");
//! assert_eq!(meta::decode(&bytes), Ok(map));
//! assert!(meta::encode(&BTreeMap::from([("k".repeat(600), String::new())]), 512).is_err());
//! ```

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why metadata could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// The encoding is longer than allowed (`Config::max_meta_len`); nothing was encoded.
    TooLong {
        /// Length of the encoding.
        len: usize,
        /// Allowed length.
        max: usize,
    },
    /// The bytes are not a string map in this encoding (a node that set raw bytes, or
    /// truncated, trailing or non-UTF-8 bytes).
    Malformed,
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::TooLong { len, max } => write!(f, "metadata is {len} bytes; at most {max} allowed"),
            MetaError::Malformed => f.write_str("metadata is not a Rumor string map"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for MetaError {}

/// Encodes `meta`, refusing an encoding longer than `max_len` (pass the node's
/// `Config::max_meta_len`, so that what is encoded is what the node accepts). The length is
/// worked out before anything is allocated.
pub fn encode(meta: &BTreeMap<String, String>, max_len: usize) -> Result<Vec<u8>, MetaError> {
    let len = encoded_len(meta);
    if len > max_len {
        return Err(MetaError::TooLong { len, max: max_len });
    }
    if meta.is_empty() {
        return Ok(Vec::new());
    }
    // A string map always serializes (strings and lengths only).
    postcard::to_allocvec(meta).map_err(|_| MetaError::Malformed)
}

/// The length of `meta`'s encoding (0 for the empty map), counted by postcard's size flavor
/// without allocating.
pub fn encoded_len(meta: &BTreeMap<String, String>) -> usize {
    if meta.is_empty() {
        return 0;
    }
    postcard::serialize_with_flavor(meta, postcard::ser_flavors::Size::default()).unwrap_or(usize::MAX)
}

/// Decodes metadata written by [`encode`]. Empty bytes are the empty map; so is the explicit
/// empty map (`[0]`).
pub fn decode(bytes: &[u8]) -> Result<BTreeMap<String, String>, MetaError> {
    if bytes.is_empty() {
        return Ok(BTreeMap::new());
    }
    match postcard::take_from_bytes::<BTreeMap<String, String>>(bytes) {
        Ok((map, [])) => Ok(map),
        _ => Err(MetaError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut m = BTreeMap::new();
        m.insert("role".to_string(), "db".to_string());
        m.insert("zone".to_string(), "eu-1".to_string());
        let bytes = encode(&m, 512).unwrap();
        assert_eq!(bytes, b"\x02\x04role\x02db\x04zone\x04eu-1");
        assert_eq!(decode(&bytes), Ok(m));
        assert_eq!(decode(&[]), Ok(BTreeMap::new()));
        assert_eq!(encode(&BTreeMap::new(), 0), Ok(Vec::new()));
        assert_eq!(decode(&[0]), Ok(BTreeMap::new()), "the explicit empty map reads too");
        assert_eq!(decode(b"\x01\x09ab"), Err(MetaError::Malformed), "truncated");
        assert_eq!(decode(b"\x00\x00"), Err(MetaError::Malformed), "trailing bytes");
        assert_eq!(decode(b"\x01\x01\xff\x00"), Err(MetaError::Malformed), "not UTF-8");
    }

    #[test]
    fn too_long_is_refused_at_the_limit() {
        // One entry: 1 (count) + 1 + 3 (key) + 1 + v (value) bytes.
        let map = |v: usize| BTreeMap::from([("key".to_string(), "x".repeat(v))]);
        assert_eq!(encode(&map(5), 11).map(|b| b.len()), Ok(11));
        assert_eq!(encode(&map(6), 11), Err(MetaError::TooLong { len: 12, max: 11 }));
        // A value of 200 bytes has a two-byte length.
        assert_eq!(encode(&map(200), 0), Err(MetaError::TooLong { len: 207, max: 0 }));
        assert_eq!(
            MetaError::TooLong { len: 600, max: 512 }.to_string(),
            "metadata is 600 bytes; at most 512 allowed",
            "the node's own message for the same limit"
        );
    }

    proptest! {
        #[test]
        fn encoding_is_postcards(map in proptest::collection::btree_map(".{0,20}", ".{0,200}", 0..5)) {
            let bytes = encode(&map, usize::MAX).unwrap();
            prop_assert_eq!(bytes.len(), encoded_len(&map));
            if !map.is_empty() {
                prop_assert_eq!(&bytes, &postcard::to_allocvec(&map).unwrap());
            }
            prop_assert_eq!(decode(&bytes), Ok(map));
        }
    }
}
