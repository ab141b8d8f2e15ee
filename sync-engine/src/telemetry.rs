//! What the engine reports of its own work, through one seam: each event is counted once in
//! [`Counters`] (what the statistics and the demo read) and handed to the embedder's
//! [`Telemetry`] (the server exports it as Prometheus metrics). Nothing else in the engine
//! counts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sync_domain::link::Millis;

/// How a webhook delivery or host notification ended at intake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Accepted into the inbox.
    Received,
    /// Already in the inbox: dropped.
    Duplicate,
    /// Refused (signature, malformed body).
    Rejected,
}

impl DeliveryOutcome {
    /// `received`, `duplicate` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Received => "received",
            DeliveryOutcome::Duplicate => "duplicate",
            DeliveryOutcome::Rejected => "rejected",
        }
    }
}

/// Where the engine's reports go, beyond its own [`Counters`]: implement it to export
/// metrics. Every method has a default that does nothing.
pub trait Telemetry: Send + Sync + std::fmt::Debug {
    /// A delivery from `source` (`jira` or `handoff`) ended at intake with `outcome`.
    fn delivery(&self, source: &str, outcome: DeliveryOutcome) {
        let _ = (source, outcome);
    }

    /// A dispatch attempt of an intent of `kind` ended in `outcome` (`succeeded`, `retry`,
    /// `blocked`, `gave_up`, `superseded`) after `seconds`.
    fn intent(&self, kind: &str, outcome: &str, seconds: f64) {
        let _ = (kind, outcome, seconds);
    }
}

/// Totals of what the runtime did since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Webhook deliveries accepted into the inbox.
    pub webhooks_received: AtomicU64,
    /// Webhook deliveries dropped as duplicates.
    pub webhooks_duplicate: AtomicU64,
    /// Webhook deliveries refused (signature, malformed body).
    pub webhooks_rejected: AtomicU64,
    /// Dispatch attempts that succeeded.
    pub dispatch_succeeded: AtomicU64,
    /// Dispatch attempts that failed.
    pub dispatch_failed: AtomicU64,
    /// Commands or deliveries that ended in an error the runtime could not act on.
    pub errors: AtomicU64,
    /// When this process last accepted a webhook delivery, per Jira site.
    last_delivery: Mutex<BTreeMap<String, Millis>>,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// When this process last accepted a webhook delivery from `site`, if it did.
    pub fn last_delivery(&self, site: &str) -> Option<Millis> {
        self.last_delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(site)
            .copied()
    }

    pub(crate) fn delivered(&self, site: &str, at: Millis) {
        self.last_delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(site.to_string(), at);
    }
}

impl crate::Runtime {
    /// A delivery from `source` ended at intake with `outcome`: counted and reported.
    pub(crate) fn record_delivery(&self, source: &str, outcome: DeliveryOutcome) {
        let c = &self.counters;
        if source == "jira" {
            Counters::bump(match outcome {
                DeliveryOutcome::Received => &c.webhooks_received,
                DeliveryOutcome::Duplicate => &c.webhooks_duplicate,
                DeliveryOutcome::Rejected => &c.webhooks_rejected,
            });
        }
        if let Some(t) = &self.config.telemetry {
            t.delivery(source, outcome);
        }
    }

    /// A dispatch attempt ended: counted (`succeeded` when `ok`) and reported.
    pub(crate) fn record_intent(&self, kind: &str, outcome: &str, seconds: f64, ok: bool) {
        let c = &self.counters;
        Counters::bump(if ok {
            &c.dispatch_succeeded
        } else {
            &c.dispatch_failed
        });
        if let Some(t) = &self.config.telemetry {
            t.intent(kind, outcome, seconds);
        }
    }

    /// An intent was no longer wanted when its dispatch began: reported, not an attempt.
    pub(crate) fn record_superseded(&self, kind: &str) {
        if let Some(t) = &self.config.telemetry {
            t.intent(kind, "superseded", 0.0);
        }
    }

    /// A command or delivery ended in an error the runtime could not act on.
    pub(crate) fn record_error(&self) {
        Counters::bump(&self.counters.errors);
    }
}
