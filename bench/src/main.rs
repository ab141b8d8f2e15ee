//! `cargo run --release -p bench`: the benchmark table of issue #8, measured in
//! one run. With `scripts/pg.sh run cargo run --release -p bench` the PostgreSQL
//! rows run too (they are skipped, with a line saying so, when `DATABASE_URL` is unset).
//! `BENCH_SCALE=full` runs the full sizes (100,000 linked items, 1,000,000 events, an import
//! of 10,000 issues); the default is smaller so the whole run stays within about 10 minutes.
//!
//! Every figure is compared as a ratio within the run (the machine is shared and noisy), and
//! nothing here is a timed test: the bench reports, it does not assert speed.

mod flow;
mod intake;
mod scale;
mod stats;
mod svg;
mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sync_store::{Store, StoreConfig};

use crate::stats::{int, machine, ms, rate};
use crate::world::{World, WorldOpts};

#[allow(clippy::print_stdout, reason = "the bench prints its table")]
fn out(line: &str) {
    println!("{line}");
}

#[allow(
    clippy::print_stderr,
    reason = "progress goes to stderr, the table to stdout"
)]
fn progress(line: &str) {
    eprintln!("[bench] {line}");
}

/// Sizes of one run.
#[derive(Clone, Debug)]
struct Sizes {
    full: bool,
    intake_secs: f64,
    flow_links: usize,
    import_issues: usize,
    growth: Vec<usize>,
    heavy_cycles: usize,
}

impl Sizes {
    fn from_env() -> Sizes {
        let full = std::env::var("BENCH_SCALE").as_deref() == Ok("full");
        Sizes {
            full,
            intake_secs: 5.0,
            flow_links: if full { 1000 } else { 400 },
            import_issues: if full { 10_000 } else { 1_000 },
            growth: if full {
                vec![1_000, 10_000, 100_000]
            } else {
                vec![1_000, 10_000]
            },
            heavy_cycles: 50,
        }
    }
}

/// A database the bench runs on.
#[derive(Clone, Debug)]
struct Backend {
    name: &'static str,
    /// `postgres://…`, or a directory for SQLite files.
    url: String,
    pg: bool,
}

impl Backend {
    /// A fresh, empty store for `what` (own schema on PostgreSQL, own file on SQLite).
    fn fresh(&self, what: &str) -> (String, Option<String>) {
        if self.pg {
            let schema = format!("bench_{}_{what}", std::process::id());
            (self.url.clone(), Some(schema))
        } else {
            let path = PathBuf::from(&self.url).join(format!("{what}.db"));
            (format!("sqlite://{}", path.display()), None)
        }
    }

    async fn open(&self, what: &str) -> anyhow::Result<Store> {
        let (url, schema) = self.fresh(what);
        Ok(Store::open_with(
            &url,
            StoreConfig {
                pg_schema: schema,
                ..StoreConfig::default()
            },
        )
        .await?)
    }
}

/// One line of the table.
struct Row {
    item: &'static str,
    figure: String,
    backend: &'static str,
    value: String,
    ratio: String,
    goal: String,
    met: &'static str,
}

fn row(
    item: &'static str,
    figure: impl Into<String>,
    backend: &'static str,
    value: impl Into<String>,
    ratio: impl Into<String>,
    goal: impl Into<String>,
    met: Option<bool>,
) -> Row {
    Row {
        item,
        figure: figure.into(),
        backend,
        value: value.into(),
        ratio: ratio.into(),
        goal: goal.into(),
        met: match met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        },
    }
}

fn print_table(rows: &[Row]) {
    out("| # | figure | store | value | ratio / detail | goal (product spec) | met |");
    out("|---|---|---|---|---|---|---|");
    for r in rows {
        out(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.item, r.figure, r.backend, r.value, r.ratio, r.goal, r.met
        ));
    }
}

async fn bench_intake(
    backends: &[Backend],
    sizes: &Sizes,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let body = intake::sample_body()?;
    let secs = sizes.intake_secs;
    let clients = 16;
    progress(&format!(
        "1. intake: trivial handler, {clients} clients, {secs} s"
    ));
    let (addr, h) = intake::serve_trivial().await?;
    let base = intake::closed_loop(addr, &body, "trivial", clients, secs, 200_000).await?;
    let base_open = intake::open_loop(addr, &body, "trivial-open", 1000.0, secs).await?;
    h.abort();
    rows.push(row(
        "1",
        format!("trivial axum handler, {clients} clients over keep-alive HTTP"),
        "-",
        format!("{} req/s", int(base.rps)),
        format!(
            "p50 {} / p99 {}",
            ms(base.lat.pct(50.0)),
            ms(base.lat.pct(99.0))
        ),
        "baseline",
        None,
    ));
    rows.push(row(
        "1",
        "trivial handler at 1,000 req/s offered",
        "-",
        format!("p99 {}", ms(base_open.lat.pct(99.0))),
        format!("p50 {}", ms(base_open.lat.pct(50.0))),
        "baseline",
        None,
    ));
    for b in backends {
        progress(&format!("1. intake on {}", b.name));
        let store = b.open("intake").await?;
        let w = World::start(
            store,
            WorldOpts {
                workers: false,
                webhooks: false,
            },
        )
        .await?;
        let r = intake::closed_loop(w.intake_addr, &body, "closed", clients, secs, 100_000).await?;
        rows.push(row(
            "1",
            "signed webhook intake (verify + dedupe + durable append), closed loop",
            b.name,
            format!("{} req/s", int(r.rps)),
            format!(
                "{:.2} of trivial; p50 {} / p99 {}{}",
                r.rps / base.rps,
                ms(r.lat.pct(50.0)),
                ms(r.lat.pct(99.0)),
                if r.errors > 0 {
                    format!("; {} errors", r.errors)
                } else {
                    String::new()
                }
            ),
            "product spec: answer < 200 ms p95",
            Some(r.lat.pct(95.0) < 200.0 && r.errors == 0),
        ));
        let o = intake::open_loop(w.intake_addr, &body, "open", 1000.0, secs).await?;
        rows.push(row(
            "1",
            "signed webhook intake at 1,000 req/s offered",
            b.name,
            format!("p99 {}", ms(o.lat.pct(99.0))),
            format!(
                "p50 {}; p99 {:.1}x trivial's{}",
                ms(o.lat.pct(50.0)),
                o.lat.pct(99.0) / base_open.lat.pct(99.0),
                if o.errors > 0 {
                    format!("; {} errors", o.errors)
                } else {
                    String::new()
                }
            ),
            "p99 < 10 ms at 1,000 req/s",
            Some(o.lat.pct(99.0) < 10.0 && o.errors == 0),
        ));
    }
    Ok(())
}

async fn bench_flow(
    backends: &[Backend],
    sizes: &Sizes,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    for b in backends {
        progress(&format!(
            "2-4. flow on {}: linking {} issues",
            b.name, sizes.flow_links
        ));
        let store = b.open("flow").await?;
        let w = World::start(
            store,
            WorldOpts {
                workers: true,
                webhooks: true,
            },
        )
        .await?;
        let ids = w.create_issues(sizes.flow_links, "flow")?;
        let pairs = w.link_issues(&ids).await?;
        w.settle(Duration::from_secs(120)).await;
        progress("2. throughput");
        let limit = Duration::from_secs(300);
        throughput(&w, &pairs[..pairs.len() / 4], "warm", limit).await?;
        let tp = throughput(&w, &pairs, "burst", limit).await?;
        let goal = if b.pg { 2_000.0 } else { 10_000.0 };
        rows.push(row(
            "2",
            format!(
                "changes carried end to end ({} at once, half each way)",
                int(tp.changes as f64)
            ),
            b.name,
            format!("{} changes/s", int(tp.rate())),
            format!(
                "Jira→Handoff {} /s, Handoff→Jira {} /s; {} of {} in {:.1} s; CPU {:.0} % of 2 cores, {:.1} ms CPU per change",
                int(tp.j2h_rate),
                int(tp.h2j_rate),
                tp.carried,
                tp.changes,
                tp.secs,
                100.0 * tp.cpu_secs / tp.secs / 2.0,
                1000.0 * tp.cpu_secs / tp.carried.max(1) as f64
            ),
            format!("≥ {} /s (spec: 100 syncs/s)", int(goal)),
            Some(tp.rate() >= goal && tp.carried == tp.changes),
        ));
        progress("3. latency");
        let lat = flow::latency(&w, &pairs, 10.0, 15.0).await?;
        for (what, l) in [
            ("webhook received → host write issued", &lat.j2h),
            ("host notification → Jira write issued", &lat.h2j),
        ] {
            rows.push(row(
                "3",
                format!("engine-added latency, {what} (10 changes/s each way)"),
                b.name,
                format!("p95 {}", ms(l.pct(95.0))),
                format!(
                    "p50 {} / p99 {}; n = {}{}",
                    ms(l.pct(50.0)),
                    ms(l.pct(99.0)),
                    l.len(),
                    if lat.missing > 0 {
                        format!(", {} not seen", lat.missing)
                    } else {
                        String::new()
                    }
                ),
                "p95 < 50 ms (spec: 5 s p95)",
                Some(l.pct(95.0) < 50.0),
            ));
        }
        progress("4. Jira calls per change");
        let c = flow::calls_per_change(&w, &pairs, 20.0, 15.0).await?;
        let per = c.calls as f64 / c.edits.max(1) as f64;
        let top: Vec<String> = {
            let mut v: Vec<(&String, &u64)> = c.by_endpoint.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1));
            v.iter().take(5).map(|(k, n)| format!("{k} {n}")).collect()
        };
        rows.push(row(
            "4",
            "Jira API calls per synced change, steady mixed workload (20 edits/s, 15 s)",
            b.name,
            format!("{per:.2}"),
            format!(
                "{} calls / {} edits ({} in conflicting pairs, {} conflicts opened{}); {}",
                c.calls,
                c.edits,
                c.conflict_edits,
                c.conflicts_opened,
                if c.settled { "" } else { ", NOT settled" },
                top.join(", ")
            ),
            "≤ 1.1 (floor 1, spec designs ~3)",
            Some(per <= 1.1),
        ));
        drop(w);
        progress(&format!(
            "5. initial import of {} issues",
            sizes.import_issues
        ));
        let store = b.open("import").await?;
        let w = World::start(
            store,
            WorldOpts {
                workers: true,
                webhooks: false,
            },
        )
        .await?;
        let im = flow::initial_import(&w, sizes.import_issues).await?;
        rows.push(row(
            "5",
            format!(
                "initial import of {} issues (paged search with the mapped fields, then one import each from its page)",
                int(im.issues as f64)
            ),
            b.name,
            format!("{:.1} s", im.secs),
            format!(
                "{} issues/s; {} Jira calls ({:.2} per issue, {} search pages)",
                int(rate(im.issues, im.secs)),
                int(im.calls as f64),
                im.calls as f64 / im.issues as f64,
                im.search_calls
            ),
            "",
            None,
        ));
    }
    Ok(())
}

use crate::flow::throughput;

async fn bench_scale(
    backends: &[Backend],
    sizes: &Sizes,
    rows: &mut Vec<Row>,
) -> anyhow::Result<Vec<(&'static str, Vec<scale::ScalePoint>)>> {
    progress("5-6. templates: two real links made by the engine");
    let t = scale::make_templates(sizes.heavy_cycles).await?;
    let mut all = Vec::new();
    for b in backends {
        let mut points = Vec::new();
        for &n in &sizes.growth {
            let layout = scale::Layout::new(n, &t, 10);
            let what = format!("scale{n}");
            let (url, schema) = b.fresh(&what);
            progress(&format!(
                "5-6. {}: {} links, {} events: bulk load",
                b.name,
                int(n as f64),
                int(layout.events() as f64)
            ));
            let store = b.open(&what).await?;
            let t0 = Instant::now();
            scale::bulk_load(&url, schema.as_deref(), &t, &layout).await?;
            let load_s = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            store.rebuild_projections().await?;
            progress(&format!(
                "   bulk load {load_s:.1} s, first rebuild {:.1} s; measuring in a child process",
                t0.elapsed().as_secs_f64()
            ));
            store.close().await;
            let exe = std::env::current_exe()?;
            let child = tokio::process::Command::new(exe)
                .arg("__scale-child")
                .arg(&url)
                .arg(schema.as_deref().unwrap_or("-"))
                .arg(serde_json::to_string(&layout)?)
                .output()
                .await?;
            let stdout = String::from_utf8_lossy(&child.stdout);
            let line = stdout
                .lines()
                .find_map(|l| l.strip_prefix("SCALE "))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the scale child failed: {}",
                        String::from_utf8_lossy(&child.stderr)
                    )
                })?;
            let p: scale::ScalePoint = serde_json::from_str(line)?;
            progress(&format!("   {p:?}"));
            points.push(p);
            if b.pg {
                drop_schema(&url, schema.as_deref()).await;
            }
        }
        if let Some(p) = points.last() {
            let mb = |kb: u64| kb as f64 / 1024.0;
            rows.push(row(
                "5",
                format!(
                    "peak RSS of the server, {} linked items / {} events (serving: imports + changes on top)",
                    int(p.links as f64),
                    int(p.events as f64)
                ),
                b.name,
                format!("{:.0} MB", mb(p.hwm_serving_kb)),
                format!(
                    "{:.0} MB after open; {:.0} MB peak during is_idle; {:.0} MB peak during rebuild",
                    mb(p.rss_open_kb),
                    mb(p.hwm_is_idle_kb),
                    mb(p.hwm_rebuild_kb)
                ),
                "< 300 MB",
                Some(p.hwm_serving_kb.max(p.hwm_rebuild_kb).max(p.hwm_is_idle_kb) < 300 * 1024),
            ));
            rows.push(row(
                "5",
                format!("link load, heavy link ({} events)", p.heavy_events),
                b.name,
                format!("{} with snapshot", ms(p.load_heavy_snap_p50)),
                format!(
                    "{} from the log alone ({:.1}x); light link p50 {} / p99 {}",
                    ms(p.load_heavy_log_p50),
                    p.load_heavy_log_p50 / p.load_heavy_snap_p50,
                    ms(p.load_light_p50),
                    ms(p.load_light_p99)
                ),
                "",
                None,
            ));
            rows.push(row(
                "5",
                "projection rebuild",
                b.name,
                format!("{:.1} s", p.rebuild_s),
                format!(
                    "{} events/s over {} events",
                    int(rate(p.rebuild_events, p.rebuild_s)),
                    int(p.rebuild_events as f64)
                ),
                "",
                None,
            ));
        }
        if let (Some(a), Some(z)) = (points.first(), points.last()) {
            // Growth exponent against the number of linked items: 0 = flat, 1 = linear.
            let k = z.links as f64 / a.links as f64;
            let exp = |x0: f64, x1: f64| (x1 / x0).ln() / k.ln();
            let figs: [(&str, f64, f64); 8] = [
                ("events", a.events as f64, z.events as f64),
                ("rebuild time", a.rebuild_s, z.rebuild_s),
                (
                    "peak RSS serving",
                    a.hwm_serving_kb as f64,
                    z.hwm_serving_kb as f64,
                ),
                ("is_idle p50", a.is_idle_ms, z.is_idle_ms),
                ("light link load p50", a.load_light_p50, z.load_light_p50),
                ("link_by_issue p50", a.lookup_p50, z.lookup_p50),
                (
                    "time per live change",
                    1.0 / a.changes_rate,
                    1.0 / z.changes_rate,
                ),
                (
                    "time per live import",
                    1.0 / a.import_rate,
                    1.0 / z.import_rate,
                ),
            ];
            let detail: Vec<String> = figs
                .iter()
                .map(|(name, x0, x1)| format!("{name} x{:.2} (exp {:.2})", x1 / x0, exp(*x0, *x1)))
                .collect();
            let superlinear: Vec<&str> = figs
                .iter()
                .filter(|(_, x0, x1)| exp(*x0, *x1) > 1.15)
                .map(|(n, _, _)| *n)
                .collect();
            rows.push(row(
                "6",
                format!(
                    "growth {} → {} linked items (x{k:.0})",
                    int(a.links as f64),
                    int(z.links as f64)
                ),
                b.name,
                if superlinear.is_empty() {
                    "none faster than linear".to_string()
                } else {
                    format!("faster than linear: {}", superlinear.join(", "))
                },
                detail.join("; "),
                "cost grows with change, not size",
                Some(superlinear.is_empty()),
            ));
        }
        all.push((b.name, points));
    }
    Ok(all)
}

async fn drop_schema(url: &str, schema: Option<&str>) {
    use sqlx::Connection;
    if let (Ok(mut c), Some(s)) = (sqlx::PgConnection::connect(url).await, schema) {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE"))
            .execute(&mut c)
            .await;
    }
}

fn growth_svg(points: &[(&'static str, Vec<scale::ScalePoint>)]) -> String {
    let mut series = Vec::new();
    for (backend, ps) in points {
        let Some(a) = ps.first() else { continue };
        let rel = |f: &dyn Fn(&scale::ScalePoint) -> f64| -> Vec<(f64, f64)> {
            ps.iter().map(|p| (p.links as f64, f(p) / f(a))).collect()
        };
        series.push(svg::Series {
            name: format!("{backend}: rebuild time"),
            points: rel(&|p| p.rebuild_s),
            dashed: false,
        });
        series.push(svg::Series {
            name: format!("{backend}: is_idle"),
            points: rel(&|p| p.is_idle_ms),
            dashed: false,
        });
        series.push(svg::Series {
            name: format!("{backend}: peak RSS"),
            points: rel(&|p| p.hwm_serving_kb as f64),
            dashed: false,
        });
        series.push(svg::Series {
            name: format!("{backend}: time/change"),
            points: rel(&|p| 1.0 / p.changes_rate),
            dashed: false,
        });
    }
    if let Some((_, ps)) = points.first() {
        if let Some(a) = ps.first() {
            series.push(svg::Series {
                name: "linear (x size)".into(),
                points: ps
                    .iter()
                    .map(|p| (p.links as f64, p.links as f64 / a.links as f64))
                    .collect(),
                dashed: true,
            });
        }
    }
    let per_link = points
        .first()
        .and_then(|(_, ps)| ps.last())
        .map_or(0.0, |p| p.events as f64 / p.links.max(1) as f64);
    svg::loglog(
        "Cost relative to 1,000 linked items",
        &format!("linked items ({per_link:.0} events each on average)"),
        "cost / cost at 1,000",
        &series,
    )
}

async fn child_main(args: &[String]) -> anyhow::Result<()> {
    let url = &args[2];
    let schema = (args[3] != "-").then_some(args[3].as_str());
    let layout: scale::Layout = serde_json::from_str(&args[4])?;
    let p = scale::child(url, schema, layout).await?;
    out(&format!("SCALE {}", serde_json::to_string(&p)?));
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__scale-child") {
        return child_main(&args).await;
    }
    let sizes = Sizes::from_env();
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("jira-sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut backends = vec![Backend {
        name: "SQLite",
        url: dir.display().to_string(),
        pg: false,
    }];
    let pg_url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    match &pg_url {
        Some(u) => backends.push(Backend {
            name: "PostgreSQL",
            url: u.clone(),
            pg: true,
        }),
        None => progress("DATABASE_URL not set: PostgreSQL rows skipped (scripts/pg.sh run ...)"),
    }
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let want = |s: &str| only.is_empty() || only.split(',').any(|o| o == s);
    let mut rows = Vec::new();
    let mut growth = Vec::new();
    if want("intake") {
        bench_intake(&backends, &sizes, &mut rows).await?;
    }
    if want("flow") {
        bench_flow(&backends, &sizes, &mut rows).await?;
    }
    if want("scale") {
        growth = bench_scale(&backends, &sizes, &mut rows).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    out(&format!(
        "jira-sync bench ({}), {}; {} s",
        if sizes.full {
            "BENCH_SCALE=full"
        } else {
            "default sizes; BENCH_SCALE=full for 100k/1M"
        },
        machine(),
        started.elapsed().as_secs()
    ));
    if pg_url.is_none() {
        out("PostgreSQL: skipped (DATABASE_URL unset; run through scripts/pg.sh run)");
    }
    out("");
    print_table(&rows);
    if !growth.is_empty() {
        out("");
        out("growth (child process per size):");
        out("");
        out("| store | links | events | load light p50 | load heavy snap / log p50 | link_by_issue p50 | imports/s | changes/s | is_idle | rebuild | RSS serving | RSS rebuild |");
        out("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (b, ps) in &growth {
            for p in ps {
                out(&format!(
                    "| {b} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {:.1} s | {:.0} MB | {:.0} MB |",
                    int(p.links as f64),
                    int(p.events as f64),
                    ms(p.load_light_p50),
                    ms(p.load_heavy_snap_p50),
                    ms(p.load_heavy_log_p50),
                    ms(p.lookup_p50),
                    int(p.import_rate),
                    int(p.changes_rate),
                    ms(p.is_idle_ms),
                    p.rebuild_s,
                    p.hwm_serving_kb as f64 / 1024.0,
                    p.hwm_rebuild_kb as f64 / 1024.0,
                ));
            }
        }
        let svg_dir = std::env::var("BENCH_SVG_DIR").map_or_else(
            |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench"),
            PathBuf::from,
        );
        std::fs::create_dir_all(&svg_dir)?;
        let path = svg_dir.join("bench-growth.svg");
        std::fs::write(&path, growth_svg(&growth))?;
        out(&format!("plot: {}", path.display()));
    }
    Ok(())
}
