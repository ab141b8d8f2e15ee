//! The host side of the REST contract of `docs/handoff-api.md`, served over any [`Host`]
//! (feature `server`). Over an [`crate::InMemoryHost`] it is a runnable reference host: tests
//! run the engine against it over real HTTP (the engine in another process, say), and a team
//! implementing the contract can compare its answers with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};
use sync_domain::Value;

use crate::error::HostError;
use crate::fields::{decode_field, encode_fields};
use crate::host::{FieldSchema, Host, HostComment, HostItem};

/// What the routes share.
#[derive(Clone)]
struct Shared {
    host: Arc<dyn Host>,
    schema: FieldSchema,
    token: String,
}

/// The contract's routes (mount them at the host's base URL), answering requests that carry
/// `Authorization: Bearer <token>` from `host`, reading and writing the fields of `schema`.
pub fn router(host: Arc<dyn Host>, schema: FieldSchema, token: &str) -> Router {
    let shared = Shared {
        host,
        schema,
        token: token.to_string(),
    };
    Router::new()
        .route("/workitems", get(list_items).post(create_item))
        .route("/workitems/{id}", get(get_item).patch(patch_item))
        .route(
            "/workitems/{id}/comments",
            get(list_comments).post(add_comment),
        )
        .route("/workitems/{id}/comments/{cid}", put(edit_comment))
        .with_state(shared)
}

/// An error answer: a status and `{"error", "message"}` (plus `currentVersion` on 412).
struct Failure(StatusCode, Json_);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn fail(status: StatusCode, code: &str, message: impl Into<String>) -> Failure {
    Failure(status, json!({"error": code, "message": message.into()}))
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        match e {
            HostError::VersionConflict { current } => Failure(
                StatusCode::PRECONDITION_FAILED,
                json!({
                    "error": "version_conflict",
                    "message": "the item changed since the version given in If-Match",
                    "currentVersion": current,
                }),
            ),
            HostError::NotFound { what } => fail(StatusCode::NOT_FOUND, "not_found", what),
            HostError::RateLimited { message, .. } => {
                fail(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            }
            HostError::Unavailable {
                status, message, ..
            } => fail(
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "unavailable",
                message,
            ),
            HostError::Rejected { status, message } => fail(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                "rejected",
                message,
            ),
            e @ (HostError::UnknownField { .. }
            | HostError::FieldTypeMismatch { .. }
            | HostError::InvalidFieldValue { .. }) => {
                fail(StatusCode::BAD_REQUEST, "invalid_field", e.to_string())
            }
            e @ HostError::InvalidCursor(_) => {
                fail(StatusCode::BAD_REQUEST, "invalid_cursor", e.to_string())
            }
            other => fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                other.to_string(),
            ),
        }
    }
}

type Answer = Result<Response, Failure>;

fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), Failure> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(shared.token.as_str()) {
        Ok(())
    } else {
        Err(fail(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        ))
    }
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| fail(StatusCode::BAD_REQUEST, "bad_json", format!("body: {e}")))
}

/// Reads written fields: unlike reads, a field outside the schema is refused, and `null`
/// is kept (it clears the field).
fn written_fields(
    schema: &FieldSchema,
    fields: &Map<String, Json_>,
) -> Result<BTreeMap<String, Value>, Failure> {
    fields
        .iter()
        .map(|(name, json)| {
            let kind = schema.get(name).ok_or_else(|| {
                fail(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!("unknown field {name:?}"),
                )
            })?;
            Ok((name.clone(), decode_field(name, *kind, json)?))
        })
        .collect()
}

fn item_json(schema: &FieldSchema, item: &HostItem) -> Result<Json_, Failure> {
    Ok(json!({
        "id": item.id,
        "projectId": item.project_id,
        "version": item.version,
        "updatedAtMs": item.updated_at_ms,
        "updatedBy": item.updated_by,
        "marker": item.marker,
        "fields": encode_fields(schema, &item.fields)?,
    }))
}

fn comment_json(c: &HostComment) -> Json_ {
    json!({
        "id": c.id,
        "itemId": c.item_id,
        "author": c.author,
        "body": c.body,
        "createdAtMs": c.created_at_ms,
        "updatedAtMs": c.updated_at_ms,
        "origin": c.origin,
    })
}

/// Reads `If-Match`: `"7"`, `W/"7"` or `7`.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Failure> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default().trim();
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            fail(
                StatusCode::BAD_REQUEST,
                "bad_if_match",
                format!("If-Match {text:?} is not a version"),
            )
        })
}

/// The item as it is now, or 404.
async fn current_item(s: &Shared, id: &str) -> Answer {
    match s.host.get_item(id).await? {
        Some(item) => Ok(Json(item_json(&s.schema, &item)?).into_response()),
        None => Err(fail(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("work item {id}"),
        )),
    }
}

async fn get_item(State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Answer {
    authorize(&s, &headers)?;
    current_item(&s, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    fields: Map<String, Json_>,
}

async fn patch_item(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    authorize(&s, &headers)?;
    let patch: PatchBody = body_json(&body)?;
    let fields = written_fields(&s.schema, &patch.fields)?;
    let expected = if_match(&headers)?;
    s.host.update_fields(&id, &fields, expected).await?;
    current_item(&s, &id).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    project_id: String,
    marker: String,
    #[serde(default)]
    fields: Map<String, Json_>,
}

async fn create_item(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    authorize(&s, &headers)?;
    let new: CreateBody = body_json(&body)?;
    if new.marker.trim().is_empty() {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "missing_marker",
            "marker is required",
        ));
    }
    let fields = written_fields(&s.schema, &new.fields)?;
    // Idempotent by marker: the first item made with it is the answer, with 200.
    if let Some(item) = s.host.find_by_marker(&new.project_id, &new.marker).await? {
        return Ok(Json(item_json(&s.schema, &item)?).into_response());
    }
    let item = s
        .host
        .create_item(&new.project_id, &fields, &new.marker)
        .await?;
    Ok((StatusCode::CREATED, Json(item_json(&s.schema, &item)?)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    project: String,
    marker: Option<String>,
    changed_since: Option<String>,
    limit: Option<usize>,
}

async fn list_items(
    State(s): State<Shared>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Answer {
    authorize(&s, &headers)?;
    if let Some(marker) = &q.marker {
        let items = match s.host.find_by_marker(&q.project, marker).await? {
            Some(item) => vec![item_json(&s.schema, &item)?],
            None => Vec::new(),
        };
        return Ok(Json(json!({ "items": items })).into_response());
    }
    let page = s
        .host
        .list_changed_since(
            &q.project,
            q.changed_since.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    let items = page
        .items
        .iter()
        .map(|i| item_json(&s.schema, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "items": items,
        "nextCursor": page.next_cursor,
        "hasMore": page.has_more,
    }))
    .into_response())
}

async fn list_comments(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    authorize(&s, &headers)?;
    let comments = s.host.list_comments(&id).await?;
    let list: Vec<Json_> = comments.iter().map(comment_json).collect();
    Ok(Json(json!({ "comments": list })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddCommentBody {
    body: String,
    #[serde(default)]
    author_line: String,
    origin: String,
}

async fn add_comment(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    authorize(&s, &headers)?;
    let new: AddCommentBody = body_json(&body)?;
    // Idempotent by origin: the comment already made with it is the answer, with 200.
    let existing = s.host.list_comments(&id).await?;
    if let Some(c) = existing
        .iter()
        .find(|c| c.origin.as_deref() == Some(new.origin.as_str()))
    {
        return Ok(Json(comment_json(c)).into_response());
    }
    let c = s
        .host
        .add_comment(&id, &new.body, &new.author_line, &new.origin)
        .await?;
    Ok((StatusCode::CREATED, Json(comment_json(&c))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditCommentBody {
    body: String,
}

async fn edit_comment(
    State(s): State<Shared>,
    Path((id, cid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    authorize(&s, &headers)?;
    let edit: EditCommentBody = body_json(&body)?;
    let c = s.host.edit_comment(&id, &cid, &edit.body).await?;
    Ok(Json(comment_json(&c)).into_response())
}
