//! The one cross-crate test binary: end-to-end scenarios and the deterministic simulation.

mod scenarios;
mod simulation;
