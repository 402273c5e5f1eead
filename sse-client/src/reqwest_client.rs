//! The `reqwest` backend.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;

use crate::BoxError;
use crate::service::{BoxBody, Connector, ResponseFuture};

/// A [`reqwest::Client`] as a [`Connector`]; it follows redirects by its
/// own policy.
pub(crate) struct Reqwest(pub(crate) reqwest::Client);

impl Connector for Reqwest {
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> ResponseFuture {
        let client = self.0.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let response = http::Response::<reqwest::Body>::from(response);
            Ok(response.map(|body| Box::pin(body) as BoxBody))
        })
    }

    fn follows_redirects(&self) -> bool {
        true
    }

    fn is_redirect_limit(&self, error: &BoxError) -> bool {
        error
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_redirect)
    }
}
