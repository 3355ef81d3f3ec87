//! End-to-end checks of generated files: every field parses with onshi-model, every record passes
//! its consistency rules, keys are unique, families are well formed, and the variety the data is
//! for (rare kanji, 国保, 後期, job changes …) is there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use chrono::{Datelike, Months};
use onshi_model::date::parse_yyyymmdd;
use onshi_model::{
    Address, ContributionRatio, Date, ElderlyRecipientCertificateInfo, EligibilityRecord,
    InsuredBranchNumber, InsuredCardClassification, InsuredCardSymbol, InsuredIdentificationNumber,
    InsurerName, InsurerNumber, Kana, PersonId, PersonName, PersonalFamilyClassification,
    PostNumber, PreschoolClassification, Qualification, ReasonOfLoss, Sex,
};
use onshi_synth::{
    generate, SynthError, SynthOptions, SynthSummary, ELIGIBILITY_HEADER, PERSONS_HEADER,
};

/// A person row, parsed.
#[derive(Debug, Clone)]
struct PersonRow {
    name: PersonName,
    kana: Kana,
    birthdate: Date,
    sex: Sex,
}

/// One generated data set, parsed.
struct Data {
    summary: SynthSummary,
    progress: Vec<u64>,
    persons: BTreeMap<PersonId, PersonRow>,
    records: Vec<EligibilityRecord>,
    opts: SynthOptions,
}

fn opt<T>(s: &str, parse: impl Fn(&str) -> Result<T, onshi_model::ModelError>) -> Option<T> {
    (!s.is_empty()).then(|| parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}")))
}

fn date(s: &str) -> Date {
    parse_yyyymmdd(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn read_csv(path: &Path, header: &[&str]) -> Vec<csv::StringRecord> {
    let bytes = std::fs::read(path).unwrap();
    assert!(!bytes.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    assert!(!bytes.contains(&b'\r'), "LF line ends only");
    assert!(bytes.ends_with(b"\n"));
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let got: Vec<&str> = reader.headers().unwrap().iter().collect();
    assert_eq!(got, header);
    reader.records().map(Result::unwrap).collect()
}

fn parse_person(r: &csv::StringRecord) -> (PersonId, PersonRow) {
    let id = PersonId::parse(&r[0]).unwrap();
    let name = PersonName::parse(&r[1]).unwrap();
    let kana = Kana::parse(&r[2]).unwrap();
    // Already canonical: full-width with U+3000.
    assert_eq!(kana.as_str(), &r[2]);
    assert_eq!(name.as_str().split('\u{3000}').count(), 2, "{name:?}");
    let birthdate = date(&r[3]);
    let sex = Sex::parse(&r[4]).unwrap();
    Address::parse(&r[5]).unwrap();
    (
        id,
        PersonRow {
            name,
            kana,
            birthdate,
            sex,
        },
    )
}

fn parse_record(r: &csv::StringRecord) -> EligibilityRecord {
    let f = |i: usize| &r[i];
    let elderly = if f(21).is_empty() {
        assert!(f(20).is_empty() && f(22).is_empty() && f(23).is_empty());
        None
    } else {
        Some(ElderlyRecipientCertificateInfo {
            certificate_date: opt(f(20), parse_yyyymmdd),
            valid_start: date(f(21)),
            valid_end: date(f(22)),
            contribution_ratio: ContributionRatio::parse(f(23)).unwrap(),
        })
    };
    let kana = Kana::parse(f(8)).unwrap();
    assert_eq!(kana.as_str(), f(8));
    EligibilityRecord {
        person_id: PersonId::parse(f(0)).unwrap(),
        qualification: Qualification {
            insurer_number: InsurerNumber::parse(f(1)).unwrap(),
            symbol: opt(f(2), InsuredCardSymbol::parse),
            number: InsuredIdentificationNumber::parse(f(3)).unwrap(),
            branch: InsuredBranchNumber::parse(f(4)).unwrap(),
            personal_family: PersonalFamilyClassification::parse(f(5)).unwrap(),
            insured_name: opt(f(6), PersonName::parse),
            name: PersonName::parse(f(7)).unwrap(),
            name_kana: kana,
            sex: Sex::parse(f(9)).unwrap(),
            birthdate: date(f(10)),
            address: opt(f(11), Address::parse),
            post_number: opt(f(12), PostNumber::parse),
            qualification_date: date(f(13)),
            disqualification_date: opt(f(14), parse_yyyymmdd),
            card_issuance_date: opt(f(24), parse_yyyymmdd),
            card_valid_date: opt(f(25), parse_yyyymmdd),
            card_expiration_date: opt(f(26), parse_yyyymmdd),
            card_classification: InsuredCardClassification::parse(f(15)).unwrap(),
            contribution_ratio: opt(f(16), ContributionRatio::parse),
            preschool: opt(f(17), PreschoolClassification::parse),
            reason_of_loss: opt(f(18), ReasonOfLoss::parse),
            insurer_name: InsurerName::parse(f(19)).unwrap(),
            elderly,
        },
    }
}

fn load(dir: &Path, opts: SynthOptions, summary: SynthSummary, progress: Vec<u64>) -> Data {
    let persons: BTreeMap<_, _> = read_csv(&dir.join("persons.csv"), PERSONS_HEADER)
        .iter()
        .map(parse_person)
        .collect();
    let records: Vec<_> = read_csv(&dir.join("eligibility.csv"), ELIGIBILITY_HEADER)
        .iter()
        .map(parse_record)
        .collect();
    Data {
        summary,
        progress,
        persons,
        records,
        opts,
    }
}

fn run(dir: &Path, opts: SynthOptions) -> (SynthSummary, Vec<u64>) {
    let mut progress = Vec::new();
    let summary = generate(&opts, dir, &mut |n| progress.push(n)).unwrap();
    (summary, progress)
}

/// The 20,000-person data set most tests look at, generated once.
fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let opts = SynthOptions {
            persons: 20_000,
            seed: 42,
            ..SynthOptions::default()
        };
        let (summary, progress) = run(dir.path(), opts);
        load(dir.path(), opts, summary, progress)
    })
}

fn age_on(birth: Date, on: Date) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

#[test]
fn same_options_same_bytes_other_seed_other_bytes() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let opts = SynthOptions {
        persons: 3_000,
        seed: 7,
        ..SynthOptions::default()
    };
    run(dirs[0].path(), opts);
    run(dirs[1].path(), opts);
    run(dirs[2].path(), SynthOptions { seed: 8, ..opts });
    for file in ["persons.csv", "eligibility.csv"] {
        let read = |i: usize| std::fs::read(dirs[i].path().join(file)).unwrap();
        assert_eq!(read(0), read(1), "{file}");
        assert_ne!(read(0), read(2), "{file}");
    }
}

#[test]
fn counts_ids_and_progress() {
    let d = data();
    assert_eq!(d.summary.persons, 20_000);
    assert_eq!(d.persons.len(), 20_000);
    assert_eq!(d.summary.records, d.records.len() as u64);
    assert_eq!(d.progress, [10_000, 20_000]);
    let ids: Vec<&str> = d.persons.keys().map(PersonId::as_str).collect();
    assert_eq!(ids[0], "P0000000001");
    assert_eq!(ids[19_999], "P0000020000");
    assert!(
        d.summary.families > 5_000 && d.summary.families < 15_000,
        "{:?}",
        d.summary
    );

    let dir = tempfile::tempdir().unwrap();
    let opts = SynthOptions {
        persons: 123,
        ..SynthOptions::default()
    };
    let (summary, progress) = run(dir.path(), opts);
    assert_eq!(summary.persons, 123);
    assert_eq!(progress, [123]);
    // Nothing but the two files: the temporary ones were renamed.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["eligibility.csv", "persons.csv"]);
}

#[test]
fn every_record_is_consistent_and_matches_its_person() {
    let d = data();
    let as_of = d.opts.as_of;
    for r in &d.records {
        r.check_consistency()
            .unwrap_or_else(|v| panic!("{r:?}: {v:?}"));
        let p = d
            .persons
            .get(&r.person_id)
            .unwrap_or_else(|| panic!("{:?} unknown", r.person_id));
        assert_eq!(
            (&r.name, &r.name_kana, r.birthdate, r.sex),
            (&p.name, &p.kana, p.birthdate, p.sex)
        );
        assert!(r.qualification_date <= as_of, "{r:?}");
        if let Some(lost) = r.disqualification_date {
            assert!(lost > r.qualification_date && lost <= as_of, "{r:?}");
        }
        assert_eq!(r.insurer_number.is_koki(), r.symbol.is_none());
        assert!(r.insured_name.is_some());
        assert_eq!(r.address.is_some(), r.post_number.is_some());
    }
}

#[test]
fn keys_are_unique() {
    let d = data();
    let keys: BTreeSet<_> = d.records.iter().map(|r| r.key()).collect();
    assert_eq!(keys.len(), d.records.len());
}

#[test]
fn families_have_one_insured_person_with_branch_00() {
    let d = data();
    let mut units: BTreeMap<_, Vec<&EligibilityRecord>> = BTreeMap::new();
    for r in &d.records {
        units
            .entry((r.insurer_number, r.symbol.clone(), r.number.clone()))
            .or_default()
            .push(r);
    }
    let mut with_family = 0;
    for (key, members) in &units {
        let insured: Vec<_> = members
            .iter()
            .filter(|r| r.personal_family == PersonalFamilyClassification::INSURED)
            .collect();
        assert_eq!(insured.len(), 1, "{key:?}");
        let head = insured[0];
        assert_eq!(head.branch.value(), 0);
        assert!(members.len() <= 5, "{key:?}");
        let branches: BTreeSet<_> = members.iter().map(|r| r.branch).collect();
        assert_eq!(branches.len(), members.len(), "{key:?}");
        for r in members {
            assert_eq!(r.insured_name.as_ref(), Some(&head.name), "{key:?}");
            if r.personal_family == PersonalFamilyClassification::FAMILY {
                assert_ne!(r.branch.value(), 0);
                assert!(!r.insurer_number.is_koki(), "後期 has no 家族");
                assert_eq!(
                    r.name.as_str().split('\u{3000}').next(),
                    head.name.as_str().split('\u{3000}').next()
                );
                // A minor (so not the spouse) is a child, born to a parent who was an adult.
                if age_on(r.birthdate, d.opts.as_of) < 18 {
                    assert!(age_on(head.birthdate, r.birthdate) >= 18, "{key:?}");
                }
            }
        }
        with_family += usize::from(members.len() > 1);
    }
    assert!(
        with_family > units.len() / 5,
        "{with_family} of {}",
        units.len()
    );
}

#[test]
fn ratios_follow_age() {
    let d = data();
    let as_of = d.opts.as_of;
    for r in &d.records {
        let on = r
            .disqualification_date
            .map_or(as_of, |l| l.pred_opt().unwrap());
        let age = age_on(r.birthdate, on);
        let ratio = r.contribution_ratio.unwrap().percent();
        if r.insurer_number.is_koki() {
            assert!(age >= 75 && [10, 20, 30].contains(&ratio), "{r:?}");
            let seventy_fifth = r.birthdate.checked_add_months(Months::new(900)).unwrap();
            assert!(r.qualification_date >= seventy_fifth, "{r:?}");
        } else if r.preschool.is_some() {
            assert_eq!(r.preschool, Some(PreschoolClassification::PRESCHOOL));
            assert!(age <= 6 && ratio == 20, "{r:?}");
        } else if let Some(e) = &r.elderly {
            assert!((70..=74).contains(&age), "{r:?}");
            assert!(e.is_valid_on(on), "{r:?}");
            assert_eq!(e.contribution_ratio.percent(), ratio);
            assert!(e.certificate_date.unwrap() < e.valid_start);
        } else {
            assert!((6..=70).contains(&age) && ratio == 30, "{r:?}");
        }
        assert!(age < 75 || r.insurer_number.is_koki(), "{r:?}");
    }
}

#[test]
fn the_variety_is_there() {
    let d = data();
    let names: String = d.persons.values().map(|p| p.name.as_str()).collect();
    for rare in ['髙', '\u{FA11}', '\u{20BB7}', '邉', '齋', '渡', '濵', '德'] {
        assert!(names.contains(rare), "no {rare}");
    }
    let count = |f: &dyn Fn(&EligibilityRecord) -> bool| d.records.iter().filter(|r| f(r)).count();
    assert!(
        count(&|r| r.insurer_number.as_str().len() == 6) > 1000,
        "国保"
    );
    assert!(
        count(&|r| r.insurer_number.is_koki() && r.symbol.is_none()) > 1000,
        "後期"
    );
    assert!(
        count(&|r| r.insurer_number.law_code() == Some(6)) > 1000,
        "健保組合"
    );
    assert!(
        count(&|r| matches!(r.insurer_number.law_code(), Some(31..=34))) > 100,
        "共済"
    );
    assert!(
        count(&|r| r.card_classification == InsuredCardClassification::SELF_DEFENSE) > 0,
        "自衛官"
    );
    assert!(
        count(&|r| r.insurer_name.as_str().starts_with("全国健康保険協会")) > 3000,
        "協会けんぽ"
    );
    let symbols =
        |f: &dyn Fn(&str) -> bool| count(&|r| r.symbol.as_ref().is_some_and(|s| f(s.as_str())));
    assert!(symbols(&|s| s.bytes().all(|b| b.is_ascii_digit())) > 100);
    assert!(symbols(&|s| s.chars().all(|c| ('０'..='９').contains(&c))) > 100);
    assert!(symbols(&|s| s.chars().next().is_some_and(|c| c > '\u{4E00}')) > 100);
    assert!(count(&|r| r.number.as_str().contains('\u{2010}')) > 100);
    assert!(count(&|r| r.elderly.is_some()) > 300);
    assert!(count(&|r| r.preschool.is_some()) > 300);
    assert!(count(&|r| r.reason_of_loss == Some(ReasonOfLoss::DEATH)) > 5);
    assert!(count(&|r| r.address.is_none()) > 0);
    assert!(d.persons.values().any(|p| p.sex == Sex::UNSET) || d.persons.len() < 50_000);

    // Job changes: a lost record and a newer one starting that day, at another 記号・番号.
    let mut by_person: BTreeMap<&PersonId, Vec<&EligibilityRecord>> = BTreeMap::new();
    for r in &d.records {
        by_person.entry(&r.person_id).or_default().push(r);
    }
    let changes = by_person
        .values()
        .filter(|rs| {
            rs.iter().any(|old| {
                old.disqualification_date.is_some_and(|lost| {
                    matches!(
                        old.reason_of_loss,
                        Some(ReasonOfLoss::OTHER_INSURANCE | ReasonOfLoss::OTHER)
                    ) && rs
                        .iter()
                        .any(|new| new.qualification_date == lost && new.key() != old.key())
                })
            })
        })
        .count();
    assert!(changes > 500, "{changes} job changes");
    // Lost with no successor (無効).
    let invalid = by_person
        .values()
        .filter(|rs| rs.iter().all(|r| r.disqualification_date.is_some()))
        .count();
    assert!(invalid > 100, "{invalid}");
    // Most persons have exactly one record; a few have none (never: every person is insured).
    assert_eq!(by_person.len(), d.persons.len());
    let single = by_person.values().filter(|rs| rs.len() == 1).count();
    assert!(single * 10 > d.persons.len() * 8, "{single}");
    let ratio = d.records.len() as f64 / d.persons.len() as f64;
    assert!((1.1..=1.2).contains(&ratio), "{ratio} records per person");
}

#[test]
fn ages_have_a_realistic_shape() {
    let d = data();
    let as_of = d.opts.as_of;
    let mut bands = [0usize; 5];
    let mut oldest = 0;
    for p in d.persons.values() {
        let age = age_on(p.birthdate, as_of);
        oldest = oldest.max(age);
        let band = match age {
            ..=14 => 0,
            15..=64 => 1,
            65..=74 => 2,
            75..=89 => 3,
            _ => 4,
        };
        bands[band] += 1;
    }
    let share = |n: usize| n as f64 / d.persons.len() as f64;
    // Japan in the mid 2020s: about 11% under 15, 59% 15–64, 13% 65–74, 17% 75+.
    assert!((0.08..0.15).contains(&share(bands[0])), "{bands:?}");
    assert!((0.50..0.66).contains(&share(bands[1])), "{bands:?}");
    assert!((0.09..0.17).contains(&share(bands[2])), "{bands:?}");
    assert!((0.10..0.22).contains(&share(bands[3])), "{bands:?}");
    assert!(bands[4] > 0 && oldest >= 98, "{bands:?} oldest {oldest}");
}

#[test]
fn any_date_gives_consistent_records() {
    // Before 後期高齢者医療 (April 2008) and on a leap day.
    for as_of in ["20050101", "20280229"] {
        let dir = tempfile::tempdir().unwrap();
        let opts = SynthOptions {
            persons: 3_000,
            seed: 3,
            as_of: date(as_of),
        };
        let (summary, _) = run(dir.path(), opts);
        let d = load(dir.path(), opts, summary, Vec::new());
        for r in &d.records {
            r.check_consistency()
                .unwrap_or_else(|v| panic!("{r:?}: {v:?}"));
            assert!(r.qualification_date <= opts.as_of, "{r:?}");
            assert!(
                r.disqualification_date.is_none_or(|l| l <= opts.as_of),
                "{r:?}"
            );
        }
        let koki = d
            .records
            .iter()
            .filter(|r| r.insurer_number.is_koki())
            .count();
        assert_eq!(koki == 0, as_of == "20050101");
    }
}

#[test]
fn an_unwritable_directory_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = generate(&SynthOptions::default(), &file, &mut |_| {}).unwrap_err();
    match err {
        SynthError::Io { path, .. } => assert_eq!(path, file),
        other => panic!("{other:?}"),
    }
}

/// `cargo test --release -p onshi-synth -- --ignored --nocapture million`
#[test]
#[ignore = "slow: the 1,000,000-person benchmark set"]
fn million() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SynthOptions {
        persons: 1_000_000,
        ..SynthOptions::default()
    };
    let start = Instant::now();
    let summary = generate(&opts, dir.path(), &mut |_| {}).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let size = |f: &str| std::fs::metadata(dir.path().join(f)).unwrap().len() / 1_000_000;
    println!(
        "{summary:?} in {secs:.2} s; persons.csv {} MB, eligibility.csv {} MB",
        size("persons.csv"),
        size("eligibility.csv")
    );
    assert_eq!(summary.persons, 1_000_000);
}
