//! The two framings: `u16 id, u16 len` on the chat socket and `u16 id, u32 len` on the resource
//! socket, big-endian, followed by a JSON body.
//!
//! The decoder loops over whatever the stream delivered: TCP may split a frame anywhere or put
//! several in one read (the upstream Qt client once got this wrong). A length over the limit is an
//! error before anything of that size is allocated.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Which socket a frame travels on; decides the header layout and the upstream body limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    Chat,
    Resource,
}

impl Framing {
    pub const fn header_len(self) -> usize {
        match self {
            Framing::Chat => 4,
            Framing::Resource => 6,
        }
    }

    /// Largest body upstream accepts from a client (`MAX_LENGTH`).
    pub const fn upstream_max_body(self) -> usize {
        match self {
            Framing::Chat => 2048,
            Framing::Resource => 51200,
        }
    }

    /// Largest body the length field can express.
    pub const fn field_max_body(self) -> usize {
        match self {
            Framing::Chat => u16::MAX as usize,
            Framing::Resource => u32::MAX as usize,
        }
    }
}

/// One frame: a message id and its raw body (JSON text on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub id: u16,
    pub body: Bytes,
}

impl Frame {
    pub fn new(id: u16, body: impl Into<Bytes>) -> Self {
        Frame {
            id,
            body: body.into(),
        }
    }

    /// Serialises `body` as compact JSON.
    pub fn json<T: serde::Serialize>(id: u16, body: &T) -> Self {
        // Serialising our own plain structs cannot fail: no maps with non-string keys, no I/O.
        let text = serde_json::to_vec(body).expect("protocol bodies always serialise");
        Frame::new(id, text)
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{framing:?} frame id {id} declares a body of {len} bytes, over the limit of {max}")]
    TooLong {
        framing: Framing,
        id: u16,
        len: usize,
        max: usize,
    },
    #[error("connection closed in the middle of a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Encoder and decoder for one framing, with a configurable body limit.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    framing: Framing,
    max_body: usize,
}

impl FrameCodec {
    /// A codec that enforces upstream's limit, as a server reading from a client does.
    pub fn upstream(framing: Framing) -> Self {
        FrameCodec {
            framing,
            max_body: framing.upstream_max_body(),
        }
    }

    /// A codec that accepts any length the header can express but never more than `max_body`.
    pub fn with_limit(framing: Framing, max_body: usize) -> Self {
        FrameCodec {
            framing,
            max_body: max_body.min(framing.field_max_body()),
        }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Encodes one frame into bytes, checking the limit.
    pub fn encode_to_vec(&self, frame: &Frame) -> Result<Vec<u8>, FrameError> {
        let mut out = BytesMut::new();
        self.clone().encode(frame.clone(), &mut out)?;
        Ok(out.to_vec())
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let header = self.framing.header_len();
        if src.len() < header {
            return Ok(None);
        }
        let id = u16::from_be_bytes([src[0], src[1]]);
        let len = match self.framing {
            Framing::Chat => u16::from_be_bytes([src[2], src[3]]) as usize,
            Framing::Resource => u32::from_be_bytes([src[2], src[3], src[4], src[5]]) as usize,
        };
        if len > self.max_body {
            return Err(FrameError::TooLong {
                framing: self.framing,
                id,
                len,
                max: self.max_body,
            });
        }
        if src.len() < header + len {
            // Reserve in bounded steps: a peer's header is a claim, not a proof, and a reader with
            // a large limit must not allocate gigabytes on six bytes of input.
            src.reserve((header + len - src.len()).min(64 * 1024));
            return Ok(None);
        }
        src.advance(header);
        let body = src.split_to(len).freeze();
        Ok(Some(Frame { id, body }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = frame.body.len();
        if len > self.max_body {
            return Err(FrameError::TooLong {
                framing: self.framing,
                id: frame.id,
                len,
                max: self.max_body,
            });
        }
        dst.reserve(self.framing.header_len() + len);
        dst.put_u16(frame.id);
        match self.framing {
            Framing::Chat => dst.put_u16(len as u16),
            Framing::Resource => dst.put_u32(len as u32),
        }
        dst.put_slice(&frame.body);
        Ok(())
    }
}

impl From<FrameError> for std::io::Error {
    fn from(err: FrameError) -> Self {
        match err {
            FrameError::Io(io) => io,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}
