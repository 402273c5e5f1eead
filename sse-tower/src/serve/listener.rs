//! What [`serve`](super::serve) accepts connections from, and what it does
//! when accepting fails.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// A source of connections for [`serve`](super::serve), like
/// `axum::serve::Listener`, except that `accept` returns its error:
/// `serve` retries a failed connection at once and waits a second after
/// any other error (such as `EMFILE`, too many open files).
pub trait Listener: Send + 'static {
    /// A connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A peer's address.
    type Addr: Send + 'static;

    /// Accepts the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, Self::Addr)>> + Send;

    /// The address this listener is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}

impl Listener for TcpListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, Self::Addr)>> + Send {
        TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        TcpListener::local_addr(self)
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, Self::Addr)>> + Send {
        tokio::net::UnixListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        tokio::net::UnixListener::local_addr(self)
    }
}

/// How long [`accept`] waits after an error that is not one connection's,
/// as `axum::serve` does.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts the next connection from `listener`, as [`serve`](super::serve)
/// does: a connection that failed before it was accepted is skipped at
/// once, and after any other error (`EMFILE`, too many open files) it logs
/// and waits a second rather than spinning. For an accept loop of your own.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mut listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
/// let (_socket, peer) = ssekit_tower::serve::accept(&mut listener).await;
/// assert_eq!(peer, client.local_addr()?);
/// # Ok(())
/// # }
/// ```
pub async fn accept<L: Listener>(listener: &mut L) -> (L::Io, L::Addr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                tracing::error!(%error, "accept failed; retrying in {ACCEPT_BACKOFF:?}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Whether `error` is one connection's failure (it went away before it was
/// accepted), so the next accept may follow at once.
pub(super) fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Binds a TCP listener with `SO_REUSEPORT`, so that a new process can
/// listen on `addr` before the old one stops and a restart refuses no
/// connection; the kernel spreads new connections over every process
/// bound to it. Where the option does not exist (Windows, Solaris,
/// illumos) it fails with [`io::ErrorKind::Unsupported`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let old = ssekit_tower::serve::bind_reuse_port("127.0.0.1:0".parse().unwrap())?;
/// let new = ssekit_tower::serve::bind_reuse_port(old.local_addr()?)?;
/// assert_eq!(new.local_addr()?, old.local_addr()?);
/// # Ok(())
/// # }
/// ```
pub fn bind_reuse_port(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    set_reuse_port(&socket)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
fn set_reuse_port(socket: &tokio::net::TcpSocket) -> io::Result<()> {
    socket.set_reuseport(true)
}

#[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
fn set_reuse_port(_: &tokio::net::TcpSocket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "SO_REUSEPORT is not available on this platform",
    ))
}

/// The accept queue of [`bind_reuse_port`]'s listener: what Linux caps
/// `somaxconn` at by default.
const LISTEN_BACKLOG: u32 = 4096;
