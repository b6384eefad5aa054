//! `rumor sim`: one scenario on the deterministic simulator (`rumor-sim`).

/// Flags of `rumor sim`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Simulation seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs the scenario and prints its report.
pub fn run(args: &SimArgs) -> Result<(), String> {
    Err(format!("rumor sim is not implemented yet ({} nodes, seed {})", args.nodes, args.seed))
}
