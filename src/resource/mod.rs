//! The resource server: receives chunks in any order and writes each at its offset, decides
//! completion itself (every chunk stored and the md5 of the stored bytes right), tells the chat
//! server over gRPC until it answers, and serves downloads.
//!
//! Frames from one connection are read in order; chunk work goes to one of `FILE_WORKER_COUNT`
//! workers chosen by a stable hash of the file name, so all writes of one file are serialised
//! while different files proceed side by side, as upstream does.

mod notify;
mod upload;

pub use crate::protocol::names::check_file_name;

use crate::clock::Clock;
use crate::net::{framed_with, next_frame, BoxStream, Listener, Network, ReplySlot};
use crate::profile::{Profile, Quirk};
use crate::protocol::body::{
    ChunkHint, ChunkRsp, DownChunkReq, DownChunkRsp, DownInfoReq, DownInfoRsp, UploadStatusReq,
    UploadStatusRsp,
};
use crate::protocol::codes::{msg_type, status};
use crate::protocol::{ids, ChunkPlan, ErrorCode, Frame, FrameCodec, Framing, WireSize};
use crate::store::{ChatRoutes, FileStore, MessageStore, Offload, UploadRecord, UploadStore};
use crate::trace::{Dir, Event, Tracer};
use crate::users::Users;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use upload::{ChunkJob, Job};

/// A frame in a few words for a death report: `frame 1037 (123 bytes): {"name":...`.
fn input_of(frame: &Frame) -> String {
    const SHOWN: usize = 80;
    let body = String::from_utf8_lossy(&frame.body);
    let mut shown: String = body.chars().take(SHOWN).collect();
    if body.chars().count() > SHOWN {
        shown.push_str("...");
    }
    format!("frame {} ({} bytes): {shown}", frame.id, frame.body.len())
}

/// Whether a uid is logged in to a chat server: upstream's ResourceServer reads Redis
/// `uip_<uid>` before its notify. Consulted only by the `dies_on_missing_message` quirk.
pub type Presence = Arc<dyn Fn(i32) -> bool + Send + Sync>;

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
    /// How long a file worker waits for more chunks when it has fewer than its recent groups had
    /// (zero: never waits). A window's acks go out together and its next chunks come back
    /// together, but one at a time; without the wait the groups settle into a 1-then-4 rhythm
    /// at a window of 5 instead of 5 at once.
    pub chunk_linger: Duration,
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
            chunk_linger: Duration::ZERO,
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
    /// Who is online; without it every receiver counts as online.
    presence: Option<Presence>,
    /// With several chat servers: the notify goes to the one the receiver is on.
    routes: Option<ChatRoutes>,
    tracer: Tracer,
    /// Set when the server dies on an input (the `upstream` profile's fatal quirks): the input
    /// and the upstream code that fails on it.
    died: tokio::sync::watch::Sender<Option<String>>,
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
                presence: None,
                routes: None,
                tracer,
                died: tokio::sync::watch::channel(None).0,
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

    /// The server dies on `input`, as the deployed C++ server does on an exception nothing catches
    /// (`reason` names the upstream code): the listener and every connection close and
    /// [`Self::run`] returns an error naming the input. Only the `upstream` profile's quirks call it.
    pub(crate) fn die(&self, input: String, reason: &str) {
        self.inner.tracer.emit(Event::ServerDied {
            input: input.clone(),
            reason: reason.to_owned(),
        });
        self.inner.died.send_if_modified(|died| {
            let first = died.is_none();
            died.get_or_insert_with(|| format!("{input} ({reason})"));
            first
        });
    }

    /// The input the server died on and why, if it did.
    pub fn died_on(&self) -> Option<String> {
        self.inner.died.borrow().clone()
    }

    /// Tells the server who is online (see [`Presence`]). Call before [`Self::run`].
    pub fn with_presence(mut self, presence: Presence) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_presence is called before the server is shared")
            .presence = Some(presence);
        self
    }

    /// Whether `uid` is online, as far as the server knows (online when it cannot tell).
    fn is_online(&self, uid: i32) -> bool {
        self.inner
            .presence
            .as_ref()
            .is_none_or(|online| online(uid))
    }

    /// Routes each notify by the presence table to the chat server the receiver is on (else the
    /// sender's, else `config.chat_grpc`), as upstream looks up `uip_<uid>`. Call before
    /// [`Self::run`].
    pub fn with_routes(mut self, routes: ChatRoutes) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_routes is called before the server is shared")
            .routes = Some(routes);
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
            (&self.inner.config, self.inner.routes.clone()),
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
        let mut died = self.inner.died.subscribe();
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                _ = died.wait_for(Option::is_some) => {
                    let input = self.died_on().unwrap_or_default();
                    return Err(io::Error::other(format!(
                        "the resource server died on {input}, profile {}",
                        self.inner.config.profile.label()
                    )));
                }
                accepted = crate::net::accept_next(listener.as_mut()) => accepted,
            };
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
                crate::timer::timeout(self.inner.config.idle_timeout, next_frame(&mut reader));
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
                        self.dies_on_negative_length(&peer, &err);
                        break format!("bad frame: {err}");
                    }
                },
                _ = sender.closed() => break crate::net::WRITER_STOPPED.to_owned(),
            };
            // A dead server reads nothing more (its process is gone upstream).
            if self.died_on().is_some() {
                break "the server died".to_owned();
            }
            let hint = ChunkHint::from_body(&frame.body);
            tracer.emit(Event::frame(Dir::Rx, &peer, &frame, Some(&hint)));
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
                        // Died on it (`dies_on_bad_chunk`): no reply, the connection goes too.
                        Err(_) if self.died_on().is_some() => break "the server died".to_owned(),
                        Err(refusal) => {
                            self.refuse_chunk(slot, &peer, &frame, &hint, refusal);
                        }
                    }
                }
                ids::UPLOAD_STATUS_REQ
                | ids::IMG_CHAT_DOWN_INFO_SYNC_REQ
                | ids::IMG_CHAT_DOWN_REQ => {
                    match self.answer_from_store(&mut state, &peer, frame).await {
                        Some(reply) => self.send(slot, &peer, reply),
                        None if self.died_on().is_some() => break "the server died".to_owned(),
                        // upstream sends nothing (`silent_download_info`); the slot is freed unused.
                        None => drop(slot),
                    }
                }
                other => {
                    // No reply id to answer with: a clean close, as docs/protocol.md section 8 asks.
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

    /// upstream: CSession::AsyncReadBody reads the 4-byte length into a signed int (MsgNode.h:14);
    /// a length with the top bit set is negative, passes `if (data_len > MAX_LENGTH)`
    /// (CSession.cpp:162-169) and the allocation of that many bytes throws, uncaught.
    fn dies_on_negative_length(&self, peer: &str, err: &crate::protocol::FrameError) {
        let crate::protocol::FrameError::TooLong { id, len, .. } = err else {
            return;
        };
        if self.inner.config.profile.has(Quirk::DiesOnNegativeLength) && (*len as u32 as i32) < 0 {
            self.die(
                format!("frame {id} from {peer} with length header {len:#010x}"),
                "CSession.cpp:162-169: the length read as a signed int is negative, passes the \
                 size check and the body allocation throws",
            );
        }
    }

    /// Answers a request that reads the upload state or a file (1051, 1045, 1047), on the
    /// storage's side: a read can wait behind another worker's commit.
    /// `None`: nothing to answer (upstream's silence, or the server died on it).
    async fn answer_from_store(
        &self,
        state: &mut ConnState,
        peer: &str,
        frame: Frame,
    ) -> Option<Frame> {
        let peer = peer.to_owned();
        let server = self.clone();
        let mut taken = std::mem::take(state);
        let (reply, back) = self
            .inner
            .config
            .storage
            .run(move || {
                let reply = match frame.id {
                    ids::UPLOAD_STATUS_REQ => Some(server.upload_status(&frame)),
                    ids::IMG_CHAT_DOWN_INFO_SYNC_REQ => server.download_info(&peer, &frame),
                    _ => Some(server.download_chunk(&mut taken, &frame)),
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
            .emit(Event::frame(Dir::Tx, peer, &frame, Some(&hint)));
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
                // An expired or rejected upload holds nothing: the sender starts over.
                let live: Vec<&UploadRecord> = records
                    .iter()
                    .filter(|r| !r.expired && !r.rejected)
                    .collect();
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

    /// The answer to 1045; `None` for no answer at all (the `upstream` profile).
    fn download_info(&self, peer: &str, frame: &Frame) -> Option<Frame> {
        if let Ok(req) = frame.parse::<DownInfoReq>() {
            if let Some(upstream) = self.upstream_download_info(peer, frame, &req) {
                return upstream;
            }
        }
        Some(self.reference_download_info(frame))
    }

    /// upstream's 1045 (LogicWorker.cpp:649-682), where it differs from the reference: `None`
    /// when the reference answers. It reads the message row, not the upload state: an unknown
    /// message gets no reply at all (656-659); a known one is offered with the size of whatever
    /// file is on disk, finished or not, and `file_size` throws when there is none (667).
    fn upstream_download_info(
        &self,
        peer: &str,
        frame: &Frame,
        req: &DownInfoReq,
    ) -> Option<Option<Frame>> {
        let profile = &self.inner.config.profile;
        let (silent, unfinished) = (
            profile.has(Quirk::SilentDownloadInfo),
            profile.has(Quirk::DownloadInfoUnfinished),
        );
        if !silent && !unfinished {
            return None;
        }
        let record = self.inner.uploads.get(req.message_id).ok()?;
        let known = match &self.inner.messages {
            Some(messages) => messages.get(req.message_id).ok()?.is_some(),
            None => record.is_some(),
        };
        if !known {
            return silent.then_some(None);
        }
        if !unfinished || record.as_ref().is_some_and(|r| r.complete) {
            return None;
        }
        let Some(record) = record else {
            self.die(
                format!("{} from {peer}", input_of(frame)),
                "LogicWorker.cpp:667: std::filesystem::file_size throws for a message never uploaded",
            );
            return Some(None);
        };
        let path = std::path::PathBuf::from(&record.path);
        let on_disk = self.inner.files.size(&path).ok().flatten().unwrap_or(0);
        Some(Some(download_info_reply(req.message_id, record, on_disk)))
    }

    fn reference_download_info(&self, frame: &Frame) -> Frame {
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
                let size = record.total_size;
                download_info_reply(req.message_id, record, size)
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
        let plan = ChunkPlan::new(record.total_size);
        let range = plan.range(req.seq);
        if state.downloads.get(&req.message_id) != Some(&req.seq) || range.is_none() {
            if self.inner.config.profile.has(Quirk::BadSeqSucceeds) {
                // upstream: FileWorker.cpp:581, 590 set FileSeqInvalid / RedisReadErr, then the
                // reply callback (LogicWorker.cpp:705) sets `error` to Success: no data.
                return Frame::json(
                    ids::IMG_CHAT_DOWN_RSP,
                    &DownChunkRsp {
                        error: 0,
                        data: String::new(),
                        seq: req.seq,
                        total_size: WireSize::string(record.total_size),
                        current_size: WireSize::string(0),
                        is_last: false,
                        name: record.name,
                        sender_id: record.owner_uid,
                        receiver_id: record.receiver,
                    },
                );
            }
            return error(ErrorCode::FileSeqInvalid);
        }
        let Some(range) = range else {
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
                // sizes with toString() and is_last with toBool() (docs/protocol.md section 4).
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

/// 1046 for a stored upload, offering `size` bytes (the reference offers the completed size;
/// upstream's quirk what is on disk).
fn download_info_reply(message_id: i64, record: UploadRecord, size: u64) -> Frame {
    Frame::json(
        ids::IMG_CHAT_DOWN_INFO_SYNC_RSP,
        &DownInfoRsp {
            error: 0,
            message_id,
            thread_id: record.thread_id,
            sender_id: record.owner_uid,
            recv_id: record.receiver,
            name: record.name,
            msg_type: msg_type::PIC,
            status: status::READED,
            total_size: WireSize::string(size),
            md5: record.md5,
        },
    )
}
