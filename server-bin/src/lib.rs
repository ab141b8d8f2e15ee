//! The jira-sync server: the sync runtime (webhook intake, dispatcher, poller, link creation)
//! that carries the domain's decisions out through the Jira and host adapters, and the demo
//! that runs the product spec's stories against the Jira simulator.
//!
//! Architecture invariant: no business rule lives here. The runtime turns what the adapters
//! see into commands, hands them to the store (which asks `sync-domain` to decide), and
//! carries out the intents the domain emitted; the clock, ids, jitter and both adapters are
//! injected (DESIGN.md §9).

pub mod api;
pub mod cli;
pub mod config;
pub mod demo;
pub mod metrics;
pub mod runtime;
pub mod serve;
pub mod ui;
