//! The crash test: `jira-sync serve` is killed (SIGKILL, no shutdown) while it is writing to
//! Jira, and started again on the same store. Nothing may be lost and nothing done twice.
//!
//! The world lives in this test process, outside the server's: the Jira simulator over HTTP,
//! and a host following docs/handoff-api.md (the reference server over an in-memory host)
//! whose change notifications are posted, signed, to the server, retried until it answers,
//! as a real host would. Jira answers creates and comments only after a delay, so the kill
//! lands while a write has been made in Jira and its answer is still on the way: the server
//! never learnt of it, and after the restart its expired lease hands the write out again.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use handoff_adapter::{encode_notification, signature_header, InMemoryHost, SIGNATURE_HEADER};
use jira_sim::http::{router as sim_router, SharedSim};
use jira_sim::{SimConfig, SimJira};
use serde_json::{json, Value as Json};
use sync_domain::{Value, ValueKind};
use sync_engine::SystemClock;
use sync_store::Store;

const PROJECT: &str = "P";
const ITEMS: usize = 10;
const ADMIN_TOKEN: &str = "restart-test-admin-token";
const HOST_TOKEN: &str = "restart-test-host-token";
const HOST_SECRET: &str = "restart-test-notification-secret";
/// How long Jira holds back its answer to a create or a new comment (made already).
const SLOW_ANSWER: Duration = Duration::from_millis(700);
const PERSON: &str = "ana";

/// The world outside the server.
struct World {
    dir: tempfile::TempDir,
    sim: SharedSim,
    host: Arc<InMemoryHost>,
    api: SocketAddr,
    config: PathBuf,
}

fn sim_lock(sim: &SharedSim) -> std::sync::MutexGuard<'_, SimJira> {
    sim.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn free_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("addr")
}

/// Jira's answers to creates and new comments come late (the write is made first).
async fn slow_writes(req: Request, next: Next) -> axum::response::Response {
    let slow = req.method() == axum::http::Method::POST
        && (req.uri().path().ends_with("/issue") || req.uri().path().ends_with("/comment"));
    let resp = next.run(req).await;
    if slow {
        tokio::time::sleep(SLOW_ANSWER).await;
    }
    resp
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let sim: SharedSim = Arc::new(Mutex::new(SimJira::new(
            SimConfig {
                seed: 11,
                ..SimConfig::default()
            },
            Arc::new(SystemClock),
        )));
        let jira =
            serve(sim_router(sim.clone()).layer(axum::middleware::from_fn(slow_writes))).await;
        let schema: handoff_adapter::FieldSchema = [("title".to_string(), ValueKind::Text)]
            .into_iter()
            .collect();
        let host = Arc::new(
            InMemoryHost::new()
                .with_schema(schema.clone())
                .with_engine_actor("jira-sync"),
        );
        let host_addr = serve(axum::Router::new().nest(
            "/api/v1",
            handoff_adapter::server::router(host.clone(), schema, HOST_TOKEN),
        ))
        .await;
        let api = free_port().await;
        let config = dir.path().join("jira-sync.toml");
        let store = format!("sqlite://{}", dir.path().join("sync.db").display());
        std::fs::write(
            &config,
            format!(
                r#"
listen = "{api}"
store = "{store}"
instance = "restart-test"

[log]
filter = "info"

[[api.tokens]]
name = "test"
role = "admin"
token_env = "RESTART_ADMIN_TOKEN"

[sync]
lease = "2s"
shutdown_grace = "5s"

[sites.sim]
url = "http://{jira}"
auth = "none"
flavor = "cloud"
rate_per_second = 200
burst = 100

[host]
kind = "http"
url = "http://{host_addr}/api/v1"
token_env = "RESTART_HOST_TOKEN"
notification_secret_env = "RESTART_HOST_SECRET"
poll_interval = "1s"

[[projects]]
id = "{PROJECT}"
site = "sim"
jira_project_key = "SIM"
issue_type = "Story"
poll_interval = "1s"
reconcile_interval = "1h"

[[projects.fields]]
handoff = "title"
jira = "summary"
kind = "text"
"#
            ),
        )
        .expect("config");
        let world = World {
            dir,
            sim,
            host,
            api,
            config,
        };
        world.forward_notifications();
        world
    }

    /// Posts the host's notifications to the server, signed, each until it is answered
    /// (while the server is down they wait), in order.
    fn forward_notifications(&self) {
        let mut rx = self.host.subscribe();
        let url = format!("http://{}/api/webhooks/handoff", self.api);
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Ok(n) = rx.recv().await {
                let body = encode_notification(&n);
                let sig = signature_header(HOST_SECRET.as_bytes(), &body).expect("signature");
                loop {
                    let sent = client
                        .post(&url)
                        .header(SIGNATURE_HEADER, &sig)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await;
                    if matches!(&sent, Ok(r) if r.status().is_success()) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
    }

    /// Starts `jira-sync serve` on the world's config and waits until it answers.
    async fn start_server(&self, name: &str) -> Server {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_jira-sync"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env_remove("JIRA_SYNC_CONFIG")
            .env("RESTART_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RESTART_HOST_TOKEN", HOST_TOKEN)
            .env("RESTART_HOST_SECRET", HOST_SECRET)
            .env("JIRA_SYNC_LOG", "info")
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("the server starts");
        let server = Server {
            child,
            log,
            base: format!("http://{}", self.api),
            client: reqwest::Client::new(),
        };
        let healthy = wait_until(Duration::from_secs(30), || async {
            matches!(
                server.client.get(format!("{}/healthz", server.base)).send().await,
                Ok(r) if r.status().is_success()
            )
        })
        .await;
        assert!(
            healthy,
            "the server never answered /healthz:\n{}",
            server.log_text()
        );
        server
    }

    /// Issues in Jira made by the engine for each work item (by the create marker label).
    fn issues_by_item(&self) -> BTreeMap<String, Vec<String>> {
        let sim = sim_lock(&self.sim);
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in sim.issue_ids() {
            let labels = sim
                .issue_fields(&id)
                .and_then(|f| f.get("labels"))
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            for l in labels {
                if let Some(item) = l.as_str().and_then(|l| l.strip_prefix("handoff-")) {
                    out.entry(item.to_string()).or_default().push(id.clone());
                }
            }
        }
        out
    }

    /// How many comments of `issue` mirror the host comment `comment_id`.
    fn mirrors_of(&self, issue: &str, comment_id: &str) -> usize {
        let sim = sim_lock(&self.sim);
        let page = sim.comments(issue, 0, 1000).expect("comments");
        let needle = format!("Synced from Handoff, comment {comment_id}");
        page["comments"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter(|c| c.to_string().contains(&needle))
                    .count()
            })
            .unwrap_or(0)
    }

    fn summary(&self, issue: &str) -> Option<String> {
        sim_lock(&self.sim)
            .issue_fields(issue)
            .and_then(|f| f.get("summary"))
            .and_then(Json::as_str)
            .map(str::to_string)
    }
}

struct Server {
    child: Child,
    log: PathBuf,
    base: String,
    client: reqwest::Client,
}

impl Server {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, nothing flushed, leases left behind.
    fn kill(mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit status of the graceful shutdown.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn post(&self, path: &str, body: Json) -> (u16, Json) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Json::Null))
    }

    async fn sync_status(&self, item: &str) -> Json {
        let r = self
            .client
            .get(format!("{}/api/workitems/{item}/sync-status", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request");
        r.json().await.unwrap_or(Json::Null)
    }
}

async fn wait_until<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn title(t: &str) -> BTreeMap<String, Value> {
    [("title".to_string(), Value::text(t))]
        .into_iter()
        .collect()
}

/// The links of the store the server left, read while no server runs.
async fn store_links(dir: &Path) -> Vec<sync_store::LinkView> {
    let store = Store::open(&format!("sqlite://{}", dir.join("sync.db").display()))
        .await
        .expect("store");
    let mut links = Vec::new();
    for status in [
        sync_domain::link::LinkStatus::Synced,
        sync_domain::link::LinkStatus::PendingPush,
        sync_domain::link::LinkStatus::PendingPull,
        sync_domain::link::LinkStatus::Conflict,
        sync_domain::link::LinkStatus::Error,
    ] {
        links.extend(
            store
                .links_with_status(PROJECT, status)
                .await
                .expect("links"),
        );
    }
    store.close().await;
    links
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_dispatch_and_restarted_nothing_lost_nothing_twice() {
    let world = World::start().await;
    let items: Vec<String> = (0..ITEMS)
        .map(|i| {
            world
                .host
                .create_as_person(PROJECT, &title(&format!("Item {i}")), PERSON)
                .expect("item")
                .id
        })
        .collect();

    // 1. Push every item; kill the server while Jira is answering creates.
    let server = world.start_server("first").await;
    for item in &items {
        let (status, body) = server
            .post("/api/links", json!({"action": "push", "workItemId": item}))
            .await;
        assert_eq!(status, 201, "push {item}: {body}");
    }
    let some_created = wait_until(Duration::from_secs(30), || async {
        world.issues_by_item().len() >= 3
    })
    .await;
    assert!(some_created, "no issue was created:\n{}", server.log_text());
    server.kill();
    // The kill came while a create was made and not yet answered: a link still waits for
    // its create although Jira has the issue.
    let created = world.issues_by_item();
    let links = store_links(world.dir.path()).await;
    let unanswered: Vec<&String> = links
        .iter()
        .filter(|l| l.issue_id.is_none())
        .filter_map(|l| l.work_item_id.as_ref())
        .filter(|w| created.contains_key(*w))
        .collect();
    assert!(
        !unanswered.is_empty(),
        "the kill did not land mid-create: created {created:?}, links {links:?}"
    );

    // 2. Start again on the same store: every item gets exactly one issue.
    let server = world.start_server("second").await;
    let all_synced = wait_until(Duration::from_secs(60), || async {
        let mut ok = true;
        for item in &items {
            ok &= server.sync_status(item).await["status"] == "synced";
        }
        ok
    })
    .await;
    assert!(
        all_synced,
        "not every link is synced:\n{}",
        server.log_text()
    );
    let created = world.issues_by_item();
    assert_eq!(created.len(), ITEMS, "an item has no issue: {created:?}");
    for (item, issues) in &created {
        assert_eq!(
            issues.len(),
            1,
            "item {item} has several issues: {issues:?}"
        );
    }
    let mut issue_of = BTreeMap::new();
    for item in &items {
        let s = server.sync_status(item).await;
        let issue = s["jiraIssueId"].as_str().expect("issue id").to_string();
        assert_eq!(
            created[item],
            vec![issue.clone()],
            "the link names another issue"
        );
        issue_of.insert(item.clone(), issue);
    }

    // 3. A comment and a new title on every item; kill the server while Jira is answering
    //    the mirrored comments.
    let mut comment_of = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let c = world
            .host
            .add_comment_as_person(item, &format!("Note {i}"), PERSON)
            .expect("comment");
        comment_of.insert(item.clone(), c.id);
        world
            .host
            .edit_as_person(item, &title(&format!("Item {i}, renamed")), PERSON)
            .expect("edit");
    }
    let some_mirrored = wait_until(Duration::from_secs(30), || async {
        items
            .iter()
            .filter(|i| world.mirrors_of(&issue_of[*i], &comment_of[*i]) > 0)
            .count()
            >= 3
    })
    .await;
    assert!(
        some_mirrored,
        "no comment was mirrored:\n{}",
        server.log_text()
    );
    server.kill();

    // 4. Start again: every comment is in Jira once, every title is there, all synced.
    let server = world.start_server("third").await;
    let settled = wait_until(Duration::from_secs(60), || async {
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            ok &= world.mirrors_of(&issue_of[item], &comment_of[item]) >= 1;
            ok &= world.summary(&issue_of[item]).as_deref()
                == Some(format!("Item {i}, renamed").as_str());
            ok &= server.sync_status(item).await["status"] == "synced";
        }
        ok
    })
    .await;
    assert!(
        settled,
        "the third server did not settle:\n{}",
        server.log_text()
    );
    let twice: BTreeSet<&String> = items
        .iter()
        .filter(|i| world.mirrors_of(&issue_of[*i], &comment_of[*i]) != 1)
        .collect();
    assert!(
        twice.is_empty(),
        "comments mirrored more than once: {twice:?}"
    );
    assert_eq!(world.issues_by_item().len(), ITEMS);
    assert_eq!(
        sim_lock(&world.sim).issue_ids().len(),
        ITEMS,
        "an issue without a marker"
    );

    // 5. A graceful stop exits 0.
    let status = server.terminate();
    assert!(status.success(), "serve exited with {status}");
}
