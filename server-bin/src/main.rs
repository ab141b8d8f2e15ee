//! The `jira-sync` binary: the demo (the product spec's stories against the Jira simulator)
//! and the content converter. The rest of the CLI of the server issue is not built yet.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// jira-sync: two-way sync between Jira and Handoff work items.
#[derive(Parser)]
#[command(name = "jira-sync", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the product spec's stories end to end against the Jira simulator, on a fresh SQLite
    /// store; exits 0 only if every story held on both sides.
    Demo {
        /// The store to use instead of a fresh SQLite file in a temporary directory
        /// (`sqlite://path`, `postgres://…`, `memory://`).
        #[arg(long)]
        store: Option<String>,
    },
    /// Convert a text between Markdown, Jira's ADF and Jira wiki markup (stdin → stdout).
    Convert {
        /// The conversion.
        #[arg(value_enum)]
        conversion: Conversion,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Conversion {
    /// Markdown → ADF (Jira Cloud REST v3).
    MdToAdf,
    /// ADF → Markdown.
    AdfToMd,
    /// Markdown → Jira wiki markup (Data Center, REST v2).
    MdToWiki,
    /// Jira wiki markup → Markdown.
    WikiToMd,
}

impl Conversion {
    fn name(self) -> &'static str {
        match self {
            Conversion::MdToAdf => "md-to-adf",
            Conversion::AdfToMd => "adf-to-md",
            Conversion::MdToWiki => "md-to-wiki",
            Conversion::WikiToMd => "wiki-to-md",
        }
    }
}

#[allow(clippy::print_stderr, reason = "the CLI reports to its user on stderr")]
fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { store } => demo(store),
        Command::Convert { conversion } => {
            let mut input = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("jira-sync convert: cannot read stdin: {e}");
                return ExitCode::FAILURE;
            }
            match jira_adapter::content::convert(conversion.name(), &input) {
                Ok(out) => {
                    let mut stdout = std::io::stdout().lock();
                    if writeln!(stdout, "{out}").is_err() {
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("jira-sync convert {}: {e}", conversion.name());
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the demo prints its timeline for a person to read"
)]
fn demo(store: Option<String>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JIRA_SYNC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jira-sync demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<server_bin::demo::DemoReport> = rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let url = match store {
            Some(u) => u,
            None => format!("sqlite://{}", dir.path().join("demo.db").display()),
        };
        let report = server_bin::demo::run(&url, &mut |line| println!("{line}")).await?;
        Ok(report)
    });
    match result {
        Ok(report) => {
            println!("{}", report.summary_line());
            if report.all_held() {
                ExitCode::SUCCESS
            } else {
                eprintln!("jira-sync demo: a story did not hold (see the ✗ lines above)");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("jira-sync demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
