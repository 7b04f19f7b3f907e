//! `chatsim explore`: VOPR-style exploration. Each u64 seed becomes one schedule
//! ([`generate`]), the schedule becomes scenario text ([`Schedule::to_toml`]) that the ordinary
//! parser reads, the world runs it, and the oracles judge it ([`runner`]). A failing seed is
//! shrunk ([`shrink`]) to a small scenario file that `chatsim run` reproduces. Seeds run on
//! worker threads, one whole simulation per thread at a time (each simulation is
//! single-threaded); `--shard K/N` splits the seeds among processes, and [`report`] merges them.

pub mod generate;
pub mod progress;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod shrink;

pub use generate::{generate, generate_two_chat, DEFAULT_TIME_LIMIT_S};
pub use report::{Failure, Range, Report};
pub use runner::{judge, judge_text, Judged};
pub use schedule::Schedule;
pub use shrink::Budget;

use crate::client::WindowPolicy;
use crate::profile::Profile;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// The seeds to explore: `[start, end)`, or one shard `K/N` of it (the seeds `start + K-1 + i*N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds {
    pub start: u64,
    pub end: u64,
    /// (K, N) with 1 ≤ K ≤ N.
    pub shard: Option<(u64, u64)>,
}

impl Seeds {
    pub fn range(start: u64, end: u64) -> Self {
        Seeds {
            start,
            end,
            shard: None,
        }
    }

    fn shard_or_whole(&self) -> (u64, u64) {
        self.shard.unwrap_or((1, 1))
    }

    /// How many seeds this shard runs.
    pub fn len(&self) -> u64 {
        let (k, n) = self.shard_or_whole();
        let total = self.end.saturating_sub(self.start);
        total.saturating_sub(k - 1).div_ceil(n)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The i-th seed of this shard.
    pub fn nth(&self, i: u64) -> u64 {
        let (k, n) = self.shard_or_whole();
        self.start + (k - 1) + i * n
    }
}

/// How to explore.
#[derive(Debug, Clone)]
pub struct Config {
    pub seeds: Seeds,
    pub profile: Profile,
    pub jobs: usize,
    /// Replaces the generated time limit (simulated seconds).
    pub time_limit_s: Option<u64>,
    /// Where shrunk scenarios go; `None` runs without shrinking or writing files.
    pub out: Option<PathBuf>,
    pub shrink: Budget,
    pub stop_on_failure: bool,
    /// When set, a seed fails only if it violates an oracle that the same seed keeps under
    /// this profile: with a quirk planted, what the quirk breaks, not what the world already
    /// breaks without it.
    pub baseline: Option<Profile>,
    /// 2 draws worlds of two chat servers ([`generate_two_chat`]).
    pub chat_servers: u8,
    /// The clients' upload window in every schedule.
    pub window: WindowPolicy,
}

impl Config {
    pub fn new(seeds: Seeds, profile: Profile) -> Self {
        Config {
            seeds,
            profile,
            jobs: 1,
            time_limit_s: None,
            out: None,
            shrink: Budget::default(),
            stop_on_failure: false,
            baseline: None,
            chat_servers: 1,
            window: WindowPolicy::Fixed5,
        }
    }

    /// The schedule of `seed` under this configuration.
    pub fn schedule(&self, seed: u64) -> Schedule {
        let mut schedule = match self.chat_servers {
            2 => generate_two_chat(seed, &self.profile),
            _ => generate(seed, &self.profile),
        };
        if let Some(limit) = self.time_limit_s {
            schedule.time_limit_s = limit;
        }
        schedule.window = self.window;
        schedule
    }
}

/// What the workers tell the caller as they go.
#[derive(Debug, Clone)]
pub enum Tick {
    /// A seed failed and is being shrunk.
    Shrinking { seed: u64, detail: String },
    /// A seed is done, failed or not.
    Done {
        seed: u64,
        failure: Option<Box<Failure>>,
    },
}

/// Explores every seed of `config`, `config.jobs` simulations at a time, telling `observe`
/// about each seed on the calling thread.
pub fn explore(config: &Config, mut observe: impl FnMut(&Tick)) -> Report {
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Tick>();
    let mut failures = Vec::new();
    let mut seeds_run = 0;
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            let (tx, next, stop) = (tx.clone(), &next, &stop);
            // Deeply nested futures of a whole world: a generous stack, as the main thread has.
            std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn_scoped(scope, move || worker(config, next, stop, &tx))
                .expect("a worker thread starts");
        }
        drop(tx);
        for tick in rx {
            observe(&tick);
            if let Tick::Done { failure, .. } = tick {
                seeds_run += 1;
                failures.extend(failure.map(|f| *f));
            }
        }
    });
    failures.sort_by_key(|f: &Failure| f.seed);
    let wall_s = started.elapsed().as_secs_f64();
    let (k, n) = config.seeds.shard_or_whole();
    Report {
        profile: config.profile.label(),
        ranges: vec![Range {
            start: config.seeds.start,
            end: config.seeds.end,
            shard: config.seeds.shard.map(|_| format!("{k}/{n}")),
        }],
        seeds_run,
        failures,
        wall_s,
        jobs: config.jobs.max(1),
        rate: seeds_run as f64 / wall_s.max(1e-9),
    }
}

fn worker(config: &Config, next: &AtomicU64, stop: &AtomicBool, tx: &mpsc::Sender<Tick>) {
    while !stop.load(Ordering::Relaxed) {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= config.seeds.len() {
            break;
        }
        let seed = config.seeds.nth(i);
        let schedule = config.schedule(seed);
        let judged = beyond_baseline(config, seed, judge(&schedule));
        let failure = judged.failed().then(|| {
            if config.stop_on_failure {
                stop.store(true, Ordering::Relaxed);
            }
            let _ = tx.send(Tick::Shrinking {
                seed,
                detail: judged.detail.clone(),
            });
            Box::new(fail(config, &schedule, &judged))
        });
        if tx.send(Tick::Done { seed, failure }).is_err() {
            break;
        }
    }
}

/// `judged` without the oracles the seed also violates under the baseline profile.
fn beyond_baseline(config: &Config, seed: u64, mut judged: Judged) -> Judged {
    let Some(baseline) = config.baseline.as_ref().filter(|_| judged.failed()) else {
        return judged;
    };
    let mut schedule = config.schedule(seed);
    schedule.profile = baseline.clone();
    let base = judge(&schedule);
    judged.violated.retain(|o| !base.violated.contains(o));
    if judged.violated.is_empty() {
        judged.detail.clear();
    }
    judged
}

/// Shrinks a failing schedule and writes it under `config.out`.
fn fail(config: &Config, schedule: &Schedule, judged: &Judged) -> Failure {
    let target = judged.violated[0].clone();
    let mut failure = Failure {
        seed: schedule.seed,
        oracles: judged.violated.clone(),
        target: target.clone(),
        detail: judged.detail.clone(),
        file: None,
        shrunk_detail: None,
        shrink_runs: 0,
    };
    let Some(dir) = &config.out else {
        return failure;
    };
    let shrunk = shrink::shrink(schedule, judged, &target, config.shrink);
    let path = dir.join(format!("seed-{}.toml", schedule.seed));
    match write_scenario(&path, &shrunk.schedule, &shrunk.judged) {
        Ok(()) => failure.file = Some(path),
        Err(err) => failure
            .detail
            .push_str(&format!(" (could not write {}: {err})", path.display())),
    }
    failure.shrunk_detail = Some(shrunk.judged.detail);
    failure.shrink_runs = shrunk.runs;
    failure
}

fn write_scenario(path: &Path, schedule: &Schedule, judged: &Judged) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let header = format!(
        "# Found by chatsim explore (seed {}), then shrunk. It violates: {}\n# {}\n# Reproduce: chatsim run {}\n",
        schedule.seed,
        judged.violated.join(", "),
        judged.detail.replace('\n', " "),
        path.display()
    );
    std::fs::write(path, header + &schedule.to_toml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_range_without_overlap_or_gaps() {
        let whole = Seeds::range(10, 27);
        assert_eq!(whole.len(), 17);
        let mut seen = Vec::new();
        for k in 1..=4 {
            let shard = Seeds {
                shard: Some((k, 4)),
                ..whole
            };
            seen.extend((0..shard.len()).map(|i| shard.nth(i)));
        }
        seen.sort();
        assert_eq!(seen, (10..27).collect::<Vec<_>>());
        let tiny = Seeds {
            shard: Some((3, 4)),
            ..Seeds::range(0, 2)
        };
        assert!(tiny.is_empty());
    }
}
