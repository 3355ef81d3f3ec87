//! onshi's JSON against `docs/rececon.schema.json`, for every fixture person; and the schema
//! refuses what it should, so the check can fail.

use onshi_rececon::json;

use super::sample::{check, people};

fn validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/rececon.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

#[test]
fn every_json_file_fits_the_schema() {
    let v = validator();
    for (who, e) in people() {
        let doc: serde_json::Value = serde_json::from_str(&json(&check(&e))).unwrap();
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{who}: {errors:?}");
    }
}

#[test]
fn the_schema_refuses_wrong_documents() {
    let v = validator();
    let (_, e) = people().remove(0);
    let good: serde_json::Value = serde_json::from_str(&json(&check(&e))).unwrap();
    let mutations: [fn(&mut serde_json::Value); 4] = [
        |d| d["MessageBody"]["ResultList"][0]["PersonId"] = "P0000000000".into(),
        |d| d["MessageBody"]["ResultList"][0]["NameKana"] = "サトウ　イチロウ".into(),
        |d| d["MessageHeader"]["MedicalInstitutionCode"] = "UNKNOWN".into(),
        |d| d["MessageBody"]["QualificationValidity"] = serde_json::json!(1),
    ];
    for (i, m) in mutations.iter().enumerate() {
        let mut bad = good.clone();
        m(&mut bad);
        assert!(!v.is_valid(&bad), "mutation {i} passed");
    }
    assert!(v.is_valid(&good));
}
