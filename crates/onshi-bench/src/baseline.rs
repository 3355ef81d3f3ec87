//! The bare baselines: the same rows into a table of the same shape with nothing but a prepared
//! INSERT loop in one transaction (SQLite) or one COPY (PostgreSQL), and plain primary-key
//! SELECTs.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::BenchError;

/// The SQLite store's table (columns, keys, index), for the SQLite baseline.
const BARE_TABLE: &str = "
    CREATE TABLE bare_eligibility (
        person_id TEXT NOT NULL, insurer_number TEXT NOT NULL, symbol TEXT NOT NULL,
        number TEXT NOT NULL, branch TEXT NOT NULL, qualification_date INTEGER NOT NULL,
        card_classification TEXT NOT NULL, personal_family TEXT NOT NULL, insured_name TEXT,
        name TEXT NOT NULL, name_kana TEXT NOT NULL, sex TEXT NOT NULL, birthdate INTEGER NOT NULL,
        address TEXT, post_number TEXT, disqualification_date INTEGER, contribution_ratio TEXT,
        preschool TEXT, reason_of_loss TEXT, insurer_name TEXT NOT NULL,
        elderly_certificate_date INTEGER, elderly_valid_start INTEGER, elderly_valid_end INTEGER,
        elderly_contribution_ratio TEXT,
        PRIMARY KEY (person_id, insurer_number, symbol, number, branch, qualification_date)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX bare_eligibility_key
        ON bare_eligibility (insurer_number, symbol, number, branch, qualification_date);";

/// The PostgreSQL store's table, for the PostgreSQL baseline.
const BARE_TABLE_PG: &str = "
    CREATE TABLE bare_eligibility (
        person_id text NOT NULL, insurer_number text NOT NULL, symbol text NOT NULL,
        number text NOT NULL, branch text NOT NULL, qualification_date date NOT NULL,
        card_classification text NOT NULL, personal_family text NOT NULL, insured_name text,
        name text NOT NULL, name_kana text NOT NULL, sex text NOT NULL, birthdate date NOT NULL,
        address text, post_number text, disqualification_date date, contribution_ratio text,
        preschool text, reason_of_loss text, insurer_name text NOT NULL,
        elderly_certificate_date date, elderly_valid_start date, elderly_valid_end date,
        elderly_contribution_ratio text,
        PRIMARY KEY (insurer_number, symbol, number, branch, qualification_date)
    );
    CREATE INDEX bare_eligibility_by_person ON bare_eligibility (person_id);";

/// Positions (in the CSV) of the store's columns, in the store's column order.
const CSV_ORDER: [&str; 24] = [
    "PersonId",
    "InsurerNumber",
    "InsuredCardSymbol",
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "QualificationDate",
    "InsuredCardClassification",
    "PersonalFamilyClassification",
    "InsuredName",
    "Name",
    "NameKana",
    "Sex1",
    "Birthdate",
    "Address",
    "PostNumber",
    "DisqualificationDate",
    "InsuredPartialContributionRatio",
    "PreschoolClassification",
    "ReasonOfLoss",
    "InsurerName",
    "ElderlyRecipientCertificateDate",
    "ElderlyRecipientValidStartDate",
    "ElderlyRecipientValidEndDate",
    "ElderlyRecipientContributionRatio",
];

/// Columns holding dates (stored as integers in SQLite, dates in PostgreSQL).
const DATE_COLUMNS: [usize; 6] = [5, 12, 15, 20, 21, 22];

/// The generated rows in memory, in the store's column order (read before timing starts).
pub(crate) struct Rows(Vec<Vec<String>>);

impl Rows {
    pub(crate) fn read(path: &Path) -> Result<Self, BenchError> {
        let mut reader = csv::Reader::from_path(path)?;
        let headers = reader.headers()?.clone();
        let at: Vec<usize> = CSV_ORDER
            .iter()
            .map(|c| headers.iter().position(|h| h == *c).unwrap_or(usize::MAX))
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record?;
            rows.push(
                at.iter()
                    .map(|&i| record.get(i).unwrap_or("").to_owned())
                    .collect(),
            );
        }
        Ok(Self(rows))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A bare engine: load the rows, select them by key; both return seconds.
pub(crate) trait Bare {
    fn insert_is(&self) -> &'static str;
    fn load(&mut self, rows: &Rows) -> Result<f64, BenchError>;
    fn select(&mut self, rows: &Rows, order: &[usize]) -> Result<f64, BenchError>;
}

pub(crate) struct BareSqlite(rusqlite::Connection);

impl BareSqlite {
    pub(crate) fn open(path: &Path) -> Result<Self, BenchError> {
        let conn = rusqlite::Connection::open(path)?;
        // The same settings as the store's connections.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -262144;
             PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 1073741824;",
        )?;
        conn.execute_batch(BARE_TABLE)?;
        Ok(Self(conn))
    }
}

fn sqlite_value(i: usize, s: &str) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    if s.is_empty() && i != 2 {
        Value::Null
    } else if DATE_COLUMNS.contains(&i) {
        Value::Integer(s.parse().unwrap_or(0))
    } else {
        Value::Text(s.to_owned())
    }
}

impl Bare for BareSqlite {
    fn insert_is(&self) -> &'static str {
        "bare prepared INSERT loop, 1 transaction"
    }

    fn load(&mut self, rows: &Rows) -> Result<f64, BenchError> {
        let values: Vec<Vec<rusqlite::types::Value>> = rows
            .0
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(i, s)| sqlite_value(i, s))
                    .collect()
            })
            .collect();
        let started = Instant::now();
        let tx = self.0.transaction()?;
        {
            let placeholders: Vec<String> = (1..=24).map(|i| format!("?{i}")).collect();
            let mut stmt = tx.prepare(&format!(
                "INSERT INTO bare_eligibility VALUES ({})",
                placeholders.join(", ")
            ))?;
            for row in &values {
                stmt.execute(rusqlite::params_from_iter(row.iter()))?;
            }
        }
        tx.commit()?;
        Ok(started.elapsed().as_secs_f64())
    }

    fn select(&mut self, rows: &Rows, order: &[usize]) -> Result<f64, BenchError> {
        let mut stmt = self.0.prepare(
            "SELECT * FROM bare_eligibility WHERE person_id = ?1 AND insurer_number = ?2
             AND symbol = ?3 AND number = ?4 AND branch = ?5 AND qualification_date = ?6",
        )?;
        let keys: Vec<_> = order
            .iter()
            .map(|&i| {
                let r = &rows.0[i];
                (
                    r[0].clone(),
                    r[1].clone(),
                    r[2].clone(),
                    r[3].clone(),
                    r[4].clone(),
                    r[5].parse::<i64>().unwrap_or(0),
                )
            })
            .collect();
        let started = Instant::now();
        let mut bytes = 0usize;
        for k in &keys {
            let mut result = stmt.query(rusqlite::params![k.0, k.1, k.2, k.3, k.4, k.5])?;
            while let Some(row) = result.next()? {
                for c in 0..24 {
                    if let Ok(s) = row.get_ref(c)?.as_str() {
                        bytes += s.len();
                    }
                }
            }
        }
        std::hint::black_box(bytes);
        Ok(started.elapsed().as_secs_f64())
    }
}

/// Drops onshi's tables (the service's and the portal's too, which the server creates: with them
/// left behind, the migrations would start again from nothing and fail) and the baseline's, so
/// that the run starts from an empty database.
pub(crate) fn reset_postgres(url: &str) -> Result<(), onshi_store::StoreError> {
    onshi_store::postgres::drop_schema(url)?;
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute("DROP TABLE IF EXISTS bare_eligibility")?;
    Ok(())
}

pub(crate) struct BarePostgres(postgres::Client);

impl BarePostgres {
    pub(crate) fn connect(url: &str) -> Result<Self, BenchError> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        client.batch_execute(BARE_TABLE_PG)?;
        Ok(Self(client))
    }
}

impl Bare for BarePostgres {
    fn insert_is(&self) -> &'static str {
        "bare COPY"
    }

    fn load(&mut self, rows: &Rows) -> Result<f64, BenchError> {
        let mut data = Vec::new();
        for r in &rows.0 {
            for (i, s) in r.iter().enumerate() {
                if i > 0 {
                    data.push(b'\t');
                }
                if s.is_empty() && i != 2 {
                    data.extend_from_slice(b"\\N");
                } else {
                    data.extend_from_slice(s.as_bytes());
                }
            }
            data.push(b'\n');
        }
        let started = Instant::now();
        let mut tx = self.0.transaction()?;
        let mut writer = tx.copy_in("COPY bare_eligibility FROM STDIN")?;
        writer.write_all(&data)?;
        writer.finish()?;
        tx.commit()?;
        Ok(started.elapsed().as_secs_f64())
    }

    fn select(&mut self, rows: &Rows, order: &[usize]) -> Result<f64, BenchError> {
        let stmt = self.0.prepare(
            "SELECT * FROM bare_eligibility WHERE insurer_number = $1 AND symbol = $2
             AND number = $3 AND branch = $4 AND qualification_date = $5::text::date",
        )?;
        let started = Instant::now();
        let mut n = 0usize;
        for &i in order {
            let r = &rows.0[i];
            n += self
                .0
                .query(&stmt, &[&r[1], &r[2], &r[3], &r[4], &r[5]])?
                .len();
        }
        std::hint::black_box(n);
        Ok(started.elapsed().as_secs_f64())
    }
}
