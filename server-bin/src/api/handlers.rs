//! The endpoints. Each is annotated for the OpenAPI document; the router is built from the
//! same annotations, so the two cannot drift apart.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use handoff_adapter::SIGNATURE_HEADER as HANDOFF_SIGNATURE;
use jira_adapter::webhook::{DELIVERY_ID_HEADER, SIGNATURE_HEADER};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::{
    value_from_json, BulkResult, BulkTarget, ConflictInfo, CreateLink, CreateLinkResult,
    DryRunView, HistoryEntry, JiraFieldsView, LinkInfo, MappingDoc, MappingsView,
    PutMappingsResult, StatsView, SyncStatusView,
};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Admin, JsonBody, QueryParams, Reader, WebhookBody};
use super::AppState;
use sync_domain::link::Resolution;
use sync_engine::{IntakeError, IntakeOutcome};

/// What a webhook endpoint answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAnswer {
    /// `accepted` (new: processed asynchronously) or `duplicate` (seen before: dropped).
    pub status: String,
    /// The delivery's id.
    pub delivery_id: String,
}

fn webhook_answer(o: IntakeOutcome) -> Response {
    match o {
        IntakeOutcome::Accepted { delivery_id } => (
            StatusCode::ACCEPTED,
            Json(WebhookAnswer {
                status: "accepted".into(),
                delivery_id,
            }),
        )
            .into_response(),
        IntakeOutcome::Duplicate { delivery_id } => (
            StatusCode::OK,
            Json(WebhookAnswer {
                status: "duplicate".into(),
                delivery_id,
            }),
        )
            .into_response(),
    }
}

async fn receive_jira(state: &AppState, site: Option<&str>, w: &WebhookBody) -> Response {
    let header = |name: &str| w.headers.get(name).and_then(|v| v.to_str().ok());
    let outcome = state
        .rt
        .receive_jira_webhook(
            site,
            header(SIGNATURE_HEADER),
            header(DELIVERY_ID_HEADER),
            &w.body,
        )
        .await;
    match outcome {
        Ok(o) => webhook_answer(o),
        Err(IntakeError::BadSignature(_)) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "the delivery's signature is missing or does not match",
        )
        .into_response(),
        Err(IntakeError::Malformed(m)) => {
            ApiError::bad_request("malformed_delivery", m).into_response()
        }
        Err(IntakeError::UnknownSite(m)) => {
            ApiError::new(StatusCode::NOT_FOUND, "site_not_found", m).into_response()
        }
        Err(IntakeError::Store(e)) => ApiError::unavailable(&e).into_response(),
    }
}

/// A Jira webhook delivery (the only site, when one is configured).
#[utoipa::path(
    post, path = "/api/webhooks/jira", tag = "webhooks",
    request_body(content = Object, content_type = "application/json",
        description = "Jira's webhook payload; signed in X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>, deduplicated by X-Atlassian-Webhook-Identifier"),
    responses(
        (status = 202, description = "Accepted: stored, processed asynchronously", body = WebhookAnswer),
        (status = 200, description = "A duplicate of a delivery seen before", body = WebhookAnswer),
        (status = 400, description = "`malformed_delivery`: not a Jira event (kept for inspection)", body = ErrorBody),
        (status = 401, description = "`bad_signature`: nothing stored", body = ErrorBody),
        (status = 404, description = "`site_not_found`: several sites are configured; post to /api/webhooks/jira/{site}", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over 2 MiB", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store failed; Jira retries", body = ErrorBody),
    )
)]
pub async fn jira_webhook(State(state): State<AppState>, w: WebhookBody) -> Response {
    receive_jira(&state, None, &w).await
}

/// A Jira webhook delivery from a named site.
#[utoipa::path(
    post, path = "/api/webhooks/jira/{site}", tag = "webhooks",
    params(("site" = String, Path, description = "The Jira site's name in the config")),
    request_body(content = Object, content_type = "application/json", description = "Jira's webhook payload, signed as for /api/webhooks/jira"),
    responses(
        (status = 202, description = "Accepted", body = WebhookAnswer),
        (status = 200, description = "A duplicate", body = WebhookAnswer),
        (status = 400, description = "`malformed_delivery`", body = ErrorBody),
        (status = 401, description = "`bad_signature`", body = ErrorBody),
        (status = 404, description = "`site_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn jira_site_webhook(
    State(state): State<AppState>,
    Path(site): Path<String>,
    w: WebhookBody,
) -> Response {
    receive_jira(&state, Some(&site), &w).await
}

/// A change notification from the host (docs/handoff-api.md).
#[utoipa::path(
    post, path = "/api/webhooks/handoff", tag = "webhooks",
    request_body(content = Object, content_type = "application/json",
        description = "The host's notification (event, itemId, projectId, version, ...), signed in X-Handoff-Signature: sha256=<hex HMAC-SHA256 of the raw body>"),
    responses(
        (status = 202, description = "Accepted", body = WebhookAnswer),
        (status = 200, description = "A duplicate", body = WebhookAnswer),
        (status = 400, description = "`malformed_delivery`: not a notification of the contract's shape (kept for inspection)", body = ErrorBody),
        (status = 401, description = "`bad_signature`: nothing stored", body = ErrorBody),
        (status = 404, description = "`not_configured`: no host notification secret is configured", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn handoff_webhook(State(state): State<AppState>, w: WebhookBody) -> Response {
    let Some(secret) = &state.config.handoff_secret else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            "host notifications are not configured on this server (no secret)",
        )
        .into_response();
    };
    let signature = w
        .headers
        .get(HANDOFF_SIGNATURE)
        .and_then(|v| v.to_str().ok());
    match state
        .rt
        .receive_host_delivery(secret, &w.body, signature)
        .await
    {
        Ok(o) => webhook_answer(o),
        Err(IntakeError::BadSignature(m)) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", m).into_response()
        }
        Err(IntakeError::Store(e)) => ApiError::unavailable(&e).into_response(),
        Err(IntakeError::Malformed(m) | IntakeError::UnknownSite(m)) => {
            ApiError::bad_request("malformed_delivery", m).into_response()
        }
    }
}

/// A work item's sync status: status, Jira key, last sync, pending conflicts with both
/// values.
#[utoipa::path(
    get, path = "/api/workitems/{id}/sync-status", tag = "work items",
    params(("id" = String, Path, description = "The work item id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SyncStatusView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`work_item_not_found`: no link for this item", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn sync_status(
    State(state): State<AppState>,
    _who: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<SyncStatusView>> {
    Ok(Json(state.rt.sync_status(&id).await?.into()))
}

/// Forces a full sync of a work item: both sides are read now and compared; failed writes
/// are tried again.
#[utoipa::path(
    post, path = "/api/workitems/{id}/sync", tag = "work items",
    params(("id" = String, Path, description = "The work item id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted: writes are queued", body = LinkInfo),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`: needs an admin token", body = ErrorBody),
        (status = 404, description = "`work_item_not_found`", body = ErrorBody),
        (status = 409, description = "`refused`: the link is unlinked or not created yet", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: Jira or the host could not be read", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn force_sync(
    State(state): State<AppState>,
    who: Admin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<LinkInfo>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.rt.force_sync(&id, &who.actor).await?.into()),
    ))
}

/// Options of the history.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Include the engine's bookkeeping events too (default false).
    #[serde(default)]
    pub all: bool,
}

/// A work item's history, oldest first: every change with its source ("updated from Jira",
/// "pushed to Jira", "conflict on description"), actor and time.
#[utoipa::path(
    get, path = "/api/workitems/{id}/history", tag = "work items",
    params(("id" = String, Path, description = "The work item id"), HistoryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<HistoryEntry>),
        (status = 400, description = "`bad_query`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`work_item_not_found`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn item_history(
    State(state): State<AppState>,
    _who: Reader,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    let entries = state.rt.item_history(&id, q.all).await?;
    Ok(Json(entries.into_iter().map(HistoryEntry::from).collect()))
}

/// A project's unresolved conflicts, oldest first.
#[utoipa::path(
    get, path = "/api/projects/{id}/sync-conflicts", tag = "conflicts",
    params(("id" = String, Path, description = "The project id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<ConflictInfo>),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`project_not_found`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn project_conflicts(
    State(state): State<AppState>,
    _who: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ConflictInfo>>> {
    let conflicts = state.rt.project_conflicts(&id).await?;
    Ok(Json(
        conflicts.into_iter().map(ConflictInfo::from).collect(),
    ))
}

/// How to settle a conflict.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveRequest {
    /// `use_handoff`, `use_jira`, `merge` or `ignore`.
    #[schema(example = "merge")]
    pub resolution: String,
    /// For `merge`: the value both sides get (a string for text, a number, an array of
    /// strings for labels).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub merged_value: Option<serde_json::Value>,
}

/// Settles a conflict.
#[utoipa::path(
    post, path = "/api/sync-conflicts/{id}/resolve", tag = "conflicts",
    params(("id" = String, Path, description = "The conflict id")),
    request_body = ResolveRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Resolved: writes that bring both sides to the value are queued", body = LinkInfo),
        (status = 400, description = "`bad_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`conflict_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid`: unknown resolution, or a merged value that does not fit the field", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn resolve_conflict(
    State(state): State<AppState>,
    who: Admin,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ResolveRequest>,
) -> ApiResult<Json<LinkInfo>> {
    let resolution = match (req.resolution.as_str(), &req.merged_value) {
        ("use_handoff", _) => Resolution::UseHandoff,
        ("use_jira", _) => Resolution::UseJira,
        ("ignore", _) => Resolution::Ignore,
        ("merge", Some(v)) => {
            let kind = state.rt.conflict_kind(&id).await?;
            Resolution::Merge(value_from_json(kind, v).map_err(ApiError::invalid)?)
        }
        ("merge", None) => {
            return Err(ApiError::invalid(
                "a merge needs mergedValue: the value both sides get",
            ))
        }
        (other, _) => {
            return Err(ApiError::invalid(format!(
                "unknown resolution {other:?}: use use_handoff, use_jira, merge or ignore"
            )))
        }
    };
    Ok(Json(
        state.rt.resolve(&id, resolution, &who.actor).await?.into(),
    ))
}

/// A project's field mapping in force, and who changed it when.
#[utoipa::path(
    get, path = "/api/projects/{id}/sync-mappings", tag = "mappings",
    params(("id" = String, Path, description = "The project id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MappingsView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`project_not_found`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn get_mappings(
    State(state): State<AppState>,
    _who: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<MappingsView>> {
    Ok(Json(state.rt.mappings(&id).await?.into()))
}

/// Replaces a project's field mapping: validated, recorded with who and when, put in force,
/// and told to every live link of the project.
#[utoipa::path(
    put, path = "/api/projects/{id}/sync-mappings", tag = "mappings",
    params(("id" = String, Path, description = "The project id")),
    request_body = MappingDoc,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PutMappingsResult),
        (status = 400, description = "`bad_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`project_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid_mapping`: every problem in `details`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn put_mappings(
    State(state): State<AppState>,
    who: Admin,
    Path(id): Path<String>,
    JsonBody(doc): JsonBody<MappingDoc>,
) -> ApiResult<Json<PutMappingsResult>> {
    let mapping = doc.to_domain().map_err(ApiError::mapping_doc)?;
    Ok(Json(
        state
            .rt
            .put_mappings(&id, mapping, &who.actor)
            .await?
            .into(),
    ))
}

/// A mapping dry run.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DryRunRequest {
    /// The work item to read.
    #[serde(default)]
    pub work_item_id: Option<String>,
    /// The Jira issue (id or key) to read; when absent, the issue linked to the item.
    #[serde(default)]
    pub jira_issue: Option<String>,
    /// The mapping to try; when absent, the one in force.
    #[serde(default)]
    pub mapping: Option<MappingDoc>,
}

/// A dry run of a mapping against a live issue and item: both values per field, the
/// transform's results and what would be written to each side. Writes nothing.
#[utoipa::path(
    post, path = "/api/projects/{id}/sync-mappings/test", tag = "mappings",
    params(("id" = String, Path, description = "The project id")),
    request_body = DryRunRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = DryRunView),
        (status = 400, description = "`bad_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`project_not_found`, `work_item_not_found`, `jira_issue_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid`: neither an item nor an issue given", body = ErrorBody),
        (status = 502, description = "`upstream_failed`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn test_mappings(
    State(state): State<AppState>,
    _who: Reader,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<DryRunRequest>,
) -> ApiResult<Json<DryRunView>> {
    let candidate = match &req.mapping {
        Some(doc) => Some(doc.to_domain().map_err(ApiError::mapping_doc)?),
        None => None,
    };
    Ok(Json(
        state
            .rt
            .mapping_dry_run(
                &id,
                req.work_item_id.as_deref(),
                req.jira_issue.as_deref(),
                candidate,
            )
            .await?
            .into(),
    ))
}

/// Which Jira site.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteQuery {
    /// The site's name; may be omitted when one site is configured.
    #[serde(default)]
    pub site: Option<String>,
}

/// The fields of a Jira site (custom field discovery), with the kind the engine syncs each
/// as.
#[utoipa::path(
    get, path = "/api/jira/fields", tag = "mappings",
    params(SiteQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = JiraFieldsView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`site_not_found`", body = ErrorBody),
        (status = 422, description = "`invalid`: several sites, none named", body = ErrorBody),
        (status = 502, description = "`upstream_failed`", body = ErrorBody),
    )
)]
pub async fn jira_fields(
    State(state): State<AppState>,
    _who: Reader,
    QueryParams(q): QueryParams<SiteQuery>,
) -> ApiResult<Json<JiraFieldsView>> {
    Ok(Json(state.rt.jira_fields(q.site.as_deref()).await?.into()))
}

/// Creates links: push a work item to Jira, link an existing issue to an existing item,
/// import one issue, or import every issue a JQL search finds.
#[utoipa::path(
    post, path = "/api/links", tag = "links",
    request_body = CreateLink,
    security(("bearer" = [])),
    responses(
        (status = 201, body = CreateLinkResult),
        (status = 400, description = "`bad_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`work_item_not_found`, `jira_issue_not_found`, `project_not_found`", body = ErrorBody),
        (status = 409, description = "`refused`: already linked", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid`", body = ErrorBody),
        (status = 502, description = "`upstream_failed`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn create_link(
    State(state): State<AppState>,
    who: Admin,
    JsonBody(req): JsonBody<CreateLink>,
) -> ApiResult<(StatusCode, Json<CreateLinkResult>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.rt.create_link(&req.into(), &who.actor).await?.into()),
    ))
}

/// Which link to find.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindLinkQuery {
    /// The work item.
    #[serde(default)]
    pub work_item_id: Option<String>,
    /// The Jira issue id or key.
    #[serde(default)]
    pub issue: Option<String>,
    /// The Jira site of `issue`; may be omitted when one site is configured.
    #[serde(default)]
    pub site: Option<String>,
}

/// Finds the link of a work item (`workItemId`) or of a Jira issue (`issue`).
#[utoipa::path(
    get, path = "/api/links", tag = "links",
    params(FindLinkQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = LinkInfo),
        (status = 400, description = "`bad_query`: give exactly one of workItemId and issue", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`work_item_not_found`, `jira_issue_not_found`, `site_not_found`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn find_link(
    State(state): State<AppState>,
    _who: Reader,
    QueryParams(q): QueryParams<FindLinkQuery>,
) -> ApiResult<Json<LinkInfo>> {
    match (&q.work_item_id, &q.issue) {
        (Some(w), None) => Ok(Json(state.rt.link_by_item(w).await?.into())),
        (None, Some(i)) => Ok(Json(
            state.rt.link_by_issue(q.site.as_deref(), i).await?.into(),
        )),
        _ => Err(ApiError::bad_request(
            "bad_query",
            "give exactly one of workItemId and issue",
        )),
    }
}

/// A link by its id.
#[utoipa::path(
    get, path = "/api/links/{id}", tag = "links",
    params(("id" = String, Path, description = "The link id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = LinkInfo),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`link_not_found`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn get_link(
    State(state): State<AppState>,
    _who: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<LinkInfo>> {
    Ok(Json(state.rt.link(&id).await?.into()))
}

/// Unlinks: the link stops syncing; the work item and the Jira issue are both kept.
#[utoipa::path(
    delete, path = "/api/links/{id}", tag = "links",
    params(("id" = String, Path, description = "The link id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = LinkInfo),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`link_not_found`", body = ErrorBody),
        (status = 409, description = "`refused`: already unlinked", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn delete_link(
    State(state): State<AppState>,
    who: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<LinkInfo>> {
    Ok(Json(state.rt.unlink(&id, &who.actor).await?.into()))
}

/// Sync statistics: links by status, conflicts, pending writes, the last hour's write
/// attempts, and what this process received.
#[utoipa::path(
    get, path = "/api/sync/stats", tag = "sync",
    security(("bearer" = [])),
    responses(
        (status = 200, body = StatsView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn stats(State(state): State<AppState>, _who: Reader) -> ApiResult<Json<StatsView>> {
    Ok(Json(state.rt.stats_view().await?.into()))
}

/// Forces a full sync of several work items, or of every live link of a project.
#[utoipa::path(
    post, path = "/api/sync/bulk", tag = "sync",
    request_body = BulkTarget,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Per item: whether its sync was queued", body = BulkResult),
        (status = 400, description = "`bad_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`project_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid`: neither or both of workItemIds and projectId; too many items", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn bulk_sync(
    State(state): State<AppState>,
    who: Admin,
    JsonBody(target): JsonBody<BulkTarget>,
) -> ApiResult<Json<BulkResult>> {
    Ok(Json(
        state.rt.bulk_sync(&target.into(), &who.actor).await?.into(),
    ))
}

/// Which writes to try again.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryRequest {
    /// Only this project's; every project's when absent.
    #[serde(default)]
    pub project_id: Option<String>,
}

/// Tries again the writes that gave up (links in status `error`): their given-up and held
/// writes, creates included, are queued again.
#[utoipa::path(
    post, path = "/api/sync/retry-failed", tag = "sync",
    request_body = RetryRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = BulkResult),
        (status = 400, description = "`bad_json`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`project_not_found`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
pub async fn retry_failed(
    State(state): State<AppState>,
    who: Admin,
    JsonBody(req): JsonBody<RetryRequest>,
) -> ApiResult<Json<BulkResult>> {
    Ok(Json(
        state
            .rt
            .retry_failed(req.project_id.as_deref(), &who.actor)
            .await?
            .into(),
    ))
}

/// A health answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: String,
}

/// Whether the process is up.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Whether the server can serve: its store answers.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "`unavailable`: the store does not answer", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    match state.rt.store_ready().await {
        Ok(()) => Ok(Json(Health {
            status: "ready".into(),
        })),
        Err(e) => Err(ApiError::unavailable(&e)),
    }
}

/// Prometheus metrics (OpenMetrics text format).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = crate::metrics::global();
    match state
        .rt
        .store()
        .stats(state.rt.now(), sync_engine::ops::STATS_WINDOW_MS)
        .await
    {
        Ok(s) => m.set_queue(s.open_intents, s.open_conflicts),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the queue from the store"),
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_string(),
    )
        .into_response()
}
