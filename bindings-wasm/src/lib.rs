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
//! `bindings-wasm/build.sh` builds the ES module and its `.d.ts` into `bindings-wasm/ui/pkg/` (the visualizer's copy, committed and built into the `rumor` binary).
//! Conversions live in `convert.rs`, error mapping in `error.rs`.

mod cluster;
mod convert;
mod error;
mod node;
mod wire;

pub use cluster::Cluster;
pub use node::{Node, preset_names, preset_timings};
pub use wire::{decode_body, decode_frame, decode_meta, decode_user_event, encode_meta, encode_user_event};

use wasm_bindgen::prelude::wasm_bindgen;

/// The TypeScript shapes of the plain objects the binding returns and takes.
#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** A member status name, `Status::as_str` in the core. */
export type Status = "alive" | "suspect" | "failed" | "left";
/** Metadata: the string map `rumor_core::meta` decodes, or the raw bytes when they are not one. */
export type Meta = Record<string, string> | Uint8Array;
/** A member as a node sees it. */
export interface Member { name: string; addr: string; status: Status; incarnation: number; meta: Meta; }
/** An event, in the core's serde shape (`type` is `Event::kind`). */
export type RumorEvent =
  | ({ type: "member-joined" | "member-updated" | "member-suspect" | "member-alive" | "member-failed" | "member-left" } & Member)
  | { type: "user-event"; origin: string; payload: Uint8Array; name: string; data: Uint8Array }
  | { type: "name-conflict"; name: string; known: string; claimed: string }
  | { type: "joined" }
  | { type: "leave-complete"; acknowledged: number };
/** An event recorded by a simulated node: which node, and when (virtual ms). */
export type ClusterEvent = RumorEvent & { node: number; time: number };
/** Members by status. */
export interface MemberCounts { alive: number; suspect: number; failed: number; left: number; }
/** A preset's timings (milliseconds) and fan-outs, from `presetTimings`. */
export interface PresetTimings { probeIntervalMs: number; probeTimeoutMs: number; indirectChecks: number; suspicionMult: number; suspicionMaxMult: number; retransmitMult: number; gossipIntervalMs: number; gossipFanout: number; pushPullIntervalMs: number; }
/** The core's counters (`Stats`), by their names (`packets_in`, `dropped_auth`, …). */
export type Stats = Record<string, number>;
/** The simulated network's counters. */
export interface NetStats { sent: number; bytes: number; lost: number; cut: number; undeliverable: number; max_packet: number; reordered: number; }
/** A datagram to send. */
export interface Transmit { destination: string; bytes: Uint8Array; }
/** A configuration preset. */
export type Preset = "lan" | "wan" | "local";
/** A cluster key: base64 text or 32 bytes. */
export type Key = string | Uint8Array;
/** A node's configuration: a preset and the few fields a page sets (the primary key first). */
export interface NodeConfig { preset?: Preset; label?: string; keys?: Key[]; lifeguard?: boolean; }
/** One decoded message, named and shaped as in `tests/vectors/wire.json`. */
export type Message =
  | { type: "Ping"; seq: number; target: string }
  | { type: "Ack"; seq: number }
  | { type: "Nack"; seq: number }
  | { type: "PingReq"; seq: number; target: string; addr: string; nack: boolean }
  | { type: "Alive"; name: string; incarnation: number; addr: string; meta: Uint8Array }
  | { type: "Suspect"; name: string; incarnation: number; from: string }
  | { type: "Dead"; name: string; incarnation: number; from: string }
  | { type: "Left"; name: string; incarnation: number }
  | { type: "User"; origin: string; id: bigint; payload: Uint8Array }
  | { type: "Sync"; from: string; reply: boolean }
  | { type: "Digest"; from: string; digest: bigint; members: number };
/** A frame header. */
export interface FrameHeader { encrypted: boolean; label: string; keyId: number; nonce: Uint8Array; len: number; }
/** A decoded body: its messages and how many of unknown types were skipped. */
export interface DecodedBody { messages: Message[]; skipped: number; }
/** A decoded frame. */
export interface DecodedFrame extends DecodedBody { header: FrameHeader; body: Uint8Array; }
/** A user broadcast read as a named event. */
export interface UserEvent { name: string; payload: Uint8Array; }
"#;

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
