//! Intake: Jira webhooks (verify → dedupe in the inbox → answer → process) and host
//! notifications (→ read the item → observe). Deliveries are processed from the inbox, so
//! one taken and not processed before a crash is processed after the restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use handoff_adapter::{
    from_inbox_body, inbox_body, verify_notification, HostError, HostNotification, NotificationKind,
};
use jira_adapter::observe::{observe_event, WebhookObservation};
use jira_adapter::webhook::{parse_event, verify_signature, InboxKey, JiraEvent};
use sync_domain::link::{LinkCommand, LinkStatus, ObservedComment};
use sync_domain::mapping::Side;
use sync_domain::DomainError;
use sync_store::{EventMetadata, InboxEntry, InboxInsert, RejectedDelivery, Source, StoreError};
use tokio::sync::broadcast;
use tracing::Instrument;

use super::{DeliveryOutcome, Error, Runtime, SiteChoiceError};

/// What became of a webhook delivery at intake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntakeOutcome {
    /// New: stored in the inbox, processed asynchronously.
    Accepted {
        /// Its delivery id.
        delivery_id: String,
    },
    /// Its delivery id was seen before: nothing to do.
    Duplicate {
        /// Its delivery id.
        delivery_id: String,
    },
}

/// Why a webhook delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The signature is missing or wrong: nothing was stored.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The body is not a Jira event (or host notification) we handle; it is kept in the
    /// rejected deliveries.
    #[error("malformed delivery: {0}")]
    Malformed(String),
    /// The delivery names a Jira site that is not configured (or names none while several
    /// are): nothing was stored.
    #[error("unknown Jira site: {0}")]
    UnknownSite(String),
    /// The store failed; the sender should retry.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl Runtime {
    /// Takes one Jira webhook delivery: verifies its signature (when a secret is set),
    /// refuses a body that is not a Jira event (kept for inspection), and stores it in the
    /// inbox unless its delivery id was seen before. Processing happens in the inbox worker.
    ///
    /// `site` names the Jira site the delivery came from; `None` means the only configured
    /// site (an error when there are several).
    pub async fn receive_jira_webhook(
        &self,
        site: Option<&str>,
        signature: Option<&str>,
        delivery_id: Option<&str>,
        body: &[u8],
    ) -> Result<IntakeOutcome, IntakeError> {
        let now = self.now();
        let site = match self.choose_site(site) {
            Ok(name) => &self.sites[name],
            Err(e @ SiteChoiceError::Several(_)) => {
                return Err(IntakeError::UnknownSite(format!(
                    "{e}: post to /api/webhooks/jira/{{site}}"
                )))
            }
            Err(e) => return Err(IntakeError::UnknownSite(e.to_string())),
        };
        if let Some(secret) = &site.site.webhook_secret {
            if let Err(e) = verify_signature(secret, body, signature) {
                self.record_delivery("jira", DeliveryOutcome::Rejected);
                return Err(IntakeError::BadSignature(e.to_string()));
            }
        }
        if let Err(e) = parse_event(body, delivery_id) {
            return Err(self
                .reject_malformed(Source::Jira, delivery_id, &e.to_string(), body)
                .await);
        }
        let text = String::from_utf8_lossy(body).into_owned();
        // Without Jira's identifier there is no dedupe key: the delivery is taken as new
        // (the domain still drops it as stale by version).
        let delivery_id = delivery_id
            .map(str::to_string)
            .unwrap_or_else(|| self.ids.next_id("jira-nodelivery"));
        // Delivery ids are unique per site: the inbox key carries the site.
        let key = InboxKey::new(&site.site.name, &delivery_id).to_string();
        match self
            .store
            .inbox_insert(&key, Source::Jira, &text, now)
            .await?
        {
            InboxInsert::Inserted => {
                self.record_delivery("jira", DeliveryOutcome::Received);
                self.counters.delivered(&site.site.name, now);
                self.inbox_wake.notify_one();
                Ok(IntakeOutcome::Accepted { delivery_id })
            }
            InboxInsert::Duplicate => {
                self.record_delivery("jira", DeliveryOutcome::Duplicate);
                Ok(IntakeOutcome::Duplicate { delivery_id })
            }
        }
    }

    /// Takes one signed host notification as delivered over HTTP: verifies its signature
    /// with `secret` (nothing is stored when it is missing or wrong), keeps a body that is
    /// not a notification of the contract's shape in the rejected deliveries, and otherwise
    /// takes it as [`Runtime::receive_host_notification`] does.
    pub async fn receive_host_delivery(
        &self,
        secret: &[u8],
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<IntakeOutcome, IntakeError> {
        match verify_notification(secret, body, signature) {
            Ok(n) => self.receive_host_notification(&n).await,
            Err(HostError::MissingSignature | HostError::BadSignature) => {
                self.record_delivery("handoff", DeliveryOutcome::Rejected);
                Err(IntakeError::BadSignature(
                    "the notification's signature is missing or does not match".into(),
                ))
            }
            Err(e) => Err(self
                .reject_malformed(Source::Handoff, None, &e.to_string(), body)
                .await),
        }
    }

    /// A delivery whose body is not what its source sends: counted, kept in the rejected
    /// deliveries for inspection, and answered as malformed (or as a store failure).
    async fn reject_malformed(
        &self,
        source: Source,
        delivery_id: Option<&str>,
        reason: &str,
        body: &[u8],
    ) -> IntakeError {
        self.record_delivery(source.as_str(), DeliveryOutcome::Rejected);
        let kept = self
            .store
            .inbox_reject(&RejectedDelivery {
                source,
                delivery_id: delivery_id.map(str::to_string),
                reason: reason.to_string(),
                body: String::from_utf8_lossy(body).into_owned(),
                received_at: self.now(),
            })
            .await;
        match kept {
            Ok(()) => IntakeError::Malformed(reason.to_string()),
            Err(e) => IntakeError::Store(e),
        }
    }

    /// Takes one host notification into the inbox (deduped by its delivery id).
    pub async fn receive_host_notification(
        &self,
        n: &HostNotification,
    ) -> Result<IntakeOutcome, IntakeError> {
        let delivery_id = match &n.delivery_id {
            Some(d) => format!("handoff:{d}"),
            None => self.ids.next_id("handoff-nodelivery"),
        };
        let body = inbox_body(n);
        match self
            .store
            .inbox_insert(&delivery_id, Source::Handoff, &body, self.now())
            .await?
        {
            InboxInsert::Inserted => {
                self.record_delivery("handoff", DeliveryOutcome::Received);
                self.inbox_wake.notify_one();
                Ok(IntakeOutcome::Accepted { delivery_id })
            }
            InboxInsert::Duplicate => {
                self.record_delivery("handoff", DeliveryOutcome::Duplicate);
                Ok(IntakeOutcome::Duplicate { delivery_id })
            }
        }
    }

    /// Processes the unprocessed deliveries of the inbox, oldest first. Returns how many.
    ///
    /// The deliveries of one batch about the same record (a Jira issue of a site, a host
    /// item) are processed one after another in the order received; those about different
    /// records at the same time, up to `RuntimeConfig::inbox_concurrency` groups at once (each
    /// command still runs against its link's sequence, so two deliveries that reach one link
    /// through both sides are ordered by the store's check). With a concurrency of 1 the
    /// groups run one after another, in the order of the batch.
    pub async fn process_inbox(self: &Arc<Self>) -> Result<usize, Error> {
        let mut done = 0;
        loop {
            let batch = self.store.inbox_unprocessed(64).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let mut groups: Vec<Vec<(InboxEntry, Delivery)>> = Vec::new();
            let mut by_key: HashMap<String, usize> = HashMap::new();
            for entry in batch {
                let delivery = Delivery::read(&entry);
                let entry = (entry, delivery);
                match entry.1.record() {
                    Some(key) => match by_key.get(&key) {
                        Some(&i) => groups[i].push(entry),
                        None => {
                            by_key.insert(key, groups.len());
                            groups.push(vec![entry]);
                        }
                    },
                    None => groups.push(vec![entry]),
                }
            }
            let limit = self.config.inbox_concurrency.max(1);
            let mut failed = None;
            if limit == 1 {
                // One group after another on this task: the order of every store call and
                // Jira read is the batch's (what a deterministic simulation needs).
                for group in groups {
                    let (n, r) = self.process_group(group).await;
                    done += n;
                    if let Err(e) = r {
                        failed.get_or_insert(e);
                    }
                }
            } else {
                let mut tasks = tokio::task::JoinSet::new();
                let mut groups = groups.into_iter();
                loop {
                    while tasks.len() < limit {
                        let Some(group) = groups.next() else { break };
                        let rt = self.clone();
                        tasks.spawn(async move { rt.process_group(group).await });
                    }
                    let Some(r) = tasks.join_next().await else {
                        break;
                    };
                    match r {
                        Ok((n, r)) => {
                            done += n;
                            if let Err(e) = r {
                                failed.get_or_insert(e);
                            }
                        }
                        Err(e) => {
                            self.record_error();
                            tracing::warn!(error = %e, "delivery task");
                        }
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
    }

    /// Processes deliveries in order, marking each processed; stops at the first failure to
    /// mark one. Returns how many were marked.
    async fn process_group(
        &self,
        group: Vec<(InboxEntry, Delivery)>,
    ) -> (usize, Result<(), Error>) {
        let mut done = 0;
        for (entry, delivery) in group {
            // One span per delivery; its id is the correlation id of the commands it causes
            // (see the events' metadata).
            let span = tracing::info_span!(
                "delivery",
                delivery = %entry.delivery_id,
                source = entry.source.as_str(),
                correlation_id = %entry.delivery_id,
            );
            let outcome = match self.process_entry(&entry, delivery).instrument(span).await {
                Ok(o) => o,
                Err(e) => {
                    self.record_error();
                    tracing::warn!(delivery = %entry.delivery_id, error = %e, "delivery failed");
                    format!("error: {e}")
                }
            };
            tracing::debug!(delivery = %entry.delivery_id, %outcome, "delivery processed");
            if let Err(e) = self
                .store
                .inbox_mark_processed(&entry.delivery_id, &outcome, self.now())
                .await
            {
                return (done, Err(e.into()));
            }
            done += 1;
        }
        (done, Ok(()))
    }

    async fn process_entry(&self, entry: &InboxEntry, delivery: Delivery) -> Result<String, Error> {
        match delivery {
            Delivery::Jira {
                site,
                delivery_id,
                event,
            } => match event {
                Ok(event) => {
                    self.process_jira(site.as_deref(), &delivery_id, &event)
                        .await
                }
                Err(e) => Ok(format!("malformed: {e}")),
            },
            Delivery::Handoff(Ok(n)) => self.process_notification(&entry.delivery_id, &n).await,
            Delivery::Handoff(Err(e)) => Ok(format!("unreadable notification: {e}")),
            Delivery::Other(source) => Ok(format!("ignored: source {}", source.as_str())),
        }
    }

    async fn process_jira(
        &self,
        site: Option<&str>,
        delivery_id: &str,
        event: &JiraEvent,
    ) -> Result<String, Error> {
        let Ok(site_name) = self.choose_site(site).map(str::to_string) else {
            return Ok("no site".into());
        };
        let Some(link) = self.link_for_issue(&site_name, &event.issue.id).await? else {
            return Ok("no link".into());
        };
        if link.status == LinkStatus::Unlinked {
            return Ok("link unlinked".into());
        }
        let project = self.project(&link.project_id)?;
        let site_state = self.site(&project.site)?;
        let marker = link
            .work_item_id
            .as_deref()
            .map(|w| site_state.site.client.marker_label(w));
        let account = self.our_account(site_state).await;
        let ctx = self
            .observe_ctx(&project, account.as_deref(), marker.as_deref())
            .await?;
        let observation = observe_event(event, &ctx)?;
        let at = self.now();
        let cmd_id = self.ids.next_id("jira");
        let (cmd, what) = match observation {
            WebhookObservation::Issue {
                observed, skipped, ..
            } => {
                for (field, reason) in skipped {
                    tracing::warn!(%delivery_id, %field, %reason, "a mapped Jira field could not be read");
                }
                (
                    LinkCommand::ObserveJira {
                        cmd_id,
                        observed,
                        delivery_id: Some(delivery_id.to_string()),
                        at,
                    },
                    "observed issue",
                )
            }
            WebhookObservation::Comment { comment, .. } => (
                LinkCommand::ObserveComment {
                    cmd_id,
                    side: Side::Jira,
                    comment,
                    at,
                },
                "observed comment",
            ),
            WebhookObservation::IssueDeleted { .. } => (
                LinkCommand::RemoteDeleted {
                    cmd_id,
                    side: Side::Jira,
                    delivery_id: Some(delivery_id.to_string()),
                    at,
                },
                "issue deleted",
            ),
        };
        let meta = EventMetadata {
            source: Source::Jira,
            actor: event
                .actor
                .as_ref()
                .and_then(|u| u.display_name.clone().or(u.account_id.clone())),
            delivery_id: Some(delivery_id.to_string()),
            correlation_id: Some(delivery_id.to_string()),
        };
        self.run_observation(&link.link_id, cmd, &meta, what).await
    }

    async fn process_notification(
        &self,
        delivery_id: &str,
        n: &HostNotification,
    ) -> Result<String, Error> {
        let Some(link) = self.link_for_item(&n.item_id).await? else {
            return Ok("no link".into());
        };
        if link.status == LinkStatus::Unlinked {
            return Ok("link unlinked".into());
        }
        let at = self.now();
        let cmd_id = self.ids.next_id("handoff");
        let (cmd, what) = match &n.kind {
            NotificationKind::ItemCreated | NotificationKind::ItemUpdated => {
                match self.host.get_item(&n.item_id).await? {
                    Some(item) => (
                        LinkCommand::ObserveHandoff {
                            cmd_id,
                            observed: Self::handoff_observation(
                                &*self.project(&link.project_id)?,
                                &item,
                            ),
                            delivery_id: Some(delivery_id.to_string()),
                            at,
                        },
                        "observed item",
                    ),
                    None => (
                        LinkCommand::RemoteDeleted {
                            cmd_id,
                            side: Side::Handoff,
                            delivery_id: Some(delivery_id.to_string()),
                            at,
                        },
                        "item deleted",
                    ),
                }
            }
            NotificationKind::ItemDeleted => (
                LinkCommand::RemoteDeleted {
                    cmd_id,
                    side: Side::Handoff,
                    delivery_id: Some(delivery_id.to_string()),
                    at,
                },
                "item deleted",
            ),
            NotificationKind::CommentCreated | NotificationKind::CommentUpdated => {
                let Some(comment_id) = &n.comment_id else {
                    return Ok("comment notification without a comment id".into());
                };
                let comments = self.host.list_comments(&n.item_id).await?;
                let Some(c) = comments.into_iter().find(|c| &c.id == comment_id) else {
                    return Ok("comment not found".into());
                };
                (
                    LinkCommand::ObserveComment {
                        cmd_id,
                        side: Side::Handoff,
                        comment: ObservedComment {
                            id: c.id,
                            author: c.author,
                            body: c.body,
                            mirror_of: c.origin,
                            deleted: false,
                        },
                        at,
                    },
                    "observed comment",
                )
            }
            NotificationKind::Other(kind) => return Ok(format!("ignored: {kind}")),
        };
        let meta = EventMetadata {
            source: Source::Handoff,
            actor: n.actor.clone(),
            delivery_id: Some(delivery_id.to_string()),
            correlation_id: Some(delivery_id.to_string()),
        };
        self.run_observation(&link.link_id, cmd, &meta, what).await
    }

    async fn run_observation(
        &self,
        link_id: &str,
        cmd: LinkCommand,
        meta: &EventMetadata,
        what: &str,
    ) -> Result<String, Error> {
        match self.run(link_id, cmd, meta).await {
            Ok(events) => Ok(format!("{what}: {} events", events.len())),
            Err(e) if matches!(e.domain(), Some(DomainError::LinkUnlinked)) => {
                Ok("link unlinked".into())
            }
            Err(e) => Err(e),
        }
    }
}

/// A stored delivery, read once: what it is about and what it says.
enum Delivery {
    /// A Jira webhook of `site` (`None`: stored before keys named the site).
    Jira {
        site: Option<String>,
        delivery_id: String,
        event: Result<Box<JiraEvent>, String>,
    },
    /// A host notification.
    Handoff(Result<HostNotification, String>),
    /// From a source the inbox does not process.
    Other(Source),
}

impl Delivery {
    fn read(entry: &InboxEntry) -> Delivery {
        match entry.source {
            Source::Jira => {
                let key = InboxKey::parse(&entry.delivery_id);
                Delivery::Jira {
                    site: key.site.map(str::to_string),
                    delivery_id: key.delivery_id.to_string(),
                    event: parse_event(entry.body.as_bytes(), Some(key.delivery_id))
                        .map(Box::new)
                        .map_err(|e| e.to_string()),
                }
            }
            Source::Handoff => {
                Delivery::Handoff(from_inbox_body(&entry.body).map_err(|e| e.to_string()))
            }
            other => Delivery::Other(other),
        }
    }

    /// The record it is about, for ordering: a Jira issue of a site or a host item; `None`
    /// when it does not say (such a delivery is ordered with nothing).
    fn record(&self) -> Option<String> {
        match self {
            Delivery::Jira {
                site, event: Ok(e), ..
            } => Some(format!(
                "jira:{}:{}",
                site.as_deref().unwrap_or(""),
                e.issue.id
            )),
            Delivery::Handoff(Ok(n)) => Some(format!("handoff:{}", n.item_id)),
            _ => None,
        }
    }
}

/// Processes the inbox whenever a delivery arrives (and every second, to pick up deliveries
/// another process or an earlier run stored).
pub(super) async fn inbox_worker(rt: Arc<Runtime>) {
    loop {
        if let Err(e) = rt.process_inbox().await {
            rt.record_error();
            tracing::warn!(error = %e, "inbox worker");
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), rt.inbox_wake.notified()).await;
    }
}

/// Takes the host's notifications into the inbox; when it missed some (a slow receiver),
/// polls the host's change feed instead, which never skips a change.
pub(super) async fn notification_worker(
    rt: Arc<Runtime>,
    mut rx: broadcast::Receiver<HostNotification>,
) {
    loop {
        match rx.recv().await {
            Ok(n) => {
                if let Err(e) = rt.receive_host_notification(&n).await {
                    rt.record_error();
                    tracing::warn!(error = %e, "host notification");
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "host notifications missed; polling the host");
                if let Err(e) = rt.poll_host_once().await {
                    rt.record_error();
                    tracing::warn!(error = %e, "host poll");
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
