//! The seed's twelve transfer bugs (docs/protocol.md section 9), each reproduced by one scenario under
//! `scenarios/seed-bugs/`. Every scenario is run three ways:
//!
//! (a) under the seed profile (every quirk at once): the scenario's `[expect.seed]` is met and the
//!     bug's oracle is violated, for the bug's reason;
//! (b) under the reference profile: every oracle holds and the scenario's `[expect]` is met;
//! (c) under the reference profile plus only the bug's quirk (and, where the bug needs one to show,
//!     a helper quirk): the bug's oracle is violated for the bug's reason, and with the helper
//!     alone it holds, so it is the bug's own quirk that breaks it.
//!
//! The table below is written by hand from docs/protocol.md, not computed from a run.

#[path = "common/profile_runs.rs"]
mod profile_runs;

use chatsim::profile::{Profile, Quirk};
use chatsim::sim::Outcome;
use profile_runs::{quirk_alone, run, violated, violation};
use std::path::PathBuf;

const DIR: &str = "scenarios/seed-bugs";

struct Bug {
    number: usize,
    file: &'static str,
    quirk: Quirk,
    /// Another quirk without which this bug cannot be seen (the reference hides it).
    helper: Option<Quirk>,
    oracle: &'static str,
    /// Words of the violation's detail under the seed profile that show it is this bug.
    seed_reason: &'static str,
    /// The same, under the reference plus the bug's quirk (and helper).
    alone_reason: &'static str,
}

const BUGS: &[Bug] = &[
    Bug {
        number: 1,
        file: "01-append-chunks.toml",
        quirk: Quirk::AppendChunks,
        // The reference completion rule checks the md5, rejects the permuted file and the client
        // starts over; the permuted file is kept only when the `last` flag completes it.
        helper: Some(Quirk::LastFlagCompletes),
        oracle: "integrity",
        seed_reason: "seq 3 holds the bytes of source seq 4, seq 4 holds the bytes of source seq 3",
        // The reference receiver checks the md5 the server reports in 1046 and refuses the bad
        // download, so it is the stored file that breaks integrity.
        alone_reason: "stored photo.png",
    },
    Bug {
        number: 2,
        file: "02-last-flag-completes.toml",
        quirk: Quirk::LastFlagCompletes,
        helper: None,
        oracle: "integrity",
        seed_reason: "(seq 2 differs from the source)",
        alone_reason: "stored photo.png",
    },
    Bug {
        number: 3,
        file: "03-error-reply-as-1032.toml",
        quirk: Quirk::ErrorReplyAs1032,
        // The reference client sends the unanswered chunk again after its timeout, and the
        // retransmission is stored: the stall needs the seed's missing timer too.
        helper: Some(Quirk::NoRetransmit),
        oracle: "liveness",
        seed_reason: "photo.png never finished uploading: seq 3 sent and never answered",
        alone_reason: "photo.png never finished uploading: seq 3 sent and never answered",
    },
    Bug {
        number: 4,
        file: "04-no-retransmit.toml",
        quirk: Quirk::NoRetransmit,
        helper: None,
        oracle: "liveness",
        seed_reason: "photo.png never finished uploading: seq 3 sent and never answered",
        alone_reason: "photo.png never finished uploading: seq 3 sent and never answered",
    },
    Bug {
        number: 5,
        file: "05-shared-window-counter.toml",
        quirk: Quirk::SharedWindowCounter,
        helper: None,
        oracle: "window",
        seed_reason: "6 chunks on the wire without a reply, over 5",
        alone_reason: "6 chunks on the wire without a reply, over 5",
    },
    Bug {
        number: 6,
        file: "06-null-batch-send.toml",
        quirk: Quirk::NullBatchSend,
        helper: None,
        oracle: "no_panic",
        seed_reason: "BatchSend(GetFreeTransFile()) with no file waiting",
        alone_reason: "BatchSend(GetFreeTransFile()) with no file waiting",
    },
    Bug {
        number: 7,
        file: "07-no-completion-chain.toml",
        quirk: Quirk::NoCompletionChain,
        helper: None,
        oracle: "notify",
        seed_reason: "user1 was never told that photo.png was uploaded",
        alone_reason: "user1 was never told that photo.png was uploaded",
    },
    Bug {
        number: 8,
        file: "08-unchecked-path.toml",
        quirk: Quirk::UncheckedPath,
        helper: None,
        oracle: "confinement",
        seed_reason: "written to \"1/../escape.png\", outside uid 1's folder",
        alone_reason: "written to \"1/../escape.png\", outside uid 1's folder",
    },
    Bug {
        number: 9,
        file: "09-no-token-check.toml",
        quirk: Quirk::NoTokenCheck,
        helper: None,
        oracle: "confinement",
        seed_reason: "uid 2 wrote seq 1 of alice.png into the upload of uid 1",
        alone_reason: "uid 2 wrote seq 1 of alice.png into the upload of uid 1",
    },
    Bug {
        number: 10,
        file: "10-write-error-acked.toml",
        quirk: Quirk::WriteErrorAcked,
        helper: None,
        oracle: "durable_ack",
        seed_reason: "was acked but is not in the upload state",
        alone_reason: "was acked but is not in the upload state",
    },
    Bug {
        number: 11,
        file: "11-image-as-text.toml",
        quirk: Quirk::ImageAsText,
        helper: None,
        oracle: "messages",
        seed_reason: "is the image photo.png from 1 to 2, stored as a text",
        alone_reason: "is the image photo.png from 1 to 2, stored as a text",
    },
    Bug {
        number: 12,
        file: "12-trailing-empty-text.toml",
        quirk: Quirk::TrailingEmptyText,
        helper: None,
        oracle: "messages",
        seed_reason: "(1100 characters) was sent but never acknowledged",
        alone_reason: "(1100 characters) was sent but never acknowledged",
    },
];

fn bug(number: usize) -> &'static Bug {
    BUGS.iter().find(|b| b.number == number).expect("listed")
}

fn expect_violated(outcome: &Outcome, bug: &Bug, reason: &str, way: &str) {
    let v = violation(outcome, bug.oracle).unwrap_or_else(|| {
        panic!(
            "bug {} ({}), {way}: oracle {} holds; violated: {:?}",
            bug.number,
            bug.file,
            bug.oracle,
            violated(outcome)
        )
    });
    assert!(
        v.detail.contains(reason),
        "bug {} ({}), {way}: {} is violated, but not for the bug's reason {reason:?}: {}",
        bug.number,
        bug.file,
        bug.oracle,
        v.detail
    );
}

fn check(number: usize) {
    let bug = bug(number);
    assert_eq!(bug.quirk.bug(), bug.number, "the quirk of bug {number}");
    let path = PathBuf::from(DIR).join(bug.file);
    let scenario = chatsim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        scenario.profile.is_none() && scenario.quirks.is_empty(),
        "{}: a reproduction runs under the reference profile unless told otherwise",
        bug.file
    );
    let seed_expect = scenario
        .expect
        .seed
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no [expect.seed]", bug.file));
    assert!(
        seed_expect.violated.iter().any(|o| o == bug.oracle),
        "{}: [expect.seed] must name {}",
        bug.file,
        bug.oracle
    );

    // (a) the seed profile: the scenario's seed expectation, and this bug's oracle for its reason.
    let seed = run(&path, Profile::seed());
    assert!(
        seed.passed(),
        "{} under the seed profile does not meet [expect.seed]:\n{}",
        bug.file,
        seed.expectation.unmet.join("\n")
    );
    expect_violated(&seed, bug, bug.seed_reason, "seed profile");

    // (b) the reference profile: every oracle holds.
    let reference = run(&path, Profile::reference());
    assert_eq!(
        violated(&reference),
        Vec::<&str>::new(),
        "{} under the reference profile",
        bug.file
    );
    assert!(
        reference.passed(),
        "{} under the reference profile does not meet [expect]:\n{}",
        bug.file,
        reference.expectation.unmet.join("\n")
    );

    // (c) the reference plus this bug's quirk (and its helper): the bug's oracle breaks.
    let alone = quirk_alone(
        &path,
        (bug.quirk, bug.helper),
        bug.oracle,
        &format!("bug {}", bug.number),
    );
    let outcome = run(&path, alone);
    expect_violated(&outcome, bug, bug.alone_reason, "its quirk alone");
}

#[test]
fn every_reproduction_is_in_the_table_and_every_bug_has_one() {
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .expect("scenarios/seed-bugs exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    files.sort();
    let listed: Vec<&str> = BUGS.iter().map(|b| b.file).collect();
    assert_eq!(files, listed, "scenarios/seed-bugs and the table differ");
    let numbers: Vec<usize> = BUGS.iter().map(|b| b.number).collect();
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
    for b in BUGS {
        assert!(
            b.file.starts_with(&format!("{:02}-", b.number)),
            "{} is not numbered {}",
            b.file,
            b.number
        );
        assert!(chatsim::sim::oracles::ORACLES.contains(&b.oracle));
    }
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
    bug_01_append_chunks => 1,
    bug_02_last_flag_completes => 2,
    bug_03_error_reply_as_1032 => 3,
    bug_04_no_retransmit => 4,
    bug_05_shared_window_counter => 5,
    bug_06_null_batch_send => 6,
    bug_07_no_completion_chain => 7,
    bug_08_unchecked_path => 8,
    bug_09_no_token_check => 9,
    bug_10_write_error_acked => 10,
    bug_11_image_as_text => 11,
    bug_12_trailing_empty_text => 12,
}
