//! The `jira-sync` binary; the commands live in [`server_bin::cli`].

fn main() -> std::process::ExitCode {
    server_bin::cli::main()
}
