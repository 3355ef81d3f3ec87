//! `onshi demo`: the whole flow on a fresh machine with nothing but the Rust toolchain — a test
//! card authority, the eligibility service on SQLite, synthetic insurers' data, software cards, a
//! clinic with an enrolled terminal, and the reception app's checks, answered in Japanese.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{Duration, Utc};
use clap::Args;
use onshi_app::{AppError, CheckOutcome, Desk, EnrollArgs};
use onshi_card::Pin;
use onshi_model::date::parse_yyyymmdd;
use onshi_model::Date;
use onshi_proto::Mode;
use onshi_testkit::Service;

/// The file that marks a directory as the demo's own, so a rerun may delete it.
const MARKER: &str = ".onshi-demo";
/// The PIN of every demo card.
const DEMO_PIN: &str = onshi_testkit::CARD_PIN;

/// Arguments of `onshi demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Directory for the demo's data (recreated on every run; a directory the demo did not make
    /// is never deleted).
    #[arg(long, default_value = "onshi-demo")]
    data: PathBuf,
    /// Synthetic persons to generate.
    #[arg(long, default_value_t = 1000)]
    persons: u64,
    /// The visit date of the checks, yyyyMMdd.
    #[arg(long, default_value = "20260401")]
    date: String,
    /// Keep the service running after the checks until Ctrl-C (for `onshi app verify`).
    #[arg(long)]
    keep_running: bool,
    /// After the checks, keep everything running and serve the reception desk's page (with the
    /// valid software card in its reader) until Ctrl-C.
    #[arg(long)]
    ui: bool,
    /// Where the desk's page listens with --ui (loopback).
    #[arg(long, default_value = "127.0.0.1:8470")]
    ui_listen: std::net::SocketAddr,
}

/// The people the demo shows, picked from the generated file.
#[derive(Default)]
struct Examples {
    /// People with one record, still valid (the first gets the valid card, the second the one to
    /// be revoked).
    valid: Vec<String>,
    /// A person whose only record is lost.
    lost_only: Option<String>,
}

fn pick_examples(eligibility_csv: &Path) -> anyhow::Result<Examples> {
    let mut reader = csv::Reader::from_path(eligibility_csv)?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or(usize::MAX);
    let (pid, lost) = (col("PersonId"), col("DisqualificationDate"));
    // Per person: (records, lost records).
    let mut people: HashMap<String, (u32, u32)> = HashMap::new();
    let mut order = Vec::new();
    for row in reader.records() {
        let row = row?;
        let id = row.get(pid).unwrap_or("").to_owned();
        let is_lost = !row.get(lost).unwrap_or("").is_empty();
        let entry = people.entry(id.clone()).or_insert_with(|| {
            order.push(id);
            (0, 0)
        });
        entry.0 += 1;
        entry.1 += u32::from(is_lost);
    }
    let mut ex = Examples::default();
    for id in order {
        match people[&id] {
            (1, 0) if ex.valid.len() < 2 => ex.valid.push(id),
            (1, 1) if ex.lost_only.is_none() => ex.lost_only = Some(id),
            _ => {}
        }
    }
    Ok(ex)
}

/// Empties `dir` for a new run: deletes it only when it holds the demo's marker (or is empty).
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| dir.display().to_string())?
            .next()
            .is_none();
        if !empty && !dir.join(MARKER).exists() {
            anyhow::bail!(
                "{}: デモが作ったディレクトリではないので消しません。別の --data を指定してください / not made by the demo, refusing to delete it; choose another --data",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    std::fs::write(
        dir.join(MARKER),
        "onshi demo のデータ。次の onshi demo で作り直されます。\n",
    )?;
    Ok(())
}

/// The demo's desk: the patient types a fixed PIN, the staff confirm the photo.
struct DemoDesk {
    pin: &'static str,
}

impl Desk for DemoDesk {
    fn pin(&mut self, tries_left: u8) -> Result<Pin, AppError> {
        println!("   （暗証番号の入力: 残り {tries_left} 回 → {}）", self.pin);
        Pin::parse(self.pin).map_err(|e| AppError::Usage(e.to_string()))
    }

    fn confirm_photo(&mut self) -> Result<bool, AppError> {
        println!("   （職員が顔写真と本人を確認しました）");
        Ok(true)
    }
}

/// The world the demo builds before the service starts.
struct Setup {
    service: Service,
    authority: onshi_jlis::Authority,
    /// Cards: valid, lost record only, to be revoked.
    cards: [PathBuf; 3],
    revoked_person: String,
    account: String,
    code: String,
}

fn setup(a: &DemoArgs, date: Date) -> anyhow::Result<Setup> {
    let now = Utc::now();
    let jlis = a.data.join(onshi_testkit::JLIS_DIR);
    let authority = onshi_testkit::authority(&jlis, now - Duration::days(30))?;
    println!(
        "1. 試験用のカード発行者（JPKI）を作りました（{}）",
        jlis.display()
    );

    let server_dir = a.data.join(onshi_testkit::SERVER_DIR);
    let service = Service::create(&server_dir, &authority, None, now, |config| {
        config.crl_poll_seconds = 1;
    })?;
    println!(
        "2. 資格確認サービスを SQLite で用意しました（{}）",
        server_dir.display()
    );

    let feed = a.data.join("feed");
    let s = service.seed_synthetic(&feed, a.persons, 1, date)?;
    println!(
        "3. 合成データ {} 人・資格 {} 件を作り、サービスに取り込みました",
        s.persons, s.records
    );

    let ex = pick_examples(&feed.join(onshi_synth::ELIGIBILITY_FILE))?;
    let (Some(valid), Some(revoked), Some(lost)) =
        (ex.valid.first(), ex.valid.get(1), ex.lost_only.as_ref())
    else {
        anyhow::bail!("合成データに例の人が見つかりません。--persons を増やしてください / no example persons; raise --persons");
    };
    let card = |person: &str, label: &str| -> anyhow::Result<PathBuf> {
        // The card says who holds it (the card authority's record): the person, whom the
        // wrong-link guard compares with the insurer's record at import.
        let holder = service
            .person(person)
            .map_err(|_| anyhow::anyhow!("{person}: 合成データにいません / not in the feed"))?;
        let out = jlis.join(format!("{label}.card.json"));
        let attributes = onshi_testkit::cards::attributes_of(&holder);
        let validity = onshi_testkit::cards::years(now);
        Ok(
            onshi_testkit::cards::issue(&authority, person, attributes, Some(validity), out, now)?
                .path,
        )
    };
    let cards = [
        card(valid, "valid")?,
        card(lost, "lost")?,
        card(revoked, "revoked")?,
    ];
    let linked = service.link_cards(&jlis.join("issued.csv"), false)?;
    println!(
        "4. ソフトウェアのマイナンバーカードを 3 枚発行し、個人と紐付けました（暗証番号 {DEMO_PIN}、カードの名義と保険者の記録の照合: 一致 {}、保留 {}）",
        linked.matched, linked.held
    );
    for (label, path, person) in [
        ("有効な資格", &cards[0], valid),
        ("資格喪失のみ", &cards[1], lost),
        ("失効させるカード", &cards[2], revoked),
    ] {
        println!("   {label}: 個人ID {person}  {}", path.display());
    }

    let max = service.config.max_terminals_per_clinic;
    let t = service
        .add_terminals("デモ接骨院", 1, max, now)?
        .pop()
        .context("受付端末を登録できません / no terminal")?;
    Ok(Setup {
        service,
        authority,
        cards,
        revoked_person: revoked.clone(),
        account: t.terminal.id.to_string(),
        code: t.code,
    })
}

/// One check through the app, printed as the app shows it.
async fn check(
    app: &Path,
    title: &str,
    card: &Path,
    pin: &'static str,
    mode: Mode,
    visit: Date,
) -> anyhow::Result<Option<CheckOutcome>> {
    println!("\n■ {title}");
    let soft = onshi_card_emu::SoftCard::open(card)?;
    let mut client = onshi_card::client::Client::new(onshi_card_emu::InProcess::new(soft));
    let mut desk = DemoDesk { pin };
    match onshi_app::check(app, &mut client, &mut desk, mode, visit, Utc::now()).await {
        Ok(outcome) => {
            print!("{}", outcome.describe());
            Ok(Some(outcome))
        }
        Err(e) => {
            println!("{}", e.message_ja());
            Ok(None)
        }
    }
}

/// Runs `onshi demo`.
pub fn run(a: &DemoArgs) -> anyhow::Result<ExitCode> {
    let visit = parse_yyyymmdd(&a.date).map_err(|e| anyhow::anyhow!("--date: {e}"))?;
    println!(
        "onshi デモ: 資格確認の流れをこのマシンだけで示します（データ: {}）\n",
        a.data.display()
    );
    fresh_dir(&a.data)?;
    // The store's clients block: all store work is done here, outside the runtime, or in
    // `block_in_place` below.
    let setup = setup(a, visit)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(flow(a, visit, setup))
}

async fn flow(a: &DemoArgs, visit: Date, setup: Setup) -> anyhow::Result<ExitCode> {
    let server = setup.service.start(None).await?;
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    println!("5. 資格確認サービスを起動しました（{url}）");

    let app = a.data.join("app");
    onshi_app::enroll(&EnrollArgs {
        data: app.clone(),
        server: url.clone(),
        code: setup.code.clone(),
        account: setup.account.clone(),
        server_ca_pem: Some(onshi_app::data::read_text(&setup.service.server_ca_path())?),
        name: Some("受付PC".to_owned()),
    })
    .await?;
    println!(
        "6. 施術所「デモ接骨院」を登録し、受付端末 {} を登録しました（{}）",
        setup.account,
        app.display()
    );
    println!(
        "\n7. 受付での資格確認（確認日 {}）",
        onshi_model::show::wareki_or_plain(visit)
    );

    let [valid, lost, revoked] = &setup.cards;
    let first = check(
        &app,
        "暗証番号で確認（有効な資格）",
        valid,
        DEMO_PIN,
        Mode::Pin,
        visit,
    )
    .await?;
    check(&app, "目視で確認", valid, DEMO_PIN, Mode::Visual, visit).await?;
    check(&app, "暗証番号の間違い", valid, "9999", Mode::Pin, visit).await?;
    check(&app, "有効な資格がない人", lost, DEMO_PIN, Mode::Pin, visit).await?;

    // Revocation: the authority revokes, the CRL goes into the store, the server polls it.
    let serial = setup
        .authority
        .issued()?
        .into_iter()
        .find(|r| r.person_id == setup.revoked_person)
        .map(|r| r.serial)
        .context("失効させるカードが見つかりません / the card to revoke is missing")?;
    let now = Utc::now();
    setup.authority.revoke(&serial, now)?;
    let crl = setup.authority.crl(now, Duration::days(7))?;
    tokio::task::block_in_place(|| setup.service.load_crl(&crl, now))?;
    tokio::time::sleep(std::time::Duration::from_millis(
        setup.service.config.crl_poll_seconds * 1000 + 1500,
    ))
    .await;
    check(
        &app,
        "失効したカード（発行者が失効させ、失効リストを読み込みました）",
        revoked,
        DEMO_PIN,
        Mode::Pin,
        visit,
    )
    .await?;

    println!("\n■ レセコン向けに書き出したファイル");
    let rececon = app.join("rececon");
    let mut files: Vec<_> = std::fs::read_dir(&rececon)
        .with_context(|| rececon.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in &files {
        println!("   {}", f.display());
    }
    if let Some(text) = first
        .as_ref()
        .and_then(|o| o.files.as_ref())
        .and_then(|w| w.text.first().cloned().flatten())
    {
        println!("\n■ クリップボード用テキスト（最初の確認）");
        print!("{}", std::fs::read_to_string(text)?);
    }
    println!("\n■ 受付の履歴: onshi app history --data {}", app.display());

    println!("\n■ 次に試すこと");
    let reader = valid.display();
    println!(
        "   onshi app verify --data {} --reader emu:{reader} --mode pin   （暗証番号 {DEMO_PIN}）",
        app.display()
    );
    if a.ui {
        let listener = match tokio::net::TcpListener::bind(a.ui_listen).await {
            Ok(l) => l,
            // The usual port is taken (another demo?): any free one.
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        };
        let addr = listener.local_addr()?;
        let options = onshi_app_ui::UiOptions {
            data: app.clone(),
            reader: Some(onshi_app::reader::ReaderSpec::Emulated(valid.clone())),
        };
        let desk = onshi_app_ui::Desk::new(options, addr).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("\n■ 受付画面（onshi app ui）");
        println!(
            "   {} をブラウザーで開いてください（一度だけ使えるアドレスです）。",
            desk.login_url()
        );
        println!(
            "   カードリーダーには有効な資格のソフトウェアカードが置かれています（暗証番号 {DEMO_PIN}）。"
        );
        println!("   サービスは {url} で動いています。Ctrl-C で止めます。");
        desk.serve(listener, crate::app::shutdown_signal())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    } else if a.keep_running {
        println!("   サービスは {url} で動いています。Ctrl-C で止めます。");
        tokio::signal::ctrl_c().await?;
    } else {
        println!(
            "   verify にはサービスが必要です。デモは終了時にサービスを止めます: onshi demo --keep-running で動かしたままにできます（Ctrl-C で停止）。\n   受付画面を試すには: onshi demo --ui"
        );
    }
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}
