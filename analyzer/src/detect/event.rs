//! One call as detection sees it: who (address, credential, user, agent), what (endpoint
//! template and object id), how it went (status, sizes, latency), and what its payload
//! matched. Pure: the same record always gives the same event.
//!
//! Endpoints are keyed by the server address, method and template, not by the Host
//! header, which scanners and scripts often set to the bare address: the same API reached
//! two ways is one endpoint.

use super::identity::{client_ip, user_of, TrustedProxies};
use super::login::{self, Attempt};
use super::signatures::{self, Hits};
use crate::inventory::json;
use crate::inventory::path;
use crate::inventory::segment::classify;
use sensor::ApiCall;
use std::net::IpAddr;

/// Longest texts an event keeps, in bytes (cut at a character boundary). Detection keeps
/// them per call in its window and per identity in its state, so a client must not make them
/// as large as a header: typical agents are under 250 bytes, and a template past 512 is
/// junk a scanner made.
pub const MAX_UID: usize = 64;
pub const MAX_IDENTITY: usize = 256;
pub const MAX_AGENT: usize = 512;
pub const MAX_ENDPOINT: usize = 512;

/// `s` cut to at most `max` bytes, at a character boundary.
fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A call reduced to what the detectors read.
#[derive(Clone, Debug)]
pub struct Event {
    pub ts: f64,
    pub uid: String,
    pub ip: IpAddr,
    /// `scheme:hash` of the credential.
    pub credential: Option<String>,
    pub user: Option<String>,
    pub agent: String,
    /// `METHOD /template` as alerts show it.
    pub endpoint: String,
    /// Server address, method and template: what baselines are keyed by.
    pub endpoint_key: String,
    /// The value of the last path parameter (the object addressed), if any.
    pub object: Option<String>,
    /// A hash of the query string, to count distinct pages and filters.
    pub query: Option<u64>,
    pub status: u16,
    pub method: String,
    pub req_bytes: u64,
    pub resp_bytes: u64,
    pub latency_ms: f64,
    /// The largest JSON array in the captured response.
    pub array_len: u64,
    pub hits: Hits,
    pub login: Option<Attempt>,
    /// The request never completed: no response, a head cut short, or a connection held
    /// open without finishing its request.
    pub incomplete: bool,
}

impl Event {
    pub fn destructive(&self) -> bool {
        matches!(self.method.as_str(), "DELETE" | "PUT" | "PATCH")
    }
}

/// The template of a path by segment kind: values (integers, UUIDs, hashes, tokens,
/// generated ids) become `{name_id}` parameters named from the collection before them,
/// other segments stay literal. Returns the template and the last parameter's value.
pub fn template(raw_path: &str) -> (String, Option<String>) {
    let norm = path::normalize(raw_path);
    let mut out = String::new();
    let mut last_value = None;
    let mut prev: Option<&str> = None;
    for seg in &norm.segments {
        out.push('/');
        if classify(seg).is_value() {
            let base = prev.map(|p| p.trim_end_matches('s')).filter(|p| !p.is_empty()).unwrap_or("id");
            out.push('{');
            out.push_str(base);
            if base != "id" {
                out.push_str("_id");
            }
            out.push('}');
            last_value = Some(seg.clone());
        } else {
            out.push_str(seg);
        }
        prev = Some(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    (out, last_value)
}

/// The length of the largest array in a JSON body (0 when none or not JSON). One pass over
/// the bytes, no allocation: it runs on every response the sensor captured. A body cut
/// short counts the elements it has. Strings, most of a typical body, are crossed with a
/// vector search for the next quote or backslash rather than byte by byte: this scan was
/// a fifth of an analysed replay's time when it looked at every byte.
fn largest_array(body: &[u8]) -> u64 {
    if !json::looks_like_json(body) {
        return 0;
    }
    let mut arrays = Arrays::default();
    let mut i = 0usize;
    while let Some(&b) = body.get(i) {
        i += 1;
        if b.is_ascii_whitespace() {
            continue;
        }
        arrays.token(b);
        if b == b'"' {
            i = string_end(body, i);
        }
    }
    arrays.largest()
}

/// The open containers of a JSON scan and the largest array seen, fed the bytes outside
/// strings (and each string's opening quote), whitespace left out.
#[derive(Default)]
struct Arrays {
    /// Per open container: whether it is an array, and its elements so far.
    stack: [(bool, u64); 32],
    depth: usize,
    best: u64,
    /// Just after a `[`: the next token, unless `]`, is its first element.
    expect_first: bool,
}

impl Arrays {
    fn token(&mut self, b: u8) {
        if self.expect_first && b != b']' {
            if let Some(top) = self.depth.checked_sub(1).and_then(|d| self.stack.get_mut(d)) {
                top.1 += 1;
            }
        }
        self.expect_first = false;
        match b {
            b'[' | b'{' => {
                if let Some(slot) = self.stack.get_mut(self.depth) {
                    *slot = (b == b'[', 0);
                }
                self.depth += 1;
                self.expect_first = b == b'[';
            }
            b']' | b'}' => {
                if let Some((true, n)) = self.depth.checked_sub(1).and_then(|d| self.stack.get(d)) {
                    self.best = self.best.max(*n);
                }
                self.depth = self.depth.saturating_sub(1);
            }
            b',' => {
                if let Some((true, n)) = self.depth.checked_sub(1).and_then(|d| self.stack.get_mut(d)) {
                    *n += 1;
                }
            }
            _ => {}
        }
    }

    /// The largest array, counting those still open where the body was cut.
    fn largest(&self) -> u64 {
        let open = self.stack.iter().take(self.depth.min(self.stack.len()));
        open.filter(|(is_array, _)| *is_array).map(|(_, n)| *n).fold(self.best, u64::max)
    }
}

/// Where the string whose contents start at `from` ends: just past its closing quote, or
/// the end of the body when it is cut. A backslash escapes the byte after it.
fn string_end(body: &[u8], mut from: usize) -> usize {
    while let Some(rest) = body.get(from..) {
        match memchr::memchr2(b'"', b'\\', rest) {
            Some(k) if rest.get(k) == Some(&b'"') => return from + k + 1,
            Some(k) => from += k + 2,
            None => break,
        }
    }
    body.len()
}

/// Builds the event of `call`. `issuer` says whether the call's endpoint has issued tokens
/// before (see [`login::attempt`]).
pub fn from_call(call: &ApiCall, trusted: &TrustedProxies, issuer: &dyn Fn(&str) -> bool) -> Event {
    let (req_body, resp_body) = match call.captured.as_deref() {
        Some(c) => (
            c.request.as_deref().or(call.request_body.as_deref().map(str::as_bytes)),
            c.response.as_deref().or(call.response_body.as_deref().map(str::as_bytes)),
        ),
        None => (call.request_body.as_deref().map(str::as_bytes), call.response_body.as_deref().map(str::as_bytes)),
    };
    let method = call.method.as_deref().unwrap_or("-").to_ascii_uppercase();
    let (tpl, object) = match call.path.as_deref() {
        Some(p) => template(p),
        None => ("(no request)".to_string(), None),
    };
    let endpoint = clip(format!("{method} {tpl}"), MAX_ENDPOINT);
    let endpoint_key = format!("{}:{} {endpoint}", call.resp_h, call.resp_p);
    let login = login::attempt(call, req_body, resp_body, issuer(&endpoint_key));
    let user = login.as_ref().and_then(|a| a.username.as_ref().map(|u| format!("login:{u}"))).or_else(|| user_of(call));
    let user = user.map(|u| clip(u, MAX_IDENTITY));
    let incomplete = call.status_code.is_none() || call.anomalies.iter().any(|a| a == "no_response" || a == "request_truncated");
    Event {
        ts: call.ts,
        uid: clip(call.uid.clone(), MAX_UID),
        ip: client_ip(call, trusted),
        credential: call
            .auth_hash
            .as_ref()
            .map(|h| clip(format!("{}:{h}", call.auth_scheme.as_deref().unwrap_or("credential")), MAX_IDENTITY)),
        user,
        agent: clip(call.user_agent.clone().unwrap_or_default(), MAX_AGENT),
        endpoint,
        endpoint_key,
        object,
        query: call.query.as_deref().filter(|q| !q.is_empty()).map(|q| crate::inventory::sketch::stable_hash(q.as_bytes())),
        status: call.status_code.unwrap_or(0),
        req_bytes: call.request_body_len,
        resp_bytes: call.response_body_len,
        latency_ms: call.latency_ms.unwrap_or(0.0),
        array_len: resp_body.map(largest_array).unwrap_or(0),
        hits: signatures::scan(call.uri.as_deref(), req_body, call.user_agent.as_deref()),
        login,
        incomplete,
        method,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client cannot make the texts detection keeps per call and per identity as large as
    /// a header, and a cut never splits a character.
    #[test]
    fn texts_are_cut_to_their_limits() {
        let mut c = crate::testutil::call("GET", "api.example", &format!("/{}", "éte".repeat(60)).repeat(20));
        c.user_agent = Some(format!("x{}", "ü".repeat(3000)));
        c.uid = "C".repeat(500);
        c.auth_scheme = Some("bearer".into());
        c.auth_hash = Some("f".repeat(1000));
        c.auth_user = Some("u".repeat(1000));
        let ev = from_call(&c, &TrustedProxies::default(), &|_| false);
        for (text, max) in [
            (&ev.agent, MAX_AGENT),
            (&ev.endpoint, MAX_ENDPOINT),
            (&ev.uid, MAX_UID),
            (ev.credential.as_ref().unwrap(), MAX_IDENTITY),
            (ev.user.as_ref().unwrap(), MAX_IDENTITY),
        ] {
            assert!(text.len() <= max && text.len() + 4 > max, "{} bytes against {max}", text.len());
        }
        assert!(ev.agent.starts_with("xü") && ev.credential.unwrap().starts_with("bearer:fff"));
        assert_eq!(clip("ab€".into(), 4), "ab");
        assert_eq!(clip("abc".into(), 3), "abc");
    }

    #[test]
    fn templates_by_segment_kind() {
        assert_eq!(template("/api/v1/users/42/orders"), ("/api/v1/users/{user_id}/orders".into(), Some("42".into())));
        assert_eq!(template("/api/v1/orders/1017"), ("/api/v1/orders/{order_id}".into(), Some("1017".into())));
        assert_eq!(template("/"), ("/".into(), None));
        assert_eq!(template("/api/v1/products"), ("/api/v1/products".into(), None));
    }

    /// Strings crossed a byte at a time, as the scan did before, to hold the faster one to.
    fn largest_array_bytewise(body: &[u8]) -> u64 {
        if !json::looks_like_json(body) {
            return 0;
        }
        let mut arrays = Arrays::default();
        let (mut in_string, mut escaped) = (false, false);
        for &b in body {
            if in_string {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            if b.is_ascii_whitespace() {
                continue;
            }
            arrays.token(b);
            in_string = b == b'"';
        }
        arrays.largest()
    }

    /// Bodies made of JSON's structural bytes, escapes, whitespace and text, cut anywhere:
    /// the string-skipping scan counts exactly what the byte-at-a-time one did.
    #[test]
    fn skipping_strings_counts_as_the_bytewise_scan() {
        const PIECES: [&[u8]; 16] =
            [b"[", b"]", b"{", b"}", b",", b"\"", b"\\", b"\\\"", b" ", b"\n", b"1", b"ab", b":", b"\"x\"", b"[\"a,b\",", b"\"k\":["];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        for _ in 0..50_000 {
            let mut body = if next() % 2 == 0 { b"[".to_vec() } else { b"{".to_vec() };
            for _ in 0..next() % 60 {
                body.extend_from_slice(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
            assert_eq!(largest_array(&body), largest_array_bytewise(&body), "{}", String::from_utf8_lossy(&body));
            checked += u64::from(largest_array(&body) > 0);
        }
        assert!(checked > 10_000, "the generator should make arrays with elements: {checked}");
    }

    #[test]
    fn arrays_are_measured() {
        assert_eq!(largest_array(br#"{"items":[{"a":1},{"a":2},{"a":3}],"tags":["x"]}"#), 3);
        assert_eq!(largest_array(br#"[1,2,3,4]"#), 4);
        assert_eq!(largest_array(b"not json"), 0);
        assert_eq!(largest_array(br#"{"a":"[1,2,3]","b":[],"c":[{"x":"],"},7]}"#), 2);
        assert_eq!(largest_array(br#"{"items":[1,2,3,4,5"#), 5, "a cut body counts what it has");
        assert_eq!(largest_array(&[b'['; 100]), 1);
    }
}
