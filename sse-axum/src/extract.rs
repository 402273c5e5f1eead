//! The extractors: [`LastEventId`] and [`Topics`].

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::{Error, LastEventId, Topics};

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(LastEventId::from_headers_or_query(
            &parts.headers,
            parts.uri.query(),
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Topics {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        Topics::from_query(parts.uri.query())
    }
}
