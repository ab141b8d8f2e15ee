//! The scheduled jobs: the incremental Jira poll of each project (the fallback for lost
//! webhooks), the full reconciliation (finds deletions and drift on both sides), the host
//! poll for hosts that cannot post notifications, and the dynamic-webhook keeper (registers
//! the engine's Jira Cloud webhook and refreshes it before its 30-day expiry).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jira_adapter::client::{SearchRequest, WebhookRegistration};
use jira_adapter::error::{ErrorClass as JiraClass, JiraError};
use jira_adapter::observe::{fields_to_read, observe_issue};
use sync_domain::link::{LinkCommand, LinkEvent};
use sync_domain::mapping::Side;
use sync_domain::DomainError;
use sync_store::{EventMetadata, LinkView, Source};
use tokio::task::JoinHandle;

use super::{Error, ProjectConfig, Runtime};

/// How often the background jobs of one project run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The project.
    pub project_id: String,
    /// The incremental Jira poll (default 5 minutes); `None` turns it off.
    pub poll_every: Option<Duration>,
    /// The full reconciliation (default daily); `None` turns it off.
    pub reconcile_every: Option<Duration>,
    /// The host's change feed, for hosts that cannot post notifications; `None` (the
    /// default) when the host notifies.
    pub host_poll_every: Option<Duration>,
}

impl Schedule {
    /// The defaults: poll every 5 minutes, reconcile daily, no host poll.
    pub fn new(project_id: &str) -> Schedule {
        Schedule {
            project_id: project_id.to_string(),
            poll_every: Some(Duration::from_secs(300)),
            reconcile_every: Some(Duration::from_secs(86_400)),
            host_poll_every: None,
        }
    }
}

/// The engine's dynamic webhook on one Jira Cloud site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookKeeper {
    /// The site.
    pub site: String,
    /// The public URL Jira delivers to (`https://sync.example.com/api/webhooks/jira/{site}`).
    pub url: String,
    /// How often the registration is checked and refreshed (default 12 hours).
    pub every: Duration,
}

/// The events the engine's dynamic webhook subscribes to.
pub const WEBHOOK_EVENTS: [&str; 6] = [
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
];

/// What one reconciliation of a project found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Live links looked at.
    pub links: usize,
    /// Issues read back from Jira (their current values fed to their links).
    pub issues_seen: usize,
    /// Linked issues Jira no longer has: their links were unlinked.
    pub issues_deleted: usize,
    /// Host items read back.
    pub items_seen: usize,
    /// Linked items the host no longer has: their links were unlinked.
    pub items_deleted: usize,
    /// Links whose observation changed something (drift the webhooks and polls missed).
    pub drifted: usize,
}

impl Runtime {
    /// The live links of a project.
    async fn links_to_reconcile(&self, project_id: &str) -> Result<Vec<LinkView>, Error> {
        Ok(self.store.live_links(project_id).await?)
    }

    /// A full reconciliation of a project: every issue of its Jira project is read (paged
    /// search) and fed to its link; a linked issue the search no longer returns is looked up,
    /// and when Jira answers 404 its link is unlinked; every linked host item is read, and
    /// one the host no longer has unlinks its link. The domain drops what it has already
    /// seen, so only drift produces events.
    pub async fn reconcile_project(&self, project_id: &str) -> Result<ReconcileReport, Error> {
        let project = self.project(project_id)?;
        let site = self.site(&project.site)?;
        let jira = &site.site.client;
        let account = self.our_account(site).await;
        let links = self.links_to_reconcile(project_id).await?;
        let mut report = ReconcileReport {
            links: links.len(),
            ..ReconcileReport::default()
        };
        let fields = fields_to_read(&project.mapping);
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let jql = format!("project = {} ORDER BY key ASC", project.jira_project_key);
        let issues = jira.search_all(&SearchRequest::new(&jql, &refs)).await?;
        let mut found = BTreeSet::new();
        for issue in &issues {
            found.insert(issue.id.clone());
            let Some(link) = links
                .iter()
                .find(|l| l.issue_id.as_deref() == Some(&issue.id))
            else {
                continue;
            };
            let marker = link.work_item_id.as_deref().map(|w| jira.marker_label(w));
            let ctx = self
                .observe_ctx(&project, account.as_deref(), marker.as_deref())
                .await?;
            let (observed, _) = observe_issue(issue, &ctx);
            let cmd = LinkCommand::ObserveJira {
                cmd_id: self.ids.next_id("reconcile"),
                observed,
                delivery_id: None,
                at: self.now(),
            };
            report.issues_seen += 1;
            if self.run_reconcile(&link.link_id, cmd, Source::Jira).await? {
                report.drifted += 1;
            }
            if self
                .observe_jira_comments(&link.link_id, &issue.id, jira)
                .await?
                > 0
            {
                report.drifted += 1;
            }
        }
        for link in &links {
            let Some(issue_id) = &link.issue_id else {
                continue;
            };
            if found.contains(issue_id) {
                continue;
            }
            // Not in the project's search: moved, hidden, or deleted. Only a 404 unlinks.
            match jira.get_issue(issue_id, &["updated"]).await {
                Err(e) if e.class() == JiraClass::NotFound => {
                    let cmd = LinkCommand::RemoteDeleted {
                        cmd_id: self.ids.next_id("reconcile-gone"),
                        side: Side::Jira,
                        delivery_id: None,
                        at: self.now(),
                    };
                    self.run_reconcile(&link.link_id, cmd, Source::Jira).await?;
                    report.issues_deleted += 1;
                }
                Err(e) => return Err(e.into()),
                Ok(_) => {
                    tracing::info!(issue = %issue_id, "a linked issue is outside its project's search");
                }
            }
        }
        self.reconcile_host(&project, &links, &mut report).await?;
        tracing::info!(project = %project_id, ?report, "reconciliation");
        Ok(report)
    }

    async fn reconcile_host(
        &self,
        project: &ProjectConfig,
        links: &[LinkView],
        report: &mut ReconcileReport,
    ) -> Result<(), Error> {
        for link in links {
            let Some(item_id) = &link.work_item_id else {
                continue;
            };
            let cmd = match self.host.get_item(item_id).await? {
                Some(item) => {
                    report.items_seen += 1;
                    if self.observe_host_comments(&link.link_id, item_id).await? > 0 {
                        report.drifted += 1;
                    }
                    LinkCommand::ObserveHandoff {
                        cmd_id: self.ids.next_id("reconcile"),
                        observed: Self::handoff_observation(project, &item),
                        delivery_id: None,
                        at: self.now(),
                    }
                }
                None => {
                    report.items_deleted += 1;
                    LinkCommand::RemoteDeleted {
                        cmd_id: self.ids.next_id("reconcile-gone"),
                        side: Side::Handoff,
                        delivery_id: None,
                        at: self.now(),
                    }
                }
            };
            if self
                .run_reconcile(&link.link_id, cmd, Source::Handoff)
                .await?
            {
                report.drifted += 1;
            }
        }
        Ok(())
    }

    /// Runs a reconciliation command; `true` when it changed the link. A link unlinked
    /// meanwhile is skipped.
    async fn run_reconcile(
        &self,
        link_id: &str,
        cmd: LinkCommand,
        source: Source,
    ) -> Result<bool, Error> {
        let meta = EventMetadata::new(source).correlation(format!("reconcile:{link_id}"));
        match self.run(link_id, cmd, &meta).await {
            // Observations are recorded even when they change nothing; drift is anything else.
            Ok(events) => Ok(events.iter().any(|e| {
                !matches!(
                    e,
                    LinkEvent::HandoffObserved { .. }
                        | LinkEvent::JiraObserved { .. }
                        | LinkEvent::ObservationStale { .. }
                )
            })),
            Err(e) if matches!(e.domain(), Some(DomainError::LinkUnlinked)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Makes sure the engine's dynamic webhook is registered on the keeper's site for every
    /// project on it, and refreshes registrations expiring within two weeks. Returns the
    /// webhook ids in force.
    pub async fn keep_webhook(&self, keeper: &WebhookKeeper) -> Result<Vec<i64>, Error> {
        let jira = self.jira(&keeper.site)?;
        let keys: Vec<String> = self
            .projects()
            .iter()
            .filter(|p| p.site == keeper.site)
            .map(|p| p.jira_project_key.clone())
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let jql = format!("project in ({})", keys.join(", "));
        let ours: Vec<_> = jira
            .list_webhooks()
            .await?
            .into_iter()
            .filter(|w| w.url.as_deref().is_none_or(|u| u == keeper.url))
            .collect();
        let mut ids: Vec<i64> = ours
            .iter()
            .filter(|w| w.jql_filter == jql)
            .map(|w| w.id)
            .collect();
        if ids.is_empty() {
            match jira
                .register_webhook(&keeper.url, &jql, &WEBHOOK_EVENTS, &[])
                .await?
            {
                WebhookRegistration::Created(id) => {
                    tracing::info!(site = %keeper.site, id, %jql, "dynamic webhook registered");
                    ids.push(id);
                }
                WebhookRegistration::Rejected(errors) => {
                    return Err(Error::Jira(JiraError::Config(format!(
                        "Jira refused the webhook registration: {}",
                        errors.join("; ")
                    ))));
                }
            }
        }
        let now =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.now()) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let expiring: Vec<i64> = ours
            .iter()
            .filter(|w| ids.contains(&w.id) && w.needs_refresh(now, time::Duration::days(14)))
            .map(|w| w.id)
            .collect();
        if !expiring.is_empty() {
            let until = jira.refresh_webhooks(&expiring).await?;
            tracing::info!(site = %keeper.site, ?expiring, ?until, "dynamic webhooks refreshed");
        }
        Ok(ids)
    }

    /// Starts the scheduled jobs: per project the incremental poll, the reconciliation and
    /// the host poll at their intervals, and the webhook keepers. Each job's first run is
    /// one interval after the start (the keepers run at once). They run until the handles
    /// are aborted.
    pub fn start_schedulers(
        self: &Arc<Self>,
        schedules: &[Schedule],
        keepers: &[WebhookKeeper],
    ) -> Vec<JoinHandle<()>> {
        let mut v = Vec::new();
        for s in schedules {
            for (every, job) in [
                (s.poll_every, ProjectJob::JiraPoll),
                (s.reconcile_every, ProjectJob::Reconcile),
                (s.host_poll_every, ProjectJob::HostPoll),
            ] {
                let Some(every) = every else { continue };
                let rt = self.clone();
                let project = s.project_id.clone();
                v.push(tokio::spawn(every_interval(
                    every,
                    false,
                    move || {
                        let rt = rt.clone();
                        let project = project.clone();
                        async move { rt.run_project_job(job, &project).await }
                    },
                    self.clone(),
                    job.name(),
                )));
            }
        }
        for k in keepers {
            let rt = self.clone();
            let keeper = k.clone();
            v.push(tokio::spawn(every_interval(
                k.every,
                true,
                move || {
                    let rt = rt.clone();
                    let keeper = keeper.clone();
                    async move { rt.keep_webhook(&keeper).await.map(|_| ()) }
                },
                self.clone(),
                "webhook keeper",
            )));
        }
        v
    }
}

/// A scheduled job of one project.
#[derive(Clone, Copy, Debug)]
enum ProjectJob {
    JiraPoll,
    Reconcile,
    HostPoll,
}

impl ProjectJob {
    fn name(self) -> &'static str {
        match self {
            ProjectJob::JiraPoll => "jira poll",
            ProjectJob::Reconcile => "reconciliation",
            ProjectJob::HostPoll => "host poll",
        }
    }
}

impl Runtime {
    async fn run_project_job(&self, job: ProjectJob, project_id: &str) -> Result<(), Error> {
        let p = self.project(project_id)?;
        match job {
            ProjectJob::JiraPoll => self.poll_jira_project(&p).await.map(|_| ()),
            ProjectJob::Reconcile => self.reconcile_project(project_id).await.map(|_| ()),
            ProjectJob::HostPoll => self.poll_host_project(&p).await.map(|_| ()),
        }
    }
}

/// Runs `job` every `every` (at once first when `now` is set); a failure is logged and
/// counted, and the next run comes at the next tick.
async fn every_interval<F, Fut>(
    every: Duration,
    now: bool,
    mut job: F,
    rt: Arc<Runtime>,
    what: &'static str,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let start = if now {
        tokio::time::Instant::now()
    } else {
        tokio::time::Instant::now() + every
    };
    let mut ticks = tokio::time::interval_at(start, every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = job().await {
            rt.record_error();
            tracing::warn!(job = what, error = %e, "scheduled job failed");
        }
    }
}
