//! The transport seam: parties dial and listen through [`Network`], so the same code runs on
//! turmoil's simulated network and on real TCP.
//!
//! The trait is object-safe (boxed futures and streams) on purpose: a party holds an
//! `Arc<dyn Network>` and stays a plain struct instead of growing a type parameter everywhere.

mod framed;
mod grpc;
mod real;
mod sim;

pub use framed::{
    framed, framed_with, next_frame, FrameReader, FrameSender, ReplySlot, REPLY_SLOTS,
    WRITER_STOPPED, WRITE_TIMEOUT,
};
pub use grpc::{grpc_channel, GrpcConn, GrpcIncoming};
pub use real::TokioNetwork;
pub use sim::{HostSockets, TurmoilNetwork};

use futures::future::BoxFuture;
use std::io;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

pub type BoxStream = Pin<Box<dyn Stream>>;

/// An accepted connection and the peer's address as text.
pub type Accepted = (BoxStream, String);

pub trait Listener: Send + 'static {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Accepted>>;
    /// The address actually bound (`ip:port`), e.g. the port chosen for a bind to port 0.
    fn local_addr(&self) -> io::Result<String>;
}

pub trait Network: Send + Sync + 'static {
    /// Connects to `addr` (`host:port`; host names resolve in the simulation's DNS when simulated).
    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<BoxStream>>;
    /// Listens on `addr` (`ip:port`).
    fn bind(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Listener>>>;
}

/// Waits for the next connection. A failed accept (out of file descriptors, a connection reset
/// before it was accepted) is logged and retried after a short pause: one bad moment must not stop
/// a server.
pub async fn accept_next(listener: &mut dyn Listener) -> Accepted {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err) => {
                tracing::warn!("accept failed, retrying: {err}");
                crate::timer::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
