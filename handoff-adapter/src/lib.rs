//! Everything that knows the host (Handoff, or any product that follows the contract in
//! `docs/handoff-api.md`): the [`Host`] trait the engine syncs through, an HTTP client for
//! the REST contract ([`HttpHost`]), signed change notifications ([`verify_notification`]),
//! and an in-memory host ([`InMemoryHost`]) for the demo, tests and simulations.
//!
//! Architecture invariant: only this crate knows host JSON. Every value leaves it as a
//! canonical [`sync_domain::Value`], and every write it offers is safe to repeat: field
//! updates are conditional on the item's version (a person's edit is never overwritten),
//! and creates of items and comments are idempotent by a marker.

pub mod error;
pub mod fields;
pub mod host;
pub mod http;
pub mod memory;
pub mod notification;
pub mod observed;
#[cfg(feature = "server")]
pub mod server;

pub use error::{HostError, HostErrorClass};
pub use fields::{decode_field, decode_fields, encode_field, encode_fields};
pub use host::{
    ChangePage, FieldSchema, Host, HostComment, HostItem, HostNotification, NotificationKind,
};
pub use http::HttpHost;
pub use memory::{Clock, Fault, FaultHook, HostCall, InMemoryHost};
pub use notification::{
    encode_notification, from_inbox_body, inbox_body, parse_notification, signature_header,
    verify_notification, SIGNATURE_HEADER,
};
pub use observed::{HostObserver, HostWrite, ObservedHost};
