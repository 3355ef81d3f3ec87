//! The high-level client: the few things onshi asks of a My Number card, each one a complete
//! exchange that selects the applet and EF it needs (the card may have been reset, or another
//! applet selected, since the last call).
//!
//! Certificates and the attributes container are read with READ BINARY in chunks of at most
//! [`MAX_SHORT_LE`](crate::ap::MAX_SHORT_LE) bytes, the total length taken from the DER or BER
//! header of the first bytes ([`tlv::der_total_length`]). The My Number itself (EF 0001 of the
//! 券面事項入力補助AP) is never selected: the EFs the client may select are a closed list, and the
//! one function that selects an EF refuses `00 01`.

use zeroize::Zeroizing;

use crate::ap::{self, attributes, jpki};
use crate::apdu::{Command, Response};
use crate::error::CardError;
use crate::pin::Pin;
use crate::status::StatusWord;
use crate::tlv::{self, Attributes, TlvError};
use crate::transport::Transport;

/// The longest DigestInfo an RSA-2048 key signs with PKCS#1 v1.5 (256 − 11 bytes).
pub const MAX_DIGEST_INFO_LEN: usize = 245;

/// The DER header of a SHA-256 DigestInfo (RFC 8017 §9.2, note 1): the 32-byte digest follows.
pub const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Le of the first READ BINARY of an element: a certificate's `30 82 xx xx`. A longer header
/// (the attributes container's `FF 20 82 xx xx`) is completed by further reads.
const HEADER_PROBE_LEN: u32 = 4;

/// The largest element read: the last READ BINARY must start at an offset P1 P2 can carry.
/// (Certificates are under 2 KB; the attributes container is smaller.)
const MAX_ELEMENT_LEN: usize = ap::MAX_READ_BINARY_OFFSET as usize + 1;

/// Le of COMPUTE DIGITAL SIGNATURE: 256 (written `00`), an RSA-2048 signature.
const SIGNATURE_LE: u32 = 256;

/// GET RESPONSE rounds accepted after one command (`61 xx`): 64 KiB at 256 bytes a round.
const MAX_GET_RESPONSE_ROUNDS: usize = 256;

/// The DigestInfo of a SHA-256 digest, what [`Client::sign_with_auth_key`] expects.
pub fn sha256_digest_info(digest: &[u8; 32]) -> Vec<u8> {
    [&SHA256_DIGEST_INFO_PREFIX[..], digest].concat()
}

/// A My Number card behind a [`Transport`]: a PC/SC reader or the software card.
#[derive(Debug)]
pub struct Client<T: Transport> {
    transport: T,
}

impl<T: Transport> Client<T> {
    /// A client talking through `transport`.
    pub fn new(transport: T) -> Self {
        Self { transport }
    }

    /// The transport back (to disconnect it, or to inspect a test double).
    pub fn into_inner(self) -> T {
        self.transport
    }

    /// The transport, e.g. to take the software card out in a test.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The 利用者証明用電子証明書 (DER), readable without PIN.
    pub fn read_auth_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        self.read_jpki_certificate(Ef::AuthCert)
    }

    /// The certificate (DER) of the CA that issued the authentication certificate.
    pub fn read_auth_ca_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        self.read_jpki_certificate(Ef::AuthCaCert)
    }

    /// Tries left of the authentication PIN (0 when blocked), asked without sending a PIN.
    pub fn auth_pin_tries_left(&mut self) -> Result<u8, CardError> {
        self.tries_left(Ef::AuthPin)
    }

    /// Tries left of the signing password (0 when blocked). onshi never sends that password.
    pub fn signing_password_tries_left(&mut self) -> Result<u8, CardError> {
        self.tries_left(Ef::SignPassword)
    }

    /// Verifies the authentication PIN, unlocking [`Client::sign_with_auth_key`].
    ///
    /// A wrong PIN is [`CardError::WrongPin`] with the tries left, or [`CardError::PinBlocked`]
    /// when it was the last one.
    pub fn verify_auth_pin(&mut self, pin: &Pin) -> Result<(), CardError> {
        self.select_applet(Applet::Jpki)?;
        self.select_ef(Ef::AuthPin)?;
        self.verify(pin, "VERIFY authentication PIN")
    }

    /// Has the authentication key sign `digest_info` (a DER DigestInfo, e.g. from
    /// [`sha256_digest_info`]); returns the RSA PKCS#1 v1.5 signature.
    ///
    /// Must follow [`Client::verify_auth_pin`] with no other call in between: it selects the key
    /// EF within the JPKI applet verified, not the applet again (which could drop the
    /// verification). A card reset or another applet selected since is
    /// [`CardError::PinNotVerified`]. [`Client::verify_and_sign`] does both in one call.
    pub fn sign_with_auth_key(&mut self, digest_info: &[u8]) -> Result<Vec<u8>, CardError> {
        check_digest_info(digest_info)?;
        match self.select_ef(Ef::AuthKey) {
            // The key EF exists in the JPKI applet: failing to select it means that applet is
            // no longer the current one, and its PIN verification went with it.
            Err(CardError::Status { .. }) => return Err(CardError::PinNotVerified),
            other => other?,
        }
        let during = "COMPUTE DIGITAL SIGNATURE";
        let (p1, p2) = ap::P1_P2_SIGN;
        let command = Command::new(
            ap::CLA_PROPRIETARY,
            ap::INS_COMPUTE_DIGITAL_SIGNATURE,
            p1,
            p2,
            digest_info.to_vec(),
        )
        .with_le(SIGNATURE_LE);
        let response = self.exchange(&command, during)?;
        match response.sw {
            StatusWord::OK if response.data.is_empty() => {
                Err(CardError::Malformed("empty signature".to_owned()))
            }
            StatusWord::OK => Ok(response.data),
            StatusWord::SECURITY_NOT_SATISFIED => Err(CardError::PinNotVerified),
            sw if sw.is_blocked() => Err(CardError::PinBlocked),
            sw => Err(CardError::Status { sw, during }),
        }
    }

    /// [`Client::verify_auth_pin`] then [`Client::sign_with_auth_key`], in one call.
    pub fn verify_and_sign(&mut self, pin: &Pin, digest_info: &[u8]) -> Result<Vec<u8>, CardError> {
        check_digest_info(digest_info)?;
        self.verify_auth_pin(pin)?;
        self.sign_with_auth_key(digest_info)
    }

    /// The four attributes printed on the card, behind the 券面事項入力補助AP's own PIN.
    pub fn read_attributes(&mut self, pin: &Pin) -> Result<Attributes, CardError> {
        self.select_applet(Applet::Attributes)?;
        self.select_ef(Ef::AttributesPin)?;
        self.verify(pin, "VERIFY attributes PIN")?;
        self.select_ef(Ef::Attributes)?;
        let container = self.read_element()?;
        Ok(tlv::parse_attributes(&container)?)
    }

    /// Selects the JPKI applet and `ef`, then reads the certificate it holds.
    fn read_jpki_certificate(&mut self, ef: Ef) -> Result<Vec<u8>, CardError> {
        self.select_applet(Applet::Jpki)?;
        self.select_ef(ef)?;
        self.read_element()
    }

    /// The tries left of the PIN in `ef` of the JPKI applet: VERIFY without data.
    fn tries_left(&mut self, ef: Ef) -> Result<u8, CardError> {
        self.select_applet(Applet::Jpki)?;
        self.select_ef(ef)?;
        let during = "VERIFY (tries left)";
        let command = Command::new(
            ap::CLA_ISO,
            ap::INS_VERIFY,
            ap::P1_VERIFY,
            ap::P2_VERIFY_SELECTED_EF,
            Vec::new(),
        );
        let sw = self.exchange(&command, during)?.sw;
        match sw.tries_left() {
            Some(n) => Ok(n),
            None if sw.is_blocked() => Ok(0),
            None => Err(CardError::Status { sw, during }),
        }
    }

    /// VERIFY of the PIN of the selected EF.
    fn verify(&mut self, pin: &Pin, during: &'static str) -> Result<(), CardError> {
        // The command's data is wiped when it is dropped, the encoded bytes in `transmit`.
        let command = Command::new(
            ap::CLA_ISO,
            ap::INS_VERIFY,
            ap::P1_VERIFY,
            ap::P2_VERIFY_SELECTED_EF,
            pin.as_bytes().to_vec(),
        );
        let sw = self.exchange(&command, during)?.sw;
        if sw.is_ok() {
            return Ok(());
        }
        if sw.is_blocked() {
            return Err(CardError::PinBlocked);
        }
        match sw.tries_left() {
            Some(tries_left) => Err(CardError::WrongPin { tries_left }),
            None => Err(CardError::Status { sw, during }),
        }
    }

    /// SELECT of an applet by AID. A card that does not know it is not a My Number card.
    fn select_applet(&mut self, applet: Applet) -> Result<(), CardError> {
        let during = applet.select_label();
        let command = Command::new(
            ap::CLA_ISO,
            ap::INS_SELECT,
            ap::P1_SELECT_BY_AID,
            ap::P2_NO_RESPONSE,
            applet.aid().to_vec(),
        );
        match self.exchange(&command, during)?.sw {
            StatusWord::OK => Ok(()),
            sw if means_no_such_applet(sw) => Err(CardError::NotMyNumberCard),
            sw => Err(CardError::Status { sw, during }),
        }
    }

    /// SELECT of an EF of the current applet: the only function that selects EFs.
    fn select_ef(&mut self, ef: Ef) -> Result<(), CardError> {
        let id = ef.id();
        refuse_my_number(id)?;
        let during = ef.select_label();
        let command = Command::new(
            ap::CLA_ISO,
            ap::INS_SELECT,
            ap::P1_SELECT_EF,
            ap::P2_NO_RESPONSE,
            id.to_vec(),
        );
        match self.exchange(&command, during)?.sw {
            StatusWord::OK => Ok(()),
            sw => Err(CardError::Status { sw, during }),
        }
    }

    /// Reads the DER or BER element the selected EF starts with, exactly (what follows it in the
    /// file is not read).
    fn read_element(&mut self) -> Result<Vec<u8>, CardError> {
        let mut element = Vec::new();
        let total = loop {
            match tlv::der_total_length(&element) {
                Ok(total) => break total,
                Err(TlvError::Truncated(_)) if element.len() < tlv::MAX_HEADER_LEN => {
                    self.read_binary_into(&mut element, HEADER_PROBE_LEN)?;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if total > MAX_ELEMENT_LEN {
            return Err(CardError::Malformed(format!(
                "an element of {total} bytes (at most {MAX_ELEMENT_LEN} are read)"
            )));
        }
        while element.len() < total {
            let left = u32::try_from(total - element.len()).unwrap_or(u32::MAX);
            self.read_binary_into(&mut element, left.min(ap::MAX_SHORT_LE))?;
        }
        // The header probe may have read past a very short element.
        element.truncate(total);
        Ok(element)
    }

    /// One READ BINARY at the offset `buffer.len()`, appending what comes back (which may be
    /// fewer than `le` bytes: the next read goes on from there).
    fn read_binary_into(&mut self, buffer: &mut Vec<u8>, le: u32) -> Result<(), CardError> {
        let during = "READ BINARY";
        let offset = u16::try_from(buffer.len())
            .ok()
            .filter(|o| *o <= ap::MAX_READ_BINARY_OFFSET)
            .ok_or_else(|| {
                CardError::Malformed(format!("offset {} beyond 15 bits", buffer.len()))
            })?;
        let [p1, p2] = offset.to_be_bytes();
        let command =
            Command::new(ap::CLA_ISO, ap::INS_READ_BINARY, p1, p2, Vec::new()).with_le(le);
        let response = self.exchange(&command, during)?;
        match response.sw {
            StatusWord::OK | StatusWord::END_OF_FILE => {}
            StatusWord::SECURITY_NOT_SATISFIED => return Err(CardError::PinNotVerified),
            sw => return Err(CardError::Status { sw, during }),
        }
        if response.data.is_empty() {
            return Err(CardError::Malformed(format!(
                "the file ends after {offset} bytes, before the element does"
            )));
        }
        if response.data.len() > usize::try_from(le).unwrap_or(usize::MAX) {
            return Err(CardError::Malformed(format!(
                "{} bytes in answer to Le {le}",
                response.data.len()
            )));
        }
        buffer.extend_from_slice(&response.data);
        Ok(())
    }

    /// Sends `command` and returns the complete answer: a `6C xx` (wrong Le) is answered by
    /// sending the command again with Le `xx`, and `61 xx` (more to come) by GET RESPONSE.
    fn exchange(&mut self, command: &Command, during: &'static str) -> Result<Response, CardError> {
        let mut response = self.transmit(command)?;
        if let (Some(le), Some(_)) = (response.sw.exact_le(), command.le) {
            response = self.transmit(&command.clone().with_le(le))?;
        }
        let mut rounds = 0;
        while let Some(le) = response.sw.bytes_remaining() {
            rounds += 1;
            if rounds > MAX_GET_RESPONSE_ROUNDS {
                return Err(CardError::Malformed(format!(
                    "more than {MAX_GET_RESPONSE_ROUNDS} GET RESPONSE rounds after {during}"
                )));
            }
            let (p1, p2) = ap::P1_P2_GET_RESPONSE;
            let get =
                Command::new(ap::CLA_ISO, ap::INS_GET_RESPONSE, p1, p2, Vec::new()).with_le(le);
            let more = self.transmit(&get)?;
            response.data.extend_from_slice(&more.data);
            response.sw = more.sw;
        }
        Ok(response)
    }

    /// One exchange on the transport. The encoded command (it may hold a PIN) is wiped after.
    fn transmit(&mut self, command: &Command) -> Result<Response, CardError> {
        let bytes = Zeroizing::new(command.encode()?);
        let answer = self.transport.transmit(&bytes)?;
        Ok(Response::parse(&answer)?)
    }
}

/// The applets the client selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applet {
    /// 公的個人認証AP.
    Jpki,
    /// 券面事項入力補助AP.
    Attributes,
}

impl Applet {
    fn aid(self) -> &'static [u8] {
        match self {
            Self::Jpki => &jpki::AID,
            Self::Attributes => &attributes::AID,
        }
    }

    fn select_label(self) -> &'static str {
        match self {
            Self::Jpki => "SELECT JPKI applet",
            Self::Attributes => "SELECT attributes applet",
        }
    }
}

/// Every EF the client may select: a closed list without the My Number (or the signing
/// certificate, which onshi has no use for either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ef {
    AuthCert,
    AuthCaCert,
    AuthKey,
    AuthPin,
    SignPassword,
    AttributesPin,
    Attributes,
}

impl Ef {
    /// All of them, for tests.
    #[cfg(test)]
    const ALL: [Self; 7] = [
        Self::AuthCert,
        Self::AuthCaCert,
        Self::AuthKey,
        Self::AuthPin,
        Self::SignPassword,
        Self::AttributesPin,
        Self::Attributes,
    ];

    /// The applet it belongs to.
    #[cfg(test)]
    fn applet(self) -> Applet {
        match self {
            Self::AttributesPin | Self::Attributes => Applet::Attributes,
            _ => Applet::Jpki,
        }
    }

    fn id(self) -> [u8; 2] {
        match self {
            Self::AuthCert => jpki::EF_AUTH_CERT,
            Self::AuthCaCert => jpki::EF_AUTH_CA_CERT,
            Self::AuthKey => jpki::EF_AUTH_KEY,
            Self::AuthPin => jpki::EF_AUTH_PIN,
            Self::SignPassword => jpki::EF_SIGN_PASSWORD,
            Self::AttributesPin => attributes::EF_PIN,
            Self::Attributes => attributes::EF_ATTRIBUTES,
        }
    }

    fn select_label(self) -> &'static str {
        match self {
            Self::AuthCert => "SELECT EF 000A (authentication certificate)",
            Self::AuthCaCert => "SELECT EF 000B (authentication CA certificate)",
            Self::AuthKey => "SELECT EF 0017 (authentication key)",
            Self::AuthPin => "SELECT EF 0018 (authentication PIN)",
            Self::SignPassword => "SELECT EF 001B (signing password)",
            Self::AttributesPin => "SELECT EF 0011 (attributes PIN)",
            Self::Attributes => "SELECT EF 0002 (attributes)",
        }
    }
}

/// The guard: EF `00 01` is the My Number in the attributes applet (and the signing certificate
/// in the JPKI applet, which an applet mix-up would turn into the My Number). Never selected.
fn refuse_my_number(id: [u8; 2]) -> Result<(), CardError> {
    if id == attributes::EF_MY_NUMBER || id == jpki::EF_SIGN_CERT {
        return Err(CardError::Forbidden("SELECT EF 0001 (the My Number)"));
    }
    Ok(())
}

/// Answers to SELECT by AID from a card without that applet.
fn means_no_such_applet(sw: StatusWord) -> bool {
    [
        StatusWord::FILE_NOT_FOUND,
        StatusWord::WRONG_P1_P2,
        StatusWord::FUNCTION_NOT_SUPPORTED,
        StatusWord::WRONG_DATA,
        StatusWord::INS_NOT_SUPPORTED,
        StatusWord::CLA_NOT_SUPPORTED,
    ]
    .contains(&sw)
}

/// A DigestInfo an RSA-2048 key can sign: 1 to [`MAX_DIGEST_INFO_LEN`] bytes.
fn check_digest_info(digest_info: &[u8]) -> Result<(), CardError> {
    if digest_info.is_empty() || digest_info.len() > MAX_DIGEST_INFO_LEN {
        return Err(CardError::BadDigestInfo {
            len: digest_info.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::transport::TransportError;
    use std::collections::VecDeque;

    /// Bytes from `"00 A4 04 0C"`.
    fn h(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    type Answer = Result<Vec<u8>, TransportError>;

    /// Data and 90 00.
    fn ok(data: &[u8]) -> Answer {
        Ok([data, &[0x90, 0x00]].concat())
    }

    /// A status word alone.
    fn sw(sw: u16) -> Answer {
        Ok(sw.to_be_bytes().to_vec())
    }

    const SELECT_JPKI: &str = "00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01";
    const SELECT_ATTRIBUTES_AP: &str = "00 A4 04 0C 0A D3 92 10 00 31 00 01 01 04 08";

    fn select_ef(id: &str) -> String {
        format!("00 A4 02 0C 02 {id}")
    }

    /// A transport that expects exact commands, in order, and gives canned answers.
    #[derive(Default)]
    struct Script {
        steps: VecDeque<(Vec<u8>, Answer)>,
    }

    impl Script {
        fn then(mut self, command: &str, answer: Answer) -> Self {
            self.steps.push_back((h(command), answer));
            self
        }

        /// READ BINARY of `file` as the client should ask for it: a 4-byte probe, then chunks
        /// of at most 255 bytes.
        fn reads(mut self, file: &[u8]) -> Self {
            let mut offset = 0;
            let mut le = 4;
            while offset < file.len() {
                let end = (offset + le).min(file.len());
                let command = [
                    &[0x00, 0xB0][..],
                    &(offset as u16).to_be_bytes(),
                    &[le as u8],
                ]
                .concat();
                self.steps.push_back((command, ok(&file[offset..end])));
                offset = end;
                le = (file.len() - offset).min(255);
            }
            self
        }

        fn done(&self) {
            assert!(
                self.steps.is_empty(),
                "not sent: {:?}",
                self.steps.iter().map(|(c, _)| hex(c)).collect::<Vec<_>>()
            );
        }
    }

    impl Transport for Script {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
            let (expected, answer) = self
                .steps
                .pop_front()
                .unwrap_or_else(|| panic!("unexpected command {}", hex(command)));
            assert_eq!(hex(command), hex(&expected));
            answer
        }
    }

    fn run<R>(script: Script, f: impl FnOnce(&mut Client<Script>) -> R) -> R {
        let mut client = Client::new(script);
        let result = f(&mut client);
        client.into_inner().done();
        result
    }

    /// A DER element of `total` bytes: SEQUENCE with a long-form length, patterned content.
    fn certificate(total: usize) -> Vec<u8> {
        let content = total - 4;
        let mut der = vec![0x30, 0x82, (content >> 8) as u8, content as u8];
        der.extend((0..content).map(|i| (i * 7 % 251) as u8));
        der
    }

    fn pin() -> Pin {
        Pin::parse("1234").unwrap()
    }

    #[test]
    fn reads_a_1200_byte_certificate_in_chunks() {
        let cert = certificate(1200);
        assert_eq!(cert[..4], [0x30, 0x82, 0x04, 0xAC]);
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 0A"), sw(0x9000))
            .reads(&cert);
        // The reads, spelled out: offsets in P1 P2, Le at most FF.
        let reads: Vec<String> = script.steps.iter().skip(2).map(|(c, _)| hex(c)).collect();
        assert_eq!(
            reads,
            [
                "00 B0 00 00 04",
                "00 B0 00 04 FF",
                "00 B0 01 03 FF",
                "00 B0 02 02 FF",
                "00 B0 03 01 FF",
                "00 B0 04 00 B0",
            ]
        );
        let read = run(script, |c| c.read_auth_certificate()).unwrap();
        assert_eq!(read, cert);
    }

    #[test]
    fn reads_the_ca_certificate() {
        let cert = certificate(900);
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 0B"), sw(0x9000))
            .reads(&cert);
        assert_eq!(run(script, |c| c.read_auth_ca_certificate()).unwrap(), cert);
    }

    #[test]
    fn short_answers_and_end_of_file() {
        // A card that gives fewer bytes than asked (90 00 or 62 82): the client goes on from
        // where the answer ended, and stops at the element's end.
        let cert = certificate(300);
        let mut file = cert.clone();
        file.extend([0xFF; 20]); // Padding after the element, never read.
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 0A"), sw(0x9000))
            .then("00 B0 00 00 04", ok(&file[..2]))
            .then("00 B0 00 02 04", ok(&file[2..6]))
            .then("00 B0 00 06 FF", ok(&file[6..106]))
            .then(
                "00 B0 00 6A C2",
                Ok([&file[106..200], &[0x62, 0x82][..]].concat()),
            )
            .then("00 B0 00 C8 64", ok(&file[200..300]));
        assert_eq!(run(script, |c| c.read_auth_certificate()).unwrap(), cert);
    }

    #[test]
    fn a_file_shorter_than_its_element() {
        let cert = certificate(300);
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 0A"), sw(0x9000))
            .then("00 B0 00 00 04", ok(&cert[..4]))
            .then(
                "00 B0 00 04 FF",
                Ok([&cert[4..100], &[0x62, 0x82][..]].concat()),
            )
            .then("00 B0 00 64 C8", sw(0x6282));
        assert!(matches!(
            run(script, |c| c.read_auth_certificate()),
            Err(CardError::Malformed(_))
        ));
        // Or the card says the offset is past the end.
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 0A"), sw(0x9000))
            .then("00 B0 00 00 04", ok(&cert[..4]))
            .then(
                "00 B0 00 04 FF",
                Ok([&cert[4..100], &[0x62, 0x82][..]].concat()),
            )
            .then("00 B0 00 64 C8", sw(0x6B00));
        assert_eq!(
            run(script, |c| c.read_auth_certificate()),
            Err(CardError::Status {
                sw: StatusWord::WRONG_PARAMETERS,
                during: "READ BINARY"
            })
        );
    }

    #[test]
    fn malformed_answers() {
        let base = || {
            Script::default()
                .then(SELECT_JPKI, sw(0x9000))
                .then(&select_ef("00 0A"), sw(0x9000))
        };
        // No status word.
        let script = base().then("00 B0 00 00 04", Ok(vec![0x90]));
        assert_eq!(
            run(script, |c| c.read_auth_certificate()),
            Err(CardError::Apdu(crate::apdu::ApduError::Truncated(
                "status word"
            )))
        );
        // More than Le.
        let script = base().then("00 B0 00 00 04", ok(&[0x30, 0x82, 0x01, 0x00, 0x00]));
        assert!(matches!(
            run(script, |c| c.read_auth_certificate()),
            Err(CardError::Malformed(_))
        ));
        // Indefinite length: not DER.
        let script = base().then("00 B0 00 00 04", ok(&[0x30, 0x80, 0x01, 0x00]));
        assert_eq!(
            run(script, |c| c.read_auth_certificate()),
            Err(CardError::Tlv(TlvError::IndefiniteLength))
        );
        // An element too long to read with 15-bit offsets.
        let script = base()
            .then("00 B0 00 00 04", ok(&[0x30, 0x83, 0x01, 0x00]))
            .then("00 B0 00 04 04", ok(&[0x00, 0x00, 0x00]));
        assert!(matches!(
            run(script, |c| c.read_auth_certificate()),
            Err(CardError::Malformed(_))
        ));
        // An empty answer with 90 00 makes no progress.
        let script = base().then("00 B0 00 00 04", sw(0x9000));
        assert!(matches!(
            run(script, |c| c.read_auth_certificate()),
            Err(CardError::Malformed(_))
        ));
        // An empty signature.
        let script = Script::default()
            .then(&select_ef("00 17"), sw(0x9000))
            .then("80 2A 00 80 01 AA 00", sw(0x9000));
        assert!(matches!(
            run(script, |c| c.sign_with_auth_key(&[0xAA])),
            Err(CardError::Malformed(_))
        ));
    }

    #[test]
    fn card_removed_mid_read() {
        let cert = certificate(1200);
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 0A"), sw(0x9000))
            .then("00 B0 00 00 04", ok(&cert[..4]))
            .then("00 B0 00 04 FF", ok(&cert[4..259]))
            .then("00 B0 01 03 FF", Err(TransportError::CardRemoved));
        let err = run(script, |c| c.read_auth_certificate()).unwrap_err();
        assert_eq!(err, CardError::Transport(TransportError::CardRemoved));
        assert_eq!(err.message_ja(), TransportError::CardRemoved.message_ja());
    }

    #[test]
    fn not_a_my_number_card() {
        for answer in [0x6A82, 0x6A86, 0x6D00, 0x6E00] {
            let script = Script::default().then(SELECT_JPKI, sw(answer));
            assert_eq!(
                run(script, |c| c.read_auth_certificate()),
                Err(CardError::NotMyNumberCard)
            );
            let script = Script::default().then(SELECT_JPKI, sw(answer));
            assert_eq!(
                run(script, |c| c.auth_pin_tries_left()),
                Err(CardError::NotMyNumberCard)
            );
            let script = Script::default().then(SELECT_ATTRIBUTES_AP, sw(answer));
            assert_eq!(
                run(script, |c| c.read_attributes(&pin())),
                Err(CardError::NotMyNumberCard)
            );
        }
        // Anything else is reported as it is.
        let script = Script::default().then(SELECT_JPKI, sw(0x6F00));
        assert_eq!(
            run(script, |c| c.read_auth_certificate()),
            Err(CardError::Status {
                sw: StatusWord::UNKNOWN_ERROR,
                during: "SELECT JPKI applet"
            })
        );
    }

    #[test]
    fn tries_left() {
        let status = |answer: u16| {
            Script::default()
                .then(SELECT_JPKI, sw(0x9000))
                .then(&select_ef("00 18"), sw(0x9000))
                .then("00 20 00 80", sw(answer))
        };
        for (answer, tries) in [
            (0x63C3, 3),
            (0x63C1, 1),
            (0x63C0, 0),
            (0x6983, 0),
            (0x6984, 0),
        ] {
            assert_eq!(run(status(answer), |c| c.auth_pin_tries_left()), Ok(tries));
        }
        assert_eq!(
            run(status(0x9000), |c| c.auth_pin_tries_left()),
            Err(CardError::Status {
                sw: StatusWord::OK,
                during: "VERIFY (tries left)"
            })
        );
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 1B"), sw(0x9000))
            .then("00 20 00 80", sw(0x63C5));
        assert_eq!(run(script, |c| c.signing_password_tries_left()), Ok(5));
    }

    #[test]
    fn verify_pin() {
        let verify = |answer: u16| {
            Script::default()
                .then(SELECT_JPKI, sw(0x9000))
                .then(&select_ef("00 18"), sw(0x9000))
                .then("00 20 00 80 04 31 32 33 34", sw(answer))
        };
        assert_eq!(run(verify(0x9000), |c| c.verify_auth_pin(&pin())), Ok(()));
        assert_eq!(
            run(verify(0x63C2), |c| c.verify_auth_pin(&pin())),
            Err(CardError::WrongPin { tries_left: 2 })
        );
        assert_eq!(
            run(verify(0x63C1), |c| c.verify_auth_pin(&pin())),
            Err(CardError::WrongPin { tries_left: 1 })
        );
        for blocked in [0x63C0, 0x6983, 0x6984] {
            assert_eq!(
                run(verify(blocked), |c| c.verify_auth_pin(&pin())),
                Err(CardError::PinBlocked)
            );
        }
        assert!(matches!(
            run(verify(0x6A80), |c| c.verify_auth_pin(&pin())),
            Err(CardError::Status { .. })
        ));
    }

    #[test]
    fn sign() {
        let di = sha256_digest_info(&[0x11; 32]);
        assert_eq!(di.len(), 51);
        assert_eq!(
            hex(&di[..19]),
            "30 31 30 0D 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20"
        );
        let sign_command = format!("80 2A 00 80 33 {} 00", hex(&di));
        let signature = vec![0x5A; 256];
        let script = Script::default()
            .then(&select_ef("00 17"), sw(0x9000))
            .then(&sign_command, ok(&signature));
        assert_eq!(
            run(script, |c| c.sign_with_auth_key(&di)),
            Ok(signature.clone())
        );

        let script = Script::default()
            .then(&select_ef("00 17"), sw(0x9000))
            .then(&sign_command, sw(0x6982));
        assert_eq!(
            run(script, |c| c.sign_with_auth_key(&di)),
            Err(CardError::PinNotVerified)
        );
        // After a reset the key EF is not found: the verification is gone.
        let script = Script::default().then(&select_ef("00 17"), sw(0x6A82));
        assert_eq!(
            run(script, |c| c.sign_with_auth_key(&di)),
            Err(CardError::PinNotVerified)
        );
        // Nothing is sent for a DigestInfo the key cannot sign.
        for len in [0, 246] {
            assert_eq!(
                run(Script::default(), |c| c.sign_with_auth_key(&vec![0; len])),
                Err(CardError::BadDigestInfo { len })
            );
            assert_eq!(
                run(Script::default(), |c| c
                    .verify_and_sign(&pin(), &vec![0; len])),
                Err(CardError::BadDigestInfo { len })
            );
        }
        // Both in one call.
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 18"), sw(0x9000))
            .then("00 20 00 80 04 31 32 33 34", sw(0x9000))
            .then(&select_ef("00 17"), sw(0x9000))
            .then(&sign_command, ok(&signature));
        assert_eq!(
            run(script, |c| c.verify_and_sign(&pin(), &di)),
            Ok(signature)
        );
    }

    #[test]
    fn get_response_and_exact_le() {
        // T=0: the signature comes in two GET RESPONSE rounds.
        let di = sha256_digest_info(&[0; 32]);
        let signature: Vec<u8> = (0..=255).collect();
        let script = Script::default()
            .then(&select_ef("00 17"), sw(0x9000))
            .then(&format!("80 2A 00 80 33 {} 00", hex(&di)), sw(0x6100))
            .then(
                "00 C0 00 00 00",
                Ok([&signature[..200], &[0x61, 0x38][..]].concat()),
            )
            .then("00 C0 00 00 38", ok(&signature[200..]));
        assert_eq!(run(script, |c| c.sign_with_auth_key(&di)), Ok(signature));
        // 6C xx: asked again with the length the card wants.
        let script = Script::default()
            .then(SELECT_JPKI, sw(0x9000))
            .then(&select_ef("00 0A"), sw(0x9000))
            .then("00 B0 00 00 04", sw(0x6C03))
            .then("00 B0 00 00 03", ok(&[0x04, 0x01, 0xAA]));
        assert_eq!(
            run(script, |c| c.read_auth_certificate()),
            Ok(vec![0x04, 0x01, 0xAA])
        );
    }

    #[test]
    fn read_attributes() {
        let attributes = Attributes {
            name: "山田 太郎".to_owned(),
            address: "北海道札幌市中央区北一条西二丁目".to_owned(),
            birth: "19700101".to_owned(),
            sex: "1".to_owned(),
        };
        let container = tlv::encode_attributes(&attributes);
        let head = Script::default()
            .then(SELECT_ATTRIBUTES_AP, sw(0x9000))
            .then(&select_ef("00 11"), sw(0x9000));
        let script = head
            .then("00 20 00 80 04 31 32 33 34", sw(0x9000))
            .then(&select_ef("00 02"), sw(0x9000))
            .reads(&container);
        assert_eq!(run(script, |c| c.read_attributes(&pin())), Ok(attributes));

        // A wrong PIN stops there.
        let script = Script::default()
            .then(SELECT_ATTRIBUTES_AP, sw(0x9000))
            .then(&select_ef("00 11"), sw(0x9000))
            .then("00 20 00 80 04 31 32 33 34", sw(0x63C1));
        assert_eq!(
            run(script, |c| c.read_attributes(&pin())),
            Err(CardError::WrongPin { tries_left: 1 })
        );
        // Reading without verification.
        let script = Script::default()
            .then(SELECT_ATTRIBUTES_AP, sw(0x9000))
            .then(&select_ef("00 11"), sw(0x9000))
            .then("00 20 00 80 04 31 32 33 34", sw(0x9000))
            .then(&select_ef("00 02"), sw(0x9000))
            .then("00 B0 00 00 04", sw(0x6982));
        assert_eq!(
            run(script, |c| c.read_attributes(&pin())),
            Err(CardError::PinNotVerified)
        );
    }

    /// A card good enough to run every client method, recording every command.
    struct RecordingCard {
        log: Vec<Vec<u8>>,
        applet: Vec<u8>,
        file: Vec<u8>,
    }

    impl Transport for RecordingCard {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.log.push(command.to_vec());
            let c = Command::parse(command).unwrap();
            match (c.cla, c.ins, c.p1) {
                (0x00, 0xA4, 0x04) => {
                    self.applet = c.data.clone();
                    sw(0x9000)
                }
                (0x00, 0xA4, 0x02) => {
                    self.file = if self.applet == attributes::AID {
                        tlv::encode_attributes(&Attributes {
                            name: "a".into(),
                            address: "b".into(),
                            birth: "20000101".into(),
                            sex: "9".into(),
                        })
                    } else {
                        certificate(600)
                    };
                    sw(0x9000)
                }
                (0x00, 0x20, _) if c.data.is_empty() => sw(0x63C3),
                (0x00, 0x20, _) => sw(0x9000),
                (0x00, 0xB0, _) => {
                    let offset = usize::from(u16::from_be_bytes([c.p1, c.p2]));
                    let le = c.le.unwrap() as usize;
                    let end = (offset + le).min(self.file.len());
                    ok(&self.file[offset..end])
                }
                (0x80, 0x2A, _) => ok(&[1; 256]),
                _ => sw(0x6D00),
            }
        }
    }

    #[test]
    fn the_my_number_is_never_selected() {
        let mut client = Client::new(RecordingCard {
            log: Vec::new(),
            applet: Vec::new(),
            file: Vec::new(),
        });
        let di = sha256_digest_info(&[0; 32]);
        client.read_auth_certificate().unwrap();
        client.read_auth_ca_certificate().unwrap();
        assert_eq!(client.auth_pin_tries_left(), Ok(3));
        assert_eq!(client.signing_password_tries_left(), Ok(3));
        client.verify_auth_pin(&pin()).unwrap();
        client.sign_with_auth_key(&di).unwrap();
        client.verify_and_sign(&pin(), &di).unwrap();
        assert_eq!(
            client.read_attributes(&pin()).unwrap().sex_ja(),
            Some("適用不能")
        );
        let log = client.into_inner().log;
        let mut applet = Vec::new();
        let mut selected_efs = Vec::new();
        for bytes in &log {
            let c = Command::parse(bytes).unwrap();
            if (c.cla, c.ins, c.p1) == (0x00, 0xA4, 0x04) {
                applet = c.data.clone();
            }
            if (c.cla, c.ins, c.p1) == (0x00, 0xA4, 0x02) {
                assert_ne!(c.data, [0x00, 0x01], "EF 0001 selected: {}", hex(bytes));
                selected_efs.push((applet == attributes::AID, hex(&c.data)));
            }
        }
        assert!(selected_efs.contains(&(true, "00 02".to_owned())));
        // The closed list of EFs, and the guard in the one function that selects them.
        for ef in Ef::ALL {
            assert_eq!(refuse_my_number(ef.id()), Ok(()), "{ef:?}");
            assert!(!(ef.applet() == Applet::Attributes && ef.id() == attributes::EF_MY_NUMBER));
        }
        assert!(matches!(
            refuse_my_number(attributes::EF_MY_NUMBER),
            Err(CardError::Forbidden(_))
        ));
    }
}
