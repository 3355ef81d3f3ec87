//! The wrong-link guard end to end, with the real binary: `onshi gen --wrong-links` and the
//! import catch every planted link and hold no right one; at the desk, a held card is answered
//! with no records and the Japanese message (E012), and a card pointed at its person again is
//! answered with the W004 warning, on the command line and in the receipt-computer files.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use super::app_pcsc::{world, World, PERSON};
use super::cli::{ok, s};

/// `onshi app verify` (目視) with the world's card: (exit code, stdout, stderr).
fn check(app: &std::path::Path, card: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(["app", "verify", "--data", s(app), "--reader"])
        .arg(format!("emu:{}", s(card)))
        .args(["--mode", "visual", "--confirm-photo", "--date", "20260401"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn gen_plants_wrong_links_and_the_import_catches_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let (jlis, srv, feed) = (
        dir.path().join("jlis"),
        dir.path().join("srv"),
        dir.path().join("feed"),
    );
    ok(&["jlis", "init", "--dir", s(&jlis)]);
    ok(&[
        "server",
        "init",
        "--data",
        s(&srv),
        "--jpki-ca",
        s(&jlis.join("ca.pem")),
    ]);
    let made = ok(&[
        "gen",
        "--persons",
        "3000",
        "--wrong-links",
        "1%",
        "--out",
        s(&feed),
    ]);
    assert!(made.contains("誤ったひも付けを"), "{made}");
    for kind in ["persons", "eligibility"] {
        ok(&[
            "import",
            kind,
            s(&feed.join(format!("{kind}.csv"))),
            "--data",
            s(&srv),
        ]);
    }
    let report = dir.path().join("report.csv");
    let out = ok(&[
        "import",
        "card-links",
        "--data",
        s(&srv),
        s(&feed.join("issued.csv")),
        "--report",
        s(&report),
        "--planted",
        s(&feed.join("planted-wrong-links.csv")),
    ]);
    eprintln!("{out}");
    let planted = std::fs::read_to_string(feed.join("planted-wrong-links.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(planted > 10, "{planted} planted");
    assert!(
        out.contains(&format!(
            "仕込んだ誤り {planted} 件、保留で捕捉 {planted} 件、誤って保留 0 件"
        )),
        "{out}"
    );
    let report = std::fs::read_to_string(&report).unwrap();
    assert!(report.starts_with("Line,Serial,Issuer,PersonId,Status,Differences\n"));
    assert_eq!(
        report
            .lines()
            .filter(|l| l.contains("保留（本人と一致しない）"))
            .count(),
        planted
    );
    // The operator's list, as JSON: the held ones first.
    let review: serde_json::Value = serde_json::from_str(&ok(&[
        "admin",
        "links",
        "review",
        "--data",
        s(&srv),
        "--json",
    ]))
    .unwrap();
    assert_eq!(review["counts"]["held"], planted as u64, "{review}");
    assert_eq!(review["links"][0]["status"], "held");
}

#[test]
fn a_held_card_answers_nothing_and_a_corrected_one_warns() {
    let dir = tempfile::tempdir().unwrap();
    let World {
        srv,
        app,
        card,
        server: _server,
        ..
    } = world(dir.path());
    // A second person, and the card's issue record pointing at them (a wrong 個人番号).
    let other = dir.path().join("other.csv");
    std::fs::write(
        &other,
        "PersonId,Name,NameKana,Birthdate,Sex1,Address\n\
         P0000000778,佐藤　一郎,サトウ　イチロウ,19500101,1,東京都千代田区霞が関１－２－２\n",
    )
    .unwrap();
    ok(&["import", "persons", s(&other), "--data", s(&srv)]);
    let issued = std::fs::read_to_string(dir.path().join("jlis").join("issued.csv")).unwrap();
    let wrong = dir.path().join("wrong.csv");
    std::fs::write(&wrong, issued.replace(PERSON, "P0000000778")).unwrap();
    let out = ok(&["import", "card-links", "--data", s(&srv), s(&wrong)]);
    assert!(out.contains("保留 1（回答しない）"), "{out}");

    let (code, stdout, stderr) = check(&app, &card);
    assert_ne!(code, Some(0), "{stdout}{stderr}");
    let said = format!("{stdout}{stderr}");
    assert!(
        said.contains(
            "このカードの登録内容を保険者が確認中です。資格確認書などの番号で確認してください。"
        ),
        "{said}"
    );
    assert!(
        !said.contains("佐藤"),
        "another person's name shown: {said}"
    );

    // The authority's own record again: answered, with the warning to compare the patient.
    let out = ok(&[
        "import",
        "card-links",
        "--data",
        s(&srv),
        s(&dir.path().join("jlis").join("issued.csv")),
    ]);
    assert!(out.contains("一致 1"), "{out}");
    let (code, stdout, stderr) = check(&app, &card);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("ひも付けが最近変更されました"), "{stdout}");
    let rececon = app.join("rececon");
    let warned = std::fs::read_dir(&rececon)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .any(|p| {
            String::from_utf8_lossy(&std::fs::read(p).unwrap())
                .contains("<ProcessingResultCode>W004</ProcessingResultCode>")
        });
    assert!(warned, "no XML file carries W004 in {}", rececon.display());
}
