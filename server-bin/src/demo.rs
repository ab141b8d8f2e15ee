//! `jira-sync demo`: the product spec's stories, end to end, on a real store, against the
//! Jira simulator over HTTP on 127.0.0.1 (the real `JiraClient` talks to it, and it posts its
//! webhooks to the runtime's HTTP intake) and an in-memory Handoff.
//!
//! Every story checks what both sides actually hold afterwards (read back through the
//! Jira REST API and the host trait), not what the engine believes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handoff_adapter::{Host, InMemoryHost};
use jira_adapter::auth::{Credentials, Secret};
use jira_adapter::client::{JiraClient, JiraConfig};
use jira_adapter::fields::ApiFlavor;
use jira_sim::http::{run_webhook_pump, serve as serve_sim, SharedSim};
use jira_sim::{SimConfig, SimJira};
use serde_json::json;
use sync_domain::link::{LinkEvent, LinkStatus, Resolution};
use sync_domain::mapping::{Direction, FieldMapping, Policy, ProjectMapping, Transform, ValueMap};
use sync_domain::{Value, ValueKind};
use sync_store::Store;
use tokio::task::JoinHandle;

use sync_engine::{
    Clock, Counters, Error as EngineError, JiraSite, ProjectConfig, Runtime, RuntimeConfig,
    RuntimeParts, SeqIds, SystemClock,
};

/// The Handoff project of the demo.
pub const PROJECT: &str = "HANDOFF";
/// A person in Jira (one of the simulator's people).
pub const JIRA_PERSON: &str = "5b10a2844c20165700ede21g";
/// A person in Handoff.
pub const HANDOFF_PERSON: &str = "ana";
const SECRET: &[u8] = b"demo-webhook-secret";
/// The demo's one Jira site.
const SITE: &str = "sim";

/// The "Password Reset" texts of docs/sync-model.md.
pub const HANDOFF_TEXT: &str =
    "Allow users to reset their password via email link. Link expires in 1hr.";
/// Jira's edit of the same description.
pub const JIRA_TEXT: &str =
    "Users can reset their password using a secure email link (24hr expiry).";
/// The reviewer's merge.
pub const MERGED_TEXT: &str =
    "Allow users to reset their password using a secure email link. Link expires in 24 hours.";

/// Why the demo could not run at all (a story that does not hold is not an error: it is
/// reported in [`DemoReport`]).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The runtime failed.
    #[error("{0}")]
    Runtime(#[from] EngineError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] sync_store::StoreError),
    /// A server could not start.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Something the demo set up was refused.
    #[error("{0}")]
    Setup(String),
}

/// The outcome of one story.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoryResult {
    /// The story.
    pub name: String,
    /// Whether every check on both sides held.
    pub held: bool,
    /// The checks that failed.
    pub failures: Vec<String>,
}

/// What the demo did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// Each story, in order.
    pub stories: Vec<StoryResult>,
    /// Work items linked and brought in sync with their Jira issue.
    pub items_synced: u64,
    /// Conflicts opened.
    pub conflicts_raised: u64,
    /// Conflicts resolved.
    pub conflicts_resolved: u64,
    /// HTTP calls the engine made to Jira.
    pub jira_calls: u64,
    /// Errors: failed dispatch attempts and deliveries that failed.
    pub errors: u64,
}

impl DemoReport {
    /// Whether every story held.
    pub fn all_held(&self) -> bool {
        !self.stories.is_empty() && self.stories.iter().all(|s| s.held)
    }

    /// The one summary line.
    pub fn summary_line(&self) -> String {
        let held = self.stories.iter().filter(|s| s.held).count();
        format!(
            "{held}/{} stories held · items synced: {} · conflicts raised: {}, resolved: {} · Jira API calls: {} · errors: {}",
            self.stories.len(),
            self.items_synced,
            self.conflicts_raised,
            self.conflicts_resolved,
            self.jira_calls,
            self.errors
        )
    }
}

/// The demo's project mapping: title ↔ summary, description ↔ description (rich text),
/// acceptance criteria → a custom field (push only), size ↔ story points, status ↔ status
/// (To Do → Done takes three transitions), labels with a union policy.
pub fn demo_mapping() -> ProjectMapping {
    let mut m = ProjectMapping::new(vec![
        FieldMapping::new("title", "summary", ValueKind::Text),
        FieldMapping::new("description", "description", ValueKind::RichText),
        FieldMapping::new(
            "acceptanceCriteria",
            "customfield_10020",
            ValueKind::RichText,
        )
        .direction(Direction::Push),
        FieldMapping::new("size", "customfield_10016", ValueKind::Number),
        FieldMapping::new("status", "status", ValueKind::Option).transform(Transform::StatusMap {
            map: ValueMap::from_pairs([
                ("todo", "To Do"),
                ("doing", "In Progress"),
                ("review", "In Review"),
                ("done", "Done"),
            ]),
        }),
        FieldMapping::new("labels", "labels", ValueKind::OptionSet).policy(Policy::Union),
    ]);
    m.handoff_statuses = ["todo", "doing", "review", "done"]
        .map(String::from)
        .to_vec();
    m
}

fn host_schema() -> handoff_adapter::FieldSchema {
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

/// The running demo world: the simulator over HTTP, the in-memory host, the runtime with
/// its HTTP intake and workers.
pub struct DemoWorld {
    /// The runtime.
    pub rt: Arc<Runtime>,
    /// The Jira simulator (for people's edits in Jira).
    pub sim: SharedSim,
    /// The host (for people's edits in Handoff).
    pub host: Arc<InMemoryHost>,
    /// Where the simulator listens.
    pub jira_addr: SocketAddr,
    /// Where the runtime's intake listens.
    pub intake_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DemoWorld {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock(sim: &SharedSim) -> std::sync::MutexGuard<'_, SimJira> {
    sim.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl DemoWorld {
    /// Starts everything on `store`.
    pub async fn start(store: Store) -> Result<DemoWorld, DemoError> {
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let sim: SharedSim = Arc::new(Mutex::new(SimJira::new(
            SimConfig {
                seed: 7,
                webhook_secret: Some(SECRET.to_vec()),
                ..SimConfig::default()
            },
            Arc::new(SystemClock),
        )));
        let (jira_addr, sim_server) = serve_sim(sim.clone(), loopback).await?;
        let base = url::Url::parse(&format!("http://{jira_addr}"))
            .map_err(|e| DemoError::Setup(e.to_string()))?;
        let mut cfg = JiraConfig::new(
            base,
            Credentials::CloudApiToken {
                email: "sync@example.com".into(),
                token: Secret::new("demo-token"),
            },
        );
        cfg.flavor = Some(ApiFlavor::CloudV3);
        // The simulator is local: pace calls far above a real site's limits.
        cfg.rate_per_second = std::num::NonZeroU32::new(500).unwrap_or(std::num::NonZeroU32::MIN);
        cfg.burst = std::num::NonZeroU32::new(200).unwrap_or(std::num::NonZeroU32::MIN);
        cfg.marker.lookup_delay = Duration::from_millis(50);
        cfg.timeout = Duration::from_secs(5);
        let jira = JiraClient::new(cfg).map_err(|e| DemoError::Setup(e.to_string()))?;
        let host = Arc::new(
            InMemoryHost::new()
                .with_schema(host_schema())
                .with_engine_actor("jira-sync"),
        );
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ids = Arc::new(SeqIds::for_process(clock.as_ref()));
        let rt = Runtime::new(
            RuntimeParts {
                store,
                sites: vec![JiraSite {
                    name: SITE.into(),
                    client: jira,
                    webhook_secret: Some(SECRET.to_vec()),
                }],
                host: host.clone(),
                clock,
                ids,
            },
            RuntimeConfig {
                projects: vec![ProjectConfig {
                    project_id: PROJECT.into(),
                    site: SITE.into(),
                    jira_project_key: "SIM".into(),
                    issue_type: "Story".into(),
                    mapping: demo_mapping(),
                }],
                owner: "demo".into(),
                lease_ms: 30_000,
                poll_overlap_ms: 120_000,
                max_jitter_ms: 100,
                inbox_concurrency: sync_engine::DEFAULT_INBOX_CONCURRENCY,
                telemetry: Some(crate::metrics::telemetry()),
            },
        )?;
        let (intake_addr, intake) =
            crate::api::serve(rt.clone(), loopback, crate::api::ApiConfig::default()).await?;
        lock(&sim)
            .register_webhooks(&json!({
                "url": format!("http://{intake_addr}/api/webhooks/jira"),
                "webhooks": [{
                    "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
                               "comment_created", "comment_updated", "comment_deleted"],
                    "jqlFilter": "project = SIM",
                }],
            }))
            .map_err(|e| DemoError::Setup(e.to_string()))?;
        let pump = run_webhook_pump(
            sim.clone(),
            reqwest::Client::new(),
            Duration::from_millis(10),
        );
        let mut tasks = vec![sim_server, intake, pump];
        tasks.extend(rt.start_workers(Some(host.subscribe())));
        Ok(DemoWorld {
            rt,
            sim,
            host,
            jira_addr,
            intake_addr,
            tasks,
        })
    }

    /// Waits until the simulator has no delivery queued and the runtime has nothing to do,
    /// several checks in a row (a delivery may be on the wire between two checks). Bounded:
    /// `false` when that does not happen within 15 seconds.
    pub async fn settle(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut quiet = 0;
        while Instant::now() < deadline {
            let sim_idle = lock(&self.sim).pending_deliveries() == 0;
            let rt_idle = matches!(self.rt.is_idle().await, Ok(true));
            quiet = if sim_idle && rt_idle { quiet + 1 } else { 0 };
            if quiet >= 4 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    /// Waits (bounded, 15 seconds) until `cond` holds.
    async fn wait_for<F, Fut>(&self, mut cond: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if cond().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The Jira issue's mapped fields as canonical values, read over REST.
    pub async fn jira_values(
        &self,
        issue_id: &str,
        work_item_id: &str,
    ) -> Result<BTreeMap<String, Value>, EngineError> {
        Ok(self
            .rt
            .read_issue(PROJECT, issue_id, Some(work_item_id))
            .await?
            .1
            .values)
    }
}

/// Collects the checks of one story.
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    fn new() -> Checks {
        Checks {
            failures: Vec::new(),
        }
    }

    fn eq(&mut self, what: &str, got: &Value, want: &Value) {
        if got != want {
            self.failures
                .push(format!("{what}: expected {want:?}, found {got:?}"));
        }
    }

    fn that(&mut self, what: &str, ok: bool) {
        if !ok {
            self.failures.push(what.to_string());
        }
    }
}

/// A value as a person reads it: `"text"`, `5`, `{auth, security}`.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "(empty)".into(),
        Value::Text(s) | Value::RichText(s) => format!("{s:?}"),
        Value::Number(n) => n.as_str().to_string(),
        Value::Option(s) => s.clone(),
        Value::OptionSet(set) => {
            format!("{{{}}}", set.iter().cloned().collect::<Vec<_>>().join(", "))
        }
        other => format!("{other:?}"),
    }
}

fn get(m: &BTreeMap<String, Value>, k: &str) -> Value {
    m.get(k).cloned().unwrap_or(Value::Null)
}

fn vals(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn num(x: f64) -> Value {
    Value::number(x).unwrap_or(Value::Null)
}

/// Runs the stories, reporting each line of the timeline to `say`.
pub async fn run_stories(
    world: &DemoWorld,
    say: &mut dyn FnMut(&str),
) -> Result<DemoReport, DemoError> {
    let t0 = Instant::now();
    let mut line = |s: &str| say(&format!("[{:>6.2}s] {s}", t0.elapsed().as_secs_f64()));
    let rt = &world.rt;
    let host = &world.host;
    let mut report = DemoReport::default();
    let mut story = |name: &str, checks: Checks, line: &mut dyn FnMut(&str)| {
        let held = checks.failures.is_empty();
        for f in &checks.failures {
            line(&format!("   ✗ {f}"));
        }
        line(&format!(
            "{} {name}",
            if held { "✓ held:" } else { "✗ FAILED:" }
        ));
        report.stories.push(StoryResult {
            name: name.to_string(),
            held,
            failures: checks.failures,
        });
    };

    // 1. Create in Handoff → appears in Jira.
    line("Story 1 — create in Handoff → appears in Jira");
    let item = host
        .create_as_person(
            PROJECT,
            &vals(&[
                ("title", Value::text("Password Reset")),
                ("description", Value::rich_text("D")),
                (
                    "acceptanceCriteria",
                    Value::rich_text("- the link expires\n- the old password stops working"),
                ),
                ("size", num(3.0)),
                ("status", Value::option("todo")),
                ("labels", Value::option_set(["auth"])),
            ]),
            HANDOFF_PERSON,
        )
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let wi = item.id.clone();
    line(&format!(
        "  Handoff  {HANDOFF_PERSON} creates {wi} \"Password Reset\" (todo, size 3, labels auth) and pushes it to Jira"
    ));
    let link_id = rt.push_item(&wi, HANDOFF_PERSON).await?;
    let mut c = Checks::new();
    c.that("the runtime settles", world.settle().await);
    let view = rt.store().link_view(&link_id).await?;
    let issue_id = view.as_ref().and_then(|v| v.issue_id.clone());
    let key = view
        .as_ref()
        .and_then(|v| v.issue_key.clone())
        .unwrap_or_default();
    let Some(issue_id) = issue_id else {
        c.that("the link has a Jira issue", false);
        story("create in Handoff → appears in Jira", c, &mut line);
        return finish(world, report).await;
    };
    let j = world.jira_values(&issue_id, &wi).await?;
    line(&format!(
        "  Jira     {key}: summary {}, status {}, story points {}, labels {}",
        show(&get(&j, "summary")),
        show(&get(&j, "status")),
        show(&get(&j, "customfield_10016")),
        show(&get(&j, "labels"))
    ));
    c.eq(
        "Jira summary",
        &get(&j, "summary"),
        &Value::text("Password Reset"),
    );
    c.eq(
        "Jira description",
        &get(&j, "description"),
        &Value::rich_text("D"),
    );
    c.eq(
        "Jira acceptance criteria (push only)",
        &get(&j, "customfield_10020"),
        &Value::rich_text("- the link expires\n- the old password stops working"),
    );
    c.eq(
        "Jira story points",
        &get(&j, "customfield_10016"),
        &num(3.0),
    );
    c.eq("Jira status", &get(&j, "status"), &Value::option("To Do"));
    c.eq(
        "Jira labels",
        &get(&j, "labels"),
        &Value::option_set(["auth"]),
    );
    c.that(
        "link status synced",
        rt.store().link_view(&link_id).await?.map(|v| v.status) == Some(LinkStatus::Synced),
    );
    story("create in Handoff → appears in Jira", c, &mut line);

    // 2. Edit in Jira → appears in Handoff.
    line("Story 2 — edit in Jira → appears in Handoff");
    lock(&world.sim)
        .edit_as_person(
            &issue_id,
            &obj(json!({"summary": "Password reset by email", "customfield_10016": 5, "labels": ["auth", "security"]})),
            JIRA_PERSON,
        )
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    line(&format!(
        "  Jira     Mia edits {key}: summary \"Password reset by email\", 5 points, adds label security"
    ));
    let mut c = Checks::new();
    c.that("the runtime settles", world.settle().await);
    let h = host.get_item(&wi).await.map_err(EngineError::from)?;
    let hf = h.map(|i| i.fields).unwrap_or_default();
    line(&format!(
        "  Handoff  {wi}: title {}, size {}, labels {}",
        show(&get(&hf, "title")),
        show(&get(&hf, "size")),
        show(&get(&hf, "labels"))
    ));
    c.eq(
        "Handoff title",
        &get(&hf, "title"),
        &Value::text("Password reset by email"),
    );
    c.eq("Handoff size", &get(&hf, "size"), &num(5.0));
    c.eq(
        "Handoff labels",
        &get(&hf, "labels"),
        &Value::option_set(["auth", "security"]),
    );
    let history = rt.store().history(&link_id).await?;
    c.that(
        "the history shows Jira as the source of the change",
        history.iter().any(|r| {
            r.metadata.source == sync_store::Source::Jira
                && matches!(&r.event, LinkEvent::FieldChanged { field, .. } if field == "title")
        }),
    );
    story("edit in Jira → appears in Handoff", c, &mut line);

    // 3. Edit both → conflict queued.
    line("Story 3 — edit both sides → conflict queued");
    rt.set_dispatch_paused(true);
    host.edit_as_person(
        &wi,
        &vals(&[("description", Value::rich_text(HANDOFF_TEXT))]),
        HANDOFF_PERSON,
    )
    .map_err(|e| DemoError::Setup(e.to_string()))?;
    line(&format!(
        "  Handoff  {HANDOFF_PERSON} edits the description: \"{HANDOFF_TEXT}\""
    ));
    let queued = world
        .wait_for(|| async {
            matches!(rt.store().link_view(&link_id).await, Ok(Some(v)) if v.status == LinkStatus::PendingPush)
        })
        .await;
    line("  engine   the write to Jira is queued (the demo holds the dispatcher, as if Jira were slow)");
    lock(&world.sim)
        .edit_as_person(
            &issue_id,
            &obj(json!({"description": JIRA_TEXT})),
            JIRA_PERSON,
        )
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    line(&format!(
        "  Jira     Mia edits the description: \"{JIRA_TEXT}\""
    ));
    let mut c = Checks::new();
    c.that("Handoff's edit was observed before Jira's", queued);
    let opened = world
        .wait_for(|| async {
            matches!(rt.store().conflicts(PROJECT).await, Ok(v) if !v.is_empty())
        })
        .await;
    rt.set_dispatch_paused(false);
    c.that("a conflict is opened", opened);
    c.that("the runtime settles", world.settle().await);
    let conflicts = rt.store().conflicts(PROJECT).await?;
    c.that("exactly one conflict is queued", conflicts.len() == 1);
    let conflict = conflicts.first().map(|v| v.conflict.clone());
    if let Some(cf) = &conflict {
        line(&format!(
            "  engine   conflict on {}: Handoff {} vs Jira {} (base {})",
            cf.field,
            show(&cf.handoff),
            show(&cf.jira),
            show(&cf.base)
        ));
        c.that(
            "the conflict is on the description",
            cf.field == "description",
        );
        c.eq(
            "conflict's Handoff value",
            &cf.handoff,
            &Value::rich_text(HANDOFF_TEXT),
        );
        c.eq(
            "conflict's Jira value",
            &cf.jira,
            &Value::rich_text(JIRA_TEXT),
        );
    }
    let hf = host
        .get_item(&wi)
        .await
        .map_err(EngineError::from)?
        .map(|i| i.fields)
        .unwrap_or_default();
    let j = world.jira_values(&issue_id, &wi).await?;
    c.eq(
        "Handoff keeps its text",
        &get(&hf, "description"),
        &Value::rich_text(HANDOFF_TEXT),
    );
    c.eq(
        "Jira keeps its text",
        &get(&j, "description"),
        &Value::rich_text(JIRA_TEXT),
    );
    c.that(
        "link status conflict",
        rt.store().link_view(&link_id).await?.map(|v| v.status) == Some(LinkStatus::Conflict),
    );
    story("edit both → conflict queued", c, &mut line);

    // 4. Resolve by merge → both sides equal.
    line("Story 4 — resolve by merge → both sides equal");
    let mut c = Checks::new();
    match conflict {
        Some(cf) => {
            rt.resolve_conflict(
                &link_id,
                &cf.id,
                Resolution::Merge(Value::rich_text(MERGED_TEXT)),
                HANDOFF_PERSON,
            )
            .await?;
            line(&format!(
                "  person   {HANDOFF_PERSON} merges: \"{MERGED_TEXT}\""
            ));
            c.that("the runtime settles", world.settle().await);
            let hf = host
                .get_item(&wi)
                .await
                .map_err(EngineError::from)?
                .map(|i| i.fields)
                .unwrap_or_default();
            let j = world.jira_values(&issue_id, &wi).await?;
            line(&format!(
                "  both     Handoff {} · Jira {}",
                show(&get(&hf, "description")),
                show(&get(&j, "description"))
            ));
            c.eq(
                "Handoff description",
                &get(&hf, "description"),
                &Value::rich_text(MERGED_TEXT),
            );
            c.eq(
                "Jira description",
                &get(&j, "description"),
                &Value::rich_text(MERGED_TEXT),
            );
            c.that(
                "no conflict is left",
                rt.store().conflicts(PROJECT).await?.is_empty(),
            );
            c.that(
                "link status synced",
                rt.store().link_view(&link_id).await?.map(|v| v.status) == Some(LinkStatus::Synced),
            );
        }
        None => c.that("a conflict to resolve", false),
    }
    story("resolve by merge → both sides equal", c, &mut line);

    // 5. Status across a multi-hop workflow.
    line("Story 5 — status change across a multi-hop workflow");
    let before = lock(&world.sim)
        .issue_history(&issue_id)
        .map(|h| h.len())
        .unwrap_or(0);
    host.edit_as_person(
        &wi,
        &vals(&[("status", Value::option("done"))]),
        HANDOFF_PERSON,
    )
    .map_err(|e| DemoError::Setup(e.to_string()))?;
    line(&format!(
        "  Handoff  {HANDOFF_PERSON} moves {wi} from todo to done"
    ));
    let mut c = Checks::new();
    c.that("the runtime settles", world.settle().await);
    let after = lock(&world.sim)
        .issue_history(&issue_id)
        .map(|h| h.len())
        .unwrap_or(0);
    let j = world.jira_values(&issue_id, &wi).await?;
    let resolution = lock(&world.sim).issue_fields(&issue_id).and_then(|f| {
        f.get("resolution")
            .and_then(|r| r.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string)
    });
    line(&format!(
        "  Jira     {key} is {} after {} transitions (resolution {})",
        show(&get(&j, "status")),
        after.saturating_sub(before),
        resolution.as_deref().unwrap_or("none")
    ));
    c.eq("Jira status", &get(&j, "status"), &Value::option("Done"));
    c.that(
        "To Do → Done took several transitions",
        after.saturating_sub(before) >= 3,
    );
    c.that("the Done screen got a resolution", resolution.is_some());
    let hf = host
        .get_item(&wi)
        .await
        .map_err(EngineError::from)?
        .map(|i| i.fields)
        .unwrap_or_default();
    c.eq(
        "Handoff status",
        &get(&hf, "status"),
        &Value::option("done"),
    );
    c.that(
        "link status synced",
        rt.store().link_view(&link_id).await?.map(|v| v.status) == Some(LinkStatus::Synced),
    );
    story("status change across a multi-hop workflow", c, &mut line);

    // 6. A comment each way.
    line("Story 6 — a comment each way");
    host.add_comment_as_person(&wi, "Reviewed the reset flow.", HANDOFF_PERSON)
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    lock(&world.sim)
        .comment_as_person(&issue_id, "QA passed on staging.", JIRA_PERSON)
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    line(&format!(
        "  Handoff  {HANDOFF_PERSON} comments \"Reviewed the reset flow.\""
    ));
    line("  Jira     Mia comments \"QA passed on staging.\"");
    let mut c = Checks::new();
    c.that("the runtime settles", world.settle().await);
    let jira_comments = rt
        .jira(SITE)?
        .comments(&issue_id)
        .await
        .map_err(EngineError::from)?;
    let host_comments = host.list_comments(&wi).await.map_err(EngineError::from)?;
    let mirrored_in_jira: Vec<_> = jira_comments
        .iter()
        .filter(|c| c.body_markdown.contains("Reviewed the reset flow."))
        .collect();
    let mirrored_in_host: Vec<_> = host_comments
        .iter()
        .filter(|c| c.body.contains("QA passed on staging.") && c.origin.is_some())
        .collect();
    if let Some(m) = mirrored_in_jira.first() {
        line(&format!(
            "  Jira     mirror: {:?}",
            m.body_markdown.replace('\n', " ⏎ ")
        ));
    }
    if let Some(m) = mirrored_in_host.first() {
        line(&format!(
            "  Handoff  mirror by {:?}: {:?}",
            m.author, m.body
        ));
    }
    c.that(
        "Handoff's comment is in Jira once",
        mirrored_in_jira.len() == 1,
    );
    c.that(
        "Jira's mirror names its author",
        mirrored_in_jira
            .iter()
            .all(|c| c.body_markdown.contains(HANDOFF_PERSON)),
    );
    c.that(
        "Jira's comment is in Handoff once",
        mirrored_in_host.len() == 1,
    );
    c.that(
        "no comment was copied back (two comments on each side)",
        jira_comments.len() == 2 && host_comments.len() == 2,
    );
    story("a comment each way", c, &mut line);

    // 7. Jira issue deleted → link unlinked, item kept.
    line("Story 7 — Jira issue deleted → link unlinked, item kept");
    lock(&world.sim)
        .delete_issue(&issue_id, JIRA_PERSON)
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    line(&format!("  Jira     Mia deletes {key}"));
    let mut c = Checks::new();
    c.that("the runtime settles", world.settle().await);
    let status = rt.store().link_view(&link_id).await?.map(|v| v.status);
    let kept = host.get_item(&wi).await.map_err(EngineError::from)?;
    line(&format!(
        "  engine   link {}; Handoff item {wi} {}",
        status.map_or("missing", LinkStatus::as_str),
        if kept.is_some() { "kept" } else { "GONE" }
    ));
    c.that("link status unlinked", status == Some(LinkStatus::Unlinked));
    c.that(
        "the work item is kept with its values",
        kept.is_some_and(|i| i.field("title") == Value::text("Password reset by email")),
    );
    story(
        "Jira issue deleted → link unlinked, item kept",
        c,
        &mut line,
    );

    finish(world, report).await
}

async fn finish(world: &DemoWorld, mut report: DemoReport) -> Result<DemoReport, DemoError> {
    let rt = &world.rt;
    let dump = rt.store().dump_projections().await?;
    for link in &dump.links {
        let history = rt.store().history(&link.link_id).await?;
        let mut synced = false;
        for r in &history {
            match &r.event {
                LinkEvent::ConflictOpened { .. } => report.conflicts_raised += 1,
                LinkEvent::ConflictResolved { .. } => report.conflicts_resolved += 1,
                LinkEvent::IntentSucceeded { .. } => synced = true,
                _ => {}
            }
        }
        report.items_synced += u64::from(synced);
    }
    report.jira_calls = rt.jira_calls();
    report.errors =
        Counters::get(&rt.counters.errors) + Counters::get(&rt.counters.dispatch_failed);
    Ok(report)
}

/// Runs the whole demo on a store at `store_url`, reporting the timeline to `say`.
pub async fn run(store_url: &str, say: &mut dyn FnMut(&str)) -> Result<DemoReport, DemoError> {
    let store = Store::open(store_url).await?;
    let world = DemoWorld::start(store).await?;
    say(&format!(
        "jira-sync demo: Jira simulator on http://{}, webhook intake on http://{}/api/webhooks/jira, store {store_url}",
        world.jira_addr, world.intake_addr
    ));
    run_stories(&world, say).await
}
