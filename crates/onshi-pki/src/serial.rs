//! Certificate serial numbers as text: the one canonical form used in `issued.csv`,
//! `revoked.csv`, by `onshi jlis revoke` and by the eligibility service.
//!
//! The canonical form is the serial's big-endian bytes in uppercase hexadecimal, two digits per
//! byte, with no separators and without the leading `00` bytes that DER adds to keep an INTEGER
//! positive (e.g. `4A1B2C3D0000000000000001`). Both x509-parser's `raw_serial()` (the INTEGER's
//! content octets) and a big-endian magnitude map to the same text through [`serial_text`].

use crate::error::PkiError;

/// Length of the serials this authority issues: a 4-byte authority tag and an 8-byte counter.
pub const SERIAL_LEN: usize = 12;

/// The canonical text of a serial number from its DER content octets (x509-parser's
/// `raw_serial()`) or its big-endian magnitude: uppercase hex, no separators, no sign byte.
pub fn serial_text(der_serial: &[u8]) -> String {
    let first = der_serial
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(der_serial.len());
    match &der_serial[first..] {
        [] => "00".to_owned(),
        bytes => hex::encode_upper(bytes),
    }
}

/// Brings a serial typed by a person or printed by another tool to the canonical form: accepts
/// lower or upper case, ':' or ' ' separators (as `openssl` and x509-parser print them) and
/// leading zeros.
pub fn canonical_serial(text: &str) -> Result<String, PkiError> {
    let refuse = || PkiError::SerialFormat {
        text: text.to_owned(),
    };
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':' && *c != ' ')
        .collect();
    if digits.is_empty() || digits.len() > 2 * 20 + 2 {
        return Err(refuse());
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes = hex::decode(padded).map_err(|_| refuse())?;
    Ok(serial_text(&bytes))
}

/// The bytes of a serial in canonical form, for the CRL.
pub fn serial_bytes(canonical: &str) -> Result<Vec<u8>, PkiError> {
    hex::decode(canonical).map_err(|_| PkiError::SerialFormat {
        text: canonical.to_owned(),
    })
}

/// The serial of the `counter`-th certificate of the authority whose tag is `tag`: positive
/// (the tag's first byte is in `40..=7F`), always [`SERIAL_LEN`] bytes, increasing with `counter`.
pub fn compose(tag: [u8; 4], counter: u64) -> [u8; SERIAL_LEN] {
    let mut serial = [0u8; SERIAL_LEN];
    serial[..4].copy_from_slice(&tag);
    serial[4..].copy_from_slice(&counter.to_be_bytes());
    serial
}

/// Turns 4 bytes of the CA key's identifier into the authority's serial tag: first byte forced
/// into `40..=7F`, so the serial is positive and never loses a leading byte.
pub fn tag_from(bytes: [u8; 4]) -> [u8; 4] {
    [(bytes[0] & 0x3F) | 0x40, bytes[1], bytes[2], bytes[3]]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_strips_the_sign_byte_and_is_uppercase() {
        assert_eq!(serial_text(&[0x00, 0x9a, 0x01]), "9A01");
        assert_eq!(serial_text(&[0x4a, 0x00, 0xff]), "4A00FF");
        assert_eq!(serial_text(&[]), "00");
        assert_eq!(serial_text(&[0, 0]), "00");
    }

    #[test]
    fn canonical_accepts_what_tools_print() {
        for text in ["4a:00:ff", "4A00FF", " 4a 00 ff\n", "004A00FF", "4a00ff"] {
            assert_eq!(canonical_serial(text).unwrap(), "4A00FF", "{text}");
        }
        assert_eq!(canonical_serial("abc").unwrap(), "0ABC");
        for bad in ["", "::", "4G", "-1", "0x4A", &"1".repeat(60)] {
            assert!(canonical_serial(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn composed_serials_are_positive_fixed_length_and_increasing() {
        let tag = tag_from([0xff, 1, 2, 3]);
        assert_eq!(tag[0], 0x7f);
        assert_eq!(tag_from([0x00, 0, 0, 0])[0], 0x40);
        let a = compose(tag, 1);
        let b = compose(tag, 2);
        let c = compose(tag, 256);
        assert!(a < b && b < c);
        assert!(serial_text(&a) < serial_text(&b) && serial_text(&b) < serial_text(&c));
        assert_eq!(serial_text(&a), "7F0102030000000000000001");
        assert_eq!(serial_bytes(&serial_text(&c)).unwrap(), c.to_vec());
    }
}
