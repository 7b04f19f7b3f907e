//! The wire protocol, pure: framings, message ids, JSON bodies, error codes and chunk arithmetic.
//!
//! Nothing here does I/O. The frame codecs implement `tokio_util::codec` traits so that a party can
//! wrap any byte stream with them, but they only ever look at buffers.

pub mod body;
pub mod chunk;
pub mod codes;
pub mod frame;
pub mod ids;
pub mod names;

pub use body::WireSize;
pub use chunk::{ChunkPlan, CHUNK_SIZE, MAX_CWND};
pub use codes::ErrorCode;
pub use frame::{Frame, FrameCodec, FrameError, Framing};
