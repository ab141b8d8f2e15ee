//! Reading: the TOML file as written (every table and key, unknown keys refused) and the
//! durations it spells. Nothing here is checked beyond its shape: that is `validate`.

use super::*;
use crate::mapping_doc::FieldMappingDoc;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) listen: Option<String>,
    pub(super) store: Option<String>,
    pub(super) instance: Option<String>,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default)]
    pub(super) api: RawApi,
    #[serde(default)]
    pub(super) sites: BTreeMap<String, RawSite>,
    pub(super) host: Option<RawHost>,
    #[serde(default)]
    pub(super) projects: Vec<RawProject>,
    #[serde(default)]
    pub(super) sync: RawSync,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) filter: Option<String>,
    pub(super) format: Option<LogFormat>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    #[serde(default)]
    pub(super) tokens: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    pub(super) name: String,
    pub(super) role: Role,
    pub(super) token_env: Option<String>,
    pub(super) token_file: Option<PathBuf>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum AuthKind {
    ApiToken,
    Basic,
    Pat,
    Oauth,
    None,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawFlavor {
    Cloud,
    DataCenter,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSite {
    pub(super) url: String,
    pub(super) auth: AuthKind,
    pub(super) email: Option<String>,
    pub(super) user: Option<String>,
    pub(super) token_env: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret_env: Option<String>,
    pub(super) client_secret_file: Option<PathBuf>,
    pub(super) oauth_tokens_file: Option<PathBuf>,
    pub(super) token_url: Option<String>,
    pub(super) flavor: Option<RawFlavor>,
    pub(super) webhook_secret_env: Option<String>,
    pub(super) webhook_secret_file: Option<PathBuf>,
    pub(super) rate_per_second: Option<u32>,
    pub(super) burst: Option<u32>,
    pub(super) timeout: Option<RawDuration>,
    pub(super) dynamic_webhook_url: Option<String>,
    pub(super) dynamic_webhook_refresh: Option<RawDuration>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum HostKind {
    Memory,
    Http,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHost {
    pub(super) kind: HostKind,
    pub(super) url: Option<String>,
    pub(super) token_env: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) notification_secret_env: Option<String>,
    pub(super) notification_secret_file: Option<PathBuf>,
    pub(super) poll_interval: Option<RawDuration>,
    #[serde(default)]
    pub(super) fields: BTreeMap<String, ValueKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProject {
    pub(super) id: String,
    pub(super) site: Option<String>,
    pub(super) jira_project_key: String,
    pub(super) issue_type: Option<String>,
    pub(super) poll_interval: Option<RawDuration>,
    pub(super) reconcile_interval: Option<RawDuration>,
    #[serde(default)]
    pub(super) pause_on_conflict: bool,
    #[serde(default)]
    pub(super) handoff_statuses: Vec<String>,
    #[serde(default)]
    pub(super) jira_statuses: Vec<String>,
    pub(super) retry: Option<RawRetry>,
    #[serde(default)]
    pub(super) fields: Vec<FieldMappingDoc>,
    pub(super) mapping_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    pub(super) max_attempts: Option<u32>,
    pub(super) base_delay: Option<RawDuration>,
    pub(super) max_delay: Option<RawDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    pub(super) lease: Option<RawDuration>,
    pub(super) poll_overlap: Option<RawDuration>,
    pub(super) max_jitter: Option<RawDuration>,
    pub(super) shutdown_grace: Option<RawDuration>,
    pub(super) inbox_concurrency: Option<i64>,
}

/// A duration as written: `"5m"`, `"90s"`, `"1h30m"`, `"250ms"`, or a number of seconds.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub(super) enum RawDuration {
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
