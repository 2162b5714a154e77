//! `apitap alerts` (list DIR/alerts.jsonl) and `apitap eval` (score it against labels).

use crate::cli::{AlertsArgs, EvalArgs, Format};
use analyzer::detect::alerts::Alert;
use analyzer::detect::eval::{evaluate, Labels};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Reads DIR/alerts.jsonl. Lines that do not parse are skipped with a warning.
fn read_alerts(dir: &Path) -> Result<Vec<Alert>> {
    let path = dir.join("alerts.jsonl");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (replay, capture or analyze write it unless --no-detect)", path.display()))?;
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Alert>(line) {
            Ok(a) => out.push(a),
            Err(_) => bad += 1,
        }
    }
    if bad > 0 {
        eprintln!("apitap: warning: {bad} lines of {} are not alerts and were skipped", path.display());
    }
    Ok(out)
}

pub fn alerts(args: AlertsArgs) -> Result<ExitCode> {
    let mut list = read_alerts(&args.out)?;
    if let Some(a) = &args.attack {
        if analyzer::detect::alerts::Attack::from_name(a).is_none() {
            anyhow::bail!("unknown attack class '{a}'");
        }
        list.retain(|x| x.attack.name() == a);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        Format::Csv => {
            writeln!(out, "id,attack,severity,score,first_seen,last_seen,detected_at,identity_kind,identity,src_ips,endpoints,summary")?;
            for a in &list {
                let f = crate::inventory_cmd::csv;
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{}",
                    a.id,
                    a.attack.name(),
                    a.severity.name(),
                    a.score,
                    a.first_seen,
                    a.last_seen,
                    a.detected_at,
                    a.identity.kind,
                    f(&a.identity.value),
                    f(&a.src_ips.join(" ")),
                    f(&a.endpoints.join(" ")),
                    f(&a.summary)
                )?;
            }
        }
        Format::Table => {
            writeln!(
                out,
                "{:<8} {:<24} {:<8} {:>5}  {:<20} {:<18} SUMMARY",
                "ID", "ATTACK", "SEVERITY", "SCORE", "FIRST SEEN (UTC)", "SOURCE"
            )?;
            for a in &list {
                let src = match a.src_ips.len() {
                    0 => "-".to_string(),
                    1 => a.src_ips[0].clone(),
                    n => format!("{} +{}", a.src_ips[0], n - 1),
                };
                writeln!(
                    out,
                    "{:<8} {:<24} {:<8} {:>5.2}  {:<20} {:<18} {}",
                    a.id,
                    a.attack.name(),
                    a.severity.name(),
                    a.score,
                    crate::timefmt::rfc3339(a.first_seen),
                    src,
                    a.summary
                )?;
            }
            if list.is_empty() {
                writeln!(out, "(no alerts)")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.labels).with_context(|| format!("cannot read labels {}", args.labels.display()))?;
    let labels: Labels = serde_json::from_str(&text).with_context(|| format!("{} is not a labels file", args.labels.display()))?;
    let alerts = read_alerts(&args.out)?;
    let r = evaluate(&alerts, &labels);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let pct = |v: f64| format!("{:.1}%", v * 100.0);
    writeln!(
        out,
        "{:<24} {:>6} {:>12} {:>8} {:>7} {:>10} {:>10}",
        "ATTACK", "LABELS", "DETECTED", "RECALL", "ALERTS", "PRECISION", "DELAY (s)"
    )?;
    for c in &r.classes {
        writeln!(
            out,
            "{:<24} {:>6} {:>12} {:>8} {:>7} {:>10} {:>10}",
            c.attack,
            c.labels,
            format!("{}/{}", c.pairs_detected, c.pairs),
            if c.pairs > 0 { pct(c.recall) } else { "-".into() },
            c.alerts,
            c.precision.map_or("-".into(), pct),
            c.median_delay.map_or("-".into(), |d| format!("{d:.0}")),
        )?;
    }
    writeln!(out)?;
    writeln!(out, "recall (source addresses detected)  {}", pct(r.recall))?;
    writeln!(out, "precision (alerts matching a label) {}", pct(r.precision))?;
    writeln!(
        out,
        "benign clients alerted              {} of {} ({})",
        r.benign_clients_alerted,
        r.benign_clients,
        pct(r.benign_alerted_share)
    )?;
    writeln!(out, "median detection delay              {}", r.median_delay.map_or("-".into(), |d| format!("{d:.0} s of packet time")))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
