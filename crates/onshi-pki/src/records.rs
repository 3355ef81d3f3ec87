//! The authority's two registers as CSV: `issued.csv`
//! (`Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex`, the link from a
//! card's certificate to a person that the eligibility service imports, with who holds the card
//! as the authority knows them) and `revoked.csv` (`Serial,RevokedAt`). Serials in canonical
//! form ([`crate::serial_text`]), times RFC 3339 UTC with whole seconds, the issuer as the CA's
//! subject in text ([`crate::CheckedCard::issuer`]). An `issued.csv` of before the `Issuer` or
//! the holder columns is read (the issuer: the authority's own subject; the holder: unknown) and
//! rewritten with the columns at the next issue.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::error::{PkiError, RecordProblem};
use crate::files::{self, MODE_PRIVATE};
use crate::serial::canonical_serial;
use crate::time::{parse_rfc3339, rfc3339};

/// The header of `issued.csv`.
pub const ISSUED_HEADER: [&str; 9] = [
    "Serial",
    "PersonId",
    "NotBefore",
    "NotAfter",
    "Issuer",
    "Name",
    "NameKana",
    "Birthdate",
    "Sex",
];
/// The header of an `issued.csv` written before it named the holder.
pub const ISSUER_ONLY_HEADER: [&str; 5] = ["Serial", "PersonId", "NotBefore", "NotAfter", "Issuer"];
/// The header of an `issued.csv` written before it named the issuer.
pub const LEGACY_ISSUED_HEADER: [&str; 4] = ["Serial", "PersonId", "NotBefore", "NotAfter"];
/// The header of `revoked.csv`.
pub const REVOKED_HEADER: [&str; 2] = ["Serial", "RevokedAt"];

/// One line of `issued.csv`: a certificate this authority put on a card, and whose card it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRecord {
    /// The certificate's serial, canonical text.
    pub serial: String,
    /// The person the card was issued to.
    pub person_id: String,
    /// Start of the certificate's validity.
    pub not_before: DateTime<Utc>,
    /// End of the certificate's validity.
    pub not_after: DateTime<Utc>,
    /// The issuing CA's subject, as text (`C=JP, O=…, CN=…`).
    pub issuer: String,
    /// Who holds the card, as the authority knows them (`None` in files of before the holder
    /// columns).
    pub holder: Option<Holder>,
}

/// The card holder's identity as the card authority records it (the card's 券面事項: J-LIS knows
/// no kana, so `name_kana` is empty unless the issuer had it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// 氏名.
    pub name: String,
    /// 氏名カナ, or empty.
    pub name_kana: String,
    /// 生年月日, YYYYMMDD.
    pub birthdate: String,
    /// 性別 as the result format codes it (1 男, 2 女, 3 未設定).
    pub sex: String,
}

/// One line of `revoked.csv`: a revoked certificate and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedRecord {
    /// The certificate's serial, canonical text.
    pub serial: String,
    /// When it was revoked (the CRL's revocationDate).
    pub revoked_at: DateTime<Utc>,
}

/// Whether `id` is an acceptable person id: 1–32 ASCII letters, digits, '-' or '_' (the same rule
/// as the store's `PersonId`).
pub fn is_valid_person_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The CSV text of a header line or a record line.
pub fn csv_line(fields: &[&str]) -> Result<Vec<u8>, PkiError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let malformed = |what: String| PkiError::Malformed {
        path: "(csv)".into(),
        what,
    };
    writer
        .write_record(fields)
        .map_err(|e| malformed(e.to_string()))?;
    writer.into_inner().map_err(|e| malformed(e.to_string()))
}

impl IssuedRecord {
    /// The record as one CSV line of `issued.csv`.
    pub fn to_line(&self) -> Result<Vec<u8>, PkiError> {
        let empty = String::new();
        let (name, kana, birth, sex) = match &self.holder {
            Some(h) => (&h.name, &h.name_kana, &h.birthdate, &h.sex),
            None => (&empty, &empty, &empty, &empty),
        };
        csv_line(&[
            &self.serial,
            &self.person_id,
            &rfc3339(self.not_before),
            &rfc3339(self.not_after),
            &self.issuer,
            name,
            kana,
            birth,
            sex,
        ])
    }
}

impl RevokedRecord {
    /// The record as one CSV line of `revoked.csv`.
    pub fn to_line(&self) -> Result<Vec<u8>, PkiError> {
        csv_line(&[&self.serial, &rfc3339(self.revoked_at)])
    }
}

/// Reads and checks every line of `issued.csv`; the lines of a file without the `Issuer` column
/// get `legacy_issuer` (the authority's own subject), those of a file without the holder columns
/// no holder.
pub fn read_issued(path: &Path, legacy_issuer: &str) -> Result<Vec<IssuedRecord>, PkiError> {
    let parse = |row: &[&str]| {
        let holder = match row.get(5..9) {
            Some([name, kana, birth, sex]) if !name.is_empty() => Some(Holder {
                name: (*name).to_owned(),
                name_kana: (*kana).to_owned(),
                birthdate: (*birth).to_owned(),
                sex: (*sex).to_owned(),
            }),
            _ => None,
        };
        let serial = serial_field(row[0])?;
        if !is_valid_person_id(row[1]) {
            return Err(RecordProblem::PersonId(row[1].to_owned()));
        }
        let issuer = row.get(4).copied().unwrap_or(legacy_issuer);
        if issuer.trim().is_empty() || issuer.trim() != issuer {
            return Err(RecordProblem::Issuer(issuer.to_owned()));
        }
        Ok(IssuedRecord {
            serial,
            person_id: row[1].to_owned(),
            not_before: time_field("NotBefore", row[2])?,
            not_after: time_field("NotAfter", row[3])?,
            issuer: issuer.to_owned(),
            holder,
        })
    };
    match issued_header(path)? {
        IssuedHeader::Legacy => read_rows(path, WHAT_ISSUED, &LEGACY_ISSUED_HEADER, parse),
        IssuedHeader::IssuerOnly => read_rows(path, WHAT_ISSUED, &ISSUER_ONLY_HEADER, parse),
        IssuedHeader::Current => read_rows(path, WHAT_ISSUED, &ISSUED_HEADER, parse),
    }
}

const WHAT_ISSUED: &str = "発行記録 / the issue record";

/// Which header an `issued.csv` has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IssuedHeader {
    /// Before the `Issuer` column.
    Legacy,
    /// Before the holder columns.
    IssuerOnly,
    /// [`ISSUED_HEADER`] (or anything else, refused by the reader with the header it wants).
    Current,
}

fn issued_header(path: &Path) -> Result<IssuedHeader, PkiError> {
    let bytes = files::read_bytes(path, WHAT_ISSUED)?;
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    Ok(if first == LEGACY_ISSUED_HEADER.join(",").as_bytes() {
        IssuedHeader::Legacy
    } else if first == ISSUER_ONLY_HEADER.join(",").as_bytes() {
        IssuedHeader::IssuerOnly
    } else {
        IssuedHeader::Current
    })
}

/// Reads and checks every line of `revoked.csv`.
pub fn read_revoked(path: &Path) -> Result<Vec<RevokedRecord>, PkiError> {
    read_rows(
        path,
        "失効記録 / the revocation record",
        &REVOKED_HEADER,
        |row| {
            Ok(RevokedRecord {
                serial: serial_field(row[0])?,
                revoked_at: time_field("RevokedAt", row[1])?,
            })
        },
    )
}

/// Adds one line to `issued.csv` (rewriting the file atomically). A file without the `Issuer` or
/// the holder columns is first rewritten with them, its lines getting `legacy_issuer` and no
/// holder.
pub fn append_issued(
    path: &Path,
    record: &IssuedRecord,
    legacy_issuer: &str,
) -> Result<(), PkiError> {
    if issued_header(path)? != IssuedHeader::Current {
        let mut bytes = csv_line(&ISSUED_HEADER)?;
        for old in read_issued(path, legacy_issuer)? {
            bytes.extend(old.to_line()?);
        }
        files::write_atomic(path, &bytes, MODE_PRIVATE)?;
    }
    append(path, WHAT_ISSUED, &record.to_line()?)
}

/// Adds one line to `revoked.csv` (rewriting the file atomically).
pub fn append_revoked(path: &Path, record: &RevokedRecord) -> Result<(), PkiError> {
    append(path, "失効記録 / the revocation record", &record.to_line()?)
}

fn append(path: &Path, what: &'static str, line: &[u8]) -> Result<(), PkiError> {
    let mut bytes = files::read_bytes(path, what)?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(line);
    files::write_atomic(path, &bytes, MODE_PRIVATE)
}

fn read_rows<T>(
    path: &Path,
    what: &'static str,
    header: &[&str],
    parse: impl Fn(&[&str]) -> Result<T, RecordProblem>,
) -> Result<Vec<T>, PkiError> {
    let bytes = files::read_bytes(path, what)?;
    let malformed = |what: String| PkiError::Malformed {
        path: path.to_path_buf(),
        what,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let found = reader.headers().map_err(|e| malformed(csv_error(&e)))?;
    if found.iter().ne(header.iter().copied()) {
        return Err(malformed(format!(
            "line 1: the header must be {}",
            header.join(",")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| malformed(csv_error(&e)))?;
        let line = record.position().map_or(0, |p| p.line());
        let fields: Vec<&str> = record.iter().collect();
        let row = parse(&fields).map_err(|why| malformed(format!("line {line}: {why}")))?;
        rows.push(row);
    }
    Ok(rows)
}

/// The CSV reader's complaint, led by the line it concerns.
fn csv_error(e: &csv::Error) -> String {
    match e.position() {
        Some(pos) => format!("line {}: {e}", pos.line()),
        None => e.to_string(),
    }
}

fn serial_field(text: &str) -> Result<String, RecordProblem> {
    match canonical_serial(text) {
        Ok(serial) if serial == text => Ok(serial),
        _ => Err(RecordProblem::Serial(text.to_owned())),
    }
}

fn time_field(column: &'static str, text: &str) -> Result<DateTime<Utc>, RecordProblem> {
    parse_rfc3339(text).ok_or_else(|| RecordProblem::Time {
        column,
        value: text.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CA: &str = "C=JP, O=onshi TEST, CN=CA";

    fn issued_file(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("issued.csv");
        std::fs::write(&path, format!("{}\n{body}", ISSUER_ONLY_HEADER.join(","))).unwrap();
        path
    }

    #[test]
    fn person_ids() {
        for good in ["P0000000001", "a", "A-b_9", &"x".repeat(32)] {
            assert!(is_valid_person_id(good), "{good}");
        }
        for bad in ["", &"x".repeat(33), "山田", "a b", "a,b", "a\"b", "a\nb"] {
            assert!(!is_valid_person_id(bad), "{bad}");
        }
    }

    #[test]
    fn issued_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = issued_file(dir.path(), "");
        let record = IssuedRecord {
            serial: "4A00000000000000000001".into(),
            person_id: "P0000000001".into(),
            not_before: Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
            not_after: Utc.with_ymd_and_hms(2031, 4, 1, 0, 0, 0).unwrap(),
            issuer: CA.into(),
            holder: Some(Holder {
                name: "山田　太郎".into(),
                name_kana: String::new(),
                birthdate: "19800102".into(),
                sex: "1".into(),
            }),
        };
        append_issued(&path, &record, "unused").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex\n\
             4A00000000000000000001,P0000000001,2026-04-01T00:00:00Z,2031-04-01T00:00:00Z,\
             \"C=JP, O=onshi TEST, CN=CA\",山田　太郎,,19800102,1\n"
        );
        assert_eq!(read_issued(&path, "unused").unwrap(), vec![record]);
    }

    #[test]
    fn an_issued_csv_without_the_issuer_column_is_read_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("issued.csv");
        std::fs::write(
            &path,
            "Serial,PersonId,NotBefore,NotAfter\n\
             4A01,P1,2026-04-01T00:00:00Z,2031-04-01T00:00:00Z\n",
        )
        .unwrap();
        let old = read_issued(&path, CA).unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].issuer, CA);
        let record = IssuedRecord {
            serial: "4A02".into(),
            ..old[0].clone()
        };
        append_issued(&path, &record, CA).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(
                "Serial,PersonId,NotBefore,NotAfter,Issuer,Name,NameKana,Birthdate,Sex\n4A01,P1,"
            ),
            "{text}"
        );
        assert_eq!(
            read_issued(&path, "unused").unwrap(),
            vec![old[0].clone(), record]
        );
    }

    #[test]
    fn bad_issued_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        for (body, needle) in [
            (
                "4a01,P1,2026-04-01T00:00:00Z,2031-04-01T00:00:00Z,CN=CA\n",
                "line 2",
            ),
            (
                "4A01,P 1,2026-04-01T00:00:00Z,2031-04-01T00:00:00Z,CN=CA\n",
                "PersonId",
            ),
            (
                "4A01,P1,2026-04-01,2031-04-01T00:00:00Z,CN=CA\n",
                "NotBefore",
            ),
            (
                "4A01,P1,2026-04-01T00:00:00Z,2031-04-01T00:00:00Z,\n",
                "Issuer",
            ),
            ("4A01,P1,2026-04-01T00:00:00Z\n", "line 2"),
        ] {
            let path = issued_file(dir.path(), body);
            let err = read_issued(&path, CA).unwrap_err().to_string();
            assert!(err.contains(needle), "{body}: {err}");
            assert!(err.contains("issued.csv"), "{err}");
        }
        let path = dir.path().join("issued.csv");
        std::fs::write(&path, "Serial,Person,NotBefore,NotAfter\n").unwrap();
        let err = read_issued(&path, CA).unwrap_err().to_string();
        assert!(err.contains("header"), "{err}");
    }

    #[test]
    fn revoked_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked.csv");
        std::fs::write(&path, "Serial,RevokedAt\n").unwrap();
        let record = RevokedRecord {
            serial: "4A01".into(),
            revoked_at: Utc.with_ymd_and_hms(2027, 1, 2, 3, 4, 5).unwrap(),
        };
        append_revoked(&path, &record).unwrap();
        assert_eq!(read_revoked(&path).unwrap(), vec![record]);
    }
}
