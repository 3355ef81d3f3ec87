//! Entry points for the fuzz targets `app_answer`, `app_settings` and `terminal_settings`: what
//! the app reads from outside (the service's answers, its settings file `app.toml`, the portal's
//! terminal settings file), fed arbitrary bytes, must not panic; what parses is written back and
//! parsed again.

use chrono::{NaiveDate, TimeZone, Utc};
use onshi_proto::{CheckResponse, ErrorBody, TerminalSettings};

use crate::check::CheckOutcome;
use crate::client::{ServerUrl, ServiceClient};
use crate::data::AppConfig;

/// An answer of the service as the app reads it (an error body, or a check's answer), and
/// everything the app makes of a check's answer: the description, the clipboard text, and the
/// receipt computer's XML (both encodings) and JSON.
pub fn answer(data: &[u8]) {
    let _ = serde_json::from_slice::<ErrorBody>(data);
    let Ok(response) = serde_json::from_slice::<CheckResponse>(data) else {
        return;
    };
    let encoded = serde_json::to_vec(&response).ok();
    let back = encoded
        .as_deref()
        .and_then(|b| serde_json::from_slice::<CheckResponse>(b).ok());
    assert_eq!(back.as_ref(), Some(&response));
    let Some(visit) = NaiveDate::from_ymd_opt(2026, 4, 1) else {
        return;
    };
    // Only a 照会番号 of the service's format reaches the files (the app refuses the rest).
    let Ok(reference_number) = onshi_model::ReferenceNumber::parse(&response.reference_number)
    else {
        return;
    };
    let outcome = CheckOutcome {
        asked: crate::check::Asked::Card(onshi_proto::Mode::Pin),
        response,
        reference_number,
        visit,
        card_expiry: None,
        files: None,
        files_error: None,
    };
    let _ = outcome.exit_code();
    let _ = outcome.name();
    let _ = outcome.describe();
    let now = Utc
        .with_ymd_and_hms(2026, 4, 1, 1, 2, 3)
        .single()
        .unwrap_or_default();
    let _ = crate::check::clipboard_texts(&outcome, now);
    let r = &outcome.response;
    let result = onshi_rececon::CheckResult {
        eligibility: &r.answer,
        visit,
        processed_at: now.naive_utc(),
        reference_number: &outcome.reference_number,
        processing_result_status: r.processing_result_status,
        processing_result_code: r.processing_result_code,
        processing_result_message: r.processing_result_message.as_deref(),
        reference_classification: onshi_model::codes::ReferenceClassification::MY_NUMBER_CARD,
        institution_code: onshi_rececon::InstitutionCode::UNKNOWN,
    };
    for encoding in [
        onshi_rececon::Encoding::Utf8,
        onshi_rececon::Encoding::ShiftJis,
    ] {
        for part in result.parts() {
            let _ = onshi_rececon::xml(&part, encoding);
            let _ = onshi_rececon::text_file(&part, encoding);
        }
    }
    let json = onshi_rececon::json(&result);
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
}

/// The app's settings file `app.toml` as [`AppConfig::load_file`] reads it, and its server URL.
pub fn app_settings(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = toml::from_str::<AppConfig>(text) else {
        return;
    };
    let _ = config.server_url();
    let written = match toml::to_string(&config) {
        Ok(t) => t,
        Err(e) => panic!("settings that parse do not write back: {e}"),
    };
    assert_eq!(toml::from_str::<AppConfig>(&written).ok(), Some(config));
}

/// The portal's terminal settings file as `onshi app enroll --settings` reads it, and what
/// enrollment makes of it before it connects: the server URL and the TLS client trusting the
/// server CA it holds.
pub fn terminal_settings(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(settings) = toml::from_str::<TerminalSettings>(text) else {
        return;
    };
    let written = match toml::to_string(&settings) {
        Ok(t) => t,
        Err(e) => panic!("settings that parse do not write back: {e}"),
    };
    assert_eq!(
        toml::from_str::<TerminalSettings>(&written).ok().as_ref(),
        Some(&settings)
    );
    if let (Ok(url), Some(ca)) = (ServerUrl::parse(&settings.server), &settings.server_ca) {
        // The URL the app keeps parses again.
        assert_eq!(ServerUrl::parse(&url.to_string()).ok().as_ref(), Some(&url));
        let _ = ServiceClient::new(url, Some(ca.as_str()), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_take_samples() {
        for s in [
            "",
            r#"{"code":"E008","message":"x"}"#,
            r#"{"ReferenceNumber":"../x","ProcessingResultStatus":"1","QualificationValidity":"1","ResultList":[{"Name":"試験"},1]}"#,
            r#"{"ReferenceNumber":"1","ProcessingResultStatus":"2","QualificationValidity":"9","ResultList":[]}"#,
        ] {
            answer(s.as_bytes());
        }
        for s in [
            "",
            "server = \"https://127.0.0.1:8443\"\naccount = \"W0000001\"\n[rececon]\noutput = \"/tmp/x\"\nencoding = \"shift_jis\"\n",
            "server = 1",
        ] {
            app_settings(s.as_bytes());
        }
        for s in [
            "server = \"https://[::1]:8443\"\naccount = \"W0000001\"\nserver_ca = \"-----BEGIN CERTIFICATE-----\\nAA==\\n-----END CERTIFICATE-----\\n\"\n",
            "server = \"https://h\"\naccount = \"\"\n",
            "server = \"https://h\"\naccount = \"\"\nother = 1\n",
        ] {
            terminal_settings(s.as_bytes());
        }
    }
}
