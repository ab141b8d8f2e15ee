//! The simulator core, in-process, on virtual time.

use jira_adapter::webhook::{
    parse_event, verify_signature, ChangeValue, JiraEventKind, DELIVERY_ID_HEADER, SIGNATURE_HEADER,
};
use jira_sim::{Faults, ManualClock, SimConfig, SimError, SimJira};
use serde_json::{json, Map, Value};
use std::sync::Arc;

const SECRET: &[u8] = b"sim-secret";
const T0: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const PERSON: &str = "5b10a2844c20165700ede21g";

fn sim(seed: u64, faults: Faults) -> (SimJira, ManualClock) {
    let clock = ManualClock::new(T0);
    let config = SimConfig {
        seed,
        webhook_secret: Some(SECRET.to_vec()),
        faults,
        ..SimConfig::default()
    };
    (SimJira::new(config, Arc::new(clock.clone())), clock)
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
}

fn create(sim: &mut SimJira, summary: &str) -> String {
    let api = sim.config().api_user.account_id.clone();
    sim.create_issue(
        &fields(json!({
            "project": {"key": "SIM"},
            "issuetype": {"name": "Task"},
            "summary": summary,
            "description": adf("first words"),
        })),
        &[],
        &api,
    )
    .expect("create")
    .0
}

fn register_all(sim: &mut SimJira) {
    let r = sim
        .register_webhooks(&json!({
            "url": "http://127.0.0.1:9/hook",
            "webhooks": [{
                "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
                           "comment_created", "comment_updated", "comment_deleted"],
                "jqlFilter": "project = SIM"
            }]
        }))
        .expect("register");
    assert_eq!(r["webhookRegistrationResult"][0]["createdWebhookId"], 1);
}

#[test]
fn workflow_needs_hops_and_a_resolution() {
    let (mut sim, clock) = sim(1, Faults::default());
    let id = create(&mut sim, "walk the workflow");
    let api = sim.config().api_user.account_id.clone();

    // From To Do, Done is not one transition away.
    let ts = sim.transitions(&id, true).expect("transitions");
    let names: Vec<&str> = ts["transitions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["to"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["In Progress"]);

    // A transition not available from the current status is refused.
    let err = sim
        .do_transition(&id, &json!({"transition": {"id": "41"}}), &api)
        .expect_err("not from To Do");
    assert_eq!(err.status(), 400);

    for tid in ["11", "21"] {
        clock.advance(1000);
        sim.do_transition(&id, &json!({"transition": {"id": tid}}), &api)
            .expect("hop");
    }
    let ts = sim.transitions(&id, true).expect("transitions");
    let done = ts["transitions"]
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["to"]["name"] == "Done")
        .expect("done reachable from In Review")
        .clone();
    assert_eq!(done["fields"]["resolution"]["required"], true);

    let err = sim
        .do_transition(&id, &json!({"transition": {"id": "41"}}), &api)
        .expect_err("resolution required");
    assert_eq!(
        err.body(),
        json!({"errorMessages": [], "errors": {"resolution": "Resolution is required."}})
    );
    sim.do_transition(
        &id,
        &json!({"transition": {"id": "41"}, "fields": {"resolution": {"name": "Done"}}}),
        &api,
    )
    .expect("done");
    let f = sim.issue_fields(&id).expect("issue");
    assert_eq!(f["status"]["name"], "Done");
    assert_eq!(f["resolution"]["name"], "Done");

    // Reopen clears the resolution; a person walks back to Done in three hops.
    sim.transition_as_person(&id, "To Do", None, PERSON)
        .expect("reopen");
    assert_eq!(
        sim.issue_fields(&id).expect("issue")["resolution"],
        Value::Null
    );
    let before = sim.issue_history(&id).expect("history").len();
    sim.transition_as_person(&id, "Done", Some("Won't Do"), PERSON)
        .expect("walk");
    assert_eq!(sim.issue_history(&id).expect("history").len(), before + 3);
    assert_eq!(
        sim.issue_fields(&id).expect("issue")["resolution"]["name"],
        "Won't Do"
    );
}

#[test]
fn status_cannot_be_edited_and_v3_wants_adf() {
    let (mut sim, _) = sim(1, Faults::default());
    let id = create(&mut sim, "strict");
    let err = sim
        .edit_issue(&id, &fields(json!({"status": {"name": "Done"}})))
        .expect_err("status is not editable");
    assert!(err.body()["errors"]["status"]
        .as_str()
        .expect("message")
        .contains("cannot be set"));
    let err = sim
        .edit_issue(&id, &fields(json!({"description": "plain text"})))
        .expect_err("v3 wants ADF");
    assert_eq!(err.status(), 400);
    let err = sim
        .edit_issue(&id, &fields(json!({"labels": ["has space"]})))
        .expect_err("labels have no spaces");
    assert_eq!(err.status(), 400);
    let err = sim
        .edit_issue(
            &id,
            &fields(json!({"customfield_10030": {"value": "Gamma"}})),
        )
        .expect_err("unknown option");
    assert_eq!(err.status(), 400);
    sim.edit_issue(
        &id,
        &fields(json!({"customfield_10030": {"value": "Beta"}, "customfield_10016": 5})),
    )
    .expect("custom fields");
    let f = sim.issue_fields(&id).expect("issue");
    assert_eq!(f["customfield_10030"]["id"], "10101");
    assert_eq!(f["customfield_10016"], 5);
}

#[test]
fn search_pages_with_tokens() {
    let (mut sim, clock) = sim(1, Faults::default());
    for i in 0..7 {
        clock.advance(60_000);
        create(&mut sim, &format!("issue {i}"));
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = sim
            .search(
                "project = SIM ORDER BY created ASC",
                &["summary".to_owned()],
                Some(3),
                token.as_deref(),
            )
            .expect("search");
        pages += 1;
        assert!(page.get("total").is_none(), "search/jql has no total");
        for i in page["issues"].as_array().expect("issues") {
            seen.push(i["fields"]["summary"].as_str().expect("summary").to_owned());
            assert!(i["fields"].get("description").is_none());
        }
        if page["isLast"] == true {
            assert!(page.get("nextPageToken").is_none());
            break;
        }
        token = Some(page["nextPageToken"].as_str().expect("token").to_owned());
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..7).map(|i| format!("issue {i}")).collect();
    assert_eq!(seen, want);

    // No fields asked: ids only, as Cloud's search/jql does.
    let ids = sim
        .search("project = SIM", &[], None, None)
        .expect("search");
    assert_eq!(ids["issues"][0], json!({"id": "10000"}));

    // Minute precision: `updated >= "…"` from the 4th minute.
    let recent = sim
        .search(
            "project = SIM AND updated >= \"2024-01-01 00:04\"",
            &[],
            None,
            None,
        )
        .expect("search");
    assert_eq!(recent["issues"].as_array().expect("issues").len(), 4);

    let err = sim
        .search("project = SIM OR project = X", &[], None, None)
        .expect_err("OR unsupported");
    assert_eq!(err.status(), 400);
    let err = sim
        .search("project = SIM", &[], None, Some("garbage"))
        .expect_err("bad token");
    assert_eq!(err.status(), 400);
}

#[test]
fn webhooks_look_like_cloud_and_verify() {
    let (mut sim, clock) = sim(7, Faults::default());
    register_all(&mut sim);
    let id = create(&mut sim, "hooked");
    clock.advance(5000);
    sim.edit_as_person(
        &id,
        &fields(json!({"description": "now **bold**", "labels": ["a", "b"]})),
        PERSON,
    )
    .expect("edit");
    clock.advance(5000);
    sim.comment_as_person(&id, "a *comment*", PERSON)
        .expect("comment");
    clock.advance(5000);
    let api = sim.config().api_user.account_id.clone();
    sim.delete_issue(&id, &api).expect("delete");

    let deliveries = sim.drain_due();
    assert_eq!(deliveries.len(), 4);
    let mut kinds = Vec::new();
    for d in &deliveries {
        let header = d
            .headers
            .iter()
            .find(|(k, _)| k == SIGNATURE_HEADER)
            .map(|(_, v)| v.as_str());
        verify_signature(SECRET, &d.body, header).expect("signed with the secret");
        let delivery_id = d
            .headers
            .iter()
            .find(|(k, _)| k == DELIVERY_ID_HEADER)
            .map(|(_, v)| v.as_str());
        assert_eq!(delivery_id, Some(d.identifier.as_str()));
        let event = parse_event(&d.body, delivery_id).expect("our own intake parses it");
        assert_eq!(event.issue.id, id);
        kinds.push(event.kind);
        let raw: Value = serde_json::from_slice(&d.body).expect("json");
        assert_eq!(raw["matchedWebhookIds"], json!([1]));
    }
    assert_eq!(
        kinds,
        [
            JiraEventKind::IssueCreated,
            JiraEventKind::IssueUpdated,
            JiraEventKind::CommentCreated,
            JiraEventKind::IssueDeleted
        ]
    );

    let updated = parse_event(&deliveries[1].body, None).expect("parse");
    // Cloud webhooks carry wiki markup, not ADF.
    assert_eq!(updated.issue.fields["description"], "now *bold*");
    assert_eq!(
        updated.actor.and_then(|a| a.account_id).as_deref(),
        Some(PERSON)
    );
    let items = updated.changelog.expect("changelog").items;
    let desc = items
        .iter()
        .find(|i| i.field_id.as_deref() == Some("description"))
        .expect("description item");
    assert_eq!(desc.from, None);
    assert_eq!(desc.before(), Some(ChangeValue::Text("first words")));
    assert_eq!(desc.after(), Some(ChangeValue::Text("now *bold*")));
    let labels = items
        .iter()
        .find(|i| i.field_id.as_deref() == Some("labels"))
        .expect("labels item");
    assert_eq!(labels.to_string.as_deref(), Some("a b"));
    assert_eq!(updated.issue.updated_ms, Some(T0 + 5000));

    let comment = parse_event(&deliveries[2].body, None)
        .expect("parse")
        .comment
        .expect("comment");
    assert_eq!(comment.body, "a _comment_");

    // The deleted issue is gone from REST.
    assert_eq!(
        sim.get_issue(&id, None).expect_err("deleted"),
        SimError::NotFound("Issue does not exist or you do not have permission to see it.".into())
    );
}

#[test]
fn webhook_filters_jql_and_fields() {
    let (mut sim, _) = sim(3, Faults::default());
    sim.register_webhooks(&json!({"url": "http://127.0.0.1:9/a", "webhooks": [
        {"events": ["jira:issue_updated"], "jqlFilter": "project = OTHER"},
        {"events": ["jira:issue_updated"], "jqlFilter": "project = SIM", "fieldIdsFilter": ["summary"]},
        {"events": ["jira:issue_updated"], "jqlFilter": "summary ~ x"},
    ]}))
    .map(|r| {
        let res = &r["webhookRegistrationResult"];
        assert!(res[2]["errors"].is_array(), "{r}");
    })
    .expect("register");
    let id = create(&mut sim, "filtered");
    sim.edit_as_person(&id, &fields(json!({"labels": ["x"]})), PERSON)
        .expect("edit");
    assert!(
        sim.drain_due().is_empty(),
        "labels are not in the field filter"
    );
    sim.edit_as_person(&id, &fields(json!({"summary": "renamed"})), PERSON)
        .expect("edit");
    let d = sim.drain_due();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].webhook_id, 2);
}

fn run(seed: u64) -> (Vec<(String, i64, String)>, jira_sim::DeliveryStats) {
    let faults = Faults {
        webhook_loss: 0.2,
        webhook_duplicate: 0.3,
        webhook_reorder: 0.3,
        webhook_reorder_window_ms: 20_000,
        webhook_delay_ms: (100, 3000),
        ..Faults::default()
    };
    let (mut sim, clock) = sim(seed, faults);
    register_all(&mut sim);
    let id = create(&mut sim, "faulty");
    for i in 0..30 {
        clock.advance(500);
        sim.edit_as_person(
            &id,
            &fields(json!({"summary": format!("edit {i}")})),
            PERSON,
        )
        .expect("edit");
    }
    let mut out = Vec::new();
    for _ in 0..200 {
        clock.advance(250);
        for d in sim.drain_due() {
            let event = parse_event(&d.body, Some(&d.identifier)).expect("parse");
            let summary = event.issue.fields["summary"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            out.push((d.identifier, clock_now(&clock), summary));
        }
    }
    assert_eq!(sim.pending_deliveries(), 0);
    (out, sim.delivery_stats().clone())
}

fn clock_now(c: &ManualClock) -> i64 {
    use jira_sim::Clock;
    c.now_ms()
}

#[test]
fn faults_are_deterministic_under_a_seed() {
    let (a, stats_a) = run(42);
    let (b, stats_b) = run(42);
    assert_eq!(a, b, "same seed, same delivery sequence");
    assert_eq!(stats_a, stats_b);
    let (c, _) = run(43);
    assert_ne!(a, c, "another seed, another sequence");

    // The faults did happen.
    assert!(
        stats_a.lost > 0 && stats_a.duplicated > 0 && stats_a.reordered > 0,
        "{stats_a:?}"
    );
    assert_eq!(
        a.len() as u64,
        stats_a.produced - stats_a.lost + stats_a.duplicated
    );
    let mut ids: Vec<&String> = a.iter().map(|x| &x.0).collect();
    ids.sort();
    ids.dedup();
    assert!(ids.len() < a.len(), "duplicates share an identifier");
    // Reordering: some later edit arrives before an earlier one.
    let order: Vec<i64> = a
        .iter()
        .filter_map(|x| x.2.strip_prefix("edit ").and_then(|n| n.parse().ok()))
        .collect();
    assert!(order.windows(2).any(|w| w[0] > w[1]), "{order:?}");
}

#[test]
fn api_faults_and_counters() {
    let (mut sim, _) = sim(
        5,
        Faults {
            rate_limit_every: Some(3),
            retry_after_s: 7,
            ..Faults::default()
        },
    );
    let results: Vec<Result<(), SimError>> = (0..6)
        .map(|_| sim.admit("GET /rest/api/3/myself"))
        .collect();
    assert_eq!(results[2], Err(SimError::RateLimited { retry_after_s: 7 }));
    assert_eq!(results[5], Err(SimError::RateLimited { retry_after_s: 7 }));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
    assert_eq!(sim.call_counts()["GET /rest/api/3/myself"], 6);

    let errors = |seed| {
        let (mut s, _) = sim_with_errors(seed);
        (0..100)
            .map(|_| s.admit("GET /x").err().map(|e| e.status()))
            .collect::<Vec<_>>()
    };
    let a = errors(9);
    assert_eq!(a, errors(9));
    let n = a.iter().filter(|e| e.is_some()).count();
    assert!((20..=80).contains(&n), "{n}");
    assert!(a.contains(&Some(500)) && a.contains(&Some(503)));
}

fn sim_with_errors(seed: u64) -> (SimJira, ManualClock) {
    sim(
        seed,
        Faults {
            server_error_probability: 0.5,
            ..Faults::default()
        },
    )
}

#[test]
fn failed_deliveries_are_retried_with_the_same_identifier() {
    let (mut sim, clock) = sim(11, Faults::default());
    register_all(&mut sim);
    create(&mut sim, "retry me");
    let first = sim.drain_due().pop().expect("delivery");
    sim.delivery_failed(first.clone());
    assert!(sim.drain_due().is_empty(), "retry waits for its back-off");
    clock.advance(60_000);
    let retry = sim.drain_due().pop().expect("retry");
    assert_eq!(retry.identifier, first.identifier);
    assert_eq!(retry.retry, 1);
    assert!(retry
        .headers
        .iter()
        .any(|(k, v)| k == "X-Atlassian-Webhook-Retry" && v == "1"));
}

#[test]
fn search_lag_hides_fresh_issues() {
    let (mut sim, clock) = sim(
        1,
        Faults {
            search_lag_ms: 2000,
            ..Faults::default()
        },
    );
    create(&mut sim, "fresh");
    let none = sim
        .search("project = SIM", &[], None, None)
        .expect("search");
    assert_eq!(none["issues"], json!([]));
    clock.advance(2000);
    let one = sim
        .search("project = SIM", &[], None, None)
        .expect("search");
    assert_eq!(one["issues"].as_array().map(Vec::len), Some(1));
}

#[test]
fn properties_and_expired_webhooks() {
    let (mut sim, clock) = sim(1, Faults::default());
    register_all(&mut sim);
    let id = create(&mut sim, "props");
    sim.drain_due();
    assert_eq!(
        sim.get_property(&id, "sync").expect_err("absent").status(),
        404
    );
    assert!(sim
        .set_property(&id, "sync", json!({"workItemId": "w1"}))
        .expect("set"));
    assert!(!sim
        .set_property(&id, "sync", json!({"workItemId": "w1"}))
        .expect("set"));
    assert_eq!(
        sim.get_property(&id, "sync").expect("get"),
        json!({"key": "sync", "value": {"workItemId": "w1"}})
    );
    // Thirty days later an unrefreshed webhook is gone quiet.
    clock.advance(jira_sim::WEBHOOK_LIFETIME_MS + 1);
    sim.edit_as_person(&id, &fields(json!({"summary": "late"})), PERSON)
        .expect("edit");
    assert!(sim.drain_due().is_empty());
    sim.refresh_webhooks(&[1]);
    sim.edit_as_person(&id, &fields(json!({"summary": "later"})), PERSON)
        .expect("edit");
    assert_eq!(sim.drain_due().len(), 1);
}
