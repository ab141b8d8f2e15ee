//! A client for the Handoff-style REST contract of `docs/handoff-api.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, ETAG, IF_MATCH, RETRY_AFTER};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use sync_domain::Value;

use crate::error::HostError;
use crate::fields::{decode_fields, encode_fields};
use crate::host::{ChangePage, FieldSchema, Host, HostComment, HostItem};

/// How long one request may take before it counts as failed (and retryable).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a non-JSON error body is kept in an error's message.
const MAX_MESSAGE_CHARS: usize = 500;

/// A [`Host`] reached over HTTP with a bearer token.
#[derive(Clone, Debug)]
pub struct HttpHost {
    client: Client,
    base: Url,
    token: String,
    schema: FieldSchema,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireItem {
    id: String,
    project_id: String,
    version: u64,
    #[serde(default)]
    updated_at_ms: i64,
    #[serde(default)]
    updated_by: Option<String>,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    fields: Map<String, Json>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireItemPage {
    items: Vec<WireItem>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireComment {
    id: String,
    #[serde(default)]
    item_id: Option<String>,
    #[serde(default)]
    author: String,
    body: String,
    #[serde(default)]
    created_at_ms: i64,
    #[serde(default)]
    updated_at_ms: i64,
    #[serde(default)]
    origin: Option<String>,
}

#[derive(Deserialize)]
struct WireCommentList {
    comments: Vec<WireComment>,
}

impl WireComment {
    fn into_comment(self, item_id: &str) -> HostComment {
        HostComment {
            id: self.id,
            item_id: self.item_id.unwrap_or_else(|| item_id.to_string()),
            author: self.author,
            body: self.body,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            origin: self.origin,
        }
    }
}

/// Reads `Retry-After` given in seconds; an HTTP date is not read (the caller's own backoff
/// applies then).
fn retry_after_ms(headers: &HeaderMap) -> Option<u64> {
    let s = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = s.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

/// Reads a version from an entity tag: `"7"`, `W/"7"` or `7`.
fn version_from_etag(headers: &HeaderMap) -> Option<u64> {
    let s = headers.get(ETAG)?.to_str().ok()?.trim();
    s.trim_start_matches("W/").trim_matches('"').parse().ok()
}

fn error_message(status: StatusCode, body: &[u8]) -> (String, Option<Json>) {
    let json: Option<Json> = serde_json::from_slice(body).ok();
    let from_json = json
        .as_ref()
        .and_then(|j| j.get("message").or_else(|| j.get("error")))
        .and_then(Json::as_str)
        .map(str::to_string);
    let message = from_json.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        } else {
            text.chars().take(MAX_MESSAGE_CHARS).collect()
        }
    });
    (message, json)
}

/// The error for a response that is not a success, following the contract's error codes.
fn error_from_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> HostError {
    let (message, json) = error_message(status, body);
    let code = status.as_u16();
    match code {
        412 => HostError::VersionConflict {
            current: json
                .as_ref()
                .and_then(|j| j.get("currentVersion"))
                .and_then(Json::as_u64)
                .or_else(|| version_from_etag(headers)),
        },
        401 | 403 => HostError::Auth {
            status: code,
            message,
        },
        404 | 410 => HostError::NotFound {
            what: format!("{what}: {message}"),
        },
        429 => HostError::RateLimited {
            retry_after_ms: retry_after_ms(headers),
            message,
        },
        408 | 500..=599 => HostError::Unavailable {
            status: code,
            retry_after_ms: retry_after_ms(headers),
            message,
        },
        _ => HostError::Rejected {
            status: code,
            message,
        },
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, HostError> {
    serde_json::from_slice(body).map_err(|e| HostError::InvalidResponse {
        reason: format!("{what}: {e}"),
    })
}

impl HttpHost {
    /// A client for the host at `base_url` (e.g. `https://handoff.example.com/api/v1`),
    /// authenticating with `token`, reading and writing the fields of `schema`.
    pub fn new(base_url: &str, token: &str, schema: FieldSchema) -> Result<Self, HostError> {
        let base = Url::parse(base_url)
            .map_err(|e| HostError::InvalidConfig(format!("base URL {base_url:?}: {e}")))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(HostError::InvalidConfig(format!(
                "base URL {base_url:?} is not an http(s) URL"
            )));
        }
        let client = Client::builder().timeout(DEFAULT_TIMEOUT).build()?;
        Ok(HttpHost {
            client,
            base,
            token: token.to_string(),
            schema,
        })
    }

    /// Uses `client` for every request (to share a connection pool or set timeouts).
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// The field schema values are read and written with.
    pub fn schema(&self) -> &FieldSchema {
        &self.schema
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.client
            .request(method, url)
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Sends a request; a success gives its status, headers and body, anything else the
    /// contract's error.
    async fn send(
        &self,
        req: RequestBuilder,
        what: &str,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), HostError> {
        let resp: Response = req.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        if status.is_success() {
            Ok((status, headers, body))
        } else {
            Err(error_from_response(status, &headers, &body, what))
        }
    }

    fn item_from_wire(&self, wire: WireItem) -> Result<HostItem, HostError> {
        Ok(HostItem {
            fields: decode_fields(&self.schema, &wire.fields)?,
            id: wire.id,
            project_id: wire.project_id,
            version: wire.version,
            updated_at_ms: wire.updated_at_ms,
            updated_by: wire.updated_by,
            marker: wire.marker,
        })
    }

    async fn list_items(
        &self,
        project_id: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<ChangePage, HostError> {
        let mut pairs = vec![("project", project_id)];
        pairs.extend_from_slice(query);
        let url = self.url(&["workitems"], &pairs);
        let (_, _, body) = self.send(self.request(Method::GET, url), what).await?;
        let page: WireItemPage = parse_json(&body, what)?;
        Ok(ChangePage {
            items: page
                .items
                .into_iter()
                .map(|w| self.item_from_wire(w))
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
            has_more: page.has_more,
        })
    }
}

#[async_trait]
impl Host for HttpHost {
    async fn get_item(&self, id: &str) -> Result<Option<HostItem>, HostError> {
        let what = format!("work item {id}");
        let url = self.url(&["workitems", id], &[]);
        match self.send(self.request(Method::GET, url), &what).await {
            Ok((_, _, body)) => self.item_from_wire(parse_json(&body, &what)?).map(Some),
            Err(HostError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn update_fields(
        &self,
        id: &str,
        fields: &BTreeMap<String, Value>,
        expected_version: Option<u64>,
    ) -> Result<u64, HostError> {
        let what = format!("work item {id}");
        let body = json!({ "fields": encode_fields(&self.schema, fields)? });
        let mut req = self
            .request(Method::PATCH, self.url(&["workitems", id], &[]))
            .json(&body);
        if let Some(v) = expected_version {
            req = req.header(IF_MATCH, format!("\"{v}\""));
        }
        let (_, headers, body) = self.send(req, &what).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return version_from_etag(&headers).ok_or_else(|| HostError::InvalidResponse {
                reason: format!("{what}: the update answered neither the item nor an ETag"),
            });
        }
        let item: WireItem = parse_json(&body, &what)?;
        Ok(item.version)
    }

    async fn create_item(
        &self,
        project_id: &str,
        fields: &BTreeMap<String, Value>,
        marker: &str,
    ) -> Result<HostItem, HostError> {
        let what = format!("new work item with marker {marker}");
        let body = json!({
            "projectId": project_id,
            "marker": marker,
            "fields": encode_fields(&self.schema, fields)?,
        });
        let req = self
            .request(Method::POST, self.url(&["workitems"], &[]))
            .json(&body);
        let (_, _, body) = self.send(req, &what).await?;
        self.item_from_wire(parse_json(&body, &what)?)
    }

    async fn find_by_marker(
        &self,
        project_id: &str,
        marker: &str,
    ) -> Result<Option<HostItem>, HostError> {
        let what = format!("work items of project {project_id} with marker {marker}");
        let page = self
            .list_items(project_id, &[("marker", marker)], &what)
            .await?;
        Ok(page
            .items
            .into_iter()
            .find(|i| i.marker.as_deref() == Some(marker)))
    }

    async fn list_changed_since(
        &self,
        project_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ChangePage, HostError> {
        let what = format!("changes of project {project_id}");
        let limit = limit.max(1).to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(c) = cursor {
            query.push(("changedSince", c));
        }
        let mut page = self.list_items(project_id, &query, &what).await?;
        // A host that has nothing new may leave the cursor out: keep ours.
        if page.next_cursor.is_none() {
            page.next_cursor = cursor.map(str::to_string);
        }
        Ok(page)
    }

    async fn list_comments(&self, item_id: &str) -> Result<Vec<HostComment>, HostError> {
        let what = format!("comments of work item {item_id}");
        let url = self.url(&["workitems", item_id, "comments"], &[]);
        let (_, _, body) = self.send(self.request(Method::GET, url), &what).await?;
        let list: WireCommentList = parse_json(&body, &what)?;
        Ok(list
            .comments
            .into_iter()
            .map(|c| c.into_comment(item_id))
            .collect())
    }

    async fn add_comment(
        &self,
        item_id: &str,
        body_markdown: &str,
        author_line: &str,
        origin_marker: &str,
    ) -> Result<HostComment, HostError> {
        let what = format!("comment {origin_marker} on work item {item_id}");
        let body = json!({
            "body": body_markdown,
            "authorLine": author_line,
            "origin": origin_marker,
        });
        let req = self
            .request(
                Method::POST,
                self.url(&["workitems", item_id, "comments"], &[]),
            )
            .json(&body);
        let (_, _, body) = self.send(req, &what).await?;
        let comment: WireComment = parse_json(&body, &what)?;
        Ok(comment.into_comment(item_id))
    }

    async fn edit_comment(
        &self,
        item_id: &str,
        comment_id: &str,
        body_markdown: &str,
    ) -> Result<HostComment, HostError> {
        let what = format!("comment {comment_id} on work item {item_id}");
        let req = self
            .request(
                Method::PUT,
                self.url(&["workitems", item_id, "comments", comment_id], &[]),
            )
            .json(&json!({ "body": body_markdown }));
        let (_, _, body) = self.send(req, &what).await?;
        let comment: WireComment = parse_json(&body, &what)?;
        Ok(comment.into_comment(item_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_and_etag_are_read() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        h.insert(ETAG, HeaderValue::from_static("W/\"7\""));
        assert_eq!(retry_after_ms(&h), Some(2000));
        assert_eq!(version_from_etag(&h), Some(7));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_ms(&h), None);
    }

    #[test]
    fn non_json_error_bodies_are_kept_and_truncated() {
        let long = "x".repeat(2 * MAX_MESSAGE_CHARS);
        let e = error_from_response(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            long.as_bytes(),
            "w",
        );
        match e {
            HostError::Rejected { status, message } => {
                assert_eq!(status, 400);
                assert_eq!(message.len(), MAX_MESSAGE_CHARS);
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
}
