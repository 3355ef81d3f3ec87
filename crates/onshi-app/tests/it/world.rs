//! A test world (trimmed from the server's harness): a JPKI test authority with cards, a server
//! data directory with persons and records, a running server, and a clinic terminal to enroll.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use onshi_card::Pin;
use onshi_model::date::parse_yyyymmdd;
use onshi_model::*;
use onshi_server::config::ServerConfig;

/// Runs blocking store work from async test code (the store's clients block).
pub fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

pub fn date(s: &str) -> Date {
    parse_yyyymmdd(s).unwrap()
}

fn person(id: &str, name: &str, kana: &str, birth: &str) -> Person {
    Person {
        id: PersonId::parse(id).unwrap(),
        name: PersonName::parse(name).unwrap(),
        name_kana: Kana::parse(kana).unwrap(),
        birthdate: date(birth),
        sex: Sex::FEMALE,
        address: Some(Address::parse("東京都千代田区霞が関１－２－２").unwrap()),
        former_name: None,
    }
}

fn record(p: &Person, number: &str, from: &str, lost: Option<&str>) -> EligibilityRecord {
    EligibilityRecord {
        person_id: p.id.clone(),
        qualification: Qualification {
            card_classification: InsuredCardClassification::GENERAL,
            insurer_number: InsurerNumber::parse("01130012").unwrap(),
            symbol: Some(InsuredCardSymbol::parse("医国３４０").unwrap()),
            number: InsuredIdentificationNumber::parse(number).unwrap(),
            branch: InsuredBranchNumber::parse("00").unwrap(),
            personal_family: PersonalFamilyClassification::INSURED,
            insured_name: Some(p.name.clone()),
            name: p.name.clone(),
            name_kana: p.name_kana.clone(),
            sex: p.sex,
            birthdate: p.birthdate,
            address: p.address.clone(),
            post_number: Some(PostNumber::parse("100-8916").unwrap()),
            qualification_date: date(from),
            disqualification_date: lost.map(date),
            card_issuance_date: None,
            card_valid_date: None,
            card_expiration_date: None,
            contribution_ratio: Some(ContributionRatio::THIRTY),
            preschool: None,
            reason_of_loss: lost.map(|_| ReasonOfLoss::OTHER_INSURANCE),
            insurer_name: InsurerName::parse("全国健康保険協会東京支部").unwrap(),
            elderly: None,
        },
    }
}

/// P1 valid; P2 only a lost record (無効).
fn seed(store: &dyn onshi_store::ServiceStore) {
    let p1 = person("P0000000001", "髙橋　花子", "タカハシ　ハナコ", "19800102");
    let p2 = person("P0000000002", "山﨑　梅", "ヤマサキ　ウメ", "19700505");
    let records = vec![
        record(&p1, "１", "20200401", None),
        record(&p2, "２", "20100401", Some("20240101")),
    ];
    let mut tx = store.begin_import().unwrap();
    tx.put_persons(&[p1, p2]).unwrap();
    tx.put_records(&records).unwrap();
    tx.commit().unwrap();
}

/// A running world.
pub struct World {
    pub root: tempfile::TempDir,
    pub data: PathBuf,
    pub jlis: PathBuf,
    pub authority: onshi_jlis::Authority,
    pub server: Option<onshi_server::run::RunningServer>,
    pub addr: SocketAddr,
    pub store: Box<dyn onshi_store::ServiceStore>,
}

impl World {
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let jlis = root.path().join("jlis");
        let authority =
            onshi_jlis::Authority::init(&jlis, Utc::now() - Duration::days(3650)).unwrap();
        let data = root.path().join("server");
        let mut config: ServerConfig =
            onshi_server::run::init(&data, &[jlis.join("ca.pem")], Utc::now()).unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.save(&data).unwrap();
        let store = sync(|| {
            let store = onshi_store::open_service(&config.database_url(&data)).unwrap();
            seed(store.as_ref());
            // A current CRL: without one, the CA's cards are refused (E011).
            let crl = authority.crl(Utc::now(), Duration::days(7)).unwrap();
            let trusted = onshi_server::admin::trusted_jpki(&data, &config).unwrap();
            onshi_server::admin::load_crl(store.as_ref(), &trusted, &crl, Utc::now()).unwrap();
            store
        });
        let server = onshi_server::run::start(&data, &config).await.unwrap();
        let addr = server.addr;
        Self {
            root,
            data,
            jlis,
            authority,
            server: Some(server),
            addr,
            store,
        }
    }

    /// A card for a person (PIN 1234), valid for years.
    pub fn card(&self, person: &str) -> PathBuf {
        let out = self.jlis.join(format!("{person}.card.json"));
        self.authority
            .issue_card(
                &onshi_jlis::IssueRequest {
                    person_id: person.to_owned(),
                    pin: Pin::parse("1234").unwrap(),
                    // What the card authority records of the holder: the person's own name
                    // and birth date (the wrong-link guard compares them at import).
                    attributes: onshi_card::tlv::Attributes {
                        name: match person {
                            "P0000000002" => "山﨑　梅",
                            _ => "髙橋　花子",
                        }
                        .into(),
                        address: "東京都".into(),
                        birth: match person {
                            "P0000000002" => "19700505",
                            _ => "19800102",
                        }
                        .into(),
                        sex: "2".into(),
                    },
                    attributes_pin: None,
                    record_holder: true,
                    not_before: Some(Utc::now() - Duration::days(30)),
                    not_after: Some(Utc::now() + Duration::days(1500)),
                    out: out.clone(),
                },
                Utc::now(),
            )
            .unwrap();
        out
    }

    /// Links every card issued so far to its person.
    pub fn link_cards(&self) {
        sync(|| {
            onshi_server::admin::import_card_links(
                self.store.as_ref(),
                &self.jlis.join("issued.csv"),
                false,
            )
            .unwrap()
            .unwrap()
        });
    }

    /// A clinic and a pending terminal: (account, enrollment code).
    pub fn terminal(&self) -> (String, String) {
        sync(|| {
            let clinic = onshi_server::admin::add_clinic(
                self.store.as_ref(),
                "テスト接骨院",
                "契0123456-1-23",
                Utc::now(),
            )
            .unwrap();
            let t = onshi_server::admin::add_terminal(
                self.store.as_ref(),
                clinic.id,
                onshi_server::config::DEFAULT_MAX_TERMINALS_PER_CLINIC,
                Utc::now(),
            )
            .unwrap();
            (t.terminal.id.to_string(), t.code)
        })
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub fn server_ca(&self) -> PathBuf {
        self.data.join("server-ca.pem")
    }

    /// Starts the server again on the same data directory and address (after [`World::stop`]).
    pub async fn restart(&mut self) {
        let mut config = ServerConfig::load(&self.data).unwrap();
        config.listen = self.addr;
        let server = onshi_server::run::start(&self.data, &config).await.unwrap();
        assert_eq!(server.addr, self.addr);
        self.server = Some(server);
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }
}

/// Opens a software card in-process.
pub fn open_card(path: &Path) -> onshi_card::client::Client<onshi_card_emu::InProcess> {
    onshi_card::client::Client::new(onshi_card_emu::InProcess::new(
        onshi_card_emu::SoftCard::open(path).unwrap(),
    ))
}
