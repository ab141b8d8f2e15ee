//! The product spec's stories (§2) as given/when/then tests on the simulation's world: the
//! real runtime against the Jira simulator over HTTP and the in-memory host, on virtual time.

use std::collections::BTreeMap;

use jira_sim::Faults;
use serde_json::json;
use sync_domain::link::{LinkStatus, Resolution};
use sync_domain::mapping::{Direction, FieldMapping, Policy};
use sync_domain::{Value, ValueKind};
use sync_store::Store;
use tests::sim::world::{
    lock, mapping, Policies, World, HOST_PEOPLE, JIRA_PEOPLE, JIRA_PROJECT, PROJECT,
};

const MIA: &str = JIRA_PEOPLE[0];
const ANA: &str = HOST_PEOPLE[0];

fn vals(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn num(x: f64) -> Value {
    Value::number(x).expect("a number")
}

async fn world_with(m: sync_domain::mapping::ProjectMapping) -> World {
    World::start(
        7,
        Store::open("memory://").await.expect("store"),
        m,
        Faults::default(),
    )
    .await
}

async fn world() -> World {
    world_with(mapping(&Policies::default())).await
}

/// Given an item pushed to Jira and synced: the world, the link, the item and the issue.
async fn linked(w: &mut World, title: &str) -> (String, String, String) {
    let item = w
        .host
        .create_as_person(
            PROJECT,
            &vals(&[
                ("title", Value::text(title)),
                ("description", Value::rich_text("First draft")),
                ("acceptanceCriteria", Value::rich_text("- it works")),
                ("size", num(3.0)),
                ("status", Value::option("todo")),
                ("labels", Value::option_set(["auth"])),
            ]),
            ANA,
        )
        .expect("create");
    let link = w.push_item(&item.id, ANA).await.expect("push");
    assert!(w.settle(50).await, "settles");
    let issue = w
        .store
        .link_view(&link)
        .await
        .expect("view")
        .and_then(|v| v.issue_id)
        .expect("the link has its issue");
    (link, item.id, issue)
}

async fn status(w: &World, link: &str) -> LinkStatus {
    w.store
        .link_view(link)
        .await
        .expect("view")
        .expect("link")
        .status
}

/// Delivers what is due and processes it; dispatches what is due; no polling.
async fn deliver_and_dispatch(w: &mut World) {
    for _ in 0..5 {
        w.deliver_webhooks(false).await;
        w.take_notifications().await;
        w.rt.process_inbox().await.expect("inbox");
        w.dispatch_all(100).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_1_a_handoff_edit_reaches_jira_within_a_minute_of_save() {
    // Given an item linked to an issue.
    let mut w = world().await;
    let (link, wi, issue) = linked(&mut w, "Password reset").await;
    let saved = w.time.now();
    // When Ana edits title, description and acceptance criteria and saves.
    w.host
        .edit_as_person(
            &wi,
            &vals(&[
                ("title", Value::text("Password reset by email")),
                ("description", Value::rich_text("Send a **link**.")),
                ("acceptanceCriteria", Value::rich_text("- the link expires")),
            ]),
            ANA,
        )
        .expect("edit");
    // Then the status shows the pending push, and within a minute of virtual time Jira
    // holds the three fields.
    w.take_notifications().await;
    w.rt.process_inbox().await.expect("inbox");
    assert_eq!(status(&w, &link).await, LinkStatus::PendingPush);
    w.time.advance(1_000);
    deliver_and_dispatch(&mut w).await;
    assert!(w.time.now() - saved <= 60_000);
    let j = w.jira_values(&issue, &wi).await.expect("read");
    assert_eq!(j["title"], Value::text("Password reset by email"));
    assert_eq!(j["description"], Value::rich_text("Send a **link**."));
    assert_eq!(
        j["acceptanceCriteria"],
        Value::rich_text("- the link expires")
    );
    assert_eq!(status(&w, &link).await, LinkStatus::Synced);
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_1_a_failed_push_is_queued_for_retry_and_lands_later() {
    let mut w = world().await;
    let (link, wi, issue) = linked(&mut w, "Retry me").await;
    // Given Jira answers 503 to everything for now.
    lock(&w.sim).set_faults(Faults {
        server_error_probability: 1.0,
        ..Faults::default()
    });
    w.host
        .edit_as_person(&wi, &vals(&[("title", Value::text("Retried"))]), ANA)
        .expect("edit");
    deliver_and_dispatch(&mut w).await;
    // Then the write waits for a retry.
    let view = w.store.link_view(&link).await.expect("view").expect("link");
    assert_eq!(view.status, LinkStatus::PendingPush);
    assert!(view.next_due_at.expect("a retry is scheduled") > w.time.now());
    // When Jira recovers and the retry comes due, the title lands.
    lock(&w.sim).set_faults(Faults::default());
    assert!(w.settle(20).await);
    assert_eq!(
        w.jira_values(&issue, &wi).await.expect("read")["title"],
        Value::text("Retried")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_2_a_jira_edit_arrives_by_webhook_with_jira_as_its_source() {
    let mut w = world().await;
    let (link, wi, issue) = linked(&mut w, "Pull me").await;
    // When Mia edits the issue in Jira.
    lock(&w.sim)
        .edit_as_person(
            &issue,
            &obj(json!({"summary": "Edited in Jira", "customfield_10016": 8})),
            MIA,
        )
        .expect("edit");
    // Then the webhook brings it to Handoff (no poll involved).
    deliver_and_dispatch(&mut w).await;
    let h = w.host_values(&wi).expect("item");
    assert_eq!(h["title"], Value::text("Edited in Jira"));
    assert_eq!(h["size"], num(8.0));
    let history = w.store.history(&link).await.expect("history");
    assert!(history.iter().any(|r| r.metadata.source == sync_store::Source::Jira
        && matches!(&r.event, sync_domain::link::LinkEvent::FieldChanged { field, .. } if field == "title")));
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_2_a_jira_edit_whose_webhook_was_lost_arrives_by_polling_within_five_minutes() {
    let mut w = world().await;
    let (_, wi, issue) = linked(&mut w, "Poll me").await;
    lock(&w.sim).set_faults(Faults {
        webhook_loss: 1.0,
        ..Faults::default()
    });
    let edited = w.time.now();
    lock(&w.sim)
        .edit_as_person(
            &issue,
            &obj(json!({"summary": "Edited while webhooks were down"})),
            MIA,
        )
        .expect("edit");
    deliver_and_dispatch(&mut w).await;
    assert_eq!(
        w.host_values(&wi).expect("item")["title"],
        Value::text("Poll me")
    );
    // When the poller runs (every minute).
    w.time.advance(60_000);
    assert!(w.rt.poll_jira_once().await.expect("poll") >= 1);
    deliver_and_dispatch(&mut w).await;
    assert!(w.time.now() - edited <= 5 * 60_000);
    assert_eq!(
        w.host_values(&wi).expect("item")["title"],
        Value::text("Edited while webhooks were down")
    );
}

/// Given a conflict on the description: Ana's and Mia's edits both made before either
/// side's change reached the other.
async fn conflicted(w: &mut World) -> (String, String, String, String) {
    let (link, wi, issue) = linked(w, "Conflicted").await;
    w.host
        .edit_as_person(
            &wi,
            &vals(&[("description", Value::rich_text("Handoff text"))]),
            ANA,
        )
        .expect("edit");
    lock(&w.sim)
        .edit_as_person(&issue, &obj(json!({"description": "Jira text"})), MIA)
        .expect("edit");
    deliver_and_dispatch(w).await;
    let conflicts = w.store.conflicts(PROJECT).await.expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    (link, wi, issue, conflicts[0].conflict.id.clone())
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_3_a_conflict_is_queued_and_sync_pauses_for_that_field_only() {
    let mut w = world().await;
    let (link, wi, issue, _) = conflicted(&mut w).await;
    let c = &w.store.conflicts(PROJECT).await.expect("conflicts")[0].conflict;
    assert_eq!(c.field, "description");
    assert_eq!(c.handoff, Value::rich_text("Handoff text"));
    assert_eq!(c.jira, Value::rich_text("Jira text"));
    assert_eq!(status(&w, &link).await, LinkStatus::Conflict);
    // Each side keeps its own text: nothing was overwritten.
    assert_eq!(
        w.host_values(&wi).expect("item")["description"],
        Value::rich_text("Handoff text")
    );
    assert_eq!(
        w.jira_values(&issue, &wi).await.expect("read")["description"],
        Value::rich_text("Jira text")
    );
    // A further edit of the field joins the conflict instead of syncing ...
    w.host
        .edit_as_person(
            &wi,
            &vals(&[
                ("description", Value::rich_text("Handoff again")),
                ("title", Value::text("Other field")),
            ]),
            ANA,
        )
        .expect("edit");
    deliver_and_dispatch(&mut w).await;
    assert_eq!(
        w.jira_values(&issue, &wi).await.expect("read")["description"],
        Value::rich_text("Jira text")
    );
    let c = &w.store.conflicts(PROJECT).await.expect("conflicts")[0].conflict;
    assert_eq!(c.handoff, Value::rich_text("Handoff again"));
    // ... while another field still syncs.
    assert_eq!(
        w.jira_values(&issue, &wi).await.expect("read")["title"],
        Value::text("Other field")
    );
}

async fn resolve_and_check(res: Resolution, want: Value) {
    let mut w = world().await;
    let (link, wi, issue, conflict) = conflicted(&mut w).await;
    w.rt.resolve_conflict(&link, &conflict, res, ANA)
        .await
        .expect("resolve");
    assert!(w.settle(30).await);
    assert_eq!(w.host_values(&wi).expect("item")["description"], want);
    assert_eq!(
        w.jira_values(&issue, &wi).await.expect("read")["description"],
        want
    );
    assert!(w
        .store
        .conflicts(PROJECT)
        .await
        .expect("conflicts")
        .is_empty());
    assert_eq!(status(&w, &link).await, LinkStatus::Synced);
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_4_use_handoff_syncs_to_both_sides() {
    resolve_and_check(Resolution::UseHandoff, Value::rich_text("Handoff text")).await;
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_4_use_jira_syncs_to_both_sides() {
    resolve_and_check(Resolution::UseJira, Value::rich_text("Jira text")).await;
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_4_merge_syncs_to_both_sides() {
    resolve_and_check(
        Resolution::Merge(Value::rich_text("Handoff text and Jira text")),
        Value::rich_text("Handoff text and Jira text"),
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_4_ignore_keeps_the_later_edit_on_both_sides() {
    // Mia's edit was made after Ana's (virtual time is the same, Jira's clock decides the
    // tie as in last_writer_wins: the later edit wins, a tie goes to Handoff).
    let mut w = world().await;
    let (link, wi, issue, conflict) = conflicted(&mut w).await;
    w.rt.resolve_conflict(&link, &conflict, Resolution::Ignore, ANA)
        .await
        .expect("resolve");
    assert!(w.settle(30).await);
    let h = w.host_values(&wi).expect("item")["description"].clone();
    assert_eq!(
        w.jira_values(&issue, &wi).await.expect("read")["description"],
        h
    );
    assert!(h == Value::rich_text("Handoff text") || h == Value::rich_text("Jira text"));
    assert!(w
        .store
        .conflicts(PROJECT)
        .await
        .expect("conflicts")
        .is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_5_mapping_custom_fields_and_per_field_direction() {
    // Given a mapping with a custom text field (Epic Link) pulled from Jira only, the
    // acceptance criteria pushed only, and story points both ways.
    let mut m = mapping(&Policies::default());
    m.fields.push(
        FieldMapping::new("epic", "customfield_10014", ValueKind::Text).direction(Direction::Pull),
    );
    let mut w = world_with(m).await;
    let (_, wi, issue) = linked(&mut w, "Mapped").await;
    // When Jira edits the epic, the acceptance criteria and the points, and Handoff edits
    // the epic too.
    lock(&w.sim)
        .edit_as_person(
            &issue,
            &obj(json!({"customfield_10014": "EPIC-7", "customfield_10020": "Jira's criteria", "customfield_10016": 13})),
            MIA,
        )
        .expect("edit");
    deliver_and_dispatch(&mut w).await;
    // Then the pulled custom field and the two-way points arrive; the push-only criteria
    // stay as Handoff has them.
    let h = w.host_values(&wi).expect("item");
    let item = w
        .host
        .items(PROJECT)
        .into_iter()
        .find(|i| i.id == wi)
        .expect("item");
    assert_eq!(item.field("epic"), Value::text("EPIC-7"));
    assert_eq!(h["size"], num(13.0));
    assert_eq!(h["acceptanceCriteria"], Value::rich_text("- it works"));
    // A Handoff edit of the pull-only field does not reach Jira.
    w.host
        .edit_as_person(&wi, &vals(&[("epic", Value::text("LOCAL"))]), ANA)
        .expect("edit");
    deliver_and_dispatch(&mut w).await;
    let epic = lock(&w.sim).issue_fields(&issue).expect("issue")["customfield_10014"].clone();
    assert_eq!(epic, json!("EPIC-7"));
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_5_mapping_is_per_project_policy_settles_conflicts() {
    // Given the title maps with prefer_jira: a conflict on it settles itself.
    let p = Policies {
        title: Policy::PreferJira,
        ..Policies::default()
    };
    let mut w = world_with(mapping(&p)).await;
    let (_, wi, issue) = linked(&mut w, "Policy").await;
    w.host
        .edit_as_person(&wi, &vals(&[("title", Value::text("Handoff title"))]), ANA)
        .expect("edit");
    lock(&w.sim)
        .edit_as_person(&issue, &obj(json!({"summary": "Jira title"})), MIA)
        .expect("edit");
    assert!(w.settle(30).await);
    assert!(w
        .store
        .conflicts(PROJECT)
        .await
        .expect("conflicts")
        .is_empty());
    assert_eq!(
        w.host_values(&wi).expect("item")["title"],
        Value::text("Jira title")
    );
    assert_eq!(
        w.jira_values(&issue, &wi).await.expect("read")["title"],
        Value::text("Jira title")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_7_manual_sync_retries_a_link_in_error() {
    // Given a link whose write gave up (Jira down through every attempt).
    let p = Policies {
        max_attempts: 2,
        ..Policies::default()
    };
    let mut w = world_with(mapping(&p)).await;
    let (link, wi, issue) = linked(&mut w, "Manual").await;
    lock(&w.sim).set_faults(Faults {
        server_error_probability: 1.0,
        ..Faults::default()
    });
    w.host
        .edit_as_person(&wi, &vals(&[("title", Value::text("Stuck"))]), ANA)
        .expect("edit");
    w.settle(20).await;
    assert_eq!(status(&w, &link).await, LinkStatus::Error);
    // When Jira is back and Ana forces a sync of the item.
    lock(&w.sim).set_faults(Faults::default());
    w.force_resync(&link, ANA).await.expect("resync");
    assert!(w.settle(30).await);
    // Then the title lands and the link is synced.
    assert_eq!(
        w.jira_values(&issue, &wi).await.expect("read")["title"],
        Value::text("Stuck")
    );
    assert_eq!(status(&w, &link).await, LinkStatus::Synced);
}

#[tokio::test(flavor = "current_thread")]
async fn us_10_6_status_and_dashboard_counts() {
    let mut w = world().await;
    let (_, wi1, _) = linked(&mut w, "One").await;
    let (_, _, _) = linked(&mut w, "Two").await;
    let (link3, _, _, _) = conflicted(&mut w).await;
    // A pending push on the first.
    w.host
        .edit_as_person(&wi1, &vals(&[("title", Value::text("Pending"))]), ANA)
        .expect("edit");
    w.take_notifications().await;
    w.rt.process_inbox().await.expect("inbox");
    let stats = w.store.stats(w.time.now(), 3_600_000).await.expect("stats");
    assert_eq!(stats.links, 3);
    assert_eq!(stats.open_conflicts, 1);
    assert_eq!(stats.links_by_status.get(&LinkStatus::Conflict), Some(&1));
    assert_eq!(
        stats.links_by_status.get(&LinkStatus::PendingPush),
        Some(&1)
    );
    assert_eq!(stats.links_by_status.get(&LinkStatus::Synced), Some(&1));
    assert!(
        stats
            .attempts_by_outcome
            .get(&sync_store::AttemptOutcome::Succeeded)
            .copied()
            .unwrap_or(0)
            >= 3
    );
    assert_eq!(status(&w, &link3).await, LinkStatus::Conflict);
}

#[tokio::test(flavor = "current_thread")]
async fn a_deleted_jira_issue_unlinks_and_keeps_the_item() {
    let mut w = world().await;
    let (link, wi, issue) = linked(&mut w, "Doomed").await;
    lock(&w.sim).delete_issue(&issue, MIA).expect("delete");
    deliver_and_dispatch(&mut w).await;
    assert_eq!(status(&w, &link).await, LinkStatus::Unlinked);
    assert_eq!(
        w.host_values(&wi).expect("the item is kept")["title"],
        Value::text("Doomed")
    );
    assert!(lock(&w.sim).issue_ids().is_empty());
    let _ = JIRA_PROJECT;
}

#[tokio::test(flavor = "current_thread")]
async fn a_deleted_jira_issue_whose_webhook_was_lost_is_found_when_the_world_settles() {
    // Given a synced link.
    let mut w = world().await;
    let (link, wi, issue) = linked(&mut w, "Doomed quietly").await;
    // When the issue is deleted and its issue_deleted webhook is lost (the incremental poll
    // cannot see a deletion: only the reconciliation of a server's schedule finds it).
    lock(&w.sim).delete_issue(&issue, MIA).expect("delete");
    let lost = lock(&w.sim).drain_all();
    assert!(!lost.is_empty(), "the deletion's webhook was queued");
    assert!(w.settle(50).await, "settles");
    // Then the link is unlinked and the item kept.
    assert_eq!(status(&w, &link).await, LinkStatus::Unlinked);
    assert!(w.host_values(&wi).is_some(), "the item is kept");
}
