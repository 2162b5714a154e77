//! Docs that must stay true: every anomaly name is documented, and nothing documented is
//! not an anomaly.

use sensor::Anomaly;

#[test]
fn every_anomaly_is_documented_and_only_those() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/anomalies.md")).expect("docs/anomalies.md");
    for a in Anomaly::ALL {
        assert!(doc.contains(&format!("| `{}` |", a.as_str())), "{} is not in docs/anomalies.md", a.as_str());
    }
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let name = line.trim_start_matches("| `").split('`').next().unwrap_or("");
        assert!(Anomaly::from_name(name).is_some(), "docs/anomalies.md lists {name}, which is not an anomaly");
    }
}

#[test]
fn every_record_field_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/record-schema.md")).expect("docs/record-schema.md");
    let sample = serde_json::to_value(sample_record()).unwrap();
    for k in sample.as_object().unwrap().keys() {
        assert!(doc.contains(&format!("| `{k}` |")), "record field {k} is not in docs/record-schema.md");
    }
    assert!(doc.contains(&format!("schema_version` is {}", sensor::record::SCHEMA_VERSION)));
}

fn sample_record() -> sensor::ApiCall {
    serde_json::from_str(include_str!("../../fixtures/golden/api-sample.pcap.records.jsonl").lines().next().unwrap())
        .map(|mut c: sensor::ApiCall| {
            c.request_body = Some(String::new());
            c.response_body = Some(String::new());
            c
        })
        .unwrap()
}
