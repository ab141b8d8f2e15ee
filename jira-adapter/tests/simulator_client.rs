//! The real `JiraClient` against the simulator's HTTP face: what the client sends is what
//! the simulator accepts, and the simulator's Jira behaviour is what the client handles.
#![cfg(feature = "simulator")]

use jira_adapter::auth::{Credentials, Secret};
use jira_adapter::client::{
    ApiFlavor, FieldChange, JiraClient, JiraConfig, NewIssue, SearchRequest,
};
use jira_adapter::ratelimit::RetryPolicy;
use jira_adapter::simulator::http::serve;
use jira_adapter::simulator::{Faults, ManualClock, SimConfig, SimJira};
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
