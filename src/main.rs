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
    /// Runs the reference chat server and resource server on real TCP until Ctrl-C.
    ///
    /// Files go under DATA_DIR/files, messages and upload state into DATA_DIR/chatsim.db
    /// (SQLite), so a restart loses nothing that was acknowledged. Logs go to stderr, filtered
    /// by RUST_LOG (default: info). Exit codes: 0 stopped by Ctrl-C, 1 a server failed while
    /// running, 2 could not start.
    Serve {
        /// Where clients reach the chat server.
        #[arg(long, default_value = "127.0.0.1:8090")]
        chat_addr: String,
        /// Where clients reach the resource server.
        #[arg(long, default_value = "127.0.0.1:8091")]
        resource_addr: String,
        /// Where the chat server serves gRPC (message.ChatService) for the resource server.
        #[arg(long, default_value = "127.0.0.1:50051")]
        grpc_addr: String,
        /// Where the resource server sends its notify (default: --grpc-addr). Point it at
        /// `chatsim conform --notify-listen ADDR` to check the notify from outside.
        #[arg(long)]
        notify_addr: Option<String>,
        /// Storage: uploaded files and the SQLite database.
        #[arg(long, default_value = "chatsim-data")]
        data_dir: PathBuf,
        /// A TOML file of `[[users]]` with uid, token and name (default: the demo users
        /// uid 1 "token-1" alice and uid 2 "token-2" bob).
        #[arg(long)]
        users: Option<PathBuf>,
        /// `reference` (correct) or `seed` (the original system's bugs).
        #[arg(long, default_value = "reference")]
        profile: chatsim::profile::Profile,
        /// Seconds an unfinished upload may go without a chunk before it expires (its file is
        /// deleted and its chunks refused).
        #[arg(long, default_value_t = 3600)]
        upload_ttl: u64,
    },
    /// Runs conformance cases against a chat server and a resource server over real TCP.
    ///
    /// Prints one line per case and a summary. Exit codes: 0 nothing failed, 1 a case failed,
    /// 2 the run could not start (for example nothing listens at --resource).
    Conform(ConformArgs),
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
        Command::Serve {
            chat_addr,
            resource_addr,
            grpc_addr,
            notify_addr,
            data_dir,
            users,
            profile,
            upload_ttl,
        } => serve(
            chatsim::serve::ServeConfig {
                chat_addr,
                resource_addr,
                grpc_addr,
                notify_addr,
                data_dir,
                users: chatsim::serve::demo_users(),
                profile,
            },
            users.as_deref(),
            std::time::Duration::from_secs(upload_ttl),
        ),
        Command::Conform(args) => conform(args),
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

/// Logs to stderr, filtered by RUST_LOG, or at `default` when it is not set.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|err| {
        eprintln!("error: cannot start the async runtime: {err}");
        ExitCode::from(2)
    })
}

fn serve(
    mut config: chatsim::serve::ServeConfig,
    users: Option<&std::path::Path>,
    upload_ttl: std::time::Duration,
) -> ExitCode {
    init_logging("info");
    if let Some(path) = users {
        match chatsim::serve::load_users(path) {
            Ok(loaded) => config.users = loaded,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    print!("{}", chatsim::serve::banner(&config));
    let served = runtime.block_on(chatsim::serve::run_until_ctrl_c(
        &config,
        upload_ttl,
        || {
            println!("ready; Ctrl-C stops");
        },
    ));
    match served {
        Ok(()) => {
            println!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            // A server that failed after starting is 1; one that never started is 2.
            let started = matches!(err, chatsim::serve::ServeError::Stopped { .. });
            ExitCode::from(if started { 1 } else { 2 })
        }
    }
}

#[derive(clap::Args)]
struct ConformArgs {
    /// The resource server under test (host:port).
    #[arg(long, required_unless_present = "list")]
    resource: Option<String>,
    /// The chat server under test; without it the chat cases do not run.
    #[arg(long)]
    chat: Option<String>,
    /// Serve message.ChatService here and check the resource server's notify; the server
    /// under test must be configured to notify this address.
    #[arg(long)]
    notify_listen: Option<String>,
    /// A TOML file of `[[users]]` (uid, token, name) the servers know; default: the demo
    /// users of `chatsim serve`.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Runs only the cases matching this glob (repeatable), e.g. `upload/*`, `3.*`, `3.4`.
    #[arg(long = "case", value_name = "GLOB")]
    cases: Vec<String>,
    /// Leaves out the cases matching this glob (repeatable).
    #[arg(long = "skip", value_name = "GLOB")]
    skip: Vec<String>,
    /// Writes the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Writes the report as JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// The limit of every single wait, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
    /// Lists the case ids and exits.
    #[arg(long)]
    list: bool,
}

fn conform(args: ConformArgs) -> ExitCode {
    init_logging("warn");
    let mut options = chatsim::conform::Options::new(args.resource.unwrap_or_default());
    options.chat = args.chat;
    options.notify_listen = args.notify_listen;
    options.cases = args.cases;
    options.skip = args.skip;
    options.timeout = std::time::Duration::from_millis(args.timeout_ms.max(1));
    if let Some(path) = &args.users {
        match chatsim::serve::load_users(path) {
            Ok(users) => options.users = users,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        }
    }
    if args.list {
        return match chatsim::conform::selected_ids(&options) {
            Ok(ids) => {
                ids.iter().for_each(|id| println!("{id}"));
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(2)
            }
        };
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let or_none = |addr: &Option<String>, cases: &str| {
        addr.clone()
            .unwrap_or_else(|| format!("(none: {cases} cases will not run)"))
    };
    println!(
        "chatsim conform: resource {}, chat {}, notify listener {}, timeout {} ms",
        options.resource,
        or_none(&options.chat, "chat"),
        or_none(&options.notify_listen, "notify"),
        options.timeout.as_millis()
    );
    let started = std::time::Instant::now();
    let report = match runtime.block_on(chatsim::conform::run(&options, |case| {
        print!("{}", chatsim::conform::case_lines(case));
    })) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: the run could not start: {err}");
            if matches!(err, chatsim::conform::StartError::NothingListens { .. }) {
                eprintln!(
                    "hint: is the server running? `chatsim serve` starts the reference servers"
                );
            }
            return ExitCode::from(2);
        }
    };
    println!("{}", report.summary_line());
    println!("finished in {:.1} s", started.elapsed().as_secs_f64());
    for (path, text, what) in [
        (&args.json, report.to_json(), "JSON report"),
        (&args.junit, report.to_junit(), "JUnit report"),
    ] {
        if let Some(path) = path {
            if let Err(err) = std::fs::write(path, text) {
                let path = path.display();
                eprintln!("error: cannot write the {what} to {path}: {err}");
                return ExitCode::from(2);
            }
            println!("{what} written to {}", path.display());
        }
    }
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
