//! Exploration through `chatsim explore`'s own generator: a few fixed seeds must keep every
//! oracle, the same seed must give the same trace twice, and every generated schedule (and every
//! cut the shrinker may make) must be a valid scenario file.
//!
//! Slower checks, ignored by `cargo test` (run them in release):
//! - `EXPLORE_DETERMINISM_SEEDS=200 cargo test --release --test explore -- --ignored determinism_sweep`
//! - `EXPLORE_CAP=2000 cargo test --release --test explore -- --ignored --nocapture seeds_to_first_failure`

#[path = "common/env_number.rs"]
mod env_number;

use chatsim::explore::{self, Config, Schedule, Seeds};
use chatsim::profile::{Profile, Quirk};
use chatsim::sim;
use env_number::env_number;
use std::path::Path;

fn trace_of(schedule: &Schedule) -> String {
    let scenario = chatsim::scenario::parse(Path::new("explore.toml"), &schedule.to_toml())
        .expect("a valid scenario");
    let outcome = sim::run_with(&scenario, &sim::RunOptions::of(&scenario));
    chatsim::trace::to_jsonl(&outcome.records)
}

/// Seeds from `from` on whose schedules are light enough for a debug build: little data, no
/// slow link, a short run.
fn light_seeds(from: u64, n: usize) -> Vec<u64> {
    (from..)
        .filter(|&seed| {
            let s = explore::generate(seed, &Profile::reference());
            let bytes: u64 = s
                .actions
                .iter()
                .filter_map(|a| match &a.what {
                    explore::schedule::What::Images(files) => {
                        Some(files.iter().map(|f| f.size).sum::<u64>())
                    }
                    _ => None,
                })
                .sum();
            bytes < 150_000 && s.bandwidth_kbps.is_none() && s.faults.len() <= 2
        })
        .take(n)
        .collect()
}

#[test]
fn every_generated_schedule_is_a_valid_scenario_and_prints_the_same_twice() {
    for seed in 0..500 {
        let schedule = explore::generate(seed, &Profile::reference());
        assert_eq!(schedule, explore::generate(seed, &Profile::reference()));
        let text = schedule.to_toml();
        if let Err(err) = chatsim::scenario::parse(Path::new("explore.toml"), &text) {
            panic!("seed {seed}: {err}\n{text}");
        }
        // The shrinker drops users and actions; what remains must still load.
        for cut in 0..schedule.users.len() {
            let mut smaller = schedule.clone();
            smaller.users.remove(cut);
            let text = smaller.to_toml();
            if let Err(err) = chatsim::scenario::parse(Path::new("explore.toml"), &text) {
                panic!("seed {seed} without user {cut}: {err}\n{text}");
            }
        }
        let mut no_files = schedule.clone();
        no_files
            .actions
            .retain(|a| !matches!(a.what, explore::schedule::What::Images(_)));
        chatsim::scenario::parse(Path::new("explore.toml"), &no_files.to_toml())
            .unwrap_or_else(|e| panic!("seed {seed} without files: {e}"));
    }
}

#[test]
fn the_generator_makes_every_kind_of_fault_and_a_hostile_user() {
    let all: String = (0..300)
        .map(|seed| explore::generate(seed, &Profile::reference()).to_toml())
        .collect();
    for kind in [
        "partition",
        "heal",
        "hold",
        "release",
        "reset",
        "restart",
        "crash",
        "bounce",
        "disk_error",
        "disk_full",
        "disk_ok",
        "kind = \"store_crash\"\nhost = \"chat\"",
        "kind = \"store_crash\"\nhost = \"resource\"",
        "op = \"add_chunks\"",
        "oneway = true",
        "bandwidth_kbps",
        "\"drop\"",
        "\"delay\"",
        "\"duplicate\"",
        "\"reorder\"",
        "\"corrupt\"",
        "\"slice\"",
        "\"rewrite\"",
        "set = { uid",
        "set = { message_id",
        "set = { receiver",
        "set = { seq = 0",
        "../",
        "images = [",
        "pause =",
        "resume =",
        "cancel =",
        "logout =",
        "login =",
        "size = 32768,",
        "size = 32767,",
        "size = 32769,",
        "contents = [\"\"",
    ] {
        assert!(all.contains(kind), "300 seeds never produced {kind}");
    }
}

#[test]
fn a_few_fixed_seeds_keep_every_oracle() {
    for seed in light_seeds(0, 3) {
        let schedule = explore::generate(seed, &Profile::reference());
        let judged = explore::judge(&schedule);
        assert!(
            !judged.failed(),
            "seed {seed} failed: {}\nreproduce: chatsim explore --print {seed} > s.toml && chatsim run s.toml\n{}",
            judged.detail,
            schedule.to_toml()
        );
    }
}

/// `chatsim explore --print SEED > s.toml && chatsim run s.toml` must agree with the explorer:
/// `run` judges the file's expectation, which also asks every non-optional fault to fire.
#[test]
fn a_printed_seed_passes_chatsim_run_exactly_when_the_explorer_passes_it() {
    for seed in light_seeds(0, 6) {
        let schedule = explore::generate(seed, &Profile::reference());
        let text = schedule.to_toml();
        let scenario = chatsim::scenario::parse(Path::new("printed.toml"), &text).unwrap();
        let outcome = sim::run(&scenario, seed);
        let judged = explore::judge(&schedule);
        assert_eq!(
            outcome.passed(),
            !judged.failed(),
            "seed {seed}: run says {:?}, explore says {:?}\n{text}",
            outcome.expectation.unmet,
            judged.violated
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_trace_twice() {
    let seed = light_seeds(100, 1)[0];
    let schedule = explore::generate(seed, &Profile::reference());
    let first = trace_of(&schedule);
    assert!(first.lines().count() > 20, "too short a trace to compare");
    assert_eq!(first, trace_of(&schedule), "seed {seed} gave two traces");
}

#[test]
fn a_planted_bug_is_found_and_shrunk_to_a_few_lines_that_reproduce_it() {
    // Seed quirk 11 stores every image message as a text: any seed with a file finds it.
    let seed = light_seeds(0, 1)[0];
    let out = std::env::temp_dir().join(format!("chatsim-explore-test-{}", std::process::id()));
    let mut config = Config::new(
        Seeds::range(seed, seed + 1),
        Profile::reference().with(Quirk::ImageAsText),
    );
    config.out = Some(out.clone());
    let report = explore::explore(&config, |_| {});
    assert_eq!(
        (report.seeds_run, report.failures.len()),
        (1, 1),
        "{report:?}"
    );
    let failure = &report.failures[0];
    assert_eq!(failure.target, "notify", "{failure:?}");
    let file = failure.file.clone().expect("a shrunk file");
    assert_eq!(file, out.join(format!("seed-{seed}.toml")));
    let text = std::fs::read_to_string(&file).unwrap();
    let lines = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert!(lines <= 12, "not shrunk to a few lines:\n{text}");
    // What `chatsim run <file>` runs: the file, through the ordinary parser, quirk included.
    let scenario = chatsim::scenario::load(&file).unwrap();
    assert!(scenario.profile().has(Quirk::ImageAsText));
    let rerun = explore::judge_text(&text);
    assert!(rerun.violated.contains(&"notify".to_owned()), "{rerun:?}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Spawns `n` tokio tasks, moving tokio's process-wide task id counter on by `n`.
fn use_up_task_ids(n: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        for _ in 0..n {
            tokio::spawn(async {}).await.expect("an empty task");
        }
    });
}

/// Found 6 (explore seed 11): a crashed host's tasks are dropped in an order that follows tokio's
/// task ids, so its connections closed in an order that depended on what the process ran before.
#[test]
fn a_restarted_chat_server_closes_its_connections_in_the_same_order_whatever_ran_before() {
    let text = r#"
        seed = 11
        time_limit_s = 5
        [[users]]
        uid = 1
        [[users]]
        uid = 2
        [[users]]
        uid = 3
        [[actions]]
        at_ms = 100
        user = 1
        text = { to = 2, contents = ["hi"] }
        [[faults]]
        at_ms = 1000
        kind = "restart"
        host = "chat"
        after_ms = 200
    "#;
    let scenario = chatsim::scenario::parse(Path::new("restart.toml"), text).expect("valid");
    let run = || {
        let outcome = sim::run_with(&scenario, &sim::RunOptions::of(&scenario));
        chatsim::trace::to_jsonl(&outcome.records)
    };
    let first = run();
    for shift in 1..8 {
        use_up_task_ids(shift);
        assert!(
            run() == first,
            "the trace changed after {shift} more tokio tasks ran in this process"
        );
    }
}

#[test]
#[ignore = "slow: run in release"]
fn determinism_sweep() {
    let n: u64 = env_number("EXPLORE_DETERMINISM_SEEDS", 200);
    for seed in 0..n {
        let schedule = explore::generate(seed, &Profile::reference());
        let (first, second) = (trace_of(&schedule), trace_of(&schedule));
        if let Some((i, (a, b))) = first
            .lines()
            .zip(second.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!(
                "seed {seed}: the traces differ at line {}:\n{a}\n{b}",
                i + 1
            );
        }
        assert_eq!(first, second, "seed {seed}: one trace is longer");
    }
}

#[test]
#[ignore = "slow: run in release"]
fn seeds_to_first_failure() {
    let cap: u64 = env_number("EXPLORE_CAP", 2000);
    let jobs = env_number(
        "EXPLORE_JOBS",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    println!(
        "quirk                  seeds to first failure (cap {cap}), oracles beyond the reference's"
    );
    let mut found = 0;
    for quirk in Quirk::ALL {
        let mut config = Config::new(Seeds::range(0, cap), Profile::reference().with(quirk));
        config.jobs = jobs;
        config.stop_on_failure = true;
        // What the quirk breaks, not what the reference already breaks on the same seed.
        config.baseline = Some(Profile::reference());
        let started = std::time::Instant::now();
        let report = explore::explore(&config, |_| {});
        match report.failures.first() {
            Some(f) => {
                found += 1;
                let took = started.elapsed().as_secs_f64();
                let (name, seeds) = (quirk.name(), f.seed + 1);
                let oracles = f.oracles.join(", ");
                println!("{name:<22} {seeds:>6}  {oracles:<34} {took:.1} s wall");
            }
            None => println!("{:<22} not found in {cap} seeds", quirk.name()),
        }
    }
    println!("found {found} of {}", Quirk::ALL.len());
    assert!(found >= 10, "only {found} of 12 quirks found");
}

#[test]
fn explore_window_adaptive_puts_the_window_in_every_printed_schedule() {
    let mut config = Config::new(Seeds::range(0, 1), Profile::reference());
    let fixed = config.schedule(3).to_toml();
    assert!(!fixed.contains("window ="), "{fixed}");
    config.window = chatsim::client::WindowPolicy::Adaptive;
    let text = config.schedule(3).to_toml();
    assert!(text.contains("window = \"adaptive\"\n"), "{text}");
    let scenario =
        chatsim::scenario::parse(Path::new("seed-3.toml"), &text).expect("a valid scenario");
    assert_eq!(scenario.window, chatsim::client::WindowPolicy::Adaptive);
}
