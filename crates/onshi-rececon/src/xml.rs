//! The online eligibility system's result file (`OQSsiquc01res_…xml`): `XmlMsg` with
//! `MessageHeader` and `MessageBody`, elements in the order of the layout (FORMATS.md §2),
//! only elements that have a value.

use std::io;

use onshi_model::codes::ResultCode;
use onshi_model::date::format_yyyymmdd;
use onshi_model::Qualification;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::sjis::{self, Folder, Mapped};
use crate::{Encoding, Part, RececonError};

/// SegmentOfResult 1: 正常終了 (the file is only written for a finished check).
pub(crate) const SEGMENT_OF_RESULT_DONE: &str = "1";

/// A file's bytes and the characters Shift_JIS could not carry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Output {
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// Every character mapped to its standard form or 〓 (empty for UTF-8).
    pub mapped: Vec<Mapped>,
}

/// Writes values, folding them for Shift_JIS when needed.
struct Values<'f> {
    folder: Option<&'f mut Folder>,
}

impl Values<'_> {
    fn text<'s>(&mut self, field: &'static str, s: &'s str) -> std::borrow::Cow<'s, str> {
        match self.folder.as_deref_mut() {
            Some(f) => f.fold(field, s),
            None => std::borrow::Cow::Borrowed(s),
        }
    }
}

type W = Writer<Vec<u8>>;

fn leaf(w: &mut W, v: &mut Values<'_>, name: &'static str, value: &str) -> io::Result<()> {
    let value = v.text(name, value);
    w.create_element(name)
        .write_text_content(BytesText::new(&value))?;
    Ok(())
}

fn opt(w: &mut W, v: &mut Values<'_>, name: &'static str, value: Option<&str>) -> io::Result<()> {
    match value {
        Some(s) if !s.is_empty() => leaf(w, v, name, s),
        _ => Ok(()),
    }
}

/// Whether a record carries InsuredPartialContributionRatio: only a 後期高齢者医療 record (法別番号
/// 39). The layout defines the element as the 後期高齢者's ratio, and the readers take it so
/// (myclinic-ts: 後期高齢者負担割; GetClipBoard: the 負担割合 of the 資格情報 block); a 高齢受給者's ratio
/// goes in ElderlyRecipientCertificateInfo, and other records' ratio follows from age and income
/// rules the receipt computer applies itself.
pub(crate) fn writes_partial_contribution_ratio(r: &Qualification) -> bool {
    r.insurer_number.is_koki()
}

/// ArbitraryFileIdentifier: the 照会番号, with `-n` for the n-th of several records, so a
/// reader can match the XML with the text and JSON of the same check.
pub(crate) fn file_identifier(part: &Part<'_>) -> String {
    match part.number {
        Some(n) => format!("{}-{n}", part.check.reference_number),
        None => part.check.reference_number.to_string(),
    }
}

fn record(w: &mut W, v: &mut Values<'_>, r: &Qualification, reference: &str) -> io::Result<()> {
    leaf(
        w,
        v,
        "InsuredCardClassification",
        r.card_classification.as_str(),
    )?;
    leaf(w, v, "InsurerNumber", r.insurer_number.as_str())?;
    opt(
        w,
        v,
        "InsuredCardSymbol",
        r.symbol.as_ref().map(|s| s.as_str()),
    )?;
    leaf(w, v, "InsuredIdentificationNumber", r.number.as_str())?;
    leaf(w, v, "InsuredBranchNumber", &r.branch.to_string())?;
    leaf(
        w,
        v,
        "PersonalFamilyClassification",
        r.personal_family.as_str(),
    )?;
    opt(
        w,
        v,
        "InsuredName",
        r.insured_name.as_ref().map(|s| s.as_str()),
    )?;
    leaf(w, v, "Name", r.name.as_str())?;
    leaf(w, v, "NameKana", &r.name_kana.to_halfwidth())?;
    leaf(w, v, "Sex1", r.sex.as_str())?;
    leaf(w, v, "Birthdate", &format_yyyymmdd(r.birthdate))?;
    opt(w, v, "Address", r.address.as_ref().map(|s| s.as_str()))?;
    opt(
        w,
        v,
        "PostNumber",
        r.post_number.as_ref().map(|s| s.as_str()),
    )?;
    leaf(
        w,
        v,
        "QualificationDate",
        &format_yyyymmdd(r.qualification_date),
    )?;
    let date = |d: Option<onshi_model::Date>| d.map(format_yyyymmdd);
    opt(
        w,
        v,
        "DisqualificationDate",
        date(r.disqualification_date).as_deref(),
    )?;
    opt(
        w,
        v,
        "InsuredCertificateIssuanceDate",
        date(r.card_issuance_date).as_deref(),
    )?;
    opt(
        w,
        v,
        "InsuredCardValidDate",
        date(r.card_valid_date).as_deref(),
    )?;
    opt(
        w,
        v,
        "InsuredCardExpirationDate",
        date(r.card_expiration_date).as_deref(),
    )?;
    if writes_partial_contribution_ratio(r) {
        opt(
            w,
            v,
            "InsuredPartialContributionRatio",
            r.contribution_ratio.map(|c| c.wire()).as_deref(),
        )?;
    }
    opt(
        w,
        v,
        "PreschoolClassification",
        r.preschool.as_ref().map(|c| c.as_str()),
    )?;
    opt(
        w,
        v,
        "ReasonOfLoss",
        r.reason_of_loss.as_ref().map(|c| c.as_str()),
    )?;
    leaf(w, v, "InsurerName", r.insurer_name.as_str())?;
    if let Some(e) = &r.elderly {
        w.create_element("ElderlyRecipientCertificateInfo")
            .write_inner_content(|w| {
                opt(
                    w,
                    v,
                    "ElderlyRecipientCertificateDate",
                    e.certificate_date.map(format_yyyymmdd).as_deref(),
                )?;
                leaf(
                    w,
                    v,
                    "ElderlyRecipientValidStartDate",
                    &format_yyyymmdd(e.valid_start),
                )?;
                leaf(
                    w,
                    v,
                    "ElderlyRecipientValidEndDate",
                    &format_yyyymmdd(e.valid_end),
                )?;
                leaf(
                    w,
                    v,
                    "ElderlyRecipientContributionRatio",
                    &e.contribution_ratio.wire(),
                )
            })?;
    }
    leaf(w, v, "ReferenceNumber", reference)
}

fn document(w: &mut W, v: &mut Values<'_>, part: &Part<'_>, encoding: Encoding) -> io::Result<()> {
    let c = &part.check;
    w.create_element("XmlMsg").write_inner_content(|w| {
        // The header in the order of the OQS samples (FORMATS.md §2, "Order seen in face files").
        w.create_element("MessageHeader").write_inner_content(|w| {
            leaf(
                w,
                v,
                "ProcessExecutionTime",
                &c.processed_at.format("%Y%m%d%H%M%S").to_string(),
            )?;
            leaf(
                w,
                v,
                "CharacterCodeIdentifier",
                encoding.character_code_identifier().as_str(),
            )?;
            leaf(w, v, "SegmentOfResult", SEGMENT_OF_RESULT_DONE)?;
            leaf(
                w,
                v,
                "QualificationConfirmationDate",
                &format_yyyymmdd(c.visit),
            )?;
            leaf(
                w,
                v,
                "ReferenceClassification",
                c.reference_classification.as_str(),
            )?;
            leaf(w, v, "ArbitraryFileIdentifier", &file_identifier(part))?;
            leaf(w, v, "MedicalInstitutionCode", c.institution_code.as_str())
        })?;
        w.create_element("MessageBody").write_inner_content(|w| {
            if let Some(r) = part.record {
                w.create_element("ResultList").write_inner_content(|w| {
                    w.create_element("ResultOfQualificationConfirmation")
                        .write_inner_content(|w| record(w, v, r, c.reference_number.as_str()))?;
                    Ok(())
                })?;
            }
            leaf(
                w,
                v,
                "ProcessingResultStatus",
                c.processing_result_status.as_str(),
            )?;
            opt(
                w,
                v,
                "ProcessingResultCode",
                c.processing_result_code.map(ResultCode::as_str),
            )?;
            opt(w, v, "ProcessingResultMessage", c.processing_result_message)?;
            leaf(
                w,
                v,
                "QualificationValidity",
                c.eligibility.validity.as_str(),
            )
        })?;
        Ok(())
    })?;
    Ok(())
}

/// The result file of one part of a check (at most one record) in `encoding`: declaration and
/// CharacterCodeIdentifier match it; for Shift_JIS a comment after the declaration lists every
/// mapped character.
pub fn xml(part: &Part<'_>, encoding: Encoding) -> Result<Output, RececonError> {
    let mut folder = Folder::default();
    let mut body = Writer::new_with_indent(Vec::new(), b' ', 2);
    {
        let mut v = Values {
            folder: (encoding == Encoding::ShiftJis).then_some(&mut folder),
        };
        document(&mut body, &mut v, part, encoding).map_err(RececonError::Xml)?;
    }
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new(
        "1.0",
        Some(encoding.xml_name()),
        Some("no"),
    )))
    .map_err(RececonError::Xml)?;
    let mut text = String::from_utf8(w.into_inner())
        .map_err(|e| RececonError::Xml(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    text.push('\n');
    if !folder.mapped.is_empty() {
        text.push_str(&format!(
            "<!-- onshi: {} -->\n",
            sjis::describe(&folder.mapped)
        ));
    }
    text.push_str(
        std::str::from_utf8(&body.into_inner())
            .map_err(|e| RececonError::Xml(io::Error::new(io::ErrorKind::InvalidData, e)))?,
    );
    text.push('\n');
    let bytes = match encoding {
        Encoding::Utf8 => text.into_bytes(),
        Encoding::ShiftJis => sjis::encode(&text)?,
    };
    Ok(Output {
        bytes,
        mapped: folder.mapped,
    })
}
