//! Sections 6 and 7: completion is decided by the stored bytes, and bad input gets an error reply
//! or a clean close, never a crash.

use super::flows::{
    answers_probe, expect_identical, expect_refusal, expect_refusal_fresh, expect_refused,
    expect_unavailable, pipeline, probe_frame, refused_with, still_serving, Echo,
};
use crate::conform::ctx::{error_code, md5_hex, ChunkKind, Ctx, Upload};
use crate::conform::verdict::{ensure, fail, Outcome};
use crate::conform::wire::{describe, json_body, Conn, Incoming};
use crate::protocol::{ids, Frame, Framing, CHUNK_SIZE};
use base64::Engine as _;

const CHUNK: usize = CHUNK_SIZE as usize;

/// 6.1: the declared md5 is not the file's: the last chunk must get an error, never success, and
/// the file must not be offered for download.
pub async fn wrong_md5(ctx: &mut Ctx) -> Outcome {
    let mut upload = ctx.upload("wrong-md5", 3 * CHUNK - 50).await?;
    upload.md5 = md5_hex(b"not these bytes");
    let mut conn = ctx.resource().await?;
    let most = upload.sends([1, 2], ChunkKind::Normal);
    pipeline(&mut conn, &most, 1).await?;
    expect_completion_refused(
        ctx,
        &mut conn,
        &upload,
        "a file whose md5 is wrong",
        "the md5 did not match",
    )
    .await
}

/// 6.2: one chunk's bytes are altered in transit (same length): the md5 check must catch it.
pub async fn corrupted_chunk(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("corrupted", 3 * CHUNK - 60).await?;
    let mut conn = ctx.resource().await?;
    pipeline(&mut conn, &[upload.send(1, ChunkKind::Normal)], 1).await?;
    let mut bad = upload.request(2, ChunkKind::Normal);
    let mut bytes = upload.bytes_of(2).to_vec();
    bytes[100] ^= 0x5a;
    bad.data = base64::engine::general_purpose::STANDARD.encode(&bytes);
    pipeline(
        &mut conn,
        &[upload.send_req(ids::IMG_CHAT_UPLOAD_REQ, &bad)],
        1,
    )
    .await?;
    expect_completion_refused(
        ctx,
        &mut conn,
        &upload,
        "a corrupted file",
        "a chunk was corrupted",
    )
    .await
}

/// Chunk 3 of 3 of an `upload` whose stored bytes do not match its md5 (`what` the file is) must
/// be refused, and the file must not be offered for download (`why` not).
async fn expect_completion_refused(
    ctx: &mut Ctx,
    conn: &mut Conn,
    upload: &Upload,
    what: &str,
    why: &str,
) -> Outcome {
    let last = upload.send(3, ChunkKind::Normal);
    expect_refused(conn, &last.frame, Echo::chunk(upload, 3))
        .await
        .map_err(|f| fail(format!("the completing chunk of {what}: {}", f.reason)))?;
    let mut check = ctx.resource().await?;
    expect_unavailable(ctx, &mut check, upload, why).await
}

/// 6.3: the client's `last` flag on chunk 2 of 3 does not complete the upload; chunk 3 does.
pub async fn last_flag_is_not_completion(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("last-flag", 3 * CHUNK - 70).await?;
    let mut conn = ctx.resource().await?;
    let mut lying = upload.request(2, ChunkKind::Normal);
    lying.last = 1;
    let sends = [
        upload.send(1, ChunkKind::Normal),
        upload.send_req(ids::IMG_CHAT_UPLOAD_REQ, &lying),
    ];
    pipeline(&mut conn, &sends, 1).await?;
    expect_unavailable(ctx, &mut conn, &upload, "chunk 3 of 3 was never sent").await?;
    pipeline(&mut conn, &[upload.send(3, ChunkKind::Normal)], 1).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 7.1: a body that is not JSON. An error reply passes; a clean close is tolerated with a note
/// (the client learns nothing of why).
pub async fn malformed_json(ctx: &mut Ctx) -> Outcome {
    let frame = Frame::new(ids::FILE_INFO_SYNC_REQ, r#"{"name": "x.bin", "seq": 1, "#);
    let mut conn = ctx.resource().await?;
    if refused_with(&mut conn, &frame, Echo::Nothing)
        .await?
        .is_none()
    {
        ctx.non_strict(
            "malformed JSON closed the connection instead of an error reply (1001 Error_Json): \
             the client cannot tell what went wrong",
        );
    }
    still_serving(ctx).await
}

/// 7.2: JSON with the wrong types: sizes as a list and an object, the uid as a list.
pub async fn wrong_types(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("wrong-types", 1000).await?;
    let mut value = serde_json::to_value(upload.request(1, ChunkKind::Normal))
        .map_err(|e| fail(format!("cannot build the request: {e}")))?;
    value["total_size"] = serde_json::json!([1000]);
    value["trans_size"] = serde_json::json!({"value": 1000});
    value["uid"] = serde_json::json!([upload.uid]);
    let frame = Frame::new(ids::FILE_INFO_SYNC_REQ, value.to_string());
    expect_refusal_fresh(ctx, &frame, Echo::Nothing).await?;
    let mut check = ctx.resource().await?;
    expect_unavailable(ctx, &mut check, &upload, "the only chunk was malformed").await
}

/// 7.3: an id the protocol does not have, then the probe on the same connection. An error reply
/// or a close passes; ignoring the id while the connection keeps working (upstream) is
/// non-strict: the sender gets no word that its request was not understood. A success fails.
pub async fn unknown_id(ctx: &mut Ctx) -> Outcome {
    let (probe, name) = probe_frame(ctx);
    let mut conn = ctx.resource().await?;
    conn.send(&Frame::new(1099, "{}")).await?;
    conn.send(&probe).await?;
    let mut answered = false;
    loop {
        match conn.next().await {
            Incoming::Frame(frame) if answers_probe(&frame, &name) => break,
            Incoming::Frame(frame) => {
                let body = json_body(&frame)?;
                let error = error_code(&body, "the answer to id 1099")?;
                ensure!(
                    error != 0,
                    "id 1099 was answered with {} and no error",
                    frame.id
                );
                answered = true;
            }
            Incoming::Closed(_) => {
                answered = true;
                break;
            }
            other => {
                return Err(fail(format!(
                    "after id 1099 the connection neither closed nor answered the next request: {}",
                    describe(&other)
                )))
            }
        }
    }
    if !answered {
        ctx.non_strict(
            "id 1099 was ignored without a word (the next request was answered): a client gets \
             no error for a request the server does not know",
        );
    }
    still_serving(ctx).await
}

/// 7.4: a body one byte over upstream's limit (51201 bytes).
pub async fn oversize_frame(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("oversize", 2 * CHUNK).await?;
    let send = upload.send(1, ChunkKind::Normal);
    let mut body = send.frame.body.to_vec();
    body.resize(Framing::Resource.upstream_max_body() + 1, b' ');
    let frame = Frame::new(send.frame.id, body);
    expect_refusal_fresh(ctx, &frame, Echo::Nothing).await
}

/// 7.5: a header that declares a body of 4 GiB: the server must refuse on the header, not wait.
pub async fn length_field_max(ctx: &mut Ctx) -> Outcome {
    let mut bytes = ids::FILE_INFO_SYNC_REQ.to_be_bytes().to_vec();
    bytes.extend(u32::MAX.to_be_bytes());
    bytes.extend(b"{\"name\":");
    let mut conn = ctx.resource().await?;
    if conn
        .send_raw(&bytes, "a header declaring 4 GiB")
        .await
        .is_ok()
    {
        match conn.next().await {
            Incoming::Closed(_) => {}
            Incoming::Frame(frame) => {
                let body = json_body(&frame)?;
                let error = error_code(&body, "the answer")?;
                ensure!(error != 0, "a 4 GiB frame was answered with success");
            }
            other => {
                return Err(fail(format!(
                    "neither an error reply nor a close after a header declaring 4 GiB: {}",
                    describe(&other)
                )))
            }
        }
    }
    still_serving(ctx).await
}

/// 7.6: seq 0 (seqs are 1-based).
pub async fn seq_zero(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("seq-zero", 1000).await?;
    let mut req = upload.request(1, ChunkKind::Normal);
    req.seq = 0;
    let frame = Frame::json(ids::FILE_INFO_SYNC_REQ, &req);
    expect_refusal_fresh(ctx, &frame, Echo::chunk(&upload, 0)).await
}

/// 7.7: a seq past the last chunk.
pub async fn seq_past_end(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("seq-past-end", 2 * CHUNK - 10).await?;
    let mut conn = ctx.resource().await?;
    pipeline(&mut conn, &[upload.send(1, ChunkKind::Normal)], 1).await?;
    let mut req = upload.request(2, ChunkKind::Normal);
    req.seq = 3;
    let frame = Frame::json(ids::IMG_CHAT_UPLOAD_REQ, &req);
    expect_refusal(ctx, &mut conn, &frame, Echo::chunk(&upload, 3)).await
}

/// 7.8: chunk 1 of a 70000-byte file that carries 1000 bytes instead of 32768.
pub async fn size_mismatch(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("size-mismatch", 70_000).await?;
    let mut req = upload.request(1, ChunkKind::Normal);
    req.data = base64::engine::general_purpose::STANDARD.encode(&upload.bytes_of(1)[..1000]);
    let frame = Frame::json(ids::FILE_INFO_SYNC_REQ, &req);
    expect_refusal_fresh(ctx, &frame, Echo::chunk(&upload, 1)).await
}

/// 7.9: half a frame, then the client closes its side.
pub async fn truncated_frame(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("truncated", 5000).await?;
    let mut conn = ctx.resource().await?;
    let bytes = conn.encode(&upload.send(1, ChunkKind::Normal).frame);
    let _ = conn
        .send_raw(&bytes[..bytes.len() / 2], "half a frame")
        .await;
    conn.shutdown_write().await;
    if let Incoming::Frame(frame) = conn.next_within(ctx.quiet_period()).await {
        let body = json_body(&frame)?;
        ensure!(
            error_code(&body, "the answer")? != 0,
            "half a frame was answered with success"
        );
    }
    still_serving(ctx).await?;
    let mut check = ctx.resource().await?;
    expect_unavailable(ctx, &mut check, &upload, "only half of its frame arrived").await
}

/// 7.10: a chunk request with an empty body (a length field of 0).
pub async fn empty_body(ctx: &mut Ctx) -> Outcome {
    let frame = Frame::new(ids::FILE_INFO_SYNC_REQ, Vec::<u8>::new());
    expect_refusal_fresh(ctx, &frame, Echo::Nothing).await
}

/// 7.11: a chunk request whose body is JSON but not an object (an array).
pub async fn body_not_an_object(ctx: &mut Ctx) -> Outcome {
    let frame = Frame::new(ids::FILE_INFO_SYNC_REQ, r#"[1, "x.bin", {"seq": 1}]"#);
    expect_refusal_fresh(ctx, &frame, Echo::Nothing).await
}
