//! The UI's pages and actions. Each action calls the same runtime operation the JSON API
//! calls (`sync_engine::ops`, `sync_engine::insights`); the pages only read.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use sync_domain::mapping::{MappingError, ProjectMapping, Side};
use sync_domain::DomainError;

use super::render::{
    ago, badge_svg, badge_words, chart_svg, diff_html, esc, markdown_html, rich_diff_html,
    show_value, when, when_iso, when_seconds,
};
use super::session::{
    self, badge_reader, cookie, over_tls, same, set_cookie, with_cookie, Viewer, LOGIN_COOKIE,
    SESSION_COOKIE,
};
use crate::api::dto::{value_from_json, MappingsView};
use crate::api::AppState;
use crate::mapping_doc::{describe, FieldMappingDoc, MappingDoc, TransformDoc};
use sync_domain::link::Resolution;
use sync_domain::Value;
use sync_engine::ops::{BulkTarget, CreateLink, LinkInfo};
use sync_engine::Error as OpsError;

/// The common part of every page.
#[derive(Clone, Debug, Default)]
pub struct Nav {
    /// The page's title.
    pub title: String,
    /// Who is signed in (empty: nobody).
    pub actor: String,
    /// Whether they may change things.
    pub admin: bool,
    /// The session's CSRF token.
    pub csrf: String,
    /// The configured projects.
    pub projects: Vec<String>,
}

fn nav(state: &AppState, v: &Viewer, title: impl Into<String>) -> Nav {
    Nav {
        title: title.into(),
        actor: v.actor.clone(),
        admin: v.admin,
        csrf: v.csrf.clone(),
        projects: state
            .rt
            .projects()
            .iter()
            .map(|p| p.project_id.clone())
            .collect(),
    }
}

fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "ui: a template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// A page of one message, with links onward.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    nav: Nav,
    message: String,
    bad: bool,
    details: Vec<String>,
    links: Vec<(String, String)>,
    live_item: String,
    live_badge: String,
}

/// A page telling what went wrong (no session details needed).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(
        status,
        &MessagePage {
            nav: Nav {
                title: title.to_string(),
                ..Nav::default()
            },
            message: message.to_string(),
            bad: true,
            details: Vec::new(),
            links: vec![("/ui".into(), "Back to the dashboard".into())],
            live_item: String::new(),
            live_badge: String::new(),
        },
    )
}

/// An operation's failure as a page with the matching status.
fn ops_error(e: &OpsError) -> Response {
    let (status, title) = match e {
        OpsError::NotFound { .. } => (StatusCode::NOT_FOUND, "Not found"),
        OpsError::Invalid(_)
        | OpsError::Domain(
            DomainError::InvalidMapping(_)
            | DomainError::InvalidValue { .. }
            | DomainError::MergeValueDoesNotFit { .. },
        ) => (StatusCode::UNPROCESSABLE_ENTITY, "Cannot do that"),
        OpsError::Refused(_) | OpsError::Domain(_) => (StatusCode::CONFLICT, "Refused"),
        OpsError::Jira(_) | OpsError::Host(_) => {
            (StatusCode::BAD_GATEWAY, "Jira or the host failed")
        }
        OpsError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "The store failed"),
    };
    let message = match e {
        OpsError::NotFound { what, id } => format!("No {} {id:?}.", what.replace('_', " ")),
        OpsError::Store(err) => {
            tracing::error!(error = %err, "ui: store");
            "The store did not answer; try again shortly.".to_string()
        }
        other => other.to_string(),
    };
    error_page(status, title, &message)
}

fn done(
    state: &AppState,
    v: &Viewer,
    title: &str,
    message: String,
    details: Vec<String>,
    links: Vec<(String, String)>,
    live: Option<&LinkInfo>,
) -> Response {
    let live = live.and_then(|l| l.work_item_id.as_deref().map(|i| (i, l)));
    render(
        StatusCode::OK,
        &MessagePage {
            nav: nav(state, v, title),
            message,
            bad: false,
            details,
            links,
            live_item: live.map(|(i, _)| i.to_string()).unwrap_or_default(),
            // The status the operation returned: the live region refreshes it.
            live_badge: live
                .map(|(i, l)| badge_html(i, l.jira_issue_key.as_deref(), &l.status))
                .unwrap_or_default(),
        },
    )
}

/// A posted form, as name/value pairs.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }
}

// ----- static assets -----

/// The pinned htmx (2.0.11, from the npm package `htmx.org`; licence in
/// `assets/htmx-LICENSE`).
pub async fn htmx() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../../assets/htmx.min.js"),
    )
        .into_response()
}

/// The stylesheet.
pub async fn css() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/ui.css"),
    )
        .into_response()
}

// ----- sign-in -----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    csrf: String,
    next: String,
    error: String,
}

/// Where the sign-in page sends the person back to.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only pages of the UI: never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui") && !n.starts_with("//") && !n.contains("://") => {
            n.to_string()
        }
        _ => "/ui".to_string(),
    }
}

fn login_page(headers: &HeaderMap, next: &str, error: &str, status: StatusCode) -> Response {
    let nonce = session::random_hex(16);
    let page = render(
        status,
        &LoginPage {
            nav: Nav {
                title: "Sign in".into(),
                ..Nav::default()
            },
            csrf: nonce.clone(),
            next: next.to_string(),
            error: error.to_string(),
        },
    );
    with_cookie(
        page,
        set_cookie(LOGIN_COOKIE, &nonce, 600, over_tls(headers)),
    )
}

/// The sign-in form.
pub async fn login_form(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    login_page(&headers, &safe_next(q.next.as_deref()), "", StatusCode::OK)
}

/// Signs in with an API token of the config.
pub async fn login(State(state): State<AppState>, parts: Parts, Form(f): Form<Fields>) -> Response {
    let headers = &parts.headers;
    let next = safe_next(f.get("next"));
    let csrf_ok = match (cookie(headers, LOGIN_COOKIE), f.get("csrf")) {
        (Some(c), Some(given)) => same(c, given),
        _ => false,
    };
    if !csrf_ok {
        return login_page(
            headers,
            &next,
            "The sign-in form expired (its CSRF check failed): try again.",
            StatusCode::FORBIDDEN,
        );
    }
    let token = f.text("token");
    if token.is_empty() {
        return login_page(
            headers,
            &next,
            "Enter an API token.",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let Some((actor, role)) = state.config.auth.check(&token) else {
        return login_page(
            headers,
            &next,
            "This token is not one of the server's API tokens.",
            StatusCode::UNAUTHORIZED,
        );
    };
    let Some(ui) = session::ui_state(&parts) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "no session store",
        );
    };
    let id = ui.open(&actor, role);
    let secure = over_tls(headers);
    let resp = Redirect::to(&next).into_response();
    let resp = with_cookie(
        resp,
        set_cookie(SESSION_COOKIE, &id, session::SESSION_TTL.as_secs(), secure),
    );
    with_cookie(resp, set_cookie(LOGIN_COOKIE, "", 0, secure))
}

/// Signs out: the session ends here and its cookie is dropped.
pub async fn logout(v: Viewer, parts: Parts, Form(f): Form<Fields>) -> Response {
    if !f.get("csrf").is_some_and(|c| same(c, &v.csrf)) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The form has expired",
            "The form's CSRF token is missing or does not match this session. Reload the page and try again.",
        );
    }
    if let Some(ui) = session::ui_state(&parts) {
        ui.close(&v.session_id);
    }
    with_cookie(
        Redirect::to("/ui/login").into_response(),
        set_cookie(SESSION_COOKIE, "", 0, over_tls(&parts.headers)),
    )
}

// ----- dashboard -----

#[derive(Template)]
#[template(path = "counts.html")]
struct Counts {
    project: String,
    open_conflicts: u64,
    queue_depth: u64,
    errors: u64,
    last_sync: String,
}

struct SiteRow {
    name: String,
    base_url: String,
    state: String,
    state_class: String,
    account: String,
    circuit: String,
    rate_limit: String,
    webhooks: String,
    deliveries: u64,
    last_delivery: String,
}

struct ProjectRow {
    id: String,
    site: String,
    jira_key: String,
    counts: String,
    by_status: Vec<(String, u64)>,
    windows: Vec<(String, u64, u64, String)>,
    p50: String,
    p95: String,
    errors: Vec<(String, u64)>,
    chart: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Nav,
    sites: Vec<SiteRow>,
    projects: Vec<ProjectRow>,
}

async fn counts_html(state: &AppState, project: &str) -> Result<String, OpsError> {
    let d = state.rt.project_dashboard(project).await?;
    let errors = d
        .links_by_status
        .iter()
        .find(|(s, _)| s == "error")
        .map_or(0, |(_, n)| *n);
    let now = state.rt.now();
    let c = Counts {
        project: project.to_string(),
        open_conflicts: d.open_conflicts,
        queue_depth: d.queue_depth,
        errors,
        last_sync: d
            .last_sync_at
            .map_or_else(|| "never".into(), |t| ago(t, now)),
    };
    c.render()
        .map_err(|e| OpsError::Invalid(format!("template: {e}")))
}

/// The dashboard: per Jira site and project.
pub async fn dashboard(State(state): State<AppState>, v: Viewer) -> Response {
    let rt = &state.rt;
    let mut sites = Vec::new();
    for name in rt.site_names() {
        let h = match rt.site_health(&name).await {
            Ok(h) => h,
            Err(e) => return ops_error(&e),
        };
        let (state_text, class) = match (&h.account, h.circuit_open) {
            (_, false) if h.rate_limited_until.is_some() => (
                format!(
                    "Paused: rate limited by Jira until {}",
                    h.rate_limited_until.map(when_seconds).unwrap_or_default()
                ),
                "state-warn",
            ),
            (_, true) => (
                "Paused: the circuit breaker is open after repeated failures; calls fail fast until it closes".to_string(),
                "state-bad",
            ),
            (Ok(_), false) => ("Connected: Jira answers and accepts the credentials".to_string(), "state-ok"),
            (Err(e), false) => (format!("Not connected: {e}"), "state-bad"),
        };
        sites.push(SiteRow {
            name: h.name.clone(),
            base_url: h.base_url.clone(),
            state: state_text,
            state_class: class.into(),
            account: h
                .account
                .clone()
                .unwrap_or_else(|e| format!("not known ({e})")),
            circuit: if h.circuit_open {
                "open (calls fail fast)".into()
            } else {
                "closed".into()
            },
            rate_limit: match h.rate_limited_until {
                Some(t) => format!("paused until {} (Jira asked to slow down)", when_seconds(t)),
                None => "none now".into(),
            },
            webhooks: match &h.webhooks {
                Ok(w) if w.is_empty() => "none registered through the API".into(),
                Ok(w) => w
                    .iter()
                    .map(|(id, exp)| match exp {
                        Some(e) => format!("#{id} expires {}", when_iso(e)),
                        None => format!("#{id} (no expiry given)"),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => format!("not known ({e})"),
            },
            deliveries: rt.webhooks_received(),
            last_delivery: rt
                .counters
                .last_delivery(&h.name)
                .map_or_else(|| "none yet".into(), when),
        });
    }
    let mut projects = Vec::new();
    for p in rt.projects() {
        let d = match rt.project_dashboard(&p.project_id).await {
            Ok(d) => d,
            Err(e) => return ops_error(&e),
        };
        let counts = match counts_html(&state, &p.project_id).await {
            Ok(c) => c,
            Err(e) => return ops_error(&e),
        };
        let ms = |v: Option<u64>| {
            v.map_or_else(|| "not known (no attempt)".into(), |n| format!("{n} ms"))
        };
        projects.push(ProjectRow {
            id: d.project_id.clone(),
            site: d.site.clone(),
            jira_key: d.jira_project_key.clone(),
            counts,
            by_status: d.links_by_status.clone(),
            windows: d
                .windows
                .iter()
                .map(|w| {
                    (
                        w.label.to_string(),
                        w.succeeded,
                        w.failed,
                        w.success_rate()
                            .map_or_else(|| "—".into(), |r| format!("{:.1} %", r * 100.0)),
                    )
                })
                .collect(),
            p50: ms(d.latency_p50_ms),
            p95: ms(d.latency_p95_ms),
            errors: d.errors_by_class.clone(),
            chart: chart_svg(&d.days),
        });
    }
    render(
        StatusCode::OK,
        &DashboardPage {
            nav: nav(&state, &v, "Dashboard"),
            sites,
            projects,
        },
    )
}

/// The live counts of a project (htmx swaps them in every few seconds).
pub async fn live_counts(
    State(state): State<AppState>,
    _v: Viewer,
    Path(project): Path<String>,
) -> Response {
    match counts_html(&state, &project).await {
        Ok(html) => ([(CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => ops_error(&e),
    }
}

/// Force full sync of a project (the reconciliation of every live link).
pub async fn full_sync(
    State(state): State<AppState>,
    v: Viewer,
    Path(project): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    let target = BulkTarget::Project(project.clone());
    match state.rt.bulk_sync(&target, &v.actor).await {
        Ok(r) => done(
            &state,
            &v,
            "Force full sync",
            format!(
                "Full sync of project {project}: {} of {} links read again and compared.",
                r.succeeded, r.requested
            ),
            r.results
                .iter()
                .filter(|o| !o.ok)
                .map(|o| format!("{}: {}", o.id, o.error.clone().unwrap_or_default()))
                .collect(),
            vec![("/ui".into(), "Back to the dashboard".into())],
            None,
        ),
        Err(e) => ops_error(&e),
    }
}

/// Retry failed writes of a project.
pub async fn retry_failed(
    State(state): State<AppState>,
    v: Viewer,
    Path(project): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    match state.rt.retry_failed(Some(&project), &v.actor).await {
        Ok(r) => done(
            &state,
            &v,
            "Retry failed",
            format!(
                "Project {project}: the failed writes of {} of {} links in error are queued again.",
                r.succeeded, r.requested
            ),
            Vec::new(),
            vec![
                ("/ui".into(), "Back to the dashboard".into()),
                ("/ui/links".into(), "Links and errors".into()),
            ],
            None,
        ),
        Err(e) => ops_error(&e),
    }
}

// ----- conflicts -----

struct ConflictRow {
    id: String,
    item: String,
    key: String,
    field: String,
    kind: String,
    age: String,
}

#[derive(Template)]
#[template(path = "conflicts.html")]
struct ConflictsPage {
    nav: Nav,
    project: String,
    rows: Vec<ConflictRow>,
}

fn kind_words(kind: &str) -> &'static str {
    match kind {
        "concurrent" => "both edited",
        "clobbered" => "overwritten in Jira",
        _ => "conflict",
    }
}

/// A project's open conflicts.
pub async fn conflicts(
    State(state): State<AppState>,
    v: Viewer,
    Path(project): Path<String>,
) -> Response {
    let list = match state.rt.project_conflicts(&project).await {
        Ok(l) => l,
        Err(e) => return ops_error(&e),
    };
    let now = state.rt.now();
    let rows = list
        .into_iter()
        .map(|c| ConflictRow {
            age: ago(c.detected_at, now),
            id: c.id,
            item: c.work_item_id.unwrap_or_default(),
            key: c.jira_issue_key.unwrap_or_default(),
            field: c.field,
            kind: kind_words(&c.kind).to_string(),
        })
        .collect();
    render(
        StatusCode::OK,
        &ConflictsPage {
            nav: nav(&state, &v, format!("Conflicts of {project}")),
            project,
            rows,
        },
    )
}

struct SideView {
    id: String,
    title: String,
    rendered: String,
    marked: String,
}

#[derive(Template)]
#[template(path = "conflict.html")]
struct ConflictPage {
    nav: Nav,
    id: String,
    item: String,
    key: String,
    detected: String,
    explanation: String,
    rich: bool,
    kind: String,
    sides: Vec<SideView>,
    lost: Vec<String>,
    proposal: String,
    proposal_clean: bool,
    merged_error: String,
}

/// A value as editable text: sets one per line.
fn editable(v: &Value) -> String {
    match &crate::api::dto::value_json(v) {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("\n"),
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn conflict_page(
    state: &AppState,
    v: &Viewer,
    id: &str,
    merged: Option<(&str, &str)>,
) -> Response {
    let d = match state.rt.conflict_detail(id).await {
        Ok(d) => d,
        Err(e) => return ops_error(&e),
    };
    let rich = d.kind == sync_domain::ValueKind::RichText;
    let base = editable(&d.info.base);
    let side = |sid: &str, title: &str, value: &Value| {
        let text = editable(value);
        SideView {
            id: sid.to_string(),
            title: title.to_string(),
            rendered: if rich && sid == "base" {
                markdown_html(&text)
            } else if rich {
                rich_diff_html(&base, &text)
            } else {
                esc(&text)
            },
            marked: if sid == "base" {
                esc(&text)
            } else {
                diff_html(&base, &text)
            },
        }
    };
    let sides = vec![
        side("base", "Base: what both sides last agreed on", &d.info.base),
        side("handoff", "Handoff version", &d.info.handoff_value),
        side("jira", "Jira version", &d.info.jira_value),
    ];
    let field = d.info.field.clone();
    let explanation = match d.info.kind.as_str() {
        "clobbered" => {
            format!("The \"{field}\" field was edited in Jira while a write of ours overwrote it.")
        }
        _ => format!("The \"{field}\" field was modified in both Handoff and Jira."),
    };
    let status = if merged.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &ConflictPage {
            nav: nav(state, v, format!("Sync conflict: {field}")),
            id: d.info.id.clone(),
            item: d.info.work_item_id.clone().unwrap_or_default(),
            key: d.info.jira_issue_key.clone().unwrap_or_default(),
            detected: when(d.info.detected_at),
            explanation,
            rich,
            kind: d.kind.to_string(),
            sides,
            lost: d.info.lost_values.iter().map(show_value).collect(),
            proposal: merged.map_or_else(|| editable(&d.proposal), |(m, _)| m.to_string()),
            proposal_clean: d.proposal_clean,
            merged_error: merged.map(|(_, e)| e.to_string()).unwrap_or_default(),
        },
    )
}

/// The resolution page of a conflict.
pub async fn conflict(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> Response {
    conflict_page(&state, &v, &id, None).await
}

/// The merge editor's text as plain JSON of the field's kind.
fn merged_json(kind: sync_domain::ValueKind, text: &str) -> serde_json::Value {
    use sync_domain::ValueKind as K;
    match kind {
        K::OptionSet => serde_json::Value::Array(
            text.split(['\n', ','])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| serde_json::Value::String(s.to_string()))
                .collect(),
        ),
        K::Number => serde_json::Value::String(text.trim().to_string()),
        K::RichText | K::Text => serde_json::Value::String(text.replace("\r\n", "\n")),
        _ => serde_json::Value::String(text.trim().to_string()),
    }
}

/// Settles a conflict: Use Handoff, Use Jira, Use merged or Ignore.
pub async fn resolve(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    let detail = match state.rt.conflict_detail(&id).await {
        Ok(d) => d,
        Err(e) => return ops_error(&e),
    };
    let resolution = f.text("resolution");
    let merged_text = f.get("merged").unwrap_or_default().to_string();
    let merged = if resolution == "merge" {
        if merged_text.trim().is_empty() {
            return conflict_page(
                &state,
                &v,
                &id,
                Some((
                    &merged_text,
                    "The merged value is empty: write the value both sides should get, or choose Ignore.",
                )),
            )
            .await;
        }
        if merged_text.contains("<<<<<<<") || merged_text.contains(">>>>>>>") {
            return conflict_page(
                &state,
                &v,
                &id,
                Some((
                    &merged_text,
                    "The merged value still has conflict markers (<<<<<<< … >>>>>>>): keep one text between them.",
                )),
            )
            .await;
        }
        Some(merged_json(detail.kind, &merged_text))
    } else {
        None
    };
    let choice = match (resolution.as_str(), merged) {
        ("use_handoff", _) => Resolution::UseHandoff,
        ("use_jira", _) => Resolution::UseJira,
        ("ignore", _) => Resolution::Ignore,
        ("merge", Some(m)) => match value_from_json(detail.kind, &m) {
            Ok(value) => Resolution::Merge(value),
            Err(why) => return conflict_page(&state, &v, &id, Some((&merged_text, &why))).await,
        },
        (other, _) => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cannot do that",
                &format!("unknown resolution {other:?}: use Handoff, Jira, merged or ignore"),
            )
        }
    };
    match state.rt.resolve(&id, choice, &v.actor).await {
        Ok(link) => {
            let item = link.work_item_id.clone().unwrap_or_default();
            let how = match resolution.as_str() {
                "use_handoff" => "Handoff's value is kept",
                "use_jira" => "Jira's value is kept",
                "merge" => "the merged value is used",
                _ => "the conflict is ignored: both sides keep their values",
            };
            let writes = state.rt.pending_writes(&item).await.unwrap_or_default();
            let mut details: Vec<String> = writes
                .iter()
                .map(|w| {
                    format!(
                        "on its way: {} of {} ({})",
                        w.kind,
                        if w.fields.is_empty() {
                            "the item".to_string()
                        } else {
                            w.fields.join(", ")
                        },
                        w.state
                    )
                })
                .collect();
            if details.is_empty() {
                details.push(
                    "no write is pending now: the sides are settled or being read again".into(),
                );
            }
            done(
                &state,
                &v,
                "Conflict resolved",
                format!(
                    "Resolved the conflict on {}: {how}. Link status: {}.",
                    detail.info.field, link.status
                ),
                details,
                vec![
                    (
                        format!("/ui/items/{item}"),
                        format!("Open work item {item}"),
                    ),
                    (
                        format!("/ui/projects/{}/conflicts", link.project_id),
                        "Back to the conflicts".into(),
                    ),
                ],
                Some(&link),
            )
        }
        Err(e @ (OpsError::Invalid(_) | OpsError::Domain(_))) if resolution == "merge" => {
            conflict_page(&state, &v, &id, Some((&merged_text, &e.to_string()))).await
        }
        Err(e) => ops_error(&e),
    }
}

// ----- work item -----

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    nav: Nav,
    item: String,
    project: String,
    link_id: String,
    status: String,
    badge: String,
    key: String,
    jira_url: String,
    last_synced: String,
    conflicts: u64,
    conflict_ids: Vec<(String, String)>,
    pending: Vec<(String, String, String, String)>,
    errors: Vec<String>,
    compare: Vec<(String, String, String, bool)>,
    compare_error: String,
    timeline: Vec<(String, String, String)>,
    all: bool,
}

/// Whether to show the engine's bookkeeping.
#[derive(Debug, Default, Deserialize)]
pub struct AllQuery {
    #[serde(default)]
    all: bool,
}

fn badge_html(item: &str, key: Option<&str>, status: &str) -> String {
    let (sym, label, class) = badge_words(status);
    let key = key.unwrap_or("not in Jira yet");
    format!(
        "<a class=\"sync-badge {class}\" data-status=\"{}\" href=\"/ui/items/{}\">{} {sym} {label}</a>",
        esc(status),
        esc(&session::url_encode(item)),
        esc(key)
    )
}

/// A work item's page.
pub async fn item(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<AllQuery>,
) -> Response {
    let rt = &state.rt;
    let s = match rt.sync_status(&id).await {
        Ok(s) => s,
        Err(e) => return ops_error(&e),
    };
    let history = match rt.item_history(&id, q.all).await {
        Ok(h) => h,
        Err(e) => return ops_error(&e),
    };
    let pending = rt.pending_writes(&id).await.unwrap_or_default();
    let jira_url = match (&s.jira_issue_key, rt.jira_for_project(&s.project_id)) {
        (Some(k), Ok(c)) => format!(
            "{}/browse/{}",
            c.config().base_url.as_str().trim_end_matches('/'),
            session::url_encode(k)
        ),
        _ => String::new(),
    };
    let mut errors = Vec::new();
    if s.status == "error" {
        if let Ok(f) = rt.failing_links(&s.project_id).await {
            for l in f.iter().filter(|l| l.link.link_id == s.link_id) {
                errors.push(format!("{} — {}", l.error_class, l.message));
            }
        }
    }
    let (compare, compare_error) = if s.status == "unlinked" {
        (Vec::new(), "the item is unlinked".to_string())
    } else {
        match rt
            .mapping_dry_run(&s.project_id, Some(&id), None, None)
            .await
        {
            Ok(d) => (
                d.fields
                    .iter()
                    .map(|f| {
                        let jira = if f.jira_as_handoff == Value::Null {
                            &f.jira_value
                        } else {
                            &f.jira_as_handoff
                        };
                        (
                            f.handoff_field.clone(),
                            show_value(&f.handoff_value),
                            show_value(jira),
                            f.outcome == "in_sync" || f.handoff_value == *jira,
                        )
                    })
                    .collect(),
                String::new(),
            ),
            Err(e) => (Vec::new(), e.to_string()),
        }
    };
    let page = ItemPage {
        nav: nav(&state, &v, format!("Work item {id}")),
        badge: badge_html(&id, s.jira_issue_key.as_deref(), &s.status),
        item: id.clone(),
        project: s.project_id.clone(),
        link_id: s.link_id.clone(),
        status: s.status.clone(),
        key: s.jira_issue_key.clone().unwrap_or_default(),
        jira_url,
        last_synced: s.last_synced_at.map_or_else(|| "never".into(), when),
        conflicts: s.pending_conflicts,
        conflict_ids: s
            .conflicts
            .iter()
            .map(|c| (c.id.clone(), c.field.clone()))
            .collect(),
        pending: pending
            .iter()
            .map(|p| {
                (
                    p.kind.clone(),
                    p.fields.join(", "),
                    p.state.clone(),
                    p.due_at.map(when).unwrap_or_default(),
                )
            })
            .collect(),
        errors,
        compare,
        compare_error,
        timeline: history
            .iter()
            .map(|h| {
                let who = match (&h.actor, h.source.as_str()) {
                    (Some(a), _) => format!("by {a}"),
                    (None, "system") => String::new(),
                    (None, src) => format!("from {src}"),
                };
                (when(h.at), h.summary.clone(), who)
            })
            .collect(),
        all: q.all,
    };
    render(StatusCode::OK, &page)
}

/// Sync now: the item's full sync.
pub async fn item_sync(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    match state.rt.force_sync(&id, &v.actor).await {
        Ok(l) => done(
            &state,
            &v,
            "Sync now",
            format!(
                "Work item {id} was read again on both sides and compared; link status: {}, writes pending: {}.",
                l.status, l.open_intents
            ),
            Vec::new(),
            vec![(format!("/ui/items/{id}"), format!("Back to {id}"))],
            Some(&l),
        ),
        Err(e) => ops_error(&e),
    }
}

/// Retry: the item's failed writes are queued again.
pub async fn item_retry(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    match state.rt.retry_item(&id, &v.actor).await {
        Ok(l) => done(
            &state,
            &v,
            "Retry",
            format!(
                "The failed writes of {id} are queued again; link status: {}.",
                l.status
            ),
            Vec::new(),
            vec![(format!("/ui/items/{id}"), format!("Back to {id}"))],
            Some(&l),
        ),
        Err(e) => ops_error(&e),
    }
}

// ----- badge -----

/// The badge's options.
#[derive(Debug, Default, Deserialize)]
pub struct BadgeQuery {
    #[serde(default)]
    token: Option<String>,
}

/// The badge of a work item: `/ui/badge/{id}` as an HTML fragment, `/ui/badge/{id}.svg` as
/// SVG. A session or a token (`Authorization: Bearer`, `?token=`) may read it; cached for
/// a few seconds.
pub async fn badge(
    State(state): State<AppState>,
    parts: Parts,
    Path(id): Path<String>,
    Query(q): Query<BadgeQuery>,
) -> Response {
    if !badge_reader(&parts, &state, q.token.as_deref()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(CACHE_CONTROL, "no-store")],
            "sign in, or pass a read token",
        )
            .into_response();
    }
    let (item, svg) = match id.strip_suffix(".svg") {
        Some(i) => (i.to_string(), true),
        None => (id.clone(), false),
    };
    let link = match state.rt.link_by_item(&item).await {
        Ok(l) => l,
        Err(OpsError::NotFound { .. }) => {
            return (
                StatusCode::NOT_FOUND,
                [(CACHE_CONTROL, "private, max-age=5")],
                Html(format!(
                    "<span class=\"sync-badge unlinked\">{} not linked</span>",
                    esc(&item)
                )),
            )
                .into_response()
        }
        Err(e) => return ops_error(&e),
    };
    let key = link.jira_issue_key.as_deref().unwrap_or("Jira");
    if svg {
        return (
            [
                (CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
                (CACHE_CONTROL, "private, max-age=5"),
            ],
            badge_svg(key, &link.status),
        )
            .into_response();
    }
    (
        [(CACHE_CONTROL, "private, max-age=5")],
        Html(badge_html(
            &item,
            link.jira_issue_key.as_deref(),
            &link.status,
        )),
    )
        .into_response()
}

// ----- settings -----

struct MappingRow {
    handoff: String,
    jira_id: String,
    jira_name: String,
    kind: String,
    direction: String,
    policy: String,
    transform: String,
}

struct FormField {
    name: String,
    label: String,
    value: String,
    options: Vec<(String, String)>,
    error: String,
}

#[derive(Default)]
struct MappingForm {
    original: String,
    fields: Vec<FormField>,
    transform: String,
    test_item: String,
    test_issue: String,
    test_error: String,
    general_error: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    project: String,
    status_line: String,
    last_sync: String,
    queue: u64,
    conflicts: u64,
    rows: Vec<MappingRow>,
    form: MappingForm,
    jira_fields: Vec<(String, String)>,
    discovery_error: String,
    test_rows: Vec<(String, String, String, String, String, String)>,
    test_problems: Vec<String>,
    revisions: Vec<(String, String)>,
}

const KINDS: [&str; 7] = [
    "text",
    "rich_text",
    "number",
    "option",
    "option_set",
    "user",
    "date",
];
const DIRECTIONS: [(&str, &str); 3] = [
    ("bidirectional", "↔ Bidirectional"),
    ("push", "→ Push only (Handoff to Jira)"),
    ("pull", "← Pull only (Jira to Handoff)"),
];
const POLICIES: [&str; 6] = [
    "manual",
    "prefer_handoff",
    "prefer_jira",
    "last_writer_wins",
    "union",
    "text_merge",
];

fn json_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn transform_words(t: &TransformDoc) -> String {
    match t {
        TransformDoc::Identity => "identity".into(),
        TransformDoc::StatusMap { map } => format!("status map ({} states)", map.to_jira.len()),
        TransformDoc::PriorityMap { map } => format!("priority map ({})", map.to_jira.len()),
        TransformDoc::OptionMap { map, .. } => format!("option map ({})", map.to_jira.len()),
        TransformDoc::UserMap { map } => format!("user map ({})", map.to_jira.len()),
        TransformDoc::NumberScale { factor, decimals } => {
            format!("number × {factor} ({decimals} decimals)")
        }
    }
}

fn direction_arrow(d: &str) -> String {
    DIRECTIONS
        .iter()
        .find(|(k, _)| *k == d)
        .map_or_else(|| d.to_string(), |(_, w)| (*w).to_string())
}

/// The values the add/edit form was filled with.
#[derive(Clone, Debug, Default)]
struct Draft {
    original: String,
    handoff_field: String,
    jira_field: String,
    kind: String,
    direction: String,
    policy: String,
    test_item: String,
    test_issue: String,
}

fn form_of(draft: &Draft, errors: &BTreeMap<&str, String>, transform: String) -> MappingForm {
    let field = |name: &str, label: &str, value: &str, options: Vec<(String, String)>| FormField {
        name: name.into(),
        label: label.into(),
        value: value.into(),
        options,
        error: errors.get(name).cloned().unwrap_or_default(),
    };
    MappingForm {
        original: draft.original.clone(),
        fields: vec![
            field(
                "handoff_field",
                "Handoff field",
                &draft.handoff_field,
                vec![],
            ),
            field(
                "jira_field",
                "Jira field (id; pick by name)",
                &draft.jira_field,
                vec![],
            ),
            field(
                "kind",
                "Kind",
                &draft.kind,
                KINDS.iter().map(|k| ((*k).into(), (*k).into())).collect(),
            ),
            field(
                "direction",
                "Direction",
                &draft.direction,
                DIRECTIONS
                    .iter()
                    .map(|(k, w)| ((*k).into(), (*w).into()))
                    .collect(),
            ),
            field(
                "policy",
                "Conflict policy",
                &draft.policy,
                POLICIES
                    .iter()
                    .map(|k| ((*k).into(), (*k).into()))
                    .collect(),
            ),
        ],
        transform,
        test_item: draft.test_item.clone(),
        test_issue: draft.test_issue.clone(),
        test_error: errors.get("test").cloned().unwrap_or_default(),
        general_error: errors.get("general").cloned().unwrap_or_default(),
    }
}

struct SettingsExtra {
    draft: Draft,
    errors: BTreeMap<&'static str, String>,
    test_rows: Vec<(String, String, String, String, String, String)>,
    test_problems: Vec<String>,
    status: StatusCode,
}

async fn settings_page(
    state: &AppState,
    v: &Viewer,
    project: &str,
    extra: Option<SettingsExtra>,
    edit: Option<&str>,
) -> Response {
    let rt = &state.rt;
    let view = match rt.mappings(project).await.map(MappingsView::from) {
        Ok(m) => m,
        Err(e) => return ops_error(&e),
    };
    let dash = match rt.project_dashboard(project).await {
        Ok(d) => d,
        Err(e) => return ops_error(&e),
    };
    let site = dash.site.clone();
    let (jira_fields, discovery_error) = match rt.jira_fields(Some(&site)).await {
        Ok(f) => (
            f.fields
                .iter()
                .map(|f| {
                    (
                        f.id.clone(),
                        format!(
                            "{}{} ({})",
                            if f.custom { "Custom: " } else { "" },
                            f.name,
                            f.kind.clone().unwrap_or_else(|| "not syncable".into())
                        ),
                    )
                })
                .collect::<Vec<_>>(),
            String::new(),
        ),
        Err(e) => (Vec::new(), e.to_string()),
    };
    let names: BTreeMap<&str, &str> = jira_fields
        .iter()
        .map(|(id, label)| (id.as_str(), label.as_str()))
        .collect();
    let rows = view
        .mapping
        .mappings
        .iter()
        .map(|m| MappingRow {
            handoff: m.handoff_field.clone(),
            jira_id: m.jira_field.clone(),
            jira_name: names
                .get(m.jira_field.as_str())
                .map_or_else(|| m.jira_field.clone(), |n| (*n).to_string()),
            kind: m.kind.to_string(),
            direction: direction_arrow(&json_name(&m.direction)),
            policy: json_name(&m.policy),
            transform: m
                .transform
                .as_ref()
                .map_or_else(|| "identity".into(), transform_words),
        })
        .collect();
    let (draft, errors, test_rows, test_problems, status) = match extra {
        Some(x) => (x.draft, x.errors, x.test_rows, x.test_problems, x.status),
        None => {
            let existing =
                edit.and_then(|e| view.mapping.mappings.iter().find(|m| m.handoff_field == e));
            let d = match existing {
                Some(m) => Draft {
                    original: m.handoff_field.clone(),
                    handoff_field: m.handoff_field.clone(),
                    jira_field: m.jira_field.clone(),
                    kind: m.kind.to_string(),
                    direction: json_name(&m.direction),
                    policy: json_name(&m.policy),
                    ..Draft::default()
                },
                None => Draft {
                    kind: "text".into(),
                    direction: "bidirectional".into(),
                    policy: "manual".into(),
                    ..Draft::default()
                },
            };
            (d, BTreeMap::new(), Vec::new(), Vec::new(), StatusCode::OK)
        }
    };
    let transform = view
        .mapping
        .mappings
        .iter()
        .find(|m| !draft.original.is_empty() && m.handoff_field == draft.original)
        .map(|m| {
            m.transform
                .as_ref()
                .map_or_else(|| "identity".into(), transform_words)
        })
        .unwrap_or_default();
    let now = rt.now();
    let status_line = match rt.site_health(&site).await {
        Ok(h) if h.circuit_open => format!("✕ Paused: circuit open on {site}"),
        Ok(h) if h.rate_limited_until.is_some() => format!(
            "✕ Paused: rate limited by Jira until {}",
            h.rate_limited_until.map(when_seconds).unwrap_or_default()
        ),
        Ok(h) => match h.account {
            Ok(_) => format!("✓ Connected to {}", dash.jira_project_key),
            Err(e) => format!("✕ Not connected to {site}: {e}"),
        },
        Err(e) => format!("not known ({e})"),
    };
    render(
        status,
        &SettingsPage {
            nav: nav(state, v, format!("Jira sync settings: {project}")),
            project: project.to_string(),
            status_line,
            last_sync: dash
                .last_sync_at
                .map_or_else(|| "never".into(), |t| ago(t, now)),
            queue: dash.queue_depth,
            conflicts: dash.open_conflicts,
            rows,
            form: form_of(&draft, &errors, transform),
            jira_fields,
            discovery_error,
            test_rows,
            test_problems,
            revisions: view
                .revisions
                .iter()
                .map(|r| (r.actor.clone(), when_iso(&r.at)))
                .collect(),
        },
    )
}

/// Which mapping to edit.
#[derive(Debug, Default, Deserialize)]
pub struct EditQuery {
    #[serde(default)]
    edit: Option<String>,
}

/// A project's settings: the field mappings and their versions.
pub async fn settings(
    State(state): State<AppState>,
    v: Viewer,
    Path(project): Path<String>,
    Query(q): Query<EditQuery>,
) -> Response {
    settings_page(&state, &v, &project, None, q.edit.as_deref()).await
}

/// Where a mapping problem is shown on the form.
fn problem_field(e: &MappingError) -> &'static str {
    match e {
        MappingError::EmptyFieldName { .. } | MappingError::HandoffFieldMappedTwice { .. } => {
            "handoff_field"
        }
        MappingError::BadJiraField { .. }
        | MappingError::JiraFieldWrittenTwice { .. }
        | MappingError::StatusNeedsMap { .. } => "jira_field",
        MappingError::PolicyDoesNotFit { .. } => "policy",
        MappingError::TransformDoesNotFit { .. } | MappingError::BadScale { .. } => "kind",
        _ => "general",
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// Adds or edits one mapping: `action=test` runs the mapping with the change against the
/// item and issue given (writes nothing); `action=save` puts it in force.
pub async fn settings_post(
    State(state): State<AppState>,
    v: Viewer,
    Path(project): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    let current = match state.rt.mappings(&project).await.map(MappingsView::from) {
        Ok(m) => m.mapping,
        Err(e) => return ops_error(&e),
    };
    let draft = Draft {
        original: f.text("original"),
        handoff_field: f.text("handoff_field"),
        jira_field: f.text("jira_field"),
        kind: f.text("kind"),
        direction: f.text("direction"),
        policy: f.text("policy"),
        test_item: f.text("test_item"),
        test_issue: f.text("test_issue"),
    };
    let action = f.text("action");
    let mut errors: BTreeMap<&'static str, String> = BTreeMap::new();
    if draft.handoff_field.is_empty() {
        errors.insert("handoff_field", "Name the Handoff field.".into());
    }
    if draft.jira_field.is_empty() {
        errors.insert("jira_field", "Pick a Jira field.".into());
    }
    let kind = parse_enum(&draft.kind);
    if kind.is_none() {
        errors.insert("kind", format!("Unknown kind {:?}.", draft.kind));
    }
    let direction = parse_enum(&draft.direction);
    if direction.is_none() {
        errors.insert(
            "direction",
            format!("Unknown direction {:?}.", draft.direction),
        );
    }
    let policy = parse_enum(&draft.policy);
    if policy.is_none() {
        errors.insert("policy", format!("Unknown policy {:?}.", draft.policy));
    }
    if action != "test" && action != "save" {
        errors.insert("general", "Choose Test mapping or Save mapping.".into());
    }
    let fail = |draft: Draft, errors, rows, problems| SettingsExtra {
        draft,
        errors,
        test_rows: rows,
        test_problems: problems,
        status: StatusCode::UNPROCESSABLE_ENTITY,
    };
    let (Some(kind), Some(direction), Some(policy)) = (kind, direction, policy) else {
        return settings_page(
            &state,
            &v,
            &project,
            Some(fail(draft, errors, Vec::new(), Vec::new())),
            None,
        )
        .await;
    };
    if !errors.is_empty() {
        return settings_page(
            &state,
            &v,
            &project,
            Some(fail(draft, errors, Vec::new(), Vec::new())),
            None,
        )
        .await;
    }
    let mut doc: MappingDoc = current.clone();
    let transform = doc
        .mappings
        .iter()
        .find(|m| !draft.original.is_empty() && m.handoff_field == draft.original)
        .and_then(|m| m.transform.clone());
    let row = FieldMappingDoc {
        handoff_field: draft.handoff_field.clone(),
        jira_field: draft.jira_field.clone(),
        kind,
        direction,
        policy,
        transform,
        status_map: None,
        priority_map: None,
        option_map: None,
        option_passthrough: false,
        user_map: None,
        scale: None,
        decimals: None,
    };
    match doc
        .mappings
        .iter()
        .position(|m| !draft.original.is_empty() && m.handoff_field == draft.original)
    {
        Some(i) => doc.mappings[i] = row,
        None => doc.mappings.push(row),
    }
    let mapping = match doc.to_domain() {
        Ok(m) => m,
        Err(ps) => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cannot do that",
                &describe(&ps).join("; "),
            )
        }
    };
    let problems = match mapping.validate() {
        Err(DomainError::InvalidMapping(v)) => v,
        _ => Vec::new(),
    };
    if action == "test" {
        if draft.test_item.is_empty() && draft.test_issue.is_empty() {
            errors.insert(
                "test",
                "Pick a work item or a Jira issue (or both) to test against.".into(),
            );
            return settings_page(
                &state,
                &v,
                &project,
                Some(fail(draft, errors, Vec::new(), Vec::new())),
                None,
            )
            .await;
        }
        let item = (!draft.test_item.is_empty()).then_some(draft.test_item.as_str());
        let issue = (!draft.test_issue.is_empty()).then_some(draft.test_issue.as_str());
        return match state
            .rt
            .mapping_dry_run(&project, item, issue, Some(mapping))
            .await
        {
            Ok(d) => {
                for p in &problems {
                    errors.insert(problem_field(p), p.to_string());
                }
                let rows = d
                    .fields
                    .iter()
                    .map(|r| {
                        let write = match (&r.would_write_jira, &r.would_write_handoff) {
                            (Some(j), Some(h)) => {
                                format!("Jira ← {}; Handoff ← {}", show_value(j), show_value(h))
                            }
                            (Some(j), None) => format!("Jira ← {}", show_value(j)),
                            (None, Some(h)) => format!("Handoff ← {}", show_value(h)),
                            (None, None) => r.note.clone().unwrap_or_else(|| "nothing".into()),
                        };
                        (
                            r.handoff_field.clone(),
                            r.jira_field.clone(),
                            show_value(&r.handoff_value),
                            show_value(&r.jira_value),
                            r.outcome.replace('_', " "),
                            write,
                        )
                    })
                    .collect();
                settings_page(
                    &state,
                    &v,
                    &project,
                    Some(SettingsExtra {
                        draft,
                        errors,
                        test_rows: rows,
                        test_problems: d.mapping_problems,
                        status: StatusCode::OK,
                    }),
                    None,
                )
                .await
            }
            Err(e @ (OpsError::NotFound { .. } | OpsError::Invalid(_))) => {
                errors.insert("test", e.to_string());
                settings_page(
                    &state,
                    &v,
                    &project,
                    Some(fail(draft, errors, Vec::new(), Vec::new())),
                    None,
                )
                .await
            }
            Err(e) => ops_error(&e),
        };
    }
    if !problems.is_empty() {
        for p in &problems {
            errors
                .entry(problem_field(p))
                .and_modify(|s| {
                    s.push(' ');
                    s.push_str(&p.to_string());
                })
                .or_insert_with(|| p.to_string());
        }
        return settings_page(
            &state,
            &v,
            &project,
            Some(fail(draft, errors, Vec::new(), Vec::new())),
            None,
        )
        .await;
    }
    save_mapping(&state, &v, &project, mapping, &draft.handoff_field).await
}

async fn save_mapping(
    state: &AppState,
    v: &Viewer,
    project: &str,
    mapping: ProjectMapping,
    field: &str,
) -> Response {
    match state.rt.put_mappings(project, mapping, &v.actor).await {
        Ok(r) => done(
            state,
            v,
            "Mapping saved",
            if r.changed {
                format!(
                    "The mapping of {field} is saved as a new version by {}; {} live links use it now.",
                    v.actor, r.links_updated
                )
            } else {
                "Nothing changed: the mapping was already so.".to_string()
            },
            r.links_failed
                .iter()
                .map(|l| {
                    format!("link {l} could not be told; it keeps the old mapping until retried")
                })
                .collect(),
            vec![(
                format!("/ui/projects/{project}/settings"),
                "Back to the settings".into(),
            )],
            None,
        ),
        Err(e) => ops_error(&e),
    }
}

/// Removes one mapping.
pub async fn settings_remove(
    State(state): State<AppState>,
    v: Viewer,
    Path(project): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    let mut doc = match state.rt.mappings(&project).await.map(MappingsView::from) {
        Ok(m) => m.mapping,
        Err(e) => return ops_error(&e),
    };
    let field = f.text("handoff_field");
    let before = doc.mappings.len();
    doc.mappings.retain(|m| m.handoff_field != field);
    if doc.mappings.len() == before {
        return ops_error(&OpsError::NotFound {
            what: "mapping",
            id: field,
        });
    }
    match doc.to_domain() {
        Ok(m) => save_mapping(&state, &v, &project, m, &field).await,
        Err(ps) => error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot do that",
            &describe(&ps).join("; "),
        ),
    }
}

// ----- links -----

struct FailingRow {
    link: String,
    item: String,
    key: String,
    class: String,
    message: String,
    next: String,
}

#[derive(Template, Default)]
#[template(path = "links.html")]
struct LinksPage {
    nav: Nav,
    q: String,
    find_error: String,
    found: Vec<(String, String, String, String, String)>,
    failing: Vec<FailingRow>,
    form_error: String,
    preview: String,
    push_item: String,
    push_error: String,
    link_item: String,
    link_item_error: String,
    link_issue: String,
    link_issue_error: String,
    jql_project: String,
    jql: String,
    jql_error: String,
}

/// The search of the links page.
#[derive(Debug, Default, Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    q: Option<String>,
}

async fn links_page(
    state: &AppState,
    v: &Viewer,
    q: &str,
    mut page: LinksPage,
    status: StatusCode,
) -> Response {
    let rt = &state.rt;
    page.nav = nav(state, v, "Links and errors");
    page.q = q.to_string();
    if !q.is_empty() {
        let found = match rt.link_by_item(q).await {
            Ok(l) => Ok(l),
            Err(OpsError::NotFound { .. }) => rt.link_by_issue(None, q).await,
            Err(e) => Err(e),
        };
        match found {
            Ok(l) => page.found.push((
                l.link_id.clone(),
                l.work_item_id.clone().unwrap_or_default(),
                l.jira_issue_key.clone().unwrap_or_default(),
                l.status.clone(),
                l.last_synced_at.map_or_else(|| "never".into(), when),
            )),
            Err(OpsError::NotFound { .. }) => {
                page.find_error = format!("No link of a work item or Jira issue {q:?}.");
            }
            Err(e) => page.find_error = e.to_string(),
        }
    }
    for p in rt.projects() {
        match rt.failing_links(&p.project_id).await {
            Ok(list) => page.failing.extend(list.into_iter().map(|f| {
                FailingRow {
                    link: f.link.link_id.clone(),
                    item: f.link.work_item_id.clone().unwrap_or_default(),
                    key: f.link.jira_issue_key.clone().unwrap_or_default(),
                    class: f.error_class,
                    message: f.message,
                    next: f
                        .next_attempt_at
                        .map_or_else(|| "none scheduled: a person must retry".into(), when),
                }
            })),
            Err(e) => return ops_error(&e),
        }
    }
    if page.jql_project.is_empty() {
        page.jql_project = rt
            .projects()
            .first()
            .map(|p| p.project_id.clone())
            .unwrap_or_default();
    }
    render(status, &page)
}

/// Links: find, the failing ones, and forms to create links.
pub async fn links(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<FindQuery>,
) -> Response {
    let q = q.q.unwrap_or_default().trim().to_string();
    links_page(&state, &v, &q, LinksPage::default(), StatusCode::OK).await
}

fn link_error_field(e: &OpsError) -> String {
    match e {
        OpsError::NotFound { what, id } => format!("No {} {id:?}.", what.replace('_', " ")),
        other => other.to_string(),
    }
}

/// Creates links: push, link existing, preview or import by JQL.
pub async fn links_post(
    State(state): State<AppState>,
    v: Viewer,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    let rt = &state.rt;
    let mut page = LinksPage {
        push_item: f.text("push_item"),
        link_item: f.text("link_item"),
        link_issue: f.text("link_issue"),
        jql_project: f.text("project"),
        jql: f.text("jql"),
        ..LinksPage::default()
    };
    let bad = StatusCode::UNPROCESSABLE_ENTITY;
    match f.text("action").as_str() {
        "push" => {
            if page.push_item.is_empty() {
                page.push_error = "Name the work item to push.".into();
                return links_page(&state, &v, "", page, bad).await;
            }
            let req = CreateLink::Push {
                work_item_id: page.push_item.clone(),
            };
            match rt.create_link(&req, &v.actor).await {
                Ok(r) => created(&state, &v, &r.links, "pushed to Jira"),
                Err(
                    e @ (OpsError::NotFound { .. } | OpsError::Refused(_) | OpsError::Invalid(_)),
                ) => {
                    page.push_error = link_error_field(&e);
                    links_page(&state, &v, "", page, bad).await
                }
                Err(e) => ops_error(&e),
            }
        }
        "link" => {
            if page.link_item.is_empty() {
                page.link_item_error = "Name the work item.".into();
            }
            if page.link_issue.is_empty() {
                page.link_issue_error = "Name the Jira issue.".into();
            }
            let prefer = match f.text("prefer").as_str() {
                "jira" => Side::Jira,
                _ => Side::Handoff,
            };
            if !page.link_item_error.is_empty() || !page.link_issue_error.is_empty() {
                return links_page(&state, &v, "", page, bad).await;
            }
            let req = CreateLink::LinkExisting {
                work_item_id: page.link_item.clone(),
                jira_issue: page.link_issue.clone(),
                prefer,
            };
            match rt.create_link(&req, &v.actor).await {
                Ok(r) => created(&state, &v, &r.links, "linked"),
                Err(
                    e @ OpsError::NotFound {
                        what: "jira_issue", ..
                    },
                ) => {
                    page.link_issue_error = link_error_field(&e);
                    links_page(&state, &v, "", page, bad).await
                }
                Err(
                    e @ (OpsError::NotFound { .. } | OpsError::Refused(_) | OpsError::Invalid(_)),
                ) => {
                    page.link_item_error = link_error_field(&e);
                    links_page(&state, &v, "", page, bad).await
                }
                Err(e) => ops_error(&e),
            }
        }
        "preview" | "import" => {
            if page.jql.is_empty() {
                page.jql_error = "Write a JQL search.".into();
                return links_page(&state, &v, "", page, bad).await;
            }
            let project = page.jql_project.clone();
            if f.text("action") == "preview" {
                match rt.jql_preview(&project, &page.jql).await {
                    Ok((n, more)) => {
                        page.preview = format!(
                            "The search finds {n}{} issues; Import takes at most {}.",
                            if more { " or more" } else { "" },
                            sync_engine::ops::MAX_IMPORT
                        );
                        links_page(&state, &v, "", page, StatusCode::OK).await
                    }
                    Err(e @ (OpsError::Invalid(_) | OpsError::NotFound { .. })) => {
                        page.jql_error = link_error_field(&e);
                        links_page(&state, &v, "", page, bad).await
                    }
                    Err(e) => ops_error(&e),
                }
            } else {
                let req = CreateLink::ImportJql {
                    project_id: project,
                    jql: page.jql.clone(),
                };
                match rt.create_link(&req, &v.actor).await {
                    Ok(r) => {
                        let failed: Vec<String> = r
                            .results
                            .iter()
                            .filter(|o| !o.ok)
                            .map(|o| format!("{}: {}", o.id, o.error.clone().unwrap_or_default()))
                            .collect();
                        done(
                            &state,
                            &v,
                            "Import",
                            format!(
                                "{} of {} issues the search found are linked (issues linked already keep their link).",
                                r.results.iter().filter(|o| o.ok).count(),
                                r.results.len()
                            ),
                            failed,
                            vec![("/ui/links".into(), "Back to links".into())],
                            None,
                        )
                    }
                    Err(e @ (OpsError::Invalid(_) | OpsError::NotFound { .. })) => {
                        page.jql_error = link_error_field(&e);
                        links_page(&state, &v, "", page, bad).await
                    }
                    Err(e) => ops_error(&e),
                }
            }
        }
        _ => {
            page.form_error = "Choose an action.".into();
            links_page(&state, &v, "", page, bad).await
        }
    }
}

fn created(state: &AppState, v: &Viewer, links: &[LinkInfo], what: &str) -> Response {
    let item = links
        .first()
        .and_then(|l| l.work_item_id.clone())
        .unwrap_or_default();
    done(
        state,
        v,
        "Link created",
        format!(
            "Work item {item} {what}; link status: {}.",
            links.first().map_or("not known", |l| l.status.as_str())
        ),
        Vec::new(),
        vec![
            (
                format!("/ui/items/{item}"),
                format!("Open work item {item}"),
            ),
            ("/ui/links".into(), "Back to links".into()),
        ],
        links.first(),
    )
}

/// Retry of one failing link.
pub async fn link_retry(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    match state.rt.retry_link(&id, &v.actor).await {
        Ok(l) => done(
            &state,
            &v,
            "Retry",
            format!(
                "The failed writes of link {id} are queued again; status: {}.",
                l.status
            ),
            Vec::new(),
            vec![("/ui/links".into(), "Back to links".into())],
            Some(&l),
        ),
        Err(e) => ops_error(&e),
    }
}

/// Unlink: the link stops syncing; both sides are kept.
pub async fn link_unlink(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = v.may_post(f.get("csrf")) {
        return *r;
    }
    match state.rt.unlink(&id, &v.actor).await {
        Ok(l) => done(
            &state,
            &v,
            "Unlinked",
            format!(
                "Link {id} is unlinked: work item {} and Jira issue {} are both kept and no longer sync.",
                l.work_item_id.unwrap_or_default(),
                l.jira_issue_key.unwrap_or_default()
            ),
            Vec::new(),
            vec![("/ui/links".into(), "Back to links".into())],
            None,
        ),
        Err(e) => ops_error(&e),
    }
}
