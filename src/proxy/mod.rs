//! The fault proxy: a [`Network`] wrapper that stands between a client and the servers and
//! understands both framings. It can drop, delay, duplicate, reorder, corrupt, rewrite and slice frames matched by
//! direction, message id, file, seq or n-th occurrence; it paces frames to a bandwidth (turmoil
//! models only latency); and it can reset every connection it carries. The same code wraps
//! turmoil's network in the simulation and tokio's on real TCP.

mod rules;

pub use rules::{Direction, FrameAction, FrameFault, FrameRule, RuleSet};

use crate::clock::Elapsed;
use crate::net::{BoxStream, Listener, Network};
use crate::protocol::body::ChunkHint;
use crate::protocol::{Frame, FrameCodec, Framing};
use crate::trace::{Event, Tracer};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};

/// How long a frame held back for `reorder` waits for a successor before it goes anyway.
const REORDER_HOLD_MAX: Duration = Duration::from_secs(2);
/// Buffer between the party and the proxy's pumps.
const PIPE_BYTES: usize = 256 * 1024;
/// A sliced frame's body goes in this many pieces (after cuts inside the header).
const SLICE_BODY_PIECES: usize = 4;
/// How far behind the clock the pacing schedule may run: a timer wakes up to one step (1 ms, in
/// the simulation and in tokio) after its deadline, and that lateness is carried to the next
/// frame instead of lost. A longer lag (the party stopped reading) is not made up in a burst.
const PACING_CARRY_MAX: Duration = Duration::from_millis(2);

/// The proxy's settings and shared state, for one client host.
pub struct FaultProxy {
    framings: BTreeMap<String, Framing>,
    rules: Mutex<RuleSet>,
    /// Time since the run started, for the rules' `from_ms`/`until_ms` windows: simulated time in
    /// the simulation, tokio's clock on real TCP.
    elapsed: Arc<dyn Elapsed>,
    /// Bits per second each way, shared by all of this client's connections; `None` is unlimited.
    /// A `bandwidth` fault changes it mid-run.
    bandwidth_bps: Mutex<Option<u64>>,
    link_free_at: Mutex<BTreeMap<Direction, Instant>>,
    tracer: Tracer,
    /// How many resets each target has had (`None`: every connection; `Some(host)`: connections
    /// to that host). A live connection compares with the counts it started with, so resets that
    /// come together are all seen.
    resets: Mutex<BTreeMap<Option<String>, u64>>,
    /// Wakes the live connections after a reset. A `Notify` wakes its waiters in the order they
    /// started waiting; tokio's `watch` spreads waiters over several queues at random, which would
    /// make the order in which connections close differ between runs with one seed.
    reset_happened: Notify,
}

impl FaultProxy {
    /// `framings` says which framing each server address speaks; other addresses pass through raw.
    /// `elapsed` tells the rules how long the run has been going.
    pub fn new(
        framings: BTreeMap<String, Framing>,
        rules: RuleSet,
        elapsed: Arc<dyn Elapsed>,
        bandwidth_bps: Option<u64>,
        tracer: Tracer,
    ) -> Arc<Self> {
        Arc::new(FaultProxy {
            framings,
            rules: Mutex::new(rules),
            elapsed,
            bandwidth_bps: Mutex::new(bandwidth_bps),
            link_free_at: Mutex::default(),
            tracer,
            resets: Mutex::default(),
            reset_happened: Notify::new(),
        })
    }

    /// For each of its rules, in order, the times (ms) the rule applied to a frame.
    pub fn fired(&self) -> Vec<Vec<u64>> {
        self.rules.lock().fired()
    }

    /// Paces frames that start from now on to `bps` each way (`None`: unlimited). A frame already
    /// on the link finishes at the old rate.
    pub fn set_bandwidth(&self, bps: Option<u64>) {
        *self.bandwidth_bps.lock() = bps;
    }

    /// Closes every connection this proxy carries; both ends see the stream end.
    pub fn reset(&self) {
        *self.resets.lock().entry(None).or_default() += 1;
        self.reset_happened.notify_waiters();
    }

    /// Closes the connections this proxy carries to `host` (the host part of the address dialled).
    pub fn reset_to(&self, host: &str) {
        let mut counts = self.resets.lock();
        *counts.entry(Some(host.to_owned())).or_default() += 1;
        drop(counts);
        self.reset_happened.notify_waiters();
    }

    /// Wraps `inner` so that connections dialled through it pass this proxy.
    pub fn network(self: &Arc<Self>, inner: Arc<dyn Network>) -> Arc<dyn Network> {
        Arc::new(ProxyNetwork {
            inner,
            proxy: self.clone(),
        })
    }

    fn fault(&self, kind: &str, detail: String) {
        self.tracer.emit(Event::Fault {
            kind: kind.to_owned(),
            detail,
        });
    }

    /// Waits until the link in `direction` has carried `bytes` at the configured bandwidth. The
    /// frame was ready to go at `ready`: it starts when both it and the link are, on a schedule
    /// kept in nanoseconds, so that a frame's transmit time is not rounded up to the timer's step
    /// (a 43,900-byte frame takes 3.512 ms at 100 Mbit/s, not 4).
    async fn pace(&self, direction: Direction, bytes: usize, ready: Instant) {
        let Some(bps) = self.bandwidth_bps.lock().filter(|b| *b > 0) else {
            return;
        };
        let transmit = Duration::from_nanos((bytes as u64 * 8).saturating_mul(1_000_000_000) / bps);
        let done = {
            let mut free = self.link_free_at.lock();
            let now = Instant::now();
            let link_free = free.get(&direction).copied().unwrap_or(ready);
            let start = link_free
                .max(ready)
                .max(now.checked_sub(PACING_CARRY_MAX).unwrap_or(now));
            let done = start + transmit;
            free.insert(direction, done);
            done
        };
        crate::timer::sleep_until(done).await;
    }
}

struct ProxyNetwork {
    inner: Arc<dyn Network>,
    proxy: Arc<FaultProxy>,
}

impl Network for ProxyNetwork {
    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<BoxStream>> {
        let inner = self.inner.clone();
        let proxy = self.proxy.clone();
        Box::pin(async move {
            let upstream = inner.connect(addr.clone()).await?;
            let (party_side, proxy_side) = tokio::io::duplex(PIPE_BYTES);
            let framing = proxy.framings.get(&addr).copied();
            tokio::spawn(carry(proxy, addr, framing, Box::pin(proxy_side), upstream));
            Ok(Box::pin(party_side) as BoxStream)
        })
    }

    fn bind(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        self.inner.bind(addr)
    }
}

/// Carries one connection both ways until either side ends or the proxy resets it.
async fn carry(
    proxy: Arc<FaultProxy>,
    addr: String,
    framing: Option<Framing>,
    party: BoxStream,
    server: BoxStream,
) {
    let host = addr
        .rsplit_once(':')
        .map_or(addr.as_str(), |(host, _)| host)
        .to_owned();
    let mine = |counts: &BTreeMap<Option<String>, u64>| {
        let all = counts.get(&None).copied().unwrap_or(0);
        let this_host = counts.get(&Some(host.clone())).copied().unwrap_or(0);
        (all, this_host)
    };
    let at_start = mine(&proxy.resets.lock());
    let reset_for_me = async {
        loop {
            // Registered before the check, so a reset between the check and the wait is not
            // missed.
            let notified = proxy.reset_happened.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if mine(&proxy.resets.lock()) != at_start {
                return;
            }
            notified.await;
        }
    };
    let (party_read, party_write) = tokio::io::split(party);
    let (server_read, server_write) = tokio::io::split(server);
    let pumps = async {
        match framing {
            Some(framing) => {
                tokio::select! {
                    biased;
                    _ = pump(&proxy, framing, Direction::Up, party_read, server_write) => {}
                    _ = pump(&proxy, framing, Direction::Down, server_read, party_write) => {}
                }
            }
            None => {
                let mut a = tokio::io::join(party_read, party_write);
                let mut b = tokio::io::join(server_read, server_write);
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            }
        }
    };
    tokio::select! {
        biased;
        _ = reset_for_me => proxy.fault("reset", format!("connection to {addr} closed by the proxy")),
        _ = pumps => {}
    }
    // Dropping both halves here closes both sockets.
}

/// Moves frames one way, applying the rules.
async fn pump<R, W>(proxy: &FaultProxy, framing: Framing, direction: Direction, from: R, to: W)
where
    R: tokio::io::AsyncRead + Unpin + Send,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    let mut forwarder = Forwarder {
        proxy,
        direction,
        tx: Outbox(tx),
        held: None,
    };
    let reader_side = async move {
        let mut reader = FramedRead::new(
            from,
            FrameCodec::with_limit(framing, framing.field_max_body()),
        );
        loop {
            let next = tokio::select! {
                biased;
                next = reader.next() => next,
                _ = crate::timer::sleep(REORDER_HOLD_MAX), if forwarder.held.is_some() => {
                    forwarder.release_held();
                    continue;
                }
            };
            let Some(Ok(frame)) = next else { break };
            forwarder.handle(frame);
        }
        forwarder.release_held();
        // Dropping the forwarder drops the last sender, which ends the writer.
    };
    tokio::join!(reader_side, write_out(proxy, framing, direction, to, rx));
}

/// A pump's writer: sends what the forwarder queues, paced to the bandwidth, until the queue
/// closes or the write fails.
async fn write_out<W>(
    proxy: &FaultProxy,
    framing: Framing,
    direction: Direction,
    to: W,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) where
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut sink = FramedWrite::new(
        to,
        FrameCodec::with_limit(framing, framing.field_max_body()),
    );
    while let Some(Outgoing {
        frame,
        slice,
        ready,
    }) = rx.recv().await
    {
        proxy
            .pace(direction, framing.header_len() + frame.body.len(), ready)
            .await;
        let failed = match slice {
            None => sink.send(frame).await.is_err(),
            Some(pause) => write_sliced(&mut sink, &frame, pause).await.is_err(),
        };
        if failed {
            return;
        }
    }
}

/// A pump's reader side: applies the first matching rule to each frame and queues what goes on.
/// Queueing never fails while the writer lives; once it is gone the frames have nowhere to go.
struct Forwarder<'a> {
    proxy: &'a FaultProxy,
    direction: Direction,
    tx: Outbox,
    /// A frame held back by `reorder`, sent after the next frame that goes on (or on a timeout).
    held: Option<Frame>,
}

impl Forwarder<'_> {
    fn handle(&mut self, frame: Frame) {
        let hint = ChunkHint::from_body(&frame.body);
        let now = self.proxy.elapsed.elapsed();
        let fault = self
            .proxy
            .rules
            .lock()
            .matching(now, self.direction, &frame, &hint)
            .cloned();
        let Some(fault) = fault else {
            return self.forward(frame);
        };
        let what = self.describe(&frame, &hint);
        let delay = Duration::from_millis(fault.delay_ms);
        match fault.action {
            FrameAction::Drop => self.drop_frame(what),
            FrameAction::Delay => self.delay(frame, what, delay),
            FrameAction::Duplicate => self.duplicate(frame, what, delay),
            FrameAction::Reorder => self.reorder(frame, what),
            FrameAction::Corrupt => self.corrupt(frame, what),
            FrameAction::Rewrite => self.rewrite(frame, what, &fault.set),
            FrameAction::Slice => self.slice(frame, what, delay),
        }
    }

    /// The frame for a fault's detail: direction, id, file and seq.
    fn describe(&self, frame: &Frame, hint: &ChunkHint) -> String {
        let direction = self.direction;
        format!("{direction:?} {} {} seq {}", frame.id, hint.name, hint.seq).to_lowercase()
    }

    /// Sends `frame` on, then the frame held back for a reorder, if any.
    fn forward(&mut self, frame: Frame) {
        let _ = self.tx.send(frame);
        self.release_held();
    }

    fn release_held(&mut self) {
        if let Some(late) = self.held.take() {
            let _ = self.tx.send(late);
        }
    }

    /// Queues `frame` `delay` from now, behind whatever was queued by then.
    fn send_later(&self, frame: Frame, delay: Duration) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            crate::timer::sleep(delay).await;
            let _ = tx.send(frame);
        });
    }

    /// The frame goes nowhere; a frame held for a reorder stays held.
    fn drop_frame(&mut self, what: String) {
        self.proxy.fault("frame_drop", what);
    }

    fn delay(&mut self, frame: Frame, what: String, delay: Duration) {
        let detail = format!("{what} by {} ms", delay.as_millis());
        self.proxy.fault("frame_delay", detail);
        self.send_later(frame, delay);
    }

    /// The original now; the copy at once, or `delay` later.
    fn duplicate(&mut self, frame: Frame, what: String, delay: Duration) {
        if delay.is_zero() {
            self.proxy.fault("frame_duplicate", what);
            let _ = self.tx.send(frame.clone());
        } else {
            let detail = format!("{what}, the copy {} ms later", delay.as_millis());
            self.proxy.fault("frame_duplicate", detail);
            self.send_later(frame.clone(), delay);
        }
        self.forward(frame);
    }

    /// Holds `frame` back until the next frame has gone on; a frame already held goes now.
    fn reorder(&mut self, frame: Frame, what: String) {
        self.proxy.fault("frame_reorder", what);
        if let Some(previous) = self.held.replace(frame) {
            let _ = self.tx.send(previous);
        }
    }

    /// A frame without chunk data passes unchanged and unreported.
    fn corrupt(&mut self, frame: Frame, what: String) {
        match corrupt(&frame) {
            Some(bad) => {
                self.proxy.fault("frame_corrupt", what);
                self.forward(bad);
            }
            None => self.forward(frame),
        }
    }

    /// A body that is not a JSON object passes unchanged and unreported.
    fn rewrite(&mut self, frame: Frame, what: String, set: &BTreeMap<String, serde_json::Value>) {
        match rewrite(&frame, set) {
            Some(forged) => {
                let fields = serde_json::to_string(set).unwrap_or_default();
                self.proxy
                    .fault("frame_rewrite", format!("{what} set {fields}"));
                self.forward(forged);
            }
            None => self.forward(frame),
        }
    }

    fn slice(&mut self, frame: Frame, what: String, pause: Duration) {
        self.proxy.fault("frame_slice", what);
        let _ = self.tx.send_sliced(frame, pause);
        self.release_held();
    }
}

/// A frame for a pump's writer: whole, or sliced with this pause between the pieces; `ready` is
/// when it was queued, for the pacing.
struct Outgoing {
    frame: Frame,
    slice: Option<Duration>,
    ready: Instant,
}

/// The sending side of a pump's writer queue.
#[derive(Clone)]
struct Outbox(mpsc::UnboundedSender<Outgoing>);

impl Outbox {
    fn send(&self, frame: Frame) -> Result<(), mpsc::error::SendError<Outgoing>> {
        self.0.send(Outgoing {
            frame,
            slice: None,
            ready: Instant::now(),
        })
    }

    fn send_sliced(
        &self,
        frame: Frame,
        pause: Duration,
    ) -> Result<(), mpsc::error::SendError<Outgoing>> {
        self.0.send(Outgoing {
            frame,
            slice: Some(pause),
            ready: Instant::now(),
        })
    }
}

/// Writes `frame` in pieces, each flushed on its own with `pause` after it: one byte, the header
/// up to its last byte, the rest of the header and one body byte, then the body in
/// `SLICE_BODY_PIECES` parts.
async fn write_sliced<W>(
    sink: &mut FramedWrite<W, FrameCodec>,
    frame: &Frame,
    pause: Duration,
) -> io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    let bytes = sink.encoder().encode_to_vec(frame)?;
    let header = sink.encoder().framing().header_len();
    let writer = sink.get_mut();
    let mut start = 0;
    for end in slice_cuts(header, bytes.len()) {
        writer.write_all(&bytes[start..end]).await?;
        writer.flush().await?;
        crate::timer::sleep(pause).await;
        start = end;
    }
    Ok(())
}

/// The end offsets of the pieces of a `len`-byte frame whose header has `header` bytes.
fn slice_cuts(header: usize, len: usize) -> Vec<usize> {
    let body = len.saturating_sub(header + 1);
    let step = body.div_ceil(SLICE_BODY_PIECES).max(1);
    let mut cuts = vec![1, header - 1, header + 1];
    cuts.extend((1..=SLICE_BODY_PIECES).map(|i| header + 1 + i * step));
    let mut ends: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
    ends.push(len);
    ends.dedup();
    ends.retain(|&e| e > 0);
    ends
}

/// The frame with the fields in `set` overwritten (or added); `None` when the body is not a JSON
/// object, which then passes unchanged.
fn rewrite(frame: &Frame, set: &BTreeMap<String, serde_json::Value>) -> Option<Frame> {
    let mut body: serde_json::Value = serde_json::from_slice(&frame.body).ok()?;
    let object = body.as_object_mut()?;
    for (field, value) in set {
        object.insert(field.clone(), value.clone());
    }
    Some(Frame::json(frame.id, &body))
}

/// The frame with one byte of its decoded `data` inverted, still valid JSON and base64.
fn corrupt(frame: &Frame) -> Option<Frame> {
    use base64::Engine as _;
    let mut body: serde_json::Value = serde_json::from_slice(&frame.body).ok()?;
    let data = body.get("data")?.as_str()?;
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    let middle = bytes.len() / 2;
    *bytes.get_mut(middle)? ^= 0xFF;
    body["data"] =
        serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes));
    Some(Frame::json(frame.id, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{framed, next_frame, FrameReader, FrameSender, TurmoilNetwork};
    use crate::protocol::body::ChunkHint;
    use crate::sim::SimTrace;

    #[test]
    fn rewrite_overwrites_and_adds_fields_and_leaves_the_rest() {
        let frame = Frame::new(
            1041,
            r#"{"name":"photo.png","seq":1,"uid":2,"data":"AAEC"}"#,
        );
        let set: BTreeMap<String, serde_json::Value> = [
            ("name".to_owned(), serde_json::json!("../escape.png")),
            ("uid".to_owned(), serde_json::json!(1)),
            ("token".to_owned(), serde_json::json!("forged")),
        ]
        .into_iter()
        .collect();
        let forged = rewrite(&frame, &set).expect("a JSON object");
        assert_eq!(forged.id, 1041);
        let body: serde_json::Value = serde_json::from_slice(&forged.body).unwrap();
        assert_eq!(body["name"], "../escape.png");
        assert_eq!(body["uid"], 1);
        assert_eq!(body["token"], "forged");
        assert_eq!(body["seq"], 1);
        assert_eq!(body["data"], "AAEC");
        assert_eq!(ChunkHint::from_body(&forged.body).name, "../escape.png");
        // Not a JSON object: nothing to rewrite.
        assert!(rewrite(&Frame::new(1041, "[1,2]"), &set).is_none());
        assert!(rewrite(&Frame::new(1041, "not json"), &set).is_none());
    }

    #[test]
    fn a_rewrite_rule_hands_its_set_to_the_proxy() {
        let fault: FrameFault = toml::from_str(
            "action = \"rewrite\"\ndirection = \"up\"\nid = 1041\nset = { name = \"../x\" }\n",
        )
        .unwrap();
        let mut rules = RuleSet::new([fault]);
        let frame = Frame::new(1041, r#"{"name":"a.png","seq":1}"#);
        let hint = ChunkHint::from_body(&frame.body);
        let hit = rules
            .matching(Duration::ZERO, Direction::Up, &frame, &hint)
            .cloned()
            .expect("the rule matches");
        assert_eq!(hit.action, FrameAction::Rewrite);
        assert_eq!(hit.set["name"], "../x");
        // count defaults to 1: the next frame passes untouched.
        assert!(rules
            .matching(Duration::ZERO, Direction::Up, &frame, &hint)
            .is_none());
    }

    /// Runs `client` in a turmoil simulation, talking through a fault proxy that applies `fault`
    /// to a server at `server:7000` that echoes every frame it gets (resource framing). Returns
    /// the trace of what the proxy did.
    fn through_proxy_to_echo_server<F, Fut>(fault: FrameFault, client: F) -> Arc<SimTrace>
    where
        F: FnOnce(FrameReader, FrameSender) -> Fut + 'static,
        Fut: std::future::Future<Output = turmoil::Result> + 'static,
    {
        through_paced_proxy_to_echo_server(fault, None, client)
    }

    /// As [`through_proxy_to_echo_server`], with the proxy pacing to `bandwidth_bps` and a fixed
    /// 1 ms latency on a 1 ms simulation step (as the simulation runs).
    fn through_paced_proxy_to_echo_server<F, Fut>(
        fault: FrameFault,
        bandwidth_bps: Option<u64>,
        client: F,
    ) -> Arc<SimTrace>
    where
        F: FnOnce(FrameReader, FrameSender) -> Fut + 'static,
        Fut: std::future::Future<Output = turmoil::Result> + 'static,
    {
        let trace = Arc::new(SimTrace::default());
        let mut builder = turmoil::Builder::new();
        if bandwidth_bps.is_some() {
            builder
                .tick_duration(Duration::from_millis(1))
                .min_message_latency(Duration::from_millis(1))
                .max_message_latency(Duration::from_millis(1));
        }
        let mut sim = builder.build();
        sim.host("server", || async {
            let mut listener = TurmoilNetwork::default()
                .bind("0.0.0.0:7000".into())
                .await?;
            let (stream, _) = listener.accept().await?;
            let (mut reader, sender) = framed(
                stream,
                FrameCodec::upstream(Framing::Resource),
                FrameCodec::upstream(Framing::Resource),
            );
            while let Some(frame) = next_frame(&mut reader).await? {
                sender.send(frame);
            }
            Ok(())
        });
        let tracer = Tracer::new("client", trace.clone());
        sim.client("client", async move {
            let framings = [("server:7000".to_owned(), Framing::Resource)]
                .into_iter()
                .collect();
            let proxy = FaultProxy::new(
                framings,
                RuleSet::new([fault]),
                Arc::new(crate::sim::SimElapsed),
                bandwidth_bps,
                tracer,
            );
            let network = proxy.network(Arc::new(TurmoilNetwork::default()));
            let stream = network.connect("server:7000".into()).await?;
            let (reader, sender) = framed(
                stream,
                FrameCodec::upstream(Framing::Resource),
                FrameCodec::upstream(Framing::Resource),
            );
            client(reader, sender).await
        });
        sim.run().unwrap();
        trace
    }

    /// A rewrite through a real proxied connection: the server sees the forged body.
    #[test]
    fn a_rewritten_frame_reaches_the_server_forged() {
        let fault: FrameFault =
            toml::from_str("action = \"rewrite\"\nid = 1041\nset = { uid = 9 }\n").unwrap();
        let trace = through_proxy_to_echo_server(fault, |mut reader, sender| async move {
            sender.send(Frame::new(1041, r#"{"name":"a.png","uid":2}"#));
            let echoed = next_frame(&mut reader).await?.expect("the echo");
            let body: serde_json::Value = serde_json::from_slice(&echoed.body)?;
            assert_eq!(body["uid"], 9, "the server saw the forged uid");
            assert_eq!(body["name"], "a.png");
            Ok(())
        });
        assert!(trace.records().iter().any(|r| matches!(
            &r.event,
            Event::Fault { kind, detail } if kind == "frame_rewrite" && detail.contains("\"uid\":9")
        )));
    }

    #[test]
    fn slices_cut_the_header_and_the_body_and_cover_the_frame() {
        // A 6-byte header and a 100-byte body.
        let cuts = slice_cuts(6, 106);
        assert_eq!(
            &cuts[..3],
            &[1, 5, 7],
            "inside the header, then one body byte"
        );
        assert_eq!(cuts.last(), Some(&106));
        assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(cuts.len(), 3 + SLICE_BODY_PIECES);
        // A frame with an empty body still goes in pieces, none empty.
        assert_eq!(slice_cuts(4, 4), [1, 3, 4]);
    }

    /// A sliced frame reaches the server (and the echo the client) whole, and the proxy reports
    /// the slicing.
    #[test]
    fn a_sliced_frame_reaches_the_server_whole() {
        let fault: FrameFault =
            toml::from_str("action = \"slice\"\nid = 1037\ncount = 0\ndelay_ms = 2\n").unwrap();
        let trace = through_proxy_to_echo_server(fault, |mut reader, sender| async move {
            let frames = [
                Frame::new(
                    1037,
                    format!(
                        r#"{{"name":"a.png","seq":2,"data":"{}"}}"#,
                        "A".repeat(5000)
                    ),
                ),
                Frame::new(1037, r#"{"name":"a.png","seq":3}"#),
            ];
            for frame in &frames {
                sender.send(frame.clone());
            }
            for frame in &frames {
                let echoed = next_frame(&mut reader).await?.expect("the echo");
                assert_eq!(&echoed, frame, "the server saw the frame whole");
            }
            Ok(())
        });
        let slices = trace
            .records()
            .iter()
            .filter(|r| matches!(&r.event, Event::Fault { kind, .. } if kind == "frame_slice"))
            .count();
        // No direction in the rule: the two frames were sliced up, and their echoes down.
        assert_eq!(slices, 4);
    }

    /// Back-to-back frames are paced on a cumulative schedule: each frame's transmit time is not
    /// rounded up to the simulation's 1 ms step, so the link's long-run rate is the one set.
    /// (Rounded per frame, 43,900 bytes at 100 Mbit/s take 4 ms instead of 3.512 ms: 87.8 %.)
    #[test]
    fn pacing_carries_the_sub_step_remainder_from_frame_to_frame() {
        const FRAMES: usize = 100;
        const BPS: u64 = 100_000_000;
        let never: FrameFault = toml::from_str("action = \"drop\"\nid = 9999\n").unwrap();
        // 43,900 bytes on the wire: the header and a body of 32 KiB of base64 and its JSON.
        let body = "A".repeat(43_900 - Framing::Resource.header_len());
        through_paced_proxy_to_echo_server(
            never,
            Some(BPS),
            move |mut reader, sender| async move {
                let start = Instant::now();
                for _ in 0..FRAMES {
                    sender.send(Frame::new(1037, body.clone()));
                }
                for _ in 0..FRAMES {
                    next_frame(&mut reader).await?.expect("the echo");
                }
                let took = start.elapsed();
                // Up and back down, pipelined: one frame's time more than the frames' own, plus
                // the latency each way and a step or two of rounding at the ends.
                let transmit = Duration::from_nanos(43_900 * 8 * 1_000_000_000 / BPS);
                let ideal = transmit * (FRAMES as u32 + 1) + Duration::from_millis(2);
                assert!(
                    took <= ideal + Duration::from_millis(5),
                    "{FRAMES} frames took {took:?}; the exact rate needs {ideal:?}"
                );
                Ok(())
            },
        );
    }
}
