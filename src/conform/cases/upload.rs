//! Sections 3, 4 and 5: uploads in order, out of order, and across reconnects.

use super::flows::{answers_probe, expect_identical, pipeline, probe_frame, upload_all};
use crate::conform::ctx::{error_code, int, size, text, ChunkKind, ChunkSend, Ctx, Upload};
use crate::conform::verdict::{ensure, fail, unsupported, Finding, Outcome};
use crate::conform::wire::{json_body, Incoming};
use crate::protocol::{ids, ErrorCode, Frame, CHUNK_SIZE, MAX_CWND};
use serde_json::Value;

const CHUNK: usize = CHUNK_SIZE as usize;

/// 3.1: a file smaller than one chunk.
pub async fn one_chunk(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("one-chunk", 1000).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, 1).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 3.7: an empty file: one chunk of no bytes, stored and downloaded as nothing.
pub async fn empty_file(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("empty", 0).await?;
    ensure!(upload.max_seq() == 1, "an empty file is one chunk");
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, 1).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 3.2: four chunks, the last one partial, each sent after the previous ack.
pub async fn many_chunks(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("many-chunks", 100_000).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, 1).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 3.3: exactly two chunks: the second is full and there is no empty third.
pub async fn exact_multiple(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("exact-multiple", 2 * CHUNK).await?;
    ensure!(upload.max_seq() == 2, "two chunks expected");
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, MAX_CWND).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 3.4: ten chunks with five in flight, as the client's window allows.
pub async fn window_of_5(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("window", 10 * CHUNK - 1000).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, MAX_CWND).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 3.5: replies carry sizes in the form the request used (strings on 1037, numbers on 1043).
pub async fn size_form_echoed(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("size-form", 70_000).await?;
    let mut conn = ctx.resource().await?;
    pipeline(&mut conn, &[upload.send(1, ChunkKind::Normal)], 1).await?;
    let as_strings = pipeline(&mut conn, &[upload.send(2, ChunkKind::Normal)], 1).await?;
    check_size_forms(ctx, &as_strings[0].1, &upload, 2, true)?;
    let as_numbers = pipeline(&mut conn, &[upload.send(3, ChunkKind::Resume)], 1).await?;
    check_size_forms(ctx, &as_numbers[0].1, &upload, 3, false)?;
    expect_identical(ctx, &mut conn, &upload).await
}

fn check_size_forms(
    ctx: &mut Ctx,
    ack: &Value,
    upload: &Upload,
    seq: u32,
    strings: bool,
) -> Result<(), Finding> {
    let plan = upload.plan();
    let form = |s: bool| if s { "strings" } else { "numbers" };
    for (key, expected) in [
        ("total_size", plan.total),
        ("trans_size", plan.trans_size(seq)),
    ] {
        match size(ack, key) {
            None => ctx.non_strict(format!(
                "the ack of seq {seq} has no {key} (docs/protocol.md section 4 lists it)"
            )),
            Some((value, _)) if value != expected => {
                return Err(fail(format!(
                    "the ack of seq {seq} says {key} {value}, the request said {expected}"
                )))
            }
            Some((_, is_string)) if is_string != strings => ctx.non_strict(format!(
                "the ack of seq {seq} answers {key} as {} where the request sent {}",
                form(is_string),
                form(strings)
            )),
            Some(_) => {}
        }
    }
    Ok(())
}

/// 3.6: two files' chunks interleaved on one connection.
pub async fn two_files_interleaved(ctx: &mut Ctx) -> Outcome {
    let a = ctx.upload("interleaved-a", 3 * CHUNK - 10).await?;
    let b = ctx.upload("interleaved-b", 3 * CHUNK - 20).await?;
    let mut conn = ctx.resource().await?;
    let firsts = [a.send(1, ChunkKind::Normal), b.send(1, ChunkKind::Normal)];
    pipeline(&mut conn, &firsts, 2).await?;
    let rest: Vec<ChunkSend> = a
        .rest()
        .into_iter()
        .zip(b.rest())
        .flat_map(|(x, y)| [x, y])
        .collect();
    pipeline(&mut conn, &rest, MAX_CWND).await?;
    expect_identical(ctx, &mut conn, &a).await?;
    expect_identical(ctx, &mut conn, &b).await
}

/// 4.1: after chunk 1, the others in a shuffled order: each is written at its own offset.
pub async fn out_of_order(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("out-of-order", 6 * CHUNK - 5000).await?;
    let mut conn = ctx.resource().await?;
    pipeline(&mut conn, &[upload.send(1, ChunkKind::Normal)], 1).await?;
    let shuffled = upload.sends([4, 2, 6, 3, 5], ChunkKind::Normal);
    pipeline(&mut conn, &shuffled, MAX_CWND).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 4.2: a chunk sent twice is acked twice and stored once.
pub async fn duplicate_chunk(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("duplicate", 4 * CHUNK - 300).await?;
    upload_one_at_a_time(ctx, &upload, &[1, 2, 2, 3, 4]).await
}

/// 4.3: a retransmitted chunk 1 arriving after chunks 2 and 3 must not truncate the file.
pub async fn late_chunk_1(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("late-first", 4 * CHUNK - 700).await?;
    upload_one_at_a_time(ctx, &upload, &[1, 2, 3, 1, 4]).await
}

/// Sends `seqs` of `upload` in that order, each after the previous ack, then downloads the file
/// to compare.
async fn upload_one_at_a_time(ctx: &mut Ctx, upload: &Upload, seqs: &[u32]) -> Outcome {
    let mut conn = ctx.resource().await?;
    let sends = upload.sends(seqs.iter().copied(), ChunkKind::Normal);
    pipeline(&mut conn, &sends, 1).await?;
    expect_identical(ctx, &mut conn, upload).await
}

/// 5.1: two chunks, disconnect, then the rest on a new connection with 1043.
pub async fn disconnect_and_continue(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("resume", 5 * CHUNK - 123).await?;
    let mut first = ctx.resource().await?;
    let start = upload.sends([1, 2], ChunkKind::Normal);
    pipeline(&mut first, &start, 1).await?;
    drop(first);
    let mut second = ctx.resource().await?;
    let rest = upload.sends(3..=upload.max_seq(), ChunkKind::Resume);
    pipeline(&mut second, &rest, MAX_CWND).await?;
    expect_identical(ctx, &mut second, &upload).await
}

/// 5.2: the connection drops with three chunks unacknowledged; the client sends everything after
/// chunk 1 again on a new connection, so the server sees some chunks twice.
pub async fn reconnect_with_chunks_in_flight(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("in-flight", 6 * CHUNK - 999).await?;
    let mut first = ctx.resource().await?;
    pipeline(&mut first, &[upload.send(1, ChunkKind::Normal)], 1).await?;
    for seq in 2..=4 {
        first
            .send(&upload.send(seq, ChunkKind::Normal).frame)
            .await?;
    }
    drop(first);
    let mut second = ctx.resource().await?;
    let again = upload.sends(2..=upload.max_seq(), ChunkKind::Resume);
    pipeline(&mut second, &again, MAX_CWND).await?;
    expect_identical(ctx, &mut second, &upload).await
}

/// 5.4: the upstream client resumes on a new connection with 1043 and no token. A server may
/// accept it (the upstream client can then resume) or refuse it (nobody unauthenticated writes
/// into an upload; tokenless chunks are judged by 8.7): the case reports which it chose. Either
/// way a resume with the token then completes the file intact.
pub async fn upstream_style_resume(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("upstream-resume", 4 * CHUNK - 321).await?;
    let mut first = ctx.resource().await?;
    pipeline(&mut first, &upload.sends([1, 2], ChunkKind::Normal), 1).await?;
    drop(first);
    let mut second = ctx.resource().await?;
    let mut tokenless = upload.request(3, ChunkKind::Resume);
    tokenless.token = None;
    let send = upload.send_req(ids::IMG_CHAT_CONTINUE_UPLOAD_REQ, &tokenless);
    second.send(&send.frame).await?;
    let reply = second.recv("the answer to a 1043 without a token").await?;
    let body = json_body(&reply)?;
    let error = error_code(&body, "the answer to 1043")?;
    if error == 0 {
        ensure!(
            reply.id == send.reply_id() && int(&body, "seq") == Some(3),
            "the tokenless 1043 seq 3 was acked as {} seq {:?}",
            reply.id,
            body.get("seq")
        );
        ctx.observe(
            "accepts 1043 without a token on a new connection, as the upstream client resumes",
        );
    } else {
        ctx.observe(format!(
            "refuses 1043 without a token on a new connection (error {error}): the upstream \
             client, which sends none, cannot resume against this server"
        ));
    }
    let rest = upload.sends(3..=upload.max_seq(), ChunkKind::Resume);
    pipeline(&mut second, &rest, MAX_CWND).await?;
    expect_identical(ctx, &mut second, &upload).await
}

/// Extension 1051/1052 ("which chunks do you hold?"), numbered from 1049 up as docs/protocol.md
/// section 2 asks. Kept local so that this case speaks the wire format, not our types.
const UPLOAD_STATUS_REQ: u16 = 1051;
const UPLOAD_STATUS_RSP: u16 = 1052;

/// 5.3 (optional extension): after chunks 1, 2 and 4, the server says it holds 1-2 and 4.
pub async fn upload_status_extension(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("status", 5 * CHUNK - 77).await?;
    let mut conn = ctx.resource().await?;
    let sends = upload.sends([1, 2, 4], ChunkKind::Normal);
    pipeline(&mut conn, &sends, 1).await?;
    let ask = serde_json::json!({"name": upload.name, "uid": upload.uid, "token": upload.token});
    let (probe, probe_name) = probe_frame(ctx);
    conn.send(&Frame::new(UPLOAD_STATUS_REQ, ask.to_string()))
        .await?;
    // The probe right behind it: a server that ignores unknown ids answers the probe alone.
    conn.send(&probe).await?;
    let mut probe_answered = false;
    loop {
        let wait = if probe_answered {
            ctx.quiet_period()
        } else {
            conn.timeout()
        };
        match conn.next_within(wait).await {
            Incoming::Frame(frame) if frame.id == UPLOAD_STATUS_RSP => {
                return check_status(&json_body(&frame)?, &upload)
            }
            Incoming::Frame(frame) if answers_probe(&frame, &probe_name) => {
                probe_answered = true;
            }
            Incoming::Frame(frame) => {
                let body = json_body(&frame).unwrap_or(Value::Null);
                let error = error_code(&body, "the answer").unwrap_or(0);
                ensure!(
                    error != 0,
                    "1051 was answered with {} and no error",
                    frame.id
                );
                return Err(unsupported(format!(
                    "1051 is answered with {} error {error}: the extension is not known",
                    frame.id
                )));
            }
            _ if probe_answered => {
                return Err(unsupported(
                    "no answer to 1051 (the server ignores the extension)",
                ))
            }
            other => {
                return Err(unsupported(format!(
                    "no answer to 1051 or to the probe after it: {}",
                    crate::conform::wire::describe(&other)
                )))
            }
        }
    }
}

/// The 1052 answer lists 1-2 and 4, as `[first, last]` ranges or as plain seqs.
fn check_status(body: &Value, upload: &Upload) -> Outcome {
    let error = error_code(body, "1052")?;
    // A server that answers any unknown id as "unknown id" in the reply slot does not know 1051.
    if error == i64::from(ErrorCode::MsgIdErr.code()) {
        return Err(unsupported(
            "1052 answers error 1022 (MsgIdErr, an unknown id): the extension is not known",
        ));
    }
    ensure!(
        error == 0,
        "1052 answers error {error} for an upload in progress"
    );
    ensure!(
        text(body, "name") == Some(upload.name.as_str()),
        "1052 names {:?}",
        body.get("name")
    );
    let mut held = Vec::new();
    for item in body
        .get("held")
        .and_then(Value::as_array)
        .ok_or_else(|| fail("1052 has no \"held\" list"))?
    {
        match (item.as_u64(), item.as_array()) {
            (Some(seq), _) => held.push(seq),
            (None, Some(pair)) if pair.len() == 2 => {
                let (a, b) = (pair[0].as_u64(), pair[1].as_u64());
                match (a, b) {
                    (Some(a), Some(b)) if a <= b && b - a < 1 << 20 => held.extend(a..=b),
                    _ => return Err(fail(format!("1052 held has a bad range {item}"))),
                }
            }
            _ => return Err(fail(format!("1052 held has a bad item {item}"))),
        }
    }
    held.sort_unstable();
    ensure!(
        held == [1, 2, 4],
        "1052 says the server holds {held:?}, it acked 1, 2 and 4"
    );
    if let Some(complete) = body.get("complete") {
        ensure!(
            complete == &Value::Bool(false) || int(body, "complete") == Some(0),
            "1052 says an upload missing chunks 3 and 5 is complete"
        );
    }
    Ok(())
}

/// 3.8: two image messages of one sender with the same file name, uploaded one after the other:
/// both complete, and each message serves its own bytes (issue 11, item 5: uploads are keyed by
/// message, not by name).
pub async fn same_name_two_messages(ctx: &mut Ctx) -> Outcome {
    let first = ctx.upload("same-name", 2 * 32768 + 3).await?;
    let second = ctx.upload_named(first.name.clone(), 32768 + 9).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &first, MAX_CWND).await?;
    upload_all(&mut conn, &second, MAX_CWND).await?;
    expect_identical(ctx, &mut conn, &first).await?;
    expect_identical(ctx, &mut conn, &second).await
}
