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
        /// Writes the trace in the Chrome Trace Event format, for ui.perfetto.dev or
        /// chrome://tracing: a track per host and connection, a slice per chunk.
        #[arg(long, value_name = "FILE")]
        perfetto: Option<PathBuf>,
        /// How to print the report: `text` (default) or `json` (for scripts and CI).
        #[arg(long, value_enum, default_value = "text")]
        summary: SummaryFormat,
        /// Overrides the scenario's profile: `reference` or `seed`.
        #[arg(long)]
        profile: Option<chatsim::profile::Profile>,
        /// Adds one of the seed's quirks (repeatable), e.g. `--quirk append_chunks`.
        #[arg(long = "quirk")]
        quirks: Vec<chatsim::profile::Quirk>,
        /// Overrides the scenario's upload window: `fixed5` (the seed's) or `adaptive`.
        #[arg(long)]
        window: Option<chatsim::client::WindowPolicy>,
        /// `quiet` (default) steps across quiet stretches at once; `every-tick` steps 1 ms at a
        /// time. Both give the same verdicts; traces may differ where two tasks were ready at once
        /// (see README "Stepping"). The second is the slow reference to check that by.
        #[arg(long, value_enum, default_value = "quiet")]
        stepping: chatsim::sim::Stepping,
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
        /// Adds one of the seed's quirks to the profile (repeatable), e.g.
        /// `--quirk append_chunks`: a server with one known bug, for trying a conformance suite.
        #[arg(long = "quirk")]
        quirks: Vec<chatsim::profile::Quirk>,
        /// Seconds an unfinished upload may go without a chunk before it expires (its file is
        /// deleted and its chunks refused).
        #[arg(long, default_value_t = 3600)]
        upload_ttl: u64,
        /// 1, or 2 for two chat servers (`chat1` at --chat-addr/--grpc-addr, `chat2` at
        /// --chat2-addr/--grpc2-addr) sharing presence, with texts and notifies routed to the
        /// server that holds the receiver, as upstream's `chatserver1` and `chatserver2`.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        chat_servers: u8,
        /// Where clients reach the second chat server (with --chat-servers 2).
        #[arg(long, default_value = "127.0.0.1:8092")]
        chat2_addr: String,
        /// Where the second chat server serves gRPC (with --chat-servers 2).
        #[arg(long, default_value = "127.0.0.1:50052")]
        grpc2_addr: String,
    },
    /// Runs conformance cases against a chat server and a resource server over real TCP.
    ///
    /// Prints one line per case and a summary. Exit codes: 0 nothing failed, 1 a case failed,
    /// 2 the run could not start (for example nothing listens at --resource).
    Conform(ConformArgs),
    /// Explores random fault schedules, VOPR style: each seed becomes one scenario, run and
    /// judged by the oracles; a failing seed is shrunk to a scenario file `chatsim run` replays.
    ///
    /// Exit codes: 0 no seed failed, 1 a seed failed, 2 bad arguments or a file not written.
    Explore(ExploreArgs),
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
            perfetto,
            summary,
            profile,
            quirks,
            window,
            stepping,
        } => run(&RunArgs {
            path: scenario,
            seed,
            trace,
            timeline,
            perfetto,
            summary,
            profile,
            quirks,
            window,
            stepping,
        }),
        Command::Serve {
            chat_addr,
            resource_addr,
            grpc_addr,
            notify_addr,
            data_dir,
            users,
            profile,
            quirks,
            upload_ttl,
            chat_servers,
            chat2_addr,
            grpc2_addr,
        } => serve(
            chatsim::serve::ServeConfig {
                chat_addr,
                resource_addr,
                grpc_addr,
                notify_addr,
                data_dir,
                users: chatsim::serve::demo_users(),
                profile: quirks.iter().fold(profile, |p, q| p.with(*q)),
                chat2: (chat_servers == 2).then_some(chatsim::serve::SecondChat {
                    chat_addr: chat2_addr,
                    grpc_addr: grpc2_addr,
                }),
                ..chatsim::serve::ServeConfig::new(std::path::PathBuf::new())
            },
            users.as_deref(),
            std::time::Duration::from_secs(upload_ttl),
        ),
        Command::Conform(args) => conform(args),
        Command::Explore(args) => {
            restore_sigpipe();
            explore(args)
        }
    }
}

struct RunArgs {
    path: PathBuf,
    seed: Option<u64>,
    trace: Option<PathBuf>,
    timeline: Option<PathBuf>,
    perfetto: Option<PathBuf>,
    summary: SummaryFormat,
    profile: Option<chatsim::profile::Profile>,
    quirks: Vec<chatsim::profile::Quirk>,
    window: Option<chatsim::client::WindowPolicy>,
    stepping: chatsim::sim::Stepping,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SummaryFormat {
    Text,
    Json,
}

fn run(args: &RunArgs) -> ExitCode {
    restore_sigpipe();
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
        window: args.window.unwrap_or(scenario.window),
        stepping: args.stepping,
        ..chatsim::sim::RunOptions::of(&scenario)
    };
    let outcome = chatsim::sim::run_with(&scenario, &options);
    if let Err(code) = write_outputs(args, &outcome) {
        return code;
    }
    if let SummaryFormat::Json = args.summary {
        print!(
            "{}",
            chatsim::report::summary_json(&path.display().to_string(), &outcome)
        );
        return if outcome.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
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

/// Writes the files a run was asked for: the trace, the timeline, the Perfetto trace.
fn write_outputs(args: &RunArgs, outcome: &chatsim::sim::Outcome) -> Result<(), ExitCode> {
    let title = args.path.display().to_string();
    let mut files: Vec<(&PathBuf, &str, String)> = Vec::new();
    if let Some(path) = &args.trace {
        files.push((path, "trace", chatsim::trace::to_jsonl(&outcome.records)));
    }
    if let Some(path) = &args.timeline {
        let picture = match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => chatsim::timeline::render_svg(&outcome.records, &title),
            _ => chatsim::timeline::render_html(&outcome.records, &title),
        };
        files.push((path, "timeline", picture));
    }
    if let Some(path) = &args.perfetto {
        let markers: Vec<_> = outcome
            .verdicts
            .iter()
            .filter_map(|v| {
                v.violation.as_ref().map(|x| chatsim::perfetto::Marker {
                    t_ms: x.t_ms,
                    host: &x.host,
                    label: format!("{} violated: {}", v.oracle, x.detail),
                })
            })
            .collect();
        let json = chatsim::perfetto::chrome_trace(&outcome.records, &title, &markers);
        files.push((path, "Perfetto trace", json));
    }
    for (path, what, contents) in files {
        if let Err(err) = std::fs::write(path, contents) {
            eprintln!(
                "error: cannot write the {what} to {}: {err}",
                path.display()
            );
            return Err(ExitCode::from(2));
        }
    }
    Ok(())
}

/// Rust ignores SIGPIPE, so printing to a closed pipe (`chatsim run x | head`) would panic; the
/// default action ends the process quietly, as other command-line tools do. Only for commands that
/// touch no real socket: a server writing to a peer that reset would be killed by it.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
    /// A second chat server of the same system (sharing users and presence, e.g. `chatsim
    /// serve --chat-servers 2`); without it the two-server cases (section 14) do not run.
    #[arg(long)]
    chat2: Option<String>,
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
    /// Writes the report as a self-contained HTML page here: a table per section with each
    /// case's verdict, reason and frames.
    #[arg(long)]
    html: Option<PathBuf>,
    /// The limit of every single wait, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
    /// A shell command that starts the servers under test. When a server stops accepting
    /// connections after a case, that case fails, conform runs this command and waits (up to
    /// 20 s) until every address accepts again, then goes on; without it the remaining cases
    /// cannot run. What the command started is stopped when the run ends.
    #[arg(long, value_name = "CMD")]
    restart: Option<String>,
    /// Lists the case ids and exits.
    #[arg(long)]
    list: bool,
}

fn conform(args: ConformArgs) -> ExitCode {
    init_logging("warn");
    let mut options = chatsim::conform::Options::new(args.resource.unwrap_or_default());
    options.chat = args.chat;
    options.chat2 = args.chat2;
    options.notify_listen = args.notify_listen;
    options.cases = args.cases;
    options.skip = args.skip;
    options.restart = args.restart;
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
    let invented = report.invented_ids();
    if !invented.is_empty() {
        println!(
            "{} cases uploaded under message ids conform invented (no chat message behind them; \
             a server that looks them up cannot serve them): {}",
            invented.len(),
            invented.join(", ")
        );
    }
    println!("finished in {:.1} s", started.elapsed().as_secs_f64());
    for (path, text, what) in [
        (&args.json, report.to_json(), "JSON report"),
        (&args.junit, report.to_junit(), "JUnit report"),
        (&args.html, report.to_html(), "HTML report"),
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

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct ExploreArgs {
    #[command(subcommand)]
    command: Option<ExploreCommand>,
    /// The seeds to run, `A..B` (B excluded).
    #[arg(long, value_name = "A..B", value_parser = parse_seed_range, conflicts_with_all = ["count", "seed"])]
    seeds: Option<(u64, u64)>,
    /// How many seeds to run, from --seed on.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `reference` (default) or `seed`.
    #[arg(long)]
    profile: Option<chatsim::profile::Profile>,
    /// Adds one of the seed's quirks (repeatable).
    #[arg(long = "quirk")]
    quirks: Vec<chatsim::profile::Quirk>,
    /// Simulations run at once, one per worker thread (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Runs only shard K of N (1-based) of the seeds: independent processes split a range.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Where shrunk scenarios of failing seeds go, as seed-<n>.toml.
    #[arg(long, value_name = "DIR", default_value = "explore-failures")]
    out: PathBuf,
    /// Writes the report (seeds, failures, shrunk files, rate) as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Replaces every schedule's time limit (simulated seconds).
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    time_limit: Option<u64>,
    /// Prints the scenario file of this seed's schedule and exits.
    #[arg(long, value_name = "SEED")]
    print: Option<u64>,
    /// Stops at the first failing seed (after shrinking it).
    #[arg(long)]
    stop_on_failure: bool,
    /// 2 draws worlds of two chat servers (`chat1`, `chat2`): users on either, faults on either
    /// and on the link between them, users moving between them. Pass it with --print too.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    chat_servers: u8,
    /// The clients' upload window in every schedule: `fixed5` (the default, the seed's) or
    /// `adaptive`. Pass it with --print too.
    #[arg(long)]
    window: Option<chatsim::client::WindowPolicy>,
    /// At most this many simulations to shrink one failing seed (0: do not shrink, write the
    /// whole schedule).
    #[arg(long, value_name = "N", default_value_t = 300)]
    shrink_runs: usize,
    /// At most this many wall seconds to shrink one failing seed.
    #[arg(long, value_name = "S", default_value_t = 120)]
    shrink_secs: u64,
}

#[derive(Subcommand)]
enum ExploreCommand {
    /// Combines the JSON reports of several shards into one.
    Merge {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Writes the merged report here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

fn parse_seed_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?} is not a range A..B"))?;
    let number = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|e| format!("{x:?} in {s:?}: {e}"))
    };
    let (a, b) = (number(a)?, number(b)?);
    if a >= b {
        return Err(format!("the range {s:?} is empty; B must be above A"));
    }
    Ok((a, b))
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{s:?} is not a shard K/N with 1 <= K <= N");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn explore(args: ExploreArgs) -> ExitCode {
    if let Some(ExploreCommand::Merge { reports, json }) = &args.command {
        return explore_merge(reports, json.as_deref());
    }
    let profile = args
        .quirks
        .iter()
        .fold(args.profile.clone().unwrap_or_default(), |p, q| p.with(*q));
    let (start, end) = args
        .seeds
        .unwrap_or((args.seed, args.seed.saturating_add(args.count)));
    let mut config = chatsim::explore::Config::new(
        chatsim::explore::Seeds {
            start,
            end,
            shard: args.shard,
        },
        profile,
    );
    config.time_limit_s = args.time_limit;
    config.chat_servers = args.chat_servers;
    config.window = args.window.unwrap_or_default();
    if let Some(seed) = args.print {
        print!("{}", config.schedule(seed).to_toml());
        return ExitCode::SUCCESS;
    }
    config.jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    config.out = Some(args.out);
    config.shrink.runs = args.shrink_runs;
    config.shrink.wall = std::time::Duration::from_secs(args.shrink_secs);
    config.stop_on_failure = args.stop_on_failure;
    println!(
        "exploring seeds {start}..{end}{} ({} seeds), profile {}, {} job(s)",
        args.shard
            .map(|(k, n)| format!(" shard {k}/{n}"))
            .unwrap_or_default(),
        config.seeds.len(),
        config.profile.label(),
        config.jobs
    );
    let report = chatsim::explore::progress::explore_with_bar(&config);
    print!("{}", report.summary());
    finish_report(&report, args.json.as_deref())
}

fn explore_merge(paths: &[PathBuf], json: Option<&std::path::Path>) -> ExitCode {
    let parts: Result<Vec<_>, String> = paths
        .iter()
        .map(|p| chatsim::explore::Report::load(p))
        .collect();
    let merged = match parts.and_then(|parts| chatsim::explore::Report::merge(&parts)) {
        Ok(merged) => merged,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    print!("{}", merged.summary());
    finish_report(&merged, json)
}

/// Writes the JSON report if asked; exit 1 when a seed failed.
fn finish_report(report: &chatsim::explore::Report, json: Option<&std::path::Path>) -> ExitCode {
    if let Some(path) = json {
        if let Err(err) = std::fs::write(path, report.to_json()) {
            eprintln!(
                "error: cannot write the report to {}: {err}",
                path.display()
            );
            return ExitCode::from(2);
        }
        println!("report    {}", path.display());
    }
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
