//! The runtime end to end over real HTTP: the Jira simulator on 127.0.0.1 (talked to by the
//! real `JiraClient`, posting signed webhooks to the runtime's HTTP intake), the in-memory
//! host, and the store on SQLite (and on PostgreSQL when `DATABASE_URL` is set).

use std::sync::atomic::{AtomicU32, Ordering};

use jira_adapter::client::{FieldChange, NewIssue};
use jira_sim::Faults;
use server_bin::demo::{run_stories, DemoWorld, PROJECT};
use sync_domain::link::LinkStatus;
use sync_domain::{Value, ValueKind};
use sync_store::{Store, StoreConfig};

static N: AtomicU32 = AtomicU32::new(0);

const STORIES: [&str; 7] = [
    "create in Handoff → appears in Jira",
    "edit in Jira → appears in Handoff",
    "edit both → conflict queued",
    "resolve by merge → both sides equal",
    "status change across a multi-hop workflow",
    "a comment each way",
    "Jira issue deleted → link unlinked, item kept",
];

async fn check_stories(world: &DemoWorld) {
    let mut timeline = Vec::new();
    let report = run_stories(world, &mut |l| timeline.push(l.to_string()))
        .await
        .expect("the demo runs");
    let names: Vec<&str> = report.stories.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, STORIES, "{timeline:#?}");
    for s in &report.stories {
        assert!(
            s.held,
            "story {:?} failed: {:?}\n{timeline:#?}",
            s.name, s.failures
        );
    }
    assert_eq!((report.conflicts_raised, report.conflicts_resolved), (1, 1));
    assert_eq!(report.items_synced, 1);
    assert_eq!(report.errors, 0, "{timeline:#?}");
    assert!(report.jira_calls > 0);
    // Afterwards, independently of the demo's own checks: the item is kept, the issue gone.
    let items = world.host.items(PROJECT);
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].field("title"),
        Value::text("Password reset by email")
    );
    assert!(world.sim.lock().unwrap().issue_ids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_stories_hold_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("e2e.db").display());
    let world = DemoWorld::start(Store::open(&url).await.unwrap())
        .await
        .unwrap();
    check_stories(&world).await;
}

fn pg_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but neither TEST_DATABASE_URL nor DATABASE_URL is set: run the tests through scripts/pg.sh run");
    }
    url
}

#[allow(
    clippy::print_stderr,
    reason = "a skipped PostgreSQL run says so (outside CI only)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_stories_hold_on_postgres() {
    let Some(url) = pg_url() else {
        eprintln!(
            "the_demo_stories_hold_on_postgres: skipped: set DATABASE_URL (scripts/pg.sh start)"
        );
        return;
    };
    let schema = format!(
        "e2e_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let store = Store::open_with(
        &url,
        StoreConfig {
            pg_schema: Some(schema),
            ..StoreConfig::default()
        },
    )
    .await
    .expect("open postgres");
    let world = DemoWorld::start(store).await.unwrap();
    check_stories(&world).await;
}

async fn world() -> DemoWorld {
    DemoWorld::start(Store::open("memory://").await.unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_intake_refuses_bad_signatures_and_bodies_and_drops_duplicates() {
    let w = world().await;
    let url = format!("http://{}/api/webhooks/jira", w.intake_addr);
    let http = reqwest::Client::new();
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/webhooks/webhook-issue-updated-edited.json"),
    )
    .unwrap();
    let sig = jira_adapter::webhook::sign(b"demo-webhook-secret", &body);
    let post = |b: Vec<u8>, sig: Option<String>, id: &str| {
        let mut r = http
            .post(&url)
            .header("X-Atlassian-Webhook-Identifier", id)
            .body(b);
        if let Some(s) = sig {
            r = r.header("X-Hub-Signature", s);
        }
        r.send()
    };
    let r = post(body.clone(), None, "d-1").await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post(
        body.clone(),
        Some(jira_adapter::webhook::sign(b"wrong", &body)),
        "d-1",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        w.rt.store().inbox_get("d-1").await.unwrap().is_none(),
        "nothing stored"
    );
    let r = post(body.clone(), Some(sig.clone()), "d-1").await.unwrap();
    assert_eq!(r.status(), 202);
    let r = post(body.clone(), Some(sig.clone()), "d-1").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "duplicate");
    let junk = b"{\"hello\": 1}".to_vec();
    let junk_sig = jira_adapter::webhook::sign(b"demo-webhook-secret", &junk);
    let r = post(junk, Some(junk_sig), "d-2").await.unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "malformed_delivery");
    let rejected = w.rt.store().rejected_deliveries(10).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].delivery_id.as_deref(), Some("d-2"));
    // The accepted delivery is about an issue no link knows: processed, nothing done.
    assert!(w.settle().await);
    let entry =
        w.rt.store()
            .inbox_get("jira:sim:d-1")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(entry.outcome.as_deref(), Some("no link"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_imported_jira_issue_gets_a_handoff_item_once() {
    let w = world().await;
    let created =
        w.rt.jira_for_project(PROJECT)
            .unwrap()
            .create_issue(&NewIssue {
                project_key: "SIM".into(),
                issue_type: "Story".into(),
                work_item_id: "none".into(),
                fields: vec![
                    FieldChange::new(
                        "summary",
                        Value::text("Imported from Jira"),
                        ValueKind::Text,
                    ),
                    FieldChange::new(
                        "customfield_10016",
                        Value::number(8.0).unwrap(),
                        ValueKind::Number,
                    ),
                ],
            })
            .await
            .unwrap();
    let link =
        w.rt.import_issue(PROJECT, &created.issue.id, "ana")
            .await
            .unwrap();
    assert!(w.settle().await);
    let again =
        w.rt.import_issue(PROJECT, &created.issue.id, "ana")
            .await
            .unwrap();
    assert_eq!(link, again, "importing twice keeps one link");
    let items = w.host.items(PROJECT);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].field("title"), Value::text("Imported from Jira"));
    assert_eq!(items[0].field("size"), Value::number(8.0).unwrap());
    assert_eq!(items[0].marker.as_deref(), Some(created.issue.id.as_str()));
    let view = w.rt.store().link_view(&link).await.unwrap().unwrap();
    assert_eq!(view.work_item_id.as_deref(), Some(items[0].id.as_str()));
    assert_eq!(view.status, LinkStatus::Synced);
}

/// An item pushed to Jira and settled; from then on every Jira webhook is lost. Returns the
/// item and the issue id.
async fn pushed_then_webhooks_lost(
    w: &DemoWorld,
    title: &str,
) -> (handoff_adapter::HostItem, String) {
    let item = w
        .host
        .create_as_person(
            PROJECT,
            &[("title".to_string(), Value::text(title))]
                .into_iter()
                .collect(),
            "ana",
        )
        .unwrap();
    let link = w.rt.push_item(&item.id, "ana").await.unwrap();
    assert!(w.settle().await);
    let issue_id =
        w.rt.store()
            .link_view(&link)
            .await
            .unwrap()
            .unwrap()
            .issue_id
            .unwrap();
    w.sim.lock().unwrap().set_faults(Faults {
        webhook_loss: 1.0,
        ..Faults::default()
    });
    (item, issue_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_poller_finds_a_jira_edit_whose_webhook_was_lost() {
    let w = world().await;
    let (_item, issue_id) = pushed_then_webhooks_lost(&w, "Polled").await;
    w.sim
        .lock()
        .unwrap()
        .edit_as_person(
            &issue_id,
            serde_json::json!({"summary": "Edited while webhooks were down"})
                .as_object()
                .unwrap(),
            server_bin::demo::JIRA_PERSON,
        )
        .unwrap();
    assert!(w.settle().await);
    assert_eq!(
        w.host.items(PROJECT)[0].field("title"),
        Value::text("Polled"),
        "no webhook came"
    );
    assert!(w.rt.poll_jira_once().await.unwrap() >= 1);
    assert!(w.settle().await);
    assert_eq!(
        w.host.items(PROJECT)[0].field("title"),
        Value::text("Edited while webhooks were down")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_poller_finds_a_jira_comment_whose_webhook_was_lost() {
    let w = world().await;
    let (item, issue_id) = pushed_then_webhooks_lost(&w, "Commented").await;
    w.sim
        .lock()
        .unwrap()
        .comment_as_person(
            &issue_id,
            "Said while webhooks were down",
            server_bin::demo::JIRA_PERSON,
        )
        .unwrap();
    assert!(w.settle().await);
    let mirrored = || async {
        handoff_adapter::Host::list_comments(w.host.as_ref(), &item.id)
            .await
            .unwrap()
            .iter()
            .filter(|c| c.body.contains("Said while webhooks were down"))
            .count()
    };
    assert_eq!(mirrored().await, 0, "no webhook came");
    assert!(w.rt.poll_jira_once().await.unwrap() >= 1);
    assert!(w.settle().await);
    assert_eq!(mirrored().await, 1, "the poll found the comment");
    // Polling again (the comment and its mirror are read again) mirrors nothing twice.
    w.rt.poll_jira_once().await.unwrap();
    w.rt.poll_host_once().await.unwrap();
    assert!(w.settle().await);
    assert_eq!(mirrored().await, 1);
    let in_jira =
        w.rt.jira_for_project(PROJECT)
            .unwrap()
            .comments(&issue_id)
            .await
            .unwrap();
    assert_eq!(in_jira.len(), 1, "the comment is not copied back to Jira");
}

/// An import by JQL takes each issue from its search page, which asks for the mapped
/// fields: one Jira call per page and no read of each issue; the item it makes is the one an
/// import of the issue on its own makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_by_jql_reads_pages_not_issues() {
    use handoff_adapter::Host;
    let w = world().await;
    let create = |summary: &str| {
        w.sim
            .lock()
            .unwrap()
            .create_issue(
                serde_json::json!({"project": {"key": "SIM"}, "issuetype": {"name": "Story"},
                    "summary": summary, "labels": ["bulk", "imported"], "customfield_10016": 8})
                .as_object()
                .unwrap(),
                &[],
                server_bin::demo::JIRA_PERSON,
            )
            .unwrap()
            .0
    };
    // Two issues alike; the first is imported on its own, the second by JQL.
    let single = create("Twin");
    let twin = create("Twin");
    for i in 0..148 {
        create(&format!("Bulk {i}"));
    }
    w.rt.import_issue(PROJECT, &single, "ana").await.unwrap();
    assert!(w.settle().await);

    let calls = |k: &str| {
        w.sim
            .lock()
            .unwrap()
            .call_counts()
            .get(k)
            .copied()
            .unwrap_or(0)
    };
    let (search0, get0) = (
        calls("POST /rest/api/3/search/jql"),
        calls("GET /rest/api/3/issue/{id}"),
    );
    let r =
        w.rt.import_jql(PROJECT, "project = SIM AND labels = bulk", "ana")
            .await
            .unwrap();
    assert_eq!(r.results.len(), 150, "both pages are imported");
    assert!(r.results.iter().all(|o| o.ok), "{:?}", r.results);
    // 150 issues at 100 a page: two search calls, and no issue read.
    assert_eq!(calls("POST /rest/api/3/search/jql") - search0, 2);
    assert_eq!(calls("GET /rest/api/3/issue/{id}") - get0, 0);
    assert!(w.settle().await);
    assert_eq!(w.host.items(PROJECT).len(), 150);

    let item = |issue: String| {
        let host = w.host.clone();
        async move {
            host.find_by_marker(PROJECT, &issue)
                .await
                .unwrap()
                .expect("an item for the issue")
        }
    };
    let (a, b) = (item(single).await, item(twin).await);
    for m in server_bin::demo::demo_mapping().fields {
        assert_eq!(
            a.field(&m.handoff_field),
            b.field(&m.handoff_field),
            "{}",
            m.handoff_field
        );
    }
    assert_eq!(b.field("title"), Value::text("Twin"));
    assert_eq!(b.field("size"), Value::number(8.0).unwrap());
}

/// A Handoff edit costs one Jira call: the edit returns the issue (Cloud `returnIssue`),
/// which is the read-back; no read follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handoff_edit_is_one_jira_call() {
    let w = world().await;
    let issue = w
        .sim
        .lock()
        .unwrap()
        .create_issue(
            serde_json::json!({"project": {"key": "SIM"}, "issuetype": {"name": "Story"},
                "summary": "One call", "customfield_10016": 3})
            .as_object()
            .unwrap(),
            &[],
            server_bin::demo::JIRA_PERSON,
        )
        .unwrap()
        .0;
    let link = w.rt.import_issue(PROJECT, &issue, "ana").await.unwrap();
    assert!(w.settle().await);
    let item =
        w.rt.store()
            .link_view(&link)
            .await
            .unwrap()
            .and_then(|v| v.work_item_id)
            .expect("the item");
    let (calls0, get0) = {
        let s = w.sim.lock().unwrap();
        (
            s.total_calls(),
            s.call_counts()
                .get("GET /rest/api/3/issue/{id}")
                .copied()
                .unwrap_or(0),
        )
    };
    w.host
        .edit_as_person(
            &item,
            &[("title".to_string(), Value::text("One call, edited"))].into(),
            "ana",
        )
        .unwrap();
    assert!(w.settle().await);
    let s = w.sim.lock().unwrap();
    assert_eq!(
        s.issue_fields(&issue).unwrap()["summary"],
        "One call, edited"
    );
    assert_eq!(
        s.call_counts()
            .get("GET /rest/api/3/issue/{id}")
            .copied()
            .unwrap_or(0),
        get0,
        "no read-back"
    );
    assert_eq!(s.total_calls() - calls0, 1, "{:?}", s.call_counts());
}
