use handoff_adapter::{Host, HostError, HostErrorClass, HttpHost};
use serde_json::json;
use sync_domain::Value;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{fields, schema};

fn item_json(version: u64) -> serde_json::Value {
    json!({
        "id": "WI-1",
        "projectId": "P1",
        "version": version,
        "updatedAtMs": 1_700_000_000_000_i64,
        "updatedBy": "u-ana",
        "marker": "10001",
        "fields": {
            "title": "Fix login",
            "description": "Steps:\n\n\n1. open",
            "size": 3,
            "status": "In Progress",
            "labels": ["ui", "auth"],
            "assignee": "u-ana",
            "due": "2024-12-30",
            "unmapped": {"anything": true}
        }
    })
}

async fn setup() -> Result<(MockServer, HttpHost), HostError> {
    let server = MockServer::start().await;
    let host = HttpHost::new(&format!("{}/api/v1", server.uri()), "tok", schema())?;
    Ok((server, host))
}

fn num(x: f64) -> Result<Value, HostError> {
    Value::number(x).map_err(|source| HostError::InvalidFieldValue {
        field: "size".into(),
        source,
    })
}

#[tokio::test]
async fn get_reads_canonical_values_with_bearer_auth() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("GET"))
        .and(path("/api/v1/workitems/WI-1"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(item_json(7)))
        .expect(1)
        .mount(&server)
        .await;
    let item = host
        .get_item("WI-1")
        .await?
        .ok_or(HostError::InvalidResponse {
            reason: "no item".into(),
        })?;
    assert_eq!((item.version, item.marker.as_deref()), (7, Some("10001")));
    assert_eq!(item.updated_by.as_deref(), Some("u-ana"));
    assert_eq!(
        item.field("description"),
        Value::rich_text("Steps:\n\n1. open")
    );
    assert_eq!(item.field("size"), num(3.0)?);
    assert_eq!(item.field("labels"), Value::option_set(["auth", "ui"]));
    assert_eq!(
        item.field("due"),
        Value::date("2024-12-30").unwrap_or(Value::Null)
    );
    assert!(!item.fields.contains_key("unmapped"));
    Ok(())
}

#[tokio::test]
async fn get_of_a_missing_item_is_none_and_ids_are_escaped() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("GET"))
        .and(path("/api/v1/workitems/a%2Fb"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": "not_found", "message": "no such item"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(host.get_item("a/b").await?, None);
    Ok(())
}

#[tokio::test]
async fn a_type_mismatch_from_the_host_names_the_field() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    let mut body = item_json(1);
    body["fields"]["size"] = json!("three");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let got = host.get_item("WI-1").await;
    assert!(
        matches!(got, Err(HostError::FieldTypeMismatch { ref field, .. }) if field == "size"),
        "{got:?}"
    );
    Ok(())
}

#[tokio::test]
async fn patch_sends_if_match_and_returns_the_new_version() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/workitems/WI-1"))
        .and(header("if-match", "\"7\""))
        .and(body_json(
            json!({"fields": {"size": 2.5, "labels": ["a", "b"], "assignee": null}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(item_json(8)))
        .expect(1)
        .mount(&server)
        .await;
    let v = host
        .update_fields(
            "WI-1",
            &fields([
                ("size", num(2.5)?),
                ("labels", Value::option_set(["b", "a"])),
                ("assignee", Value::Null),
            ]),
            Some(7),
        )
        .await?;
    assert_eq!(v, 8);
    Ok(())
}

#[tokio::test]
async fn patch_without_a_version_sends_no_if_match() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/workitems/WI-1"))
        .respond_with(move |req: &wiremock::Request| {
            if req.headers.contains_key("if-match") {
                ResponseTemplate::new(400).set_body_string("unexpected If-Match")
            } else {
                ResponseTemplate::new(204).insert_header("ETag", "\"9\"")
            }
        })
        .expect(1)
        .mount(&server)
        .await;
    let v = host
        .update_fields("WI-1", &fields([("title", Value::text("x"))]), None)
        .await?;
    assert_eq!(v, 9);
    Ok(())
}

#[tokio::test]
async fn a_412_is_a_version_conflict_with_the_current_version() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(412).set_body_json(
            json!({"error": "version_conflict", "message": "stale", "currentVersion": 9}),
        ))
        .mount(&server)
        .await;
    let got = host
        .update_fields("WI-1", &fields([("title", Value::text("x"))]), Some(7))
        .await;
    assert!(
        matches!(got, Err(HostError::VersionConflict { current: Some(9) })),
        "{got:?}"
    );
    assert_eq!(
        got.map_err(|e| e.class()),
        Err(HostErrorClass::VersionConflict)
    );
    Ok(())
}

#[tokio::test]
async fn writing_an_unknown_field_fails_before_any_request() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let got = host
        .update_fields("WI-1", &fields([("colour", Value::text("red"))]), Some(1))
        .await;
    assert!(
        matches!(got, Err(HostError::UnknownField { ref field }) if field == "colour"),
        "{got:?}"
    );
    Ok(())
}

#[tokio::test]
async fn post_creates_with_the_marker() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("POST"))
        .and(path("/api/v1/workitems"))
        .and(body_json(
            json!({"projectId": "P1", "marker": "10001", "fields": {"title": "Fix login"}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(item_json(1)))
        .expect(1)
        .mount(&server)
        .await;
    let item = host
        .create_item(
            "P1",
            &fields([("title", Value::text("Fix login"))]),
            "10001",
        )
        .await?;
    assert_eq!((item.id.as_str(), item.version), ("WI-1", 1));
    Ok(())
}

#[tokio::test]
async fn find_by_marker_filters_the_list() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("GET"))
        .and(path("/api/v1/workitems"))
        .and(query_param("project", "P1"))
        .and(query_param("marker", "10001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [item_json(3)]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/workitems"))
        .and(query_param("marker", "10002"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&server)
        .await;
    assert_eq!(
        host.find_by_marker("P1", "10001").await?.map(|i| i.version),
        Some(3)
    );
    assert_eq!(host.find_by_marker("P1", "10002").await?, None);
    Ok(())
}

#[tokio::test]
async fn the_change_feed_pages_with_the_cursor() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    Mock::given(method("GET"))
        .and(path("/api/v1/workitems"))
        .and(query_param("project", "P1"))
        .and(query_param("limit", "50"))
        .and(query_param_is_missing("changedSince"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"items": [item_json(2)], "nextCursor": "c-1", "hasMore": true}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/workitems"))
        .and(query_param("changedSince", "c-1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [], "hasMore": false})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let first = host.list_changed_since("P1", None, 50).await?;
    assert_eq!(
        (
            first.items.len(),
            first.next_cursor.as_deref(),
            first.has_more
        ),
        (1, Some("c-1"), true)
    );
    let second = host.list_changed_since("P1", Some("c-1"), 50).await?;
    assert_eq!(
        (
            second.items.len(),
            second.next_cursor.as_deref(),
            second.has_more
        ),
        (0, Some("c-1"), false)
    );
    Ok(())
}

#[tokio::test]
async fn comments_are_listed_added_and_edited() -> Result<(), HostError> {
    let (server, host) = setup().await?;
    let comment = |body: &str| {
        json!({"id": "C-1", "itemId": "WI-1", "author": "Bo (via Jira)", "body": body,
               "createdAtMs": 10, "updatedAtMs": 20, "origin": "jira-7"})
    };
    Mock::given(method("GET"))
        .and(path("/api/v1/workitems/WI-1/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"comments": [comment("hi"), {"id": "C-2", "author": "ana", "body": "yo"}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/workitems/WI-1/comments"))
        .and(body_json(
            json!({"body": "hi", "authorLine": "Bo (via Jira)", "origin": "jira-7"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment("hi")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/workitems/WI-1/comments/C-1"))
        .and(body_json(json!({"body": "hello"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(comment("hello")))
        .expect(1)
        .mount(&server)
        .await;
    let list = host.list_comments("WI-1").await?;
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[1].item_id.as_str(), list[1].origin.clone()),
        ("WI-1", None)
    );
    let added = host
        .add_comment("WI-1", "hi", "Bo (via Jira)", "jira-7")
        .await?;
    assert_eq!(
        (
            added.id.as_str(),
            added.origin.as_deref(),
            added.created_at_ms
        ),
        ("C-1", Some("jira-7"), 10)
    );
    let edited = host.edit_comment("WI-1", "C-1", "hello").await?;
    assert_eq!(edited.body, "hello");
    Ok(())
}

#[tokio::test]
async fn error_statuses_are_classified_and_keep_the_message() -> Result<(), HostError> {
    let retry = |ms| HostErrorClass::Retryable { retry_after_ms: ms };
    let cases = [
        (
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "3")
                .set_body_json(json!({"message": "slow down"})),
            retry(Some(3000)),
            "slow down",
        ),
        (
            ResponseTemplate::new(503).insert_header("Retry-After", "1"),
            retry(Some(1000)),
            "Service Unavailable",
        ),
        (
            ResponseTemplate::new(500).set_body_string("boom"),
            retry(None),
            "boom",
        ),
        (
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "unauthorized", "message": "token expired"})),
            HostErrorClass::Auth,
            "token expired",
        ),
        (
            ResponseTemplate::new(403),
            HostErrorClass::Auth,
            "Forbidden",
        ),
        (
            ResponseTemplate::new(404).set_body_json(json!({"message": "gone"})),
            HostErrorClass::NotFound,
            "gone",
        ),
        (
            ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_field", "message": "status 'Nope' is not allowed"}),
            ),
            HostErrorClass::Permanent,
            "status 'Nope' is not allowed",
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>"),
            HostErrorClass::Permanent,
            "invalid response",
        ),
    ];
    for (response, class, message) in cases {
        let (server, host) = setup().await?;
        Mock::given(method("PATCH"))
            .respond_with(response)
            .mount(&server)
            .await;
        let got = host
            .update_fields("WI-1", &fields([("title", Value::text("x"))]), Some(1))
            .await;
        let Err(e) = got else {
            return Err(HostError::InvalidResponse {
                reason: format!("expected {class:?}, got {got:?}"),
            });
        };
        assert_eq!(e.class(), class, "{e}");
        assert!(
            e.to_string().contains(message),
            "{e} should contain {message:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_unreachable_host_is_retryable() -> Result<(), HostError> {
    // A port that was just free: nothing listens there, so the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| HostError::InvalidConfig(e.to_string()))?;
    let host = HttpHost::new(&format!("http://127.0.0.1:{port}/api"), "tok", schema())?;
    let got = host.get_item("WI-1").await;
    assert_eq!(
        got.map_err(|e| e.class()),
        Err(HostErrorClass::Retryable {
            retry_after_ms: None
        })
    );
    Ok(())
}

#[test]
fn a_bad_base_url_is_a_configuration_error() {
    for url in ["not a url", "ftp://x/", "mailto:a@b"] {
        let got = HttpHost::new(url, "t", schema());
        assert!(matches!(got, Err(HostError::InvalidConfig(_))), "{url}");
    }
}
