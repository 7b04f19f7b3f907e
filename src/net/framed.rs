//! A framed connection: a reader of frames and a cheap cloneable sender whose frames a writer task
//! puts on the socket in order. Pushes from other tasks (the chat server notifying a user) go
//! through the same sender, so frames never interleave mid-write.
//!
//! Backpressure works the way mini-redis does it: a server takes a [`ReplySlot`] before it reads
//! the next request and gives it back only when the reply is on the socket, so a connection whose
//! replies wait is not read from; nothing is ever dropped from the queue. Pushes, which have no
//! request, are sent by a producer that waits for the queue to drain ([`FrameSender::wait_below`])
//! and takes them from its store in pages. The writer gives up only when the socket has accepted
//! nothing for the write timeout, and it sees that mid-frame.

use super::BoxStream;
use crate::protocol::{Frame, FrameCodec};
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::{Encoder, FramedRead};

pub type FrameReader = FramedRead<ReadHalf<BoxStream>, FrameCodec>;

/// How long a socket may accept nothing while frames wait before the connection is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Replies a server may owe one connection before it stops reading that connection's requests:
/// more than a client's window of 5 chunks, few enough that a client that does not read costs
/// a bounded amount of memory.
pub const REPLY_SLOTS: usize = 16;

/// The writer puts up to this many bytes of waiting frames on the socket in one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Why a server ends a connection whose frame writer stopped.
pub const WRITER_STOPPED: &str =
    "the writer stopped: the socket accepted nothing for the write timeout, or failed";

/// Sends frames to the connection's writer task. Sending after the connection died is a no-op
/// that reports `false`.
#[derive(Debug, Clone)]
pub struct FrameSender {
    tx: mpsc::UnboundedSender<Outgoing>,
    slots: Arc<Semaphore>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Frames queued or being written.
    waiting: AtomicUsize,
    /// Woken whenever frames have been written, and when the writer stops.
    written: Notify,
}

#[derive(Debug)]
struct Outgoing {
    frame: Frame,
    /// Given back once the frame is on the socket.
    _slot: Option<OwnedSemaphorePermit>,
}

/// The right to send one reply. The connection's reader holds one while it reads a request, so
/// at most [`REPLY_SLOTS`] replies are owed or waiting at any time.
#[derive(Debug)]
pub struct ReplySlot {
    sender: FrameSender,
    permit: OwnedSemaphorePermit,
}

impl ReplySlot {
    /// Sends the reply; the slot is free again once the reply is written.
    pub fn send(self, frame: Frame) -> bool {
        self.sender.enqueue(frame, Some(self.permit))
    }

    pub fn sender(&self) -> &FrameSender {
        &self.sender
    }
}

impl FrameSender {
    /// Sends a frame that answers no request (a client's request, a server's push).
    pub fn send(&self, frame: Frame) -> bool {
        self.enqueue(frame, None)
    }

    fn enqueue(&self, frame: Frame, slot: Option<OwnedSemaphorePermit>) -> bool {
        self.shared.waiting.fetch_add(1, Ordering::SeqCst);
        let sent = self.tx.send(Outgoing { frame, _slot: slot }).is_ok();
        if !sent {
            self.shared.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        sent
    }

    /// Waits until the connection may owe one more reply; `None` once the writer has stopped.
    pub async fn reserve(&self) -> Option<ReplySlot> {
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        Some(ReplySlot {
            sender: self.clone(),
            permit,
        })
    }

    /// Frames queued or being written.
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::SeqCst)
    }

    /// Waits until fewer than `n` frames wait, or the writer stopped.
    pub async fn wait_below(&self, n: usize) {
        loop {
            let written = self.shared.written.notified();
            if self.waiting() < n || self.is_closed() {
                return;
            }
            written.await;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the writer has stopped.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// Splits `stream` into a frame reader (decoding with `read_codec`) and a sender (encoding with
/// `write_codec`), with the default write timeout and [`REPLY_SLOTS`].
pub fn framed(
    stream: BoxStream,
    read_codec: FrameCodec,
    write_codec: FrameCodec,
) -> (FrameReader, FrameSender) {
    framed_with(stream, read_codec, write_codec, WRITE_TIMEOUT)
}

/// Like [`framed`] with a write timeout of `write_timeout`. The writer task ends when every
/// sender is dropped, the socket fails, or the socket accepts nothing for `write_timeout`.
pub fn framed_with(
    stream: BoxStream,
    read_codec: FrameCodec,
    write_codec: FrameCodec,
    write_timeout: Duration,
) -> (FrameReader, FrameSender) {
    let (read_half, write_half) = tokio::io::split(stream);
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    let sender = FrameSender {
        tx,
        slots: Arc::new(Semaphore::new(REPLY_SLOTS)),
        shared: Arc::default(),
    };
    let writer = Writer {
        rx,
        io: write_half,
        codec: write_codec,
        slots: sender.slots.clone(),
        shared: sender.shared.clone(),
        timeout: write_timeout,
    };
    tokio::spawn(writer.run());
    (FramedRead::new(read_half, read_codec), sender)
}

struct Writer {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    io: WriteHalf<BoxStream>,
    codec: FrameCodec,
    slots: Arc<Semaphore>,
    shared: Arc<Shared>,
    timeout: Duration,
}

impl Writer {
    async fn run(mut self) {
        let mut buf = BytesMut::new();
        let stopped = loop {
            let Some(first) = self.rx.recv().await else {
                break None;
            };
            // Everything already waiting goes out together, up to a batch.
            let mut batch = vec![first];
            while buf.len() + batch.iter().map(|o| o.frame.body.len()).sum::<usize>() < WRITE_BATCH
            {
                match self.rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let count = batch.len();
            let mut failed = None;
            for outgoing in &batch {
                if let Err(err) = self.codec.encode(outgoing.frame.clone(), &mut buf) {
                    failed = Some(err.to_string());
                    break;
                }
            }
            let failed = match failed {
                Some(err) => Some(err),
                None => self.write_all(&mut buf).await.err(),
            };
            drop(batch);
            self.shared.waiting.fetch_sub(count, Ordering::SeqCst);
            self.shared.written.notify_waiters();
            if failed.is_some() {
                break failed;
            }
        };
        if let Some(reason) = stopped {
            tracing::debug!("frame writer stopped: {reason}");
        }
        // Nothing more is accepted: senders see the writer gone, a reader waiting for a reply
        // slot wakes up and ends the connection.
        self.rx.close();
        self.slots.close();
        self.shared.written.notify_waiters();
        let _ = crate::timer::timeout(self.timeout, self.io.shutdown()).await;
    }

    /// Writes `buf` out; fails once the socket has accepted nothing for the write timeout.
    async fn write_all(&mut self, buf: &mut BytesMut) -> Result<(), String> {
        let timeout = self.timeout;
        let stalled = || format!("the socket accepted nothing for {timeout:?}");
        while !buf.is_empty() {
            match crate::timer::timeout(timeout, self.io.write(buf)).await {
                Err(_) => return Err(stalled()),
                Ok(Ok(0)) => return Err("the socket is closed".into()),
                Ok(Ok(n)) => buf.advance(n),
                Ok(Err(err)) => return Err(err.to_string()),
            }
        }
        match crate::timer::timeout(timeout, self.io.flush()).await {
            Err(_) => Err(stalled()),
            Ok(result) => result.map_err(|e| e.to_string()),
        }
    }
}

/// Reads the next frame; `Ok(None)` on a clean end of stream.
pub async fn next_frame(
    reader: &mut FrameReader,
) -> Result<Option<Frame>, crate::protocol::FrameError> {
    reader.next().await.transpose()
}
