//! Event store and projections of jira-sync over PostgreSQL and embedded SQLite.
//!
//! This crate gets its content in its own issue.
