//! The sync runtime: intake of Jira webhooks and host notifications, the dispatcher of
//! intents, the pollers, and link creation. Everything nondeterministic (clock, ids, jitter,
//! the Jira client, the host) comes in through [`RuntimeParts`].

mod dispatch;
mod http;
mod intake;
mod poll;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use handoff_adapter::{Host, HostError, HostItem};
use jira_adapter::client::JiraClient;
use jira_adapter::error::JiraError;
use jira_adapter::observe::{fields_to_read, observe_issue, ObserveContext};
use sync_domain::link::{HandoffObservation, JiraObservation, JiraRef, LinkCommand, Millis};
use sync_domain::mapping::ProjectMapping;
use sync_domain::{DomainError, Value};
use sync_store::{EventMetadata, Source, Store, StoreError};
use tokio::sync::{Notify, OnceCell};

pub use dispatch::DispatchReport;
pub use http::{app, serve};
pub use intake::{IntakeError, IntakeOutcome};

/// The runtime's clock: epoch milliseconds.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when told (tests, simulations).
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock at `start_ms`.
    pub fn new(start_ms: Millis) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where command ids, link ids and backoff jitter come from.
pub trait IdSource: Send + Sync {
    /// A fresh id starting with `prefix`, unique within this store.
    fn next_id(&self, prefix: &str) -> String;
    /// Random jitter for a retry's backoff, in `0..max_ms`.
    fn jitter_ms(&self, max_ms: u64) -> u64;
}

/// Ids of the form `{prefix}-{run}-{n}`: a run tag (unique per process start, from the
/// clock and the process id unless given) and a counter; jitter from a seeded xorshift.
#[derive(Debug)]
pub struct SeqIds {
    run: String,
    n: AtomicU64,
    rng: Mutex<u64>,
}

impl SeqIds {
    /// Ids tagged with `run`, jitter seeded with `seed`.
    pub fn new(run: &str, seed: u64) -> SeqIds {
        SeqIds {
            run: run.to_string(),
            n: AtomicU64::new(0),
            rng: Mutex::new(seed | 1),
        }
    }

    /// Ids tagged with this process start (clock and process id).
    pub fn for_process(clock: &dyn Clock) -> SeqIds {
        let run = format!("{:x}{:x}", clock.now_ms(), std::process::id());
        let seed = clock.now_ms().unsigned_abs() ^ u64::from(std::process::id());
        SeqIds::new(&run, seed)
    }
}

impl IdSource for SeqIds {
    fn next_id(&self, prefix: &str) -> String {
        let n = self.n.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}-{}-{n}", self.run)
    }

    fn jitter_ms(&self, max_ms: u64) -> u64 {
        if max_ms == 0 {
            return 0;
        }
        let mut s = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *s = x;
        x % max_ms
    }
}

/// One synced project: which host project and Jira project, and the mapping in force.
#[derive(Clone, Debug)]
pub struct ProjectConfig {
    /// The host's project id (also the link's project id).
    pub project_id: String,
    /// The Jira project key issues are created in and polled from.
    pub jira_project_key: String,
    /// The issue type of created issues.
    pub issue_type: String,
    /// The field mapping.
    pub mapping: ProjectMapping,
}

/// Settings of the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The project.
    pub project: ProjectConfig,
    /// The secret Jira signs webhooks with; unsigned deliveries are refused when set.
    pub webhook_secret: Option<Vec<u8>>,
    /// The name of this dispatcher in the lease table.
    pub owner: String,
    /// How long a dispatcher holds a link's lease.
    pub lease_ms: u64,
    /// How far back each incremental Jira poll looks beyond its watermark.
    pub poll_overlap_ms: u64,
    /// The largest jitter added to a retry's backoff.
    pub max_jitter_ms: u64,
}

/// What the runtime is built from: the store, the adapters and the seams.
pub struct RuntimeParts {
    /// The event store.
    pub store: Store,
    /// The Jira site.
    pub jira: JiraClient,
    /// The host.
    pub host: Arc<dyn Host>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Ids and jitter.
    pub ids: Arc<dyn IdSource>,
}

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The store failed (or refused a command: the domain's error is inside).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A Jira call failed.
    #[error("jira: {0}")]
    Jira(#[from] JiraError),
    /// A host call failed.
    #[error("host: {0}")]
    Host(#[from] HostError),
    /// The item or issue to link does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}

impl RuntimeError {
    /// The domain's refusal, when that is what this is.
    pub fn domain(&self) -> Option<&DomainError> {
        match self {
            RuntimeError::Store(StoreError::Domain(e)) => Some(e),
            _ => None,
        }
    }
}

/// Counts for the demo's summary and for people: what the runtime did.
#[derive(Debug, Default)]
pub struct Counters {
    /// Webhook deliveries accepted into the inbox.
    pub webhooks_received: AtomicU64,
    /// Webhook deliveries dropped as duplicates.
    pub webhooks_duplicate: AtomicU64,
    /// Webhook deliveries refused (signature, malformed body).
    pub webhooks_rejected: AtomicU64,
    /// Dispatch attempts that succeeded.
    pub dispatch_succeeded: AtomicU64,
    /// Dispatch attempts that failed.
    pub dispatch_failed: AtomicU64,
    /// Commands or deliveries that ended in an error the runtime could not act on.
    pub errors: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// The sync runtime of one project.
pub struct Runtime {
    store: Store,
    jira: JiraClient,
    host: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    config: RuntimeConfig,
    our_account: OnceCell<Option<String>>,
    /// Wakes the inbox worker.
    inbox_wake: Notify,
    /// Wakes the dispatcher.
    dispatch_wake: Notify,
    /// What the runtime did.
    pub counters: Counters,
    poll_state: Mutex<poll::PollState>,
    /// Whether the dispatcher holds off (a person inspecting, or the demo staging edits).
    dispatch_paused: std::sync::atomic::AtomicBool,
}

impl Runtime {
    /// A runtime over `parts` with `config`.
    pub fn new(parts: RuntimeParts, config: RuntimeConfig) -> Arc<Runtime> {
        Arc::new(Runtime {
            store: parts.store,
            jira: parts.jira,
            host: parts.host,
            clock: parts.clock,
            ids: parts.ids,
            config,
            our_account: OnceCell::new(),
            inbox_wake: Notify::new(),
            dispatch_wake: Notify::new(),
            counters: Counters::default(),
            poll_state: Mutex::new(poll::PollState::default()),
            dispatch_paused: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The Jira client.
    pub fn jira(&self) -> &JiraClient {
        &self.jira
    }

    /// The project's settings.
    pub fn project(&self) -> &ProjectConfig {
        &self.config.project
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Holds the dispatcher (`true`) or lets it run again (`false`).
    pub fn set_dispatch_paused(&self, paused: bool) {
        self.dispatch_paused.store(paused, Ordering::SeqCst);
        if !paused {
            self.dispatch_wake.notify_one();
        }
    }

    /// The engine's own Jira account id, read once from `/myself` (`None` when Jira does not
    /// tell it; changelog authorship is then unknown).
    async fn our_account(&self) -> Option<&str> {
        self.our_account
            .get_or_init(|| async {
                match self.jira.myself().await {
                    Ok(u) => u.account_id.or(u.name),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the Jira account of the engine");
                        None
                    }
                }
            })
            .await
            .as_deref()
    }

    /// The observation context for a link whose work item is `work_item_id`.
    async fn observe_ctx<'a>(
        &'a self,
        marker: Option<&'a str>,
    ) -> Result<ObserveContext<'a>, RuntimeError> {
        Ok(ObserveContext {
            mapping: &self.config.project.mapping,
            flavor: self.jira.flavor().await?,
            our_account: self.our_account().await,
            marker_label: marker,
        })
    }

    /// Reads a Jira issue as an observation for a link with work item `work_item_id`.
    pub async fn read_issue(
        &self,
        issue_id: &str,
        work_item_id: Option<&str>,
    ) -> Result<(JiraRef, JiraObservation), RuntimeError> {
        let fields = fields_to_read(&self.config.project.mapping);
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let issue = self.jira.get_issue(issue_id, &refs).await?;
        let marker = work_item_id.map(|w| self.jira.marker_label(w));
        let ctx = self.observe_ctx(marker.as_deref()).await?;
        let (observed, skipped) = observe_issue(&issue, &ctx);
        for (field, reason) in skipped {
            tracing::warn!(issue = %issue.id, %field, %reason, "a mapped Jira field could not be read");
        }
        Ok((
            JiraRef {
                id: issue.id.clone(),
                key: issue.key.clone(),
            },
            observed,
        ))
    }

    /// A host item as an observation: only the mapped fields.
    fn handoff_observation(&self, item: &HostItem) -> HandoffObservation {
        let values: BTreeMap<String, Value> = self
            .config
            .project
            .mapping
            .fields
            .iter()
            .map(|m| (m.handoff_field.clone(), item.field(&m.handoff_field)))
            .collect();
        HandoffObservation {
            version: item.version,
            changed_at: item.updated_at_ms,
            values,
            actor: item.updated_by.clone(),
        }
    }

    /// Runs a command on a link and wakes the dispatcher when it emitted intents.
    async fn run(
        &self,
        link_id: &str,
        cmd: LinkCommand,
        meta: &EventMetadata,
    ) -> Result<Vec<sync_domain::link::LinkEvent>, RuntimeError> {
        let events = self.store.execute(link_id, cmd, meta, self.now()).await?;
        if events
            .iter()
            .any(|e| matches!(e, sync_domain::link::LinkEvent::IntentEmitted { .. }))
        {
            self.dispatch_wake.notify_one();
        }
        Ok(events)
    }

    /// Links a host item to a new Jira issue (the engine creates it): "push to Jira".
    /// Returns the link id; an item already linked returns its link.
    pub async fn push_item(&self, work_item_id: &str, actor: &str) -> Result<String, RuntimeError> {
        if let Some(v) = self.store.link_by_work_item(work_item_id).await? {
            return Ok(v.link_id);
        }
        let item = self
            .host
            .get_item(work_item_id)
            .await?
            .ok_or_else(|| RuntimeError::NotFound(format!("work item {work_item_id}")))?;
        let link_id = self.ids.next_id("link");
        let cmd = LinkCommand::CreateFromHandoff {
            cmd_id: self.ids.next_id("create"),
            project_id: self.config.project.project_id.clone(),
            work_item_id: work_item_id.to_string(),
            item: self.handoff_observation(&item),
            mapping: self.config.project.mapping.clone(),
            at: self.now(),
        };
        let meta = EventMetadata {
            actor: Some(actor.to_string()),
            ..EventMetadata::new(Source::User)
        };
        self.run(&link_id, cmd, &meta).await?;
        Ok(link_id)
    }

    /// Links an existing Jira issue to a new host item (the engine creates it): "import".
    /// Returns the link id; an issue already linked returns its link.
    pub async fn import_issue(&self, issue_id: &str, actor: &str) -> Result<String, RuntimeError> {
        if let Some(v) = self.store.link_by_issue(issue_id).await? {
            return Ok(v.link_id);
        }
        let (issue, observed) = self.read_issue(issue_id, None).await?;
        let link_id = self.ids.next_id("link");
        let cmd = LinkCommand::CreateFromJira {
            cmd_id: self.ids.next_id("import"),
            project_id: self.config.project.project_id.clone(),
            issue,
            observed,
            mapping: self.config.project.mapping.clone(),
            at: self.now(),
        };
        let meta = EventMetadata {
            actor: Some(actor.to_string()),
            ..EventMetadata::new(Source::User)
        };
        self.run(&link_id, cmd, &meta).await?;
        Ok(link_id)
    }

    /// A person settles a conflict.
    pub async fn resolve_conflict(
        &self,
        link_id: &str,
        conflict_id: &str,
        resolution: sync_domain::link::Resolution,
        actor: &str,
    ) -> Result<(), RuntimeError> {
        let cmd = LinkCommand::ResolveConflict {
            cmd_id: self.ids.next_id("resolve"),
            conflict_id: conflict_id.to_string(),
            resolution,
            actor: actor.to_string(),
            at: self.now(),
        };
        let meta = EventMetadata {
            actor: Some(actor.to_string()),
            ..EventMetadata::new(Source::User)
        };
        self.run(link_id, cmd, &meta).await?;
        Ok(())
    }

    /// Starts the background workers (inbox, dispatcher, host notifications when given a
    /// receiver); they run until the returned handles are aborted.
    pub fn start_workers(
        self: &Arc<Self>,
        notifications: Option<tokio::sync::broadcast::Receiver<handoff_adapter::HostNotification>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut v = vec![
            tokio::spawn(intake::inbox_worker(self.clone())),
            tokio::spawn(dispatch::dispatch_worker(self.clone())),
        ];
        if let Some(rx) = notifications {
            v.push(tokio::spawn(intake::notification_worker(self.clone(), rx)));
        }
        v
    }

    /// Whether nothing is waiting to be done now: no unprocessed delivery, no intent due
    /// (intents backing off until later do not count).
    pub async fn is_idle(&self) -> Result<bool, RuntimeError> {
        if !self.store.inbox_unprocessed(1).await?.is_empty() {
            return Ok(false);
        }
        let now = self.now();
        let dump = self.store.dump_projections().await?;
        Ok(!dump.queue.iter().any(|q| q.due_at <= now))
    }
}
