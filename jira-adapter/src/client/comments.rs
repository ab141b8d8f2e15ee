//! Comments: list, add, edit, delete. The API cannot set a comment's author, so the body
//! starts with an author line naming the person who wrote it on the other side.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::body::{adf_to_markdown, markdown_to_jira, wiki_to_markdown};
use super::types::JiraComment;
use super::{decode, seg, CallOpts, EndpointClass, JiraClient};
use crate::error::{ErrorClass, JiraError};

const AUTHOR_SUFFIX: &str = " wrote:**";

/// The body with its author line: `**Alice Smith wrote:**`, a blank line, then the text.
pub fn with_author_line(author: &str, body_markdown: &str) -> String {
    let name: String = author
        .chars()
        .filter(|c| !matches!(c, '*' | '\n' | '\r'))
        .collect();
    format!(
        "**{}{AUTHOR_SUFFIX}\n\n{}",
        name.trim(),
        body_markdown.trim()
    )
}

/// Splits a body written by [`with_author_line`] into author and text; bodies without an
/// author line give `None` and the whole text.
pub fn split_author_line(body_markdown: &str) -> (Option<String>, String) {
    let t = body_markdown.trim_start();
    let (first, rest) = t.split_once('\n').unwrap_or((t, ""));
    match first
        .trim_end()
        .strip_prefix("**")
        .and_then(|s| s.strip_suffix(AUTHOR_SUFFIX))
    {
        Some(name) => (Some(name.to_string()), rest.trim().to_string()),
        None => (None, body_markdown.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawComment {
    id: String,
    #[serde(default)]
    author: Option<Json>,
    #[serde(default)]
    body: Json,
    #[serde(default)]
    created: String,
    #[serde(default)]
    updated: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentPage {
    #[serde(default)]
    comments: Vec<RawComment>,
    #[serde(default)]
    start_at: u64,
    total: Option<u64>,
}

fn to_comment(raw: RawComment) -> Result<JiraComment, JiraError> {
    let body_markdown = match &raw.body {
        Json::String(s) => wiki_to_markdown(s),
        Json::Null => String::new(),
        adf => adf_to_markdown(adf)?,
    };
    let author = raw
        .author
        .as_ref()
        .and_then(|a| a.get("displayName"))
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(JiraComment {
        id: raw.id,
        author,
        body_markdown,
        created: raw.created,
        updated: raw.updated,
    })
}

impl JiraClient {
    /// Every comment of the issue, oldest first.
    pub async fn comments(&self, id_or_key: &str) -> Result<Vec<JiraComment>, JiraError> {
        let path = format!("{}/issue/{}/comment", self.prefix().await?, seg(id_or_key));
        let mut out = Vec::new();
        let mut start = 0u64;
        loop {
            let q = [
                ("startAt", start.to_string()),
                ("maxResults", self.inner.config.page_size.to_string()),
                ("orderBy", "created".to_string()),
            ];
            let page: CommentPage = self.get_json(EndpointClass::Comments, &path, &q).await?;
            let n = page.comments.len() as u64;
            for c in page.comments {
                out.push(to_comment(c)?);
            }
            start = page.start_at + n;
            if n == 0 || page.total.is_none_or(|t| start >= t) {
                return Ok(out);
            }
        }
    }

    /// Adds a comment written by `author` (put into the author line). Not idempotent, so a
    /// failure whose outcome is unknown (timeout, 5xx) is followed by a look at the
    /// comments before a retry: a comment is never added twice.
    pub async fn add_comment(
        &self,
        id_or_key: &str,
        author: &str,
        body_markdown: &str,
    ) -> Result<JiraComment, JiraError> {
        let flavor = self.flavor().await?;
        let md = with_author_line(author, body_markdown);
        let body = json!({ "body": markdown_to_jira(&md, flavor) });
        let path = format!("{}/issue/{}/comment", flavor.api_prefix(), seg(id_or_key));
        let policy = self.inner.config.retry.clone();
        let want = crate::content::canonical_md(&md);
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                let existing = self.comments(id_or_key).await?;
                if let Some(c) = existing
                    .into_iter()
                    .rev()
                    .find(|c| crate::content::canonical_md(&c.body_markdown) == want)
                {
                    return Ok(c);
                }
            }
            attempt += 1;
            let opts = CallOpts {
                no_blind_retry: true,
                ..CallOpts::default()
            };
            match self
                .call(
                    EndpointClass::Comments,
                    Method::POST,
                    &path,
                    &[],
                    Some(&body),
                    opts,
                )
                .await
            {
                Ok(r) => return to_comment(decode(EndpointClass::Comments, &r.body)?),
                Err(e) => match e.class() {
                    ErrorClass::Retryable { retry_after_ms }
                        if attempt < policy.max_attempts.max(1) =>
                    {
                        tokio::time::sleep(policy.delay(attempt - 1, retry_after_ms)).await;
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    /// Replaces a comment's body (with the author line). Idempotent.
    pub async fn edit_comment(
        &self,
        id_or_key: &str,
        comment_id: &str,
        author: &str,
        body_markdown: &str,
    ) -> Result<JiraComment, JiraError> {
        let flavor = self.flavor().await?;
        let md = with_author_line(author, body_markdown);
        let body = json!({ "body": markdown_to_jira(&md, flavor) });
        let path = format!(
            "{}/issue/{}/comment/{}",
            flavor.api_prefix(),
            seg(id_or_key),
            seg(comment_id)
        );
        let r = self
            .call(
                EndpointClass::Comments,
                Method::PUT,
                &path,
                &[],
                Some(&body),
                CallOpts::default(),
            )
            .await?;
        to_comment(decode(EndpointClass::Comments, &r.body)?)
    }

    /// Deletes a comment; one already gone counts as deleted.
    pub async fn delete_comment(&self, id_or_key: &str, comment_id: &str) -> Result<(), JiraError> {
        let path = format!(
            "{}/issue/{}/comment/{}",
            self.prefix().await?,
            seg(id_or_key),
            seg(comment_id)
        );
        match self
            .call(
                EndpointClass::Comments,
                Method::DELETE,
                &path,
                &[],
                None,
                CallOpts::default(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.class() == ErrorClass::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_line_round_trips() {
        let md = with_author_line("Alice *Smith*", "Hello\n\nworld");
        assert_eq!(md, "**Alice Smith wrote:**\n\nHello\n\nworld");
        assert_eq!(
            split_author_line(&md),
            (Some("Alice Smith".into()), "Hello\n\nworld".into())
        );
        assert_eq!(split_author_line("plain"), (None, "plain".into()));
    }
}
