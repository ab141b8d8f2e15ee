//! The server's configuration: one TOML file plus `JIRA_SYNC_…` environment overrides, with
//! secrets read from environment variables or files (never required inside the file).
//!
//! [`Config::load`] reads, overrides, deserializes (unknown keys refused) and validates in one
//! go; every problem names the key it is about (`projects[1].site: no Jira site named
//! "acme"`), and all problems are reported at once. The reference of every key is in
//! `docs/user-guide.md`.
//!
//! Environment overrides: a variable `JIRA_SYNC_<KEY>` sets a top-level key, and
//! `JIRA_SYNC_<KEY>__<KEY>__…` a nested one (`__` separates the levels, array elements are
//! numbered from 0, names are matched without regard to case, `-` in a name is written `_`):
//! `JIRA_SYNC_STORE`, `JIRA_SYNC_LISTEN`, `JIRA_SYNC_SITES__ACME__URL`,
//! `JIRA_SYNC_PROJECTS__0__POLL_INTERVAL`. Only variables whose first part names a top-level
//! key are read, so secrets may live in other `JIRA_SYNC_…` variables. `JIRA_SYNC_LOG` is
//! the log filter (`log.filter`).
//!
//! The three steps each have a module: `read` (the file as written), `env` (the
//! overrides) and `validate` (the checks, with every problem at its key).

mod env;
mod read;
mod validate;

use env::apply_env_overrides;
pub use read::parse_duration;
use read::RawConfig;
use validate::{validate, Check};

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jira_adapter::auth::{Credentials, FileTokenStore, OAuthApp, Secret};
use jira_adapter::fields::ApiFlavor;
use serde::Deserialize;
use sync_domain::mapping::{FieldMapping, ProjectMapping, RetryPolicy};
use sync_domain::ValueKind;
use url::Url;

pub use crate::api::Role;
use crate::api::{ApiAuth, ApiConfig};
use sync_engine::{ProjectConfig, DEFAULT_INBOX_CONCURRENCY};

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "JIRA_SYNC_";
/// The variable holding the log filter (`tracing` env-filter syntax).
pub const LOG_ENV: &str = "JIRA_SYNC_LOG";
/// The default HTTP listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default store: a SQLite file in the working directory.
pub const DEFAULT_STORE: &str = "sqlite://jira-sync.db";
/// The default Jira poll interval of a project.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The default full-reconciliation interval of a project.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// How often the dynamic webhook of a site is checked and refreshed by default.
pub const DEFAULT_WEBHOOK_REFRESH: Duration = Duration::from_secs(12 * 60 * 60);

/// The top-level keys (an environment variable whose first part is not one of them is not an
/// override).
const TOP_KEYS: &[&str] = &[
    "listen", "store", "instance", "log", "api", "sites", "host", "projects", "sync",
];

/// One problem in a config, naming its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key (`projects[1].site`), or the variable or file it came from.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a config could not be used: every problem found, each naming its key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file, when the config came from one.
    pub file: Option<PathBuf>,
    /// The problems.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "the config {} is not valid:", p.display())?,
            None => write!(f, "the config is not valid:")?,
        }
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn one(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: None,
            problems: vec![Problem {
                key: key.into(),
                message: message.into(),
            }],
        }
    }
}

/// A bearer token of the HTTP API.
#[derive(Clone, Debug)]
pub struct ApiToken {
    /// Who holds it (shown in logs and as the actor of what it does).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The token.
    pub token: Secret,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Log settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The filter (`info`, `jira_sync=debug,info`).
    pub filter: String,
    /// The format.
    pub format: LogFormat,
}

/// One Jira site.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// Its name (projects refer to it).
    pub name: String,
    /// Its base URL.
    pub url: Url,
    /// How to authenticate.
    pub credentials: Credentials,
    /// The REST flavor, when not detected.
    pub flavor: Option<ApiFlavor>,
    /// The secret Jira signs this site's webhooks with.
    pub webhook_secret: Option<Secret>,
    /// The steady call rate allowed, per second.
    pub rate_per_second: u32,
    /// The burst above it.
    pub burst: u32,
    /// Timeout of one call.
    pub timeout: Duration,
    /// The public URL Jira delivers this site's webhooks to, when the engine registers (and
    /// refreshes) a dynamic webhook itself; `None` when the webhook is set up in Jira's
    /// admin UI.
    pub dynamic_webhook_url: Option<Url>,
    /// How often the dynamic webhook is checked and refreshed.
    pub dynamic_webhook_refresh: Duration,
}

/// The host the engine syncs with.
#[derive(Clone, Debug)]
pub enum HostConfig {
    /// An in-memory host (trials: its items live as long as the process).
    Memory,
    /// A host following the REST contract of `docs/handoff-api.md`.
    Http {
        /// Its base URL.
        url: Url,
        /// The bearer token the engine uses.
        token: Secret,
        /// The secret the host signs its change notifications with.
        notification_secret: Option<Secret>,
        /// The field schema (field name → kind): the mapped fields of every project, plus
        /// `host.fields`.
        schema: BTreeMap<String, ValueKind>,
        /// How often the host's change feed is polled (`None`: only notifications).
        poll_interval: Option<Duration>,
    },
}

/// One synced project and its schedule.
#[derive(Clone, Debug)]
pub struct ProjectSettings {
    /// What the runtime needs.
    pub project: ProjectConfig,
    /// How often Jira is polled for changes.
    pub poll_interval: Duration,
    /// How often a full reconciliation runs.
    pub reconcile_interval: Duration,
}

/// Tuning of the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncTuning {
    /// How long a dispatcher holds a link's lease.
    pub lease: Duration,
    /// How far back each incremental poll looks beyond its watermark.
    pub poll_overlap: Duration,
    /// The largest jitter added to a retry's backoff.
    pub max_jitter: Duration,
    /// How long a graceful shutdown waits for in-flight work.
    pub shutdown_grace: Duration,
    /// How many groups of inbox deliveries (one Jira issue or host item each) are
    /// processed at once (1 to 256).
    pub inbox_concurrency: usize,
}

/// A validated config, with its secrets read.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The store URL (`sqlite://file`, `postgres://…`).
    pub store: String,
    /// This process's name in the lease table (unique per running instance).
    pub instance: String,
    /// Logs.
    pub log: LogConfig,
    /// API tokens.
    pub api_tokens: Vec<ApiToken>,
    /// Jira sites, by name.
    pub sites: Vec<SiteConfig>,
    /// The host.
    pub host: HostConfig,
    /// Projects.
    pub projects: Vec<ProjectSettings>,
    /// Runtime tuning.
    pub sync: SyncTuning,
}

// ----- the file's shape -----

/// Where secrets are read from: the environment given to [`Config::load`].
pub type Env = BTreeMap<String, String>;

impl Config {
    /// Reads the config file at `path` with the process's environment.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let env: Env = std::env::vars().collect();
        Config::load(path, &env)
    }

    /// Reads the config file at `path`, overridden and completed by `env` (overrides and
    /// secrets), and validates it.
    pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            problems: vec![Problem {
                key: path.display().to_string(),
                message: format!("cannot read the file: {e}"),
            }],
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::from_toml(&text, &base, env).map_err(|mut e| {
            e.file = Some(path.to_path_buf());
            e
        })
    }

    /// Reads a config from TOML text; relative file names are resolved against `base_dir`.
    pub fn from_toml(text: &str, base_dir: &Path, env: &Env) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::one("toml", e.to_string().trim_end()))?;
        apply_env_overrides(&mut table, env)?;
        let raw: RawConfig =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                let key = if key == "." { "config".into() } else { key };
                ConfigError::one(key, e.into_inner().message().trim_end())
            })?;
        let mut check = Check {
            env,
            base_dir: base_dir.to_path_buf(),
            problems: Vec::new(),
        };
        let config = validate(raw, &mut check);
        if check.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                file: None,
                problems: check.problems,
            })
        }
    }

    /// The HTTP API's settings: the tokens, and the host's notification secret.
    pub fn api_config(&self) -> ApiConfig {
        ApiConfig {
            auth: ApiAuth::new(
                self.api_tokens
                    .iter()
                    .map(|t| crate::api::ApiToken {
                        name: t.name.clone(),
                        token: t.token.expose().to_string(),
                        role: t.role,
                    })
                    .collect(),
            ),
            handoff_secret: match &self.host {
                HostConfig::Http {
                    notification_secret: Some(s),
                    ..
                } => Some(s.expose().as_bytes().to_vec()),
                _ => None,
            },
        }
    }

    /// The projects as the runtime takes them.
    pub fn runtime_projects(&self) -> Vec<ProjectConfig> {
        self.projects.iter().map(|p| p.project.clone()).collect()
    }
}
