//! The block list: what apitap asks enforcers (WAFs, gateways, firewalls, the decision API) to
//! block, built from alerts as they arrive and from manual entries. Each entry is keyed by one
//! identity (an address or CIDR, a JWT subject, the keyed hash of a token, API key or session
//! cookie, or a user name), says why (attack, severity, alert ids) and until when (a TTL by
//! severity, counted from when the entry was last confirmed).
//!
//! Guarantees: an allow-listed address or user never gets an entry; no CIDR wider than the
//! configured prefix is ever listed; the list never holds more than `max_entries` (a full list
//! makes room only by evicting a less severe entry, and every refusal is counted). Times are
//! wall-clock Unix seconds, not packet time: a block list is about now, even when it was built
//! from the replay of an old capture.

use crate::detect::alerts::{Alert, Attack, Severity};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use thiserror::Error;

/// Alert ids kept per entry (the most recent).
pub const ALERT_IDS: usize = 8;

/// What an entry blocks on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// An address or CIDR (the client address, after trusted proxies).
    Ip,
    /// A JWT subject, as `SUB@ISSUER` (or `SUB` when the token names no issuer).
    JwtSub,
    /// The keyed hash of an `Authorization` credential (bearer token, Basic or Digest secret).
    Token,
    /// The keyed hash of an API key (header or query string).
    ApiKey,
    /// The keyed hash of a session cookie.
    Cookie,
    /// A user name sent in the clear (Basic or Digest).
    User,
}

impl BlockKind {
    pub const ALL: [BlockKind; 6] = [BlockKind::Ip, BlockKind::JwtSub, BlockKind::Token, BlockKind::ApiKey, BlockKind::Cookie, BlockKind::User];

    /// Stable name, as stored and exported.
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Ip => "ip",
            BlockKind::JwtSub => "jwt_sub",
            BlockKind::Token => "token",
            BlockKind::ApiKey => "api_key",
            BlockKind::Cookie => "cookie",
            BlockKind::User => "user",
        }
    }

    pub fn from_name(s: &str) -> Option<BlockKind> {
        BlockKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The kind a credential of this record scheme blocks as.
    pub fn of_scheme(scheme: &str) -> BlockKind {
        match scheme {
            "api_key" | "query_key" => BlockKind::ApiKey,
            "cookie" => BlockKind::Cookie,
            _ => BlockKind::Token,
        }
    }
}

/// One identity to block.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlockKey {
    pub kind: BlockKind,
    /// Canonical: an address without prefix for a single host, else `net/len` with host bits
    /// cleared; hashes in lowercase hex.
    pub value: String,
}

impl BlockKey {
    /// Parses `KIND:VALUE` or, for addresses, a bare address or CIDR (the CLI's form).
    pub fn parse(s: &str) -> Result<BlockKey, BlockError> {
        let s = s.trim();
        if let Some(net) = parse_net(s) {
            return Ok(BlockKey::ip(net));
        }
        let (k, v) = s.split_once(':').ok_or_else(|| BlockError::BadKey(s.to_string()))?;
        let kind = BlockKind::from_name(k.trim()).ok_or_else(|| BlockError::BadKey(s.to_string()))?;
        BlockKey::new(kind, v)
    }

    /// A key of `kind`, checked and made canonical.
    pub fn new(kind: BlockKind, value: &str) -> Result<BlockKey, BlockError> {
        let v = value.trim();
        match kind {
            BlockKind::Ip => parse_net(v).map(BlockKey::ip).ok_or_else(|| BlockError::BadKey(format!("ip:{v}"))),
            BlockKind::Token | BlockKind::ApiKey | BlockKind::Cookie => {
                if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(BlockKey { kind, value: v.to_ascii_lowercase() })
                } else {
                    Err(BlockError::BadKey(format!("{}:{v} (a credential is blocked by its 32-hex-digit keyed hash)", kind.name())))
                }
            }
            BlockKind::JwtSub | BlockKind::User => {
                if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
                    Err(BlockError::BadKey(format!("{}:{v}", kind.name())))
                } else {
                    Ok(BlockKey { kind, value: v.to_string() })
                }
            }
        }
    }

    pub fn ip(net: IpNet) -> BlockKey {
        let net = net.trunc();
        let value = if net.prefix_len() == net.max_prefix_len() { net.addr().to_string() } else { net.to_string() };
        BlockKey { kind: BlockKind::Ip, value }
    }

    /// The network of an `ip` key.
    pub fn net(&self) -> Option<IpNet> {
        if self.kind == BlockKind::Ip {
            parse_net(&self.value)
        } else {
            None
        }
    }
}

impl std::fmt::Display for BlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.value)
    }
}

/// An address or CIDR as users write them (a bare address is its host network).
pub fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Where an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Alert,
    Manual,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Alert => "alert",
            Origin::Manual => "manual",
        }
    }
}

/// One block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockEntry {
    pub key: BlockKey,
    /// The attack class that caused it (`manual` for manual entries).
    pub attack: String,
    pub severity: Severity,
    /// The alerts behind it, most recent last, at most [`ALERT_IDS`].
    pub alert_ids: Vec<String>,
    pub origin: Origin,
    /// Unix seconds (wall clock) the entry was created, last confirmed, and expires.
    pub created: f64,
    pub updated: f64,
    pub expires: f64,
    /// The alert's summary, or the note given with a manual entry.
    pub reason: String,
}

impl BlockEntry {
    pub fn active(&self, now: f64) -> bool {
        self.expires > now
    }
}

/// What the block list refused or did, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCounts {
    pub added: u64,
    pub refreshed: u64,
    /// Identities left out because the allow list covers them.
    pub allowlisted: u64,
    /// Alerts that block nothing by policy (their severity has no TTL, or their class is
    /// not among those that block).
    pub below_policy: u64,
    /// CIDRs wider than the guardrail allows.
    pub too_wide: u64,
    /// New entries refused because the list was full of entries at least as severe.
    pub refused_full: u64,
    /// Entries evicted to make room for a more severe one.
    pub evicted: u64,
    pub expired: u64,
}

/// A manual entry or configuration the block list refuses.
#[derive(Debug, Error, PartialEq)]
pub enum BlockError {
    #[error("'{0}' is not a block list key (an address, a CIDR, or KIND:VALUE with KIND one of ip, jwt_sub, token, api_key, cookie, user)")]
    BadKey(String),
    #[error("{key} is allow-listed and cannot be blocked")]
    Allowlisted { key: String },
    #[error("{key} is wider than the guardrail allows (at most /{min_prefix} for this address family)")]
    TooWide { key: String, min_prefix: u8 },
    #[error("the block list is full ({max} entries at least as severe); raise blocklist.max_entries or remove entries")]
    Full { max: usize },
}

/// Addresses and users that are never blocked.
#[derive(Clone, Debug, Default)]
pub struct AllowList {
    /// Configured CIDRs, health checkers and trusted proxies.
    pub nets: Vec<IpNet>,
    /// User names and JWT subjects (`SUB` or `SUB@ISSUER`).
    pub users: BTreeSet<String>,
}

impl AllowList {
    /// Whether blocking `key` would block anything allow-listed: an address inside an allowed
    /// net, or a CIDR that overlaps one.
    pub fn covers(&self, key: &BlockKey) -> bool {
        match key.kind {
            BlockKind::Ip => match key.net() {
                Some(net) => self.nets.iter().any(|a| a.contains(&net) || net.contains(a)),
                None => false,
            },
            BlockKind::User => self.users.contains(&key.value),
            BlockKind::JwtSub => {
                self.users.contains(&key.value) || key.value.split_once('@').is_some_and(|(sub, _)| self.users.contains(sub))
            }
            _ => false,
        }
    }

    pub fn contains_ip(&self, ip: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }
}

/// How alerts become blocks.
#[derive(Clone, Debug)]
pub struct BlockPolicy {
    /// Seconds an entry lives after its last confirmation, by severity (low, medium, high,
    /// critical); `None` means alerts of that severity block nothing.
    pub ttl: [Option<f64>; 4],
    pub allow: AllowList,
    pub max_entries: usize,
    /// The widest CIDRs that may be listed.
    pub min_prefix_v4: u8,
    pub min_prefix_v6: u8,
    /// Compute and store the list, but enforce nothing: decisions allow (saying what they
    /// would have blocked) and exports list entries as comments only.
    pub dry_run: bool,
    /// Attack classes that block; empty means all.
    pub attacks: BTreeSet<String>,
    /// Block the alert's credential or user as well as its addresses.
    pub block_identities: bool,
}

impl Default for BlockPolicy {
    fn default() -> Self {
        BlockPolicy {
            ttl: [None, Some(3600.0), Some(6.0 * 3600.0), Some(24.0 * 3600.0)],
            allow: AllowList::default(),
            max_entries: 10_000,
            min_prefix_v4: 16,
            min_prefix_v6: 48,
            dry_run: false,
            attacks: BTreeSet::new(),
            block_identities: true,
        }
    }
}

impl BlockPolicy {
    pub fn ttl_of(&self, s: Severity) -> Option<f64> {
        self.ttl[s as usize]
    }

    fn too_wide(&self, key: &BlockKey) -> Option<u8> {
        let net = key.net()?;
        let min = match net {
            IpNet::V4(_) => self.min_prefix_v4,
            IpNet::V6(_) => self.min_prefix_v6,
        };
        (net.prefix_len() < min).then_some(min)
    }
}

/// The block list with its policy. Changes since the last [`BlockList::take_changes`] are
/// tracked so the store writes only those.
#[derive(Debug, Default)]
pub struct BlockList {
    pub policy: BlockPolicy,
    entries: HashMap<BlockKey, BlockEntry>,
    changed: BTreeSet<BlockKey>,
    removed: BTreeSet<BlockKey>,
    /// The last `last_seen` applied per alert id, so an unchanged alert is not applied twice.
    applied: HashMap<String, f64>,
    pub counts: BlockCounts,
}

impl BlockList {
    pub fn new(policy: BlockPolicy) -> BlockList {
        BlockList { policy, ..BlockList::default() }
    }

    /// Loads stored entries (no change is recorded; the allow list and guardrails of the
    /// current policy are applied, so a tightened policy drops what it now forbids).
    pub fn restore(&mut self, entries: Vec<BlockEntry>) {
        for e in entries {
            if self.policy.allow.covers(&e.key) || self.policy.too_wide(&e.key).is_some() {
                self.removed.insert(e.key.clone());
                continue;
            }
            self.entries.insert(e.key.clone(), e);
        }
    }

    /// Marks `alerts` as applied as they stand (the alerts a resumed detector already had):
    /// only what goes on after this, or is new, changes the list, so a restart neither
    /// re-extends old blocks nor misses an incident that continues.
    pub fn mark_applied(&mut self, alerts: &[Alert]) {
        for a in alerts {
            self.applied.insert(a.id.clone(), a.last_seen);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &BlockKey) -> Option<&BlockEntry> {
        self.entries.get(key)
    }

    /// Entries, sorted by key.
    pub fn entries(&self) -> Vec<&BlockEntry> {
        let mut v: Vec<&BlockEntry> = self.entries.values().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Applies every alert that is new or has gone on since it was last applied.
    pub fn apply_alerts(&mut self, alerts: &[Alert], now: f64) {
        for a in alerts {
            let seen = self.applied.get(&a.id).copied();
            if seen.is_some_and(|s| s >= a.last_seen) {
                continue;
            }
            self.applied.insert(a.id.clone(), a.last_seen);
            self.apply_alert(a, now, seen.is_none());
        }
    }

    /// The keys an alert blocks: its actor's addresses, and (when the policy says so) the
    /// credential or user it is about. A login name (`login:NAME`) is the target of the
    /// guessing, not the actor, so it is never blocked; nor is an endpoint.
    pub fn keys_of(&self, a: &Alert) -> Vec<BlockKey> {
        let mut keys: Vec<BlockKey> = a.src_ips.iter().filter_map(|ip| BlockKey::new(BlockKind::Ip, ip).ok()).collect();
        if self.policy.block_identities {
            let v = a.identity.value.as_str();
            let key = match a.identity.kind.as_str() {
                "ip" => BlockKey::new(BlockKind::Ip, v).ok(),
                "credential" => v.split_once(':').and_then(|(scheme, hash)| BlockKey::new(BlockKind::of_scheme(scheme), hash).ok()),
                "user" => {
                    if let Some(sub) = v.strip_prefix("sub:") {
                        BlockKey::new(BlockKind::JwtSub, sub).ok()
                    } else if let Some(name) = v.strip_prefix("user:") {
                        BlockKey::new(BlockKind::User, name).ok()
                    } else {
                        None
                    }
                }
                _ => None,
            };
            keys.extend(key);
            // A takeover is found on the actor's address, but what was stolen is the
            // credential it links to: blocking that stops the attacker from anywhere (and
            // forces the victim to log in again, which a stolen token calls for).
            if a.attack == Attack::AccountTakeover {
                for l in &a.evidence.linked {
                    if let Some((scheme, hash)) = l.split_once(':') {
                        if let Ok(k) = BlockKey::new(BlockKind::of_scheme(scheme), hash) {
                            keys.push(k);
                        }
                    }
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// `first`: the alert is new (policy refusals are counted once per alert).
    fn apply_alert(&mut self, a: &Alert, now: f64, first: bool) {
        let ttl = self.policy.ttl_of(a.severity).filter(|_| self.policy.attacks.is_empty() || self.policy.attacks.contains(a.attack.name()));
        let Some(ttl) = ttl else {
            self.counts.below_policy += u64::from(first);
            return;
        };
        for key in self.keys_of(a) {
            let entry = BlockEntry {
                key: key.clone(),
                attack: a.attack.name().to_string(),
                severity: a.severity,
                alert_ids: vec![a.id.clone()],
                origin: Origin::Alert,
                created: now,
                updated: now,
                expires: now + ttl,
                reason: a.summary.clone(),
            };
            // Refusals are counted inside; an alert's other keys still go in.
            let _ = self.upsert(entry, now);
        }
    }

    /// Adds an entry by hand, with its TTL in seconds.
    pub fn add_manual(&mut self, key: BlockKey, severity: Severity, ttl: f64, note: &str, now: f64) -> Result<(), BlockError> {
        let entry = BlockEntry {
            key,
            attack: "manual".into(),
            severity,
            alert_ids: Vec::new(),
            origin: Origin::Manual,
            created: now,
            updated: now,
            expires: now + ttl,
            reason: note.to_string(),
        };
        self.upsert(entry, now)
    }

    fn upsert(&mut self, new: BlockEntry, now: f64) -> Result<(), BlockError> {
        if self.policy.allow.covers(&new.key) {
            self.counts.allowlisted += 1;
            return Err(BlockError::Allowlisted { key: new.key.to_string() });
        }
        if let Some(min_prefix) = self.policy.too_wide(&new.key) {
            self.counts.too_wide += 1;
            return Err(BlockError::TooWide { key: new.key.to_string(), min_prefix });
        }
        if let Some(e) = self.entries.get_mut(&new.key) {
            // Confirmation extends the block; the entry keeps its creation time and takes
            // the higher severity and the later expiry.
            e.updated = now;
            e.expires = e.expires.max(new.expires);
            if new.severity >= e.severity {
                e.severity = new.severity;
                e.attack = new.attack;
                e.reason = new.reason;
            }
            for id in new.alert_ids {
                if !e.alert_ids.contains(&id) {
                    e.alert_ids.push(id);
                }
            }
            let over = e.alert_ids.len().saturating_sub(ALERT_IDS);
            e.alert_ids.drain(..over);
            self.counts.refreshed += 1;
            self.changed.insert(new.key);
            return Ok(());
        }
        if self.entries.len() >= self.policy.max_entries {
            self.expire(now);
        }
        if self.entries.len() >= self.policy.max_entries {
            // Make room by evicting the least severe entry that expires first, if it is less
            // severe than the newcomer; never push out an equal or worse threat.
            let victim = self.entries.values().min_by(|a, b| a.severity.cmp(&b.severity).then(a.expires.total_cmp(&b.expires))).map(|e| (e.key.clone(), e.severity));
            match victim {
                Some((k, s)) if s < new.severity => {
                    self.entries.remove(&k);
                    self.changed.remove(&k);
                    self.removed.insert(k);
                    self.counts.evicted += 1;
                }
                _ => {
                    self.counts.refused_full += 1;
                    return Err(BlockError::Full { max: self.policy.max_entries });
                }
            }
        }
        self.counts.added += 1;
        self.removed.remove(&new.key);
        self.changed.insert(new.key.clone());
        self.entries.insert(new.key.clone(), new);
        Ok(())
    }

    /// Removes an entry; says whether there was one.
    pub fn remove(&mut self, key: &BlockKey) -> bool {
        let had = self.entries.remove(key).is_some();
        if had {
            self.changed.remove(key);
            self.removed.insert(key.clone());
        }
        had
    }

    /// Drops expired entries.
    pub fn expire(&mut self, now: f64) {
        let gone: Vec<BlockKey> = self.entries.values().filter(|e| !e.active(now)).map(|e| e.key.clone()).collect();
        for k in gone {
            self.entries.remove(&k);
            self.changed.remove(&k);
            self.removed.insert(k);
            self.counts.expired += 1;
        }
    }

    /// Puts back changes [`BlockList::take_changes`] gave out that could not be saved, so the
    /// next save writes them.
    pub fn requeue(&mut self, changed: &[BlockEntry], removed: &[BlockKey]) {
        for e in changed {
            if self.entries.contains_key(&e.key) {
                self.changed.insert(e.key.clone());
            }
        }
        for k in removed {
            if !self.entries.contains_key(k) {
                self.removed.insert(k.clone());
            }
        }
    }

    /// Entries added or changed, and keys removed, since the last call.
    pub fn take_changes(&mut self) -> (Vec<BlockEntry>, Vec<BlockKey>) {
        let changed = std::mem::take(&mut self.changed).into_iter().filter_map(|k| self.entries.get(&k).cloned()).collect();
        let removed = std::mem::take(&mut self.removed).into_iter().collect();
        (changed, removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::alerts::{Evidence, IdentityRef};

    fn alert(id: &str, attack: Attack, severity: Severity, ips: &[&str], kind: &str, value: &str) -> Alert {
        Alert {
            id: id.into(),
            attack,
            severity,
            score: 0.9,
            first_seen: 100.0,
            last_seen: 200.0,
            detected_at: 150.0,
            src_ips: ips.iter().map(|s| s.to_string()).collect(),
            identity: IdentityRef { kind: kind.into(), value: value.into() },
            endpoints: vec![],
            summary: "why".into(),
            evidence: Evidence::default(),
            detections: 1,
        }
    }

    #[test]
    fn keys_are_canonical_and_checked() {
        assert_eq!(BlockKey::parse("203.0.113.7").unwrap().value, "203.0.113.7");
        assert_eq!(BlockKey::parse("203.0.113.7/32").unwrap().value, "203.0.113.7");
        assert_eq!(BlockKey::parse("198.51.100.9/24").unwrap().value, "198.51.100.0/24");
        assert_eq!(BlockKey::parse("2001:db8::1/64").unwrap().value, "2001:db8::/64");
        assert_eq!(BlockKey::parse("user:alice").unwrap(), BlockKey { kind: BlockKind::User, value: "alice".into() });
        assert!(BlockKey::parse("token:xyz").is_err());
        assert!(BlockKey::parse("nonsense").is_err());
        assert!(BlockKey::parse("user:a\nb").is_err());
    }

    #[test]
    fn alerts_block_actor_and_identity_with_ttl_by_severity() {
        let mut b = BlockList::new(BlockPolicy::default());
        let hash = "0123456789abcdef0123456789abcdef";
        b.apply_alerts(&[alert("a1", Attack::AccountTakeover, Severity::High, &["198.51.100.7"], "credential", &format!("bearer:{hash}"))], 1000.0);
        let ip = b.get(&BlockKey::parse("198.51.100.7").unwrap()).unwrap();
        assert_eq!(ip.expires, 1000.0 + 6.0 * 3600.0);
        assert_eq!(ip.alert_ids, vec!["a1"]);
        assert!(b.get(&BlockKey::new(BlockKind::Token, hash).unwrap()).is_some());
        // Low severity blocks nothing by default; a login name (the victim) never.
        b.apply_alerts(&[alert("a2", Attack::DataScraping, Severity::Low, &["198.51.100.8"], "ip", "198.51.100.8")], 1000.0);
        b.apply_alerts(&[alert("a3", Attack::CredentialStuffing, Severity::Medium, &["198.51.100.9"], "user", "login:alice")], 1000.0);
        assert_eq!(b.len(), 3);
        assert_eq!(b.counts.below_policy, 1);
        b.apply_alerts(&[alert("a4", Attack::Bola, Severity::Critical, &["198.51.100.5"], "user", "sub:42@https://idp")], 1000.0);
        assert!(b.get(&BlockKey::new(BlockKind::JwtSub, "42@https://idp").unwrap()).is_some());
        // A takeover found on the newcomer's address also blocks the credential it used.
        let mut ato = alert("a5", Attack::AccountTakeover, Severity::High, &["198.51.100.4"], "ip", "198.51.100.4");
        ato.evidence.linked = vec![format!("cookie:{hash}"), "sub:6@idp".into(), "also used from 10.0.0.1".into()];
        b.apply_alerts(&[ato], 1000.0);
        assert_eq!(b.get(&BlockKey::new(BlockKind::Cookie, hash).unwrap()).map(|e| e.attack.as_str()), Some("account_takeover"));
        assert!(b.get(&BlockKey::new(BlockKind::JwtSub, "6@idp").unwrap()).is_none());
    }

    #[test]
    fn confirmation_extends_and_unchanged_alerts_are_not_reapplied() {
        let mut b = BlockList::new(BlockPolicy::default());
        let mut a = alert("a1", Attack::Bola, Severity::Medium, &["198.51.100.7"], "ip", "198.51.100.7");
        b.apply_alerts(std::slice::from_ref(&a), 1000.0);
        b.apply_alerts(std::slice::from_ref(&a), 2000.0);
        assert_eq!(b.counts.refreshed, 0);
        a.last_seen = 300.0;
        a.severity = Severity::High;
        b.apply_alerts(std::slice::from_ref(&a), 2000.0);
        let e = b.get(&BlockKey::parse("198.51.100.7").unwrap()).unwrap();
        assert_eq!((e.created, e.updated, e.expires, e.severity), (1000.0, 2000.0, 2000.0 + 6.0 * 3600.0, Severity::High));
        let (changed, removed) = b.take_changes();
        assert_eq!((changed.len(), removed.len()), (1, 0));
        b.expire(1e9);
        assert!(b.is_empty());
        assert_eq!(b.take_changes().1.len(), 1);
    }

    #[test]
    fn a_resumed_list_extends_only_incidents_that_go_on() {
        let mut first = BlockList::new(BlockPolicy::default());
        let mut a = alert("a1", Attack::Bola, Severity::High, &["198.51.100.7"], "ip", "198.51.100.7");
        let b_alert = alert("a2", Attack::Bola, Severity::High, &["198.51.100.8"], "ip", "198.51.100.8");
        first.apply_alerts(&[a.clone(), b_alert.clone()], 1000.0);
        // A restart: the store's entries and the detector's alerts come back.
        let mut b = BlockList::new(BlockPolicy::default());
        b.restore(first.entries().into_iter().cloned().collect());
        b.mark_applied(&[a.clone(), b_alert.clone()]);
        a.last_seen += 60.0;
        b.apply_alerts(&[a, b_alert], 5000.0);
        let expires = |ip: &str| b.get(&BlockKey::parse(ip).unwrap()).unwrap().expires;
        assert_eq!(expires("198.51.100.7"), 5000.0 + 6.0 * 3600.0);
        assert_eq!(expires("198.51.100.8"), 1000.0 + 6.0 * 3600.0);
    }

    #[test]
    fn allow_list_and_guardrails() {
        let mut p = BlockPolicy::default();
        p.allow.nets.push("10.0.0.0/8".parse().unwrap());
        p.allow.users.insert("healthcheck".into());
        p.max_entries = 2;
        let mut b = BlockList::new(p);
        assert!(matches!(b.add_manual(BlockKey::parse("10.1.2.3").unwrap(), Severity::High, 60.0, "", 0.0), Err(BlockError::Allowlisted { .. })));
        // A CIDR that contains an allowed net is refused too.
        assert!(b.add_manual(BlockKey::parse("10.0.0.0/7").unwrap(), Severity::High, 60.0, "", 0.0).is_err());
        assert!(matches!(b.add_manual(BlockKey::parse("192.0.0.0/8").unwrap(), Severity::High, 60.0, "", 0.0), Err(BlockError::TooWide { min_prefix: 16, .. })));
        assert!(b.add_manual(BlockKey::parse("user:healthcheck").unwrap(), Severity::High, 60.0, "", 0.0).is_err());
        b.add_manual(BlockKey::parse("192.0.2.1").unwrap(), Severity::Medium, 60.0, "", 0.0).unwrap();
        b.add_manual(BlockKey::parse("192.0.2.2").unwrap(), Severity::High, 60.0, "", 0.0).unwrap();
        // Full: a medium newcomer is refused, a critical one evicts the medium entry.
        assert_eq!(b.add_manual(BlockKey::parse("192.0.2.3").unwrap(), Severity::Medium, 60.0, "", 0.0), Err(BlockError::Full { max: 2 }));
        b.add_manual(BlockKey::parse("192.0.2.4").unwrap(), Severity::Critical, 60.0, "", 0.0).unwrap();
        assert_eq!(b.len(), 2);
        assert!(b.get(&BlockKey::parse("192.0.2.1").unwrap()).is_none());
        assert_eq!((b.counts.evicted, b.counts.refused_full, b.counts.too_wide), (1, 1, 1));
    }
}
