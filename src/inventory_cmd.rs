//! `apitap inventory list|show|diff|export`: reading the inventory database.

use crate::cli::{DiffArgs, ExportArgs, Format, InventoryArgs, InventoryCommand, ListArgs, ShowArgs};
use crate::timefmt::rfc3339;
use analyzer::inventory::endpoint::Location;
use analyzer::inventory::flags;
use analyzer::store::{auth_summary, Store, StoredEndpoint};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: InventoryArgs) -> Result<ExitCode> {
    if !args.db.exists() {
        bail!(
            "no inventory database at {} (replay, capture and analyze write DIR/inventory.db; pass --db or set APITAP_DB)",
            args.db.display()
        );
    }
    let mut store = Store::open(&args.db)?;
    let endpoints = store.endpoints()?;
    match args.command {
        InventoryCommand::List(a) => list(&endpoints, &a),
        InventoryCommand::Show(a) => show(&endpoints, &a),
        InventoryCommand::Diff(a) => diff(&endpoints, &a),
        InventoryCommand::Export(a) => export(&endpoints, &a),
    }
}

fn sensitive_kinds(e: &StoredEndpoint) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = e.stats.sensitive.keys().map(|(_, _, k)| k.name()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn auth_list(e: &StoredEndpoint) -> Vec<String> {
    auth_summary(&e.stats).split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn summary_json(e: &StoredEndpoint) -> Value {
    let s = &e.stats;
    json!({
        "host": e.host,
        "method": e.method,
        "path": e.path,
        "calls": s.calls,
        "bodies_analyzed": s.bodies,
        "first_seen": rfc3339(s.first_seen),
        "last_seen": rfc3339(s.last_seen),
        "auth": auth_list(e),
        "sensitive": sensitive_kinds(e),
        "flags": e.flags,
        "confidence": (e.confidence * 1000.0).round() / 1000.0,
        "clients": s.clients.estimate(),
        "status": s.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "latency_ms": {"p50": s.latency_ms.quantile(0.5), "p95": s.latency_ms.quantile(0.95)},
    })
}

fn selected<'a>(eps: &'a [StoredEndpoint], a: &ListArgs) -> Result<Vec<&'a StoredEndpoint>> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let since = match &a.since {
        Some(s) => Some(crate::timefmt::parse_since(s, now).map_err(anyhow::Error::msg).context("--since")?),
        None => None,
    };
    Ok(eps
        .iter()
        .filter(|e| a.host.as_deref().is_none_or(|h| e.host.eq_ignore_ascii_case(h)))
        .filter(|e| !a.sensitive || !e.stats.sensitive.is_empty())
        .filter(|e| since.is_none_or(|t| e.stats.last_seen >= t))
        .filter(|e| a.all || !e.flags.iter().any(|f| f == flags::NOT_FOUND_ONLY))
        .collect())
}

fn list(eps: &[StoredEndpoint], a: &ListArgs) -> Result<ExitCode> {
    let rows = selected(eps, a)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            let v: Vec<Value> = rows.iter().map(|e| summary_json(e)).collect();
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        Format::Csv => {
            writeln!(out, "host,method,path,calls,first_seen,last_seen,auth,sensitive,flags,confidence")?;
            for e in rows {
                let fields = [
                    e.host.clone(),
                    e.method.clone(),
                    e.path.clone(),
                    e.stats.calls.to_string(),
                    rfc3339(e.stats.first_seen),
                    rfc3339(e.stats.last_seen),
                    auth_list(e).join(" "),
                    sensitive_kinds(e).join(" "),
                    e.flags.join(" "),
                    format!("{:.3}", e.confidence),
                ];
                writeln!(out, "{}", fields.iter().map(|f| csv(f)).collect::<Vec<_>>().join(","))?;
            }
        }
        Format::Table => {
            let table: Vec<[String; 7]> = rows
                .iter()
                .map(|e| {
                    [
                        e.host.clone(),
                        e.method.clone(),
                        e.path.clone(),
                        crate::summary::thousands(e.stats.calls),
                        auth_list(e).join(","),
                        sensitive_kinds(e).join(","),
                        e.flags.iter().filter(|f| *f != flags::SENSITIVE_DATA).cloned().collect::<Vec<_>>().join(","),
                    ]
                })
                .collect();
            let head = ["HOST", "METHOD", "PATH", "CALLS", "AUTH", "SENSITIVE", "FLAGS"];
            let mut w = head.map(str::len);
            for r in &table {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            let line = |cells: [&str; 7]| {
                let mut s = String::new();
                for (i, c) in cells.iter().enumerate() {
                    if i == 3 {
                        s += &format!("{c:>width$}  ", width = w[i]);
                    } else {
                        s += &format!("{c:<width$}  ", width = w[i]);
                    }
                }
                s.trim_end().to_string()
            };
            writeln!(out, "{}", line(head))?;
            for r in &table {
                writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]].map(String::as_str)))?;
            }
            if table.is_empty() {
                writeln!(out, "(no endpoints match)")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV field, quoted when it must be (RFC 4180).
pub(crate) fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The endpoints `spec` (`METHOD /path`) names: by template, else by a concrete path that
/// the template matches.
fn find<'a>(eps: &'a [StoredEndpoint], spec: &str, host: Option<&str>) -> Result<Vec<&'a StoredEndpoint>> {
    let (method, path) = spec.trim().split_once(char::is_whitespace).map(|(m, p)| (m.trim(), p.trim())).context(
        "name the endpoint as METHOD PATH, e.g. 'GET /users/{id}'",
    )?;
    let on_host = |e: &&StoredEndpoint| host.is_none_or(|h| e.host.eq_ignore_ascii_case(h)) && e.method.eq_ignore_ascii_case(method);
    let exact: Vec<_> = eps.iter().filter(on_host).filter(|e| e.path == path).collect();
    if !exact.is_empty() {
        return Ok(exact);
    }
    let want = analyzer::inventory::path::normalize(path).segments;
    Ok(eps.iter().filter(on_host).filter(|e| analyzer::export::openapi::template_matches(&e.path, &want)).collect())
}

fn show(eps: &[StoredEndpoint], a: &ShowArgs) -> Result<ExitCode> {
    let found = find(eps, &a.endpoint, a.host.as_deref())?;
    if found.is_empty() {
        bail!("no endpoint {} in the inventory (apitap inventory list shows them)", a.endpoint.trim());
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        let v: Vec<Value> = found.iter().map(|e| detail_json(e)).collect();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for e in found {
        let s = &e.stats;
        writeln!(out, "{} {}  (host {})", e.method, e.path, e.host)?;
        writeln!(out, "  calls        {}  from {} clients, {} credentials", crate::summary::thousands(s.calls), s.clients.estimate(), s.credentials.estimate())?;
        if s.bodies < s.calls {
            writeln!(out, "  bodies       {} analysed (fields and sensitive data are counted in these)", crate::summary::thousands(s.bodies))?;
        }
        writeln!(out, "  seen         {} .. {}", rfc3339(s.first_seen), rfc3339(s.last_seen))?;
        writeln!(out, "  confidence   {:.2}", e.confidence)?;
        let st: Vec<String> = s.statuses.iter().map(|(k, v)| if *k == 0 { format!("none {v}") } else { format!("{k} {v}") }).collect();
        writeln!(out, "  statuses     {}", st.join(", "))?;
        let q = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.1}"));
        writeln!(out, "  latency ms   p50 {}  p95 {}", q(s.latency_ms.quantile(0.5)), q(s.latency_ms.quantile(0.95)))?;
        writeln!(out, "  request B    p50 {}  p95 {}", q(s.request_bytes.quantile(0.5)), q(s.request_bytes.quantile(0.95)))?;
        writeln!(out, "  response B   p50 {}  p95 {}", q(s.response_bytes.quantile(0.5)), q(s.response_bytes.quantile(0.95)))?;
        let auth: Vec<String> = s.auth.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "  auth         {}", auth.join(", "))?;
        if s.jwt.seen > 0 {
            let names = |m: &std::collections::BTreeMap<String, u64>| m.keys().cloned().collect::<Vec<_>>().join(", ");
            writeln!(out, "  jwt          alg {}; issuers {}; claims {}", names(&s.jwt.algs), names(&s.jwt.issuers), names(&s.jwt.claims))?;
            if let Some(l) = s.jwt.max_lifetime_secs {
                writeln!(out, "               longest lifetime {}h", l / 3600)?;
            }
        }
        let cts: Vec<String> = s.content_types.iter().map(|((d, t), n)| format!("{d} {t} {n}")).collect();
        if !cts.is_empty() {
            writeln!(out, "  content      {}", cts.join(", "))?;
        }
        if !e.flags.is_empty() {
            writeln!(out, "  flags        {}", e.flags.join(", "))?;
        }
        if !s.params.is_empty() {
            writeln!(out, "  parameters")?;
            for loc in Location::ALL {
                for ((l, name), p) in s.params.iter().filter(|((l, _), _)| *l == loc) {
                    // Body fields are out of the calls whose bodies were analysed.
                    let of = if loc.from_body() { s.bodies } else { s.calls };
                    let pct = if of > 0 { 100.0 * p.present as f64 / of as f64 } else { 0.0 };
                    let mut desc = p.type_names();
                    let f = p.format_names();
                    if !f.is_empty() {
                        desc += &format!(" ({f})");
                    }
                    if let (Some(lo), Some(hi)) = (p.num_min, p.num_max) {
                        desc += &format!(" {lo}..{hi}");
                    }
                    if let (Some(lo), Some(hi)) = (p.len_min, p.len_max) {
                        desc += &format!(" len {lo}..{hi}");
                    }
                    if let Some(x) = &p.example {
                        desc += &format!(" e.g. {x}");
                    }
                    writeln!(out, "    {:<9}{name}  {desc}  in {pct:.0}%", l.name())?;
                }
            }
        }
        if !s.sensitive.is_empty() {
            writeln!(out, "  sensitive data")?;
            for ((l, field, kind), n) in &s.sensitive {
                writeln!(out, "    {:<9}{field}  {} x{n}", l.name(), kind.name())?;
            }
        }
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn detail_json(e: &StoredEndpoint) -> Value {
    let s = &e.stats;
    let mut v = summary_json(e);
    let params: Vec<Value> = s
        .params
        .iter()
        .map(|((l, name), p)| {
            json!({
                "location": l.name(), "name": name, "present": p.present, "types": p.type_names(),
                "formats": p.format_names(), "min": p.num_min, "max": p.num_max, "min_length": p.len_min,
                "max_length": p.len_max, "example": p.example,
            })
        })
        .collect();
    let sensitive: Vec<Value> = s
        .sensitive
        .iter()
        .map(|((l, f, k), n)| json!({"location": l.name(), "field": f, "kind": k.name(), "count": n}))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("credentials".into(), json!(s.credentials.estimate()));
        o.insert("request_bytes".into(), json!({"p50": s.request_bytes.quantile(0.5), "p95": s.request_bytes.quantile(0.95)}));
        o.insert("response_bytes".into(), json!({"p50": s.response_bytes.quantile(0.5), "p95": s.response_bytes.quantile(0.95)}));
        o.insert("auth_calls".into(), json!(s.auth));
        o.insert(
            "jwt".into(),
            json!({"seen": s.jwt.seen, "algs": s.jwt.algs, "issuers": s.jwt.issuers, "claims": s.jwt.claims,
                   "alg_none": s.jwt.alg_none, "no_exp": s.jwt.no_exp, "long_lived": s.jwt.long_lived,
                   "max_lifetime_secs": s.jwt.max_lifetime_secs}),
        );
        o.insert(
            "content_types".into(),
            json!(s.content_types.iter().map(|((d, t), n)| json!({"direction": d, "content_type": t, "count": n})).collect::<Vec<_>>()),
        );
        o.insert("parameters".into(), json!(params));
        o.insert("sensitive_fields".into(), json!(sensitive));
    }
    v
}

fn diff(eps: &[StoredEndpoint], a: &DiffArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.spec).with_context(|| format!("cannot read {}", a.spec.display()))?;
    let spec = analyzer::export::openapi::parse_spec(&text).with_context(|| format!("{} is not an OpenAPI description", a.spec.display()))?;
    let eps: Vec<&StoredEndpoint> = eps
        .iter()
        .filter(|e| a.host.as_deref().is_none_or(|h| e.host.eq_ignore_ascii_case(h)))
        .filter(|e| !e.flags.iter().any(|f| f == flags::NOT_FOUND_ONLY))
        .collect();
    let d = analyzer::export::openapi::diff(&spec, &eps);
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &d.to_json())?;
        writeln!(out)?;
    } else {
        write!(out, "{}", d.render())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn export(eps: &[StoredEndpoint], a: &ExportArgs) -> Result<ExitCode> {
    let eps: Vec<&StoredEndpoint> = eps
        .iter()
        .filter(|e| a.host.as_deref().is_none_or(|h| e.host.eq_ignore_ascii_case(h)))
        .filter(|e| a.all || !e.flags.iter().any(|f| f == flags::NOT_FOUND_ONLY))
        .collect();
    let doc = analyzer::export::openapi::document(&eps);
    let json_out = a.openapi.extension().is_some_and(|e| e == "json");
    let text = if json_out {
        serde_json::to_string_pretty(&doc)? + "\n"
    } else {
        analyzer::export::openapi::to_yaml(&doc)?
    };
    if a.openapi.as_os_str() == "-" {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    } else {
        std::fs::write(&a.openapi, text).with_context(|| format!("cannot write {}", a.openapi.display()))?;
        eprintln!("apitap: wrote OpenAPI 3.1 for {} endpoints to {}", eps.len(), a.openapi.display());
    }
    Ok(ExitCode::SUCCESS)
}
