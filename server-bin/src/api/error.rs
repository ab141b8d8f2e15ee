//! Errors of the HTTP API: every one is JSON `{"code": "...", "message": "..."}` with a
//! stable code; internals (store and adapter errors) are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use sync_domain::DomainError;
use sync_engine::Error;

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code (`unauthorized`, `work_item_not_found`, `bad_json`, ...).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Further details (e.g. every problem of an invalid mapping).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// An error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_string(),
                message: message.into(),
                details: Vec::new(),
            },
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422 `invalid`: the request is well-formed but cannot be carried out as asked.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 422 `invalid_mapping`, every problem in `details`.
    pub fn invalid_mapping(details: Vec<String>) -> ApiError {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_mapping",
            format!("the field mapping has {} problem(s)", details.len()),
        );
        err.body.details = details;
        err
    }

    /// 422 `invalid_mapping` for a mapping written wrongly (before the domain sees it).
    pub fn mapping_doc(problems: Vec<(usize, crate::mapping_doc::DocProblem)>) -> ApiError {
        ApiError::invalid_mapping(crate::mapping_doc::describe(&problems))
    }

    /// 503 `unavailable`, after logging the cause.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "the store failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server cannot reach its store right now; retry later",
        )
    }

    /// 404 `not_found` for a path no route serves.
    pub fn no_route(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("no endpoint at {path}; see /api/openapi.json"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound { what, id } => ApiError::new(
                StatusCode::NOT_FOUND,
                &format!("{what}_not_found"),
                format!("no {} {id:?}", what.replace('_', " ")),
            ),
            Error::Invalid(m) => ApiError::invalid(m),
            Error::Domain(DomainError::InvalidMapping(problems)) => {
                ApiError::invalid_mapping(problems.iter().map(ToString::to_string).collect())
            }
            Error::Domain(
                d @ (DomainError::InvalidValue { .. } | DomainError::MergeValueDoesNotFit { .. }),
            ) => ApiError::invalid(d.to_string()),
            Error::Domain(d) => ApiError::new(StatusCode::CONFLICT, "refused", d.to_string()),
            Error::Refused(m) => ApiError::new(StatusCode::CONFLICT, "refused", m),
            Error::Jira(j) if j.class() == jira_adapter::error::ErrorClass::NotFound => {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "jira_issue_not_found",
                    format!("no jira issue {:?}", j.to_string()),
                )
            }
            Error::Jira(_) | Error::Host(_) => {
                tracing::warn!(error = %e, "an upstream call failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_failed",
                    "a call to Jira or the host failed; retry later",
                )
            }
            Error::Store(e) => ApiError::unavailable(&e),
        }
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
