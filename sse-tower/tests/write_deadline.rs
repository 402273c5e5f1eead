//! `WriteDeadline` on real TCP sockets: a client that never reads is cut off
//! after the deadline, one that reads keeps its stream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use ssekit_core::Event;
use ssekit_tower::{KeepAlive, SseLayer, WriteDeadline};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tower::ServiceBuilder;

const DEADLINE: Duration = Duration::from_millis(300);

/// Sets a flag when the stream is dropped: the server let the response go.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A hyper HTTP/1.1 server whose every response is an endless stream of
/// 1 KiB events, one per millisecond; `dropped` is set when a response's
/// stream is dropped. Accepted sockets get a small send buffer, so that a
/// client that stops reading blocks the server's writes quickly.
async fn serve(dropped: Arc<AtomicBool>) -> SocketAddr {
    let socket = TcpSocket::new_v4().unwrap();
    // Accepted sockets inherit the listener's buffer sizes.
    socket.set_send_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(64).unwrap();
    let addr = listener.local_addr().unwrap();
    let service = ServiceBuilder::new()
        .layer(
            SseLayer::new()
                .keep_alive(KeepAlive::disabled())
                .coalesce(0),
        )
        .service(tower::service_fn(move |_request: Request<Incoming>| {
            let guard = Dropped(dropped.clone());
            let data = "x".repeat(1024);
            let events = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(
                Duration::from_millis(1),
            ))
            .map(move |_| {
                let _ = &guard;
                Event::data(&data)
            });
            async move { Ok::<_, Infallible>(Response::new(events)) }
        }));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let io = TokioIo::new(WriteDeadline::new(tcp, DEADLINE));
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    addr
}

async fn request(addr: SocketAddr, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        // Before connecting, so that the advertised window is small too.
        socket.set_recv_buffer_size(size).unwrap();
    }
    let mut tcp = socket.connect(addr).await.unwrap();
    tcp.write_all(b"GET /events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    tcp
}

async fn wait_until(flag: &AtomicBool, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < bound {
        if flag.load(Ordering::SeqCst) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_after_the_write_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let addr = serve(dropped.clone()).await;
    let _stalled = request(addr, Some(4096)).await;

    // Filling the buffers takes a few tens of milliseconds at 1 MB/s; then
    // the deadline runs. Allow generous slack for a busy machine.
    let after = wait_until(&dropped, DEADLINE + Duration::from_secs(5)).await;
    let after = after.expect("the stalled connection's stream was never dropped");
    assert!(
        after >= DEADLINE,
        "dropped after {after:?}, before the deadline of {DEADLINE:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_keeps_its_stream_for_longer_than_the_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let addr = serve(dropped.clone()).await;
    let mut reader = request(addr, None).await;

    let mut buffer = vec![0; 64 * 1024];
    let mut received = 0;
    let start = Instant::now();
    while start.elapsed() < DEADLINE * 4 {
        let n = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buffer))
            .await
            .expect("events keep arriving")
            .unwrap();
        assert_ne!(n, 0, "the server closed a connection whose client reads");
        received += n;
    }
    assert!(!dropped.load(Ordering::SeqCst));
    assert!(received > 100 * 1024, "received only {received} bytes");
}

mod first_head {
    use std::time::Duration;

    use ssekit_tower::WriteDeadline;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const HEAD_DEADLINE: Duration = Duration::from_secs(10);

    fn timed() -> (WriteDeadline<DuplexStream>, DuplexStream) {
        let (ours, peer) = tokio::io::duplex(4096);
        let io =
            WriteDeadline::new(ours, Duration::from_secs(30)).first_head_deadline(HEAD_DEADLINE);
        (io, peer)
    }

    /// Reads once, failing the test if it waits longer than `bound`.
    async fn read_within(
        io: &mut WriteDeadline<DuplexStream>,
        bound: Duration,
    ) -> std::io::Result<usize> {
        let mut buf = [0; 4096];
        tokio::time::timeout(bound, io.read(&mut buf))
            .await
            .expect("the read ends")
    }

    #[tokio::test(start_paused = true)]
    async fn half_a_first_head_fails_the_read_at_the_deadline() {
        let (mut io, mut peer) = timed();
        peer.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        assert_eq!(
            read_within(&mut io, Duration::from_secs(1)).await.unwrap(),
            31
        );
        let start = tokio::time::Instant::now();
        let error = read_within(&mut io, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), HEAD_DEADLINE);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_whole_first_head_reads_are_never_timed() {
        let (mut io, mut peer) = timed();
        // The blank line split across two reads.
        peer.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r")
            .await
            .unwrap();
        read_within(&mut io, Duration::from_secs(1)).await.unwrap();
        peer.write_all(b"\n").await.unwrap();
        read_within(&mut io, Duration::from_secs(1)).await.unwrap();
        // An hour of silence, then a second request: no timeout.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        peer.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert_eq!(
            read_within(&mut io, Duration::from_secs(1)).await.unwrap(),
            16
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_with_bare_line_feeds_ends_the_deadline_too() {
        let (mut io, mut peer) = timed();
        peer.write_all(b"GET / HTTP/1.1\nhost: x\n\n")
            .await
            .unwrap();
        read_within(&mut io, Duration::from_secs(1)).await.unwrap();
        tokio::time::sleep(HEAD_DEADLINE * 2).await;
        peer.write_all(b"x").await.unwrap();
        assert_eq!(
            read_within(&mut io, Duration::from_secs(1)).await.unwrap(),
            1
        );
    }
}
