//! [`WriteDeadlineListener`]: `axum::serve` with a write deadline.

use std::io;

use axum::serve::Listener;
use ssekit_tower::WriteDeadline;

ssekit_tower::__write_deadline_listener! {
    /// That is the write deadline only: `axum::serve` gives hyper no timer,
    /// so no request-head timeout applies, and it offers no way to set one.
    /// A client that sends half a request head holds its connection until
    /// it goes, and `with_graceful_shutdown` waits on it (hyper closes at
    /// once only a connection that has read nothing). `ssekit_axum::serve`
    /// (feature `serve`, default) has both deadlines, a 10 s request-head
    /// timeout and a 30 s write deadline, and closes what is left after its
    /// shutdown grace.
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
        (WriteDeadline::new(io, self.deadline), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
