//! The link aggregate: one work item ⇄ one Jira issue, keyed by the Jira issue id.
//!
//! [`decide`] turns a command into events by the observation rules of docs/DESIGN.md §3;
//! [`evolve`] folds an event into the state and cannot fail; [`status`] derives the link's
//! status from its state.

mod decide;
mod evolve;
mod types;

pub use decide::{decide, text_merge, union_merge};
pub use evolve::evolve;
pub use types::*;

/// The link's status, derived from its state.
pub fn status(s: &LinkState) -> LinkStatus {
    if s.unlinked.is_some() {
        return LinkStatus::Unlinked;
    }
    if s.intents
        .values()
        .any(|o| matches!(o.state, IntentState::GaveUp { .. }))
    {
        return LinkStatus::Error;
    }
    if !s.conflicts.is_empty() {
        return LinkStatus::Conflict;
    }
    if s.intents
        .values()
        .any(|o| o.intent.action.target() == crate::mapping::Side::Jira)
    {
        return LinkStatus::PendingPush;
    }
    if !s.intents.is_empty() {
        return LinkStatus::PendingPull;
    }
    LinkStatus::Synced
}

/// Where the poller must read Jira's changelog from for this link: the oldest version after
/// which a write of ours may have landed without its webhook being seen. Reading the
/// changelog from there (even when the issue's `updated` is not newer than the link's) lets
/// the link find edits its writes overwrote. `None` when no write is unsettled.
pub fn changelog_since(s: &LinkState) -> Option<JiraVersion> {
    s.fields
        .values()
        .flat_map(|f| f.unechoed_jira.iter())
        .map(|u| {
            u.after.unwrap_or(JiraVersion {
                updated_ms: 0,
                changelog_id: 0,
            })
        })
        .min()
}

/// Folds events into a fresh state.
pub fn replay<'a>(events: impl IntoIterator<Item = &'a LinkEvent>) -> LinkState {
    let mut s = LinkState::default();
    for e in events {
        evolve(&mut s, e);
    }
    s
}

/// The intents that are due at `now`, in the order they were emitted. Order per side is
/// strict: an intent waits while an older one to the same side is not due (backing off, held
/// or given up), so an older write can never land after a newer one.
pub fn due_intents(s: &LinkState, now: Millis) -> Vec<&Intent> {
    let mut v: Vec<&OpenIntent> = s.intents.values().collect();
    v.sort_by_key(|o| o.seq);
    let mut stopped = std::collections::BTreeSet::new();
    let mut due = Vec::new();
    for o in v {
        let side = o.intent.action.target();
        if stopped.contains(&side) {
            continue;
        }
        match o.state {
            IntentState::Open { due_at, .. } if due_at <= now => due.push(&o.intent),
            _ => {
                stopped.insert(side);
            }
        }
    }
    due
}
