//! The durable event log of jira-sync and its projections, on PostgreSQL (shared by several
//! server processes), a SQLite file (the embedded default) or SQLite in memory (tests), behind
//! one API selected by a URL.
//!
//! The link and project aggregates of `sync-domain` are wrapped in newtypes that implement
//! cqrs-es's `Aggregate` and `DomainEvent` ([`aggregate`]). The repository is our own, on
//! sqlx 0.8, in a schema that postgres-es 0.5 can also read and write, because the store needs
//! what cqrs-es's stores lack: a global position with cursors that never skip, multi-row
//! appends, and projections written in the appending transaction.
//!
//! Architecture invariant: the event log is the only source of truth. Every projection (link
//! status and id map, conflict queue, dispatch queue, statistics) is a function of the log,
//! written with each append or by [`Store::catch_up`], and [`Store::rebuild_projections`]
//! reproduces it exactly (docs/DESIGN.md §4, invariant 6). Time enters as parameters; the store
//! never reads a clock for what it records.

pub mod aggregate;
mod cache;
pub mod error;
pub mod model;
mod projection;
mod store;

pub use aggregate::{LinkAggregate, LinkDomainEvent, ProjectAggregate, ProjectDomainEvent};
pub use error::{EventLocation, Result, StoreError};
pub use model::*;
pub use store::{Store, StoreFaults, PROJECTOR};
