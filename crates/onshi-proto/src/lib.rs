//! The eligibility service's API, defined once for the server and the reception app.
//!
//! Routes are under [`API_PREFIX`]. Every eligibility route is called over mutual TLS with the
//! terminal's client certificate; [`ENROLL`] is the one route a terminal calls before it has one.
//! Binary values travel as standard base64; dates as `yyyyMMdd`; the answer uses the result
//! format's element names, like `onshi lookup --json`.

use onshi_model::codes::{ProcessingResultStatus, QualificationValidity};
use onshi_model::Answer;
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// The prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";
/// `POST`: a CSR and a one-time enrollment code in, the terminal's client certificate out.
pub const ENROLL: &str = "/api/v1/enroll";
/// `POST`: a new client certificate for an enrolled terminal (a fresh CSR; the old certificate is
/// refused from then on).
pub const RENEW: &str = "/api/v1/renew";
/// `POST`: a single-use nonce bound to the calling terminal.
pub const CHALLENGE: &str = "/api/v1/challenge";
/// `POST`: a card check (PIN or visual mode).
pub const VERIFY: &str = "/api/v1/verify";
/// `POST`: registering a card for health-insurance use on the spot (PIN mode, with consent).
pub const REGISTER: &str = "/api/v1/register";
/// `POST`: a check by 保険者番号・記号・番号・枝番 and birth date (no card; 資格確認書).
pub const QUERY: &str = "/api/v1/query";
/// `GET`: the process is alive.
pub const HEALTHZ: &str = "/healthz";
/// `GET`: the process can serve (the store answers).
pub const READYZ: &str = "/readyz";
/// `GET`: Prometheus metrics (text format; no client certificate needed: firewall it if it must
/// not be seen).
pub const METRICS: &str = "/metrics";
/// `GET`: the OpenAPI 3.1 document of this API (YAML).
pub const OPENAPI: &str = "/openapi.yaml";

/// Every route above, for tests, documentation and metrics labels.
pub const ROUTES: &[&str] = &[
    ENROLL, RENEW, CHALLENGE, VERIFY, REGISTER, QUERY, HEALTHZ, READYZ, METRICS, OPENAPI,
];
/// The routes a terminal calls with its client certificate (rate-limited per terminal).
pub const TERMINAL_ROUTES: &[&str] = &[RENEW, CHALLENGE, VERIFY, REGISTER, QUERY];

/// How the patient was identified at the desk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The patient entered the card's 4-digit PIN; the card signed the challenge.
    Pin,
    /// 目視確認: the staff compared the card's photo with the patient.
    Visual,
}

impl Mode {
    /// `pin` or `visual`, as stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pin => "pin",
            Self::Visual => "visual",
        }
    }
}

/// `POST /api/v1/enroll`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The app account (`W0000001`).
    pub account: String,
    /// The one-time enrollment code shown when the terminal was added.
    pub code: String,
    /// A PEM CSR for a P-256 key the terminal keeps.
    pub csr_pem: String,
}

/// `POST /api/v1/renew`: the terminal's new key, over its current certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// A PEM CSR for a new P-256 key.
    pub csr_pem: String,
}

/// The answer to an enrollment (and to a renewal).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The terminal's client certificate (PEM).
    pub certificate_pem: String,
    /// The terminal CA's certificate (PEM), for the terminal's records.
    pub terminal_ca_pem: String,
}

/// The answer to `POST /api/v1/challenge`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// The challenge token to send back in [`VerifyRequest::nonce`] (base64).
    pub nonce: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// `POST /api/v1/verify` (and `/register`, which takes the same body in PIN mode).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// PIN or visual.
    pub mode: Mode,
    /// The card's 利用者証明用電子証明書, DER, base64.
    pub certificate: String,
    /// PIN mode (and always for `/register`): the card's signature over [`signed_message`] with
    /// [`Purpose::Verify`] (or [`Purpose::Register`] for `/register`), base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The token from `challenge`.
    pub nonce: String,
    /// The visit date, `yyyyMMdd` on the wire: a date from the desk to the audit, read once.
    #[serde(with = "onshi_model::date::yyyymmdd")]
    pub visit_date: onshi_model::Date,
    /// For a re-check of a visit the desk recorded as 未確認 (the service could not be
    /// reached): which visit, as the desk refers to it (its time, RFC 3339; printable ASCII, at
    /// most 64 characters). Kept in the service's audit record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck_of: Option<String>,
}

/// `POST /api/v1/query`: a check without a card.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// 保険者番号.
    pub insurer_number: String,
    /// 記号 (absent for 後期高齢者).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// 番号.
    pub number: String,
    /// 枝番 (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// 生年月日, `yyyyMMdd` on the wire.
    #[serde(with = "onshi_model::date::yyyymmdd")]
    pub birthdate: onshi_model::Date,
    /// The visit date, `yyyyMMdd` on the wire.
    #[serde(with = "onshi_model::date::yyyymmdd")]
    pub visit_date: onshi_model::Date,
}

/// The answer of a check: the result format's MessageBody, on the model's types (the JSON keeps
/// the element names and string codes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckResponse {
    /// 照会番号.
    #[serde(rename = "ReferenceNumber")]
    pub reference_number: String,
    /// 処理結果状況: `1` 正常終了, `2` 異常終了.
    #[serde(rename = "ProcessingResultStatus")]
    pub processing_result_status: ProcessingResultStatus,
    /// 処理結果コード: a warning of a finished check, or why it did not finish.
    #[serde(
        rename = "ProcessingResultCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub processing_result_code: Option<ResultCode>,
    /// 処理結果メッセージ, in Japanese for the staff.
    #[serde(
        rename = "ProcessingResultMessage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub processing_result_message: Option<String>,
    /// QualificationValidity and the ResultList of qualifications (no internal person id).
    #[serde(flatten)]
    pub answer: Answer,
}

impl CheckResponse {
    /// Whether the check finished (正常終了) with a 有効 qualification.
    pub fn is_valid(&self) -> bool {
        self.processing_result_status == ProcessingResultStatus::OK
            && self.answer.validity == QualificationValidity::VALID
    }
}

/// The body of every error answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// A stable code for programs (see [`codes`]).
    pub code: ErrorCode,
    /// What happened and what to do, in Japanese, for the staff.
    pub message: String,
}

/// The terminal's settings file (ユーザー設定情報): what the portal hands the clinic for each
/// terminal and `onshi app enroll --settings FILE --code CODE` reads. TOML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSettings {
    /// The service, `https://HOST:PORT`.
    pub server: String,
    /// The terminal's account (`W0000001`).
    pub account: String,
    /// The server CA's certificate (PEM) the app trusts for the service; absent when the
    /// service's certificate chains to the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ca: Option<String>,
    /// The terminal's name the clinic gave it on the portal (受付PC, タブレット …), shown in the
    /// desk's header and by `onshi app doctor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The file name the portal gives a terminal's settings file.
pub fn settings_file_name(account: &str) -> String {
    format!("onshi-terminal-{account}.toml")
}

/// Codes of [`ErrorBody::code`] and [`CheckResponse::processing_result_code`].
pub mod codes {
    /// The request has no client certificate.
    pub const NO_CLIENT_CERTIFICATE: &str = "E001";
    /// The client certificate is not an active terminal's (unknown or revoked).
    pub const TERMINAL_NOT_ACTIVE: &str = "E002";
    /// The nonce is unknown, expired, spent or another terminal's.
    pub const BAD_NONCE: &str = "E003";
    /// The card certificate is not from a trusted JPKI CA, or malformed.
    pub const CARD_CERTIFICATE_UNTRUSTED: &str = "E004";
    /// The card certificate is expired beyond the grace period, or not yet valid.
    pub const CARD_CERTIFICATE_EXPIRED: &str = "E005";
    /// The card certificate is revoked.
    pub const CARD_CERTIFICATE_REVOKED: &str = "E006";
    /// The signature does not verify.
    pub const BAD_SIGNATURE: &str = "E007";
    /// The request is malformed.
    pub const BAD_REQUEST: &str = "E008";
    /// The enrollment code is wrong, spent or expired.
    pub const BAD_ENROLLMENT: &str = "E009";
    /// Too many requests from this terminal.
    pub const RATE_LIMITED: &str = "E010";
    /// The card's revocation cannot be checked: its CA's CRL is missing, does not verify or is
    /// past its nextUpdate (with `crl_missing = "refuse"`, the default).
    pub const CRL_NOT_CURRENT: &str = "E011";
    /// The card's link to a person is held: the card authority's record of its holder does not
    /// match the insurer's record (the wrong-link guard), or an operator held it.
    pub const LINK_HELD: &str = "E012";
    /// Something failed inside the service.
    pub const INTERNAL: &str = "E999";
    /// Warning: the card's certificate expired and is inside the grace period.
    pub const WARN_CERTIFICATE_IN_GRACE: &str = "W001";
    /// Warning: the card's certificate expires within three months.
    pub const WARN_CERTIFICATE_EXPIRES_SOON: &str = "W002";
    /// The card is not registered for health-insurance use (利用登録).
    pub const CARD_NOT_REGISTERED: &str = "W003";
    /// Warning: the card was linked to this person recently (it pointed at someone else, or at
    /// no one, before): compare the shown name and birth date with the patient.
    pub const WARN_LINK_CHANGED: &str = "W004";

    /// Every code above, in order.
    pub const ALL: &[&str] = &[
        NO_CLIENT_CERTIFICATE,
        TERMINAL_NOT_ACTIVE,
        BAD_NONCE,
        CARD_CERTIFICATE_UNTRUSTED,
        CARD_CERTIFICATE_EXPIRED,
        CARD_CERTIFICATE_REVOKED,
        BAD_SIGNATURE,
        BAD_REQUEST,
        BAD_ENROLLMENT,
        RATE_LIMITED,
        CRL_NOT_CURRENT,
        LINK_HELD,
        INTERNAL,
        WARN_CERTIFICATE_IN_GRACE,
        WARN_CERTIFICATE_EXPIRES_SOON,
        CARD_NOT_REGISTERED,
        WARN_LINK_CHANGED,
    ];
}

/// A 処理結果コード of a check's answer, typed: the domain's type (the receipt computer's files
/// carry it too), its texts listed in [`codes`].
pub use onshi_model::codes::ResultCode;

/// The code of an error answer ([`ErrorBody::code`]): the codes this version's service sends in
/// an error body, typed. On the wire the code's text (`E008` …); a text this version does not
/// know (a newer service's code) is kept as [`ErrorCode::Other`], so an older app still shows the
/// body's message instead of failing to read the answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// [`codes::NO_CLIENT_CERTIFICATE`] (401).
    NoClientCertificate,
    /// [`codes::TERMINAL_NOT_ACTIVE`] (403).
    TerminalNotActive,
    /// [`codes::BAD_NONCE`] (403).
    BadNonce,
    /// [`codes::BAD_REQUEST`] (400, 413, 415).
    BadRequest,
    /// [`codes::BAD_ENROLLMENT`] (403).
    BadEnrollment,
    /// [`codes::RATE_LIMITED`] (429).
    RateLimited,
    /// [`codes::INTERNAL`] (500, 503).
    Internal,
    /// A code this version does not know, as sent.
    Other(String),
}

impl ErrorCode {
    /// Every code the service sends in an error body.
    pub const KNOWN: [Self; 7] = [
        Self::NoClientCertificate,
        Self::TerminalNotActive,
        Self::BadNonce,
        Self::BadRequest,
        Self::BadEnrollment,
        Self::RateLimited,
        Self::Internal,
    ];

    /// The code's text, as [`codes`] lists it (an [`ErrorCode::Other`]'s text as sent).
    pub fn as_str(&self) -> &str {
        match self {
            Self::NoClientCertificate => codes::NO_CLIENT_CERTIFICATE,
            Self::TerminalNotActive => codes::TERMINAL_NOT_ACTIVE,
            Self::BadNonce => codes::BAD_NONCE,
            Self::BadRequest => codes::BAD_REQUEST,
            Self::BadEnrollment => codes::BAD_ENROLLMENT,
            Self::RateLimited => codes::RATE_LIMITED,
            Self::Internal => codes::INTERNAL,
            Self::Other(text) => text,
        }
    }

    /// The code of a text: a known one, or [`ErrorCode::Other`] keeping the text.
    pub fn parse(s: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or_else(|| Self::Other(s.to_owned()))
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// What a card's signature is for. It is inside the signed message, so a signature made for one
/// purpose (a check) is refused for another (利用登録).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A check: `POST /api/v1/verify`.
    Verify,
    /// 利用登録 on the spot: `POST /api/v1/register`.
    Register,
    /// A check by numbers: `POST /api/v1/query` (no card signs it today; reserved so that no
    /// future signature for it can stand for another purpose).
    Query,
}

impl Purpose {
    /// The label signed: `verify`, `register` or `query`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Register => "register",
            Self::Query => "query",
        }
    }
}

/// The prefix of every signed message: names the protocol and its version.
const SIGNED_PREFIX: &[u8] = b"onshi/v1 ";

/// The message a card signs in PIN mode: `onshi/v1 `, the purpose's label ([`Purpose::as_str`]),
/// a 0 byte, the nonce token's bytes, a 0 byte, and the terminal id. Binding the purpose means a
/// signature made for a check cannot register the card; binding the terminal id means a
/// signature captured at one terminal is worthless at another.
pub fn signed_message(purpose: Purpose, nonce: &[u8], terminal_id: &str) -> Vec<u8> {
    let label = purpose.as_str().as_bytes();
    let mut m =
        Vec::with_capacity(SIGNED_PREFIX.len() + label.len() + nonce.len() + 2 + terminal_id.len());
    m.extend_from_slice(SIGNED_PREFIX);
    m.extend_from_slice(label);
    m.push(0);
    m.extend_from_slice(nonce);
    m.push(0);
    m.extend_from_slice(terminal_id.as_bytes());
    m
}

/// SHA-256 of [`signed_message`]: the card receives the DigestInfo of this digest
/// (RSASSA-PKCS1-v1_5 with SHA-256 over the message).
pub fn signed_digest(purpose: Purpose, nonce: &[u8], terminal_id: &str) -> [u8; 32] {
    sha2::Sha256::digest(signed_message(purpose, nonce, terminal_id)).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_keep_their_wire_text_and_an_unknown_one_survives() {
        for c in ErrorCode::KNOWN {
            assert!(codes::ALL.contains(&c.as_str()), "{c}");
            let wire = serde_json::to_string(&c).unwrap();
            assert_eq!(wire, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&wire).unwrap(), c);
        }
        assert_eq!(ErrorCode::BadRequest.as_str(), "E008");
        assert_eq!(ErrorCode::Internal.to_string(), "E999");
        // A newer service's code: read, kept as sent, written back the same; the message shows.
        let newer = r#"{"code":"E042","message":"新しいエラー"}"#;
        let body: ErrorBody = serde_json::from_str(newer).unwrap();
        assert_eq!(body.code, ErrorCode::Other("E042".into()));
        assert_eq!(body.message, "新しいエラー");
        assert_eq!(serde_json::to_string(&body).unwrap(), newer);
        // A check's code is no error body's code of this version: kept as text, too.
        assert_eq!(ErrorCode::parse("E004"), ErrorCode::Other("E004".into()));
    }

    #[test]
    fn result_codes_are_the_listed_codes_and_nothing_else_reads() {
        for c in ResultCode::ALL {
            assert!(codes::ALL.contains(&c.as_str()), "{c}");
            assert_eq!(ResultCode::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ResultCode>(&json).unwrap(), c);
        }
        // Codes of refusals that never travel in a check's answer, and texts that are no code.
        for other in [codes::BAD_NONCE, codes::INTERNAL, "W999", "w002", ""] {
            assert_eq!(ResultCode::parse(other), None, "{other}");
            assert!(serde_json::from_str::<ResultCode>(&format!("\"{other}\"")).is_err());
        }
    }

    #[test]
    fn wire_forms() {
        let r = VerifyRequest {
            mode: Mode::Pin,
            certificate: "AA==".into(),
            signature: None,
            nonce: "n".into(),
            visit_date: onshi_model::Date::from_ymd_opt(2026, 4, 1).unwrap(),
            recheck_of: None,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["mode"], "pin");
        assert_eq!(v["visit_date"], "20260401");
        // A date that is none is refused where the body is read, naming the field.
        let e = serde_json::from_str::<VerifyRequest>(
            r#"{"mode":"pin","certificate":"","nonce":"","visit_date":"20260231"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("20260231"), "{e}");
        assert!(v.get("signature").is_none());
        assert!(serde_json::from_str::<VerifyRequest>(
            r#"{"mode":"pin","certificate":"","nonce":"","visit_date":"","extra":1}"#
        )
        .is_err());
        assert_ne!(
            signed_digest(Purpose::Verify, b"n", "W0000001"),
            signed_digest(Purpose::Verify, b"n", "W0000002")
        );
    }

    #[test]
    fn the_purpose_is_signed() {
        assert_eq!(
            signed_message(Purpose::Register, b"n\x01", "W0000001"),
            b"onshi/v1 register\0n\x01\0W0000001"
        );
        let digests = [Purpose::Verify, Purpose::Register, Purpose::Query]
            .map(|p| signed_digest(p, b"n", "W0000001"));
        assert_ne!(digests[0], digests[1]);
        assert_ne!(digests[0], digests[2]);
        assert_ne!(digests[1], digests[2]);
    }

    /// The values of `pub const NAME: &str = "…";` lines in this file whose value starts with
    /// `prefix` — so that a constant added without being listed is caught.
    fn consts_in_source(prefix: &str) -> Vec<String> {
        include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub const "))
            .filter_map(|l| l.split_once(": &str = \""))
            .filter_map(|(_, v)| v.strip_suffix("\";"))
            .filter(|v| v.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_route_and_code_is_listed() {
        let mut routes = consts_in_source("/");
        routes.retain(|r| r != API_PREFIX);
        assert_eq!(routes, ROUTES);
        for r in TERMINAL_ROUTES {
            assert!(ROUTES.contains(r));
        }
        let mut codes = consts_in_source("E");
        codes.extend(consts_in_source("W"));
        let mut all = codes::ALL.to_vec();
        all.sort_unstable();
        codes.sort_unstable();
        assert_eq!(codes, all);
    }
}

#[doc(hidden)]
pub mod fuzzing {
    //! Entry point for the fuzz target `api_json`: every API body, fed arbitrary bytes, must not
    //! panic; what parses is written back, parsed again and written the same.

    use serde::de::DeserializeOwned;
    use serde::Serialize;

    fn round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) {
        let Ok(value) = serde_json::from_slice::<T>(data) else {
            return;
        };
        let once = match serde_json::to_vec(&value) {
            Ok(b) => b,
            Err(e) => panic!("a parsed body does not encode: {e}"),
        };
        let back = match serde_json::from_slice::<T>(&once) {
            Ok(v) => v,
            Err(e) => panic!("an encoded body does not parse: {e}"),
        };
        let twice = serde_json::to_vec(&back).ok();
        assert_eq!(twice.as_deref(), Some(once.as_slice()));
    }

    /// Reads `data` as each request body the service takes and each answer the app reads.
    pub fn bodies(data: &[u8]) {
        round_trip::<crate::EnrollRequest>(data);
        round_trip::<crate::RenewRequest>(data);
        round_trip::<crate::VerifyRequest>(data);
        round_trip::<crate::QueryRequest>(data);
        round_trip::<crate::EnrollResponse>(data);
        round_trip::<crate::ChallengeResponse>(data);
        round_trip::<crate::CheckResponse>(data);
        round_trip::<crate::ErrorBody>(data);
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn entry_point_takes_samples() {
            for s in [
                "",
                "{}",
                r#"{"mode":"pin","certificate":"AA==","nonce":"x","visit_date":"20260401"}"#,
                r#"{"insurer_number":"06130012","number":"1","birthdate":"19800101","visit_date":"20260401","extra":1}"#,
                r#"{"ReferenceNumber":"1","ProcessingResultStatus":"1","QualificationValidity":"1","ResultList":[{"a":1.5e300}]}"#,
                r#"{"code":"E008","message":"\u3042"}"#,
            ] {
                super::bodies(s.as_bytes());
            }
        }
    }
}
