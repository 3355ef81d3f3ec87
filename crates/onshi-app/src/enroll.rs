//! Enrollment and renewal of the terminal's client certificate.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use onshi_proto as proto;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::client::{ServerUrl, ServiceClient};
use crate::data::{self, AppConfig, Encoding, RececonConfig};
use crate::error::AppError;

/// Renewal is due when the certificate has fewer days than this left.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// What `onshi app enroll` needs.
#[derive(Clone, Debug)]
pub struct EnrollArgs {
    /// The data directory to create.
    pub data: PathBuf,
    /// The service, `https://HOST:PORT`.
    pub server: String,
    /// The one-time enrollment code.
    pub code: String,
    /// The terminal's account (`W0000001`).
    pub account: String,
    /// The server CA's certificate (PEM text); `None` trusts the system's roots.
    pub server_ca_pem: Option<String>,
    /// The terminal's name from the portal (受付PC …), kept in `app.toml` for the desk's header.
    pub name: Option<String>,
}

impl EnrollArgs {
    /// From the portal's settings file (ユーザー設定情報, [`proto::TerminalSettings`]) and the
    /// code shown once with it.
    pub fn from_settings(data: PathBuf, file: &Path, code: String) -> Result<Self, AppError> {
        let text = data::read_text(file)?;
        Self::from_settings_text(data, &text, file, code)
    }

    /// From the settings file's text (as the desk's page uploads it); `file` names it in errors.
    pub fn from_settings_text(
        data: PathBuf,
        text: &str,
        file: &Path,
        code: String,
    ) -> Result<Self, AppError> {
        let settings: proto::TerminalSettings = toml::from_str(text).map_err(|e| {
            AppError::data(
                file,
                format!("端末設定ファイルとして読めません / not a terminal settings file: {e}"),
            )
        })?;
        Ok(Self {
            data,
            server: settings.server,
            code,
            account: settings.account,
            server_ca_pem: settings.server_ca,
            name: settings.name.as_deref().and_then(terminal_name),
        })
    }
}

/// The longest terminal name kept (the portal allows 30 characters).
const MAX_NAME_CHARS: usize = 30;

/// A terminal name from a settings file, as shown: one trimmed line of at most
/// [`MAX_NAME_CHARS`] characters without control characters; `None` when nothing is left.
fn terminal_name(raw: &str) -> Option<String> {
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    (!name.is_empty()).then_some(name)
}

/// A new P-256 key (PEM, wiped when dropped) and a CSR for it.
fn key_and_csr() -> Result<(zeroize::Zeroizing<String>, String), AppError> {
    let fail =
        |e: rcgen::Error| AppError::Usage(format!("鍵を作れません / cannot create the key: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(fail)?
        .serialize_request(&key)
        .map_err(fail)?
        .pem()
        .map_err(fail)?;
    Ok((zeroize::Zeroizing::new(key.serialize_pem()), csr))
}

/// Enrolls the terminal: creates the data directory (0700) with a new key (0600), sends the CSR
/// with the code over server-authenticated TLS, and stores the certificate, the server CA and
/// `app.toml`. Refuses a directory that is already enrolled.
pub async fn enroll(args: &EnrollArgs) -> Result<AppConfig, AppError> {
    let dir = &args.data;
    if dir.join(data::CONFIG_FILE).exists() || dir.join(data::CERT_FILE).exists() {
        return Err(AppError::AlreadyEnrolled(dir.display().to_string()));
    }
    let url = ServerUrl::parse(&args.server)?;
    let mut client = ServiceClient::new(url.clone(), args.server_ca_pem.as_deref(), None)?;
    data::create_private_dir(dir)?;
    let (key_pem, csr_pem) = key_and_csr()?;
    let key_file = dir.join(data::KEY_FILE);
    data::write_file(&key_file, key_pem.as_bytes(), 0o600)?;
    let request = proto::EnrollRequest {
        account: args.account.clone(),
        code: args.code.clone(),
        csr_pem,
    };
    let answer: proto::EnrollResponse = match client.post(proto::ENROLL, Some(&request)).await {
        Ok(a) => a,
        Err(e) => {
            // Nothing half-enrolled stays behind: the next attempt starts clean.
            let _ = std::fs::remove_file(&key_file);
            return Err(e.into());
        }
    };
    data::write_file(
        &dir.join(data::CERT_FILE),
        answer.certificate_pem.as_bytes(),
        0o644,
    )?;
    if let Some(ca_pem) = &args.server_ca_pem {
        data::write_file(&dir.join(data::SERVER_CA_FILE), ca_pem.as_bytes(), 0o644)?;
    }
    let config = AppConfig {
        server: url.to_string(),
        account: args.account.clone(),
        name: args.name.as_deref().and_then(terminal_name),
        rececon: RececonConfig {
            output: dir.join(data::RECECON_DIR),
            encoding: Encoding::Utf8,
            allowed_output_roots: Vec::new(),
            // Set by the clinic in app.toml (`institution_code`): the service does not know it.
            institution_code: None,
        },
        reader: None,
    };
    config.save(dir)?;
    Ok(config)
}

/// Renews the terminal's certificate over its current one: a new key and CSR, then the key and
/// certificate replaced (see [`data::load_identity`] for a renewal cut short). Returns the new
/// certificate's expiry.
pub async fn renew(dir: &Path) -> Result<DateTime<Utc>, AppError> {
    let config = AppConfig::load(dir)?;
    let identity = data::load_identity(dir)?;
    let ca_pem = data::server_ca(dir)?;
    let mut client = ServiceClient::new(config.server_url()?, ca_pem.as_deref(), Some(&identity))?;
    let (key_pem, csr_pem) = key_and_csr()?;
    let pending = |f: &str| dir.join(format!("{f}{}", data::PENDING_SUFFIX));
    let key_new = pending(data::KEY_FILE);
    data::write_file(&key_new, key_pem.as_bytes(), 0o600)?;
    let answer: proto::EnrollResponse = match client
        .post(proto::RENEW, Some(&proto::RenewRequest { csr_pem }))
        .await
    {
        Ok(a) => a,
        Err(e) => {
            let _ = std::fs::remove_file(&key_new);
            return Err(e.into());
        }
    };
    let expiry = not_after(&answer.certificate_pem)?;
    let cert_new = pending(data::CERT_FILE);
    data::write_file(&cert_new, answer.certificate_pem.as_bytes(), 0o644)?;
    onshi_fs::rename_durable(&key_new, &dir.join(data::KEY_FILE))
        .map_err(|e| AppError::data(&key_new, e))?;
    onshi_fs::rename_durable(&cert_new, &dir.join(data::CERT_FILE))
        .map_err(|e| AppError::data(&cert_new, e))?;
    Ok(expiry)
}

/// The expiry (notAfter) of the first certificate in a PEM text.
pub fn not_after(certificate_pem: &str) -> Result<DateTime<Utc>, AppError> {
    let bad = |e: &dyn std::fmt::Display| AppError::Data {
        file: data::CERT_FILE.into(),
        reason: e.to_string(),
    };
    let der = CertificateDer::from_pem_slice(certificate_pem.as_bytes()).map_err(|e| bad(&e))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| bad(&e))?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or_else(|| bad(&"notAfter out of range"))
}

/// Whether the terminal's certificate should be renewed at `now`: fewer than
/// [`RENEW_BEFORE_DAYS`] days left (or already expired). For the UI's automatic renewal.
pub fn renewal_due(dir: &Path, now: DateTime<Utc>) -> Result<bool, AppError> {
    let pem = data::read_text(&dir.join(data::CERT_FILE))?;
    Ok(due(not_after(&pem)?, now))
}

fn due(expiry: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expiry - now < Duration::days(RENEW_BEFORE_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("s.toml");
        let pem = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
        let text = format!(
            "server = \"https://svc.example:8443\"\naccount = \"W0000007\"\nserver_ca = \"\"\"\n{pem}\"\"\"\n"
        );
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
        let args = EnrollArgs::from_settings("app".into(), &file, "C".into());
        let args = args.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(args.account, "W0000007");
        assert_eq!(args.server, "https://svc.example:8443");
        assert_eq!(args.server_ca_pem.as_deref(), Some(pem));
        assert_eq!(args.name, None);
        // The terminal's name from the portal: kept as one short line.
        std::fs::write(
            &file,
            "server = \"https://a:1\"\naccount = \"W1\"\nname = \" 受付PC\\n2 \"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let args = EnrollArgs::from_settings("app".into(), &file, "C".into());
        assert_eq!(args.map(|a| a.name).ok(), Some(Some("受付PC2".to_owned())));
        assert_eq!(
            terminal_name(&"受".repeat(40)).map(|n| n.chars().count()),
            Some(30)
        );
        assert_eq!(terminal_name(" \n"), None);
        // Without a CA: the system's roots.
        std::fs::write(&file, "server = \"https://a:1\"\naccount = \"W1\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let args = EnrollArgs::from_settings("app".into(), &file, "C".into());
        assert_eq!(args.map(|a| a.server_ca_pem).ok(), Some(None));
        // A file that is not one names itself and says why.
        std::fs::write(&file, "server = 1\n").unwrap_or_else(|e| panic!("{e}"));
        let e = EnrollArgs::from_settings("app".into(), &file, "C".into()).err();
        let text = e.map(|e| e.message_ja()).unwrap_or_default();
        assert!(
            text.contains("s.toml") && text.contains("端末設定ファイル"),
            "{text}"
        );
    }

    #[test]
    fn renewal_is_due_within_30_days() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        assert!(!due(now + Duration::days(31), now));
        assert!(!due(now + Duration::days(30), now));
        assert!(due(now + Duration::days(29), now));
        assert!(due(now - Duration::days(1), now));
    }
}
