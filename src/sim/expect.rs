//! Does a run meet its scenario's expectation? Oracles named in `violated` must be violated,
//! every other oracle must hold, and the named files must end as stated.

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

pub fn check_expectation(
    expect: &Expectation,
    verdicts: &[Verdict],
    records: &[Record],
) -> ExpectationResult {
    let mut unmet = Vec::new();
    for verdict in verdicts {
        let want_violated = expect.violated.iter().any(|o| o == verdict.oracle);
        match (&verdict.violation, want_violated) {
            (Some(v), false) => unmet.push(format!(
                "oracle {} is violated at {} ms on {}: {}",
                verdict.oracle, v.t_ms, v.host, v.detail
            )),
            (None, true) => unmet.push(format!(
                "oracle {} was expected to be violated but holds",
                verdict.oracle
            )),
            _ => {}
        }
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
