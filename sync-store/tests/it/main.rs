//! The store's tests, in one binary: the suite on both backends and the fault seam.

#[macro_use]
mod common;
mod fault_seam;
mod store_suite;
