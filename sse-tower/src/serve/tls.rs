//! [`Serve::tls`](super::Serve::tls): HTTPS, each connection's protocol
//! chosen by ALPN, and [`tls_config`] to make its configuration from PEM.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;

use super::h2::{self, H2};
use crate::Shutdown;
use crate::http1::{HttpService, ResponseBody};
use crate::item::BoxError;

/// The ALPN protocols [`tls_config`] offers, and [`Serve::tls`](super::Serve::tls)
/// sets on a configuration that offers none: HTTP/2 first, which a browser
/// speaks only over TLS.
pub(super) const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A server configuration for [`Serve::tls`](super::Serve::tls) from a
/// certificate chain and its private key in PEM (the files Let's Encrypt
/// or `openssl` write: the chain leaf first; the key PKCS #8, PKCS #1 or
/// SEC1), on the process's rustls provider if one is installed and
/// otherwise `ring`, offering `h2` and `http/1.1` by ALPN.
/// Fails with [`io::ErrorKind::InvalidData`] when either does not parse or
/// the key does not match.
///
/// ```
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let config = ssekit_tower::serve::tls_config(
///     cert.cert.pem().as_bytes(),
///     cert.key_pair.serialize_pem().as_bytes(),
/// )?;
/// assert_eq!(config.alpn_protocols, [&b"h2"[..], b"http/1.1"]);
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn tls_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<ServerConfig> {
    let invalid = |error: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidData, error.to_string())
    };
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(&error))?;
    if chain.is_empty() {
        return Err(invalid(&"no certificate in the PEM"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| invalid(&error))?;
    // The process's provider if one is installed, else ring's (deprecated
    // only for its lack of post-quantum key exchange).
    #[allow(deprecated)]
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(&error))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| invalid(&error))?;
    config.alpn_protocols = ALPN.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(config)
}

/// How `serve` serves its connections over TLS.
#[derive(Clone)]
pub(super) struct Tls {
    acceptor: TlsAcceptor,
    h2: H2,
    handshake_timeout: Duration,
}

impl Tls {
    pub(super) fn new(
        config: Arc<ServerConfig>,
        write_deadline: Duration,
        header_read_timeout: Duration,
    ) -> Self {
        Tls {
            acceptor: TlsAcceptor::from(config),
            h2: H2::new(write_deadline, header_read_timeout),
            handshake_timeout: header_read_timeout,
        }
    }
}

/// Serves one connection: its TLS handshake (within the head timeout),
/// then hyper's HTTP/2 if it chose `h2`, and otherwise `http1`, with the
/// hand-off.
pub(super) fn connection<I, S, B, F>(
    tls: &Arc<Tls>,
    http1: &http1::Builder,
    io: I,
    service: S,
    signal: F,
    ending: Option<Shutdown>,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<B>,
    B: ResponseBody,
    F: Future<Output = ()> + Send + 'static,
{
    let tls = Arc::clone(tls);
    let http1 = http1.clone();
    async move {
        let accepted = tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(io)).await;
        let stream = accepted.map_err(|_| "TLS handshake timed out")??;
        if stream.get_ref().1.alpn_protocol() == Some(ALPN[0]) {
            let connection = h2::connection(&tls.h2, stream, service, signal, ending);
            drop((tls, http1));
            connection.await
        } else {
            let connection = crate::http1::connection(&http1, stream, service, signal, ending);
            drop((tls, http1));
            connection.await.map_err(Into::into)
        }
    }
}
