//! Creating a server's data directory and running it: listening, serving, and reloading CRLs
//! (periodically, and at once on SIGHUP).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use onshi_pki::terminal_ca::ServerPki;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{ServerConfig, JPKI_DIR};
use crate::metrics::Metrics;
use crate::{api, serve, ServerError, Service};

/// `onshi server init`: config, SQLite store, audit key, terminal CA, server CA and TLS certificate, and the
/// trusted JPKI CA certificates copied in; the directory 0700 and every file 0600 from the start
/// (see [`crate::doctor`]).
pub fn init(
    dir: &Path,
    jpki_cas: &[PathBuf],
    now: DateTime<Utc>,
) -> Result<ServerConfig, ServerError> {
    if dir.join(crate::config::CONFIG_FILE).exists() {
        return Err(ServerError::AlreadyInitialised {
            dir: dir.to_path_buf(),
        });
    }
    // Owner-only from the start: the directory 0700, every file in it 0600 as it is created
    // (the keys by the PKI, the config and JPKI CAs here, the SQLite file by the store).
    crate::doctor::create_private_dir(dir).map_err(ServerError::io(dir))?;
    crate::doctor::create_private_dir(&dir.join(JPKI_DIR)).map_err(ServerError::io(dir))?;
    ServerPki::init(dir, now)?;
    let mut config = ServerConfig::default();
    for (i, ca) in jpki_cas.iter().enumerate() {
        let pem = std::fs::read(ca).map_err(ServerError::io(ca))?;
        onshi_pki::card_check::TrustedJpki::new(std::slice::from_ref(&pem)).map_err(|reason| {
            ServerError::NotJpkiCa {
                path: ca.clone(),
                reason,
            }
        })?;
        let name = PathBuf::from(JPKI_DIR).join(format!("ca-{}.pem", i + 1));
        crate::doctor::write_private(&dir.join(&name), &pem).map_err(ServerError::io(&name))?;
        config.jpki_ca.push(name);
    }
    config.save(dir)?;
    let store = onshi_store::open_service_with(
        &config.database_url(dir),
        &config.database.store_options(),
    )?;
    // The audit chain's key, beside the config (0600).
    crate::audit_key::open_or_create(dir, store.as_ref())?;
    Ok(config)
}

/// The server's certificate chain and key: the operator's own when configured, else the one
/// `init` issued.
fn server_identity(
    dir: &Path,
    config: &ServerConfig,
    pki: &ServerPki,
) -> Result<(String, zeroize::Zeroizing<String>), ServerError> {
    let read = |p: &Path| {
        let path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        };
        std::fs::read_to_string(&path).map_err(|cause| ServerError::Io { path, cause })
    };
    match (&config.tls_certificate, &config.tls_key) {
        (Some(cert), Some(key)) => Ok((read(cert)?, zeroize::Zeroizing::new(read(key)?))),
        (None, None) => Ok((pki.server_cert_chain_pem(), pki.server_key_pem())),
        _ => Err(ServerError::TlsPair),
    }
}

/// A running server: its address, its metrics, and how to stop it.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// The server's counters (what `/metrics` shows).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server ends (it ends when stopped).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Opens the data directory and starts serving on `config.listen` (port 0: any free port).
///
/// CRLs: every instance polls the store's CRL generation every `crl_poll_seconds`; on unix,
/// SIGHUP reloads the trusted CAs and CRLs at once.
pub async fn start(dir: &Path, config: &ServerConfig) -> Result<RunningServer, ServerError> {
    start_with(dir, config, None).await
}

/// Builds more routes (the portal) over the server's store; merged into the API's router.
/// They get the store and the address the server listens on.
pub type ExtraRoutes = Box<
    dyn FnOnce(
            Arc<dyn onshi_store::ServiceStore>,
            std::net::SocketAddr,
        ) -> Result<axum::Router, Box<dyn std::error::Error + Send + Sync>>
        + Send,
>;

/// [`start`], with `extra` routes served beside the API (the portal under `/portal/`).
pub async fn start_with(
    dir: &Path,
    config: &ServerConfig,
    extra: Option<ExtraRoutes>,
) -> Result<RunningServer, ServerError> {
    // The store clients block: open them off the async threads.
    let (owned_dir, owned_config) = (dir.to_path_buf(), config.clone());
    let (service, store) = tokio::task::spawn_blocking(move || {
        let store = onshi_store::open_service_with(
            &owned_config.database_url(&owned_dir),
            &owned_config.database.store_options(),
        )?;
        let store: Arc<dyn onshi_store::ServiceStore> = Arc::from(store);
        Service::open(&owned_dir, &owned_config, store.clone()).map(|s| (Arc::new(s), store))
    })
    .await
    .map_err(ServerError::Task)??;
    let pki = ServerPki::open(dir)?;
    let (chain, key) = server_identity(dir, config, &pki)?;
    let tls = serve::tls_config(&chain, &key, pki.terminal_ca_pem())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|cause| ServerError::Bind {
            addr: config.listen,
            cause,
        })?;
    let addr = listener.local_addr().map_err(ServerError::LocalAddr)?;
    let metrics = Arc::new(Metrics::new());
    let mut router = api::router(service.clone(), config, metrics.clone());
    if let Some(extra) = extra {
        router = router.merge(extra(store, addr).map_err(ServerError::Extra)?);
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let poll = Duration::from_secs(config.crl_poll_seconds.max(1));
    let crl_task = tokio::spawn(watch_crls(service.clone(), poll, Hangup::new()));
    let keep = Duration::from_secs(config.challenge_ttl_seconds)
        .saturating_mul(2)
        .max(SPENT_CHALLENGES_KEPT);
    let prune_task = tokio::spawn(forget_spent_challenges(service.clone(), keep));
    let options = serve::ConnectionOptions {
        metrics: metrics.clone(),
        idle_timeout: Duration::from_secs(config.idle_timeout_seconds.max(1)),
        body_timeout: Duration::from_secs(config.body_timeout_seconds.max(1)),
        caps: Arc::new(crate::limit::ConnectionCaps::new(
            config.max_connections,
            config.max_connections_per_address,
        )),
    };
    let task = tokio::spawn(async move {
        serve::serve(listener, tls, router, options, async {
            let _ = stopped.await;
        })
        .await;
        crl_task.abort();
        prune_task.abort();
    });
    tracing::info!(%addr, "eligibility service listening");
    Ok(RunningServer {
        addr,
        metrics,
        stop: Some(stop),
        task,
    })
}

/// How long a spent challenge is remembered at least: far beyond any challenge's lifetime (a
/// challenge older than that is refused by its own MAC'd expiry before the store is asked).
const SPENT_CHALLENGES_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Every hour, forgets the challenges spent longer than `keep` ago (PostgreSQL's
/// `spent_nonces`, which would otherwise grow by one row per check). Every instance does it;
/// the deletes of two instances overlap harmlessly.
async fn forget_spent_challenges(service: Arc<Service>, keep: Duration) {
    loop {
        let s = service.clone();
        let before =
            Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(1));
        match tokio::task::spawn_blocking(move || s.prune_spent_challenges(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(forgotten = n, "spent challenges forgotten"),
            Ok(Err(e)) => tracing::warn!(%e, "forgetting spent challenges failed"),
            Err(e) => tracing::warn!(%e, "forgetting spent challenges: task failed"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// New CRLs reach every instance through the store: poll its generation counter, and reload at
/// once on SIGHUP. At start and at every poll, a trusted CA without a current CRL is logged as
/// an error (once per poll, not per request).
async fn watch_crls(service: Arc<Service>, poll: Duration, mut hangup: Hangup) {
    service.log_crl_problems(Utc::now());
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(poll) => false,
            () = hangup.recv() => true,
        };
        if forced {
            tracing::info!("SIGHUP: reloading the trusted JPKI CAs and CRLs");
        }
        let s = service.clone();
        let reloaded = tokio::task::spawn_blocking(move || {
            if forced {
                s.force_reload_crls()
            } else {
                s.reload_crls()
            }
        })
        .await;
        match reloaded {
            Ok(Ok(_)) if forced => tracing::info!(
                generation = service.crl_generation(),
                "CRLs reloaded after SIGHUP"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(?e, forced, "CRL reload failed"),
            Err(e) => tracing::warn!(%e, "CRL reload task failed"),
        }
        service.log_crl_problems(Utc::now());
    }
}

/// SIGHUP, where there is such a thing.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    #[cfg(unix)]
    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let signal = signal(SignalKind::hangup())
            .map_err(|e| tracing::warn!(%e, "SIGHUP cannot be caught; CRLs reload by polling only"))
            .ok();
        Self { signal }
    }

    #[cfg(not(unix))]
    fn new() -> Self {
        Self {}
    }

    /// Completes on the next SIGHUP; never where there is none.
    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if let Some(signal) = &mut self.signal {
                if signal.recv().await.is_some() {
                    return;
                }
            }
        }
        std::future::pending::<()>().await;
    }
}
