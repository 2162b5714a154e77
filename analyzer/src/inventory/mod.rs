//! The API inventory: every API call record goes in; endpoints come out, keyed by host,
//! method and path template, each with its parameters, auth, sensitive data and statistics.
//!
//! [`Inventory::observe`] takes one record (and, when the sensor captured them, its bodies)
//! and costs a walk down the host's path tree plus the parsing of its query and bodies.
//! [`Inventory::endpoints`] derives the current templates (see [`tree`]), so they follow the
//! traffic. Bounded: [`MAX_HOSTS`] hosts, [`tree::MAX_NODES`] nodes per host and
//! [`MAX_TOTAL_NODES`] in all; records beyond are counted, never stored.

pub mod endpoint;
pub mod json;
pub mod path;
pub mod sampler;
pub mod segment;
pub mod sensitive;
pub mod sketch;
pub mod tree;
pub mod values;
pub mod words;

use endpoint::{EndpointStats, Location};
use sensitive::Sensitive;
use sensor::ApiCall;
use sketch::stable_hash;
use std::collections::BTreeMap;
use tree::{PathTree, Template};

pub const MAX_HOSTS: usize = 4096;
pub const MAX_TOTAL_NODES: usize = 1_000_000;
/// Query and form parameters read per request.
const MAX_QUERY_PARAMS: usize = 64;

/// One call with what the sensor captured of its bodies (decoded, bounded).
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub call: &'a ApiCall,
    pub request_body: Option<&'a [u8]>,
    pub response_body: Option<&'a [u8]>,
}

impl<'a> Observation<'a> {
    /// A record straight from the sensor: the bodies it captured for analysis
    /// (`capture_bodies`) when it did, else whatever the record itself holds.
    pub fn from_call(call: &'a ApiCall) -> Observation<'a> {
        match call.captured.as_deref() {
            Some(c) => Observation {
                call,
                request_body: c.request.as_deref().or(call.request_body.as_deref().map(str::as_bytes)),
                response_body: c.response.as_deref().or(call.response_body.as_deref().map(str::as_bytes)),
            },
            None => Observation::from_record(call),
        }
    }

    /// A record as read back from records.jsonl: bodies are what `--body-sample` kept.
    pub fn from_record(call: &'a ApiCall) -> Observation<'a> {
        Observation {
            call,
            request_body: call.request_body.as_deref().map(str::as_bytes),
            response_body: call.response_body.as_deref().map(str::as_bytes),
        }
    }
}

/// Counts of what went in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InventoryCounts {
    pub records: u64,
    /// Records without a request line (a response whose request was not captured).
    pub without_request: u64,
    /// Records dropped because the host or node bounds were reached.
    pub over_bounds: u64,
}

/// Something an endpoint does that a security team wants to know.
pub mod flags {
    /// 2xx answers to requests without credentials where sibling endpoints require them.
    pub const UNAUTHENTICATED_ACCESS: &str = "unauthenticated_access";
    pub const JWT_ALG_NONE: &str = "jwt_alg_none";
    pub const JWT_NO_EXPIRY: &str = "jwt_no_expiry";
    pub const JWT_LONG_LIVED: &str = "jwt_long_lived";
    /// Credentials sent in the query string, where logs and caches keep them.
    pub const CREDENTIAL_IN_QUERY: &str = "credential_in_query";
    pub const SENSITIVE_DATA: &str = "sensitive_data";
    /// Every response was 404: probing rather than an endpoint.
    pub const NOT_FOUND_ONLY: &str = "not_found_only";
}

/// An endpoint as derived from the traffic so far.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `host` or `host:port` (the port when it is not 80).
    pub host: String,
    pub method: String,
    pub template: Template,
    pub flags: Vec<&'static str>,
}

impl Endpoint {
    pub fn path(&self) -> String {
        self.template.path()
    }

    pub fn stats(&self) -> &EndpointStats {
        &self.template.stats
    }
}

/// The inventory being built.
#[derive(Default)]
pub struct Inventory {
    hosts: BTreeMap<String, PathTree>,
    bodies: sampler::BodySampler,
    pub counts: InventoryCounts,
}

impl Inventory {
    pub fn new() -> Inventory {
        Inventory::default()
    }

    fn total_nodes(&self) -> usize {
        self.hosts.values().map(PathTree::node_count).sum()
    }

    pub fn observe(&mut self, o: &Observation<'_>) {
        self.counts.records += 1;
        let c = o.call;
        let (Some(method), Some(raw_path)) = (c.method.as_deref(), c.path.as_deref()) else {
            self.counts.without_request += 1;
            return;
        };
        let host = host_key(c);
        if !self.hosts.contains_key(&host) {
            if self.hosts.len() >= MAX_HOSTS || self.total_nodes() >= MAX_TOTAL_NODES {
                self.counts.over_bounds += 1;
                return;
            }
            self.hosts.insert(host.clone(), PathTree::default());
        }
        let Some(tree) = self.hosts.get_mut(&host) else { return };
        let norm = path::normalize(raw_path);
        let client = stable_hash(c.orig_h.to_string().as_bytes()) | 1;
        let method = method.to_ascii_uppercase();
        let e = tree.observe(&norm.segments, &method, client);
        record_call(e, c, client);
        for (_, k, v) in &norm.matrix {
            observe_param(e, Location::Matrix, k, v);
        }
        if let Some(q) = c.query.as_deref() {
            for (k, v) in form_pairs(q) {
                observe_param(e, Location::Query, &k, &v);
            }
        }
        let has_body = o.request_body.is_some_and(|b| !b.is_empty()) || o.response_body.is_some_and(|b| !b.is_empty());
        if !has_body || !self.bodies.take(&host, &method, &norm.segments) {
            return;
        }
        e.bodies += 1;
        if let Some(b) = o.request_body.filter(|b| !b.is_empty()) {
            let ct = c.request_content_type.as_deref().unwrap_or("");
            if is_form(ct) {
                if let Ok(text) = std::str::from_utf8(b) {
                    for (k, v) in form_pairs(text) {
                        observe_param(e, Location::Form, &k, &v);
                    }
                }
            } else if is_json(ct) || json::looks_like_json(b) {
                observe_json(e, Location::Body, b);
            }
        }
        if let Some(b) = o.response_body.filter(|b| !b.is_empty()) {
            let ct = c.response_content_type.as_deref().unwrap_or("");
            if is_json(ct) || (ct.is_empty() && json::looks_like_json(b)) {
                observe_json(e, Location::Response, b);
            }
        }
    }

    /// Adds an endpoint from an earlier run (see [`tree::PathTree::seed`]).
    pub fn seed(&mut self, host: &str, method: &str, template: &str, stats: EndpointStats) {
        if !self.hosts.contains_key(host) && self.hosts.len() >= MAX_HOSTS {
            self.counts.over_bounds += 1;
            return;
        }
        self.hosts.entry(host.to_string()).or_default().seed(&tree::parse_template(template), method, stats);
    }

    /// Every endpoint, templated as the traffic so far says, ordered by host then path.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut out = Vec::new();
        for (host, tree) in &self.hosts {
            let templates = tree.templates();
            let start = out.len();
            for t in templates {
                out.push(Endpoint { host: host.clone(), method: t.method.clone(), template: t, flags: Vec::new() });
            }
            flag(&mut out[start..]);
        }
        out
    }
}

/// `host` or `host:port`, from the Host header, else the server's address.
pub fn host_key(c: &ApiCall) -> String {
    match c.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => {
            let h = h.to_ascii_lowercase();
            // `[v6]:port`, `name:port`, or no port at all (then 80).
            let (name, port) = match h.rsplit_once(':') {
                Some((n, p)) if !n.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (!n.contains(':') || n.ends_with(']')) => {
                    (n.to_string(), p.parse::<u16>().ok())
                }
                _ => (h.clone(), None),
            };
            match port {
                Some(p) if p != 80 => format!("{name}:{p}"),
                _ => name,
            }
        }
        None => match c.resp_p {
            80 => c.resp_h.to_string(),
            p => match c.resp_h {
                std::net::IpAddr::V6(a) => format!("[{a}]:{p}"),
                a => format!("{a}:{p}"),
            },
        },
    }
}

fn record_call(e: &mut EndpointStats, c: &ApiCall, client: u64) {
    e.touch(c.ts);
    e.status(c.status_code.unwrap_or(0));
    if let Some(l) = c.latency_ms {
        e.latency_ms.add(l);
    }
    e.request_bytes.add(c.request_body_len as f64);
    if c.status_code.is_some() {
        e.response_bytes.add(c.response_body_len as f64);
    }
    e.clients.add(client);
    if let Some(h) = c.auth_hash.as_deref() {
        e.credentials.add(stable_hash(h.as_bytes()));
    }
    if let Some(ct) = c.request_content_type.as_deref() {
        e.content_type("request", ct);
    }
    if let Some(ct) = c.response_content_type.as_deref() {
        e.content_type("response", ct);
    }
    let scheme = c.auth_scheme.as_deref().unwrap_or("none");
    e.auth_scheme(scheme);
    if scheme == "none" && c.status_code.is_some_and(|s| (200..300).contains(&s)) {
        e.unauth_success += 1;
    }
    if let Some(j) = &c.auth_jwt {
        let mut one = endpoint::JwtStats { seen: 1, ..Default::default() };
        one.algs.insert(j.alg.clone(), 1);
        if let Some(iss) = &j.iss {
            one.issuers.insert(iss.clone(), 1);
        }
        for cl in &j.claims {
            one.claims.insert(cl.clone(), 1);
        }
        if j.alg.eq_ignore_ascii_case("none") {
            one.alg_none = 1;
        }
        match (j.exp, j.iat) {
            (None, _) => one.no_exp = 1,
            (Some(exp), Some(iat)) => {
                let life = exp.saturating_sub(iat);
                one.max_lifetime_secs = Some(life);
                if life > endpoint::LONG_LIVED_SECS {
                    one.long_lived = 1;
                }
            }
            _ => {}
        }
        e.jwt.merge(&one);
    }
}

fn observe_param(e: &mut EndpointStats, loc: Location, name: &str, value: &str) {
    if name.is_empty() {
        return;
    }
    if let Some(p) = e.param(loc, name) {
        p.observe_text(value);
    }
    scan(e, loc, name, value);
}

fn scan(e: &mut EndpointStats, loc: Location, name: &str, value: &str) {
    let mut found: [Option<Sensitive>; 4] = [None; 4];
    let mut n = 0;
    sensitive::scan(name, value, &mut |k| {
        if n < found.len() {
            found[n] = Some(k);
            n += 1;
        }
    });
    for k in found.into_iter().flatten() {
        e.sensitive_seen(loc, name, k);
    }
}

fn observe_json(e: &mut EndpointStats, loc: Location, body: &[u8]) {
    // `present` counts bodies, not occurrences: `items[].sku` once per body however many
    // items it has.
    let mut seen = std::collections::HashSet::new();
    json::walk(body, &mut |path, v| {
        let repeat = !seen.insert(stable_hash(path.as_bytes()));
        if let Some(p) = e.param(loc, path) {
            if repeat {
                p.present = p.present.saturating_sub(1);
            }
            match v {
                json::JsonValue::String(s) => p.observe_string(s),
                json::JsonValue::Number(n, integral) => p.observe_number(n, integral),
                json::JsonValue::Bool => p.observe_type(values::types::BOOLEAN),
                json::JsonValue::Null => p.observe_type(values::types::NULL),
                json::JsonValue::Object => p.observe_type(values::types::OBJECT),
                json::JsonValue::Array => p.observe_type(values::types::ARRAY),
            }
        }
        if let json::JsonValue::String(s) = v {
            scan(e, loc, path, s);
        }
    });
}

fn is_json(ct: &str) -> bool {
    let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    base == "application/json" || base.ends_with("+json") || base == "text/json"
}

/// Sign-in, sign-up and token endpoints, which answer without credentials by design.
fn is_auth_flow(segs: &[tree::TemplateSegment]) -> bool {
    segs.iter().rev().find_map(|s| match s {
        tree::TemplateSegment::Literal(l) => Some(l.to_ascii_lowercase()),
        _ => None,
    })
    .is_some_and(|l| {
        let l = l.replace(['-', '_'], "");
        matches!(
            l.as_str(),
            "login" | "logout" | "signin" | "signup" | "register" | "token" | "tokens" | "auth" | "authenticate" | "authorize"
                | "oauth" | "refresh" | "session" | "sessions" | "forgotpassword" | "resetpassword" | "password" | "verify" | "callback"
                | "health" | "healthz" | "ping" | "status" | "ready" | "readyz" | "livez" | "metrics"
        )
    })
}

fn is_form(ct: &str) -> bool {
    ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// `a=1&b=x%20y` as decoded pairs (`+` is a space), at most [`MAX_QUERY_PARAMS`].
pub fn form_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split(['&', ';']).filter(|p| !p.is_empty()).take(MAX_QUERY_PARAMS).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (form_decode(k), form_decode(v))
    })
}

fn form_decode(s: &str) -> String {
    path::decode(&s.replace('+', " "))
}

/// Marks what deserves attention on each endpoint of one host.
fn flag(eps: &mut [Endpoint]) {
    // Siblings share a host and the template's parent (or are the same path, other
    // methods). Per parent: endpoints that require credentials (95% of their calls carried
    // some) and endpoints open without them. Sign-in and sign-up endpoints are open by
    // design and say nothing about their siblings.
    let mut parents: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let class: Vec<Option<bool>> = eps
        .iter()
        .map(|e| {
            let s = e.stats();
            if s.calls == 0 || is_auth_flow(&e.template.segments) {
                None
            } else if s.authenticated_calls() * 100 >= s.calls * 95 {
                Some(true)
            } else if s.authenticated_calls() == 0 {
                Some(false)
            } else {
                None
            }
        })
        .collect();
    let parent_of = |e: &Endpoint| {
        let segs = &e.template.segments;
        tree::render(&segs[..segs.len().saturating_sub(1)])
    };
    for (e, c) in eps.iter().zip(&class) {
        let p = parents.entry(parent_of(e)).or_default();
        match c {
            Some(true) => p.0 += 1,
            Some(false) => p.1 += 1,
            None => {}
        }
    }
    for (e, c) in eps.iter_mut().zip(&class) {
        let s = e.stats();
        let mut f = Vec::new();
        if s.unauth_success > 0 && !is_auth_flow(&e.template.segments) {
            if let Some((authed, open)) = parents.get(&parent_of(e)) {
                // The others, without this endpoint itself.
                let authed = authed - usize::from(*c == Some(true));
                let open = open - usize::from(*c == Some(false));
                if authed >= 2 && authed > open {
                    f.push(flags::UNAUTHENTICATED_ACCESS);
                }
            }
        }
        if s.jwt.alg_none > 0 {
            f.push(flags::JWT_ALG_NONE);
        }
        if s.jwt.no_exp > 0 {
            f.push(flags::JWT_NO_EXPIRY);
        }
        if s.jwt.long_lived > 0 {
            f.push(flags::JWT_LONG_LIVED);
        }
        if s.auth.contains_key("query_key") {
            f.push(flags::CREDENTIAL_IN_QUERY);
        }
        if !s.sensitive.is_empty() {
            f.push(flags::SENSITIVE_DATA);
        }
        if s.only_not_found() {
            f.push(flags::NOT_FOUND_ONLY);
        }
        e.flags = f;
    }
}

#[cfg(test)]
mod tests;
