//! Glue that lets tonic run over any [`Network`]: an incoming stream of accepted connections for
//! the server side, and a lazy channel whose connector dials through the network for the client.

use super::{BoxStream, Listener, Network};
use futures::Stream as FuturesStream;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint, Uri};

/// One accepted connection as tonic's server wants it.
pub struct GrpcConn(BoxStream);

impl tonic::transport::server::Connected for GrpcConn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for GrpcConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.as_mut().poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.as_mut().poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.as_mut().poll_shutdown(cx)
    }
}

/// The accepted connections of a listener, for `Server::serve_with_incoming`.
pub type GrpcIncoming = Pin<Box<dyn FuturesStream<Item = io::Result<GrpcConn>> + Send>>;

impl GrpcConn {
    pub fn incoming(listener: Box<dyn Listener>) -> GrpcIncoming {
        Box::pin(futures::stream::unfold(
            listener,
            |mut listener| async move {
                let next = listener.accept().await.map(|(stream, _)| GrpcConn(stream));
                Some((next, listener))
            },
        ))
    }
}

/// A channel to `addr` that connects on first use and reconnects after a failure, dialling
/// through `network`. Lazy so that a server that is down at start-up is just a failed call.
pub fn grpc_channel(
    network: Arc<dyn Network>,
    addr: &str,
) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?;
    let connector = tower::service_fn(move |uri: Uri| {
        let network = network.clone();
        async move {
            let authority = uri
                .authority()
                .map(|a| a.as_str().to_owned())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "uri without authority")
                })?;
            let stream = network.connect(authority).await?;
            Ok::<_, io::Error>(TokioIo::new(stream))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}
