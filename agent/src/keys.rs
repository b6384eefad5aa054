//! Keys as people handle them: base64 text, keyring files (a JSON array of keys, the primary
//! first), and generation from the operating system's CSPRNG.

use std::fmt;
use std::path::Path;

pub use rumor_core::KeyError;
use rumor_core::{KEY_LEN, Key, Keyring, MAX_KEYS};

use crate::Error;

/// Why a keyring file could not be loaded. Its `Display` completes a sentence about the file
/// ("`keyring.json` cannot be read: …").
#[derive(Debug)]
pub enum KeyringFileError {
    /// The file cannot be read.
    Read(std::io::Error),
    /// The file is not a JSON array of strings (the parser's explanation).
    NotKeys(String),
    /// A key in the array is not a key.
    Key {
        /// Its position in the array (0 is the primary).
        index: usize,
        /// What is wrong with it.
        error: KeyError,
    },
    /// The array is empty. An empty keyring would mean "no encryption", which a keyring file
    /// must not say by accident: leave the keyring out to run in plaintext.
    Empty,
    /// More keys than a keyring may hold ([`MAX_KEYS`]).
    TooMany(usize),
}

impl fmt::Display for KeyringFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringFileError::Read(e) => write!(f, "cannot be read: {e}"),
            KeyringFileError::NotKeys(e) => write!(f, "is not a JSON array of base64 keys: {e}"),
            KeyringFileError::Key { index, error } => write!(f, "key {index} {error}"),
            KeyringFileError::Empty => f.write_str(
                "holds no keys: an empty keyring would turn encryption off; add a key (`rumor keygen`), \
                 or leave the keyring out to run unencrypted",
            ),
            KeyringFileError::TooMany(n) => write!(f, "holds {n} keys; a keyring holds at most {MAX_KEYS}"),
        }
    }
}

impl std::error::Error for KeyringFileError {}

/// A new random key.
pub fn generate() -> Result<Key, Error> {
    let mut bytes = [0u8; KEY_LEN];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(Key::from_bytes(bytes))
}

/// The key as base64 text ([`Key::to_base64`]).
pub fn encode(key: &Key) -> String {
    key.to_base64()
}

/// Parses base64 text (surrounding white space ignored) into a key ([`Key::from_base64`]).
pub fn decode(text: &str) -> Result<Key, KeyError> {
    Key::from_base64(text)
}

/// The keyring's keys as base64, the primary first.
pub fn list(keyring: &Keyring) -> Vec<String> {
    let primary = keyring.primary_id();
    let mut keys: Vec<&Key> = keyring.keys().collect();
    keys.sort_by_key(|k| Some(k.id()) != primary);
    keys.into_iter().map(encode).collect()
}

/// The largest keyring file read, in bytes (16 keys take under 1 KiB).
pub const MAX_KEYRING_FILE: u64 = 64 * 1024;

/// Reads a keyring file: a JSON array of 1 to [`MAX_KEYS`] base64 keys, the first one
/// primary. An empty array is refused ([`KeyringFileError::Empty`]); so is a file larger than
/// [`MAX_KEYRING_FILE`].
pub fn load_keyring(path: &Path) -> Result<Keyring, KeyringFileError> {
    let text = crate::config::read_file(path, MAX_KEYRING_FILE).map_err(KeyringFileError::Read)?;
    let texts: Vec<String> = serde_json::from_str(&text).map_err(|e| KeyringFileError::NotKeys(e.to_string()))?;
    if texts.is_empty() {
        return Err(KeyringFileError::Empty);
    }
    if texts.len() > MAX_KEYS {
        return Err(KeyringFileError::TooMany(texts.len()));
    }
    let keys = texts
        .iter()
        .enumerate()
        .map(|(index, t)| decode(t).map_err(|error| KeyringFileError::Key { index, error }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(keyring(keys))
}

/// A keyring holding `keys`, the first one primary (sealing what is sent); none means no
/// encryption. The one reading of a key list, for keyring files and every binding's
/// `keyring=[…]`.
pub fn keyring(keys: impl IntoIterator<Item = Key>) -> Keyring {
    let mut keys = keys.into_iter();
    let Some(primary) = keys.next() else { return Keyring::new() };
    let mut ring = Keyring::with_primary(primary);
    for key in keys {
        ring.install(key);
    }
    ring
}

/// Writes the keyring to `path` atomically (a temporary file renamed over it), readable only by
/// its owner.
pub fn save_keyring(path: &Path, keyring: &Keyring) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(&list(keyring)).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(json.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key list reads as a keyring with the first key primary; an empty list is plaintext.
    #[test]
    fn key_list_first_is_primary() {
        assert!(!keyring([]).is_enabled());
        let (a, b) = (Key::from_bytes([1; 32]), Key::from_bytes([2; 32]));
        let ring = keyring([b.clone(), a.clone()]);
        assert_eq!(ring.primary_id(), Some(b.id()));
        assert_eq!(list(&ring), [encode(&b), encode(&a)]);
    }

    #[test]
    fn text_round_trip_and_errors() {
        let k = generate().expect("rng");
        assert_eq!(decode(&encode(&k)).expect("decode"), k);
        assert!(matches!(decode("not base64!"), Err(KeyError::NotBase64(_))));
        assert!(decode("not base64!").expect_err("bad").to_string().starts_with("is not base64"));
        assert_eq!(decode("AAAA"), Err(KeyError::WrongLength(3)));
        assert_eq!(KeyError::WrongLength(3).to_string(), "is 3 bytes, a key is 32");
    }

    #[test]
    fn keyring_file_round_trip_keeps_primary_first() {
        let dir = std::env::temp_dir().join(format!("rumor-keys-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let path = dir.join("keyring.json");
        let (a, b) = (generate().expect("rng"), generate().expect("rng"));
        let mut ring = Keyring::with_primary(a.clone());
        ring.install(b.clone());
        ring.use_key(&b).expect("known");
        save_keyring(&path, &ring).expect("save");
        let back = load_keyring(&path).expect("load");
        assert_eq!(list(&back), vec![encode(&b), encode(&a)]);
        assert_eq!(back.primary_id(), Some(b.id()));
        std::fs::write(&path, "[\"AAAA\"]").expect("write");
        let e = load_keyring(&path).expect_err("bad key");
        assert!(matches!(e, KeyringFileError::Key { index: 0, error: KeyError::WrongLength(3) }), "{e}");
        assert_eq!(e.to_string(), "key 0 is 3 bytes, a key is 32");
        std::fs::write(&path, "{}").expect("write");
        assert!(matches!(load_keyring(&path), Err(KeyringFileError::NotKeys(_))));
        std::fs::write(&path, "[]").expect("write");
        let e = load_keyring(&path).expect_err("empty");
        assert!(matches!(e, KeyringFileError::Empty) && e.to_string().contains("no keys"), "{e}");
        let many: Vec<String> = (0..=MAX_KEYS).map(|i| encode(&Key::from_bytes([i as u8; 32]))).collect();
        std::fs::write(&path, serde_json::to_string(&many).expect("json")).expect("write");
        assert!(matches!(load_keyring(&path), Err(KeyringFileError::TooMany(17))));
        std::fs::write(&path, " ".repeat(MAX_KEYRING_FILE as usize + 1)).expect("write");
        let e = load_keyring(&path).expect_err("too large");
        assert!(e.to_string().contains("larger than 64 KiB"), "{e}");
        assert!(matches!(load_keyring(&dir.join("missing")), Err(KeyringFileError::Read(_))));
        let _ = std::fs::remove_dir_all(dir);
    }
}
