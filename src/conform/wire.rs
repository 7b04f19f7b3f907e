//! Raw frames over a real TCP connection, with a timeout on every wait and a transcript of
//! everything exchanged.
//!
//! The server under test may send anything: a reply is read with a generous but bounded length
//! limit, and whatever does not decode becomes [`Incoming::Garbage`], never a panic.

use super::verdict::{fail, Finding};
use crate::net::{BoxStream, Network};
use crate::protocol::{ids, Frame, FrameCodec, FrameError, Framing};
use crate::trace::{Event, TraceSink};
use bytes::BytesMut;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// Largest reply body read from a server: a download chunk is about 44 KB, so 1 MiB leaves room
/// for any honest reply while a garbage header cannot make us wait for gigabytes.
const MAX_REPLY_BODY: usize = 1 << 20;
/// A transcript keeps at most this many lines; a case that exchanges more keeps the first ones.
const MAX_TRANSCRIPT_LINES: usize = 120;
/// JSON summaries are cut at this many characters.
const MAX_SUMMARY_CHARS: usize = 400;

/// The frames a case exchanged, in order, as readable lines. Shared by all of a case's connections.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    lines: Arc<Mutex<(Vec<String>, usize)>>,
}

impl Transcript {
    pub fn push(&self, line: String) {
        let mut guard = self.lines.lock();
        let (lines, dropped) = &mut *guard;
        if lines.len() < MAX_TRANSCRIPT_LINES {
            lines.push(line);
        } else {
            *dropped += 1;
        }
    }

    /// Everything recorded so far; empties the transcript.
    pub fn take(&self) -> Vec<String> {
        let mut guard = self.lines.lock();
        let (lines, dropped) = &mut *guard;
        let mut out = std::mem::take(lines);
        if *dropped > 0 {
            out.push(format!("... {dropped} more lines not kept"));
        }
        *dropped = 0;
        out
    }
}

/// A trace sink for the fault proxy of a case: each fault the proxy applies becomes a `!! proxy`
/// line of the transcript, where it happened among the frames, and is kept for the case to count.
#[derive(Debug, Default)]
pub struct FaultLog {
    transcript: Transcript,
    faults: Mutex<Vec<(String, String)>>,
}

impl FaultLog {
    pub fn new(transcript: Transcript) -> Self {
        FaultLog {
            transcript,
            faults: Mutex::default(),
        }
    }

    /// The faults applied so far, as (kind, detail): `("frame_drop", "up 1037 a.bin seq 3")`.
    pub fn faults(&self) -> Vec<(String, String)> {
        self.faults.lock().clone()
    }

    /// How many faults of `kind` the proxy applied.
    pub fn count(&self, kind: &str) -> usize {
        self.faults().iter().filter(|(k, _)| k == kind).count()
    }
}

impl TraceSink for FaultLog {
    fn record(&self, _host: &str, event: Event) {
        if let Event::Fault { kind, detail } = event {
            self.transcript.push(format!("!! proxy {kind}: {detail}"));
            self.faults.lock().push((kind, detail));
        }
    }
}

/// What came from the server.
#[derive(Debug)]
pub enum Incoming {
    Frame(Frame),
    /// The server closed the connection (EOF) or reset it, between frames.
    Closed(String),
    /// Nothing within the wait.
    TimedOut(Duration),
    /// Bytes that are not a frame of this framing, or a frame cut off by a close.
    Garbage(String),
}

/// One connection to a server under test.
pub struct Conn {
    label: String,
    /// Only ever used through `&mut` ([`io`]); the mutex keeps `Conn` `Sync`, as a boxed stream
    /// (a proxied connection) is not.
    stream: Mutex<BoxStream>,
    buf: BytesMut,
    read_codec: FrameCodec,
    write_codec: FrameCodec,
    transcript: Transcript,
    timeout: Duration,
    /// After EOF or garbage nothing more can be read.
    finished: bool,
}

/// The stream `connecting` to `addr` yields within `timeout`, or why there is none.
async fn connected_within<S>(
    timeout: Duration,
    addr: &str,
    connecting: impl std::future::Future<Output = std::io::Result<S>>,
) -> Result<S, String> {
    match crate::timer::timeout(timeout, connecting).await {
        Err(_) => Err(format!("no connection to {addr} within {timeout:?}")),
        Ok(Err(err)) => Err(format!("cannot connect to {addr}: {err}")),
        Ok(Ok(stream)) => Ok(stream),
    }
}

impl Conn {
    /// Connects within `timeout`. The caller decides what a failure means for the case.
    pub async fn connect(
        addr: &str,
        framing: Framing,
        label: String,
        transcript: Transcript,
        timeout: Duration,
    ) -> Result<Conn, String> {
        let stream = connected_within(timeout, addr, TcpStream::connect(addr)).await?;
        // Small frames must leave at once so that split-frame cases really split.
        let _ = stream.set_nodelay(true);
        transcript.push(format!("-- {label}: connected to {addr}"));
        Ok(Self::over(
            Box::pin(stream),
            framing,
            label,
            transcript,
            timeout,
        ))
    }

    /// Connects within `timeout` through `network`, for example the fault proxy wrapping
    /// [`crate::net::TokioNetwork`]: the case then talks to the server across the proxy.
    pub async fn connect_via(
        network: &Arc<dyn Network>,
        addr: &str,
        framing: Framing,
        label: String,
        transcript: Transcript,
        timeout: Duration,
    ) -> Result<Conn, String> {
        let stream = connected_within(timeout, addr, network.connect(addr.to_owned())).await?;
        transcript.push(format!(
            "-- {label}: connected to {addr} through the fault proxy"
        ));
        Ok(Self::over(stream, framing, label, transcript, timeout))
    }

    fn over(
        stream: BoxStream,
        framing: Framing,
        label: String,
        transcript: Transcript,
        timeout: Duration,
    ) -> Conn {
        Conn {
            label,
            stream: Mutex::new(stream),
            buf: BytesMut::new(),
            read_codec: FrameCodec::with_limit(framing, MAX_REPLY_BODY),
            // Cases send oversize frames on purpose: the writer must not refuse them.
            write_codec: FrameCodec::with_limit(framing, framing.field_max_body()),
            transcript,
            timeout,
            finished: false,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The bytes of `frame` in this connection's framing.
    pub fn encode(&self, frame: &Frame) -> Vec<u8> {
        // The write codec accepts anything the length field can express; a larger body is a bug
        // in a case, which shows up as an empty write and a failing case rather than a panic.
        self.write_codec.encode_to_vec(frame).unwrap_or_default()
    }

    /// Sends one frame; a failure to write is a failed case.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), Finding> {
        let bytes = self.encode(frame);
        self.transcript
            .push(format!("-> {} {}", self.label, summarize(frame)));
        self.write(&bytes)
            .await
            .map_err(|e| fail(format!("cannot send {} on {}: {e}", frame.id, self.label)))
    }

    /// Sends bytes as they are, recording them as `what` with a hex prefix. Returns the I/O error
    /// for cases where a server that closes mid-write is a correct answer.
    pub async fn send_raw(&mut self, bytes: &[u8], what: &str) -> std::io::Result<()> {
        self.transcript.push(format!(
            "-> {} raw {} B ({what}): {}",
            self.label,
            bytes.len(),
            hex_prefix(bytes)
        ));
        self.write(bytes).await
    }

    /// Sends `bytes` in pieces with a pause between them, so that each piece is its own segment.
    pub async fn send_in_pieces(
        &mut self,
        bytes: &[u8],
        cuts: &[usize],
        pause: Duration,
    ) -> Result<(), Finding> {
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let end = cut.clamp(start, bytes.len());
            if end > start {
                self.write(&bytes[start..end])
                    .await
                    .map_err(|e| fail(format!("cannot send on {}: {e}", self.label)))?;
                crate::timer::sleep(pause).await;
            }
            start = end;
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let write = async {
            let stream = io(&mut self.stream);
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match crate::timer::timeout(self.timeout, write).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the server did not take the bytes within {:?}",
                    self.timeout
                ),
            )),
        }
    }

    /// Closes our sending side; the server sees EOF.
    pub async fn shutdown_write(&mut self) {
        self.transcript
            .push(format!("-> {} shutdown (EOF)", self.label));
        let _ = io(&mut self.stream).shutdown().await;
    }

    /// The next thing from the server within the connection's timeout.
    pub async fn next(&mut self) -> Incoming {
        self.next_within(self.timeout).await
    }

    /// The next thing from the server within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Incoming {
        let incoming = match crate::timer::timeout(wait, self.read_frame()).await {
            Ok(incoming) => incoming,
            Err(_) => Incoming::TimedOut(wait),
        };
        self.transcript
            .push(format!("<- {} {}", self.label, describe(&incoming)));
        incoming
    }

    async fn read_frame(&mut self) -> Incoming {
        if self.finished {
            return Incoming::Closed("already closed".into());
        }
        loop {
            match self.read_codec.decode(&mut self.buf) {
                Ok(Some(frame)) => return Incoming::Frame(frame),
                Ok(None) => {}
                Err(err) => {
                    self.finished = true;
                    return Incoming::Garbage(garbage(&err, &self.buf));
                }
            }
            match io(&mut self.stream).read_buf(&mut self.buf).await {
                Ok(0) if self.buf.is_empty() => {
                    self.finished = true;
                    return Incoming::Closed("closed by the server".into());
                }
                Ok(0) => {
                    self.finished = true;
                    return Incoming::Garbage(format!(
                        "closed in the middle of a frame, {} bytes buffered: {}",
                        self.buf.len(),
                        hex_prefix(&self.buf)
                    ));
                }
                Ok(_) => {}
                Err(err) => {
                    self.finished = true;
                    return Incoming::Closed(format!("connection error: {err}"));
                }
            }
        }
    }

    /// The next frame, or a failed case that says what came instead. `waiting_for` names what
    /// the case expected, for the message.
    pub async fn recv(&mut self, waiting_for: &str) -> Result<Frame, Finding> {
        match self.next().await {
            Incoming::Frame(frame) => Ok(frame),
            other => Err(fail(format!(
                "waiting for {waiting_for} on {}: {}",
                self.label,
                describe(&other)
            ))),
        }
    }

    /// Reads frames until one with `id` for which `matches` holds; frames in between (pushes
    /// left from earlier runs, for example) are recorded and skipped.
    pub async fn recv_matching(
        &mut self,
        id: u16,
        waiting_for: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value, Finding> {
        self.recv_matching_within(self.timeout, id, waiting_for, matches)
            .await
    }

    /// [`Conn::recv_matching`] with its own wait.
    pub async fn recv_matching_within(
        &mut self,
        wait: Duration,
        id: u16,
        waiting_for: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value, Finding> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Incoming::Frame(frame) if frame.id == id => {
                    let body = json_body(&frame)?;
                    if matches(&body) {
                        return Ok(body);
                    }
                }
                Incoming::Frame(_) => {}
                other => {
                    return Err(fail(format!(
                        "waiting for {waiting_for} on {}: {}",
                        self.label,
                        describe(&other)
                    )))
                }
            }
        }
    }
}

/// The stream of a connection, without locking: `&mut` proves nobody else holds it.
fn io(stream: &mut Mutex<BoxStream>) -> &mut BoxStream {
    stream.get_mut()
}

/// The JSON body of a frame, or a failed case naming the frame.
pub fn json_body(frame: &Frame) -> Result<serde_json::Value, Finding> {
    serde_json::from_slice(&frame.body).map_err(|e| {
        fail(format!(
            "the body of frame {} ({}) is not JSON: {e}",
            frame.id,
            ids::name(frame.id)
        ))
    })
}

fn garbage(err: &FrameError, buf: &[u8]) -> String {
    format!(
        "not a frame of this protocol ({err}); first bytes: {}",
        hex_prefix(buf)
    )
}

/// A readable line for what arrived.
pub fn describe(incoming: &Incoming) -> String {
    match incoming {
        Incoming::Frame(frame) => summarize(frame),
        Incoming::Closed(why) => format!("closed ({why})"),
        Incoming::TimedOut(wait) => format!("nothing within {} ms", wait.as_millis()),
        Incoming::Garbage(what) => format!("garbage: {what}"),
    }
}

/// `1042 first_chunk_rsp 120 B {"error":0,...}` with base64 data elided.
pub fn summarize(frame: &Frame) -> String {
    let head = format!(
        "{} {} {} B",
        frame.id,
        ids::name(frame.id),
        frame.body.len()
    );
    match serde_json::from_slice::<serde_json::Value>(&frame.body) {
        Ok(mut value) => {
            if let Some(data) = value.get_mut("data") {
                if let Some(text) = data.as_str().filter(|t| t.len() > 48) {
                    *data = serde_json::Value::String(format!("<{} base64 chars>", text.len()));
                }
            }
            format!("{head} {}", cut(&value.to_string(), MAX_SUMMARY_CHARS))
        }
        Err(_) => format!("{head} non-JSON body: {}", hex_prefix(&frame.body)),
    }
}

/// Hex of the first bytes, plus the printable text when it is mostly text.
pub fn hex_prefix(bytes: &[u8]) -> String {
    const SHOWN: usize = 48;
    let shown = &bytes[..bytes.len().min(SHOWN)];
    let more = if bytes.len() > SHOWN { " ..." } else { "" };
    let text: String = shown
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{}{more} |{text}|", hex::encode(shown))
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}...")
}
