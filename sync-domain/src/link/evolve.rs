//! `evolve`: folds one event into the link state. It cannot fail: an event is a fact.

use super::types::*;
use crate::mapping::Side;
use crate::value::Value;

/// How many of a field's writes to Jira are remembered until their webhooks are seen.
const UNECHOED_KEPT: usize = 16;

fn pending_mut(f: &mut FieldState, side: Side) -> &mut Vec<PendingWrite> {
    match side {
        Side::Handoff => &mut f.pending_handoff,
        Side::Jira => &mut f.pending_jira,
    }
}

fn set_last(f: &mut FieldState, side: Side, v: Value) {
    match side {
        Side::Handoff => {
            f.handoff = v;
            f.handoff_seen = true;
        }
        Side::Jira => {
            f.jira = v;
            f.jira_seen = true;
        }
    }
}

/// Removes the pending write of `intent_id` on `side` and every older one (a newer write
/// having landed, the older ones are moot).
fn confirm_pending(f: &mut FieldState, side: Side, intent_id: &str) {
    let p = pending_mut(f, side);
    if let Some(i) = p.iter().position(|w| w.intent_id == intent_id) {
        let older: Vec<PendingWrite> = p.drain(..=i).filter(|w| w.intent_id != intent_id).collect();
        if side == Side::Jira {
            // An older write may have landed before this one: remember it, so its webhook
            // is recognised as ours.
            for w in older {
                remember_unechoed(f, w);
            }
        }
    }
}

/// Whether an intent failed at least once: an attempt whose outcome is unknown may have
/// landed, so the write may show in Jira's changelog more than once.
fn retried(o: &OpenIntent) -> bool {
    !matches!(o.state, IntentState::Open { attempts: 0, .. })
}

fn remember_unechoed(f: &mut FieldState, w: PendingWrite) {
    if let Some(u) = f
        .unechoed_jira
        .iter_mut()
        .find(|u| u.intent_id == w.intent_id)
    {
        u.landed |= w.landed;
        u.repeats |= w.repeats;
        return;
    }
    f.unechoed_jira.push(w);
    let excess = f.unechoed_jira.len().saturating_sub(UNECHOED_KEPT);
    f.unechoed_jira.drain(..excess);
}

/// Applies one event to the state.
pub fn evolve(s: &mut LinkState, e: &LinkEvent) {
    match e {
        LinkEvent::LinkCreated {
            project_id,
            work_item_id,
            issue,
            mapping,
            ..
        } => {
            s.created = true;
            s.project_id.clone_from(project_id);
            s.work_item_id.clone_from(work_item_id);
            s.issue.clone_from(issue);
            for m in &mapping.fields {
                s.fields.entry(m.handoff_field.clone()).or_default();
            }
            s.mapping = Some(mapping.clone());
        }
        LinkEvent::HandoffObserved { version, .. } => {
            // A withdrawn write is told apart by the first observation at or past the version
            // it would have made; one taken before this observation has been.
            if let Some(prev) = s.handoff_version {
                for f in s.fields.values_mut() {
                    f.withdrawn_handoff
                        .retain(|a| a.expected_version.saturating_add(1) > prev);
                }
            }
            s.handoff_version = Some(s.handoff_version.map_or(*version, |v| v.max(*version)));
        }
        LinkEvent::JiraObserved { version, key, .. } => {
            s.jira_version = Some(s.jira_version.map_or(*version, |v| v.max(*version)));
            if let (Some(issue), Some(k)) = (s.issue.as_mut(), key) {
                issue.key.clone_from(k);
            }
        }
        LinkEvent::ObservationStale { .. } | LinkEvent::ResyncRequested { .. } => {}
        LinkEvent::RetryRequested { cmd_id, .. } => {
            s.retry_requests.insert(cmd_id.clone());
        }
        LinkEvent::FieldChanged {
            side,
            field,
            value,
            changed_at,
        } => {
            let paused = link_paused(s);
            let f = s.fields.entry(field.clone()).or_default();
            if f.last(*side) != value && value == &f.base {
                match side {
                    Side::Handoff => f.handoff_met_at = Some(*changed_at),
                    Side::Jira => f.jira_met_at = Some(*changed_at),
                }
            }
            set_last(f, *side, value.clone());
            if paused && f.conflict.is_none() {
                match side {
                    Side::Handoff => f.handoff_moved_in_pause = true,
                    Side::Jira => f.jira_moved_in_pause = true,
                }
            }
            if *side == Side::Jira {
                for u in f
                    .unechoed_jira
                    .iter_mut()
                    .filter(|u| u.landed && &u.value != value)
                {
                    u.overtaken_by.push((value.clone(), *changed_at));
                }
            }
            match side {
                Side::Handoff => f.handoff_changed_at = *changed_at,
                Side::Jira => {
                    f.jira_changed_at = *changed_at;
                    f.jira_changed_to = Some(value.clone());
                }
            }
        }
        LinkEvent::FieldEchoed {
            side,
            field,
            value,
            intent_id,
        } => {
            let started = s.intents.get(intent_id).is_some_and(|o| o.started);
            let retried = s.intents.get(intent_id).is_some_and(retried);
            let f = s.fields.entry(field.clone()).or_default();
            set_last(f, *side, value.clone());
            if *side == Side::Jira && started {
                // Seen landed, but its changelog entry (which tells what it overwrote) may
                // still come: remember it until then.
                if let Some(p) = f.pending_jira.iter().find(|p| &p.intent_id == intent_id) {
                    let p = PendingWrite {
                        landed: true,
                        repeats: retried,
                        ..p.clone()
                    };
                    remember_unechoed(f, p);
                }
            }
            confirm_pending(f, *side, intent_id);
        }
        LinkEvent::FieldConverged { field, value }
        | LinkEvent::FieldTargeted { field, value, .. } => {
            let paused = link_paused(s);
            let f = s.fields.entry(field.clone()).or_default();
            if &f.base != value {
                f.handoff_met_at = None;
                f.jira_met_at = None;
            }
            // A target taken from a change seen on one side: that change's time.
            match e {
                LinkEvent::FieldTargeted {
                    from: Some(Side::Handoff),
                    ..
                } => f.handoff_met_at = Some(f.handoff_changed_at),
                LinkEvent::FieldTargeted {
                    from: Some(Side::Jira),
                    ..
                } => f.jira_met_at = Some(f.jira_changed_at),
                _ => {}
            }
            f.base = value.clone();
            if !paused {
                f.handoff_moved_in_pause = false;
                f.jira_moved_in_pause = false;
            }
        }
        LinkEvent::IntentEmitted { intent } => {
            let side = intent.action.target();
            let after = s.jira_version;
            for w in &intent.writes {
                let f = s.fields.entry(w.field.clone()).or_default();
                pending_mut(f, side).push(PendingWrite {
                    landed: false,
                    overtaken_by: Vec::new(),
                    repeats: false,
                    echoed: false,
                    after,
                    landed_at: None,
                    by_create: false,
                    later_landing: None,
                    echoed_at: None,
                    hops: Vec::new(),
                    intent_id: intent.id.clone(),
                    value: w.value.clone(),
                    prior: w.prior.clone(),
                });
            }
            s.intents_emitted += 1;
            s.intents.insert(
                intent.id.clone(),
                OpenIntent {
                    started: false,
                    seq: s.intents_emitted,
                    intent: intent.clone(),
                    state: IntentState::Open {
                        attempts: 0,
                        due_at: intent.due_at,
                    },
                },
            );
        }
        LinkEvent::IntentSucceeded {
            intent_id,
            outcome,
            at,
        } => {
            let expected_version = match s.intents.get(intent_id).map(|o| &o.intent.action) {
                Some(IntentAction::UpdateHandoffFields {
                    expected_version, ..
                }) => *expected_version,
                _ => None,
            };
            if let Some(open) = s.intents.remove(intent_id) {
                let side = open.intent.action.target();
                let repeats = !matches!(open.state, IntentState::Open { attempts: 0, .. });
                let landed_at = match outcome {
                    DispatchOutcome::JiraUpdated { version } => version.map(|v| v.updated_ms),
                    _ => None,
                };
                let by_create = matches!(outcome, DispatchOutcome::JiraIssueCreated { .. });
                for w in &open.intent.writes {
                    let f = s.fields.entry(w.field.clone()).or_default();
                    let was = f.pending(side).iter().find(|p| &p.intent_id == intent_id);
                    let after = was.and_then(|p| p.after);
                    let hops = was.map(|p| p.hops.clone()).unwrap_or_default();
                    confirm_pending(f, side, intent_id);
                    set_last(f, side, w.value.clone());
                    // The other side's edit has reached this side: changes made here from now
                    // on are made on top of it (and earlier ones are told by Jira's changelog).
                    match side {
                        Side::Handoff => f.jira_met_at = None,
                        Side::Jira => f.handoff_met_at = None,
                    }
                    if side == Side::Jira {
                        remember_unechoed(
                            f,
                            PendingWrite {
                                landed: true,
                                overtaken_by: Vec::new(),
                                repeats,
                                echoed: false,
                                after,
                                landed_at,
                                by_create,
                                later_landing: None,
                                echoed_at: None,
                                hops,
                                intent_id: intent_id.clone(),
                                value: w.value.clone(),
                                prior: w.prior.clone(),
                            },
                        );
                    }
                }
            }
            match outcome {
                // A Jira version in a dispatch result is not taken as the link's Jira version:
                // it would make unseen edits of other fields look stale. The runtime feeds
                // the issue returned by the edit (Cloud `returnIssue`) as an observation.
                DispatchOutcome::JiraIssueCreated { issue, .. } => {
                    s.issue = Some(issue.clone());
                }
                DispatchOutcome::HandoffItemCreated {
                    work_item_id,
                    version,
                } => {
                    s.work_item_id = Some(work_item_id.clone());
                    s.handoff_version =
                        Some(s.handoff_version.map_or(*version, |x| x.max(*version)));
                }
                // Our write made at most one version on top of the one it expected. A host
                // may answer a write that changes nothing with its current version whatever
                // the expected one (docs/handoff-api.md); a version further on holds edits
                // this link has not read, so it is not taken as seen: the notification or
                // read of it is decided in full.
                DispatchOutcome::HandoffUpdated { version }
                    if expected_version.is_none_or(|e| *version <= e.saturating_add(1)) =>
                {
                    s.handoff_version =
                        Some(s.handoff_version.map_or(*version, |x| x.max(*version)));
                }
                DispatchOutcome::HandoffUpdated { .. } => {}
                DispatchOutcome::JiraUpdated { .. } | DispatchOutcome::CommentWritten { .. } => {}
            }
            s.last_synced_at = Some(*at);
        }
        LinkEvent::IntentStarted { intent_id } => {
            if let Some(open) = s.intents.get_mut(intent_id) {
                open.started = true;
            }
        }
        LinkEvent::IntentRetryScheduled {
            intent_id,
            attempt,
            next_attempt_at,
            ..
        } => {
            if let Some(open) = s.intents.get_mut(intent_id) {
                open.state = IntentState::Open {
                    attempts: *attempt,
                    due_at: *next_attempt_at,
                };
            }
        }
        LinkEvent::IntentBlocked { intent_id, .. } => {
            if let Some(open) = s.intents.get_mut(intent_id) {
                open.state = IntentState::Blocked;
            }
        }
        LinkEvent::IntentGaveUp {
            intent_id, reason, ..
        } => {
            if let Some(open) = s.intents.get_mut(intent_id) {
                open.state = IntentState::GaveUp {
                    reason: reason.clone(),
                };
            }
        }
        LinkEvent::IntentSuperseded { intent_id } => {
            if let Some(open) = s.intents.remove(intent_id) {
                let side = open.intent.action.target();
                // An attempt whose outcome is unknown (a timeout) may still have landed.
                let attempted = open.started;
                let repeats = retried(&open);
                for w in &open.intent.writes {
                    if let Some(f) = s.fields.get_mut(&w.field) {
                        let was = f
                            .pending(side)
                            .iter()
                            .find(|p| &p.intent_id == intent_id)
                            .cloned();
                        pending_mut(f, side).retain(|p| &p.intent_id != intent_id);
                        if let (
                            true,
                            IntentAction::UpdateHandoffFields {
                                expected_version: Some(e),
                                ..
                            },
                        ) = (attempted, &open.intent.action)
                        {
                            f.withdrawn_handoff.push(HandoffAttempt {
                                intent_id: intent_id.clone(),
                                value: w.value.clone(),
                                prior: w.prior.clone(),
                                expected_version: *e,
                            });
                            let excess = f.withdrawn_handoff.len().saturating_sub(UNECHOED_KEPT);
                            f.withdrawn_handoff.drain(..excess);
                        }
                        if let (Side::Jira, true, Some(was)) = (side, attempted, was) {
                            remember_unechoed(
                                f,
                                PendingWrite {
                                    landed: false,
                                    overtaken_by: Vec::new(),
                                    repeats,
                                    echoed: false,
                                    after: was.after,
                                    landed_at: None,
                                    by_create: false,
                                    later_landing: None,
                                    echoed_at: None,
                                    hops: was.hops.clone(),
                                    intent_id: intent_id.clone(),
                                    value: w.value.clone(),
                                    prior: w.prior.clone(),
                                },
                            );
                        }
                    }
                }
            }
        }
        LinkEvent::ConflictOpened { conflict } => {
            let f = s.fields.entry(conflict.field.clone()).or_default();
            f.conflict = Some(conflict.id.clone());
            f.handoff_moved_in_pause = false;
            f.jira_moved_in_pause = false;
            f.handoff_met_at = None;
            f.jira_met_at = None;
            f.reported_lost.extend(conflict.lost.iter().cloned());
            s.conflicts.insert(conflict.id.clone(), conflict.clone());
        }
        LinkEvent::ConflictUpdated {
            conflict_id,
            side,
            value,
        } => {
            if let Some(c) = s.conflicts.get_mut(conflict_id) {
                match side {
                    Side::Handoff => c.handoff = value.clone(),
                    Side::Jira => c.jira = value.clone(),
                }
            }
        }
        LinkEvent::ConflictLostValue { conflict_id, value } => {
            if let Some(c) = s.conflicts.get_mut(conflict_id) {
                c.lost.push(value.clone());
                if let Some(f) = s.fields.get_mut(&c.field) {
                    f.reported_lost.push(value.clone());
                }
            }
        }
        LinkEvent::FieldIgnored {
            field,
            reason: IgnoreReason::OwnTransitionHop { intent_id, value },
            ..
        } => {
            if let Some(f) = s.fields.get_mut(field) {
                for w in f
                    .pending_jira
                    .iter_mut()
                    .chain(f.unechoed_jira.iter_mut())
                    .filter(|w| &w.intent_id == intent_id && !w.hops.contains(value))
                {
                    w.hops.push(value.clone());
                }
            }
        }
        LinkEvent::FieldIgnored { .. } => {}
        LinkEvent::JiraWriteEchoed {
            field,
            intent_id,
            at,
        } => {
            if let Some(f) = s.fields.get_mut(field) {
                mark_earlier_landed(f, intent_id, *at);
                for u in f
                    .unechoed_jira
                    .iter_mut()
                    .filter(|u| &u.intent_id == intent_id)
                {
                    u.echoed = true;
                    if at.is_some() {
                        u.echoed_at = *at;
                    }
                }
            }
        }
        LinkEvent::JiraWriteSettled {
            field,
            intent_id,
            at,
        } => {
            if let Some(f) = s.fields.get_mut(field) {
                mark_earlier_landed(f, intent_id, *at);
                f.unechoed_jira.retain(|u| &u.intent_id != intent_id);
            }
        }
        LinkEvent::ConflictResolved {
            conflict_id, field, ..
        } => {
            s.conflicts.remove(conflict_id);
            if let Some(f) = s.fields.get_mut(field) {
                if f.conflict.as_deref() == Some(conflict_id) {
                    f.conflict = None;
                }
            }
        }
        LinkEvent::CommentObserved { side, comment } => {
            let rec = s
                .comments
                .entry(comment_key(*side, &comment.id))
                .or_insert_with(|| CommentRecord {
                    author: comment.author.clone(),
                    body: comment.body.clone(),
                    mirrored_body: None,
                    mirror_id: None,
                    deleted: false,
                });
            rec.author.clone_from(&comment.author);
            rec.body.clone_from(&comment.body);
            rec.deleted = comment.deleted;
        }
        LinkEvent::CommentMirrored {
            origin_side,
            origin_id,
            mirror_id,
            body,
        } => {
            if let Some(rec) = s.comments.get_mut(&comment_key(*origin_side, origin_id)) {
                rec.mirror_id = Some(mirror_id.clone());
                rec.mirrored_body = Some(body.clone());
            }
        }
        LinkEvent::IdentityUpdated {
            work_item_id,
            issue,
        } => {
            if work_item_id.is_some() {
                s.work_item_id.clone_from(work_item_id);
            }
            if issue.is_some() {
                s.issue.clone_from(issue);
            }
        }
        LinkEvent::MappingChanged { mapping, .. } => {
            for m in &mapping.fields {
                s.fields.entry(m.handoff_field.clone()).or_default();
            }
            s.mapping = Some(mapping.clone());
        }
        LinkEvent::Unlinked { reason, .. } => {
            s.unlinked = Some(reason.clone());
            s.conflicts.clear();
            for f in s.fields.values_mut() {
                f.conflict = None;
            }
        }
    }
}

/// A write of ours seen landing at `at` (its changelog entry): every attempt of the writes to
/// the field decided before it was made before then (an intent to a side is started only when
/// the older ones to that side are done), so they landed, if at all, before `at`. An entry
/// tells only its value: when an earlier write had the same value, the entry may be that one's,
/// so only the writes decided before the first with that value are known to be older.
fn mark_earlier_landed(f: &mut FieldState, intent_id: &str, at: Option<Millis>) {
    let Some(at) = at else { return };
    let Some(value) = f
        .unechoed_jira
        .iter()
        .find(|u| u.intent_id == intent_id)
        .map(|u| u.value.clone())
    else {
        return;
    };
    let first = f
        .unechoed_jira
        .iter()
        .position(|u| u.value == value)
        .unwrap_or(0);
    for u in f.unechoed_jira[..first].iter_mut() {
        u.later_landing = Some(u.later_landing.map_or(at, |t| t.min(at)));
    }
}

/// Whether a conflict holds the whole link (the project pauses links on conflict).
pub(super) fn link_paused(s: &LinkState) -> bool {
    s.mapping.as_ref().is_some_and(|m| m.pause_link_on_conflict) && !s.conflicts.is_empty()
}
