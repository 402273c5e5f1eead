//! [`WriteDeadlineListener`]: a poem listener with a write deadline on
//! every connection.

use std::future::Future;
use std::time::Duration;

use poem::listener::{Acceptor, Listener};
use poem::web::{LocalAddr, RemoteAddr};
use ssekit_tower::WriteDeadline;

/// Wraps a listener so that every connection it accepts is a
/// [`WriteDeadline`]: a client that stops reading is disconnected once a
/// write has made no progress for `deadline`, and its stream (and broker
/// subscription) is dropped. See [`ssekit_tower::write_deadline`].
///
/// ```no_run
/// use std::time::Duration;
/// use poem::{Route, Server, listener::TcpListener};
/// use ssekit_poem::WriteDeadlineListener;
///
/// # async fn run(app: Route) -> std::io::Result<()> {
/// let listener = WriteDeadlineListener::new(TcpListener::bind("127.0.0.1:3000"), Duration::from_secs(30));
/// Server::new(listener).run(app).await
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
    /// use poem::listener::TcpListener;
    /// use ssekit_poem::WriteDeadlineListener;
    ///
    /// let listener = WriteDeadlineListener::new(TcpListener::bind("127.0.0.1:0"), Duration::from_secs(30));
    /// assert_eq!(listener.deadline(), Duration::from_secs(30));
    /// ```
    pub fn new(inner: L, deadline: Duration) -> Self {
        WriteDeadlineListener { inner, deadline }
    }

    /// The deadline given to each connection.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use poem::listener::TcpListener;
    /// # use ssekit_poem::WriteDeadlineListener;
    /// let listener = WriteDeadlineListener::new(TcpListener::bind("127.0.0.1:0"), Duration::from_secs(5));
    /// assert_eq!(listener.deadline(), Duration::from_secs(5));
    /// ```
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl<L: Listener> Listener for WriteDeadlineListener<L> {
    type Acceptor = WriteDeadlineAcceptor<L::Acceptor>;

    async fn into_acceptor(self) -> std::io::Result<Self::Acceptor> {
        Ok(WriteDeadlineAcceptor {
            inner: self.inner.into_acceptor().await?,
            deadline: self.deadline,
        })
    }
}

/// The acceptor of a [`WriteDeadlineListener`]: its connections are
/// [`WriteDeadline`]s.
///
/// ```
/// # use std::time::Duration;
/// use poem::listener::{Acceptor, Listener, TcpListener};
/// use ssekit_poem::WriteDeadlineListener;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let listener = WriteDeadlineListener::new(TcpListener::bind("127.0.0.1:0"), Duration::from_secs(30));
/// let acceptor = listener.into_acceptor().await?;
/// assert_eq!(acceptor.local_addr().len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct WriteDeadlineAcceptor<A> {
    inner: A,
    deadline: Duration,
}

impl<A: Acceptor> Acceptor for WriteDeadlineAcceptor<A> {
    type Io = WriteDeadline<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    fn accept(
        &mut self,
    ) -> impl Future<Output = std::io::Result<(Self::Io, LocalAddr, RemoteAddr, http::uri::Scheme)>> + Send
    {
        let deadline = self.deadline;
        let accepted = self.inner.accept();
        async move {
            let (io, local, remote, scheme) = accepted.await?;
            Ok((WriteDeadline::new(io, deadline), local, remote, scheme))
        }
    }
}
