//! The app's connection to the service: the one HTTPS client of `onshi-client` (mutual TLS,
//! keep-alive, session resumption, a timeout on every network step), its errors read as the
//! app's ([`AppError`]).

pub use onshi_client::{
    Answer, ClientError, GetAnswer, Identity, ServerUrl, ServiceClient, TIMEOUT,
};

use crate::error::AppError;

impl From<ClientError> for AppError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Setup(m) => Self::Usage(m),
            ClientError::Unreachable(m) => Self::Unreachable(m),
            ClientError::Untrusted(m) => Self::Untrusted(m),
            ClientError::Refused { status, body } => Self::Refused { status, body },
            ClientError::TerminalRefused(m) => Self::TerminalRefused(m),
            ClientError::Protocol(m) => Self::Protocol(m),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_address_is_a_usage_error_for_the_staff() {
        let e = AppError::from(ServerUrl::parse("http://x:1").unwrap_err());
        assert!(
            matches!(e, AppError::Usage(ref m) if m.contains("https://")),
            "{e:?}"
        );
        let refused = AppError::from(ClientError::Refused {
            status: 403,
            body: onshi_proto::ErrorBody {
                code: onshi_proto::ErrorCode::BadEnrollment,
                message: "端末を登録できませんでした。".into(),
            },
        });
        assert_eq!(refused.message_ja(), "端末を登録できませんでした。");
    }
}
