//! A synthetic card-links feed (`issued.csv`) for the persons of a generated `persons.csv`: one
//! card per person, with the holder as the card authority records them, and — to measure the
//! wrong-link guard — a given share of links planted wrong (the card of one person linked to
//! another, as a wrong 個人番号 typed at an insurer does). The planted links are listed in
//! [`PLANTED_FILE`] so that what the import holds can be compared with what was planted.
//!
//! The card authority and the insurer do not always write a name alike: for about half of the
//! persons whose name has an old or variant kanji (髙, 﨑, 邉 …), the card's record has the
//! standard form. And for about half of the persons whose insurer keeps a former name (旧姓, the
//! `FormerName` of persons.csv), the card is still under that name. Those links are right too
//! and must not be held.

use std::path::Path;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SynthError;

/// The card-links file, as `onshi jlis issue-card` writes it and `onshi import card-links` reads.
pub const CARD_LINKS_FILE: &str = "issued.csv";
/// The links planted wrong: `Serial,HolderPersonId,LinkedPersonId`.
pub const PLANTED_FILE: &str = "planted-wrong-links.csv";

/// What to write.
#[derive(Clone, Debug)]
pub struct CardLinkOptions {
    /// The share of links planted wrong, 0 to 1.
    pub wrong_share: f64,
    /// The random seed.
    pub seed: u64,
    /// The issuing CA's subject (`Issuer`), one the importing server trusts.
    pub issuer: String,
    /// The cards' validity.
    pub not_before: DateTime<Utc>,
    /// The cards' validity.
    pub not_after: DateTime<Utc>,
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CardLinkSummary {
    /// Cards (lines of `issued.csv`).
    pub cards: u64,
    /// Links planted wrong.
    pub planted: u64,
    /// Right links whose holder name the card authority spells with standard kanji.
    pub spelled_otherwise: u64,
    /// Right links whose card is still under the holder's former name (旧姓).
    pub under_former_name: u64,
}

struct Holder {
    id: String,
    name: String,
    birth: String,
    sex: String,
    former_name: String,
}

/// Reads `persons.csv` in `dir` and writes [`CARD_LINKS_FILE`] and [`PLANTED_FILE`] beside it.
pub fn write_card_links(dir: &Path, opts: &CardLinkOptions) -> Result<CardLinkSummary, SynthError> {
    if !(0.0..=1.0).contains(&opts.wrong_share) {
        return Err(SynthError::Invalid(format!(
            "the share of wrong links must be between 0 and 1 (got {})",
            opts.wrong_share
        )));
    }
    let persons_path = dir.join(crate::PERSONS_FILE);
    let mut reader = csv::Reader::from_path(&persons_path)
        .map_err(|e| SynthError::Invalid(format!("{}: {e}", persons_path.display())))?;
    let mut holders = Vec::new();
    for row in reader.records() {
        let row =
            row.map_err(|e| SynthError::Invalid(format!("{}: {e}", persons_path.display())))?;
        holders.push(Holder {
            id: row.get(0).unwrap_or_default().to_owned(),
            name: row.get(1).unwrap_or_default().to_owned(),
            birth: row.get(3).unwrap_or_default().to_owned(),
            sex: row.get(4).unwrap_or_default().to_owned(),
            former_name: row.get(6).unwrap_or_default().to_owned(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x6C69_6E6B);
    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut issued = csv::Writer::from_writer(Vec::new());
    let mut planted = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| SynthError::Invalid(e.to_string());
    issued
        .write_record([
            "Serial",
            "PersonId",
            "NotBefore",
            "NotAfter",
            "Issuer",
            "Name",
            "NameKana",
            "Birthdate",
            "Sex",
        ])
        .map_err(csv_error)?;
    planted
        .write_record(["Serial", "HolderPersonId", "LinkedPersonId"])
        .map_err(csv_error)?;
    let mut summary = CardLinkSummary::default();
    for (i, holder) in holders.iter().enumerate() {
        let serial = format!("5E{:06X}{:016X}", opts.seed & 0xFF_FFFF, i + 1);
        let wrong = holders.len() > 1 && rng.gen_bool(opts.wrong_share);
        let linked = if wrong {
            // Any other person: the 個人番号 of someone else typed at the insurer.
            let mut j = rng.gen_range(0..holders.len() - 1);
            if j >= i {
                j += 1;
            }
            summary.planted += 1;
            planted
                .write_record([serial.as_str(), &holder.id, &holders[j].id])
                .map_err(csv_error)?;
            &holders[j].id
        } else {
            &holder.id
        };
        let standard = standard_spelling(&holder.name);
        let name = if !wrong && !holder.former_name.is_empty() && rng.gen_bool(0.5) {
            summary.under_former_name += 1;
            holder.former_name.clone()
        } else if !wrong && standard != holder.name && rng.gen_bool(0.5) {
            summary.spelled_otherwise += 1;
            standard
        } else {
            holder.name.clone()
        };
        issued
            .write_record([
                serial.as_str(),
                linked,
                &rfc(opts.not_before),
                &rfc(opts.not_after),
                &opts.issuer,
                &name,
                "",
                &holder.birth,
                &holder.sex,
            ])
            .map_err(csv_error)?;
        summary.cards += 1;
    }
    write(dir, CARD_LINKS_FILE, issued)?;
    write(dir, PLANTED_FILE, planted)?;
    Ok(summary)
}

/// The name with every old or variant kanji in its standard form.
fn standard_spelling(name: &str) -> String {
    name.chars()
        .map(|c| onshi_model::holder::standard_form(c).unwrap_or(c))
        .collect()
}

/// Writes a file whole ([`onshi_fs::write_atomic`]).
fn write(dir: &Path, name: &str, w: csv::Writer<Vec<u8>>) -> Result<(), SynthError> {
    let bytes = w
        .into_inner()
        .map_err(|e| SynthError::Invalid(e.to_string()))?;
    let path = dir.join(name);
    onshi_fs::write_atomic(&path, &bytes, onshi_fs::MODE_PUBLIC)
        .map_err(|e| SynthError::Invalid(format!("{}: {e}", path.display())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plants_the_share_asked_and_lists_each() {
        let dir = tempfile::tempdir().unwrap();
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        crate::generate(
            &crate::SynthOptions {
                persons: 2000,
                seed: 7,
                as_of,
            },
            dir.path(),
            &mut |_| {},
        )
        .unwrap();
        let opts = CardLinkOptions {
            wrong_share: 0.05,
            seed: 7,
            issuer: "CN=test".into(),
            not_before: Utc::now(),
            not_after: Utc::now() + chrono::Duration::days(1000),
        };
        let summary = write_card_links(dir.path(), &opts).unwrap();
        assert_eq!(summary.cards, 2000);
        assert!((60..=140).contains(&summary.planted), "{summary:?}");
        assert!(summary.spelled_otherwise > 0, "{summary:?}");
        assert!(summary.under_former_name > 0, "{summary:?}");
        let planted = std::fs::read_to_string(dir.path().join(PLANTED_FILE)).unwrap();
        assert_eq!(planted.lines().count() as u64, summary.planted + 1);
        for line in planted.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            assert_ne!(f[1], f[2], "{line}");
        }
        let issued = std::fs::read_to_string(dir.path().join(CARD_LINKS_FILE)).unwrap();
        assert_eq!(issued.lines().count(), 2001);
        // The same seed, the same files.
        write_card_links(dir.path(), &opts).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CARD_LINKS_FILE)).unwrap(),
            issued
        );
    }
}
