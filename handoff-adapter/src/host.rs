//! The host trait the engine syncs through, and the host-side values it exchanges.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sync_domain::{Value, ValueKind};

use crate::error::HostError;

/// The kind of each host field the engine syncs, by the field's host name.
pub type FieldSchema = BTreeMap<String, ValueKind>;

/// One work item as the host holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostItem {
    /// The host's id of the item.
    pub id: String,
    /// The project (board, workspace) the item belongs to.
    pub project_id: String,
    /// The item's version: it grows with every change of its fields.
    pub version: u64,
    /// When the fields last changed, in milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
    /// Who last changed the fields, when the host tells.
    pub updated_by: Option<String>,
    /// The marker the item was created with (the id of the Jira issue it mirrors), if any.
    pub marker: Option<String>,
    /// Canonical field values by host field name; an absent field is [`Value::Null`].
    pub fields: BTreeMap<String, Value>,
}

impl HostItem {
    /// The value of a field; [`Value::Null`] when the item does not have it.
    pub fn field(&self, name: &str) -> Value {
        self.fields.get(name).cloned().unwrap_or(Value::Null)
    }
}

/// One comment on a work item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostComment {
    /// The host's id of the comment.
    pub id: String,
    /// The item the comment is on.
    pub item_id: String,
    /// Who wrote it: a person, or the author line the engine gave for a mirrored comment.
    pub author: String,
    /// The comment's body as Markdown.
    pub body: String,
    /// When it was written, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When it was last edited, in milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
    /// The origin marker the engine gave when mirroring it (the Jira comment id); `None`
    /// for a comment a person wrote on the host.
    pub origin: Option<String>,
}

/// One page of the change feed of a project.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChangePage {
    /// Items changed after the cursor, oldest change first, each at its current state.
    pub items: Vec<HostItem>,
    /// The cursor to pass next time (store it durably once the page is processed); `None`
    /// only when the feed has never had a change and no cursor was given.
    pub next_cursor: Option<String>,
    /// Whether more changes follow right away (ask again with `next_cursor`).
    pub has_more: bool,
}

/// What a host notification says happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A work item was created.
    ItemCreated,
    /// A work item's fields changed.
    ItemUpdated,
    /// A work item was deleted.
    ItemDeleted,
    /// A comment was added to a work item.
    CommentCreated,
    /// A comment was edited.
    CommentUpdated,
    /// An event this adapter does not know; kept so newer hosts do not break older engines.
    Other(String),
}

impl NotificationKind {
    /// The event name on the wire (`workitem.updated`, ...).
    pub fn as_wire(&self) -> &str {
        match self {
            NotificationKind::ItemCreated => "workitem.created",
            NotificationKind::ItemUpdated => "workitem.updated",
            NotificationKind::ItemDeleted => "workitem.deleted",
            NotificationKind::CommentCreated => "comment.created",
            NotificationKind::CommentUpdated => "comment.updated",
            NotificationKind::Other(s) => s,
        }
    }

    /// The kind for an event name on the wire.
    pub fn from_wire(s: &str) -> NotificationKind {
        match s {
            "workitem.created" => NotificationKind::ItemCreated,
            "workitem.updated" => NotificationKind::ItemUpdated,
            "workitem.deleted" => NotificationKind::ItemDeleted,
            "comment.created" => NotificationKind::CommentCreated,
            "comment.updated" => NotificationKind::CommentUpdated,
            other => NotificationKind::Other(other.to_string()),
        }
    }
}

/// A change notification from the host: a hint to re-read the item, never the data itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNotification {
    /// What happened.
    pub kind: NotificationKind,
    /// The item it happened to.
    pub item_id: String,
    /// The item's project.
    pub project_id: String,
    /// The item's version after the change (lets the engine drop stale notifications).
    pub version: u64,
    /// Who made the change, when the host tells.
    pub actor: Option<String>,
    /// When the change happened, in milliseconds since the Unix epoch (0 when not told).
    pub at_ms: i64,
    /// The comment, for comment events.
    pub comment_id: Option<String>,
    /// The host's id of this delivery, the same across retries: a dedupe key.
    pub delivery_id: Option<String>,
}

/// The host product as the sync engine sees it.
///
/// Every write is safe to repeat: updates are conditional on a version, and creates of items
/// and comments are idempotent by a marker, because the engine delivers at least once.
#[async_trait]
pub trait Host: Send + Sync {
    /// The item with this id; `None` when it does not exist (or was deleted).
    async fn get_item(&self, id: &str) -> Result<Option<HostItem>, HostError>;

    /// Sets the given fields (others are untouched; [`Value::Null`] clears a field) and
    /// returns the item's new version. With `expected_version`, fails with
    /// [`HostError::VersionConflict`] when the item is at another version, so that a
    /// person's edit is never overwritten.
    async fn update_fields(
        &self,
        id: &str,
        fields: &BTreeMap<String, Value>,
        expected_version: Option<u64>,
    ) -> Result<u64, HostError>;

    /// Creates an item that mirrors the Jira issue `marker`. Idempotent: when the project
    /// already has an item with this marker, returns that item unchanged.
    async fn create_item(
        &self,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        marker: &str,
    ) -> Result<HostItem, HostError>;

    /// The project's item created with this marker, if any.
    async fn find_by_marker(
        &self,
        project_id: &str,
        marker: &str,
    ) -> Result<Option<HostItem>, HostError>;

    /// Items of the project whose fields or comments changed after `cursor` (from the start
    /// when `None`), at most `limit` of them. An item changed while the feed is read moves
    /// to the feed's end, so following `next_cursor` never skips a change.
    async fn list_changed_since(
        &self,
        project_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ChangePage, HostError>;

    /// The comments of an item, oldest first.
    async fn list_comments(&self, item_id: &str) -> Result<Vec<HostComment>, HostError>;

    /// Adds a comment mirrored from elsewhere, shown with `author_line` as its author.
    /// Idempotent by `origin_marker`: when the item already has a comment with that origin,
    /// returns it unchanged.
    async fn add_comment(
        &self,
        item_id: &str,
        body_markdown: &str,
        author_line: &str,
        origin_marker: &str,
    ) -> Result<HostComment, HostError>;

    /// Replaces the body of a comment.
    async fn edit_comment(
        &self,
        item_id: &str,
        comment_id: &str,
        body_markdown: &str,
    ) -> Result<HostComment, HostError>;
}

/// A shared host is a host: the runtime and a test can hold the same in-memory host.
#[async_trait]
impl<T: Host + ?Sized> Host for std::sync::Arc<T> {
    async fn get_item(&self, id: &str) -> Result<Option<HostItem>, HostError> {
        (**self).get_item(id).await
    }

    async fn update_fields(
        &self,
        id: &str,
        fields: &BTreeMap<String, Value>,
        expected_version: Option<u64>,
    ) -> Result<u64, HostError> {
        (**self).update_fields(id, fields, expected_version).await
    }

    async fn create_item(
        &self,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        marker: &str,
    ) -> Result<HostItem, HostError> {
        (**self).create_item(project_id, fields, marker).await
    }

    async fn find_by_marker(
        &self,
        project_id: &str,
        marker: &str,
    ) -> Result<Option<HostItem>, HostError> {
        (**self).find_by_marker(project_id, marker).await
    }

    async fn list_changed_since(
        &self,
        project_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ChangePage, HostError> {
        (**self).list_changed_since(project_id, cursor, limit).await
    }

    async fn list_comments(&self, item_id: &str) -> Result<Vec<HostComment>, HostError> {
        (**self).list_comments(item_id).await
    }

    async fn add_comment(
        &self,
        item_id: &str,
        body_markdown: &str,
        author_line: &str,
        origin_marker: &str,
    ) -> Result<HostComment, HostError> {
        (**self)
            .add_comment(item_id, body_markdown, author_line, origin_marker)
            .await
    }

    async fn edit_comment(
        &self,
        item_id: &str,
        comment_id: &str,
        body_markdown: &str,
    ) -> Result<HostComment, HostError> {
        (**self)
            .edit_comment(item_id, comment_id, body_markdown)
            .await
    }
}
