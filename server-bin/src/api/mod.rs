//! The HTTP API of the server (axum), documented by the OpenAPI document it serves at
//! `/api/openapi.json` (built from the same annotations as the router, with `utoipa`).
//!
//! Auth: API endpoints take a bearer token from [`ApiAuth`] — a read-only token reads, an
//! admin token also changes things. Webhooks carry no token: they are authenticated by
//! their HMAC signature only (Jira's with the site's webhook secret, the host's with
//! [`ApiConfig::handoff_secret`]). `/healthz`, `/readyz`, `/metrics` and the OpenAPI
//! document are open. Every error is JSON `{"code", "message"}` with a stable code
//! ([`error::ApiError`]); internals are logged, never sent.

pub mod dto;
pub mod error;
pub mod extract;
mod handlers;
mod schema;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::Router;
use subtle::ConstantTimeEq;
use tokio::task::JoinHandle;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use error::ApiError;
use sync_engine::Runtime;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read status, history, conflicts, mappings, links, stats.
    ReadOnly,
    /// Everything a read-only token may, and change things: force syncs, resolve
    /// conflicts, change mappings, create and delete links, bulk syncs and retries.
    Admin,
}

/// One API token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Its name: recorded as the actor of what it does (e.g. `ci`, `ana`).
    pub name: String,
    /// The secret the caller sends as `Authorization: Bearer <token>`.
    pub token: String,
    /// What it may do.
    pub role: Role,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// The API's bearer tokens. With none, every API endpoint answers 401 (webhooks and health
/// endpoints still work).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiAuth {
    /// The tokens.
    pub tokens: Vec<ApiToken>,
}

impl ApiAuth {
    /// Auth with these tokens.
    pub fn new(tokens: Vec<ApiToken>) -> ApiAuth {
        ApiAuth { tokens }
    }

    /// The name and role of a token, comparing in constant time against every token.
    pub fn check(&self, candidate: &str) -> Option<(String, Role)> {
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.token.as_bytes().ct_eq(candidate.as_bytes())) && found.is_none() {
                found = Some((t.name.clone(), t.role));
            }
        }
        found
    }
}

/// Settings of the HTTP API.
#[derive(Clone, Debug, Default)]
pub struct ApiConfig {
    /// Bearer tokens.
    pub auth: ApiAuth,
    /// The secret the host signs its change notifications with (`X-Handoff-Signature`);
    /// without it `POST /api/webhooks/handoff` answers 404 `not_configured`.
    pub handoff_secret: Option<Vec<u8>>,
}

/// The state every handler sees.
#[derive(Clone)]
pub struct AppState {
    /// The runtime.
    pub rt: Arc<Runtime>,
    /// The API's settings.
    pub config: Arc<ApiConfig>,
    /// The OpenAPI document, serialized.
    openapi: Arc<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "jira-sync",
        description = "Two-way sync between Jira and Handoff work items: webhooks in, sync status, history, conflicts, field mappings, links, statistics.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "webhooks", description = "Deliveries from Jira and the host, authenticated by HMAC signature"),
        (name = "work items", description = "Sync status, force sync, history"),
        (name = "conflicts", description = "The conflict queue"),
        (name = "mappings", description = "Field mappings and Jira field discovery"),
        (name = "links", description = "Linking work items and Jira issues"),
        (name = "sync", description = "Statistics, bulk syncs, retries"),
        (name = "operations", description = "Health, readiness, metrics, this document")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    use handlers::*;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(jira_webhook))
        .routes(routes!(jira_site_webhook))
        .routes(routes!(handoff_webhook))
        .routes(routes!(sync_status))
        .routes(routes!(force_sync))
        .routes(routes!(item_history))
        .routes(routes!(project_conflicts))
        .routes(routes!(resolve_conflict))
        .routes(routes!(get_mappings, put_mappings))
        .routes(routes!(test_mappings))
        .routes(routes!(jira_fields))
        .routes(routes!(create_link, find_link))
        .routes(routes!(get_link, delete_link))
        .routes(routes!(stats))
        .routes(routes!(bulk_sync))
        .routes(routes!(retry_failed))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    schema::finish(api_router().split_for_parts().1)
}

async fn no_route(req: Request) -> impl IntoResponse {
    ApiError::no_route(req.uri().path())
}

async fn wrong_method(req: Request) -> impl IntoResponse {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; see /api/openapi.json",
            req.method(),
            req.uri().path()
        ),
    )
}

/// The router of the whole API over `rt`.
pub fn app(rt: Arc<Runtime>, config: ApiConfig) -> Router {
    let (router, doc) = api_router().split_for_parts();
    let doc = schema::finish(doc);
    let openapi = Arc::new(doc.to_pretty_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialize the OpenAPI document");
        String::from("{}")
    }));
    let state = AppState {
        rt,
        config: Arc::new(config),
        openapi,
    };
    router
        .merge(crate::ui::router())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

/// Serves [`app`] on `addr` (port 0 for any free port); returns the bound address and the
/// server task, which ends when aborted.
pub async fn serve(
    rt: Arc<Runtime>,
    addr: SocketAddr,
    config: ApiConfig,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let router = app(rt, config);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the HTTP server stopped");
        }
    });
    Ok((bound, handle))
}
