//! Everything the inventory knows about one endpoint, as mergeable statistics: two
//! endpoints' stats merged are the stats of both, which is how templates are revised (merge
//! the concrete paths a template covers) and how a second run adds to a database.
//!
//! Bounded: at most [`MAX_PARAMS`] parameters, [`MAX_SENSITIVE`] sensitive-field entries,
//! [`MAX_CONTENT_TYPES`] content types and [`MAX_STATUSES`] status codes per endpoint;
//! what does not fit is counted in `dropped`.

use super::sensitive::Sensitive;
use super::sketch::{Distinct, Quantiles};
use super::values::ParamStats;
use std::collections::BTreeMap;

pub const MAX_PARAMS: usize = 256;
pub const MAX_SENSITIVE: usize = 256;
pub const MAX_CONTENT_TYPES: usize = 16;
pub const MAX_STATUSES: usize = 64;
/// Distinct JWT issuers and claim names kept.
pub const MAX_JWT_NAMES: usize = 32;
/// A token living longer than this is flagged.
pub const LONG_LIVED_SECS: i64 = 24 * 3600;

/// Where a parameter or a sensitive value was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    Path,
    Query,
    Matrix,
    /// A field of a JSON request body.
    Body,
    /// A field of a form-encoded request body.
    Form,
    /// A field of a JSON response body.
    Response,
}

impl Location {
    /// Whether parameters here come from bodies, and so are counted out of
    /// [`EndpointStats::bodies`] rather than all calls.
    pub fn from_body(self) -> bool {
        matches!(self, Location::Body | Location::Form | Location::Response)
    }
}

impl Location {
    pub const ALL: [Location; 6] = [Location::Path, Location::Query, Location::Matrix, Location::Body, Location::Form, Location::Response];

    pub fn name(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Matrix => "matrix",
            Location::Body => "body",
            Location::Form => "form",
            Location::Response => "response",
        }
    }

    pub fn from_name(s: &str) -> Option<Location> {
        Location::ALL.into_iter().find(|l| l.name() == s)
    }
}

/// JWTs seen on an endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JwtStats {
    pub seen: u64,
    pub algs: BTreeMap<String, u64>,
    pub issuers: BTreeMap<String, u64>,
    pub claims: BTreeMap<String, u64>,
    /// Tokens with `alg: none`.
    pub alg_none: u64,
    /// Tokens without an `exp` claim.
    pub no_exp: u64,
    /// Tokens whose lifetime (`exp - iat`) exceeds [`LONG_LIVED_SECS`].
    pub long_lived: u64,
    pub max_lifetime_secs: Option<i64>,
}

impl JwtStats {
    pub fn merge(&mut self, o: &JwtStats) {
        self.seen += o.seen;
        for (mine, theirs) in [(&mut self.algs, &o.algs), (&mut self.issuers, &o.issuers), (&mut self.claims, &o.claims)] {
            for (k, v) in theirs {
                bump(mine, k, *v, MAX_JWT_NAMES);
            }
        }
        self.alg_none += o.alg_none;
        self.no_exp += o.no_exp;
        self.long_lived += o.long_lived;
        self.max_lifetime_secs = self.max_lifetime_secs.max(o.max_lifetime_secs);
    }
}

/// Adds `n` to `k` in a map that holds at most `cap` keys; a new key beyond it is dropped.
fn bump(m: &mut BTreeMap<String, u64>, k: &str, n: u64, cap: usize) -> bool {
    if let Some(v) = m.get_mut(k) {
        *v += n;
        true
    } else if m.len() < cap {
        m.insert(k.to_string(), n);
        true
    } else {
        false
    }
}

/// One endpoint's statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndpointStats {
    pub calls: u64,
    /// Packet time, epoch seconds.
    pub first_seen: f64,
    pub last_seen: f64,
    /// Response status counts; 0 counts requests that got no response.
    pub statuses: BTreeMap<u16, u64>,
    pub latency_ms: Quantiles,
    pub request_bytes: Quantiles,
    pub response_bytes: Quantiles,
    /// Distinct client addresses, and distinct credentials.
    pub clients: Distinct,
    pub credentials: Distinct,
    /// Content types by direction (`request`, `response`).
    pub content_types: BTreeMap<(String, String), u64>,
    pub params: BTreeMap<(Location, String), ParamStats>,
    /// Calls by auth scheme (`none` for none).
    pub auth: BTreeMap<String, u64>,
    /// 2xx responses to requests that carried no credential.
    pub unauth_success: u64,
    pub jwt: JwtStats,
    pub sensitive: BTreeMap<(Location, String, Sensitive), u64>,
    /// Parameters, sensitive entries, content types or statuses that did not fit.
    pub dropped: u64,
    /// Calls whose bodies were analysed (fields, sensitive data); see
    /// [`crate::inventory::BodySampler`]. Body-derived counts are out of these.
    pub bodies: u64,
}

impl EndpointStats {
    /// The first observation sets `first_seen`; later ones extend the span.
    pub fn touch(&mut self, ts: f64) {
        if self.calls == 0 || ts < self.first_seen {
            self.first_seen = ts;
        }
        if ts > self.last_seen {
            self.last_seen = ts;
        }
        self.calls += 1;
    }

    pub fn status(&mut self, code: u16) {
        if let Some(n) = self.statuses.get_mut(&code) {
            *n += 1;
        } else if self.statuses.len() < MAX_STATUSES {
            self.statuses.insert(code, 1);
        } else {
            self.dropped += 1;
        }
    }

    pub fn content_type(&mut self, dir: &str, ct: &str) {
        // Parameters (`; charset=utf-8`) do not make a different type.
        let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if base.is_empty() {
            return;
        }
        let key = (dir.to_string(), base);
        if let Some(n) = self.content_types.get_mut(&key) {
            *n += 1;
        } else if self.content_types.len() < MAX_CONTENT_TYPES {
            self.content_types.insert(key, 1);
        } else {
            self.dropped += 1;
        }
    }

    /// The parameter `name` at `loc`, if there is room for it.
    pub fn param(&mut self, loc: Location, name: &str) -> Option<&mut ParamStats> {
        let key = (loc, name.to_string());
        if !self.params.contains_key(&key) && self.params.len() >= MAX_PARAMS {
            self.dropped += 1;
            return None;
        }
        Some(self.params.entry(key).or_default())
    }

    pub fn sensitive_seen(&mut self, loc: Location, field: &str, kind: Sensitive) {
        let key = (loc, field.to_string(), kind);
        if let Some(n) = self.sensitive.get_mut(&key) {
            *n += 1;
        } else if self.sensitive.len() < MAX_SENSITIVE {
            self.sensitive.insert(key, 1);
        } else {
            self.dropped += 1;
        }
    }

    pub fn auth_scheme(&mut self, scheme: &str) {
        bump(&mut self.auth, scheme, 1, 16);
    }

    pub fn merge(&mut self, o: &EndpointStats) {
        if o.calls == 0 {
            return;
        }
        if self.calls == 0 {
            self.first_seen = o.first_seen;
            self.last_seen = o.last_seen;
        } else {
            self.first_seen = self.first_seen.min(o.first_seen);
            self.last_seen = self.last_seen.max(o.last_seen);
        }
        self.calls += o.calls;
        for (k, v) in &o.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        self.latency_ms.merge(&o.latency_ms);
        self.request_bytes.merge(&o.request_bytes);
        self.response_bytes.merge(&o.response_bytes);
        self.clients.merge(&o.clients);
        self.credentials.merge(&o.credentials);
        for (k, v) in &o.content_types {
            *self.content_types.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.params {
            if let Some(p) = self.params.get_mut(k) {
                p.merge(v);
            } else if self.params.len() < MAX_PARAMS {
                self.params.insert(k.clone(), v.clone());
            } else {
                self.dropped += 1;
            }
        }
        for (k, v) in &o.auth {
            *self.auth.entry(k.clone()).or_default() += v;
        }
        self.unauth_success += o.unauth_success;
        self.jwt.merge(&o.jwt);
        for (k, v) in &o.sensitive {
            if let Some(n) = self.sensitive.get_mut(k) {
                *n += v;
            } else if self.sensitive.len() < MAX_SENSITIVE {
                self.sensitive.insert(k.clone(), *v);
            } else {
                self.dropped += 1;
            }
        }
        self.dropped += o.dropped;
        self.bodies += o.bodies;
    }

    /// Calls that carried a credential of any kind.
    pub fn authenticated_calls(&self) -> u64 {
        self.auth.iter().filter(|(k, _)| k.as_str() != "none").map(|(_, v)| v).sum()
    }

    /// Whether every response was 404 (or none came): probing, not an endpoint.
    pub fn only_not_found(&self) -> bool {
        self.statuses.keys().all(|s| *s == 404 || *s == 0)
    }

    /// Heuristic estimate of fixed overhead plus what the maps hold, for memory bounds.
    pub fn approx_bytes(&self) -> usize {
        const BASE: usize = 1024;
        BASE + self.params.len() * 160 + self.sensitive.len() * 64 + self.statuses.len() * 48 + self.content_types.len() * 64
            + match (&self.clients, &self.credentials) {
                (super::sketch::Distinct::Hll(_), _) | (_, super::sketch::Distinct::Hll(_)) => 1024,
                _ => 0,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_addition() {
        let mut a = EndpointStats::default();
        a.touch(10.0);
        a.status(200);
        a.latency_ms.add(5.0);
        a.auth_scheme("bearer");
        a.param(Location::Query, "page").unwrap().observe_text("1");
        let mut b = EndpointStats::default();
        b.touch(5.0);
        b.touch(20.0);
        b.status(200);
        b.status(404);
        b.auth_scheme("none");
        b.param(Location::Query, "page").unwrap().observe_text("9");
        b.sensitive_seen(Location::Body, "email", Sensitive::Email);
        a.merge(&b);
        assert_eq!(a.calls, 3);
        assert_eq!((a.first_seen, a.last_seen), (5.0, 20.0));
        assert_eq!(a.statuses[&200], 2);
        assert_eq!(a.authenticated_calls(), 1);
        let p = &a.params[&(Location::Query, "page".to_string())];
        assert_eq!((p.present, p.num_max), (2, Some(9.0)));
        assert_eq!(a.sensitive.len(), 1);
        assert!(!a.only_not_found());
    }

    #[test]
    fn bounded() {
        let mut e = EndpointStats::default();
        for i in 0..(MAX_PARAMS + 10) {
            let _ = e.param(Location::Query, &format!("p{i}"));
        }
        assert_eq!(e.params.len(), MAX_PARAMS);
        assert_eq!(e.dropped, 10);
        for i in 0..100u16 {
            e.status(100 + i);
        }
        assert_eq!(e.statuses.len(), MAX_STATUSES);
        e.content_type("response", "application/json; charset=utf-8");
        e.content_type("response", "Application/JSON");
        assert_eq!(e.content_types[&("response".to_string(), "application/json".to_string())], 2);
    }
}
