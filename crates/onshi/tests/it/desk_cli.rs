//! The desk's answers on the command line, end to end through the real service: 利用登録 on the
//! spot (`onshi app verify --mode pin --register`), the check by numbers (`onshi app query`), and
//! every answer's verdict and next step printed before the answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::app_pcsc::{issue_card, world, World, PERSON, PIN};
use super::cli::{ok, s};

const VISIT: &str = "20260401";

/// `onshi app ARGS` with `stdin` as the desk's input.
fn app(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .arg("app")
        .args(args)
        .env_remove("ONSHI_APP_DATA")
        .env_remove("ONSHI_APP_SERVER")
        .env_remove("ONSHI_APP_RECECON_OUTPUT")
        .env_remove("ONSHI_APP_RECECON_ENCODING")
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

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A second card for the world's person, linked but not registered for health-insurance use
/// (利用登録 not done).
pub(super) fn unregistered_card(dir: &Path, srv: &Path) -> PathBuf {
    let jlis = dir.join("jlis");
    let card = dir.join("unregistered-card.json");
    issue_card(&jlis, &card);
    // The first card stays registered (a link once registered stays so); the new one is not.
    ok(&[
        "import",
        "card-links",
        "--unregistered",
        "--data",
        s(srv),
        s(&jlis.join("issued.csv")),
    ]);
    card
}

fn files(app: &Path) -> usize {
    std::fs::read_dir(app.join("rececon"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn an_unregistered_card_is_registered_on_the_spot_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let World {
        srv,
        app: data,
        server: _server,
        ..
    } = world(dir.path());
    let card = unregistered_card(dir.path(), &srv);
    let reader = format!("emu:{}", s(&card));
    let verify = |extra: &[&str], stdin: &str| {
        let mut args = vec![
            "verify",
            "--data",
            s(&data),
            "--reader",
            &reader,
            "--date",
            VISIT,
        ];
        args.extend_from_slice(extra);
        app(&args, stdin)
    };

    // The check says 未登録 plainly, with what to do next; no contradiction in the verdict.
    let out = verify(&["--mode", "pin"], &format!("{PIN}\n"));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("判定\t利用登録がされていません\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("有効ではありません"), "{stdout}");
    assert!(stdout.contains("同意"), "{stdout}");
    assert!(stdout.contains("--mode pin --register"), "{stdout}");
    // An unregistered card shows no record: nothing for the receipt computer but the answer.
    let before = files(&data);

    // 利用登録 needs PIN mode.
    let out = verify(&["--mode", "visual", "--confirm-photo", "--register"], "");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out).1);
    assert!(text(&out).1.contains("--mode pin"), "{}", text(&out).1);

    // Registered on the spot: a new challenge, the PIN again, the answer with the records.
    let out = verify(&["--mode", "pin", "--register"], &format!("{PIN}\n"));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("利用登録"), "{stderr}");
    assert!(stdout.starts_with("判定\t資格は有効です\n"), "{stdout}");
    assert!(stdout.contains("氏名\t𠮷田　髙子"), "{stdout}");
    assert_eq!(files(&data), before + 3, "the three files of the answer");

    // From now on the card is registered: a plain check answers 有効.
    let out = verify(&["--mode", "pin", "--json"], &format!("{PIN}\n"));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["QualificationValidity"], "1");
    // With --json, the verdict goes to standard error and the JSON stays alone on stdout.
    assert!(stderr.contains("判定\t資格は有効です"), "{stderr}");

    // The history says which was the registration.
    let history = ok(&["app", "history", "--data", s(&data)]);
    assert!(history.contains("利用登録（暗証番号）"), "{history}");
}

#[test]
fn a_check_by_numbers_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let World {
        app: data,
        server: _server,
        ..
    } = world(dir.path());
    let query = |extra: &[&str]| {
        let mut args = vec!["query", "--data", s(&data), "--date", VISIT];
        args.extend_from_slice(extra);
        app(&args, "")
    };
    let numbers = |birth: &'static str| {
        vec![
            "--insurer",
            "06139992",
            "--symbol",
            "77",
            "--number",
            "88",
            "--branch",
            "01",
            "--birth",
            birth,
        ]
    };

    // Half-width 記号・番号 typed, sent as the full-width ones issued; 西暦 birth date.
    let out = query(&numbers("19820303"));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("判定\t資格は有効です\n"), "{stdout}");
    assert!(stdout.contains("保険者番号\t06139992（組）"), "{stdout}");
    assert!(stdout.contains("氏名\t𠮷田　髙子"), "{stdout}");
    let reference = stdout
        .lines()
        .find_map(|l| l.strip_prefix("照会番号\t"))
        .unwrap()
        .to_owned();
    // The three receipt-computer files, as for a card; the XML says 被保険者証情報 (2).
    let written: Vec<String> = std::fs::read_dir(data.join("rececon"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(&reference))
        .collect();
    assert_eq!(written.len(), 3, "{written:?}");
    let xml = written.iter().find(|n| n.ends_with(".xml")).unwrap();
    let xml = std::fs::read_to_string(data.join("rececon").join(xml)).unwrap();
    assert!(
        xml.contains("<ReferenceClassification>2</ReferenceClassification>"),
        "{xml}"
    );

    // 和暦 birth date, no 枝番, JSON.
    let mut args = vec![
        "--insurer",
        "06139992",
        "--symbol",
        "７７",
        "--number",
        "８８",
        "--birth",
        "昭和57年3月3日",
        "--json",
    ];
    let out = query(&args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["QualificationValidity"], "1");
    assert_eq!(answer["ResultList"][0]["InsuredBranchNumber"], "01");
    args[7] = "S57.3.3";
    assert_eq!(query(&args).status.code(), Some(0));

    // Another birth date: 該当資格なし, exit 1, with what to compare.
    let out = query(&numbers("19820304"));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("判定\t該当する資格がありません\n"),
        "{stdout}"
    );
    assert!(stdout.contains("見比べて"), "{stdout}");

    // A mistyped insurer number: refused before asking, naming the check digit.
    let mut wrong = numbers("19820303");
    wrong[1] = "06139993";
    let out = query(&wrong);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("検証番号"), "{stderr}");
    let mut bad_birth = numbers("19820303");
    bad_birth[9] = "昭和57年";
    let out = query(&bad_birth);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out).1.contains("生年月日"), "{}", text(&out).1);

    // `app doctor` names the terminal as the portal lists it (from the settings file).
    let doctor = super::cli::onshi(&["app", "doctor", "--data", s(&data)]);
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(said.contains("✓ 端末: 受付PC（アカウント W"), "{said}");

    // The history records the checks by numbers as such.
    let history = ok(&["app", "history", "--data", s(&data)]);
    assert!(history.contains("\t番号\t"), "{history}");
}

#[test]
fn a_visit_recorded_unconfirmed_is_checked_again_without_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let World {
        srv,
        app: data,
        card,
        listen,
        server,
    } = world(dir.path());
    let reader = format!("emu:{}", s(&card));
    let held_files = || {
        std::fs::read_dir(data.join("held"))
            .map(|d| d.count())
            .unwrap_or(0)
    };

    // The service is down: the 目視 check is 未確認, and the card's certificate is kept,
    // encrypted, with its key beside the terminal's (both 0600).
    drop(server);
    let out = app(
        &[
            "verify",
            "--data",
            s(&data),
            "--reader",
            &reader,
            "--mode",
            "visual",
            "--confirm-photo",
            "--date",
            VISIT,
        ],
        "",
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("未確認"), "{stderr}");
    assert_eq!(held_files(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data.join("held.key")), 0o600);
        let file = std::fs::read_dir(data.join("held"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(mode(&file), 0o600);
    }
    let history = ok(&["app", "history", "--data", s(&data)]);
    assert!(history.contains("--held"), "{history}");

    // The patient has left with the card.
    std::fs::remove_file(&card).unwrap();
    let recheck = || app(&["recheck", "--data", s(&data), "--held"], "");
    // Still down: nothing changes, the certificate stays kept.
    let out = recheck();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).1);
    assert_eq!(held_files(), 1);

    // Back: checked again for the original visit date, without the card; the certificate gone.
    let _server = super::app::start_server(&srv, &listen);
    let out = recheck();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("令和8年4月1日（2026-04-01）の資格で確認し直しました"),
        "{stdout}"
    );
    assert!(stdout.contains("判定\t資格は有効です"), "{stdout}");
    assert_eq!(held_files(), 0);
    // Nothing left to re-check.
    let out = recheck();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out).1);
    let history = ok(&["app", "history", "--data", s(&data)]);
    assert!(history.contains("再確認済"), "{history}");
    // The service's audit says which visit was checked again.
    let audit = ok(&[
        "admin",
        "audit",
        "show",
        "--data",
        s(&srv),
        "--person",
        PERSON,
    ]);
    assert!(audit.contains("確認し直し（"), "{audit}");
}
