//! Bytes to text: UTF-8 (a BOM is dropped) or Shift_JIS as Windows writes it (CP932, with the
//! NEC and IBM extensions that hold 髙 and 﨑).

use std::borrow::Cow;

/// The encoding of a feed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 when the bytes are valid UTF-8, else Shift_JIS.
    #[default]
    Auto,
    /// UTF-8, with or without BOM.
    Utf8,
    /// Shift_JIS (CP932).
    ShiftJis,
}

/// Why bytes did not decode, or an encoding's name was not understood. Each says the 1-based
/// line of the first byte that does not decode, in Japanese and English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// An encoding's name that is none of auto, utf-8, shift_jis.
    #[error("unknown encoding {0:?}: use auto, utf-8 or shift_jis / 文字コードは auto, utf-8, shift_jis のいずれかです")]
    UnknownEncoding(String),
    /// Not UTF-8.
    #[error("{line}行目: UTF-8として読めないバイトがあります / line {line}: not valid UTF-8")]
    NotUtf8 {
        /// The line of the first byte that does not decode.
        line: usize,
    },
    /// Not Shift_JIS.
    #[error(
        "{line}行目: Shift_JISとして読めないバイトがあります / line {line}: not valid Shift_JIS"
    )]
    NotShiftJis {
        /// The line of the first byte that does not decode (0 when unknown).
        line: usize,
    },
    /// Neither (with [`Encoding::Auto`]); the line is where UTF-8 failed.
    #[error("UTF-8でもShift_JISでもありません / neither UTF-8 nor Shift_JIS ({line}行目: UTF-8として読めないバイトがあります / line {line}: not valid UTF-8)")]
    Neither {
        /// The line of the first byte that is not UTF-8.
        line: usize,
    },
}

impl std::str::FromStr for Encoding {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, DecodeError> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "auto" => Ok(Self::Auto),
            "utf8" => Ok(Self::Utf8),
            "shiftjis" | "sjis" | "cp932" | "windows31j" => Ok(Self::ShiftJis),
            _ => Err(DecodeError::UnknownEncoding(s.to_owned())),
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The 1-based line of a byte offset.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Decodes a whole file. The error says which line holds the first byte that does not decode.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<Cow<'_, str>, DecodeError> {
    match encoding {
        Encoding::Utf8 => utf8(bytes),
        Encoding::ShiftJis => sjis(bytes),
        Encoding::Auto => utf8(bytes).or_else(|utf8_error| {
            sjis(bytes).map_err(|_| match utf8_error {
                DecodeError::NotUtf8 { line } => DecodeError::Neither { line },
                other => other,
            })
        }),
    }
}

fn utf8(b: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    let b = b.strip_prefix(UTF8_BOM).unwrap_or(b);
    std::str::from_utf8(b)
        .map(Cow::Borrowed)
        .map_err(|e| DecodeError::NotUtf8 {
            line: line_of(b, e.valid_up_to()),
        })
}

fn sjis(b: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(b);
    if had_errors {
        let line = text
            .find('\u{FFFD}')
            .map_or(0, |at| text[..at].matches('\n').count() + 1);
        return Err(DecodeError::NotShiftJis { line });
    }
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(decode("髙橋".as_bytes(), Encoding::Auto).unwrap(), "髙橋");
        let mut with_bom = UTF8_BOM.to_vec();
        with_bom.extend_from_slice("山﨑".as_bytes());
        assert_eq!(decode(&with_bom, Encoding::Utf8).unwrap(), "山﨑");
    }

    #[test]
    fn shift_jis_with_nec_ibm_extensions() {
        let (bytes, _, errors) = encoding_rs::SHIFT_JIS.encode("髙橋,山﨑,①\r\n");
        assert!(!errors);
        assert_eq!(decode(&bytes, Encoding::Auto).unwrap(), "髙橋,山﨑,①\r\n");
        assert_eq!(
            decode(&bytes, Encoding::ShiftJis).unwrap(),
            "髙橋,山﨑,①\r\n"
        );
        assert!(decode(&bytes, Encoding::Utf8)
            .unwrap_err()
            .to_string()
            .contains("1行目"));
    }

    #[test]
    fn garbage_is_refused_with_a_line() {
        let bytes = b"ok\nok\n\x82\xff\x80\n";
        let e = decode(bytes, Encoding::ShiftJis).unwrap_err();
        assert_eq!(e, DecodeError::NotShiftJis { line: 3 });
        assert_eq!(
            e.to_string(),
            "3行目: Shift_JISとして読めないバイトがあります / line 3: not valid Shift_JIS"
        );
        let e = decode(bytes, Encoding::Auto).unwrap_err();
        assert_eq!(e, DecodeError::Neither { line: 3 });
        assert_eq!(
            e.to_string(),
            "UTF-8でもShift_JISでもありません / neither UTF-8 nor Shift_JIS \
             (3行目: UTF-8として読めないバイトがあります / line 3: not valid UTF-8)"
        );
    }

    #[test]
    fn encoding_names() {
        assert_eq!("Shift_JIS".parse::<Encoding>().unwrap(), Encoding::ShiftJis);
        assert_eq!("cp932".parse::<Encoding>().unwrap(), Encoding::ShiftJis);
        assert_eq!("UTF-8".parse::<Encoding>().unwrap(), Encoding::Utf8);
        assert_eq!(
            "latin1".parse::<Encoding>().unwrap_err().to_string(),
            "unknown encoding \"latin1\": use auto, utf-8 or shift_jis / 文字コードは auto, utf-8, shift_jis のいずれかです"
        );
    }
}
