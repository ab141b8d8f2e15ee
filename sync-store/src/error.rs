//! The one error type of the store.

use sync_domain::DomainError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The domain refused the command (a business error, not a storage one).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database failed or refused a statement.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A value could not be serialized or deserialized.
    #[error("serialization: {0}")]
    Serde(#[from] serde_json::Error),
    /// Another writer kept committing to the aggregate first; the command was retried this
    /// many times and gave up.
    #[error("aggregate {aggregate_id} changed concurrently {attempts} times; giving up")]
    Contention {
        /// The aggregate.
        aggregate_id: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// An append expected the aggregate at one sequence number and found it elsewhere.
    #[error("aggregate {aggregate_id} is not at sequence {expected}")]
    Conflict {
        /// The aggregate.
        aggregate_id: String,
        /// The sequence the writer expected.
        expected: u64,
    },
    /// A stored event cannot be read (unknown type or version, or a payload that does not
    /// deserialize); replay stops here rather than skip it.
    #[error("event {at} cannot be read: {reason}")]
    CorruptEvent {
        /// Which event.
        at: Box<EventLocation>,
        /// What went wrong.
        reason: String,
    },
    /// The store URL names no supported backend.
    #[error("unsupported store URL {0:?}: use postgres://, sqlite:// or memory://")]
    UnsupportedUrl(String),
    /// A schema name for PostgreSQL is not a plain identifier.
    #[error("invalid schema name {0:?}")]
    InvalidSchema(String),
}

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a stored event is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLocation {
    /// Its global position.
    pub position: i64,
    /// Its aggregate type.
    pub aggregate_type: String,
    /// Its aggregate id.
    pub aggregate_id: String,
    /// Its sequence in the aggregate.
    pub sequence: i64,
    /// Its stored type name.
    pub event_type: String,
    /// Its stored schema version.
    pub event_version: String,
}

impl std::fmt::Display for EventLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at global position {} ({}/{} #{}, {} v{})",
            self.position,
            self.aggregate_type,
            self.aggregate_id,
            self.sequence,
            self.event_type,
            self.event_version
        )
    }
}
