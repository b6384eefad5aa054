//! Rumor in the browser: [`rumor_core::Node`] driven from JavaScript, the wire decoder, the
//! codecs runtimes share (metadata, user events) and the deterministic simulator
//! ([`rumor_sim::Cluster`]), through `wasm-bindgen`.
//!
//! The binding converts and decides nothing: every protocol rule, name and limit is the core's
//! (`Status::as_str`, `Event`'s serde shape, `rumor_core::meta`, `rumor_core::user_event`,
//! `Instant::from_millis_f64`). Times are milliseconds in an `f64` (`performance.now()`), bytes
//! are `Uint8Array`s, addresses are `"ip:port"` strings, and every refusal is a thrown `Error`
//! carrying the core's message; nothing a caller passes makes it panic.
//!
//! `bindings-wasm/build.sh` builds the ES module and its `.d.ts` into `bindings-wasm/pkg/`.
//! Conversions live in `convert.rs`, error mapping in `error.rs`.

mod cluster;
mod convert;
mod error;
mod node;
mod wire;

pub use cluster::Cluster;
pub use node::Node;
pub use wire::{decode_body, decode_frame, decode_meta, decode_user_event, encode_meta, encode_user_event};

use wasm_bindgen::prelude::wasm_bindgen;

/// The member status names by code, as [`Cluster::view`] and [`Cluster::matrix`] report them:
/// code 0 is `"unknown"` (the observer does not know the member), then the core's statuses in
/// the order of `Status::ALL`, each by its name (`Status::as_str`).
#[wasm_bindgen(js_name = statusNames)]
pub fn status_names() -> Vec<String> {
    core::iter::once(convert::UNKNOWN_STATUS)
        .chain(rumor_core::Status::ALL.iter().map(|s| s.as_str()))
        .map(String::from)
        .collect()
}
