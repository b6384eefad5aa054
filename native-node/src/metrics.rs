//! `/metrics`: the node's counters in the Prometheus/OpenMetrics text format (prometheus-client).
//!
//! The core keeps monotonic counters ([`rumor_core::Stats`]); each scrape takes a snapshot and
//! encodes it, so the values are exactly the core's and nothing is double counted.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use rumor_agent::NodeMetrics;

/// Content type of the text exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, &'static str)>;

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

/// Encodes a snapshot as OpenMetrics text (all names prefixed `rumor_`).
pub fn render(name: &str, m: &NodeMetrics) -> String {
    let mut r = Registry::with_prefix_and_labels("rumor", std::iter::empty());
    let s = &m.stats;

    let members: Family<Labels, Gauge> = Family::default();
    for (status, n) in m.members.by_status() {
        members.get_or_create(&vec![("state", status.as_str())]).set(i64::from(n));
    }
    r.register("members", "Members known by this node, itself included, by state", members);

    counter(&mut r, "packets_received", "Datagrams received", s.packets_in);
    counter(&mut r, "bytes_received", "Bytes received", s.bytes_in);
    counter(&mut r, "packets_sent", "Datagrams sent", s.packets_out);
    counter(&mut r, "bytes_sent", "Bytes sent", s.bytes_out);
    let dropped: Family<Labels, Counter> = Family::default();
    for (reason, n) in [
        ("decode", s.dropped_malformed),
        ("version", s.dropped_version),
        ("auth", s.dropped_auth),
        ("label", s.dropped_label),
        ("rate_limit", s.dropped_rate_limited),
        ("oversized", s.dropped_oversized),
        ("replay", s.dropped_replay),
        ("checksum", s.dropped_checksum),
    ] {
        dropped.get_or_create(&vec![("reason", reason)]).inc_by(n);
    }
    r.register("packets_dropped", "Received datagrams dropped, by reason", dropped);
    counter(&mut r, "outbox_dropped", "Outgoing datagrams dropped because the socket fell behind", s.outbox_dropped);
    counter(&mut r, "unknown_messages_skipped", "Messages of newer types skipped", s.unknown_messages_skipped);
    counter(&mut r, "misdirected_pings", "Pings for another name (stale address)", s.misdirected_pings);

    counter(&mut r, "probes_sent", "Probes started", s.probes_sent);
    counter(&mut r, "probes_failed", "Probes with no ack, direct or indirect", s.probes_failed);
    counter(&mut r, "pings_resent", "Pings sent again for want of an ack, direct or relayed", s.pings_resent);
    counter(&mut r, "indirect_probes_sent", "Indirect probe requests sent", s.indirect_probes_sent);
    counter(&mut r, "nacks_received", "Nacks received from indirect probers", s.nacks_received);
    counter(&mut r, "suspicions_raised", "Suspicions raised from this node's failed probes", s.suspicions_raised);
    counter(&mut r, "suspicions_refuted", "Suspect members seen alive again", s.suspicions_refuted);
    counter(&mut r, "refutations", "Times this node refuted a claim about itself", s.refutations);
    counter(&mut r, "failures_declared", "Members this node declared failed", s.failures_declared);
    counter(&mut r, "name_conflicts", "Alive claims for a known name from another address", s.name_conflicts);
    counter(&mut r, "syncs_started", "Anti-entropy exchanges started", s.syncs_started);
    counter(&mut r, "syncs_in_sync", "Anti-entropy digests that matched: views already agreed", s.syncs_in_sync);
    counter(&mut r, "sync_replies_refused", "Anti-entropy requests refused by rate limit", s.sync_replies_refused);
    counter(&mut r, "user_broadcasts_dropped", "User broadcasts evicted before fully sent", s.user_broadcasts_dropped);

    gauge(&mut r, "health_score", "Lifeguard local health score (0 is healthy)", i64::from(m.health_score));
    gauge(
        &mut r,
        "gossip_queue_depth",
        "Updates waiting to be gossiped",
        i64::try_from(m.gossip_queue).unwrap_or(i64::MAX),
    );
    let info: Family<Vec<(&'static str, String)>, Gauge> = Family::default();
    info.get_or_create(&vec![("name", name.to_string()), ("version", env!("CARGO_PKG_VERSION").to_string())]).set(1);
    r.register("node_info", "This node's name and Rumor version", info);

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        let mut m = NodeMetrics::default();
        m.stats.dropped_auth = 7;
        m.stats.packets_in = 100;
        m.members = rumor_core::MemberCounts { alive: 3, suspect: 1, failed: 0, left: 2 };
        m.health_score = 2;
        let text = render("a", &m);
        for line in [
            "rumor_packets_dropped_total{reason=\"auth\"} 7",
            "rumor_packets_dropped_total{reason=\"decode\"} 0",
            "rumor_packets_received_total 100",
            "rumor_members{state=\"alive\"} 3",
            "rumor_members{state=\"left\"} 2",
            "rumor_members{state=\"failed\"} 0",
            "rumor_health_score 2",
            "rumor_gossip_queue_depth 0",
            "rumor_node_info{name=\"a\",version=\"0.1.0\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
