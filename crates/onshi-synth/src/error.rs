//! What can go wrong while generating: the output files, and (in principle) a built-in insurer
//! number that onshi-model refuses.

use std::path::PathBuf;

/// Why [`generate`](crate::generate) failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Creating, writing, syncing or renaming a file or directory failed.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a CSV row failed (an I/O error underneath).
    #[error("cannot write CSV to {}", path.display())]
    Csv {
        /// The file being written.
        path: PathBuf,
        /// The CSV writer's error.
        #[source]
        source: csv::Error,
    },
    /// A 保険者番号 built into the generator was refused by onshi-model: a bug here, not in the
    /// caller's input.
    #[error("built-in insurer number {body}+check digit is not valid")]
    Insurer {
        /// The digits before the check digit.
        body: String,
        /// Why onshi-model refused it.
        #[source]
        source: onshi_model::ModelError,
    },
    /// The card-links feed could not be made (a bad share, an unreadable persons.csv).
    #[error("{0}")]
    Invalid(String),
}
