//! `chatsim conform` against `serve --profile upstream` (issue 15): the deployed ResourceServer's
//! own quirks, each switched on alone over the reference, must each make at least one case FAIL
//! (for a server that dies, the case after which it stopped accepting connections), and so must
//! the whole upstream profile. The one exception is `silent_download_info`: conform's 10.6 rates
//! upstream's silence to an unknown 1045 non-strict, not a failure. Prints the matrix:
//! `cargo test --test conform_upstream -- --nocapture`.

#[path = "common/escaped_files.rs"]
mod escaped_files;

use chatsim::conform::{self, NotifyListener, Options, Verdict};
use chatsim::profile::{Profile, Quirk};
use chatsim::serve::{Background, ServeConfig};
use escaped_files::remove_escaped_files;
use std::path::PathBuf;
use std::sync::Arc;

/// Upstream quirks no case provokes, and why.
const UNOBSERVABLE: &[(Quirk, &str)] = &[(
    Quirk::DiesOnMissingMessage,
    "needs an upload for a message with no row to complete while its receiver is logged in to \
     the chat server; the reference binds uploads to messages, so no case sends one (the \
     simulation shows it: scenarios/upstream-bugs/08-dies-on-missing-message.toml)",
)];

fn data_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chatsim-upstream-{}-{label}", std::process::id()));
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
        let started: Vec<(Background, PathBuf, Arc<NotifyListener>)> = batch
            .iter()
            .map(|(label, profile)| {
                let mut config = ServeConfig::new(data_dir(label));
                config.chat_addr = "127.0.0.1:0".into();
                config.resource_addr = "127.0.0.1:0".into();
                config.grpc_addr = "127.0.0.1:0".into();
                config.profile = profile.clone();
                // The notify goes to conform, so that the notify cases (9.x) run too: conform's
                // listener first, on port 0, then servers told where it listens. A port chosen
                // free and bound later could be taken in between (the other servers of the batch
                // bind port 0 meanwhile), and the run would not start.
                let notify = runtime
                    .block_on(NotifyListener::start("127.0.0.1:0"))
                    .expect("the notify listener binds");
                config.notify_addr = Some(notify.addr().to_owned());
                let dir = config.data_dir.clone();
                let servers = Background::start(config).expect("the servers start");
                (servers, dir, Arc::new(notify))
            })
            .collect();
        let runs = started.iter().map(|(servers, _, notify)| {
            let mut options = Options::new(servers.addrs().resource.clone());
            options.chat = Some(servers.addrs().chat.clone());
            let notify = notify.clone();
            // The default timeout: on a loaded machine a shorter one made correct answers late.
            async move { conform::run_with_notify(&options, notify, |_| {}).await }
        });
        let reports = runtime.block_on(futures::future::join_all(runs));
        for ((servers, dir, _), report) in started.into_iter().zip(reports) {
            drop(servers);
            let _ = std::fs::remove_dir_all(dir);
            let report = report.expect("the run starts");
            // FAIL, and NonStrict where the protocol tolerates what upstream does (10.6's silence).
            let failed = report
                .cases
                .iter()
                .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::NonStrict));
            for case in failed.clone() {
                eprintln!("{}: {}", case.id, case.reason.as_deref().unwrap_or(""));
            }
            out.push(
                failed
                    .map(|c| {
                        let number = c.id.split_once(' ').map_or(c.id, |(n, _)| n);
                        match c.verdict {
                            Verdict::NonStrict => format!("{number} (non-strict)"),
                            _ => number.to_owned(),
                        }
                    })
                    .collect(),
            );
        }
    }
    remove_escaped_files();
    out
}

#[test]
fn each_upstream_quirk_fails_a_case_and_the_upstream_profile_fails_them_all() {
    let mut profiles = vec![
        ("reference".to_owned(), Profile::reference()),
        ("upstream".to_owned(), Profile::upstream()),
    ];
    for quirk in Quirk::UPSTREAM_ONLY {
        profiles.push((quirk.name().to_owned(), Profile::reference().with(quirk)));
    }
    let mut failed = failing_cases(&profiles);
    // The notify goes to conform, not to the chat server, so no 1039 is ever pushed: the push
    // cases fail for every profile and say nothing about the quirks.
    assert_eq!(failed[0], ["11.9", "13.7"], "the reference");
    let baseline = failed[0].clone();
    for cases in &mut failed[1..] {
        cases.retain(|c| !baseline.contains(c));
    }
    println!("| quirk | cases that FAIL |\n|---|---|");
    for ((name, _), failed) in profiles.iter().zip(&failed) {
        println!("| `{name}` | {} |", failed.join(", "));
    }
    // Without `--restart` a server that died costs the rest of the run (CouldNotRun), so the
    // whole profile is not a union of the quirks: it must fail something, and so must each.
    assert!(
        failed[1].iter().any(|c| !c.ends_with("(non-strict)")),
        "the upstream profile fails no case"
    );
    for (quirk, cases) in Quirk::UPSTREAM_ONLY.iter().zip(&failed[2..]) {
        match UNOBSERVABLE.iter().find(|(q, _)| q == quirk) {
            Some((_, why)) => assert!(
                cases.is_empty(),
                "{quirk} was thought unobservable ({why}) but fails {cases:?}"
            ),
            None => assert!(!cases.is_empty(), "no case catches {quirk}"),
        }
    }
    let silent = Quirk::UPSTREAM_ONLY
        .iter()
        .position(|q| *q == Quirk::SilentDownloadInfo)
        .expect("listed");
    assert_eq!(failed[2 + silent], ["10.6 (non-strict)"]);
}
