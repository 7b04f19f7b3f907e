//! The `chatsim` command: thin; parses arguments, calls the library, prints.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "chatsim",
    version,
    about = "Deterministic simulation of a chat system's image transfer protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario in the simulated world, prints a summary and judges it.
    ///
    /// Exit codes: 0 every check held, 1 a check failed, 2 bad scenario file or arguments.
    Run {
        /// The scenario file (TOML; see scenarios/README.md).
        scenario: PathBuf,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Writes the trace here as JSON Lines.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // clap uses 0 for --help/--version and 2 for usage errors, which is our convention.
            return ExitCode::from(err.exit_code() as u8);
        }
    };
    match cli.command {
        Command::Run {
            scenario,
            seed,
            trace,
        } => run(&scenario, seed, trace.as_deref()),
    }
}

fn run(path: &std::path::Path, seed: Option<u64>, trace: Option<&std::path::Path>) -> ExitCode {
    let scenario = match chatsim::scenario::load(path) {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let seed = seed.unwrap_or(scenario.seed);
    let outcome = chatsim::sim::run(&scenario, seed);
    if let Some(trace_path) = trace {
        if let Err(err) = std::fs::write(trace_path, chatsim::trace::to_jsonl(&outcome.records)) {
            eprintln!(
                "error: cannot write the trace to {}: {err}",
                trace_path.display()
            );
            return ExitCode::from(2);
        }
    }
    print!(
        "{}",
        chatsim::report::summary(&path.display().to_string(), &outcome)
    );
    if outcome.passed() {
        println!("result    PASS");
        ExitCode::SUCCESS
    } else {
        println!("result    FAIL");
        println!("reproduce chatsim run {} --seed {seed}", path.display());
        ExitCode::from(1)
    }
}
