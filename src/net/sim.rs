//! turmoil's simulated TCP. Only usable inside a running `turmoil::Sim` (turmoil panics outside).

use super::{Accepted, BoxStream, Listener, Network};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use turmoil::net::TcpStream;

/// turmoil's network. With [`HostSockets`] (the simulated world gives each host its own), the
/// host's connections are closed in the order they were opened when it crashes.
#[derive(Clone, Default)]
pub struct TurmoilNetwork {
    sockets: Option<Arc<HostSockets>>,
}

impl TurmoilNetwork {
    pub fn crash_ordered(sockets: Arc<HostSockets>) -> Self {
        TurmoilNetwork {
            sockets: Some(sockets),
        }
    }

    fn wrap(&self, stream: TcpStream) -> BoxStream {
        match &self.sockets {
            Some(sockets) => Box::pin(sockets.track(stream)),
            None => Box::pin(stream),
        }
    }
}

struct TurmoilListener {
    listener: turmoil::net::TcpListener,
    network: TurmoilNetwork,
}

impl Listener for TurmoilListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Accepted>> {
        Box::pin(async move {
            let (stream, peer) = self.listener.accept().await?;
            Ok((self.network.wrap(stream), peer.to_string()))
        })
    }

    fn local_addr(&self) -> io::Result<String> {
        self.listener.local_addr().map(|addr| addr.to_string())
    }
}

impl Network for TurmoilNetwork {
    fn connect(&self, addr: String) -> BoxFuture<'static, io::Result<BoxStream>> {
        let network = self.clone();
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            Ok(network.wrap(stream))
        })
    }

    fn bind(&self, addr: String) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        let network = self.clone();
        Box::pin(async move {
            let listener = turmoil::net::TcpListener::bind(addr).await?;
            Ok(Box::new(TurmoilListener { listener, network }) as Box<dyn Listener>)
        })
    }
}

/// The open connections of one simulated host. When a host crashes (or restarts), turmoil drops
/// its tasks in tokio's order, which follows task ids, a process-wide counter; each dropped socket
/// sends its FIN or RST with the next latency drawn from the seeded RNG. So that a run does not
/// depend on what ran before it in the same process, the sockets of a crashing host are gathered
/// as their tasks drop and closed together, in the order they were opened.
#[derive(Default)]
pub struct HostSockets {
    crashing: AtomicBool,
    opened: AtomicU64,
    /// Shared by every open socket of the host; the last one to drop closes the gathered sockets.
    gathered: Mutex<Weak<Gathered>>,
}

impl HostSockets {
    /// Runs `crash` (turmoil's crash or bounce of this host) so that the sockets it drops are
    /// closed in the order they were opened.
    pub fn crash_with<T>(&self, crash: impl FnOnce() -> T) -> T {
        self.crashing.store(true, Ordering::SeqCst);
        let result = crash();
        self.crashing.store(false, Ordering::SeqCst);
        result
    }

    fn track(self: &Arc<Self>, stream: TcpStream) -> OrderedStream {
        let gathered = {
            let mut weak = self.gathered.lock();
            weak.upgrade().unwrap_or_else(|| {
                let fresh = Arc::new(Gathered::default());
                *weak = Arc::downgrade(&fresh);
                fresh
            })
        };
        OrderedStream {
            opened: self.opened.fetch_add(1, Ordering::SeqCst),
            stream: Some(stream),
            host: self.clone(),
            gathered,
        }
    }
}

#[derive(Default)]
struct Gathered(Mutex<Vec<(u64, TcpStream)>>);

impl Drop for Gathered {
    fn drop(&mut self) {
        let mut streams = std::mem::take(self.0.get_mut());
        streams.sort_by_key(|(opened, _)| *opened);
        // Dropped one by one, in the order they were opened: each sends its FIN (or RST) now,
        // still inside turmoil's crash of the host.
        for (_, stream) in streams {
            drop(stream);
        }
    }
}

/// A turmoil stream that, dropped while its host crashes, is handed to the host's [`Gathered`]
/// sockets instead of closing at once.
struct OrderedStream {
    opened: u64,
    stream: Option<TcpStream>,
    host: Arc<HostSockets>,
    gathered: Arc<Gathered>,
}

impl OrderedStream {
    fn inner(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.stream.as_mut().expect("taken only on drop"))
    }
}

impl Drop for OrderedStream {
    fn drop(&mut self) {
        if self.host.crashing.load(Ordering::SeqCst) {
            if let Some(stream) = self.stream.take() {
                let mut gathered = self.gathered.0.lock();
                gathered.push((self.opened, stream));
            }
        }
    }
}

impl AsyncRead for OrderedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().inner().poll_read(cx, buf)
    }
}

impl AsyncWrite for OrderedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().inner().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().inner().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().inner().poll_shutdown(cx)
    }
}
