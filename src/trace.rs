//! The trace: every party writes structured events (when, which host, what happened) to one sink.
//! In the simulation the sink stamps simulated time and keeps the events for the oracles; on real
//! TCP it forwards them to `tracing`. Parties only write; they never read the trace back.

use crate::protocol::body::ChunkHint;
use crate::protocol::{ids, Frame};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What happened. Field names are the trace's stable vocabulary: oracles and snapshots read them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    // --- connections and frames (any party) ---
    ConnOpened {
        peer: String,
    },
    ConnClosed {
        peer: String,
        reason: String,
    },
    /// A frame put on or taken off a socket; `file`/`seq` when it is a chunk.
    Frame {
        dir: Dir,
        peer: String,
        id: u16,
        name: &'static str,
        len: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u32>,
    },
    /// A request was refused or could not be read; the party went on.
    BadInput {
        peer: String,
        id: u16,
        error: String,
    },

    // --- client ---
    LoggedIn {
        uid: i32,
    },
    LoggedOut {
        uid: i32,
    },
    LoginFailed {
        uid: i32,
        error: i32,
    },
    /// A text the user sent: one per item (per part when the reference splits a long one),
    /// including items the seed's batcher loses without a word (bug 12).
    TextSent {
        from: i32,
        to: i32,
        unique_id: String,
        content: String,
    },
    TextAcked {
        unique_id: String,
        message_id: i64,
    },
    TextReceived {
        from: i32,
        to: i32,
        message_id: i64,
        unique_id: String,
        content: String,
    },
    ImageQueued {
        file: String,
        from: i32,
        to: i32,
        size: u64,
        md5: String,
    },
    ImageAnnounced {
        file: String,
        message_id: i64,
    },
    /// `in_flight` counts the client's whole window after this send, across all files.
    ChunkSent {
        file: String,
        seq: u32,
        id: u16,
        in_flight: usize,
        retransmit: bool,
    },
    ChunkAcked {
        file: String,
        seq: u32,
        error: i32,
        in_flight: usize,
    },
    /// The adaptive upload window took a new size (chunks), and why: `start`, `slow_start`,
    /// `slow_start_end`, `grow`, `queue`, `loss`, `error_reply`, `reconnect`. The seed's
    /// fixed window never writes it.
    WindowChanged {
        window: usize,
        reason: &'static str,
    },
    Progress {
        file: String,
        percent: u32,
    },
    UploadAcked {
        file: String,
    },
    UploadFailed {
        file: String,
        error: i32,
        reason: String,
    },
    /// The client will send this chunk or the whole file again after an error reply.
    UploadRetry {
        file: String,
        seq: u32,
        error: i32,
        scope: RetryScope,
    },
    UploadPaused {
        file: String,
    },
    UploadResumed {
        file: String,
    },
    UploadCancelled {
        file: String,
    },
    /// After a reconnect the server said which chunks it holds (extension 1051/1052).
    UploadStatus {
        file: String,
        held: u32,
        of: u32,
        error: i32,
    },
    /// The sender learned from the chat server that its upload is complete.
    UploadNotified {
        file: String,
        message_id: i64,
    },
    /// The receiver got the 1039 push.
    ImagePushReceived {
        file: String,
        message_id: i64,
        from: i32,
        size: u64,
    },
    DownloadDone {
        file: String,
        message_id: i64,
        size: u64,
        md5: String,
    },
    DownloadFailed {
        file: String,
        message_id: i64,
        error: i32,
        reason: String,
    },

    // --- chat server ---
    SessionStarted {
        uid: i32,
    },
    SessionEnded {
        uid: i32,
        reason: String,
    },
    TextStored {
        message_id: i64,
        from: i32,
        to: i32,
        unique_id: String,
    },
    ImageMessageStored {
        message_id: i64,
        from: i32,
        to: i32,
        file: String,
        msg_type: i32,
        status: i32,
    },
    NotifyReceived {
        message_id: i64,
        file: String,
        first: bool,
    },
    Pushed {
        to: i32,
        id: u16,
        message_id: i64,
        queued: bool,
    },

    // --- resource server ---
    /// `path` is where the bytes went, relative to the store's root (`<owner>/<name>` when the name
    /// is a plain name); `writer` is the uid whose token the connection presented, if any: the user
    /// who really wrote, which the reference requires to be the `owner` (seed bug 9 does not).
    ChunkStored {
        file: String,
        seq: u32,
        owner: i32,
        path: String,
        writer: Option<i32>,
    },
    ChunkRefused {
        file: String,
        seq: u32,
        error: i32,
        reason: String,
    },
    /// A group of chunks made durable together (one sync per file, one commit): only groups of
    /// two or more, which only a `chunk_group` above 1 forms (`serve`).
    ChunksCommitted {
        chunks: u32,
        files: u32,
    },
    UploadCommitted {
        file: String,
        owner: i32,
        size: u64,
        md5: String,
    },
    UploadRejected {
        file: String,
        reason: String,
    },
    NotifyAttempt {
        file: String,
        message_id: i64,
        attempt: u32,
        ok: bool,
        detail: String,
    },
    /// A chat server's call to the other chat server (two-server world): `method` is
    /// `text` (NotifyTextChatMsg), `image` (NotifyChatImgMsg, a push to wake) or `kick`
    /// (NotifyKickUser), about user `uid`, to chat server `server`.
    Forward {
        method: String,
        uid: i32,
        server: String,
        attempt: u32,
        ok: bool,
        detail: String,
    },
    /// The chat server ended `uid`'s session because the user logged in on another server.
    Kicked {
        uid: i32,
    },
    DownloadServed {
        file: String,
        seq: u32,
    },

    // --- the world and the fault proxy ---
    /// An injected fault took effect.
    Fault {
        kind: String,
        detail: String,
    },
    /// A party panicked (caught by the world's panic hook).
    Panicked {
        message: String,
    },
    /// A host's main task returned an error, which stops the simulation.
    HostFailed {
        error: String,
    },
    /// A server died on an input, as the deployed C++ server does on an uncaught exception
    /// (`upstream` profile): `input` names the frame, `reason` the upstream code that fails.
    /// The world then crashes the host; it stays down until a fault restarts it.
    ServerDied {
        input: String,
        reason: String,
    },
    /// The world's account, at the end of a run, of one scenario action: when it was due, when
    /// its user carried it out, and when it reached a final outcome (`outcome`), or what it was
    /// still waiting for. The `liveness` oracle judges these.
    ActionOutcome {
        user: i32,
        action: String,
        at_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        performed_ms: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        finished_ms: Option<u64>,
        outcome: String,
        /// The longest time the action went without progress after the last fault ended.
        stall_from_ms: u64,
        longest_stall_ms: u64,
    },
    /// The world's account of the faults: the last moment a fault fired or healed (the last heal,
    /// release, restart completion, `disk_ok` or frame fault) and how long an action may go
    /// without progress after it.
    LivenessBound {
        last_heal_ms: u64,
        liveness_ms: u64,
    },
    /// At the end of a run, one scenario fault: how many times it fired (0: never) and the
    /// first few of those times.
    FaultOutcome {
        fault: String,
        optional: bool,
        fired: usize,
        times_ms: Vec<u64>,
    },

    // --- the world, at the end of a run: final state read from the stores ---
    FinalMessage {
        message_id: i64,
        from: i32,
        to: i32,
        msg_type: i32,
        status: i32,
        content: String,
    },
    FinalFile {
        file: String,
        owner: i32,
        size: u64,
        md5: String,
        complete: bool,
        /// Seqs the server's upload state lists as stored.
        received: Vec<u32>,
        /// A short hash of every chunk of the bytes on disk, seq 1 first.
        chunk_hashes: Vec<String>,
    },
    /// A scenario source file: what the integrity oracle compares against.
    SourceFile {
        file: String,
        size: u64,
        md5: String,
        /// A short hash of every chunk, seq 1 first, for the durable-ack check.
        chunk_hashes: Vec<String>,
    },

    // --- resource server: binding an upload to its chat message (issue 11) ---
    /// The first stored chunk of message `message_id` created its upload: `owner` uploads `file`
    /// for `receiver`, stored at `path`. `checked` is false when the server had no message store
    /// to read, so the binding to the chat message was not checked.
    UploadBound {
        message_id: i64,
        file: String,
        owner: i32,
        receiver: i32,
        path: String,
        checked: bool,
    },
    /// A 1046 answered for message `message_id` with a picture: what a receiver is told to
    /// download.
    DownloadInfoServed {
        message_id: i64,
        file: String,
        sender: i32,
        receiver: i32,
        size: u64,
        md5: String,
    },
    /// An unfinished upload had no chunk for longer than the upload TTL: its file was deleted and
    /// its further chunks are refused.
    UploadExpired {
        message_id: i64,
        file: String,
        idle_s: u64,
    },

    // --- probes: requests of the scenario's own making (`probe`, `raw` actions) ---
    /// A user put probe number `probe` on its own socket to `server`, on its `conn`-th
    /// connection to that server (a new one after a close): `id` is the header's message id (a
    /// raw probe's first two bytes, 0 with fewer), `body` the text sent (a raw probe's bytes in
    /// hex). The probe waits `deadline_ms` for an answer; `expect_*` are what its author expects,
    /// for the `replies` oracle.
    ProbeSent {
        probe: usize,
        server: String,
        conn: u32,
        id: u16,
        raw: bool,
        body: String,
        deadline_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        expect_reply: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expect_error: Option<i32>,
        expect_closed: bool,
    },
    /// What became of probe `probe`, `waited_ms` after it was sent (see [`ProbeOutcome`]); for a
    /// reply, its message `id`, its `error` field if it has one and its `body`.
    ProbeResult {
        probe: usize,
        outcome: ProbeOutcome,
        waited_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        detail: String,
    },
}

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// A frame came back: the answer.
    Reply,
    /// The server closed the connection (or it was reset) before any answer.
    Closed,
    /// Nothing came back within the deadline; the prober then closed the connection, so that a
    /// late answer is not taken for the next probe's.
    Silent,
    /// No connection could be opened: the request never left.
    Unreachable,
    /// Bytes came back that are not a frame of the server's framing.
    Garbled,
}

impl TraceWord for ProbeOutcome {
    const ALL: &'static [ProbeOutcome] = &[
        ProbeOutcome::Reply,
        ProbeOutcome::Closed,
        ProbeOutcome::Silent,
        ProbeOutcome::Unreachable,
        ProbeOutcome::Garbled,
    ];
    fn word(self) -> &'static str {
        match self {
            ProbeOutcome::Reply => "reply",
            ProbeOutcome::Closed => "closed",
            ProbeOutcome::Silent => "silent",
            ProbeOutcome::Unreachable => "unreachable",
            ProbeOutcome::Garbled => "garbled",
        }
    }
}

/// Which way a frame went through the socket of the host that writes the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// Put on the socket ("tx").
    Tx,
    /// Taken off the socket ("rx").
    Rx,
}

/// What the client sends again after an error reply: one chunk, or the whole file from seq 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryScope {
    Chunk,
    File,
}

/// A closed set of values a trace field takes, with the words the trace writes for them.
pub trait TraceWord: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn word(self) -> &'static str;

    /// The words of every value, in declaration order.
    fn words() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.word()).collect()
    }
}

impl TraceWord for Dir {
    const ALL: &'static [Dir] = &[Dir::Tx, Dir::Rx];
    fn word(self) -> &'static str {
        match self {
            Dir::Tx => "tx",
            Dir::Rx => "rx",
        }
    }
}

impl TraceWord for RetryScope {
    const ALL: &'static [RetryScope] = &[RetryScope::Chunk, RetryScope::File];
    fn word(self) -> &'static str {
        match self {
            RetryScope::Chunk => "chunk",
            RetryScope::File => "file",
        }
    }
}

impl Event {
    /// A frame event; `hint` names the file and seq when the body carries them.
    pub fn frame(dir: Dir, peer: &str, frame: &Frame, hint: Option<&ChunkHint>) -> Event {
        Event::Frame {
            dir,
            peer: peer.to_owned(),
            id: frame.id,
            name: ids::name(frame.id),
            len: frame.body.len(),
            file: hint.filter(|h| !h.name.is_empty()).map(|h| h.name.clone()),
            seq: hint.filter(|h| h.seq > 0).map(|h| h.seq),
        }
    }
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub t_ms: u64,
    pub host: String,
    #[serde(flatten)]
    pub event: Event,
}

pub trait TraceSink: Send + Sync + 'static {
    fn record(&self, host: &str, event: Event);
}

/// A party's handle on the trace: a sink plus the host name it writes as.
#[derive(Clone)]
pub struct Tracer {
    host: Arc<str>,
    sink: Arc<dyn TraceSink>,
}

impl Tracer {
    pub fn new(host: &str, sink: Arc<dyn TraceSink>) -> Self {
        Tracer {
            host: host.into(),
            sink,
        }
    }

    /// A tracer that logs through `tracing`, for real servers and clients.
    pub fn logging(host: &str) -> Self {
        Tracer::new(host, Arc::new(LogSink))
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn emit(&self, event: Event) {
        self.sink.record(&self.host, event);
    }
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").field("host", &self.host).finish()
    }
}

/// Forwards events to `tracing` at debug level (frames) or info (everything else).
pub struct LogSink;

impl TraceSink for LogSink {
    fn record(&self, host: &str, event: Event) {
        // Two frames per chunk: not worth a JSON line unless someone reads it.
        let is_frame = matches!(event, Event::Frame { .. });
        let wanted = match is_frame {
            true => tracing::enabled!(tracing::Level::DEBUG),
            false => tracing::enabled!(tracing::Level::INFO),
        };
        if !wanted {
            return;
        }
        let line = serde_json::to_string(&event).unwrap_or_default();
        if is_frame {
            tracing::debug!(host, "{line}");
        } else {
            tracing::info!(host, "{line}");
        }
    }
}

/// JSON Lines: one record per line, fields in declaration order, so equal traces are equal bytes.
pub fn to_jsonl(records: &[Record]) -> String {
    let mut out = String::new();
    for record in records {
        out.push_str(&serde_json::to_string(record).expect("trace records serialise"));
        out.push('\n');
    }
    out
}
