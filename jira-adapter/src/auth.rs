//! Authentication: Cloud API token (Basic), OAuth 2.0 3LO with rotating refresh tokens,
//! Data Center personal access token (Bearer).
//!
//! Secrets live in [`Secret`], whose `Debug` and `Display` print `***`, so they never reach
//! logs, errors or `Debug` output.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::error::JiraError;

/// A secret string (a token, a password). Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for building a header. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

/// An OAuth 2.0 access token and the refresh token that replaces it. Atlassian rotates
/// refresh tokens: every refresh returns a new one and the old one stops working soon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthTokens {
    /// The bearer token sent with each call.
    pub access_token: Secret,
    /// The token used once to get the next pair.
    pub refresh_token: Secret,
}

/// Where OAuth tokens are kept between runs, so the server can persist rotated tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The current tokens of the connection.
    async fn load(&self) -> Result<OAuthTokens, JiraError>;
    /// Persists the tokens a refresh returned; called before they are used.
    async fn save(&self, tokens: &OAuthTokens) -> Result<(), JiraError>;
}

/// A [`TokenStore`] in memory (tests, embedded use without persistence).
#[derive(Debug)]
pub struct MemoryTokenStore {
    tokens: RwLock<OAuthTokens>,
}

impl MemoryTokenStore {
    /// A store holding `tokens`.
    pub fn new(tokens: OAuthTokens) -> MemoryTokenStore {
        MemoryTokenStore {
            tokens: RwLock::new(tokens),
        }
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<OAuthTokens, JiraError> {
        Ok(self.tokens.read().await.clone())
    }
    async fn save(&self, tokens: &OAuthTokens) -> Result<(), JiraError> {
        *self.tokens.write().await = tokens.clone();
        Ok(())
    }
}

/// The OAuth 2.0 (3LO) app settings needed to refresh tokens.
#[derive(Clone, Debug)]
pub struct OAuthApp {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: Secret,
    /// The token endpoint (`https://auth.atlassian.com/oauth/token` in production).
    pub token_url: String,
}

/// How the client authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// Jira Cloud API token: `Authorization: Basic base64(email:token)`.
    CloudApiToken {
        /// The account's email.
        email: String,
        /// The API token.
        token: Secret,
    },
    /// Jira Data Center personal access token: `Authorization: Bearer <token>`.
    DataCenterPat {
        /// The personal access token.
        token: Secret,
    },
    /// OAuth 2.0 3LO with rotating refresh tokens kept in a [`TokenStore`].
    OAuth {
        /// The app settings for refreshing.
        app: OAuthApp,
        /// Where the tokens are kept.
        store: Arc<dyn TokenStore>,
    },
    /// No `Authorization` header (tests against an open mock).
    Anonymous,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::CloudApiToken { email, .. } => f
                .debug_struct("CloudApiToken")
                .field("email", email)
                .field("token", &"***")
                .finish(),
            Credentials::DataCenterPat { .. } => f
                .debug_struct("DataCenterPat")
                .field("token", &"***")
                .finish(),
            Credentials::OAuth { app, .. } => f.debug_struct("OAuth").field("app", app).finish(),
            Credentials::Anonymous => f.write_str("Anonymous"),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
}

/// Produces `Authorization` headers and refreshes OAuth tokens, one refresh at a time per
/// connection.
pub struct Authenticator {
    credentials: Credentials,
    refresh_lock: Mutex<()>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl Authenticator {
    /// An authenticator for `credentials`.
    pub fn new(credentials: Credentials) -> Authenticator {
        Authenticator {
            credentials,
            refresh_lock: Mutex::new(()),
        }
    }

    /// Whether a 401 may be cured by refreshing.
    pub fn can_refresh(&self) -> bool {
        matches!(self.credentials, Credentials::OAuth { .. })
    }

    /// The `Authorization` header value for the next call, or `None` for anonymous.
    pub async fn header(&self) -> Result<Option<Secret>, JiraError> {
        Ok(match &self.credentials {
            Credentials::CloudApiToken { email, token } => {
                let raw = format!("{email}:{}", token.expose());
                let enc = base64::engine::general_purpose::STANDARD.encode(raw);
                Some(Secret(format!("Basic {enc}")))
            }
            Credentials::DataCenterPat { token } => {
                Some(Secret(format!("Bearer {}", token.expose())))
            }
            Credentials::OAuth { store, .. } => {
                let t = store.load().await?;
                Some(Secret(format!("Bearer {}", t.access_token.expose())))
            }
            Credentials::Anonymous => None,
        })
    }

    /// Refreshes the OAuth tokens after a 401 seen with header `used`. Refreshes are
    /// serialized; when another task already refreshed while this one waited (the stored
    /// access token differs from the one that failed), nothing is sent: a rotated refresh
    /// token must be used only once.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        used: Option<&Secret>,
    ) -> Result<(), JiraError> {
        let Credentials::OAuth { app, store } = &self.credentials else {
            return Err(JiraError::Unauthorized(
                "credentials cannot be refreshed".into(),
            ));
        };
        let _guard = self.refresh_lock.lock().await;
        let current = store.load().await?;
        let current_header = format!("Bearer {}", current.access_token.expose());
        if used.is_some_and(|u| u.expose() != current_header) {
            return Ok(());
        }
        let body = serde_json::json!({
            "grant_type": "refresh_token",
            "client_id": app.client_id,
            "client_secret": app.client_secret.expose(),
            "refresh_token": current.refresh_token.expose(),
        });
        let resp = http
            .post(&app.token_url)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                JiraError::TokenRefresh(format!("token endpoint unreachable: {}", e.without_url()))
            })?;
        let status = resp.status();
        if !status.is_success() {
            // The body may echo the refresh token on some servers: do not keep it.
            return Err(JiraError::TokenRefresh(format!(
                "token endpoint answered {}",
                status.as_u16()
            )));
        }
        let tr: TokenResponse = resp.json().await.map_err(|_| {
            JiraError::TokenRefresh("token endpoint answered an unreadable body".into())
        })?;
        let tokens = OAuthTokens {
            access_token: Secret(tr.access_token),
            refresh_token: tr
                .refresh_token
                .map(Secret)
                .unwrap_or(current.refresh_token),
        };
        store.save(&tokens).await
    }
}

/// An OAuth token store in a JSON file (`{"access_token": …, "refresh_token": …}`), rewritten
/// (through a temporary file and a rename) whenever Atlassian rotates the tokens.
#[derive(Debug)]
pub struct FileTokenStore {
    path: std::path::PathBuf,
    tokens: Mutex<OAuthTokens>,
}

impl FileTokenStore {
    /// Reads the tokens in `path`.
    pub fn open(path: &std::path::Path) -> Result<FileTokenStore, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let tokens: OAuthTokens = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not {{\"access_token\": …, \"refresh_token\": …}}: {e}",
                path.display()
            )
        })?;
        Ok(FileTokenStore {
            path: path.to_path_buf(),
            tokens: Mutex::new(tokens),
        })
    }
}

#[async_trait]
impl TokenStore for FileTokenStore {
    async fn load(&self) -> Result<OAuthTokens, JiraError> {
        Ok(self.tokens.lock().await.clone())
    }

    async fn save(&self, tokens: &OAuthTokens) -> Result<(), JiraError> {
        let mut current = self.tokens.lock().await;
        let body = serde_json::json!({
            "access_token": tokens.access_token.expose(),
            "refresh_token": tokens.refresh_token.expose(),
        })
        .to_string();
        let tmp = self.path.with_extension("tmp");
        let write = async {
            tokio::fs::write(&tmp, body).await?;
            tokio::fs::rename(&tmp, &self.path).await
        };
        write.await.map_err(|e| {
            JiraError::TokenRefresh(format!(
                "cannot save the rotated tokens to {}: {e}",
                self.path.display()
            ))
        })?;
        *current = tokens.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::CloudApiToken {
            email: "a@b.c".into(),
            token: Secret::new("tok-123"),
        };
        let d = format!("{c:?}");
        assert!(!d.contains("tok-123"), "{d}");
        assert!(d.contains("a@b.c"));
        let t = OAuthTokens {
            access_token: "acc-9".into(),
            refresh_token: "ref-9".into(),
        };
        let d = format!("{t:?}");
        assert!(!d.contains("acc-9") && !d.contains("ref-9"), "{d}");
    }

    #[tokio::test]
    async fn basic_header_is_email_and_token() {
        let a = Authenticator::new(Credentials::CloudApiToken {
            email: "u@x.io".into(),
            token: "t".into(),
        });
        let h = a
            .header()
            .await
            .ok()
            .flatten()
            .map(|s| s.expose().to_string());
        assert_eq!(h.as_deref(), Some("Basic dUB4LmlvOnQ="));
        let a = Authenticator::new(Credentials::DataCenterPat {
            token: "pat".into(),
        });
        let h = a
            .header()
            .await
            .ok()
            .flatten()
            .map(|s| s.expose().to_string());
        assert_eq!(h.as_deref(), Some("Bearer pat"));
    }
}
