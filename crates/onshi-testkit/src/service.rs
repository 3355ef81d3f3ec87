//! The service's side of a world: `onshi server init` trusting the test authority, the store with
//! persons (fixed or a synthetic feed imported), its first CRL, card links, a clinic with
//! terminals, and the service started on loopback.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use onshi_jlis::Authority;
use onshi_model::{Date, Person, PersonId, QualificationValidity};
use onshi_server::admin::{LinkImport, NewTerminal};
use onshi_server::config::ServerConfig;
use onshi_server::run::{ExtraRoutes, RunningServer};
use onshi_store::ServiceStore;

use crate::KitError;

/// The service's data directory, its configuration and a store handle of the set-up's own (the
/// running service opens another).
pub struct Service {
    /// The data directory (`onshi server run --data`).
    pub data: PathBuf,
    /// Its `config.toml`, as saved.
    pub config: ServerConfig,
    /// The set-up's store handle.
    pub store: Box<dyn ServiceStore>,
}

/// What [`Service::seed_synthetic`] stored.
#[derive(Clone, Debug)]
pub struct Seeded {
    /// Persons generated and imported.
    pub persons: u64,
    /// Eligibility records generated and imported.
    pub records: u64,
    /// The feed's folder (`persons.csv`, `eligibility.csv`).
    pub feed: PathBuf,
}

impl Service {
    /// `onshi server init` in `data` trusting `authority`'s CA, listening on a free loopback
    /// port, on `database` (a PostgreSQL URL) or SQLite in `data`; `tweak` changes the
    /// configuration before it is saved. The store gets the authority's first CRL (without a
    /// current one its cards are refused, E011).
    pub fn create(
        data: &Path,
        authority: &Authority,
        database: Option<String>,
        now: DateTime<Utc>,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Result<Self, KitError> {
        let ca = authority.dir().join("ca.pem");
        let mut config = onshi_server::run::init(data, &[ca], now).map_err(KitError::setup)?;
        config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.database.url = database;
        tweak(&mut config);
        config.save(data).map_err(KitError::setup)?;
        let store = onshi_store::open_service(&config.database_url(data))?;
        let service = Self {
            data: data.to_path_buf(),
            config,
            store,
        };
        service.load_crl(&authority.crl(now, Duration::days(7))?, now)?;
        Ok(service)
    }

    /// Loads a CRL as `onshi admin crl load` does (verified against the trusted CAs).
    pub fn load_crl(&self, crl: &[u8], now: DateTime<Utc>) -> Result<onshi_pki::CrlInfo, KitError> {
        let trusted =
            onshi_server::admin::trusted_jpki(&self.data, &self.config).map_err(KitError::setup)?;
        onshi_server::admin::load_crl(self.store.as_ref(), &trusted, crl, now)
            .map_err(KitError::setup)
    }

    /// Stores the tests' fixed persons and records ([`crate::people`]).
    pub fn seed_fixed(&self) -> Result<(), KitError> {
        crate::people::seed(self.store.as_ref())
    }

    /// Generates a synthetic feed of `persons` (seed `seed`, as of `as_of`) into `feed` and
    /// imports it.
    pub fn seed_synthetic(
        &self,
        feed: &Path,
        persons: u64,
        seed: u64,
        as_of: Date,
    ) -> Result<Seeded, KitError> {
        let synth = onshi_synth::SynthOptions {
            persons,
            seed,
            as_of,
        };
        let summary = onshi_synth::generate(&synth, feed, &mut |_| {})?;
        let options = onshi_feed::ImportOptions::default();
        let store = self.store.as_ref();
        onshi_feed::import_persons(
            store,
            &feed.join(onshi_synth::PERSONS_FILE),
            &options,
            &|_, _| {},
        )?;
        onshi_feed::import_eligibility(
            store,
            &feed.join(onshi_synth::ELIGIBILITY_FILE),
            &options,
            &|_, _| {},
        )?;
        Ok(Seeded {
            persons: summary.persons,
            records: summary.records,
            feed: feed.to_path_buf(),
        })
    }

    /// The persons among `P0000000001`…`P{count}` (the synthetic ids) whose eligibility is
    /// valid on `visit`.
    pub fn valid_persons(&self, count: u64, visit: Date) -> Result<Vec<Person>, KitError> {
        let mut valid = Vec::new();
        for i in 1..=count {
            let Ok(id) = PersonId::parse(&format!("P{i:010}")) else {
                continue;
            };
            let answer = self.store.eligibility_for_person(&id, visit)?;
            if answer.validity == QualificationValidity::VALID {
                if let Some(person) = self.store.person(&id)? {
                    valid.push(person);
                }
            }
        }
        Ok(valid)
    }

    /// A person of the store, by id.
    pub fn person(&self, id: &str) -> Result<Person, KitError> {
        PersonId::parse(id)
            .ok()
            .map(|id| self.store.person(&id))
            .transpose()?
            .flatten()
            .ok_or_else(|| KitError::Setup(format!("{id}: not in the store")))
    }

    /// `onshi import card-links`: the authority's `issued.csv` (every card issued so far),
    /// registered for health-insurance use unless `unregistered`.
    pub fn link_cards(
        &self,
        issued_csv: &Path,
        unregistered: bool,
    ) -> Result<LinkImport, KitError> {
        onshi_server::admin::import_card_links(self.store.as_ref(), issued_csv, unregistered)
            .map_err(KitError::setup)?
            .map_err(|errors| KitError::Setup(format!("card links refused: {:?}", errors.first())))
    }

    /// A clinic (`name`) with `count` pending terminals, each with its one-time enrollment code;
    /// `max_per_clinic` caps them (0: no cap).
    pub fn add_terminals(
        &self,
        clinic: &str,
        count: usize,
        max_per_clinic: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<NewTerminal>, KitError> {
        let store = self.store.as_ref();
        let clinic = onshi_server::admin::add_clinic(store, clinic, "契0123456-1-23", now)
            .map_err(KitError::setup)?;
        (0..count)
            .map(|_| {
                onshi_server::admin::add_terminal(store, clinic.id, max_per_clinic, now)
                    .map_err(KitError::setup)
            })
            .collect()
    }

    /// Starts the service in process (with `extra` routes, the portal, when given).
    pub async fn start(&self, extra: Option<ExtraRoutes>) -> Result<RunningServer, KitError> {
        onshi_server::run::start_with(&self.data, &self.config, extra)
            .await
            .map_err(KitError::setup)
    }

    /// The server CA's certificate file: the terminals' only trust anchor.
    pub fn server_ca_path(&self) -> PathBuf {
        self.data.join("server-ca.pem")
    }

    /// The server CA's certificate, PEM.
    pub fn server_ca_pem(&self) -> Result<String, KitError> {
        Ok(std::fs::read_to_string(self.server_ca_path())?)
    }
}

/// A terminal's new key and its certificate request, as the reception app makes them at
/// enrollment: (the key, PEM; the CSR, PEM).
pub fn terminal_key() -> Result<(zeroize::Zeroizing<String>, String), KitError> {
    let setup = |e: rcgen::Error| KitError::Setup(format!("terminal key: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(setup)?;
    let csr_pem = rcgen::CertificateParams::new(Vec::<String>::new())
        .and_then(|p| p.serialize_request(&key))
        .and_then(|csr| csr.pem())
        .map_err(setup)?;
    Ok((zeroize::Zeroizing::new(key.serialize_pem()), csr_pem))
}
