//! The output files of every fixture person, byte for byte against `tests/expected/`, in UTF-8
//! and Shift_JIS. `ONSHI_BLESS=1 cargo test -p onshi-rececon` rewrites them (review the diff by
//! eye); a file that should not exist (the clipboard text of a 無効 answer) is checked absent.

use std::path::PathBuf;

use onshi_rececon::{clipboard_text, file_stem, json, text_file, write_all, xml, Encoding};

use super::sample::{check, people};

fn expected(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(name)
}

fn compare(name: &str, actual: Option<&[u8]>) {
    let path = expected(name);
    if std::env::var_os("ONSHI_BLESS").is_some() {
        match actual {
            Some(a) => std::fs::write(&path, a).unwrap(),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    match actual {
        Some(actual) => {
            let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(want == actual, "{name} differs from {}", path.display());
        }
        None => assert!(!path.exists(), "{} should not exist", path.display()),
    }
}

#[test]
fn every_person_matches_the_expected_files() {
    for (who, e) in people() {
        let c = check(&e);
        for part in c.parts() {
            let name = match part.number {
                Some(n) => format!("{who}-{n}"),
                None => who.to_owned(),
            };
            for (enc, tag) in [(Encoding::Utf8, "utf8"), (Encoding::ShiftJis, "sjis")] {
                compare(
                    &format!("{name}.{tag}.xml"),
                    Some(&xml(&part, enc).unwrap().bytes),
                );
                compare(
                    &format!("{name}.{tag}.txt"),
                    text_file(&part, enc).unwrap().as_deref(),
                );
            }
        }
        compare(&format!("{who}.json"), Some(json(&c).as_bytes()));
    }
}

#[test]
fn written_files_equal_the_functions() {
    for (who, e) in people() {
        let c = check(&e);
        let dir = tempfile::tempdir().unwrap();
        let w = write_all(dir.path(), &c, Encoding::ShiftJis).unwrap();
        let parts = c.parts();
        assert_eq!(w.xml.len(), parts.len(), "{who}");
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(
                w.xml[i],
                dir.path().join(format!("{}.xml", file_stem(part)))
            );
            assert_eq!(
                std::fs::read(&w.xml[i]).unwrap(),
                xml(part, Encoding::ShiftJis).unwrap().bytes
            );
            assert_eq!(
                w.text[i].as_ref().map(|p| std::fs::read(p).unwrap()),
                text_file(part, Encoding::ShiftJis).unwrap(),
                "{who}"
            );
            assert_eq!(w.text[i].is_some(), clipboard_text(part).is_some());
        }
        assert_eq!(std::fs::read(&w.json).unwrap(), json(&c).into_bytes());
        // Nothing else in the folder: no temporary file left, no text for a 無効 answer.
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            w.paths().len(),
            "{who}"
        );
    }
}
