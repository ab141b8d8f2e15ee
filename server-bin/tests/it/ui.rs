//! The web UI in process (`tower::ServiceExt::oneshot` against the router), on the demo's
//! world (the Jira simulator over HTTP, the in-memory host, an in-memory store), with what
//! `demo --serve` leaves for the UI: an open conflict and an item not pushed yet. Every page
//! and action: content, roles (admin, read-only), CSRF refusal, unknown ids, and bad form
//! input answered with a message at the field and nothing stored.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use handoff_adapter::Host;
use server_bin::api::{self, ApiAuth, ApiConfig, ApiToken, Role};
use server_bin::demo::{DemoWorld, PROJECT};
use server_bin::ui::demo::{leave_for_ui, LeftForUi, LEFT_HANDOFF_TEXT, LEFT_JIRA_TEXT};
use sync_domain::Value;
use sync_store::Store;
use tower::ServiceExt;

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";

struct Ui {
    world: DemoWorld,
    app: Router,
    left: LeftForUi,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self.body.find(marker).expect("a form with a csrf field") + marker.len();
        self.body[at..].split('"').next().unwrap_or("").to_string()
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                server_bin::ui::session::url_encode(k),
                server_bin::ui::session::url_encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    server_bin::ui::session::url_encode(s)
}

impl Ui {
    async fn start() -> Ui {
        let store = Store::open("memory://").await.expect("store");
        let world = DemoWorld::start(store).await.expect("world");
        let left = leave_for_ui(&world).await.expect("left for the UI");
        let config = ApiConfig {
            auth: ApiAuth::new(vec![
                ApiToken {
                    name: "ana".into(),
                    token: ADMIN.into(),
                    role: Role::Admin,
                },
                ApiToken {
                    name: "viewer".into(),
                    token: READER.into(),
                    role: Role::ReadOnly,
                },
            ]),
            handoff_secret: None,
        };
        let app = api::app(world.rt.clone(), config);
        Ui { world, app, left }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<String>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(f) => b
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(f)),
            None => b.body(Body::empty()),
        }
        .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
            .await
            .expect("body");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, cookie: &str) -> Answer {
        self.send(Method::GET, path, Some(cookie), None, &[]).await
    }

    async fn post(&self, path: &str, cookie: &str, pairs: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, path, Some(cookie), Some(form(pairs)), &[])
            .await
    }

    /// Signs in with `token`; returns the session cookie (`name=value`).
    async fn sign_in(&self, token: &str) -> String {
        let page = self.send(Method::GET, "/ui/login", None, None, &[]).await;
        assert_eq!(page.status, StatusCode::OK);
        let login_cookie = page.set_cookies()[0].split(';').next().unwrap().to_string();
        let csrf = page.csrf();
        let a = self
            .send(
                Method::POST,
                "/ui/login",
                Some(&login_cookie),
                Some(form(&[("csrf", &csrf), ("token", token), ("next", "/ui")])),
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let session = a
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("jsync_session="))
            .expect("a session cookie");
        session.split(';').next().unwrap().to_string()
    }

    async fn conflicts_open(&self) -> usize {
        self.world
            .rt
            .store()
            .conflicts(PROJECT)
            .await
            .expect("conflicts")
            .len()
    }
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_refuses_bad_tokens_and_forged_forms() {
    let ui = Ui::start().await;
    // Without a session every page sends the person to the sign-in page.
    let a = ui
        .send(Method::GET, "/ui/items/WI-1", None, None, &[])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/ui/login?next=%2Fui%2Fitems%2FWI-1");

    let page = ui.send(Method::GET, "/ui/login", None, None, &[]).await;
    assert!(page.body.contains("<label for=\"token\">API token</label>"));
    let login_cookie = page.set_cookies()[0].split(';').next().unwrap().to_string();
    let csrf = page.csrf();

    // A wrong token: 401, the message at the field, no session.
    let a = ui
        .send(
            Method::POST,
            "/ui/login",
            Some(&login_cookie),
            Some(form(&[("csrf", &csrf), ("token", "nope")])),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("id=\"token-error\""), "{}", a.body);
    assert!(
        a.body.contains("not one of the server&#39;s API tokens"),
        "{}",
        a.body
    );
    assert!(!a
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("jsync_session=")));

    // A forged form (no double-submit cookie): 403.
    let a = ui
        .send(
            Method::POST,
            "/ui/login",
            None,
            Some(form(&[("csrf", &csrf), ("token", ADMIN)])),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(!a
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("jsync_session=")));

    // The real thing, behind TLS: HttpOnly, SameSite=Strict, Secure.
    let a = ui
        .send(
            Method::POST,
            "/ui/login",
            Some(&login_cookie),
            Some(form(&[
                ("csrf", &csrf),
                ("token", ADMIN),
                ("next", "https://evil.example/"),
            ])),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/ui", "never sent off the UI");
    let session = a
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("jsync_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/ui"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    // Without TLS no Secure (the cookie would not come back over plain HTTP).
    let plain = ui.sign_in(ADMIN).await;
    let dash = ui.get("/ui", &plain).await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(dash
        .body
        .contains("Signed in as <strong>ana</strong> (admin)"));
    let csp = dash
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(dash.headers.get("x-frame-options").unwrap(), "DENY");

    // Sign-out needs the CSRF token, then ends the session.
    let a = ui.post("/ui/logout", &plain, &[("csrf", "wrong")]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(ui.get("/ui", &plain).await.status, StatusCode::OK);
    let a = ui
        .post("/ui/logout", &plain, &[("csrf", &dash.csrf())])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.set_cookies().iter().any(|c| c.contains("Max-Age=0")));
    assert_eq!(ui.get("/ui", &plain).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn conflict_list_and_page_show_three_versions_with_changes_and_the_merge_proposal() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    let list = ui
        .get(&format!("/ui/projects/{PROJECT}/conflicts"), &admin)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&ui.left.conflict_item));
    assert!(list.body.contains("both edited"), "{}", list.body);
    assert!(list
        .body
        .contains(&format!("/ui/conflicts/{}", enc(&ui.left.conflict_id))));

    let page = ui
        .get(
            &format!("/ui/conflicts/{}", enc(&ui.left.conflict_id)),
            &admin,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let b = &page.body;
    assert!(b.contains("Base: what both sides last agreed on"));
    assert!(b.contains("Handoff version") && b.contains("Jira version"));
    // Rich text rendered as HTML, with the Markdown source a toggle away.
    assert!(b.contains("<strong>captcha</strong>"), "{b}");
    assert!(b.contains("<summary>Markdown source"));
    // Changes against the base highlighted.
    assert!(
        b.contains("Lock the account after 5 failed attempts.</ins>"),
        "{b}"
    );
    assert!(
        b.contains("<div class=\"added\" title=\"added against the base\"><p>Show a <strong>captcha</strong>"),
        "the rendered Jira version marks its new paragraph: {b}"
    );
    // The proposal: the edits overlap (both added a second paragraph), shown with markers.
    assert!(
        b.contains("&#60;&#60;&#60;&#60;&#60;&#60;&#60; Handoff"),
        "{b}"
    );
    for button in ["Use Handoff", "Use Jira", "Use merged", "Ignore"] {
        assert!(b.contains(button), "no {button}");
    }

    // A read-only session sees no buttons.
    let viewer = ui.sign_in(READER).await;
    let page = ui
        .get(
            &format!("/ui/conflicts/{}", enc(&ui.left.conflict_id)),
            &viewer,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Use merged") && !page.body.contains("<textarea"));
    assert!(page.body.contains("Read-only session"));
}

#[tokio::test]
async fn resolving_refuses_forged_and_read_only_posts_and_bad_merges_then_settles_both_sides() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    let viewer = ui.sign_in(READER).await;
    let path = format!("/ui/conflicts/{}", enc(&ui.left.conflict_id));
    let resolve = format!("{path}/resolve");
    let csrf = ui.get(&path, &admin).await.csrf();

    // No CSRF token, or another session's: refused, nothing changes.
    let a = ui
        .post(&resolve, &admin, &[("resolution", "use_jira")])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("CSRF"));
    let viewer_csrf = ui.get("/ui", &viewer).await.csrf();
    let a = ui
        .post(
            &resolve,
            &admin,
            &[("csrf", &viewer_csrf), ("resolution", "use_jira")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // A read-only session with its own valid token: refused.
    let a = ui
        .post(
            &resolve,
            &viewer,
            &[("csrf", &viewer_csrf), ("resolution", "use_jira")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("read-only"), "{}", a.body);
    assert_eq!(ui.conflicts_open().await, 1);

    // Bad merges: the message at the field, nothing stored.
    let a = ui
        .post(
            &resolve,
            &admin,
            &[("csrf", &csrf), ("resolution", "merge"), ("merged", "  ")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("id=\"merged-error\""), "{}", a.body);
    assert!(a.body.contains("aria-invalid=\"true\""));
    let marked = "<<<<<<< Handoff\nx\n=======\ny\n>>>>>>> Jira";
    let a = ui
        .post(
            &resolve,
            &admin,
            &[("csrf", &csrf), ("resolution", "merge"), ("merged", marked)],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("conflict markers"));
    let a = ui
        .post(
            &resolve,
            &admin,
            &[("csrf", &csrf), ("resolution", "bogus")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ui.conflicts_open().await, 1);

    // An edited merge.
    let merged = "Users sign in with email and password.\n\nShow a **captcha** after 3 failed attempts; lock the account after 5.";
    let a = ui
        .post(
            &resolve,
            &admin,
            &[("csrf", &csrf), ("resolution", "merge"), ("merged", merged)],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a
        .body
        .contains("Resolved the conflict on description: the merged value is used"));
    assert!(a.body.contains("hx-get=\"/ui/badge/"), "live badge");
    assert_eq!(ui.conflicts_open().await, 0);
    assert!(ui.world.settle().await);

    // Both sides hold the merge, and the item page says so.
    let item = ui
        .world
        .host
        .get_item(&ui.left.conflict_item)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.field("description"), Value::rich_text(merged));
    let page = ui
        .get(&format!("/ui/items/{}", ui.left.conflict_item), &admin)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("✓ Synced"), "{}", page.body);
    assert!(page.body.contains("<td>description</td>"));
    assert!(!page.body.contains("data-equal=\"false\""), "{}", page.body);
    assert!(page
        .body
        .contains("conflict on description resolved: merged by ana"));

    // The conflict is gone: its page is a 404.
    assert_eq!(ui.get(&path, &admin).await.status, StatusCode::NOT_FOUND);
    let _ = (LEFT_HANDOFF_TEXT, LEFT_JIRA_TEXT);
}

#[tokio::test]
async fn use_jira_and_ignore_resolve_through_the_same_operation() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    let path = format!("/ui/conflicts/{}", enc(&ui.left.conflict_id));
    let csrf = ui.get(&path, &admin).await.csrf();
    let a = ui
        .post(
            &format!("{path}/resolve"),
            &admin,
            &[("csrf", &csrf), ("resolution", "use_jira")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Jira&#39;s value is kept"), "{}", a.body);
    assert!(ui.world.settle().await);
    let item = ui
        .world
        .host
        .get_item(&ui.left.conflict_item)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.field("description"), Value::rich_text(LEFT_JIRA_TEXT));
}

#[tokio::test]
async fn unknown_ids_are_404_pages() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    for path in [
        "/ui/conflicts/no-such",
        "/ui/items/WI-999",
        "/ui/projects/NOPE/conflicts",
        "/ui/projects/NOPE/settings",
        "/ui/live/NOPE",
    ] {
        let a = ui.get(path, &admin).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.body);
        assert!(a.body.contains("No "), "{path}: {}", a.body);
    }
    let csrf = ui.get("/ui", &admin).await.csrf();
    for path in [
        "/ui/conflicts/no-such/resolve",
        "/ui/items/WI-999/sync",
        "/ui/items/WI-999/retry",
        "/ui/links/no-such/retry",
        "/ui/links/no-such/unlink",
        "/ui/projects/NOPE/full-sync",
        "/ui/projects/NOPE/retry-failed",
    ] {
        let a = ui
            .post(path, &admin, &[("csrf", &csrf), ("resolution", "use_jira")])
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.body);
    }
    let a = ui.get("/ui/badge/WI-999", &admin).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn badge_as_html_and_svg_with_a_session_or_a_read_token_and_cacheable() {
    let ui = Ui::start().await;
    let item = &ui.left.conflict_item;
    // No session, no token: 401.
    let a = ui
        .send(Method::GET, &format!("/ui/badge/{item}"), None, None, &[])
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = ui
        .send(
            Method::GET,
            &format!("/ui/badge/{item}?token=wrong"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // A read token, no session.
    let a = ui
        .send(
            Method::GET,
            &format!("/ui/badge/{item}?token={READER}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("⚠ Conflict"), "{}", a.body);
    assert!(a.body.contains(&format!("href=\"/ui/items/{item}\"")));
    assert_eq!(
        a.headers.get("cache-control").unwrap(),
        "private, max-age=5"
    );
    let a = ui
        .send(
            Method::GET,
            &format!("/ui/badge/{item}.svg"),
            None,
            None,
            &[("authorization", &format!("Bearer {READER}"))],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("image/svg+xml"));
    assert!(
        a.body.starts_with("<svg") && a.body.contains("⚠ Conflict"),
        "{}",
        a.body
    );
    let key = ui
        .world
        .rt
        .link_by_item(item)
        .await
        .unwrap()
        .jira_issue_key
        .unwrap();
    assert!(a.body.contains(&key));
}

#[tokio::test]
async fn work_item_page_shows_badge_key_link_pending_writes_timeline_and_acts() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    let item = &ui.left.conflict_item;
    let page = ui.get(&format!("/ui/items/{item}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    let b = &page.body;
    assert!(b.contains("⚠ Conflict"));
    assert!(b.contains("/browse/SIM-"), "Jira link: {b}");
    assert!(b.contains("Last synced:"));
    assert!(b.contains("Pending writes"));
    assert!(b.contains("linked: work item pushed to Jira"), "{b}");
    assert!(b.contains("conflict on description"));
    assert!(b.contains("Show engine bookkeeping"));
    let plain_entries = b.matches("<li><time>").count();
    let all = ui.get(&format!("/ui/items/{item}?all=true"), &admin).await;
    assert!(all.body.matches("<li><time>").count() > plain_entries);
    assert!(all.body.contains("Hide engine bookkeeping"));
    assert!(b.contains(">Sync now</button>"));
    assert!(!b.contains(">Retry</button>"), "no retry without an error");

    // Retry is refused on a link with no failed writes; Sync now works.
    let csrf = page.csrf();
    let a = ui
        .post(
            &format!("/ui/items/{item}/retry"),
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    let a = ui
        .post(
            &format!("/ui/items/{item}/sync"),
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("was read again on both sides"));

    // Read-only: no buttons, and posting is refused.
    let viewer = ui.sign_in(READER).await;
    let page = ui.get(&format!("/ui/items/{item}"), &viewer).await;
    assert!(!page.body.contains(">Sync now</button>"));
    let a = ui
        .post(
            &format!("/ui/items/{item}/sync"),
            &viewer,
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn dashboard_names_the_site_state_counts_windows_and_draws_a_chart() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    let a = ui.get("/ui", &admin).await;
    assert_eq!(a.status, StatusCode::OK);
    let b = &a.body;
    assert!(
        b.contains("Connected: Jira answers and accepts the credentials"),
        "{b}"
    );
    assert!(b.contains("Circuit breaker: closed"));
    assert!(b.contains("Rate limit pause: none now"));
    // The demo's stories came in by webhook: the last one's time is shown.
    assert!(
        b.contains("last from this site: ") && !b.contains("last from this site: none yet"),
        "{b}"
    );
    assert!(b.contains("Project HANDOFF"));
    assert!(b.contains("data-count=\"conflicts\">1<"), "{b}");
    for w in [
        "24 h",
        "7 d",
        "30 d",
        "Success rate",
        "p50",
        "p95",
        "Links by status",
    ] {
        assert!(b.contains(w), "no {w}");
    }
    assert!(b.contains("<svg class=\"chart\""));
    assert!(b.contains("hx-get=\"/ui/live/HANDOFF\""));
    assert!(b.contains(">Force full sync</button>") && b.contains(">Retry failed</button>"));
    assert!(b.contains(">View conflicts</a>"));

    let live = ui.get("/ui/live/HANDOFF", &admin).await;
    assert_eq!(live.status, StatusCode::OK);
    assert!(live.body.starts_with("<div class=\"cards\""));
    assert!(!live.body.contains("<html"));

    let csrf = a.csrf();
    let r = ui
        .post("/ui/projects/HANDOFF/full-sync", &admin, &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Full sync of project HANDOFF"));
    let r = ui
        .post(
            "/ui/projects/HANDOFF/retry-failed",
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("0 of 0 links in error"), "{}", r.body);

    let viewer = ui.sign_in(READER).await;
    let v = ui.get("/ui", &viewer).await;
    assert!(!v.body.contains(">Force full sync</button>"));
    assert!(v.body.contains(">View conflicts</a>"));
    let r = ui
        .post(
            "/ui/projects/HANDOFF/full-sync",
            &viewer,
            &[("csrf", &v.csrf())],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn settings_test_a_change_before_saving_and_show_problems_at_the_field() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    let path = "/ui/projects/HANDOFF/settings";
    let page = ui.get(path, &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    let b = &page.body;
    assert!(b.contains("<td>acceptanceCriteria</td>"));
    assert!(b.contains("→ Push only"));
    assert!(b.contains("↔ Bidirectional"));
    assert!(
        b.contains("Custom: Story point estimate"),
        "field discovery by name: {b}"
    );
    assert!(b.contains("<datalist id=\"jira-fields\">"));
    assert!(b.contains("The mapping from the config, never changed here."));
    let csrf = page.csrf();
    let versions = |rt: &std::sync::Arc<sync_engine::Runtime>| {
        let rt = rt.clone();
        async move { rt.mappings("HANDOFF").await.unwrap().revisions.len() }
    };
    let before = versions(&ui.world.rt).await;

    // Test an edit: title becomes push-only, against the conflict's item.
    let edit = ui.get(&format!("{path}?edit=title"), &admin).await;
    assert!(edit.body.contains("Edit the mapping of title"));
    let fields = |jira: &str, action: &str, item: &str| {
        vec![
            ("csrf".to_string(), csrf.clone()),
            ("original".to_string(), "title".to_string()),
            ("handoff_field".to_string(), "title".to_string()),
            ("jira_field".to_string(), jira.to_string()),
            ("kind".to_string(), "text".to_string()),
            ("direction".to_string(), "push".to_string()),
            ("policy".to_string(), "manual".to_string()),
            ("test_item".to_string(), item.to_string()),
            ("test_issue".to_string(), String::new()),
            ("action".to_string(), action.to_string()),
        ]
    };
    let post = |pairs: Vec<(String, String)>| {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form(&refs)
    };
    let item = ui.left.conflict_item.clone();
    let a = ui
        .send(
            Method::POST,
            path,
            Some(&admin),
            Some(post(fields("summary", "test", &item))),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("Test result: nothing was written"),
        "{}",
        a.body
    );
    assert!(a.body.contains("<td>User Login</td>"), "{}", a.body);
    assert_eq!(
        versions(&ui.world.rt).await,
        before,
        "a test stores nothing"
    );

    // No item or issue to test against: the message at the test fields.
    let a = ui
        .send(
            Method::POST,
            path,
            Some(&admin),
            Some(post(fields("summary", "test", ""))),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("id=\"f-test-error\""));

    // A Jira field that is not one: the message at the Jira field, nothing stored.
    let a = ui
        .send(
            Method::POST,
            path,
            Some(&admin),
            Some(post(fields("Not A Field", "save", ""))),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("id=\"f-jira_field-error\""), "{}", a.body);
    assert!(a.body.contains("is not a Jira field id"));
    assert_eq!(versions(&ui.world.rt).await, before);
    // An unknown kind and an empty Handoff field: at their fields.
    let mut bad = fields("summary", "save", "");
    bad[2].1 = String::new();
    bad[4].1 = "colour".into();
    let a = ui
        .send(Method::POST, path, Some(&admin), Some(post(bad)), &[])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body.contains("id=\"f-handoff_field-error\"") && a.body.contains("id=\"f-kind-error\"")
    );
    assert_eq!(versions(&ui.world.rt).await, before);

    // Save: a new version by ana.
    let a = ui
        .send(
            Method::POST,
            path,
            Some(&admin),
            Some(post(fields("summary", "save", ""))),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("saved as a new version by ana"));
    assert_eq!(versions(&ui.world.rt).await, before + 1);
    let page = ui.get(path, &admin).await;
    assert!(page.body.contains("by ana at"), "{}", page.body);
    let title_row = page.body.split("<td>title</td>").nth(1).unwrap_or("");
    assert!(title_row
        .split("</tr>")
        .next()
        .unwrap_or("")
        .contains("→ Push only"));

    // Remove a mapping.
    let a = ui
        .post(
            &format!("{path}/remove"),
            &admin,
            &[("csrf", &csrf), ("handoff_field", "acceptanceCriteria")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let m = ui.world.rt.mappings("HANDOFF").await.unwrap();
    assert!(!m
        .mapping
        .fields
        .iter()
        .any(|f| f.handoff_field == "acceptanceCriteria"));

    // Read-only: no form, and posting is refused.
    let viewer = ui.sign_in(READER).await;
    let v = ui.get(path, &viewer).await;
    assert!(!v.body.contains("Save mapping"));
    let a = ui
        .post(
            &format!("{path}/remove"),
            &viewer,
            &[("csrf", &v.csrf()), ("handoff_field", "title")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn links_page_finds_pushes_links_previews_and_refuses_bad_input_at_the_field() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    let item = ui.left.conflict_item.clone();
    let key = ui
        .world
        .rt
        .link_by_item(&item)
        .await
        .unwrap()
        .jira_issue_key
        .unwrap();
    let a = ui.get(&format!("/ui/links?q={item}"), &admin).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains(&key) && a.body.contains("conflict"));
    let a = ui.get(&format!("/ui/links?q={key}"), &admin).await;
    assert!(a.body.contains(&format!("/ui/items/{item}")), "{}", a.body);
    let a = ui.get("/ui/links?q=WI-404", &admin).await;
    assert!(a.body.contains("No link of a work item or Jira issue"));
    assert!(a.body.contains("No link is in error."));
    let csrf = a.csrf();

    // Bad input: at the field, nothing stored.
    let links_before = ui.world.rt.stats_view().await.unwrap().links;
    let a = ui
        .post(
            "/ui/links",
            &admin,
            &[("csrf", &csrf), ("action", "push"), ("push_item", "")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("id=\"push-error\""));
    let a = ui
        .post(
            "/ui/links",
            &admin,
            &[("csrf", &csrf), ("action", "push"), ("push_item", "WI-404")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("No work item"), "{}", a.body);
    let a = ui
        .post(
            "/ui/links",
            &admin,
            &[
                ("csrf", &csrf),
                ("action", "link"),
                ("link_item", &ui.left.unpushed_item),
                ("link_issue", "SIM-9999"),
                ("prefer", "handoff"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("id=\"link-issue-error\""), "{}", a.body);
    let a = ui
        .post(
            "/ui/links",
            &admin,
            &[
                ("csrf", &csrf),
                ("action", "preview"),
                ("project", "HANDOFF"),
                ("jql", ""),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("id=\"jql-error\""));
    assert_eq!(ui.world.rt.stats_view().await.unwrap().links, links_before);

    // Preview a JQL import: a count, nothing imported.
    let a = ui
        .post(
            "/ui/links",
            &admin,
            &[
                ("csrf", &csrf),
                ("action", "preview"),
                ("project", "HANDOFF"),
                ("jql", "project = SIM"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("The search finds"), "{}", a.body);
    assert_eq!(ui.world.rt.stats_view().await.unwrap().links, links_before);

    // Import by JQL: an issue linked already keeps its link (no second link).
    let a = ui
        .post(
            "/ui/links",
            &admin,
            &[
                ("csrf", &csrf),
                ("action", "import"),
                ("project", "HANDOFF"),
                ("jql", &format!("key = {key}")),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("1 of 1 issues the search found are linked"),
        "{}",
        a.body
    );
    assert_eq!(ui.world.rt.stats_view().await.unwrap().links, links_before);

    // Push the unpushed item: pending at first, then synced.
    let a = ui
        .post(
            "/ui/links",
            &admin,
            &[
                ("csrf", &csrf),
                ("action", "push"),
                ("push_item", &ui.left.unpushed_item),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("pushed to Jira"));
    assert!(ui.world.settle().await);
    let b = ui
        .get(&format!("/ui/badge/{}", ui.left.unpushed_item), &admin)
        .await;
    assert!(b.body.contains("✓ Synced"), "{}", b.body);

    // Unlink it from the links page's action.
    let link = ui
        .world
        .rt
        .link_by_item(&ui.left.unpushed_item)
        .await
        .unwrap();
    let a = ui
        .post(
            &format!("/ui/links/{}/unlink", enc(&link.link_id)),
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        ui.world.rt.link(&link.link_id).await.unwrap().status,
        "unlinked"
    );
    // Read-only: no create forms.
    let viewer = ui.sign_in(READER).await;
    let v = ui.get("/ui/links", &viewer).await;
    assert!(!v.body.contains("Push a work item"));
}

/// Jira refuses every `PUT` with a 400 (permanent: the write gives up).
fn refuse_jira_puts(ui: &Ui) {
    ui.world
        .sim
        .lock()
        .unwrap()
        .set_call_fault_hook(Some(Box::new(|call: &str| {
            call.starts_with("PUT ").then(|| {
                jira_sim::CallFault::Error(jira_sim::SimError::BadRequest {
                    messages: vec!["refused for the test".into()],
                    errors: BTreeMap::new(),
                })
            })
        })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_links_show_class_message_next_attempt_and_retry() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    let page = ui.get("/ui/links", &admin).await;
    assert!(page.body.contains("No link is in error."));
    let csrf = page.csrf();
    // Push the draft, then make its next write to Jira give up.
    let item = ui.left.unpushed_item.clone();
    let link_id = ui.world.rt.push_item(&item, "ana").await.unwrap();
    assert!(ui.world.settle().await);
    refuse_jira_puts(&ui);
    ui.world
        .host
        .edit_as_person(
            &item,
            &BTreeMap::from([("title".to_string(), Value::text("Retry me"))]),
            "ana",
        )
        .unwrap();
    let mut in_error = false;
    for _ in 0..500 {
        let v = ui
            .world
            .rt
            .store()
            .link_view(&link_id)
            .await
            .unwrap()
            .unwrap();
        if v.status == sync_domain::link::LinkStatus::Error {
            in_error = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(in_error, "the write never gave up");

    let page = ui.get("/ui/links", &admin).await;
    assert!(
        page.body.contains(&format!("/ui/items/{item}")),
        "{}",
        page.body
    );
    assert!(page.body.contains("refused for the test"), "{}", page.body);
    assert!(
        page.body.contains("<td>rejected</td>"),
        "error class: {}",
        page.body
    );
    assert!(page.body.contains(">Retry</button>") && page.body.contains(">Unlink</button>"));
    let item_page = ui.get(&format!("/ui/items/{item}"), &admin).await;
    assert!(item_page.body.contains("✕ Error"));
    assert!(item_page.body.contains("refused for the test"));
    assert!(item_page.body.contains(">Retry</button>"));
    let dash = ui.get("/ui", &admin).await;
    assert!(
        dash.body.contains("data-count=\"errors\">1<"),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("<td>rejected</td>"), "{}", dash.body);

    // Jira takes writes again: Retry from the links page, then synced.
    ui.world.sim.lock().unwrap().set_call_fault_hook(None);
    let a = ui
        .post(
            &format!("/ui/links/{}/retry", enc(&link_id)),
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(ui.world.settle().await);
    let b = ui.get(&format!("/ui/badge/{item}"), &admin).await;
    assert!(b.body.contains("✓ Synced"), "{}", b.body);
    let a = ui
        .post(
            &format!("/ui/items/{item}/retry"),
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(a.body.contains("has no failed writes"));
}

#[tokio::test]
async fn assets_are_served_from_the_binary() {
    let ui = Ui::start().await;
    let a = ui
        .send(Method::GET, "/ui/assets/htmx.min.js", None, None, &[])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("version:\"2.0.11\""));
    assert!(a
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let a = ui
        .send(Method::GET, "/ui/assets/ui.css", None, None, &[])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains(".sync-badge"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_says_plainly_when_jira_rate_limits_the_engine() {
    let ui = Ui::start().await;
    let admin = ui.sign_in(ADMIN).await;
    ui.world.sim.lock().unwrap().set_faults(jira_sim::Faults {
        rate_limit_every: Some(1),
        retry_after_s: 30,
        ..jira_sim::Faults::default()
    });
    let client = ui.world.rt.jira("sim").expect("the demo's site").clone();
    let probe = client.clone();
    let call = tokio::spawn(async move {
        let _ = probe.server_info().await;
    });
    let mut paused = false;
    for _ in 0..250 {
        if client.rate_limit_pause().is_some() {
            paused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(paused, "the client never paused");
    let started = std::time::Instant::now();
    let a = ui.get("/ui", &admin).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the page does not wait out the pause"
    );
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("Paused: rate limited by Jira until"),
        "{}",
        a.body
    );
    assert!(a.body.contains("Rate limit pause: paused until"));
    call.abort();
    ui.world
        .sim
        .lock()
        .unwrap()
        .set_faults(jira_sim::Faults::default());
}
