//! Section 13: every reply carries the JSON types the upstream Qt client reads
//! ([`crate::conform::types`]): a number where it calls `toBool()`, or a number where it calls
//! `toString()`, is silently a wrong value in the real client. Each case collects one kind of
//! reply with the plainest flow and judges only the types.

use super::chat::{announce, announce_and_upload, expect_upload_push};
use super::flows::{down_request, login, login_accepted, pipeline};
use super::transfer::uploaded_info;
use crate::conform::ctx::{ChunkKind, Ctx};
use crate::conform::types::check_reply;
use crate::conform::verdict::{fail, Outcome};
use crate::protocol::body::{HeartbeatReq, TextItem, TextReq};
use crate::protocol::{ids, Frame, CHUNK_SIZE};
use serde_json::Value;

/// Fails with every field the client would misread, across `replies` (reply id, body).
fn judge(replies: &[(u16, Value)]) -> Outcome {
    let broken: Vec<String> = replies
        .iter()
        .flat_map(|(id, body)| check_reply(*id, body))
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(fail(broken.join("; ")))
    }
}

/// 13.1: the chunk acks 1042 (first chunk), 1038 (later chunks) and 1044 (resume).
pub async fn chunk_acks(ctx: &mut Ctx) -> Outcome {
    let upload = ctx
        .upload("types-acks", 2 * CHUNK_SIZE as usize + 100)
        .await?;
    let mut conn = ctx.resource().await?;
    let mut replies = Vec::new();
    for send in [
        upload.send(1, ChunkKind::Normal),
        upload.send(2, ChunkKind::Normal),
        upload.send(3, ChunkKind::Resume),
    ] {
        let reply_id = send.reply_id();
        let acks = pipeline(&mut conn, &[send], 1).await?;
        replies.extend(acks.into_iter().map(|(_, body)| (reply_id, body)));
    }
    judge(&replies)
}

/// 13.2: the download info 1046 (`total_size` a string).
pub async fn download_info(ctx: &mut Ctx) -> Outcome {
    let (_, info) = uploaded_info(ctx, "types-info").await?;
    judge(&[(ids::IMG_CHAT_DOWN_INFO_SYNC_RSP, info)])
}

/// 13.3: the download chunks 1048 (`is_last` a bool, sizes strings), a middle one and the last.
pub async fn download_chunk(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("types-chunk", CHUNK_SIZE as usize + 500).await?;
    let mut conn = ctx.resource().await?;
    pipeline(&mut conn, &upload.sends(1..=2, ChunkKind::Normal), 1).await?;
    let user = ctx.receiver().unwrap_or(ctx.sender()).clone();
    let mut replies = Vec::new();
    for (seq, received) in [(1, 0), (2, CHUNK_SIZE)] {
        conn.send(&down_request(&upload, &user, seq, received))
            .await?;
        let body = conn
            .recv_matching(
                ids::IMG_CHAT_DOWN_RSP,
                &format!("the 1048 for seq {seq}"),
                |_| true,
            )
            .await?;
        replies.push((ids::IMG_CHAT_DOWN_RSP, body));
    }
    judge(&replies)
}

/// 13.4 (with `--chat`): the login reply 1006.
pub async fn login_reply(ctx: &mut Ctx) -> Outcome {
    let user = ctx.sender().clone();
    let mut conn = ctx.chat().await?;
    let body = login_accepted(&mut conn, &user).await?;
    judge(&[(ids::CHAT_LOGIN_RSP, body)])
}

/// 13.5 (with `--chat`): the text ack 1018 and the text push 1019, with their `chat_datas`.
pub async fn text_replies(ctx: &mut Ctx) -> Outcome {
    let receiver = ctx.receiver()?.clone();
    let sender = ctx.sender().clone();
    let mut to = login(ctx, &receiver).await?;
    let mut from = login(ctx, &sender).await?;
    let unique_id = ctx.unique_name("types-text");
    let req = TextReq {
        fromuid: sender.uid,
        touid: receiver.uid,
        thread_id: 1,
        text_array: vec![TextItem {
            content: "types".into(),
            unique_id: unique_id.clone(),
        }],
    };
    from.send(&Frame::json(ids::TEXT_CHAT_MSG_REQ, &req))
        .await?;
    let ours = |body: &Value| body.to_string().contains(&unique_id);
    let ack = from
        .recv_matching(ids::TEXT_CHAT_MSG_RSP, "the 1018 text ack", ours)
        .await?;
    let push = to
        .recv_matching(ids::NOTIFY_TEXT_CHAT_MSG_REQ, "the 1019 text push", ours)
        .await?;
    judge(&[
        (ids::TEXT_CHAT_MSG_RSP, ack),
        (ids::NOTIFY_TEXT_CHAT_MSG_REQ, push),
    ])
}

/// 13.6 (with `--chat`): the image message ack 1036.
pub async fn image_message(ctx: &mut Ctx) -> Outcome {
    let sender = ctx.sender().clone();
    let mut conn = login(ctx, &sender).await?;
    let upload = ctx.unreported_upload("types-img-msg", 1000);
    let ack = announce(&mut conn, &upload, &upload.token).await?;
    judge(&[(ids::IMG_CHAT_MSG_RSP, ack)])
}

/// 13.7 (with `--chat`): the upload-finished push 1039 (`total_size` a string).
pub async fn upload_push(ctx: &mut Ctx) -> Outcome {
    let (_from, mut to, _res, upload) = announce_and_upload(ctx, "types-push").await?;
    let wait = ctx.timeout();
    let push = expect_upload_push(&mut to, ids::NOTIFY_IMG_CHAT_MSG_REQ, wait, &upload).await?;
    judge(&[(ids::NOTIFY_IMG_CHAT_MSG_REQ, push)])
}

/// 13.8 (with `--chat`): the heartbeat reply 1024.
pub async fn heartbeat_reply(ctx: &mut Ctx) -> Outcome {
    let user = ctx.sender().clone();
    let mut conn = login(ctx, &user).await?;
    conn.send(&Frame::json(
        ids::HEART_BEAT_REQ,
        &HeartbeatReq { fromuid: user.uid },
    ))
    .await?;
    let body = conn
        .recv_matching(ids::HEARTBEAT_RSP, "the 1024 heartbeat reply", |_| true)
        .await?;
    judge(&[(ids::HEARTBEAT_RSP, body)])
}
