//! The output folder: names, atomic writes, encodings of the written files.

use onshi_rececon::{file_name, file_stem, write_all, Encoding};

use super::sample::{check, eligibility, lost, two};

#[test]
fn file_name_fits_every_reader_pattern() {
    let e = eligibility();
    let c = check(&e);
    let part = c.parts()[0];
    let name = file_name(&part);
    assert_eq!(
        name,
        "OQSsiquc01res_face_1312345678-2025040100300500000123_20250401093005.xml"
    );
    let e2 = two();
    let c2 = check(&e2);
    let names: Vec<String> = c2.parts().iter().map(file_name).collect();
    assert_eq!(
        names,
        [
            "OQSsiquc01res_face_1312345678-2025040100300500000123-1_20250401093005.xml",
            "OQSsiquc01res_face_1312345678-2025040100300500000123-2_20250401093005.xml",
        ]
    );
    for name in names.iter().chain([&name]) {
        // OQSsiquc01res_*.xml
        assert!(name.starts_with("OQSsiquc01res_") && name.ends_with(".xml"));
        // OQSsiquc01res_face_.+_(\d{14})\.xml
        let rest = name
            .strip_prefix("OQSsiquc01res_face_")
            .unwrap()
            .strip_suffix(".xml")
            .unwrap();
        let (id, time) = rest.rsplit_once('_').unwrap();
        assert!(!id.is_empty() && !id.contains('_'));
        assert_eq!(time.len(), 14);
        assert!(time.bytes().all(|b| b.is_ascii_digit()));
    }
    assert_eq!(format!("{}.xml", file_stem(&part)), name);
}

#[test]
fn atomic_write_leaves_no_temp_files_and_creates_the_folder() {
    let e = eligibility();
    let c = check(&e);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("rececon/out");
    let w = write_all(&dir, &c, Encoding::ShiftJis).unwrap();
    let stem = file_stem(&c.parts()[0]);
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
    assert_eq!(w.paths().len(), 3);
    // Written again (a re-check of the same second), the files are replaced in place.
    write_all(&dir, &c, Encoding::ShiftJis).unwrap();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
}

#[test]
fn two_records_two_xml_two_texts_one_json() {
    let e = two();
    let dir = tempfile::tempdir().unwrap();
    let w = write_all(dir.path(), &check(&e), Encoding::Utf8).unwrap();
    assert_eq!(w.xml.len(), 2);
    assert!(w.text.iter().all(Option::is_some));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 5);
}

#[test]
fn a_lost_qualification_has_no_text_file() {
    let e = lost();
    let dir = tempfile::tempdir().unwrap();
    let w = write_all(dir.path(), &check(&e), Encoding::Utf8).unwrap();
    assert_eq!(w.text, [None]);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| !n.ends_with(".txt")));
}

#[test]
fn shift_jis_text_and_utf8_json() {
    let e = eligibility();
    let c = check(&e);
    let dir = tempfile::tempdir().unwrap();
    let w = write_all(dir.path(), &c, Encoding::ShiftJis).unwrap();
    let txt = std::fs::read(w.text[0].as_ref().unwrap()).unwrap();
    let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&txt);
    assert!(!errors);
    assert!(text.contains("氏名\t吉田\u{3000}髙子\r\n"));
    let json = std::fs::read_to_string(&w.json).unwrap();
    assert!(json.contains("𠮷田\u{3000}髙子"));
    let fields: Vec<&str> = w.mapped.iter().map(|m| m.field).collect();
    assert_eq!(fields, ["InsuredName", "Name", "Address"]);
}
