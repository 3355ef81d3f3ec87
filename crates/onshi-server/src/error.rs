//! The one error type of the API: a status and a body `{code, message}` defined in onshi-proto.
//! Internals are logged, never sent.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use onshi_proto::{ErrorBody, ErrorCode};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body's code.
    pub code: ErrorCode,
    /// In Japanese, for the staff.
    pub message: String,
}

impl ApiError {
    /// An error with a status, a code and a Japanese message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed (the message says which field).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 503: the database cannot be reached; the terminal may try again shortly.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            "資格確認サービスのデータベースにつながりません。しばらくしてからもう一度お試しください。",
        )
    }

    /// 500: logs the cause, sends a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
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
            code: self.code,
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

/// Why an operation of the server's data directory did not happen: `onshi server init`, a
/// start, the audit key, and the `onshi admin` commands. Each names the file, the issuer or the
/// value concerned; texts in Japanese and English like the rest of onshi's command line.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `init` found a configuration already there.
    #[error("{}: 既に初期化されています / already initialised", dir.display())]
    AlreadyInitialised {
        /// The data directory.
        dir: PathBuf,
    },
    /// A file or directory could not be read, written or created.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A certificate given to `init` as a trusted JPKI CA is not one.
    #[error("{}: JPKI CA 証明書として読めません / not a CA certificate: {reason}", path.display())]
    NotJpkiCa {
        /// The certificate file.
        path: PathBuf,
        /// Why it was refused.
        reason: onshi_pki::PkiError,
    },
    /// No trusted JPKI CA is configured.
    #[error("{}: 信頼する JPKI CA が設定されていません（config.toml の jpki_ca） / no trusted JPKI CA is configured (jpki_ca)", dir.display())]
    NoTrustedJpki {
        /// The data directory.
        dir: PathBuf,
    },
    /// The PKI refused (its own error names the file or value).
    #[error(transparent)]
    Pki(#[from] onshi_pki::PkiError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] onshi_store::StoreError),
    /// The service could not load what it serves (its CRLs).
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    /// The configuration could not be read or written.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The audit key file could not be read.
    #[error("{}: 監査ログの鍵を読めません / cannot read the audit key: {cause}", path.display())]
    AuditKeyUnreadable {
        /// The key file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The audit key file does not hold a key.
    #[error(
        "{}: 監査ログの鍵ではありません（{} バイトの乱数が必要） / not an audit key ({} random bytes)",
        path.display(),
        onshi_store::AuditKey::LEN,
        onshi_store::AuditKey::LEN
    )]
    NotAuditKey {
        /// The key file.
        path: PathBuf,
    },
    /// The audit key is not the one the database's audit log was written with.
    #[error("{}: この鍵はデータベースの監査ログの鍵と違います。最初のインスタンスの audit.key を使ってください / this is not the key the database's audit log was written with: use the first instance's audit.key", path.display())]
    AuditKeyMismatch {
        /// The key file.
        path: PathBuf,
    },
    /// The audit key file is missing but the database's audit log was written with a key.
    #[error("{}: 監査ログの鍵がありませんが、データベースには別の鍵で書かれた監査ログがあります。他のインスタンスかバックアップから audit.key をコピーしてください / the audit key is missing but the database's audit log has one: copy audit.key from another instance or from the backup", path.display())]
    AuditKeyMissing {
        /// The key file that is missing.
        path: PathBuf,
    },
    /// The operating system gave no random bytes.
    #[error("乱数を生成できません / the random generator failed")]
    Random,
    /// The challenge key came out all zeros (a failed random generator).
    #[error("the challenge key could not be generated")]
    ChallengeKey,
    /// Only one of `tls_certificate` and `tls_key` is set.
    #[error(
        "tls_certificate と tls_key は両方指定してください / set both tls_certificate and tls_key"
    )]
    TlsPair,
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] crate::serve::TlsError),
    /// The listening address could not be bound.
    #[error("{addr}: {cause}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        cause: std::io::Error,
    },
    /// The bound socket has no address.
    #[error("{0}")]
    LocalAddr(std::io::Error),
    /// A blocking task failed (panicked or was cancelled).
    #[error("{0}")]
    Task(tokio::task::JoinError),
    /// The routes served beside the API (the portal) could not be built.
    #[error("{0}")]
    Extra(Box<dyn std::error::Error + Send + Sync>),
    /// A clinic without a name.
    #[error("施術所名が空です / the clinic name is empty")]
    EmptyClinicName,
    /// Not a 登録記号番号.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// A CRL that does not verify with a trusted CA's key.
    #[error("CRL を検証できないため読み込みませんでした / CRL refused: {0}")]
    CrlRefused(onshi_pki::PkiError),
    /// A CRL without a CRL number.
    #[error("{issuer}: CRL番号（cRLNumber）のない CRL は読み込めません（古い CRL との区別がつきません） / a CRL without a CRL number is refused")]
    CrlWithoutNumber {
        /// Its issuer.
        issuer: String,
    },
    /// A CRL without nextUpdate.
    #[error(
        "{issuer}: nextUpdate のない CRL は読み込めません / a CRL without nextUpdate is refused"
    )]
    CrlWithoutNextUpdate {
        /// Its issuer.
        issuer: String,
    },
    /// A CRL whose number is not higher than the stored one's (it would un-revoke cards).
    #[error("{issuer}: CRL番号 {number} は保存済みの CRL の番号 {stored} より大きくないため読み込みませんでした（古い CRL では失効を取り消せません） / CRL number {number} is not higher than the stored CRL's {stored}: refused")]
    CrlNotNewer {
        /// Its issuer.
        issuer: String,
        /// Its number, in decimal.
        number: String,
        /// The stored CRL's number, in decimal.
        stored: String,
    },
    /// Another CRL of the same CA was stored while this one was checked.
    #[error("{issuer}: CRL番号 {number} は保存済みの CRL の番号 （同時に読み込まれた CRL / one loaded meanwhile） より大きくないため読み込みませんでした（古い CRL では失効を取り消せません） / CRL number {number} is not higher than the stored CRL's （同時に読み込まれた CRL / one loaded meanwhile）: refused")]
    CrlLoadedMeanwhile {
        /// Its issuer.
        issuer: String,
        /// Its number, in decimal.
        number: String,
    },
    /// A CSV file could not be read or written.
    #[error("{}: {cause}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: csv::Error,
    },
    /// The card links file's header is none of the known ones.
    #[error("{}: 見出し行は Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex です / the header must be Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex", path.display())]
    LinkHeader {
        /// The file.
        path: PathBuf,
    },
}

impl ServerError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |cause| Self::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// A 登録記号番号 that is not one: what the operator and the portal's forms show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "登録記号番号「{typed}」が正しくありません（例: 契0123456-1-23） / not a registration number"
)]
pub struct RegistrationError {
    /// What was typed.
    pub typed: String,
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
                    code: ErrorCode::NoClientCertificate,
                    message: "証明書がありません".into(),
                },
                StatusCode::UNAUTHORIZED,
                ErrorCode::NoClientCertificate,
            ),
            (
                ServiceError::Refused {
                    code: ErrorCode::TerminalNotActive,
                    message: "利用できません".into(),
                },
                StatusCode::FORBIDDEN,
                ErrorCode::TerminalNotActive,
            ),
            (
                ServiceError::BadRequest("mode".into()),
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
            ),
            (
                ServiceError::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal,
            ),
            (
                ServiceError::Internal("secret cause".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
            ),
        ];
        for (reason, status, code) in cases {
            let e = ApiError::from(reason.clone());
            assert_eq!((e.status, &e.code), (status, &code), "{reason:?}");
        }
        // An internal cause is logged, never sent.
        let e = ApiError::from(ServiceError::Internal("secret cause".into()));
        assert!(!e.message.contains("secret"), "{}", e.message);
    }
}
