//! Our HTTP API's wire format: the JSON bodies it takes and gives, with their OpenAPI schema
//! (utoipa), and their conversions to and from the engine's plain views and the domain's
//! types. The one schema of a field mapping ([`MappingDoc`]) is also what the TOML config's
//! `[[projects.fields]]` tables are read as.
//!
//! Architecture invariant: this is the only place that knows our API's JSON; the engine's
//! views (`sync_engine::ops`) carry no serde and no schema.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sync_domain::link::Millis;
use sync_domain::mapping::Side;
use sync_domain::{Value, ValueKind};
use sync_engine::ops;

pub use crate::mapping_doc::{FieldMappingDoc, MappingDoc, RetryDoc, TransformDoc, ValueMapDoc};
use utoipa::ToSchema;

/// An epoch-milliseconds time as RFC 3339 (UTC).
pub fn iso_time(ms: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A canonical value as plain JSON for people: text as a string, a number as a number, a
/// set as an array of strings, no value as `null`.
pub fn value_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Text(s) | Value::RichText(s) | Value::Option(s) => J::String(s.clone()),
        Value::Number(n) => serde_json::from_str::<J>(n.as_str())
            .ok()
            .filter(J::is_number)
            .unwrap_or_else(|| J::String(n.as_str().to_string())),
        Value::OptionSet(set) => J::Array(set.iter().cloned().map(J::String).collect()),
        Value::User(u) => J::String(u.0.clone()),
        Value::Date(d) => J::String(d.as_str().to_string()),
    }
}

/// Plain JSON given by a person as a canonical value of `kind` (the inverse of
/// [`value_json`]).
pub fn value_from_json(kind: ValueKind, j: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    let bad = |why: &str| format!("a {kind} value {why}");
    if j.is_null() {
        return Ok(Value::Null);
    }
    let text = || j.as_str().ok_or_else(|| bad("must be a JSON string"));
    Ok(match kind {
        ValueKind::Text => Value::text(text()?),
        ValueKind::RichText => Value::rich_text(text()?),
        ValueKind::Option => Value::option(text()?),
        ValueKind::User => Value::user(text()?),
        ValueKind::Date => Value::date(text()?).map_err(|e| e.to_string())?,
        ValueKind::Number => match j {
            J::Number(n) => Value::number(n.as_f64().ok_or_else(|| bad("is out of range"))?)
                .map_err(|e| e.to_string())?,
            J::String(s) => sync_domain::Number::parse(s)
                .map(Value::Number)
                .map_err(|e| e.to_string())?,
            _ => return Err(bad("must be a JSON number")),
        },
        ValueKind::OptionSet => {
            let items = j
                .as_array()
                .ok_or_else(|| bad("must be a JSON array of strings"))?;
            let mut names = Vec::with_capacity(items.len());
            for i in items {
                names.push(
                    i.as_str()
                        .ok_or_else(|| bad("must be a JSON array of strings"))?,
                );
            }
            Value::option_set(names)
        }
    })
}

// ----- views -----

/// An open conflict, with both sides' values, for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
    #[schema(value_type = Object)]
    pub base: serde_json::Value,
    /// Handoff's value.
    #[schema(value_type = Object)]
    pub handoff_value: serde_json::Value,
    /// Jira's value (in Handoff's terms).
    #[schema(value_type = Object)]
    pub jira_value: serde_json::Value,
    /// Edits in Jira a write of ours overwrote, kept so they are not lost.
    #[schema(value_type = Vec<Object>)]
    pub lost_values: Vec<serde_json::Value>,
    /// When it was detected (RFC 3339).
    pub detected_at: String,
}

/// A work item's sync status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
    /// When a write last succeeded (RFC 3339).
    pub last_synced_at: Option<String>,
    /// How many conflicts wait for a person.
    pub pending_conflicts: u64,
    /// Writes not finished (open, held, or given up).
    pub open_intents: u64,
    /// The conflicts, with both values.
    pub conflicts: Vec<ConflictInfo>,
}

/// A link between a work item and a Jira issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
    /// When a write last succeeded (RFC 3339).
    pub last_synced_at: Option<String>,
    /// Open conflicts.
    pub open_conflicts: u64,
    /// Writes not finished.
    pub open_intents: u64,
}

/// One entry of a work item's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When it was recorded (RFC 3339).
    pub at: String,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MappingRevisionInfo {
    /// Who.
    pub actor: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A project's mapping in force, and its change history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MappingsView {
    /// The project.
    pub project_id: String,
    /// The mapping in force.
    pub mapping: MappingDoc,
    /// Changes made through the API, oldest first (the configured mapping has none).
    pub revisions: Vec<MappingRevisionInfo>,
}

/// What a mapping change did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunField {
    /// The Handoff field.
    pub handoff_field: String,
    /// The Jira field.
    pub jira_field: String,
    /// The field's direction.
    pub direction: String,
    /// The work item's value (null without an item).
    #[schema(value_type = Object)]
    pub handoff_value: serde_json::Value,
    /// The issue's value in Jira's terms (null without an issue).
    #[schema(value_type = Object)]
    pub jira_value: serde_json::Value,
    /// Handoff's value carried through the transform to Jira's terms.
    #[schema(value_type = Object)]
    pub handoff_as_jira: serde_json::Value,
    /// Jira's value carried through the transform to Handoff's terms.
    #[schema(value_type = Object)]
    pub jira_as_handoff: serde_json::Value,
    /// `in_sync`, `write_jira`, `write_handoff`, `conflict`, `one_way_skipped`,
    /// `untransformable` or `unreadable`.
    pub outcome: String,
    /// What would be written to Jira (Jira's terms), if anything.
    #[schema(value_type = Object)]
    pub would_write_jira: Option<serde_json::Value>,
    /// What would be written to Handoff, if anything.
    #[schema(value_type = Object)]
    pub would_write_handoff: Option<serde_json::Value>,
    /// Why, for people (a transform error, a field Jira did not return, ...).
    pub note: Option<String>,
}

/// The result of a mapping dry run: nothing was written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JiraFieldsView {
    /// The site.
    pub site: String,
    /// Its fields, by id.
    pub fields: Vec<JiraFieldInfo>,
}

/// Counts of the runtime and the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    /// All links.
    pub links: u64,
    /// Links per status.
    pub links_by_status: BTreeMap<String, u64>,
    /// Open conflicts.
    pub open_conflicts: u64,
    /// Writes not finished.
    pub open_intents: u64,
    /// When a write last succeeded (RFC 3339).
    pub last_sync_at: Option<String>,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkResult {
    /// How many were asked for.
    pub requested: u64,
    /// How many were done.
    pub succeeded: u64,
    /// Per item.
    pub results: Vec<ItemOutcome>,
}

/// Which work items a bulk sync covers: either these work items or every live link of a
/// project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged, try_from = "BulkTargetWire")]
pub enum BulkTarget {
    /// These work items (at most 500).
    Items(BulkItems),
    /// Every live link of this project.
    Project(BulkProject),
}

/// A bulk sync of these work items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkItems {
    /// The work items.
    #[schema(min_items = 1, max_items = 500)]
    pub work_item_ids: Vec<String>,
}

/// A bulk sync of every live link of a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkProject {
    /// The project.
    pub project_id: String,
}

/// A bulk target as written, before it is known to name exactly one of the two (so that a
/// body naming neither or both is refused with a message that says so).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BulkTargetWire {
    #[serde(default)]
    work_item_ids: Option<Vec<String>>,
    #[serde(default)]
    project_id: Option<String>,
}

impl TryFrom<BulkTargetWire> for BulkTarget {
    type Error = &'static str;

    fn try_from(w: BulkTargetWire) -> Result<Self, Self::Error> {
        match (w.work_item_ids, w.project_id) {
            (Some(work_item_ids), None) => Ok(BulkTarget::Items(BulkItems { work_item_ids })),
            (None, Some(project_id)) => Ok(BulkTarget::Project(BulkProject { project_id })),
            _ => Err("give either workItemIds or projectId"),
        }
    }
}

impl From<BulkTarget> for ops::BulkTarget {
    fn from(t: BulkTarget) -> Self {
        match t {
            BulkTarget::Items(i) => ops::BulkTarget::Items(i.work_item_ids),
            BulkTarget::Project(p) => ops::BulkTarget::Project(p.project_id),
        }
    }
}

fn side_schema() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::Type(
            utoipa::openapi::schema::Type::String,
        ))
        .enum_values(Some(["handoff", "jira"]))
        .build()
}

/// How to create a link: one body per action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CreateLink {
    /// Push a work item to Jira: the engine creates its issue.
    Push(PushLink),
    /// Link an existing work item to an existing Jira issue.
    LinkExisting(LinkExistingLink),
    /// Import one Jira issue: the engine creates its work item.
    Import(ImportLink),
    /// Import every issue a JQL search finds (at most 200).
    ImportJql(ImportJqlLink),
}

/// `action: push`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushLink {
    /// The work item.
    pub work_item_id: String,
}

/// `action: link_existing`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkExistingLink {
    /// The work item.
    pub work_item_id: String,
    /// The issue id or key.
    pub jira_issue: String,
    /// Whose values win where the two differ: `handoff` or `jira`.
    #[schema(schema_with = side_schema)]
    pub prefer: Side,
}

/// `action: import`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportLink {
    /// The project.
    pub project_id: String,
    /// The issue id or key.
    pub jira_issue: String,
}

/// `action: import_jql`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportJqlLink {
    /// The project.
    pub project_id: String,
    /// The search.
    pub jql: String,
}

impl From<CreateLink> for ops::CreateLink {
    fn from(c: CreateLink) -> Self {
        match c {
            CreateLink::Push(p) => ops::CreateLink::Push {
                work_item_id: p.work_item_id,
            },
            CreateLink::LinkExisting(l) => ops::CreateLink::LinkExisting {
                work_item_id: l.work_item_id,
                jira_issue: l.jira_issue,
                prefer: l.prefer,
            },
            CreateLink::Import(i) => ops::CreateLink::Import {
                project_id: i.project_id,
                jira_issue: i.jira_issue,
            },
            CreateLink::ImportJql(j) => ops::CreateLink::ImportJql {
                project_id: j.project_id,
                jql: j.jql,
            },
        }
    }
}

/// What a link creation did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateLinkResult {
    /// The links created or found (one, except for a JQL import).
    pub links: Vec<LinkInfo>,
    /// Per issue, for a JQL import.
    pub results: Vec<ItemOutcome>,
}

// ----- from the engine's views -----

fn values(v: &[Value]) -> Vec<serde_json::Value> {
    v.iter().map(value_json).collect()
}

impl From<ops::ConflictInfo> for ConflictInfo {
    fn from(c: ops::ConflictInfo) -> Self {
        ConflictInfo {
            id: c.id,
            link_id: c.link_id,
            project_id: c.project_id,
            work_item_id: c.work_item_id,
            jira_issue_key: c.jira_issue_key,
            field: c.field,
            kind: c.kind,
            base: value_json(&c.base),
            handoff_value: value_json(&c.handoff_value),
            jira_value: value_json(&c.jira_value),
            lost_values: values(&c.lost_values),
            detected_at: iso_time(c.detected_at),
        }
    }
}

impl From<ops::SyncStatusView> for SyncStatusView {
    fn from(v: ops::SyncStatusView) -> Self {
        SyncStatusView {
            work_item_id: v.work_item_id,
            link_id: v.link_id,
            project_id: v.project_id,
            status: v.status,
            jira_issue_id: v.jira_issue_id,
            jira_issue_key: v.jira_issue_key,
            last_synced_at: v.last_synced_at.map(iso_time),
            pending_conflicts: v.pending_conflicts,
            open_intents: v.open_intents,
            conflicts: v.conflicts.into_iter().map(ConflictInfo::from).collect(),
        }
    }
}

impl From<ops::LinkInfo> for LinkInfo {
    fn from(v: ops::LinkInfo) -> Self {
        LinkInfo {
            link_id: v.link_id,
            project_id: v.project_id,
            work_item_id: v.work_item_id,
            jira_issue_id: v.jira_issue_id,
            jira_issue_key: v.jira_issue_key,
            status: v.status,
            last_synced_at: v.last_synced_at.map(iso_time),
            open_conflicts: v.open_conflicts,
            open_intents: v.open_intents,
        }
    }
}

impl From<ops::HistoryEntry> for HistoryEntry {
    fn from(e: ops::HistoryEntry) -> Self {
        HistoryEntry {
            at: iso_time(e.at),
            link_id: e.link_id,
            sequence: e.sequence,
            event: e.event,
            summary: e.summary,
            source: e.source,
            actor: e.actor,
            delivery_id: e.delivery_id,
            correlation_id: e.correlation_id,
        }
    }
}

impl From<ops::MappingsView> for MappingsView {
    fn from(v: ops::MappingsView) -> Self {
        MappingsView {
            project_id: v.project_id,
            mapping: MappingDoc::from(&v.mapping),
            revisions: v
                .revisions
                .into_iter()
                .map(|r| MappingRevisionInfo {
                    actor: r.actor,
                    at: iso_time(r.at),
                })
                .collect(),
        }
    }
}

impl From<ops::PutMappingsResult> for PutMappingsResult {
    fn from(r: ops::PutMappingsResult) -> Self {
        PutMappingsResult {
            project_id: r.project_id,
            changed: r.changed,
            links_updated: r.links_updated,
            links_failed: r.links_failed,
        }
    }
}

impl From<ops::DryRunField> for DryRunField {
    fn from(f: ops::DryRunField) -> Self {
        DryRunField {
            handoff_field: f.handoff_field,
            jira_field: f.jira_field,
            direction: f.direction,
            handoff_value: value_json(&f.handoff_value),
            jira_value: value_json(&f.jira_value),
            handoff_as_jira: value_json(&f.handoff_as_jira),
            jira_as_handoff: value_json(&f.jira_as_handoff),
            outcome: f.outcome,
            would_write_jira: f.would_write_jira.as_ref().map(value_json),
            would_write_handoff: f.would_write_handoff.as_ref().map(value_json),
            note: f.note,
        }
    }
}

impl From<ops::DryRunView> for DryRunView {
    fn from(v: ops::DryRunView) -> Self {
        DryRunView {
            project_id: v.project_id,
            work_item_id: v.work_item_id,
            jira_issue_id: v.jira_issue_id,
            jira_issue_key: v.jira_issue_key,
            linked: v.linked,
            fields: v.fields.into_iter().map(DryRunField::from).collect(),
            mapping_problems: v.mapping_problems,
        }
    }
}

impl From<ops::JiraFieldsView> for JiraFieldsView {
    fn from(v: ops::JiraFieldsView) -> Self {
        JiraFieldsView {
            site: v.site,
            fields: v
                .fields
                .into_iter()
                .map(|f| JiraFieldInfo {
                    id: f.id,
                    name: f.name,
                    custom: f.custom,
                    schema_type: f.schema_type,
                    kind: f.kind,
                })
                .collect(),
        }
    }
}

impl From<ops::StatsView> for StatsView {
    fn from(v: ops::StatsView) -> Self {
        StatsView {
            links: v.links,
            links_by_status: v.links_by_status,
            open_conflicts: v.open_conflicts,
            open_intents: v.open_intents,
            last_sync_at: v.last_sync_at.map(iso_time),
            window_ms: v.window_ms,
            attempts_by_outcome: v.attempts_by_outcome,
            attempts_per_minute: v.attempts_per_minute,
            success_rate: v.success_rate,
            webhooks_received: v.webhooks_received,
            webhooks_duplicate: v.webhooks_duplicate,
            webhooks_rejected: v.webhooks_rejected,
            jira_calls: v.jira_calls,
        }
    }
}

impl From<ops::ItemOutcome> for ItemOutcome {
    fn from(o: ops::ItemOutcome) -> Self {
        ItemOutcome {
            id: o.id,
            ok: o.ok,
            link_id: o.link_id,
            error: o.error,
        }
    }
}

impl From<ops::BulkResult> for BulkResult {
    fn from(r: ops::BulkResult) -> Self {
        BulkResult {
            requested: r.requested,
            succeeded: r.succeeded,
            results: r.results.into_iter().map(ItemOutcome::from).collect(),
        }
    }
}

impl From<ops::CreateLinkResult> for CreateLinkResult {
    fn from(r: ops::CreateLinkResult) -> Self {
        CreateLinkResult {
            links: r.links.into_iter().map(LinkInfo::from).collect(),
            results: r.results.into_iter().map(ItemOutcome::from).collect(),
        }
    }
}
