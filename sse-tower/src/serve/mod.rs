//! [`serve`]: an HTTP/1.1 server for a tower service, as easy as
//! `axum::serve`, that hands event streams off after their head
//! ([`http1`](crate::http1)) and ends them all on graceful shutdown; with
//! [`Serve::tls`] (feature `tls`), HTTPS, and HTTP/2 for the clients that
//! choose it.

#[cfg(feature = "tls")]
mod h2;
mod listener;
mod per_ip;
#[cfg(feature = "tls")]
mod tls;

use std::any::Any;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use ssekit_core::Event;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

mod signal;

use listener::is_connection_error;
pub use listener::{Listener, accept, bind_reuse_port};
use per_ip::PerIp;
pub use signal::shutdown_signal;
#[cfg(feature = "tls")]
pub use tls::tls_config;

use crate::http1::{HttpService, ResponseBody, connection};
use crate::{Retry, Shutdown, WriteDeadline};

#[cfg(feature = "tls")]
type TlsConfig = Option<std::sync::Arc<rustls::ServerConfig>>;
#[cfg(not(feature = "tls"))]
type TlsConfig = ();

type MakeService<A, S> = Box<dyn FnMut(&A) -> S + Send>;

/// Serves `service` on `listener` over HTTP/1.1 (or HTTPS with HTTP/2,
/// with [`Serve::tls`]) once the returned [`Serve`] is awaited, until its
/// graceful shutdown ends, with the defaults listed at [`Serve`]. Every
/// HTTP/1.1 event stream response is handed off after its head, as
/// [`http1::serve_connection`](crate::http1::serve_connection) does.
/// Upgrades (WebSocket) are not served.
///
/// ```no_run
/// use std::convert::Infallible;
/// use ssekit_core::Event;
/// use ssekit_tower::SseLayer;
/// use tower::ServiceBuilder;
///
/// # async fn run() -> std::io::Result<()> {
/// let service = ServiceBuilder::new().layer(SseLayer::new()).service_fn(
///     |_: http::Request<hyper::body::Incoming>| async {
///         let events = futures_util::stream::iter([Event::data("hello")]);
///         Ok::<_, Infallible>(http::Response::new(events))
///     },
/// );
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ssekit_tower::serve(listener, service)
///     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap() })
///     .await
/// # }
/// ```
pub fn serve<L, S>(listener: L, service: S) -> Serve<L, S>
where
    L: Listener,
    S: Clone + Send + 'static,
{
    serve_with(listener, move |_: &L::Addr| service.clone())
}

/// [`serve`], with a service made for each connection from its peer's
/// address, for services that want to know it (the adapters insert it
/// into each request's extensions so).
///
/// ```no_run
/// use std::convert::Infallible;
/// use std::net::SocketAddr;
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ssekit_tower::serve::serve_with(listener, |peer: &SocketAddr| {
///     let peer = *peer;
///     tower::service_fn(move |_: http::Request<hyper::body::Incoming>| async move {
///         Ok::<_, Infallible>(http::Response::new(peer.to_string()))
///     })
/// })
/// .await
/// # }
/// ```
pub fn serve_with<L, S, F>(listener: L, make_service: F) -> Serve<L, S>
where
    L: Listener,
    F: FnMut(&L::Addr) -> S + Send + 'static,
{
    Serve {
        listener,
        make_service: Box::new(make_service),
        signal: Box::pin(std::future::pending()),
        header_read_timeout: Duration::from_secs(10),
        write_deadline: Duration::from_secs(30),
        shutdown_retry: Some(Shutdown::DEFAULT_RETRY),
        shutdown_event: None,
        shutdown_grace: Duration::from_millis(500),
        max_connections_per_ip: None,
        tls: TlsConfig::default(),
    }
}

/// A server from [`serve`]: `.await` it to run it. It resolves once a
/// graceful shutdown is done; accept errors are retried, never returned.
///
/// Defaults: a request head must arrive within 10 s
/// ([`header_read_timeout`](Self::header_read_timeout)); a write that makes
/// no progress for 30 s closes its connection
/// ([`write_deadline`](Self::write_deadline)); on shutdown, a `retry:`
/// drawn for each stream from [`Shutdown::DEFAULT_RETRY`]
/// ([`shutdown_retry`](Self::shutdown_retry)), no server-wide final event
/// and 500 ms of grace ([`shutdown_grace`](Self::shutdown_grace)); plain
/// HTTP ([`tls`](Self::tls) for HTTPS). Every TCP connection gets `TCP_NODELAY`. A client that closes its
/// connection is noticed at once, even on a quiet stream, and its stream
/// dropped then, not at its next write.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<L: Listener, S> {
    listener: L,
    make_service: MakeService<L::Addr, S>,
    signal: Pin<Box<dyn Future<Output = ()> + Send>>,
    header_read_timeout: Duration,
    write_deadline: Duration,
    shutdown_retry: Option<Retry>,
    shutdown_event: Option<Event>,
    shutdown_grace: Duration,
    max_connections_per_ip: Option<usize>,
    tls: TlsConfig,
}

impl<L: Listener, S> Serve<L, S> {
    /// Shuts down gracefully when `signal` completes: lets the responses
    /// in flight finish and closes idle connections, and ends every
    /// handed-off event stream after the events its body has ready (its
    /// own `Shutdown` final event among them), then the
    /// [`shutdown_event`](Self::shutdown_event) if its body did not end.
    /// What is still open after the [grace](Self::shutdown_grace) is closed.
    ///
    /// Until those connections are done (at most the grace), the listener
    /// stays open and what arrives is answered, not reset: an event stream
    /// ends at once, after its shutdown `retry:`, and any other response
    /// goes without keep-alive. Then what the kernel queued meanwhile is
    /// accepted and answered too, and the listener closes. So in a restart
    /// with [`bind_reuse_port`], where the kernel shares new connections
    /// between the old process and the new one, the old one refuses none,
    /// but for the microseconds between that last accept and the close
    /// (Linux resets what a closing listener holds; `sysctl
    /// net.ipv4.tcp_migrate_req=1`, Linux 5.14 and later, hands it to the
    /// new process instead).
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Box::pin(signal);
        self
    }

    /// Closes a connection whose next request head has not fully arrived
    /// `timeout` after it opened or after its last response (default
    /// 10 s), so an idle keep-alive connection closes after it too.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Closes a connection whose writes make no progress for `deadline`
    /// (default 30 s): see [`WriteDeadline`].
    pub fn write_deadline(mut self, deadline: Duration) -> Self {
        self.write_deadline = deadline;
        self
    }

    /// Sends each handed-off event stream that shutdown ends, unless its
    /// body ended by itself, a `retry:` drawn for it from `retry` (default
    /// [`Shutdown::DEFAULT_RETRY`]), so that its clients come back spread
    /// over the jitter window; `None` sends none.
    pub fn shutdown_retry(mut self, retry: impl Into<Option<Retry>>) -> Self {
        self.shutdown_retry = retry.into();
        self
    }

    /// Sends `event` last on every handed-off event stream that shutdown
    /// ends, after the [`shutdown_retry`](Self::shutdown_retry), unless its
    /// body ended by itself (default: none). A `retry:` of its own would
    /// undo the draw.
    pub fn shutdown_event(mut self, event: Event) -> Self {
        self.shutdown_event = Some(event);
        self
    }

    /// How long a graceful shutdown waits for connections to finish before
    /// closing them (default 500 ms).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Serves at most `max` connections at once from one IP address
    /// (default: no cap); a connection over it is answered and closed: an
    /// event stream request with a `retry:` and an `unavailable` notice, as
    /// [`refusal`](crate::refusal) answers what passes (so a browser keeps
    /// reconnecting), any other with `429` and `Retry-After`. Clients behind
    /// one NAT share an address: leave room for them.
    pub fn max_connections_per_ip(mut self, max: usize) -> Self {
        self.max_connections_per_ip = Some(max);
        self
    }

    /// Serves HTTPS with `config` (default: plain HTTP), each connection in
    /// the protocol it chose by ALPN: `h2` by hyper's HTTP/2, with its
    /// streams multiplexed on one connection (a browser's six connections
    /// per origin limit only HTTP/1.1), `http/1.1` with the hand-off. A
    /// `config` that offers no ALPN protocol is given `h2` and `http/1.1`
    /// ([`tls_config`] makes one from PEM files).
    ///
    /// Over HTTP/2 the options hold per stream: the write deadline resets a
    /// stream whose frame waits that long for the peer's flow-control
    /// window (the connection and its other streams go on), the head
    /// timeout bounds the TLS handshake and closes a connection left
    /// without a stream that long, and shutdown ends every event stream
    /// with its final event, then the connection (`GOAWAY`). A connection
    /// carries at most 200 streams at once (hyper's default); a browser
    /// queues the ones past it.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let config = ssekit_tower::serve::tls_config(
    ///     cert.cert.pem().as_bytes(),
    ///     cert.key_pair.serialize_pem().as_bytes(),
    /// )?;
    /// let service = tower::service_fn(|_: http::Request<hyper::body::Incoming>| async {
    ///     Ok::<_, Infallible>(http::Response::new(String::from("hello")))
    /// });
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = ssekit_tower::serve(listener, service).tls(config);
    /// let addr = server.local_addr()?;
    /// tokio::spawn(server.into_future());
    ///
    /// // A client that offers `h2` is served HTTP/2.
    /// # let mut roots = rustls::RootCertStore::empty();
    /// # roots.add(cert.cert.der().clone()).unwrap();
    /// let mut client = rustls::ClientConfig::builder()
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// client.alpn_protocols = vec![b"h2".to_vec()];
    /// let tcp = tokio::net::TcpStream::connect(addr).await?;
    /// let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client))
    ///     .connect("localhost".try_into().unwrap(), tcp)
    ///     .await?;
    /// assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: impl Into<std::sync::Arc<rustls::ServerConfig>>) -> Self {
        let mut config = config.into();
        if config.alpn_protocols.is_empty() {
            std::sync::Arc::make_mut(&mut config).alpn_protocols =
                tls::ALPN.iter().map(|protocol| protocol.to_vec()).collect();
        }
        self.tls = Some(config);
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<L::Addr> {
        self.listener.local_addr()
    }
}

impl<L: Listener, S> fmt::Debug for Serve<L, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("write_deadline", &self.write_deadline)
            .field("shutdown_retry", &self.shutdown_retry)
            .field("shutdown_event", &self.shutdown_event)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls", &tls_enabled(&self.tls))
            .finish_non_exhaustive()
    }
}

impl<L, S, B> IntoFuture for Serve<L, S>
where
    L: Listener,
    S: Service<Request<Incoming>, Response = Response<B>> + HttpService<B>,
    B: ResponseBody,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

async fn run<L: Listener, S: HttpService<B>, B: ResponseBody>(
    serve: Serve<L, S>,
) -> io::Result<()> {
    let Serve {
        mut listener,
        mut make_service,
        mut signal,
        header_read_timeout,
        write_deadline,
        shutdown_retry,
        shutdown_event,
        shutdown_grace,
        max_connections_per_ip,
        tls,
    } = serve;
    let tls = Protocols::new(tls, write_deadline, header_read_timeout);
    let per_ip = max_connections_per_ip.map(PerIp::new);
    let mut refusing = http1::Builder::new();
    refusing
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // What a handed-off stream sends as `serve` shuts down, unless its body
    // ended by itself.
    let mut ending = Shutdown::new(CancellationToken::new()).retry(shutdown_retry);
    if let Some(event) = shutdown_event {
        ending = ending.final_event(event);
    }
    // Closes what is left once the grace is over.
    let close = CancellationToken::new();
    let connections = TaskTracker::new();
    loop {
        let (mut io, addr) = tokio::select! {
            accepted = accept(&mut listener) => accepted,
            () = &mut signal => break,
        };
        if let Some(tcp) = (&mut io as &mut dyn Any).downcast_mut::<TcpStream>() {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY not set");
            }
        }
        let admitted = match per_ip.as_ref().map(|per_ip| per_ip.admit(&addr)) {
            Some(Err(over_limit)) => {
                let io = WriteDeadline::new(io, write_deadline);
                let signal = ending.token().clone().cancelled_owned();
                tls.spawn(
                    (&connections, &close),
                    &refusing,
                    io,
                    over_limit,
                    signal,
                    None,
                    (),
                );
                continue;
            }
            Some(Ok(admitted)) => admitted,
            None => None,
        };
        let requested = CancellationToken::new();
        let service = FirstRequest {
            inner: make_service(&addr),
            requested: requested.clone(),
        };
        let io = WriteDeadline::new(io, write_deadline);
        // hyper closes at once a connection told to shut down before it
        // read anything, and a request already on its way is lost: so a
        // connection is told only once its first request arrived (one that
        // never sends any is closed when the grace is over).
        let token = ending.token().clone();
        let signal = async move {
            token.cancelled().await;
            requested.cancelled().await;
        };
        // The place is given back when the connection is done.
        let ending = Some(ending.clone());
        tls.spawn(
            (&connections, &close),
            &builder,
            io,
            service,
            signal,
            ending,
            admitted,
        );
    }
    // Shutting down. The listener stays open while the connections drain
    // (at most the grace), so that a connection the kernel queued on it,
    // or hands it now (with SO_REUSEPORT it shares new connections with
    // the process taking over), is answered rather than reset: an event
    // stream ends at once with its shutdown `retry:` (its token is
    // cancelled), anything else gets its response without keep-alive.
    let deadline = tokio::time::Instant::now() + shutdown_grace;
    ending.token().cancel();
    connections.close();
    let mut late = http1::Builder::new();
    late.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(false);
    let mut answer = |io: L::Io, addr: &L::Addr| {
        let service = make_service(addr);
        let io = WriteDeadline::new(io, write_deadline);
        tls.spawn(
            (&connections, &close),
            &late,
            io,
            service,
            std::future::pending(),
            Some(ending.clone()),
            (),
        );
    };
    loop {
        tokio::select! {
            biased;
            () = connections.wait() => break,
            () = tokio::time::sleep_until(deadline) => break,
            accepted = listener.accept() => match accepted {
                Ok((io, addr)) => answer(io, &addr),
                Err(error) if is_connection_error(&error) => {}
                Err(_) => break,
            },
        }
    }
    // What the kernel queued since the last accept, then the close: the
    // window in which a connection is reset is the few microseconds
    // between the two (see `drain_and_close`).
    for (io, addr) in drain_and_close(listener) {
        answer(io, &addr);
    }
    let late_deadline = deadline.max(tokio::time::Instant::now() + LATE_ANSWER);
    if tokio::time::timeout_at(late_deadline, connections.wait())
        .await
        .is_err()
    {
        close.cancel();
        connections.wait().await;
    }
    Ok(())
}

/// Serves `connection` on a task of `connections` until it ends, or until
/// `close` (the grace is over).
fn track<F, E>(connections: &TaskTracker, close: &CancellationToken, connection: F)
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display,
{
    let close = close.clone();
    connections.spawn(async move {
        tokio::select! {
            served = connection => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection failed");
                }
            }
            () = close.cancelled() => {}
        }
    });
}

/// Whether a server serves HTTPS, for its `Debug`.
#[cfg(feature = "tls")]
fn tls_enabled(tls: &TlsConfig) -> bool {
    tls.is_some()
}

#[cfg(not(feature = "tls"))]
fn tls_enabled((): &TlsConfig) -> bool {
    false
}

/// Plain HTTP/1.1, or TLS with the protocol ALPN chose.
struct Protocols {
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<tls::Tls>>,
}

impl Protocols {
    #[cfg(feature = "tls")]
    fn new(config: TlsConfig, write_deadline: Duration, header_read_timeout: Duration) -> Self {
        Protocols {
            tls: config.map(|config| {
                std::sync::Arc::new(tls::Tls::new(config, write_deadline, header_read_timeout))
            }),
        }
    }

    #[cfg(not(feature = "tls"))]
    fn new((): TlsConfig, _: Duration, _: Duration) -> Self {
        Protocols {}
    }

    /// Serves `io` on a task of `connections` (until `close`) with `http1`
    /// or, over TLS, the protocol it chose; `held` is dropped with it.
    #[allow(clippy::too_many_arguments)]
    fn spawn<I, S, B, F, H>(
        &self,
        (connections, close): (&TaskTracker, &CancellationToken),
        http1: &http1::Builder,
        io: I,
        service: S,
        signal: F,
        ending: Option<Shutdown>,
        held: H,
    ) where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        S: HttpService<B>,
        B: ResponseBody,
        F: Future<Output = ()> + Send + 'static,
        H: Send + 'static,
    {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let connection = tls::connection(tls, http1, io, service, signal, ending);
            track(connections, close, async move {
                let _held = held;
                connection.await
            });
            return;
        }
        let connection = connection(http1, io, service, signal, ending);
        track(connections, close, async move {
            let _held = held;
            connection.await
        });
    }
}

/// A connection's service, which tells when the first request arrived.
#[derive(Clone)]
struct FirstRequest<S> {
    inner: S,
    requested: CancellationToken,
}

impl<S, R> Service<R> for FirstRequest<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        if !self.requested.is_cancelled() {
            self.requested.cancel();
        }
        self.inner.call(request)
    }
}

/// How long a connection accepted as the listener closes has to be
/// answered, when the grace is already over.
const LATE_ANSWER: Duration = Duration::from_millis(100);

/// At most this many connections are taken from the queue as it closes.
const DRAIN_LIMIT: usize = 4096;

/// Accepts, without waiting, what the kernel has queued on a TCP listener,
/// then closes it (any other listener is closed at once).
///
/// The race that remains: Linux resets the connections a listening socket
/// holds when it closes (those queued after the last accept here, a few
/// microseconds earlier, and those whose handshake is not complete), even
/// when another socket of its `SO_REUSEPORT` group could take them; with
/// `sysctl net.ipv4.tcp_migrate_req=1` (Linux 5.14 and later) the kernel
/// hands them to that socket instead, and a restart with
/// [`bind_reuse_port`] resets none.
fn drain_and_close<L: Listener>(listener: L) -> Vec<(L::Io, L::Addr)> {
    let mut drained = Vec::new();
    let listener: Box<dyn Any> = Box::new(listener);
    let Ok(listener) = listener.downcast::<tokio::net::TcpListener>() else {
        return drained;
    };
    // Out of the reactor, so that `accept` asks the kernel at once rather
    // than waiting for the reactor to see the queue readable.
    let Ok(listener) = listener.into_std() else {
        return drained;
    };
    while drained.len() < DRAIN_LIMIT {
        let (stream, addr) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) if is_connection_error(&error) => continue,
            Err(_) => break,
        };
        let stream = match stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream))
        {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%error, "a connection accepted on shutdown was lost");
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
        // `L` is `TcpListener` here, so these are its `Io` and `Addr`.
        let stream: Box<dyn Any> = Box::new(stream);
        let addr: Box<dyn Any> = Box::new(addr);
        if let (Ok(stream), Ok(addr)) = (stream.downcast::<L::Io>(), addr.downcast::<L::Addr>()) {
            drained.push((*stream, *addr));
        }
    }
    drained
}
