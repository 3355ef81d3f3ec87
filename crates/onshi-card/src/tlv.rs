//! The card's TLV files, read without ever panicking: the total length of a DER element from
//! its first bytes (to know how much to READ BINARY), and the 券面事項入力補助AP's attributes
//! container (`FF 20` holding `DF 21`–`DF 25`), parsed and encoded.
//!
//! Tags follow BER (a first byte with the low five bits set continues in the next bytes, so
//! `FF 20` and `DF 22` are two-byte tags); lengths are short or long form with at most four
//! length bytes. The indefinite length (`80`) is refused: neither DER nor the card uses it.

use std::fmt;

use crate::ap::attributes::{TAG_ADDRESS, TAG_BIRTH, TAG_CONTAINER, TAG_HEADER, TAG_NAME, TAG_SEX};

/// The longest tag accepted, in bytes.
pub const MAX_TAG_LEN: usize = 4;
/// The most length bytes accepted after a long-form length's first byte.
pub const MAX_LENGTH_BYTES: usize = 4;
/// The longest header (tag and length) accepted: enough first bytes always decide the length.
pub const MAX_HEADER_LEN: usize = MAX_TAG_LEN + 1 + MAX_LENGTH_BYTES;

/// The content of the `DF 21` header that [`encode_attributes`] writes. On a real card it
/// describes the lengths of what follows; onshi neither needs nor checks it, so the software card
/// carries three zero bytes, and [`parse_attributes`] skips whatever a card has there.
pub const HEADER_PLACEHOLDER: [u8; 3] = [0; 3];

/// Why bytes are not the TLV expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// Fewer bytes than the tag, the length or the content need.
    #[error("TLV truncated in the {0}")]
    Truncated(&'static str),
    /// A tag of more than [`MAX_TAG_LEN`] bytes.
    #[error("tag longer than {MAX_TAG_LEN} bytes")]
    TagTooLong,
    /// The indefinite length form (`80`).
    #[error("indefinite length")]
    IndefiniteLength,
    /// A long-form length with more than [`MAX_LENGTH_BYTES`] length bytes.
    #[error("length field with {0} length bytes (at most {MAX_LENGTH_BYTES})")]
    LengthTooLong(u8),
    /// A length that does not fit in memory on this machine.
    #[error("length too large")]
    TooLarge,
    /// The outer tag is not the attributes container `FF 20`.
    #[error("expected the FF 20 attributes container, found tag {0}")]
    NotContainer(String),
    /// Bytes after the element.
    #[error("{0} bytes after the element")]
    Trailing(usize),
    /// A field the container must hold is not there.
    #[error("the attributes container has no {0}")]
    Missing(&'static str),
    /// A field appears twice.
    #[error("the attributes container has two of {0}")]
    Duplicate(&'static str),
    /// Name or address not valid UTF-8.
    #[error("the {0} is not valid UTF-8")]
    NotUtf8(&'static str),
    /// The birth date is not 8 ASCII digits (YYYYMMDD).
    #[error("the birth date is not 8 digits")]
    BadBirth,
    /// The sex is not one ASCII digit.
    #[error("the sex is not one digit")]
    BadSex,
}

/// The four attributes printed on the card (券面事項), as the 券面事項入力補助AP stores them.
///
/// Personal data: `Debug` shows only the lengths.
#[derive(Clone, PartialEq, Eq)]
pub struct Attributes {
    /// 氏名.
    pub name: String,
    /// 住所.
    pub address: String,
    /// 生年月日 as 8 ASCII digits, YYYYMMDD.
    pub birth: String,
    /// 性別 as one ASCII digit: `1` 男, `2` 女, `9` 適用不能.
    pub sex: String,
}

impl Attributes {
    /// The sex as printed on the card (男, 女, 適用不能), `None` for any other digit.
    pub fn sex_ja(&self) -> Option<&'static str> {
        match self.sex.as_str() {
            "1" => Some("男"),
            "2" => Some("女"),
            "9" => Some("適用不能"),
            _ => None,
        }
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = |s: &String| format!("<{} bytes>", s.len());
        f.debug_struct("Attributes")
            .field("name", &format_args!("{}", len(&self.name)))
            .field("address", &format_args!("{}", len(&self.address)))
            .field("birth", &format_args!("{}", len(&self.birth)))
            .field("sex", &format_args!("{}", len(&self.sex)))
            .finish()
    }
}

/// The total length (header plus content) of the DER or BER element that `first_bytes` starts.
///
/// `first_bytes` needs only the tag and the length (at most [`MAX_HEADER_LEN`] bytes); with too
/// few the answer is [`TlvError::Truncated`], and more bytes may decide it.
pub fn der_total_length(first_bytes: &[u8]) -> Result<usize, TlvError> {
    Header::read(first_bytes).map(|h| h.total_len)
}

/// Parses the `FF 20` attributes container: exactly one element, nothing after it.
///
/// Inside, `DF 21` (the header) and tags onshi does not know are skipped; `DF 22`–`DF 25` must
/// each appear once. The name and address must be UTF-8, the birth date 8 digits, the sex one.
pub fn parse_attributes(bytes: &[u8]) -> Result<Attributes, TlvError> {
    let mut outer = Reader::new(bytes);
    let (tag, content) = outer.element()?;
    if tag != TAG_CONTAINER {
        return Err(TlvError::NotContainer(hex(tag)));
    }
    if !outer.is_empty() {
        return Err(TlvError::Trailing(outer.rest.len()));
    }
    let (mut name, mut address, mut birth, mut sex) = (None, None, None, None);
    let mut inner = Reader::new(content);
    while !inner.is_empty() {
        let (tag, value) = inner.element()?;
        let (slot, field) = match <[u8; 2]>::try_from(tag) {
            Ok(TAG_NAME) => (&mut name, "name"),
            Ok(TAG_ADDRESS) => (&mut address, "address"),
            Ok(TAG_BIRTH) => (&mut birth, "birth date"),
            Ok(TAG_SEX) => (&mut sex, "sex"),
            // The header (TAG_HEADER) and anything unknown.
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(TlvError::Duplicate(field));
        }
    }
    Ok(Attributes {
        name: utf8(name.ok_or(TlvError::Missing("name"))?, "name")?,
        address: utf8(address.ok_or(TlvError::Missing("address"))?, "address")?,
        birth: digits(birth.ok_or(TlvError::Missing("birth date"))?, 8)
            .ok_or(TlvError::BadBirth)?,
        sex: digits(sex.ok_or(TlvError::Missing("sex"))?, 1).ok_or(TlvError::BadSex)?,
    })
}

/// The `FF 20` container holding `attributes`, as the software card serves it in EF 0002: the
/// `DF 21` header carries [`HEADER_PLACEHOLDER`], then name, address, birth date and sex.
///
/// Nothing is checked here: [`parse_attributes`] is where values are judged.
pub fn encode_attributes(attributes: &Attributes) -> Vec<u8> {
    let mut content = Vec::new();
    push_element(&mut content, &TAG_HEADER, &HEADER_PLACEHOLDER);
    push_element(&mut content, &TAG_NAME, attributes.name.as_bytes());
    push_element(&mut content, &TAG_ADDRESS, attributes.address.as_bytes());
    push_element(&mut content, &TAG_BIRTH, attributes.birth.as_bytes());
    push_element(&mut content, &TAG_SEX, attributes.sex.as_bytes());
    let mut out = Vec::with_capacity(content.len() + MAX_HEADER_LEN);
    push_element(&mut out, &TAG_CONTAINER, &content);
    out
}

/// The tag and length of an element.
struct Header {
    /// Bytes of the tag and the length.
    header_len: usize,
    /// Header plus content.
    total_len: usize,
}

impl Header {
    /// Reads the tag and length at the start of `bytes`.
    fn read(bytes: &[u8]) -> Result<Self, TlvError> {
        let tag_len = tag_len(bytes)?;
        let rest = bytes.get(tag_len..).unwrap_or_default();
        let (&first, rest) = rest.split_first().ok_or(TlvError::Truncated("length"))?;
        let (length_len, content_len) = match first {
            0..=0x7F => (1, usize::from(first)),
            0x80 => return Err(TlvError::IndefiniteLength),
            _ => {
                let count = first & 0x7F;
                let count_usize = usize::from(count);
                if count_usize > MAX_LENGTH_BYTES {
                    return Err(TlvError::LengthTooLong(count));
                }
                let field = rest
                    .get(..count_usize)
                    .ok_or(TlvError::Truncated("length"))?;
                let value = field.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
                let value = usize::try_from(value).map_err(|_| TlvError::TooLarge)?;
                (1 + count_usize, value)
            }
        };
        let header_len = tag_len + length_len;
        let total_len = header_len
            .checked_add(content_len)
            .ok_or(TlvError::TooLarge)?;
        Ok(Self {
            header_len,
            total_len,
        })
    }
}

/// The length of the BER tag at the start of `bytes`.
fn tag_len(bytes: &[u8]) -> Result<usize, TlvError> {
    /// Low five bits of a first tag byte all set: the tag number continues.
    const MORE_TAG_BYTES: u8 = 0x1F;
    /// High bit of a subsequent tag byte: another byte follows.
    const CONTINUES: u8 = 0x80;
    let first = *bytes.first().ok_or(TlvError::Truncated("tag"))?;
    if first & MORE_TAG_BYTES != MORE_TAG_BYTES {
        return Ok(1);
    }
    let mut len = 1;
    loop {
        let b = *bytes.get(len).ok_or(TlvError::Truncated("tag"))?;
        len += 1;
        if b & CONTINUES == 0 {
            return Ok(len);
        }
        if len >= MAX_TAG_LEN {
            return Err(TlvError::TagTooLong);
        }
    }
}

/// Reads consecutive elements from a slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element's tag and content.
    fn element(&mut self) -> Result<(&'a [u8], &'a [u8]), TlvError> {
        let header = Header::read(self.rest)?;
        let (element, rest) = self
            .rest
            .split_at_checked(header.total_len)
            .ok_or(TlvError::Truncated("content"))?;
        let tag_len = tag_len(element)?;
        let tag = element.get(..tag_len).unwrap_or_default();
        let content = element.get(header.header_len..).unwrap_or_default();
        self.rest = rest;
        Ok((tag, content))
    }
}

/// Appends tag, length and content.
fn push_element(out: &mut Vec<u8>, tag: &[u8], content: &[u8]) {
    out.extend_from_slice(tag);
    push_length(out, content.len());
    out.extend_from_slice(content);
}

/// Appends a length in its shortest form.
fn push_length(out: &mut Vec<u8>, len: usize) {
    /// Long-form marker: the low seven bits count the length bytes that follow.
    const LONG_FORM: u8 = 0x80;
    match u8::try_from(len) {
        Ok(short) if short < LONG_FORM => out.push(short),
        _ => {
            let bytes = len.to_be_bytes();
            let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
            // At most size_of::<usize>() bytes: fits in the low seven bits.
            out.push(LONG_FORM | significant.len() as u8);
            out.extend_from_slice(&significant);
        }
    }
}

/// A UTF-8 field.
fn utf8(value: &[u8], field: &'static str) -> Result<String, TlvError> {
    String::from_utf8(value.to_vec()).map_err(|_| TlvError::NotUtf8(field))
}

/// A field of exactly `len` ASCII digits.
fn digits(value: &[u8], len: usize) -> Option<String> {
    (value.len() == len && value.iter().all(u8::is_ascii_digit))
        .then(|| value.iter().map(|b| char::from(*b)).collect())
}

/// Bytes as `FF 20`.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Attributes {
        Attributes {
            name: "山田 花子".to_owned(),
            address: "東京都千代田区霞が関一丁目２番２号".to_owned(),
            birth: "19800401".to_owned(),
            sex: "2".to_owned(),
        }
    }

    #[test]
    fn der_lengths() {
        // Short form.
        assert_eq!(der_total_length(&[0x04, 0x03]), Ok(5));
        // A certificate: 30 82 04 AC → 4 + 1196.
        assert_eq!(der_total_length(&[0x30, 0x82, 0x04, 0xAC]), Ok(1200));
        assert_eq!(der_total_length(&[0x30, 0x81, 0x80, 0xAA]), Ok(3 + 128));
        assert_eq!(der_total_length(&[0x30, 0x83, 1, 0, 0]), Ok(5 + 65536));
        assert_eq!(der_total_length(&[0x30, 0x84, 0, 1, 0, 0]), Ok(6 + 65536));
        // Two-byte tags, as in the attributes container.
        assert_eq!(
            der_total_length(&[0xFF, 0x20, 0x82, 0x01, 0x00]),
            Ok(5 + 256)
        );
        assert_eq!(der_total_length(&[0xDF, 0x22, 0x05]), Ok(8));
        // Three-byte tag.
        assert_eq!(der_total_length(&[0x5F, 0x81, 0x01, 0x00]), Ok(4));
    }

    #[test]
    fn der_lengths_refused() {
        assert_eq!(der_total_length(&[]), Err(TlvError::Truncated("tag")));
        assert_eq!(
            der_total_length(&[0x30]),
            Err(TlvError::Truncated("length"))
        );
        assert_eq!(
            der_total_length(&[0x30, 0x82, 0x04]),
            Err(TlvError::Truncated("length"))
        );
        assert_eq!(der_total_length(&[0xFF]), Err(TlvError::Truncated("tag")));
        assert_eq!(
            der_total_length(&[0xFF, 0x80]),
            Err(TlvError::Truncated("tag"))
        );
        assert_eq!(
            der_total_length(&[0xFF, 0x80, 0x80, 0x80, 0x01]),
            Err(TlvError::TagTooLong)
        );
        assert_eq!(
            der_total_length(&[0x30, 0x80]),
            Err(TlvError::IndefiniteLength)
        );
        assert_eq!(
            der_total_length(&[0x30, 0x85, 1, 2, 3, 4, 5]),
            Err(TlvError::LengthTooLong(5))
        );
        assert_eq!(
            der_total_length(&[0x30, 0xFF]),
            Err(TlvError::LengthTooLong(0x7F))
        );
    }

    #[test]
    fn attributes_round_trip() {
        let a = sample();
        let bytes = encode_attributes(&a);
        assert_eq!(bytes[..2], TAG_CONTAINER);
        assert_eq!(der_total_length(&bytes), Ok(bytes.len()));
        assert_eq!(parse_attributes(&bytes), Ok(a.clone()));
        assert_eq!(a.sex_ja(), Some("女"));
    }

    #[test]
    fn attributes_exact_bytes() {
        let a = Attributes {
            name: "AB".to_owned(),
            address: "C".to_owned(),
            birth: "20000101".to_owned(),
            sex: "1".to_owned(),
        };
        let mut expected = vec![0xFF, 0x20, 30];
        expected.extend([0xDF, 0x21, 3, 0, 0, 0]);
        expected.extend([0xDF, 0x22, 2, b'A', b'B']);
        expected.extend([0xDF, 0x23, 1, b'C']);
        expected.extend([0xDF, 0x24, 8]);
        expected.extend(b"20000101");
        expected.extend([0xDF, 0x25, 1, b'1']);
        assert_eq!(encode_attributes(&a), expected);
    }

    #[test]
    fn long_address_uses_long_form() {
        let mut a = sample();
        a.address = "あ".repeat(100); // 300 bytes.
        let bytes = encode_attributes(&a);
        assert_eq!(bytes[2], 0x82);
        assert_eq!(der_total_length(&bytes), Ok(bytes.len()));
        assert_eq!(parse_attributes(&bytes), Ok(a));
    }

    #[test]
    fn truncated_attributes_are_errors() {
        let bytes = encode_attributes(&sample());
        for n in 0..bytes.len() {
            assert!(parse_attributes(&bytes[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn bad_attributes() {
        let with = |f: &dyn Fn(&mut Attributes)| {
            let mut a = sample();
            f(&mut a);
            parse_attributes(&encode_attributes(&a))
        };
        assert_eq!(
            with(&|a| a.birth = "1980041".into()),
            Err(TlvError::BadBirth)
        );
        assert_eq!(
            with(&|a| a.birth = "1980O401".into()),
            Err(TlvError::BadBirth)
        );
        assert_eq!(with(&|a| a.sex = "12".into()), Err(TlvError::BadSex));
        assert_eq!(with(&|a| a.sex = "M".into()), Err(TlvError::BadSex));

        let mut bytes = encode_attributes(&sample());
        bytes.push(0);
        assert_eq!(parse_attributes(&bytes), Err(TlvError::Trailing(1)));
        assert_eq!(
            parse_attributes(&[0x30, 0x00]),
            Err(TlvError::NotContainer("30".into()))
        );
        // Missing sex; unknown DF 26 skipped.
        let inner = [
            &[0xDF, 0x22, 1, b'a'][..],
            &[0xDF, 0x23, 1, b'b'],
            &[0xDF, 0x26, 1, b'?'],
            &[0xDF, 0x24, 8],
            b"19991231",
        ]
        .concat();
        let mut container = vec![0xFF, 0x20, inner.len() as u8];
        container.extend(&inner);
        assert_eq!(parse_attributes(&container), Err(TlvError::Missing("sex")));
        // Duplicate name.
        let inner = [&[0xDF, 0x22, 1, b'a'][..], &[0xDF, 0x22, 1, b'b']].concat();
        let mut container = vec![0xFF, 0x20, inner.len() as u8];
        container.extend(&inner);
        assert_eq!(
            parse_attributes(&container),
            Err(TlvError::Duplicate("name"))
        );
        // Not UTF-8 (Shift_JIS 山田).
        let inner = [&[0xDF, 0x22, 4, 0x8E, 0x52, 0x93, 0x63][..]].concat();
        let mut container = vec![0xFF, 0x20, inner.len() as u8];
        container.extend(&inner);
        assert_eq!(parse_attributes(&container), Err(TlvError::NotUtf8("name")));
    }

    #[test]
    fn debug_hides_personal_data() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("山田"));
        assert!(!shown.contains("1980"));
        assert!(shown.contains("<13 bytes>"), "{shown}");
    }

    proptest! {
        #[test]
        fn round_trip(name in "\\PC{0,80}", address in "\\PC{0,200}",
                      birth in "[0-9]{8}", sex in "[0-9]") {
            let a = Attributes { name, address, birth, sex };
            let bytes = encode_attributes(&a);
            prop_assert_eq!(der_total_length(&bytes), Ok(bytes.len()));
            prop_assert_eq!(parse_attributes(&bytes), Ok(a));
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            crate::fuzzing::tlv(&bytes);
        }

        #[test]
        fn length_needs_only_the_header(len in 0usize..=u32::MAX as usize,
                                        tag in prop::sample::select(vec![vec![0x30], vec![0xFF, 0x20]])) {
            let mut header = tag.clone();
            push_length(&mut header, len);
            prop_assert_eq!(der_total_length(&header), Ok(header.len() + len));
            for n in 0..header.len() {
                prop_assert!(matches!(der_total_length(&header[..n]), Err(TlvError::Truncated(_))));
            }
        }
    }
}
