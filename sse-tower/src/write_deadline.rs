//! Evicting connections whose client stopped reading.
//!
//! When a client stops reading, the socket's send buffer fills and the
//! server stops polling the body, so nothing in the body can notice.
//! [`WriteDeadline`] wraps the connection's IO instead (wrap each accepted
//! socket; the adapters do the same for their listeners): a write, flush or
//! shutdown that makes no progress for the whole deadline fails with
//! [`io::ErrorKind::TimedOut`], the server closes the connection, and the
//! body and its stream are dropped. A client that reads, however slowly,
//! keeps its connection. The timer is allocated at the first refused write.
//!
//! It is one of the two deadlines a server needs; the other is a
//! request-head read timeout, or a client that sends half a request head
//! holds its connection for ever (and a graceful shutdown waits on it).
//! With hyper, that is the builder's `header_read_timeout`, which applies
//! only with a timer; for a server that has none (`axum::serve`,
//! `poem::Server`), [`WriteDeadline::first_head_deadline`] times the first
//! head of each connection. `serve` (feature `serve`) sets both (10 s and
//! 30 s); a server of your own sets them so:
//!
//! ```no_run
//! use std::time::Duration;
//! use hyper::server::conn::http1;
//! use hyper_util::rt::{TokioIo, TokioTimer};
//! use ssekit_tower::WriteDeadline;
//!
//! # async fn run(listener: tokio::net::TcpListener) -> std::io::Result<()> {
//! let mut builder = http1::Builder::new();
//! builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
//! loop {
//!     let (socket, _) = listener.accept().await?;
//!     let io = TokioIo::new(WriteDeadline::new(socket, Duration::from_secs(30)));
//!     let service = hyper::service::service_fn(|_request| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//!     });
//!     tokio::spawn(builder.serve_connection(io, service));
//! }
//! # }
//! ```
//!
//! Over HTTP/2, flow control holds a stalled stream without blocking its
//! connection, so this deadline fires only when the whole connection
//! stalls; `serve`'s HTTP/2 (`Serve::tls`, feature `tls`) also resets each
//! stream whose frame waits the deadline for its flow-control window.
//!
//! An eviction is logged at `info` (with the deadline, nothing of the
//! request) and, with feature `metrics`, counted by
//! `sse_write_deadline_evictions_total`, once per connection (or per
//! HTTP/2 stream `serve` resets); its stream ends as a `disconnect`. Every server that wraps its sockets in it
//! reports evictions: `serve`, and the adapters' listeners.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::telemetry;

pin_project! {
    /// IO whose writes fail with [`io::ErrorKind::TimedOut`] once they have
    /// made no progress for a whole deadline; reads pass through.
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
        // Whether the deadline passed once: reported once per connection.
        evicted: bool,
        // The first request head's deadline, until its blank line is read.
        head: Option<FirstHead>,
    }
}

/// The deadlines the adapters' `WriteDeadlineListener`s give each
/// connection they accept.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// The write deadline.
    pub write: Duration,
    /// The first request head's deadline, if any.
    pub first_head: Option<Duration>,
}

impl Deadlines {
    /// The first request head's deadline by default: `serve`'s head timeout.
    pub const DEFAULT_FIRST_HEAD: Duration = Duration::from_secs(10);

    /// `write`, and the default first-head deadline.
    pub fn new(write: Duration) -> Self {
        Deadlines {
            write,
            first_head: Some(Self::DEFAULT_FIRST_HEAD),
        }
    }

    /// `io` with these deadlines, counted from now.
    pub fn wrap<IO>(&self, io: IO) -> WriteDeadline<IO> {
        let io = WriteDeadline::new(io, self.write);
        match self.first_head {
            Some(deadline) => io.first_head_deadline(deadline),
            None => io,
        }
    }
}

/// The deadline of a connection's first request head.
#[derive(Debug)]
struct FirstHead {
    until: Instant,
    // Allocated at the first read that waits.
    timer: Option<Pin<Box<Sleep>>>,
    // The line read so far is empty: a line end came last.
    at_line_start: bool,
}

impl FirstHead {
    /// Reads `bytes` of the head; true once its blank line is among them.
    fn ends_in(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            match byte {
                b'\n' if self.at_line_start => return true,
                b'\n' => self.at_line_start = true,
                b'\r' => {}
                _ => self.at_line_start = false,
            }
        }
        false
    }
}

impl<IO> WriteDeadline<IO> {
    /// Wraps `io`: a write that cannot make progress for `deadline` fails.
    pub fn new(io: IO, deadline: Duration) -> Self {
        WriteDeadline {
            io,
            deadline,
            timer: None,
            waiting: false,
            evicted: false,
            head: None,
        }
    }

    /// Also fails reads with [`io::ErrorKind::TimedOut`] if the first
    /// request head has not fully arrived `deadline` from now (default:
    /// not timed), for a server whose HTTP layer has no head timeout of its
    /// own (`axum::serve`, `poem::Server`). Only the first head is timed: a
    /// later one on a kept-alive connection may follow a request body.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ssekit_tower::WriteDeadline;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (ours, mut peer) = tokio::io::duplex(1024);
    /// let mut io = WriteDeadline::new(ours, Duration::from_secs(30))
    ///     .first_head_deadline(Duration::from_millis(50));
    /// peer.write_all(b"GET / HTTP/1.1\r\nhost:").await?;
    /// let mut buf = [0; 1024];
    /// io.read(&mut buf).await?; // half a head
    /// let error = io.read(&mut buf).await.unwrap_err();
    /// assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    /// # Ok(())
    /// # }
    /// ```
    pub fn first_head_deadline(mut self, deadline: Duration) -> Self {
        self.head = Some(FirstHead {
            until: Instant::now() + deadline,
            timer: None,
            at_line_start: false,
        });
        self
    }

    /// The deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The wrapped IO.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The wrapped IO, mutably.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// Takes the wrapped IO back.
    pub fn into_inner(self) -> IO {
        self.io
    }
}

impl<IO> WriteDeadline<IO> {
    /// Runs one write-side operation of the IO under the deadline.
    fn guarded<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        operation: impl FnOnce(Pin<&mut IO>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let this = self.project();
        let polled = operation(this.io, cx);
        if polled.is_ready() {
            *this.waiting = false;
            return polled;
        }
        let deadline = *this.deadline;
        let sleep = match this.timer {
            Some(sleep) => {
                if !*this.waiting {
                    sleep.as_mut().reset(Instant::now() + deadline);
                }
                sleep
            }
            None => this.timer.insert(Box::pin(tokio::time::sleep(deadline))),
        };
        *this.waiting = true;
        ready!(sleep.as_mut().poll(cx));
        if !std::mem::replace(this.evicted, true) {
            telemetry::evicted(deadline);
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "write deadline passed: the peer stopped reading",
        )))
    }
}

impl<IO: AsyncWrite> AsyncWrite for WriteDeadline<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.guarded(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.guarded(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        // hyper writes an event's chunk header, bytes and CRLF with one
        // `writev` when the IO says it can: keep saying what the IO says.
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guarded(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guarded(cx, |io, cx| io.poll_shutdown(cx))
    }
}

impl<IO: AsyncRead> AsyncRead for WriteDeadline<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let Some(head) = this.head.as_mut() else {
            return this.io.poll_read(cx, buf);
        };
        let before = buf.filled().len();
        match this.io.poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if head.ends_in(&buf.filled()[before..]) {
                    *this.head = None;
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => {}
        }
        let until = head.until;
        let timer = head
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        ready!(timer.as_mut().poll(cx));
        tracing::debug!("the first request head did not arrive in time; closing the connection");
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request head deadline passed",
        )))
    }
}
