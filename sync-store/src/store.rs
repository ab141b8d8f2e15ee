//! The store: one API over PostgreSQL, a SQLite file and SQLite in memory.
//!
//! Both databases run the same SQL wherever their dialects agree (`$n` parameters, `ON CONFLICT`,
//! `RETURNING`, row-value comparison); the few statements that differ are chosen per backend.
//! The `on_db!` macro expands one body for each backend's pool, so each is compiled against its
//! concrete driver.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::{Connection, PgPool, QueryBuilder, SqlitePool};
use sync_domain::link::{evolve, LinkCommand, LinkEvent, LinkState, LinkStatus, Millis};
use sync_domain::project::{self, ProjectCommand, ProjectEvent, ProjectState};

use crate::aggregate::{decide_link, decide_project};
use crate::cache::LinkCache;
use crate::error::{EventLocation, Result, StoreError};
use crate::model::*;
use crate::projection::{link_rows, LinkRows};

const LINK: &str = "link";
const PROJECT: &str = "project";
/// The consumer name of the projection catch-up.
pub const PROJECTOR: &str = "projections";
/// Rows per multi-row insert (well under both databases' parameter limits).
const CHUNK: usize = 500;
/// Events per page when replaying the log.
const PAGE: i64 = 5000;

/// The durable event log of jira-sync and its projections. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    config: StoreConfig,
    kind: BackendKind,
    faults: StoreFaults,
    /// Link states this process loaded or wrote lately (shared by every handle).
    cache: Arc<LinkCache>,
    /// SQLite file: taken by this process's writers, so that they queue here instead of in
    /// SQLite's busy handler (which sleeps 1, 2, 5, ... ms between tries). `None` elsewhere.
    write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

#[derive(Clone)]
enum Backend {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Expands `$body` once per backend with `$pool` bound to the concrete pool and `$Db` to the
/// concrete database type.
macro_rules! on_db {
    ($store:expr, $pool:ident, $Db:ident => $body:expr) => {{
        $store.inner.faults.check()?;
        match &$store.inner.backend {
            Backend::Postgres($pool) => {
                #[allow(dead_code, reason = "not every body names the database type")]
                type $Db = sqlx::Postgres;
                $body
            }
            Backend::Sqlite($pool) => {
                #[allow(dead_code, reason = "not every body names the database type")]
                type $Db = sqlx::Sqlite;
                $body
            }
        }
    }};
}

/// An event row as stored.
#[derive(sqlx::FromRow)]
struct RawEvent {
    txid: i64,
    global_position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
    recorded_at: i64,
}

const EVENT_COLUMNS: &str = "txid, global_position, aggregate_type, aggregate_id, sequence, \
    event_type, event_version, CAST(payload AS TEXT) AS payload, \
    CAST(metadata AS TEXT) AS metadata, recorded_at";

impl RawEvent {
    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::CorruptEvent {
            at: Box::new(EventLocation {
                position: self.global_position,
                aggregate_type: self.aggregate_type.clone(),
                aggregate_id: self.aggregate_id.clone(),
                sequence: self.sequence,
                event_type: self.event_type.clone(),
                event_version: self.event_version.clone(),
            }),
            reason: reason.into(),
        }
    }

    /// Reads the event; the one place where upcasters go when an event's shape changes.
    fn decode(self) -> Result<Recorded<AnyEvent>> {
        if self.event_version != "1" {
            return Err(self.corrupt("unknown event version (no upcaster)"));
        }
        let event = match self.aggregate_type.as_str() {
            LINK => {
                let e: LinkEvent =
                    serde_json::from_str(&self.payload).map_err(|e| self.corrupt(e.to_string()))?;
                if e.event_type() != self.event_type {
                    return Err(self.corrupt("payload type differs from event_type"));
                }
                AnyEvent::Link(e)
            }
            PROJECT => {
                let e: ProjectEvent =
                    serde_json::from_str(&self.payload).map_err(|e| self.corrupt(e.to_string()))?;
                if e.event_type() != self.event_type {
                    return Err(self.corrupt("payload type differs from event_type"));
                }
                AnyEvent::Project(e)
            }
            _ => return Err(self.corrupt("unknown aggregate type")),
        };
        let metadata: EventMetadata = serde_json::from_str(&self.metadata)
            .map_err(|e| self.corrupt(format!("metadata: {e}")))?;
        Ok(Recorded {
            cursor: Cursor {
                txid: self.txid,
                position: self.global_position,
            },
            aggregate_id: self.aggregate_id,
            sequence: self.sequence as u64,
            event,
            metadata,
            recorded_at: self.recorded_at,
        })
    }

    fn decode_link(self) -> Result<Recorded<LinkEvent>> {
        let r = self.decode()?;
        match r.event {
            AnyEvent::Link(e) => Ok(Recorded {
                cursor: r.cursor,
                aggregate_id: r.aggregate_id,
                sequence: r.sequence,
                event: e,
                metadata: r.metadata,
                recorded_at: r.recorded_at,
            }),
            AnyEvent::Project(e) => Err(StoreError::CorruptEvent {
                at: Box::new(EventLocation {
                    position: r.cursor.position,
                    aggregate_type: PROJECT.into(),
                    aggregate_id: r.aggregate_id,
                    sequence: r.sequence as i64,
                    event_type: e.event_type().into(),
                    event_version: e.event_version().into(),
                }),
                reason: "a project event where a link event was expected".into(),
            }),
        }
    }
}

#[derive(sqlx::FromRow)]
struct LinkViewRow {
    link_id: String,
    project_id: String,
    work_item_id: Option<String>,
    issue_id: Option<String>,
    issue_key: Option<String>,
    status: String,
    last_synced_at: Option<i64>,
    open_conflicts: i64,
    open_intents: i64,
    intents_emitted: i64,
    next_due_at: Option<i64>,
    seq: i64,
}

const LINK_VIEW_COLUMNS: &str = "link_id, project_id, work_item_id, issue_id, issue_key, status, \
    last_synced_at, open_conflicts, open_intents, intents_emitted, next_due_at, seq";

impl LinkViewRow {
    fn into_view(self) -> Result<LinkView> {
        let status: LinkStatus = serde_json::from_value(serde_json::Value::String(self.status))?;
        Ok(LinkView {
            link_id: self.link_id,
            project_id: self.project_id,
            work_item_id: self.work_item_id,
            issue_id: self.issue_id,
            issue_key: self.issue_key,
            status,
            last_synced_at: self.last_synced_at,
            open_conflicts: self.open_conflicts as u64,
            open_intents: self.open_intents as u64,
            intents_emitted: self.intents_emitted as u64,
            next_due_at: self.next_due_at,
            sequence: self.seq as u64,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ConflictRow {
    link_id: String,
    project_id: String,
    conflict: String,
}

#[derive(sqlx::FromRow)]
struct QueueRow {
    link_id: String,
    seq: i64,
    due_at: i64,
    attempts: i64,
    intent: String,
}

impl QueueRow {
    fn into_queued(self) -> Result<QueuedIntent> {
        Ok(QueuedIntent {
            link_id: self.link_id,
            seq: self.seq as u64,
            due_at: self.due_at,
            attempts: self.attempts as u32,
            intent: serde_json::from_str(&self.intent)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct InboxRow {
    delivery_id: String,
    source: String,
    body: String,
    received_at: i64,
    processed_at: Option<i64>,
    outcome: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RejectedRow {
    source: String,
    delivery_id: Option<String>,
    reason: String,
    body: String,
    received_at: i64,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    link_id: String,
    intent_id: String,
    direction: String,
    kind: String,
    started_at: i64,
    duration_ms: i64,
    outcome: String,
    error: Option<String>,
}

fn parse_source(s: &str) -> Result<Source> {
    Ok(serde_json::from_value(serde_json::Value::String(
        s.to_string(),
    ))?)
}

fn status_str(s: LinkStatus) -> &'static str {
    s.as_str()
}

/// Whether `e` says a row with the same key exists: another writer committed first.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The columns of an `events` insert; [`bind_event_row`] binds one row of them.
const EVENT_INSERT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, \
                            event_type, event_version, payload, metadata, recorded_at) ";
/// The columns of a `link_view` insert; [`bind_view_row`] binds one row of them.
const VIEW_INSERT: &str = "INSERT INTO link_view (link_id, project_id, work_item_id, issue_id, \
                           issue_key, status, last_synced_at, open_conflicts, open_intents, \
                           intents_emitted, next_due_at, seq) ";
/// A `link_view` upsert replaces the row only with a later sequence.
const VIEW_UPSERT: &str = " ON CONFLICT (link_id) DO UPDATE SET project_id = excluded.project_id, \
     work_item_id = excluded.work_item_id, issue_id = excluded.issue_id, \
     issue_key = excluded.issue_key, status = excluded.status, \
     last_synced_at = excluded.last_synced_at, open_conflicts = excluded.open_conflicts, \
     open_intents = excluded.open_intents, intents_emitted = excluded.intents_emitted, \
     next_due_at = excluded.next_due_at, seq = excluded.seq \
     WHERE link_view.seq < excluded.seq";
/// A snapshot upsert replaces the stored one only with a later sequence (after `VALUES (...`).
const SNAPSHOT_UPSERT: &str = ") ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
     last_sequence = excluded.last_sequence, payload = excluded.payload, \
     current_snapshot = snapshots.current_snapshot + 1 \
     WHERE snapshots.last_sequence < excluded.last_sequence";
/// The columns of a `conflict_view` insert; [`bind_conflict_row`] binds one row of them.
const CONFLICT_COLUMNS: &str = "(link_id, conflict_id, project_id, field, conflict, detected_at)";
/// The columns of an `intent_queue` insert; [`bind_queue_row`] binds one row of them.
const QUEUE_COLUMNS: &str = "(link_id, intent_id, seq, due_at, attempts, intent)";

/// Binds one event row of [`EVENT_INSERT`] in a `push_values` closure.
macro_rules! bind_event_row {
    ($b:expr, $agg_type:expr, $agg_id:expr, $seq:expr, $ty:expr, $payload:expr, $meta:expr, $at:expr) => {
        $b.push_bind($agg_type)
            .push_bind($agg_id)
            .push_bind($seq)
            .push_bind($ty)
            .push_bind("1")
            .push_bind(Json($payload))
            .push_bind(Json($meta))
            .push_bind($at)
    };
}

/// Binds one link view row of [`VIEW_INSERT`] in a `push_values` closure.
macro_rules! bind_view_row {
    ($b:expr, $v:expr) => {{
        let v: &LinkView = $v;
        $b.push_bind(&v.link_id)
            .push_bind(&v.project_id)
            .push_bind(&v.work_item_id)
            .push_bind(&v.issue_id)
            .push_bind(&v.issue_key)
            .push_bind(status_str(v.status))
            .push_bind(v.last_synced_at)
            .push_bind(v.open_conflicts as i64)
            .push_bind(v.open_intents as i64)
            .push_bind(v.intents_emitted as i64)
            .push_bind(v.next_due_at)
            .push_bind(v.sequence as i64);
    }};
}

/// Binds one conflict row of [`CONFLICT_COLUMNS`] in a `push_values` closure.
macro_rules! bind_conflict_row {
    ($b:expr, $c:expr) => {{
        let c: &ConflictView = $c;
        $b.push_bind(&c.link_id)
            .push_bind(&c.conflict.id)
            .push_bind(&c.project_id)
            .push_bind(&c.conflict.field)
            .push_bind(Json(&c.conflict))
            .push_bind(c.conflict.detected_at);
    }};
}

/// Binds one queue row of [`QUEUE_COLUMNS`] in a `push_values` closure.
macro_rules! bind_queue_row {
    ($b:expr, $q:expr) => {{
        let q: &QueuedIntent = $q;
        $b.push_bind(&q.link_id)
            .push_bind(&q.intent.id)
            .push_bind(q.seq as i64)
            .push_bind(q.due_at)
            .push_bind(q.attempts as i64)
            .push_bind(Json(&q.intent));
    }};
}

/// Inserts events `expected+1 ..` of one aggregate, in multi-row statements.
macro_rules! insert_events {
    ($Db:ident, $conn:expr, $agg_type:expr, $agg_id:expr, $expected:expr, $events:expr, $meta:expr, $at:expr) => {{
        let mut seq = $expected as i64;
        for chunk in $events.chunks(CHUNK) {
            let mut qb: QueryBuilder<'_, $Db> = QueryBuilder::new(EVENT_INSERT);
            qb.push_values(chunk, |mut b, (ty, payload)| {
                seq += 1;
                bind_event_row!(b, $agg_type, $agg_id, seq, *ty, payload, $meta, $at);
            });
            qb.build().execute(&mut *$conn).await?;
        }
    }};
}

/// Replaces one link's projection rows, unless rows of a later sequence are already there.
macro_rules! write_link_rows {
    ($Db:ident, $conn:expr, $rows:expr) => {{
        let rows: &LinkRows = $rows;
        let v = &rows.view;
        let mut qb: QueryBuilder<'_, $Db> = QueryBuilder::new(VIEW_INSERT);
        qb.push_values([v], |mut b, v| bind_view_row!(b, v));
        qb.push(VIEW_UPSERT);
        let changed = qb.build().execute(&mut *$conn).await?.rows_affected();
        if changed > 0 {
            sqlx::query("DELETE FROM conflict_view WHERE link_id = $1")
                .bind(&v.link_id)
                .execute(&mut *$conn)
                .await?;
            sqlx::query("DELETE FROM intent_queue WHERE link_id = $1")
                .bind(&v.link_id)
                .execute(&mut *$conn)
                .await?;
            insert_detail_rows!($Db, $conn, std::slice::from_ref(rows));
        }
    }};
}

/// Inserts the conflict and queue rows of several links (their old rows must be gone).
macro_rules! insert_detail_rows {
    ($Db:ident, $conn:expr, $rows:expr) => {{
        let rows: &[LinkRows] = $rows;
        let conflicts: Vec<&ConflictView> = rows.iter().flat_map(|r| &r.conflicts).collect();
        for chunk in conflicts.chunks(CHUNK) {
            let mut qb: QueryBuilder<'_, $Db> =
                QueryBuilder::new(format!("INSERT INTO conflict_view {CONFLICT_COLUMNS} "));
            qb.push_values(chunk, |mut b, c| bind_conflict_row!(b, c));
            qb.build().execute(&mut *$conn).await?;
        }
        let queue: Vec<&QueuedIntent> = rows.iter().flat_map(|r| &r.queue).collect();
        for chunk in queue.chunks(CHUNK) {
            let mut qb: QueryBuilder<'_, $Db> =
                QueryBuilder::new(format!("INSERT INTO intent_queue {QUEUE_COLUMNS} "));
            qb.push_values(chunk, |mut b, q| bind_queue_row!(b, q));
            qb.build().execute(&mut *$conn).await?;
        }
    }};
}

/// Inserts the link views of several links (their old rows must be gone).
macro_rules! insert_link_views {
    ($Db:ident, $conn:expr, $rows:expr) => {{
        let rows: &[LinkRows] = $rows;
        for chunk in rows.chunks(CHUNK) {
            let mut qb: QueryBuilder<'_, $Db> = QueryBuilder::new(VIEW_INSERT);
            qb.push_values(chunk, |mut b, r| bind_view_row!(b, &r.view));
            qb.build().execute(&mut *$conn).await?;
        }
        insert_detail_rows!($Db, $conn, rows);
    }};
}

macro_rules! save_cursor {
    ($conn:expr, $consumer:expr, $cursor:expr) => {{
        let c: Cursor = $cursor;
        sqlx::query(
            "INSERT INTO consumer_cursors (consumer, txid, position) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer) DO UPDATE SET txid = excluded.txid, position = excluded.position",
        )
        .bind($consumer)
        .bind(c.txid)
        .bind(c.position)
        .execute(&mut *$conn)
        .await?;
    }};
}

/// A test seam: makes the store's database statements fail with a connection error, as
/// when the database is unreachable, without touching the database. Simulations use it for
/// store outages and to stop a "crashed" process from writing anything more. Inactive unless
/// a test turns it on.
#[derive(Clone, Debug, Default)]
pub struct StoreFaults(Arc<FaultState>);

#[derive(Debug, Default)]
struct FaultState {
    fail_next: std::sync::atomic::AtomicU64,
    down: std::sync::atomic::AtomicBool,
    injected: std::sync::atomic::AtomicU64,
}

impl StoreFaults {
    /// The next `n` statements (one per database round trip or transaction) fail.
    pub fn fail_next(&self, n: u64) {
        self.0
            .fail_next
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// While `down`, every statement fails.
    pub fn set_down(&self, down: bool) {
        self.0.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many statements failed by injection so far.
    pub fn injected(&self) -> u64 {
        self.0.injected.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn check(&self) -> Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let fail = self.0.down.load(SeqCst)
            || self
                .0
                .fail_next
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if fail {
            self.0.injected.fetch_add(1, SeqCst);
            return Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected: the connection to the database was lost",
            ))));
        }
        Ok(())
    }
}

/// The newest event every reader can see for good: on PostgreSQL only transactions older than
/// every running one count.
const PG_SAFE: &str = "txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

impl Store {
    /// Opens the store a URL names, with the default settings: `postgres://…`,
    /// `sqlite://path` (the file is created on first start) or `memory://` (tests). Applies the
    /// schema migrations.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, StoreConfig::default()).await
    }

    /// Opens the store a URL names with these settings.
    pub async fn open_with(url: &str, config: StoreConfig) -> Result<Store> {
        let (backend, kind) = if url.starts_with("postgres://") || url.starts_with("postgresql://")
        {
            let mut opts = PgConnectOptions::from_str(url)?;
            if let Some(schema) = &config.pg_schema {
                if schema.is_empty()
                    || !schema
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(StoreError::InvalidSchema(schema.clone()));
                }
                let mut conn = sqlx::PgConnection::connect_with(&opts).await?;
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                opts = opts.options([("search_path", schema.as_str())]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(opts)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            (Backend::Postgres(pool), BackendKind::Postgres)
        } else if url.starts_with("sqlite:") || url.starts_with("memory:") {
            let memory = url.starts_with("memory:") || url.contains(":memory:");
            let (opts, pool_opts) = if memory {
                (
                    SqliteConnectOptions::from_str("sqlite::memory:")?,
                    // One connection: the database lives as long as it does.
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None),
                )
            } else {
                (
                    SqliteConnectOptions::from_str(url)?
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal),
                    SqlitePoolOptions::new().max_connections(config.max_connections.max(1)),
                )
            };
            let opts = opts.busy_timeout(Duration::from_secs(30));
            let pool = pool_opts
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(opts)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            let kind = if memory {
                BackendKind::Memory
            } else {
                BackendKind::Sqlite
            };
            (Backend::Sqlite(pool), kind)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                config,
                kind,
                faults: StoreFaults::default(),
                cache: Arc::default(),
                write_lock: (kind == BackendKind::Sqlite).then(Arc::default),
            }),
        })
    }

    /// Which database the store runs on.
    pub fn backend(&self) -> BackendKind {
        self.inner.kind
    }

    /// The same store (same connections) with other settings for the commands run through the
    /// returned handle; `pg_schema` and `max_connections` have no effect here.
    pub fn with_config(&self, config: StoreConfig) -> Store {
        Store {
            inner: Arc::new(Inner {
                backend: self.inner.backend.clone(),
                config,
                kind: self.inner.kind,
                faults: self.inner.faults.clone(),
                cache: self.inner.cache.clone(),
                write_lock: self.inner.write_lock.clone(),
            }),
        }
    }

    /// The link's snapshot, when one was written.
    pub async fn snapshot(&self, link_id: &str) -> Result<Option<LoadedLink>> {
        let snapshot: Option<(i64, String)> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT last_sequence, CAST(payload AS TEXT) FROM snapshots \
                 WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(LINK)
            .bind(link_id)
            .fetch_optional(pool)
            .await?
        });
        snapshot
            .map(|(seq, payload)| {
                Ok(LoadedLink {
                    state: serde_json::from_str(&payload)?,
                    sequence: seq as u64,
                })
            })
            .transpose()
    }

    /// The schema version: the newest migration applied (0 before any).
    pub async fn schema_version(&self) -> Result<i64> {
        let v: (Option<i64>,) = on_db!(self, pool, _Db => {
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await?
        });
        Ok(v.0.unwrap_or(0))
    }

    /// The store's settings.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Closes the connections.
    pub async fn close(&self) {
        match &self.inner.backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite(pool) => pool.close().await,
        }
    }

    /// The test seam that makes database statements fail as if the connection were lost
    /// (shared by every handle of this store).
    pub fn faults(&self) -> &StoreFaults {
        &self.inner.faults
    }

    /// Waits for this process's turn to write (SQLite file only; `None` elsewhere).
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.inner.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    // ----- the link aggregate -----

    /// Runs a command on a link: loads its state, decides, appends the events with an
    /// optimistic check on the link's sequence and updates the projections in the same
    /// transaction (or leaves them to [`Store::catch_up`]). When another writer commits first,
    /// reloads and decides again, at most `max_attempts` times. Returns the events appended
    /// (none when the command changes nothing).
    ///
    /// The state comes from the process's cache of link states when it holds the link: an
    /// append from a stale state fails its sequence check like any concurrent write and is
    /// decided again from the log, and an answer that appends nothing (no events, or the
    /// domain's refusal) counts only once the log's last sequence is the cached one.
    pub async fn execute(
        &self,
        link_id: &str,
        cmd: LinkCommand,
        meta: &EventMetadata,
        at: Millis,
    ) -> Result<Vec<LinkEvent>> {
        Ok(self.execute_loaded(link_id, cmd, meta, at).await?.0)
    }

    /// [`Store::execute`], also returning the link's state after the command (the state the
    /// events were appended to and decided from, when there were none).
    pub async fn execute_loaded(
        &self,
        link_id: &str,
        cmd: LinkCommand,
        meta: &EventMetadata,
        at: Millis,
    ) -> Result<(Vec<LinkEvent>, Arc<LoadedLink>)> {
        let cache = &self.inner.cache;
        let attempts = self.inner.config.max_attempts.max(1);
        let mut attempt = 1;
        let mut use_cache = true;
        while attempt <= attempts {
            let (loaded, cached) = match use_cache.then(|| cache.get(link_id)).flatten() {
                Some(l) => (l, true),
                None => {
                    let l = Arc::new(self.load(link_id).await?);
                    cache.put(link_id, l.clone());
                    (l, false)
                }
            };
            let decided = decide_link(&loaded.state, cmd.clone());
            let appends = matches!(&decided, Ok((events, _)) if !events.is_empty());
            if cached && !appends && self.last_sequence(link_id).await? != loaded.sequence {
                // Decided from a stale state: decide again from the log (not an attempt).
                cache.forget(link_id);
                use_cache = false;
                continue;
            }
            let (events, state) = decided?;
            if events.is_empty() {
                return Ok((events, loaded));
            }
            match self
                .append_link(link_id, loaded.sequence, &events, &state, meta, at)
                .await
            {
                Ok(sequence) => {
                    let after = Arc::new(LoadedLink { state, sequence });
                    cache.put(link_id, after.clone());
                    return Ok((events, after));
                }
                Err(StoreError::Conflict { .. }) => {
                    cache.forget(link_id);
                    use_cache = false;
                    if attempt < attempts {
                        tokio::task::yield_now().await;
                    }
                }
                Err(e) => {
                    cache.forget(link_id);
                    return Err(e);
                }
            }
            attempt += 1;
        }
        Err(StoreError::Contention {
            aggregate_id: link_id.to_string(),
            attempts,
        })
    }

    /// The sequence of a link's last event (0 when it has none).
    async fn last_sequence(&self, link_id: &str) -> Result<u64> {
        let (seq,): (Option<i64>,) = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT MAX(sequence) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(LINK)
            .bind(link_id)
            .fetch_one(pool)
            .await?
        });
        Ok(seq.unwrap_or(0) as u64)
    }

    /// Appends events to a link that must be at sequence `expected` (importers, benchmarks);
    /// no decision is made. Returns the new sequence, or [`StoreError::Conflict`].
    pub async fn append(
        &self,
        link_id: &str,
        expected: u64,
        events: &[LinkEvent],
        meta: &EventMetadata,
        at: Millis,
    ) -> Result<u64> {
        let loaded = self.load(link_id).await?;
        if loaded.sequence != expected {
            return Err(StoreError::Conflict {
                aggregate_id: link_id.to_string(),
                expected,
            });
        }
        let mut state = loaded.state;
        for e in events {
            evolve(&mut state, e);
        }
        match self
            .append_link(link_id, expected, events, &state, meta, at)
            .await
        {
            Ok(sequence) => {
                let after = Arc::new(LoadedLink { state, sequence });
                self.inner.cache.put(link_id, after);
                Ok(sequence)
            }
            Err(e) => {
                self.inner.cache.forget(link_id);
                Err(e)
            }
        }
    }

    async fn append_link(
        &self,
        link_id: &str,
        expected: u64,
        events: &[LinkEvent],
        state: &LinkState,
        meta: &EventMetadata,
        at: Millis,
    ) -> Result<u64> {
        let new_seq = expected + events.len() as u64;
        let typed: Vec<(&str, &LinkEvent)> = events.iter().map(|e| (e.event_type(), e)).collect();
        let every = self.inner.config.snapshot_every;
        let snapshot = every > 0 && new_seq / every > expected / every;
        let rows = (self.inner.config.projections == ProjectionMode::Inline)
            .then(|| link_rows(link_id, state, new_seq));
        let conflict = || StoreError::Conflict {
            aggregate_id: link_id.to_string(),
            expected,
        };
        if let Backend::Postgres(pool) = &self.inner.backend {
            let rows_n = rows
                .as_ref()
                .map_or(0, |r| r.conflicts.len() + r.queue.len());
            if typed.len() + rows_n <= CHUNK {
                self.inner.faults.check()?;
                let snapshot = snapshot.then_some(state);
                return match append_pg(
                    pool,
                    link_id,
                    expected,
                    &typed,
                    snapshot,
                    rows.as_ref(),
                    meta,
                    at,
                )
                .await
                {
                    Ok(()) => Ok(new_seq),
                    Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(conflict()),
                    Err(e) => Err(e),
                };
            }
        }
        let _turn = self.write_turn().await;
        if let Backend::Sqlite(pool) = &self.inner.backend {
            let rows_n = rows
                .as_ref()
                .map_or(0, |r| r.conflicts.len() + r.queue.len());
            if typed.len() + rows_n <= CHUNK {
                self.inner.faults.check()?;
                let snapshot = snapshot.then_some(state);
                return match append_sqlite(
                    pool,
                    link_id,
                    expected,
                    &typed,
                    snapshot,
                    rows.as_ref(),
                    meta,
                    at,
                )
                .await
                {
                    Ok(()) => Ok(new_seq),
                    Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(conflict()),
                    Err(e) => Err(e),
                };
            }
        }
        let result: Result<()> = on_db!(self, pool, Db => {
            let mut tx = pool.begin().await?;
            let r: Result<()> = async {
                insert_events!(Db, tx, LINK, link_id, expected, &typed, meta, at);
                Ok(())
            }
            .await;
            match r {
                Err(StoreError::Database(e)) if is_unique_violation(&e) => return Err(conflict()),
                other => other?,
            }
            if snapshot {
                sqlx::query(
                    "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, \
                     current_snapshot, payload) VALUES ($1, $2, $3, 1, $4) \
                     ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
                     last_sequence = excluded.last_sequence, payload = excluded.payload, \
                     current_snapshot = snapshots.current_snapshot + 1 \
                     WHERE snapshots.last_sequence < excluded.last_sequence",
                )
                .bind(LINK)
                .bind(link_id)
                .bind(new_seq as i64)
                .bind(Json(state))
                .execute(&mut *tx)
                .await?;
            }
            if let Some(rows) = &rows {
                write_link_rows!(Db, tx, rows);
            }
            match tx.commit().await {
                Err(e) if is_unique_violation(&e) => Err(conflict()),
                other => Ok(other?),
            }
        });
        result.map(|()| new_seq)
    }

    /// A link's current state: from its snapshot, then the events after it (each event is
    /// applied once).
    pub async fn load(&self, link_id: &str) -> Result<LoadedLink> {
        let mut loaded = self.snapshot(link_id).await?.unwrap_or_default();
        let after = loaded.sequence as i64;
        for r in self.link_events(link_id, after, None).await? {
            evolve(&mut loaded.state, &r.event);
            loaded.sequence = r.sequence;
        }
        Ok(loaded)
    }

    /// A link's current state folded from all its events, ignoring snapshots.
    pub async fn load_from_log(&self, link_id: &str) -> Result<LoadedLink> {
        self.state_at(link_id, At::Sequence(u64::MAX)).await
    }

    async fn link_events(
        &self,
        link_id: &str,
        after: i64,
        upto: Option<i64>,
    ) -> Result<Vec<Recorded<LinkEvent>>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             AND sequence > $3 AND sequence <= $4 ORDER BY sequence"
        );
        let raws: Vec<RawEvent> = on_db!(self, pool, _Db => {
            sqlx::query_as(&sql)
                .bind(LINK)
                .bind(link_id)
                .bind(after)
                .bind(upto.unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await?
        });
        raws.into_iter().map(RawEvent::decode_link).collect()
    }

    /// The full history of a link: every event with its metadata (source, actor, delivery,
    /// correlation) and the time it was recorded.
    pub async fn history(&self, link_id: &str) -> Result<Vec<Recorded<LinkEvent>>> {
        self.link_events(link_id, 0, None).await
    }

    /// The state of a link after a sequence number, or as it was at a time.
    pub async fn state_at(&self, link_id: &str, at: At) -> Result<LoadedLink> {
        let events = match at {
            At::Sequence(n) => {
                self.link_events(link_id, 0, Some(n.min(i64::MAX as u64) as i64))
                    .await?
            }
            At::Time(t) => {
                let all = self.link_events(link_id, 0, None).await?;
                all.into_iter().take_while(|r| r.recorded_at <= t).collect()
            }
        };
        let mut loaded = LoadedLink::default();
        for r in &events {
            evolve(&mut loaded.state, &r.event);
            loaded.sequence = r.sequence;
        }
        Ok(loaded)
    }

    // ----- the project aggregate -----

    /// Runs a command on a project (its mapping history), with the same optimistic check and
    /// bounded retry as [`Store::execute`].
    pub async fn project_execute(
        &self,
        project_id: &str,
        cmd: ProjectCommand,
        meta: &EventMetadata,
        at: Millis,
    ) -> Result<Vec<ProjectEvent>> {
        let attempts = self.inner.config.max_attempts.max(1);
        for _ in 0..attempts {
            let (state, seq) = self.project_load_seq(project_id).await?;
            let (events, _) = decide_project(&state, cmd.clone())?;
            if events.is_empty() {
                return Ok(events);
            }
            let typed: Vec<(&str, &ProjectEvent)> =
                events.iter().map(|e| (e.event_type(), e)).collect();
            let r: Result<()> = on_db!(self, pool, Db => {
                let mut tx = pool.begin().await?;
                insert_events!(Db, tx, PROJECT, project_id, seq, &typed, meta, at);
                tx.commit().await?;
                Ok(())
            });
            match r {
                Ok(()) => return Ok(events),
                Err(StoreError::Database(e)) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Contention {
            aggregate_id: project_id.to_string(),
            attempts,
        })
    }

    /// A project's state: its mapping history.
    pub async fn project_load(&self, project_id: &str) -> Result<ProjectState> {
        Ok(self.project_load_seq(project_id).await?.0)
    }

    async fn project_load_seq(&self, project_id: &str) -> Result<(ProjectState, u64)> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             ORDER BY sequence"
        );
        let raws: Vec<RawEvent> = on_db!(self, pool, _Db => {
            sqlx::query_as(&sql).bind(PROJECT).bind(project_id).fetch_all(pool).await?
        });
        let mut state = ProjectState::default();
        let mut seq = 0;
        for raw in raws {
            let r = raw.decode()?;
            if let AnyEvent::Project(e) = &r.event {
                project::evolve(&mut state, e);
            }
            seq = r.sequence;
        }
        Ok((state, seq))
    }

    // ----- the global log and cursors -----

    /// Up to `limit` events after `after` in the global order, of both aggregates. On
    /// PostgreSQL only events of transactions older than every running one are returned, so a
    /// consumer that saves the last cursor it handled never skips an event committed late by
    /// a concurrent writer.
    pub async fn events_after(&self, after: Cursor, limit: u32) -> Result<Vec<Recorded<AnyEvent>>> {
        self.raw_after(after, limit, true)
            .await?
            .into_iter()
            .map(RawEvent::decode)
            .collect()
    }

    async fn raw_after(&self, after: Cursor, limit: u32, payload: bool) -> Result<Vec<RawEvent>> {
        let cols = if payload {
            EVENT_COLUMNS
        } else {
            "txid, global_position, aggregate_type, aggregate_id, sequence, event_type, \
             event_version, '' AS payload, '' AS metadata, recorded_at"
        };
        let sql = format!(
            "SELECT {cols} FROM events WHERE {} ORDER BY txid, global_position LIMIT $3",
            self.after_clause()
        );
        Ok(on_db!(self, pool, _Db => {
            sqlx::query_as(&sql)
                .bind(after.txid)
                .bind(after.position)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }))
    }

    /// The cursor a consumer saved (the start of the log when none).
    pub async fn cursor(&self, consumer: &str) -> Result<Cursor> {
        let row: Option<(i64, i64)> = on_db!(self, pool, _Db => {
            sqlx::query_as("SELECT txid, position FROM consumer_cursors WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(pool)
                .await?
        });
        Ok(row
            .map(|(txid, position)| Cursor { txid, position })
            .unwrap_or_default())
    }

    /// Saves a consumer's cursor: the last event it has handled.
    pub async fn save_cursor(&self, consumer: &str, cursor: Cursor) -> Result<()> {
        on_db!(self, pool, _Db => {
            let mut conn = pool.acquire().await?;
            save_cursor!(conn, consumer, cursor);
        });
        Ok(())
    }

    // ----- projections -----

    /// Brings the projections up to the log: every link with events after the projector's
    /// cursor whose view is behind is projected again from its state. Heals a crash between a
    /// commit and its projection update, and is what keeps projections current in
    /// [`ProjectionMode::CatchUp`]. Returns how many events it went past.
    pub async fn catch_up(&self) -> Result<u64> {
        let mut cursor = self.cursor(PROJECTOR).await?;
        let mut seen = 0u64;
        loop {
            let batch = self.raw_after(cursor, 1000, false).await?;
            let Some(last) = batch.last() else { break };
            let last = Cursor {
                txid: last.txid,
                position: last.global_position,
            };
            let mut latest: BTreeMap<&str, i64> = BTreeMap::new();
            for r in batch.iter().filter(|r| r.aggregate_type == LINK) {
                let e = latest.entry(r.aggregate_id.as_str()).or_insert(0);
                *e = (*e).max(r.sequence);
            }
            for (link_id, seq) in latest {
                self.reproject_if_behind(link_id, seq as u64).await?;
            }
            seen += batch.len() as u64;
            cursor = last;
            self.save_cursor(PROJECTOR, cursor).await?;
        }
        Ok(seen)
    }

    async fn reproject_if_behind(&self, link_id: &str, seq: u64) -> Result<()> {
        if let Some(v) = self.link_view(link_id).await? {
            if v.sequence >= seq {
                return Ok(());
            }
        }
        let loaded = self.load(link_id).await?;
        let rows = link_rows(link_id, &loaded.state, loaded.sequence);
        on_db!(self, pool, Db => {
            let mut tx = pool.begin().await?;
            write_link_rows!(Db, tx, &rows);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Rebuilds every projection from the log, in one transaction: folds each link's events
    /// from the first and writes its rows. Idempotent. A stored event that cannot be read stops
    /// it with [`StoreError::CorruptEvent`] and leaves the projections as they were. Returns
    /// the number of events replayed.
    pub async fn rebuild_projections(&self) -> Result<u64> {
        let head = self.safe_head().await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 \
             AND (aggregate_id, sequence) > ($2, $3) ORDER BY aggregate_id, sequence LIMIT $4"
        );
        let replayed = on_db!(self, pool, Db => {
            let mut tx = pool.begin().await?;
            for table in ["link_view", "conflict_view", "intent_queue"] {
                sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
            }
            let mut replayed = 0u64;
            let mut after = (String::new(), 0i64);
            let mut current: Option<(String, LinkState, u64)> = None;
            let mut pending: Vec<LinkRows> = Vec::new();
            loop {
                let page: Vec<RawEvent> = sqlx::query_as(&sql)
                    .bind(LINK)
                    .bind(&after.0)
                    .bind(after.1)
                    .bind(PAGE)
                    .fetch_all(&mut *tx)
                    .await?;
                let Some(last) = page.last() else { break };
                after = (last.aggregate_id.clone(), last.sequence);
                for raw in page {
                    let r = raw.decode_link()?;
                    replayed += 1;
                    match &mut current {
                        Some((id, state, seq)) if *id == r.aggregate_id => {
                            evolve(state, &r.event);
                            *seq = r.sequence;
                        }
                        _ => {
                            if let Some((id, state, seq)) = current.take() {
                                pending.push(link_rows(&id, &state, seq));
                            }
                            let mut state = LinkState::default();
                            evolve(&mut state, &r.event);
                            current = Some((r.aggregate_id, state, r.sequence));
                        }
                    }
                }
                if pending.len() >= CHUNK {
                    insert_link_views!(Db, tx, &pending);
                    pending.clear();
                }
            }
            if let Some((id, state, seq)) = current.take() {
                pending.push(link_rows(&id, &state, seq));
            }
            insert_link_views!(Db, tx, &pending);
            save_cursor!(tx, PROJECTOR, head);
            tx.commit().await?;
            Ok::<u64, StoreError>(replayed)
        })?;
        // Every projection row was rewritten: refresh the planner's statistics, so that the
        // plans of the look-ups are made for the tables as they are now, not as they were
        // before (e.g. empty, before a bulk import).
        if let Backend::Postgres(pool) = &self.inner.backend {
            sqlx::query("ANALYZE link_view, conflict_view, intent_queue")
                .execute(pool)
                .await?;
        }
        Ok(replayed)
    }

    /// Reads every event of the log in order and folds each link, without writing anything:
    /// how fast the log replays. Returns the number of events.
    pub async fn replay_all(&self) -> Result<u64> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE {} ORDER BY txid, global_position LIMIT $3",
            self.after_clause()
        );
        let mut states: std::collections::HashMap<String, LinkState> = Default::default();
        let mut after = Cursor::default();
        let mut n = 0u64;
        loop {
            let page: Vec<RawEvent> = on_db!(self, pool, _Db => {
                sqlx::query_as(&sql)
                    .bind(after.txid)
                    .bind(after.position)
                    .bind(PAGE)
                    .fetch_all(pool)
                    .await?
            });
            let Some(last) = page.last() else { break };
            after = Cursor {
                txid: last.txid,
                position: last.global_position,
            };
            for raw in page {
                let r = raw.decode()?;
                n += 1;
                if let AnyEvent::Link(e) = &r.event {
                    evolve(states.entry(r.aggregate_id).or_default(), e);
                }
            }
        }
        Ok(n)
    }

    /// Events after the cursor `($1, $2)` that every reader can see for good. On SQLite the txid
    /// is always 0, and the plain position range lets it walk the rowid.
    fn after_clause(&self) -> String {
        match self.inner.backend {
            Backend::Postgres(_) => format!("(txid, global_position) > ($1, $2) AND {PG_SAFE}"),
            Backend::Sqlite(_) => "txid >= $1 AND global_position > $2".to_string(),
        }
    }

    /// The last event every reader can see for good.
    async fn safe_head(&self) -> Result<Cursor> {
        let safe = match self.inner.backend {
            Backend::Postgres(_) => PG_SAFE,
            Backend::Sqlite(_) => "TRUE",
        };
        let sql = format!(
            "SELECT txid, global_position FROM events WHERE {safe} \
             ORDER BY txid DESC, global_position DESC LIMIT 1"
        );
        let row: Option<(i64, i64)> = on_db!(self, pool, _Db => {
            sqlx::query_as(&sql).fetch_optional(pool).await?
        });
        Ok(row
            .map(|(txid, position)| Cursor { txid, position })
            .unwrap_or_default())
    }

    /// Every projection's rows, sorted (for invariant 6: rebuild gives exactly these).
    pub async fn dump_projections(&self) -> Result<ProjectionDump> {
        let links: Vec<LinkViewRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(&format!("SELECT {LINK_VIEW_COLUMNS} FROM link_view ORDER BY link_id"))
                .fetch_all(pool)
                .await?
        });
        let conflicts: Vec<ConflictRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT link_id, project_id, CAST(conflict AS TEXT) AS conflict FROM conflict_view \
                 ORDER BY link_id, conflict_id",
            )
            .fetch_all(pool)
            .await?
        });
        let queue: Vec<QueueRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT link_id, seq, due_at, attempts, CAST(intent AS TEXT) AS intent \
                 FROM intent_queue ORDER BY link_id, intent_id",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(ProjectionDump {
            links: links
                .into_iter()
                .map(LinkViewRow::into_view)
                .collect::<Result<_>>()?,
            conflicts: conflicts
                .into_iter()
                .map(|c| {
                    Ok(ConflictView {
                        link_id: c.link_id,
                        project_id: c.project_id,
                        conflict: serde_json::from_str(&c.conflict)?,
                    })
                })
                .collect::<Result<_>>()?,
            queue: queue
                .into_iter()
                .map(QueueRow::into_queued)
                .collect::<Result<_>>()?,
        })
    }

    /// What is waiting to be done at `now`: unprocessed deliveries and links with a due
    /// intent. Two index range scans (`inbox_unprocessed`, `link_view_due`): unlike
    /// [`Store::dump_projections`] it does not read every link.
    pub async fn pending_work(&self, now: Millis) -> Result<PendingWork> {
        let (inbox, due): (i64, i64) = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL), \
                 (SELECT COUNT(*) FROM link_view WHERE next_due_at <= $1)",
            )
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        Ok(PendingWork {
            unprocessed_deliveries: u64::try_from(inbox).unwrap_or(0),
            links_due: u64::try_from(due).unwrap_or(0),
        })
    }

    async fn link_view_where(&self, column: &str, value: &str) -> Result<Option<LinkView>> {
        let sql = format!(
            "SELECT {LINK_VIEW_COLUMNS} FROM link_view WHERE {column} = $1 ORDER BY link_id LIMIT 1"
        );
        let row: Option<LinkViewRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(&sql).bind(value).fetch_optional(pool).await?
        });
        row.map(LinkViewRow::into_view).transpose()
    }

    async fn link_views_where(&self, column: &str, value: &str) -> Result<Vec<LinkView>> {
        let sql = format!(
            "SELECT {LINK_VIEW_COLUMNS} FROM link_view WHERE {column} = $1 ORDER BY link_id"
        );
        let rows: Vec<LinkViewRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(&sql).bind(value).fetch_all(pool).await?
        });
        rows.into_iter().map(LinkViewRow::into_view).collect()
    }

    /// Every link of a Jira issue id, by link id: an issue unlinked and linked again has
    /// several, and issue ids of different Jira sites can be equal.
    pub async fn links_by_issue(&self, issue_id: &str) -> Result<Vec<LinkView>> {
        self.link_views_where("issue_id", issue_id).await
    }

    /// Every link of a work item, by link id (an item unlinked and linked again has several).
    pub async fn links_by_work_item(&self, work_item_id: &str) -> Result<Vec<LinkView>> {
        self.link_views_where("work_item_id", work_item_id).await
    }

    /// The link view of a link id.
    pub async fn link_view(&self, link_id: &str) -> Result<Option<LinkView>> {
        self.link_view_where("link_id", link_id).await
    }

    /// The link of a work item (the id map, Handoff → Jira).
    pub async fn link_by_work_item(&self, work_item_id: &str) -> Result<Option<LinkView>> {
        self.link_view_where("work_item_id", work_item_id).await
    }

    /// The link of a Jira issue id (the id map, Jira → Handoff).
    pub async fn link_by_issue(&self, issue_id: &str) -> Result<Option<LinkView>> {
        self.link_view_where("issue_id", issue_id).await
    }

    /// The links of a project that are not unlinked, by link id, in one query (a link whose
    /// status changes meanwhile is still listed once).
    pub async fn live_links(&self, project_id: &str) -> Result<Vec<LinkView>> {
        let sql = format!(
            "SELECT {LINK_VIEW_COLUMNS} FROM link_view WHERE project_id = $1 AND status <> $2 \
             ORDER BY link_id"
        );
        let rows: Vec<LinkViewRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(&sql)
                .bind(project_id)
                .bind(LinkStatus::Unlinked.as_str())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(LinkViewRow::into_view).collect()
    }

    /// The links of a project with a given status, by link id.
    pub async fn links_with_status(
        &self,
        project_id: &str,
        status: LinkStatus,
    ) -> Result<Vec<LinkView>> {
        let sql = format!(
            "SELECT {LINK_VIEW_COLUMNS} FROM link_view WHERE project_id = $1 AND status = $2 \
             ORDER BY link_id"
        );
        let rows: Vec<LinkViewRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(&sql)
                .bind(project_id)
                .bind(status.as_str())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(LinkViewRow::into_view).collect()
    }

    /// The conflict queue of a project, oldest first.
    pub async fn conflicts(&self, project_id: &str) -> Result<Vec<ConflictView>> {
        let rows: Vec<ConflictRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT link_id, project_id, CAST(conflict AS TEXT) AS conflict FROM conflict_view \
                 WHERE project_id = $1 ORDER BY detected_at, link_id, conflict_id",
            )
            .bind(project_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|c| {
                Ok(ConflictView {
                    link_id: c.link_id,
                    project_id: c.project_id,
                    conflict: serde_json::from_str(&c.conflict)?,
                })
            })
            .collect()
    }

    /// Sync statistics: links by status, open conflicts and intents, the last sync, and the
    /// dispatch attempts of the `window_ms` before `now` by outcome, with their rates.
    pub async fn stats(&self, now: Millis, window_ms: u64) -> Result<SyncStats> {
        let by_status: Vec<(String, i64)> = on_db!(self, pool, _Db => {
            sqlx::query_as("SELECT status, COUNT(*) FROM link_view GROUP BY status")
                .fetch_all(pool)
                .await?
        });
        let totals: (i64, i64, Option<i64>) = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(open_conflicts), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(open_intents), 0) AS BIGINT), MAX(last_synced_at) FROM link_view",
            )
            .fetch_one(pool)
            .await?
        });
        let since = now.saturating_sub(window_ms.min(i64::MAX as u64) as i64);
        let attempts: Vec<(String, i64)> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT outcome, COUNT(*) FROM sync_log WHERE started_at > $1 AND started_at <= $2 \
                 GROUP BY outcome",
            )
            .bind(since)
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        let mut stats = SyncStats {
            open_conflicts: totals.0 as u64,
            open_intents: totals.1 as u64,
            last_sync_at: totals.2,
            window_ms,
            ..SyncStats::default()
        };
        for (status, n) in by_status {
            let status: LinkStatus = serde_json::from_value(serde_json::Value::String(status))?;
            stats.links_by_status.insert(status, n as u64);
            stats.links += n as u64;
        }
        let mut total = 0u64;
        for (outcome, n) in attempts {
            if let Some(o) = AttemptOutcome::parse(&outcome) {
                stats.attempts_by_outcome.insert(o, n as u64);
                total += n as u64;
            }
        }
        if window_ms > 0 {
            stats.attempts_per_minute = total as f64 * 60_000.0 / window_ms as f64;
        }
        if total > 0 {
            let ok = stats
                .attempts_by_outcome
                .get(&AttemptOutcome::Succeeded)
                .copied()
                .unwrap_or(0);
            stats.success_rate = ok as f64 / total as f64;
        }
        Ok(stats)
    }

    // ----- the dispatch queue -----

    /// Leases up to `limit` links that have a due intent and no live lease, for `lease_ms`,
    /// to `owner`, and returns each link's first due intent (in the order the link emitted
    /// them). One lease per link: no other worker gets an intent of a leased link until
    /// [`Store::release`] or until the lease expires (`lease_until <= now`).
    pub async fn lease_due(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: u64,
        limit: u32,
    ) -> Result<Vec<LeasedIntent>> {
        let lease_until = now.saturating_add(lease_ms.min(i64::MAX as u64) as i64);
        let lock = match self.inner.backend {
            Backend::Postgres(_) => "FOR UPDATE OF v SKIP LOCKED",
            Backend::Sqlite(_) => "",
        };
        let sql = format!(
            "WITH candidates AS (SELECT v.link_id FROM link_view v \
               LEFT JOIN dispatch_leases l ON l.link_id = v.link_id \
               WHERE v.next_due_at <= $1 AND (l.lease_until IS NULL OR l.lease_until <= $1) \
               ORDER BY v.next_due_at, v.link_id LIMIT $2 {lock}) \
             INSERT INTO dispatch_leases (link_id, owner, lease_until) \
             SELECT link_id, $3, $4 FROM candidates WHERE TRUE \
             ON CONFLICT (link_id) DO UPDATE SET owner = excluded.owner, \
               lease_until = excluded.lease_until \
             WHERE dispatch_leases.lease_until <= $1 \
             RETURNING link_id"
        );
        let leased: Vec<(String,)> = {
            let _turn = self.write_turn().await;
            on_db!(self, pool, _Db => {
                sqlx::query_as(&sql)
                    .bind(now)
                    .bind(i64::from(limit))
                    .bind(owner)
                    .bind(lease_until)
                    .fetch_all(pool)
                    .await?
            })
        };
        if leased.is_empty() {
            return Ok(Vec::new());
        }
        // Every leased link's due intents in one statement; the first of each is its due one.
        let ids: Vec<String> = leased.into_iter().map(|(id,)| id).collect();
        let cols = "SELECT link_id, seq, due_at, attempts, CAST(intent AS TEXT) AS intent \
                    FROM intent_queue WHERE";
        let rows: Vec<QueueRow> = match &self.inner.backend {
            Backend::Postgres(pool) => {
                self.inner.faults.check()?;
                sqlx::query_as(&format!(
                    "{cols} link_id = ANY($1) AND due_at <= $2 ORDER BY link_id, seq"
                ))
                .bind(&ids)
                .bind(now)
                .fetch_all(pool)
                .await?
            }
            Backend::Sqlite(pool) => {
                self.inner.faults.check()?;
                sqlx::query_as(&format!(
                    "{cols} link_id IN (SELECT value FROM json_each($1)) AND due_at <= $2 \
                     ORDER BY link_id, seq"
                ))
                .bind(serde_json::to_string(&ids)?)
                .bind(now)
                .fetch_all(pool)
                .await?
            }
        };
        let mut first: BTreeMap<String, QueueRow> = BTreeMap::new();
        for row in rows {
            first.entry(row.link_id.clone()).or_insert(row);
        }
        let mut out = Vec::with_capacity(ids.len());
        for link_id in ids {
            match first.remove(&link_id) {
                Some(row) => out.push(LeasedIntent {
                    queued: row.into_queued()?,
                    owner: owner.to_string(),
                    lease_until,
                }),
                // The intent finished between the two statements: nothing to do on this link.
                None => {
                    self.release(&link_id, owner).await?;
                }
            }
        }
        out.sort_by(|a, b| {
            (a.queued.due_at, &a.queued.link_id).cmp(&(b.queued.due_at, &b.queued.link_id))
        });
        Ok(out)
    }

    /// Releases `owner`'s lease on a link; false when it did not hold one (it expired and
    /// another worker took it).
    pub async fn release(&self, link_id: &str, owner: &str) -> Result<bool> {
        let _turn = self.write_turn().await;
        let n = on_db!(self, pool, _Db => {
            sqlx::query("DELETE FROM dispatch_leases WHERE link_id = $1 AND owner = $2")
                .bind(link_id)
                .bind(owner)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// The open intents of a link in the dispatch queue, in the order it emitted them.
    pub async fn queued_intents(&self, link_id: &str) -> Result<Vec<QueuedIntent>> {
        let rows: Vec<QueueRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT link_id, seq, due_at, attempts, CAST(intent AS TEXT) AS intent \
                 FROM intent_queue WHERE link_id = $1 ORDER BY seq",
            )
            .bind(link_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(QueueRow::into_queued).collect()
    }

    // ----- the webhook inbox -----

    /// Puts a delivery in the inbox unless its delivery id is there already. Safe under
    /// concurrent duplicates: exactly one of them is `Inserted`.
    pub async fn inbox_insert(
        &self,
        delivery_id: &str,
        source: Source,
        body: &str,
        received_at: Millis,
    ) -> Result<InboxInsert> {
        let _turn = self.write_turn().await;
        let n = on_db!(self, pool, _Db => {
            sqlx::query(
                "INSERT INTO inbox (delivery_id, source, body, received_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (delivery_id) DO NOTHING",
            )
            .bind(delivery_id)
            .bind(source.as_str())
            .bind(body)
            .bind(received_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(if n > 0 {
            InboxInsert::Inserted
        } else {
            InboxInsert::Duplicate
        })
    }

    /// Marks a delivery processed, with what came of it.
    pub async fn inbox_mark_processed(
        &self,
        delivery_id: &str,
        outcome: &str,
        at: Millis,
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        on_db!(self, pool, _Db => {
            sqlx::query("UPDATE inbox SET processed_at = $2, outcome = $3 WHERE delivery_id = $1")
                .bind(delivery_id)
                .bind(at)
                .bind(outcome)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deliveries received and not processed, oldest first (recovery after a crash).
    pub async fn inbox_unprocessed(&self, limit: u32) -> Result<Vec<InboxEntry>> {
        self.inbox_rows("WHERE processed_at IS NULL", limit).await
    }

    /// One delivery of the inbox.
    pub async fn inbox_get(&self, delivery_id: &str) -> Result<Option<InboxEntry>> {
        let rows: Vec<InboxRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT delivery_id, source, body, received_at, processed_at, outcome FROM inbox \
                 WHERE delivery_id = $1",
            )
            .bind(delivery_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(inbox_entry).next().transpose()
    }

    async fn inbox_rows(&self, filter: &str, limit: u32) -> Result<Vec<InboxEntry>> {
        let sql = format!(
            "SELECT delivery_id, source, body, received_at, processed_at, outcome FROM inbox \
             {filter} ORDER BY received_at, delivery_id LIMIT $1"
        );
        let rows: Vec<InboxRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(&sql).bind(i64::from(limit)).fetch_all(pool).await?
        });
        rows.into_iter().map(inbox_entry).collect()
    }

    /// Records a delivery refused before the inbox (bad signature, unparseable body, ...).
    pub async fn inbox_reject(&self, rejected: &RejectedDelivery) -> Result<()> {
        on_db!(self, pool, _Db => {
            sqlx::query(
                "INSERT INTO inbox_rejected (source, delivery_id, reason, body, received_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(rejected.source.as_str())
            .bind(&rejected.delivery_id)
            .bind(&rejected.reason)
            .bind(&rejected.body)
            .bind(rejected.received_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The most recent refused deliveries, newest first.
    pub async fn rejected_deliveries(&self, limit: u32) -> Result<Vec<RejectedDelivery>> {
        let rows: Vec<RejectedRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT source, delivery_id, reason, body, received_at FROM inbox_rejected \
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(RejectedDelivery {
                    source: parse_source(&r.source)?,
                    delivery_id: r.delivery_id,
                    reason: r.reason,
                    body: r.body,
                    received_at: r.received_at,
                })
            })
            .collect()
    }

    // ----- checkpoints -----

    /// The value of a named checkpoint (where a poller stands), if one was saved.
    pub async fn checkpoint(&self, name: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = on_db!(self, pool, _Db => {
            sqlx::query_as("SELECT value FROM checkpoints WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(v,)| v))
    }

    /// Saves a named checkpoint, replacing its previous value.
    pub async fn save_checkpoint(&self, name: &str, value: &str, at: Millis) -> Result<()> {
        on_db!(self, pool, _Db => {
            sqlx::query(
                "INSERT INTO checkpoints (name, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(value)
            .bind(at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    // ----- the sync log -----

    /// Records one dispatch attempt.
    pub async fn record_attempt(&self, a: &SyncAttempt) -> Result<()> {
        let _turn = self.write_turn().await;
        on_db!(self, pool, _Db => {
            sqlx::query(
                "INSERT INTO sync_log (link_id, intent_id, direction, kind, started_at, \
                 duration_ms, outcome, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&a.link_id)
            .bind(&a.intent_id)
            .bind(a.direction.to_string())
            .bind(&a.kind)
            .bind(a.started_at)
            .bind(a.duration_ms.min(i64::MAX as u64) as i64)
            .bind(a.outcome.as_str())
            .bind(&a.error)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The attempts of a link, oldest first.
    pub async fn sync_log(&self, link_id: &str) -> Result<Vec<SyncAttempt>> {
        let rows: Vec<AttemptRow> = on_db!(self, pool, _Db => {
            sqlx::query_as(
                "SELECT link_id, intent_id, direction, kind, started_at, duration_ms, outcome, \
                 error FROM sync_log WHERE link_id = $1 ORDER BY id",
            )
            .bind(link_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(SyncAttempt {
                    direction: serde_json::from_value(serde_json::Value::String(r.direction))?,
                    outcome: AttemptOutcome::parse(&r.outcome).ok_or_else(|| {
                        StoreError::Serde(serde::de::Error::custom(format!(
                            "unknown attempt outcome {:?}",
                            r.outcome
                        )))
                    })?,
                    link_id: r.link_id,
                    intent_id: r.intent_id,
                    kind: r.kind,
                    started_at: r.started_at,
                    duration_ms: r.duration_ms as u64,
                    error: r.error,
                })
            })
            .collect()
    }
}

/// SQLite: a link's append as one batch of statements in a transaction (three hand-offs to
/// the connection's thread: begin, the batch, commit, instead of one per statement). The
/// projection rows are rewritten only when the link view now holds this append's sequence:
/// the upsert replaced it (a view of a later sequence stays, as in `write_link_rows!`; no view
/// can hold this sequence before, since the events' key would have refused the insert).
#[allow(clippy::too_many_arguments, reason = "the parts of one append")]
async fn append_sqlite(
    pool: &SqlitePool,
    link_id: &str,
    expected: u64,
    events: &[(&str, &LinkEvent)],
    snapshot: Option<&LinkState>,
    rows: Option<&LinkRows>,
    meta: &EventMetadata,
    at: Millis,
) -> Result<()> {
    let new_seq = (expected + events.len() as u64) as i64;
    let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new(EVENT_INSERT);
    let mut seq = expected as i64;
    qb.push_values(events, |mut b, (ty, payload)| {
        seq += 1;
        bind_event_row!(b, LINK, link_id, seq, *ty, *payload, meta, at);
    });
    qb.push(";\n");
    if let Some(state) = snapshot {
        qb.push(
            "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, \
             current_snapshot, payload) VALUES (",
        );
        qb.push_bind(LINK)
            .push(", ")
            .push_bind(link_id)
            .push(", ")
            .push_bind(new_seq)
            .push(", 1, ")
            .push_bind(Json(state))
            .push(SNAPSHOT_UPSERT)
            .push(";\n");
    }
    if let Some(rows) = rows {
        let v = &rows.view;
        qb.push(VIEW_INSERT);
        qb.push_values([v], |mut b, v| bind_view_row!(b, v));
        qb.push(VIEW_UPSERT).push(";\n");
        // "The view now holds this append's sequence."
        let replaced = |qb: &mut QueryBuilder<'_, sqlx::Sqlite>| {
            qb.push("(SELECT seq FROM link_view WHERE link_id = ")
                .push_bind(link_id.to_string())
                .push(") = ")
                .push_bind(v.sequence as i64);
        };
        for table in ["conflict_view", "intent_queue"] {
            qb.push(format!("DELETE FROM {table} WHERE link_id = "))
                .push_bind(link_id.to_string())
                .push(" AND ");
            replaced(&mut qb);
            qb.push(";\n");
        }
        if !rows.conflicts.is_empty() {
            qb.push(
                "INSERT INTO conflict_view (link_id, conflict_id, project_id, field, \
                 conflict, detected_at) SELECT * FROM (",
            );
            qb.push_values(&rows.conflicts, |mut b, c| bind_conflict_row!(b, c));
            qb.push(") WHERE ");
            replaced(&mut qb);
            qb.push(";\n");
        }
        if !rows.queue.is_empty() {
            qb.push(
                "INSERT INTO intent_queue (link_id, intent_id, seq, due_at, attempts, \
                 intent) SELECT * FROM (",
            );
            qb.push_values(&rows.queue, |mut b, q| bind_queue_row!(b, q));
            qb.push(") WHERE ");
            replaced(&mut qb);
            qb.push(";\n");
        }
    }
    let mut tx = pool.begin().await?;
    qb.build().execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// PostgreSQL: a link's append as one statement (one round trip, its own transaction): the
/// events, the snapshot when one is due, and the projection rows. Data-modifying `WITH`
/// clauses all run, in one snapshot; the projection rows change only when the link view was
/// replaced (`v` returned a row: no view of a later sequence was there), as in
/// `write_link_rows!`. Conflict and queue rows that are no longer the link's are deleted and
/// the others upserted, so no clause touches a row another one writes. A second writer of the
/// same sequence fails the whole statement on the events' key.
#[allow(clippy::too_many_arguments, reason = "the parts of one append")]
async fn append_pg(
    pool: &PgPool,
    link_id: &str,
    expected: u64,
    events: &[(&str, &LinkEvent)],
    snapshot: Option<&LinkState>,
    rows: Option<&LinkRows>,
    meta: &EventMetadata,
    at: Millis,
) -> Result<()> {
    let mut qb: QueryBuilder<'_, sqlx::Postgres> =
        QueryBuilder::new(format!("WITH ev AS ({EVENT_INSERT}"));
    let mut seq = expected as i64;
    qb.push_values(events, |mut b, (ty, payload)| {
        seq += 1;
        bind_event_row!(b, LINK, link_id, seq, *ty, *payload, meta, at);
    });
    qb.push(" RETURNING 1)");
    if let Some(state) = snapshot {
        qb.push(
            ", snap AS (INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, \
             current_snapshot, payload) VALUES (",
        );
        qb.push_bind(LINK)
            .push(", ")
            .push_bind(link_id)
            .push(", ")
            .push_bind(seq)
            .push(", 1, ")
            .push_bind(Json(state))
            .push(SNAPSHOT_UPSERT)
            .push(" RETURNING 1)");
    }
    if let Some(rows) = rows {
        let v = &rows.view;
        qb.push(", v AS (").push(VIEW_INSERT);
        qb.push_values([v], |mut b, v| bind_view_row!(b, v));
        qb.push(VIEW_UPSERT).push(" RETURNING link_id)");
        qb.push(
            ", dc AS (DELETE FROM conflict_view WHERE link_id IN (SELECT link_id FROM v) \
             AND NOT (conflict_id = ANY(",
        )
        .push_bind(
            rows.conflicts
                .iter()
                .map(|c| c.conflict.id.clone())
                .collect::<Vec<String>>(),
        )
        .push(")) RETURNING 1)");
        if !rows.conflicts.is_empty() {
            qb.push(
                ", ic AS (INSERT INTO conflict_view (link_id, conflict_id, project_id, field, \
                 conflict, detected_at) SELECT * FROM (",
            );
            qb.push_values(&rows.conflicts, |mut b, c| bind_conflict_row!(b, c));
            qb.push(
                ") AS t (link_id, conflict_id, project_id, field, conflict, detected_at) \
                 WHERE EXISTS (SELECT 1 FROM v) ON CONFLICT (link_id, conflict_id) DO UPDATE \
                 SET project_id = excluded.project_id, field = excluded.field, \
                 conflict = excluded.conflict, detected_at = excluded.detected_at RETURNING 1)",
            );
        }
        qb.push(
            ", dq AS (DELETE FROM intent_queue WHERE link_id IN (SELECT link_id FROM v) \
             AND NOT (intent_id = ANY(",
        )
        .push_bind(
            rows.queue
                .iter()
                .map(|q| q.intent.id.clone())
                .collect::<Vec<String>>(),
        )
        .push(")) RETURNING 1)");
        if !rows.queue.is_empty() {
            qb.push(
                ", iq AS (INSERT INTO intent_queue (link_id, intent_id, seq, due_at, attempts, \
                 intent) SELECT * FROM (",
            );
            qb.push_values(&rows.queue, |mut b, q| bind_queue_row!(b, q));
            qb.push(
                ") AS t (link_id, intent_id, seq, due_at, attempts, intent) \
                 WHERE EXISTS (SELECT 1 FROM v) ON CONFLICT (link_id, intent_id) DO UPDATE \
                 SET seq = excluded.seq, due_at = excluded.due_at, \
                 attempts = excluded.attempts, intent = excluded.intent RETURNING 1)",
            );
        }
    }
    qb.push(" SELECT 1");
    qb.build().execute(pool).await?;
    Ok(())
}

fn inbox_entry(r: InboxRow) -> Result<InboxEntry> {
    Ok(InboxEntry {
        source: parse_source(&r.source)?,
        delivery_id: r.delivery_id,
        body: r.body,
        received_at: r.received_at,
        processed_at: r.processed_at,
        outcome: r.outcome,
    })
}
