//! The simulator's tests, in one binary: the core on virtual time, its HTTP face, the real client against it, and per-call faults.

mod simulator_call_faults;
mod simulator_client;
mod simulator_core;
mod simulator_http;
