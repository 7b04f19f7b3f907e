//! Section 14 (with `--chat` and `--chat2`, two chat servers of one system): a text to a user on
//! the other server reaches it there (upstream's NotifyTextChatMsg), a login on the second server
//! ends the session on the first (NotifyKickUser), and the upload push reaches the receiver on
//! the server it is logged in to (the resource server looks up `uip_<uid>`).

use super::chat::{announce_ok, expect_upload_push, send_text_acked};
use super::flows::{login, login_accepted, upload_all};
use crate::conform::ctx::{text, Ctx};
use crate::conform::verdict::{ensure, fail, Finding, Outcome};
use crate::conform::wire::{Conn, Incoming};
use crate::protocol::body::TextItem;
use crate::protocol::{ids, MAX_CWND};
use crate::users::User;

/// `user` logged in on the second chat server.
async fn login2(ctx: &mut Ctx, user: &User) -> Result<Conn, Finding> {
    let mut conn = ctx.chat2().await?;
    login_accepted(&mut conn, user).await?;
    Ok(conn)
}

/// 14.1: the receiver on `--chat2`, the sender on `--chat`: the text is acked on the sender's
/// server and pushed (1019) on the receiver's.
pub async fn text_across_servers(ctx: &mut Ctx) -> Outcome {
    let receiver = ctx.receiver()?.clone();
    let sender = ctx.sender().clone();
    let mut to = login2(ctx, &receiver).await?;
    let mut from = login(ctx, &sender).await?;
    let item = TextItem {
        content: "across two chat servers".into(),
        unique_id: ctx.unique_name("across"),
    };
    let _ack = send_text_acked(&mut from, (sender.uid, receiver.uid), vec![item.clone()]).await?;
    let has_item = |b: &serde_json::Value| {
        b.get("chat_datas")
            .and_then(|d| d.as_array())
            .is_some_and(|d| {
                d.iter()
                    .any(|d| text(d, "unique_id") == Some(item.unique_id.as_str()))
            })
    };
    let push = to
        .recv_matching(
            ids::NOTIFY_TEXT_CHAT_MSG_REQ,
            "the 1019 push on the receiver's server (--chat2)",
            has_item,
        )
        .await?;
    ensure!(
        push.to_string().contains(&item.content),
        "the 1019 on --chat2 does not carry the text sent: {push}"
    );
    Ok(())
}

/// 14.2: a user logged in on `--chat` logs in on `--chat2` too; the first server closes the first
/// session.
pub async fn kick_on_second_login(ctx: &mut Ctx) -> Outcome {
    let user = ctx.sender().clone();
    let mut first = login(ctx, &user).await?;
    let _second = login2(ctx, &user).await?;
    let deadline = tokio::time::Instant::now() + ctx.timeout();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match first.next_within(left).await {
            // Pushes kept from earlier cases may come first.
            Incoming::Frame(_) => continue,
            Incoming::Closed(_) => return Ok(()),
            Incoming::Garbage(what) => {
                return Err(fail(format!(
                    "the first session sent bytes that are not a frame before closing: {what}"
                )))
            }
            Incoming::TimedOut(wait) => {
                return Err(fail(format!(
                    "uid {} logged in on --chat2, and its session on --chat was still open {wait:?} later",
                    user.uid
                )))
            }
        }
    }
}

/// 14.3: the receiver on `--chat2`, the sender announcing on `--chat`: the resource server's
/// notify reaches the receiver's server, which pushes 1039 there.
pub async fn upload_push_on_receivers_server(ctx: &mut Ctx) -> Outcome {
    let receiver = ctx.receiver()?.clone();
    let sender = ctx.sender().clone();
    let mut to = login2(ctx, &receiver).await?;
    let mut from = login(ctx, &sender).await?;
    let mut upload = ctx.unreported_upload("two-chat-push", 50_000);
    upload.message_id = announce_ok(&mut from, &upload).await?;
    let mut res = ctx.resource().await?;
    upload_all(&mut res, &upload, MAX_CWND).await?;
    let wait = ctx.timeout();
    expect_upload_push(&mut to, ids::NOTIFY_IMG_CHAT_MSG_REQ, wait, &upload).await?;
    Ok(())
}
