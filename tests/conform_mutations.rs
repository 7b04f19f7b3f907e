//! The mutation score of the conformance suite: conform runs against the reference servers with
//! each server-side seed quirk switched on alone (what `chatsim serve --quirk NAME` runs). Every
//! quirk that can show on the wire must make at least one case FAIL; the reference makes none.
//! Prints the matrix (quirk -> failing cases) that the README shows:
//! `cargo test --test conform_mutations -- --nocapture`.

#[path = "common/escaped_files.rs"]
mod escaped_files;

use chatsim::conform::{self, Options, Verdict};
use chatsim::profile::{Profile, Quirk};
use chatsim::serve::{Background, ServeConfig};
use escaped_files::remove_escaped_files;
use std::path::PathBuf;

/// The quirks the servers consult (the others are the client's).
const SERVER_QUIRKS: &[Quirk] = &[
    Quirk::AppendChunks,
    Quirk::LastFlagCompletes,
    Quirk::ErrorReplyAs1032,
    Quirk::NoCompletionChain,
    Quirk::UncheckedPath,
    Quirk::NoTokenCheck,
    Quirk::WriteErrorAcked,
    Quirk::ImageAsText,
];

/// Server quirks no case can see from outside, and why. They are expected to fail nothing; a
/// case that starts catching one should move it out of this list.
const UNOBSERVABLE: &[(Quirk, &str)] = &[
    (
        Quirk::WriteErrorAcked,
        "needs a failing disk on the server; a client cannot make a write fail",
    ),
    (
        Quirk::ImageAsText,
        "changes only the stored msg_type, which no reply the protocol has carries",
    ),
];

fn data_dir(label: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("chatsim-mutations-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The ids of the cases that FAIL against servers of each profile, three runs at a time (they
/// mostly wait on the network). Notify cases are left out: they need servers configured to
/// notify conform; the 1039 push cases see the notify chain.
fn failing_cases(profiles: &[(String, Profile)]) -> Vec<Vec<String>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in profiles.chunks(3) {
        let started: Vec<(Background, PathBuf)> = batch
            .iter()
            .map(|(label, profile)| {
                let mut config = ServeConfig::new(data_dir(label));
                config.chat_addr = "127.0.0.1:0".into();
                config.resource_addr = "127.0.0.1:0".into();
                config.grpc_addr = "127.0.0.1:0".into();
                config.profile = profile.clone();
                let dir = config.data_dir.clone();
                (Background::start(config).expect("the servers start"), dir)
            })
            .collect();
        let runs = started.iter().map(|(servers, _)| {
            let mut options = Options::new(servers.addrs().resource.clone());
            options.chat = Some(servers.addrs().chat.clone());
            options.skip = vec!["notify/*".into()];
            // The default timeout: on a loaded machine a shorter one made correct answers late.
            async move { conform::run(&options, |_| {}).await }
        });
        let reports = runtime.block_on(futures::future::join_all(runs));
        for ((servers, dir), report) in started.into_iter().zip(reports) {
            drop(servers);
            let _ = std::fs::remove_dir_all(dir);
            let report = report.expect("the run starts");
            let failed = report.cases.iter().filter(|c| c.verdict == Verdict::Fail);
            for case in failed.clone() {
                eprintln!("{}: {}", case.id, case.reason.as_deref().unwrap_or(""));
            }
            out.push(
                failed
                    .map(|c| c.id.split_once(' ').map_or(c.id, |(n, _)| n).to_owned())
                    .collect(),
            );
        }
    }
    remove_escaped_files();
    out
}

#[test]
fn every_observable_server_quirk_fails_a_case_and_the_reference_none() {
    let mut profiles = vec![("(reference)".to_owned(), Profile::reference())];
    for &quirk in SERVER_QUIRKS {
        profiles.push((quirk.name().to_owned(), Profile::reference().with(quirk)));
    }
    let failed = failing_cases(&profiles);
    println!("| quirk | cases that FAIL |\n|---|---|");
    for ((name, _), failed) in profiles.iter().zip(&failed) {
        let cases = if failed.is_empty() {
            "none".to_owned()
        } else {
            failed.join(", ")
        };
        let name = if name.starts_with('(') {
            name.clone()
        } else {
            format!("`{name}`")
        };
        println!("| {name} | {cases} |");
    }
    assert!(failed[0].is_empty(), "the reference fails {:?}", failed[0]);
    for (quirk, failed) in SERVER_QUIRKS.iter().zip(&failed[1..]) {
        match UNOBSERVABLE.iter().find(|(q, _)| q == quirk) {
            Some((_, why)) => assert!(
                failed.is_empty(),
                "{quirk} was thought unobservable ({why}) but fails {failed:?}"
            ),
            None => assert!(!failed.is_empty(), "no case catches {quirk}"),
        }
    }
}
