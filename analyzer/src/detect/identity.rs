//! Who made a call: the client address (forwarded headers believed only from a trusted
//! proxy), the credential (a keyed hash from the sensor, never the secret), the user (JWT
//! subject, Basic user, or the name a login body carries), and the user agent. The
//! [`IdentityGraph`] remembers which addresses and agents each credential and user came
//! from, so a known token showing up somewhere new is visible.
//!
//! Bounded: the graph keeps [`GRAPH_ENTRIES`] identities, least recently seen dropped
//! first (counted), and at most [`LINKS`] addresses and agents per identity.

use super::bounded::BoundedLru;
use ipnet::IpNet;
use sensor::ApiCall;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

pub const GRAPH_ENTRIES: usize = 200_000;
pub const LINKS: usize = 16;

/// How an identity was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The client address.
    Ip,
    /// A bearer token, API key or session cookie (its keyed hash).
    Credential,
    /// A user: JWT subject, Basic or Digest user name, or the name given at login.
    User,
    /// An endpoint, for attacks spread over many clients (`targeted_ddos`).
    Endpoint,
}

impl IdentityKind {
    pub fn name(self) -> &'static str {
        match self {
            IdentityKind::Ip => "ip",
            IdentityKind::Credential => "credential",
            IdentityKind::User => "user",
            IdentityKind::Endpoint => "endpoint",
        }
    }
}

/// Addresses whose forwarded headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses and CIDRs (`10.0.0.0/8`, `192.0.2.7`).
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<TrustedProxies, String> {
        let mut v = Vec::new();
        for it in items {
            let s = it.as_ref().trim();
            let net = s
                .parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("trusted proxy {s:?} is neither an address nor a CIDR"))?;
            v.push(net);
        }
        Ok(TrustedProxies(v))
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client address of a call: the direct peer, unless the peer is a trusted proxy, in
/// which case the forwarded chain is walked from the right, skipping trusted hops (the
/// left-most entries are whatever the client chose to send).
pub fn client_ip(call: &ApiCall, trusted: &TrustedProxies) -> IpAddr {
    let fwd = Forwarding {
        true_client_ip: call.true_client_ip.as_deref(),
        forwarded: call.forwarded.as_deref(),
        x_forwarded_for: call.x_forwarded_for.as_deref(),
    };
    client_ip_of(call.orig_h, &fwd, trusted)
}

/// The forwarding headers of a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forwarding<'a> {
    pub true_client_ip: Option<&'a str>,
    pub forwarded: Option<&'a str>,
    pub x_forwarded_for: Option<&'a str>,
}

/// [`client_ip`] for a request that is not a record (the decision API's).
pub fn client_ip_of(peer: IpAddr, fwd: &Forwarding<'_>, trusted: &TrustedProxies) -> IpAddr {
    if trusted.is_empty() || !trusted.contains(&peer) {
        return peer;
    }
    if let Some(ip) = fwd.true_client_ip.and_then(parse_addr) {
        return ip;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    if let Some(f) = fwd.forwarded {
        for elem in f.split(',') {
            for pair in elem.split(';') {
                if let Some((k, v)) = pair.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("for") {
                        if let Some(ip) = parse_addr(v) {
                            chain.push(ip);
                        }
                    }
                }
            }
        }
    } else if let Some(x) = fwd.x_forwarded_for {
        chain.extend(x.split(',').filter_map(parse_addr));
    }
    chain.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer)
}

/// An address as forwarded headers write it: bare, quoted, bracketed IPv6, with a port.
fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.rsplit_once(':').and_then(|(h, p)| p.chars().all(|c| c.is_ascii_digit()).then(|| h.parse().ok()).flatten())
}

/// The user a call names, if any: JWT subject, then the Basic/Digest user.
pub fn user_of(call: &ApiCall) -> Option<String> {
    if let Some(jwt) = &call.auth_jwt {
        if let Some(sub) = jwt_subject(jwt) {
            return Some(format!("sub:{sub}"));
        }
    }
    call.auth_user.as_ref().map(|u| format!("user:{u}"))
}

/// A JWT's subject as users and block lists name it: `SUB@ISSUER`, or `SUB` when the token
/// names no issuer.
pub fn jwt_subject(jwt: &sensor::record::JwtRecord) -> Option<String> {
    let sub = jwt.sub.as_deref()?;
    Some(match jwt.iss.as_deref().filter(|i| !i.is_empty()) {
        Some(iss) => format!("{sub}@{iss}"),
        None => sub.to_string(),
    })
}

/// What the graph knows of one credential or user.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Links {
    pub first_seen: f64,
    pub last_seen: f64,
    pub calls: u64,
    /// Addresses with when each was first and last seen.
    pub ips: Vec<(IpAddr, f64, f64)>,
    /// User-agent hashes (see [`ua_hash`]) with when each was first seen and a sample.
    pub agents: Vec<(u64, f64, String)>,
}

impl Links {
    /// Whether a call from `ip` with agent `ua` at `ts` comes from an origin that appeared
    /// recently (within [`CONCURRENT_SECONDS`]), after the identity was already in use
    /// elsewhere, with an agent new at the same time: a token carried somewhere else.
    pub fn recent_origin(&self, ts: f64, ip: IpAddr, ua: u64) -> bool {
        let Some((_, ip_first, _)) = self.ips.iter().find(|(a, _, _)| *a == ip) else {
            return false;
        };
        let Some((_, ua_first, _)) = self.agents.iter().find(|(h, _, _)| *h == ua) else {
            return false;
        };
        let older_elsewhere = self.ips.iter().any(|(a, f, _)| *a != ip && f < ip_first);
        older_elsewhere
            && ts - ip_first <= CONCURRENT_SECONDS
            && *ua_first >= self.first_seen
            && *ua_first > self.first_seen.min(*ip_first - 1.0)
    }
}

/// What is new about a call for its identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Novelty {
    /// The identity was known (seen in earlier calls) and this address is new for it.
    pub new_ip: bool,
    pub new_agent: bool,
    /// Another address used this identity within the last [`CONCURRENT_SECONDS`].
    pub concurrent: bool,
}

/// Another address using a credential within this time is concurrent use.
pub const CONCURRENT_SECONDS: f64 = 600.0;

pub fn ua_hash(ua: &str) -> u64 {
    crate::inventory::sketch::stable_hash(ua.as_bytes())
}

/// Credentials and users linked to where they came from.
pub struct IdentityGraph {
    map: BoundedLru<(IdentityKind, String), Links>,
}

impl Default for IdentityGraph {
    fn default() -> Self {
        IdentityGraph::with_budget(usize::MAX)
    }
}

/// What an identity's entry holds on the heap: its name, its links and their agents' names.
fn entry_heap(k: &(IdentityKind, String), l: &Links) -> usize {
    k.1.capacity()
        + l.ips.capacity() * std::mem::size_of::<(IpAddr, f64, f64)>()
        + l.agents.capacity() * std::mem::size_of::<(u64, f64, String)>()
        + l.agents.iter().map(|(_, _, a)| a.capacity()).sum::<usize>()
}

impl IdentityGraph {
    /// At most [`GRAPH_ENTRIES`] identities in about `budget` bytes, the least recently seen
    /// let go of first.
    pub fn with_budget(budget: usize) -> IdentityGraph {
        IdentityGraph { map: BoundedLru::new(GRAPH_ENTRIES, budget, entry_heap) }
    }

    /// Identities let go of to stay within the bounds.
    pub fn evicted(&self) -> u64 {
        self.map.evicted
    }

    /// The estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.map.bytes()
    }

    /// Records a call by `key` from `ip` with `agent`, and says what was new.
    pub fn observe(&mut self, kind: IdentityKind, key: &str, ts: f64, ip: IpAddr, agent: &str) -> Novelty {
        // Most identities keep one address and one agent: room for one each, not the four a
        // first push makes.
        let make = || Links { first_seen: ts, ips: Vec::with_capacity(1), agents: Vec::with_capacity(1), ..Default::default() };
        self.map.update((kind, key.to_string()), make, |l| Self::link(l, ts, ip, agent))
    }

    fn link(l: &mut Links, ts: f64, ip: IpAddr, agent: &str) -> Novelty {
        let known = l.calls > 0;
        let h = ua_hash(agent);
        let mut n = Novelty { concurrent: l.ips.iter().any(|(other, _, t)| *other != ip && ts - t <= CONCURRENT_SECONDS), ..Novelty::default() };
        match l.ips.iter_mut().find(|(a, _, _)| *a == ip) {
            Some(e) => e.2 = ts,
            None => {
                n.new_ip = known;
                if l.ips.len() >= LINKS {
                    l.ips.remove(0);
                }
                l.ips.push((ip, ts, ts));
            }
        }
        if !l.agents.iter().any(|(a, _, _)| *a == h) {
            n.new_agent = known;
            if l.agents.len() < LINKS {
                l.agents.push((h, ts, agent.chars().take(120).collect()));
            }
        }
        l.calls += 1;
        l.last_seen = ts;
        n
    }

    pub fn get(&self, kind: IdentityKind, key: &str) -> Option<&Links> {
        self.map.peek(&(kind, key.to_string()))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The most recently seen `n` entries, for persistence.
    pub fn recent(&self, n: usize) -> Vec<(&(IdentityKind, String), &Links)> {
        let mut v: Vec<_> = self.map.iter().collect();
        v.sort_by(|a, b| b.1.last_seen.total_cmp(&a.1.last_seen));
        v.truncate(n);
        v
    }

    pub fn restore(&mut self, entries: Vec<((IdentityKind, String), Links)>) {
        for (k, l) in entries.into_iter().rev() {
            self.map.insert(k, l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::call;

    #[test]
    fn forwarded_headers_only_from_trusted_proxies() {
        let mut c = call("GET", "api.example", "/a");
        c.orig_h = "10.0.0.5".parse().unwrap();
        c.x_forwarded_for = Some("6.6.6.6, 203.0.113.9, 10.0.0.4".into());
        assert_eq!(client_ip(&c, &TrustedProxies::default()), c.orig_h);
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(client_ip(&c, &t), "203.0.113.9".parse::<IpAddr>().unwrap());
        c.forwarded = Some("for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.3".into());
        assert_eq!(client_ip(&c, &t), "2001:db8::7".parse::<IpAddr>().unwrap());
        c.true_client_ip = Some("198.51.100.2".into());
        assert_eq!(client_ip(&c, &t), "198.51.100.2".parse::<IpAddr>().unwrap());
        assert!(TrustedProxies::parse(&["nonsense"]).is_err());
    }

    #[test]
    fn graph_sees_a_known_token_somewhere_new() {
        let mut g = IdentityGraph::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(g.observe(IdentityKind::Credential, "t", 0.0, a, "Firefox"), Novelty::default());
        assert_eq!(g.observe(IdentityKind::Credential, "t", 1.0, a, "Firefox"), Novelty::default());
        let n = g.observe(IdentityKind::Credential, "t", 2.0, b, "curl/8");
        assert!(n.new_ip && n.new_agent && n.concurrent);
    }
}
