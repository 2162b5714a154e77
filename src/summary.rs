//! The run summary printed after a replay.

use sensor::pipeline::Summary;
use sensor::Timestamp;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Memory in the binary units `--max-memory` is given in.
fn mib(n: usize) -> String {
    if n < 1 << 20 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20))
    }
}

/// UTC date and time of a packet timestamp, without a date library.
pub fn utc(ts: Timestamp) -> String {
    let (y, m, d, hh, mm, ss) = crate::timefmt::civil(ts.0.div_euclid(1_000_000_000));
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

/// The summary block: `title`, the counters, any `extra` lines (capture's interface
/// counters), and where the records are.
pub fn render(title: &str, s: &Summary, extra: &[String], records: &Path, elapsed: Duration) -> String {
    let mut o = String::new();
    let d = &s.decode;
    let _ = writeln!(o, "{title}");
    let mut pk = format!("  packets       {:>12}  ({} on the wire", thousands(s.packets), bytes(d.wire_bytes));
    if d.truncated_frames > 0 {
        let _ = write!(pk, ", {} cut by snaplen", thousands(d.truncated_frames));
    }
    let other = d.not_ip + d.other_transport;
    let _ = write!(pk, "; {} TCP, {} UDP, {} other", thousands(d.tcp), thousands(d.udp), thousands(other));
    let malformed = d.link_truncated + d.link_malformed + d.ip_malformed + d.tcp_malformed;
    if malformed > 0 {
        let _ = write!(pk, ", {} undecodable", thousands(malformed));
    }
    if d.encrypted > 0 {
        let _ = write!(pk, ", {} encrypted 802.11", thousands(d.encrypted));
    }
    let _ = writeln!(o, "{pk})");
    let tunnels: u64 = d.tunnels.iter().sum();
    if tunnels > 0 || d.defrag.reassembled > 0 {
        let mut kinds = Vec::new();
        for k in sensor::decode::tunnel::TunnelKind::ALL {
            let n = d.tunnel_count(k);
            if n > 0 {
                kinds.push(format!("{} {}", k.name(), thousands(n)));
            }
        }
        let _ = writeln!(
            o,
            "  decapsulated  {:>12}  ({}; {} datagrams from IP fragments)",
            thousands(tunnels),
            if kinds.is_empty() { "none".into() } else { kinds.join(", ") },
            thousands(d.defrag.reassembled)
        );
    }
    let f = &s.flows;
    let mut fl = format!("  flows         {:>12}  ({} carried HTTP", thousands(f.flows), thousands(f.http_flows));
    if f.evicted_memory + f.evicted_flow_limit > 0 {
        let _ = write!(fl, ", {} evicted under memory/flow bounds", thousands(f.evicted_memory + f.evicted_flow_limit));
    }
    let _ = writeln!(o, "{fl})");
    if s.flow_budget > 0 {
        let _ = writeln!(
            o,
            "  flow memory   {:>12}  peak, of a {} bound ({} evicted for memory)",
            mib(f.peak_memory),
            mib(s.flow_budget),
            thousands(f.evicted_memory)
        );
    }
    let _ = writeln!(
        o,
        "  transactions  {:>12}  ({} complete, {} with gaps, {} one-sided, {} truncated)",
        thousands(s.transactions),
        thousands(s.complete),
        thousands(s.gap),
        thousands(s.one_sided),
        thousands(s.truncated)
    );
    let mut top: Vec<(&String, &u64)> = s.anomalies.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let names: Vec<String> = top.iter().take(6).map(|(n, c)| format!("{n} {}", thousands(**c))).collect();
    let more = if top.len() > 6 { format!(", +{} more kinds", top.len() - 6) } else { String::new() };
    let _ = writeln!(
        o,
        "  anomalies     {:>12}{}",
        thousands(s.anomaly_total()),
        if names.is_empty() { String::new() } else { format!("  ({}{more})", names.join(", ")) }
    );
    let st = &f.streams;
    let _ = writeln!(
        o,
        "  gaps          {:>12}  ({} missing; {} retransmitted segments, {} conflicting)",
        thousands(st.gaps),
        bytes(st.missed),
        thousands(st.retransmitted),
        thousands(st.conflicts)
    );
    match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => {
            let reversals = if s.time_reversals > 0 {
                format!("; {} packets out of time order", thousands(s.time_reversals))
            } else {
                String::new()
            };
            let _ = writeln!(o, "  time span     {} .. {} ({:.1} s{reversals})", utc(a), utc(b), s.span_secs());
        }
        _ => {
            let _ = writeln!(o, "  time span     (no packets)");
        }
    }
    for line in extra {
        let _ = writeln!(o, "  {line}");
    }
    if s.queue_drops > 0 {
        let _ = writeln!(o, "  queue drops   {:>12}  (segments dropped because a flow worker fell behind)", thousands(s.queue_drops));
    }
    if s.out_of_order > 0 {
        let _ = writeln!(o, "  out of order  {:>12}  (records written ahead of older ones a flow worker still held)", thousands(s.out_of_order));
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        o,
        "  processed in  {:>12}  ({:.2} Gbit/s, {} transactions/s, {} thread{})",
        format!("{:.3} s", elapsed.as_secs_f64()),
        d.wire_bytes as f64 * 8.0 / secs / 1e9,
        thousands((s.transactions as f64 / secs) as u64),
        s.threads,
        if s.threads == 1 { "" } else { "s" }
    );
    let _ = writeln!(o, "  records       {}", records.display());
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500_000), "1.5 MB");
        assert_eq!(utc(Timestamp::from_parts(1_258_567_191, 0)), "2009-11-18 17:59:51 UTC");
        assert_eq!(utc(Timestamp::from_parts(0, 0)), "1970-01-01 00:00:00 UTC");
    }
}
