//! Why a test world could not be built.

/// Why a step of the world failed.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The service's set-up (init, CRL, card links, clinic, terminals, start) refused.
    #[error("setup: {0}")]
    Setup(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] onshi_store::StoreError),
    /// Generating the synthetic feed failed.
    #[error("generate: {0}")]
    Synth(#[from] onshi_synth::SynthError),
    /// Importing the feed failed.
    #[error("import: {0}")]
    Feed(#[from] onshi_feed::FeedError),
    /// The card authority's files or certificates failed.
    #[error("card authority: {0}")]
    Pki(#[from] onshi_pki::PkiError),
    /// The test card authority could not issue a card.
    #[error("test authority: {0}")]
    Jlis(#[from] onshi_jlis::JlisError),
    /// A software card file could not be used.
    #[error("software card: {0}")]
    Emu(#[from] onshi_card_emu::EmuError),
    /// A card refused a command.
    #[error("card: {0}")]
    Card(#[from] onshi_card::CardError),
    /// The service's client failed.
    #[error("client: {0}")]
    Client(#[from] onshi_client::ClientError),
    /// PostgreSQL (a test database) failed.
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    /// A file could not be used.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl KitError {
    /// A set-up step's error, as text (the service's admin functions).
    pub(crate) fn setup(e: impl std::fmt::Display) -> Self {
        Self::Setup(e.to_string())
    }
}
