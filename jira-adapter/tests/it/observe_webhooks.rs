//! `jira_adapter::observe` on the real deliveries in `../shared/fixtures/webhooks/` and on
//! REST shapes: what the domain is told about each.

use std::path::PathBuf;

use jira_adapter::client::{JiraComment, JiraIssue};
use jira_adapter::fields::ApiFlavor;
use jira_adapter::observe::{
    fields_to_read, mirror_footer, observe_event, observe_issue, observe_issue_with_changelog,
    observe_rest_comment, ObserveContext, WebhookObservation,
};
use jira_adapter::webhook::parse_event;
use serde_json::json;
use sync_domain::link::{FieldChange, JiraVersion};
use sync_domain::mapping::{FieldMapping, ProjectMapping};
use sync_domain::{Value, ValueKind};

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/webhooks")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn mapping() -> ProjectMapping {
    ProjectMapping::new(vec![
        FieldMapping::new("title", "summary", ValueKind::Text),
        FieldMapping::new("description", "description", ValueKind::RichText),
        FieldMapping::new("labels", "labels", ValueKind::OptionSet),
        FieldMapping::new("status", "status", ValueKind::Option),
        FieldMapping::new("size", "customfield_10072", ValueKind::Number),
    ])
}

fn ctx<'a>(m: &'a ProjectMapping, ours: Option<&'a str>) -> ObserveContext<'a> {
    ObserveContext {
        mapping: m,
        flavor: ApiFlavor::CloudV3,
        our_account: ours,
        marker_label: None,
    }
}

fn observe(name: &str, ours: Option<&str>) -> WebhookObservation {
    let m = mapping();
    let ev = parse_event(&fixture(name), Some("d-1")).expect("parses");
    observe_event(&ev, &ctx(&m, ours)).expect("observes")
}

#[test]
fn an_edited_description_becomes_markdown_with_its_changelog() {
    let WebhookObservation::Issue {
        issue,
        observed,
        skipped,
    } = observe("webhook-issue-updated-edited.json", None)
    else {
        panic!("an issue observation")
    };
    assert_eq!(issue.id, "10040");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(observed.version.changelog_id, 10225);
    assert!(observed.version.updated_ms > 1_550_000_000_000);
    assert_eq!(
        observed.values["description"],
        Value::rich_text("Unit test description, not that long, a little longer now")
    );
    assert_eq!(
        observed.values["summary"],
        Value::text("Unit test summary 1")
    );
    // An unmapped field is not reported; a mapped one the issue lacks is empty.
    assert!(!observed.values.contains_key("priority"));
    assert_eq!(observed.values["customfield_10072"], Value::Null);
    assert_eq!(
        observed.changes,
        vec![FieldChange {
            jira_field: "description".into(),
            from: Some(Value::rich_text("Unit test description, not that long")),
            to: Some(Value::rich_text(
                "Unit test description, not that long, a little longer now"
            )),
            at: Some(observed.version.updated_ms),
            by_us: None,
        }]
    );
}

#[test]
fn labels_and_authorship_come_from_the_changelog() {
    let WebhookObservation::Issue { observed, .. } = observe(
        "webhook-issue-updated-labels.json",
        Some("5c5f880629be9642ba529340"),
    ) else {
        panic!("an issue observation")
    };
    assert_eq!(
        observed.values["labels"],
        Value::option_set(["sad", "test-label"])
    );
    let c = &observed.changes[0];
    assert_eq!(c.from, Some(Value::option_set(["bad", "test-label"])));
    assert_eq!(c.to, Some(Value::option_set(["sad", "test-label"])));
    assert_eq!(c.by_us, Some(true), "the changelog author is our account");
    let WebhookObservation::Issue { observed, .. } =
        observe("webhook-issue-updated-labels.json", Some("someone-else"))
    else {
        panic!("an issue observation")
    };
    assert_eq!(observed.changes[0].by_us, Some(false));
}

#[test]
fn a_transition_reports_status_names_not_ids() {
    let WebhookObservation::Issue { observed, .. } =
        observe("webhook-issue-updated-resolved.json", None)
    else {
        panic!("an issue observation")
    };
    assert_eq!(observed.values["status"], Value::option("Done"));
    let status: Vec<_> = observed
        .changes
        .iter()
        .filter(|c| c.jira_field == "status")
        .collect();
    assert_eq!(status.len(), 1, "resolution is not mapped: {observed:?}");
    assert_eq!(status[0].from, Some(Value::option("In Progress")));
    assert_eq!(status[0].to, Some(Value::option("Done")));
}

#[test]
fn a_custom_number_field_change() {
    let WebhookObservation::Issue { observed, .. } =
        observe("webhook-cloud-issue-updated-custom-field.json", None)
    else {
        panic!("an issue observation")
    };
    assert_eq!(
        observed.values["customfield_10072"],
        Value::number(12.0).unwrap()
    );
    assert_eq!(observed.changes[0].from, Some(Value::number(1.0).unwrap()));
    assert_eq!(observed.changes[0].to, Some(Value::number(12.0).unwrap()));
}

#[test]
fn comments_and_deletions() {
    let WebhookObservation::Comment { issue_id, comment } =
        observe("webhook-cloud-comment-created.json", None)
    else {
        panic!("a comment observation")
    };
    assert_eq!(issue_id, "10040");
    assert_eq!(comment.id, "10019");
    assert_eq!(comment.body, "Added a comment");
    assert_eq!(comment.author, "Test User");
    assert_eq!(comment.mirror_of, None);
    assert!(!comment.deleted);
    let WebhookObservation::Comment { comment, .. } =
        observe("webhook-cloud-comment-deleted.json", None)
    else {
        panic!("a comment observation")
    };
    assert!(comment.deleted);
    assert_eq!(
        observe("webhook-issue-deleted.json", None),
        WebhookObservation::IssueDeleted {
            issue_id: "10303".into()
        }
    );
}

#[test]
fn every_fixture_observes_without_error() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/webhooks");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".json") {
            continue;
        }
        let obs = observe(&name, None);
        assert!(!obs.issue_id().is_empty(), "{name}");
        n += 1;
    }
    assert!(n >= 10, "{n} fixtures");
}

#[test]
fn rest_issue_adf_and_the_marker_label() {
    let m = mapping();
    let issue = JiraIssue::from_parts(
        "10001",
        "SIM-1",
        json!({
            "summary": "Password Reset",
            "description": jira_content::md_to_adf("Allow **users** to reset"),
            "labels": ["auth", "handoff-WI-1"],
            "status": {"name": "In Review", "id": "10003"},
            "updated": "2024-01-01T00:00:01.000+0000",
        })
        .as_object()
        .cloned()
        .unwrap(),
    );
    let c = ObserveContext {
        marker_label: Some("handoff-WI-1"),
        ..ctx(&m, None)
    };
    let (o, skipped) = observe_issue(&issue, &c);
    assert!(skipped.is_empty());
    assert_eq!(o.version.updated_ms, 1_704_067_201_000);
    assert_eq!(o.values["summary"], Value::text("Password Reset"));
    assert_eq!(
        o.values["description"],
        Value::rich_text("Allow **users** to reset")
    );
    assert_eq!(o.values["labels"], Value::option_set(["auth"]));
    assert_eq!(o.values["status"], Value::option("In Review"));
    assert!(o.changes.is_empty() && o.changelog_from.is_none());
    assert_eq!(
        fields_to_read(&m),
        [
            "customfield_10072",
            "description",
            "labels",
            "status",
            "summary",
            "updated"
        ]
    );
}

#[test]
fn a_rest_changelog_page_from_a_version() {
    let m = mapping();
    let issue = JiraIssue::from_parts(
        "10001",
        "SIM-1",
        json!({"summary": "B", "updated": "2024-01-01T00:00:05.000+0000"})
            .as_object()
            .cloned()
            .unwrap(),
    );
    let histories = [
        json!({"id": "100", "created": "2024-01-01T00:00:01.000+0000",
               "author": {"accountId": "bot"},
               "items": [{"field": "summary", "fieldId": "summary", "fromString": "", "toString": "A"}]}),
        json!({"id": "101", "created": "2024-01-01T00:00:03.000+0000",
               "author": {"accountId": "bot"},
               "items": [{"field": "summary", "fieldId": "summary", "fromString": "A", "toString": "X"}]}),
        json!({"id": "102", "created": "2024-01-01T00:00:05.000+0000",
               "author": {"accountId": "mia"},
               "items": [{"field": "summary", "fieldId": "summary", "fromString": "X", "toString": "B"},
                         {"field": "priority", "fieldId": "priority", "fromString": "Low", "toString": "High"}]}),
    ];
    let since = JiraVersion {
        updated_ms: 1_704_067_201_000,
        changelog_id: 100,
    };
    let (o, _) = observe_issue_with_changelog(&issue, &histories, since, &ctx(&m, Some("bot")))
        .expect("reads");
    assert_eq!(o.changelog_from, Some(since));
    assert_eq!(o.version.changelog_id, 102);
    let got: Vec<_> = o
        .changes
        .iter()
        .map(|c| (c.to.clone(), c.by_us, c.at))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(Value::text("X")), Some(true), Some(1_704_067_203_000)),
            (Some(Value::text("B")), Some(false), Some(1_704_067_205_000)),
        ]
    );
}

#[test]
fn a_mirrored_comment_is_recognised_by_its_footer() {
    let body = format!(
        "{}\n\n{}",
        jira_adapter::client::with_author_line("Ana", "Looks good"),
        mirror_footer("hc-7")
    );
    let c = observe_rest_comment(&JiraComment {
        id: "10050".into(),
        author: "Sync Bot".into(),
        body_markdown: body,
        created: String::new(),
        updated: String::new(),
    });
    assert_eq!(c.mirror_of.as_deref(), Some("hc-7"));
    assert_eq!(c.author, "Ana");
    assert_eq!(c.body, "Looks good");
}
