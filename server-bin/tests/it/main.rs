//! The binary's tests, in one test binary: the HTTP API in process, the CLI and the config, the kill-and-restart test of the binary, the demo's stories end to end, and the schedules.

mod api;
mod cli;
mod config;
mod restart;
mod runtime_e2e;
mod schedule;
mod ui;
