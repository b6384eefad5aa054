//! What `rumor sim` reports: one JSON object (`--json`) or a human summary.
//!
//! `docs/evaluation.md` defines every field precisely; the doc comments here are the short
//! version.

use std::fmt::Write as _;

use serde::Serialize;

/// The outcome of one scenario. Times are simulated seconds unless named `wall_s`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Nodes started.
    pub nodes: usize,
    /// The seed.
    pub seed: u64,
    /// Timing preset.
    pub preset: &'static str,
    /// Whether the Lifeguard extensions were on.
    pub lifeguard: bool,
    /// Whether packets were encrypted.
    pub encrypt: bool,
    /// Packet loss probability from the settle phase on.
    pub loss: f64,
    /// Nodes crashed in the window.
    pub kill: usize,
    /// Nodes that stalled now and then.
    pub stalling_nodes: usize,
    /// Restarts per minute, as a fraction of the nodes.
    pub churn_per_min: f64,
    /// Length of the measured window.
    pub window_s: f64,
    /// Virtual time simulated in total (join, settle, window and tail).
    #[serde(serialize_with = "round3")]
    pub simulated_s: f64,
    /// Wall-clock time the run took (the only field that varies between runs of one seed).
    #[serde(serialize_with = "round3")]
    pub wall_s: f64,
    /// `simulated_s / wall_s`.
    #[serde(serialize_with = "round1")]
    pub speedup: f64,
    /// Whether the cluster started formed (`--bootstrap`) rather than joining.
    pub bootstrap: bool,
    /// When every node first saw all nodes alive; `null` if not within `--join-limit` or
    /// bootstrapped.
    #[serde(serialize_with = "round3_opt")]
    pub join_s: Option<f64>,
    /// Nodes running at the end, the killed ones excluded.
    pub live_nodes: usize,
    /// From the kill until the first live node had marked every killed node failed.
    #[serde(serialize_with = "round3_opt")]
    pub detect_first_s: Option<f64>,
    /// From the kill until every live node had marked every killed node failed; `null` if some
    /// never did.
    #[serde(serialize_with = "round3_opt")]
    pub detect_all_s: Option<f64>,
    /// Live nodes that marked every killed node failed.
    pub detected_by: usize,
    /// `MemberFailed` events in the window about nodes that were running, not stalled and not
    /// partitioned away within the blame window before the event.
    pub false_failed: u64,
    /// Distinct nodes those false events were about.
    pub false_failed_members: usize,
    /// `MemberSuspect` events in the window about such nodes.
    pub false_suspect: u64,
    /// `MemberFailed` events in the window about nodes that were stalled or down (restarting)
    /// within the blame window: alive processes, but unresponsive for a while.
    pub unavailable_failed: u64,
    /// `MemberFailed` events in the window while a partition was in force or within the blame
    /// window after it healed.
    pub partition_failed: u64,
    /// The blame window: maximum suspicion timeout plus four probe intervals.
    #[serde(serialize_with = "round3")]
    pub blame_window_s: f64,
    /// Stalls that happened.
    pub stalls: u64,
    /// Restarts that happened.
    pub restarts: u64,
    /// Bytes sent per running node per second over the window.
    #[serde(serialize_with = "round1")]
    pub bytes_per_node_per_s: f64,
    /// Datagrams sent per running node per second over the window.
    #[serde(serialize_with = "round3")]
    pub msgs_per_node_per_s: f64,
    /// Largest datagram sent during the whole run.
    pub max_packet_bytes: usize,
    /// Whether every running node held the same view at the window's end.
    pub converged: bool,
    /// From the heal until every running node held the same view.
    #[serde(serialize_with = "round3_opt")]
    pub heal_converge_s: Option<f64>,
    /// From the heal until every running node counted every running node live (alive or
    /// suspect): the two sides know each other again, before incarnations agree.
    #[serde(serialize_with = "round3_opt")]
    pub heal_all_live_s: Option<f64>,
    /// From the window's end until every running node held the same view (`--converge-limit`).
    #[serde(serialize_with = "round3_opt")]
    pub tail_converge_s: Option<f64>,
    /// Counters of the nodes' own [`rumor_core::Stats`], summed over the processes running at
    /// the end (each since it started, so the join or bootstrap is included).
    pub node_stats: NodeStats,
    /// The timed broadcast (`--broadcast`).
    pub dissemination: Option<Dissemination>,
}

/// Selected [`rumor_core::Stats`] counters, summed over the running processes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct NodeStats {
    /// Probes that got no ack, directly or indirectly.
    pub probes_failed: u64,
    /// Pings sent a second time for want of an ack (direct, and relayed for others).
    pub pings_resent: u64,
    /// Times a node refuted a suspicion, failure or stale claim about itself.
    pub refutations: u64,
    /// Corrections sent to a node that gossiped a suspicion, failure or claim this node knew
    /// to be stale (one per stale update; one datagram per stale datagram carries them).
    pub stale_repairs: u64,
    /// Anti-entropy exchanges started.
    pub syncs_started: u64,
    /// Anti-entropy digests that matched the receiver's: no state had to be exchanged.
    pub syncs_in_sync: u64,
    /// Anti-entropy requests not answered because of the reply rate limit.
    pub sync_replies_refused: u64,
    /// Datagrams dropped by the replay window (encrypted mode).
    pub dropped_replay: u64,
    /// Datagrams dropped by the inbound rate limits.
    pub dropped_rate_limited: u64,
    /// Datagrams dropped for any other reason (malformed, oversized, version, label, auth).
    pub dropped_other: u64,
}

/// How fast one user broadcast spread.
#[derive(Debug, Clone, Serialize)]
pub struct Dissemination {
    /// The node that sent it.
    pub origin: usize,
    /// Nodes running when it was sent (the origin included).
    pub targets: usize,
    /// Targets that received it (the origin included).
    pub reached: usize,
    /// One gossip round.
    pub gossip_interval_s: f64,
    /// Time until 50 % of the targets had it.
    #[serde(serialize_with = "round3_opt")]
    pub p50_s: Option<f64>,
    /// Time until 99 % of the targets had it.
    #[serde(serialize_with = "round3_opt")]
    pub p99_s: Option<f64>,
    /// Time until 99.99 % of the targets had it.
    #[serde(serialize_with = "round3_opt")]
    pub p9999_s: Option<f64>,
    /// The epidemic model's rounds to 50 %.
    #[serde(serialize_with = "round3")]
    pub model_p50_rounds: f64,
    /// The epidemic model's rounds to 99 %.
    #[serde(serialize_with = "round3")]
    pub model_p99_rounds: f64,
    /// The epidemic model's rounds to 99.99 %.
    #[serde(serialize_with = "round3")]
    pub model_p9999_rounds: f64,
    /// `(rounds since sending, fraction of targets reached)` after each gossip round.
    pub curve: Vec<(f64, f64)>,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn round1<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 10.0).round() / 10.0)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn round3<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1000.0).round() / 1000.0)
}

#[allow(clippy::ref_option)]
fn round3_opt<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => round3(v, s),
        None => s.serialize_none(),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "never".to_owned(), |s| format!("{s:.2} s"))
}

impl Report {
    /// A few lines for a person.
    pub fn human(&self) -> String {
        let mut o = String::new();
        let on = |b: bool| if b { "on" } else { "off" };
        let _ = writeln!(
            o,
            "{} nodes, {} preset, Lifeguard {}, encryption {}, {:.1} % loss, seed {}",
            self.nodes,
            self.preset,
            on(self.lifeguard),
            on(self.encrypt),
            self.loss * 100.0,
            self.seed
        );
        let start = if self.bootstrap {
            "the cluster started formed (bootstrap)".to_owned()
        } else {
            format!("every node saw everyone after {}", opt(self.join_s))
        };
        let _ = writeln!(
            o,
            "simulated {:.0} s in {:.1} s wall ({:.1}x real time); {start}",
            self.simulated_s, self.wall_s, self.speedup
        );
        let _ = writeln!(
            o,
            "window {:.0} s: {} killed, {} stalling ({} stalls), {} restarts",
            self.window_s, self.kill, self.stalling_nodes, self.stalls, self.restarts
        );
        if self.kill > 0 {
            let _ = writeln!(
                o,
                "detection: first live node {}, all {} live nodes {} ({} detected)",
                opt(self.detect_first_s),
                self.live_nodes,
                opt(self.detect_all_s),
                self.detected_by
            );
        }
        let _ = writeln!(
            o,
            "false failed: {} events about {} nodes; false suspect: {}; failed while stalled/down: {}; during partition: {}",
            self.false_failed,
            self.false_failed_members,
            self.false_suspect,
            self.unavailable_failed,
            self.partition_failed
        );
        let _ = writeln!(
            o,
            "traffic: {:.0} B/s and {:.2} datagrams/s per node; largest datagram {} B",
            self.bytes_per_node_per_s, self.msgs_per_node_per_s, self.max_packet_bytes
        );
        let _ = write!(o, "converged at the end: {}", if self.converged { "yes" } else { "no" });
        if let Some(h) = self.heal_all_live_s {
            let _ = write!(o, "; everyone live to everyone {h:.1} s after the heal");
        }
        if let Some(h) = self.heal_converge_s {
            let _ = write!(o, "; one view {h:.1} s after the heal");
        }
        if let Some(t) = self.tail_converge_s {
            let _ = write!(o, "; one view {t:.1} s after the window");
        }
        o.push('\n');
        if let Some(d) = &self.dissemination {
            let r = |s: Option<f64>| {
                s.map_or_else(|| "never".to_owned(), |s| format!("{s:.2} s ({:.1} rounds)", s / d.gossip_interval_s))
            };
            let _ = writeln!(
                o,
                "broadcast from node-{}: reached {}/{}; 50 % {}, 99 % {}, 99.99 % {}",
                d.origin,
                d.reached,
                d.targets,
                r(d.p50_s),
                r(d.p99_s),
                r(d.p9999_s)
            );
            let _ = writeln!(
                o,
                "epidemic model: 50 % {:.1}, 99 % {:.1}, 99.99 % {:.1} rounds",
                d.model_p50_rounds, d.model_p99_rounds, d.model_p9999_rounds
            );
        }
        o
    }
}
