//! Does a run meet its scenario's expectation? Oracles named in `violated` must be violated,
//! every other oracle must hold, and the named files must end as stated.
//!
//! A run with only some of the seed's quirks (`--quirk`) is judged against the seed's expectation
//! as an upper bound that must be reached at least once: it may break any oracle the whole seed
//! breaks, and nothing else, and it must break at least one of them. That answers the question
//! `--quirk` is for: does this quirk explain (part of) what the seed does? A quirk run that shows
//! nothing fails, because it reproduced nothing.
//!
//! Whatever the profile, every fault the scenario declares must have fired (unless it says
//! `optional = true`): a fault that never fired tested nothing.

use super::oracles::Verdict;
use crate::scenario::Expectation;
use crate::trace::{Event, Record};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExpectationResult {
    /// Each way the run differs from the expectation; empty when it is met.
    pub unmet: Vec<String>,
}

impl ExpectationResult {
    pub fn met(&self) -> bool {
        self.unmet.is_empty()
    }
}

/// How strictly the expectation applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// The reference or the whole seed: exactly the expected oracles are violated, and the named
    /// files end as stated.
    Exact,
    /// Some of the seed's quirks: the expected violations are allowed, not required, and final
    /// states are not judged.
    AtMost,
}

pub fn check_expectation(
    expect: &Expectation,
    strictness: Strictness,
    verdicts: &[Verdict],
    records: &[Record],
) -> ExpectationResult {
    let mut unmet = unfired_faults(records);
    for verdict in verdicts {
        // A check that could not look meets no expectation, whichever way it was asked.
        if let Some(v) = &verdict.could_not_judge {
            unmet.push(format!(
                "oracle {} could not judge at {} ms on {}: {}",
                verdict.oracle, v.t_ms, v.host, v.detail
            ));
            continue;
        }
        let want_violated = expect.violated.iter().any(|o| o == verdict.oracle);
        match (&verdict.violation, want_violated) {
            (Some(v), false) => unmet.push(format!(
                "oracle {} is violated at {} ms on {}: {}",
                verdict.oracle, v.t_ms, v.host, v.detail
            )),
            (None, true) if strictness == Strictness::Exact => unmet.push(format!(
                "oracle {} was expected to be violated but holds",
                verdict.oracle
            )),
            _ => {}
        }
    }
    if strictness == Strictness::AtMost {
        let reproduced = verdicts
            .iter()
            .any(|v| v.violation.is_some() && expect.violated.iter().any(|o| o == v.oracle));
        if !reproduced {
            unmet.push(format!(
                "the quirk reproduced nothing: none of the oracles the seed violates ({}) was violated",
                expect.violated.join(", ")
            ));
        }
        return ExpectationResult { unmet };
    }
    let source_md5 = |file: &str| {
        records.iter().find_map(|r| match &r.event {
            Event::SourceFile { file: f, md5, .. } if f == file => Some(md5.clone()),
            _ => None,
        })
    };
    for file in &expect.downloaded {
        let want = source_md5(file);
        let downloaded = records.iter().any(|r| {
            matches!(&r.event, Event::DownloadDone { file: f, md5, .. } if f == file && Some(md5) == want.as_ref())
        });
        let notified = records
            .iter()
            .any(|r| matches!(&r.event, Event::UploadNotified { file: f, .. } if f == file));
        if !(downloaded && notified) {
            unmet.push(format!(
                "{file} was expected to be stored, notified and downloaded intact \
                 (downloaded intact: {downloaded}, sender notified: {notified})"
            ));
        }
    }
    for file in &expect.failed {
        let failed = records.iter().any(|r| {
            matches!(&r.event, Event::UploadFailed { file: f, .. } | Event::UploadCancelled { file: f } if f == file)
        });
        if !failed {
            unmet.push(format!(
                "{file} was expected to be reported failed by its sender"
            ));
        }
    }
    ExpectationResult { unmet }
}

/// Every non-optional fault that never fired, from the world's `FaultOutcome` records.
fn unfired_faults(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::FaultOutcome {
                fault,
                optional: false,
                fired: 0,
                ..
            } => Some(format!(
                "{fault} never fired (it tested nothing; mark it `optional = true` if that is allowed)"
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::Violation;

    fn verdict(oracle: &'static str, violated: bool) -> Verdict {
        let violation = violated.then(|| Violation {
            t_ms: 5,
            host: "chat".into(),
            event: "{}".into(),
            detail: "broken".into(),
        });
        Verdict::new(oracle, violation.into(), Vec::new())
    }

    #[test]
    fn some_quirks_may_break_less_than_the_seed_but_nothing_else() {
        let seed = Expectation {
            violated: vec!["liveness".into(), "notify".into()],
            ..Expectation::default()
        };
        let only_liveness = [verdict("liveness", true), verdict("notify", false)];
        let exact = check_expectation(&seed, Strictness::Exact, &only_liveness, &[]);
        assert_eq!(
            exact.unmet,
            ["oracle notify was expected to be violated but holds"]
        );
        assert!(check_expectation(&seed, Strictness::AtMost, &only_liveness, &[]).met());
        let nothing = [verdict("liveness", false), verdict("notify", false)];
        let reproduced_nothing = check_expectation(&seed, Strictness::AtMost, &nothing, &[]);
        assert_eq!(
            reproduced_nothing.unmet,
            ["the quirk reproduced nothing: none of the oracles the seed violates (liveness, notify) was violated"]
        );
        let window_too = [verdict("liveness", true), verdict("window", true)];
        let at_most = check_expectation(&seed, Strictness::AtMost, &window_too, &[]);
        assert_eq!(
            at_most.unmet,
            ["oracle window is violated at 5 ms on chat: broken"]
        );
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;

    fn outcome(fault: &str, optional: bool, fired: usize) -> Record {
        Record {
            t_ms: 9,
            host: "world".into(),
            event: Event::FaultOutcome {
                fault: fault.into(),
                optional,
                fired,
                times_ms: vec![5; fired],
            },
        }
    }

    #[test]
    fn a_fault_that_never_fired_fails_the_run_unless_optional() {
        let records = [
            outcome("fault 1 (crash resource)", false, 1),
            outcome("fault 2 (heal user1 <-> chat)", false, 0),
            outcome("frame fault 1 (drop)", true, 0),
        ];
        let result = check_expectation(&Expectation::default(), Strictness::Exact, &[], &records);
        assert_eq!(result.unmet.len(), 1, "{:?}", result.unmet);
        assert!(result.unmet[0].starts_with("fault 2 (heal user1 <-> chat) never fired"));
    }
}
