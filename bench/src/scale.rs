//! Items 5 and 6: a store with many linked items and a million events, measured by a child
//! process (so its peak memory is the server's alone).
//!
//! The linked items are copies of two real links the engine made in this run (a "light" one:
//! imported; a "heavy" one: many edit cycles, snapshotted every 100
//! events like the store does), with their ids replaced, bulk-inserted by SQL. The parent then
//! rebuilds the projections once (so the child opens a store as it would be in production) and
//! starts the child, which measures link loads, the webhook path's link look-up, live changes
//! through the whole engine on top of the big store, the idle check, and a projection
//! rebuild, with the peak RSS of each phase.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::Connection;
use sync_domain::link::{evolve, LinkState};
use sync_domain::Value;
use sync_store::{Store, StoreConfig};

use crate::flow::{throughput, Rng};
use crate::stats::{proc_status_kb, Lat};
use crate::world::{World, WorldOpts};

/// One stored event of a template link.
#[derive(Clone, Debug)]
struct TemplateEvent {
    event_type: String,
    payload: String,
    metadata: String,
    recorded_at: i64,
}

/// A real link's history and the ids in it that are replaced per copy.
#[derive(Clone, Debug)]
pub struct Template {
    events: Vec<TemplateEvent>,
    issue_id: String,
    issue_key: String,
    work_item_id: String,
    /// The snapshot at the last multiple of 100 events (heavy links), with its sequence.
    snapshot: Option<(u64, String)>,
}

impl Template {
    /// Events in this link's history.
    pub fn len(&self) -> usize {
        self.events.len()
    }
}

/// Both templates.
#[derive(Clone, Debug)]
pub struct Templates {
    /// Imported, nothing else.
    pub light: Template,
    /// Many edit cycles.
    pub heavy: Template,
}

async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !f() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "a template change did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

async fn template_of(
    store: &Store,
    link_issue: &str,
    snapshot_every: u64,
) -> anyhow::Result<Template> {
    let view = store
        .link_by_issue(link_issue)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no link for {link_issue}"))?;
    let history = store.history(&view.link_id).await?;
    let mut events = Vec::new();
    let mut state = LinkState::default();
    let mut snapshot = None;
    for (i, r) in history.iter().enumerate() {
        events.push(TemplateEvent {
            event_type: r.event.event_type().to_string(),
            payload: serde_json::to_string(&r.event)?,
            metadata: serde_json::to_string(&r.metadata)?,
            recorded_at: r.recorded_at,
        });
        evolve(&mut state, &r.event);
        let seq = i as u64 + 1;
        if snapshot_every > 0 && seq % snapshot_every == 0 {
            snapshot = Some((seq, serde_json::to_string(&state)?));
        }
    }
    Ok(Template {
        events,
        issue_id: view.issue_id.unwrap_or_default(),
        issue_key: view.issue_key.unwrap_or_default(),
        work_item_id: view.work_item_id.unwrap_or_default(),
        snapshot,
    })
}

/// Makes the two template links with the real engine (memory store) and reads their history.
pub async fn make_templates(heavy_cycles: usize) -> anyhow::Result<Templates> {
    let w = World::start(
        Store::open("memory://").await?,
        WorldOpts {
            workers: true,
            webhooks: true,
        },
    )
    .await?;
    // Push the simulator's changelog ids past the template issues' ids, so that an issue id
    // never equals a changelog id in the events (ids are replaced as whole JSON strings).
    let dummies = w.create_issues(5, "dummy")?;
    for i in 0..30 {
        w.jira_edit(&dummies[0], &format!("dummy {i}"))?;
    }
    let ids = w.create_issues(2, "template")?;
    let pairs = w.link_issues(&ids).await?;
    for (n, (issue, item)) in pairs.iter().enumerate() {
        let cycles = if n == 0 { 0 } else { heavy_cycles };
        for c in 0..cycles {
            let j = format!("template {n} jira {c}");
            w.jira_edit(issue, &j)?;
            wait_until(Duration::from_secs(30), || {
                w.host_titles().get(item) == Some(&Value::text(&j))
            })
            .await?;
            let h = format!("template {n} handoff {c}");
            w.host_edit(item, &[("title", Value::text(&h))])?;
            wait_until(Duration::from_secs(30), || {
                w.jira_summary(issue).as_deref() == Some(h.as_str())
            })
            .await?;
        }
    }
    anyhow::ensure!(
        w.settle(Duration::from_secs(60)).await,
        "the template world did not settle"
    );
    let every = StoreConfig::default().snapshot_every;
    Ok(Templates {
        light: template_of(w.rt.store(), &pairs[0].0, 0).await?,
        heavy: template_of(w.rt.store(), &pairs[1].0, every).await?,
    })
}

/// The ids of copy `i`: link id, issue id (far from the simulator's), key, work item id.
fn copy_ids(i: usize) -> (String, String, String, String) {
    (
        format!("bulk-{i:07}"),
        format!("{}", 100_000_000 + i),
        format!("BULK-{i}"),
        format!("BWI-{i}"),
    )
}

fn substitute(s: &str, t: &Template, issue: &str, key: &str, item: &str) -> String {
    s.replace(&format!("\"{}\"", t.issue_id), &format!("\"{issue}\""))
        .replace(&format!("\"{}\"", t.issue_key), &format!("\"{key}\""))
        .replace(&format!("\"{}\"", t.work_item_id), &format!("\"{item}\""))
}

/// How the copies are laid out.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Layout {
    /// Linked items.
    pub links: usize,
    /// Every `heavy_every`-th link is a heavy one.
    pub heavy_every: usize,
    /// Events of a light link.
    pub light_events: usize,
    /// Events of a heavy link.
    pub heavy_events: usize,
}

impl Layout {
    /// Heavy links so that the average is about `per_link` events (at least 1 in 200).
    pub fn new(links: usize, t: &Templates, per_link: usize) -> Layout {
        let (l, h) = (t.light.len(), t.heavy.len());
        let heavy = if per_link > l && h > l {
            (links * (per_link - l)) / (h - l)
        } else {
            links / 200
        };
        let heavy_every = (links / heavy.max(1)).clamp(2, 200);
        Layout {
            links,
            heavy_every,
            light_events: l,
            heavy_events: h,
        }
    }

    /// Whether link `i` is heavy.
    pub fn is_heavy(&self, i: usize) -> bool {
        i % self.heavy_every == 0
    }

    /// Heavy links.
    pub fn heavy_links(&self) -> usize {
        self.links.div_ceil(self.heavy_every)
    }

    /// Events in all.
    pub fn events(&self) -> usize {
        let h = self.heavy_links();
        h * self.heavy_events + (self.links - h) * self.light_events
    }
}

struct Row {
    link: String,
    seq: i64,
    event_type: String,
    payload: String,
    metadata: String,
    at: i64,
}

enum Bulk {
    Pg(sqlx::PgConnection),
    Lite(sqlx::SqliteConnection),
}

impl Bulk {
    async fn open(url: &str, schema: Option<&str>) -> anyhow::Result<Bulk> {
        if url.starts_with("postgres") {
            let opts: sqlx::postgres::PgConnectOptions = url.parse()?;
            let opts = match schema {
                Some(s) => opts.options([("search_path", s)]),
                None => opts,
            };
            Ok(Bulk::Pg(sqlx::PgConnection::connect_with(&opts).await?))
        } else {
            let mut c = sqlx::SqliteConnection::connect(url).await?;
            sqlx::query("PRAGMA synchronous=OFF")
                .execute(&mut c)
                .await?;
            Ok(Bulk::Lite(c))
        }
    }

    async fn events(&mut self, rows: &[Row]) -> anyhow::Result<()> {
        match self {
            Bulk::Pg(c) => {
                sqlx::query(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                     event_version, payload, metadata, recorded_at) \
                     SELECT 'link', a, s, t, '1', p::jsonb, m::jsonb, r \
                     FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                     $6::bigint[]) AS u(a, s, t, p, m, r)",
                )
                .bind(rows.iter().map(|r| r.link.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
                .bind(
                    rows.iter()
                        .map(|r| r.event_type.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(rows.iter().map(|r| r.payload.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.metadata.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
                .execute(&mut *c)
                .await?;
            }
            Bulk::Lite(c) => {
                let mut tx = c.begin().await?;
                for chunk in rows.chunks(500) {
                    let mut qb: sqlx::QueryBuilder<'_, sqlx::Sqlite> = sqlx::QueryBuilder::new(
                        "INSERT INTO events (aggregate_type, aggregate_id, sequence, \
                         event_type, event_version, payload, metadata, recorded_at) ",
                    );
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind("link")
                            .push_bind(&r.link)
                            .push_bind(r.seq)
                            .push_bind(&r.event_type)
                            .push_bind("1")
                            .push_bind(&r.payload)
                            .push_bind(&r.metadata)
                            .push_bind(r.at);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn snapshots(&mut self, rows: &[(String, i64, String)]) -> anyhow::Result<()> {
        let sql_pg = "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, \
                      current_snapshot, payload) SELECT 'link', a, s, 1, p::jsonb \
                      FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS u(a, s, p)";
        match self {
            Bulk::Pg(c) => {
                sqlx::query(sql_pg)
                    .bind(rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
                    .execute(&mut *c)
                    .await?;
            }
            Bulk::Lite(c) => {
                let mut tx = c.begin().await?;
                for (link, seq, payload) in rows {
                    sqlx::query(
                        "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, \
                         current_snapshot, payload) VALUES ('link', $1, $2, 1, $3)",
                    )
                    .bind(link)
                    .bind(seq)
                    .bind(payload)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn finish(self) -> anyhow::Result<()> {
        match self {
            Bulk::Pg(mut c) => {
                sqlx::query("ANALYZE").execute(&mut c).await?;
                c.close().await?;
            }
            Bulk::Lite(mut c) => {
                sqlx::query("ANALYZE").execute(&mut c).await?;
                c.close().await?;
            }
        }
        Ok(())
    }
}

/// Inserts the copies into an empty store at `url` (schema created by `Store::open`).
pub async fn bulk_load(
    url: &str,
    schema: Option<&str>,
    t: &Templates,
    layout: &Layout,
) -> anyhow::Result<()> {
    let mut db = Bulk::open(url, schema).await?;
    let mut rows: Vec<Row> = Vec::with_capacity(20_000);
    let mut snaps: Vec<(String, i64, String)> = Vec::new();
    for i in 0..layout.links {
        let tpl = if layout.is_heavy(i) {
            &t.heavy
        } else {
            &t.light
        };
        let (link, issue, key, item) = copy_ids(i);
        for (n, e) in tpl.events.iter().enumerate() {
            rows.push(Row {
                link: link.clone(),
                seq: n as i64 + 1,
                event_type: e.event_type.clone(),
                payload: substitute(&e.payload, tpl, &issue, &key, &item),
                metadata: e.metadata.clone(),
                at: e.recorded_at,
            });
        }
        if let Some((seq, state)) = &tpl.snapshot {
            snaps.push((
                link.clone(),
                *seq as i64,
                substitute(state, tpl, &issue, &key, &item),
            ));
        }
        if rows.len() >= 10_000 {
            db.events(&rows).await?;
            rows.clear();
        }
        if snaps.len() >= 500 {
            db.snapshots(&snaps).await?;
            snaps.clear();
        }
    }
    if !rows.is_empty() {
        db.events(&rows).await?;
    }
    if !snaps.is_empty() {
        db.snapshots(&snaps).await?;
    }
    db.finish().await
}

/// What the child measured at one size.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ScalePoint {
    /// Linked items.
    pub links: usize,
    /// Events in the log.
    pub events: usize,
    /// Events of a heavy link.
    pub heavy_events: usize,
    /// RSS right after opening the store, kB.
    pub rss_open_kb: u64,
    /// Load of a light link (snapshot-less: under 100 events), ms p50 / p99.
    pub load_light_p50: f64,
    /// p99 of the same.
    pub load_light_p99: f64,
    /// Load of a heavy link from its snapshot and the events after it, ms p50.
    pub load_heavy_snap_p50: f64,
    /// Load of a heavy link from the log alone, ms p50.
    pub load_heavy_log_p50: f64,
    /// The webhook path's `link_by_issue`, ms p50 / p99.
    pub lookup_p50: f64,
    /// p99 of the same.
    pub lookup_p99: f64,
    /// Live links made through the engine on top of the big store.
    pub live_links: usize,
    /// Imports through the engine per second, on top of the big store.
    pub import_rate: f64,
    /// Changes per second through the whole engine on top of the big store.
    pub changes_rate: f64,
    /// Peak RSS while serving (open, loads, imports, changes), kB.
    pub hwm_serving_kb: u64,
    /// `Runtime::is_idle` (`Store::pending_work`), ms p50.
    pub is_idle_ms: f64,
    /// Peak RSS during `is_idle`, kB.
    pub hwm_is_idle_kb: u64,
    /// `rebuild_projections`, seconds.
    pub rebuild_s: f64,
    /// Events it replayed.
    pub rebuild_events: u64,
    /// Peak RSS during the rebuild, kB.
    pub hwm_rebuild_kb: u64,
}

/// Resets the peak RSS of this process (Linux: `clear_refs` 5).
fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn hwm() -> u64 {
    proc_status_kb("VmHWM:").unwrap_or(0)
}

/// The child: measures a store already loaded with `layout`.
pub async fn child(url: &str, schema: Option<&str>, layout: Layout) -> anyhow::Result<ScalePoint> {
    let config = StoreConfig {
        pg_schema: schema.map(str::to_string),
        ..StoreConfig::default()
    };
    reset_hwm();
    let store = Store::open_with(url, config).await?;
    let mut p = ScalePoint {
        links: layout.links,
        events: layout.events(),
        heavy_events: layout.heavy_events,
        rss_open_kb: proc_status_kb("VmRSS:").unwrap_or(0),
        ..ScalePoint::default()
    };
    let mut rng = Rng::new(7);
    let (mut light, mut lookup, mut snap, mut log) = (
        Lat::default(),
        Lat::default(),
        Lat::default(),
        Lat::default(),
    );
    for _ in 0..300 {
        let mut i = rng.below(layout.links);
        if layout.is_heavy(i) {
            i = (i + 1) % layout.links;
        }
        let (link, issue, _, _) = copy_ids(i);
        let t = Instant::now();
        let l = store.load(&link).await?;
        light.push(t.elapsed());
        anyhow::ensure!(
            l.sequence as usize == layout.light_events,
            "link {link} did not load"
        );
        let t = Instant::now();
        let v = store.link_by_issue(&issue).await?;
        lookup.push(t.elapsed());
        anyhow::ensure!(v.is_some(), "no link for issue {issue}");
    }
    for _ in 0..30 {
        let i = rng.below(layout.heavy_links()) * layout.heavy_every;
        let (link, _, _, _) = copy_ids(i);
        let t = Instant::now();
        let a = store.load(&link).await?;
        snap.push(t.elapsed());
        let t = Instant::now();
        let b = store.load_from_log(&link).await?;
        log.push(t.elapsed());
        anyhow::ensure!(
            a.sequence == b.sequence && a.state == b.state,
            "snapshot load differs"
        );
    }
    p.load_light_p50 = light.pct(50.0);
    p.load_light_p99 = light.pct(99.0);
    p.lookup_p50 = lookup.pct(50.0);
    p.lookup_p99 = lookup.pct(99.0);
    p.load_heavy_snap_p50 = snap.pct(50.0);
    p.load_heavy_log_p50 = log.pct(50.0);

    // Live changes through the whole engine, on top of the big store.
    {
        let w = World::start(
            store.clone(),
            WorldOpts {
                workers: true,
                webhooks: true,
            },
        )
        .await?;
        let live = 200;
        let ids = w.create_issues(live, "live")?;
        let t = Instant::now();
        let pairs = w.link_issues(&ids).await?;
        p.import_rate = live as f64 / t.elapsed().as_secs_f64();
        p.live_links = pairs.len();
        throughput(&w, &pairs, "warm", Duration::from_secs(120)).await?;
        let tp = throughput(&w, &pairs, "live", Duration::from_secs(120)).await?;
        p.changes_rate = tp.rate();
        p.hwm_serving_kb = hwm();
        reset_hwm();
        // `Runtime::is_idle` (one query counted through indexes), p50 of 21 calls.
        let mut idle = Lat::default();
        for _ in 0..21 {
            let t = Instant::now();
            let _ = w.rt.is_idle().await?;
            idle.push(t.elapsed());
        }
        p.is_idle_ms = idle.pct(50.0);
        p.hwm_is_idle_kb = hwm();
    }
    reset_hwm();
    let t = Instant::now();
    p.rebuild_events = store.rebuild_projections().await?;
    p.rebuild_s = t.elapsed().as_secs_f64();
    p.hwm_rebuild_kb = hwm();
    store.close().await;
    Ok(p)
}
