//! Server-sent events for axum.
//!
//! This crate will hold the axum adapter over `sse-tower`: a response type made
//! from any event stream, a `LastEventId` extractor and a one-line broker
//! subscription. It has no public items yet; see the workspace README for
//! what is available today.

#![forbid(unsafe_code)]
