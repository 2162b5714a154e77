//! Block-list writers, one function per format, each in the form its engine loads: nginx
//! `deny` lines and `map`s, HAProxy ACL files, an nftables table with timed sets, `ipset
//! restore` input, ModSecurity (and Coraza) SecRules, an AWS WAFv2 IPSet, a Cloudflare list,
//! and plain text.
//!
//! Guarantees: only active entries are written; an address inside a listed CIDR is left out
//! (interval sets reject overlaps); nothing from traffic reaches a configuration file unless it
//! is an address, a hex hash or a name of safe characters, so a hostile user name cannot inject
//! a directive; in dry-run every format stays loadable but blocks nothing (comments, or
//! ModSecurity's `pass`). Credentials appear only as keyed hashes: engines that cannot compute
//! apitap's hash enforce them through the decision API (`apitap serve`).

use crate::enforce::blocklist::{BlockEntry, BlockKind};
use ipnet::IpNet;
use serde_json::json;
use std::fmt::Write;
use thiserror::Error;

/// The formats `apitap blocklist export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Nginx,
    NginxMap,
    Haproxy,
    Nftables,
    Ipset,
    Modsecurity,
    AwsWaf,
    Cloudflare,
    Plain,
}

impl Format {
    pub const ALL: [Format; 9] = [
        Format::Nginx,
        Format::NginxMap,
        Format::Haproxy,
        Format::Nftables,
        Format::Ipset,
        Format::Modsecurity,
        Format::AwsWaf,
        Format::Cloudflare,
        Format::Plain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Nginx => "nginx",
            Format::NginxMap => "nginx-map",
            Format::Haproxy => "haproxy",
            Format::Nftables => "nftables",
            Format::Ipset => "ipset",
            Format::Modsecurity => "modsecurity",
            Format::AwsWaf => "aws-waf",
            Format::Cloudflare => "cloudflare",
            Format::Plain => "plain",
        }
    }

    pub fn from_name(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == s)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::AwsWaf | Format::Cloudflare => "application/json",
            _ => "text/plain; charset=utf-8",
        }
    }
}

/// What an export could not write.
#[derive(Debug, Error, PartialEq)]
pub enum ExportError {
    #[error("{format} holds at most {max} addresses per IP version and the block list has {have}; raise the guardrail there or shorten TTLs")]
    TooMany { format: &'static str, max: usize, have: usize },
    #[error("'{0}' is not a usable set or list name (letters, digits, '-' and '_', at most 64)")]
    BadName(String),
}

/// How to write.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Wall-clock Unix seconds: entries expired by then are left out; timeouts count from it.
    pub now: f64,
    pub dry_run: bool,
    /// Base name of sets, tables and lists.
    pub name: String,
    /// AWS WAF scope: `REGIONAL` or `CLOUDFRONT`.
    pub aws_scope: String,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { now: 0.0, dry_run: false, name: "apitap".into(), aws_scope: "REGIONAL".into() }
    }
}

/// ipset's largest timeout (seconds); nftables takes the same so both files agree.
const MAX_TIMEOUT: u64 = 2_147_483;
/// AWS WAF's limit of addresses per IP set.
const AWS_MAX: usize = 10_000;
/// Addresses per ModSecurity rule (a rule's operator argument stays a few KiB).
const MODSEC_CHUNK: usize = 200;
/// ModSecurity rule ids: the range set aside for local use; addresses from BASE, users from
/// BASE + 500.
const MODSEC_ID_BASE: u32 = 42_000;
const MODSEC_USER_IDS: u32 = 500;

/// Writes `entries` in `format`.
pub fn export(format: Format, entries: &[&BlockEntry], o: &ExportOptions) -> Result<String, ExportError> {
    if o.name.is_empty() || o.name.len() > 64 || !o.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ExportError::BadName(o.name.clone()));
    }
    let live: Vec<&BlockEntry> = entries.iter().copied().filter(|e| e.active(o.now)).collect();
    match format {
        Format::Nginx => Ok(nginx(&live, o)),
        Format::NginxMap => Ok(nginx_map(&live, o)),
        Format::Haproxy => Ok(haproxy(&live, o)),
        Format::Nftables => Ok(nftables(&live, o)),
        Format::Ipset => Ok(ipset(&live, o)),
        Format::Modsecurity => Ok(modsecurity(&live, o)),
        Format::AwsWaf => aws_waf(&live, o),
        Format::Cloudflare => Ok(cloudflare(&live, o)),
        Format::Plain => Ok(plain(&live, o)),
    }
}

/// The address entries, with those inside another listed CIDR left out, sorted.
fn nets<'a>(entries: &[&'a BlockEntry]) -> Vec<(IpNet, &'a BlockEntry)> {
    let mut v: Vec<(IpNet, &BlockEntry)> = entries.iter().filter_map(|e| e.key.net().map(|n| (n, *e))).collect();
    // Widest first within each family, so a covering CIDR is kept before what it covers.
    v.sort_by(|a, b| a.0.prefix_len().cmp(&b.0.prefix_len()).then(a.0.cmp(&b.0)));
    let mut kept: Vec<(IpNet, &BlockEntry)> = Vec::with_capacity(v.len());
    // Only CIDRs can cover anything, and there are few of them: the check is linear in those.
    let mut cidrs: Vec<IpNet> = Vec::new();
    for (n, e) in v {
        if !cidrs.iter().any(|k| k.contains(&n)) {
            if n.prefix_len() < n.max_prefix_len() {
                cidrs.push(n);
            }
            kept.push((n, e));
        }
    }
    kept.sort_by_key(|k| k.0);
    kept
}

/// `ADDR` for a host, `NET/LEN` otherwise.
fn addr(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// What the file says about itself.
fn header(out: &mut String, what: &str, o: &ExportOptions, n: usize) {
    let _ = writeln!(out, "# apitap block list ({what}): {n} entr{}, written at Unix time {:.0}", if n == 1 { "y" } else { "ies" }, o.now);
    if o.dry_run {
        out.push_str("# DRY RUN: entries are listed as comments and block nothing.\n");
    }
}

/// A comment that cannot end the line it is on or carry control characters.
fn comment(e: &BlockEntry, o: &ExportOptions) -> String {
    let ids = e.alert_ids.join(" ");
    let s = format!("{} {}; expires in {}s; alerts {}", e.attack, e.severity.name(), remaining(e, o), if ids.is_empty() { "-" } else { &ids });
    s.chars().map(|c| if c.is_control() || c == '"' || c == '\'' || c == '\\' { ' ' } else { c }).collect()
}

fn remaining(e: &BlockEntry, o: &ExportOptions) -> u64 {
    ((e.expires - o.now).ceil().max(1.0) as u64).min(MAX_TIMEOUT)
}

/// Names safe to write into a configuration file unquoted or quoted alike.
fn safe_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b))
}

fn dry(o: &ExportOptions) -> &'static str {
    if o.dry_run {
        "# "
    } else {
        ""
    }
}

/// `deny` lines, to include in an `http`, `server` or `location` block.
fn nginx(entries: &[&BlockEntry], o: &ExportOptions) -> String {
    let nets = nets(entries);
    let mut s = String::new();
    header(&mut s, "nginx deny lines; include in http, server or location", o, nets.len());
    for (n, e) in &nets {
        let _ = writeln!(s, "{}deny {};  # {}", dry(o), addr(n), comment(e, o));
    }
    s
}

/// `map`s for the `http` block: user names against `$remote_user` (Basic auth), and
/// credentials against `$apitap_credential`, which the configuration sets from the decision
/// API's `X-Apitap-Credential` answer (`auth_request_set`).
fn nginx_map(entries: &[&BlockEntry], o: &ExportOptions) -> String {
    let users: Vec<&&BlockEntry> = entries.iter().filter(|e| e.key.kind == BlockKind::User && safe_name(&e.key.value)).collect();
    let creds: Vec<&&BlockEntry> = entries.iter().filter(|e| matches!(e.key.kind, BlockKind::Token | BlockKind::ApiKey | BlockKind::Cookie)).collect();
    let mut s = String::new();
    header(&mut s, "nginx maps; include in http", o, users.len() + creds.len());
    let _ = writeln!(s, "map $remote_user ${}_blocked_user {{\n    default 0;", o.name);
    for e in &users {
        let _ = writeln!(s, "    {}\"{}\" 1;  # {}", dry(o), e.key.value, comment(e, o));
    }
    s.push_str("}\n");
    let _ = writeln!(s, "map $apitap_credential ${}_blocked_credential {{\n    default 0;", o.name);
    for e in &creds {
        let _ = writeln!(s, "    {}\"{}\" 1;  # {}", dry(o), e.key, comment(e, o));
    }
    s.push_str("}\n");
    s
}

/// An ACL pattern file: `acl blocked src -f FILE`.
fn haproxy(entries: &[&BlockEntry], o: &ExportOptions) -> String {
    let nets = nets(entries);
    let mut s = String::new();
    header(&mut s, "HAProxy ACL file; acl apitap_blocked src -f FILE", o, nets.len());
    for (n, e) in &nets {
        let _ = writeln!(s, "# {}", comment(e, o));
        let _ = writeln!(s, "{}{}", dry(o), addr(n));
    }
    s
}

/// A table with one timed interval set per family and a chain that drops what they hold;
/// loading it replaces the previous version atomically (`nft -f`).
fn nftables(entries: &[&BlockEntry], o: &ExportOptions) -> String {
    let nets = nets(entries);
    let mut s = String::new();
    header(&mut s, "nftables; load with nft -f", o, nets.len());
    let t = &o.name;
    // Declaring the table first makes the delete succeed on a first load.
    let _ = writeln!(s, "table inet {t}\ndelete table inet {t}\ntable inet {t} {{");
    for (set, ty, v6) in [("blocked_v4", "ipv4_addr", false), ("blocked_v6", "ipv6_addr", true)] {
        let _ = writeln!(s, "    set {set} {{\n        type {ty}\n        flags interval, timeout");
        let elems: Vec<String> = nets.iter().filter(|(n, _)| matches!(n, IpNet::V6(_)) == v6).map(|(n, e)| format!("{} timeout {}s", addr(n), remaining(e, o))).collect();
        if !elems.is_empty() {
            if o.dry_run {
                for el in &elems {
                    let _ = writeln!(s, "        # would add {el}");
                }
            } else {
                let _ = writeln!(s, "        elements = {{\n            {}\n        }}", elems.join(",\n            "));
            }
        }
        s.push_str("    }\n");
    }
    s.push_str("    chain filter {\n        type filter hook prerouting priority -150; policy accept;\n");
    s.push_str("        ip saddr @blocked_v4 drop\n        ip6 saddr @blocked_v6 drop\n    }\n}\n");
    s
}

/// `ipset restore` input: one `hash:net` set per family with per-entry timeouts and comments.
fn ipset(entries: &[&BlockEntry], o: &ExportOptions) -> String {
    let nets = nets(entries);
    let mut s = String::new();
    header(&mut s, "ipset; load with ipset restore", o, nets.len());
    let maxelem = nets.len().max(65_536);
    for (suffix, family, v6) in [("v4", "inet", false), ("v6", "inet6", true)] {
        let set = format!("{}-{suffix}", o.name);
        let _ = writeln!(s, "create {set} hash:net family {family} maxelem {maxelem} timeout 0 comment -exist");
        let _ = writeln!(s, "flush {set}");
        for (n, e) in nets.iter().filter(|(n, _)| matches!(n, IpNet::V6(_)) == v6) {
            let _ = writeln!(s, "{}add {set} {} timeout {} comment \"{}\" -exist", dry(o), addr(n), remaining(e, o), truncate(&comment(e, o), 250));
        }
    }
    s
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// SecRules for ModSecurity v2/v3 and Coraza: addresses by `@ipMatch`, user names by
/// `@streq` on `REMOTE_USER`. Dry-run rules `pass` and log instead of denying.
fn modsecurity(entries: &[&BlockEntry], o: &ExportOptions) -> String {
    let nets = nets(entries);
    let users: Vec<&&BlockEntry> = entries.iter().filter(|e| e.key.kind == BlockKind::User && safe_name(&e.key.value)).collect();
    let mut s = String::new();
    header(&mut s, "ModSecurity / Coraza SecRules; Include in the engine's configuration", o, nets.len() + users.len());
    let action = if o.dry_run { "pass" } else { "deny,status:403" };
    for (i, chunk) in nets.chunks(MODSEC_CHUNK).enumerate() {
        let list: Vec<String> = chunk.iter().map(|(n, _)| addr(n)).collect();
        let _ = writeln!(
            s,
            "SecRule REMOTE_ADDR \"@ipMatch {}\" \"id:{},phase:1,{action},log,msg:'apitap block list: address',tag:'apitap/blocklist'\"",
            list.join(","),
            MODSEC_ID_BASE + i as u32
        );
    }
    for (i, e) in users.iter().take(MODSEC_USER_IDS as usize).enumerate() {
        let _ = writeln!(
            s,
            "SecRule REMOTE_USER \"@streq {}\" \"id:{},phase:1,{action},log,msg:'apitap block list: user ({})',tag:'apitap/blocklist'\"",
            e.key.value,
            MODSEC_ID_BASE + MODSEC_USER_IDS + i as u32,
            e.attack
        );
    }
    if users.len() > MODSEC_USER_IDS as usize {
        let _ = writeln!(s, "# {} more user names left out (the rule id range holds {MODSEC_USER_IDS})", users.len() - MODSEC_USER_IDS as usize);
    }
    s
}

/// Two AWS WAFv2 `CreateIPSet` inputs (IPv4 and IPv6), each usable with
/// `aws wafv2 create-ip-set --cli-input-json` (or, with `Id` and `LockToken` added,
/// `update-ip-set`).
fn aws_waf(entries: &[&BlockEntry], o: &ExportOptions) -> Result<String, ExportError> {
    let nets = nets(entries);
    let mut sets = Vec::new();
    for (version, v6) in [("IPV4", false), ("IPV6", true)] {
        let addrs: Vec<String> = if o.dry_run {
            Vec::new()
        } else {
            // AWS takes CIDR notation only, /32 and /128 included.
            nets.iter().filter(|(n, _)| matches!(n, IpNet::V6(_)) == v6).map(|(n, _)| n.to_string()).collect()
        };
        if addrs.len() > AWS_MAX {
            return Err(ExportError::TooMany { format: "aws-waf", max: AWS_MAX, have: addrs.len() });
        }
        let desc = if o.dry_run { "apitap block list (dry run, empty)" } else { "apitap block list" };
        sets.push(json!({
            "Name": format!("{}-blocklist-{}", o.name, version.to_ascii_lowercase()),
            "Scope": o.aws_scope,
            "IPAddressVersion": version,
            "Addresses": addrs,
            "Description": desc,
        }));
    }
    Ok(serde_json::to_string_pretty(&sets).unwrap_or_default() + "\n")
}

/// The items of a Cloudflare IP list (the body of "create list items"): IPv4 addresses and
/// CIDRs, IPv6 CIDRs of at most /64 (Cloudflare stores IPv6 addresses by their /64).
fn cloudflare(entries: &[&BlockEntry], o: &ExportOptions) -> String {
    let nets = nets(entries);
    let mut items = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    if !o.dry_run {
        for (n, e) in &nets {
            let ip = match n {
                IpNet::V4(_) => addr(n),
                IpNet::V6(v6) if v6.prefix_len() > 64 => IpNet::new(v6.addr().into(), 64).map(|x| x.trunc().to_string()).unwrap_or_default(),
                IpNet::V6(_) => n.to_string(),
            };
            if seen.insert(ip.clone()) {
                items.push(json!({"ip": ip, "comment": truncate(&comment(e, o), 200)}));
            }
        }
    }
    serde_json::to_string_pretty(&items).unwrap_or_default() + "\n"
}

/// One address or CIDR per line.
fn plain(entries: &[&BlockEntry], o: &ExportOptions) -> String {
    let nets = nets(entries);
    let mut s = String::new();
    for (n, _) in &nets {
        let _ = writeln!(s, "{}{}", dry(o), addr(n));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::alerts::Severity;
    use crate::enforce::blocklist::{BlockKey, Origin};

    fn entry(key: &str, expires: f64) -> BlockEntry {
        BlockEntry {
            key: BlockKey::parse(key).unwrap(),
            attack: "bola".into(),
            severity: Severity::High,
            alert_ids: vec!["a-1".into()],
            origin: Origin::Alert,
            created: 0.0,
            updated: 0.0,
            expires,
            reason: "r".into(),
        }
    }

    #[test]
    fn covered_and_expired_entries_are_left_out() {
        let es = [entry("203.0.113.0/24", 100.0), entry("203.0.113.9", 100.0), entry("198.51.100.1", 5.0), entry("2001:db8::1", 100.0)];
        let refs: Vec<&BlockEntry> = es.iter().collect();
        let o = ExportOptions { now: 10.0, ..ExportOptions::default() };
        assert_eq!(export(Format::Plain, &refs, &o).unwrap(), "203.0.113.0/24\n2001:db8::1\n");
        let cf: serde_json::Value = serde_json::from_str(&export(Format::Cloudflare, &refs, &o).unwrap()).unwrap();
        assert_eq!(cf[1]["ip"], "2001:db8::/64");
        let aws: serde_json::Value = serde_json::from_str(&export(Format::AwsWaf, &refs, &o).unwrap()).unwrap();
        assert_eq!(aws[0]["Addresses"], json!(["203.0.113.0/24"]));
        assert_eq!(aws[1]["Addresses"], json!(["2001:db8::1/128"]));
        let nft = export(Format::Nftables, &refs, &o).unwrap();
        assert!(nft.contains("203.0.113.0/24 timeout 90s"), "{nft}");
    }

    #[test]
    fn hostile_names_never_reach_the_file() {
        let mut e = entry("user:alice", 100.0);
        e.key.value = "bob\";deny all;#".into();
        let ok = entry("user:alice", 100.0);
        let refs = vec![&e, &ok];
        let o = ExportOptions::default();
        for f in [Format::NginxMap, Format::Modsecurity] {
            let out = export(f, &refs, &o).unwrap();
            assert!(out.contains("alice") && !out.contains("deny all"), "{out}");
        }
        assert!(export(Format::Plain, &refs, &ExportOptions { name: "a b".into(), ..o }).is_err());
    }

    #[test]
    fn dry_run_blocks_nothing() {
        let es = [entry("198.51.100.1", 100.0)];
        let refs: Vec<&BlockEntry> = es.iter().collect();
        let o = ExportOptions { dry_run: true, ..ExportOptions::default() };
        for f in [Format::Nginx, Format::Haproxy, Format::Plain, Format::Ipset] {
            let out = export(f, &refs, &o).unwrap();
            assert!(out.lines().filter(|l| l.contains("198.51.100.1")).all(|l| l.starts_with('#')), "{f:?}: {out}");
        }
        assert!(export(Format::Modsecurity, &refs, &o).unwrap().contains("phase:1,pass,log"));
    }
}
