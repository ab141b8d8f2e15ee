//! A deterministic Jira Cloud simulator.
