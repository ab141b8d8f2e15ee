//! The simulator's HTTP face: the Jira Cloud REST v3 endpoints the client uses, served
//! by axum on 127.0.0.1, and a pump that posts queued webhook deliveries.

use super::{CallFault, SimError, SimJira};
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The simulator shared between the HTTP face, the webhook pump and a test.
pub type SharedSim = Arc<Mutex<SimJira>>;

type Reply = Result<Response, SimError>;

fn lock(sim: &SharedSim) -> MutexGuard<'_, SimJira> {
    // A panic elsewhere must not take the simulator down with it.
    sim.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(self.body())).into_response();
        if let SimError::RateLimited { retry_after_s } = self {
            let h = resp.headers_mut();
            h.insert("retry-after", HeaderValue::from(retry_after_s));
            h.insert("x-ratelimit-limit", HeaderValue::from_static("100"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert(
                "ratelimit-reason",
                HeaderValue::from_static("jira-burst-based"),
            );
        }
        resp
    }
}

fn json_body(bytes: &Bytes) -> Result<Value, SimError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| SimError::BadRequest {
        messages: vec![format!("Unexpected character in the request body: {e}")],
        errors: Default::default(),
    })
}

fn ok(status: StatusCode, body: Value) -> Reply {
    Ok((status, Json(body)).into_response())
}

fn no_content() -> Reply {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn split_list(s: Option<&String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn usize_param(q: &HashMap<String, String>, key: &str) -> Result<Option<usize>, SimError> {
    q.get(key)
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                SimError::message(format!("The value '{v}' for '{key}' is not a number."))
            })
        })
        .transpose()
}

/// Count the call and let a fault answer it when the dice say so.
async fn faults(State(sim): State<SharedSim>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let endpoint = format!("{} {path}", req.method());
    let verdict = lock(&sim).admit(&endpoint);
    if let Err(e) = verdict {
        return e.into_response();
    }
    let injected = lock(&sim).call_fault(&endpoint);
    match injected {
        None => next.run(req).await,
        Some(CallFault::Error(e)) => e.into_response(),
        Some(CallFault::DropBefore) => dropped_connection(),
        Some(CallFault::DropAfter) => {
            let _ = next.run(req).await;
            dropped_connection()
        }
    }
}

/// A body that fails before its first byte: hyper aborts the connection, so the client
/// sees the call fail without an answer.
struct Broken;

impl axum::body::HttpBody for Broken {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected: connection dropped",
        ))))
    }
}

/// A response whose connection drops before the body: what a timeout looks like to a
/// client.
fn dropped_connection() -> Response {
    Response::new(axum::body::Body::new(Broken))
}

/// The router: Cloud v3 endpoints under `/rest/api/3` (and `/rest/api/2/serverInfo`).
pub fn router(sim: SharedSim) -> Router {
    let api = Router::new()
        .route("/issue", axum::routing::post(create_issue))
        .route(
            "/issue/{id}",
            get(get_issue).put(edit_issue).delete(delete_issue),
        )
        .route("/issue/{id}/changelog", get(get_changelog))
        .route(
            "/issue/{id}/transitions",
            get(get_transitions).post(post_transition),
        )
        .route("/issue/{id}/comment", get(get_comments).post(post_comment))
        .route(
            "/issue/{id}/comment/{cid}",
            put(put_comment).delete(delete_comment),
        )
        .route(
            "/issue/{id}/properties/{key}",
            get(get_property).put(put_property),
        )
        .route("/search/jql", get(search_get).post(search_post))
        .route("/field", get(fields))
        .route("/serverInfo", get(server_info))
        .route("/myself", get(myself))
        .route(
            "/webhook",
            get(list_webhooks)
                .post(register_webhooks)
                .delete(delete_webhooks),
        )
        .route("/webhook/refresh", put(refresh_webhooks));
    Router::new()
        .nest("/rest/api/3", api)
        .route("/rest/api/2/serverInfo", get(server_info))
        .route_layer(axum::middleware::from_fn_with_state(sim.clone(), faults))
        .with_state(sim)
}

/// Serve the simulator on `addr`, which must be a loopback address (use port 0 for any
/// free port). Returns the bound address and the server task.
pub async fn serve(
    sim: SharedSim,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("the simulator listens on loopback only, not {addr}"),
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(sim);
    let handle = tokio::spawn(async move {
        // The server ends only when its task is aborted; an accept error ends it early.
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, handle))
}

/// Post due webhook deliveries every `every`, like Cloud does; a failed POST (error or
/// non-2xx) is retried later through [`SimJira::delivery_failed`].
pub fn run_webhook_pump(
    sim: SharedSim,
    client: reqwest::Client,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let due = lock(&sim).drain_due();
            for d in due {
                if !post_delivery(&client, &d).await {
                    lock(&sim).delivery_failed(d);
                }
            }
        }
    })
}

/// POST one delivery; `true` when the receiver answered 2xx.
pub async fn post_delivery(client: &reqwest::Client, d: &super::Delivery) -> bool {
    let mut req = client.post(&d.url).body(d.body.clone());
    for (k, v) in &d.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    matches!(req.send().await, Ok(r) if r.status().is_success())
}

async fn create_issue(State(sim): State<SharedSim>, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let fields = body
        .get("fields")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| SimError::message("The request body has no 'fields'."))?;
    let properties: Vec<(String, Value)> = body
        .get("properties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p.get("key")?.as_str()?.to_owned(), p.get("value")?.clone())))
                .collect()
        })
        .unwrap_or_default();
    let mut s = lock(&sim);
    let actor = s.config().api_user.account_id.clone();
    let (id, key) = s.create_issue(&fields, &properties, &actor)?;
    let base = s.config().base_url.clone();
    ok(
        StatusCode::CREATED,
        json!({"id": id, "key": key, "self": format!("{base}/rest/api/3/issue/{id}")}),
    )
}

async fn get_issue(
    State(sim): State<SharedSim>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let fields = split_list(q.get("fields"));
    let s = lock(&sim);
    let mut issue = s.get_issue(&id, (!fields.is_empty()).then_some(fields.as_slice()))?;
    // `expand=transitions` (or `transitions.fields`): the transitions from the issue's
    // status, as `GET …/transitions` lists them.
    let expand = split_list(q.get("expand"));
    if expand
        .iter()
        .any(|e| e == "transitions" || e == "transitions.fields")
    {
        let with_fields = expand.iter().any(|e| e == "transitions.fields");
        let t = s.transitions(&id, with_fields)?;
        issue["transitions"] = t["transitions"].clone();
    }
    ok(StatusCode::OK, issue)
}

async fn get_changelog(
    State(sim): State<SharedSim>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let num = |k: &str, d: usize| q.get(k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(d);
    let start_at = num("startAt", 0);
    let max_results = num("maxResults", 100).clamp(1, 100);
    let history = lock(&sim).issue_history(&id)?;
    let total = history.len();
    let values: Vec<Value> = history
        .into_iter()
        .skip(start_at)
        .take(max_results)
        .collect();
    let is_last = start_at + values.len() >= total;
    ok(
        StatusCode::OK,
        json!({
            "startAt": start_at,
            "maxResults": max_results,
            "total": total,
            "isLast": is_last,
            "values": values,
        }),
    )
}

async fn edit_issue(
    State(sim): State<SharedSim>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Reply {
    let body = json_body(&body)?;
    if body
        .get("update")
        .and_then(Value::as_object)
        .is_some_and(|u| !u.is_empty())
    {
        return Err(SimError::message(
            "The simulator supports 'fields' edits only, not 'update' operations.",
        ));
    }
    let fields = body
        .get("fields")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(Map::new);
    let mut s = lock(&sim);
    s.edit_issue(&id, &fields)?;
    // Cloud's `returnIssue=true`: 200 with the issue as it is after the edit.
    if q.get("returnIssue").is_some_and(|v| v == "true") {
        return ok(StatusCode::OK, s.issue_with_every_field(&id)?);
    }
    no_content()
}

async fn delete_issue(State(sim): State<SharedSim>, Path(id): Path<String>) -> Reply {
    let mut s = lock(&sim);
    let actor = s.config().api_user.account_id.clone();
    s.delete_issue(&id, &actor)?;
    no_content()
}

async fn get_transitions(
    State(sim): State<SharedSim>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let expand = q
        .get("expand")
        .is_some_and(|e| e.split(',').any(|x| x.trim() == "transitions.fields"));
    ok(StatusCode::OK, lock(&sim).transitions(&id, expand)?)
}

async fn post_transition(
    State(sim): State<SharedSim>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let body = json_body(&body)?;
    let mut s = lock(&sim);
    let actor = s.config().api_user.account_id.clone();
    s.do_transition(&id, &body, &actor)?;
    no_content()
}

async fn get_comments(
    State(sim): State<SharedSim>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let start = usize_param(&q, "startAt")?.unwrap_or(0);
    let max = usize_param(&q, "maxResults")?.unwrap_or(50).clamp(1, 5000);
    ok(StatusCode::OK, lock(&sim).comments(&id, start, max)?)
}

async fn post_comment(State(sim): State<SharedSim>, Path(id): Path<String>, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let mut s = lock(&sim);
    let actor = s.config().api_user.account_id.clone();
    ok(StatusCode::CREATED, s.add_comment(&id, &body, &actor)?)
}

async fn put_comment(
    State(sim): State<SharedSim>,
    Path((id, cid)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let body = json_body(&body)?;
    let mut s = lock(&sim);
    let actor = s.config().api_user.account_id.clone();
    ok(StatusCode::OK, s.update_comment(&id, &cid, &body, &actor)?)
}

async fn delete_comment(
    State(sim): State<SharedSim>,
    Path((id, cid)): Path<(String, String)>,
) -> Reply {
    let mut s = lock(&sim);
    let actor = s.config().api_user.account_id.clone();
    s.delete_comment(&id, &cid, &actor)?;
    no_content()
}

async fn get_property(
    State(sim): State<SharedSim>,
    Path((id, key)): Path<(String, String)>,
) -> Reply {
    ok(StatusCode::OK, lock(&sim).get_property(&id, &key)?)
}

async fn put_property(
    State(sim): State<SharedSim>,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let value = json_body(&body)?;
    let created = lock(&sim).set_property(&id, &key, value)?;
    ok(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        json!({}),
    )
}

fn search(
    sim: &SharedSim,
    jql: &str,
    fields: &[String],
    max: Option<usize>,
    token: Option<&str>,
) -> Reply {
    ok(StatusCode::OK, lock(sim).search(jql, fields, max, token)?)
}

async fn search_get(
    State(sim): State<SharedSim>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let fields = split_list(q.get("fields"));
    let max = usize_param(&q, "maxResults")?;
    search(
        &sim,
        q.get("jql").map_or("", String::as_str),
        &fields,
        max,
        q.get("nextPageToken").map(String::as_str),
    )
}

async fn search_post(State(sim): State<SharedSim>, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let fields: Vec<String> = match body.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err(SimError::message("'fields' must be an array of strings.")),
    };
    let max = match body.get("maxResults") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| SimError::message("'maxResults' must be a number."))?,
        ),
    };
    let jql = body.get("jql").and_then(Value::as_str).unwrap_or("");
    search(
        &sim,
        jql,
        &fields,
        max,
        body.get("nextPageToken").and_then(Value::as_str),
    )
}

async fn fields(State(sim): State<SharedSim>) -> Reply {
    ok(StatusCode::OK, lock(&sim).fields_meta())
}

async fn server_info(State(sim): State<SharedSim>) -> Reply {
    ok(StatusCode::OK, lock(&sim).server_info())
}

async fn myself(State(sim): State<SharedSim>) -> Reply {
    ok(StatusCode::OK, lock(&sim).myself())
}

async fn list_webhooks(
    State(sim): State<SharedSim>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let start = usize_param(&q, "startAt")?.unwrap_or(0);
    let max = usize_param(&q, "maxResults")?.unwrap_or(100).clamp(1, 100);
    ok(StatusCode::OK, lock(&sim).list_webhooks(start, max))
}

async fn register_webhooks(State(sim): State<SharedSim>, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    ok(StatusCode::OK, lock(&sim).register_webhooks(&body)?)
}

fn webhook_ids(body: &Value) -> Result<Vec<i64>, SimError> {
    body.get("webhookIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .ok_or_else(|| SimError::message("'webhookIds' is required."))
}

async fn delete_webhooks(State(sim): State<SharedSim>, body: Bytes) -> Reply {
    let ids = webhook_ids(&json_body(&body)?)?;
    lock(&sim).delete_webhooks(&ids);
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn refresh_webhooks(State(sim): State<SharedSim>, body: Bytes) -> Reply {
    let ids = webhook_ids(&json_body(&body)?)?;
    ok(StatusCode::OK, lock(&sim).refresh_webhooks(&ids))
}
