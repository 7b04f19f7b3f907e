//! Runs one schedule exactly as `chatsim run` would run its file, and judges it by the oracles'
//! verdicts alone (not by the scenario's expectation, which may ask for more than random faults
//! promise). A panic of the world itself counts as a failure too.

use super::schedule::Schedule;
use crate::scenario;
use crate::sim::{self, RunOptions};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

/// Not an oracle: the generator wrote a scenario the parser refused (a bug of the explorer).
pub const INVALID_SCHEDULE: &str = "invalid_schedule";
/// Not an oracle: the world itself panicked outside any party.
pub const WORLD_PANIC: &str = "world_panic";

/// What one run of a schedule showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// The violated oracles in report order (or one of the two pseudo-oracles above).
    pub violated: Vec<String>,
    /// The first violation, as `oracle at T ms on HOST: detail`.
    pub detail: String,
    pub sim_time: Duration,
}

impl Judged {
    pub fn failed(&self) -> bool {
        !self.violated.is_empty()
    }
}

/// Parses the schedule's text as a scenario file, runs it and judges it.
pub fn judge(schedule: &Schedule) -> Judged {
    judge_text(&schedule.to_toml())
}

/// The same for scenario text.
pub fn judge_text(text: &str) -> Judged {
    let scenario = match scenario::parse(Path::new("explore.toml"), text) {
        Ok(scenario) => scenario,
        Err(err) => {
            return Judged {
                violated: vec![INVALID_SCHEDULE.into()],
                detail: format!("{INVALID_SCHEDULE}: {err}"),
                sim_time: Duration::ZERO,
            }
        }
    };
    let options = RunOptions::of(&scenario);
    match catch_unwind(AssertUnwindSafe(|| sim::run_with(&scenario, &options))) {
        Ok(outcome) => {
            let broken: Vec<_> = outcome
                .verdicts
                .iter()
                .filter_map(|v| v.violation.as_ref().map(|x| (v.oracle, x)))
                .collect();
            Judged {
                violated: broken.iter().map(|(o, _)| (*o).to_owned()).collect(),
                detail: broken
                    .first()
                    .map(|(o, x)| format!("{o} at {} ms on {}: {}", x.t_ms, x.host, x.detail))
                    .unwrap_or_default(),
                sim_time: outcome.sim_time,
            }
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-text panic".into());
            Judged {
                violated: vec![WORLD_PANIC.into()],
                detail: format!("{WORLD_PANIC}: {message}"),
                sim_time: Duration::ZERO,
            }
        }
    }
}
