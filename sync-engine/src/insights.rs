//! What a dashboard or a person resolving conflicts asks the runtime for beyond the API's operations ([`super::ops`]): a
//! conflict with its merge proposal, a project's dashboard numbers (computed from the link
//! projections and the sync log the store already keeps), a Jira site's health, the failing
//! links with their last error, the writes of a work item on their way, a retry of one
//! link, and a JQL preview count.
//!
//! Architecture invariant, as for `ops`: nothing here decides a sync rule. The one change
//! ([`Runtime::retry_link`]) is the same link command the API's retry sends; the merge
//! proposal is the domain's own merge functions.

use std::collections::BTreeMap;

use sync_domain::link::{text_merge, union_merge, IntentState, LinkCommand, LinkStatus, Millis};
use sync_domain::{Value, ValueKind};
use sync_store::{AttemptOutcome, EventMetadata, LinkView, Source, SyncAttempt};

use super::ops::{ConflictInfo, LinkInfo};
use super::Error;
use super::Runtime;

/// The windows the dashboard counts syncs over: label and length.
pub const DASHBOARD_WINDOWS: [(&str, u64); 3] = [
    ("24 h", 24 * 3_600_000),
    ("7 d", 7 * 24 * 3_600_000),
    ("30 d", 30 * 24 * 3_600_000),
];

/// Every link status, in the order the dashboard lists them.
pub const LINK_STATUSES: [LinkStatus; 6] = [
    LinkStatus::Synced,
    LinkStatus::PendingPush,
    LinkStatus::PendingPull,
    LinkStatus::Conflict,
    LinkStatus::Error,
    LinkStatus::Unlinked,
];

/// An open conflict with what a person needs to settle it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConflictDetail {
    /// The conflict as the API shows it.
    pub info: ConflictInfo,
    /// The field's value kind (`text`, `rich_text`, `option_set`, ...).
    pub kind: ValueKind,
    /// The value the merge editor starts with: the domain's 3-way merge of text, the union
    /// for sets, Handoff's value for other kinds.
    pub proposal: Value,
    /// Whether the proposal merged cleanly (false: overlapping text edits, shown with
    /// conflict markers for a person to settle).
    pub proposal_clean: bool,
}

/// Syncs in one window.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowCounts {
    /// `24 h`, `7 d`, `30 d`.
    pub label: &'static str,
    /// Write attempts that succeeded.
    pub succeeded: u64,
    /// Write attempts that failed (retried, held or given up).
    pub failed: u64,
}

impl WindowCounts {
    /// Succeeded / all, or `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        let all = self.succeeded + self.failed;
        (all > 0).then(|| self.succeeded as f64 / all as f64)
    }
}

/// One day of the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct DayCounts {
    /// The day's start (UTC midnight), epoch milliseconds.
    pub day_start: Millis,
    /// Succeeded attempts.
    pub succeeded: u64,
    /// Failed attempts.
    pub failed: u64,
}

/// A project's numbers for the dashboard.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectDashboard {
    /// The project.
    pub project_id: String,
    /// Its Jira site's name.
    pub site: String,
    /// Its Jira project key.
    pub jira_project_key: String,
    /// Links per status (every status, zeros included).
    pub links_by_status: Vec<(String, u64)>,
    /// Open conflicts.
    pub open_conflicts: u64,
    /// Writes not finished (the queue's depth).
    pub queue_depth: u64,
    /// When a write of one of its links last succeeded.
    pub last_sync_at: Option<Millis>,
    /// Attempts per window.
    pub windows: Vec<WindowCounts>,
    /// The median duration of the last 30 days' write attempts.
    pub latency_p50_ms: Option<u64>,
    /// Their 95th percentile.
    pub latency_p95_ms: Option<u64>,
    /// Failed attempts of the last 30 days by class (classified from the recorded message).
    pub errors_by_class: Vec<(String, u64)>,
    /// The last 14 days, oldest first.
    pub days: Vec<DayCounts>,
}

/// What the engine knows of a Jira site's health.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteHealth {
    /// The site's name in the config.
    pub name: String,
    /// Its base URL.
    pub base_url: String,
    /// The engine's Jira account when the site answered and took the credentials, or why
    /// not.
    pub account: Result<String, String>,
    /// Whether the circuit breaker fails calls fast now.
    pub circuit_open: bool,
    /// Until when calls wait because the site rate-limited the engine, if they do now.
    pub rate_limited_until: Option<Millis>,
    /// The dynamic webhooks registered (id, expiry), or why they could not be listed.
    pub webhooks: Result<Vec<(i64, Option<String>)>, String>,
}

/// A link in status `error`, with its last failure.
#[derive(Clone, Debug, PartialEq)]
pub struct FailingLink {
    /// The link.
    pub link: LinkInfo,
    /// The error class of its last failed attempt (classified from the message).
    pub error_class: String,
    /// The message of its last failed attempt, or of the write that gave up.
    pub message: String,
    /// When a write of it is due next, if one is scheduled.
    pub next_attempt_at: Option<Millis>,
}

/// A write of a link not finished yet.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingWrite {
    /// The intent's kind (`update_jira_fields`, ...).
    pub kind: String,
    /// The fields it writes.
    pub fields: Vec<String>,
    /// Where it stands: `due`, `retrying (attempt n)`, `held`, `gave up: ...`.
    pub state: String,
    /// When it is due, for an open one.
    pub due_at: Option<Millis>,
}

/// The class of a recorded write error, from its message: `rate_limited`, `auth`,
/// `not_found`, `network`, `server`, `rejected` or `other`.
pub fn error_class(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if has(&["rate limit", "rate-limit", "429", "too many requests"]) {
        "rate_limited"
    } else if has(&[
        "401",
        "403",
        "unauthor",
        "forbidden",
        "permission",
        "credential",
    ]) {
        "auth"
    } else if has(&["404", "not found", "does not exist", "deleted"]) {
        "not_found"
    } else if has(&["timeout", "timed out", "connect", "network", "circuit"]) {
        "network"
    } else if has(&["500", "502", "503", "504", "server error", "unavailable"]) {
        "server"
    } else if has(&["400", "invalid", "refused", "rejected", "cannot"]) {
        "rejected"
    } else {
        "other"
    }
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

/// The dashboard's numbers from a sync log: per window, latency p50 and p95, errors by
/// class, per day.
type AttemptNumbers = (
    Vec<WindowCounts>,
    Option<u64>,
    Option<u64>,
    Vec<(String, u64)>,
    Vec<DayCounts>,
);

/// The dashboard's numbers from a project's sync log, at `now`.
fn attempt_numbers(attempts: &[SyncAttempt], now: Millis) -> AttemptNumbers {
    const DAY: i64 = 24 * 3_600_000;
    let windows = DASHBOARD_WINDOWS
        .iter()
        .map(|(label, len)| {
            let since = now.saturating_sub(i64::try_from(*len).unwrap_or(i64::MAX));
            let mut w = WindowCounts {
                label,
                succeeded: 0,
                failed: 0,
            };
            for a in attempts
                .iter()
                .filter(|a| a.started_at > since && a.started_at <= now)
            {
                if a.outcome == AttemptOutcome::Succeeded {
                    w.succeeded += 1;
                } else {
                    w.failed += 1;
                }
            }
            w
        })
        .collect();
    let month_ago = now.saturating_sub(30 * DAY);
    let recent: Vec<&SyncAttempt> = attempts
        .iter()
        .filter(|a| a.started_at > month_ago && a.started_at <= now)
        .collect();
    let mut durations: Vec<u64> = recent.iter().map(|a| a.duration_ms).collect();
    durations.sort_unstable();
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for a in recent
        .iter()
        .filter(|a| a.outcome != AttemptOutcome::Succeeded)
    {
        let class = a.error.as_deref().map_or("other", error_class).to_string();
        *classes.entry(class).or_default() += 1;
    }
    let today = now - now.rem_euclid(DAY);
    let days = (0..14)
        .rev()
        .map(|back| {
            let start = today - back * DAY;
            let mut d = DayCounts {
                day_start: start,
                succeeded: 0,
                failed: 0,
            };
            for a in attempts
                .iter()
                .filter(|a| a.started_at >= start && a.started_at < start + DAY)
            {
                if a.outcome == AttemptOutcome::Succeeded {
                    d.succeeded += 1;
                } else {
                    d.failed += 1;
                }
            }
            d
        })
        .collect();
    (
        windows,
        percentile(&durations, 0.5),
        percentile(&durations, 0.95),
        classes.into_iter().collect(),
        days,
    )
}

impl Runtime {
    /// Webhook deliveries this process accepted since it started.
    pub fn webhooks_received(&self) -> u64 {
        super::Counters::get(&self.counters.webhooks_received)
    }

    /// Every link of a project, all statuses, by status then link id.
    async fn project_links(&self, project_id: &str) -> Result<Vec<LinkView>, Error> {
        self.project(project_id)?;
        let mut out = Vec::new();
        for s in LINK_STATUSES {
            out.extend(self.store.links_with_status(project_id, s).await?);
        }
        Ok(out)
    }

    /// An open conflict by id, with its field's kind and the merge editor's proposal.
    pub async fn conflict_detail(&self, conflict_id: &str) -> Result<ConflictDetail, Error> {
        for p in self.projects() {
            for c in self.store.conflicts(&p.project_id).await? {
                if c.conflict.id != conflict_id {
                    continue;
                }
                let info = self
                    .project_conflicts(&p.project_id)
                    .await?
                    .into_iter()
                    .find(|i| i.id == conflict_id)
                    .ok_or_else(|| Error::NotFound {
                        what: "conflict",
                        id: conflict_id.to_string(),
                    })?;
                let state = self.store.load(&c.link_id).await?.state;
                let kind = state
                    .mapping
                    .as_ref()
                    .and_then(|m| m.by_handoff(&c.conflict.field))
                    .map_or(ValueKind::Text, |f| f.kind);
                let cf = &c.conflict;
                let (proposal, clean) = merge_proposal(kind, &cf.base, &cf.handoff, &cf.jira);
                return Ok(ConflictDetail {
                    info,
                    kind,
                    proposal,
                    proposal_clean: clean,
                });
            }
        }
        Err(Error::NotFound {
            what: "conflict",
            id: conflict_id.to_string(),
        })
    }

    /// Tries again the failed writes of one work item's link (the API's retry, for one
    /// link): refused unless the link is in status `error`.
    pub async fn retry_item(&self, work_item_id: &str, actor: &str) -> Result<LinkInfo, Error> {
        let view = self
            .link_for_item(work_item_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "work_item",
                id: work_item_id.to_string(),
            })?;
        self.retry_link(&view.link_id, actor).await
    }

    /// Tries again the failed writes of one link: refused unless it is in status `error`.
    pub async fn retry_link(&self, link_id: &str, actor: &str) -> Result<LinkInfo, Error> {
        let view = self
            .store
            .link_view(link_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "link",
                id: link_id.to_string(),
            })?;
        if view.status != LinkStatus::Error {
            return Err(Error::Refused(format!(
                "link {link_id} has no failed writes (status {})",
                view.status.as_str()
            )));
        }
        let cmd = LinkCommand::RetryFailed {
            cmd_id: self.ids.next_id("retry"),
            actor: actor.to_string(),
            at: self.now(),
        };
        self.run(link_id, cmd, &EventMetadata::new(Source::User).actor(actor))
            .await?;
        self.link(link_id).await
    }

    /// A project's numbers for the dashboard, from its link projections and sync log.
    pub async fn project_dashboard(&self, project_id: &str) -> Result<ProjectDashboard, Error> {
        let project = self.project(project_id)?;
        let links = self.project_links(project_id).await?;
        let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
        let mut attempts = Vec::new();
        let mut last_sync_at = None;
        let mut queue_depth = 0;
        for l in &links {
            *by_status.entry(l.status.as_str()).or_default() += 1;
            queue_depth += l.open_intents;
            last_sync_at = last_sync_at.max(l.last_synced_at);
            attempts.extend(self.store.sync_log(&l.link_id).await?);
        }
        let open_conflicts = self.store.conflicts(project_id).await?.len() as u64;
        let (windows, p50, p95, errors_by_class, days) = attempt_numbers(&attempts, self.now());
        Ok(ProjectDashboard {
            project_id: project_id.to_string(),
            site: project.site.clone(),
            jira_project_key: project.jira_project_key.clone(),
            links_by_status: LINK_STATUSES
                .iter()
                .map(|s| {
                    (
                        s.as_str().to_string(),
                        by_status.get(s.as_str()).copied().unwrap_or(0),
                    )
                })
                .collect(),
            open_conflicts,
            queue_depth,
            last_sync_at,
            windows,
            latency_p50_ms: p50,
            latency_p95_ms: p95,
            errors_by_class,
            days,
        })
    }

    /// A Jira site's health: whether its circuit is open or it rate-limits the engine now,
    /// and, when neither, who the engine is there and which webhooks it has (each asked
    /// with a short timeout, so a slow site does not hold the page).
    pub async fn site_health(&self, site: &str) -> Result<SiteHealth, Error> {
        const ASK: std::time::Duration = std::time::Duration::from_secs(3);
        let client = self.jira(site)?;
        let circuit_open = client.circuit_open();
        let pause = client.rate_limit_pause();
        let rate_limited_until = pause.map(|d| {
            self.now()
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        });
        let (account, webhooks) = if circuit_open || pause.is_some() {
            let why = "not asked while calls to the site are paused".to_string();
            (Err(why.clone()), Err(why))
        } else {
            let account = match tokio::time::timeout(ASK, client.myself()).await {
                Ok(r) => r
                    .map(|u| match u.account_id.or(u.name) {
                        Some(id) => format!("{} ({id})", u.display_name),
                        None => u.display_name,
                    })
                    .map_err(|e| e.to_string()),
                Err(_) => Err("no answer within 3 s".into()),
            };
            let webhooks = match tokio::time::timeout(ASK, client.list_webhooks()).await {
                Ok(r) => r
                    .map(|v| v.into_iter().map(|w| (w.id, w.expiration_date)).collect())
                    .map_err(|e| e.to_string()),
                Err(_) => Err("no answer within 3 s".into()),
            };
            (account, webhooks)
        };
        Ok(SiteHealth {
            name: site.to_string(),
            base_url: client.config().base_url.to_string(),
            account,
            circuit_open,
            rate_limited_until,
            webhooks,
        })
    }

    /// A project's links in status `error`, each with its last failure.
    pub async fn failing_links(&self, project_id: &str) -> Result<Vec<FailingLink>, Error> {
        self.project(project_id)?;
        let mut out = Vec::new();
        for v in self
            .store
            .links_with_status(project_id, LinkStatus::Error)
            .await?
        {
            let log = self.store.sync_log(&v.link_id).await?;
            let last = log
                .iter()
                .rev()
                .find(|a| a.outcome != AttemptOutcome::Succeeded);
            let state = self.store.load(&v.link_id).await?.state;
            let gave_up = state.intents.values().find_map(|i| match &i.state {
                IntentState::GaveUp { reason } => Some(reason.clone()),
                _ => None,
            });
            let message = last
                .and_then(|a| a.error.clone())
                .or(gave_up)
                .unwrap_or_else(|| "not known".into());
            out.push(FailingLink {
                link: LinkInfo::from(&v),
                error_class: error_class(&message).to_string(),
                message,
                next_attempt_at: v.next_due_at,
            });
        }
        Ok(out)
    }

    /// The writes of a work item's link not finished yet, in the order they were decided.
    pub async fn pending_writes(&self, work_item_id: &str) -> Result<Vec<PendingWrite>, Error> {
        let Some(view) = self.link_for_item(work_item_id).await? else {
            return Err(Error::NotFound {
                what: "work_item",
                id: work_item_id.to_string(),
            });
        };
        let state = self.store.load(&view.link_id).await?.state;
        let mut intents: Vec<_> = state.intents.values().collect();
        intents.sort_by_key(|i| i.seq);
        Ok(intents
            .into_iter()
            .map(|i| {
                let (state, due_at) = match &i.state {
                    IntentState::Open {
                        attempts: 0,
                        due_at,
                    } => ("due".to_string(), Some(*due_at)),
                    IntentState::Open { attempts, due_at } => (
                        format!("retrying (attempt {})", attempts + 1),
                        Some(*due_at),
                    ),
                    IntentState::Blocked => ("held until the item is read again".into(), None),
                    IntentState::GaveUp { reason } => (format!("gave up: {reason}"), None),
                };
                PendingWrite {
                    kind: i.intent.action.kind().replace('_', " "),
                    fields: i.intent.writes.iter().map(|w| w.field.clone()).collect(),
                    state,
                    due_at,
                }
            })
            .collect())
    }

    /// How many issues a JQL import would take (at most [`super::ops::MAX_IMPORT`]), and
    /// whether the search found more. Reads one page per [`super::ops::MAX_IMPORT`] issues;
    /// imports nothing.
    pub async fn jql_preview(&self, project_id: &str, jql: &str) -> Result<(u64, bool), Error> {
        self.project(project_id)?;
        if jql.trim().is_empty() {
            return Err(Error::Invalid("the JQL is empty".into()));
        }
        let max = super::ops::MAX_IMPORT;
        let client = self.jira_for_project(project_id)?;
        let req = self
            .import_search(project_id, jql)?
            .max_results(u32::try_from(max).unwrap_or(u32::MAX));
        let mut count = 0usize;
        let mut cursor: Option<String> = None;
        loop {
            let page = client
                .search_page(&req, cursor.as_deref())
                .await
                .map_err(|e| match e.class() {
                    jira_adapter::error::ErrorClass::Permanent => {
                        Error::Invalid(format!("Jira refused the search: {e}"))
                    }
                    _ => Error::Jira(e),
                })?;
            count += page.issues.len();
            match page.next {
                Some(n) if count < max && Some(&n) != cursor.as_ref() => cursor = Some(n),
                Some(_) if count >= max => return Ok((max as u64, true)),
                _ => return Ok((count.min(max) as u64, count > max)),
            }
        }
    }
}

/// The merge editor's starting value: the domain's 3-way merge.
fn merge_proposal(kind: ValueKind, base: &Value, handoff: &Value, jira: &Value) -> (Value, bool) {
    match kind {
        ValueKind::OptionSet => match union_merge(base, handoff, jira) {
            Some(v) => (v, true),
            None => (handoff.clone(), false),
        },
        ValueKind::Text | ValueKind::RichText => match text_merge(kind, base, handoff, jira) {
            // text_merge appends a final newline to compare last lines; drop it again.
            Some(Value::Text(s)) => (
                Value::Text(s.strip_suffix('\n').unwrap_or(&s).to_string()),
                true,
            ),
            Some(Value::RichText(s)) => (
                Value::RichText(s.strip_suffix('\n').unwrap_or(&s).to_string()),
                true,
            ),
            Some(other) => (other, true),
            None => {
                let text = |v: &Value| v.as_text().map(|s| format!("{s}\n")).unwrap_or_default();
                let marked = match diffy::merge(&text(base), &text(handoff), &text(jira)) {
                    Ok(s) | Err(s) => s,
                };
                // Shown as written, with the markers for a person to settle: not normalized.
                (
                    Value::Text(
                        marked
                            .replace("<<<<<<< ours", "<<<<<<< Handoff")
                            .replace(">>>>>>> theirs", ">>>>>>> Jira")
                            .replace("||||||| original", "||||||| base")
                            .trim_end_matches('\n')
                            .to_string(),
                    ),
                    false,
                )
            }
        },
        _ => (handoff.clone(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_sorted_list() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.95), Some(100));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn error_classes_from_messages() {
        assert_eq!(error_class("Jira: 429 Too Many Requests"), "rate_limited");
        assert_eq!(error_class("Jira: 403 Forbidden"), "auth");
        assert_eq!(error_class("connection refused"), "network");
        assert_eq!(error_class("something odd"), "other");
    }

    #[test]
    fn set_proposal_is_the_union_and_overlapping_text_is_marked() {
        let (p, clean) = merge_proposal(
            ValueKind::OptionSet,
            &Value::option_set(["a"]),
            &Value::option_set(["a", "b"]),
            &Value::option_set(["a", "c"]),
        );
        assert!(clean);
        assert_eq!(p, Value::option_set(["a", "b", "c"]));
        let (p, clean) = merge_proposal(
            ValueKind::Text,
            &Value::text("x"),
            &Value::text("y"),
            &Value::text("z"),
        );
        assert!(!clean);
        let s = p.as_text().unwrap_or_default();
        assert!(
            s.contains("<<<<<<< Handoff") && s.contains(">>>>>>> Jira"),
            "{s}"
        );
    }
}
