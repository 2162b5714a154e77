//! Alert outputs for SIEMs and chat-ops: RFC 5424 syslog over UDP (RFC 5426) or TCP with
//! octet counting (RFC 6587), webhooks (HTTP POST with retries and backoff), and JSON-lines
//! files; each in apitap's alert JSON, ECS or OCSF.
//!
//! Guarantees: every output runs on a thread of its own behind a bounded queue, so a slow or
//! dead receiver costs counted drops, never a stalled analysis; an alert is sent when it is
//! raised and again (as an update) when its severity rises or, while it goes on, at most once
//! per `update_every` of packet time; a send that fails after its retries is counted, not
//! retried forever.

use crate::detect::alerts::{Alert, Severity};
use crate::export::siem::{self, Activity, AlertFormat};
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Largest syslog datagram sent over UDP; longer messages are cut (and counted).
pub const UDP_MAX: usize = 60_000;

/// Where an output sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Syslog { addr: String, tcp: bool, facility: u8, hostname: String },
    /// `ca_file`: PEM certificates to trust instead of the public roots (a private CA).
    Webhook { url: String, headers: Vec<(String, String)>, timeout: Duration, retries: u32, backoff: Duration, ca_file: Option<std::path::PathBuf> },
    File { path: std::path::PathBuf },
}

/// One configured output.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputConfig {
    pub name: String,
    pub target: Target,
    pub format: AlertFormat,
    /// Alerts below this severity are not sent.
    pub min_severity: Severity,
    /// Messages waiting for this output at most.
    pub queue: usize,
}

/// An output that could not start.
#[derive(Debug, Error)]
pub enum NotifyError {
    #[error("output {name}: {reason}")]
    Start { name: String, reason: String },
}

/// What an output did, counted.
#[derive(Debug, Default)]
pub struct OutputStats {
    pub sent: AtomicU64,
    /// Left out because the queue was full.
    pub dropped: AtomicU64,
    /// Given up on after the retries.
    pub failed: AtomicU64,
    pub retries: AtomicU64,
    /// Syslog datagrams cut to [`UDP_MAX`].
    pub truncated: AtomicU64,
}

struct Output {
    cfg: OutputConfig,
    tx: Option<Sender<String>>,
    stats: Arc<OutputStats>,
    handle: Option<JoinHandle<()>>,
}

/// The outputs, and what was sent of each alert.
pub struct Notifier {
    outputs: Vec<Output>,
    sent: HashMap<String, (Severity, f64)>,
    /// Packet seconds between updates of an alert that goes on.
    pub update_every: f64,
}

impl Notifier {
    /// Starts one thread per output. Targets are checked here (a syslog address that does
    /// not resolve, a file that cannot be opened), so configuration errors surface at start.
    pub fn start(cfgs: Vec<OutputConfig>) -> Result<Notifier, NotifyError> {
        let mut outputs = Vec::new();
        for cfg in cfgs {
            let err = |reason: String| NotifyError::Start { name: cfg.name.clone(), reason };
            let sink = Sink::open(&cfg.target).map_err(err)?;
            let (tx, rx) = bounded::<String>(cfg.queue.max(1));
            let stats = Arc::new(OutputStats::default());
            let st = Arc::clone(&stats);
            let handle = std::thread::Builder::new()
                .name(format!("apitap-out-{}", cfg.name))
                .spawn({
                    let name = cfg.name.clone();
                    move || run(&name, sink, rx, &st)
                })
                .map_err(|e| NotifyError::Start { name: cfg.name.clone(), reason: e.to_string() })?;
            outputs.push(Output { cfg, tx: Some(tx), stats, handle: Some(handle) });
        }
        Ok(Notifier { outputs, sent: HashMap::new(), update_every: 300.0 })
    }

    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    /// Sends what is new or worth an update among `alerts`.
    pub fn alerts(&mut self, alerts: &[Alert]) {
        if self.outputs.is_empty() {
            return;
        }
        for a in alerts {
            let activity = match self.sent.get(&a.id) {
                None => Activity::Created,
                Some((sev, at)) if a.severity > *sev || a.last_seen - at >= self.update_every => Activity::Updated,
                Some(_) => continue,
            };
            self.sent.insert(a.id.clone(), (a.severity, a.last_seen));
            for o in &self.outputs {
                if a.severity < o.cfg.min_severity {
                    continue;
                }
                let body = siem::render(a, o.cfg.format, activity);
                let msg = match &o.cfg.target {
                    Target::Syslog { facility, hostname, .. } => syslog_line(a, *facility, hostname, &body),
                    _ => body,
                };
                if let Some(tx) = &o.tx {
                    if let Err(TrySendError::Full(_)) = tx.try_send(msg) {
                        o.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Counters per output name.
    pub fn stats(&self) -> Vec<(&str, &OutputStats)> {
        self.outputs.iter().map(|o| (o.cfg.name.as_str(), &*o.stats)).collect()
    }

    /// Sends what is queued, waiting at most `deadline` in all; returns per output what was
    /// sent, dropped and failed.
    pub fn finish(mut self, deadline: Duration) -> Vec<(String, u64, u64, u64)> {
        let until = Instant::now() + deadline;
        for o in &mut self.outputs {
            drop(o.tx.take());
        }
        let mut out = Vec::new();
        for o in &mut self.outputs {
            if let Some(h) = o.handle.take() {
                while !h.is_finished() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if h.is_finished() {
                    let _ = h.join();
                }
            }
            let s = &o.stats;
            out.push((o.cfg.name.clone(), s.sent.load(Ordering::Relaxed), s.dropped.load(Ordering::Relaxed), s.failed.load(Ordering::Relaxed)));
        }
        out
    }
}

/// RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`. The structured data carries
/// the alert's id, class, severity and score, so a receiver can route without parsing MSG.
pub fn syslog_line(a: &Alert, facility: u8, hostname: &str, msg: &str) -> String {
    let sev = match a.severity {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
    };
    let pri = u32::from(facility.min(23)) * 8 + sev;
    let host = header_field(hostname, 255);
    format!(
        "<{pri}>1 {} {host} apitap {} {} [apitap@32473 id=\"{}\" attack=\"{}\" severity=\"{}\" score=\"{}\"] {msg}",
        sensor::time::rfc3339_millis(a.detected_at),
        std::process::id(),
        header_field(a.attack.name(), 32),
        sd_escape(&a.id),
        sd_escape(a.attack.name()),
        a.severity.name(),
        a.score
    )
}

/// A header field: printable US-ASCII without spaces, or `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v
    }
}

/// A structured-data parameter value: `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn sd_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

enum Sink {
    Udp(UdpSocket, std::net::SocketAddr),
    Tcp { addr: String, conn: Option<TcpStream> },
    Webhook { agent: ureq::Agent, url: String, headers: Vec<(String, String)>, retries: u32, backoff: Duration },
    File(std::fs::File),
}

impl Sink {
    fn open(t: &Target) -> Result<Sink, String> {
        match t {
            Target::Syslog { addr, tcp: false, .. } => {
                let to = addr.to_socket_addrs().map_err(|e| format!("{addr}: {e}"))?.next().ok_or_else(|| format!("{addr}: no address"))?;
                let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
                Ok(Sink::Udp(sock, to))
            }
            Target::Syslog { addr, tcp: true, .. } => {
                addr.to_socket_addrs().map_err(|e| format!("{addr}: {e}"))?;
                // Connected lazily, and again after a failure: a receiver that restarts is
                // picked up without restarting apitap.
                Ok(Sink::Tcp { addr: addr.clone(), conn: None })
            }
            Target::Webhook { url, headers, timeout, retries, backoff, ca_file } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("webhook url {url:?} is not http:// or https://"));
                }
                let mut config = ureq::Agent::config_builder().timeout_global(Some(*timeout)).http_status_as_error(false);
                if let Some(path) = ca_file {
                    config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(private_roots(path)?).build());
                }
                let agent: ureq::Agent = config.build().into();
                Ok(Sink::Webhook { agent, url: url.clone(), headers: headers.clone(), retries: *retries, backoff: *backoff })
            }
            Target::File { path } => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Sink::File)
                .map_err(|e| format!("cannot open {}: {e}", path.display())),
        }
    }

    /// Sends one message; `Err` after the retries are spent.
    fn send(&mut self, msg: &str, stats: &OutputStats) -> Result<(), String> {
        match self {
            Sink::Udp(sock, to) => {
                let mut b = msg.as_bytes();
                if b.len() > UDP_MAX {
                    b = &b[..UDP_MAX];
                    stats.truncated.fetch_add(1, Ordering::Relaxed);
                }
                sock.send_to(b, *to).map(|_| ()).map_err(|e| e.to_string())
            }
            Sink::Tcp { addr, conn } => {
                let framed = format!("{} {msg}", msg.len());
                for attempt in 0..2 {
                    if conn.is_none() {
                        let to = addr.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
                        *conn = Some(TcpStream::connect_timeout(&to, Duration::from_secs(5)).map_err(|e| e.to_string())?);
                    }
                    let Some(c) = conn.as_mut() else { continue };
                    match c.write_all(framed.as_bytes()) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            *conn = None;
                            if attempt == 1 {
                                return Err(e.to_string());
                            }
                            stats.retries.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Err("not connected".into())
            }
            Sink::Webhook { agent, url, headers, retries, backoff } => {
                let mut wait = *backoff;
                let mut last = String::new();
                for attempt in 0..=*retries {
                    if attempt > 0 {
                        stats.retries.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(wait);
                        wait = (wait * 2).min(Duration::from_secs(60));
                    }
                    let mut req = agent.post(url.as_str()).header("content-type", "application/json").header("user-agent", "apitap");
                    for (k, v) in headers.iter() {
                        req = req.header(k.as_str(), v.as_str());
                    }
                    match req.send(msg) {
                        Ok(resp) if resp.status().is_success() => return Ok(()),
                        Ok(resp) => {
                            let code = resp.status().as_u16();
                            last = format!("HTTP {code}");
                            // A request the receiver rejects as such will not improve.
                            if (400..500).contains(&code) && code != 408 && code != 429 {
                                return Err(last);
                            }
                        }
                        Err(e) => last = e.to_string(),
                    }
                }
                Err(last)
            }
            Sink::File(f) => f.write_all(format!("{msg}\n").as_bytes()).map_err(|e| e.to_string()),
        }
    }
}

/// The certificates of a PEM file, as the only roots a webhook trusts.
fn private_roots(path: &std::path::Path) -> Result<ureq::tls::RootCerts, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("ca_file {}: {e}", path.display())),
        }
    }
    if certs.is_empty() {
        return Err(format!("ca_file {} holds no PEM certificate", path.display()));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

fn run(name: &str, mut sink: Sink, rx: Receiver<String>, stats: &OutputStats) {
    let mut warned = false;
    for msg in rx {
        match sink.send(&msg, stats) {
            Ok(()) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                if !warned {
                    tracing::warn!("alert output {name} failed: {e} (further failures are counted, not logged)");
                    warned = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::alerts::{Attack, Evidence, IdentityRef};
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;

    fn alert(id: &str, severity: Severity, last_seen: f64) -> Alert {
        Alert {
            id: id.into(),
            attack: Attack::Bola,
            severity,
            score: 0.5,
            first_seen: 1_795_263_400.0,
            last_seen,
            detected_at: 1_795_263_410.0,
            src_ips: vec!["198.51.100.7".into()],
            identity: IdentityRef { kind: "ip".into(), value: "198.51.100.7".into() },
            endpoints: vec![],
            summary: "s".into(),
            evidence: Evidence::default(),
            detections: 1,
        }
    }

    fn syslog(addr: String, tcp: bool, format: AlertFormat) -> OutputConfig {
        OutputConfig {
            name: "s".into(),
            target: Target::Syslog { addr, tcp, facility: 16, hostname: "sensor-1".into() },
            format,
            min_severity: Severity::Low,
            queue: 16,
        }
    }

    /// RFC 5424 header fields of a line: (pri, version, timestamp, host, app, procid, msgid).
    fn parse_5424(line: &str) -> (u32, String, String, String, String, String) {
        let rest = line.strip_prefix('<').unwrap();
        let (pri, rest) = rest.split_once('>').unwrap();
        let f: Vec<&str> = rest.splitn(7, ' ').collect();
        assert_eq!(f[0], "1");
        assert!(f[1].ends_with('Z') && f[1].contains('T'));
        assert!(f[6].starts_with("[apitap@32473 id=\""), "{}", f[6]);
        (pri.parse().unwrap(), f[1].into(), f[2].into(), f[3].into(), f[5].into(), f[6].into())
    }

    #[test]
    fn syslog_over_udp_with_ecs() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut n = Notifier::start(vec![syslog(rx.local_addr().unwrap().to_string(), false, AlertFormat::Ecs)]).unwrap();
        n.alerts(&[alert("a-1", Severity::High, 1.0)]);
        let mut buf = vec![0u8; 65536];
        let len = rx.recv(&mut buf).unwrap();
        let line = std::str::from_utf8(&buf[..len]).unwrap();
        let (pri, ts, host, app, msgid, rest) = parse_5424(line);
        assert_eq!((pri, ts.as_str(), host.as_str(), app.as_str(), msgid.as_str()), (16 * 8 + 3, "2026-11-21T12:16:50.000Z", "sensor-1", "apitap", "bola"));
        let json = &rest[rest.find("] ").unwrap() + 2..];
        let doc: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(doc["event"]["id"], "a-1");
        let done = n.finish(Duration::from_secs(5));
        assert_eq!(done[0].1, 1);
    }

    #[test]
    fn syslog_over_tcp_is_octet_counted_and_updates_are_rate_limited() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut n = Notifier::start(vec![syslog(l.local_addr().unwrap().to_string(), true, AlertFormat::Ocsf)]).unwrap();
        n.alerts(&[alert("a-1", Severity::Medium, 10.0)]);
        // Unchanged, then going on for less than update_every: nothing more.
        n.alerts(&[alert("a-1", Severity::Medium, 10.0), alert("a-1", Severity::Medium, 100.0)]);
        // Severity rises: an update.
        n.alerts(&[alert("a-1", Severity::High, 110.0)]);
        let (c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(c);
        let mut activities = Vec::new();
        for _ in 0..2 {
            let mut len = Vec::new();
            r.read_until(b' ', &mut len).unwrap();
            let len: usize = std::str::from_utf8(&len).unwrap().trim().parse().unwrap();
            let mut msg = vec![0u8; len];
            r.read_exact(&mut msg).unwrap();
            let line = String::from_utf8(msg).unwrap();
            parse_5424(&line);
            let doc: serde_json::Value = serde_json::from_str(&line[line.find("] ").unwrap() + 2..]).unwrap();
            activities.push(doc["activity_id"].as_i64().unwrap());
        }
        assert_eq!(activities, vec![1, 2]);
        n.finish(Duration::from_secs(5));
    }

    /// A receiver that fails the first request with 503 and accepts the next.
    #[test]
    fn webhook_retries_then_delivers() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for status in ["503 Service Unavailable", "200 OK"] {
                let (c, _) = l.accept().unwrap();
                let mut r = BufReader::new(c);
                let mut len = 0usize;
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if lower.starts_with("authorization:") {
                        auth = line.trim().to_string();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                r.read_exact(&mut body).unwrap();
                bodies.push((auth, String::from_utf8(body).unwrap()));
                let mut c = r.into_inner();
                write!(c, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
            }
            bodies
        });
        let cfg = OutputConfig {
            name: "hook".into(),
            target: Target::Webhook {
                url,
                headers: vec![("Authorization".into(), "Bearer t0k".into())],
                timeout: Duration::from_secs(5),
                retries: 3,
                backoff: Duration::from_millis(20),
                ca_file: None,
            },
            format: AlertFormat::Alert,
            min_severity: Severity::Medium,
            queue: 4,
        };
        let mut n = Notifier::start(vec![cfg]).unwrap();
        // Below the output's minimum severity: not sent.
        n.alerts(&[alert("a-0", Severity::Low, 1.0), alert("a-1", Severity::High, 1.0)]);
        let bodies = server.join().unwrap();
        assert_eq!(bodies.len(), 2);
        assert!(bodies[1].0.eq_ignore_ascii_case("authorization: Bearer t0k"), "{}", bodies[1].0);
        let doc: serde_json::Value = serde_json::from_str(&bodies[1].1).unwrap();
        assert_eq!(doc["id"], "a-1");
        let done = n.finish(Duration::from_secs(5));
        assert_eq!((done[0].1, done[0].3), (1, 0));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        // A receiver that never answers: the first send blocks in its timeout.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let cfg = OutputConfig {
            name: "slow".into(),
            target: Target::Webhook {
                url: format!("http://{}/", l.local_addr().unwrap()),
                headers: vec![],
                timeout: Duration::from_millis(300),
                retries: 0,
                backoff: Duration::from_millis(1),
                ca_file: None,
            },
            format: AlertFormat::Alert,
            min_severity: Severity::Low,
            queue: 2,
        };
        let mut n = Notifier::start(vec![cfg]).unwrap();
        let many: Vec<Alert> = (0..20).map(|i| alert(&format!("a-{i}"), Severity::High, 1.0)).collect();
        n.alerts(&many);
        let dropped = n.stats()[0].1.dropped.load(Ordering::Relaxed);
        assert!(dropped >= 17, "{dropped}");
        drop(l);
        n.finish(Duration::from_secs(10));
    }

    #[test]
    fn bad_targets_fail_at_start() {
        let bad = OutputConfig {
            name: "x".into(),
            target: Target::Webhook {
                url: "ftp://x".into(),
                headers: vec![],
                timeout: Duration::from_secs(1),
                retries: 0,
                backoff: Duration::from_secs(1),
                ca_file: None,
            },
            format: AlertFormat::Alert,
            min_severity: Severity::Low,
            queue: 1,
        };
        assert!(Notifier::start(vec![bad]).is_err());
        assert!(Notifier::start(vec![syslog("no-such-host.invalid:514".into(), false, AlertFormat::Alert)]).is_err());
    }
}
