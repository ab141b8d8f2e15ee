//! The pollers: an incremental Jira search by `updated` with a look-back overlap, and the
//! host's change feed. Both feed plain observations; the domain drops the stale ones by
//! version, so the overlap re-reads are harmless. Where each poller stands is a checkpoint in
//! the store, so a restarted process goes on from there.

use std::time::Duration;

use jira_adapter::client::{incremental_jql, JiraClient, JiraIssue, SearchRequest};
use jira_adapter::observe::{
    fields_to_read, observe_issue, observe_issue_with_changelog, ObserveContext,
};
use sync_domain::link::{changelog_since, JiraObservation, LinkCommand, LinkStatus};
use sync_store::{EventMetadata, Source};

use super::{Error, ProjectConfig, Runtime};

/// The checkpoint (in the store) of a project's incremental Jira poll: the time of its last
/// complete poll, in milliseconds.
fn jira_checkpoint(project_id: &str) -> String {
    format!("jira-poll:{project_id}")
}

/// The checkpoint (in the store) of a project's host change feed: the host's opaque cursor.
fn host_checkpoint(project_id: &str) -> String {
    format!("host-poll:{project_id}")
}

fn offset(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

impl Runtime {
    /// One incremental Jira poll of every project. Returns how many linked issues it saw.
    /// A project whose poll fails does not stop the others; the first error is returned
    /// after all were tried.
    pub async fn poll_jira_once(&self) -> Result<usize, Error> {
        let mut seen = 0;
        let mut first_err = None;
        for project in self.projects() {
            match self.poll_jira_project(&project).await {
                Ok(n) => seen += n,
                Err(e) => {
                    tracing::warn!(project = %project.project_id, error = %e, "Jira poll");
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(seen),
        }
    }

    /// One incremental Jira poll of a project: issues updated since the last poll (minus
    /// the overlap) are read and fed to their links. Returns how many linked issues it saw.
    pub async fn poll_jira_project(&self, project: &ProjectConfig) -> Result<usize, Error> {
        let now = self.now();
        let overlap = self.config.poll_overlap_ms;
        // Where the last complete poll stopped (kept in the store, so a restart goes on from
        // there); a project never polled starts now (the reconciliation covers what was
        // before).
        let checkpoint = jira_checkpoint(&project.project_id);
        let watermark = match self.store.checkpoint(&checkpoint).await? {
            Some(v) => v
                .parse::<i64>()
                .map_err(|e| Error::Invalid(format!("checkpoint {checkpoint} holds {v:?}: {e}")))?,
            None => now,
        };
        // `incremental_jql` wraps a base query in parentheses; the project clause is a plain
        // conjunct in front.
        let since = incremental_jql(
            "",
            offset(watermark),
            offset(now),
            Duration::from_millis(overlap),
        );
        let jql = format!("project = {} AND {since}", project.jira_project_key);
        let site = self.site(&project.site)?;
        let jira = &site.site.client;
        let fields = fields_to_read(&project.mapping);
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let issues = jira.search_all(&SearchRequest::new(&jql, &refs)).await?;
        let account = self.our_account(site).await;
        let mut seen = 0;
        for issue in issues {
            let Some(link) = self.link_for_issue(&project.site, &issue.id).await? else {
                continue;
            };
            if link.status == LinkStatus::Unlinked || link.project_id != project.project_id {
                continue;
            }
            let marker = link.work_item_id.as_deref().map(|w| jira.marker_label(w));
            let ctx = self
                .observe_ctx(project, account.as_deref(), marker.as_deref())
                .await?;
            let observed = self
                .observe_polled(&link.link_id, &issue, &ctx, jira)
                .await?;
            let cmd = LinkCommand::ObserveJira {
                cmd_id: self.ids.next_id("poll"),
                observed,
                delivery_id: None,
                at: self.now(),
            };
            self.run(&link.link_id, cmd, &EventMetadata::new(Source::Jira))
                .await?;
            // Comments whose webhook was lost (a comment moves the issue's `updated`).
            self.observe_jira_comments(&link.link_id, &issue.id, jira)
                .await?;
            seen += 1;
        }
        self.store
            .save_checkpoint(&checkpoint, &now.to_string(), self.now())
            .await?;
        Ok(seen)
    }

    /// A polled issue as an observation. When a write of ours on the link is not settled
    /// yet (its webhook may be lost), the issue's changelog is read from where that write
    /// may have landed, so edits our write overwrote are found (clobber detection); the
    /// observation then says from where its changes are complete.
    async fn observe_polled(
        &self,
        link_id: &str,
        issue: &JiraIssue,
        ctx: &ObserveContext<'_>,
        jira: &JiraClient,
    ) -> Result<JiraObservation, Error> {
        let state = self.store.load(link_id).await?.state;
        let Some(since) = changelog_since(&state) else {
            return Ok(observe_issue(issue, ctx).0);
        };
        let histories = jira.changelog(&issue.id).await?;
        let (observed, skipped) = observe_issue_with_changelog(issue, &histories, since, ctx)?;
        for (field, reason) in skipped {
            tracing::warn!(issue = %issue.id, %field, %reason, "a mapped Jira field could not be read");
        }
        Ok(observed)
    }

    /// Follows the host's change feed of every project from where the last poll stopped and
    /// feeds every changed, linked item to its link. Returns how many linked items it saw.
    pub async fn poll_host_once(&self) -> Result<usize, Error> {
        let mut seen = 0;
        for project in self.projects() {
            seen += self.poll_host_project(&project).await?;
        }
        Ok(seen)
    }

    /// Follows one project's host change feed (see [`Runtime::poll_host_once`]).
    pub async fn poll_host_project(&self, project: &ProjectConfig) -> Result<usize, Error> {
        let checkpoint = host_checkpoint(&project.project_id);
        let mut cursor = self.store.checkpoint(&checkpoint).await?;
        let mut seen = 0;
        loop {
            let page = self
                .host
                .list_changed_since(&project.project_id, cursor.as_deref(), 100)
                .await?;
            for item in &page.items {
                let Some(link) = self.link_for_item(&item.id).await? else {
                    continue;
                };
                if link.status == LinkStatus::Unlinked {
                    continue;
                }
                let cmd = LinkCommand::ObserveHandoff {
                    cmd_id: self.ids.next_id("hpoll"),
                    observed: Self::handoff_observation(project, item),
                    delivery_id: None,
                    at: self.now(),
                };
                self.run(&link.link_id, cmd, &EventMetadata::new(Source::Handoff))
                    .await?;
                // Comments whose notification was lost (a comment moves the item in the feed).
                self.observe_host_comments(&link.link_id, &item.id).await?;
                seen += 1;
            }
            if let Some(next) = &page.next_cursor {
                cursor = Some(next.clone());
                self.store
                    .save_checkpoint(&checkpoint, next, self.now())
                    .await?;
            }
            if !page.has_more {
                return Ok(seen);
            }
        }
    }
}
