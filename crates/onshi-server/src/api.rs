//! The HTTP API: axum routes over [`Service`]. Routes and bodies come from onshi-proto.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use onshi_proto as proto;
use serde::de::DeserializeOwned;

use crate::serve::PeerCertificate;
use crate::{ApiError, ServerConfig, Service};

/// The state every handler sees.
#[derive(Clone)]
pub struct AppState {
    service: Arc<Service>,
    timeout: Duration,
}

/// JSON bodies whose errors come back as an [`ApiError`] naming what was wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(e) => Err(match e {
                JsonRejection::BytesRejection(_) => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    proto::codes::BAD_REQUEST,
                    "要求が大きすぎます。",
                ),
                other => ApiError::bad_request(format!(
                    "要求の形式が正しくありません: {}",
                    other.body_text()
                )),
            }),
        }
    }
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
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            proto::codes::INTERNAL,
            "サービスが混み合っています。しばらくしてからもう一度お試しください。",
        )),
    }
}

/// The router of the whole API.
pub fn router(service: Arc<Service>, config: &ServerConfig) -> Router {
    let state = AppState {
        service,
        timeout: Duration::from_secs(config.request_timeout_seconds),
    };
    Router::new()
        .route(proto::ENROLL, post(enroll))
        .route(proto::CHALLENGE, post(challenge))
        .route(proto::VERIFY, post(verify))
        .route(proto::REGISTER, post(register))
        .route(proto::QUERY, post(query))
        .route(proto::HEALTHZ, get(|| async { "ok" }))
        .route(proto::READYZ, get(readyz))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}

async fn enroll(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<proto::EnrollRequest>,
) -> Result<Json<proto::EnrollResponse>, ApiError> {
    blocking(&state, move |s| s.enroll(&req, Utc::now()))
        .await
        .map(Json)
}

async fn challenge(
    State(state): State<AppState>,
    Extension(peer): Extension<PeerCertificate>,
) -> Result<Json<proto::ChallengeResponse>, ApiError> {
    blocking(&state, move |s| {
        let terminal = s.terminal(peer.der())?;
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
    blocking(&state, move |s| {
        let terminal = s.terminal(peer.der())?;
        s.verify(&terminal, &req, false, Utc::now())
    })
    .await
    .map(Json)
}

async fn register(
    State(state): State<AppState>,
    Extension(peer): Extension<PeerCertificate>,
    ApiJson(req): ApiJson<proto::VerifyRequest>,
) -> Result<Json<proto::CheckResponse>, ApiError> {
    blocking(&state, move |s| {
        let terminal = s.terminal(peer.der())?;
        if req.mode != proto::Mode::Pin {
            return Err(ApiError::bad_request(
                "利用登録は暗証番号による確認でのみできます。",
            ));
        }
        s.verify(&terminal, &req, true, Utc::now())
    })
    .await
    .map(Json)
}

async fn query(
    State(state): State<AppState>,
    Extension(peer): Extension<PeerCertificate>,
    ApiJson(req): ApiJson<proto::QueryRequest>,
) -> Result<Json<proto::CheckResponse>, ApiError> {
    blocking(&state, move |s| {
        let terminal = s.terminal(peer.der())?;
        s.query(&terminal, &req, Utc::now())
    })
    .await
    .map(Json)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match blocking(&state, |s| Ok(s.ready())).await {
        Ok(true) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store not reachable"),
    }
}
