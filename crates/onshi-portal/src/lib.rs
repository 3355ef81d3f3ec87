//! The portal (施術所等向け総合ポータルサイト), served under `/portal/` by the eligibility server:
//! clinics register (e-mail confirmed by a link), log in, apply to start (利用開始申請), create
//! their terminals' app accounts with one-time enrollment codes and settings files, and claim the
//! equipment and receipt-computer subsidies with receipts; the operator (実施機関) reviews all
//! of it. Server-rendered pages (maud), no script needed.
//!
//! Security in one place: argon2id password hashes; sessions in the store (every instance behind
//! a load balancer knows them) behind a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict);
//! a CSRF token on every form (the session's, or a double-submit cookie before login); login
//! throttling per account and per address; every query scoped to the logged-in clinic; the
//! operator's pages refuse a clinic's session; uploads limited, sniffed and stored under random
//! names outside any web root; every operator action in `portal_audit`.

pub mod auth;
pub mod claims;
pub mod clinic;
pub mod db;
#[doc(hidden)]
pub mod fuzzing;
pub mod mail;
pub mod operator;
pub mod terminals;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use onshi_server::config::{PortalConfig, ServerConfig};
use onshi_store::ServiceStore;

/// The largest request: one receipt (10 MB) and the form around it.
pub const MAX_REQUEST_BYTES: usize = 11 * 1024 * 1024;
/// The largest receipt file.
pub const MAX_RECEIPT_BYTES: usize = 10 * 1024 * 1024;

/// The portal's settings, resolved from `[portal]` and the server's data directory.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The address clinics open (links in mails), without a trailing slash.
    pub public_url: String,
    /// Where mails go when there is no SMTP server.
    pub outbox: PathBuf,
    /// Where receipts are stored.
    pub receipts: PathBuf,
    /// The sender of mails.
    pub mail_from: String,
    /// The end of the claim period (exclusive): the day after the deadline, 00:00 JST.
    pub deadline_end: DateTime<Utc>,
    /// The deadline as configured (`yyyy-mm-dd`), for pages.
    pub deadline: NaiveDate,
    /// 機器導入 cap.
    pub equipment_cap_yen: i64,
    /// レセコン改修 rate (percent) and cap.
    pub rececon_rate_percent: i64,
    /// レセコン改修 cap.
    pub rececon_cap_yen: i64,
    /// Session length.
    pub session_hours: i64,
    /// Throttling.
    pub failures_per_account: i64,
    /// Throttling.
    pub failures_per_address: i64,
    /// Throttling window.
    pub throttle_minutes: i64,
    /// The server's CA certificate (PEM), put into terminals' settings files.
    pub server_ca_pem: String,
    /// The service's address for terminals (`https://HOST:PORT`).
    pub service_url: String,
    /// The SMTP server; none: the outbox folder.
    pub smtp: Option<mail::SmtpSettings>,
}

pub use onshi_model::date::jst;

impl Settings {
    /// Resolves `[portal]` for the server whose data directory is `dir`.
    pub fn resolve(
        dir: &Path,
        server: &ServerConfig,
        listening: std::net::SocketAddr,
    ) -> Result<Self, String> {
        let p: &PortalConfig = &server.portal;
        let deadline = NaiveDate::parse_from_str(&p.subsidy_deadline, "%Y-%m-%d").map_err(|e| {
            format!(
                "[portal] subsidy_deadline {:?}: yyyy-mm-dd で書いてください / {e}",
                p.subsidy_deadline
            )
        })?;
        let end_day = deadline
            .succ_opt()
            .ok_or_else(|| "[portal] subsidy_deadline is out of range".to_owned())?;
        let deadline_end = jst()
            .from_local_datetime(&end_day.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .ok_or_else(|| "[portal] subsidy_deadline is out of range".to_owned())?
            .with_timezone(&Utc);
        let smtp = p
            .smtp
            .as_deref()
            .map(|server| mail::SmtpSettings::from_config(server, p))
            .transpose()?;
        if let Some(s) = &smtp {
            // Refused at start, not at the first mail.
            mail::Mailer::smtp(s)?;
        }
        for (name, v) in [
            ("equipment_cap_yen", p.equipment_cap_yen),
            ("rececon_cap_yen", p.rececon_cap_yen),
            ("session_hours", p.session_hours),
            ("failures_per_account", p.failures_per_account),
            ("failures_per_address", p.failures_per_address),
            ("throttle_minutes", p.throttle_minutes),
        ] {
            if v <= 0 {
                return Err(format!("[portal] {name} must be positive, not {v}"));
            }
        }
        if !(0..=100).contains(&p.rececon_rate_percent) {
            return Err(format!(
                "[portal] rececon_rate_percent must be 0–100, not {}",
                p.rececon_rate_percent
            ));
        }
        let service_url = format!("https://{listening}");
        let public_url = p
            .public_url
            .clone()
            .unwrap_or_else(|| service_url.clone())
            .trim_end_matches('/')
            .to_owned();
        let server_ca_pem = std::fs::read_to_string(dir.join("server-ca.pem")).unwrap_or_default();
        Ok(Self {
            public_url,
            outbox: p.outbox.clone().unwrap_or_else(|| dir.join("outbox")),
            receipts: p.receipts.clone().unwrap_or_else(|| dir.join("receipts")),
            mail_from: p.mail_from.clone(),
            deadline_end,
            deadline,
            equipment_cap_yen: p.equipment_cap_yen,
            rececon_rate_percent: p.rececon_rate_percent,
            rececon_cap_yen: p.rececon_cap_yen,
            session_hours: p.session_hours,
            failures_per_account: p.failures_per_account,
            failures_per_address: p.failures_per_address,
            throttle_minutes: p.throttle_minutes,
            server_ca_pem,
            service_url,
            smtp,
        })
    }

    /// Whether claims can still be submitted at `now`.
    pub fn claims_open(&self, now: DateTime<Utc>) -> bool {
        now < self.deadline_end
    }
}

/// What every handler gets.
pub struct Portal {
    /// The server's store.
    pub store: Arc<dyn ServiceStore>,
    /// The settings.
    pub settings: Settings,
    /// Where mails go.
    pub mailer: mail::Mailer,
}

/// The shared state.
pub type State = Arc<Portal>;

/// Runs store-bound work off the async threads.
pub async fn blocking<T: Send + 'static>(
    portal: &State,
    work: impl FnOnce(&Portal) -> Result<T, view::PageError> + Send + 'static,
) -> Result<T, view::PageError> {
    let portal = portal.clone();
    tokio::task::spawn_blocking(move || work(&portal))
        .await
        .map_err(view::PageError::internal)?
}

/// The server's extra routes: the portal, when `[portal] enabled`.
pub fn extra_routes(dir: &Path, config: &ServerConfig) -> Option<onshi_server::run::ExtraRoutes> {
    if !config.portal.enabled {
        return None;
    }
    let (dir, config) = (dir.to_path_buf(), config.clone());
    Some(Box::new(move |store, addr| {
        let settings = Settings::resolve(&dir, &config, addr)?;
        Ok(router(store, settings))
    }))
}

/// The portal's router (paths under `/portal/`).
pub fn router(store: Arc<dyn ServiceStore>, settings: Settings) -> Router {
    let mailer = match &settings.smtp {
        // Checked by Settings::resolve; a failure here can only come from settings built by
        // hand, and then mail still reaches the outbox rather than nowhere.
        Some(s) => mail::Mailer::smtp(s).unwrap_or_else(|e| {
            tracing::error!(error = %e, "SMTP unusable: mail goes to the outbox");
            mail::Mailer::Outbox(settings.outbox.clone())
        }),
        None => mail::Mailer::Outbox(settings.outbox.clone()),
    };
    let portal = Arc::new(Portal {
        mailer,
        store,
        settings,
    });
    Router::new()
        .route("/portal", get(|| async { Redirect::to("/portal/") }))
        .route("/portal/", get(clinic::index))
        .route("/portal/style.css", get(style))
        .merge(clinic::routes())
        .merge(terminals::routes())
        .merge(claims::routes())
        .merge(operator::routes())
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(portal)
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/portal.css"),
    )
}

/// Every portal response: no caching of personal pages, no framing, a strict CSP.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    response
}
