//! Card readers through PC/SC (pcscd on Linux, the smart-card service on Windows and macOS),
//! with the `pcsc` crate: a real reader at the clinic, or the virtual reader of vsmartcard-vpcd
//! in tests. Only with the cargo feature `pcsc` (it links libpcsclite).
//!
//! PC/SC errors become [`TransportError`]s the staff can act on: no reader (or the service is
//! not running), no card, the card removed during an exchange.

use std::ffi::{CStr, CString};
use std::fmt;
use std::time::{Duration, Instant};

use zeroize::Zeroize;

use super::{Transport, TransportError};

/// Room for the longest response APDU: 65,536 data bytes and SW1 SW2.
const RECEIVE_BUFFER_LEN: usize = 65_536 + 2;

/// A card in a PC/SC reader, connected in shared mode with T=0 or T=1.
///
/// Dropping it disconnects with a card reset, which also drops any PIN verification.
pub struct PcscReader {
    card: pcsc::Card,
    /// The context the card was connected in, to watch the reader's state.
    context: pcsc::Context,
    /// The reader's name as PC/SC knows it.
    reader: CString,
    /// The same for people.
    name: String,
    receive: Vec<u8>,
    /// Whether a command has been answered on this connection (see `transmit`).
    exchanged: bool,
}

impl fmt::Debug for PcscReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcscReader")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PcscReader {
    /// The names of the connected readers (empty when there are none).
    pub fn list_readers() -> Result<Vec<String>, TransportError> {
        let context = establish()?;
        Ok(reader_names(&context)?.iter().map(|n| lossy(n)).collect())
    }

    /// Connects to the card in the reader `name`, or with `None` in the first reader that holds
    /// a card.
    pub fn connect(name: Option<&str>) -> Result<Self, TransportError> {
        let context = establish()?;
        if let Some(name) = name {
            return connect_to(&context, &reader_name(name)?);
        }
        let names = reader_names(&context)?;
        let mut failure = TransportError::NoReader;
        for name in &names {
            match connect_to(&context, name) {
                Ok(reader) => return Ok(reader),
                // Keep "no card" over other failures: it is what the staff can fix.
                Err(e) if failure != TransportError::NoCard => failure = e,
                Err(_) => {}
            }
        }
        Err(failure)
    }

    /// The reader's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits up to `timeout` until a card is in the reader `name` (or, with `None`, in any
    /// reader connected now), and returns that reader's name for [`PcscReader::connect`].
    /// A card already there returns at once; none in time is [`TransportError::NoCard`].
    pub fn wait_for_card(name: Option<&str>, timeout: Duration) -> Result<String, TransportError> {
        let context = establish()?;
        let names = match name {
            Some(name) => vec![reader_name(name)?],
            None => reader_names(&context)?,
        };
        if names.is_empty() {
            return Err(TransportError::NoReader);
        }
        let mut states: Vec<pcsc::ReaderState> = names
            .into_iter()
            .map(|n| pcsc::ReaderState::new(n, pcsc::State::UNAWARE))
            .collect();
        // A timeout too long for the clock is no timeout.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match context.get_status_change(left, &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => return Err(TransportError::NoCard),
                Err(e) => return Err(map_error(e, Phase::Connect(name.unwrap_or("")))),
            }
            for state in &mut states {
                let event = state.event_state();
                if event.contains(pcsc::State::UNKNOWN) {
                    return Err(TransportError::ReaderNotFound(lossy(state.name())));
                }
                if event.contains(pcsc::State::PRESENT) && !event.contains(pcsc::State::MUTE) {
                    return Ok(lossy(state.name()));
                }
                state.sync_current_state();
            }
        }
    }
}

impl Transport for PcscReader {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut answer = self.card.transmit(command, &mut self.receive);
        // Reset by another program (or by pcscd powering a card just put in) between our connect
        // and our first command: nothing of ours was lost, so connect again and send it once
        // more. Later in a session a reset has lost the PIN verification and stays an error.
        if matches!(answer, Err(pcsc::Error::ResetCard)) && !self.exchanged {
            self.card
                .reconnect(
                    pcsc::ShareMode::Shared,
                    pcsc::Protocols::ANY,
                    pcsc::Disposition::LeaveCard,
                )
                .map_err(|e| map_error(e, Phase::Transmit))?;
            answer = self.card.transmit(command, &mut self.receive);
        }
        let answer = answer.map_err(|e| map_error(e, Phase::Transmit))?;
        self.exchanged = true;
        let response = answer.to_vec();
        // The answer may hold personal data (the attributes): not left in the buffer.
        if let Some(used) = self.receive.get_mut(..response.len()) {
            used.zeroize();
        }
        if response.len() < STATUS_WORD_LEN {
            return Err(self.why_no_status_word(response.len()));
        }
        Ok(response)
    }
}

/// SW1 SW2.
const STATUS_WORD_LEN: usize = 2;

/// How long a reader that answered nothing has to show that the card went away.
const REMOVAL_GRACE: Duration = Duration::from_millis(1500);

impl PcscReader {
    /// Why an exchange returned no status word. Some drivers (vpcd among them) answer nothing,
    /// rather than an error, when the card goes away during the exchange; the reader's state
    /// then turns empty shortly after. A card still there after [`REMOVAL_GRACE`] means a
    /// malformed answer.
    fn why_no_status_word(&self, len: usize) -> TransportError {
        let malformed = || TransportError::Malformed(format!("{len} bytes without a status word"));
        let mut states = [pcsc::ReaderState::new(
            self.reader.clone(),
            pcsc::State::UNAWARE,
        )];
        let deadline = Instant::now().checked_add(REMOVAL_GRACE);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match self.context.get_status_change(left, &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => return malformed(),
                Err(_) => return TransportError::CardRemoved,
            }
            for state in &mut states {
                let event = state.event_state();
                if !event.contains(pcsc::State::PRESENT)
                    || event.intersects(pcsc::State::EMPTY | pcsc::State::UNAVAILABLE)
                {
                    return TransportError::CardRemoved;
                }
                state.sync_current_state();
            }
        }
    }
}

/// When a PC/SC error happened: the same error means different things.
#[derive(Debug, Clone, Copy)]
enum Phase<'a> {
    /// Connecting to the service.
    Establish,
    /// Connecting to (or waiting on) a reader of this name.
    Connect(&'a str),
    /// Exchanging APDUs with a connected card.
    Transmit,
}

/// A PC/SC error as the transport error the staff can act on.
fn map_error(error: pcsc::Error, phase: Phase<'_>) -> TransportError {
    use pcsc::Error as E;
    match (error, phase) {
        (E::NoReadersAvailable | E::NoService | E::ServiceStopped, _) => TransportError::NoReader,
        (E::ResetCard, _) => TransportError::CardRemoved,
        (E::RemovedCard | E::NoSmartcard | E::ReaderUnavailable, Phase::Transmit) => {
            TransportError::CardRemoved
        }
        (E::RemovedCard | E::NoSmartcard, _) => TransportError::NoCard,
        (E::UnknownReader | E::ReaderUnavailable, Phase::Connect(name)) => {
            TransportError::ReaderNotFound(name.to_owned())
        }
        (e, _) => TransportError::Reader(e.to_string()),
    }
}

/// A context with the PC/SC service.
fn establish() -> Result<pcsc::Context, TransportError> {
    pcsc::Context::establish(pcsc::Scope::User).map_err(|e| map_error(e, Phase::Establish))
}

/// The connected readers; none is an empty list.
fn reader_names(context: &pcsc::Context) -> Result<Vec<CString>, TransportError> {
    match context.list_readers_owned() {
        Ok(names) => Ok(names),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(map_error(e, Phase::Establish)),
    }
}

/// A reader name as PC/SC takes it.
fn reader_name(name: &str) -> Result<CString, TransportError> {
    CString::new(name).map_err(|_| TransportError::ReaderNotFound(name.to_owned()))
}

/// Connects to the card in one reader.
fn connect_to(context: &pcsc::Context, name: &CStr) -> Result<PcscReader, TransportError> {
    let shown = lossy(name);
    let card = context
        .connect(name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| map_error(e, Phase::Connect(&shown)))?;
    Ok(PcscReader {
        card,
        context: context.clone(),
        reader: name.to_owned(),
        name: shown,
        receive: vec![0; RECEIVE_BUFFER_LEN],
        exchanged: false,
    })
}

/// A reader name for people (PC/SC names are bytes; they are ASCII in practice).
fn lossy(name: &CStr) -> String {
    name.to_string_lossy().into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_the_staff_can_act_on() {
        use pcsc::Error as E;
        let connect = Phase::Connect("Reader 0");
        assert_eq!(
            map_error(E::NoService, Phase::Establish),
            TransportError::NoReader
        );
        assert_eq!(
            map_error(E::NoReadersAvailable, connect),
            TransportError::NoReader
        );
        assert_eq!(map_error(E::NoSmartcard, connect), TransportError::NoCard);
        assert_eq!(map_error(E::RemovedCard, connect), TransportError::NoCard);
        assert_eq!(
            map_error(E::RemovedCard, Phase::Transmit),
            TransportError::CardRemoved
        );
        assert_eq!(
            map_error(E::ResetCard, Phase::Transmit),
            TransportError::CardRemoved
        );
        assert_eq!(
            map_error(E::ResetCard, connect),
            TransportError::CardRemoved
        );
        assert_eq!(
            map_error(E::UnknownReader, connect),
            TransportError::ReaderNotFound("Reader 0".into())
        );
        assert!(matches!(
            map_error(E::UnresponsiveCard, connect),
            TransportError::Reader(_)
        ));
    }

    /// Through pcscd: needs a reader with a card, e.g. vpcd with `onshi card emulate` running.
    #[test]
    #[ignore = "needs pcscd and a reader holding a My Number card (or vpcd + onshi card emulate)"]
    fn reads_a_card_through_pcscd() {
        let readers = PcscReader::list_readers().unwrap();
        assert!(!readers.is_empty());
        let name = PcscReader::wait_for_card(None, Duration::from_secs(5)).unwrap();
        let reader = PcscReader::connect(Some(&name)).unwrap();
        let mut client = crate::Client::new(reader);
        let certificate = client.read_auth_certificate().unwrap();
        assert_eq!(
            crate::tlv::der_total_length(&certificate),
            Ok(certificate.len())
        );
        assert!(client.auth_pin_tries_left().unwrap() <= 3);
    }
}
