//! The deployed ResourceServer's bugs (issue 15's table, docs/upstream-bugs.md), each a quirk of
//! the `upstream` profile. Rows with a scenario under `scenarios/upstream-bugs/` are run three
//! ways, as `tests/seed_bugs.rs` does for the seed:
//!
//! (a) under the upstream profile: the scenario's `[expect.upstream]` is met and the row's oracle
//!     is violated, for the row's reason;
//! (b) under the reference profile: every oracle holds and the scenario's `[expect]` is met;
//! (c) under the reference plus only the row's quirk (and a helper quirk where the reference
//!     hides it): the row's oracle is violated for its reason, and the helper alone keeps it.
//!
//! Rows the reference client never provokes (a forged length header, a 1045 or 1047 it never
//! sends) are provoked by probes: requests of the scenario's own making on a user's own socket
//! (`probe` and `raw` actions), judged by the `replies` oracle. `tests/conform_upstream.rs`
//! checks them on the wire as well. The table is written by hand, not computed from a run.

#[path = "common/profile_runs.rs"]
mod profile_runs;

use chatsim::profile::{Profile, Quirk};
use chatsim::sim::Outcome;
use chatsim::trace::Event;
use profile_runs::{quirk_alone, run, violated, violation};
use std::path::PathBuf;

const DIR: &str = "scenarios/upstream-bugs";

struct Row {
    /// The row of issue 15's table.
    row: usize,
    file: &'static str,
    quirk: Quirk,
    helper: Option<Quirk>,
    oracle: &'static str,
    /// Words of the violation's detail, under the upstream profile and under the quirk alone.
    reason: &'static str,
    /// A second oracle the row breaks, with its reason (a row with two halves).
    also: Option<(&'static str, &'static str)>,
}

const ROWS: &[Row] = &[
    Row {
        row: 1,
        file: "01-dies-on-bad-chunk.toml",
        quirk: Quirk::DiesOnBadChunk,
        helper: None,
        oracle: "no_panic",
        reason: "the server died on frame 1037",
        also: None,
    },
    Row {
        row: 2,
        file: "02-dies-on-negative-length.toml",
        quirk: Quirk::DiesOnNegativeLength,
        helper: None,
        oracle: "no_panic",
        reason: "with length header 0xffffffff: CSession.cpp:162-169",
        also: None,
    },
    Row {
        row: 3,
        file: "03-silent-download-info.toml",
        quirk: Quirk::SilentDownloadInfo,
        helper: None,
        oracle: "replies",
        reason: "probe 1 (1045 to resource) got no answer within 2000 ms",
        also: None,
    },
    Row {
        row: 4,
        file: "04-download-info-unfinished.toml",
        quirk: Quirk::DownloadInfoUnfinished,
        helper: None,
        oracle: "replies",
        // The size differs: upstream appends (98304 bytes on disk), the reference's writer
        // creates the file at its full size.
        reason: "probe 1 (1045 to resource): offered photo.png (",
        also: Some((
            "no_panic",
            "the server died on frame 1045 (16 bytes): {\"message_id\":2}",
        )),
    },
    Row {
        row: 5,
        file: "05-bad-seq-succeeds.toml",
        quirk: Quirk::BadSeqSucceeds,
        helper: None,
        oracle: "replies",
        reason: "probe 2 (1047 to resource): seq 3 is not the next one on this connection (2 is), \
                 yet the answer was Success with no data",
        also: None,
    },
    Row {
        row: 6,
        file: "06-bare-chunk-error.toml",
        quirk: Quirk::BareChunkError,
        // The reference client sends the unanswered chunk again after its timeout; the stall
        // needs the seed's missing timer, as seed bug 3 does.
        helper: Some(Quirk::NoRetransmit),
        oracle: "liveness",
        reason: "photo.png (150000 bytes) to 2 (carried out at 500 ms) never finished",
        also: None,
    },
    Row {
        row: 7,
        file: "07-notify-once.toml",
        quirk: Quirk::NotifyOnce,
        helper: None,
        oracle: "notify",
        reason: "user1 was never told that photo.png was uploaded",
        also: None,
    },
    Row {
        row: 8,
        file: "08-dies-on-missing-message.toml",
        quirk: Quirk::DiesOnMissingMessage,
        // The reference binds every upload to its message and refuses the forged id before a
        // byte is stored; upstream's uploads check nothing (row 9).
        helper: Some(Quirk::NoTokenCheck),
        oracle: "no_panic",
        reason: "the server died on the last chunk of photo.png for message 99, which has no row",
        also: None,
    },
    Row {
        row: 9,
        file: "09-token-only-on-1031-and-1047.toml",
        quirk: Quirk::NoTokenCheck,
        helper: None,
        oracle: "confinement",
        reason: "uid 2 wrote seq 1 of alice.png into the upload of uid 1",
        also: None,
    },
];

fn expect_violated(outcome: &Outcome, row: &Row, way: &str) {
    for (oracle, reason) in std::iter::once((row.oracle, row.reason)).chain(row.also) {
        let v = violation(outcome, oracle).unwrap_or_else(|| {
            panic!(
                "row {} ({}), {way}: oracle {oracle} holds; violated: {:?}",
                row.row,
                row.file,
                violated(outcome)
            )
        });
        assert!(
            v.detail.contains(reason),
            "row {} ({}), {way}: {oracle} is violated, but not for the row's reason {reason:?}: {}",
            row.row,
            row.file,
            v.detail
        );
    }
}

fn check(number: usize) {
    let row = ROWS.iter().find(|r| r.row == number).expect("listed");
    let path = PathBuf::from(DIR).join(row.file);
    let scenario = chatsim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        scenario.profile.is_none() && scenario.quirks.is_empty(),
        "{}: a reproduction runs under the reference profile unless told otherwise",
        row.file
    );
    let upstream_expect = scenario
        .expect
        .upstream
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no [expect.upstream]", row.file));
    for (oracle, _) in std::iter::once((row.oracle, row.reason)).chain(row.also) {
        assert!(upstream_expect.violated.iter().any(|o| o == oracle));
    }
    assert!(
        Profile::upstream().has(row.quirk),
        "{} is not in the upstream profile",
        row.quirk
    );

    // (a) the upstream profile.
    let upstream = run(&path, Profile::upstream());
    assert!(
        upstream.passed(),
        "{} under the upstream profile does not meet [expect.upstream]:\n{}",
        row.file,
        upstream.expectation.unmet.join("\n")
    );
    expect_violated(&upstream, row, "upstream profile");

    // (b) the reference profile.
    let reference = run(&path, Profile::reference());
    assert_eq!(violated(&reference), Vec::<&str>::new(), "{}", row.file);
    assert!(
        reference.passed(),
        "{} under the reference does not meet [expect]:\n{}",
        row.file,
        reference.expectation.unmet.join("\n")
    );

    // (c) the row's quirk alone (with its helper).
    let alone = quirk_alone(
        &path,
        (row.quirk, row.helper),
        row.oracle,
        &format!("row {}", row.row),
    );
    let outcome = run(&path, alone);
    expect_violated(&outcome, row, "its quirk alone");
}

#[test]
fn every_reproduction_is_in_the_table() {
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .expect("scenarios/upstream-bugs exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    files.sort();
    let listed: Vec<&str> = ROWS.iter().map(|r| r.file).collect();
    assert_eq!(
        files, listed,
        "scenarios/upstream-bugs and the table differ"
    );
    for r in ROWS {
        assert!(r.file.starts_with(&format!("{:02}-", r.row)));
        assert!(chatsim::sim::oracles::ORACLES.contains(&r.oracle));
    }
}

#[test]
fn a_server_that_died_stays_down_until_a_fault_restarts_it() {
    let path = PathBuf::from(DIR).join("01-dies-on-bad-chunk.toml");
    let outcome = run(&path, Profile::reference().with(Quirk::DiesOnBadChunk));
    let died = outcome
        .records
        .iter()
        .position(|r| matches!(r.event, Event::ServerDied { .. }))
        .expect("the server died");
    // Nothing is received by the resource host between its death and the restart fault.
    let restarted = outcome
        .records
        .iter()
        .position(|r| matches!(&r.event, Event::Fault { kind, .. } if kind == "bounce"))
        .expect("the bounce fired");
    assert!(restarted > died);
    let received_while_dead = outcome.records[died + 1..restarted]
        .iter()
        .filter(|r| r.host == "resource" && matches!(r.event, Event::Frame { .. }))
        .count();
    assert_eq!(received_while_dead, 0, "a dead server read frames");
    let gap = outcome.records[restarted].t_ms - outcome.records[died].t_ms;
    assert!(
        (3000..3100).contains(&gap),
        "restarted {gap} ms after death"
    );
}

macro_rules! reproductions {
    ($($name:ident => $number:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check($number);
            }
        )*
    };
}

reproductions! {
    row_1_dies_on_bad_chunk => 1,
    row_2_dies_on_negative_length => 2,
    row_3_silent_download_info => 3,
    row_4_download_info_unfinished => 4,
    row_5_bad_seq_succeeds => 5,
    row_6_bare_chunk_error => 6,
    row_7_notify_once => 7,
    row_8_dies_on_missing_message => 8,
    row_9_token_only_on_1031_and_1047 => 9,
}
