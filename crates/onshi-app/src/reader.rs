//! Card readers by the name staff and scripts give them: `emu:FILE` (a software card file, for
//! demos and tests), `pcsc` (the first reader holding a card) or `pcsc:NAME`. Also the reader's
//! state for the desk's live display (no reader, no card, card present).

use std::path::PathBuf;

use onshi_card::error::CardError;
use onshi_card::transport::TransportError;
use onshi_card::Transport;

use crate::error::AppError;

/// A reader named by `--reader` or the UI's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReaderSpec {
    /// A software card file (`onshi jlis issue-card`), read in process.
    Emulated(PathBuf),
    /// A PC/SC reader: the named one, or any that holds a card.
    Pcsc(Option<String>),
}

impl ReaderSpec {
    /// Parses `emu:FILE`, `pcsc` or `pcsc:NAME`.
    pub fn parse(spec: &str) -> Result<Self, AppError> {
        if let Some(file) = spec.strip_prefix("emu:").filter(|f| !f.is_empty()) {
            return Ok(Self::Emulated(file.into()));
        }
        match spec {
            "pcsc" => Ok(Self::Pcsc(None)),
            other => match other.strip_prefix("pcsc:").filter(|n| !n.is_empty()) {
                Some(name) => Ok(Self::Pcsc(Some(name.to_owned()))),
                None => Err(AppError::Usage(format!(
                    "カードリーダーの指定「{spec}」が正しくありません。emu:ファイル、pcsc、pcsc:リーダー名 のいずれかです / reader must be emu:FILE, pcsc or pcsc:NAME"
                ))),
            },
        }
    }

    /// Opens the card in this reader.
    pub fn open(&self) -> Result<Box<dyn Transport>, AppError> {
        match self {
            Self::Emulated(file) => {
                let card = onshi_card_emu::SoftCard::open(file).map_err(|e| {
                    AppError::data(file, format!("ソフトウェアカードを開けません / {e}"))
                })?;
                Ok(Box::new(onshi_card_emu::InProcess::new(card)))
            }
            Self::Pcsc(name) => open_pcsc(name.as_deref()),
        }
    }

    /// The reader's state now, without touching the card.
    pub fn state(&self) -> ReaderState {
        match self {
            Self::Emulated(file) if file.is_file() => ReaderState::CardPresent {
                reader: format!("ソフトウェアカード {}", file.display()),
            },
            Self::Emulated(_) => ReaderState::NoCard,
            Self::Pcsc(name) => pcsc_state(name.as_deref()),
        }
    }
}

impl std::fmt::Display for ReaderSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Emulated(file) => write!(f, "emu:{}", file.display()),
            Self::Pcsc(None) => f.write_str("pcsc"),
            Self::Pcsc(Some(name)) => write!(f, "pcsc:{name}"),
        }
    }
}

/// What the desk shows about the reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReaderState {
    /// This build has no PC/SC, or the PC/SC service (pcscd) is not running.
    NoService(String),
    /// No reader is connected (or not the named one).
    NoReader,
    /// A reader, without a card.
    NoCard,
    /// A card is in `reader`.
    CardPresent {
        /// The reader holding the card.
        reader: String,
    },
}

impl ReaderState {
    /// A short key for pages and scripts: `no-service`, `no-reader`, `no-card`, `card`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::NoService(_) => "no-service",
            Self::NoReader => "no-reader",
            Self::NoCard => "no-card",
            Self::CardPresent { .. } => "card",
        }
    }

    /// What the staff read.
    pub fn message_ja(&self) -> String {
        match self {
            Self::NoService(why) => format!("カードリーダーを使えません（{why}）"),
            Self::NoReader => "カードリーダーが見つかりません。接続を確認してください".to_owned(),
            Self::NoCard => "カードをカードリーダーに置いてください".to_owned(),
            Self::CardPresent { reader } => format!("カードが置かれています（{reader}）"),
        }
    }
}

/// The PC/SC readers connected now (empty without PC/SC).
pub fn pcsc_readers() -> Vec<String> {
    #[cfg(feature = "pcsc")]
    {
        onshi_card::transport::pcsc::PcscReader::list_readers().unwrap_or_default()
    }
    #[cfg(not(feature = "pcsc"))]
    {
        Vec::new()
    }
}

#[cfg(feature = "pcsc")]
fn open_pcsc(name: Option<&str>) -> Result<Box<dyn Transport>, AppError> {
    let reader = onshi_card::transport::pcsc::PcscReader::connect(name)
        .map_err(|e| AppError::Card(CardError::from(e)))?;
    Ok(Box::new(reader))
}

#[cfg(not(feature = "pcsc"))]
fn open_pcsc(_name: Option<&str>) -> Result<Box<dyn Transport>, AppError> {
    Err(AppError::Card(CardError::from(TransportError::Reader(
        NO_PCSC.to_owned(),
    ))))
}

/// Why a build without the `pcsc` feature cannot use a reader.
#[cfg(not(feature = "pcsc"))]
const NO_PCSC: &str = "この onshi はカードリーダー（PC/SC）に対応していません。`cargo build --release --features pcsc` でビルドしてください";

#[cfg(feature = "pcsc")]
fn pcsc_state(name: Option<&str>) -> ReaderState {
    use onshi_card::transport::pcsc::PcscReader;
    match PcscReader::wait_for_card(name, std::time::Duration::ZERO) {
        Ok(reader) => ReaderState::CardPresent { reader },
        Err(TransportError::NoCard) => ReaderState::NoCard,
        Err(TransportError::NoReader | TransportError::ReaderNotFound(_)) => ReaderState::NoReader,
        Err(e) => ReaderState::NoService(e.message_ja()),
    }
}

#[cfg(not(feature = "pcsc"))]
fn pcsc_state(_name: Option<&str>) -> ReaderState {
    ReaderState::NoService(NO_PCSC.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            ReaderSpec::parse("emu:/tmp/c.json").ok(),
            Some(ReaderSpec::Emulated("/tmp/c.json".into()))
        );
        assert_eq!(ReaderSpec::parse("pcsc").ok(), Some(ReaderSpec::Pcsc(None)));
        let named = ReaderSpec::parse("pcsc:Virtual PCD 00 00").ok();
        assert_eq!(
            named,
            Some(ReaderSpec::Pcsc(Some("Virtual PCD 00 00".into())))
        );
        assert_eq!(
            named.map(|n| n.to_string()).as_deref(),
            Some("pcsc:Virtual PCD 00 00")
        );
        for bad in ["", "emu:", "pcsc:", "usb", "PCSC"] {
            let e = ReaderSpec::parse(bad).err().map(|e| e.message_ja());
            assert!(e.is_some_and(|m| m.contains("emu:ファイル")), "{bad}");
        }
    }

    #[test]
    fn a_missing_software_card_is_no_card() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { return };
        let spec = ReaderSpec::Emulated(dir.path().join("none.json"));
        assert_eq!(spec.state(), ReaderState::NoCard);
        assert!(spec.open().is_err());
    }
}
