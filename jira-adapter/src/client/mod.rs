//! The Jira REST client for Cloud (REST v3) and Data Center (REST v2).
//!
//! One [`JiraClient`] talks to one site: it paces calls with a per-site limiter, honours
//! Jira's rate-limit headers, retries what is retryable with backoff, refreshes OAuth
//! tokens once on a 401, fails fast while the site's circuit breaker is open, and counts
//! its calls per [`EndpointClass`].

pub mod body;
mod comments;
mod issues;
mod meta;
mod search;
mod transitions;
mod types;
mod webhooks;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use tokio::sync::{OnceCell, RwLock};
use url::Url;

use crate::auth::{Authenticator, Credentials};
use crate::error::{JiraError, JiraMessages};
pub use crate::fields::ApiFlavor;
use crate::ratelimit::{BreakerConfig, CircuitBreaker, RateLimitInfo, RetryPolicy, SiteLimiter};

pub use comments::{split_author_line, with_author_line};
pub use search::{incremental_jql, SearchPage, SearchRequest};
pub use transitions::TransitionOutcome;
pub use types::*;

/// The kinds of Jira calls the client counts (benchmarks count calls per synced change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointClass {
    /// `GET /serverInfo`.
    ServerInfo,
    /// `GET /issue/{id}`.
    IssueGet,
    /// `PUT /issue/{id}`.
    IssueEdit,
    /// `POST /issue`.
    IssueCreate,
    /// `GET/POST /issue/{id}/transitions`.
    Transitions,
    /// Comment list, add, edit, delete.
    Comments,
    /// `GET /field`.
    Fields,
    /// User look-ups.
    Users,
    /// `/search/jql` (Cloud) and `/search` (DC).
    Search,
    /// Dynamic webhooks: register, list, refresh, delete.
    Webhooks,
    /// Issue entity properties.
    Properties,
}

impl EndpointClass {
    const ALL: [EndpointClass; 11] = [
        EndpointClass::ServerInfo,
        EndpointClass::IssueGet,
        EndpointClass::IssueEdit,
        EndpointClass::IssueCreate,
        EndpointClass::Transitions,
        EndpointClass::Comments,
        EndpointClass::Fields,
        EndpointClass::Users,
        EndpointClass::Search,
        EndpointClass::Webhooks,
        EndpointClass::Properties,
    ];

    /// A short stable name (used in errors and metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointClass::ServerInfo => "server_info",
            EndpointClass::IssueGet => "issue_get",
            EndpointClass::IssueEdit => "issue_edit",
            EndpointClass::IssueCreate => "issue_create",
            EndpointClass::Transitions => "transitions",
            EndpointClass::Comments => "comments",
            EndpointClass::Fields => "fields",
            EndpointClass::Users => "users",
            EndpointClass::Search => "search",
            EndpointClass::Webhooks => "webhooks",
            EndpointClass::Properties => "properties",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The issue marker: how a created issue carries its work item id, so a retried create can
/// find the issue an earlier attempt made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerConfig {
    /// Prefix of the marker label (`handoff-` gives `handoff-WI-42`).
    pub label_prefix: String,
    /// Key of the issue entity property holding `{"workItemId": ..}` (Cloud only); `None`
    /// to use the label alone.
    pub property_key: Option<String>,
    /// How often the look-up by marker is tried before a retry of a create (search is
    /// eventually consistent).
    pub lookup_attempts: u32,
    /// Wait between look-up attempts.
    pub lookup_delay: Duration,
}

impl Default for MarkerConfig {
    fn default() -> Self {
        MarkerConfig {
            label_prefix: "handoff-".into(),
            property_key: Some("handoff-sync".into()),
            lookup_attempts: 3,
            lookup_delay: Duration::from_secs(1),
        }
    }
}

/// What the client saw of one HTTP response (for metrics, tracing and contract tests).
#[derive(Debug)]
pub struct ObservedResponse<'a> {
    /// The endpoint class of the call.
    pub endpoint: EndpointClass,
    /// The HTTP method.
    pub method: &'a Method,
    /// The request path (no query, no credentials).
    pub path: &'a str,
    /// The response status.
    pub status: u16,
    /// The response headers.
    pub headers: &'a reqwest::header::HeaderMap,
}

/// A callback run on every HTTP response the client receives.
#[derive(Clone)]
pub struct ResponseObserver(pub Arc<dyn Fn(&ObservedResponse<'_>) + Send + Sync>);

impl std::fmt::Debug for ResponseObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseObserver")
    }
}

/// Settings of one client (one Jira site).
#[derive(Clone, Debug)]
pub struct JiraConfig {
    /// The site's base URL (`https://your-domain.atlassian.net`, or a loopback mock).
    pub base_url: Url,
    /// How to authenticate.
    pub credentials: Credentials,
    /// The API flavor; `None` detects it from `serverInfo` on first use.
    pub flavor: Option<ApiFlavor>,
    /// Timeout of one HTTP call.
    pub timeout: Duration,
    /// Retry and backoff of retryable failures.
    pub retry: RetryPolicy,
    /// Circuit breaker of the site.
    pub breaker: BreakerConfig,
    /// Steady call rate allowed to the site, per second.
    pub rate_per_second: NonZeroU32,
    /// Burst allowed above the steady rate.
    pub burst: NonZeroU32,
    /// Page size of searches and listings.
    pub page_size: u32,
    /// Most transitions a status change may take.
    pub max_transition_hops: u32,
    /// The issue marker for idempotent creates.
    pub marker: MarkerConfig,
    /// Called with every HTTP response (optional).
    pub observer: Option<ResponseObserver>,
}

impl JiraConfig {
    /// Defaults for a site at `base_url` with `credentials`.
    pub fn new(base_url: Url, credentials: Credentials) -> JiraConfig {
        JiraConfig {
            base_url,
            credentials,
            flavor: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            rate_per_second: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            page_size: 100,
            max_transition_hops: 8,
            marker: MarkerConfig::default(),
            observer: None,
        }
    }
}

/// Options of one call.
#[derive(Clone, Copy, Debug, Default)]
struct CallOpts {
    /// The call executes a transition: 409 is retryable.
    transition: bool,
    /// The call is not idempotent: only retry failures that surely did not reach Jira's
    /// processing (429). The caller handles the rest (look-up by marker, then retry).
    no_blind_retry: bool,
}

struct Inner {
    config: JiraConfig,
    http: reqwest::Client,
    auth: Authenticator,
    limiter: SiteLimiter,
    breaker: CircuitBreaker,
    flavor: OnceCell<ApiFlavor>,
    fields: RwLock<Option<Arc<Vec<FieldInfo>>>>,
    workflow: std::sync::Mutex<transitions::WorkflowGraph>,
    calls: [AtomicU64; EndpointClass::ALL.len()],
}

/// A Jira REST client for one site. Cheap to clone; clones share limiter, breaker, caches
/// and counters.
#[derive(Clone)]
pub struct JiraClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraClient")
            .field("base_url", &self.inner.config.base_url.as_str())
            .field("credentials", &self.inner.config.credentials)
            .finish_non_exhaustive()
    }
}

/// A successful response's body.
struct Reply {
    body: String,
}

impl JiraClient {
    /// A client for the site in `config`.
    pub fn new(config: JiraConfig) -> Result<JiraClient, JiraError> {
        if !matches!(config.base_url.scheme(), "http" | "https") {
            return Err(JiraError::Config(format!(
                "base URL scheme {:?}",
                config.base_url.scheme()
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("jira-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JiraError::Config(format!("HTTP client: {}", e.without_url())))?;
        let flavor = OnceCell::new_with(config.flavor);
        Ok(JiraClient {
            inner: Arc::new(Inner {
                auth: Authenticator::new(config.credentials.clone()),
                limiter: SiteLimiter::new(config.rate_per_second, config.burst),
                breaker: CircuitBreaker::new(config.breaker.clone()),
                http,
                flavor,
                fields: RwLock::new(None),
                workflow: std::sync::Mutex::new(transitions::WorkflowGraph::default()),
                calls: std::array::from_fn(|_| AtomicU64::new(0)),
                config,
            }),
        })
    }

    /// The client's settings.
    pub fn config(&self) -> &JiraConfig {
        &self.inner.config
    }

    /// HTTP calls made so far (each attempt counts), per endpoint class.
    pub fn call_counts(&self) -> BTreeMap<EndpointClass, u64> {
        EndpointClass::ALL
            .iter()
            .map(|c| (*c, self.inner.calls[c.index()].load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// HTTP calls made so far, all classes.
    pub fn total_calls(&self) -> u64 {
        self.inner
            .calls
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Whether the site's circuit breaker currently fails calls fast.
    pub fn circuit_open(&self) -> bool {
        self.inner.breaker.is_open()
    }

    /// How long calls to the site still wait because it rate-limited us (a 429 or a
    /// `Retry-After`), if they do now.
    pub fn rate_limit_pause(&self) -> Option<std::time::Duration> {
        self.inner.limiter.paused_for()
    }

    /// The API flavor: configured, or detected once from `serverInfo`.
    pub async fn flavor(&self) -> Result<ApiFlavor, JiraError> {
        self.inner
            .flavor
            .get_or_try_init(|| async { Ok(self.server_info().await?.flavor()) })
            .await
            .copied()
    }

    async fn prefix(&self) -> Result<&'static str, JiraError> {
        Ok(self.flavor().await?.api_prefix())
    }

    /// `GET /rest/api/2/serverInfo` (answered by Cloud and Data Center alike).
    pub async fn server_info(&self) -> Result<ServerInfo, JiraError> {
        self.get_json(EndpointClass::ServerInfo, "/rest/api/2/serverInfo", &[])
            .await
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, JiraError> {
        let mut url = self.inner.config.base_url.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{path}"));
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        class: EndpointClass,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, JiraError> {
        let r = self
            .call(class, Method::GET, path, query, None, CallOpts::default())
            .await?;
        decode(class, &r.body)
    }

    /// One logical call: pacing, auth, retries with backoff, 401 refresh, breaker.
    async fn call(
        &self,
        class: EndpointClass,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Json>,
        opts: CallOpts,
    ) -> Result<Reply, JiraError> {
        let inner = &self.inner;
        let policy = &inner.config.retry;
        let url = self.url(path, query)?;
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            if let Err(ms) = inner.breaker.check() {
                return Err(JiraError::CircuitOpen { retry_after_ms: ms });
            }
            inner.limiter.acquire().await;
            let auth = inner.auth.header().await?;
            let mut req = inner
                .http
                .request(method.clone(), url.clone())
                .header("Accept", "application/json");
            if let Some(a) = &auth {
                req = req.header("Authorization", a.expose());
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            inner.calls[class.index()].fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            let last = attempt >= policy.max_attempts.max(1);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    inner.breaker.record_failure();
                    let err = if e.is_timeout() {
                        JiraError::Timeout {
                            endpoint: class.as_str(),
                        }
                    } else {
                        JiraError::Connect {
                            endpoint: class.as_str(),
                            reason: e.without_url().to_string(),
                        }
                    };
                    if last || opts.no_blind_retry {
                        return Err(err);
                    }
                    tokio::time::sleep(policy.delay(attempt - 1, None)).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let info = RateLimitInfo::from_headers(resp.headers());
            if let Some(obs) = &inner.config.observer {
                (obs.0)(&ObservedResponse {
                    endpoint: class,
                    method: &method,
                    path,
                    status,
                    headers: resp.headers(),
                });
            }
            let text = match resp.text().await {
                Ok(t) => t,
                Err(e) => {
                    inner.breaker.record_failure();
                    let err = if e.is_timeout() {
                        JiraError::Timeout {
                            endpoint: class.as_str(),
                        }
                    } else {
                        JiraError::Connect {
                            endpoint: class.as_str(),
                            reason: e.without_url().to_string(),
                        }
                    };
                    if last || opts.no_blind_retry {
                        return Err(err);
                    }
                    tokio::time::sleep(policy.delay(attempt - 1, None)).await;
                    continue;
                }
            };
            if status >= 500 {
                inner.breaker.record_failure();
            } else {
                inner.breaker.record_success();
            }
            if (200..300).contains(&status) {
                if let Some(ms) = info.wait_ms() {
                    inner.limiter.pause_for(ms, policy.max_delay);
                }
                return Ok(Reply { body: text });
            }
            if status == 401 && !refreshed && inner.auth.can_refresh() {
                refreshed = true;
                attempt -= 1;
                inner.auth.refresh(&inner.http, auth.as_ref()).await?;
                continue;
            }
            let wait = info.wait_ms();
            let err = JiraError::Http {
                status,
                endpoint: class.as_str(),
                messages: JiraMessages::from_body(&text),
                retry_after_ms: wait,
                transition: opts.transition,
            };
            // A per-issue write limit concerns one issue: only this call waits. Burst and
            // quota limits concern the site: every call to it waits.
            let per_issue = info.reason.as_deref() == Some("jira-per-issue-on-write");
            if status == 429 && !per_issue {
                if let Some(ms) = wait {
                    inner.limiter.pause_for(ms, policy.max_delay);
                }
            }
            let retryable = matches!(err.class(), crate::error::ErrorClass::Retryable { .. });
            // A 429 was not processed: safe to resend even a create.
            let safe = status == 429 || !opts.no_blind_retry;
            if !retryable || !safe || last {
                return Err(err);
            }
            tokio::time::sleep(policy.delay(attempt - 1, wait)).await;
        }
    }
}

fn decode<T: DeserializeOwned>(class: EndpointClass, body: &str) -> Result<T, JiraError> {
    serde_json::from_str(body).map_err(|e| JiraError::Decode {
        endpoint: class.as_str(),
        reason: e.to_string(),
    })
}

/// Percent-encodes one path segment (issue keys, ids, property keys).
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
