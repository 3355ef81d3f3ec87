//! The portal (施術所等向け総合ポータルサイト), served under `/portal/` by the eligibility server:
//! clinics register (e-mail confirmed by a link), log in, apply to start (利用開始申請), create
//! their terminals' app accounts with one-time enrollment codes and settings files, and claim the
//! equipment and receipt-computer subsidies with receipts; the operator (実施機関) reviews all
//! of it. Server-rendered pages (maud), no script needed.
//!
//! Security in one place: argon2id password hashes, computed in a small bounded pool of their
//! own ([`hashing`]) so that no flood of registrations or logins reaches the eligibility
//! checks' threads; mail queued in the store and sent by a background worker ([`spawn_worker`]);
//! sessions in the store (every instance behind
//! a load balancer knows them) behind a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict);
//! a CSRF token on every form (the session's, or a double-submit cookie before login); login
//! throttling with growing delays per account and per address, in separate buckets for clinics
//! and operators, and per-address limits on registration and password resets; TOTP as the
//! operators' second factor; page views read without the writers' lock; every query scoped to the logged-in clinic; the
//! operator's pages refuse a clinic's session; uploads limited, sniffed and stored under random
//! names outside any web root; every operator action in `portal_audit`.

pub mod auth;
pub mod claims;
pub mod clinic;
pub mod config;
pub mod db;
pub mod details;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod hashing;
pub mod info;
pub mod mail;
pub mod operator;
pub mod registration;
pub mod terminal_names;
pub mod terminals;
pub mod totp;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
pub use config::PortalConfig;
use onshi_server::config::ServerConfig;
use onshi_store::ServiceStore;

pub use error::{FieldError, PortalError};

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
    /// Terminals a clinic may have (the server's `max_terminals_per_clinic`; 0: no cap).
    pub max_terminals_per_clinic: u32,
    /// Password hashes computed at once.
    pub hash_slots: usize,
    /// Password hashes waiting for a slot; beyond that requests get 503.
    pub hash_queue: usize,
    /// Registrations per client address within the throttling window.
    pub registrations_per_address: i64,
    /// How often the background worker sends queued mail and removes stale registrations.
    pub worker_seconds: u64,
    /// Days after its return during which a returned claim may still be corrected and sent
    /// again, even past the deadline.
    pub late_correction_days: i64,
}

/// The default of [`Settings::late_correction_days`] (`[portal] late_correction_days`).
pub const DEFAULT_LATE_CORRECTION_DAYS: i64 = 14;

pub use onshi_model::date::jst;

impl Settings {
    /// Resolves `[portal]` for the server whose data directory is `dir`.
    pub fn resolve(
        dir: &Path,
        server: &ServerConfig,
        listening: std::net::SocketAddr,
    ) -> Result<Self, PortalError> {
        let p = &PortalConfig::from_server(server)?;
        let deadline =
            NaiveDate::parse_from_str(&p.subsidy_deadline, "%Y-%m-%d").map_err(|reason| {
                PortalError::Deadline {
                    value: p.subsidy_deadline.clone(),
                    reason,
                }
            })?;
        let end_day = deadline.succ_opt().ok_or(PortalError::DeadlineRange)?;
        let deadline_end = jst()
            .from_local_datetime(&end_day.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .ok_or(PortalError::DeadlineRange)?
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
            ("registrations_per_address", p.registrations_per_address),
            ("password_hash_slots", p.password_hash_slots as i64),
            ("worker_seconds", p.worker_seconds as i64),
        ] {
            if v <= 0 {
                return Err(PortalError::NotPositive {
                    key: name,
                    value: v,
                });
            }
        }
        if p.late_correction_days < 0 {
            return Err(PortalError::LateCorrectionDays(p.late_correction_days));
        }
        if !(0..=100).contains(&p.rececon_rate_percent) {
            return Err(PortalError::RececonRate(p.rececon_rate_percent));
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
            max_terminals_per_clinic: server.max_terminals_per_clinic,
            hash_slots: p.password_hash_slots,
            hash_queue: p.password_hash_queue,
            registrations_per_address: p.registrations_per_address,
            worker_seconds: p.worker_seconds,
            late_correction_days: p.late_correction_days,
        })
    }

    /// Whether claims can still be submitted at `now`.
    pub fn claims_open(&self, now: DateTime<Utc>) -> bool {
        now < self.deadline_end
    }

    /// The end of the late correction window of a claim returned at `returned_at`.
    pub fn late_end(&self, returned_at: DateTime<Utc>) -> DateTime<Utc> {
        returned_at + chrono::Duration::days(self.late_correction_days.max(0))
    }

    /// Whether a claim may be changed at `now`: before the deadline, or, once returned, within
    /// [`Self::late_correction_days`] of its return.
    pub fn may_edit(&self, now: DateTime<Utc>, returned_at: Option<DateTime<Utc>>) -> bool {
        self.claims_open(now) || returned_at.is_some_and(|t| now < self.late_end(t))
    }
}

/// What every handler gets.
pub struct Portal {
    /// The server's store.
    pub store: Arc<dyn ServiceStore>,
    /// The settings.
    pub settings: Settings,
    /// Where the background worker sends mails.
    pub mailer: mail::Mailer,
    /// The bounded password-hashing pool.
    pub hasher: hashing::Hasher,
    /// An in-memory first gate on registrations per client address, in front of the store's
    /// count: a flood from one address is turned away without a store write (on SQLite every
    /// write waits for the one writer the checks' audit rows need). Per instance and
    /// approximate; the store's count stays the rule across instances.
    pub registration_gate: onshi_server::limit::RateLimiter,
    /// When the background round last swept the receipts folder for crash leftovers.
    pub swept_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

/// Registrations a minute one address may start on one instance before the store is asked
/// (a clinic registers once; this only turns floods away early).
pub const REGISTRATION_GATE_PER_MINUTE: u32 = 30;
/// Registrations at once one address may start on one instance.
pub const REGISTRATION_GATE_BURST: u32 = 10;

/// How long an unconfirmed registration is kept.
pub const UNCONFIRMED_HOURS: i64 = 72;

impl Portal {
    /// One round of the background work at `now`: sends the mails due, removes registrations
    /// left unconfirmed for [`UNCONFIRMED_HOURS`].
    pub fn background_round(
        &self,
        now: DateTime<Utc>,
    ) -> Result<mail::Delivery, onshi_store::StoreError> {
        let removed = db::remove_unconfirmed(
            self.store.portal(),
            now - chrono::Duration::hours(UNCONFIRMED_HOURS),
        )?;
        if removed > 0 {
            tracing::info!(removed, "unconfirmed portal registrations removed");
        }
        // Crash leftovers in the receipts folder: at the first round, then every hour.
        let due = {
            let mut last = self
                .swept_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = last.is_none_or(|t| now - t >= chrono::Duration::hours(1));
            if due {
                *last = Some(now);
            }
            due
        };
        if due {
            claims::sweep_orphans(
                self.store.portal(),
                &self.settings.receipts,
                claims::ORPHAN_MIN_AGE,
            )?;
        }
        mail::deliver_due(
            self.store.portal(),
            &self.mailer,
            &self.settings.mail_from,
            now,
        )
    }
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

/// The server's extra routes: the portal, when `[portal] enabled`; an error when `[portal]`
/// cannot be read.
pub fn extra_routes(
    dir: &Path,
    config: &ServerConfig,
) -> Result<Option<onshi_server::run::ExtraRoutes>, PortalError> {
    if !PortalConfig::from_server(config)?.enabled {
        return Ok(None);
    }
    let (dir, config) = (dir.to_path_buf(), config.clone());
    Ok(Some(Box::new(move |store, addr| {
        let settings = Settings::resolve(&dir, &config, addr)?;
        let portal = state(store, settings);
        spawn_worker(&portal);
        Ok(app(portal))
    })))
}

/// Starts the background worker (on the runtime this is called in): every `worker_seconds` it
/// runs [`Portal::background_round`] on a blocking thread of its own. It ends when the portal's
/// router is dropped (the server stopped).
pub fn spawn_worker(portal: &State) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(portal);
    let every = std::time::Duration::from_secs(portal.settings.worker_seconds.max(1));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(portal) = weak.upgrade() else {
                return;
            };
            let round = tokio::task::spawn_blocking(move || portal.background_round(Utc::now()));
            match round.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(
                    error = %onshi_server::loggable(&e),
                    "portal background round failed"
                ),
                Err(e) => tracing::warn!(error = %e, "portal background round failed"),
            }
        }
    })
}

/// The portal's router (paths under `/portal/`) over `store`; mail stays queued until a worker
/// ([`spawn_worker`], or [`Portal::background_round`]) sends it.
pub fn router(store: Arc<dyn ServiceStore>, settings: Settings) -> Router {
    app(state(store, settings))
}

/// The portal's state: store, settings, mail transport, hashing pool.
pub fn state(store: Arc<dyn ServiceStore>, settings: Settings) -> State {
    let mailer = match &settings.smtp {
        // Checked by Settings::resolve; a failure here can only come from settings built by
        // hand, and then mail still reaches the outbox rather than nowhere.
        Some(s) => mail::Mailer::smtp(s).unwrap_or_else(|e| {
            tracing::error!(error = %e, "SMTP unusable: mail goes to the outbox");
            mail::Mailer::Outbox(settings.outbox.clone())
        }),
        None => mail::Mailer::Outbox(settings.outbox.clone()),
    };
    let hasher = hashing::Hasher::new(settings.hash_slots, settings.hash_queue);
    Arc::new(Portal {
        mailer,
        store,
        settings,
        hasher,
        registration_gate: onshi_server::limit::RateLimiter::per_minute(
            REGISTRATION_GATE_PER_MINUTE,
            REGISTRATION_GATE_BURST,
        ),
        swept_at: std::sync::Mutex::new(None),
    })
}

/// The portal's router over its state.
pub fn app(portal: State) -> Router {
    Router::new()
        .route("/portal", get(|| async { Redirect::to("/portal/") }))
        .route("/portal/", get(clinic::index))
        .route("/portal/style.css", get(style))
        .merge(clinic::routes())
        .merge(terminals::routes())
        .merge(claims::routes())
        .merge(operator::routes())
        .merge(info::routes())
        .merge(details::routes())
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
