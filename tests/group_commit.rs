//! `serve` stores the chunks that wait for a file worker as one group (one sync per file, one
//! commit, then the acks); the simulation stores each chunk alone. This runs every reference
//! scenario again with groups of up to 64, so that the group paths (a repeat within a group, a
//! completion followed by more chunks of the same group, two uploads of one name in one group, a
//! failed sync or commit) meet the scenarios' faults and oracles, and every expectation must
//! still be met.

mod common;

use chatsim::sim::{self, RunOptions};
use chatsim::trace::Event;
use std::path::Path;

// Two halves, so that the two run side by side.
#[test]
fn the_fault_scenarios_keep_their_expectations_with_group_commit() {
    keep_expectations(|path| path.starts_with("scenarios/faults"), 20);
}

#[test]
fn the_other_scenarios_keep_their_expectations_with_group_commit() {
    keep_expectations(|path| !path.starts_with("scenarios/faults"), 10);
}

/// Runs the reference scenarios `chosen` picks with groups of up to 64 chunks; each must meet
/// its expectation, and groups of two or more must have formed in at least `min_grouped`.
fn keep_expectations(chosen: impl Fn(&Path) -> bool, min_grouped: usize) {
    let mut files = Vec::new();
    common::scenario_files(Path::new("scenarios"), &mut files);
    files.retain(|f| chosen(f));
    let (mut failures, mut grouped, mut judged) = (Vec::new(), Vec::new(), 0);
    for file in &files {
        let scenario = chatsim::scenario::load(file).expect("scenario parses");
        if !scenario.profile().is_reference() {
            continue;
        }
        judged += 1;
        let options = RunOptions {
            chunk_group: 64,
            ..RunOptions::of(&scenario)
        };
        let outcome = sim::run_with(&scenario, &options);
        if !outcome.passed() {
            failures.push(format!(
                "{}: {:?}",
                file.display(),
                outcome.expectation.unmet
            ));
        }
        let groups = outcome
            .records
            .iter()
            .filter(|r| matches!(r.event, Event::ChunksCommitted { .. }))
            .count();
        if groups > 0 {
            grouped.push(format!("{} ({groups})", file.display()));
        }
    }
    println!(
        "{judged} reference scenarios; groups of 2+ chunks formed in {}: {}",
        grouped.len(),
        grouped.join(", ")
    );
    assert!(
        failures.is_empty(),
        "with group commit:\n{}",
        failures.join("\n")
    );
    // Not a hollow pass: the group paths must really have run.
    assert!(
        grouped.len() >= min_grouped,
        "groups formed in only {} scenarios",
        grouped.len()
    );
}

/// `kill -9` inside a group: the resource server dies right after the commit of a window's
/// chunks (`store_crash` on `add_chunks`), before any of their acks leave. The group really held
/// several chunks, and the upload still ends whole and told.
#[test]
fn a_crash_right_after_a_group_commit_loses_nothing() {
    let file = Path::new("scenarios/faults/resource-crash-after-a-group-commit.toml");
    let scenario = chatsim::scenario::load(file).expect("scenario parses");
    let options = RunOptions {
        chunk_group: 64,
        ..RunOptions::of(&scenario)
    };
    let outcome = sim::run_with(&scenario, &options);
    assert!(outcome.passed(), "{:?}", outcome.expectation.unmet);
    let crash = outcome
        .records
        .iter()
        .position(|r| {
            matches!(&r.event, Event::Fault { kind, detail } if kind == "store_crash"
                && detail.contains("crashed"))
        })
        .expect("the crash point struck");
    let group = outcome.records[..crash]
        .iter()
        .rev()
        .find_map(|r| match r.event {
            Event::ChunksCommitted { chunks, .. } => Some(chunks),
            _ => None,
        });
    assert!(
        group.is_some_and(|chunks| chunks >= 2),
        "the struck commit was no group: {group:?}"
    );
    // The first window after chunk 1: chunks 2 to 6, sent together, committed together.
    assert_eq!(group, Some(5), "the struck group is the first window");
}
