//! Evicting connections whose client stopped reading.
//!
//! A client that stops reading (a frozen tab, a dead peer behind a NAT that
//! keeps the TCP connection open, an attacker holding a zero window) makes
//! the socket's send buffer fill up. From then on the server cannot write,
//! so it stops polling the response body: an [`SseBody`](crate::SseBody)
//! never runs again and cannot notice anything itself. The connection, its
//! buffers and its broker subscription would stay for as long as the peer
//! likes.
//!
//! [`WriteDeadline`] wraps the connection's IO instead: when a write (or
//! flush, or shutdown) has been unable to make progress for the whole
//! deadline, it fails with [`io::ErrorKind::TimedOut`], the server closes
//! the connection, and the body, its stream and any subscription are
//! dropped. A client that reads, however slowly, keeps its connection; one
//! that falls too far behind a broker topic is handled by the broker's lag
//! policy instead.
//!
//! The timer costs nothing until a write is first refused: it is allocated
//! then, and reused afterwards. Idle connections and connections whose
//! writes always go through never touch it.
//!
//! This is HTTP/1.1's remedy: one response per connection at a time, so a
//! stalled response is a stalled connection. Over HTTP/2 a stream that its
//! client stops reading is held by flow control without blocking the
//! connection's other streams, so the socket keeps writing and no deadline
//! fires; an HTTP/2 stream's subscription is bounded by the broker's ring.
//!
//! # Example
//!
//! With hyper, wrap each accepted socket (the adapters have the same for
//! their frameworks' listeners):
//!
//! ```no_run
//! use std::time::Duration;
//! use hyper_util::rt::TokioIo;
//! use ssekit_tower::WriteDeadline;
//!
//! # async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
//! loop {
//!     let (socket, _) = listener.accept().await?;
//!     let io = TokioIo::new(WriteDeadline::new(socket, Duration::from_secs(30)));
//!     // hyper::server::conn::http1::Builder::new().serve_connection(io, service) …
//! #   drop(io);
//! }
//! # }
//! ```

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pin_project! {
    /// IO whose writes fail with [`io::ErrorKind::TimedOut`] once they have
    /// made no progress for a whole deadline; reads pass through. See the
    /// [module docs](self).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ssekit_tower::WriteDeadline;
    /// use tokio::io::AsyncWriteExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// // A peer that never reads: its side of the pipe holds 64 bytes.
    /// let (ours, _peer) = tokio::io::duplex(64);
    /// let mut io = WriteDeadline::new(ours, Duration::from_millis(50));
    /// let error = io.write_all(&[0; 1024]).await.unwrap_err();
    /// assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct WriteDeadline<IO> {
        #[pin]
        io: IO,
        deadline: Duration,
        // Allocated when a write is first refused, then reused.
        timer: Option<Pin<Box<Sleep>>>,
        // Whether the timer runs: a write is waiting since it was set.
        waiting: bool,
    }
}

impl<IO> WriteDeadline<IO> {
    /// Wraps `io`: a write that cannot make progress for `deadline` fails.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_tower::WriteDeadline;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let io = WriteDeadline::new(io, Duration::from_secs(30));
    /// assert_eq!(io.deadline(), Duration::from_secs(30));
    /// ```
    pub fn new(io: IO, deadline: Duration) -> Self {
        WriteDeadline {
            io,
            deadline,
            timer: None,
            waiting: false,
        }
    }

    /// The deadline.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_tower::WriteDeadline;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// assert_eq!(WriteDeadline::new(io, Duration::from_secs(5)).deadline(), Duration::from_secs(5));
    /// ```
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The wrapped IO.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_tower::WriteDeadline;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let io = WriteDeadline::new(io, Duration::from_secs(5));
    /// let _inner: &tokio::io::DuplexStream = io.get_ref();
    /// ```
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The wrapped IO, mutably.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_tower::WriteDeadline;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let mut io = WriteDeadline::new(io, Duration::from_secs(5));
    /// let _inner: &mut tokio::io::DuplexStream = io.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// Takes the wrapped IO back.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_tower::WriteDeadline;
    /// let (io, _peer) = tokio::io::duplex(64);
    /// let _inner: tokio::io::DuplexStream = WriteDeadline::new(io, Duration::from_secs(5)).into_inner();
    /// ```
    pub fn into_inner(self) -> IO {
        self.io
    }
}

/// Runs one write-side operation under the deadline.
fn guarded<T>(
    deadline: Duration,
    timer: &mut Option<Pin<Box<Sleep>>>,
    waiting: &mut bool,
    cx: &mut Context<'_>,
    polled: Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    if polled.is_ready() {
        *waiting = false;
        return polled;
    }
    let sleep = match timer {
        Some(sleep) => {
            if !*waiting {
                sleep.as_mut().reset(Instant::now() + deadline);
            }
            sleep
        }
        None => timer.insert(Box::pin(tokio::time::sleep(deadline))),
    };
    *waiting = true;
    ready!(sleep.as_mut().poll(cx));
    tracing::debug!(
        ?deadline,
        "the peer stopped reading; closing the connection"
    );
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "write deadline passed: the peer stopped reading",
    )))
}

impl<IO: AsyncWrite> AsyncWrite for WriteDeadline<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.io.poll_write(cx, buf);
        guarded(*this.deadline, this.timer, this.waiting, cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.io.poll_write_vectored(cx, bufs);
        guarded(*this.deadline, this.timer, this.waiting, cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        // hyper writes an event's chunk header, bytes and CRLF with one
        // `writev` when the IO says it can: keep saying what the IO says.
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let polled = this.io.poll_flush(cx);
        guarded(*this.deadline, this.timer, this.waiting, cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let polled = this.io.poll_shutdown(cx);
        guarded(*this.deadline, this.timer, this.waiting, cx, polled)
    }
}

impl<IO: AsyncRead> AsyncRead for WriteDeadline<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}
