//! The examples' HTTPS flags, shared by their `main.rs` files
//! (`#[path = "../../shared/tls.rs"] mod tls;`): a certificate and key in
//! PEM files, or a self-signed certificate made at start.

use std::path::PathBuf;

/// `--tls-cert`/`--tls-key`, or `--self-signed`; neither serves plain HTTP.
#[derive(Debug, clap::Args)]
pub(crate) struct TlsArgs {
    /// Serve HTTPS (and HTTP/2 to the clients that ask, browsers among
    /// them) with this certificate chain, a PEM file; needs `--tls-key`.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert`, a PEM file.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS (and HTTP/2) with a certificate for `localhost` and
    /// `127.0.0.1` made at start: for trials, since no browser trusts it.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    self_signed: bool,
}

/// A certificate chain and its private key, in PEM.
pub(crate) type Pem = (Vec<u8>, Vec<u8>);

impl TlsArgs {
    /// The certificate chain and key to serve HTTPS with, if asked.
    pub(crate) fn pem(&self) -> Result<Option<Pem>, Box<dyn std::error::Error>> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => (std::fs::read(cert)?, std::fs::read(key)?),
            _ if self.self_signed => {
                let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
                let made = rcgen::generate_simple_self_signed(names)?;
                let cert = made.cert.pem().into_bytes();
                (cert, made.key_pair.serialize_pem().into_bytes())
            }
            _ => return Ok(None),
        };
        Ok(Some((cert, key)))
    }
}
