//! The full receive path of a plaintext `Node`: the input is a sequence of raw datagrams (see
//! `rumor_fuzz::steps`) interleaved with clock advances and `handle_timeout`; every transmit
//! and event is drained. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rumor_fuzz::run_node(data, false));
