//! The authority itself: its directory, its root certificate and key, card issuance, revocation
//! and CRLs.
//!
//! Layout of an authority directory (all written atomically: temporary file, then rename):
//!
//! | file          | mode | content                                                          |
//! |---------------|------|------------------------------------------------------------------|
//! | `ca.pem`      | 0644 | the root certificate (the JPKI CA the eligibility service trusts) |
//! | `ca-key.pem`  | 0600 | its RSA-2048 private key, PKCS#8 PEM                              |
//! | `issued.csv`  | 0600 | `Serial,PersonId,NotBefore,NotAfter,Issuer`, one line per card    |
//! | `revoked.csv` | 0600 | `Serial,RevokedAt`, one line per revocation                       |
//! | `state.json`  | 0600 | `serial_tag`, `next_serial`, `next_crl_number`                    |
//!
//! One [`Authority`] value may be shared between threads (its registers are updated under a
//! lock); two processes must not write to the same directory at the same time.
//!
//! No clock is read here: every operation takes `now`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};
use onshi_card::tlv::Attributes;
use onshi_card::Pin;
use onshi_card_emu::{CardFile, CardSpec};
use rcgen::string::PrintableString;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationList,
    CertificateRevocationListParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData, RevokedCertParams,
    SerialNumber, PKCS_RSA_SHA256,
};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use onshi_pki::error::PkiError;
use onshi_pki::files::{self, MODE_PRIVATE, MODE_PUBLIC};
use onshi_pki::records::{
    self, is_valid_person_id, IssuedRecord, RevokedRecord, ISSUED_HEADER, REVOKED_HEADER,
};
use onshi_pki::serial::{self, canonical_serial, serial_text};
use onshi_pki::time::{add_years, since_epoch, whole_seconds};

use crate::error::JlisError;
use crate::state::State;

/// The root certificate, PEM.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The root's private key, PKCS#8 PEM, mode 0600.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The issue register: `Serial,PersonId,NotBefore,NotAfter,Issuer`.
pub const ISSUED_FILE: &str = "issued.csv";
/// The revocation register: `Serial,RevokedAt`.
pub const REVOKED_FILE: &str = "revoked.csv";
/// The counters: next serial, next CRL number.
pub const STATE_FILE: &str = "state.json";

/// The root's subject: marked as a test authority so that nobody mistakes it for J-LIS.
pub const CA_COUNTRY: &str = "JP";
/// The root's organization.
pub const CA_ORGANIZATION: &str = "onshi TEST authority (not J-LIS)";
/// The root's common name.
pub const CA_COMMON_NAME: &str = "onshi TEST JPKI User Authentication CA";

/// How long the root is valid from `init`.
pub const CA_VALIDITY_YEARS: u32 = 20;
/// How long a card's certificate is valid by default (the real 利用者証明用電子証明書: five
/// years, or to the fifth birthday after issue).
pub const CARD_VALIDITY_YEARS: u32 = 5;

const WHAT_CA_CERT: &str = "認証局の証明書 / the CA certificate";
const WHAT_CA_KEY: &str = "認証局の秘密鍵 / the CA private key";
const WHAT_DIR: &str = "認証局のディレクトリ / the authority directory";
const WHAT_ISSUED: &str = "発行記録 / the issue record";
const WHAT_REVOKED: &str = "失効記録 / the revocation record";

/// A test JPKI authority for user-authentication certificates, living in one directory.
pub struct Authority {
    dir: PathBuf,
    ca_der: Vec<u8>,
    ca_pem: String,
    ca_key_id: Vec<u8>,
    ca_key: Zeroizing<KeyPair>,
    /// The root's subject as text: the `Issuer` of `issued.csv`.
    subject: String,
    /// Held while `state.json`, `issued.csv` or `revoked.csv` is read and rewritten.
    registers: Mutex<()>,
}

/// What `issue_card` needs: who the card is for, its PINs, what the card shows, where to write it.
pub struct IssueRequest {
    /// The person the card belongs to (1–32 ASCII letters, digits, '-', '_'); recorded in
    /// `issued.csv`, never put in the certificate.
    pub person_id: String,
    /// The 4-digit authentication PIN (利用者証明用パスワード).
    pub pin: Pin,
    /// What the 券面事項入力補助AP holds (name, address, birth date, sex).
    pub attributes: Attributes,
    /// The 券面事項入力補助AP's own PIN; the authentication PIN when `None` (as most people set it).
    pub attributes_pin: Option<Pin>,
    /// Whether `issued.csv` records the card's name, birth date and sex as who holds it (what
    /// J-LIS knows and the service's wrong-link guard compares with the insurer's record).
    /// `false` for a card whose attributes are placeholders: its link is imported unchecked.
    pub record_holder: bool,
    /// Start of the certificate's validity; `now` when `None`.
    pub not_before: Option<DateTime<Utc>>,
    /// End of the certificate's validity; five years after the start when `None`.
    pub not_after: Option<DateTime<Utc>>,
    /// Where to write the card file.
    pub out: PathBuf,
}

/// A card that was issued: its certificate's serial and validity, and where the card file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCard {
    /// The certificate's serial, canonical text (as in `issued.csv`).
    pub serial: String,
    /// Start of the certificate's validity (whole seconds).
    pub not_before: DateTime<Utc>,
    /// End of the certificate's validity (whole seconds).
    pub not_after: DateTime<Utc>,
    /// The card file.
    pub path: PathBuf,
    /// The card's 利用者証明用電子証明書, DER (the same bytes as on the card).
    pub certificate_der: Vec<u8>,
}

impl Authority {
    /// Creates a new authority in `dir` (created if absent; refused if it already holds an
    /// authority's file): an RSA-2048 root valid for twenty years from `now`, empty registers.
    pub fn init(dir: &Path, now: DateTime<Utc>) -> Result<Self, PkiError> {
        Self::init_named(dir, CA_COMMON_NAME, now)
    }

    /// [`Authority::init`] with another common name for the root (a second test authority
    /// whose certificates have another issuer).
    pub fn init_named(dir: &Path, common_name: &str, now: DateTime<Utc>) -> Result<Self, PkiError> {
        for name in [
            CA_CERT_FILE,
            CA_KEY_FILE,
            ISSUED_FILE,
            REVOKED_FILE,
            STATE_FILE,
        ] {
            let path = dir.join(name);
            if path.symlink_metadata().is_ok() {
                return Err(PkiError::AlreadyExists { found: path });
            }
        }
        files::create_dir(dir)?;

        let now = whole_seconds(now);
        let key = Zeroizing::new(
            KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(crypto("the CA key / 認証局の鍵"))?,
        );
        let mut params = CertificateParams::default();
        let key_id = params.key_identifier(&*key);
        let tag = serial::tag_from(first_four(&key_id));
        params.distinguished_name = ca_name(common_name)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(SerialNumber::from_slice(&serial::compose(tag, 0)));
        params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(now)?;
        params.not_after =
            rcgen::date_time_ymd(1970, 1, 1) + since_epoch(add_years(now, CA_VALIDITY_YEARS)?)?;
        let cert = params
            .self_signed(&*key)
            .map_err(crypto("the CA certificate / 認証局の証明書"))?;

        let key_pem = Zeroizing::new(key.serialize_pem());
        files::write_atomic(&dir.join(CA_KEY_FILE), key_pem.as_bytes(), MODE_PRIVATE)?;
        let ca_pem = cert.pem();
        files::write_atomic(&dir.join(CA_CERT_FILE), ca_pem.as_bytes(), MODE_PUBLIC)?;
        files::write_atomic(
            &dir.join(ISSUED_FILE),
            &records::csv_line(&ISSUED_HEADER)?,
            MODE_PRIVATE,
        )?;
        files::write_atomic(
            &dir.join(REVOKED_FILE),
            &records::csv_line(&REVOKED_HEADER)?,
            MODE_PRIVATE,
        )?;
        State::new(tag).save(&dir.join(STATE_FILE))?;

        let ca_der = cert.der().to_vec();
        let subject = subject_text(&ca_der).ok_or_else(|| PkiError::Malformed {
            path: dir.join(CA_CERT_FILE),
            what: "not an X.509 certificate".into(),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            ca_der,
            ca_pem,
            ca_key_id: key_id,
            ca_key: key,
            subject,
            registers: Mutex::new(()),
        })
    }

    /// Opens the authority in `dir`, checking that every file is there, that the key belongs to
    /// the certificate and that `state.json` is sound.
    pub fn open(dir: &Path) -> Result<Self, PkiError> {
        if !dir.is_dir() {
            return Err(PkiError::Missing {
                path: dir.to_path_buf(),
                what: WHAT_DIR,
            });
        }
        let cert_path = dir.join(CA_CERT_FILE);
        let ca_pem = files::read_text(&cert_path, WHAT_CA_CERT)?;
        let malformed_cert = |what: String| PkiError::Malformed {
            path: cert_path.clone(),
            what,
        };
        let (_, pem) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes())
            .map_err(|e| malformed_cert(format!("not PEM: {e}")))?;
        if pem.label != "CERTIFICATE" {
            return Err(malformed_cert(format!(
                "a CERTIFICATE block was expected, found {}",
                pem.label
            )));
        }
        let ca_der = pem.contents;
        let (_, cert) = X509Certificate::from_der(&ca_der)
            .map_err(|e| malformed_cert(format!("not an X.509 certificate: {e}")))?;
        let ca_key_id = subject_key_id(&cert)
            .ok_or_else(|| malformed_cert("no subject key identifier".into()))?;
        let subject = cert.subject().to_string();

        let key_path = dir.join(CA_KEY_FILE);
        let key_pem = Zeroizing::new(files::read_text(&key_path, WHAT_CA_KEY)?);
        let ca_key = Zeroizing::new(
            KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &PKCS_RSA_SHA256).map_err(|e| {
                PkiError::Malformed {
                    path: key_path.clone(),
                    what: format!("not an RSA PKCS#8 private key: {e}"),
                }
            })?,
        );
        if ca_key.subject_public_key_info() != cert.public_key().raw {
            return Err(PkiError::KeyMismatch {
                key: key_path,
                certificate: cert_path,
            });
        }

        State::load(&dir.join(STATE_FILE))?;
        for (name, what) in [(ISSUED_FILE, WHAT_ISSUED), (REVOKED_FILE, WHAT_REVOKED)] {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(PkiError::Missing { path, what });
            }
        }

        Ok(Self {
            dir: dir.to_path_buf(),
            ca_der,
            ca_pem,
            ca_key_id,
            ca_key,
            subject,
            registers: Mutex::new(()),
        })
    }

    /// The root's subject as text (`C=JP, O=…, CN=…`): the `Issuer` column of `issued.csv`, and
    /// the issuer the eligibility service reads from a card of this authority.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The authority's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root certificate, DER (what the card holds in EF `000B`).
    pub fn ca_certificate_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The root certificate, PEM (the content of `ca.pem`).
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Issues a software card: a new RSA-2048 key, a 利用者証明用電子証明書 with no personal data
    /// (subject `C=JP, CN=<serial>`), the card file written to `req.out`, and a line in
    /// `issued.csv` linking the serial to `req.person_id`.
    pub fn issue_card(
        &self,
        req: &IssueRequest,
        now: DateTime<Utc>,
    ) -> Result<IssuedCard, JlisError> {
        if !is_valid_person_id(&req.person_id) {
            return Err(PkiError::PersonId {
                id: req.person_id.clone(),
            }
            .into());
        }
        let not_before = whole_seconds(req.not_before.unwrap_or(now));
        let not_after = match req.not_after {
            Some(t) => whole_seconds(t),
            None => add_years(not_before, CARD_VALIDITY_YEARS)?,
        };
        if not_before >= not_after {
            return Err(PkiError::Validity {
                not_before,
                not_after,
            }
            .into());
        }
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let (x509_not_before, x509_not_after) = (
            epoch + since_epoch(not_before)?,
            epoch + since_epoch(not_after)?,
        );

        // Key generation is the slow part; it runs outside the register lock.
        let key = Zeroizing::new(
            KeyPair::generate_for(&PKCS_RSA_SHA256)
                .map_err(crypto("the card's key / カードの鍵"))?,
        );
        let serial_bytes = {
            let _registers = self.lock();
            let path = self.dir.join(STATE_FILE);
            let mut state = State::load(&path)?;
            let serial = state.take_serial(&path)?;
            state.save(&path)?;
            serial
        };
        let serial = serial_text(&serial_bytes);

        let mut params = CertificateParams::default();
        params.distinguished_name = card_name(&serial)?;
        params.serial_number = Some(SerialNumber::from_slice(&serial_bytes));
        params.not_before = x509_not_before;
        params.not_after = x509_not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&*key, &self.issuer()?)
            .map_err(crypto("the card's certificate / カードの証明書"))?;
        let certificate_der = cert.der().to_vec();

        let card_err = |source| JlisError::Card {
            path: req.out.clone(),
            source,
        };
        let card = CardFile::create(CardSpec {
            auth_certificate_der: certificate_der.clone(),
            auth_ca_certificate_der: self.ca_der.clone(),
            auth_private_key_pkcs8_der: Zeroizing::new(key.serialize_der()),
            auth_pin: &req.pin,
            attributes: req.attributes.clone(),
            attributes_pin: req.attributes_pin.as_ref().unwrap_or(&req.pin),
        })
        .map_err(card_err)?;
        card.save(&req.out).map_err(card_err)?;

        {
            let _registers = self.lock();
            records::append_issued(
                &self.dir.join(ISSUED_FILE),
                &IssuedRecord {
                    serial: serial.clone(),
                    person_id: req.person_id.clone(),
                    not_before,
                    not_after,
                    issuer: self.subject.clone(),
                    // Who holds the card: what its 券面事項 say (the service compares it with
                    // the insurer's record before answering).
                    holder: req.record_holder.then(|| records::Holder {
                        name: req.attributes.name.clone(),
                        name_kana: String::new(),
                        birthdate: req.attributes.birth.clone(),
                        // The card face's 9 (適用不能) is the result format's 3 (未設定).
                        sex: match req.attributes.sex.as_str() {
                            "9" => "3".to_owned(),
                            other => other.to_owned(),
                        },
                    }),
                },
                &self.subject,
            )?;
        }
        Ok(IssuedCard {
            serial,
            not_before,
            not_after,
            path: req.out.clone(),
            certificate_der,
        })
    }

    /// Revokes the certificate with this serial (any spelling [`canonical_serial`] accepts) as of
    /// `now`. A serial this authority never issued, or one already revoked, is an error.
    pub fn revoke(&self, serial: &str, now: DateTime<Utc>) -> Result<(), PkiError> {
        let serial = canonical_serial(serial)?;
        let revoked_at = whole_seconds(now);
        // Refuse now a time the CRL could not carry later.
        since_epoch(revoked_at)?;
        let _registers = self.lock();
        let issued_path = self.dir.join(ISSUED_FILE);
        if !records::read_issued(&issued_path, &self.subject)?
            .iter()
            .any(|r| r.serial == serial)
        {
            return Err(PkiError::UnknownSerial {
                serial,
                issued: issued_path,
            });
        }
        let revoked_path = self.dir.join(REVOKED_FILE);
        if let Some(earlier) = records::read_revoked(&revoked_path)?
            .into_iter()
            .find(|r| r.serial == serial)
        {
            return Err(PkiError::AlreadyRevoked {
                serial,
                revoked_at: earlier.revoked_at,
            });
        }
        records::append_revoked(&revoked_path, &RevokedRecord { serial, revoked_at })
    }

    /// A DER CRL signed by the root, listing every revoked certificate, with thisUpdate `now`,
    /// nextUpdate `now + next_update`, and the next CRL number (each call takes a new one).
    pub fn crl(&self, now: DateTime<Utc>, next_update: Duration) -> Result<Vec<u8>, PkiError> {
        Ok(self.sign_crl(now, next_update)?.der().to_vec())
    }

    /// The same as [`Authority::crl`], PEM-encoded (`-----BEGIN X509 CRL-----`).
    pub fn crl_pem(&self, now: DateTime<Utc>, next_update: Duration) -> Result<String, PkiError> {
        self.sign_crl(now, next_update)?
            .pem()
            .map_err(crypto("the CRL / 失効リスト"))
    }

    /// Every line of `issued.csv`, in the order issued.
    pub fn issued(&self) -> Result<Vec<IssuedRecord>, PkiError> {
        let _registers = self.lock();
        records::read_issued(&self.dir.join(ISSUED_FILE), &self.subject)
    }

    /// Every line of `revoked.csv`, in the order revoked.
    pub fn revoked(&self) -> Result<Vec<RevokedRecord>, PkiError> {
        let _registers = self.lock();
        records::read_revoked(&self.dir.join(REVOKED_FILE))
    }

    fn sign_crl(
        &self,
        now: DateTime<Utc>,
        next_update: Duration,
    ) -> Result<CertificateRevocationList, PkiError> {
        let this_update = whole_seconds(now);
        let next = this_update
            .checked_add_signed(next_update)
            .map(whole_seconds)
            .ok_or(PkiError::TimeOutOfRange { time: this_update })?;
        if next <= this_update {
            return Err(PkiError::Validity {
                not_before: this_update,
                not_after: next,
            });
        }
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let (x509_this, x509_next) = (
            epoch + since_epoch(this_update)?,
            epoch + since_epoch(next)?,
        );

        // The entries are built before a CRL number is taken, so that a refused CRL uses none.
        let (revoked_certs, number) = {
            let _registers = self.lock();
            let revoked_certs = records::read_revoked(&self.dir.join(REVOKED_FILE))?
                .iter()
                .map(|r| {
                    Ok(RevokedCertParams {
                        serial_number: SerialNumber::from_slice(&serial::serial_bytes(&r.serial)?),
                        revocation_time: epoch + since_epoch(r.revoked_at)?,
                        reason_code: None,
                        invalidity_date: None,
                    })
                })
                .collect::<Result<Vec<_>, PkiError>>()?;
            let path = self.dir.join(STATE_FILE);
            let mut state = State::load(&path)?;
            let number = state.take_crl_number(&path)?;
            state.save(&path)?;
            (revoked_certs, number)
        };
        let params = CertificateRevocationListParams {
            this_update: x509_this,
            next_update: x509_next,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::PreSpecified(self.ca_key_id.clone()),
        };
        params
            .signed_by(&self.issuer()?)
            .map_err(crypto("the CRL / 失効リスト"))
    }

    /// The root as rcgen's issuer: its name, key usages and key identifier read from `ca.pem`.
    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        Issuer::from_ca_cert_der(&self.ca_der.as_slice().into(), &*self.ca_key).map_err(|e| {
            PkiError::Malformed {
                path: self.dir.join(CA_CERT_FILE),
                what: e.to_string(),
            }
        })
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The guarded value is `()`: a panic while it was held leaves nothing inconsistent in
        // memory (the files are replaced atomically), so a poisoned lock is simply taken.
        self.registers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for IssueRequest {
    /// Shows neither the PINs nor the card's attributes (personal data).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssueRequest")
            .field("person_id", &self.person_id)
            .field("record_holder", &self.record_holder)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

fn crypto(what: &'static str) -> impl Fn(rcgen::Error) -> PkiError {
    move |source| PkiError::Crypto { what, source }
}

fn printable(text: &str) -> Result<DnValue, PkiError> {
    PrintableString::try_from(text)
        .map(DnValue::PrintableString)
        .map_err(crypto("a certificate name / 証明書の名前"))
}

fn ca_name(common_name: &str) -> Result<DistinguishedName, PkiError> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CountryName, printable(CA_COUNTRY)?);
    name.push(DnType::OrganizationName, printable(CA_ORGANIZATION)?);
    name.push(DnType::CommonName, printable(common_name)?);
    Ok(name)
}

/// A certificate's subject as text, as [`onshi_pki::TrustedJpki`] prints the name of a CA.
fn subject_text(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.subject().to_string())
}

/// A card certificate's subject: the country and the serial, nothing about the person.
fn card_name(serial: &str) -> Result<DistinguishedName, PkiError> {
    let mut name = DistinguishedName::new();
    name.push(DnType::CountryName, printable(CA_COUNTRY)?);
    name.push(DnType::CommonName, printable(serial)?);
    Ok(name)
}

fn first_four(bytes: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
}
