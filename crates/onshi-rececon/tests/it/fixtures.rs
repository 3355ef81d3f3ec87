//! The output files of the sample, byte for byte against `tests/expected/`.
//! `ONSHI_BLESS=1 cargo test -p onshi-rececon` rewrites them (review the diff by eye).

use std::path::PathBuf;

use onshi_rececon::{clipboard_text, file_stem, json, write_all, xml, Encoding};

use super::sample::{check, eligibility};

fn expected(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(name)
}

fn compare(name: &str, actual: &[u8]) {
    let path = expected(name);
    if std::env::var_os("ONSHI_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(want == actual, "{name} differs from {}", path.display());
}

#[test]
fn utf8_files_match() {
    let e = eligibility();
    let c = check(&e);
    compare("sample.utf8.xml", &xml(&c, Encoding::Utf8).unwrap().bytes);
    compare("sample.utf8.txt", clipboard_text(&c).as_bytes());
    compare("sample.json", json(&c).as_bytes());
}

#[test]
fn shift_jis_files_match() {
    let e = eligibility();
    let c = check(&e);
    compare(
        "sample.sjis.xml",
        &xml(&c, Encoding::ShiftJis).unwrap().bytes,
    );
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &c, Encoding::ShiftJis).unwrap();
    let txt = std::fs::read(dir.path().join(format!("{}.txt", file_stem(&c)))).unwrap();
    compare("sample.sjis.txt", &txt);
}

#[test]
fn written_files_equal_the_functions() {
    let e = eligibility();
    let c = check(&e);
    let dir = tempfile::tempdir().unwrap();
    let w = write_all(dir.path(), &c, Encoding::Utf8).unwrap();
    assert_eq!(
        std::fs::read(&w.paths[0]).unwrap(),
        xml(&c, Encoding::Utf8).unwrap().bytes
    );
    assert_eq!(
        std::fs::read(&w.paths[1]).unwrap(),
        clipboard_text(&c).into_bytes()
    );
    assert_eq!(std::fs::read(&w.paths[2]).unwrap(), json(&c).into_bytes());
    assert!(w.mapped.is_empty());
}
