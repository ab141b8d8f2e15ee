//! Webhook intake against the real deliveries in `../shared/fixtures/webhooks/`.

use jira_adapter::webhook::{
    parse_event, parse_jira_timestamp, sign, verify_signature, ChangeValue, JiraEventKind,
    WebhookError,
};
use std::path::PathBuf;

const SECRET: &[u8] = b"test-secret-for-webhooks";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/webhooks")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Verify with the test secret and parse, like the intake endpoint does.
fn intake(name: &str) -> jira_adapter::webhook::JiraEvent {
    let body = fixture(name);
    let header = sign(SECRET, &body);
    verify_signature(SECRET, &body, Some(&header)).expect("signature verifies");
    parse_event(&body, Some("delivery-1")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_fixture_verifies_and_parses() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 13, "{names:?}");
    for name in &names {
        let event = intake(name);
        assert_eq!(event.delivery_id.as_deref(), Some("delivery-1"));
        assert!(!event.issue.id.is_empty(), "{name}");
        assert!(event.timestamp_ms > 1_500_000_000_000, "{name}");
    }
}

#[test]
fn kinds_of_every_fixture() {
    use JiraEventKind::*;
    let table = [
        (
            "webhook-cloud-comment-created.json",
            CommentCreated,
            "10040",
        ),
        (
            "webhook-cloud-comment-deleted.json",
            CommentDeleted,
            "10357",
        ),
        (
            "webhook-cloud-issue-created-many-fields.json",
            IssueCreated,
            "10509",
        ),
        (
            "webhook-cloud-issue-updated-custom-field.json",
            IssueUpdated,
            "10368",
        ),
        (
            "webhook-issue-assigned-empty-changelog.json",
            IssueUpdated,
            "10001",
        ),
        ("webhook-issue-created.json", IssueCreated, "10040"),
        ("webhook-issue-deleted.json", IssueDeleted, "10303"),
        ("webhook-issue-updated-assigned.json", IssueUpdated, "10040"),
        ("webhook-issue-updated-edited.json", IssueUpdated, "10040"),
        ("webhook-issue-updated-labels.json", IssueUpdated, "10040"),
        ("webhook-issue-updated-resolved.json", IssueUpdated, "10040"),
        (
            "webhook-server-comment-created.json",
            CommentCreated,
            "10013",
        ),
        (
            "webhook-server-issue-updated-in-progress.json",
            IssueUpdated,
            "10300",
        ),
    ];
    for (name, kind, issue_id) in table {
        let event = intake(name);
        assert_eq!(event.kind, kind, "{name}");
        assert_eq!(event.issue.id, issue_id, "{name}");
    }
}

#[test]
fn cloud_edit_carries_wiki_text_and_from_string() {
    let event = intake("webhook-issue-updated-edited.json");
    assert_eq!(event.issue.key.as_deref(), Some("TES-41"));
    assert_eq!(event.issue.project_key.as_deref(), Some("TES"));
    // 2019-02-15T19:10:01.805-0800
    assert_eq!(event.issue.updated_ms, Some(1_550_286_601_805));
    assert_eq!(
        event.issue.fields["description"].as_str(),
        Some("Unit test description, not that long, a little longer now")
    );
    let cl = event.changelog.expect("changelog");
    assert_eq!(cl.id.as_deref(), Some("10225"));
    let item = &cl.items[0];
    assert_eq!(item.field_id.as_deref(), Some("description"));
    assert_eq!(item.from, None);
    assert_eq!(
        item.before(),
        Some(ChangeValue::Text("Unit test description, not that long"))
    );
    assert_eq!(
        item.after().map(|v| v.as_str()),
        Some("Unit test description, not that long, a little longer now")
    );
    let actor = event.actor.expect("actor");
    assert_eq!(
        actor.account_id.as_deref(),
        Some("5c5f880629be9642ba529340")
    );
}

#[test]
fn status_and_resolution_changes_give_ids() {
    let event = intake("webhook-issue-updated-resolved.json");
    let items = event.changelog.expect("changelog").items;
    let status = items.iter().find(|i| i.field == "status").expect("status");
    assert_eq!(status.before(), Some(ChangeValue::Id("3")));
    assert_eq!(status.after(), Some(ChangeValue::Id("10002")));
    assert_eq!(status.from_string.as_deref(), Some("In Progress"));
    let resolution = items.iter().find(|i| i.field == "resolution").expect("res");
    assert_eq!(resolution.before(), None);
    assert_eq!(resolution.after(), Some(ChangeValue::Id("10000")));
}

#[test]
fn cloud_assignee_prefers_account_id() {
    let event = intake("webhook-cloud-issue-created-many-fields.json");
    let items = event.changelog.expect("changelog").items;
    let assignee = items
        .iter()
        .find(|i| i.field == "assignee")
        .expect("assignee");
    assert_eq!(
        assignee.after(),
        Some(ChangeValue::Id("5cedcb4355a88a0fc86388ba"))
    );
    let number = intake("webhook-cloud-issue-updated-custom-field.json")
        .changelog
        .expect("changelog")
        .items;
    assert_eq!(number[0].field_key(), "customfield_10072");
    assert_eq!(number[0].before(), Some(ChangeValue::Text("1")));
    assert_eq!(number[0].after(), Some(ChangeValue::Text("12")));
}

#[test]
fn server_payloads_without_account_id() {
    let event = intake("webhook-server-issue-updated-in-progress.json");
    let actor = event.actor.expect("actor");
    assert_eq!(actor.account_id, None);
    assert_eq!(actor.name.as_deref(), Some("admin"));
    let item = &event.changelog.expect("changelog").items[0];
    // Server leaves out fieldId for system fields: the name stands in.
    assert_eq!(item.field_id, None);
    assert_eq!(item.field_key(), "status");
    // 2019-08-14T11:02:33.678+0800
    assert_eq!(event.issue.updated_ms, Some(1_565_751_753_678));

    let comment_event = intake("webhook-server-comment-created.json");
    assert_eq!(comment_event.issue.key, None);
    let comment = comment_event.comment.expect("comment");
    assert_eq!(comment.id, "10082");
    assert_eq!(comment.body, "unik");
    let author = comment.author.expect("author");
    assert_eq!(author.account_id, None);
    assert_eq!(author.name.as_deref(), Some("levbrouk"));
    assert_eq!(
        comment_event.actor.and_then(|a| a.name).as_deref(),
        Some("levbrouk")
    );
}

#[test]
fn cloud_comments() {
    let created = intake("webhook-cloud-comment-created.json");
    let comment = created.comment.expect("comment");
    assert_eq!(comment.id, "10019");
    assert_eq!(comment.body, "Added a comment");
    assert_eq!(comment.created_ms, Some(1_550_286_678_321));
    assert_eq!(created.issue.key.as_deref(), Some("TES-41"));

    let deleted = intake("webhook-cloud-comment-deleted.json");
    let comment = deleted.comment.expect("comment");
    assert_eq!(comment.body, "wd\n\ndwd");
    // The hidden address placeholder `"?"` is not an address.
    assert_eq!(comment.author.expect("author").email, None);
}

#[test]
fn deleted_issue_carries_the_issue_as_it_was() {
    let event = intake("webhook-issue-deleted.json");
    assert_eq!(event.issue.key.as_deref(), Some("IDT-19"));
    assert_eq!(event.changelog, None);
    assert!(event.issue.fields.contains_key("summary"));
}

#[test]
fn empty_changelog_is_kept_empty() {
    let event = intake("webhook-issue-assigned-empty-changelog.json");
    let cl = event.changelog.expect("changelog");
    assert!(cl.items.is_empty());
    assert_eq!(
        event.issue_event_type_name.as_deref(),
        Some("issue_assigned")
    );
}

#[test]
fn old_server_payload_without_webhook_event() {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("webhook-server-issue-updated-in-progress.json"))
            .expect("json");
    let obj = v.as_object_mut().expect("object");
    obj.remove("webhookEvent");
    let body = serde_json::to_vec(&v).expect("ser");
    let event = parse_event(&body, None).expect("parses");
    assert_eq!(event.kind, JiraEventKind::IssueUpdated);
    assert_eq!(event.webhook_event, None);

    obj_without_event("issue_created", JiraEventKind::IssueCreated);
    obj_without_event("issue_deleted", JiraEventKind::IssueDeleted);
}

fn obj_without_event(type_name: &str, kind: JiraEventKind) {
    let body = serde_json::json!({
        "timestamp": 1_565_751_753_680_i64,
        "issue_event_type_name": type_name,
        "issue": {"id": "1", "key": "A-1", "fields": {}},
    });
    let event = parse_event(body.to_string().as_bytes(), None).expect("parses");
    assert_eq!(event.kind, kind, "{type_name}");
    assert_eq!(event.issue.project_key.as_deref(), Some("A"));
}

#[test]
fn signature_errors_are_distinct() {
    let body = fixture("webhook-issue-created.json");
    let good = sign(SECRET, &body);
    assert_eq!(verify_signature(SECRET, &body, Some(&good)), Ok(()));
    assert_eq!(
        verify_signature(SECRET, &body, None),
        Err(WebhookError::MissingSignature)
    );
    assert_eq!(
        verify_signature(b"another secret", &body, Some(&good)),
        Err(WebhookError::BadSignature)
    );
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(
        verify_signature(SECRET, &tampered, Some(&good)),
        Err(WebhookError::BadSignature)
    );
    for bad in ["sha256", "sha1=abcd", "sha256=zz", "sha256=abcd"] {
        assert!(
            matches!(
                verify_signature(SECRET, &body, Some(bad)),
                Err(WebhookError::MalformedSignature(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn body_errors_are_distinct() {
    type Check = fn(&WebhookError) -> bool;
    let cases: [(&[u8], Check); 8] = [
        (b"{not json", |e| {
            matches!(e, WebhookError::MalformedJson(_))
        }),
        (b"", |e| matches!(e, WebhookError::MalformedJson(_))),
        (b"[1,2]", |e| matches!(e, WebhookError::NotJiraEvent(_))),
        (br#"{"hello":"world"}"#, |e| {
            matches!(e, WebhookError::NotJiraEvent(_))
        }),
        (
            br#"{"webhookEvent":"worklog_created","timestamp":1}"#,
            |e| matches!(e, WebhookError::UnsupportedEvent(n) if n == "worklog_created"),
        ),
        (
            br#"{"webhookEvent":"jira:issue_updated","timestamp":1}"#,
            |e| matches!(e, WebhookError::InvalidEvent(_)),
        ),
        (
            br#"{"webhookEvent":"jira:issue_updated","timestamp":1,"issue":{"id":true}}"#,
            |e| matches!(e, WebhookError::InvalidEvent(m) if m.contains("issue.id")),
        ),
        (
            br#"{"webhookEvent":"comment_created","timestamp":1,"issue":{"id":"1"}}"#,
            |e| matches!(e, WebhookError::InvalidEvent(m) if m.contains("comment")),
        ),
    ];
    for (body, check) in cases {
        let err = parse_event(body, None).expect_err("must fail");
        assert!(check(&err), "{}: {err}", String::from_utf8_lossy(body));
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn timestamps() {
    let table = [
        ("2019-08-07T22:36:47.428-0700", Some(1_565_242_607_428)),
        ("2019-06-04T00:15:17.234+0000", Some(1_559_607_317_234)),
        ("2019-08-14T11:02:33.678+0800", Some(1_565_751_753_678)),
        ("2019-06-04T00:15:17+0000", Some(1_559_607_317_000)),
        ("2019-06-04T00:15:17.234Z", Some(1_559_607_317_234)),
        ("2019-06-04T00:15:17.234+00:00", Some(1_559_607_317_234)),
        ("yesterday", None),
        ("", None),
    ];
    for (text, ms) in table {
        assert_eq!(parse_jira_timestamp(text), ms, "{text}");
    }
    assert_eq!(
        parse_jira_timestamp(&jira_adapter::webhook::format_jira_timestamp(
            1_565_242_607_428
        )),
        Some(1_565_242_607_428)
    );
}

#[test]
fn truncated_fixtures_never_panic() {
    let body = fixture("webhook-cloud-issue-created-many-fields.json");
    for cut in (0..body.len()).step_by(97) {
        let result = parse_event(&body[..cut], None);
        assert!(result.is_err(), "cut at {cut} parsed");
    }
}
