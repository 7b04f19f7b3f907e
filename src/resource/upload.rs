//! Chunk uploads: validation on the connection, then storage on the file's worker.
//!
//! The seed's server bugs live at four seams here, each a small choice made from the profile:
//! the validation step ([`validate`], [`authenticate`]), the [`Writer`], the completion rule
//! ([`completion`]) and what a failed write answers ([`store_failed`]). The error reply is built
//! in one place too, [`ResourceServer::chunk_reply`].

use super::{check_file_name, notify::Notifier, ConnState, ResourceServer};
use crate::hash::stable_hash;
use crate::net::ReplySlot;
use crate::profile::{Profile, Quirk};
use crate::protocol::body::{ChunkReq, ChunkRsp, ErrorRsp};
use crate::protocol::codes::msg_type;
use crate::protocol::{ids, ChunkPlan, ErrorCode, Frame};
use crate::store::{ChunkHead, FileStore, MessageStore, UploadRecord};
use crate::trace::Event;
use base64::Engine as _;
use md5::{Digest, Md5};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
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
    /// The uid whose folder the upload goes to (the request's `uid`).
    pub uid: i32,
    /// The uid whose token the connection presented: who really writes. The reference refuses a
    /// request unless it equals `uid`; the trace records it so the `confinement` oracle can tell.
    pub writer: Option<i32>,
}

/// Work for a file worker: a chunk, or an upload the sweeper found idle past the TTL.
pub(super) enum Job {
    Chunk(Box<ChunkJob>),
    Expire(i64),
}

/// The worker of a file name: all uploads of one name are handled in order by one worker.
pub(super) fn worker_of(name: &str) -> usize {
    (stable_hash(name.as_bytes()) % super::FILE_WORKER_COUNT as u64) as usize
}

pub(super) struct ChunkJob {
    pub chunk: ValidChunk,
    /// Where the reply goes; holding it keeps the connection from reading more than its share.
    pub slot: ReplySlot,
    pub peer: String,
}

/// Chunks waiting for one file worker. A full queue stops the connections that feed it from
/// reading, so memory stays bounded whatever clients send.
const WORKER_QUEUE: usize = 64;

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
    let profile = &server.inner.config.profile;
    let reply_id = ids::reply_to(frame.id).unwrap_or(ids::FILE_INFO_SYNC_RSP);
    let req: ChunkReq = frame.parse().map_err(|e| {
        if profile.has(Quirk::DiesOnBadChunk) {
            // upstream: LogicWorker.cpp:384, 471, 477 ignore the parse result and call
            // `std::stoll(root["total_size"].asString())` and `asString()` on whatever is there:
            // an empty string or an array throws in the logic worker's thread, and nothing
            // catches it, so the whole process ends.
            server.die(
                super::input_of(frame),
                "LogicWorker.cpp:384/471/477: stoll(\"\") or asString() on a wrong type throws, \
                 uncaught in the worker thread",
            );
        }
        refuse(
            ErrorCode::ErrorJson,
            format!("malformed chunk request: {e}"),
        )
    })?;
    // seed: LogicWorker::RegisterCallBacks builds `(file_path / uid_str / name).string()` with
    // `name` taken from the request unchecked (bug 8), so `../x` leaves the user's folder.
    if !profile.has(Quirk::UncheckedPath) {
        check_file_name(&req.name)
            .map_err(|reason| refuse(ErrorCode::CreateFilePathFailed, reason))?;
    }
    let writer = authenticate(server, state, &req)?;
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
    // The base64 text is not needed again: a waiting chunk holds only its bytes.
    let mut req = req;
    req.data = String::new();
    Ok(ValidChunk {
        uid: req.uid,
        writer,
        req,
        data,
        reply_id,
    })
}

/// Who is writing. The token binds the connection to a uid; a request without one must come on a
/// connection already bound to the uid it claims. Returns the uid the connection proved.
fn authenticate(
    server: &ResourceServer,
    state: &mut ConnState,
    req: &ChunkReq,
) -> Result<Option<i32>, Refusal> {
    let users = &server.inner.users;
    if server.inner.config.profile.has(Quirk::NoTokenCheck) {
        // seed: LogicWorker::RegisterCallBacks reads `auto uid = root["uid"].asInt();` and never
        // looks at a token (bug 9): the request's uid is believed. Who really holds the
        // connection is still noted, for the trace only.
        if let Some(token) = &req.token {
            state.uid = users.uid_of_token(token);
        }
        return Ok(state.uid);
    }
    match &req.token {
        Some(token) => {
            if !users.check(req.uid, token) {
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
    Ok(Some(req.uid))
}

/// How a chunk's bytes reach the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    /// The reference: the file is created at its full size when its upload starts and every chunk
    /// is written at its own offset, so chunks may arrive in any order.
    AtOffset,
    /// seed: FileWorker::RegisterHandlers opens chunk 1 with `std::ios::trunc` and every later
    /// chunk with `std::ios::app` (bug 1): bytes land in the order they arrive.
    Append,
}

impl Writer {
    fn of(profile: &Profile) -> Self {
        if profile.has(Quirk::AppendChunks) {
            Writer::Append
        } else {
            Writer::AtOffset
        }
    }

    /// Whether a chunk already stored is recognised and acked without writing it again. The seed
    /// keeps no book of received chunks: a duplicate is appended once more and a late chunk 1
    /// truncates the file.
    fn skips_duplicates(self) -> bool {
        self == Writer::AtOffset
    }

    /// When an upload's state is created (by whichever chunk arrives first).
    fn start(self, files: &dyn FileStore, path: &Path, total: u64) -> io::Result<()> {
        match self {
            Writer::AtOffset => files.create_sized(path, total),
            Writer::Append => Ok(()),
        }
    }

    fn write(
        self,
        files: &dyn FileStore,
        path: &Path,
        plan: &ChunkPlan,
        seq: u32,
        data: &[u8],
    ) -> io::Result<()> {
        match self {
            // Durable when the group syncs the file, before any ack.
            Writer::AtOffset => files.write_at_unsynced(path, plan.offset(seq), data),
            Writer::Append => {
                let end = match files.size(path)? {
                    Some(size) if seq != 1 => size,
                    // `trunc` on chunk 1; `app` creates a file that is not there.
                    _ => {
                        files.create_sized(path, 0)?;
                        0
                    }
                };
                files.write_at(path, end, data)
            }
        }
    }
}

/// Whether an upload is complete after storing a chunk, and how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completion {
    NotYet,
    /// Every chunk is stored: the md5 of the stored bytes decides.
    Verify,
    /// Complete without looking at the bytes.
    Unverified,
}

/// `count` is how many seqs are stored, this one included.
fn completion(profile: &Profile, count: u64, record: &UploadRecord, req: &ChunkReq) -> Completion {
    if profile.has(Quirk::LastFlagCompletes) {
        // seed: FileWorker::RegisterHandlers, `if (last) { ... }` after the write: the client's
        // `last` flag says the file is done and no md5 is ever computed (bug 2).
        return if req.last == 1 {
            Completion::Unverified
        } else {
            Completion::NotYet
        };
    }
    let plan = ChunkPlan::new(record.total_size);
    if count == u64::from(plan.max_seq()) {
        Completion::Verify
    } else {
        Completion::NotYet
    }
}

/// The answer to a chunk whose bytes could not be stored (the file could not be created or
/// written): an error, or with the seed's bug 10, a success.
fn store_failed(
    profile: &Profile,
    refused: impl FnOnce(ErrorCode, String) -> Frame,
    acked: impl FnOnce() -> Frame,
    code: ErrorCode,
    reason: String,
) -> Frame {
    if profile.has(Quirk::WriteErrorAcked) {
        // seed: the callback made in LogicWorker::RegisterCallBacks copies the FileWorker's
        // result and then sets `rtvalue["error"] = ErrorCodes::Success;` (bug 10): a chunk that
        // was never written is acked.
        return acked();
    }
    refused(code, reason)
}

impl ResourceServer {
    /// The reply to a chunk request, success or error. Every chunk reply is built here.
    pub(super) fn chunk_reply(&self, reply_id: u16, rsp: ChunkRsp) -> Frame {
        if rsp.error != 0 && self.inner.config.profile.has(Quirk::ErrorReplyAs1032) {
            // seed: LogicWorker::RegisterCallBacks answers its refusals with
            // `session->Send(rtvalue.toStyledString(), ID_UPLOAD_HEAD_ICON_RSP)` where `rtvalue`
            // holds only `error` (bug 3): no name, no seq, and an id the client does not expect.
            return Frame::json(ids::UPLOAD_HEAD_ICON_RSP, &ErrorRsp { error: rsp.error });
        }
        if rsp.error != 0 && self.inner.config.profile.has(Quirk::BareChunkError) {
            // upstream: LogicWorker.cpp:533 (and the other chunk handlers) fill `rtvalue` with
            // only `error` before `session->Send(rtvalue.toStyledString(), reply_id)`: the right
            // id this time, but no name and no seq for the client to match.
            return Frame::json(reply_id, &ErrorRsp { error: rsp.error });
        }
        Frame::json(reply_id, &rsp)
    }
}

/// Chunks of one group: written, not yet durable. At the end of the group every file they touched
/// is synced once and every seq is committed in one transaction; only then are they acked.
#[derive(Default)]
struct Group {
    /// The uploads the group added seqs to, by message id.
    uploads: BTreeMap<i64, PendingUpload>,
    /// Every chunk of the group, in arrival order, with its answer or what it waits for.
    chunks: Vec<(ChunkJob, Answer)>,
}

struct PendingUpload {
    /// The record as it will be saved.
    record: UploadRecord,
    /// Seqs written in this group.
    seqs: BTreeSet<u32>,
    /// How the upload completes, if a chunk of the group completed it, and that chunk's index.
    completion: Option<(Completion, usize)>,
}

/// What a chunk of the group gets.
enum Answer {
    /// Decided: a refusal, or the ack of a chunk that was already durable.
    Now(Frame),
    /// Acked once the group is durable. `written`: its bytes were written by this group (not a
    /// repeat of a seq the group already holds).
    AfterCommit { message_id: i64, written: bool },
}

impl Group {
    /// Whether another upload of the group uses `path` (two messages with the same name).
    fn path_taken(&self, path: &Path) -> bool {
        self.uploads
            .values()
            .any(|u| Path::new(&u.record.path) == path)
    }
}

/// Runs a file worker: takes the jobs that are waiting (up to `chunk_group` chunks) and stores
/// them as one group, on the storage's side of the runtime.
pub(super) fn spawn_worker(server: ResourceServer, notifier: Notifier) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(WORKER_QUEUE);
    tokio::spawn(async move {
        let config = &server.inner.config;
        let mut batcher = Batcher::new(config.chunk_group, config.chunk_linger);
        while let Some(first) = rx.recv().await {
            let jobs = batcher.gather(first, &mut rx).await;
            let (server, notifier) = (server.clone(), notifier.clone());
            let storage = server.inner.config.storage;
            storage
                .run(move || run_jobs(&server, &notifier, jobs))
                .await;
        }
    });
    tx
}

/// Decides which waiting jobs a file worker stores together.
struct Batcher {
    /// At most this many jobs in one group.
    limit: usize,
    /// How long to wait for more when a group is smaller than `expected`.
    linger: Duration,
    /// The sizes of the last few groups: their largest is how many chunks a client tends to
    /// have in flight, which is how many are worth waiting for.
    recent: VecDeque<usize>,
}

impl Batcher {
    const REMEMBERED: usize = 8;

    fn new(limit: usize, linger: Duration) -> Self {
        Batcher {
            limit: limit.max(1),
            linger,
            recent: VecDeque::with_capacity(Self::REMEMBERED),
        }
    }

    /// `first` and the jobs that follow it: every one already waiting, then, within the linger,
    /// more until the group is as large as a recent one.
    async fn gather(&mut self, first: Job, rx: &mut mpsc::Receiver<Job>) -> Vec<Job> {
        let mut jobs = vec![first];
        let expected = self
            .recent
            .iter()
            .copied()
            .max()
            .unwrap_or(1)
            .min(self.limit);
        let deadline = tokio::time::Instant::now() + self.linger;
        while jobs.len() < self.limit {
            let job = match rx.try_recv() {
                Ok(job) => job,
                Err(_) if jobs.len() >= expected || self.linger.is_zero() => break,
                Err(_) => match crate::timer::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(job)) => job,
                    Ok(None) | Err(_) => break,
                },
            };
            jobs.push(job);
        }
        if self.recent.len() == Self::REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back(jobs.len());
        jobs
    }
}

/// Stores the chunks among `jobs` as groups, expiring uploads between them where asked.
fn run_jobs(server: &ResourceServer, notifier: &Notifier, jobs: Vec<Job>) {
    let mut group = Group::default();
    for job in jobs {
        match job {
            Job::Chunk(job) => {
                let index = group.chunks.len();
                let answer = write_chunk((server, notifier), &mut group, &job.chunk, index);
                group.chunks.push((*job, answer));
            }
            Job::Expire(message_id) => {
                finish_group(server, notifier, std::mem::take(&mut group));
                if let Ok(Some(record)) = server.inner.uploads.get(message_id) {
                    let _ = expire_if_idle(server, record);
                }
            }
        }
    }
    finish_group(server, notifier, group);
}

/// The reply to `chunk`, success or `error`.
fn chunk_answer(server: &ResourceServer, chunk: &ValidChunk, error: ErrorCode) -> Frame {
    let req = &chunk.req;
    let plan = ChunkPlan::new(req.total_size.value);
    server.chunk_reply(
        chunk.reply_id,
        ChunkRsp {
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
}

/// Records a refusal of `chunk` in the trace and returns its reply.
fn refuse_stored(
    server: &ResourceServer,
    chunk: &ValidChunk,
    error: ErrorCode,
    reason: String,
) -> Frame {
    server.inner.tracer.emit(Event::ChunkRefused {
        file: chunk.req.name.clone(),
        seq: chunk.req.seq,
        error: error.code(),
        reason,
    });
    chunk_answer(server, chunk, error)
}

/// The reply to a chunk whose bytes could not be stored.
fn write_failed(server: &ResourceServer, chunk: &ValidChunk, reason: String) -> Frame {
    store_failed(
        &server.inner.config.profile,
        |code, reason| refuse_stored(server, chunk, code, reason),
        || chunk_answer(server, chunk, ErrorCode::Success),
        // An I/O failure, not a bad name (names were checked before): the client may try again,
        // so the answer is the retryable write error.
        ErrorCode::FileWritePermissionFailed,
        reason,
    )
}

/// The upload `chunk` continues as the group sees it: the store's record with the group's seqs
/// on top, or a new one. Returns the record, whether it holds the seq, and how many it holds.
fn upload_of(
    server: &ResourceServer,
    group: &mut Group,
    chunk: &ValidChunk,
) -> Result<(UploadRecord, bool, u64), Frame> {
    let inner = &server.inner;
    let req = &chunk.req;
    let refused = |error: ErrorCode, reason: String| refuse_stored(server, chunk, error, reason);
    let by_name = inner.config.profile.has(Quirk::UncheckedPath);
    let existing = find_upload(server, chunk)
        .map_err(|err| refused(ErrorCode::RedisReadErr, format!("read upload state: {err}")))?;
    let Some(ChunkHead {
        record,
        holds,
        count,
    }) = existing
    else {
        if let Some(pending) = group.uploads.get(&req.message_id) {
            same_upload(&pending.record, chunk.uid, req, by_name)
                .map_err(|refusal| refused(refusal.code, refusal.reason))?;
            let holds = pending.seqs.contains(&req.seq);
            return Ok((pending.record.clone(), holds, pending.seqs.len() as u64));
        }
        let record = new_record(server, chunk, |path| group.path_taken(path))
            .map_err(|refusal| refused(refusal.code, refusal.reason))?;
        return Ok((start_upload(server, chunk, record)?, false, 0));
    };
    if let Some(pending) = group.uploads.get(&record.message_id) {
        // Another chunk of the group passed the checks below; this one must belong to it too.
        same_upload(&pending.record, chunk.uid, req, by_name)
            .map_err(|refusal| refused(refusal.code, refusal.reason))?;
        let holds = holds || pending.seqs.contains(&req.seq);
        return Ok((
            pending.record.clone(),
            holds,
            count + pending.seqs.len() as u64,
        ));
    }
    let record = expire_if_idle(server, record)
        .map_err(|err| refused(ErrorCode::RedisReadErr, format!("expire upload: {err}")))?;
    if record.expired {
        return Err(refused(
            ErrorCode::FileNotExists,
            format!(
                "the upload of message {} expired: no chunk for longer than its TTL",
                record.message_id
            ),
        ));
    }
    if let Err(refusal) = same_upload(&record, chunk.uid, req, by_name) {
        return Err(refused(refusal.code, refusal.reason));
    }
    if record.rejected {
        return Ok((start_again(server, chunk, record)?, false, 0));
    }
    Ok((record, holds, count))
}

/// Creates the file of an upload that starts with `chunk`. Any chunk may be the first to arrive:
/// the file is created at its full size, so every chunk has its place and a late chunk 1 never
/// truncates anything.
fn start_upload(
    server: &ResourceServer,
    chunk: &ValidChunk,
    record: UploadRecord,
) -> Result<UploadRecord, Frame> {
    let inner = &server.inner;
    let path = Path::new(&record.path);
    let writer = Writer::of(&inner.config.profile);
    if let Err(err) = writer.start(inner.files.as_ref(), path, chunk.req.total_size.value) {
        let reason = format!("create {}: {err}", path.display());
        return Err(write_failed(server, chunk, reason));
    }
    inner.tracer.emit(Event::UploadBound {
        message_id: record.message_id,
        file: record.name.clone(),
        owner: record.owner_uid,
        receiver: record.receiver,
        path: record.path.clone(),
        checked: inner.messages.is_some(),
    });
    Ok(record)
}

/// A chunk for an upload rejected for its md5. The sender starts over with chunk 1 alone, so
/// seq 1 starts the upload again; any other seq is a late chunk of the rejected attempt, refused
/// like the chunk that completed it, so a sender whose first refusal was lost starts over too.
fn start_again(
    server: &ResourceServer,
    chunk: &ValidChunk,
    mut record: UploadRecord,
) -> Result<UploadRecord, Frame> {
    if chunk.req.seq != 1 {
        let reason = rejected_attempt(record.message_id);
        return Err(refuse_stored(server, chunk, ErrorCode::Md5Mismatch, reason));
    }
    record.rejected = false;
    start_upload(server, chunk, record)
}

fn rejected_attempt(message_id: i64) -> String {
    format!("the upload of message {message_id} was rejected for its md5: start again at seq 1")
}

/// Writes one chunk's bytes (not yet durable) into the group; `index` is its place in the group.
fn write_chunk(
    (server, notifier): (&ResourceServer, &Notifier),
    group: &mut Group,
    chunk: &ValidChunk,
    index: usize,
) -> Answer {
    let inner = &server.inner;
    let profile = &inner.config.profile;
    let writer = Writer::of(profile);
    let req = &chunk.req;
    let (mut record, holds, count) = match upload_of(server, group, chunk) {
        Ok(found) => found,
        Err(reply) => return Answer::Now(reply),
    };
    let message_id = record.message_id;
    let plan = ChunkPlan::new(req.total_size.value);
    if record.complete && profile.has(Quirk::NotifyOnce) && plan.is_last(req.seq) {
        let path = PathBuf::from(&record.path);
        return Answer::Now(restore_last_chunk(
            server,
            notifier,
            chunk,
            record,
            &path,
            || chunk_answer(server, chunk, ErrorCode::Success),
        ));
    }
    let pending = group.uploads.get(&message_id);
    let completed_in_group = pending.is_some_and(|p| p.completion.is_some());
    if record.complete || completed_in_group || (writer.skips_duplicates() && holds) {
        // A repeat: acked without a write once what holds it is durable.
        return match pending {
            Some(_) => Answer::AfterCommit {
                message_id,
                written: false,
            },
            None => Answer::Now(chunk_answer(server, chunk, ErrorCode::Success)),
        };
    }
    let path = PathBuf::from(&record.path);
    if let Err(err) = writer.write(inner.files.as_ref(), &path, &plan, req.seq, &chunk.data) {
        let reason = format!("write {}: {err}", path.display());
        return Answer::Now(write_failed(server, chunk, reason));
    }
    record.touched_s = server.now_s().unwrap_or(0);
    let count = count + u64::from(!holds);
    let done = completion(profile, count, &record, req);
    let pending = group
        .uploads
        .entry(message_id)
        .or_insert_with(|| PendingUpload {
            record: record.clone(),
            seqs: BTreeSet::new(),
            completion: None,
        });
    pending.record = record;
    pending.seqs.insert(req.seq);
    if done != Completion::NotYet {
        pending.completion = Some((done, index));
    }
    Answer::AfterCommit {
        message_id,
        written: true,
    }
}

/// Makes the group durable (one sync per file, one commit), completes the uploads it finished,
/// and sends every chunk's reply in arrival order.
fn finish_group(server: &ResourceServer, notifier: &Notifier, mut group: Group) {
    let inner = &server.inner;
    sync_files(server, &mut group);
    for (job, answer) in &group.chunks {
        if let Answer::AfterCommit { written: true, .. } = answer {
            inner.tracer.emit(Event::ChunkStored {
                file: job.chunk.req.name.clone(),
                seq: job.chunk.req.seq,
                owner: job.chunk.uid,
                path: file_path_of(&group, answer),
                writer: job.chunk.writer,
            });
        }
    }
    let completed = complete_uploads(server, &mut group);
    let items: Vec<(UploadRecord, BTreeSet<u32>)> = group
        .uploads
        .values()
        .map(|u| (u.record.clone(), u.seqs.clone()))
        .collect();
    let committed = match items.is_empty() {
        true => Ok(()),
        false => inner.uploads.add_chunks(&items),
    };
    if committed.is_ok() {
        emit_group_size(server, &group);
        for record in completed {
            inner.tracer.emit(Event::UploadCommitted {
                file: record.name.clone(),
                owner: record.owner_uid,
                size: record.total_size,
                md5: record.md5.clone(),
            });
            if dies_on_missing_message(server, &record) {
                continue;
            }
            notifier.enqueue(record);
        }
    }
    // A server that died on this group answers nothing.
    if server.died_on().is_some() {
        return;
    }
    for (job, answer) in group.chunks {
        let reply = match (answer, &committed) {
            (Answer::Now(reply), _) => reply,
            (Answer::AfterCommit { .. }, Ok(())) => {
                chunk_answer(server, &job.chunk, ErrorCode::Success)
            }
            (Answer::AfterCommit { .. }, Err(err)) => refuse_stored(
                server,
                &job.chunk,
                ErrorCode::FileSaveRedisFailed,
                format!("save upload state: {err}"),
            ),
        };
        server.send(job.slot, &job.peer, reply);
    }
}

/// A group of two or more chunks written together is worth a trace line: it is what group
/// commit is for, and a test needs to see that it happened.
fn emit_group_size(server: &ResourceServer, group: &Group) {
    let written = group
        .chunks
        .iter()
        .filter(|(_, answer)| matches!(answer, Answer::AfterCommit { written: true, .. }))
        .count();
    if written >= 2 {
        server.inner.tracer.emit(Event::ChunksCommitted {
            chunks: written as u32,
            files: group.uploads.len() as u32,
        });
    }
}

fn file_path_of(group: &Group, answer: &Answer) -> String {
    match answer {
        Answer::AfterCommit { message_id, .. } => group
            .uploads
            .get(message_id)
            .map(|u| u.record.path.clone())
            .unwrap_or_default(),
        Answer::Now(_) => String::new(),
    }
}

/// Syncs every file the group wrote to. The chunks of a file that cannot be synced are refused
/// and their upload leaves the group.
fn sync_files(server: &ResourceServer, group: &mut Group) {
    let files = &server.inner.files;
    let mut failed = BTreeMap::new();
    for (&message_id, upload) in &group.uploads {
        if let Err(err) = files.sync(Path::new(&upload.record.path)) {
            failed.insert(message_id, format!("sync {}: {err}", upload.record.path));
        }
    }
    for (message_id, reason) in failed {
        group.uploads.remove(&message_id);
        for (job, answer) in &mut group.chunks {
            if matches!(answer, Answer::AfterCommit { message_id: m, .. } if *m == message_id) {
                *answer = Answer::Now(write_failed(server, &job.chunk, reason.clone()));
            }
        }
    }
}

/// Checks the uploads a chunk of the group completed; returns those that are complete now. An
/// upload whose stored bytes are wrong is dropped (so a retry starts clean) and its completing
/// chunk refused.
fn complete_uploads(server: &ResourceServer, group: &mut Group) -> Vec<UploadRecord> {
    let inner = &server.inner;
    let mut completed = Vec::new();
    let mut rejected = Vec::new();
    for (&message_id, upload) in group.uploads.iter_mut() {
        let Some((done, index)) = upload.completion else {
            continue;
        };
        let record = &mut upload.record;
        let path = PathBuf::from(&record.path);
        let checked = match done {
            Completion::Verify => verify(server, &path, record),
            _ => Ok(()),
        };
        match checked {
            Ok(()) => {
                // The last seq and the completion are saved together: a crash between them
                // would leave every seq held and the upload never complete.
                record.complete = true;
                completed.push(record.clone());
            }
            Err(reason) => {
                let _ = inner.files.remove(&path);
                // Kept, empty and marked, so that late chunks of this attempt are refused.
                let _ = inner.uploads.put(UploadRecord {
                    received: BTreeSet::new(),
                    complete: false,
                    rejected: true,
                    ..record.clone()
                });
                inner.tracer.emit(Event::UploadRejected {
                    file: record.name.clone(),
                    reason: reason.clone(),
                });
                rejected.push((message_id, index, reason));
            }
        }
    }
    for (message_id, index, reason) in rejected {
        group.uploads.remove(&message_id);
        let (job, answer) = &mut group.chunks[index];
        *answer = Answer::Now(refuse_stored(
            server,
            &job.chunk,
            ErrorCode::Md5Mismatch,
            reason,
        ));
        // The group's other chunks of this upload are answered as they would have been one at
        // a time: those before the completing one were acked, those after it are late chunks of
        // the rejected attempt.
        for (i, (job, answer)) in group.chunks.iter_mut().enumerate() {
            if matches!(answer, Answer::AfterCommit { message_id: m, .. } if *m == message_id) {
                *answer = Answer::Now(match i < index {
                    true => chunk_answer(server, &job.chunk, ErrorCode::Success),
                    false => refuse_stored(
                        server,
                        &job.chunk,
                        ErrorCode::Md5Mismatch,
                        rejected_attempt(message_id),
                    ),
                });
            }
        }
    }
    completed
}

/// upstream: ChatServerGrpcClient.cpp:14-15 looks the completed upload's message up and uses
/// the row without checking it, when the receiver is online: for a message id with no row the
/// server dies. Returns whether it died.
fn dies_on_missing_message(server: &ResourceServer, record: &UploadRecord) -> bool {
    if !server.inner.config.profile.has(Quirk::DiesOnMissingMessage)
        || !server.is_online(record.receiver)
    {
        return false;
    }
    let Some(messages) = &server.inner.messages else {
        return false;
    };
    if !matches!(messages.get(record.message_id), Ok(None)) {
        return false;
    }
    server.die(
        format!(
            "the last chunk of {} for message {}, which has no row",
            record.name, record.message_id
        ),
        "ChatServerGrpcClient.cpp:14-15: the message row is dereferenced without a null check",
    );
    true
}

/// upstream: FileWorker.cpp:253 keeps no book of a finished upload: a duplicate of the last
/// chunk is appended to the file (`std::ios::app`) and, being `last`, starts the notify again.
fn restore_last_chunk(
    server: &ResourceServer,
    notifier: &Notifier,
    chunk: &ValidChunk,
    record: UploadRecord,
    path: &Path,
    acked: impl FnOnce() -> Frame,
) -> Frame {
    let files = server.inner.files.as_ref();
    let end = files.size(path).ok().flatten().unwrap_or(0);
    if files.write_at(path, end, &chunk.data).is_ok() {
        server.inner.tracer.emit(Event::ChunkStored {
            file: chunk.req.name.clone(),
            seq: chunk.req.seq,
            owner: chunk.uid,
            path: path.display().to_string(),
            writer: chunk.writer,
        });
    }
    notifier.enqueue(record);
    acked()
}

/// How long `record` has been idle, if past the TTL (never for a finished or expired upload).
fn idle_past_ttl(server: &ResourceServer, record: &UploadRecord) -> Option<u64> {
    let ttl = server.inner.config.upload_ttl?.as_secs();
    let idle = server.now_s()?.saturating_sub(record.touched_s);
    (!record.complete && !record.expired && idle > ttl).then_some(idle)
}

/// Expires `record` if it is idle past the TTL: its file is deleted, its row marked. Returns the
/// record as it now stands.
fn expire_if_idle(server: &ResourceServer, mut record: UploadRecord) -> io::Result<UploadRecord> {
    let Some(idle_s) = idle_past_ttl(server, &record) else {
        return Ok(record);
    };
    let inner = &server.inner;
    match inner.files.remove(Path::new(&record.path)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    record.expired = true;
    record.received.clear();
    inner.uploads.put(record.clone())?;
    inner.tracer.emit(Event::UploadExpired {
        message_id: record.message_id,
        file: record.name.clone(),
        idle_s,
    });
    Ok(record)
}

/// Finds unfinished uploads idle past the TTL (also those left from before a restart) and has
/// their workers expire them.
pub(super) async fn sweep_expired(
    server: ResourceServer,
    workers: std::sync::Arc<Vec<mpsc::Sender<Job>>>,
    ttl: std::time::Duration,
) {
    let every = (ttl / 4).clamp(
        std::time::Duration::from_millis(250),
        std::time::Duration::from_secs(60),
    );
    loop {
        let uploads = server.inner.uploads.clone();
        let all = server.inner.config.storage.run(move || uploads.all()).await;
        for record in all.unwrap_or_default() {
            if idle_past_ttl(&server, &record).is_some() {
                let worker = &workers[worker_of(&record.name)];
                let _ = worker.send(Job::Expire(record.message_id)).await;
            }
        }
        crate::timer::sleep(every).await;
    }
}

/// The upload a chunk continues, if any: the one of its message.
fn find_upload(server: &ResourceServer, chunk: &ValidChunk) -> io::Result<Option<ChunkHead>> {
    let uploads = &server.inner.uploads;
    let seq = chunk.req.seq;
    if server.inner.config.profile.has(Quirk::UncheckedPath) {
        // seed: the upload state is the Redis key `file_upload_<name>` and the file
        // `<uid>/<name>` (bug 8's path): a chunk continues whichever upload has its name.
        let found = uploads.by_name(chunk.uid, &chunk.req.name)?.pop();
        return Ok(found.map(|mut record| ChunkHead {
            holds: record.received.contains(&seq),
            count: std::mem::take(&mut record.received).len() as u64,
            record,
        }));
    }
    uploads.head(chunk.req.message_id, seq)
}

/// A chunk for a message that already has an upload must belong to that very upload.
fn same_upload(
    record: &UploadRecord,
    uid: i32,
    req: &ChunkReq,
    by_name: bool,
) -> Result<(), Refusal> {
    if record.owner_uid != uid {
        return Err(refuse(
            ErrorCode::UidInvalid,
            format!(
                "message {} is uploaded by uid {}, not uid {uid}",
                req.message_id, record.owner_uid
            ),
        ));
    }
    if !by_name && (record.name != req.name || record.receiver != req.receiver) {
        return Err(refuse(
            ErrorCode::UidInvalid,
            format!(
                "message {} carries {} to uid {}, not {} to uid {}",
                req.message_id, record.name, record.receiver, req.name, req.receiver
            ),
        ));
    }
    if record.total_size != req.total_size.value || record.md5 != req.md5 {
        return Err(refuse(
            ErrorCode::FileOffsetInvalid,
            "total_size or md5 differs from the upload in progress",
        ));
    }
    Ok(())
}

/// The record of a message's first chunk: bound to the message (when the server can read the
/// message store) and given a path no other upload uses.
/// `also_taken` says whether an upload not yet committed uses a path.
fn new_record(
    server: &ResourceServer,
    chunk: &ValidChunk,
    also_taken: impl Fn(&Path) -> bool,
) -> Result<UploadRecord, Refusal> {
    let inner = &server.inner;
    let req = &chunk.req;
    // seed bugs 8 and 9: the seed's `LogicSystem` handlers take the name and the uid from the
    // request and never look the message up, so nothing binds the upload to its message.
    let profile = &inner.config.profile;
    let trusts_request = profile.has(Quirk::UncheckedPath) || profile.has(Quirk::NoTokenCheck);
    if let Some(messages) = inner.messages.as_ref().filter(|_| !trusts_request) {
        bind(messages.as_ref(), profile, chunk.uid, req)?;
    }
    let taken = inner
        .uploads
        .by_name(chunk.uid, &req.name)
        .map_err(|e| refuse(ErrorCode::RedisReadErr, format!("read upload state: {e}")))?;
    let plain = file_path(chunk.uid, &req.name);
    // seed: see `find_upload`; two uploads of one name share a file.
    let seed_path = inner.config.profile.has(Quirk::UncheckedPath);
    let path = if !seed_path
        && (also_taken(&plain)
            || taken
                .iter()
                .any(|r| !r.expired && Path::new(&r.path) == plain))
    {
        file_path(chunk.uid, &format!("{}:{}", req.message_id, req.name))
    } else {
        plain
    };
    Ok(UploadRecord {
        md5: req.md5.clone(),
        thread_id: req.thread_id.unwrap_or(0),
        ..UploadRecord::new(
            &req.name,
            chunk.uid,
            (req.message_id, req.receiver),
            req.total_size.value,
            &path.display().to_string(),
        )
    })
}

/// Binds an upload to its chat message, as upstream's resource server reads the message row: the
/// message exists, is an image message, was sent by the uploader, and names this receiver and
/// this file. Anything else could swap or hide another user's picture, or claim a future message.
fn bind(
    messages: &dyn MessageStore,
    profile: &Profile,
    uid: i32,
    req: &ChunkReq,
) -> Result<(), Refusal> {
    let id = req.message_id;
    let message = match messages.get(id) {
        Err(err) => {
            return Err(refuse(
                ErrorCode::RedisReadErr,
                format!("read message {id}: {err}"),
            ))
        }
        Ok(None) => {
            return Err(refuse(
                ErrorCode::FileNotExists,
                format!("there is no message {id} to upload for"),
            ))
        }
        Ok(Some(stored)) => stored.message,
    };
    // seed bug 11 stores the image message as a text; the binding holds all the same.
    let kind_ok = message.msg_type == msg_type::PIC
        || (profile.has(Quirk::ImageAsText) && message.msg_type == msg_type::TEXT);
    let mismatch = if !kind_ok {
        Some(format!("message {id} is not an image message"))
    } else if message.sender_id != uid || req.sender != uid {
        Some(format!(
            "message {id} was sent by uid {}, not uid {uid}",
            message.sender_id
        ))
    } else if message.recv_id != req.receiver {
        Some(format!(
            "message {id} goes to uid {}, not uid {}",
            message.recv_id, req.receiver
        ))
    } else if message.content != req.name {
        Some(format!(
            "message {id} is for file {:?}, not {:?}",
            message.content, req.name
        ))
    } else {
        None
    };
    match mismatch {
        Some(reason) => Err(refuse(ErrorCode::UidInvalid, reason)),
        None => Ok(()),
    }
}

/// Reads the stored file back in pieces (never the whole file at once: it may be up to the
/// size limit) and checks its size and md5 against the declared ones.
fn verify(
    server: &ResourceServer,
    path: &std::path::Path,
    record: &UploadRecord,
) -> Result<(), String> {
    const PIECE: usize = 1 << 20;
    let files = &server.inner.files;
    let read_error = |e: std::io::Error| format!("read back {}: {e}", path.display());
    let stored = files.size(path).map_err(read_error)?.unwrap_or(0);
    if stored != record.total_size {
        return Err(format!(
            "stored {stored} bytes, expected {}",
            record.total_size
        ));
    }
    let mut md5 = Md5::new();
    let mut offset = 0u64;
    while offset < stored {
        let piece = files.read_at(path, offset, PIECE).map_err(read_error)?;
        if piece.is_empty() {
            return Err(format!(
                "{} ends at {offset} of {stored} bytes",
                path.display()
            ));
        }
        md5.update(&piece);
        offset += piece.len() as u64;
    }
    let actual = hex::encode(md5.finalize());
    if !actual.eq_ignore_ascii_case(&record.md5) {
        return Err(format!(
            "md5 of the stored bytes is {actual}, declared {}",
            record.md5
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{WireSize, CHUNK_SIZE};
    use crate::store::RealFiles;

    fn sizes_of(groups: &[Vec<Job>]) -> Vec<usize> {
        groups.iter().map(Vec::len).collect()
    }

    /// A window's chunks come back one at a time after their acks: the batcher waits for as many
    /// as the last groups had, and no longer than its linger when they do not come.
    #[tokio::test]
    async fn the_batcher_waits_for_a_windows_worth_of_chunks() {
        let (tx, mut rx) = mpsc::channel(WORKER_QUEUE);
        let mut batcher = Batcher::new(64, Duration::from_secs(30));
        let mut groups = Vec::new();
        for id in 0..5 {
            tx.send(Job::Expire(id)).await.unwrap();
        }
        let first = rx.recv().await.unwrap();
        groups.push(batcher.gather(first, &mut rx).await);
        // The next window: one chunk now, four more a little later, each on its own.
        tx.send(Job::Expire(5)).await.unwrap();
        let late = tx.clone();
        tokio::spawn(async move {
            for id in 6..10 {
                crate::timer::sleep(Duration::from_millis(5)).await;
                late.send(Job::Expire(id)).await.unwrap();
            }
        });
        let started = std::time::Instant::now();
        let first = rx.recv().await.unwrap();
        groups.push(batcher.gather(first, &mut rx).await);
        assert_eq!(sizes_of(&groups), [5, 5]);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited out the linger"
        );
    }

    #[tokio::test]
    async fn the_batcher_stops_waiting_at_its_linger_and_never_waits_without_one() {
        let (tx, mut rx) = mpsc::channel(WORKER_QUEUE);
        let mut lingering = Batcher::new(64, Duration::from_millis(20));
        let mut eager = Batcher::new(64, Duration::ZERO);
        lingering.recent.push_back(5);
        eager.recent.push_back(5);
        tx.send(Job::Expire(1)).await.unwrap();
        let first = rx.recv().await.unwrap();
        assert_eq!(lingering.gather(first, &mut rx).await.len(), 1);
        tx.send(Job::Expire(2)).await.unwrap();
        let first = rx.recv().await.unwrap();
        assert_eq!(eager.gather(first, &mut rx).await.len(), 1);
        // The limit holds whatever is waiting.
        let mut small = Batcher::new(2, Duration::ZERO);
        for id in 3..6 {
            tx.send(Job::Expire(id)).await.unwrap();
        }
        let first = rx.recv().await.unwrap();
        assert_eq!(small.gather(first, &mut rx).await.len(), 2);
    }

    /// Three chunks arriving as 1, 3, 2: where do their bytes land?
    fn store_out_of_order(writer: Writer, tag: &str) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("chatsim-writer-{tag}-{}", std::process::id()));
        let files = RealFiles::new(&dir);
        let path = Path::new("1/a.bin");
        let total = 2 * CHUNK_SIZE + 3;
        let plan = ChunkPlan::new(total);
        let chunk = |seq: u32| {
            let range = plan.range(seq).unwrap();
            vec![seq as u8; (range.end - range.start) as usize]
        };
        writer.start(&files, path, total).unwrap();
        for seq in [1, 3, 2] {
            writer.write(&files, path, &plan, seq, &chunk(seq)).unwrap();
        }
        let stored = files.read(path).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        stored
    }

    #[test]
    fn the_offset_writer_places_chunks_and_the_seed_appends_them_in_arrival_order() {
        let at_offset = store_out_of_order(Writer::AtOffset, "offset");
        assert_eq!(at_offset[CHUNK_SIZE as usize], 2);
        assert_eq!(*at_offset.last().unwrap(), 3);
        let appended = store_out_of_order(Writer::Append, "append");
        assert_eq!(appended.len(), at_offset.len());
        assert_eq!(
            appended[CHUNK_SIZE as usize], 3,
            "chunk 3 landed where chunk 2 belongs"
        );
        assert_eq!(*appended.last().unwrap(), 2);
        assert_eq!(Writer::of(&Profile::seed()), Writer::Append);
        assert_eq!(Writer::of(&Profile::reference()), Writer::AtOffset);
    }

    #[test]
    fn the_seed_completes_on_the_last_flag_and_the_reference_on_every_chunk() {
        let total = 2 * CHUNK_SIZE;
        let mut record = UploadRecord {
            md5: "m".into(),
            received: [2].into_iter().collect(),
            ..UploadRecord::new("a.png", 1, (1, 2), total, "1/a.png")
        };
        let last = ChunkReq {
            name: "a.png".into(),
            unique_id: None,
            seq: 2,
            trans_size: WireSize::number(total),
            total_size: WireSize::number(total),
            token: None,
            md5: "m".into(),
            uid: 1,
            data: String::new(),
            message_id: 1,
            sender: 1,
            receiver: 2,
            last: 1,
            last_seq: Some(2),
            thread_id: None,
        };
        // Only chunk 2 (the last) is stored.
        assert_eq!(
            completion(
                &Profile::reference(),
                record.received.len() as u64,
                &record,
                &last
            ),
            Completion::NotYet
        );
        assert_eq!(
            completion(
                &Profile::seed(),
                record.received.len() as u64,
                &record,
                &last
            ),
            Completion::Unverified
        );
        record.received.insert(1);
        assert_eq!(
            completion(
                &Profile::reference(),
                record.received.len() as u64,
                &record,
                &last
            ),
            Completion::Verify
        );
    }
}
