//! Extractors of the API: the caller's role from its bearer token, JSON bodies and raw
//! webhook bodies with size limits, and query strings, each refusing with a JSON error.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::{AppState, Role};

/// The largest webhook body taken (Jira's are a few kilobytes; big descriptions stay far
/// below this).
pub const MAX_WEBHOOK_BODY: usize = 2 * 1024 * 1024;
/// The largest API request body taken.
pub const MAX_API_BODY: usize = 256 * 1024;

/// A caller with at least the read-only role; `actor` is its token's name.
#[derive(Clone, Debug)]
pub struct Reader {
    /// The token's name, recorded as the actor of what it does.
    pub actor: String,
}

/// A caller with the admin role.
#[derive(Clone, Debug)]
pub struct Admin {
    /// The token's name, recorded as the actor of what it does.
    pub actor: String,
}

fn authenticate(parts: &Parts, state: &AppState) -> Result<(String, Role), ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let Some(header) = parts.headers.get(AUTHORIZATION) else {
        return Err(unauthorized(
            "missing bearer token: send Authorization: Bearer <token>",
        ));
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header is not a bearer token"))?;
    state
        .config
        .auth
        .check(token)
        .ok_or_else(|| unauthorized("the bearer token is not valid"))
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (actor, _) = authenticate(parts, state)?;
        Ok(Reader { actor })
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state)? {
            (actor, Role::Admin) => Ok(Admin { actor }),
            (_, Role::ReadOnly) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this endpoint changes data: it needs an admin token",
            )),
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than {limit} bytes"),
    )
}

/// Reads a body of at most `limit` bytes.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit exceeded") {
                return too_large(limit);
            }
            source = s.source();
        }
        ApiError::bad_request("bad_body", "the request body could not be read")
    })
}

/// A JSON request body of at most [`MAX_API_BODY`] bytes.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        if let Some(ct) = parts.headers.get(CONTENT_TYPE) {
            let json = ct
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .map(str::trim)
                .is_some_and(|c| c == "application/json" || c.ends_with("+json"));
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ));
            }
        }
        let bytes = read_body(&parts.headers, body, MAX_API_BODY).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "bad_json",
                "the request needs a JSON body",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request("bad_json", format!("invalid JSON body: {e}")))
    }
}

/// A raw webhook body of at most [`MAX_WEBHOOK_BODY`] bytes, with the request's headers.
#[derive(Debug)]
pub struct WebhookBody {
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body (signatures are computed over these bytes).
    pub body: Bytes,
}

impl FromRequest<AppState> for WebhookBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let body = read_body(&parts.headers, body, MAX_WEBHOOK_BODY).await?;
        Ok(WebhookBody {
            headers: parts.headers,
            body,
        })
    }
}

/// A query string, refused with 400 `bad_query` when it does not parse.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryParams(q))
            .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))
    }
}
