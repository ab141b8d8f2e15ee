//! The crate's one error type, and the error classes the domain's retry rules consume.

use std::collections::BTreeMap;
use std::fmt;

/// How the caller should treat a failed Jira call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later (429, 5xx, timeout, connection error, 409 on a transition).
    Retryable {
        /// How long Jira asked us to wait, when it said so (`Retry-After`).
        retry_after_ms: Option<u64>,
    },
    /// The credentials are rejected even after one refresh: a person must fix them.
    Auth,
    /// The request itself is wrong (400, 403, bad input): retrying cannot help.
    Permanent,
    /// The issue (or comment, webhook) is gone: the caller treats it as "remote deleted".
    NotFound,
}

/// Jira's own error messages from an error response body
/// (`{"errorMessages": [...], "errors": {"field": "message"}}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct JiraMessages {
    /// Messages not tied to a field.
    pub error_messages: Vec<String>,
    /// Messages per field id.
    pub errors: BTreeMap<String, String>,
}

impl JiraMessages {
    /// Parses an error body; anything that is not Jira's error shape keeps its (shortened)
    /// text as one message, so nothing the server said is lost.
    pub fn from_body(body: &str) -> JiraMessages {
        match serde_json::from_str::<JiraMessages>(body) {
            Ok(m) if !m.error_messages.is_empty() || !m.errors.is_empty() => m,
            _ => {
                let t = body.trim();
                if t.is_empty() {
                    JiraMessages::default()
                } else {
                    let short: String = t.chars().take(500).collect();
                    JiraMessages {
                        error_messages: vec![short],
                        errors: BTreeMap::new(),
                    }
                }
            }
        }
    }

    /// Whether there is no message at all.
    pub fn is_empty(&self) -> bool {
        self.error_messages.is_empty() && self.errors.is_empty()
    }
}

impl fmt::Display for JiraMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.error_messages.clone();
        parts.extend(self.errors.iter().map(|(k, v)| format!("{k}: {v}")));
        if parts.is_empty() {
            f.write_str("(no message)")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// Everything that can go wrong in this crate. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum JiraError {
    /// Jira answered with an HTTP error status.
    #[error("Jira answered {status} to {endpoint}: {messages}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The endpoint class of the call (see `EndpointClass`).
        endpoint: &'static str,
        /// Jira's error messages from the body.
        messages: JiraMessages,
        /// `Retry-After` in milliseconds, when sent.
        retry_after_ms: Option<u64>,
        /// Whether the call was a transition (409 is then retryable).
        transition: bool,
    },
    /// The request timed out.
    #[error("timeout calling Jira ({endpoint})")]
    Timeout {
        /// The endpoint class of the call.
        endpoint: &'static str,
    },
    /// No connection could be made or it broke.
    #[error("connection to Jira failed ({endpoint}): {reason}")]
    Connect {
        /// The endpoint class of the call.
        endpoint: &'static str,
        /// What the transport said (no URL credentials, no headers).
        reason: String,
    },
    /// The circuit breaker for the site is open after repeated failures.
    #[error("circuit open for the Jira site; retry in {retry_after_ms} ms")]
    CircuitOpen {
        /// How long until the breaker lets a trial call through.
        retry_after_ms: u64,
    },
    /// Credentials were rejected (after one refresh, for OAuth).
    #[error("Jira rejected the credentials: {0}")]
    Unauthorized(String),
    /// An OAuth token refresh failed.
    #[error("OAuth token refresh failed: {0}")]
    TokenRefresh(String),
    /// A response body could not be decoded.
    #[error("cannot decode Jira response from {endpoint}: {reason}")]
    Decode {
        /// The endpoint class of the call.
        endpoint: &'static str,
        /// What did not fit.
        reason: String,
    },
    /// A field value did not have the shape its kind needs.
    #[error("field value does not fit {kind}: {reason}")]
    FieldShape {
        /// The expected kind.
        kind: sync_domain::ValueKind,
        /// What was wrong.
        reason: String,
    },
    /// The configuration is invalid (bad base URL, bad header value, ...).
    #[error("invalid Jira client configuration: {0}")]
    Config(String),
    /// No sequence of transitions reaches the wanted status.
    #[error("no transition path from {from:?} to {to:?}")]
    NoTransitionPath {
        /// The status the issue is in.
        from: String,
        /// The status asked for.
        to: String,
    },
    /// A transition needs a field value that the client cannot supply.
    #[error("transition {transition:?} requires fields {fields:?}")]
    TransitionNeedsFields {
        /// The transition's name.
        transition: String,
        /// The required field ids.
        fields: Vec<String>,
    },
    /// A rich-text body could not be read (not an ADF document).
    #[error(transparent)]
    Content(#[from] crate::content::ContentError),
    /// A canonical value was invalid (e.g. a number Jira sent that is not finite).
    #[error(transparent)]
    Domain(#[from] sync_domain::DomainError),
}

impl JiraError {
    /// The class of this error, for the domain's retry rules.
    pub fn class(&self) -> ErrorClass {
        match self {
            JiraError::Http {
                status,
                retry_after_ms,
                transition,
                ..
            } => match *status {
                429 => ErrorClass::Retryable {
                    retry_after_ms: *retry_after_ms,
                },
                s if s >= 500 => ErrorClass::Retryable {
                    retry_after_ms: *retry_after_ms,
                },
                409 if *transition => ErrorClass::Retryable {
                    retry_after_ms: *retry_after_ms,
                },
                401 => ErrorClass::Auth,
                404 => ErrorClass::NotFound,
                _ => ErrorClass::Permanent,
            },
            JiraError::Timeout { .. } | JiraError::Connect { .. } => ErrorClass::Retryable {
                retry_after_ms: None,
            },
            JiraError::CircuitOpen { retry_after_ms } => ErrorClass::Retryable {
                retry_after_ms: Some(*retry_after_ms),
            },
            JiraError::Unauthorized(_) | JiraError::TokenRefresh(_) => ErrorClass::Auth,
            JiraError::Decode { .. }
            | JiraError::FieldShape { .. }
            | JiraError::Config(_)
            | JiraError::NoTransitionPath { .. }
            | JiraError::TransitionNeedsFields { .. }
            | JiraError::Content(_)
            | JiraError::Domain(_) => ErrorClass::Permanent,
        }
    }

    /// Jira's messages, when the error came with a body.
    pub fn messages(&self) -> Option<&JiraMessages> {
        match self {
            JiraError::Http { messages, .. } => Some(messages),
            _ => None,
        }
    }

    /// The HTTP status, when Jira answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            JiraError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, transition: bool) -> JiraError {
        JiraError::Http {
            status,
            endpoint: "issue",
            messages: JiraMessages::default(),
            retry_after_ms: Some(7),
            transition,
        }
    }

    #[test]
    fn classes_follow_the_status() {
        let table = [
            (
                429,
                false,
                ErrorClass::Retryable {
                    retry_after_ms: Some(7),
                },
            ),
            (
                503,
                false,
                ErrorClass::Retryable {
                    retry_after_ms: Some(7),
                },
            ),
            (
                409,
                true,
                ErrorClass::Retryable {
                    retry_after_ms: Some(7),
                },
            ),
            (409, false, ErrorClass::Permanent),
            (401, false, ErrorClass::Auth),
            (400, false, ErrorClass::Permanent),
            (403, false, ErrorClass::Permanent),
            (404, false, ErrorClass::NotFound),
        ];
        for (status, transition, class) in table {
            assert_eq!(http(status, transition).class(), class, "status {status}");
        }
        assert_eq!(
            JiraError::Timeout { endpoint: "issue" }.class(),
            ErrorClass::Retryable {
                retry_after_ms: None
            }
        );
    }

    #[test]
    fn messages_keep_field_errors_and_odd_bodies() {
        let m = JiraMessages::from_body(r#"{"errorMessages":[],"errors":{"x":"bad"}}"#);
        assert_eq!(m.errors.get("x").map(String::as_str), Some("bad"));
        assert_eq!(m.to_string(), "x: bad");
        let m = JiraMessages::from_body("<html>oops</html>");
        assert_eq!(m.error_messages, vec!["<html>oops</html>".to_string()]);
        assert!(JiraMessages::from_body("").is_empty());
    }
}
