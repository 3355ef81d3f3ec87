//! What operators do from the command line (and, later, the portal): clinics, terminals and their
//! one-time enrollment codes, CRLs, card links, the audit log.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use onshi_pki::{CrlInfo, TrustedJpki};
use onshi_store::{CardLink, Clinic, ServiceStore, StoredCrl, Terminal};

use crate::config::ServerConfig;
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

/// The trusted JPKI CA certificates a configuration names (`jpki_ca`, relative to `dir`), as read.
pub fn read_jpki_cas(dir: &Path, config: &ServerConfig) -> Result<Vec<Vec<u8>>, String> {
    config
        .jpki_ca
        .iter()
        .map(|ca| {
            let path = if ca.is_absolute() {
                ca.clone()
            } else {
                dir.join(ca)
            };
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// The trusted JPKI CAs of a server data directory, as the service trusts them (what a CRL is
/// verified against and what an `issued.csv` may name as issuer).
pub fn trusted_jpki(dir: &Path, config: &ServerConfig) -> Result<TrustedJpki, String> {
    let cas = read_jpki_cas(dir, config)?;
    if cas.is_empty() {
        return Err(format!(
            "{}: 信頼する JPKI CA が設定されていません（config.toml の jpki_ca） / no trusted JPKI CA is configured (jpki_ca)",
            dir.display()
        ));
    }
    TrustedJpki::new(&cas).map_err(|e| e.to_string())
}

/// Loads a CRL (DER or PEM) into the store, where every instance picks it up. Refused unless it
/// verifies with a trusted CA's key (as the service would load it), carries a CRL number and a
/// nextUpdate, and its number is higher than the one of the CRL stored for its CA (compared as
/// integers: an older CRL would un-revoke cards). The serials it lists are kept for good.
pub fn load_crl(
    store: &dyn ServiceStore,
    trusted: &TrustedJpki,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<CrlInfo, String> {
    let crl = trusted
        .verify_crl(bytes)
        .map_err(|e| format!("CRL を検証できないため読み込みませんでした / CRL refused: {e}"))?;
    let issuer = crl.info.issuer.clone();
    let Some(number) = crl.number.clone() else {
        return Err(format!(
            "{issuer}: CRL番号（cRLNumber）のない CRL は読み込めません（古い CRL との区別がつきません） / a CRL without a CRL number is refused"
        ));
    };
    if crl.info.next_update.is_none() {
        return Err(format!(
            "{issuer}: nextUpdate のない CRL は読み込めません / a CRL without nextUpdate is refused"
        ));
    }
    let shown = decimal(&number);
    let refused = |stored: &str| {
        format!(
            "{issuer}: CRL番号 {shown} は保存済みの CRL の番号 {stored} より大きくないため読み込みませんでした（古い CRL では失効を取り消せません） / CRL number {shown} is not higher than the stored CRL's {stored}: refused"
        )
    };
    // A CRL stored before numbers were kept: compare with the number inside its DER.
    let stored = store.crls().map_err(|e| e.to_string())?;
    if let Some(old) = stored.iter().find(|c| c.issuer == issuer) {
        let old_number = old.number.clone().or_else(|| der_crl_number(&old.der));
        if let Some(old_number) = old_number {
            if integer_cmp(&number, &old_number) != std::cmp::Ordering::Greater {
                return Err(refused(&decimal(&old_number)));
            }
        }
    }
    let stored_crl = StoredCrl {
        issuer: issuer.clone(),
        number: Some(number),
        der: crl.der.clone(),
        loaded_at: now,
    };
    if !store
        .put_crl(&stored_crl, &crl.revoked)
        .map_err(|e| e.to_string())?
    {
        return Err(refused("（同時に読み込まれた CRL / one loaded meanwhile）"));
    }
    Ok(crl.info)
}

/// Removes the stored CRL of an issuer (as `onshi admin crl list` prints it): for a CRL that no
/// longer verifies. Its CA then has no CRL until a good one is loaded; the serials it revoked
/// stay revoked. False if none was stored.
pub fn remove_crl(store: &dyn ServiceStore, issuer: &str) -> Result<bool, String> {
    store.remove_crl(issuer).map_err(|e| e.to_string())
}

/// One line of `onshi admin crl list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlStatus {
    /// The CA's subject (the issuer key of the stored CRL).
    pub issuer: String,
    /// The stored CRL as it verifies, or why it does not; `None` when no CRL is stored.
    pub crl: Option<Result<CrlInfo, String>>,
    /// Whether the CA is trusted (a stored CRL of a CA no longer trusted is useless).
    pub trusted: bool,
    /// Whether revocation of this CA's cards can be checked at `now`.
    pub current: bool,
}

/// Every trusted CA and every stored CRL: does the CRL verify, is it current at `now`.
pub fn crl_status(
    store: &dyn ServiceStore,
    trusted: &TrustedJpki,
    now: DateTime<Utc>,
) -> Result<Vec<CrlStatus>, String> {
    let mut rows: Vec<CrlStatus> = trusted
        .issuers()
        .into_iter()
        .map(|issuer| CrlStatus {
            issuer,
            crl: None,
            trusted: true,
            current: false,
        })
        .collect();
    for stored in store.crls().map_err(|e| e.to_string())? {
        let verified = trusted
            .verify_crl(&stored.der)
            .map(|v| v.info)
            .map_err(|e| e.to_string());
        let current = verified
            .as_ref()
            .is_ok_and(|info| info.next_update.is_none_or(|next| next >= now));
        match rows.iter_mut().find(|r| r.issuer == stored.issuer) {
            Some(row) => {
                row.crl = Some(verified);
                row.current = current;
            }
            None => rows.push(CrlStatus {
                issuer: stored.issuer,
                crl: Some(verified),
                trusted: false,
                current: false,
            }),
        }
    }
    Ok(rows)
}

/// The CRL number written in a CRL's DER, if it parses and has one.
fn der_crl_number(der: &[u8]) -> Option<Vec<u8>> {
    let (_, crl) = x509_parser::parse_x509_crl(der).ok()?;
    crl.crl_number().map(|n| n.to_bytes_be())
}

/// Two unsigned big-endian integers compared by value.
fn integer_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let strip = |x: &[u8]| -> Vec<u8> { x.iter().copied().skip_while(|b| *b == 0).collect() };
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

/// An unsigned big-endian integer in decimal.
fn decimal(be: &[u8]) -> String {
    let mut digits = vec![0u8];
    for byte in be {
        let mut carry = u32::from(*byte);
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// One invalid line of a card-links file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    /// 1-based line.
    pub line: u64,
    /// What is wrong (Japanese / English).
    pub message: String,
}

/// [`import_card_links_trusting`] without knowing the trusted CAs: the file must have the
/// `Issuer` column, whose values are taken as they are (the test worlds' own authorities).
pub fn import_card_links(
    store: &dyn ServiceStore,
    path: &Path,
    unregistered: bool,
) -> Result<Result<usize, Vec<LinkError>>, String> {
    import_card_links_trusting(store, path, unregistered, &[])
}

/// Imports the card authority's `issued.csv` (`Serial,PersonId,NotBefore,NotAfter,Issuer`;
/// format in `docs/feed-format.md`): every linked card is marked registered unless
/// `unregistered`. All or nothing.
///
/// `trusted_issuers` are the subjects of the trusted JPKI CAs: an `Issuer` must be one of them,
/// and a file of before the `Issuer` column is imported only when there is exactly one (whose
/// cards they must be); otherwise each line is refused, naming the line and the field.
pub fn import_card_links_trusting(
    store: &dyn ServiceStore,
    path: &Path,
    unregistered: bool,
    trusted_issuers: &[String],
) -> Result<Result<usize, Vec<LinkError>>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let header: Vec<&str> = headers.iter().collect();
    let legacy = match header.as_slice() {
        ["Serial", "PersonId", "NotBefore", "NotAfter", "Issuer"] => false,
        ["Serial", "PersonId", "NotBefore", "NotAfter"] => true,
        _ => {
            return Err(format!(
                "{}: 見出し行は Serial,PersonId,NotBefore,NotAfter,Issuer です / the header must be Serial,PersonId,NotBefore,NotAfter,Issuer",
                path.display()
            ))
        }
    };
    let only_issuer = match trusted_issuers {
        [only] => Some(only.as_str()),
        _ => None,
    };
    let known = store.person_ids().map_err(|e| e.to_string())?;
    let mut links = Vec::new();
    let mut errors = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| format!("{}: {e}", path.display()))?;
        let line = row.position().map_or(0, |p| p.line());
        let mut fail = |m: String| errors.push(LinkError { line, message: m });
        let issuer = if legacy {
            match only_issuer {
                Some(only) => only.to_owned(),
                None => {
                    fail(format!(
                        "Issuer: 発行元の列がありません。信頼する JPKI CA が{}のため発行元を決められません / no Issuer column, and {} trusted CAs: add the column",
                        if trusted_issuers.is_empty() { "未設定" } else { "複数" },
                        trusted_issuers.len()
                    ));
                    continue;
                }
            }
        } else {
            let issuer = row.get(4).unwrap_or("");
            if issuer.trim().is_empty() || issuer.trim() != issuer {
                fail(format!(
                    "Issuer {issuer:?}: 発行元（CA の subject）が正しくありません / not a CA's subject"
                ));
                continue;
            }
            if !trusted_issuers.is_empty() && !trusted_issuers.iter().any(|t| t == issuer) {
                fail(format!(
                    "Issuer {issuer:?}: 信頼する JPKI CA ではありません / not a trusted CA (trusted: {})",
                    trusted_issuers.join(" | ")
                ));
                continue;
            }
            issuer.to_owned()
        };
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
            issuer,
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

    #[test]
    fn crl_numbers_compare_and_print_as_integers() {
        use std::cmp::Ordering;
        assert_eq!(integer_cmp(&[2], &[1, 0]), Ordering::Less);
        assert_eq!(integer_cmp(&[0, 2], &[2]), Ordering::Equal);
        assert_eq!(integer_cmp(&[1, 0], &[0xFF]), Ordering::Greater);
        assert_eq!(decimal(&[1, 0]), "256");
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0x01, 0x00, 0x00, 0x00, 0x00]), "4294967296");
    }
}
