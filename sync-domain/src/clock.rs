//! The clock seam shared by the engine and the Jira simulator: where "now" comes from.
//!
//! The domain itself never asks for the time (`decide` gets it inside commands); the trait
//! lives here, at the bottom of the workspace, so that the engine (`sync-engine`), the
//! simulator (`jira-sim`) and the tests name one clock and can share one virtual time. The
//! wall clock is `sync_engine::SystemClock`: reading it is I/O, which this crate never does.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::link::Millis;

/// A source of "now", in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// A clock that moves only when told: virtual time for tests and simulations. Clones share
/// one time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `start_ms`.
    pub fn new(start_ms: Millis) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `ms`.
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}
