//! The HTTP client against the reference host (`handoff_adapter::server` over the in-memory
//! host) on 127.0.0.1: both sides of the contract of docs/handoff-api.md, over real HTTP.

use std::sync::Arc;

use handoff_adapter::{Host, HostError, HttpHost, InMemoryHost};
use sync_domain::Value;

use crate::{fields, schema};

const TOKEN: &str = "contract-token";

/// The reference host on a loopback port, and a client of it with `token`.
async fn serve(token: &str) -> (Arc<InMemoryHost>, HttpHost) {
    let memory = Arc::new(InMemoryHost::new().with_schema(schema()));
    let app = axum::Router::new().nest(
        "/api/v1",
        handoff_adapter::server::router(memory.clone(), schema(), TOKEN),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = HttpHost::new(&format!("http://{addr}/api/v1"), token, schema()).expect("client");
    (memory, client)
}

#[tokio::test]
async fn http_host_round_trips_through_the_reference_host() -> Result<(), HostError> {
    let (memory, host) = serve(TOKEN).await;
    // Creates are idempotent by marker.
    let item = host
        .create_item("P1", &fields([("title", Value::text("A"))]), "10001")
        .await?;
    let again = host
        .create_item("P1", &fields([("title", Value::text("A"))]), "10001")
        .await?;
    assert_eq!(item.id, again.id);
    assert_eq!(memory.items("P1").len(), 1);
    assert_eq!(
        host.find_by_marker("P1", "10001").await?.map(|i| i.id),
        Some(item.id.clone())
    );
    assert_eq!(host.find_by_marker("P1", "10002").await?, None);

    // A person edits on the host: a write on the old version is refused with the current one.
    memory.edit_as_person(&item.id, &fields([("title", Value::text("B"))]), "ana")?;
    let stale = host
        .update_fields(&item.id, &fields([("title", Value::text("C"))]), Some(1))
        .await;
    assert!(
        matches!(stale, Err(HostError::VersionConflict { current: Some(2) })),
        "{stale:?}"
    );
    let v = host
        .update_fields(
            &item.id,
            &fields([
                ("title", Value::text("C")),
                ("size", Value::number(3.0).expect("a number")),
            ]),
            Some(2),
        )
        .await?;
    assert_eq!(v, 3);
    let read = host.get_item(&item.id).await?.expect("the item");
    assert_eq!(read.field("title"), Value::text("C"));
    assert_eq!(read.field("size"), Value::number(3.0).expect("a number"));
    assert_eq!(host.get_item("no-such-item").await?, None);

    // The change feed, then nothing new from its cursor.
    let page = host.list_changed_since("P1", None, 10).await?;
    assert_eq!(page.items.len(), 1);
    let next = host
        .list_changed_since("P1", page.next_cursor.as_deref(), 10)
        .await?;
    assert!(next.items.is_empty());

    // Comments are idempotent by origin.
    let c = host
        .add_comment(
            &item.id,
            "Seen on **Safari**",
            "Bo (via Jira)",
            "jira-comment-1",
        )
        .await?;
    let c2 = host
        .add_comment(
            &item.id,
            "Seen on **Safari**",
            "Bo (via Jira)",
            "jira-comment-1",
        )
        .await?;
    assert_eq!(c.id, c2.id);
    let edited = host
        .edit_comment(&item.id, &c.id, "Seen on Safari 17")
        .await?;
    assert_eq!(edited.body, "Seen on Safari 17");
    let comments = host.list_comments(&item.id).await?;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].origin.as_deref(), Some("jira-comment-1"));
    Ok(())
}

#[tokio::test]
async fn the_reference_host_refuses_a_wrong_token_and_unknown_fields() {
    let (_memory, host) = serve("not-the-token").await;
    let e = host.get_item("x").await.expect_err("a wrong token fails");
    assert!(matches!(e, HostError::Auth { status: 401, .. }), "{e:?}");

    let (memory, host) = serve(TOKEN).await;
    let item = memory
        .create_as_person("P1", &fields([("title", Value::text("A"))]), "ana")
        .expect("item");
    // The client refuses to write a field outside its schema; a raw request with one is a
    // 400 that names it.
    let e = host
        .update_fields(&item.id, &fields([("nope", Value::text("x"))]), None)
        .await
        .expect_err("unknown field");
    assert!(e.to_string().contains("nope"), "{e}");
}
