//! Criterion benches of the per-row and per-check work: parsing the feed's values and applying
//! the eligibility rule (`cargo bench -p onshi-model`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use onshi_model::date::parse_yyyymmdd;
use onshi_model::*;

fn record(qualified: &str, lost: Option<&str>) -> EligibilityRecord {
    let date = |s: &str| parse_yyyymmdd(s).unwrap_or_default();
    EligibilityRecord {
        person_id: PersonId::parse("P0000000001").unwrap_or_else(|_| unreachable!()),
        qualification: Qualification {
            card_classification: InsuredCardClassification::GENERAL,
            insurer_number: InsurerNumber::parse("01130012").unwrap_or_else(|_| unreachable!()),
            symbol: InsuredCardSymbol::parse("医国３４０").ok(),
            number: InsuredIdentificationNumber::parse("０２８２‐００１")
                .unwrap_or_else(|_| unreachable!()),
            branch: InsuredBranchNumber::new(1).unwrap_or_else(|| unreachable!()),
            personal_family: PersonalFamilyClassification::INSURED,
            insured_name: PersonName::parse("髙橋　一郎").ok(),
            name: PersonName::parse("髙橋　一郎").unwrap_or_else(|_| unreachable!()),
            name_kana: Kana::parse("タカハシ　イチロウ").unwrap_or_else(|_| unreachable!()),
            sex: Sex::MALE,
            birthdate: date("19800102"),
            address: Address::parse("東京都千代田区霞が関１－２－２").ok(),
            post_number: PostNumber::parse("100-8916").ok(),
            qualification_date: date(qualified),
            disqualification_date: lost.map(date),
            card_issuance_date: None,
            card_valid_date: None,
            card_expiration_date: None,
            contribution_ratio: Some(ContributionRatio::THIRTY),
            preschool: None,
            reason_of_loss: None,
            insurer_name: InsurerName::parse("全国健康保険協会東京支部")
                .unwrap_or_else(|_| unreachable!()),
            elderly: None,
        },
    }
}

fn parsing(c: &mut Criterion) {
    c.bench_function("InsurerNumber::parse", |b| {
        b.iter(|| InsurerNumber::parse(black_box("01130012")))
    });
    c.bench_function("Kana::parse half-width", |b| {
        b.iter(|| Kana::parse(black_box("ﾀｶﾊｼ ｲﾁﾛｳ")))
    });
    c.bench_function("Kana::to_halfwidth", |b| {
        let k = Kana::parse("タカハシ　イチロウ").unwrap_or_else(|_| unreachable!());
        b.iter(|| black_box(&k).to_halfwidth())
    });
    c.bench_function("parse_yyyymmdd", |b| {
        b.iter(|| parse_yyyymmdd(black_box("20240229")))
    });
    c.bench_function("wareki::format_date", |b| {
        let d = parse_yyyymmdd("19800102").unwrap_or_default();
        b.iter(|| wareki::format_date(black_box(d)))
    });
}

fn rule(c: &mut Criterion) {
    let visit = parse_yyyymmdd("20250401").unwrap_or_default();
    let records = vec![
        record("20200401", Some("20230401")),
        record("20230401", None),
    ];
    c.bench_function("Eligibility::for_person (job change)", |b| {
        b.iter(|| Eligibility::for_person(black_box(records.clone()), visit))
    });
}

criterion_group!(benches, parsing, rule);
criterion_main!(benches);
