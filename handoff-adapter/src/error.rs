//! The one error type of the host adapter, and the class the engine acts on.

use serde::{Deserialize, Serialize};
use sync_domain::{DomainError, ValueKind};

/// What the engine should do about a failed host call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum HostErrorClass {
    /// Try again later, after `retry_after_ms` when the host said how long to wait.
    Retryable {
        /// How long the host asked us to wait, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// The item changed since the version the write expected: re-read, never overwrite.
    VersionConflict,
    /// The credentials were refused: a person must fix the configuration.
    Auth,
    /// The request can never succeed as it is: retrying will not help.
    Permanent,
    /// The item or comment does not exist (any more).
    NotFound,
}

/// Why a host call failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The item's version is not the one the write expected; someone else edited it.
    #[error("version conflict: the item is at version {current:?}")]
    VersionConflict {
        /// The item's current version, when the host told it.
        current: Option<u64>,
    },
    /// The item, comment or project does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for (e.g. `work item WI-1`).
        what: String,
    },
    /// The host is rate limiting us (HTTP 429).
    #[error("rate limited by the host (retry after {retry_after_ms:?} ms): {message}")]
    RateLimited {
        /// The wait the host asked for, from `Retry-After`, in milliseconds.
        retry_after_ms: Option<u64>,
        /// The host's message.
        message: String,
    },
    /// The host is temporarily unable to answer (HTTP 5xx or 408).
    #[error("host unavailable (HTTP {status}): {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// The wait the host asked for, from `Retry-After`, in milliseconds.
        retry_after_ms: Option<u64>,
        /// The host's message.
        message: String,
    },
    /// The host refused our credentials (HTTP 401 or 403).
    #[error("host refused the credentials (HTTP {status}): {message}")]
    Auth {
        /// The HTTP status.
        status: u16,
        /// The host's message.
        message: String,
    },
    /// The host rejected the request as invalid (HTTP 400, 409, 422, ...); the message is the host's.
    #[error("host rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The host's message.
        message: String,
    },
    /// The request did not reach the host or its answer did not reach us.
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// The host answered with a body that does not follow the contract.
    #[error("invalid response from the host: {reason}")]
    InvalidResponse {
        /// What is wrong with it.
        reason: String,
    },
    /// A field is not in the field schema.
    #[error("unknown field {field:?}")]
    UnknownField {
        /// The field's name.
        field: String,
    },
    /// A field's value does not have the kind the schema gives it.
    #[error("field {field:?} should hold a {expected} value, found {found}")]
    FieldTypeMismatch {
        /// The field's name.
        field: String,
        /// The kind the schema gives the field.
        expected: ValueKind,
        /// What was found instead.
        found: String,
    },
    /// A field's value has the right JSON type but is not a valid value of its kind.
    #[error("field {field:?} has an invalid value: {source}")]
    InvalidFieldValue {
        /// The field's name.
        field: String,
        /// Why the value is invalid.
        source: DomainError,
    },
    /// A change cursor that this host never issued.
    #[error("invalid change cursor {0:?}")]
    InvalidCursor(String),
    /// The adapter's configuration is unusable (base URL, token).
    #[error("invalid host configuration: {0}")]
    InvalidConfig(String),
    /// A notification came without the `X-Handoff-Signature` header.
    #[error("the notification has no X-Handoff-Signature header")]
    MissingSignature,
    /// A notification's signature is malformed or does not match its body.
    #[error("the notification signature is invalid")]
    BadSignature,
    /// A notification's body is not the JSON object the contract describes.
    #[error("malformed notification: {reason}")]
    MalformedNotification {
        /// What is wrong with it.
        reason: String,
    },
    /// A notification lacks a required field.
    #[error("notification is missing the field {field:?}")]
    NotificationMissingField {
        /// The missing JSON field.
        field: &'static str,
    },
    /// A fault injected by a test or simulation into the in-memory host.
    #[error("injected fault ({class:?})")]
    Injected {
        /// The class the injected error reports.
        class: HostErrorClass,
    },
}

impl HostError {
    /// The class of this error: what the engine should do about it.
    pub fn class(&self) -> HostErrorClass {
        match self {
            HostError::VersionConflict { .. } => HostErrorClass::VersionConflict,
            HostError::NotFound { .. } => HostErrorClass::NotFound,
            HostError::RateLimited { retry_after_ms, .. }
            | HostError::Unavailable { retry_after_ms, .. } => HostErrorClass::Retryable {
                retry_after_ms: *retry_after_ms,
            },
            HostError::Transport(e) => {
                if e.is_decode() || e.is_builder() {
                    HostErrorClass::Permanent
                } else {
                    HostErrorClass::Retryable {
                        retry_after_ms: None,
                    }
                }
            }
            HostError::Auth { .. } | HostError::MissingSignature | HostError::BadSignature => {
                HostErrorClass::Auth
            }
            HostError::Rejected { .. }
            | HostError::InvalidResponse { .. }
            | HostError::UnknownField { .. }
            | HostError::FieldTypeMismatch { .. }
            | HostError::InvalidFieldValue { .. }
            | HostError::InvalidCursor(_)
            | HostError::InvalidConfig(_)
            | HostError::MalformedNotification { .. }
            | HostError::NotificationMissingField { .. } => HostErrorClass::Permanent,
            HostError::Injected { class } => *class,
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class(), HostErrorClass::Retryable { .. })
    }
}
