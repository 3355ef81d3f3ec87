//! The card file: everything a software My Number card holds, as one JSON file.
//!
//! ```json
//! {
//!   "version": 1,
//!   "auth_certificate": "MIIE…",          // 利用者証明用電子証明書, DER, base64
//!   "auth_ca_certificate": "MIID…",       // its CA certificate, DER, base64
//!   "auth_private_key": "MIIE…",          // the RSA-2048 authentication key, PKCS#8 DER, base64
//!   "auth_pin": { "salt": "…", "sha256": "…", "tries_left": 3 },
//!   "attributes_pin": { "salt": "…", "sha256": "…", "tries_left": 3 },
//!   "sign_password": { "tries_left": 5 },  // "salt" and "sha256" optional
//!   "attributes": { "name": "…", "address": "…", "birth": "19800101", "sex": "1" }
//! }
//! ```
//!
//! Unknown fields are refused, as is any `version` but 1. A PIN is stored as a 16-byte random salt
//! and SHA-256(salt ‖ PIN as ASCII), both base64. With only 10⁴ four-digit PINs, whoever holds the
//! file can find the PIN by trying them all: the hash keeps the PIN out of plain sight (a file
//! shown on a screen, pasted into an issue), it does not protect it. A real card's protection is its
//! hardware retry counter, which [`crate::SoftCard`] imitates by writing `tries_left` back at once.
//! The signing password (署名用パスワード) is held as status only: its hash may be absent. The file
//! holds no My Number (個人番号): onshi never reads one, so the software card never has one.
//!
//! The file is written atomically (a temporary file in the same directory, fsync, rename, fsync of
//! the directory) with mode 0600 on Unix.

use std::fmt;
use std::path::Path;

use onshi_card::ap::jpki;
use onshi_card::tlv::Attributes;
use onshi_card::Pin;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::{CardFileError, EmuError};

/// The card file format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Tries of the attributes applet's PIN (券面事項入力補助用暗証番号) on a fresh card.
pub const ATTRIBUTES_PIN_TRIES: u8 = 3;
/// Length of a PIN's random salt.
pub const SALT_LEN: usize = 16;
/// The authentication key's modulus length in bytes (RSA-2048), which is the signature length.
pub const AUTH_KEY_BYTES: usize = 256;
/// The largest EF the card serves: READ BINARY offsets are 15 bits.
pub const MAX_EF_LEN: usize = 0x7FFF;

/// What [`CardFile::create`] makes a card from (the card authority's side of issuing a card).
pub struct CardSpec<'a> {
    /// 利用者証明用電子証明書, DER.
    pub auth_certificate_der: Vec<u8>,
    /// The certificate of the CA that issued it, DER.
    pub auth_ca_certificate_der: Vec<u8>,
    /// The RSA-2048 authentication private key, PKCS#8 DER.
    pub auth_private_key_pkcs8_der: Zeroizing<Vec<u8>>,
    /// The 4-digit authentication PIN (利用者証明用暗証番号).
    pub auth_pin: &'a Pin,
    /// The four attributes printed on the card.
    pub attributes: Attributes,
    /// The 4-digit PIN of the attributes applet (券面事項入力補助用暗証番号).
    pub attributes_pin: &'a Pin,
}

/// A software card's contents: certificates, key, PINs (hashed) with their counters, attributes.
#[derive(Clone)]
pub struct CardFile {
    auth_certificate_der: Vec<u8>,
    auth_ca_certificate_der: Vec<u8>,
    auth_private_key_pkcs8_der: Zeroizing<Vec<u8>>,
    /// The parsed key (zeroized on drop by the `rsa` crate).
    auth_key: rsa::PrivateKey,
    pub(crate) auth_pin: PinRecord,
    pub(crate) attributes_pin: PinRecord,
    pub(crate) sign_password: PinRecord,
    attributes: Attributes,
}

impl CardFile {
    /// A fresh card: PINs hashed with new random salts, all counters at their maximum.
    pub fn create(spec: CardSpec<'_>) -> Result<CardFile, EmuError> {
        let CardSpec {
            auth_certificate_der,
            auth_ca_certificate_der,
            auth_private_key_pkcs8_der,
            auth_pin,
            attributes,
            attributes_pin,
        } = spec;
        let auth_key = parse_key(&auth_private_key_pkcs8_der).map_err(EmuError::Spec)?;
        check_certificate("the authentication certificate", &auth_certificate_der)
            .map_err(EmuError::Spec)?;
        check_certificate("the CA certificate", &auth_ca_certificate_der)
            .map_err(EmuError::Spec)?;
        check_attributes(&attributes).map_err(EmuError::Spec)?;
        Ok(CardFile {
            auth_certificate_der,
            auth_ca_certificate_der,
            auth_private_key_pkcs8_der,
            auth_key,
            auth_pin: PinRecord::new(
                Some(SaltedHash::new(auth_pin.as_bytes())?),
                jpki::AUTH_PIN_TRIES,
            ),
            attributes_pin: PinRecord::new(
                Some(SaltedHash::new(attributes_pin.as_bytes())?),
                ATTRIBUTES_PIN_TRIES,
            ),
            sign_password: PinRecord::new(None, jpki::SIGN_PASSWORD_TRIES),
            attributes,
        })
    }

    /// Reads and checks a card file. Errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<CardFile, EmuError> {
        let path = path.as_ref();
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| EmuError::Read {
            path: path.to_owned(),
            source,
        })?);
        Self::from_json(&bytes).map_err(|problem| EmuError::Format {
            path: path.to_owned(),
            problem,
        })
    }

    /// Writes the card file atomically ([`onshi_fs::write_atomic`]), mode 0600 on Unix.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), EmuError> {
        let path = path.as_ref();
        let write_err = |source| EmuError::Write {
            path: path.to_owned(),
            source,
        };
        let json = self.to_json().map_err(write_err)?;
        // Mode 0600 from the start; fsync, rename, fsync of the folder.
        onshi_fs::write_atomic(path, &json, onshi_fs::MODE_PRIVATE).map_err(write_err)?;
        Ok(())
    }

    /// 利用者証明用電子証明書, DER (what EF 000A of the JPKI applet holds).
    pub fn auth_certificate_der(&self) -> &[u8] {
        &self.auth_certificate_der
    }

    /// The CA certificate, DER (EF 000B).
    pub fn auth_ca_certificate_der(&self) -> &[u8] {
        &self.auth_ca_certificate_der
    }

    /// The attributes printed on the card.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// Tries left of the authentication PIN (0: blocked).
    pub fn auth_pin_tries_left(&self) -> u8 {
        self.auth_pin.tries_left()
    }

    /// Tries left of the attributes applet's PIN (0: blocked).
    pub fn attributes_pin_tries_left(&self) -> u8 {
        self.attributes_pin.tries_left()
    }

    /// Tries left of the signing password (0: blocked).
    pub fn sign_password_tries_left(&self) -> u8 {
        self.sign_password.tries_left()
    }

    /// The parsed authentication key.
    pub(crate) fn auth_key(&self) -> &rsa::PrivateKey {
        &self.auth_key
    }

    /// Parses the JSON form; the error does not name the file.
    fn from_json(bytes: &[u8]) -> Result<CardFile, CardFileError> {
        // The version first, so that a newer file is refused for its version and not for the
        // first field this version does not know.
        #[derive(Deserialize)]
        struct Probe {
            version: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| json_message(&e))?;
        match probe.version {
            None => return Err(CardFileError::NoVersion),
            Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
            Some(v) => {
                return Err(CardFileError::UnsupportedVersion {
                    found: v.to_string(),
                    supported: FORMAT_VERSION,
                })
            }
        }
        let model: FileModel = serde_json::from_slice(bytes).map_err(|e| json_message(&e))?;
        Self::from_model(model)
    }

    fn from_model(m: FileModel) -> Result<CardFile, CardFileError> {
        let auth_key = parse_key(&m.auth_private_key)?;
        check_certificate("auth_certificate", &m.auth_certificate)?;
        check_certificate("auth_ca_certificate", &m.auth_ca_certificate)?;
        let attributes = Attributes {
            name: m.attributes.name,
            address: m.attributes.address,
            birth: m.attributes.birth,
            sex: m.attributes.sex,
        };
        check_attributes(&attributes)?;
        Ok(CardFile {
            auth_certificate_der: m.auth_certificate,
            auth_ca_certificate_der: m.auth_ca_certificate,
            auth_private_key_pkcs8_der: m.auth_private_key,
            auth_key,
            auth_pin: PinRecord::from_model("auth_pin", m.auth_pin, jpki::AUTH_PIN_TRIES, true)?,
            attributes_pin: PinRecord::from_model(
                "attributes_pin",
                m.attributes_pin,
                ATTRIBUTES_PIN_TRIES,
                true,
            )?,
            sign_password: PinRecord::from_model(
                "sign_password",
                m.sign_password,
                jpki::SIGN_PASSWORD_TRIES,
                false,
            )?,
            attributes,
        })
    }

    /// The JSON form, in a buffer sized up front (no reallocation leaves key bytes behind) and
    /// wiped on drop.
    fn to_json(&self) -> std::io::Result<Zeroizing<Vec<u8>>> {
        let model = FileModel {
            version: FORMAT_VERSION,
            auth_certificate: self.auth_certificate_der.clone(),
            auth_ca_certificate: self.auth_ca_certificate_der.clone(),
            auth_private_key: self.auth_private_key_pkcs8_der.clone(),
            auth_pin: self.auth_pin.to_model(),
            attributes_pin: self.attributes_pin.to_model(),
            sign_password: self.sign_password.to_model(),
            attributes: AttributesModel {
                name: self.attributes.name.clone(),
                address: self.attributes.address.clone(),
                birth: self.attributes.birth.clone(),
                sex: self.attributes.sex.clone(),
            },
        };
        let binary = model.auth_certificate.len()
            + model.auth_ca_certificate.len()
            + model.auth_private_key.len();
        let text = self.attributes.name.len() + self.attributes.address.len();
        let mut out = Zeroizing::new(Vec::with_capacity(binary * 4 / 3 + text * 6 + 4096));
        serde_json::to_writer_pretty(&mut *out, &model)?;
        out.push(b'\n');
        Ok(out)
    }
}

impl fmt::Debug for CardFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No key, no hash, no personal data.
        f.debug_struct("CardFile")
            .field(
                "auth_certificate",
                &format_args!("{} bytes", self.auth_certificate_der.len()),
            )
            .field(
                "auth_ca_certificate",
                &format_args!("{} bytes", self.auth_ca_certificate_der.len()),
            )
            .field("auth_private_key", &format_args!("<hidden>"))
            .field("auth_pin", &self.auth_pin)
            .field("attributes_pin", &self.attributes_pin)
            .field("sign_password", &self.sign_password)
            .field("attributes", &format_args!("<hidden>"))
            .finish()
    }
}

/// A secret's salted SHA-256: SHA-256(salt ‖ secret).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SaltedHash {
    salt: [u8; SALT_LEN],
    sha256: [u8; 32],
}

impl SaltedHash {
    /// Hashes `secret` with a fresh random salt.
    fn new(secret: &[u8]) -> Result<Self, EmuError> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| EmuError::Random(e.to_string()))?;
        Ok(Self {
            salt,
            sha256: Self::digest(&salt, secret),
        })
    }

    fn digest(salt: &[u8; SALT_LEN], secret: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(secret);
        h.finalize().into()
    }

    /// Whether `candidate` is the secret (the comparison does not stop at the first difference).
    fn matches(&self, candidate: &[u8]) -> bool {
        let got = Self::digest(&self.salt, candidate);
        got.iter()
            .zip(self.sha256.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// A PIN or password as the card keeps it: its hash (if any) and its retry counter.
#[derive(Clone)]
pub(crate) struct PinRecord {
    hash: Option<SaltedHash>,
    tries_left: u8,
    max_tries: u8,
}

impl PinRecord {
    fn new(hash: Option<SaltedHash>, max_tries: u8) -> Self {
        Self {
            hash,
            tries_left: max_tries,
            max_tries,
        }
    }

    fn from_model(
        field: &'static str,
        m: PinModel,
        max_tries: u8,
        hash_required: bool,
    ) -> Result<Self, CardFileError> {
        if m.tries_left > max_tries {
            return Err(CardFileError::TooManyTries {
                field,
                tries_left: m.tries_left,
                max_tries,
            });
        }
        let hash = match (m.salt, m.sha256) {
            (Some(salt), Some(sha256)) => Some(SaltedHash {
                salt: salt.try_into().map_err(|_| CardFileError::SaltLength {
                    field,
                    len: SALT_LEN,
                })?,
                sha256: sha256
                    .try_into()
                    .map_err(|_| CardFileError::HashLength { field })?,
            }),
            (None, None) if !hash_required => None,
            (None, None) => return Err(CardFileError::NoHash { field }),
            _ => return Err(CardFileError::HalfHash { field }),
        };
        Ok(Self {
            hash,
            tries_left: m.tries_left,
            max_tries,
        })
    }

    fn to_model(&self) -> PinModel {
        PinModel {
            salt: self.hash.as_ref().map(|h| h.salt.to_vec()),
            sha256: self.hash.as_ref().map(|h| h.sha256.to_vec()),
            tries_left: self.tries_left,
        }
    }

    /// Tries left (0: blocked).
    pub(crate) fn tries_left(&self) -> u8 {
        self.tries_left
    }

    /// Whether the card knows the secret at all (the signing password may be status only).
    pub(crate) fn has_secret(&self) -> bool {
        self.hash.is_some()
    }

    /// Checks a candidate as a card does: a match restores the counter to its maximum, a
    /// mismatch takes one try. Returns whether it matched. The caller refuses a blocked PIN first.
    pub(crate) fn check(&mut self, candidate: &[u8]) -> bool {
        let ok = self.hash.as_ref().is_some_and(|h| h.matches(candidate));
        if ok {
            self.tries_left = self.max_tries;
        } else {
            self.tries_left = self.tries_left.saturating_sub(1);
        }
        ok
    }
}

impl fmt::Debug for PinRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} tries left", self.tries_left, self.max_tries)
    }
}

/// The file's JSON shape.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    version: u32,
    #[serde(with = "b64")]
    auth_certificate: Vec<u8>,
    #[serde(with = "b64")]
    auth_ca_certificate: Vec<u8>,
    #[serde(with = "b64_secret")]
    auth_private_key: Zeroizing<Vec<u8>>,
    auth_pin: PinModel,
    attributes_pin: PinModel,
    sign_password: PinModel,
    attributes: AttributesModel,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinModel {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
    salt: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
    sha256: Option<Vec<u8>>,
    tries_left: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributesModel {
    name: String,
    address: String,
    birth: String,
    sex: String,
}

/// A JSON error as a message: serde's own words with the line and column, but for a few kinds
/// of error that would quote the file's contents (personal data) back.
fn json_message(e: &serde_json::Error) -> CardFileError {
    let text = e.to_string();
    if text.contains("invalid type: string") || text.contains("invalid value: string") {
        CardFileError::WrongTypeOrValue {
            line: e.line(),
            column: e.column(),
        }
    } else {
        CardFileError::Json(text)
    }
}

fn parse_key(der: &[u8]) -> Result<rsa::PrivateKey, CardFileError> {
    let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(|_| CardFileError::KeyNotPkcs8)?;
    if key.size() != AUTH_KEY_BYTES {
        return Err(CardFileError::KeySize {
            bits: key.size() * 8,
        });
    }
    Ok(key)
}

/// A certificate must be one DER SEQUENCE whose header announces exactly its length (the client
/// reads the length from the first bytes), and fit in an EF.
fn check_certificate(what: &'static str, der: &[u8]) -> Result<(), CardFileError> {
    if der.len() > MAX_EF_LEN {
        return Err(CardFileError::CertificateTooLong {
            what,
            max: MAX_EF_LEN,
        });
    }
    match der_sequence_len(der) {
        Some(n) if n == der.len() => Ok(()),
        _ => Err(CardFileError::CertificateNotDer { what }),
    }
}

/// The total length (header included) a DER SEQUENCE announces in its first bytes.
pub(crate) fn der_sequence_len(der: &[u8]) -> Option<usize> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 3 {
        return None;
    }
    let len = rest
        .get(..n)?
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some(2 + n + len)
}

fn check_attributes(a: &Attributes) -> Result<(), CardFileError> {
    if a.birth.len() != 8 || !a.birth.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardFileError::Birth);
    }
    // One digit, as the card's TLV reader accepts (1 男, 2 女, 9 適用不能 in practice).
    if a.sex.len() != 1 || !a.sex.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardFileError::Sex);
    }
    if a.name.is_empty() {
        return Err(CardFileError::EmptyName);
    }
    if onshi_card::tlv::encode_attributes(a).len() > MAX_EF_LEN {
        return Err(CardFileError::AttributesTooLong { max: MAX_EF_LEN });
    }
    Ok(())
}

mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("not valid base64"))
    }
}

mod b64_opt {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => super::b64::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        super::b64::deserialize(d).map(Some)
    }
}

/// Base64 for the private key: the text form is built and read in wiped buffers.
mod b64_secret {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        bytes: &Zeroizing<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut text = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(3) * 4));
        STANDARD.encode_string(bytes.as_slice(), &mut text);
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Zeroizing<Vec<u8>>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let mut out = Zeroizing::new(Vec::with_capacity(v.len() / 4 * 3 + 3));
                STANDARD
                    .decode_vec(v.as_bytes(), &mut out)
                    .map_err(|_| E::custom("not valid base64"))?;
                Ok(out)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_card;

    #[test]
    fn create_save_load_round_trip() {
        let file = test_card::card_file();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        file.save(&path).unwrap();
        let back = CardFile::load(&path).unwrap();
        assert_eq!(back.auth_certificate_der(), file.auth_certificate_der());
        assert_eq!(
            back.auth_ca_certificate_der(),
            file.auth_ca_certificate_der()
        );
        assert_eq!(
            *back.auth_private_key_pkcs8_der,
            *file.auth_private_key_pkcs8_der
        );
        assert_eq!(back.auth_pin_tries_left(), 3);
        assert_eq!(back.attributes_pin_tries_left(), 3);
        assert_eq!(back.sign_password_tries_left(), 5);
        assert_eq!(back.attributes().name, file.attributes().name);
        assert_eq!(back.attributes().birth, "19800401");
        assert!(back.auth_pin.hash == file.auth_pin.hash);
        assert!(!back.sign_password.has_secret());
        // Saved again, the file is the same bytes.
        let first = std::fs::read(&path).unwrap();
        back.save(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), first);
        let text = String::from_utf8(first).unwrap();
        assert!(text.contains("\"version\": 1"));
        assert!(!text.contains(test_card::PIN));
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn saved_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        test_card::card_file().save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn pins_are_salted_hashes() {
        let file = test_card::card_file();
        let mut pin = file.auth_pin.clone();
        assert!(pin.check(b"1234"));
        assert!(!pin.check(b"1235"));
        assert_eq!(pin.tries_left(), 2);
        assert!(pin.check(b"1234"));
        assert_eq!(pin.tries_left(), 3);
        // Two cards with the same PIN have different salts and hashes.
        let other = test_card::card_file();
        assert!(other.auth_pin.hash != file.auth_pin.hash);
        // A status-only password never matches.
        let mut pw = file.sign_password.clone();
        assert!(!pw.check(b""));
        assert_eq!(pw.tries_left(), 4);
    }

    #[test]
    fn debug_prints_no_secret() {
        let file = test_card::card_file();
        let text = format!("{file:?}");
        assert!(text.contains("3/3 tries left"), "{text}");
        use base64::Engine as _;
        let key_b64 = base64::engine::general_purpose::STANDARD
            .encode(&file.auth_private_key_pkcs8_der[..16]);
        assert!(!text.contains(&key_b64));
        assert!(!text.contains(&file.attributes().name));
        assert!(!text.contains("salt") && !text.contains("sha256"));
    }

    fn saved_json() -> serde_json::Value {
        let json = test_card::card_file().to_json().unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    fn load_err(value: &serde_json::Value) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad-card.json");
        std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
        let e = CardFile::load(&path).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("bad-card.json"), "{text}");
        assert!(matches!(e, EmuError::Format { .. }));
        text
    }

    #[test]
    fn bad_files_are_refused_naming_the_file() {
        let e = CardFile::load("/nonexistent/card.json").unwrap_err();
        assert!(matches!(e, EmuError::Read { .. }));
        assert!(e.to_string().contains("/nonexistent/card.json"));

        let mut v = saved_json();
        v["surprise"] = 1.into();
        assert!(load_err(&v).contains("unknown field"));

        let mut v = saved_json();
        v["version"] = 2.into();
        assert!(load_err(&v).contains("version 2 is not supported"));

        let mut v = saved_json();
        v.as_object_mut().unwrap().remove("version");
        assert!(load_err(&v).contains("no \"version\""));

        let mut v = saved_json();
        v["auth_pin"]["tries_left"] = 4.into();
        assert!(load_err(&v).contains("auth_pin.tries_left"));

        let mut v = saved_json();
        v["auth_pin"]["salt"] = "AAAA".into();
        assert!(load_err(&v).contains("auth_pin.salt"));

        let mut v = saved_json();
        v["auth_pin"].as_object_mut().unwrap().remove("sha256");
        assert!(load_err(&v).contains("both salt and sha256"));

        let mut v = saved_json();
        v["auth_private_key"] = "!!!".into();
        assert!(load_err(&v).contains("base64"));

        let mut v = saved_json();
        v["auth_private_key"] = "AAAA".into();
        assert!(load_err(&v).contains("PKCS#8"));

        let mut v = saved_json();
        v["auth_certificate"] = "AAAA".into();
        assert!(load_err(&v).contains("DER SEQUENCE"));

        let mut v = saved_json();
        v["attributes"]["birth"] = "1980-04-01".into();
        assert!(load_err(&v).contains("8 digits"));

        // A wrongly typed field is named by position, not by quoting the value.
        let mut v = saved_json();
        v["auth_pin"]["tries_left"] = "山田太郎".into();
        let text = load_err(&v);
        assert!(!text.contains("山田太郎"), "{text}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad-card.json");
        std::fs::write(&path, b"{\"version\": 1, ").unwrap();
        assert!(CardFile::load(&path)
            .unwrap_err()
            .to_string()
            .contains("bad-card.json"));
    }

    #[test]
    fn a_status_only_password_and_a_hashed_one_both_load() {
        let mut v = saved_json();
        assert!(v["sign_password"].get("salt").is_none());
        let pin = v["auth_pin"].clone();
        v["sign_password"]["salt"] = pin["salt"].clone();
        v["sign_password"]["sha256"] = pin["sha256"].clone();
        let back = CardFile::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(back.sign_password.has_secret());
        assert_eq!(back.sign_password_tries_left(), 5);
    }

    #[test]
    fn spec_is_checked() {
        let pin = Pin::parse(test_card::PIN).unwrap();
        let base = test_card::spec_parts();
        let spec = |key: Vec<u8>, cert: Vec<u8>, birth: &str| CardSpec {
            auth_certificate_der: cert,
            auth_ca_certificate_der: base.ca_der.clone(),
            auth_private_key_pkcs8_der: Zeroizing::new(key),
            auth_pin: &pin,
            attributes: Attributes {
                birth: birth.to_owned(),
                ..test_card::attributes()
            },
            attributes_pin: &pin,
        };
        let ok = CardFile::create(spec(
            base.key_der.to_vec(),
            base.cert_der.clone(),
            "19800401",
        ));
        assert!(ok.is_ok());
        let e = CardFile::create(spec(vec![1, 2, 3], base.cert_der.clone(), "19800401"));
        assert!(matches!(e, Err(EmuError::Spec(_))));
        let e = CardFile::create(spec(base.key_der.to_vec(), vec![0x30, 0x05, 0], "19800401"));
        assert!(matches!(e, Err(EmuError::Spec(_))));
        let e = CardFile::create(spec(base.key_der.to_vec(), base.cert_der.clone(), "1980"));
        assert!(matches!(e, Err(EmuError::Spec(_))));
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der_sequence_len(&[0x30, 0x03, 1, 2, 3]), Some(5));
        assert_eq!(der_sequence_len(&[0x30, 0x82, 0x01, 0x00]), Some(260));
        assert_eq!(der_sequence_len(&[0x30, 0x81]), None);
        assert_eq!(der_sequence_len(&[0x30, 0x80]), None);
        assert_eq!(der_sequence_len(&[0x31, 0x00]), None);
        assert_eq!(der_sequence_len(&[]), None);
    }
}
