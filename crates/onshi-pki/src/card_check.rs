//! What the eligibility service checks about a patient's card certificate (利用者証明用電子証明書):
//! it chains to a trusted JPKI CA, is not on that CA's CRL, carries an RSA key of 2048 bits or
//! more, and is within its validity or the grace period after it; then, in PIN mode, that the
//! card's signature verifies with its key.
//!
//! Pure: no network, no store, no clock. The trusted CAs and the CRLs come in as bytes, `now` as
//! a parameter. Signatures on certificates and CRLs are checked with aws-lc-rs against an
//! allow-list (RSA PKCS#1 v1.5 with SHA-256/384/512, 2048–8192 bits; ECDSA P-256/P-384 with
//! SHA-256/384); SHA-1 is refused. Names are compared as DER bytes (as webpki does).
//!
//! ```text
//! TrustedJpki::new(&[ca.pem])  ──with_crls(&[crl.der])──▶  check_card(cert, now, &policy)
//!                                                             │ Ok(CheckedCard { serial, warning, public_key, .. })
//!                                                             ▼
//!                                      verify_message(msg, sig)  or  verify_digest(&sha256(msg), sig)
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use hashlink::LruCache;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::Pkcs1v15Sign;
use serde::{Deserialize, Serialize};
use x509_parser::asn1_rs::{BitString, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{ParsedExtension, X509Extension};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_X509_EXT_DELTA_CRL_INDICATOR,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::time::ASN1Time;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

pub use crate::error::CardCheckError;
use crate::error::{PkiError, X509Problem};
use crate::serial::serial_text;
use crate::time::jst;

/// The smallest RSA modulus accepted on a card certificate, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted (aws-lc-rs's limit), in bits.
pub const MAX_RSA_BITS: usize = 8192;
/// A certificate whose notAfter is at most this many months after `now` gets
/// [`CardWarning::ExpiresSoon`], so that the staff can tell the patient to renew it.
pub const EXPIRES_SOON_MONTHS: u32 = 3;

/// The JPKI CAs the eligibility service trusts for card certificates, with the revoked serials
/// of the CRLs loaded for each. Cheap to clone (to swap in a copy with new CRLs).
///
/// Revocation fails closed when asked to: with [`TrustedJpki::require_current_crls`], a card of a
/// CA that has no CRL, or whose CRL is past its nextUpdate, is refused with
/// [`CardCheckError::RevocationUnknown`].
#[derive(Clone)]
pub struct TrustedJpki {
    cas: Vec<TrustedCa>,
    require_current_crls: bool,
    /// What each recently seen certificate's parse and chain check found, by the certificate's
    /// SHA-256; shared by the copies that only load other CRLs (the CAs stay the same).
    chained: Arc<Mutex<LruCache<[u8; 32], Arc<Chained>>>>,
}

/// Certificates whose parse and chain check are kept ([`TrustedJpki::check_card`]): a few
/// megabytes (a parsed key and a serial each).
pub const CHECKED_CACHE_CERTIFICATES: usize = 16_384;

/// What a card certificate's bytes alone say, checked once (strict parse, issuer and its
/// signature, end-entity use, the key): everything of [`TrustedJpki::check_card`] but
/// revocation and validity at `now`, which depend on the CRLs and the clock.
struct Chained {
    /// Index of the issuing CA in [`TrustedJpki::cas`].
    ca: usize,
    serial: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    public_key: CardPublicKey,
}

/// What is wrong with the revocation information of one trusted CA (see
/// [`TrustedJpki::crl_problems`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrlProblem {
    /// No CRL is loaded for this CA: revocation cannot be checked.
    Missing {
        /// The CA's subject, as text.
        issuer: String,
    },
    /// The CA's CRL is past its nextUpdate: a newer one should have been loaded.
    Stale {
        /// The CRL in use.
        crl: CrlInfo,
    },
}

/// A CRL that parsed and verified with a trusted CA's key ([`TrustedJpki::verify_crl`]): what
/// the service stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCrl {
    /// Its issuer, number and dates.
    pub info: CrlInfo,
    /// Its CRL number, big-endian without leading zeros (`None` if it has none).
    pub number: Option<Vec<u8>>,
    /// The serials it lists, canonical text.
    pub revoked: Vec<String>,
    /// The CRL, DER.
    pub der: Vec<u8>,
}

/// How long after its expiry a card certificate is still accepted (with a warning).
///
/// The national rule since 2025: until the END of the `months_after_expiry`-th month after the
/// month of the certificate's notAfter, reading both in Japan Standard Time. notAfter
/// 2026-01-15 → accepted through 2026-04-30 23:59:59 JST (= 2026-04-30T14:59:59Z). A notAfter of
/// 2026-01-31T20:00Z is 2026-02-01 05:00 JST, so February is its month and the grace runs to the
/// end of May. `months_after_expiry == 0` means no grace at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GracePolicy {
    /// Whole calendar months after the month of expiry (JST); 0: none.
    pub months_after_expiry: u32,
}

/// A warning that goes with an accepted card certificate: the staff should tell the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardWarning {
    /// The certificate expired, but is inside the grace period.
    InGracePeriod {
        /// Its notAfter.
        expired_on: DateTime<Utc>,
    },
    /// The certificate expires within [`EXPIRES_SOON_MONTHS`] months.
    ExpiresSoon {
        /// Its notAfter.
        on: DateTime<Utc>,
    },
}

/// A card certificate that passed [`TrustedJpki::check_card`]: who issued it, its serial (the key
/// of `issued.csv`), its validity, a warning if any, and its key, parsed once for verification.
#[derive(Clone, Debug)]
pub struct CheckedCard {
    /// The certificate's serial, canonical text ([`crate::serial_text`], as in `issued.csv`).
    pub serial: String,
    /// The issuing CA's subject, as text (`C=JP, O=…, CN=…`).
    pub issuer: String,
    /// Start of its validity.
    pub not_before: DateTime<Utc>,
    /// End of its validity.
    pub not_after: DateTime<Utc>,
    /// Expired but in grace, or expiring soon.
    pub warning: Option<CardWarning>,
    /// The card's RSA public key.
    pub public_key: CardPublicKey,
}

/// A card's RSA public key (2048–8192 bits), parsed once for each verification path: for
/// aws-lc-rs when checked, for the `rsa` crate on the first [`CardPublicKey::verify_digest`]
/// (that parse costs about as much as the other, and most callers never need it).
#[derive(Clone)]
pub struct CardPublicKey {
    spki_der: Vec<u8>,
    bits: usize,
    fast: ParsedPublicKey,
    slow: OnceLock<Option<rsa::PublicKey>>,
}

/// What [`TrustedJpki::crls`] and [`TrustedJpki::stale_crls`] tell about a loaded CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlInfo {
    /// The issuing CA's subject, as text.
    pub issuer: String,
    /// Its CRL number, in decimal, if it has one.
    pub number: Option<String>,
    /// Its thisUpdate.
    pub this_update: DateTime<Utc>,
    /// Its nextUpdate, if it has one.
    pub next_update: Option<DateTime<Utc>>,
    /// How many certificates it lists.
    pub revoked: usize,
}

/// One trusted CA: its name as DER (what issuers are compared with), its key parsed for every
/// signature algorithm it may have used, and the CRL loaded for it.
#[derive(Clone)]
struct TrustedCa {
    der: Vec<u8>,
    subject_raw: Vec<u8>,
    subject: String,
    verifiers: Vec<(SigAlg, ParsedPublicKey)>,
    may_sign_crls: bool,
    crl: Option<LoadedCrl>,
    /// Serials that earlier CRLs of this CA listed (kept by the store for good): still revoked
    /// even when the CRL in use no longer lists them.
    kept_revoked: HashSet<String>,
}

#[derive(Clone)]
struct LoadedCrl {
    info: CrlInfo,
    /// (CRL number, thisUpdate): a CRL replaces another if greater.
    order: (CrlNumber, DateTime<Utc>),
    /// Its CRL number, big-endian without leading zeros, if it has one.
    number: Option<Vec<u8>>,
    revoked: HashSet<String>,
}

/// A CRL number as an unsigned integer of any length: ordered by value, not by bytes (`0x02`
/// is below `0x0100`). No number orders below every number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CrlNumber {
    /// Significant bytes (big-endian, no leading zeros): the longer is the greater…
    len: usize,
    /// …and among equal lengths, the bytes compare as the numbers.
    bytes: Vec<u8>,
}

impl CrlNumber {
    fn from_be(be: &[u8]) -> Self {
        let bytes = minimal(be).to_vec();
        Self {
            len: bytes.len(),
            bytes,
        }
    }
}

/// The signature algorithms accepted on certificates and CRLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SigAlg {
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
    EcdsaSha384,
}

const SIG_ALGS: [SigAlg; 5] = [
    SigAlg::RsaSha256,
    SigAlg::RsaSha384,
    SigAlg::RsaSha512,
    SigAlg::EcdsaSha256,
    SigAlg::EcdsaSha384,
];

/// The key types a CA may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
}

impl TrustedJpki {
    /// Trusts these CA certificates: each entry DER, or PEM holding one or more `CERTIFICATE`
    /// blocks. Each must parse strictly and be a CA (basicConstraints cA, keyCertSign if it has a
    /// keyUsage) with an RSA (2048–8192 bits) or P-256/P-384 key. Duplicates count once.
    pub fn new(cas: &[Vec<u8>]) -> Result<Self, PkiError> {
        let mut trusted: Vec<TrustedCa> = Vec::new();
        for (i, input) in cas.iter().enumerate() {
            let err = |what: X509Problem| PkiError::TrustAnchor { index: i + 1, what };
            for der in der_blocks(input, "CERTIFICATE").map_err(err)? {
                let ca = TrustedCa::from_der(der).map_err(err)?;
                if !trusted.iter().any(|t| t.der == ca.der) {
                    trusted.push(ca);
                }
            }
        }
        if trusted.is_empty() {
            return Err(PkiError::TrustAnchor {
                index: 0,
                what: X509Problem::NoCertificate,
            });
        }
        Ok(Self {
            cas: trusted,
            require_current_crls: false,
            chained: Arc::new(Mutex::new(LruCache::new(CHECKED_CACHE_CERTIFICATES))),
        })
    }

    /// From now on, refuse the cards of a CA without a CRL or with one past its nextUpdate
    /// ([`CardCheckError::RevocationUnknown`]) instead of accepting them unchecked.
    pub fn require_current_crls(&mut self, require: bool) {
        self.require_current_crls = require;
    }

    /// The subjects of the trusted CAs, as text (the issuer of [`CheckedCard`] and of
    /// `issued.csv`), each once, in the order given.
    pub fn issuers(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for ca in &self.cas {
            if !names.contains(&ca.subject) {
                names.push(ca.subject.clone());
            }
        }
        names
    }

    /// Parses and verifies one CRL (DER, or PEM with one `X509 CRL` block) as
    /// [`TrustedJpki::with_crls`] does, without loading it: what an operator's load checks
    /// before the CRL is stored.
    pub fn verify_crl(&self, input: &[u8]) -> Result<VerifiedCrl, PkiError> {
        let err = |what: X509Problem| PkiError::Crl { index: 1, what };
        let mut blocks = der_blocks(input, "X509 CRL").map_err(err)?;
        if blocks.len() != 1 {
            return Err(err(X509Problem::SeveralCrls(blocks.len())));
        }
        let der = blocks.remove(0);
        let (_, crl) = self.parse_crl(&der).map_err(err)?;
        let mut revoked: Vec<String> = crl.revoked.iter().cloned().collect();
        revoked.sort();
        Ok(VerifiedCrl {
            info: crl.info,
            number: crl.number,
            revoked,
            der,
        })
    }

    /// Adds serials that earlier CRLs of the CA(s) with this subject (text) listed: they stay
    /// revoked whatever the CRL in use says. False if no trusted CA has that subject.
    pub fn keep_revoked(&mut self, issuer: &str, serials: &[String]) -> bool {
        let mut found = false;
        for ca in self.cas.iter_mut().filter(|ca| ca.subject == issuer) {
            found = true;
            ca.kept_revoked.extend(serials.iter().cloned());
        }
        found
    }

    /// Every trusted CA whose revocation cannot be checked at `now`: no CRL, or one past its
    /// nextUpdate (for `/readyz` and the logs).
    pub fn crl_problems(&self, now: DateTime<Utc>) -> Vec<CrlProblem> {
        let mut problems = Vec::new();
        for ca in &self.cas {
            match &ca.crl {
                None => problems.push(CrlProblem::Missing {
                    issuer: ca.subject.clone(),
                }),
                Some(crl) if crl.info.next_update.is_some_and(|next| next < now) => {
                    problems.push(CrlProblem::Stale {
                        crl: crl.info.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        problems
    }

    /// Loads CRLs (each DER, or PEM with `X509 CRL` blocks). Each must parse strictly, be a
    /// complete CRL (no delta, no issuingDistributionPoint, no unknown critical extension) and
    /// verify with the key of a trusted CA of its issuer's name; otherwise none is loaded. For
    /// each CA the newest CRL (by CRL number compared as an integer, then thisUpdate) replaces
    /// an older one; an older one than loaded is ignored. A CRL past its nextUpdate is still
    /// used for the serials it lists, but see [`TrustedJpki::crl_problems`] and
    /// [`TrustedJpki::require_current_crls`].
    pub fn with_crls(&mut self, crls: &[Vec<u8>]) -> Result<(), PkiError> {
        let mut staged = Vec::new();
        for (i, input) in crls.iter().enumerate() {
            let err = |what: X509Problem| PkiError::Crl { index: i + 1, what };
            for der in der_blocks(input, "X509 CRL").map_err(err)? {
                staged.push(self.parse_crl(&der).map_err(err)?);
            }
        }
        for (ca, crl) in staged {
            let slot = &mut self.cas[ca].crl;
            if slot.as_ref().is_none_or(|old| crl.order >= old.order) {
                *slot = Some(crl);
            }
        }
        Ok(())
    }

    /// The trusted CA certificates, DER, in the order given.
    pub fn ca_certificates(&self) -> impl Iterator<Item = &[u8]> {
        self.cas.iter().map(|ca| ca.der.as_slice())
    }

    /// The CRL in use for each trusted CA that has one.
    pub fn crls(&self) -> Vec<CrlInfo> {
        self.cas
            .iter()
            .filter_map(|ca| ca.crl.as_ref().map(|crl| crl.info.clone()))
            .collect()
    }

    /// The CRLs in use whose nextUpdate is before `now`: still applied, but a newer one should be
    /// fetched (for `/readyz` and the logs).
    pub fn stale_crls(&self, now: DateTime<Utc>) -> Vec<CrlInfo> {
        self.crls()
            .into_iter()
            .filter(|info| info.next_update.is_some_and(|next| next < now))
            .collect()
    }

    /// Checks a patient's card certificate (DER) as the eligibility service does: strict parse
    /// (trailing bytes refused), issued by a trusted CA (name and signature), an end-entity
    /// certificate for signing, an RSA key of 2048 bits or more, not revoked by the loaded CRL,
    /// and within its validity at `now` or inside `policy`'s grace period (with a warning).
    pub fn check_card(
        &self,
        cert_der: &[u8],
        now: DateTime<Utc>,
        policy: &GracePolicy,
    ) -> Result<CheckedCard, CardCheckError> {
        let chained = self.chained(cert_der)?;
        let ca = &self.cas[chained.ca];
        let serial = &chained.serial;
        if ca.kept_revoked.contains(serial)
            || ca
                .crl
                .as_ref()
                .is_some_and(|crl| crl.revoked.contains(serial))
        {
            return Err(CardCheckError::Revoked {
                serial: serial.clone(),
            });
        }
        if self.require_current_crls {
            match &ca.crl {
                None => return Err(CardCheckError::RevocationUnknown { next_update: None }),
                Some(crl) => {
                    if let Some(next) = crl.info.next_update.filter(|next| *next < now) {
                        return Err(CardCheckError::RevocationUnknown {
                            next_update: Some(next),
                        });
                    }
                }
            }
        }
        let warning = judge_validity(chained.not_before, chained.not_after, now, policy)?;
        Ok(CheckedCard {
            serial: serial.clone(),
            issuer: ca.subject.clone(),
            not_before: chained.not_before,
            not_after: chained.not_after,
            warning,
            public_key: chained.public_key.clone(),
        })
    }

    /// The parse and chain check of `cert_der`, from the cache when this certificate was seen
    /// lately (the cache is keyed by its SHA-256, so only these very bytes hit). Failures are not
    /// kept.
    fn chained(&self, cert_der: &[u8]) -> Result<Arc<Chained>, CardCheckError> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        let hit = self.cache().get(&key).cloned();
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let checked = Arc::new(self.check_chain(cert_der)?);
        self.cache().insert(key, checked.clone());
        Ok(checked)
    }

    fn cache(&self) -> MutexGuard<'_, LruCache<[u8; 32], Arc<Chained>>> {
        // A panic while holding the lock leaves a usable LRU list, never a half-checked entry.
        self.chained.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Strict parse (trailing bytes refused), issued by a trusted CA (name and signature), an
    /// end-entity certificate for signing, an RSA key of 2048 bits or more, times in range.
    fn check_chain(&self, cert_der: &[u8]) -> Result<Chained, CardCheckError> {
        let malformed = |what: String| CardCheckError::Malformed(what);
        let (rest, cert) = X509Certificate::from_der(cert_der)
            .map_err(|e| malformed(format!("not a DER X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(malformed(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            )));
        }
        let ca = self.issuer_of(&cert)?;
        check_end_entity(&cert)?;
        let public_key = CardPublicKey::from_spki(cert.public_key())?;
        let serial = serial_text(cert.raw_serial());
        let validity = cert.validity();
        let not_before = utc(validity.not_before)
            .ok_or_else(|| malformed("notBefore is out of range".into()))?;
        let not_after =
            utc(validity.not_after).ok_or_else(|| malformed("notAfter is out of range".into()))?;
        Ok(Chained {
            ca,
            serial,
            not_before,
            not_after,
            public_key,
        })
    }

    /// The trusted CA that signed `cert`: one with the issuer's name whose key verifies the
    /// signature.
    fn issuer_of(&self, cert: &X509Certificate<'_>) -> Result<usize, CardCheckError> {
        if cert.signature_algorithm != cert.tbs_certificate.signature {
            return Err(CardCheckError::Malformed(
                "the two signature algorithm fields differ".into(),
            ));
        }
        let alg = sig_alg(&cert.signature_algorithm).ok_or_else(|| {
            CardCheckError::Malformed(format!(
                "signature algorithm {} is not accepted",
                cert.signature_algorithm.algorithm
            ))
        })?;
        let issuer = cert.issuer().as_raw();
        let mut named = false;
        for (i, ca) in self.cas.iter().enumerate() {
            if ca.subject_raw != issuer {
                continue;
            }
            named = true;
            if ca.verifies(alg, cert.tbs_certificate.as_ref(), &cert.signature_value) {
                return Ok(i);
            }
        }
        Err(if named {
            CardCheckError::BadCertificateSignature
        } else {
            CardCheckError::UnknownIssuer
        })
    }

    /// Parses and verifies one DER CRL; returns the index of its CA and what to load.
    fn parse_crl(&self, der: &[u8]) -> Result<(usize, LoadedCrl), X509Problem> {
        let (rest, crl) =
            CertificateRevocationList::from_der(der).map_err(|e| X509Problem::NotDer {
                what: "CRL",
                reason: e.to_string(),
            })?;
        if !rest.is_empty() {
            return Err(X509Problem::TrailingBytes {
                count: rest.len(),
                after: "CRL",
            });
        }
        let tbs = &crl.tbs_cert_list;
        if crl.signature_algorithm != tbs.signature {
            return Err(X509Problem::SignatureAlgorithmsDiffer);
        }
        let alg = sig_alg(&crl.signature_algorithm).ok_or_else(|| {
            X509Problem::SignatureAlgorithm(crl.signature_algorithm.algorithm.to_string())
        })?;
        for ext in tbs.extensions() {
            if ext.oid == OID_X509_EXT_DELTA_CRL_INDICATOR {
                return Err(X509Problem::DeltaCrl);
            }
            if matches!(
                ext.parsed_extension(),
                ParsedExtension::IssuingDistributionPoint(_)
            ) {
                return Err(X509Problem::PartitionedCrl);
            }
            refuse_unknown_critical(ext)?;
        }

        let issuer = tbs.issuer.as_raw();
        let mut named = false;
        let index = self
            .cas
            .iter()
            .position(|ca| {
                if ca.subject_raw != issuer {
                    return false;
                }
                named = true;
                ca.verifies(alg, tbs.as_ref(), &crl.signature_value)
            })
            .ok_or_else(|| {
                if named {
                    X509Problem::CrlSignature(tbs.issuer.to_string())
                } else {
                    X509Problem::UntrustedIssuer(tbs.issuer.to_string())
                }
            })?;
        let ca = &self.cas[index];
        if !ca.may_sign_crls {
            return Err(X509Problem::MayNotSignCrls(ca.subject.clone()));
        }

        let this_update = utc(tbs.this_update).ok_or(X509Problem::TimeOutOfRange("thisUpdate"))?;
        let next_update = match tbs.next_update {
            Some(t) => Some(utc(t).ok_or(X509Problem::TimeOutOfRange("nextUpdate"))?),
            None => None,
        };
        let number = crl.crl_number();
        let revoked: HashSet<String> = tbs
            .revoked_certificates
            .iter()
            .map(|entry| serial_text(entry.raw_serial()))
            .collect();
        let info = CrlInfo {
            issuer: ca.subject.clone(),
            number: number.map(|n| n.to_string()),
            this_update,
            next_update,
            revoked: revoked.len(),
        };
        let number = number.map(|n| minimal(&n.to_bytes_be()).to_vec());
        Ok((
            index,
            LoadedCrl {
                info,
                order: (
                    CrlNumber::from_be(number.as_deref().unwrap_or(&[])),
                    this_update,
                ),
                number,
                revoked,
            },
        ))
    }
}

impl fmt::Debug for TrustedJpki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedJpki")
            .field(
                "cas",
                &self.cas.iter().map(|ca| &ca.subject).collect::<Vec<_>>(),
            )
            .field("crls", &self.crls())
            .finish()
    }
}

impl TrustedCa {
    fn from_der(der: Vec<u8>) -> Result<Self, X509Problem> {
        let (rest, cert) = X509Certificate::from_der(&der)
            .map_err(|e| X509Problem::NotCertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(X509Problem::TrailingBytes {
                count: rest.len(),
                after: "certificate",
            });
        }
        let subject = cert.subject().to_string();
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| X509Problem::BasicConstraints {
                subject: subject.clone(),
                reason: e.to_string(),
            })?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(X509Problem::NotCa(subject));
        }
        let key_usage = cert
            .key_usage()
            .map_err(|e| X509Problem::KeyUsage {
                subject: subject.clone(),
                reason: e.to_string(),
            })?
            .map(|ku| *ku.value);
        if key_usage.is_some_and(|ku| !ku.key_cert_sign()) {
            return Err(X509Problem::MayNotSignCertificates(subject));
        }
        let verifiers = verifiers_for(cert.public_key()).map_err(|problem| X509Problem::CaKey {
            subject: subject.clone(),
            problem: Box::new(problem),
        })?;
        let subject_raw = cert.subject().as_raw().to_vec();
        Ok(Self {
            der,
            subject_raw,
            subject,
            verifiers,
            may_sign_crls: key_usage.is_none_or(|ku| ku.crl_sign()),
            crl: None,
            kept_revoked: HashSet::new(),
        })
    }

    /// Whether this CA's key verifies `signature` over `tbs` with `alg`.
    fn verifies(&self, alg: SigAlg, tbs: &[u8], signature: &BitString<'_>) -> bool {
        signature.unused_bits == 0
            && self
                .verifiers
                .iter()
                .find(|(a, _)| *a == alg)
                .is_some_and(|(_, key)| key.verify_sig(tbs, &signature.data).is_ok())
    }
}

impl GracePolicy {
    /// The national rule: until the end of the third month after the month of expiry (JST).
    pub const NATIONAL: Self = Self {
        months_after_expiry: 3,
    };
    /// No grace: an expired certificate is refused.
    pub const NONE: Self = Self {
        months_after_expiry: 0,
    };

    /// The last second a certificate whose notAfter is `not_after` is accepted (e.g.
    /// 2026-04-30T14:59:59Z, which is 23:59:59 JST), or `None` when this policy grants no grace.
    pub fn grace_end(&self, not_after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.grace_over(not_after)
            .map(|over| over - Duration::seconds(1))
    }

    /// The first instant after the grace period: 00:00 JST on the first day of the month after
    /// the last month of grace.
    fn grace_over(&self, not_after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.months_after_expiry == 0 {
            return None;
        }
        let local = not_after.with_timezone(&jst());
        let month_of_expiry = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)?;
        let over = month_of_expiry
            .checked_add_months(Months::new(self.months_after_expiry.saturating_add(1)))
            .and_then(|day| {
                jst()
                    .from_local_datetime(&day.and_time(NaiveTime::MIN))
                    .single()
            })
            .map(|t| t.with_timezone(&Utc));
        // A policy of millions of years runs past chrono's calendar: it never ends.
        Some(over.unwrap_or(DateTime::<Utc>::MAX_UTC))
    }
}

impl Default for GracePolicy {
    /// [`GracePolicy::NATIONAL`]: three months.
    fn default() -> Self {
        Self::NATIONAL
    }
}

impl CardWarning {
    /// The service's warning code: `W001` in grace, `W002` expires soon.
    pub fn code(&self) -> onshi_model::codes::ResultCode {
        use onshi_model::codes::ResultCode;
        match self {
            Self::InGracePeriod { .. } => ResultCode::CertificateInGrace,
            Self::ExpiresSoon { .. } => ResultCode::CertificateExpiresSoon,
        }
    }

    /// What to tell the patient, in Japanese, for the clinic's staff.
    pub fn message_ja(&self) -> String {
        match self {
            Self::InGracePeriod { expired_on } => format!(
                "電子証明書の有効期限（{}）が過ぎていますが、猶予期間内のため受け付けました。\
                 市区町村の窓口で電子証明書を更新するようお伝えください。",
                crate::time::date_ja(*expired_on)
            ),
            Self::ExpiresSoon { on } => format!(
                "電子証明書の有効期限（{}）が近づいています。\
                 市区町村の窓口で電子証明書を更新するようお伝えください。",
                crate::time::date_ja(*on)
            ),
        }
    }
}

impl CheckedCard {
    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature over `message` (the card signed the
    /// DigestInfo of SHA-256(`message`)) with aws-lc-rs: the fast path.
    pub fn verify_message(&self, message: &[u8], signature: &[u8]) -> Result<(), CardCheckError> {
        self.public_key.verify_message(message, signature)
    }

    /// Verifies an RSASSA-PKCS1-v1_5 signature whose DigestInfo carries `digest` (SHA-256), for
    /// callers that hold only the digest; about three times slower than
    /// [`CheckedCard::verify_message`].
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &[u8]) -> Result<(), CardCheckError> {
        self.public_key.verify_digest(digest, signature)
    }
}

impl CardPublicKey {
    /// Reads an RSA key of [`MIN_RSA_BITS`]–[`MAX_RSA_BITS`] bits from a SubjectPublicKeyInfo
    /// (DER): anything else is [`CardCheckError::WeakKey`] (not RSA, too short) or
    /// [`CardCheckError::Malformed`].
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self, CardCheckError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| {
            CardCheckError::Malformed(format!("not a DER SubjectPublicKeyInfo: {e}"))
        })?;
        if !rest.is_empty() {
            return Err(CardCheckError::Malformed(
                "trailing bytes after the SubjectPublicKeyInfo".into(),
            ));
        }
        Self::from_spki(&spki)
    }

    fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, CardCheckError> {
        let malformed = |what: String| CardCheckError::Malformed(what);
        if spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION {
            return Err(CardCheckError::WeakKey);
        }
        if spki.subject_public_key.unused_bits != 0 {
            return Err(malformed(
                "the RSA key's BIT STRING is not whole bytes".into(),
            ));
        }
        let modulus = match spki.parsed() {
            Ok(PublicKey::RSA(key)) => key.modulus,
            _ => return Err(malformed("not an RSAPublicKey".into())),
        };
        let bits = bit_length(modulus);
        if bits < MIN_RSA_BITS {
            return Err(CardCheckError::WeakKey);
        }
        if bits > MAX_RSA_BITS {
            return Err(malformed(format!(
                "an RSA key of {bits} bits: at most {MAX_RSA_BITS} are supported"
            )));
        }
        let pkcs1 = spki.subject_public_key.data.as_ref();
        let fast = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pkcs1)
            .map_err(|e| malformed(format!("RSA key refused: {e}")))?;
        Ok(Self {
            spki_der: spki.raw.to_vec(),
            bits,
            fast,
            slow: OnceLock::new(),
        })
    }

    /// The key as a SubjectPublicKeyInfo, DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The modulus length in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// See [`CheckedCard::verify_message`].
    pub fn verify_message(&self, message: &[u8], signature: &[u8]) -> Result<(), CardCheckError> {
        self.fast
            .verify_sig(message, signature)
            .map_err(|_| CardCheckError::BadSignature)
    }

    /// See [`CheckedCard::verify_digest`]. Uses the `rsa` crate, since aws-lc-rs verifies
    /// messages only; verification handles no secret, so its timing reveals nothing.
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &[u8]) -> Result<(), CardCheckError> {
        // aws-lc-rs accepted this key already; were the `rsa` crate to refuse it, no signature
        // could verify with it, which is what the caller is told.
        let key = self.slow.get_or_init(|| {
            let (_, spki) = SubjectPublicKeyInfo::from_der(&self.spki_der).ok()?;
            rsa::PublicKey::from_pkcs1_der(&spki.subject_public_key.data).ok()
        });
        key.as_ref()
            .ok_or(CardCheckError::BadSignature)?
            .verify(Pkcs1v15Sign::new::<rsa::sha2::Sha256>(), digest, signature)
            .map_err(|_| CardCheckError::BadSignature)
    }
}

impl fmt::Debug for CardPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardPublicKey")
            .field("bits", &self.bits)
            .field("spki_der", &hex::encode(&self.spki_der))
            .finish()
    }
}

/// Refuses what is not a card's end-entity certificate for signing: a CA certificate, a
/// keyUsage without digitalSignature, an unknown critical extension.
fn check_end_entity(cert: &X509Certificate<'_>) -> Result<(), CardCheckError> {
    let malformed = |what: String| CardCheckError::Malformed(what);
    if cert
        .basic_constraints()
        .map_err(|e| malformed(format!("basicConstraints: {e}")))?
        .is_some_and(|bc| bc.value.ca)
    {
        return Err(malformed("a CA certificate, not a card's".into()));
    }
    if cert
        .key_usage()
        .map_err(|e| malformed(format!("keyUsage: {e}")))?
        .is_some_and(|ku| !ku.value.digital_signature())
    {
        return Err(malformed("its keyUsage does not allow signing".into()));
    }
    for ext in cert.extensions() {
        refuse_unknown_critical(ext).map_err(|p| malformed(p.to_string()))?;
    }
    Ok(())
}

fn refuse_unknown_critical(ext: &X509Extension<'_>) -> Result<(), X509Problem> {
    match ext.parsed_extension() {
        ParsedExtension::UnsupportedExtension { .. }
        | ParsedExtension::ParseError { .. }
        | ParsedExtension::Unparsed
            if ext.critical =>
        {
            Err(X509Problem::UnknownCriticalExtension(ext.oid.to_string()))
        }
        _ => Ok(()),
    }
}

/// Where `now` stands in the validity: an error, a warning, or nothing to say.
fn judge_validity(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &GracePolicy,
) -> Result<Option<CardWarning>, CardCheckError> {
    if now < not_before {
        return Err(CardCheckError::NotYetValid { not_before });
    }
    if now > not_after {
        return match policy.grace_over(not_after) {
            Some(over) if now < over => Ok(Some(CardWarning::InGracePeriod {
                expired_on: not_after,
            })),
            Some(over) => Err(CardCheckError::Expired {
                not_after,
                grace_ended: over - Duration::seconds(1),
            }),
            None => Err(CardCheckError::Expired {
                not_after,
                grace_ended: not_after,
            }),
        };
    }
    let soon = now.checked_add_months(Months::new(EXPIRES_SOON_MONTHS));
    if soon.is_none_or(|soon| not_after <= soon) {
        return Ok(Some(CardWarning::ExpiresSoon { on: not_after }));
    }
    Ok(None)
}

/// The DER blocks of `input`: the input itself if it is DER, or every PEM block (all must carry
/// `label`).
fn der_blocks(input: &[u8], label: &'static str) -> Result<Vec<Vec<u8>>, X509Problem> {
    let text_start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    if !input[text_start..].starts_with(b"-----BEGIN") {
        return Ok(vec![input.to_vec()]);
    }
    let mut blocks = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(input) {
        let pem = pem.map_err(|e| X509Problem::NotPem(e.to_string()))?;
        if pem.label != label {
            return Err(X509Problem::PemLabel {
                expected: label,
                found: pem.label,
            });
        }
        blocks.push(pem.contents);
    }
    if blocks.is_empty() {
        return Err(X509Problem::NoPemBlock(label));
    }
    Ok(blocks)
}

/// The signature algorithm an AlgorithmIdentifier names, if accepted (RSA with absent or NULL
/// parameters, ECDSA with none).
fn sig_alg(alg: &AlgorithmIdentifier<'_>) -> Option<SigAlg> {
    let params_null_or_absent = alg
        .parameters
        .as_ref()
        .is_none_or(|p| p.header.tag() == Tag::Null && p.data.is_empty());
    let oid = &alg.algorithm;
    let found = if *oid == OID_PKCS1_SHA256WITHRSA && params_null_or_absent {
        SigAlg::RsaSha256
    } else if *oid == OID_PKCS1_SHA384WITHRSA && params_null_or_absent {
        SigAlg::RsaSha384
    } else if *oid == OID_PKCS1_SHA512WITHRSA && params_null_or_absent {
        SigAlg::RsaSha512
    } else if *oid == OID_SIG_ECDSA_WITH_SHA256 && alg.parameters.is_none() {
        SigAlg::EcdsaSha256
    } else if *oid == OID_SIG_ECDSA_WITH_SHA384 && alg.parameters.is_none() {
        SigAlg::EcdsaSha384
    } else {
        return None;
    };
    Some(found)
}

fn key_kind(spki: &SubjectPublicKeyInfo<'_>) -> Option<KeyKind> {
    if spki.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION {
        return Some(KeyKind::Rsa);
    }
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return None;
    }
    let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    if curve == OID_EC_P256 {
        Some(KeyKind::EcP256)
    } else if curve == OID_NIST_EC_P384 {
        Some(KeyKind::EcP384)
    } else {
        None
    }
}

fn verification_algorithm(key: KeyKind, alg: SigAlg) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match (key, alg) {
        (KeyKind::Rsa, SigAlg::RsaSha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (KeyKind::Rsa, SigAlg::RsaSha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (KeyKind::Rsa, SigAlg::RsaSha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (KeyKind::EcP256, SigAlg::EcdsaSha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (KeyKind::EcP256, SigAlg::EcdsaSha384) => &signature::ECDSA_P256_SHA384_ASN1,
        (KeyKind::EcP384, SigAlg::EcdsaSha256) => &signature::ECDSA_P384_SHA256_ASN1,
        (KeyKind::EcP384, SigAlg::EcdsaSha384) => &signature::ECDSA_P384_SHA384_ASN1,
        _ => return None,
    })
}

/// A CA key parsed once for each signature algorithm it can have made.
fn verifiers_for(
    spki: &SubjectPublicKeyInfo<'_>,
) -> Result<Vec<(SigAlg, ParsedPublicKey)>, X509Problem> {
    let kind =
        key_kind(spki).ok_or_else(|| X509Problem::KeyType(spki.algorithm.algorithm.to_string()))?;
    if spki.subject_public_key.unused_bits != 0 {
        return Err(X509Problem::KeyBits);
    }
    let key = spki.subject_public_key.data.as_ref();
    let mut verifiers = Vec::new();
    for alg in SIG_ALGS {
        if let Some(verification) = verification_algorithm(kind, alg) {
            let parsed = ParsedPublicKey::new(verification, key)
                .map_err(|e| X509Problem::KeyRefused(e.to_string()))?;
            verifiers.push((alg, parsed));
        }
    }
    Ok(verifiers)
}

/// An ASN.1 time as chrono's, if in chrono's range.
fn utc(t: ASN1Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.timestamp(), 0)
}

/// The bytes without their leading zeros.
fn minimal(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_length(be: &[u8]) -> usize {
    match minimal(be) {
        [] => 0,
        [first, rest @ ..] => rest.len() * 8 + (8 - first.leading_zeros() as usize),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap()
    }

    #[test]
    fn grace_runs_to_the_end_of_the_third_month_in_jst() {
        let policy = GracePolicy::default();
        // notAfter 2026-01-15 (JST) → through 2026-04-30 23:59:59 JST.
        assert_eq!(
            policy.grace_end(utc(2026, 1, 15, 3, 0, 0)),
            Some(utc(2026, 4, 30, 14, 59, 59))
        );
        // 2026-01-31T20:00Z is 1 February in Japan: the grace runs to the end of May.
        assert_eq!(
            policy.grace_end(utc(2026, 1, 31, 20, 0, 0)),
            Some(utc(2026, 5, 31, 14, 59, 59))
        );
        // Across a year: October → January.
        assert_eq!(
            policy.grace_end(utc(2025, 10, 10, 0, 0, 0)),
            Some(utc(2026, 1, 31, 14, 59, 59))
        );
        // Other lengths, and none.
        let one = GracePolicy {
            months_after_expiry: 1,
        };
        assert_eq!(
            one.grace_end(utc(2028, 1, 31, 0, 0, 0)),
            Some(utc(2028, 2, 29, 14, 59, 59))
        );
        assert_eq!(GracePolicy::NONE.grace_end(utc(2026, 1, 15, 3, 0, 0)), None);
        let forever = GracePolicy {
            months_after_expiry: u32::MAX,
        };
        assert_eq!(
            forever.grace_end(utc(2026, 1, 15, 3, 0, 0)),
            Some(DateTime::<Utc>::MAX_UTC - Duration::seconds(1))
        );
    }

    #[test]
    fn validity_judgements() {
        let nb = utc(2021, 1, 15, 3, 0, 0);
        let na = utc(2026, 1, 15, 3, 0, 0);
        let p = GracePolicy::default();
        let judge = |now| judge_validity(nb, na, now, &p);
        assert_eq!(
            judge(nb - Duration::seconds(1)),
            Err(CardCheckError::NotYetValid { not_before: nb })
        );
        assert_eq!(judge(nb), Ok(None));
        assert_eq!(
            judge(utc(2025, 10, 15, 3, 0, 0) - Duration::seconds(1)),
            Ok(None)
        );
        assert_eq!(
            judge(utc(2025, 10, 15, 3, 0, 0)),
            Ok(Some(CardWarning::ExpiresSoon { on: na }))
        );
        assert_eq!(judge(na), Ok(Some(CardWarning::ExpiresSoon { on: na })));
        let in_grace = Ok(Some(CardWarning::InGracePeriod { expired_on: na }));
        assert_eq!(judge(na + Duration::seconds(1)), in_grace);
        let last = utc(2026, 4, 30, 14, 59, 59);
        assert_eq!(judge(last + Duration::milliseconds(999)), in_grace);
        let expired = Err(CardCheckError::Expired {
            not_after: na,
            grace_ended: last,
        });
        assert_eq!(judge(last + Duration::seconds(1)), expired);
        assert_eq!(
            judge_validity(nb, na, na + Duration::seconds(1), &GracePolicy::NONE),
            Err(CardCheckError::Expired {
                not_after: na,
                grace_ended: na
            })
        );
    }

    #[test]
    fn shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<TrustedJpki>();
        send_sync::<CheckedCard>();
        send_sync::<crate::ServerPki>();
    }

    #[test]
    fn grace_policy_from_config() {
        let policy: GracePolicy = serde_json::from_str(r#"{"months_after_expiry":0}"#).unwrap();
        assert_eq!(policy, GracePolicy::NONE);
        assert!(serde_json::from_str::<GracePolicy>(r#"{"months":3}"#).is_err());
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[0, 1]), 1);
        assert_eq!(bit_length(&[0x00, 0x80, 0]), 16);
        let mut modulus = vec![0u8; 257];
        modulus[1] = 0xC1;
        assert_eq!(bit_length(&modulus), 2048);
        modulus[1] = 0x7F;
        assert_eq!(bit_length(&modulus), 2047);
    }

    #[test]
    fn codes_and_messages() {
        let revoked = CardCheckError::Revoked {
            serial: "4A01".into(),
        };
        assert_eq!(revoked.code(), "E006");
        assert_eq!(
            revoked.message_ja(),
            "このカードの電子証明書は失効しています。市区町村の窓口で電子証明書の再発行が必要です。\
             目視確認での受付はできません。"
        );
        let expired = CardCheckError::Expired {
            not_after: utc(2026, 1, 15, 3, 0, 0),
            grace_ended: utc(2026, 4, 30, 14, 59, 59),
        };
        assert_eq!(expired.code(), "E005");
        assert_eq!(
            expired.message_ja(),
            "電子証明書の有効期限が切れています（有効期限：2026年1月15日、猶予期間：2026年4月30日まで）。\
             市区町村の窓口で更新してください。"
        );
        for (e, code) in [
            (CardCheckError::Malformed("x".into()), "E004"),
            (CardCheckError::UnknownIssuer, "E004"),
            (CardCheckError::BadCertificateSignature, "E004"),
            (CardCheckError::WeakKey, "E004"),
            (
                CardCheckError::NotYetValid {
                    not_before: utc(2026, 1, 1, 0, 0, 0),
                },
                "E005",
            ),
            (CardCheckError::BadSignature, "E007"),
        ] {
            assert_eq!(e.code(), code, "{e}");
            assert!(!e.message_ja().is_empty());
        }
        let soon = CardWarning::ExpiresSoon {
            on: utc(2026, 6, 30, 15, 0, 0),
        };
        assert_eq!(soon.code(), "W002");
        assert!(
            soon.message_ja().contains("2026年7月1日"),
            "{}",
            soon.message_ja()
        );
    }
}
