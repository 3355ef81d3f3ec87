//! What can go wrong in the test authority: a PKI error (files, certificates, records) or a
//! software card that cannot be made.

use std::path::PathBuf;

use onshi_pki::PkiError;

/// An error of the test authority.
#[derive(Debug, thiserror::Error)]
pub enum JlisError {
    /// The authority's files, certificates or records.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The software card could not be built or saved.
    #[error("{path}: カードファイルを作成できません / cannot make the card file: {source}")]
    Card {
        /// The card file.
        path: PathBuf,
        /// The cause.
        source: onshi_card_emu::EmuError,
    },
}
