//! An in-memory host: the demo's Handoff, and the fake the tests and simulations drive.
//!
//! It behaves like the HTTP contract asks a host to: versions grow with every field change,
//! conditional writes fail on a stale version, creates are idempotent by marker, and the
//! change feed orders items by a sequence taken under the same lock as the change, so a
//! cursor never skips. Time comes from an injected clock and faults from an injected,
//! deterministic plan, so a simulation on virtual time replays exactly.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sync_domain::Value;
use tokio::sync::broadcast;

use crate::error::{HostError, HostErrorClass};
use crate::fields::check_fields;
use crate::host::{
    ChangePage, FieldSchema, Host, HostComment, HostItem, HostNotification, NotificationKind,
};

/// The source of time of an in-memory host, in milliseconds since the Unix epoch.
pub use sync_domain::clock::Clock;

/// A call of the [`Host`] trait, as seen by a fault hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostCall {
    /// [`Host::get_item`].
    GetItem,
    /// [`Host::update_fields`].
    UpdateFields,
    /// [`Host::create_item`].
    CreateItem,
    /// [`Host::find_by_marker`].
    FindByMarker,
    /// [`Host::list_changed_since`].
    ListChangedSince,
    /// [`Host::list_comments`].
    ListComments,
    /// [`Host::add_comment`].
    AddComment,
    /// [`Host::edit_comment`].
    EditComment,
}

impl HostCall {
    /// Whether the call changes the host.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            HostCall::UpdateFields
                | HostCall::CreateItem
                | HostCall::AddComment
                | HostCall::EditComment
        )
    }
}

/// A fault to inject into one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails before it reaches the host: nothing changes.
    Fail(HostErrorClass),
    /// The call's change is made, then its answer is lost: the caller sees an error although
    /// the write happened (what makes idempotent writes necessary).
    ApplyThenFail(HostErrorClass),
}

/// Decides, per call and target (item id, project id or comment id), whether to inject a
/// fault. Simulations drive it from a seeded random generator.
pub type FaultHook = Box<dyn FnMut(HostCall, &str) -> Option<Fault> + Send>;

/// The name the in-memory host records as `updated_by` for writes made through [`Host`].
pub const DEFAULT_ENGINE_ACTOR: &str = "jira-sync";

struct StoredItem {
    item: HostItem,
    change_seq: u64,
}

#[derive(Default)]
struct State {
    items: BTreeMap<String, StoredItem>,
    comments: BTreeMap<String, Vec<HostComment>>,
    next_item: u64,
    next_comment: u64,
    change_seq: u64,
    queued_write_faults: VecDeque<Fault>,
    hook: Option<FaultHook>,
    writes: u64,
    calls: u64,
    schema: Option<FieldSchema>,
}

/// A thread-safe host kept in memory.
pub struct InMemoryHost {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    engine_actor: String,
    notifications: broadcast::Sender<HostNotification>,
    deliveries: AtomicU64,
}

impl Default for InMemoryHost {
    fn default() -> Self {
        Self::new()
    }
}

/// The wall clock, when no clock is given.
struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

fn not_found_item(id: &str) -> HostError {
    HostError::NotFound {
        what: format!("work item {id}"),
    }
}

/// What a call may do after the fault plan was consulted.
enum Go {
    Normally,
    ThenFail(HostErrorClass),
}

impl InMemoryHost {
    /// An empty host on the system clock, accepting any field.
    pub fn new() -> Self {
        let (notifications, _) = broadcast::channel(4096);
        InMemoryHost {
            state: Mutex::new(State::default()),
            clock: Arc::new(WallClock),
            engine_actor: DEFAULT_ENGINE_ACTOR.to_string(),
            notifications,
            deliveries: AtomicU64::new(0),
        }
    }

    /// Uses `clock` for every timestamp (virtual time in simulations).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Accepts only the fields of `schema`, each with a value of its kind.
    pub fn with_schema(self, schema: FieldSchema) -> Self {
        self.lock().schema = Some(schema);
        self
    }

    /// Records `actor` as `updated_by` and in notifications for writes made through [`Host`].
    pub fn with_engine_actor(mut self, actor: &str) -> Self {
        self.engine_actor = actor.to_string();
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters to a fake, so a poisoned lock is still used.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Receives a notification for every change from now on, in the order of the changes.
    /// Like a real host's, notifications can be missed (a slow receiver lags): the change
    /// feed is the source of truth.
    pub fn subscribe(&self) -> broadcast::Receiver<HostNotification> {
        self.notifications.subscribe()
    }

    /// Makes the next `n` writes through [`Host`] fail with `class`, changing nothing.
    pub fn fail_next_writes(&self, n: usize, class: HostErrorClass) {
        self.lock()
            .queued_write_faults
            .extend(std::iter::repeat_n(Fault::Fail(class), n));
    }

    /// Makes the next `n` writes through [`Host`] take effect and then report `class`.
    pub fn apply_then_fail_next_writes(&self, n: usize, class: HostErrorClass) {
        self.lock()
            .queued_write_faults
            .extend(std::iter::repeat_n(Fault::ApplyThenFail(class), n));
    }

    /// Consults `hook` on every call through [`Host`] that queued faults do not decide.
    pub fn set_fault_hook(&self, hook: FaultHook) {
        self.lock().hook = Some(hook);
    }

    /// Removes queued faults and the fault hook.
    pub fn clear_faults(&self) {
        let mut st = self.lock();
        st.queued_write_faults.clear();
        st.hook = None;
    }

    /// How many write calls came through [`Host`], failed ones included.
    pub fn write_count(&self) -> u64 {
        self.lock().writes
    }

    /// How many calls of any kind came through [`Host`].
    pub fn call_count(&self) -> u64 {
        self.lock().calls
    }

    /// Every item of a project, by id.
    pub fn items(&self, project_id: &str) -> Vec<HostItem> {
        self.lock()
            .items
            .values()
            .filter(|s| s.item.project_id == project_id)
            .map(|s| s.item.clone())
            .collect()
    }

    fn begin(&self, st: &mut State, call: HostCall, target: &str) -> Result<Go, HostError> {
        st.calls += 1;
        let mut fault = None;
        if call.is_write() {
            st.writes += 1;
            fault = st.queued_write_faults.pop_front();
        }
        if fault.is_none() {
            if let Some(hook) = st.hook.as_mut() {
                fault = hook(call, target);
            }
        }
        match fault {
            None => Ok(Go::Normally),
            Some(Fault::Fail(class)) => Err(HostError::Injected { class }),
            Some(Fault::ApplyThenFail(class)) => Ok(Go::ThenFail(class)),
        }
    }

    fn finish<T>(go: Go, result: Result<T, HostError>) -> Result<T, HostError> {
        match (go, result) {
            (Go::ThenFail(class), Ok(_)) => Err(HostError::Injected { class }),
            (_, result) => result,
        }
    }

    fn notify(
        &self,
        kind: NotificationKind,
        item: &HostItem,
        actor: &str,
        comment_id: Option<String>,
    ) {
        // Deterministic delivery ids (`n-1`, `n-2`, ...) keep simulations replayable.
        let delivery = self.deliveries.fetch_add(1, Ordering::SeqCst) + 1;
        // No subscriber is not an error: notifications are hints.
        let _ = self.notifications.send(HostNotification {
            kind,
            item_id: item.id.clone(),
            project_id: item.project_id.clone(),
            version: item.version,
            actor: Some(actor.to_string()),
            at_ms: self.clock.now_ms(),
            comment_id,
            delivery_id: Some(format!("n-{delivery}")),
        });
    }

    fn canonical(
        st: &State,
        fields: &BTreeMap<String, Value>,
    ) -> Result<BTreeMap<String, Value>, HostError> {
        let fields: BTreeMap<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().canonical()))
            .collect();
        if let Some(schema) = &st.schema {
            check_fields(schema, &fields)?;
        }
        Ok(fields)
    }

    fn do_create(
        &self,
        st: &mut State,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        marker: Option<&str>,
        actor: &str,
    ) -> Result<HostItem, HostError> {
        let fields = Self::canonical(st, fields)?;
        st.next_item += 1;
        st.change_seq += 1;
        let item = HostItem {
            id: format!("WI-{}", st.next_item),
            project_id: project_id.to_string(),
            version: 1,
            updated_at_ms: self.clock.now_ms(),
            updated_by: Some(actor.to_string()),
            marker: marker.map(str::to_string),
            fields: fields
                .into_iter()
                .filter(|(_, v)| *v != Value::Null)
                .collect(),
        };
        st.items.insert(
            item.id.clone(),
            StoredItem {
                item: item.clone(),
                change_seq: st.change_seq,
            },
        );
        self.notify(NotificationKind::ItemCreated, &item, actor, None);
        Ok(item)
    }

    fn do_update(
        &self,
        st: &mut State,
        id: &str,
        fields: &BTreeMap<String, Value>,
        expected_version: Option<u64>,
        actor: &str,
    ) -> Result<u64, HostError> {
        let fields = Self::canonical(st, fields)?;
        let now = self.clock.now_ms();
        let current = st.items.get(id).ok_or_else(|| not_found_item(id))?;
        // The expected version is checked first, even for a write that changes nothing: a
        // success answers with the item's version, and the engine takes that version as read,
        // so it must not name a version holding an edit the engine has not seen.
        if let Some(expected) = expected_version {
            if expected != current.item.version {
                return Err(HostError::VersionConflict {
                    current: Some(current.item.version),
                });
            }
        }
        // A write that changes nothing succeeds without a new version.
        if fields.iter().all(|(k, v)| current.item.field(k) == *v) {
            return Ok(current.item.version);
        }
        st.change_seq += 1;
        let seq = st.change_seq;
        let stored = st.items.get_mut(id).ok_or_else(|| not_found_item(id))?;
        for (k, v) in fields {
            if v == Value::Null {
                stored.item.fields.remove(&k);
            } else {
                stored.item.fields.insert(k, v);
            }
        }
        stored.item.version += 1;
        stored.item.updated_at_ms = now;
        stored.item.updated_by = Some(actor.to_string());
        stored.change_seq = seq;
        let item = stored.item.clone();
        self.notify(NotificationKind::ItemUpdated, &item, actor, None);
        Ok(item.version)
    }

    fn do_add_comment(
        &self,
        st: &mut State,
        item_id: &str,
        body: &str,
        author: &str,
        origin: Option<&str>,
    ) -> Result<HostComment, HostError> {
        let now = self.clock.now_ms();
        let Some(stored) = st.items.get(item_id) else {
            return Err(not_found_item(item_id));
        };
        let item = stored.item.clone();
        let list = st.comments.entry(item_id.to_string()).or_default();
        if let Some(origin) = origin {
            if let Some(existing) = list.iter().find(|c| c.origin.as_deref() == Some(origin)) {
                return Ok(existing.clone());
            }
        }
        st.next_comment += 1;
        let comment = HostComment {
            id: format!("C-{}", st.next_comment),
            item_id: item_id.to_string(),
            author: author.to_string(),
            body: body.to_string(),
            created_at_ms: now,
            updated_at_ms: now,
            origin: origin.map(str::to_string),
        };
        list.push(comment.clone());
        Self::touch(st, item_id);
        self.notify(
            NotificationKind::CommentCreated,
            &item,
            author,
            Some(comment.id.clone()),
        );
        Ok(comment)
    }

    fn do_edit_comment(
        &self,
        st: &mut State,
        item_id: &str,
        comment_id: &str,
        body: &str,
        actor: &str,
    ) -> Result<HostComment, HostError> {
        let now = self.clock.now_ms();
        let item = st
            .items
            .get(item_id)
            .map(|s| s.item.clone())
            .ok_or_else(|| not_found_item(item_id))?;
        let comment = st
            .comments
            .get_mut(item_id)
            .and_then(|l| l.iter_mut().find(|c| c.id == comment_id))
            .ok_or_else(|| HostError::NotFound {
                what: format!("comment {comment_id} on work item {item_id}"),
            })?;
        if comment.body == body {
            return Ok(comment.clone());
        }
        comment.body = body.to_string();
        comment.updated_at_ms = now;
        let comment = comment.clone();
        Self::touch(st, item_id);
        self.notify(
            NotificationKind::CommentUpdated,
            &item,
            actor,
            Some(comment.id.clone()),
        );
        Ok(comment)
    }

    /// Moves an item to the end of the change feed without changing its version.
    fn touch(st: &mut State, item_id: &str) {
        st.change_seq += 1;
        let seq = st.change_seq;
        if let Some(stored) = st.items.get_mut(item_id) {
            stored.change_seq = seq;
        }
    }

    /// A person creates an item on the host (no marker).
    pub fn create_as_person(
        &self,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        actor: &str,
    ) -> Result<HostItem, HostError> {
        let mut st = self.lock();
        self.do_create(&mut st, project_id, fields, None, actor)
    }

    /// A person edits an item on the host: the version grows and a notification goes out.
    pub fn edit_as_person(
        &self,
        id: &str,
        fields: &BTreeMap<String, Value>,
        actor: &str,
    ) -> Result<u64, HostError> {
        let mut st = self.lock();
        self.do_update(&mut st, id, fields, None, actor)
    }

    /// A person comments on an item.
    pub fn add_comment_as_person(
        &self,
        item_id: &str,
        body_markdown: &str,
        actor: &str,
    ) -> Result<HostComment, HostError> {
        let mut st = self.lock();
        self.do_add_comment(&mut st, item_id, body_markdown, actor, None)
    }

    /// A person edits a comment.
    pub fn edit_comment_as_person(
        &self,
        item_id: &str,
        comment_id: &str,
        body_markdown: &str,
        actor: &str,
    ) -> Result<HostComment, HostError> {
        let mut st = self.lock();
        self.do_edit_comment(&mut st, item_id, comment_id, body_markdown, actor)
    }

    /// A person deletes an item, with its comments.
    pub fn delete_item(&self, id: &str, actor: &str) -> Result<(), HostError> {
        let mut st = self.lock();
        let stored = st.items.remove(id).ok_or_else(|| not_found_item(id))?;
        st.comments.remove(id);
        self.notify(NotificationKind::ItemDeleted, &stored.item, actor, None);
        Ok(())
    }
}

#[async_trait]
impl Host for InMemoryHost {
    async fn get_item(&self, id: &str) -> Result<Option<HostItem>, HostError> {
        let mut st = self.lock();
        let go = self.begin(&mut st, HostCall::GetItem, id)?;
        let result = Ok(st.items.get(id).map(|s| s.item.clone()));
        Self::finish(go, result)
    }

    async fn update_fields(
        &self,
        id: &str,
        fields: &BTreeMap<String, Value>,
        expected_version: Option<u64>,
    ) -> Result<u64, HostError> {
        let mut st = self.lock();
        let go = self.begin(&mut st, HostCall::UpdateFields, id)?;
        let result = self.do_update(&mut st, id, fields, expected_version, &self.engine_actor);
        Self::finish(go, result)
    }

    async fn create_item(
        &self,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        marker: &str,
    ) -> Result<HostItem, HostError> {
        let mut st = self.lock();
        let go = self.begin(&mut st, HostCall::CreateItem, project_id)?;
        let result =
            if marker.trim().is_empty() {
                Err(HostError::Rejected {
                    status: 400,
                    message: "a marker is required".to_string(),
                })
            } else if let Some(existing) = st.items.values().find(|s| {
                s.item.project_id == project_id && s.item.marker.as_deref() == Some(marker)
            }) {
                Ok(existing.item.clone())
            } else {
                self.do_create(
                    &mut st,
                    project_id,
                    fields,
                    Some(marker),
                    &self.engine_actor,
                )
            };
        Self::finish(go, result)
    }

    async fn find_by_marker(
        &self,
        project_id: &str,
        marker: &str,
    ) -> Result<Option<HostItem>, HostError> {
        let mut st = self.lock();
        let go = self.begin(&mut st, HostCall::FindByMarker, project_id)?;
        let result = Ok(st
            .items
            .values()
            .find(|s| s.item.project_id == project_id && s.item.marker.as_deref() == Some(marker))
            .map(|s| s.item.clone()));
        Self::finish(go, result)
    }

    async fn list_changed_since(
        &self,
        project_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ChangePage, HostError> {
        let mut st = self.lock();
        let go = self.begin(&mut st, HostCall::ListChangedSince, project_id)?;
        let after = match cursor {
            None => None,
            Some(c) => Some(
                c.parse::<u64>()
                    .map_err(|_| HostError::InvalidCursor(c.to_string()))?,
            ),
        };
        let mut changed: Vec<&StoredItem> = st
            .items
            .values()
            .filter(|s| s.item.project_id == project_id && after.is_none_or(|a| s.change_seq > a))
            .collect();
        changed.sort_by_key(|s| s.change_seq);
        let limit = limit.max(1);
        let has_more = changed.len() > limit;
        changed.truncate(limit);
        let next_cursor = changed
            .last()
            .map(|s| s.change_seq.to_string())
            .or_else(|| cursor.map(str::to_string));
        let page = ChangePage {
            items: changed.into_iter().map(|s| s.item.clone()).collect(),
            next_cursor,
            has_more,
        };
        Self::finish(go, Ok(page))
    }

    async fn list_comments(&self, item_id: &str) -> Result<Vec<HostComment>, HostError> {
        let mut st = self.lock();
        let go = self.begin(&mut st, HostCall::ListComments, item_id)?;
        let result = if st.items.contains_key(item_id) {
            Ok(st.comments.get(item_id).cloned().unwrap_or_default())
        } else {
            Err(not_found_item(item_id))
        };
        Self::finish(go, result)
    }

    async fn add_comment(
        &self,
        item_id: &str,
        body_markdown: &str,
        author_line: &str,
        origin_marker: &str,
    ) -> Result<HostComment, HostError> {
        let mut st = self.lock();
        let go = self.begin(&mut st, HostCall::AddComment, item_id)?;
        let result = if origin_marker.trim().is_empty() {
            Err(HostError::Rejected {
                status: 400,
                message: "an origin marker is required".to_string(),
            })
        } else {
            self.do_add_comment(
                &mut st,
                item_id,
                body_markdown,
                author_line,
                Some(origin_marker),
            )
        };
        Self::finish(go, result)
    }

    async fn edit_comment(
        &self,
        item_id: &str,
        comment_id: &str,
        body_markdown: &str,
    ) -> Result<HostComment, HostError> {
        let mut st = self.lock();
        let go = self.begin(&mut st, HostCall::EditComment, comment_id)?;
        let actor = self.engine_actor.clone();
        let result = self.do_edit_comment(&mut st, item_id, comment_id, body_markdown, &actor);
        Self::finish(go, result)
    }
}
