//! The inventory as users meet it: replay builds DIR/inventory.db in-process, a second
//! replay merges into it, `analyze` builds the same from records.jsonl, and the `inventory`
//! commands list, show, diff and export it. The OpenAPI export is checked by
//! openapi-spec-validator (PyPI) when it is installed; CI installs it and requires it.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn inventory(db: &Path, args: &[&str]) -> Output {
    let o = bin().arg("inventory").arg("--db").arg(db).args(args).output().expect("run apitap");
    assert!(o.status.success(), "inventory {args:?} failed: {}", stderr(&o));
    o
}

fn list(db: &Path) -> Vec<Value> {
    let o = inventory(db, &["list", "--format", "json"]);
    serde_json::from_slice::<Value>(&o.stdout).expect("list --format json is JSON").as_array().expect("an array").clone()
}

fn endpoint<'a>(eps: &'a [Value], method: &str, path: &str) -> &'a Value {
    eps.iter().find(|e| e["method"] == method && e["path"] == path).unwrap_or_else(|| panic!("no {method} {path} in {eps:#?}"))
}

#[test]
fn replay_builds_the_inventory_and_a_second_replay_merges() {
    let out = TempDir::new("inv");
    let o = replay(&[&fixture("api-sample.pcap")], out.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("apitap inventory"), "{}", stdout(&o));
    let db = out.path().join("inventory.db");
    let eps = list(&db);
    let paths: Vec<String> = eps.iter().map(|e| format!("{} {}", e["method"].as_str().unwrap(), e["path"].as_str().unwrap())).collect();
    assert_eq!(
        paths,
        [
            "GET /api/v1/export",
            "POST /api/v1/login",
            "POST /api/v1/orders",
            "DELETE /api/v1/orders/{order_id}",
            "GET /api/v1/search",
            "GET /api/v1/users",
            "GET /api/v1/users/{user_id}",
            "GET /health"
        ]
    );
    for e in &eps {
        for k in ["host", "method", "path", "calls", "first_seen", "last_seen", "auth", "sensitive"] {
            assert!(e.get(k).is_some(), "{k} missing from {e}");
        }
        assert_eq!(e["host"], "10.77.0.1:8080");
    }
    let users = endpoint(&eps, "GET", "/api/v1/users/{user_id}");
    assert_eq!(users["calls"], 8);
    assert_eq!(users["auth"], serde_json::json!(["bearer"]));
    // Response bodies reach the inventory in memory: records.jsonl holds none here.
    assert!(records(out.path()).iter().all(|r| r["response_body"].is_null()));
    let sensitive: Vec<&str> = users["sensitive"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(sensitive.contains(&"email") && sensitive.contains(&"phone"), "{sensitive:?}");
    // A card number in an order body (Luhn-valid) and a password in the login body.
    assert!(endpoint(&eps, "POST", "/api/v1/orders")["sensitive"].as_array().unwrap().contains(&"credit_card".into()));
    // An unauthenticated 200 among endpoints that require bearer tokens.
    assert!(endpoint(&eps, "GET", "/api/v1/export")["flags"].as_array().unwrap().contains(&"unauthenticated_access".into()));
    assert!(!endpoint(&eps, "POST", "/api/v1/login")["flags"].as_array().unwrap().contains(&"unauthenticated_access".into()));

    // The same capture again: the calls add up, the endpoints stay the same.
    let o = replay(&[&fixture("api-sample.pcap")], out.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("merged into"), "{}", stdout(&o));
    let again = list(&db);
    assert_eq!(again.len(), eps.len());
    assert_eq!(endpoint(&again, "GET", "/api/v1/users/{user_id}")["calls"], 16);
    assert_eq!(endpoint(&again, "POST", "/api/v1/login")["calls"], 10);
}

#[test]
fn no_inventory_writes_records_only() {
    let out = TempDir::new("inv");
    let o = replay(&[&fixture("api-sample.pcap")], out.path(), &["--no-inventory"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.path().join("inventory.db").exists());
    assert_eq!(records(out.path()).len(), 20);
}

#[test]
fn analyze_builds_the_same_endpoints_from_records() {
    let live = TempDir::new("inv");
    let o = replay(&[&fixture("api-sample.pcap")], live.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let offline = TempDir::new("inv");
    let o = bin().arg("analyze").arg(live.path().join("records.jsonl")).arg("--out").arg(offline.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let key = |eps: Vec<Value>| -> Vec<(String, String, u64)> {
        eps.iter()
            .map(|e| (e["method"].as_str().unwrap().to_string(), e["path"].as_str().unwrap().to_string(), e["calls"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(key(list(&offline.path().join("inventory.db"))), key(list(&live.path().join("inventory.db"))));
}

#[test]
fn bad_records_are_skipped_with_a_warning() {
    let out = TempDir::new("inv");
    let f = out.path().join("mixed.jsonl");
    let good = std::fs::read_to_string(fixture("golden/api-sample.pcap.records.jsonl")).unwrap();
    std::fs::write(&f, format!("not json\n{good}{{\"half\": \n")).unwrap();
    let o = bin().arg("analyze").arg(&f).arg("--out").arg(out.path()).arg("-q").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 lines were not API call records"), "{}", stderr(&o));
    assert_eq!(list(&out.path().join("inventory.db")).len(), 8);
}

#[test]
fn show_diff_and_filters() {
    let out = TempDir::new("inv");
    assert!(replay(&[&fixture("api-sample.pcap")], out.path(), &[]).status.success());
    let db = out.path().join("inventory.db");

    // A concrete path finds its template.
    let text = stdout(&inventory(&db, &["show", "GET /api/v1/users/7"]));
    assert!(text.starts_with("GET /api/v1/users/{user_id}"), "{text}");
    assert!(text.contains("path     user_id  integer"), "{text}");
    assert!(text.contains("response email"), "{text}");
    let v: Value = serde_json::from_slice(&inventory(&db, &["show", "GET /api/v1/users/{user_id}", "--json"]).stdout).unwrap();
    // One entry per host that has the endpoint.
    let params = v[0]["parameters"].as_array().unwrap();
    assert!(params.iter().any(|p| p["location"] == "response" && p["name"] == "roles[]"), "{params:#?}");
    // Example values are masked; the raw ones never reach the database.
    assert!(!v.to_string().contains("@example"), "{v}");

    let sensitive = stdout(&inventory(&db, &["list", "--sensitive", "--format", "csv"]));
    assert_eq!(sensitive.lines().count(), 4, "{sensitive}");
    assert!(sensitive.lines().next().unwrap().starts_with("host,method,path,calls"), "{sensitive}");
    assert_eq!(stdout(&inventory(&db, &["list", "--host", "nowhere", "--format", "json"])).trim(), "[]");

    let spec = out.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /api/v1/users/{id}:\n    get:\n      parameters:\n        - {name: id, in: path, required: true, schema: {type: boolean}}\n      responses: {'200': {description: ok}}\n  /api/v1/legacy:\n    get:\n      responses: {'200': {description: ok}}\n",
    )
    .unwrap();
    let d: Value = serde_json::from_slice(&inventory(&db, &["diff", "--spec", spec.to_str().unwrap(), "--json"]).stdout).unwrap();
    assert_eq!(d["matched"], 1);
    assert_eq!(d["shadow"].as_array().unwrap().len(), 7);
    assert_eq!(d["zombie"], serde_json::json!([{"method": "GET", "path": "/api/v1/legacy"}]));
    let drift = d["drift"].as_array().unwrap();
    assert!(drift.iter().any(|x| x["location"] == "path" && x["name"] == "id" && x["kind"] == "type"), "{drift:#?}");
}

#[test]
fn openapi_export_validates() {
    let out = TempDir::new("inv");
    assert!(replay(&[&fixture("api-sample.pcap")], out.path(), &[]).status.success());
    let db = out.path().join("inventory.db");
    let yaml = out.path().join("openapi.yaml");
    let json = out.path().join("openapi.json");
    inventory(&db, &["export", "--openapi", yaml.to_str().unwrap()]);
    inventory(&db, &["export", "--openapi", json.to_str().unwrap()]);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/users/{user_id}"]["get"].is_object(), "{doc:#}");

    // The exported description diffs clean against the inventory it came from.
    let d: Value = serde_json::from_slice(&inventory(&db, &["diff", "--spec", yaml.to_str().unwrap(), "--json"]).stdout).unwrap();
    assert_eq!(d["shadow"], serde_json::json!([]), "{d:#}");
    assert_eq!(d["zombie"], serde_json::json!([]), "{d:#}");

    let have = std::process::Command::new("python3").args(["-c", "import openapi_spec_validator"]).output().is_ok_and(|o| o.status.success());
    if !have {
        assert!(std::env::var_os("APITAP_REQUIRE_VALIDATOR").is_none(), "openapi-spec-validator is required here (pip install openapi-spec-validator)");
        eprintln!("openapi-spec-validator not installed: the export's validation was skipped");
        return;
    }
    for f in [&yaml, &json] {
        let o = std::process::Command::new("python3").arg("-m").arg("openapi_spec_validator").arg(f).output().unwrap();
        assert!(o.status.success(), "{} does not validate: {}{}", f.display(), stdout(&o), stderr(&o));
    }
}
