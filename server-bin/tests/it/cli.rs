//! The `jira-sync` binary's offline commands, run as a person would, on a SQLite store that a
//! live runtime (the demo's world: the Jira simulator over HTTP and the in-memory host) left
//! with a link and an open conflict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use server_bin::demo::{DemoWorld, HANDOFF_PERSON, JIRA_PERSON, PROJECT};
use sync_domain::link::LinkStatus;
use sync_domain::Value;
use sync_store::Store;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jira-sync"));
    // The config file is never read unless a command needs one.
    c.env_remove("JIRA_SYNC_CONFIG").env_remove("JIRA_SYNC_LOG");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed and prints JSON.
fn json_of(args: &[&str]) -> Json {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", stdout(&o)))
}

async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A store with one linked item whose title both sides changed: one open conflict.
/// Returns the store URL and the work item id.
async fn store_with_a_conflict(dir: &Path) -> (String, String) {
    let url = format!("sqlite://{}", dir.join("cli.db").display());
    let world = DemoWorld::start(Store::open(&url).await.expect("store"))
        .await
        .expect("world");
    let rt = world.rt.clone();
    let fields: BTreeMap<String, Value> = [
        ("title".to_string(), Value::text("Password Reset")),
        ("status".to_string(), Value::option("todo")),
    ]
    .into_iter()
    .collect();
    let item = world
        .host
        .create_as_person(PROJECT, &fields, HANDOFF_PERSON)
        .expect("item");
    let link_id = rt.push_item(&item.id, HANDOFF_PERSON).await.expect("push");
    assert!(world.settle().await, "the push settles");
    let issue_id = rt
        .store()
        .link_view(&link_id)
        .await
        .expect("view")
        .and_then(|v| v.issue_id)
        .expect("the issue exists");
    rt.set_dispatch_paused(true);
    let title: BTreeMap<String, Value> = [("title".to_string(), Value::text("Reset via Handoff"))]
        .into_iter()
        .collect();
    world
        .host
        .edit_as_person(&item.id, &title, HANDOFF_PERSON)
        .expect("edit in Handoff");
    wait_for("the write to Jira to be queued", || async {
        matches!(rt.store().link_view(&link_id).await, Ok(Some(v)) if v.status == LinkStatus::PendingPush)
    })
    .await;
    world
        .sim
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .edit_as_person(
            &issue_id,
            &json!({"summary": "Reset via Jira"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            JIRA_PERSON,
        )
        .expect("edit in Jira");
    wait_for("the conflict", || async {
        matches!(rt.store().conflicts(PROJECT).await, Ok(v) if v.len() == 1)
    })
    .await;
    // Whatever the dispatcher would do next waits for the next server.
    rt.drain(Duration::from_secs(5)).await;
    drop(world);
    rt.store().close().await;
    (url, item.id)
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_commands_show_and_settle_what_the_store_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, item) = store_with_a_conflict(dir.path()).await;
    // Every command here takes the store on the command line (no config file).
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|s| s.to_string())
            .chain(["--store".to_string(), url.clone()])
            .collect()
    };
    let run_with = |args: &[&str]| {
        let v = with(args);
        run(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let json_with = |args: &[&str]| {
        let v = with(args);
        json_of(&v.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let m = json_with(&["migrate", "--json"]);
    assert!(m["schemaVersion"].as_i64() >= Some(1), "{m}");
    assert_eq!(m["backend"], "sqlite");

    let s = json_with(&["status", "--json"]);
    assert_eq!(s["links"], 1, "{s}");
    assert_eq!(s["openConflicts"], 1, "{s}");
    assert_eq!(s["linksByStatus"]["conflict"], 1, "{s}");

    let c = json_with(&["conflicts", "list", "--project", "HANDOFF", "--json"]);
    let conflicts = c["conflicts"].as_array().expect("a list");
    assert_eq!(conflicts.len(), 1, "{c}");
    assert_eq!(conflicts[0]["field"], "title");
    assert_eq!(conflicts[0]["workItemId"], item.as_str());
    let id = conflicts[0]["id"].as_str().expect("an id").to_string();

    // The table for people names the same conflict and both values.
    let o = run_with(&["conflicts", "list", "--project", "HANDOFF"]);
    let table = stdout(&o);
    assert!(
        table.contains(&id)
            && table.contains("Reset via Handoff")
            && table.contains("Reset via Jira"),
        "{table}"
    );

    // A resolution needs a choice; an unknown conflict is refused; neither changes anything.
    let o = run_with(&["conflicts", "resolve", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--use-handoff"), "{}", stderr(&o));
    let o = run_with(&["conflicts", "resolve", "no-such-conflict", "--ignore"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no open conflict"), "{}", stderr(&o));

    let o = run_with(&[
        "conflicts",
        "resolve",
        &id,
        "--merge",
        "Password reset (merged)",
        "--actor",
        "rita",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("resolved"), "{}", stdout(&o));

    let c = json_with(&["conflicts", "list", "--project", "HANDOFF", "--json"]);
    assert_eq!(c["conflicts"], json!([]), "{c}");
    let s = json_with(&["status", "--project", "HANDOFF", "--json"]);
    assert_eq!(s["openConflicts"], 0, "{s}");
    assert!(
        s["queueDepth"].as_u64() >= Some(1),
        "the merged value waits to be written: {s}"
    );

    let h = json_with(&["history", &item, "--json"]);
    let events = h["events"].as_array().expect("events");
    let sources: Vec<&str> = events.iter().filter_map(|e| e["source"].as_str()).collect();
    for source in ["handoff", "jira", "user"] {
        assert!(sources.contains(&source), "no {source} event in {h}");
    }
    assert!(
        events.iter().any(|e| e["actor"] == "rita"
            && e["summary"]
                .as_str()
                .is_some_and(|s| s.contains("resolved"))),
        "the resolution is in the history: {h}"
    );
    let o = run_with(&["history", "WI-none"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("WI-none"), "{}", stderr(&o));

    let before = Store::open(&url).await.expect("store");
    let live = before.dump_projections().await.expect("dump");
    before.close().await;
    let r = json_with(&["replay", "--json"]);
    assert!(r["events"].as_u64() > Some(5), "{r}");
    assert_eq!(r["links"], 1);
    assert_eq!(r["openConflicts"], 0);
    let after = Store::open(&url).await.expect("store");
    assert_eq!(
        after.dump_projections().await.expect("dump"),
        live,
        "a rebuild gives the live projections"
    );
    after.close().await;
}

#[test]
fn a_store_that_cannot_be_opened_or_a_missing_config_is_a_clear_error() {
    let o = run(&["status", "--store", "mysql://nowhere"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot open the store"),
        "{}",
        stderr(&o)
    );
    let o = run(&["status", "--config", "/nonexistent/jira-sync.toml"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot read the file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_invalid_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
        [sites.acme]
        url = "http://127.0.0.1:1"
        auth = "none"
        [host]
        kind = "memory"
        [[projects]]
        id = "P"
        site = "acme"
        jira_project_key = "K"
        [[projects.fields]]
        handoff = "title"
        jira = "summary"
        kind = "text"
        [[projects]]
        id = "Q"
        site = "amce"
        jira_project_key = "Q"
        [[projects.fields]]
        handoff = "title"
        jira = "summary"
        kind = "text"
        "#,
    )
    .expect("write");
    let o = run(&["serve", "--config", path.to_str().expect("utf-8")]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("projects[1].site: no Jira site named \"amce\""),
        "{}",
        stderr(&o)
    );
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/webhooks")
        .join(name)
}

#[test]
fn webhook_inspect_shows_event_issue_and_changes() {
    let f = fixture("webhook-issue-updated-edited.json");
    let v = json_of(&["webhook", "inspect", f.to_str().expect("utf-8"), "--json"]);
    assert_eq!(v["event"], "jira:issue_updated");
    assert_eq!(v["issue"]["id"], "10040");
    assert_eq!(v["issue"]["key"], "TES-41");
    let changes = v["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{v}");
    assert_eq!(changes[0]["field"], "description");
    assert_eq!(changes[0]["from"], "Unit test description, not that long");
    assert!(changes[0]["to"]
        .as_str()
        .is_some_and(|s| s.starts_with("Unit test description, not that long, a")));

    let o = run(&[
        "webhook",
        "inspect",
        fixture("webhook-cloud-comment-created.json")
            .to_str()
            .expect("utf-8"),
    ]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("comment_created")
            && text.contains("TES-41")
            && text.contains("Added a comment"),
        "{text}"
    );
}

#[test]
fn webhook_inspect_applies_a_projects_mapping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jira-sync.toml");
    std::fs::write(
        &path,
        r#"
        [sites.cloud]
        url = "http://127.0.0.1:1"
        auth = "none"
        [host]
        kind = "memory"
        [[projects]]
        id = "TEST"
        jira_project_key = "TES"
        [[projects.fields]]
        handoff = "description"
        jira = "description"
        kind = "rich_text"
        "#,
    )
    .expect("write");
    let f = fixture("webhook-issue-updated-edited.json");
    let v = json_of(&[
        "webhook",
        "inspect",
        f.to_str().expect("utf-8"),
        "--config",
        path.to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(v["mapped"]["project"], "TEST", "{v}");
    assert!(
        v["mapped"]["observation"]["values"]["description"]
            .as_str()
            .is_some_and(|s| s.contains("Unit test description")),
        "{v}"
    );
}

#[test]
fn webhook_inspect_refuses_a_bad_file_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"hello\": 1}").expect("write");
    let o = run(&["webhook", "inspect", bad.to_str().expect("utf-8")]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not a Jira webhook delivery"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&bad, "not json").expect("write");
    let o = run(&["webhook", "inspect", bad.to_str().expect("utf-8")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not valid JSON"), "{}", stderr(&o));
    let o = run(&["webhook", "inspect", "/nonexistent/delivery.json"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
}

/// Runs the binary with `stdin`; (exit code, stdout, stderr).
fn run_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("the binary ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn convert_round_trips_through_adf() {
    let (code, adf, _) = run_stdin(&["convert", "md-to-adf"], "Some `code` and **bold**\n");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&adf).expect("ADF is JSON");
    assert_eq!(v["type"], "doc");
    let (code, md, _) = run_stdin(&["convert", "adf-to-md"], &adf);
    assert_eq!(code, 0);
    assert_eq!(md.trim_end(), "Some `code` and **bold**");
}

#[test]
fn convert_to_wiki_and_back() {
    let (code, wiki, _) = run_stdin(&["convert", "md-to-wiki"], "# Title\n\n- one\n- two\n");
    assert_eq!(code, 0);
    assert!(wiki.starts_with("h1. Title"), "{wiki}");
    let (code, md, _) = run_stdin(&["convert", "wiki-to-md"], &wiki);
    assert_eq!(code, 0);
    assert_eq!(md.trim_end(), "# Title\n\n- one\n- two");
}

#[test]
fn a_bad_input_names_the_problem() {
    let (code, out, err) = run_stdin(&["convert", "adf-to-md"], "{\"type\": \"paragraph\"}");
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("not an ADF document"), "{err}");
    let (code, _, err) = run_stdin(&["convert", "adf-to-md"], "not json");
    assert_eq!(code, 1);
    assert!(err.contains("adf-to-md"), "{err}");
}

#[test]
fn the_demo_runs_every_story_and_succeeds() {
    let (code, out, err) = run_stdin(&["demo"], "");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("✓ held: create in Handoff → appears in Jira"),
        "{out}"
    );
    assert!(!out.contains('✗'), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("7/7 stories held"), "{last}");
    assert!(last.contains("conflicts raised: 1, resolved: 1"), "{last}");
    assert!(last.contains("errors: 0"), "{last}");
}
