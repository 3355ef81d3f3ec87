//! The check as JSON with the result format's element names: `MessageHeader` and
//! `MessageBody`, the records from [`onshi_model::show::result_json`].

use onshi_model::date::format_yyyymmdd;
use onshi_model::show::result_json;
use serde_json::{json, Map, Value};

use crate::CheckResult;

/// The JSON text of a check (UTF-8, pretty-printed, LF, a final newline); every character
/// kept exactly. The header's CharacterCodeIdentifier is `0` because JSON is always UTF-8.
pub fn json(result: &CheckResult<'_>) -> String {
    let mut body = Map::new();
    body.insert(
        "ProcessingResultStatus".into(),
        json!(result.processing_result_status),
    );
    if let Some(code) = result.processing_result_code {
        body.insert("ProcessingResultCode".into(), json!(code));
    }
    if let Some(msg) = result.processing_result_message {
        body.insert("ProcessingResultMessage".into(), json!(msg));
    }
    let records = result_json(result.eligibility);
    body.insert(
        "QualificationValidity".into(),
        records["QualificationValidity"].clone(),
    );
    let list = match records.get("ResultList") {
        Some(Value::Array(list)) => list.clone(),
        _ => Vec::new(),
    };
    body.insert("ResultList".into(), Value::Array(list));
    body.insert(
        "ReferenceNumber".into(),
        json!(result.reference_number.as_str()),
    );
    let doc = json!({
        "MessageHeader": {
            "ProcessExecutionTime": result.processed_at.format("%Y%m%d%H%M%S").to_string(),
            "QualificationConfirmationDate": format_yyyymmdd(result.visit),
            "MedicalInstitutionCode": result.institution_code,
            "ReferenceClassification": result.reference_classification.as_str(),
            "SegmentOfResult": "1",
            "CharacterCodeIdentifier": "0",
        },
        "MessageBody": Value::Object(body),
    });
    // Serialising a Value with string keys cannot fail.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
