//! `apitap serve`: the decision service over an output directory's live state. A gateway's
//! sideband call or an nginx `auth_request` asks `/v1/decision` whether to let a request
//! through; enforcers pull `/v1/blocklist?format=F`; SIEMs and dashboards read `/v1/alerts`
//! and `/metrics`.
//!
//! The state (block list and alerts) is read from DIR/inventory.db and reloaded whenever
//! another connection commits to it (SQLite's `data_version`), so it follows a capture running
//! in this process (`capture --serve`) or another one, or serves a finished run as is. A
//! decision never touches the database: it reads an immutable snapshot swapped in by the
//! reloader, so its cost is a few hash lookups whatever the reload is doing.

use crate::config::Resolved;
use crate::metrics::{wall_now, SensorMetrics};
use analyzer::detect::alerts::Alert;
use analyzer::detect::identity::TrustedProxies;
use analyzer::enforce::blocklist::{BlockEntry, BlockKind};
use analyzer::enforce::decision::{DecisionRequest, Matcher};
use analyzer::export::blocklist::{self as exports, ExportOptions};
use analyzer::store::Store;
use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use sensor::hash::CredentialHasher;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What one reload read.
struct Snapshot {
    matcher: Matcher,
    alerts: Vec<Alert>,
    loaded_at: f64,
}

#[derive(Default)]
struct Counters {
    allow: AtomicU64,
    block: AtomicU64,
    would_block: AtomicU64,
    allowlisted: AtomicU64,
    bad_requests: AtomicU64,
    unauthorized: AtomicU64,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
}

struct App {
    snap: RwLock<Arc<Snapshot>>,
    counters: Counters,
    token: Option<String>,
    dir: PathBuf,
    dry_run: bool,
}

impl App {
    fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock only means a reloader panicked mid-swap; the Arc inside is whole.
        match self.snap.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

/// Everything `serve` needs to start.
pub struct ServeOptions {
    pub dir: PathBuf,
    pub listen: String,
    pub hash_key: [u8; 32],
    pub cfg: Arc<Resolved>,
}

fn load(store: &mut Store, opts: &ServeOptions, trusted: &TrustedProxies) -> Result<Snapshot> {
    let entries = store.load_blocklist()?;
    let alerts = store.load_alerts()?;
    let now = wall_now();
    let active: Vec<BlockEntry> = entries.into_iter().filter(|e| e.active(now)).collect();
    let matcher = Matcher::new(active, opts.cfg.policy.allow.clone(), trusted.clone(), CredentialHasher::new(opts.hash_key), opts.cfg.policy.dry_run);
    Ok(Snapshot { matcher, alerts, loaded_at: now })
}

/// Runs the service until SIGINT or SIGTERM (or forever, when `signals` is false: the
/// capture that started it decides when the process ends).
pub fn run(opts: ServeOptions, signals: bool) -> Result<()> {
    let db = opts.dir.join("inventory.db");
    let mut store = Store::open(&db).with_context(|| format!("cannot open {}", db.display()))?;
    let trusted = TrustedProxies::parse(&opts.cfg.raw.detect.trusted_proxies).map_err(anyhow::Error::msg)?;
    let first = load(&mut store, &opts, &trusted).with_context(|| format!("cannot read the block list from {}", db.display()))?;
    let app = Arc::new(App {
        snap: RwLock::new(Arc::new(first)),
        counters: Counters::default(),
        token: opts.cfg.serve_token.clone(),
        dir: opts.dir.clone(),
        dry_run: opts.cfg.policy.dry_run,
    });
    let addr: SocketAddr = opts.listen.parse().with_context(|| format!("'{}' is not ADDRESS:PORT", opts.listen))?;
    let threads = opts.cfg.serve_threads;
    let every = opts.cfg.serve_reload;
    {
        let app = Arc::clone(&app);
        std::thread::Builder::new()
            .name("apitap-serve-reload".into())
            .spawn(move || reloader(store, &opts, &trusted, &app, every))
            .context("cannot start the reload thread")?;
    }
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    }
    .context("cannot start the service runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr().unwrap_or(addr);
        tracing::info!("serving decisions on http://{local}");
        eprintln!("apitap: serving on http://{local} (/v1/decision, /v1/blocklist, /v1/alerts, /healthz, /metrics)");
        let router = Router::new()
            .route("/v1/decision", any(decision))
            .route("/ase/request", any(decision))
            .route("/v1/blocklist", get(blocklist))
            .route("/v1/alerts", get(alerts))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics))
            .with_state(app);
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, service);
        if signals {
            server.with_graceful_shutdown(shutdown()).await
        } else {
            server.await
        }
        .context("the service stopped")
    })
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

fn reloader(mut store: Store, opts: &ServeOptions, trusted: &TrustedProxies, app: &App, every: Duration) {
    let mut version = store.data_version().ok();
    let mut last_full = std::time::Instant::now();
    loop {
        std::thread::sleep(every);
        let v = store.data_version().ok();
        // Entries expire without a commit; a reload now and then drops them from the
        // snapshot (decisions already ignore them).
        if v == version && last_full.elapsed() < Duration::from_secs(60) {
            continue;
        }
        version = v;
        last_full = std::time::Instant::now();
        match load(&mut store, opts, trusted) {
            Ok(s) => {
                let s = Arc::new(s);
                match app.snap.write() {
                    Ok(mut g) => *g = s,
                    Err(p) => *p.into_inner() = s,
                }
                app.counters.reloads.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                app.counters.reload_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("cannot reload the block list: {e:#}");
            }
        }
    }
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    match &app.token {
        None => true,
        Some(t) => headers.get("x-apitap-token").is_some_and(|v| constant_time_eq(v.as_bytes(), t.as_bytes())),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized(app: &App) -> Response {
    app.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], "{\"error\":\"missing or wrong X-Apitap-Token\"}").into_response()
}

fn bad_request(app: &App, msg: String) -> Response {
    app.counters.bad_requests.fetch_add(1, Ordering::Relaxed);
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], serde_json::json!({ "error": msg }).to_string()).into_response()
}

/// The sideband request body, PingIntelligence-style: `source_ip`, `method`, `url`, and
/// `headers` as a list of one-key objects (or `{name, value}` objects, or one map).
#[derive(Deserialize)]
struct Sideband {
    #[serde(alias = "source_ip", alias = "client_ip")]
    ip: Option<String>,
    method: Option<String>,
    #[serde(alias = "path", alias = "uri")]
    url: Option<String>,
    #[serde(default)]
    headers: Option<HeadersIn>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HeadersIn {
    Map(BTreeMap<String, String>),
    List(Vec<BTreeMap<String, String>>),
}

impl HeadersIn {
    fn pairs(&self) -> Vec<(&str, &str)> {
        match self {
            HeadersIn::Map(m) => m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            HeadersIn::List(l) => {
                let mut out = Vec::new();
                for m in l {
                    if let (Some(n), Some(v), 2) = (m.get("name"), m.get("value"), m.len()) {
                        out.push((n.as_str(), v.as_str()));
                    } else {
                        out.extend(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    }
                }
                out
            }
        }
    }
}

async fn decision(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized(&app);
    }
    let snap = app.snapshot();
    let parsed: Sideband;
    let owned_headers: Vec<(String, String)>;
    let req = if !body.is_empty() {
        parsed = match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => return bad_request(&app, format!("the body is not a decision request: {e}")),
        };
        let client_ip = match parsed.ip.as_deref().map(str::parse::<IpAddr>) {
            Some(Ok(ip)) => Some(ip),
            Some(Err(_)) => return bad_request(&app, "source_ip is not an address".into()),
            None => None,
        };
        DecisionRequest {
            client_ip,
            method: parsed.method.as_deref().unwrap_or(""),
            url: parsed.url.as_deref().unwrap_or(""),
            headers: parsed.headers.as_ref().map(HeadersIn::pairs).unwrap_or_default(),
        }
    } else {
        // auth_request style: the request's own headers are the original request's, with
        // what the proxy adds (X-Original-URI, X-Original-Method, X-Real-IP).
        owned_headers = headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect();
        let get = |n: &str| owned_headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let client_ip = match get("x-apitap-client-ip").or_else(|| get("x-real-ip")) {
            Some(s) => match s.trim().parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => return bad_request(&app, "X-Apitap-Client-Ip / X-Real-IP is not an address".into()),
            },
            None => Some(peer.ip()),
        };
        DecisionRequest {
            client_ip,
            method: get("x-original-method").unwrap_or(method.as_str()),
            url: get("x-original-uri").unwrap_or(uri.path()),
            headers: owned_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        }
    };
    let now = wall_now();
    let d = snap.matcher.decide(&req, now);
    let c = &app.counters;
    let mut resp = match d.entry {
        Some(e) => {
            let body = serde_json::json!({
                "decision": if d.block { "block" } else { "allow" },
                "dry_run": d.dry_run,
                "kind": e.key.kind.name(),
                "value": e.key.value,
                "attack": e.attack,
                "severity": e.severity.name(),
                "alert_ids": e.alert_ids,
                "expires": sensor::time::rfc3339_millis(e.expires),
            })
            .to_string();
            let status = if d.block { StatusCode::FORBIDDEN } else { StatusCode::OK };
            if d.block {
                c.block.fetch_add(1, Ordering::Relaxed);
            } else {
                c.would_block.fetch_add(1, Ordering::Relaxed);
            }
            let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
            r.headers_mut().insert("x-apitap-decision", HeaderValue::from_static(if d.block { "block" } else { "would-block" }));
            if let Ok(v) = HeaderValue::from_str(&e.attack) {
                r.headers_mut().insert("x-apitap-reason", v);
            }
            r
        }
        None => {
            if d.allowlisted {
                c.allowlisted.fetch_add(1, Ordering::Relaxed);
            } else {
                c.allow.fetch_add(1, Ordering::Relaxed);
            }
            let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{\"decision\":\"allow\"}").into_response();
            r.headers_mut().insert("x-apitap-decision", HeaderValue::from_static("allow"));
            r
        }
    };
    // For nginx's credential map (auth_request_set): the key this request's credential
    // would be blocked by, when it has one.
    if let Some(k) = &d.credential {
        if let Ok(v) = HeaderValue::from_str(&k.to_string()) {
            resp.headers_mut().insert("x-apitap-credential", v);
        }
    }
    resp
}

#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
    name: Option<String>,
}

async fn blocklist(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<ExportQuery>) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized(&app);
    }
    let name = q.format.as_deref().unwrap_or("plain");
    let Some(format) = exports::Format::from_name(name) else {
        let all: Vec<&str> = exports::Format::ALL.iter().map(|f| f.name()).collect();
        return bad_request(&app, format!("format '{name}' is not one of {}", all.join(", ")));
    };
    let snap = app.snapshot();
    let entries: Vec<&BlockEntry> = snap.matcher.entries().iter().collect();
    let o = ExportOptions { now: wall_now(), dry_run: app.dry_run, name: q.name.unwrap_or_else(|| "apitap".into()), ..ExportOptions::default() };
    match exports::export(format, &entries, &o) {
        Ok(text) => ([(header::CONTENT_TYPE, format.content_type())], text).into_response(),
        Err(e) => bad_request(&app, e.to_string()),
    }
}

#[derive(Deserialize)]
struct AlertsQuery {
    attack: Option<String>,
    /// Unix seconds: alerts whose last activity is at or after it.
    since: Option<f64>,
    limit: Option<usize>,
}

async fn alerts(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<AlertsQuery>) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized(&app);
    }
    let snap = app.snapshot();
    let mut sel: Vec<&Alert> =
        snap.alerts.iter().filter(|a| q.attack.as_deref().is_none_or(|c| a.attack.name() == c)).filter(|a| q.since.is_none_or(|t| a.last_seen >= t)).collect();
    if let Some(n) = q.limit {
        let skip = sel.len().saturating_sub(n);
        sel.drain(..skip);
    }
    ([(header::CONTENT_TYPE, "application/json")], serde_json::to_string(&sel).unwrap_or_else(|_| "[]".into())).into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let snap = app.snapshot();
    let body = serde_json::json!({
        "status": "ok",
        "blocklist_entries": snap.matcher.len(),
        "alerts": snap.alerts.len(),
        "dry_run": app.dry_run,
        "state_age_seconds": (wall_now() - snap.loaded_at).max(0.0).round(),
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Label values escaped as the exposition format asks (`\`, `"` and newlines).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized(&app);
    }
    let snap = app.snapshot();
    let m = SensorMetrics::read(&app.dir);
    let mut o = String::new();
    if let Some(m) = &m {
        family(&mut o, "apitap_sensor_running", "gauge", "Whether a capture is writing this directory.");
        let _ = writeln!(o, "apitap_sensor_running {}", u8::from(m.running));
        family(&mut o, "apitap_sensor_metrics_age_seconds", "gauge", "Seconds since the sensor last wrote its counters.");
        let _ = writeln!(o, "apitap_sensor_metrics_age_seconds {:.0}", (wall_now() - m.updated).max(0.0));
        for (name, help, v) in [
            ("apitap_packets_total", "Packets read.", m.packets),
            ("apitap_flows_total", "TCP flows.", m.flows),
            ("apitap_http_flows_total", "TCP flows that carried HTTP.", m.http_flows),
            ("apitap_transactions_total", "API call records written.", m.transactions),
            ("apitap_records_not_analysed_total", "Records the analysis could not take in time.", m.not_analysed),
            ("apitap_records_out_of_order_total", "Records written ahead of older ones a flow worker still held.", m.out_of_order),
        ] {
            family(&mut o, name, "counter", help);
            let _ = writeln!(o, "{name} {v}");
        }
        family(&mut o, "apitap_packets_dropped_total", "counter", "Packets or segments dropped, by where.");
        for (reason, v) in [("kernel", m.kernel_drops), ("interface", m.interface_drops), ("queue", m.queue_drops)] {
            let _ = writeln!(o, "apitap_packets_dropped_total{{reason=\"{reason}\"}} {v}");
        }
        family(&mut o, "apitap_anomalies_total", "counter", "Records carrying each protocol anomaly.");
        for (name, v) in &m.anomalies {
            let _ = writeln!(o, "apitap_anomalies_total{{name=\"{}\"}} {v}", label(name));
        }
    }
    let mut by: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for a in &snap.alerts {
        *by.entry((a.attack.name(), a.severity.name())).or_default() += 1;
    }
    family(&mut o, "apitap_alerts_total", "counter", "Alerts raised, by attack class and severity.");
    for ((attack, sev), n) in &by {
        let _ = writeln!(o, "apitap_alerts_total{{attack=\"{attack}\",severity=\"{sev}\"}} {n}");
    }
    let mut kinds: HashMap<BlockKind, u64> = HashMap::new();
    for e in snap.matcher.entries() {
        *kinds.entry(e.key.kind).or_default() += 1;
    }
    family(&mut o, "apitap_blocklist_entries", "gauge", "Active block-list entries, by kind.");
    for k in BlockKind::ALL {
        let _ = writeln!(o, "apitap_blocklist_entries{{kind=\"{}\"}} {}", k.name(), kinds.get(&k).copied().unwrap_or(0));
    }
    let c = &app.counters;
    family(&mut o, "apitap_decisions_total", "counter", "Decisions answered, by result.");
    for (result, v) in [("allow", &c.allow), ("block", &c.block), ("would_block", &c.would_block), ("allowlisted", &c.allowlisted)] {
        let _ = writeln!(o, "apitap_decisions_total{{result=\"{result}\"}} {}", v.load(Ordering::Relaxed));
    }
    family(&mut o, "apitap_requests_rejected_total", "counter", "Requests to the service refused, by reason.");
    let _ = writeln!(o, "apitap_requests_rejected_total{{reason=\"bad_request\"}} {}", c.bad_requests.load(Ordering::Relaxed));
    let _ = writeln!(o, "apitap_requests_rejected_total{{reason=\"unauthorized\"}} {}", c.unauthorized.load(Ordering::Relaxed));
    family(&mut o, "apitap_state_reloads_total", "counter", "Reloads of the block list and alerts, by outcome.");
    let _ = writeln!(o, "apitap_state_reloads_total{{outcome=\"ok\"}} {}", c.reloads.load(Ordering::Relaxed));
    let _ = writeln!(o, "apitap_state_reloads_total{{outcome=\"error\"}} {}", c.reload_errors.load(Ordering::Relaxed));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], o).into_response()
}

/// The directory a service reads, checked before anything starts.
pub fn check_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory (give the --out DIR of a replay, capture or analyze)", dir.display());
    }
    Ok(())
}
