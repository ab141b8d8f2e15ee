//! `jira-sync demo [--serve]` and `jira-sync mapping test`.

use std::path::Path;
use std::process::ExitCode;

use sync_store::Store;

use super::output::{cell, Output};
use crate::config::Config;

/// `demo` in a binary built without the simulator (`--no-default-features`).
#[cfg(not(feature = "demo"))]
pub fn demo(out: &Output, _store: Option<String>, _serve: bool) -> ExitCode {
    out.error("demo: this binary was built without the demo (cargo feature `demo`)");
    ExitCode::FAILURE
}

/// `demo`: the stories; with `serve`, the server stays up afterwards until Ctrl-C.
#[cfg(feature = "demo")]
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
            let token = random_token();
            let read_token = random_token();
            let left = crate::ui::demo::leave_for_ui(&world).await?;
            let api = crate::api::ApiConfig {
                auth: crate::api::ApiAuth::new(vec![
                    crate::api::ApiToken {
                        name: "demo-admin".into(),
                        token: token.clone(),
                        role: crate::api::Role::Admin,
                    },
                    crate::api::ApiToken {
                        name: "demo-viewer".into(),
                        token: read_token.clone(),
                        role: crate::api::Role::ReadOnly,
                    },
                ]),
                handoff_secret: None,
            };
            let (addr, server) =
                crate::api::serve(world.rt.clone(), ([127, 0, 0, 1], 0).into(), api).await?;
            out.line("");
            out.line(&format!(
                "The demo keeps running. API: http://{addr} (OpenAPI at /api/openapi.json), Jira simulator: http://{}",
                world.jira_addr
            ));
            out.line(&format!("Admin token: {token}"));
            out.line(&format!("Read-only token: {read_token}"));
            out.line(&format!(
                "UI: http://{addr}/ui (sign in with the admin token; open conflict {} on work item {}: http://{addr}/ui/conflicts/{}; work item {} is not pushed yet)",
                left.conflict_id,
                left.conflict_item,
                crate::ui::session::url_encode(&left.conflict_id),
                left.unpushed_item
            ));
            out.line(&format!(
                "  curl -H 'Authorization: Bearer {token}' http://{addr}/api/sync/stats"
            ));
            out.line(&format!(
                "  curl -H 'Authorization: Bearer {token}' http://{addr}/api/workitems/WI-1/history"
            ));
            out.line("Press Ctrl-C to stop.");
            crate::serve::shutdown_signal().await;
            server.abort();
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

/// `mapping test`: the runtime's dry run of the project's mapping against the live item
/// and/or issue: both values per field and what would be written to each side. Writes
/// nothing.
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
    let view = built
        .rt
        .mapping_dry_run(project, item.as_deref(), issue.as_deref(), None)
        .await;
    store.close().await;
    let view = crate::api::dto::DryRunView::from(view?);
    if out.is_json() {
        out.json(&serde_json::to_value(&view)?);
        return Ok(());
    }
    out.line(&format!(
        "project {} · work item {} · issue {}{}",
        view.project_id,
        view.work_item_id.as_deref().unwrap_or("(none)"),
        view.jira_issue_key
            .as_deref()
            .or(view.jira_issue_id.as_deref())
            .unwrap_or("(none)"),
        if view.linked {
            " · linked"
        } else {
            " · not linked"
        }
    ));
    for p in &view.mapping_problems {
        out.line(&format!("mapping problem: {p}"));
    }
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = view
        .fields
        .iter()
        .map(|f| {
            let write = match (&f.would_write_jira, &f.would_write_handoff) {
                (Some(j), _) => format!("Jira ← {}", cell(&show(j), 30)),
                (None, Some(h)) => format!("Handoff ← {}", cell(&show(h), 30)),
                (None, None) => f.note.clone().unwrap_or_default(),
            };
            vec![
                f.handoff_field.clone(),
                f.jira_field.clone(),
                cell(&show(&f.handoff_value), 30),
                cell(&show(&f.jira_value), 30),
                f.outcome.clone(),
                write,
            ]
        })
        .collect();
    out.table(
        &[
            "HANDOFF",
            "JIRA",
            "HANDOFF VALUE",
            "JIRA VALUE",
            "OUTCOME",
            "WOULD WRITE",
        ],
        &rows,
    );
    Ok(())
}

/// A fresh random token (hex of 16 bytes from the OS), for the demo's admin.
#[cfg(feature = "demo")]
fn random_token() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if read.is_err() {
        // No /dev/urandom (not Unix): the clock and the process id, good enough for a demo
        // served on 127.0.0.1 only.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        buf = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
