//! OpenAPI export and diff on a small inventory.

use super::*;
use crate::inventory::{Inventory, Observation};
use crate::testutil::call;

fn inventory() -> Vec<StoredEndpoint> {
    let mut inv = Inventory::new();
    for id in 1..=3 {
        let c = call("GET", "shop.example.com", &format!("/v1/orders/{id}?expand=items&page={id}"));
        inv.observe(&Observation { call: &c, request_body: None, response_body: Some(br#"{"id":1,"items":[{"sku":"A"}]}"#) });
    }
    let mut p = call("POST", "shop.example.com", "/v1/orders");
    p.request_content_type = Some("application/json".into());
    p.status_code = Some(201);
    inv.observe(&Observation { call: &p, request_body: Some(br#"{"items":[{"sku":"A1","qty":2}],"note":"x"}"#), response_body: None });
    let mut h = call("GET", "shop.example.com", "/health");
    h.auth_scheme = None;
    inv.observe(&Observation::from_record(&h));
    inv.endpoints().iter().map(StoredEndpoint::from).collect()
}

#[test]
fn document_describes_what_was_seen() {
    let eps = inventory();
    let refs: Vec<&StoredEndpoint> = eps.iter().collect();
    let doc = document(&refs);
    assert_eq!(doc["openapi"], "3.1.0");
    let get = &doc["paths"]["/v1/orders/{order_id}"]["get"];
    let params = get["parameters"].as_array().unwrap();
    let id = params.iter().find(|p| p["name"] == "order_id").unwrap();
    assert_eq!((id["in"].as_str(), id["required"].as_bool(), id["schema"]["type"].as_str()), (Some("path"), Some(true), Some("integer")));
    let page = params.iter().find(|p| p["name"] == "page").unwrap();
    assert_eq!(page["required"], true);
    let rsp = &get["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(rsp["properties"]["items"]["items"]["properties"]["sku"]["type"], "string");
    let post = &doc["paths"]["/v1/orders"]["post"];
    let body = &post["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["properties"]["items"]["type"], "array");
    assert_eq!(body["properties"]["items"]["items"]["properties"]["qty"]["type"], "integer");
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([{}]));
    // Unique operation ids, and the document reads back as a spec with every operation.
    let text = to_yaml(&doc).unwrap();
    let spec = parse_spec(&text).unwrap();
    assert_eq!(spec.operations.len(), eps.len());
    let json_spec = parse_spec(&serde_json::to_string(&doc).unwrap()).unwrap();
    assert_eq!(json_spec.operations.len(), eps.len());
}

#[test]
fn diff_finds_shadow_zombie_and_drift() {
    let eps = inventory();
    let refs: Vec<&StoredEndpoint> = eps.iter().collect();
    let spec = parse_spec(
        r#"
openapi: 3.0.3
info: {title: shop, version: "1"}
servers: [{url: "https://shop.example.com/v1"}]
paths:
  /orders/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: page, in: query, schema: {type: integer}}
        - {name: token, in: query, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
  /orders:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {items: {type: array}}}
      responses: {"201": {description: ok}}
  /refunds:
    post:
      responses: {"200": {description: ok}}
"#,
    )
    .unwrap();
    let d = diff(&spec, &refs);
    assert_eq!(d.matched, 2);
    assert_eq!(d.zombie, [("POST".to_string(), "/v1/refunds".to_string())]);
    assert_eq!(d.shadow.len(), 1);
    assert_eq!(d.shadow[0].2, "/health");
    let kinds: Vec<String> = d.drift.iter().map(|x| format!("{} {} {} {}", x.method, x.location, x.name, x.kind)).collect();
    assert_eq!(kinds, ["GET query expand undocumented", "GET query token never_sent", "POST body note undocumented"]);
    assert!(d.render().contains("zombie"));
    assert_eq!(d.to_json()["zombie"][0]["path"], "/v1/refunds");
}

#[test]
fn templates_and_bad_specs() {
    let segs: Vec<String> = ["users", "42"].iter().map(|s| s.to_string()).collect();
    assert!(template_matches("/users/{id}", &segs));
    assert!(!template_matches("/users/{id}/x", &segs));
    assert!(!template_matches("/people/{id}", &segs));
    assert!(matches!(parse_spec("{}"), Err(SpecError::NoPaths)));
    assert!(parse_spec(": : :\n\t- [").is_err());
    assert_eq!(match_score("/a/{x}/c", "/a/b/c"), Some(2));
    assert_eq!(match_score("/a/b/c", "/a/{x}/c"), None);
}
