//! The test harness: opens a fresh store on each backend and drives links through the domain.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sync_domain::link::{
    DispatchOutcome, ErrorClass, HandoffObservation, IntentAction, JiraObservation, JiraRef,
    JiraVersion, LinkCommand, LinkEvent, Millis, Resolution,
};
use sync_domain::mapping::{FieldMapping, ProjectMapping};
use sync_domain::{Value, ValueKind};
use sync_store::{EventMetadata, Source, Store, StoreConfig};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SQLite in memory.
    Memory,
    /// A SQLite file.
    Sqlite,
    /// The real PostgreSQL named by `TEST_DATABASE_URL` or `DATABASE_URL`.
    Postgres,
}

/// A store under test and what keeps its database alive.
pub struct Harness {
    pub store: Store,
    /// How to reach the same database directly (SQLite file or PostgreSQL), for fault injection.
    pub raw_url: Option<String>,
    pub schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The PostgreSQL URL, if any. Under `CI=true` a missing URL fails the test: the PostgreSQL
/// half of the suite must run on every CI run.
pub fn pg_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but neither TEST_DATABASE_URL nor DATABASE_URL is set: run the tests through scripts/pg.sh run");
    }
    url
}

/// Opens a fresh store; `None` (with a note) when PostgreSQL is asked for and not configured
/// outside CI.
pub async fn open(kind: Kind, test: &str, config: StoreConfig) -> Option<Harness> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    match kind {
        Kind::Memory => Some(Harness {
            store: Store::open_with("memory://", config)
                .await
                .expect("open memory"),
            raw_url: None,
            schema: None,
            _dir: None,
        }),
        Kind::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("store.db").display());
            Some(Harness {
                store: Store::open_with(&url, config).await.expect("open sqlite"),
                raw_url: Some(url),
                schema: None,
                _dir: Some(dir),
            })
        }
        Kind::Postgres => {
            let Some(url) = pg_url() else {
                #[expect(clippy::print_stderr, reason = "say why a test did not run")]
                {
                    eprintln!(
                        "{test}: skipped on PostgreSQL: set DATABASE_URL (scripts/pg.sh start)"
                    );
                }
                return None;
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let schema = format!("t_{test}_{}_{n}_{nanos}", std::process::id());
            let config = StoreConfig {
                pg_schema: Some(schema.clone()),
                ..config
            };
            Some(Harness {
                store: Store::open_with(&url, config).await.expect("open postgres"),
                raw_url: Some(url),
                schema: Some(schema),
                _dir: None,
            })
        }
    }
}

/// Generates one test per backend for an `async fn(Kind)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn memory() {
                    super::$name(common::Kind::Memory).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(common::Kind::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name(common::Kind::Postgres).await;
                }
            }
        )*
    };
}

pub fn mapping() -> ProjectMapping {
    ProjectMapping::new(vec![
        FieldMapping::new("title", "summary", ValueKind::Text),
        FieldMapping::new("notes", "environment", ValueKind::Text),
    ])
}

pub fn meta(source: Source) -> EventMetadata {
    EventMetadata::new(source)
        .actor("tester")
        .correlation("corr-1")
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::text(v)))
        .collect()
}

/// Creates a link from a Handoff item (the engine will create its Jira issue).
pub async fn create(store: &Store, link: &str, at: Millis) -> Vec<LinkEvent> {
    store
        .execute(
            link,
            LinkCommand::CreateFromHandoff {
                cmd_id: format!("{link}-create"),
                project_id: "P".into(),
                work_item_id: format!("wi-{link}"),
                item: HandoffObservation {
                    version: 1,
                    changed_at: at,
                    values: values(&[("title", "first"), ("notes", "n")]),
                    actor: Some("ana".into()),
                },
                mapping: mapping(),
                at,
            },
            &meta(Source::Handoff),
            at,
        )
        .await
        .expect("create")
}

/// The id of the link's first open intent of a kind.
pub async fn intent_of(store: &Store, link: &str, kind: &str) -> String {
    let loaded = store.load(link).await.expect("load");
    loaded
        .state
        .intents
        .values()
        .find(|o| o.intent.action.kind() == kind)
        .map(|o| o.intent.id.clone())
        .unwrap_or_else(|| panic!("no open {kind} intent on {link}"))
}

/// Reports the Jira issue of a link created.
pub async fn issue_created(store: &Store, link: &str, at: Millis) {
    let intent_id = intent_of(store, link, "create_jira_issue").await;
    store
        .execute(
            link,
            LinkCommand::DispatchSucceeded {
                cmd_id: format!("{link}-created"),
                intent_id,
                outcome: DispatchOutcome::JiraIssueCreated {
                    issue: JiraRef {
                        id: issue_id(link),
                        key: format!("P-{link}"),
                    },
                    version: Some(JiraVersion {
                        updated_ms: at,
                        changelog_id: 0,
                    }),
                },
                at,
            },
            &meta(Source::System),
            at,
        )
        .await
        .expect("issue created");
}

/// The Jira issue id `issue_created` gives a link.
pub fn issue_id(link: &str) -> String {
    format!("ISSUE-{link}")
}

/// Handoff reports a new title.
pub fn handoff_edit(cmd: &str, version: u64, title: &str, at: Millis) -> LinkCommand {
    LinkCommand::ObserveHandoff {
        cmd_id: cmd.into(),
        observed: HandoffObservation {
            version,
            changed_at: at,
            values: values(&[("title", title)]),
            actor: Some("ana".into()),
        },
        delivery_id: Some(format!("d-{cmd}")),
        at,
    }
}

/// Jira reports a new summary.
pub fn jira_edit(cmd: &str, updated_ms: Millis, summary: &str, at: Millis) -> LinkCommand {
    LinkCommand::ObserveJira {
        cmd_id: cmd.into(),
        observed: JiraObservation {
            version: JiraVersion {
                updated_ms,
                changelog_id: 0,
            },
            key: None,
            values: values(&[("summary", summary)]),
            changes: Vec::new(),
            changelog_from: None,
            actor: Some("bo".into()),
        },
        delivery_id: Some(format!("d-{cmd}")),
        at,
    }
}

/// A failed dispatch of an intent.
pub fn failed(
    cmd: &str,
    intent_id: &str,
    class: ErrorClass,
    attempt: u32,
    at: Millis,
) -> LinkCommand {
    LinkCommand::DispatchFailed {
        cmd_id: cmd.into(),
        intent_id: intent_id.into(),
        class,
        message: "boom".into(),
        attempt,
        jitter_ms: 7,
        at,
    }
}

/// Drives several links into every status: synced, pending, conflict, error, unlinked.
pub async fn scenario(store: &Store, prefix: &str) {
    let m = meta(Source::Jira);
    let mut at = 1_000;
    for i in 0..6 {
        let link = format!("{prefix}{i}");
        create(store, &link, at).await;
        at += 10;
        if i == 0 {
            continue; // stays pending_push with its create intent
        }
        issue_created(store, &link, at).await;
        at += 10;
        match i {
            1 => {} // synced
            2 => {
                // a Handoff edit: pending_push with an update intent
                store
                    .execute(
                        &link,
                        handoff_edit(&format!("{link}-h"), 2, "second", at),
                        &m,
                        at,
                    )
                    .await
                    .expect("edit");
            }
            3 => {
                // both sides edit: a conflict, then one more edit updates it
                store
                    .execute(
                        &link,
                        handoff_edit(&format!("{link}-h"), 2, "mine", at),
                        &m,
                        at,
                    )
                    .await
                    .expect("edit h");
                store
                    .execute(
                        &link,
                        jira_edit(&format!("{link}-j"), at + 5, "theirs", at + 5),
                        &m,
                        at + 5,
                    )
                    .await
                    .expect("edit j");
            }
            4 => {
                // an update that fails for good: error
                store
                    .execute(
                        &link,
                        handoff_edit(&format!("{link}-h"), 2, "x", at),
                        &m,
                        at,
                    )
                    .await
                    .expect("edit");
                let intent = intent_of(store, &link, "update_jira_fields").await;
                store
                    .execute(
                        &link,
                        failed(
                            &format!("{link}-f1"),
                            &intent,
                            ErrorClass::Retryable {
                                retry_after_ms: None,
                            },
                            1,
                            at + 1,
                        ),
                        &m,
                        at + 1,
                    )
                    .await
                    .expect("retry");
                store
                    .execute(
                        &link,
                        failed(
                            &format!("{link}-f2"),
                            &intent,
                            ErrorClass::Permanent,
                            2,
                            at + 2,
                        ),
                        &m,
                        at + 2,
                    )
                    .await
                    .expect("give up");
            }
            _ => {
                store
                    .execute(
                        &link,
                        LinkCommand::Unlink {
                            cmd_id: format!("{link}-u"),
                            actor: "ana".into(),
                            at,
                        },
                        &meta(Source::User),
                        at,
                    )
                    .await
                    .expect("unlink");
            }
        }
        at += 10;
    }
}

/// Resolves every open conflict of a link with Handoff's value.
pub async fn resolve_all(store: &Store, link: &str, at: Millis) {
    let ids: Vec<String> = store
        .load(link)
        .await
        .expect("load")
        .state
        .conflicts
        .keys()
        .cloned()
        .collect();
    for (n, id) in ids.into_iter().enumerate() {
        store
            .execute(
                link,
                LinkCommand::ResolveConflict {
                    cmd_id: format!("{link}-r{n}"),
                    conflict_id: id,
                    resolution: Resolution::UseHandoff,
                    actor: "ana".into(),
                    at,
                },
                &meta(Source::User),
                at,
            )
            .await
            .expect("resolve");
    }
}

/// Whether an intent action writes Jira fields (used to check the queue's contents).
pub fn is_update(a: &IntentAction) -> bool {
    matches!(a, IntentAction::UpdateJiraFields { .. })
}
