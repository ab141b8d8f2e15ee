//! Integration tests of the host adapter: the in-memory host, the HTTP client against a
//! mock host and against the reference host (feature `server`), and notification
//! verification.

mod http;
mod memory;
mod notification;
mod observed;
#[cfg(feature = "server")]
mod server;

use std::collections::BTreeMap;

use sync_domain::{Value, ValueKind};

/// Fields from `(name, value)` pairs.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> BTreeMap<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The schema the tests use: one field of each kind.
pub fn schema() -> handoff_adapter::FieldSchema {
    [
        ("title", ValueKind::Text),
        ("description", ValueKind::RichText),
        ("size", ValueKind::Number),
        ("status", ValueKind::Option),
        ("labels", ValueKind::OptionSet),
        ("assignee", ValueKind::User),
        ("due", ValueKind::Date),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_string(), k))
    .collect()
}
