//! `/metrics`: the node's counters in the Prometheus text format 0.0.4 or OpenMetrics 1.0,
//! whichever the scraper asks for (prometheus-client encodes; [`Format::negotiate`] chooses).
//!
//! The core keeps monotonic counters ([`rumor_core::Stats`]) and the probe round-trip
//! histogram ([`rumor_core::ProbeRtt`]); each scrape takes a snapshot and encodes it, so the
//! values are exactly the core's and nothing is double counted. Names follow the Prometheus
//! conventions (base units, the unit last, `_total` on counters), so `promtool check metrics`
//! passes; the process metrics (`process_*`) are the ones every Prometheus client library
//! exports, read from `/proc/self` as the Go and Python collectors do.

use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use rumor_agent::NodeMetrics;
use rumor_core::{Dropped, ProbeRtt};

/// The exposition format of one scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4: the default, and what `Accept: text/plain` gets.
    Text,
    /// OpenMetrics 1.0 text, for `Accept: application/openmetrics-text` (what Prometheus asks
    /// for first).
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics if it names
    /// `application/openmetrics-text` with a weight above that of `text/plain` (Prometheus
    /// sends both, OpenMetrics first), else the 0.0.4 text format.
    pub fn negotiate(accept: &str) -> Format {
        let weight = |media: &str| {
            accept
                .split(',')
                .filter_map(|part| {
                    let mut params = part.split(';').map(str::trim);
                    let kind = params.next()?;
                    (kind.eq_ignore_ascii_case(media)).then(|| {
                        params.find_map(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0)
                    })
                })
                .fold(None, |best: Option<f32>, q| Some(best.map_or(q, |b| b.max(q))))
        };
        match (weight("application/openmetrics-text"), weight("text/plain")) {
            (Some(om), Some(text)) if om > text => Format::OpenMetrics,
            (Some(om), None) if om > 0.0 => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The process metrics of one scrape (absent where `/proc` is not there).
#[derive(Clone, Copy, Debug, Default)]
pub struct Process {
    /// Start time, in seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
    /// User and system CPU time.
    pub cpu_seconds: Option<f64>,
    /// Resident memory.
    pub resident_bytes: Option<u64>,
    /// Virtual memory.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit of file descriptors.
    pub max_fds: Option<u64>,
}

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`: 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

impl Process {
    /// Reads this process's figures from `/proc/self`. `started` is when the process started
    /// (used only where `/proc` cannot tell).
    pub fn read(started: Instant) -> Process {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let mut p = Process::default();
        if let Some(stat) = read("/proc/self/stat") {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
            let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
            if let (Some(utime), Some(stime)) = (field(14), field(15)) {
                p.cpu_seconds = Some((utime + stime) as f64 / USER_HZ);
            }
            let boot = read("/proc/stat").and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<u64>().ok())
            });
            if let (Some(start), Some(boot)) = (field(22), boot) {
                p.start_time_seconds = Some(boot as f64 + start as f64 / USER_HZ);
            }
            p.virtual_bytes = field(23);
        }
        if let Some(status) = read("/proc/self/status") {
            p.resident_bytes = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .map(|kib| kib * 1024);
        }
        p.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64);
        p.max_fds = read("/proc/self/limits").and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<u64>().ok())
        });
        if p.start_time_seconds.is_none() {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            p.start_time_seconds = Some((now.as_secs_f64() - started.elapsed().as_secs_f64()).max(0.0));
        }
        p
    }
}

/// The probe round-trip histogram, encoded from the core's buckets.
#[derive(Debug)]
struct RttHistogram(ProbeRtt);

impl TypedMetric for RttHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for RttHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let h = &self.0;
        let bounds = ProbeRtt::BOUNDS_MICROS.iter().map(|&b| b as f64 / 1e6).chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(h.counts.iter().copied()).collect();
        encoder.encode_histogram::<NoLabelSet>(h.sum_micros as f64 / 1e6, h.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

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

/// Encodes a snapshot (all names prefixed `rumor_`, and the `process_` metrics) in `format`.
pub fn render(name: &str, m: &NodeMetrics, process: &Process, format: Format) -> String {
    let mut r = Registry::default();
    let rumor = r.sub_registry_with_prefix("rumor");
    register_node(rumor, name, m);
    register_process(&mut r, process);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    match format {
        Format::OpenMetrics => out,
        Format::Text => openmetrics_to_text(&out),
    }
}

fn register_node(r: &mut Registry, name: &str, m: &NodeMetrics) {
    let s = &m.stats;
    let members: Family<Labels, Gauge> = Family::default();
    for (status, n) in m.members.by_status() {
        members.get_or_create(&vec![("state", status.as_str())]).set(i64::from(n));
    }
    r.register("members", "Members known by this node, itself included, by state", members);

    let traffic: [(&str, &str, Option<Unit>, u64); 4] = [
        ("received_packets", "Datagrams received", None, s.packets_in),
        ("received", "Bytes of the datagrams received", Some(Unit::Bytes), s.bytes_in),
        ("sent_packets", "Datagrams sent", None, s.packets_out),
        ("sent", "Bytes of the datagrams sent", Some(Unit::Bytes), s.bytes_out),
    ];
    for (metric, help, unit, value) in traffic {
        let c: Counter = Counter::default();
        c.inc_by(value);
        match unit {
            Some(unit) => r.register_with_unit(metric, help, unit, c),
            None => r.register(metric, help, c),
        }
    }
    let dropped: Family<Labels, Counter> = Family::default();
    for reason in Dropped::ALL {
        dropped.get_or_create(&vec![("reason", reason.as_str())]).inc_by(s.dropped(reason));
    }
    r.register("dropped_packets", "Received datagrams dropped, by reason", dropped);
    counter(r, "outbox_dropped", "Outgoing datagrams dropped because the socket fell behind", s.outbox_dropped);
    counter(r, "unknown_messages_skipped", "Messages of newer types skipped", s.unknown_messages_skipped);
    counter(r, "misdirected_pings", "Pings for another name (stale address)", s.misdirected_pings);

    counter(r, "probes_sent", "Probes started", s.probes_sent);
    counter(r, "probes_failed", "Probes with no ack, direct or indirect", s.probes_failed);
    counter(r, "pings_resent", "Pings sent again for want of an ack, direct or relayed", s.pings_resent);
    counter(r, "indirect_probes_sent", "Indirect probe requests sent", s.indirect_probes_sent);
    counter(r, "nacks_received", "Nacks received from indirect probers", s.nacks_received);
    r.register_with_unit(
        "probe_rtt",
        "Round-trip time of answered probes, ping to ack (directly or through indirect probers)",
        Unit::Seconds,
        RttHistogram(m.probe_rtt),
    );
    counter(r, "suspicions_raised", "Suspicions raised from this node's failed probes", s.suspicions_raised);
    counter(r, "suspicions_refuted", "Suspect members seen alive again", s.suspicions_refuted);
    counter(r, "refutations", "Times this node refuted a claim about itself", s.refutations);
    counter(r, "failures_declared", "Members this node declared failed", s.failures_declared);
    counter(r, "name_conflicts", "Alive claims for a known name from another address", s.name_conflicts);
    counter(r, "syncs_started", "Anti-entropy exchanges started", s.syncs_started);
    counter(r, "syncs_in_sync", "Anti-entropy digests that matched: views already agreed", s.syncs_in_sync);
    counter(r, "sync_replies_refused", "Anti-entropy requests refused by rate limit", s.sync_replies_refused);
    counter(r, "user_broadcasts_dropped", "User broadcasts evicted before fully sent", s.user_broadcasts_dropped);

    gauge(r, "health_score", "Lifeguard local health score (0 is healthy)", i64::from(m.health_score));
    gauge(r, "gossip_queue_depth", "Updates waiting to be gossiped", i64::try_from(m.gossip_queue).unwrap_or(i64::MAX));
    let info: Family<Vec<(&'static str, String)>, Gauge> = Family::default();
    info.get_or_create(&vec![("name", name.to_string()), ("version", env!("CARGO_PKG_VERSION").to_string())]).set(1);
    r.register("node_info", "This node's name and Rumor version (always 1)", info);
}

fn register_process(r: &mut Registry, p: &Process) {
    let seconds = |v: f64| {
        let g: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
        g.set(v);
        g
    };
    if let Some(v) = p.start_time_seconds {
        r.register_with_unit(
            "process_start_time",
            "Start time of the process since unix epoch in seconds",
            Unit::Seconds,
            seconds(v),
        );
    }
    if let Some(v) = p.cpu_seconds {
        let c: Counter<f64, std::sync::atomic::AtomicU64> = Counter::default();
        c.inc_by(v);
        r.register_with_unit("process_cpu", "Total user and system CPU time spent in seconds", Unit::Seconds, c);
    }
    let bytes = |v: u64| {
        let g: Gauge = Gauge::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    if let Some(v) = p.resident_bytes {
        r.register_with_unit("process_resident_memory", "Resident memory size in bytes", Unit::Bytes, bytes(v));
    }
    if let Some(v) = p.virtual_bytes {
        r.register_with_unit("process_virtual_memory", "Virtual memory size in bytes", Unit::Bytes, bytes(v));
    }
    if let Some(v) = p.open_fds {
        r.register("process_open_fds", "Number of open file descriptors", bytes(v));
    }
    if let Some(v) = p.max_fds {
        r.register("process_max_fds", "Maximum number of open file descriptors", bytes(v));
    }
}

/// OpenMetrics text as the Prometheus text format 0.0.4: a counter family is named with its
/// `_total` suffix in `# HELP` and `# TYPE`, `# UNIT` and `# EOF` lines go; samples are the same.
fn openmetrics_to_text(om: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        om.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (family, tail) = rest.split_once(' ')?;
            counters.contains(family).then(|| format!("{prefix}{family}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
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
        m.stats.bytes_in = 5000;
        m.members = rumor_core::MemberCounts { alive: 3, suspect: 1, failed: 0, left: 2 };
        m.health_score = 2;
        m.probe_rtt.record(std::time::Duration::from_micros(300));
        m.probe_rtt.record(std::time::Duration::from_millis(20));
        let p = Process { resident_bytes: Some(4096), cpu_seconds: Some(1.5), ..Process::default() };
        for format in [Format::Text, Format::OpenMetrics] {
            let text = render("a", &m, &p, format);
            for line in [
                "rumor_dropped_packets_total{reason=\"auth\"} 7",
                "rumor_dropped_packets_total{reason=\"decode\"} 0",
                "rumor_received_packets_total 100",
                "rumor_received_bytes_total 5000",
                "rumor_members{state=\"alive\"} 3",
                "rumor_members{state=\"left\"} 2",
                "rumor_members{state=\"failed\"} 0",
                "rumor_health_score 2",
                "rumor_gossip_queue_depth 0",
                "rumor_node_info{name=\"a\",version=\"0.1.0\"} 1",
                "rumor_probe_rtt_seconds_count 2",
                "rumor_probe_rtt_seconds_bucket{le=\"0.00025\"} 0",
                "rumor_probe_rtt_seconds_bucket{le=\"0.0005\"} 1",
                "rumor_probe_rtt_seconds_bucket{le=\"+Inf\"} 2",
                "rumor_probe_rtt_seconds_sum 0.0203",
                "process_resident_memory_bytes 4096",
                "process_cpu_seconds_total 1.5",
            ] {
                assert!(text.lines().any(|l| l == line), "{format:?}: missing {line:?} in\n{text}");
            }
            let eof = text.ends_with("# EOF\n");
            assert_eq!(eof, format == Format::OpenMetrics, "{text}");
        }
        let text = render("a", &m, &p, Format::Text);
        assert!(text.contains("# TYPE rumor_received_bytes_total counter\n"), "{text}");
        assert!(text.contains("# HELP rumor_received_bytes_total "), "{text}");
        assert!(!text.contains("# UNIT"), "{text}");
        let om = render("a", &m, &p, Format::OpenMetrics);
        assert!(om.contains("# TYPE rumor_received_bytes counter\n# UNIT rumor_received_bytes bytes\n"), "{om}");
    }

    #[test]
    fn negotiation() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;\
                          q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(prometheus), Format::OpenMetrics);
        assert_eq!(Format::negotiate("application/openmetrics-text"), Format::OpenMetrics);
        assert_eq!(Format::negotiate("text/plain"), Format::Text);
        assert_eq!(Format::negotiate("text/plain;version=0.0.4"), Format::Text);
        assert_eq!(Format::negotiate(""), Format::Text);
        assert_eq!(Format::negotiate("*/*"), Format::Text);
        assert_eq!(Format::negotiate("text/plain;q=0.9, application/openmetrics-text;q=0.5"), Format::Text);
        assert_eq!(Format::negotiate("application/openmetrics-text;q=0"), Format::Text);
    }
}
