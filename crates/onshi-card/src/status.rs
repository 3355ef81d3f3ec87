//! Status words (SW1 SW2): a newtype so that any value survives, with named constants and their
//! meaning in Japanese and English.

use std::fmt;

/// A status word.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 90 00: success.
    pub const OK: Self = Self(0x9000);
    /// 62 82: end of file reached before Le bytes.
    pub const END_OF_FILE: Self = Self(0x6282);
    /// 67 00: wrong length.
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// 69 82: security status not satisfied (PIN not verified).
    pub const SECURITY_NOT_SATISFIED: Self = Self(0x6982);
    /// 69 83: authentication method blocked.
    pub const AUTH_METHOD_BLOCKED: Self = Self(0x6983);
    /// 69 84: reference data not usable (blocked).
    pub const REFERENCE_DATA_NOT_USABLE: Self = Self(0x6984);
    /// 69 85: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// 69 86: command not allowed (no current EF).
    pub const COMMAND_NOT_ALLOWED: Self = Self(0x6986);
    /// 6A 80: incorrect data field.
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// 6A 81: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: Self = Self(0x6A81);
    /// 6A 82: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// 6A 86: incorrect P1 P2.
    pub const WRONG_P1_P2: Self = Self(0x6A86);
    /// 6B 00: wrong parameters (offset outside the EF).
    pub const WRONG_PARAMETERS: Self = Self(0x6B00);
    /// 6D 00: instruction not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// 6E 00: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// 6F 00: no precise diagnosis.
    pub const UNKNOWN_ERROR: Self = Self(0x6F00);

    /// From the two bytes.
    pub fn new(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }

    /// SW1.
    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2.
    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// 90 00.
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// `63 Cx`: a verification answer carrying the tries left (x).
    pub fn tries_left(self) -> Option<u8> {
        (self.sw1() == 0x63 && self.sw2() & 0xF0 == 0xC0).then(|| self.sw2() & 0x0F)
    }

    /// `61 xx`: the answer continues; GET RESPONSE with Le `xx` fetches it (00 means 256).
    pub fn bytes_remaining(self) -> Option<u32> {
        (self.sw1() == 0x61).then(|| short_le(self.sw2()))
    }

    /// `6C xx`: wrong Le; the card tells the exact length to ask for again (00 means 256).
    pub fn exact_le(self) -> Option<u32> {
        (self.sw1() == 0x6C).then(|| short_le(self.sw2()))
    }

    /// Whether the PIN is blocked: `63 C0`, `69 83` or `69 84`.
    pub fn is_blocked(self) -> bool {
        self.tries_left() == Some(0)
            || self == Self::AUTH_METHOD_BLOCKED
            || self == Self::REFERENCE_DATA_NOT_USABLE
    }

    /// The meaning in English.
    pub fn explain_en(self) -> String {
        if let Some(n) = self.tries_left() {
            return format!("verification failed or status, {n} tries left");
        }
        match self {
            Self::OK => "success",
            Self::END_OF_FILE => "end of file reached before the requested length",
            Self::WRONG_LENGTH => "wrong length",
            Self::SECURITY_NOT_SATISFIED => "security status not satisfied (PIN not verified)",
            Self::AUTH_METHOD_BLOCKED => "authentication method blocked",
            Self::REFERENCE_DATA_NOT_USABLE => "reference data not usable (blocked)",
            Self::CONDITIONS_NOT_SATISFIED => "conditions of use not satisfied",
            Self::COMMAND_NOT_ALLOWED => "command not allowed (no current EF)",
            Self::WRONG_DATA => "incorrect data field",
            Self::FUNCTION_NOT_SUPPORTED => "function not supported",
            Self::FILE_NOT_FOUND => "file or application not found",
            Self::WRONG_P1_P2 => "incorrect parameters P1-P2",
            Self::WRONG_PARAMETERS => "wrong parameters (offset outside the file)",
            Self::INS_NOT_SUPPORTED => "instruction not supported",
            Self::CLA_NOT_SUPPORTED => "class not supported",
            Self::UNKNOWN_ERROR => "no precise diagnosis",
            _ => "unknown status",
        }
        .to_owned()
    }

    /// The meaning in Japanese.
    pub fn explain_ja(self) -> String {
        if let Some(n) = self.tries_left() {
            return format!("照合できませんでした（残り{n}回）");
        }
        match self {
            Self::OK => "正常終了",
            Self::END_OF_FILE => "要求した長さより前にファイルの終わりに達しました",
            Self::WRONG_LENGTH => "長さが正しくありません",
            Self::SECURITY_NOT_SATISFIED => "暗証番号の照合が済んでいません",
            Self::AUTH_METHOD_BLOCKED | Self::REFERENCE_DATA_NOT_USABLE => {
                "暗証番号がロックされています"
            }
            Self::CONDITIONS_NOT_SATISFIED => "使用条件を満たしていません",
            Self::COMMAND_NOT_ALLOWED => "コマンドを実行できません（ファイル未選択）",
            Self::WRONG_DATA => "データが正しくありません",
            Self::FUNCTION_NOT_SUPPORTED => "機能がサポートされていません",
            Self::FILE_NOT_FOUND => "ファイルまたはアプリケーションがありません",
            Self::WRONG_P1_P2 | Self::WRONG_PARAMETERS => "パラメータが正しくありません",
            Self::INS_NOT_SUPPORTED => "命令がサポートされていません",
            Self::CLA_NOT_SUPPORTED => "クラスがサポートされていません",
            Self::UNKNOWN_ERROR => "原因不明のエラー",
            _ => "不明なステータス",
        }
        .to_owned()
    }
}

/// A short Le as a count: 00 stands for 256.
fn short_le(b: u8) -> u32 {
    if b == 0 {
        256
    } else {
        u32::from(b)
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SW {:04X} ({})", self.0, self.explain_en())
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {:02X}", self.sw1(), self.sw2())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_and_blocking() {
        assert_eq!(StatusWord(0x63C3).tries_left(), Some(3));
        assert_eq!(StatusWord(0x63C0).tries_left(), Some(0));
        assert!(StatusWord(0x63C0).is_blocked());
        assert!(StatusWord::AUTH_METHOD_BLOCKED.is_blocked());
        assert!(StatusWord::REFERENCE_DATA_NOT_USABLE.is_blocked());
        assert!(!StatusWord(0x63C1).is_blocked());
        assert_eq!(StatusWord(0x6300).tries_left(), None);
        assert_eq!(
            StatusWord(0x63C2).explain_ja(),
            "照合できませんでした（残り2回）"
        );
        assert_eq!(StatusWord::new(0x6A, 0x82), StatusWord::FILE_NOT_FOUND);
        assert_eq!(format!("{}", StatusWord::OK), "90 00");
        assert_eq!(StatusWord(0x1234).explain_en(), "unknown status");
        assert_eq!(StatusWord(0x6110).bytes_remaining(), Some(16));
        assert_eq!(StatusWord(0x6100).bytes_remaining(), Some(256));
        assert_eq!(StatusWord(0x6C04).exact_le(), Some(4));
        assert_eq!(StatusWord::OK.bytes_remaining(), None);
        assert_eq!(StatusWord::OK.exact_le(), None);
    }
}
