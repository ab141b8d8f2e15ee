//! The pure sync model of jira-sync: canonical values, per-project field mapping, the link
//! aggregate (`decide` / `evolve`), conflicts, policies and outbound intents.
//!
//! Architecture invariant: this crate is synchronous and pure. No clock, no randomness, no
//! I/O, no async runtime, no storage or HTTP types: time, ids and jitter arrive inside
//! commands, and wire formats are translated by the adapters before they reach it.

pub mod clock;
pub mod error;
pub mod value;

pub use error::DomainError;
pub use value::{Date, Number, UserRef, Value, ValueKind};
pub mod link;
pub mod mapping;
pub mod project;
