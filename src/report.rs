//! The human summary of a run, printed by `chatsim run`.

use crate::sim::{Outcome, RunOptions};
use crate::trace::{Event, Record};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The summary without the wall-clock line: the same for the same scenario, seed and profile,
/// so it can be kept as a snapshot.
pub fn snapshot(scenario_path: &str, outcome: &Outcome) -> String {
    summary(scenario_path, outcome)
        .lines()
        .map(|line| match line.strip_prefix("time      ") {
            Some(_) => format!(
                "time      {:.3} s simulated, {} trace events",
                outcome.sim_time.as_secs_f64(),
                outcome.records.len()
            ),
            None => line.to_owned(),
        })
        .chain(
            outcome
                .expectation
                .unmet
                .iter()
                .map(|u| format!("unmet     {u}")),
        )
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

pub fn summary(scenario_path: &str, outcome: &Outcome) -> String {
    let mut out = String::new();
    let records = &outcome.records;
    let count = |f: &dyn Fn(&Event) -> bool| records.iter().filter(|r| f(&r.event)).count();
    let texts_sent = count(&|e| matches!(e, Event::TextSent { .. }));
    let texts_received = count(&|e| matches!(e, Event::TextReceived { .. }));
    let _ = writeln!(out, "scenario  {scenario_path}");
    let _ = writeln!(out, "seed      {}", outcome.seed);
    let _ = writeln!(out, "profile   {}", outcome.profile.label());
    let _ = writeln!(out, "texts     {texts_received} of {texts_sent} delivered");
    for file in file_outcomes(records) {
        let _ = writeln!(
            out,
            "image     {} {} bytes: {}",
            file.file,
            file.size,
            file.state()
        );
    }
    let _ = writeln!(
        out,
        "time      {:.3} s simulated, {:.3} s wall, {} trace events",
        outcome.sim_time.as_secs_f64(),
        outcome.wall_time.as_secs_f64(),
        records.len()
    );
    window_lines(&mut out, records);
    let fired = outcome
        .faults
        .iter()
        .filter(|f| !f.fired_ms.is_empty())
        .count();
    if !outcome.faults.is_empty() {
        let _ = writeln!(out, "faults    fired {fired} of {}", outcome.faults.len());
        for fault in &outcome.faults {
            let _ = writeln!(out, "fault     {}: {}", fault.name, fault.summary());
        }
    }
    for verdict in &outcome.verdicts {
        if let Some(v) = &verdict.could_not_judge {
            let _ = writeln!(
                out,
                "oracle    {:<11} COULD NOT JUDGE at {} ms on {}: {}",
                verdict.oracle, v.t_ms, v.host, v.detail
            );
            continue;
        }
        match &verdict.violation {
            // Nothing to look at (`replies` without probes): no claim either way.
            None if verdict.nothing_to_judge => {}
            None => {
                let _ = writeln!(out, "oracle    {:<11} holds", verdict.oracle);
            }
            Some(v) => {
                let _ = writeln!(
                    out,
                    "oracle    {:<11} VIOLATED at {} ms on {}: {}\n          event: {}",
                    verdict.oracle, v.t_ms, v.host, v.detail, v.event
                );
            }
        }
        unjudged_lines(&mut out, &verdict.unjudged);
    }
    out
}

/// What an oracle could not look at, under its verdict: at most a few, then how many more.
fn unjudged_lines(out: &mut String, unjudged: &[String]) {
    const SHOWN: usize = 3;
    for what in unjudged.iter().take(SHOWN) {
        let _ = writeln!(out, "          could not judge {what}");
    }
    if unjudged.len() > SHOWN {
        let _ = writeln!(
            out,
            "          could not judge {} more",
            unjudged.len() - SHOWN
        );
    }
}

/// One line per client whose adaptive window moved: where it started, its peak, where it ended
/// and why it changed (`window_changed`). The fixed window writes no such event and no line.
fn window_lines(out: &mut String, records: &[crate::trace::Record]) {
    let mut hosts: std::collections::BTreeMap<&str, Vec<(usize, &str)>> = Default::default();
    for record in records {
        if let Event::WindowChanged { window, reason } = &record.event {
            hosts
                .entry(&record.host)
                .or_default()
                .push((*window, reason));
        }
    }
    for (host, changes) in hosts.iter().filter(|(_, c)| c.len() > 1) {
        let peak = changes.iter().map(|c| c.0).max().unwrap_or(0);
        let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
        for (_, reason) in &changes[1..] {
            *reasons.entry(reason).or_default() += 1;
        }
        let why: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(
            out,
            "window    {host} adaptive: started {}, peak {peak}, ended {}; {} changes ({})",
            changes[0].0,
            changes[changes.len() - 1].0,
            changes.len() - 1,
            why.join(", ")
        );
    }
}

/// The command that runs the same scenario with the same seed and profile again.
pub fn reproduce_command(path: &Path, options: &RunOptions) -> String {
    let mut command = format!("chatsim run {} --seed {}", path.display(), options.seed);
    if let Some(name) = options.profile.named() {
        command.push_str(&format!(" --profile {name}"));
    } else {
        command.push_str(" --profile reference");
        for quirk in options.profile.quirks() {
            command.push_str(&format!(" --quirk {quirk}"));
        }
    }
    if options.window != crate::client::WindowPolicy::Fixed5 {
        command.push_str(&format!(" --window {}", options.window));
    }
    command
}

/// What became of one source file of the scenario.
#[derive(Debug, Serialize)]
pub struct FileOutcome {
    pub file: String,
    pub size: u64,
    pub stored: bool,
    pub downloaded: bool,
    /// The sender's failure: the error code and its reason.
    pub failed: Option<String>,
}

impl FileOutcome {
    fn state(&self) -> String {
        match (&self.failed, self.stored, self.downloaded) {
            (Some(why), _, _) => format!("upload failed: {why}"),
            (None, true, true) => "stored, downloaded".to_owned(),
            (None, true, false) => "stored, not downloaded".to_owned(),
            (None, false, _) => "not stored".to_owned(),
        }
    }
}

/// Every source file in the order the trace introduces them, with what the trace says of it.
pub fn file_outcomes(records: &[Record]) -> Vec<FileOutcome> {
    let mut files: Vec<FileOutcome> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for record in records {
        if let Event::SourceFile { file, size, .. } = &record.event {
            index.insert(file, files.len());
            files.push(FileOutcome {
                file: file.clone(),
                size: *size,
                stored: false,
                downloaded: false,
                failed: None,
            });
        }
    }
    for record in records {
        let (file, apply): (&str, fn(&mut FileOutcome, &Event)) = match &record.event {
            Event::UploadCommitted { file, .. } => (file, |f, _| f.stored = true),
            Event::DownloadDone { file, .. } => (file, |f, _| f.downloaded = true),
            Event::UploadFailed { file, .. } => (file, |f, e| {
                if let (None, Event::UploadFailed { error, reason, .. }) = (&f.failed, e) {
                    f.failed = Some(format!("{error} ({reason})"));
                }
            }),
            _ => continue,
        };
        if let Some(&i) = index.get(file) {
            apply(&mut files[i], &record.event);
        }
    }
    files
}

/// The run report as JSON for scripts and CI: the same facts as [`summary`], plus the verdict.
pub fn summary_json(scenario_path: &str, outcome: &Outcome) -> String {
    let records = &outcome.records;
    let count = |f: &dyn Fn(&Event) -> bool| records.iter().filter(|r| f(&r.event)).count();
    let faults: Vec<_> = outcome
        .faults
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name, "optional": f.optional,
                "fired": f.fired_ms.len(), "fired_ms": f.fired_ms,
            })
        })
        .collect();
    let oracles: Vec<_> = outcome
        .verdicts
        .iter()
        .map(|v| {
            serde_json::json!({
                "oracle": v.oracle,
                "holds": v.violation.is_none() && v.could_not_judge.is_none(),
                "violation": v.violation,
                "could_not_judge": v.could_not_judge,
                "nothing_to_judge": v.nothing_to_judge,
                "unjudged": v.unjudged,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "scenario": scenario_path,
        "seed": outcome.seed,
        "profile": outcome.profile.label(),
        "passed": outcome.passed(),
        "unmet": outcome.expectation.unmet,
        "settled": outcome.settled,
        "sim_time_s": outcome.sim_time.as_secs_f64(),
        "wall_time_s": outcome.wall_time.as_secs_f64(),
        "trace_events": records.len(),
        "texts": {
            "sent": count(&|e| matches!(e, Event::TextSent { .. })),
            "delivered": count(&|e| matches!(e, Event::TextReceived { .. })),
        },
        "files": file_outcomes(records),
        "faults": faults,
        "oracles": oracles,
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value always serialises") + "\n"
}
