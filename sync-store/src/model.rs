//! The values the store takes and returns: event metadata, recorded events, read models,
//! inbox entries, sync-log rows and cursors.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sync_domain::link::{Conflict, Intent, LinkEvent, LinkState, LinkStatus, Millis};
use sync_domain::mapping::Side;
use sync_domain::project::ProjectEvent;

/// Where a command came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A Jira webhook, poll or fetch.
    Jira,
    /// A Handoff notification, poll or fetch.
    Handoff,
    /// A person, through the API or UI.
    User,
    /// The engine itself (dispatcher, reconciler, ...).
    System,
}

impl Source {
    /// The source as stored (`jira`, `handoff`, `user`, `system`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Jira => "jira",
            Source::Handoff => "handoff",
            Source::User => "user",
            Source::System => "system",
        }
    }
}

/// What every stored event carries besides its payload. Stored as a JSON object of strings,
/// the shape of cqrs-es's metadata map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// Where the command came from.
    pub source: Source,
    /// Who acted, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The delivery (webhook id, notification id) the command came in, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// Ties together the commands of one flow (a delivery and the dispatches it caused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl EventMetadata {
    /// Metadata with only a source.
    pub fn new(source: Source) -> EventMetadata {
        EventMetadata {
            source,
            actor: None,
            delivery_id: None,
            correlation_id: None,
        }
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the delivery id.
    pub fn delivery(mut self, delivery_id: impl Into<String>) -> Self {
        self.delivery_id = Some(delivery_id.into());
        self
    }

    /// Sets the correlation id.
    pub fn correlation(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// The metadata as cqrs-es's `HashMap<String, String>`.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert("source".to_string(), self.source.as_str().to_string());
        for (k, v) in [
            ("actor", &self.actor),
            ("delivery_id", &self.delivery_id),
            ("correlation_id", &self.correlation_id),
        ] {
            if let Some(v) = v {
                m.insert(k.to_string(), v.clone());
            }
        }
        m
    }
}

/// A position in the global order of the log: the writing transaction's id, then the global
/// position. On PostgreSQL, readers only see events of transactions older than every running
/// one, so an event that becomes visible later always sorts after the cursor (docs/DESIGN.md §6).
/// On SQLite the txid is always 0 and the position is commit order.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor {
    /// The transaction id of the last event handled.
    pub txid: i64,
    /// The global position of the last event handled.
    pub position: i64,
}

/// An event of either aggregate, as read from the global log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "aggregate", content = "event", rename_all = "snake_case")]
pub enum AnyEvent {
    /// An event of a link.
    Link(LinkEvent),
    /// An event of a project.
    Project(ProjectEvent),
}

/// An event as stored, with where and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recorded<E> {
    /// The event's place in the global order.
    pub cursor: Cursor,
    /// The aggregate's id (the link id or project id).
    pub aggregate_id: String,
    /// The event's sequence number in its aggregate, from 1.
    pub sequence: u64,
    /// The event.
    pub event: E,
    /// Its metadata.
    pub metadata: EventMetadata,
    /// When it was recorded (epoch milliseconds, from the injected clock).
    pub recorded_at: Millis,
}

/// A link's state and the sequence number it is at (0: no events).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LoadedLink {
    /// The state.
    pub state: LinkState,
    /// The sequence number of its last event.
    pub sequence: u64,
}

/// A point in a link's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// After this sequence number (0: before the first event).
    Sequence(u64),
    /// After every event recorded at or before this time.
    Time(Millis),
}

/// Projection: one link, found by link id, work item id or Jira issue id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    /// The link's aggregate id.
    pub link_id: String,
    /// The project.
    pub project_id: String,
    /// The work item, once it exists.
    pub work_item_id: Option<String>,
    /// The Jira issue id, once it exists.
    pub issue_id: Option<String>,
    /// The Jira issue key, once known.
    pub issue_key: Option<String>,
    /// The derived status.
    pub status: LinkStatus,
    /// When an intent of the link last succeeded.
    pub last_synced_at: Option<Millis>,
    /// Open conflicts.
    pub open_conflicts: u64,
    /// Intents not finished (open, blocked or given up).
    pub open_intents: u64,
    /// Intents emitted over the link's life.
    pub intents_emitted: u64,
    /// The earliest due time of an open intent.
    pub next_due_at: Option<Millis>,
    /// The sequence number the view reflects.
    pub sequence: u64,
}

/// Projection: one open conflict in a project's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictView {
    /// The link.
    pub link_id: String,
    /// The project.
    pub project_id: String,
    /// The conflict.
    pub conflict: Conflict,
}

/// Projection: one open intent in the dispatch queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedIntent {
    /// The link.
    pub link_id: String,
    /// The intent's place in the order its link emitted intents.
    pub seq: u64,
    /// When it is due.
    pub due_at: Millis,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The intent.
    pub intent: Intent,
}

/// An intent leased to one worker: no other worker gets an intent of the same link until the
/// lease is released or expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeasedIntent {
    /// The intent and where it stands.
    pub queued: QueuedIntent,
    /// Who holds the lease.
    pub owner: String,
    /// When the lease expires.
    pub lease_until: Millis,
}

/// Every projection's rows, sorted: what rebuild must reproduce exactly (invariant 6).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProjectionDump {
    /// Link views by link id.
    pub links: Vec<LinkView>,
    /// Conflicts by link id, then conflict id.
    pub conflicts: Vec<ConflictView>,
    /// Queued intents by link id, then intent id.
    pub queue: Vec<QueuedIntent>,
}

/// Work waiting to be done now (what an idle check needs), counted through indexes: the
/// cost grows with the pending work, not with the number of links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PendingWork {
    /// Deliveries in the inbox not processed yet.
    pub unprocessed_deliveries: u64,
    /// Links with at least one intent due at the given time (leased or not; intents backing
    /// off until later do not count).
    pub links_due: u64,
}

impl PendingWork {
    /// Nothing to do now.
    pub fn is_idle(&self) -> bool {
        self.unprocessed_deliveries == 0 && self.links_due == 0
    }
}

/// Sync statistics.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SyncStats {
    /// Links per status.
    pub links_by_status: BTreeMap<LinkStatus, u64>,
    /// All links.
    pub links: u64,
    /// Open conflicts over all links.
    pub open_conflicts: u64,
    /// Unfinished intents over all links.
    pub open_intents: u64,
    /// When any intent last succeeded.
    pub last_sync_at: Option<Millis>,
    /// The window the rates cover, in milliseconds, ending at the `now` asked for.
    pub window_ms: u64,
    /// Dispatch attempts in the window, by outcome.
    pub attempts_by_outcome: BTreeMap<AttemptOutcome, u64>,
    /// Attempts per minute over the window.
    pub attempts_per_minute: f64,
    /// Succeeded attempts / all attempts in the window (0 when none).
    pub success_rate: f64,
}

/// The outcome of a dispatch attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The write was done.
    Succeeded,
    /// It failed and will be retried.
    Retry,
    /// It is held until a fresh observation.
    Blocked,
    /// It gave up; a person must act.
    GaveUp,
}

impl AttemptOutcome {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Succeeded => "succeeded",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Blocked => "blocked",
            AttemptOutcome::GaveUp => "gave_up",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<AttemptOutcome> {
        [
            AttemptOutcome::Succeeded,
            AttemptOutcome::Retry,
            AttemptOutcome::Blocked,
            AttemptOutcome::GaveUp,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One dispatch attempt, for the sync log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAttempt {
    /// The link.
    pub link_id: String,
    /// The intent.
    pub intent_id: String,
    /// The side written to.
    pub direction: Side,
    /// The intent's kind (`update_jira_fields`, ...).
    pub kind: String,
    /// When the attempt started.
    pub started_at: Millis,
    /// How long it took.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The error, when it failed.
    pub error: Option<String>,
}

/// Whether an inbox insert was new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboxInsert {
    /// First time this delivery id was seen: process it.
    Inserted,
    /// Already in the inbox: drop it.
    Duplicate,
}

/// A delivery in the webhook inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// The delivery id (`X-Atlassian-Webhook-Identifier`, ...).
    pub delivery_id: String,
    /// Where it came from.
    pub source: Source,
    /// The raw body.
    pub body: String,
    /// When it was received.
    pub received_at: Millis,
    /// When it was processed, if it was.
    pub processed_at: Option<Millis>,
    /// What processing concluded, if it did.
    pub outcome: Option<String>,
}

/// A delivery refused before the inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedDelivery {
    /// Where it came from.
    pub source: Source,
    /// Its delivery id, when it had one.
    pub delivery_id: Option<String>,
    /// Why it was refused.
    pub reason: String,
    /// The raw body.
    pub body: String,
    /// When it was received.
    pub received_at: Millis,
}

/// How the store keeps its projections current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProjectionMode {
    /// In the transaction that appends the events.
    #[default]
    Inline,
    /// Only by [`crate::Store::catch_up`] (what a crash between commit and projection leaves).
    CatchUp,
}

/// The store's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// How many times a command is tried when another writer commits first.
    pub max_attempts: u32,
    /// A snapshot is written every this many events of an aggregate (0: never).
    pub snapshot_every: u64,
    /// How projections are kept current.
    pub projections: ProjectionMode,
    /// PostgreSQL only: the schema to use (created if missing), e.g. one per test.
    pub pg_schema: Option<String>,
    /// The connection pool's size (an in-memory store always has one connection).
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_attempts: 10,
            snapshot_every: 100,
            projections: ProjectionMode::Inline,
            pg_schema: None,
            max_connections: 10,
        }
    }
}

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// PostgreSQL, shared by several processes.
    Postgres,
    /// A SQLite file, for one process.
    Sqlite,
    /// SQLite in memory, for tests.
    Memory,
}
