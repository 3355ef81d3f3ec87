//! What can go wrong talking to a My Number card, in English for logs and in Japanese
//! ([`CardError::message_ja`]) for the clinic's reception staff.

use crate::apdu::ApduError;
use crate::pin::PinFormatError;
use crate::status::StatusWord;
use crate::tlv::TlvError;
use crate::transport::TransportError;

/// Why a card operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// The reader or the exchange failed (no reader, no card, card removed, …).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The card has no JPKI applet (or no attributes applet): not a My Number card.
    #[error("not a My Number card")]
    NotMyNumberCard,
    /// The card refused the PIN; it locks after `tries_left` more wrong ones.
    #[error("wrong PIN (tries left: {tries_left})")]
    WrongPin {
        /// Wrong PINs the card still accepts before it locks (at least 1).
        tries_left: u8,
    },
    /// The PIN is locked; only the municipal office can reset it.
    #[error("the PIN is blocked")]
    PinBlocked,
    /// An operation needing the PIN came before a successful VERIFY (or after a card reset).
    #[error("the PIN has not been verified")]
    PinNotVerified,
    /// The card answered with a status word onshi does not expect at that step.
    #[error("the card answered {sw} ({}) to {during}", sw.explain_en())]
    Status {
        /// The status word.
        sw: StatusWord,
        /// The command that got it, e.g. `"READ BINARY"`.
        during: &'static str,
    },
    /// The card's answers do not fit together (a file shorter than its element, …).
    #[error("malformed answer from the card: {0}")]
    Malformed(String),
    /// A response without a status word, or a command that cannot be encoded.
    #[error("APDU error: {0}")]
    Apdu(#[from] ApduError),
    /// A file on the card that is not the TLV expected.
    #[error("malformed card data: {0}")]
    Tlv(#[from] TlvError),
    /// The PIN typed is not four digits; nothing was sent to the card.
    #[error(transparent)]
    BadPin(#[from] PinFormatError),
    /// The DigestInfo to sign is empty or too long for an RSA-2048 key.
    #[error("a DigestInfo of {len} bytes cannot be signed (1 to {max} bytes)", max = crate::client::MAX_DIGEST_INFO_LEN)]
    BadDigestInfo {
        /// Its length.
        len: usize,
    },
    /// onshi refused to send a command it must never send (reading the My Number).
    #[error("refused to send a forbidden command: {0}")]
    Forbidden(&'static str),
}

impl CardError {
    /// What the staff should read, in Japanese.
    pub fn message_ja(&self) -> String {
        match self {
            Self::Transport(e) => e.message_ja(),
            Self::NotMyNumberCard => "マイナンバーカードではないカードです。".to_owned(),
            Self::WrongPin { tries_left } => format!(
                "暗証番号が違います。あと{tries_left}回間違えるとロックされます。"
            ),
            Self::PinBlocked => "暗証番号がロックされています。お住まいの市区町村の窓口で暗証番号の初期化（再設定）を行ってください。（目視確認での受付はできます）".to_owned(),
            Self::PinNotVerified => {
                "暗証番号の確認が済んでいません。もう一度暗証番号を入力してください。".to_owned()
            }
            Self::Status { sw, .. } => format!(
                "カードがエラーを返しました（{sw}：{}）。カードを置き直して、もう一度お試しください。",
                sw.explain_ja()
            ),
            Self::Malformed(_) | Self::Apdu(_) | Self::Tlv(_) => {
                "カードの応答が正しくありません。カードを置き直して、もう一度お試しください。"
                    .to_owned()
            }
            Self::BadPin(e) => format!("{}。", e.message_ja()),
            Self::BadDigestInfo { .. } | Self::Forbidden(_) => {
                "内部エラーのため、この操作はできません。".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            CardError::WrongPin { tries_left: 2 }.message_ja(),
            "暗証番号が違います。あと2回間違えるとロックされます。"
        );
        assert!(CardError::PinBlocked
            .message_ja()
            .contains("市区町村の窓口で暗証番号の初期化"));
        assert_eq!(
            CardError::NotMyNumberCard.message_ja(),
            "マイナンバーカードではないカードです。"
        );
        let removed = CardError::from(TransportError::CardRemoved);
        assert_eq!(
            removed.message_ja(),
            TransportError::CardRemoved.message_ja()
        );
        assert_eq!(removed.to_string(), "the card was removed");
        let status = CardError::Status {
            sw: StatusWord::WRONG_PARAMETERS,
            during: "READ BINARY",
        };
        assert_eq!(
            status.to_string(),
            "the card answered 6B 00 (wrong parameters (offset outside the file)) to READ BINARY"
        );
        assert!(status.message_ja().contains("6B 00"));
        assert_eq!(
            CardError::from(PinFormatError::NotFourDigits).message_ja(),
            "暗証番号は数字4桁です。"
        );
        assert_eq!(
            CardError::WrongPin { tries_left: 1 }.to_string(),
            "wrong PIN (tries left: 1)"
        );
    }
}
