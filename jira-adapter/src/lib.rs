//! Everything that knows Jira JSON: REST client, auth, webhooks, rate limits, field codec,
//! observations, and the write rules that are Jira's (labels and the mirror marker). Rich
//! text conversion is `jira-content`; the simulator is `jira-sim`.
//!
//! Architecture invariant: Jira JSON never leaves this crate; what crosses into the
//! domain is canonical `sync_domain` values.

pub mod auth;
pub mod client;
pub mod error;
pub mod fields;
pub mod observe;
pub mod ratelimit;
pub mod webhook;
pub mod write;

// Rich text conversion has its own crate; the adapter reaches it under its old name.
use jira_content as content;
