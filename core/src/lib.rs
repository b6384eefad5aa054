//! `rumor-core`: the sans-IO protocol core of Rumor, a SWIM + Lifeguard gossip membership
//! system.
//!
//! The core is a deterministic state machine: bytes and time go in as arguments, datagrams,
//! timers and events come out. It does no I/O, reads no clock, spawns no threads and uses no
//! `unsafe`; it builds with `#![no_std]` + `alloc`. Runtimes (the tokio node, the Python, wasm
//! and Swift bindings, the simulator) drive it. Start at [`Node`], whose docs give the call
//! order; configure it with [`Config`]; the wire format is in [`wire`] and
//! `docs/wire-format.md`. What runtimes share beyond the protocol is here too, so no binding
//! implements it again: the metadata encoding ([`meta`]), user-event framing ([`user_event`]),
//! status and event names ([`Status::as_str`], [`Event::kind`]) and, with the `serde` feature,
//! serialization of events, members and counters.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
mod crypto;
mod event;
#[cfg(feature = "prefetch")]
mod hint;
mod lifeguard;
pub mod meta;
mod name;
mod node;
mod order;
mod queue;
mod ratelimit;
/// The merge rules of one member's state: the reference model the member table's packed merge
/// is checked against. Not part of the API (public only for the benchmarks); the type users
/// see is [`Status`].
#[doc(hidden)]
pub mod state;
mod stats;
mod table;
mod time;
pub mod user_event;
pub mod wire;

pub use config::{Config, ConfigError, Lifeguard, RateLimit};
pub use crypto::{KEY_LEN, Key, KeyError, Keyring, KeyringError, MAX_KEYS};
pub use event::{Event, Member, MemberCounts, MemberView, ParseStatusError, Status};
pub use meta::MetaError;
pub use node::{Error, Identity, Node, Transmit};
pub use stats::{Dropped, ProbeRtt, Stats};
pub use time::Instant;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
