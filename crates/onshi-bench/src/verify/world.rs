//! The throwaway world of one run, in a temporary directory: a test JPKI authority, synthetic
//! persons with records, software cards linked to the persons whose eligibility is valid on the
//! visit date, a server data directory on SQLite (or PostgreSQL) with one clinic and its
//! terminals, the server in process and the terminals enrolled.
//!
//! The store's clients block: everything here that touches the store runs on the calling thread,
//! before the async runtime exists (the server opens its own store off the async threads).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hyper::body::Bytes;
use onshi_model::{Date, PersonId, QualificationValidity};
use onshi_server::admin::NewTerminal;
use onshi_server::config::ServerConfig;
use onshi_server::run::RunningServer;
use onshi_store::ServiceStore;

use super::https::{client_config, Connection, Identity};
use super::{VerifyError, VerifyOptions, CHALLENGE_TTL_SECONDS};

/// The PIN of every software card of the run.
pub(crate) const CARD_PIN: &str = "1234";

/// A software card of the run.
#[derive(Clone)]
pub(crate) struct Card {
    /// The card file.
    pub(crate) path: PathBuf,
    /// Its 利用者証明用電子証明書, DER.
    pub(crate) certificate_der: Vec<u8>,
    /// The same, base64, as a request carries it.
    pub(crate) certificate_b64: String,
}

/// An enrolled terminal: its account id and client certificate.
#[derive(Clone)]
pub(crate) struct Terminal {
    /// `W0000001`…
    pub(crate) id: String,
    /// Its client certificate and key.
    pub(crate) identity: Identity,
}

/// Everything set up before the server starts.
pub(crate) struct World {
    /// Holds every file of the run; removed on drop.
    _root: tempfile::TempDir,
    data: PathBuf,
    config: ServerConfig,
    /// The setup's own store handle (the server opens another).
    store: Box<dyn ServiceStore>,
    /// The persons whose eligibility is valid on the visit date.
    valid: Vec<PersonId>,
    /// `sqlite` or `postgres`.
    pub(crate) engine: &'static str,
    /// Persons and eligibility records in the store.
    pub(crate) persons: u64,
    pub(crate) records: u64,
    /// The cards, each linked to a person with valid eligibility on the visit date.
    pub(crate) cards: Vec<Card>,
    /// The visit date of every request, `yyyyMMdd`.
    pub(crate) visit_date: onshi_model::Date,
    pending: Vec<NewTerminal>,
}

impl World {
    /// Creates the world; the server is not started yet.
    pub(crate) fn build(
        opts: &VerifyOptions,
        stage: &mut dyn FnMut(&str),
    ) -> Result<Self, VerifyError> {
        let now = Utc::now();
        let visit = now.date_naive();
        let root = tempfile::tempdir()?;
        stage("setting up: test card authority, server data directory");
        let jlis = root.path().join("jlis");
        let authority = onshi_jlis::Authority::init(&jlis, now - Duration::days(1))?;
        let data = root.path().join("server");
        let config = server_config(&data, &jlis, opts.postgres.as_deref(), now)?;
        let store = onshi_store::open_service(&config.database_url(&data))?;

        stage(&format!(
            "setting up: {} synthetic persons on {}",
            opts.persons,
            store.engine()
        ));
        let seeded = seed(
            store.as_ref(),
            &root.path().join("feed"),
            opts.persons,
            visit,
        )?;

        stage(&format!(
            "setting up: issuing {} software cards (RSA-2048 keys)",
            opts.cards
        ));
        let cards = issue_cards(&authority, authority.dir(), &seeded.valid, opts.cards, now)?;
        link_cards(store.as_ref(), &jlis.join("issued.csv"))?;
        // A current CRL: without one, the authority's cards are refused (E011).
        let trusted =
            onshi_server::admin::trusted_jpki(&data, &config).map_err(VerifyError::Server)?;
        onshi_server::admin::load_crl(
            store.as_ref(),
            &trusted,
            &authority.crl(now, Duration::days(7))?,
            now,
        )
        .map_err(VerifyError::Server)?;
        let pending = add_terminals(store.as_ref(), opts.terminals, now)?;

        Ok(Self {
            engine: store.engine(),
            _root: root,
            data,
            config,
            store,
            valid: seeded.valid.into_iter().map(|p| p.id).collect(),
            persons: seeded.persons,
            records: seeded.records,
            cards,
            visit_date: visit,
            pending,
        })
    }

    /// The world of a run against instances that already run (`--target`): their data directory
    /// (`config.toml` names the database, `server-ca.pem` is the terminals' trust anchor) and the
    /// test card authority whose CA they trust. Nothing is dropped: persons with valid
    /// eligibility are taken from the database (synthetic ones are imported only when it has
    /// none), new cards are issued and linked, a new CRL is loaded, and a new clinic with its
    /// terminals is added, to be enrolled through the target.
    pub(crate) fn attach(
        opts: &VerifyOptions,
        target: &super::Target,
        stage: &mut dyn FnMut(&str),
    ) -> Result<Self, VerifyError> {
        let now = Utc::now();
        let visit = now.date_naive();
        let root = tempfile::tempdir()?;
        let data = target.data.clone();
        let mut config =
            ServerConfig::load(&data).map_err(|e| VerifyError::Setup(e.to_string()))?;
        if let Some(url) = &opts.postgres {
            config.database.url = Some(url.clone());
        }
        let store = onshi_store::open_service(&config.database_url(&data))?;
        let authority = onshi_jlis::Authority::open(&target.jlis)?;
        stage(&format!(
            "looking for persons with valid eligibility among the first {} ids on {}",
            opts.persons,
            store.engine()
        ));
        let mut valid = valid_persons(store.as_ref(), opts.persons, visit)?;
        if valid.is_empty() {
            stage(&format!(
                "none: importing {} synthetic persons",
                opts.persons
            ));
            valid = seed(
                store.as_ref(),
                &root.path().join("feed"),
                opts.persons,
                visit,
            )?
            .valid;
        }
        let counts = store.counts()?;
        stage(&format!(
            "issuing {} software cards from {}",
            opts.cards,
            target.jlis.display()
        ));
        let cards_dir = root.path().join("cards");
        std::fs::create_dir_all(&cards_dir)?;
        let cards = issue_cards(&authority, &cards_dir, &valid, opts.cards, now)?;
        link_cards(store.as_ref(), &target.jlis.join("issued.csv"))?;
        let trusted =
            onshi_server::admin::trusted_jpki(&data, &config).map_err(VerifyError::Server)?;
        onshi_server::admin::load_crl(
            store.as_ref(),
            &trusted,
            &authority.crl(now, Duration::days(7))?,
            now,
        )
        .map_err(VerifyError::Server)?;
        // The instances see the new CRL at their next poll; until then they may refuse the
        // authority's cards (E011) if they had none.
        stage(&format!(
            "waiting {} s for the instances to poll the new CRL (crl_poll_seconds)",
            config.crl_poll_seconds + 1
        ));
        std::thread::sleep(std::time::Duration::from_secs(config.crl_poll_seconds + 1));
        let pending = add_terminals(store.as_ref(), opts.terminals, now)?;
        Ok(Self {
            engine: store.engine(),
            _root: root,
            data,
            config,
            store,
            valid: valid.into_iter().map(|p| p.id).collect(),
            persons: counts.persons,
            records: counts.records,
            cards,
            visit_date: visit,
            pending,
        })
    }

    /// The run's directory (removed with the world).
    pub(crate) fn root(&self) -> &Path {
        self._root.path()
    }

    /// The server's data directory (`onshi server run --data`).
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data
    }

    /// Starts the server in process on a free loopback port, with the portal as `onshi server
    /// run` serves it.
    pub(crate) async fn start(&self) -> Result<RunningServer, VerifyError> {
        let portal =
            onshi_portal::extra_routes(&self.data, &self.config).map_err(VerifyError::Portal)?;
        onshi_server::run::start_with(&self.data, &self.config, portal)
            .await
            .map_err(VerifyError::Server)
    }

    /// `POST /api/v1/query` bodies for (up to 100 of) the persons with valid eligibility: each
    /// person's first valid record's numbers and birth date, on the visit date.
    pub(crate) fn query_bodies(&self) -> Result<Vec<Bytes>, VerifyError> {
        let visit = self.visit_date;
        let mut bodies = Vec::new();
        for person in self.valid.iter().take(100) {
            let answer = self.store.eligibility_for_person(person, visit)?;
            let Some(r) = answer.records.first() else {
                continue;
            };
            let request = onshi_proto::QueryRequest {
                insurer_number: r.insurer_number.to_string(),
                symbol: r.symbol.as_ref().map(|s| s.as_str().to_owned()),
                number: r.number.as_str().to_owned(),
                branch: Some(r.branch.to_string()),
                birthdate: r.birthdate,
                visit_date: self.visit_date,
            };
            bodies.push(Bytes::from(serde_json::to_vec(&request)?));
        }
        if bodies.is_empty() {
            return Err(VerifyError::Setup(
                "no record to query by numbers".to_owned(),
            ));
        }
        Ok(bodies)
    }

    /// The server CA's certificate, PEM: the terminals' only trust anchor.
    pub(crate) fn server_ca_pem(&self) -> Result<String, VerifyError> {
        Ok(std::fs::read_to_string(self.data.join("server-ca.pem"))?)
    }

    /// Enrolls every terminal with its one-time code and a P-256 CSR.
    pub(crate) async fn enroll(&self, addr: SocketAddr) -> Result<Vec<Terminal>, VerifyError> {
        let anonymous = client_config(&self.server_ca_pem()?, None, false)?;
        let mut terminals = Vec::with_capacity(self.pending.len());
        for t in &self.pending {
            terminals.push(enroll(addr, &anonymous, &t.terminal.id, &t.code).await?);
        }
        Ok(terminals)
    }
}

/// `onshi server init` in `data`, trusting the authority's CA, listening on a free loopback port,
/// on PostgreSQL when given (its onshi tables dropped first), with challenges that outlive the
/// preparation of the requests and no per-terminal rate limit (a handful of terminals stand in
/// for thousands of clinics).
fn server_config(
    data: &Path,
    jlis: &Path,
    postgres: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ServerConfig, VerifyError> {
    let mut config =
        onshi_server::run::init(data, &[jlis.join("ca.pem")], now).map_err(VerifyError::Server)?;
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.challenge_ttl_seconds = CHALLENGE_TTL_SECONDS;
    config.rate_limit_per_second = 0;
    // Every task connects, and every terminal enrolls, from 127.0.0.1.
    config.max_connections_per_address = 0;
    config.enroll_rate_limit_per_minute = 0;
    // One clinic stands in for many: its /query budget would cap the checks by numbers.
    config.clinic_query_rate_limit_per_minute = 0;
    if let Some(url) = postgres {
        crate::baseline::reset_postgres(url)?;
        config.database.url = Some(url.to_owned());
    }
    config
        .save(data)
        .map_err(|e| VerifyError::Setup(e.to_string()))?;
    Ok(config)
}

/// What [`seed`] stored.
struct Seeded {
    persons: u64,
    records: u64,
    /// The persons whose eligibility is valid (1) on the visit date.
    valid: Vec<onshi_model::Person>,
}

/// The persons among `P0000000001`…`P{count}` (the synthetic ids) whose eligibility is valid
/// on the visit date.
fn valid_persons(
    store: &dyn ServiceStore,
    count: u64,
    visit: Date,
) -> Result<Vec<onshi_model::Person>, VerifyError> {
    let mut valid = Vec::new();
    for i in 1..=count {
        let Ok(id) = PersonId::parse(&format!("P{i:010}")) else {
            continue;
        };
        if store.eligibility_for_person(&id, visit)?.validity == QualificationValidity::VALID {
            if let Some(person) = store.person(&id)? {
                valid.push(person);
            }
        }
    }
    Ok(valid)
}

/// Generates a synthetic feed as of the visit date and imports it.
fn seed(
    store: &dyn ServiceStore,
    feed: &Path,
    persons: u64,
    visit: Date,
) -> Result<Seeded, VerifyError> {
    let synth = onshi_synth::SynthOptions {
        persons,
        seed: 1,
        as_of: visit,
    };
    let summary = onshi_synth::generate(&synth, feed, &mut |_| {})?;
    let options = onshi_feed::ImportOptions::default();
    let persons_csv = feed.join(onshi_synth::PERSONS_FILE);
    let eligibility_csv = feed.join(onshi_synth::ELIGIBILITY_FILE);
    onshi_feed::import_persons(store, &persons_csv, &options, &|_, _| {})?;
    onshi_feed::import_eligibility(store, &eligibility_csv, &options, &|_, _| {})?;
    let valid = valid_persons(store, summary.persons, visit)?;
    if valid.is_empty() {
        return Err(VerifyError::Setup(
            "no synthetic person has valid eligibility on the visit date".to_owned(),
        ));
    }
    Ok(Seeded {
        persons: summary.persons,
        records: summary.records,
        valid,
    })
}

/// Issues `count` cards to the valid persons in turn, on every core (RSA key generation is slow).
fn issue_cards(
    authority: &onshi_jlis::Authority,
    out: &Path,
    persons: &[onshi_model::Person],
    count: usize,
    now: DateTime<Utc>,
) -> Result<Vec<Card>, VerifyError> {
    let threads = super::cores().min(count).max(1);
    let mut cards: Vec<(usize, Card)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            Ok((
                                i,
                                issue_card(authority, out, &persons[i % persons.len()], i, now)?,
                            ))
                        })
                        .collect::<Result<Vec<_>, VerifyError>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for w in workers {
            let issued = w
                .join()
                .map_err(|_| VerifyError::Setup("a card-issuing thread panicked".to_owned()))??;
            all.extend(issued);
        }
        Ok::<_, VerifyError>(all)
    })?;
    cards.sort_by_key(|(i, _)| *i);
    Ok(cards.into_iter().map(|(_, c)| c).collect())
}

fn issue_card(
    authority: &onshi_jlis::Authority,
    out: &Path,
    person: &onshi_model::Person,
    i: usize,
    now: DateTime<Utc>,
) -> Result<Card, VerifyError> {
    let pin =
        onshi_card::Pin::parse(CARD_PIN).map_err(|e| VerifyError::Setup(format!("PIN: {e}")))?;
    let issued = authority.issue_card(
        &onshi_jlis::IssueRequest {
            person_id: person.id.as_str().to_owned(),
            pin,
            // The card says who holds it: the person (the wrong-link guard checks it at import).
            attributes: onshi_card::Attributes {
                name: person.name.as_str().to_owned(),
                address: "東京都千代田区".into(),
                birth: person.birthdate.format("%Y%m%d").to_string(),
                sex: person.sex.as_str().to_owned(),
            },
            attributes_pin: None,
            record_holder: true,
            not_before: None,
            not_after: None,
            out: out.join(format!("card-{i:04}.json")),
        },
        now,
    )?;
    Ok(Card {
        path: issued.path,
        certificate_b64: base64::engine::general_purpose::STANDARD.encode(&issued.certificate_der),
        certificate_der: issued.certificate_der,
    })
}

/// `onshi import card-links`: every card issued, registered for health-insurance use.
fn link_cards(store: &dyn ServiceStore, issued_csv: &Path) -> Result<(), VerifyError> {
    match onshi_server::admin::import_card_links(store, issued_csv, false) {
        Ok(Ok(import)) if import.held == 0 => Ok(()),
        Ok(Ok(import)) => Err(VerifyError::Setup(format!(
            "{} card links held by the wrong-link guard: {:?}",
            import.held,
            import.report.first()
        ))),
        Ok(Err(errors)) => Err(VerifyError::Setup(format!(
            "card links refused: {:?}",
            errors.first()
        ))),
        Err(e) => Err(VerifyError::Server(e)),
    }
}

/// One clinic with `count` terminals, each with its one-time enrollment code.
fn add_terminals(
    store: &dyn ServiceStore,
    count: usize,
    now: DateTime<Utc>,
) -> Result<Vec<NewTerminal>, VerifyError> {
    let clinic = onshi_server::admin::add_clinic(store, "負荷試験接骨院", "契0123456-1-23", now)
        .map_err(VerifyError::Server)?;
    (0..count)
        .map(|_| {
            // No cap: the bench's few terminals stand in for many clinics.
            onshi_server::admin::add_terminal(store, clinic.id, 0, now)
                .map_err(|e| VerifyError::Setup(e.to_string()))
        })
        .collect()
}

/// Enrolls one terminal: a fresh P-256 key, its CSR and the code, over server-authenticated TLS.
async fn enroll(
    addr: SocketAddr,
    anonymous: &std::sync::Arc<onshi_client::ServiceClient>,
    account: &str,
    code: &str,
) -> Result<Terminal, VerifyError> {
    let setup = |e: rcgen::Error| VerifyError::Setup(format!("terminal key: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(setup)?;
    let csr_pem = rcgen::CertificateParams::new(Vec::<String>::new())
        .and_then(|p| p.serialize_request(&key))
        .and_then(|csr| csr.pem())
        .map_err(setup)?;
    let request = onshi_proto::EnrollRequest {
        account: account.to_owned(),
        code: code.to_owned(),
        csr_pem,
    };
    let mut conn = Connection::open(addr, anonymous).await?;
    let (status, body) = conn
        .post_patiently(
            onshi_proto::ENROLL,
            Bytes::from(serde_json::to_vec(&request)?),
        )
        .await?;
    if status != 200 {
        return Err(VerifyError::refused("enrollment", status, &body));
    }
    let enrolled: onshi_proto::EnrollResponse = serde_json::from_slice(&body)?;
    Ok(Terminal {
        id: account.to_owned(),
        identity: Identity {
            certificate_pem: enrolled.certificate_pem,
            key_pem: zeroize::Zeroizing::new(key.serialize_pem()),
        },
    })
}
