//! The vpcd bridge on loopback, without pcscd: the test plays vpcd (a TCP server) and the
//! software card connects to it as it would to pcscd's virtual reader.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use onshi_card::client::{sha256_digest_info, Client};
use onshi_card::{Pin, Transport, TransportError};
use onshi_card_emu::vpcd::{self, CTRL_GET_ATR, CTRL_POWER_OFF, CTRL_POWER_ON, CTRL_RESET};
use onshi_card_emu::{EmuError, SoftCard, MY_NUMBER_CARD_ATR};

use super::support;

/// The vpcd side of one connection.
struct FakeVpcd {
    stream: TcpStream,
}

impl FakeVpcd {
    fn send(&mut self, payload: &[u8]) {
        let mut frame = u16::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).unwrap();
    }

    fn receive(&mut self) -> Vec<u8> {
        let mut len = [0u8; 2];
        self.stream.read_exact(&mut len).unwrap();
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.stream.read_exact(&mut payload).unwrap();
        payload
    }
}

impl Transport for FakeVpcd {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.send(command);
        Ok(self.receive())
    }
}

/// A listening fake vpcd and the software card connected to it on a thread.
fn connect(card: SoftCard) -> (FakeVpcd, Arc<AtomicBool>, JoinHandle<Result<(), EmuError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let handle = std::thread::spawn(move || vpcd::serve(card, addr, &thread_stop));
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (FakeVpcd { stream }, stop, handle)
}

#[test]
fn power_on_atr_and_select() {
    let (mut vpcd, _stop, handle) = connect(SoftCard::in_memory(support::card_file()));
    vpcd.send(&[CTRL_POWER_ON]);
    vpcd.send(&[CTRL_GET_ATR]);
    assert_eq!(vpcd.receive(), MY_NUMBER_CARD_ATR);
    let select_jpki = [
        0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
    ];
    vpcd.send(&select_jpki);
    assert_eq!(vpcd.receive(), [0x90, 0x00]);
    vpcd.send(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
    assert_eq!(vpcd.receive(), [0x90, 0x00]);
    vpcd.send(&[0x00, 0x20, 0x00, 0x80]);
    assert_eq!(vpcd.receive(), [0x63, 0xC3]);
    // A reset forgets the selection.
    vpcd.send(&[CTRL_RESET]);
    vpcd.send(&[0x00, 0x20, 0x00, 0x80]);
    assert_eq!(vpcd.receive(), [0x69, 0x86]);
    vpcd.send(&[CTRL_POWER_OFF]);
    // Two bytes are an APDU (one would be a control message), a malformed one.
    vpcd.send(&[0x00, 0xA4]);
    assert_eq!(vpcd.receive(), [0x67, 0x00]);
    // vpcd closes the connection: the bridge returns.
    drop(vpcd);
    handle.join().unwrap().unwrap();
}

#[test]
fn the_client_through_the_bridge() {
    let file = support::card_file();
    let cert = file.auth_certificate_der().to_vec();
    let (mut vpcd, stop, handle) = connect(SoftCard::in_memory(file));
    vpcd.send(&[CTRL_POWER_ON]);
    let mut client = Client::new(vpcd);
    assert_eq!(client.read_auth_certificate().unwrap(), cert);
    assert_eq!(client.auth_pin_tries_left().unwrap(), 3);
    let pin = Pin::parse(support::PIN).unwrap();
    let signature = client
        .verify_and_sign(&pin, &sha256_digest_info(&[3; 32]))
        .unwrap();
    assert_eq!(signature.len(), 256);
    let attributes = client
        .read_attributes(&Pin::parse(support::ATTRIBUTES_PIN).unwrap())
        .unwrap();
    assert!(attributes == support::attributes());
    // Stopped while the connection stays open: the bridge notices within its poll interval.
    let started = Instant::now();
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(client);
}

#[test]
fn the_foreign_card_presents_another_atr() {
    let (mut vpcd, _stop, handle) = connect(SoftCard::foreign());
    vpcd.send(&[CTRL_GET_ATR]);
    assert_ne!(vpcd.receive(), MY_NUMBER_CARD_ATR);
    let mut client = Client::new(vpcd);
    assert!(matches!(
        client.read_auth_certificate(),
        Err(onshi_card::error::CardError::NotMyNumberCard)
    ));
    drop(client);
    handle.join().unwrap().unwrap();
}

#[test]
fn no_vpcd_is_an_error_naming_the_address() {
    // A port that was free a moment ago.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = vpcd::serve(SoftCard::foreign(), addr, &AtomicBool::new(false)).unwrap_err();
    assert!(matches!(e, EmuError::Vpcd { .. }));
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
}
