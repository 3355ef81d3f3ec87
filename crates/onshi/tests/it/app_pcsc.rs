//! The reception app through the real PC/SC stack: a software card in pcscd's virtual reader
//! (`onshi card emulate`, vsmartcard-vpcd), `onshi app verify --reader pcsc:…` against the real
//! service on loopback, and the receipt-computer files compared byte for byte with
//! `tests/expected/app_pcsc/`, in UTF-8 and in Shift_JIS.
//!
//! The values that change per run are replaced by placeholders before comparing, in bytes (so a
//! Shift_JIS file stays Shift_JIS): `{{REFERENCE_NUMBER}}` (照会番号, from the answer),
//! `{{PROCESS_EXECUTION_TIME}}` (the local time of the check, from the file name) and `{{APP}}`
//! (the app's data directory, in the printed paths). Everything else is fixed by the hand-written
//! feed below and `--date`. `ONSHI_BLESS=1` rewrites the expected files (review the diff by eye).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::app::start_server;
use super::card::{insert, reader_name, vpcd};
use super::cli::{ok, s};

/// The visit date of every check: the answer depends on it, not on today.
const VISIT: &str = "20260401";
pub(super) const PIN: &str = "1234";
pub(super) const PERSON: &str = "P0000000777";

/// One family member (家族) whose name and whose insured's name hold 𠮷 (U+20BB7, outside
/// CP932: mapped to 吉 in Shift_JIS) and 髙 (U+9AD9, a CP932 extension: kept as it is).
pub(super) const PERSONS_CSV: &str = "\
PersonId,Name,NameKana,Birthdate,Sex1,Address
P0000000777,𠮷田　髙子,ヨシダ　タカコ,19820303,2,東京都千代田区霞が関１－２－２
";

pub(super) const ELIGIBILITY_CSV: &str = "\
PersonId,InsurerNumber,InsuredCardSymbol,InsuredIdentificationNumber,InsuredBranchNumber,PersonalFamilyClassification,InsuredName,Name,NameKana,Sex1,Birthdate,Address,PostNumber,QualificationDate,DisqualificationDate,InsuredCardClassification,InsuredPartialContributionRatio,PreschoolClassification,ReasonOfLoss,InsurerName,ElderlyRecipientCertificateDate,ElderlyRecipientValidStartDate,ElderlyRecipientValidEndDate,ElderlyRecipientContributionRatio
P0000000777,06139992,７７,８８,01,2,𠮷田　一郎,𠮷田　髙子,ヨシダ　タカコ,2,19820303,東京都千代田区霞が関１－２－２,100-8916,20230401,,01,030,,,サンプル健康保険組合,,,,
";

/// The file of `tests/expected/app_pcsc/`.
fn expected(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected/app_pcsc")
        .join(name)
}

/// `actual` against the expected file `name` (written first under `ONSHI_BLESS`).
fn compare(name: &str, actual: &[u8]) {
    let path = expected(name);
    if std::env::var_os("ONSHI_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        want == actual,
        "{name} differs from {} (ONSHI_BLESS=1 rewrites it); got:\n{}",
        path.display(),
        String::from_utf8_lossy(actual)
    );
}

/// `bytes` with every occurrence of each value replaced by its placeholder, in order.
fn placeholders(bytes: &[u8], known: &[(&str, &str)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (value, placeholder) in known {
        assert!(!value.is_empty());
        let (from, to) = (value.as_bytes(), placeholder.as_bytes());
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(from) {
                next.extend_from_slice(to);
                i += from.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

/// The receipt-computer files of one answered check.
struct Files {
    /// The 14 digits of the local time of the check (the file name's, ProcessExecutionTime).
    time: String,
    xml: Vec<u8>,
    txt: Vec<u8>,
    json: Vec<u8>,
}

/// The three files the check with 照会番号 `reference` left in `app/rececon/`.
fn files_of(app: &Path, reference: &str) -> Files {
    let dir = app.join("rececon");
    let prefix = format!("OQSsiquc01res_face_0000000000-{reference}_");
    let xml_names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".xml"))
        .collect();
    assert_eq!(xml_names.len(), 1, "{prefix}*.xml: {xml_names:?}");
    let stem = xml_names[0].strip_suffix(".xml").unwrap();
    let time = stem.strip_prefix(&prefix).unwrap().to_owned();
    assert!(
        time.len() == 14 && time.bytes().all(|b| b.is_ascii_digit()),
        "{stem}"
    );
    let read = |ext: &str| std::fs::read(dir.join(format!("{stem}.{ext}"))).unwrap();
    Files {
        xml: read("xml"),
        txt: read("txt"),
        json: read("json"),
        time,
    }
}

/// `onshi app verify --reader READER --date VISIT ARGS` with the files in `encoding` and `stdin`
/// as the desk's input.
fn verify(app: &Path, reader: &str, encoding: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args([
            "app",
            "verify",
            "--data",
            s(app),
            "--reader",
            reader,
            "--date",
            VISIT,
        ])
        .args(args)
        .env_remove("ONSHI_APP_DATA")
        .env_remove("ONSHI_APP_SERVER")
        .env_remove("ONSHI_APP_RECECON_OUTPUT")
        .env("ONSHI_APP_RECECON_ENCODING", encoding)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A check that answered 有効 (exit 0); returns its standard output.
fn valid(out: &Output) -> String {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The 照会番号 of a check printed as text.
fn reference_in(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("照会番号\t"))
        .unwrap_or_else(|| panic!("no 照会番号: {text}"))
        .to_owned()
}

/// Compares the printed text and the three files of a check answered as text with the expected
/// `<stdout>`, `rececon.<files>.{xml,txt}` and `rececon.json`.
fn compare_check(app: &Path, text: &str, stdout: &str, files: &str) {
    let reference = reference_in(text);
    let f = files_of(app, &reference);
    // The 照会番号 first: it begins with the service's time, which may equal the check's.
    let known = [
        (reference.as_str(), "{{REFERENCE_NUMBER}}"),
        (f.time.as_str(), "{{PROCESS_EXECUTION_TIME}}"),
        (s(app), "{{APP}}"),
    ];
    compare(stdout, &placeholders(text.as_bytes(), &known));
    compare(
        &format!("rececon.{files}.xml"),
        &placeholders(&f.xml, &known),
    );
    compare(
        &format!("rececon.{files}.txt"),
        &placeholders(&f.txt, &known),
    );
    // The JSON is UTF-8 whatever the encoding of the other two.
    compare("rececon.json", &placeholders(&f.json, &known));
}

/// The second virtual reader (vpcd address, reader name): the card test holds the first one,
/// and the tests of one binary run at the same time.
fn second_reader(addr: &str) -> (String, &'static str) {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let other = format!("{host}:{}", if port == "35964" { "35963" } else { "35964" });
    let name = reader_name(&other);
    (other, name)
}

/// Issues a card for [`PERSON`] (PIN [`PIN`]) by the authority in `jlis`, written to `out`.
pub(super) fn issue_card(jlis: &Path, out: &Path) {
    ok(&[
        "jlis",
        "issue-card",
        "--dir",
        s(jlis),
        "--person",
        PERSON,
        "--pin",
        PIN,
        "--name",
        "𠮷田　髙子",
        "--birth",
        "19820303",
        "--sex",
        "2",
        "--out",
        s(out),
    ]);
}

/// The service with the one hand-written person, running, and an enrolled app.
pub(super) struct World {
    /// The service's data directory.
    pub srv: PathBuf,
    /// The app's data directory (enrolled).
    pub app: PathBuf,
    /// The person's software card (PIN [`PIN`]).
    pub card: PathBuf,
    /// Where the service listens.
    pub listen: String,
    /// The running service (stopped when dropped).
    pub server: super::app::Server,
}

/// The world in `dir`: authority, service on SQLite, the person, the card, a clinic and its
/// terminal, the service running on a free loopback port, the app enrolled.
pub(super) fn world(dir: &Path) -> World {
    let (world, settings, code) = world_unenrolled(dir);
    ok(&[
        "app",
        "enroll",
        "--data",
        s(&world.app),
        "--settings",
        s(&settings),
        "--code",
        &code,
    ]);
    world
}

/// [`world`] with the app not enrolled yet: also the terminal's settings file as the portal
/// hands it out (ユーザー設定情報) and its one-time code.
pub(super) fn world_unenrolled(dir: &Path) -> (World, PathBuf, String) {
    let jlis = dir.join("jlis");
    let srv = dir.join("srv");
    let app = dir.join("app");
    ok(&["jlis", "init", "--dir", s(&jlis)]);
    ok(&[
        "server",
        "init",
        "--data",
        s(&srv),
        "--jpki-ca",
        s(&jlis.join("ca.pem")),
    ]);
    for (kind, text) in [("persons", PERSONS_CSV), ("eligibility", ELIGIBILITY_CSV)] {
        let file = dir.join(format!("{kind}.csv"));
        std::fs::write(&file, text).unwrap();
        let out = ok(&["import", kind, s(&file), "--data", s(&srv)]);
        assert!(out.contains("登録・更新 1 行"), "{kind}: {out}");
    }
    let card = dir.join("card.json");
    issue_card(&jlis, &card);
    ok(&[
        "import",
        "card-links",
        "--data",
        s(&srv),
        s(&jlis.join("issued.csv")),
    ]);
    // A current CRL: without one, the authority's cards are refused (E011).
    let crl = jlis.join("first.crl");
    ok(&["jlis", "crl", "--dir", s(&jlis), "--out", s(&crl)]);
    ok(&["admin", "crl", "load", "--data", s(&srv), s(&crl)]);
    let clinic: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "clinic",
        "add",
        "--data",
        s(&srv),
        "--name",
        "テスト接骨院",
        "--registration",
        "契0123456-1-23",
        "--json",
    ]))
    .unwrap();
    let terminal: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "terminal",
        "add",
        "--data",
        s(&srv),
        "--clinic",
        &clinic["id"].to_string(),
        "--json",
    ]))
    .unwrap();
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let server = start_server(&srv, &listen);
    // Enrolled with a settings file as the portal hands it out (ユーザー設定情報).
    let settings = dir.join("terminal.toml");
    let ca = std::fs::read_to_string(srv.join("server-ca.pem")).unwrap();
    std::fs::write(
        &settings,
        format!(
            "server = \"https://{listen}\"\naccount = \"{}\"\nname = \"受付PC\"\nserver_ca = \"\"\"\n{ca}\"\"\"\n",
            terminal["id"].as_str().unwrap()
        ),
    )
    .unwrap();
    let world = World {
        srv,
        app,
        card,
        listen,
        server,
    };
    (
        world,
        settings,
        terminal["code"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn pin_and_visual_checks_through_pcscd_write_the_expected_files() {
    if !cfg!(feature = "pcsc") {
        assert!(
            std::env::var_os("ONSHI_REQUIRE_VPCD").is_none(),
            "ONSHI_REQUIRE_VPCD is set, but onshi was built without the pcsc feature"
        );
        eprintln!("PC/SC app test skipped: built without the pcsc feature");
        return;
    }
    let Some(addr) = vpcd() else { return };
    let (addr, reader) = second_reader(&addr);

    let dir = tempfile::tempdir().unwrap();
    let World {
        app,
        card,
        server: _server,
        ..
    } = world(dir.path());

    // The card in the virtual reader, for every check below.
    let _card = insert(&["--card", s(&card)], &addr, reader);

    // PIN through pcscd, UTF-8 files: the answer as the staff read it.
    let out = verify(
        &app,
        reader,
        "utf-8",
        &["--mode", "pin"],
        &format!("{PIN}\n"),
    );
    let text = valid(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("残り3回"), "{stderr}");
    for line in [
        "確認日\t令和8年4月1日",
        "資格有効性\t有効",
        "資格情報 1/1",
        "  保険者番号\t06139992（組）",
        "  保険者名\tサンプル健康保険組合",
        "  記号\t７７",
        "  番号\t８８",
        "  枝番\t01",
        "  氏名\t𠮷田　髙子",
        "  フリガナ\tﾖｼﾀﾞ ﾀｶｺ",
        "  生年月日\t昭和57年3月3日",
        "  性別\t女",
        "  証区分\t被保険者証（一般）",
        "  資格取得年月日\t令和5年4月1日",
        "  負担割合\t3割",
        "  給付割合\t7割",
        "  本人・家族の別\t家族",
        "  被保険者氏名\t𠮷田　一郎",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    assert!(!text.contains("注意"), "{text}");
    compare_check(&app, &text, "verify.utf8.stdout.txt", "utf8");

    // The same check as JSON: the service's answer, element names as in the result format.
    let out = verify(
        &app,
        reader,
        "utf-8",
        &["--mode", "pin", "--json"],
        &format!("{PIN}\n"),
    );
    let json = valid(&out);
    let answer: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(answer["QualificationValidity"], "1", "{json}");
    assert_eq!(answer["ResultList"][0]["Name"], "𠮷田　髙子", "{json}");
    let reference = answer["ReferenceNumber"].as_str().unwrap();
    compare(
        "verify.json",
        &placeholders(json.as_bytes(), &[(reference, "{{REFERENCE_NUMBER}}")]),
    );
    // Its files are the same as the text check's, but for the per-run values.
    let f = files_of(&app, reference);
    let known = [
        (reference, "{{REFERENCE_NUMBER}}"),
        (f.time.as_str(), "{{PROCESS_EXECUTION_TIME}}"),
    ];
    compare("rececon.utf8.xml", &placeholders(&f.xml, &known));
    compare("rececon.utf8.txt", &placeholders(&f.txt, &known));
    compare("rececon.json", &placeholders(&f.json, &known));

    // PIN, Shift_JIS files: 𠮷 written as 吉, said in the XML's header comment and to the staff.
    let out = verify(
        &app,
        reader,
        "shift_jis",
        &["--mode", "pin"],
        &format!("{PIN}\n"),
    );
    let text = valid(&out);
    for line in [
        "  注意: InsuredNameの「𠮷」は Shift_JIS にないため「吉」と書きました。申請書では正しい字に直してください。",
        "  注意: Nameの「𠮷」は Shift_JIS にないため「吉」と書きました。申請書では正しい字に直してください。",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    assert_eq!(text.matches("注意").count(), 2, "{text}");
    compare_check(&app, &text, "verify.sjis.stdout.txt", "sjis");
    let xml = files_of(&app, &reference_in(&text)).xml;
    let comment =
        b"<!-- onshi: U+20BB7\x81\xa8\x8bg (InsuredName), U+20BB7\x81\xa8\x8bg (Name) -->";
    assert!(
        xml.windows(comment.len()).any(|w| w == comment),
        "{}",
        String::from_utf8_lossy(&xml)
    );

    // 目視 through pcscd: refused without the staff's confirmation (nothing is asked or
    // written), answered with it; its files are the same as the PIN check's.
    let before = std::fs::read_dir(app.join("rececon")).unwrap().count();
    let out = verify(&app, reader, "utf-8", &["--mode", "visual"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_dir(app.join("rececon")).unwrap().count(),
        before
    );
    let out = verify(
        &app,
        reader,
        "utf-8",
        &["--mode", "visual", "--confirm-photo"],
        "",
    );
    let text = valid(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("暗証番号"));
    compare_check(&app, &text, "verify.utf8.stdout.txt", "utf8");

    // Four answered checks, three files each, nothing else in the folder.
    let names: Vec<String> = std::fs::read_dir(app.join("rececon"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 12, "{names:?}");
    let history = ok(&["app", "history", "--data", s(&app)]);
    assert_eq!(history.matches("暗証番号\t有効").count(), 3, "{history}");
    assert_eq!(history.matches("目視\t有効").count(), 1, "{history}");
}
