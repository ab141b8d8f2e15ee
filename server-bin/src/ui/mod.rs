//! The web UI under `/ui`: server-rendered HTML (askama templates, checked at compile time),
//! a pinned htmx served by this binary for the live counts, and a small stylesheet; no
//! JavaScript is needed to read a page or to act.
//!
//! Every action calls the runtime operation the JSON API calls (`sync_engine::ops`) or,
//! for what only the UI shows, `sync_engine::insights`: there is no second code path.
//! Sign-in takes an API token of the config ([`crate::api::ApiAuth`]); sessions, cookies
//! and CSRF are in [`session`].

pub mod demo;
pub mod pages;
pub mod render;
pub mod session;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::api::AppState;

/// The UI's routes, merged into the API's router by [`crate::api::app`].
pub fn router() -> Router<AppState> {
    use pages::*;
    Router::new()
        .route("/ui", get(dashboard))
        .route("/ui/", get(|| async { Redirect::to("/ui") }))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/assets/htmx.min.js", get(htmx))
        .route("/ui/assets/ui.css", get(css))
        .route("/ui/live/{project}", get(live_counts))
        .route("/ui/projects/{project}/full-sync", post(full_sync))
        .route("/ui/projects/{project}/retry-failed", post(retry_failed))
        .route("/ui/projects/{project}/conflicts", get(conflicts))
        .route(
            "/ui/projects/{project}/settings",
            get(settings).post(settings_post),
        )
        .route(
            "/ui/projects/{project}/settings/remove",
            post(settings_remove),
        )
        .route("/ui/conflicts/{id}", get(conflict))
        .route("/ui/conflicts/{id}/resolve", post(resolve))
        .route("/ui/items/{id}", get(item))
        .route("/ui/items/{id}/sync", post(item_sync))
        .route("/ui/items/{id}/retry", post(item_retry))
        .route("/ui/badge/{id}", get(badge))
        .route("/ui/links", get(links).post(links_post))
        .route("/ui/links/{id}/retry", post(link_retry))
        .route("/ui/links/{id}/unlink", post(link_unlink))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(Extension(session::UiState::new()))
}

/// Headers of every UI answer: scripts, styles and images from this server only (the
/// templates have no inline script or style), no framing of pages (the badge excepted: a
/// host may frame it), no sniffing, no referrer beyond this site.
async fn security_headers(req: Request, next: Next) -> Response {
    let badge = req.uri().path().starts_with("/ui/badge/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if badge {
            "default-src 'none'; style-src 'unsafe-inline'"
        } else {
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        }),
    );
    if !badge {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}
