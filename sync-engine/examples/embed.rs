//! Embedding jira-sync in your own Rust service.
//!
//! Run it: `cargo run -p sync-engine --example embed`. It needs no Jira account: a Jira
//! simulator stands in for your site on 127.0.0.1. It exits 0 once an item of "your product"
//! has reached Jira and an edit made in Jira has come back, and 1 otherwise.
//!
//! What your service provides:
//! 1. a [`Host`]: how the engine reads and writes your work items (here an in-memory host
//!    standing in for your database, observed so that every write of the engine is printed),
//! 2. a [`Store`] (SQLite file or PostgreSQL URL), the Jira client(s) and a field mapping,
//! 3. its own HTTP endpoints (or none), which hand webhook deliveries to the engine and show
//!    what the engine's operations return: the engine knows no HTTP framework.
//!
//! The engine then runs inside your process: `start_workers` (webhook inbox, dispatcher, your
//! notifications) and `start_schedulers` (Jira poll, reconciliation).

#![allow(
    clippy::print_stdout,
    reason = "an example tells what it does on stdout"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handoff_adapter::{Host, HostObserver, HostWrite, InMemoryHost, ObservedHost};
use jira_adapter::auth::Credentials;
use jira_adapter::client::{JiraClient, JiraConfig};
use jira_adapter::fields::ApiFlavor;
use jira_sim::http::{serve as serve_simulator, SharedSim};
use jira_sim::{SimConfig, SimJira};
use sync_domain::mapping::{FieldMapping, ProjectMapping};
use sync_domain::{Value, ValueKind};
use sync_engine::{
    Clock, JiraSite, ProjectConfig, Runtime, RuntimeConfig, RuntimeParts, Schedule, SeqIds,
    SystemClock,
};
use sync_store::Store;

/// Your product, as the engine sees it, is a [`Host`]: each method has a promise to keep
/// (docs/handoff-api.md): updates are conditional on `expected_version` (never overwrite a
/// person's edit), creates of items and comments are idempotent by their marker, and the
/// change feed never skips. Here the in-memory host stands in for your database, and an
/// [`ObservedHost`] tells this observer of every write the engine makes to your product.
struct WriteLog;

impl HostObserver for WriteLog {
    fn after(&self, write: &HostWrite<'_>, ok: bool) {
        if let HostWrite::UpdateFields { item_id, fields } = write {
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            println!(
                "the engine wrote {} of {item_id} ({})",
                names.join(", "),
                if ok { "ok" } else { "failed" }
            );
        }
    }
}

const PROJECT: &str = "ROADMAP";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Stand-in for your Jira site: the simulator on a loopback port.
    let sim: SharedSim = Arc::new(Mutex::new(SimJira::new(
        SimConfig::default(),
        Arc::new(sync_engine::SystemClock),
    )));
    let (jira_addr, _simulator) = serve_simulator(sim.clone(), ([127, 0, 0, 1], 0).into()).await?;

    // 1. Your product's items, behind the Host trait.
    let schema = [("title".to_string(), ValueKind::Text)]
        .into_iter()
        .collect();
    let db = Arc::new(
        InMemoryHost::new()
            .with_schema(schema)
            .with_engine_actor("jira-sync"),
    );
    let notifications = db.subscribe();
    let host = Arc::new(ObservedHost::new(db.clone(), Arc::new(WriteLog)));

    // 2. The store, the Jira client and the mapping of one project.
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("sync.db").display()
    ))
    .await?;
    let mut jira = JiraConfig::new(
        url::Url::parse(&format!("http://{jira_addr}"))?,
        Credentials::Anonymous,
    );
    jira.flavor = Some(ApiFlavor::CloudV3);
    let client = JiraClient::new(jira)?;
    let mapping = ProjectMapping::new(vec![FieldMapping::new("title", "summary", ValueKind::Text)]);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids = Arc::new(SeqIds::for_process(clock.as_ref()));
    let rt = Runtime::new(
        RuntimeParts {
            store,
            sites: vec![JiraSite {
                name: "acme".into(),
                client,
                webhook_secret: None,
            }],
            host,
            clock,
            ids,
        },
        RuntimeConfig::new(vec![ProjectConfig {
            project_id: PROJECT.into(),
            site: "acme".into(),
            jira_project_key: "SIM".into(),
            issue_type: "Story".into(),
            mapping,
        }]),
    )?;

    // 3. The engine runs inside this process. Your own HTTP stack hands it Jira's webhook
    //    deliveries (`rt.receive_jira_webhook(site, signature, delivery_id, body)`) and asks
    //    it what people want to see (`rt.sync_status`, `rt.project_conflicts`, `rt.resolve`,
    //    ...: `sync_engine::ops`). Here Jira is polled instead of sending webhooks.
    let mut tasks = rt.start_workers(Some(notifications));
    tasks.extend(rt.start_schedulers(
        &[Schedule {
            // Webhooks are not set up here: poll Jira often instead.
            poll_every: Some(Duration::from_millis(500)),
            ..Schedule::new(PROJECT)
        }],
        &[],
    ));
    // A person creates an item in your product and asks to sync it.
    let title = |t: &str| -> BTreeMap<String, Value> {
        [("title".to_string(), Value::text(t))]
            .into_iter()
            .collect()
    };
    let item = db.create_as_person(PROJECT, &title("Ship the embedding guide"), "ana")?;
    let link_id = rt.push_item(&item.id, "ana").await?;

    // It appears in Jira.
    let issue = wait_for(|| {
        let rt = rt.clone();
        let link_id = link_id.clone();
        async move {
            rt.store()
                .link_view(&link_id)
                .await
                .ok()
                .flatten()
                .and_then(|v| v.issue_id)
        }
    })
    .await
    .ok_or("the item never reached Jira")?;
    println!("item {} is Jira issue {issue}", item.id);
    let status = rt.sync_status(&item.id).await?;
    println!("its sync status: {}", status.status);

    // Someone renames it in Jira; the poll brings the new title back.
    sim.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .edit_as_person(
            &issue,
            &serde_json::json!({"summary": "Ship the embedding guide (v2)"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            "5b10a2844c20165700ede21g",
        )?;
    let back = wait_for(|| {
        let db = db.clone();
        let id = item.id.clone();
        async move {
            let now = db.get_item(&id).await.ok().flatten()?;
            (now.field("title") == Value::text("Ship the embedding guide (v2)")).then_some(())
        }
    })
    .await;
    rt.drain(Duration::from_secs(5)).await;
    for t in tasks {
        t.abort();
    }
    match back {
        Some(()) => {
            println!("the edit made in Jira is in your product: in sync");
            Ok(())
        }
        None => Err("the Jira edit never came back".into()),
    }
}

/// Polls `check` for up to 20 seconds.
async fn wait_for<T, F, Fut>(mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(v) = check().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
