//! A PASS must mean the run did its work and every check looked at it. Each test here is a run
//! that used to pass while doing nothing, or less than it said.

use chatsim::scenario;
use chatsim::sim::{self, Outcome, RunOptions};
use chatsim::trace::Event;
mod common;

use common::scenario_files;
use std::path::Path;

fn parse(text: &str) -> scenario::Scenario {
    scenario::parse(Path::new("inline.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

fn violation<'a>(outcome: &'a Outcome, oracle: &str) -> Option<&'a str> {
    outcome
        .verdicts
        .iter()
        .find(|v| v.oracle == oracle)
        .and_then(|v| v.violation.as_ref())
        .map(|v| v.detail.as_str())
}

fn stored(outcome: &Outcome, file: &str) -> bool {
    outcome
        .records
        .iter()
        .any(|r| matches!(&r.event, Event::UploadCommitted { file: f, .. } if f == file))
}

/// A 1 MiB image on a 200 ms round trip, first action at 100 ms: the run must not settle before
/// the upload has even started.
const SLOW_LINK: &str = r#"
time_limit_s = 900
[link]
latency_ms = [100, 100]
[[users]]
uid = 1
[[users]]
uid = 2
[[actions]]
at_ms = 100
user = 1
image = { to = 2, size = 1048576, name = "big.png" }
"#;

#[test]
fn a_slow_link_runs_its_upload_before_it_settles() {
    let outcome = sim::run(&parse(SLOW_LINK), 1);
    assert!(outcome.settled);
    assert!(stored(&outcome, "big.png"), "the upload must have run");
    assert!(outcome.passed(), "{:?}", outcome.expectation.unmet);
}

#[test]
fn a_time_limit_too_short_fails_liveness_naming_the_image() {
    let text = SLOW_LINK.replace("time_limit_s = 900", "time_limit_s = 5");
    let outcome = sim::run(&parse(&text), 1);
    let detail = violation(&outcome, "liveness").expect("liveness must be violated");
    assert!(detail.contains("big.png"), "{detail}");
    assert!(!outcome.passed());
}

#[test]
fn a_stall_longer_than_liveness_s_fails_even_inside_the_time_limit() {
    // The sender is cut off from the resource server from 0.3 s to 40.3 s. Waiting during the
    // partition is excused; after the heal the upload must move again within liveness_s.
    let text = |heal_ms: u64| {
        format!(
            r#"
time_limit_s = 120
liveness_s = 10
[[users]]
uid = 1
[[users]]
uid = 2
[[actions]]
at_ms = 100
user = 1
image = {{ to = 2, size = 300000, name = "slow.png" }}
[[faults]]
at_ms = 300
kind = "partition"
a = "user1"
b = "resource"
[[faults]]
at_ms = {heal_ms}
kind = "heal"
a = "user1"
b = "resource"
"#
        )
    };
    let healed = sim::run(&parse(&text(40_300)), 3);
    assert!(healed.passed(), "{:?}", healed.expectation.unmet);
    let stalled = text(40_300).replace("liveness_s = 10", "liveness_s = 1");
    let outcome = sim::run(&parse(&stalled), 3);
    let stalls: Vec<u64> = outcome
        .records
        .iter()
        .filter_map(|r| match r.event {
            Event::ActionOutcome {
                longest_stall_ms, ..
            } => Some(longest_stall_ms),
            _ => None,
        })
        .collect();
    // Whatever the recovery took after the heal, the oracle judges it against the bound.
    assert_eq!(
        violation(&outcome, "liveness").is_some(),
        stalls.iter().any(|s| *s > 1000),
        "{stalls:?}"
    );
}

#[test]
fn a_fault_that_never_fires_fails_the_run() {
    let text = format!(
        "{SLOW_LINK}\n[[faults]]\nafter = {{ event = \"upload_rejected\", file = \"big.png\" }}\nkind = \"crash\"\nhost = \"resource\"\n"
    );
    let outcome = sim::run(&parse(&text), 1);
    assert_eq!(outcome.faults.len(), 1);
    assert!(outcome.faults[0].fired_ms.is_empty());
    assert!(!outcome.passed());
    assert!(outcome.expectation.unmet[0].contains("never fired"));
    let optional = text.replace("kind = \"crash\"", "kind = \"crash\"\noptional = true");
    assert!(sim::run(&parse(&optional), 1).passed());
}

#[test]
fn a_frame_fault_that_matches_no_frame_fails_the_run() {
    // A resume (1043) only follows a reconnect, which this run never has.
    let text = format!("{SLOW_LINK}\n[[frame_faults]]\naction = \"drop\"\nid = 1043\n");
    let outcome = sim::run(&parse(&text), 1);
    assert!(!outcome.passed());
    assert!(outcome.expectation.unmet[0].contains("frame fault 1 (drop) never fired"));
}

#[test]
fn a_quirk_run_that_reproduces_nothing_fails() {
    // A clean run cannot show a lost reply: with no frame dropped, `no_retransmit` shows nothing.
    let path = Path::new("scenarios/seed-bugs/04-no-retransmit.toml");
    let mut scenario = scenario::load(path).unwrap();
    scenario.frame_faults.clear();
    let options = RunOptions {
        profile: chatsim::profile::Profile::reference()
            .with("no_retransmit".parse().expect("a quirk")),
        ..RunOptions::of(&scenario)
    };
    let outcome = sim::run_with(&scenario, &options);
    assert!(!outcome.passed());
    assert!(
        outcome.expectation.unmet[0].contains("reproduced nothing"),
        "{:?}",
        outcome.expectation.unmet
    );
}

/// The sender reported the image failed or cancelled: an outcome, not an absence.
fn given_up(outcome: &Outcome, file: &str) -> bool {
    outcome.records.iter().any(|r| {
        matches!(&r.event, Event::UploadFailed { file: f, .. } | Event::UploadCancelled { file: f } if f == file)
    })
}

/// A hollow run: every oracle holds, the run passes, and yet an image was neither stored nor
/// given up by its sender.
fn hollow(outcome: &Outcome, images: &[String]) -> Option<String> {
    let all_hold = outcome.verdicts.iter().all(|v| v.violation.is_none());
    let missing: Vec<&String> = images
        .iter()
        .filter(|f| !stored(outcome, f) && !given_up(outcome, f))
        .collect();
    (outcome.passed() && all_hold && !missing.is_empty())
        .then(|| format!("passed with {missing:?} never stored"))
}

/// The guard for the whole class: every scenario, run by a world whose users never carry out
/// their actions, or over links 100 times slower, must not pass while its images were never
/// stored.
#[test]
fn no_scenario_passes_without_doing_its_work() {
    let mut files = Vec::new();
    scenario_files(Path::new("scenarios"), &mut files);
    let mut hollow_runs = Vec::new();
    for path in &files {
        let scenario = scenario::load(path).unwrap();
        let images: Vec<String> = scenario
            .steps()
            .into_iter()
            .filter_map(|(_, _, step)| match step {
                scenario::Step::Image { name, .. } => Some(name),
                _ => None,
            })
            .collect();
        if scenario.steps().is_empty() {
            continue;
        }
        // Actions that never happen never finish, so the run goes to its time limit: keep it short.
        let mut idle = scenario.clone();
        idle.time_limit_s = idle.time_limit_s.min(10);
        let skipped = RunOptions {
            skip_actions: true,
            ..RunOptions::of(&idle)
        };
        let outcome = sim::run_with(&idle, &skipped);
        let all_hold = outcome.verdicts.iter().all(|v| v.violation.is_none());
        if outcome.passed() && all_hold {
            hollow_runs.push(format!(
                "{}: passed with no action carried out",
                path.display()
            ));
        }
        let mut slow = scenario.clone();
        slow.link.latency_ms = slow.link.latency_ms.map(|ms| (ms * 100).max(100));
        slow.time_limit_s = slow.time_limit_s.min(30);
        let outcome = sim::run_with(&slow, &RunOptions::of(&slow));
        if let Some(why) = hollow(&outcome, &images) {
            hollow_runs.push(format!("{} with slow links: {why}", path.display()));
        }
    }
    assert!(hollow_runs.is_empty(), "{hollow_runs:#?}");
}

/// Bob probes the resource server for a message that does not exist.
const PROBE: &str = r#"
time_limit_s = 20
[[users]]
uid = 1
[[users]]
uid = 2
[[actions]]
at_ms = 300
user = 2
probe = { server = "resource", id = 1045, body = { message_id = 4242 }, expect = { error = 1012 } }
"#;

#[test]
fn a_probe_is_an_action_the_run_waits_for_and_then_settles() {
    let outcome = sim::run(&parse(PROBE), 1);
    assert!(outcome.passed(), "{:?}", outcome.expectation.unmet);
    assert!(outcome.settled);
    assert!(
        outcome.sim_time.as_secs() < 2,
        "settled once answered, not at the time limit: {:?}",
        outcome.sim_time
    );
    let finished = outcome.records.iter().any(|r| {
        matches!(&r.event, Event::ActionOutcome { action, outcome, .. }
            if action == "probe 1 (1045 to resource)" && outcome.starts_with("answered 1046 with error 1012"))
    });
    assert!(finished, "the books closed the probe with its answer");
    // Never carried out: the run does not settle and liveness says so.
    let skipped = RunOptions {
        skip_actions: true,
        ..RunOptions::of(&parse(PROBE))
    };
    let idle = sim::run_with(&parse(PROBE), &skipped);
    let detail = violation(&idle, "liveness").expect("a probe never sent is not done");
    assert!(detail.contains("probe 1 (1045 to resource)"), "{detail}");
}

#[test]
fn a_probe_that_never_reached_its_server_could_not_be_judged_and_fails_the_run() {
    // The resource server is down from 100 ms: the probe cannot even connect.
    let text = format!("{PROBE}[[faults]]\nat_ms = 100\nkind = \"crash\"\nhost = \"resource\"\n");
    let outcome = sim::run(&parse(&text), 1);
    let replies = outcome
        .verdicts
        .iter()
        .find(|v| v.oracle == "replies")
        .unwrap();
    assert!(replies.violation.is_none());
    let unjudged = replies.could_not_judge.as_ref().expect("could not judge");
    assert!(
        unjudged.detail.contains("never reached its server"),
        "{}",
        unjudged.detail
    );
    assert!(!outcome.passed(), "could not judge is never a pass");
    assert!(
        outcome.expectation.unmet[0].starts_with("oracle replies could not judge"),
        "{:?}",
        outcome.expectation.unmet
    );
    // Not even when the scenario expected replies to be violated.
    let mut expecting = parse(&text);
    expecting.expect.base.violated = vec!["replies".into()];
    assert!(!sim::run(&expecting, 1).passed());
}

#[test]
fn probes_of_one_user_are_one_conversation_until_the_server_closes_it() {
    // An id the protocol lacks: the reference closes the connection. The next probe must not
    // take that close for its answer; it goes on a new connection. Then malformed JSON behind
    // a valid header, on the same connection as the 1045 before it.
    let text = r#"
time_limit_s = 20
[[users]]
uid = 1
[[users]]
uid = 2
[[actions]]
at_ms = 300
user = 2
probe = { server = "resource", id = 1099, expect = { closed = true } }
[[actions]]
at_ms = 300
user = 2
probe = { server = "resource", id = 1045, body = { message_id = 4242 }, expect = { error = 1012 } }
[[actions]]
at_ms = 300
user = 2
probe = { server = "resource", id = 1045, body = "{\"message_id\": ", expect = { error = 1001 } }
"#;
    let outcome = sim::run(&parse(text), 1);
    assert!(outcome.passed(), "{:?}", outcome.expectation.unmet);
    let conns: Vec<u32> = outcome
        .records
        .iter()
        .filter_map(|r| match r.event {
            Event::ProbeSent { conn, .. } => Some(conn),
            _ => None,
        })
        .collect();
    assert_eq!(conns, [1, 2, 2]);
}
