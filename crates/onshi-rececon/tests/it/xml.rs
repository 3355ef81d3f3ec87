//! The result XML read back with quick-xml: element order, values, encodings, mappings.

use onshi_model::QualificationValidity;
use onshi_rececon::{xml, Encoding, Mapped, RececonError};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::sample::{check, eligibility, record};

/// (path, text) of every element with text, in document order.
fn leaves(text: &str) -> Vec<(String, String)> {
    let mut r = Reader::from_str(text);
    r.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    loop {
        match r.read_event().unwrap() {
            Event::Start(s) => path.push(String::from_utf8(s.name().as_ref().to_vec()).unwrap()),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => out.push((path.join("/"), t.decode().unwrap().into_owned())),
            Event::GeneralRef(g) => {
                let name = String::from_utf8(g.to_vec()).unwrap();
                let ch = match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "apos" => "'",
                    "quot" => "\"",
                    _ => panic!("{name}"),
                };
                let p = path.join("/");
                match out.last_mut() {
                    Some((lp, v)) if *lp == p => v.push_str(ch),
                    _ => out.push((p, ch.to_owned())),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn names_under(leaves: &[(String, String)], prefix: &str) -> Vec<String> {
    leaves
        .iter()
        .filter_map(|(p, _)| p.strip_prefix(prefix).map(str::to_owned))
        .collect()
}

fn value<'a>(leaves: &'a [(String, String)], path: &str) -> &'a str {
    &leaves
        .iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{path}"))
        .1
}

const R: &str = "XmlMsg/MessageBody/ResultList/ResultOfQualificationConfirmation/";

#[test]
fn utf8_order_and_values() {
    let e = eligibility();
    let out = xml(&check(&e), Encoding::Utf8).unwrap();
    assert!(out.mapped.is_empty());
    let text = String::from_utf8(out.bytes).unwrap();
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<XmlMsg>")
    );
    let l = leaves(&text);
    assert_eq!(
        names_under(&l, "XmlMsg/MessageHeader/"),
        [
            "ProcessExecutionTime",
            "QualificationConfirmationDate",
            "MedicalInstitutionCode",
            "ReferenceClassification",
            "SegmentOfResult",
            "CharacterCodeIdentifier"
        ]
    );
    assert_eq!(
        value(&l, "XmlMsg/MessageHeader/ProcessExecutionTime"),
        "20250401093005"
    );
    assert_eq!(
        value(&l, "XmlMsg/MessageHeader/QualificationConfirmationDate"),
        "20250401"
    );
    assert_eq!(
        value(&l, "XmlMsg/MessageHeader/MedicalInstitutionCode"),
        "1312345678"
    );
    assert_eq!(
        value(&l, "XmlMsg/MessageHeader/ReferenceClassification"),
        "1"
    );
    assert_eq!(value(&l, "XmlMsg/MessageHeader/SegmentOfResult"), "1");
    assert_eq!(
        value(&l, "XmlMsg/MessageHeader/CharacterCodeIdentifier"),
        "0"
    );
    assert_eq!(
        names_under(&l, "XmlMsg/MessageBody/")[..2],
        ["ProcessingResultStatus", "QualificationValidity"]
    );
    assert_eq!(
        names_under(&l, R),
        [
            "InsuredCardClassification",
            "InsurerNumber",
            "InsuredCardSymbol",
            "InsuredIdentificationNumber",
            "InsuredBranchNumber",
            "PersonalFamilyClassification",
            "InsuredName",
            "Name",
            "NameKana",
            "Sex1",
            "Birthdate",
            "Address",
            "PostNumber",
            "QualificationDate",
            "InsuredPartialContributionRatio",
            "InsurerName",
            "ElderlyRecipientCertificateInfo/ElderlyRecipientCertificateDate",
            "ElderlyRecipientCertificateInfo/ElderlyRecipientValidStartDate",
            "ElderlyRecipientCertificateInfo/ElderlyRecipientValidEndDate",
            "ElderlyRecipientCertificateInfo/ElderlyRecipientContributionRatio",
            "ReferenceNumber",
        ]
    );
    let v = |n: &str| value(&l, &format!("{R}{n}")).to_owned();
    assert_eq!(v("InsurerNumber"), "138057");
    assert_eq!(v("InsuredIdentificationNumber"), "１２３‐４５");
    assert_eq!(v("InsuredBranchNumber"), "00");
    assert_eq!(v("Name"), "𠮷田\u{3000}髙子");
    assert_eq!(v("NameKana"), "ﾖｼﾀﾞ ﾀｶｺ");
    assert_eq!(v("Sex1"), "2");
    assert_eq!(v("Birthdate"), "19530510");
    assert_eq!(v("InsuredPartialContributionRatio"), "020");
    assert_eq!(
        v("ElderlyRecipientCertificateInfo/ElderlyRecipientValidEndDate"),
        "20250731"
    );
    assert_eq!(
        v("ElderlyRecipientCertificateInfo/ElderlyRecipientContributionRatio"),
        "020"
    );
    assert_eq!(v("ReferenceNumber"), "2025040100300500000123");
}

#[test]
fn shift_jis_declaration_code_and_mappings() {
    let e = eligibility();
    let out = xml(&check(&e), Encoding::ShiftJis).unwrap();
    let (text, _, had_errors) = encoding_rs::SHIFT_JIS.decode(&out.bytes);
    assert!(!had_errors);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("<?xml version=\"1.0\" encoding=\"Shift_JIS\" standalone=\"no\"?>")
    );
    assert_eq!(
        lines.next(),
        Some("<!-- onshi: U+20BB7\u{2192}吉 (InsuredName), U+20BB7\u{2192}吉 (Name), U+2123D\u{2192}土 (Address) -->")
    );
    assert!(!text.contains('●'));
    assert_eq!(text.matches('?').count(), 2, "only the declaration's");
    let l = leaves(&text);
    assert_eq!(
        value(&l, "XmlMsg/MessageHeader/CharacterCodeIdentifier"),
        "1"
    );
    assert_eq!(value(&l, &format!("{R}Name")), "吉田\u{3000}髙子");
    assert_eq!(value(&l, &format!("{R}NameKana")), "ﾖｼﾀﾞ ﾀｶｺ");
    assert_eq!(
        out.mapped,
        [
            Mapped {
                original: '\u{20BB7}',
                replacement: '吉',
                field: "InsuredName"
            },
            Mapped {
                original: '\u{20BB7}',
                replacement: '吉',
                field: "Name"
            },
            Mapped {
                original: '\u{2123D}',
                replacement: '土',
                field: "Address"
            },
        ]
    );
    // Half-width kana are single bytes in Shift_JIS.
    assert!(out.bytes.windows(4).any(|w| w == [0xD6, 0xBC, 0xC0, 0xDE]));
}

#[test]
fn unknown_characters_become_geta_and_are_reported() {
    let mut r = record();
    r.insurer_name = onshi_model::InsurerName::parse("𩸽町").unwrap();
    let e = onshi_model::Eligibility {
        validity: QualificationValidity::VALID,
        records: vec![r],
    };
    let out = xml(&check(&e), Encoding::ShiftJis).unwrap();
    let (text, _, _) = encoding_rs::SHIFT_JIS.decode(&out.bytes);
    assert!(text.contains("<InsurerName>〓町</InsurerName>"));
    assert!(out
        .mapped
        .iter()
        .any(|m| m.field == "InsurerName" && m.is_geta()));
    assert!(text.contains("U+29E3D\u{2192}〓 (InsurerName)"));
}

#[test]
fn no_record_and_error_fields() {
    let e = onshi_model::Eligibility::not_found();
    let mut c = check(&e);
    c.processing_result_status = "2";
    c.processing_result_code = Some("EQ0001");
    c.processing_result_message = Some("該当資格なし<&>");
    let text = String::from_utf8(xml(&c, Encoding::Utf8).unwrap().bytes).unwrap();
    assert!(text.contains("&lt;&amp;&gt;"));
    let l = leaves(&text);
    assert_eq!(
        names_under(&l, "XmlMsg/MessageBody/"),
        [
            "ProcessingResultStatus",
            "ProcessingResultCode",
            "ProcessingResultMessage",
            "QualificationValidity"
        ]
    );
    assert_eq!(
        value(&l, "XmlMsg/MessageBody/ProcessingResultMessage"),
        "該当資格なし<&>"
    );
    assert_eq!(value(&l, "XmlMsg/MessageBody/QualificationValidity"), "4");
}

#[test]
fn several_records_each_get_an_element() {
    let mut second = record();
    second.elderly = None;
    second.branch = onshi_model::InsuredBranchNumber::parse("01").unwrap();
    let e = onshi_model::Eligibility {
        validity: QualificationValidity::VALID,
        records: vec![record(), second],
    };
    let text = String::from_utf8(xml(&check(&e), Encoding::Utf8).unwrap().bytes).unwrap();
    assert_eq!(
        text.matches("<ResultOfQualificationConfirmation>").count(),
        2
    );
    assert_eq!(text.matches("<ElderlyRecipientCertificateInfo>").count(), 1);
}

#[test]
fn bad_header_values_are_refused() {
    let e = eligibility();
    let mut c = check(&e);
    c.institution_code = "12345";
    assert!(matches!(
        xml(&c, Encoding::Utf8),
        Err(RececonError::BadValue {
            field: "MedicalInstitutionCode",
            ..
        })
    ));
    // A ReferenceNumber is parsed before it gets here: `../x` cannot even be made.
    assert!(onshi_model::ReferenceNumber::parse("../x").is_err());
}
