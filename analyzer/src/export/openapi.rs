//! The inventory as OpenAPI 3.1, and the inventory compared with an OpenAPI description.
//!
//! [`document`] writes what was observed: one path per template, one operation per method,
//! path and query parameters and JSON bodies with the types and formats seen, the
//! responses by status, security schemes from the credentials seen, and an `x-apitap`
//! extension per operation with the traffic facts (calls, times, flags, sensitive data).
//!
//! [`diff`] matches observed endpoints to documented operations (a documented parameter
//! matches any observed segment; literals must agree; the most specific operation wins;
//! the servers' base paths are honoured) and reports shadow endpoints (observed, not
//! documented), zombie operations (documented, never observed) and drift (parameters seen
//! but not documented, documented as required but never sent, types that disagree).

use crate::inventory::endpoint::Location;
use crate::inventory::values::{formats, types, ParamStats};
use crate::store::{auth_summary, StoredEndpoint};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SpecError {
    #[error("neither JSON nor YAML: {0}")]
    Syntax(String),
    #[error("no `paths` object")]
    NoPaths,
    #[error("cannot write YAML: {0}")]
    Yaml(String),
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Whether the template (`/users/{id}`) matches the concrete segments.
pub fn template_matches(template: &str, segments: &[String]) -> bool {
    let t: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    t.len() == segments.len() && t.iter().zip(segments).all(|(a, b)| is_param(a) || a == b)
}

fn is_param(seg: &str) -> bool {
    seg.contains('{') && seg.contains('}')
}

/// A documented operation.
#[derive(Clone, Debug)]
pub struct Operation {
    pub method: String,
    /// The path with the server's base path in front.
    pub path: String,
    /// Declared parameters: (location, name) → (required, JSON type if declared).
    pub params: BTreeMap<(String, String), (bool, Option<String>)>,
    /// Top-level JSON request body properties, when declared.
    pub body_fields: Option<BTreeSet<String>>,
}

/// What an OpenAPI description declares.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub operations: Vec<Operation>,
}

/// Parses an OpenAPI 3.x (or Swagger 2.0) description in JSON or YAML.
pub fn parse_spec(text: &str) -> Result<Spec, SpecError> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => serde_saphyr::from_str(text).map_err(|e| SpecError::Syntax(e.to_string()))?,
    };
    let paths = v.get("paths").and_then(Value::as_object).ok_or(SpecError::NoPaths)?;
    // Base path: OpenAPI 3 servers[0].url's path, or Swagger 2's basePath.
    let base = v
        .get("servers")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
        .map(url_path)
        .or_else(|| v.get("basePath").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let base = base.trim_end_matches('/').to_string();
    let mut ops = Vec::new();
    for (path, item) in paths {
        let common = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let mut params = BTreeMap::new();
            for p in common.iter().chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten()) {
                let p = resolve(&v, p);
                let (Some(name), Some(loc)) = (p.get("name").and_then(Value::as_str), p.get("in").and_then(Value::as_str)) else { continue };
                let required = p.get("required").and_then(Value::as_bool).unwrap_or(loc == "path");
                let schema = p.get("schema").map(|s| resolve(&v, s)).unwrap_or(p);
                let ty = schema.get("type").and_then(Value::as_str).map(str::to_string);
                params.insert((loc.to_string(), name.to_string()), (required, ty));
            }
            let body_fields = op
                .get("requestBody")
                .map(|b| resolve(&v, b))
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object)
                .and_then(|c| c.iter().find(|(k, _)| k.contains("json")).map(|(_, x)| x))
                .and_then(|x| x.get("schema"))
                .map(|s| resolve(&v, s))
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect());
            ops.push(Operation { method: m.to_ascii_uppercase(), path: format!("{base}{path}"), params, body_fields });
        }
    }
    Ok(Spec { operations: ops })
}

/// Follows a local `$ref` (a few levels, no cycles).
fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    let mut cur = v;
    for _ in 0..8 {
        let Some(r) = cur.get("$ref").and_then(Value::as_str) else { return cur };
        let Some(ptr) = r.strip_prefix('#') else { return cur };
        match root.pointer(ptr) {
            Some(t) => cur = t,
            None => return cur,
        }
    }
    cur
}

/// The path of a URL (`https://api.x.com/v2` → `/v2`), or the string if it is a path.
fn url_path(u: &str) -> String {
    match u.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or(String::new(), |i| rest[i..].to_string()),
        None => u.to_string(),
    }
}

/// How well a documented template matches an observed one: `None` when it does not, else
/// the number of literal segments that agree (more is more specific).
fn match_score(doc: &str, seen: &str) -> Option<usize> {
    let d: Vec<&str> = doc.split('/').filter(|s| !s.is_empty()).collect();
    let s: Vec<&str> = seen.split('/').filter(|s| !s.is_empty()).collect();
    if d.len() != s.len() {
        return None;
    }
    let mut score = 0;
    for (a, b) in d.iter().zip(&s) {
        match (is_param(a), is_param(b)) {
            (true, _) => {}
            (false, false) if a == b => score += 1,
            _ => return None,
        }
    }
    Some(score)
}

/// One difference between traffic and description.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Drift {
    pub method: String,
    pub path: String,
    pub location: String,
    pub name: String,
    /// `undocumented`, `never_sent` (documented as required) or `type` (seen types differ).
    pub kind: &'static str,
    pub detail: String,
}

#[derive(Clone, Debug, Default)]
pub struct Diff {
    /// Observed, not documented: (host, method, path, calls).
    pub shadow: Vec<(String, String, String, u64)>,
    /// Documented, never observed: (method, path).
    pub zombie: Vec<(String, String)>,
    pub drift: Vec<Drift>,
    pub matched: usize,
}

impl Diff {
    pub fn to_json(&self) -> Value {
        json!({
            "matched": self.matched,
            "shadow": self.shadow.iter().map(|(h, m, p, c)| json!({"host": h, "method": m, "path": p, "calls": c})).collect::<Vec<_>>(),
            "zombie": self.zombie.iter().map(|(m, p)| json!({"method": m, "path": p})).collect::<Vec<_>>(),
            "drift": self.drift.iter().map(|d| json!({"method": d.method, "path": d.path, "location": d.location,
                "name": d.name, "kind": d.kind, "detail": d.detail})).collect::<Vec<_>>(),
        })
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "{} documented operations seen; {} shadow endpoints, {} zombie operations, {} drifts\n",
            self.matched,
            self.shadow.len(),
            self.zombie.len(),
            self.drift.len()
        );
        if !self.shadow.is_empty() {
            s += "\nshadow (in traffic, not in the description):\n";
            for (h, m, p, c) in &self.shadow {
                s += &format!("  {m:<7} {p}  ({h}, {c} calls)\n");
            }
        }
        if !self.zombie.is_empty() {
            s += "\nzombie (in the description, never seen):\n";
            for (m, p) in &self.zombie {
                s += &format!("  {m:<7} {p}\n");
            }
        }
        if !self.drift.is_empty() {
            s += "\ndrift:\n";
            for d in &self.drift {
                s += &format!("  {:<7} {}  {} {} {}: {}\n", d.method, d.path, d.location, d.name, d.kind, d.detail);
            }
        }
        s
    }
}

/// `id` from `{id}` or `{id}.json`.
fn brace_name(seg: &str) -> Option<&str> {
    seg.strip_prefix('{')?.split_once('}').map(|(n, _)| n)
}

/// The JSON Schema type names of what was seen.
fn seen_types(p: &ParamStats) -> Vec<&'static str> {
    types::NAMES.iter().filter(|(b, _)| p.types & b != 0).map(|(_, n)| *n).collect()
}

pub fn diff(spec: &Spec, eps: &[&StoredEndpoint]) -> Diff {
    let mut d = Diff::default();
    let mut used = vec![false; spec.operations.len()];
    for e in eps {
        let best = spec
            .operations
            .iter()
            .enumerate()
            .filter(|(_, o)| o.method.eq_ignore_ascii_case(&e.method))
            .filter_map(|(i, o)| match_score(&o.path, &e.path).map(|s| (s, i)))
            .max();
        let Some((_, i)) = best else {
            d.shadow.push((e.host.clone(), e.method.clone(), e.path.clone(), e.stats.calls));
            continue;
        };
        used[i] = true;
        let op = &spec.operations[i];
        for ((loc, name), p) in &e.stats.params {
            let (loc_name, documented) = match loc {
                Location::Query => ("query", op.params.get(&("query".to_string(), name.clone()))),
                Location::Body => {
                    // Top-level body fields only: nested ones follow their parent.
                    if name.contains(['.', '[']) {
                        continue;
                    }
                    match &op.body_fields {
                        Some(f) if !f.contains(name) => {
                            d.drift.push(Drift {
                                method: e.method.clone(),
                                path: e.path.clone(),
                                location: "body".into(),
                                name: name.clone(),
                                kind: "undocumented",
                                detail: format!("seen in {} of {} bodies analysed", p.present, e.stats.bodies),
                            });
                        }
                        _ => {}
                    }
                    continue;
                }
                _ => continue,
            };
            match documented {
                None => d.drift.push(Drift {
                    method: e.method.clone(),
                    path: e.path.clone(),
                    location: loc_name.into(),
                    name: name.clone(),
                    kind: "undocumented",
                    detail: format!("seen in {} of {} calls", p.present, e.stats.calls),
                }),
                Some((_, Some(ty))) => {
                    let seen = seen_types(p);
                    let fits = seen.iter().all(|t| *t == ty || (ty == "number" && *t == "integer") || (ty == "string"));
                    if !fits {
                        d.drift.push(Drift {
                            method: e.method.clone(),
                            path: e.path.clone(),
                            location: loc_name.into(),
                            name: name.clone(),
                            kind: "type",
                            detail: format!("documented {ty}, seen {}", seen.join("/")),
                        });
                    }
                }
                Some((_, None)) => {}
            }
        }
        // Path parameters pair up by position: the spec's `{id}` is the traffic's `{user_id}`.
        for (spec_seg, seen_seg) in op.path.split('/').zip(e.path.split('/')) {
            let (Some(spec_name), Some(seen_name)) = (brace_name(spec_seg), brace_name(seen_seg)) else { continue };
            let Some((_, Some(ty))) = op.params.get(&("path".to_string(), spec_name.to_string())) else { continue };
            let Some(p) = e.stats.params.get(&(Location::Path, seen_name.to_string())) else { continue };
            let seen = seen_types(p);
            if !seen.iter().all(|t| t == ty || (ty == "number" && *t == "integer") || ty == "string") {
                d.drift.push(Drift {
                    method: e.method.clone(),
                    path: e.path.clone(),
                    location: "path".into(),
                    name: spec_name.to_string(),
                    kind: "type",
                    detail: format!("documented {ty}, seen {}", seen.join("/")),
                });
            }
        }
        for ((loc, name), (required, _)) in &op.params {
            if *required && loc == "query" && !e.stats.params.contains_key(&(Location::Query, name.clone())) {
                d.drift.push(Drift {
                    method: e.method.clone(),
                    path: e.path.clone(),
                    location: "query".into(),
                    name: name.clone(),
                    kind: "never_sent",
                    detail: "documented as required, absent from every call".into(),
                });
            }
        }
    }
    d.matched = used.iter().filter(|u| **u).count();
    for (op, u) in spec.operations.iter().zip(&used) {
        if !u {
            d.zombie.push((op.method.clone(), op.path.clone()));
        }
    }
    d.drift.sort();
    d
}

/// A JSON Schema for what one parameter's values looked like.
fn schema_of(p: &ParamStats) -> Value {
    let mut s = Map::new();
    let t = seen_types(p);
    match t.as_slice() {
        [] => {}
        [one] => {
            s.insert("type".into(), json!(one));
        }
        many => {
            s.insert("type".into(), json!(many));
        }
    }
    // A format only when every value had it.
    let f: Vec<&str> = formats::NAMES.iter().filter(|(b, _)| p.formats & b != 0).map(|(_, n)| *n).collect();
    if let [one] = f.as_slice() {
        if ["uuid", "date", "date-time", "email", "uri", "ipv4", "ipv6"].contains(one) {
            s.insert("format".into(), json!(one));
        }
    }
    if let (Some(lo), Some(hi)) = (p.num_min, p.num_max) {
        s.insert("x-observed-min".into(), json!(lo));
        s.insert("x-observed-max".into(), json!(hi));
    }
    if let (Some(lo), Some(hi)) = (p.len_min, p.len_max) {
        s.insert("x-observed-length".into(), json!([lo, hi]));
    }
    if let Some(e) = &p.example {
        s.insert("x-masked-example".into(), json!(e));
    }
    Value::Object(s)
}

/// A JSON Schema object for a body from its flattened fields (`items[].sku`).
fn body_schema(params: &BTreeMap<(Location, String), ParamStats>, loc: Location) -> Option<Value> {
    let fields: Vec<(&String, &ParamStats)> = params.iter().filter(|((l, _), _)| *l == loc).map(|((_, n), p)| (n, p)).collect();
    if fields.is_empty() {
        return None;
    }
    let mut root = json!({"type": "object", "properties": {}});
    let mut array_root = false;
    for (name, p) in fields {
        let mut path: Vec<&str> = Vec::new();
        for part in name.split('.') {
            let mut part = part;
            let mut arrays = 0;
            while let Some(stripped) = part.strip_suffix("[]") {
                part = stripped;
                arrays += 1;
            }
            if !part.is_empty() {
                path.push(part);
            } else if path.is_empty() {
                array_root = true;
            }
            path.extend(std::iter::repeat_n("[]", arrays));
        }
        insert(&mut root, &path, schema_of(p));
    }
    if array_root {
        // A top-level array: `[]` fields were inserted under `[]`.
        let items = root.get("properties").and_then(|p| p.get("[]")).cloned().unwrap_or(json!({}));
        return Some(json!({"type": "array", "items": items}));
    }
    Some(root)
}

/// Puts `leaf` at `path` in a schema tree, creating objects and arrays on the way.
fn insert(node: &mut Value, path: &[&str], leaf: Value) {
    let Some(obj) = node.as_object_mut() else { return };
    match path.split_first() {
        None => {
            // The field's own facts join what its children already made of it; a type the
            // structure set (object, array) stays.
            if let Value::Object(l) = leaf {
                for (k, v) in l {
                    obj.entry(k).or_insert(v);
                }
            }
        }
        Some((&"[]", rest)) => {
            obj.insert("type".into(), json!("array"));
            insert(obj.entry("items").or_insert_with(|| json!({})), rest, leaf);
        }
        Some((name, rest)) => {
            obj.entry("type").or_insert_with(|| json!("object"));
            if let Some(props) = obj.entry("properties").or_insert_with(|| json!({})).as_object_mut() {
                insert(props.entry(name.to_string()).or_insert_with(|| json!({})), rest, leaf);
            }
        }
    }
}

/// An operationId from the method and template: `get_users_user_id_orders`.
fn operation_id(method: &str, path: &str) -> String {
    let mut s = method.to_ascii_lowercase();
    for word in path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        s.push('_');
        s.push_str(&word.to_ascii_lowercase());
    }
    s
}

/// The OpenAPI 3.1 document for `eps`.
pub fn document(eps: &[&StoredEndpoint]) -> Value {
    let hosts: BTreeSet<&str> = eps.iter().map(|e| e.host.as_str()).collect();
    let multi_host = hosts.len() > 1;
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut schemes: BTreeMap<&'static str, Value> = BTreeMap::new();
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for e in eps {
        let s = &e.stats;
        let method = e.method.to_ascii_lowercase();
        if !METHODS.contains(&method.as_str()) {
            continue;
        }
        let item = paths.entry(e.path.clone()).or_default();
        if item.contains_key(&method) {
            // The same template and method on another host: the busier one describes it.
            continue;
        }
        let mut params = Vec::new();
        for ((loc, name), p) in &s.params {
            let (inn, required) = match loc {
                Location::Path => ("path", true),
                Location::Query => ("query", s.calls > 0 && p.present == s.calls),
                _ => continue,
            };
            if inn == "path" && !e.path.contains(&format!("{{{name}}}")) {
                continue;
            }
            params.push(json!({"name": name, "in": inn, "required": required, "schema": schema_of(p)}));
        }
        // Every path parameter of the template must be declared.
        for seg in e.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|r| r.split('}').next()) {
                if !params.iter().any(|p| p["in"] == "path" && p["name"] == name) {
                    params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
                }
            }
        }
        let mut op = Map::new();
        let mut id = operation_id(&e.method, &e.path);
        while !ids.insert(id.clone()) {
            id.push('_');
        }
        op.insert("operationId".into(), json!(id));
        op.insert("summary".into(), json!(format!("Observed: {} calls", s.calls)));
        if !params.is_empty() {
            op.insert("parameters".into(), json!(params));
        }
        if let Some(schema) = body_schema(&s.params, Location::Body) {
            op.insert("requestBody".into(), json!({"content": {"application/json": {"schema": schema}}}));
        } else if let Some(form) = body_schema(&s.params, Location::Form) {
            op.insert("requestBody".into(), json!({"content": {"application/x-www-form-urlencoded": {"schema": form}}}));
        }
        let mut responses = Map::new();
        let rsp_schema = body_schema(&s.params, Location::Response);
        let rsp_type = s
            .content_types
            .iter()
            .filter(|((d, _), _)| d == "response")
            .max_by_key(|(_, n)| **n)
            .map(|((_, t), _)| t.clone());
        for (code, n) in &s.statuses {
            if *code == 0 {
                continue;
            }
            let mut r = Map::new();
            r.insert("description".into(), json!(format!("Observed {n} times")));
            if (200..300).contains(code) {
                if let (Some(t), Some(schema)) = (&rsp_type, &rsp_schema) {
                    r.insert("content".into(), json!({ t.clone(): {"schema": schema} }));
                }
            }
            responses.insert(code.to_string(), Value::Object(r));
        }
        if responses.is_empty() {
            responses.insert("default".into(), json!({"description": "No response was observed"}));
        }
        op.insert("responses".into(), Value::Object(responses));
        // Security: the schemes credentials were seen with; an empty requirement when some
        // calls carried none.
        let mut security = Vec::new();
        for scheme in s.auth.keys() {
            let (name, def) = match scheme.as_str() {
                "bearer" => (
                    "bearerAuth",
                    if s.jwt.seen > 0 {
                        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
                    } else {
                        json!({"type": "http", "scheme": "bearer"})
                    },
                ),
                "basic" => ("basicAuth", json!({"type": "http", "scheme": "basic"})),
                "digest" => ("digestAuth", json!({"type": "http", "scheme": "digest"})),
                "api_key" => (
                    "apiKeyHeader",
                    json!({"type": "apiKey", "in": "header", "name": "X-API-Key",
                           "description": "An API key header (apitap records that one was sent, not which of the usual names)"}),
                ),
                "query_key" => ("apiKeyQuery", json!({"type": "apiKey", "in": "query", "name": "api_key"})),
                "cookie" => ("sessionCookie", json!({"type": "apiKey", "in": "cookie", "name": "session"})),
                "none" => {
                    security.push(json!({}));
                    continue;
                }
                _ => continue,
            };
            schemes.entry(name).or_insert(def);
            security.push(json!({ name: [] }));
        }
        if !security.is_empty() {
            op.insert("security".into(), json!(security));
        }
        if multi_host {
            op.insert("servers".into(), json!([{"url": format!("http://{}", e.host)}]));
        }
        let sensitive: Vec<Value> = s
            .sensitive
            .iter()
            .map(|((l, f, k), n)| json!({"location": l.name(), "field": f, "kind": k.name(), "count": n}))
            .collect();
        op.insert(
            "x-apitap".into(),
            json!({
                "host": e.host, "calls": s.calls, "first_seen": s.first_seen, "last_seen": s.last_seen,
                "confidence": e.confidence, "auth": auth_summary(s), "flags": e.flags, "sensitive": sensitive,
                "clients": s.clients.estimate(),
                "latency_ms": {"p50": s.latency_ms.quantile(0.5), "p95": s.latency_ms.quantile(0.95)},
            }),
        );
        item.insert(method, Value::Object(op));
    }
    let mut doc = Map::new();
    doc.insert("openapi".into(), json!("3.1.0"));
    doc.insert(
        "info".into(),
        json!({"title": "API inventory observed by apitap", "version": "observed",
               "description": "Endpoints, parameters and schemas as seen in traffic, not as designed."}),
    );
    doc.insert("servers".into(), json!(hosts.iter().map(|h| json!({"url": format!("http://{h}")})).collect::<Vec<_>>()));
    doc.insert("paths".into(), json!(paths));
    if !schemes.is_empty() {
        doc.insert("components".into(), json!({"securitySchemes": schemes}));
    }
    Value::Object(doc)
}

/// YAML text of a document.
pub fn to_yaml(doc: &Value) -> Result<String, SpecError> {
    serde_saphyr::to_string(doc).map_err(|e| SpecError::Yaml(e.to_string()))
}

#[cfg(test)]
mod tests;
