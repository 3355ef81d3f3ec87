//! PINs: held in memory only as long as needed, wiped on drop, never printed.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 4-digit PIN (the authentication PIN or the attributes applet's PIN).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Pin([u8; 4]);

/// Why a PIN was refused before it reached the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinFormatError {
    /// Not exactly four ASCII digits.
    #[error("a PIN is exactly 4 digits")]
    NotFourDigits,
}

impl PinFormatError {
    /// In Japanese.
    pub fn message_ja(&self) -> &'static str {
        "暗証番号は数字4桁です"
    }
}

impl Pin {
    /// Accepts exactly four ASCII digits. Surrounding white space (a line end read from a
    /// terminal) is ignored.
    pub fn parse(s: &str) -> Result<Self, PinFormatError> {
        match s.trim().as_bytes() {
            [a, b, c, d] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => {
                Ok(Self([*a, *b, *c, *d]))
            }
            _ => Err(PinFormatError::NotFourDigits),
        }
    }

    /// The ASCII digits, as VERIFY sends them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(****)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn four_digits_only_and_never_printed() {
        let pin = Pin::parse("1234\n").unwrap();
        assert_eq!(pin.as_bytes(), b"1234");
        assert_eq!(format!("{pin:?}"), "Pin(****)");
        for bad in ["123", "12345", "12a4", "１２３４", ""] {
            assert_eq!(Pin::parse(bad), Err(PinFormatError::NotFourDigits), "{bad}");
        }
    }
}
