//! The features as polars group-bys over a frame of the window's rows: the straightforward
//! definition, kept to hold the incremental computation in [`super::Rows::step`] to it.

use super::{Digest, EndpointWindow, Row, Sym, ENDPOINT_FEATURES, FEATURES, NF};

/// One identity's features in one window, keyed by its text.
pub struct KeyedWindow {
    pub key: String,
    pub values: [f64; NF],
}
use polars::prelude::*;

/// Which column an identity kind groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Ip,
    Credential,
    User,
}

/// Rows as a DataFrame.
pub fn frame_of<'a>(rows: impl Iterator<Item = &'a Row> + Clone) -> PolarsResult<DataFrame> {
    {
        let r = rows;
        let s = |name: &str, v: Vec<Option<&str>>| Column::new(name.into(), v);
        let d = |name: &str, v: Vec<Option<u64>>| Column::new(name.into(), v);
        let f = |name: &str, v: Vec<f64>| Column::new(name.into(), v);
        let b = |name: &str, v: Vec<bool>| Column::new(name.into(), v);
        DataFrame::new_infer_height(vec![
            f("ts", r.clone().map(|x| x.ts).collect()),
            s("ip", r.clone().map(|x| Some(x.ip.as_str())).collect()),
            s("credential", r.clone().map(|x| x.credential.as_ref().map(Sym::as_str)).collect()),
            s("user", r.clone().map(|x| x.user.as_ref().map(Sym::as_str)).collect()),
            s("agent", r.clone().map(|x| Some(x.agent.as_str())).collect()),
            s("endpoint", r.clone().map(|x| Some(x.endpoint.as_str())).collect()),
            d("object", r.clone().map(|x| x.object.map(Digest::get)).collect()),
            b("owned", r.clone().map(|x| x.owned).collect()),
            d("page", r.clone().map(|x| x.page.map(Digest::get)).collect()),
            Column::new("status".into(), r.clone().map(|x| u32::from(x.status)).collect::<Vec<u32>>()),
            b("login_failed", r.clone().map(|x| x.login_failed).collect()),
            d("login_user", r.clone().map(|x| x.login_user.map(Digest::get)).collect()),
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
pub fn identity_windows(df: &DataFrame, by: GroupBy, now: f64, window: f64, step: f64) -> PolarsResult<Vec<KeyedWindow>> {
    let key = column(by);
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
        res.push(KeyedWindow { key: k.to_string(), values });
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

fn column(by: GroupBy) -> &'static str {
    match by {
        GroupBy::Ip => "ip",
        GroupBy::Credential => "credential",
        GroupBy::User => "user",
    }
}
