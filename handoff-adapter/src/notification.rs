//! Change notifications the host posts to us, signed with HMAC-SHA256 over the raw body.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::HostError;
use crate::host::{HostNotification, NotificationKind};

/// The header that carries a notification's signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Handoff-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8]) -> Result<HmacSha256, HostError> {
    HmacSha256::new_from_slice(secret)
        .map_err(|e| HostError::InvalidConfig(format!("notification secret: {e}")))
}

/// The value of the [`SIGNATURE_HEADER`] for a body: what a host sends, and what tests use.
pub fn signature_header(secret: &[u8], raw_body: &[u8]) -> Result<String, HostError> {
    let mut m = mac(secret)?;
    m.update(raw_body);
    Ok(format!("sha256={}", hex::encode(m.finalize().into_bytes())))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNotification {
    event: Option<String>,
    item_id: Option<String>,
    project_id: Option<String>,
    version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivery_id: Option<String>,
}

/// Checks a notification's signature on its raw bytes (in constant time), then reads it.
///
/// Errors: [`HostError::MissingSignature`] without the header, [`HostError::BadSignature`]
/// when it is malformed or does not match, [`HostError::MalformedNotification`] when the body
/// is not a JSON object of the contract's shape, [`HostError::NotificationMissingField`]
/// when a required field is absent.
pub fn verify_notification(
    secret: &[u8],
    raw_body: &[u8],
    signature_header: Option<&str>,
) -> Result<HostNotification, HostError> {
    let header = signature_header.ok_or(HostError::MissingSignature)?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(HostError::BadSignature)?;
    let sig = hex::decode(hex_sig).map_err(|_| HostError::BadSignature)?;
    let mut m = mac(secret)?;
    m.update(raw_body);
    m.verify_slice(&sig).map_err(|_| HostError::BadSignature)?;
    parse_notification(raw_body)
}

/// A notification as the engine keeps it in its inbox until it is processed: the contract's
/// wire form ([`encode_notification`]), so the inbox holds what the host sent.
pub fn inbox_body(n: &HostNotification) -> String {
    String::from_utf8(encode_notification(n)).unwrap_or_default()
}

/// Reads a notification kept by [`inbox_body`]; inbox rows written by earlier versions (the
/// notification's own serde form) are read too.
pub fn from_inbox_body(body: &str) -> Result<HostNotification, HostError> {
    parse_notification(body.as_bytes()).or_else(|wire_error| {
        serde_json::from_str::<HostNotification>(body).map_err(|_| wire_error)
    })
}

/// Reads a notification body without checking a signature (for hosts reached over a
/// channel that is already authenticated).
pub fn parse_notification(raw_body: &[u8]) -> Result<HostNotification, HostError> {
    let malformed = |reason: String| HostError::MalformedNotification { reason };
    let json: serde_json::Value =
        serde_json::from_slice(raw_body).map_err(|e| malformed(format!("not JSON: {e}")))?;
    if !json.is_object() {
        return Err(malformed("not a JSON object".to_string()));
    }
    let wire: WireNotification =
        serde_json::from_value(json).map_err(|e| malformed(e.to_string()))?;
    let missing = |field| HostError::NotificationMissingField { field };
    Ok(HostNotification {
        kind: NotificationKind::from_wire(&wire.event.ok_or(missing("event"))?),
        item_id: wire.item_id.ok_or(missing("itemId"))?,
        project_id: wire.project_id.ok_or(missing("projectId"))?,
        version: wire.version.ok_or(missing("version"))?,
        actor: wire.actor,
        at_ms: wire.at_ms.unwrap_or(0),
        comment_id: wire.comment_id,
        delivery_id: wire.delivery_id,
    })
}

/// The wire body of a notification, as a host sends it.
pub fn encode_notification(n: &HostNotification) -> Vec<u8> {
    let wire = WireNotification {
        event: Some(n.kind.as_wire().to_string()),
        item_id: Some(n.item_id.clone()),
        project_id: Some(n.project_id.clone()),
        version: Some(n.version),
        actor: n.actor.clone(),
        at_ms: Some(n.at_ms),
        comment_id: n.comment_id.clone(),
        delivery_id: n.delivery_id.clone(),
    };
    // Serializing a struct of strings and integers cannot fail.
    serde_json::to_vec(&wire).unwrap_or_default()
}
