//! A [`Host`] that tells an observer of every write the engine makes through it: the one
//! delegating host of the workspace, for embedders that want to log or time the engine's
//! writes, and for tests that record them. Reads pass straight through.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sync_domain::Value;

use crate::host::{ChangePage, Host, HostComment, HostItem};
use crate::HostError;

/// A write the engine makes to the host, as an observer sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HostWrite<'a> {
    /// [`Host::update_fields`] of an item.
    UpdateFields {
        /// The item.
        item_id: &'a str,
        /// The fields written.
        fields: &'a BTreeMap<String, Value>,
    },
    /// [`Host::create_item`] in a project, with the marker that finds it again.
    CreateItem {
        /// The project.
        project_id: &'a str,
        /// The fields written.
        fields: &'a BTreeMap<String, Value>,
        /// The create's marker.
        marker: &'a str,
    },
    /// [`Host::add_comment`] on an item.
    AddComment {
        /// The item.
        item_id: &'a str,
    },
    /// [`Host::edit_comment`] on an item.
    EditComment {
        /// The item.
        item_id: &'a str,
        /// The comment.
        comment_id: &'a str,
    },
}

/// What is told of each write: before it is made, and after it returns (with whether it
/// succeeded; a write can land and still fail to answer). Both default to nothing.
pub trait HostObserver: Send + Sync {
    /// The write is about to be made.
    fn before(&self, write: &HostWrite<'_>) {
        let _ = write;
    }

    /// The write returned; `ok` is whether it succeeded.
    fn after(&self, write: &HostWrite<'_>, ok: bool) {
        let _ = (write, ok);
    }
}

/// A host that passes every call to `inner` and tells `observer` of each write.
pub struct ObservedHost<H: ?Sized> {
    inner: Arc<H>,
    observer: Arc<dyn HostObserver>,
}

impl<H: Host + ?Sized> ObservedHost<H> {
    /// `inner`, observed by `observer`.
    pub fn new(inner: Arc<H>, observer: Arc<dyn HostObserver>) -> ObservedHost<H> {
        ObservedHost { inner, observer }
    }

    /// The host observed.
    pub fn inner(&self) -> &Arc<H> {
        &self.inner
    }

    fn observe<T>(&self, write: &HostWrite<'_>, r: Result<T, HostError>) -> Result<T, HostError> {
        self.observer.after(write, r.is_ok());
        r
    }
}

#[async_trait]
impl<H: Host + ?Sized> Host for ObservedHost<H> {
    async fn get_item(&self, id: &str) -> Result<Option<HostItem>, HostError> {
        self.inner.get_item(id).await
    }

    async fn update_fields(
        &self,
        id: &str,
        fields: &BTreeMap<String, Value>,
        expected_version: Option<u64>,
    ) -> Result<u64, HostError> {
        let w = HostWrite::UpdateFields {
            item_id: id,
            fields,
        };
        self.observer.before(&w);
        let r = self.inner.update_fields(id, fields, expected_version).await;
        self.observe(&w, r)
    }

    async fn create_item(
        &self,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        marker: &str,
    ) -> Result<HostItem, HostError> {
        let w = HostWrite::CreateItem {
            project_id,
            fields,
            marker,
        };
        self.observer.before(&w);
        let r = self.inner.create_item(project_id, fields, marker).await;
        self.observe(&w, r)
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
        let w = HostWrite::AddComment { item_id };
        self.observer.before(&w);
        let r = self
            .inner
            .add_comment(item_id, body_markdown, author_line, origin_marker)
            .await;
        self.observe(&w, r)
    }

    async fn edit_comment(
        &self,
        item_id: &str,
        comment_id: &str,
        body_markdown: &str,
    ) -> Result<HostComment, HostError> {
        let w = HostWrite::EditComment {
            item_id,
            comment_id,
        };
        self.observer.before(&w);
        let r = self
            .inner
            .edit_comment(item_id, comment_id, body_markdown)
            .await;
        self.observe(&w, r)
    }
}
