//! The check as JSON with the result format's element names: `MessageHeader` and `MessageBody`
//! in the XML's order, every record of the answer in one `ResultList` (JSON has arrays, so
//! the one-record-per-file rule of the XML is not needed here). `docs/rececon.schema.json`
//! describes it.

use onshi_model::codes::{
    CharacterCodeIdentifier, ProcessingResultStatus, QualificationValidity,
    ReferenceClassification, ResultCode,
};
use onshi_model::date::format_yyyymmdd;
use onshi_model::Qualification;
use serde::Serialize;

use crate::xml::writes_partial_contribution_ratio;
use crate::CheckResult;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    message_header: Header<'a>,
    message_body: Body<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Header<'a> {
    process_execution_time: String,
    character_code_identifier: CharacterCodeIdentifier,
    segment_of_result: &'static str,
    qualification_confirmation_date: String,
    reference_classification: ReferenceClassification,
    arbitrary_file_identifier: &'a str,
    medical_institution_code: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    result_list: Vec<Qualification>,
    processing_result_status: ProcessingResultStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    processing_result_code: Option<ResultCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    processing_result_message: Option<&'a str>,
    qualification_validity: QualificationValidity,
    reference_number: &'a str,
}

/// The JSON text of a check (UTF-8, pretty-printed, LF, a final newline); every character kept
/// exactly. CharacterCodeIdentifier is `0` because JSON is always UTF-8.
pub fn json(result: &CheckResult<'_>) -> String {
    let result_list = result
        .eligibility
        .records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if !writes_partial_contribution_ratio(&r) {
                r.contribution_ratio = None;
            }
            r
        })
        .collect();
    let doc = Document {
        message_header: Header {
            process_execution_time: result.processed_at.format("%Y%m%d%H%M%S").to_string(),
            character_code_identifier: CharacterCodeIdentifier::UTF8,
            segment_of_result: crate::xml::SEGMENT_OF_RESULT_DONE,
            qualification_confirmation_date: format_yyyymmdd(result.visit),
            reference_classification: result.reference_classification,
            arbitrary_file_identifier: result.reference_number.as_str(),
            medical_institution_code: result.institution_code.as_str(),
        },
        message_body: Body {
            result_list,
            processing_result_status: result.processing_result_status,
            processing_result_code: result.processing_result_code,
            processing_result_message: result.processing_result_message,
            qualification_validity: result.eligibility.validity,
            reference_number: result.reference_number.as_str(),
        },
    };
    // Serialising strings, codes and records of strings cannot fail.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
