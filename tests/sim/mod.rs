//! The deterministic simulation of the whole engine (issue #7).
