//! The human summary of a run, printed by `chatsim run`.

use crate::profile::Profile;
use crate::sim::{Outcome, RunOptions};
use crate::trace::Event;
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
    for record in records {
        if let Event::SourceFile { file, size, .. } = &record.event {
            let stored = records
                .iter()
                .any(|r| matches!(&r.event, Event::UploadCommitted { file: f, .. } if f == file));
            let downloaded = records.iter().find_map(|r| match &r.event {
                Event::DownloadDone { file: f, md5, .. } if f == file => Some(md5.clone()),
                _ => None,
            });
            let failed = records.iter().find_map(|r| match &r.event {
                Event::UploadFailed {
                    file: f,
                    error,
                    reason,
                } if f == file => Some(format!("{error} ({reason})")),
                _ => None,
            });
            let state = match (stored, downloaded, failed) {
                (_, _, Some(why)) => format!("upload failed: {why}"),
                (true, Some(_), _) => "stored, downloaded".to_owned(),
                (true, None, _) => "stored, not downloaded".to_owned(),
                (false, _, _) => "not stored".to_owned(),
            };
            let _ = writeln!(out, "image     {file} {size} bytes: {state}");
        }
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
        match &verdict.violation {
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
    }
    out
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
    if options.profile == Profile::seed() {
        command.push_str(" --profile seed");
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
