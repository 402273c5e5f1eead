//! What several of the chat's test files share: the admin token they start
//! the chat with, and the request that carries it.

#![allow(dead_code)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The `--admin-token` the tests give the chat.
pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// The chat's arguments that serve `POST /admin/disconnect` with
/// [`ADMIN_TOKEN`].
pub(crate) const ADMIN_ARGS: [&str; 3] = ["--admin", "--admin-token", ADMIN_TOKEN];

/// `POST /admin/disconnect` to the chat at `url` (`http://HOST:PORT`),
/// with `headers` (`Name: value` lines) and nothing else but `Host`:
/// the response's status.
pub(crate) async fn admin_disconnect(url: &str, headers: &[&str]) -> u16 {
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let addr: SocketAddr = authority.parse().expect("the chat is on an IP address");
    let mut request = format!("POST /admin/disconnect HTTP/1.1\r\nHost: {authority}\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.expect("the chat is up");
        tcp.write_all(request.as_bytes()).await.expect("sent");
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.expect("a response");
        response
    };
    let response = tokio::time::timeout(std::time::Duration::from_secs(5), exchange)
        .await
        .expect("an answer to POST /admin/disconnect within 5 s");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// [`admin_disconnect`] with the token, as the operator sends it.
pub(crate) async fn disconnect_all(url: &str) -> u16 {
    admin_disconnect(url, &[&format!("Authorization: Bearer {ADMIN_TOKEN}")]).await
}
