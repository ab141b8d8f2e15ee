//! `decide`: turns a command and the current state into events, by the rules of docs/DESIGN.md §3.
//!
//! Each emitted event is folded into a working copy of the state at once, so later rules in the
//! same command see the effect of earlier ones; the caller gets exactly the events, and folding
//! them into its own state gives the same working copy.

use std::collections::{BTreeMap, BTreeSet};

use super::evolve::evolve;
use super::types::*;
use crate::error::DomainError;
use crate::mapping::{FieldMapping, Policy, ProjectMapping, Side};
use crate::value::{Value, ValueKind};

/// Decides the events a command produces.
pub fn decide(state: &LinkState, cmd: LinkCommand) -> Result<Vec<LinkEvent>, DomainError> {
    let mut d = Decider {
        s: state.clone(),
        events: Vec::new(),
        cmd_id: cmd.cmd_id().to_string(),
        n: 0,
        at: 0,
        batch: BTreeMap::new(),
        entries: BTreeMap::new(),
        ours_seen: BTreeMap::new(),
        jira_known_at: None,
    };
    d.run(cmd)?;
    Ok(d.events)
}

struct Decider {
    s: LinkState,
    events: Vec<LinkEvent>,
    cmd_id: String,
    n: u32,
    at: Millis,
    /// Writes decided in this command, per target side, flushed into intents at the end.
    batch: BTreeMap<Side, Vec<FieldWrite>>,
    /// The changelog entries of the Jira observation being taken, per Handoff field, oldest
    /// first, in Handoff space: who set the value the snapshot shows, and on top of what.
    entries: BTreeMap<String, Vec<Entry>>,
    /// Values that the changelog of the observation being taken showed a write of ours
    /// setting, per (Handoff field, value): the intent.
    ours_seen: BTreeMap<(String, Value), String>,
    /// The Jira version (its time) the link knew before the observation being taken: a
    /// change the observation shows without its changelog entry was made after it.
    jira_known_at: Option<Millis>,
}

/// One changelog entry of the Jira observation being taken, in Handoff space.
#[derive(Clone, Debug)]
struct Entry {
    from: Option<Value>,
    to: Option<Value>,
    by_us: Option<bool>,
    /// When the change was made, by Jira's clock (the observation's version when not given).
    at: Millis,
}

fn mapping_of(s: &LinkState) -> ProjectMapping {
    s.mapping
        .clone()
        .unwrap_or_else(|| ProjectMapping::new(Vec::new()))
}

impl Decider {
    fn emit(&mut self, e: LinkEvent) {
        evolve(&mut self.s, &e);
        self.events.push(e);
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{}/{prefix}{}", self.cmd_id, self.n)
    }

    /// Whether a dispatcher has started the intent (so its write may have landed).
    fn started(&self, intent_id: &str) -> bool {
        self.s.intents.get(intent_id).is_some_and(|o| o.started)
    }

    fn field(&self, name: &str) -> FieldState {
        self.s.fields.get(name).cloned().unwrap_or_default()
    }

    fn mapping(&self) -> ProjectMapping {
        mapping_of(&self.s)
    }

    fn require_live(&self) -> Result<(), DomainError> {
        if !self.s.created {
            return Err(DomainError::LinkNotFound);
        }
        if self.s.unlinked.is_some() {
            return Err(DomainError::LinkUnlinked);
        }
        Ok(())
    }

    fn run(&mut self, cmd: LinkCommand) -> Result<(), DomainError> {
        match cmd {
            LinkCommand::CreateFromHandoff {
                project_id,
                work_item_id,
                item,
                mapping,
                at,
                ..
            } => {
                self.create_guard(&mapping, at)?;
                self.emit(LinkEvent::LinkCreated {
                    project_id,
                    origin: Side::Handoff,
                    work_item_id: Some(work_item_id),
                    issue: None,
                    mapping,
                    at,
                });
                self.observed_handoff(&item, None);
                self.take_initial(
                    Side::Handoff,
                    &as_results(&item.values),
                    item.changed_at,
                    true,
                );
                self.emit_create(Side::Jira);
            }
            LinkCommand::CreateFromJira {
                project_id,
                issue,
                observed,
                mapping,
                at,
                ..
            } => {
                self.create_guard(&mapping, at)?;
                self.emit(LinkEvent::LinkCreated {
                    project_id,
                    origin: Side::Jira,
                    work_item_id: None,
                    issue: Some(issue),
                    mapping,
                    at,
                });
                self.observed_jira(&observed, None);
                let values = self.jira_to_handoff_space(&observed.values);
                self.take_initial(Side::Jira, &values, observed.version.updated_ms, true);
                self.emit_create(Side::Handoff);
            }
            LinkCommand::LinkExisting {
                project_id,
                work_item_id,
                item,
                issue,
                observed,
                prefer,
                mapping,
                at,
                ..
            } => {
                self.create_guard(&mapping, at)?;
                self.emit(LinkEvent::LinkCreated {
                    project_id,
                    origin: prefer,
                    work_item_id: Some(work_item_id),
                    issue: Some(issue),
                    mapping,
                    at,
                });
                self.observed_handoff(&item, None);
                self.take_initial(
                    Side::Handoff,
                    &as_results(&item.values),
                    item.changed_at,
                    false,
                );
                self.observed_jira(&observed, None);
                let values = self.jira_to_handoff_space(&observed.values);
                self.take_initial(Side::Jira, &values, observed.version.updated_ms, false);
                for m in self.mapping().fields {
                    let f = self.field(&m.handoff_field);
                    if f.handoff == f.jira {
                        self.emit(LinkEvent::FieldTargeted {
                            field: m.handoff_field.clone(),
                            value: f.handoff.clone(),
                            from: None,
                        });
                        self.emit(LinkEvent::FieldConverged {
                            field: m.handoff_field.clone(),
                            value: f.handoff,
                        });
                        continue;
                    }
                    let winner = if m.direction.carries_from(prefer) {
                        prefer
                    } else {
                        prefer.other()
                    };
                    let v = f.last(winner).clone();
                    self.settle(&m.handoff_field, v, Some(winner));
                }
                self.flush();
            }
            LinkCommand::ObserveHandoff {
                observed,
                delivery_id,
                at,
                ..
            } => {
                self.require_live()?;
                self.at = at;
                if self
                    .s
                    .handoff_version
                    .is_some_and(|v| observed.version <= v)
                {
                    self.emit(LinkEvent::ObservationStale {
                        side: Side::Handoff,
                        delivery_id,
                        at,
                    });
                    if self.s.handoff_version == Some(observed.version) {
                        // A read of the version we know releases writes held for it.
                        self.unblock(Side::Handoff);
                        self.flush();
                    }
                    return Ok(());
                }
                self.observed_handoff(&observed, delivery_id);
                self.observe_values(
                    Side::Handoff,
                    &observed.values,
                    observed.changed_at,
                    &BTreeSet::new(),
                );
                self.unblock(Side::Handoff);
                self.flush();
            }
            LinkCommand::ObserveJira {
                observed,
                delivery_id,
                at,
                ..
            } => {
                self.require_live()?;
                self.at = at;
                // A read of the version we already know, with the changelog read along (a
                // poll), is current: it is taken, to settle what earlier webhooks left open.
                let reread = observed.changelog_from.is_some()
                    && self.s.jira_version == Some(observed.version);
                if !reread && self.s.jira_version.is_some_and(|v| observed.version <= v) {
                    self.emit(LinkEvent::ObservationStale {
                        side: Side::Jira,
                        delivery_id,
                        at,
                    });
                    // Its values are old, but its changelog may prove that a write of ours
                    // overwrote an edit: that edit is kept as a conflict.
                    self.detect_clobbers(&observed, true);
                    self.ours_seen.clear();
                    self.flush();
                    return Ok(());
                }
                self.jira_known_at = self.s.jira_version.map(|v| v.updated_ms);
                self.observed_jira(&observed, delivery_id);
                self.entries = self.entries_of(&observed);
                let mut skip = self.detect_clobbers(&observed, false);
                skip.extend(self.pre_write_snapshots(&observed));
                skip.extend(self.unordered_landing_snapshots(&observed));
                let values = self.jira_to_handoff_space(&observed.values);
                self.observe_values(Side::Jira, &values, observed.version.updated_ms, &skip);
                self.entries.clear();
                self.ours_seen.clear();
                self.flush();
            }
            LinkCommand::ObserveComment {
                side, comment, at, ..
            } => {
                self.require_live()?;
                self.at = at;
                self.observe_comment(side, comment);
            }
            LinkCommand::DispatchStarted { intent_id, .. } => {
                self.require_created()?;
                let Some(open) = self.s.intents.get(&intent_id) else {
                    return Err(DomainError::IntentNotFound(intent_id));
                };
                if !open.started {
                    self.emit(LinkEvent::IntentStarted { intent_id });
                }
            }
            LinkCommand::DispatchSucceeded {
                intent_id,
                outcome,
                at,
                ..
            } => {
                self.require_created()?;
                self.at = at;
                self.dispatch_succeeded(&intent_id, outcome, at)?;
            }
            LinkCommand::DispatchFailed {
                intent_id,
                class,
                message,
                attempt,
                jitter_ms,
                at,
                ..
            } => {
                self.require_created()?;
                self.at = at;
                self.dispatch_failed(&intent_id, class, message, attempt, jitter_ms, at)?;
            }
            LinkCommand::DispatchGaveUp {
                intent_id,
                reason,
                at,
                ..
            } => {
                self.require_created()?;
                if !self.s.intents.contains_key(&intent_id) {
                    return Err(DomainError::IntentNotFound(intent_id));
                }
                self.emit(LinkEvent::IntentGaveUp {
                    intent_id,
                    reason,
                    at,
                });
            }
            LinkCommand::ResolveConflict {
                conflict_id,
                resolution,
                actor,
                at,
                ..
            } => {
                self.require_live()?;
                self.at = at;
                self.resolve(&conflict_id, resolution, actor, at)?;
            }
            LinkCommand::Unlink { actor, at, .. } => {
                self.require_live()?;
                self.unlink(UnlinkReason::Requested, Some(actor), at);
            }
            LinkCommand::RemoteDeleted { side, at, .. } => {
                self.require_created()?;
                if self.s.unlinked.is_some() {
                    return Ok(());
                }
                let reason = match side {
                    Side::Jira => UnlinkReason::JiraIssueDeleted,
                    Side::Handoff => UnlinkReason::WorkItemDeleted,
                };
                self.unlink(reason, None, at);
            }
            LinkCommand::ForceResync {
                item,
                observed,
                actor,
                at,
                ..
            } => {
                self.require_live()?;
                self.at = at;
                self.emit(LinkEvent::ResyncRequested { actor, at });
                // Failed and held intents are tried again as fresh intents.
                let stuck: Vec<String> = self
                    .s
                    .intents
                    .iter()
                    .filter(|(_, o)| !matches!(o.state, IntentState::Open { .. }))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in stuck {
                    self.reissue(&id);
                }
                if self.s.handoff_version.is_none_or(|v| item.version >= v) {
                    self.observed_handoff(&item, None);
                    self.observe_values(
                        Side::Handoff,
                        &item.values,
                        item.changed_at,
                        &BTreeSet::new(),
                    );
                }
                if self.s.jira_version.is_none_or(|v| observed.version >= v) {
                    self.observed_jira(&observed, None);
                    self.entries = self.entries_of(&observed);
                    let skip = self.detect_clobbers(&observed, false);
                    let values = self.jira_to_handoff_space(&observed.values);
                    self.observe_values(Side::Jira, &values, observed.version.updated_ms, &skip);
                    self.entries.clear();
                    self.ours_seen.clear();
                }
                self.reconcile_all();
                self.flush();
            }
            LinkCommand::RetryFailed { cmd_id, actor, at } => {
                if self.s.retry_requests.contains(&cmd_id) {
                    return Ok(()); // taken already: a repeated command changes nothing
                }
                self.require_live()?;
                self.at = at;
                // Given-up and held intents, in the order they were emitted, so the writes
                // issued again keep their order per side.
                let mut stuck: Vec<(u64, String)> = self
                    .s
                    .intents
                    .iter()
                    .filter(|(_, o)| !matches!(o.state, IntentState::Open { .. }))
                    .map(|(id, o)| (o.seq, id.clone()))
                    .collect();
                if stuck.is_empty() {
                    return Err(DomainError::NothingToRetry);
                }
                stuck.sort();
                let intents: Vec<String> = stuck.into_iter().map(|(_, id)| id).collect();
                self.emit(LinkEvent::RetryRequested {
                    cmd_id,
                    intents: intents.clone(),
                    actor,
                    at,
                });
                for id in intents {
                    self.reissue(&id);
                }
                self.flush();
            }
            LinkCommand::ChangeMapping {
                mapping, actor, at, ..
            } => {
                self.require_live()?;
                mapping.validate()?;
                self.emit(LinkEvent::MappingChanged { mapping, actor, at });
            }
        }
        Ok(())
    }

    fn require_created(&self) -> Result<(), DomainError> {
        if self.s.created {
            Ok(())
        } else {
            Err(DomainError::LinkNotFound)
        }
    }

    fn create_guard(&mut self, mapping: &ProjectMapping, at: Millis) -> Result<(), DomainError> {
        if self.s.created {
            return Err(DomainError::LinkAlreadyExists);
        }
        mapping.validate()?;
        self.at = at;
        Ok(())
    }

    /// Records the first values seen on `side`; when the link is created from that side, they
    /// are the target both sides are brought to.
    fn take_initial(
        &mut self,
        side: Side,
        values: &BTreeMap<String, Result<Value, String>>,
        changed_at: Millis,
        is_target: bool,
    ) {
        for m in self.mapping().fields {
            let Some(v) = values.get(&m.handoff_field) else {
                continue;
            };
            let v = match v {
                Ok(v) => v.clone().canonical(),
                Err(reason) => {
                    self.emit(LinkEvent::FieldIgnored {
                        side,
                        field: m.handoff_field.clone(),
                        reason: IgnoreReason::Untransformable(reason.clone()),
                    });
                    continue;
                }
            };
            self.emit(LinkEvent::FieldChanged {
                side,
                field: m.handoff_field.clone(),
                value: v.clone(),
                changed_at,
            });
            if is_target {
                self.target(&m.handoff_field, v, Some(side));
            }
        }
    }

    fn observed_handoff(&mut self, item: &HandoffObservation, delivery_id: Option<String>) {
        self.emit(LinkEvent::HandoffObserved {
            version: item.version,
            actor: item.actor.clone(),
            delivery_id,
            at: self.at,
        });
    }

    fn observed_jira(&mut self, o: &JiraObservation, delivery_id: Option<String>) {
        self.emit(LinkEvent::JiraObserved {
            version: o.version,
            key: o.key.clone(),
            actor: o.actor.clone(),
            delivery_id,
            at: self.at,
        });
    }

    /// Emits the create intent for the side that does not exist yet.
    fn emit_create(&mut self, target: Side) {
        let mapping = self.mapping();
        let mut writes = Vec::new();
        let mut fields = BTreeMap::new();
        for m in &mapping.fields {
            if !m.direction.writes(target) || (target == Side::Jira && m.is_jira_status()) {
                continue;
            }
            let v = self.field(&m.handoff_field).base;
            if v == Value::Null {
                continue;
            }
            let wire = match target {
                Side::Jira => match m.transform.to_jira(&v) {
                    Ok(x) => (m.jira_field.clone(), x),
                    Err(e) => {
                        self.emit(LinkEvent::FieldIgnored {
                            side: Side::Handoff,
                            field: m.handoff_field.clone(),
                            reason: IgnoreReason::Untransformable(e.reason),
                        });
                        continue;
                    }
                },
                Side::Handoff => (m.handoff_field.clone(), v.clone()),
            };
            fields.insert(wire.0, wire.1);
            writes.push(FieldWrite {
                field: m.handoff_field.clone(),
                value: v,
                prior: Value::Null,
            });
        }
        let action = match target {
            Side::Jira => IntentAction::CreateJiraIssue {
                project_id: self.s.project_id.clone(),
                work_item_id: self.s.work_item_id.clone().unwrap_or_default(),
                fields,
            },
            Side::Handoff => IntentAction::CreateHandoffItem {
                project_id: self.s.project_id.clone(),
                issue: self.s.issue.clone().unwrap_or(JiraRef {
                    id: String::new(),
                    key: String::new(),
                }),
                fields,
            },
        };
        let id = self.next_id("i");
        self.emit(LinkEvent::IntentEmitted {
            intent: Intent {
                id,
                action,
                writes,
                due_at: self.at,
            },
        });
    }

    /// The changelog entries of an observation, per Handoff field, in Handoff space.
    fn entries_of(&self, o: &JiraObservation) -> BTreeMap<String, Vec<Entry>> {
        let mut out: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        for m in self.mapping().fields {
            for c in o.changes.iter().filter(|c| c.jira_field == m.jira_field) {
                let conv = |v: &Option<Value>| v.as_ref().and_then(|v| in_handoff_space(&m, v));
                out.entry(m.handoff_field.clone()).or_default().push(Entry {
                    from: conv(&c.from),
                    to: conv(&c.to),
                    by_us: c.by_us,
                    at: c.at.unwrap_or(o.version.updated_ms),
                });
            }
        }
        out
    }

    /// The entry of the observation being taken that set `field` to `v`, the value its
    /// snapshot shows: the field's last entry, when it set that value.
    fn entry_setting(&self, field: &str, v: &Value) -> Option<Entry> {
        self.entries
            .get(field)
            .and_then(|e| e.last())
            .filter(|e| e.to.as_ref() == Some(v))
            .cloned()
    }

    /// Jira values (Jira space, by Jira field) → Handoff space, by Handoff field.
    fn jira_to_handoff_space(
        &self,
        values: &BTreeMap<String, Value>,
    ) -> BTreeMap<String, Result<Value, String>> {
        let mut out = BTreeMap::new();
        for m in self.mapping().fields {
            if let Some(v) = values.get(&m.jira_field) {
                out.insert(
                    m.handoff_field.clone(),
                    m.transform
                        .to_handoff(&v.clone().canonical())
                        .map_err(|e| e.reason),
                );
            }
        }
        out
    }

    fn observe_values<V: Clone + Into<ObservedValue>>(
        &mut self,
        side: Side,
        values: &BTreeMap<String, V>,
        changed_at: Millis,
        skip: &BTreeSet<String>,
    ) {
        for m in self.mapping().fields {
            if skip.contains(&m.handoff_field) {
                continue;
            }
            let Some(v) = values.get(&m.handoff_field) else {
                continue;
            };
            match v.clone().into() {
                ObservedValue(Ok(v)) => self.observe_field(side, &m, v.canonical(), changed_at),
                ObservedValue(Err(reason)) => self.emit(LinkEvent::FieldIgnored {
                    side,
                    field: m.handoff_field.clone(),
                    reason: IgnoreReason::Untransformable(reason),
                }),
            }
        }
    }

    fn link_paused(&self) -> bool {
        super::evolve::link_paused(&self.s)
    }

    /// The observation rules of docs/DESIGN.md §3 for one field.
    fn observe_field(&mut self, side: Side, m: &FieldMapping, v: Value, changed_at: Millis) {
        let name = m.handoff_field.as_str();
        if self.batch.values().flatten().any(|w| w.field == name) {
            // A write of this field was re-queued earlier in this command: make it a pending
            // intent first, so the rules below see it.
            self.flush();
        }
        let f = self.field(name);
        // The changelog entry that set the value, when the observation carries it.
        let entry = match side {
            Side::Jira => self.entry_setting(name, &v),
            Side::Handoff => None,
        };
        let by_us = entry.as_ref().and_then(|e| e.by_us);
        // Echo: a write of ours, seen on the side it was written to. Never propagates back.
        // Not when the changelog says a person set the value before our write was even tried:
        // that is a person's edit which happens to equal our write (the rules below). Handoff
        // has no changelog, but a write not tried yet has not landed there: the value is a
        // person's (a write of ours that may have landed was started, or is withdrawn since).
        let echo_possible = |p: &PendingWrite| match side {
            Side::Jira => by_us != Some(false) || self.started(&p.intent_id),
            Side::Handoff => self.started(&p.intent_id),
        };
        if let Some(p) = f
            .pending(side)
            .iter()
            .find(|p| p.value == v && echo_possible(p))
        {
            let intent_id = p.intent_id.clone();
            self.emit(LinkEvent::FieldEchoed {
                side,
                field: name.to_string(),
                value: v,
                intent_id: intent_id.clone(),
            });
            self.withdraw_if_confirmed(&intent_id);
            self.maybe_converged(name);
            return;
        }
        if side == Side::Jira && m.is_jira_status() && by_us != Some(false) && &v != f.last(side) {
            // An intermediate status of a multi-hop transition of ours: by our account, or
            // of unknown author while the transition is under way. Neither a person's edit
            // nor the transition's echo: the final status settles it.
            let in_flight = |id: &String| self.s.intents.get(id).is_some_and(|o| o.started);
            let own = f
                .pending_jira
                .iter()
                .rev()
                .filter(|p| in_flight(&p.intent_id))
                .chain(
                    f.unechoed_jira
                        .iter()
                        .rev()
                        .filter(|u| by_us == Some(true) && u.landed && !u.echoed),
                )
                .find(|w| w.value != v)
                .map(|w| w.intent_id.clone());
            if let Some(intent_id) = own {
                self.emit(LinkEvent::FieldIgnored {
                    side,
                    field: name.to_string(),
                    reason: IgnoreReason::OwnTransitionHop {
                        intent_id,
                        value: v,
                    },
                });
                return;
            }
        }
        let f = match (&entry, side) {
            (Some(e), Side::Jira) if by_us != Some(true) => self.landed_before(name, e, f),
            _ => f,
        };
        if side == Side::Jira && &v != f.last(side) && f.conflict.is_none() && by_us == Some(true) {
            // The changelog says our account set it: a write of ours that landed late (it was
            // withdrawn since), not a person's edit.
            let ours = self
                .ours_seen
                .get(&(name.to_string(), v.clone()))
                .cloned()
                .or_else(|| {
                    f.unechoed_jira
                        .iter()
                        .rev()
                        .find(|u| u.value == v)
                        .map(|u| u.intent_id.clone())
                });
            if let Some(intent_id) = ours {
                self.emit(LinkEvent::FieldEchoed {
                    side,
                    field: name.to_string(),
                    value: v.clone(),
                    intent_id,
                });
                // Jira holds an older value of ours: it is brought back to the target, unless
                // a write of the target is on its way.
                let f = self.field(name);
                let queued = self.batch.values().flatten().any(|w| w.field == name);
                let writable = f.base != v && m.direction.writes(Side::Jira) && !self.link_paused();
                let pending = f.pending(Side::Jira);
                if pending.is_empty() && !queued && writable {
                    self.queue(Side::Jira, name, f.base.clone(), v);
                } else if writable
                    && !queued
                    && pending
                        .iter()
                        .all(|p| !self.started(&p.intent_id) && p.value == f.base && p.prior != v)
                {
                    // That write, not tried yet, was decided believing Jira held an older
                    // value: queued again with this one as its prior, so a person setting the
                    // older value back before it lands is seen overwritten (model seed 1272).
                    self.supersede_field(name, Side::Jira);
                    self.queue(Side::Jira, name, f.base.clone(), v);
                }
                return;
            }
        }
        if side == Side::Jira && &v != f.last(side) && f.conflict.is_none() && by_us != Some(false)
        {
            if let Some(u) = f
                .unechoed_jira
                .iter()
                .rev()
                .find(|u| !u.landed && u.value == v)
                .cloned()
            {
                // A write of ours withdrawn after an attempt with an unknown outcome, or a
                // person setting the same value: without the changelog entry it cannot be
                // told. Treated as an edit made concurrently with the current target, so the
                // field's policy or a person decides, and neither value is lost. The write is
                // kept: its changelog entry, when seen, tells what it overwrote.
                self.emit(LinkEvent::FieldChanged {
                    side,
                    field: name.to_string(),
                    value: v.clone(),
                    changed_at,
                });
                let target = f.base.clone();
                self.conflict(m, u.prior, side, v, target, ConflictKind::Concurrent);
                return;
            }
        }
        if side == Side::Handoff && &v == f.last(side) && f.conflict.is_none() {
            if let Some(prior) = self.reverted_handoff_write(&f, &v) {
                // A write of ours to Handoff whose outcome is unknown (an attempt failed, say a
                // timeout) may have landed at the version it expected + 1; the item has moved
                // on past that and shows the value it had before. Either the write never
                // landed, or it landed and a person set the old value back: Handoff has no
                // changelog to tell. Treated as an edit made concurrently with the target, so
                // the field's policy or a person decides and neither value is lost.
                self.emit(LinkEvent::FieldChanged {
                    side,
                    field: name.to_string(),
                    value: v.clone(),
                    changed_at,
                });
                let target = f.base.clone();
                self.conflict(m, prior, side, v, target, ConflictKind::Concurrent);
                return;
            }
        }
        if side == Side::Jira && &v == f.last(side) && v != f.base && f.conflict.is_none() {
            if let Some(prior) = self.undone_after_our_write(&f, entry.as_ref(), &v) {
                // Jira shows the value we last saw, but its changelog says a person set it,
                // from a value we never saw, after a write of ours was tried (a transition
                // that failed after a hop, a write with an unknown outcome): our write moved
                // the field and the person moved it back. An edit made concurrently with the
                // target, so the field's policy or a person decides.
                let at = entry.as_ref().map_or(changed_at, |e| e.at);
                self.emit(LinkEvent::FieldChanged {
                    side,
                    field: name.to_string(),
                    value: v.clone(),
                    changed_at: at,
                });
                let target = f.base.clone();
                self.conflict(m, prior, side, v, target, ConflictKind::Concurrent);
                return;
            }
        }
        if &v == f.last(side) {
            if !f.seen(side) {
                // The first value seen of this side equals what we assumed: record the sight.
                self.emit(LinkEvent::FieldChanged {
                    side,
                    field: name.to_string(),
                    value: v,
                    changed_at,
                });
            }
            return; // unchanged
        }
        let first_sight = !f.seen(side);
        self.emit(LinkEvent::FieldChanged {
            side,
            field: name.to_string(),
            value: v.clone(),
            changed_at,
        });
        if let Some(cid) = f.conflict.clone() {
            self.emit(LinkEvent::ConflictUpdated {
                conflict_id: cid,
                side,
                value: v,
            });
            return;
        }
        if first_sight && side == Side::Jira && m.is_jira_status() && !f.pending(side).is_empty() {
            // The initial status of an issue we just created, seen before our transition
            // lands: Jira's workflow set it, not a person.
            return;
        }
        if !m.direction.carries_from(side) {
            self.emit(LinkEvent::FieldIgnored {
                side,
                field: name.to_string(),
                reason: IgnoreReason::OneWay,
            });
            return;
        }
        let other = side.other();
        if v == f.base {
            // This side now holds the target; writes still on their way here are moot.
            self.supersede_field(name, side);
            self.maybe_converged(name);
            return;
        }
        if let Some(first) = f.pending(side).first() {
            // The changelog shows the edit was made on top of the value we were writing (our
            // write had landed): a later edit, carried over like any other. Only a write a
            // dispatcher started can have landed: a person's multi-hop transition passing
            // through our target before our write was even tried is not made on top of it.
            // Or the write that landed was an earlier one of ours with the same value, seen
            // landing in this changelog just before the edit (the pending one re-carries it),
            // or just before a run of people's edits ending in this one.
            let on_target = entry.as_ref().is_some_and(|e| {
                e.by_us != Some(true)
                    && (e.from.as_ref() == Some(&f.base)
                        || self
                            .persons_edits_on_ours(name)
                            .is_some_and(|(v, _)| v == f.base))
            }) && (f
                .pending(side)
                .iter()
                .any(|p| p.value == f.base && self.started(&p.intent_id))
                || self
                    .ours_seen
                    .contains_key(&(name.to_string(), f.base.clone())));
            if on_target {
                self.supersede_field(name, side);
            } else {
                // A person edited this side while our write of the other side's value was on
                // its way: both changed since they last agreed.
                let ancestor = first.prior.clone();
                // What the other side holds now: the target, or an edit made there since that
                // was recorded and not carried (a paused link).
                let theirs = f.effective(side.other()).clone();
                self.supersede_field(name, side);
                self.conflict(m, ancestor, side, v, theirs, ConflictKind::Concurrent);
                return;
            }
        }
        // Checked after the pending write above: while the link is paused, that write would
        // still land over this edit.
        if self.link_paused() {
            // Recorded; reconsidered when the link's conflicts are resolved. A write to the
            // other side not tried yet that carries this side's earlier value would land a
            // value this side no longer holds: withdrawn, and the target goes back to what
            // the other side holds, so that on resumption this edit is carried like any other.
            let theirs = f.pending(other);
            if !theirs.is_empty()
                && theirs.iter().all(|p| !self.started(&p.intent_id))
                && f.seen(other)
                && f.effective(other) == &f.base
            {
                let held = f.last(other).clone();
                self.supersede_field(name, other);
                self.target(name, held, None);
            }
            return;
        }
        let other_eff = f.effective(other).clone();
        if other_eff != f.base {
            // The other side diverged earlier without being carried (one-way, paused).
            if other_eff == v {
                self.target(name, v.clone(), Some(side));
                self.maybe_converged(name);
            } else {
                self.conflict(
                    m,
                    f.base.clone(),
                    side,
                    v,
                    other_eff,
                    ConflictKind::Concurrent,
                );
            }
            return;
        }
        // The other side set or met the target by an edit made after this change: the two
        // edits were made without either seeing the other, so the field's policy (or a
        // person) decides, as for any concurrent edits. This change's time is its changelog
        // entry's; without one, a Jira change is only known to come after the version seen
        // before (so it may precede the other side's edit: taken as concurrent, the safe
        // reading), a Handoff change no later than the item's change time.
        let this_at = match (&entry, side) {
            (Some(e), _) => e.at,
            (None, Side::Jira) => self.jira_known_at.unwrap_or(changed_at),
            (None, Side::Handoff) => changed_at,
        };
        if f.last(side) == &f.base && f.met_at(other).is_some_and(|met| this_at < met) {
            self.conflict(
                m,
                f.base.clone(),
                side,
                v,
                other_eff,
                ConflictKind::Concurrent,
            );
            return;
        }
        // Only this side changed: carry it over.
        self.target(name, v.clone(), Some(side));
        self.supersede_field(name, other);
        let prior = self.field(name).last(other).clone();
        self.queue(other, name, v, prior);
    }

    /// Whether the changelog entry `e` that set Jira's `v` (the value we last saw there) is a
    /// person's edit made after a write of ours to the field was tried: from a value we never
    /// saw, later than the last Jira change we recorded and than the write's decision. Returns
    /// what Jira held before that write.
    fn undone_after_our_write(
        &self,
        f: &FieldState,
        e: Option<&Entry>,
        v: &Value,
    ) -> Option<Value> {
        let e = e?;
        if e.by_us != Some(false)
            || e.from.as_ref().is_none_or(|x| x == v)
            || e.at <= f.jira_changed_at
        {
            return None;
        }
        f.pending_jira
            .iter()
            .filter(|p| self.started(&p.intent_id))
            .chain(f.unechoed_jira.iter().filter(|u| !u.echoed))
            .find(|p| p.value != *v && p.after.is_none_or(|a| e.at > a.updated_ms))
            .map(|p| p.prior.clone())
    }

    /// A write of ours to Handoff that may have landed and been set back: started (pending,
    /// or withdrawn since), conditional on a version the item has since moved at least two
    /// past (its own landing, and a change after it), while the item shows the value the field
    /// had before the write (`v`). Returns the value Handoff held before it.
    fn reverted_handoff_write(&self, f: &FieldState, v: &Value) -> Option<Value> {
        let seen = self.s.handoff_version?;
        let past = |e: u64| seen >= e.saturating_add(2);
        let pending = f.pending_handoff.iter().find(|p| {
            &p.prior == v
                && &p.value != v
                && self.s.intents.get(&p.intent_id).is_some_and(|o| {
                    o.started
                        && match &o.intent.action {
                            IntentAction::UpdateHandoffFields {
                                expected_version: Some(e),
                                ..
                            } => past(*e),
                            _ => false,
                        }
                })
        });
        let withdrawn = || {
            f.withdrawn_handoff
                .iter()
                .find(|a| &a.prior == v && &a.value != v && past(a.expected_version))
                .map(|a| a.prior.clone())
        };
        pending.map(|p| p.prior.clone()).or_else(withdrawn)
    }

    /// The changelog entry of a person's edit shows what Jira held just before (`from`). When
    /// that is the value of a write of ours we had not seen land, it did land first: the
    /// write is confirmed, so the edit is taken as made on top of it. Returns the field's
    /// state after that.
    fn landed_before(&mut self, name: &str, e: &Entry, f: FieldState) -> FieldState {
        // The edit, or a run of people's edits each made on the one before and ending in it,
        // was made on the value an entry of ours just before them set: that write landed.
        // (A run that ends on that value again is read like any person's edit.)
        let on_ours = self
            .persons_edits_on_ours(name)
            .filter(|(v, _)| e.to.as_ref() != Some(v));
        let (from, landed_by) = match (&on_ours, &e.from) {
            (Some((v, at)), _) => (v.clone(), *at),
            (None, Some(v)) => (v.clone(), e.at),
            (None, None) => return f,
        };
        if from == f.jira {
            return f;
        }
        // The entry before it in the same changelog, a person's, set that value: Jira held
        // the person's value then, not necessarily our write (one landing on the same value
        // makes no entry). Nothing is known about our write.
        let person_set_from = self
            .entries
            .get(name)
            .and_then(|es| es.len().checked_sub(2).map(|i| &es[i]))
            .is_some_and(|p| p.by_us == Some(false) && p.to.as_ref() == Some(&from));
        if on_ours.is_none() && person_set_from {
            return f;
        }
        // A write cannot have landed before it was decided: an edit older than the newest
        // version seen then was made on a value someone else set.
        let after_decided = |w: &PendingWrite| w.after.is_none_or(|a| landed_by > a.updated_ms);
        let pending = f
            .pending_jira
            .iter()
            .find(|p| {
                p.value == from
                    && after_decided(p)
                    && self.s.intents.get(&p.intent_id).is_some_and(|o| o.started)
            })
            .map(|p| p.intent_id.clone());
        // A write of ours whose entry, just before the people's in the same changelog, set
        // that value: it landed and was settled by this observation (withdrawn before, say
        // by a newer write carrying the same value), and people edited on top of it.
        let settled_just_before = || {
            on_ours
                .as_ref()
                .and_then(|_| self.ours_seen.get(&(name.to_string(), from.clone())))
                .cloned()
        };
        let Some(intent_id) = pending
            .or_else(|| {
                f.unechoed_jira
                    .iter()
                    .rev()
                    .find(|u| u.value == from && after_decided(u))
                    .map(|u| u.intent_id.clone())
            })
            .or_else(settled_just_before)
        else {
            return f;
        };
        self.emit(LinkEvent::FieldEchoed {
            side: Side::Jira,
            field: name.to_string(),
            value: from,
            intent_id: intent_id.clone(),
        });
        self.withdraw_if_confirmed(&intent_id);
        self.field(name)
    }

    /// When the last entries of `field` in the observation being taken are people's, each
    /// made on the value the one before set, and the entry before them is ours: the value
    /// our entry set (on which the people edited) and when it landed.
    fn persons_edits_on_ours(&self, field: &str) -> Option<(Value, Millis)> {
        let es = self.entries.get(field)?;
        let k = es.iter().rposition(|e| e.by_us != Some(false))?;
        let ours = es.get(k).filter(|e| e.by_us == Some(true))?;
        let run = &es[k + 1..];
        if run.is_empty() {
            return None;
        }
        let mut held = ours.to.as_ref()?;
        for e in run {
            if e.from.as_ref() != Some(held) {
                return None;
            }
            held = e.to.as_ref()?;
        }
        Some((ours.to.clone()?, ours.at))
    }

    fn target(&mut self, field: &str, value: Value, from: Option<Side>) {
        self.emit(LinkEvent::FieldTargeted {
            field: field.to_string(),
            value,
            from,
        });
    }

    fn maybe_converged(&mut self, field: &str) {
        let f = self.field(field);
        if self.batch.values().flatten().any(|w| w.field == field) {
            return; // writes decided in this command are still on their way
        }
        if f.handoff == f.jira
            && f.pending_handoff.is_empty()
            && f.pending_jira.is_empty()
            && f.handoff_seen
            && f.jira_seen
            && f.base != f.handoff
        {
            self.emit(LinkEvent::FieldConverged {
                field: field.to_string(),
                value: f.handoff,
            });
        }
    }

    fn queue(&mut self, side: Side, field: &str, value: Value, prior: Value) {
        let writes = self.batch.entry(side).or_default();
        writes.retain(|w| w.field != field);
        writes.push(FieldWrite {
            field: field.to_string(),
            value,
            prior,
        });
    }

    /// Withdraws the pending writes of `field` on `side`; other fields those intents carried
    /// are queued again.
    fn supersede_field(&mut self, field: &str, side: Side) {
        let ids: Vec<String> = self
            .field(field)
            .pending(side)
            .iter()
            .map(|p| p.intent_id.clone())
            .collect();
        for id in ids {
            let Some(open) = self.s.intents.get(&id).cloned() else {
                continue;
            };
            if matches!(
                open.intent.action,
                IntentAction::CreateJiraIssue { .. } | IntentAction::CreateHandoffItem { .. }
            ) {
                // A create stays; its value for this field is corrected once the record exists.
                continue;
            }
            // Only a write that is still the newest for its field is queued again; an older
            // one would undo a newer decision.
            let again: Vec<FieldWrite> = open
                .intent
                .writes
                .into_iter()
                .filter(|w| {
                    w.field != field
                        && self
                            .field(&w.field)
                            .pending(side)
                            .last()
                            .is_some_and(|p| p.intent_id == id)
                })
                .collect();
            self.emit(LinkEvent::IntentSuperseded {
                intent_id: id.clone(),
            });
            for w in again {
                self.queue(side, &w.field, w.value, w.prior);
            }
        }
    }

    /// Withdraws an intent and queues again what it still had to write.
    fn reissue(&mut self, intent_id: &str) {
        let Some(open) = self.s.intents.get(intent_id).cloned() else {
            return;
        };
        let side = open.intent.action.target();
        self.emit(LinkEvent::IntentSuperseded {
            intent_id: intent_id.to_string(),
        });
        match open.intent.action {
            IntentAction::CreateJiraIssue { .. } if self.s.issue.is_none() => {
                self.emit_create(Side::Jira);
                return;
            }
            IntentAction::CreateHandoffItem { .. } if self.s.work_item_id.is_none() => {
                self.emit_create(Side::Handoff);
                return;
            }
            IntentAction::AddJiraComment { .. }
            | IntentAction::EditJiraComment { .. }
            | IntentAction::AddHandoffComment { .. }
            | IntentAction::EditHandoffComment { .. } => {
                let id = self.next_id("i");
                let mut intent = open.intent;
                intent.id = id;
                intent.due_at = self.at;
                self.emit(LinkEvent::IntentEmitted { intent });
                return;
            }
            _ => {}
        }
        for w in open.intent.writes {
            let f = self.field(&w.field);
            if f.conflict.is_none() && f.base == w.value {
                let prior = f.last(side).clone();
                self.queue(side, &w.field, w.value, prior);
            }
        }
    }

    /// Intents held by a version conflict are issued again after a fresh observation.
    fn unblock(&mut self, side: Side) {
        let blocked: Vec<String> = self
            .s
            .intents
            .iter()
            .filter(|(_, o)| o.state == IntentState::Blocked && o.intent.action.target() == side)
            .map(|(id, _)| id.clone())
            .collect();
        for id in blocked {
            self.reissue(&id);
        }
    }

    /// Both sides changed a field to different values: the policy settles it, or a person will.
    fn conflict(
        &mut self,
        m: &FieldMapping,
        ancestor: Value,
        side: Side,
        v: Value,
        other_value: Value,
        kind: ConflictKind,
    ) {
        let (handoff, jira) = match side {
            Side::Handoff => (v, other_value),
            Side::Jira => (other_value, v),
        };
        if handoff == jira {
            self.target(&m.handoff_field, handoff, None);
            self.maybe_converged(&m.handoff_field);
            return;
        }
        self.conflict_with(m, ancestor, handoff, jira, kind, Vec::new());
    }

    /// Opens a conflict; the field's policy settles it at once unless it is `manual` (or a
    /// text merge that overlaps).
    fn conflict_with(
        &mut self,
        m: &FieldMapping,
        ancestor: Value,
        handoff: Value,
        jira: Value,
        kind: ConflictKind,
        lost: Vec<Value>,
    ) {
        let f = self.field(&m.handoff_field);
        self.supersede_field(&m.handoff_field, Side::Handoff);
        self.supersede_field(&m.handoff_field, Side::Jira);
        // Writes decided earlier in this command for the field are moot too.
        for writes in self.batch.values_mut() {
            writes.retain(|w| w.field != m.handoff_field);
        }
        let id = self.next_id("c");
        let conflict = Conflict {
            id: id.clone(),
            field: m.handoff_field.clone(),
            kind,
            base: ancestor.clone(),
            handoff: handoff.clone(),
            jira: jira.clone(),
            lost,
            detected_at: self.at,
        };
        self.emit(LinkEvent::ConflictOpened { conflict });
        let decided = match m.policy {
            Policy::Manual => None,
            Policy::PreferHandoff => Some(handoff),
            Policy::PreferJira => Some(jira),
            Policy::LastWriterWins => Some(later_of(&f, handoff, jira)),
            Policy::Union => union_merge(&ancestor, &handoff, &jira),
            Policy::TextMerge => text_merge(m.kind, &ancestor, &handoff, &jira),
        };
        if let Some(value) = decided {
            self.emit(LinkEvent::ConflictResolved {
                conflict_id: id,
                field: m.handoff_field.clone(),
                resolution: Resolution::Merge(value.clone()),
                value: value.clone(),
                by: ResolvedBy::Policy(m.policy),
                at: self.at,
            });
            self.settle(&m.handoff_field, value, None);
        }
    }

    /// Both sides are to hold `value`: write it wherever it is not.
    fn settle(&mut self, field: &str, value: Value, from: Option<Side>) {
        self.target(field, value.clone(), from);
        let m = self.mapping().by_handoff(field).cloned();
        for side in [Side::Handoff, Side::Jira] {
            self.supersede_field(field, side);
            let f = self.field(field);
            let writable = m.as_ref().is_some_and(|m| m.direction.writes(side));
            if f.last(side) != &value && writable {
                let prior = f.last(side).clone();
                self.queue(side, field, value.clone(), prior);
            }
        }
        self.maybe_converged(field);
    }

    /// Reconsiders fields whose sides moved while the link was paused or failed.
    fn reconcile_all(&mut self) {
        if self.link_paused() {
            return;
        }
        for m in self.mapping().fields {
            let f = self.field(&m.handoff_field);
            if f.conflict.is_some()
                || !f.pending_handoff.is_empty()
                || !f.pending_jira.is_empty()
                || self
                    .batch
                    .values()
                    .flatten()
                    .any(|w| w.field == m.handoff_field)
            {
                continue;
            }
            // A side changed when it holds another value than the target, or when it was
            // edited while the link was paused (away and back counts: a person's latest edit).
            let hd = f.handoff_seen
                && (f.handoff != f.base || f.handoff_moved_in_pause)
                && m.direction.carries_from(Side::Handoff);
            let jd = f.jira_seen
                && (f.jira != f.base || f.jira_moved_in_pause)
                && m.direction.carries_from(Side::Jira);
            match (hd, jd) {
                (false, false) => {
                    // A one-way field whose target side drifted: bring it back.
                    for side in [Side::Handoff, Side::Jira] {
                        if f.seen(side) && f.last(side) != &f.base && m.direction.writes(side) {
                            self.queue(
                                side,
                                &m.handoff_field,
                                f.base.clone(),
                                f.last(side).clone(),
                            );
                        }
                    }
                }
                (true, false) => {
                    self.settle(&m.handoff_field, f.handoff.clone(), Some(Side::Handoff))
                }
                (false, true) => self.settle(&m.handoff_field, f.jira.clone(), Some(Side::Jira)),
                (true, true) => self.conflict(
                    &m,
                    f.base.clone(),
                    Side::Handoff,
                    f.handoff.clone(),
                    f.jira.clone(),
                    ConflictKind::Concurrent,
                ),
            }
        }
    }

    /// Turns the writes decided in this command into intents: one per side for fields, one
    /// transition per status field. Writes to a side whose record does not exist yet wait for
    /// its creation.
    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let mapping = self.mapping();
        for (side, writes) in batch {
            let writes: Vec<FieldWrite> = writes
                .into_iter()
                .filter(|w| self.field(&w.field).conflict.is_none())
                .collect();
            if writes.is_empty() {
                continue;
            }
            match side {
                Side::Jira => {
                    let Some(issue) = self.s.issue.clone() else {
                        continue;
                    };
                    let mut plain = Vec::new();
                    let mut fields = BTreeMap::new();
                    for w in writes {
                        let Some(m) = mapping.by_handoff(&w.field) else {
                            continue;
                        };
                        let jv = match m.transform.to_jira(&w.value) {
                            Ok(v) => v,
                            Err(e) => {
                                self.emit(LinkEvent::FieldIgnored {
                                    side: Side::Handoff,
                                    field: w.field.clone(),
                                    reason: IgnoreReason::Untransformable(e.reason),
                                });
                                continue;
                            }
                        };
                        if m.is_jira_status() {
                            let status = match &jv {
                                Value::Option(s) => s.clone(),
                                other => other.to_string(),
                            };
                            let id = self.next_id("i");
                            self.emit(LinkEvent::IntentEmitted {
                                intent: Intent {
                                    id,
                                    action: IntentAction::TransitionJiraStatus {
                                        issue_id: issue.id.clone(),
                                        status,
                                    },
                                    writes: vec![w],
                                    due_at: self.at,
                                },
                            });
                        } else {
                            fields.insert(m.jira_field.clone(), jv);
                            plain.push(w);
                        }
                    }
                    if !plain.is_empty() {
                        let id = self.next_id("i");
                        self.emit(LinkEvent::IntentEmitted {
                            intent: Intent {
                                id,
                                action: IntentAction::UpdateJiraFields {
                                    issue_id: issue.id.clone(),
                                    fields,
                                },
                                writes: plain,
                                due_at: self.at,
                            },
                        });
                    }
                }
                Side::Handoff => {
                    let Some(work_item_id) = self.s.work_item_id.clone() else {
                        continue;
                    };
                    let fields = writes
                        .iter()
                        .map(|w| (w.field.clone(), w.value.clone()))
                        .collect();
                    let id = self.next_id("i");
                    self.emit(LinkEvent::IntentEmitted {
                        intent: Intent {
                            id,
                            action: IntentAction::UpdateHandoffFields {
                                work_item_id,
                                fields,
                                expected_version: self.s.handoff_version,
                            },
                            writes,
                            due_at: self.at,
                        },
                    });
                }
            }
        }
    }

    /// Clobber detection: Jira has no conditional update, so a write of ours may overwrite an
    /// edit we had not seen. The changelog tells: the webhook of our write shows a `from` other
    /// than what we believed Jira held, or an edit made on the state before our write arrives
    /// after it. Either way the overwritten value becomes a conflict, so it is not lost.
    /// Returns the fields whose observed value must not be taken as Jira's current value.
    fn detect_clobbers(&mut self, o: &JiraObservation, stale: bool) -> BTreeSet<String> {
        let mut skip: BTreeSet<(String, String, usize)> = BTreeSet::new();
        let mapping = self.mapping();
        // Only a write a dispatcher has started can show in Jira's changelog.
        let started_ids: BTreeSet<String> = self
            .s
            .intents
            .iter()
            .filter(|(_, o)| o.started)
            .map(|(id, _)| id.clone())
            .collect();
        let started = |id: &String| started_ids.contains(id);
        for (i, c) in o.changes.iter().enumerate() {
            let by_person = c.by_us == Some(false);
            // When the change was made, by Jira's clock.
            let entry_at = c.at.unwrap_or(o.version.updated_ms);
            for m in mapping.by_jira(&c.jira_field) {
                let f = self.field(&m.handoff_field);
                // Status changes only through transitions, which may take several hops: the
                // `from` of our last hop may be a status our own earlier hop set. Known when
                // that hop was seen, or when the entry before this one (same observation) is
                // ours; when its author is unknown, the write waits (unsettled) for the
                // person's own entry or a complete changelog to tell.
                let is_status = m.is_jira_status();
                // The entry just before this one for the field, in this same observation.
                let prev = o.changes[..i]
                    .iter()
                    .rev()
                    .find(|c2| c2.jira_field == c.jira_field);
                let prev_by_us = prev.and_then(|c2| c2.by_us);
                let hop_from = |w: &PendingWrite, fr: &Value| {
                    is_status && (w.hops.contains(fr) || prev_by_us == Some(true))
                };
                let unexplained = |w: &PendingWrite, fr: &Option<Value>| {
                    fr.as_ref().is_some_and(|fr| {
                        is_status
                            && fr != &w.prior
                            && fr != &w.value
                            && !hop_from(w, fr)
                            && prev_by_us != Some(false)
                    })
                };
                // When several entries set the value one of our writes set, the last is our
                // write's; earlier ones were people setting the same value (converged).
                // The entry just before this one for the field, in this same observation: when it
                // set this entry's `from`, that value was a person's if it is not ours.
                let previous_to = prev
                    .filter(|c2| c2.by_us != Some(true))
                    .and_then(|c2| c2.to.as_ref())
                    .and_then(|x| in_handoff_space(m, x));
                // The same, when that entry names a person: the value was theirs, even if one
                // of our writes (withdrawn, of unknown outcome) had the same value.
                let person_set_just_before = |fr: &Value| {
                    prev.is_some_and(|c2| {
                        c2.by_us == Some(false)
                            && c2.to.as_ref().and_then(|x| in_handoff_space(m, x)).as_ref()
                                == Some(fr)
                    })
                };
                // The same, and made after `w` was decided: an edit `w` could not know of,
                // even when it set back the value `w` expected Jira to hold.
                let person_set_since = |fr: &Value, w: &PendingWrite| {
                    person_set_just_before(fr)
                        && prev.is_some_and(|c2| {
                            w.after.is_none_or(|a| {
                                c2.at.unwrap_or(o.version.updated_ms) > a.updated_ms
                            })
                        })
                };
                let last_to_same = |v: &Value| {
                    o.changes.iter().rposition(|c2| {
                        c2.jira_field == c.jira_field
                            && c2.by_us != Some(false)
                            && c2.to.as_ref().and_then(|x| in_handoff_space(m, x)).as_ref()
                                == Some(v)
                    })
                };
                let conv = |v: &Option<Value>| v.as_ref().and_then(|v| in_handoff_space(m, v));
                let (from, to) = (conv(&c.from), conv(&c.to));
                // Jira held another value of ours after `w` was decided and before this entry
                // (the newest such landing, known by its own changelog entry, set a
                // value other than `fr`): `fr` was set again in between, by a person, even
                // when it equals what `w` expected Jira to hold (a withdrawn write of ours that
                // landed late, then a person setting the old value back).
                // No write of ours with value `fr` may have landed after that landing: one
                // decided before it that is known to have landed once (writes to a side run
                // in order) did not.
                let reset_since = |w: &PendingWrite, fr: &Value| {
                    let Some(a) = w.after else { return false };
                    let Some((k, _)) = f
                        .unechoed_jira
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| o.intent_id != w.intent_id)
                        .filter_map(|(k, o)| o.echoed_at.map(|t| (k, t)))
                        .filter(|(_, t)| *t > a.updated_ms && *t < entry_at)
                        .max_by_key(|(_, t)| *t)
                    else {
                        return false;
                    };
                    &f.unechoed_jira[k].value != fr
                        && !f.unechoed_jira.iter().enumerate().any(|(k2, o)| {
                            &o.value == fr
                                && o.intent_id != w.intent_id
                                && !(o.landed && !o.repeats && k2 < k)
                        })
                };
                // Whether `fr`, what Jira held just before `w` landed, may be a value of ours:
                // not when every write of ours with that value is known (by the version its edit
                // returned) to have landed once, at or before the newest version seen when `w`
                // was decided. Jira was seen after that landing, holding `w`'s prior, so `fr`
                // was set again since, by a person (model seed 27).
                let ours_since = |w: &PendingWrite, fr: &Value| {
                    f.unechoed_jira.iter().any(|o| {
                        &o.value == fr
                            && !(o.landed
                                && !o.repeats
                                && o.landed_at
                                    .zip(w.after)
                                    .is_some_and(|(t, a)| t <= a.updated_ms))
                    })
                };
                // A write cannot have landed at or before the newest version seen when it was
                // decided: an older entry setting the same value is another write's (an earlier
                // one of ours already settled, or a person's).
                let after_decided =
                    |w: &PendingWrite| w.after.is_none_or(|a| entry_at > a.updated_ms);
                // A stale observation predates every write still pending (each was decided
                // after the newest version seen): it cannot be their echo.
                if let Some(p) = f
                    .pending_jira
                    .iter()
                    .find(|p| {
                        !stale
                            && !by_person
                            && started(&p.intent_id)
                            && after_decided(p)
                            && Some(&p.value) == to.as_ref()
                            && last_to_same(&p.value) == Some(i)
                    })
                    .cloned()
                {
                    // The webhook of a write still in flight (its response may be lost).
                    // Seen in the changelog: confirmed and settled in one go, unless it was
                    // attempted more than once (an earlier attempt may land again later).
                    self.ours_seen.insert(
                        (m.handoff_field.clone(), p.value.clone()),
                        p.intent_id.clone(),
                    );
                    let retried =
                        self.s.intents.get(&p.intent_id).is_some_and(|o| {
                            !matches!(o.state, IntentState::Open { attempts: 0, .. })
                        });
                    let wait = unexplained(&p, &from);
                    self.emit(LinkEvent::FieldEchoed {
                        side: Side::Jira,
                        field: m.handoff_field.clone(),
                        value: p.value.clone(),
                        intent_id: p.intent_id.clone(),
                    });
                    if wait {
                        // Kept landed and unsettled: see `hop_from` above.
                    } else if retried {
                        self.emit(LinkEvent::JiraWriteEchoed {
                            field: m.handoff_field.clone(),
                            intent_id: p.intent_id.clone(),
                            at: Some(entry_at),
                        });
                    } else {
                        self.emit(LinkEvent::JiraWriteSettled {
                            field: m.handoff_field.clone(),
                            intent_id: p.intent_id.clone(),
                            at: Some(entry_at),
                        });
                    }
                    self.withdraw_if_confirmed(&p.intent_id);
                    let ours = |v: &Value| ours_since(&p, v);
                    let set_just_before = |fr: &Value| previous_to.as_ref() == Some(fr);
                    if let Some(lost) = from.clone().filter(|fr| {
                        !wait
                            && !hop_from(&p, fr)
                            && fr != &p.value
                            && ((!ours(fr) && (fr != &p.prior || set_just_before(fr)))
                                || reset_since(&p, fr))
                    }) {
                        skip.insert((m.handoff_field.clone(), m.jira_field.clone(), i));
                        self.report_clobber(m, lost, &p, Some(entry_at));
                    }
                    continue;
                }
                // Of several writes of ours with the same value, the entry is the landing of
                // the newest decided before it, and not of one known to have landed at
                // another time (writes to a side land in the order they were decided).
                if let Some(pos) = f.unechoed_jira.iter().rposition(|u| {
                    !by_person
                        && after_decided(u)
                        && (u.repeats || u.landed_at.is_none_or(|t| t == entry_at))
                        && to.as_ref() == Some(&u.value)
                        // An entry naming our account is a landing of ours even when a later
                        // one set the same value again.
                        && (c.by_us == Some(true) || last_to_same(&u.value) == Some(i))
                }) {
                    // The webhook of one of our writes: its `from` is what Jira held just
                    // before; anything but what we believed (or an earlier write of ours) was
                    // a person's edit that our write overwrote.
                    let u = f.unechoed_jira[pos].clone();
                    if !u.landed {
                        // Ours late, or a person's with the same value: the snapshot rules
                        // decide (see `observe_field`). If ours, what it replaced was lost;
                        // keeping that value in a conflict costs nothing if it was not.
                        let ours = |v: &Value| ours_since(&u, v);
                        if let Some(lost) = from.filter(|fr| {
                            fr != &u.value
                                && ((fr != &u.prior && !ours(fr)) || person_set_since(fr, &u))
                        }) {
                            self.report_clobber(m, lost, &u, Some(entry_at));
                        }
                        if c.by_us == Some(true) {
                            // The changelog names our account: it is our write, and its entry
                            // has now told what it overwrote.
                            self.ours_seen.insert(
                                (m.handoff_field.clone(), u.value.clone()),
                                u.intent_id.clone(),
                            );
                            self.settle_write(&m.handoff_field, &u, entry_at);
                        }
                        continue;
                    }
                    self.ours_seen.insert(
                        (m.handoff_field.clone(), u.value.clone()),
                        u.intent_id.clone(),
                    );
                    if pos + 1 < f.unechoed_jira.len() {
                        // A later write of ours has landed since: this snapshot is older.
                        skip.insert((m.handoff_field.clone(), m.jira_field.clone(), i));
                    }
                    if unexplained(&u, &from) {
                        continue; // see `hop_from` above
                    }
                    // What our write replaced is a value of ours only if a write of ours is
                    // known to have landed with it, or the entry that set it is not a person's,
                    // and that write may have landed since `u` was decided (`ours_since`).
                    let ours = |v: &Value| !person_set_just_before(v) && ours_since(&u, v);
                    // Replaced a value that only a withdrawn write of unknown outcome, or one
                    // tried more than once that may land again, had: ours late, or a person's.
                    // The write is kept (echoed) until a complete changelog shows who set that
                    // value (see `person_set_just_before`).
                    let unsure = from.as_ref().is_some_and(|fr| {
                        ours(fr)
                            && fr != &u.prior
                            && fr != &u.value
                            && !hop_from(&u, fr)
                            && f.unechoed_jira
                                .iter()
                                .filter(|w| &w.value == fr)
                                .all(|w| !w.landed || (w.repeats && w.intent_id != u.intent_id))
                    });
                    // Seen late (a newer version was observed first) and landed at a version
                    // we never learned (Data Center): that newer snapshot may have been set
                    // aside as older than this write (`pre_write_snapshots`), so what people did
                    // since waits for the complete changelog of a poll.
                    let late_unversioned = stale && u.landed_at.is_none();
                    // Another landed write of ours set the same value, and neither landing is
                    // known by version: the entry may be that one's, so this write's own entry
                    // may still come (and tell what it overwrote).
                    let ambiguous = u.landed_at.is_none()
                        && f.unechoed_jira.iter().any(|w| {
                            w.intent_id != u.intent_id
                                && w.value == u.value
                                && w.landed
                                && !w.echoed
                                && w.landed_at.is_none()
                        });
                    if u.repeats || unsure || late_unversioned || ambiguous {
                        // A retried write may land twice; it stays until it ages out.
                        self.emit(LinkEvent::JiraWriteEchoed {
                            field: m.handoff_field.clone(),
                            intent_id: u.intent_id.clone(),
                            at: Some(entry_at),
                        });
                    } else {
                        self.emit(LinkEvent::JiraWriteSettled {
                            field: m.handoff_field.clone(),
                            intent_id: u.intent_id.clone(),
                            at: Some(entry_at),
                        });
                    }
                    let echo_at = c.at.unwrap_or(o.version.updated_ms);
                    let overtaken =
                        |v: &Value| u.overtaken_by.iter().any(|(x, t)| x == v && *t < echo_at);
                    if let Some(lost) = from.filter(|fr| !hop_from(&u, fr)).filter(|fr| {
                        let set_just_before = previous_to.as_ref() == Some(fr) && fr != &u.value;
                        (fr != &u.prior && !ours(fr))
                            || reset_since(&u, fr)
                            || (u.repeats && overtaken(fr))
                            || (set_just_before && !ours(fr))
                    }) {
                        // Jira holds this write now: its entry is the field's last in this
                        // observation, newer than any seen, whose snapshot shows its value. A
                        // value we had taken as Jira's current one (read at an older version,
                        // without its entry) other than the one the write replaced was set
                        // before that one, and replaced too: no edit on top of our write. Jira's
                        // side of the conflict is the overwritten value (model seed 1060). A
                        // loss reported before is not reported again: the snapshot is then taken
                        // as any other (a value of ours is brought back to the target).
                        let holds_ours = !stale
                            && !o.changes[i + 1..]
                                .iter()
                                .any(|c2| c2.jira_field == c.jira_field)
                            && o.values
                                .get(&c.jira_field)
                                .and_then(|x| in_handoff_space(m, x))
                                .as_ref()
                                == Some(&u.value);
                        let now = self.field(&m.handoff_field);
                        if holds_ours
                            && now.jira != u.value
                            && now.jira != lost
                            && !now.reported_lost.contains(&lost)
                        {
                            self.emit(LinkEvent::FieldEchoed {
                                side: Side::Jira,
                                field: m.handoff_field.clone(),
                                value: u.value.clone(),
                                intent_id: u.intent_id.clone(),
                            });
                        }
                        self.report_clobber(m, lost, &u, Some(entry_at));
                    }
                } else if let Some((w, lost)) = self.hop_over_a_persons_status(m, o, i) {
                    // A hop of our transition overwrote a person's status (see the function).
                    self.report_clobber(m, lost, &w, Some(entry_at));
                } else if let Some(u) = f
                    .unechoed_jira
                    .iter()
                    .rev()
                    .filter(|u| u.landed && !u.echoed)
                    .take(1)
                    .find(|u| {
                        // Only the newest landed write, and not when the edit was made on top of it.
                        let on_newest = f
                            .unechoed_jira
                            .iter()
                            .rev()
                            .find(|w| w.landed && !w.echoed)
                            .is_some_and(|w| from.as_ref() == Some(&w.value));
                        // A later entry of this observation for the field tells more.
                        let later = o.changes[i + 1..]
                            .iter()
                            .any(|c2| c2.jira_field == c.jira_field);
                        // Jira was seen moving on from our write by then: this edit came after it.
                        let change_at = c.at.unwrap_or(o.version.updated_ms);
                        let overtaken_before = u.overtaken_by.iter().any(|(_, t)| *t <= change_at);
                        // The edit's value was seen again on Jira after our write succeeded, at
                        // a later version: a later edit brought it back (A-B-A), and that later
                        // edit supersedes this one (when our write gives no version, as on
                        // Data Center, this is all that orders them).
                        let brought_back = u.overtaken_by.iter().any(|(x, t)| {
                            Some(x) == to.as_ref()
                                && *t > change_at
                                && !f.pending_jira.iter().any(|w| &w.value == x)
                                && !f.unechoed_jira.iter().any(|w| &w.value == x)
                        });
                        // Made after our write landed (by the version the edit returned).
                        let made_after = u.landed_at.is_some_and(|t| change_at > t);
                        // Made after the newest version seen when our write was decided and
                        // before it landed (both known by version): unseen when it was decided,
                        // and overwritten by it, even when made on a state we never saw (say, a
                        // late landing of a withdrawn write of ours, set back by a person).
                        // A write decided before any version was seen (`after` unset) was
                        // decided before every edit.
                        let unseen_before = |u: &PendingWrite| {
                            u.landed_at.is_some_and(|t| change_at < t)
                                && u.after.is_none_or(|a| change_at > a.updated_ms)
                        };
                        // A status change of unknown author while our transition is on
                        // record may be one of its hops.
                        let unknown_status = is_status && c.by_us.is_none();
                        // A later write of ours landed before the edit was made: this one
                        // landed before that, and cannot have overwritten the edit.
                        let after_later_write = u.later_landing.is_some_and(|t| change_at > t);
                        c.by_us != Some(true)
                            && !unknown_status
                            && !after_later_write
                            && !later
                            && !on_newest
                            && !overtaken_before
                            && !brought_back
                            && !made_after
                            && u.landed
                            && (from.as_ref() == Some(&u.prior) || unseen_before(u))
                            && u.prior != u.value
                            // An edit to the value our write set lost nothing.
                            && to.as_ref() != Some(&u.value)
                    })
                {
                    // An edit made on the state before one of our writes, delivered after it:
                    // our write overwrote it. Its value is not Jira's current one.
                    let mut u = u.clone();
                    skip.insert((m.handoff_field.clone(), m.jira_field.clone(), i));
                    if let Some(fr) = from {
                        // The edit was made on `from`: that is what it and our write diverged
                        // from (a 3-way merge keeps what the edit removed).
                        u.prior = fr;
                    }
                    if let Some(lost) = to {
                        let landed_at = u.landed_at;
                        self.report_clobber(m, lost, &u, landed_at);
                    }
                }
            }
        }
        // A complete changelog that shows no entry of a write of ours: that write changed
        // nothing (or never landed), there is nothing more to learn from it. One whose intent
        // is closed cannot land again: every landing it had is in this changelog, read above.
        if let Some(from_v) = o.changelog_from {
            for m in mapping.fields.iter() {
                let f = self.field(&m.handoff_field);
                for u in f.unechoed_jira.iter() {
                    let covered = u.after.unwrap_or(JiraVersion {
                        updated_ms: 0,
                        changelog_id: 0,
                    }) >= from_v;
                    let shown = o.changes.iter().any(|c| {
                        c.jira_field == m.jira_field
                            && c.by_us != Some(false)
                            && c.to.as_ref().and_then(|x| in_handoff_space(m, x)).as_ref()
                                == Some(&u.value)
                    });
                    let closed = !self.s.intents.contains_key(&u.intent_id);
                    if covered && (!shown || closed) {
                        self.emit(LinkEvent::JiraWriteSettled {
                            field: m.handoff_field.clone(),
                            intent_id: u.intent_id.clone(),
                            at: None,
                        });
                    }
                }
            }
        }
        // A snapshot value is set aside only when no later entry of this observation changed
        // the field again (then the snapshot shows that later value, which stands).
        skip.into_iter()
            .filter(|(_, jira_field, i)| {
                !o.changes[i + 1..]
                    .iter()
                    .any(|c| &c.jira_field == jira_field)
            })
            .map(|(field, _, _)| field)
            .collect()
    }

    /// Entry `i` of `o` is a hop of our status transition under way (an entry by our account
    /// setting another status than the transition's) and its `from` is the status a person's
    /// entry just before it in the same changelog set, after the transition was decided: the
    /// person moved the issue while our transition was under way (say, between a failed
    /// attempt and its retry), and this hop moved it on over their change. That status was
    /// overwritten, even when it is the one the transition expected Jira to hold (the person
    /// set back the status we last saw after our first hop moved it: an A-B-A the `from` of
    /// our hop alone does not show). Returns the transition's write and the lost status.
    fn hop_over_a_persons_status(
        &self,
        m: &FieldMapping,
        o: &JiraObservation,
        i: usize,
    ) -> Option<(PendingWrite, Value)> {
        let c = &o.changes[i];
        if !m.is_jira_status() || c.by_us != Some(true) {
            return None;
        }
        let conv = |v: &Option<Value>| v.as_ref().and_then(|v| in_handoff_space(m, v));
        let (from, to) = (conv(&c.from)?, conv(&c.to)?);
        let at = |c: &FieldChange| c.at.unwrap_or(o.version.updated_ms);
        let hop_at = at(c);
        let persons = o.changes[..i]
            .iter()
            .rev()
            .find(|c2| c2.jira_field == c.jira_field)
            .filter(|p| p.by_us == Some(false) && conv(&p.to).as_ref() == Some(&from))?;
        let person_at = at(persons);
        // The transition this entry is a hop of: the newest write of ours to the field that was
        // started and had not landed (its final entry, or a later write of ours) before the hop
        // (writes to a side run in order). Setting another status than this hop: not its final
        // entry. Decided before the person's change: one decided after it was seen knew it.
        let not_done_before = |t: Option<Millis>| t.is_none_or(|t| hop_at <= t);
        let f = self.field(&m.handoff_field);
        let w = f
            .pending_jira
            .iter()
            .rev()
            .filter(|p| self.started(&p.intent_id))
            .chain(f.unechoed_jira.iter().rev().filter(|u| {
                not_done_before(u.landed_at)
                    && not_done_before(u.echoed_at)
                    && not_done_before(u.later_landing)
            }))
            .next()?;
        let overwritten =
            w.value != to && w.value != from && w.after.is_none_or(|a| person_at > a.updated_ms);
        overwritten.then(|| (w.clone(), from))
    }

    /// Fields whose value in a webhook's issue snapshot predates a write of ours: the snapshot
    /// shows what the field held before our write, and its changelog does not mention the
    /// field. Jira has no version on the response to an edit (Data Center), so such a webhook
    /// cannot be recognised as stale by version alone.
    fn pre_write_snapshots(&self, o: &JiraObservation) -> BTreeSet<String> {
        let mut skip = BTreeSet::new();
        if o.changes.is_empty() {
            return skip; // a plain read of the issue is current
        }
        for m in self.mapping().fields {
            let f = self.field(&m.handoff_field);
            if o.changes.iter().any(|c| c.jira_field == m.jira_field) {
                continue;
            }
            let Some(v) = o
                .values
                .get(&m.jira_field)
                .and_then(|v| in_handoff_space(&m, v))
            else {
                continue;
            };
            // A value Jira held before a landed write of ours whose own webhook we have not
            // seen: what the field held before it, or an edit it is known to have overwritten.
            // A snapshot at or after the version our write returned shows what Jira held after
            // it: a person's edit in between (its own delivery lost) stands.
            let before_our_write = f.unechoed_jira.iter().any(|u| {
                u.landed
                    && !u.echoed
                    && u.landed_at.is_none_or(|t| o.version.updated_ms < t)
                    && u.value != v
                    && (u.prior == v || f.reported_lost.contains(&v))
            });
            if before_our_write {
                skip.insert(m.handoff_field.clone());
            }
        }
        skip
    }

    /// Fields whose snapshot shows the value of our newest landed write, landed at a version we
    /// never learned (Data Center) and whose changelog entry has not been seen, after Jira was
    /// seen holding a value a person set that we took as newer than that write (it cannot be
    /// ordered against it, see `report_clobber`). The snapshot cannot tell our write landing
    /// after the person's value (overwriting it) from a person setting our value again: taken
    /// as a person's edit, the first would lose their value silently. The value is set aside
    /// until the write's own entry (its webhook, or the complete changelog of a poll, which
    /// reads from the unsettled write) tells which: ours, and it tells what it overwrote; or a
    /// person's, whose edit stands. (A write carried by the create of the issue landed before
    /// any person's edit there: nothing to order.)
    fn unordered_landing_snapshots(&self, o: &JiraObservation) -> BTreeSet<String> {
        let mut skip = BTreeSet::new();
        for m in self.mapping().fields {
            let f = self.field(&m.handoff_field);
            if o.changes.iter().any(|c| c.jira_field == m.jira_field) {
                continue; // its entry tells who set the value
            }
            let Some(v) = o
                .values
                .get(&m.jira_field)
                .and_then(|v| in_handoff_space(&m, v))
            else {
                continue;
            };
            let newest = f.unechoed_jira.iter().rev().find(|u| u.landed);
            let unordered = newest.is_some_and(|u| {
                !u.echoed
                    && !u.by_create
                    && u.landed_at.is_none()
                    && u.value == v
                    && f.jira != v
                    && u.overtaken_by.iter().any(|(x, _)| x == &f.jira)
            });
            if unordered {
                skip.insert(m.handoff_field.clone());
            }
        }
        skip
    }

    /// A write of ours whose changelog entry was seen: settled, or kept as echoed when it was
    /// attempted more than once (another attempt may land later).
    fn settle_write(&mut self, field: &str, u: &PendingWrite, at: Millis) {
        if u.repeats {
            self.emit(LinkEvent::JiraWriteEchoed {
                field: field.to_string(),
                intent_id: u.intent_id.clone(),
                at: Some(at),
            });
        } else {
            self.emit(LinkEvent::JiraWriteSettled {
                field: field.to_string(),
                intent_id: u.intent_id.clone(),
                at: Some(at),
            });
        }
    }

    /// An edit on Jira that our write (`written`) overwrote becomes a conflict, or joins the
    /// open one. When Jira still holds our write, the lost value stands for Jira's side; when
    /// a person has edited Jira since, Jira's side is that newer value and the lost one is
    /// kept in the conflict's `lost` list.
    fn report_clobber(
        &mut self,
        m: &FieldMapping,
        lost: Value,
        write: &PendingWrite,
        landed_at: Option<Millis>,
    ) {
        let f = self.field(&m.handoff_field);
        if f.reported_lost.contains(&lost) {
            return;
        }
        // Jira's value as we know it was first seen at a version after our write landed: a
        // person edited Jira on top of our write, and that later edit on the same side
        // supersedes the overwritten one.
        // (Not when that value is one of our writes: then it may be ours, taken as an edit.
        // Nor when that change set this write's own value: Jira seen holding it, with no entry
        // to tell ours late from a person's, is no edit on top of it; `jira` may hold a later
        // write of ours since.)
        let ours_value = f
            .unechoed_jira
            .iter()
            .chain(f.pending_jira.iter())
            .any(|w| w.value == f.jira);
        let own_value_seen = f.jira_changed_to.as_ref() == Some(&write.value);
        let edited_since =
            landed_at.is_some_and(|t| f.jira_changed_at > t) && !ours_value && !own_value_seen;
        if edited_since && f.jira != write.value && f.conflict.is_none() {
            return;
        }
        // We had taken the overwritten value as Jira's current one, and as the newer edit: the
        // target moved to it and Handoff is (being) brought to it, in place of the value our
        // write carries. That value is the other side of the conflict, or it would be lost.
        let target_was_lost = f.jira == lost && !edited_since && f.base == lost;
        let echoed = f.jira == lost && !edited_since;
        if echoed {
            // We had taken the overwritten value as Jira's current one; Jira holds our write.
            self.emit(LinkEvent::FieldEchoed {
                side: Side::Jira,
                field: m.handoff_field.clone(),
                value: write.value.clone(),
                intent_id: write.intent_id.clone(),
            });
        }
        let f = self.field(&m.handoff_field);
        if let Some(cid) = f.conflict.clone() {
            if echoed && write.value != lost {
                // The open conflict stood for Jira with the overwritten value; Jira holds our
                // write, and the value it carried (say, a resolution whose Handoff write that
                // value withdrew) is Jira's side now, or it would be in no record.
                self.emit(LinkEvent::ConflictUpdated {
                    conflict_id: cid.clone(),
                    side: Side::Jira,
                    value: write.value.clone(),
                });
            }
            self.emit(LinkEvent::ConflictLostValue {
                conflict_id: cid,
                value: lost,
            });
            return;
        }
        let jira_side = if f.jira == write.value {
            lost.clone()
        } else {
            f.jira.clone()
        };
        // A value on its way to Handoff (say, a resolution in flight) is withdrawn by the
        // conflict: it is kept in the record with the overwritten one.
        let mut kept = vec![lost.clone()];
        let in_flight = f.effective(Side::Handoff).clone();
        if in_flight != f.handoff && in_flight != lost {
            kept.push(in_flight);
        }
        let handoff_side = if target_was_lost && write.value != lost {
            write.value.clone()
        } else {
            f.handoff.clone()
        };
        self.conflict_with(
            m,
            write.prior.clone(),
            handoff_side,
            jira_side,
            ConflictKind::Clobbered,
            kept,
        );
    }

    /// An intent whose every write has been seen landed needs no retry.
    fn withdraw_if_confirmed(&mut self, intent_id: &str) {
        let Some(open) = self.s.intents.get(intent_id).cloned() else {
            return;
        };
        if open.intent.writes.is_empty() {
            return;
        }
        let side = open.intent.action.target();
        let still: Vec<FieldWrite> = open
            .intent
            .writes
            .iter()
            .filter(|w| {
                self.field(&w.field)
                    .pending(side)
                    .last()
                    .is_some_and(|p| p.intent_id == intent_id)
            })
            .cloned()
            .collect();
        if still.len() == open.intent.writes.len() {
            return;
        }
        // Some of its writes are seen landed: it is withdrawn, so a later attempt cannot
        // write those fields again over newer edits; the rest is queued afresh.
        self.emit(LinkEvent::IntentSuperseded {
            intent_id: intent_id.to_string(),
        });
        for w in still {
            self.queue(side, &w.field, w.value, w.prior);
        }
    }

    fn dispatch_succeeded(
        &mut self,
        intent_id: &str,
        outcome: DispatchOutcome,
        at: Millis,
    ) -> Result<(), DomainError> {
        let Some(open) = self.s.intents.get(intent_id).cloned() else {
            return Err(DomainError::IntentNotFound(intent_id.to_string()));
        };
        self.emit(LinkEvent::IntentSucceeded {
            intent_id: intent_id.to_string(),
            outcome: outcome.clone(),
            at,
        });
        for w in &open.intent.writes {
            self.maybe_converged(&w.field);
        }
        match (&open.intent.action, &outcome) {
            (IntentAction::CreateJiraIssue { .. }, DispatchOutcome::JiraIssueCreated { .. })
            | (
                IntentAction::CreateHandoffItem { .. },
                DispatchOutcome::HandoffItemCreated { .. },
            ) => {
                // Values that changed while the record was being created, and Jira's status
                // (which only a transition sets), are written now.
                let target = open.intent.action.target();
                for m in self.mapping().fields {
                    let f = self.field(&m.handoff_field);
                    // A value the create carried and a person has since cleared is cleared.
                    let carried = open
                        .intent
                        .writes
                        .iter()
                        .any(|w| w.field == m.handoff_field);
                    if m.direction.writes(target)
                        && f.conflict.is_none()
                        && f.pending(target).is_empty()
                        && f.last(target) != &f.base
                        && (f.base != Value::Null || carried)
                    {
                        let prior = f.last(target).clone();
                        self.queue(target, &m.handoff_field, f.base.clone(), prior);
                    }
                }
                self.flush();
                self.mirror_comments_waiting_for(target);
            }
            (
                IntentAction::AddJiraComment {
                    origin_id, body, ..
                }
                | IntentAction::AddHandoffComment {
                    origin_id, body, ..
                }
                | IntentAction::EditJiraComment {
                    origin_id, body, ..
                }
                | IntentAction::EditHandoffComment {
                    origin_id, body, ..
                },
                DispatchOutcome::CommentWritten { comment_id },
            ) => {
                let origin_side = open.intent.action.target().other();
                self.emit(LinkEvent::CommentMirrored {
                    origin_side,
                    origin_id: origin_id.clone(),
                    mirror_id: comment_id.clone(),
                    body: body.clone(),
                });
                self.mirror_edit_if_needed(origin_side, origin_id);
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch_failed(
        &mut self,
        intent_id: &str,
        class: ErrorClass,
        message: String,
        attempt: u32,
        jitter_ms: u64,
        at: Millis,
    ) -> Result<(), DomainError> {
        if !self.s.intents.contains_key(intent_id) {
            return Err(DomainError::IntentNotFound(intent_id.to_string()));
        }
        let retry = self.mapping().retry;
        match class {
            ErrorClass::Retryable { retry_after_ms } if attempt < retry.max_attempts => {
                self.emit(LinkEvent::IntentRetryScheduled {
                    intent_id: intent_id.to_string(),
                    attempt,
                    class,
                    message,
                    next_attempt_at: at.saturating_add(retry.delay_ms(
                        attempt,
                        jitter_ms,
                        retry_after_ms,
                    ) as i64),
                });
            }
            ErrorClass::VersionConflict => {
                let expected = match self.s.intents.get(intent_id).map(|o| &o.intent.action) {
                    Some(IntentAction::UpdateHandoffFields {
                        expected_version, ..
                    }) => *expected_version,
                    _ => None,
                };
                self.emit(LinkEvent::IntentBlocked {
                    intent_id: intent_id.to_string(),
                    message,
                });
                if self.s.handoff_version > expected {
                    // The link already knows a newer version than the write expected: its
                    // state reflects it, so the write is decided again at once.
                    self.reissue(intent_id);
                    self.flush();
                }
            }
            ErrorClass::Retryable { .. } => self.emit(LinkEvent::IntentGaveUp {
                intent_id: intent_id.to_string(),
                reason: format!("gave up after {attempt} attempts: {message}"),
                at,
            }),
            ErrorClass::Auth | ErrorClass::Permanent => self.emit(LinkEvent::IntentGaveUp {
                intent_id: intent_id.to_string(),
                reason: message,
                at,
            }),
        }
        Ok(())
    }

    fn resolve(
        &mut self,
        conflict_id: &str,
        resolution: Resolution,
        actor: String,
        at: Millis,
    ) -> Result<(), DomainError> {
        let Some(c) = self.s.conflicts.get(conflict_id).cloned() else {
            return Err(DomainError::ConflictNotFound(conflict_id.to_string()));
        };
        let m = self.mapping().by_handoff(&c.field).cloned();
        let kind = m.as_ref().map_or(ValueKind::Text, |m| m.kind);
        let f = self.field(&c.field);
        let value = match &resolution {
            Resolution::UseHandoff => c.handoff.clone(),
            Resolution::UseJira => c.jira.clone(),
            Resolution::Merge(v) => {
                let v = v.clone().canonical();
                if !v.fits(kind) {
                    return Err(DomainError::MergeValueDoesNotFit {
                        field: c.field.clone(),
                        kind,
                    });
                }
                v
            }
            Resolution::Ignore => later_of(&f, c.handoff.clone(), c.jira.clone()),
        };
        self.emit(LinkEvent::ConflictResolved {
            conflict_id: conflict_id.to_string(),
            field: c.field.clone(),
            resolution,
            value: value.clone(),
            by: ResolvedBy::Person(actor),
            at,
        });
        self.settle(&c.field, value, None);
        self.reconcile_all();
        self.flush();
        Ok(())
    }

    fn unlink(&mut self, reason: UnlinkReason, actor: Option<String>, at: Millis) {
        let ids: Vec<String> = self.s.intents.keys().cloned().collect();
        for intent_id in ids {
            self.emit(LinkEvent::IntentSuperseded { intent_id });
        }
        self.emit(LinkEvent::Unlinked { reason, actor, at });
    }

    fn observe_comment(&mut self, side: Side, c: ObservedComment) {
        let other = side.other();
        // Our own mirror, recognised by its marker (its webhook may come before our dispatch
        // result) or by its id: an echo, never copied back.
        if let Some(origin) = &c.mirror_of {
            let key = comment_key(other, origin);
            if let Some(rec) = self.s.comments.get(&key) {
                if rec.mirror_id.as_deref() != Some(c.id.as_str()) {
                    let body = rec
                        .mirrored_body
                        .clone()
                        .unwrap_or_else(|| rec.body.clone());
                    self.emit(LinkEvent::CommentMirrored {
                        origin_side: other,
                        origin_id: origin.clone(),
                        mirror_id: c.id.clone(),
                        body,
                    });
                }
            }
            return;
        }
        if self.s.comments.iter().any(|(k, r)| {
            k.starts_with(&format!("{other}:")) && r.mirror_id.as_deref() == Some(c.id.as_str())
        }) {
            return;
        }
        let key = comment_key(side, &c.id);
        let known = self.s.comments.get(&key).cloned();
        match known {
            None if c.deleted => {}
            None => {
                let (origin_id, author, body) = (c.id.clone(), c.author.clone(), c.body.clone());
                self.emit(LinkEvent::CommentObserved { side, comment: c });
                self.emit_comment_intent(side, origin_id, author, body, None);
            }
            Some(rec) => {
                if rec.body == c.body && rec.deleted == c.deleted {
                    return;
                }
                let origin_id = c.id.clone();
                self.emit(LinkEvent::CommentObserved { side, comment: c });
                self.mirror_edit_if_needed(side, &origin_id);
            }
        }
    }

    /// Comments seen while the record on `target` did not exist yet (their mirror had
    /// nowhere to go): mirrored now that it exists.
    fn mirror_comments_waiting_for(&mut self, target: Side) {
        let origin_side = target.other();
        let prefix = format!("{origin_side}:");
        let waiting: Vec<(String, CommentRecord)> = self
            .s
            .comments
            .iter()
            .filter(|(k, r)| k.starts_with(&prefix) && r.mirror_id.is_none() && !r.deleted)
            .map(|(k, r)| (k[prefix.len()..].to_string(), r.clone()))
            .collect();
        for (origin_id, rec) in waiting {
            let in_flight = self.s.intents.values().any(|o| match &o.intent.action {
                IntentAction::AddJiraComment { origin_id: oid, .. }
                | IntentAction::AddHandoffComment { origin_id: oid, .. } => oid == &origin_id,
                _ => false,
            });
            if !in_flight {
                self.emit_comment_intent(origin_side, origin_id, rec.author, rec.body, None);
            }
        }
    }

    /// After an original's body changed, or a mirror was written: edit the mirror if its body
    /// is behind.
    fn mirror_edit_if_needed(&mut self, origin_side: Side, origin_id: &str) {
        let Some(rec) = self
            .s
            .comments
            .get(&comment_key(origin_side, origin_id))
            .cloned()
        else {
            return;
        };
        let Some(mirror_id) = rec.mirror_id.clone() else {
            return; // the add still pending carries an older body; fixed when it lands
        };
        if rec.deleted || rec.mirrored_body.as_deref() == Some(rec.body.as_str()) {
            return;
        }
        let in_flight = self.s.intents.values().any(|o| match &o.intent.action {
            IntentAction::EditJiraComment {
                origin_id: oid,
                body,
                ..
            }
            | IntentAction::EditHandoffComment {
                origin_id: oid,
                body,
                ..
            } => oid == origin_id && body == &rec.body,
            _ => false,
        });
        if !in_flight {
            self.emit_comment_intent(
                origin_side,
                origin_id.to_string(),
                rec.author,
                rec.body,
                Some(mirror_id),
            );
        }
    }

    fn emit_comment_intent(
        &mut self,
        origin_side: Side,
        origin_id: String,
        author: String,
        body: String,
        mirror_id: Option<String>,
    ) {
        // The record the mirror lives on must exist (it is written once it does).
        let target = match origin_side {
            Side::Handoff => self.s.issue.as_ref().map(|i| i.id.clone()),
            Side::Jira => self.s.work_item_id.clone(),
        };
        let Some(target) = target else {
            return;
        };
        let action = match (origin_side, mirror_id) {
            (Side::Handoff, None) => IntentAction::AddJiraComment {
                issue_id: target,
                origin_id,
                author,
                body,
            },
            (Side::Handoff, Some(comment_id)) => IntentAction::EditJiraComment {
                issue_id: target,
                comment_id,
                origin_id,
                author,
                body,
            },
            (Side::Jira, None) => IntentAction::AddHandoffComment {
                work_item_id: target,
                origin_id,
                author,
                body,
            },
            (Side::Jira, Some(comment_id)) => IntentAction::EditHandoffComment {
                work_item_id: target,
                comment_id,
                origin_id,
                author,
                body,
            },
        };
        let id = self.next_id("i");
        self.emit(LinkEvent::IntentEmitted {
            intent: Intent {
                id,
                action,
                writes: Vec::new(),
                due_at: self.at,
            },
        });
    }
}

/// A Jira-space value brought into Handoff space through the field's transform, when it can be.
fn in_handoff_space(m: &FieldMapping, v: &Value) -> Option<Value> {
    m.transform.to_handoff(&v.clone().canonical()).ok()
}

fn as_results(values: &BTreeMap<String, Value>) -> BTreeMap<String, Result<Value, String>> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), Ok(v.clone())))
        .collect()
}

/// A value as observed: canonical, or the reason it could not be brought into Handoff space.
struct ObservedValue(Result<Value, String>);

impl From<Value> for ObservedValue {
    fn from(v: Value) -> Self {
        ObservedValue(Ok(v))
    }
}

impl From<Result<Value, String>> for ObservedValue {
    fn from(v: Result<Value, String>) -> Self {
        ObservedValue(v)
    }
}

impl FieldState {
    /// Whether `side`'s value has been seen.
    pub fn seen(&self, side: Side) -> bool {
        match side {
            Side::Handoff => self.handoff_seen,
            Side::Jira => self.jira_seen,
        }
    }
}

/// The value written last by each side's clock; a tie goes to Handoff.
fn later_of(f: &FieldState, handoff: Value, jira: Value) -> Value {
    if f.jira_changed_at > f.handoff_changed_at {
        jira
    } else {
        handoff
    }
}

/// 3-way set merge: what either side added is added, what either side removed is removed.
pub fn union_merge(base: &Value, a: &Value, b: &Value) -> Option<Value> {
    let (base, a, b) = (base.as_set()?, a.as_set()?, b.as_set()?);
    let added: BTreeSet<&String> = a.difference(&base).chain(b.difference(&base)).collect();
    let removed: BTreeSet<&String> = base.difference(&a).chain(base.difference(&b)).collect();
    let result = base
        .iter()
        .filter(|x| !removed.contains(x))
        .chain(added)
        .cloned()
        .collect::<BTreeSet<String>>();
    Some(Value::option_set(result))
}

/// 3-way text merge of non-overlapping edits; `None` when the edits overlap.
pub fn text_merge(kind: ValueKind, base: &Value, a: &Value, b: &Value) -> Option<Value> {
    let (base, a, b) = (base.as_text()?, a.as_text()?, b.as_text()?);
    // diffy merges line by line; a final newline keeps the last line comparable.
    let nl = |s: &str| format!("{s}\n");
    let merged = diffy::merge(&nl(base), &nl(a), &nl(b)).ok()?;
    Some(match kind {
        ValueKind::RichText => Value::rich_text(&merged),
        _ => Value::text(&merged),
    })
}
