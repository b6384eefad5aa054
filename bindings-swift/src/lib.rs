//! `rumor-swift`: Rumor for Swift through uniffi (proc-macros, no UDL). It exports the embedded
//! agent ([`Agent`], `rumor-agent` on a tokio runtime of its own), the sans-IO core ([`Node`],
//! for apps that bring their own transport) and the wire codecs. The Swift package `Rumor`
//! (bindings-swift/Sources/Rumor) wraps the generated code in idiomatic Swift; this crate only
//! converts and maps errors — every protocol decision and encoding is the core's or the agent's.

mod agent;
mod node;
// The fields of these records and enum variants mirror documented core and agent types
// (`rumor_core::wire::Message`, `Header`, `rumor_agent::AgentEvent`); the Swift-facing
// documentation is the wrapper's (Sources/Rumor).
#[allow(missing_docs)]
mod types;
#[allow(missing_docs)]
mod wire;

pub use agent::{Agent, AgentOptions, EventSubscription};
pub use node::{Node, NodeOptions, Transmit};
pub use types::{FfiError, Member, MemberState, MembershipEvent};
pub use wire::{
    DecodedBody, DecodedFrame, FrameHeader, NamedEvent, WireMessage, decode_body, decode_frame, decode_meta,
    decode_user_event, encode_body, encode_frame, encode_meta, encode_user_event,
};

uniffi::setup_scaffolding!();

/// The timing presets' names (`lan`, `wan`, `local`).
#[uniffi::export]
pub fn presets() -> Vec<String> {
    rumor_core::Config::PRESETS.iter().map(|s| (*s).to_owned()).collect()
}

/// A new random key in base64 (as `rumor keygen` prints).
#[uniffi::export]
pub fn generate_key() -> Result<String, FfiError> {
    rumor_agent::keys::generate().map(|k| k.to_base64()).map_err(FfiError::from)
}
