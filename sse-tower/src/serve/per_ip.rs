//! [`Serve::max_connections_per_ip`](super::Serve::max_connections_per_ip):
//! how many connections one client address may hold, and the answer to
//! the one over the cap.

use std::any::Any;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::header::ACCEPT;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tower_service::Service;

use crate::refusal::{Refusal, Unavailable};

/// The open connections of each client address.
#[derive(Clone, Debug)]
pub(super) struct PerIp {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIp {
    pub(super) fn new(max: usize) -> Self {
        PerIp {
            max,
            open: Arc::default(),
        }
    }

    /// Counts a connection from `addr` (a `SocketAddr`; any other address
    /// is not counted): `Ok` with the place it holds until dropped, or the
    /// service that answers it when its address is at the cap.
    pub(super) fn admit(&self, addr: &dyn Any) -> Result<Option<Admitted>, OverLimit> {
        let Some(ip) = addr.downcast_ref::<SocketAddr>().map(SocketAddr::ip) else {
            return Ok(None);
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return Err(OverLimit { max: self.max });
        }
        *count += 1;
        Ok(Some(Admitted {
            ip,
            open: Arc::clone(&self.open),
        }))
    }
}

/// A connection's place in [`PerIp`], given back when it is dropped.
#[derive(Debug)]
pub(super) struct Admitted {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The refusal of a connection over the cap: `429`, which passes, so an
/// event stream request is answered as [`Unavailable`] says and a browser
/// keeps reconnecting.
#[derive(Clone, Copy, Debug)]
pub(super) struct TooManyConnections {
    max: usize,
}

impl fmt::Display for TooManyConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this address already has its maximum of {} connections",
            self.max
        )
    }
}

impl Refusal for TooManyConnections {
    fn status(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }

    fn kind(&self) -> &'static str {
        "connections_per_ip"
    }
}

/// Answers every request of a connection over the cap: an event stream
/// request with the browser-safe answer, any other with `429` and
/// `Retry-After`.
#[derive(Clone, Copy, Debug)]
pub(super) struct OverLimit {
    max: usize,
}

impl Service<Request<Incoming>> for OverLimit {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let reason = TooManyConnections { max: self.max };
        let wants_stream = request
            .headers()
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.contains("text/event-stream"));
        let response = if wants_stream {
            Unavailable::shared_default().answer(&reason)
        } else {
            Unavailable::new().status_answer().answer(&reason)
        };
        ready(Ok(response))
    }
}
