//! The HTTP API: axum routes over [`Service`]. Routes and bodies come from onshi-proto.
//!
//! Around the routes: every request is counted and timed in [`Metrics`]; the terminal routes are
//! rate-limited per terminal ([`RateLimiter`]) before their body is read, `/query` also per
//! clinic (all its terminals together), and `/enroll` per client address; bodies are capped at
//! `max_body_bytes`; store work is cut off after `request_timeout_seconds`. `/healthz`,
//! `/readyz`, `/metrics` and `/openapi.yaml` need no client certificate (firewall `/metrics` if
//! it must not be seen from the terminals' network).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use onshi_proto as proto;
use serde::de::DeserializeOwned;

use crate::limit::{client_key, RateLimiter, SharedLimit};
use crate::metrics::{self, Metrics};
use crate::serve::{PeerAddr, PeerCertificate};
use crate::{ApiError, ServerConfig, Service};

/// The state every handler sees.
#[derive(Clone)]
pub struct AppState {
    service: Arc<Service>,
    metrics: Arc<Metrics>,
    limiter: Arc<RateLimiter>,
    /// `/query` per clinic.
    clinic_queries: Arc<RateLimiter>,
    /// `/enroll` per client address.
    enrollments: Arc<RateLimiter>,
    /// Per terminal, counted in the store by every instance (`shared_rate_limits`).
    shared_terminals: Option<Arc<SharedLimit>>,
    /// `/query` per clinic, counted in the store by every instance.
    shared_clinic_queries: Option<Arc<SharedLimit>>,
    /// `/enroll` per client address, counted in the store by every instance.
    shared_enrollments: Option<Arc<SharedLimit>>,
    timeout: Duration,
    /// Places for terminal requests being worked on (`max_in_flight`; none: no limit).
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
}

/// JSON bodies whose errors come back as an [`ApiError`] naming what was wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(e) => Err(match e {
                JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        proto::ErrorCode::BadRequest,
                        "要求が大きすぎます。",
                    )
                }
                // The body stopped arriving: its deadline passed (the connection is closed) or
                // the client went away.
                JsonRejection::BytesRejection(_) => ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    proto::ErrorCode::BadRequest,
                    "要求の受信に時間がかかりすぎました。通信環境を確かめて、もう一度お試しください。",
                ),
                other => ApiError::bad_request(format!(
                    "要求の形式が正しくありません: {}",
                    other.body_text()
                )),
            }),
        }
    }
}

/// 503: the request waited past its time, or found no place.
fn busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        proto::ErrorCode::Internal,
        "サービスが混み合っています。しばらくしてからもう一度お試しください。",
    )
}

/// Runs store-bound work off the async threads, with the request timeout.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Service) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let service = state.service.clone();
    let task = tokio::task::spawn_blocking(move || work(&service));
    match tokio::time::timeout(state.timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(ApiError::internal(join)),
        Err(_) => Err(busy()),
    }
}

/// Runs a check's work (the terminal, the check, its audit record) with the request timeout:
/// awaited on the async workers when the store's check path is async (PostgreSQL), else on a
/// blocking thread, since every store call then blocks (one hand-off a check).
async fn checking<T, F>(
    state: &AppState,
    work: impl FnOnce(Arc<Service>) -> F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let work = work(state.service.clone());
    let answer = if state.service.check_is_async() {
        tokio::time::timeout(state.timeout, work).await
    } else {
        // Not the runtime's own block_on: a blocking store (PostgreSQL's sync client) runs a
        // runtime of its own, which cannot start inside an entered one.
        let task = tokio::task::spawn_blocking(move || futures_executor::block_on(work));
        match tokio::time::timeout(state.timeout, task).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(join)) => return Err(ApiError::internal(join)),
            Err(elapsed) => Err(elapsed),
        }
    };
    answer.unwrap_or_else(|_| Err(busy()))
}

/// The router of the whole API, counting into `metrics`.
pub fn router(service: Arc<Service>, config: &ServerConfig, metrics: Arc<Metrics>) -> Router {
    let state = AppState {
        service,
        metrics,
        limiter: Arc::new(RateLimiter::new(
            config.rate_limit_per_second,
            config.rate_limit_burst,
        )),
        clinic_queries: Arc::new(RateLimiter::per_minute(
            config.clinic_query_rate_limit_per_minute,
            config.clinic_query_rate_limit_burst,
        )),
        enrollments: Arc::new(RateLimiter::per_minute(
            config.enroll_rate_limit_per_minute,
            config.enroll_rate_limit_burst,
        )),
        shared_terminals: (config.shared_rate_limits && config.rate_limit_per_second > 0).then(
            || {
                Arc::new(SharedLimit::new(
                    "terminal",
                    u64::from(config.rate_limit_per_second) + u64::from(config.rate_limit_burst),
                    1,
                ))
            },
        ),
        shared_clinic_queries: (config.shared_rate_limits
            && config.clinic_query_rate_limit_per_minute > 0)
            .then(|| {
                Arc::new(SharedLimit::new(
                    "clinic-query",
                    u64::from(config.clinic_query_rate_limit_per_minute)
                        + u64::from(config.clinic_query_rate_limit_burst),
                    60,
                ))
            }),
        shared_enrollments: (config.shared_rate_limits && config.enroll_rate_limit_per_minute > 0)
            .then(|| {
                Arc::new(SharedLimit::new(
                    "enroll",
                    u64::from(config.enroll_rate_limit_per_minute)
                        + u64::from(config.enroll_rate_limit_burst),
                    60,
                ))
            }),
        timeout: Duration::from_secs(config.request_timeout_seconds),
        in_flight: (config.max_in_flight > 0)
            .then(|| Arc::new(tokio::sync::Semaphore::new(config.max_in_flight))),
    };
    let terminal_routes = Router::new()
        .route(proto::RENEW, post(renew))
        .route(proto::CHALLENGE, post(challenge))
        .route(proto::VERIFY, post(verify))
        .route(proto::REGISTER, post(register))
        .route(proto::QUERY, post(query))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), admit));
    let enroll_routes = Router::new()
        .route(proto::ENROLL, post(enroll))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            enroll_rate_limit,
        ));
    Router::new()
        .merge(enroll_routes)
        .merge(terminal_routes)
        .route(proto::HEALTHZ, get(|| async { "ok" }))
        .route(proto::READYZ, get(readyz))
        .route(proto::METRICS, get(metrics_text))
        .route(proto::OPENAPI, get(openapi))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts and times every request; logs one line per request at debug level (route, status,
/// time, terminal id: never a body).
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = Metrics::route_label(req.uri().path());
    let peer = req.extensions().get::<PeerCertificate>().cloned();
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.request(route, status, elapsed);
    tracing::debug!(
        route,
        status,
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        terminal = peer.as_ref().and_then(PeerCertificate::terminal_id),
        "request"
    );
    response
}

/// Admission: at most `max_in_flight` terminal requests at once; one more gets 503 with
/// `Retry-After: 1` at once, before its body is read, rather than a place in a queue whose wait
/// every admitted request would share.
async fn admit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(slots) = &state.in_flight else {
        return next.run(req).await;
    };
    let Ok(_permit) = slots.clone().try_acquire_owned() else {
        tracing::debug!("shed: max_in_flight reached");
        let mut response = busy().into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    };
    next.run(req).await
}

/// 429 with `E010` when the calling terminal has used up its bucket. Requests without a
/// certificate pass (the handler answers 401).
async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(terminal) = req
        .extensions()
        .get::<PeerCertificate>()
        .and_then(PeerCertificate::terminal_id)
    {
        let allowed = state.limiter.allow(terminal, Instant::now())
            && match &state.shared_terminals {
                Some(limit) => {
                    shared_allow(state.service.clone(), limit.clone(), terminal.to_owned()).await
                }
                None => true,
            };
        if !allowed {
            tracing::debug!(terminal, "rate limited");
            return too_many(
                &state.limiter,
                "この端末からの要求が多すぎます。少し待ってからもう一度お試しください。",
            );
        }
    }
    next.run(req).await
}

/// Counts a request in a limit shared through the store. A store that cannot count lets the
/// request through (logged): the request itself then meets the store, and its own error.
async fn shared_allow(service: Arc<Service>, limit: Arc<SharedLimit>, key: String) -> bool {
    let counted = tokio::task::spawn_blocking(move || {
        limit.allow(service.store().as_ref(), &key, Utc::now())
    })
    .await;
    match counted {
        Ok(Ok(allowed)) => allowed,
        Ok(Err(e)) => {
            tracing::warn!(cause = %crate::error::loggable(&e), "shared rate limit not counted");
            true
        }
        Err(e) => {
            tracing::warn!(cause = %e, "shared rate limit not counted");
            true
        }
    }
}

/// 429 with `E010` when the client address ([`client_key`]) has used up its enrollment bucket.
/// Before the body is read, and before any store or CA work.
async fn enroll_rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = req.extensions().get::<PeerAddr>().map_or_else(
        || "unknown".to_owned(),
        |a| client_key(a.0.ip()).to_string(),
    );
    let allowed = state.enrollments.allow(&key, Instant::now())
        && match &state.shared_enrollments {
            Some(limit) => shared_allow(state.service.clone(), limit.clone(), key.clone()).await,
            None => true,
        };
    if !allowed {
        tracing::debug!(address = %key, "enrollment rate limited");
        return too_many(
            &state.enrollments,
            "この接続元からの端末登録の要求が多すぎます。しばらく待ってからもう一度お試しください。",
        );
    }
    next.run(req).await
}

/// 429 (`E010`) with `Retry-After` from `limiter`'s rate.
fn too_many(limiter: &RateLimiter, message: &str) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        proto::ErrorCode::RateLimited,
        message,
    )
    .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(limiter.retry_after_seconds()),
    );
    response
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(
            state.service.crl_generation(),
            state.service.certificates_signed(),
        ),
    )
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::openapi::CONTENT_TYPE)],
        crate::openapi::DOCUMENT,
    )
}

/// Counts a check's answer by QualificationValidity and ProcessingResultCode.
fn counted(
    state: &AppState,
    answer: Result<proto::CheckResponse, ApiError>,
) -> Result<Json<proto::CheckResponse>, ApiError> {
    let answer = answer?;
    state.metrics.check(
        answer.answer.validity.as_str(),
        answer
            .processing_result_code
            .map(onshi_proto::ResultCode::as_str),
    );
    Ok(Json(answer))
}

async fn enroll(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<proto::EnrollRequest>,
) -> Result<Json<proto::EnrollResponse>, ApiError> {
    blocking(&state, move |s| Ok(s.enroll(&req, Utc::now())?))
        .await
        .map(Json)
}

async fn challenge(
    State(state): State<AppState>,
    Extension(peer): Extension<PeerCertificate>,
) -> Result<Json<proto::ChallengeResponse>, ApiError> {
    checking(&state, move |s| async move {
        let terminal = s.terminal(peer.der()).await?;
        let (nonce, expires_in) = s.challenge(&terminal, Utc::now())?;
        Ok(proto::ChallengeResponse { nonce, expires_in })
    })
    .await
    .map(Json)
}

async fn verify(
    State(state): State<AppState>,
    Extension(peer): Extension<PeerCertificate>,
    ApiJson(req): ApiJson<proto::VerifyRequest>,
) -> Result<Json<proto::CheckResponse>, ApiError> {
    let answer = checking(&state, move |s| async move {
        let terminal = s.terminal(peer.der()).await?;
        Ok(s.verify(&terminal, &req, false, Utc::now()).await?)
    })
    .await;
    counted(&state, answer)
}

async fn register(
    State(state): State<AppState>,
    Extension(peer): Extension<PeerCertificate>,
    ApiJson(req): ApiJson<proto::VerifyRequest>,
) -> Result<Json<proto::CheckResponse>, ApiError> {
    let answer = checking(&state, move |s| async move {
        let terminal = s.terminal(peer.der()).await?;
        if req.mode != proto::Mode::Pin {
            return Err(ApiError::bad_request(
                "利用登録は暗証番号による確認でのみできます。",
            ));
        }
        Ok(s.verify(&terminal, &req, true, Utc::now()).await?)
    })
    .await;
    counted(&state, answer)
}

async fn renew(
    State(state): State<AppState>,
    Extension(peer): Extension<PeerCertificate>,
    ApiJson(req): ApiJson<proto::RenewRequest>,
) -> Result<Json<proto::EnrollResponse>, ApiError> {
    let terminal = checking(
        &state,
        move |s| async move { Ok(s.terminal(peer.der()).await?) },
    )
    .await?;
    blocking(&state, move |s| Ok(s.renew(&terminal, &req, Utc::now())?))
        .await
        .map(Json)
}

/// The clinic has used up its bucket of queries by numbers.
fn clinic_queries_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        proto::ErrorCode::RateLimited,
        "この施術所からの番号による照会が多すぎます。少し待ってからもう一度お試しください。",
    )
}

async fn query(
    State(state): State<AppState>,
    Extension(peer): Extension<PeerCertificate>,
    ApiJson(req): ApiJson<proto::QueryRequest>,
) -> Result<Response, ApiError> {
    let clinics = state.clinic_queries.clone();
    let shared = state.shared_clinic_queries.clone();
    let answer = checking(&state, move |s| async move {
        let terminal = s.terminal(peer.der()).await?;
        let clinic = terminal.clinic_id.to_string();
        let allowed = clinics.allow(&clinic, Instant::now())
            && match shared {
                Some(limit) => shared_allow(s.clone(), limit, clinic).await,
                None => true,
            };
        if !allowed {
            tracing::debug!(terminal = %terminal.id, clinic = terminal.clinic_id, "clinic query rate limited");
            return Err(clinic_queries_limited());
        }
        Ok(s.query(&terminal, &req, Utc::now()).await?)
    })
    .await;
    match answer {
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            Ok(too_many(&state.clinic_queries, &e.message))
        }
        other => counted(&state, other).map(IntoResponse::into_response),
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match blocking(&state, |s| Ok(s.ready(Utc::now()))).await {
        Ok(crate::service::Readiness::Ready) => (StatusCode::OK, "ready"),
        Ok(crate::service::Readiness::CrlNotCurrent) => {
            (StatusCode::SERVICE_UNAVAILABLE, "crl not current")
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store not reachable"),
    }
}
