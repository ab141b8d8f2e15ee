//! One simulation run: a seed draws the mapping's policies, the fault schedule and the
//! workload; the run steps the real runtime through it on virtual time, then lets
//! everything heal and settle, and checks the invariants ([`super::check`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use handoff_adapter::{Fault, HostCall, HostErrorClass};
use jira_sim::{CallFault, Faults, SimError};
use serde_json::{json, Map, Value as Json};
use sync_domain::link::{LinkEvent, LinkStatus, Resolution};
use sync_domain::mapping::{Policy, Side};
use sync_domain::Value;
use sync_store::{Store, StoreFaults};

use super::check;
use super::rng::Rng;
use super::world::{lock, mapping, Policies, World, HOST_PEOPLE, JIRA_PEOPLE, PROJECT, STATUSES};

/// How big a run is.
#[derive(Clone, Copy, Debug)]
pub struct RunSize {
    /// Workload steps before the faults heal.
    pub steps: usize,
}

impl Default for RunSize {
    fn default() -> Self {
        RunSize { steps: 40 }
    }
}

/// A person's edit, as the ledger of the checks keeps it.
#[derive(Clone, Debug)]
pub struct Edit {
    /// The step it was made at.
    pub step: usize,
    /// The side it was made on.
    pub side: Side,
    /// The link of the item and issue.
    pub link: String,
    /// The Handoff field.
    pub field: String,
    /// The value (Handoff space).
    pub value: Value,
}

/// A person's comment.
#[derive(Clone, Debug)]
pub struct CommentMade {
    /// The step it was made at.
    pub step: usize,
    /// The side.
    pub side: Side,
    /// The link.
    pub link: String,
    /// A token unique in the run, in its body.
    pub token: String,
}

/// A link of the run and what happened to its records.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// The link id.
    pub link: String,
    /// The work item, once known.
    pub item: Option<String>,
    /// Whether a person deleted the Jira issue.
    pub jira_deleted: bool,
    /// Whether a person deleted the work item.
    pub host_deleted: bool,
}

/// What the run did and found.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// The seed.
    pub seed: u64,
    /// Invariant violations, each naming the invariant.
    pub violations: Vec<String>,
    /// The run's steps, for a failure's trace.
    pub trace: Vec<String>,
    /// How often each rule path was reached.
    pub paths: BTreeMap<String, u64>,
    /// A hash of the event log and the API call counts: equal for equal runs.
    pub fingerprint: u64,
}

/// Faults drawn for a run.
#[derive(Clone, Debug, Default)]
struct FaultPlan {
    sim: Faults,
    p_conflict_409: f64,
    p_drop: f64,
    p_host_fail: f64,
    p_host_version: f64,
    p_store_blip: f64,
    p_restart: f64,
    p_crash_arm: f64,
    p_note_loss: f64,
}

fn draw_faults(r: &mut Rng) -> FaultPlan {
    let on = |r: &mut Rng, p: f64, hi: f64| if r.chance(p) { r.unit() * hi } else { 0.0 };
    let sim = Faults {
        webhook_loss: on(r, 0.4, 0.3),
        webhook_duplicate: on(r, 0.4, 0.3),
        webhook_reorder: on(r, 0.4, 0.4),
        webhook_reorder_window_ms: r.range(0, 20_000),
        webhook_delay_ms: (0, r.range(0, 5_000)),
        rate_limit_every: None,
        rate_limit_probability: on(r, 0.4, 0.08),
        retry_after_s: r.range(1, 10) as u64,
        server_error_probability: on(r, 0.4, 0.08),
        search_lag_ms: if r.chance(0.3) { r.range(0, 2_000) } else { 0 },
    };
    FaultPlan {
        sim,
        p_conflict_409: on(r, 0.4, 0.3),
        p_drop: on(r, 0.4, 0.06),
        p_host_fail: on(r, 0.4, 0.1),
        p_host_version: on(r, 0.3, 0.1),
        p_store_blip: on(r, 0.4, 0.06),
        p_restart: on(r, 0.5, 0.04),
        p_crash_arm: on(r, 0.5, 0.04),
        p_note_loss: on(r, 0.3, 0.3),
    }
}

fn draw_policies(r: &mut Rng) -> Policies {
    use Policy::*;
    Policies {
        title: *r.pick(&[Manual, PreferHandoff, PreferJira, LastWriterWins, TextMerge]),
        description: *r.pick(&[Manual, TextMerge, LastWriterWins]),
        size: *r.pick(&[Manual, LastWriterWins, PreferJira, PreferHandoff]),
        status: *r.pick(&[Manual, PreferHandoff, LastWriterWins]),
        labels: *r.pick(&[Union, Manual]),
        pause_link: r.chance(0.3),
        max_attempts: *r.pick(&[3, 5, 8]),
    }
}

/// A process crash planned at the n-th external call from now: that call lands, its answer
/// is lost, and from then on nothing the process does reaches the store, Jira or the host,
/// until the world restarts it.
#[derive(Debug, Default)]
struct Crash {
    armed: Option<u32>,
    crashed: bool,
}

fn is_write(endpoint: &str) -> bool {
    !endpoint.starts_with("GET ")
}

struct Run {
    w: World,
    r: Rng,
    plan: FaultPlan,
    crash: Arc<Mutex<Crash>>,
    store_faults: StoreFaults,
    tracked: Vec<Tracked>,
    edits: Vec<Edit>,
    comments: Vec<CommentMade>,
    counter: u64,
    step: usize,
    trace: Vec<String>,
    paths: BTreeMap<String, u64>,
    pushed_late: u32,
    jira_delete_left: bool,
    host_delete_left: bool,
    remap_left: bool,
}

impl Run {
    fn log(&mut self, s: String) {
        self.trace.push(format!(
            "#{:<3} t+{:>7}ms {s}",
            self.step,
            self.w.time.now() - super::world::START_MS
        ));
    }

    fn bump(&mut self, path: &str, n: u64) {
        *self.paths.entry(path.to_string()).or_default() += n;
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn install_faults(&mut self) {
        lock(&self.w.sim).set_faults(self.plan.sim.clone());
        let crash = self.crash.clone();
        let store = self.store_faults.clone();
        let mut r = self.r.fork(11);
        let (p409, pdrop) = (self.plan.p_conflict_409, self.plan.p_drop);
        lock(&self.w.sim).set_call_fault_hook(Some(Box::new(move |endpoint: &str| {
            {
                let mut c = crash.lock().unwrap_or_else(|p| p.into_inner());
                if c.crashed {
                    return Some(CallFault::DropBefore);
                }
                match c.armed {
                    Some(0) => {
                        c.armed = None;
                        c.crashed = true;
                        store.set_down(true);
                        return Some(if is_write(endpoint) {
                            CallFault::DropAfter
                        } else {
                            CallFault::DropBefore
                        });
                    }
                    Some(n) => c.armed = Some(n - 1),
                    None => {}
                }
            }
            let (a, b, c) = (r.unit(), r.unit(), r.unit());
            if endpoint.starts_with("POST ") && endpoint.ends_with("/transitions") && a < p409 {
                return Some(CallFault::Error(SimError::Conflict(
                    "another transition of this issue is in progress".into(),
                )));
            }
            if b < pdrop {
                return Some(if is_write(endpoint) && c < 0.5 {
                    CallFault::DropAfter
                } else {
                    CallFault::DropBefore
                });
            }
            None
        })));
        let crash = self.crash.clone();
        let store = self.store_faults.clone();
        let mut r = self.r.fork(12);
        let (pfail, pver) = (self.plan.p_host_fail, self.plan.p_host_version);
        self.w
            .host
            .set_fault_hook(Box::new(move |call: HostCall, _target: &str| {
                let retry = HostErrorClass::Retryable {
                    retry_after_ms: None,
                };
                {
                    let mut c = crash.lock().unwrap_or_else(|p| p.into_inner());
                    if c.crashed {
                        return Some(Fault::Fail(retry));
                    }
                    match c.armed {
                        Some(0) => {
                            c.armed = None;
                            c.crashed = true;
                            store.set_down(true);
                            return Some(if call.is_write() {
                                Fault::ApplyThenFail(retry)
                            } else {
                                Fault::Fail(retry)
                            });
                        }
                        Some(n) => c.armed = Some(n - 1),
                        None => {}
                    }
                }
                let (a, b, c) = (r.unit(), r.unit(), r.unit());
                if call == HostCall::UpdateFields && a < pver {
                    return Some(Fault::Fail(HostErrorClass::VersionConflict));
                }
                if b < pfail {
                    return Some(if call.is_write() && c < 0.5 {
                        Fault::ApplyThenFail(retry)
                    } else {
                        Fault::Fail(retry)
                    });
                }
                None
            }));
    }

    fn heal(&mut self) {
        lock(&self.w.sim).set_faults(Faults::default());
        lock(&self.w.sim).set_call_fault_hook(None);
        self.w.host.clear_faults();
        self.store_faults.set_down(false);
        self.store_faults.fail_next(0);
        let mut c = self.crash.lock().unwrap_or_else(|p| p.into_inner());
        c.armed = None;
        c.crashed = false;
    }

    /// What a restart leaves for the next incarnation to recover.
    async fn before_restart(&mut self) {
        let pending = self
            .w
            .store
            .inbox_unprocessed(1000)
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        if pending > 0 {
            self.bump(
                "restart recovery: inbox deliveries left for the next process",
                pending as u64,
            );
        }
        if let Ok(dump) = self.w.store.dump_projections().await {
            let mut started = 0;
            for l in &dump.links {
                if let Ok(s) = self.w.store.load(&l.link_id).await {
                    started += s.state.intents.values().filter(|o| o.started).count();
                }
            }
            if started > 0 {
                self.bump(
                    "restart recovery: intents in flight at the crash",
                    started as u64,
                );
            }
        }
    }

    /// Restarts the process when the planned crash happened.
    async fn recover_if_crashed(&mut self) {
        let crashed = {
            let mut c = self.crash.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut c.crashed)
        };
        if crashed {
            self.store_faults.set_down(false);
            self.before_restart().await;
            let lost = self.w.restart();
            self.bump("restart: crash mid-work", 1);
            self.log(format!(
                "CRASH mid-work → restart #{} ({lost} notifications lost)",
                self.w.incarnation
            ));
        }
    }

    async fn alive(&self) -> Vec<(String, String, Option<String>)> {
        let mut v = Vec::new();
        for t in &self.tracked {
            if t.jira_deleted || t.host_deleted {
                continue;
            }
            if let Ok(Some(view)) = self.w.store.link_view(&t.link).await {
                if view.status == LinkStatus::Unlinked {
                    continue;
                }
                if let Some(wi) = view.work_item_id {
                    v.push((t.link.clone(), wi, view.issue_id));
                }
            }
        }
        v
    }

    fn new_values(&mut self, side: Side) -> Vec<(&'static str, Value)> {
        let n = self.next();
        let field = match side {
            Side::Handoff => *self.r.pick(&[
                "title",
                "title",
                "description",
                "size",
                "size",
                "status",
                "labels",
                "acceptanceCriteria",
            ]),
            Side::Jira => *self.r.pick(&[
                "title",
                "title",
                "description",
                "size",
                "size",
                "status",
                "labels",
            ]),
        };
        let mut out = vec![(field, self.value_for(field, n))];
        if self.r.chance(0.25) {
            let other = *self.r.pick(&["title", "size", "labels"]);
            if other != field {
                out.push((other, self.value_for(other, n)));
            }
        }
        out
    }

    fn value_for(&mut self, field: &str, n: u64) -> Value {
        match field {
            "title" => Value::text(&format!("title {n}")),
            "description" => Value::rich_text(&format!("description {n}")),
            "acceptanceCriteria" => Value::rich_text(&format!("criteria {n}")),
            "size" => Value::number(n as f64).unwrap_or(Value::Null),
            "status" => Value::option(self.r.pick(&STATUSES).0),
            _ => {
                let all = ["alpha", "beta", "gamma"];
                let set: Vec<&str> = all.iter().copied().filter(|_| self.r.chance(0.5)).collect();
                Value::option_set(set)
            }
        }
    }

    async fn person_edit(&mut self, side: Side) {
        let alive = self.alive().await;
        if alive.is_empty() {
            return;
        }
        let (link, wi, issue) = self.r.pick(&alive).clone();
        let values = self.new_values(side);
        let person_i = self.r.below(2) as usize;
        // What the side held before, to tell a change from an edit that sets the value the
        // field already holds (no change: no changelog entry in Jira, nothing to sync).
        let host_before = self.w.host_values(&wi).unwrap_or_default();
        let jira_entries_before = issue
            .as_ref()
            .and_then(|i| lock(&self.w.sim).issue_history(i).ok())
            .map_or(0, |h| h.len());
        let ok = match side {
            Side::Handoff => {
                let fields: BTreeMap<String, Value> = values
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                self.w
                    .host
                    .edit_as_person(&wi, &fields, HOST_PEOPLE[person_i])
                    .is_ok()
            }
            Side::Jira => {
                let Some(issue) = issue.clone() else { return };
                let person = JIRA_PEOPLE[person_i];
                let mut ok = true;
                let mut fields = Map::new();
                for (f, v) in &values {
                    match (*f, v) {
                        ("status", Value::Option(s)) => {
                            let target = STATUSES
                                .iter()
                                .find(|(h, _)| h == s)
                                .map_or("To Do", |(_, j)| *j);
                            let res = (target == "Done").then_some("Done");
                            ok &= lock(&self.w.sim)
                                .transition_as_person(&issue, target, res, person)
                                .is_ok();
                        }
                        ("title", Value::Text(s)) => {
                            fields.insert("summary".into(), json!(s));
                        }
                        ("description", Value::RichText(s)) => {
                            fields.insert("description".into(), json!(s));
                        }
                        ("size", Value::Number(n)) => {
                            let n: f64 = n.as_str().parse().unwrap_or(0.0);
                            fields.insert("customfield_10016".into(), json!(n));
                        }
                        // The empty set is `Value::Null` in canonical form: a person
                        // clearing the labels.
                        ("labels", Value::OptionSet(_) | Value::Null) => {
                            let set: Vec<&String> = match v {
                                Value::OptionSet(set) => set.iter().collect(),
                                _ => Vec::new(),
                            };
                            fields.insert("labels".into(), json!(set));
                        }
                        // An edit the harness cannot make must not be recorded as made.
                        (f, v) => panic!("the harness cannot set {f} to {v:?} in Jira"),
                    }
                }
                if !fields.is_empty() {
                    let mut s = lock(&self.w.sim);
                    // Keep the engine's marker label, as a person editing labels in Jira's
                    // UI would not remove a label they do not know.
                    if let Some(Json::Array(labels)) = fields.get_mut("labels") {
                        if let Some(cur) = s.issue_fields(&issue).and_then(|f| f.get("labels")) {
                            for l in cur.as_array().into_iter().flatten() {
                                if l.as_str().is_some_and(|x| x.starts_with("handoff-")) {
                                    labels.push(l.clone());
                                }
                            }
                        }
                    }
                    ok &= s.edit_as_person(&issue, &fields, person).is_ok();
                }
                ok
            }
        };
        // The fields the edit changed: on Handoff, those whose value differs from before; in
        // Jira, those the changelog entries it made name.
        let changed: Vec<&str> = match side {
            Side::Handoff => {
                let after = self.w.host_values(&wi).unwrap_or_default();
                values
                    .iter()
                    .filter(|(f, _)| host_before.get(*f) != after.get(*f))
                    .map(|(f, _)| *f)
                    .collect()
            }
            Side::Jira => {
                let history = issue
                    .as_ref()
                    .and_then(|i| lock(&self.w.sim).issue_history(i).ok())
                    .unwrap_or_default();
                let ids: Vec<String> = history
                    .iter()
                    .skip(jira_entries_before)
                    .flat_map(|e| e["items"].as_array().cloned().unwrap_or_default())
                    .filter_map(|i| i["fieldId"].as_str().map(str::to_string))
                    .collect();
                values
                    .iter()
                    .filter(|(f, _)| {
                        self.w
                            .mapping
                            .by_handoff(f)
                            .is_some_and(|m| ids.contains(&m.jira_field))
                    })
                    .map(|(f, _)| *f)
                    .collect()
            }
        };
        let shown: Vec<String> = values
            .iter()
            .map(|(k, v)| {
                let noop = if changed.contains(k) {
                    ""
                } else {
                    " (no change)"
                };
                format!("{k}={}{noop}", show(v))
            })
            .collect();
        self.log(format!(
            "{} edits {link} ({wi}) on {side}: {}{}",
            match side {
                Side::Handoff => HOST_PEOPLE[person_i],
                Side::Jira => JIRA_PEOPLE[person_i],
            },
            shown.join(", "),
            if ok { "" } else { " (refused)" }
        ));
        if ok {
            // An edit that left the field as it was is no change to sync.
            for (f, v) in values.into_iter().filter(|(f, _)| changed.contains(f)) {
                self.edits.push(Edit {
                    step: self.step,
                    side,
                    link: link.clone(),
                    field: f.to_string(),
                    value: v,
                });
            }
        }
    }

    async fn person_comment(&mut self, side: Side) {
        let alive = self.alive().await;
        if alive.is_empty() {
            return;
        }
        let (link, wi, issue) = self.r.pick(&alive).clone();
        let n = self.next();
        let token = format!(
            "note-{}-{n}",
            match side {
                Side::Handoff => "h",
                Side::Jira => "j",
            }
        );
        let body = format!("Comment {token} from a person.");
        let ok = match side {
            Side::Handoff => self
                .w
                .host
                .add_comment_as_person(&wi, &body, HOST_PEOPLE[0])
                .is_ok(),
            Side::Jira => match issue {
                Some(i) => lock(&self.w.sim)
                    .comment_as_person(&i, &body, JIRA_PEOPLE[1])
                    .is_ok(),
                None => false,
            },
        };
        self.log(format!(
            "comment {token} on {side} of {link}{}",
            if ok { "" } else { " (refused)" }
        ));
        if ok {
            self.comments.push(CommentMade {
                step: self.step,
                side,
                link,
                token,
            });
        }
    }

    async fn new_item(&mut self) -> Option<String> {
        let n = self.next();
        let fields: BTreeMap<String, Value> = [
            ("title", Value::text(&format!("title {n}"))),
            ("description", Value::rich_text(&format!("description {n}"))),
            ("size", Value::number(n as f64).unwrap_or(Value::Null)),
            ("status", Value::option("todo")),
            ("labels", Value::option_set(["alpha"])),
            (
                "acceptanceCriteria",
                Value::rich_text(&format!("criteria {n}")),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let item = self
            .w
            .host
            .create_as_person(PROJECT, &fields, HOST_PEOPLE[0])
            .ok()?;
        match self.w.push_item(&item.id, HOST_PEOPLE[0]).await {
            Ok(link) => {
                self.log(format!("ana creates {} and pushes it → {link}", item.id));
                self.tracked.push(Tracked {
                    link: link.clone(),
                    item: Some(item.id),
                    jira_deleted: false,
                    host_deleted: false,
                });
                Some(link)
            }
            Err(e) => {
                self.log(format!("ana creates {} and push fails: {e}", item.id));
                None
            }
        }
    }

    async fn import(&mut self) {
        let n = self.next();
        let mut fields = Map::new();
        fields.insert("project".into(), json!({"key": super::world::JIRA_PROJECT}));
        fields.insert("issuetype".into(), json!({"name": "Story"}));
        fields.insert("summary".into(), json!(format!("title {n}")));
        fields.insert("customfield_10016".into(), json!(n as f64));
        let created = lock(&self.w.sim).create_issue(&fields, &[], JIRA_PEOPLE[0]);
        let Ok((id, key)) = created else { return };
        match self.w.import_issue(&id, HOST_PEOPLE[1]).await {
            Ok(link) => {
                self.log(format!("Mia creates {key} ({id}); ben imports it → {link}"));
                self.tracked.push(Tracked {
                    link,
                    item: None,
                    jira_deleted: false,
                    host_deleted: false,
                });
            }
            Err(e) => self.log(format!("import of {key} fails: {e}")),
        }
    }

    async fn resolve_some(&mut self, all: bool) {
        let Ok(conflicts) = self.w.store.conflicts(PROJECT).await else {
            return;
        };
        let take = if all {
            conflicts.len()
        } else {
            conflicts.len().min(1)
        };
        for c in conflicts.into_iter().take(take) {
            let n = self.next();
            let res = match self.r.below(4) {
                0 => Resolution::UseHandoff,
                1 => Resolution::UseJira,
                2 => Resolution::Ignore,
                _ => Resolution::Merge(match &c.conflict.handoff {
                    Value::Text(_) => Value::text(&format!("merged {n}")),
                    Value::RichText(_) => Value::rich_text(&format!("merged {n}")),
                    Value::Number(_) => Value::number(n as f64).unwrap_or(Value::Null),
                    _ => c.conflict.jira.clone(),
                }),
            };
            let r = self
                .w
                .rt
                .resolve_conflict(&c.link_id, &c.conflict.id, res.clone(), HOST_PEOPLE[1])
                .await;
            self.log(format!(
                "ben resolves {} on {} ({}) with {res:?}: {}",
                c.conflict.id,
                c.link_id,
                c.conflict.field,
                if r.is_ok() {
                    "ok".to_string()
                } else {
                    format!("{r:?}")
                }
            ));
        }
    }

    async fn delete_jira(&mut self) {
        let alive = self.alive().await;
        let Some((link, _, Some(issue))) = alive.first().cloned() else {
            return;
        };
        if lock(&self.w.sim)
            .delete_issue(&issue, JIRA_PEOPLE[0])
            .is_ok()
        {
            self.jira_delete_left = false;
            self.log(format!("Mia deletes issue {issue} of {link}"));
            if let Some(t) = self.tracked.iter_mut().find(|t| t.link == link) {
                t.jira_deleted = true;
            }
        }
    }

    async fn delete_host(&mut self) {
        let alive = self.alive().await;
        let Some((link, wi, _)) = alive.last().cloned() else {
            return;
        };
        if self.w.host.delete_item(&wi, HOST_PEOPLE[0]).is_ok() {
            self.host_delete_left = false;
            self.log(format!("ana deletes item {wi} of {link}"));
            if let Some(t) = self.tracked.iter_mut().find(|t| t.link == link) {
                t.host_deleted = true;
            }
        }
    }

    async fn remap(&mut self) {
        self.remap_left = false;
        let mut p = draw_policies(&mut self.r);
        p.max_attempts = self.w.mapping.retry.max_attempts;
        let m = mapping(&p);
        let r = self.w.change_mapping(m, "admin").await;
        self.bump("mapping changed mid-flight", 1);
        self.log(format!(
            "admin changes the mapping's policies to {p:?}: {r:?}"
        ));
    }

    async fn step_once(&mut self) {
        self.w.time.advance(self.r.range(0, 1_500));
        let weights = [
            14, // 0 person edit in Handoff
            14, // 1 person edit in Jira
            4,  // 2 comment in Handoff
            4,  // 3 comment in Jira
            16, // 4 deliver due webhooks
            10, // 5 take host notifications
            14, // 6 process the inbox
            18, // 7 dispatch
            4,  // 8 poll Jira
            3,  // 9 poll the host
            8,  // 10 time passes
            3,  // 11 a person resolves a conflict
            2,  // 12 store blip
            2,  // 13 restart
            2,  // 14 arm a crash mid-work
            1,  // 15 a new item is pushed
            1,  // 16 deletion
            1,  // 17 mapping change
        ];
        match self.r.weighted(&weights) {
            0 => self.person_edit(Side::Handoff).await,
            1 => self.person_edit(Side::Jira).await,
            2 => self.person_comment(Side::Handoff).await,
            3 => self.person_comment(Side::Jira).await,
            4 => {
                let n = self.w.deliver_webhooks(false).await;
                if n > 0 {
                    self.log(format!("{n} webhook deliveries"));
                }
            }
            5 => {
                let mut notes = Vec::new();
                while let Ok(n) = self.w.notifications.try_recv() {
                    notes.push(n);
                }
                let (mut taken, mut lost) = (0, 0);
                for n in notes {
                    if self.r.chance(self.plan.p_note_loss) {
                        lost += 1;
                        continue;
                    }
                    if let Ok(sync_engine::IntakeOutcome::Duplicate { .. }) =
                        self.w.rt.receive_host_notification(&n).await
                    {
                        self.bump("dedupe: host notification", 1);
                    }
                    // A duplicate now and then, as hosts redeliver.
                    if self.r.chance(0.1) {
                        if let Ok(sync_engine::IntakeOutcome::Duplicate { .. }) =
                            self.w.rt.receive_host_notification(&n).await
                        {
                            self.bump("dedupe: host notification", 1);
                        }
                    }
                    taken += 1;
                }
                if taken + lost > 0 {
                    self.log(format!("{taken} host notifications taken, {lost} lost"));
                }
            }
            6 => {
                let r = self.w.rt.process_inbox().await;
                if !matches!(r, Ok(0)) {
                    self.log(format!("inbox processed: {r:?}"));
                }
            }
            7 => {
                let r = self.w.rt.dispatch_once(1).await;
                if !matches!(&r, Ok(d) if d.attempted == 0) {
                    self.log(format!("dispatch: {r:?}"));
                }
            }
            8 => {
                let r = self.w.rt.poll_jira_once().await;
                self.log(format!("poll Jira: {r:?}"));
            }
            9 => {
                let r = self.w.rt.poll_host_once().await;
                self.log(format!("poll host: {r:?}"));
            }
            10 => {
                let ms = self.r.range(1_000, 30_000);
                self.w.time.advance(ms);
            }
            11 => self.resolve_some(false).await,
            12 => {
                if self.r.chance(self.plan.p_store_blip * 10.0) {
                    let n = self.r.range(1, 3) as u64;
                    self.store_faults.fail_next(n);
                    self.bump("fault: store connection lost", n);
                    self.log(format!("store: the next {n} statements fail"));
                }
            }
            13 => {
                if self.r.chance(self.plan.p_restart * 10.0) {
                    self.before_restart().await;
                    let lost = self.w.restart();
                    self.bump("restart: between steps", 1);
                    self.log(format!(
                        "restart #{} ({lost} notifications lost)",
                        self.w.incarnation
                    ));
                }
            }
            14 => {
                if self.r.chance(self.plan.p_crash_arm * 10.0) {
                    let n = self.r.range(0, 6) as u32;
                    self.crash.lock().unwrap_or_else(|p| p.into_inner()).armed = Some(n);
                    self.log(format!("crash armed: after {n} more external calls"));
                }
            }
            15 => {
                if self.pushed_late < 2 {
                    self.pushed_late += 1;
                    self.new_item().await;
                }
            }
            16 => {
                if self.jira_delete_left && self.r.chance(0.5) {
                    self.delete_jira().await;
                } else if self.host_delete_left {
                    self.delete_host().await;
                }
            }
            _ => {
                if self.remap_left {
                    self.remap().await;
                }
            }
        }
        self.recover_if_crashed().await;
    }
}

/// A value as a person reads it.
pub fn show(v: &Value) -> String {
    match v {
        Value::Null => "∅".into(),
        Value::Text(s) | Value::RichText(s) => format!("{s:?}"),
        Value::Number(n) => n.as_str().to_string(),
        Value::Option(s) => s.clone(),
        Value::OptionSet(set) => {
            format!("{{{}}}", set.iter().cloned().collect::<Vec<_>>().join(","))
        }
        other => format!("{other:?}"),
    }
}

/// Runs one seed.
pub async fn run_seed(seed: u64, size: RunSize) -> RunOutcome {
    let mut r = Rng::new(seed);
    let policies = draw_policies(&mut r);
    let plan = draw_faults(&mut r);
    let store = Store::open("memory://").await.expect("the store opens");
    let store_faults = store.faults().clone();
    let w = World::start(seed, store, mapping(&policies), Faults::default()).await;
    let mut run = Run {
        w,
        r: r.fork(1),
        plan,
        crash: Arc::new(Mutex::new(Crash::default())),
        store_faults,
        tracked: Vec::new(),
        edits: Vec::new(),
        comments: Vec::new(),
        counter: 0,
        step: 0,
        trace: Vec::new(),
        paths: BTreeMap::new(),
        pushed_late: 0,
        jira_delete_left: false,
        host_delete_left: false,
        remap_left: false,
    };
    run.jira_delete_left = run.r.chance(0.2);
    run.host_delete_left = run.r.chance(0.1);
    run.remap_left = run.r.chance(0.2);
    run.log(format!("seed {seed}: policies {policies:?}"));
    run.log(format!("faults {:?}", run.plan));
    // Given: a few items pushed from Handoff and maybe an issue imported from Jira, synced.
    let items = run.r.range(1, 3);
    for _ in 0..items {
        run.new_item().await;
    }
    if run.r.chance(0.4) {
        run.import().await;
    }
    run.w.settle(50).await;
    for t in &mut run.tracked {
        if let Ok(Some(v)) = run.w.store.link_view(&t.link).await {
            t.item = v.work_item_id;
        }
    }
    // When: people edit both sides while faults strike.
    run.install_faults();
    for step in 1..=size.steps {
        run.step = step;
        run.step_once().await;
    }
    // Then: the faults heal, everything settles, people settle what waits for them.
    run.step = size.steps + 1;
    run.heal();
    run.recover_if_crashed().await;
    run.log("faults heal; settling".into());
    let mut violations = Vec::new();
    if !run.w.settle(300).await {
        violations.push(
            "convergence: the engine did not settle within 300 rounds after the faults healed"
                .to_string(),
        );
    }
    for round in 0..3 {
        let dump = run.w.store.dump_projections().await.expect("dump");
        let errors: Vec<String> = dump
            .links
            .iter()
            .filter(|l| l.status == LinkStatus::Error)
            .map(|l| l.link_id.clone())
            .collect();
        let conflicts = dump.conflicts.len();
        if errors.is_empty() && conflicts == 0 {
            break;
        }
        for l in errors {
            let r = run.w.force_resync(&l, HOST_PEOPLE[0]).await;
            run.bump("manual resync of a link in error", 1);
            run.log(format!(
                "ana forces a resync of {l} (status error): {}",
                r.map(|()| "ok".to_string()).unwrap_or_else(|e| e)
            ));
        }
        run.resolve_some(true).await;
        if !run.w.settle(300).await {
            violations.push(format!(
                "convergence: the engine did not settle after people acted (round {round})"
            ));
        }
    }
    for t in &mut run.tracked {
        if let Ok(Some(v)) = run.w.store.link_view(&t.link).await {
            t.item = v.work_item_id;
        }
    }
    let facts = check::Facts {
        tracked: &run.tracked,
        edits: &run.edits,
        comments: &run.comments,
        steps: size.steps,
    };
    let mut found = check::check_all(&run.w, &facts).await;
    if std::env::var("SIM_DEBUG").is_ok() {
        debug_dump(&run, &found.violations).await;
    }
    violations.append(&mut found.violations);
    for (k, v) in found.paths {
        *run.paths.entry(k).or_default() += v;
    }
    run.bump("restart: total", u64::from(run.w.incarnation));
    RunOutcome {
        seed,
        violations,
        trace: run.trace,
        paths: run.paths,
        fingerprint: found.fingerprint,
    }
}

/// `SIM_DEBUG=1`: the whole trace and the event log of every link (with the time each
/// event was recorded), printed, to diagnose a seed.
#[allow(
    clippy::print_stdout,
    reason = "a debugging aid asked for by SIM_DEBUG"
)]
async fn debug_dump(run: &Run, violations: &[String]) {
    println!("=== seed trace ===");
    for l in &run.trace {
        println!("{l}");
    }
    for v in violations {
        println!("violation: {v}");
    }
    for t in &run.tracked {
        if let Ok(Some(v)) = run.w.store.link_view(&t.link).await {
            if let Some(issue) = v.issue_id {
                println!("=== Jira changelog of {issue} ({}) ===", t.link);
                let h = lock(&run.w.sim).issue_history(&issue).unwrap_or_default();
                for e in h {
                    let items: Vec<String> = e["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| {
                            format!("{}: {} → {}", i["fieldId"], i["fromString"], i["toString"])
                        })
                        .collect();
                    println!(
                        "  {} {} by {}: {}",
                        e["id"],
                        e["created"],
                        e["author"]["accountId"],
                        items.join("; ")
                    );
                }
            }
        }
        println!("=== events of {} ===", t.link);
        for r in run.w.store.history(&t.link).await.unwrap_or_default() {
            println!(
                "  {:>4} t+{:>7}ms {:?}",
                r.sequence,
                r.recorded_at - super::world::START_MS,
                r.event
            );
        }
    }
}

/// The event kinds whose counts are rule paths.
pub fn path_of(e: &LinkEvent) -> Option<String> {
    Some(match e {
        LinkEvent::FieldEchoed { .. } => "echo".into(),
        LinkEvent::ObservationStale { .. } => "stale".into(),
        LinkEvent::ConflictOpened { conflict } => match conflict.kind {
            sync_domain::link::ConflictKind::Clobbered => "clobber: conflict opened".into(),
            sync_domain::link::ConflictKind::Concurrent => "conflict opened".into(),
        },
        LinkEvent::ConflictLostValue { .. } => "clobber: lost value added".into(),
        LinkEvent::ConflictResolved { by, resolution, .. } => match by {
            sync_domain::link::ResolvedBy::Policy(p) => format!("conflict settled by policy {p}"),
            sync_domain::link::ResolvedBy::Person(_) => format!(
                "conflict resolved by a person: {}",
                match resolution {
                    Resolution::UseHandoff => "use_handoff",
                    Resolution::UseJira => "use_jira",
                    Resolution::Merge(_) => "merge",
                    Resolution::Ignore => "ignore",
                }
            ),
        },
        LinkEvent::IntentRetryScheduled { .. } => "retry".into(),
        LinkEvent::IntentGaveUp { .. } => "give-up".into(),
        LinkEvent::IntentBlocked { .. } => "blocked (host version moved)".into(),
        LinkEvent::IntentSuperseded { .. } => "intent superseded".into(),
        LinkEvent::FieldConverged { .. } => "converged (same value both sides)".into(),
        LinkEvent::FieldIgnored { .. } => "ignored (direction)".into(),
        LinkEvent::JiraWriteEchoed { .. } => "jira write echoed (may land twice)".into(),
        LinkEvent::Unlinked { .. } => "unlinked".into(),
        LinkEvent::CommentMirrored { .. } => "comment mirrored".into(),
        LinkEvent::MappingChanged { .. } => "mapping changed (per link)".into(),
        LinkEvent::ResyncRequested { .. } => "resync".into(),
        _ => return None,
    })
}
