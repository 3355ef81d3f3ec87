//! Test files and stores.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

use onshi_store::Store;

pub const PERSONS_HEADER: &str = "PersonId,Name,NameKana,Birthdate,Sex1,Address";
pub const ELIGIBILITY_HEADER: &str = "PersonId,InsurerNumber,InsuredCardSymbol,InsuredIdentificationNumber,InsuredBranchNumber,PersonalFamilyClassification,InsuredName,Name,NameKana,Sex1,Birthdate,Address,PostNumber,QualificationDate,DisqualificationDate,InsuredCardClassification,InsuredPartialContributionRatio,PreschoolClassification,ReasonOfLoss,InsurerName,ElderlyRecipientCertificateDate,ElderlyRecipientValidStartDate,ElderlyRecipientValidEndDate,ElderlyRecipientContributionRatio,InsuredCertificateIssuanceDate,InsuredCardValidDate,InsuredCardExpirationDate";

pub fn persons_rows() -> Vec<String> {
    vec![
        "P0000000001,髙橋　一郎,タカハシ　イチロウ,19800102,1,東京都千代田区霞が関１－２－２"
            .into(),
        "P0000000002,山﨑　花子,ﾔﾏｻﾞｷ ﾊﾅｺ,19820303,2,".into(),
        "P0000000003,𠮷田　梅,ヨシダ　ウメ,19450301,2,大阪府大阪市北区１－１".into(),
    ]
}

/// A valid eligibility row; `edit` changes fields by header name.
pub fn eligibility_row(edit: &[(&str, &str)]) -> String {
    let header: Vec<&str> = ELIGIBILITY_HEADER.split(',').collect();
    let mut values: Vec<String> = vec![
        "P0000000001",
        "01130012",
        "医国３４０",
        "０２８２‐００１",
        "00",
        "1",
        "髙橋　一郎",
        "髙橋　一郎",
        "タカハシ　イチロウ",
        "1",
        "19800102",
        "東京都千代田区霞が関１－２－２",
        "100-8916",
        "20200401",
        "",
        "01",
        "030",
        "",
        "",
        "全国健康保険協会東京支部",
        "",
        "",
        "",
        "",
        "20200325",
        "20200401",
        "",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for (name, value) in edit {
        let i = header.iter().position(|h| h == name).unwrap();
        values[i] = (*value).to_owned();
    }
    values.join(",")
}

pub fn write(dir: &Path, name: &str, header: &str, rows: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::from(header);
    text.push('\n');
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

pub struct Engine {
    pub name: &'static str,
    pub store: Box<dyn Store>,
    pub dir: tempfile::TempDir,
    drop_db: Option<(String, String)>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.drop_db {
            if let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// SQLite always; PostgreSQL when ONSHI_TEST_POSTGRES names a server (required when
/// ONSHI_REQUIRE_POSTGRES is set, as in CI).
pub fn engines() -> Vec<Engine> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![Engine {
        name: "sqlite",
        store: onshi_store::open_data_dir(&dir.path().join("data")).unwrap(),
        dir,
        drop_db: None,
    }];
    match std::env::var("ONSHI_TEST_POSTGRES") {
        Ok(admin) if !admin.is_empty() => {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "onshi_feed_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            out.push(Engine {
                name: "postgres",
                store: onshi_store::open(&url).unwrap(),
                dir: tempfile::tempdir().unwrap(),
                drop_db: Some((admin, name)),
            });
        }
        _ => assert!(
            std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
            "ONSHI_TEST_POSTGRES missing"
        ),
    }
    out
}

pub fn no_progress() -> &'static (dyn Fn(u64, u64) + Sync) {
    &|_, _| {}
}
