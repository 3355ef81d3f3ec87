//! `onshi jlis …`: the test card authority, acting as J-LIS would — a test JPKI root, software
//! cards for synthetic persons, revocation and CRLs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{NaiveDate, TimeZone, Utc};
use clap::Subcommand;
use onshi_card::tlv::Attributes;
use onshi_card::Pin;

/// `onshi jlis …`.
#[derive(Subcommand)]
pub enum JlisCommand {
    /// Create a test authority (a JPKI root for authentication certificates) in DIR.
    Init {
        /// The authority's directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue a software My Number card for a person; records serial, person, issuer and (with
    /// --name) the holder's name, birth date and sex in issued.csv.
    IssueCard {
        /// The authority's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The person id the card belongs to (the link the eligibility service uses).
        #[arg(long)]
        person: String,
        /// The card's 4-digit PIN (a test authority's choice; real PINs are the holder's).
        #[arg(long)]
        pin: String,
        /// Where to write the card file.
        #[arg(long)]
        out: PathBuf,
        /// 氏名 on the card face (券面事項入力補助AP). Given, the card's name, birth date and sex are
        /// recorded in issued.csv as its holder, which the service's wrong-link guard compares
        /// with the person's record; left out, the face says 試験　太郎 and no holder is recorded
        /// (the link is imported unchecked).
        #[arg(long)]
        name: Option<String>,
        /// 生年月日, yyyyMMdd.
        #[arg(long, default_value = "19800101")]
        birth: String,
        /// 性別: 1 男, 2 女, 9 適用不能.
        #[arg(long, default_value = "1")]
        sex: String,
        /// 住所.
        #[arg(long, default_value = "東京都千代田区霞が関１－２－２")]
        address: String,
        /// Start of the certificate's validity, yyyyMMdd (default: now).
        #[arg(long)]
        not_before: Option<String>,
        /// End of the certificate's validity, yyyyMMdd (default: five years on).
        #[arg(long)]
        not_after: Option<String>,
    },
    /// Revoke a card's certificate by its serial (as issued.csv writes it).
    Revoke {
        /// The authority's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate serial.
        #[arg(long)]
        serial: String,
    },
    /// Write the current CRL (DER).
    Crl {
        /// The authority's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

fn day(s: &str, what: &str) -> anyhow::Result<chrono::DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s, "%Y%m%d").with_context(|| {
        format!("{what}: yyyyMMdd で指定してください / expected yyyyMMdd: {s:?}")
    })?;
    Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()))
}

/// Runs `onshi jlis …`.
pub fn run(command: &JlisCommand) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    match command {
        JlisCommand::Init { dir } => {
            onshi_jlis::Authority::init(dir, now)?;
            println!(
                "試験用の認証局を作成しました / test authority created: {}",
                dir.display()
            );
            println!(
                "  CA証明書 / CA certificate: {}",
                dir.join("ca.pem").display()
            );
        }
        JlisCommand::IssueCard {
            dir,
            person,
            pin,
            out,
            name,
            birth,
            sex,
            address,
            not_before,
            not_after,
        } => {
            let authority = onshi_jlis::Authority::open(dir)?;
            let pin =
                Pin::parse(pin).map_err(|e| anyhow::anyhow!("--pin: {} / {e}", e.message_ja()))?;
            let request = onshi_jlis::IssueRequest {
                person_id: person.clone(),
                pin,
                attributes: Attributes {
                    name: name.clone().unwrap_or_else(|| "試験　太郎".to_owned()),
                    address: address.clone(),
                    birth: birth.clone(),
                    sex: sex.clone(),
                },
                attributes_pin: None,
                record_holder: name.is_some(),
                not_before: not_before
                    .as_deref()
                    .map(|s| day(s, "--not-before"))
                    .transpose()?,
                not_after: not_after
                    .as_deref()
                    .map(|s| day(s, "--not-after"))
                    .transpose()?,
                out: out.clone(),
            };
            let card = authority.issue_card(&request, now)?;
            println!("カードを発行しました / card issued: {}", out.display());
            println!("  シリアル番号 / serial\t{}", card.serial);
            println!("  個人ID / person\t{person}");
            println!("  発行者 / issuer\t{}", authority.subject());
            println!(
                "  有効期間 / validity\t{} – {}",
                card.not_before, card.not_after
            );
        }
        JlisCommand::Revoke { dir, serial } => {
            onshi_jlis::Authority::open(dir)?.revoke(serial, now)?;
            println!("失効させました / revoked: {serial}");
        }
        JlisCommand::Crl { dir, out } => {
            let der = onshi_jlis::Authority::open(dir)?.crl(now, chrono::Duration::days(7))?;
            std::fs::write(out, der).with_context(|| format!("{}", out.display()))?;
            println!("CRL を書き出しました / CRL written: {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
