//! The one error type of the API: a status and a body `{code, message}` defined in onshi-proto.
//! Internals are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use onshi_proto::{codes, ErrorBody};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `codes::…`.
    pub code: &'static str,
    /// In Japanese, for the staff.
    pub message: String,
}

impl ApiError {
    /// An error with a status, a code and a Japanese message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed (the message says which field).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    /// 503: the database cannot be reached; the terminal may try again shortly.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::INTERNAL,
            "資格確認サービスのデータベースにつながりません。しばらくしてからもう一度お試しください。",
        )
    }

    /// 500: logs the cause, sends a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "サービス内部でエラーが起きました。しばらくしてからもう一度お試しください。",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<onshi_store::StoreError> for ApiError {
    fn from(e: onshi_store::StoreError) -> Self {
        crate::service::ServiceError::from(e).into()
    }
}

/// The service's reasons as the API answers them: 401, 403, 400, 503, 500 (logged).
impl From<crate::service::ServiceError> for ApiError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError;
        match e {
            ServiceError::Unauthenticated { code, message } => {
                Self::new(StatusCode::UNAUTHORIZED, code, message)
            }
            ServiceError::Refused { code, message } => {
                Self::new(StatusCode::FORBIDDEN, code, message)
            }
            ServiceError::BadRequest(message) => Self::bad_request(message),
            ServiceError::Unavailable => Self::unavailable(),
            ServiceError::Internal(cause) => Self::internal(cause),
        }
    }
}

/// A store error as it may be logged: without the values a database error can quote
/// (PostgreSQL's messages and DETAIL may quote a row; a corrupt stored value may be a patient's
/// name or number). The portal logs its store errors through this too.
pub fn loggable(e: &onshi_store::StoreError) -> String {
    use onshi_store::StoreError;
    match e {
        StoreError::Postgres(pg) => match pg.as_db_error() {
            Some(db) => format!(
                "postgres: {} SQLSTATE {} (table {}, column {}, constraint {})",
                db.severity(),
                db.code().code(),
                db.table().unwrap_or("-"),
                db.column().unwrap_or("-"),
                db.constraint().unwrap_or("-"),
            ),
            None => e.to_string(),
        },
        StoreError::Corrupt { column, .. } => format!("stored value of {column} is not valid"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceError;

    #[test]
    fn each_service_reason_has_its_status() {
        let cases = [
            (
                ServiceError::Unauthenticated {
                    code: codes::NO_CLIENT_CERTIFICATE,
                    message: "証明書がありません".into(),
                },
                StatusCode::UNAUTHORIZED,
                codes::NO_CLIENT_CERTIFICATE,
            ),
            (
                ServiceError::Refused {
                    code: codes::TERMINAL_NOT_ACTIVE,
                    message: "利用できません".into(),
                },
                StatusCode::FORBIDDEN,
                codes::TERMINAL_NOT_ACTIVE,
            ),
            (
                ServiceError::BadRequest("mode".into()),
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
            ),
            (
                ServiceError::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                codes::INTERNAL,
            ),
            (
                ServiceError::Internal("secret cause".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::INTERNAL,
            ),
        ];
        for (reason, status, code) in cases {
            let e = ApiError::from(reason.clone());
            assert_eq!((e.status, e.code), (status, code), "{reason:?}");
        }
        // An internal cause is logged, never sent.
        let e = ApiError::from(ServiceError::Internal("secret cause".into()));
        assert!(!e.message.contains("secret"), "{}", e.message);
    }
}
