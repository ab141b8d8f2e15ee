//! The world a benchmark runs in: the Jira simulator over HTTP on 127.0.0.1 (its requests
//! time-stamped), the in-memory host behind a wrapper that time-stamps writes, and the
//! runtime with its HTTP intake. Webhook deliveries are posted by the bench's own pump, which
//! time-stamps each one as it is sent.
//!
//! Every runtime of the bench is built by [`runtime`]: the one place that knows the shape of
//! `RuntimeParts` and `RuntimeConfig`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use handoff_adapter::{FieldSchema, Host, HostObserver, HostWrite, InMemoryHost, ObservedHost};
use jira_adapter::auth::{Credentials, Secret};
use jira_adapter::client::{JiraClient, JiraConfig};
use jira_adapter::fields::ApiFlavor;
use jira_sim::http::SharedSim;
use jira_sim::{SimConfig, SimJira};
use serde_json::{json, Map, Value as Json};
use server_bin::demo::demo_mapping;
use sync_domain::{Value, ValueKind};
use sync_engine::{
    Clock, JiraSite, ProjectConfig, Runtime, RuntimeConfig, RuntimeParts, SeqIds, SystemClock,
};
use sync_store::Store;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The host project of the bench.
pub const PROJECT: &str = "HANDOFF";
/// The Jira project of the bench.
pub const JIRA_PROJECT: &str = "SIM";
/// A person in Jira (one of the simulator's people).
pub const JIRA_PERSON: &str = "5b10a2844c20165700ede21g";
/// A person in Handoff.
pub const HANDOFF_PERSON: &str = "ana";
/// The webhook secret shared by the simulator, the runtime and the intake load generator.
pub const SECRET: &[u8] = b"bench-webhook-secret";

/// The name of the bench's one Jira site.
pub const SITE: &str = "default";

/// Builds a runtime. The only place that constructs one (adapting to a new constructor is
/// a change here only).
pub fn runtime(
    store: Store,
    jira: JiraClient,
    host: Arc<dyn Host>,
) -> anyhow::Result<Arc<Runtime>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids = Arc::new(SeqIds::for_process(clock.as_ref()));
    Ok(Runtime::new(
        RuntimeParts {
            store,
            sites: vec![JiraSite {
                name: SITE.into(),
                client: jira,
                webhook_secret: Some(SECRET.to_vec()),
            }],
            host,
            clock,
            ids,
        },
        RuntimeConfig {
            projects: vec![ProjectConfig {
                project_id: PROJECT.into(),
                site: SITE.into(),
                jira_project_key: JIRA_PROJECT.into(),
                issue_type: "Story".into(),
                mapping: demo_mapping(),
            }],
            owner: "bench".into(),
            lease_ms: 30_000,
            poll_overlap_ms: 120_000,
            max_jitter_ms: 100,
            inbox_concurrency: sync_engine::DEFAULT_INBOX_CONCURRENCY,
            telemetry: Some(server_bin::metrics::telemetry()),
        },
    )?)
}

/// Imports a Jira issue into a new host item.
pub async fn import(rt: &Runtime, issue_id: &str) -> anyhow::Result<String> {
    Ok(rt.import_issue(PROJECT, issue_id, HANDOFF_PERSON).await?)
}

/// Imports an issue found by `search` (the runtime's import search) from its search result.
pub async fn import_found(
    rt: &Runtime,
    search: &jira_adapter::client::SearchRequest,
    issue: &jira_adapter::client::JiraIssue,
) -> anyhow::Result<String> {
    Ok(rt
        .import_found(PROJECT, search, issue, HANDOFF_PERSON)
        .await?)
}

/// The Jira client of the runtime.
pub fn jira(rt: &Runtime) -> anyhow::Result<&JiraClient> {
    Ok(rt.jira(SITE)?)
}

fn host_schema() -> FieldSchema {
    [
        ("title", ValueKind::Text),
        ("description", ValueKind::RichText),
        ("acceptanceCriteria", ValueKind::RichText),
        ("size", ValueKind::Number),
        ("status", ValueKind::Option),
        ("labels", ValueKind::OptionSet),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Time stamps of what crossed the engine's edges.
#[derive(Default)]
pub struct Marks {
    /// Host writes: (work item id, when the engine called the host).
    pub host_writes: Mutex<Vec<(String, Instant)>>,
    /// Jira writes: (issue id, when the request reached the simulator).
    pub jira_writes: Mutex<Vec<(String, Instant)>>,
    /// Webhooks: (issue id, when the pump sent it).
    pub webhooks_sent: Mutex<Vec<(String, Instant)>>,
    /// Deliveries the intake did not take (non-2xx).
    pub webhooks_failed: AtomicU64,
}

impl Marks {
    /// Forgets everything recorded.
    pub fn clear(&self) {
        lock(&self.host_writes).clear();
        lock(&self.jira_writes).clear();
        lock(&self.webhooks_sent).clear();
    }
}

/// A poisoned lock is still used: a panicking bench task does not make the figures wrong.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Marks the time of each host write the engine makes (observing the host it writes to).
pub struct TimingHost {
    marks: Arc<Marks>,
}

impl HostObserver for TimingHost {
    fn before(&self, write: &HostWrite<'_>) {
        if let HostWrite::UpdateFields { item_id, .. } = write {
            lock(&self.marks.host_writes).push((item_id.to_string(), Instant::now()));
        }
    }
}

/// What to start.
#[derive(Clone, Copy, Debug)]
pub struct WorldOpts {
    /// Start the runtime's workers (inbox, dispatcher, host notifications).
    pub workers: bool,
    /// Start the webhook pump and register the runtime's intake as Jira's webhook.
    pub webhooks: bool,
}

/// The simulator, the host and the runtime, running.
pub struct World {
    /// The runtime.
    pub rt: Arc<Runtime>,
    /// The Jira simulator (people's edits in Jira).
    pub sim: SharedSim,
    /// The host (people's edits in Handoff).
    pub host: Arc<InMemoryHost>,
    /// Where the runtime's intake listens.
    pub intake_addr: SocketAddr,
    /// Time stamps.
    pub marks: Arc<Marks>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn mark_jira_writes(marks: Arc<Marks>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if method == axum::http::Method::PUT || method == axum::http::Method::POST {
        let path = req.uri().path();
        if let Some(rest) = path.strip_prefix("/rest/api/3/issue/") {
            let id = rest.split('/').next().unwrap_or("").to_string();
            let is_write = method == axum::http::Method::PUT
                || rest.ends_with("/transitions")
                || rest.ends_with("/comment");
            if is_write {
                lock(&marks.jira_writes).push((id, Instant::now()));
            }
        }
    }
    next.run(req).await
}

/// The issue id a delivery is about.
fn delivery_issue(body: &[u8]) -> Option<String> {
    let v: Json = serde_json::from_slice(body).ok()?;
    v.get("issue")?.get("id")?.as_str().map(str::to_string)
}

/// Posts due deliveries as soon as they are due (every millisecond), at most 16 at once,
/// time-stamping each as it is sent.
fn webhook_pump(sim: SharedSim, marks: Arc<Marks>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let gate = Arc::new(Semaphore::new(16));
        loop {
            let due = lock(&sim).drain_due();
            if due.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            for d in due {
                let Ok(permit) = gate.clone().acquire_owned().await else {
                    return;
                };
                let (http, marks, sim) = (http.clone(), marks.clone(), sim.clone());
                tokio::spawn(async move {
                    if let Some(issue) = delivery_issue(&d.body) {
                        lock(&marks.webhooks_sent).push((issue, Instant::now()));
                    }
                    let ok = jira_sim::http::post_delivery(&http, &d).await;
                    if !ok {
                        marks.webhooks_failed.fetch_add(1, Ordering::Relaxed);
                        lock(&sim).delivery_failed(d);
                    }
                    drop(permit);
                });
            }
        }
    })
}

/// A Jira client for the simulator at `addr`, paced far above a real site's limits.
pub fn jira_client(addr: SocketAddr) -> anyhow::Result<JiraClient> {
    let base = url::Url::parse(&format!("http://{addr}"))?;
    let mut cfg = JiraConfig::new(
        base,
        Credentials::CloudApiToken {
            email: "sync@example.com".into(),
            token: Secret::new("bench-token"),
        },
    );
    cfg.flavor = Some(ApiFlavor::CloudV3);
    cfg.rate_per_second = std::num::NonZeroU32::new(100_000).unwrap_or(std::num::NonZeroU32::MIN);
    cfg.burst = std::num::NonZeroU32::new(10_000).unwrap_or(std::num::NonZeroU32::MIN);
    cfg.marker.lookup_delay = Duration::from_millis(10);
    cfg.timeout = Duration::from_secs(30);
    Ok(JiraClient::new(cfg)?)
}

impl World {
    /// Starts the simulator, the host and a runtime on `store`.
    pub async fn start(store: Store, opts: WorldOpts) -> anyhow::Result<World> {
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let sim: SharedSim = Arc::new(Mutex::new(SimJira::new(
            SimConfig {
                seed: 7,
                webhook_secret: Some(SECRET.to_vec()),
                max_page_size: 100,
                ..SimConfig::default()
            },
            Arc::new(sync_engine::SystemClock),
        )));
        let marks = Arc::new(Marks::default());
        let listener = tokio::net::TcpListener::bind(loopback).await?;
        let jira_addr = listener.local_addr()?;
        let m = marks.clone();
        let app = jira_sim::http::router(sim.clone()).layer(axum::middleware::from_fn(
            move |req: Request, next: Next| mark_jira_writes(m.clone(), req, next),
        ));
        let sim_server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let host = Arc::new(
            InMemoryHost::new()
                .with_schema(host_schema())
                .with_engine_actor("jira-sync"),
        );
        let timing: Arc<dyn Host> = Arc::new(ObservedHost::new(
            host.clone(),
            Arc::new(TimingHost {
                marks: marks.clone(),
            }),
        ));
        let rt = runtime(store, jira_client(jira_addr)?, timing)?;
        let (intake_addr, intake) =
            server_bin::api::serve(rt.clone(), loopback, server_bin::api::ApiConfig::default())
                .await?;
        let mut tasks = vec![sim_server, intake];
        if opts.webhooks {
            lock(&sim)
                .register_webhooks(&json!({
                    "url": format!("http://{intake_addr}/api/webhooks/jira"),
                    "webhooks": [{
                        "events": ["jira:issue_created", "jira:issue_updated",
                                   "jira:issue_deleted", "comment_created", "comment_updated"],
                        "jqlFilter": format!("project = {JIRA_PROJECT}"),
                    }],
                }))
                .map_err(|e| anyhow::anyhow!("register webhooks: {e}"))?;
            tasks.push(webhook_pump(sim.clone(), marks.clone()));
        }
        if opts.workers {
            tasks.extend(rt.start_workers(Some(host.subscribe())));
        }
        Ok(World {
            rt,
            sim,
            host,
            intake_addr,
            marks,
            tasks,
        })
    }

    /// Creates `n` issues in Jira (in the simulator, as a person) and returns their ids.
    pub fn create_issues(&self, n: usize, tag: &str) -> anyhow::Result<Vec<String>> {
        let mut s = lock(&self.sim);
        (0..n)
            .map(|i| {
                let fields = obj(json!({
                    "project": {"key": JIRA_PROJECT},
                    "issuetype": {"name": "Story"},
                    "summary": format!("{tag} issue {i}"),
                    "labels": ["bench"],
                    "customfield_10016": 3,
                }));
                s.create_issue(&fields, &[], JIRA_PERSON)
                    .map(|(id, _)| id)
                    .map_err(|e| anyhow::anyhow!("create issue: {e}"))
            })
            .collect()
    }

    /// Links `issues` to new host items through the engine (8 imports at once) and waits
    /// until every item exists. Returns (issue id, work item id) pairs.
    pub async fn link_issues(&self, issues: &[String]) -> anyhow::Result<Vec<(String, String)>> {
        let gate = Arc::new(Semaphore::new(8));
        let mut tasks = Vec::new();
        for id in issues {
            let (rt, id, gate) = (self.rt.clone(), id.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                let _p = gate.acquire().await;
                let link = import(&rt, &id).await?;
                Ok::<(String, String), anyhow::Error>((id, link))
            }));
        }
        let mut links = Vec::new();
        for t in tasks {
            links.push(t.await??);
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut out = Vec::new();
        for (issue, link) in links {
            loop {
                let v = self.rt.store().link_view(&link).await?;
                if let Some(w) = v.and_then(|v| v.work_item_id) {
                    out.push((issue.clone(), w));
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "the linked items did not appear");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(out)
    }

    /// A person edits the issue's summary in Jira.
    pub fn jira_edit(&self, issue: &str, summary: &str) -> anyhow::Result<()> {
        lock(&self.sim)
            .edit_as_person(issue, &obj(json!({ "summary": summary })), JIRA_PERSON)
            .map_err(|e| anyhow::anyhow!("jira edit: {e}"))
    }

    /// A person edits fields of the item in Handoff.
    pub fn host_edit(&self, item: &str, fields: &[(&str, Value)]) -> anyhow::Result<()> {
        let f: BTreeMap<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        self.host
            .edit_as_person(item, &f, HANDOFF_PERSON)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("host edit: {e}"))
    }

    /// The issue's summary in Jira.
    pub fn jira_summary(&self, issue: &str) -> Option<String> {
        lock(&self.sim)
            .issue_fields(issue)
            .and_then(|f| f.get("summary"))
            .and_then(Json::as_str)
            .map(str::to_string)
    }

    /// The item's title in Handoff.
    pub fn host_titles(&self) -> BTreeMap<String, Value> {
        self.host
            .items(PROJECT)
            .into_iter()
            .map(|i| {
                let t = i.field("title");
                (i.id, t)
            })
            .collect()
    }

    /// Jira API calls the simulator answered so far.
    pub fn jira_calls(&self) -> u64 {
        lock(&self.sim).total_calls()
    }

    /// Calls per endpoint the simulator answered so far.
    pub fn jira_call_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.sim).call_counts().clone()
    }

    /// Waits until no delivery is queued or in flight and the runtime has nothing due,
    /// `quiet` checks in a row 20 ms apart; `false` after `limit`.
    pub async fn settle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut quiet = 0;
        while Instant::now() < deadline {
            let sim_idle = lock(&self.sim).pending_deliveries() == 0;
            let rt_idle = matches!(self.rt.is_idle().await, Ok(true));
            quiet = if sim_idle && rt_idle { quiet + 1 } else { 0 };
            if quiet >= 10 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// A JSON object from a `json!` literal.
pub fn obj(v: Json) -> Map<String, Json> {
    v.as_object().cloned().unwrap_or_default()
}
