//! sync-engine: the jira-sync runtime, for embedding in any Rust service. It takes what the
//! adapters see (webhook deliveries, host notifications, polls), turns it into commands for
//! the link and project aggregates of `sync-domain`, stores the decisions through
//! `sync-store`, and carries out the intents the domain emitted through the Jira client and
//! the [`Host`]. [`Runtime`] serves every configured project over one store and one host;
//! each project names its Jira site, and each site has its own client (rate limiter, circuit
//! breaker) and webhook secret.
//!
//! Modules: `intake` (webhook intake: verify → inbox dedupe → answer → observation, ordered
//! per issue or item), `dispatch` (lease → start → adapter → result, ordered per link),
//! `poll` (incremental Jira search and the host change feed), `schedule` (the scheduled
//! poll, the full reconciliation and the dynamic-webhook keeper), `comments`, [`ops`] (what
//! people ask for: status, history, conflicts, mappings, links, statistics, as plain views)
//! and `telemetry` (counters and the embedder's metrics seam).
//!
//! Architecture invariant: no business rule lives here (every decision is `sync-domain`'s)
//! and no wire format of our own (no HTTP, no JSON DTOs, no TOML, no CLI: `server-bin` owns
//! those). Everything nondeterministic (clock, ids, jitter, the Jira clients, the host) comes
//! in through [`RuntimeParts`].

mod comments;
mod dispatch;
mod error;
pub mod insights;
mod intake;
pub mod ops;
mod poll;
mod schedule;
mod telemetry;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use handoff_adapter::{Host, HostItem};
use jira_adapter::client::{JiraClient, JiraIssue};
use jira_adapter::observe::{fields_to_read, observe_issue, ObserveContext};
use sync_domain::link::{
    HandoffObservation, JiraObservation, JiraRef, LinkCommand, LinkStatus, Millis,
};
use sync_domain::mapping::ProjectMapping;
use sync_domain::Value;
use sync_store::{EventMetadata, Source, Store};
use tokio::sync::{Notify, OnceCell};

pub use dispatch::DispatchReport;
pub use error::Error;
pub use intake::{IntakeError, IntakeOutcome};
pub use schedule::{ReconcileReport, Schedule, WebhookKeeper, WEBHOOK_EVENTS};
pub use telemetry::{Counters, DeliveryOutcome, Telemetry};

pub use sync_domain::clock::{Clock, ManualClock};

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

/// One Jira site the runtime talks to: its client (with its own rate limiter) and the secret
/// its webhooks are signed with.
pub struct JiraSite {
    /// The site's name in the config (`default` for a single site).
    pub name: String,
    /// The client.
    pub client: JiraClient,
    /// The secret Jira signs this site's webhooks with; unsigned deliveries are refused when
    /// set.
    pub webhook_secret: Option<Vec<u8>>,
}

/// One synced project: which host project and Jira project, and the mapping in force.
#[derive(Clone, Debug)]
pub struct ProjectConfig {
    /// The host's project id (also the link's project id).
    pub project_id: String,
    /// The name of the Jira site the project lives on.
    pub site: String,
    /// The Jira project key issues are created in and polled from.
    pub jira_project_key: String,
    /// The issue type of created issues.
    pub issue_type: String,
    /// The field mapping.
    pub mapping: ProjectMapping,
}

/// How many groups of inbox deliveries are processed at once unless configured: the inbox
/// batch's size, so a batch about different records runs at once.
pub const DEFAULT_INBOX_CONCURRENCY: usize = 64;

/// Settings of the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The synced projects.
    pub projects: Vec<ProjectConfig>,
    /// The name of this dispatcher in the lease table.
    pub owner: String,
    /// How long a dispatcher holds a link's lease.
    pub lease_ms: u64,
    /// How far back each incremental Jira poll looks beyond its watermark.
    pub poll_overlap_ms: u64,
    /// The largest jitter added to a retry's backoff.
    pub max_jitter_ms: u64,
    /// How many groups of inbox deliveries (each about one Jira issue or host item) are
    /// processed at once. 1 processes them one after another in the order received, which
    /// makes a run reproducible (the simulation uses it); the default is
    /// [`DEFAULT_INBOX_CONCURRENCY`].
    pub inbox_concurrency: usize,
    /// Where the engine's reports go besides its own [`Counters`] (the server's metrics).
    pub telemetry: Option<Arc<dyn Telemetry>>,
}

impl RuntimeConfig {
    /// The defaults for `projects`: owner `jira-sync`, 30 s leases, 60 s poll overlap, 1 s
    /// of jitter at most, [`DEFAULT_INBOX_CONCURRENCY`] inbox groups at once.
    pub fn new(projects: Vec<ProjectConfig>) -> RuntimeConfig {
        RuntimeConfig {
            projects,
            owner: "jira-sync".into(),
            lease_ms: 30_000,
            poll_overlap_ms: 60_000,
            max_jitter_ms: 1_000,
            inbox_concurrency: DEFAULT_INBOX_CONCURRENCY,
            telemetry: None,
        }
    }
}

/// What the runtime is built from: the store, the adapters and the seams.
pub struct RuntimeParts {
    /// The event store.
    pub store: Store,
    /// The Jira sites, by name.
    pub sites: Vec<JiraSite>,
    /// The host.
    pub host: Arc<dyn Host>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Ids and jitter.
    pub ids: Arc<dyn IdSource>,
}

/// Why no Jira site could be chosen by [`choose_site`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SiteChoiceError {
    /// The site named is not configured (the configured ones are listed).
    #[error("no Jira site named {name:?} (configured: {})", .known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The configured sites.
        known: Vec<String>,
    },
    /// No site is configured at all.
    #[error("no Jira site is configured")]
    NoneConfigured,
    /// No site was named and several are configured.
    #[error("several Jira sites are configured ({}): name one", .0.join(", "))]
    Several(Vec<String>),
}

/// The site `wanted` among `names`, or the only one when none is named: the one rule for
/// every place that may omit the site (webhook intake, field discovery, link lookup, the
/// config's projects, the CLI).
pub fn choose_site<'a>(
    names: impl IntoIterator<Item = &'a str>,
    wanted: Option<&str>,
) -> Result<&'a str, SiteChoiceError> {
    let names: Vec<&'a str> = names.into_iter().collect();
    match wanted {
        Some(w) => {
            names
                .iter()
                .copied()
                .find(|n| *n == w)
                .ok_or_else(|| SiteChoiceError::Unknown {
                    name: w.to_string(),
                    known: names.iter().map(|n| n.to_string()).collect(),
                })
        }
        None => match names.as_slice() {
            [one] => Ok(one),
            [] => Err(SiteChoiceError::NoneConfigured),
            several => Err(SiteChoiceError::Several(
                several.iter().map(|n| n.to_string()).collect(),
            )),
        },
    }
}

/// A configured site and what the runtime learned of it.
struct SiteState {
    site: JiraSite,
    /// The engine's own account on the site, read once.
    our_account: OnceCell<Option<String>>,
}

/// The sync runtime: every configured project and Jira site over one store and one host.
pub struct Runtime {
    store: Store,
    sites: BTreeMap<String, SiteState>,
    projects: RwLock<BTreeMap<String, Arc<ProjectConfig>>>,
    host: Arc<dyn Host>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    config: RuntimeConfig,
    /// Wakes the inbox worker.
    inbox_wake: Notify,
    /// Wakes the dispatcher.
    dispatch_wake: Notify,
    /// What the runtime did.
    pub counters: Counters,
    /// Whether the dispatcher holds off (a person inspecting, or the demo staging edits).
    dispatch_paused: std::sync::atomic::AtomicBool,
    /// Held (shared) by every dispatcher pass; [`Runtime::drain`] takes it exclusively to
    /// wait for the passes in flight.
    dispatch_gate: Arc<tokio::sync::RwLock<()>>,
}

impl Runtime {
    /// A runtime over `parts` with `config`. Fails when a project names a site that is not
    /// among the parts, or two projects or sites share an id.
    pub fn new(parts: RuntimeParts, config: RuntimeConfig) -> Result<Arc<Runtime>, Error> {
        let mut sites = BTreeMap::new();
        for site in parts.sites {
            let name = site.name.clone();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(Error::Invalid(format!(
                    "the Jira site name {name:?} must be letters, digits, '-' or '_'"
                )));
            }
            let state = SiteState {
                site,
                our_account: OnceCell::new(),
            };
            if sites.insert(name.clone(), state).is_some() {
                return Err(Error::Invalid(format!("two Jira sites are named {name:?}")));
            }
        }
        let mut projects = BTreeMap::new();
        for p in &config.projects {
            if !sites.contains_key(&p.site) {
                return Err(Error::Invalid(format!(
                    "project {:?} names the Jira site {:?}, which is not configured",
                    p.project_id, p.site
                )));
            }
            if projects
                .insert(p.project_id.clone(), Arc::new(p.clone()))
                .is_some()
            {
                return Err(Error::Invalid(format!(
                    "two projects have the id {:?}",
                    p.project_id
                )));
            }
        }
        Ok(Arc::new(Runtime {
            store: parts.store,
            sites,
            projects: RwLock::new(projects),
            host: parts.host,
            clock: parts.clock,
            ids: parts.ids,
            config,
            inbox_wake: Notify::new(),
            dispatch_wake: Notify::new(),
            counters: Counters::default(),
            dispatch_paused: std::sync::atomic::AtomicBool::new(false),
            dispatch_gate: Arc::new(tokio::sync::RwLock::new(())),
        }))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The host.
    pub fn host(&self) -> &Arc<dyn Host> {
        &self.host
    }

    /// The names of the configured Jira sites.
    pub fn site_names(&self) -> Vec<String> {
        self.sites.keys().cloned().collect()
    }

    /// The Jira client of a site.
    pub fn jira(&self, site: &str) -> Result<&JiraClient, Error> {
        self.site(site).map(|s| &s.site.client)
    }

    /// The Jira client of a project's site.
    pub fn jira_for_project(&self, project_id: &str) -> Result<&JiraClient, Error> {
        let site = self.project(project_id)?.site.clone();
        self.jira(&site)
    }

    /// Jira API calls made so far, over every site.
    pub fn jira_calls(&self) -> u64 {
        self.sites
            .values()
            .map(|s| s.site.client.total_calls())
            .sum()
    }

    /// The site named `wanted`, or the only one (see [`choose_site`]).
    pub fn choose_site(&self, wanted: Option<&str>) -> Result<&str, SiteChoiceError> {
        choose_site(self.sites.keys().map(String::as_str), wanted)
    }

    fn site(&self, name: &str) -> Result<&SiteState, Error> {
        self.sites
            .get(name)
            .ok_or_else(|| Error::not_found("site", name))
    }

    /// A project's settings (with the mapping in force now).
    pub fn project(&self, project_id: &str) -> Result<Arc<ProjectConfig>, Error> {
        self.projects
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(project_id)
            .cloned()
            .ok_or_else(|| Error::not_found("project", project_id.to_string()))
    }

    /// Every project's settings, by project id.
    pub fn projects(&self) -> Vec<Arc<ProjectConfig>> {
        self.projects
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Puts a new mapping in force for a project's new links and observations (the caller
    /// records the change in the project's history and tells the existing links).
    pub fn set_mapping(&self, project_id: &str, mapping: ProjectMapping) -> Result<(), Error> {
        let mut projects = self.projects.write().unwrap_or_else(|p| p.into_inner());
        let p = projects
            .get_mut(project_id)
            .ok_or_else(|| Error::not_found("project", project_id.to_string()))?;
        let mut next = (**p).clone();
        next.mapping = mapping;
        *p = Arc::new(next);
        Ok(())
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// A fresh id with `prefix`.
    pub fn next_id(&self, prefix: &str) -> String {
        self.ids.next_id(prefix)
    }

    /// Holds the dispatcher (`true`) or lets it run again (`false`).
    pub fn set_dispatch_paused(&self, paused: bool) {
        self.dispatch_paused.store(paused, Ordering::SeqCst);
        if !paused {
            self.dispatch_wake.notify_one();
        }
    }

    /// Stops the dispatcher for good and waits, at most `grace`, for the passes in flight to
    /// finish (their results recorded, their leases released). Returns whether they did; work
    /// cut off by the deadline is leased again by whichever process runs after its lease
    /// expires, and the idempotency rules keep it from being done twice.
    pub async fn drain(&self, grace: std::time::Duration) -> bool {
        self.dispatch_paused.store(true, Ordering::SeqCst);
        tokio::time::timeout(grace, self.dispatch_gate.write())
            .await
            .is_ok()
    }

    /// The engine's own Jira account id on a site, read once from `/myself` (`None` when
    /// Jira does not tell it; changelog authorship is then unknown).
    async fn our_account(&self, site: &SiteState) -> Option<String> {
        site.our_account
            .get_or_init(|| async {
                match site.site.client.myself().await {
                    Ok(u) => u.account_id.or(u.name),
                    Err(e) => {
                        tracing::warn!(site = %site.site.name, error = %e, "cannot read the Jira account of the engine");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// The link of a Jira issue of `site`: the live one when the issue was linked several
    /// times; links of projects on other sites (whose issue ids may be equal) are skipped.
    pub async fn link_for_issue(
        &self,
        site: &str,
        issue_id: &str,
    ) -> Result<Option<sync_store::LinkView>, Error> {
        let links = self.store.links_by_issue(issue_id).await?;
        Ok(self.pick_link(links, |p| p.site == site))
    }

    /// The link of a work item: the live one when the item was linked several times.
    pub async fn link_for_item(
        &self,
        work_item_id: &str,
    ) -> Result<Option<sync_store::LinkView>, Error> {
        let links = self.store.links_by_work_item(work_item_id).await?;
        Ok(self.pick_link(links, |_| true))
    }

    fn pick_link(
        &self,
        links: Vec<sync_store::LinkView>,
        project_ok: impl Fn(&ProjectConfig) -> bool,
    ) -> Option<sync_store::LinkView> {
        let projects = self.projects.read().unwrap_or_else(|p| p.into_inner());
        let mut ours: Vec<sync_store::LinkView> = links
            .into_iter()
            .filter(|l| projects.get(&l.project_id).is_some_and(|p| project_ok(p)))
            .collect();
        // The live link wins; among unlinked ones, the newest.
        match ours.iter().position(|l| l.status != LinkStatus::Unlinked) {
            Some(i) => Some(ours.swap_remove(i)),
            None => ours.pop(),
        }
    }

    /// The observation context for a link of `project` whose marker label is `marker`.
    async fn observe_ctx<'a>(
        &self,
        project: &'a ProjectConfig,
        our_account: Option<&'a str>,
        marker: Option<&'a str>,
    ) -> Result<ObserveContext<'a>, Error> {
        let site = self.site(&project.site)?;
        Ok(ObserveContext {
            mapping: &project.mapping,
            flavor: site.site.client.flavor().await?,
            our_account,
            marker_label: marker,
        })
    }

    /// Reads a Jira issue of a project as an observation for a link with work item
    /// `work_item_id`.
    pub async fn read_issue(
        &self,
        project_id: &str,
        issue_id: &str,
        work_item_id: Option<&str>,
    ) -> Result<(JiraRef, JiraObservation), Error> {
        let project = self.project(project_id)?;
        let site = self.site(&project.site)?;
        let fields = fields_to_read(&project.mapping);
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let issue = site.site.client.get_issue(issue_id, &refs).await?;
        self.observe_read(project_id, &issue, work_item_id).await
    }

    /// A Jira issue already read with the project's mapped fields ([`fields_to_read`]: by
    /// [`Runtime::read_issue`], in a search page or in an edit's response) as an
    /// observation for a link with work item `work_item_id`.
    pub(crate) async fn observe_read(
        &self,
        project_id: &str,
        issue: &JiraIssue,
        work_item_id: Option<&str>,
    ) -> Result<(JiraRef, JiraObservation), Error> {
        let project = self.project(project_id)?;
        let site = self.site(&project.site)?;
        let jira = &site.site.client;
        let marker = work_item_id.map(|w| jira.marker_label(w));
        let account = self.our_account(site).await;
        let ctx = self
            .observe_ctx(&project, account.as_deref(), marker.as_deref())
            .await?;
        let (observed, skipped) = observe_issue(issue, &ctx);
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

    /// A host item as an observation: only the fields `project` maps.
    fn handoff_observation(project: &ProjectConfig, item: &HostItem) -> HandoffObservation {
        let values: BTreeMap<String, Value> = project
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
    ) -> Result<Vec<sync_domain::link::LinkEvent>, Error> {
        Ok(self.run_loaded(link_id, cmd, meta).await?.0)
    }

    /// [`Runtime::run`], also returning the link's state after the command.
    async fn run_loaded(
        &self,
        link_id: &str,
        cmd: LinkCommand,
        meta: &EventMetadata,
    ) -> Result<
        (
            Vec<sync_domain::link::LinkEvent>,
            Arc<sync_store::LoadedLink>,
        ),
        Error,
    > {
        let (events, loaded) = self
            .store
            .execute_loaded(link_id, cmd, meta, self.now())
            .await?;
        if events
            .iter()
            .any(|e| matches!(e, sync_domain::link::LinkEvent::IntentEmitted { .. }))
        {
            self.dispatch_wake.notify_one();
        }
        Ok((events, loaded))
    }

    /// Links a host item to a new Jira issue (the engine creates it): "push to Jira".
    /// Returns the link id; an item already linked returns its link.
    pub async fn push_item(&self, work_item_id: &str, actor: &str) -> Result<String, Error> {
        if let Some(v) = self.link_for_item(work_item_id).await? {
            if v.status != LinkStatus::Unlinked {
                return Ok(v.link_id);
            }
        }
        let item = self
            .host
            .get_item(work_item_id)
            .await?
            .ok_or_else(|| Error::not_found("work_item", work_item_id))?;
        let project = self.project(&item.project_id)?;
        let link_id = self.ids.next_id("link");
        let cmd = LinkCommand::CreateFromHandoff {
            cmd_id: self.ids.next_id("create"),
            project_id: project.project_id.clone(),
            work_item_id: work_item_id.to_string(),
            item: Self::handoff_observation(&project, &item),
            mapping: project.mapping.clone(),
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
    pub async fn import_issue(
        &self,
        project_id: &str,
        issue_id: &str,
        actor: &str,
    ) -> Result<String, Error> {
        let project = self.project(project_id)?;
        if let Some(v) = self.link_for_issue(&project.site, issue_id).await? {
            if v.status != LinkStatus::Unlinked {
                return Ok(v.link_id);
            }
        }
        let (issue, observed) = self.read_issue(project_id, issue_id, None).await?;
        // An issue asked for by key is stored by id: look again by its id.
        if issue.id != issue_id {
            if let Some(v) = self.link_for_issue(&project.site, &issue.id).await? {
                if v.status != LinkStatus::Unlinked {
                    return Ok(v.link_id);
                }
            }
        }
        self.import_observed(&project, issue, observed, actor).await
    }

    /// [`Runtime::import_issue`] of an issue found by `search` (made by
    /// [`Runtime::import_search`]): the same link, from the search result, without reading
    /// the issue again. When the search did not ask for every field the project maps now
    /// (the mapping changed since), the issue is read as [`Runtime::import_issue`] does.
    pub async fn import_found(
        &self,
        project_id: &str,
        search: &jira_adapter::client::SearchRequest,
        found: &JiraIssue,
        actor: &str,
    ) -> Result<String, Error> {
        let project = self.project(project_id)?;
        let complete = fields_to_read(&project.mapping)
            .iter()
            .all(|f| search.fields.contains(f));
        if !complete {
            return self.import_issue(project_id, &found.id, actor).await;
        }
        if let Some(v) = self.link_for_issue(&project.site, &found.id).await? {
            if v.status != LinkStatus::Unlinked {
                return Ok(v.link_id);
            }
        }
        let (issue, observed) = self.observe_read(project_id, found, None).await?;
        self.import_observed(&project, issue, observed, actor).await
    }

    /// The search request of an import by JQL: the project's mapped fields, so that each
    /// issue found is imported from its search result ([`Runtime::import_found`]).
    pub fn import_search(
        &self,
        project_id: &str,
        jql: &str,
    ) -> Result<jira_adapter::client::SearchRequest, Error> {
        let project = self.project(project_id)?;
        let fields = fields_to_read(&project.mapping);
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        Ok(jira_adapter::client::SearchRequest::new(jql, &refs))
    }

    async fn import_observed(
        &self,
        project: &ProjectConfig,
        issue: JiraRef,
        observed: JiraObservation,
        actor: &str,
    ) -> Result<String, Error> {
        let link_id = self.ids.next_id("link");
        let cmd = LinkCommand::CreateFromJira {
            cmd_id: self.ids.next_id("import"),
            project_id: project.project_id.clone(),
            issue,
            observed,
            mapping: project.mapping.clone(),
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
    ) -> Result<(), Error> {
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
    /// One query counted through indexes ([`sync_store::Store::pending_work`]): its cost
    /// grows with the waiting work, not with the number of links.
    pub async fn is_idle(&self) -> Result<bool, Error> {
        Ok(self.store.pending_work(self.now()).await?.is_idle())
    }
}
