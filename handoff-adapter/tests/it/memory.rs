use std::collections::BTreeSet;
use std::sync::Arc;

use handoff_adapter::{
    Fault, Host, HostCall, HostError, HostErrorClass, InMemoryHost, NotificationKind,
};
use sync_domain::clock::ManualClock;
use sync_domain::Value;

use crate::{fields, schema};

fn host_at(clock: &ManualClock) -> InMemoryHost {
    InMemoryHost::new()
        .with_schema(schema())
        .with_clock(Arc::new(clock.clone()))
}

#[tokio::test]
async fn versions_grow_and_stale_writes_conflict() -> Result<(), HostError> {
    let clock = ManualClock::new(1_000);
    let host = host_at(&clock);
    let item = host
        .create_item("P1", &fields([("title", Value::text("A"))]), "10001")
        .await?;
    assert_eq!((item.version, item.updated_at_ms), (1, 1_000));
    assert_eq!(item.updated_by.as_deref(), Some("jira-sync"));

    clock.set(2_000);
    let v = host.edit_as_person(&item.id, &fields([("title", Value::text("B"))]), "ana")?;
    assert_eq!(v, 2);

    // The engine still believes version 1: its write must not overwrite Ana's edit.
    let stale = host
        .update_fields(&item.id, &fields([("title", Value::text("C"))]), Some(1))
        .await;
    assert!(matches!(
        stale,
        Err(HostError::VersionConflict { current: Some(2) })
    ));
    let now = host.get_item(&item.id).await?;
    assert_eq!(
        now.as_ref().map(|i| i.field("title")),
        Some(Value::text("B"))
    );
    assert_eq!(
        now.as_ref().and_then(|i| i.updated_by.clone()).as_deref(),
        Some("ana")
    );
    assert_eq!(now.map(|i| i.updated_at_ms), Some(2_000));

    // With the right version it lands; Null clears; a write that changes nothing keeps the
    // version, and with a stale expected version it is refused like any other write (its
    // answer would name a version whose edits the engine has not read).
    let v = host
        .update_fields(
            &item.id,
            &fields([
                ("title", Value::text("C")),
                (
                    "size",
                    Value::number(3.0).map_err(|source| HostError::InvalidFieldValue {
                        field: "size".into(),
                        source,
                    })?,
                ),
            ]),
            Some(2),
        )
        .await?;
    assert_eq!(v, 3);
    let v = host
        .update_fields(&item.id, &fields([("title", Value::text("C  "))]), Some(3))
        .await?;
    assert_eq!(v, 3);
    assert!(matches!(
        host.update_fields(&item.id, &fields([("title", Value::text("C"))]), Some(1))
            .await,
        Err(HostError::VersionConflict { current: Some(3) })
    ));
    let v = host
        .update_fields(&item.id, &fields([("size", Value::Null)]), Some(3))
        .await?;
    assert_eq!(v, 4);
    let got = host.get_item(&item.id).await?;
    assert_eq!(
        got.map(|i| i.fields),
        Some(fields([("title", Value::text("C"))]))
    );
    Ok(())
}

#[tokio::test]
async fn schema_and_missing_items_are_enforced() -> Result<(), HostError> {
    let host = InMemoryHost::new().with_schema(schema());
    let unknown = host
        .create_item("P1", &fields([("colour", Value::text("red"))]), "1")
        .await;
    assert!(matches!(unknown, Err(HostError::UnknownField { field }) if field == "colour"));
    let wrong = host
        .create_item("P1", &fields([("labels", Value::text("red"))]), "1")
        .await;
    assert!(matches!(wrong, Err(HostError::FieldTypeMismatch { field, .. }) if field == "labels"));
    let missing = host.update_fields("WI-404", &fields([]), None).await;
    assert_eq!(
        missing.map_err(|e| e.class()),
        Err(HostErrorClass::NotFound)
    );
    assert_eq!(host.get_item("WI-404").await?, None);
    let no_marker = host.create_item("P1", &fields([]), " ").await;
    assert_eq!(
        no_marker.map_err(|e| e.class()).map(|i| i.id),
        Err(HostErrorClass::Permanent)
    );
    Ok(())
}

#[tokio::test]
async fn create_is_idempotent_by_marker_per_project() -> Result<(), HostError> {
    let host = InMemoryHost::new();
    let a = host
        .create_item("P1", &fields([("title", Value::text("A"))]), "10001")
        .await?;
    let again = host
        .create_item("P1", &fields([("title", Value::text("other"))]), "10001")
        .await?;
    assert_eq!(again, a);
    assert_eq!(host.items("P1").len(), 1);
    assert_eq!(host.find_by_marker("P1", "10001").await?, Some(a.clone()));
    assert_eq!(host.find_by_marker("P1", "10002").await?, None);
    let other_project = host.create_item("P2", &fields([]), "10001").await?;
    assert_ne!(other_project.id, a.id);
    Ok(())
}

#[tokio::test]
async fn a_lost_create_response_does_not_duplicate_on_retry() -> Result<(), HostError> {
    let host = InMemoryHost::new();
    host.apply_then_fail_next_writes(
        1,
        HostErrorClass::Retryable {
            retry_after_ms: None,
        },
    );
    let first = host.create_item("P1", &fields([]), "10001").await;
    assert!(first.as_ref().is_err_and(HostError::is_retryable));
    let retried = host.create_item("P1", &fields([]), "10001").await?;
    assert_eq!(host.items("P1"), vec![retried]);
    assert_eq!(host.write_count(), 2);
    Ok(())
}

#[tokio::test]
async fn injected_failures_change_nothing_and_are_deterministic() -> Result<(), HostError> {
    let host = InMemoryHost::new();
    let item = host.create_item("P1", &fields([]), "1").await?;
    host.fail_next_writes(
        2,
        HostErrorClass::Retryable {
            retry_after_ms: Some(500),
        },
    );
    for _ in 0..2 {
        let r = host
            .update_fields(&item.id, &fields([("title", Value::text("x"))]), Some(1))
            .await;
        assert_eq!(
            r.map_err(|e| e.class()),
            Err(HostErrorClass::Retryable {
                retry_after_ms: Some(500)
            })
        );
    }
    assert_eq!(host.get_item(&item.id).await?.map(|i| i.version), Some(1));
    let v = host
        .update_fields(&item.id, &fields([("title", Value::text("x"))]), Some(1))
        .await?;
    assert_eq!(v, 2);

    // A hook sees every call with its target; here it refuses comment reads on one item.
    let target = item.id.clone();
    host.set_fault_hook(Box::new(move |call, id| {
        (call == HostCall::ListComments && id == target)
            .then_some(Fault::Fail(HostErrorClass::Auth))
    }));
    let denied = host.list_comments(&item.id).await;
    assert_eq!(denied.map_err(|e| e.class()), Err(HostErrorClass::Auth));
    host.clear_faults();
    assert_eq!(host.list_comments(&item.id).await?, vec![]);
    assert_eq!(host.write_count(), 4);
    assert_eq!(host.call_count(), 7);
    Ok(())
}

#[tokio::test]
async fn comments_are_idempotent_by_origin_and_editable() -> Result<(), HostError> {
    let host = InMemoryHost::new();
    let item = host.create_item("P1", &fields([]), "1").await?;
    let c = host
        .add_comment(&item.id, "Looks good", "Bo (via Jira)", "jira-comment-7")
        .await?;
    let again = host
        .add_comment(&item.id, "Looks good", "Bo (via Jira)", "jira-comment-7")
        .await?;
    assert_eq!(again, c);
    assert_eq!(
        (c.author.as_str(), c.origin.as_deref()),
        ("Bo (via Jira)", Some("jira-comment-7"))
    );
    let mine = host.add_comment_as_person(&item.id, "Hi", "ana")?;
    assert_eq!(mine.origin, None);
    let edited = host.edit_comment(&item.id, &c.id, "Looks great").await?;
    assert_eq!(edited.body, "Looks great");
    let all = host.list_comments(&item.id).await?;
    assert_eq!(
        all.iter().map(|c| c.body.as_str()).collect::<Vec<_>>(),
        ["Looks great", "Hi"]
    );
    let missing = host.edit_comment(&item.id, "C-404", "x").await;
    assert_eq!(
        missing.map_err(|e| e.class()).map(|c| c.id),
        Err(HostErrorClass::NotFound)
    );
    // Comments never change the item's version: a field write with it still lands.
    assert_eq!(host.get_item(&item.id).await?.map(|i| i.version), Some(1));
    Ok(())
}

#[tokio::test]
async fn the_change_cursor_never_skips_interleaved_edits() -> Result<(), HostError> {
    let host = InMemoryHost::new();
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(
            host.create_item("P1", &fields([]), &n.to_string())
                .await?
                .id,
        );
    }
    host.create_item("P2", &fields([]), "other").await?;

    // Read the feed two at a time while people keep editing items already read and not
    // yet read; every edit must show up, at its latest version, before the feed is dry.
    let mut cursor: Option<String> = None;
    let mut last_seen = std::collections::BTreeMap::new();
    let mut edits = Vec::new();
    for round in 0..40 {
        let page = host.list_changed_since("P1", cursor.as_deref(), 2).await?;
        for item in &page.items {
            assert_eq!(item.project_id, "P1");
            last_seen.insert(item.id.clone(), item.version);
        }
        cursor = page.next_cursor.clone();
        if round < 12 {
            let id = &ids[(round * 7) % ids.len()];
            let v = host.edit_as_person(
                id,
                &fields([("title", Value::text(&format!("r{round}")))]),
                "ana",
            )?;
            edits.push((id.clone(), v));
        } else if !page.has_more && page.items.is_empty() {
            break;
        }
    }
    for (id, v) in edits {
        assert!(
            last_seen.get(&id).is_some_and(|seen| *seen >= v),
            "{id} v{v} was skipped"
        );
    }
    assert_eq!(
        last_seen.keys().cloned().collect::<BTreeSet<_>>(),
        ids.iter().cloned().collect()
    );

    // A dry feed keeps the cursor; a comment moves its item to the end of the feed.
    let dry = host.list_changed_since("P1", cursor.as_deref(), 5).await?;
    assert_eq!(
        (dry.items.len(), dry.next_cursor.clone()),
        (0, cursor.clone())
    );
    host.add_comment_as_person(&ids[3], "note", "ana")?;
    let page = host.list_changed_since("P1", cursor.as_deref(), 5).await?;
    assert_eq!(
        page.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        [ids[3].clone()]
    );
    let bad = host.list_changed_since("P1", Some("not-a-cursor"), 5).await;
    assert!(matches!(bad, Err(HostError::InvalidCursor(_))));
    Ok(())
}

#[tokio::test]
async fn every_change_is_notified_in_order() -> Result<(), HostError> {
    let host = InMemoryHost::new().with_clock(Arc::new(ManualClock::new(42)));
    let mut rx = host.subscribe();
    let item = host.create_item("P1", &fields([]), "1").await?;
    host.edit_as_person(&item.id, &fields([("title", Value::text("T"))]), "ana")?;
    host.update_fields(&item.id, &fields([("title", Value::text("T"))]), Some(2))
        .await?;
    let c = host.add_comment_as_person(&item.id, "hi", "ana")?;
    host.edit_comment_as_person(&item.id, &c.id, "hello", "ana")?;
    host.delete_item(&item.id, "bo")?;
    let mut got = Vec::new();
    let mut deliveries = Vec::new();
    while let Ok(n) = rx.try_recv() {
        deliveries.push(n.delivery_id.clone().unwrap_or_default());
        assert_eq!(
            (n.item_id.as_str(), n.project_id.as_str(), n.at_ms),
            (item.id.as_str(), "P1", 42)
        );
        got.push((n.kind, n.version, n.actor, n.comment_id));
    }
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        got,
        vec![
            (NotificationKind::ItemCreated, 1, some("jira-sync"), None),
            (NotificationKind::ItemUpdated, 2, some("ana"), None),
            (
                NotificationKind::CommentCreated,
                2,
                some("ana"),
                Some(c.id.clone())
            ),
            (
                NotificationKind::CommentUpdated,
                2,
                some("ana"),
                Some(c.id.clone())
            ),
            (NotificationKind::ItemDeleted, 2, some("bo"), None),
        ]
    );
    assert_eq!(host.get_item(&item.id).await?, None);
    assert_eq!(
        host.list_comments(&item.id).await.map_err(|e| e.class()),
        Err(HostErrorClass::NotFound)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_writes_have_one_winner() -> Result<(), HostError> {
    let host = Arc::new(InMemoryHost::new());
    let item = host.create_item("P1", &fields([]), "1").await?;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let host = Arc::clone(&host);
        let id = item.id.clone();
        tasks.push(tokio::spawn(async move {
            host.update_fields(
                &id,
                &fields([("title", Value::text(&format!("w{n}")))]),
                Some(1),
            )
            .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(v)) => {
                assert_eq!(v, 2);
                won += 1;
            }
            Ok(Err(e)) => assert_eq!(e.class(), HostErrorClass::VersionConflict),
            Err(join) => return Err(HostError::InvalidConfig(join.to_string())),
        }
    }
    assert_eq!(won, 1);
    // Through the shared handle (the `Arc` impl of `Host`), the one winner's value is there.
    let shared: Arc<dyn Host> = host.clone();
    assert_eq!(shared.get_item(&item.id).await?.map(|i| i.version), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_lost_comment_response_does_not_duplicate_on_retry() -> Result<(), HostError> {
    let host = InMemoryHost::new();
    let item = host.create_item("P1", &fields([]), "1").await?;
    host.apply_then_fail_next_writes(
        1,
        HostErrorClass::Retryable {
            retry_after_ms: None,
        },
    );
    let lost = host
        .add_comment(&item.id, "hi", "Bo (via Jira)", "jira-7")
        .await;
    assert!(lost.as_ref().is_err_and(HostError::is_retryable));
    let retried = host
        .add_comment(&item.id, "hi", "Bo (via Jira)", "jira-7")
        .await?;
    assert_eq!(host.list_comments(&item.id).await?, vec![retried]);
    Ok(())
}
