//! Running an import: decode, check rows on one thread while the store writes on another, then
//! commit or roll back the whole file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use onshi_model::{EligibilityRecord, Person};
use onshi_store::{ImportTx, Store};

use crate::rows::{check_file_with_progress, FileProblem, Item, Kind};
use crate::{decode, write_report, Encoding, FeedError, RowError};

/// How many row errors an [`FeedError::Invalid`] carries (the report holds them all).
pub const MAX_KEPT_ERRORS: usize = 100;

/// Rows handed to the store at a time.
const BATCH: usize = 4096;

/// Options of an import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The file's encoding.
    pub encoding: Encoding,
    /// Store the valid rows even when some are invalid.
    pub skip_invalid: bool,
    /// Where to write the report of rejected rows (default: `<file>.rejected.csv` beside it).
    pub report: Option<PathBuf>,
}

/// Progress of an import: called with (bytes checked, bytes in the file).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportSummary {
    /// Data rows read.
    pub rows: u64,
    /// Rows stored new or changed.
    pub stored: u64,
    /// Valid rows identical to what was stored.
    pub unchanged: u64,
    /// Invalid rows (not stored).
    pub rejected: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The report of rejected rows, when there were any.
    pub report: Option<PathBuf>,
}

/// Imports a persons file (`PersonId,Name,NameKana,Birthdate,Sex1,Address`).
pub fn import_persons(
    store: &dyn Store,
    path: &Path,
    options: &ImportOptions,
    progress: Progress<'_>,
) -> Result<ImportSummary, FeedError> {
    run(store, path, Kind::Persons, options, progress)
}

/// Imports an eligibility file (columns named as the result format's elements); every record
/// must name a person already stored.
pub fn import_eligibility(
    store: &dyn Store,
    path: &Path,
    options: &ImportOptions,
    progress: Progress<'_>,
) -> Result<ImportSummary, FeedError> {
    run(store, path, Kind::Eligibility, options, progress)
}

enum Batch {
    Persons(Vec<Person>),
    Records(Vec<EligibilityRecord>),
}

impl Batch {
    fn empty(kind: Kind) -> Self {
        match kind {
            Kind::Persons => Self::Persons(Vec::with_capacity(BATCH)),
            Kind::Eligibility => Self::Records(Vec::with_capacity(BATCH)),
        }
    }

    fn push(&mut self, item: Item) {
        match (self, item) {
            (Self::Persons(v), Item::Person(p)) => v.push(p),
            (Self::Records(v), Item::Record(r)) => v.push(*r),
            // A checker of one kind yields items of that kind only.
            _ => {}
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Persons(v) => v.len(),
            Self::Records(v) => v.len(),
        }
    }

    fn write(&self, tx: &mut dyn ImportTx) -> Result<(), onshi_store::StoreError> {
        match self {
            Self::Persons(v) => tx.put_persons(v),
            Self::Records(v) => tx.put_records(v),
        }
    }
}

fn default_report(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".rejected.csv");
    path.with_file_name(name)
}

fn run(
    store: &dyn Store,
    path: &Path,
    kind: Kind,
    options: &ImportOptions,
    progress: Progress<'_>,
) -> Result<ImportSummary, FeedError> {
    let started = Instant::now();
    let bytes = std::fs::read(path).map_err(|e| FeedError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let text = decode(&bytes, options.encoding).map_err(|reason| FeedError::Encoding {
        path: path.to_path_buf(),
        reason,
    })?;
    let known = match kind {
        Kind::Eligibility => store.person_ids()?,
        Kind::Persons => HashSet::new(),
    };
    let total = text.len() as u64;
    let mut tx = store.begin_import()?;
    let (sender, receiver) = sync_channel::<Batch>(8);
    // Written batches go back to the checker to be freed there: freeing thousands of records is
    // real work, and the writer is the busier thread.
    let (recycle, recycled) = sync_channel::<Batch>(64);

    // The checker parses and validates; this thread writes. On two cores the two overlap.
    let (checked, write_result) = std::thread::scope(|scope| {
        let text = &text;
        let known = &known;
        let checker = scope.spawn(move || {
            let mut errors: Vec<RowError> = Vec::new();
            let mut batch = Batch::empty(kind);
            let stats = check_file_with_progress(
                text,
                kind,
                known,
                &mut |item| {
                    batch.push(item);
                    if batch.len() >= BATCH {
                        while let Ok(done) = recycled.try_recv() {
                            drop(done);
                        }
                        // A send fails only when the writer stopped on an error; checking goes
                        // on so that the error report is still complete.
                        let _ = sender.send(std::mem::replace(&mut batch, Batch::empty(kind)));
                    }
                },
                &mut |e| errors.push(e),
                &mut |done| progress(done, total),
            );
            if batch.len() > 0 {
                let _ = sender.send(batch);
            }
            stats.map(|s| (s, errors))
        });
        let mut write_result = Ok(());
        for batch in receiver {
            if write_result.is_ok() {
                write_result = batch.write(tx.as_mut());
            }
            // When the checker is done it no longer frees; then drop here.
            let _ = recycle.try_send(batch);
        }
        let checked = checker.join();
        (checked, write_result)
    });

    let (stats, errors) = match checked {
        Ok(Ok(found)) => found,
        Ok(Err(FileProblem::Header(message))) => {
            return Err(FeedError::Header {
                path: path.to_path_buf(),
                message,
            })
        }
        Ok(Err(FileProblem::Csv { line, message })) => {
            return Err(FeedError::Csv {
                path: path.to_path_buf(),
                line,
                message,
            })
        }
        Err(panic) => std::panic::resume_unwind(panic),
    };
    write_result?;

    let report = if errors.is_empty() {
        None
    } else {
        let report = options
            .report
            .clone()
            .unwrap_or_else(|| default_report(path));
        write_report(&report, &errors)?;
        Some(report)
    };
    if stats.rejected > 0 && !options.skip_invalid {
        drop(tx);
        let mut errors = errors;
        errors.truncate(MAX_KEPT_ERRORS);
        return Err(FeedError::Invalid {
            path: path.to_path_buf(),
            rows: stats.rejected,
            errors,
            report,
        });
    }
    let counts = tx.commit()?;
    Ok(ImportSummary {
        rows: stats.rows,
        stored: counts.changed,
        unchanged: counts.unchanged,
        rejected: stats.rejected,
        seconds: started.elapsed().as_secs_f64(),
        report,
    })
}
