//! A test world: a JPKI test authority with cards, a server data directory with persons and
//! records, a running server, and enrolled terminals with an HTTPS client.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use onshi_card::client::{sha256_digest_info, Client};
use onshi_card::Pin;
use onshi_model::date::parse_yyyymmdd;
use onshi_model::*;
use onshi_proto as proto;
use onshi_server::config::ServerConfig;
use serde_json::Value;

/// Runs blocking store work from async test code (the store's clients block).
pub fn sync<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The engines to run against: SQLite always, PostgreSQL when the test server is there.
pub fn databases(dir: &Path) -> Vec<(String, Option<String>)> {
    let mut out = vec![("sqlite".to_owned(), None)];
    match std::env::var("ONSHI_TEST_POSTGRES") {
        Ok(admin) if !admin.is_empty() => {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "onshi_server_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            sync(|| {
                let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
                c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            });
            let _ = dir;
            out.push((
                "postgres".to_owned(),
                Some(format!("{}/{name}", admin.rsplit_once('/').unwrap().0)),
            ));
        }
        _ => assert!(
            std::env::var_os("ONSHI_REQUIRE_POSTGRES").is_none(),
            "ONSHI_TEST_POSTGRES missing"
        ),
    }
    out
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

fn record(
    p: &Person,
    insurer: &str,
    number: &str,
    from: &str,
    lost: Option<&str>,
) -> EligibilityRecord {
    EligibilityRecord {
        person_id: p.id.clone(),
        qualification: Qualification {
            card_classification: InsuredCardClassification::GENERAL,
            insurer_number: InsurerNumber::parse(insurer).unwrap(),
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

/// The persons of the world: P1 valid; P2 only a lost record (2); P3 a lost record and a newer
/// one (valid now; its old card's numbers give 3); P4 has no records (4).
const PEOPLE: [(&str, &str, &str, &str); 4] = [
    ("P0000000001", "髙橋　花子", "タカハシ　ハナコ", "19800102"),
    ("P0000000002", "山﨑　梅", "ヤマサキ　ウメ", "19700505"),
    ("P0000000003", "𠮷田　桜", "ヨシダ　サクラ", "19900303"),
    ("P0000000004", "佐藤　杏", "サトウ　アンズ", "20000101"),
];

/// P1's former name (旧姓) in the insurer's record.
pub const P1_FORMER_NAME: &str = "鈴木　花子";

/// What a card of `person` says of its holder (all the world's persons are women): the card
/// authority's record, which the wrong-link guard compares with the person at import.
pub fn holder_attributes(person: &str) -> onshi_card::tlv::Attributes {
    let (name, birth) = PEOPLE
        .iter()
        .find(|p| p.0 == person)
        .map_or(("試験　花子", "19800102"), |p| (p.1, p.3));
    onshi_card::tlv::Attributes {
        name: name.into(),
        address: "東京都".into(),
        birth: birth.into(),
        sex: "2".into(),
    }
}

fn seed(store: &dyn onshi_store::ServiceStore) {
    let [mut p1, p2, p3, p4] = PEOPLE.map(|(id, name, kana, birth)| person(id, name, kana, birth));
    // P1's insurer keeps her name before marriage (旧姓): a card still under it is hers.
    p1.former_name = Some(PersonName::parse(P1_FORMER_NAME).unwrap());
    let records = vec![
        record(&p1, "01130012", "１", "20200401", None),
        record(&p2, "01130012", "２", "20100401", Some("20240101")),
        record(&p3, "01130012", "３", "20150401", Some("20230401")),
        record(&p3, "06139992", "３", "20230401", None),
    ];
    let mut tx = store.begin_import().unwrap();
    tx.put_persons(&[p1, p2, p3, p4]).unwrap();
    tx.put_records(&records).unwrap();
    tx.commit().unwrap();
}

/// The test JPKI authority and its cards (person → card file).
pub struct Cards {
    pub authority: onshi_jlis::Authority,
    pub dir: PathBuf,
}

impl Cards {
    pub fn new(root: &Path) -> Self {
        let dir = root.join("jlis");
        let authority =
            onshi_jlis::Authority::init(&dir, Utc::now() - Duration::days(3650)).unwrap();
        Self { authority, dir }
    }

    /// Issues a card for a person, valid from `from` to `to`.
    pub fn issue(&self, person: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> PathBuf {
        let out = self
            .dir
            .join(format!("{person}-{}.card.json", to.timestamp()));
        self.authority
            .issue_card(
                &onshi_jlis::IssueRequest {
                    person_id: person.to_owned(),
                    pin: Pin::parse("1234").unwrap(),
                    attributes: holder_attributes(person),
                    attributes_pin: None,
                    record_holder: true,
                    not_before: Some(from),
                    not_after: Some(to),
                    out: out.clone(),
                },
                Utc::now(),
            )
            .unwrap();
        out
    }

    /// A card valid for years.
    pub fn valid(&self, person: &str) -> PathBuf {
        self.issue(
            person,
            Utc::now() - Duration::days(30),
            Utc::now() + Duration::days(1500),
        )
    }
}

/// Reads a card's certificate and (with `pin`) signs the check's message for `nonce` at
/// `terminal`.
pub fn card_answer(
    card: &Path,
    nonce_b64: &str,
    terminal: &str,
    pin: Option<&str>,
) -> (String, Option<String>) {
    card_answer_for(proto::Purpose::Verify, card, nonce_b64, terminal, pin)
}

/// [`card_answer`] for another purpose (利用登録).
pub fn card_answer_for(
    purpose: proto::Purpose,
    card: &Path,
    nonce_b64: &str,
    terminal: &str,
    pin: Option<&str>,
) -> (String, Option<String>) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let soft = onshi_card_emu::SoftCard::open(card).unwrap();
    let mut client = Client::new(onshi_card_emu::InProcess::new(soft));
    let cert = client.read_auth_certificate().unwrap();
    let signature = pin.map(|pin| {
        let nonce = b64.decode(nonce_b64).unwrap();
        let digest = proto::signed_digest(purpose, &nonce, terminal);
        client.verify_auth_pin(&Pin::parse(pin).unwrap()).unwrap();
        b64.encode(
            client
                .sign_with_auth_key(&sha256_digest_info(&digest))
                .unwrap(),
        )
    });
    (b64.encode(cert), signature)
}

/// A running world.
pub struct World {
    pub root: tempfile::TempDir,
    pub data: PathBuf,
    pub cards: Cards,
    pub config: ServerConfig,
    pub server: Option<onshi_server::run::RunningServer>,
    pub addr: SocketAddr,
    pub store: Box<dyn onshi_store::ServiceStore>,
}

impl World {
    /// Authority, server directory (on `database`, or SQLite), persons, card links, server.
    pub async fn start(database: Option<String>, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let root = tempfile::tempdir().unwrap();
        let cards = Cards::new(root.path());
        let data = root.path().join("server");
        let mut config =
            onshi_server::run::init(&data, &[cards.dir.join("ca.pem")], Utc::now()).unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database.url = database;
        config.crl_poll_seconds = 1;
        tweak(&mut config);
        config.save(&data).unwrap();
        let store = sync(|| {
            let store = onshi_store::open_service(&config.database_url(&data)).unwrap();
            seed(store.as_ref());
            // A current CRL from the start: without one, cards of the CA are refused (E011).
            let crl = cards.authority.crl(Utc::now(), Duration::days(7)).unwrap();
            let trusted = onshi_server::admin::trusted_jpki(&data, &config).unwrap();
            onshi_server::admin::load_crl(store.as_ref(), &trusted, &crl, Utc::now()).unwrap();
            store
        });
        let server = onshi_server::run::start(&data, &config).await.unwrap();
        let addr = server.addr;
        Self {
            root,
            data,
            cards,
            config,
            server: Some(server),
            addr,
            store,
        }
    }

    /// Loads a CRL as `onshi admin crl load` does (verified against the trusted CAs).
    pub fn load_crl(&self, crl: &[u8]) -> Result<onshi_pki::CrlInfo, String> {
        sync(|| {
            let trusted = onshi_server::admin::trusted_jpki(&self.data, &self.config)?;
            onshi_server::admin::load_crl(self.store.as_ref(), &trusted, crl, Utc::now())
        })
        .map_err(|e: onshi_server::ServerError| e.to_string())
    }

    /// Waits until the server's CRL poll (1 s in the test world) has seen the store.
    pub async fn wait_for_poll(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    }

    /// Links every card issued so far (issued.csv) to its person.
    pub fn link_cards(&self, unregistered: bool) {
        let import = sync(|| {
            onshi_server::admin::import_card_links(
                self.store.as_ref(),
                &self.cards.dir.join("issued.csv"),
                unregistered,
            )
            .unwrap()
            .unwrap()
        });
        assert!(import.links > 0);
        // Every card of the world is its person's: the guard holds none.
        assert_eq!(import.held, 0, "{:?}", import.report);
    }

    /// A clinic with an enrolled terminal; returns the terminal's client.
    pub async fn terminal(&self) -> Terminal {
        let t = sync(|| {
            let clinic = onshi_server::admin::add_clinic(
                self.store.as_ref(),
                "テスト接骨院",
                "契0123456-1-23",
                Utc::now(),
            )
            .unwrap();
            onshi_server::admin::add_terminal(
                self.store.as_ref(),
                clinic.id,
                self.config.max_terminals_per_clinic,
                Utc::now(),
            )
            .unwrap()
        });
        self.enroll(&t.terminal.id, &t.code).await.unwrap()
    }

    /// Enrolls an account with a code: the terminal, or the error answer.
    pub async fn enroll(&self, account: &str, code: &str) -> Result<Terminal, (u16, Value)> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = rcgen::CertificateParams::new(vec![])
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let anonymous = Https::new(self, None);
        let req = proto::EnrollRequest {
            account: account.to_owned(),
            code: code.to_owned(),
            csr_pem: csr,
        };
        let (status, body) = anonymous
            .post(proto::ENROLL, &serde_json::to_value(req).unwrap())
            .await;
        if status != 200 {
            return Err((status, body));
        }
        let cert = body["certificate_pem"].as_str().unwrap().to_owned();
        Ok(Terminal {
            id: account.to_owned(),
            https: Https::new(self, Some((cert, key.serialize_pem()))),
        })
    }

    /// The chains under the data directory's audit key.
    pub fn audit_verify(&self) -> onshi_store::AuditVerification {
        let key = onshi_server::audit_key::read(&onshi_server::audit_key::default_path(&self.data))
            .unwrap();
        sync(|| self.store.audit_verify(&key, &[]).unwrap().unwrap())
    }

    pub fn server_ca(&self) -> String {
        std::fs::read_to_string(self.data.join("server-ca.pem")).unwrap()
    }
}

/// An enrolled terminal.
pub struct Terminal {
    pub id: String,
    pub https: Https,
}

impl Terminal {
    pub async fn challenge(&self) -> String {
        let (status, body) = self.https.post(proto::CHALLENGE, &Value::Null).await;
        assert_eq!(status, 200, "{body}");
        body["nonce"].as_str().unwrap().to_owned()
    }

    /// A full check with a card: challenge, card answer, verify.
    pub async fn check(&self, card: &Path, mode: proto::Mode, visit: &str) -> (u16, Value) {
        let nonce = self.challenge().await;
        let pin = (mode == proto::Mode::Pin).then_some("1234");
        let (certificate, signature) = card_answer(card, &nonce, &self.id, pin);
        let req = proto::VerifyRequest {
            mode,
            certificate,
            signature,
            nonce,
            visit_date: date(visit),
            recheck_of: None,
        };
        self.https
            .post(proto::VERIFY, &serde_json::to_value(req).unwrap())
            .await
    }
}

/// The tests' HTTPS client: the service's one client (`onshi-client`) trusting our server's CA,
/// optionally with a client certificate; every request on a fresh connection.
#[derive(Clone)]
pub struct Https {
    addr: SocketAddr,
    client: Arc<onshi_client::ServiceClient>,
}

impl Https {
    pub fn new(world: &World, identity: Option<(String, String)>) -> Self {
        Self::with(world.addr, &world.server_ca(), identity)
    }

    /// The same client (the same identity) to another instance.
    pub fn to(&self, addr: SocketAddr) -> Self {
        Self {
            addr,
            client: Arc::new(self.client.another_at(addr.port())),
        }
    }

    pub fn with(addr: SocketAddr, server_ca_pem: &str, identity: Option<(String, String)>) -> Self {
        let identity = identity.map(|(certificate_pem, key)| onshi_client::Identity {
            certificate_pem,
            key_pem: zeroize::Zeroizing::new(key),
        });
        let url = onshi_client::ServerUrl {
            host: "localhost".into(),
            port: addr.port(),
        };
        let client =
            onshi_client::ServiceClient::new(url, Some(server_ca_pem), identity.as_ref()).unwrap();
        Self {
            addr,
            client: Arc::new(client),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TLS handshake on a TCP connection the test opened (one client configuration: its
    /// session store lets connections resume).
    pub async fn tls(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        self.client.handshake(tcp).await.map_err(|e| e.to_string())
    }

    /// GETs a path on a fresh connection; (status, body text).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let answer = self
            .client
            .another()
            .request(onshi_client::Method::GET, path, &[], Vec::new())
            .await
            .unwrap();
        (
            answer.status,
            String::from_utf8_lossy(&answer.body).into_owned(),
        )
    }

    /// POSTs JSON on a fresh connection; (status, JSON body). A refused handshake is status 0.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        match self
            .client
            .another()
            .request(
                onshi_client::Method::POST,
                path,
                &[("content-type", "application/json")],
                bytes,
            )
            .await
        {
            Ok(a) => (
                a.status,
                serde_json::from_slice(&a.body)
                    .unwrap_or(Value::String(String::from_utf8_lossy(&a.body).into())),
            ),
            // A refused handshake, or TLS 1.3's refusal of a client certificate on first use.
            Err(e) => (0, Value::String(e.to_string())),
        }
    }
}
