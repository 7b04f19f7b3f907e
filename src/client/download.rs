//! Downloads, one at a time, each on a fresh resource connection: 1045 for the file's details, then
//! 1047 for seq 1, 2, ... in order, then the md5 of what arrived is checked against the upload's.
//! A download that stalls or fails starts over after a wait that doubles up to 20 s, without a
//! limit; only an answer no retry can change (1001, 1010, 1011, 1012) ends it.

use super::ClientConfig;
use crate::backoff::Backoff;
use crate::net::{framed, next_frame, FrameReader, FrameSender, Network};
use crate::protocol::body::{
    ChunkHint, DownChunkReq, DownChunkRsp, DownInfoReq, DownInfoRsp, ImgUploadedNotify,
};
use crate::protocol::{ids, ErrorCode, Frame, FrameCodec, Framing, WireSize};
use crate::trace::{Dir, Event, Tracer};
use base64::Engine as _;
use md5::{Digest, Md5};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The longest wait between two attempts at one download.
pub(crate) const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(20);

/// Error codes after which trying again is pointless.
fn is_final(code: i32) -> bool {
    matches!(
        ErrorCode::from_code(code),
        Some(
            ErrorCode::ErrorJson
                | ErrorCode::TokenInvalid
                | ErrorCode::UidInvalid
                | ErrorCode::FileNotExists
        )
    )
}

#[derive(Clone)]
pub(super) struct Downloader {
    tx: mpsc::UnboundedSender<ImgUploadedNotify>,
}

impl Downloader {
    pub fn start(config: ClientConfig, network: Arc<dyn Network>, tracer: Tracer) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<ImgUploadedNotify>();
        tokio::spawn(async move {
            while let Some(push) = rx.recv().await {
                download(&config, network.as_ref(), &tracer, &push).await;
            }
        });
        Downloader { tx }
    }

    pub fn fetch(&self, push: ImgUploadedNotify) {
        let _ = self.tx.send(push);
    }
}

/// Why one attempt failed: an error code from the server (0 when it is not the server's) and text.
struct Failure(i32, String);

async fn download(
    config: &ClientConfig,
    network: &dyn Network,
    tracer: &Tracer,
    push: &ImgUploadedNotify,
) {
    let mut backoff = Backoff::new(config.download_timeout / 4, MAX_BACKOFF);
    let last = loop {
        match try_download(config, network, tracer, push).await {
            Ok((data, md5)) => {
                tracer.emit(Event::DownloadDone {
                    file: push.img_name.clone(),
                    message_id: push.message_id,
                    size: data.len() as u64,
                    md5,
                });
                return;
            }
            // The server says no for a reason that another try cannot change.
            Err(failure) if is_final(failure.0) => break failure,
            // A lost connection, a timeout, a corrupted transfer: the file is there, so keep
            // trying, less and less often.
            Err(_) => {
                backoff.wait().await;
            }
        }
    };
    tracer.emit(Event::DownloadFailed {
        file: push.img_name.clone(),
        message_id: push.message_id,
        error: last.0,
        reason: last.1,
    });
}

async fn try_download(
    config: &ClientConfig,
    network: &dyn Network,
    tracer: &Tracer,
    push: &ImgUploadedNotify,
) -> Result<(Vec<u8>, String), Failure> {
    let peer = config.resource_addr.clone();
    let stream = network
        .connect(peer.clone())
        .await
        .map_err(|e| Failure(0, format!("connect {peer}: {e}")))?;
    let (mut reader, sender) = framed(
        stream,
        FrameCodec::with_limit(Framing::Resource, u32::MAX as usize),
        FrameCodec::upstream(Framing::Resource),
    );
    let mut exchange = Exchange {
        config,
        tracer,
        peer,
        reader: &mut reader,
        sender: &sender,
    };
    let info: DownInfoRsp = exchange
        .ask(Frame::json(
            ids::IMG_CHAT_DOWN_INFO_SYNC_REQ,
            &DownInfoReq {
                message_id: push.message_id,
            },
        ))
        .await?;
    if info.error != 0 {
        return Err(Failure(info.error, "download info refused".into()));
    }
    let total = info.total_size.value;
    let mut data = Vec::with_capacity(total.min(64 << 20) as usize);
    let mut seq = 1u32;
    loop {
        let rsp: DownChunkRsp = exchange
            .ask(Frame::json(
                ids::IMG_CHAT_DOWN_REQ,
                &DownChunkReq {
                    name: info.name.clone(),
                    seq,
                    trans_size: WireSize::string(data.len() as u64),
                    total_size: WireSize::string(total),
                    token: config.token.clone(),
                    sender_id: info.sender_id,
                    receiver_id: info.recv_id,
                    message_id: push.message_id,
                    uid: config.uid,
                },
            ))
            .await?;
        if rsp.error != 0 {
            return Err(Failure(rsp.error, format!("seq {seq} refused")));
        }
        if rsp.seq != seq {
            return Err(Failure(0, format!("asked for seq {seq}, got {}", rsp.seq)));
        }
        let chunk = base64::engine::general_purpose::STANDARD
            .decode(rsp.data.as_bytes())
            .map_err(|e| Failure(0, format!("seq {seq} data is not base64: {e}")))?;
        data.extend_from_slice(&chunk);
        if data.len() as u64 > total {
            return Err(Failure(
                0,
                format!("received {} bytes, more than {total}", data.len()),
            ));
        }
        if rsp.is_last {
            break;
        }
        seq += 1;
    }
    let md5 = hex::encode(Md5::digest(&data));
    // A server that tells the md5 (ours does, in 1046) lets a corrupted download be caught and
    // fetched again; against an upstream server there is nothing to compare with.
    if !info.md5.is_empty() && !info.md5.eq_ignore_ascii_case(&md5) {
        return Err(Failure(
            0,
            format!(
                "downloaded bytes have md5 {md5}, the server stored {}",
                info.md5
            ),
        ));
    }
    Ok((data, md5))
}

/// One request and its reply, with a timeout, traced.
struct Exchange<'a> {
    config: &'a ClientConfig,
    tracer: &'a Tracer,
    peer: String,
    reader: &'a mut FrameReader,
    sender: &'a FrameSender,
}

impl Exchange<'_> {
    /// Sends `request` and returns the first reply that answers it. A download reply that answers
    /// another request (a duplicated 1046, a 1048 for another seq) is stale and skipped.
    async fn ask<T: serde::de::DeserializeOwned>(&mut self, request: Frame) -> Result<T, Failure> {
        let expected = ids::reply_to(request.id).expect("download requests have replies");
        let asked = ChunkHint::from_body(&request.body);
        self.tracer
            .emit(Event::frame(Dir::Tx, &self.peer, &request, Some(&asked)));
        self.sender.send(request);
        let deadline = tokio::time::Instant::now() + self.config.download_timeout;
        loop {
            let reply = crate::timer::timeout_at(deadline, next_frame(self.reader))
                .await
                .map_err(|_| Failure(0, "no reply in time".into()))?
                .map_err(|e| Failure(0, e.to_string()))?
                .ok_or_else(|| Failure(0, "connection closed".into()))?;
            let hint = ChunkHint::from_body(&reply.body);
            self.tracer
                .emit(Event::frame(Dir::Rx, &self.peer, &reply, Some(&hint)));
            if is_stale(reply.id, hint.seq, expected, asked.seq) {
                continue;
            }
            if reply.id != expected {
                return Err(Failure(
                    0,
                    format!("expected reply {expected}, got {}", reply.id),
                ));
            }
            return reply
                .parse()
                .map_err(|e| Failure(0, format!("bad reply: {e}")));
        }
    }
}

/// Only one request is in flight on a download connection, so a download reply that does not
/// answer it is a copy of an earlier answer: skipped, as uploads skip a reply for no chunk in flight.
fn is_stale(reply_id: u16, reply_seq: u32, expected: u16, asked_seq: u32) -> bool {
    let download_reply = matches!(
        reply_id,
        ids::IMG_CHAT_DOWN_INFO_SYNC_RSP | ids::IMG_CHAT_DOWN_RSP
    );
    download_reply
        && (reply_id != expected || (expected == ids::IMG_CHAT_DOWN_RSP && reply_seq != asked_seq))
}
