//! The `replies` oracle fed traces that break each rule, and traces it cannot judge.

use super::*;
use crate::sim::chunk_hash;
use crate::sim::oracles::testing::at;

fn sent(t_ms: u64, probe: usize, id: u16, body: &str) -> Record {
    at(
        t_ms,
        "user2",
        Event::ProbeSent {
            probe,
            server: "resource".into(),
            conn: 1,
            id,
            raw: false,
            body: body.into(),
            deadline_ms: 2000,
            expect_reply: None,
            expect_error: None,
            expect_closed: false,
        },
    )
}

fn raw(t_ms: u64, probe: usize, id: u16) -> Record {
    let mut record = sent(t_ms, probe, id, "0415ffffffff");
    if let Event::ProbeSent { raw, .. } = &mut record.event {
        *raw = true;
    }
    record
}

fn expecting(mut record: Record, reply: Option<u16>, error: Option<i32>, closed: bool) -> Record {
    if let Event::ProbeSent {
        expect_reply,
        expect_error,
        expect_closed,
        ..
    } = &mut record.event
    {
        (*expect_reply, *expect_error, *expect_closed) = (reply, error, closed);
    }
    record
}

fn result(t_ms: u64, probe: usize, outcome: ProbeOutcome, reply: Option<(u16, &str)>) -> Record {
    let error = reply.and_then(|(_, body)| {
        serde_json::from_str::<serde_json::Value>(body).ok()?["error"].as_i64()
    });
    at(
        t_ms,
        "user2",
        Event::ProbeResult {
            probe,
            outcome,
            waited_ms: 5,
            id: reply.map(|(id, _)| id),
            error,
            body: reply.map(|(_, body)| body.to_owned()),
            detail: String::new(),
        },
    )
}

fn replied(t_ms: u64, probe: usize, id: u16, body: &str) -> Record {
    result(t_ms, probe, ProbeOutcome::Reply, Some((id, body)))
}

/// Message 1 is alice's photo.png (40000 bytes, two chunks), committed at `committed_ms`.
fn photo(committed_ms: u64) -> Vec<Record> {
    vec![
        at(
            0,
            "user1",
            Event::SourceFile {
                file: "photo.png".into(),
                size: 40000,
                md5: "m".into(),
                chunk_hashes: vec![chunk_hash(b"one"), chunk_hash(b"two")],
            },
        ),
        at(
            10,
            "chat",
            Event::ImageMessageStored {
                message_id: 1,
                from: 1,
                to: 2,
                file: "photo.png".into(),
                msg_type: 1,
                status: 3,
            },
        ),
        at(
            committed_ms,
            "resource",
            Event::UploadCommitted {
                file: "photo.png".into(),
                owner: 1,
                size: 40000,
                md5: "m".into(),
            },
        ),
    ]
}

fn violated(records: &[Record]) -> String {
    match replies(records) {
        Judgement::Violated(v) => v.detail,
        other => panic!("expected a violation, got {other:?}"),
    }
}

fn unjudged(records: &[Record]) -> String {
    match replies(records) {
        Judgement::CouldNotJudge(v) => v.detail,
        other => panic!("expected could not judge, got {other:?}"),
    }
}

const INFO_1: &str = r#"{"message_id":1}"#;
const INFO_42: &str = r#"{"message_id":42}"#;

fn chunk_req(seq: u32) -> String {
    format!(
        r#"{{"name":"photo.png","seq":{seq},"trans_size":"0","total_size":"40000","token":"token-2","sender_id":1,"receiver_id":2,"message_id":1,"uid":2}}"#
    )
}

fn chunk_rsp(seq: u32, error: i32, data: &[u8]) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(data);
    format!(r#"{{"error":{error},"seq":{seq},"data":"{data}","name":"photo.png"}}"#)
}

#[test]
fn a_run_without_probes_has_nothing_to_judge() {
    assert_eq!(replies(&photo(100)), Judgement::NothingToJudge);
}

#[test]
fn silence_is_never_an_answer() {
    let trace = [
        sent(100, 1, 1045, INFO_42),
        result(2100, 1, ProbeOutcome::Silent, None),
    ];
    assert_eq!(
        violated(&trace),
        "probe 1 (1045 to resource) got no answer within 2000 ms"
    );
}

#[test]
fn an_unknown_message_is_answered_1012() {
    let good = [
        sent(100, 1, 1045, INFO_42),
        replied(105, 1, 1046, r#"{"error":1012,"message_id":42}"#),
    ];
    assert_eq!(replies(&good), Judgement::Holds);
    let wrong = [
        sent(100, 1, 1045, INFO_42),
        replied(105, 1, 1046, r#"{"error":1001,"message_id":42}"#),
    ];
    assert!(violated(&wrong).contains("message 42 does not exist"));
    let closed = [
        sent(100, 1, 1045, INFO_42),
        result(105, 1, ProbeOutcome::Closed, None),
    ];
    assert!(violated(&closed).contains("closed the connection instead of answering"));
}

#[test]
fn an_offer_of_an_unfinished_upload_is_caught_and_a_finished_one_holds() {
    let offer = r#"{"error":0,"message_id":1,"name":"photo.png","total_size":"32768"}"#;
    let mut early = photo(900);
    early.extend([sent(100, 1, 1045, INFO_1), replied(105, 1, 1046, offer)]);
    early.sort_by_key(|r| r.t_ms);
    assert_eq!(
        violated(&early),
        "probe 1 (1045 to resource): offered photo.png (32768 bytes) for message 1, whose \
         upload was not complete (nothing committed by then)"
    );
    let whole = r#"{"error":0,"message_id":1,"name":"photo.png","total_size":"40000"}"#;
    let mut late = photo(50);
    late.extend([sent(100, 1, 1045, INFO_1), replied(105, 1, 1046, whole)]);
    assert_eq!(replies(&late), Judgement::Holds);
    let mut short = photo(50);
    short.extend([sent(100, 1, 1045, INFO_1), replied(105, 1, 1046, offer)]);
    assert!(violated(&short).contains("whose upload is photo.png (40000 bytes)"));
    // Committed while the request was on its way: the oracle cannot tell what the server saw.
    let mut racing = photo(102);
    racing.extend([sent(100, 1, 1045, INFO_1), replied(105, 1, 1046, whole)]);
    racing.sort_by_key(|r| r.t_ms);
    assert!(unjudged(&racing).contains("completed at 102 ms"));
}

#[test]
fn a_bad_seq_is_an_error_with_no_data() {
    let mut trace = photo(50);
    trace.extend([
        sent(100, 1, 1047, &chunk_req(1)),
        replied(105, 1, 1048, &chunk_rsp(1, 0, b"one")),
        sent(110, 2, 1047, &chunk_req(1)),
        replied(115, 2, 1048, &chunk_rsp(1, 0, b"one")),
        sent(120, 3, 1047, &chunk_req(2)),
        replied(125, 3, 1048, &chunk_rsp(2, 0, b"two")),
        sent(130, 4, 1047, &chunk_req(2)),
        replied(135, 4, 1048, &chunk_rsp(2, 1017, b"")),
        sent(140, 5, 1047, &chunk_req(7)),
        replied(145, 5, 1048, &chunk_rsp(7, 1017, b"")),
    ]);
    assert_eq!(replies(&trace), Judgement::Holds);
    // Upstream: seq 2 again (not the next) answered Success with no data.
    let mut upstream = trace.clone();
    upstream[10] = replied(135, 4, 1048, &chunk_rsp(2, 0, b""));
    assert_eq!(
        violated(&upstream),
        "probe 4 (1047 to resource): seq 2 is not the next one on this connection (3 is), yet \
         the answer was Success with no data"
    );
    let mut past_end = trace.clone();
    past_end[12] = replied(145, 5, 1048, &chunk_rsp(7, 0, b""));
    assert!(violated(&past_end).contains("seq 7 is past the end (2 chunks)"));
}

#[test]
fn a_chunk_served_with_other_bytes_is_caught() {
    let mut trace = photo(50);
    trace.extend([
        sent(100, 1, 1047, &chunk_req(1)),
        replied(105, 1, 1048, &chunk_rsp(1, 0, b"two")),
    ]);
    assert!(violated(&trace).contains("seq 1 of photo.png was served with 3 bytes"));
}

#[test]
fn the_authors_expectation_is_checked() {
    let wants_close = expecting(raw(100, 1, 1045), None, None, true);
    let trace = [
        wants_close.clone(),
        replied(105, 1, 1046, r#"{"error":1001}"#),
    ];
    assert_eq!(
        violated(&trace),
        "probe 1 (raw bytes to resource): expected a close, got 1046 with error 1001"
    );
    let closed = [wants_close, result(105, 1, ProbeOutcome::Closed, None)];
    assert_eq!(replies(&closed), Judgement::Holds);
    let wants_1012 = expecting(sent(100, 1, 1045, INFO_42), Some(1046), Some(1012), false);
    let wants_1017 = expecting(sent(100, 1, 1045, INFO_42), Some(1046), Some(1017), false);
    let refused = [wants_1017, replied(105, 1, 1046, r#"{"error":1012}"#)];
    assert!(violated(&refused).contains("expected 1046 with error 1017, got 1046 with error 1012"));
    // The protocol's rule speaks first.
    let silent = [wants_1012, result(2100, 1, ProbeOutcome::Silent, None)];
    assert!(violated(&silent).contains("got no answer within 2000 ms"));
}

#[test]
fn a_raw_header_may_be_refused_by_a_close() {
    let trace = [
        raw(100, 1, 1045),
        result(103, 1, ProbeOutcome::Closed, None),
    ];
    assert_eq!(replies(&trace), Judgement::Holds);
}

#[test]
fn an_unknown_id_answered_without_an_error_is_caught() {
    let trace = [
        sent(100, 1, 1099, "{}"),
        replied(105, 1, 1046, r#"{"error":0}"#),
    ];
    assert!(violated(&trace).contains("1099 is not a request of the protocol"));
}

#[test]
fn what_the_oracle_cannot_see_is_not_judged() {
    let unreachable = [result(100, 1, ProbeOutcome::Unreachable, None)];
    assert!(unjudged(&unreachable).contains("never reached its server"));
    let no_result = [sent(100, 1, 1045, INFO_42)];
    assert!(unjudged(&no_result).contains("the run ended first"));
    let partitioned = [
        sent(100, 1, 1045, INFO_42),
        at(
            500,
            "world",
            Event::Fault {
                kind: "partition".into(),
                detail: "user2 <-> resource partitioned".into(),
            },
        ),
        result(2100, 1, ProbeOutcome::Silent, None),
    ];
    assert!(unjudged(&partitioned).contains("while a fault struck (partition"));
}
