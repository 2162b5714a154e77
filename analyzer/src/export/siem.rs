//! Alerts in the shapes SIEMs ingest: Elastic Common Schema (ECS 8.x) documents and OCSF
//! Detection Findings (class 2004, schema 1.1). Both keep the whole apitap alert beside the
//! mapped fields (`apitap` in ECS, `unmapped.apitap` in OCSF), so nothing is lost in mapping.
//!
//! Guarantees: the fields each schema requires are always present and typed as it says;
//! credentials appear only as the keyed hashes the alert already holds.

use crate::detect::alerts::{Alert, Attack, Severity};
use sensor::time::rfc3339_millis;
use serde_json::{json, Map, Value};

/// Alert formats an output can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertFormat {
    /// apitap's own alert JSON (docs/alert-schema.md).
    Alert,
    Ecs,
    Ocsf,
}

/// Whether the alert is new or an update of one already sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    Created,
    Updated,
}

pub const ECS_VERSION: &str = "8.11.0";
pub const OCSF_VERSION: &str = "1.1.0";

/// MITRE ATT&CK techniques that fit each class (enterprise matrix).
fn technique(a: Attack) -> Option<(&'static str, &'static str, &'static str)> {
    // (technique id, technique name, tactic name)
    Some(match a {
        Attack::CredentialStuffing => ("T1110", "Brute Force", "Credential Access"),
        Attack::AccountTakeover => ("T1078", "Valid Accounts", "Initial Access"),
        Attack::VulnerabilityScan | Attack::ProbingFuzzing => ("T1595", "Active Scanning", "Reconnaissance"),
        Attack::SqlInjection | Attack::CodeInjection => ("T1190", "Exploit Public-Facing Application", "Initial Access"),
        Attack::DataExfiltration | Attack::DataScraping | Attack::Bola => ("T1530", "Data from Cloud Storage", "Collection"),
        Attack::DataManipulation => ("T1565", "Data Manipulation", "Impact"),
        Attack::TargetedDdos | Attack::Slowloris | Attack::ExpensiveCallAbuse | Attack::ExtremeClientActivity => {
            ("T1499", "Endpoint Denial of Service", "Impact")
        }
        _ => return None,
    })
}

/// ECS `event.severity` and OCSF `severity_id` of a severity.
fn ecs_severity(s: Severity) -> u8 {
    match s {
        Severity::Low => 21,
        Severity::Medium => 47,
        Severity::High => 73,
        Severity::Critical => 99,
    }
}

fn ocsf_severity(s: Severity) -> u8 {
    match s {
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// Users and hashes the alert names, for `related.*` and observables.
fn identity_parts(a: &Alert) -> (Option<String>, Option<String>) {
    let v = a.identity.value.as_str();
    match a.identity.kind.as_str() {
        "user" => (Some(v.split_once(':').map_or(v, |(_, n)| n).to_string()), None),
        "credential" => (None, Some(v.split_once(':').map_or(v, |(_, h)| h).to_string())),
        _ => (None, None),
    }
}

/// An ECS document of `a`.
pub fn ecs(a: &Alert, activity: Activity) -> Value {
    let (user, hash) = identity_parts(a);
    let mut doc = json!({
        "@timestamp": rfc3339_millis(a.detected_at),
        "ecs": {"version": ECS_VERSION},
        "message": a.summary,
        "event": {
            "kind": "alert",
            "category": ["intrusion_detection", "web"],
            "type": ["info"],
            "action": a.attack.name(),
            "dataset": "apitap.alert",
            "module": "apitap",
            "provider": "apitap",
            "id": a.id,
            "severity": ecs_severity(a.severity),
            "risk_score": (a.score * 100.0).round(),
            "start": rfc3339_millis(a.first_seen),
            "end": rfc3339_millis(a.last_seen),
            "reason": a.summary,
            "outcome": "unknown",
        },
        "rule": {"name": a.attack.name(), "ruleset": "apitap", "category": a.severity.name()},
        "observer": {"type": "ids", "product": "apitap", "vendor": "apitap", "version": env!("CARGO_PKG_VERSION")},
        "related": {"ip": a.src_ips},
        "labels": {"apitap_activity": if activity == Activity::Created { "created" } else { "updated" }},
        "apitap": a,
    });
    if let Some(first) = a.src_ips.first() {
        doc["source"] = json!({"ip": first});
    }
    if let Some(u) = user {
        doc["user"] = json!({"name": u});
        doc["related"]["user"] = json!([u]);
    }
    if let Some(h) = hash {
        doc["related"]["hash"] = json!([h]);
    }
    if let Some((id, name, tactic)) = technique(a.attack) {
        doc["threat"] = json!({"framework": "MITRE ATT&CK", "technique": {"id": [id], "name": [name]}, "tactic": {"name": [tactic]}});
    }
    doc
}

/// An OCSF Detection Finding of `a`.
pub fn ocsf(a: &Alert, activity: Activity) -> Value {
    let (activity_id, activity_name) = match activity {
        Activity::Created => (1, "Create"),
        Activity::Updated => (2, "Update"),
    };
    let ms = |t: f64| (t * 1000.0).round() as i64;
    let (user, hash) = identity_parts(a);
    let mut observables: Vec<Value> = a.src_ips.iter().map(|ip| json!({"name": "src_endpoint.ip", "type_id": 2, "value": ip})).collect();
    if let Some(u) = &user {
        observables.push(json!({"name": "actor.user.name", "type_id": 4, "value": u}));
    }
    if let Some(h) = &hash {
        observables.push(json!({"name": "credential_hash", "type_id": 8, "value": h}));
    }
    let mut finding = Map::new();
    finding.insert("uid".into(), json!(a.id));
    finding.insert("title".into(), json!(format!("{} ({})", a.attack.name().replace('_', " "), a.severity.name())));
    finding.insert("desc".into(), json!(a.summary));
    finding.insert("types".into(), json!([a.attack.name()]));
    finding.insert("first_seen_time".into(), json!(ms(a.first_seen)));
    finding.insert("last_seen_time".into(), json!(ms(a.last_seen)));
    finding.insert("created_time".into(), json!(ms(a.detected_at)));
    finding.insert("analytic".into(), json!({"name": a.attack.name(), "type_id": 5, "type": "Behavioral", "uid": a.attack.name()}));
    if let Some((id, name, tactic)) = technique(a.attack) {
        finding.insert("attacks".into(), json!([{"version": "14", "technique": {"uid": id, "name": name}, "tactic": {"name": tactic}}]));
    }
    let evidences: Vec<Value> = a.src_ips.iter().take(10).map(|ip| json!({"src_endpoint": {"ip": ip}})).collect();
    let resources: Vec<Value> = a.endpoints.iter().map(|e| json!({"name": e, "type": "API Endpoint"})).collect();
    let mut doc = json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": 200_400 + activity_id,
        "severity_id": ocsf_severity(a.severity),
        "severity": a.severity.name(),
        "status_id": 1,
        "status": "New",
        "confidence_score": (a.score * 100.0).round() as i64,
        "time": ms(a.detected_at),
        "message": a.summary,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "apitap", "vendor_name": "apitap", "version": env!("CARGO_PKG_VERSION")},
            "uid": a.id,
        },
        "finding_info": Value::Object(finding),
        "observables": observables,
        "resources": resources,
        "evidences": evidences,
        "unmapped": {"apitap": a},
    });
    if let Some(u) = user {
        doc["actor"] = json!({"user": {"name": u}});
    }
    doc
}

/// `a` in `format`, as one line of JSON.
pub fn render(a: &Alert, format: AlertFormat, activity: Activity) -> String {
    let v = match format {
        AlertFormat::Alert => serde_json::to_value(a).unwrap_or(Value::Null),
        AlertFormat::Ecs => ecs(a, activity),
        AlertFormat::Ocsf => ocsf(a, activity),
    };
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::alerts::{Evidence, IdentityRef};

    pub(crate) fn sample() -> Alert {
        Alert {
            id: "a-7".into(),
            attack: Attack::AccountTakeover,
            severity: Severity::High,
            score: 0.87,
            first_seen: 1_795_263_415.25,
            last_seen: 1_795_263_475.0,
            detected_at: 1_795_263_425.0,
            src_ips: vec!["198.51.100.7".into()],
            identity: IdentityRef { kind: "credential".into(), value: "bearer:0123456789abcdef0123456789abcdef".into() },
            endpoints: vec!["10.0.0.5:80 GET /users/{id}".into()],
            summary: "credential used from a new address".into(),
            evidence: Evidence::default(),
            detections: 3,
        }
    }

    #[test]
    fn ecs_has_the_fields_elastic_requires() {
        let d = ecs(&sample(), Activity::Created);
        assert_eq!(d["@timestamp"], "2026-11-21T12:17:05.000Z");
        assert_eq!(d["event"]["kind"], "alert");
        assert_eq!(d["event"]["start"], "2026-11-21T12:16:55.250Z");
        assert_eq!(d["source"]["ip"], "198.51.100.7");
        assert_eq!(d["related"]["hash"][0], "0123456789abcdef0123456789abcdef");
        assert_eq!(d["threat"]["technique"]["id"][0], "T1078");
        assert_eq!(d["apitap"]["id"], "a-7");
    }

    #[test]
    fn ocsf_detection_finding_required_attributes() {
        let d = ocsf(&sample(), Activity::Updated);
        for k in ["activity_id", "category_uid", "class_uid", "finding_info", "metadata", "severity_id", "time", "type_uid"] {
            assert!(!d[k].is_null(), "{k}");
        }
        assert_eq!((d["class_uid"].as_i64(), d["type_uid"].as_i64(), d["severity_id"].as_i64()), (Some(2004), Some(200_402), Some(4)));
        assert_eq!(d["finding_info"]["uid"], "a-7");
        assert!(d["finding_info"]["title"].is_string());
        assert_eq!(d["metadata"]["product"]["name"], "apitap");
        assert_eq!(d["time"].as_i64(), Some(1_795_263_425_000));
    }
}
