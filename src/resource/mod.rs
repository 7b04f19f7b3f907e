//! The resource server: receives chunks in any order and writes each at its offset, decides
//! completion itself (every chunk stored and the md5 of the stored bytes right), tells the chat
//! server over gRPC until it answers, and serves downloads.
//!
//! Frames from one connection are read in order; chunk work goes to one of `FILE_WORKER_COUNT`
//! workers chosen by a stable hash of the file name, so all writes of one file are serialised
//! while different files proceed side by side, as upstream does.

mod names;
mod notify;
mod upload;

pub use names::check_file_name;

use crate::clock::Clock;
use crate::net::{framed_with, next_frame, BoxStream, Listener, Network, ReplySlot};
use crate::profile::Profile;
use crate::protocol::body::{
    ChunkHint, ChunkRsp, DownChunkReq, DownChunkRsp, DownInfoReq, DownInfoRsp, UploadStatusReq,
    UploadStatusRsp,
};
use crate::protocol::codes::{msg_type, status};
use crate::protocol::{ids, ChunkPlan, ErrorCode, Frame, FrameCodec, Framing, WireSize};
use crate::store::{FileStore, MessageStore, Offload, UploadRecord, UploadStore};
use crate::trace::{Event, Tracer};
use crate::users::Users;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use upload::{ChunkJob, Job};

/// `FILE_WORKER_COUNT` upstream.
pub const FILE_WORKER_COUNT: usize = 4;

#[derive(Debug, Clone)]
pub struct ResourceConfig {
    /// Where clients connect (`ip:port`).
    pub listen: String,
    /// The chat server's gRPC address (`host:port`).
    pub chat_grpc: String,
    /// Largest `total_size` accepted.
    pub max_file_size: u64,
    /// First wait between notify attempts; doubles up to `notify_backoff_max`.
    pub notify_backoff: Duration,
    pub notify_backoff_max: Duration,
    /// How long one notify attempt may take.
    pub notify_timeout: Duration,
    /// A connection with no frame for this long is closed.
    pub idle_timeout: Duration,
    /// A connection whose socket accepts nothing for this long while replies wait is closed.
    pub write_timeout: Duration,
    /// An unfinished upload with no chunk for this long expires (upstream's Redis keys live
    /// 3600 s). Needs a clock ([`ResourceServer::with_clock`]); `None` never expires.
    pub upload_ttl: Option<Duration>,
    /// The seed's quirks to reproduce, if any.
    pub profile: Profile,
    /// Where storage calls run: off the async threads for SQLite and fsync (`serve`).
    pub storage: Offload,
    /// At most this many chunks waiting for one file worker are stored together: one sync per
    /// file and one commit, then their acks (group commit). 1 stores each chunk on its own.
    pub chunk_group: usize,
}

impl Default for ResourceConfig {
    fn default() -> Self {
        ResourceConfig {
            listen: "0.0.0.0:8091".into(),
            chat_grpc: "127.0.0.1:50051".into(),
            max_file_size: 1 << 30,
            notify_backoff: Duration::from_millis(200),
            notify_backoff_max: Duration::from_secs(5),
            notify_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(60),
            write_timeout: crate::net::WRITE_TIMEOUT,
            upload_ttl: Some(Duration::from_secs(3600)),
            profile: Profile::reference(),
            storage: Offload::Inline,
            chunk_group: 1,
        }
    }
}

/// A cheap cloneable handle on the resource server.
#[derive(Clone)]
pub struct ResourceServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: ResourceConfig,
    users: Users,
    files: Arc<dyn FileStore>,
    uploads: Arc<dyn UploadStore>,
    /// The chat server's messages, to bind each upload to its image message.
    messages: Option<Arc<dyn MessageStore>>,
    /// For upload expiry; without one nothing expires.
    clock: Option<Arc<dyn Clock>>,
    tracer: Tracer,
}

/// Per-connection state.
#[derive(Default)]
struct ConnState {
    /// The uid whose token this connection presented.
    uid: Option<i32>,
    /// Next expected download seq, per message.
    downloads: BTreeMap<i64, u32>,
}

impl ResourceServer {
    pub fn new(
        config: ResourceConfig,
        users: Users,
        files: Arc<dyn FileStore>,
        uploads: Arc<dyn UploadStore>,
        tracer: Tracer,
    ) -> Self {
        ResourceServer {
            inner: Arc::new(Inner {
                config,
                users,
                files,
                uploads,
                messages: None,
                clock: None,
                tracer,
            }),
        }
    }

    /// Gives the server read access to the chat server's message store (upstream reads the same
    /// MySQL row): every upload is then bound to its image message. Call before [`Self::run`].
    pub fn with_messages(mut self, messages: Arc<dyn MessageStore>) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_messages is called before the server is shared")
            .messages = Some(messages);
        self
    }

    /// Gives the server a clock, so that unfinished uploads expire after `config.upload_ttl`.
    /// Call before [`Self::run`].
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_clock is called before the server is shared")
            .clock = Some(clock);
        self
    }

    /// Seconds since the epoch, if the server has a clock.
    fn now_s(&self) -> Option<u64> {
        self.inner.clock.as_ref().map(|c| c.now().as_secs())
    }

    /// Serves clients. A failed accept is retried, so this returns only when binding or reading
    /// the upload state at start fails.
    pub async fn run(self, network: Arc<dyn Network>) -> io::Result<()> {
        let listener = network.bind(self.inner.config.listen.clone()).await?;
        self.run_on(network, listener).await
    }

    /// Like [`ResourceServer::run`], on a listener the caller already bound (for example to port
    /// 0); `config.listen` is not used. `network` is still needed: the notify dials through it.
    pub async fn run_on(
        self,
        network: Arc<dyn Network>,
        mut listener: Box<dyn Listener>,
    ) -> io::Result<()> {
        let notifier = notify::Notifier::start(
            network,
            &self.inner.config,
            self.inner.uploads.clone(),
            self.inner.tracer.clone(),
        );
        // Uploads completed before a restart whose notify was never answered.
        for record in self.inner.uploads.all()? {
            if record.complete && !record.notified {
                notifier.enqueue(record);
            }
        }
        let workers: Vec<mpsc::Sender<Job>> = (0..FILE_WORKER_COUNT)
            .map(|_| upload::spawn_worker(self.clone(), notifier.clone()))
            .collect();
        let workers = Arc::new(workers);
        if let (Some(ttl), Some(_)) = (self.inner.config.upload_ttl, &self.inner.clock) {
            tokio::spawn(upload::sweep_expired(self.clone(), workers.clone(), ttl));
        }
        loop {
            let (stream, peer) = crate::net::accept_next(listener.as_mut()).await;
            let server = self.clone();
            let workers = workers.clone();
            tokio::spawn(async move { server.serve_connection(stream, peer, workers).await });
        }
    }

    async fn serve_connection(
        self,
        stream: BoxStream,
        peer: String,
        workers: Arc<Vec<mpsc::Sender<Job>>>,
    ) {
        let tracer = &self.inner.tracer;
        tracer.emit(Event::ConnOpened { peer: peer.clone() });
        let (mut reader, sender) = framed_with(
            stream,
            FrameCodec::upstream(Framing::Resource),
            FrameCodec::with_limit(Framing::Resource, u32::MAX as usize),
            self.inner.config.write_timeout,
        );
        let mut state = ConnState::default();
        let reason = loop {
            // No slot for one more reply: the client is not reading what it asked for, so its
            // next request waits in the socket (backpressure) rather than in memory.
            let Some(slot) = sender.reserve().await else {
                break crate::net::WRITER_STOPPED.to_owned();
            };
            // A client that says nothing (or stops in the middle of a frame) must not hold a
            // connection, and a file descriptor, for ever.
            let next =
                tokio::time::timeout(self.inner.config.idle_timeout, next_frame(&mut reader));
            let frame = tokio::select! {
                next = next => match next {
                    Err(_) => break "idle timeout".to_owned(),
                    Ok(Ok(Some(frame))) => frame,
                    Ok(Ok(None)) => break "closed by peer".to_owned(),
                    Ok(Err(err)) => {
                        tracer.emit(Event::BadInput {
                            peer: peer.clone(),
                            id: 0,
                            error: err.to_string(),
                        });
                        break format!("bad frame: {err}");
                    }
                },
                _ = sender.closed() => break crate::net::WRITER_STOPPED.to_owned(),
            };
            let hint = ChunkHint::from_body(&frame.body);
            tracer.emit(Event::frame("rx", &peer, &frame, Some(&hint)));
            match frame.id {
                ids::FILE_INFO_SYNC_REQ
                | ids::IMG_CHAT_UPLOAD_REQ
                | ids::IMG_CHAT_CONTINUE_UPLOAD_REQ => {
                    match upload::validate(&self, &mut state, &frame) {
                        Ok(chunk) => {
                            let worker = upload::worker_of(&chunk.req.name);
                            let job = Job::Chunk(Box::new(ChunkJob {
                                chunk,
                                slot,
                                peer: peer.clone(),
                            }));
                            // A full worker queue stops this reader too. Workers live as long
                            // as the server; a send cannot fail while it runs.
                            let _ = workers[worker].send(job).await;
                        }
                        Err(refusal) => {
                            self.refuse_chunk(slot, &peer, &frame, &hint, refusal);
                        }
                    }
                }
                ids::UPLOAD_STATUS_REQ
                | ids::IMG_CHAT_DOWN_INFO_SYNC_REQ
                | ids::IMG_CHAT_DOWN_REQ => {
                    let reply = self.answer_from_store(&mut state, frame).await;
                    self.send(slot, &peer, reply);
                }
                other => {
                    // No reply id to answer with: a clean close, as PROTOCOL.md section 8 asks.
                    let error = format!("unknown message id {other}");
                    tracer.emit(Event::BadInput {
                        peer: peer.clone(),
                        id: other,
                        error: error.clone(),
                    });
                    break error;
                }
            }
        };
        tracer.emit(Event::ConnClosed { peer, reason });
    }

    /// Answers a request that reads the upload state or a file (1051, 1045, 1047), on the
    /// storage's side: a read can wait behind another worker's commit.
    async fn answer_from_store(&self, state: &mut ConnState, frame: Frame) -> Frame {
        let server = self.clone();
        let mut taken = std::mem::take(state);
        let (reply, back) = self
            .inner
            .config
            .storage
            .run(move || {
                let reply = match frame.id {
                    ids::UPLOAD_STATUS_REQ => server.upload_status(&frame),
                    ids::IMG_CHAT_DOWN_INFO_SYNC_REQ => server.download_info(&frame),
                    _ => server.download_chunk(&mut taken, &frame),
                };
                (reply, taken)
            })
            .await;
        *state = back;
        reply
    }

    fn send(&self, slot: ReplySlot, peer: &str, frame: Frame) {
        let hint = ChunkHint::from_body(&frame.body);
        self.inner
            .tracer
            .emit(Event::frame("tx", peer, &frame, Some(&hint)));
        slot.send(frame);
    }

    /// Answers a chunk request that was refused before reaching a worker.
    fn refuse_chunk(
        &self,
        slot: ReplySlot,
        peer: &str,
        frame: &Frame,
        hint: &ChunkHint,
        refusal: upload::Refusal,
    ) {
        self.inner.tracer.emit(Event::ChunkRefused {
            file: hint.name.clone(),
            seq: hint.seq,
            error: refusal.code.code(),
            reason: refusal.reason.clone(),
        });
        let reply_id = ids::reply_to(frame.id).unwrap_or(ids::FILE_INFO_SYNC_RSP);
        let reply = self.chunk_reply(
            reply_id,
            ChunkRsp {
                error: refusal.code.code(),
                total_size: None,
                seq: hint.seq,
                name: hint.name.clone(),
                trans_size: None,
                last: 0,
                md5: String::new(),
                uid: 0,
                sender: 0,
                receiver: 0,
            },
        );
        self.send(slot, peer, reply);
    }

    /// Extension 1051: which chunks of an upload are stored, as ranges of seqs.
    fn upload_status(&self, frame: &Frame) -> Frame {
        let hint = ChunkHint::from_body(&frame.body);
        let reply = |error: ErrorCode| {
            Frame::json(
                ids::UPLOAD_STATUS_RSP,
                &UploadStatusRsp {
                    error: error.code(),
                    name: hint.name.clone(),
                    total_size: 0,
                    held: Vec::new(),
                    complete: false,
                },
            )
        };
        let Ok(req) = frame.parse::<UploadStatusReq>() else {
            return reply(ErrorCode::ErrorJson);
        };
        if check_file_name(&req.name).is_err() {
            return reply(ErrorCode::CreateFilePathFailed);
        }
        if !self.inner.users.check(req.uid, &req.token) {
            return reply(ErrorCode::TokenInvalid);
        }
        // The request names a file, not a message: the uploader's latest unfinished upload of
        // that name, else its latest.
        let record = match self.inner.uploads.by_name(req.uid, &req.name) {
            Err(_) => return reply(ErrorCode::RedisReadErr),
            Ok(records) => {
                let live: Vec<&UploadRecord> = records.iter().filter(|r| !r.expired).collect();
                let unfinished = live.iter().rev().find(|r| !r.complete).copied();
                match unfinished.or(live.last().copied()).cloned() {
                    Some(record) => record,
                    None => return reply(ErrorCode::FileNotExists),
                }
            }
        };
        let mut held: Vec<[u32; 2]> = Vec::new();
        for &seq in &record.received {
            match held.last_mut() {
                Some(range) if range[1] + 1 == seq => range[1] = seq,
                _ => held.push([seq, seq]),
            }
        }
        Frame::json(
            ids::UPLOAD_STATUS_RSP,
            &UploadStatusRsp {
                error: 0,
                name: record.name,
                total_size: record.total_size,
                held,
                complete: record.complete,
            },
        )
    }

    fn download_info(&self, frame: &Frame) -> Frame {
        let reply = |error: ErrorCode, message_id: i64| {
            Frame::json(
                ids::IMG_CHAT_DOWN_INFO_SYNC_RSP,
                &DownInfoRsp {
                    error: error.code(),
                    message_id,
                    thread_id: 0,
                    sender_id: 0,
                    recv_id: 0,
                    name: String::new(),
                    msg_type: 0,
                    status: 0,
                    total_size: WireSize::string(0),
                    md5: String::new(),
                },
            )
        };
        let req: DownInfoReq = match frame.parse() {
            Ok(req) => req,
            Err(_) => return reply(ErrorCode::ErrorJson, 0),
        };
        match self.inner.uploads.get(req.message_id) {
            Err(_) => reply(ErrorCode::RedisReadErr, req.message_id),
            Ok(Some(record)) if record.complete && self.still_bound(&record) => {
                self.inner.tracer.emit(Event::DownloadInfoServed {
                    message_id: record.message_id,
                    file: record.name.clone(),
                    sender: record.owner_uid,
                    receiver: record.receiver,
                    size: record.total_size,
                    md5: record.md5.clone(),
                });
                Frame::json(
                    ids::IMG_CHAT_DOWN_INFO_SYNC_RSP,
                    &DownInfoRsp {
                        error: 0,
                        message_id: req.message_id,
                        thread_id: record.thread_id,
                        sender_id: record.owner_uid,
                        recv_id: record.receiver,
                        name: record.name,
                        msg_type: msg_type::PIC,
                        status: status::READED,
                        total_size: WireSize::string(record.total_size),
                        md5: record.md5.clone(),
                    },
                )
            }
            _ => reply(ErrorCode::FileNotExists, req.message_id),
        }
    }

    /// Whether a completed upload still matches its chat message (sender and file name): a record
    /// made before uploads were bound, or a message changed since, is not offered.
    fn still_bound(&self, record: &UploadRecord) -> bool {
        let Some(messages) = &self.inner.messages else {
            return true;
        };
        matches!(messages.get(record.message_id), Ok(Some(m))
            if m.message.sender_id == record.owner_uid && m.message.content == record.name)
    }

    fn download_chunk(&self, state: &mut ConnState, frame: &Frame) -> Frame {
        let hint = ChunkHint::from_body(&frame.body);
        let error = |code: ErrorCode| {
            Frame::json(
                ids::IMG_CHAT_DOWN_RSP,
                &DownChunkRsp {
                    error: code.code(),
                    data: String::new(),
                    seq: hint.seq,
                    total_size: WireSize::string(0),
                    current_size: WireSize::string(0),
                    is_last: false,
                    name: hint.name.clone(),
                    sender_id: 0,
                    receiver_id: 0,
                },
            )
        };
        let req: DownChunkReq = match frame.parse() {
            Ok(req) => req,
            Err(_) => return error(ErrorCode::ErrorJson),
        };
        if check_file_name(&req.name).is_err() {
            return error(ErrorCode::FileNotExists);
        }
        let record = match self.inner.uploads.get(req.message_id) {
            Err(_) => return error(ErrorCode::RedisReadErr),
            Ok(Some(record)) if record.complete && record.name == req.name => record,
            Ok(_) => return error(ErrorCode::FileNotExists),
        };
        if req.seq == 1 {
            if !self.inner.users.check(req.uid, &req.token) {
                return error(ErrorCode::TokenInvalid);
            }
            if req.uid != record.owner_uid && req.uid != record.receiver {
                return error(ErrorCode::UidInvalid);
            }
            state.downloads.insert(req.message_id, 1);
        }
        if state.downloads.get(&req.message_id) != Some(&req.seq) {
            return error(ErrorCode::FileSeqInvalid);
        }
        let plan = ChunkPlan::new(record.total_size);
        let Some(range) = plan.range(req.seq) else {
            return error(ErrorCode::FileSeqInvalid);
        };
        let path = std::path::PathBuf::from(&record.path);
        let data =
            match self
                .inner
                .files
                .read_at(&path, range.start, (range.end - range.start) as usize)
            {
                Ok(data) if data.len() as u64 == range.end - range.start => data,
                _ => return error(ErrorCode::FileReadFailed),
            };
        state.downloads.insert(req.message_id, req.seq + 1);
        self.inner.tracer.emit(Event::DownloadServed {
            file: record.name.clone(),
            seq: req.seq,
        });
        Frame::json(
            ids::IMG_CHAT_DOWN_RSP,
            &DownChunkRsp {
                error: 0,
                data: base64::engine::general_purpose::STANDARD.encode(&data),
                seq: req.seq,
                // Strings and a bool whatever the request used: the upstream client reads the
                // sizes with toString() and is_last with toBool() (PROTOCOL.md section 4).
                total_size: WireSize::string(record.total_size),
                current_size: WireSize::string(range.end),
                is_last: plan.is_last(req.seq),
                name: record.name,
                sender_id: record.owner_uid,
                receiver_id: record.receiver,
            },
        )
    }
}
