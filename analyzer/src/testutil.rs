//! Helpers for the analyzer's tests.

use sensor::ApiCall;

/// A record with the fields the inventory reads; everything else empty.
pub fn call(method: &str, host: &str, path: &str) -> ApiCall {
    let mut c: ApiCall = serde_json::from_value(serde_json::json!({
        "schema_version": 1, "ts": 1_700_000_000.0, "uid": "C1", "orig_h": "10.0.0.1", "orig_p": 40000,
        "resp_h": "10.0.0.2", "resp_p": 80, "trans_depth": 1, "method": method, "host": host, "uri": path,
        "path": path, "query": null, "version": "1.1", "user_agent": null, "status_code": 200, "status_msg": "OK",
        "info_code": null, "response_ts": 1_700_000_000.01, "latency_ms": 10.0, "duration_ms": 11.0,
        "request_body_len": 0, "response_body_len": 100, "request_len": 80, "response_len": 200,
        "request_content_type": null, "response_content_type": "application/json",
        "response_content_encoding": null, "x_forwarded_for": null, "cookie_names": [], "set_cookie_names": [],
        "auth_scheme": "bearer", "auth_hash": "h1", "auth_user": null, "auth_jwt": null, "upgrade": null,
        "anomalies": [], "missed_bytes": 0, "quality": "complete", "vlan": null, "tunnel": null
    }))
    .unwrap();
    c.path = Some(path.split('?').next().unwrap().to_string());
    c.query = path.split_once('?').map(|(_, q)| q.to_string());
    c
}

