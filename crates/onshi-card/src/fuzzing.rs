//! Entry points for the fuzz targets (`fuzz/fuzz_targets/apdu.rs`, `card_tlv.rs`): each parser
//! of card bytes, fed arbitrary input, must not panic, and what it accepts must survive a round
//! trip.

use crate::apdu::{Command, Response};
use crate::tlv;

/// Parses `data` as a command and as a response APDU; what parses is encoded and parsed again.
pub fn apdu(data: &[u8]) {
    if let Ok(command) = Command::parse(data) {
        let encoded = match command.encode() {
            Ok(bytes) => bytes,
            Err(e) => panic!("a parsed command does not encode: {e}"),
        };
        assert_eq!(Command::parse(&encoded).as_ref(), Ok(&command));
        // The canonical form is the shortest: never longer than what was parsed.
        assert!(encoded.len() <= data.len());
    }
    if let Ok(response) = Response::parse(data) {
        assert_eq!(response.encode(), data);
    }
}

/// Reads `data` as the first bytes of a DER element and as the attributes container; what
/// parses is encoded and parsed again.
pub fn tlv(data: &[u8]) {
    let total = tlv::der_total_length(data);
    if let Ok(attributes) = tlv::parse_attributes(data) {
        // A container that parses is exactly one element.
        assert_eq!(total, Ok(data.len()));
        let encoded = tlv::encode_attributes(&attributes);
        assert_eq!(tlv::der_total_length(&encoded), Ok(encoded.len()));
        assert_eq!(tlv::parse_attributes(&encoded).as_ref(), Ok(&attributes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlv::{encode_attributes, Attributes};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn apdu_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            apdu(&bytes);
        }
    }

    #[test]
    fn apdu_samples() {
        let samples: [&[u8]; 9] = [
            &[],
            &[0x90, 0x00],
            &[
                0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00,
                0x01,
            ],
            &[0x00, 0x20, 0x00, 0x80],
            &[0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34],
            &[0x00, 0xB0, 0x00, 0x00, 0x00],
            // Extended Lc for 1 byte: parses, encodes shorter.
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x01, 0xAA],
            &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00],
            &[0x80, 0x2A, 0x00, 0x80, 0x02, 0x01],
        ];
        for sample in samples {
            apdu(sample);
        }
    }

    #[test]
    fn tlv_samples() {
        let container = encode_attributes(&Attributes {
            name: "鈴木 一郎".to_owned(),
            address: "大阪府大阪市北区".to_owned(),
            birth: "19551231".to_owned(),
            sex: "1".to_owned(),
        });
        for n in 0..=container.len() {
            tlv(&container[..n]);
        }
        for sample in [
            &[0x30, 0x82, 0x04, 0xAC][..],
            &[0x30, 0x80],
            &[0xFF, 0x20, 0x00],
            &[],
        ] {
            tlv(sample);
        }
    }
}
