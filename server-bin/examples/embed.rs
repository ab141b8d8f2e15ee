//! Embedding jira-sync in your own Rust service.
//!
//! Run it: `cargo run -p server-bin --example embed`. It needs no Jira account: a Jira
//! simulator stands in for your site on 127.0.0.1. It exits 0 once an item of "your product"
//! has reached Jira and an edit made in Jira has come back, and 1 otherwise.
//!
//! What your service provides:
//! 1. a [`Host`]: how the engine reads and writes your work items (here `ProductHost`; its
//!    storage is an in-memory host standing in for your database),
//! 2. a [`Store`] (SQLite file or PostgreSQL URL), the Jira client(s) and a field mapping,
//! 3. its own HTTP router, into which it mounts the engine's API (webhooks, status, conflicts).
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

use async_trait::async_trait;
use handoff_adapter::{ChangePage, Host, HostComment, HostError, HostItem, InMemoryHost};
use jira_adapter::auth::Credentials;
use jira_adapter::client::{JiraClient, JiraConfig};
use jira_adapter::fields::ApiFlavor;
use jira_adapter::simulator::http::{serve as serve_simulator, SharedSim};
use jira_adapter::simulator::{SimConfig, SimJira, SystemClock as SimClock};
use server_bin::api::{self, ApiConfig};
use server_bin::runtime::{
    Clock, JiraSite, ProjectConfig, Runtime, RuntimeConfig, RuntimeParts, Schedule, SeqIds,
    SystemClock,
};
use sync_domain::mapping::{FieldMapping, ProjectMapping};
use sync_domain::{Value, ValueKind};
use sync_store::Store;

/// Your product, as the engine sees it. Each method has a promise to keep (docs/handoff-api.md):
/// updates are conditional on `expected_version` (never overwrite a person's edit), creates
/// of items and comments are idempotent by their marker, and the change feed never skips.
/// Here every call goes to an in-memory host; yours would go to your database or services.
struct ProductHost {
    db: Arc<InMemoryHost>,
}

#[async_trait]
impl Host for ProductHost {
    async fn get_item(&self, id: &str) -> Result<Option<HostItem>, HostError> {
        self.db.get_item(id).await
    }

    async fn update_fields(
        &self,
        id: &str,
        fields: &BTreeMap<String, Value>,
        expected_version: Option<u64>,
    ) -> Result<u64, HostError> {
        self.db.update_fields(id, fields, expected_version).await
    }

    async fn create_item(
        &self,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        marker: &str,
    ) -> Result<HostItem, HostError> {
        self.db.create_item(project_id, fields, marker).await
    }

    async fn find_by_marker(
        &self,
        project_id: &str,
        marker: &str,
    ) -> Result<Option<HostItem>, HostError> {
        self.db.find_by_marker(project_id, marker).await
    }

    async fn list_changed_since(
        &self,
        project_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ChangePage, HostError> {
        self.db.list_changed_since(project_id, cursor, limit).await
    }

    async fn list_comments(&self, item_id: &str) -> Result<Vec<HostComment>, HostError> {
        self.db.list_comments(item_id).await
    }

    async fn add_comment(
        &self,
        item_id: &str,
        body_markdown: &str,
        author_line: &str,
        origin_marker: &str,
    ) -> Result<HostComment, HostError> {
        self.db
            .add_comment(item_id, body_markdown, author_line, origin_marker)
            .await
    }

    async fn edit_comment(
        &self,
        item_id: &str,
        comment_id: &str,
        body_markdown: &str,
    ) -> Result<HostComment, HostError> {
        self.db
            .edit_comment(item_id, comment_id, body_markdown)
            .await
    }
}

const PROJECT: &str = "ROADMAP";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Stand-in for your Jira site: the simulator on a loopback port.
    let sim: SharedSim = Arc::new(Mutex::new(SimJira::new(
        SimConfig::default(),
        Arc::new(SimClock),
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
    let host = Arc::new(ProductHost { db: db.clone() });

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

    // 3. The engine runs inside this process; its API is mounted in your router.
    let mut tasks = rt.start_workers(Some(notifications));
    tasks.extend(rt.start_schedulers(
        &[Schedule {
            // Webhooks are not set up here: poll Jira often instead.
            poll_every: Some(Duration::from_millis(500)),
            ..Schedule::new(PROJECT)
        }],
        &[],
    ));
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "your service" }))
        .nest("/sync", api::app(rt.clone(), ApiConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "your service listens on http://{}/ (engine API under /sync/api/…)",
        listener.local_addr()?
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

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
