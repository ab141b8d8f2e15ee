//! Prometheus metrics of the server, served at `GET /metrics` in the text exposition format.
//!
//! The metrics live in one process-wide registry ([`global`]), as a Prometheus client's
//! default registry does: the engine reports through its telemetry seam ([`telemetry`]),
//! and the Jira clients' response observers (built before any runtime exists) feed it too. Counters only ever grow; the two
//! gauges (queue depth, open conflicts) are read from the store at each scrape.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `jira_sync_webhooks_total` | counter | `source` (`jira`, `handoff`), `outcome` (`received`, `duplicate`, `rejected`) |
//! | `jira_sync_intents_total` | counter | `kind` (`update_jira_fields`, ...), `outcome` (`succeeded`, `retry`, `blocked`, `gave_up`, `superseded`) |
//! | `jira_sync_dispatch_duration_seconds` | histogram | `kind` |
//! | `jira_sync_queue_depth` | gauge | — (writes not finished, over every link) |
//! | `jira_sync_open_conflicts` | gauge | — |
//! | `jira_sync_jira_calls_total` | counter | `site`, `endpoint`, `status` |
//! | `jira_sync_rate_limit_waits_total` | counter | `site` |
//! | `jira_sync_rate_limit_wait_seconds_total` | counter | `site` |

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use jira_adapter::client::{ObservedResponse, ResponseObserver};
use jira_adapter::ratelimit::RateLimitInfo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 5 ms .. about 41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    webhooks: Family<Labels, Counter>,
    intents: Family<Labels, Counter>,
    dispatch_latency: Family<Labels, Histogram, fn() -> Histogram>,
    queue_depth: Gauge,
    open_conflicts: Gauge,
    jira_calls: Family<Labels, Counter>,
    rate_limit_waits: Family<Labels, Counter>,
    rate_limit_wait_seconds: Family<Labels, Counter<f64, AtomicU64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (tests; the server uses [`global`]).
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("jira_sync");
        let webhooks = Family::<Labels, Counter>::default();
        registry.register(
            "webhooks",
            "Webhook deliveries and host notifications, by source and outcome",
            webhooks.clone(),
        );
        let intents = Family::<Labels, Counter>::default();
        registry.register(
            "intents",
            "Dispatch attempts of outbound intents, by kind and outcome",
            intents.clone(),
        );
        let dispatch_latency: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "dispatch_duration_seconds",
            "How long one dispatch attempt took, by intent kind",
            dispatch_latency.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Outbound intents not finished (open, held or given up), over every link",
            queue_depth.clone(),
        );
        let open_conflicts = Gauge::default();
        registry.register(
            "open_conflicts",
            "Conflicts waiting for a person",
            open_conflicts.clone(),
        );
        let jira_calls = Family::<Labels, Counter>::default();
        registry.register(
            "jira_calls",
            "HTTP responses from Jira, by site, endpoint class and status",
            jira_calls.clone(),
        );
        let rate_limit_waits = Family::<Labels, Counter>::default();
        registry.register(
            "rate_limit_waits",
            "Responses from Jira that asked the client to wait (429 or no requests left)",
            rate_limit_waits.clone(),
        );
        let rate_limit_wait_seconds = Family::<Labels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "rate_limit_wait_seconds",
            "Seconds Jira asked the client to wait",
            rate_limit_wait_seconds.clone(),
        );
        Metrics {
            registry,
            webhooks,
            intents,
            dispatch_latency,
            queue_depth,
            open_conflicts,
            jira_calls,
            rate_limit_waits,
            rate_limit_wait_seconds,
        }
    }

    /// A webhook delivery (`source` `jira` or `handoff`) ended in `outcome` (`received`,
    /// `duplicate`, `rejected`).
    pub fn webhook(&self, source: &str, outcome: &str) {
        self.webhooks
            .get_or_create(&vec![
                ("source", source.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// A dispatch attempt of an intent of `kind` ended in `outcome` after `seconds`.
    pub fn intent(&self, kind: &str, outcome: &str, seconds: f64) {
        self.intents
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
        self.dispatch_latency
            .get_or_create(&vec![("kind", kind.to_string())])
            .observe(seconds);
    }

    /// An intent was no longer wanted when its dispatch began (superseded or settled).
    pub fn intent_superseded(&self, kind: &str) {
        self.intents
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("outcome", "superseded".to_string()),
            ])
            .inc();
    }

    /// Sets the gauges read from the store.
    pub fn set_queue(&self, queue_depth: u64, open_conflicts: u64) {
        self.queue_depth
            .set(i64::try_from(queue_depth).unwrap_or(i64::MAX));
        self.open_conflicts
            .set(i64::try_from(open_conflicts).unwrap_or(i64::MAX));
    }

    /// One HTTP response from a Jira site.
    pub fn jira_response(&self, site: &str, r: &ObservedResponse<'_>) {
        self.jira_calls
            .get_or_create(&vec![
                ("site", site.to_string()),
                ("endpoint", r.endpoint.as_str().to_string()),
                ("status", r.status.to_string()),
            ])
            .inc();
        let info = RateLimitInfo::from_headers(r.headers);
        // The client pauses the site whenever Jira tells it to wait (see jira-adapter's
        // `call`): count the same.
        let wait = info.wait_ms();
        if r.status == 429 || wait.is_some() {
            let site = vec![("site", site.to_string())];
            self.rate_limit_waits.get_or_create(&site).inc();
            if let Some(ms) = wait {
                self.rate_limit_wait_seconds
                    .get_or_create(&site)
                    .inc_by(ms as f64 / 1000.0);
            }
        }
    }

    /// The metrics in Prometheus's text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

impl sync_engine::Telemetry for Metrics {
    fn delivery(&self, source: &str, outcome: sync_engine::DeliveryOutcome) {
        self.webhook(source, outcome.as_str());
    }

    fn intent(&self, kind: &str, outcome: &str, seconds: f64) {
        if outcome == "superseded" {
            self.intent_superseded(kind);
        } else {
            Metrics::intent(self, kind, outcome, seconds);
        }
    }
}

/// The engine's telemetry seam, feeding [`global`]: set it as `RuntimeConfig::telemetry`.
pub fn telemetry() -> std::sync::Arc<dyn sync_engine::Telemetry> {
    #[derive(Debug)]
    struct Global;
    impl sync_engine::Telemetry for Global {
        fn delivery(&self, source: &str, outcome: sync_engine::DeliveryOutcome) {
            sync_engine::Telemetry::delivery(global(), source, outcome);
        }
        fn intent(&self, kind: &str, outcome: &str, seconds: f64) {
            sync_engine::Telemetry::intent(global(), kind, outcome, seconds);
        }
    }
    std::sync::Arc::new(Global)
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// A response observer for the Jira client of `site` that feeds [`global`]: set it as
/// `JiraConfig::observer` when building the site's client.
pub fn jira_observer(site: &str) -> ResponseObserver {
    let site = site.to_string();
    ResponseObserver(Arc::new(move |r: &ObservedResponse<'_>| {
        global().jira_response(&site, r);
    }))
}
