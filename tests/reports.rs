//! The machine-readable forms of a run: the Perfetto (Chrome Trace Event) trace and the JSON
//! summary, checked on a two-file scenario with a fault against the run's own trace.

use chatsim::trace::Event;
use serde_json::Value;
use std::path::Path;

fn run(path: &str) -> chatsim::sim::Outcome {
    let scenario = chatsim::scenario::load(Path::new(path)).expect("scenario loads");
    chatsim::sim::run(&scenario, scenario.seed)
}

#[test]
fn the_perfetto_trace_shows_every_chunk_as_a_slice_and_the_fault_as_an_instant() {
    let outcome = run("scenarios/faults/purge-one-of-two-files.toml");
    let json = chatsim::perfetto::chrome_trace(&outcome.records, "purge", &[]);
    let doc: Value = serde_json::from_str(&json).expect("the trace is JSON");
    let events = doc["traceEvents"]
        .as_array()
        .expect("traceEvents is an array");
    let first_sends = outcome
        .records
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                Event::ChunkSent {
                    retransmit: false,
                    ..
                }
            )
        })
        .count();
    let begins = events.iter().filter(|e| e["ph"] == "b").count();
    let ends = events.iter().filter(|e| e["ph"] == "e").count();
    assert!(first_sends > 10, "the scenario sends chunks of two files");
    assert_eq!(begins, ends, "every chunk slice ends");
    // No chunk is sent twice in this scenario, so each first send opens a slice of its own.
    assert_eq!(begins, first_sends, "a slice per chunk");
    for e in events.iter().filter(|e| e["ph"] == "b") {
        assert!(e["id"].is_u64() && e["name"].is_string() && e["ts"].is_u64());
    }
    let faults = events
        .iter()
        .filter(|e| e["cat"] == "fault" && e["ph"] == "i")
        .count();
    assert!(faults > 0, "the corrupt frame fault is marked");
    let files: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "b")
        .filter_map(|e| e["name"].as_str()?.split(" #").next())
        .collect();
    assert!(files.contains(&"bad.png") && files.contains(&"good.png"));
}

#[test]
fn the_json_summary_carries_the_verdict_files_faults_and_oracles() {
    let outcome = run("scenarios/faults/purge-one-of-two-files.toml");
    let json = chatsim::report::summary_json("purge.toml", &outcome);
    let doc: Value = serde_json::from_str(&json).expect("the summary is JSON");
    assert_eq!(doc["passed"], outcome.passed());
    assert_eq!(doc["seed"], outcome.seed);
    assert_eq!(
        doc["oracles"].as_array().unwrap().len(),
        outcome.verdicts.len()
    );
    let files = doc["files"].as_array().unwrap();
    let by_name = |name: &str| files.iter().find(|f| f["file"] == name).unwrap().clone();
    assert_eq!(by_name("good.png")["downloaded"], true);
    assert!(by_name("bad.png")["failed"].is_string());
    assert_eq!(doc["faults"][0]["fired"], 3);
}

/// `chatsim run x | head` ends quietly: with the reader gone before the report is printed, the
/// process must not panic on the failed write (it did: "failed printing to stdout: Broken pipe").
#[cfg(unix)]
#[test]
fn a_run_printing_into_a_closed_pipe_does_not_panic() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .args(["run", "scenarios/two-images-and-texts.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("the binary ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
}
