//! `rumor-node`: the native Rumor agent. It drives a [`rumor_core::Node`] from a tokio UDP
//! socket and timers, serves HTTP observability, and is the library the `rumor` CLI (and the
//! Python and Swift packages) are built on.

pub mod simulate;
