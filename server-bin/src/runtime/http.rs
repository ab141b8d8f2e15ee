//! The runtime's HTTP face so far: the Jira webhook endpoint and a health check. (The rest
//! of the API of the server issue is not built yet.)

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jira_adapter::webhook::{DELIVERY_ID_HEADER, SIGNATURE_HEADER};
use serde_json::json;
use tokio::task::JoinHandle;

use super::{IntakeError, IntakeOutcome, Runtime};

/// The largest webhook body taken (Jira's are a few kilobytes; big descriptions stay far
/// below this).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// The router: `POST /api/webhooks/jira`, `GET /healthz`.
pub fn app(rt: Arc<Runtime>) -> Router {
    Router::new()
        .route("/api/webhooks/jira", post(jira_webhook))
        .route("/api/webhooks/jira/{site}", post(jira_site_webhook))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(rt)
}

/// Serves [`app`] on `addr` (port 0 for any free port); returns the bound address and the
/// server task, which ends when aborted.
pub async fn serve(
    rt: Arc<Runtime>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let router = app(rt);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the HTTP server stopped");
        }
    });
    Ok((bound, handle))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

async fn jira_webhook(State(rt): State<Arc<Runtime>>, headers: HeaderMap, body: Bytes) -> Response {
    receive(&rt, None, &headers, &body).await
}

async fn jira_site_webhook(
    State(rt): State<Arc<Runtime>>,
    Path(site): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&rt, Some(&site), &headers, &body).await
}

async fn receive(rt: &Runtime, site: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match rt
        .receive_jira_webhook(
            site,
            header(SIGNATURE_HEADER),
            header(DELIVERY_ID_HEADER),
            body,
        )
        .await
    {
        Ok(IntakeOutcome::Accepted { delivery_id }) => (
            StatusCode::ACCEPTED,
            Json(json!({"status": "accepted", "deliveryId": delivery_id})),
        )
            .into_response(),
        Ok(IntakeOutcome::Duplicate { delivery_id }) => (
            StatusCode::OK,
            Json(json!({"status": "duplicate", "deliveryId": delivery_id})),
        )
            .into_response(),
        Err(IntakeError::BadSignature(_)) => error(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "the delivery's signature does not match",
        ),
        Err(IntakeError::Malformed(m)) => error(StatusCode::BAD_REQUEST, "malformed_delivery", &m),
        Err(IntakeError::UnknownSite(m)) => error(StatusCode::NOT_FOUND, "unknown_site", &m),
        Err(IntakeError::Store(e)) => {
            tracing::error!(error = %e, "webhook intake: store");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the delivery could not be stored; retry",
            )
        }
    }
}
