//! Creating a server's data directory and running it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use onshi_pki::terminal_ca::ServerPki;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{ServerConfig, JPKI_DIR};
use crate::{api, serve, Service};

/// `onshi server init`: config, SQLite store, terminal CA, server CA and TLS certificate, and the
/// trusted JPKI CA certificates copied in.
pub fn init(dir: &Path, jpki_cas: &[PathBuf], now: DateTime<Utc>) -> Result<ServerConfig, String> {
    if dir.join(crate::config::CONFIG_FILE).exists() {
        return Err(format!(
            "{}: 既に初期化されています / already initialised",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir.join(JPKI_DIR)).map_err(|e| format!("{}: {e}", dir.display()))?;
    ServerPki::init(dir, now).map_err(|e| e.to_string())?;
    let mut config = ServerConfig::default();
    for (i, ca) in jpki_cas.iter().enumerate() {
        let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
        onshi_pki::card_check::TrustedJpki::new(std::slice::from_ref(&pem)).map_err(|e| {
            format!(
                "{}: JPKI CA 証明書として読めません / not a CA certificate: {e}",
                ca.display()
            )
        })?;
        let name = PathBuf::from(JPKI_DIR).join(format!("ca-{}.pem", i + 1));
        std::fs::write(dir.join(&name), pem).map_err(|e| format!("{}: {e}", name.display()))?;
        config.jpki_ca.push(name);
    }
    config.save(dir).map_err(|e| e.to_string())?;
    onshi_store::open_service(&config.database_url(dir)).map_err(|e| e.to_string())?;
    Ok(config)
}

/// A running server: its address and how to stop it.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
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
pub async fn start(dir: &Path, config: &ServerConfig) -> Result<RunningServer, String> {
    // The store clients block: open them off the async threads.
    let (owned_dir, owned_config) = (dir.to_path_buf(), config.clone());
    let service = tokio::task::spawn_blocking(move || {
        let store = onshi_store::open_service(&owned_config.database_url(&owned_dir))
            .map_err(|e| e.to_string())?;
        let store: Arc<dyn onshi_store::ServiceStore> = Arc::from(store);
        Service::open(&owned_dir, &owned_config, store).map(Arc::new)
    })
    .await
    .map_err(|e| e.to_string())??;
    let pki = ServerPki::open(dir).map_err(|e| e.to_string())?;
    let tls = serve::tls_config(
        &pki.server_cert_chain_pem(),
        &pki.server_key_pem(),
        pki.terminal_ca_pem(),
    )?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("{}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let router = api::router(service.clone(), config);
    let (stop, stopped) = oneshot::channel::<()>();
    // New CRLs reach every instance through the store: poll its generation counter.
    let poll = Duration::from_secs(config.crl_poll_seconds.max(1));
    let watcher = service.clone();
    let crl_task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(poll).await;
            let s = watcher.clone();
            match tokio::task::spawn_blocking(move || s.reload_crls()).await {
                Ok(Err(e)) => tracing::warn!(?e, "CRL reload failed"),
                Err(e) => tracing::warn!(%e, "CRL reload task failed"),
                Ok(Ok(_)) => {}
            }
        }
    });
    let task = tokio::spawn(async move {
        serve::serve(listener, tls, router, async {
            let _ = stopped.await;
        })
        .await;
        crl_task.abort();
    });
    tracing::info!(%addr, "eligibility service listening");
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        task,
    })
}
