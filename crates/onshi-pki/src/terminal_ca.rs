//! The eligibility service's own PKI: the terminal CA, which signs a client certificate for each
//! enrolled clinic terminal from its CSR, and the server CA with the service's TLS certificate.
//!
//! Files in the server's data directory (written atomically; `init` refuses to overwrite any):
//!
//! | file                  | mode | content                                                      |
//! |-----------------------|------|--------------------------------------------------------------|
//! | `terminal-ca.pem`     | 0644 | the terminal CA: P-256, `O=onshi, CN=onshi terminal CA`, 10 y |
//! | `terminal-ca-key.pem` | 0600 | its key, PKCS#8 PEM                                           |
//! | `server-ca.pem`       | 0644 | the server CA the terminals trust: P-256, 10 y                |
//! | `server-ca-key.pem`   | 0600 | its key (used by `init` only: `open` does not read it)        |
//! | `server.pem`          | 0644 | the TLS server certificate: `localhost`, 127.0.0.1, ::1, 2 y  |
//! | `server-key.pem`      | 0600 | its key, PKCS#8 PEM                                           |
//!
//! Whatever a CSR asks for, a terminal certificate gets the same shape: subject
//! `O=onshi terminal, CN=<terminal id>`, clientAuth, digitalSignature, not a CA, one year, a
//! random 16-byte serial. Every certificate made here starts [`CLOCK_SKEW`] before `now`, so that
//! a peer whose clock is a little behind accepts it at once.
//!
//! No clock is read here: every operation takes `now`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

use crate::error::{PkiError, X509Problem};
use crate::files::{self, MODE_PRIVATE, MODE_PUBLIC};
use crate::serial::serial_text;
use crate::time::{add_years, since_epoch, whole_seconds};

/// The terminal CA's certificate, PEM.
pub const TERMINAL_CA_CERT_FILE: &str = "terminal-ca.pem";
/// The terminal CA's key, PKCS#8 PEM, mode 0600.
pub const TERMINAL_CA_KEY_FILE: &str = "terminal-ca-key.pem";
/// The server CA's certificate, PEM (what terminals trust for the service).
pub const SERVER_CA_CERT_FILE: &str = "server-ca.pem";
/// The server CA's key, PKCS#8 PEM, mode 0600.
pub const SERVER_CA_KEY_FILE: &str = "server-ca-key.pem";
/// The TLS server certificate, PEM.
pub const SERVER_CERT_FILE: &str = "server.pem";
/// The TLS server key, PKCS#8 PEM, mode 0600.
pub const SERVER_KEY_FILE: &str = "server-key.pem";

/// The organization of the service's CAs and server certificate.
pub const ORGANIZATION: &str = "onshi";
/// The terminal CA's common name.
pub const TERMINAL_CA_COMMON_NAME: &str = "onshi terminal CA";
/// The server CA's common name.
pub const SERVER_CA_COMMON_NAME: &str = "onshi server CA";
/// The server certificate's common name (its names are in subjectAltName).
pub const SERVER_COMMON_NAME: &str = "localhost";
/// The organization of every terminal certificate.
pub const TERMINAL_ORGANIZATION: &str = "onshi terminal";

/// How long the two CAs are valid.
pub const CA_VALIDITY_YEARS: u32 = 10;
/// How long the TLS server certificate is valid.
pub const SERVER_VALIDITY_YEARS: u32 = 2;
/// How long a terminal certificate is valid.
pub const TERMINAL_VALIDITY_YEARS: u32 = 1;
/// How far before `now` every certificate made here starts.
pub const CLOCK_SKEW: Duration = Duration::hours(1);
/// Length of the random serials, in bytes.
pub const SERIAL_BYTES: usize = 16;

const WHAT_TERMINAL_CA: &str = "端末CAの証明書 / the terminal CA certificate";
const WHAT_TERMINAL_CA_KEY: &str = "端末CAの秘密鍵 / the terminal CA key";
const WHAT_SERVER_CA: &str = "サーバCAの証明書 / the server CA certificate";
const WHAT_SERVER_CERT: &str = "サーバ証明書 / the server certificate";
const WHAT_SERVER_KEY: &str = "サーバの秘密鍵 / the server key";

/// The service's terminal CA and TLS server identity, loaded from its data directory.
pub struct ServerPki {
    dir: PathBuf,
    terminal_ca_der: Vec<u8>,
    terminal_ca_pem: String,
    terminal_ca_key: Zeroizing<KeyPair>,
    server_ca_der: Vec<u8>,
    server_ca_pem: String,
    server_der: Vec<u8>,
    server_pem: String,
    server_key_pem: Zeroizing<String>,
    /// Terminal certificates signed since this was loaded.
    signed: AtomicU64,
}

/// A terminal's CSR that has been checked — strict DER, a P-256 key, a valid signature by that
/// key (proof of possession) — and not yet signed: the service checks the CSR, then spends the
/// one-time code, and only then has the terminal CA sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedCsr {
    /// The key's SubjectPublicKeyInfo, DER.
    spki_der: Vec<u8>,
}

impl CheckedCsr {
    /// Checks a PEM CSR (`CERTIFICATE REQUEST`).
    pub fn from_pem(csr_pem: &str) -> Result<Self, PkiError> {
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(csr_pem.as_bytes()).map_err(|e| PkiError::Csr {
                what: X509Problem::NotPem(e.to_string()),
            })?;
        if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
            return Err(PkiError::Csr {
                what: X509Problem::PemLabel {
                    expected: "CERTIFICATE REQUEST",
                    found: pem.label,
                },
            });
        }
        Self::from_der(&pem.contents)
    }

    /// Checks a DER CSR: it must parse strictly, hold a P-256 key (RSA and other curves are
    /// refused) and carry a valid signature by that key. Its subject and extensions are ignored.
    ///
    /// The CSR is read with x509-parser and checked with the same signature check rcgen's
    /// `CertificateSigningRequestParams::from_der` uses; rcgen's parser itself is not used, since
    /// it takes the key's type from the signature algorithm and refuses CSRs that request
    /// extensions it does not know, which are ignored here anyway.
    pub fn from_der(csr_der: &[u8]) -> Result<Self, PkiError> {
        let refuse = |what: X509Problem| PkiError::Csr { what };
        let (rest, csr) = X509CertificationRequest::from_der(csr_der).map_err(|e| {
            refuse(X509Problem::NotDer {
                what: "certificate signing request",
                reason: e.to_string(),
            })
        })?;
        if !rest.is_empty() {
            return Err(refuse(X509Problem::TrailingBytes {
                count: rest.len(),
                after: "CSR",
            }));
        }
        let spki = &csr.certification_request_info.subject_pki;
        require_p256(spki).map_err(refuse)?;
        csr.verify_signature()
            .map_err(|_| refuse(X509Problem::CsrSignature))?;
        Ok(Self {
            spki_der: spki.raw.to_vec(),
        })
    }
}

/// A random serial chosen before its certificate is signed, so that the store can record it
/// (and spend the enrollment code) first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedSerial([u8; SERIAL_BYTES]);

impl PlannedSerial {
    /// A fresh random serial: 16 bytes, positive, never shortened by a leading zero.
    pub fn random() -> Result<Self, PkiError> {
        random_serial().map(Self)
    }

    /// Its canonical text ([`crate::serial_text`]), as the store keeps it.
    pub fn text(&self) -> String {
        serial_text(&self.0)
    }
}

/// A terminal certificate just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTerminal {
    /// The certificate, PEM (what the terminal receives).
    pub certificate_pem: String,
    /// The same certificate, DER.
    pub certificate_der: Vec<u8>,
    /// Its serial, canonical text ([`crate::serial_text`]).
    pub serial: String,
    /// Start of its validity ([`CLOCK_SKEW`] before `now`).
    pub not_before: DateTime<Utc>,
    /// End of its validity (one year after `now`).
    pub not_after: DateTime<Utc>,
}

impl ServerPki {
    /// Creates the terminal CA, the server CA and the TLS server certificate in `dir` (created
    /// if absent, mode 0700), refusing if any of their files is already there.
    pub fn init(dir: &Path, now: DateTime<Utc>) -> Result<Self, PkiError> {
        for name in [
            TERMINAL_CA_CERT_FILE,
            TERMINAL_CA_KEY_FILE,
            SERVER_CA_CERT_FILE,
            SERVER_CA_KEY_FILE,
            SERVER_CERT_FILE,
            SERVER_KEY_FILE,
        ] {
            let path = dir.join(name);
            if path.symlink_metadata().is_ok() {
                return Err(PkiError::AlreadyExists { found: path });
            }
        }
        files::create_dir(dir)?;
        let now = whole_seconds(now);

        let (terminal_ca, terminal_ca_key) = make_ca(TERMINAL_CA_COMMON_NAME, now)?;
        let (server_ca, server_ca_key) = make_ca(SERVER_CA_COMMON_NAME, now)?;

        let server_key = new_key("the server key / サーバの鍵")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(ORGANIZATION, SERVER_COMMON_NAME);
        params.subject_alt_names = vec![
            SanType::DnsName(
                Ia5String::try_from(SERVER_COMMON_NAME)
                    .map_err(crypto("the server's name / サーバ名"))?,
            ),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_serial_and_validity(&mut params, now, SERVER_VALIDITY_YEARS)?;
        let server_issuer = Issuer::from_ca_cert_der(server_ca.der(), &*server_ca_key)
            .map_err(crypto("the server CA / サーバCA"))?;
        let server = params
            .signed_by(&*server_key, &server_issuer)
            .map_err(crypto("the server certificate / サーバ証明書"))?;

        let server_key_pem = Zeroizing::new(server_key.serialize_pem());
        for (file, key) in [
            (TERMINAL_CA_KEY_FILE, &terminal_ca_key),
            (SERVER_CA_KEY_FILE, &server_ca_key),
        ] {
            let pem = Zeroizing::new(key.serialize_pem());
            files::write_atomic(&dir.join(file), pem.as_bytes(), MODE_PRIVATE)?;
        }
        files::write_atomic(
            &dir.join(SERVER_KEY_FILE),
            server_key_pem.as_bytes(),
            MODE_PRIVATE,
        )?;
        let (terminal_ca_pem, server_ca_pem, server_pem) =
            (terminal_ca.pem(), server_ca.pem(), server.pem());
        for (file, pem) in [
            (TERMINAL_CA_CERT_FILE, &terminal_ca_pem),
            (SERVER_CA_CERT_FILE, &server_ca_pem),
            (SERVER_CERT_FILE, &server_pem),
        ] {
            files::write_atomic(&dir.join(file), pem.as_bytes(), MODE_PUBLIC)?;
        }

        Ok(Self {
            dir: dir.to_path_buf(),
            terminal_ca_der: terminal_ca.der().to_vec(),
            terminal_ca_pem,
            terminal_ca_key,
            server_ca_der: server_ca.der().to_vec(),
            server_ca_pem,
            server_der: server.der().to_vec(),
            server_pem,
            server_key_pem,
            signed: AtomicU64::new(0),
        })
    }

    /// Opens the service's PKI in `dir`: every file but `server-ca-key.pem` must be there, and
    /// each key must belong to its certificate. The server certificate, its key and
    /// `server-ca.pem` may be the operator's own (any key type rcgen reads).
    pub fn open(dir: &Path) -> Result<Self, PkiError> {
        let (terminal_ca_pem, terminal_ca_der) =
            read_certificate(&dir.join(TERMINAL_CA_CERT_FILE), WHAT_TERMINAL_CA)?;
        let key_path = dir.join(TERMINAL_CA_KEY_FILE);
        let key_pem = Zeroizing::new(files::read_text(&key_path, WHAT_TERMINAL_CA_KEY)?);
        let terminal_ca_key = Zeroizing::new(
            KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &PKCS_ECDSA_P256_SHA256).map_err(
                |e| PkiError::Malformed {
                    path: key_path.clone(),
                    what: format!("not a P-256 PKCS#8 private key: {e}"),
                },
            )?,
        );
        check_key_matches(
            &terminal_ca_key,
            &terminal_ca_der,
            &key_path,
            &dir.join(TERMINAL_CA_CERT_FILE),
        )?;

        let (server_ca_pem, server_ca_der) =
            read_certificate(&dir.join(SERVER_CA_CERT_FILE), WHAT_SERVER_CA)?;
        let (server_pem, server_der) =
            read_certificate(&dir.join(SERVER_CERT_FILE), WHAT_SERVER_CERT)?;
        let key_path = dir.join(SERVER_KEY_FILE);
        let server_key_pem = Zeroizing::new(files::read_text(&key_path, WHAT_SERVER_KEY)?);
        let server_key = Zeroizing::new(KeyPair::from_pem(&server_key_pem).map_err(|e| {
            PkiError::Malformed {
                path: key_path.clone(),
                what: format!("not a PKCS#8 private key: {e}"),
            }
        })?);
        check_key_matches(
            &server_key,
            &server_der,
            &key_path,
            &dir.join(SERVER_CERT_FILE),
        )?;

        Ok(Self {
            dir: dir.to_path_buf(),
            terminal_ca_der,
            terminal_ca_pem,
            terminal_ca_key,
            server_ca_der,
            server_ca_pem,
            server_der,
            server_pem,
            server_key_pem,
            signed: AtomicU64::new(0),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks a PEM CSR and signs a terminal certificate for its key at once (renewal, where the
    /// caller is already an active terminal). See [`CheckedCsr::from_pem`] and
    /// [`ServerPki::sign_terminal_certificate`].
    pub fn issue_terminal_certificate(
        &self,
        csr_pem: &str,
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<IssuedTerminal, PkiError> {
        check_terminal_id(terminal_id)?;
        let csr = CheckedCsr::from_pem(csr_pem)?;
        self.sign_terminal_certificate(&csr, terminal_id, &PlannedSerial::random()?, now)
    }

    /// [`ServerPki::issue_terminal_certificate`] for a DER CSR.
    pub fn issue_terminal_certificate_der(
        &self,
        csr_der: &[u8],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<IssuedTerminal, PkiError> {
        check_terminal_id(terminal_id)?;
        let csr = CheckedCsr::from_der(csr_der)?;
        self.sign_terminal_certificate(&csr, terminal_id, &PlannedSerial::random()?, now)
    }

    /// Signs a terminal certificate for the key of a checked CSR, with a serial chosen before:
    /// `O=onshi terminal, CN=<terminal_id>`, clientAuth, digitalSignature, not a CA, one year
    /// from `now`.
    pub fn sign_terminal_certificate(
        &self,
        csr: &CheckedCsr,
        terminal_id: &str,
        serial: &PlannedSerial,
        now: DateTime<Utc>,
    ) -> Result<IssuedTerminal, PkiError> {
        check_terminal_id(terminal_id)?;
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(&csr.spki_der)
            .map_err(crypto("the terminal's key / 端末の鍵"))?;
        let now = whole_seconds(now);
        let mut params = CertificateParams::default();
        params.distinguished_name = name(TERMINAL_ORGANIZATION, terminal_id);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let (serial, not_before, not_after) =
            set_validity(&mut params, &serial.0, now, TERMINAL_VALIDITY_YEARS)?;
        let cert = params
            .signed_by(&public_key, &self.terminal_issuer()?)
            .map_err(crypto("the terminal certificate / 端末証明書"))?;
        self.signed.fetch_add(1, Ordering::Relaxed);
        Ok(IssuedTerminal {
            certificate_pem: cert.pem(),
            certificate_der: cert.der().to_vec(),
            serial,
            not_before,
            not_after,
        })
    }

    /// How many terminal certificates this instance's terminal CA has signed since it was
    /// loaded (for the metrics).
    pub fn terminal_certificates_signed(&self) -> u64 {
        self.signed.load(Ordering::Relaxed)
    }

    /// The terminal CA certificate, PEM (what the TLS server trusts for client certificates).
    pub fn terminal_ca_pem(&self) -> &str {
        &self.terminal_ca_pem
    }

    /// The terminal CA certificate, DER.
    pub fn terminal_ca_der(&self) -> &[u8] {
        &self.terminal_ca_der
    }

    /// The server certificate followed by the server CA certificate, PEM (what the TLS server
    /// presents).
    pub fn server_cert_chain_pem(&self) -> String {
        let mut chain = self.server_pem.clone();
        if !chain.ends_with('\n') {
            chain.push('\n');
        }
        chain.push_str(&self.server_ca_pem);
        chain
    }

    /// The server certificate and the server CA certificate, DER, in the order presented.
    pub fn server_cert_chain_der(&self) -> Vec<Vec<u8>> {
        vec![self.server_der.clone(), self.server_ca_der.clone()]
    }

    /// The TLS server's private key, PKCS#8 PEM, wiped when dropped.
    pub fn server_key_pem(&self) -> Zeroizing<String> {
        self.server_key_pem.clone()
    }

    /// The server CA certificate, PEM (what terminals trust for the service).
    pub fn server_ca_pem(&self) -> &str {
        &self.server_ca_pem
    }

    /// The server CA certificate, DER.
    pub fn server_ca_der(&self) -> &[u8] {
        &self.server_ca_der
    }

    fn terminal_issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        Issuer::from_ca_cert_der(
            &self.terminal_ca_der.as_slice().into(),
            &*self.terminal_ca_key,
        )
        .map_err(|e| PkiError::Malformed {
            path: self.dir.join(TERMINAL_CA_CERT_FILE),
            what: e.to_string(),
        })
    }
}

impl fmt::Debug for ServerPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerPki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The terminal id in a terminal certificate (DER): its subject's common name. `None` if the
/// bytes are not exactly one certificate or it has no text CN.
pub fn terminal_id_of(cert_der: &[u8]) -> Option<String> {
    let cert = parse_exact(cert_der)?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// The serial of a certificate (DER) in canonical text ([`crate::serial_text`]). `None` if the
/// bytes are not exactly one certificate.
pub fn serial_of(cert_der: &[u8]) -> Option<String> {
    parse_exact(cert_der).map(|cert| serial_text(cert.raw_serial()))
}

/// Whether `id` can be a terminal certificate's CN: 1–64 ASCII letters, digits, '-', '_', '.'.
pub fn is_valid_terminal_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_terminal_id(id: &str) -> Result<(), PkiError> {
    if is_valid_terminal_id(id) {
        Ok(())
    } else {
        Err(PkiError::TerminalId { id: id.to_owned() })
    }
}

fn parse_exact(der: &[u8]) -> Option<X509Certificate<'_>> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Some(cert),
        _ => None,
    }
}

/// A self-signed P-256 CA: `O=onshi, CN=<cn>`, path length 0, ten years.
fn make_ca(
    cn: &str,
    now: DateTime<Utc>,
) -> Result<(rcgen::Certificate, Zeroizing<KeyPair>), PkiError> {
    let key = new_key("a CA key / CAの鍵")?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(ORGANIZATION, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_serial_and_validity(&mut params, now, CA_VALIDITY_YEARS)?;
    let cert = params
        .self_signed(&*key)
        .map_err(crypto("a CA certificate / CAの証明書"))?;
    Ok((cert, key))
}

fn new_key(what: &'static str) -> Result<Zeroizing<KeyPair>, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map(Zeroizing::new)
        .map_err(crypto(what))
}

/// Gives `params` a random serial and a validity from `now - CLOCK_SKEW` to `now + years`;
/// returns the serial's text and the two times.
fn set_serial_and_validity(
    params: &mut CertificateParams,
    now: DateTime<Utc>,
    years: u32,
) -> Result<(String, DateTime<Utc>, DateTime<Utc>), PkiError> {
    set_validity(params, &random_serial()?, now, years)
}

/// Gives `params` the serial and a validity from `now - CLOCK_SKEW` to `now + years`.
fn set_validity(
    params: &mut CertificateParams,
    serial: &[u8; SERIAL_BYTES],
    now: DateTime<Utc>,
    years: u32,
) -> Result<(String, DateTime<Utc>, DateTime<Utc>), PkiError> {
    let not_before = now - CLOCK_SKEW;
    let not_after = add_years(now, years)?;
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.serial_number = Some(SerialNumber::from_slice(serial));
    params.not_before = epoch + since_epoch(not_before)?;
    params.not_after = epoch + since_epoch(not_after)?;
    Ok((serial_text(serial), not_before, not_after))
}

/// 16 random bytes, the first in `40..=7F`: positive, never shortened by a leading zero.
fn random_serial() -> Result<[u8; SERIAL_BYTES], PkiError> {
    let mut serial = [0u8; SERIAL_BYTES];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| PkiError::Crypto {
        what: "a serial number / シリアル番号",
        source: rcgen::Error::RingUnspecified,
    })?;
    serial[0] = (serial[0] & 0x3F) | 0x40;
    Ok(serial)
}

fn name(organization: &str, common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(organization.to_owned()),
    );
    dn.push(
        DnType::CommonName,
        DnValue::Utf8String(common_name.to_owned()),
    );
    dn
}

/// Refuses every key but an uncompressed P-256 point, saying what it is instead.
fn require_p256(spki: &SubjectPublicKeyInfo<'_>) -> Result<(), X509Problem> {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        return Err(X509Problem::TerminalRsaKey);
    }
    if *alg != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(X509Problem::TerminalKeyType(alg.to_string()));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    match curve {
        Some(curve) if curve == OID_EC_P256 => {}
        Some(curve) => return Err(X509Problem::TerminalCurve(curve.to_string())),
        None => return Err(X509Problem::TerminalNoCurve),
    }
    let point = &spki.subject_public_key;
    if point.unused_bits != 0 || point.data.len() != 65 || point.data[0] != 0x04 {
        return Err(X509Problem::TerminalPoint);
    }
    Ok(())
}

fn read_certificate(path: &Path, what: &'static str) -> Result<(String, Vec<u8>), PkiError> {
    let pem_text = files::read_text(path, what)?;
    let malformed = |what: String| PkiError::Malformed {
        path: path.to_path_buf(),
        what,
    };
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes())
        .map_err(|e| malformed(format!("not PEM: {e}")))?;
    if pem.label != "CERTIFICATE" {
        return Err(malformed(format!(
            "a CERTIFICATE block was expected, found {}",
            pem.label
        )));
    }
    if parse_exact(&pem.contents).is_none() {
        return Err(malformed("not an X.509 certificate".into()));
    }
    Ok((pem_text, pem.contents))
}

fn check_key_matches(
    key: &KeyPair,
    cert_der: &[u8],
    key_path: &Path,
    cert_path: &Path,
) -> Result<(), PkiError> {
    let matches = parse_exact(cert_der)
        .is_some_and(|cert| key.subject_public_key_info() == cert.public_key().raw);
    if matches {
        Ok(())
    } else {
        Err(PkiError::KeyMismatch {
            key: key_path.to_path_buf(),
            certificate: cert_path.to_path_buf(),
        })
    }
}

fn crypto(what: &'static str) -> impl Fn(rcgen::Error) -> PkiError {
    move |source| PkiError::Crypto { what, source }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn terminal_ids() {
        for good in ["W0000001", "a", "t-1_2.x", &"x".repeat(64)] {
            assert!(is_valid_terminal_id(good), "{good}");
        }
        for bad in ["", &"x".repeat(65), "端末", "a b", "a,b", "CN=x"] {
            assert!(!is_valid_terminal_id(bad), "{bad}");
        }
    }

    #[test]
    fn serials_are_positive_and_full_length() {
        for _ in 0..64 {
            let serial = random_serial().unwrap();
            assert!((0x40..=0x7F).contains(&serial[0]));
            assert_eq!(serial_text(&serial).len(), 2 * SERIAL_BYTES);
        }
        assert_ne!(random_serial().unwrap(), random_serial().unwrap());
    }

    #[test]
    fn parse_exact_refuses_other_bytes() {
        assert!(parse_exact(b"").is_none());
        assert!(parse_exact(b"not a certificate").is_none());
        assert!(terminal_id_of(b"\x30\x00").is_none());
        assert!(serial_of(b"").is_none());
    }
}
