//! One test per kind of mistake in a scenario file, each checking the whole message:
//! `<file>:<line>: <field>: <problem>`. Before these, a misspelt key under `[expect]`, in a fault
//! or in a trigger was accepted and silently meant nothing.

use chatsim::scenario::{parse, FaultKind};
use std::path::Path;
use std::process::Command;

const USERS: &str = "[[users]]\nuid = 1\n[[users]]\nuid = 2\n";

/// Lines 5–8: one image action, so `expect` and faults have a file to name.
const ACTION: &str =
    "[[actions]]\nat_ms = 10\nuser = 1\nimage = { to = 2, size = 100000, name = \"a.png\" }\n";

fn error(text: &str) -> String {
    parse(Path::new("f.toml"), text).unwrap_err().to_string()
}

fn with_fault(fault: &str) -> String {
    format!("{USERS}{ACTION}[[faults]]\n{fault}")
}

#[test]
fn an_unknown_top_level_key_is_refused() {
    assert_eq!(
        error(&format!("seeed = 3\n{USERS}")),
        "f.toml:1: seeed: unknown key; did you mean \"seed\"?"
    );
}

#[test]
fn an_unknown_key_in_link_is_refused() {
    assert_eq!(
        error(&format!("{USERS}[link]\nlatency = [1, 2]\n")),
        "f.toml:6: link.latency: unknown key; did you mean \"latency_ms\"?"
    );
}

#[test]
fn an_unknown_key_in_users_is_refused() {
    assert_eq!(
        error("[[users]]\nuid = 1\nnmae = \"alice\"\n"),
        "f.toml:3: users[0].nmae: unknown key; did you mean \"name\"?"
    );
}

#[test]
fn an_unknown_key_in_an_action_is_refused() {
    let text = format!("{USERS}[[actions]]\nat_ms = 1\nuser = 1\ntxt = 3\n");
    assert_eq!(
        error(&text),
        "f.toml:8: actions[0].txt: unknown key; did you mean \"text\"?"
    );
}

#[test]
fn an_unknown_key_inside_an_action_table_is_refused() {
    let text = format!(
        "{USERS}[[actions]]\nat_ms = 1\nuser = 1\ntext = {{ to = 2, content = [\"x\"] }}\n"
    );
    assert_eq!(
        error(&text),
        "f.toml:8: actions[0].text.content: unknown key; did you mean \"contents\"?"
    );
    let text = format!(
        "{USERS}{ACTION}[[actions]]\nat_ms = 20\nuser = 1\npause = {{ fil = \"a.png\" }}\n"
    );
    assert_eq!(
        error(&text),
        "f.toml:12: actions[1].pause.fil: unknown key; did you mean \"file\"?"
    );
    let text = format!("{USERS}[[actions]]\nat_ms = 1\nuser = 1\nimages = [{{ to = 2, size = 1, nam = \"b.png\" }}]\n");
    assert_eq!(
        error(&text),
        "f.toml:8: actions[0].images[0].nam: unknown key; did you mean \"name\"?"
    );
    let text = format!("{USERS}[[actions]]\nat_ms = 1\nuser = 1\nlogout = {{ now = true }}\n");
    assert_eq!(
        error(&text),
        "f.toml:8: actions[0].logout.now: unknown key; this table takes no keys"
    );
}

#[test]
fn an_unknown_key_in_a_fault_is_refused() {
    let text = with_fault("at_ms = 5\nkind = \"crash\"\nhots = \"chat\"\n");
    assert_eq!(
        error(&text),
        "f.toml:12: faults[0].hots: unknown key; did you mean \"host\"?"
    );
}

#[test]
fn a_key_of_another_fault_kind_is_refused() {
    let text = with_fault("at_ms = 5\nkind = \"crash\"\nhost = \"chat\"\nafter_ms = 10\n");
    assert_eq!(
        error(&text),
        "f.toml:13: faults[0].after_ms: kind \"crash\" takes no `after_ms`; its own keys: host"
    );
}

#[test]
fn an_unknown_fault_kind_is_refused() {
    let text = with_fault("at_ms = 5\nkind = \"partiton\"\na = \"user1\"\nb = \"chat\"\n");
    assert_eq!(
        error(&text),
        "f.toml:11: faults[0].kind: unknown fault kind; did you mean \"partition\"?"
    );
    let text = with_fault("at_ms = 5\nkind = \"meteor\"\n");
    assert_eq!(
        error(&text),
        "f.toml:11: faults[0].kind: unknown fault kind; \"meteor\" is none of partition, heal, hold, \
         release, reset, crash, bounce, restart, disk_error, disk_full, disk_ok, store_crash, \
         bandwidth"
    );
}

#[test]
fn an_unknown_window_policy_and_a_bandwidth_fault_without_kbps_are_refused() {
    let err = error(&format!("window = \"fixed6\"\n{USERS}"));
    assert!(
        err.starts_with(
            "f.toml:1: window: unknown variant `fixed6`, expected `fixed5` or `adaptive`"
        ),
        "{err}"
    );
    assert_eq!(
        error(&with_fault("at_ms = 5\nkind = \"bandwidth\"\n")),
        "f.toml:9: faults[0]: kind \"bandwidth\" needs `kbps`"
    );
    assert_eq!(
        error(&with_fault("at_ms = 5\nkind = \"bandwidth\"\nkbps = 0\n")),
        "f.toml:9: faults[0]: `kbps` must be at least 1"
    );
}

#[test]
fn an_unknown_key_in_a_frame_fault_is_refused() {
    let text = format!("{USERS}[[frame_faults]]\naction = \"drop\"\ndirektion = \"up\"\n");
    assert_eq!(
        error(&text),
        "f.toml:7: frame_faults[0].direktion: unknown key; did you mean \"direction\"?"
    );
}

#[test]
fn a_misspelt_key_under_expect_is_refused() {
    let text = format!("{USERS}{ACTION}[expect]\ndownlaoded = [\"a.png\"]\n");
    assert_eq!(
        error(&text),
        "f.toml:10: expect.downlaoded: unknown key; did you mean \"downloaded\"?"
    );
}

#[test]
fn a_misspelt_key_under_expect_seed_is_refused() {
    let text = format!("{USERS}[expect.seed]\nviolatd = [\"liveness\"]\n");
    assert_eq!(
        error(&text),
        "f.toml:6: expect.seed.violatd: unknown key; did you mean \"violated\"?"
    );
}

#[test]
fn a_trigger_naming_an_unknown_event_is_refused() {
    let text =
        with_fault("kind = \"crash\"\nhost = \"resource\"\nafter = { event = \"chunk_stord\" }\n");
    assert_eq!(
        error(&text),
        "f.toml:12: faults[0].after.event: unknown event; did you mean \"chunk_stored\"? \
         (the event tags are listed in scenarios/README.md)"
    );
}

#[test]
fn a_trigger_naming_a_field_the_event_lacks_is_refused() {
    let text = with_fault(
        "kind = \"crash\"\nhost = \"resource\"\nafter = { event = \"chunk_stored\", sq = 3 }\n",
    );
    assert_eq!(
        error(&text),
        "f.toml:12: faults[0].after.sq: unknown field of event \"chunk_stored\"; did you mean \"seq\"?"
    );
    let text = with_fault(
        "kind = \"crash\"\nhost = \"resource\"\nafter = { event = \"upload_acked\", seq = 3 }\n",
    );
    assert_eq!(
        error(&text),
        "f.toml:12: faults[0].after.seq: unknown field of event \"upload_acked\"; its fields are file"
    );
}

#[test]
fn a_trigger_field_of_the_wrong_type_is_refused() {
    let text = with_fault(
        "kind = \"crash\"\nhost = \"resource\"\nafter = { event = \"chunk_stored\", seq = \"3\" }\n",
    );
    assert_eq!(
        error(&text),
        "f.toml:12: faults[0].after.seq: must be an integer (the seq of event \"chunk_stored\"), \
         not a string"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_refused() {
    assert_eq!(
        error(&format!("seed = \"seven\"\n{USERS}")),
        "f.toml:1: seed: invalid type: string \"seven\", expected u64"
    );
    let text = with_fault("at_ms = 5\nkind = \"restart\"\nhost = \"chat\"\nafter_ms = \"soon\"\n");
    assert_eq!(
        error(&text),
        "f.toml:13: faults[0].after_ms: invalid type: string \"soon\", expected u64"
    );
    let text = format!("{USERS}[[frame_faults]]\naction = \"drop\"\noptional = 1\n");
    assert_eq!(
        error(&text),
        "f.toml:7: frame_faults[0].optional: invalid type: integer `1`, expected a boolean"
    );
}

#[test]
fn a_missing_key_names_its_table() {
    assert_eq!(error("seed = 1\n"), "f.toml: missing field `users`");
    assert_eq!(
        error("[[users]]\nname = \"alice\"\n"),
        "f.toml:1: users[0]: missing field `uid`"
    );
}

#[test]
fn a_value_the_rules_refuse_names_its_line() {
    let text = format!(
        "{USERS}[[actions]]\nat_ms = 1\nuser = 3\ntext = {{ to = 1, contents = [\"x\"] }}\n"
    );
    assert_eq!(
        error(&text),
        "f.toml:7: actions[0].user: user 3 is not declared in [[users]]"
    );
}

#[test]
fn the_new_keys_parse_and_default_to_the_old_meaning() {
    let plain = parse(
        Path::new("f.toml"),
        &with_fault("at_ms = 5\nkind = \"disk_full\"\n"),
    )
    .unwrap();
    assert_eq!(plain.liveness_s, 60);
    assert!(!plain.faults[0].optional);
    let text = format!(
        "liveness_s = 5\n{USERS}{ACTION}[[faults]]\nkind = \"disk_error\"\noptional = true\n\
         after = {{ event = \"chunk_stored\", file = \"a.png\", seq = 2, nth = 2 }}\n\
         [[frame_faults]]\naction = \"drop\"\nid = 1038\noptional = true\n"
    );
    let s = parse(Path::new("f.toml"), &text).unwrap();
    assert_eq!(s.liveness_s, 5);
    assert!(s.faults[0].optional);
    assert_eq!(
        s.faults[0].kind,
        FaultKind::DiskError {
            count: 1,
            file: None
        }
    );
    let trigger = s.faults[0].after.as_ref().unwrap();
    assert_eq!((trigger.event.as_str(), trigger.nth), ("chunk_stored", 2));
    assert_eq!(trigger.fields["seq"], toml::Value::Integer(2));
    assert!(s.frame_faults[0].optional);
    assert!(!plain.frame_faults.iter().any(|f| f.optional));
    assert_eq!(
        error(&format!("liveness_s = 0\n{USERS}")),
        "f.toml:1: liveness_s: must be at least 1"
    );
}

#[test]
fn chatsim_run_exits_2_and_runs_nothing() {
    let dir = std::env::temp_dir().join(format!("chatsim-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("f.toml");
    std::fs::write(
        &file,
        format!("{USERS}{ACTION}[expect]\ndownlaoded = [\"a.png\"]\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatsim"))
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"", "nothing ran, so nothing was reported");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: {}:10: expect.downlaoded: unknown key; did you mean \"downloaded\"?\n",
            file.display()
        )
    );
}

#[test]
fn every_scenario_under_scenarios_parses() {
    let mut stack = vec![std::path::PathBuf::from("scenarios")];
    let mut count = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                chatsim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                count += 1;
            }
        }
    }
    assert!(count >= 40, "found only {count} scenarios");
}

#[test]
fn a_fault_on_an_unknown_host_names_the_key() {
    let text = with_fault("at_ms = 5\nkind = \"partition\"\na = \"user1\"\nb = \"user9\"\n");
    assert_eq!(
        error(&text),
        "f.toml:13: faults[0].b: unknown host \"user9\"; hosts are chat, resource, user1, user2"
    );
    // A trigger on a host that does not exist would never fire.
    let text = with_fault(
        "kind = \"crash\"\nhost = \"resource\"\nafter = { event = \"chunk_stored\", host = \"resourse\" }\n",
    );
    assert_eq!(
        error(&text),
        "f.toml:12: faults[0].after.host: unknown host \"resourse\"; hosts are chat, resource, user1, user2"
    );
}

#[test]
fn the_scenario_readme_lists_every_event_a_trigger_can_name() {
    let readme = std::fs::read_to_string("scenarios/README.md").unwrap();
    for (tag, fields) in chatsim::scenario::events::EVENTS {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| `{tag}` |")))
            .unwrap_or_else(|| panic!("scenarios/README.md has no row for `{tag}`"));
        for (field, _) in *fields {
            assert!(
                row.contains(&format!("`{field}`")),
                "{tag}.{field} in {row}"
            );
        }
    }
}

#[test]
fn a_fault_that_could_never_fire_is_refused() {
    let text =
        format!("time_limit_s = 10\n{USERS}[[faults]]\nat_ms = 10000\nkind = \"disk_full\"\n");
    assert_eq!(
        error(&text),
        "f.toml:7: faults[0].at_ms: 10000 is not before the time limit of 10 s, so it could never fire"
    );
    let frame = |keys: &str| format!("{USERS}[[frame_faults]]\naction = \"drop\"\n{keys}");
    assert_eq!(
        error(&frame("id = 1099\n")),
        "f.toml:7: frame_faults[0].id: 1099 is not a message id of the protocol"
    );
    assert_eq!(
        error(&frame("seq = 0\n")),
        "f.toml:7: frame_faults[0].seq: chunks count from 1"
    );
    assert_eq!(
        error(&frame("from_ms = 500\nuntil_ms = 500\n")),
        "f.toml:8: frame_faults[0].until_ms: 500 is not after from_ms 500, so the window is empty"
    );
}

#[test]
fn a_file_name_nothing_sends_is_refused() {
    let text = with_fault(
        "kind = \"crash\"\nhost = \"resource\"\nafter = { event = \"chunk_stored\", file = \"a.pgn\" }\n",
    );
    assert_eq!(
        error(&text),
        "f.toml:12: faults[0].after.file: no action sends a file named \"a.pgn\"; did you mean \"a.png\"?"
    );
    let text = format!(
        "{USERS}{ACTION}[expect.seed]\nviolated = []\ndownloaded = [\"a.png\", \"zzz.gif\"]\n"
    );
    assert_eq!(
        error(&text),
        "f.toml:11: expect.seed.downloaded[1]: no action sends a file named \"zzz.gif\""
    );
    // A name a frame fault forges on the wire may be triggered on.
    let text = format!(
        "{USERS}{ACTION}[[frame_faults]]\naction = \"rewrite\"\nid = 1041\nset = {{ name = \"../x\" }}\n\
         [[faults]]\nkind = \"disk_ok\"\nafter = {{ event = \"chunk_refused\", file = \"../x\" }}\n"
    );
    parse(Path::new("f.toml"), &text).unwrap();
}

#[test]
fn a_trigger_value_the_trace_never_writes_is_refused() {
    let trigger = |after: &str| with_fault(&format!("kind = \"disk_ok\"\nafter = {after}\n"));
    assert_eq!(
        error(&trigger("{ event = \"frame\", dir = \"up\" }")),
        "f.toml:11: faults[0].after.dir: \"up\" is not a dir the trace writes for event \"frame\"; \
         it writes tx, rx"
    );
    assert_eq!(
        error(&trigger("{ event = \"frame\", name = \"chunk_rps\" }")),
        "f.toml:11: faults[0].after.name: \"chunk_rps\" is not a name the trace writes for event \
         \"frame\"; did you mean \"chunk_rsp\"?"
    );
    assert_eq!(
        error(&trigger("{ event = \"logged_in\", uid = 3 }")),
        "f.toml:11: faults[0].after.uid: user 3 is not declared in [[users]]"
    );
    parse(
        Path::new("f.toml"),
        &trigger(
            "{ event = \"frame\", host = \"user1\", dir = \"rx\", name = \"chunk_rsp\", seq = 2 }",
        ),
    )
    .unwrap();
}

/// Each of these is refused by the shape check, with the fault's own index: past it, serde's
/// error for a `[[faults]]` entry carries only the place of the first entry.
#[test]
fn a_missing_fault_key_or_a_bad_trigger_key_names_the_right_fault() {
    let text = format!(
        "{USERS}[[faults]]\nat_ms = 1\nkind = \"disk_ok\"\n[[faults]]\nat_ms = 2\nkind = \"crash\"\n"
    );
    assert_eq!(
        error(&text),
        "f.toml:8: faults[1]: kind \"crash\" needs `host`"
    );
    let text = format!(
        "{USERS}[[faults]]\nat_ms = 1\nkind = \"disk_ok\"\n[[faults]]\nkind = \"disk_ok\"\n\
         after = {{ event = \"logged_in\", nth = \"two\" }}\n"
    );
    assert_eq!(
        error(&text),
        "f.toml:10: faults[1].after.nth: must be an integer from 1 (the n-th matching record)"
    );
    let text = format!(
        "{USERS}[[faults]]\nat_ms = 1\nkind = \"disk_ok\"\n[[faults]]\nkind = \"disk_ok\"\n\
         after = {{ event = \"logged_in\", host = 1 }}\n"
    );
    assert_eq!(
        error(&text),
        "f.toml:10: faults[1].after.host: must be a string, not an integer"
    );
}

#[test]
fn a_key_that_would_mean_nothing_is_refused() {
    let frame = |keys: &str| format!("{USERS}{ACTION}[[frame_faults]]\n{keys}");
    assert_eq!(
        error(&frame("action = \"drop\"\nfile = \"a.pgn\"\n")),
        "f.toml:11: frame_faults[0].file: no action sends a file named \"a.pgn\"; did you mean \"a.png\"?"
    );
    assert_eq!(
        error(&frame("action = \"drop\"\ndelay_ms = 100\n")),
        "f.toml:11: frame_faults[0].delay_ms: only actions \"delay\", \"slice\" and \"duplicate\" use delay_ms, not \"drop\""
    );
    assert_eq!(
        error(&format!("{USERS}[link]\nbandwidth_kbps = 0\n")),
        "f.toml:6: link.bandwidth_kbps: must be at least 1; leave it out for no limit"
    );
    assert_eq!(
        error(&format!(
            "{USERS}{ACTION}[expect]\ndownloaded = [\"a.png\"]\nfailed = [\"a.png\"]\n"
        )),
        "f.toml:11: expect.failed[0]: \"a.png\" is also in downloaded; a file cannot end both ways"
    );
}

#[test]
fn an_unknown_frame_action_or_direction_is_refused() {
    let frame = |keys: &str| format!("{USERS}[[frame_faults]]\n{keys}");
    assert_eq!(
        error(&frame("action = \"dropp\"\n")),
        "f.toml:6: frame_faults[0].action: unknown action; did you mean \"drop\"?"
    );
    assert_eq!(
        error(&frame("action = \"drop\"\ndirection = \"tx\"\n")),
        "f.toml:7: frame_faults[0].direction: unknown direction; \"tx\" is none of up, down"
    );
}

/// A probe at line 8: `probe = { ... }` or `raw = { ... }` of user 2.
fn probing(table: &str) -> String {
    format!("{USERS}[[actions]]\nat_ms = 10\nuser = 2\n{table}\n")
}

#[test]
fn a_probe_names_a_real_server_real_bytes_and_a_sensible_expectation() {
    let cases = [
        (
            "probe = { server = \"resorce\", id = 1045 }",
            "f.toml:8: actions[0].probe.server: unknown server \"resorce\"; did you mean \
             \"resource\"? the servers are chat, resource",
        ),
        (
            "probe = { server = \"resource\", id = 1045, expct = { error = 1012 } }",
            "f.toml:8: actions[0].probe.expct: unknown key; did you mean \"expect\"?",
        ),
        (
            "probe = { server = \"resource\", id = 1045, expect = { eror = 1012 } }",
            "f.toml:8: actions[0].probe.expect.eror: unknown key; did you mean \"error\"?",
        ),
        (
            "probe = { server = \"resource\", id = 70000 }",
            "f.toml:8: actions[0].probe.id: invalid value: integer `70000`, expected u16",
        ),
        (
            "probe = { server = \"resource\", id = 1045, deadline_ms = 0 }",
            "f.toml:8: actions[0].probe.deadline_ms: must be at least 1",
        ),
        (
            "probe = { server = \"resource\", id = 1045, expect = { closed = true, error = 1 } }",
            "f.toml:8: actions[0].probe.expect.closed: a close has no reply; give \
             `closed = true` alone, or `reply`/`error`",
        ),
        (
            "probe = { server = \"resource\", id = 1045, expect = {} }",
            "f.toml:8: actions[0].probe.expect: give `reply`, `error` or `closed = true`",
        ),
        (
            "probe = { server = \"resource\", id = 1045, expect = { reply = 1099 } }",
            "f.toml:8: actions[0].probe.expect.reply: 1099 is not a message id of the protocol",
        ),
        (
            "probe = { server = \"resource\", id = 1099, expect = { error = 1 } }",
            "f.toml:8: actions[0].probe.expect.error: request 1099 has no reply id of its \
             own; give `reply` too",
        ),
        (
            "raw = { server = \"resource\", hex = \"0415fffffff\" }",
            "f.toml:8: actions[0].raw.hex: \"0415fffffff\" is not hex bytes (Odd number of \
             digits); write two digits a byte, spaces allowed",
        ),
        (
            "raw = { server = \"resource\", hex = \" \" }",
            "f.toml:8: actions[0].raw.hex: no bytes to send",
        ),
        (
            "raw = { server = \"resource\", hex = \"0415\", id = 1045 }",
            "f.toml:8: actions[0].raw.id: unknown key; known keys: server, hex, deadline_ms, \
             expect",
        ),
    ];
    for (table, message) in cases {
        assert_eq!(error(&probing(table)), message, "{table}");
    }
    let both = format!(
        "{USERS}[[actions]]\nat_ms = 10\nuser = 2\nlogout = {{}}\nraw = {{ server = \"chat\", hex = \"00\" }}\n"
    );
    assert!(error(&both).contains("actions[0]: set exactly one of"));
}

#[test]
fn a_probe_reads_with_its_defaults() {
    let text = probing(
        "raw = { server = \"resource\", hex = \"0415 ffff_ffff\", expect = { closed = true } }",
    );
    let scenario = parse(Path::new("f.toml"), &text).unwrap();
    let steps = scenario.steps();
    let chatsim::scenario::Step::Probe(probe) = &steps[0].2 else {
        panic!("{:?}", steps[0]);
    };
    assert_eq!(probe.number, 1);
    assert_eq!(probe.request_id(), Some(1045));
    assert_eq!(
        probe.request,
        chatsim::scenario::ProbeRequest::Raw {
            bytes: vec![0x04, 0x15, 0xff, 0xff, 0xff, 0xff]
        }
    );
    assert_eq!(probe.deadline_ms, 2000);
    assert!(probe.expect.closed);
    let framed = parse(
        Path::new("f.toml"),
        &probing("probe = { server = \"resource\", id = 1045, expect = { error = 1012 } }"),
    )
    .unwrap();
    let chatsim::scenario::Step::Probe(probe) = &framed.steps()[0].2 else {
        panic!("a probe");
    };
    assert_eq!(
        probe.request,
        chatsim::scenario::ProbeRequest::Frame {
            id: 1045,
            body: "{}".into()
        }
    );
    assert_eq!(probe.expect.reply, Some(1046), "the request's reply id");
}

#[test]
fn a_store_crash_names_a_store_host_and_one_of_its_writes() {
    let fault = |host: &str, op: &str| {
        with_fault(&format!(
            "at_ms = 5\nkind = \"store_crash\"\nhost = \"{host}\"\nop = \"{op}\"\nafter_ms = 10\n"
        ))
    };
    let err = error(&fault("user1", "put"));
    assert!(
        err.contains("host must be \"chat\" or \"resource\", not \"user1\""),
        "{err}"
    );
    let err = error(&fault("resource", "insert"));
    assert!(
        err.contains(
            "unknown store write \"insert\" for host \"resource\"; one of put, add_chunks, \
             save_fields, remove"
        ),
        "{err}"
    );
    // A write the chat server never makes alone could never strike.
    let err = error(&fault("chat", "set_status"));
    assert!(
        err.contains(
            "unknown store write \"set_status\" for host \"chat\"; one of store_once, \
             change_status, drop_push"
        ),
        "{err}"
    );
}
