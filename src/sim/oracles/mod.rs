//! Oracles: named, stable checks computed from the trace alone (README.md, "Oracles"), one module
//! each with its tests. Each returns the first event that breaks it, so a report can say when and
//! where.

mod binding;
mod confinement;
mod durable_ack;
mod integrity;
mod liveness;
mod messages;
mod no_panic;
mod notify;
mod progress;
mod purge;
mod replies;
mod window;

pub use binding::binding;
pub use confinement::confinement;
pub use durable_ack::durable_ack;
pub use integrity::integrity;
pub use liveness::liveness;
pub use messages::messages;
pub use no_panic::no_panic;
pub use notify::notify;
pub use progress::progress;
pub use purge::purge;
pub use replies::replies;
pub use window::window;

use crate::trace::{Event, Record};
use serde::Serialize;
use std::collections::BTreeMap;

/// The oracles' ids are the scenario format's vocabulary (`expect.violated`), so the list lives
/// with the format; [`judge`] runs them in this order.
pub use crate::scenario::ORACLES;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub t_ms: u64,
    pub host: String,
    /// The offending trace line, as JSON.
    pub event: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub oracle: &'static str,
    pub violation: Option<Violation>,
    /// Where the oracle could not look, when it could not: neither a pass nor a violation, and
    /// never a met expectation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub could_not_judge: Option<Violation>,
    /// The run gave the oracle nothing to look at (`replies` in a run without probes): it
    /// holds, and the text summary does not claim that it looked.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nothing_to_judge: bool,
    /// What the oracle could not look at, each with why (a download of a file no user sent, an
    /// acked chunk of a name that is no source): a verdict that holds claims nothing about these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unjudged: Vec<String>,
}

/// What an oracle concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Holds,
    Violated(Violation),
    /// Part of the run was out of the oracle's sight (why, and where).
    CouldNotJudge(Violation),
    NothingToJudge,
}

impl From<Option<Violation>> for Judgement {
    fn from(violation: Option<Violation>) -> Self {
        violation.map_or(Judgement::Holds, Judgement::Violated)
    }
}

impl Verdict {
    pub fn new(oracle: &'static str, judgement: Judgement, unjudged: Vec<String>) -> Self {
        let mut verdict = Verdict {
            oracle,
            violation: None,
            could_not_judge: None,
            nothing_to_judge: false,
            unjudged,
        };
        match judgement {
            Judgement::Holds => {}
            Judgement::Violated(v) => verdict.violation = Some(v),
            Judgement::CouldNotJudge(v) => verdict.could_not_judge = Some(v),
            Judgement::NothingToJudge => verdict.nothing_to_judge = true,
        }
        verdict
    }
}

fn violation(record: &Record, detail: String) -> Violation {
    Violation {
        t_ms: record.t_ms,
        host: record.host.clone(),
        event: serde_json::to_string(record).unwrap_or_default(),
        detail,
    }
}

/// Each source file's chunk hashes, by file.
fn source_chunk_hashes(records: &[Record]) -> BTreeMap<&str, &Vec<String>> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::SourceFile {
                file, chunk_hashes, ..
            } => Some((file.as_str(), chunk_hashes)),
            _ => None,
        })
        .collect()
}

/// An oracle: the trace, and whether the world settled before its time limit, to its
/// judgement; it notes in the list the parts it could not look at (the verdict still stands for
/// the rest).
type Oracle = fn(&[Record], bool, &mut Vec<String>) -> Judgement;

/// Every oracle with its id, in report order (the order of [`ORACLES`]).
const TABLE: &[(&str, Oracle)] = &[
    ("window", |r, _, _| window(r).into()),
    ("purge", |r, _, _| purge(r).into()),
    ("integrity", |r, _, _| integrity(r).into()),
    ("notify", |r, _, n| notify::judge(r, n).into()),
    ("messages", |r, _, _| messages(r).into()),
    ("liveness", |r, settled, _| liveness(r, settled).into()),
    ("progress", |r, _, _| progress(r).into()),
    ("no_panic", |r, _, _| no_panic(r).into()),
    ("durable_ack", |r, _, n| durable_ack::judge(r, n).into()),
    ("confinement", |r, _, _| confinement(r).into()),
    ("binding", |r, _, n| binding::judge(r, n).into()),
    ("replies", |r, _, _| replies(r)),
];

/// Runs every oracle. `settled` says whether the world saw every transfer finish in time.
pub fn judge(records: &[Record], settled: bool) -> Vec<Verdict> {
    TABLE
        .iter()
        .map(|&(oracle, check)| {
            let mut unjudged = Vec::new();
            let judgement = check(records, settled, &mut unjudged);
            Verdict::new(oracle, judgement, unjudged)
        })
        .collect()
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_runs_exactly_the_oracles_a_scenario_may_name_in_their_order() {
        let ids: Vec<&str> = TABLE.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, ORACLES);
    }
}
