//! Everything that knows Jira: REST client, auth, webhooks, rate limits, content
//! conversion (Markdown ⇄ ADF, Markdown ⇄ wiki markup) and a Jira simulator.
//!
//! Architecture invariant: Jira JSON never leaves this crate; what crosses into the
//! domain is canonical `sync_domain` values.

pub mod auth;
pub mod client;
pub mod content;
pub mod error;
pub mod fields;
pub mod observe;
pub mod ratelimit;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod webhook;
