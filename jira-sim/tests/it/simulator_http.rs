//! The simulator's HTTP face, answered to plain reqwest calls on 127.0.0.1.

use jira_sim::http::{serve, SharedSim};
use jira_sim::{Faults, ManualClock, SimConfig, SimJira};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

async fn start(faults: Faults) -> (String, SharedSim, tokio::task::JoinHandle<()>) {
    let clock = ManualClock::new(1_704_067_200_000);
    let config = SimConfig {
        seed: 1,
        faults,
        ..SimConfig::default()
    };
    let sim = Arc::new(Mutex::new(SimJira::new(config, Arc::new(clock))));
    let (addr, handle) = serve(sim.clone(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    (format!("http://{addr}/rest/api/3"), sim, handle)
}

fn doc(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

#[tokio::test]
async fn issue_lifecycle_over_http() {
    let (base, sim, server) = start(Faults::default()).await;
    let http = reqwest::Client::new();

    let info: Value = http
        .get(format!("{base}/serverInfo"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(info["deploymentType"], "Cloud");

    let created = http
        .post(format!("{base}/issue"))
        .json(&json!({
            "fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Story"},
                       "summary": "over http", "description": doc("hello"),
                       "labels": ["sync-wi-1"]},
            "properties": [{"key": "sync.marker", "value": {"workItemId": "wi-1"}}]
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["key"], "SIM-1");

    let prop: Value = http
        .get(format!("{base}/issue/{id}/properties/sync.marker"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(prop["value"]["workItemId"], "wi-1");

    let edit = http
        .put(format!("{base}/issue/SIM-1"))
        .json(&json!({"fields": {"summary": "renamed", "customfield_10016": 3}}))
        .send()
        .await
        .expect("send");
    assert_eq!(edit.status(), StatusCode::NO_CONTENT);

    let issue: Value = http
        .get(format!("{base}/issue/{id}?fields=summary,description"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(issue["fields"]["summary"], "renamed");
    assert_eq!(issue["fields"]["description"], doc("hello"));
    assert!(issue["fields"].get("status").is_none());

    let bad = http
        .put(format!("{base}/issue/{id}"))
        .json(&json!({"fields": {"description": "not adf"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad: Value = bad.json().await.expect("json");
    assert!(bad["errorMessages"].is_array() && bad["errors"]["description"].is_string());

    let ts: Value = http
        .get(format!(
            "{base}/issue/{id}/transitions?expand=transitions.fields"
        ))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ts["transitions"][0]["id"], "11");
    let moved = http
        .post(format!("{base}/issue/{id}/transitions"))
        .json(&json!({"transition": {"id": "11"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(moved.status(), StatusCode::NO_CONTENT);

    let comment = http
        .post(format!("{base}/issue/{id}/comment"))
        .json(&json!({"body": doc("first")}))
        .send()
        .await
        .expect("send");
    assert_eq!(comment.status(), StatusCode::CREATED);
    let comment: Value = comment.json().await.expect("json");
    let cid = comment["id"].as_str().expect("cid").to_owned();
    let upd = http
        .put(format!("{base}/issue/{id}/comment/{cid}"))
        .json(&json!({"body": doc("second")}))
        .send()
        .await
        .expect("send");
    assert_eq!(upd.status(), StatusCode::OK);
    let list: Value = http
        .get(format!("{base}/issue/{id}/comment"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(list["total"], 1);
    assert_eq!(list["comments"][0]["body"], doc("second"));
    let del = http
        .delete(format!("{base}/issue/{id}/comment/{cid}"))
        .send()
        .await
        .expect("send");
    assert_eq!(del.status(), StatusCode::NO_CONTENT);

    let found: Value = http
        .post(format!("{base}/search/jql"))
        .json(&json!({"jql": "labels = \"sync-wi-1\" ORDER BY created ASC", "fields": ["labels"], "maxResults": 5}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(found["issues"][0]["id"], id.as_str());
    assert_eq!(found["isLast"], true);
    let got: Value = http
        .get(format!("{base}/search/jql"))
        .query(&[("jql", "project = SIM"), ("fields", "summary")])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(got["issues"][0]["fields"]["summary"], "renamed");

    let gone = http
        .delete(format!("{base}/issue/{id}"))
        .send()
        .await
        .expect("send");
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let missing = http
        .get(format!("{base}/issue/{id}"))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing: Value = missing.json().await.expect("json");
    assert!(missing["errorMessages"][0].is_string());

    let counts = sim.lock().expect("lock").call_counts().clone();
    assert_eq!(counts["GET /rest/api/3/issue/{id}"], 2);
    assert_eq!(counts["POST /rest/api/3/issue"], 1);
    server.abort();
}

#[tokio::test]
async fn webhooks_and_metadata_over_http() {
    let (base, _sim, server) = start(Faults::default()).await;
    let http = reqwest::Client::new();
    let reg: Value = http
        .post(format!("{base}/webhook"))
        .json(&json!({"url": "http://127.0.0.1:9/h", "webhooks": [
            {"events": ["jira:issue_updated"], "jqlFilter": "project = SIM"}]}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let wid = reg["webhookRegistrationResult"][0]["createdWebhookId"]
        .as_i64()
        .expect("id");
    let list: Value = http
        .get(format!("{base}/webhook"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(list["values"][0]["id"], wid);
    let refreshed = http
        .put(format!("{base}/webhook/refresh"))
        .json(&json!({"webhookIds": [wid]}))
        .send()
        .await
        .expect("send");
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.expect("json");
    assert!(refreshed["expirationDate"].is_string());
    let del = http
        .delete(format!("{base}/webhook"))
        .json(&json!({"webhookIds": [wid]}))
        .send()
        .await
        .expect("send");
    assert_eq!(del.status(), StatusCode::ACCEPTED);
    let list: Value = http
        .get(format!("{base}/webhook"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(list["total"], 0);

    let fields: Value = http
        .get(format!("{base}/field"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(fields
        .as_array()
        .expect("array")
        .iter()
        .any(|f| f["id"] == "customfield_10016" && f["custom"] == true));
    let me: Value = http
        .get(format!("{base}/myself"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(me["accountId"], "sim-api-user");
    server.abort();
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let (base, sim, server) = start(Faults {
        rate_limit_every: Some(2),
        retry_after_s: 3,
        ..Faults::default()
    })
    .await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = http
            .get(format!("{base}/myself"))
            .send()
            .await
            .expect("send");
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
                Some("3")
            );
            let body: Value = r.json().await.expect("json");
            assert!(body["errorMessages"][0].is_string());
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(statuses, [200, 429, 200, 429]);
    assert_eq!(sim.lock().expect("lock").total_calls(), 4);
    server.abort();
}

#[tokio::test]
async fn serve_refuses_non_loopback() {
    let sim = Arc::new(Mutex::new(SimJira::new(
        SimConfig::default(),
        Arc::new(ManualClock::new(0)),
    )));
    let err = serve(sim, "0.0.0.0:0".parse().expect("addr"))
        .await
        .expect_err("loopback only");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn pump_posts_signed_deliveries() {
    use axum::routing::post;
    use jira_adapter::webhook::{parse_event, verify_signature};

    // A receiver that records what it gets.
    type Received = Vec<(Option<String>, Vec<u8>)>;
    let got: Arc<Mutex<Received>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    let sig = headers
                        .get("x-hub-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    sink.lock().expect("lock").push((sig, body.to_vec()));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_addr = listener.local_addr().expect("addr");
    let receiver = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let config = SimConfig {
        seed: 2,
        webhook_secret: Some(b"pump-secret".to_vec()),
        ..SimConfig::default()
    };
    let sim = Arc::new(Mutex::new(SimJira::new(
        config,
        Arc::new(ManualClock::new(1_704_067_200_000)),
    )));
    {
        let mut s = sim.lock().expect("lock");
        s.register_webhooks(&json!({"url": format!("http://{hook_addr}/hook"),
            "webhooks": [{"events": ["jira:issue_created"], "jqlFilter": "project = SIM"}]}))
            .expect("register");
        let api = s.config().api_user.account_id.clone();
        s.create_issue(
            json!({"project": {"key": "SIM"}, "issuetype": {"name": "Task"}, "summary": "pumped"})
                .as_object()
                .expect("object"),
            &[],
            &api,
        )
        .expect("create");
    }
    let pump = jira_sim::http::run_webhook_pump(
        sim.clone(),
        reqwest::Client::new(),
        std::time::Duration::from_millis(10),
    );
    let mut received = Vec::new();
    for _ in 0..300 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        received = got.lock().expect("lock").clone();
        if !received.is_empty() {
            break;
        }
    }
    pump.abort();
    receiver.abort();
    assert_eq!(received.len(), 1);
    let (sig, body) = &received[0];
    verify_signature(b"pump-secret", body, sig.as_deref()).expect("verifies");
    let event = parse_event(body, None).expect("parses");
    assert_eq!(event.issue.key.as_deref(), Some("SIM-1"));
}
