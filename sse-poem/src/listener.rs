//! [`WriteDeadlineListener`]: a poem listener with a write deadline.

use std::future::Future;
use std::time::Duration;

use poem::listener::{Acceptor, Listener};
use poem::web::{LocalAddr, RemoteAddr};
use ssekit_tower::WriteDeadline;

ssekit_tower::__write_deadline_listener! {
    /// ```no_run
    /// # async fn run(app: poem::Route) -> std::io::Result<()> {
    /// let listener = poem::listener::TcpListener::bind("127.0.0.1:3000");
    /// let listener = ssekit_poem::WriteDeadlineListener::new(listener, std::time::Duration::from_secs(30));
    /// poem::Server::new(listener).run(app).await
    /// # }
    /// ```
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
