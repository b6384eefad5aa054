//! `Header::parse` and `decode_frame` on arbitrary bytes, with a plaintext keyring and with a
//! one-key keyring, under the frame's own label, the empty label and a fixed one. Checks that
//! a frame that opens re-encodes to the same bytes, and that sealing the input as a body
//! opens again (and fails once tampered with).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rumor_core::wire::{self, DecodeError, Header, NONCE_LEN, TAG_LEN};
use rumor_core::{Key, Keyring};

struct Rings {
    key: Key,
    plain: Keyring,
    keyed: Keyring,
}

fn rings() -> &'static Rings {
    static RINGS: OnceLock<Rings> = OnceLock::new();
    RINGS.get_or_init(|| {
        let key = Key::from_bytes(rumor_fuzz::KEY_BYTES);
        Rings { plain: Keyring::new(), keyed: Keyring::with_primary(key.clone()), key }
    })
}

fuzz_target!(|data: &[u8]| {
    let r = rings();
    let parsed = Header::parse(data);
    if let Err(e) = parsed {
        let _ = e.to_string();
    }
    let mut out = Vec::new();
    let own_label: &[u8] = parsed.map(|h| h.label).unwrap_or(b"");
    for label in [own_label, b"", b"prod"] {
        for (ring, sealed) in [(&r.plain, false), (&r.keyed, true)] {
            match wire::decode_frame(ring, label, data, &mut out) {
                Ok(h) => {
                    assert_eq!(Ok(h), parsed, "decode_frame's header differs from Header::parse");
                    assert_eq!(h.label, label);
                    assert_eq!(h.encrypted, sealed);
                    assert_eq!(h.len, Header::encoded_len(h.label, h.encrypted));
                    let again = if sealed {
                        assert_eq!(out.len(), data.len() - h.len - TAG_LEN);
                        assert_eq!(h.key_id, r.key.id());
                        wire::encode_frame(label, Some((&r.key, h.nonce)), &out)
                    } else {
                        assert_eq!(&out[..], &data[h.len..]);
                        wire::encode_frame(label, None, &out)
                    };
                    assert_eq!(again.as_deref(), Some(data), "an opened frame does not re-encode to itself");
                }
                Err(e) => {
                    if let Err(pe) = parsed {
                        assert_eq!(e, pe, "decode_frame and Header::parse disagree");
                    }
                    if e == DecodeError::Unauthenticated {
                        assert!(out.is_empty(), "a failed open left bytes behind");
                    }
                }
            }
        }
    }

    // The sealing direction: the input as a body, sealed under a nonce taken from the input.
    let mut nonce = [0u8; NONCE_LEN];
    for (n, b) in nonce.iter_mut().zip(data) {
        *n = *b;
    }
    let label: &[u8] = if data.first().is_some_and(|b| b & 1 == 1) { b"prod" } else { b"" };
    let Some(sealed) = wire::encode_frame(label, Some((&r.key, nonce)), data) else {
        assert_eq!(nonce, [0xff; NONCE_LEN], "encode_frame refused a nonce other than the reserved one");
        return;
    };
    let h = wire::decode_frame(&r.keyed, label, &sealed, &mut out).expect("own seal opens");
    assert_eq!((h.nonce, &out[..]), (nonce, data));
    assert_eq!(wire::decode_frame(&r.plain, label, &sealed, &mut out), Err(DecodeError::EncryptionMismatch));
    let mut tampered = sealed;
    let i = data.len() % tampered.len();
    tampered[i] ^= 0x20;
    let res = wire::decode_frame(&r.keyed, label, &tampered, &mut out);
    assert!(res.is_err(), "a tampered frame opened: byte {i}");
});
