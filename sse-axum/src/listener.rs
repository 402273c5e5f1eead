//! [`WriteDeadlineListener`]: `axum::serve` with a write deadline on every
//! connection.

use std::io;
use std::time::Duration;

use axum::serve::Listener;
use ssekit_tower::WriteDeadline;

/// Wraps a listener so that every connection it accepts is a
/// [`WriteDeadline`]: a client that stops reading is disconnected once a
/// write has made no progress for `deadline`, and its stream (and broker
/// subscription) is dropped. See [`ssekit_tower::write_deadline`].
///
/// Choose a deadline well above the keep-alive interval's worst network
/// stall, e.g. 30 s: a client that reads, however slowly, is never cut off
/// by it.
///
/// ```no_run
/// use std::time::Duration;
/// use axum::Router;
/// use ssekit_axum::WriteDeadlineListener;
///
/// # async fn run(app: Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let listener = WriteDeadlineListener::new(listener, Duration::from_secs(30));
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Debug)]
pub struct WriteDeadlineListener<L> {
    inner: L,
    deadline: Duration,
}

impl<L> WriteDeadlineListener<L> {
    /// Wraps `inner`; its connections' writes time out after `deadline`
    /// without progress.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_axum::WriteDeadlineListener;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listener = WriteDeadlineListener::new(listener, Duration::from_secs(30));
    /// assert_eq!(listener.deadline(), Duration::from_secs(30));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(inner: L, deadline: Duration) -> Self {
        WriteDeadlineListener { inner, deadline }
    }

    /// The deadline given to each connection.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_axum::WriteDeadlineListener;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listener = WriteDeadlineListener::new(listener, Duration::from_secs(5));
    /// assert_eq!(listener.deadline(), Duration::from_secs(5));
    /// # Ok(())
    /// # }
    /// ```
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The wrapped listener.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_axum::WriteDeadlineListener;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listener = WriteDeadlineListener::new(listener, Duration::from_secs(5));
    /// let _addr = listener.get_ref().local_addr()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_ref(&self) -> &L {
        &self.inner
    }
}

impl<L: Listener> Listener for WriteDeadlineListener<L> {
    type Io = WriteDeadline<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        (WriteDeadline::new(io, self.deadline), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
