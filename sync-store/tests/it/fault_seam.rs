//! The store's test seam for connection failures (`Store::faults`): what simulations use for
//! database outages and to stop a "crashed" process from writing.

use sync_store::{InboxInsert, Source, Store, StoreError};

#[tokio::test]
async fn injected_failures_fail_statements_without_touching_the_database() {
    let store = Store::open("memory://").await.expect("open");
    store.faults().fail_next(2);
    for _ in 0..2 {
        let e = store
            .inbox_insert("d-1", Source::Jira, "{}", 1)
            .await
            .expect_err("injected");
        assert!(matches!(e, StoreError::Database(_)), "{e}");
    }
    assert_eq!(store.faults().injected(), 2);
    // The failed inserts did nothing: the first real one is new.
    assert_eq!(
        store
            .inbox_insert("d-1", Source::Jira, "{}", 1)
            .await
            .expect("insert"),
        InboxInsert::Inserted
    );
    // Down: everything fails until it is up again; handles made by `with_config` share it.
    let other = store.with_config(store.config().clone());
    store.faults().set_down(true);
    assert!(other.inbox_get("d-1").await.is_err());
    assert!(store.inbox_unprocessed(10).await.is_err());
    store.faults().set_down(false);
    assert!(other.inbox_get("d-1").await.expect("get").is_some());
    assert_eq!(store.faults().injected(), 4);
}
