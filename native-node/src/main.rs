//! The `rumor` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Rumor: gossip cluster membership (SWIM + Lifeguard).
#[derive(Parser, Debug)]
#[command(name = "rumor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one simulated scenario on virtual time (thousands of real protocol nodes, one thread).
    Sim(rumor_node::simulate::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => rumor_node::simulate::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rumor: {e}");
            ExitCode::FAILURE
        }
    }
}
