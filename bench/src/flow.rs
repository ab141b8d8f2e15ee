//! Items 2-4 and the import of item 5: changes carried through the whole engine (webhook
//! intake, inbox, decide, append, dispatch, adapters) against the simulator and the
//! in-memory host, over HTTP on 127.0.0.1, with no simulated latency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sync_domain::Value;
use tokio::sync::Semaphore;

use crate::stats::{rate, Lat};
use crate::world::{import_found, jira, lock, World, PROJECT};

/// A small seeded xorshift: the workload is the same on every run.
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n.max(1) as u64) as usize
    }
}

/// What a burst of changes measured.
#[derive(Clone, Debug, Default)]
pub struct Throughput {
    /// Changes offered (half made in Jira, half in Handoff).
    pub changes: u64,
    /// Changes that arrived on the other side within the time limit.
    pub carried: u64,
    /// Seconds from the first edit until the last change arrived.
    pub secs: f64,
    /// Jira → Handoff changes per second (their own completion time).
    pub j2h_rate: f64,
    /// Handoff → Jira changes per second.
    pub h2j_rate: f64,
    /// CPU seconds the whole process (engine, simulator, host, load) used meanwhile.
    pub cpu_secs: f64,
}

impl Throughput {
    /// Changes carried per second.
    pub fn rate(&self) -> f64 {
        rate(self.carried, self.secs)
    }
}

/// Edits `pairs[..half]` in Jira and `pairs[half..]` in Handoff, all at once, and waits
/// (polling every 10 ms, at most `limit`) until every new value is on the other side.
pub async fn throughput(
    w: &World,
    pairs: &[(String, String)],
    tag: &str,
    limit: Duration,
) -> anyhow::Result<Throughput> {
    let half = pairs.len() / 2;
    let (to_host, to_jira) = pairs.split_at(half);
    let cpu0 = crate::stats::cpu_secs();
    let t0 = Instant::now();
    for (i, ((issue, _), (_, item))) in to_host.iter().zip(to_jira).enumerate() {
        w.jira_edit(issue, &format!("{tag} jira {i}"))?;
        w.host_edit(
            item,
            &[("title", Value::text(&format!("{tag} handoff {i}")))],
        )?;
    }
    let mut j2h_done: Option<f64> = None;
    let mut h2j_done: Option<f64> = None;
    let (mut j2h, mut h2j);
    let deadline = t0 + limit;
    loop {
        let titles = w.host_titles();
        j2h = to_host
            .iter()
            .enumerate()
            .filter(|(i, (_, item))| {
                titles.get(item) == Some(&Value::text(&format!("{tag} jira {i}")))
            })
            .count() as u64;
        h2j = to_jira
            .iter()
            .enumerate()
            .filter(|(i, (issue, _))| {
                w.jira_summary(issue).as_deref() == Some(&format!("{tag} handoff {i}"))
            })
            .count() as u64;
        let now = t0.elapsed().as_secs_f64();
        if j2h == to_host.len() as u64 && j2h_done.is_none() {
            j2h_done = Some(now);
        }
        if h2j == to_jira.len() as u64 && h2j_done.is_none() {
            h2j_done = Some(now);
        }
        if (j2h_done.is_some() && h2j_done.is_some()) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = crate::stats::cpu_secs() - cpu0;
    Ok(Throughput {
        cpu_secs,
        changes: pairs.len() as u64,
        carried: j2h + h2j,
        secs,
        j2h_rate: rate(j2h, j2h_done.unwrap_or(secs)),
        h2j_rate: rate(h2j, h2j_done.unwrap_or(secs)),
    })
}

/// Engine-added latencies, in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Latency {
    /// Webhook sent to the intake → host write called.
    pub j2h: Lat,
    /// Host notification (the person's edit) → Jira write request at the simulator.
    pub h2j: Lat,
    /// Changes whose arrival was not seen.
    pub missing: u64,
}

/// The first time stamp of `key` at or after `after`.
fn first_after(marks: &[(String, Instant)], key: &str, after: Instant) -> Option<Instant> {
    marks
        .iter()
        .filter(|(k, t)| k == key && *t >= after)
        .map(|(_, t)| *t)
        .min()
}

/// Changes at a steady `per_sec` in each direction for `secs`, each on a link of its own
/// (Jira edits on `pairs[..half]`, Handoff edits on `pairs[half..]`).
pub async fn latency(
    w: &World,
    pairs: &[(String, String)],
    per_sec: f64,
    secs: f64,
) -> anyhow::Result<Latency> {
    let half = pairs.len() / 2;
    let (to_host, to_jira) = pairs.split_at(half);
    let n = ((per_sec * secs) as usize).min(half);
    w.settle(Duration::from_secs(60)).await;
    w.marks.clear();
    let mut j_edits = Vec::new();
    let mut h_edits = Vec::new();
    let t0 = tokio::time::Instant::now();
    for i in 0..n {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / per_sec)).await;
        let (issue, item) = &to_host[i];
        let t = Instant::now();
        w.jira_edit(issue, &format!("lat jira {i}"))?;
        j_edits.push((issue.clone(), item.clone(), t));
        let (issue, item) = &to_jira[i];
        let t = Instant::now();
        w.host_edit(item, &[("title", Value::text(&format!("lat handoff {i}")))])?;
        h_edits.push((issue.clone(), t));
    }
    w.settle(Duration::from_secs(120)).await;
    let sent = lock(&w.marks.webhooks_sent).clone();
    let host_writes = lock(&w.marks.host_writes).clone();
    let jira_writes = lock(&w.marks.jira_writes).clone();
    let mut out = Latency::default();
    for (issue, item, t) in j_edits {
        let got = first_after(&sent, &issue, t)
            .and_then(|s| first_after(&host_writes, &item, s).map(|h| h - s));
        match got {
            Some(d) => out.j2h.push(d),
            None => out.missing += 1,
        }
    }
    for (issue, t) in h_edits {
        match first_after(&jira_writes, &issue, t) {
            Some(j) => out.h2j.push(j - t),
            None => out.missing += 1,
        }
    }
    Ok(out)
}

/// Jira API calls on a steady mixed workload.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    /// Edits people made (both sides).
    pub edits: u64,
    /// Of those, edits made as one of a pair of concurrent edits of one field (conflicts).
    pub conflict_edits: u64,
    /// Conflicts the engine opened.
    pub conflicts_opened: u64,
    /// Jira API calls the simulator answered during the workload and until it settled.
    pub calls: u64,
    /// Calls per endpoint.
    pub by_endpoint: BTreeMap<String, u64>,
    /// Whether the engine settled within the limit.
    pub settled: bool,
}

/// Edits at `per_sec` for `secs` over `pairs`: 45 % a Jira summary edit, 30 % a Handoff
/// title edit, 10 % a Handoff size edit, 10 % a Handoff status change (one or more Jira
/// transitions), 5 % the same title edited on both sides at once (a conflict; that link is
/// then left alone). The Jira calls counted include the transitions' reads.
pub async fn calls_per_change(
    w: &World,
    pairs: &[(String, String)],
    per_sec: f64,
    secs: f64,
) -> anyhow::Result<Calls> {
    w.settle(Duration::from_secs(60)).await;
    let before = w.jira_call_counts();
    let calls0 = w.jira_calls();
    let conflicts0 = w.rt.store().conflicts(PROJECT).await?.len() as u64;
    let mut rng = Rng::new(42);
    let mut usable: Vec<usize> = (0..pairs.len()).collect();
    let statuses = ["doing", "review", "done", "todo"];
    let mut status_at: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = Calls::default();
    let n = (per_sec * secs) as usize;
    let t0 = tokio::time::Instant::now();
    for i in 0..n {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / per_sec)).await;
        if usable.is_empty() {
            break;
        }
        let slot = rng.below(usable.len());
        let k = usable[slot];
        let (issue, item) = &pairs[k];
        let roll = rng.below(100);
        match roll {
            0..45 => w.jira_edit(issue, &format!("mix jira {i}"))?,
            45..75 => w.host_edit(item, &[("title", Value::text(&format!("mix handoff {i}")))])?,
            75..85 => w.host_edit(
                item,
                &[(
                    "size",
                    Value::number((i % 13) as f64).unwrap_or(Value::Null),
                )],
            )?,
            85..95 => {
                let s = status_at.entry(k).or_insert(0);
                let next = statuses[*s % statuses.len()];
                *s += 1;
                w.host_edit(item, &[("status", Value::option(next))])?;
            }
            _ => {
                w.jira_edit(issue, &format!("both jira {i}"))?;
                w.host_edit(
                    item,
                    &[("title", Value::text(&format!("both handoff {i}")))],
                )?;
                out.edits += 1;
                out.conflict_edits += 2;
                usable.swap_remove(slot);
            }
        }
        out.edits += 1;
    }
    out.settled = w.settle(Duration::from_secs(120)).await;
    out.calls = w.jira_calls() - calls0;
    let after = w.jira_call_counts();
    for (k, v) in after {
        let d = v - before.get(&k).copied().unwrap_or(0);
        if d > 0 {
            out.by_endpoint.insert(k, d);
        }
    }
    out.conflicts_opened = w.rt.store().conflicts(PROJECT).await?.len() as u64 - conflicts0;
    Ok(out)
}

/// The initial import of item 5.
#[derive(Clone, Debug, Default)]
pub struct Import {
    /// Issues imported.
    pub issues: u64,
    /// Seconds from the first search call until every host item existed.
    pub secs: f64,
    /// Jira API calls in that time.
    pub calls: u64,
    /// Of which search pages.
    pub search_calls: u64,
}

/// Finds every issue of the project by paged search (100 a page, with the mapped fields:
/// the runtime's import search) and imports each from its page through the engine (8 at
/// once), until every host item exists.
pub async fn initial_import(w: &World, n: usize) -> anyhow::Result<Import> {
    w.create_issues(n, "import")?;
    let calls0 = w.jira_calls();
    let search0 = w
        .jira_call_counts()
        .get("POST /rest/api/3/search/jql")
        .copied()
        .unwrap_or(0);
    let t0 = Instant::now();
    let req = Arc::new(
        w.rt.import_search(PROJECT, "project = SIM")?
            .max_results(100),
    );
    let found = jira(&w.rt)?.search_all(&req).await?;
    anyhow::ensure!(found.len() == n, "search found {} of {n}", found.len());
    let gate = Arc::new(Semaphore::new(8));
    let mut tasks = Vec::new();
    for issue in found {
        let (rt, gate, req) = (w.rt.clone(), gate.clone(), req.clone());
        tasks.push(tokio::spawn(async move {
            let _p = gate.acquire().await;
            import_found(&rt, &req, &issue).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(1200);
    while w.host.items(PROJECT).len() < n {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the imported items did not appear"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Import {
        issues: n as u64,
        secs,
        calls: w.jira_calls() - calls0,
        search_calls: w
            .jira_call_counts()
            .get("POST /rest/api/3/search/jql")
            .copied()
            .unwrap_or(0)
            - search0,
    })
}
