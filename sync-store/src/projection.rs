//! The projections of one link, computed from its state alone: so the live projection (written
//! with each append), catch-up and rebuild all produce the same rows by construction.

use sync_domain::link::{status, IntentState, LinkState};

use crate::model::{ConflictView, LinkView, QueuedIntent};

/// The rows one link contributes to the projections.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LinkRows {
    pub view: LinkView,
    pub conflicts: Vec<ConflictView>,
    pub queue: Vec<QueuedIntent>,
}

pub(crate) fn link_rows(link_id: &str, state: &LinkState, sequence: u64) -> LinkRows {
    let queue: Vec<QueuedIntent> = state
        .intents
        .values()
        .filter_map(|o| match o.state {
            IntentState::Open { attempts, due_at } => Some(QueuedIntent {
                link_id: link_id.to_string(),
                seq: o.seq,
                due_at,
                attempts,
                intent: o.intent.clone(),
            }),
            IntentState::Blocked | IntentState::GaveUp { .. } => None,
        })
        .collect();
    let conflicts = state
        .conflicts
        .values()
        .map(|c| ConflictView {
            link_id: link_id.to_string(),
            project_id: state.project_id.clone(),
            conflict: c.clone(),
        })
        .collect();
    let view = LinkView {
        link_id: link_id.to_string(),
        project_id: state.project_id.clone(),
        work_item_id: state.work_item_id.clone(),
        issue_id: state.issue.as_ref().map(|i| i.id.clone()),
        issue_key: state.issue.as_ref().map(|i| i.key.clone()),
        status: status(state),
        last_synced_at: state.last_synced_at,
        open_conflicts: state.conflicts.len() as u64,
        open_intents: state.intents.len() as u64,
        intents_emitted: state.intents_emitted,
        next_due_at: queue.iter().map(|q| q.due_at).min(),
        sequence,
    };
    LinkRows {
        view,
        conflicts,
        queue,
    }
}
