//! The engine's one error type: each variant is something a caller can act on.

use handoff_adapter::HostError;
use jira_adapter::error::JiraError;
use sync_domain::mapping::Side;
use sync_domain::DomainError;
use sync_store::StoreError;

use crate::SiteChoiceError;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An id names nothing: `what` is `work_item`, `link`, `conflict`, `project`, `site`,
    /// `jira_issue`.
    #[error("no {what} {id:?}")]
    NotFound {
        /// The kind of thing.
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// The request cannot be carried out as asked: a person must change it (a bad value, an
    /// ambiguous site, an inconsistent runtime config).
    #[error("{0}")]
    Invalid(String),
    /// The link's state refuses the operation (it is unlinked, still being created, or
    /// already linked).
    #[error("{0}")]
    Refused(String),
    /// The domain refused the command (an invalid mapping with every problem listed, a value
    /// that does not fit its field, a link or conflict whose state refuses it).
    #[error("{0}")]
    Domain(DomainError),
    /// A Jira call failed; [`JiraError::class`] says whether to retry, re-authenticate or
    /// give up.
    #[error("jira: {0}")]
    Jira(#[from] JiraError),
    /// A host call failed; [`HostError::class`] says what to do.
    #[error("host: {0}")]
    Host(#[from] HostError),
    /// The store failed; retry later.
    #[error("store: {0}")]
    Store(StoreError),
}

impl Error {
    /// The domain's refusal, when that is what this is.
    pub fn domain(&self) -> Option<&DomainError> {
        match self {
            Error::Domain(e) => Some(e),
            _ => None,
        }
    }

    /// The side whose call failed, when an upstream call is what failed.
    pub fn upstream_side(&self) -> Option<Side> {
        match self {
            Error::Jira(_) => Some(Side::Jira),
            Error::Host(_) => Some(Side::Handoff),
            _ => None,
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl Into<String>) -> Error {
        Error::NotFound {
            what,
            id: id.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => Error::from(d),
            other => Error::Store(other),
        }
    }
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::ConflictNotFound(id) => Error::NotFound {
                what: "conflict",
                id,
            },
            other => Error::Domain(other),
        }
    }
}

impl From<SiteChoiceError> for Error {
    fn from(e: SiteChoiceError) -> Self {
        match e {
            SiteChoiceError::Unknown { name, .. } => Error::NotFound {
                what: "site",
                id: name,
            },
            other => Error::Invalid(other.to_string()),
        }
    }
}
