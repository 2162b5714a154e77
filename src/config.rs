//! The configuration file: one TOML file (`--config FILE` or APITAP_CONFIG) for detection,
//! the block list, the decision service and alert outputs, with environment overrides
//! (`APITAP_<SECTION>__<KEY>`, e.g. `APITAP_BLOCKLIST__DRY_RUN=true`). Command-line flags
//! win over both. docs/configuration.md documents every key.
//!
//! Loading checks everything it can before anything runs: unknown keys, types, durations,
//! addresses and CIDRs, output targets. Each error names the key and where it came from.

use analyzer::detect::alerts::Severity;
use analyzer::enforce::blocklist::{parse_net, AllowList, BlockPolicy};
use analyzer::enforce::notify::{OutputConfig, Target};
use analyzer::export::siem::AlertFormat;
use anyhow::{anyhow, bail, Context, Result};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Sections the environment may override; other APITAP_* variables (APITAP_LOG,
/// APITAP_HASH_KEY) are not configuration keys.
const SECTIONS: &[&str] = &["detect", "blocklist", "serve", "outputs"];

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub detect: DetectSection,
    pub blocklist: BlocklistSection,
    pub serve: ServeSection,
    pub outputs: Vec<OutputSection>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectSection {
    pub train: Option<String>,
    pub windows: Option<Vec<String>>,
    pub step: Option<String>,
    pub z_threshold: Option<f64>,
    pub trusted_proxies: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlocklistSection {
    pub enabled: bool,
    pub dry_run: bool,
    pub max_entries: usize,
    pub min_prefix_v4: u8,
    pub min_prefix_v6: u8,
    pub attacks: Vec<String>,
    pub block_identities: bool,
    pub allow: Vec<String>,
    pub health_checkers: Vec<String>,
    pub allow_users: Vec<String>,
    pub ttl: TtlSection,
}

impl Default for BlocklistSection {
    fn default() -> Self {
        BlocklistSection {
            enabled: true,
            dry_run: false,
            max_entries: 10_000,
            min_prefix_v4: 16,
            min_prefix_v6: 48,
            attacks: Vec::new(),
            block_identities: true,
            allow: Vec::new(),
            health_checkers: Vec::new(),
            allow_users: Vec::new(),
            ttl: TtlSection::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtlSection {
    pub low: String,
    pub medium: String,
    pub high: String,
    pub critical: String,
}

impl Default for TtlSection {
    fn default() -> Self {
        TtlSection { low: "off".into(), medium: "1h".into(), high: "6h".into(), critical: "24h".into() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    pub listen: String,
    /// When set, every route but /healthz requires `X-Apitap-Token: TOKEN`.
    pub token: Option<String>,
    pub reload: String,
    pub threads: usize,
}

impl Default for ServeSection {
    fn default() -> Self {
        ServeSection { listen: "127.0.0.1:8686".into(), token: None, reload: "1s".into(), threads: 1 }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSection {
    pub name: Option<String>,
    /// syslog, webhook or file.
    #[serde(rename = "type")]
    pub kind: String,
    /// alert, ecs or ocsf.
    pub format: Option<String>,
    pub min_severity: Option<String>,
    pub queue: Option<usize>,
    // syslog
    pub address: Option<String>,
    pub transport: Option<String>,
    pub facility: Option<String>,
    pub hostname: Option<String>,
    // webhook
    pub url: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub backoff: Option<String>,
    /// PEM certificates to trust instead of the public roots.
    pub ca_file: Option<PathBuf>,
    // file
    pub path: Option<PathBuf>,
}

/// The configuration, checked and turned into what the libraries take.
#[derive(Debug)]
pub struct Resolved {
    pub raw: Config,
    pub policy: BlockPolicy,
    pub outputs: Vec<OutputConfig>,
    pub serve_listen: String,
    pub serve_token: Option<String>,
    pub serve_reload: Duration,
    pub serve_threads: usize,
    /// Where it came from, for messages.
    pub source: String,
}

impl Config {
    /// Defaults, then FILE (if any), then APITAP_<SECTION>__<KEY> variables.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(p) = path {
            if !p.exists() {
                bail!("configuration file {} does not exist", p.display());
            }
            fig = fig.merge(Toml::file(p));
        }
        let env = Env::prefixed("APITAP_").split("__").filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            SECTIONS.iter().any(|s| k.starts_with(&format!("{s}.")) || k.starts_with(&format!("{s}__")))
        });
        fig = fig.merge(env);
        fig.extract::<Config>().map_err(|e| anyhow!(figment_errors(e)))
    }

    /// Checks every value and builds the library configurations.
    pub fn resolve(self, source: &str) -> Result<Resolved> {
        let b = &self.blocklist;
        let mut nets = Vec::new();
        for (key, list) in [("blocklist.allow", &b.allow), ("blocklist.health_checkers", &b.health_checkers), ("detect.trusted_proxies", &self.detect.trusted_proxies)] {
            for s in list {
                nets.push(parse_net(s.trim()).with_context(|| format!("{key}: '{s}' is neither an address nor a CIDR"))?);
            }
        }
        let ttl = |key: &str, v: &str| -> Result<Option<f64>> {
            match v.trim() {
                "off" | "0" | "" => Ok(None),
                s => Ok(Some(parse_duration_ms(s).map_err(|e| anyhow!("blocklist.ttl.{key}: {e}"))?.as_secs_f64())),
            }
        };
        for a in &b.attacks {
            if analyzer::detect::alerts::Attack::from_name(a).is_none() {
                bail!("blocklist.attacks: '{a}' is not an attack class (see docs/alert-schema.md)");
            }
        }
        if b.min_prefix_v4 > 32 || b.min_prefix_v6 > 128 {
            bail!("blocklist.min_prefix_v4 is at most 32 and min_prefix_v6 at most 128");
        }
        if b.max_entries == 0 {
            bail!("blocklist.max_entries must be at least 1");
        }
        let policy = BlockPolicy {
            ttl: [ttl("low", &b.ttl.low)?, ttl("medium", &b.ttl.medium)?, ttl("high", &b.ttl.high)?, ttl("critical", &b.ttl.critical)?],
            allow: AllowList { nets, users: b.allow_users.iter().cloned().collect() },
            max_entries: b.max_entries,
            min_prefix_v4: b.min_prefix_v4,
            min_prefix_v6: b.min_prefix_v6,
            dry_run: b.dry_run,
            attacks: b.attacks.iter().cloned().collect(),
            block_identities: b.block_identities,
        };
        let mut outputs = Vec::new();
        for (i, o) in self.outputs.iter().enumerate() {
            let name = o.name.clone().unwrap_or_else(|| format!("{}-{}", o.kind, i + 1));
            outputs.push(output(o, &name).with_context(|| format!("outputs[{i}] ({name})"))?);
        }
        let s = &self.serve;
        let serve_reload = parse_duration_ms(&s.reload).map_err(|e| anyhow!("serve.reload: {e}"))?;
        if s.listen.parse::<std::net::SocketAddr>().is_err() {
            bail!("serve.listen: '{}' is not ADDRESS:PORT", s.listen);
        }
        if s.threads == 0 || s.threads > 64 {
            bail!("serve.threads: between 1 and 64");
        }
        Ok(Resolved {
            policy,
            outputs,
            serve_listen: s.listen.clone(),
            serve_token: s.token.clone().filter(|t| !t.is_empty()),
            serve_reload,
            serve_threads: s.threads,
            raw: self,
            source: source.to_string(),
        })
    }
}

/// Loads and resolves `--config` (or APITAP_CONFIG).
pub fn load(path: Option<&Path>) -> Result<Resolved> {
    let env_path = std::env::var_os("APITAP_CONFIG").map(PathBuf::from);
    let path = path.map(Path::to_path_buf).or(env_path);
    let source = path.as_ref().map_or_else(|| "(defaults and APITAP_* variables)".to_string(), |p| p.display().to_string());
    let cfg = Config::load(path.as_deref()).with_context(|| format!("configuration {source}"))?;
    cfg.resolve(&source).with_context(|| format!("configuration {source}"))
}

fn output(o: &OutputSection, name: &str) -> Result<OutputConfig> {
    let format = match o.format.as_deref().unwrap_or("alert") {
        "alert" => AlertFormat::Alert,
        "ecs" => AlertFormat::Ecs,
        "ocsf" => AlertFormat::Ocsf,
        f => bail!("format: '{f}' is not one of alert, ecs, ocsf"),
    };
    let sev = o.min_severity.as_deref().unwrap_or("low");
    let min_severity = Severity::from_name(sev).with_context(|| format!("min_severity: '{sev}' is not one of low, medium, high, critical"))?;
    let unexpected = |keys: &[(&str, bool)]| -> Result<()> {
        for (k, set) in keys {
            if *set {
                bail!("'{k}' does not apply to a {} output", o.kind);
            }
        }
        Ok(())
    };
    let target = match o.kind.as_str() {
        "syslog" => {
            unexpected(&[("url", o.url.is_some()), ("path", o.path.is_some()), ("headers", !o.headers.is_empty()), ("ca_file", o.ca_file.is_some())])?;
            let addr = o.address.clone().ok_or_else(|| anyhow!("a syslog output needs 'address' (HOST:PORT)"))?;
            let tcp = match o.transport.as_deref().unwrap_or("udp") {
                "udp" => false,
                "tcp" => true,
                t => bail!("transport: '{t}' is not udp or tcp"),
            };
            let facility = facility(o.facility.as_deref().unwrap_or("local0"))?;
            let hostname = o.hostname.clone().unwrap_or_else(hostname);
            Target::Syslog { addr, tcp, facility, hostname }
        }
        "webhook" => {
            unexpected(&[("address", o.address.is_some()), ("path", o.path.is_some()), ("transport", o.transport.is_some())])?;
            let url = o.url.clone().ok_or_else(|| anyhow!("a webhook output needs 'url'"))?;
            let timeout = parse_duration_ms(o.timeout.as_deref().unwrap_or("5s")).map_err(|e| anyhow!("timeout: {e}"))?;
            let backoff = parse_duration_ms(o.backoff.as_deref().unwrap_or("1s")).map_err(|e| anyhow!("backoff: {e}"))?;
            if let Some(ca) = &o.ca_file {
                if !url.starts_with("https://") {
                    bail!("ca_file applies to an https:// url");
                }
                if !ca.is_file() {
                    bail!("ca_file {} does not exist", ca.display());
                }
            }
            Target::Webhook { url, headers: o.headers.clone().into_iter().collect(), timeout, retries: o.retries.unwrap_or(3), backoff, ca_file: o.ca_file.clone() }
        }
        "file" => {
            unexpected(&[("address", o.address.is_some()), ("url", o.url.is_some()), ("ca_file", o.ca_file.is_some())])?;
            Target::File { path: o.path.clone().ok_or_else(|| anyhow!("a file output needs 'path'"))? }
        }
        "" => bail!("'type' is missing (syslog, webhook or file)"),
        k => bail!("type: '{k}' is not syslog, webhook or file"),
    };
    Ok(OutputConfig { name: name.to_string(), target, format, min_severity, queue: o.queue.unwrap_or(1000) })
}

fn facility(s: &str) -> Result<u8> {
    if let Ok(n) = s.parse::<u8>() {
        if n <= 23 {
            return Ok(n);
        }
    }
    let named = [("kern", 0), ("user", 1), ("daemon", 3), ("auth", 4), ("syslog", 5), ("authpriv", 10), ("security", 13)];
    if let Some((_, n)) = named.iter().find(|(k, _)| *k == s) {
        return Ok(*n);
    }
    if let Some(n) = s.strip_prefix("local").and_then(|d| d.parse::<u8>().ok()).filter(|n| *n <= 7) {
        return Ok(16 + n);
    }
    bail!("facility: '{s}' is not a syslog facility (0-23, local0-local7, auth, authpriv, daemon, user, ...)")
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// A duration with `ms` as well as the command line's s, m, h and d.
pub fn parse_duration_ms(s: &str) -> Result<Duration, String> {
    if let Some(n) = s.trim().strip_suffix("ms") {
        return n.trim().parse::<u64>().ok().filter(|n| *n > 0).map(Duration::from_millis).ok_or_else(|| format!("'{s}' is not a duration (examples: 500ms, 30s, 1h)"));
    }
    crate::cli::parse_duration(s)
}

/// Figment's errors, one per line, each with its key and source.
fn figment_errors(e: figment::Error) -> String {
    e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}

/// `apitap config check`: load, resolve, and describe what would run.
pub fn check(path: Option<&Path>, print: bool) -> Result<std::process::ExitCode> {
    let r = load(path)?;
    let p = &r.policy;
    let ttl = |t: Option<f64>| t.map_or_else(|| "not blocked".to_string(), |s| format!("{}s", s as u64));
    println!("configuration {}: valid", r.source);
    println!(
        "  block list   {}; TTL low {}, medium {}, high {}, critical {}; at most {} entries, CIDRs /{} (IPv4) and /{} (IPv6) at widest",
        if !r.raw.blocklist.enabled {
            "disabled"
        } else if p.dry_run {
            "dry run"
        } else {
            "enforcing"
        },
        ttl(p.ttl[0]),
        ttl(p.ttl[1]),
        ttl(p.ttl[2]),
        ttl(p.ttl[3]),
        p.max_entries,
        p.min_prefix_v4,
        p.min_prefix_v6
    );
    println!("  allow list   {} networks, {} users", p.allow.nets.len(), p.allow.users.len());
    println!("  serve        {} ({} thread{}, reload every {:?}{})", r.serve_listen, r.serve_threads, if r.serve_threads == 1 { "" } else { "s" }, r.serve_reload, if r.serve_token.is_some() { ", token required" } else { "" });
    for o in &r.outputs {
        let to = match &o.target {
            Target::Syslog { addr, tcp, .. } => format!("syslog {} {addr}", if *tcp { "tcp" } else { "udp" }),
            Target::Webhook { url, retries, .. } => format!("webhook {url} ({retries} retries)"),
            Target::File { path } => format!("file {}", path.display()),
        };
        println!("  output       {}: {to}, {:?} format, {} and above", o.name, o.format, o.min_severity.name());
    }
    if print {
        println!("{}", effective(&r.raw)?);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The effective configuration, as JSON: figment can render TOML only through the toml
/// crate, and JSON reads as easily.
fn effective(c: &Config) -> Result<String> {
    serde_json::to_string_pretty(c).context("cannot render the configuration")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(text: &str) -> Result<Resolved> {
        let dir = std::env::temp_dir().join(format!("apitap-config-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("apitap.toml");
        std::fs::write(&p, text).unwrap();
        let r = Config::load(Some(&p)).and_then(|c| c.resolve("test"));
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn a_full_file_resolves() {
        let r = from(
            r#"
[detect]
trusted_proxies = ["10.0.0.1"]
[blocklist]
dry_run = true
allow = ["192.0.2.0/24"]
health_checkers = ["198.51.100.10"]
allow_users = ["svc"]
[blocklist.ttl]
low = "10m"
critical = "2d"
[serve]
listen = "127.0.0.1:9999"
token = "s3cret"
[[outputs]]
type = "syslog"
address = "127.0.0.1:514"
transport = "tcp"
format = "ocsf"
facility = "local3"
[[outputs]]
type = "webhook"
url = "https://hooks.example/x"
headers = { Authorization = "Bearer t" }
backoff = "250ms"
min_severity = "high"
"#,
        )
        .unwrap();
        assert!(r.policy.dry_run);
        assert_eq!(r.policy.ttl, [Some(600.0), Some(3600.0), Some(21600.0), Some(172_800.0)]);
        assert_eq!(r.policy.allow.nets.len(), 3);
        assert_eq!(r.outputs.len(), 2);
        assert!(matches!(r.outputs[0].target, Target::Syslog { tcp: true, facility: 19, .. }));
        assert!(matches!(&r.outputs[1].target, Target::Webhook { backoff, .. } if *backoff == Duration::from_millis(250)));
        assert_eq!(r.serve_token.as_deref(), Some("s3cret"));
    }

    #[test]
    fn errors_name_the_key() {
        let e = |t: &str| format!("{:#}", from(t).unwrap_err());
        assert!(e("[blocklist]\nmax_entrys = 3\n").contains("max_entrys"), "{}", e("[blocklist]\nmax_entrys = 3\n"));
        assert!(e("[blocklist.ttl]\nhigh = \"6x\"\n").contains("blocklist.ttl.high"));
        assert!(e("[blocklist]\nallow = [\"10.0.0.0/33\"]\n").contains("blocklist.allow"));
        assert!(e("[[outputs]]\ntype = \"syslog\"\n").contains("address"));
        assert!(e("[[outputs]]\ntype = \"syslog\"\naddress = \"x:1\"\nurl = \"http://x\"\n").contains("'url' does not apply"));
        assert!(e("[blocklist]\nattacks = [\"bolla\"]\n").contains("bolla"));
        assert!(e("[serve\nlisten=1").to_lowercase().contains("line"), "{}", e("[serve\nlisten=1"));
        assert!(e("[blocklist]\ndry_run = \"yes\"\n").contains("dry_run"));
    }
}
