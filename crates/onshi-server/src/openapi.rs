//! The OpenAPI 3.1 document of the API, kept in `docs/openapi.yaml` and served at
//! [`onshi_proto::OPENAPI`]. It is written by hand; the tests below hold it to onshi-proto: every
//! route, every property name as serde writes it, which ones are required, and every code.

/// The document, as served.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.yaml");

/// Its `Content-Type` (RFC 9512).
pub const CONTENT_TYPE: &str = "application/yaml";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeSet;

    use onshi_model::*;
    use onshi_proto::{self as proto, codes};
    use serde::Serialize;
    use serde_json::Value;
    use yaml_rust2::{Yaml, YamlLoader};

    use super::*;

    fn document() -> Yaml {
        let mut docs = YamlLoader::load_from_str(DOCUMENT).expect("docs/openapi.yaml is YAML");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    fn keys(y: &Yaml) -> BTreeSet<String> {
        y.as_hash()
            .unwrap_or_else(|| panic!("not a mapping: {y:?}"))
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    }

    fn strings(y: &Yaml) -> BTreeSet<String> {
        y.as_vec()
            .unwrap_or_else(|| panic!("not a list: {y:?}"))
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    }

    fn json_keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// Checks that the schema `name` has exactly the keys of `full` as properties and exactly
    /// the keys of `minimal` as required.
    fn assert_schema(doc: &Yaml, name: &str, full: &Value, minimal: &Value) {
        let schema = &doc["components"]["schemas"][name];
        assert!(!schema.is_badvalue(), "schema {name} missing");
        assert_eq!(
            keys(&schema["properties"]),
            json_keys(full),
            "{name}: properties"
        );
        let required = if schema["required"].is_badvalue() {
            BTreeSet::new()
        } else {
            strings(&schema["required"])
        };
        assert_eq!(required, json_keys(minimal), "{name}: required");
    }

    fn json(v: impl Serialize) -> Value {
        serde_json::to_value(v).unwrap()
    }

    #[test]
    fn document_is_openapi_3_1_with_every_route() {
        let doc = document();
        assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
        let paths = keys(&doc["paths"]);
        let routes: BTreeSet<String> = proto::ROUTES.iter().map(|r| (*r).to_owned()).collect();
        assert_eq!(paths, routes);
        // Terminal routes are mutual TLS; the others need no client certificate.
        assert_eq!(
            doc["components"]["securitySchemes"]["terminalCertificate"]["type"].as_str(),
            Some("mutualTLS")
        );
        for route in proto::ROUTES {
            let operations = doc["paths"][*route].as_hash().unwrap();
            assert_eq!(operations.len(), 1, "{route}");
            let (method, op) = operations.iter().next().unwrap();
            let expected = if route.starts_with(proto::API_PREFIX) {
                "post"
            } else {
                "get"
            };
            assert_eq!(method.as_str(), Some(expected), "{route}");
            let security = op["security"].as_vec().unwrap();
            if proto::TERMINAL_ROUTES.contains(route) {
                assert_eq!(
                    keys(&security[0]),
                    BTreeSet::from(["terminalCertificate".to_owned()]),
                    "{route}"
                );
                assert!(!op["responses"]["429"].is_badvalue(), "{route}: 429");
            } else {
                assert!(security.is_empty(), "{route}");
            }
            // Every body can be too slow (408); enrollment is rate-limited per address (429).
            if !op["requestBody"].is_badvalue() {
                assert!(!op["responses"]["408"].is_badvalue(), "{route}: 408");
            }
            if *route == proto::ENROLL {
                assert!(!op["responses"]["429"].is_badvalue(), "{route}: 429");
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let mut refs = Vec::new();
        fn walk(y: &Yaml, out: &mut Vec<String>) {
            match y {
                Yaml::Hash(h) => {
                    for (k, v) in h {
                        if k.as_str() == Some("$ref") {
                            out.push(v.as_str().unwrap().to_owned());
                        }
                        walk(v, out);
                    }
                }
                Yaml::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        walk(&doc, &mut refs);
        assert!(refs.len() > 20);
        for r in refs {
            let mut node = &doc;
            for part in r.strip_prefix("#/").unwrap().split('/') {
                node = &node[part];
            }
            assert!(!node.is_badvalue(), "{r} does not resolve");
        }
    }

    #[test]
    fn schemas_match_the_serde_names_of_onshi_proto() {
        let doc = document();
        let verify = |signature: Option<&str>| proto::VerifyRequest {
            mode: proto::Mode::Pin,
            certificate: "AA==".into(),
            signature: signature.map(str::to_owned),
            nonce: "AA==".into(),
            visit_date: onshi_model::date::parse_yyyymmdd("20260401").unwrap(),
            recheck_of: signature.map(|_| "2026-04-01T00:30:05Z".to_owned()),
        };
        assert_schema(
            &doc,
            "VerifyRequest",
            &json(verify(Some("AA=="))),
            &json(verify(None)),
        );
        let query = |some: bool| proto::QueryRequest {
            insurer_number: "01130012".into(),
            symbol: some.then(|| "医国３４０".into()),
            number: "１".into(),
            branch: some.then(|| "00".into()),
            birthdate: onshi_model::date::parse_yyyymmdd("19800102").unwrap(),
            visit_date: onshi_model::date::parse_yyyymmdd("20260401").unwrap(),
        };
        assert_schema(
            &doc,
            "QueryRequest",
            &json(query(true)),
            &json(query(false)),
        );
        let check = |some: bool| proto::CheckResponse {
            reference_number: "2026040112000000ABCDEF".into(),
            processing_result_status: onshi_model::codes::ProcessingResultStatus::OK,
            processing_result_code: some.then_some(proto::ResultCode::CertificateExpiresSoon),
            processing_result_message: some.then(|| "…".into()),
            answer: Answer {
                validity: QualificationValidity::VALID,
                records: Vec::new(),
            },
        };
        assert_schema(
            &doc,
            "CheckResponse",
            &json(check(true)),
            &json(check(false)),
        );
        let error = json(proto::ErrorBody {
            code: proto::ErrorCode::BadRequest,
            message: "…".into(),
        });
        assert_schema(&doc, "ErrorBody", &error, &error);
        let enroll = json(proto::EnrollRequest {
            account: "W0000001".into(),
            code: "c".into(),
            csr_pem: "p".into(),
        });
        assert_schema(&doc, "EnrollRequest", &enroll, &enroll);
        let enrolled = json(proto::EnrollResponse {
            certificate_pem: "p".into(),
            terminal_ca_pem: "p".into(),
        });
        assert_schema(&doc, "EnrollResponse", &enrolled, &enrolled);
        let challenge = json(proto::ChallengeResponse {
            nonce: "AA==".into(),
            expires_in: 120,
        });
        assert_schema(&doc, "ChallengeResponse", &challenge, &challenge);

        // Requests refuse unknown fields: the document says so too.
        for name in ["VerifyRequest", "QueryRequest", "EnrollRequest"] {
            assert_eq!(
                doc["components"]["schemas"][name]["additionalProperties"].as_bool(),
                Some(false),
                "{name}"
            );
        }
        let modes: BTreeSet<String> = [proto::Mode::Pin, proto::Mode::Visual]
            .iter()
            .map(|m| json(m).as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            strings(&doc["components"]["schemas"]["Mode"]["enum"]),
            modes
        );
        let all: BTreeSet<String> = codes::ALL.iter().map(|c| (*c).to_owned()).collect();
        assert_eq!(strings(&doc["components"]["schemas"]["Code"]["enum"]), all);
    }

    fn record(full: bool) -> EligibilityRecord {
        let d = |s: &str| onshi_model::date::parse_yyyymmdd(s).unwrap();
        let name = PersonName::parse("山田　太郎").unwrap();
        EligibilityRecord {
            person_id: PersonId::parse("P0000000001").unwrap(),
            qualification: Qualification {
                card_classification: InsuredCardClassification::GENERAL,
                insurer_number: InsurerNumber::parse("01130012").unwrap(),
                symbol: full.then(|| InsuredCardSymbol::parse("医国３４０").unwrap()),
                number: InsuredIdentificationNumber::parse("１").unwrap(),
                branch: InsuredBranchNumber::parse("00").unwrap(),
                personal_family: PersonalFamilyClassification::INSURED,
                insured_name: full.then(|| name.clone()),
                name,
                name_kana: Kana::parse("ヤマダ　タロウ").unwrap(),
                sex: Sex::MALE,
                birthdate: d("19500102"),
                address: full.then(|| Address::parse("東京都千代田区霞が関１－２－２").unwrap()),
                post_number: full.then(|| PostNumber::parse("100-8916").unwrap()),
                qualification_date: d("20200401"),
                disqualification_date: full.then(|| d("20300401")),
                card_issuance_date: full.then(|| d("20240301")),
                card_valid_date: full.then(|| d("20240401")),
                card_expiration_date: full.then(|| d("20300331")),
                contribution_ratio: full.then_some(ContributionRatio::TWENTY),
                preschool: full.then_some(PreschoolClassification::IN_SCHOOL),
                reason_of_loss: full.then_some(ReasonOfLoss::OTHER),
                insurer_name: InsurerName::parse("全国健康保険協会東京支部").unwrap(),
                elderly: full.then(|| ElderlyRecipientCertificateInfo {
                    certificate_date: Some(d("20200401")),
                    valid_start: d("20200401"),
                    valid_end: d("20300331"),
                    contribution_ratio: ContributionRatio::TWENTY,
                }),
            },
        }
    }

    #[test]
    fn result_records_match_the_result_format() {
        let doc = document();
        let answer = |full: bool| {
            let e = Eligibility {
                validity: QualificationValidity::VALID,
                records: vec![record(full)],
            };
            serde_json::to_value(Answer::from(e)).unwrap()["ResultList"][0].clone()
        };
        let (full, minimal) = (answer(true), answer(false));
        assert_schema(&doc, "ResultOfQualificationConfirmation", &full, &minimal);
        let elderly = &full["ElderlyRecipientCertificateInfo"];
        let mut minimal_elderly = elderly.clone();
        minimal_elderly
            .as_object_mut()
            .unwrap()
            .remove("ElderlyRecipientCertificateDate");
        assert_schema(
            &doc,
            "ElderlyRecipientCertificateInfo",
            elderly,
            &minimal_elderly,
        );
    }
}
