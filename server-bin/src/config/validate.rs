//! Validation: the file as read ([`super::read`]) turned into a [`Config`], every problem
//! collected with the key it is about, secrets read from the environment or files.

use super::read::*;
use super::*;
use crate::mapping_doc::{self, FieldMappingDoc, MappingDoc};

/// Collects problems while the raw config is turned into a [`Config`].
pub(super) struct Check<'a> {
    pub(super) env: &'a Env,
    /// The directory relative secret and mapping files are resolved against.
    pub(super) base_dir: PathBuf,
    pub(super) problems: Vec<Problem>,
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

pub(super) fn validate(raw: RawConfig, c: &mut Check<'_>) -> Config {
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

/// A `[[projects.fields]]` table, read as the API's field schema ([`FieldMappingDoc`]).
fn field(key: &str, f: &FieldMappingDoc, c: &mut Check<'_>) -> FieldMapping {
    match f.to_domain() {
        Ok(m) => m,
        Err(problems) => {
            for p in problems {
                let at = if p.key.is_empty() {
                    key.to_string()
                } else {
                    format!("{key}.{}", p.key)
                };
                c.problem(at, p.message);
            }
            FieldMapping::new(&f.handoff_field, &f.jira_field, f.kind)
        }
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
                    serde_path_to_error::deserialize::<_, MappingDoc>(&mut de)
                        .map_err(|e| format!("at {}: {}", e.path(), e.inner()))
                })
                .and_then(|doc| {
                    doc.to_domain()
                        .map_err(|ps| mapping_doc::describe(&ps).join("; "))
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
