//! Cross-crate tests of jira-sync: the deterministic simulation harness (`sim`) used by the
//! test binary `it/main.rs`. It depends on the engine and the simulator, never on the server
//! binary.

pub mod sim;
