//! A self-contained HTML page of a run, laid out the way Autobahn|Testsuite presents its cases:
//! a summary, then one table per section with each case's verdict, duration and reason, and the
//! frames it exchanged behind a click. No scripts, nothing fetched.

use super::report::{CaseReport, Report};
use super::verdict::Verdict;
use crate::html::escape;
use std::fmt::Write as _;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;\
text-align:left;vertical-align:top}th{background:#f3f3f3}\
.v{font-weight:bold;white-space:nowrap}.pass{background:#d8f5d8}.fail{background:#f8d0d0}\
.non-strict{background:#fdf0c8}.unsupported{background:#e4e4f8}.could-not-run{background:#e8e8e8}\
pre{margin:4px 0;font-size:12px;white-space:pre-wrap;word-break:break-all}\
details summary{cursor:pointer;color:#555}";

impl Report {
    /// The run as one HTML page.
    pub fn to_html(&self) -> String {
        let mut out = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
        let _ = write!(
            out,
            "<title>chatsim conform {}</title><style>{STYLE}</style></head><body>",
            escape(&self.target.resource)
        );
        let _ = write!(
            out,
            "<h1>chatsim conform {}</h1><p>resource {}, chat {}, notify listener {}; {} ms</p>\
             <p><b>{}</b></p>",
            self.version,
            escape(&self.target.resource),
            escape(self.target.chat.as_deref().unwrap_or("(none)")),
            escape(self.target.notify_listen.as_deref().unwrap_or("(none)")),
            self.duration_ms,
            escape(&self.summary_line())
        );
        let invented = self.invented_ids();
        if !invented.is_empty() {
            let _ = write!(
                out,
                "<p>Uploaded under message ids conform invented: {}</p>",
                escape(&invented.join(", "))
            );
        }
        for (section, cases) in sections(&self.cases) {
            let _ = write!(
                out,
                "<h2>{section} {}</h2><table><tr><th>case</th><th>verdict</th><th>ms</th>\
                 <th>reason, notes, frames</th></tr>",
                escape(group(cases[0]))
            );
            for case in cases {
                row(&mut out, case);
            }
            out.push_str("</table>");
        }
        out.push_str("</body></html>\n");
        out
    }
}

fn row(out: &mut String, case: &CaseReport) {
    let class = serde_json::to_value(case.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<tr class=\"{class}\"><td>{}</td><td class=\"v\">{}</td><td>{}</td><td>",
        escape(case.id),
        case.verdict.label(),
        case.duration_ms
    );
    if let Some(reason) = &case.reason {
        let _ = write!(out, "{}", escape(reason));
    }
    for seen in &case.observed {
        let _ = write!(out, "<br>observed: {}", escape(seen));
    }
    if case.verdict != Verdict::Pass && !case.frames.is_empty() {
        let _ = write!(
            out,
            "<details><summary>{} frames</summary><pre>{}</pre></details>",
            case.frames.len(),
            escape(&case.frames.join("\n"))
        );
    }
    out.push_str("</td></tr>");
}

/// The cases grouped by section number, in order.
fn sections(cases: &[CaseReport]) -> Vec<(&str, Vec<&CaseReport>)> {
    let mut out: Vec<(&str, Vec<&CaseReport>)> = Vec::new();
    for case in cases {
        let section = case.id.split('.').next().unwrap_or("");
        match out.last_mut() {
            Some((s, list)) if *s == section => list.push(case),
            _ => out.push((section, vec![case])),
        }
    }
    out
}

/// `upload` of `3.4 upload/window-of-5`.
fn group(case: &CaseReport) -> &str {
    case.id
        .split_once(' ')
        .and_then(|(_, name)| name.split_once('/'))
        .map_or("", |(group, _)| group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::Target;

    fn case(id: &'static str, verdict: Verdict, reason: Option<&str>) -> CaseReport {
        CaseReport {
            id,
            verdict,
            duration_ms: 3,
            reason: reason.map(str::to_owned),
            notes: Vec::new(),
            observed: Vec::new(),
            invented_message_ids: false,
            frames: vec!["<- res#1 1042 {\"error\":1}".into()],
        }
    }

    #[test]
    fn sections_verdicts_and_escaped_frames() {
        let report = Report::new(
            Target {
                resource: "127.0.0.1:1".into(),
                chat: None,
                notify_listen: None,
            },
            0,
            10,
            vec![
                case("3.1 upload/one-chunk", Verdict::Pass, None),
                case("3.2 upload/many-chunks", Verdict::Fail, Some("said <ok>")),
                case(
                    "7.1 errors/malformed-json",
                    Verdict::NonStrict,
                    Some("closed"),
                ),
            ],
        );
        let html = report.to_html();
        assert_eq!(html.matches("<table>").count(), 2);
        assert!(html.contains("<h2>3 upload</h2>"));
        assert!(html.contains("<tr class=\"fail\"><td>3.2 upload/many-chunks</td>"));
        assert!(html.contains("said &lt;ok&gt;"));
        assert!(html.contains("1042 {&quot;error&quot;:1}"));
        // A passing case shows no frames.
        assert_eq!(html.matches("<details>").count(), 2);
        assert!(!html.contains("<script"));
    }
}
