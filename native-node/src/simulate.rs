//! `rumor sim`: one scenario on the deterministic simulator (`rumor-sim`).
//!
//! A scenario has four phases on virtual time (see `docs/evaluation.md` for the precise
//! definitions of every reported figure):
//!
//! 1. **join**: `--nodes` nodes start at once; each joins through an earlier node. The phase
//!    ends when every node sees all of them alive (or after `--join-limit`). With
//!    `--bootstrap` the cluster starts formed and quiet instead.
//! 2. **settle** (`--settle` seconds): packet loss is switched on and the cluster is left to
//!    reach its steady state. Nothing is measured.
//! 3. **window** (`--duration` seconds): the measured run. Faults happen here, at times given
//!    relative to the window's start: `--kill` nodes crash at `--kill-at`, `--stall` of the
//!    nodes pause (or lag) now and then, `--churn` restarts nodes, `--partition-at`/`--heal-at` cut the
//!    cluster in two halves, `--broadcast` sends one user broadcast. Traffic is counted over
//!    the whole window.
//! 4. **tail** (only with `--converge-limit`): no new faults; run until every live node holds
//!    the same view.
//!
//! Everything random derives from `--seed`, so a seed replays the same run (only `wall_s`
//! differs).

mod report;
mod scenario;

use core::time::Duration;

use clap::ValueEnum;
use rumor_core::{Config, Lifeguard};

pub use report::{Dissemination, NodeStats, Report};

/// Largest cluster the command accepts.
pub const MAX_NODES: u32 = 100_000;
/// Longest duration accepted for any time flag, in seconds (about 11.6 days).
pub const MAX_SECONDS: f64 = 1_000_000.0;

/// Flags of `rumor sim`.
#[derive(clap::Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct SimArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(2..=i64::from(MAX_NODES)))]
    pub nodes: u32,
    /// Simulation seed: the same seed replays the same run.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Timing preset of every node's protocol configuration.
    #[arg(long, value_enum, default_value_t = Preset::Lan)]
    pub preset: Preset,
    /// Lifeguard extensions (local health, dynamic suspicion, buddy system, nacks).
    #[arg(long, value_enum, default_value_t = Toggle::On, value_name = "on|off")]
    pub lifeguard: Toggle,
    /// A fixed suspicion timeout of about this many seconds instead of Lifeguard's dynamic one,
    /// to compare with implementations that use a fixed timeout (foca; see
    /// `docs/eval/foca-comparison.md`): dynamic suspicion is switched off and `suspicion_mult` is set to
    /// the whole number that brings `suspicion_mult × max(1, log10 N) × probe_interval`
    /// nearest to it (the other Lifeguard extensions stay as `--lifeguard` says). The timeout
    /// this gives is reported as `suspicion_timeout_s`; the core recomputes it from the live
    /// member count when each suspicion starts, so it is this value while no member is down.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub suspicion_timeout: Option<f64>,
    /// Encrypt every packet (ChaCha20-Poly1305, one shared key derived from the seed).
    #[arg(long)]
    pub encrypt: bool,
    /// Probability (0..1) that any packet is lost, from the settle phase on.
    #[arg(long, default_value_t = 0.0, value_name = "P", value_parser = fraction)]
    pub loss: f64,
    /// Shortest one-way network delay, in milliseconds.
    #[arg(long, default_value_t = 0.2, value_name = "MS", value_parser = milliseconds)]
    pub latency_min_ms: f64,
    /// Longest one-way network delay, in milliseconds (each packet's delay is uniform between
    /// the two, so packets reorder).
    #[arg(long, default_value_t = 2.0, value_name = "MS", value_parser = milliseconds)]
    pub latency_max_ms: f64,
    /// Start from a formed, quiet cluster (every node already knows every other, as long after
    /// a join) instead of joining node by node. A gossip join costs a storm of n² updates,
    /// hours of CPU at 10 000 nodes; the bootstrap goes through the same receive path at the
    /// cost of one state exchange per node.
    #[arg(long)]
    pub bootstrap: bool,
    /// Longest the join phase may take, in simulated seconds.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub join_limit: f64,
    /// Warm-up after the join with loss on and nothing measured, in simulated seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS", value_parser = seconds)]
    pub settle: f64,
    /// Length of the measured window, in simulated seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub duration: f64,
    /// Nodes that crash (stop without leaving) at `--kill-at`.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub kill: u32,
    /// When the killed nodes crash, in seconds into the window [default: half the duration].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub kill_at: Option<f64>,
    /// Fraction (0..1) of the nodes that stall now and then during the window: each such node
    /// stalls (see `--stall-mode`) for `--stall-min`..`--stall-max` seconds at a time, with
    /// exponentially distributed healthy spells of mean `--stall-gap` in between.
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = fraction)]
    pub stall: f64,
    /// What a stall is. `pause`: the process handles nothing (no packets, no timers), then
    /// catches up on everything that queued. `lag`: its timers keep firing on time but every
    /// packet reaches it `--stall-lag` seconds late, like a process whose receive queue backs
    /// up while it is starved of CPU (the Lifeguard paper's slow member).
    #[arg(long, value_enum, default_value_t = StallMode::Pause)]
    pub stall_mode: StallMode,
    /// With `--stall-mode lag`: how late packets reach a lagging node, in seconds.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub stall_lag: f64,
    /// Shortest stall, in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub stall_min: f64,
    /// Longest stall, in seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub stall_max: f64,
    /// Mean running time between two stalls of one stalling node, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub stall_gap: f64,
    /// Fraction of the nodes that restart per minute during the window (at random times; each
    /// restarted process keeps its name and address and rejoins after `--churn-down`).
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = churn_rate)]
    pub churn: f64,
    /// How long a restarting node stays down, in seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = seconds)]
    pub churn_down: f64,
    /// Churned nodes leave gracefully before stopping, instead of crashing.
    #[arg(long)]
    pub churn_graceful: bool,
    /// Cut the cluster into two random halves at this time, in seconds into the window.
    #[arg(long, value_name = "SECONDS", value_parser = seconds, requires = "heal_at")]
    pub partition_at: Option<f64>,
    /// Heal the partition at this time, in seconds into the window.
    #[arg(long, value_name = "SECONDS", value_parser = seconds, requires = "partition_at")]
    pub heal_at: Option<f64>,
    /// Send one user broadcast from a random live node and time how fast it reaches the
    /// others.
    #[arg(long)]
    pub broadcast: bool,
    /// When to send the broadcast, in seconds into the window [default: a quarter of the
    /// duration].
    #[arg(long, value_name = "SECONDS", value_parser = seconds, requires = "broadcast")]
    pub broadcast_at: Option<f64>,
    /// After the window, keep running without new faults until every live node holds the same
    /// view, for at most this many simulated seconds (reported as `tail_converge_s`).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub converge_limit: Option<f64>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Report progress on standard error every ten simulated seconds (phase, simulated time,
    /// wall time): a 10 000-node run with loss takes hours.
    #[arg(long)]
    pub progress: bool,
}

/// Timing presets of [`rumor_core::Config`].
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// One data centre: 1 s probes, round trips well under 100 ms.
    Lan,
    /// Between data centres: 5 s probes, round trips up to a few hundred ms.
    Wan,
    /// One machine (loopback): 0.5 s probes, little retransmission.
    Local,
}

impl Preset {
    /// The preset's configuration.
    pub fn config(self) -> Config {
        match self {
            Preset::Lan => Config::lan(),
            Preset::Wan => Config::wan(),
            Preset::Local => Config::local(),
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Lan => "lan",
            Preset::Wan => "wan",
            Preset::Local => "local",
        }
    }
}

/// How a stalling node misbehaves (`--stall-mode`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallMode {
    /// Handles nothing, then catches up at once.
    Pause,
    /// Receives every packet late; timers run on time.
    Lag,
}

/// An on/off switch.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toggle {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Toggle {
    /// Whether it is on.
    pub fn is_on(self) -> bool {
        self == Toggle::On
    }
}

/// Runs the scenario and prints its report (JSON with `--json`).
pub fn run(args: &SimArgs) -> Result<(), String> {
    let plan = scenario::Plan::from_args(args)?;
    let report = scenario::run(&plan)?;
    if args.json {
        let line = serde_json::to_string(&report).map_err(|e| format!("cannot encode the report: {e}"))?;
        println!("{line}");
    } else {
        print!("{}", report.human());
    }
    Ok(())
}

/// The protocol configuration every node of the scenario uses, and the fixed suspicion timeout
/// it gives with `--suspicion-timeout`.
fn node_config(args: &SimArgs) -> Result<(Config, Option<f64>), String> {
    let mut config = args.preset.config();
    config.lifeguard = if args.lifeguard.is_on() { Lifeguard::ON } else { Lifeguard::OFF };
    let Some(wanted) = args.suspicion_timeout else { return Ok((config, None)) };
    // The core's minimum timeout, `suspicion_mult × max(1, log10 n) × probe_interval` (n = live
    // members counting the node itself), is the only timeout once dynamic suspicion is off.
    let unit = f64::from(args.nodes).log10().max(1.0) * config.probe_interval.as_secs_f64();
    let mult = (wanted / unit).round();
    if !(1.0..=100.0).contains(&mult) {
        return Err(format!(
            "--suspicion-timeout {wanted} needs suspicion_mult {mult} (the timeout over max(1, log10 N) × probe_interval = {unit:.3} s, rounded), which must be between 1 and 100"
        ));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mult = mult as u32;
    config.lifeguard.dynamic_suspicion = false;
    config.suspicion_mult = mult;
    // The maximum is unused without dynamic suspicion; 1 keeps the blame window at the timeout.
    config.suspicion_max_mult = 1;
    Ok((config, Some(f64::from(mult) * unit)))
}

fn number(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() { Ok(v) } else { Err(format!("`{s}` is not a finite number")) }
}

fn fraction(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("{v} is not between 0 and 1")) }
}

fn churn_rate(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=10.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 10 (fraction of the nodes per minute)"))
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=MAX_SECONDS).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and {MAX_SECONDS} seconds"))
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    let v = seconds(s)?;
    if v >= 0.001 { Ok(v) } else { Err(format!("{v} is shorter than one millisecond")) }
}

fn milliseconds(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=60_000.0).contains(&v) { Ok(v) } else { Err(format!("{v} is not between 0 and 60000 ms")) }
}

/// Seconds as a [`Duration`] (the parsers above bound every value, so this never saturates).
fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, MAX_SECONDS))
}
