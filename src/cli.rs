//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "apitap", version, about = "Passive API security sensor: packets in; API call records, inventory and alerts out")]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). APITAP_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Configuration file (TOML; see docs/configuration.md). APITAP_CONFIG also names it;
    /// APITAP_<SECTION>__<KEY> variables override its keys; flags override both.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay pcap/pcapng files into API call records (DIR/records.jsonl).
    Replay(ReplayArgs),
    /// Capture live from network interfaces into API call records (DIR/records.jsonl),
    /// until SIGINT or SIGTERM.
    Capture(CaptureArgs),
    /// Build or extend the API inventory (DIR/inventory.db) and detect attacks
    /// (DIR/alerts.jsonl) from records.jsonl files.
    Analyze(AnalyzeArgs),
    /// Query the API inventory: list, show, diff against an OpenAPI description, export.
    Inventory(InventoryArgs),
    /// List the alerts of an output directory (DIR/alerts.jsonl).
    Alerts(AlertsArgs),
    /// Score DIR/alerts.jsonl against labels: per-class recall, precision, detection delay,
    /// and the share of benign clients alerted.
    Eval(EvalArgs),
    /// The block list built from alerts: export it for a WAF, gateway or firewall; list,
    /// add or remove entries.
    Blocklist(BlocklistArgs),
    /// Serve decisions (allow/block) to gateways, the block list, alerts and metrics over
    /// HTTP, from an output directory's live state.
    Serve(ServeArgs),
    /// Check a configuration file and show what it sets.
    Config(ConfigArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The output directory of a replay, capture or analyze (finished or running).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// Address to listen on. Default: serve.listen in the configuration (127.0.0.1:8686).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,

    /// The credential hash key the records were made with (default: as replay finds it).
    #[arg(long, value_name = "PATH")]
    pub hash_key_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BlocklistArgs {
    #[command(subcommand)]
    pub command: BlocklistCommand,
}

#[derive(Subcommand, Debug)]
pub enum BlocklistCommand {
    /// Write the active block list in an enforcer's format.
    Export {
        #[arg(long, short = 'o', value_name = "DIR")]
        out: PathBuf,
        /// nginx, nginx-map, haproxy, nftables, ipset, modsecurity, aws-waf, cloudflare, plain.
        #[arg(long, short = 'F', value_name = "FORMAT")]
        format: String,
        /// Write to FILE (atomically) instead of standard output.
        #[arg(long = "output", short = 'O', value_name = "FILE")]
        file: Option<PathBuf>,
        /// Base name of the table, sets or lists written.
        #[arg(long, default_value = "apitap")]
        name: String,
        /// AWS WAF scope: REGIONAL or CLOUDFRONT.
        #[arg(long, default_value = "REGIONAL")]
        aws_scope: String,
    },
    /// List entries (active ones, or all with --all).
    List {
        #[arg(long, short = 'o', value_name = "DIR")]
        out: PathBuf,
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Block an identity by hand: an address or CIDR, or KIND:VALUE (jwt_sub, token,
    /// api_key, cookie, user).
    Add {
        #[arg(long, short = 'o', value_name = "DIR")]
        out: PathBuf,
        #[arg(required_unless_present = "credential", conflicts_with = "credential")]
        key: Option<String>,
        /// Block the credential a request header carries, given as `Name: value` (for
        /// example 'Authorization: Bearer eyJ...' or 'Cookie: sessionid=...'): it is hashed
        /// with DIR's key as the records were, and only the hash is stored.
        #[arg(long, value_name = "HEADER")]
        credential: Option<String>,
        /// How long (default: the configured TTL of --severity).
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<std::time::Duration>,
        #[arg(long, default_value = "high")]
        severity: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Remove an entry.
    Remove {
        #[arg(long, short = 'o', value_name = "DIR")]
        out: PathBuf,
        key: String,
    },
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate FILE (or --config, or APITAP_CONFIG) with the environment's overrides, and
    /// show what it sets; exits non-zero with the errors otherwise.
    Check {
        file: Option<PathBuf>,
        /// Also print the effective configuration.
        #[arg(long)]
        print: bool,
    },
}

/// How detection runs (replay, capture and analyze).
#[derive(Args, Debug, Clone)]
pub struct DetectArgs {
    /// Do not detect attacks (no DIR/alerts.jsonl); the inventory is still built.
    #[arg(long)]
    pub no_detect: bool,

    /// Training period before detection starts: a duration of packet time (5m, 1h) or a
    /// record count (20000r). Default 5m (or detect.train in the configuration).
    #[arg(long, value_name = "DURATION|Nr", value_parser = parse_training)]
    pub train: Option<analyzer::detect::Training>,

    /// Feature windows of packet time, shortest first (comma-separated). Default 1m,10m.
    #[arg(long, value_name = "DURATION", value_delimiter = ',', value_parser = parse_duration)]
    pub windows: Vec<std::time::Duration>,

    /// Packet time between evaluations. Default 10s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub step: Option<std::time::Duration>,

    /// Robust z score a feature must reach against its learned baseline to count as
    /// deviating (it must also pass the baseline's 99.9th percentile). Default 6.
    #[arg(long, value_name = "Z")]
    pub z_threshold: Option<f64>,

    /// Proxies whose X-Forwarded-For, Forwarded and True-Client-IP headers are believed
    /// (address or CIDR; repeat or comma-separate). Others' are ignored. Default: none (or
    /// detect.trusted_proxies in the configuration).
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    pub trusted_proxy: Vec<String>,
}

impl DetectArgs {
    /// The detection configuration: these flags, else the configuration file's `[detect]`,
    /// else the defaults.
    pub fn config(&self, file: &crate::config::DetectSection) -> Result<analyzer::detect::DetectConfig, String> {
        let train = match (self.train, &file.train) {
            (Some(t), _) => t,
            (None, Some(t)) => parse_training(t).map_err(|e| format!("detect.train: {e}"))?,
            (None, None) => analyzer::detect::Training::Seconds(300.0),
        };
        let mut windows: Vec<f64> = if !self.windows.is_empty() {
            self.windows.iter().map(|d| d.as_secs_f64()).collect()
        } else if let Some(ws) = &file.windows {
            ws.iter().map(|w| parse_duration(w).map(|d| d.as_secs_f64()).map_err(|e| format!("detect.windows: {e}"))).collect::<Result<_, _>>()?
        } else {
            vec![60.0, 600.0]
        };
        if windows.is_empty() {
            return Err("detect.windows: at least one window".into());
        }
        windows.sort_by(f64::total_cmp);
        windows.dedup();
        let step = match (self.step, &file.step) {
            (Some(s), _) => s.as_secs_f64(),
            (None, Some(s)) => parse_duration(s).map_err(|e| format!("detect.step: {e}"))?.as_secs_f64(),
            (None, None) => 10.0,
        };
        if windows.first().is_some_and(|w| *w < step) {
            return Err(format!("the step (--step or detect.step, {step}s) is longer than the shortest window"));
        }
        let z_threshold = self.z_threshold.or(file.z_threshold).unwrap_or(6.0);
        if !(z_threshold.is_finite() && z_threshold > 0.0) {
            return Err("the z threshold must be a positive number".into());
        }
        let proxies = if self.trusted_proxy.is_empty() { &file.trusted_proxies } else { &self.trusted_proxy };
        Ok(analyzer::detect::DetectConfig {
            windows,
            step,
            training: train,
            z_threshold,
            trusted_proxies: analyzer::detect::identity::TrustedProxies::parse(proxies)?,
            window_bytes: analyzer::detect::features::WINDOW_BYTES,
            state_bytes: analyzer::detect::STATE_BYTES,
        })
    }
}

/// `5m` (packet time) or `20000r` (records).
pub fn parse_training(s: &str) -> Result<analyzer::detect::Training, String> {
    let t = s.trim();
    if let Some(n) = t.strip_suffix('r') {
        return n
            .trim()
            .parse::<u64>()
            .map(analyzer::detect::Training::Records)
            .map_err(|_| format!("'{s}' is not a record count (example: 20000r)"));
    }
    parse_duration(t).map(|d| analyzer::detect::Training::Seconds(d.as_secs_f64()))
}

#[derive(Args, Debug)]
pub struct AlertsArgs {
    /// The output directory replay, capture or analyze wrote.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// Only this attack class.
    #[arg(long, value_name = "CLASS")]
    pub attack: Option<String>,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Labels: {"attacks": [{"attack", "src_ips", "start", "end"}], "benign_ips": [...]}.
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,

    /// The output directory whose alerts.jsonl is scored.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// records.jsonl files written by replay or capture; `-` is stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Directory of the inventory; DIR/inventory.db is created or merged into.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// Print nothing but errors and warnings.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub detect: DetectArgs,
}

#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// The inventory database (replay, capture and analyze write DIR/inventory.db).
    #[arg(long, value_name = "FILE", env = "APITAP_DB", default_value = "inventory.db", global = true)]
    pub db: PathBuf,

    #[command(subcommand)]
    pub command: InventoryCommand,
}

#[derive(Subcommand, Debug)]
pub enum InventoryCommand {
    /// The endpoints, one per line (or JSON, or CSV).
    List(ListArgs),
    /// Everything known about one endpoint: `apitap inventory show 'GET /users/{id}'`.
    Show(ShowArgs),
    /// Compare the traffic with an OpenAPI description: shadow (undocumented) endpoints,
    /// zombie (documented, never seen) endpoints, parameter and type drift.
    Diff(DiffArgs),
    /// Write the inventory as an OpenAPI 3.1 description.
    Export(ExportArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only endpoints of this host (`host` or `host:port`).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// Only endpoints where sensitive data was seen.
    #[arg(long)]
    pub sensitive: bool,

    /// Only endpoints seen since T: a date (2026-11-21), a UTC time (2026-11-21T10:00:00Z)
    /// or a duration back from now (24h, 7d).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// Include paths that only ever got 404 (probing, not endpoints).
    #[arg(long)]
    pub all: bool,

    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// `METHOD /path/template` (the path as `list` prints it, or a concrete path).
    #[arg(value_name = "ENDPOINT")]
    pub endpoint: String,

    /// The host, when several have the endpoint.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The OpenAPI description (3.x, YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,

    /// Compare only this host's endpoints (default: all hosts).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Where to write the OpenAPI 3.1 document (YAML; `.json` writes JSON; `-` is stdout).
    #[arg(long, value_name = "FILE")]
    pub openapi: PathBuf,

    /// Export only this host (default: all, as one server each).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// Include paths that only ever got 404.
    #[arg(long)]
    pub all: bool,
}

/// Options both replay and capture take.
#[derive(Args, Debug)]
pub struct Common {
    /// Output directory; created if missing. records.jsonl in it is replaced.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// BPF filter, in tcpdump syntax.
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,

    /// Write the first N decoded bytes of each body as request_body/response_body.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub body_sample: usize,

    /// Memory bound, e.g. 512M or 2G. Detection gets three eighths: a quarter for its feature window (its oldest calls go first), an eighth for its per-identity state (the least recently seen go first); flows, reassembly and pending transactions get what that, the pipeline's buffers and, capturing live, the kernel rings of --buffer-size leave, the least recently active flows evicted first.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    pub max_memory: usize,

    /// File holding the 32-byte key (64 hex characters) for credential hashes. Default:
    /// APITAP_HASH_KEY, else DIR/hash.key, created at random on first use.
    #[arg(long, value_name = "PATH")]
    pub hash_key_file: Option<PathBuf>,

    /// Threads that work flows (1 runs everything on one thread; with more, the capture
    /// thread keeps a share of the flows and the others get the rest). Default: the CPUs
    /// available.
    #[arg(long, short = 't', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,

    /// UDP ports decoded as VXLAN (repeat or comma-separate).
    #[arg(long, value_name = "PORT", value_delimiter = ',', default_values_t = [4789u16, 8472])]
    pub vxlan_port: Vec<u16>,

    /// UDP ports decoded as GENEVE.
    #[arg(long, value_name = "PORT", value_delimiter = ',', default_values_t = [6081u16])]
    pub geneve_port: Vec<u16>,

    /// Do not analyse while reading packets (no inventory, no detection); records only.
    /// `apitap analyze` can do both later from records.jsonl.
    #[arg(long)]
    pub no_inventory: bool,

    /// Print nothing but errors and warnings.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub detect: DetectArgs,
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// Interface to capture on (repeat for several).
    #[arg(short = 'i', long = "interface", value_name = "IFACE", required = true)]
    pub interfaces: Vec<String>,

    #[command(flatten)]
    pub common: Common,

    /// Bytes kept per frame (0: whole frames).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub snaplen: u32,

    /// Do not put the interfaces in promiscuous mode (a SPAN port or tap needs it on).
    #[arg(long)]
    pub no_promisc: bool,

    /// Kernel capture buffer per interface, e.g. 64M.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub buffer_size: usize,

    /// Hand each frame over the moment it arrives (libpcap's immediate mode). On Linux its
    /// ring has one fixed slot per frame, as large as the snaplen, so the buffer holds far
    /// fewer frames and bursts are dropped sooner. By default frames are packed into kernel
    /// blocks, handed over when a block fills or 10 ms after its first frame.
    #[arg(long)]
    pub immediate: bool,

    /// Start a new records file once this big, e.g. 100M (old ones are renamed
    /// records-<UTC time>.jsonl).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub rotate_size: Option<usize>,

    /// Start a new records file this often, e.g. 1h, 30m, 1d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub rotate_interval: Option<std::time::Duration>,

    /// Keep at most this many rotated files.
    #[arg(long, value_name = "N")]
    pub rotate_keep: Option<usize>,

    /// Stop after this long (e.g. 30s); by default capture runs until SIGINT or SIGTERM.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,

    /// Log capture counters (packets, records, kernel drops) this often.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub stats_interval: std::time::Duration,

    /// Save the inventory (DIR/inventory.db) and alerts (DIR/alerts.jsonl) this often while
    /// capturing.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub inventory_interval: std::time::Duration,

    /// Serve decisions, the block list, alerts and metrics on this address while capturing
    /// (as `apitap serve` does; see docs/enforcement.md).
    #[arg(long, value_name = "ADDR:PORT")]
    pub serve: Option<String>,

    /// Become this user once the interfaces are open (the output directory is given to it).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// Parses durations like `30s`, `10m`, `1h`, `1d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let n: u64 = num.trim().parse().map_err(|_| format!("'{s}' is not a duration (examples: 30s, 10m, 1h)"))?;
    let secs = match unit {
        's' => n,
        'm' => n * 60,
        'h' => n * 3600,
        'd' => n * 86_400,
        _ => return Err(format!("unknown duration unit '{unit}' (use s, m, h or d)")),
    };
    if secs == 0 {
        return Err(format!("'{s}' must be at least 1s"));
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Capture files (pcap or pcapng); several are merged in packet-time order; `-` is stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub common: Common,
}

/// The default worker count: the CPUs this process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parses sizes like `512M`, `2G`, `65536`, `64K`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: usize = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("unknown size suffix '{c}' (use K, M or G)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: usize = num.trim().parse().map_err(|_| format!("'{s}' is not a size (examples: 512M, 2G)"))?;
    n.checked_mul(mult).filter(|v| *v >= 1 << 20).ok_or_else(|| format!("'{s}' must be at least 1M"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(std::time::Duration::from_secs(30)));
        assert_eq!(parse_duration("2h"), Ok(std::time::Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(std::time::Duration::from_secs(45)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5w").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("10").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("abcM").is_err());
    }
}
