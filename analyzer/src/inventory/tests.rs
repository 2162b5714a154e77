//! The inventory end to end on hand-made records.

use super::*;
use crate::testutil::call;
use sensor::ApiCall;

fn see(inv: &mut Inventory, c: &ApiCall, req: Option<&str>, rsp: Option<&str>) {
    inv.observe(&Observation { call: c, request_body: req.map(str::as_bytes), response_body: rsp.map(str::as_bytes) });
}

fn find<'a>(eps: &'a [Endpoint], method: &str, path: &str) -> &'a Endpoint {
    eps.iter().find(|e| e.method == method && e.path() == path).unwrap_or_else(|| {
        panic!("no {method} {path} in {:?}", eps.iter().map(|e| format!("{} {}", e.method, e.path())).collect::<Vec<_>>())
    })
}

#[test]
fn hosts_ports_and_templates() {
    let mut inv = Inventory::new();
    for id in 1..=5 {
        see(&mut inv, &call("GET", "api.example.com", &format!("/v1/users/{id}?page={id}&q=x")), None, None);
    }
    see(&mut inv, &call("get", "API.example.com:80", "/v1/users/9"), None, None);
    see(&mut inv, &call("GET", "api.example.com:8443", "/v1/users/9"), None, None);
    let eps = inv.endpoints();
    let e = find(&eps, "GET", "/v1/users/{user_id}");
    assert_eq!(e.host, "api.example.com");
    assert_eq!(e.stats().calls, 6);
    let page = &e.stats().params[&(Location::Query, "page".to_string())];
    assert_eq!((page.present, page.type_names().as_str(), page.num_max), (5, "integer", Some(5.0)));
    assert!(eps.iter().any(|e| e.host == "api.example.com:8443"));
    let path_param = &e.stats().params[&(Location::Path, "user_id".to_string())];
    assert_eq!(path_param.present, 6);
    assert_eq!(path_param.type_names(), "integer");
}

#[test]
fn bodies_params_and_sensitive_data() {
    let mut inv = Inventory::new();
    let mut c = call("POST", "shop", "/orders");
    c.request_content_type = Some("application/json".into());
    see(
        &mut inv,
        &c,
        Some(r#"{"items":[{"sku":"A1","qty":2}],"card":"4111 1111 1111 1111","email":"a@b.com"}"#),
        Some(r#"{"id":"550e8400-e29b-41d4-a716-446655440000","total":12.5}"#),
    );
    let mut f = call("POST", "shop", "/login");
    f.request_content_type = Some("application/x-www-form-urlencoded".into());
    f.auth_scheme = None;
    f.auth_hash = None;
    see(&mut inv, &f, Some("user=bob&password=hunter22"), None);
    let eps = inv.endpoints();
    let o = find(&eps, "POST", "/orders");
    let p = &o.stats().params;
    assert!(p.contains_key(&(Location::Body, "items[].sku".to_string())));
    assert_eq!(p[&(Location::Body, "items[].qty".to_string())].type_names(), "integer");
    assert_eq!(p[&(Location::Response, "id".to_string())].format_names(), "uuid");
    let kinds: Vec<_> = o.stats().sensitive.keys().map(|(l, f, k)| format!("{}:{f}:{}", l.name(), k.name())).collect();
    assert_eq!(kinds, ["body:card:credit_card", "body:email:email"]);
    assert!(o.flags.contains(&flags::SENSITIVE_DATA));
    // No raw value anywhere: examples are masked.
    assert_eq!(p[&(Location::Body, "email".to_string())].example.as_deref(), Some("x@x.xxx"));
    let l = find(&eps, "POST", "/login");
    assert!(l.stats().params.contains_key(&(Location::Form, "password".to_string())));
    assert_eq!(l.stats().auth["none"], 1);
}

#[test]
fn unauthenticated_sibling_is_flagged() {
    let mut inv = Inventory::new();
    for i in 0..10 {
        see(&mut inv, &call("GET", "h", &format!("/api/accounts/{i}")), None, None);
        see(&mut inv, &call("GET", "h", "/api/accounts/summary"), None, None);
    }
    let mut open = call("GET", "h", "/api/accounts/export");
    open.auth_scheme = None;
    open.auth_hash = None;
    see(&mut inv, &open, None, None);
    let eps = inv.endpoints();
    assert!(find(&eps, "GET", "/api/accounts/export").flags.contains(&flags::UNAUTHENTICATED_ACCESS));
    assert!(!find(&eps, "GET", "/api/accounts/summary").flags.contains(&flags::UNAUTHENTICATED_ACCESS));
}

#[test]
fn jwt_flags() {
    let mut inv = Inventory::new();
    let mut c = call("GET", "h", "/me");
    c.auth_jwt = Some(sensor::record::JwtRecord { alg: "none".into(), iss: Some("x".into()), sub: None, claims: vec!["sub".into()], exp: None, iat: None });
    see(&mut inv, &c, None, None);
    let mut d = call("GET", "h", "/me");
    d.auth_jwt = Some(sensor::record::JwtRecord { alg: "RS256".into(), iss: None, sub: None, claims: vec![], exp: Some(100 + 90_000), iat: Some(100) });
    see(&mut inv, &d, None, None);
    let eps = inv.endpoints();
    let e = find(&eps, "GET", "/me");
    for f in [flags::JWT_ALG_NONE, flags::JWT_NO_EXPIRY, flags::JWT_LONG_LIVED] {
        assert!(e.flags.contains(&f), "{f} in {:?}", e.flags);
    }
    assert_eq!(e.stats().jwt.seen, 2);
    assert_eq!(e.stats().jwt.algs.len(), 2);
}

#[test]
fn records_without_request_and_bounds() {
    let mut inv = Inventory::new();
    let mut c = call("GET", "h", "/");
    c.method = None;
    see(&mut inv, &c, None, None);
    assert_eq!(inv.counts.without_request, 1);
    for i in 0..(MAX_HOSTS + 5) {
        see(&mut inv, &call("GET", &format!("h{i}"), "/"), None, None);
    }
    assert_eq!(inv.counts.over_bounds, 5);
}

#[test]
fn host_keys() {
    let mut c = call("GET", "Example.COM", "/");
    assert_eq!(host_key(&c), "example.com");
    c.host = Some("[2001:db8::1]:8080".into());
    assert_eq!(host_key(&c), "[2001:db8::1]:8080");
    c.host = None;
    c.resp_p = 8080;
    assert_eq!(host_key(&c), "10.0.0.2:8080");
}
