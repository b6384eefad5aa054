//! Node metadata on the wire: a string map encoded with postcard (a length, then each key and
//! value as length-prefixed UTF-8, in key order). Every Rumor runtime uses this encoding, so
//! metadata set from Python or Swift reads the same here.

use std::collections::BTreeMap;

/// Encodes `meta` for [`rumor_core::Node::set_meta`]. The empty map is the empty byte string
/// (every member of a large cluster stores every other member's metadata; no bytes at all
/// costs no allocation).
pub fn encode(meta: &BTreeMap<String, String>) -> Vec<u8> {
    if meta.is_empty() {
        return Vec::new();
    }
    postcard::to_allocvec(meta).unwrap_or_default()
}

/// Decodes metadata written by [`encode`]. `None` if the bytes are something else (a node
/// that sets raw bytes through a library); empty bytes are the empty map.
pub fn decode(bytes: &[u8]) -> Option<BTreeMap<String, String>> {
    if bytes.is_empty() {
        return Some(BTreeMap::new());
    }
    match postcard::take_from_bytes::<BTreeMap<String, String>>(bytes) {
        Ok((map, [])) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut m = BTreeMap::new();
        m.insert("role".to_string(), "db".to_string());
        m.insert("zone".to_string(), "eu-1".to_string());
        let bytes = encode(&m);
        assert_eq!(bytes, b"\x02\x04role\x02db\x04zone\x04eu-1");
        assert_eq!(decode(&bytes), Some(m));
        assert_eq!(decode(&[]), Some(BTreeMap::new()));
        assert_eq!(encode(&BTreeMap::new()), b"");
        assert_eq!(decode(&[0]), Some(BTreeMap::new()), "the explicit empty map reads too");
        assert_eq!(decode(b"\x01\x09ab"), None, "truncated");
        assert_eq!(decode(b"\x00\x00"), None, "trailing bytes");
        assert_eq!(decode(b"\x01\x01\xff\x00"), None, "not UTF-8");
    }
}
