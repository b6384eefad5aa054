//! `decode_body` on arbitrary bytes. Every body that decodes must round-trip: each message
//! re-encoded with `encode_to_vec` decodes to itself, and so does the whole re-encoded body
//! (which is never longer than the input: encoders emit shortest-form varints).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_core::wire::{self, Message};

fuzz_target!(|data: &[u8]| {
    let mut msgs: Vec<Message<'_>> = Vec::new();
    let Ok(skipped) = wire::decode_body(data, &mut msgs) else { return };
    assert!(msgs.len() + skipped <= wire::MAX_MESSAGES_PER_PACKET);
    let mut whole = Vec::new();
    for msg in &msgs {
        let bytes = wire::encode_to_vec(msg);
        assert!(bytes.len() >= 2, "{msg:?} encoded to {bytes:02x?}");
        let mut again = Vec::new();
        match wire::decode_body(&bytes, &mut again) {
            Ok(0) => assert_eq!(again, [*msg], "round trip changed the message"),
            other => panic!("{msg:?} re-encoded as {bytes:02x?} does not decode: {other:?}"),
        }
        // encode_into agrees with encode_to_vec given one spare byte (it may refuse an exact
        // fit when the length prefix is one byte), and refuses a buffer one byte short.
        let mut buf = vec![0u8; bytes.len() + 1];
        let mut pos = 0;
        assert!(wire::encode_into(msg, &mut buf, &mut pos), "{msg:?} refused with a spare byte");
        assert_eq!(&buf[..pos], &bytes[..], "encode_into and encode_to_vec differ");
        let mut pos = 0;
        assert!(!wire::encode_into(msg, &mut buf[..bytes.len() - 1], &mut pos));
        assert_eq!(pos, 0);
        whole.extend_from_slice(&bytes);
    }
    assert!(whole.len() <= data.len(), "re-encoding grew the body");
    let mut all = Vec::new();
    assert_eq!(wire::decode_body(&whole, &mut all), Ok(0), "re-encoded body does not decode");
    assert_eq!(all, msgs, "whole-body round trip changed the messages");
});
