//! `cargo run --release -p tests --bin bench`: the benchmark table (issue #8).

fn main() {}
