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

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jira_adapter::auth::{Credentials, FileTokenStore, OAuthApp, Secret};
use jira_adapter::fields::ApiFlavor;
use serde::Deserialize;
use sync_domain::mapping::{
    Direction, FieldMapping, Policy, ProjectMapping, RetryPolicy, Transform, ValueMap,
};
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    store: Option<String>,
    instance: Option<String>,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    sites: BTreeMap<String, RawSite>,
    host: Option<RawHost>,
    #[serde(default)]
    projects: Vec<RawProject>,
    #[serde(default)]
    sync: RawSync,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    filter: Option<String>,
    format: Option<LogFormat>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    #[serde(default)]
    tokens: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    role: Role,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum AuthKind {
    ApiToken,
    Basic,
    Pat,
    Oauth,
    None,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawFlavor {
    Cloud,
    DataCenter,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    url: String,
    auth: AuthKind,
    email: Option<String>,
    user: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    oauth_tokens_file: Option<PathBuf>,
    token_url: Option<String>,
    flavor: Option<RawFlavor>,
    webhook_secret_env: Option<String>,
    webhook_secret_file: Option<PathBuf>,
    rate_per_second: Option<u32>,
    burst: Option<u32>,
    timeout: Option<RawDuration>,
    dynamic_webhook_url: Option<String>,
    dynamic_webhook_refresh: Option<RawDuration>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum HostKind {
    Memory,
    Http,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    kind: HostKind,
    url: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    notification_secret_env: Option<String>,
    notification_secret_file: Option<PathBuf>,
    poll_interval: Option<RawDuration>,
    #[serde(default)]
    fields: BTreeMap<String, ValueKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    id: String,
    site: Option<String>,
    jira_project_key: String,
    issue_type: Option<String>,
    poll_interval: Option<RawDuration>,
    reconcile_interval: Option<RawDuration>,
    #[serde(default)]
    pause_on_conflict: bool,
    #[serde(default)]
    handoff_statuses: Vec<String>,
    #[serde(default)]
    jira_statuses: Vec<String>,
    retry: Option<RawRetry>,
    #[serde(default)]
    fields: Vec<RawField>,
    mapping_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<u32>,
    base_delay: Option<RawDuration>,
    max_delay: Option<RawDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    handoff: String,
    jira: String,
    kind: ValueKind,
    #[serde(default)]
    direction: Direction,
    #[serde(default)]
    policy: Policy,
    status_map: Option<BTreeMap<String, String>>,
    priority_map: Option<BTreeMap<String, String>>,
    option_map: Option<BTreeMap<String, String>>,
    #[serde(default)]
    option_passthrough: bool,
    user_map: Option<BTreeMap<String, String>>,
    scale: Option<f64>,
    decimals: Option<u8>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSync {
    lease: Option<RawDuration>,
    poll_overlap: Option<RawDuration>,
    max_jitter: Option<RawDuration>,
    shutdown_grace: Option<RawDuration>,
    inbox_concurrency: Option<i64>,
}

/// A duration as written: `"5m"`, `"90s"`, `"1h30m"`, `"250ms"`, or a number of seconds.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

/// Parses `"5m"`, `"90s"`, `"1h30m"`, `"250ms"`, `"2d"` (units `ms`, `s`, `m`, `h`, `d`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("an empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{s:?} is not a duration (write e.g. \"5m\", \"90s\", \"1h30m\", \"250ms\")"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{s:?}: the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            "" => {
                return Err(format!(
                    "{s:?}: a unit is missing after {n} (ms, s, m, h, d)"
                ))
            }
            u => return Err(format!("{s:?}: unknown unit {u:?} (ms, s, m, h, d)")),
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Where secrets are read from: the environment given to [`Config::load`].
pub type Env = BTreeMap<String, String>;

/// Collects problems while the raw config is turned into a [`Config`].
struct Check<'a> {
    env: &'a Env,
    /// The directory relative secret and mapping files are resolved against.
    base_dir: PathBuf,
    problems: Vec<Problem>,
}

impl Check<'_> {
    fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    fn duration(&mut self, key: &str, d: Option<&RawDuration>, default: Duration) -> Duration {
        match d {
            None => default,
            Some(RawDuration::Seconds(n)) => Duration::from_secs(*n),
            Some(RawDuration::Text(t)) => match parse_duration(t) {
                Ok(d) => d,
                Err(e) => {
                    self.problem(key, e);
                    default
                }
            },
        }
    }

    /// Reads a secret from `{prefix}_env` or `{prefix}_file` (exactly one of them when
    /// `required`, at most one otherwise).
    fn secret(
        &mut self,
        key: &str,
        prefix: &str,
        env: Option<&String>,
        file: Option<&PathBuf>,
        required: bool,
    ) -> Option<Secret> {
        match (env, file) {
            (Some(_), Some(_)) => {
                self.problem(key, format!("set {prefix}_env or {prefix}_file, not both"));
                None
            }
            (Some(var), None) => match self.env.get(var) {
                Some(v) if !v.trim().is_empty() => Some(Secret::new(v.trim())),
                Some(_) => {
                    self.problem(
                        format!("{key}.{prefix}_env"),
                        format!("the environment variable {var} is empty"),
                    );
                    None
                }
                None => {
                    self.problem(
                        format!("{key}.{prefix}_env"),
                        format!("the environment variable {var} is not set"),
                    );
                    None
                }
            },
            (None, Some(f)) => {
                let path = self.path(f);
                match std::fs::read_to_string(&path) {
                    Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim())),
                    Ok(_) => {
                        self.problem(
                            format!("{key}.{prefix}_file"),
                            format!("the file {} is empty", path.display()),
                        );
                        None
                    }
                    Err(e) => {
                        self.problem(
                            format!("{key}.{prefix}_file"),
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                }
            }
            (None, None) => {
                if required {
                    self.problem(
                        key,
                        format!("a secret is needed: set {prefix}_env (an environment variable) or {prefix}_file"),
                    );
                }
                None
            }
        }
    }

    fn forbid(&mut self, key: &str, name: &str, set: bool, why: &str) {
        if set {
            self.problem(format!("{key}.{name}"), format!("not used {why}"));
        }
    }
}

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

fn normalize(s: &str) -> String {
    s.to_ascii_lowercase().replace('-', "_")
}

/// Applies the `JIRA_SYNC_…` overrides of `env` to the parsed file.
fn apply_env_overrides(table: &mut toml::Table, env: &Env) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = if var == LOG_ENV {
            vec!["log".into(), "filter".into()]
        } else {
            rest.split("__").map(normalize).collect()
        };
        if !TOP_KEYS.contains(&path[0].as_str()) {
            continue;
        }
        if let Err(message) = set_path(table, &path, value) {
            problems.push(Problem {
                key: var.clone(),
                message,
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError {
            file: None,
            problems,
        })
    }
}

/// The value an override sets: a string where the file has a string (or a value that is not
/// TOML), otherwise the TOML value the text spells (`true`, `30`, `["a"]`).
fn override_value(existing: Option<&toml::Value>, text: &str) -> toml::Value {
    if matches!(existing, Some(toml::Value::String(_))) {
        return toml::Value::String(text.to_string());
    }
    match format!("v = {text}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(text.to_string())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], text: &str) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("an empty key")?;
    if first.is_empty() {
        return Err("an empty key part (two `__` in a row?)".into());
    }
    let key = table
        .keys()
        .find(|k| normalize(k) == *first)
        .cloned()
        .unwrap_or_else(|| first.clone());
    if rest.is_empty() {
        let v = override_value(table.get(&key), text);
        table.insert(key, v);
        return Ok(());
    }
    let child = table
        .entry(key.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in(child, &key, rest, text)
}

fn set_in(v: &mut toml::Value, at: &str, path: &[String], text: &str) -> Result<(), String> {
    match v {
        toml::Value::Table(t) => set_path(t, path, text),
        toml::Value::Array(a) => {
            let (first, rest) = path.split_first().ok_or("an empty key")?;
            let i: usize = first.parse().map_err(|_| {
                format!("{at} is a list: the next part must be an index, not {first:?}")
            })?;
            let len = a.len();
            let el = a
                .get_mut(i)
                .ok_or_else(|| format!("{at} has {len} entries; there is no [{i}]"))?;
            if rest.is_empty() {
                *el = override_value(Some(el), text);
                Ok(())
            } else {
                set_in(el, &format!("{at}[{i}]"), rest, text)
            }
        }
        _ => Err(format!("{at} is a single value, not a table")),
    }
}

fn validate(raw: RawConfig, c: &mut Check<'_>) -> Config {
    let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listen = listen_text.parse().unwrap_or_else(|_| {
        c.problem(
            "listen",
            format!("{listen_text:?} is not an address with a port (e.g. \"127.0.0.1:8080\")"),
        );
        ([127, 0, 0, 1], 8080).into()
    });
    let store = raw.store.unwrap_or_else(|| DEFAULT_STORE.to_string());
    if !["sqlite:", "postgres://", "postgresql://", "memory:"]
        .iter()
        .any(|p| store.starts_with(p))
    {
        c.problem(
            "store",
            format!("{store:?} is not a store URL (sqlite://file.db or postgres://…)"),
        );
    }
    let instance = raw.instance.unwrap_or_else(|| "jira-sync".to_string());
    if instance.trim().is_empty() {
        c.problem("instance", "must not be empty");
    }
    let log = LogConfig {
        filter: raw.log.filter.unwrap_or_else(|| "info".to_string()),
        format: raw.log.format.unwrap_or_default(),
    };
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log.filter) {
        c.problem("log.filter", format!("not a log filter: {e}"));
    }

    let mut api_tokens = Vec::new();
    for (i, t) in raw.api.tokens.iter().enumerate() {
        let key = format!("api.tokens[{i}]");
        if t.name.trim().is_empty() {
            c.problem(format!("{key}.name"), "must not be empty");
        }
        if api_tokens.iter().any(|a: &ApiToken| a.name == t.name) {
            c.problem(
                format!("{key}.name"),
                format!("two tokens are named {:?}", t.name),
            );
        }
        if let Some(token) = c.secret(
            &key,
            "token",
            t.token_env.as_ref(),
            t.token_file.as_ref(),
            true,
        ) {
            if token.expose().len() < 16 {
                c.problem(
                    key.clone(),
                    "the token is shorter than 16 characters; use a long random one",
                );
            }
            if api_tokens.iter().any(|a: &ApiToken| a.token == token) {
                c.problem(key.clone(), "two API tokens have the same value");
            }
            api_tokens.push(ApiToken {
                name: t.name.clone(),
                role: t.role,
                token,
            });
        }
    }

    let mut sites = Vec::new();
    for (name, s) in &raw.sites {
        if let Some(site) = site(name, s, c) {
            sites.push(site);
        }
    }

    let mut projects = Vec::new();
    for (i, p) in raw.projects.iter().enumerate() {
        if let Some(p) = project(i, p, &raw.sites, c) {
            if projects
                .iter()
                .any(|q: &ProjectSettings| q.project.project_id == p.project.project_id)
            {
                c.problem(
                    format!("projects[{i}].id"),
                    format!("two projects have the id {:?}", p.project.project_id),
                );
            }
            projects.push(p);
        }
    }
    if raw.projects.is_empty() {
        c.problem(
            "projects",
            "no project is configured: add a [[projects]] table",
        );
    }

    let host = match &raw.host {
        None => {
            c.problem(
                "host",
                "missing: add a [host] table (kind = \"http\" with url and token_env, or kind = \"memory\")",
            );
            HostConfig::Memory
        }
        Some(h) => host(h, &projects, c),
    };

    let sync = SyncTuning {
        lease: c.duration(
            "sync.lease",
            raw.sync.lease.as_ref(),
            Duration::from_secs(30),
        ),
        poll_overlap: c.duration(
            "sync.poll_overlap",
            raw.sync.poll_overlap.as_ref(),
            Duration::from_secs(60),
        ),
        max_jitter: c.duration(
            "sync.max_jitter",
            raw.sync.max_jitter.as_ref(),
            Duration::from_secs(1),
        ),
        shutdown_grace: c.duration(
            "sync.shutdown_grace",
            raw.sync.shutdown_grace.as_ref(),
            Duration::from_secs(10),
        ),
        inbox_concurrency: match raw.sync.inbox_concurrency {
            None => DEFAULT_INBOX_CONCURRENCY,
            Some(n) => match usize::try_from(n) {
                Ok(n) if (1..=256).contains(&n) => n,
                _ => {
                    c.problem(
                        "sync.inbox_concurrency",
                        format!("{n} is out of range: 1 to 256"),
                    );
                    DEFAULT_INBOX_CONCURRENCY
                }
            },
        },
    };
    if sync.lease < Duration::from_secs(1) {
        c.problem("sync.lease", "must be at least 1s");
    }

    Config {
        listen,
        store,
        instance,
        log,
        api_tokens,
        sites,
        host,
        projects,
        sync,
    }
}

fn site(name: &str, s: &RawSite, c: &mut Check<'_>) -> Option<SiteConfig> {
    let key = format!("sites.{name}");
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        c.problem(
            key.clone(),
            "a site name must be letters, digits, '-' or '_'",
        );
    }
    let url = match Url::parse(&s.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base() => Some(u),
        Ok(_) => {
            c.problem(
                format!("{key}.url"),
                format!("{:?} is not an http(s) URL", s.url),
            );
            None
        }
        Err(e) => {
            c.problem(
                format!("{key}.url"),
                format!("{:?} is not a URL: {e}", s.url),
            );
            None
        }
    };
    let oauth = s.auth == AuthKind::Oauth;
    let token = if oauth || s.auth == AuthKind::None {
        c.forbid(&key, "token_env", s.token_env.is_some(), "with this auth");
        c.forbid(&key, "token_file", s.token_file.is_some(), "with this auth");
        None
    } else {
        c.secret(
            &key,
            "token",
            s.token_env.as_ref(),
            s.token_file.as_ref(),
            true,
        )
    };
    if !oauth {
        for (n, set) in [
            ("client_id", s.client_id.is_some()),
            ("client_secret_env", s.client_secret_env.is_some()),
            ("client_secret_file", s.client_secret_file.is_some()),
            ("oauth_tokens_file", s.oauth_tokens_file.is_some()),
            ("token_url", s.token_url.is_some()),
        ] {
            c.forbid(&key, n, set, "unless auth = \"oauth\"");
        }
    }
    if s.auth != AuthKind::ApiToken {
        c.forbid(
            &key,
            "email",
            s.email.is_some(),
            "unless auth = \"api_token\"",
        );
    }
    if s.auth != AuthKind::Basic {
        c.forbid(&key, "user", s.user.is_some(), "unless auth = \"basic\"");
    }
    let credentials = match s.auth {
        AuthKind::ApiToken => {
            let email = s.email.clone().unwrap_or_default();
            if email.trim().is_empty() {
                c.problem(
                    format!("{key}.email"),
                    "the account's email is needed with auth = \"api_token\"",
                );
            }
            token.map(|token| Credentials::CloudApiToken { email, token })
        }
        AuthKind::Basic => {
            let user = s.user.clone().unwrap_or_default();
            if user.trim().is_empty() {
                c.problem(
                    format!("{key}.user"),
                    "the user name is needed with auth = \"basic\"",
                );
            }
            // Basic is `user:password`, the same header as a Cloud API token.
            token.map(|token| Credentials::CloudApiToken { email: user, token })
        }
        AuthKind::Pat => token.map(|token| Credentials::DataCenterPat { token }),
        AuthKind::None => Some(Credentials::Anonymous),
        AuthKind::Oauth => {
            let client_id = s.client_id.clone().unwrap_or_default();
            if client_id.trim().is_empty() {
                c.problem(
                    format!("{key}.client_id"),
                    "the OAuth app's client id is needed with auth = \"oauth\"",
                );
            }
            let secret = c.secret(
                &key,
                "client_secret",
                s.client_secret_env.as_ref(),
                s.client_secret_file.as_ref(),
                true,
            );
            let tokens = match &s.oauth_tokens_file {
                None => {
                    c.problem(
                        format!("{key}.oauth_tokens_file"),
                        "needed with auth = \"oauth\": a JSON file {\"access_token\": …, \"refresh_token\": …} the server rewrites when Atlassian rotates the tokens",
                    );
                    None
                }
                Some(f) => {
                    let path = c.path(f);
                    match FileTokenStore::open(&path) {
                        Ok(store) => Some(store),
                        Err(e) => {
                            c.problem(format!("{key}.oauth_tokens_file"), e);
                            None
                        }
                    }
                }
            };
            match (secret, tokens) {
                (Some(client_secret), Some(store)) => Some(Credentials::OAuth {
                    app: OAuthApp {
                        client_id,
                        client_secret,
                        token_url: s
                            .token_url
                            .clone()
                            .unwrap_or_else(|| "https://auth.atlassian.com/oauth/token".into()),
                    },
                    store: Arc::new(store),
                }),
                _ => None,
            }
        }
    };
    let webhook_secret = c.secret(
        &key,
        "webhook_secret",
        s.webhook_secret_env.as_ref(),
        s.webhook_secret_file.as_ref(),
        false,
    );
    let rate_per_second = s.rate_per_second.unwrap_or(10);
    let burst = s.burst.unwrap_or(20);
    if rate_per_second == 0 {
        c.problem(format!("{key}.rate_per_second"), "must be at least 1");
    }
    if burst == 0 {
        c.problem(format!("{key}.burst"), "must be at least 1");
    }
    let timeout = c.duration(
        &format!("{key}.timeout"),
        s.timeout.as_ref(),
        Duration::from_secs(30),
    );
    let dynamic_webhook_url = match s.dynamic_webhook_url.as_deref().map(Url::parse) {
        None => None,
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => Some(u),
        Some(Ok(u)) => {
            c.problem(
                format!("{key}.dynamic_webhook_url"),
                format!("{:?} is not an http(s) URL", u.as_str()),
            );
            None
        }
        Some(Err(e)) => {
            c.problem(
                format!("{key}.dynamic_webhook_url"),
                format!("not a URL: {e}"),
            );
            None
        }
    };
    if s.dynamic_webhook_url.is_none() && s.dynamic_webhook_refresh.is_some() {
        c.problem(
            format!("{key}.dynamic_webhook_refresh"),
            "only means something with dynamic_webhook_url",
        );
    }
    let dynamic_webhook_refresh = c.duration(
        &format!("{key}.dynamic_webhook_refresh"),
        s.dynamic_webhook_refresh.as_ref(),
        DEFAULT_WEBHOOK_REFRESH,
    );
    Some(SiteConfig {
        name: name.to_string(),
        dynamic_webhook_url,
        dynamic_webhook_refresh,
        url: url?,
        credentials: credentials?,
        flavor: s.flavor.map(|f| match f {
            RawFlavor::Cloud => ApiFlavor::CloudV3,
            RawFlavor::DataCenter => ApiFlavor::DataCenterV2,
        }),
        webhook_secret,
        rate_per_second,
        burst,
        timeout,
    })
}

fn value_map(m: &BTreeMap<String, String>) -> ValueMap {
    ValueMap::from_pairs(m.iter().map(|(h, j)| (h.as_str(), j.as_str())))
}

fn field(key: &str, f: &RawField, c: &mut Check<'_>) -> FieldMapping {
    let mut transforms = Vec::new();
    if let Some(m) = &f.status_map {
        transforms.push(Transform::StatusMap { map: value_map(m) });
    }
    if let Some(m) = &f.priority_map {
        transforms.push(Transform::PriorityMap { map: value_map(m) });
    }
    if let Some(m) = &f.option_map {
        transforms.push(Transform::OptionMap {
            map: value_map(m),
            passthrough: f.option_passthrough,
        });
    } else if f.option_passthrough {
        c.problem(
            format!("{key}.option_passthrough"),
            "only means something with option_map",
        );
    }
    if let Some(m) = &f.user_map {
        transforms.push(Transform::UserMap { map: value_map(m) });
    }
    if let Some(factor) = f.scale {
        transforms.push(Transform::NumberScale {
            factor,
            decimals: f.decimals.unwrap_or(2),
        });
    } else if f.decimals.is_some() {
        c.problem(format!("{key}.decimals"), "only means something with scale");
    }
    if transforms.len() > 1 {
        c.problem(
            key.to_string(),
            "at most one of status_map, priority_map, option_map, user_map, scale",
        );
    }
    FieldMapping {
        handoff_field: f.handoff.clone(),
        jira_field: f.jira.clone(),
        kind: f.kind,
        direction: f.direction,
        transform: transforms.into_iter().next().unwrap_or_default(),
        policy: f.policy,
    }
}

fn project(
    i: usize,
    p: &RawProject,
    sites: &BTreeMap<String, RawSite>,
    c: &mut Check<'_>,
) -> Option<ProjectSettings> {
    let key = format!("projects[{i}]");
    if p.id.trim().is_empty() {
        c.problem(format!("{key}.id"), "must not be empty");
    }
    let site = match &p.site {
        Some(s) => {
            if !sites.contains_key(s) {
                let known: Vec<&str> = sites.keys().map(String::as_str).collect();
                c.problem(
                    format!("{key}.site"),
                    format!("no Jira site named {s:?} (configured: {known:?})"),
                );
            }
            s.clone()
        }
        None if sites.len() == 1 => sites.keys().next().cloned().unwrap_or_default(),
        None => {
            c.problem(
                format!("{key}.site"),
                if sites.is_empty() {
                    "no Jira site is configured: add a [sites.NAME] table".to_string()
                } else {
                    "several Jira sites are configured: name the project's site".to_string()
                },
            );
            String::new()
        }
    };
    let jira_key = p.jira_project_key.trim();
    if jira_key.is_empty()
        || !jira_key
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        c.problem(
            format!("{key}.jira_project_key"),
            format!(
                "{:?} is not a Jira project key (e.g. \"SYNC\")",
                p.jira_project_key
            ),
        );
    }
    let mut mapping = match (&p.mapping_file, p.fields.is_empty()) {
        (Some(_), false) => {
            c.problem(key.clone(), "set fields or mapping_file, not both");
            ProjectMapping::new(Vec::new())
        }
        (Some(f), true) => {
            let path = c.path(f);
            match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    let mut de = serde_json::Deserializer::from_str(&t);
                    serde_path_to_error::deserialize::<_, ProjectMapping>(&mut de)
                        .map_err(|e| format!("at {}: {}", e.path(), e.inner()))
                }) {
                Ok(m) => m,
                Err(e) => {
                    c.problem(
                        format!("{key}.mapping_file"),
                        format!("{}: {e}", path.display()),
                    );
                    ProjectMapping::new(Vec::new())
                }
            }
        }
        (None, _) => ProjectMapping::new(
            p.fields
                .iter()
                .enumerate()
                .map(|(j, f)| field(&format!("{key}.fields[{j}]"), f, c))
                .collect(),
        ),
    };
    if mapping.fields.is_empty() && (p.mapping_file.is_none() || !p.fields.is_empty()) {
        c.problem(
            format!("{key}.fields"),
            "no field is mapped: add [[projects.fields]] tables (or mapping_file)",
        );
    }
    if p.pause_on_conflict {
        mapping.pause_link_on_conflict = true;
    }
    if !p.handoff_statuses.is_empty() {
        mapping.handoff_statuses = p.handoff_statuses.clone();
    }
    if !p.jira_statuses.is_empty() {
        mapping.jira_statuses = p.jira_statuses.clone();
    }
    if let Some(r) = &p.retry {
        let d = RetryPolicy::default();
        let base = c.duration(
            &format!("{key}.retry.base_delay"),
            r.base_delay.as_ref(),
            Duration::from_millis(d.base_delay_ms),
        );
        let max = c.duration(
            &format!("{key}.retry.max_delay"),
            r.max_delay.as_ref(),
            Duration::from_millis(d.max_delay_ms),
        );
        mapping.retry = RetryPolicy {
            max_attempts: r.max_attempts.unwrap_or(d.max_attempts),
            base_delay_ms: u64::try_from(base.as_millis()).unwrap_or(u64::MAX),
            max_delay_ms: u64::try_from(max.as_millis()).unwrap_or(u64::MAX),
        };
    }
    if !mapping.fields.is_empty() {
        if let Err(e) = mapping.validate() {
            c.problem(format!("{key}.fields (project {})", p.id), e.to_string());
        }
    }
    let poll_interval = c.duration(
        &format!("{key}.poll_interval"),
        p.poll_interval.as_ref(),
        DEFAULT_POLL_INTERVAL,
    );
    let reconcile_interval = c.duration(
        &format!("{key}.reconcile_interval"),
        p.reconcile_interval.as_ref(),
        DEFAULT_RECONCILE_INTERVAL,
    );
    if poll_interval < Duration::from_secs(1) {
        c.problem(format!("{key}.poll_interval"), "must be at least 1s");
    }
    if reconcile_interval < Duration::from_secs(1) {
        c.problem(format!("{key}.reconcile_interval"), "must be at least 1s");
    }
    Some(ProjectSettings {
        project: ProjectConfig {
            project_id: p.id.clone(),
            site,
            jira_project_key: jira_key.to_string(),
            issue_type: p.issue_type.clone().unwrap_or_else(|| "Task".to_string()),
            mapping,
        },
        poll_interval,
        reconcile_interval,
    })
}

fn host(h: &RawHost, projects: &[ProjectSettings], c: &mut Check<'_>) -> HostConfig {
    match h.kind {
        HostKind::Memory => {
            for (n, set) in [
                ("url", h.url.is_some()),
                ("token_env", h.token_env.is_some()),
                ("token_file", h.token_file.is_some()),
                (
                    "notification_secret_env",
                    h.notification_secret_env.is_some(),
                ),
                (
                    "notification_secret_file",
                    h.notification_secret_file.is_some(),
                ),
                ("poll_interval", h.poll_interval.is_some()),
            ] {
                c.forbid("host", n, set, "with kind = \"memory\"");
            }
            HostConfig::Memory
        }
        HostKind::Http => {
            let url = match h.url.as_deref().map(Url::parse) {
                Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base() => {
                    Some(u)
                }
                Some(Ok(u)) => {
                    c.problem(
                        "host.url",
                        format!("{:?} is not an http(s) URL", u.as_str()),
                    );
                    None
                }
                Some(Err(e)) => {
                    c.problem("host.url", format!("not a URL: {e}"));
                    None
                }
                None => {
                    c.problem(
                        "host.url",
                        "the host's base URL is needed with kind = \"http\"",
                    );
                    None
                }
            };
            let token = c.secret(
                "host",
                "token",
                h.token_env.as_ref(),
                h.token_file.as_ref(),
                true,
            );
            let notification_secret = c.secret(
                "host",
                "notification_secret",
                h.notification_secret_env.as_ref(),
                h.notification_secret_file.as_ref(),
                false,
            );
            let poll_interval = h
                .poll_interval
                .as_ref()
                .map(|d| c.duration("host.poll_interval", Some(d), Duration::from_secs(60)));
            let mut schema = h.fields.clone();
            for p in projects {
                for f in &p.project.mapping.fields {
                    match schema.get(&f.handoff_field) {
                        Some(k) if *k != f.kind && !h.fields.contains_key(&f.handoff_field) => {
                            c.problem(
                                format!("projects (project {})", p.project.project_id),
                                format!(
                                    "the host field {:?} is mapped as {} here and as {k} elsewhere; set its kind in [host.fields]",
                                    f.handoff_field, f.kind
                                ),
                            );
                        }
                        Some(_) => {}
                        None => {
                            schema.insert(f.handoff_field.clone(), f.kind);
                        }
                    }
                }
            }
            // With a problem recorded the config is not used: the placeholder is never seen.
            match (url, token) {
                (Some(url), Some(token)) => HostConfig::Http {
                    url,
                    token,
                    notification_secret,
                    schema,
                    poll_interval,
                },
                _ => HostConfig::Memory,
            }
        }
    }
}
