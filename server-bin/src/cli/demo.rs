//! `jira-sync demo [--serve]` and `jira-sync mapping test`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use serde_json::json;
use sync_store::Store;

use super::output::{cell, Output};
use crate::config::Config;

/// `demo`: the stories; with `serve`, the server stays up afterwards until Ctrl-C.
pub fn demo(out: &Output, store: Option<String>, serve: bool) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env(crate::config::LOG_ENV)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            out.error(&format!("demo: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<ExitCode> = rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let url = match store {
            Some(u) => u,
            None => format!("sqlite://{}", dir.path().join("demo.db").display()),
        };
        let world = crate::demo::DemoWorld::start(Store::open(&url).await?).await?;
        out.line(&format!(
            "jira-sync demo: Jira simulator on http://{}, webhook intake on http://{}/api/webhooks/jira, store {url}",
            world.jira_addr, world.intake_addr
        ));
        let report = crate::demo::run_stories(&world, &mut |line| out.line(line)).await?;
        out.line(&report.summary_line());
        let code = if report.all_held() {
            ExitCode::SUCCESS
        } else {
            out.error("demo: a story did not hold (see the ✗ lines above)");
            ExitCode::FAILURE
        };
        if serve {
            out.line("");
            out.line(&format!(
                "The demo's server keeps running: API on http://{}, Jira simulator on http://{}",
                world.intake_addr, world.jira_addr
            ));
            out.line(&format!("  curl http://{}/healthz", world.intake_addr));
            out.line("Press Ctrl-C to stop.");
            crate::serve::shutdown_signal().await;
            world.rt.drain(std::time::Duration::from_secs(10)).await;
        }
        drop(world);
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&format!("demo: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// `mapping test`: reads the live item and issue and shows, field by field, what each side
/// holds in Handoff space and which way a write would go. Writes nothing.
pub async fn mapping_test(
    out: &Output,
    config: &Path,
    project: &str,
    item: Option<String>,
    issue: Option<String>,
) -> anyhow::Result<()> {
    let config = Config::load_file(config)?;
    let store = Store::open(&config.store).await?;
    let built = crate::serve::build_runtime(&config, store.clone())?;
    let rt = built.rt;
    let p = rt.project(project)?;
    let (item_id, issue_id) = match (item, issue) {
        (Some(item), _) => {
            let link = rt.link_for_item(&item).await?;
            (Some(item), link.and_then(|l| l.issue_id))
        }
        (None, Some(issue)) => {
            let link = rt.link_for_issue(&p.site, &issue).await?;
            (link.and_then(|l| l.work_item_id), Some(issue))
        }
        (None, None) => return Err(anyhow!("name --item or --issue")),
    };
    let host_item = match &item_id {
        Some(id) => Some(
            rt.host()
                .get_item(id)
                .await?
                .ok_or_else(|| anyhow!("the work item {id:?} does not exist"))?,
        ),
        None => None,
    };
    let jira = match &issue_id {
        Some(id) => Some(
            rt.read_issue(project, id, item_id.as_deref())
                .await
                .with_context(|| format!("cannot read the issue {id}"))?,
        ),
        None => None,
    };
    let mut rows = Vec::new();
    let mut fields = Vec::new();
    for m in &p.mapping.fields {
        let h = host_item.as_ref().map(|i| i.field(&m.handoff_field));
        let j_raw = jira.as_ref().map(|(_, o)| {
            o.values
                .get(&m.jira_field)
                .cloned()
                .unwrap_or(sync_domain::Value::Null)
        });
        let j = j_raw.as_ref().map(|v| m.transform.to_handoff(v));
        let (j_text, j_val) = match &j {
            Some(Ok(v)) => (v.to_string(), Some(v.clone())),
            Some(Err(e)) => (format!("(cannot map: {})", e.reason), None),
            None => ("-".into(), None),
        };
        let to_jira = h.as_ref().map(|v| m.transform.to_jira(v));
        let verdict = match (&h, &j_val) {
            (Some(h), Some(j)) if h.clone().canonical() == j.clone().canonical() => {
                "equal".to_string()
            }
            (Some(_), Some(_)) => match m.direction {
                sync_domain::mapping::Direction::Push => {
                    "differs: Handoff's value is pushed".into()
                }
                sync_domain::mapping::Direction::Pull => "differs: Jira's value is pulled".into(),
                sync_domain::mapping::Direction::Bidirectional => {
                    format!("differs: the newer edit wins, or a conflict ({})", m.policy)
                }
            },
            (Some(_), None) if issue_id.is_none() => "would be written to a new issue".into(),
            (None, Some(_)) => "would be written to a new item".into(),
            _ => "-".into(),
        };
        if let Some(Err(e)) = &to_jira {
            rows.push(vec![
                m.handoff_field.clone(),
                m.jira_field.clone(),
                cell(&h.as_ref().map(|v| v.to_string()).unwrap_or("-".into()), 30),
                cell(&j_text, 30),
                format!("cannot map to Jira: {}", e.reason),
            ]);
        } else {
            rows.push(vec![
                m.handoff_field.clone(),
                m.jira_field.clone(),
                cell(&h.as_ref().map(|v| v.to_string()).unwrap_or("-".into()), 30),
                cell(&j_text, 30),
                verdict.clone(),
            ]);
        }
        fields.push(json!({
            "handoffField": m.handoff_field,
            "jiraField": m.jira_field,
            "handoff": h,
            "jira": j_val,
            "verdict": verdict,
        }));
    }
    store.close().await;
    if out.is_json() {
        out.json(&json!({
            "project": project,
            "workItemId": item_id,
            "issue": jira.as_ref().map(|(r, _)| json!({"id": r.id, "key": r.key})),
            "fields": fields,
        }));
    } else {
        out.line(&format!(
            "project {project} · work item {} · issue {}",
            item_id.as_deref().unwrap_or("(none)"),
            jira.as_ref()
                .map(|(r, _)| format!("{} ({})", r.key, r.id))
                .unwrap_or_else(|| "(none)".into())
        ));
        out.table(
            &["HANDOFF", "JIRA", "HANDOFF VALUE", "JIRA VALUE", "VERDICT"],
            &rows,
        );
    }
    Ok(())
}
