//! The commands' bodies.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use handoff_adapter::InMemoryHost;
use serde_json::json;
use sync_domain::link::{LinkStatus, Resolution};
use sync_domain::{Value, ValueKind};
use sync_store::{Store, SyncStats};

use super::output::{cell, time, Output};
use super::{Command, ConflictsAction, Conversion, MappingAction, StoreArg, WebhookAction};
use crate::config::{Config, LogFormat};
use sync_engine::{Clock, Runtime, RuntimeConfig, RuntimeParts, SeqIds, SystemClock};

const STATUSES: [LinkStatus; 6] = [
    LinkStatus::Synced,
    LinkStatus::PendingPush,
    LinkStatus::PendingPull,
    LinkStatus::Conflict,
    LinkStatus::Error,
    LinkStatus::Unlinked,
];

/// `convert`: stdin → stdout.
pub fn convert(out: &Output, conversion: Conversion) -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        out.error(&format!("convert: cannot read stdin: {e}"));
        return ExitCode::FAILURE;
    }
    match jira_content::convert(conversion.name(), &input) {
        Ok(text) => {
            out.line(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            out.error(&format!("convert {}: {e}", conversion.name()));
            ExitCode::FAILURE
        }
    }
}

fn init_server_logs(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// `serve`: until SIGINT or SIGTERM.
pub fn serve(out: &Output, config: &Path) -> ExitCode {
    let config = match Config::load_file(config) {
        Ok(c) => c,
        Err(e) => {
            out.error(&e.to_string());
            return ExitCode::FAILURE;
        }
    };
    init_server_logs(&config);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            out.error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let running = match crate::serve::start(&config).await {
            Ok(r) => r,
            Err(e) => {
                out.error(&e.to_string());
                return ExitCode::FAILURE;
            }
        };
        out.line(&format!("jira-sync listening on http://{}", running.addr));
        crate::serve::shutdown_signal().await;
        if running.shutdown().await {
            ExitCode::SUCCESS
        } else {
            out.error("stopped with work in flight (it runs again after a restart)");
            ExitCode::FAILURE
        }
    })
}

async fn open_store(arg: &StoreArg) -> anyhow::Result<Store> {
    let url = match &arg.store {
        Some(u) => u.clone(),
        None => Config::load_file(&arg.config)?.store,
    };
    Store::open(&url)
        .await
        .with_context(|| format!("cannot open the store {}", crate::serve::redact_url(&url)))
}

/// A runtime over the store alone: no site, no project, an empty in-memory host. Enough for
/// commands that only record what a person decided (a conflict's resolution).
fn store_runtime(store: Store) -> anyhow::Result<Arc<Runtime>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids = Arc::new(SeqIds::for_process(clock.as_ref()));
    Ok(Runtime::new(
        RuntimeParts {
            store,
            sites: Vec::new(),
            host: Arc::new(InMemoryHost::new()),
            clock,
            ids,
        },
        RuntimeConfig::new(Vec::new()),
    )?)
}

/// The commands that run once and exit.
pub async fn offline(out: &Output, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Migrate { store } => migrate(out, &store).await?,
        Command::Status { store, project } => status(out, &store, project.as_deref()).await?,
        Command::Conflicts {
            action: ConflictsAction::List { store, project },
        } => conflicts_list(out, &store, &project).await?,
        Command::Conflicts {
            action:
                ConflictsAction::Resolve {
                    store,
                    id,
                    use_handoff,
                    use_jira,
                    merge,
                    ignore,
                    actor,
                },
        } => {
            let choice = match (use_handoff, use_jira, merge, ignore) {
                (true, _, _, _) => Choice::Handoff,
                (_, true, _, _) => Choice::Jira,
                (_, _, Some(v), _) => Choice::Merge(v),
                (_, _, _, true) => Choice::Ignore,
                _ => bail!("say how: --use-handoff, --use-jira, --merge VALUE or --ignore"),
            };
            conflicts_resolve(out, &store, &id, choice, &actor).await?;
        }
        Command::History {
            store,
            work_item,
            all,
        } => history(out, &store, &work_item, all).await?,
        Command::Replay { store } => replay(out, &store).await?,
        Command::Fields {
            config,
            site,
            custom,
        } => fields(out, &config.config, site.as_deref(), custom).await?,
        Command::Mapping {
            action:
                MappingAction::Test {
                    config,
                    project,
                    item,
                    issue,
                },
        } => {
            super::demo::mapping_test(out, &config.config, &project, item, issue).await?;
        }
        Command::Webhook {
            action:
                WebhookAction::Inspect {
                    file,
                    config,
                    project,
                },
        } => super::webhook::inspect(out, &file, config.as_deref(), project.as_deref())?,
        Command::Serve { .. }
        | Command::Demo { .. }
        | Command::Convert { .. }
        | Command::Openapi => {
            bail!("not an offline command")
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn migrate(out: &Output, arg: &StoreArg) -> anyhow::Result<()> {
    let store = open_store(arg).await?;
    let version = store.schema_version().await?;
    let backend = format!("{:?}", store.backend()).to_lowercase();
    store.close().await;
    if out.is_json() {
        out.json(&json!({"schemaVersion": version, "backend": backend}));
    } else {
        out.line(&format!(
            "migrations applied; schema version {version} ({backend})"
        ));
    }
    Ok(())
}

/// The links of the last errors: links whose intent gave up, with the last failed attempt.
async fn last_errors(
    store: &Store,
    project: Option<&str>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let dump = store.dump_projections().await?;
    let mut errors = Vec::new();
    for l in dump
        .links
        .iter()
        .filter(|l| l.status == LinkStatus::Error)
        .filter(|l| project.is_none_or(|p| l.project_id == p))
    {
        let log = store.sync_log(&l.link_id).await?;
        let last = log.iter().rev().find(|a| a.error.is_some());
        errors.push(json!({
            "linkId": l.link_id,
            "projectId": l.project_id,
            "workItemId": l.work_item_id,
            "issueKey": l.issue_key,
            "at": last.map(|a| a.started_at),
            "kind": last.map(|a| a.kind.clone()),
            "error": last.and_then(|a| a.error.clone()),
        }));
    }
    errors.sort_by_key(|e| std::cmp::Reverse(e["at"].as_i64()));
    errors.truncate(10);
    Ok(errors)
}

async fn status(out: &Output, arg: &StoreArg, project: Option<&str>) -> anyhow::Result<()> {
    let store = open_store(arg).await?;
    let now = SystemClock.now_ms();
    let hour = 3_600_000;
    let (by_status, links, open_conflicts, queue, last_sync, stats) = match project {
        None => {
            let s = store.stats(now, hour).await?;
            (
                s.links_by_status.clone(),
                s.links,
                s.open_conflicts,
                s.open_intents,
                s.last_sync_at,
                Some(s),
            )
        }
        Some(p) => {
            let mut by = BTreeMap::new();
            let mut links = 0;
            let mut queue = 0;
            let mut last = None::<i64>;
            for st in STATUSES {
                let ls = store.links_with_status(p, st).await?;
                links += ls.len() as u64;
                queue += ls.iter().map(|l| l.open_intents).sum::<u64>();
                last = ls.iter().filter_map(|l| l.last_synced_at).chain(last).max();
                if !ls.is_empty() {
                    by.insert(st, ls.len() as u64);
                }
            }
            let conflicts = store.conflicts(p).await?.len() as u64;
            (by, links, conflicts, queue, last, None)
        }
    };
    let errors = last_errors(&store, project).await?;
    let rejected = if project.is_none() {
        store.rejected_deliveries(5).await?
    } else {
        Vec::new()
    };
    store.close().await;
    if out.is_json() {
        out.json(&json!({
            "project": project,
            "links": links,
            "linksByStatus": by_status.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "openConflicts": open_conflicts,
            "queueDepth": queue,
            "lastSyncAt": last_sync,
            "lastHour": stats.as_ref().map(stats_json),
            "lastErrors": errors,
            "rejectedDeliveries": rejected.iter().map(|r| json!({
                "source": r.source.as_str(),
                "deliveryId": r.delivery_id,
                "reason": r.reason,
                "receivedAt": r.received_at,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    out.line(&format!(
        "{} · {links} links · {open_conflicts} open conflicts · queue depth {queue} · last sync {}",
        project
            .map(|p| format!("project {p}"))
            .unwrap_or_else(|| "all projects".into()),
        last_sync.map(time).unwrap_or_else(|| "never".into())
    ));
    let rows: Vec<Vec<String>> = STATUSES
        .iter()
        .map(|s| {
            vec![
                s.as_str().to_string(),
                by_status.get(s).copied().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    out.table(&["STATUS", "LINKS"], &rows);
    if let Some(s) = &stats {
        out.line(&format!(
            "last hour: {} dispatch attempts, success rate {:.0}%",
            s.attempts_by_outcome.values().sum::<u64>(),
            s.success_rate * 100.0
        ));
    }
    out.line("last errors:");
    let rows: Vec<Vec<String>> = errors
        .iter()
        .map(|e| {
            vec![
                e["at"].as_i64().map(time).unwrap_or_default(),
                e["workItemId"].as_str().unwrap_or("-").to_string(),
                e["issueKey"].as_str().unwrap_or("-").to_string(),
                cell(e["error"].as_str().unwrap_or("-"), 70),
            ]
        })
        .collect();
    out.table(&["AT", "WORK ITEM", "ISSUE", "ERROR"], &rows);
    if !rejected.is_empty() {
        out.line("rejected deliveries:");
        let rows: Vec<Vec<String>> = rejected
            .iter()
            .map(|r| {
                vec![
                    time(r.received_at),
                    r.source.as_str().to_string(),
                    cell(&r.reason, 70),
                ]
            })
            .collect();
        out.table(&["AT", "SOURCE", "REASON"], &rows);
    }
    Ok(())
}

fn stats_json(s: &SyncStats) -> serde_json::Value {
    json!({
        "attemptsByOutcome": s.attempts_by_outcome.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "attemptsPerMinute": s.attempts_per_minute,
        "successRate": s.success_rate,
    })
}

async fn conflicts_list(out: &Output, arg: &StoreArg, project: &str) -> anyhow::Result<()> {
    let store = open_store(arg).await?;
    let conflicts = store.conflicts(project).await?;
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for c in &conflicts {
        let link = store.link_view(&c.link_id).await?;
        let item = link.as_ref().and_then(|l| l.work_item_id.clone());
        let key = link.as_ref().and_then(|l| l.issue_key.clone());
        rows.push(vec![
            c.conflict.id.clone(),
            item.clone().unwrap_or_else(|| "-".into()),
            key.clone().unwrap_or_else(|| "-".into()),
            c.conflict.field.clone(),
            cell(&c.conflict.handoff.to_string(), 30),
            cell(&c.conflict.jira.to_string(), 30),
            time(c.conflict.detected_at),
        ]);
        items.push(json!({
            "id": c.conflict.id,
            "linkId": c.link_id,
            "workItemId": item,
            "issueKey": key,
            "field": c.conflict.field,
            "kind": c.conflict.kind,
            "base": c.conflict.base,
            "handoff": c.conflict.handoff,
            "jira": c.conflict.jira,
            "lost": c.conflict.lost,
            "detectedAt": c.conflict.detected_at,
        }));
    }
    store.close().await;
    if out.is_json() {
        out.json(&json!({"project": project, "conflicts": items}));
    } else {
        out.table(
            &[
                "ID",
                "WORK ITEM",
                "ISSUE",
                "FIELD",
                "HANDOFF",
                "JIRA",
                "DETECTED",
            ],
            &rows,
        );
    }
    Ok(())
}

/// How a person settles a conflict.
pub enum Choice {
    /// Handoff's value.
    Handoff,
    /// Jira's value.
    Jira,
    /// This value, as typed.
    Merge(String),
    /// The later edit.
    Ignore,
}

/// A typed value of `kind` as the conflict's field holds it.
fn parse_value(kind: ValueKind, text: &str) -> anyhow::Result<Value> {
    Ok(match kind {
        ValueKind::Text => Value::text(text),
        ValueKind::RichText => Value::rich_text(text),
        ValueKind::Number => {
            let x: f64 = text
                .trim()
                .parse()
                .map_err(|_| anyhow!("{text:?} is not a number"))?;
            Value::number(x)?
        }
        ValueKind::Option => Value::option(text.trim()),
        ValueKind::OptionSet => Value::option_set(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        ),
        ValueKind::User => Value::user(text.trim()),
        ValueKind::Date => Value::date(text.trim())?,
    })
}

async fn conflicts_resolve(
    out: &Output,
    arg: &StoreArg,
    id: &str,
    choice: Choice,
    actor: &str,
) -> anyhow::Result<()> {
    let store = open_store(arg).await?;
    let dump = store.dump_projections().await?;
    let c = dump
        .conflicts
        .iter()
        .find(|c| c.conflict.id == id)
        .ok_or_else(|| anyhow!("no open conflict {id:?} (see `jira-sync conflicts list`)"))?;
    let resolution = match choice {
        Choice::Handoff => Resolution::UseHandoff,
        Choice::Jira => Resolution::UseJira,
        Choice::Ignore => Resolution::Ignore,
        Choice::Merge(text) => {
            let kind = [&c.conflict.handoff, &c.conflict.jira, &c.conflict.base]
                .iter()
                .find_map(|v| v.kind())
                .unwrap_or(ValueKind::Text);
            Resolution::Merge(parse_value(kind, &text)?)
        }
    };
    let link_id = c.link_id.clone();
    let field = c.conflict.field.clone();
    let rt = store_runtime(store.clone())?;
    rt.resolve_conflict(&link_id, id, resolution, actor).await?;
    store.close().await;
    if out.is_json() {
        out.json(&json!({"resolved": id, "linkId": link_id, "field": field}));
    } else {
        out.line(&format!(
            "conflict {id} on {field} resolved; a running server writes the result to both sides"
        ));
    }
    Ok(())
}

async fn history(out: &Output, arg: &StoreArg, work_item: &str, all: bool) -> anyhow::Result<()> {
    let store = open_store(arg).await?;
    let rt = store_runtime(store.clone())?;
    let entries: Vec<crate::api::dto::HistoryEntry> = rt
        .item_history(work_item, all)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    store.close().await;
    if out.is_json() {
        out.json(&json!({"workItemId": work_item, "events": entries}));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.at.clone(),
                e.link_id.clone(),
                e.sequence.to_string(),
                e.source.clone(),
                e.actor.clone().unwrap_or_default(),
                cell(&e.summary, 90),
            ]
        })
        .collect();
    out.table(&["AT", "LINK", "SEQ", "SOURCE", "WHO", "WHAT"], &rows);
    Ok(())
}

async fn replay(out: &Output, arg: &StoreArg) -> anyhow::Result<()> {
    let store = open_store(arg).await?;
    let t0 = Instant::now();
    let events = store.rebuild_projections().await?;
    let took = t0.elapsed();
    let dump = store.dump_projections().await?;
    store.close().await;
    if out.is_json() {
        out.json(&json!({
            "events": events,
            "links": dump.links.len(),
            "openConflicts": dump.conflicts.len(),
            "queuedIntents": dump.queue.len(),
            "millis": took.as_millis(),
        }));
    } else {
        out.line(&format!(
            "replayed {events} events in {:.3}s: {} links, {} open conflicts, {} queued intents",
            took.as_secs_f64(),
            dump.links.len(),
            dump.conflicts.len(),
            dump.queue.len()
        ));
    }
    Ok(())
}

async fn fields(
    out: &Output,
    config: &Path,
    site: Option<&str>,
    custom_only: bool,
) -> anyhow::Result<()> {
    let config = Config::load_file(config)?;
    let s = match site {
        Some(name) => config
            .sites
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| anyhow!("no Jira site named {name:?} in the config"))?,
        None => match config.sites.as_slice() {
            [one] => one,
            _ => bail!("several Jira sites are configured: name one with --site"),
        },
    };
    let client = crate::serve::jira_client(s)?;
    let list = client
        .fields()
        .await
        .with_context(|| format!("cannot read the fields of {}", s.url))?;
    let mut list: Vec<_> = list.iter().filter(|f| !custom_only || f.custom).collect();
    list.sort_by(|a, b| (!a.custom, &a.name).cmp(&(!b.custom, &b.name)));
    let type_of = |f: &jira_adapter::client::FieldInfo| {
        f.schema
            .as_ref()
            .map(|s| match &s.items {
                Some(i) => format!("{}<{i}>", s.kind),
                None => s.kind.clone(),
            })
            .unwrap_or_else(|| "-".into())
    };
    if out.is_json() {
        out.json(&json!({
            "site": s.name,
            "fields": list.iter().map(|f| json!({
                "id": f.id,
                "name": f.name,
                "custom": f.custom,
                "type": type_of(f),
                "customType": f.schema.as_ref().and_then(|s| s.custom.clone()),
                "syncsAs": f.value_kind(),
            })).collect::<Vec<_>>(),
        }));
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|f| {
                vec![
                    f.id.clone(),
                    f.name.clone(),
                    type_of(f),
                    f.value_kind()
                        .map(|k| k.to_string())
                        .unwrap_or_else(|| "(not synced)".into()),
                ]
            })
            .collect();
        out.table(&["ID", "NAME", "TYPE", "SYNCS AS"], &rows);
    }
    Ok(())
}
