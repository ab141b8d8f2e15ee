//! The engine's view of the host, recorded: a [`Host`] that passes every call to the
//! in-memory host and remembers every value the engine's writes left on an item, so the
//! checks can tell whether a value made in Jira ever reached Handoff.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use handoff_adapter::{ChangePage, Host, HostComment, HostError, HostItem, InMemoryHost};
use sync_domain::Value;

/// A value as a comparable key.
pub fn key(v: &Value) -> String {
    serde_json::to_string(&v.clone().canonical()).unwrap_or_default()
}

/// The recording host.
pub struct SeenHost {
    inner: Arc<InMemoryHost>,
    seen: Mutex<BTreeMap<(String, String), BTreeSet<String>>>,
}

impl SeenHost {
    /// Records the engine's writes to `inner`.
    pub fn new(inner: Arc<InMemoryHost>) -> SeenHost {
        SeenHost {
            inner,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    fn record(&self, item_id: &str) {
        let Some(item) = self
            .inner
            .items(&self.project_of(item_id))
            .into_iter()
            .find(|i| i.id == item_id)
        else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for (f, v) in &item.fields {
            seen.entry((item.id.clone(), f.clone()))
                .or_default()
                .insert(key(v));
        }
    }

    fn project_of(&self, _item_id: &str) -> String {
        crate::sim::world::PROJECT.to_string()
    }

    /// Whether an engine write ever left `value` in `field` of `item_id`.
    pub fn seen(&self, item_id: &str, field: &str, value: &Value) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(item_id.to_string(), field.to_string()))
            .is_some_and(|s| s.contains(&key(value)))
    }
}

#[async_trait]
impl Host for SeenHost {
    async fn get_item(&self, id: &str) -> Result<Option<HostItem>, HostError> {
        self.inner.get_item(id).await
    }

    async fn update_fields(
        &self,
        id: &str,
        fields: &BTreeMap<String, Value>,
        expected_version: Option<u64>,
    ) -> Result<u64, HostError> {
        let r = self.inner.update_fields(id, fields, expected_version).await;
        // Recorded whatever the answer: a write can land and lose its answer.
        self.record(id);
        r
    }

    async fn create_item(
        &self,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        marker: &str,
    ) -> Result<HostItem, HostError> {
        let r = self.inner.create_item(project_id, fields, marker).await;
        // Looked up in memory, not through the host's API (no call counted, no fault).
        if let Some(item) = self
            .inner
            .items(project_id)
            .into_iter()
            .find(|i| i.marker.as_deref() == Some(marker))
        {
            self.record(&item.id);
        }
        r
    }

    async fn find_by_marker(
        &self,
        project_id: &str,
        marker: &str,
    ) -> Result<Option<HostItem>, HostError> {
        self.inner.find_by_marker(project_id, marker).await
    }

    async fn list_changed_since(
        &self,
        project_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ChangePage, HostError> {
        self.inner
            .list_changed_since(project_id, cursor, limit)
            .await
    }

    async fn list_comments(&self, item_id: &str) -> Result<Vec<HostComment>, HostError> {
        self.inner.list_comments(item_id).await
    }

    async fn add_comment(
        &self,
        item_id: &str,
        body_markdown: &str,
        author_line: &str,
        origin_marker: &str,
    ) -> Result<HostComment, HostError> {
        self.inner
            .add_comment(item_id, body_markdown, author_line, origin_marker)
            .await
    }

    async fn edit_comment(
        &self,
        item_id: &str,
        comment_id: &str,
        body_markdown: &str,
    ) -> Result<HostComment, HostError> {
        self.inner
            .edit_comment(item_id, comment_id, body_markdown)
            .await
    }
}
