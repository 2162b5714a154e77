//! Decisions on live requests: a gateway's sideband call (or an nginx `auth_request`) hands
//! over a request's metadata, and [`Matcher::decide`] answers allow or block against a
//! snapshot of the block list. The request's credential is found and hashed by the sensor's
//! own code with the deployment's key, so a token blocked from the records is recognised on
//! the wire; the client address is resolved through trusted proxies as detection resolves it.
//!
//! Guarantees: a decision is a handful of hash lookups (one per identity, one per distinct CIDR
//! prefix length), never a scan of the list; an allow-listed address is always allowed; in
//! dry-run the verdict is always allow, with the entry that would have blocked.

use super::blocklist::{AllowList, BlockEntry, BlockKey, BlockKind};
use crate::detect::identity::{client_ip_of, jwt_subject, Forwarding, TrustedProxies};
use ipnet::IpNet;
use sensor::hash::CredentialHasher;
use sensor::http::message::{credential, query_of, Credential};
use sensor::http::parse::RawHeader;
use std::collections::HashMap;
use std::net::IpAddr;

/// A request as the gateway describes it.
#[derive(Clone, Debug, Default)]
pub struct DecisionRequest<'a> {
    /// The address the gateway saw the request from.
    pub client_ip: Option<IpAddr>,
    pub method: &'a str,
    /// The request target (path and query).
    pub url: &'a str,
    /// Header names and values, as received.
    pub headers: Vec<(&'a str, &'a str)>,
}

/// The answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision<'a> {
    pub block: bool,
    /// The entry that blocks (or would block, in dry-run).
    pub entry: Option<&'a BlockEntry>,
    /// The client address after trusted proxies.
    pub client_ip: Option<IpAddr>,
    pub allowlisted: bool,
    pub dry_run: bool,
    /// The key the request's credential is (or would be) blocked by, if it carries one
    /// (what `X-Apitap-Credential` says).
    pub credential: Option<BlockKey>,
}

/// The credential a request carries, found and hashed as the sensor does for records.
pub fn request_credential(headers: &[(&str, &str)], url: &str, hasher: &CredentialHasher) -> Option<Credential> {
    let raw: Vec<RawHeader<'_>> = headers.iter().map(|(k, v)| RawHeader { name: k.as_bytes(), value: std::borrow::Cow::Borrowed(v.as_bytes()) }).collect();
    credential(&raw, query_of(url.as_bytes()), hasher)
}

/// The block-list key of a credential.
pub fn credential_key(c: &Credential) -> Option<BlockKey> {
    BlockKey::new(BlockKind::of_scheme(&c.scheme), &c.hash).ok()
}

/// A read-only view of the block list built for lookups.
#[derive(Debug)]
pub struct Matcher {
    entries: Vec<BlockEntry>,
    /// Identity entries by kind, then value (so a lookup borrows the request's string).
    exact: HashMap<BlockKind, HashMap<String, usize>>,
    hosts: HashMap<IpAddr, usize>,
    /// CIDR entries by prefix length, longest first.
    nets: Vec<(u8, HashMap<IpNet, usize>)>,
    allow: AllowList,
    trusted: TrustedProxies,
    hasher: CredentialHasher,
    dry_run: bool,
}

impl Matcher {
    pub fn new(entries: Vec<BlockEntry>, allow: AllowList, trusted: TrustedProxies, hasher: CredentialHasher, dry_run: bool) -> Matcher {
        let mut exact = HashMap::new();
        let mut hosts = HashMap::new();
        let mut by_len: HashMap<u8, HashMap<IpNet, usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            match e.key.net() {
                Some(net) if net.prefix_len() == net.max_prefix_len() => {
                    hosts.insert(net.addr(), i);
                }
                Some(net) => {
                    by_len.entry(net.prefix_len()).or_default().insert(net, i);
                }
                None => {
                    exact.entry(e.key.kind).or_insert_with(HashMap::new).insert(e.key.value.clone(), i);
                }
            }
        }
        let mut nets: Vec<(u8, HashMap<IpNet, usize>)> = by_len.into_iter().collect();
        nets.sort_by_key(|n| std::cmp::Reverse(n.0));
        Matcher { entries, exact, hosts, nets, allow, trusted, hasher, dry_run }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries this matcher was built from.
    pub fn entries(&self) -> &[BlockEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    fn ip_entry(&self, ip: IpAddr, now: f64) -> Option<&BlockEntry> {
        let live = |i: &usize| self.entries.get(*i).filter(|e| e.active(now));
        if let Some(e) = self.hosts.get(&ip).and_then(live) {
            return Some(e);
        }
        for (len, map) in &self.nets {
            let Ok(net) = IpNet::new(ip, *len) else { continue };
            if let Some(e) = map.get(&net.trunc()).and_then(live) {
                return Some(e);
            }
        }
        None
    }

    fn identity_entry(&self, kind: BlockKind, value: &str, now: f64) -> Option<&BlockEntry> {
        self.exact.get(&kind).and_then(|m| m.get(value)).and_then(|i| self.entries.get(*i)).filter(|e| e.active(now))
    }

    /// Decides on one request at wall-clock time `now` (Unix seconds).
    pub fn decide(&self, req: &DecisionRequest<'_>, now: f64) -> Decision<'_> {
        let header = |name: &str| req.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
        let client_ip = req.client_ip.map(|peer| {
            let fwd = Forwarding {
                true_client_ip: header("true-client-ip"),
                forwarded: header("forwarded"),
                x_forwarded_for: header("x-forwarded-for"),
            };
            client_ip_of(peer, &fwd, &self.trusted)
        });
        let cred = request_credential(&req.headers, req.url, &self.hasher);
        let credential = cred.as_ref().and_then(credential_key);
        let mut d = Decision { block: false, entry: None, client_ip, allowlisted: false, dry_run: self.dry_run, credential };
        if client_ip.is_some_and(|ip| self.allow.contains_ip(&ip)) {
            d.allowlisted = true;
            return d;
        }
        let mut entry = client_ip.and_then(|ip| self.ip_entry(ip, now));
        if entry.is_none() {
            if let Some(c) = &cred {
                entry = d.credential.as_ref().and_then(|k| self.identity_entry(k.kind, &k.value, now));
                if entry.is_none() {
                    if let Some(v) = c.jwt.as_ref().and_then(jwt_subject) {
                        entry = self.identity_entry(BlockKind::JwtSub, &v, now);
                    }
                }
                if entry.is_none() {
                    if let Some(u) = &c.user {
                        entry = self.identity_entry(BlockKind::User, u, now);
                    }
                }
            }
        }
        d.entry = entry;
        d.block = entry.is_some() && !self.dry_run;
        d
    }


}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::alerts::Severity;
    use crate::enforce::blocklist::{BlockList, BlockPolicy};

    fn matcher(keys: &[&str], dry_run: bool) -> Matcher {
        let hasher = CredentialHasher::new([3; 32]);
        let mut p = BlockPolicy::default();
        p.allow.nets.push("192.0.2.0/28".parse().unwrap());
        let mut b = BlockList::new(p.clone());
        for k in keys {
            b.add_manual(BlockKey::parse(k).unwrap(), Severity::High, 100.0, "test", 0.0).unwrap();
        }
        let trusted = TrustedProxies::parse(&["10.0.0.1"]).unwrap();
        Matcher::new(b.entries().into_iter().cloned().collect(), p.allow, trusted, hasher, dry_run)
    }

    fn req<'a>(ip: &str, headers: Vec<(&'a str, &'a str)>) -> DecisionRequest<'a> {
        DecisionRequest { client_ip: Some(ip.parse().unwrap()), method: "GET", url: "/x?q=1", headers }
    }

    #[test]
    fn addresses_and_cidrs() {
        let m = matcher(&["198.51.100.7", "203.0.113.0/24", "2001:db8:1::/48"], false);
        assert!(m.decide(&req("198.51.100.7", vec![]), 1.0).block);
        assert!(!m.decide(&req("198.51.100.8", vec![]), 1.0).block);
        assert!(m.decide(&req("203.0.113.200", vec![]), 1.0).block);
        assert!(m.decide(&req("2001:db8:1:ffff::1", vec![]), 1.0).block);
        // Expired.
        assert!(!m.decide(&req("198.51.100.7", vec![]), 1000.0).block);
        // Through a trusted proxy, the forwarded address is the client's; an untrusted peer's
        // X-Forwarded-For is ignored.
        assert!(m.decide(&req("10.0.0.1", vec![("X-Forwarded-For", "198.51.100.7")]), 1.0).block);
        assert!(!m.decide(&req("10.0.0.2", vec![("X-Forwarded-For", "198.51.100.7")]), 1.0).block);
    }

    #[test]
    fn credentials_are_hashed_like_records() {
        let hasher = CredentialHasher::new([3; 32]);
        let token = hasher.hash(b"s3cr3t-token");
        let key = hasher.hash(b"k-123");
        let cookie = hasher.hash(b"abcdef");
        let m = matcher(&[&format!("token:{token}"), &format!("api_key:{key}"), &format!("cookie:{cookie}"), "user:mallory"], false);
        assert!(m.decide(&req("198.51.100.1", vec![("authorization", "Bearer s3cr3t-token")]), 1.0).block);
        assert!(!m.decide(&req("198.51.100.1", vec![("authorization", "Bearer other")]), 1.0).block);
        assert!(m.decide(&req("198.51.100.1", vec![("X-Api-Key", "k-123")]), 1.0).block);
        assert!(m.decide(&DecisionRequest { url: "/x?api_key=k-123", ..req("198.51.100.1", vec![]) }, 1.0).block);
        assert!(m.decide(&req("198.51.100.1", vec![("Cookie", "theme=dark; sessionid=abcdef")]), 1.0).block);
        // Basic: mallory:anything.
        assert!(m.decide(&req("198.51.100.1", vec![("Authorization", "Basic bWFsbG9yeTphbnl0aGluZw==")]), 1.0).block);
    }

    #[test]
    fn jwt_subject() {
        // {"alg":"HS256"} . {"sub":"42","iss":"https://idp"} . sig
        let jwt = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiIsImlzcyI6Imh0dHBzOi8vaWRwIn0.c2ln";
        let m = matcher(&["jwt_sub:42@https://idp"], false);
        assert!(m.decide(&req("198.51.100.1", vec![("Authorization", jwt)]), 1.0).block);
    }

    #[test]
    fn allow_list_and_dry_run() {
        let m = matcher(&["198.51.100.7"], true);
        let d = m.decide(&req("198.51.100.7", vec![]), 1.0);
        assert!(!d.block && d.entry.is_some() && d.dry_run);
        let m = matcher(&["user:mallory"], false);
        let d = m.decide(&req("192.0.2.3", vec![("Authorization", "Basic bWFsbG9yeTphbnl0aGluZw==")]), 1.0);
        assert!(!d.block && d.allowlisted);
    }
}
