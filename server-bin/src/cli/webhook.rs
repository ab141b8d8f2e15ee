//! `jira-sync webhook inspect`: what the engine sees in a saved Jira delivery.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, Context};
use jira_adapter::fields::ApiFlavor;
use jira_adapter::observe::{observe_event, ObserveContext, WebhookObservation};
use jira_adapter::webhook::{parse_event, JiraEvent};
use serde_json::json;

use super::output::{cell, time, Output};
use crate::config::Config;

fn read_input(file: &Path) -> anyhow::Result<Vec<u8>> {
    if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read stdin")?;
        return Ok(buf);
    }
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

/// Parses the delivery in `file` and prints what the engine sees.
pub fn inspect(
    out: &Output,
    file: &Path,
    config: Option<&Path>,
    project: Option<&str>,
) -> anyhow::Result<()> {
    let body = read_input(file)?;
    let event = parse_event(&body, None).map_err(|e| {
        anyhow!(
            "{}: not a Jira webhook delivery the engine can read: {e}",
            file.display()
        )
    })?;
    let mapped = match config {
        Some(path) => Some(mapped_values(&event, path, project)?),
        None => None,
    };
    let changes: Vec<serde_json::Value> = event
        .changelog
        .iter()
        .flat_map(|c| c.items.iter())
        .map(|i| {
            json!({
                "field": i.field_key(),
                "name": i.field,
                "from": i.before().map(|v| v.as_str()),
                "to": i.after().map(|v| v.as_str()),
                "fromString": i.from_string,
                "toString": i.to_string,
            })
        })
        .collect();
    let actor = event.actor.as_ref().and_then(|a| {
        a.display_name
            .clone()
            .or(a.account_id.clone())
            .or(a.name.clone())
    });
    if out.is_json() {
        out.json(&json!({
            "event": event.kind.webhook_event_name(),
            "webhookEvent": event.webhook_event,
            "issueEventTypeName": event.issue_event_type_name,
            "timestampMs": event.timestamp_ms,
            "issue": {
                "id": event.issue.id,
                "key": event.issue.key,
                "project": event.issue.project_key,
                "updatedMs": event.issue.updated_ms,
            },
            "actor": actor,
            "changes": changes,
            "comment": event.comment.as_ref().map(|c| json!({
                "id": c.id,
                "author": c.author.as_ref().and_then(|a| a.display_name.clone()),
                "body": c.body,
            })),
            "mapped": mapped.as_ref().map(|(p, v)| json!({"project": p, "observation": v})),
        }));
        return Ok(());
    }
    out.line(&format!(
        "event:   {}{}",
        event.kind.webhook_event_name(),
        event
            .issue_event_type_name
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default()
    ));
    out.line(&format!(
        "issue:   id {} · key {} · project {}",
        event.issue.id,
        event.issue.key.as_deref().unwrap_or("?"),
        event.issue.project_key.as_deref().unwrap_or("?")
    ));
    if event.timestamp_ms > 0 {
        out.line(&format!("at:      {}", time(event.timestamp_ms)));
    }
    if let Some(a) = &actor {
        out.line(&format!("by:      {a}"));
    }
    if let Some(c) = &event.comment {
        out.line(&format!(
            "comment: {} by {}: {}",
            c.id,
            c.author
                .as_ref()
                .and_then(|a| a.display_name.as_deref())
                .unwrap_or("?"),
            cell(&c.body, 80)
        ));
    }
    if event.changelog.is_some() {
        out.line("changes:");
        let rows: Vec<Vec<String>> = event
            .changelog
            .iter()
            .flat_map(|c| c.items.iter())
            .map(|i| {
                vec![
                    i.field_key(),
                    cell(i.before().map(|v| v.as_str()).unwrap_or("(empty)"), 40),
                    cell(i.after().map(|v| v.as_str()).unwrap_or("(empty)"), 40),
                ]
            })
            .collect();
        out.table(&["FIELD", "FROM", "TO"], &rows);
    }
    if let Some((project, v)) = mapped {
        out.line(&format!("as project {project}'s mapping reads it:"));
        out.line(&serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    Ok(())
}

/// The observation the project's mapping makes of the event.
fn mapped_values(
    event: &JiraEvent,
    config: &Path,
    project: Option<&str>,
) -> anyhow::Result<(String, serde_json::Value)> {
    let config = Config::load_file(config)?;
    let p = match project {
        Some(id) => config
            .projects
            .iter()
            .find(|p| p.project.project_id == id)
            .ok_or_else(|| anyhow!("no project {id:?} in the config"))?,
        None => {
            let key = event.issue.project_key.as_deref().or_else(|| {
                event
                    .issue
                    .key
                    .as_deref()
                    .and_then(|k| k.split_once('-').map(|(p, _)| p))
            });
            config
                .projects
                .iter()
                .find(|p| Some(p.project.jira_project_key.as_str()) == key)
                .ok_or_else(|| {
                    anyhow!("no configured project has the Jira key of this issue; name one with --project")
                })?
        }
    };
    let site = config
        .sites
        .iter()
        .find(|s| s.name == p.project.site)
        .ok_or_else(|| anyhow!("no site {:?}", p.project.site))?;
    let ctx = ObserveContext {
        mapping: &p.project.mapping,
        flavor: site.flavor.unwrap_or(ApiFlavor::CloudV3),
        our_account: None,
        marker_label: None,
    };
    let obs = observe_event(event, &ctx)
        .map_err(|e| anyhow!("the mapping cannot read the delivery: {e}"))?;
    let v = match obs {
        WebhookObservation::Issue {
            issue,
            observed,
            skipped,
        } => json!({
            "issue": {"id": issue.id, "key": issue.key},
            "values": observed.values.iter().map(|(k, v)| (k.clone(), json!(v.to_string()))).collect::<serde_json::Map<_, _>>(),
            "skipped": skipped.iter().map(|(f, r)| json!({"field": f, "reason": r})).collect::<Vec<_>>(),
        }),
        WebhookObservation::Comment { issue_id, comment } => json!({
            "issue": issue_id,
            "comment": {"id": comment.id, "author": comment.author, "body": comment.body, "deleted": comment.deleted},
        }),
        WebhookObservation::IssueDeleted { issue_id } => json!({"deleted": issue_id}),
    };
    Ok((p.project.project_id.clone(), v))
}
