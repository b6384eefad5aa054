//! Keys as people handle them: base64 text, keyring files (a JSON array of keys, the primary
//! first), and generation from the operating system's CSPRNG.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rumor_core::{KEY_LEN, Key, Keyring};

/// A new random key.
pub fn generate() -> Result<Key, String> {
    let mut bytes = [0u8; KEY_LEN];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the operating system: {e}"))?;
    Ok(Key::from_bytes(bytes))
}

/// The key as base64 text.
pub fn encode(key: &Key) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Parses base64 text into a key.
pub fn decode(text: &str) -> Result<Key, String> {
    let bytes = STANDARD.decode(text.trim()).map_err(|e| format!("is not base64: {e}"))?;
    let bytes: [u8; KEY_LEN] =
        bytes.try_into().map_err(|b: Vec<u8>| format!("is {} bytes, a key is {KEY_LEN}", b.len()))?;
    Ok(Key::from_bytes(bytes))
}

/// The keyring's keys as base64, the primary first.
pub fn list(keyring: &Keyring) -> Vec<String> {
    let primary = keyring.primary_id();
    let mut keys: Vec<&Key> = keyring.keys().collect();
    keys.sort_by_key(|k| Some(k.id()) != primary);
    keys.into_iter().map(encode).collect()
}

/// Reads a keyring file. An empty array means no encryption.
pub fn load_keyring(path: &Path) -> Result<Keyring, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    let texts: Vec<String> =
        serde_json::from_str(&text).map_err(|e| format!("is not a JSON array of base64 keys: {e}"))?;
    let mut keyring = Keyring::new();
    for (i, t) in texts.iter().enumerate() {
        let key = decode(t).map_err(|e| format!("key {i} {e}"))?;
        keyring.install(key.clone());
        if i == 0 {
            keyring.use_key(&key).map_err(|e| e.to_string())?;
        }
    }
    Ok(keyring)
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

    #[test]
    fn text_round_trip_and_errors() {
        let k = generate().expect("rng");
        assert_eq!(decode(&encode(&k)).expect("decode"), k);
        assert!(decode("not base64!").expect_err("bad").contains("base64"));
        assert!(decode("AAAA").expect_err("short").contains("3 bytes"));
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
        assert!(load_keyring(&path).expect_err("bad key").contains("key 0"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
