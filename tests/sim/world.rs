//! The simulated world: the real runtime (domain, store, dispatcher, intake, pollers) wired
//! to the Jira simulator over HTTP on 127.0.0.1 and to the in-memory host, all on one
//! virtual clock, stepped by hand from one task.
//!
//! Every construction of the runtime and every runtime call whose signature depends on the
//! runtime's configuration shape is in this file (`build_runtime`, `deliver_webhook`,
//! `import_issue`, `jira`, `force_resync`, `change_mapping`), so a change of the runtime's
//! constructor is a change here only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use handoff_adapter::{FieldSchema, Host, HostItem, HostNotification, InMemoryHost};
use jira_adapter::auth::{Credentials, Secret};
use jira_adapter::client::{ApiFlavor, JiraClient, JiraConfig};
use jira_adapter::ratelimit::{BreakerConfig, RetryPolicy};
use jira_adapter::webhook::{DELIVERY_ID_HEADER, SIGNATURE_HEADER};
use jira_sim::http::{serve, SharedSim};
use jira_sim::{Delivery, Faults, SimConfig, SimJira};
use sync_domain::link::{HandoffObservation, Millis};
use sync_domain::mapping::{Direction, FieldMapping, Policy, ProjectMapping, Transform, ValueMap};
use sync_domain::{Value, ValueKind};
use sync_engine::{
    Clock, Error as EngineError, IntakeError, IntakeOutcome, JiraSite, ProjectConfig, Runtime,
    RuntimeConfig, RuntimeParts, SeqIds,
};
use sync_store::Store;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::seen::SeenHost;

/// The Handoff project.
pub const PROJECT: &str = "HANDOFF";
/// The Jira project.
pub const JIRA_PROJECT: &str = "SIM";
/// The webhook secret Jira signs with.
pub const SECRET: &[u8] = b"sim-webhook-secret";
/// People editing in Jira (the simulator's people).
pub const JIRA_PEOPLE: [&str; 2] = ["5b10a2844c20165700ede21g", "5cedcb4355a88a0fc86388ba"];
/// People editing in Handoff.
pub const HOST_PEOPLE: [&str; 2] = ["ana", "ben"];
/// Where virtual time starts (2026-01-01T00:00:00Z).
pub const START_MS: Millis = 1_767_225_600_000;

/// The one virtual clock of a world: the runtime's, the simulator's and the host's.
#[derive(Clone, Debug)]
pub struct SimTime(Arc<AtomicI64>);

impl SimTime {
    /// A clock at `ms`.
    pub fn new(ms: Millis) -> SimTime {
        SimTime(Arc::new(AtomicI64::new(ms)))
    }

    /// Now.
    pub fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves time forward by `ms` (never backwards).
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms.max(0), Ordering::SeqCst);
    }

    /// Moves time forward to `ms` when that is later.
    pub fn advance_to(&self, ms: Millis) {
        self.0.fetch_max(ms, Ordering::SeqCst);
    }
}

impl Clock for SimTime {
    fn now_ms(&self) -> Millis {
        self.now()
    }
}

/// The field policies of a run's mapping (the rest of the mapping is fixed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policies {
    /// title ↔ summary.
    pub title: Policy,
    /// description ↔ description.
    pub description: Policy,
    /// size ↔ story points.
    pub size: Policy,
    /// status ↔ status.
    pub status: Policy,
    /// labels ↔ labels.
    pub labels: Policy,
    /// Whether a conflict pauses the whole link.
    pub pause_link: bool,
    /// Attempts before an intent gives up.
    pub max_attempts: u32,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            title: Policy::Manual,
            description: Policy::Manual,
            size: Policy::Manual,
            status: Policy::Manual,
            labels: Policy::Union,
            pause_link: false,
            max_attempts: 8,
        }
    }
}

/// The Handoff statuses and their Jira statuses.
pub const STATUSES: [(&str, &str); 4] = [
    ("todo", "To Do"),
    ("doing", "In Progress"),
    ("review", "In Review"),
    ("done", "Done"),
];

/// The mapping: title ↔ summary, description ↔ description (rich text), acceptance
/// criteria → a custom rich-text field (push only), size ↔ story points (custom number),
/// status ↔ status (a multi-hop workflow), labels ↔ labels; policies as given.
pub fn mapping(p: &Policies) -> ProjectMapping {
    let mut m = ProjectMapping::new(vec![
        FieldMapping::new("title", "summary", ValueKind::Text).policy(p.title),
        FieldMapping::new("description", "description", ValueKind::RichText).policy(p.description),
        FieldMapping::new(
            "acceptanceCriteria",
            "customfield_10020",
            ValueKind::RichText,
        )
        .direction(Direction::Push),
        FieldMapping::new("size", "customfield_10016", ValueKind::Number).policy(p.size),
        FieldMapping::new("status", "status", ValueKind::Option)
            .transform(Transform::StatusMap {
                map: ValueMap::from_pairs(STATUSES),
            })
            .policy(p.status),
        FieldMapping::new("labels", "labels", ValueKind::OptionSet).policy(p.labels),
    ]);
    m.handoff_statuses = STATUSES.iter().map(|(h, _)| h.to_string()).collect();
    m.pause_link_on_conflict = p.pause_link;
    m.retry.max_attempts = p.max_attempts;
    m.retry.max_delay_ms = 60_000;
    m
}

/// The host's fields (the mapped ones).
pub fn host_schema() -> FieldSchema {
    [
        ("title", ValueKind::Text),
        ("description", ValueKind::RichText),
        ("acceptanceCriteria", ValueKind::RichText),
        ("size", ValueKind::Number),
        ("status", ValueKind::Option),
        ("labels", ValueKind::OptionSet),
        ("epic", ValueKind::Text),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The Jira client of the world: the real one, with its retries, pacing and circuit
/// breaker set so that they never wait in wall-clock time (waits happen on the virtual
/// clock, through the domain's retry schedule).
pub fn jira_client(addr: SocketAddr) -> JiraClient {
    let url = format!("http://{addr}")
        .parse()
        .expect("the simulator's URL parses");
    let mut cfg = JiraConfig::new(
        url,
        Credentials::CloudApiToken {
            email: "sync@example.com".into(),
            token: Secret::new("sim-token"),
        },
    );
    cfg.flavor = Some(ApiFlavor::CloudV3);
    cfg.rate_per_second = NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MIN);
    cfg.burst = NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MIN);
    // One attempt per call: every retry goes through the domain's schedule on virtual time
    // (Retry-After included), where it is recorded and replayable.
    cfg.retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::from_millis(1),
    };
    cfg.breaker = BreakerConfig {
        failure_threshold: u32::MAX,
        open_for: Duration::from_millis(1),
    };
    cfg.marker.lookup_attempts = 1;
    cfg.marker.lookup_delay = Duration::ZERO;
    cfg.timeout = Duration::from_secs(30);
    JiraClient::new(cfg).expect("the Jira client builds")
}

/// Locks the simulator.
pub fn lock(sim: &SharedSim) -> MutexGuard<'_, SimJira> {
    sim.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The world of one run or scenario.
pub struct World {
    /// The virtual clock.
    pub time: SimTime,
    /// The Jira simulator.
    pub sim: SharedSim,
    /// Where the simulator listens.
    pub jira_addr: SocketAddr,
    server: JoinHandle<()>,
    /// The host.
    pub host: Arc<InMemoryHost>,
    /// The host as the engine sees it (recording the engine's writes).
    pub seen: Arc<SeenHost>,
    /// The store (kept across restarts).
    pub store: Store,
    /// The runtime of the current incarnation.
    pub rt: Arc<Runtime>,
    /// The host's notifications, taken by hand.
    pub notifications: broadcast::Receiver<HostNotification>,
    /// The mapping in force.
    pub mapping: ProjectMapping,
    /// The seed of ids and jitter.
    pub seed: u64,
    /// How many times the runtime was (re)built.
    pub incarnation: u32,
    /// Webhook deliveries the intake dropped as duplicates, over all incarnations.
    pub duplicate_webhooks: u64,
}

impl Drop for World {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The name of the world's one Jira site.
pub const SITE: &str = "default";

/// The runtime over these parts. The one place a runtime is constructed.
pub fn build_runtime(
    store: Store,
    jira: JiraClient,
    host: Arc<dyn Host>,
    time: &SimTime,
    ids: SeqIds,
    mapping: ProjectMapping,
) -> Arc<Runtime> {
    Runtime::new(
        RuntimeParts {
            store,
            sites: vec![JiraSite {
                name: SITE.into(),
                client: jira,
                webhook_secret: Some(SECRET.to_vec()),
            }],
            host,
            clock: Arc::new(time.clone()),
            ids: Arc::new(ids),
        },
        RuntimeConfig {
            projects: vec![ProjectConfig {
                project_id: PROJECT.into(),
                site: SITE.into(),
                jira_project_key: JIRA_PROJECT.into(),
                issue_type: "Story".into(),
                mapping,
            }],
            owner: "sim".into(),
            lease_ms: 30_000,
            poll_overlap_ms: 120_000,
            max_jitter_ms: 500,
            // One delivery group after another: concurrent groups would race on the
            // store's threads and make the run depend on timing (ids, Jira call order).
            inbox_concurrency: 1,
            telemetry: None,
        },
    )
    .expect("the runtime builds")
}

impl World {
    /// Starts a world on `store` with `mapping`; the simulator's random choices and faults
    /// from `seed` and `faults`.
    pub async fn start(seed: u64, store: Store, mapping: ProjectMapping, faults: Faults) -> World {
        let time = SimTime::new(START_MS);
        let sim: SharedSim = Arc::new(Mutex::new(SimJira::new(
            SimConfig {
                seed,
                webhook_secret: Some(SECRET.to_vec()),
                faults,
                ..SimConfig::default()
            },
            Arc::new(time.clone()),
        )));
        let (jira_addr, server) = serve(sim.clone(), ([127, 0, 0, 1], 0).into())
            .await
            .expect("the simulator serves on 127.0.0.1");
        lock(&sim)
            .register_webhooks(&serde_json::json!({
                // Deliveries are drained and handed to the runtime by the world, not posted.
                "url": "http://127.0.0.1:9/api/webhooks/jira",
                "webhooks": [{
                    "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
                               "comment_created", "comment_updated", "comment_deleted"],
                    "jqlFilter": format!("project = {JIRA_PROJECT}"),
                }],
            }))
            .expect("webhooks register");
        let host = Arc::new(
            InMemoryHost::new()
                .with_clock(Arc::new(time.clone()))
                .with_schema(host_schema())
                .with_engine_actor("jira-sync"),
        );
        let notifications = host.subscribe();
        let seen = Arc::new(SeenHost::new(host.clone()));
        let rt = build_runtime(
            store.clone(),
            jira_client(jira_addr),
            seen.host(),
            &time,
            SeqIds::new("r0", seed),
            mapping.clone(),
        );
        World {
            time,
            sim,
            jira_addr,
            server,
            host,
            seen,
            store,
            rt,
            notifications,
            mapping,
            seed,
            incarnation: 0,
            duplicate_webhooks: 0,
        }
    }

    /// The process restarts: the runtime and everything it held in memory (poll
    /// watermarks, caches, the Jira client, notifications not yet taken) are gone; the
    /// store, Jira and the host are kept.
    pub fn restart(&mut self) -> usize {
        self.incarnation += 1;
        let mut dropped = 0;
        while self.notifications.try_recv().is_ok() {
            dropped += 1;
        }
        self.rt = build_runtime(
            self.store.clone(),
            jira_client(self.jira_addr),
            self.seen.host(),
            &self.time,
            SeqIds::new(
                &format!("r{}", self.incarnation),
                self.seed ^ u64::from(self.incarnation),
            ),
            self.mapping.clone(),
        );
        dropped
    }

    /// The Jira client of the runtime.
    pub fn jira(&self) -> &JiraClient {
        self.rt.jira(SITE).expect("the site exists")
    }

    /// Hands one webhook delivery to the runtime's intake, as its HTTP face would.
    pub async fn deliver_webhook(&self, d: &Delivery) -> Result<IntakeOutcome, IntakeError> {
        let header = |name: &str| {
            d.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        self.rt
            .receive_jira_webhook(
                Some(SITE),
                header(SIGNATURE_HEADER),
                header(DELIVERY_ID_HEADER),
                &d.body,
            )
            .await
    }

    /// Links an existing Jira issue (the engine creates its item).
    pub async fn import_issue(&self, issue_id: &str, actor: &str) -> Result<String, EngineError> {
        self.rt.import_issue(PROJECT, issue_id, actor).await
    }

    /// Links a host item (the engine creates its issue).
    pub async fn push_item(&self, item_id: &str, actor: &str) -> Result<String, EngineError> {
        self.rt.push_item(item_id, actor).await
    }

    /// A host item's mapped fields as an observation.
    pub fn observe_item(&self, item: &HostItem) -> HandoffObservation {
        HandoffObservation {
            version: item.version,
            changed_at: item.updated_at_ms,
            values: self
                .mapping
                .fields
                .iter()
                .map(|m| (m.handoff_field.clone(), item.field(&m.handoff_field)))
                .collect(),
            actor: item.updated_by.clone(),
        }
    }

    /// Manual sync of one link ("force sync" of its work item): both sides read now, failed
    /// intents tried again.
    pub async fn force_resync(&self, link_id: &str, actor: &str) -> Result<(), String> {
        let view = self
            .store
            .link_view(link_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no such link")?;
        let wi = view.work_item_id.ok_or("the link has no item yet")?;
        self.rt
            .force_sync(&wi, actor)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// An admin changes the mapping while the engine runs: recorded, put in force, and told
    /// to every live link.
    pub async fn change_mapping(
        &mut self,
        mapping: ProjectMapping,
        actor: &str,
    ) -> Result<(), String> {
        self.rt
            .put_mappings(PROJECT, mapping.clone(), actor)
            .await
            .map_err(|e| e.to_string())?;
        self.mapping = mapping;
        Ok(())
    }

    /// Hands the due (or, with `all`, every queued) webhook delivery to the intake; a refused
    /// one goes back to Jira's retry queue, as a failed POST would. Returns how many.
    pub async fn deliver_webhooks(&mut self, all: bool) -> usize {
        let due = {
            let mut s = lock(&self.sim);
            if all {
                s.drain_all()
            } else {
                s.drain_due()
            }
        };
        let n = due.len();
        for d in due {
            match self.deliver_webhook(&d).await {
                Ok(IntakeOutcome::Duplicate { .. }) => self.duplicate_webhooks += 1,
                Ok(IntakeOutcome::Accepted { .. }) => {}
                Err(_) => lock(&self.sim).delivery_failed(d),
            }
        }
        n
    }

    /// Hands the host's notifications to the intake (a failed one is lost, as in the
    /// runtime's notification worker; the host poll finds the change). Returns how many.
    pub async fn take_notifications(&mut self) -> usize {
        let mut n = 0;
        while let Ok(note) = self.notifications.try_recv() {
            let _ = self.rt.receive_host_notification(&note).await;
            n += 1;
        }
        n
    }

    /// Carries out due intents one link at a time (deterministic order) until none is due
    /// or `limit` passes ran. Returns the attempts.
    pub async fn dispatch_all(&self, limit: usize) -> usize {
        let mut attempted = 0;
        for _ in 0..limit {
            match self.rt.dispatch_once(1).await {
                Ok(r) if r.attempted > 0 => attempted += r.attempted,
                Ok(r) if r == Default::default() => {
                    // Nothing leased, or a leased intent no longer wanted: look again only
                    // when something is still due.
                    if matches!(self.rt.is_idle().await, Ok(true) | Err(_)) {
                        break;
                    }
                    if self.due_now().await == 0 {
                        break;
                    }
                }
                _ => break,
            }
        }
        attempted
    }

    async fn due_now(&self) -> usize {
        let now = self.time.now();
        self.store
            .dump_projections()
            .await
            .map(|d| d.queue.iter().filter(|q| q.due_at <= now).count())
            .unwrap_or(0)
    }

    /// A measure of progress: the projections (without the links' event counts, which a
    /// poll's re-read grows with a recorded stale observation), the inbox and the deliveries
    /// waiting.
    pub async fn progress(&self) -> (String, usize, usize) {
        let state = self
            .store
            .dump_projections()
            .await
            .map(|mut d| {
                for l in &mut d.links {
                    l.sequence = 0;
                }
                format!("{d:?}")
            })
            .unwrap_or_default();
        let inbox = self
            .store
            .inbox_unprocessed(1000)
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        (state, inbox, lock(&self.sim).pending_deliveries())
    }

    /// Lets everything settle with no new edits: delivers every webhook and notification,
    /// processes the inbox, dispatches, polls both sides (and, once a round changed nothing,
    /// runs the full reconciliation, as a server's schedule does), and moves time to the next
    /// retry when intents wait. `true` once two rounds in a row changed nothing; `false` when that
    /// does not happen within `max_rounds`.
    pub async fn settle(&mut self, max_rounds: usize) -> bool {
        let mut quiet = 0;
        for _ in 0..max_rounds {
            let before = self.progress().await;
            self.deliver_webhooks(true).await;
            self.take_notifications().await;
            let _ = self.rt.process_inbox().await;
            self.dispatch_all(500).await;
            let _ = self.rt.poll_jira_once().await;
            let _ = self.rt.poll_host_once().await;
            if quiet > 0 {
                // What a server's schedule also runs (daily by default): the full
                // reconciliation, which finds what webhooks and polls cannot (a deleted issue
                // whose webhook was lost, a deleted item). Run once the world looks quiet, so
                // a settled world has been through one.
                let _ = self.rt.reconcile_project(PROJECT).await;
            }
            self.take_notifications().await;
            let _ = self.rt.process_inbox().await;
            self.dispatch_all(500).await;
            let after = self.progress().await;
            let idle = matches!(self.rt.is_idle().await, Ok(true));
            if idle && before == after && after.1 == 0 && after.2 == 0 {
                quiet += 1;
                if quiet >= 2 {
                    return true;
                }
            } else {
                quiet = 0;
            }
            // Time moves to the next retry that waits, or by a second.
            let now = self.time.now();
            let next = self
                .store
                .dump_projections()
                .await
                .ok()
                .and_then(|d| d.queue.iter().map(|q| q.due_at).filter(|t| *t > now).min());
            match next {
                Some(t) if t - now <= 3_600_000 => self.time.advance_to(t),
                _ => self.time.advance(1_000),
            }
        }
        false
    }

    /// The Jira issue's mapped fields in Handoff space, read over REST by the engine's reader.
    pub async fn jira_values(
        &self,
        issue_id: &str,
        work_item_id: &str,
    ) -> Result<BTreeMap<String, Value>, EngineError> {
        let (_, observed) = self
            .rt
            .read_issue(PROJECT, issue_id, Some(work_item_id))
            .await?;
        Ok(self
            .mapping
            .fields
            .iter()
            .map(|m| {
                let v = observed
                    .values
                    .get(&m.jira_field)
                    .cloned()
                    .unwrap_or(Value::Null);
                let h = m.transform.to_handoff(&v).unwrap_or(v);
                (m.handoff_field.clone(), h)
            })
            .collect())
    }

    /// The host item's mapped fields.
    pub fn host_values(&self, item_id: &str) -> Option<BTreeMap<String, Value>> {
        self.host
            .items(PROJECT)
            .into_iter()
            .find(|i| i.id == item_id)
            .map(|i| {
                self.mapping
                    .fields
                    .iter()
                    .map(|m| (m.handoff_field.clone(), i.field(&m.handoff_field)))
                    .collect()
            })
    }
}
