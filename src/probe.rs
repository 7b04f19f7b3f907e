//! The prober: a user's own socket to a server, on which a scenario sends requests of its own
//! making (`probe` and `raw` actions, `scenario::probes`). It is not the client: nothing it
//! sends goes through the client's books or the fault proxy, and a raw probe's bytes go on the
//! socket exactly as written. Each probe waits for one answer: the first frame back, the
//! server's close, or its deadline. Probes of one user to one server share a connection, in
//! order, so that a sequence (seq 1, then seq 3) is judged as one conversation; after a close or
//! a silence the next probe opens a new connection.

use crate::net::{BoxStream, Network};
use crate::protocol::{Frame, FrameCodec, FrameError, Framing};
use crate::trace::{Event, ProbeOutcome, Tracer};
use futures::{FutureExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

/// A probe, validated: what goes on the wire, to which server, and what it expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Its number among the scenario's probes, from 1, in file order.
    pub number: usize,
    /// A server host: `resource`, or a chat host.
    pub server: String,
    pub request: ProbeRequest,
    pub deadline_ms: u64,
    pub expect: Expected,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProbeRequest {
    /// A frame the codec encodes.
    Frame { id: u16, body: String },
    /// Bytes written as they are.
    Raw { bytes: Vec<u8> },
}

/// A probe's expectation, resolved: the reply id is filled in from the request when `error`
/// alone is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub reply: Option<u16>,
    pub error: Option<i32>,
    pub closed: bool,
}

impl Probe {
    /// The message id in the request's header: a raw probe's first two bytes, if it has them.
    pub fn request_id(&self) -> Option<u16> {
        match &self.request {
            ProbeRequest::Frame { id, .. } => Some(*id),
            ProbeRequest::Raw { bytes } => {
                (bytes.len() >= 2).then(|| u16::from_be_bytes([bytes[0], bytes[1]]))
            }
        }
    }
}

impl Expected {
    /// `a close`, `1046 with error 1012`, `1046`; empty when nothing is expected.
    pub fn describe(&self) -> String {
        match (self.closed, self.reply, self.error) {
            (true, _, _) => "a close".to_owned(),
            (false, Some(reply), Some(error)) => format!("{reply} with error {error}"),
            (false, Some(reply), None) => format!("{reply}"),
            (false, None, _) => String::new(),
        }
    }
}

/// One open probe connection.
struct Conn {
    number: u32,
    reader: FramedRead<ReadHalf<BoxStream>, FrameCodec>,
    writer: WriteHalf<BoxStream>,
}

/// What a probe saw.
struct Seen {
    outcome: ProbeOutcome,
    frame: Option<Frame>,
    detail: String,
}

impl Seen {
    fn new(outcome: ProbeOutcome, detail: String) -> Self {
        Seen {
            outcome,
            frame: None,
            detail,
        }
    }
}

/// Sends one user's probes, one at a time, in the order they are handed over.
pub struct Prober {
    network: Arc<dyn Network>,
    tracer: Tracer,
    /// Where each server listens and its framing (`resource` -> `resource:8091`, resource).
    addrs: BTreeMap<String, (String, Framing)>,
    conns: BTreeMap<String, Conn>,
    opened: ConnCounts,
}

/// Connections a user has opened so far, per server. Kept outside the user's host, so that
/// after a restart the numbers go on and the trace never shows two connections with one number.
pub type ConnCounts = Arc<parking_lot::Mutex<BTreeMap<String, u32>>>;

impl Prober {
    pub fn new(
        network: Arc<dyn Network>,
        tracer: Tracer,
        addrs: BTreeMap<String, (String, Framing)>,
        opened: ConnCounts,
    ) -> Self {
        Prober {
            network,
            tracer,
            addrs,
            conns: BTreeMap::new(),
            opened,
        }
    }

    /// Starts a task that sends the probes handed to the returned sender, in order.
    pub fn spawn(self) -> mpsc::UnboundedSender<Probe> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Probe>();
        let mut prober = self;
        tokio::spawn(async move {
            while let Some(probe) = rx.recv().await {
                prober.send(&probe).await;
            }
        });
        tx
    }

    /// Sends `probe` and records what became of it.
    pub async fn send(&mut self, probe: &Probe) {
        let deadline = Duration::from_millis(probe.deadline_ms);
        let framing = match self.addrs.get(&probe.server) {
            Some((_, framing)) => *framing,
            None => {
                let detail = format!("no address for server {}", probe.server);
                let seen = Seen::new(ProbeOutcome::Unreachable, detail);
                return self.result(probe, Duration::ZERO, seen);
            }
        };
        let opened = match encode(probe, framing) {
            Ok(encoded) => self
                .conn(probe, deadline)
                .await
                .map(|c| (c.number, encoded)),
            Err(detail) => Err(detail),
        };
        let (number, (bytes, body)) = match opened {
            Ok(opened) => opened,
            Err(detail) => {
                let seen = Seen::new(ProbeOutcome::Unreachable, detail);
                return self.result(probe, Duration::ZERO, seen);
            }
        };
        self.tracer.emit(Event::ProbeSent {
            probe: probe.number,
            server: probe.server.clone(),
            conn: number,
            id: probe.request_id().unwrap_or(0),
            raw: matches!(probe.request, ProbeRequest::Raw { .. }),
            body,
            deadline_ms: probe.deadline_ms,
            expect_reply: probe.expect.reply,
            expect_error: probe.expect.error,
            expect_closed: probe.expect.closed,
        });
        let sent = tokio::time::Instant::now();
        let conn = self.conns.get_mut(&probe.server).expect("opened above");
        let seen = match conn.writer.write_all(&bytes).await {
            Err(err) => Seen::new(
                ProbeOutcome::Closed,
                format!("the request could not be written: {err}"),
            ),
            Ok(()) => answer(conn, deadline).await,
        };
        if seen.outcome != ProbeOutcome::Reply {
            // A close ends the connection; after a silence a late answer must not be taken for
            // the next probe's.
            self.conns.remove(&probe.server);
        }
        self.result(probe, sent.elapsed(), seen);
    }

    fn result(&self, probe: &Probe, waited: Duration, seen: Seen) {
        let frame = seen.frame.as_ref();
        let error = frame.and_then(|f| {
            let body: serde_json::Value = serde_json::from_slice(&f.body).ok()?;
            body.get("error")?.as_i64()
        });
        self.tracer.emit(Event::ProbeResult {
            probe: probe.number,
            outcome: seen.outcome,
            waited_ms: waited.as_millis() as u64,
            id: frame.map(|f| f.id),
            error,
            body: frame.map(|f| String::from_utf8_lossy(&f.body).into_owned()),
            detail: seen.detail,
        });
    }

    /// The open connection to the probe's server, or a new one. A connection the server has
    /// closed since the last probe is replaced, so that its end is not taken for an answer.
    async fn conn(&mut self, probe: &Probe, deadline: Duration) -> Result<&mut Conn, String> {
        let server = probe.server.clone();
        if let Some(conn) = self.conns.get_mut(&server) {
            // Something waiting (an end, an error, or a frame nobody asked for) means the
            // connection is not as the last probe left it.
            if conn.reader.next().now_or_never().is_some() {
                self.conns.remove(&server);
            }
        }
        if !self.conns.contains_key(&server) {
            let (addr, framing) = self
                .addrs
                .get(&server)
                .cloned()
                .ok_or_else(|| format!("no address for server {server}"))?;
            let stream = crate::timer::timeout(deadline, self.network.connect(addr.clone()))
                .await
                .map_err(|_| format!("no connection to {addr} within {deadline:?}"))?
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let number = {
                let mut opened = self.opened.lock();
                let number = opened.entry(server.clone()).or_default();
                *number += 1;
                *number
            };
            let (read, writer) = tokio::io::split(stream);
            let codec = FrameCodec::with_limit(framing, framing.field_max_body());
            let conn = Conn {
                number,
                reader: FramedRead::new(read, codec),
                writer,
            };
            self.conns.insert(server.clone(), conn);
        }
        Ok(self.conns.get_mut(&server).expect("just opened"))
    }
}

/// The bytes of the request, and the trace's text for them (the body, or the hex of raw bytes).
fn encode(probe: &Probe, framing: Framing) -> Result<(Vec<u8>, String), String> {
    match &probe.request {
        ProbeRequest::Raw { bytes } => Ok((bytes.clone(), hex::encode(bytes))),
        ProbeRequest::Frame { id, body } => {
            let codec = FrameCodec::with_limit(framing, framing.field_max_body());
            let bytes = codec
                .encode_to_vec(&Frame::new(*id, body.clone()))
                .map_err(|e| format!("the request cannot be framed: {e}"))?;
            Ok((bytes, body.clone()))
        }
    }
}

/// Waits for the first frame back, the end of the stream, or the deadline.
async fn answer(conn: &mut Conn, deadline: Duration) -> Seen {
    match crate::timer::timeout(deadline, conn.reader.next()).await {
        Err(_) => Seen::new(
            ProbeOutcome::Silent,
            format!("no answer within {} ms", deadline.as_millis()),
        ),
        Ok(None) => Seen::new(
            ProbeOutcome::Closed,
            "the server closed the connection".into(),
        ),
        Ok(Some(Ok(frame))) => Seen {
            outcome: ProbeOutcome::Reply,
            frame: Some(frame),
            detail: String::new(),
        },
        Ok(Some(Err(FrameError::Io(err)))) => {
            Seen::new(ProbeOutcome::Closed, format!("the connection ended: {err}"))
        }
        Ok(Some(Err(err))) => Seen::new(ProbeOutcome::Garbled, err.to_string()),
    }
}
