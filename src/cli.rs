//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "apitap", version, about = "Passive API security sensor: packets in, API call records out")]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). APITAP_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay pcap/pcapng files into API call records (DIR/records.jsonl).
    Replay(ReplayArgs),
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Capture files (pcap or pcapng); several are merged in packet-time order; `-` is stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output directory; created if missing. records.jsonl in it is replaced.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// BPF filter applied to every file, in tcpdump syntax.
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,

    /// Write the first N decoded bytes of each body as request_body/response_body.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub body_sample: usize,

    /// Bound on flow and reassembly memory, e.g. 512M or 2G.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    pub max_memory: usize,

    /// File holding the 32-byte key (64 hex characters) for credential hashes. Default:
    /// APITAP_HASH_KEY, else DIR/hash.key, created at random on first use.
    #[arg(long, value_name = "PATH")]
    pub hash_key_file: Option<PathBuf>,

    /// Flow worker threads (1 runs everything on one thread). Default: the CPUs available.
    /// Output is the same at any count.
    #[arg(long, short = 't', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,

    /// Print nothing but errors and warnings.
    #[arg(short, long)]
    pub quiet: bool,
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
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("10").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("abcM").is_err());
    }
}
