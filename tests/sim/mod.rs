//! The deterministic simulation of the whole engine (issue #7): the real runtime against
//! the Jira simulator and the in-memory host on virtual time, under a fault schedule drawn
//! from a seed, checked against the invariants of docs/DESIGN.md §4. See `docs/testing.md`.

pub mod check;
pub mod rng;
pub mod run;
pub mod seen;
pub mod world;
