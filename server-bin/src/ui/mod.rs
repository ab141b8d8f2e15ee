//! The web UI under `/ui`: server-rendered HTML (askama templates, checked at compile time),
//! a pinned htmx served by this binary for the live counts, and a small stylesheet; no
//! JavaScript is needed to read a page or to act.
//!
//! Every action calls the runtime operation the JSON API calls (`crate::runtime::ops`) or,
//! for what only the UI shows, `crate::runtime::ui_ops`: there is no second code path.
//! Sign-in takes an API token of the config ([`crate::api::ApiAuth`]); sessions, cookies
//! and CSRF are in [`session`].

pub mod demo;
pub mod pages;
pub mod render;
pub mod session;

use axum::response::Redirect;
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
        .layer(Extension(session::UiState::new()))
}
