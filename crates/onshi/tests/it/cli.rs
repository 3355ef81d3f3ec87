//! The commands as a user runs them.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

pub fn onshi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(args)
        .env_remove("ONSHI_DATA")
        .env_remove("ONSHI_DATABASE")
        .output()
        .unwrap()
}

pub fn ok(args: &[&str]) -> String {
    let out = onshi(args);
    assert!(
        out.status.success(),
        "onshi {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Generates and imports a small synthetic feed; returns (data dir, feed dir).
pub fn imported(dir: &Path, persons: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let feed = dir.join("feed");
    let data = dir.join("data");
    ok(&[
        "gen",
        "--persons",
        persons,
        "--seed",
        "7",
        "--out",
        s(&feed),
    ]);
    ok(&[
        "import",
        "persons",
        s(&feed.join("persons.csv")),
        "--data",
        s(&data),
    ]);
    ok(&[
        "import",
        "eligibility",
        s(&feed.join("eligibility.csv")),
        "--data",
        s(&data),
    ]);
    (data, feed)
}

#[test]
fn gen_import_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let (data, feed) = imported(dir.path(), "300");
    // A re-import stores nothing new.
    let again = ok(&[
        "import",
        "eligibility",
        s(&feed.join("eligibility.csv")),
        "--data",
        s(&data),
    ]);
    assert!(again.contains("登録・更新 0 行"), "{again}");
    let text = ok(&[
        "lookup",
        "--data",
        s(&data),
        "--person",
        "P0000000001",
        "--date",
        "20260401",
    ]);
    assert!(text.contains("確認日\t令和8年4月1日"), "{text}");
    assert!(text.contains("資格有効性\t"), "{text}");
    let json = ok(&[
        "lookup",
        "--data",
        s(&data),
        "--person",
        "P0000000001",
        "--date",
        "20260401",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["QualificationValidity"], "1", "{json}");
    let r = &v["ResultList"][0];
    for element in [
        "InsurerNumber",
        "InsuredIdentificationNumber",
        "InsuredBranchNumber",
        "Name",
        "NameKana",
        "Birthdate",
        "QualificationDate",
        "InsurerName",
    ] {
        assert!(r.get(element).is_some(), "{element} missing: {json}");
    }
    // The same person through the card's numbers.
    let mut args = vec!["lookup", "--data", s(&data), "--date", "20260401", "--json"];
    let insurer = r["InsurerNumber"].as_str().unwrap().to_owned();
    let number = r["InsuredIdentificationNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    let branch = r["InsuredBranchNumber"].as_str().unwrap().to_owned();
    let birth = r["Birthdate"].as_str().unwrap().to_owned();
    let symbol = r
        .get("InsuredCardSymbol")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    args.extend([
        "--insurer",
        &insurer,
        "--number",
        &number,
        "--branch",
        &branch,
        "--birth",
        &birth,
    ]);
    if let Some(symbol) = &symbol {
        args.extend(["--symbol", symbol.as_str()]);
    }
    let by_key: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(by_key["QualificationValidity"], "1");
    assert_eq!(by_key["ResultList"][0]["Name"], r["Name"]);
    let nobody = ok(&[
        "lookup",
        "--data",
        s(&data),
        "--person",
        "P9999999999",
        "--json",
    ]);
    assert!(
        nobody.contains("\"QualificationValidity\": \"4\""),
        "{nobody}"
    );
}

#[test]
fn gen_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    for out in ["a", "b"] {
        ok(&[
            "gen",
            "--persons",
            "200",
            "--seed",
            "3",
            "--out",
            s(&dir.path().join(out)),
        ]);
    }
    for file in ["persons.csv", "eligibility.csv"] {
        let a = std::fs::read(dir.path().join("a").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("b").join(file)).unwrap();
        assert_eq!(a, b, "{file}");
    }
}

#[test]
fn a_bad_file_changes_nothing_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let (data, feed) = imported(dir.path(), "50");
    let before = ok(&[
        "lookup",
        "--data",
        s(&data),
        "--person",
        "P0000000001",
        "--date",
        "20260401",
        "--json",
    ]);
    let text = std::fs::read_to_string(feed.join("eligibility.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Line 2 changes a name (an update if it landed); line 3 has a date that does not exist.
    let header: Vec<String> = lines[0].split(',').map(str::to_owned).collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut edit = |line: usize, column: usize, value: &str| {
        let mut fields: Vec<String> = lines[line].split(',').map(str::to_owned).collect();
        fields[column] = value.to_owned();
        lines[line] = fields.join(",");
    };
    edit(1, at("Address"), "変更された住所");
    edit(2, at("QualificationDate"), "20230230");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = onshi(&["import", "eligibility", s(&bad), "--data", s(&data)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("何も取り込みませんでした"), "{stderr}");
    assert!(stderr.contains("3行目"), "{stderr}");
    let after = ok(&[
        "lookup",
        "--data",
        s(&data),
        "--person",
        "P0000000001",
        "--date",
        "20260401",
        "--json",
    ]);
    assert_eq!(before, after);
}

#[test]
fn demo_runs_on_a_fresh_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let args = ["demo", "--data", s(&data), "--persons", "200"];
    let out = ok(&args);
    for heading in [
        "■ 暗証番号で確認",
        "■ 目視で確認",
        "■ 暗証番号の間違い",
        "■ 有効な資格がない人",
        "■ 失効したカード",
        "■ レセコン向けに書き出したファイル",
        "■ クリップボード用テキスト",
        "■ 次に試すこと",
    ] {
        assert!(out.contains(heading), "{heading}: {out}");
    }
    assert!(out.contains("資格有効性\t有効"), "{out}");
    assert!(out.contains("資格有効性\t無効"), "{out}");
    assert!(out.contains("暗証番号が違います"), "{out}");
    assert!(out.contains("失効"), "{out}");
    let rececon = data.join("app").join("rececon");
    let names: Vec<String> = std::fs::read_dir(&rececon)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for ext in [".xml", ".txt", ".json"] {
        let f = names.iter().find(|n| n.ends_with(ext)).unwrap();
        assert!(out.contains(f.as_str()), "{f}: {out}");
    }
    // A rerun starts from scratch; a directory the demo did not make is left alone.
    ok(&args);
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let out = onshi(&["demo", "--data", s(&other)]);
    assert!(!out.status.success());
    assert!(other.join("keep.txt").exists());
}
