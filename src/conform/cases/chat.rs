//! Section 11 (with `--chat`): logins, texts and their pushes, image messages and the push that
//! tells the receiver an upload finished.

use super::flows::{
    chat_still_serving, expect_identical, login, login_accepted, refused_with, upload_all, Echo,
};
use crate::conform::ctx::{error_code, int, size, text, Ctx, Upload};
use crate::conform::verdict::{could_not_run, ensure, fail, unsupported, Finding, Outcome};
use crate::conform::wire::{Conn, Incoming};
use crate::protocol::body::{HeartbeatReq, ImgMsgReq, LoginReq, TextItem, TextReq};
use crate::protocol::codes::status;
use crate::protocol::{ids, ErrorCode, Frame, Framing, MAX_CWND};
use serde_json::Value;

/// 11.1: a known user with the right token logs in.
pub async fn login_ok(ctx: &mut Ctx) -> Outcome {
    let user = ctx.sender().clone();
    let mut conn = ctx.chat().await?;
    let body = login_accepted(&mut conn, &user).await?;
    ensure!(
        int(&body, "uid") == Some(i64::from(user.uid)),
        "1006 says uid {:?}, expected {}",
        body.get("uid"),
        user.uid
    );
    if text(&body, "name").is_none() {
        ctx.non_strict("1006 has no name");
    }
    Ok(())
}

/// A login that must be refused, ideally with `code`; then a good login still works.
async fn expect_login_refused(ctx: &mut Ctx, uid: i32, token: String, code: ErrorCode) -> Outcome {
    let mut conn = ctx.chat().await?;
    let frame = Frame::json(
        ids::CHAT_LOGIN,
        &LoginReq {
            uid,
            token,
            push_ack: false,
        },
    );
    if let Some(error) = refused_with(&mut conn, &frame, Echo::Nothing).await? {
        if error != i64::from(code.code()) {
            ctx.non_strict(format!(
                "refused with error {error}; the reference answers {} ({code:?})",
                code.code()
            ));
        }
    }
    chat_still_serving(ctx).await
}

/// 11.2: a wrong token is refused (TokenInvalid).
pub async fn login_bad_token(ctx: &mut Ctx) -> Outcome {
    let uid = ctx.sender().uid;
    let token = format!("not-the-token-{}", ctx.tag());
    expect_login_refused(ctx, uid, token, ErrorCode::TokenInvalid).await
}

/// 11.3: an unknown uid is refused (UidInvalid).
pub async fn login_unknown_uid(ctx: &mut Ctx) -> Outcome {
    let uid = ctx.sender().uid.saturating_add(100_000);
    expect_login_refused(ctx, uid, "token".into(), ErrorCode::UidInvalid).await
}

/// 11.4: a heartbeat is answered.
pub async fn heartbeat(ctx: &mut Ctx) -> Outcome {
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
    let error = error_code(&body, "1024")?;
    ensure!(error == 0, "the heartbeat was answered with error {error}");
    Ok(())
}

/// The chat data item with `unique_id` in a 1018/1019 body.
fn item<'a>(body: &'a Value, unique_id: &str) -> Option<&'a Value> {
    body.get("chat_datas")?
        .as_array()?
        .iter()
        .find(|d| text(d, "unique_id") == Some(unique_id))
}

/// 11.5: a text is acked to the sender (1018, with message ids) and pushed to the receiver (1019).
pub async fn text_ack_and_push(ctx: &mut Ctx) -> Outcome {
    let receiver = ctx.receiver()?.clone();
    let sender = ctx.sender().clone();
    let mut to = login(ctx, &receiver).await?;
    let mut from = login(ctx, &sender).await?;
    let base = ctx.unique_name("text");
    let items = vec![
        TextItem {
            content: "hello from chatsim conform".into(),
            unique_id: format!("{base}-1"),
        },
        TextItem {
            content: "图片马上到".into(),
            unique_id: format!("{base}-2"),
        },
    ];
    let ack = send_text_acked(&mut from, (sender.uid, receiver.uid), items.clone()).await?;
    for sent in &items {
        let Some(stored) = item(&ack, &sent.unique_id) else {
            return Err(fail(format!(
                "1018 does not list unique_id {}",
                sent.unique_id
            )));
        };
        ensure!(
            int(stored, "message_id").is_some_and(|id| id > 0),
            "1018 gives {} no message_id",
            sent.unique_id
        );
    }
    let first = items[0].unique_id.clone();
    let push = to
        .recv_matching(ids::NOTIFY_TEXT_CHAT_MSG_REQ, "the 1019 text push", |b| {
            item(b, &first).is_some()
        })
        .await?;
    for sent in &items {
        let got = item(&push, &sent.unique_id).and_then(|d| text(d, "content"));
        ensure!(
            got == Some(sent.content.as_str()),
            "the 1019 push carries {got:?} for {}, sent {:?}",
            sent.unique_id,
            sent.content
        );
    }
    Ok(())
}

/// 11.6: a text on a connection that never logged in is refused.
pub async fn text_before_login(ctx: &mut Ctx) -> Outcome {
    let sender = ctx.sender().clone();
    let touid = ctx.receiver().map(|u| u.uid).unwrap_or(sender.uid);
    let mut conn = ctx.chat().await?;
    let unique_id = ctx.unique_name("anonymous");
    let frame = Frame::json(
        ids::TEXT_CHAT_MSG_REQ,
        &TextReq {
            fromuid: sender.uid,
            touid,
            thread_id: 1,
            text_array: vec![TextItem {
                content: "sent without a login".into(),
                unique_id,
            }],
        },
    );
    refused_with(&mut conn, &frame, Echo::Nothing).await?;
    chat_still_serving(ctx).await
}

/// Sends 1035 for `upload` on a logged-in connection; returns the 1036 body.
pub(super) async fn announce(
    conn: &mut Conn,
    upload: &Upload,
    token: &str,
) -> Result<Value, Finding> {
    conn.send(&Frame::json(
        ids::IMG_CHAT_MSG_REQ,
        &ImgMsgReq {
            fromuid: upload.uid,
            touid: upload.receiver,
            thread_id: upload.thread_id,
            md5: upload.md5.clone(),
            name: upload.name.clone(),
            token: token.to_owned(),
            unique_id: format!("{}-msg", upload.name),
        },
    ))
    .await?;
    conn.recv_matching(ids::IMG_CHAT_MSG_RSP, "the 1036 image message ack", |_| {
        true
    })
    .await
}

/// Sends `items` from `from_to.0` to `from_to.1` as one 1017 and checks that the 1018 accepts them;
/// returns the 1018's body.
pub(super) async fn send_text_acked(
    conn: &mut Conn,
    (fromuid, touid): (i32, i32),
    items: Vec<TextItem>,
) -> Result<Value, Finding> {
    let req = TextReq {
        fromuid,
        touid,
        thread_id: 1,
        text_array: items,
    };
    conn.send(&Frame::json(ids::TEXT_CHAT_MSG_REQ, &req))
        .await?;
    let ack = conn
        .recv_matching(ids::TEXT_CHAT_MSG_RSP, "the 1018 text ack", |_| true)
        .await?;
    let error = error_code(&ack, "1018")?;
    ensure!(error == 0, "the text was refused with error {error}");
    Ok(ack)
}

/// Announces `upload` and checks the 1036; returns the chat server's message id.
pub(super) async fn announce_ok(conn: &mut Conn, upload: &Upload) -> Result<i64, Finding> {
    let ack = announce(conn, upload, &upload.token).await?;
    let error = error_code(&ack, "1036")?;
    ensure!(
        error == 0,
        "the image message was refused with error {error}"
    );
    let message_id = int(&ack, "message_id").unwrap_or(0);
    ensure!(message_id > 0, "1036 has no message_id: {ack}");
    ensure!(
        int(&ack, "status") == Some(i64::from(status::UN_UPLOAD)),
        "1036 says status {:?}, expected {} (UN_UPLOAD)",
        ack.get("status"),
        status::UN_UPLOAD
    );
    ensure!(
        text(&ack, "unique_name") == Some(upload.name.as_str()),
        "1036 says unique_name {:?}, expected {:?}",
        ack.get("unique_name"),
        upload.name
    );
    Ok(message_id)
}

/// 11.7: an image message is acked with a message id and status UN_UPLOAD.
pub async fn image_message_ack(ctx: &mut Ctx) -> Outcome {
    let sender = ctx.sender().clone();
    let mut conn = login(ctx, &sender).await?;
    let upload = ctx.unreported_upload("img-msg", 1000);
    announce_ok(&mut conn, &upload).await?;
    Ok(())
}

/// 11.8: an image message with a wrong token is refused.
pub async fn image_message_wrong_token(ctx: &mut Ctx) -> Outcome {
    let sender = ctx.sender().clone();
    let mut conn = login(ctx, &sender).await?;
    let upload = ctx.unreported_upload("img-token", 1000);
    let ack = announce(&mut conn, &upload, &format!("not-the-token-{}", ctx.tag())).await?;
    let error = error_code(&ack, "1036")?;
    ensure!(
        error != 0,
        "an image message with a wrong token was accepted"
    );
    Ok(())
}

/// Both users online; the sender announces and uploads an image. Returns the connections and the
/// upload (its message id is the chat server's).
pub(super) async fn announce_and_upload(
    ctx: &mut Ctx,
    slug: &str,
) -> Result<(Conn, Conn, Conn, Upload), Finding> {
    let receiver = ctx.receiver()?.clone();
    let sender = ctx.sender().clone();
    let to = login(ctx, &receiver).await?;
    let mut from = login(ctx, &sender).await?;
    // Announced here, on the sender's own connection, with 1036 checked: that is what 11.9 judges.
    let mut upload = ctx.unreported_upload(slug, 50_000);
    upload.message_id = announce_ok(&mut from, &upload).await?;
    let mut res = ctx.resource().await?;
    upload_all(&mut res, &upload, MAX_CWND).await?;
    Ok((from, to, res, upload))
}

/// Waits for the 1039 (or 1049) about `upload` and checks its fields.
pub(super) async fn expect_upload_push(
    conn: &mut Conn,
    id: u16,
    wait: std::time::Duration,
    upload: &Upload,
) -> Result<Value, Finding> {
    let message_id = upload.message_id;
    let push = conn
        .recv_matching_within(wait, id, &format!("the {id} push"), |b| {
            int(b, "message_id") == Some(message_id)
        })
        .await?;
    ensure!(
        text(&push, "img_name") == Some(upload.name.as_str()),
        "{id} says img_name {:?}, expected {:?}",
        push.get("img_name"),
        upload.name
    );
    for (field, want) in [("sender_id", upload.uid), ("receiver_id", upload.receiver)] {
        ensure!(
            int(&push, field) == Some(i64::from(want)),
            "{id} says {field} {:?}, expected {want}",
            push.get(field)
        );
    }
    match size(&push, "total_size") {
        Some((total, _)) if total != upload.data.len() as u64 => {
            return Err(fail(format!("{id} says total_size {total}")))
        }
        // Its JSON type (a string for the upstream client) is judged by 13.7.
        Some(_) => {}
        None => return Err(fail(format!("{id} has no total_size"))),
    }
    Ok(push)
}

/// 11.9: after the upload, the receiver gets 1039 and can download the image.
pub async fn upload_push(ctx: &mut Ctx) -> Outcome {
    let (_from, mut to, mut res, upload) = announce_and_upload(ctx, "pushed").await?;
    let wait = ctx.timeout();
    expect_upload_push(&mut to, ids::NOTIFY_IMG_CHAT_MSG_REQ, wait, &upload).await?;
    expect_identical(ctx, &mut res, &upload).await
}

/// 11.10 (optional extension): the sender is told too, with 1049.
pub async fn sender_notice(ctx: &mut Ctx) -> Outcome {
    let (mut from, mut to, _res, upload) = announce_and_upload(ctx, "sender-notice").await?;
    let wait = ctx.timeout();
    expect_upload_push(&mut to, ids::NOTIFY_IMG_CHAT_MSG_REQ, wait, &upload)
        .await
        .map_err(|f| {
            could_not_run(format!(
                "the receiver's 1039 never came, so 1049 cannot be judged: {}",
                f.reason
            ))
        })?;
    // The extension's push goes out with the 1039: a short wait is enough to miss nothing.
    let wait = ctx.quiet_period() * 2;
    expect_upload_push(&mut from, ids::NOTIFY_IMG_UPLOADED, wait, &upload)
        .await
        .map_err(|f| {
            unsupported(format!(
                "no 1049 for the sender (an optional extension): {}",
                f.reason
            ))
        })
        .map(|_| ())
}

/// 11.11: a chat frame over upstream's 2048-byte limit gets an error or a close.
pub async fn chat_oversize_frame(ctx: &mut Ctx) -> Outcome {
    let sender = ctx.sender().clone();
    let mut body = serde_json::to_vec(&LoginReq {
        uid: sender.uid,
        token: sender.token.clone(),
        push_ack: false,
    })
    .map_err(|e| could_not_run(format!("cannot build the request: {e}")))?;
    body.resize(Framing::Chat.upstream_max_body() + 1, b' ');
    let frame = Frame::new(ids::CHAT_LOGIN, body);
    let mut conn = ctx.chat().await?;
    refused_with(&mut conn, &frame, Echo::Nothing).await?;
    chat_still_serving(ctx).await
}

/// 11.12: a login and a heartbeat in one write: both answered.
pub async fn chat_coalesced_frames(ctx: &mut Ctx) -> Outcome {
    let user = ctx.sender().clone();
    let mut conn = ctx.chat().await?;
    let mut bytes = conn.encode(&Frame::json(
        ids::CHAT_LOGIN,
        &LoginReq {
            uid: user.uid,
            token: user.token.clone(),
            push_ack: false,
        },
    ));
    bytes.extend(conn.encode(&Frame::json(
        ids::HEART_BEAT_REQ,
        &HeartbeatReq { fromuid: user.uid },
    )));
    conn.send_in_pieces(&bytes, &[], std::time::Duration::ZERO)
        .await?;
    for (id, what) in [
        (ids::CHAT_LOGIN_RSP, "the 1006 login reply"),
        (ids::HEARTBEAT_RSP, "the 1024 heartbeat reply"),
    ] {
        let body = conn.recv_matching(id, what, |_| true).await?;
        let error = error_code(&body, what)?;
        ensure!(error == 0, "{what} has error {error}");
    }
    Ok(())
}

/// Reads frames until `count` with id `id` (for which `mine` holds) have come, or until nothing
/// comes within the case's timeout; returns how many came.
async fn count_frames(
    ctx: &Ctx,
    conn: &mut Conn,
    id: u16,
    count: usize,
    mine: impl Fn(&Value) -> bool,
) -> usize {
    let mut seen = 0;
    while seen < count {
        match conn.next_within(ctx.timeout()).await {
            Incoming::Frame(frame) if frame.id == id => {
                let body: Value = serde_json::from_slice(&frame.body).unwrap_or(Value::Null);
                seen += usize::from(mine(&body));
            }
            Incoming::Frame(_) => {}
            _ => break,
        }
    }
    seen
}

/// 11.13: a logged-in client sends 1000 heartbeats in one write and reads every reply: all 1000
/// come (a server that queues replies in a bounded buffer and drops them on overflow cuts off a
/// client that does read).
pub async fn thousand_requests_one_write(ctx: &mut Ctx) -> Outcome {
    const REQUESTS: usize = 1000;
    let user = ctx.sender().clone();
    let mut conn = login(ctx, &user).await?;
    let one = conn.encode(&Frame::json(
        ids::HEART_BEAT_REQ,
        &HeartbeatReq { fromuid: user.uid },
    ));
    let bytes = one.repeat(REQUESTS);
    conn.send_raw(&bytes, "1000 heartbeats in one write")
        .await
        .map_err(|e| fail(format!("cannot write 1000 heartbeats: {e}")))?;
    let replies = count_frames(ctx, &mut conn, ids::HEARTBEAT_RSP, REQUESTS, |_| true).await;
    ensure!(
        replies == REQUESTS,
        "{replies} of {REQUESTS} heartbeat replies came"
    );
    chat_still_serving(ctx).await
}

/// 11.14: 260 texts wait for an offline receiver (more than a 256-slot reply queue holds). When
/// it logs in it gets its 1006 and every one of the 260 pushes.
pub async fn pushes_waiting_at_login(ctx: &mut Ctx) -> Outcome {
    const TEXTS: usize = 260;
    let receiver = ctx.receiver()?.clone();
    let sender = ctx.sender().clone();
    let mut from = login(ctx, &sender).await?;
    let base = ctx.unique_name("waiting");
    let mut bytes = Vec::new();
    for n in 0..TEXTS {
        let req = TextReq {
            fromuid: sender.uid,
            touid: receiver.uid,
            thread_id: 1,
            text_array: vec![TextItem {
                content: format!("waiting {n}"),
                unique_id: format!("{base}-{n}"),
            }],
        };
        bytes.extend(from.encode(&Frame::json(ids::TEXT_CHAT_MSG_REQ, &req)));
    }
    from.send_raw(&bytes, "260 texts in one write")
        .await
        .map_err(|e| fail(format!("cannot write 260 texts: {e}")))?;
    let acked = count_frames(ctx, &mut from, ids::TEXT_CHAT_MSG_RSP, TEXTS, |_| true).await;
    if acked < TEXTS {
        return Err(could_not_run(format!(
            "only {acked} of {TEXTS} texts were acked, so the pushes cannot be counted"
        )));
    }
    let mut to = login(ctx, &receiver).await?;
    let prefix = format!("{base}-");
    let ours = |body: &Value| {
        body.get("chat_datas")
            .and_then(Value::as_array)
            .is_some_and(|d| {
                d.iter()
                    .any(|i| text(i, "unique_id").is_some_and(|u| u.starts_with(&prefix)))
            })
    };
    let pushes = count_frames(ctx, &mut to, ids::NOTIFY_TEXT_CHAT_MSG_REQ, TEXTS, ours).await;
    ensure!(
        pushes == TEXTS,
        "{pushes} of the {TEXTS} waiting 1019 pushes came after the login"
    );
    Ok(())
}
