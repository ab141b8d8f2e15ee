//! The in-process cache of link states: the state and sequence of links this process loaded or
//! appended to lately, so that [`crate::Store::execute`] decides without reading the link again.
//!
//! A cached state is never trusted on its own: an append made from it carries the cached
//! sequence as its optimistic check, so a state made stale by another process (or a write the
//! cache did not see) fails the append with a conflict, and the command is decided again from
//! the log. A command that appends nothing from a cached state (a no-op, or a refusal by the
//! domain) asks the log for the link's last sequence before its answer counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::LoadedLink;

/// At most this many links are cached; when full, an arbitrary one is dropped.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(crate) struct LinkCache {
    links: Mutex<HashMap<String, Arc<LoadedLink>>>,
}

impl LinkCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LoadedLink>>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached state of a link.
    pub(crate) fn get(&self, link_id: &str) -> Option<Arc<LoadedLink>> {
        self.map().get(link_id).cloned()
    }

    /// Caches a state, unless a state of a later sequence is cached already.
    pub(crate) fn put(&self, link_id: &str, loaded: Arc<LoadedLink>) {
        let mut map = self.map();
        if let Some(old) = map.get(link_id) {
            if old.sequence > loaded.sequence {
                return;
            }
        } else if map.len() >= CAPACITY {
            if let Some(k) = map.keys().next().cloned() {
                map.remove(&k);
            }
        }
        map.insert(link_id.to_string(), loaded);
    }

    /// Forgets a link (its state is not known for sure any more).
    pub(crate) fn forget(&self, link_id: &str) {
        self.map().remove(link_id);
    }
}
