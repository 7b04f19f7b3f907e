//! Chunk uploads: validation on the connection, then storage on the file's worker.

use super::{check_file_name, notify::Notifier, ConnState, ResourceServer};
use crate::net::FrameSender;
use crate::protocol::body::{ChunkReq, ChunkRsp};
use crate::protocol::{ids, ChunkPlan, ErrorCode, Frame};
use crate::store::UploadRecord;
use crate::trace::Event;
use base64::Engine as _;
use md5::{Digest, Md5};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// Where an upload is stored, relative to the store's root: `<uploader uid>/<name>`.
pub(crate) fn file_path(uid: i32, name: &str) -> PathBuf {
    PathBuf::from(uid.to_string()).join(name)
}

/// A chunk request that passed validation.
pub(super) struct ValidChunk {
    pub req: ChunkReq,
    pub data: Vec<u8>,
    pub reply_id: u16,
    pub uid: i32,
}

pub(super) struct ChunkJob {
    pub chunk: ValidChunk,
    pub sender: FrameSender,
    pub peer: String,
}

#[derive(Debug)]
pub(super) struct Refusal {
    pub code: ErrorCode,
    pub reason: String,
}

fn refuse(code: ErrorCode, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
    }
}

/// Everything that can be checked without touching the file: body shape, name, identity, seq and
/// size arithmetic. Nothing is written for a request that fails here.
pub(super) fn validate(
    server: &ResourceServer,
    state: &mut ConnState,
    frame: &Frame,
) -> Result<ValidChunk, Refusal> {
    let reply_id = ids::reply_to(frame.id).unwrap_or(ids::FILE_INFO_SYNC_RSP);
    let req: ChunkReq = frame.parse().map_err(|e| {
        refuse(
            ErrorCode::ErrorJson,
            format!("malformed chunk request: {e}"),
        )
    })?;
    check_file_name(&req.name).map_err(|reason| refuse(ErrorCode::CreateFilePathFailed, reason))?;
    // The token binds the connection to a uid; a request without one must come on a connection
    // already bound to the uid it claims.
    match &req.token {
        Some(token) => {
            if !server.inner.users.check(req.uid, token) {
                return Err(refuse(
                    ErrorCode::TokenInvalid,
                    format!("wrong token for uid {}", req.uid),
                ));
            }
            state.uid = Some(req.uid);
        }
        None if state.uid == Some(req.uid) => {}
        None => {
            return Err(refuse(
                ErrorCode::TokenInvalid,
                format!(
                    "uid {} has not presented a token on this connection",
                    req.uid
                ),
            ))
        }
    }
    let total = req.total_size.value;
    if total > server.inner.config.max_file_size {
        return Err(refuse(
            ErrorCode::FileOffsetInvalid,
            format!(
                "total_size {total} is over the limit of {}",
                server.inner.config.max_file_size
            ),
        ));
    }
    let plan = ChunkPlan::new(total);
    let Some(range) = plan.range(req.seq) else {
        return Err(refuse(
            ErrorCode::FileSeqInvalid,
            format!("seq {} is outside 1..={}", req.seq, plan.max_seq()),
        ));
    };
    if frame.id == ids::IMG_CHAT_UPLOAD_REQ && req.seq == 1 {
        return Err(refuse(
            ErrorCode::FileSeqInvalid,
            "seq 1 must travel as 1041",
        ));
    }
    if req.trans_size.value != range.end {
        return Err(refuse(
            ErrorCode::FileOffsetInvalid,
            format!(
                "trans_size {} is not the end of seq {} ({})",
                req.trans_size.value, req.seq, range.end
            ),
        ));
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(req.data.as_bytes())
        .map_err(|e| refuse(ErrorCode::ErrorJson, format!("data is not base64: {e}")))?;
    if data.len() as u64 != range.end - range.start {
        return Err(refuse(
            ErrorCode::FileOffsetInvalid,
            format!(
                "seq {} carries {} bytes, expected {}",
                req.seq,
                data.len(),
                range.end - range.start
            ),
        ));
    }
    Ok(ValidChunk {
        uid: req.uid,
        req,
        data,
        reply_id,
    })
}

pub(super) fn spawn_worker(
    server: ResourceServer,
    notifier: Notifier,
) -> mpsc::UnboundedSender<ChunkJob> {
    let (tx, mut rx) = mpsc::unbounded_channel::<ChunkJob>();
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let reply = store_chunk(&server, &notifier, &job.chunk);
            server.send(&job.sender, &job.peer, reply);
        }
    });
    tx
}

/// Stores one chunk and returns the reply. The reply is a success only when the bytes are durable.
fn store_chunk(server: &ResourceServer, notifier: &Notifier, chunk: &ValidChunk) -> Frame {
    let inner = &server.inner;
    let req = &chunk.req;
    let plan = ChunkPlan::new(req.total_size.value);
    let reply = |error: ErrorCode| {
        Frame::json(
            chunk.reply_id,
            &ChunkRsp {
                error: error.code(),
                total_size: Some(req.total_size),
                seq: req.seq,
                name: req.name.clone(),
                trans_size: Some(req.trans_size),
                last: i32::from(plan.is_last(req.seq)),
                md5: req.md5.clone(),
                uid: chunk.uid,
                sender: req.sender,
                receiver: req.receiver,
            },
        )
    };
    let refused = |error: ErrorCode, reason: String| {
        inner.tracer.emit(Event::ChunkRefused {
            file: req.name.clone(),
            seq: req.seq,
            error: error.code(),
            reason,
        });
        reply(error)
    };

    let path = file_path(chunk.uid, &req.name);
    let existing = match inner.uploads.get(&req.name) {
        Ok(existing) => existing,
        Err(err) => return refused(ErrorCode::RedisReadErr, format!("read upload state: {err}")),
    };
    let mut record = match existing {
        Some(record) => {
            if record.owner_uid != chunk.uid {
                return refused(
                    ErrorCode::UidInvalid,
                    format!("{} belongs to uid {}", req.name, record.owner_uid),
                );
            }
            if record.total_size != req.total_size.value || record.md5 != req.md5 {
                return refused(
                    ErrorCode::FileOffsetInvalid,
                    "total_size or md5 differs from the upload in progress".into(),
                );
            }
            record
        }
        None => {
            // Any chunk may be the first to arrive: the file is created at its full size, so
            // every chunk has its place and a late chunk 1 never truncates anything.
            if let Err(err) = inner.files.create_sized(&path, req.total_size.value) {
                return refused(
                    ErrorCode::CreateFilePathFailed,
                    format!("create {}: {err}", path.display()),
                );
            }
            UploadRecord {
                name: req.name.clone(),
                owner_uid: chunk.uid,
                total_size: req.total_size.value,
                md5: req.md5.clone(),
                message_id: req.message_id,
                sender: req.sender,
                receiver: req.receiver,
                thread_id: req.thread_id.unwrap_or(0),
                received: Default::default(),
                complete: false,
                notified: false,
            }
        }
    };
    if record.complete || record.received.contains(&req.seq) {
        // A duplicate: the bytes are already durable, so it is acked again without a write.
        return reply(ErrorCode::Success);
    }
    if let Err(err) = inner
        .files
        .write_at(&path, plan.offset(req.seq), &chunk.data)
    {
        return refused(
            ErrorCode::FileWritePermissionFailed,
            format!("write {}: {err}", path.display()),
        );
    }
    record.received.insert(req.seq);
    inner.tracer.emit(Event::ChunkStored {
        file: req.name.clone(),
        seq: req.seq,
        owner: chunk.uid,
    });
    if record.received.len() as u64 == u64::from(plan.max_seq()) {
        return match verify(server, &path, &record) {
            Ok(()) => {
                record.complete = true;
                if let Err(err) = inner.uploads.put(record.clone()) {
                    return refused(
                        ErrorCode::FileSaveRedisFailed,
                        format!("save upload state: {err}"),
                    );
                }
                inner.tracer.emit(Event::UploadCommitted {
                    file: record.name.clone(),
                    owner: record.owner_uid,
                    size: record.total_size,
                    md5: record.md5.clone(),
                });
                notifier.enqueue(record);
                reply(ErrorCode::Success)
            }
            Err(reason) => {
                // The stored bytes are wrong: drop them so a retry starts clean.
                let _ = inner.files.remove(&path);
                let _ = inner.uploads.remove(&record.name);
                inner.tracer.emit(Event::UploadRejected {
                    file: record.name.clone(),
                    reason: reason.clone(),
                });
                refused(ErrorCode::Md5Mismatch, reason)
            }
        };
    }
    if let Err(err) = inner.uploads.put(record) {
        return refused(
            ErrorCode::FileSaveRedisFailed,
            format!("save upload state: {err}"),
        );
    }
    reply(ErrorCode::Success)
}

fn verify(
    server: &ResourceServer,
    path: &std::path::Path,
    record: &UploadRecord,
) -> Result<(), String> {
    let bytes = server
        .inner
        .files
        .read(path)
        .map_err(|e| format!("read back {}: {e}", path.display()))?;
    if bytes.len() as u64 != record.total_size {
        return Err(format!(
            "stored {} bytes, expected {}",
            bytes.len(),
            record.total_size
        ));
    }
    let actual = hex::encode(Md5::digest(&bytes));
    if !actual.eq_ignore_ascii_case(&record.md5) {
        return Err(format!(
            "md5 of the stored bytes is {actual}, declared {}",
            record.md5
        ));
    }
    Ok(())
}
