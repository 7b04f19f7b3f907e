//! Procedures the cases share: uploading with a window, downloading, expecting a refusal, and
//! checking that a server still serves after bad input.

use crate::conform::ctx::{error_code, flag, int, size, text, ChunkKind, ChunkSend, Ctx, Upload};
use crate::conform::verdict::{ensure, fail, Finding, Outcome};
use crate::conform::wire::{describe, json_body, Conn, Incoming};
use crate::protocol::body::{DownChunkReq, DownInfoReq, LoginReq};
use crate::protocol::{ids, Frame, WireSize, CHUNK_SIZE};
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
pub async fn expect_available(conn: &mut Conn, upload: &Upload) -> Result<Value, Finding> {
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
        // Its JSON type (a string for the upstream client) is judged by 13.2.
        Some(_) => {}
        None => return Err(fail("1046 has no total_size")),
    }
    Ok(info)
}

/// The server does not offer `upload` (`why` not): 1047 for seq 1 is refused, and 1045 answers
/// an error or nothing. Both are tried because a client may use either: one told of the file by
/// a 1039 push asks 1047 directly.
pub async fn expect_unavailable(
    ctx: &mut Ctx,
    conn: &mut Conn,
    upload: &Upload,
    why: &str,
) -> Result<(), Finding> {
    let user = ctx.receiver().unwrap_or(ctx.sender()).clone();
    conn.send(&down_request(upload, &user, 1, 0)).await?;
    let chunk = conn
        .recv_matching(ids::IMG_CHAT_DOWN_RSP, "the 1048 for seq 1", |_| true)
        .await?;
    let error = error_code(&chunk, "1048")?;
    ensure!(
        error != 0,
        "{why}, yet 1047 serves seq 1 of {} for download",
        upload.name
    );
    // On a connection of its own: a server without 1045 may close on it or answer late, and
    // the caller's connection goes on with the upload.
    let mut info = ctx.resource().await?;
    info.send(&Frame::json(
        ids::IMG_CHAT_DOWN_INFO_SYNC_REQ,
        &DownInfoReq {
            message_id: upload.message_id,
        },
    ))
    .await?;
    // Silence is not an offer: upstream does not answer 1045 for a message it cannot serve.
    if let Incoming::Frame(frame) = info.next().await {
        if frame.id == ids::IMG_CHAT_DOWN_INFO_SYNC_RSP {
            let error = error_code(&json_body(&frame)?, "1046")?;
            ensure!(
                error != 0,
                "{why}, yet 1045 for message {} offers {} for download",
                upload.message_id,
                upload.name
            );
        }
    }
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

/// Downloads `upload` as `user` with 1047 for every seq and returns the bytes. It does not ask
/// 1045 first: the cases that check bytes must not depend on 1045, which is judged on its own
/// (10.1), and a client that was told the name (1039) needs nothing else.
pub async fn download(
    ctx: &mut Ctx,
    conn: &mut Conn,
    upload: &Upload,
    user: &User,
) -> Result<Vec<u8>, Finding> {
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
        // Read as a bool or a number here; its JSON type is judged by 13.3.
        match flag(&body, "is_last") {
            Some(last) => ensure!(
                last == (seq == max_seq),
                "1048 seq {seq} of {max_seq} says is_last={}",
                body["is_last"]
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

/// Sends a request that must be refused; returns the refusal's body (its reply id and a nonzero
/// error checked), or `None` when the server closed the connection.
pub async fn refusal_body(conn: &mut Conn, request: &Frame) -> Result<Option<Value>, Finding> {
    if conn.send(request).await.is_err() {
        return Ok(None);
    }
    match conn.next().await {
        Incoming::Frame(reply) => {
            check_refusal(request, &reply, Echo::Nothing)?;
            json_body(&reply).map(Some)
        }
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

/// The probe that tells whether a resource server still serves: chunk 2 (1037, without a token)
/// of a file nobody started. Every upstream-compatible server answers it: upstream's 1037
/// handler looks the name up and answers FileNotExists (as 1032 in the seed, 1038 later); ours
/// answers TokenInvalid. 1045 would not do: upstream sends nothing for a message it does not
/// know. Returns the frame and the probe's file name.
pub fn probe_frame(ctx: &mut Ctx) -> (Frame, String) {
    let upload = ctx.unreported_upload("probe", CHUNK_SIZE as usize + 16);
    let send = upload.send(2, ChunkKind::Normal);
    (send.frame, upload.name)
}

/// Whether `frame` answers the probe for `name`: a chunk reply (1038, or upstream's 1032) or a
/// frame that names the probe's file.
pub fn answers_probe(frame: &Frame, name: &str) -> bool {
    let names = serde_json::from_slice::<Value>(&frame.body)
        .ok()
        .is_some_and(|body| text(&body, "name") == Some(name));
    names
        || matches!(
            frame.id,
            ids::IMG_CHAT_UPLOAD_RSP | ids::UPLOAD_HEAD_ICON_RSP
        )
}

/// A fresh connection still gets an answer to the probe ([`probe_frame`]).
pub async fn still_serving(ctx: &mut Ctx) -> Result<(), Finding> {
    let (probe, name) = probe_frame(ctx);
    let mut conn = ctx.resource_again().await?;
    conn.send(&probe).await?;
    let stopped = |what: String| {
        fail(format!(
            "after the bad input the server stopped serving: a fresh connection got {what} to \
             a 1037 for a file never started, which every server answers"
        ))
    };
    match conn.next().await {
        Incoming::Frame(frame) if answers_probe(&frame, &name) => Ok(()),
        Incoming::Frame(frame) => Err(stopped(format!("{} ({})", frame.id, ids::name(frame.id)))),
        other => Err(stopped(describe(&other))),
    }
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
