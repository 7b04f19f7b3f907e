//! A framed connection: a reader of frames and a cheap cloneable sender whose frames a writer task
//! puts on the socket in order. Pushes from other tasks (the chat server notifying a user) go
//! through the same sender, so frames never interleave mid-write.

use super::BoxStream;
use crate::protocol::{Frame, FrameCodec};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, Notify};
use tokio_util::codec::{FramedRead, FramedWrite};

pub type FrameReader = FramedRead<ReadHalf<BoxStream>, FrameCodec>;

/// Frames that may wait for the writer. A peer that sends requests but does not read the replies
/// would otherwise make the queue (and the memory) grow without end; past this the connection is
/// closed.
pub const OUTGOING_LIMIT: usize = 256;

/// Why a server ends a connection whose frame writer stopped.
pub const WRITER_STOPPED: &str =
    "the writer stopped: the peer does not read its replies, or the socket failed";

/// Sends frames to the connection's writer task. Sending after the connection died, or when the
/// peer has stopped reading, is a no-op that reports `false`.
#[derive(Debug, Clone)]
pub struct FrameSender {
    tx: mpsc::Sender<Frame>,
    overflow: Arc<Notify>,
}

impl FrameSender {
    pub fn send(&self, frame: Frame) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                // The writer stops and drops its end, which closes the connection.
                self.overflow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Splits `stream` into a frame reader (decoding with `read_codec`) and a sender (encoding with
/// `write_codec`). The writer task ends when every sender is dropped or the socket fails.
pub fn framed(
    stream: BoxStream,
    read_codec: FrameCodec,
    write_codec: FrameCodec,
) -> (FrameReader, FrameSender) {
    let (read_half, write_half) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Frame>(OUTGOING_LIMIT);
    let overflow = Arc::new(Notify::new());
    let mut sink: FramedWrite<WriteHalf<BoxStream>, FrameCodec> =
        FramedWrite::new(write_half, write_codec);
    let stop = overflow.clone();
    tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                biased;
                _ = stop.notified() => {
                    tracing::debug!("frame writer stopped: the peer does not read");
                    break;
                }
                frame = rx.recv() => frame,
            };
            let Some(frame) = frame else { break };
            if let Err(err) = sink.send(frame).await {
                tracing::debug!("frame writer stopped: {err}");
                break;
            }
        }
        rx.close();
        let _ = sink.close().await;
    });
    (
        FramedRead::new(read_half, read_codec),
        FrameSender { tx, overflow },
    )
}

/// Reads the next frame; `Ok(None)` on a clean end of stream.
pub async fn next_frame(
    reader: &mut FrameReader,
) -> Result<Option<Frame>, crate::protocol::FrameError> {
    reader.next().await.transpose()
}
