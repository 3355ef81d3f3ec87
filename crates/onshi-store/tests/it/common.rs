//! Engines to test against and sample data.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use onshi_model::date::parse_yyyymmdd;
use onshi_model::*;
use onshi_store::{ServiceStore, Store};

/// A store under test with whatever keeps it alive (a temporary directory, a database to drop).
pub struct Engine {
    pub name: &'static str,
    pub store: Box<dyn Store>,
    _keep: Keep,
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Database { admin: String, name: String },
}

impl Drop for Keep {
    fn drop(&mut self) {
        if let Keep::Database { admin, name } = self {
            if let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// The PostgreSQL server the tests may use (`ONSHI_TEST_POSTGRES`, set by scripts/test). When
/// `ONSHI_REQUIRE_POSTGRES` is set (CI), a missing server fails the test instead of skipping.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("ONSHI_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
                "ONSHI_TEST_POSTGRES is not set but ONSHI_REQUIRE_POSTGRES is"
            );
            eprintln!(
                "PostgreSQL tests skipped: ONSHI_TEST_POSTGRES is not set (scripts/test sets it)"
            );
            None
        }
    }
}

/// A fresh, empty database on the test server; its URL.
pub fn fresh_postgres(admin: &str) -> (String, String) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "onshi_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("admin URL without a database: {admin}"),
    };
    (url, name)
}

/// Every engine, each empty.
pub fn engines() -> Vec<Engine> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = onshi_store::open_data_dir(dir.path()).unwrap();
    let mut out = vec![Engine {
        name: "sqlite",
        store: sqlite,
        _keep: Keep::Dir(dir),
    }];
    if let Some(admin) = postgres_admin_url() {
        let (url, name) = fresh_postgres(&admin);
        out.push(Engine {
            name: "postgres",
            store: onshi_store::open(&url).unwrap(),
            _keep: Keep::Database { admin, name },
        });
    }
    out
}

/// A store under test through the service's interface, with the means to open another
/// instance on the same database and to change it behind onshi's back.
pub struct ServiceEngine {
    pub name: &'static str,
    pub store: Box<dyn ServiceStore>,
    /// The SQLite file or the PostgreSQL URL.
    pub url: String,
    _keep: Keep,
}

impl ServiceEngine {
    /// Another instance on the same database (as a second server would open it).
    pub fn another(&self) -> Box<dyn ServiceStore> {
        onshi_store::open_service(&self.url).unwrap()
    }

    /// Runs one SQL statement directly, as someone tampering with the database would; the
    /// number of rows changed.
    pub fn raw(&self, sql: &str) -> u64 {
        if self.name == "sqlite" {
            let c = rusqlite::Connection::open(&self.url).unwrap();
            c.execute(sql, []).unwrap() as u64
        } else {
            let mut c = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
            c.execute(sql, &[]).unwrap()
        }
    }
}

/// Every engine, each empty, through the service's interface.
pub fn service_engines() -> Vec<ServiceEngine> {
    let dir = tempfile::tempdir().unwrap();
    let store = onshi_store::open_service_data_dir(dir.path()).unwrap();
    let url = dir
        .path()
        .join(onshi_store::SQLITE_FILE)
        .to_str()
        .unwrap()
        .to_owned();
    let mut out = vec![ServiceEngine {
        name: "sqlite",
        store,
        url,
        _keep: Keep::Dir(dir),
    }];
    if let Some(admin) = postgres_admin_url() {
        let (url, name) = fresh_postgres(&admin);
        out.push(ServiceEngine {
            name: "postgres",
            store: onshi_store::open_service(&url).unwrap(),
            url,
            _keep: Keep::Database { admin, name },
        });
    }
    out
}

pub fn date(s: &str) -> Date {
    parse_yyyymmdd(s).unwrap()
}

pub fn person(id: &str, name: &str, kana: &str, birth: &str) -> Person {
    Person {
        id: PersonId::parse(id).unwrap(),
        name: PersonName::parse(name).unwrap(),
        name_kana: Kana::parse(kana).unwrap(),
        birthdate: date(birth),
        sex: Sex::MALE,
        address: Some(Address::parse("東京都千代田区霞が関１－２－２").unwrap()),
        former_name: None,
    }
}

/// A 協会けんぽ record of a person.
pub fn record(
    p: &Person,
    insurer: &str,
    symbol: &str,
    number: &str,
    branch: &str,
    from: &str,
) -> EligibilityRecord {
    EligibilityRecord {
        person_id: p.id.clone(),
        qualification: Qualification {
            card_classification: InsuredCardClassification::GENERAL,
            insurer_number: InsurerNumber::parse(insurer).unwrap(),
            symbol: (!symbol.is_empty()).then(|| InsuredCardSymbol::parse(symbol).unwrap()),
            number: InsuredIdentificationNumber::parse(number).unwrap(),
            branch: InsuredBranchNumber::parse(branch).unwrap(),
            personal_family: PersonalFamilyClassification::INSURED,
            insured_name: Some(p.name.clone()),
            name: p.name.clone(),
            name_kana: p.name_kana.clone(),
            sex: p.sex,
            birthdate: p.birthdate,
            address: p.address.clone(),
            post_number: Some(PostNumber::parse("1008916").unwrap()),
            qualification_date: date(from),
            disqualification_date: None,
            card_issuance_date: None,
            card_valid_date: None,
            card_expiration_date: None,
            contribution_ratio: Some(ContributionRatio::THIRTY),
            preschool: None,
            reason_of_loss: None,
            insurer_name: InsurerName::parse("全国健康保険協会東京支部").unwrap(),
            elderly: None,
        },
    }
}

/// Stores persons and records in one import.
pub fn put(
    store: &dyn Store,
    persons: &[Person],
    records: &[EligibilityRecord],
) -> onshi_store::ImportCounts {
    let mut tx = store.begin_import().unwrap();
    tx.put_persons(persons).unwrap();
    tx.put_records(records).unwrap();
    tx.commit().unwrap()
}

/// Drops a database made by [`fresh_postgres`], closing whatever is still connected to it.
pub fn drop_database(admin: &str, name: &str) {
    let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
}
