//! What operators do from the command line (and, later, the portal): clinics, terminals and their
//! one-time enrollment codes, CRLs, card links, the audit log.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use onshi_store::{CardLink, Clinic, ServiceStore, StoredCrl, Terminal};
use sha2::Digest;

/// Hours an enrollment code stays valid.
pub const ENROLLMENT_CODE_HOURS: i64 = 72;

/// Letters for enrollment codes: no 0/O, 1/I/L, so that staff can type them from a screen.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Characters in an enrollment code (31^12 ≈ 2^59).
const CODE_LEN: usize = 12;

/// A terminal just added, with its one-time code (shown once, stored only as a hash).
#[derive(Debug, Clone)]
pub struct NewTerminal {
    /// The terminal (status Pending).
    pub terminal: Terminal,
    /// The enrollment code, `XXXX-XXXX-XXXX`.
    pub code: String,
    /// When the code expires.
    pub code_expires_at: DateTime<Utc>,
}

/// The SHA-256 of a code as the store keeps it (hyphens and case ignored).
pub fn code_hash(code: &str) -> [u8; 32] {
    let normal: String = code
        .chars()
        .filter(|c| *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    sha2::Sha256::digest(normal.as_bytes()).into()
}

fn new_code() -> Result<String, String> {
    let mut raw = [0u8; CODE_LEN];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| "random generator failed".to_owned())?;
    // 256 is not a multiple of 31: the bias is below 2^-3 per letter and harmless for a code that
    // is valid 72 hours and locked after 5 wrong tries.
    let letters: Vec<char> = raw
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect();
    Ok(letters
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// Adds a clinic.
pub fn add_clinic(
    store: &dyn ServiceStore,
    name: &str,
    registration: &str,
    now: DateTime<Utc>,
) -> Result<Clinic, String> {
    if name.trim().is_empty() {
        return Err("施術所名が空です / the clinic name is empty".to_owned());
    }
    let registration = normalise_registration(registration)?;
    store
        .add_clinic(name.trim(), &registration, now)
        .map_err(|e| e.to_string())
}

/// 登録記号番号 of the 受領委任 contract: letters (e.g. 協, 契) and digits; hyphens optional.
/// Kept without hyphens; at least 7 digits.
pub fn normalise_registration(s: &str) -> Result<String, String> {
    // Full-width digits (０–９) are the same digits.
    let kept: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | '‐' | '－' | 'ー' | ' ' | '　'))
        .map(|c| match c {
            '０'..='９' => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
            }
            c => c,
        })
        .collect();
    let digits = kept.chars().filter(char::is_ascii_digit).count();
    if kept.is_empty()
        || digits < 7
        || kept.chars().any(|c| c.is_control())
        || kept.chars().count() > 20
    {
        return Err(format!(
            "登録記号番号「{s}」が正しくありません（例: 契0123456-1-23） / not a registration number"
        ));
    }
    Ok(kept)
}

/// Why a terminal could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddTerminalError {
    /// The clinic already has `max_terminals_per_clinic` terminals pending or active.
    #[error("{} / the clinic already has {limit} terminals pending or active (max_terminals_per_clinic in config.toml); revoke one it no longer uses first", too_many_terminals_ja(*.limit))]
    TooMany {
        /// The cap.
        limit: u32,
    },
    /// Anything else (an unknown clinic, the store failing).
    #[error("{0}")]
    Other(String),
}

/// What a clinic reads when it has as many terminals as it may have.
pub fn too_many_terminals_ja(limit: u32) -> String {
    format!(
        "この施術所の端末は上限の{limit}台に達しています。使わなくなった端末を停止してから、もう一度追加してください。"
    )
}

/// Adds a terminal (an app account) to a clinic with a one-time enrollment code, unless the
/// clinic already has `max_per_clinic` terminals pending or active (0: no cap); the store
/// decides, in the same transaction as the addition.
pub fn add_terminal(
    store: &dyn ServiceStore,
    clinic_id: i64,
    max_per_clinic: u32,
    now: DateTime<Utc>,
) -> Result<NewTerminal, AddTerminalError> {
    let code = new_code().map_err(AddTerminalError::Other)?;
    let expires = now + Duration::hours(ENROLLMENT_CODE_HOURS);
    let terminal = store
        .add_terminal(clinic_id, max_per_clinic, code_hash(&code), expires, now)
        .map_err(|e| match e {
            onshi_store::StoreError::TooManyTerminals { limit, .. } => {
                AddTerminalError::TooMany { limit }
            }
            other => AddTerminalError::Other(other.to_string()),
        })?;
    Ok(NewTerminal {
        terminal,
        code,
        code_expires_at: expires,
    })
}

/// Loads a CRL (DER or PEM) into the store, where every instance picks it up.
pub fn load_crl(
    store: &dyn ServiceStore,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<String, String> {
    let der = if bytes.starts_with(b"-----BEGIN") {
        let text = String::from_utf8_lossy(bytes);
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        base64_decode(&body)?
    } else {
        bytes.to_vec()
    };
    let (_, crl) = x509_parser::parse_x509_crl(&der)
        .map_err(|e| format!("CRL として読めません / not a CRL: {e}"))?;
    let issuer = crl.issuer().to_string();
    store
        .put_crl(&StoredCrl {
            issuer: issuer.clone(),
            der,
            loaded_at: now,
        })
        .map_err(|e| e.to_string())?;
    Ok(issuer)
}

fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("PEM: {e}"))
}

/// One invalid line of a card-links file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    /// 1-based line.
    pub line: u64,
    /// What is wrong (Japanese / English).
    pub message: String,
}

/// Imports the card authority's `issued.csv` (`Serial,PersonId,NotBefore,NotAfter`): every
/// linked card is marked registered unless `unregistered`. All or nothing.
pub fn import_card_links(
    store: &dyn ServiceStore,
    path: &Path,
    unregistered: bool,
) -> Result<Result<usize, Vec<LinkError>>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let expected = ["Serial", "PersonId", "NotBefore", "NotAfter"];
    if headers.iter().collect::<Vec<_>>() != expected {
        return Err(format!(
            "{}: 見出し行は Serial,PersonId,NotBefore,NotAfter です / the header must be Serial,PersonId,NotBefore,NotAfter",
            path.display()
        ));
    }
    let known = store.person_ids().map_err(|e| e.to_string())?;
    let mut links = Vec::new();
    let mut errors = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| format!("{}: {e}", path.display()))?;
        let line = row.position().map_or(0, |p| p.line());
        let mut fail = |m: String| errors.push(LinkError { line, message: m });
        let serial = match onshi_pki::canonical_serial(row.get(0).unwrap_or("")) {
            Ok(s) => s,
            Err(e) => {
                fail(format!("Serial: {e}"));
                continue;
            }
        };
        let person = match onshi_model::PersonId::parse(row.get(1).unwrap_or("")) {
            Ok(p) if known.contains(&p) => p,
            Ok(p) => {
                fail(format!(
                    "PersonId {p}: 登録されていない個人IDです / unknown person"
                ));
                continue;
            }
            Err(e) => {
                fail(format!("PersonId: {} / {e}", e.message_ja()));
                continue;
            }
        };
        let time = |i: usize| {
            DateTime::parse_from_rfc3339(row.get(i).unwrap_or("")).map(|t| t.with_timezone(&Utc))
        };
        let (Ok(not_before), Ok(not_after)) = (time(2), time(3)) else {
            fail(
                "NotBefore/NotAfter: RFC 3339 の日時ではありません / not RFC 3339 times".to_owned(),
            );
            continue;
        };
        links.push(CardLink {
            serial,
            person_id: person,
            not_before,
            not_after,
            registered: !unregistered,
        });
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let mut tx = store.begin_import().map_err(|e| e.to_string())?;
    tx.put_card_links(&links).map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    Ok(Ok(links.len()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_registrations() {
        let c = new_code().unwrap();
        assert_eq!(c.len(), 14);
        assert_eq!(code_hash(&c), code_hash(&c.replace('-', "").to_lowercase()));
        assert_ne!(new_code().unwrap(), c);
        assert_eq!(
            normalise_registration("契0123456-1-23").unwrap(),
            "契0123456123"
        );
        assert_eq!(
            normalise_registration("契０１２３４５６－１－２３").unwrap(),
            "契0123456123"
        );
        assert!(normalise_registration("12").is_err());
        assert!(normalise_registration("").is_err());
    }
}
