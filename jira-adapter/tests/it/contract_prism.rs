//! Contract test: every request the client sends is valid against Atlassian's own OpenAPI
//! spec of Jira Cloud, served by Stoplight Prism (`scripts/prism.sh`), which answers an
//! invalid request with a `sl-violations` header naming a `request` location.
//!
//! Run: `scripts/prism.sh test` (or set `PRISM_URL`). Under CI (`CI=true`) a missing Prism
//! fails the test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jira_adapter::auth::{Credentials, Secret};
use jira_adapter::client::{
    ApiFlavor, EndpointClass, FieldChange, JiraClient, JiraConfig, NewIssue, ObservedResponse,
    ResponseObserver, SearchRequest,
};
use jira_adapter::ratelimit::RetryPolicy;
use serde_json::{json, Value as Json};
use sync_domain::{Value, ValueKind};

#[derive(Debug, Clone)]
struct Seen {
    endpoint: EndpointClass,
    method: String,
    path: String,
    status: u16,
    request_violations: Vec<Json>,
}

fn request_violations(headers: &reqwest::header::HeaderMap) -> Vec<Json> {
    let Some(raw) = headers.get("sl-violations").and_then(|v| v.to_str().ok()) else {
        return Vec::new();
    };
    let parsed: Json = serde_json::from_str(raw)
        .unwrap_or_else(|_| json!([{"location": ["request"], "message": raw}]));
    parsed
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        // Atlassian's own examples break some response schemas: only our requests count.
        .filter(|v| v["location"].get(0).and_then(Json::as_str) == Some("request"))
        .collect()
}

fn prism_url() -> Option<String> {
    match std::env::var("PRISM_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            let ci = std::env::var("CI")
                .map(|v| v == "true" || v == "1")
                .unwrap_or(false);
            assert!(
                !ci,
                "CI=true but PRISM_URL is not set: start Prism with scripts/prism.sh"
            );
            None
        }
    }
}

#[tokio::test]
async fn client_requests_are_valid_against_the_jira_cloud_openapi_spec() {
    let Some(url) = prism_url() else {
        #[expect(
            clippy::print_stderr,
            reason = "tell a local run why nothing was checked"
        )]
        {
            eprintln!("skipping contract test: PRISM_URL unset (run scripts/prism.sh test)");
        }
        return;
    };
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = seen.clone();
    let base = url
        .parse()
        .unwrap_or_else(|e| panic!("PRISM_URL {url:?}: {e}"));
    // Prism's webhook endpoints answer 401 without an Authorization header.
    let creds = Credentials::CloudApiToken {
        email: "contract@example.com".into(),
        token: Secret::new("t"),
    };
    let mut cfg = JiraConfig::new(base, creds);
    cfg.flavor = Some(ApiFlavor::CloudV3);
    cfg.timeout = Duration::from_secs(20);
    cfg.retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    cfg.marker.lookup_attempts = 1;
    cfg.observer = Some(ResponseObserver(Arc::new(
        move |r: &ObservedResponse<'_>| {
            let s = Seen {
                endpoint: r.endpoint,
                method: r.method.to_string(),
                path: r.path.to_string(),
                status: r.status,
                request_violations: request_violations(r.headers),
            };
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        },
    )));
    let c = JiraClient::new(cfg).unwrap_or_else(|e| panic!("{e}"));

    let mut failures: Vec<String> = Vec::new();
    let mut check = |what: &str, r: Result<(), jira_adapter::error::JiraError>| {
        if let Err(e) = r {
            failures.push(format!("{what}: {e}"));
        }
    };

    check(
        "get issue",
        c.get_issue("ED-1", &["summary", "status", "description", "labels"])
            .await
            .map(|_| ()),
    );
    let changes = [
        FieldChange::new("summary", Value::text("Contract"), ValueKind::Text),
        FieldChange::new(
            "description",
            Value::rich_text("Some **bold** text\n\n- a\n- b"),
            ValueKind::RichText,
        ),
        FieldChange::new(
            "labels",
            Value::option_set(["x", "y"]),
            ValueKind::OptionSet,
        ),
        FieldChange::new("priority", Value::option("High"), ValueKind::Option),
        FieldChange::new(
            "assignee",
            Value::user("5b10a2844c20165700ede21g"),
            ValueKind::User,
        ),
        FieldChange::new(
            "duedate",
            Value::date("2024-05-01").unwrap_or(Value::Null),
            ValueKind::Date,
        ),
        FieldChange::new(
            "customfield_10016",
            Value::number(3.0).unwrap_or(Value::Null),
            ValueKind::Number,
        ),
    ];
    check("edit issue", c.edit_issue("ED-1", &changes).await);
    let new = NewIssue {
        project_key: "ED".into(),
        issue_type: "Task".into(),
        work_item_id: "WI-1".into(),
        fields: changes.to_vec(),
    };
    check("create issue", c.create_issue(&new).await.map(|_| ()));
    check("find by marker", c.find_by_marker("WI-1").await.map(|_| ()));
    check("transitions", c.transitions("ED-1").await.map(|_| ()));
    let mut fields = serde_json::Map::new();
    fields.insert("resolution".into(), json!({"name": "Fixed"}));
    check("do transition", c.do_transition("ED-1", "5", fields).await);
    check("comments", c.comments("ED-1").await.map(|_| ()));
    check(
        "add comment",
        c.add_comment("ED-1", "Alice", "Hello *there*")
            .await
            .map(|_| ()),
    );
    check(
        "edit comment",
        c.edit_comment("ED-1", "10000", "Alice", "Changed")
            .await
            .map(|_| ()),
    );
    check("delete comment", c.delete_comment("ED-1", "10000").await);
    let req = SearchRequest::new("project = ED", &["summary", "labels"])
        .max_results(50)
        .reconcile(&[10002]);
    check("search page", c.search_page(&req, None).await.map(|_| ()));
    check(
        "search next page",
        c.search_page(&req, Some("EgQIlMIC")).await.map(|_| ()),
    );
    check("fields", c.refresh_fields().await.map(|_| ()));
    check(
        "user search",
        c.find_user_by_email("ann@example.com").await.map(|_| ()),
    );
    check(
        "register webhook",
        c.register_webhook(
            "https://sync.example.com/hook",
            "project = ED",
            &["jira:issue_updated"],
            &["summary"],
        )
        .await
        .map(|_| ()),
    );
    check("list webhooks", c.list_webhooks().await.map(|_| ()));
    check(
        "refresh webhooks",
        c.refresh_webhooks(&[10000]).await.map(|_| ()),
    );
    check("delete webhooks", c.delete_webhooks(&[10000]).await);
    check(
        "issue property",
        c.set_issue_property("ED-1", "handoff-sync", &json!({"workItemId": "WI-1"}))
            .await,
    );

    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let bad: Vec<&Seen> = seen
        .iter()
        .filter(|s| !s.request_violations.is_empty() || s.status == 422)
        .collect();
    assert!(bad.is_empty(), "requests Prism found invalid: {bad:#?}");
    assert!(
        failures.is_empty(),
        "calls that failed against Prism: {failures:#?}\nseen: {seen:#?}"
    );
    for class in [
        EndpointClass::IssueGet,
        EndpointClass::IssueEdit,
        EndpointClass::IssueCreate,
        EndpointClass::Transitions,
        EndpointClass::Comments,
        EndpointClass::Search,
        EndpointClass::Fields,
        EndpointClass::Users,
        EndpointClass::Webhooks,
        EndpointClass::Properties,
    ] {
        assert!(
            seen.iter().any(|s| s.endpoint == class),
            "no {class:?} call reached Prism"
        );
    }
    assert!(seen
        .iter()
        .any(|s| s.method == "PUT" && s.path == "/rest/api/3/webhook/refresh"));
}
