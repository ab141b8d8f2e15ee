//! Item 1: webhook intake over real HTTP on 127.0.0.1: signed deliveries (verify, dedupe,
//! durable append in the inbox) against a trivial axum handler, closed loop and at a fixed
//! offered rate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use jira_adapter::webhook::{sign, DELIVERY_ID_HEADER, SIGNATURE_HEADER};
use jira_sim::{SimConfig, SimJira};
use serde_json::json;

use crate::stats::Lat;
use crate::world::{lock, obj, JIRA_PERSON, SECRET};

/// A realistic delivery body: the simulator's `jira:issue_updated` for a summary edit.
pub fn sample_body() -> anyhow::Result<Vec<u8>> {
    let mut sim = SimJira::new(
        SimConfig {
            webhook_secret: Some(SECRET.to_vec()),
            ..SimConfig::default()
        },
        Arc::new(sync_engine::SystemClock),
    );
    sim.register_webhooks(&json!({
        "url": "http://127.0.0.1:9/hook",
        "webhooks": [{"events": ["jira:issue_updated"], "jqlFilter": "project = SIM"}],
    }))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (id, _) = sim
        .create_issue(
            &obj(json!({
                "project": {"key": "SIM"}, "issuetype": {"name": "Story"},
                "summary": "Password reset by email", "labels": ["auth"],
                "description": {"type": "doc", "version": 1, "content": [{"type": "paragraph",
                  "content": [{"type": "text", "text": "Allow users to reset their password via email link."}]}]},
            })),
            &[],
            JIRA_PERSON,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    sim.edit_as_person(
        &id,
        &obj(json!({"summary": "Password reset by email or SMS"})),
        JIRA_PERSON,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    sim.drain_all()
        .pop()
        .map(|d| d.body)
        .ok_or_else(|| anyhow::anyhow!("the simulator sent no webhook"))
}

/// A trivial handler in the same shape: takes the body, answers 202 with a small JSON.
pub async fn serve_trivial() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = Router::new().route(
        "/api/webhooks/jira",
        post(|_body: axum::body::Bytes| async {
            (StatusCode::ACCEPTED, Json(json!({"status": "accepted"})))
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let h = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, h))
}

/// What a load run measured.
#[derive(Clone, Debug, Default)]
pub struct Load {
    /// Requests answered 2xx per second (closed loop), or offered per second (open loop).
    pub rps: f64,
    /// Latencies of answered requests (open loop: from the scheduled send time).
    pub lat: Lat,
    /// Requests not answered 2xx.
    pub errors: u64,
}

struct Poster {
    http: reqwest::Client,
    url: String,
    body: Vec<u8>,
    sig: String,
    run: String,
    n: AtomicU64,
}

impl Poster {
    async fn post(&self) -> bool {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let r = self
            .http
            .post(&self.url)
            .header(DELIVERY_ID_HEADER, format!("{}-{n}", self.run))
            .header(SIGNATURE_HEADER, &self.sig)
            .header("content-type", "application/json")
            .body(self.body.clone())
            .send()
            .await;
        matches!(r, Ok(r) if r.status().is_success())
    }
}

fn poster(addr: SocketAddr, body: &[u8], run: &str) -> anyhow::Result<Arc<Poster>> {
    Ok(Arc::new(Poster {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()?,
        url: format!("http://{addr}/api/webhooks/jira"),
        body: body.to_vec(),
        sig: sign(SECRET, body),
        run: run.to_string(),
        n: AtomicU64::new(0),
    }))
}

/// `clients` clients, each posting one delivery after the other, for `secs` (at most
/// `max_requests` requests in all). Every delivery has a new delivery id.
pub async fn closed_loop(
    addr: SocketAddr,
    body: &[u8],
    run: &str,
    clients: usize,
    secs: f64,
    max_requests: u64,
) -> anyhow::Result<Load> {
    let p = poster(addr, body, run)?;
    // Warm-up: connections open, caches filled.
    for _ in 0..50 {
        p.post().await;
    }
    let lat = Arc::new(Mutex::new(Lat::default()));
    let errors = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (p, lat, errors, sent) = (p.clone(), lat.clone(), errors.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Lat::default();
            while Instant::now() < end && sent.fetch_add(1, Ordering::Relaxed) < max_requests {
                let t = Instant::now();
                if p.post().await {
                    mine.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lock(&lat).0.extend(mine.0);
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let lat = lock(&lat).clone();
    Ok(Load {
        rps: lat.len() as f64 / secs,
        lat,
        errors: errors.load(Ordering::Relaxed),
    })
}

/// Deliveries sent at a fixed `rate` per second for `secs`, each on its own task, whatever
/// the answers; latency counted from the scheduled send time (no coordinated omission).
pub async fn open_loop(
    addr: SocketAddr,
    body: &[u8],
    run: &str,
    rate: f64,
    secs: f64,
) -> anyhow::Result<Load> {
    let p = poster(addr, body, run)?;
    for _ in 0..50 {
        p.post().await;
    }
    let n = (rate * secs) as u64;
    let lat = Arc::new(Mutex::new(Lat::default()));
    let errors = Arc::new(AtomicU64::new(0));
    let t0 = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = t0 + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at).await;
        let (p, lat, errors) = (p.clone(), lat.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            if p.post().await {
                let d = at.elapsed();
                lock(&lat).push(d);
            } else {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let lat = lock(&lat).clone();
    Ok(Load {
        rps: rate,
        lat,
        errors: errors.load(Ordering::Relaxed),
    })
}
