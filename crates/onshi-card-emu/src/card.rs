//! The software card: answers command APDUs as a My Number card does, from a [`CardFile`].
//!
//! The file system it presents:
//!
//! | AP | EF | what | READ BINARY | VERIFY | COMPUTE DIGITAL SIGNATURE |
//! |----|----|------|-------------|--------|---------------------------|
//! | JPKI | `000A` | 利用者証明用電子証明書 | yes | `69 81` | `69 81` |
//! | JPKI | `000B` | its CA certificate | yes | `69 81` | `69 81` |
//! | JPKI | `0017` | authentication key | `69 82` | `69 81` | after the auth PIN |
//! | JPKI | `0018` | authentication PIN (3 tries) | `69 82` | yes | `69 81` |
//! | JPKI | `0001` | 署名用電子証明書 (not held) | `69 82` | `69 81` | `69 81` |
//! | JPKI | `001A` | signing key (not held) | `69 82` | `69 81` | `69 82` |
//! | JPKI | `001B` | signing password (5 tries) | `69 82` | status; with data `69 82` unless the file holds its hash | `69 81` |
//! | 券面事項入力補助 | `0001` | My Number (not held) | `69 82`; after the PIN `69 85` | `69 81` | `69 81` |
//! | 券面事項入力補助 | `0002` | the four attributes (`FF 20`) | after the PIN | `69 81` | `69 81` |
//! | 券面事項入力補助 | `0011` | its PIN (3 tries) | `69 82` | yes | `69 81` |
//!
//! Commands: SELECT by AID `00 A4 04 0C` (another AID `6A 82`), SELECT EF `00 A4 02 0C 02 xx xx`
//! within the selected AP (unknown `6A 82`), READ BINARY `00 B0` with a 15-bit offset in P1 P2 or,
//! as real cards also allow, a short EF identifier in P1 (`1xx xxxxx`, offset in P2), VERIFY
//! `00 20 00 80`, COMPUTE DIGITAL SIGNATURE `80 2A 00 80`. A malformed APDU is `67 00`, another
//! INS `6D 00`, another CLA `6E 00` (a logical channel `68 81`, secure messaging `68 82`, as the
//! real card answers). Verification holds until power-off/reset or the next SELECT of an AP. When
//! a retry counter changes the card file is rewritten before the card answers; if that write fails
//! the card answers `65 81` (memory failure) and counts the try anyway.

use std::fmt;
use std::path::{Path, PathBuf};

use onshi_card::ap::{self, attributes, jpki};
use onshi_card::apdu::{Command, Response};
use onshi_card::StatusWord;

use crate::card_file::PinRecord;
use crate::{CardFile, EmuError};

/// The ATR of a My Number card (個人番号カード): `3B E0 00 FF 81 31 FE 45 14`, T=1. It is the ATR
/// that open-source My Number card tools wait for (for example the pyscard-based `card.py` of
/// myna-browser-extension); the check byte 14 is the XOR of T0…TB3. Cards of other manufacturing
/// lots may present other ATRs; onshi does not rely on it, it identifies the card by its AIDs.
pub const MY_NUMBER_CARD_ATR: &[u8] = &[0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];

/// The ATR of [`SoftCard::foreign`]: illustrative, the shortest valid ATR (T=0, no historical
/// bytes), chosen to be no particular card.
pub const FOREIGN_CARD_ATR: &[u8] = &[0x3B, 0x00];

/// 署名用電子証明書's private key. The software card holds none.
const EF_SIGN_KEY: [u8; 2] = [0x00, 0x1A];
/// The length of the authentication and attributes PINs.
const PIN_LEN: usize = 4;
/// The signing password's lengths.
const SIGN_PASSWORD_LEN: std::ops::RangeInclusive<usize> = 6..=16;
/// The largest DigestInfo PKCS#1 v1.5 can pad for a 2048-bit key (256 − 11).
const MAX_DIGEST_INFO_LEN: usize = 245;
/// READ BINARY P1 bit 8: P1 carries a short EF identifier (low five bits), P2 the offset.
const P1_SHORT_EF: u8 = 0x80;
/// CLA bits b2–b1: a logical channel.
const CLA_CHANNEL_BITS: u8 = 0x03;
/// CLA bits b4–b3: secure messaging.
const CLA_SM_BITS: u8 = 0x0C;

/// 65 81: writing to the memory failed (the card file could not be saved).
const SW_MEMORY_FAILURE: StatusWord = StatusWord(0x6581);
/// 68 81: logical channel not supported.
const SW_CHANNEL_NOT_SUPPORTED: StatusWord = StatusWord(0x6881);
/// 68 82: secure messaging not supported.
const SW_SM_NOT_SUPPORTED: StatusWord = StatusWord(0x6882);
/// 69 81: command incompatible with the file structure (VERIFY on a certificate, …).
const SW_INCOMPATIBLE_FILE: StatusWord = StatusWord(0x6981);

/// A My Number card in software (or, from [`SoftCard::foreign`], some other card).
pub struct SoftCard {
    /// `None` for a foreign card.
    contents: Option<Contents>,
    /// Where counters are written back, for a card opened from a file.
    path: Option<PathBuf>,
    session: Session,
}

/// What a My Number card holds.
struct Contents {
    file: CardFile,
    /// EF 0002 of the attributes AP, encoded once.
    attributes_ef: Vec<u8>,
}

/// What a power cycle forgets.
#[derive(Debug, Default)]
struct Session {
    ap: Option<Ap>,
    ef: Option<Ef>,
    auth_pin_verified: bool,
    attributes_pin_verified: bool,
    sign_password_verified: bool,
}

/// The applets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ap {
    Jpki,
    Attributes,
}

/// The EFs (see the table in the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ef {
    AuthCert,
    AuthCaCert,
    AuthKey,
    AuthPin,
    SignCert,
    SignKey,
    SignPassword,
    MyNumber,
    AttributesData,
    AttributesPin,
}

impl Ef {
    fn find(ap: Ap, id: [u8; 2]) -> Option<Ef> {
        Some(match (ap, id) {
            (Ap::Jpki, jpki::EF_AUTH_CERT) => Ef::AuthCert,
            (Ap::Jpki, jpki::EF_AUTH_CA_CERT) => Ef::AuthCaCert,
            (Ap::Jpki, jpki::EF_AUTH_KEY) => Ef::AuthKey,
            (Ap::Jpki, jpki::EF_AUTH_PIN) => Ef::AuthPin,
            (Ap::Jpki, jpki::EF_SIGN_CERT) => Ef::SignCert,
            (Ap::Jpki, EF_SIGN_KEY) => Ef::SignKey,
            (Ap::Jpki, jpki::EF_SIGN_PASSWORD) => Ef::SignPassword,
            (Ap::Attributes, attributes::EF_MY_NUMBER) => Ef::MyNumber,
            (Ap::Attributes, attributes::EF_ATTRIBUTES) => Ef::AttributesData,
            (Ap::Attributes, attributes::EF_PIN) => Ef::AttributesPin,
            _ => return None,
        })
    }
}

impl SoftCard {
    /// A card from a card file; every change of a retry counter is written back to it at once.
    pub fn open(path: impl AsRef<Path>) -> Result<SoftCard, EmuError> {
        let path = path.as_ref();
        let file = CardFile::load(path)?;
        let mut card = Self::in_memory(file);
        card.path = Some(path.to_owned());
        Ok(card)
    }

    /// A card whose counters live in memory only (for tests).
    pub fn in_memory(file: CardFile) -> SoftCard {
        let attributes_ef = onshi_card::tlv::encode_attributes(file.attributes());
        SoftCard {
            contents: Some(Contents {
                file,
                attributes_ef,
            }),
            path: None,
            session: Session::default(),
        }
    }

    /// A card that is not a My Number card: neither applet is there.
    pub fn foreign() -> SoftCard {
        SoftCard {
            contents: None,
            path: None,
            session: Session::default(),
        }
    }

    /// The answer to reset.
    pub fn atr(&self) -> &'static [u8] {
        if self.contents.is_some() {
            MY_NUMBER_CARD_ATR
        } else {
            FOREIGN_CARD_ATR
        }
    }

    /// The card's contents as they are now (counters included); `None` for a foreign card.
    pub fn card_file(&self) -> Option<&CardFile> {
        self.contents.as_ref().map(|c| &c.file)
    }

    /// Power cycle (or warm reset): nothing selected, nothing verified.
    pub fn reset(&mut self) {
        self.session = Session::default();
    }

    /// One command APDU in, one response APDU (data and SW1 SW2) out.
    pub fn process(&mut self, command: &[u8]) -> Vec<u8> {
        let response = match Command::parse(command) {
            Ok(c) => self.dispatch(&c),
            Err(_) => status(StatusWord::WRONG_LENGTH),
        };
        // Header and status only: a VERIFY's data is a PIN.
        tracing::trace!(
            header = ?command.get(..4),
            len = command.len(),
            sw = %response.sw,
            "APDU"
        );
        response.encode()
    }

    fn dispatch(&mut self, c: &Command) -> Response {
        let class = c.cla & !(CLA_CHANNEL_BITS | CLA_SM_BITS);
        if class != ap::CLA_ISO && class != ap::CLA_PROPRIETARY {
            return status(StatusWord::CLA_NOT_SUPPORTED);
        }
        if c.cla & CLA_SM_BITS != 0 {
            return status(SW_SM_NOT_SUPPORTED);
        }
        if c.cla & CLA_CHANNEL_BITS != 0 {
            return status(SW_CHANNEL_NOT_SUPPORTED);
        }
        match (class, c.ins) {
            (ap::CLA_ISO, ap::INS_SELECT) => self.select(c),
            (ap::CLA_ISO, ap::INS_READ_BINARY) => self.read_binary(c),
            (ap::CLA_ISO, ap::INS_VERIFY) => self.verify(c),
            (ap::CLA_PROPRIETARY, ap::INS_COMPUTE_DIGITAL_SIGNATURE) => self.sign(c),
            (
                _,
                ap::INS_SELECT
                | ap::INS_READ_BINARY
                | ap::INS_VERIFY
                | ap::INS_COMPUTE_DIGITAL_SIGNATURE,
            ) => status(StatusWord::CLA_NOT_SUPPORTED),
            _ => status(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, c: &Command) -> Response {
        match (c.p1, c.p2) {
            (ap::P1_SELECT_BY_AID, ap::P2_NO_RESPONSE) => {
                let ap = match c.data.as_slice() {
                    [] => return status(StatusWord::WRONG_LENGTH),
                    aid if aid == jpki::AID => Ap::Jpki,
                    aid if aid == attributes::AID => Ap::Attributes,
                    _ => return status(StatusWord::FILE_NOT_FOUND),
                };
                if self.contents.is_none() {
                    return status(StatusWord::FILE_NOT_FOUND);
                }
                // A new selection of an AP starts its security state afresh.
                self.session = Session {
                    ap: Some(ap),
                    ..Session::default()
                };
                status(StatusWord::OK)
            }
            (ap::P1_SELECT_EF, ap::P2_NO_RESPONSE) => {
                let Ok(id) = <[u8; 2]>::try_from(c.data.as_slice()) else {
                    return status(StatusWord::WRONG_LENGTH);
                };
                match self.session.ap.and_then(|ap| Ef::find(ap, id)) {
                    Some(ef) => {
                        self.session.ef = Some(ef);
                        status(StatusWord::OK)
                    }
                    None => status(StatusWord::FILE_NOT_FOUND),
                }
            }
            _ => status(StatusWord::WRONG_P1_P2),
        }
    }

    fn read_binary(&mut self, c: &Command) -> Response {
        if !c.data.is_empty() {
            return status(StatusWord::WRONG_LENGTH);
        }
        let Some(le) = c.le else {
            return status(StatusWord::WRONG_LENGTH);
        };
        let offset = if c.p1 & P1_SHORT_EF != 0 {
            // A short EF identifier selects the EF, then reads from offset P2.
            if c.p1 & 0x60 != 0 {
                return status(StatusWord::WRONG_P1_P2);
            }
            let Some(ef) = self
                .session
                .ap
                .and_then(|ap| Ef::find(ap, [0, c.p1 & 0x1F]))
            else {
                return status(StatusWord::FILE_NOT_FOUND);
            };
            self.session.ef = Some(ef);
            usize::from(c.p2)
        } else {
            usize::from(u16::from_be_bytes([c.p1, c.p2]))
        };
        let Some(ef) = self.session.ef else {
            return status(StatusWord::COMMAND_NOT_ALLOWED);
        };
        let Some(contents) = &self.contents else {
            return status(StatusWord::COMMAND_NOT_ALLOWED);
        };
        let s = &self.session;
        let bytes: &[u8] = match ef {
            Ef::AuthCert => contents.file.auth_certificate_der(),
            Ef::AuthCaCert => contents.file.auth_ca_certificate_der(),
            Ef::AttributesData if s.attributes_pin_verified => &contents.attributes_ef,
            // Behind the PIN on a real card; this card holds no My Number at all.
            Ef::MyNumber if s.attributes_pin_verified => {
                return status(StatusWord::CONDITIONS_NOT_SATISFIED)
            }
            // Behind the signing password; this card holds no signing certificate.
            Ef::SignCert if s.sign_password_verified => {
                return status(StatusWord::CONDITIONS_NOT_SATISFIED)
            }
            Ef::AttributesData
            | Ef::MyNumber
            | Ef::SignCert
            | Ef::AuthKey
            | Ef::AuthPin
            | Ef::SignKey
            | Ef::SignPassword
            | Ef::AttributesPin => return status(StatusWord::SECURITY_NOT_SATISFIED),
        };
        let Some(rest) = bytes.get(offset..).filter(|r| !r.is_empty()) else {
            return status(StatusWord::WRONG_PARAMETERS);
        };
        let le = usize::try_from(le).unwrap_or(usize::MAX);
        if rest.len() < le {
            Response::new(rest.to_vec(), StatusWord::END_OF_FILE)
        } else {
            Response::new(rest[..le].to_vec(), StatusWord::OK)
        }
    }

    fn verify(&mut self, c: &Command) -> Response {
        if (c.p1, c.p2) != (ap::P1_VERIFY, ap::P2_VERIFY_SELECTED_EF) {
            return status(StatusWord::WRONG_P1_P2);
        }
        let Some(ef) = self.session.ef else {
            return status(StatusWord::COMMAND_NOT_ALLOWED);
        };
        let Some(contents) = &mut self.contents else {
            return status(StatusWord::COMMAND_NOT_ALLOWED);
        };
        let (record, verified, lengths): (&mut PinRecord, &mut bool, _) = match ef {
            Ef::AuthPin => (
                &mut contents.file.auth_pin,
                &mut self.session.auth_pin_verified,
                PIN_LEN..=PIN_LEN,
            ),
            Ef::AttributesPin => (
                &mut contents.file.attributes_pin,
                &mut self.session.attributes_pin_verified,
                PIN_LEN..=PIN_LEN,
            ),
            Ef::SignPassword => (
                &mut contents.file.sign_password,
                &mut self.session.sign_password_verified,
                SIGN_PASSWORD_LEN,
            ),
            _ => return status(SW_INCOMPATIBLE_FILE),
        };
        let before = record.tries_left();
        if c.data.is_empty() {
            // The status: tries left, also after a correct VERIFY; 63 C0 once blocked.
            return status(tries_left(before));
        }
        if before == 0 {
            return status(StatusWord::REFERENCE_DATA_NOT_USABLE);
        }
        if !record.has_secret() {
            // The signing password of a card file that holds status only.
            return status(StatusWord::SECURITY_NOT_SATISFIED);
        }
        if !lengths.contains(&c.data.len()) {
            return status(StatusWord::WRONG_LENGTH);
        }
        let ok = record.check(&c.data);
        let after = record.tries_left();
        *verified = ok;
        if after != before {
            if let Err(e) = self.persist() {
                tracing::warn!(error = %e, "the retry counter could not be saved");
                self.session.auth_pin_verified &= ef != Ef::AuthPin;
                self.session.attributes_pin_verified &= ef != Ef::AttributesPin;
                self.session.sign_password_verified &= ef != Ef::SignPassword;
                return status(SW_MEMORY_FAILURE);
            }
        }
        if ok {
            status(StatusWord::OK)
        } else {
            status(tries_left(after))
        }
    }

    fn sign(&mut self, c: &Command) -> Response {
        if (c.p1, c.p2) != ap::P1_P2_SIGN {
            return status(StatusWord::WRONG_P1_P2);
        }
        let (Some(ef), Some(contents)) = (self.session.ef, &self.contents) else {
            return status(StatusWord::COMMAND_NOT_ALLOWED);
        };
        match ef {
            Ef::AuthKey if self.session.auth_pin_verified => {}
            // The signing key would need the signing password; this card holds none.
            Ef::AuthKey | Ef::SignKey => return status(StatusWord::SECURITY_NOT_SATISFIED),
            _ => return status(SW_INCOMPATIBLE_FILE),
        }
        if c.le.is_some_and(|le| le < 256) {
            return status(StatusWord::WRONG_LENGTH);
        }
        if !is_digest_info(&c.data) {
            return status(StatusWord::WRONG_DATA);
        }
        match contents
            .file
            .auth_key()
            .sign(rsa::Pkcs1v15Sign::new_unprefixed(), &c.data)
        {
            Ok(signature) => Response::new(signature, StatusWord::OK),
            Err(_) => status(StatusWord::UNKNOWN_ERROR),
        }
    }

    /// Writes the counters back to the card file, for a card opened from one.
    fn persist(&self) -> Result<(), EmuError> {
        match (&self.path, &self.contents) {
            (Some(path), Some(contents)) => contents.file.save(path),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for SoftCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftCard")
            .field("contents", &self.contents.as_ref().map(|c| &c.file))
            .field("path", &self.path)
            .field("session", &self.session)
            .finish()
    }
}

fn status(sw: StatusWord) -> Response {
    Response::new(Vec::new(), sw)
}

/// `63 Cx`.
fn tries_left(n: u8) -> StatusWord {
    StatusWord::new(0x63, 0xC0 | (n & 0x0F))
}

/// Whether `data` has the shape of a DER DigestInfo that a 2048-bit PKCS#1 v1.5 signature can
/// hold: `SEQUENCE { SEQUENCE { OID, [NULL] }, OCTET STRING (1–64 bytes) }`.
fn is_digest_info(data: &[u8]) -> bool {
    fn shape(data: &[u8]) -> Option<()> {
        let (body, rest) = der_element(data, 0x30)?;
        if !rest.is_empty() {
            return None;
        }
        let (algorithm, rest) = der_element(body, 0x30)?;
        let (digest, rest) = der_element(rest, 0x04)?;
        if !rest.is_empty() || digest.is_empty() || digest.len() > 64 {
            return None;
        }
        let (oid, params) = der_element(algorithm, 0x06)?;
        if oid.is_empty() || !(params.is_empty() || params == [0x05, 0x00]) {
            return None;
        }
        Some(())
    }
    data.len() <= MAX_DIGEST_INFO_LEN && shape(data).is_some()
}

/// One DER element with the tag expected: its content and what follows. Lengths in short form or
/// `81 xx` (enough for a DigestInfo).
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0x00..=0x7F => (usize::from(first), rest),
        0x81 => {
            let (&len, rest) = rest.split_first()?;
            (len >= 0x80).then_some((usize::from(len), rest))?
        }
        _ => return None,
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::test_card;

    /// Sends hex, returns hex (spaces ignored on the way in, none on the way out).
    fn tx(card: &mut SoftCard, apdu: &str) -> String {
        let bytes = hex::decode(apdu.replace(' ', "")).unwrap();
        hex::encode_upper(card.process(&bytes))
    }

    fn sw(card: &mut SoftCard, apdu: &str) -> String {
        let r = tx(card, apdu);
        r[r.len() - 4..].to_owned()
    }

    const SELECT_JPKI: &str = "00A4040C0AD392F000260100000001";
    const SELECT_ATTRIBUTES: &str = "00A4040C0AD3921000310001010408";
    const PIN_OK: &str = "002000800431323334";
    const PIN_BAD: &str = "002000800439393939";
    const ATTR_PIN_OK: &str = "002000800435363738";
    /// SHA-256 DigestInfo of "abc".
    const DIGEST_INFO: &str = "3031300d060960864801650304020105000420\
        ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn card() -> SoftCard {
        SoftCard::in_memory(test_card::card_file())
    }

    #[test]
    fn select() {
        let mut c = card();
        assert_eq!(sw(&mut c, "00A4020C020018"), "6A82", "EF before any AP");
        assert_eq!(sw(&mut c, SELECT_JPKI), "9000");
        assert_eq!(sw(&mut c, "00A4040C0AD392F000260100000002"), "6A82");
        assert_eq!(sw(&mut c, "00A4040C"), "6700");
        assert_eq!(sw(&mut c, "00A4020C02000A"), "9000");
        assert_eq!(sw(&mut c, "00A4020C020099"), "6A82");
        assert_eq!(sw(&mut c, "00A4020C0100"), "6700");
        assert_eq!(sw(&mut c, "00A4020C03000A00"), "6700");
        assert_eq!(sw(&mut c, "00A4000C02000A"), "6A86");
        assert_eq!(sw(&mut c, "00A4020002000A"), "6A86");
        // The attributes AP's EFs are not the JPKI AP's.
        assert_eq!(sw(&mut c, "00A4020C020011"), "6A82");
        assert_eq!(sw(&mut c, SELECT_ATTRIBUTES), "9000");
        assert_eq!(sw(&mut c, "00A4020C020011"), "9000");
        assert_eq!(sw(&mut c, "00A4020C020002"), "9000");
        assert_eq!(sw(&mut c, "00A4020C020018"), "6A82");
    }

    #[test]
    fn read_binary() {
        let file = test_card::card_file();
        let cert = file.auth_certificate_der().to_vec();
        let mut c = SoftCard::in_memory(file);
        assert_eq!(sw(&mut c, "00B0000004"), "6986", "no AP");
        sw(&mut c, SELECT_JPKI);
        assert_eq!(sw(&mut c, "00B0000004"), "6986", "no EF");
        sw(&mut c, "00A4020C02000A");
        let head = tx(&mut c, "00B0000004");
        assert_eq!(head, format!("{}9000", hex::encode_upper(&cert[..4])));
        // Le 00 is 256 bytes.
        assert_eq!(c.process(&hex::decode("00B0000000").unwrap()).len(), 258);
        // Reading past the end returns what is there, with 62 82.
        let last = cert.len() - 10;
        let [hi, lo] = u16::try_from(last).unwrap().to_be_bytes();
        let r = c.process(&[0, 0xB0, hi, lo, 0x20]);
        assert_eq!(&r[..10], &cert[last..]);
        assert_eq!(&r[10..], [0x62, 0x82]);
        // At or beyond the end: 6B 00.
        let [hi, lo] = u16::try_from(cert.len()).unwrap().to_be_bytes();
        assert_eq!(c.process(&[0, 0xB0, hi, lo, 1]), [0x6B, 0x00]);
        assert_eq!(sw(&mut c, "00B07FFF01"), "6B00");
        // The whole certificate in one extended READ BINARY.
        let r = c.process(&[0, 0xB0, 0, 0, 0, 0, 0]);
        assert_eq!(&r[..r.len() - 2], cert.as_slice());
        assert_eq!(&r[r.len() - 2..], [0x62, 0x82]);
        // No Le, or data: 67 00.
        assert_eq!(sw(&mut c, "00B00000"), "6700");
        assert_eq!(sw(&mut c, "00B000000100"), "6700");
        // Keys and PINs are not readable.
        for ef in ["0017", "0018", "001A", "001B", "0001"] {
            sw(&mut c, &format!("00A4020C02{ef}"));
            assert_eq!(sw(&mut c, "00B0000001"), "6982", "EF {ef}");
        }
        // A short EF identifier: 8A is EF 000A, offset in P2; it becomes the current EF.
        assert_eq!(
            tx(&mut c, "00B08A0204"),
            format!("{}9000", hex::encode_upper(&cert[2..6]))
        );
        assert_eq!(sw(&mut c, "00B0000001"), "9000");
        assert_eq!(sw(&mut c, "00B0990001"), "6A82");
        assert_eq!(sw(&mut c, "00B0E00001"), "6A86");
    }

    #[test]
    fn attributes_behind_their_pin_and_no_my_number() {
        let file = test_card::card_file();
        let expected = onshi_card::tlv::encode_attributes(file.attributes());
        let mut c = SoftCard::in_memory(file);
        sw(&mut c, SELECT_ATTRIBUTES);
        sw(&mut c, "00A4020C020002");
        assert_eq!(sw(&mut c, "00B0000000"), "6982");
        assert_eq!(
            sw(&mut c, "00A4020C020001"),
            "9000",
            "the My Number EF exists"
        );
        assert_eq!(sw(&mut c, "00B0000000"), "6982");
        sw(&mut c, "00A4020C020011");
        assert_eq!(sw(&mut c, "0020008004313233"), "6700");
        assert_eq!(sw(&mut c, PIN_OK), "63C2", "the JPKI PIN is not this one");
        assert_eq!(sw(&mut c, ATTR_PIN_OK), "9000");
        assert_eq!(sw(&mut c, "00200080"), "63C3");
        sw(&mut c, "00A4020C020002");
        let r = c.process(&hex::decode("00B0000000").unwrap());
        let n = expected.len().min(256);
        assert_eq!(&r[..n], &expected[..n]);
        // Verified, the My Number EF still gives nothing: the card holds none.
        sw(&mut c, "00A4020C020001");
        assert_eq!(sw(&mut c, "00B0000000"), "6985");
        assert_eq!(sw(&mut c, "00B0810000"), "6985");
        // A new SELECT of the AP forgets the PIN.
        sw(&mut c, SELECT_ATTRIBUTES);
        sw(&mut c, "00A4020C020002");
        assert_eq!(sw(&mut c, "00B0000000"), "6982");
    }

    #[test]
    fn verify_counts_and_blocks() {
        let mut c = card();
        sw(&mut c, SELECT_JPKI);
        assert_eq!(sw(&mut c, PIN_OK), "6986", "no EF");
        sw(&mut c, "00A4020C02000A");
        assert_eq!(sw(&mut c, PIN_OK), "6981", "not a PIN EF");
        sw(&mut c, "00A4020C020018");
        assert_eq!(sw(&mut c, "00200080"), "63C3");
        assert_eq!(sw(&mut c, "00200081"), "6A86");
        assert_eq!(sw(&mut c, "0020008005313233343F"), "6700");
        assert_eq!(sw(&mut c, PIN_BAD), "63C2");
        assert_eq!(sw(&mut c, PIN_BAD), "63C1");
        assert_eq!(sw(&mut c, PIN_OK), "9000");
        assert_eq!(
            sw(&mut c, "00200080"),
            "63C3",
            "status after a correct VERIFY"
        );
        assert_eq!(sw(&mut c, PIN_BAD), "63C2");
        assert_eq!(sw(&mut c, PIN_BAD), "63C1");
        assert_eq!(sw(&mut c, PIN_BAD), "63C0");
        assert_eq!(sw(&mut c, PIN_OK), "6984");
        assert_eq!(sw(&mut c, PIN_BAD), "6984");
        assert_eq!(sw(&mut c, "0020008003313233"), "6984");
        assert_eq!(sw(&mut c, "00200080"), "63C0");
        assert_eq!(c.card_file().unwrap().auth_pin_tries_left(), 0);
        c.reset();
        sw(&mut c, SELECT_JPKI);
        sw(&mut c, "00A4020C020018");
        assert_eq!(sw(&mut c, PIN_OK), "6984", "blocked across a power cycle");
    }

    #[test]
    fn sign_password_status_only() {
        let mut c = card();
        sw(&mut c, SELECT_JPKI);
        sw(&mut c, "00A4020C02001B");
        assert_eq!(sw(&mut c, "00200080"), "63C5");
        assert_eq!(sw(&mut c, "0020008006414243444546"), "6982");
        assert_eq!(sw(&mut c, "00200080"), "63C5", "no try taken");
        sw(&mut c, "00A4020C02001A");
        assert_eq!(sw(&mut c, &format!("802A008033{DIGEST_INFO}00")), "6982");
    }

    #[test]
    fn sign() {
        let file = test_card::card_file();
        let public = file.auth_key().to_public_key();
        let mut c = SoftCard::in_memory(file);
        let sign = format!("802A008033{DIGEST_INFO}00");
        assert_eq!(sw(&mut c, &sign), "6986");
        sw(&mut c, SELECT_JPKI);
        sw(&mut c, "00A4020C020017");
        assert_eq!(sw(&mut c, &sign), "6982", "PIN not verified");
        sw(&mut c, "00A4020C020018");
        assert_eq!(sw(&mut c, PIN_OK), "9000");
        assert_eq!(sw(&mut c, &sign), "6981", "the PIN EF cannot sign");
        sw(&mut c, "00A4020C020017");
        assert_eq!(sw(&mut c, &format!("802A008133{DIGEST_INFO}00")), "6A86");
        let r = c.process(&hex::decode(&sign).unwrap());
        assert_eq!(r.len(), 258);
        assert_eq!(&r[256..], [0x90, 0x00]);
        let digest_info = hex::decode(DIGEST_INFO).unwrap();
        public
            .verify(rsa::Pkcs1v15Sign::new_unprefixed(), &digest_info, &r[..256])
            .unwrap();
        // Case 3 (no Le) and extended Le are answered too.
        let r = c.process(&hex::decode(format!("802A008033{DIGEST_INFO}")).unwrap());
        assert_eq!(&r[256..], [0x90, 0x00]);
        let r = c.process(&hex::decode(format!("802A0080000033{DIGEST_INFO}0000")).unwrap());
        assert_eq!(&r[256..], [0x90, 0x00]);
        // Not a DigestInfo.
        assert_eq!(sw(&mut c, "802A0080040102030400"), "6A80");
        let long = format!("802A008000010030{}0000", "00".repeat(0xFF));
        assert_eq!(sw(&mut c, &long), "6A80");
        // Le below the signature's length.
        assert_eq!(sw(&mut c, &format!("802A008033{DIGEST_INFO}80")), "6700");
        // A power cycle forgets the PIN.
        c.reset();
        sw(&mut c, SELECT_JPKI);
        sw(&mut c, "00A4020C020017");
        assert_eq!(sw(&mut c, &sign), "6982");
    }

    #[test]
    fn classes_instructions_and_malformed() {
        let mut c = card();
        assert_eq!(sw(&mut c, "00"), "6700");
        assert_eq!(sw(&mut c, "00A4040C05D392"), "6700");
        assert_eq!(sw(&mut c, "00A4040C0AD392F00026010000000100FF"), "6700");
        assert_eq!(sw(&mut c, "00CA000000"), "6D00");
        assert_eq!(sw(&mut c, "A0A4040C0AD392F000260100000001"), "6E00");
        assert_eq!(sw(&mut c, "80A4040C0AD392F000260100000001"), "6E00");
        assert_eq!(sw(&mut c, "002A008001FF"), "6E00");
        assert_eq!(sw(&mut c, "01A4040C0AD392F000260100000001"), "6881");
        assert_eq!(sw(&mut c, "0CA4040C0AD392F000260100000001"), "6882");
        // Extended Lc is accepted.
        assert_eq!(sw(&mut c, "00A4040C00000AD392F000260100000001"), "9000");
    }

    #[test]
    fn foreign_card() {
        let mut c = SoftCard::foreign();
        assert_eq!(c.atr(), FOREIGN_CARD_ATR);
        assert_eq!(sw(&mut c, SELECT_JPKI), "6A82");
        assert_eq!(sw(&mut c, SELECT_ATTRIBUTES), "6A82");
        assert_eq!(sw(&mut c, "00A4020C02000A"), "6A82");
        assert_eq!(sw(&mut c, "00B0000000"), "6986");
        assert_eq!(sw(&mut c, "00200080"), "6986");
        assert!(c.card_file().is_none());
        assert_eq!(card().atr(), MY_NUMBER_CARD_ATR);
    }

    #[test]
    fn counters_persist_and_a_failed_save_is_65_81() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        test_card::card_file().save(&path).unwrap();
        let mut c = SoftCard::open(&path).unwrap();
        sw(&mut c, SELECT_JPKI);
        sw(&mut c, "00A4020C020018");
        assert_eq!(sw(&mut c, PIN_BAD), "63C2");
        assert_eq!(CardFile::load(&path).unwrap().auth_pin_tries_left(), 2);
        let saved = std::fs::read(&path).unwrap();
        // A VERIFY that does not change the counter does not write.
        assert_eq!(sw(&mut c, "00200080"), "63C2");
        assert_eq!(std::fs::read(&path).unwrap(), saved);
        assert_eq!(sw(&mut c, PIN_OK), "9000");
        assert_eq!(CardFile::load(&path).unwrap().auth_pin_tries_left(), 3);
        // The directory gone: the save fails, the card says so and counts the try anyway.
        drop(dir);
        assert_eq!(sw(&mut c, PIN_BAD), "6581");
        assert_eq!(c.card_file().unwrap().auth_pin_tries_left(), 2);
        sw(&mut c, "00A4020C020017");
        assert_eq!(sw(&mut c, &format!("802A008033{DIGEST_INFO}00")), "6982");
    }

    #[test]
    fn digest_info_shapes() {
        let good = hex::decode(DIGEST_INFO).unwrap();
        assert!(is_digest_info(&good));
        // Without the NULL parameters.
        let mut no_null =
            hex::decode("302f300b0609608648016503040201 0420".replace(' ', "")).unwrap();
        no_null.extend_from_slice(&good[19..]);
        assert!(is_digest_info(&no_null));
        for cut in 0..good.len() {
            assert!(!is_digest_info(&good[..cut]), "truncated at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(!is_digest_info(&trailing));
        let mut bad_tag = good.clone();
        bad_tag[17] = 0x05;
        assert!(!is_digest_info(&bad_tag));
        assert!(!is_digest_info(&[0x30, 0x80, 0, 0]));
    }
}
