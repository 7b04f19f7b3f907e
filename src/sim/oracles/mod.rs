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
    /// What the oracle could not look at, each with why (a download of a file no user sent, an
    /// acked chunk of a name that is no source): a verdict that holds claims nothing about these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unjudged: Vec<String>,
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

/// An oracle: the trace, and whether the world settled before its time limit, to its first
/// violation; it notes in the list what it could not judge.
type Oracle = fn(&[Record], bool, &mut Vec<String>) -> Option<Violation>;

/// Every oracle with its id, in report order (the order of [`ORACLES`]).
const TABLE: &[(&str, Oracle)] = &[
    ("window", |r, _, _| window(r)),
    ("purge", |r, _, _| purge(r)),
    ("integrity", |r, _, _| integrity(r)),
    ("notify", |r, _, n| notify::judge(r, n)),
    ("messages", |r, _, _| messages(r)),
    ("liveness", |r, settled, _| liveness(r, settled)),
    ("progress", |r, _, _| progress(r)),
    ("no_panic", |r, _, _| no_panic(r)),
    ("durable_ack", |r, _, n| durable_ack::judge(r, n)),
    ("confinement", |r, _, _| confinement(r)),
    ("binding", |r, _, n| binding::judge(r, n)),
];

/// Runs every oracle. `settled` says whether the world saw every transfer finish in time.
pub fn judge(records: &[Record], settled: bool) -> Vec<Verdict> {
    TABLE
        .iter()
        .map(|&(oracle, check)| {
            let mut unjudged = Vec::new();
            let violation = check(records, settled, &mut unjudged);
            Verdict {
                oracle,
                violation,
                unjudged,
            }
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
