//! Features over sliding windows of packet time, computed with polars.
//!
//! Every call becomes a [`Row`] (its event plus what the state knew when it arrived: size
//! ratios against the endpoint's norm, whether its object belongs to one owner, the
//! surprisal of its transition). At each step the rows of the longest window go into a
//! DataFrame, and one lazy group-by per identity kind and window length gives each active
//! identity's feature vector; one more per window gives each endpoint's.
//!
//! Bounded: [`MAX_ROWS`] rows are kept (oldest dropped first, counted); a step only
//! reports identities that made a call within it.

use super::baseline::Scale;
use polars::prelude::*;
use std::collections::VecDeque;

pub const MAX_ROWS: usize = 400_000;

/// One identity feature: its column name, how its scale is floored, and what it means.
pub struct FeatureDef {
    pub name: &'static str,
    pub scale: Scale,
    pub what: &'static str,
}

macro_rules! features {
    ($($id:ident = $name:literal, $scale:ident, $what:literal;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum F { $($id),* }
        pub const FEATURES: &[FeatureDef] = &[$(FeatureDef { name: $name, scale: Scale::$scale, what: $what }),*];
    };
}

features! {
    Calls = "calls", Count, "calls";
    Endpoints = "endpoints", Count, "distinct endpoints";
    OwnedObjects = "owned_objects", Count, "distinct objects read on endpoints whose objects each belong to one user";
    SharedObjects = "shared_objects", Count, "distinct objects read on endpoints whose objects many users share";
    Pages = "pages", Count, "distinct query strings (pages, filters)";
    AuthErrors = "auth_errors", Count, "401/403 answers";
    NotFound = "not_found", Count, "404 answers";
    ServerErrors = "server_errors", Count, "5xx answers";
    LoginFailures = "login_failures", Count, "failed logins";
    LoginUsers = "login_users", Count, "distinct user names tried at login";
    Ips = "ips", Count, "distinct client addresses";
    Agents = "agents", Count, "distinct user agents";
    NewOrigin = "new_origin", Count, "calls from an address and user agent never seen for this credential or user";
    RespBytes = "resp_bytes", Magnitude, "response bytes";
    RespRatio = "resp_ratio", Magnitude, "largest response against its endpoint's median";
    ArrayRatio = "array_ratio", Magnitude, "largest JSON array against its endpoint's median";
    Destructive = "destructive", Count, "DELETE, PUT and PATCH calls";
    ReqRatio = "req_ratio", Magnitude, "largest request body against its endpoint's median";
    ReqBytesMax = "req_bytes_max", Magnitude, "largest request body, bytes";
    LatencySum = "latency_sum", Magnitude, "server time consumed, ms";
    LatencyRatio = "latency_ratio", Magnitude, "slowest call against its endpoint's median latency";
    LatencyMean = "latency_mean", Magnitude, "mean server latency per call, ms";
    SqliHits = "sqli_hits", Count, "requests matching SQL injection signatures";
    CodeHits = "code_hits", Count, "requests matching code injection signatures (XSS, command, traversal, template, JNDI)";
    ScannerHits = "scanner_hits", Count, "requests with a vulnerability scanner's user agent";
    VulnPaths = "vuln_paths", Count, "requests for paths of known-vulnerable software or leaked files";
    UnknownEndpoints = "unknown_endpoints", Count, "calls to endpoints never seen before";
    Surprisal = "surprisal", Nats, "mean surprisal of the endpoint transitions (nats)";
    Incomplete = "incomplete", Count, "requests left incomplete or unanswered";
}

pub const NF: usize = FEATURES.len();

/// Endpoint features, judged against the endpoint's own history.
pub const ENDPOINT_FEATURES: &[FeatureDef] = &[
    FeatureDef { name: "calls", scale: Scale::Count, what: "calls" },
    FeatureDef { name: "clients", scale: Scale::Count, what: "distinct client addresses" },
    FeatureDef { name: "new_clients", scale: Scale::Count, what: "client addresses never seen on this endpoint" },
];

/// A call with the state's annotations.
#[derive(Clone, Debug)]
pub struct Row {
    pub ts: f64,
    pub uid: String,
    pub ip: String,
    pub credential: Option<String>,
    pub user: Option<String>,
    pub agent: String,
    /// Server, method and template: the grouping key.
    pub endpoint: String,
    /// `METHOD /template`, for people.
    pub endpoint_name: String,
    pub object: Option<String>,
    pub owned: bool,
    pub page: Option<String>,
    pub status: u16,
    pub login_failed: bool,
    pub login_user: Option<String>,
    pub new_origin: bool,
    pub resp_bytes: f64,
    pub resp_ratio: f64,
    pub array_ratio: f64,
    pub destructive: bool,
    pub req_ratio: f64,
    pub req_bytes: f64,
    pub latency: f64,
    pub latency_ratio: f64,
    pub sqli: bool,
    pub code: bool,
    pub scanner: bool,
    pub vuln_path: bool,
    pub unknown_endpoint: bool,
    pub surprisal: Option<f64>,
    pub incomplete: bool,
    pub new_client: bool,
}

/// Which column an identity kind groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Ip,
    Credential,
    User,
}

impl GroupBy {
    fn column(self) -> &'static str {
        match self {
            GroupBy::Ip => "ip",
            GroupBy::Credential => "credential",
            GroupBy::User => "user",
        }
    }
}

/// One identity's features in one window.
#[derive(Clone, Debug)]
pub struct IdentityWindow {
    pub key: String,
    pub values: [f64; NF],
}

/// One endpoint's features in one window.
#[derive(Clone, Debug)]
pub struct EndpointWindow {
    pub endpoint: String,
    pub values: [f64; 3],
}

/// The rows of the longest window, and their DataFrame, kept in step: each step appends
/// the new rows to the frame and slices the expired ones off its front, so a step costs
/// what arrived in it, not the whole window.
#[derive(Default)]
pub struct Rows {
    rows: VecDeque<Row>,
    pub dropped: u64,
    frame: Option<DataFrame>,
    /// Rows at the back of `rows` not yet in `frame`.
    pending: usize,
    /// Rows removed from the front of `rows` still in `frame`.
    removed: usize,
}

impl Rows {
    pub fn push(&mut self, r: Row) {
        if self.rows.len() >= MAX_ROWS {
            self.pop();
            self.dropped += 1;
        }
        self.rows.push_back(r);
        self.pending += 1;
    }

    fn pop(&mut self) {
        if self.rows.pop_front().is_some() {
            if self.rows.len() < self.pending {
                // The row was never in the frame.
                self.pending = self.rows.len();
            } else {
                self.removed += 1;
            }
        }
    }

    /// Forgets rows older than `horizon`.
    pub fn expire(&mut self, horizon: f64) {
        while self.rows.front().is_some_and(|r| r.ts < horizon) {
            self.pop();
        }
    }

    /// The frame of all rows kept, brought up to date.
    pub fn frame(&mut self) -> PolarsResult<DataFrame> {
        let new = frame_of(self.rows.range(self.rows.len() - self.pending..))?;
        let df = match self.frame.take() {
            Some(old) if self.removed < old.height() => {
                let mut kept = old.slice(self.removed as i64, old.height() - self.removed);
                kept.vstack_mut(&new)?;
                // Many small chunks make every later query slower.
                if kept.first_col_n_chunks() > 32 {
                    kept.rechunk_mut();
                }
                kept
            }
            _ => new,
        };
        self.pending = 0;
        self.removed = 0;
        self.frame = Some(df.clone());
        Ok(df)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> std::collections::vec_deque::Iter<'_, Row> {
        self.rows.iter()
    }

    pub fn iter_mut(&mut self) -> std::collections::vec_deque::IterMut<'_, Row> {
        self.rows.iter_mut()
    }
}

/// Rows as a DataFrame.
fn frame_of<'a>(rows: impl Iterator<Item = &'a Row> + Clone) -> PolarsResult<DataFrame> {
    {
        let r = rows;
        let s = |name: &str, v: Vec<Option<String>>| Column::new(name.into(), v);
        let f = |name: &str, v: Vec<f64>| Column::new(name.into(), v);
        let b = |name: &str, v: Vec<bool>| Column::new(name.into(), v);
        DataFrame::new_infer_height(vec![
            f("ts", r.clone().map(|x| x.ts).collect()),
            s("ip", r.clone().map(|x| Some(x.ip.clone())).collect()),
            s("credential", r.clone().map(|x| x.credential.clone()).collect()),
            s("user", r.clone().map(|x| x.user.clone()).collect()),
            s("agent", r.clone().map(|x| Some(x.agent.clone())).collect()),
            s("endpoint", r.clone().map(|x| Some(x.endpoint.clone())).collect()),
            s("object", r.clone().map(|x| x.object.clone()).collect()),
            b("owned", r.clone().map(|x| x.owned).collect()),
            s("page", r.clone().map(|x| x.page.clone()).collect()),
            Column::new("status".into(), r.clone().map(|x| u32::from(x.status)).collect::<Vec<u32>>()),
            b("login_failed", r.clone().map(|x| x.login_failed).collect()),
            s("login_user", r.clone().map(|x| x.login_user.clone()).collect()),
            b("new_origin", r.clone().map(|x| x.new_origin).collect()),
            f("resp_bytes", r.clone().map(|x| x.resp_bytes).collect()),
            f("resp_ratio", r.clone().map(|x| x.resp_ratio).collect()),
            f("array_ratio", r.clone().map(|x| x.array_ratio).collect()),
            b("destructive", r.clone().map(|x| x.destructive).collect()),
            f("req_ratio", r.clone().map(|x| x.req_ratio).collect()),
            f("req_bytes", r.clone().map(|x| x.req_bytes).collect()),
            f("latency", r.clone().map(|x| x.latency).collect()),
            f("latency_ratio", r.clone().map(|x| x.latency_ratio).collect()),
            b("sqli", r.clone().map(|x| x.sqli).collect()),
            b("code", r.clone().map(|x| x.code).collect()),
            b("scanner", r.clone().map(|x| x.scanner).collect()),
            b("vuln_path", r.clone().map(|x| x.vuln_path).collect()),
            b("unknown_endpoint", r.clone().map(|x| x.unknown_endpoint).collect()),
            Column::new("surprisal".into(), r.clone().map(|x| x.surprisal).collect::<Vec<Option<f64>>>()),
            b("incomplete", r.clone().map(|x| x.incomplete).collect()),
            b("new_client", r.clone().map(|x| x.new_client).collect()),
        ])
    }
}

fn count(e: Expr) -> Expr {
    e.cast(DataType::UInt32).sum().cast(DataType::Float64)
}

fn distinct(c: &str, when: Option<Expr>) -> Expr {
    let e = col(c);
    let e = match when {
        Some(w) => e.filter(w.and(col(c).is_not_null())),
        None => e.drop_nulls(),
    };
    e.n_unique().cast(DataType::Float64)
}

/// Each identity of kind `by` that called within `[now - step, now]`, with its features over
/// `[now - window, now]`.
pub fn identity_windows(df: &DataFrame, by: GroupBy, now: f64, window: f64, step: f64) -> PolarsResult<Vec<IdentityWindow>> {
    let key = by.column();
    let aggs: Vec<Expr> = FEATURES
        .iter()
        .map(|def| {
            let e = match def.name {
                "calls" => len().cast(DataType::Float64),
                "endpoints" => distinct("endpoint", None),
                "owned_objects" => distinct("object", Some(col("owned"))),
                "shared_objects" => distinct("object", Some(col("owned").not())),
                "pages" => distinct("page", None),
                "auth_errors" => count(col("status").eq(lit(401u32)).or(col("status").eq(lit(403u32)))),
                "not_found" => count(col("status").eq(lit(404u32))),
                "server_errors" => count(col("status").gt_eq(lit(500u32)).and(col("status").lt(lit(600u32)))),
                "login_failures" => count(col("login_failed")),
                "login_users" => distinct("login_user", None),
                "ips" => distinct("ip", None),
                "agents" => distinct("agent", None),
                "new_origin" => count(col("new_origin")),
                "resp_bytes" => col("resp_bytes").sum(),
                "resp_ratio" => col("resp_ratio").max(),
                "array_ratio" => col("array_ratio").max(),
                "destructive" => count(col("destructive")),
                "req_ratio" => col("req_ratio").max(),
                "req_bytes_max" => col("req_bytes").max(),
                "latency_sum" => col("latency").sum(),
                "latency_ratio" => col("latency_ratio").max(),
                "latency_mean" => col("latency").mean(),
                "sqli_hits" => count(col("sqli")),
                "code_hits" => count(col("code")),
                "scanner_hits" => count(col("scanner")),
                "vuln_paths" => count(col("vuln_path")),
                "unknown_endpoints" => count(col("unknown_endpoint")),
                "surprisal" => col("surprisal").mean(),
                "incomplete" => count(col("incomplete")),
                _ => lit(0.0),
            };
            e.alias(def.name)
        })
        .chain([col("ts").max().alias("__last")])
        .collect();
    let out = df
        .clone()
        .lazy()
        .filter(col("ts").gt(lit(now - window)).and(col("ts").lt_eq(lit(now))).and(col(key).is_not_null()))
        .group_by([col(key)])
        .agg(aggs)
        .filter(col("__last").gt(lit(now - step)))
        .collect()?;
    let keys = out.column(key)?.str()?.clone();
    let cols: Vec<Float64Chunked> =
        FEATURES.iter().map(|d| out.column(d.name).and_then(|c| c.f64().cloned())).collect::<PolarsResult<_>>()?;
    let mut res = Vec::with_capacity(out.height());
    for i in 0..out.height() {
        let Some(k) = keys.get(i) else { continue };
        let mut values = [0.0; NF];
        for (j, c) in cols.iter().enumerate() {
            values[j] = c.get(i).unwrap_or(0.0);
        }
        res.push(IdentityWindow { key: k.to_string(), values });
    }
    res.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(res)
}

/// Each endpoint called within `[now - step, now]`, with calls, clients and new clients over
/// the window.
pub fn endpoint_windows(df: &DataFrame, now: f64, window: f64, step: f64) -> PolarsResult<Vec<EndpointWindow>> {
    let out = df
        .clone()
        .lazy()
        .filter(col("ts").gt(lit(now - window)).and(col("ts").lt_eq(lit(now))))
        .group_by([col("endpoint")])
        .agg([
            len().cast(DataType::Float64).alias("calls"),
            distinct("ip", None).alias("clients"),
            distinct("ip", Some(col("new_client"))).alias("new_clients"),
            col("ts").max().alias("__last"),
        ])
        .filter(col("__last").gt(lit(now - step)))
        .collect()?;
    let keys = out.column("endpoint")?.str()?.clone();
    let cols: Vec<Float64Chunked> =
        ENDPOINT_FEATURES.iter().map(|d| out.column(d.name).and_then(|c| c.f64().cloned())).collect::<PolarsResult<_>>()?;
    let mut res = Vec::new();
    for i in 0..out.height() {
        let Some(k) = keys.get(i) else { continue };
        let mut values = [0.0; 3];
        for (j, c) in cols.iter().enumerate() {
            values[j] = c.get(i).unwrap_or(0.0);
        }
        res.push(EndpointWindow { endpoint: k.to_string(), values });
    }
    res.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: f64, ip: &str, ep: &str, status: u16) -> Row {
        Row {
            ts,
            uid: format!("C{ts}"),
            ip: ip.into(),
            credential: Some(format!("tok-{ip}")),
            user: None,
            agent: "ua".into(),
            endpoint: ep.into(),
            endpoint_name: ep.into(),
            object: Some(format!("{ep}#{ts}")),
            owned: true,
            page: None,
            status,
            login_failed: status == 401,
            login_user: Some(format!("u{}", ts as u64 % 3)),
            new_origin: false,
            resp_bytes: 100.0,
            resp_ratio: 1.0,
            array_ratio: 0.0,
            destructive: false,
            req_ratio: 0.0,
            req_bytes: 0.0,
            latency: 5.0,
            latency_ratio: 1.0,
            sqli: false,
            code: false,
            scanner: false,
            vuln_path: false,
            unknown_endpoint: false,
            surprisal: None,
            incomplete: false,
            new_client: ts > 50.0,
        }
    }

    #[test]
    fn windows_and_steps() {
        let mut rows = Rows::default();
        for i in 0..60 {
            rows.push(row(f64::from(i), "a", "GET /x/{id}", 200));
        }
        for i in 0..10 {
            rows.push(row(55.0 + f64::from(i) * 0.1, "b", "POST /login", 401));
        }
        let df = rows.frame().unwrap();
        // Incremental frames equal a frame built from scratch.
        rows.push(row(61.0, "c", "GET /y", 200));
        rows.expire(5.0);
        let inc = rows.frame().unwrap();
        assert_eq!(inc.height(), 66);
        assert!(inc.equals_missing(&frame_of(rows.iter()).unwrap()));
        let w = identity_windows(&df, GroupBy::Ip, 60.0, 30.0, 10.0).unwrap();
        assert_eq!(w.len(), 2);
        let a = &w[0];
        assert_eq!(a.key, "a");
        assert_eq!(a.values[F::Calls as usize], 29.0);
        assert_eq!(a.values[F::OwnedObjects as usize], 29.0);
        let b = &w[1];
        assert_eq!(b.values[F::LoginFailures as usize], 10.0);
        assert_eq!(b.values[F::AuthErrors as usize], 10.0);
        assert_eq!(b.values[F::LoginUsers as usize], 1.0);
        // Only identities active in the last step are reported.
        assert!(identity_windows(&df, GroupBy::Ip, 100.0, 300.0, 10.0).unwrap().is_empty());
        let e = endpoint_windows(&df, 60.0, 60.0, 10.0).unwrap();
        let x = e.iter().find(|e| e.endpoint == "GET /x/{id}").unwrap();
        assert_eq!(x.values, [59.0, 1.0, 1.0]);
    }
}
