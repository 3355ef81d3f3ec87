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
use chrono::{Duration, Utc};
use hyper::body::Bytes;
use onshi_server::admin::NewTerminal;
use onshi_server::config::ServerConfig;
use onshi_server::run::RunningServer;
use onshi_testkit::Service;

use super::https::{client_config, Connection, Identity};
use super::{VerifyError, VerifyOptions, CHALLENGE_TTL_SECONDS};

/// The PIN of every software card of the run.
pub(crate) const CARD_PIN: &str = onshi_testkit::CARD_PIN;

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
    /// The data directory, its configuration and the setup's own store handle (the server opens
    /// another).
    service: Service,
    /// The persons whose eligibility is valid on the visit date.
    valid: Vec<onshi_model::PersonId>,
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
        let jlis = root.path().join(onshi_testkit::JLIS_DIR);
        let authority = onshi_testkit::authority(&jlis, now - Duration::days(1))?;
        let data = root.path().join(onshi_testkit::SERVER_DIR);
        if let Some(url) = &opts.postgres {
            crate::baseline::reset_postgres(url)?;
        }
        let blocking_store = opts.blocking_store;
        let service = Service::create(&data, &authority, opts.postgres.clone(), now, |c| {
            tune(c);
            c.database.async_checks = !blocking_store;
        })?;

        stage(&format!(
            "setting up: {} synthetic persons on {}",
            opts.persons,
            service.store.engine()
        ));
        let feed = root.path().join("feed");
        let seeded = service.seed_synthetic(&feed, opts.persons, 1, visit)?;
        let valid = service.valid_persons(seeded.persons, visit)?;
        if valid.is_empty() {
            return Err(VerifyError::Setup(
                "no synthetic person has valid eligibility on the visit date".to_owned(),
            ));
        }

        stage(&format!(
            "setting up: issuing {} software cards (RSA-2048 keys)",
            opts.cards
        ));
        let cards = issue_cards(&authority, authority.dir(), &valid, opts.cards, now)?;
        link_cards(&service, &jlis.join("issued.csv"))?;
        // No cap: the bench's few terminals stand in for many clinics.
        let pending = service.add_terminals("負荷試験接骨院", opts.terminals, 0, now)?;

        Ok(Self {
            engine: service.store.engine(),
            _root: root,
            service,
            valid: valid.into_iter().map(|p| p.id).collect(),
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
        let service = Service {
            data,
            config,
            store,
        };
        let authority = onshi_jlis::Authority::open(&target.jlis)?;
        stage(&format!(
            "looking for persons with valid eligibility among the first {} ids on {}",
            opts.persons,
            service.store.engine()
        ));
        let mut valid = service.valid_persons(opts.persons, visit)?;
        if valid.is_empty() {
            stage(&format!(
                "none: importing {} synthetic persons",
                opts.persons
            ));
            let seeded =
                service.seed_synthetic(&root.path().join("feed"), opts.persons, 1, visit)?;
            valid = service.valid_persons(seeded.persons, visit)?;
        }
        let counts = service.store.counts()?;
        stage(&format!(
            "issuing {} software cards from {}",
            opts.cards,
            target.jlis.display()
        ));
        let cards_dir = root.path().join("cards");
        std::fs::create_dir_all(&cards_dir)?;
        let cards = issue_cards(&authority, &cards_dir, &valid, opts.cards, now)?;
        link_cards(&service, &target.jlis.join("issued.csv"))?;
        service.load_crl(&authority.crl(now, Duration::days(7))?, now)?;
        // The instances see the new CRL at their next poll; until then they may refuse the
        // authority's cards (E011) if they had none.
        let poll = service.config.crl_poll_seconds + 1;
        stage(&format!(
            "waiting {poll} s for the instances to poll the new CRL (crl_poll_seconds)"
        ));
        std::thread::sleep(std::time::Duration::from_secs(poll));
        let pending = service.add_terminals("負荷試験接骨院", opts.terminals, 0, now)?;
        Ok(Self {
            engine: service.store.engine(),
            _root: root,
            service,
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
        &self.service.data
    }

    /// Starts the server in process on a free loopback port, with the portal as `onshi server
    /// run` serves it.
    pub(crate) async fn start(&self) -> Result<RunningServer, VerifyError> {
        let portal = onshi_portal::extra_routes(&self.service.data, &self.service.config)
            .map_err(VerifyError::Portal)?;
        Ok(self.service.start(portal).await?)
    }

    /// `POST /api/v1/query` bodies for (up to 100 of) the persons with valid eligibility: each
    /// person's first valid record's numbers and birth date, on the visit date.
    pub(crate) fn query_bodies(&self) -> Result<Vec<Bytes>, VerifyError> {
        let visit = self.visit_date;
        let mut bodies = Vec::new();
        for person in self.valid.iter().take(100) {
            let answer = self.service.store.eligibility_for_person(person, visit)?;
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
        Ok(self.service.server_ca_pem()?)
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

/// The run's service configuration: challenges that outlive the preparation of the requests and
/// no per-terminal rate limit (a handful of terminals stand in for thousands of clinics).
fn tune(config: &mut ServerConfig) {
    config.challenge_ttl_seconds = CHALLENGE_TTL_SECONDS;
    config.rate_limit_per_second = 0;
    // Every task connects, and every terminal enrolls, from 127.0.0.1.
    config.max_connections_per_address = 0;
    config.enroll_rate_limit_per_minute = 0;
    // One clinic stands in for many: its /query budget would cap the checks by numbers.
    config.clinic_query_rate_limit_per_minute = 0;
}

/// Issues `count` cards to the valid persons in turn (on every core), each as a request carries it.
fn issue_cards(
    authority: &onshi_jlis::Authority,
    out: &Path,
    persons: &[onshi_model::Person],
    count: usize,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Card>, VerifyError> {
    let issued = onshi_testkit::cards::issue_many(authority, out, persons, count, now)?;
    Ok(issued
        .into_iter()
        .map(|c| Card {
            path: c.path,
            certificate_b64: base64::engine::general_purpose::STANDARD.encode(&c.certificate_der),
            certificate_der: c.certificate_der,
        })
        .collect())
}

/// `onshi import card-links`: every card issued, registered for health-insurance use; none may be
/// held by the wrong-link guard.
fn link_cards(service: &Service, issued_csv: &Path) -> Result<(), VerifyError> {
    let import = service.link_cards(issued_csv, false)?;
    if import.held == 0 {
        Ok(())
    } else {
        Err(VerifyError::Setup(format!(
            "{} card links held by the wrong-link guard: {:?}",
            import.held,
            import.report.first()
        )))
    }
}

/// Enrolls one terminal: a fresh P-256 key, its CSR and the code, over server-authenticated TLS.
async fn enroll(
    addr: SocketAddr,
    anonymous: &std::sync::Arc<onshi_client::ServiceClient>,
    account: &str,
    code: &str,
) -> Result<Terminal, VerifyError> {
    let (key_pem, csr_pem) = onshi_testkit::service::terminal_key()?;
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
            key_pem,
        },
    })
}
