//! Cross-crate tests of jira-sync. The test binary is `it/main.rs`, one binary so it links once.
