//! `onshi card …`: talk to a My Number card in a reader (PC/SC) or to a software card file, and
//! `onshi card emulate`: put a software card into pcscd's virtual reader.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use clap::{Args, Subcommand};
use onshi_card::client::{sha256_digest_info, Client};
use onshi_card::error::CardError;
use onshi_card::{Pin, Transport};
use sha2::Digest;

/// `onshi card …`.
#[derive(Subcommand)]
pub enum CardCommand {
    /// What the card shows without a PIN: the authentication certificate's serial, issuer, validity.
    Info {
        #[command(flatten)]
        reader: ReaderArg,
        /// Write the authentication certificate as PEM.
        #[arg(long)]
        cert_out: Option<PathBuf>,
    },
    /// How many tries the PINs have left.
    Status {
        #[command(flatten)]
        reader: ReaderArg,
    },
    /// Check the authentication PIN (read from standard input, never from an argument).
    VerifyPin {
        #[command(flatten)]
        reader: ReaderArg,
    },
    /// Have the card sign the SHA-256 DigestInfo of a file (PIN from standard input); writes the
    /// raw 256-byte signature.
    Sign {
        #[command(flatten)]
        reader: ReaderArg,
        /// The file to sign.
        #[arg(long = "in")]
        input: PathBuf,
        /// Where to write the signature.
        #[arg(long = "out")]
        output: PathBuf,
    },
    /// Connect a software card to pcscd's virtual reader (vsmartcard-vpcd) until stopped.
    Emulate {
        /// The card file.
        #[arg(long)]
        card: Option<PathBuf>,
        /// Present a card that is not a My Number card (for testing the wrong-card path).
        #[arg(long, conflicts_with = "card")]
        foreign: bool,
        /// The address vpcd listens on.
        #[arg(long, default_value = "127.0.0.1:35963")]
        vpcd: SocketAddr,
        /// Pull the card out at the READ BINARY after this many (for testing a card removed
        /// mid-read).
        #[arg(long, hide = true)]
        remove_after: Option<usize>,
    },
}

/// `--reader emu:FILE | pcsc | pcsc:NAME`.
#[derive(Args, Clone)]
pub struct ReaderArg {
    /// The card: `emu:FILE` (a software card file), `pcsc` (the first reader with a card) or
    /// `pcsc:NAME`.
    #[arg(long, default_value = "pcsc")]
    reader: String,
}

/// Exit codes of `onshi card`: documented in the README.
mod exit {
    pub const WRONG_PIN: u8 = 2;
    pub const PIN_BLOCKED: u8 = 3;
    pub const NO_CARD: u8 = 4;
}

/// Opens the card the `--reader` argument names (see [`onshi_app::reader::ReaderSpec`]).
pub fn open_reader(spec: &str) -> anyhow::Result<Box<dyn Transport>> {
    onshi_app::reader::ReaderSpec::parse(spec)
        .and_then(|r| r.open())
        .map_err(|e| anyhow::anyhow!("{} / {e}", e.message_ja()))
}

/// Reads a secret line (a password): without echo on a terminal, else one line of standard
/// input; wiped when dropped.
pub fn read_secret(prompt: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let mut text = if std::io::stdin().is_terminal() {
        zeroize::Zeroizing::new(rpassword::prompt_password(prompt)?)
    } else {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    while text.ends_with(['\n', '\r']) {
        text.pop();
    }
    Ok(text)
}

/// Reads a PIN: without echo on a terminal, else one line of standard input.
pub fn read_pin(prompt: &str) -> anyhow::Result<Pin> {
    let text = if std::io::stdin().is_terminal() {
        zeroize::Zeroizing::new(rpassword::prompt_password(prompt)?)
    } else {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    Pin::parse(&text).map_err(|e| anyhow::anyhow!("{} / {e}", e.message_ja()))
}

/// What stopped a card command: the card said no, or something around it failed.
enum Failure {
    Card(CardError),
    Other(anyhow::Error),
}

impl From<CardError> for Failure {
    fn from(e: CardError) -> Self {
        Self::Card(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Other(e)
    }
}

/// Prints a card error for the staff and picks the exit code.
fn card_failure(e: &CardError) -> ExitCode {
    eprintln!("{} / {e}", e.message_ja());
    ExitCode::from(match e {
        CardError::WrongPin { .. } => exit::WRONG_PIN,
        CardError::PinBlocked => exit::PIN_BLOCKED,
        CardError::Transport(_) | CardError::NotMyNumberCard => exit::NO_CARD,
        _ => 1,
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes a file atomically ([`onshi_fs::write_atomic`]), readable by all (a certificate, a
/// signature).
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    onshi_fs::write_atomic(path, bytes, onshi_fs::MODE_PUBLIC)?;
    Ok(())
}

fn info(client: &mut Client<Box<dyn Transport>>, cert_out: Option<&Path>) -> Result<(), Failure> {
    let der = client.read_auth_certificate()?;
    match x509_parser::parse_x509_certificate(&der) {
        Ok((_, cert)) => {
            println!("利用者証明用電子証明書");
            println!(
                "  シリアル番号\t{}",
                onshi_pki::serial_text(cert.raw_serial())
            );
            println!("  発行者\t{}", cert.issuer());
            println!("  有効期間の開始\t{}", cert.validity().not_before);
            println!("  有効期間の満了\t{}", cert.validity().not_after);
        }
        Err(e) => println!("証明書を解析できません / cannot parse the certificate: {e}"),
    }
    if let Some(path) = cert_out {
        write_atomic(path, pem("CERTIFICATE", &der).as_bytes())
            .with_context(|| format!("{}: 書き込めません / cannot write", path.display()))?;
        println!(
            "証明書を書き出しました / certificate written: {}",
            path.display()
        );
    }
    Ok(())
}

/// Runs `onshi card …`.
pub fn run(command: &CardCommand) -> anyhow::Result<ExitCode> {
    if let CardCommand::Emulate {
        card,
        foreign,
        vpcd,
        remove_after,
    } = command
    {
        return emulate(card.as_deref(), *foreign, *vpcd, *remove_after);
    }
    let reader = match command {
        CardCommand::Info { reader, .. }
        | CardCommand::Status { reader }
        | CardCommand::VerifyPin { reader }
        | CardCommand::Sign { reader, .. } => reader,
        CardCommand::Emulate { .. } => unreachable!("handled above"),
    };
    let transport = match open_reader(&reader.reader) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e:#}");
            return Ok(ExitCode::from(exit::NO_CARD));
        }
    };
    let mut client = Client::new(transport);
    let result = match command {
        CardCommand::Info { cert_out, .. } => info(&mut client, cert_out.as_deref()),
        CardCommand::Status { .. } => status(&mut client),
        CardCommand::VerifyPin { .. } => {
            verify(&mut client).map(|_| println!("暗証番号を確認しました / PIN verified"))
        }
        CardCommand::Sign { input, output, .. } => sign(&mut client, input, output),
        CardCommand::Emulate { .. } => unreachable!("handled above"),
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Failure::Card(e)) => Ok(card_failure(&e)),
        Err(Failure::Other(e)) => Err(e),
    }
}

fn status(client: &mut Client<Box<dyn Transport>>) -> Result<(), Failure> {
    let auth = client.auth_pin_tries_left()?;
    println!("利用者証明用暗証番号（数字4桁）\t残り{auth}回");
    if auth == 0 {
        println!("  ロックされています。お住まいの市区町村の窓口で初期化（再設定）が必要です。");
    }
    match client.signing_password_tries_left() {
        Ok(n) => println!("署名用パスワード\t残り{n}回"),
        Err(e) => println!("署名用パスワード\t確認できません（{}）", e.message_ja()),
    }
    Ok(())
}

/// Shows the tries left, reads the PIN, verifies it.
fn verify(client: &mut Client<Box<dyn Transport>>) -> Result<(), Failure> {
    let tries = client.auth_pin_tries_left()?;
    if tries == 0 {
        return Err(CardError::PinBlocked.into());
    }
    eprintln!("暗証番号（数字4桁）を入力してください（残り{tries}回）");
    let pin = read_pin("暗証番号: ")?;
    Ok(client.verify_auth_pin(&pin)?)
}

fn sign(
    client: &mut Client<Box<dyn Transport>>,
    input: &Path,
    output: &Path,
) -> Result<(), Failure> {
    let data = std::fs::read(input)
        .with_context(|| format!("{}: 読めません / cannot read", input.display()))?;
    let digest: [u8; 32] = sha2::Sha256::digest(&data).into();
    verify(client)?;
    let signature = client.sign_with_auth_key(&sha256_digest_info(&digest))?;
    write_atomic(output, &signature)
        .with_context(|| format!("{}: 書き込めません / cannot write", output.display()))?;
    println!(
        "署名しました（{} バイト） / signed: {}",
        signature.len(),
        output.display()
    );
    Ok(())
}

fn emulate(
    card: Option<&Path>,
    foreign: bool,
    vpcd: SocketAddr,
    remove_after: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let soft = if foreign {
        onshi_card_emu::SoftCard::foreign()
    } else {
        let Some(path) = card else {
            anyhow::bail!(
                "--card ファイル か --foreign を指定してください / give --card FILE or --foreign"
            );
        };
        onshi_card_emu::SoftCard::open(path).with_context(|| {
            format!(
                "{}: カードファイルを開けません / cannot open the card file",
                path.display()
            )
        })?
    };
    eprintln!("仮想カードリーダー（vpcd {vpcd}）にカードを挿入しました。Ctrl-C で取り出します。");
    let stop = std::sync::atomic::AtomicBool::new(false);
    onshi_card_emu::vpcd::serve_until_removed(soft, vpcd, &stop, remove_after)
        .map_err(|e| anyhow::anyhow!("vpcd {vpcd}: {e} (pcscd と vsmartcard-vpcd は動いていますか / is pcscd with vsmartcard-vpcd running?)"))?;
    Ok(ExitCode::SUCCESS)
}
