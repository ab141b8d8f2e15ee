//! Cross-crate tests of jira-sync: the deterministic simulation harness (`sim`) shared by the
//! test binary `it/main.rs`, and the benchmark binary `bench/main.rs`.

pub mod sim;
