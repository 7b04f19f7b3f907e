//! The results of a run: one line per case for the terminal, a summary line, JSON and JUnit XML.

use super::verdict::Verdict;
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// How many transcript lines the terminal shows under a case that did not pass (the JSON report
/// has them all).
const TERMINAL_FRAMES: usize = 12;

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub id: &'static str,
    pub verdict: Verdict,
    pub duration_ms: u64,
    /// Why it did not pass; for a non-strict pass, the deviations joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Deviations noted by a case that otherwise worked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Which behaviour the server chose where the protocol allows either (any verdict).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<String>,
    /// The case uploaded under a message id conform made up: a server that looks message ids up
    /// in its chat store (upstream does, for 1045 and on completion) cannot know it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub invented_message_ids: bool,
    /// The frames exchanged, when the case did not pass.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<String>,
}

/// Where the run pointed.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub resource: String,
    pub chat: Option<String>,
    pub notify_listen: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub non_strict: usize,
    pub unsupported: usize,
    pub could_not_run: usize,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub target: Target,
    /// Seconds since the Unix epoch at the start of the run.
    pub started_unix: u64,
    pub duration_ms: u64,
    pub counts: Counts,
    pub cases: Vec<CaseReport>,
}

impl Report {
    pub fn new(
        target: Target,
        started_unix: u64,
        duration_ms: u64,
        cases: Vec<CaseReport>,
    ) -> Self {
        let mut counts = Counts::default();
        for case in &cases {
            let slot = match case.verdict {
                Verdict::Pass => &mut counts.passed,
                Verdict::Fail => &mut counts.failed,
                Verdict::NonStrict => &mut counts.non_strict,
                Verdict::Unsupported => &mut counts.unsupported,
                Verdict::CouldNotRun => &mut counts.could_not_run,
            };
            *slot += 1;
        }
        Report {
            tool: "chatsim conform",
            version: env!("CARGO_PKG_VERSION"),
            target,
            started_unix,
            duration_ms,
            counts,
            cases,
        }
    }

    pub fn failed(&self) -> bool {
        self.counts.failed > 0
    }

    /// `52 passed, 1 failed, 2 non-strict, 1 unsupported, 4 could not run`
    pub fn summary_line(&self) -> String {
        let c = &self.counts;
        format!(
            "{} passed, {} failed, {} non-strict, {} unsupported, {} could not run",
            c.passed, c.failed, c.non_strict, c.unsupported, c.could_not_run
        )
    }

    /// The numbers of the cases that uploaded under invented message ids, for the line after
    /// the summary; empty when none did.
    pub fn invented_ids(&self) -> Vec<&'static str> {
        self.cases
            .iter()
            .filter(|c| c.invented_message_ids)
            .map(|c| c.id.split_once(' ').map_or(c.id, |(n, _)| n))
            .collect()
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// JUnit XML (written by quick-junit, which escapes and drops what XML cannot hold): a
    /// failure element for a failed case, a skipped element for unsupported and could-not-run,
    /// the notes of a non-strict case in its system-out.
    pub fn to_junit(&self) -> String {
        let mut suite =
            quick_junit::TestSuite::new(format!("chatsim conform {}", self.target.resource));
        suite.set_time(Duration::from_millis(self.duration_ms));
        suite.add_test_cases(self.cases.iter().map(junit_case));
        let mut report = quick_junit::Report::new("chatsim conform");
        report.set_time(Duration::from_millis(self.duration_ms));
        report.add_test_suite(suite);
        // Only strings and numbers go in; serialising into memory cannot fail.
        report.to_string().unwrap_or_default()
    }
}

fn junit_case(case: &CaseReport) -> quick_junit::TestCase {
    use quick_junit::{NonSuccessKind, TestCaseStatus};
    let group = case
        .id
        .split_once(' ')
        .and_then(|(_, name)| name.split_once('/'))
        .map_or("case", |(group, _)| group);
    let reason = case.reason.clone().unwrap_or_default();
    let status = match case.verdict {
        Verdict::Pass | Verdict::NonStrict => TestCaseStatus::success(),
        Verdict::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(reason)
                .set_type("fail")
                .set_description(case.frames.join("\n"));
            status
        }
        Verdict::Unsupported | Verdict::CouldNotRun => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(format!("{}: {reason}", case.verdict.name()));
            status
        }
    };
    let mut test = quick_junit::TestCase::new(case.id, status);
    test.set_classname(format!("chatsim.conform.{group}"))
        .set_time(Duration::from_millis(case.duration_ms));
    let mut out: Vec<String> = case
        .observed
        .iter()
        .map(|o| format!("observed: {o}"))
        .collect();
    if case.verdict == Verdict::NonStrict {
        out.push(format!("non-strict: {}", case.notes.join("; ")));
    }
    if !out.is_empty() {
        test.set_system_out(out.join("\n"));
    }
    test
}

/// The label column is as wide as the widest label, so ids line up.
fn label_width() -> usize {
    Verdict::ALL
        .iter()
        .map(|v| v.label().len())
        .max()
        .unwrap_or(4)
}

/// `PASS         3.4 upload/window-of-5  (12 ms)`, and for a case that did not pass, its reason
/// and the first frames exchanged, indented.
pub fn case_lines(case: &CaseReport) -> String {
    let mut out = format!(
        "{:<width$}  {}  ({} ms)\n",
        case.verdict.label(),
        case.id,
        case.duration_ms,
        width = label_width()
    );
    let indent = " ".repeat(label_width() + 2);
    if let Some(reason) = &case.reason {
        let _ = writeln!(out, "{indent}{reason}");
    }
    for seen in &case.observed {
        let _ = writeln!(out, "{indent}observed: {seen}");
    }
    if case.verdict != Verdict::Pass && case.verdict != Verdict::NonStrict {
        for line in case.frames.iter().take(TERMINAL_FRAMES) {
            let _ = writeln!(out, "{indent}  {line}");
        }
        if case.frames.len() > TERMINAL_FRAMES {
            let _ = writeln!(
                out,
                "{indent}  ... {} more lines in the --json report",
                case.frames.len() - TERMINAL_FRAMES
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &'static str, verdict: Verdict, reason: Option<&str>) -> CaseReport {
        CaseReport {
            id,
            verdict,
            duration_ms: 12,
            reason: reason.map(str::to_owned),
            notes: Vec::new(),
            observed: Vec::new(),
            invented_message_ids: false,
            frames: vec!["-> res#1 1041 <bad & \"odd\"> \u{1}".into()],
        }
    }

    fn report() -> Report {
        Report::new(
            Target {
                resource: "127.0.0.1:8091".into(),
                chat: None,
                notify_listen: None,
            },
            0,
            1500,
            vec![
                case("3.4 upload/window-of-5", Verdict::Pass, None),
                case(
                    "6.1 integrity/wrong-md5",
                    Verdict::Fail,
                    Some("said <success> & more"),
                ),
                case(
                    "11.1 chat/login",
                    Verdict::CouldNotRun,
                    Some("needs --chat ADDR"),
                ),
            ],
        )
    }

    #[test]
    fn lines_and_summary() {
        let report = report();
        assert!(case_lines(&report.cases[0])
            .starts_with("PASS         3.4 upload/window-of-5  (12 ms)\n"));
        assert!(case_lines(&report.cases[1]).contains("said <success>"));
        assert_eq!(
            report.summary_line(),
            "1 passed, 1 failed, 0 non-strict, 0 unsupported, 1 could not run"
        );
        assert!(report.failed());
    }

    #[test]
    fn junit_is_escaped_and_counts_right() {
        let xml = report().to_junit();
        assert!(xml.contains("tests=\"3\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("skipped=\"1\""), "{xml}");
        assert!(xml.contains("said &lt;success&gt; &amp; more"), "{xml}");
        assert!(xml.contains("&lt;bad &amp; "), "{xml}");
        assert!(!xml.contains('\u{1}'));
        assert!(xml.contains("classname=\"chatsim.conform.integrity\""));
    }

    #[test]
    fn json_names_verdicts_in_kebab_case() {
        let json = report().to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["cases"][1]["verdict"], "fail");
        assert_eq!(value["cases"][2]["verdict"], "could-not-run");
        assert_eq!(value["counts"]["passed"], 1);
    }
}
