//! What operators do from the command line (and, later, the portal): clinics, terminals and their
//! one-time enrollment codes, CRLs, card links, the audit log.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use onshi_model::holder::{compare, Difference, Identity, LinkMatch};
use onshi_pki::{CrlInfo, TrustedJpki};
use onshi_store::link_checks::{self, HolderRecord, LinkCheck, LinkStatus};
use onshi_store::{CardLink, Clinic, ServiceStore, StoredCrl, Terminal};

use crate::config::ServerConfig;
use crate::{RegistrationError, ServerError};
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

fn new_code() -> Result<String, AddTerminalError> {
    let mut raw = [0u8; CODE_LEN];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| AddTerminalError::Random)?;
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
) -> Result<Clinic, ServerError> {
    if name.trim().is_empty() {
        return Err(ServerError::EmptyClinicName);
    }
    let registration = normalise_registration(registration)?;
    Ok(store.add_clinic(name.trim(), &registration, now)?)
}

/// 登録記号番号 of the 受領委任 contract: letters (e.g. 協, 契) and digits; hyphens optional.
/// Kept without hyphens; at least 7 digits.
pub fn normalise_registration(s: &str) -> Result<String, RegistrationError> {
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
        return Err(RegistrationError {
            typed: s.to_owned(),
        });
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
    /// The operating system gave no random bytes for the code.
    #[error("random generator failed")]
    Random,
    /// The store failed (an unknown clinic, among others).
    #[error(transparent)]
    Store(onshi_store::StoreError),
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
    add_named_terminal(store, clinic_id, max_per_clinic, None, now)
}

/// [`add_terminal`] with the terminal's name (受付PC…), stored in the same transaction.
pub fn add_named_terminal(
    store: &dyn ServiceStore,
    clinic_id: i64,
    max_per_clinic: u32,
    name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<NewTerminal, AddTerminalError> {
    let code = new_code()?;
    let expires = now + Duration::hours(ENROLLMENT_CODE_HOURS);
    let terminal = store
        .add_terminal(
            clinic_id,
            max_per_clinic,
            code_hash(&code),
            expires,
            now,
            name,
        )
        .map_err(|e| match e {
            onshi_store::StoreError::TooManyTerminals { limit, .. } => {
                AddTerminalError::TooMany { limit }
            }
            other => AddTerminalError::Store(other),
        })?;
    Ok(NewTerminal {
        terminal,
        code,
        code_expires_at: expires,
    })
}

/// The trusted JPKI CA certificates a configuration names (`jpki_ca`, relative to `dir`), as read.
pub fn read_jpki_cas(dir: &Path, config: &ServerConfig) -> Result<Vec<Vec<u8>>, ServerError> {
    config
        .jpki_ca
        .iter()
        .map(|ca| {
            let path = if ca.is_absolute() {
                ca.clone()
            } else {
                dir.join(ca)
            };
            std::fs::read(&path).map_err(|cause| ServerError::Io { path, cause })
        })
        .collect()
}

/// The trusted JPKI CAs of a server data directory, as the service trusts them (what a CRL is
/// verified against and what an `issued.csv` may name as issuer).
pub fn trusted_jpki(dir: &Path, config: &ServerConfig) -> Result<TrustedJpki, ServerError> {
    let cas = read_jpki_cas(dir, config)?;
    if cas.is_empty() {
        return Err(ServerError::NoTrustedJpki {
            dir: dir.to_path_buf(),
        });
    }
    Ok(TrustedJpki::new(&cas)?)
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
) -> Result<CrlInfo, ServerError> {
    let crl = trusted.verify_crl(bytes).map_err(ServerError::CrlRefused)?;
    let issuer = crl.info.issuer.clone();
    let Some(number) = crl.number.clone() else {
        return Err(ServerError::CrlWithoutNumber { issuer });
    };
    if crl.info.next_update.is_none() {
        return Err(ServerError::CrlWithoutNextUpdate { issuer });
    }
    let shown = decimal(&number);
    // A CRL stored before numbers were kept: compare with the number inside its DER.
    let stored = store.crls()?;
    if let Some(old) = stored.iter().find(|c| c.issuer == issuer) {
        let old_number = old.number.clone().or_else(|| der_crl_number(&old.der));
        if let Some(old_number) = old_number {
            if integer_cmp(&number, &old_number) != std::cmp::Ordering::Greater {
                return Err(ServerError::CrlNotNewer {
                    issuer,
                    number: shown,
                    stored: decimal(&old_number),
                });
            }
        }
    }
    let stored_crl = StoredCrl {
        issuer: issuer.clone(),
        number: Some(number),
        der: crl.der.clone(),
        loaded_at: now,
    };
    if !store.put_crl(&stored_crl, &crl.revoked)? {
        return Err(ServerError::CrlLoadedMeanwhile {
            issuer,
            number: shown,
        });
    }
    Ok(crl.info)
}

/// Removes the stored CRL of an issuer (as `onshi admin crl list` prints it): for a CRL that no
/// longer verifies. Its CA then has no CRL until a good one is loaded; the serials it revoked
/// stay revoked. False if none was stored.
pub fn remove_crl(store: &dyn ServiceStore, issuer: &str) -> Result<bool, ServerError> {
    Ok(store.remove_crl(issuer)?)
}

/// One line of `onshi admin crl list`.
#[derive(Debug)]
pub struct CrlStatus {
    /// The CA's subject (the issuer key of the stored CRL).
    pub issuer: String,
    /// The stored CRL as it verifies, or why it does not; `None` when no CRL is stored.
    pub crl: Option<Result<CrlInfo, onshi_pki::PkiError>>,
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
) -> Result<Vec<CrlStatus>, ServerError> {
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
    for stored in store.crls()? {
        let verified = trusted.verify_crl(&stored.der).map(|v| v.info);
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

/// What an import of card links did, and what the wrong-link guard found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkImport {
    /// Links stored.
    pub links: usize,
    /// The holder is the person.
    pub matched: usize,
    /// The same birth date and sex, the name written differently: answered, listed for review.
    pub name_only: usize,
    /// Not the same person: held (stored, never answered).
    pub held: usize,
    /// The file did not say who holds the card (a file of before the holder columns).
    pub unchecked: usize,
    /// Links an operator had released or held whose line has not changed: the decision stays.
    pub decisions_kept: usize,
    /// One line per link that is not a plain match, for `--report`.
    pub report: Vec<LinkReportLine>,
}

/// One line of the import's report: a link the guard did not find plainly right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReportLine {
    /// 1-based line of the file.
    pub line: u64,
    /// The certificate's serial.
    pub serial: String,
    /// Its issuer.
    pub issuer: String,
    /// The person the line links it to.
    pub person_id: String,
    /// Where the link stands now.
    pub status: LinkStatus,
    /// What differed.
    pub differences: Vec<Difference>,
}

impl LinkImport {
    /// The summary the command line prints, in Japanese.
    pub fn summary_ja(&self) -> String {
        format!(
            "カードのひも付け {} 件を取り込みました（本人と一致 {}、氏名の表記だけ違う {}、保留 {}、本人情報なし {}、運用者の判断を維持 {}）",
            self.links, self.matched, self.name_only, self.held, self.unchecked, self.decisions_kept
        )
    }
}

/// Writes the import's report as CSV (`Line,Serial,Issuer,PersonId,Status,Differences`; UTF-8,
/// atomically). Names are not in it: the operator looks them up with `onshi admin links review`.
pub fn write_link_report(path: &Path, report: &[LinkReportLine]) -> Result<(), ServerError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |cause: csv::Error| ServerError::Csv {
        path: path.to_path_buf(),
        cause,
    };
    w.write_record([
        "Line",
        "Serial",
        "Issuer",
        "PersonId",
        "Status",
        "Differences",
    ])
    .map_err(fail)?;
    for r in report {
        let differences: Vec<&str> = r.differences.iter().map(|d| d.label_ja()).collect();
        w.write_record([
            r.line.to_string().as_str(),
            &onshi_model::text::spreadsheet_cell(&r.serial),
            &onshi_model::text::spreadsheet_cell(&r.issuer),
            &onshi_model::text::spreadsheet_cell(&r.person_id),
            r.status.label_ja(),
            &differences.join("・"),
        ])
        .map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ServerError::io(path)(e.into_error()))?;
    onshi_fs::write_atomic(path, &bytes, onshi_fs::MODE_PRIVATE).map_err(ServerError::io(path))
}

/// [`import_card_links_trusting`] without knowing the trusted CAs: the file must have the
/// `Issuer` column, whose values are taken as they are (the test worlds' own authorities).
pub fn import_card_links(
    store: &dyn ServiceStore,
    path: &Path,
    unregistered: bool,
) -> Result<Result<LinkImport, Vec<LinkError>>, ServerError> {
    import_card_links_trusting(store, path, unregistered, &[])
}

/// The headers `issued.csv` may have: before the `Issuer` column, before the holder columns, now.
const LINK_HEADERS: [&[&str]; 3] = [
    &["Serial", "PersonId", "NotBefore", "NotAfter"],
    &["Serial", "PersonId", "NotBefore", "NotAfter", "Issuer"],
    &[
        "Serial",
        "PersonId",
        "NotBefore",
        "NotAfter",
        "Issuer",
        "Name",
        "NameKana",
        "Birthdate",
        "Sex",
    ],
];

/// Imports the card authority's `issued.csv`
/// (`Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex`; format in
/// `docs/feed-format.md`): every linked card is marked registered unless `unregistered`. All or
/// nothing.
///
/// `trusted_issuers` are the subjects of the trusted JPKI CAs: an `Issuer` must be one of them,
/// and a file of before the `Issuer` column is imported only when there is exactly one (whose
/// cards they must be); otherwise each line is refused, naming the line and the field.
///
/// The wrong-link guard: each line's holder (`Name`, `NameKana`, `Birthdate`, `Sex`) is compared
/// with the person's record by [`onshi_model::holder::compare`]; a mismatch is stored held (never
/// answered), a name that differs only in spelling is stored and listed, a line without a holder
/// is stored unchecked. A link an operator decided on keeps the decision while its line stays the
/// same; a line that changed is compared afresh (a corrected line releases a hold).
pub fn import_card_links_trusting(
    store: &dyn ServiceStore,
    path: &Path,
    unregistered: bool,
    trusted_issuers: &[String],
) -> Result<Result<LinkImport, Vec<LinkError>>, ServerError> {
    import_card_links_at(store, path, unregistered, trusted_issuers, Utc::now())
}

/// [`import_card_links_trusting`] at `now` (tests move the clock).
pub fn import_card_links_at(
    store: &dyn ServiceStore,
    path: &Path,
    unregistered: bool,
    trusted_issuers: &[String],
    now: DateTime<Utc>,
) -> Result<Result<LinkImport, Vec<LinkError>>, ServerError> {
    let csv_error = |cause: csv::Error| ServerError::Csv {
        path: path.to_path_buf(),
        cause,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let header: Vec<&str> = headers.iter().collect();
    let Some(shape) = LINK_HEADERS.iter().position(|h| *h == header.as_slice()) else {
        return Err(ServerError::LinkHeader {
            path: path.to_path_buf(),
        });
    };
    let legacy = shape == 0;
    let only_issuer = match trusted_issuers {
        [only] => Some(only.as_str()),
        _ => None,
    };
    let known = store.person_ids()?;
    let mut links = Vec::new();
    let mut holders = Vec::new();
    let mut errors = Vec::new();
    for row in reader.records() {
        let row = row.map_err(csv_error)?;
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
        let holder = match holder_of(&row) {
            Ok(h) => h,
            Err(m) => {
                fail(m.to_string());
                continue;
            }
        };
        holders.push((line, holder));
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
    let mut result = LinkImport {
        links: links.len(),
        ..LinkImport::default()
    };
    let mut checks = Vec::with_capacity(links.len());
    for (link, (line, holder)) in links.iter().zip(holders) {
        let check = guard(store, link, holder, now)?;
        match (check.status, check.decision.is_some()) {
            (_, true) => result.decisions_kept += 1,
            (LinkStatus::Match, _) => result.matched += 1,
            (LinkStatus::NameOnly, _) => result.name_only += 1,
            (LinkStatus::Held, _) => result.held += 1,
            _ => result.unchecked += 1,
        }
        if check.status != LinkStatus::Match {
            result.report.push(LinkReportLine {
                line,
                serial: link.serial.clone(),
                issuer: link.issuer.clone(),
                person_id: link.person_id.as_str().to_owned(),
                status: check.status,
                differences: check
                    .differences
                    .iter()
                    .filter_map(|k| Difference::from_key(k))
                    .collect(),
            });
        }
        checks.push(check);
    }
    // The checks first: a crash before the links land leaves the old links answering as before.
    link_checks::put_link_checks(store.portal(), &checks)?;
    let mut tx = store.begin_import()?;
    tx.put_card_links(&links)?;
    tx.commit()?;
    Ok(Ok(result))
}

/// The holder columns of a line (`None` when the file has none, or leaves `Name` empty).
fn holder_of(row: &csv::StringRecord) -> Result<Option<HolderRecord>, HolderError> {
    let name = row.get(5).unwrap_or("").trim();
    if name.is_empty() {
        return Ok(None);
    }
    let birth = row.get(7).unwrap_or("");
    if onshi_model::date::parse_yyyymmdd(birth).is_err() {
        return Err(HolderError::Birthdate(birth.to_owned()));
    }
    let sex = row.get(8).unwrap_or("");
    if !matches!(sex, "1" | "2" | "3") {
        return Err(HolderError::Sex(sex.to_owned()));
    }
    Ok(Some(HolderRecord {
        name: name.to_owned(),
        name_kana: row.get(6).unwrap_or("").trim().to_owned(),
        birthdate: birth.to_owned(),
        sex: sex.to_owned(),
    }))
}

/// A holder column of a card links line that is not what the format says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum HolderError {
    /// `Birthdate` is not `YYYYMMDD`.
    #[error("Birthdate {0:?}: 生年月日は YYYYMMDD の8桁です / the birth date must be YYYYMMDD")]
    Birthdate(String),
    /// `Sex` is not 1, 2 or 3.
    #[error(
        "Sex {0:?}: 性別は 1（男）、2（女）、3（未設定）のどれかです / the sex must be 1, 2 or 3"
    )]
    Sex(String),
}

/// The guard's row for one link of an import.
fn guard(
    store: &dyn ServiceStore,
    link: &CardLink,
    holder: Option<HolderRecord>,
    now: DateTime<Utc>,
) -> Result<LinkCheck, onshi_store::StoreError> {
    let before = link_checks::link_check(store.portal(), &link.issuer, &link.serial)?;
    let old_link = store.card_link(&link.issuer, &link.serial)?;
    let person = link.person_id.as_str();
    // A card pointed at another person than before: answered with W004 for a while.
    let changed_at = match &old_link {
        Some(old) if old.person_id != link.person_id => Some(now),
        _ => before
            .as_ref()
            .filter(|b| b.describes(person))
            .and_then(|b| b.changed_at),
    };
    // An operator's decision stands while the line says the same.
    if let Some(b) = before
        .as_ref()
        .filter(|b| b.decision.is_some() && b.describes(person) && b.holder == holder)
    {
        return Ok(LinkCheck {
            changed_at,
            ..b.clone()
        });
    }
    let (status, differences) = match &holder {
        None => (LinkStatus::Unchecked, Vec::new()),
        Some(h) => {
            let insured = store.person(&link.person_id)?.ok_or_else(|| {
                onshi_store::StoreError::NotFound {
                    what: "person",
                    id: person.to_owned(),
                }
            })?;
            let verdict = compare(&identity_of_holder(h), &identity_of_person(&insured));
            let status = match verdict {
                LinkMatch::Match => LinkStatus::Match,
                LinkMatch::NameDiffersOnly(_) => LinkStatus::NameOnly,
                LinkMatch::Mismatch(_) => LinkStatus::Held,
            };
            (
                status,
                verdict
                    .differences()
                    .iter()
                    .map(|d| d.key().to_owned())
                    .collect(),
            )
        }
    };
    Ok(LinkCheck {
        issuer: link.issuer.clone(),
        serial: link.serial.clone(),
        person_id: person.to_owned(),
        status,
        differences,
        holder,
        checked_at: now,
        changed_at,
        decision: None,
    })
}

fn identity_of_holder(h: &HolderRecord) -> Identity {
    Identity {
        name: h.name.clone(),
        name_kana: (!h.name_kana.is_empty()).then(|| h.name_kana.clone()),
        birth: onshi_model::date::parse_yyyymmdd(&h.birthdate).unwrap_or_default(),
        sex: h.sex.clone(),
        former_names: Vec::new(),
    }
}

fn identity_of_person(p: &onshi_model::Person) -> Identity {
    Identity {
        name: p.name.as_str().to_owned(),
        name_kana: Some(p.name_kana.as_str().to_owned()),
        birth: p.birthdate,
        sex: p.sex.as_str().to_owned(),
        // 旧姓（旧氏）での氏名 of the persons feed: a holder still under it is the same person.
        former_names: p
            .former_name
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_operators_words() {
        // What `onshi admin` printed before these errors were typed, word for word.
        let issuer = "C=JP, O=onshi TEST, CN=CA".to_owned();
        let shown = "5".to_owned();
        let refused = |stored: &str| {
            format!(
                "{issuer}: CRL番号 {shown} は保存済みの CRL の番号 {stored} より大きくないため読み込みませんでした（古い CRL では失効を取り消せません） / CRL number {shown} is not higher than the stored CRL's {stored}: refused"
            )
        };
        assert_eq!(
            ServerError::CrlNotNewer {
                issuer: issuer.clone(),
                number: shown.clone(),
                stored: "7".into(),
            }
            .to_string(),
            refused("7")
        );
        assert_eq!(
            ServerError::CrlLoadedMeanwhile {
                issuer: issuer.clone(),
                number: shown.clone(),
            }
            .to_string(),
            refused("（同時に読み込まれた CRL / one loaded meanwhile）")
        );
        assert_eq!(
            normalise_registration("契12").unwrap_err().to_string(),
            "登録記号番号「契12」が正しくありません（例: 契0123456-1-23） / not a registration number"
        );
        assert_eq!(
            HolderError::Sex("4".into()).to_string(),
            "Sex \"4\": 性別は 1（男）、2（女）、3（未設定）のどれかです / the sex must be 1, 2 or 3"
        );
        let key = std::path::PathBuf::from("/srv/onshi/audit.key");
        assert_eq!(
            ServerError::NotAuditKey { path: key.clone() }.to_string(),
            "/srv/onshi/audit.key: 監査ログの鍵ではありません（32 バイトの乱数が必要） / not an audit key (32 random bytes)"
        );
        // A wrapped store error reads as the store's own (no prefix twice in `{:#}`).
        let store = onshi_store::StoreError::NotFound {
            what: "person",
            id: "P1".into(),
        };
        let text = store.to_string();
        assert_eq!(ServerError::from(store).to_string(), text);
    }

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
