//! `onshi admin links …`: the wrong-link guard for the operator — the links held or listed at
//! import, and the operator's decision on each (audited).

use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;
use onshi_store::link_checks::{self, Decision, LinkCheck};

use crate::server::ServerStore;

/// `onshi admin links …`.
#[derive(Subcommand)]
pub enum LinksCommand {
    /// The links to look at: held (the card's holder is not the linked person), held or released
    /// by an operator, and those whose name differs only in spelling; with what differed.
    Review {
        #[command(flatten)]
        store: ServerStore,
    },
    /// Answer with this card's link again (after checking with the insurer that it is right).
    Release {
        #[command(flatten)]
        store: ServerStore,
        /// The card certificate's serial (as the review lists it).
        serial: String,
        /// The issuing CA's subject, when two CAs have a card with this serial.
        #[arg(long)]
        issuer: Option<String>,
        /// Why (kept in the operators' audit).
        #[arg(long)]
        reason: String,
    },
    /// Answer this card with no records until decided again (E012).
    Hold {
        #[command(flatten)]
        store: ServerStore,
        /// The card certificate's serial.
        serial: String,
        /// The issuing CA's subject, when two CAs have a card with this serial.
        #[arg(long)]
        issuer: Option<String>,
        /// Why (kept in the operators' audit).
        #[arg(long)]
        reason: String,
    },
}

fn json_of(c: &LinkCheck) -> serde_json::Value {
    serde_json::json!({
        "issuer": c.issuer,
        "serial": c.serial,
        "person_id": c.person_id,
        "status": c.status.as_str(),
        "differences": c.differences,
        "holder": c.holder.as_ref().map(|h| serde_json::json!({
            "name": h.name, "name_kana": h.name_kana, "birthdate": h.birthdate, "sex": h.sex,
        })),
        "checked_at": c.checked_at.to_rfc3339(),
        "changed_at": c.changed_at.map(|t| t.to_rfc3339()),
        "decision": c.decision.as_ref().map(|d| serde_json::json!({
            "by": d.by, "reason": d.reason, "at": d.at.to_rfc3339(),
        })),
    })
}

/// Runs `onshi admin links …`.
pub fn run(command: &LinksCommand) -> anyhow::Result<ExitCode> {
    match command {
        LinksCommand::Review { store } => {
            let db = store.open()?;
            let list = link_checks::links_to_review(db.portal())?;
            let counts = link_checks::link_status_counts(db.portal())?;
            if store.json() {
                let counts: serde_json::Map<String, serde_json::Value> = counts
                    .iter()
                    .map(|(s, n)| (s.as_str().to_owned(), (*n).into()))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({
                        "counts": counts,
                        "links": list.iter().map(json_of).collect::<Vec<_>>(),
                    })
                );
                return Ok(ExitCode::SUCCESS);
            }
            let summary: Vec<String> = counts
                .iter()
                .map(|(s, n)| format!("{} {n}", s.label_ja()))
                .collect();
            println!("カードのひも付けの照合: {}", summary.join("、"));
            if list.is_empty() {
                println!("確認が必要なひも付けはありません。");
            }
            for c in &list {
                println!(
                    "{}\t{}\t個人ID {}\t{}",
                    c.serial,
                    c.status.label_ja(),
                    c.person_id,
                    c.differences_ja()
                );
                if let Some(h) = &c.holder {
                    println!(
                        "  カードの名義: {}　生年月日 {}　性別 {}",
                        h.name, h.birthdate, h.sex
                    );
                }
                if let Some(d) = &c.decision {
                    println!("  判断: {}（{}、{}）", d.reason, d.by, d.at.to_rfc3339());
                }
                println!("  発行元: {}", c.issuer);
            }
            if list.iter().any(|c| !c.status.usable()) {
                println!(
                    "保険者に確認のうえ、onshi admin links release SERIAL --reason … で回答を再開するか、正しい issued.csv を取り込み直してください。"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        LinksCommand::Release {
            store,
            serial,
            issuer,
            reason,
        }
        | LinksCommand::Hold {
            store,
            serial,
            issuer,
            reason,
        } => {
            let decision = if matches!(command, LinksCommand::Release { .. }) {
                Decision::Release
            } else {
                Decision::Hold
            };
            if reason.trim().is_empty() {
                anyhow::bail!(
                    "--reason: 理由を書いてください（運用者の監査に残ります） / give a reason"
                );
            }
            let by = std::env::var("SUDO_USER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "admin".to_owned());
            let db = store.open()?;
            let Some(done) = link_checks::decide_link(
                db.portal(),
                issuer.as_deref(),
                serial,
                decision,
                link_checks::Actor {
                    role: "admin",
                    id: 0,
                    name: &by,
                },
                reason.trim(),
                Utc::now(),
            )?
            else {
                anyhow::bail!("{serial}: このシリアルのひも付けはありません / no card link with this serial (see `onshi admin links review`)");
            };
            if store.json() {
                println!("{}", json_of(&done));
            } else {
                println!(
                    "{}: {}（理由: {}）",
                    done.serial,
                    done.status.label_ja(),
                    reason.trim()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
