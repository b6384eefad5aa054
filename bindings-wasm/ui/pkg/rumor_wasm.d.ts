/* tslint:disable */
/* eslint-disable */

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



/**
 * A simulated cluster of real Rumor nodes on virtual time, formed and quiet at time zero.
 * Nodes are numbered from 0; node `i` is named `node-i` and listens at `Cluster.addrFor(i)`.
 */
export class Cluster {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * The address of node `i` (`"ip:port"`).
     */
    static addrFor(i: number): string;
    /**
     * Removes the partition.
     */
    heal(): void;
    /**
     * Kills node `i`: it stops at once, without leaving.
     */
    kill(i: number): void;
    /**
     * Node `i` leaves gracefully.
     */
    leave(i: number): void;
    /**
     * Every node's view: `size × size` status codes, row = observer, column = member.
     */
    matrix(): Uint8Array;
    /**
     * Node `i`'s members by status: `{alive, suspect, failed, left}`.
     */
    memberCounts(i: number): MemberCounts;
    /**
     * The network's counters: `{sent, bytes, lost, cut, undeliverable, max_packet, reordered}`.
     */
    netStats(): NetStats;
    /**
     * `n` nodes (1 to 16 777 214) with `preset` (`"lan"`, `"wan"`, `"local"`; default
     * `"lan"`) and Lifeguard on or off (default on), every random choice derived from `seed`
     * (an integer). They start as a formed, quiet cluster (`rumor_sim::Cluster::bootstrap`).
     * Events are not recorded until `setRecordEvents(true)`.
     */
    constructor(n: number, seed: number, preset?: string | null, lifeguard?: boolean | null);
    /**
     * The virtual time in milliseconds.
     */
    now(): number;
    /**
     * Cuts the network in two: the nodes of `group` on one side, every other node on the other.
     */
    partition(group: Uint32Array | number[]): void;
    /**
     * Restarts node `i` as a new process with the same name and address, which rejoins.
     */
    restart(i: number): void;
    /**
     * Sets the one-way latency of every link, uniform from `minMs` to `maxMs`.
     */
    setLatency(minMs: number, maxMs: number): void;
    /**
     * Sets the packet loss of every link, a probability from 0 to 1.
     */
    setLoss(loss: number): void;
    /**
     * Whether the nodes record their events for `takeEvents` (off at first: with thousands
     * of nodes every join is an event everywhere).
     */
    setRecordEvents(on: boolean): void;
    /**
     * Stalls node `i` for `ms` milliseconds: it handles nothing, then everything at once.
     */
    stall(i: number, ms: number): void;
    /**
     * Each node's process state: 0 killed, 1 running, 2 stalled.
     */
    states(): Uint8Array;
    /**
     * Node `i`'s counters, as `Node.stats()` gives them.
     */
    stats(i: number): Stats;
    /**
     * Advances virtual time by `ms` milliseconds, delivering packets and running timers.
     */
    step(ms: number): void;
    /**
     * The events recorded since the last call, oldest first per node: each as `Node.pollEvent`
     * gives it, plus `node` (the index of the node that saw it) and `time` (ms).
     */
    takeEvents(): ClusterEvent[];
    /**
     * How node `i` sees every node: one status code per node index (`statusNames()` names
     * them; 0 is unknown to it).
     */
    view(i: number): Uint8Array;
    /**
     * Number of nodes.
     */
    readonly size: number;
}

/**
 * One Rumor node. Create it, `join` seeds, and from then on: pass every datagram received to
 * `handleDatagram`, call `handleTimeout` when `pollTimeout()` comes (and after any input), and
 * after each call send every `pollTransmit` result and read every `pollEvent`.
 */
export class Node {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Broadcasts `payload` to every member (best effort, by gossip).
     */
    broadcast(payload: Uint8Array | number[], now: number): void;
    /**
     * Handles one datagram received from `from` (`"ip:port"`). Invalid datagrams are dropped
     * and counted in `stats()`; only an unreadable `from` throws.
     */
    handleDatagram(now: number, from: string, bytes: Uint8Array | number[]): void;
    /**
     * Runs the timers due at `now`.
     */
    handleTimeout(now: number): void;
    /**
     * Joins the cluster through `seeds` (`"ip:port"` strings), retrying until one answers.
     */
    join(seeds: string[], now: number): void;
    /**
     * Leaves gracefully: a `leave-complete` event says when it may stop.
     */
    leave(now: number): void;
    /**
     * Members by status: `{alive, suspect, failed, left}`.
     */
    memberCounts(): MemberCounts;
    /**
     * Every known member, this node first: `{name, addr, status, incarnation, meta}`, with
     * `meta` an object of strings (or a `Uint8Array` when it is not a string map).
     */
    members(): Member[];
    /**
     * A node called `name` (1 to 64 bytes) that others reach at `addr` (`"ip:port"`), with
     * `config` (a preset name `"lan"`, `"wan"`, `"local"`, or `{preset, label, keys,
     * lifeguard}`; default `"lan"`), metadata `meta` (an object of strings), a 32-byte `seed`
     * for its random choices (default: from `crypto.getRandomValues`) and the time `now` in
     * milliseconds. Throws the core's message if any of them is refused.
     */
    constructor(name: string, addr: string, config: Preset | NodeConfig | null | undefined, meta: Record<string, string> | null | undefined, seed: Uint8Array | number[] | null | undefined, now: number);
    /**
     * The next event as a plain object (`type` is its kind: `member-joined`, `member-failed`,
     * `user-event`, …; member events carry `name`, `addr`, `status`, `incarnation`, `meta`),
     * or undefined when there is none.
     */
    pollEvent(): RumorEvent | undefined;
    /**
     * When to call `handleTimeout` next, in milliseconds; undefined once the node has left.
     */
    pollTimeout(): number | undefined;
    /**
     * The next datagram to send, `{destination: "ip:port", bytes: Uint8Array}`, or undefined
     * when there is none.
     */
    pollTransmit(now: number): Transmit | undefined;
    /**
     * Broadcasts a named user event (`rumor_core::user_event`); receivers see its `name` and
     * `data` on the `user-event` event.
     */
    sendEvent(name: string, data: Uint8Array | number[], now: number): void;
    /**
     * Replaces this node's metadata (an object of strings) and gossips it.
     */
    setMeta(meta: Record<string, string>, now: number): void;
    /**
     * The core's counters (`packets_in`, `dropped_auth`, …) as numbers.
     */
    stats(): Stats;
    /**
     * The address others reach it at (`"ip:port"`).
     */
    readonly addr: string;
    /**
     * Whether its leave completed: it takes no more input.
     */
    readonly hasLeft: boolean;
    /**
     * Its incarnation (raised whenever it refutes a suspicion or changes its metadata).
     */
    readonly incarnation: number;
    /**
     * Whether a seed (or any member) has answered since `join`.
     */
    readonly isJoined: boolean;
    /**
     * This node's name.
     */
    readonly name: string;
}

/**
 * Decodes a frame's body (the messages after the header): `{messages, skipped}` as in
 * [`decode_frame`]. Throws a `DecodeError`.
 */
export function decodeBody(body: Uint8Array | number[]): DecodedBody;

/**
 * Decodes a datagram as a receiver with `key` (none, one key as base64 or bytes, or an array
 * of keys) and cluster `label` (default none) would, then its body. Returns `{header, body,
 * messages, skipped}`: the header (`encrypted`, `label`, `keyId`, `nonce`, `len`), the opened
 * body, its messages (`type` is the message's name, fields as in `tests/vectors/wire.json`)
 * and how many messages of unknown types were skipped.
 *
 * Throws a `DecodeError` (`kind`: `Truncated`, `BadMagic`, `UnknownVersion`, … as in
 * `rumor_core::wire::DecodeError`) for a datagram a node would drop, and an `Error` for a key
 * that is not one.
 */
export function decodeFrame(bytes: Uint8Array | number[], key: Key | Key[] | null | undefined, label?: string | null): DecodedFrame;

/**
 * Decodes node metadata into an object of strings. Throws a `MetaError` (`kind` `Malformed`)
 * if the bytes are not a Rumor string map.
 */
export function decodeMeta(bytes: Uint8Array | number[]): Record<string, string>;

/**
 * Reads a user broadcast as a named event: `{name, payload}` (no NUL: an unnamed event).
 */
export function decodeUserEvent(bytes: Uint8Array | number[]): UserEvent;

/**
 * Encodes node metadata (an object of strings) as every runtime does; `maxLen` defaults to
 * the protocol's limit (512 bytes). Throws a `MetaError` (`kind` `TooLong`) past it.
 */
export function encodeMeta(map: Record<string, string>, maxLen?: number | null): Uint8Array;

/**
 * Frames a named user event for [`Node::broadcast`](crate::Node::broadcast): the name, NUL,
 * the payload. Throws a `UserEventError` (`kind` `NulInName`) if the name contains NUL.
 */
export function encodeUserEvent(name: string, payload: Uint8Array | number[]): Uint8Array;

/**
 * The names of the timing presets (`Config::PRESETS`), for a page's picker.
 */
export function presetNames(): string[];

/**
 * A preset's timings in milliseconds, and its fan-outs: what a page needs to draw the
 * epidemic model beside the real nodes, or to say how long detection should take. Read from
 * `Config::preset`, so the page never keeps its own copy.
 */
export function presetTimings(name: string): PresetTimings;

/**
 * The member status names by code, as [`Cluster::view`] and [`Cluster::matrix`] report them:
 * code 0 is `"unknown"` (the observer does not know the member), then the core's statuses in
 * the order of `Status::ALL`, each by its name (`Status::as_str`).
 */
export function statusNames(): string[];

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_cluster_free: (a: number, b: number) => void;
    readonly __wbg_node_free: (a: number, b: number) => void;
    readonly cluster_addrFor: (a: number) => [number, number];
    readonly cluster_heal: (a: number) => void;
    readonly cluster_kill: (a: number, b: number) => [number, number];
    readonly cluster_leave: (a: number, b: number) => [number, number];
    readonly cluster_matrix: (a: number) => any;
    readonly cluster_memberCounts: (a: number, b: number) => [number, number, number];
    readonly cluster_netStats: (a: number) => any;
    readonly cluster_new: (a: number, b: number, c: number, d: number, e: number) => [number, number, number];
    readonly cluster_now: (a: number) => number;
    readonly cluster_partition: (a: number, b: number, c: number) => [number, number];
    readonly cluster_restart: (a: number, b: number) => [number, number];
    readonly cluster_setLatency: (a: number, b: number, c: number) => [number, number];
    readonly cluster_setLoss: (a: number, b: number) => [number, number];
    readonly cluster_setRecordEvents: (a: number, b: number) => void;
    readonly cluster_size: (a: number) => number;
    readonly cluster_stall: (a: number, b: number, c: number) => [number, number];
    readonly cluster_states: (a: number) => any;
    readonly cluster_stats: (a: number, b: number) => [number, number, number];
    readonly cluster_step: (a: number, b: number) => void;
    readonly cluster_takeEvents: (a: number) => [number, number, number];
    readonly cluster_view: (a: number, b: number) => [number, number, number];
    readonly decodeBody: (a: number, b: number) => [number, number, number];
    readonly decodeFrame: (a: number, b: number, c: any, d: number, e: number) => [number, number, number];
    readonly decodeMeta: (a: number, b: number) => [number, number, number];
    readonly decodeUserEvent: (a: number, b: number) => any;
    readonly encodeMeta: (a: any, b: number) => [number, number, number, number];
    readonly encodeUserEvent: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly node_addr: (a: number) => [number, number];
    readonly node_broadcast: (a: number, b: number, c: number, d: number) => [number, number];
    readonly node_handleDatagram: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number];
    readonly node_handleTimeout: (a: number, b: number) => void;
    readonly node_hasLeft: (a: number) => number;
    readonly node_incarnation: (a: number) => number;
    readonly node_isJoined: (a: number) => number;
    readonly node_join: (a: number, b: number, c: number, d: number) => [number, number];
    readonly node_leave: (a: number, b: number) => [number, number];
    readonly node_memberCounts: (a: number) => [number, number, number];
    readonly node_members: (a: number) => [number, number, number];
    readonly node_name: (a: number) => [number, number];
    readonly node_new: (a: number, b: number, c: number, d: number, e: any, f: any, g: number, h: number, i: number) => [number, number, number];
    readonly node_pollEvent: (a: number) => [number, number, number];
    readonly node_pollTimeout: (a: number) => [number, number];
    readonly node_pollTransmit: (a: number, b: number) => any;
    readonly node_sendEvent: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number];
    readonly node_setMeta: (a: number, b: any, c: number) => [number, number];
    readonly node_stats: (a: number) => [number, number, number];
    readonly presetNames: () => [number, number];
    readonly presetTimings: (a: number, b: number) => [number, number, number];
    readonly statusNames: () => [number, number];
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __externref_drop_slice: (a: number, b: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
