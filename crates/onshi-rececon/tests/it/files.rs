//! The output folder: names, atomic writes, encodings of the written files.

use onshi_rececon::{file_name, file_stem, write_all, Encoding};

use super::sample::{check, eligibility};

#[test]
fn file_name_fits_every_reader_pattern() {
    let e = eligibility();
    let c = check(&e);
    let name = file_name(&c);
    assert_eq!(
        name,
        "OQSsiquc01res_face_1312345678-2025040100300500000123_20250401093005.xml"
    );
    // OQSsiquc01res_*.xml
    assert!(name.starts_with("OQSsiquc01res_") && name.ends_with(".xml"));
    // OQSsiquc01res_face_.+_(\d{14})\.xml
    let rest = name
        .strip_prefix("OQSsiquc01res_face_")
        .unwrap()
        .strip_suffix(".xml")
        .unwrap();
    let (id, time) = rest.rsplit_once('_').unwrap();
    assert!(!id.is_empty());
    assert_eq!(time.len(), 14);
    assert!(time.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(format!("{}.xml", file_stem(&c)), name);
}

#[test]
fn atomic_write_leaves_no_temp_files_and_creates_the_folder() {
    let e = eligibility();
    let c = check(&e);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("rececon/out");
    let w = write_all(&dir, &c, Encoding::ShiftJis).unwrap();
    let stem = file_stem(&c);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{stem}.json"),
            format!("{stem}.txt"),
            format!("{stem}.xml")
        ]
    );
    assert_eq!(w.paths.len(), 3);
    // Written again (a re-check of the same second), the files are replaced in place.
    write_all(&dir, &c, Encoding::ShiftJis).unwrap();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
}

#[test]
fn shift_jis_text_and_utf8_json() {
    let e = eligibility();
    let c = check(&e);
    let dir = tempfile::tempdir().unwrap();
    let w = write_all(dir.path(), &c, Encoding::ShiftJis).unwrap();
    let txt = std::fs::read(&w.paths[1]).unwrap();
    let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&txt);
    assert!(!errors);
    assert!(text.contains("氏名\t吉田\u{3000}髙子\r\n"));
    let json = std::fs::read_to_string(&w.paths[2]).unwrap();
    assert!(json.contains("𠮷田\u{3000}髙子"));
    let fields: Vec<&str> = w.mapped.iter().map(|m| m.field).collect();
    assert_eq!(fields, ["InsuredName", "Name", "Address"]);
}
