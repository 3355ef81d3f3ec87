//! The result XML read back with quick-xml: element order, values, encodings, mappings.

use onshi_model::codes::ProcessingResultStatus;
use onshi_model::QualificationValidity;
use onshi_rececon::{xml, CheckResult, Encoding, Mapped, Output, RececonError};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::sample::{check, eligibility, family, koki, record, two};

/// The XML of a check with at most one record.
fn one(c: &CheckResult<'_>, encoding: Encoding) -> Output {
    let parts = c.parts();
    assert_eq!(parts.len(), 1);
    xml(&parts[0], encoding).unwrap()
}

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
    let out = one(&check(&e), Encoding::Utf8);
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
            "CharacterCodeIdentifier",
            "SegmentOfResult",
            "QualificationConfirmationDate",
            "ReferenceClassification",
            "ArbitraryFileIdentifier",
            "MedicalInstitutionCode",
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
        value(&l, "XmlMsg/MessageHeader/ArbitraryFileIdentifier"),
        "2025040100300500000123"
    );
    let body: Vec<String> = names_under(&l, "XmlMsg/MessageBody/")
        .into_iter()
        .filter(|n| !n.starts_with("ResultList/"))
        .collect();
    assert_eq!(body, ["ProcessingResultStatus", "QualificationValidity"]);
    // The samples' order: ResultList before ProcessingResultStatus.
    assert!(text.find("<ResultList>").unwrap() < text.find("<ProcessingResultStatus>").unwrap());
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
            "InsuredCertificateIssuanceDate",
            "InsuredCardValidDate",
            "InsuredCardExpirationDate",
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
    assert_eq!(v("InsuredCardValidDate"), "20240801");
    assert_eq!(v("InsuredCardExpirationDate"), "20250731");
    assert_eq!(v("InsuredCertificateIssuanceDate"), "20240715");
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
    let out = one(&check(&e), Encoding::ShiftJis);
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
    let e = onshi_model::Answer {
        validity: QualificationValidity::VALID,
        records: vec![r.qualification],
    };
    let out = one(&check(&e), Encoding::ShiftJis);
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
    let e = onshi_model::Answer::not_found();
    let mut c = check(&e);
    c.processing_result_status = ProcessingResultStatus::ERROR;
    c.processing_result_code = Some(onshi_model::codes::ResultCode::LinkHeld);
    c.processing_result_message = Some("該当資格なし<&>");
    let text = String::from_utf8(one(&c, Encoding::Utf8).bytes).unwrap();
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
    assert_eq!(value(&l, "XmlMsg/MessageBody/ProcessingResultCode"), "E012");
    assert_eq!(
        value(&l, "XmlMsg/MessageBody/ProcessingResultMessage"),
        "該当資格なし<&>"
    );
    assert_eq!(value(&l, "XmlMsg/MessageBody/QualificationValidity"), "4");
}

#[test]
fn several_records_one_file_each() {
    let e = two();
    let c = check(&e);
    let parts = c.parts();
    assert_eq!(parts.len(), 2);
    for (i, part) in parts.iter().enumerate() {
        let text = String::from_utf8(xml(part, Encoding::Utf8).unwrap().bytes).unwrap();
        assert_eq!(text.matches("<ResultList>").count(), 1);
        assert_eq!(
            text.matches("<ResultOfQualificationConfirmation>").count(),
            1
        );
        assert!(text.contains(&format!(
            "<ArbitraryFileIdentifier>2025040100300500000123-{}</ArbitraryFileIdentifier>",
            i + 1
        )));
        assert!(text.contains("<QualificationValidity>1</QualificationValidity>"));
    }
}

#[test]
fn partial_contribution_ratio_only_for_koki() {
    let k = String::from_utf8(one(&check(&koki()), Encoding::Utf8).bytes).unwrap();
    assert!(k.contains("<InsuredPartialContributionRatio>010</InsuredPartialContributionRatio>"));
    assert!(!k.contains("InsuredCardSymbol"));
    for e in [family(), eligibility()] {
        let t = String::from_utf8(one(&check(&e), Encoding::Utf8).bytes).unwrap();
        assert!(!t.contains("InsuredPartialContributionRatio"), "{t}");
    }
}

#[test]
fn bad_institution_codes_are_refused() {
    assert!(matches!(
        onshi_rececon::InstitutionCode::parse("12345"),
        Err(RececonError::BadValue {
            field: "MedicalInstitutionCode",
            ..
        })
    ));
    // A ReferenceNumber is parsed before it gets here: `../x` cannot even be made.
    assert!(onshi_model::ReferenceNumber::parse("../x").is_err());
}
