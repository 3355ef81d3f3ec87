//! Synthetic persons and insurers' eligibility records that look like a real feed, for tests,
//! demos and benchmarks; the same options always give byte-identical files.
//!
//! [`generate`] writes two UTF-8 CSV files (LF line ends, a header row, no BOM; an empty field is
//! an absent value) into a directory:
//!
//! - `persons.csv` ([`PERSONS_HEADER`]): one row per person, ids `P0000000001` upwards;
//! - `eligibility.csv` ([`ELIGIBILITY_HEADER`]): the records insurers hold on them, with the
//!   result format's element names as column names.
//!
//! Persons come household by household (a 本人 and up to four 家族 under one 保険者番号・記号・番号,
//! 枝番 `00` for the 本人), from a pool of a few hundred insurers with real-format numbers and
//! check digits: 協会けんぽ, 健康保険組合, 共済組合, 自衛官等, 国民健康保険 (six digits) and
//! 後期高齢者医療 (no 記号). Ages follow Japan's population; co-payment ratios, 未就学 and the
//! 高齢受給者証 follow the ages on the data's date. About one record in eight is a lost
//! one: a change of job, the move to 後期高齢者医療 on the 75th birthday, a loss with no successor,
//! or death. Names include rare and old-form kanji (髙, 﨑, 𠮷 outside the BMP, 邉, 齋 …).

mod calendar;
pub mod card_links;
mod error;
mod household;
mod insurers;
mod names;
mod output;
mod places;
mod weighted;

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use crate::error::SynthError;
use crate::household::{Household, Life};
use crate::output::Output;

/// A calendar date.
pub type Date = chrono::NaiveDate;

/// The file of persons.
pub const PERSONS_FILE: &str = "persons.csv";

/// The file of eligibility records.
pub const ELIGIBILITY_FILE: &str = "eligibility.csv";

/// The header row of [`PERSONS_FILE`].
pub const PERSONS_HEADER: &[&str] = &[
    "PersonId",
    "Name",
    "NameKana",
    "Birthdate",
    "Sex1",
    "Address",
    "FormerName",
];

/// The header row of [`ELIGIBILITY_FILE`].
pub const ELIGIBILITY_HEADER: &[&str] = &[
    "PersonId",
    "InsurerNumber",
    "InsuredCardSymbol",
    "InsuredIdentificationNumber",
    "InsuredBranchNumber",
    "PersonalFamilyClassification",
    "InsuredName",
    "Name",
    "NameKana",
    "Sex1",
    "Birthdate",
    "Address",
    "PostNumber",
    "QualificationDate",
    "DisqualificationDate",
    "InsuredCardClassification",
    "InsuredPartialContributionRatio",
    "PreschoolClassification",
    "ReasonOfLoss",
    "InsurerName",
    "ElderlyRecipientCertificateDate",
    "ElderlyRecipientValidStartDate",
    "ElderlyRecipientValidEndDate",
    "ElderlyRecipientContributionRatio",
    "InsuredCertificateIssuanceDate",
    "InsuredCardValidDate",
    "InsuredCardExpirationDate",
];

/// How often [`generate`] reports progress, in persons.
pub const PROGRESS_EVERY: u64 = 10_000;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthOptions {
    /// How many persons to write.
    pub persons: u64,
    /// The seed of the random stream: the same seed, the same files.
    pub seed: u64,
    /// The date the data describes (ages, ratios and validity are as of this day); the clock is
    /// never read.
    pub as_of: Date,
}

impl SynthOptions {
    /// The default [`as_of`](Self::as_of): 1 April 2026.
    pub const DEFAULT_AS_OF: Date = match Date::from_ymd_opt(2026, 4, 1) {
        Some(d) => d,
        None => panic!("a real date"),
    };
}

impl Default for SynthOptions {
    /// 10,000 persons, seed 1, as of [`SynthOptions::DEFAULT_AS_OF`].
    fn default() -> Self {
        Self {
            persons: 10_000,
            seed: 1,
            as_of: Self::DEFAULT_AS_OF,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SynthSummary {
    /// Rows of `persons.csv`.
    pub persons: u64,
    /// Rows of `eligibility.csv`.
    pub records: u64,
    /// Households (people at one address under one surname; one or, with a working or 75+
    /// spouse, two insurance families).
    pub families: u64,
}

/// Writes `persons.csv` and `eligibility.csv` for `opts` into `out_dir` (created if missing),
/// each under a temporary name first and renamed when complete. `progress` is called with the
/// number of persons written every [`PROGRESS_EVERY`] persons and once at the end.
pub fn generate(
    opts: &SynthOptions,
    out_dir: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<SynthSummary, SynthError> {
    let mut life = Life::new(ChaCha8Rng::seed_from_u64(opts.seed), opts.as_of)?;
    let mut output = Output::create(out_dir)?;
    match write_all(opts, &mut life, &mut output, progress) {
        Ok(summary) => {
            output.finish()?;
            if summary.persons % PROGRESS_EVERY != 0 || summary.persons == 0 {
                progress(summary.persons);
            }
            Ok(summary)
        }
        Err(e) => {
            output.abandon();
            Err(e)
        }
    }
}

fn write_all(
    opts: &SynthOptions,
    life: &mut Life,
    output: &mut Output,
    progress: &mut dyn FnMut(u64),
) -> Result<SynthSummary, SynthError> {
    let mut summary = SynthSummary::default();
    let mut hh = Household::new();
    let mut each_person = |id: u64| {
        if id.is_multiple_of(PROGRESS_EVERY) {
            progress(id);
        }
    };
    while summary.persons < opts.persons {
        life.next_household(&mut hh);
        let left = opts.persons - summary.persons;
        let keep = hh
            .persons
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        summary.records += output.write_household(
            &hh,
            &life.pool,
            opts.as_of,
            summary.persons + 1,
            keep,
            &mut each_person,
        )?;
        summary.persons += keep as u64;
        summary.families += 1;
    }
    Ok(summary)
}
