//! Sections 9 and 10: the resource server's gRPC notify (with `--notify-listen`) and downloads.

use super::flows::{
    answers_probe, down_request, expect_available, expect_identical, expect_refused,
    expect_unavailable, pipeline, probe_frame, upload_all, Echo,
};
use crate::conform::ctx::{error_code, int, md5_hex, ChunkKind, Ctx, Upload};
use crate::conform::verdict::{could_not_run, ensure, fail, Finding, Outcome};
use crate::conform::wire::{describe, json_body, Conn, Incoming};
use crate::protocol::body::DownInfoReq;
use crate::protocol::{ids, ErrorCode, Frame, MAX_CWND};
use crate::rpc::NotifyChatImgReq;
use serde_json::Value;

/// Checks one notify against the upload it reports.
fn check_notify(ctx: &mut Ctx, call: &NotifyChatImgReq, upload: &Upload) -> Outcome {
    let expected = [
        ("from_uid", i64::from(call.from_uid), i64::from(upload.uid)),
        ("to_uid", i64::from(call.to_uid), i64::from(upload.receiver)),
        ("message_id", i64::from(call.message_id), upload.message_id),
        ("total_size", call.total_size, upload.data.len() as i64),
    ];
    for (field, got, want) in expected {
        ensure!(
            got == want,
            "the notify says {field} {got}, expected {want}"
        );
    }
    if call.thread_id != upload.thread_id {
        ctx.non_strict(format!(
            "the notify says thread_id {}; the chunks carried thread_id {} (an extension field)",
            call.thread_id, upload.thread_id
        ));
    }
    Ok(())
}

/// Waits for exactly `count` notifies of `upload`, then a quiet period in which no more come.
async fn expect_notifies(
    ctx: &mut Ctx,
    upload: &Upload,
    count: usize,
) -> Result<Vec<NotifyChatImgReq>, Finding> {
    let listener = ctx.notify()?;
    let calls = listener.wait_for(&upload.name, count, ctx.timeout()).await;
    ensure!(
        calls.len() >= count,
        "{} notify call(s) for {} within {} ms, expected {count}",
        calls.len(),
        upload.name,
        ctx.timeout().as_millis()
    );
    crate::timer::sleep(ctx.quiet_period()).await;
    let calls = listener.calls_for(&upload.name);
    ensure!(
        calls.len() == count,
        "{} notify calls for {}, expected {count}: the chat server would tell the users more \
         than once",
        calls.len(),
        upload.name
    );
    Ok(calls)
}

/// 9.1: a completed upload is notified once, with the right fields.
pub async fn notify_once(ctx: &mut Ctx) -> Outcome {
    ctx.notify()?;
    let upload = ctx.upload("notify", 2 * 32768 - 1).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, MAX_CWND).await?;
    let calls = expect_notifies(ctx, &upload, 1).await?;
    check_notify(ctx, &calls[0], &upload)
}

/// 9.2: the first notify attempt fails (UNAVAILABLE); the server tries again, and stops once
/// answered.
pub async fn notify_retried(ctx: &mut Ctx) -> Outcome {
    let listener = ctx.notify()?;
    let upload = ctx.upload("notify-retry", 1000).await?;
    listener.refuse_first_attempt(&upload.name);
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, 1).await?;
    let calls = expect_notifies(ctx, &upload, 2).await?;
    check_notify(ctx, &calls[1], &upload)
}

/// 9.3: an upload whose md5 does not match is not notified.
pub async fn no_notify_when_rejected(ctx: &mut Ctx) -> Outcome {
    let listener = ctx.notify()?;
    let mut upload = ctx.upload("notify-rejected", 1000).await?;
    upload.md5 = md5_hex(b"other bytes");
    let mut conn = ctx.resource().await?;
    let only = upload.send(1, ChunkKind::Normal);
    expect_refused(&mut conn, &only.frame, Echo::chunk(&upload, 1)).await?;
    crate::timer::sleep(ctx.quiet_period()).await;
    let calls = listener.calls_for(&upload.name);
    ensure!(
        calls.is_empty(),
        "an upload with the wrong md5 was notified {} time(s)",
        calls.len()
    );
    Ok(())
}

/// 9.4: a duplicate of the last chunk after completion is acked and not notified again.
pub async fn no_renotify_on_duplicate(ctx: &mut Ctx) -> Outcome {
    ctx.notify()?;
    let upload = ctx.upload("notify-dup", 2 * 32768 + 10).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, MAX_CWND).await?;
    expect_notifies(ctx, &upload, 1).await?;
    pipeline(
        &mut conn,
        &[upload.send(upload.max_seq(), ChunkKind::Normal)],
        1,
    )
    .await?;
    expect_notifies(ctx, &upload, 1).await?;
    Ok(())
}

/// Uploads a file for the download cases.
async fn uploaded(ctx: &mut Ctx, slug: &str, size: usize) -> Result<(Conn, Upload), Finding> {
    let upload = ctx.upload(slug, size).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, MAX_CWND).await?;
    Ok((conn, upload))
}

/// 10.1: 1046 describes the upload: message, parties, name and size. With `--chat` the image is
/// announced first (1035) and the chat server's message id is used, as a client does; without
/// it the id is invented, and a server that looks messages up cannot know it, so silence then
/// means the case could not run rather than a failure.
pub async fn download_info(ctx: &mut Ctx) -> Outcome {
    let (upload, info) = uploaded_info(ctx, "info").await?;
    for (field, want) in [
        ("message_id", upload.message_id),
        ("sender_id", i64::from(upload.uid)),
        ("recv_id", i64::from(upload.receiver)),
    ] {
        match int(&info, field) {
            Some(got) => ensure!(got == want, "1046 says {field} {got}, expected {want}"),
            None => ctx.non_strict(format!("1046 has no {field}")),
        }
    }
    Ok(())
}

/// Uploads a file (announced with `--chat`, so that its message id is the chat server's)
/// and returns it with the 1046 that 1045 answers for it, which must offer it.
pub(super) async fn uploaded_info(ctx: &mut Ctx, slug: &str) -> Result<(Upload, Value), Finding> {
    // With --chat the upload was announced and its id is the chat server's.
    let upload = ctx.upload(slug, 40_000).await?;
    let invented = ctx.chat_given().is_none();
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, MAX_CWND).await?;
    match expect_available(&mut conn, &upload).await {
        Err(f) if invented && f.reason.contains("nothing within") => Err(could_not_run(format!(
            "no 1046 for message {}: the id was invented (no --chat), and a server that looks \
             messages up in its chat store cannot know it; run with --chat",
            upload.message_id
        ))),
        Err(f) => Err(f),
        Ok(info) => Ok((upload, info)),
    }
}

/// 10.2: a five-chunk download is byte-identical to the upload.
pub async fn byte_identical(ctx: &mut Ctx) -> Outcome {
    let (mut conn, upload) = uploaded(ctx, "download", 5 * 32768 - 4321).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// Sends 1047 for `seq` and expects a 1048 refusal, ideally FileSeqInvalid.
async fn expect_seq_refused(
    ctx: &mut Ctx,
    conn: &mut Conn,
    upload: &Upload,
    seq: u32,
    received: u64,
) -> Outcome {
    let user = ctx.receiver().unwrap_or(ctx.sender()).clone();
    let frame = down_request(upload, &user, seq, received);
    conn.send(&frame).await?;
    let reply = conn.recv(&format!("the 1048 to seq {seq}")).await?;
    ensure!(
        reply.id == ids::IMG_CHAT_DOWN_RSP,
        "1047 was answered with {} ({})",
        reply.id,
        ids::name(reply.id)
    );
    let body = json_body(&reply)?;
    let error = error_code(&body, "1048")?;
    ensure!(
        error != 0,
        "1047 for seq {seq} was served, which is not the next seq"
    );
    if error != i64::from(ErrorCode::FileSeqInvalid.code()) {
        ctx.non_strict(format!(
            "seq {seq} was refused with error {error}; the reference answers 1017 (FileSeqInvalid)"
        ));
    }
    Ok(())
}

/// 10.3: after seq 1, asking for seq 3 is refused (FileSeqInvalid).
pub async fn skipped_seq(ctx: &mut Ctx) -> Outcome {
    let (mut conn, upload) = uploaded(ctx, "skip", 3 * 32768 - 1).await?;
    let user = ctx.receiver().unwrap_or(ctx.sender()).clone();
    conn.send(&down_request(&upload, &user, 1, 0)).await?;
    let first = conn.recv("the 1048 to seq 1").await?;
    let body = json_body(&first)?;
    let error = error_code(&body, "1048")?;
    ensure!(
        error == 0,
        "seq 1 of a stored file was refused with error {error}"
    );
    expect_seq_refused(ctx, &mut conn, &upload, 3, 32768).await
}

/// 10.4: an upload still in progress is not offered (1045), and its chunks are not served (1047).
pub async fn incomplete_upload(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("incomplete", 3 * 32768 - 2).await?;
    let mut conn = ctx.resource().await?;
    pipeline(&mut conn, &[upload.send(1, ChunkKind::Normal)], 1).await?;
    expect_unavailable(
        ctx,
        &mut conn,
        &upload,
        "two of its three chunks are missing",
    )
    .await
}

/// 10.5: after the last seq, one more is refused.
pub async fn download_past_end(ctx: &mut Ctx) -> Outcome {
    let (mut conn, upload) = uploaded(ctx, "past-end", 2 * 32768 - 3).await?;
    expect_identical(ctx, &mut conn, &upload).await?;
    let past = upload.max_seq() + 1;
    expect_seq_refused(ctx, &mut conn, &upload, past, upload.data.len() as u64).await
}

/// 10.6: 1045 for a message that has no upload. An error reply passes (1012 FileNotExists is the
/// reference's); silence, as upstream answers, is non-strict: a client waits for its timeout.
pub async fn info_unknown_message(ctx: &mut Ctx) -> Outcome {
    let missing = ctx.next_message_id();
    let mut conn = ctx.resource().await?;
    conn.send(&Frame::json(
        ids::IMG_CHAT_DOWN_INFO_SYNC_REQ,
        &DownInfoReq {
            message_id: missing,
        },
    ))
    .await?;
    let reply = match conn.next().await {
        Incoming::Frame(frame) => frame,
        Incoming::TimedOut(_) => {
            // Silence is upstream's answer only if the server still answers other requests.
            let (probe, name) = probe_frame(ctx);
            conn.send(&probe).await?;
            let reply = conn
                .recv("the answer to a 1037 after an unanswered 1045")
                .await?;
            ensure!(
                answers_probe(&reply, &name),
                "no answer to 1045, then {} ({}) to a 1037",
                reply.id,
                ids::name(reply.id)
            );
            ctx.non_strict(format!(
                "no answer to 1045 for message {missing}, which has no upload (as upstream): a \
                 client learns nothing until its own timeout"
            ));
            return Ok(());
        }
        other => return Err(fail(format!("after 1045: {}", describe(&other)))),
    };
    ensure!(
        reply.id == ids::IMG_CHAT_DOWN_INFO_SYNC_RSP,
        "1045 was answered with {} ({})",
        reply.id,
        ids::name(reply.id)
    );
    let error = error_code(&json_body(&reply)?, "1046")?;
    ensure!(
        error != 0,
        "1045 for message {missing}, which was never uploaded, answers success"
    );
    if error != i64::from(ErrorCode::FileNotExists.code()) {
        ctx.non_strict(format!(
            "an unknown message is answered with error {error}; the reference answers 1012 \
             (FileNotExists)"
        ));
    }
    Ok(())
}
