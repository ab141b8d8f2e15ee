//! From Jira's wire data to the domain's observations: a parsed webhook ([`JiraEvent`]) or
//! an issue read over REST (with, optionally, a page of its changelog) becomes a
//! [`JiraObservation`] or an [`ObservedComment`] for one project's [`ProjectMapping`].
//!
//! Values are kept in Jira space (keyed by Jira field id, converted to canonical values with
//! the kind the mapping gives the field); the domain applies the mapping's transforms. Rich
//! text arrives as wiki markup in webhooks and as ADF over REST v3; both become Markdown.
//!
//! Two things the engine writes into Jira are taken off again here, so they never travel
//! back to the host as if a person had written them: the create marker label
//! (`handoff-<work item id>`) and the footer that names the host comment a Jira comment
//! mirrors (see [`mirror_footer`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use sync_domain::link::{FieldChange, JiraObservation, JiraRef, JiraVersion, ObservedComment};
use sync_domain::mapping::ProjectMapping;
use sync_domain::{Value, ValueKind};

use crate::client::body::{adf_to_markdown, wiki_to_markdown};
use crate::client::{split_author_line, JiraComment as RestComment, JiraIssue};
use crate::error::JiraError;
use crate::fields::{field_to_value, ApiFlavor};
use crate::webhook::{parse_jira_timestamp, ChangeItem, JiraEvent, JiraEventKind, JiraUser};

/// What the glue needs to know besides the wire data.
#[derive(Clone, Copy, Debug)]
pub struct ObserveContext<'a> {
    /// The project's mapping: which Jira fields are read, and as what kind.
    pub mapping: &'a ProjectMapping,
    /// The flavor of the REST API the issue was read from (webhooks are read as delivered).
    pub flavor: ApiFlavor,
    /// The engine's own Jira account (`accountId` on Cloud, `name` on Data Center), when
    /// known: changelog entries by it get `by_us = Some(true)`, others `Some(false)`.
    pub our_account: Option<&'a str>,
    /// The create marker label of the link's work item, taken out of label sets.
    pub marker_label: Option<&'a str>,
}

/// What one webhook delivery tells the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum WebhookObservation {
    /// The issue was created or changed.
    Issue {
        /// The issue.
        issue: JiraRef,
        /// What it holds now, with the delivery's changelog.
        observed: JiraObservation,
        /// Mapped fields whose delivered value could not be read (field id, reason); they
        /// are left out of `observed.values`.
        skipped: Vec<(String, String)>,
    },
    /// A comment was added, edited or deleted.
    Comment {
        /// The issue id.
        issue_id: String,
        /// The comment.
        comment: ObservedComment,
    },
    /// The issue was deleted.
    IssueDeleted {
        /// The issue id.
        issue_id: String,
    },
}

impl WebhookObservation {
    /// The id of the issue the delivery is about.
    pub fn issue_id(&self) -> &str {
        match self {
            WebhookObservation::Issue { issue, .. } => &issue.id,
            WebhookObservation::Comment { issue_id, .. }
            | WebhookObservation::IssueDeleted { issue_id } => issue_id,
        }
    }
}

/// The Jira fields to ask for when reading an issue for `mapping` (plus `updated`, its
/// version).
pub fn fields_to_read(mapping: &ProjectMapping) -> Vec<String> {
    let mut v: BTreeSet<String> = mapping
        .fields
        .iter()
        .map(|m| m.jira_field.clone())
        .collect();
    v.insert("updated".into());
    v.into_iter().collect()
}

/// The kind the mapping reads a Jira field as (the first mapping that reads it).
fn kind_of(mapping: &ProjectMapping, jira_field: &str) -> Option<ValueKind> {
    mapping.by_jira(jira_field).next().map(|m| m.kind)
}

fn strip_marker(v: Value, marker: Option<&str>) -> Value {
    match (v, marker) {
        (Value::OptionSet(set), Some(m)) if set.contains(m) => {
            Value::option_set(set.into_iter().filter(|l| l != m))
        }
        (v, _) => v,
    }
}

/// Reads every mapped field from a `fields` object. `absent_is_null`: a mapped field missing
/// from the object is empty (a full issue) rather than unknown (a reduced one).
fn read_fields(
    fields: &serde_json::Map<String, Json>,
    ctx: &ObserveContext<'_>,
    flavor: ApiFlavor,
    absent_is_null: bool,
) -> (BTreeMap<String, Value>, Vec<(String, String)>) {
    let mut values = BTreeMap::new();
    let mut skipped = Vec::new();
    for m in &ctx.mapping.fields {
        if values.contains_key(&m.jira_field) {
            continue;
        }
        let raw = match fields.get(&m.jira_field) {
            Some(raw) => raw,
            None if absent_is_null => &Json::Null,
            None => continue,
        };
        match field_to_value(raw, m.kind, flavor) {
            Ok(v) => {
                values.insert(m.jira_field.clone(), strip_marker(v, ctx.marker_label));
            }
            Err(e) => skipped.push((m.jira_field.clone(), e.to_string())),
        }
    }
    (values, skipped)
}

/// One side of a changelog item as a canonical value of `kind`, in Jira space. `None` when
/// the item does not tell it in a form this glue can read (e.g. components, which Jira logs
/// one item per added or removed component).
fn change_side(
    field: &str,
    kind: ValueKind,
    id: Option<&str>,
    text: Option<&str>,
    account_id: Option<&str>,
) -> Option<Value> {
    if id.is_none() && text.is_none() && account_id.is_none_or(str::is_empty) {
        return Some(Value::Null);
    }
    let text_or_id = text.or(id).unwrap_or_default();
    match kind {
        ValueKind::Text => Some(Value::text(text_or_id)),
        // Changelog strings of rich text are wiki markup, on Cloud as on Data Center.
        ValueKind::RichText => Some(Value::rich_text(&wiki_to_markdown(text_or_id))),
        ValueKind::Number => {
            let s = text_or_id.trim();
            if s.is_empty() {
                Some(Value::Null)
            } else {
                sync_domain::Number::parse(s).ok().map(Value::Number)
            }
        }
        // The display form is the name (status, priority, option); the id form is an id.
        ValueKind::Option => Some(Value::option(text_or_id)),
        ValueKind::OptionSet if field == "labels" => {
            Some(Value::option_set(text_or_id.split_whitespace()))
        }
        ValueKind::OptionSet => None,
        ValueKind::User => account_id
            .filter(|s| !s.is_empty())
            .or(id)
            .map(Value::user)
            .or(Some(Value::Null)),
        ValueKind::Date => Value::date(id.or(text).unwrap_or_default()).ok(),
    }
}

/// A changelog item as a [`FieldChange`] for `mapping`, or `None` when the field is not
/// mapped.
pub fn field_change(
    item: &ChangeItem,
    at: Option<i64>,
    by_us: Option<bool>,
    ctx: &ObserveContext<'_>,
) -> Option<FieldChange> {
    let field = item.field_key();
    let kind = kind_of(ctx.mapping, &field)?;
    let side = |id: Option<&str>, text: Option<&str>, acc: Option<&str>| {
        change_side(&field, kind, id, text, acc).map(|v| strip_marker(v, ctx.marker_label))
    };
    Some(FieldChange {
        from: side(
            item.from.as_deref(),
            item.from_string.as_deref(),
            item.from_account_id.as_deref(),
        ),
        to: side(
            item.to.as_deref(),
            item.to_string.as_deref(),
            item.to_account_id.as_deref(),
        ),
        jira_field: field,
        at,
        by_us,
    })
}

fn user_id(u: &JiraUser) -> Option<&str> {
    u.account_id
        .as_deref()
        .or(u.name.as_deref())
        .or(u.key.as_deref())
}

fn by_us(author: Option<&str>, ours: Option<&str>) -> Option<bool> {
    Some(author? == ours?)
}

fn display(u: Option<&JiraUser>) -> String {
    u.and_then(|u| {
        u.display_name
            .clone()
            .or_else(|| u.name.clone())
            .or_else(|| u.account_id.clone())
    })
    .unwrap_or_else(|| "Jira user".to_string())
}

const FOOTER_PREFIX: &str = "Synced from Handoff, comment ";

/// The footer the engine appends to a Jira comment that mirrors host comment `origin_id`,
/// so the mirror is recognised when its webhook arrives (even before the dispatch result).
/// It is a visible line, because Jira's rich text keeps no hidden metadata through ADF and
/// wiki markup alike.
pub fn mirror_footer(origin_id: &str) -> String {
    format!("_{FOOTER_PREFIX}{origin_id}_")
}

/// Splits a Markdown body into its text and the host comment id of its mirror footer.
pub fn split_mirror_footer(body_markdown: &str) -> (String, Option<String>) {
    let t = body_markdown.trim_end();
    let (rest, last) = match t.rsplit_once('\n') {
        Some((rest, last)) => (rest, last),
        None => ("", t),
    };
    let origin = last
        .trim()
        .strip_prefix('_')
        .and_then(|s| s.strip_suffix('_'))
        .or_else(|| {
            last.trim()
                .strip_prefix('*')
                .and_then(|s| s.strip_suffix('*'))
        })
        .and_then(|s| s.strip_prefix(FOOTER_PREFIX))
        .map(|s| s.replace('\\', ""));
    match origin {
        Some(o) if !o.is_empty() => (rest.trim_end().to_string(), Some(o)),
        _ => (body_markdown.to_string(), None),
    }
}

fn comment_from_markdown(
    id: &str,
    author: String,
    body_md: &str,
    deleted: bool,
) -> ObservedComment {
    let (body, mirror_of) = split_mirror_footer(body_md);
    // A mirror written by the engine starts with the author line of the person who wrote
    // the original; show that person rather than the API account.
    let (line_author, text) = if mirror_of.is_some() {
        split_author_line(&body)
    } else {
        (None, body)
    };
    ObservedComment {
        id: id.to_string(),
        author: line_author.unwrap_or(author),
        body: sync_domain::Value::rich_text(&text)
            .as_text()
            .unwrap_or_default()
            .to_string(),
        mirror_of,
        deleted,
    }
}

/// A parsed webhook delivery as what it tells the engine.
pub fn observe_event(
    event: &JiraEvent,
    ctx: &ObserveContext<'_>,
) -> Result<WebhookObservation, JiraError> {
    let issue_id = event.issue.id.clone();
    match event.kind {
        JiraEventKind::IssueDeleted => Ok(WebhookObservation::IssueDeleted { issue_id }),
        JiraEventKind::CommentCreated
        | JiraEventKind::CommentUpdated
        | JiraEventKind::CommentDeleted => {
            let c = event
                .comment
                .as_ref()
                .ok_or_else(|| JiraError::FieldShape {
                    kind: ValueKind::RichText,
                    reason: "a comment event without its comment".into(),
                })?;
            let md = match &c.body_adf {
                Some(adf) => adf_to_markdown(adf)?,
                None => wiki_to_markdown(&c.body),
            };
            let author = display(c.author.as_ref());
            Ok(WebhookObservation::Comment {
                issue_id,
                comment: comment_from_markdown(
                    &c.id,
                    author,
                    &md,
                    event.kind == JiraEventKind::CommentDeleted,
                ),
            })
        }
        JiraEventKind::IssueCreated | JiraEventKind::IssueUpdated => {
            // Webhook payloads carry rich text as wiki markup strings whatever the site's
            // REST flavor; the codec reads strings as wiki markup.
            let (values, skipped) = read_fields(&event.issue.fields, ctx, ctx.flavor, true);
            let updated_ms = event.issue.updated_ms.unwrap_or(event.timestamp_ms);
            let changelog_id = event
                .changelog
                .as_ref()
                .and_then(|c| c.id.as_deref())
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            let actor = event.actor.as_ref().and_then(user_id);
            let mine = by_us(actor, ctx.our_account);
            let changes = event
                .changelog
                .iter()
                .flat_map(|c| c.items.iter())
                .filter_map(|i| field_change(i, Some(updated_ms), mine, ctx))
                .collect();
            Ok(WebhookObservation::Issue {
                issue: JiraRef {
                    id: issue_id,
                    key: event.issue.key.clone().unwrap_or_default(),
                },
                observed: JiraObservation {
                    version: JiraVersion {
                        updated_ms,
                        changelog_id,
                    },
                    key: event.issue.key.clone(),
                    values,
                    changes,
                    changelog_from: None,
                    actor: actor.map(str::to_string),
                },
                skipped,
            })
        }
    }
}

/// An issue read over REST (with the fields of [`fields_to_read`]) as a plain observation:
/// no changelog (feed it as an `ObserveJira` after an edit, a poll, or a reconciliation).
/// A mapped field the response does not hold reads as empty, as Jira leaves out or nulls
/// the fields an issue does not have. Returns the mapped fields that could not be read too.
pub fn observe_issue(
    issue: &JiraIssue,
    ctx: &ObserveContext<'_>,
) -> (JiraObservation, Vec<(String, String)>) {
    let (values, skipped) = read_fields(&issue.fields, ctx, ctx.flavor, true);
    (
        JiraObservation {
            version: JiraVersion {
                updated_ms: issue.updated_millis().unwrap_or(0),
                changelog_id: 0,
            },
            key: Some(issue.key.clone()),
            values,
            changes: Vec::new(),
            changelog_from: None,
            actor: None,
        },
        skipped,
    )
}

/// An issue read over REST together with the entries of its changelog (the `values` of
/// `GET /issue/{id}/changelog`, or `changelog.histories` of `expand=changelog`), read from
/// `since`: the observation then carries every entry after `since` and says so in
/// `changelog_from`. Entries at or before `since` are left out.
pub fn observe_issue_with_changelog(
    issue: &JiraIssue,
    histories: &[Json],
    since: JiraVersion,
    ctx: &ObserveContext<'_>,
) -> Result<(JiraObservation, Vec<(String, String)>), JiraError> {
    let (mut observed, skipped) = observe_issue(issue, ctx);
    let mut entries: Vec<(u64, i64, Vec<FieldChange>)> = Vec::new();
    for h in histories {
        let id = match h.get("id") {
            Some(Json::String(s)) => s.parse::<u64>().ok(),
            Some(Json::Number(n)) => n.as_u64(),
            _ => None,
        }
        .ok_or_else(|| JiraError::FieldShape {
            kind: ValueKind::Text,
            reason: "a changelog entry without an id".into(),
        })?;
        let at = h
            .get("created")
            .and_then(Json::as_str)
            .and_then(parse_jira_timestamp);
        let after_since = if since.changelog_id > 0 {
            id > since.changelog_id
        } else {
            at.is_none_or(|t| t > since.updated_ms)
        };
        if !after_since {
            continue;
        }
        let author = h.get("author").and_then(|a| {
            a.get("accountId")
                .or_else(|| a.get("name"))
                .or_else(|| a.get("key"))
                .and_then(Json::as_str)
        });
        let mine = by_us(author, ctx.our_account);
        let items = h.get("items").and_then(Json::as_array);
        let changes = items
            .into_iter()
            .flatten()
            .map(rest_change_item)
            .filter_map(|i| field_change(&i, at, mine, ctx))
            .collect();
        entries.push((id, at.unwrap_or(0), changes));
    }
    entries.sort_by_key(|e| e.0);
    if let Some(last) = entries.last() {
        observed.version.changelog_id = last.0;
    }
    observed.changes = entries.into_iter().flat_map(|e| e.2).collect();
    observed.changelog_from = Some(since);
    Ok((observed, skipped))
}

fn rest_change_item(j: &Json) -> ChangeItem {
    let s = |k: &str| j.get(k).and_then(Json::as_str).map(str::to_string);
    ChangeItem {
        field: s("field").unwrap_or_default(),
        field_id: s("fieldId"),
        field_type: s("fieldtype"),
        from: s("from"),
        from_string: s("fromString"),
        to: s("to"),
        to_string: s("toString"),
        from_account_id: s("tmpFromAccountId"),
        to_account_id: s("tmpToAccountId"),
    }
}

/// A comment read over REST as the domain sees it (its mirror footer, if any, recognised).
pub fn observe_rest_comment(c: &RestComment) -> ObservedComment {
    comment_from_markdown(&c.id, c.author.clone(), &c.body_markdown, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_footer_round_trips_through_adf_and_wiki() {
        let md = format!("Hello\n\n{}", mirror_footer("hc-3"));
        let via_adf = crate::content::adf_to_md(&crate::content::md_to_adf(&md)).unwrap();
        assert_eq!(
            split_mirror_footer(&via_adf),
            ("Hello".to_string(), Some("hc-3".to_string()))
        );
        let via_wiki = crate::content::wiki_to_md(&crate::content::md_to_wiki(&md));
        assert_eq!(
            split_mirror_footer(&via_wiki),
            ("Hello".to_string(), Some("hc-3".to_string()))
        );
        assert_eq!(split_mirror_footer("plain"), ("plain".to_string(), None));
    }
}
