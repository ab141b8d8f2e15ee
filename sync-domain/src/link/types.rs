//! Commands, events, intents and the state of the link aggregate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mapping::{ProjectMapping, Side};
use crate::value::Value;

/// Milliseconds since the Unix epoch, as supplied by the caller (the domain has no clock).
pub type Millis = i64;

/// The identity of a Jira issue: its id (stable) and its key (changes when the issue moves).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraRef {
    /// The issue id, e.g. `"10002"`: the key of the link.
    pub id: String,
    /// The issue key, e.g. `"PROJ-123"`.
    pub key: String,
}

/// The version of a Jira issue as observed: its `updated` time, then its changelog id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JiraVersion {
    /// The issue's `updated` field, in epoch milliseconds.
    pub updated_ms: Millis,
    /// The id of the changelog entry that produced this state, when known (webhooks); 0 when not.
    pub changelog_id: u64,
}

/// What one side reports about a field of the link. `values` may be partial: fields not present
/// are unknown, not empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffObservation {
    /// The work item's version after the change.
    pub version: u64,
    /// When the item was changed, by the host's clock.
    pub changed_at: Millis,
    /// Handoff field → canonical value.
    pub values: BTreeMap<String, Value>,
    /// Who changed it, when known.
    pub actor: Option<String>,
}

/// One changelog item of a Jira change, in Jira space (values converted by the adapter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The Jira field id.
    pub jira_field: String,
    /// The value before the change, when the changelog gives it.
    pub from: Option<Value>,
    /// The value after the change, when the changelog gives it.
    pub to: Option<Value>,
    /// When the change was made (the changelog entry's `created`), when known.
    #[serde(default)]
    pub at: Option<Millis>,
    /// Whether the entry's author is the engine's own Jira account, when known. One signal
    /// among several: a change by someone else is never taken as our echo, even when it sets
    /// the value we were writing.
    #[serde(default)]
    pub by_us: Option<bool>,
}

/// What Jira reports about the issue: from a webhook, a poll or a fetch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraObservation {
    /// The issue's version after the change.
    pub version: JiraVersion,
    /// The issue key as of this observation (keys change when an issue moves).
    pub key: Option<String>,
    /// Jira field → canonical value, in Jira space.
    pub values: BTreeMap<String, Value>,
    /// Changelog items since the last observation, oldest first (empty for a plain fetch).
    pub changes: Vec<FieldChange>,
    /// When `changes` holds every changelog entry after this version (the poller read the
    /// issue's changelog from there): a write of ours that landed after it and shows no entry
    /// changed nothing (Jira records no entry for a no-op edit).
    #[serde(default)]
    pub changelog_from: Option<JiraVersion>,
    /// Who changed it, when known.
    pub actor: Option<String>,
}

/// A comment as one side reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedComment {
    /// The comment's id on that side.
    pub id: String,
    /// Its author's display name.
    pub author: String,
    /// Its body, as canonical Markdown.
    pub body: String,
    /// When the body carries our marker: the id of the comment on the other side it mirrors.
    pub mirror_of: Option<String>,
    /// Whether the comment was deleted.
    pub deleted: bool,
}

/// The class of a failed dispatch, as the adapters classify it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum ErrorClass {
    /// Try again later (429, 5xx, timeout, 409 on a transition).
    Retryable {
        /// The server's `Retry-After`, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// The host's item changed since the version the write expected.
    VersionConflict,
    /// Credentials refused after a refresh: a person must act.
    Auth,
    /// The request is wrong and will stay wrong (400, 403): a person must act.
    Permanent,
}

/// What a successful dispatch reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DispatchOutcome {
    /// The Jira issue exists (created now, or found by its marker).
    JiraIssueCreated {
        /// The issue.
        issue: JiraRef,
        /// Its version, when the response gave it.
        version: Option<JiraVersion>,
    },
    /// Jira fields were written or a transition done.
    JiraUpdated {
        /// The issue's version afterwards, when known (for the record; the issue the edit
        /// returned is fed to the link as an observation of its own).
        version: Option<JiraVersion>,
    },
    /// The Handoff item exists (created now, or found by its marker).
    HandoffItemCreated {
        /// The work item id.
        work_item_id: String,
        /// Its version.
        version: u64,
    },
    /// Handoff fields were written.
    HandoffUpdated {
        /// The item's version afterwards.
        version: u64,
    },
    /// A comment was written on the intent's target side.
    CommentWritten {
        /// The comment's id there.
        comment_id: String,
    },
}

/// How a person settles a conflict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resolution", content = "value", rename_all = "snake_case")]
pub enum Resolution {
    /// Keep Handoff's value.
    UseHandoff,
    /// Keep Jira's value.
    UseJira,
    /// Write this value to both sides.
    Merge(Value),
    /// Dismiss without choosing: the later edit wins (as `last_writer_wins` would decide).
    Ignore,
}

/// Why a link was unlinked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlinkReason {
    /// A person asked.
    Requested,
    /// The Jira issue was deleted; the work item is kept.
    JiraIssueDeleted,
    /// The work item was deleted; the Jira issue is kept.
    WorkItemDeleted,
}

/// A command to the link aggregate. Every command carries `cmd_id`, unique per command
/// (a delivery id, a UUID, ...): the ids of the intents and conflicts it creates derive from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum LinkCommand {
    /// Link a new Handoff item: the engine creates its Jira issue.
    CreateFromHandoff {
        /// Command id.
        cmd_id: String,
        /// The project.
        project_id: String,
        /// The work item.
        work_item_id: String,
        /// Its current values.
        item: HandoffObservation,
        /// The project's mapping in force.
        mapping: ProjectMapping,
        /// When.
        at: Millis,
    },
    /// Link an existing Jira issue: the engine creates its Handoff item.
    CreateFromJira {
        /// Command id.
        cmd_id: String,
        /// The project.
        project_id: String,
        /// The issue.
        issue: JiraRef,
        /// Its current values.
        observed: JiraObservation,
        /// The project's mapping in force.
        mapping: ProjectMapping,
        /// When.
        at: Millis,
    },
    /// Link an existing item to an existing issue; `prefer` says whose values win where they
    /// differ.
    LinkExisting {
        /// Command id.
        cmd_id: String,
        /// The project.
        project_id: String,
        /// The work item.
        work_item_id: String,
        /// Its current values.
        item: HandoffObservation,
        /// The issue.
        issue: JiraRef,
        /// Its current values.
        observed: JiraObservation,
        /// Whose values win.
        prefer: Side,
        /// The project's mapping in force.
        mapping: ProjectMapping,
        /// When.
        at: Millis,
    },
    /// The work item changed (notification, poll, or a fetch after a version conflict).
    ObserveHandoff {
        /// Command id.
        cmd_id: String,
        /// What was seen.
        observed: HandoffObservation,
        /// The delivery it came in, when any.
        delivery_id: Option<String>,
        /// When it was received.
        at: Millis,
    },
    /// The Jira issue changed (webhook, poll, reconciliation).
    ObserveJira {
        /// Command id.
        cmd_id: String,
        /// What was seen.
        observed: JiraObservation,
        /// The delivery it came in (`X-Atlassian-Webhook-Identifier`), when any.
        delivery_id: Option<String>,
        /// When it was received.
        at: Millis,
    },
    /// A comment was seen on one side.
    ObserveComment {
        /// Command id.
        cmd_id: String,
        /// The side it was seen on.
        side: Side,
        /// The comment.
        comment: ObservedComment,
        /// When.
        at: Millis,
    },
    /// A dispatcher is about to carry an intent out (it holds the lease): from now on its
    /// write may land, so Jira's changelog may show it before the result comes back.
    DispatchStarted {
        /// Command id.
        cmd_id: String,
        /// The intent.
        intent_id: String,
        /// When.
        at: Millis,
    },
    /// An intent was carried out.
    DispatchSucceeded {
        /// Command id.
        cmd_id: String,
        /// The intent.
        intent_id: String,
        /// What it produced.
        outcome: DispatchOutcome,
        /// When.
        at: Millis,
    },
    /// An intent failed; the domain schedules a retry or gives up.
    DispatchFailed {
        /// Command id.
        cmd_id: String,
        /// The intent.
        intent_id: String,
        /// The error class.
        class: ErrorClass,
        /// The error, for people.
        message: String,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Random jitter for the backoff, chosen by the caller.
        jitter_ms: u64,
        /// When.
        at: Millis,
    },
    /// The dispatcher gave up on an intent for a reason of its own (e.g. the link's project was
    /// removed).
    DispatchGaveUp {
        /// Command id.
        cmd_id: String,
        /// The intent.
        intent_id: String,
        /// Why.
        reason: String,
        /// When.
        at: Millis,
    },
    /// A person settles a conflict.
    ResolveConflict {
        /// Command id.
        cmd_id: String,
        /// The conflict.
        conflict_id: String,
        /// How.
        resolution: Resolution,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
    /// A person unlinks the item from the issue; both are kept.
    Unlink {
        /// Command id.
        cmd_id: String,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
    /// One side's record is gone.
    RemoteDeleted {
        /// Command id.
        cmd_id: String,
        /// Which side.
        side: Side,
        /// The delivery it came in, when any.
        delivery_id: Option<String>,
        /// When.
        at: Millis,
    },
    /// A person asks for a full sync: both sides freshly read, failed intents tried again.
    ForceResync {
        /// Command id.
        cmd_id: String,
        /// The item as read now.
        item: HandoffObservation,
        /// The issue as read now.
        observed: JiraObservation,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
    /// A person asks for the writes that gave up (or are held) to be tried again, without a
    /// fresh read of either side: each is issued again as a fresh intent with a new id, creates
    /// included. Refused with [`crate::DomainError::NothingToRetry`] when no intent gave up or
    /// is held; a second command with the same `cmd_id` is a no-op (no events).
    RetryFailed {
        /// Command id.
        cmd_id: String,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
    /// The project's mapping changed.
    ChangeMapping {
        /// Command id.
        cmd_id: String,
        /// The new mapping (already validated by the project aggregate).
        mapping: ProjectMapping,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
}

impl LinkCommand {
    /// The command's id.
    pub fn cmd_id(&self) -> &str {
        match self {
            LinkCommand::CreateFromHandoff { cmd_id, .. }
            | LinkCommand::CreateFromJira { cmd_id, .. }
            | LinkCommand::LinkExisting { cmd_id, .. }
            | LinkCommand::ObserveHandoff { cmd_id, .. }
            | LinkCommand::ObserveJira { cmd_id, .. }
            | LinkCommand::ObserveComment { cmd_id, .. }
            | LinkCommand::DispatchStarted { cmd_id, .. }
            | LinkCommand::DispatchSucceeded { cmd_id, .. }
            | LinkCommand::DispatchFailed { cmd_id, .. }
            | LinkCommand::DispatchGaveUp { cmd_id, .. }
            | LinkCommand::ResolveConflict { cmd_id, .. }
            | LinkCommand::Unlink { cmd_id, .. }
            | LinkCommand::RemoteDeleted { cmd_id, .. }
            | LinkCommand::ForceResync { cmd_id, .. }
            | LinkCommand::RetryFailed { cmd_id, .. }
            | LinkCommand::ChangeMapping { cmd_id, .. } => cmd_id,
        }
    }
}

/// What an intent asks an adapter to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum IntentAction {
    /// Create the Jira issue, carrying the work item id as a marker; before any retry the
    /// dispatcher looks the issue up by that marker.
    CreateJiraIssue {
        /// The project.
        project_id: String,
        /// The marker: the work item id.
        work_item_id: String,
        /// Jira field → value in Jira space (status excluded: it takes a transition).
        fields: BTreeMap<String, Value>,
    },
    /// Write only these Jira fields.
    UpdateJiraFields {
        /// The issue id.
        issue_id: String,
        /// Jira field → value in Jira space.
        fields: BTreeMap<String, Value>,
    },
    /// Bring the issue to this status through the workflow's transitions.
    TransitionJiraStatus {
        /// The issue id.
        issue_id: String,
        /// The target status name.
        status: String,
    },
    /// Add a comment in Jira, with an author line and a marker naming the Handoff comment.
    AddJiraComment {
        /// The issue id.
        issue_id: String,
        /// The Handoff comment it mirrors.
        origin_id: String,
        /// Its author.
        author: String,
        /// Its body (Markdown).
        body: String,
    },
    /// Edit a comment in Jira that mirrors a Handoff comment.
    EditJiraComment {
        /// The issue id.
        issue_id: String,
        /// The Jira comment id.
        comment_id: String,
        /// The Handoff comment it mirrors.
        origin_id: String,
        /// Its author.
        author: String,
        /// Its new body.
        body: String,
    },
    /// Create the Handoff item, carrying the Jira issue id as a marker.
    CreateHandoffItem {
        /// The project.
        project_id: String,
        /// The marker: the Jira issue.
        issue: JiraRef,
        /// Handoff field → value.
        fields: BTreeMap<String, Value>,
    },
    /// Write only these Handoff fields, if the item is still at `expected_version`.
    UpdateHandoffFields {
        /// The work item.
        work_item_id: String,
        /// Handoff field → value.
        fields: BTreeMap<String, Value>,
        /// The version the write expects.
        expected_version: Option<u64>,
    },
    /// Add a comment in Handoff that mirrors a Jira comment.
    AddHandoffComment {
        /// The work item.
        work_item_id: String,
        /// The Jira comment it mirrors.
        origin_id: String,
        /// Its author.
        author: String,
        /// Its body (Markdown).
        body: String,
    },
    /// Edit a comment in Handoff that mirrors a Jira comment.
    EditHandoffComment {
        /// The work item.
        work_item_id: String,
        /// The Handoff comment id.
        comment_id: String,
        /// The Jira comment it mirrors.
        origin_id: String,
        /// Its author.
        author: String,
        /// Its new body.
        body: String,
    },
}

impl IntentAction {
    /// The side this intent writes.
    pub fn target(&self) -> Side {
        match self {
            IntentAction::CreateJiraIssue { .. }
            | IntentAction::UpdateJiraFields { .. }
            | IntentAction::TransitionJiraStatus { .. }
            | IntentAction::AddJiraComment { .. }
            | IntentAction::EditJiraComment { .. } => Side::Jira,
            _ => Side::Handoff,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            IntentAction::CreateJiraIssue { .. } => "create_jira_issue",
            IntentAction::UpdateJiraFields { .. } => "update_jira_fields",
            IntentAction::TransitionJiraStatus { .. } => "transition_jira_status",
            IntentAction::AddJiraComment { .. } => "add_jira_comment",
            IntentAction::EditJiraComment { .. } => "edit_jira_comment",
            IntentAction::CreateHandoffItem { .. } => "create_handoff_item",
            IntentAction::UpdateHandoffFields { .. } => "update_handoff_fields",
            IntentAction::AddHandoffComment { .. } => "add_handoff_comment",
            IntentAction::EditHandoffComment { .. } => "edit_handoff_comment",
        }
    }
}

/// One field value an intent writes, in Handoff space, with what that side held before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldWrite {
    /// The Handoff field.
    pub field: String,
    /// The value written (Handoff space).
    pub value: Value,
    /// What the engine believed the target side held when it decided the write.
    pub prior: Value,
}

/// An outbound intent: one idempotent action for a dispatcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Unique id, the idempotency key.
    pub id: String,
    /// What to do.
    pub action: IntentAction,
    /// The field values it writes, for the aggregate's bookkeeping.
    pub writes: Vec<FieldWrite>,
    /// When it is due.
    pub due_at: Millis,
}

/// Why a conflict exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Both sides changed the field to different values.
    Concurrent,
    /// Our write to Jira overwrote an edit we had not seen (found from changelog `from`).
    Clobbered,
}

/// An open conflict on one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Its id.
    pub id: String,
    /// The Handoff field.
    pub field: String,
    /// Why.
    pub kind: ConflictKind,
    /// The last value both sides agreed on.
    pub base: Value,
    /// Handoff's value (kept current while the conflict is open).
    pub handoff: Value,
    /// Jira's value in Handoff space (kept current while the conflict is open).
    pub jira: Value,
    /// Edits on Jira that a write of ours overwrote, kept so they are not lost.
    #[serde(default)]
    pub lost: Vec<Value>,
    /// When it was detected.
    pub detected_at: Millis,
}

/// Who settled a conflict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "name", rename_all = "snake_case")]
pub enum ResolvedBy {
    /// A person.
    Person(String),
    /// The field's policy.
    Policy(crate::mapping::Policy),
}

/// Why an observation or part of one was not carried over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// The field does not sync from this side.
    OneWay,
    /// The value could not be carried through the field's transform.
    Untransformable(String),
    /// An intermediate status of a multi-hop transition of ours: neither a person's edit nor
    /// the transition's echo (the final status settles it).
    OwnTransitionHop {
        /// The transition's intent.
        intent_id: String,
        /// The intermediate status (Handoff space).
        value: Value,
    },
}

/// An event of the link aggregate. The serialized form carries the event's name; see
/// [`LinkEvent::event_version`] for its schema version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LinkEvent {
    /// The link exists.
    LinkCreated {
        /// The project.
        project_id: String,
        /// The side the link was created from.
        origin: Side,
        /// The work item, if it exists yet.
        work_item_id: Option<String>,
        /// The Jira issue, if it exists yet.
        issue: Option<JiraRef>,
        /// The mapping in force.
        mapping: ProjectMapping,
        /// When.
        at: Millis,
    },
    /// An observation of Handoff was accepted.
    HandoffObserved {
        /// Its version.
        version: u64,
        /// Who changed it.
        actor: Option<String>,
        /// The delivery it came in.
        delivery_id: Option<String>,
        /// When.
        at: Millis,
    },
    /// An observation of Jira was accepted.
    JiraObserved {
        /// Its version.
        version: JiraVersion,
        /// The key then.
        key: Option<String>,
        /// Who changed it.
        actor: Option<String>,
        /// The delivery it came in.
        delivery_id: Option<String>,
        /// When.
        at: Millis,
    },
    /// An observation older than (or as old as) one already seen was dropped.
    ObservationStale {
        /// The side.
        side: Side,
        /// The delivery it came in.
        delivery_id: Option<String>,
        /// When.
        at: Millis,
    },
    /// A person changed a field on one side.
    FieldChanged {
        /// The side.
        side: Side,
        /// The Handoff field.
        field: String,
        /// The new value (Handoff space).
        value: Value,
        /// When it was changed, by that side's clock.
        changed_at: Millis,
    },
    /// A write of ours was seen on the side it was written to.
    FieldEchoed {
        /// The side.
        side: Side,
        /// The Handoff field.
        field: String,
        /// The value.
        value: Value,
        /// The intent that wrote it.
        intent_id: String,
    },
    /// The field holds the same value on both sides now.
    FieldConverged {
        /// The Handoff field.
        field: String,
        /// The value.
        value: Value,
    },
    /// A change was not carried over.
    FieldIgnored {
        /// The side it came from.
        side: Side,
        /// The Handoff field.
        field: String,
        /// Why.
        reason: IgnoreReason,
    },
    /// The engine decided both sides should hold `value` for this field.
    FieldTargeted {
        /// The Handoff field.
        field: String,
        /// The value.
        value: Value,
        /// The side the value came from, or `None` for a resolution.
        from: Option<Side>,
    },
    /// An outbound intent.
    IntentEmitted {
        /// The intent.
        intent: Intent,
    },
    /// A dispatcher started carrying an intent out.
    IntentStarted {
        /// The intent.
        intent_id: String,
    },
    /// An intent was carried out.
    IntentSucceeded {
        /// The intent.
        intent_id: String,
        /// What it produced.
        outcome: DispatchOutcome,
        /// When.
        at: Millis,
    },
    /// An intent failed and will be tried again.
    IntentRetryScheduled {
        /// The intent.
        intent_id: String,
        /// The attempt that failed.
        attempt: u32,
        /// The error class.
        class: ErrorClass,
        /// The error.
        message: String,
        /// When to try again.
        next_attempt_at: Millis,
    },
    /// An intent is held until a fresh observation (the host's version moved).
    IntentBlocked {
        /// The intent.
        intent_id: String,
        /// The error.
        message: String,
    },
    /// An intent gave up; a person must act.
    IntentGaveUp {
        /// The intent.
        intent_id: String,
        /// Why.
        reason: String,
        /// When.
        at: Millis,
    },
    /// An intent is no longer wanted (a later decision replaced it).
    IntentSuperseded {
        /// The intent.
        intent_id: String,
    },
    /// A conflict was opened.
    ConflictOpened {
        /// The conflict.
        conflict: Conflict,
    },
    /// A side changed while its conflict is open.
    ConflictUpdated {
        /// The conflict.
        conflict_id: String,
        /// The side.
        side: Side,
        /// The new value (Handoff space).
        value: Value,
    },
    /// Another overwritten Jira edit joined an open conflict.
    ConflictLostValue {
        /// The conflict.
        conflict_id: String,
        /// The overwritten value (Handoff space).
        value: Value,
    },
    /// A write of ours to Jira was seen in Jira's changelog (or is moot): nothing more to
    /// check it against.
    JiraWriteSettled {
        /// The Handoff field.
        field: String,
        /// The intent that wrote it.
        intent_id: String,
        /// When its changelog entry says it landed, by Jira's clock (absent when it settled
        /// without an entry, and in events stored before it was recorded).
        #[serde(default)]
        at: Option<Millis>,
    },
    /// The changelog entry of a write of ours that may land twice was seen.
    JiraWriteEchoed {
        /// The Handoff field.
        field: String,
        /// The intent that wrote it.
        intent_id: String,
        /// When the entry says it landed, by Jira's clock (absent in events stored before it
        /// was recorded).
        #[serde(default)]
        at: Option<Millis>,
    },
    /// A conflict was settled.
    ConflictResolved {
        /// The conflict.
        conflict_id: String,
        /// The Handoff field.
        field: String,
        /// How.
        resolution: Resolution,
        /// The value both sides get.
        value: Value,
        /// Who settled it.
        by: ResolvedBy,
        /// When.
        at: Millis,
    },
    /// A comment seen on one side, not written by us.
    CommentObserved {
        /// The side.
        side: Side,
        /// The comment.
        comment: ObservedComment,
    },
    /// A mirror comment of ours exists on the other side.
    CommentMirrored {
        /// The side of the original.
        origin_side: Side,
        /// The original's id.
        origin_id: String,
        /// The mirror's id.
        mirror_id: String,
        /// The body the mirror holds.
        body: String,
    },
    /// The link's identity on one side became known or changed.
    IdentityUpdated {
        /// The work item, when known.
        work_item_id: Option<String>,
        /// The Jira issue, when known.
        issue: Option<JiraRef>,
    },
    /// A person asked for a full sync; failed intents are cleared and re-decided.
    ResyncRequested {
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
    /// A person asked for the writes that gave up or are held to be tried again; the intents
    /// named are withdrawn and issued again as fresh intents (new ids).
    RetryRequested {
        /// The command that asked (a second command with this id is a no-op).
        cmd_id: String,
        /// The intents tried again, in the order they were emitted.
        intents: Vec<String>,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
    /// The mapping in force changed.
    MappingChanged {
        /// The new mapping.
        mapping: ProjectMapping,
        /// Who.
        actor: String,
        /// When.
        at: Millis,
    },
    /// The link ended.
    Unlinked {
        /// Why.
        reason: UnlinkReason,
        /// Who, when a person.
        actor: Option<String>,
        /// When.
        at: Millis,
    },
}

impl LinkEvent {
    /// The event's name, as stored.
    pub fn event_type(&self) -> &'static str {
        match self {
            LinkEvent::LinkCreated { .. } => "link_created",
            LinkEvent::HandoffObserved { .. } => "handoff_observed",
            LinkEvent::JiraObserved { .. } => "jira_observed",
            LinkEvent::ObservationStale { .. } => "observation_stale",
            LinkEvent::FieldChanged { .. } => "field_changed",
            LinkEvent::FieldEchoed { .. } => "field_echoed",
            LinkEvent::FieldConverged { .. } => "field_converged",
            LinkEvent::FieldIgnored { .. } => "field_ignored",
            LinkEvent::FieldTargeted { .. } => "field_targeted",
            LinkEvent::IntentEmitted { .. } => "intent_emitted",
            LinkEvent::IntentStarted { .. } => "intent_started",
            LinkEvent::IntentSucceeded { .. } => "intent_succeeded",
            LinkEvent::IntentRetryScheduled { .. } => "intent_retry_scheduled",
            LinkEvent::IntentBlocked { .. } => "intent_blocked",
            LinkEvent::IntentGaveUp { .. } => "intent_gave_up",
            LinkEvent::IntentSuperseded { .. } => "intent_superseded",
            LinkEvent::ConflictOpened { .. } => "conflict_opened",
            LinkEvent::ConflictUpdated { .. } => "conflict_updated",
            LinkEvent::ConflictResolved { .. } => "conflict_resolved",
            LinkEvent::ConflictLostValue { .. } => "conflict_lost_value",
            LinkEvent::JiraWriteSettled { .. } => "jira_write_settled",
            LinkEvent::JiraWriteEchoed { .. } => "jira_write_echoed",
            LinkEvent::CommentObserved { .. } => "comment_observed",
            LinkEvent::CommentMirrored { .. } => "comment_mirrored",
            LinkEvent::IdentityUpdated { .. } => "identity_updated",
            LinkEvent::ResyncRequested { .. } => "resync_requested",
            LinkEvent::RetryRequested { .. } => "retry_requested",
            LinkEvent::MappingChanged { .. } => "mapping_changed",
            LinkEvent::Unlinked { .. } => "unlinked",
        }
    }

    /// The schema version of the event; a change to an event's shape bumps it and adds an
    /// upcaster in the store.
    pub fn event_version(&self) -> &'static str {
        "1"
    }
}

/// The state of one field of a link, in Handoff space.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FieldState {
    /// The value both sides hold or are being brought to.
    pub base: Value,
    /// The last value seen on Handoff.
    pub handoff: Value,
    /// The last value seen on Jira.
    pub jira: Value,
    /// When Handoff last changed it (by Handoff's clock).
    pub handoff_changed_at: Millis,
    /// When Jira last changed it (by Jira's clock).
    pub jira_changed_at: Millis,
    /// The value Jira's last change (at `jira_changed_at`) set: `jira` may hold a write of
    /// ours since. `None` in states stored before it was kept.
    #[serde(default)]
    pub jira_changed_to: Option<Value>,
    /// Writes to Handoff not yet confirmed, oldest first.
    pub pending_handoff: Vec<PendingWrite>,
    /// Writes to Jira not yet confirmed, oldest first.
    pub pending_jira: Vec<PendingWrite>,
    /// Writes to Jira that succeeded and whose webhooks have not been seen yet, oldest first
    /// (the last 16): kept to find edits they overwrote (Jira has no conditional update).
    pub unechoed_jira: Vec<PendingWrite>,
    /// Writes of ours to Handoff withdrawn after an attempt whose outcome is unknown (a
    /// timeout): each may have landed, at the version it expected + 1. Kept until a Handoff
    /// observation at or past that version has been taken.
    #[serde(default)]
    pub withdrawn_handoff: Vec<HandoffAttempt>,
    /// Overwritten Jira edits already recorded in a conflict, so a later webhook telling the
    /// same loss does not record it twice.
    pub reported_lost: Vec<Value>,
    /// The open conflict on this field.
    pub conflict: Option<String>,
    /// Whether Handoff's value has been seen (or written by us) at least once.
    pub handoff_seen: bool,
    /// Whether Jira's value has been seen (or written by us) at least once.
    pub jira_seen: bool,
    /// Whether Handoff changed the field while the whole link was paused, since its target
    /// was last set outside a pause: on resumption the change is weighed even when Handoff
    /// ends on the target's value (changed away and back).
    #[serde(default)]
    pub handoff_moved_in_pause: bool,
    /// The same for Jira.
    #[serde(default)]
    pub jira_moved_in_pause: bool,
    /// When a change seen on Handoff set the target, or met it (a person there set the value
    /// the target already held, so no write was needed), by Handoff's clock, as long as no
    /// write of ours has carried it to Jira since. A Jira change made before then and seen
    /// only later was made concurrently with that edit. Cleared when the target moves to
    /// another value, a write of the field lands on Jira, or a conflict opens.
    #[serde(default)]
    pub handoff_met_at: Option<Millis>,
    /// The same for Jira, by Jira's clock.
    #[serde(default)]
    pub jira_met_at: Option<Millis>,
}

/// A conditional write of ours to Handoff that may have landed (see
/// [`FieldState::withdrawn_handoff`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffAttempt {
    /// The intent.
    pub intent_id: String,
    /// The value it wrote.
    pub value: Value,
    /// What Handoff held when it was decided.
    pub prior: Value,
    /// The item version the write expected: if it landed, it made `expected_version + 1`.
    pub expected_version: u64,
}

/// A write the engine asked for and has not seen confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    /// Whether the write is known to have landed (its success or its echo was seen); a write
    /// withdrawn after an attempt with an unknown outcome may or may not have.
    #[serde(default)]
    pub landed: bool,
    /// Values people were seen setting on Jira (with the version they were seen at) after
    /// this write succeeded and before its webhook: if the webhook of a later landing of this
    /// write shows one of them as `from`, the write overwrote it.
    #[serde(default)]
    pub overtaken_by: Vec<(Value, Millis)>,
    /// Whether the write was attempted more than once (a retry after an unknown outcome),
    /// so it may have landed, and show in Jira's changelog, more than once.
    #[serde(default)]
    pub repeats: bool,
    /// Whether its changelog entry has been seen (a write that may land twice is kept after
    /// that, for a second landing, but tells nothing more about earlier edits).
    #[serde(default)]
    pub echoed: bool,
    /// The newest Jira version seen when the write was decided: it cannot have landed before,
    /// so Jira's changelog after it tells what it overwrote.
    #[serde(default)]
    pub after: Option<JiraVersion>,
    /// When the write landed, by Jira's clock (the version the edit returned), when known.
    #[serde(default)]
    pub landed_at: Option<Millis>,
    /// Whether the write was carried by the create of the Jira issue: it landed when the issue
    /// was made, before any edit a person made there.
    #[serde(default)]
    pub by_create: bool,
    /// When a later write of ours to the field was seen landing (its changelog entry), by
    /// Jira's clock: this write landed before then, so an edit made after it was not
    /// overwritten by this write.
    #[serde(default)]
    pub later_landing: Option<Millis>,
    /// When its changelog entry (the latest seen, for a write that may land twice) says it
    /// landed, by Jira's clock: Jira held its value from then on until the next entry.
    #[serde(default)]
    pub echoed_at: Option<Millis>,
    /// For a status transition: the intermediate statuses our own hops were seen passing
    /// through (a workflow may need several transitions to reach the target).
    #[serde(default)]
    pub hops: Vec<Value>,
    /// The intent.
    pub intent_id: String,
    /// The value (Handoff space).
    pub value: Value,
    /// What the side held when the write was decided.
    pub prior: Value,
}

impl FieldState {
    /// The last value seen on `side`.
    pub fn last(&self, side: Side) -> &Value {
        match side {
            Side::Handoff => &self.handoff,
            Side::Jira => &self.jira,
        }
    }

    /// When a change seen on `side` met the target (see [`FieldState::handoff_met_at`]).
    pub fn met_at(&self, side: Side) -> Option<Millis> {
        match side {
            Side::Handoff => self.handoff_met_at,
            Side::Jira => self.jira_met_at,
        }
    }

    /// The writes pending on `side`.
    pub fn pending(&self, side: Side) -> &[PendingWrite] {
        match side {
            Side::Handoff => &self.pending_handoff,
            Side::Jira => &self.pending_jira,
        }
    }

    /// What `side` holds, or will hold once the pending writes land.
    pub fn effective(&self, side: Side) -> &Value {
        self.pending(side)
            .last()
            .map_or_else(|| self.last(side), |p| &p.value)
    }
}

/// Where an intent stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IntentState {
    /// Due at `due_at`; `attempts` failed so far.
    Open {
        /// Failed attempts so far.
        attempts: u32,
        /// When it is due.
        due_at: Millis,
    },
    /// Held until a fresh observation of its side.
    Blocked,
    /// Gave up; a person must act.
    GaveUp {
        /// Why.
        reason: String,
    },
}

/// An intent that has not finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIntent {
    /// The intent.
    pub intent: Intent,
    /// Where it stands.
    pub state: IntentState,
    /// Its position in the order the link emitted intents.
    pub seq: u64,
    /// Whether a dispatcher has started it (so its write may have landed).
    #[serde(default)]
    pub started: bool,
}

/// A comment known to the link, keyed by the side and id of its original.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentRecord {
    /// The original's author.
    pub author: String,
    /// The original's body, as last seen.
    pub body: String,
    /// The body last written to the mirror.
    pub mirrored_body: Option<String>,
    /// The mirror's id, once written.
    pub mirror_id: Option<String>,
    /// Whether the original was deleted.
    pub deleted: bool,
}

/// The derived status of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Both sides agree; nothing pending.
    Synced,
    /// A write to Jira is pending.
    PendingPush,
    /// A write to Handoff is pending.
    PendingPull,
    /// A conflict waits for a person.
    Conflict,
    /// An intent gave up; a person must act.
    Error,
    /// The link ended.
    Unlinked,
}

impl LinkStatus {
    /// The status as in the API (`synced`, `pending_push`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Synced => "synced",
            LinkStatus::PendingPush => "pending_push",
            LinkStatus::PendingPull => "pending_pull",
            LinkStatus::Conflict => "conflict",
            LinkStatus::Error => "error",
            LinkStatus::Unlinked => "unlinked",
        }
    }
}

/// The state of a link, rebuilt by folding its events with [`crate::link::evolve`].
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct LinkState {
    /// Whether the link exists.
    pub created: bool,
    /// The project.
    pub project_id: String,
    /// The work item, once it exists.
    pub work_item_id: Option<String>,
    /// The Jira issue, once it exists.
    pub issue: Option<JiraRef>,
    /// The mapping in force.
    pub mapping: Option<ProjectMapping>,
    /// Per Handoff field.
    pub fields: BTreeMap<String, FieldState>,
    /// The newest Handoff version seen.
    pub handoff_version: Option<u64>,
    /// The newest Jira version seen.
    pub jira_version: Option<JiraVersion>,
    /// Intents not finished, by id.
    pub intents: BTreeMap<String, OpenIntent>,
    /// Open conflicts, by id.
    pub conflicts: BTreeMap<String, Conflict>,
    /// Comments by `"{side of the original}:{original id}"` (see [`comment_key`]).
    pub comments: BTreeMap<String, CommentRecord>,
    /// Why the link ended, if it did.
    pub unlinked: Option<UnlinkReason>,
    /// When an intent last succeeded.
    pub last_synced_at: Option<Millis>,
    /// How many intents the link has emitted.
    pub intents_emitted: u64,
    /// The ids of the `RetryFailed` commands taken, so a repeated one changes nothing.
    #[serde(default)]
    pub retry_requests: std::collections::BTreeSet<String>,
}

/// The key of a comment in [`LinkState::comments`].
pub fn comment_key(origin_side: Side, origin_id: &str) -> String {
    format!("{origin_side}:{origin_id}")
}
