//! The bridge into pcscd's virtual reader (vsmartcard's `vpcd`): the software card connects to
//! vpcd as a TCP client and then appears in PC/SC as a card in a reader, so that the real PC/SC
//! stack (pcscd, libpcsclite, the `pcsc` crate) talks to it.
//!
//! The wire: each message is a 2-byte big-endian length and that many bytes. From vpcd, a 1-byte
//! message is a control message (`00` power off, `01` power on, `02` reset, `04` get ATR, which is
//! answered with the ATR); a longer one is a command APDU, answered with the response APDU. Power
//! off, power on and reset all start the card afresh ([`SoftCard::reset`]).
//!
//! Nothing personal is logged: control messages, and for APDUs the header and status word only.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::{EmuError, SoftCard};

/// vpcd's default port.
pub const VPCD_PORT: u16 = 35963;
/// Where vpcd listens by default: `127.0.0.1:35963`.
pub const DEFAULT_VPCD_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, VPCD_PORT));

/// Control message: power off.
pub const CTRL_POWER_OFF: u8 = 0x00;
/// Control message: power on.
pub const CTRL_POWER_ON: u8 = 0x01;
/// Control message: reset.
pub const CTRL_RESET: u8 = 0x02;
/// Control message: get the ATR.
pub const CTRL_GET_ATR: u8 = 0x04;

/// How often a blocked read looks at the stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long connecting and writing may take before the bridge gives up.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message the 2-byte length allows.
const MAX_FRAME: usize = u16::MAX as usize;

/// Connects `card` to vpcd at `addr` and answers it until the connection closes (`Ok`) or `stop`
/// is set (`Ok`, checked at least every 100 ms). No reconnection.
pub fn serve(card: SoftCard, addr: SocketAddr, stop: &AtomicBool) -> Result<(), EmuError> {
    serve_until_removed(card, addr, stop, None)
}

/// [`serve`], but the card is "taken out of the reader" (the connection closes without an
/// answer) when the READ BINARY after the first `remove_after` ones arrives: how tests pull a card
/// in the middle of reading a file, whatever other commands came before.
pub fn serve_until_removed(
    card: SoftCard,
    addr: SocketAddr,
    stop: &AtomicBool,
    remove_after: Option<usize>,
) -> Result<(), EmuError> {
    let err = |source| EmuError::Vpcd { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(err)?;
    stream.set_read_timeout(Some(POLL_INTERVAL)).map_err(err)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(err)?;
    stream.set_nodelay(true).map_err(err)?;
    tracing::info!(%addr, "connected to vpcd");
    let mut bridge = Bridge::new(card);
    bridge.apdus_left = remove_after;
    let result = bridge.run(&mut stream, stop);
    tracing::info!(%addr, "vpcd bridge stopped");
    result.map_err(err)
}

/// The card and the framing state of one connection.
struct Bridge {
    card: SoftCard,
    frames: FrameReader,
    /// READ BINARY commands still answered before the card is pulled out (`None`: never).
    apdus_left: Option<usize>,
}

impl Bridge {
    fn new(card: SoftCard) -> Self {
        Self {
            card,
            frames: FrameReader::default(),
            apdus_left: None,
        }
    }

    fn run<S: Read + Write>(&mut self, stream: &mut S, stop: &AtomicBool) -> io::Result<()> {
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let frame = match self.frames.next(stream) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // An APDU (not a 1-byte control message) whose INS is READ BINARY.
            if frame.len() > 4 && frame[1] == onshi_card::ap::INS_READ_BINARY {
                match self.apdus_left {
                    Some(0) => {
                        tracing::info!("card pulled out of the virtual reader");
                        return Ok(());
                    }
                    Some(n) => self.apdus_left = Some(n - 1),
                    None => {}
                }
            }
            if let Some(answer) = self.answer(&frame) {
                write_frame(stream, &answer)?;
            }
        }
    }

    /// What to send back for one message from vpcd (control messages but ATR get none).
    fn answer(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        match frame {
            [] => None,
            [CTRL_POWER_OFF] => {
                tracing::debug!("vpcd: power off");
                self.card.reset();
                None
            }
            [CTRL_POWER_ON] => {
                tracing::debug!("vpcd: power on");
                self.card.reset();
                None
            }
            [CTRL_RESET] => {
                tracing::debug!("vpcd: reset");
                self.card.reset();
                None
            }
            [CTRL_GET_ATR] => {
                tracing::debug!("vpcd: ATR");
                Some(self.card.atr().to_vec())
            }
            [other] => {
                tracing::debug!(control = other, "vpcd: unknown control message ignored");
                None
            }
            apdu => Some(self.card.process(apdu)),
        }
    }
}

/// Reassembles length-prefixed messages across reads that may time out midway.
struct FrameReader {
    /// Bytes received and not yet returned; sized once, wiped on drop (a VERIFY holds a PIN).
    buf: Zeroizing<Vec<u8>>,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self {
            buf: Zeroizing::new(Vec::with_capacity(2 * (2 + MAX_FRAME))),
        }
    }
}

impl FrameReader {
    /// The next whole message; `None` when the peer closed between messages. A read error
    /// (a timeout included) is returned as is; bytes already received are kept for the next call.
    fn next(&mut self, r: &mut impl Read) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        loop {
            if let [hi, lo, rest @ ..] = self.buf.as_slice() {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                if rest.len() >= len {
                    let frame = Zeroizing::new(rest[..len].to_vec());
                    self.buf.drain(..2 + len);
                    return Ok(Some(frame));
                }
            }
            let mut chunk = Zeroizing::new([0u8; 4096]);
            match r.read(&mut chunk[..])? {
                0 if self.buf.is_empty() => return Ok(None),
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "vpcd closed the connection inside a message",
                    ))
                }
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// Sends one message: its 2-byte length, then the bytes, in one write.
fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too long for vpcd"))?;
    let mut out = Vec::with_capacity(2 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::card::MY_NUMBER_CARD_ATR;

    /// A reader that yields the scripted chunks, with a timeout between each.
    struct Trickle {
        chunks: Vec<Vec<u8>>,
        timeout_next: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.chunks.is_empty() {
                return Ok(0);
            }
            self.timeout_next = !self.timeout_next;
            if !self.timeout_next {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let chunk = self.chunks.remove(0);
            buf[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    fn next_ok(frames: &mut FrameReader, r: &mut Trickle) -> Option<Vec<u8>> {
        loop {
            match frames.next(r) {
                Ok(f) => return f.map(|f| f.to_vec()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn frames_survive_split_reads_and_timeouts() {
        let mut r = Trickle {
            chunks: vec![
                vec![0],
                vec![1, 4, 0, 5, 0],
                vec![0xA4, 4, 0x0C, 0],
                vec![0, 0],
                vec![0, 1, 2],
            ],
            timeout_next: false,
        };
        let mut frames = FrameReader::default();
        assert_eq!(next_ok(&mut frames, &mut r), Some(vec![4]));
        assert_eq!(
            next_ok(&mut frames, &mut r),
            Some(vec![0, 0xA4, 4, 0x0C, 0])
        );
        assert_eq!(next_ok(&mut frames, &mut r), Some(vec![]));
        assert_eq!(next_ok(&mut frames, &mut r), Some(vec![2]));
        assert_eq!(next_ok(&mut frames, &mut r), None);
    }

    #[test]
    fn eof_inside_a_frame_is_an_error() {
        let mut r = Trickle {
            chunks: vec![vec![0, 5, 1]],
            timeout_next: false,
        };
        let mut frames = FrameReader::default();
        let e = loop {
            match frames.next(&mut r) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => break other.unwrap_err(),
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn answers() {
        let mut bridge = Bridge::new(SoftCard::foreign());
        assert_eq!(bridge.answer(&[CTRL_POWER_ON]), None);
        assert_eq!(bridge.answer(&[CTRL_GET_ATR]), Some(vec![0x3B, 0x00]));
        assert_eq!(bridge.answer(&[0x03]), None);
        assert_eq!(bridge.answer(&[0, 0xB0, 0, 0, 0]), Some(vec![0x69, 0x86]));
        let mut out = Vec::new();
        write_frame(&mut out, MY_NUMBER_CARD_ATR).unwrap();
        assert_eq!(out[..2], [0, 9]);
        assert_eq!(&out[2..], MY_NUMBER_CARD_ATR);
        assert!(write_frame(&mut Vec::new(), &vec![0; MAX_FRAME + 1]).is_err());
    }
}
