//! Errors of onshi's PKI: [`PkiError`] for the authorities (each names the file, the serial or the
//! value concerned and says what went wrong, in Japanese and English like the rest of onshi), and
//! [`CardCheckError`] for a patient's card certificate refused by the eligibility service (with the
//! service's code and a message for clinic staff).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use onshi_model::codes::ResultCode;

use crate::time::date_ja;

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
    /// A certificate given as a trusted JPKI CA that cannot serve as one.
    #[error(
        "信頼する認証局の証明書（{index}番目）を使えません / trusted CA certificate #{index}: {what}"
    )]
    TrustAnchor {
        /// Its position in the list given, from 1.
        index: usize,
        /// What is wrong with it.
        what: X509Problem,
    },
    /// A CRL that was not loaded: malformed, or not signed by a trusted CA.
    #[error("失効リスト（{index}番目）を読み込めません / CRL #{index} refused: {what}")]
    Crl {
        /// Its position in the list given, from 1.
        index: usize,
        /// Why it was refused.
        what: X509Problem,
    },
    /// A certificate signing request the terminal CA does not sign.
    #[error("証明書署名要求（CSR）を受け付けられません / CSR refused: {what}")]
    Csr {
        /// Why it was refused.
        what: X509Problem,
    },
    /// A terminal id that cannot be a terminal certificate's common name.
    #[error(
        "端末ID「{id}」は英数字・'-'・'_'・'.' の1〜64文字で指定してください / terminal id {id:?}: use 1–64 ASCII letters, digits, '-', '_' or '.'"
    )]
    TerminalId {
        /// The refused id.
        id: String,
    },
}

/// What is wrong with a certificate, CRL or CSR given to the PKI (a trusted CA, a CRL to load, a
/// terminal's CSR): the parser's own words where it has them, the subject or OID concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X509Problem {
    /// Text that looks like PEM but is not.
    #[error("not PEM: {0}")]
    NotPem(String),
    /// A PEM block of another kind than expected.
    #[error("a {expected} PEM block was expected, found {found}")]
    PemLabel {
        /// The label expected.
        expected: &'static str,
        /// The label found.
        found: String,
    },
    /// PEM text without a block of the kind expected.
    #[error("no {0} PEM block")]
    NoPemBlock(&'static str),
    /// Not DER of the kind expected (`CRL`, `certificate signing request`).
    #[error("not a DER {what}: {reason}")]
    NotDer {
        /// What was expected.
        what: &'static str,
        /// The parser's words.
        reason: String,
    },
    /// Not an X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    NotCertificate(String),
    /// Bytes after the DER structure.
    #[error("{count} trailing bytes after the {after}")]
    TrailingBytes {
        /// How many.
        count: usize,
        /// After what (`CRL`, `certificate`, `CSR`).
        after: &'static str,
    },
    /// Several CRLs in one file where one is loaded.
    #[error("{0} CRLs in one file: load them one by one")]
    SeveralCrls(usize),
    /// No certificate at all was given.
    #[error("no CA certificate was given")]
    NoCertificate,
    /// The outer and the signed signature algorithm differ.
    #[error("the two signature algorithm fields differ")]
    SignatureAlgorithmsDiffer,
    /// A signature algorithm not accepted (its OID).
    #[error("signature algorithm {0} is not accepted")]
    SignatureAlgorithm(String),
    /// A delta CRL.
    #[error("a delta CRL: only complete CRLs are accepted")]
    DeltaCrl,
    /// A partitioned CRL.
    #[error("a partitioned CRL (issuingDistributionPoint): only complete CRLs are accepted")]
    PartitionedCrl,
    /// A critical extension this PKI does not know (its OID).
    #[error("unknown critical extension {0}")]
    UnknownCriticalExtension(String),
    /// A CRL whose signature does not verify with the key of the trusted CA of its issuer's name.
    #[error("its signature does not verify with the key of the trusted CA {0}")]
    CrlSignature(String),
    /// A CRL whose issuer is no trusted CA.
    #[error("its issuer {0} is not a trusted CA")]
    UntrustedIssuer(String),
    /// A CA whose keyUsage does not allow signing CRLs.
    #[error("the keyUsage of {0} does not allow signing CRLs")]
    MayNotSignCrls(String),
    /// A time outside what this PKI can hold (`thisUpdate`, `nextUpdate`).
    #[error("{0} is out of range")]
    TimeOutOfRange(&'static str),
    /// A certificate's basicConstraints that does not parse.
    #[error("{subject}: basicConstraints: {reason}")]
    BasicConstraints {
        /// The certificate's subject.
        subject: String,
        /// The parser's words.
        reason: String,
    },
    /// A certificate that is not a CA's.
    #[error("{0} is not a CA certificate (basicConstraints cA is not set)")]
    NotCa(String),
    /// A certificate's keyUsage that does not parse.
    #[error("{subject}: keyUsage: {reason}")]
    KeyUsage {
        /// The certificate's subject.
        subject: String,
        /// The parser's words.
        reason: String,
    },
    /// A CA whose keyUsage does not allow signing certificates.
    #[error("{0}: its keyUsage does not allow signing certificates")]
    MayNotSignCertificates(String),
    /// A CA whose key cannot verify signatures.
    #[error("{subject}: {problem}")]
    CaKey {
        /// The CA's subject.
        subject: String,
        /// What is wrong with its key.
        problem: Box<X509Problem>,
    },
    /// A key type other than RSA, P-256 or P-384 (its OID).
    #[error("its key type {0} is not RSA, P-256 or P-384")]
    KeyType(String),
    /// A key's BIT STRING with unused bits.
    #[error("its key's BIT STRING is not whole bytes")]
    KeyBits,
    /// A key refused by the verifier.
    #[error("its key is refused ({0}): RSA must have 2048–8192 bits")]
    KeyRefused(String),
    /// A terminal's RSA key.
    #[error("an RSA key: terminals must use an ECDSA P-256 key")]
    TerminalRsaKey,
    /// A terminal's key of another type (its OID).
    #[error("key type {0}: terminals must use an ECDSA P-256 key")]
    TerminalKeyType(String),
    /// A terminal's EC key on another curve (its OID).
    #[error("an EC key on curve {0}: terminals must use P-256 (1.2.840.10045.3.1.7)")]
    TerminalCurve(String),
    /// A terminal's EC key without a named curve.
    #[error("an EC key without a named curve: P-256 is required")]
    TerminalNoCurve,
    /// A terminal's P-256 key that is not an uncompressed point.
    #[error("the P-256 key is not an uncompressed point")]
    TerminalPoint,
    /// A CSR whose signature does not verify with its own key.
    #[error("its signature does not verify with its own key (altered in transit?)")]
    CsrSignature,
}

/// A value of a line of the authority's records (`issued.csv`, `revoked.csv`) that is not what
/// the authority writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    /// A serial that is not uppercase hexadecimal without separators.
    #[error("Serial {0:?} is not uppercase hexadecimal without separators")]
    Serial(String),
    /// Not a person id.
    #[error("PersonId {0:?} is not a valid person id")]
    PersonId(String),
    /// Not a CA's subject.
    #[error("Issuer {0:?} is not a CA's subject")]
    Issuer(String),
    /// Not an RFC 3339 time.
    #[error("{column} {value:?} is not an RFC 3339 time")]
    Time {
        /// The column.
        column: &'static str,
        /// The value.
        value: String,
    },
}

/// Why the eligibility service refuses a patient's card certificate or its signature.
///
/// [`CardCheckError::code`] is the service's answer code; [`CardCheckError::message_ja`] tells the
/// clinic's staff what happened and what the patient can do. The `Display` text is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardCheckError {
    /// Not a DER X.509 certificate this service can read (truncated, trailing bytes, bad fields).
    #[error("カードの電子証明書の形式が正しくありません / malformed card certificate: {0}")]
    Malformed(String),
    /// No trusted JPKI CA has the certificate's issuer name.
    #[error("電子証明書の発行元が信頼された認証局ではありません / issued by an untrusted CA")]
    UnknownIssuer,
    /// A trusted CA has the issuer's name, but the certificate's signature does not verify with
    /// its key (tampered, or another CA with the same name).
    #[error(
        "電子証明書の署名を認証局の鍵で検証できません / the certificate's signature does not verify with the CA's key"
    )]
    BadCertificateSignature,
    /// The certificate's validity starts after `now`.
    #[error("電子証明書の有効期間が始まっていません（{not_before}から） / not valid before {not_before}")]
    NotYetValid {
        /// Start of its validity.
        not_before: DateTime<Utc>,
    },
    /// The certificate expired and the grace period (if any) is over.
    #[error(
        "電子証明書の有効期限（{not_after}）と猶予期間（{grace_ended}まで）が過ぎています / expired at {not_after}, grace period ended {grace_ended}"
    )]
    Expired {
        /// End of its validity.
        not_after: DateTime<Utc>,
        /// The last second of the grace period (`not_after` itself when there is none).
        grace_ended: DateTime<Utc>,
    },
    /// The certificate's serial is on its CA's CRL.
    #[error(
        "電子証明書（シリアル番号 {serial}）は失効しています / certificate {serial} is revoked"
    )]
    Revoked {
        /// The serial, canonical text ([`crate::serial_text`]).
        serial: String,
    },
    /// The certificate's key is not RSA, or RSA with fewer than 2048 bits.
    #[error(
        "電子証明書の鍵がRSA 2048ビット以上ではありません / the certificate's key is not RSA of 2048 bits or more"
    )]
    WeakKey,
    /// The card's signature does not verify with the certificate's key.
    #[error("署名を検証できません / the signature does not verify")]
    BadSignature,
    /// Revocation cannot be checked: the issuing CA has no CRL loaded (`next_update` `None`),
    /// or its CRL is past its nextUpdate. Only when the service requires current CRLs.
    #[error(
        "失効リスト（CRL）が読み込まれていないか期限切れのため、失効を確認できません / revocation cannot be checked: the CA's CRL is missing or past its nextUpdate ({next_update:?})"
    )]
    RevocationUnknown {
        /// The nextUpdate of the stale CRL; `None` when there is no CRL.
        next_update: Option<DateTime<Utc>>,
    },
}

impl CardCheckError {
    /// The service's answer code: `E004` untrusted, malformed or weak; `E005` expired or not yet
    /// valid; `E006` revoked; `E007` bad signature; `E011` revocation cannot be checked.
    pub fn code(&self) -> ResultCode {
        match self {
            Self::Malformed(_)
            | Self::UnknownIssuer
            | Self::BadCertificateSignature
            | Self::WeakKey => ResultCode::CardCertificateUntrusted,
            Self::NotYetValid { .. } | Self::Expired { .. } => ResultCode::CardCertificateExpired,
            Self::Revoked { .. } => ResultCode::CardCertificateRevoked,
            Self::BadSignature => ResultCode::BadSignature,
            Self::RevocationUnknown { .. } => ResultCode::CrlNotCurrent,
        }
    }

    /// What happened and what to do, in Japanese, for the clinic's staff (dates as in Japan).
    pub fn message_ja(&self) -> String {
        match self {
            Self::Malformed(_) => "カードの電子証明書を読み取れませんでした（形式が正しくありません）。\
                 カードを置き直してもう一度読み取ってください。"
                .to_owned(),
            Self::UnknownIssuer | Self::BadCertificateSignature => {
                "カードの電子証明書を確認できませんでした（信頼できる発行元の証明書ではありません）。\
                 マイナンバーカードでの資格確認はできません。"
                    .to_owned()
            }
            Self::NotYetValid { not_before } => format!(
                "電子証明書の有効期間がまだ始まっていません（{}から有効）。\
                 端末の日付と時刻が正しいか確認してください。",
                date_ja(*not_before)
            ),
            Self::Expired {
                not_after,
                grace_ended,
            } => {
                let when = if grace_ended > not_after {
                    format!(
                        "有効期限：{}、猶予期間：{}まで",
                        date_ja(*not_after),
                        date_ja(*grace_ended)
                    )
                } else {
                    format!("有効期限：{}", date_ja(*not_after))
                };
                format!(
                    "電子証明書の有効期限が切れています（{when}）。市区町村の窓口で更新してください。"
                )
            }
            Self::Revoked { .. } => "このカードの電子証明書は失効しています。\
                 市区町村の窓口で電子証明書の再発行が必要です。目視確認での受付はできません。"
                .to_owned(),
            Self::WeakKey => "カードの電子証明書の鍵が要件を満たしていません。\
                 マイナンバーカードでの資格確認はできません。"
                .to_owned(),
            Self::BadSignature => "カードによる署名を確認できませんでした。\
                 もう一度カードを読み取り、暗証番号を入力してください。"
                .to_owned(),
            Self::RevocationUnknown { .. } => {
                "資格確認サービスで電子証明書の失効情報が最新になっていないため、\
                 マイナンバーカードでの資格確認ができません。資格確認書などの記号・番号で確認するか、\
                 しばらくしてからもう一度お試しください。"
                    .to_owned()
            }
        }
    }
}
