//! The engine's view of the host, recorded: an observer of the engine's writes to the
//! in-memory host (through [`ObservedHost`]) that remembers every value they left on an item,
//! so the checks can tell whether a value made in Jira ever reached Handoff.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use handoff_adapter::{Host, HostObserver, HostWrite, InMemoryHost, ObservedHost};
use sync_domain::Value;

/// A value as a comparable key.
pub fn key(v: &Value) -> String {
    serde_json::to_string(&v.clone().canonical()).unwrap_or_default()
}

/// The recorder of the engine's writes.
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

    /// The host the engine writes through: the in-memory host, observed by `self`.
    pub fn host(self: &Arc<Self>) -> Arc<dyn Host> {
        Arc::new(ObservedHost::new(self.inner.clone(), self.clone()))
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

impl HostObserver for SeenHost {
    fn after(&self, write: &HostWrite<'_>, _ok: bool) {
        // Recorded whatever the answer: a write can land and lose its answer.
        match write {
            HostWrite::UpdateFields { item_id, .. } => self.record(item_id),
            HostWrite::CreateItem {
                project_id, marker, ..
            } => {
                // Looked up in memory, not through the host's API (no call counted, no fault).
                if let Some(item) = self
                    .inner
                    .items(project_id)
                    .into_iter()
                    .find(|i| i.marker.as_deref() == Some(*marker))
                {
                    self.record(&item.id);
                }
            }
            HostWrite::AddComment { .. } | HostWrite::EditComment { .. } => {}
        }
    }
}
