//! The real `JiraClient` against the simulator's HTTP face: what the client sends is what
//! the simulator accepts, and the simulator's Jira behaviour is what the client handles.

use jira_adapter::auth::{Credentials, Secret};
use jira_adapter::client::{
    ApiFlavor, FieldChange, JiraClient, JiraConfig, NewIssue, SearchRequest,
};
use jira_adapter::ratelimit::RetryPolicy;
use jira_sim::http::serve;
use jira_sim::{Faults, ManualClock, SimConfig, SimJira};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sync_domain::{Value, ValueKind};

async fn client_and_sim(
    faults: Faults,
) -> (JiraClient, Arc<Mutex<SimJira>>, tokio::task::JoinHandle<()>) {
    let sim = Arc::new(Mutex::new(SimJira::new(
        SimConfig {
            seed: 3,
            faults,
            ..SimConfig::default()
        },
        Arc::new(ManualClock::new(1_704_067_200_000)),
    )));
    let (addr, server) = serve(sim.clone(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let url = format!("http://{addr}").parse().expect("url");
    let mut config = JiraConfig::new(
        url,
        Credentials::CloudApiToken {
            email: "bot@example.com".into(),
            token: Secret::new("token"),
        },
    );
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    };
    config.marker.lookup_delay = Duration::from_millis(5);
    let client = JiraClient::new(config).expect("client");
    (client, sim, server)
}

#[tokio::test]
async fn client_creates_edits_transitions_and_searches() {
    let (client, sim, server) = client_and_sim(Faults::default()).await;
    assert_eq!(client.flavor().await.expect("flavor"), ApiFlavor::CloudV3);

    let created = client
        .create_issue(&NewIssue {
            project_key: "SIM".into(),
            issue_type: "Task".into(),
            work_item_id: "WI-1".into(),
            fields: vec![
                FieldChange::new("summary", Value::text("from the client"), ValueKind::Text),
                FieldChange::new(
                    "description",
                    Value::rich_text("Some **bold** text"),
                    ValueKind::RichText,
                ),
            ],
        })
        .await
        .expect("create");
    let id = created.issue.id.clone();

    let found = client.find_by_marker("WI-1").await.expect("lookup");
    assert_eq!(found.map(|r| r.id), Some(id.clone()));

    client
        .edit_issue(
            &id,
            &[FieldChange::new(
                "summary",
                Value::text("renamed"),
                ValueKind::Text,
            )],
        )
        .await
        .expect("edit");
    let issue = client
        .get_issue(&id, &["summary", "description"])
        .await
        .expect("get");
    assert_eq!(
        issue
            .value("summary", ValueKind::Text, ApiFlavor::CloudV3)
            .expect("summary"),
        Value::text("renamed")
    );
    assert_eq!(
        issue
            .value("description", ValueKind::RichText, ApiFlavor::CloudV3)
            .expect("description"),
        Value::rich_text("Some **bold** text")
    );

    // To Do → Done is three hops, the last one asks for a resolution.
    let outcome = client
        .transition_to(&id, "Done", None)
        .await
        .expect("transition");
    assert_eq!(outcome.hops.len(), 3, "{:?}", outcome.hops);
    {
        let s = sim.lock().expect("lock");
        let f = s.issue_fields(&id).expect("issue");
        assert_eq!(f["status"]["name"], "Done");
        assert!(f["resolution"]["name"].is_string());
    }

    let all = client
        .search_all(&SearchRequest::new("project = SIM", &["summary"]).max_results(1))
        .await
        .expect("search");
    assert_eq!(all.len(), 1);
    server.abort();
}

/// An edit asks Cloud for the issue it leaves (`returnIssue`), with every field (empty ones
/// null), so no read follows; a status change reads the status and the first hop's
/// transitions in one call.
#[tokio::test]
async fn edit_returns_the_issue_and_a_transition_reads_once() {
    let (client, sim, server) = client_and_sim(Faults::default()).await;
    let created = client
        .create_issue(&NewIssue {
            project_key: "SIM".into(),
            issue_type: "Task".into(),
            work_item_id: "WI-2".into(),
            fields: vec![FieldChange::new(
                "summary",
                Value::text("before"),
                ValueKind::Text,
            )],
        })
        .await
        .expect("create");
    let id = created.issue.id.clone();
    let counts = |sim: &Arc<Mutex<SimJira>>| sim.lock().expect("lock").call_counts().clone();
    let before = counts(&sim);
    let returned = client
        .edit_issue_returning(
            &id,
            &[FieldChange::new(
                "summary",
                Value::text("after"),
                ValueKind::Text,
            )],
        )
        .await
        .expect("edit")
        .expect("the edit returns the issue");
    assert_eq!(returned.id, id);
    assert_eq!(
        returned
            .value("summary", ValueKind::Text, ApiFlavor::CloudV3)
            .expect("summary"),
        Value::text("after")
    );
    let read = client
        .get_issue(&id, &["summary", "updated"])
        .await
        .expect("get");
    assert_eq!(
        returned.updated(),
        read.updated(),
        "the version after the edit"
    );
    assert_eq!(
        returned.raw_field("description"),
        Some(&serde_json::Value::Null),
        "an empty field is in the answer, as null"
    );
    // No change: no call, nothing returned.
    assert!(client
        .edit_issue_returning(&id, &[])
        .await
        .expect("no-op")
        .is_none());
    let after_edit = counts(&sim);
    let delta =
        |a: &std::collections::BTreeMap<String, u64>,
         b: &std::collections::BTreeMap<String, u64>,
         k: &str| b.get(k).copied().unwrap_or(0) - a.get(k).copied().unwrap_or(0);
    assert_eq!(delta(&before, &after_edit, "PUT /rest/api/3/issue/{id}"), 1);
    assert_eq!(delta(&before, &after_edit, "GET /rest/api/3/issue/{id}"), 1);

    // To Do → In Progress: one read (status and transitions), one transition.
    let outcome = client
        .transition_to(&id, "In Progress", None)
        .await
        .expect("transition");
    assert_eq!(outcome.hops.len(), 1, "{:?}", outcome.hops);
    let after_transition = counts(&sim);
    assert_eq!(
        delta(&after_edit, &after_transition, "GET /rest/api/3/issue/{id}"),
        1
    );
    assert_eq!(
        delta(
            &after_edit,
            &after_transition,
            "GET /rest/api/3/issue/{id}/transitions"
        ),
        0
    );
    assert_eq!(
        delta(
            &after_edit,
            &after_transition,
            "POST /rest/api/3/issue/{id}/transitions"
        ),
        1
    );
    assert_eq!(
        sim.lock().expect("lock").issue_fields(&id).expect("issue")["status"]["name"],
        "In Progress"
    );
    server.abort();
}

#[tokio::test]
async fn client_rides_out_injected_429s() {
    let (client, sim, server) = client_and_sim(Faults {
        rate_limit_every: Some(2),
        retry_after_s: 0,
        ..Faults::default()
    })
    .await;
    let me = client.myself().await;
    assert!(me.is_ok(), "{me:?}");
    let total = sim.lock().expect("lock").total_calls();
    assert!(total >= 2, "a 429 was answered and retried: {total}");
    server.abort();
}
