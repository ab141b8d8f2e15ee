//! The HTTP API in process (`tower::ServiceExt::oneshot` against the router), on a runtime
//! wired to the Jira simulator over HTTP and the in-memory host (the demo's world), on an
//! in-memory store: every endpoint's happy path, auth (missing, wrong, read-only on admin),
//! bad JSON, bad signatures, oversized bodies and unknown ids.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value as J};
use server_bin::api::{self, ApiAuth, ApiConfig, ApiToken, Role};
use server_bin::demo::{DemoWorld, HANDOFF_PERSON, JIRA_PERSON, PROJECT};
use sync_domain::link::LinkStatus;
use sync_domain::Value;
use sync_store::Store;
use tower::ServiceExt;

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";
const HOST_SECRET: &[u8] = b"host-notification-secret";
/// The secret the demo world's Jira site signs its webhooks with (see demo.rs).
const JIRA_SECRET: &[u8] = b"demo-webhook-secret";

struct Api {
    world: DemoWorld,
    app: Router,
}

fn config() -> ApiConfig {
    ApiConfig {
        auth: ApiAuth::new(vec![
            ApiToken {
                name: "ana".into(),
                token: ADMIN.into(),
                role: Role::Admin,
            },
            ApiToken {
                name: "viewer".into(),
                token: READER.into(),
                role: Role::ReadOnly,
            },
        ]),
        handoff_secret: Some(HOST_SECRET.to_vec()),
    }
}

impl Api {
    async fn start() -> Api {
        let store = Store::open("memory://").await.expect("store");
        let world = DemoWorld::start(store).await.expect("world");
        let app = api::app(world.rt.clone(), config());
        Api { world, app }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, J) {
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
            .await
            .expect("body");
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| J::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, json)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<J>,
    ) -> (StatusCode, J) {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(j) => b
                .header("content-type", "application/json")
                .body(Body::from(j.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (StatusCode, J) {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        self.send(b.body(Body::from(body)).expect("request")).await
    }

    /// A work item created by a person and pushed to Jira through the API, settled.
    async fn pushed_item(&self, title: &str) -> (String, String, String) {
        let item = self
            .world
            .host
            .create_as_person(
                PROJECT,
                &BTreeMap::from([
                    ("title".to_string(), Value::text(title)),
                    ("description".to_string(), Value::rich_text("first text")),
                    ("status".to_string(), Value::option("todo")),
                ]),
                HANDOFF_PERSON,
            )
            .expect("item");
        let (s, j) = self
            .call(
                Method::POST,
                "/api/links",
                Some(ADMIN),
                Some(json!({"action": "push", "workItemId": item.id})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{j}");
        let link_id = j["links"][0]["linkId"]
            .as_str()
            .expect("link id")
            .to_string();
        assert!(self.world.settle().await);
        let v = self
            .world
            .rt
            .store()
            .link_view(&link_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.status, LinkStatus::Synced);
        (item.id, link_id, v.issue_key.expect("key"))
    }
}

async fn item_of(api: &Api, id: &str) -> Option<handoff_adapter::HostItem> {
    use handoff_adapter::Host;
    api.world.host.get_item(id).await.unwrap()
}

fn code(j: &J) -> &str {
    j["code"].as_str().unwrap_or("<no code>")
}

/// Every API endpoint behind a token: method, path (with placeholder ids), whether it needs
/// the admin role, and a valid JSON body when it takes one.
fn api_endpoints() -> Vec<(Method, &'static str, bool, Option<J>)> {
    vec![
        (Method::GET, "/api/workitems/x/sync-status", false, None),
        (Method::POST, "/api/workitems/x/sync", true, None),
        (Method::GET, "/api/workitems/x/history", false, None),
        (Method::GET, "/api/projects/x/sync-conflicts", false, None),
        (
            Method::POST,
            "/api/sync-conflicts/x/resolve",
            true,
            Some(json!({"resolution": "use_jira"})),
        ),
        (Method::GET, "/api/projects/x/sync-mappings", false, None),
        (
            Method::PUT,
            "/api/projects/x/sync-mappings",
            true,
            Some(json!({"mappings": []})),
        ),
        (
            Method::POST,
            "/api/projects/x/sync-mappings/test",
            false,
            Some(json!({"workItemId": "x"})),
        ),
        (Method::GET, "/api/jira/fields", false, None),
        (
            Method::POST,
            "/api/links",
            true,
            Some(json!({"action": "push", "workItemId": "x"})),
        ),
        (Method::GET, "/api/links?workItemId=x", false, None),
        (Method::GET, "/api/links/x", false, None),
        (Method::DELETE, "/api/links/x", true, None),
        (Method::GET, "/api/sync/stats", false, None),
        (
            Method::POST,
            "/api/sync/bulk",
            true,
            Some(json!({"workItemIds": ["x"]})),
        ),
        (
            Method::POST,
            "/api/sync/retry-failed",
            true,
            Some(json!({})),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_api_endpoint_refuses_missing_wrong_and_too_weak_tokens() {
    let api = Api::start().await;
    for (method, path, admin, body) in api_endpoints() {
        let (s, j) = api.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{method} {path} without a token"
        );
        let (s, j) = api
            .call(method.clone(), path, Some("not-a-token"), body.clone())
            .await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{method} {path} with a wrong token"
        );
        let (s, j) = api
            .raw(
                method.clone(),
                path,
                None,
                &[("authorization", format!("Basic {ADMIN}"))],
                Vec::new(),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} Basic: {j}");
        let (s, j) = api.call(method.clone(), path, Some(READER), body).await;
        if admin {
            assert_eq!(
                (s, code(&j)),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{method} {path} with a read-only token"
            );
        } else {
            assert_ne!(s, StatusCode::UNAUTHORIZED, "{method} {path}: {j}");
            assert_ne!(s, StatusCode::FORBIDDEN, "{method} {path}: {j}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_json_endpoint_refuses_bad_json_and_oversized_bodies() {
    let api = Api::start().await;
    let big = vec![b' '; 300 * 1024];
    for (method, path, admin, body) in api_endpoints() {
        if body.is_none() {
            continue;
        }
        let token = if admin { ADMIN } else { READER };
        let json = [("content-type", "application/json".to_string())];
        let (s, j) = api
            .raw(
                method.clone(),
                path,
                Some(token),
                &json,
                b"{not json".to_vec(),
            )
            .await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::BAD_REQUEST, "bad_json"),
            "{method} {path}"
        );
        assert!(
            j["message"].as_str().unwrap().contains("line 1"),
            "the message names the problem: {j}"
        );
        // Well-formed JSON of the wrong shape names the field.
        let (s, j) = api
            .raw(
                method.clone(),
                path,
                Some(token),
                &json,
                br#"{"unexpectedField": 1}"#.to_vec(),
            )
            .await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::BAD_REQUEST, "bad_json"),
            "{method} {path}"
        );
        let (s, j) = api
            .raw(method.clone(), path, Some(token), &json, big.clone())
            .await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            "{method} {path}"
        );
        let (s, j) = api
            .raw(
                method.clone(),
                path,
                Some(token),
                &[("content-type", "text/plain".to_string())],
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            "{method} {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_ids_are_404_with_a_code_naming_what_is_missing() {
    let api = Api::start().await;
    let test_path = format!("/api/projects/{PROJECT}/sync-mappings/test");
    let cases: Vec<(Method, &str, Option<J>, &str)> = vec![
        (
            Method::GET,
            "/api/workitems/WI-404/sync-status",
            None,
            "work_item_not_found",
        ),
        (
            Method::POST,
            "/api/workitems/WI-404/sync",
            None,
            "work_item_not_found",
        ),
        (
            Method::GET,
            "/api/workitems/WI-404/history",
            None,
            "work_item_not_found",
        ),
        (
            Method::GET,
            "/api/projects/NOPE/sync-conflicts",
            None,
            "project_not_found",
        ),
        (
            Method::POST,
            "/api/sync-conflicts/c-404/resolve",
            Some(json!({"resolution": "use_jira"})),
            "conflict_not_found",
        ),
        (
            Method::GET,
            "/api/projects/NOPE/sync-mappings",
            None,
            "project_not_found",
        ),
        (
            Method::PUT,
            "/api/projects/NOPE/sync-mappings",
            Some(
                json!({"mappings": [{"handoffField": "title", "jiraField": "summary", "kind": "text"}]}),
            ),
            "project_not_found",
        ),
        (
            Method::POST,
            "/api/projects/NOPE/sync-mappings/test",
            Some(json!({"workItemId": "WI-404"})),
            "project_not_found",
        ),
        (
            Method::POST,
            &test_path,
            Some(json!({"workItemId": "WI-404"})),
            "work_item_not_found",
        ),
        (
            Method::POST,
            &test_path,
            Some(json!({"jiraIssue": "SIM-404"})),
            "jira_issue_not_found",
        ),
        (
            Method::GET,
            "/api/jira/fields?site=nope",
            None,
            "site_not_found",
        ),
        (
            Method::POST,
            "/api/links",
            Some(json!({"action": "push", "workItemId": "WI-404"})),
            "work_item_not_found",
        ),
        (
            Method::POST,
            "/api/links",
            Some(json!({"action": "import", "projectId": PROJECT, "jiraIssue": "SIM-404"})),
            "jira_issue_not_found",
        ),
        (
            Method::GET,
            "/api/links?workItemId=WI-404",
            None,
            "work_item_not_found",
        ),
        (
            Method::GET,
            "/api/links?issue=424242",
            None,
            "jira_issue_not_found",
        ),
        (Method::GET, "/api/links/link-404", None, "link_not_found"),
        (
            Method::DELETE,
            "/api/links/link-404",
            None,
            "link_not_found",
        ),
        (
            Method::POST,
            "/api/sync/bulk",
            Some(json!({"projectId": "NOPE"})),
            "project_not_found",
        ),
        (
            Method::POST,
            "/api/sync/retry-failed",
            Some(json!({"projectId": "NOPE"})),
            "project_not_found",
        ),
    ];
    for (method, path, body, want) in cases {
        let (s, j) = api.call(method.clone(), path, Some(ADMIN), body).await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::NOT_FOUND, want),
            "{method} {path}: {j}"
        );
        assert!(j["message"].is_string());
    }
    // A bulk sync of unknown items answers per item.
    let (s, j) = api
        .call(
            Method::POST,
            "/api/sync/bulk",
            Some(ADMIN),
            Some(json!({"workItemIds": ["WI-404"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["succeeded"], 0);
    assert_eq!(j["results"][0]["ok"], false);
    // Routes and methods that do not exist.
    let (s, j) = api
        .call(Method::GET, "/api/nothing-here", Some(ADMIN), None)
        .await;
    assert_eq!((s, code(&j)), (StatusCode::NOT_FOUND, "route_not_found"));
    let (s, j) = api
        .call(Method::PATCH, "/api/links/x", Some(ADMIN), None)
        .await;
    assert_eq!(
        (s, code(&j)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

fn jira_event(issue_id: &str, key: &str) -> Vec<u8> {
    json!({
        "webhookEvent": "jira:issue_updated",
        "timestamp": 1_700_000_000_000_i64,
        "issue": {"id": issue_id, "key": key, "fields": {"summary": "x", "updated": "2024-01-01T00:00:00.000+0000"}},
        "changelog": {"id": "1", "items": []},
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jira_webhooks_are_authenticated_by_signature_only() {
    let api = Api::start().await;
    let body = jira_event("777001", "SIM-901");
    let sig = jira_adapter::webhook::sign(JIRA_SECRET, &body);
    let headers = |sig: &str, id: &str| {
        vec![
            ("content-type", "application/json".to_string()),
            ("x-hub-signature", sig.to_string()),
            ("x-atlassian-webhook-identifier", id.to_string()),
        ]
    };
    for path in ["/api/webhooks/jira", "/api/webhooks/jira/sim"] {
        let id = format!("d-{path}");
        let (s, j) = api
            .raw(Method::POST, path, None, &headers(&sig, &id), body.clone())
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{path}: {j}");
        assert_eq!(j["status"], "accepted");
        let (s, j) = api
            .raw(Method::POST, path, None, &headers(&sig, &id), body.clone())
            .await;
        assert_eq!(
            (s, j["status"].as_str()),
            (StatusCode::OK, Some("duplicate"))
        );
        // A bearer token does not replace the signature.
        let (s, j) = api
            .raw(
                Method::POST,
                path,
                Some(ADMIN),
                &headers("sha256=00", "d-bad"),
                body.clone(),
            )
            .await;
        assert_eq!((s, code(&j)), (StatusCode::UNAUTHORIZED, "bad_signature"));
        let (s, j) = api
            .raw(
                Method::POST,
                path,
                None,
                &[("x-atlassian-webhook-identifier", "d-nosig".to_string())],
                body.clone(),
            )
            .await;
        assert_eq!((s, code(&j)), (StatusCode::UNAUTHORIZED, "bad_signature"));
        // Signed but not a Jira event: 400, kept for inspection.
        let junk = br#"{"hello": "world"}"#.to_vec();
        let junk_sig = jira_adapter::webhook::sign(JIRA_SECRET, &junk);
        let (s, j) = api
            .raw(
                Method::POST,
                path,
                None,
                &headers(&junk_sig, "d-junk"),
                junk,
            )
            .await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::BAD_REQUEST, "malformed_delivery")
        );
        // Oversized.
        let big = vec![b' '; 3 * 1024 * 1024];
        let (s, j) = api
            .raw(Method::POST, path, None, &headers(&sig, "d-big"), big)
            .await;
        assert_eq!(
            (s, code(&j)),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
    }
    let rejected = api.world.rt.store().rejected_deliveries(10).await.unwrap();
    assert_eq!(rejected.len(), 2, "the two malformed deliveries are kept");
    let (s, j) = api
        .raw(
            Method::POST,
            "/api/webhooks/jira/nope",
            None,
            &headers(&sig, "d-x"),
            body.clone(),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::NOT_FOUND, "site_not_found"));
    // The metrics count them.
    let (s, text) = api.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().unwrap().to_string();
    for outcome in ["received", "duplicate", "rejected"] {
        assert!(
            text.contains(&format!(
                "jira_sync_webhooks_total{{source=\"jira\",outcome=\"{outcome}\"}}"
            )),
            "{outcome} in {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_notifications_are_verified_with_the_host_secret() {
    let api = Api::start().await;
    let (item, _, _) = api.pushed_item("Notified").await;
    api.world
        .host
        .edit_as_person(
            &item,
            &BTreeMap::from([("title".to_string(), Value::text("Notified, edited"))]),
            HANDOFF_PERSON,
        )
        .unwrap();
    let body = json!({"event": "item_updated", "itemId": item, "projectId": PROJECT,
                      "version": 99, "deliveryId": "api-test-notification-1"})
    .to_string()
    .into_bytes();
    let sig = handoff_adapter::signature_header(HOST_SECRET, &body).unwrap();
    let h = |sig: &str| {
        vec![
            ("content-type", "application/json".to_string()),
            ("x-handoff-signature", sig.to_string()),
        ]
    };
    let (s, j) = api
        .raw(
            Method::POST,
            "/api/webhooks/handoff",
            None,
            &h(&sig),
            body.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{j}");
    let (s, j) = api
        .raw(
            Method::POST,
            "/api/webhooks/handoff",
            None,
            &h(&sig),
            body.clone(),
        )
        .await;
    assert_eq!(
        (s, j["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    let wrong = handoff_adapter::signature_header(b"other secret", &body).unwrap();
    let (s, j) = api
        .raw(
            Method::POST,
            "/api/webhooks/handoff",
            Some(ADMIN),
            &h(&wrong),
            body.clone(),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::UNAUTHORIZED, "bad_signature"));
    let (s, j) = api
        .raw(
            Method::POST,
            "/api/webhooks/handoff",
            None,
            &[],
            body.clone(),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::UNAUTHORIZED, "bad_signature"));
    let junk = br#"{"event": "item_updated"}"#.to_vec();
    let junk_sig = handoff_adapter::signature_header(HOST_SECRET, &junk).unwrap();
    let (s, j) = api
        .raw(
            Method::POST,
            "/api/webhooks/handoff",
            None,
            &h(&junk_sig),
            junk,
        )
        .await;
    assert_eq!(
        (s, code(&j)),
        (StatusCode::BAD_REQUEST, "malformed_delivery")
    );
    assert!(j["message"].as_str().unwrap().contains("itemId"), "{j}");
    let big = vec![b' '; 3 * 1024 * 1024];
    let (s, j) = api
        .raw(Method::POST, "/api/webhooks/handoff", None, &h(&sig), big)
        .await;
    assert_eq!(
        (s, code(&j)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    // Without a secret the endpoint is off.
    let off = api::app(api.world.rt.clone(), ApiConfig::default());
    let resp = off
        .oneshot(
            Request::post("/api/webhooks/handoff")
                .header("x-handoff-signature", sig)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // The accepted notification is processed: the edit reaches Jira.
    assert!(api.world.settle().await);
    let (s, j) = api
        .call(
            Method::GET,
            &format!("/api/workitems/{item}/history"),
            Some(READER),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        j.as_array()
            .unwrap()
            .iter()
            .any(|e| e["summary"] == "title changed in Handoff" && e["source"] == "handoff"),
        "{j:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_history_links_and_unlink() {
    let api = Api::start().await;
    let (item, link_id, key) = api.pushed_item("Status story").await;
    let (s, j) = api
        .call(
            Method::GET,
            &format!("/api/workitems/{item}/sync-status"),
            Some(READER),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["status"], "synced");
    assert_eq!(j["jiraIssueKey"], key.as_str());
    assert_eq!(j["pendingConflicts"], 0);
    assert!(j["lastSyncedAt"].as_str().unwrap().contains('T'));
    // Edit in Jira → the history says so.
    let issue_id = j["jiraIssueId"].as_str().unwrap().to_string();
    api.world
        .sim
        .lock()
        .unwrap()
        .edit_as_person(
            &issue_id,
            json!({"summary": "Edited in Jira"}).as_object().unwrap(),
            JIRA_PERSON,
        )
        .unwrap();
    assert!(api.world.settle().await);
    let (s, j) = api
        .call(
            Method::GET,
            &format!("/api/workitems/{item}/history"),
            Some(READER),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let summaries: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert!(
        summaries.contains(&"linked: work item pushed to Jira"),
        "{summaries:?}"
    );
    assert!(
        summaries.iter().any(|s| s.starts_with("Jira issue SIM-")),
        "{summaries:?}"
    );
    assert!(
        summaries.contains(&"title updated from Jira"),
        "{summaries:?}"
    );
    let from_jira = j
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["summary"] == "title updated from Jira")
        .unwrap();
    assert_eq!(from_jira["source"], "jira");
    let creator = j.as_array().unwrap().first().unwrap();
    assert_eq!(creator["actor"], "ana");
    let (_, all) = api
        .call(
            Method::GET,
            &format!("/api/workitems/{item}/history?all=true"),
            Some(READER),
            None,
        )
        .await;
    assert!(all.as_array().unwrap().len() > j.as_array().unwrap().len());
    let (s, j) = api
        .call(
            Method::GET,
            &format!("/api/workitems/{item}/history?all=maybe"),
            Some(READER),
            None,
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::BAD_REQUEST, "bad_query"));
    // Links: by item, by issue id, by key, by link id.
    for q in [
        format!("/api/links?workItemId={item}"),
        format!("/api/links?issue={issue_id}"),
        format!("/api/links?issue={key}&site=sim"),
        format!("/api/links/{link_id}"),
    ] {
        let (s, j) = api.call(Method::GET, &q, Some(READER), None).await;
        assert_eq!(s, StatusCode::OK, "{q}: {j}");
        assert_eq!(j["linkId"], link_id.as_str(), "{q}");
    }
    let (s, j) = api
        .call(Method::GET, "/api/links", Some(READER), None)
        .await;
    assert_eq!((s, code(&j)), (StatusCode::BAD_REQUEST, "bad_query"));
    // Force sync.
    let (s, j) = api
        .call(
            Method::POST,
            &format!("/api/workitems/{item}/sync"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{j}");
    assert!(api.world.settle().await);
    // Unlink: both kept; a second unlink is refused.
    let (s, j) = api
        .call(
            Method::DELETE,
            &format!("/api/links/{link_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(
        (s, j["status"].as_str()),
        (StatusCode::OK, Some("unlinked")),
        "{j}"
    );
    let (s, j) = api
        .call(
            Method::DELETE,
            &format!("/api/links/{link_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::CONFLICT, "refused"));
    let (s, j) = api
        .call(
            Method::POST,
            &format!("/api/workitems/{item}/sync"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::CONFLICT, "refused"));
    assert!(item_of(&api, &item).await.is_some());
    assert!(api
        .world
        .sim
        .lock()
        .unwrap()
        .issue_ids()
        .contains(&issue_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflicts_are_listed_with_both_values_and_resolved_by_merge() {
    let api = Api::start().await;
    let (item, link_id, _) = api.pushed_item("Conflict story").await;
    let issue_id = api
        .world
        .rt
        .store()
        .link_view(&link_id)
        .await
        .unwrap()
        .unwrap()
        .issue_id
        .unwrap();
    api.world.rt.set_dispatch_paused(true);
    api.world
        .host
        .edit_as_person(
            &item,
            &BTreeMap::from([("description".to_string(), Value::rich_text("handoff text"))]),
            HANDOFF_PERSON,
        )
        .unwrap();
    // Wait for the Handoff edit to be observed before Jira's.
    let mut queued = false;
    for _ in 0..300 {
        let v = api
            .world
            .rt
            .store()
            .link_view(&link_id)
            .await
            .unwrap()
            .unwrap();
        if v.status == LinkStatus::PendingPush {
            queued = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(queued);
    api.world
        .sim
        .lock()
        .unwrap()
        .edit_as_person(
            &issue_id,
            json!({"description": "jira text"}).as_object().unwrap(),
            JIRA_PERSON,
        )
        .unwrap();
    let mut conflicts = J::Null;
    for _ in 0..300 {
        let (s, j) = api
            .call(
                Method::GET,
                &format!("/api/projects/{PROJECT}/sync-conflicts"),
                Some(READER),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        if !j.as_array().unwrap().is_empty() {
            conflicts = j;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = &conflicts[0];
    assert_eq!(c["field"], "description", "{conflicts:#}");
    assert_eq!(c["handoffValue"], "handoff text");
    assert_eq!(c["jiraValue"], "jira text");
    assert_eq!(c["workItemId"], item.as_str());
    let conflict_id = c["id"].as_str().unwrap().to_string();
    let (_, status) = api
        .call(
            Method::GET,
            &format!("/api/workitems/{item}/sync-status"),
            Some(READER),
            None,
        )
        .await;
    assert_eq!(status["status"], "conflict");
    assert_eq!(status["pendingConflicts"], 1);
    assert_eq!(status["conflicts"][0]["id"], conflict_id.as_str());
    api.world.rt.set_dispatch_paused(false);
    // Conflict ids may hold characters a path segment must escape.
    let escaped: String = url::form_urlencoded::byte_serialize(conflict_id.as_bytes()).collect();
    let path = format!("/api/sync-conflicts/{escaped}/resolve");
    let (s, j) = api
        .call(
            Method::POST,
            &path,
            Some(ADMIN),
            Some(json!({"resolution": "merge"})),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid"));
    let (s, j) = api
        .call(
            Method::POST,
            &path,
            Some(ADMIN),
            Some(json!({"resolution": "toss"})),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid"));
    let (s, j) = api
        .call(
            Method::POST,
            &path,
            Some(ADMIN),
            Some(json!({"resolution": "merge", "mergedValue": 42})),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid"));
    let (s, j) = api
        .call(
            Method::POST,
            &path,
            Some(ADMIN),
            Some(json!({"resolution": "merge", "mergedValue": "merged text"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert!(api.world.settle().await);
    let h = item_of(&api, &item).await.unwrap();
    assert_eq!(h.field("description"), Value::rich_text("merged text"));
    let jv = api.world.jira_values(&issue_id, &item).await.unwrap();
    assert_eq!(
        jv.get("description"),
        Some(&Value::rich_text("merged text"))
    );
    let (s, j) = api
        .call(
            Method::POST,
            &path,
            Some(ADMIN),
            Some(json!({"resolution": "use_jira"})),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::NOT_FOUND, "conflict_not_found"));
    let (_, j) = api
        .call(
            Method::GET,
            &format!("/api/workitems/{item}/history"),
            Some(READER),
            None,
        )
        .await;
    let summaries: Vec<String> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap().to_string())
        .collect();
    assert!(
        summaries.contains(&"conflict on description".to_string()),
        "{summaries:?}"
    );
    assert!(
        summaries.contains(&"conflict on description resolved: merged by ana".to_string()),
        "{summaries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mappings_are_read_changed_dry_run_and_validated() {
    let api = Api::start().await;
    let (item, link_id, key) = api.pushed_item("Mapping story").await;
    let path = format!("/api/projects/{PROJECT}/sync-mappings");
    let (s, view) = api.call(Method::GET, &path, Some(READER), None).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    let mut doc = view["mapping"].clone();
    let fields: Vec<&str> = doc["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["handoffField"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"title") && fields.contains(&"status"),
        "{doc}"
    );
    assert_eq!(view["revisions"].as_array().unwrap().len(), 0);
    // An invalid mapping names every problem.
    let (s, j) = api
        .call(
            Method::PUT,
            &path,
            Some(ADMIN),
            Some(json!({"mappings": [
                {"handoffField": "title", "jiraField": "summary", "kind": "text"},
                {"handoffField": "name", "jiraField": "summary", "kind": "text"},
                {"handoffField": "size", "jiraField": "customfield_10016", "kind": "number", "policy": "union"}
            ]})),
        )
        .await;
    assert_eq!(
        (s, code(&j)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_mapping"),
        "{j}"
    );
    assert_eq!(j["details"].as_array().unwrap().len(), 2, "{j}");
    // The dry run of a candidate mapping shows what would be written, and writes nothing.
    api.world
        .host
        .edit_as_person(
            &item,
            &BTreeMap::from([("title".to_string(), Value::text("Local title"))]),
            HANDOFF_PERSON,
        )
        .unwrap();
    api.world.rt.set_dispatch_paused(true);
    let (s, dry) = api
        .call(
            Method::POST,
            &format!("{path}/test"),
            Some(READER),
            Some(json!({"workItemId": item})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(dry["jiraIssueKey"], key.as_str());
    assert_eq!(dry["linked"], true);
    let title = dry["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["handoffField"] == "title")
        .unwrap();
    assert_eq!(title["handoffValue"], "Local title", "{dry:#}");
    assert_eq!(title["jiraValue"], "Mapping story");
    assert_eq!(title["outcome"], "write_jira");
    assert_eq!(title["wouldWriteJira"], "Local title");
    let status = dry["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["handoffField"] == "status")
        .unwrap();
    assert_eq!(status["handoffValue"], "todo");
    assert_eq!(status["jiraValue"], "To Do");
    assert_eq!(status["jiraAsHandoff"], "todo");
    assert_eq!(status["outcome"], "in_sync");
    let (s, j) = api
        .call(
            Method::POST,
            &format!("{path}/test"),
            Some(READER),
            Some(json!({})),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid"));
    let summary = api
        .world
        .jira_values(
            api.world
                .rt
                .store()
                .link_view(&link_id)
                .await
                .unwrap()
                .unwrap()
                .issue_id
                .as_deref()
                .unwrap(),
            &item,
        )
        .await
        .unwrap();
    assert_eq!(
        summary.get("summary"),
        Some(&Value::text("Mapping story")),
        "nothing written"
    );
    api.world.rt.set_dispatch_paused(false);
    // Change: make acceptance criteria bidirectional.
    for m in doc["mappings"].as_array_mut().unwrap() {
        if m["handoffField"] == "acceptanceCriteria" {
            m["direction"] = json!("bidirectional");
        }
    }
    let (s, j) = api
        .call(Method::PUT, &path, Some(ADMIN), Some(doc.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["changed"], true);
    assert_eq!(j["linksUpdated"], 1);
    let (_, view) = api.call(Method::GET, &path, Some(READER), None).await;
    assert_eq!(view["revisions"][0]["actor"], "ana");
    let ac = view["mapping"]["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["handoffField"] == "acceptanceCriteria")
        .unwrap()
        .clone();
    assert_eq!(ac["direction"], "bidirectional");
    let (s, j) = api.call(Method::PUT, &path, Some(ADMIN), Some(doc)).await;
    assert_eq!((s, &j["changed"]), (StatusCode::OK, &json!(false)));
    let state = api.world.rt.store().load(&link_id).await.unwrap().state;
    assert_eq!(
        state
            .mapping
            .unwrap()
            .by_handoff("acceptanceCriteria")
            .unwrap()
            .direction,
        sync_domain::mapping::Direction::Bidirectional
    );
    // Field discovery.
    let (s, j) = api
        .call(Method::GET, "/api/jira/fields", Some(READER), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["site"], "sim");
    let ids: BTreeSet<&str> = j["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains("summary") && ids.contains("customfield_10016"),
        "{ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn links_are_created_by_link_existing_and_jql_import_and_synced_in_bulk() {
    let api = Api::start().await;
    let (pushed, _, _) = api.pushed_item("Bulk story").await;
    // Link an existing item to an existing issue, Jira's values winning.
    let item = api
        .world
        .host
        .create_as_person(
            PROJECT,
            &BTreeMap::from([("title".to_string(), Value::text("Handoff title"))]),
            HANDOFF_PERSON,
        )
        .unwrap();
    let (issue_id, issue_key) = api
        .world
        .sim
        .lock()
        .unwrap()
        .create_issue(
            json!({"project": {"key": "SIM"}, "summary": "Jira title", "issuetype": {"name": "Story"}})
                .as_object()
                .unwrap(),
            &[],
            JIRA_PERSON,
        )
        .unwrap();
    let (s, j) = api
        .call(
            Method::POST,
            "/api/links",
            Some(ADMIN),
            Some(json!({"action": "link_existing", "workItemId": item.id, "jiraIssue": issue_key, "prefer": "jira"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    assert_eq!(j["links"][0]["jiraIssueId"], issue_id.as_str());
    assert!(api.world.settle().await);
    assert_eq!(
        item_of(&api, &item.id).await.unwrap().field("title"),
        Value::text("Jira title")
    );
    let (s, j) = api
        .call(
            Method::POST,
            "/api/links",
            Some(ADMIN),
            Some(json!({"action": "link_existing", "workItemId": item.id, "jiraIssue": issue_key, "prefer": "jira"})),
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::CONFLICT, "refused"), "{j}");
    // Import by JQL: two new issues become two items.
    for title in ["Imported one", "Imported two"] {
        api.world
            .sim
            .lock()
            .unwrap()
            .create_issue(
                json!({"project": {"key": "SIM"}, "summary": title, "issuetype": {"name": "Story"}, "labels": ["import-me"]})
                    .as_object()
                    .unwrap(),
                &[],
                JIRA_PERSON,
            )
            .unwrap();
    }
    let (s, j) = api
        .call(
            Method::POST,
            "/api/links",
            Some(ADMIN),
            Some(json!({"action": "import_jql", "projectId": PROJECT, "jql": "project = SIM AND labels = import-me"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    assert_eq!(j["results"].as_array().unwrap().len(), 2, "{j}");
    assert!(j["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["ok"] == true));
    assert!(api.world.settle().await);
    let titles: BTreeSet<Value> = api
        .world
        .host
        .items(PROJECT)
        .iter()
        .map(|i| i.field("title"))
        .collect();
    assert!(titles.contains(&Value::text("Imported one")), "{titles:?}");
    assert!(titles.contains(&Value::text("Imported two")));
    // Bulk: a list of items, then a whole project.
    let (s, j) = api
        .call(
            Method::POST,
            "/api/sync/bulk",
            Some(ADMIN),
            Some(json!({"workItemIds": [pushed, item.id]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(
        (j["requested"].clone(), j["succeeded"].clone()),
        (json!(2), json!(2))
    );
    let (s, j) = api
        .call(
            Method::POST,
            "/api/sync/bulk",
            Some(ADMIN),
            Some(json!({"projectId": PROJECT})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["succeeded"], 4, "{j}");
    let (s, j) = api
        .call(Method::POST, "/api/sync/bulk", Some(ADMIN), Some(json!({})))
        .await;
    // Neither is refused by the body's schema (the OpenAPI document says one of the two).
    assert_eq!((s, code(&j)), (StatusCode::BAD_REQUEST, "bad_json"));
    assert!(
        j["message"]
            .as_str()
            .unwrap_or_default()
            .contains("either workItemIds or projectId"),
        "{j}"
    );
    assert!(api.world.settle().await);
    let (s, j) = api
        .call(
            Method::POST,
            "/api/sync/retry-failed",
            Some(ADMIN),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s, j["requested"].clone()),
        (StatusCode::OK, json!(0)),
        "{j}"
    );
    let (s, j) = api
        .call(Method::GET, "/api/sync/stats", Some(READER), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["links"], 4, "{j}");
    assert_eq!(j["linksByStatus"]["synced"], 4, "{j}");
    assert!(j["jiraCalls"].as_u64().unwrap() > 0);
}

/// Jira refuses every call `refused` matches with a 400 (permanent: the write gives up).
fn refuse_jira_calls(api: &Api, refused: fn(&str) -> bool) {
    api.world
        .sim
        .lock()
        .unwrap()
        .set_call_fault_hook(Some(Box::new(move |call: &str| {
            refused(call).then(|| {
                jira_sim::CallFault::Error(jira_sim::SimError::BadRequest {
                    messages: vec!["refused for the test".into()],
                    errors: BTreeMap::new(),
                })
            })
        })));
}

/// Waits until the link is in status `error` and returns its view.
async fn wait_for_error(api: &Api, link_id: &str) -> sync_store::LinkView {
    for _ in 0..500 {
        let v = api
            .world
            .rt
            .store()
            .link_view(link_id)
            .await
            .unwrap()
            .unwrap();
        if v.status == LinkStatus::Error {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("link {link_id} never gave up");
}

/// `POST /api/sync/retry-failed` for the demo project; returns (requested, succeeded).
async fn retry_failed(api: &Api) -> (J, J) {
    let (s, j) = api
        .call(
            Method::POST,
            "/api/sync/retry-failed",
            Some(ADMIN),
            Some(json!({"projectId": PROJECT})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    (j["requested"].clone(), j["succeeded"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_failed_resyncs_links_whose_writes_gave_up() {
    let api = Api::start().await;
    let (item, link_id, _) = api.pushed_item("Retry story").await;
    refuse_jira_calls(&api, |call| call.starts_with("PUT "));
    api.world
        .host
        .edit_as_person(
            &item,
            &BTreeMap::from([("title".to_string(), Value::text("Retry me"))]),
            HANDOFF_PERSON,
        )
        .unwrap();
    wait_for_error(&api, &link_id).await;
    api.world.sim.lock().unwrap().set_call_fault_hook(None);
    assert_eq!(retry_failed(&api).await, (json!(1), json!(1)));
    assert!(api.world.settle().await);
    let v = api
        .world
        .rt
        .store()
        .link_view(&link_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.status, LinkStatus::Synced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_failed_creates_an_issue_whose_create_gave_up() {
    let api = Api::start().await;
    refuse_jira_calls(&api, |call| call == "POST /rest/api/3/issue");
    let item = api
        .world
        .host
        .create_as_person(
            PROJECT,
            &BTreeMap::from([("title".to_string(), Value::text("Never created"))]),
            HANDOFF_PERSON,
        )
        .unwrap();
    let (s, j) = api
        .call(
            Method::POST,
            "/api/links",
            Some(ADMIN),
            Some(json!({"action": "push", "workItemId": item.id})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{j}");
    let link_id = j["links"][0]["linkId"].as_str().unwrap().to_string();
    let v = wait_for_error(&api, &link_id).await;
    assert_eq!(v.issue_id, None, "no issue was made");
    // A full sync cannot help a link without an issue; a retry of the failed writes can.
    let (s, j) = api
        .call(
            Method::POST,
            &format!("/api/workitems/{}/sync", item.id),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!((s, code(&j)), (StatusCode::CONFLICT, "refused"), "{j}");
    api.world.sim.lock().unwrap().set_call_fault_hook(None);
    assert_eq!(retry_failed(&api).await, (json!(1), json!(1)));
    assert!(api.world.settle().await);
    let v = api
        .world
        .rt
        .store()
        .link_view(&link_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.status, LinkStatus::Synced);
    let issue = v.issue_id.expect("the issue exists now");
    let summary = api.world.sim.lock().unwrap().issue_fields(&issue).unwrap()["summary"].clone();
    assert_eq!(summary, json!("Never created"));
    // Nothing is left to retry.
    assert_eq!(retry_failed(&api).await.0, json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_readiness_metrics_and_store_failures() {
    let api = Api::start().await;
    // Some dispatches, for the intent metrics.
    api.pushed_item("Metrics story").await;
    let (s, j) = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, j["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, j) = api.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((s, j["status"].as_str()), (StatusCode::OK, Some("ready")));
    // The store goes down: readiness and API calls answer 503 without internals.
    api.world.rt.store().faults().set_down(true);
    let (s, j) = api.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (s, code(&j)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    let (s, j) = api
        .call(Method::GET, "/api/sync/stats", Some(READER), None)
        .await;
    assert_eq!(
        (s, code(&j)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    let msg = j["message"].as_str().unwrap().to_lowercase();
    assert!(!msg.contains("sql") && !msg.contains("database"), "{msg}");
    let (s, _) = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK, "the process is still up");
    api.world.rt.store().faults().set_down(false);
    // A Jira client with the metrics observer counts its calls by site and status.
    let base = url::Url::parse(&format!("http://{}", api.world.jira_addr)).unwrap();
    let mut cfg = jira_adapter::client::JiraConfig::new(
        base,
        jira_adapter::auth::Credentials::CloudApiToken {
            email: "x@example.com".into(),
            token: jira_adapter::auth::Secret::new("t"),
        },
    );
    cfg.flavor = Some(jira_adapter::fields::ApiFlavor::CloudV3);
    cfg.observer = Some(server_bin::metrics::jira_observer("observed-site"));
    cfg.retry.max_attempts = 1;
    let client = jira_adapter::client::JiraClient::new(cfg).unwrap();
    client.fields().await.unwrap();
    let _ = client.get_issue("999999", &["summary"]).await;
    // A 429 with Retry-After counts as a rate-limit wait.
    api.world.sim.lock().unwrap().set_faults(jira_sim::Faults {
        rate_limit_every: Some(1),
        retry_after_s: 2,
        ..Default::default()
    });
    let _ = client.get_issue("999998", &["summary"]).await;
    api.world
        .sim
        .lock()
        .unwrap()
        .set_faults(jira_sim::Faults::default());
    let (s, text) = api.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(
        text.contains(
            r#"jira_sync_jira_calls_total{site="observed-site",endpoint="fields",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"jira_sync_jira_calls_total{site="observed-site",endpoint="issue_get",status="404"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"jira_sync_rate_limit_waits_total{site="observed-site"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"jira_sync_rate_limit_wait_seconds_total{site="observed-site"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"jira_sync_intents_total{kind="create_jira_issue",outcome="succeeded"}"#),
        "{text}"
    );
    for name in [
        "jira_sync_queue_depth",
        "jira_sync_open_conflicts",
        "jira_sync_dispatch_duration_seconds",
        "jira_sync_intents_total",
        "jira_sync_rate_limit_waits_total",
    ] {
        assert!(text.contains(name), "{name} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let api = Api::start().await;
    let (s, doc) = api.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    // The endpoints of the server issue, plus the per-site Jira webhook.
    let expected: BTreeSet<String> = [
        "POST /api/webhooks/jira",
        "POST /api/webhooks/jira/{site}",
        "POST /api/webhooks/handoff",
        "GET /api/workitems/{id}/sync-status",
        "POST /api/workitems/{id}/sync",
        "GET /api/workitems/{id}/history",
        "GET /api/projects/{id}/sync-conflicts",
        "POST /api/sync-conflicts/{id}/resolve",
        "GET /api/projects/{id}/sync-mappings",
        "PUT /api/projects/{id}/sync-mappings",
        "POST /api/projects/{id}/sync-mappings/test",
        "GET /api/jira/fields",
        "POST /api/links",
        "GET /api/links",
        "GET /api/links/{id}",
        "DELETE /api/links/{id}",
        "GET /api/sync/stats",
        "POST /api/sync/bulk",
        "POST /api/sync/retry-failed",
        "GET /metrics",
        "GET /healthz",
        "GET /readyz",
        "GET /api/openapi.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, expected);
    // Every documented route is served by the router (not its fallbacks), and the bearer
    // scheme is declared.
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    for route in &documented {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", "x").replace("{site}", "x");
        let (s, j) = api
            .call(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &path,
                None,
                None,
            )
            .await;
        assert_ne!(code(&j), "route_not_found", "{route}: {s}");
        assert_ne!(code(&j), "method_not_allowed", "{route}: {s}");
    }
    // And the router serves nothing undocumented: a method missing from the document on a
    // documented path is refused.
    for route in &documented {
        let (_, path) = route.split_once(' ').unwrap();
        for m in ["GET", "POST", "PUT", "DELETE"] {
            if documented.contains(&format!("{m} {path}")) {
                continue;
            }
            let concrete = path.replace("{id}", "x").replace("{site}", "x");
            let (s, j) = api
                .call(
                    Method::from_bytes(m.as_bytes()).unwrap(),
                    &concrete,
                    Some(ADMIN),
                    None,
                )
                .await;
            assert_eq!(
                (s, code(&j)),
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
                "{m} {path}"
            );
        }
    }
    // The document in the library and the one served are the same.
    assert_eq!(serde_json::to_value(api::openapi()).unwrap(), doc);
}
