//! What can stop the reception app, with the Japanese text the staff read ([`AppError::message_ja`]).

use onshi_card::error::CardError;
use onshi_proto::ErrorBody;

/// Why an app command failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The service did not answer: no connection, or no answer within the timeout.
    #[error("the service is unreachable: {0}")]
    Unreachable(String),
    /// The server's certificate is not signed by the trusted server CA (or names another host).
    #[error("the server's certificate is not trusted: {0}")]
    Untrusted(String),
    /// The service refused the request with an error body (`E009` for a bad enrollment code …).
    #[error("the service refused the request ({status}): {} {}", body.code, body.message)]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The service's error body.
        body: ErrorBody,
    },
    /// The service closed the connection after the handshake: the terminal's certificate is not
    /// accepted (revoked, replaced, or expired).
    #[error("the service refused this terminal's certificate: {0}")]
    TerminalRefused(String),
    /// The service answered something that is not the API's JSON.
    #[error("unexpected answer from the service: {0}")]
    Protocol(String),
    /// The service answered the API's JSON, but a value in it is not in the form the service
    /// issues (a 照会番号 that is no 照会番号): nothing is written from it.
    #[error("bad answer from the service: {0}")]
    BadAnswer(String),
    /// The card said no (wrong PIN, locked, no card, not a My Number card …).
    #[error(transparent)]
    Card(#[from] CardError),
    /// Staff did not confirm that the card's photo matches the patient.
    #[error("the photo was not confirmed")]
    PhotoNotConfirmed,
    /// The data directory already holds an enrolled terminal.
    #[error("{0}: already enrolled")]
    AlreadyEnrolled(String),
    /// The data directory has no enrolled terminal.
    #[error("{0}: not enrolled")]
    NotEnrolled(String),
    /// A file of the data directory is missing, unreadable or malformed (names the file).
    #[error("{file}: {reason}")]
    Data {
        /// The file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The output folder asked for lies outside the folders `app.toml` allows
    /// (`[rececon] allowed_output_roots`).
    #[error("{folder}: not under an allowed output root ({})", roots.join(", "))]
    OutputNotAllowed {
        /// The folder asked for.
        folder: String,
        /// The allowed roots.
        roots: Vec<String>,
    },
    /// Staff cancelled the check, or the patient did not enter the PIN in time.
    #[error("the check was cancelled")]
    Cancelled,
    /// This PC's clock differs from the service's by more than a challenge lives: the visit
    /// date and the challenge cannot be trusted. Seconds this clock is ahead (negative: behind).
    #[error("this computer's clock is {seconds} s off the service's")]
    ClockSkew {
        /// Local clock minus the service's, seconds.
        seconds: i64,
    },
    /// An argument is not usable (server URL, date …).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a local file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl AppError {
    /// A data-directory error naming the file.
    pub fn data(file: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        Self::Data {
            file: file.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Whether this is a card error (exit code [`crate::exit::CARD_ERROR`]).
    pub fn is_card_error(&self) -> bool {
        matches!(
            self,
            Self::Card(_) | Self::PhotoNotConfirmed | Self::Cancelled
        )
    }

    /// Whether the service could not be asked (exit code [`crate::exit::SERVICE_ERROR`]).
    pub fn is_service_error(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(_)
                | Self::Untrusted(_)
                | Self::Refused { .. }
                | Self::TerminalRefused(_)
                | Self::Protocol(_)
                | Self::BadAnswer(_)
        )
    }

    /// What the staff should read, in Japanese: what happened and what to do next.
    pub fn message_ja(&self) -> String {
        match self {
            Self::Unreachable(_) => "資格確認サービスにつながりません。ネットワーク（LANケーブル、Wi-Fi）を確認してください。今回の受付は「未確認」として履歴に残しました。つながるようになったら確認し直してください。".to_owned(),
            Self::Untrusted(_) => "接続先のサーバーが信頼できません（サーバー証明書を確認できません）。接続先のアドレスと、登録時に受け取ったサーバーのCA証明書が正しいか、運用担当者に確認してください。".to_owned(),
            Self::Refused { body, .. } => body.message.clone(),
            Self::TerminalRefused(_) => "この端末は資格確認サービスに受け付けられませんでした（端末の証明書が無効か期限切れです）。`onshi app renew` で更新するか、運用担当者に端末の再登録を依頼してください。".to_owned(),
            Self::Protocol(_) => "資格確認サービスから予期しない応答がありました。しばらくしてからもう一度お試しください。続く場合は運用担当者に連絡してください。".to_owned(),
            Self::BadAnswer(why) => format!("資格確認サービスの応答が正しくありません（{why}）。この応答からはファイルを作っていません。今回の受付は「未確認」として履歴に残しました。続く場合は運用担当者に連絡してください。"),
            Self::Card(CardError::PinBlocked) => "暗証番号がロックされています。患者さんには、お住まいの市区町村の窓口で暗証番号の初期化（再設定）をするようお伝えください。今回は目視確認（--mode visual）で受付できます。".to_owned(),
            Self::Card(e @ CardError::WrongPin { .. }) => format!(
                "{} 患者さんにもう一度入力していただくか、目視確認（--mode visual）で受付してください。",
                e.message_ja()
            ),
            Self::Card(e) => e.message_ja(),
            Self::PhotoNotConfirmed => "顔写真の確認が済んでいないため、カードは読み取りませんでした。患者さんご本人であることを確認してから、もう一度お試しください。".to_owned(),
            Self::AlreadyEnrolled(dir) => format!("{dir} にはすでに登録済みの端末があります。登録し直す場合は別のフォルダーを指定してください。"),
            Self::NotEnrolled(dir) => format!("{dir} に端末の登録がありません。先に `onshi app enroll` で登録してください。"),
            Self::Data { file, reason } => format!("{file} を読み書きできません（{reason}）。"),
            Self::OutputNotAllowed { folder, roots } => format!(
                "出力先フォルダー {folder} は、設定ファイルで許可された場所の下にないため使えません。使える場所: {}。ほかの場所に出力するには、データフォルダーの app.toml の [rececon] allowed_output_roots にその場所を書き加えてください。",
                roots.join("、")
            ),
            Self::Cancelled => "確認を取りやめました。カードからは何も送っていません。".to_owned(),
            Self::ClockSkew { seconds } => format!(
                "このパソコンの時計が資格確認サービスの時計より約{}分{}います。受診日を正しく決められないため、確認していません。パソコンの日付と時刻を合わせて（自動で合わせる設定にして）から、もう一度確認してください。",
                seconds.unsigned_abs().div_ceil(60),
                if *seconds > 0 { "進んで" } else { "遅れて" }
            ),
            Self::Usage(m) => m.clone(),
            Self::Io(e) => format!("ファイルの読み書きに失敗しました（{e}）。"),
        }
    }
}
