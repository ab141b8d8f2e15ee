//! `jira-sync serve`: builds the store, the Jira clients, the host and the runtime from a
//! [`Config`], serves the HTTP API, runs the workers and the schedules, and shuts down
//! gracefully: no new requests, in-flight dispatches finished (bounded), leases released,
//! the store closed.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use handoff_adapter::{Host, HostNotification, HttpHost, InMemoryHost};
use jira_adapter::client::{JiraClient, JiraConfig};
use sync_store::Store;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::config::{Config, HostConfig, SiteConfig};
use sync_engine::{
    Clock, Error as EngineError, JiraSite, Runtime, RuntimeConfig, RuntimeParts, Schedule, SeqIds,
    SystemClock, WebhookKeeper,
};

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] sync_store::StoreError),
    /// A Jira client could not be built.
    #[error("Jira site {site:?}: {message}")]
    Jira {
        /// The site.
        site: String,
        /// What went wrong.
        message: String,
    },
    /// The host client could not be built.
    #[error("host: {0}")]
    Host(#[from] handoff_adapter::HostError),
    /// The runtime refused the config.
    #[error("{0}")]
    Runtime(#[from] EngineError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A Jira client for a configured site.
pub fn jira_client(site: &SiteConfig) -> Result<JiraClient, ServeError> {
    let mut cfg = JiraConfig::new(site.url.clone(), site.credentials.clone());
    cfg.flavor = site.flavor;
    cfg.timeout = site.timeout;
    cfg.rate_per_second = NonZeroU32::new(site.rate_per_second).unwrap_or(NonZeroU32::MIN);
    cfg.burst = NonZeroU32::new(site.burst).unwrap_or(NonZeroU32::MIN);
    // Jira API calls by status and site, rate-limit waits: the Prometheus metrics.
    cfg.observer = Some(crate::metrics::jira_observer(&site.name));
    JiraClient::new(cfg).map_err(|e| ServeError::Jira {
        site: site.name.clone(),
        message: e.to_string(),
    })
}

/// The runtime a config describes, over an opened store, and the host's in-process
/// notifications when the host is the in-memory one.
pub struct Built {
    /// The runtime.
    pub rt: Arc<Runtime>,
    /// The in-memory host's notifications (`None` for an HTTP host: it posts them to the
    /// API).
    pub notifications: Option<broadcast::Receiver<HostNotification>>,
    /// The in-memory host, when configured (`host.kind = "memory"`).
    pub memory_host: Option<Arc<InMemoryHost>>,
}

/// Builds the runtime of `config` on `store`. Nothing is contacted yet: Jira and the host
/// are reached on first use.
pub fn build_runtime(config: &Config, store: Store) -> Result<Built, ServeError> {
    let mut sites = Vec::new();
    for s in &config.sites {
        sites.push(JiraSite {
            name: s.name.clone(),
            client: jira_client(s)?,
            webhook_secret: s
                .webhook_secret
                .as_ref()
                .map(|w| w.expose().as_bytes().to_vec()),
        });
    }
    let (host, notifications, memory_host): (Arc<dyn Host>, _, _) = match &config.host {
        HostConfig::Memory => {
            let schema = config
                .projects
                .iter()
                .flat_map(|p| p.project.mapping.fields.iter())
                .map(|f| (f.handoff_field.clone(), f.kind))
                .collect();
            let h = Arc::new(
                InMemoryHost::new()
                    .with_schema(schema)
                    .with_engine_actor("jira-sync"),
            );
            let rx = h.subscribe();
            (h.clone(), Some(rx), Some(h))
        }
        HostConfig::Http {
            url, token, schema, ..
        } => (
            Arc::new(HttpHost::new(url.as_str(), token.expose(), schema.clone())?),
            None,
            None,
        ),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids = Arc::new(SeqIds::for_process(clock.as_ref()));
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // One lease owner per process: a lease is released only by its owner, so two processes
    // must never share a name.
    let owner = format!(
        "{}:{}:{:x}",
        config.instance,
        std::process::id(),
        clock.now_ms()
    );
    let rt = Runtime::new(
        RuntimeParts {
            store,
            sites,
            host,
            clock,
            ids,
        },
        RuntimeConfig {
            projects: config.runtime_projects(),
            owner,
            lease_ms: ms(config.sync.lease),
            poll_overlap_ms: ms(config.sync.poll_overlap),
            max_jitter_ms: ms(config.sync.max_jitter),
            inbox_concurrency: config.sync.inbox_concurrency,
            telemetry: Some(crate::metrics::telemetry()),
        },
    )?;
    Ok(Built {
        rt,
        notifications,
        memory_host,
    })
}

/// Starts the schedules: per project the Jira poll and the full reconciliation at their
/// intervals, the host's change feed when `host.poll_interval` is set, and the keeper of each
/// site's dynamic webhook when `dynamic_webhook_url` is set.
pub fn start_schedules(rt: &Arc<Runtime>, config: &Config) -> Vec<JoinHandle<()>> {
    let host_poll = match &config.host {
        HostConfig::Http { poll_interval, .. } => *poll_interval,
        HostConfig::Memory => None,
    };
    let schedules: Vec<Schedule> = config
        .projects
        .iter()
        .map(|p| Schedule {
            poll_every: Some(p.poll_interval),
            reconcile_every: Some(p.reconcile_interval),
            host_poll_every: host_poll,
            ..Schedule::new(&p.project.project_id)
        })
        .collect();
    let keepers: Vec<WebhookKeeper> = config
        .sites
        .iter()
        .filter_map(|s| {
            s.dynamic_webhook_url.as_ref().map(|url| WebhookKeeper {
                site: s.name.clone(),
                url: url.to_string(),
                every: s.dynamic_webhook_refresh,
            })
        })
        .collect();
    rt.start_schedulers(&schedules, &keepers)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}

/// A running server.
pub struct Running {
    /// The runtime.
    pub rt: Arc<Runtime>,
    /// Where the HTTP API listens.
    pub addr: SocketAddr,
    http: JoinHandle<()>,
    stop_http: tokio::sync::oneshot::Sender<()>,
    workers: Vec<JoinHandle<()>>,
    grace: Duration,
}

/// Opens the store, builds the runtime, binds the HTTP API and starts the workers and
/// schedules.
pub async fn start(config: &Config) -> Result<Running, ServeError> {
    let store = Store::open(&config.store).await?;
    let built = build_runtime(config, store)?;
    start_built(config, built).await
}

/// Binds the HTTP API and starts the workers and schedules of a built runtime.
pub async fn start_built(config: &Config, built: Built) -> Result<Running, ServeError> {
    let Built {
        rt, notifications, ..
    } = built;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.listen,
        source,
    })?;
    let router = crate::api::app(rt.clone(), config.api_config());
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "the HTTP server stopped");
        }
    });
    let mut workers = rt.start_workers(notifications);
    workers.extend(start_schedules(&rt, config));
    tracing::info!(%addr, store = %redact_url(&config.store), projects = config.projects.len(), "jira-sync serving");
    Ok(Running {
        rt,
        addr,
        http,
        stop_http,
        workers,
        grace: config.sync.shutdown_grace,
    })
}

impl Running {
    /// Shuts down: stops taking HTTP requests (those in flight are answered), lets the
    /// dispatches in flight finish within the grace period, stops the workers and closes the
    /// store. Returns whether everything in flight finished in time.
    pub async fn shutdown(self) -> bool {
        let _ = self.stop_http.send(());
        let http_done = tokio::time::timeout(self.grace, self.http).await.is_ok();
        let drained = self.rt.drain(self.grace).await;
        for w in &self.workers {
            w.abort();
        }
        for w in self.workers {
            let _ = w.await;
        }
        self.rt.store().close().await;
        if !drained {
            tracing::warn!(grace = ?self.grace, "dispatches still in flight at the deadline; their leases expire and they run again after a restart");
        }
        tracing::info!("jira-sync stopped");
        http_done && drained
    }
}

/// Runs the server until `shutdown` resolves, then shuts down gracefully.
pub async fn run(config: &Config, shutdown: impl Future<Output = ()>) -> Result<bool, ServeError> {
    let running = start(config).await?;
    shutdown.await;
    Ok(running.shutdown().await)
}

/// A store URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
