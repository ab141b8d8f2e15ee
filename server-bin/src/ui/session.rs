//! Sessions of the web UI: signing in with an API token from the config, the session cookie,
//! CSRF tokens, and who may post what.
//!
//! A session lives in this process's memory only (a restart signs everyone out): its id is
//! 32 random bytes in a cookie that is `HttpOnly`, `SameSite=Strict`, scoped to `/ui`, and
//! `Secure` when the request came over TLS (directly or through a proxy that says
//! `X-Forwarded-Proto: https`). Each session has its own CSRF token, which every form
//! carries and every post must echo; the sign-in form, posted before any session exists,
//! echoes a random value of a short-lived cookie instead (double submit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use crate::api::{AppState, Role};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "jsync_session";
/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "jsync_login";
/// How long a session lasts without signing in again.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// One signed-in person.
#[derive(Clone, Debug)]
struct Session {
    actor: String,
    role: Role,
    csrf: String,
    expires: Instant,
}

/// The UI's own state: the open sessions.
#[derive(Debug, Default)]
pub struct UiState {
    sessions: Mutex<HashMap<String, Session>>,
}

impl UiState {
    /// No sessions.
    pub fn new() -> Arc<UiState> {
        Arc::new(UiState::default())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for a token's name and role; returns its id.
    pub fn open(&self, actor: &str, role: Role) -> String {
        let id = random_hex(32);
        let now = Instant::now();
        let mut s = self.sessions();
        s.retain(|_, v| v.expires > now);
        s.insert(
            id.clone(),
            Session {
                actor: actor.to_string(),
                role,
                csrf: random_hex(32),
                expires: now + SESSION_TTL,
            },
        );
        id
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        self.sessions().remove(id);
    }

    fn find(&self, id: &str) -> Option<Session> {
        let s = self.sessions();
        s.get(id).filter(|v| v.expires > Instant::now()).cloned()
    }
}

/// Random bytes from the OS as hex; without `/dev/urandom`, a hash of the clock, the process
/// and a counter (unique, not secret: such systems should not serve the UI beyond
/// 127.0.0.1).
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        use sha2::Digest;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut out = Vec::new();
        let mut i = 0u64;
        while out.len() < bytes {
            let mut h = sha2::Sha256::new();
            h.update(t.to_le_bytes());
            h.update(std::process::id().to_le_bytes());
            h.update(n.to_le_bytes());
            h.update(i.to_le_bytes());
            out.extend_from_slice(&h.finalize());
            i += 1;
        }
        out.truncate(bytes);
        buf = out;
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cookie of the request by name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the request came over TLS (as the proxy in front says).
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get("forwarded")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// A `Set-Cookie` value for the UI's cookies (`max_age` 0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let v = format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Adds a `Set-Cookie` header to a response.
pub fn with_cookie(mut resp: Response, cookie: HeaderValue) -> Response {
    resp.headers_mut().append(SET_COOKIE, cookie);
    resp
}

/// Whether two secrets are equal, in constant time.
pub fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signed-in person of a UI request. Without a valid session, a page request is sent
/// to the sign-in page.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// The token's name: recorded as the actor of what the person does.
    pub actor: String,
    /// Whether the person may change things.
    pub admin: bool,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// The session's id.
    pub session_id: String,
}

impl Viewer {
    /// Refuses a post without this session's CSRF token, or from a read-only session.
    pub fn may_post(&self, csrf: Option<&str>) -> Result<(), Box<Response>> {
        if !csrf.is_some_and(|c| same(c, &self.csrf)) {
            return Err(Box::new(super::pages::error_page(
                StatusCode::FORBIDDEN,
                "The form has expired",
                "The form's CSRF token is missing or does not match this session: nothing was changed. Reload the page and try again.",
            )));
        }
        if !self.admin {
            return Err(Box::new(super::pages::error_page(
                StatusCode::FORBIDDEN,
                "Read-only session",
                "This session signed in with a read-only token: it can look, not change. Nothing was changed.",
            )));
        }
        Ok(())
    }
}

/// The UI's state from a request (put there by the UI router's layer).
pub fn ui_state(parts: &Parts) -> Option<Arc<UiState>> {
    parts.extensions.get::<Arc<UiState>>().cloned()
}

/// Why a request has no viewer: where to send it.
#[derive(Debug)]
pub struct SignInFirst {
    next: String,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let target = format!("/ui/login?next={}", url_encode(&self.next));
        Redirect::to(&target).into_response()
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, SignInFirst> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/ui".to_string(), |p| p.as_str().to_string());
        let reject = || SignInFirst { next: next.clone() };
        let ui = ui_state(parts).ok_or_else(reject)?;
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(reject)?;
        let s = ui.find(id).ok_or_else(reject)?;
        Ok(Viewer {
            actor: s.actor,
            admin: s.role == Role::Admin,
            csrf: s.csrf,
            session_id: id.to_string(),
        })
    }
}

/// Who may read a badge: a session, or a token the host passes (`Authorization: Bearer`
/// or `?token=`). `None` when neither is valid.
pub fn badge_reader(parts: &Parts, state: &AppState, query_token: Option<&str>) -> bool {
    if let (Some(ui), Some(id)) = (ui_state(parts), cookie(&parts.headers, SESSION_COOKIE)) {
        if ui.find(id).is_some() {
            return true;
        }
    }
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    bearer
        .or(query_token)
        .is_some_and(|t| state.config.auth.check(t).is_some())
}
