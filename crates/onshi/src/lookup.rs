//! `onshi lookup`: the eligibility answer as people read it, or as the result format's JSON.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use onshi_model::date::parse_yyyymmdd;
use onshi_model::show::describe;
use onshi_model::{
    Date, InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsurerNumber,
    KeyQuery, PersonId,
};

use crate::StoreArgs;

/// Arguments of `onshi lookup`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["person", "insurer"])))]
pub struct LookupArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The person id (a card check).
    #[arg(long)]
    person: Option<String>,
    /// 保険者番号 (a check without a card; needs --number and --birth).
    #[arg(long, requires_all = ["number", "birth"])]
    insurer: Option<String>,
    /// 記号 (leave out for 後期高齢者).
    #[arg(long)]
    symbol: Option<String>,
    /// 番号.
    #[arg(long)]
    number: Option<String>,
    /// 枝番 (any branch when left out).
    #[arg(long)]
    branch: Option<String>,
    /// 生年月日, yyyyMMdd.
    #[arg(long)]
    birth: Option<String>,
    /// The visit date, yyyyMMdd (default: today).
    #[arg(long)]
    date: Option<String>,
    /// Print the result format's JSON.
    #[arg(long)]
    json: bool,
}

fn parse<T>(
    what: &str,
    value: &str,
    f: impl Fn(&str) -> Result<T, onshi_model::ModelError>,
) -> anyhow::Result<T> {
    f(value).map_err(|e| anyhow::anyhow!("{what}「{value}」: {} / {e}", e.message_ja()))
}

/// Runs `onshi lookup`.
pub fn run(a: &LookupArgs) -> anyhow::Result<ExitCode> {
    let date: Date = match &a.date {
        Some(d) => parse("--date", d, parse_yyyymmdd)?,
        None => chrono::Local::now().date_naive(),
    };
    let store = a.store.open()?;
    let answer = if let Some(person) = &a.person {
        let id = parse("--person", person, PersonId::parse)?;
        store.eligibility_for_person(&id, date)
    } else {
        let (Some(insurer), Some(number), Some(birth)) = (&a.insurer, &a.number, &a.birth) else {
            anyhow::bail!("--insurer には --number と --birth が必要です / --insurer needs --number and --birth");
        };
        let query = KeyQuery {
            insurer_number: parse("--insurer", insurer, InsurerNumber::parse)?,
            symbol: a
                .symbol
                .as_deref()
                .map(|s| parse("--symbol", s, InsuredCardSymbol::parse))
                .transpose()?,
            number: parse("--number", number, InsuredIdentificationNumber::parse)?,
            branch: a
                .branch
                .as_deref()
                .map(|s| parse("--branch", s, InsuredBranchNumber::parse))
                .transpose()?,
            birthdate: parse("--birth", birth, parse_yyyymmdd)?,
        };
        store.eligibility_for_key(&query, date)
    }
    .context("照会に失敗しました / lookup failed")?;
    let answer = onshi_model::Answer::from(answer);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", describe(&answer, date));
    }
    Ok(ExitCode::SUCCESS)
}
