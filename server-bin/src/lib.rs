//! The jira-sync server binary: our HTTP API (its JSON DTOs and OpenAPI document), the TOML
//! config, the CLI, metrics export, and the demo that runs the product spec's stories against
//! the Jira simulator (cargo feature `demo`, on by default). The engine itself is
//! `sync-engine`.
//!
//! Architecture invariant: this is the only crate that knows our HTTP API, its JSON, the
//! TOML config and the CLI; it decides no sync rule (the domain does) and runs no sync step
//! itself (the engine does).

pub mod api;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod mapping_doc;
pub mod metrics;
pub mod serve;
pub mod ui;
