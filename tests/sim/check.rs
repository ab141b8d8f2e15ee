//! The invariants of docs/DESIGN.md §4, checked on a world after a run settled, and the rule
//! paths the run reached (from the event kinds in the store).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use sync_domain::link::{LinkEvent, LinkStatus};
use sync_domain::mapping::{Direction, Side};
use sync_domain::Value;

use super::run::{path_of, show, CommentMade, Edit, Tracked};
use super::seen::key;
use super::world::{lock, World, PROJECT};

/// What the run did, for the checks.
pub struct Facts<'a> {
    /// The links of the run.
    pub tracked: &'a [Tracked],
    /// People's edits, in order.
    pub edits: &'a [Edit],
    /// People's comments.
    pub comments: &'a [CommentMade],
    /// Steps of the workload.
    pub steps: usize,
}

/// What the checks found.
#[derive(Debug, Default)]
pub struct Found {
    /// Violations.
    pub violations: Vec<String>,
    /// Rule paths reached.
    pub paths: BTreeMap<String, u64>,
    /// A hash of the event log and call counts.
    pub fingerprint: u64,
}

/// The values a link's conflicts ever held for a field (conflict records, open or settled).
fn conflict_values(history: &[LinkEvent], field: &str) -> (bool, Vec<String>) {
    let mut ids = Vec::new();
    let mut any = false;
    let mut vals = Vec::new();
    for e in history {
        match e {
            LinkEvent::ConflictOpened { conflict } if conflict.field == field => {
                any = true;
                ids.push(conflict.id.clone());
                vals.push(key(&conflict.handoff));
                vals.push(key(&conflict.jira));
                vals.extend(conflict.lost.iter().map(key));
            }
            LinkEvent::ConflictUpdated {
                conflict_id, value, ..
            }
            | LinkEvent::ConflictLostValue {
                conflict_id, value, ..
            } if ids.contains(conflict_id) => vals.push(key(value)),
            _ => {}
        }
    }
    (any, vals)
}

/// Whether Jira's changelog of `issue` ever set `jira_field` to the text of `value`.
fn jira_had(w: &World, issue: &str, jira_field: &str, value: &Value) -> bool {
    let want = match value {
        Value::Text(s) | Value::RichText(s) => s.trim().to_string(),
        Value::Number(n) => n.as_str().to_string(),
        _ => return false,
    };
    let Ok(history) = lock(&w.sim).issue_history(issue) else {
        return false;
    };
    history.iter().any(|entry| {
        entry["items"].as_array().into_iter().flatten().any(|i| {
            i["fieldId"] == jira_field
                && i["toString"].as_str().is_some_and(|t| {
                    let t = t.trim();
                    t == want
                        || matches!(value, Value::Number(_))
                            && t.parse::<f64>().ok() == want.parse::<f64>().ok()
                })
        })
    })
}

fn fnv(h: &mut impl Hasher, s: &str) {
    s.hash(h);
}

/// Checks every invariant; collects the rule paths.
pub async fn check_all(w: &World, f: &Facts<'_>) -> Found {
    let mut found = Found::default();
    let v = &mut found.violations;
    let store = &w.store;
    // 6. Replay determinism: rebuilding the projections from the log gives the live ones,
    // and each link's snapshot-based state is its state folded from the log.
    let live = store.dump_projections().await.expect("dump");
    store.rebuild_projections().await.expect("rebuild");
    let rebuilt = store.dump_projections().await.expect("dump");
    if live != rebuilt {
        v.push(format!(
            "replay determinism: rebuilt projections differ from the live ones\n  live:    {live:?}\n  rebuilt: {rebuilt:?}"
        ));
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut histories: BTreeMap<String, Vec<LinkEvent>> = BTreeMap::new();
    for l in &live.links {
        let a = store.load(&l.link_id).await.expect("load");
        let b = store
            .load_from_log(&l.link_id)
            .await
            .expect("load from log");
        if a.state != b.state {
            v.push(format!("replay determinism: {}: state from the snapshot differs from the state folded from the log", l.link_id));
        }
        let h = store.history(&l.link_id).await.expect("history");
        for r in &h {
            fnv(
                &mut hasher,
                &serde_json::to_string(&r.event).unwrap_or_default(),
            );
            fnv(&mut hasher, &format!("{:?}", r.metadata));
            if let Some(p) = path_of(&r.event) {
                *found.paths.entry(p).or_default() += 1;
            }
        }
        histories.insert(l.link_id.clone(), h.into_iter().map(|r| r.event).collect());
    }
    let (jira_calls, search_calls) = {
        let s = lock(&w.sim);
        let search: u64 = s
            .call_counts()
            .iter()
            .filter(|(k, _)| k.contains("/search"))
            .map(|(_, n)| *n)
            .sum();
        (s.total_calls(), search)
    };
    fnv(
        &mut hasher,
        &format!(
            "{jira_calls} {} {}",
            w.host.call_count(),
            w.host.write_count()
        ),
    );
    found.fingerprint = hasher.finish();
    *found.paths.entry("dedupe: webhook".into()).or_default() += w.duplicate_webhooks;

    // 3. No duplicates: one issue per work item, one item per issue, one link per each.
    let mut per_marker: BTreeMap<String, u64> = BTreeMap::new();
    {
        let s = lock(&w.sim);
        for id in s.issue_ids() {
            let labels = s.issue_fields(&id).and_then(|f| f.get("labels").cloned());
            for l in labels.iter().filter_map(|l| l.as_array()).flatten() {
                if let Some(m) = l.as_str().filter(|m| m.starts_with("handoff-")) {
                    *per_marker.entry(m.to_string()).or_default() += 1;
                }
            }
        }
    }
    for (m, n) in &per_marker {
        if *n > 1 {
            v.push(format!(
                "no duplicates: {n} Jira issues carry the marker {m}"
            ));
        }
    }
    let mut per_issue: BTreeMap<String, u64> = BTreeMap::new();
    for i in w.host.items(PROJECT) {
        if let Some(m) = i.marker {
            *per_issue.entry(m).or_default() += 1;
        }
    }
    for (m, n) in &per_issue {
        if *n > 1 {
            v.push(format!(
                "no duplicates: {n} work items mirror Jira issue {m}"
            ));
        }
    }
    let mut link_per_item: BTreeMap<&str, u64> = BTreeMap::new();
    let mut link_per_issue: BTreeMap<&str, u64> = BTreeMap::new();
    for l in &live.links {
        if let Some(wi) = &l.work_item_id {
            *link_per_item.entry(wi).or_default() += 1;
        }
        if let Some(i) = &l.issue_id {
            *link_per_issue.entry(i).or_default() += 1;
        }
    }
    for (k, n) in link_per_item.iter().chain(link_per_issue.iter()) {
        if *n > 1 {
            v.push(format!("no duplicates: {n} links for {k}"));
        }
    }

    // Per link: deletion, convergence, no silent loss, monotonic, comments.
    let mapping = &w.mapping;
    for t in f.tracked {
        let Some(view) = live.links.iter().find(|l| l.link_id == t.link) else {
            v.push(format!("convergence: link {} is missing", t.link));
            continue;
        };
        let history = histories.get(&t.link).cloned().unwrap_or_default();
        if t.jira_deleted || t.host_deleted {
            if view.status != LinkStatus::Unlinked {
                v.push(format!(
                    "convergence: {} was deleted in {} but link {} is {}",
                    if t.jira_deleted {
                        "the issue"
                    } else {
                        "the item"
                    },
                    if t.jira_deleted { "Jira" } else { "Handoff" },
                    t.link,
                    view.status.as_str()
                ));
            }
            if t.jira_deleted {
                if let Some(wi) = &view.work_item_id {
                    if w.host_values(wi).is_none() {
                        v.push(format!(
                            "no silent loss: item {wi} was removed after its issue was deleted"
                        ));
                    }
                }
            }
            continue;
        }
        if view.status == LinkStatus::Unlinked {
            v.push(format!(
                "convergence: link {} is unlinked though nothing was deleted",
                t.link
            ));
            continue;
        }
        let (Some(wi), Some(issue)) = (view.work_item_id.clone(), view.issue_id.clone()) else {
            v.push(format!(
                "convergence: link {} has no item or no issue ({})",
                t.link,
                view.status.as_str()
            ));
            continue;
        };
        if view.status != LinkStatus::Synced && view.status != LinkStatus::Conflict {
            v.push(format!(
                "convergence: link {} is {} after settling",
                t.link,
                view.status.as_str()
            ));
        }
        let state = store.load(&t.link).await.expect("load").state;
        let open: Vec<String> = state.conflicts.values().map(|c| c.field.clone()).collect();
        let host = w.host_values(&wi).unwrap_or_default();
        let jira = match w.jira_values(&issue, &wi).await {
            Ok(j) => j,
            Err(e) => {
                v.push(format!("convergence: cannot read issue {issue}: {e}"));
                continue;
            }
        };
        for m in &mapping.fields {
            let fname = &m.handoff_field;
            let excused =
                open.contains(fname) || (mapping.pause_link_on_conflict && !open.is_empty());
            let hv = host.get(fname).cloned().unwrap_or(Value::Null);
            let jv = jira.get(fname).cloned().unwrap_or(Value::Null);
            if excused {
                continue;
            }
            if m.direction != Direction::Pull && key(&hv) != key(&jv) {
                v.push(format!(
                    "convergence: {} ({wi} ⇄ {issue}) {fname}: Handoff {} ≠ Jira {}",
                    t.link,
                    show(&hv),
                    show(&jv)
                ));
            }
            if m.direction == Direction::Bidirectional {
                if let Some(fs) = state.fields.get(fname) {
                    if key(&fs.base) != key(&hv) {
                        v.push(format!(
                            "convergence: {} {fname}: base {} ≠ both sides' {}",
                            t.link,
                            show(&fs.base),
                            show(&hv)
                        ));
                    }
                }
            }
            // 5. Monotonic: with no conflict ever on the field, the latest edit wins.
            let (had_conflict, cvals) = conflict_values(&history, fname);
            let last = f.edits.iter().rfind(|e| {
                e.link == t.link
                    && &e.field == fname
                    && (m.direction.carries_from(e.side)
                        || e.side == Side::Handoff && m.direction == Direction::Push)
            });
            if let Some(last) = last {
                if !had_conflict && key(&last.value) != key(&hv) {
                    v.push(format!(
                        "monotonic: {} {fname}: both sides hold {} but the latest edit (step {}, {}) set {}",
                        t.link,
                        show(&hv),
                        last.step,
                        last.side,
                        show(&last.value)
                    ));
                }
            }
            // 2. No silent loss of unique values (titles, texts, sizes).
            for (i, e) in f.edits.iter().enumerate() {
                if e.link != t.link || &e.field != fname {
                    continue;
                }
                if !matches!(
                    e.value,
                    Value::Text(_) | Value::RichText(_) | Value::Number(_)
                ) {
                    continue;
                }
                if !m.direction.carries_from(e.side) {
                    continue;
                }
                let superseded = f.edits[i + 1..]
                    .iter()
                    .any(|l| l.link == e.link && l.field == e.field && l.side == e.side);
                if superseded || cvals.contains(&key(&e.value)) {
                    continue;
                }
                let reached = match e.side {
                    Side::Handoff => jira_had(w, &issue, &m.jira_field, &e.value),
                    Side::Jira => w.seen.seen(&wi, fname, &e.value),
                };
                if !reached {
                    v.push(format!(
                        "no silent loss: {} {fname}={} set on {} at step {} never reached the other side and is in no conflict record",
                        t.link,
                        show(&e.value),
                        e.side,
                        e.step
                    ));
                }
            }
        }
        // Comments: each person's comment is on the other side exactly once, and never
        // copied back to its own side.
        let jira_bodies: Vec<String> = {
            let s = lock(&w.sim);
            s.comments(&issue, 0, 1000)
                .ok()
                .and_then(|c| c["comments"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|c| c["body"].to_string())
                .collect()
        };
        let host_bodies: Vec<String> = handoff_adapter::Host::list_comments(w.host.as_ref(), &wi)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.body)
            .collect();
        for c in f.comments.iter().filter(|c| c.link == t.link) {
            // The token as a whole word: `note-j-2` is not in `note-j-21` (seed 2977).
            let names = |b: &String| {
                b.match_indices(c.token.as_str()).any(|(i, t)| {
                    !b[i + t.len()..].starts_with(|ch: char| ch.is_ascii_alphanumeric())
                })
            };
            let count = |bodies: &[String]| bodies.iter().filter(|b| names(b)).count();
            let (own, other) = match c.side {
                Side::Handoff => (count(&host_bodies), count(&jira_bodies)),
                Side::Jira => (count(&jira_bodies), count(&host_bodies)),
            };
            if other == 0 {
                v.push(format!(
                    "no silent loss: comment {} on {} of {} never reached the other side",
                    c.token, c.side, t.link
                ));
            }
            if other > 1 {
                v.push(format!(
                    "no duplicates: comment {} of {} is on the other side {other} times",
                    c.token, t.link
                ));
            }
            if own != 1 {
                v.push(format!(
                    "no duplicates: comment {} of {} is {own} times on its own side",
                    c.token, t.link
                ));
            }
        }
    }

    // 4. No loops: API calls bounded by a constant times the work people gave the engine.
    let restarts: u64 = found.paths.get("restart: total").copied().unwrap_or(0);
    let units =
        f.edits.len() as u64 + f.comments.len() as u64 + 4 * f.tracked.len() as u64 + restarts + 10;
    let edit_driven = jira_calls - search_calls;
    let _ = f.steps;
    if edit_driven > 40 * units {
        v.push(format!(
            "no loops: {edit_driven} Jira calls (searches excluded) for {units} units of work"
        ));
    }
    if w.host.write_count() > 10 * units {
        v.push(format!(
            "no loops: {} host writes for {units} units of work",
            w.host.write_count()
        ));
    }
    *found.paths.entry("api: Jira calls".into()).or_default() += jira_calls;
    *found.paths.entry("api: host writes".into()).or_default() += w.host.write_count();
    *found
        .paths
        .entry("workload: person edits".into())
        .or_default() += f.edits.len() as u64;
    *found
        .paths
        .entry("workload: person comments".into())
        .or_default() += f.comments.len() as u64;
    found
}
