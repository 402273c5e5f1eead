//! A Redis backend for the `sse-core` broker.
//!
//! This crate will let several server processes share topics, event ids and
//! history through Redis Streams. It has no public items yet; see the
//! workspace README for what is available today.

#![forbid(unsafe_code)]
