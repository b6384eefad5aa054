//! `foca-sim`: one scenario of foca nodes on `rumor sim`'s network model; prints one JSON
//! object with `rumor sim --json`'s field names (see the library's docs for what mirrors what).
//!
//! ```text
//! foca-sim --nodes 500 --loss 0.1 --seed 1            # N = 500, 10 % loss, one crash
//! foca-sim --nodes 100 --settle 30 --duration 90 --kill 1 --kill-at 20 --config lan
//! ```

use clap::{Parser, ValueEnum};
use foca_compare::{Options, Preset, run};

/// foca on the virtual-time network of `rumor sim`: a preseeded cluster, loss from the settle
/// phase on, crashes in the measured window; one JSON report on standard output.
#[derive(Parser, Debug)]
#[command(name = "foca-sim", version)]
struct Args {
    /// Number of nodes.
    #[arg(long, default_value_t = 100)]
    nodes: u32,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// foca's configuration: `Config::new_lan(nodes)` or `Config::new_wan(nodes)`.
    #[arg(long, value_enum, default_value_t = ConfigArg::Lan)]
    config: ConfigArg,
    /// Probability (0..1) that any packet is lost, from the settle phase on.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Shortest one-way network delay, in milliseconds.
    #[arg(long, default_value_t = 0.2)]
    latency_min_ms: f64,
    /// Longest one-way network delay, in milliseconds (uniform in between).
    #[arg(long, default_value_t = 2.0)]
    latency_max_ms: f64,
    /// Warm-up after the start with loss on and nothing measured, in simulated seconds.
    #[arg(long, default_value_t = 30.0)]
    settle: f64,
    /// Length of the measured window, in simulated seconds.
    #[arg(long, default_value_t = 90.0)]
    duration: f64,
    /// Nodes that crash at `--kill-at`.
    #[arg(long, default_value_t = 1)]
    kill: u32,
    /// When they crash, in seconds into the window.
    #[arg(long, default_value_t = 20.0)]
    kill_at: f64,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ConfigArg {
    Lan,
    Wan,
}

fn main() {
    let a = Args::parse();
    let options = Options {
        nodes: a.nodes,
        seed: a.seed,
        preset: match a.config {
            ConfigArg::Lan => Preset::Lan,
            ConfigArg::Wan => Preset::Wan,
        },
        loss: a.loss,
        latency_min_ms: a.latency_min_ms,
        latency_max_ms: a.latency_max_ms,
        settle: a.settle,
        duration: a.duration,
        kill: a.kill,
        kill_at: a.kill_at,
    };
    match run(&options).and_then(|r| serde_json::to_string(&r).map_err(|e| format!("cannot encode the report: {e}"))) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("foca-sim: {e}");
            std::process::exit(2);
        }
    }
}
