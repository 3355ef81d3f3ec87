//! Errors of the test card authority: each names the file, the serial or the value concerned and
//! says what went wrong, in Japanese and English like the rest of onshi.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// Why an authority operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// `init` found the files of an authority already in the directory.
    #[error(
        "{found}: 認証局はすでに作成されています / an authority already exists in this directory"
    )]
    AlreadyExists {
        /// The authority file that was found.
        found: PathBuf,
    },
    /// `open` did not find a file every authority has.
    #[error("{path}: ファイルがありません / missing: {what}")]
    Missing {
        /// The file that is not there.
        path: PathBuf,
        /// What the file holds.
        what: &'static str,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {action}できません / cannot {action_en}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was attempted, in Japanese (e.g. 読み込み).
        action: &'static str,
        /// What was attempted, in English (e.g. read).
        action_en: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A file of the authority is there but its content is not what the authority wrote.
    #[error("{path}: 内容が正しくありません / malformed: {what}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the line, for CSV files).
        what: String,
    },
    /// `ca-key.pem` does not hold the key of the certificate in `ca.pem`.
    #[error(
        "{key}: {certificate} の鍵ではありません / this key does not belong to the certificate {certificate}"
    )]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        certificate: PathBuf,
    },
    /// rcgen refused to generate a key or to sign a certificate or CRL.
    #[error("{what}: {source}")]
    Crypto {
        /// What was being made (e.g. "the card's key").
        what: &'static str,
        /// The cause.
        source: rcgen::Error,
    },
    /// A person id that is not 1–32 ASCII letters, digits, '-' or '_'.
    #[error(
        "個人ID「{id}」は英数字・'-'・'_' の1〜32文字で指定してください / person id {id:?}: use 1–32 ASCII letters, digits, '-' or '_'"
    )]
    PersonId {
        /// The refused id.
        id: String,
    },
    /// A validity period that ends before it starts.
    #[error(
        "有効期間の開始 {not_before} が終了 {not_after} 以降です / the validity starts at {not_before}, not before its end {not_after}"
    )]
    Validity {
        /// The requested start.
        not_before: DateTime<Utc>,
        /// The requested end.
        not_after: DateTime<Utc>,
    },
    /// A time that an X.509 certificate or CRL cannot carry here (before 1970 or after 9999).
    #[error(
        "{time} は証明書に記録できない日時です（1970〜9999年） / {time} is outside the years 1970–9999 a certificate can carry here"
    )]
    TimeOutOfRange {
        /// The refused time.
        time: DateTime<Utc>,
    },
    /// Text that is not a certificate serial number in hexadecimal.
    #[error(
        "シリアル番号「{text}」は16進数で指定してください / serial {text:?} is not a hexadecimal serial number"
    )]
    SerialFormat {
        /// The refused text.
        text: String,
    },
    /// `revoke` was given a serial this authority never issued.
    #[error(
        "シリアル番号 {serial} の証明書は {issued} にありません / no certificate with serial {serial} in {issued}"
    )]
    UnknownSerial {
        /// The serial, in canonical form.
        serial: String,
        /// The issue record that was searched.
        issued: PathBuf,
    },
    /// `revoke` was given a serial that is already revoked.
    #[error(
        "シリアル番号 {serial} の証明書は {revoked_at} にすでに失効しています / the certificate with serial {serial} was already revoked at {revoked_at}"
    )]
    AlreadyRevoked {
        /// The serial, in canonical form.
        serial: String,
        /// When it was revoked.
        revoked_at: DateTime<Utc>,
    },
    /// The serial or CRL number counter in `state.json` cannot go any higher.
    #[error("{path}: {what}の番号を使い切りました / no {what_en} numbers left")]
    Exhausted {
        /// The state file.
        path: PathBuf,
        /// Which counter, in Japanese.
        what: &'static str,
        /// Which counter, in English.
        what_en: &'static str,
    },
    /// The software card could not be built or saved.
    #[error("{path}: カードファイルを作成できません / cannot make the card file: {source}")]
    Card {
        /// The card file.
        path: PathBuf,
        /// The cause.
        source: onshi_card_emu::EmuError,
    },
}
