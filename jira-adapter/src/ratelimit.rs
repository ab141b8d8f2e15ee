//! Pacing and protection per Jira site: a `governor` rate limiter, Jira's rate-limit
//! headers (`Retry-After`, `X-RateLimit-*`, `RateLimit-Reason`), a retry backoff policy and
//! a circuit breaker.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;

/// What Jira said about its rate limits in one response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// Milliseconds until `X-RateLimit-Reset` (an ISO 8601 timestamp), from now.
    pub reset_in_ms: Option<u64>,
    /// `RateLimit-Reason` (`jira-burst-based`, `jira-per-issue-on-write`, `jira-quota-...`).
    pub reason: Option<String>,
}

impl RateLimitInfo {
    /// Reads the rate-limit headers of a response. Unparseable values are ignored.
    pub fn from_headers(h: &HeaderMap) -> RateLimitInfo {
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let num = |name: &str| get(name).and_then(|v| v.parse::<u64>().ok());
        RateLimitInfo {
            retry_after_ms: get("retry-after").and_then(parse_retry_after),
            limit: num("x-ratelimit-limit"),
            remaining: num("x-ratelimit-remaining"),
            reset_in_ms: get("x-ratelimit-reset").and_then(parse_reset),
            reason: get("ratelimit-reason").map(str::to_string),
        }
    }

    /// How long to wait before the next call, when Jira said: `Retry-After`, or the time
    /// to `X-RateLimit-Reset` when no request is left.
    pub fn wait_ms(&self) -> Option<u64> {
        self.retry_after_ms.or_else(|| {
            if self.remaining == Some(0) {
                self.reset_in_ms
            } else {
                None
            }
        })
    }
}

/// `Retry-After` as delta seconds (possibly fractional) or an HTTP date.
fn parse_retry_after(v: &str) -> Option<u64> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some((secs * 1000.0).round() as u64);
        }
        return None;
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    Some(ms_until(at))
}

fn parse_reset(v: &str) -> Option<u64> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    if let Ok(at) = time::OffsetDateTime::parse(v, &Rfc3339) {
        return Some(ms_until(at));
    }
    if let Ok(at) = time::OffsetDateTime::parse(v, &Iso8601::DEFAULT) {
        return Some(ms_until(at));
    }
    // Atlassian documents `yyyy-MM-ddTHH:mmZ` (no seconds).
    let with_secs = v.strip_suffix('Z').map(|s| format!("{s}:00Z"))?;
    time::OffsetDateTime::parse(&with_secs, &Rfc3339)
        .ok()
        .map(ms_until)
}

fn ms_until(at: time::OffsetDateTime) -> u64 {
    let d = at - time::OffsetDateTime::now_utc();
    u64::try_from(d.whole_milliseconds()).unwrap_or(0)
}

/// Exponential backoff for retryable failures; `Retry-After` overrides the computed delay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Upper bound of a computed delay and of an honoured `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based), given what the server asked for.
    pub fn delay(&self, retry: u32, server_ms: Option<u64>) -> Duration {
        let computed = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(16)));
        let d = match server_ms {
            Some(ms) => Duration::from_millis(ms).max(self.base_delay),
            None => computed,
        };
        d.min(self.max_delay)
    }
}

/// Circuit breaker settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed calls (5xx, timeouts, connection errors) that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial call is let through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 10,
            open_for: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
enum BreakerState {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out since this instant; if it never reports back (its future was
    /// dropped), another trial is allowed after `open_for`.
    HalfOpen {
        since: Instant,
    },
}

/// A circuit breaker for one site: after too many consecutive server-side failures, calls
/// fail fast until `open_for` has passed; then one trial call decides.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Mutex<BreakerState>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            config,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        // A poisoned lock only means a panic elsewhere; the state itself is always valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Ok` when a call may go out, else the milliseconds until it may.
    pub fn check(&self) -> Result<(), u64> {
        let mut s = self.lock();
        let now = Instant::now();
        let ready_at = match *s {
            BreakerState::Closed { .. } => return Ok(()),
            BreakerState::HalfOpen { since } => since + self.config.open_for,
            BreakerState::Open { until } => until,
        };
        if now >= ready_at {
            *s = BreakerState::HalfOpen { since: now };
            Ok(())
        } else {
            Err((ready_at - now).as_millis().min(u128::from(u64::MAX)) as u64)
        }
    }

    /// Records a call that reached the server and was not a server failure.
    pub fn record_success(&self) {
        *self.lock() = BreakerState::Closed { failures: 0 };
    }

    /// Records a server-side failure.
    pub fn record_failure(&self) {
        let mut s = self.lock();
        let failures = match *s {
            BreakerState::Closed { failures } => failures + 1,
            BreakerState::HalfOpen { .. } | BreakerState::Open { .. } => {
                self.config.failure_threshold
            }
        };
        *s = if failures >= self.config.failure_threshold {
            BreakerState::Open {
                until: Instant::now() + self.config.open_for,
            }
        } else {
            BreakerState::Closed { failures }
        };
    }

    /// Whether calls currently fail fast.
    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), BreakerState::Open { until } if Instant::now() < until)
    }
}

/// Paces the calls to one site: a `governor` token bucket, plus a pause until the time
/// Jira asked for (`Retry-After`, or `X-RateLimit-Reset` with nothing remaining).
pub struct SiteLimiter {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SiteLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteLimiter").finish_non_exhaustive()
    }
}

impl SiteLimiter {
    /// A limiter allowing `per_second` calls per second with bursts of `burst`.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> SiteLimiter {
        SiteLimiter {
            limiter: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a call may go out.
    pub async fn acquire(&self) {
        let pause = {
            let p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            p.and_then(|until| until.checked_duration_since(Instant::now()))
        };
        if let Some(d) = pause {
            tokio::time::sleep(d).await;
        }
        self.limiter.until_ready().await;
    }

    /// How long callers still wait because the site asked to slow down, if they do now.
    pub fn paused_for(&self) -> Option<Duration> {
        let p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        p.and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// Makes every caller wait `ms` (capped at `max`) before its next call.
    pub fn pause_for(&self, ms: u64, max: Duration) {
        let until = Instant::now() + Duration::from_millis(ms).min(max);
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none_or(|cur| cur < until) {
            *p = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn headers_are_read() {
        let mut h = HeaderMap::new();
        h.insert("Retry-After", HeaderValue::from_static("2"));
        h.insert("X-RateLimit-Limit", HeaderValue::from_static("100"));
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
        h.insert(
            "RateLimit-Reason",
            HeaderValue::from_static("jira-per-issue-on-write"),
        );
        let i = RateLimitInfo::from_headers(&h);
        assert_eq!(i.retry_after_ms, Some(2000));
        assert_eq!(i.limit, Some(100));
        assert_eq!(i.remaining, Some(0));
        assert_eq!(i.reason.as_deref(), Some("jira-per-issue-on-write"));
        assert_eq!(i.wait_ms(), Some(2000));
    }

    #[test]
    fn reset_in_the_future_counts_when_nothing_remains() {
        let at = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
        let s = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut h = HeaderMap::new();
        h.insert(
            "X-RateLimit-Reset",
            HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("")),
        );
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
        let w = RateLimitInfo::from_headers(&h).wait_ms().unwrap_or(0);
        assert!(w > 200_000 && w <= 300_000, "{w}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_and_honours_the_server() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        };
        assert_eq!(p.delay(0, None), Duration::from_millis(10));
        assert_eq!(p.delay(1, None), Duration::from_millis(20));
        assert_eq!(p.delay(3, None), Duration::from_millis(50));
        assert_eq!(p.delay(0, Some(30)), Duration::from_millis(30));
        assert_eq!(p.delay(0, Some(9_000)), Duration::from_millis(50));
    }

    #[test]
    fn breaker_opens_after_threshold_and_half_opens() {
        let b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 2,
            open_for: Duration::from_millis(20),
        });
        b.record_failure();
        assert!(b.check().is_ok());
        b.record_failure();
        assert!(b.check().is_err());
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.check().is_ok(), "trial call");
        assert!(b.check().is_err(), "only one trial call");
        std::thread::sleep(Duration::from_millis(25));
        assert!(
            b.check().is_ok(),
            "a lost trial call does not block forever"
        );
        b.record_success();
        assert!(b.check().is_ok());
    }
}
