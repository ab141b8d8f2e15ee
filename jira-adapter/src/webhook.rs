//! Jira webhook intake: verify the signature of a delivery and parse its body.
//!
//! Jira Cloud signs a webhook that has a secret with
//! `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`; the check runs on the raw
//! bytes, in constant time. `X-Atlassian-Webhook-Identifier` stays the same across retries
//! of one delivery, so it is the dedupe key.
//!
//! Parsing accepts what real Jira sends, which is less regular than the REST API:
//! Cloud payloads carry description and comment bodies as wiki markup strings, changelog
//! `from`/`to` are often null with only `fromString`/`toString` set, Server payloads have
//! no `accountId`, Server `comment_*` deliveries may have no `issue` at all (the issue id is
//! then taken from the comment's `self` URL), and old Server payloads have no
//! `webhookEvent` (the kind is then inferred from `issue_event_type_name` or the shape).
//! A body that is not a Jira event gets an error that says why; parsing never panics.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The header that carries the body's signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature";
/// The header that identifies a delivery; it is the same across retries.
pub const DELIVERY_ID_HEADER: &str = "X-Atlassian-Webhook-Identifier";
/// The header Jira Cloud sets on a retried delivery (the retry number).
pub const RETRY_HEADER: &str = "X-Atlassian-Webhook-Retry";

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook delivery was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A secret is configured but the delivery has no `X-Hub-Signature` header.
    #[error("missing X-Hub-Signature header")]
    MissingSignature,
    /// The signature header is not of the form `sha256=<64 hex digits>`.
    #[error("malformed X-Hub-Signature header: {0}")]
    MalformedSignature(String),
    /// The signature does not match the body under the configured secret.
    #[error("signature does not match the body")]
    BadSignature,
    /// The body is not JSON.
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but not a Jira webhook event.
    #[error("body is not a Jira webhook event: {0}")]
    NotJiraEvent(String),
    /// A Jira event of a kind this intake does not handle (e.g. `worklog_created`).
    #[error("unsupported Jira webhook event `{0}`")]
    UnsupportedEvent(String),
    /// A Jira event that lacks a part its kind needs, or has a part of the wrong type.
    #[error("invalid Jira webhook event: {0}")]
    InvalidEvent(String),
}

/// What happened, as far as the sync engine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JiraEventKind {
    /// `jira:issue_created`.
    IssueCreated,
    /// `jira:issue_updated` (edits, transitions, assignments; also Server's
    /// `issue_commented`, whose comment is then in [`JiraEvent::comment`]).
    IssueUpdated,
    /// `jira:issue_deleted`; the issue is delivered as it was.
    IssueDeleted,
    /// `comment_created`.
    CommentCreated,
    /// `comment_updated`.
    CommentUpdated,
    /// `comment_deleted`.
    CommentDeleted,
}

impl JiraEventKind {
    /// The `webhookEvent` name Jira uses for this kind.
    pub fn webhook_event_name(self) -> &'static str {
        match self {
            Self::IssueCreated => "jira:issue_created",
            Self::IssueUpdated => "jira:issue_updated",
            Self::IssueDeleted => "jira:issue_deleted",
            Self::CommentCreated => "comment_created",
            Self::CommentUpdated => "comment_updated",
            Self::CommentDeleted => "comment_deleted",
        }
    }

    /// The kind for a `webhookEvent` name, if it is one of ours.
    pub fn from_webhook_event_name(name: &str) -> Option<Self> {
        Some(match name {
            "jira:issue_created" => Self::IssueCreated,
            "jira:issue_updated" => Self::IssueUpdated,
            "jira:issue_deleted" => Self::IssueDeleted,
            "comment_created" => Self::CommentCreated,
            "comment_updated" => Self::CommentUpdated,
            "comment_deleted" => Self::CommentDeleted,
            _ => return None,
        })
    }
}

/// The inbox key of a Jira delivery, `jira:{site}:{delivery id}`: delivery ids are unique per
/// site, so the key carries the site. Keys stored before sites were named have no site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxKey<'a> {
    /// The site's name in the config, when the key names one.
    pub site: Option<&'a str>,
    /// Jira's delivery id (`X-Atlassian-Webhook-Identifier`) or the engine's stand-in.
    pub delivery_id: &'a str,
}

impl<'a> InboxKey<'a> {
    /// The key of `delivery_id` from `site`.
    pub fn new(site: &'a str, delivery_id: &'a str) -> InboxKey<'a> {
        InboxKey {
            site: Some(site),
            delivery_id,
        }
    }

    /// Reads a stored key; one without the `jira:{site}:` prefix is a bare delivery id.
    pub fn parse(key: &'a str) -> InboxKey<'a> {
        match key
            .strip_prefix("jira:")
            .and_then(|rest| rest.split_once(':'))
        {
            Some((site, delivery_id)) => InboxKey {
                site: Some(site),
                delivery_id,
            },
            None => InboxKey {
                site: None,
                delivery_id: key,
            },
        }
    }
}

impl std::fmt::Display for InboxKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.site {
            Some(site) => write!(f, "jira:{site}:{}", self.delivery_id),
            None => f.write_str(self.delivery_id),
        }
    }
}

/// One parsed webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraEvent {
    /// `X-Atlassian-Webhook-Identifier`, the dedupe key, when the delivery had one.
    pub delivery_id: Option<String>,
    /// What happened.
    pub kind: JiraEventKind,
    /// `webhookEvent` as delivered (absent in old Server payloads).
    pub webhook_event: Option<String>,
    /// `issue_event_type_name` as delivered (e.g. `issue_assigned`, `issue_generic`).
    pub issue_event_type_name: Option<String>,
    /// When Jira produced the event, epoch milliseconds.
    pub timestamp_ms: i64,
    /// The issue the event is about.
    pub issue: IssueSnapshot,
    /// The changelog of an issue event, when delivered.
    pub changelog: Option<Changelog>,
    /// Who caused the event: the payload's `user`, or for comment events without one the
    /// comment's update author (else its author).
    pub actor: Option<JiraUser>,
    /// The comment of a comment event (and of Server's `issue_commented` updates).
    pub comment: Option<JiraComment>,
}

/// The issue as delivered in a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueSnapshot {
    /// The issue id: the stable identity (keys change when an issue moves project).
    pub id: String,
    /// The issue key, e.g. `TES-41`; absent when the payload has no issue object.
    pub key: Option<String>,
    /// `fields.project.key`, when delivered.
    pub project_key: Option<String>,
    /// `fields.updated` in epoch milliseconds, when delivered: the issue's version.
    pub updated_ms: Option<i64>,
    /// The raw `fields` object as delivered (descriptions are wiki markup in webhooks).
    pub fields: Map<String, Value>,
}

/// A changelog entry: what one edit changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changelog {
    /// The changelog id (grows with each change to an issue).
    pub id: Option<String>,
    /// The changed fields.
    pub items: Vec<ChangeItem>,
}

/// One changed field in a changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeItem {
    /// The field's name as Jira shows it (`summary`, `Status`, `MJK - Number Field`).
    pub field: String,
    /// The field id (`status`, `customfield_10072`); old Server payloads lack it.
    pub field_id: Option<String>,
    /// `fieldtype`: `jira` or `custom`.
    pub field_type: Option<String>,
    /// The id-form old value (status id, option id, user name), often null.
    pub from: Option<String>,
    /// The display-form old value.
    pub from_string: Option<String>,
    /// The id-form new value, often null.
    pub to: Option<String>,
    /// The display-form new value.
    pub to_string: Option<String>,
    /// Cloud's `tmpFromAccountId` for user fields.
    pub from_account_id: Option<String>,
    /// Cloud's `tmpToAccountId` for user fields.
    pub to_account_id: Option<String>,
}

/// One side of a change, best effort: an id when Jira gave one, else the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeValue<'a> {
    /// An identifier: account id, user name, status id, option id, version id.
    Id(&'a str),
    /// A display or text value: summary, description (wiki markup), labels, numbers.
    Text(&'a str),
}

impl<'a> ChangeValue<'a> {
    /// The value, whichever form it has.
    pub fn as_str(&self) -> &'a str {
        match *self {
            Self::Id(s) | Self::Text(s) => s,
        }
    }
}

impl ChangeItem {
    /// The field's value before the change: the account id for Cloud user fields, else
    /// `from` when Jira gave an id, else `fromString`. `None` means empty before.
    pub fn before(&self) -> Option<ChangeValue<'_>> {
        side(
            self.from_account_id.as_deref(),
            self.from.as_deref(),
            self.from_string.as_deref(),
        )
    }

    /// The field's value after the change, chosen like [`ChangeItem::before`].
    pub fn after(&self) -> Option<ChangeValue<'_>> {
        side(
            self.to_account_id.as_deref(),
            self.to.as_deref(),
            self.to_string.as_deref(),
        )
    }

    /// The field id when delivered, else the field name lower-cased (old Server payloads
    /// name system fields like `status` by name only).
    pub fn field_key(&self) -> String {
        match &self.field_id {
            Some(id) => id.clone(),
            None => self.field.to_lowercase(),
        }
    }
}

fn side<'a>(
    account_id: Option<&'a str>,
    id: Option<&'a str>,
    text: Option<&'a str>,
) -> Option<ChangeValue<'a>> {
    account_id
        .filter(|s| !s.is_empty())
        .or(id)
        .map(ChangeValue::Id)
        .or(text.map(ChangeValue::Text))
}

/// A Jira user as webhooks deliver it (Cloud: `accountId`; Server: `name`/`key`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JiraUser {
    /// Cloud account id.
    pub account_id: Option<String>,
    /// Server user name (also present, deprecated, in old Cloud payloads).
    pub name: Option<String>,
    /// Server user key.
    pub key: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// E-mail address, when visible (Cloud often hides it; placeholders are dropped).
    pub email: Option<String>,
}

/// A comment as webhooks deliver it.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraComment {
    /// The comment id.
    pub id: String,
    /// Who wrote it.
    pub author: Option<JiraUser>,
    /// Who last edited it.
    pub update_author: Option<JiraUser>,
    /// The body as delivered: wiki markup in Cloud and Server webhooks. Empty when the body
    /// came as ADF (see [`JiraComment::body_adf`]).
    pub body: String,
    /// The body when it came as an ADF document instead of a string.
    pub body_adf: Option<Value>,
    /// Creation time, epoch milliseconds.
    pub created_ms: Option<i64>,
    /// Last update time, epoch milliseconds.
    pub updated_ms: Option<i64>,
}

/// The value for [`SIGNATURE_HEADER`] that signs `raw_body` with `secret`.
pub fn sign(secret: &[u8], raw_body: &[u8]) -> String {
    let mut mac = mac_for(secret);
    mac.update(raw_body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac_for(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// Check `X-Hub-Signature` (`header`) against the raw body, in constant time.
pub fn verify_signature(
    secret: &[u8],
    raw_body: &[u8],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?.trim();
    let (algo, hex_sig) = header.split_once('=').ok_or_else(|| {
        WebhookError::MalformedSignature("expected `sha256=<hex>`, found no `=`".into())
    })?;
    if !algo.eq_ignore_ascii_case("sha256") {
        return Err(WebhookError::MalformedSignature(format!(
            "unsupported algorithm `{algo}`, expected sha256"
        )));
    }
    let expected = hex::decode(hex_sig)
        .map_err(|e| WebhookError::MalformedSignature(format!("signature is not hex: {e}")))?;
    if expected.len() != 32 {
        return Err(WebhookError::MalformedSignature(format!(
            "signature has {} bytes, expected 32",
            expected.len()
        )));
    }
    let mut mac = mac_for(secret);
    mac.update(raw_body);
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::BadSignature)
}

/// Parse a Jira webhook body (Cloud or Server) into a [`JiraEvent`].
pub fn parse_event(raw_body: &[u8], delivery_id: Option<&str>) -> Result<JiraEvent, WebhookError> {
    let value: Value =
        serde_json::from_slice(raw_body).map_err(|e| WebhookError::MalformedJson(e.to_string()))?;
    let Value::Object(root) = value else {
        return Err(WebhookError::NotJiraEvent(format!(
            "expected a JSON object, found {}",
            type_name(&value)
        )));
    };
    let webhook_event = opt_str(&root, "webhookEvent", "webhookEvent")?;
    let type_name_field = opt_str(&root, "issue_event_type_name", "issue_event_type_name")?;
    let has_issue = root.get("issue").is_some_and(|v| !v.is_null());
    let has_comment = root.get("comment").is_some_and(|v| !v.is_null());

    let kind = match webhook_event.as_deref() {
        Some(name) => JiraEventKind::from_webhook_event_name(name)
            .ok_or_else(|| WebhookError::UnsupportedEvent(name.to_owned()))?,
        None => infer_kind(
            type_name_field.as_deref(),
            has_issue,
            has_comment,
            root.contains_key("changelog"),
        )?,
    };

    let comment = match root.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => Some(parse_comment(c)?),
        Some(other) => return Err(wrong_type("comment", "an object", other)),
    };
    if comment.is_none()
        && matches!(
            kind,
            JiraEventKind::CommentCreated
                | JiraEventKind::CommentUpdated
                | JiraEventKind::CommentDeleted
        )
    {
        return Err(WebhookError::InvalidEvent(format!(
            "`{}` event has no `comment`",
            kind.webhook_event_name()
        )));
    }

    let issue = match root.get("issue") {
        Some(Value::Object(i)) => parse_issue(i)?,
        None | Some(Value::Null) => issue_from_comment(root.get("comment"))?.ok_or_else(|| {
            WebhookError::InvalidEvent(format!(
                "`{}` event has no `issue`",
                kind.webhook_event_name()
            ))
        })?,
        Some(other) => return Err(wrong_type("issue", "an object", other)),
    };

    let changelog = match root.get("changelog") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => Some(parse_changelog(c)?),
        Some(other) => return Err(wrong_type("changelog", "an object", other)),
    };

    let actor = match root.get("user") {
        None | Some(Value::Null) => comment
            .as_ref()
            .and_then(|c| c.update_author.clone().or_else(|| c.author.clone())),
        Some(Value::Object(u)) => Some(parse_user(u)?),
        Some(other) => return Err(wrong_type("user", "an object", other)),
    };

    let timestamp_ms = match root.get("timestamp") {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| WebhookError::InvalidEvent("`timestamp` is out of range".into()))?,
        Some(Value::String(s)) => s
            .parse::<i64>()
            .ok()
            .or_else(|| parse_jira_timestamp(s))
            .ok_or_else(|| {
                WebhookError::InvalidEvent(format!("`timestamp` `{s}` is unreadable"))
            })?,
        None | Some(Value::Null) => issue
            .updated_ms
            .or_else(|| comment.as_ref().and_then(|c| c.updated_ms))
            .ok_or_else(|| {
                WebhookError::InvalidEvent("no `timestamp` and no `updated` time".into())
            })?,
        Some(other) => return Err(wrong_type("timestamp", "a number", other)),
    };

    Ok(JiraEvent {
        delivery_id: delivery_id.map(str::to_owned),
        kind,
        webhook_event,
        issue_event_type_name: type_name_field,
        timestamp_ms,
        issue,
        changelog,
        actor,
        comment,
    })
}

fn infer_kind(
    type_name: Option<&str>,
    has_issue: bool,
    has_comment: bool,
    has_changelog: bool,
) -> Result<JiraEventKind, WebhookError> {
    if !has_issue && !has_comment {
        return Err(WebhookError::NotJiraEvent(
            "no `webhookEvent`, `issue` or `comment`".into(),
        ));
    }
    Ok(match type_name {
        Some("issue_created") => JiraEventKind::IssueCreated,
        Some("issue_deleted") => JiraEventKind::IssueDeleted,
        Some("issue_comment_edited") if has_comment => JiraEventKind::CommentUpdated,
        Some("issue_comment_deleted") if has_comment => JiraEventKind::CommentDeleted,
        Some(_) => JiraEventKind::IssueUpdated,
        None if has_changelog => JiraEventKind::IssueUpdated,
        None if has_comment => JiraEventKind::CommentCreated,
        None => JiraEventKind::IssueUpdated,
    })
}

fn parse_issue(obj: &Map<String, Value>) -> Result<IssueSnapshot, WebhookError> {
    let id = req_id(obj, "id", "issue.id")?;
    let key = opt_str(obj, "key", "issue.key")?;
    let fields = match obj.get("fields") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(f)) => f.clone(),
        Some(other) => return Err(wrong_type("issue.fields", "an object", other)),
    };
    let project_key = fields
        .get("project")
        .and_then(|p| p.get("key"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            key.as_deref()
                .and_then(|k| k.rsplit_once('-'))
                .map(|(p, _)| p.to_owned())
        });
    let updated_ms = opt_time(&fields, "updated", "issue.fields.updated")?;
    Ok(IssueSnapshot {
        id,
        key,
        project_key,
        updated_ms,
        fields,
    })
}

/// Server `comment_*` deliveries can lack `issue`; the comment's `self` URL
/// (`…/rest/api/2/issue/{issueId}/comment/{commentId}`) still names the issue.
fn issue_from_comment(comment: Option<&Value>) -> Result<Option<IssueSnapshot>, WebhookError> {
    let Some(url) = comment.and_then(|c| c.get("self")).and_then(Value::as_str) else {
        return Ok(None);
    };
    let mut parts = url.split('/').rev();
    let _comment_id = parts.next();
    let comment_seg = parts.next();
    let issue_id = parts.next();
    let issue_seg = parts.next();
    match (issue_seg, issue_id, comment_seg) {
        (Some("issue"), Some(id), Some("comment")) if !id.is_empty() => Ok(Some(IssueSnapshot {
            id: id.to_owned(),
            key: None,
            project_key: None,
            updated_ms: None,
            fields: Map::new(),
        })),
        _ => Err(WebhookError::InvalidEvent(format!(
            "no `issue`, and comment.self `{url}` does not name one"
        ))),
    }
}

fn parse_comment(obj: &Map<String, Value>) -> Result<JiraComment, WebhookError> {
    let id = req_id(obj, "id", "comment.id")?;
    let (body, body_adf) = match obj.get("body") {
        None | Some(Value::Null) => (String::new(), None),
        Some(Value::String(s)) => (s.clone(), None),
        Some(adf @ Value::Object(_)) => (String::new(), Some(adf.clone())),
        Some(other) => return Err(wrong_type("comment.body", "a string", other)),
    };
    Ok(JiraComment {
        id,
        author: opt_user(obj, "author", "comment.author")?,
        update_author: opt_user(obj, "updateAuthor", "comment.updateAuthor")?,
        body,
        body_adf,
        created_ms: opt_time(obj, "created", "comment.created")?,
        updated_ms: opt_time(obj, "updated", "comment.updated")?,
    })
}

fn parse_changelog(obj: &Map<String, Value>) -> Result<Changelog, WebhookError> {
    let id = opt_id(obj, "id", "changelog.id")?;
    let items = match obj.get("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(o) => parse_change_item(o, i),
                other => Err(wrong_type(
                    &format!("changelog.items[{i}]"),
                    "an object",
                    other,
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(wrong_type("changelog.items", "an array", other)),
    };
    Ok(Changelog { id, items })
}

fn parse_change_item(obj: &Map<String, Value>, i: usize) -> Result<ChangeItem, WebhookError> {
    let at = |k: &str| format!("changelog.items[{i}].{k}");
    let field_id = opt_str(obj, "fieldId", &at("fieldId"))?;
    let field = match opt_str(obj, "field", &at("field"))? {
        Some(f) => f,
        None => field_id
            .clone()
            .ok_or_else(|| WebhookError::InvalidEvent(format!("{} is missing", at("field"))))?,
    };
    Ok(ChangeItem {
        field,
        field_id,
        field_type: opt_str(obj, "fieldtype", &at("fieldtype"))?,
        from: opt_id(obj, "from", &at("from"))?,
        from_string: opt_id(obj, "fromString", &at("fromString"))?,
        to: opt_id(obj, "to", &at("to"))?,
        to_string: opt_id(obj, "toString", &at("toString"))?,
        from_account_id: opt_str(obj, "tmpFromAccountId", &at("tmpFromAccountId"))?,
        to_account_id: opt_str(obj, "tmpToAccountId", &at("tmpToAccountId"))?,
    })
}

fn opt_user(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<JiraUser>, WebhookError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(u)) => parse_user(u).map(Some),
        Some(other) => Err(wrong_type(path, "an object", other)),
    }
}

fn parse_user(obj: &Map<String, Value>) -> Result<JiraUser, WebhookError> {
    let s = |k: &str| -> Option<String> {
        obj.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok(JiraUser {
        account_id: s("accountId"),
        name: s("name"),
        key: s("key"),
        display_name: s("displayName"),
        // Cloud hides addresses behind placeholders such as `"?"`.
        email: s("emailAddress").filter(|e| e.contains('@')),
    })
}

fn opt_str(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, WebhookError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(path, "a string", other)),
    }
}

/// A string that Jira sometimes sends as a number (ids, changelog values).
fn opt_id(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, WebhookError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(wrong_type(path, "a string or number", other)),
    }
}

fn req_id(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, WebhookError> {
    opt_id(obj, key, path)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WebhookError::InvalidEvent(format!("`{path}` is missing")))
}

fn opt_time(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<i64>, WebhookError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_jira_timestamp(s).map(Some).ok_or_else(|| {
            WebhookError::InvalidEvent(format!("`{path}` `{s}` is not a Jira timestamp"))
        }),
        Some(Value::Number(n)) => Ok(n.as_i64()),
        Some(other) => Err(wrong_type(path, "a timestamp string", other)),
    }
}

fn wrong_type(path: &str, expected: &str, found: &Value) -> WebhookError {
    WebhookError::InvalidEvent(format!(
        "`{path}` should be {expected}, found {}",
        type_name(found)
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse a Jira timestamp such as `2019-08-07T22:36:47.428-0700` to epoch milliseconds.
///
/// Also accepts RFC 3339 forms (`+07:00`, `Z`) and a missing fraction. `None` when the text
/// is not a timestamp.
pub fn parse_jira_timestamp(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::OffsetDateTime;

    let s = s.trim();
    let jira_frac = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    let jira_whole = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
    );
    let parsed = OffsetDateTime::parse(s, jira_frac)
        .or_else(|_| OffsetDateTime::parse(s, jira_whole))
        .or_else(|_| OffsetDateTime::parse(s, &Rfc3339))
        .ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Format epoch milliseconds as Jira does, in UTC: `2019-08-08T05:36:47.428+0000`.
pub fn format_jira_timestamp(ms: i64) -> String {
    use time::macros::format_description;
    use time::OffsetDateTime;

    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000+0000".to_owned())
}
