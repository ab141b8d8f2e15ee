//! Benchmark of the event store on PostgreSQL (and SQLite): append rate against the raw
//! single-row INSERT rate of the same database in the same run, load time of a link with
//! 10,000 events with and without a snapshot, and replay of 1,000,000 events.
//!
//! ```text
//! scripts/pg.sh run cargo run --release -p sync-store --example bench_store
//! ```
//!
//! `BENCH_REPLAY_EVENTS` changes the replay size (default 1,000,000). Without `DATABASE_URL`
//! only SQLite runs.

use std::time::Instant;

use sqlx::Connection;
use sync_domain::link::LinkEvent;
use sync_domain::mapping::Side;
use sync_domain::Value;
use sync_store::{EventMetadata, Source, Store, StoreConfig};

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn report(line: &str) {
    println!("{line}");
}

fn events(from: u64, n: u64) -> Vec<LinkEvent> {
    (from..from + n)
        .map(|i| {
            if i % 2 == 0 {
                LinkEvent::HandoffObserved {
                    version: i,
                    actor: Some("ana".into()),
                    delivery_id: Some(format!("d{i}")),
                    at: i as i64,
                }
            } else {
                LinkEvent::FieldChanged {
                    side: Side::Handoff,
                    field: "title".into(),
                    value: Value::text(&format!("title {i}")),
                    changed_at: i as i64,
                }
            }
        })
        .collect()
}

fn meta() -> EventMetadata {
    EventMetadata::new(Source::Handoff)
        .actor("bench")
        .correlation("bench")
}

fn rate(n: u64, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

const RAW_INSERT: &str = "INSERT INTO raw_events (aggregate_type, aggregate_id, sequence, \
    event_type, event_version, payload, metadata, recorded_at) \
    VALUES ('link', $1, $2, 'handoff_observed', '1', $3, '{\"source\":\"handoff\"}', $4)";

/// Single-row autocommit INSERTs into a copy of the events table, on one connection.
async fn raw_insert_rate(url: &str, schema: Option<&str>, n: u64) -> AnyResult<f64> {
    let payload = serde_json::to_value(&events(0, 1)[0])?;
    if url.starts_with("postgres") {
        let opts: sqlx::postgres::PgConnectOptions = url.parse()?;
        let opts = match schema {
            Some(s) => opts.options([("search_path", s)]),
            None => opts,
        };
        let mut c = sqlx::PgConnection::connect_with(&opts).await?;
        sqlx::query("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
            .execute(&mut c)
            .await?;
        let t = Instant::now();
        for i in 0..n {
            sqlx::query(RAW_INSERT)
                .bind(format!("raw{}", i % 100))
                .bind(i as i64)
                .bind(&payload)
                .bind(i as i64)
                .execute(&mut c)
                .await?;
        }
        Ok(rate(n, t.elapsed().as_secs_f64()))
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query("PRAGMA synchronous=NORMAL")
            .execute(&mut c)
            .await?;
        sqlx::query(
            "CREATE TABLE raw_events (aggregate_type text, aggregate_id text, sequence bigint, \
             event_type text, event_version text, payload text, metadata text, \
             global_position integer PRIMARY KEY AUTOINCREMENT, txid bigint DEFAULT 0, \
             recorded_at bigint, UNIQUE (aggregate_type, aggregate_id, sequence))",
        )
        .execute(&mut c)
        .await?;
        let t = Instant::now();
        for i in 0..n {
            sqlx::query(RAW_INSERT)
                .bind(format!("raw{}", i % 100))
                .bind(i as i64)
                .bind(&payload)
                .bind(i as i64)
                .execute(&mut c)
                .await?;
        }
        Ok(rate(n, t.elapsed().as_secs_f64()))
    }
}

/// Bulk-loads `n` events over links of 1,000 events each, in the database, for replay.
async fn bulk_load(url: &str, schema: Option<&str>, n: u64) -> AnyResult<()> {
    let select = "SELECT 'link', 'bulk-' || (g / 1000), (g % 1000) + 1, \
        CASE WHEN g % 2 = 0 THEN 'handoff_observed' ELSE 'field_changed' END, '1', \
        CASE WHEN g % 2 = 0 \
          THEN '{\"type\":\"handoff_observed\",\"version\":' || g || ',\"actor\":\"ana\",\"delivery_id\":\"d' || g || '\",\"at\":' || g || '}' \
          ELSE '{\"type\":\"field_changed\",\"side\":\"handoff\",\"field\":\"title\",\"value\":{\"type\":\"text\",\"value\":\"title ' || g || '\"},\"changed_at\":' || g || '}' \
        END, '{\"source\":\"handoff\"}', g";
    if url.starts_with("postgres") {
        let opts: sqlx::postgres::PgConnectOptions = url.parse()?;
        let opts = match schema {
            Some(s) => opts.options([("search_path", s)]),
            None => opts,
        };
        let mut c = sqlx::PgConnection::connect_with(&opts).await?;
        let last = n - 1;
        let sql = format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata, recorded_at) \
             SELECT a, b, c, d, e, f::jsonb, h::jsonb, i FROM \
             ({select} FROM generate_series(0, {last}) AS g) AS t(a, b, c, d, e, f, h, i)"
        );
        sqlx::query(&sql).execute(&mut c).await?;
        sqlx::query("ANALYZE events").execute(&mut c).await?;
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        let sql = format!(
            "WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < {}) \
             INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata, recorded_at) {select} FROM s",
            n - 1
        );
        sqlx::query(&sql).execute(&mut c).await?;
    }
    Ok(())
}

async fn bench(label: &str, url: &str, config: StoreConfig, replay_n: u64) -> AnyResult<()> {
    let schema = config.pg_schema.clone();
    let store = Store::open_with(url, config.clone()).await?;
    let m = meta();
    report(&format!("## {label}"));

    // 1. Raw single-row INSERT rate, then the store's append rate in the same database.
    let raw_n = 5_000;
    let raw = raw_insert_rate(url, schema.as_deref(), raw_n).await?;
    report(&format!(
        "raw single-row INSERT (autocommit, 1 connection, {raw_n} rows): {raw:.0} rows/s"
    ));
    for batch in [1u64, 10, 100] {
        let links = 20u64;
        let per_link = if batch == 1 { 100 } else { 1_000 };
        let t = Instant::now();
        let mut n = 0;
        for l in 0..links {
            let link = format!("append-{batch}-{l}");
            let mut seq = 0;
            while seq < per_link {
                let evs = events(seq, batch);
                seq = store.append(&link, seq, &evs, &m, seq as i64).await?;
                n += batch;
            }
        }
        let r = rate(n, t.elapsed().as_secs_f64());
        report(&format!(
            "store append, {batch} event(s) per append, 1 writer ({n} events, projections and \
             snapshots inline): {r:.0} events/s, ratio to raw {:.2}",
            r / raw
        ));
    }
    {
        // Four concurrent writers on distinct links, 100 events per append.
        let t = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (store, m) = (store.clone(), m.clone());
            tasks.push(tokio::spawn(async move {
                let link = format!("conc-{w}");
                let mut seq = 0;
                while seq < 5_000 {
                    seq = store.append(&link, seq, &events(seq, 100), &m, 0).await?;
                }
                Ok::<u64, sync_store::StoreError>(seq)
            }));
        }
        let mut n = 0;
        for t in tasks {
            n += t.await??;
        }
        let r = rate(n, t.elapsed().as_secs_f64());
        report(&format!(
            "store append, 100 events per append, 4 writers ({n} events): {r:.0} events/s, \
             ratio to raw {:.2}",
            r / raw
        ));
    }

    // 2. Load of a link with 10,000 events, with and without its snapshot.
    let link = "long";
    let mut seq = 0;
    while seq < 9_950 {
        seq = store.append(link, seq, &events(seq, 50), &m, 0).await?;
    }
    for _ in 0..50 {
        seq = store.append(link, seq, &events(seq, 1), &m, 0).await?;
    }
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        let l = store.load(link).await?;
        assert_eq!(l.sequence, seq);
    }
    let with = t.elapsed().as_secs_f64() * 1000.0 / reps as f64;
    let t = Instant::now();
    for _ in 0..reps {
        let l = store.load_from_log(link).await?;
        assert_eq!(l.sequence, seq);
    }
    let without = t.elapsed().as_secs_f64() * 1000.0 / reps as f64;
    report(&format!(
        "load of a link with {seq} events: {with:.2} ms with snapshot (every {} events), \
         {without:.2} ms from the log alone",
        config.snapshot_every
    ));

    // 3. Replay of `replay_n` events.
    let fresh = match &schema {
        Some(s) => StoreConfig {
            pg_schema: Some(format!("{s}_replay")),
            ..config.clone()
        },
        None => config.clone(),
    };
    let replay_url = if url.starts_with("sqlite") {
        url.replace("bench.db", "replay.db")
    } else {
        url.to_string()
    };
    let replay_store = Store::open_with(&replay_url, fresh.clone()).await?;
    let t = Instant::now();
    bulk_load(&replay_url, fresh.pg_schema.as_deref(), replay_n).await?;
    report(&format!(
        "bulk load of {replay_n} events (setup, SQL): {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let t = Instant::now();
    let n = replay_store.replay_all().await?;
    let secs = t.elapsed().as_secs_f64();
    report(&format!(
        "replay (read in global order, decode, fold every link) of {n} events: {secs:.1} s, \
         {:.0} events/s",
        rate(n, secs)
    ));
    let t = Instant::now();
    let n = replay_store.rebuild_projections().await?;
    let secs = t.elapsed().as_secs_f64();
    report(&format!(
        "rebuild_projections over {n} events: {secs:.1} s, {:.0} events/s",
        rate(n, secs)
    ));
    replay_store.close().await;
    store.close().await;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> AnyResult<()> {
    let replay_n: u64 = std::env::var("BENCH_REPLAY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let schema = format!("bench_{}", std::process::id());
        let config = StoreConfig {
            pg_schema: Some(schema),
            ..StoreConfig::default()
        };
        bench("PostgreSQL", &url, config, replay_n).await?;
    } else {
        report("DATABASE_URL not set: PostgreSQL skipped (scripts/pg.sh run ...)");
    }
    let dir = std::env::temp_dir().join(format!("sync-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let r = bench("SQLite (file, WAL)", &url, StoreConfig::default(), replay_n).await;
    std::fs::remove_dir_all(&dir)?;
    r
}
