//! Procedures the cases share: uploading with a window, downloading, expecting a refusal, and
//! checking that a server still serves after bad input.

use crate::conform::ctx::{error_code, int, size, text, ChunkKind, ChunkSend, Ctx, Upload};
use crate::conform::verdict::{ensure, fail, Finding, Outcome};
use crate::conform::wire::{describe, json_body, Conn, Incoming};
use crate::protocol::body::{DownChunkReq, DownInfoReq, LoginReq};
use crate::protocol::{ids, Frame, WireSize};
use crate::users::User;
use base64::Engine as _;
use serde_json::Value;

/// Sends `sends` keeping at most `window` without an ack. Every ack must be a success reply with
/// the right id that names its chunk. Returns the acks in the order they came.
pub async fn pipeline(
    conn: &mut Conn,
    sends: &[ChunkSend],
    window: usize,
) -> Result<Vec<(usize, Value)>, Finding> {
    let mut in_flight: Vec<usize> = Vec::new();
    let mut next = 0;
    let mut acks = Vec::new();
    while acks.len() < sends.len() {
        while next < sends.len() && in_flight.len() < window.max(1) {
            conn.send(&sends[next].frame).await?;
            in_flight.push(next);
            next += 1;
        }
        let frame = conn.recv("a chunk ack").await?;
        let (index, body) = match_ack(&frame, sends, in_flight.iter().copied(), "in flight")?;
        in_flight.retain(|&i| i != index);
        acks.push((index, body));
    }
    Ok(acks)
}

/// Reads one success ack for each of `sends`, which the case already put on the wire (in one
/// write, in pieces...). Acks may come in any order.
pub async fn acks_for(conn: &mut Conn, sends: &[ChunkSend]) -> Result<Vec<Value>, Finding> {
    let mut waiting: Vec<usize> = (0..sends.len()).collect();
    let mut acks = Vec::new();
    while !waiting.is_empty() {
        let frame = conn.recv("a chunk ack").await?;
        let (index, body) = match_ack(&frame, sends, waiting.iter().copied(), "in flight")?;
        waiting.retain(|&i| i != index);
        acks.push(body);
    }
    Ok(acks)
}

/// Finds which of the `candidates` (indexes into `sends`, searched in order) `frame` answers and
/// checks that it is a success with the request's reply id. `candidates_are` says which chunks
/// the candidates are ("in flight", "sent") when none matches.
pub fn match_ack(
    frame: &Frame,
    sends: &[ChunkSend],
    candidates: impl IntoIterator<Item = usize>,
    candidates_are: &str,
) -> Result<(usize, Value), Finding> {
    let body = json_body(frame)?;
    let name = text(&body, "name").unwrap_or_default();
    let seq = int(&body, "seq").unwrap_or(-1);
    let Some(index) = candidates
        .into_iter()
        .find(|&i| sends[i].name == name && i64::from(sends[i].seq) == seq)
    else {
        return Err(fail(format!(
            "reply {} names name={name:?} seq={seq}, which matches no chunk {candidates_are}; a \
             client cannot match it",
            frame.id
        )));
    };
    let send = &sends[index];
    ensure!(
        frame.id == send.reply_id(),
        "seq {} of {} was answered with {} ({}) instead of {}",
        send.seq,
        send.name,
        frame.id,
        ids::name(frame.id),
        send.reply_id()
    );
    let error = error_code(&body, "the chunk ack")?;
    ensure!(
        error == 0,
        "seq {} of {} was refused with error {error}",
        send.seq,
        send.name
    );
    Ok((index, body))
}

/// Uploads the whole file the way a client does: chunk 1, its ack, then the rest with `window`.
pub async fn upload_all(conn: &mut Conn, upload: &Upload, window: usize) -> Result<(), Finding> {
    pipeline(conn, &[upload.send(1, ChunkKind::Normal)], 1).await?;
    pipeline(conn, &upload.rest(), window).await?;
    Ok(())
}

/// The 1046 answer to a 1045 for `message_id`.
pub async fn download_info(conn: &mut Conn, message_id: i64) -> Result<Value, Finding> {
    conn.send(&Frame::json(
        ids::IMG_CHAT_DOWN_INFO_SYNC_REQ,
        &DownInfoReq { message_id },
    ))
    .await?;
    let frame = conn.recv("the 1046 download info").await?;
    ensure!(
        frame.id == ids::IMG_CHAT_DOWN_INFO_SYNC_RSP,
        "1045 was answered with {} ({})",
        frame.id,
        ids::name(frame.id)
    );
    json_body(&frame)
}

/// The server offers `upload` for download: 1046 says success with its name and size.
pub async fn expect_available(
    ctx: &mut Ctx,
    conn: &mut Conn,
    upload: &Upload,
) -> Result<Value, Finding> {
    let info = download_info(conn, upload.message_id).await?;
    let error = error_code(&info, "1046")?;
    ensure!(
        error == 0,
        "the upload {} is complete but 1045 for message {} answers error {error}",
        upload.name,
        upload.message_id
    );
    let name = text(&info, "name").unwrap_or_default();
    ensure!(
        name == upload.name,
        "1046 names {name:?}, expected {:?}",
        upload.name
    );
    match size(&info, "total_size") {
        Some((total, _)) if total != upload.data.len() as u64 => {
            return Err(fail(format!(
                "1046 says total_size {total}, the file has {} bytes",
                upload.data.len()
            )))
        }
        Some((_, false)) => ctx.non_strict("1046 total_size is a number; upstream sends a string"),
        Some(_) => {}
        None => return Err(fail("1046 has no total_size")),
    }
    Ok(info)
}

/// The server does not offer `upload`: 1046 answers an error.
pub async fn expect_unavailable(
    conn: &mut Conn,
    upload: &Upload,
    why: &str,
) -> Result<(), Finding> {
    let info = download_info(conn, upload.message_id).await?;
    let error = error_code(&info, "1046")?;
    ensure!(
        error != 0,
        "{why}, yet 1045 for message {} offers {} for download",
        upload.message_id,
        upload.name
    );
    Ok(())
}

/// The 1047 request for `seq` of `upload`, as the downloading `user` sends it.
pub fn down_request(upload: &Upload, user: &User, seq: u32, received: u64) -> Frame {
    Frame::json(
        ids::IMG_CHAT_DOWN_REQ,
        &DownChunkReq {
            name: upload.name.clone(),
            seq,
            trans_size: WireSize::string(received),
            total_size: WireSize::string(upload.data.len() as u64),
            token: user.token.clone(),
            sender_id: upload.uid,
            receiver_id: upload.receiver,
            message_id: upload.message_id,
            uid: user.uid,
        },
    )
}

/// Downloads `upload` as `user` (1045, then 1047 for every seq) and returns the bytes.
pub async fn download(
    ctx: &mut Ctx,
    conn: &mut Conn,
    upload: &Upload,
    user: &User,
) -> Result<Vec<u8>, Finding> {
    expect_available(ctx, conn, upload).await?;
    let max_seq = upload.max_seq();
    let mut bytes = Vec::with_capacity(upload.data.len());
    for seq in 1..=max_seq {
        conn.send(&down_request(upload, user, seq, bytes.len() as u64))
            .await?;
        let frame = conn.recv(&format!("the 1048 for seq {seq}")).await?;
        ensure!(
            frame.id == ids::IMG_CHAT_DOWN_RSP,
            "1047 seq {seq} was answered with {} ({})",
            frame.id,
            ids::name(frame.id)
        );
        let body = json_body(&frame)?;
        let error = error_code(&body, "1048")?;
        ensure!(error == 0, "1047 seq {seq} was refused with error {error}");
        ensure!(
            int(&body, "seq") == Some(i64::from(seq)),
            "1048 for seq {seq} says seq {:?}",
            body.get("seq")
        );
        let data = text(&body, "data").unwrap_or_default();
        let chunk = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| fail(format!("1048 seq {seq} data is not base64: {e}")))?;
        bytes.extend_from_slice(&chunk);
        match int(&body, "is_last") {
            Some(flag) => ensure!(
                (flag != 0) == (seq == max_seq),
                "1048 seq {seq} of {max_seq} says is_last={flag}"
            ),
            None => ctx.non_strict("1048 has no is_last"),
        }
    }
    Ok(bytes)
}

/// Downloads `upload` as its receiver and compares with the source, byte for byte.
pub async fn expect_identical(
    ctx: &mut Ctx,
    conn: &mut Conn,
    upload: &Upload,
) -> Result<(), Finding> {
    let user = ctx.receiver().unwrap_or(ctx.sender()).clone();
    let got = download(ctx, conn, upload, &user).await?;
    if got == upload.data {
        return Ok(());
    }
    let first_diff = got
        .iter()
        .zip(&upload.data)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(upload.data.len()));
    Err(fail(format!(
        "the downloaded {} differs from what was uploaded: {} bytes vs {}, first difference at \
         byte {first_diff} (chunk {})",
        upload.name,
        got.len(),
        upload.data.len(),
        first_diff / 32768 + 1
    )))
}

/// What a refusal must name so that a client can match it to its request.
#[derive(Debug, Clone, Copy)]
pub enum Echo<'a> {
    Nothing,
    Chunk { name: &'a str, seq: u32 },
}

impl<'a> Echo<'a> {
    /// The refusal names `upload`'s file and `seq`.
    pub fn chunk(upload: &'a Upload, seq: u32) -> Self {
        Echo::Chunk {
            name: &upload.name,
            seq,
        }
    }
}

/// Sends a request that must be refused: an error reply with the request's reply id, or a clean
/// close. Then checks that the resource server still serves a fresh connection.
pub async fn expect_refusal(
    ctx: &mut Ctx,
    conn: &mut Conn,
    frame: &Frame,
    echo: Echo<'_>,
) -> Result<(), Finding> {
    expect_refused(conn, frame, echo).await?;
    still_serving(ctx).await
}

/// [`expect_refusal`] of `frame` sent on a fresh connection to the resource server.
pub async fn expect_refusal_fresh(ctx: &mut Ctx, frame: &Frame, echo: Echo<'_>) -> Outcome {
    let mut conn = ctx.resource().await?;
    expect_refusal(ctx, &mut conn, frame, echo).await
}

/// Sends a request that must be refused, on either server: an error reply with the request's
/// reply id, or a clean close.
pub async fn expect_refused(conn: &mut Conn, frame: &Frame, echo: Echo<'_>) -> Result<(), Finding> {
    refused_with(conn, frame, echo).await.map(|_| ())
}

/// Like [`expect_refused`]; returns the error code, or `None` when the server closed.
pub async fn refused_with(
    conn: &mut Conn,
    request: &Frame,
    echo: Echo<'_>,
) -> Result<Option<i64>, Finding> {
    // A server may close while we are still writing (an oversize frame): that is a refusal.
    if conn.send(request).await.is_err() {
        return Ok(None);
    }
    match conn.next().await {
        Incoming::Frame(reply) => check_refusal(request, &reply, echo).map(Some),
        Incoming::Closed(_) => Ok(None),
        other => Err(fail(format!(
            "neither an error reply nor a close after the bad {}: {}",
            request.id,
            describe(&other)
        ))),
    }
}

fn check_refusal(request: &Frame, reply: &Frame, echo: Echo<'_>) -> Result<i64, Finding> {
    if let Some(expected) = ids::reply_to(request.id) {
        ensure!(
            reply.id == expected,
            "the refusal of {} came as {} ({}) instead of {expected}; a client waiting for \
             {expected} cannot match it",
            request.id,
            reply.id,
            ids::name(reply.id)
        );
    }
    let body = json_body(reply)?;
    let error = error_code(&body, "the refusal")?;
    ensure!(error != 0, "the bad {} was accepted (error 0)", request.id);
    if let Echo::Chunk { name, seq } = echo {
        let got_name = text(&body, "name");
        let got_seq = int(&body, "seq");
        ensure!(
            got_name == Some(name) && got_seq == Some(i64::from(seq)),
            "the refusal (error {error}) names name={got_name:?} seq={got_seq:?}, not {name:?} \
             seq {seq}: a client cannot tell which chunk failed"
        );
    }
    Ok(error)
}

/// A fresh connection still gets an answer to 1045.
pub async fn still_serving(ctx: &mut Ctx) -> Result<(), Finding> {
    let mut conn = ctx.resource_again().await?;
    download_info(&mut conn, -1).await.map_err(|f| {
        fail(format!(
            "after the bad input the server stopped serving: {}",
            f.reason
        ))
    })?;
    Ok(())
}

/// Logs `user` in on a fresh chat connection; the reply must be a success.
pub async fn login(ctx: &mut Ctx, user: &User) -> Result<Conn, Finding> {
    let mut conn = ctx.chat().await?;
    login_accepted(&mut conn, user).await?;
    Ok(conn)
}

/// Sends 1005 for `user` and returns the 1006 body, which must be a success.
pub async fn login_accepted(conn: &mut Conn, user: &User) -> Result<Value, Finding> {
    let body = login_reply(conn, user.uid, &user.token).await?;
    let error = error_code(&body, "1006")?;
    ensure!(
        error == 0,
        "login of uid {} refused with error {error}",
        user.uid
    );
    Ok(body)
}

/// Sends 1005 and returns the 1006 body.
pub async fn login_reply(conn: &mut Conn, uid: i32, token: &str) -> Result<Value, Finding> {
    conn.send(&Frame::json(
        ids::CHAT_LOGIN,
        &LoginReq {
            uid,
            token: token.to_owned(),
            push_ack: false,
        },
    ))
    .await?;
    // Pushes queued while the user was away may come around the reply; they are skipped.
    conn.recv_matching(ids::CHAT_LOGIN_RSP, "the 1006 login reply", |_| true)
        .await
}

/// A fresh chat connection still logs in.
pub async fn chat_still_serving(ctx: &mut Ctx) -> Result<(), Finding> {
    let user = ctx.sender().clone();
    let mut conn = ctx.chat_again().await?;
    let body = login_reply(&mut conn, user.uid, &user.token)
        .await
        .map_err(|f| {
            fail(format!(
                "after the bad input the chat server stopped serving: {}",
                f.reason
            ))
        })?;
    let error = error_code(&body, "1006")?;
    ensure!(
        error == 0,
        "after the bad input, login is refused with error {error}"
    );
    Ok(())
}
