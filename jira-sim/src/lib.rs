//! jira-sim: a deterministic Jira Cloud simulator, for the demo, the server's tests and the
//! simulation.
//!
//! [`SimJira`] is the core: issues (ADF descriptions, custom fields, a status workflow
//! with transitions, comments, entity properties, changelog history), dynamic webhooks
//! with a JQL filter, fault injection and a call counter per endpoint. Time comes from an
//! injected [`Clock`] and randomness from RNGs seeded by [`SimConfig::seed`], so the
//! same seed and the same calls give the same results, including the same sequence of
//! webhook deliveries. Deliveries are queued with a due time; an in-process caller takes
//! them with [`SimJira::drain_due`], the HTTP mode posts them ([`http::run_webhook_pump`]).
//!
//! [`http::router`] / [`http::serve`] put the Cloud REST v3 endpoints the client uses in
//! front of it, on 127.0.0.1, so the real client is what talks to it. See
//! `docs/jira-simulator.md`.

pub mod http;
pub mod jql;

use jira_adapter::webhook::{
    format_jira_timestamp, sign, DELIVERY_ID_HEADER, RETRY_HEADER, SIGNATURE_HEADER,
};
use jira_content::{adf_to_md, md_to_adf, md_to_wiki};
use jql::{Jql, JqlIssue};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
pub use sync_domain::clock::{Clock, ManualClock};

/// Dynamic webhooks live 30 days unless refreshed, as in Jira Cloud.
pub const WEBHOOK_LIFETIME_MS: i64 = 30 * 24 * 3_600_000;
/// How many times a failed delivery is retried before it is given up.
pub const MAX_DELIVERY_RETRIES: u32 = 5;

/// Faults to inject. The default injects none and delivers webhooks at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Probability that a webhook delivery is lost.
    pub webhook_loss: f64,
    /// Probability that a webhook is delivered twice (same identifier).
    pub webhook_duplicate: f64,
    /// Probability that a delivery is held back by up to
    /// [`Faults::webhook_reorder_window_ms`], so later ones may overtake it.
    pub webhook_reorder: f64,
    /// How far a reordered delivery may be held back.
    pub webhook_reorder_window_ms: i64,
    /// Delivery latency, uniformly drawn from `min..=max` milliseconds.
    pub webhook_delay_ms: (i64, i64),
    /// Every n-th API call (over all endpoints) gets a 429.
    pub rate_limit_every: Option<u64>,
    /// Probability that an API call gets a 429.
    pub rate_limit_probability: f64,
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_s: u64,
    /// Probability that an API call gets a 500 or 503.
    pub server_error_probability: f64,
    /// Search is eventually consistent: issues created less than this long ago are not
    /// found yet.
    pub search_lag_ms: i64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            webhook_loss: 0.0,
            webhook_duplicate: 0.0,
            webhook_reorder: 0.0,
            webhook_reorder_window_ms: 0,
            webhook_delay_ms: (0, 0),
            rate_limit_every: None,
            rate_limit_probability: 0.0,
            retry_after_s: 1,
            server_error_probability: 0.0,
            search_lag_ms: 0,
        }
    }
}

/// A user of the simulated site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// Cloud account id.
    pub account_id: String,
    /// Display name.
    pub display_name: String,
    /// E-mail address.
    pub email: String,
}

impl SimUser {
    /// A user with an e-mail derived from the account id.
    pub fn new(account_id: &str, display_name: &str) -> Self {
        Self {
            account_id: account_id.to_owned(),
            display_name: display_name.to_owned(),
            email: format!("{account_id}@example.com"),
        }
    }
}

/// A custom field of the simulated site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimField {
    /// `customfield_NNNNN`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Kind of value.
    pub kind: SimFieldKind,
}

/// The value kinds of custom fields the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimFieldKind {
    /// A number.
    Number,
    /// A single-line string.
    Text,
    /// A multi-line rich text: ADF in v3, wiki markup in webhooks.
    RichText,
    /// A single select with `(id, value)` options.
    Select(Vec<(String, String)>),
}

/// How the simulator is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// The site's base URL, used in `self` links (the HTTP face does not depend on it).
    pub base_url: String,
    /// The secret webhooks are signed with (`X-Hub-Signature`); unsigned when `None`.
    pub webhook_secret: Option<Vec<u8>>,
    /// Faults to inject.
    pub faults: Faults,
    /// Projects that exist.
    pub projects: Vec<String>,
    /// The API user (`/myself`), the actor of REST writes.
    pub api_user: SimUser,
    /// Other people of the site.
    pub people: Vec<SimUser>,
    /// Custom fields.
    pub custom_fields: Vec<SimField>,
    /// The largest `maxResults` search honours (Jira caps it too).
    pub max_page_size: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            base_url: "https://sim.atlassian.net".into(),
            webhook_secret: None,
            faults: Faults::default(),
            projects: vec!["SIM".into()],
            api_user: SimUser::new("sim-api-user", "Sync Bot"),
            people: vec![
                SimUser::new("5b10a2844c20165700ede21g", "Mia Krystof"),
                SimUser::new("5cedcb4355a88a0fc86388ba", "Sample User"),
            ],
            custom_fields: vec![
                SimField {
                    id: "customfield_10016".into(),
                    name: "Story point estimate".into(),
                    kind: SimFieldKind::Number,
                },
                SimField {
                    id: "customfield_10020".into(),
                    name: "Acceptance criteria".into(),
                    kind: SimFieldKind::RichText,
                },
                SimField {
                    id: "customfield_10014".into(),
                    name: "Epic Link".into(),
                    kind: SimFieldKind::Text,
                },
                SimField {
                    id: "customfield_10030".into(),
                    name: "Team".into(),
                    kind: SimFieldKind::Select(vec![
                        ("10100".into(), "Alpha".into()),
                        ("10101".into(), "Beta".into()),
                    ]),
                },
            ],
            max_page_size: 100,
        }
    }
}

/// An error in Jira's shape: the HTTP status and `{"errorMessages":[..],"errors":{..}}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// 400: the request is invalid.
    #[error("400 bad request: {messages:?} {errors:?}")]
    BadRequest {
        /// `errorMessages`.
        messages: Vec<String>,
        /// `errors`, by field.
        errors: BTreeMap<String, String>,
    },
    /// 404: no such issue, comment, property or webhook.
    #[error("404 not found: {0}")]
    NotFound(String),
    /// 429: rate limited; retry after the given seconds.
    #[error("429 rate limited, retry after {retry_after_s}s")]
    RateLimited {
        /// `Retry-After`, seconds.
        retry_after_s: u64,
    },
    /// 5xx: injected server error.
    #[error("{status} server error")]
    ServerError {
        /// 500 or 503.
        status: u16,
    },
    /// 409: the request conflicts with another one in progress (e.g. two transitions of one
    /// issue at once). Only injected, through [`SimJira::set_call_fault_hook`].
    #[error("409 conflict: {0}")]
    Conflict(String),
}

impl SimError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::NotFound(_) => 404,
            Self::RateLimited { .. } => 429,
            Self::ServerError { status } => *status,
            Self::Conflict(_) => 409,
        }
    }

    /// The body, in Jira's error shape.
    pub fn body(&self) -> Value {
        match self {
            Self::BadRequest { messages, errors } => {
                json!({ "errorMessages": messages, "errors": errors })
            }
            Self::NotFound(m) => json!({ "errorMessages": [m], "errors": {} }),
            Self::RateLimited { .. } => {
                json!({ "errorMessages": ["Rate limit exceeded."], "errors": {} })
            }
            Self::ServerError { .. } => {
                json!({ "errorMessages": ["Internal server error"], "errors": {} })
            }
            Self::Conflict(m) => json!({ "errorMessages": [m], "errors": {} }),
        }
    }

    fn field(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            messages: vec![],
            errors: BTreeMap::from([(field.to_owned(), message.into())]),
        }
    }

    fn message(message: impl Into<String>) -> Self {
        Self::BadRequest {
            messages: vec![message.into()],
            errors: BTreeMap::new(),
        }
    }
}

/// One outgoing webhook POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `X-Atlassian-Webhook-Identifier`: the same for duplicates and retries.
    pub identifier: String,
    /// The registered URL.
    pub url: String,
    /// Headers, including the signature and the identifier.
    pub headers: Vec<(String, String)>,
    /// The JSON body, exactly as signed.
    pub body: Vec<u8>,
    /// The webhook registration it matched.
    pub webhook_id: i64,
    /// `webhookEvent` of the body.
    pub event: String,
    /// The retry number (0 for the first attempt).
    pub retry: u32,
}

/// Counts of what happened to webhook deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Events matched by a webhook (one per event and webhook).
    pub produced: u64,
    /// Lost by fault injection.
    pub lost: u64,
    /// Extra copies queued by fault injection.
    pub duplicated: u64,
    /// Held back by the reorder fault.
    pub reordered: u64,
    /// Retries queued after failed deliveries.
    pub retried: u64,
    /// Given up after [`MAX_DELIVERY_RETRIES`].
    pub given_up: u64,
}

/// A fault a simulation's own schedule puts on one API call (see
/// [`SimJira::set_call_fault_hook`]), on top of the probabilistic [`Faults`].
#[derive(Debug, Clone, PartialEq)]
pub enum CallFault {
    /// Answer with this error (e.g. [`SimError::Conflict`] on a transition); nothing is done.
    Error(SimError),
    /// The connection drops before the call is processed: the client sees a failed call
    /// (as after a timeout) and nothing was done.
    DropBefore,
    /// The call is processed, then the connection drops before the answer: the client sees
    /// a failed call although the change was made (as after a timeout of a slow write).
    DropAfter,
}

/// Decides, per API call (`"POST /rest/api/3/issue/{id}/transitions"`, ...), whether to
/// inject a [`CallFault`]. Consulted by the HTTP face after [`SimJira::admit`] let the call in.
pub type CallFaultHook = Box<dyn FnMut(&str) -> Option<CallFault> + Send>;

#[derive(Debug, Clone)]
struct Status {
    id: &'static str,
    name: &'static str,
    category: (u8, &'static str, &'static str, &'static str),
}

const STATUSES: [Status; 4] = [
    Status {
        id: "10000",
        name: "To Do",
        category: (2, "new", "To Do", "blue-gray"),
    },
    Status {
        id: "3",
        name: "In Progress",
        category: (4, "indeterminate", "In Progress", "yellow"),
    },
    Status {
        id: "10001",
        name: "In Review",
        category: (4, "indeterminate", "In Progress", "yellow"),
    },
    Status {
        id: "10002",
        name: "Done",
        category: (3, "done", "Done", "green"),
    },
];

/// `(transition id, name, from status id, to status id, needs resolution)`. To Do → Done
/// takes three hops; only the last one, into Done, has a screen requiring a resolution.
const TRANSITIONS: [(&str, &str, &str, &str, bool); 6] = [
    ("11", "Start Progress", "10000", "3", false),
    ("21", "Send to Review", "3", "10001", false),
    ("31", "Stop Progress", "3", "10000", false),
    ("41", "Done", "10001", "10002", true),
    ("51", "Back to Progress", "10001", "3", false),
    ("61", "Reopen", "10002", "10000", false),
];

const RESOLUTIONS: [(&str, &str); 3] = [
    ("10000", "Done"),
    ("10001", "Won't Do"),
    ("10002", "Duplicate"),
];
const PRIORITIES: [(&str, &str); 5] = [
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
];
const ISSUE_TYPES: [(&str, &str); 3] = [("10001", "Task"), ("10002", "Story"), ("10004", "Bug")];

#[derive(Debug, Clone)]
struct SimIssue {
    id: u64,
    key: String,
    project_key: String,
    fields: Map<String, Value>,
    created_ms: i64,
    updated_ms: i64,
    history: Vec<Value>,
    comments: Vec<SimComment>,
    properties: BTreeMap<String, Value>,
}

#[derive(Debug, Clone)]
struct SimComment {
    id: u64,
    author: String,
    update_author: String,
    body: Value,
    created_ms: i64,
    updated_ms: i64,
}

#[derive(Debug, Clone)]
struct Webhook {
    id: i64,
    url: String,
    events: Vec<String>,
    jql_text: String,
    jql: Jql,
    field_ids: Vec<String>,
    expires_ms: i64,
}

#[derive(Debug, Clone)]
struct Queued {
    due_ms: i64,
    seq: u64,
    delivery: Delivery,
}

/// The simulated Jira site. Not `Sync` on its own: share it as `Arc<Mutex<SimJira>>`.
pub struct SimJira {
    config: SimConfig,
    clock: Arc<dyn Clock>,
    api_rng: ChaCha8Rng,
    hook_rng: ChaCha8Rng,
    issues: BTreeMap<u64, SimIssue>,
    deleted: BTreeMap<u64, String>,
    key_counters: BTreeMap<String, u64>,
    next_issue_id: u64,
    next_comment_id: u64,
    next_changelog_id: u64,
    next_webhook_id: i64,
    next_delivery_seq: u64,
    webhooks: BTreeMap<i64, Webhook>,
    queue: Vec<Queued>,
    stats: DeliveryStats,
    calls: BTreeMap<String, u64>,
    total_calls: u64,
    call_fault_hook: Option<CallFaultHook>,
}

impl std::fmt::Debug for SimJira {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimJira")
            .field("issues", &self.issues.len())
            .field("webhooks", &self.webhooks.len())
            .field("queued", &self.queue.len())
            .field("total_calls", &self.total_calls)
            .finish_non_exhaustive()
    }
}

fn user_json(base: &str, u: &SimUser) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/user?accountId={}", u.account_id),
        "accountId": u.account_id,
        "accountType": "atlassian",
        "emailAddress": u.email,
        "avatarUrls": {
            "48x48": format!("https://avatar.example/{}/48", u.account_id),
            "24x24": format!("https://avatar.example/{}/24", u.account_id),
            "16x16": format!("https://avatar.example/{}/16", u.account_id),
            "32x32": format!("https://avatar.example/{}/32", u.account_id),
        },
        "displayName": u.display_name,
        "active": true,
        "timeZone": "Etc/UTC",
    })
}

fn status_json(base: &str, s: &Status) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/status/{}", s.id),
        "description": "",
        "iconUrl": format!("{base}/images/icons/statuses/generic.png"),
        "name": s.name,
        "id": s.id,
        "statusCategory": {
            "self": format!("{base}/rest/api/3/statuscategory/{}", s.category.0),
            "id": s.category.0,
            "key": s.category.1,
            "colorName": s.category.3,
            "name": s.category.2,
        }
    })
}

fn status_by_id(id: &str) -> Option<&'static Status> {
    STATUSES.iter().find(|s| s.id == id)
}

/// Plain text of an ADF document, when it cannot be converted.
fn adf_text(v: &Value) -> String {
    let mut out = String::new();
    fn walk(v: &Value, out: &mut String) {
        if let Some(t) = v.get("text").and_then(Value::as_str) {
            out.push_str(t);
        }
        if let Some(items) = v.get("content").and_then(Value::as_array) {
            for c in items {
                walk(c, out);
            }
            if v.get("type").and_then(Value::as_str) == Some("paragraph") {
                out.push('\n');
            }
        }
    }
    walk(v, &mut out);
    out.trim_end().to_owned()
}

/// Rich text as Cloud webhooks deliver it: wiki markup.
fn adf_to_wiki(v: &Value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    let md = adf_to_md(v).unwrap_or_else(|_| adf_text(v));
    Value::String(md_to_wiki(&md).trim_end().to_owned())
}

fn is_adf(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
        && v.get("content").is_some_and(Value::is_array)
}

impl SimJira {
    /// A site with no issues, configured by `config`, on `clock`.
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        let mut api_rng = ChaCha8Rng::seed_from_u64(config.seed);
        api_rng.set_stream(1);
        let mut hook_rng = ChaCha8Rng::seed_from_u64(config.seed);
        hook_rng.set_stream(2);
        Self {
            config,
            clock,
            api_rng,
            hook_rng,
            issues: BTreeMap::new(),
            deleted: BTreeMap::new(),
            key_counters: BTreeMap::new(),
            next_issue_id: 10000,
            next_comment_id: 10000,
            next_changelog_id: 10000,
            next_webhook_id: 1,
            next_delivery_seq: 0,
            webhooks: BTreeMap::new(),
            queue: Vec::new(),
            stats: DeliveryStats::default(),
            calls: BTreeMap::new(),
            total_calls: 0,
            call_fault_hook: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Replace the faults (e.g. to let them heal).
    pub fn set_faults(&mut self, faults: Faults) {
        self.config.faults = faults;
    }

    /// Now, on the injected clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    // ---- accounting and fault injection -------------------------------------------------

    /// Count a call to `endpoint` (e.g. `GET /rest/api/3/issue/{id}`) and decide whether a
    /// fault answers it instead. Called by the HTTP face before every request.
    pub fn admit(&mut self, endpoint: &str) -> Result<(), SimError> {
        *self.calls.entry(endpoint.to_owned()).or_default() += 1;
        self.total_calls += 1;
        // Always draw both numbers so one fault's setting does not shift the other's.
        let rate_draw: f64 = self.api_rng.random();
        let error_draw: f64 = self.api_rng.random();
        let f = &self.config.faults;
        let every = f
            .rate_limit_every
            .is_some_and(|n| n > 0 && self.total_calls % n == 0);
        if every || rate_draw < f.rate_limit_probability {
            return Err(SimError::RateLimited {
                retry_after_s: f.retry_after_s,
            });
        }
        if error_draw < f.server_error_probability {
            let status = if error_draw < f.server_error_probability / 2.0 {
                500
            } else {
                503
            };
            return Err(SimError::ServerError { status });
        }
        Ok(())
    }

    /// Consults `hook` on every API call [`SimJira::admit`] lets in (`None` removes it).
    pub fn set_call_fault_hook(&mut self, hook: Option<CallFaultHook>) {
        self.call_fault_hook = hook;
    }

    /// The fault the hook injects into a call to `endpoint`, if any.
    pub fn call_fault(&mut self, endpoint: &str) -> Option<CallFault> {
        self.call_fault_hook.as_mut().and_then(|h| h(endpoint))
    }

    /// Calls per endpoint, including those answered by a fault.
    pub fn call_counts(&self) -> &BTreeMap<String, u64> {
        &self.calls
    }

    /// Calls over all endpoints.
    pub fn total_calls(&self) -> u64 {
        self.total_calls
    }

    /// What happened to webhook deliveries so far.
    pub fn delivery_stats(&self) -> &DeliveryStats {
        &self.stats
    }

    // ---- issues ------------------------------------------------------------------------

    fn resolve(&self, id_or_key: &str) -> Result<u64, SimError> {
        let found = match id_or_key.parse::<u64>() {
            Ok(id) => self.issues.contains_key(&id).then_some(id),
            Err(_) => self
                .issues
                .values()
                .find(|i| i.key.eq_ignore_ascii_case(id_or_key))
                .map(|i| i.id),
        };
        found.ok_or_else(|| {
            SimError::NotFound(
                "Issue does not exist or you do not have permission to see it.".into(),
            )
        })
    }

    fn user(&self, account_id: &str) -> SimUser {
        std::iter::once(&self.config.api_user)
            .chain(self.config.people.iter())
            .find(|u| u.account_id == account_id)
            .cloned()
            .unwrap_or_else(|| SimUser::new(account_id, account_id))
    }

    fn custom(&self, id: &str) -> Option<&SimField> {
        self.config.custom_fields.iter().find(|f| f.id == id)
    }

    /// Turn a field value as a client sends it into the stored REST v3 shape.
    fn normalize(&self, field: &str, value: &Value) -> Result<Value, SimError> {
        let base = &self.config.base_url;
        let bad = |m: &str| Err(SimError::field(field, m));
        if value.is_null() {
            return match field {
                "summary" => bad("You must specify a summary of the issue."),
                "status" | "project" | "issuetype" => {
                    bad(&format!("Field '{field}' cannot be cleared."))
                }
                "labels" => Ok(json!([])),
                _ => Ok(Value::Null),
            };
        }
        match field {
            "summary" => match value.as_str() {
                Some(s) if !s.trim().is_empty() && !s.contains('\n') => Ok(value.clone()),
                Some(s) if s.contains('\n') => bad("The summary is invalid because it contains newline characters."),
                _ => bad("You must specify a summary of the issue."),
            },
            "description" | "environment" => {
                if is_adf(value) {
                    Ok(value.clone())
                } else {
                    bad("Operation value must be an Atlassian Document (see the Atlassian Document Format)")
                }
            }
            "labels" => {
                let Some(items) = value.as_array() else { return bad("data was not an array") };
                let mut labels = Vec::new();
                for l in items {
                    let Some(s) = l.as_str() else { return bad("data was not an array of strings") };
                    if s.contains(char::is_whitespace) {
                        return bad(&format!("The label '{s}' contains spaces which is invalid."));
                    }
                    if !labels.iter().any(|x: &String| x == s) {
                        labels.push(s.to_owned());
                    }
                }
                Ok(json!(labels))
            }
            "priority" => {
                let want_id = value.get("id").and_then(Value::as_str);
                let want_name = value.get("name").and_then(Value::as_str);
                PRIORITIES
                    .iter()
                    .find(|(id, name)| Some(*id) == want_id || Some(*name) == want_name)
                    .map(|(id, name)| json!({"self": format!("{base}/rest/api/3/priority/{id}"), "id": id, "name": name, "iconUrl": format!("{base}/images/icons/priorities/{}.svg", name.to_lowercase())}))
                    .map_or_else(|| bad("Specify the Priority (id or name) in the correct format"), Ok)
            }
            "assignee" | "reporter" => match value.get("accountId").and_then(Value::as_str) {
                Some(a) => Ok(user_json(base, &self.user(a))),
                None => bad("Specify a valid value for assignee: an object with accountId"),
            },
            "issuetype" => {
                let want_id = value.get("id").and_then(Value::as_str);
                let want_name = value.get("name").and_then(Value::as_str);
                ISSUE_TYPES
                    .iter()
                    .find(|(id, name)| Some(*id) == want_id || Some(*name) == want_name)
                    .map(|(id, name)| json!({"self": format!("{base}/rest/api/3/issuetype/{id}"), "id": id, "name": name, "subtask": false}))
                    .map_or_else(|| bad("Specify an issue type"), Ok)
            }
            "status" | "resolution" | "project" | "created" | "updated" | "creator" => {
                bad(&format!("Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."))
            }
            custom => match self.custom(custom).map(|f| f.kind.clone()) {
                None => bad(&format!("Field '{custom}' cannot be set. It is not on the appropriate screen, or unknown.")),
                Some(SimFieldKind::Number) => match value.as_f64() {
                    Some(_) => Ok(value.clone()),
                    None => bad("Operation value must be a number"),
                },
                Some(SimFieldKind::Text) => match value.as_str() {
                    Some(_) => Ok(value.clone()),
                    None => bad("Operation value must be a string"),
                },
                Some(SimFieldKind::RichText) => {
                    if is_adf(value) {
                        Ok(value.clone())
                    } else {
                        bad("Operation value must be an Atlassian Document (see the Atlassian Document Format)")
                    }
                }
                Some(SimFieldKind::Select(options)) => {
                    let want_id = value.get("id").and_then(Value::as_str);
                    let want_value = value.get("value").and_then(Value::as_str);
                    options
                        .iter()
                        .find(|(id, v)| Some(id.as_str()) == want_id || Some(v.as_str()) == want_value)
                        .map(|(id, v)| json!({"self": format!("{base}/rest/api/3/customFieldOption/{id}"), "value": v, "id": id}))
                        .map_or_else(
                            || bad(&format!("Option value '{}' is not valid", want_value.or(want_id).unwrap_or(""))),
                            Ok,
                        )
                }
            },
        }
    }

    /// The changelog item (webhook shape) for a field going from `old` to `new`.
    fn change_item(&self, field: &str, old: &Value, new: &Value) -> Value {
        let custom = self.custom(field);
        let name = custom.map_or_else(|| field.to_owned(), |f| f.name.clone());
        let fieldtype = if custom.is_some() { "custom" } else { "jira" };
        let id_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let (from, from_s, to, to_s, from_acc, to_acc): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            bool,
            bool,
        ) = match field {
            "assignee" | "reporter" => (
                id_of(old, "accountId"),
                id_of(old, "displayName"),
                id_of(new, "accountId"),
                id_of(new, "displayName"),
                true,
                true,
            ),
            "priority" | "status" | "resolution" | "issuetype" => (
                id_of(old, "id"),
                id_of(old, "name"),
                id_of(new, "id"),
                id_of(new, "name"),
                false,
                false,
            ),
            "labels" => {
                let join = |v: &Value| {
                    v.as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .filter(|s| !s.is_empty())
                };
                (None, join(old), None, join(new), false, false)
            }
            _ => {
                let text = |v: &Value| -> Option<String> {
                    match v {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        v if is_adf(v) => adf_to_wiki(v).as_str().map(str::to_owned),
                        v if v.get("value").is_some() => id_of(v, "value"),
                        v => Some(v.to_string()),
                    }
                };
                match custom.map(|f| &f.kind) {
                    Some(SimFieldKind::Select(_)) => (
                        id_of(old, "id"),
                        text(old),
                        id_of(new, "id"),
                        text(new),
                        false,
                        false,
                    ),
                    _ => (None, text(old), None, text(new), false, false),
                }
            }
        };
        let mut item = json!({
            "field": name,
            "fieldtype": fieldtype,
            "fieldId": field,
            "from": from,
            "fromString": from_s,
            "to": to,
            "toString": to_s,
        });
        if from_acc || to_acc {
            item["tmpFromAccountId"] = json!(id_of(old, "accountId"));
            item["tmpToAccountId"] = json!(id_of(new, "accountId"));
        }
        item
    }

    /// A comment added or edited moves the issue's `updated`, as in Jira (so a search by
    /// `updated` finds an issue whose comments changed).
    fn touch_for_comment(&mut self, id: u64) {
        let Some(now) = self.issues.get(&id).map(|i| self.bump_updated(i)) else {
            return;
        };
        if let Some(issue) = self.issues.get_mut(&id) {
            issue.updated_ms = now;
            issue
                .fields
                .insert("updated".into(), json!(format_jira_timestamp(now)));
        }
    }

    fn bump_updated(&self, issue: &SimIssue) -> i64 {
        // `updated` is the issue's version: keep it strictly increasing even when two
        // writes land in the same millisecond of a virtual clock.
        self.now_ms().max(issue.updated_ms + 1)
    }

    /// Create an issue as `actor` (REST `POST /issue` uses the API user). `fields` in REST
    /// v3 shape; `properties` are entity properties set atomically with the create.
    pub fn create_issue(
        &mut self,
        fields: &Map<String, Value>,
        properties: &[(String, Value)],
        actor: &str,
    ) -> Result<(String, String), SimError> {
        let project = fields
            .get("project")
            .and_then(|p| p.get("key").or_else(|| p.get("id")))
            .and_then(Value::as_str)
            .and_then(|k| {
                self.config
                    .projects
                    .iter()
                    .find(|p| p.eq_ignore_ascii_case(k))
            })
            .cloned()
            .ok_or_else(|| SimError::field("project", "Specify a valid project ID or key"))?;
        if !fields.contains_key("summary") {
            return Err(SimError::field(
                "summary",
                "You must specify a summary of the issue.",
            ));
        }
        let issuetype = fields
            .get("issuetype")
            .ok_or_else(|| SimError::field("issuetype", "Specify an issue type"))?;
        let now = self.now_ms();
        let base = self.config.base_url.clone();
        let mut stored = Map::new();
        stored.insert("issuetype".into(), self.normalize("issuetype", issuetype)?);
        let mut errors = BTreeMap::new();
        for (k, v) in fields {
            if matches!(k.as_str(), "project" | "issuetype") {
                continue;
            }
            match self.normalize(k, v) {
                Ok(n) => {
                    stored.insert(k.clone(), n);
                }
                Err(SimError::BadRequest { errors: e, .. }) => errors.extend(e),
                Err(e) => return Err(e),
            }
        }
        if !errors.is_empty() {
            return Err(SimError::BadRequest {
                messages: vec![],
                errors,
            });
        }
        let counter = self.key_counters.entry(project.clone()).or_default();
        *counter += 1;
        let key = format!("{project}-{counter}");
        let id = self.next_issue_id;
        self.next_issue_id += 1;
        let actor_user = self.user(actor);
        stored.insert(
            "project".into(),
            json!({"self": format!("{base}/rest/api/3/project/{project}"), "id": "10000", "key": project, "name": project, "projectTypeKey": "software"}),
        );
        stored.insert("status".into(), status_json(&base, &STATUSES[0]));
        stored.insert("resolution".into(), Value::Null);
        stored.insert("resolutiondate".into(), Value::Null);
        stored.entry("priority").or_insert_with(|| json!({"self": format!("{base}/rest/api/3/priority/3"), "id": "3", "name": "Medium"}));
        stored.entry("labels").or_insert_with(|| json!([]));
        stored.entry("assignee").or_insert(Value::Null);
        stored.entry("description").or_insert(Value::Null);
        stored.insert("reporter".into(), user_json(&base, &actor_user));
        stored.insert("creator".into(), user_json(&base, &actor_user));
        stored.insert("created".into(), json!(format_jira_timestamp(now)));
        stored.insert("updated".into(), json!(format_jira_timestamp(now)));
        stored.insert(
            "statuscategorychangedate".into(),
            json!(format_jira_timestamp(now)),
        );
        for cf in &self.config.custom_fields {
            stored.entry(cf.id.clone()).or_insert(Value::Null);
        }

        let mut items = Vec::new();
        for (k, v) in &stored {
            let interesting = matches!(
                k.as_str(),
                "summary" | "description" | "priority" | "assignee" | "labels" | "status"
            ) || self.custom(k).is_some();
            if interesting && !v.is_null() && v != &json!([]) {
                items.push(self.change_item(k, &Value::Null, v));
            }
        }
        let issue = SimIssue {
            id,
            key: key.clone(),
            project_key: project,
            fields: stored,
            created_ms: now,
            updated_ms: now,
            history: Vec::new(),
            comments: Vec::new(),
            properties: properties.iter().cloned().collect(),
        };
        self.issues.insert(id, issue);
        let changelog = self.record_history(id, actor, now, items);
        self.emit_issue_event(
            id,
            "jira:issue_created",
            "issue_created",
            actor,
            Some(changelog),
            None,
        );
        Ok((id.to_string(), key))
    }

    fn record_history(&mut self, id: u64, actor: &str, now: i64, items: Vec<Value>) -> Value {
        let cid = self.next_changelog_id;
        self.next_changelog_id += 1;
        let author = user_json(&self.config.base_url, &self.user(actor));
        let entry = json!({"id": cid.to_string(), "author": author, "created": format_jira_timestamp(now), "items": items});
        if let Some(issue) = self.issues.get_mut(&id) {
            issue.history.push(entry);
        }
        json!({"id": cid.to_string(), "items": items})
    }

    /// Edit fields through REST (`PUT /issue`), as the API user.
    pub fn edit_issue(
        &mut self,
        id_or_key: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), SimError> {
        let actor = self.config.api_user.account_id.clone();
        self.edit(id_or_key, fields, &actor)
    }

    /// A person edits the issue in Jira's UI: the same changelog and webhooks as a real
    /// edit. For convenience `description` and rich-text custom fields may be given as
    /// Markdown strings; they are stored as ADF like the editor would.
    pub fn edit_as_person(
        &mut self,
        id_or_key: &str,
        fields: &Map<String, Value>,
        actor_account_id: &str,
    ) -> Result<(), SimError> {
        let mut converted = fields.clone();
        for (k, v) in converted.iter_mut() {
            let rich = k == "description"
                || matches!(
                    self.custom(k).map(|f| &f.kind),
                    Some(SimFieldKind::RichText)
                );
            if rich {
                if let Value::String(md) = v {
                    *v = md_to_adf(md);
                }
            }
        }
        self.edit(id_or_key, &converted, actor_account_id)
    }

    fn edit(
        &mut self,
        id_or_key: &str,
        fields: &Map<String, Value>,
        actor: &str,
    ) -> Result<(), SimError> {
        let id = self.resolve(id_or_key)?;
        let mut normalized = Vec::new();
        let mut errors = BTreeMap::new();
        for (k, v) in fields {
            match self.normalize(k, v) {
                Ok(n) => normalized.push((k.clone(), n)),
                Err(SimError::BadRequest { errors: e, .. }) => errors.extend(e),
                Err(e) => return Err(e),
            }
        }
        if !errors.is_empty() {
            return Err(SimError::BadRequest {
                messages: vec![],
                errors,
            });
        }
        let Some(issue) = self.issues.get(&id) else {
            return Err(SimError::NotFound("Issue does not exist".into()));
        };
        let mut items = Vec::new();
        for (k, v) in &normalized {
            let old = issue.fields.get(k).cloned().unwrap_or(Value::Null);
            if &old != v {
                items.push((k.clone(), self.change_item(k, &old, v), v.clone()));
            }
        }
        if items.is_empty() {
            // Jira accepts a no-op edit and neither bumps `updated` nor fires a webhook.
            return Ok(());
        }
        let now = self.bump_updated(issue);
        let assigned_only = items.len() == 1 && items[0].0 == "assignee";
        let issue = self
            .issues
            .get_mut(&id)
            .ok_or_else(|| SimError::NotFound("Issue does not exist".into()))?;
        for (k, _, v) in &items {
            issue.fields.insert(k.clone(), v.clone());
        }
        issue.updated_ms = now;
        issue
            .fields
            .insert("updated".into(), json!(format_jira_timestamp(now)));
        let changed: Vec<String> = items.iter().map(|(k, _, _)| k.clone()).collect();
        let changelog = self.record_history(
            id,
            actor,
            now,
            items.into_iter().map(|(_, i, _)| i).collect(),
        );
        let type_name = if assigned_only {
            "issue_assigned"
        } else {
            "issue_updated"
        };
        self.emit_issue_event(
            id,
            "jira:issue_updated",
            type_name,
            actor,
            Some(changelog),
            Some(&changed),
        );
        Ok(())
    }

    /// The issue in REST v3 shape; `fields` limits the fields (`*all` or none: all).
    pub fn get_issue(&self, id_or_key: &str, fields: Option<&[String]>) -> Result<Value, SimError> {
        let id = self.resolve(id_or_key)?;
        let issue = &self.issues[&id];
        Ok(self.issue_json(issue, fields))
    }

    /// The issue with every field of the site, empty ones as `null`, as Jira returns an
    /// issue with all its fields (the answer of an edit with `returnIssue=true`).
    pub fn issue_with_every_field(&self, id_or_key: &str) -> Result<Value, SimError> {
        let mut v = self.get_issue(id_or_key, None)?;
        let ids: Vec<String> = self
            .fields_meta()
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        if let Some(fields) = v.get_mut("fields").and_then(Value::as_object_mut) {
            for id in ids {
                fields.entry(id).or_insert(Value::Null);
            }
        }
        Ok(v)
    }

    fn issue_json(&self, issue: &SimIssue, fields: Option<&[String]>) -> Value {
        let all = fields
            .is_none_or(|f| f.is_empty() || f.iter().any(|x| x == "*all" || x == "*navigable"));
        let selected: Map<String, Value> = issue
            .fields
            .iter()
            .filter(|(k, _)| all || fields.is_some_and(|f| f.iter().any(|x| x == *k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id.to_string(),
            "self": format!("{}/rest/api/3/issue/{}", self.config.base_url, issue.id),
            "key": issue.key,
            "fields": selected,
        })
    }

    /// Delete an issue (REST, or a person when `actor` is theirs).
    pub fn delete_issue(&mut self, id_or_key: &str, actor: &str) -> Result<(), SimError> {
        let id = self.resolve(id_or_key)?;
        // Webhook filters see the issue as it was, so emit before removing it.
        self.emit_issue_event(id, "jira:issue_deleted", "issue_deleted", actor, None, None);
        if let Some(issue) = self.issues.remove(&id) {
            self.deleted.insert(id, issue.key);
        }
        Ok(())
    }

    /// Ids of the live issues, ascending.
    pub fn issue_ids(&self) -> Vec<String> {
        self.issues.keys().map(u64::to_string).collect()
    }

    /// The stored fields of an issue (REST v3 shape).
    pub fn issue_fields(&self, id_or_key: &str) -> Option<&Map<String, Value>> {
        self.resolve(id_or_key)
            .ok()
            .and_then(|id| self.issues.get(&id))
            .map(|i| &i.fields)
    }

    /// The changelog history of an issue (REST `changelog` entries).
    pub fn issue_history(&self, id_or_key: &str) -> Result<Vec<Value>, SimError> {
        let id = self.resolve(id_or_key)?;
        Ok(self.issues[&id].history.clone())
    }

    // ---- workflow -----------------------------------------------------------------------

    fn status_of(&self, id: u64) -> &'static Status {
        self.issues[&id]
            .fields
            .get("status")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .and_then(status_by_id)
            .unwrap_or(&STATUSES[0])
    }

    /// `GET /issue/{id}/transitions`: those available from the current status. With
    /// `expand_fields` the screen fields are listed (the transition into Done requires a
    /// resolution).
    pub fn transitions(&self, id_or_key: &str, expand_fields: bool) -> Result<Value, SimError> {
        let id = self.resolve(id_or_key)?;
        let from = self.status_of(id).id;
        let base = &self.config.base_url;
        let list: Vec<Value> = TRANSITIONS
            .iter()
            .filter(|t| t.2 == from)
            .filter_map(|(tid, name, _, to, needs_res)| {
                let to = status_by_id(to)?;
                let mut t = json!({
                    "id": tid, "name": name, "to": status_json(base, to),
                    "hasScreen": needs_res, "isGlobal": false, "isInitial": false,
                    "isAvailable": true, "isConditional": false, "isLooped": false,
                });
                if expand_fields {
                    let fields = if *needs_res {
                        json!({"resolution": {
                            "required": true, "hasDefaultValue": false, "key": "resolution", "name": "Resolution",
                            "operations": ["set"], "schema": {"type": "resolution", "system": "resolution"},
                            "allowedValues": RESOLUTIONS.iter().map(|(i, n)| json!({"self": format!("{base}/rest/api/3/resolution/{i}"), "id": i, "name": n})).collect::<Vec<_>>(),
                        }})
                    } else {
                        json!({})
                    };
                    t["fields"] = fields;
                }
                Some(t)
            })
            .collect();
        Ok(json!({"expand": "transitions", "transitions": list}))
    }

    /// `POST /issue/{id}/transitions` with `{"transition":{"id":..},"fields":{..}}`, as
    /// `actor`.
    pub fn do_transition(
        &mut self,
        id_or_key: &str,
        body: &Value,
        actor: &str,
    ) -> Result<(), SimError> {
        let id = self.resolve(id_or_key)?;
        let tid = body
            .get("transition")
            .and_then(|t| t.get("id"))
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .ok_or_else(|| SimError::message("Missing 'transition' identifier"))?;
        let from = self.status_of(id);
        let Some(&(_, _, _, to_id, needs_res)) =
            TRANSITIONS.iter().find(|t| t.0 == tid && t.2 == from.id)
        else {
            return Err(SimError::message(format!(
                "Transition id '{tid}' is not valid for this issue."
            )));
        };
        let to = status_by_id(to_id).unwrap_or(&STATUSES[0]);
        let base = self.config.base_url.clone();
        let res_in = body.get("fields").and_then(|f| f.get("resolution"));
        let resolution = match (needs_res, res_in) {
            (true, None) | (true, Some(Value::Null)) => {
                return Err(SimError::field("resolution", "Resolution is required."));
            }
            (false, Some(r)) if !r.is_null() => {
                return Err(SimError::field(
                    "resolution",
                    "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown.",
                ));
            }
            (true, Some(r)) => {
                let want_id = r.get("id").and_then(Value::as_str);
                let want_name = r.get("name").and_then(Value::as_str);
                let (rid, rname) = RESOLUTIONS
                    .iter()
                    .find(|(i, n)| Some(*i) == want_id || Some(*n) == want_name)
                    .ok_or_else(|| SimError::field("resolution", "Could not find resolution."))?;
                Some(
                    json!({"self": format!("{base}/rest/api/3/resolution/{rid}"), "id": rid, "name": rname, "description": ""}),
                )
            }
            _ => None,
        };
        let issue = &self.issues[&id];
        let now = self.bump_updated(issue);
        let old_status = issue.fields.get("status").cloned().unwrap_or(Value::Null);
        let old_res = issue
            .fields
            .get("resolution")
            .cloned()
            .unwrap_or(Value::Null);
        let new_status = status_json(&base, to);
        let new_res = if to.category.1 == "done" {
            resolution.unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let mut items = Vec::new();
        if old_res != new_res {
            items.push(self.change_item("resolution", &old_res, &new_res));
        }
        items.push(self.change_item("status", &old_status, &new_status));
        let issue = self
            .issues
            .get_mut(&id)
            .ok_or_else(|| SimError::NotFound("Issue does not exist".into()))?;
        issue.fields.insert("status".into(), new_status);
        issue.fields.insert(
            "resolutiondate".into(),
            if new_res.is_null() {
                Value::Null
            } else {
                json!(format_jira_timestamp(now))
            },
        );
        issue.fields.insert("resolution".into(), new_res);
        issue.fields.insert(
            "statuscategorychangedate".into(),
            json!(format_jira_timestamp(now)),
        );
        issue
            .fields
            .insert("updated".into(), json!(format_jira_timestamp(now)));
        issue.updated_ms = now;
        let changelog = self.record_history(id, actor, now, items);
        let changed = vec!["status".to_owned(), "resolution".to_owned()];
        self.emit_issue_event(
            id,
            "jira:issue_updated",
            "issue_generic",
            actor,
            Some(changelog),
            Some(&changed),
        );
        Ok(())
    }

    /// A person moves the issue to status `to_name` through the workflow, hop by hop,
    /// giving `resolution` where a screen asks for it.
    pub fn transition_as_person(
        &mut self,
        id_or_key: &str,
        to_name: &str,
        resolution: Option<&str>,
        actor: &str,
    ) -> Result<(), SimError> {
        let id = self.resolve(id_or_key)?;
        let target = STATUSES
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(to_name))
            .ok_or_else(|| SimError::message(format!("No status named '{to_name}'")))?;
        // Breadth-first over the workflow graph for the shortest path.
        let start = self.status_of(id).id;
        let mut prev: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        let mut frontier = vec![start];
        while !frontier.is_empty() && !prev.contains_key(target.id) && start != target.id {
            let mut next = Vec::new();
            for s in frontier {
                for t in TRANSITIONS.iter().filter(|t| t.2 == s) {
                    if t.3 != start && !prev.contains_key(t.3) {
                        prev.insert(t.3, (s, t.0));
                        next.push(t.3);
                    }
                }
            }
            frontier = next;
        }
        let mut path = Vec::new();
        let mut at = target.id;
        while at != start {
            let (p, tid) = prev
                .get(at)
                .ok_or_else(|| SimError::message("No path in the workflow"))?;
            path.push(*tid);
            at = p;
        }
        path.reverse();
        for tid in path {
            let needs = TRANSITIONS.iter().any(|t| t.0 == tid && t.4);
            let mut body = json!({"transition": {"id": tid}});
            if needs {
                body["fields"] = json!({"resolution": {"name": resolution.unwrap_or("Done")}});
            }
            self.do_transition(&id.to_string(), &body, actor)?;
        }
        Ok(())
    }

    // ---- comments -----------------------------------------------------------------------

    fn comment_json(&self, issue_id: u64, c: &SimComment, wiki: bool) -> Value {
        let base = &self.config.base_url;
        let api = if wiki { 2 } else { 3 };
        json!({
            "self": format!("{base}/rest/api/{api}/issue/{issue_id}/comment/{}", c.id),
            "id": c.id.to_string(),
            "author": user_json(base, &self.user(&c.author)),
            "body": if wiki { adf_to_wiki(&c.body) } else { c.body.clone() },
            "updateAuthor": user_json(base, &self.user(&c.update_author)),
            "created": format_jira_timestamp(c.created_ms),
            "updated": format_jira_timestamp(c.updated_ms),
            "jsdPublic": true,
        })
    }

    /// `GET /issue/{id}/comment`, paged by `startAt`/`maxResults`.
    pub fn comments(
        &self,
        id_or_key: &str,
        start_at: usize,
        max_results: usize,
    ) -> Result<Value, SimError> {
        let id = self.resolve(id_or_key)?;
        let issue = &self.issues[&id];
        let page: Vec<Value> = issue
            .comments
            .iter()
            .skip(start_at)
            .take(max_results)
            .map(|c| self.comment_json(id, c, false))
            .collect();
        Ok(
            json!({"startAt": start_at, "maxResults": max_results, "total": issue.comments.len(), "comments": page}),
        )
    }

    /// A person comments, typing `markdown` in the editor (stored as ADF).
    pub fn comment_as_person(
        &mut self,
        id_or_key: &str,
        markdown: &str,
        actor: &str,
    ) -> Result<Value, SimError> {
        self.add_comment(id_or_key, &json!({ "body": md_to_adf(markdown) }), actor)
    }

    /// `POST /issue/{id}/comment` with `{"body": <ADF>}`, as `actor`.
    pub fn add_comment(
        &mut self,
        id_or_key: &str,
        body: &Value,
        actor: &str,
    ) -> Result<Value, SimError> {
        let id = self.resolve(id_or_key)?;
        let body = comment_body(body)?;
        let now = self.now_ms();
        let cid = self.next_comment_id;
        self.next_comment_id += 1;
        let comment = SimComment {
            id: cid,
            author: actor.to_owned(),
            update_author: actor.to_owned(),
            body,
            created_ms: now,
            updated_ms: now,
        };
        let out = self.comment_json(id, &comment, false);
        if let Some(issue) = self.issues.get_mut(&id) {
            issue.comments.push(comment.clone());
        }
        self.touch_for_comment(id);
        self.emit_comment_event(id, &comment, "comment_created", actor);
        Ok(out)
    }

    /// `PUT /issue/{id}/comment/{cid}` with `{"body": <ADF>}`, as `actor`.
    pub fn update_comment(
        &mut self,
        id_or_key: &str,
        comment_id: &str,
        body: &Value,
        actor: &str,
    ) -> Result<Value, SimError> {
        let id = self.resolve(id_or_key)?;
        let body = comment_body(body)?;
        let now = self.now_ms();
        let issue = self
            .issues
            .get_mut(&id)
            .ok_or_else(|| SimError::NotFound("Issue does not exist".into()))?;
        let c = issue
            .comments
            .iter_mut()
            .find(|c| c.id.to_string() == comment_id)
            .ok_or_else(|| {
                SimError::NotFound(format!("Can not find a comment for the id: {comment_id}."))
            })?;
        c.body = body;
        c.update_author = actor.to_owned();
        c.updated_ms = now.max(c.updated_ms + 1);
        let comment = c.clone();
        self.touch_for_comment(id);
        self.emit_comment_event(id, &comment, "comment_updated", actor);
        Ok(self.comment_json(id, &comment, false))
    }

    /// Delete a comment.
    pub fn delete_comment(
        &mut self,
        id_or_key: &str,
        comment_id: &str,
        actor: &str,
    ) -> Result<(), SimError> {
        let id = self.resolve(id_or_key)?;
        let issue = self
            .issues
            .get_mut(&id)
            .ok_or_else(|| SimError::NotFound("Issue does not exist".into()))?;
        let pos = issue
            .comments
            .iter()
            .position(|c| c.id.to_string() == comment_id)
            .ok_or_else(|| {
                SimError::NotFound(format!("Can not find a comment for the id: {comment_id}."))
            })?;
        let comment = issue.comments.remove(pos);
        self.emit_comment_event(id, &comment, "comment_deleted", actor);
        Ok(())
    }

    // ---- properties ---------------------------------------------------------------------

    /// `GET /issue/{id}/properties/{key}`.
    pub fn get_property(&self, id_or_key: &str, key: &str) -> Result<Value, SimError> {
        let id = self.resolve(id_or_key)?;
        self.issues[&id]
            .properties
            .get(key)
            .map(|v| json!({"key": key, "value": v}))
            .ok_or_else(|| {
                SimError::NotFound(format!("The property with key '{key}' does not exist."))
            })
    }

    /// `PUT /issue/{id}/properties/{key}`; `true` when the property is new (HTTP 201).
    pub fn set_property(
        &mut self,
        id_or_key: &str,
        key: &str,
        value: Value,
    ) -> Result<bool, SimError> {
        let id = self.resolve(id_or_key)?;
        let issue = self
            .issues
            .get_mut(&id)
            .ok_or_else(|| SimError::NotFound("Issue does not exist".into()))?;
        Ok(issue.properties.insert(key.to_owned(), value).is_none())
    }

    // ---- search -------------------------------------------------------------------------

    /// `/search/jql`: issues matching `jql`, at most `max_results` (capped), after the
    /// page named by `next_page_token`. `fields` empty gives only ids, as Cloud does.
    pub fn search(
        &self,
        jql: &str,
        fields: &[String],
        max_results: Option<usize>,
        next_page_token: Option<&str>,
    ) -> Result<Value, SimError> {
        let query = Jql::parse(jql).map_err(SimError::message)?;
        let now = self.now_ms();
        let lag = self.config.faults.search_lag_ms;
        let mut hits: Vec<&SimIssue> = self
            .issues
            .values()
            .filter(|i| lag <= 0 || i.created_ms <= now - lag)
            .filter(|i| query.matches(&jql_view(i), now))
            .collect();
        hits.sort_by(|a, b| query.compare(&jql_view(a), &jql_view(b)));
        let start = match next_page_token {
            None => 0,
            Some(t) => decode_token(t).ok_or_else(|| {
                SimError::message("The provided next page token is invalid or expired.")
            })?,
        };
        let max = max_results
            .unwrap_or(50)
            .clamp(1, self.config.max_page_size.max(1));
        let page: Vec<Value> = hits
            .iter()
            .skip(start)
            .take(max)
            .map(|i| {
                if fields.is_empty() {
                    json!({"id": i.id.to_string()})
                } else {
                    self.issue_json(i, Some(fields))
                }
            })
            .collect();
        let end = start + page.len();
        let is_last = end >= hits.len();
        let mut out = json!({"issues": page, "isLast": is_last});
        if !is_last {
            out["nextPageToken"] = json!(encode_token(end));
        }
        Ok(out)
    }

    // ---- metadata -----------------------------------------------------------------------

    /// `GET /field`.
    pub fn fields_meta(&self) -> Value {
        let system = [
            ("summary", "Summary", "string"),
            ("description", "Description", "string"),
            ("status", "Status", "status"),
            ("resolution", "Resolution", "resolution"),
            ("priority", "Priority", "priority"),
            ("assignee", "Assignee", "user"),
            ("reporter", "Reporter", "user"),
            ("labels", "Labels", "array"),
            ("issuetype", "Issue Type", "issuetype"),
            ("project", "Project", "project"),
            ("created", "Created", "datetime"),
            ("updated", "Updated", "datetime"),
        ];
        let mut out: Vec<Value> = system
            .iter()
            .map(|(id, name, ty)| {
                let mut schema = json!({"type": ty, "system": id});
                if *id == "labels" {
                    schema["items"] = json!("string");
                }
                json!({"id": id, "key": id, "name": name, "custom": false, "orderable": true,
                       "navigable": true, "searchable": true, "clauseNames": [id], "schema": schema})
            })
            .collect();
        for f in &self.config.custom_fields {
            let (ty, custom) = match f.kind {
                SimFieldKind::Number => (
                    "number",
                    "com.atlassian.jira.plugin.system.customfieldtypes:float",
                ),
                SimFieldKind::Text => (
                    "string",
                    "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
                ),
                SimFieldKind::RichText => (
                    "string",
                    "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
                ),
                SimFieldKind::Select(_) => (
                    "option",
                    "com.atlassian.jira.plugin.system.customfieldtypes:select",
                ),
            };
            let num = f.id.trim_start_matches("customfield_");
            out.push(json!({"id": f.id, "key": f.id, "name": f.name, "custom": true, "orderable": true,
                "navigable": true, "searchable": true, "clauseNames": [format!("cf[{num}]"), f.name],
                "schema": {"type": ty, "custom": custom, "customId": num.parse::<u64>().unwrap_or(0)}}));
        }
        Value::Array(out)
    }

    /// `GET /serverInfo`.
    pub fn server_info(&self) -> Value {
        json!({
            "baseUrl": self.config.base_url, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud", "buildNumber": 100_000, "buildDate": "2024-01-01T00:00:00.000+0000",
            "serverTime": format_jira_timestamp(self.now_ms()), "scmInfo": "simulator", "serverTitle": "Jira simulator",
        })
    }

    /// `GET /myself`.
    pub fn myself(&self) -> Value {
        user_json(&self.config.base_url, &self.config.api_user)
    }

    // ---- webhooks -----------------------------------------------------------------------

    /// `POST /webhook`: `{"url":..,"webhooks":[{"events":[..],"jqlFilter":..,"fieldIdsFilter":[..]}]}`.
    pub fn register_webhooks(&mut self, body: &Value) -> Result<Value, SimError> {
        let url = body
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| SimError::message("The webhook URL is missing."))?
            .to_owned();
        let hooks = body
            .get("webhooks")
            .and_then(Value::as_array)
            .ok_or_else(|| SimError::message("The webhooks list is missing."))?;
        let now = self.now_ms();
        let mut results = Vec::new();
        for h in hooks {
            let events: Vec<String> = h
                .get("events")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let jql_text = h
                .get("jqlFilter")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let jql = match Jql::parse(&jql_text) {
                Ok(j) if !jql_text.trim().is_empty() => j,
                Ok(_) => {
                    results.push(json!({"errors": ["The JQL filter is required."]}));
                    continue;
                }
                Err(e) => {
                    results.push(json!({"errors": [e]}));
                    continue;
                }
            };
            if events.is_empty() {
                results.push(json!({"errors": ["At least one event is required."]}));
                continue;
            }
            let field_ids = h
                .get("fieldIdsFilter")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let id = self.next_webhook_id;
            self.next_webhook_id += 1;
            self.webhooks.insert(
                id,
                Webhook {
                    id,
                    url: url.clone(),
                    events,
                    jql_text,
                    jql,
                    field_ids,
                    expires_ms: now + WEBHOOK_LIFETIME_MS,
                },
            );
            results.push(json!({"createdWebhookId": id}));
        }
        Ok(json!({"webhookRegistrationResult": results}))
    }

    /// `GET /webhook`.
    pub fn list_webhooks(&self, start_at: usize, max_results: usize) -> Value {
        let values: Vec<Value> = self
            .webhooks
            .values()
            .skip(start_at)
            .take(max_results)
            .map(|w| {
                let mut v = json!({"id": w.id, "events": w.events, "jqlFilter": w.jql_text, "url": w.url,
                    "expirationDate": format_jira_timestamp(w.expires_ms)});
                if !w.field_ids.is_empty() {
                    v["fieldIdsFilter"] = json!(w.field_ids);
                }
                v
            })
            .collect();
        let total = self.webhooks.len();
        json!({"startAt": start_at, "maxResults": max_results, "total": total,
               "isLast": start_at + values.len() >= total, "values": values})
    }

    /// `DELETE /webhook` with `{"webhookIds":[..]}`.
    pub fn delete_webhooks(&mut self, ids: &[i64]) {
        for id in ids {
            self.webhooks.remove(id);
        }
    }

    /// `PUT /webhook/refresh`: extend the given webhooks by 30 days from now.
    pub fn refresh_webhooks(&mut self, ids: &[i64]) -> Value {
        let exp = self.now_ms() + WEBHOOK_LIFETIME_MS;
        for id in ids {
            if let Some(w) = self.webhooks.get_mut(id) {
                w.expires_ms = exp;
            }
        }
        json!({"expirationDate": format_jira_timestamp(exp)})
    }

    fn issue_webhook_json(&self, issue: &SimIssue, subset: bool) -> Value {
        let base = &self.config.base_url;
        let mut fields = Map::new();
        for (k, v) in &issue.fields {
            if subset
                && !matches!(
                    k.as_str(),
                    "summary" | "status" | "priority" | "assignee" | "issuetype" | "project"
                )
            {
                continue;
            }
            let rich = k == "description"
                || k == "environment"
                || matches!(
                    self.custom(k).map(|f| &f.kind),
                    Some(SimFieldKind::RichText)
                );
            fields.insert(k.clone(), if rich { adf_to_wiki(v) } else { v.clone() });
        }
        json!({"id": issue.id.to_string(), "self": format!("{base}/rest/api/2/issue/{}", issue.id), "key": issue.key, "fields": fields})
    }

    fn matching_hooks(
        &self,
        issue: &SimIssue,
        event: &str,
        changed: Option<&[String]>,
    ) -> Vec<(i64, String)> {
        let now = self.now_ms();
        self.webhooks
            .values()
            .filter(|w| w.expires_ms > now)
            .filter(|w| w.events.iter().any(|e| e == event))
            .filter(|w| w.jql.matches(&jql_view(issue), now))
            .filter(|w| match (changed, w.field_ids.is_empty()) {
                (Some(c), false) => c.iter().any(|f| w.field_ids.contains(f)),
                _ => true,
            })
            .map(|w| (w.id, w.url.clone()))
            .collect()
    }

    fn emit_issue_event(
        &mut self,
        id: u64,
        event: &str,
        type_name: &str,
        actor: &str,
        changelog: Option<Value>,
        changed: Option<&[String]>,
    ) {
        let Some(issue) = self.issues.get(&id) else {
            return;
        };
        let hooks = self.matching_hooks(issue, event, changed);
        if hooks.is_empty() {
            return;
        }
        let mut body = json!({
            "timestamp": self.now_ms(),
            "webhookEvent": event,
            "issue_event_type_name": type_name,
            "user": user_json(&self.config.base_url, &self.user(actor)),
            "issue": self.issue_webhook_json(issue, false),
        });
        if let Some(cl) = changelog {
            body["changelog"] = cl;
        }
        self.enqueue(hooks, event, body);
    }

    fn emit_comment_event(&mut self, id: u64, comment: &SimComment, event: &str, _actor: &str) {
        let Some(issue) = self.issues.get(&id) else {
            return;
        };
        let hooks = self.matching_hooks(issue, event, None);
        if hooks.is_empty() {
            return;
        }
        let body = json!({
            "timestamp": self.now_ms(),
            "webhookEvent": event,
            "comment": self.comment_json(id, comment, true),
            "issue": self.issue_webhook_json(issue, true),
        });
        self.enqueue(hooks, event, body);
    }

    fn enqueue(&mut self, hooks: Vec<(i64, String)>, event: &str, mut body: Value) {
        let now = self.now_ms();
        for (hook_id, url) in hooks {
            body["matchedWebhookIds"] = json!([hook_id]);
            let raw = serde_json::to_vec(&body).unwrap_or_default();
            self.stats.produced += 1;
            // A fixed number of draws per delivery keeps the sequence stable whatever
            // the fault settings are.
            let f = self.config.faults.clone();
            let lose: f64 = self.hook_rng.random();
            let dup: f64 = self.hook_rng.random();
            let reorder: f64 = self.hook_rng.random();
            let (lo, hi) = (
                f.webhook_delay_ms.0.max(0),
                f.webhook_delay_ms.1.max(f.webhook_delay_ms.0).max(0),
            );
            let delay = self.hook_rng.random_range(lo..=hi);
            let dup_delay = self.hook_rng.random_range(lo..=hi.max(lo + 1000));
            let hold = self
                .hook_rng
                .random_range(0..=f.webhook_reorder_window_ms.max(0));
            let identifier = format!("{:016x}", self.hook_rng.random::<u64>());
            if lose < f.webhook_loss {
                self.stats.lost += 1;
                continue;
            }
            let mut due = now + delay;
            if reorder < f.webhook_reorder {
                self.stats.reordered += 1;
                due += hold;
            }
            let delivery = self.make_delivery(&identifier, &url, hook_id, event, raw, 0);
            self.push(due, delivery.clone());
            if dup < f.webhook_duplicate {
                self.stats.duplicated += 1;
                self.push(due + dup_delay, delivery);
            }
        }
    }

    fn make_delivery(
        &self,
        identifier: &str,
        url: &str,
        hook_id: i64,
        event: &str,
        body: Vec<u8>,
        retry: u32,
    ) -> Delivery {
        let mut headers = vec![
            (
                "Content-Type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            ),
            (DELIVERY_ID_HEADER.to_owned(), identifier.to_owned()),
            ("X-Atlassian-Webhook-Flow".to_owned(), "Primary".to_owned()),
        ];
        if retry > 0 {
            headers.push((RETRY_HEADER.to_owned(), retry.to_string()));
        }
        if let Some(secret) = &self.config.webhook_secret {
            headers.push((SIGNATURE_HEADER.to_owned(), sign(secret, &body)));
        }
        Delivery {
            identifier: identifier.to_owned(),
            url: url.to_owned(),
            headers,
            body,
            webhook_id: hook_id,
            event: event.to_owned(),
            retry,
        }
    }

    fn push(&mut self, due_ms: i64, delivery: Delivery) {
        let seq = self.next_delivery_seq;
        self.next_delivery_seq += 1;
        self.queue.push(Queued {
            due_ms,
            seq,
            delivery,
        });
    }

    /// Take the deliveries due by now, in due order (ties in the order they were queued).
    pub fn drain_due(&mut self) -> Vec<Delivery> {
        let now = self.now_ms();
        self.queue.sort_by_key(|q| (q.due_ms, q.seq));
        let split = self.queue.partition_point(|q| q.due_ms <= now);
        self.queue.drain(..split).map(|q| q.delivery).collect()
    }

    /// Take every queued delivery regardless of due time, in due order.
    pub fn drain_all(&mut self) -> Vec<Delivery> {
        self.queue.sort_by_key(|q| (q.due_ms, q.seq));
        self.queue.drain(..).map(|q| q.delivery).collect()
    }

    /// When the next queued delivery is due.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.queue.iter().map(|q| q.due_ms).min()
    }

    /// Deliveries waiting.
    pub fn pending_deliveries(&self) -> usize {
        self.queue.len()
    }

    /// The receiver did not take `delivery` (error or non-2xx): Cloud retries it later
    /// with the same identifier, with growing back-off, up to [`MAX_DELIVERY_RETRIES`].
    pub fn delivery_failed(&mut self, delivery: Delivery) {
        if delivery.retry >= MAX_DELIVERY_RETRIES {
            self.stats.given_up += 1;
            return;
        }
        let retry = delivery.retry + 1;
        let backoff = 10_000 * i64::from(retry) * i64::from(retry);
        let d = self.make_delivery(
            &delivery.identifier,
            &delivery.url,
            delivery.webhook_id,
            &delivery.event,
            delivery.body,
            retry,
        );
        self.stats.retried += 1;
        let due = self.now_ms() + backoff;
        self.push(due, d);
    }
}

fn jql_view(i: &SimIssue) -> JqlIssue<'_> {
    JqlIssue {
        id: i.id,
        key: &i.key,
        project_key: &i.project_key,
        labels: i
            .fields
            .get("labels")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
        status: i
            .fields
            .get("status")
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .unwrap_or(""),
        assignee: i
            .fields
            .get("assignee")
            .and_then(|a| a.get("accountId"))
            .and_then(Value::as_str),
        updated_ms: i.updated_ms,
        created_ms: i.created_ms,
    }
}

fn comment_body(request: &Value) -> Result<Value, SimError> {
    match request.get("body") {
        Some(b) if is_adf(b) => Ok(b.clone()),
        Some(Value::String(_)) => Err(SimError::field(
            "comment",
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        )),
        _ => Err(SimError::field("comment", "Comment body can not be empty!")),
    }
}

fn encode_token(offset: usize) -> String {
    hex::encode(format!("sim-page:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let raw = hex::decode(token).ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("sim-page:")?
        .parse()
        .ok()
}
