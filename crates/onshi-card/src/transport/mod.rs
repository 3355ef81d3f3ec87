//! The transport seam: one APDU out, one response back. A PC/SC reader, the software card in
//! process, and test doubles all implement [`Transport`], so the client code is the same for all.

#[cfg(feature = "pcsc")]
pub mod pcsc;

/// Why an exchange with the card did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No card reader is connected.
    #[error("no card reader found")]
    NoReader,
    /// The named reader does not exist.
    #[error("card reader {0:?} not found")]
    ReaderNotFound(String),
    /// The reader is there but holds no card.
    #[error("no card in the reader")]
    NoCard,
    /// The card was taken out (or reset) during the exchange.
    #[error("the card was removed")]
    CardRemoved,
    /// The card answered with something that is not a response APDU.
    #[error("malformed response from the card: {0}")]
    Malformed(String),
    /// Any other failure of the reader or its service.
    #[error("reader error: {0}")]
    Reader(String),
}

impl TransportError {
    /// What the staff should read, in Japanese.
    pub fn message_ja(&self) -> String {
        match self {
            Self::NoReader => "カードリーダーが見つかりません。接続を確認してください。".to_owned(),
            Self::ReaderNotFound(name) => {
                format!("カードリーダー「{name}」が見つかりません。接続と名前を確認してください。")
            }
            Self::NoCard => {
                "カードが置かれていません。マイナンバーカードをカードリーダーに置いてください。"
                    .to_owned()
            }
            Self::CardRemoved => {
                "読み取り中にカードが外されました。カードを置いたまま、もう一度お試しください。"
                    .to_owned()
            }
            Self::Malformed(_) => {
                "カードの応答が正しくありません。カードを置き直してください。".to_owned()
            }
            Self::Reader(e) => format!("カードリーダーでエラーが起きました（{e}）。"),
        }
    }
}

/// Sends command APDUs to a card and returns the response APDUs (data followed by SW1 SW2).
pub trait Transport {
    /// One exchange. `command` is a complete command APDU; the answer a complete response APDU.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }
}
