//! The config: a good file, each class of error (named by its key), environment overrides and
//! secrets from files.

use std::path::Path;
use std::time::Duration;

use jira_adapter::auth::Credentials;
use server_bin::config::{parse_duration, Config, ConfigError, Env, HostConfig, LogFormat, Role};
use sync_domain::mapping::{Direction, Policy, Transform};
use sync_domain::ValueKind;

const GOOD: &str = r#"
listen = "127.0.0.1:9090"
store = "sqlite://sync.db"

[[api.tokens]]
name = "ops"
role = "admin"
token_env = "ADMIN_TOKEN"

[[api.tokens]]
name = "board"
role = "read_only"
token_env = "READ_TOKEN"

[sites.acme]
url = "https://acme.atlassian.net"
auth = "api_token"
email = "sync@acme.example"
token_env = "JIRA_TOKEN"
webhook_secret_env = "JIRA_HOOK"

[sites.dc]
url = "https://jira.internal.example"
auth = "pat"
token_env = "DC_TOKEN"
flavor = "data_center"

[host]
kind = "http"
url = "https://handoff.example/api/v1"
token_env = "HOST_TOKEN"
poll_interval = "30s"

[[projects]]
id = "P1"
site = "acme"
jira_project_key = "SYNC"
issue_type = "Story"
reconcile_interval = "2h"
pause_on_conflict = true
handoff_statuses = ["todo", "done"]

[[projects.fields]]
handoff = "title"
jira = "summary"
kind = "text"

[[projects.fields]]
handoff = "status"
jira = "status"
kind = "option"
status_map = { todo = "To Do", done = "Done" }

[[projects.fields]]
handoff = "labels"
jira = "labels"
kind = "option_set"
policy = "union"
direction = "push"

[[projects]]
id = "P2"
site = "dc"
jira_project_key = "OPS"
poll_interval = "1m"

[[projects.fields]]
handoff = "title"
jira = "summary"
kind = "text"

[[projects.fields]]
handoff = "size"
jira = "customfield_10016"
kind = "number"
scale = 3600.0
decimals = 1
"#;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn secrets() -> Env {
    env(&[
        ("ADMIN_TOKEN", "admin-token-0123456789"),
        ("READ_TOKEN", "read-token-0123456789"),
        ("JIRA_TOKEN", "jira-secret"),
        ("JIRA_HOOK", "hook-secret"),
        ("DC_TOKEN", "dc-pat"),
        ("HOST_TOKEN", "host-token"),
    ])
}

fn load(text: &str, env: &Env) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("."), env)
}

/// The problems' `key: message` lines.
fn problems(text: &str, env: &Env) -> Vec<String> {
    match load(text, env) {
        Ok(_) => vec!["(the config was accepted)".into()],
        Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
    }
}

fn assert_problem(text: &str, env: &Env, key: &str, needle: &str) {
    let ps = problems(text, env);
    assert!(
        ps.iter()
            .any(|p| p.starts_with(&format!("{key}: ")) && p.contains(needle)),
        "expected a problem at {key} containing {needle:?}, got {ps:#?}"
    );
}

#[test]
fn a_good_config_is_read_whole() {
    let c = load(GOOD, &secrets()).expect("the good config");
    assert_eq!(c.listen.to_string(), "127.0.0.1:9090");
    assert_eq!(c.store, "sqlite://sync.db");
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(
        c.api_tokens
            .iter()
            .map(|t| (t.name.as_str(), t.role, t.token.expose()))
            .collect::<Vec<_>>(),
        vec![
            ("ops", Role::Admin, "admin-token-0123456789"),
            ("board", Role::ReadOnly, "read-token-0123456789")
        ]
    );
    assert_eq!(c.sites.len(), 2);
    let acme = c.sites.iter().find(|s| s.name == "acme").expect("acme");
    assert!(
        matches!(&acme.credentials, Credentials::CloudApiToken { email, token }
        if email == "sync@acme.example" && token.expose() == "jira-secret")
    );
    assert_eq!(
        acme.webhook_secret.as_ref().map(|s| s.expose()),
        Some("hook-secret")
    );
    let dc = c.sites.iter().find(|s| s.name == "dc").expect("dc");
    assert!(
        matches!(&dc.credentials, Credentials::DataCenterPat { token } if token.expose() == "dc-pat")
    );
    match &c.host {
        HostConfig::Http {
            url,
            token,
            schema,
            poll_interval,
            notification_secret,
        } => {
            assert_eq!(url.as_str(), "https://handoff.example/api/v1");
            assert_eq!(token.expose(), "host-token");
            assert!(notification_secret.is_none());
            assert_eq!(*poll_interval, Some(Duration::from_secs(30)));
            // The schema is every mapped host field with its kind.
            assert_eq!(schema.get("title"), Some(&ValueKind::Text));
            assert_eq!(schema.get("labels"), Some(&ValueKind::OptionSet));
            assert_eq!(schema.get("size"), Some(&ValueKind::Number));
        }
        HostConfig::Memory => panic!("an http host was configured"),
    }
    let p1 = &c.projects[0];
    assert_eq!(p1.project.project_id, "P1");
    assert_eq!(p1.project.jira_project_key, "SYNC");
    assert_eq!(p1.project.issue_type, "Story");
    assert_eq!(p1.poll_interval, Duration::from_secs(300), "default 5 min");
    assert_eq!(p1.reconcile_interval, Duration::from_secs(7200));
    assert!(p1.project.mapping.pause_link_on_conflict);
    let status = &p1.project.mapping.fields[1];
    assert!(
        matches!(&status.transform, Transform::StatusMap { map } if map.to_jira.get("todo").map(String::as_str) == Some("To Do"))
    );
    let labels = &p1.project.mapping.fields[2];
    assert_eq!(
        (labels.policy, labels.direction),
        (Policy::Union, Direction::Push)
    );
    let p2 = &c.projects[1];
    assert_eq!(p2.project.site, "dc");
    assert_eq!(p2.project.issue_type, "Task", "the default issue type");
    assert_eq!(p2.poll_interval, Duration::from_secs(60));
    assert!(matches!(
        p2.project.mapping.fields[1].transform,
        Transform::NumberScale { decimals: 1, .. }
    ));
}

#[test]
fn the_example_config_in_the_repository_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/jira-sync.toml");
    let env = env(&[
        ("JIRA_SYNC_ADMIN_TOKEN", "admin-token-0123456789"),
        ("JIRA_SYNC_READ_TOKEN", "read-token-0123456789"),
        ("JIRA_API_TOKEN", "t"),
        ("JIRA_WEBHOOK_SECRET", "s"),
        ("HANDOFF_TOKEN", "h"),
        ("HANDOFF_NOTIFICATION_SECRET", "n"),
    ]);
    let c = Config::load(&path, &env).expect("the example config");
    assert_eq!(c.projects.len(), 1);
    assert_eq!(c.projects[0].project.mapping.fields.len(), 6);
}

#[test]
fn a_minimal_config_takes_the_defaults() {
    let text = r#"
        [sites.only]
        url = "http://127.0.0.1:1"
        auth = "none"
        [host]
        kind = "memory"
        [[projects]]
        id = "P"
        jira_project_key = "K"
        [[projects.fields]]
        handoff = "title"
        jira = "summary"
        kind = "text"
    "#;
    let c = load(text, &Env::new()).expect("minimal");
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.store, "sqlite://jira-sync.db");
    assert_eq!(
        c.projects[0].project.site, "only",
        "the one site is implied"
    );
    assert!(matches!(c.host, HostConfig::Memory));
    assert_eq!(c.sync.shutdown_grace, Duration::from_secs(10));
    assert_eq!(
        c.sync.inbox_concurrency,
        sync_engine::DEFAULT_INBOX_CONCURRENCY
    );
}

#[test]
fn inbox_concurrency_is_read_and_bounded() {
    let with = |n: &str| format!("{GOOD}\n[sync]\ninbox_concurrency = {n}\n");
    let c = load(&with("1"), &secrets()).expect("1 is allowed");
    assert_eq!(c.sync.inbox_concurrency, 1);
    for bad in ["0", "257", "-3"] {
        assert_problem(&with(bad), &secrets(), "sync.inbox_concurrency", "1 to 256");
    }
}

#[test]
fn an_unknown_site_is_named_with_its_project_index() {
    let text = GOOD.replacen("site = \"dc\"", "site = \"acmee\"", 1);
    assert_problem(
        &text,
        &secrets(),
        "projects[1].site",
        "no Jira site named \"acmee\"",
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let text = GOOD.replacen("issue_type = \"Story\"", "issue_typ = \"Story\"", 1);
    assert_problem(
        &text,
        &secrets(),
        "projects[0].issue_typ",
        "unknown field `issue_typ`",
    );
    let text = GOOD.replacen("auth = \"pat\"", "auth = \"pat\"\ncolour = 1", 1);
    assert_problem(
        &text,
        &secrets(),
        "sites.dc.colour",
        "unknown field `colour`",
    );
    let text = format!("lisen = \"x\"\n{GOOD}");
    assert_problem(&text, &secrets(), "lisen", "unknown field `lisen`");
}

#[test]
fn a_wrong_type_or_enum_value_names_its_key() {
    let text = GOOD.replacen("kind = \"option_set\"", "kind = \"tags\"", 1);
    assert_problem(&text, &secrets(), "projects[0].fields[2].kind", "tags");
    let text = GOOD.replacen("role = \"read_only\"", "role = \"reader\"", 1);
    assert_problem(&text, &secrets(), "api.tokens[1].role", "reader");
}

#[test]
fn toml_syntax_errors_say_where() {
    let ps = problems("listen = \n", &Env::new());
    assert!(
        ps[0].starts_with("toml: ") && ps[0].contains("line 1"),
        "{ps:?}"
    );
}

#[test]
fn mapping_errors_are_prefixed_by_the_project() {
    let text = GOOD.replacen("jira = \"labels\"", "jira = \"summary\"", 1);
    assert_problem(
        &text,
        &secrets(),
        "projects[0].fields (project P1)",
        "written by two mappings",
    );
    // A status map that misses a declared Handoff status.
    let text = GOOD.replacen(
        "handoff_statuses = [\"todo\", \"done\"]",
        "handoff_statuses = [\"todo\", \"doing\", \"done\"]",
        1,
    );
    assert_problem(
        &text,
        &secrets(),
        "projects[0].fields (project P1)",
        "doing",
    );
}

#[test]
fn missing_secrets_and_bad_values_are_all_reported_at_once() {
    let mut env = secrets();
    env.remove("JIRA_TOKEN");
    env.remove("HOST_TOKEN");
    let text = GOOD
        .replacen("poll_interval = \"1m\"", "poll_interval = \"1 minute\"", 1)
        .replacen("listen = \"127.0.0.1:9090\"", "listen = \"localhost\"", 1);
    let ps = problems(&text, &env);
    for (key, needle) in [
        ("sites.acme.token_env", "JIRA_TOKEN is not set"),
        ("host.token_env", "HOST_TOKEN is not set"),
        ("projects[1].poll_interval", "1 minute"),
        ("listen", "localhost"),
    ] {
        assert!(
            ps.iter()
                .any(|p| p.starts_with(&format!("{key}: ")) && p.contains(needle)),
            "{key}: {needle} not in {ps:#?}"
        );
    }
}

#[test]
fn secrets_are_never_taken_inline_and_auth_needs_its_parts() {
    let text = GOOD.replacen("token_env = \"DC_TOKEN\"", "token = \"inline\"", 1);
    assert_problem(&text, &secrets(), "sites.dc.token", "unknown field `token`");
    let text = GOOD.replacen("email = \"sync@acme.example\"\n", "", 1);
    assert_problem(&text, &secrets(), "sites.acme.email", "needed");
    let text = GOOD.replacen("token_env = \"DC_TOKEN\"", "", 1);
    assert_problem(&text, &secrets(), "sites.dc", "token_env");
    let text = GOOD.replacen(
        "token_env = \"ADMIN_TOKEN\"",
        "token_env = \"ADMIN_TOKEN\"\ntoken_file = \"x\"",
        1,
    );
    assert_problem(&text, &secrets(), "api.tokens[0]", "not both");
}

#[test]
fn short_or_duplicate_api_tokens_are_refused() {
    let mut env = secrets();
    env.insert("READ_TOKEN".into(), "short".into());
    assert_problem(GOOD, &env, "api.tokens[1]", "shorter than 16");
    let mut env = secrets();
    env.insert("READ_TOKEN".into(), "admin-token-0123456789".into());
    assert_problem(GOOD, &env, "api.tokens[1]", "same value");
}

#[test]
fn several_sites_need_a_named_site_per_project() {
    let text = GOOD.replacen("site = \"dc\"\n", "", 1);
    assert_problem(
        &text,
        &secrets(),
        "projects[1].site",
        "name the project's site",
    );
}

#[test]
fn env_overrides_set_top_level_nested_and_indexed_keys() {
    let mut env = secrets();
    env.insert("JIRA_SYNC_STORE".into(), "postgres://db/sync".into());
    env.insert("JIRA_SYNC_LISTEN".into(), "0.0.0.0:7000".into());
    env.insert(
        "JIRA_SYNC_SITES__ACME__URL".into(),
        "https://acme2.atlassian.net".into(),
    );
    env.insert("JIRA_SYNC_PROJECTS__1__POLL_INTERVAL".into(), "45s".into());
    env.insert(
        "JIRA_SYNC_PROJECTS__0__PAUSE_ON_CONFLICT".into(),
        "false".into(),
    );
    env.insert("JIRA_SYNC_LOG".into(), "jira_sync=debug".into());
    env.insert("JIRA_SYNC_LOG__FORMAT".into(), "json".into());
    // Not an override: its first part is no top-level key (a secret's variable, say).
    env.insert("JIRA_SYNC_SOMETHING_ELSE".into(), "whatever".into());
    let c = load(GOOD, &env).expect("overridden");
    assert_eq!(c.store, "postgres://db/sync");
    assert_eq!(c.listen.to_string(), "0.0.0.0:7000");
    let acme = c.sites.iter().find(|s| s.name == "acme").expect("acme");
    assert_eq!(acme.url.as_str(), "https://acme2.atlassian.net/");
    assert_eq!(c.projects[1].poll_interval, Duration::from_secs(45));
    assert!(!c.projects[0].project.mapping.pause_link_on_conflict);
    assert_eq!(c.log.filter, "jira_sync=debug");
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn a_bad_override_names_its_variable() {
    let mut env = secrets();
    env.insert("JIRA_SYNC_PROJECTS__5__ID".into(), "X".into());
    assert_problem(GOOD, &env, "JIRA_SYNC_PROJECTS__5__ID", "no [5]");
    let mut env = secrets();
    env.insert("JIRA_SYNC_SITES__ACME__NOPE".into(), "1".into());
    assert_problem(GOOD, &env, "sites.acme.nope", "unknown field `nope`");
}

#[test]
fn secrets_are_read_from_files_relative_to_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("jira.token"), "from-a-file\n").expect("write");
    std::fs::write(dir.path().join("empty.token"), "  \n").expect("write");
    let text = GOOD.replacen("token_env = \"DC_TOKEN\"", "token_file = \"jira.token\"", 1);
    let path = dir.path().join("jira-sync.toml");
    std::fs::write(&path, &text).expect("write");
    let c = Config::load(&path, &secrets()).expect("with a secret file");
    let dc = c.sites.iter().find(|s| s.name == "dc").expect("dc");
    assert!(
        matches!(&dc.credentials, Credentials::DataCenterPat { token } if token.expose() == "from-a-file")
    );

    let text = GOOD.replacen(
        "token_env = \"DC_TOKEN\"",
        "token_file = \"empty.token\"",
        1,
    );
    std::fs::write(&path, &text).expect("write");
    let e = Config::load(&path, &secrets()).expect_err("an empty secret file");
    assert!(
        e.to_string().contains("sites.dc.token_file: the file"),
        "{e}"
    );
    let text = GOOD.replacen("token_env = \"DC_TOKEN\"", "token_file = \"missing\"", 1);
    std::fs::write(&path, &text).expect("write");
    let e = Config::load(&path, &secrets()).expect_err("a missing secret file");
    assert!(
        e.to_string().contains("sites.dc.token_file: cannot read"),
        "{e}"
    );
}

#[test]
fn a_mapping_file_in_the_apis_shape_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping =
        sync_domain::mapping::ProjectMapping::new(vec![sync_domain::mapping::FieldMapping::new(
            "title",
            "summary",
            ValueKind::Text,
        )]);
    // What `GET /api/projects/{id}/sync-mappings` shows under `mapping` is a mapping file.
    std::fs::write(
        dir.path().join("p2.json"),
        serde_json::to_string(&server_bin::mapping_doc::MappingDoc::from(&mapping)).expect("json"),
    )
    .expect("write");
    let start = GOOD.find("id = \"P2\"").expect("P2");
    let text = format!(
        "{}id = \"P2\"\nsite = \"dc\"\njira_project_key = \"OPS\"\nmapping_file = \"p2.json\"\n",
        &GOOD[..start]
    );
    let path = dir.path().join("jira-sync.toml");
    std::fs::write(&path, &text).expect("write");
    let c = Config::load(&path, &secrets()).expect("with a mapping file");
    assert_eq!(c.projects[1].project.mapping, mapping);
    std::fs::write(
        dir.path().join("p2.json"),
        r#"{"mappings": [{"handoffField": 1}]}"#,
    )
    .expect("write");
    let e = Config::load(&path, &secrets()).expect_err("a bad mapping file");
    assert!(
        e.to_string().contains("projects[1].mapping_file") && e.to_string().contains("mappings[0]"),
        "{e}"
    );
}

#[test]
fn durations_read_like_people_write_them() {
    for (text, secs) in [("5m", 300), ("90s", 90), ("1h30m", 5400), ("2d", 172_800)] {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs(secs)),
            "{text}"
        );
    }
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    for bad in ["", "5", "m", "5 weeks", "5w"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

/// A field table in the API's spelling (the one mapping schema) reads as the same mapping as
/// the short TOML spelling; writing a transform both ways is refused at the field's key.
#[test]
fn a_field_in_the_apis_spelling_reads_as_the_short_one() {
    let short = GOOD.to_string();
    let long = GOOD.replace(
        "status_map = { todo = \"To Do\", done = \"Done\" }",
        "transform = { kind = \"status_map\", map = { toJira = { todo = \"To Do\", done = \"Done\" } } }",
    );
    assert_ne!(short, long, "the fixture has a status_map to respell");
    let dir = std::path::Path::new(".");
    let a = Config::from_toml(&short, dir, &secrets()).expect("short");
    let b = Config::from_toml(&long, dir, &secrets()).expect("long");
    assert_eq!(a.projects[0].project.mapping, b.projects[0].project.mapping);
    let both = GOOD.replace(
        "status_map = { todo = \"To Do\", done = \"Done\" }",
        "status_map = { todo = \"To Do\", done = \"Done\" }\ntransform = { kind = \"identity\" }",
    );
    let e = Config::from_toml(&both, dir, &secrets()).expect_err("two transforms");
    assert!(
        e.to_string().contains("projects[0].fields[")
            && e.to_string().contains("at most one of transform"),
        "{e}"
    );
}
