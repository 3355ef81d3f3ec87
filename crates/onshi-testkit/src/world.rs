//! A test world in a temporary directory: the test authority with its cards, the service's data
//! directory with persons and records, optionally the running service, and terminals.
#![allow(clippy::expect_used)] // test set-up: a failure is the test's failure

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};

use chrono::Utc;
use onshi_server::admin::NewTerminal;
use onshi_server::config::ServerConfig;
use onshi_server::run::RunningServer;
use serde_json::Value;

use crate::{sync, Cards, Https, KitError, Service, Terminal};

/// Who is in the world's store.
#[derive(Clone, Copy, Debug)]
enum Persons {
    /// The fixed persons of [`crate::people`].
    Fixed,
    /// A synthetic feed of this many persons (seed 1, as of today), imported.
    Synthetic(u64),
}

/// How a [`World`] is built: the engine, the persons, the terminals, the configuration, with or
/// without the service running.
#[must_use]
pub struct WorldBuilder<'a> {
    database: Option<String>,
    persons: Persons,
    terminals: usize,
    tweak: Box<dyn FnOnce(&mut ServerConfig) + 'a>,
}

impl<'a> WorldBuilder<'a> {
    /// On PostgreSQL at `url` (SQLite in the data directory when `None`).
    pub fn database(mut self, url: Option<String>) -> Self {
        self.database = url;
        self
    }

    /// A synthetic feed of `persons` persons instead of the fixed ones.
    pub fn synthetic(mut self, persons: u64) -> Self {
        self.persons = Persons::Synthetic(persons);
        self
    }

    /// `count` terminals of one clinic (テスト接骨院): pending in [`World::pending`], enrolled in
    /// [`World::terminals`] when the service runs.
    pub fn terminals(mut self, count: usize) -> Self {
        self.terminals = count;
        self
    }

    /// Changes the service's configuration before it is saved.
    pub fn config(mut self, tweak: impl FnOnce(&mut ServerConfig) + 'a) -> Self {
        self.tweak = Box::new(tweak);
        self
    }

    /// Builds the world without starting the service.
    pub fn try_build(self) -> Result<World, KitError> {
        let root = tempfile::tempdir()?;
        let cards = Cards::new(root.path());
        let data = root.path().join(crate::SERVER_DIR);
        let now = Utc::now();
        let tweak = self.tweak;
        let service = Service::create(&data, &cards.authority, self.database, now, |c| {
            c.crl_poll_seconds = 1;
            tweak(c);
        })?;
        match self.persons {
            Persons::Fixed => service.seed_fixed()?,
            Persons::Synthetic(n) => {
                service.seed_synthetic(&root.path().join("feed"), n, 1, now.date_naive())?;
            }
        }
        let pending = if self.terminals > 0 {
            let max = service
                .config
                .max_terminals_per_clinic
                .max(self.terminals as u32);
            service.add_terminals("テスト接骨院", self.terminals, max, now)?
        } else {
            Vec::new()
        };
        Ok(World {
            root,
            cards,
            service,
            server: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pending,
            terminals: Vec::new(),
        })
    }

    /// Builds the world without starting the service (from async code, call it in [`sync`]).
    pub fn build(self) -> World {
        self.try_build().expect("the test world")
    }

    /// Builds the world, starts the service and enrolls the terminals.
    pub async fn start(self) -> World {
        let mut world = sync(|| self.build());
        world.restart().await;
        for t in std::mem::take(&mut world.pending) {
            let terminal = world
                .enroll(&t.terminal.id, &t.code)
                .await
                .expect("the terminal enrolled");
            world.terminals.push(terminal);
        }
        world
    }
}

/// A test world. Its service's data directory, configuration and store are [`Service`]'s
/// (`world.data`, `world.config`, `world.store`).
pub struct World {
    /// Holds every file of the world; removed on drop.
    pub root: tempfile::TempDir,
    /// The test card authority and its cards.
    pub cards: Cards,
    /// The service's data directory, configuration and set-up store.
    pub service: Service,
    /// The running service, if it runs.
    pub server: Option<RunningServer>,
    /// Where it listens (after it first started).
    pub addr: SocketAddr,
    /// Terminals added at build, not enrolled yet.
    pub pending: Vec<NewTerminal>,
    /// Terminals enrolled at start.
    pub terminals: Vec<Terminal>,
}

impl Deref for World {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.service
    }
}

impl DerefMut for World {
    fn deref_mut(&mut self) -> &mut Service {
        &mut self.service
    }
}

impl World {
    /// A world of the fixed persons, without terminals.
    pub fn builder<'a>() -> WorldBuilder<'a> {
        WorldBuilder {
            database: None,
            persons: Persons::Fixed,
            terminals: 0,
            tweak: Box::new(|_| {}),
        }
    }

    /// The fixed persons on `database` (or SQLite), the configuration changed by `tweak`, the
    /// service running (its CRL poll every second).
    pub async fn start(database: Option<String>, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::builder()
            .database(database)
            .config(tweak)
            .start()
            .await
    }

    /// Starts the service (again, after [`World::stop`], on the same data directory and address).
    pub async fn restart(&mut self) {
        let mut config = ServerConfig::load(&self.service.data).expect("config.toml");
        if self.addr.port() != 0 {
            config.listen = self.addr;
        }
        let server = onshi_server::run::start(&self.service.data, &config)
            .await
            .expect("the service started");
        if self.addr.port() != 0 {
            assert_eq!(server.addr, self.addr);
        }
        self.addr = server.addr;
        self.server = Some(server);
    }

    /// Stops the service.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    /// The service's URL.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// Loads a CRL as `onshi admin crl load` does (verified against the trusted CAs); the
    /// refusal's message, as the operator reads it.
    pub fn load_crl(&self, crl: &[u8]) -> Result<onshi_pki::CrlInfo, String> {
        sync(|| self.service.load_crl(crl, Utc::now())).map_err(|e| match e {
            KitError::Setup(message) => message,
            e => e.to_string(),
        })
    }

    /// Waits until the service's CRL poll (1 s in the test world) has seen the store.
    pub async fn wait_for_poll(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    }

    /// Links every card issued so far (issued.csv) to its person; every card of the world is
    /// its person's, so the guard holds none.
    pub fn link_cards(&self, unregistered: bool) {
        let import = sync(|| {
            self.service
                .link_cards(&self.cards.dir.join("issued.csv"), unregistered)
                .expect("card links")
        });
        assert!(import.links > 0);
        assert_eq!(import.held, 0, "{:?}", import.report);
    }

    /// A new clinic (テスト接骨院) with a pending terminal: (account, enrollment code).
    pub fn add_terminal(&self) -> (String, String) {
        let mut t = sync(|| {
            self.service.add_terminals(
                "テスト接骨院",
                1,
                self.service.config.max_terminals_per_clinic,
                Utc::now(),
            )
        })
        .expect("a clinic and its terminal");
        let t = t.pop().expect("one terminal");
        (t.terminal.id.to_string(), t.code)
    }

    /// A new clinic with an enrolled terminal.
    pub async fn terminal(&self) -> Terminal {
        let (account, code) = self.add_terminal();
        self.enroll(&account, &code).await.expect("enrolled")
    }

    /// Enrolls an account with a code: the terminal, or the error answer.
    pub async fn enroll(&self, account: &str, code: &str) -> Result<Terminal, (u16, Value)> {
        let (key, csr_pem) = crate::service::terminal_key().expect("a terminal key");
        let anonymous = Https::new(self, None);
        let req = onshi_proto::EnrollRequest {
            account: account.to_owned(),
            code: code.to_owned(),
            csr_pem,
        };
        let (status, body) = anonymous
            .post(
                onshi_proto::ENROLL,
                &serde_json::to_value(req).expect("JSON"),
            )
            .await;
        if status != 200 {
            return Err((status, body));
        }
        let cert = body["certificate_pem"]
            .as_str()
            .expect("a certificate")
            .to_owned();
        Ok(Terminal {
            id: account.to_owned(),
            https: Https::new(self, Some((cert, key.to_string()))),
        })
    }

    /// The audit chains, verified under the data directory's audit key.
    pub fn audit_verify(&self) -> onshi_store::AuditVerification {
        let data = &self.service.data;
        let key = onshi_server::audit_key::read(&onshi_server::audit_key::default_path(data))
            .expect("the audit key");
        sync(|| {
            self.service
                .store
                .audit_verify(&key, &[])
                .expect("the audit log")
                .expect("a verification")
        })
    }

    /// The server CA's certificate, PEM.
    pub fn server_ca(&self) -> String {
        self.service.server_ca_pem().expect("server-ca.pem")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Without the service: the fixed persons are in the store, the authority's first CRL too,
    /// and the pending terminals have their codes.
    #[test]
    fn a_built_world_holds_the_fixed_persons_its_crl_and_pending_terminals() {
        let world = World::builder().terminals(2).build();
        assert!(world.server.is_none());
        let counts = world.store.counts().unwrap();
        assert_eq!((counts.persons, counts.records), (4, 4));
        assert_eq!(world.store.crls().unwrap().len(), 1);
        assert_eq!(world.pending.len(), 2);
        assert!(world.pending.iter().all(|t| t.code.len() == 14));
        assert_eq!(world.config.crl_poll_seconds, 1);
    }

    /// With the service: a synthetic feed, enrolled terminals, and a linked card of a person
    /// with valid eligibility answered 有効 (1) over mutual TLS.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_started_synthetic_world_answers_a_check_of_a_valid_person() {
        let world = World::builder().synthetic(30).terminals(1).start().await;
        assert_eq!(world.terminals.len(), 1);
        let today = Utc::now().date_naive();
        let valid = sync(|| world.valid_persons(30, today)).unwrap();
        let person = valid.first().unwrap();
        let card = crate::cards::issue(
            &world.cards.authority,
            person.id.as_str(),
            crate::cards::attributes_of(person),
            None,
            world.cards.dir.join("valid.card.json"),
            Utc::now(),
        )
        .unwrap();
        world.link_cards(false);
        let visit = today.format("%Y%m%d").to_string();
        let (status, body) = world.terminals[0]
            .check(&card.path, onshi_proto::Mode::Pin, &visit)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["QualificationValidity"], "1", "{body}");
    }
}
