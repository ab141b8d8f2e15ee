//! The pollers: an incremental Jira search by `updated` with a look-back overlap, and the
//! host's change feed. Both feed plain observations; the domain drops the stale ones by
//! version, so the overlap re-reads are harmless.

use std::time::Duration;

use jira_adapter::client::{incremental_jql, SearchRequest};
use jira_adapter::observe::{fields_to_read, observe_issue};
use sync_domain::link::{LinkCommand, LinkStatus};
use sync_store::{EventMetadata, Source};

use super::{Runtime, RuntimeError};

/// Where the pollers stand (in memory: a restart polls again from its start time minus the
/// overlap; the domain drops what it has already seen).
#[derive(Debug, Default)]
pub(super) struct PollState {
    jira_watermark: Option<i64>,
    host_cursor: Option<String>,
}

fn offset(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

impl Runtime {
    /// One incremental Jira poll of the project: issues updated since the last poll (minus
    /// the overlap) are read and fed to their links. Returns how many linked issues it saw.
    pub async fn poll_jira_once(&self) -> Result<usize, RuntimeError> {
        let now = self.now();
        let overlap = self.config.poll_overlap_ms;
        let watermark = self
            .poll_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .jira_watermark
            .unwrap_or(now);
        // `incremental_jql` wraps a base query in parentheses, which the simulator's JQL does
        // not parse; the project clause is a plain conjunct, so it goes in front instead.
        let since = incremental_jql(
            "",
            offset(watermark),
            offset(now),
            Duration::from_millis(overlap),
        );
        let jql = format!(
            "project = {} AND {since}",
            self.config.project.jira_project_key
        );
        let fields = fields_to_read(&self.config.project.mapping);
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let issues = self
            .jira
            .search_all(&SearchRequest::new(&jql, &refs))
            .await?;
        let mut seen = 0;
        for issue in issues {
            let Some(link) = self.store.link_by_issue(&issue.id).await? else {
                continue;
            };
            if link.status == LinkStatus::Unlinked {
                continue;
            }
            let marker = link
                .work_item_id
                .as_deref()
                .map(|w| self.jira.marker_label(w));
            let ctx = self.observe_ctx(marker.as_deref()).await?;
            let (observed, _) = observe_issue(&issue, &ctx);
            let cmd = LinkCommand::ObserveJira {
                cmd_id: self.ids.next_id("poll"),
                observed,
                delivery_id: None,
                at: self.now(),
            };
            self.run(&link.link_id, cmd, &EventMetadata::new(Source::Jira))
                .await?;
            seen += 1;
        }
        self.poll_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .jira_watermark = Some(now);
        Ok(seen)
    }

    /// Follows the host's change feed from where the last poll stopped and feeds every
    /// changed, linked item to its link. Returns how many linked items it saw.
    pub async fn poll_host_once(&self) -> Result<usize, RuntimeError> {
        let mut cursor = self
            .poll_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .host_cursor
            .clone();
        let mut seen = 0;
        loop {
            let page = self
                .host
                .list_changed_since(&self.config.project.project_id, cursor.as_deref(), 100)
                .await?;
            for item in &page.items {
                let Some(link) = self.store.link_by_work_item(&item.id).await? else {
                    continue;
                };
                if link.status == LinkStatus::Unlinked {
                    continue;
                }
                let cmd = LinkCommand::ObserveHandoff {
                    cmd_id: self.ids.next_id("hpoll"),
                    observed: self.handoff_observation(item),
                    delivery_id: None,
                    at: self.now(),
                };
                self.run(&link.link_id, cmd, &EventMetadata::new(Source::Handoff))
                    .await?;
                seen += 1;
            }
            if page.next_cursor.is_some() {
                cursor = page.next_cursor.clone();
                self.poll_state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .host_cursor = cursor.clone();
            }
            if !page.has_more {
                return Ok(seen);
            }
        }
    }
}
