//! The fault kinds issue 15 added, each checked in its scenario's trace for doing what it says
//! (the scenarios' own expectations only say the run recovered).

use chatsim::scenario;
use chatsim::sim;
use chatsim::trace::{Dir, Event, Record};
use std::path::Path;

fn records(file: &str) -> Vec<Record> {
    let path = Path::new("scenarios/faults").join(file);
    let scenario = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let outcome = sim::run(&scenario, scenario.seed);
    assert!(outcome.passed(), "{}", outcome.expectation.unmet.join("\n"));
    outcome.records
}

#[test]
fn a_delayed_duplicate_delivers_the_original_on_time_and_the_copy_later() {
    let records = records("delayed-duplicate.toml");
    let received: Vec<u64> = records
        .iter()
        .filter(|r| r.host == "resource")
        .filter_map(|r| match &r.event {
            Event::Frame {
                dir: Dir::Rx,
                id: 1037,
                seq: Some(2),
                ..
            } => Some(r.t_ms),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 2, "{received:?}");
    let sent = records
        .iter()
        .find_map(|r| match &r.event {
            Event::ChunkSent { seq: 2, .. } => Some(r.t_ms),
            _ => None,
        })
        .expect("seq 2 sent");
    assert!(received[0] - sent < 100, "the original was held back");
    let apart = received[1] - received[0];
    assert!(
        (1990..2100).contains(&apart),
        "the copy came {apart} ms later"
    );
}

#[test]
fn a_reset_of_one_connection_closes_that_one_only() {
    let records = records("reset-one-connection.toml");
    let fired = records
        .iter()
        .find_map(|r| match &r.event {
            Event::Fault { kind, detail } if kind == "reset" => Some((r.t_ms, detail.clone())),
            _ => None,
        })
        .expect("the reset fired");
    assert_eq!(fired.1, "user2's connection to resource reset");
    let closed_then: Vec<&str> = records
        .iter()
        // The clients see it when they next run, the millisecond after.
        .filter(|r| (fired.0..=fired.0 + 1).contains(&r.t_ms) && r.host.starts_with("user"))
        .filter(|r| matches!(r.event, Event::ConnClosed { .. }))
        .map(|r| r.host.as_str())
        .collect();
    assert_eq!(closed_then, ["user2"]);
}

#[test]
fn a_disk_error_on_a_chosen_file_fails_a_write_of_that_file_only() {
    let records = records("disk-error-on-one-file.toml");
    let failed: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Fault { kind, detail } if kind == "disk_write_failed" => Some(detail.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("1/b.png"), "{}", failed[0]);
}

#[test]
fn triggered_faults_fire_exactly_at_the_event_plus_their_delay() {
    let records = records("exact-trigger-timing.toml");
    let stored = records
        .iter()
        .find_map(|r| match &r.event {
            Event::ChunkStored { file, seq: 2, .. } if file == "photo.png" => Some(r.t_ms),
            _ => None,
        })
        .expect("seq 2 stored");
    let fired: Vec<u64> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::FaultOutcome { times_ms, .. } => Some(times_ms[0]),
            _ => None,
        })
        .collect();
    // The reset and the partition in the event's millisecond, together; the heal 300 ms on.
    assert_eq!(fired, [stored, stored, stored + 300]);
}
