//! `onshi demo`: the whole foundation on a fresh machine with nothing installed — synthetic
//! insurers' data, an import into the embedded SQLite store, and eligibility answers in Japanese.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use onshi_feed::ImportOptions;
use onshi_model::date::parse_yyyymmdd;
use onshi_model::show::describe;
use onshi_model::{
    Date, InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsurerNumber,
    KeyQuery, PersonId,
};
use onshi_store::Store;

use crate::feed::{generate, import_file, FeedKind};

/// Arguments of `onshi demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Directory for the demo's data (created; reused when it exists).
    #[arg(long, default_value = "onshi-demo")]
    data: PathBuf,
    /// Synthetic persons to generate.
    #[arg(long, default_value_t = 5000)]
    persons: u64,
    /// The visit date of the checks, yyyyMMdd.
    #[arg(long, default_value = "20260401")]
    date: String,
}

/// The people the demo shows, picked from the generated file.
#[derive(Default)]
struct Examples {
    valid: Option<String>,
    elderly: Option<String>,
    /// A person with a lost record and a newer one, and the lost record's card fields.
    job_change: Option<(String, [String; 5])>,
    lost_only: Option<String>,
}

fn pick_examples(eligibility_csv: &Path) -> anyhow::Result<Examples> {
    let mut reader = csv::Reader::from_path(eligibility_csv)?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or(usize::MAX);
    let (pid, lost, elderly) = (
        col("PersonId"),
        col("DisqualificationDate"),
        col("ElderlyRecipientValidStartDate"),
    );
    let key = [
        col("InsurerNumber"),
        col("InsuredCardSymbol"),
        col("InsuredIdentificationNumber"),
        col("InsuredBranchNumber"),
        col("Birthdate"),
    ];
    // Per person: (records, lost records' keys, has a 後期高齢者医療 record).
    let mut people: HashMap<String, (u32, Vec<[String; 5]>, bool)> = HashMap::new();
    let mut order = Vec::new();
    let mut ex = Examples::default();
    for row in reader.records() {
        let row = row?;
        let get = |i: usize| row.get(i).unwrap_or("").to_owned();
        let id = get(pid);
        if ex.elderly.is_none() && !get(elderly).is_empty() && get(lost).is_empty() {
            ex.elderly = Some(id.clone());
        }
        let entry = people.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            (0, Vec::new(), false)
        });
        entry.0 += 1;
        entry.2 |= get(key[0]).starts_with("39");
        if !get(lost).is_empty() {
            entry.1.push(key.map(get));
        }
    }
    for id in order {
        let (count, lost, koki) = &people[&id];
        match (count, lost.first()) {
            (1, None) if ex.valid.is_none() => ex.valid = Some(id),
            (1, Some(_)) if ex.lost_only.is_none() => ex.lost_only = Some(id),
            // A job change rather than a move into 後期高齢者医療 at 75 (its new record has no 記号).
            (2.., Some(k)) if ex.job_change.is_none() && !koki => {
                ex.job_change = Some((id, k.clone()))
            }
            _ => {}
        }
    }
    Ok(ex)
}

fn show_person(store: &dyn Store, title: &str, id: &str, date: Date) -> anyhow::Result<()> {
    let id = PersonId::parse(id)?;
    let answer = store.eligibility_for_person(&id, date)?;
    println!("\n■ {title}（個人ID {id}）");
    print!("{}", describe(&answer, date));
    Ok(())
}

/// Runs `onshi demo`.
pub fn run(a: &DemoArgs) -> anyhow::Result<ExitCode> {
    let date = parse_yyyymmdd(&a.date).map_err(|e| anyhow::anyhow!("--date: {e}"))?;
    let feed = a.data.join("feed");
    let persons_csv = feed.join("persons.csv");
    let eligibility_csv = feed.join("eligibility.csv");
    println!(
        "onshi デモ: 合成データで資格確認の流れを示します（データ: {}）",
        a.data.display()
    );
    if !(persons_csv.exists() && eligibility_csv.exists()) {
        let s = generate(a.persons, 1, date, &feed)?;
        println!(
            "1. 合成データを作りました: {} 人、資格 {} 件（{}）",
            s.persons,
            s.records,
            feed.display()
        );
    } else {
        println!("1. 合成データは作成済みです（{}）", feed.display());
    }
    let store = onshi_store::open_data_dir(&a.data)?;
    println!("2. 保険者データを SQLite に取り込みます");
    for (kind, file) in [
        (FeedKind::Persons, &persons_csv),
        (FeedKind::Eligibility, &eligibility_csv),
    ] {
        let s = import_file(store.as_ref(), kind, file, &ImportOptions::default())?;
        println!(
            "   {}: {} 行、登録・更新 {}、変更なし {}（{:.1} 秒）",
            file.file_name().unwrap_or_default().to_string_lossy(),
            s.rows,
            s.stored,
            s.unchanged,
            s.seconds
        );
    }
    println!(
        "3. 資格確認の答え（確認日 {}）",
        onshi_model::show::wareki_or_plain(date)
    );
    let ex = pick_examples(&eligibility_csv)?;
    if let Some(id) = &ex.valid {
        show_person(store.as_ref(), "有効な資格がある人", id, date)?;
    }
    if let Some(id) = &ex.elderly {
        show_person(store.as_ref(), "高齢受給者証がある人", id, date)?;
    }
    if let Some((id, k)) = &ex.job_change {
        show_person(store.as_ref(), "転職して保険が変わった人", id, date)?;
        let query = KeyQuery {
            insurer_number: InsurerNumber::parse(&k[0])?,
            symbol: (!k[1].is_empty())
                .then(|| InsuredCardSymbol::parse(&k[1]))
                .transpose()?,
            number: InsuredIdentificationNumber::parse(&k[2])?,
            branch: Some(InsuredBranchNumber::parse(&k[3])?),
            birthdate: parse_yyyymmdd(&k[4])?,
        };
        let answer = store.eligibility_for_key(&query, date)?;
        println!("\n■ 同じ人の古い保険証の記号・番号で照会した場合");
        print!("{}", describe(&answer, date));
    }
    if let Some(id) = &ex.lost_only {
        show_person(store.as_ref(), "資格を失った人", id, date)?;
    }
    show_person(store.as_ref(), "登録のない人", "P9999999999", date)?;
    println!(
        "\n次に: onshi lookup --data {} --person <個人ID> --date yyyyMMdd [--json]",
        a.data.display()
    );
    Ok(ExitCode::SUCCESS)
}
