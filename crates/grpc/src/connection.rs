//! Accepted connections, bounded: how many may be open at once and how long one
//! may stay silent.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Connections the server keeps open at once; one more is closed as soon as it is
/// accepted (and logged), so that idle sockets cannot exhaust file descriptors.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a connection may send nothing before it is closed. A live HTTP/2 peer
/// answers the server's pings every [`KEEPALIVE_INTERVAL`](crate::KEEPALIVE_INTERVAL),
/// so this closes sockets that never speak HTTP/2 and peers that went away.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Bounds on the connections of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// At most this many connections at once ([`MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Closed after sending nothing for this long ([`IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// How often the server pings an HTTP/2 peer ([`KEEPALIVE_INTERVAL`](crate::KEEPALIVE_INTERVAL)).
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered ([`KEEPALIVE_TIMEOUT`](crate::KEEPALIVE_TIMEOUT)).
    pub keepalive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: MAX_CONNECTIONS,
            idle_timeout: IDLE_TIMEOUT,
            keepalive_interval: crate::KEEPALIVE_INTERVAL,
            keepalive_timeout: crate::KEEPALIVE_TIMEOUT,
        }
    }
}

/// The connections `listener` accepts, each holding one of `limits.max_connections`
/// places until it closes; connections beyond that are closed at once.
pub(crate) fn accept(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> impl Stream<Item = io::Result<BoundedConnection>> {
    let places = Arc::new(Semaphore::new(limits.max_connections));
    futures::stream::unfold(listener, move |listener| {
        let places = places.clone();
        async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors, say: wait instead of spinning.
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return Some((Err(error), listener));
                    }
                };
                let Ok(place) = places.clone().try_acquire_owned() else {
                    tracing::warn!(
                        %peer,
                        max = limits.max_connections,
                        "too many connections; closing the new one"
                    );
                    drop(stream);
                    continue;
                };
                // Small frames of signal updates must not wait for Nagle's algorithm.
                let _ = stream.set_nodelay(true);
                let connection = BoundedConnection {
                    stream,
                    idle_timeout: limits.idle_timeout,
                    deadline: Box::pin(tokio::time::sleep(limits.idle_timeout)),
                    _place: place,
                };
                return Some((Ok(connection), listener));
            }
        }
    })
}

/// An accepted TCP connection that fails its reads once the peer has sent nothing
/// for the idle timeout, and frees its place among the open connections when dropped.
#[derive(Debug)]
pub(crate) struct BoundedConnection {
    stream: TcpStream,
    idle_timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    _place: OwnedSemaphorePermit,
}

impl Connected for BoundedConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for BoundedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > filled {
                    let next = Instant::now() + self.idle_timeout;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::debug!(timeout = ?self.idle_timeout, "closing an idle connection");
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the peer sent nothing within the idle timeout",
                    )))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for BoundedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
