//! The dispatcher: leases links with due intents, carries each intent out through the
//! adapters, and feeds the result back to the link as a command.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use handoff_adapter::{HostError, HostErrorClass};
use jira_adapter::client::NewIssue;
use jira_adapter::error::{ErrorClass as JiraClass, JiraError};
use jira_adapter::observe::{fields_to_read, mirror_footer, split_mirror_footer};
use jira_adapter::write::field_changes;
use sync_domain::link::{
    DispatchOutcome, ErrorClass, Intent, IntentAction, JiraObservation, LinkCommand, LinkEvent,
    LinkState,
};
use sync_domain::mapping::Side;
use sync_store::{AttemptOutcome, EventMetadata, LeasedIntent, Source, SyncAttempt};
use tracing::Instrument;

use super::{Error, Runtime};

/// What one dispatcher pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Intents attempted.
    pub attempted: usize,
    /// Attempts that succeeded.
    pub succeeded: usize,
    /// Attempts that failed.
    pub failed: usize,
}

/// Why an action failed, as the domain classifies it.
enum Failure {
    /// The remote record is gone (404): the link is unlinked.
    Gone(Side, String),
    /// A failure the domain's retry rules handle.
    Class(ErrorClass, String),
}

fn from_jira(e: JiraError) -> Failure {
    let msg = e.to_string();
    match e.class() {
        JiraClass::NotFound => Failure::Gone(Side::Jira, msg),
        JiraClass::Retryable { retry_after_ms } => {
            Failure::Class(ErrorClass::Retryable { retry_after_ms }, msg)
        }
        JiraClass::Auth => Failure::Class(ErrorClass::Auth, msg),
        JiraClass::Permanent => Failure::Class(ErrorClass::Permanent, msg),
    }
}

/// A read-back that failed after the write landed.
fn read_failure(e: Error) -> Failure {
    match e {
        Error::Jira(j) => from_jira(j),
        other => Failure::Class(
            ErrorClass::Retryable {
                retry_after_ms: None,
            },
            other.to_string(),
        ),
    }
}

fn from_host(e: HostError) -> Failure {
    let msg = e.to_string();
    match e.class() {
        HostErrorClass::NotFound => Failure::Gone(Side::Handoff, msg),
        HostErrorClass::Retryable { retry_after_ms } => {
            Failure::Class(ErrorClass::Retryable { retry_after_ms }, msg)
        }
        HostErrorClass::VersionConflict => Failure::Class(ErrorClass::VersionConflict, msg),
        HostErrorClass::Auth => Failure::Class(ErrorClass::Auth, msg),
        HostErrorClass::Permanent => Failure::Class(ErrorClass::Permanent, msg),
    }
}

/// What a successful action produced, and the issue as read back after a Jira write.
struct Done {
    outcome: DispatchOutcome,
    read_back: Option<JiraObservation>,
}

impl Runtime {
    /// One dispatcher pass: leases up to `limit` links with a due intent and carries out the
    /// first due intent of each, concurrently across links.
    pub async fn dispatch_once(self: &Arc<Self>, limit: u32) -> Result<DispatchReport, Error> {
        let mut tasks = tokio::task::JoinSet::new();
        self.lease_and_spawn(limit, &mut tasks).await?;
        let mut report = DispatchReport::default();
        while let Some(r) = tasks.join_next().await {
            self.count_task(r, &mut report);
        }
        Ok(report)
    }

    /// Leases up to `limit` links with a due intent and spawns the dispatch of each into
    /// `tasks`. Returns how many were leased. The tasks hold the dispatch gate (shared) until
    /// they end, so that a drain waits for them; nothing is leased while paused.
    async fn lease_and_spawn(
        self: &Arc<Self>,
        limit: u32,
        tasks: &mut tokio::task::JoinSet<Result<Option<bool>, Error>>,
    ) -> Result<usize, Error> {
        let pass = Arc::new(self.dispatch_gate.clone().read_owned().await);
        if self.dispatch_paused.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let leased = self
            .store
            .lease_due(&self.config.owner, self.now(), self.config.lease_ms, limit)
            .await?;
        let n = leased.len();
        for l in leased {
            let rt = self.clone();
            let pass = pass.clone();
            // One span per intent; the intent id is the correlation id of its commands.
            let span = tracing::info_span!(
                "intent",
                intent = %l.queued.intent.id,
                link = %l.queued.link_id,
                kind = l.queued.intent.action.kind(),
                attempt = l.queued.attempts + 1,
                correlation_id = %l.queued.intent.id,
            );
            tasks.spawn(async move {
                let link_id = l.queued.link_id.clone();
                let r = rt.dispatch_leased(&l).instrument(span).await;
                // The lease ends whatever happened; an expired lease frees it anyway.
                if let Err(e) = rt.store.release(&link_id, &rt.config.owner).await {
                    tracing::warn!(link = %link_id, error = %e, "cannot release the lease");
                }
                drop(pass);
                r
            });
        }
        Ok(n)
    }

    /// Adds a finished dispatch task to a report.
    fn count_task(
        &self,
        r: Result<Result<Option<bool>, Error>, tokio::task::JoinError>,
        report: &mut DispatchReport,
    ) {
        match r {
            Ok(Ok(Some(ok))) => {
                report.attempted += 1;
                if ok {
                    report.succeeded += 1;
                } else {
                    report.failed += 1;
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                self.record_error();
                tracing::warn!(error = %e, "dispatch");
            }
            Err(e) => {
                self.record_error();
                tracing::warn!(error = %e, "dispatch task");
            }
        }
    }

    /// Carries out one leased intent. `Some(true)` when it succeeded, `Some(false)` when it
    /// failed, `None` when it was no longer wanted.
    async fn dispatch_leased(&self, l: &LeasedIntent) -> Result<Option<bool>, Error> {
        let link_id = &l.queued.link_id;
        let intent = &l.queued.intent;
        let correlation = intent.id.clone();
        let meta = EventMetadata {
            correlation_id: Some(correlation),
            ..EventMetadata::new(Source::System)
        };
        let started = LinkCommand::DispatchStarted {
            cmd_id: self.ids.next_id("start"),
            intent_id: intent.id.clone(),
            at: self.now(),
        };
        // No `IntentStarted` event means the intent had been started before and never
        // finished: an earlier run was cut short (the process stopped mid-call), so its
        // write may have landed. Such a run, like a retry after a failure, looks for the
        // earlier write before making one that is not idempotent (a create, a comment).
        let (may_have_landed, loaded) = match self.run_loaded(link_id, started, &meta).await {
            Ok((events, loaded)) => (events.is_empty() || l.queued.attempts > 0, loaded),
            // Superseded or withdrawn since it was queued: nothing to do.
            Err(e) if e.domain().is_some() => {
                self.record_superseded(intent.action.kind());
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let state = &loaded.state;
        let started_at = self.now();
        let result = self.perform(state, intent, may_have_landed).await;
        let duration_ms = u64::try_from(self.now() - started_at).unwrap_or(0);
        let at = self.now();
        let (cmd, error) = match &result {
            Ok(done) => (
                LinkCommand::DispatchSucceeded {
                    cmd_id: self.ids.next_id("ok"),
                    intent_id: intent.id.clone(),
                    outcome: done.outcome.clone(),
                    at,
                },
                None,
            ),
            Err(Failure::Gone(side, msg)) => (
                LinkCommand::RemoteDeleted {
                    cmd_id: self.ids.next_id("gone"),
                    side: *side,
                    delivery_id: None,
                    at,
                },
                Some(msg.clone()),
            ),
            Err(Failure::Class(class, msg)) => (
                LinkCommand::DispatchFailed {
                    cmd_id: self.ids.next_id("fail"),
                    intent_id: intent.id.clone(),
                    class: *class,
                    message: msg.clone(),
                    attempt: l.queued.attempts + 1,
                    jitter_ms: self.ids.jitter_ms(self.config.max_jitter_ms),
                    at,
                },
                Some(msg.clone()),
            ),
        };
        let events = match self.run(link_id, cmd, &meta).await {
            Ok(events) => events,
            // The intent was settled meanwhile (its echo came first, or a later decision
            // withdrew it): the result has nothing left to confirm.
            Err(e)
                if matches!(
                    e.domain(),
                    Some(sync_domain::DomainError::IntentNotFound(_))
                ) =>
            {
                tracing::debug!(link = %link_id, intent = %intent.id, "result of a settled intent");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let outcome = attempt_outcome(&events, &intent.id, result.is_ok());
        self.record_intent(
            intent.action.kind(),
            outcome.as_str(),
            duration_ms as f64 / 1000.0,
            result.is_ok(),
        );
        self.store
            .record_attempt(&SyncAttempt {
                link_id: link_id.clone(),
                intent_id: intent.id.clone(),
                direction: intent.action.target(),
                kind: intent.action.kind().to_string(),
                started_at,
                duration_ms,
                outcome,
                error: error.clone(),
            })
            .await?;
        match result {
            Ok(done) => {
                if let Some(observed) = done.read_back {
                    let cmd = LinkCommand::ObserveJira {
                        cmd_id: self.ids.next_id("readback"),
                        observed,
                        delivery_id: None,
                        at: self.now(),
                    };
                    let meta = EventMetadata {
                        source: Source::Jira,
                        ..meta.clone()
                    };
                    self.run(link_id, cmd, &meta).await?;
                }
                Ok(Some(true))
            }
            Err(Failure::Class(ErrorClass::VersionConflict, _)) => {
                // The held intent waits for a fresh read of the item: read it now.
                if let Some(item_id) = &state.work_item_id {
                    if let Some(item) = self.host.get_item(item_id).await? {
                        let project = self.project(&state.project_id)?;
                        let cmd = LinkCommand::ObserveHandoff {
                            cmd_id: self.ids.next_id("reread"),
                            observed: Self::handoff_observation(&project, &item),
                            delivery_id: None,
                            at: self.now(),
                        };
                        let meta = EventMetadata {
                            source: Source::Handoff,
                            ..meta.clone()
                        };
                        self.run(link_id, cmd, &meta).await?;
                    }
                }
                Ok(Some(false))
            }
            Err(_) => {
                tracing::info!(link = %link_id, intent = %intent.id, error = ?error, "dispatch failed");
                Ok(Some(false))
            }
        }
    }

    async fn jira_read_back(
        &self,
        project_id: &str,
        issue_id: &str,
        work_item_id: Option<&str>,
    ) -> Result<(sync_domain::link::JiraRef, JiraObservation), Failure> {
        self.read_issue(project_id, issue_id, work_item_id)
            .await
            .map_err(read_failure)
    }

    /// Carries one intent out. `may_have_landed`: an earlier attempt failed or was cut
    /// short, so its write may be there already; non-idempotent writes look for it first.
    async fn perform(
        &self,
        state: &LinkState,
        intent: &Intent,
        may_have_landed: bool,
    ) -> Result<Done, Failure> {
        let project = self
            .project(&state.project_id)
            .map_err(|e| Failure::Class(ErrorClass::Permanent, e.to_string()))?;
        let jira = self
            .jira(&project.site)
            .map_err(|e| Failure::Class(ErrorClass::Permanent, e.to_string()))?;
        let pid = project.project_id.as_str();
        let work_item = state.work_item_id.as_deref();
        let marker = work_item.map(|w| jira.marker_label(w));
        match &intent.action {
            IntentAction::CreateJiraIssue {
                work_item_id,
                fields,
                ..
            } => {
                // A retry first looks for the issue an earlier attempt may have created.
                let found = if may_have_landed {
                    jira.find_by_marker(work_item_id).await.map_err(from_jira)?
                } else {
                    None
                };
                let issue = match found {
                    Some(i) => i,
                    None => {
                        let new = NewIssue {
                            project_key: project.jira_project_key.clone(),
                            issue_type: project.issue_type.clone(),
                            work_item_id: work_item_id.clone(),
                            fields: field_changes(&project.mapping, fields, None),
                        };
                        jira.create_issue(&new).await.map_err(from_jira)?.issue
                    }
                };
                let (issue, observed) = self
                    .jira_read_back(pid, &issue.id, Some(work_item_id))
                    .await?;
                Ok(Done {
                    outcome: DispatchOutcome::JiraIssueCreated {
                        issue,
                        version: Some(observed.version),
                    },
                    read_back: Some(observed),
                })
            }
            IntentAction::UpdateJiraFields { issue_id, fields } => {
                let changes = field_changes(&project.mapping, fields, marker.as_deref());
                let returned = jira
                    .edit_issue_returning(issue_id, &changes)
                    .await
                    .map_err(from_jira)?;
                // The issue the edit returned (Cloud `returnIssue`) is the read-back, when it
                // holds every field a read asks for (an absent field would read as empty);
                // otherwise (Data Center, a partial answer) the issue is read.
                let complete = returned.filter(|i| {
                    i.id == *issue_id
                        && fields_to_read(&project.mapping)
                            .iter()
                            .all(|f| i.has_field(f))
                });
                let (_, observed) = match complete {
                    Some(issue) => self
                        .observe_read(pid, &issue, work_item)
                        .await
                        .map_err(read_failure)?,
                    None => self.jira_read_back(pid, issue_id, work_item).await?,
                };
                Ok(Done {
                    outcome: DispatchOutcome::JiraUpdated {
                        version: Some(observed.version),
                    },
                    read_back: Some(observed),
                })
            }
            IntentAction::TransitionJiraStatus { issue_id, status } => {
                jira.transition_to(issue_id, status, None)
                    .await
                    .map_err(from_jira)?;
                let (_, observed) = self.jira_read_back(pid, issue_id, work_item).await?;
                Ok(Done {
                    outcome: DispatchOutcome::JiraUpdated {
                        version: Some(observed.version),
                    },
                    read_back: Some(observed),
                })
            }
            IntentAction::AddJiraComment {
                issue_id,
                origin_id,
                author,
                body,
            } => {
                // Jira has no idempotency key: an attempt that may have landed looks for
                // the mirror (its footer names the origin) before adding one.
                let earlier = if may_have_landed {
                    jira.comments(issue_id)
                        .await
                        .map_err(from_jira)?
                        .into_iter()
                        .find(|c| {
                            split_mirror_footer(&c.body_markdown).1.as_deref()
                                == Some(origin_id.as_str())
                        })
                } else {
                    None
                };
                let c = match earlier {
                    Some(c) => c,
                    None => {
                        let body = format!("{}\n\n{}", body.trim_end(), mirror_footer(origin_id));
                        jira.add_comment(issue_id, author, &body)
                            .await
                            .map_err(from_jira)?
                    }
                };
                Ok(Done {
                    outcome: DispatchOutcome::CommentWritten { comment_id: c.id },
                    read_back: None,
                })
            }
            IntentAction::EditJiraComment {
                issue_id,
                comment_id,
                origin_id,
                author,
                body,
            } => {
                let body = format!("{}\n\n{}", body.trim_end(), mirror_footer(origin_id));
                let c = jira
                    .edit_comment(issue_id, comment_id, author, &body)
                    .await
                    .map_err(from_jira)?;
                Ok(Done {
                    outcome: DispatchOutcome::CommentWritten { comment_id: c.id },
                    read_back: None,
                })
            }
            IntentAction::CreateHandoffItem {
                project_id,
                issue,
                fields,
            } => {
                // Creates are idempotent by marker on the host; a retry looks first anyway,
                // so a host that lost the first answer is not asked to create twice.
                let found = if may_have_landed {
                    self.host
                        .find_by_marker(project_id, &issue.id)
                        .await
                        .map_err(from_host)?
                } else {
                    None
                };
                let item = match found {
                    Some(i) => i,
                    None => self
                        .host
                        .create_item(project_id, fields, &issue.id)
                        .await
                        .map_err(from_host)?,
                };
                Ok(Done {
                    outcome: DispatchOutcome::HandoffItemCreated {
                        work_item_id: item.id,
                        version: item.version,
                    },
                    read_back: None,
                })
            }
            IntentAction::UpdateHandoffFields {
                work_item_id,
                fields,
                expected_version,
            } => {
                let version = self
                    .host
                    .update_fields(work_item_id, fields, *expected_version)
                    .await
                    .map_err(from_host)?;
                Ok(Done {
                    outcome: DispatchOutcome::HandoffUpdated { version },
                    read_back: None,
                })
            }
            IntentAction::AddHandoffComment {
                work_item_id,
                origin_id,
                author,
                body,
            } => {
                let c = self
                    .host
                    .add_comment(work_item_id, body, author, origin_id)
                    .await
                    .map_err(from_host)?;
                Ok(Done {
                    outcome: DispatchOutcome::CommentWritten { comment_id: c.id },
                    read_back: None,
                })
            }
            IntentAction::EditHandoffComment {
                work_item_id,
                comment_id,
                body,
                ..
            } => {
                let c = self
                    .host
                    .edit_comment(work_item_id, comment_id, body)
                    .await
                    .map_err(from_host)?;
                Ok(Done {
                    outcome: DispatchOutcome::CommentWritten { comment_id: c.id },
                    read_back: None,
                })
            }
        }
    }
}

/// What the link made of an attempt, for the sync log.
fn attempt_outcome(events: &[LinkEvent], intent_id: &str, ok: bool) -> AttemptOutcome {
    for e in events {
        match e {
            LinkEvent::IntentGaveUp { intent_id: i, .. } if i == intent_id => {
                return AttemptOutcome::GaveUp
            }
            LinkEvent::IntentBlocked { intent_id: i, .. } if i == intent_id => {
                return AttemptOutcome::Blocked
            }
            LinkEvent::IntentRetryScheduled { intent_id: i, .. } if i == intent_id => {
                return AttemptOutcome::Retry
            }
            _ => {}
        }
    }
    if ok {
        AttemptOutcome::Succeeded
    } else {
        AttemptOutcome::GaveUp
    }
}

/// How many intents the background dispatcher carries out at once.
const IN_FLIGHT: usize = 32;

/// Dispatches whenever intents are emitted, and every 200 ms for retries coming due. Up to
/// [`IN_FLIGHT`] intents run at once; as each ends, the freed place is leased again, so one
/// slow call does not hold back the intents leased with it.
pub(super) async fn dispatch_worker(rt: Arc<Runtime>) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut report = DispatchReport::default();
    loop {
        while let Some(r) = tasks.try_join_next() {
            rt.count_task(r, &mut report);
        }
        let free = IN_FLIGHT.saturating_sub(tasks.len());
        let leased = if free > 0 {
            match rt.lease_and_spawn(free as u32, &mut tasks).await {
                Ok(n) => n,
                Err(e) => {
                    rt.record_error();
                    tracing::warn!(error = %e, "dispatcher");
                    0
                }
            }
        } else {
            0
        };
        if leased > 0 && leased == free {
            // Every place taken: wait for one to end.
            if let Some(r) = tasks.join_next().await {
                rt.count_task(r, &mut report);
            }
            continue;
        }
        if leased > 0 {
            continue;
        }
        // Nothing due now: wait for an intent, a place freed (its link may have another
        // intent due), or the retry tick.
        tokio::select! {
            Some(r) = tasks.join_next(), if !tasks.is_empty() => rt.count_task(r, &mut report),
            _ = tokio::time::timeout(Duration::from_millis(200), rt.dispatch_wake.notified()) => {}
        }
    }
}
