//! The `jira-sync` command line: `serve`, `demo`, and the offline commands that work on the
//! store a config names (`migrate`, `status`, `conflicts`, `history`, `replay`), or on Jira
//! (`fields`, `mapping test`), plus the tools `convert` and `webhook inspect`.
//!
//! Output is a table for people by default and JSON with `--json`. Errors go to stderr with
//! a non-zero exit code.

mod commands;
mod demo;
mod output;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use output::Output;

/// jira-sync: two-way sync between Jira and Handoff work items.
#[derive(Parser, Debug)]
#[command(name = "jira-sync", version, about)]
pub struct Cli {
    /// Print JSON for machines instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the config comes from.
#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// The config file.
    #[arg(
        long,
        short,
        env = "JIRA_SYNC_CONFIG",
        default_value = "jira-sync.toml"
    )]
    pub config: PathBuf,
}

/// Where the store comes from: the config's, or one named on the command line.
#[derive(Args, Debug, Clone)]
pub struct StoreArg {
    /// The config file (its `store` is used).
    #[arg(
        long,
        short,
        env = "JIRA_SYNC_CONFIG",
        default_value = "jira-sync.toml"
    )]
    pub config: PathBuf,
    /// A store URL to use instead of the config's (`sqlite://file.db`, `postgres://…`); no
    /// config file is read then.
    #[arg(long)]
    pub store: Option<String>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: the HTTP API, the workers and the pollers, until SIGINT or SIGTERM.
    Serve {
        /// The config.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run the product spec's stories end to end against the Jira simulator, on a fresh SQLite
    /// store; exits 0 only if every story held on both sides.
    Demo {
        /// The store to use instead of a fresh SQLite file in a temporary directory
        /// (`sqlite://path`, `postgres://…`, `memory://`).
        #[arg(long)]
        store: Option<String>,
        /// Keep the demo's server running after the stories (until Ctrl-C), to explore the API.
        #[arg(long)]
        serve: bool,
    },
    /// Apply the store's schema migrations and print the schema version.
    Migrate {
        /// The store.
        #[command(flatten)]
        store: StoreArg,
    },
    /// The dashboard: links by status, open conflicts, queue depth, the last errors.
    Status {
        /// The store.
        #[command(flatten)]
        store: StoreArg,
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
    },
    /// The conflict queue.
    Conflicts {
        /// What to do.
        #[command(subcommand)]
        action: ConflictsAction,
    },
    /// The history of a work item's link: every event, with where it came from.
    History {
        /// The store.
        #[command(flatten)]
        store: StoreArg,
        /// The work item id.
        work_item: String,
        /// Include the engine's bookkeeping events (intents started, echoes, ...).
        #[arg(long)]
        all: bool,
    },
    /// Rebuild every projection from the event log; prints the counts and the time taken.
    Replay {
        /// The store.
        #[command(flatten)]
        store: StoreArg,
    },
    /// Mappings.
    Mapping {
        /// What to do.
        #[command(subcommand)]
        action: MappingAction,
    },
    /// Jira's fields (system and custom): id, name, type, and the kind the engine syncs them
    /// as.
    Fields {
        /// The config.
        #[command(flatten)]
        config: ConfigArg,
        /// The site (needed when several are configured).
        #[arg(long)]
        site: Option<String>,
        /// Only custom fields.
        #[arg(long)]
        custom: bool,
    },
    /// Print the HTTP API's OpenAPI document (what the server serves at /api/openapi.json).
    Openapi,
    /// Convert a text between Markdown, Jira's ADF and Jira wiki markup (stdin → stdout).
    Convert {
        /// The conversion.
        #[arg(value_enum)]
        conversion: Conversion,
    },
    /// Webhook tools.
    Webhook {
        /// What to do.
        #[command(subcommand)]
        action: WebhookAction,
    },
}

/// `conflicts …`
#[derive(Subcommand, Debug)]
pub enum ConflictsAction {
    /// A project's open conflicts, oldest first.
    List {
        /// The store.
        #[command(flatten)]
        store: StoreArg,
        /// The project.
        #[arg(long)]
        project: String,
    },
    /// Settle a conflict.
    Resolve {
        /// The store.
        #[command(flatten)]
        store: StoreArg,
        /// The conflict id (from `conflicts list`).
        id: String,
        /// Keep Handoff's value.
        #[arg(long, group = "resolution")]
        use_handoff: bool,
        /// Keep Jira's value.
        #[arg(long, group = "resolution")]
        use_jira: bool,
        /// Write this value to both sides (for sets: comma-separated).
        #[arg(long, group = "resolution")]
        merge: Option<String>,
        /// Dismiss without choosing: the later edit wins.
        #[arg(long, group = "resolution")]
        ignore: bool,
        /// Who resolves it (recorded in the history).
        #[arg(long, default_value = "cli")]
        actor: String,
    },
}

/// `mapping …`
#[derive(Subcommand, Debug)]
pub enum MappingAction {
    /// A dry run of a project's mapping against a live issue or work item: what would be
    /// written on each side. Writes nothing.
    Test {
        /// The config.
        #[command(flatten)]
        config: ConfigArg,
        /// The project.
        #[arg(long)]
        project: String,
        /// A work item id.
        #[arg(long, group = "target", required = true)]
        item: Option<String>,
        /// A Jira issue key or id.
        #[arg(long, group = "target", required = true)]
        issue: Option<String>,
    },
}

/// `webhook …`
#[derive(Subcommand, Debug)]
pub enum WebhookAction {
    /// Parse a saved Jira webhook delivery (its JSON body) and print what the engine sees in
    /// it: the event, the issue, the changed fields with old and new values.
    Inspect {
        /// The file with the delivery's body (`-` for stdin).
        file: PathBuf,
        /// A config: also show the values the project's mapping reads from the delivery.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The project whose mapping to apply (default: the one whose Jira key the issue has).
        #[arg(long)]
        project: Option<String>,
    },
}

/// A text conversion.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Conversion {
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

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let out = Output::new(cli.json);
    match cli.command {
        Command::Convert { conversion } => commands::convert(&out, conversion),
        Command::Openapi => {
            match serde_json::to_string_pretty(&crate::api::openapi()) {
                Ok(doc) => out.line(&doc),
                Err(e) => {
                    out.error(&format!("openapi: {e}"));
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Demo { store, serve } => demo::demo(&out, store, serve),
        Command::Serve { config } => commands::serve(&out, &config.config),
        command => {
            init_cli_logs();
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    out.error(&format!("cannot start the async runtime: {e}"));
                    return ExitCode::FAILURE;
                }
            };
            let result = rt.block_on(commands::offline(&out, command));
            match result {
                Ok(code) => code,
                Err(e) => {
                    out.error(&format!("{e:#}"));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Logs of the offline commands: warnings and errors on stderr unless `JIRA_SYNC_LOG` says
/// otherwise.
fn init_cli_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(crate::config::LOG_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
