//! Search: Cloud `POST /rest/api/3/search/jql` (`nextPageToken`, `isLast`, no `total`) and
//! Data Center `POST /rest/api/2/search` (`startAt`, `total`); incremental polling by
//! `updated` with a look-back overlap.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::types::JiraIssue;
use super::{decode, CallOpts, EndpointClass, JiraClient};
use crate::error::JiraError;
use crate::fields::ApiFlavor;

/// A search: JQL, the fields to return, and (Cloud) issues to reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRequest {
    /// The JQL query.
    pub jql: String,
    /// Fields to return (`updated` is always added).
    pub fields: Vec<String>,
    /// Page size; `None` uses the client's.
    pub max_results: Option<u32>,
    /// Issue ids just written by us: Cloud's `reconcileIssues` makes the search read them
    /// after our write (read-after-write on an eventually consistent index).
    pub reconcile_issue_ids: Vec<i64>,
}

impl SearchRequest {
    /// A search for `jql` returning `fields`.
    pub fn new(jql: &str, fields: &[&str]) -> SearchRequest {
        SearchRequest {
            jql: jql.into(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
            max_results: None,
            reconcile_issue_ids: Vec::new(),
        }
    }

    /// Sets the page size.
    pub fn max_results(mut self, n: u32) -> SearchRequest {
        self.max_results = Some(n);
        self
    }

    /// Asks Cloud to reconcile these issue ids (ignored on Data Center).
    pub fn reconcile(mut self, ids: &[i64]) -> SearchRequest {
        self.reconcile_issue_ids = ids.to_vec();
        self
    }
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchPage {
    /// The issues of the page.
    pub issues: Vec<JiraIssue>,
    /// The cursor of the next page; `None` on the last page. Cloud's `nextPageToken`, or
    /// Data Center's next `startAt` as a number.
    pub next: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudPage {
    #[serde(default)]
    issues: Vec<JiraIssue>,
    next_page_token: Option<String>,
    is_last: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DcPage {
    #[serde(default)]
    issues: Vec<JiraIssue>,
    #[serde(default)]
    start_at: u64,
    total: Option<u64>,
}

impl JiraClient {
    /// One page of a search; pass the previous page's `next` to continue.
    pub async fn search_page(
        &self,
        req: &SearchRequest,
        cursor: Option<&str>,
    ) -> Result<SearchPage, JiraError> {
        let flavor = self.flavor().await?;
        let mut fields = req.fields.clone();
        if !fields.iter().any(|f| f == "updated") {
            fields.push("updated".into());
        }
        let max = req
            .max_results
            .unwrap_or(self.inner.config.page_size)
            .max(1);
        match flavor {
            ApiFlavor::CloudV3 => {
                let mut body = json!({ "jql": req.jql, "fields": fields, "maxResults": max });
                if let Some(t) = cursor {
                    body["nextPageToken"] = json!(t);
                }
                if !req.reconcile_issue_ids.is_empty() {
                    body["reconcileIssues"] = json!(req.reconcile_issue_ids);
                }
                let r = self
                    .call(
                        EndpointClass::Search,
                        Method::POST,
                        "/rest/api/3/search/jql",
                        &[],
                        Some(&body),
                        CallOpts::default(),
                    )
                    .await?;
                let page: CloudPage = decode(EndpointClass::Search, &r.body)?;
                // `isLast` decides; a missing token also ends the walk so it cannot loop.
                let last = page.is_last.unwrap_or(true) || page.next_page_token.is_none();
                Ok(SearchPage {
                    issues: page.issues,
                    next: if last { None } else { page.next_page_token },
                })
            }
            ApiFlavor::DataCenterV2 => {
                let start_at: u64 = match cursor {
                    Some(c) => c
                        .parse()
                        .map_err(|_| JiraError::Config(format!("bad search cursor {c:?}")))?,
                    None => 0,
                };
                let body = json!({ "jql": req.jql, "fields": fields, "maxResults": max, "startAt": start_at });
                let r = self
                    .call(
                        EndpointClass::Search,
                        Method::POST,
                        "/rest/api/2/search",
                        &[],
                        Some(&body),
                        CallOpts::default(),
                    )
                    .await?;
                let page: DcPage = decode(EndpointClass::Search, &r.body)?;
                let next_start = page.start_at + page.issues.len() as u64;
                let more = !page.issues.is_empty() && page.total.is_some_and(|t| next_start < t);
                Ok(SearchPage {
                    issues: page.issues,
                    next: more.then(|| next_start.to_string()),
                })
            }
        }
    }

    /// Every issue matching the search, page by page. For large result sets prefer
    /// [`JiraClient::search_page`], which keeps memory bounded.
    pub async fn search_all(&self, req: &SearchRequest) -> Result<Vec<JiraIssue>, JiraError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.search_page(req, cursor.as_deref()).await?;
            out.extend(page.issues);
            match page.next {
                Some(n) if Some(&n) != cursor.as_ref() => cursor = Some(n),
                _ => return Ok(out),
            }
        }
    }
}

/// The JQL of an incremental poll: issues of `base_jql` updated since `watermark` minus
/// `overlap`, oldest first. The bound is relative (`updated >= "-42m"`), so it does not
/// depend on the Jira user's time zone; `now` is passed in (the clock is a seam).
pub fn incremental_jql(
    base_jql: &str,
    watermark: time::OffsetDateTime,
    now: time::OffsetDateTime,
    overlap: Duration,
) -> String {
    let since = (now - watermark).whole_seconds().max(0) as u64 + overlap.as_secs();
    let minutes = since.div_ceil(60).max(1);
    let base = base_jql.trim();
    if base.is_empty() {
        format!("updated >= \"-{minutes}m\" ORDER BY updated ASC")
    } else {
        format!("({base}) AND updated >= \"-{minutes}m\" ORDER BY updated ASC")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_jql_looks_back_with_overlap() {
        let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::hours(10);
        let wm = now - time::Duration::minutes(30);
        assert_eq!(
            incremental_jql("project = A", wm, now, Duration::from_secs(120)),
            "(project = A) AND updated >= \"-32m\" ORDER BY updated ASC"
        );
        assert_eq!(
            incremental_jql("", now, now, Duration::ZERO),
            "updated >= \"-1m\" ORDER BY updated ASC"
        );
    }
}
