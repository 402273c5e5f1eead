//! Serving server-sent events over HTTP with tower.

#![forbid(unsafe_code)]
