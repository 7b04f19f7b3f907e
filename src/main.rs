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
        /// Writes a timeline of the run (frames, window, progress, faults): `.svg` or `.html`.
        #[arg(long)]
        timeline: Option<PathBuf>,
        /// Overrides the scenario's profile: `reference` or `seed`.
        #[arg(long)]
        profile: Option<chatsim::profile::Profile>,
        /// Adds one of the seed's quirks (repeatable), e.g. `--quirk append_chunks`.
        #[arg(long = "quirk")]
        quirks: Vec<chatsim::profile::Quirk>,
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
            timeline,
            profile,
            quirks,
        } => run(&RunArgs {
            path: scenario,
            seed,
            trace,
            timeline,
            profile,
            quirks,
        }),
    }
}

struct RunArgs {
    path: PathBuf,
    seed: Option<u64>,
    trace: Option<PathBuf>,
    timeline: Option<PathBuf>,
    profile: Option<chatsim::profile::Profile>,
    quirks: Vec<chatsim::profile::Quirk>,
}

fn run(args: &RunArgs) -> ExitCode {
    let path = &args.path;
    let scenario = match chatsim::scenario::load(path) {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let options = chatsim::sim::RunOptions {
        seed: args.seed.unwrap_or(scenario.seed),
        profile: args.quirks.iter().fold(
            args.profile.clone().unwrap_or_else(|| scenario.profile()),
            |p, q| p.with(*q),
        ),
    };
    let outcome = chatsim::sim::run_with(&scenario, &options);
    if let Some(trace_path) = &args.trace {
        if let Err(err) = std::fs::write(trace_path, chatsim::trace::to_jsonl(&outcome.records)) {
            eprintln!(
                "error: cannot write the trace to {}: {err}",
                trace_path.display()
            );
            return ExitCode::from(2);
        }
    }
    if let Some(timeline_path) = &args.timeline {
        let title = path.display().to_string();
        let picture = match timeline_path.extension().and_then(|e| e.to_str()) {
            Some("svg") => chatsim::timeline::render_svg(&outcome.records, &title),
            _ => chatsim::timeline::render_html(&outcome.records, &title),
        };
        if let Err(err) = std::fs::write(timeline_path, picture) {
            eprintln!(
                "error: cannot write the timeline to {}: {err}",
                timeline_path.display()
            );
            return ExitCode::from(2);
        }
    }
    print!(
        "{}",
        chatsim::report::summary(&path.display().to_string(), &outcome)
    );
    if outcome.passed() {
        println!("result    PASS (the run met the scenario's expectation)");
        ExitCode::SUCCESS
    } else {
        for unmet in &outcome.expectation.unmet {
            println!("unmet     {unmet}");
        }
        println!("result    FAIL");
        println!(
            "reproduce {}",
            chatsim::report::reproduce_command(path, &options)
        );
        ExitCode::from(1)
    }
}
