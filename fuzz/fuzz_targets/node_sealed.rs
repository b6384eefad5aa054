//! The receive path of a `Node` with a one-key keyring: every step's payload is sealed with
//! that key (incrementing nonce; ctrl bit 7 replays the previous one) before delivery, so the
//! fuzzer drives postcard decoding and the state machine with authenticated input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rumor_fuzz::run_node(data, true));
