//! The simulator's per-call fault hook (`SimJira::set_call_fault_hook`): an injected 409, and
//! a connection dropped before or after the call was processed, as the real client sees them.

use jira_adapter::auth::{Credentials, Secret};
use jira_adapter::client::{FieldChange, JiraClient, JiraConfig, NewIssue};
use jira_adapter::error::{ErrorClass, JiraError};
use jira_adapter::ratelimit::RetryPolicy;
use jira_sim::http::serve;
use jira_sim::{CallFault, ManualClock, SimConfig, SimError, SimJira};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sync_domain::{Value, ValueKind};

#[tokio::test]
async fn injected_conflicts_and_dropped_connections() {
    let sim = Arc::new(Mutex::new(SimJira::new(
        SimConfig::default(),
        Arc::new(ManualClock::new(1_704_067_200_000)),
    )));
    let (addr, server) = serve(sim.clone(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let mut config = JiraConfig::new(
        format!("http://{addr}").parse().expect("url"),
        Credentials::CloudApiToken {
            email: "bot@example.com".into(),
            token: Secret::new("token"),
        },
    );
    config.flavor = Some(jira_adapter::client::ApiFlavor::CloudV3);
    config.retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let client = JiraClient::new(config).expect("client");
    let id = client
        .create_issue(&NewIssue {
            project_key: "SIM".into(),
            issue_type: "Task".into(),
            work_item_id: "WI-1".into(),
            fields: vec![FieldChange::new(
                "summary",
                Value::text("one"),
                ValueKind::Text,
            )],
        })
        .await
        .expect("create")
        .issue
        .id;
    let summary = |sim: &Arc<Mutex<SimJira>>| {
        sim.lock().expect("lock").issue_fields(&id).expect("issue")["summary"].clone()
    };
    let edit = |text: &str| {
        vec![FieldChange::new(
            "summary",
            Value::text(text),
            ValueKind::Text,
        )]
    };
    let plan = Arc::new(Mutex::new(vec![
        CallFault::DropAfter,
        CallFault::DropBefore,
        CallFault::Error(SimError::Conflict("another transition is running".into())),
    ]));
    let p = plan.clone();
    sim.lock()
        .expect("lock")
        .set_call_fault_hook(Some(Box::new(move |endpoint: &str| {
            (endpoint.starts_with("PUT ")
                || endpoint.ends_with("/transitions") && endpoint.starts_with("POST "))
            .then(|| p.lock().expect("plan").pop())
            .flatten()
        })));
    // 409 on a transition: retryable.
    let e = client
        .transition_to(&id, "In Progress", None)
        .await
        .expect_err("409");
    assert!(matches!(e, JiraError::Http { status: 409, .. }), "{e}");
    assert!(matches!(e.class(), ErrorClass::Retryable { .. }), "{e}");
    // Dropped before: an error, nothing changed.
    let e = client
        .edit_issue(&id, &edit("two"))
        .await
        .expect_err("dropped");
    assert!(matches!(e.class(), ErrorClass::Retryable { .. }), "{e}");
    assert_eq!(summary(&sim), "one");
    // Dropped after: an error, but the edit was made.
    let e = client
        .edit_issue(&id, &edit("three"))
        .await
        .expect_err("dropped");
    assert!(matches!(e.class(), ErrorClass::Retryable { .. }), "{e}");
    assert_eq!(summary(&sim), "three");
    // No fault left: calls go through again.
    client.edit_issue(&id, &edit("four")).await.expect("edit");
    assert_eq!(summary(&sim), "four");
    sim.lock().expect("lock").set_call_fault_hook(None);
    server.abort();
}
