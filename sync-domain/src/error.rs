//! The one error type of the domain: business errors only.

use crate::value::ValueKind;

/// Why the domain refused a value, a mapping or a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value does not have the canonical form its kind requires.
    #[error("invalid {kind} value: {reason}")]
    InvalidValue {
        /// The kind the value was meant to have.
        kind: ValueKind,
        /// What is wrong with it.
        reason: String,
    },
    /// A project's field mapping is invalid; every problem is listed.
    #[error("invalid field mapping: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidMapping(Vec<crate::mapping::MappingError>),
    /// The command needs a link that does not exist yet.
    #[error("the link does not exist")]
    LinkNotFound,
    /// The link already exists; it cannot be created twice.
    #[error("the link already exists")]
    LinkAlreadyExists,
    /// The link is unlinked; it takes no more observations or intents.
    #[error("the link is unlinked")]
    LinkUnlinked,
    /// No open conflict has this id.
    #[error("no open conflict {0}")]
    ConflictNotFound(String),
    /// A merge resolution's value does not fit the field.
    #[error("merged value for field {field:?} does not fit its kind {kind}")]
    MergeValueDoesNotFit {
        /// The Handoff field of the conflict.
        field: String,
        /// The field's kind.
        kind: ValueKind,
    },
    /// The dispatch result names an intent the link does not have open.
    #[error("no open intent {0}")]
    IntentNotFound(String),
    /// A retry was asked for, but no intent of the link gave up or is held.
    #[error("nothing to retry: no write of the link gave up or is held")]
    NothingToRetry,
    /// The project aggregate has no mapping yet.
    #[error("the project has no field mapping yet")]
    NoMapping,
}
