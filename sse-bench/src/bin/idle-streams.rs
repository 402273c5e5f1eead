//! What an idle event stream costs a server in RSS, by transport: HTTP/2
//! over TLS with many streams per connection (`h2`), HTTP/1.1 over TLS
//! (`h1-tls`), and plain HTTP/1.1 (`h1`, the hand-off). It starts the
//! server (the chat example: `--addr`, and `--tls-cert`/`--tls-key` with a
//! certificate it makes), opens `--baseline` streams and reads the
//! server's RSS, opens the rest up to `--streams` and reads it again: the
//! figure is the difference over the streams added. Over `h2` the streams
//! are spread evenly over `--connections` connections (10 000 streams
//! over 10 000 connections: one stream each). Every stream is read, and
//! the chat sends each a `stats` event a second, as in `sse-bench`'s
//! external mode.
//!
//! ```sh
//! target/release/idle-streams --server target/release/chat --mode h2 \
//!     --streams 10000 --connections 100
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

/// The transport the streams use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// HTTP/2 over TLS, `--streams` spread over `--connections`.
    H2,
    /// HTTP/1.1 over TLS, one stream per connection.
    H1Tls,
    /// Plain HTTP/1.1, one stream per connection.
    H1,
}

/// RSS per idle event stream, by transport.
#[derive(Debug, Parser)]
struct Args {
    /// The server's binary; it is given `--addr 127.0.0.1:PORT` and, over
    /// TLS, `--tls-cert` and `--tls-key`.
    #[arg(long, default_value = "target/release/chat")]
    server: PathBuf,
    /// The transport.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Streams open at the second reading.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Streams open at the first reading.
    #[arg(long, default_value_t = 100)]
    baseline: usize,
    /// `h2`: the connections the streams share, evenly.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// The event stream's path.
    #[arg(long, default_value = "/stream/bench")]
    path: String,
    /// How long the server is left to settle before each reading, in ms.
    #[arg(long, default_value_t = 3_000)]
    settle_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let hard = getrlimit(Resource::Nofile).maximum;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    )?;

    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let dir = std::env::temp_dir().join(format!("idle-streams-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem())?;
    std::fs::write(&key, made.key_pair.serialize_pem())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone())?;

    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut command = Command::new(&args.server);
    command.arg("--addr").arg(addr.to_string());
    if args.mode != Mode::H1 {
        command
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key);
    }
    let mut server = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().ok_or("the server exited")?;
    while TcpStream::connect(addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let alpn: &[u8] = if args.mode == Mode::H2 {
        b"h2"
    } else {
        b"http/1.1"
    };
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let client = Client {
        addr,
        tls: TlsConnector::from(Arc::new(config)),
        path: args.path.clone(),
    };
    let per_connection = match args.mode {
        Mode::H2 => args.streams.div_ceil(args.connections).max(1),
        Mode::H1 | Mode::H1Tls => 1,
    };
    let settle = Duration::from_millis(args.settle_ms);

    let base_connections = args.baseline.div_ceil(per_connection);
    client
        .open(args.mode, 0, base_connections, per_connection)
        .await?;
    let opened_base = base_connections * per_connection;
    tokio::time::sleep(settle).await;
    let rss_base = rss_kib(pid)?;

    let connections = args.streams.div_ceil(per_connection);
    client
        .open(args.mode, base_connections, connections, per_connection)
        .await?;
    let opened = connections * per_connection;
    tokio::time::sleep(settle).await;
    let rss = rss_kib(pid)?;

    let per_stream = (rss.saturating_sub(rss_base)) as f64 * 1024.0 / (opened - opened_base) as f64;
    println!(
        "{:?}: {opened_base} → {opened} streams over {} → {connections} connections: \
         RSS {rss_base} → {rss} KiB, {:.1} KB per stream",
        args.mode,
        base_connections,
        per_stream / 1000.0
    );
    server.kill().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Opens the streams.
struct Client {
    addr: SocketAddr,
    tls: TlsConnector,
    path: String,
}

impl Client {
    /// Opens connections `from..to`, each with `streams` streams (read
    /// until the process ends), 200 connections at a time.
    async fn open(
        &self,
        mode: Mode,
        from: usize,
        to: usize,
        streams: usize,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let permits = Arc::new(Semaphore::new(200));
        let mut opening = Vec::new();
        for _ in from..to {
            let permit = Arc::clone(&permits).acquire_owned().await?;
            let (addr, tls, path) = (self.addr, self.tls.clone(), self.path.clone());
            opening.push(tokio::spawn(async move {
                let opened = open_connection(mode, addr, tls, path, streams).await;
                drop(permit);
                opened
            }));
        }
        for task in opening {
            task.await?.map_err(|error| error.to_string())?;
        }
        Ok(())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One connection and its `streams` streams, each read in a task of its
/// own once its first bytes arrived.
async fn open_connection(
    mode: Mode,
    addr: SocketAddr,
    tls: TlsConnector,
    path: String,
    streams: usize,
) -> Result<(), BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    if mode == Mode::H1 {
        return open_h1(tcp, &path).await;
    }
    let tls = tls.connect("localhost".try_into()?, tcp).await?;
    if mode == Mode::H1Tls {
        return open_h1(tls, &path).await;
    }
    let (send, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Empty<Bytes>>(TokioIo::new(tls))
        .await?;
    tokio::spawn(connection);
    for _ in 0..streams {
        let mut send = send.clone();
        send.ready().await?;
        let request = http::Request::get(format!("https://localhost{path}"))
            .header("accept", "text/event-stream")
            .body(Empty::new())?;
        let response = send.send_request(request).await?;
        if !response.status().is_success() {
            return Err(format!("GET {path}: {}", response.status()).into());
        }
        let mut body = response.into_body();
        body.frame().await.ok_or("the stream ended")??;
        tokio::spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
    }
    Ok(())
}

/// An HTTP/1.1 event stream on `io`, read in a task once its head arrived.
async fn open_h1<I>(mut io: I, path: &str) -> Result<(), BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n");
    io.write_all(request.as_bytes()).await?;
    let mut buf = vec![0; 4096];
    let mut head = Vec::new();
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err("closed before the head".into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    if !head.starts_with(b"HTTP/1.0 200") && !head.starts_with(b"HTTP/1.1 200") {
        return Err(String::from_utf8_lossy(&head).into_owned().into());
    }
    tokio::spawn(async move { while matches!(io.read(&mut buf).await, Ok(n) if n > 0) {} });
    Ok(())
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("no VmRSS value")?
        .parse()?)
}
