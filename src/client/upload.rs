//! The upload engine: one task that owns the resource connection and the books of every file being
//! uploaded.
//!
//! - All files share one window of chunks in flight, served round-robin so files progress side
//!   by side. The window is the seed's `MAX_CWND`, or with `WindowPolicy::Adaptive` the size
//!   [`AdaptiveWindow`] keeps; the policy changes only how many chunks fly, never the frames. Per file, chunk 1 goes first (as 1041) and alone; then 1037s.
//! - Only a reply to a chunk that is in flight frees a slot, so duplicate or stale replies cannot
//!   inflate the window (seed bug 5). A chunk without a reply is sent again after `chunk_timeout`
//!   (seed bug 4).
//! - An error reply affects only its file: transient errors retry the chunk, an md5 mismatch
//!   restarts the file, anything else fails it; its queued chunks are purged and the others go on.
//! - A connection that dies, or goes silent with chunks in flight, is replaced; then the engine
//!   asks the server which chunks it holds (extension 1051) and sends only the rest.
//! - Pause stops a file's new chunks; the first chunk after resume travels as 1043.
//!
//! The seed's client bugs live at three seams: the window accounting ([`WindowBooks`]), the timer
//! ([`Engine::on_tick`]) and what happens when a file completes ([`Engine::after_completion`]).

use super::window::{AdaptiveWindow, WindowPolicy};
use super::{ClientConfig, SourceFile};
use crate::backoff::Backoff;
use crate::net::{framed, next_frame, FrameReader, FrameSender, Network};
use crate::profile::{Profile, Quirk};
use crate::protocol::body::{ChunkHint, ChunkReq, ChunkRsp, UploadStatusReq, UploadStatusRsp};
use crate::protocol::{ids, ChunkPlan, ErrorCode, Frame, FrameCodec, Framing, WireSize, MAX_CWND};
use crate::trace::{Dir, Event, RetryScope, Tracer};
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Times one chunk is retried after transient errors before its file fails.
const CHUNK_RETRIES: u32 = 3;
/// Times a file restarts from scratch after an md5 mismatch before it fails.
const FILE_RETRIES: u32 = 2;
/// Wait before a chunk refused with a transient error is sent again.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// The engine's timer with the adaptive window.
const ADAPTIVE_TICK: Duration = Duration::from_millis(20);

/// The pause between two attempts to reach the resource server.
const REDIAL_PAUSE: Duration = Duration::from_secs(1);

/// A file whose image message the chat server accepted.
pub(super) struct NewUpload {
    pub file: SourceFile,
    pub to: i32,
    pub message_id: i64,
    pub thread_id: i32,
}

pub(super) enum Command {
    Add(NewUpload),
    Pause(String),
    Resume(String),
    Cancel(String),
}

#[derive(Clone)]
pub(super) struct UploadEngine {
    tx: mpsc::UnboundedSender<Command>,
}

impl UploadEngine {
    pub fn start(config: ClientConfig, network: Arc<dyn Network>, tracer: Tracer) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let adaptive = (config.window == WindowPolicy::Adaptive).then(|| {
            let books = AdaptiveWindow::default();
            tracer.emit(Event::WindowChanged {
                window: books.window(),
                reason: "start",
            });
            books
        });
        let engine = Engine {
            window: WindowBooks::of(&config.profile),
            adaptive,
            config,
            network,
            tracer,
            files: BTreeMap::new(),
            turn: VecDeque::new(),
            orphans: BTreeMap::new(),
            conn: None,
            early: BTreeMap::new(),
        };
        tokio::spawn(engine.run(rx));
        UploadEngine { tx }
    }

    pub fn command(&self, command: Command) {
        let _ = self.tx.send(command);
    }
}

/// What to do about an error reply to a chunk, by error code (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnError {
    /// The server could not store it this time: send the chunk again shortly.
    RetryChunk,
    /// The server dropped the stored bytes as corrupt: start the file over.
    RestartFile,
    /// The request itself is wrong; sending it again cannot help.
    Fail,
}

fn on_error(code: i32) -> OnError {
    match ErrorCode::from_code(code) {
        Some(
            ErrorCode::RpcFailed
            | ErrorCode::FileSaveRedisFailed
            | ErrorCode::FileWritePermissionFailed
            | ErrorCode::RedisReadErr
            | ErrorCode::FileReadFailed,
        ) => OnError::RetryChunk,
        Some(ErrorCode::Md5Mismatch) => OnError::RestartFile,
        _ => OnError::Fail,
    }
}

/// The client's books for one file.
struct FileBooks {
    file: SourceFile,
    md5: String,
    plan: ChunkPlan,
    to: i32,
    message_id: i64,
    thread_id: i32,
    /// The next seq never sent yet.
    next_new: u32,
    /// Seqs to send again, with the earliest time they may go.
    resend: BTreeMap<u32, Instant>,
    /// Seqs sent and not yet answered, with the time they were (last) sent.
    in_flight: BTreeMap<u32, Instant>,
    acked: BTreeSet<u32>,
    /// Highest seq such that every seq up to it is acked.
    contiguous: u32,
    last_percent: Option<u32>,
    paused: bool,
    /// The next chunk continues an interrupted upload and travels as 1043.
    continuing: bool,
    /// Waiting for the answer to a 1051 status query, sent at this time.
    querying: Option<Instant>,
    chunk_retries: BTreeMap<u32, u32>,
    file_retries: u32,
}

impl FileBooks {
    fn new(upload: NewUpload) -> Self {
        FileBooks {
            md5: upload.file.md5(),
            plan: ChunkPlan::new(upload.file.data.len() as u64),
            file: upload.file,
            to: upload.to,
            message_id: upload.message_id,
            thread_id: upload.thread_id,
            next_new: 1,
            resend: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            acked: BTreeSet::new(),
            contiguous: 0,
            last_percent: None,
            paused: false,
            continuing: false,
            querying: None,
            chunk_retries: BTreeMap::new(),
            file_retries: 0,
        }
    }

    /// Forgets everything sent: the file starts over from chunk 1.
    fn restart(&mut self) {
        self.next_new = 1;
        self.resend.clear();
        self.in_flight.clear();
        self.acked.clear();
        self.contiguous = 0;
        self.chunk_retries.clear();
        self.continuing = false;
    }

    /// Queues again every chunk sent before and neither acked nor in flight.
    fn resend_unacked(&mut self, now: Instant) {
        for seq in 1..self.next_new {
            if !self.acked.contains(&seq) && !self.in_flight.contains_key(&seq) {
                self.resend.insert(seq, now);
            }
        }
    }

    /// The seq this file would send next, if it may send now.
    fn sendable(&self, now: Instant) -> Option<u32> {
        if self.paused || self.querying.is_some() {
            return None;
        }
        let due = |seq: &u32| self.resend.get(seq).is_some_and(|at| *at <= now);
        if !self.acked.contains(&1) {
            // Chunk 1 creates the upload upstream; nothing else flies until it is acked.
            let first_pending = self.next_new == 1 || due(&1);
            return (first_pending && !self.in_flight.contains_key(&1)).then_some(1);
        }
        self.resend
            .iter()
            .find(|(_, at)| **at <= now)
            .map(|(seq, _)| *seq)
            .or((self.next_new <= self.plan.max_seq()).then_some(self.next_new))
    }

    fn ever_sent(&self) -> bool {
        self.next_new > 1
    }

    fn percent(&self) -> u32 {
        if self.plan.total == 0 {
            return if self.acked.is_empty() { 0 } else { 100 };
        }
        let bytes: u64 = self
            .acked
            .iter()
            .filter_map(|&seq| self.plan.range(seq))
            .map(|r| r.end - r.start)
            .sum();
        (bytes * 100 / self.plan.total) as u32
    }

    fn done(&self) -> bool {
        self.contiguous == self.plan.max_seq()
    }
}

struct Connection {
    reader: FrameReader,
    sender: FrameSender,
    last_heard: Instant,
}

/// How the engine decides whether the window has room for one more chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowBooks {
    /// The reference: the chunks really in flight (every file's books plus orphans), which only a
    /// reply to a chunk in flight reduces.
    InFlight,
    /// seed: FileTcpMgr::_cwnd_size (bug 5), one counter for all files: `_cwnd_size++` per send
    /// in FileTcpMgr::BatchSend and `_cwnd_size--` at the top of the ID_IMG_CHAT_UPLOAD_RSP
    /// handler, for every reply, errors and duplicates included; it may go below zero.
    SharedCounter(i64),
}

impl WindowBooks {
    fn of(profile: &Profile) -> Self {
        if profile.has(Quirk::SharedWindowCounter) {
            WindowBooks::SharedCounter(0)
        } else {
            WindowBooks::InFlight
        }
    }

    /// Whether one more chunk may go, given the chunks really in flight and the window's size.
    fn has_room(self, in_flight: usize, size: usize) -> bool {
        match self {
            WindowBooks::InFlight => in_flight < size,
            // seed: `for (; MAX_CWND_SIZE - _cwnd_size > 0; )` in FileTcpMgr::BatchSend.
            WindowBooks::SharedCounter(counter) => counter < size as i64,
        }
    }

    fn sent(&mut self) {
        if let WindowBooks::SharedCounter(counter) = self {
            *counter += 1;
        }
    }

    /// Any chunk reply arrived, whether or not it answers a chunk in flight.
    fn replied(&mut self) {
        if let WindowBooks::SharedCounter(counter) = self {
            *counter -= 1;
        }
    }
}

struct Engine {
    config: ClientConfig,
    window: WindowBooks,
    /// The adaptive window's size and round-trip books; `None` keeps `MAX_CWND`.
    adaptive: Option<AdaptiveWindow>,
    network: Arc<dyn Network>,
    tracer: Tracer,
    files: BTreeMap<String, FileBooks>,
    /// Round-robin order of file names.
    turn: VecDeque<String>,
    /// Chunks of purged files still unanswered on the wire: they hold their window slot until
    /// answered or timed out, so the window stays honest as seen on the wire.
    orphans: BTreeMap<(String, u32), Instant>,
    conn: Option<Connection>,
    /// Controls for files not yet handed to the engine.
    early: BTreeMap<String, Early>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Early {
    Paused,
    Cancelled,
}

impl Engine {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let tick = match self.adaptive {
            // Its retransmit timeout follows the round trip, down to tens of milliseconds.
            Some(_) => ADAPTIVE_TICK,
            None => (self.config.chunk_timeout / 4).max(Duration::from_millis(50)),
        };
        let mut timer = crate::timer::interval(tick);
        loop {
            if !self.files.is_empty() && self.conn.is_none() {
                self.connect(&mut rx).await;
            }
            self.fill_window();
            let next = async {
                match self.conn.as_mut() {
                    Some(conn) => next_frame(&mut conn.reader).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                frame = next => match frame {
                    Ok(Some(frame)) => self.on_reply(frame),
                    Ok(None) => self.disconnected("closed by server".into()),
                    Err(err) => self.disconnected(err.to_string()),
                },
                command = rx.recv() => match command {
                    Some(command) => self.on_command(command),
                    None if self.files.is_empty() => return,
                    None => {}
                },
                _ = timer.tick() => self.on_tick(),
            }
        }
    }

    fn peer(&self) -> String {
        self.config.resource_addr.clone()
    }

    /// Dials until connected. Commands that arrive meanwhile are applied between attempts, so a
    /// file can be paused or cancelled while the server is unreachable; with no file left, it
    /// stops dialling.
    async fn connect(&mut self, rx: &mut mpsc::UnboundedReceiver<Command>) {
        let mut redial = Backoff::fixed(REDIAL_PAUSE);
        loop {
            let attempt =
                crate::timer::timeout(self.config.chunk_timeout, self.network.connect(self.peer()));
            match attempt.await {
                Ok(Ok(stream)) => {
                    let (reader, sender) = framed(
                        stream,
                        FrameCodec::with_limit(Framing::Resource, u32::MAX as usize),
                        FrameCodec::upstream(Framing::Resource),
                    );
                    self.tracer.emit(Event::ConnOpened { peer: self.peer() });
                    self.conn = Some(Connection {
                        reader,
                        sender,
                        last_heard: Instant::now(),
                    });
                    self.ask_status();
                    return;
                }
                Ok(Err(err)) => self.tracer.emit(Event::ConnClosed {
                    peer: self.peer(),
                    reason: format!("connect failed: {err}"),
                }),
                Err(_) => self.tracer.emit(Event::ConnClosed {
                    peer: self.peer(),
                    reason: "connect timed out".into(),
                }),
            }
            redial.wait().await;
            while let Ok(command) = rx.try_recv() {
                self.on_command(command);
            }
            if self.files.is_empty() {
                return;
            }
        }
    }

    /// On a fresh connection, asks about every file that already sent something.
    fn ask_status(&mut self) {
        let names: Vec<String> = self
            .files
            .iter()
            .filter(|(_, b)| b.ever_sent())
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            let frame = Frame::json(
                ids::UPLOAD_STATUS_REQ,
                &UploadStatusReq {
                    name: name.clone(),
                    uid: self.config.uid,
                    token: self.config.token.clone(),
                },
            );
            self.send(frame, &name, 0);
            if let Some(books) = self.files.get_mut(&name) {
                books.querying = Some(Instant::now());
                books.continuing = true;
            }
        }
    }

    fn send(&self, frame: Frame, file: &str, seq: u32) {
        let Some(conn) = &self.conn else { return };
        let hint = ChunkHint {
            name: file.to_owned(),
            seq,
        };
        self.tracer
            .emit(Event::frame(Dir::Tx, &self.peer(), &frame, Some(&hint)));
        conn.sender.send(frame);
    }

    /// The connection died: whatever was in flight may or may not have arrived.
    fn disconnected(&mut self, reason: String) {
        self.tracer.emit(Event::ConnClosed {
            peer: self.peer(),
            reason,
        });
        self.conn = None;
        self.orphans.clear();
        let why = self.adaptive.as_mut().and_then(AdaptiveWindow::reset);
        self.window_changed(why);
        let now = Instant::now();
        for books in self.files.values_mut() {
            let seqs: Vec<u32> = books.in_flight.keys().copied().collect();
            books.in_flight.clear();
            books.resend.extend(seqs.into_iter().map(|s| (s, now)));
            books.querying = None;
        }
    }

    /// Pause, resume and cancel may come before the file reaches the engine (its image message
    /// is still waiting for the chat server's answer); they are kept and applied on arrival.
    fn on_command(&mut self, command: Command) {
        match command {
            Command::Add(upload) => {
                let name = upload.file.name.clone();
                match self.early.remove(&name) {
                    Some(Early::Cancelled) => {
                        self.tracer.emit(Event::UploadCancelled { file: name });
                        return;
                    }
                    Some(Early::Paused) => {
                        let mut books = FileBooks::new(upload);
                        books.paused = true;
                        self.files.insert(name.clone(), books);
                    }
                    None => {
                        self.files.insert(name.clone(), FileBooks::new(upload));
                    }
                }
                self.turn.push_back(name);
            }
            Command::Pause(name) => {
                match self.files.get_mut(&name) {
                    Some(books) => books.paused = true,
                    None => {
                        self.early.insert(name.clone(), Early::Paused);
                    }
                }
                self.tracer.emit(Event::UploadPaused { file: name });
            }
            Command::Resume(name) => {
                match self.files.get_mut(&name) {
                    Some(books) => {
                        books.paused = false;
                        books.continuing = books.ever_sent();
                    }
                    None => {
                        self.early.remove(&name);
                    }
                }
                self.tracer.emit(Event::UploadResumed { file: name });
            }
            Command::Cancel(name) => {
                if self.files.contains_key(&name) {
                    self.purge(&name);
                    self.tracer.emit(Event::UploadCancelled { file: name });
                } else {
                    self.early.insert(name, Early::Cancelled);
                }
            }
        }
    }

    fn window_size(&self) -> usize {
        self.adaptive
            .as_ref()
            .map_or(MAX_CWND, AdaptiveWindow::window)
    }

    /// Traces the adaptive window's new size when it changed.
    fn window_changed(&self, reason: Option<&'static str>) {
        if let (Some(reason), Some(adaptive)) = (reason, &self.adaptive) {
            self.tracer.emit(Event::WindowChanged {
                window: adaptive.window(),
                reason,
            });
        }
    }

    fn in_flight(&self) -> usize {
        self.orphans.len()
            + self
                .files
                .values()
                .map(|b| b.in_flight.len())
                .sum::<usize>()
    }

    /// Sends chunks, one file at a time in turn, while the window has room.
    fn fill_window(&mut self) {
        if self.conn.is_none() {
            return;
        }
        let now = Instant::now();
        while self.window.has_room(self.in_flight(), self.window_size()) {
            let Some(position) = (0..self.turn.len()).find(|&i| {
                self.files
                    .get(&self.turn[i])
                    .and_then(|b| b.sendable(now))
                    .is_some()
            }) else {
                return;
            };
            let name = self.turn.remove(position).expect("position is in range");
            self.turn.push_back(name.clone());
            let seq = self.files[&name].sendable(now).expect("checked just above");
            let retransmit = self.files[&name].resend.contains_key(&seq);
            self.send_chunk(&name, seq, retransmit);
        }
    }

    fn send_chunk(&mut self, name: &str, seq: u32, retransmit: bool) {
        // Silence while nothing was asked says nothing about the connection: the wait for a
        // reply starts with the first request after an idle spell.
        if self.in_flight() == 0 {
            if let Some(conn) = self.conn.as_mut() {
                conn.last_heard = Instant::now();
            }
        }
        let uid = self.config.uid;
        let token = self.config.token.clone();
        let books = self.files.get_mut(name).expect("caller holds a live file");
        let range = books.plan.range(seq).expect("seq within the file");
        let data = &books.file.data[range.start as usize..range.end as usize];
        let first = seq == 1;
        let id = match (first, books.continuing) {
            (true, _) => ids::FILE_INFO_SYNC_REQ,
            (false, true) => ids::IMG_CHAT_CONTINUE_UPLOAD_REQ,
            (false, false) => ids::IMG_CHAT_UPLOAD_REQ,
        };
        // Upstream sends sizes as strings on 1041/1037 and as numbers on 1043.
        let size = |v| {
            if id == ids::IMG_CHAT_CONTINUE_UPLOAD_REQ {
                WireSize::number(v)
            } else {
                WireSize::string(v)
            }
        };
        let req = ChunkReq {
            name: name.to_owned(),
            unique_id: first.then(|| format!("{uid}-{}", books.message_id)),
            seq,
            trans_size: size(range.end),
            total_size: size(books.plan.total),
            // Sent on every chunk, not just the first as upstream does, so that a chunk that
            // travels on a fresh connection after a reconnect is still authenticated.
            token: Some(token),
            md5: books.md5.clone(),
            uid,
            data: base64::engine::general_purpose::STANDARD.encode(data),
            message_id: books.message_id,
            sender: uid,
            receiver: books.to,
            last: i32::from(books.plan.is_last(seq)),
            last_seq: (!first).then_some(books.plan.max_seq()),
            thread_id: Some(books.thread_id),
        };
        books.resend.remove(&seq);
        if seq == books.next_new {
            books.next_new += 1;
        }
        if !first {
            books.continuing = false;
        }
        books.in_flight.insert(seq, Instant::now());
        self.window.sent();
        self.send(Frame::json(id, &req), name, seq);
        let in_flight = self.in_flight();
        if let Some(adaptive) = self.adaptive.as_mut() {
            adaptive.sent((name.to_owned(), seq), Instant::now(), in_flight);
        }
        self.tracer.emit(Event::ChunkSent {
            file: name.to_owned(),
            seq,
            id,
            in_flight,
            retransmit,
        });
    }

    fn on_reply(&mut self, frame: Frame) {
        let hint = ChunkHint::from_body(&frame.body);
        self.tracer
            .emit(Event::frame(Dir::Rx, &self.peer(), &frame, Some(&hint)));
        if let Some(conn) = self.conn.as_mut() {
            conn.last_heard = Instant::now();
        }
        match frame.id {
            ids::FILE_INFO_SYNC_RSP
            | ids::IMG_CHAT_UPLOAD_RSP
            | ids::IMG_CHAT_CONTINUE_UPLOAD_RSP => {
                self.window.replied();
                match frame.parse::<ChunkRsp>() {
                    Ok(rsp) => self.on_chunk_reply(rsp),
                    Err(err) => self.bad_input(frame.id, err.to_string()),
                }
            }
            ids::UPLOAD_STATUS_RSP => match frame.parse::<UploadStatusRsp>() {
                Ok(rsp) => self.on_status(rsp),
                Err(err) => self.bad_input(frame.id, err.to_string()),
            },
            other => self.bad_input(other, format!("unexpected message id {other}")),
        }
    }

    fn bad_input(&self, id: u16, error: String) {
        self.tracer.emit(Event::BadInput {
            peer: self.peer(),
            id,
            error,
        });
    }

    fn on_status(&mut self, rsp: UploadStatusRsp) {
        let Some(books) = self.files.get_mut(&rsp.name) else {
            return;
        };
        if books.querying.take().is_none() {
            return;
        }
        let now = Instant::now();
        if rsp.error == ErrorCode::FileNotExists.code() {
            // The server holds nothing of it: start the file over, as a new attempt.
            books.restart();
            self.tracer.emit(Event::UploadRetry {
                file: rsp.name.clone(),
                seq: 0,
                error: rsp.error,
                scope: RetryScope::File,
            });
        } else if rsp.error != 0 {
            // It cannot say: as when 1051 goes unanswered, send again whatever is not acked.
            books.resend_unacked(now);
        } else {
            let held: BTreeSet<u32> = rsp
                .held
                .iter()
                .flat_map(|[a, b]| *a..=*b)
                .filter(|s| books.plan.contains(*s))
                .collect();
            for seq in 1..books.next_new {
                if held.contains(&seq) {
                    books.resend.remove(&seq);
                    books.acked.insert(seq);
                } else if !books.acked.contains(&seq) {
                    books.resend.insert(seq, now);
                }
            }
        }
        let (held, of) = (books.acked.len() as u32, books.plan.max_seq());
        self.tracer.emit(Event::UploadStatus {
            file: rsp.name.clone(),
            held,
            of,
            error: rsp.error,
        });
        self.after_ack(&rsp.name);
    }

    fn on_chunk_reply(&mut self, rsp: ChunkRsp) {
        let key = (rsp.name.clone(), rsp.seq);
        if self.orphans.remove(&key).is_some() {
            if let Some(adaptive) = self.adaptive.as_mut() {
                adaptive.forget(&key);
            }
            return;
        }
        let Some(books) = self.files.get_mut(&rsp.name) else {
            return; // a late reply for a file that already finished
        };
        if books.in_flight.remove(&rsp.seq).is_none() {
            return; // a duplicate or stale reply frees no slot
        }
        let in_flight = self.in_flight();
        self.tracer.emit(Event::ChunkAcked {
            file: rsp.name.clone(),
            seq: rsp.seq,
            error: rsp.error,
            in_flight,
        });
        self.window_learns(&key, rsp.error);
        if rsp.error != 0 {
            // The file's answer to the error (retry the chunk, start over, fail) comes before
            // anything else of it goes out: a resend ahead of it was a chunk sent by a file still
            // blocked by its error (explore --window adaptive, seed 2998, `purge`).
            self.on_chunk_error(&rsp.name, rsp.seq, rsp.error);
            self.resend_lost_early();
            return;
        }
        self.resend_lost_early();
        let books = self.files.get_mut(&rsp.name).expect("looked up above");
        books.acked.insert(rsp.seq);
        self.after_ack(&rsp.name);
    }

    /// The adaptive window learns from a reply to a chunk in flight: a round trip, or a refusal.
    fn window_learns(&mut self, key: &(String, u32), error: i32) {
        let Some(adaptive) = self.adaptive.as_mut() else {
            return;
        };
        let now = Instant::now();
        let why = match (error, on_error(error)) {
            (0, _) => adaptive.acked(key, now),
            (_, OnError::RetryChunk) => adaptive.refused(key, now),
            _ => {
                adaptive.forget(key);
                None
            }
        };
        self.window_changed(why);
    }

    /// Updates progress and finishes the file when every chunk is acked.
    fn after_ack(&mut self, name: &str) {
        let Some(books) = self.files.get_mut(name) else {
            return;
        };
        while books.acked.contains(&(books.contiguous + 1)) {
            books.contiguous += 1;
        }
        let percent = books.percent();
        if books.last_percent != Some(percent) && !books.acked.is_empty() {
            books.last_percent = Some(percent);
            self.tracer.emit(Event::Progress {
                file: name.to_owned(),
                percent,
            });
        }
        if books.done() {
            self.tracer.emit(Event::UploadAcked {
                file: name.to_owned(),
            });
            self.forget(name);
            self.after_completion();
        }
    }

    /// A file has just completed. The reference needs nothing here: the round-robin in
    /// `fill_window` already serves the files still waiting.
    fn after_completion(&mut self) {
        if self.config.profile.has(Quirk::NullBatchSend) {
            // seed: the ID_IMG_CHAT_UPLOAD_RSP handler, on completion: `auto free_file =
            // UserMgr::GetInstance()->GetFreeTransFile(); BatchSend(free_file);` and BatchSend
            // dereferences `free_file` even when no file is waiting (bug 6): the upload task dies.
            // When there is one, `fill_window` sends it next, as BatchSend would.
            let free_file = self.turn.front();
            let _next = free_file.expect(
                "seed bug 6: BatchSend(GetFreeTransFile()) with no file waiting (a null pointer)",
            );
        }
    }

    fn on_chunk_error(&mut self, name: &str, seq: u32, error: i32) {
        let books = self.files.get_mut(name).expect("caller checked");
        let decision = match on_error(error) {
            OnError::RetryChunk => {
                let tries = books.chunk_retries.entry(seq).or_default();
                *tries += 1;
                if *tries <= CHUNK_RETRIES {
                    books.resend.insert(seq, Instant::now() + RETRY_BACKOFF);
                    Some(RetryScope::Chunk)
                } else {
                    None
                }
            }
            OnError::RestartFile => {
                books.file_retries += 1;
                if books.file_retries <= FILE_RETRIES {
                    books.restart();
                    Some(RetryScope::File)
                } else {
                    None
                }
            }
            OnError::Fail => None,
        };
        match decision {
            Some(scope) => {
                self.tracer.emit(Event::UploadRetry {
                    file: name.to_owned(),
                    seq,
                    error,
                    scope,
                });
                if scope == RetryScope::File {
                    // Replies to the old attempt's chunks still on the wire would be taken for
                    // acks of the new one (they name the same file and seqs): leave them behind
                    // with the connection.
                    self.disconnected(format!("restarting {name}"));
                }
            }
            None => {
                self.purge(name);
                self.tracer.emit(Event::UploadFailed {
                    file: name.to_owned(),
                    error,
                    reason: format!("seq {seq} refused by the resource server"),
                });
            }
        }
    }

    /// Drops a file's books and queued chunks; its chunks still on the wire keep their slots.
    fn purge(&mut self, name: &str) {
        if let Some(books) = self.files.get(name) {
            for (seq, sent) in &books.in_flight {
                self.orphans.insert((name.to_owned(), *seq), *sent);
            }
        }
        self.forget(name);
    }

    fn forget(&mut self, name: &str) {
        self.files.remove(name);
        self.turn.retain(|n| n != name);
    }

    /// Retransmits overdue chunks, gives up on unanswered status queries, and replaces a
    /// connection that has gone silent with chunks outstanding.
    fn on_tick(&mut self) {
        if self.config.profile.has(Quirk::NoRetransmit) {
            // seed: FileTcpMgr has no timer at all (bug 4): `_flighting_seqs` only ever shrinks on
            // a reply, so a chunk or reply that is lost is never sent again and a connection that
            // went silent is never replaced.
            return;
        }
        let Some(conn) = &self.conn else { return };
        let now = Instant::now();
        let timeout = self.config.chunk_timeout;
        let waiting = self.in_flight() > 0 || self.files.values().any(|b| b.querying.is_some());
        if waiting && now.duration_since(conn.last_heard) >= timeout * 3 {
            self.disconnected("no reply from the resource server".into());
            return;
        }
        if self
            .orphans
            .values()
            .any(|sent| now.duration_since(*sent) >= timeout)
        {
            // A purged file's chunk is still unanswered: its slot is only free once the request
            // is gone from the wire, which means leaving this connection.
            self.disconnected("unanswered chunks of a purged file".into());
            return;
        }
        for books in self.files.values_mut() {
            if books
                .querying
                .is_some_and(|at| now.duration_since(at) >= timeout)
            {
                // The server does not answer 1051 (an upstream server does not know it): fall
                // back to sending again whatever was not acked.
                books.querying = None;
                books.resend_unacked(now);
            }
        }
        let rto = self.adaptive.as_ref().map_or(timeout, |a| a.rto(timeout));
        self.resend_lost(now, rto);
    }

    /// With the adaptive window, a reply may show an earlier chunk lost: no need to wait for
    /// the timer.
    fn resend_lost_early(&mut self) {
        let live = self.conn.is_some() && self.adaptive.is_some();
        if live && !self.config.profile.has(Quirk::NoRetransmit) {
            self.resend_lost(Instant::now(), Duration::MAX);
        }
    }

    /// Sends again every chunk unanswered for `rto`, and with the adaptive window every chunk
    /// it deems lost because a later one was answered (RACK).
    fn resend_lost(&mut self, now: Instant, rto: Duration) {
        let adaptive = self.adaptive.as_ref();
        let lost = |sent: Instant| {
            now.duration_since(sent) >= rto || adaptive.is_some_and(|a| a.deemed_lost(sent, now))
        };
        let overdue: Vec<(String, u32, Instant)> = self
            .files
            .iter()
            .flat_map(|(name, books)| {
                books
                    .in_flight
                    .iter()
                    .filter(|(_, sent)| lost(**sent))
                    .map(move |(seq, sent)| (name.clone(), *seq, *sent))
            })
            .collect();
        let timed_out = overdue
            .iter()
            .any(|(_, _, sent)| now.duration_since(*sent) >= rto);
        for (name, seq, sent) in overdue {
            let why = self.adaptive.as_mut().and_then(|a| a.lost(sent, now));
            self.window_changed(why);
            self.send_chunk(&name, seq, true);
        }
        if let (true, Some(adaptive)) = (timed_out, self.adaptive.as_mut()) {
            adaptive.timed_out();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_counter_lets_duplicate_replies_open_the_window_past_max_cwnd() {
        let mut reference = WindowBooks::of(&Profile::reference());
        let mut seed = WindowBooks::of(&Profile::seed());
        let mut in_flight = 0;
        while seed.has_room(in_flight, MAX_CWND) {
            seed.sent();
            reference.sent();
            in_flight += 1;
        }
        assert_eq!(in_flight, MAX_CWND);
        // One chunk is answered, and its reply arrives twice.
        in_flight -= 1;
        for _ in 0..2 {
            seed.replied();
            reference.replied();
        }
        // The reference counts what is really in flight: one slot.
        assert!(reference.has_room(in_flight, MAX_CWND));
        assert!(!reference.has_room(in_flight + 1, MAX_CWND));
        // The seed's counter freed two: a sixth chunk may fly.
        assert!(seed.has_room(in_flight + 1, MAX_CWND));
        assert_eq!(seed, WindowBooks::SharedCounter(MAX_CWND as i64 - 2));
    }
}
