//! The two-server world (issue 12): every scenario under `scenarios/two-chat/` passes (run by
//! `tests/scenarios.rs`), fails when the chat servers stop calling each other, and its trace shows
//! the routing it is about.

use chatsim::sim::{self, Outcome, RunOptions};
use chatsim::trace::{Event, Record};
use std::path::Path;

const DIR: &str = "scenarios/two-chat";

fn run(name: &str, no_forwards: bool) -> Outcome {
    let path = Path::new(DIR).join(format!("{name}.toml"));
    let scenario = chatsim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let options = RunOptions {
        no_forwards,
        ..RunOptions::of(&scenario)
    };
    sim::run_with(&scenario, &options)
}

fn passing(name: &str) -> Outcome {
    let outcome = run(name, false);
    assert!(outcome.passed(), "{name}: {:?}", outcome.expectation.unmet);
    outcome
}

fn find(records: &[Record], pick: impl Fn(&Record) -> bool) -> Vec<&Record> {
    records.iter().filter(|r| pick(r)).collect()
}

/// The resource server's answered notify, by the chat server that answered it.
fn answered_notify(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::NotifyAttempt {
                ok: true, detail, ..
            } => Some(detail.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_two_chat_scenario_fails_when_the_servers_do_not_call_each_other() {
    let mut files: Vec<_> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        6,
        "the five scenarios of issue 12 and one explorer finding"
    );
    for path in files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let mut scenario = chatsim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        // Nothing crosses the servers, so the run waits out its limit: keep it short.
        scenario.time_limit_s = scenario.time_limit_s.min(40);
        let options = RunOptions {
            no_forwards: true,
            ..RunOptions::of(&scenario)
        };
        let outcome = sim::run_with(&scenario, &options);
        eprintln!("MUTANT {name}: {:?}", outcome.expectation.unmet);
        assert!(
            !outcome.passed(),
            "{name} passes with no forwarding between the chat servers: it proves no routing"
        );
    }
}

#[test]
fn the_notify_goes_to_the_receivers_server_and_the_sender_is_told_on_its_own() {
    let outcome = passing("receiver-on-other-server");
    assert_eq!(answered_notify(&outcome.records), ["chat2: answered"]);
    let image_forward = find(&outcome.records, |r| {
        r.host == "chat2"
            && matches!(&r.event, Event::Forward { method, uid: 1, server, ok: true, .. }
                if method == "image" && server == "chat1")
    });
    assert_eq!(
        image_forward.len(),
        1,
        "chat2 tells chat1 of the sender once"
    );
    let text_forward = find(&outcome.records, |r| {
        r.host == "chat1"
            && matches!(&r.event, Event::Forward { method, uid: 2, ok: true, .. } if method == "text")
    });
    assert_eq!(text_forward.len(), 1, "chat1 forwards the texts to chat2");
}

#[test]
fn a_receiver_that_moves_mid_upload_is_notified_where_it_went() {
    let outcome = passing("receiver-moves-during-upload");
    assert_eq!(answered_notify(&outcome.records), ["chat2: answered"]);
    let kicked = find(&outcome.records, |r| {
        r.host == "chat1" && matches!(r.event, Event::Kicked { uid: 2 })
    });
    assert_eq!(kicked.len(), 1);
    let commit = find(&outcome.records, |r| {
        matches!(r.event, Event::UploadCommitted { .. })
    });
    assert!(
        kicked[0].t_ms < commit[0].t_ms,
        "the move happens during the upload"
    );
}

#[test]
fn a_second_login_kicks_the_first_session() {
    let outcome = passing("double-login-kicks-first-session");
    let ended = find(&outcome.records, |r| {
        r.host == "chat1"
            && matches!(&r.event, Event::SessionEnded { uid: 2, reason } if reason.starts_with("kicked"))
    });
    assert_eq!(
        ended.len(),
        1,
        "chat1 ends user 2's first session as a kick"
    );
    let second_login = find(&outcome.records, |r| {
        r.host == "chat2" && matches!(r.event, Event::SessionStarted { uid: 2 })
    });
    // Kicked within a few round trips of the second login, not by the 20 s heartbeat timeout.
    assert!(ended[0].t_ms < second_login[0].t_ms + 1000);
}

#[test]
fn a_notify_to_a_crashed_server_is_retried_until_it_is_back() {
    let outcome = passing("receiver-server-crashes-at-completion");
    let answers = answered_notify(&outcome.records);
    assert_eq!(answers, ["chat2: answered"]);
    let failed = find(
        &outcome.records,
        |r| matches!(&r.event, Event::NotifyAttempt { ok: false, detail, .. } if detail.starts_with("chat2")),
    );
    assert!(!failed.is_empty(), "the crash was in the notify's way");
}

#[test]
fn forwards_are_retried_until_the_link_between_the_servers_heals() {
    let outcome = passing("chat-link-partitioned-during-texts");
    let forwards = find(&outcome.records, |r| {
        matches!(r.event, Event::Forward { .. })
    });
    let failed_before_heal = forwards
        .iter()
        .any(|r| r.t_ms < 8400 && matches!(r.event, Event::Forward { ok: false, .. }));
    let answered_after_heal = forwards
        .iter()
        .any(|r| r.t_ms >= 8400 && matches!(r.event, Event::Forward { ok: true, .. }));
    assert!(failed_before_heal && answered_after_heal);
}

#[test]
fn two_server_runs_are_deterministic() {
    let lines = |o: &Outcome| -> Vec<String> {
        o.records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    };
    for name in [
        "receiver-moves-during-upload",
        "chat-link-partitioned-during-texts",
    ] {
        assert!(
            lines(&run(name, false)) == lines(&run(name, false)),
            "{name}: two runs with one seed differ"
        );
    }
}

#[test]
fn the_explorer_draws_valid_two_server_worlds_on_top_of_the_one_server_draws() {
    use chatsim::explore::{generate, generate_two_chat};
    let profile = chatsim::profile::Profile::reference();
    let mut moved = 0;
    for seed in 0..50 {
        let one = generate(seed, &profile);
        let two = generate_two_chat(seed, &profile);
        assert_eq!(
            one.users, two.users,
            "seed {seed}: the one-server draws are kept"
        );
        let text = two.to_toml();
        let scenario = chatsim::scenario::parse(Path::new("explore.toml"), &text)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        assert_eq!(scenario.chat_servers, 2);
        assert!(
            !text.contains("\"chat\""),
            "seed {seed}: no host of the one-server world\n{text}"
        );
        moved += text.matches("login = { server").count();
    }
    assert!(moved > 0, "some users move between the servers");
}
