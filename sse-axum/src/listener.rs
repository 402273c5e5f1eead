//! [`WriteDeadlineListener`]: `axum::serve` with a write deadline.

use std::io;

use axum::serve::Listener;
use ssekit_tower::WriteDeadline;

ssekit_tower::__write_deadline_listener! {
    /// `axum::serve` gives hyper no timer, so hyper's own request-head
    /// timeout never applies: the first head's deadline here is what closes
    /// a client that sends half of one (and lets `with_graceful_shutdown`
    /// finish). A later head on a kept-alive connection is not timed.
    /// `ssekit_axum::serve` (feature `serve`, default) times every head, a
    /// 10 s request-head timeout beside its 30 s write deadline, and closes
    /// what is left after its shutdown grace.
    ///
    /// ```no_run
    /// # async fn run(app: axum::Router) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// let listener = ssekit_axum::WriteDeadlineListener::new(listener, std::time::Duration::from_secs(30));
    /// axum::serve(listener, app).await
    /// # }
    /// ```
}

impl<L: Listener> Listener for WriteDeadlineListener<L> {
    type Io = WriteDeadline<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        (self.deadlines.wrap(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
