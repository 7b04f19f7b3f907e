//! A framed connection: a reader of frames and a cheap cloneable sender whose frames a writer task
//! puts on the socket in order. Pushes from other tasks (the chat server notifying a user) go
//! through the same sender, so frames never interleave mid-write.

use super::BoxStream;
use crate::protocol::{Frame, FrameCodec};
use futures::{SinkExt, StreamExt};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

pub type FrameReader = FramedRead<ReadHalf<BoxStream>, FrameCodec>;

/// Sends frames to the connection's writer task. Sending after the connection died is a no-op
/// that reports `false`.
#[derive(Debug, Clone)]
pub struct FrameSender {
    tx: mpsc::UnboundedSender<Frame>,
}

impl FrameSender {
    pub fn send(&self, frame: Frame) -> bool {
        self.tx.send(frame).is_ok()
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
    let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
    let mut sink: FramedWrite<WriteHalf<BoxStream>, FrameCodec> =
        FramedWrite::new(write_half, write_codec);
    tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if let Err(err) = sink.send(frame).await {
                tracing::debug!("frame writer stopped: {err}");
                break;
            }
        }
        let _ = sink.close().await;
    });
    (FramedRead::new(read_half, read_codec), FrameSender { tx })
}

/// Reads the next frame; `Ok(None)` on a clean end of stream.
pub async fn next_frame(
    reader: &mut FrameReader,
) -> Result<Option<Frame>, crate::protocol::FrameError> {
    reader.next().await.transpose()
}
