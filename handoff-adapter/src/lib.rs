//! Everything that knows the host (Handoff): the host trait, an HTTP client and an in-memory host.
//!
//! This crate gets its content in its own issue.
