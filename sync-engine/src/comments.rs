//! Comments read by the pollers and the reconciliation: a comment whose webhook or host
//! notification was lost is found when its issue or item is read again, and fed to its link
//! like a delivered one. The domain recognises what it already knows (the same body, our
//! own mirrors), so reading a comment twice changes nothing; comments the link already
//! knows unchanged are not even sent to it.

use jira_adapter::client::JiraClient;
use jira_adapter::observe::observe_rest_comment;
use sync_domain::link::{comment_key, LinkCommand, LinkState, ObservedComment};
use sync_domain::mapping::Side;
use sync_domain::DomainError;
use sync_store::{EventMetadata, Source};

use super::{Error, Runtime};

/// Whether the link already knows `c` (seen on `side`) as it is now: the same original
/// with the same body, or one of our mirrors.
fn known(state: &LinkState, side: Side, c: &ObservedComment) -> bool {
    let other = side.other();
    if let Some(origin) = &c.mirror_of {
        return state
            .comments
            .get(&comment_key(other, origin))
            .is_some_and(|r| r.mirror_id.as_deref() == Some(c.id.as_str()));
    }
    if state.comments.iter().any(|(k, r)| {
        k.starts_with(&format!("{other}:")) && r.mirror_id.as_deref() == Some(c.id.as_str())
    }) {
        return true;
    }
    state
        .comments
        .get(&comment_key(side, &c.id))
        .is_some_and(|r| r.body == c.body && r.deleted == c.deleted)
}

impl Runtime {
    /// Reads the comments of a linked Jira issue and feeds the ones its link does not know.
    /// Returns how many were fed.
    pub(super) async fn observe_jira_comments(
        &self,
        link_id: &str,
        issue_id: &str,
        jira: &JiraClient,
    ) -> Result<usize, Error> {
        let comments = jira.comments(issue_id).await?;
        let observed = comments.iter().map(observe_rest_comment).collect();
        self.feed_comments(link_id, Side::Jira, observed).await
    }

    /// Reads the comments of a linked host item and feeds the ones its link does not know.
    /// Returns how many were fed.
    pub(super) async fn observe_host_comments(
        &self,
        link_id: &str,
        item_id: &str,
    ) -> Result<usize, Error> {
        let comments = self.host.list_comments(item_id).await?;
        let observed = comments
            .into_iter()
            .map(|c| ObservedComment {
                id: c.id,
                author: c.author,
                body: c.body,
                mirror_of: c.origin,
                deleted: false,
            })
            .collect();
        self.feed_comments(link_id, Side::Handoff, observed).await
    }

    async fn feed_comments(
        &self,
        link_id: &str,
        side: Side,
        observed: Vec<ObservedComment>,
    ) -> Result<usize, Error> {
        let state = self.store.load(link_id).await?.state;
        let source = match side {
            Side::Jira => Source::Jira,
            Side::Handoff => Source::Handoff,
        };
        let mut fed = 0;
        for comment in observed {
            if known(&state, side, &comment) {
                continue;
            }
            let cmd = LinkCommand::ObserveComment {
                cmd_id: self.ids.next_id("comment-read"),
                side,
                comment,
                at: self.now(),
            };
            match self.run(link_id, cmd, &EventMetadata::new(source)).await {
                Ok(_) => fed += 1,
                Err(e) if matches!(e.domain(), Some(DomainError::LinkUnlinked)) => return Ok(fed),
                Err(e) => return Err(e),
            }
        }
        Ok(fed)
    }
}
