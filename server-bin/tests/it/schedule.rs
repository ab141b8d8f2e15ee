//! Several Jira sites and projects on one runtime, and the scheduled jobs: the poller's
//! changelog read, the reconciliation (deletions and drift without any webhook) and the
//! dynamic-webhook keeper. Two Jira simulators over HTTP on 127.0.0.1 (their issue ids are
//! equal: both start numbering at the same place), webhooks drained by hand.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use handoff_adapter::{Host, InMemoryHost};
use jira_adapter::auth::{Credentials, Secret};
use jira_adapter::client::{JiraClient, JiraConfig};
use jira_adapter::fields::ApiFlavor;
use jira_adapter::webhook::{DELIVERY_ID_HEADER, SIGNATURE_HEADER};
use jira_sim::http::{serve as serve_sim, SharedSim};
use jira_sim::{SimConfig, SimJira};
use serde_json::json;
use server_bin::demo::{demo_mapping, JIRA_PERSON};
use sync_domain::link::LinkStatus;
use sync_domain::Value;
use sync_engine::{
    JiraSite, ProjectConfig, Runtime, RuntimeConfig, RuntimeParts, SeqIds, SystemClock,
    WebhookKeeper,
};
use sync_store::Store;
use tokio::task::JoinHandle;

const SECRET_A: &[u8] = b"secret-a";
const SECRET_B: &[u8] = b"secret-b";

struct World {
    rt: Arc<Runtime>,
    sims: Vec<(String, SharedSim)>,
    host: Arc<InMemoryHost>,
    _tasks: Vec<JoinHandle<()>>,
}

fn lock(sim: &SharedSim) -> std::sync::MutexGuard<'_, SimJira> {
    sim.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn site(name: &str, secret: &[u8]) -> (JiraSite, SharedSim, JoinHandle<()>) {
    let sim: SharedSim = Arc::new(Mutex::new(SimJira::new(
        SimConfig {
            seed: 11,
            webhook_secret: Some(secret.to_vec()),
            ..SimConfig::default()
        },
        Arc::new(sync_engine::SystemClock),
    )));
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (addr, task) = serve_sim(sim.clone(), loopback).await.unwrap();
    let mut cfg = JiraConfig::new(
        url::Url::parse(&format!("http://{addr}")).unwrap(),
        Credentials::CloudApiToken {
            email: "sync@example.com".into(),
            token: Secret::new("t"),
        },
    );
    cfg.flavor = Some(ApiFlavor::CloudV3);
    cfg.rate_per_second = std::num::NonZeroU32::new(1000).unwrap();
    cfg.burst = std::num::NonZeroU32::new(500).unwrap();
    cfg.marker.lookup_delay = Duration::from_millis(1);
    let client = JiraClient::new(cfg).unwrap();
    (
        JiraSite {
            name: name.into(),
            client,
            webhook_secret: Some(secret.to_vec()),
        },
        sim,
        task,
    )
}

async fn world() -> World {
    let (a, sim_a, ta) = site("a", SECRET_A).await;
    let (b, sim_b, tb) = site("b", SECRET_B).await;
    let host = Arc::new(InMemoryHost::new().with_engine_actor("jira-sync"));
    let project = |id: &str, site: &str| ProjectConfig {
        project_id: id.into(),
        site: site.into(),
        jira_project_key: "SIM".into(),
        issue_type: "Story".into(),
        mapping: demo_mapping(),
    };
    let rt = Runtime::new(
        RuntimeParts {
            store: Store::open("memory://").await.unwrap(),
            sites: vec![a, b],
            host: host.clone(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(SeqIds::new("t", 5)),
        },
        RuntimeConfig::new(vec![project("PA", "a"), project("PB", "b")]),
    )
    .unwrap();
    for (s, sim) in [("a", &sim_a), ("b", &sim_b)] {
        lock(sim)
            .register_webhooks(&json!({
                "url": format!("http://127.0.0.1/api/webhooks/jira/{s}"),
                "webhooks": [{"events": ["jira:issue_updated", "jira:issue_deleted"], "jqlFilter": "project = SIM"}],
            }))
            .unwrap();
    }
    World {
        rt,
        sims: vec![("a".into(), sim_a), ("b".into(), sim_b)],
        host,
        _tasks: vec![ta, tb],
    }
}

impl World {
    fn sim(&self, site: &str) -> &SharedSim {
        &self.sims.iter().find(|(n, _)| n == site).unwrap().1
    }

    /// Runs the engine until nothing is left to do; Jira's deliveries are handed to the
    /// intake of their own site when `deliver` is set, else dropped (lost webhooks).
    async fn settle(&self, deliver: bool) {
        for _ in 0..50 {
            let mut delivered = 0;
            for (name, sim) in &self.sims {
                let ds = lock(sim).drain_all();
                for d in ds {
                    if !deliver {
                        continue;
                    }
                    let h = |k: &str| {
                        d.headers
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(k))
                            .map(|(_, v)| v.as_str())
                    };
                    self.rt
                        .receive_jira_webhook(
                            Some(name),
                            h(SIGNATURE_HEADER),
                            h(DELIVERY_ID_HEADER),
                            &d.body,
                        )
                        .await
                        .unwrap();
                    delivered += 1;
                }
            }
            let processed = self.rt.process_inbox().await.unwrap();
            let dispatched = self.rt.dispatch_once(16).await.unwrap().attempted;
            if delivered == 0 && processed == 0 && dispatched == 0 {
                return;
            }
        }
        panic!("the engine did not settle");
    }

    fn create_item(&self, project: &str, title: &str) -> String {
        self.host
            .create_as_person(
                project,
                &[("title".to_string(), Value::text(title))].into(),
                "ana",
            )
            .unwrap()
            .id
    }

    async fn title(&self, item: &str) -> Value {
        self.host
            .get_item(item)
            .await
            .unwrap()
            .unwrap()
            .field("title")
    }

    async fn issue_of(&self, link_id: &str) -> String {
        self.rt
            .store()
            .link_view(link_id)
            .await
            .unwrap()
            .unwrap()
            .issue_id
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_site_routes_its_webhooks_to_its_own_projects_links() {
    let w = world().await;
    let ia = w.create_item("PA", "On site A");
    let ib = w.create_item("PB", "On site B");
    let la = w.rt.push_item(&ia, "ana").await.unwrap();
    let lb = w.rt.push_item(&ib, "ana").await.unwrap();
    w.settle(true).await;
    let (issue_a, issue_b) = (w.issue_of(&la).await, w.issue_of(&lb).await);
    assert_eq!(issue_a, issue_b, "both simulators number issues alike");
    // A person edits the issue on site B: only the item of project PB follows.
    lock(w.sim("b"))
        .edit_as_person(
            &issue_b,
            json!({"summary": "Renamed on B"}).as_object().unwrap(),
            JIRA_PERSON,
        )
        .unwrap();
    w.settle(true).await;
    assert_eq!(w.title(&ib).await, Value::text("Renamed on B"));
    assert_eq!(w.title(&ia).await, Value::text("On site A"));
    // A delivery signed with the other site's secret is refused.
    let body = br#"{"webhookEvent":"jira:issue_updated"}"#;
    let sig = jira_adapter::webhook::sign(SECRET_A, body);
    let err =
        w.rt.receive_jira_webhook(Some("b"), Some(&sig), Some("x-1"), body)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    let err =
        w.rt.receive_jira_webhook(None, Some(&sig), Some("x-2"), body)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("several Jira sites"), "{err}");
    let err =
        w.rt.receive_jira_webhook(Some("c"), Some(&sig), Some("x-3"), body)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("unknown Jira site"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_unlinked_and_imported_again_gets_its_webhooks_on_the_new_link() {
    let w = world().await;
    let item = w.create_item("PA", "Linked twice");
    let first = w.rt.push_item(&item, "ana").await.unwrap();
    w.settle(true).await;
    let issue = w.issue_of(&first).await;
    lock(w.sim("a")).delete_issue(&issue, JIRA_PERSON).unwrap();
    w.settle(true).await;
    let v = w.rt.store().link_view(&first).await.unwrap().unwrap();
    assert_eq!(v.status, LinkStatus::Unlinked);
    // A second issue imported into a new link: the old link stays unlinked, the new one
    // receives the deliveries.
    let (id, _key) = lock(w.sim("a"))
        .create_issue(
            json!({"project": {"key": "SIM"}, "issuetype": {"name": "Story"}, "summary": "Second life"})
                .as_object()
                .unwrap(),
            &[],
            JIRA_PERSON,
        )
        .unwrap();
    let second = w.rt.import_issue("PA", &id, "ana").await.unwrap();
    assert_ne!(first, second);
    w.settle(true).await;
    lock(w.sim("a"))
        .edit_as_person(
            &id,
            json!({"summary": "Edited after import"})
                .as_object()
                .unwrap(),
            JIRA_PERSON,
        )
        .unwrap();
    w.settle(true).await;
    let link = w.rt.link_for_issue("a", &id).await.unwrap().unwrap();
    assert_eq!(link.link_id, second);
    let item2 = link.work_item_id.unwrap();
    assert_eq!(w.title(&item2).await, Value::text("Edited after import"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_finds_deletions_and_drift_that_no_webhook_told() {
    let w = world().await;
    let keep = w.create_item("PA", "Kept");
    let gone = w.create_item("PA", "Deleted in Jira");
    let host_gone = w.create_item("PA", "Deleted in Handoff");
    let l_keep = w.rt.push_item(&keep, "ana").await.unwrap();
    let l_gone = w.rt.push_item(&gone, "ana").await.unwrap();
    let l_host_gone = w.rt.push_item(&host_gone, "ana").await.unwrap();
    w.settle(true).await;
    // Every webhook is lost from here on, and the host's notifications are not read.
    let i_keep = w.issue_of(&l_keep).await;
    let i_gone = w.issue_of(&l_gone).await;
    lock(w.sim("a"))
        .edit_as_person(
            &i_keep,
            json!({"summary": "Drifted"}).as_object().unwrap(),
            JIRA_PERSON,
        )
        .unwrap();
    lock(w.sim("a")).delete_issue(&i_gone, JIRA_PERSON).unwrap();
    w.host.delete_item(&host_gone, "ana").unwrap();
    w.settle(false).await;
    assert_eq!(
        w.title(&keep).await,
        Value::text("Kept"),
        "nothing told the engine yet"
    );
    let report = w.rt.reconcile_project("PA").await.unwrap();
    assert_eq!(report.links, 3);
    assert_eq!(report.issues_deleted, 1, "{report:?}");
    assert_eq!(report.items_deleted, 1, "{report:?}");
    assert!(report.drifted >= 1, "{report:?}");
    w.settle(false).await;
    assert_eq!(w.title(&keep).await, Value::text("Drifted"));
    for (l, what) in [(&l_gone, "issue deleted"), (&l_host_gone, "item deleted")] {
        let v = w.rt.store().link_view(l).await.unwrap().unwrap();
        assert_eq!(v.status, LinkStatus::Unlinked, "{what}");
    }
    // The item of the deleted issue is kept.
    assert!(w.host.get_item(&gone).await.unwrap().is_some());
    // A second run finds nothing new.
    let again = w.rt.reconcile_project("PA").await.unwrap();
    assert_eq!((again.links, again.drifted), (1, 0), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_reads_the_changelog_to_find_an_edit_our_write_overwrote() {
    let w = world().await;
    let item = w.create_item("PA", "Original");
    let link = w.rt.push_item(&item, "ana").await.unwrap();
    w.settle(true).await;
    let issue = w.issue_of(&link).await;
    // A person renames the issue in Jira; the webhook is lost. Then the same title is
    // edited in Handoff and the engine writes it over the Jira edit it never saw.
    lock(w.sim("a"))
        .edit_as_person(
            &issue,
            json!({"summary": "Jira edit"}).as_object().unwrap(),
            JIRA_PERSON,
        )
        .unwrap();
    w.settle(false).await;
    w.host
        .edit_as_person(
            &item,
            &[("title".to_string(), Value::text("Handoff edit"))].into(),
            "ana",
        )
        .unwrap();
    let observed = w.rt.poll_host_once().await.unwrap();
    assert_eq!(observed, 1);
    w.settle(false).await;
    let calls_before = lock(w.sim("a"))
        .call_counts()
        .get("GET /rest/api/3/issue/{id}/changelog")
        .copied();
    // The poll sees the issue updated by us, reads the changelog from before our write, and
    // finds the person's edit that our write overwrote.
    w.rt.poll_jira_once().await.unwrap();
    w.settle(false).await;
    let calls_after = lock(w.sim("a"))
        .call_counts()
        .get("GET /rest/api/3/issue/{id}/changelog")
        .copied();
    assert_ne!(calls_before, calls_after, "the poller read the changelog");
    let events = w.rt.store().history(&link).await.unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|r| {
            format!("{:?}", r.event)
                .split([' ', '{', '('])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        kinds
            .iter()
            .any(|k| k == "ConflictLostValue" || k == "ConflictOpened"),
        "the overwritten Jira edit is reported: {kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_keeper_registers_once_and_refreshes() {
    let w = world().await;
    let keeper = WebhookKeeper {
        site: "a".into(),
        url: "https://sync.example.com/api/webhooks/jira/a".into(),
        every: Duration::from_secs(3600),
    };
    let first = w.rt.keep_webhook(&keeper).await.unwrap();
    assert_eq!(first.len(), 1);
    let second = w.rt.keep_webhook(&keeper).await.unwrap();
    assert_eq!(
        first, second,
        "an existing registration is kept, not duplicated"
    );
    let hooks = lock(w.sim("a")).list_webhooks(0, 100);
    let ours: Vec<_> = hooks["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["url"] == keeper.url)
        .collect();
    assert_eq!(ours.len(), 1, "{hooks}");
    assert_eq!(ours[0]["jqlFilter"], "project in (SIM)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_positions_are_kept_in_the_store_across_a_restart() {
    let w = world().await;
    let item = w.create_item("PA", "Polled");
    let link = w.rt.push_item(&item, "ana").await.unwrap();
    w.settle(true).await;
    let issue = w.issue_of(&link).await;
    w.rt.poll_jira_once().await.unwrap();
    w.rt.poll_host_once().await.unwrap();
    let store = w.rt.store().clone();
    let polled_at: i64 = store
        .checkpoint("jira-poll:PA")
        .await
        .unwrap()
        .expect("the Jira poll saved where it stands")
        .parse()
        .unwrap();
    assert!(store.checkpoint("host-poll:PA").await.unwrap().is_some());

    // The webhook of this edit is lost; the process stops before its next poll.
    lock(w.sim("a"))
        .edit_as_person(
            &issue,
            json!({"summary": "Edited while down"}).as_object().unwrap(),
            JIRA_PERSON,
        )
        .unwrap();
    w.settle(false).await;

    // A new process on the same store, started two hours later (far beyond the poll's
    // one-minute look-back), goes on from the saved positions.
    let later = sync_engine::ManualClock::new(polled_at + 2 * 3_600_000);
    let rt = Runtime::new(
        RuntimeParts {
            store,
            sites: ["a", "b"]
                .map(|s| JiraSite {
                    name: s.into(),
                    client: w.rt.jira(s).unwrap().clone(),
                    webhook_secret: None,
                })
                .into(),
            host: w.host.clone(),
            clock: Arc::new(later),
            ids: Arc::new(SeqIds::new("restarted", 6)),
        },
        RuntimeConfig::new(
            ["PA", "PB"]
                .map(|p| ProjectConfig {
                    project_id: p.into(),
                    site: if p == "PA" { "a" } else { "b" }.into(),
                    jira_project_key: "SIM".into(),
                    issue_type: "Story".into(),
                    mapping: demo_mapping(),
                })
                .into(),
        ),
    )
    .unwrap();
    // Nothing changed on the host since the saved cursor: the feed has nothing new.
    assert_eq!(rt.poll_host_once().await.unwrap(), 0);
    // The Jira poll looks back to the saved position and finds the edit.
    assert_eq!(rt.poll_jira_once().await.unwrap(), 1);
    for _ in 0..10 {
        rt.dispatch_once(16).await.unwrap();
    }
    assert_eq!(w.title(&item).await, Value::text("Edited while down"));
    let saved: i64 = rt
        .store()
        .checkpoint("jira-poll:PA")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(saved, polled_at + 2 * 3_600_000);
}
