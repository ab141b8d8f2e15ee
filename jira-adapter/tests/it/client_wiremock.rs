//! The client against wiremock on 127.0.0.1: retries, rate limits, auth refresh,
//! pagination, transitions, idempotent creates and error classes.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jira_adapter::auth::{
    Credentials, MemoryTokenStore, OAuthApp, OAuthTokens, Secret, TokenStore,
};
use jira_adapter::client::{
    ApiFlavor, EndpointClass, FieldChange, JiraClient, JiraConfig, NewIssue, SearchRequest,
};
use jira_adapter::error::ErrorClass;
use jira_adapter::ratelimit::{BreakerConfig, RetryPolicy};
use serde_json::{json, Value as Json};
use sync_domain::{Value, ValueKind};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

async fn server() -> MockServer {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    MockServer::builder().listener(listener).start().await
}

fn config(s: &MockServer, flavor: Option<ApiFlavor>, credentials: Credentials) -> JiraConfig {
    let url = s.uri().parse().unwrap_or_else(|e| panic!("url: {e}"));
    let mut c = JiraConfig::new(url, credentials);
    c.flavor = flavor;
    c.timeout = Duration::from_millis(300);
    c.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(200),
    };
    c.rate_per_second = NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN);
    c.burst = NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN);
    c.marker.lookup_delay = Duration::from_millis(5);
    c.marker.lookup_attempts = 2;
    c
}

fn client_with(c: JiraConfig) -> JiraClient {
    JiraClient::new(c).unwrap_or_else(|e| panic!("client: {e}"))
}

fn cloud(s: &MockServer) -> JiraClient {
    client_with(config(s, Some(ApiFlavor::CloudV3), Credentials::Anonymous))
}

fn issue_json(id: &str, key: &str, status: &str) -> Json {
    json!({"id": id, "key": key, "fields": {"summary": "S", "updated": "2024-01-02T03:04:05.000+0000",
        "status": {"name": status}, "labels": []}})
}

fn fixture(rel: &str) -> String {
    let p = format!(
        "{}/../../shared/fixtures/rest/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/ED-1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/issue/ED-1"))
        .and(query_param("fields", "summary,updated"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(issue_json("10001", "ED-1", "To Do")),
        )
        .mount(&s)
        .await;
    let c = cloud(&s);
    let t0 = Instant::now();
    let issue = c
        .get_issue("ED-1", &["summary"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(issue.id, "10001");
    assert_eq!(
        issue
            .value("summary", ValueKind::Text, ApiFlavor::CloudV3)
            .ok(),
        Some(Value::text("S"))
    );
    assert_eq!(c.call_counts().get(&EndpointClass::IssueGet), Some(&3));
    // 5 ms then 10 ms of backoff.
    assert!(
        t0.elapsed() >= Duration::from_millis(15),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn a_timed_out_read_is_retried() {
    let s = server().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(issue_json("1", "A-1", "To Do"))
                .set_delay(Duration::from_millis(800)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json("1", "A-1", "To Do")))
        .mount(&s)
        .await;
    let c = cloud(&s);
    assert!(c.get_issue("A-1", &[]).await.is_ok());
    assert_eq!(c.total_calls(), 2);
}

#[tokio::test]
async fn retries_give_up_with_a_retryable_class() {
    let s = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .expect(4)
        .mount(&s)
        .await;
    let e = cloud(&s)
        .get_issue("ED-1", &[])
        .await
        .err()
        .unwrap_or_else(|| panic!("expected error"));
    assert_eq!(
        e.class(),
        ErrorClass::Retryable {
            retry_after_ms: None
        }
    );
    assert_eq!(e.status(), Some(502));
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let s = server().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0.08")
                .insert_header("RateLimit-Reason", "jira-burst-based")
                .insert_header("X-RateLimit-Remaining", "0"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json("1", "A-1", "To Do")))
        .mount(&s)
        .await;
    let c = cloud(&s);
    let t0 = Instant::now();
    assert!(c.get_issue("A-1", &[]).await.is_ok());
    assert!(
        t0.elapsed() >= Duration::from_millis(80),
        "waited {:?}",
        t0.elapsed()
    );
    assert_eq!(c.total_calls(), 2);
}

#[tokio::test]
async fn too_many_requests_exhausted_reports_retry_after() {
    let s = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0.01"))
        .mount(&s)
        .await;
    let mut cfg = config(&s, Some(ApiFlavor::CloudV3), Credentials::Anonymous);
    cfg.retry.max_attempts = 2;
    let e = client_with(cfg)
        .get_issue("A-1", &[])
        .await
        .err()
        .unwrap_or_else(|| panic!("expected error"));
    assert_eq!(
        e.class(),
        ErrorClass::Retryable {
            retry_after_ms: Some(10)
        }
    );
}

fn oauth(s: &MockServer, store: Arc<MemoryTokenStore>) -> Credentials {
    Credentials::OAuth {
        app: OAuthApp {
            client_id: "cid".into(),
            client_secret: Secret::new("csecret"),
            token_url: format!("{}/oauth/token", s.uri()),
        },
        store,
    }
}

#[tokio::test]
async fn unauthorized_refreshes_once_then_succeeds() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(
            json!({"grant_type": "refresh_token", "refresh_token": "r1", "client_id": "cid"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "a2", "refresh_token": "r2"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(header("Authorization", "Bearer a2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json("1", "A-1", "To Do")))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(header("Authorization", "Bearer a1"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&s)
        .await;
    let store = Arc::new(MemoryTokenStore::new(OAuthTokens {
        access_token: "a1".into(),
        refresh_token: "r1".into(),
    }));
    let c = client_with(config(
        &s,
        Some(ApiFlavor::CloudV3),
        oauth(&s, store.clone()),
    ));
    // Two calls at once both see 401: one refresh only (rotating refresh tokens).
    let (a, b) = tokio::join!(c.get_issue("A-1", &[]), c.get_issue("A-1", &[]));
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    let saved = store.load().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(saved.refresh_token.expose(), "r2");
    assert_eq!(saved.access_token.expose(), "a2");
}

#[tokio::test]
async fn unauthorized_after_refresh_is_an_auth_error_without_secrets() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "a2", "refresh_token": "r2"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"errorMessages": ["You are not authenticated"]})),
        )
        .expect(2)
        .mount(&s)
        .await;
    let store = Arc::new(MemoryTokenStore::new(OAuthTokens {
        access_token: "a1".into(),
        refresh_token: "r1".into(),
    }));
    let c = client_with(config(&s, Some(ApiFlavor::CloudV3), oauth(&s, store)));
    let e = c
        .get_issue("A-1", &[])
        .await
        .err()
        .unwrap_or_else(|| panic!("expected error"));
    assert_eq!(e.class(), ErrorClass::Auth);
    let shown = format!("{e} {e:?} {c:?}");
    for secret in ["a1", "a2", "r1", "r2", "csecret"] {
        assert!(
            !shown.contains(&format!("\"{secret}\""))
                && !shown.contains(&format!("Bearer {secret}")),
            "{shown}"
        );
    }
    assert!(shown.contains("You are not authenticated"));
}

#[tokio::test]
async fn basic_auth_header_is_sent() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(header("Authorization", "Basic bWVAeC5pbzpzM2NyZXQ="))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json("1", "A-1", "To Do")))
        .expect(1)
        .mount(&s)
        .await;
    let creds = Credentials::CloudApiToken {
        email: "me@x.io".into(),
        token: Secret::new("s3cret"),
    };
    let c = client_with(config(&s, Some(ApiFlavor::CloudV3), creds));
    assert!(c.get_issue("A-1", &[]).await.is_ok());
}

#[tokio::test]
async fn cloud_search_follows_next_page_token() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(json!({"nextPageToken": "p2"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": [issue_json("3", "A-3", "Done")], "isLast": true})))
        .with_priority(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(
            json!({"jql": "project = A", "reconcileIssues": [3]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": [issue_json("1", "A-1", "To Do"), issue_json("2", "A-2", "To Do")],
            "nextPageToken": "p2", "isLast": false})))
        .with_priority(2)
        .expect(1)
        .mount(&s)
        .await;
    let c = cloud(&s);
    let req = SearchRequest::new("project = A", &["summary"])
        .max_results(2)
        .reconcile(&[3]);
    let all = c.search_all(&req).await.unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
}

#[tokio::test]
async fn dc_search_pages_by_start_at() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/search"))
        .and(body_partial_json(json!({"startAt": 2})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "startAt": 2, "maxResults": 2, "total": 3, "issues": [issue_json("3", "A-3", "Done")]})))
        .with_priority(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/search"))
        .and(header("Authorization", "Bearer pat"))
        .and(body_partial_json(json!({"startAt": 0})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "startAt": 0, "maxResults": 2, "total": 3,
            "issues": [issue_json("1", "A-1", "Open"), issue_json("2", "A-2", "Open")]})))
        .with_priority(2)
        .expect(1)
        .mount(&s)
        .await;
    let c = client_with(config(
        &s,
        Some(ApiFlavor::DataCenterV2),
        Credentials::DataCenterPat {
            token: "pat".into(),
        },
    ));
    let all = c
        .search_all(&SearchRequest::new("project = A", &[]).max_results(2))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), 3);
    assert_eq!(c.call_counts().get(&EndpointClass::Search), Some(&2));
}

/// A tiny workflow: To Do → In Progress → Done (Done needs a resolution); To Do cannot
/// reach Done directly. Another transition running gives one 409 first.
#[derive(Clone)]
struct Workflow {
    status: Arc<Mutex<String>>,
    posts: Arc<Mutex<Vec<Json>>>,
    conflict_once: Arc<Mutex<bool>>,
}

impl Respond for Workflow {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let st = |name: &str, cat: &str| json!({"id": name, "name": name, "statusCategory": {"key": cat}});
        if req.url.path().ends_with("/transitions") {
            if req.method.as_str() == "GET" {
                let ts = match status.as_str() {
                    "To Do" => {
                        json!([{"id": "11", "name": "Start", "to": st("In Progress", "indeterminate")},
                                      {"id": "12", "name": "Park", "to": st("Backlog", "new")}])
                    }
                    "Backlog" => json!([{"id": "13", "name": "Unpark", "to": st("To Do", "new")}]),
                    "In Progress" => json!([
                        {"id": "21", "name": "Stop", "to": st("To Do", "new")},
                        {"id": "31", "name": "Finish", "to": st("Done", "done"), "hasScreen": true,
                         "fields": {"resolution": {"required": true, "hasDefaultValue": false,
                            "allowedValues": [{"id": "1", "name": "Fixed"}, {"id": "2", "name": "Won't Do"}]}}}]),
                    _ => json!([{"id": "41", "name": "Reopen", "to": st("To Do", "new")}]),
                };
                return ResponseTemplate::new(200).set_body_json(json!({"transitions": ts}));
            }
            let body: Json = serde_json::from_slice(&req.body).unwrap_or(Json::Null);
            self.posts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(body.clone());
            let mut c = self.conflict_once.lock().unwrap_or_else(|e| e.into_inner());
            if *c {
                *c = false;
                return ResponseTemplate::new(409);
            }
            let id = body["transition"]["id"].as_str().unwrap_or("");
            let next = match (status.as_str(), id) {
                ("To Do", "11") => "In Progress",
                ("To Do", "12") => "Backlog",
                ("Backlog", "13") => "To Do",
                ("In Progress", "21") => "To Do",
                ("In Progress", "31") => {
                    if body["fields"]["resolution"]["name"].is_null() {
                        return ResponseTemplate::new(400)
                            .set_body_json(json!({"errorMessages": [], "errors": {"resolution": "Resolution is required."}}));
                    }
                    "Done"
                }
                ("Done", "41") => "To Do",
                _ => {
                    return ResponseTemplate::new(400)
                        .set_body_json(json!({"errorMessages": ["bad transition"]}))
                }
            };
            *status = next.to_string();
            return ResponseTemplate::new(204);
        }
        ResponseTemplate::new(200).set_body_json(issue_json("10", "W-1", &status))
    }
}

#[tokio::test]
async fn status_reached_in_several_hops_with_resolution_and_409_retried() {
    let s = server().await;
    let wf = Workflow {
        status: Arc::new(Mutex::new("To Do".into())),
        posts: Arc::new(Mutex::new(Vec::new())),
        conflict_once: Arc::new(Mutex::new(true)),
    };
    Mock::given(path("/rest/api/3/issue/W-1"))
        .respond_with(wf.clone())
        .mount(&s)
        .await;
    Mock::given(path("/rest/api/3/issue/W-1/transitions"))
        .respond_with(wf.clone())
        .mount(&s)
        .await;
    let c = cloud(&s);
    let out = c
        .transition_to("W-1", "Done", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.hops, ["Start", "Finish"]);
    assert_eq!(
        wf.status.lock().map(|s| s.clone()).unwrap_or_default(),
        "Done"
    );
    let posts = wf.posts.lock().map(|p| p.clone()).unwrap_or_default();
    // One 409 then the same transition again, then Finish with the first resolution.
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0]["transition"]["id"], "11");
    assert_eq!(posts[1]["transition"]["id"], "11");
    assert_eq!(posts[2]["fields"]["resolution"]["name"], "Fixed");

    // Back to To Do, then to Done with a chosen resolution: the learned graph plans it.
    let out = c
        .transition_to("W-1", "To Do", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.hops, ["Reopen"]);
    let out = c
        .transition_to("W-1", "Done", Some("Won't Do"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.hops, ["Start", "Finish"]);
    let posts = wf.posts.lock().map(|p| p.clone()).unwrap_or_default();
    assert_eq!(
        posts
            .last()
            .map(|p| p["fields"]["resolution"]["name"].clone()),
        Some(json!("Won't Do"))
    );
    // Already there: no transition.
    let out = c
        .transition_to("W-1", "done", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.hops.is_empty());
}

#[tokio::test]
async fn unreachable_status_is_a_permanent_error() {
    let s = server().await;
    let wf = Workflow {
        status: Arc::new(Mutex::new("To Do".into())),
        posts: Arc::new(Mutex::new(Vec::new())),
        conflict_once: Arc::new(Mutex::new(false)),
    };
    Mock::given(path("/rest/api/3/issue/W-1"))
        .respond_with(wf.clone())
        .mount(&s)
        .await;
    Mock::given(path("/rest/api/3/issue/W-1/transitions"))
        .respond_with(wf.clone())
        .mount(&s)
        .await;
    let e = cloud(&s)
        .transition_to("W-1", "Nowhere", None)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected error"));
    assert_eq!(e.class(), ErrorClass::Permanent);
}

fn new_issue() -> NewIssue {
    NewIssue {
        project_key: "A".into(),
        issue_type: "Task".into(),
        work_item_id: "WI-42".into(),
        fields: vec![
            FieldChange::new("summary", Value::text("Hello"), ValueKind::Text),
            FieldChange::new("labels", Value::option_set(["x"]), ValueKind::OptionSet),
        ],
    }
}

#[tokio::test]
async fn create_retried_after_timeout_finds_the_first_issue() {
    let s = server().await;
    // The create lands but its answer comes after the client's timeout.
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .and(body_partial_json(
            json!({"fields": {"labels": ["x", "handoff-WI-42"], "project": {"key": "A"}},
            "properties": [{"key": "handoff-sync", "value": {"workItemId": "WI-42"}}]}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "10050", "key": "A-50"}))
                .set_delay(Duration::from_millis(600)),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .and(body_partial_json(
            json!({"jql": "labels = \"handoff-WI-42\" ORDER BY created ASC"}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"isLast": true, "issues": [
            {"id": "10050", "key": "A-50", "fields": {"labels": ["x", "handoff-WI-42"]}}]})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let c = cloud(&s);
    let created = c
        .create_issue(&new_issue())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.issue.id, "10050");
    assert!(created.recovered);
    assert_eq!(c.call_counts().get(&EndpointClass::IssueCreate), Some(&1));
}

#[tokio::test]
async fn create_retried_when_the_first_attempt_did_not_land() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "10051", "key": "A-51"})),
        )
        .with_priority(2)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/jql"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"isLast": true, "issues": []})),
        )
        .expect(2)
        .mount(&s)
        .await;
    let c = cloud(&s);
    let created = c
        .create_issue(&new_issue())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.issue.key, "A-51");
    assert!(!created.recovered);
    assert_eq!(c.call_counts().get(&EndpointClass::IssueCreate), Some(&2));
}

#[tokio::test]
async fn field_errors_are_kept_from_a_400() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string(fixture("atlassian-cloud-v3/createIssue.response-400.json")),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/rest/api/2/issue/10002"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string(fixture("jira-ruby-server-v2/issue_10002.invalid.put.json")),
        )
        .expect(1)
        .mount(&s)
        .await;
    let c = cloud(&s);
    let e = c
        .create_issue(&new_issue())
        .await
        .err()
        .unwrap_or_else(|| panic!("expected error"));
    assert_eq!(e.class(), ErrorClass::Permanent);
    let m = e.messages().cloned().unwrap_or_default();
    assert_eq!(m.error_messages, ["Field 'priority' is required"]);

    let dc = client_with(config(
        &s,
        Some(ApiFlavor::DataCenterV2),
        Credentials::Anonymous,
    ));
    let change = [FieldChange::new(
        "invalid",
        Value::text("x"),
        ValueKind::Text,
    )];
    let e = dc
        .edit_issue("10002", &change)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected error"));
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert_eq!(
        e.messages()
            .and_then(|m| m.errors.get("invalid"))
            .map(String::as_str),
        Some("Field 'invalid' is not valid for this operation.")
    );
    assert!(e.to_string().contains("not valid for this operation"));
}

#[tokio::test]
async fn edit_sends_only_the_changed_fields() {
    let s = server().await;
    Mock::given(method("PUT"))
        .and(path("/rest/api/3/issue/A-1"))
        .and(body_partial_json(
            json!({"fields": {"summary": "New", "priority": {"name": "High"}}}),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    let c = cloud(&s);
    let changes = [
        FieldChange::new("summary", Value::text("New"), ValueKind::Text),
        FieldChange::new("priority", Value::option("High"), ValueKind::Option),
    ];
    assert!(c.edit_issue("A-1", &changes).await.is_ok());
    let reqs = s.received_requests().await.unwrap_or_default();
    let body: Json = serde_json::from_slice(&reqs[0].body).unwrap_or(Json::Null);
    assert_eq!(body["fields"].as_object().map(|o| o.len()), Some(2));
}

#[tokio::test]
async fn deleted_issue_is_not_found() {
    let s = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."]})))
        .mount(&s)
        .await;
    let c = cloud(&s);
    let e = c
        .get_issue("A-9", &[])
        .await
        .err()
        .unwrap_or_else(|| panic!("expected error"));
    assert_eq!(e.class(), ErrorClass::NotFound);
    assert_eq!(c.issue_exists("A-9").await.ok(), Some(false));
    assert_eq!(c.total_calls(), 2, "404 is not retried");
}

#[tokio::test]
async fn circuit_opens_after_repeated_failures() {
    let s = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&s)
        .await;
    let mut cfg = config(&s, Some(ApiFlavor::CloudV3), Credentials::Anonymous);
    cfg.retry.max_attempts = 3;
    cfg.breaker = BreakerConfig {
        failure_threshold: 3,
        open_for: Duration::from_secs(60),
    };
    let c = client_with(cfg);
    assert!(c.get_issue("A-1", &[]).await.is_err());
    assert!(c.circuit_open());
    let e = c
        .get_issue("A-1", &[])
        .await
        .err()
        .unwrap_or_else(|| panic!("expected error"));
    assert!(matches!(e.class(), ErrorClass::Retryable { retry_after_ms: Some(ms) } if ms > 0));
    assert_eq!(c.total_calls(), 3, "no call while open");
}

#[tokio::test]
async fn flavor_is_detected_from_server_info() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/serverInfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "baseUrl": "https://jira.example.com", "version": "9.12.0", "versionNumbers": [9, 12, 0],
            "deploymentType": "DataCenter"})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/A-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json("1", "A-1", "Open")))
        .expect(2)
        .mount(&s)
        .await;
    let c = client_with(config(&s, None, Credentials::Anonymous));
    assert!(c.get_issue("A-1", &[]).await.is_ok());
    assert!(c.get_issue("A-1", &[]).await.is_ok());
    assert_eq!(c.flavor().await.ok(), Some(ApiFlavor::DataCenterV2));
}

/// Comments kept in memory: POST stores the body as sent (and answers late), GET lists.
#[derive(Clone, Default)]
struct CommentStore {
    bodies: Arc<Mutex<Vec<Json>>>,
}

impl Respond for CommentStore {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        let comment = |i: usize, body: &Json| {
            json!({"id": format!("{}", 100 + i), "author": {"displayName": "Sync Bot"},
            "body": body, "created": "2024-01-01T00:00:00.000+0000", "updated": "2024-01-01T00:00:00.000+0000"})
        };
        if req.method.as_str() == "POST" {
            let sent: Json = serde_json::from_slice(&req.body).unwrap_or(Json::Null);
            bodies.push(sent["body"].clone());
            let c = comment(bodies.len() - 1, &sent["body"]);
            return ResponseTemplate::new(201)
                .set_body_json(c)
                .set_delay(Duration::from_millis(600));
        }
        let list: Vec<Json> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| comment(i, b))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"startAt": 0, "total": list.len(), "comments": list}))
    }
}

#[tokio::test]
async fn comments_carry_an_author_line_and_are_not_duplicated() {
    let s = server().await;
    let store = CommentStore::default();
    Mock::given(path("/rest/api/3/issue/A-1/comment"))
        .respond_with(store.clone())
        .mount(&s)
        .await;
    let c = cloud(&s);
    // The POST lands but answers after the timeout: the retry finds it instead of posting.
    let added = c
        .add_comment("A-1", "Alice", "Looks good")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(added.id, "100");
    assert_eq!(
        store.bodies.lock().map(|b| b.len()).unwrap_or(0),
        1,
        "one comment only"
    );
    let (author, text) = jira_adapter::client::split_author_line(&added.body_markdown);
    assert_eq!(
        (author.as_deref(), text.as_str()),
        (Some("Alice"), "Looks good")
    );
    let sent = store
        .bodies
        .lock()
        .map(|b| b[0].clone())
        .unwrap_or(Json::Null);
    assert_eq!(sent["type"], "doc");
    let listed = c.comments("A-1").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].author, "Sync Bot");
}

#[tokio::test]
async fn comment_edit_and_delete() {
    let s = server().await;
    let wiki = jira_content::md_to_wiki("**Bob wrote:**\n\nfixed");
    Mock::given(method("PUT"))
        .and(path("/rest/api/2/issue/A-1/comment/7"))
        .and(body_partial_json(json!({"body": wiki})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "7", "body": wiki})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/rest/api/2/issue/A-1/comment/7"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&s)
        .await;
    let c = client_with(config(
        &s,
        Some(ApiFlavor::DataCenterV2),
        Credentials::Anonymous,
    ));
    let edited = c
        .edit_comment("A-1", "7", "Bob", "fixed")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (author, text) = jira_adapter::client::split_author_line(&edited.body_markdown);
    assert_eq!((author.as_deref(), text.as_str()), (Some("Bob"), "fixed"));
    assert!(
        c.delete_comment("A-1", "7").await.is_ok(),
        "already deleted counts as deleted"
    );
}

#[tokio::test]
async fn dynamic_webhooks_register_list_refresh_delete() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/webhook"))
        .and(body_partial_json(
            json!({"url": "https://sync.example.com/hook",
            "webhooks": [{"jqlFilter": "project = A", "events": ["jira:issue_updated"]}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture(
            "atlassian-cloud-v3/registerDynamicWebhooks.response-200.json",
        )))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/webhook"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture(
            "atlassian-cloud-v3/getDynamicWebhooksForApp.response-200.json",
        )))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/rest/api/3/webhook/refresh"))
        .and(body_partial_json(
            json!({"webhookIds": [10000, 10001, 10002]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture(
            "atlassian-cloud-v3/refreshWebhooks.response-200.json",
        )))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/rest/api/3/webhook"))
        .and(body_partial_json(json!({"webhookIds": [1000]})))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&s)
        .await;
    let c = cloud(&s);
    let reg = c
        .register_webhook(
            "https://sync.example.com/hook",
            "project = A",
            &["jira:issue_updated"],
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        reg,
        jira_adapter::client::WebhookRegistration::Created(1000)
    );
    // The fixture's webhooks expired in 2019: all three need a refresh.
    let now = time::OffsetDateTime::now_utc();
    let n = c
        .refresh_expiring_webhooks(now, time::Duration::days(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, 3);
    assert!(c.delete_webhooks(&[1000]).await.is_ok());
    let dc = client_with(config(
        &s,
        Some(ApiFlavor::DataCenterV2),
        Credentials::Anonymous,
    ));
    assert!(
        dc.list_webhooks().await.is_err(),
        "dynamic webhooks are Cloud-only"
    );
}

#[tokio::test]
async fn fields_are_discovered_once_and_users_found_by_email() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/field"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "summary", "name": "Summary", "custom": false, "schema": {"type": "string", "system": "summary"}},
            {"id": "customfield_10016", "name": "Story point estimate", "custom": true,
             "schema": {"type": "number", "custom": "com.pyxis.greenhopper.jira:jsw-story-points", "customId": 10016}},
            {"id": "customfield_10020", "name": "Team tags", "custom": true,
             "schema": {"type": "array", "items": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multiselect"}}])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/user/search"))
        .and(query_param("query", "ann@x.io"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"accountId": "5b10", "displayName": "Ann", "emailAddress": "ann@x.io"},
            {"accountId": "5b11", "displayName": "Annie"}])))
        .expect(1)
        .mount(&s)
        .await;
    let c = cloud(&s);
    let f = c
        .field("story point estimate")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(f.id, "customfield_10016");
    assert_eq!(f.value_kind(), Some(ValueKind::Number));
    let f = c
        .field("customfield_10020")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(f.value_kind(), Some(ValueKind::OptionSet));
    let u = c
        .find_user_by_email("ann@x.io")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(u.identity(ApiFlavor::CloudV3), Some("5b10"));
}

/// A 429 for one issue's writes delays that write only; a burst 429 pauses the whole site.
#[tokio::test]
async fn per_issue_limit_delays_only_that_issue() {
    for (reason, site_paused) in [
        ("jira-per-issue-on-write", false),
        ("jira-burst-based", true),
    ] {
        let s = server().await;
        Mock::given(method("PUT"))
            .and(path("/rest/api/3/issue/A-1"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "0.2")
                    .insert_header("RateLimit-Reason", reason),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&s)
            .await;
        Mock::given(method("PUT"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&s)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(issue_json("2", "A-2", "To Do")))
            .mount(&s)
            .await;
        let c = cloud(&s);
        let writer = c.clone();
        let write = tokio::spawn(async move {
            writer
                .edit_issue(
                    "A-1",
                    &[FieldChange::new(
                        "summary",
                        Value::text("x"),
                        ValueKind::Text,
                    )],
                )
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t0 = Instant::now();
        assert!(c.get_issue("A-2", &[]).await.is_ok());
        let waited = t0.elapsed();
        assert_eq!(
            waited >= Duration::from_millis(100),
            site_paused,
            "{reason}: read waited {waited:?}"
        );
        assert!(matches!(write.await, Ok(Ok(()))), "{reason}");
    }
}
