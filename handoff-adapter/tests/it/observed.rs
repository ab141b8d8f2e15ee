use std::sync::{Arc, Mutex};

use handoff_adapter::{
    Fault, Host, HostCall, HostErrorClass, HostObserver, HostWrite, InMemoryHost, ObservedHost,
};
use sync_domain::Value;

use crate::fields;

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl HostObserver for Log {
    fn before(&self, w: &HostWrite<'_>) {
        self.0.lock().unwrap().push(format!("before {w:?}"));
    }
    fn after(&self, w: &HostWrite<'_>, ok: bool) {
        let what = match w {
            HostWrite::UpdateFields { item_id, .. } => format!("update {item_id}"),
            HostWrite::CreateItem { marker, .. } => format!("create {marker}"),
            HostWrite::AddComment { item_id } => format!("comment {item_id}"),
            HostWrite::EditComment { comment_id, .. } => format!("edit {comment_id}"),
        };
        self.0.lock().unwrap().push(format!("after {what} ok={ok}"));
    }
}

#[tokio::test]
async fn every_write_is_told_before_and_after_and_reads_are_not() {
    let inner = Arc::new(InMemoryHost::new());
    let log = Arc::new(Log::default());
    let host = ObservedHost::new(inner.clone(), log.clone());
    let item = host
        .create_item("P1", &fields([("title", Value::text("A"))]), "m-1")
        .await
        .unwrap();
    host.get_item(&item.id).await.unwrap();
    host.update_fields(&item.id, &fields([("title", Value::text("B"))]), Some(1))
        .await
        .unwrap();
    let c = host
        .add_comment(&item.id, "hi", "by ana", "o-1")
        .await
        .unwrap();
    host.edit_comment(&item.id, &c.id, "hi!").await.unwrap();
    // A write that fails is told as failed.
    inner.set_fault_hook(Box::new(|call, _| {
        (call == HostCall::UpdateFields).then_some(Fault::Fail(HostErrorClass::Permanent))
    }));
    let failed = host
        .update_fields(&item.id, &fields([("title", Value::text("C"))]), None)
        .await;
    assert!(failed.is_err());
    let log = log.0.lock().unwrap().clone();
    let afters: Vec<&String> = log.iter().filter(|l| l.starts_with("after")).collect();
    assert_eq!(
        afters,
        [
            "after create m-1 ok=true",
            &format!("after update {} ok=true", item.id),
            &format!("after comment {} ok=true", item.id),
            &format!("after edit {} ok=true", c.id),
            &format!("after update {} ok=false", item.id),
        ]
    );
    // Each write was told before it was made, and the read was not told at all.
    assert_eq!(log.len(), 10);
    assert!(log[0].starts_with("before CreateItem"));
    assert_eq!(
        inner
            .get_item(&item.id)
            .await
            .unwrap()
            .unwrap()
            .field("title"),
        Value::text("B")
    );
}
