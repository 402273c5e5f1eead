//! [`WriteDeadlineListener`]: a poem listener with a write deadline.

use std::future::Future;

use poem::listener::{Acceptor, Listener};
use poem::web::{LocalAddr, RemoteAddr};
use ssekit_tower::WriteDeadline;

ssekit_tower::__write_deadline_listener! {
    /// `poem::Server` gives hyper no timer, so no request-head timeout of
    /// its own applies (its `idle_timeout` asks the connection for a
    /// graceful shutdown, which hyper does not do while half a request head
    /// is in): the first head's deadline here is what closes a client that
    /// sends half of one; a later head on a kept-alive connection is not
    /// timed. poem also notices a client that closed a quiet stream only at
    /// the stream's next write (keep the keep-alive on), and its graceful
    /// shutdown waits for such connections unless given a timeout, as below.
    /// `ssekit_poem::serve` (feature `serve`, default) has both deadlines, a
    /// 10 s request-head timeout and a 30 s write deadline, notices a
    /// closed client at once, and closes what is left after its shutdown
    /// grace.
    ///
    /// ```no_run
    /// # async fn run(app: poem::Route, signal: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
    /// use std::time::Duration;
    /// let listener = poem::listener::TcpListener::bind("127.0.0.1:3000");
    /// let listener = ssekit_poem::WriteDeadlineListener::new(listener, Duration::from_secs(30));
    /// poem::Server::new(listener)
    ///     .run_with_graceful_shutdown(app, signal, Some(Duration::from_secs(1)))
    ///     .await
    /// # }
    /// ```
}

impl<L: Listener> Listener for WriteDeadlineListener<L> {
    type Acceptor = WriteDeadlineAcceptor<L::Acceptor>;

    async fn into_acceptor(self) -> std::io::Result<Self::Acceptor> {
        Ok(WriteDeadlineAcceptor {
            inner: self.inner.into_acceptor().await?,
            deadlines: self.deadlines,
        })
    }
}

/// The acceptor of a [`WriteDeadlineListener`]: its connections are
/// [`WriteDeadline`]s.
#[derive(Debug)]
pub struct WriteDeadlineAcceptor<A> {
    inner: A,
    deadlines: ssekit_tower::write_deadline::Deadlines,
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
        let deadlines = self.deadlines;
        let accepted = self.inner.accept();
        async move {
            let (io, local, remote, scheme) = accepted.await?;
            Ok((deadlines.wrap(io), local, remote, scheme))
        }
    }
}
