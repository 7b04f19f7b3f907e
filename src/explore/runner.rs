//! Runs one schedule exactly as `chatsim run` would run its file, and judges it by the oracles'
//! verdicts alone (not by the scenario's expectation, which may ask for more than random faults
//! promise). A panic of the world itself counts as a failure too.

use super::schedule::Schedule;
use crate::scenario;
use crate::sim::{self, RunOptions};
use std::collections::BTreeMap;
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
    /// Each violated oracle's kind of violation ([`violation_kind`]).
    pub kinds: BTreeMap<String, String>,
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
                kinds: BTreeMap::new(),
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
                kinds: broken
                    .iter()
                    .map(|(o, x)| ((*o).to_owned(), violation_kind(&x.detail)))
                    .collect(),
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
                kinds: BTreeMap::new(),
                sim_time: Duration::ZERO,
            }
        }
    }
}

/// What kind of violation a detail describes: the detail with its values masked (numbers as `#`,
/// quoted strings, lists, file names). "text 1-0-1 acked but never delivered" and "text 2-0-7
/// acked but never delivered" are one kind; "texts from 1 to 2 arrived in the order [..]" is
/// another kind of `messages` violation, which a shrink must not drift to.
pub fn violation_kind(detail: &str) -> String {
    let mut masked = String::new();
    let mut chars = detail.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '0'..='9' => {
                while chars.next_if(char::is_ascii_digit).is_some() {}
                masked.push('#');
            }
            '"' => {
                while chars.next().is_some_and(|c| c != '"') {}
                masked.push_str("\"..\"");
            }
            '[' => {
                let mut depth = 1;
                while depth > 0 {
                    match chars.next() {
                        Some('[') => depth += 1,
                        Some(']') | None => depth -= 1,
                        Some(_) => {}
                    }
                }
                masked.push_str("[..]");
            }
            c => masked.push(c),
        }
    }
    masked
        .split(' ')
        .map(mask_file_name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A word that names a file (`f#-h.png`, `(a.bin):`) becomes `<file>`, keeping its punctuation.
fn mask_file_name(word: &str) -> String {
    let core = word.trim_start_matches('(');
    let core = core.trim_end_matches([')', ',', ':', ';']);
    let is_file = core.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphabetic())
    });
    match is_file {
        true => word.replacen(core, "<file>", 1),
        false => word.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::violation_kind;

    #[test]
    fn a_violation_kind_masks_values_and_keeps_what_went_wrong() {
        let order = |got: &str| {
            violation_kind(&format!(
                "texts from 1 to 2 arrived in the order {got}, sent as [\"1-0-1\", \"1-0-2\"]"
            ))
        };
        assert_eq!(
            order("[\"1-0-2\", \"1-0-1\"]"),
            "texts from # to # arrived in the order [..], sent as [..]"
        );
        assert_eq!(order("[\"1-0-2\", \"1-0-1\"]"), order("[\"3-1-9\"]"));
        let lost = |id: &str| violation_kind(&format!("text {id} acked but never delivered"));
        assert_eq!(lost("1-0-1"), lost("12-3-40"));
        assert_ne!(lost("1-0-1"), order("[]"));
        let stalled = |name: &str, size: u32| {
            violation_kind(&format!(
                "image {name} ({size} bytes) to 3 never finished: waiting for its upload to \
                 finish ({name} was uploaded but its sender was never told)"
            ))
        };
        assert_eq!(stalled("f4-h.png", 73491), stalled("a.bin", 1));
        assert_eq!(
            stalled("a.bin", 1),
            "image <file> (# bytes) to # never finished: waiting for its upload to finish \
             (<file> was uploaded but its sender was never told)"
        );
        assert_ne!(
            stalled("a.bin", 1),
            violation_kind("image a.bin (1 bytes) to 3 never finished: waiting for the download")
        );
        // Times and sizes are values; a sentence's words are not file names.
        assert_eq!(violation_kind("took 1.5 s. Then"), "took #.# s. Then");
    }
}
