//! What people ask the runtime for, through the HTTP API and the CLI: a work item's sync
//! status and history, the conflict queue and its resolution, the field mapping (read,
//! change, dry run), Jira field discovery, links (create, find, unlink), statistics, bulk
//! syncs and retries. Each operation returns a serializable view for people; the ids a
//! person gives that name nothing are [`Error::NotFound`].
//!
//! Architecture invariant: nothing here decides a sync rule. Every change is a command to a
//! link or project aggregate (the domain decides); the views only read.

use std::collections::{BTreeMap, BTreeSet};

use sync_domain::link::{
    ConflictKind, DispatchOutcome, IntentAction, JiraRef, LinkCommand, LinkEvent, LinkStatus,
    Millis, Resolution, ResolvedBy, UnlinkReason,
};
use sync_domain::mapping::{Direction, ProjectMapping, Side};
use sync_domain::project::ProjectCommand;
use sync_domain::{DomainError, Value, ValueKind};
use sync_store::{EventMetadata, LinkView, Recorded, Source};

use super::{Error, Runtime};

/// The most work items one bulk sync takes.
pub const MAX_BULK: usize = 500;
/// The most issues one JQL import takes.
pub const MAX_IMPORT: usize = 200;
/// The window the statistics' rates cover: the last hour.
pub const STATS_WINDOW_MS: u64 = 60 * 60 * 1000;

fn not_found(what: &'static str, id: &str) -> Error {
    Error::NotFound {
        what,
        id: id.to_string(),
    }
}

// ----- views -----

/// An open conflict, with both sides' values, for people.
#[derive(Clone, Debug, PartialEq)]
pub struct ConflictInfo {
    /// The conflict's id (what `resolve` takes).
    pub id: String,
    /// The link it is on.
    pub link_id: String,
    /// The project.
    pub project_id: String,
    /// The work item, when known.
    pub work_item_id: Option<String>,
    /// The Jira issue key, when known.
    pub jira_issue_key: Option<String>,
    /// The Handoff field.
    pub field: String,
    /// `concurrent` (both sides changed it) or `clobbered` (a write of ours overwrote an edit
    /// in Jira).
    pub kind: String,
    /// The last value both sides agreed on.
    pub base: Value,
    /// Handoff's value.
    pub handoff_value: Value,
    /// Jira's value (in Handoff's terms).
    pub jira_value: Value,
    /// Edits in Jira a write of ours overwrote, kept so they are not lost.
    pub lost_values: Vec<Value>,
    /// When it was detected.
    pub detected_at: Millis,
}

/// A work item's sync status.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncStatusView {
    /// The work item.
    pub work_item_id: String,
    /// Its link.
    pub link_id: String,
    /// The project.
    pub project_id: String,
    /// `synced`, `pending_push`, `pending_pull`, `conflict`, `error` or `unlinked`.
    pub status: String,
    /// The Jira issue id, once it exists.
    pub jira_issue_id: Option<String>,
    /// The Jira issue key, once known.
    pub jira_issue_key: Option<String>,
    /// When a write last succeeded.
    pub last_synced_at: Option<Millis>,
    /// How many conflicts wait for a person.
    pub pending_conflicts: u64,
    /// Writes not finished (open, held, or given up).
    pub open_intents: u64,
    /// The conflicts, with both values.
    pub conflicts: Vec<ConflictInfo>,
}

/// A link between a work item and a Jira issue.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkInfo {
    /// The link's id.
    pub link_id: String,
    /// The project.
    pub project_id: String,
    /// The work item, once it exists.
    pub work_item_id: Option<String>,
    /// The Jira issue id, once it exists.
    pub jira_issue_id: Option<String>,
    /// The Jira issue key, once known.
    pub jira_issue_key: Option<String>,
    /// The link's status.
    pub status: String,
    /// When a write last succeeded.
    pub last_synced_at: Option<Millis>,
    /// Open conflicts.
    pub open_conflicts: u64,
    /// Writes not finished.
    pub open_intents: u64,
}

impl From<&LinkView> for LinkInfo {
    fn from(v: &LinkView) -> Self {
        LinkInfo {
            link_id: v.link_id.clone(),
            project_id: v.project_id.clone(),
            work_item_id: v.work_item_id.clone(),
            jira_issue_id: v.issue_id.clone(),
            jira_issue_key: v.issue_key.clone(),
            status: v.status.as_str().to_string(),
            last_synced_at: v.last_synced_at,
            open_conflicts: v.open_conflicts,
            open_intents: v.open_intents,
        }
    }
}

/// One entry of a work item's history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    /// When it was recorded.
    pub at: Millis,
    /// The link.
    pub link_id: String,
    /// The event's place in the link's history.
    pub sequence: u64,
    /// The event's name as stored (`field_changed`, `conflict_opened`, ...).
    pub event: String,
    /// What happened, for people: "title updated from Jira", "pushed to Jira", "conflict on
    /// description", ...
    pub summary: String,
    /// Where the change came from: `jira`, `handoff`, `user` or `system`.
    pub source: String,
    /// Who acted, when known.
    pub actor: Option<String>,
    /// The webhook or notification it came in, when any.
    pub delivery_id: Option<String>,
    /// Ties the entries of one flow together (a delivery and the writes it caused).
    pub correlation_id: Option<String>,
}

/// Who changed a project's mapping, when.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingRevisionInfo {
    /// Who.
    pub actor: String,
    /// When.
    pub at: Millis,
}

/// A project's mapping in force, and its change history.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingsView {
    /// The project.
    pub project_id: String,
    /// The mapping in force.
    pub mapping: ProjectMapping,
    /// Changes made through the API, oldest first (the configured mapping has none).
    pub revisions: Vec<MappingRevisionInfo>,
}

/// What a mapping change did.
#[derive(Clone, Debug, PartialEq)]
pub struct PutMappingsResult {
    /// The project.
    pub project_id: String,
    /// Whether the mapping changed (setting the same mapping again records nothing).
    pub changed: bool,
    /// Live links told of the new mapping.
    pub links_updated: u64,
    /// Links that could not be told (their ids); they keep the old mapping until retried.
    pub links_failed: Vec<String>,
}

/// One field of a mapping dry run.
#[derive(Clone, Debug, PartialEq)]
pub struct DryRunField {
    /// The Handoff field.
    pub handoff_field: String,
    /// The Jira field.
    pub jira_field: String,
    /// The field's direction.
    pub direction: String,
    /// The work item's value (null without an item).
    pub handoff_value: Value,
    /// The issue's value in Jira's terms (null without an issue).
    pub jira_value: Value,
    /// Handoff's value carried through the transform to Jira's terms.
    pub handoff_as_jira: Value,
    /// Jira's value carried through the transform to Handoff's terms.
    pub jira_as_handoff: Value,
    /// `in_sync`, `write_jira`, `write_handoff`, `conflict`, `one_way_skipped`,
    /// `untransformable` or `unreadable`.
    pub outcome: String,
    /// What would be written to Jira (Jira's terms), if anything.
    pub would_write_jira: Option<Value>,
    /// What would be written to Handoff, if anything.
    pub would_write_handoff: Option<Value>,
    /// Why, for people (a transform error, a field Jira did not return, ...).
    pub note: Option<String>,
}

/// The result of a mapping dry run: nothing was written.
#[derive(Clone, Debug, PartialEq)]
pub struct DryRunView {
    /// The project.
    pub project_id: String,
    /// The work item read, if any.
    pub work_item_id: Option<String>,
    /// The Jira issue read, if any.
    pub jira_issue_id: Option<String>,
    /// Its key.
    pub jira_issue_key: Option<String>,
    /// Whether the two are linked now (values are then compared against the link's agreed
    /// values; otherwise as if they were being linked now).
    pub linked: bool,
    /// Per mapped field.
    pub fields: Vec<DryRunField>,
    /// Problems of the mapping tried, if any (it is still run when it is invalid).
    pub mapping_problems: Vec<String>,
}

/// A Jira field, from discovery.
#[derive(Clone, Debug, PartialEq)]
pub struct JiraFieldInfo {
    /// The field id (`summary`, `customfield_10016`).
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Whether it is a custom field.
    pub custom: bool,
    /// Its schema type in Jira (`string`, `number`, `array`, ...).
    pub schema_type: Option<String>,
    /// The value kind the engine syncs it as, or null when it cannot sync it.
    pub kind: Option<String>,
}

/// The fields of a Jira site.
#[derive(Clone, Debug, PartialEq)]
pub struct JiraFieldsView {
    /// The site.
    pub site: String,
    /// Its fields, by id.
    pub fields: Vec<JiraFieldInfo>,
}

/// Counts of the runtime and the store.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsView {
    /// All links.
    pub links: u64,
    /// Links per status.
    pub links_by_status: BTreeMap<String, u64>,
    /// Open conflicts.
    pub open_conflicts: u64,
    /// Writes not finished.
    pub open_intents: u64,
    /// When a write last succeeded.
    pub last_sync_at: Option<Millis>,
    /// The window of the rates below, in milliseconds.
    pub window_ms: u64,
    /// Write attempts in the window, by outcome.
    pub attempts_by_outcome: BTreeMap<String, u64>,
    /// Write attempts per minute in the window.
    pub attempts_per_minute: f64,
    /// Succeeded attempts / all attempts in the window.
    pub success_rate: f64,
    /// Since this process started: webhook deliveries accepted.
    pub webhooks_received: u64,
    /// Since this process started: duplicate deliveries dropped.
    pub webhooks_duplicate: u64,
    /// Since this process started: deliveries refused.
    pub webhooks_rejected: u64,
    /// Since this process started: Jira API calls.
    pub jira_calls: u64,
}

/// The outcome of one item of a bulk operation.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemOutcome {
    /// The work item (or Jira issue, for imports).
    pub id: String,
    /// Whether it was done.
    pub ok: bool,
    /// The link, when there is one.
    pub link_id: Option<String>,
    /// Why not, when it was not.
    pub error: Option<String>,
}

/// The outcome of a bulk operation.
#[derive(Clone, Debug, PartialEq)]
pub struct BulkResult {
    /// How many were asked for.
    pub requested: u64,
    /// How many were done.
    pub succeeded: u64,
    /// Per item.
    pub results: Vec<ItemOutcome>,
}

/// Which work items a bulk sync covers.
#[derive(Clone, Debug, PartialEq)]
pub enum BulkTarget {
    /// These work items (at most [`MAX_BULK`]).
    Items(Vec<String>),
    /// Every live link of this project (the first [`MAX_BULK`]).
    Project(String),
}

/// How to create a link.
#[derive(Clone, Debug, PartialEq)]
pub enum CreateLink {
    /// Push a work item to Jira: the engine creates its issue.
    Push {
        /// The work item.
        work_item_id: String,
    },
    /// Link an existing work item to an existing Jira issue.
    LinkExisting {
        /// The work item.
        work_item_id: String,
        /// The issue id or key.
        jira_issue: String,
        /// Whose values win where the two differ: `handoff` or `jira`.
        prefer: Side,
    },
    /// Import one Jira issue: the engine creates its work item.
    Import {
        /// The project.
        project_id: String,
        /// The issue id or key.
        jira_issue: String,
    },
    /// Import every issue a JQL search finds (at most [`MAX_IMPORT`]).
    ImportJql {
        /// The project.
        project_id: String,
        /// The search.
        jql: String,
    },
}

/// What a link creation did.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateLinkResult {
    /// The links created or found (one, except for a JQL import).
    pub links: Vec<LinkInfo>,
    /// Per issue, for a JQL import.
    pub results: Vec<ItemOutcome>,
}

/// Who asked for an operation (recorded on its events).
fn user_meta(actor: &str) -> EventMetadata {
    EventMetadata::new(Source::User).actor(actor)
}

fn conflict_info(view: &LinkView, c: &sync_domain::link::Conflict) -> ConflictInfo {
    ConflictInfo {
        id: c.id.clone(),
        link_id: view.link_id.clone(),
        project_id: view.project_id.clone(),
        work_item_id: view.work_item_id.clone(),
        jira_issue_key: view.issue_key.clone(),
        field: c.field.clone(),
        kind: match c.kind {
            ConflictKind::Concurrent => "concurrent",
            ConflictKind::Clobbered => "clobbered",
        }
        .to_string(),
        base: c.base.clone(),
        handoff_value: c.handoff.clone(),
        jira_value: c.jira.clone(),
        lost_values: c.lost.clone(),
        detected_at: c.detected_at,
    }
}

/// What an event means, for people; `None` for the engine's bookkeeping.
fn summarize(e: &LinkEvent) -> Option<String> {
    let side_from = |s: Side| match s {
        Side::Jira => "updated from Jira",
        Side::Handoff => "changed in Handoff",
    };
    Some(match e {
        LinkEvent::LinkCreated { origin, issue, .. } => match (origin, issue) {
            (Side::Handoff, _) => "linked: work item pushed to Jira".into(),
            (Side::Jira, Some(i)) => format!("linked: imported from Jira issue {}", i.key),
            (Side::Jira, None) => "linked: imported from Jira".into(),
        },
        LinkEvent::FieldChanged { side, field, .. } => format!("{field} {}", side_from(*side)),
        LinkEvent::FieldConverged { field, .. } => {
            format!("{field} changed to the same value on both sides")
        }
        LinkEvent::FieldIgnored { side, field, .. } => {
            format!("{field} change in {side} not carried over")
        }
        LinkEvent::ObservationStale { side, .. } => {
            format!("an out-of-date change from {side} was dropped")
        }
        LinkEvent::IntentSucceeded { outcome, .. } => match outcome {
            DispatchOutcome::JiraIssueCreated { issue, .. } => {
                format!("Jira issue {} created", issue.key)
            }
            DispatchOutcome::JiraUpdated { .. } => "pushed to Jira".into(),
            DispatchOutcome::HandoffItemCreated { work_item_id, .. } => {
                format!("work item {work_item_id} created in Handoff")
            }
            DispatchOutcome::HandoffUpdated { .. } => "written to Handoff".into(),
            DispatchOutcome::CommentWritten { .. } => "comment mirrored".into(),
        },
        LinkEvent::IntentEmitted { intent } => match &intent.action {
            IntentAction::CreateJiraIssue { .. } => "Jira issue creation queued".into(),
            IntentAction::CreateHandoffItem { .. } => "work item creation queued".into(),
            a => {
                let fields: Vec<&str> = intent.writes.iter().map(|w| w.field.as_str()).collect();
                let to = match a.target() {
                    Side::Jira => "Jira",
                    Side::Handoff => "Handoff",
                };
                if fields.is_empty() {
                    format!("{} queued", a.kind().replace('_', " "))
                } else {
                    format!("write of {} to {to} queued", fields.join(", "))
                }
            }
        },
        LinkEvent::IntentRetryScheduled {
            attempt, message, ..
        } => format!("write failed (attempt {attempt}), will retry: {message}"),
        LinkEvent::IntentBlocked { message, .. } => {
            format!("write held until the item is read again: {message}")
        }
        LinkEvent::IntentGaveUp { reason, .. } => format!("write gave up: {reason}"),
        LinkEvent::ConflictOpened { conflict } => format!("conflict on {}", conflict.field),
        LinkEvent::ConflictUpdated {
            conflict_id, side, ..
        } => {
            format!("conflict {conflict_id} updated from {side}")
        }
        LinkEvent::ConflictLostValue { conflict_id, .. } => {
            format!("an overwritten Jira edit was kept in conflict {conflict_id}")
        }
        LinkEvent::ConflictResolved {
            field,
            resolution,
            by,
            ..
        } => {
            let how = match resolution {
                Resolution::UseHandoff => "Handoff's value kept",
                Resolution::UseJira => "Jira's value kept",
                Resolution::Merge(_) => "merged",
                Resolution::Ignore => "ignored",
            };
            let who = match by {
                ResolvedBy::Person(p) => format!("by {p}"),
                ResolvedBy::Policy(p) => format!("by the {p} policy"),
            };
            format!("conflict on {field} resolved: {how} {who}")
        }
        LinkEvent::CommentObserved { side, .. } => format!("comment added in {side}"),
        LinkEvent::CommentMirrored { origin_side, .. } => {
            format!("comment from {origin_side} mirrored")
        }
        LinkEvent::IdentityUpdated { issue: Some(i), .. } => format!("Jira issue is {}", i.key),
        LinkEvent::ResyncRequested { actor, .. } => format!("full sync requested by {actor}"),
        LinkEvent::RetryRequested { actor, .. } => {
            format!("retry of failed writes requested by {actor}")
        }
        LinkEvent::MappingChanged { actor, .. } => format!("field mapping changed by {actor}"),
        LinkEvent::Unlinked { reason, actor, .. } => match reason {
            UnlinkReason::Requested => format!(
                "unlinked by {}",
                actor.clone().unwrap_or_else(|| "a person".into())
            ),
            UnlinkReason::JiraIssueDeleted => "unlinked: the Jira issue was deleted".into(),
            UnlinkReason::WorkItemDeleted => "unlinked: the work item was deleted".into(),
        },
        LinkEvent::HandoffObserved { .. }
        | LinkEvent::JiraObserved { .. }
        | LinkEvent::FieldEchoed { .. }
        | LinkEvent::FieldTargeted { .. }
        | LinkEvent::IntentStarted { .. }
        | LinkEvent::IntentSuperseded { .. }
        | LinkEvent::JiraWriteSettled { .. }
        | LinkEvent::JiraWriteEchoed { .. }
        | LinkEvent::IdentityUpdated { .. } => return None,
    })
}

/// History entries with their recorded time, oldest first (then by link and sequence).
fn oldest_first(mut entries: Vec<(Millis, HistoryEntry)>) -> Vec<HistoryEntry> {
    entries.sort_by(|(at_a, a), (at_b, b)| {
        (at_a, &a.link_id, a.sequence).cmp(&(at_b, &b.link_id, b.sequence))
    });
    entries.into_iter().map(|(_, e)| e).collect()
}

fn history_entry(r: &Recorded<LinkEvent>, summary: String) -> HistoryEntry {
    HistoryEntry {
        at: r.recorded_at,
        link_id: r.aggregate_id.clone(),
        sequence: r.sequence,
        event: r.event.event_type().to_string(),
        summary,
        source: r.metadata.source.as_str().to_string(),
        actor: r.metadata.actor.clone(),
        delivery_id: r.metadata.delivery_id.clone(),
        correlation_id: r.metadata.correlation_id.clone(),
    }
}

impl Runtime {
    /// The link of a work item, or [`Error::NotFound`].
    async fn item_link(&self, work_item_id: &str) -> Result<LinkView, Error> {
        self.link_for_item(work_item_id)
            .await?
            .ok_or_else(|| not_found("work_item", work_item_id))
    }

    /// A work item's sync status: status, Jira key, last sync, and its open conflicts with
    /// both values.
    pub async fn sync_status(&self, work_item_id: &str) -> Result<SyncStatusView, Error> {
        let view = self.item_link(work_item_id).await?;
        let state = self.store.load(&view.link_id).await?.state;
        let conflicts = state
            .conflicts
            .values()
            .map(|c| conflict_info(&view, c))
            .collect();
        Ok(SyncStatusView {
            work_item_id: work_item_id.to_string(),
            link_id: view.link_id.clone(),
            project_id: view.project_id.clone(),
            status: view.status.as_str().to_string(),
            jira_issue_id: view.issue_id.clone(),
            jira_issue_key: view.issue_key.clone(),
            last_synced_at: view.last_synced_at,
            pending_conflicts: view.open_conflicts,
            open_intents: view.open_intents,
            conflicts,
        })
    }

    /// Forces a full sync of a linked work item: both sides are read now and compared, and
    /// writes that failed are tried again.
    pub async fn force_sync(&self, work_item_id: &str, actor: &str) -> Result<LinkInfo, Error> {
        let view = self.item_link(work_item_id).await?;
        self.force_sync_link(&view, actor).await?;
        let after = self.store.link_view(&view.link_id).await?;
        Ok(LinkInfo::from(after.as_ref().unwrap_or(&view)))
    }

    async fn force_sync_link(&self, view: &LinkView, actor: &str) -> Result<(), Error> {
        if view.status == LinkStatus::Unlinked {
            return Err(Error::Refused(format!(
                "link {} is unlinked; it no longer syncs",
                view.link_id
            )));
        }
        let (Some(item_id), Some(issue_id)) = (&view.work_item_id, &view.issue_id) else {
            return Err(Error::Refused(format!(
                "link {} is still being created; sync it once both sides exist",
                view.link_id
            )));
        };
        let project = self.project(&view.project_id)?;
        let item = self
            .host
            .get_item(item_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found("work_item", item_id))?;
        let (_, observed) = self
            .read_issue(&view.project_id, issue_id, Some(item_id))
            .await?;
        let cmd = LinkCommand::ForceResync {
            cmd_id: self.ids.next_id("resync"),
            item: Self::handoff_observation(&project, &item),
            observed,
            actor: actor.to_string(),
            at: self.now(),
        };
        self.run(&view.link_id, cmd, &user_meta(actor)).await?;
        Ok(())
    }

    /// A work item's history over every link it had, oldest first, each entry with where
    /// it came from and who acted. `all` includes the engine's bookkeeping events.
    pub async fn item_history(
        &self,
        work_item_id: &str,
        all: bool,
    ) -> Result<Vec<HistoryEntry>, Error> {
        let links = self.store.links_by_work_item(work_item_id).await?;
        if links.is_empty() {
            return Err(not_found("work_item", work_item_id));
        }
        // Ordered by the recorded time itself: its RFC 3339 text drops trailing zeros of the
        // fraction ("…:05.1Z", "…:05.12Z", "…:05Z"), so it does not sort as text.
        let mut out = Vec::new();
        for l in &links {
            for r in self.store.history(&l.link_id).await? {
                match summarize(&r.event) {
                    Some(s) => out.push((r.recorded_at, history_entry(&r, s))),
                    None if all => out.push((
                        r.recorded_at,
                        history_entry(&r, r.event.event_type().replace('_', " ")),
                    )),
                    None => {}
                }
            }
        }
        Ok(oldest_first(out))
    }

    /// A project's open conflicts, oldest first.
    pub async fn project_conflicts(&self, project_id: &str) -> Result<Vec<ConflictInfo>, Error> {
        self.project(project_id)?;
        let mut out = Vec::new();
        let mut views: BTreeMap<String, LinkView> = BTreeMap::new();
        for c in self.store.conflicts(project_id).await? {
            if !views.contains_key(&c.link_id) {
                if let Some(v) = self.store.link_view(&c.link_id).await? {
                    views.insert(c.link_id.clone(), v);
                }
            }
            if let Some(v) = views.get(&c.link_id) {
                out.push(conflict_info(v, &c.conflict));
            }
        }
        Ok(out)
    }

    /// The link an open conflict is on, found by the conflict's id.
    async fn conflict_link(&self, conflict_id: &str) -> Result<(LinkView, ValueKind), Error> {
        for p in self.projects() {
            for c in self.store.conflicts(&p.project_id).await? {
                if c.conflict.id == conflict_id {
                    let view = self
                        .store
                        .link_view(&c.link_id)
                        .await?
                        .ok_or_else(|| not_found("conflict", conflict_id))?;
                    let state = self.store.load(&c.link_id).await?.state;
                    let kind = state
                        .mapping
                        .as_ref()
                        .and_then(|m| m.by_handoff(&c.conflict.field))
                        .map_or(ValueKind::Text, |f| f.kind);
                    return Ok((view, kind));
                }
            }
        }
        Err(not_found("conflict", conflict_id))
    }

    /// The value kind of a conflict's field (what a merged value must be), found by the
    /// conflict's id.
    pub async fn conflict_kind(&self, conflict_id: &str) -> Result<ValueKind, Error> {
        Ok(self.conflict_link(conflict_id).await?.1)
    }

    /// Settles a conflict, found by its id, as a person chose.
    pub async fn resolve(
        &self,
        conflict_id: &str,
        resolution: Resolution,
        actor: &str,
    ) -> Result<LinkInfo, Error> {
        let (view, _) = self.conflict_link(conflict_id).await?;
        self.resolve_conflict(&view.link_id, conflict_id, resolution, actor)
            .await?;
        let after = self.store.link_view(&view.link_id).await?;
        Ok(LinkInfo::from(after.as_ref().unwrap_or(&view)))
    }

    /// A project's mapping in force and who changed it when.
    pub async fn mappings(&self, project_id: &str) -> Result<MappingsView, Error> {
        let project = self.project(project_id)?;
        let state = self.store.project_load(project_id).await?;
        Ok(MappingsView {
            project_id: project_id.to_string(),
            mapping: project.mapping.clone(),
            revisions: state
                .revisions
                .iter()
                .map(|r| MappingRevisionInfo {
                    actor: r.actor.clone(),
                    at: r.at,
                })
                .collect(),
        })
    }

    /// Changes a project's mapping: validated, recorded in the project's history, put in
    /// force, and told to every live link of the project.
    pub async fn put_mappings(
        &self,
        project_id: &str,
        mapping: ProjectMapping,
        actor: &str,
    ) -> Result<PutMappingsResult, Error> {
        let project = self.project(project_id)?;
        mapping.validate()?;
        let now = self.now();
        let recorded = self
            .store
            .project_execute(
                project_id,
                ProjectCommand::SetMapping {
                    mapping: mapping.clone(),
                    actor: actor.to_string(),
                    at: now,
                },
                &user_meta(actor),
                now,
            )
            .await?;
        let changed = !recorded.is_empty() || project.mapping != mapping;
        if !changed {
            return Ok(PutMappingsResult {
                project_id: project_id.to_string(),
                changed: false,
                links_updated: 0,
                links_failed: Vec::new(),
            });
        }
        self.set_mapping(project_id, mapping.clone())?;
        let mut updated = 0;
        let mut failed = Vec::new();
        // One query: a link whose status changes meanwhile (a dispatch landing) is listed once,
        // not missed between two per-status queries.
        for l in self.store.live_links(project_id).await? {
            let cmd = LinkCommand::ChangeMapping {
                cmd_id: self.ids.next_id("mapping"),
                mapping: mapping.clone(),
                actor: actor.to_string(),
                at: self.now(),
            };
            match self.run(&l.link_id, cmd, &user_meta(actor)).await {
                Ok(_) => updated += 1,
                Err(e) => {
                    tracing::warn!(link = %l.link_id, error = %e, "cannot change the mapping of a link");
                    failed.push(l.link_id.clone());
                }
            }
        }
        Ok(PutMappingsResult {
            project_id: project_id.to_string(),
            changed: true,
            links_updated: updated,
            links_failed: failed,
        })
    }

    /// A dry run of a mapping (the one in force, or `candidate`) against a live work item
    /// and/or Jira issue: reads both, and shows per field both values, the transform's
    /// results and what would be written to each side. Writes nothing.
    pub async fn mapping_dry_run(
        &self,
        project_id: &str,
        work_item_id: Option<&str>,
        issue: Option<&str>,
        candidate: Option<ProjectMapping>,
    ) -> Result<DryRunView, Error> {
        let project = self.project(project_id)?;
        if work_item_id.is_none() && issue.is_none() {
            return Err(Error::Invalid(
                "give a workItemId, a jiraIssue, or both".into(),
            ));
        }
        let mapping = candidate.unwrap_or_else(|| project.mapping.clone());
        let mapping_problems = match mapping.validate() {
            Err(DomainError::InvalidMapping(v)) => v.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
            Ok(()) => Vec::new(),
        };
        // The other side of a linked item or issue, when only one is given.
        let mut link = None;
        if let Some(w) = work_item_id {
            link = self.link_for_item(w).await?;
        }
        let mut issue_ref = issue.map(str::to_string);
        let mut item_id = work_item_id.map(str::to_string);
        if let Some(l) = link.as_ref().filter(|l| l.status != LinkStatus::Unlinked) {
            if issue_ref.is_none() {
                issue_ref.clone_from(&l.issue_id);
            }
        }
        let item = match &item_id {
            Some(w) => Some(
                self.host
                    .get_item(w)
                    .await
                    .map_err(Error::from)?
                    .ok_or_else(|| not_found("work_item", w))?,
            ),
            None => None,
        };
        if let Some(item) = &item {
            if item.project_id != project_id {
                return Err(Error::Invalid(format!(
                    "work item {} belongs to project {:?}, not {project_id:?}",
                    item.id, item.project_id
                )));
            }
        }
        let jira = match &issue_ref {
            Some(i) => Some(
                self.read_issue_with(project_id, &mapping, i, item_id.as_deref())
                    .await?,
            ),
            None => None,
        };
        if item_id.is_none() {
            if let Some((r, _)) = &jira {
                if let Some(l) = self.link_for_issue(&project.site, &r.id).await? {
                    if l.status != LinkStatus::Unlinked {
                        item_id.clone_from(&l.work_item_id);
                        link = Some(l);
                    }
                }
            }
        }
        let item = match (&item, &item_id) {
            (None, Some(w)) => self.host.get_item(w).await.map_err(Error::from)?,
            (i, _) => i.clone(),
        };
        let linked = link.as_ref().is_some_and(|l| {
            l.status != LinkStatus::Unlinked
                && jira
                    .as_ref()
                    .is_some_and(|(r, _)| l.issue_id.as_deref() == Some(r.id.as_str()))
                && item
                    .as_ref()
                    .is_some_and(|i| l.work_item_id.as_deref() == Some(i.id.as_str()))
        });
        let state = match (&link, linked) {
            (Some(l), true) => Some(self.store.load(&l.link_id).await?.state),
            _ => None,
        };
        let mut fields = Vec::new();
        for f in &mapping.fields {
            let h = item.as_ref().map(|i| i.field(&f.handoff_field));
            let j = jira
                .as_ref()
                .map(|(_, o)| o.values.get(&f.jira_field).cloned());
            let mut row = DryRunField {
                handoff_field: f.handoff_field.clone(),
                jira_field: f.jira_field.clone(),
                direction: match f.direction {
                    Direction::Push => "push",
                    Direction::Pull => "pull",
                    Direction::Bidirectional => "bidirectional",
                }
                .into(),
                handoff_value: h.clone().unwrap_or(Value::Null),
                jira_value: j.clone().flatten().unwrap_or(Value::Null),
                handoff_as_jira: Value::Null,
                jira_as_handoff: Value::Null,
                outcome: String::new(),
                would_write_jira: None,
                would_write_handoff: None,
                note: None,
            };
            let h_as_j = h.as_ref().map(|h| f.transform.to_jira(h));
            let j_as_h = match &j {
                Some(Some(j)) => Some(f.transform.to_handoff(j)),
                Some(None) => {
                    row.note = Some(format!("Jira did not return {}", f.jira_field));
                    None
                }
                None => None,
            };
            if let Some(Ok(v)) = &h_as_j {
                row.handoff_as_jira = v.clone();
            }
            if let Some(Ok(v)) = &j_as_h {
                row.jira_as_handoff = v.clone();
            }
            for e in [&h_as_j, &j_as_h].into_iter().flatten() {
                if let Err(e) = e {
                    row.note = Some(e.reason.clone());
                }
            }
            let field_state = state.as_ref().and_then(|s| s.fields.get(&f.handoff_field));
            let base = field_state.map(|fs| fs.base.clone());
            // A linked field with a write queued or a conflict open: the engine's own plan.
            let planned = field_state.and_then(|fs| {
                if fs.conflict.is_some() {
                    Some("conflict")
                } else if !fs.pending_jira.is_empty() {
                    Some("write_jira")
                } else if !fs.pending_handoff.is_empty() {
                    Some("write_handoff")
                } else {
                    None
                }
            });
            row.outcome = match (h, h_as_j, j_as_h) {
                (_, Some(Err(_)), _) | (_, _, Some(Err(_))) => "untransformable".into(),
                (Some(h), Some(Ok(h_j)), Some(Ok(j_h))) => {
                    let h_changed = base.as_ref().is_none_or(|b| *b != h);
                    let j_changed = base.as_ref().is_none_or(|b| *b != j_h);
                    if h == j_h {
                        "in_sync".into()
                    } else if let Some(p) = planned {
                        match p {
                            "write_jira" => row.would_write_jira = Some(h_j.clone()),
                            "write_handoff" => row.would_write_handoff = Some(j_h.clone()),
                            _ => {}
                        }
                        p.into()
                    } else if h_changed && j_changed && base.is_some() {
                        "conflict".into()
                    } else {
                        // Unlinked, the side that differs from the agreed value (or, for a
                        // new link, the mapping's direction) says which way it goes.
                        let from = if base.is_some() && !j_changed {
                            Some(Side::Handoff)
                        } else if base.is_some() && !h_changed {
                            Some(Side::Jira)
                        } else {
                            match f.direction {
                                Direction::Push => Some(Side::Handoff),
                                Direction::Pull => Some(Side::Jira),
                                Direction::Bidirectional => None,
                            }
                        };
                        match from {
                            Some(s) if !f.direction.carries_from(s) => "one_way_skipped".into(),
                            Some(Side::Handoff) => {
                                row.would_write_jira = Some(h_j.clone());
                                "write_jira".into()
                            }
                            Some(Side::Jira) => {
                                row.would_write_handoff = Some(j_h.clone());
                                "write_handoff".into()
                            }
                            None => {
                                row.note.get_or_insert_with(|| {
                                    "the values differ: linking them now asks whose values win"
                                        .into()
                                });
                                "conflict".into()
                            }
                        }
                    }
                }
                (_, _, None) if jira.is_some() => "unreadable".into(),
                (Some(_), Some(Ok(h_j)), None) if f.direction.writes(Side::Jira) => {
                    row.would_write_jira = Some(h_j.clone());
                    "write_jira".into()
                }
                (None, None, Some(Ok(j_h))) if f.direction.writes(Side::Handoff) => {
                    row.would_write_handoff = Some(j_h.clone());
                    "write_handoff".into()
                }
                _ => "one_way_skipped".into(),
            };
            fields.push(row);
        }
        Ok(DryRunView {
            project_id: project_id.to_string(),
            work_item_id: item.as_ref().map(|i| i.id.clone()),
            jira_issue_id: jira.as_ref().map(|(r, _)| r.id.clone()),
            jira_issue_key: jira.as_ref().map(|(r, _)| r.key.clone()),
            linked,
            fields,
            mapping_problems,
        })
    }

    /// Reads an issue with a given mapping (not necessarily the one in force).
    async fn read_issue_with(
        &self,
        project_id: &str,
        mapping: &ProjectMapping,
        issue: &str,
        work_item_id: Option<&str>,
    ) -> Result<(JiraRef, sync_domain::link::JiraObservation), Error> {
        let project = self.project(project_id)?;
        let site = self.site(&project.site)?;
        let jira = &site.site.client;
        let fields = jira_adapter::observe::fields_to_read(mapping);
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let got = jira
            .get_issue(issue, &refs)
            .await
            .map_err(|e| match e.class() {
                jira_adapter::error::ErrorClass::NotFound => not_found("jira_issue", issue),
                _ => Error::Jira(e),
            })?;
        let marker = work_item_id.map(|w| jira.marker_label(w));
        let account = self.our_account(site).await;
        let ctx = jira_adapter::observe::ObserveContext {
            mapping,
            flavor: jira.flavor().await.map_err(Error::Jira)?,
            our_account: account.as_deref(),
            marker_label: marker.as_deref(),
        };
        let (observed, _) = jira_adapter::observe::observe_issue(&got, &ctx);
        Ok((
            JiraRef {
                id: got.id.clone(),
                key: got.key.clone(),
            },
            observed,
        ))
    }

    /// The fields of a Jira site (custom field discovery). `site` may be omitted when one
    /// site is configured.
    pub async fn jira_fields(&self, site: Option<&str>) -> Result<JiraFieldsView, Error> {
        let name = self.choose_site(site)?.to_string();
        let client = self.jira(&name)?;
        let fields = client.fields().await.map_err(Error::Jira)?;
        let mut out: Vec<JiraFieldInfo> = fields
            .iter()
            .map(|f| JiraFieldInfo {
                id: f.id.clone(),
                name: f.name.clone(),
                custom: f.custom,
                schema_type: f.schema.as_ref().map(|s| s.kind.clone()),
                kind: f.value_kind().map(|k| k.to_string()),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(JiraFieldsView {
            site: name,
            fields: out,
        })
    }

    /// Creates a link: pushes an item, links an existing pair, imports an issue or imports
    /// every issue a JQL search finds.
    pub async fn create_link(
        &self,
        req: &CreateLink,
        actor: &str,
    ) -> Result<CreateLinkResult, Error> {
        let one = |link_id: String| async move {
            let v = self
                .store
                .link_view(&link_id)
                .await?
                .ok_or_else(|| not_found("link", &link_id))?;
            Ok::<_, Error>(CreateLinkResult {
                links: vec![LinkInfo::from(&v)],
                results: Vec::new(),
            })
        };
        match req {
            CreateLink::Push { work_item_id } => {
                let id = self.push_item(work_item_id, actor).await?;
                one(id).await
            }
            CreateLink::LinkExisting {
                work_item_id,
                jira_issue,
                prefer,
            } => {
                let id = self
                    .link_existing(work_item_id, jira_issue, *prefer, actor)
                    .await?;
                one(id).await
            }
            CreateLink::Import {
                project_id,
                jira_issue,
            } => {
                let id = self.import_issue(project_id, jira_issue, actor).await?;
                one(id).await
            }
            CreateLink::ImportJql { project_id, jql } => {
                self.import_jql(project_id, jql, actor).await
            }
        }
    }

    /// Links an existing work item to an existing Jira issue; `prefer` says whose values win
    /// where they differ. Refused when either is linked already.
    pub async fn link_existing(
        &self,
        work_item_id: &str,
        jira_issue: &str,
        prefer: Side,
        actor: &str,
    ) -> Result<String, Error> {
        let item = self
            .host
            .get_item(work_item_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found("work_item", work_item_id))?;
        let project = self.project(&item.project_id)?;
        if let Some(l) = self.link_for_item(work_item_id).await? {
            if l.status != LinkStatus::Unlinked {
                return Err(Error::Refused(format!(
                    "work item {work_item_id} is already linked (link {})",
                    l.link_id
                )));
            }
        }
        let (issue, observed) = self
            .read_issue(&project.project_id, jira_issue, Some(work_item_id))
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => not_found("jira_issue", jira_issue),
                Error::Jira(j) if j.class() == jira_adapter::error::ErrorClass::NotFound => {
                    not_found("jira_issue", jira_issue)
                }
                other => other,
            })?;
        if let Some(l) = self.link_for_issue(&project.site, &issue.id).await? {
            if l.status != LinkStatus::Unlinked {
                return Err(Error::Refused(format!(
                    "Jira issue {} is already linked (link {})",
                    issue.key, l.link_id
                )));
            }
        }
        let link_id = self.ids.next_id("link");
        let cmd = LinkCommand::LinkExisting {
            cmd_id: self.ids.next_id("link-existing"),
            project_id: project.project_id.clone(),
            work_item_id: work_item_id.to_string(),
            item: Self::handoff_observation(&project, &item),
            issue,
            observed,
            prefer,
            mapping: project.mapping.clone(),
            at: self.now(),
        };
        self.run(&link_id, cmd, &user_meta(actor)).await?;
        Ok(link_id)
    }

    /// Imports every issue a JQL search finds (at most [`MAX_IMPORT`]), each as its own link;
    /// issues linked already are reported with their link.
    pub async fn import_jql(
        &self,
        project_id: &str,
        jql: &str,
        actor: &str,
    ) -> Result<CreateLinkResult, Error> {
        self.project(project_id)?;
        if jql.trim().is_empty() {
            return Err(Error::Invalid("the JQL is empty".into()));
        }
        let client = self.jira_for_project(project_id)?;
        // The search returns the mapped fields: each issue is imported from its result,
        // about one Jira call per page instead of one per issue.
        let req = self
            .import_search(project_id, jql)?
            .max_results(u32::try_from(MAX_IMPORT).unwrap_or(u32::MAX));
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        while found.len() < MAX_IMPORT {
            let page = client
                .search_page(&req, cursor.as_deref())
                .await
                .map_err(|e| match e.class() {
                    jira_adapter::error::ErrorClass::Permanent => {
                        Error::Invalid(format!("Jira refused the search: {e}"))
                    }
                    _ => Error::Jira(e),
                })?;
            found.extend(page.issues);
            // Jira may return fewer than asked per page when fields are requested.
            match page.next {
                Some(n) if Some(&n) != cursor.as_ref() => cursor = Some(n),
                _ => break,
            }
        }
        let mut links = Vec::new();
        let mut results = Vec::new();
        for issue in found.iter().take(MAX_IMPORT) {
            match self.import_found(project_id, &req, issue, actor).await {
                Ok(link_id) => {
                    if let Some(v) = self.store.link_view(&link_id).await? {
                        links.push(LinkInfo::from(&v));
                    }
                    results.push(ItemOutcome {
                        id: issue.key.clone(),
                        ok: true,
                        link_id: Some(link_id),
                        error: None,
                    });
                }
                Err(e) => results.push(ItemOutcome {
                    id: issue.key.clone(),
                    ok: false,
                    link_id: None,
                    error: Some(e.to_string()),
                }),
            }
        }
        Ok(CreateLinkResult { links, results })
    }

    /// A link by its id.
    pub async fn link(&self, link_id: &str) -> Result<LinkInfo, Error> {
        let v = self
            .store
            .link_view(link_id)
            .await?
            .ok_or_else(|| not_found("link", link_id))?;
        Ok(LinkInfo::from(&v))
    }

    /// The link of a work item (the live one, or the newest).
    pub async fn link_by_item(&self, work_item_id: &str) -> Result<LinkInfo, Error> {
        Ok(LinkInfo::from(&self.item_link(work_item_id).await?))
    }

    /// The link of a Jira issue of a site (by id, or by key when no link has it as id: the
    /// key is then resolved through Jira). `site` may be omitted when one site is
    /// configured.
    pub async fn link_by_issue(&self, site: Option<&str>, issue: &str) -> Result<LinkInfo, Error> {
        let site = self.choose_site(site)?.to_string();
        if let Some(v) = self.link_for_issue(&site, issue).await? {
            return Ok(LinkInfo::from(&v));
        }
        if issue.chars().all(|c| c.is_ascii_digit()) {
            return Err(not_found("jira_issue", issue));
        }
        let got = self
            .jira(&site)?
            .get_issue(issue, &["summary"])
            .await
            .map_err(|e| match e.class() {
                jira_adapter::error::ErrorClass::NotFound => not_found("jira_issue", issue),
                _ => Error::Jira(e),
            })?;
        self.link_for_issue(&site, &got.id)
            .await?
            .map(|v| LinkInfo::from(&v))
            .ok_or_else(|| not_found("jira_issue", issue))
    }

    /// Unlinks: the link stops syncing; the work item and the issue are both kept.
    pub async fn unlink(&self, link_id: &str, actor: &str) -> Result<LinkInfo, Error> {
        let view = self
            .store
            .link_view(link_id)
            .await?
            .ok_or_else(|| not_found("link", link_id))?;
        if view.status == LinkStatus::Unlinked {
            return Err(Error::Refused(format!(
                "link {link_id} is already unlinked"
            )));
        }
        let cmd = LinkCommand::Unlink {
            cmd_id: self.ids.next_id("unlink"),
            actor: actor.to_string(),
            at: self.now(),
        };
        self.run(link_id, cmd, &user_meta(actor)).await?;
        self.link(link_id).await
    }

    /// Statistics: links by status, conflicts, open writes, the last hour's write attempts,
    /// and what this process received and called.
    pub async fn stats_view(&self) -> Result<StatsView, Error> {
        use super::Counters;
        let s = self.store.stats(self.now(), STATS_WINDOW_MS).await?;
        Ok(StatsView {
            links: s.links,
            links_by_status: s
                .links_by_status
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
            open_conflicts: s.open_conflicts,
            open_intents: s.open_intents,
            last_sync_at: s.last_sync_at,
            window_ms: s.window_ms,
            attempts_by_outcome: s
                .attempts_by_outcome
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), *v))
                .collect(),
            attempts_per_minute: s.attempts_per_minute,
            success_rate: s.success_rate,
            webhooks_received: Counters::get(&self.counters.webhooks_received),
            webhooks_duplicate: Counters::get(&self.counters.webhooks_duplicate),
            webhooks_rejected: Counters::get(&self.counters.webhooks_rejected),
            jira_calls: self.jira_calls(),
        })
    }

    /// The live links of a project, by link id.
    pub async fn live_links(&self, project_id: &str) -> Result<Vec<LinkView>, Error> {
        self.project(project_id)?;
        Ok(self.store.live_links(project_id).await?)
    }

    /// Forces a full sync of several work items, or of every live link of a project (at
    /// most [`MAX_BULK`]).
    pub async fn bulk_sync(&self, target: &BulkTarget, actor: &str) -> Result<BulkResult, Error> {
        let views: Vec<(String, Result<LinkView, Error>)> = match target {
            BulkTarget::Items(ids) => {
                if ids.is_empty() {
                    return Err(Error::Invalid("workItemIds is empty".into()));
                }
                if ids.len() > MAX_BULK {
                    return Err(Error::Invalid(format!(
                        "at most {MAX_BULK} work items per bulk sync"
                    )));
                }
                let unique: BTreeSet<&String> = ids.iter().collect();
                let mut v = Vec::new();
                for id in unique {
                    v.push((id.clone(), self.item_link(id).await));
                }
                v
            }
            BulkTarget::Project(p) => self
                .live_links(p)
                .await?
                .into_iter()
                .take(MAX_BULK)
                .map(|l| {
                    (
                        l.work_item_id.clone().unwrap_or_else(|| l.link_id.clone()),
                        Ok(l),
                    )
                })
                .collect(),
        };
        let mut results = Vec::new();
        for (id, view) in views {
            let r = match view {
                Ok(v) => self
                    .force_sync_link(&v, actor)
                    .await
                    .map(|()| v.link_id.clone()),
                Err(e) => Err(e),
            };
            if let Err(Error::Store(e)) = &r {
                tracing::warn!(error = %e, "bulk sync: store");
            }
            results.push(match r {
                Ok(link_id) => ItemOutcome {
                    id,
                    ok: true,
                    link_id: Some(link_id),
                    error: None,
                },
                Err(e) => ItemOutcome {
                    id,
                    ok: false,
                    link_id: None,
                    error: Some(e.to_string()),
                },
            });
        }
        Ok(BulkResult {
            requested: results.len() as u64,
            succeeded: results.iter().filter(|r| r.ok).count() as u64,
            results,
        })
    }

    /// Tries again the writes that gave up (links in status `error`), of one project or of
    /// every project: each link's given-up and held writes are queued again as fresh intents
    /// ([`LinkCommand::RetryFailed`]), creates included (a link whose Jira issue or host
    /// item was never made), in the order they were first decided.
    pub async fn retry_failed(
        &self,
        project_id: Option<&str>,
        actor: &str,
    ) -> Result<BulkResult, Error> {
        let projects: Vec<String> = match project_id {
            Some(p) => {
                self.project(p)?;
                vec![p.to_string()]
            }
            None => self
                .projects()
                .iter()
                .map(|p| p.project_id.clone())
                .collect(),
        };
        let mut results = Vec::new();
        for p in projects {
            for v in self.store.links_with_status(&p, LinkStatus::Error).await? {
                let id = v.work_item_id.clone().unwrap_or_else(|| v.link_id.clone());
                let cmd = LinkCommand::RetryFailed {
                    cmd_id: self.ids.next_id("retry"),
                    actor: actor.to_string(),
                    at: self.now(),
                };
                let retried = self
                    .run(&v.link_id, cmd, &user_meta(actor))
                    .await
                    .map(|_| ());
                results.push(match retried {
                    Ok(()) => ItemOutcome {
                        id,
                        ok: true,
                        link_id: Some(v.link_id.clone()),
                        error: None,
                    },
                    Err(e) => ItemOutcome {
                        id,
                        ok: false,
                        link_id: Some(v.link_id.clone()),
                        error: Some(e.to_string()),
                    },
                });
            }
        }
        Ok(BulkResult {
            requested: results.len() as u64,
            succeeded: results.iter().filter(|r| r.ok).count() as u64,
            results,
        })
    }

    /// Whether the store answers (a cheap query), for readiness checks.
    pub async fn store_ready(&self) -> Result<(), Error> {
        self.store.link_view("readyz-probe").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: Millis, sequence: u64) -> (Millis, HistoryEntry) {
        (
            at,
            HistoryEntry {
                at,
                link_id: "L".into(),
                sequence,
                event: "field_changed".into(),
                summary: String::new(),
                source: "jira".into(),
                actor: None,
                delivery_id: None,
                correlation_id: None,
            },
        )
    }

    /// History is ordered by recorded time (milliseconds), never by a text form of it: the
    /// RFC 3339 text drops trailing zeros of its fraction, so `…:05.1Z` would sort after
    /// `…:05.12Z`. Times here run against the sequence, so an order by sequence fails too.
    #[test]
    fn history_is_ordered_by_time_not_by_its_text() {
        let base = 1_764_000_005_000;
        let ordered = oldest_first(vec![
            entry(base + 100, 2),
            entry(base + 120, 1),
            entry(base, 3),
        ]);
        let seqs: Vec<u64> = ordered.iter().map(|e| e.sequence).collect();
        assert_eq!(seqs, vec![3, 2, 1]);
        assert_eq!(
            ordered.iter().map(|e| e.at).collect::<Vec<_>>(),
            vec![base, base + 100, base + 120]
        );
    }
}
