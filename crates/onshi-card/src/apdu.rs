//! ISO 7816-4 command and response APDUs, short and extended length, parsed strictly: a
//! truncated or over-long input is an error, never a panic.

use zeroize::Zeroize;

/// Why bytes are not a valid APDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    /// Fewer bytes than the header (or the lengths) announce.
    #[error("APDU truncated: {0}")]
    Truncated(&'static str),
    /// More bytes than the lengths announce.
    #[error("APDU has {0} trailing bytes")]
    Trailing(usize),
    /// A length field that ISO 7816-4 does not allow (Lc = 0, extended Lc = 0, …).
    #[error("invalid length field: {0}")]
    BadLength(&'static str),
    /// Data too long to encode (more than 65535 bytes) or Le above 65536.
    #[error("too long to encode")]
    TooLong,
}

/// A command APDU. Its data is wiped from memory when dropped (it may hold a PIN).
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Lc bytes).
    pub data: Vec<u8>,
    /// Expected response length: `None` for no Le; 1–65536 (256 and 65536 are written as 00).
    pub le: Option<u32>,
}

impl Drop for Command {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Data is not printed: a VERIFY carries the PIN.
        write!(
            f,
            "Command {{ {:02X} {:02X} {:02X} {:02X}, Lc {}, Le {:?} }}",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

impl Command {
    /// A command without Le.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8, data: Vec<u8>) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data,
            le: None,
        }
    }

    /// The same command expecting `le` bytes back.
    pub fn with_le(mut self, le: u32) -> Self {
        self.le = Some(le);
        self
    }

    /// Whether the command needs the extended length form.
    pub fn is_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|le| le > 256)
    }

    /// The bytes on the wire (short form when it fits, else extended).
    pub fn encode(&self) -> Result<Vec<u8>, ApduError> {
        if self.data.len() > 65535 || self.le.is_some_and(|le| le == 0 || le > 65536) {
            return Err(ApduError::TooLong);
        }
        let mut out = Vec::with_capacity(4 + 3 + self.data.len() + 3);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let extended = self.is_extended();
        if !self.data.is_empty() {
            if extended {
                out.push(0);
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
            } else {
                out.push(self.data.len() as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            if extended {
                if self.data.is_empty() {
                    out.push(0);
                }
                // 65536 is written as 00 00.
                out.extend_from_slice(&((le % 65536) as u16).to_be_bytes());
            } else {
                out.push((le % 256) as u8);
            }
        }
        Ok(out)
    }

    /// Parses a command APDU (cases 1, 2S/E, 3S/E, 4S/E).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::Truncated("header"));
        };
        let header = |data: &[u8], le: Option<u32>| Self {
            cla: *cla,
            ins: *ins,
            p1: *p1,
            p2: *p2,
            data: data.to_vec(),
            le,
        };
        let short_le = |b: u8| if b == 0 { 256 } else { u32::from(b) };
        let ext_le = |hi: u8, lo: u8| match u16::from_be_bytes([hi, lo]) {
            0 => 65536,
            n => u32::from(n),
        };
        match body {
            // Case 1.
            [] => Ok(header(&[], None)),
            // Case 2S.
            [le] => Ok(header(&[], Some(short_le(*le)))),
            // Extended forms start with 00.
            [0, rest @ ..] if rest.len() >= 2 => {
                let lc = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let after = &rest[2..];
                if after.is_empty() {
                    // Case 2E.
                    return Ok(header(&[], Some(ext_le(rest[0], rest[1]))));
                }
                if lc == 0 {
                    return Err(ApduError::BadLength("extended Lc of 0"));
                }
                let data = after
                    .get(..lc)
                    .ok_or(ApduError::Truncated("extended data"))?;
                match &after[lc..] {
                    [] => Ok(header(data, None)),
                    [hi, lo] => Ok(header(data, Some(ext_le(*hi, *lo)))),
                    [_] => Err(ApduError::Truncated("extended Le")),
                    more => Err(ApduError::Trailing(more.len() - 2)),
                }
            }
            [0, _] => Err(ApduError::BadLength("short Lc of 0")),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                let data = rest.get(..lc).ok_or(ApduError::Truncated("data"))?;
                match &rest[lc..] {
                    [] => Ok(header(data, None)),
                    [le] => Ok(header(data, Some(short_le(*le)))),
                    more => Err(ApduError::Trailing(more.len() - 1)),
                }
            }
        }
    }
}

/// A response APDU: data and the status word.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// SW1 SW2.
    pub sw: crate::StatusWord,
}

impl Response {
    /// Parses data followed by SW1 SW2.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Self {
                data: data.to_vec(),
                sw: crate::StatusWord::new(*sw1, *sw2),
            }),
            _ => Err(ApduError::Truncated("status word")),
        }
    }

    /// A response with data and 90 00, or with a status word alone.
    pub fn new(data: Vec<u8>, sw: crate::StatusWord) -> Self {
        Self { data, sw }
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.push(self.sw.sw1());
        out.push(self.sw.sw2());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_commands() {
        // SELECT the JPKI AP by AID.
        let select = Command::new(
            0x00,
            0xA4,
            0x04,
            0x0C,
            vec![0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01],
        );
        assert_eq!(
            select.encode().unwrap(),
            [
                0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
                0x01
            ]
        );
        // VERIFY with no data: case 1.
        assert_eq!(
            Command::new(0, 0x20, 0, 0x80, vec![]).encode().unwrap(),
            [0, 0x20, 0, 0x80]
        );
        // READ BINARY of 256 bytes: Le 00.
        assert_eq!(
            Command::new(0, 0xB0, 0, 0, vec![])
                .with_le(256)
                .encode()
                .unwrap(),
            [0, 0xB0, 0, 0, 0]
        );
        // Extended Le.
        assert_eq!(
            Command::new(0, 0xB0, 0, 0, vec![])
                .with_le(65536)
                .encode()
                .unwrap(),
            [0, 0xB0, 0, 0, 0, 0, 0]
        );
        // COMPUTE DIGITAL SIGNATURE: case 4S with Le 00.
        let sign = Command::new(0x80, 0x2A, 0x00, 0x80, vec![1; 51]).with_le(256);
        let bytes = sign.encode().unwrap();
        assert_eq!(bytes.len(), 4 + 1 + 51 + 1);
        assert_eq!(Command::parse(&bytes).unwrap(), sign);
    }

    #[test]
    fn strict_parsing() {
        assert_eq!(
            Command::parse(&[0, 0xA4, 4]),
            Err(ApduError::Truncated("header"))
        );
        assert_eq!(
            Command::parse(&[0, 0xA4, 4, 0x0C, 3, 1, 2]),
            Err(ApduError::Truncated("data"))
        );
        assert_eq!(
            Command::parse(&[0, 0xA4, 4, 0x0C, 1, 1, 2, 3]),
            Err(ApduError::Trailing(1))
        );
        assert_eq!(
            Command::parse(&[0, 0xA4, 4, 0x0C, 0, 1]),
            Err(ApduError::BadLength("short Lc of 0"))
        );
        assert_eq!(
            Command::parse(&[0, 0xB0, 0, 0, 0, 0, 0, 5]),
            Err(ApduError::BadLength("extended Lc of 0"))
        );
        assert!(Response::parse(&[0x90]).is_err());
        let r = Response::parse(&[1, 2, 0x90, 0]).unwrap();
        assert_eq!(r.data, [1, 2]);
        assert!(r.sw.is_ok());
        assert_eq!(r.encode(), [1, 2, 0x90, 0]);
    }

    #[test]
    fn debug_hides_data() {
        let verify = Command::new(0, 0x20, 0, 0x80, b"1234".to_vec());
        assert!(!format!("{verify:?}").contains("31"));
    }

    proptest! {
        #[test]
        fn round_trip(cla: u8, ins: u8, p1: u8, p2: u8,
                      data in prop::collection::vec(any::<u8>(), 0..600),
                      le in prop::option::of(1u32..=65536)) {
            let c = Command { cla, ins, p1, p2, data, le };
            let bytes = c.encode().unwrap();
            prop_assert_eq!(Command::parse(&bytes).unwrap(), c);
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(c) = Command::parse(&bytes) {
                // What parses encodes back to a command that parses the same.
                prop_assert_eq!(Command::parse(&c.encode().unwrap()).unwrap(), c);
            }
            let _ = Response::parse(&bytes);
        }
    }
}
