// Rumor for Swift apps: `RumorAgent` joins a cluster and reports who is alive, with what
// metadata, as an `AsyncStream` of `MembershipEvent`s. The value types (`Member`,
// `MemberState`, `MembershipEvent`, `AgentOptions`, …) come from the generated
// module and are re-exported here, so `import Rumor` is all an app needs. This file only
// adapts calls; the Rust library (rumor-agent, rumor-core) does the protocol and encodings.
import Foundation
@_exported import RumorFFI

/// A member of a Rumor cluster running in this process: the protocol over UDP on threads the
/// library owns. Errors are `RumorError`.
///
/// ```swift
/// let agent = try await RumorAgent(name: "phone-1", bind: "0.0.0.0:7946", join: ["10.0.0.2:7946"])
/// for await event in agent.events {   // from now on
///     if case .failed(let member) = event { print("lost", member.name) }
/// }
/// ```
public final class RumorAgent: Sendable {
    private let agent: Agent

    /// The membership events from the moment this property is read, in order: each read is a
    /// new subscription that sees every event from then on (read it before the change you
    /// want to see). The stream finishes when the agent stops (after `leave()` or `close()`),
    /// and stops its subscription when its consumer is cancelled.
    public var events: AsyncStream<MembershipEvent> {
        let subscription = agent.subscribe()
        return AsyncStream(bufferingPolicy: .bufferingNewest(1024)) { continuation in
            let pump = Task {
                while !Task.isCancelled, let event = await subscription.next() {
                    continuation.yield(event)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in pump.cancel() }
        }
    }

    /// Starts an agent with `options`: binds its socket and joins `options.join` in the
    /// background. Throws `RumorError.config(field:value:reason:)` naming a refused field,
    /// or `RumorError.bind` if the socket cannot be bound.
    public init(_ options: AgentOptions) async throws {
        agent = try await mapped { try await Agent.start(options: options) }
    }

    /// Starts an agent named `name` bound to `bind` (`"0.0.0.0:7946"`; port 0 picks one).
    public convenience init(
        name: String,
        bind: String = "0.0.0.0:7946",
        join: [String] = [],
        advertise: String? = nil,
        keyring: [String] = [],
        label: String = "",
        meta: [String: String] = [:],
        preset: String = "lan",
        lifeguard: Bool = true
    ) async throws {
        try await self.init(
            AgentOptions(
                name: name, bind: bind, join: join, advertise: advertise, keyring: keyring, label: label,
                meta: meta, preset: preset, lifeguard: lifeguard))
    }

    /// This agent's member name.
    public var name: String { agent.name() }
    /// The address other members reach it at.
    public var addr: String { agent.addr() }
    /// The UDP address actually bound.
    public var localAddr: String { agent.localAddr() }
    /// Started and not yet stopped.
    public var isRunning: Bool { agent.isRunning() }

    /// Every member it knows, itself included, sorted by name.
    public func members() async throws -> [Member] {
        try await mapped { try await agent.members() }
    }

    /// Replaces this agent's metadata; gossiped to every member.
    public func setMeta(_ meta: [String: String]) async throws {
        try await mapped { try await agent.setMeta(meta: meta) }
    }

    /// Sends a user event to every member (they get `.userEvent`).
    public func broadcast(name: String, payload: Data = Data()) async throws {
        try await mapped { try await agent.broadcast(name: name, payload: payload) }
    }

    /// The core's counters, member counts, Lifeguard health and gossip queue length.
    public func stats() async throws -> [String: UInt64] {
        try await mapped { try await agent.stats() }
    }

    /// The keyring in base64, primary first.
    public func keys() async throws -> [String] { try await mapped { try await agent.keys() } }
    /// Adds a key (accepted on receipt, not yet used to send).
    @discardableResult public func installKey(_ key: String) async throws -> [String] {
        try await mapped { try await agent.installKey(key: key) }
    }
    /// Makes an installed key the one packets are sealed with.
    @discardableResult public func useKey(_ key: String) async throws -> [String] {
        try await mapped { try await agent.useKey(key: key) }
    }
    /// Removes a key that is not the primary.
    @discardableResult public func removeKey(_ key: String) async throws -> [String] {
        try await mapped { try await agent.removeKey(key: key) }
    }

    /// Leaves gracefully (others see it `.left`) and stops; returns how many members
    /// acknowledged. Every `events` stream then finishes.
    @discardableResult public func leave() async throws -> UInt32 {
        try await mapped { try await agent.leave() }
    }

    /// Stops at once without leaving (others will detect it as failed). Idempotent.
    public func close() async {
        await agent.close()
    }
}

extension MembershipEvent {
    /// The member the event is about, for member events.
    public var member: Member? {
        switch self {
        case .joined(let m), .updated(let m), .suspect(let m), .alive(let m), .failed(let m), .left(let m): m
        default: nil
        }
    }
}

/// Every error Rumor throws.
public enum RumorError: Error, Equatable, Hashable, LocalizedError {
    /// A configuration value was refused; nothing was started. `field` names it.
    case config(field: String, value: String, reason: String)
    /// A key operation was refused (an unknown key, removing the primary, a malformed key).
    case keyring(String)
    /// Metadata that does not fit once encoded, or bytes that are not Rumor metadata.
    case meta(String)
    /// The node refused a command (a broadcast too large, a command while leaving, …).
    case node(String)
    /// The UDP socket could not be bound, or no address to advertise was found.
    case bind(String)
    /// The agent has stopped (it left or was closed); the command was not run.
    case closed
    /// Bytes that are not a valid frame or body; `kind` is the core's name for why
    /// (`BadMagic`, `Truncated`, … as in tests/vectors/wire.json).
    case decode(kind: String, message: String)
    /// Anything else (no randomness from the system, a keyring file not saved).
    case other(String)

    /// The generated code's error as this one.
    public init(_ e: FfiError) {
        switch e {
        case .Config(let field, let value, let reason): self = .config(field: field, value: value, reason: reason)
        case .Keyring(let message): self = .keyring(message)
        case .Meta(let message): self = .meta(message)
        case .Node(let message): self = .node(message)
        case .Bind(let message): self = .bind(message)
        case .Closed: self = .closed
        case .Decode(let kind, let message): self = .decode(kind: kind, message: message)
        case .Other(let message): self = .other(message)
        }
    }

    public var errorDescription: String? {
        switch self {
        case .config(let field, let value, let reason): "invalid config field `\(field)`: `\(value)` \(reason)"
        case .keyring(let message), .meta(let message), .node(let message), .bind(let message), .other(let message):
            message
        case .closed: "the agent has stopped"
        case .decode(let kind, let message): "\(kind): \(message)"
        }
    }
}

/// Runs a call into the library, its errors as `RumorError`.
@inline(__always)
func mapped<T>(_ call: () async throws -> T) async throws -> T {
    do { return try await call() } catch let e as FfiError { throw RumorError(e) }
}

@inline(__always)
func mapped<T>(_ call: () throws -> T) throws -> T {
    do { return try call() } catch let e as FfiError { throw RumorError(e) }
}

/// The wire codecs and the encodings every Rumor runtime shares (a packet inspector, tests).
public enum Wire {
    /// A frame body's messages and how many of unknown types were skipped.
    public static func decodeBody(_ body: Data) throws -> DecodedBody { try mapped { try RumorFFI.decodeBody(body: body) } }
    /// The body holding `messages`.
    public static func encodeBody(_ messages: [WireMessage]) throws -> Data {
        try mapped { try RumorFFI.encodeBody(messages: messages) }
    }
    /// Opens a frame as a receiver with raw 32-byte `keys` (empty: plaintext) and `label`.
    public static func decodeFrame(_ frame: Data, keys: [Data] = [], label: String = "") throws -> DecodedFrame {
        try mapped { try RumorFFI.decodeFrame(frame: frame, keys: keys, label: label) }
    }
    /// A frame around `body`, sealed with the raw `key` under the 12-byte `nonce` if given.
    public static func encodeFrame(_ body: Data, label: String = "", key: Data? = nil, nonce: Data? = nil) throws -> Data {
        try mapped { try RumorFFI.encodeFrame(body: body, label: label, key: key, nonce: nonce) }
    }
    /// Node metadata as every runtime encodes it.
    public static func encodeMeta(_ meta: [String: String], maxLen: UInt32? = nil) throws -> Data {
        try mapped { try RumorFFI.encodeMeta(meta: meta, maxLen: maxLen) }
    }
    /// Node metadata decoded.
    public static func decodeMeta(_ data: Data) throws -> [String: String] { try mapped { try RumorFFI.decodeMeta(data: data) } }
    /// A named user event as one broadcast payload.
    public static func encodeUserEvent(name: String, payload: Data) throws -> Data {
        try mapped { try RumorFFI.encodeUserEvent(name: name, payload: payload) }
    }
    /// A user broadcast read as a named event.
    public static func decodeUserEvent(_ data: Data) -> NamedEvent { RumorFFI.decodeUserEvent(data: data) }
}
