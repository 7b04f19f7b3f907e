//! The fault proxy: a [`Network`] wrapper that stands between a client and the servers and
//! understands both framings. It can drop, delay, duplicate, reorder and corrupt frames matched by
//! direction, message id, file, seq or n-th occurrence; it paces frames to a bandwidth (turmoil
//! models only latency); and it can reset every connection it carries. The same code wraps
//! turmoil's network in the simulation and tokio's on real TCP.

mod rules;

pub use rules::{FrameRule, RuleSet};

use crate::net::{BoxStream, Listener, Network};
use crate::protocol::body::ChunkHint;
use crate::protocol::{Frame, FrameCodec, Framing};
use crate::scenario::{Direction, FrameAction};
use crate::trace::{Event, Tracer};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};

/// How long a frame held back for `reorder` waits for a successor before it goes anyway.
const REORDER_HOLD_MAX: Duration = Duration::from_secs(2);
/// Buffer between the party and the proxy's pumps.
const PIPE_BYTES: usize = 256 * 1024;

/// The proxy's settings and shared state, for one client host.
pub struct FaultProxy {
    framings: BTreeMap<String, Framing>,
    rules: Mutex<RuleSet>,
    /// Bits per second each way, shared by all of this client's connections; `None` is unlimited.
    bandwidth_bps: Option<u64>,
    link_free_at: Mutex<BTreeMap<Direction, Instant>>,
    tracer: Tracer,
    /// Bumped by `reset`; every live connection watches it.
    resets: watch::Sender<u64>,
}

impl FaultProxy {
    /// `framings` says which framing each server address speaks; other addresses pass through raw.
    pub fn new(
        framings: BTreeMap<String, Framing>,
        rules: RuleSet,
        bandwidth_bps: Option<u64>,
        tracer: Tracer,
    ) -> Arc<Self> {
        Arc::new(FaultProxy {
            framings,
            rules: Mutex::new(rules),
            bandwidth_bps,
            link_free_at: Mutex::default(),
            tracer,
            resets: watch::channel(0).0,
        })
    }

    /// Closes every connection this proxy carries; both ends see the stream end.
    pub fn reset(&self) {
        self.resets.send_modify(|n| *n += 1);
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

    /// Waits until the link in `direction` has carried `bytes` at the configured bandwidth.
    async fn pace(&self, direction: Direction, bytes: usize) {
        let Some(bps) = self.bandwidth_bps.filter(|b| *b > 0) else {
            return;
        };
        let transmit = Duration::from_nanos((bytes as u64 * 8).saturating_mul(1_000_000_000) / bps);
        let done = {
            let mut free = self.link_free_at.lock().unwrap();
            let now = Instant::now();
            let start = free
                .get(&direction)
                .copied()
                .filter(|t| *t > now)
                .unwrap_or(now);
            let done = start + transmit;
            free.insert(direction, done);
            done
        };
        tokio::time::sleep_until(done).await;
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
            tokio::spawn(carry(proxy, framing, Box::pin(proxy_side), upstream));
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
    framing: Option<Framing>,
    party: BoxStream,
    server: BoxStream,
) {
    let mut resets = proxy.resets.subscribe();
    resets.borrow_and_update();
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
        _ = resets.changed() => proxy.fault("reset", "connection closed by the proxy".into()),
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
    let mut reader = FramedRead::new(
        from,
        FrameCodec::with_limit(framing, framing.field_max_body()),
    );
    let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
    let writer = async {
        let mut sink = FramedWrite::new(
            to,
            FrameCodec::with_limit(framing, framing.field_max_body()),
        );
        while let Some(frame) = rx.recv().await {
            proxy
                .pace(direction, framing.header_len() + frame.body.len())
                .await;
            if sink.send(frame).await.is_err() {
                return;
            }
        }
    };
    let reader_side = async {
        let mut held: Option<Frame> = None;
        loop {
            let next = tokio::select! {
                biased;
                next = reader.next() => next,
                _ = tokio::time::sleep(REORDER_HOLD_MAX), if held.is_some() => {
                    let _ = tx.send(held.take().expect("guarded"));
                    continue;
                }
            };
            let Some(Ok(frame)) = next else { break };
            let hint = ChunkHint::from_body(&frame.body);
            let action = proxy.rules.lock().unwrap().decide(direction, &frame, &hint);
            let describe = || {
                format!("{direction:?} {} {} seq {}", frame.id, hint.name, hint.seq).to_lowercase()
            };
            let forward = match action {
                None => Some(frame.clone()),
                Some((FrameAction::Drop, _)) => {
                    proxy.fault("frame_drop", describe());
                    None
                }
                Some((FrameAction::Duplicate, _)) => {
                    proxy.fault("frame_duplicate", describe());
                    let _ = tx.send(frame.clone());
                    Some(frame.clone())
                }
                Some((FrameAction::Delay, delay)) => {
                    proxy.fault(
                        "frame_delay",
                        format!("{} by {} ms", describe(), delay.as_millis()),
                    );
                    let tx = tx.clone();
                    let late = frame.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(late);
                    });
                    None
                }
                Some((FrameAction::Reorder, _)) => {
                    proxy.fault("frame_reorder", describe());
                    if let Some(previous) = held.replace(frame.clone()) {
                        let _ = tx.send(previous);
                    }
                    None
                }
                Some((FrameAction::Corrupt, _)) => match corrupt(&frame) {
                    Some(bad) => {
                        proxy.fault("frame_corrupt", describe());
                        Some(bad)
                    }
                    None => Some(frame.clone()),
                },
            };
            if let Some(frame) = forward {
                let _ = tx.send(frame);
                if let Some(late) = held.take() {
                    let _ = tx.send(late);
                }
            }
        }
        if let Some(late) = held.take() {
            let _ = tx.send(late);
        }
        drop(tx);
    };
    tokio::join!(reader_side, writer);
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
