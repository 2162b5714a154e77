//! `apitap blocklist`: export the active block list in an enforcer's format, list it, and add
//! or remove entries by hand. Entries live in DIR/inventory.db; a running capture or
//! `apitap serve` picks changes up from there.

use crate::cli::{BlocklistArgs, BlocklistCommand, Format};
use crate::config::Resolved;
use crate::metrics::wall_now;
use analyzer::detect::alerts::Severity;
use analyzer::enforce::blocklist::{BlockKey, BlockList};
use analyzer::enforce::decision;
use analyzer::export::blocklist::{self as exports, ExportOptions};
use analyzer::store::Store;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn open(dir: &Path, create: bool) -> Result<Store> {
    let db = dir.join("inventory.db");
    if !create && !db.exists() {
        bail!("{} does not exist (replay, capture or analyze create it)", db.display());
    }
    Store::open(&db).with_context(|| format!("cannot open {}", db.display()))
}

fn severity(s: &str) -> Result<Severity> {
    Severity::from_name(s).with_context(|| format!("'{s}' is not a severity (low, medium, high, critical)"))
}

/// The key of the credential in a `Name: value` header, hashed with DIR's key.
fn credential_key(dir: &Path, header: &str) -> Result<BlockKey> {
    let (name, value) = header.split_once(':').with_context(|| format!("--credential '{header}' is not 'Name: value'"))?;
    let hasher = sensor::hash::CredentialHasher::new(crate::output::hash_key(None, dir)?);
    decision::request_credential(&[(name.trim(), value.trim())], "", &hasher)
        .as_ref()
        .and_then(decision::credential_key)
        .with_context(|| format!("'{}' carries no credential apitap recognises (Authorization, an API-key header, or a session cookie)", name.trim()))
}

/// Loads DIR's block list under the configured policy, applies `change`, and saves what it
/// changed (so does a tightened policy's cleanup).
fn edit(dir: &Path, create: bool, cfg: &Resolved, change: impl FnOnce(&mut BlockList) -> Result<()>) -> Result<()> {
    let mut store = open(dir, create)?;
    let mut list = BlockList::new(cfg.policy.clone());
    list.restore(store.load_blocklist()?);
    change(&mut list)?;
    let (changed, removed) = list.take_changes();
    store.save_blocklist(&changed, &removed)?;
    Ok(())
}

pub fn run(args: BlocklistArgs, cfg: &Resolved) -> Result<ExitCode> {
    match args.command {
        BlocklistCommand::Export { out, format, file, name, aws_scope } => {
            let Some(f) = exports::Format::from_name(&format) else {
                let all: Vec<&str> = exports::Format::ALL.iter().map(|f| f.name()).collect();
                bail!("--format '{format}' is not one of {}", all.join(", "));
            };
            if aws_scope != "REGIONAL" && aws_scope != "CLOUDFRONT" {
                bail!("--aws-scope is REGIONAL or CLOUDFRONT");
            }
            let mut store = open(&out, false)?;
            let entries = store.load_blocklist()?;
            let refs: Vec<_> = entries.iter().collect();
            let o = ExportOptions { now: wall_now(), dry_run: cfg.policy.dry_run, name, aws_scope };
            let text = exports::export(f, &refs, &o)?;
            match file {
                Some(p) => {
                    // Engines reload files by watching them: never show one half-written.
                    let tmp = p.with_extension("apitap-tmp");
                    std::fs::write(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
                    std::fs::rename(&tmp, &p).with_context(|| format!("cannot write {}", p.display()))?;
                }
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        BlocklistCommand::List { out, all, format } => {
            let mut store = open(&out, false)?;
            let now = wall_now();
            let mut entries = store.load_blocklist()?;
            if !all {
                entries.retain(|e| e.active(now));
            }
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            match format {
                Format::Json => {
                    serde_json::to_writer_pretty(&mut w, &entries)?;
                    writeln!(w)?;
                }
                Format::Csv => {
                    writeln!(w, "kind,value,attack,severity,origin,created,updated,expires,alert_ids,reason")?;
                    for e in &entries {
                        let f = crate::inventory_cmd::csv;
                        writeln!(
                            w,
                            "{},{},{},{},{},{},{},{},{},{}",
                            e.key.kind.name(),
                            f(&e.key.value),
                            e.attack,
                            e.severity.name(),
                            e.origin.name(),
                            e.created,
                            e.updated,
                            e.expires,
                            f(&e.alert_ids.join(" ")),
                            f(&e.reason)
                        )?;
                    }
                }
                Format::Table => {
                    writeln!(w, "{:<8} {:<40} {:<22} {:<8} {:<20} {:<8} ALERTS", "KIND", "VALUE", "ATTACK", "SEVERITY", "EXPIRES (UTC)", "ORIGIN")?;
                    for e in &entries {
                        writeln!(
                            w,
                            "{:<8} {:<40} {:<22} {:<8} {:<20} {:<8} {}",
                            e.key.kind.name(),
                            e.key.value,
                            e.attack,
                            e.severity.name(),
                            crate::timefmt::rfc3339(e.expires),
                            e.origin.name(),
                            e.alert_ids.join(" ")
                        )?;
                    }
                    if cfg.policy.dry_run {
                        writeln!(w, "(dry run: these entries are computed but not enforced)")?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BlocklistCommand::Add { out, key, credential, ttl, severity: sev, note } => {
            let key = match (key, credential) {
                (Some(k), _) => BlockKey::parse(&k)?,
                (None, Some(h)) => credential_key(&out, &h)?,
                (None, None) => bail!("give a KEY or --credential"),
            };
            let sev = severity(&sev)?;
            let ttl = match ttl {
                Some(t) => t.as_secs_f64(),
                None => cfg.policy.ttl_of(sev).with_context(|| format!("the configuration gives {} no TTL: pass --ttl", sev.name()))?,
            };
            edit(&out, true, cfg, |list| Ok(list.add_manual(key.clone(), sev, ttl, &note, wall_now())?))?;
            println!("blocked {key} for {}s", ttl as u64);
            Ok(ExitCode::SUCCESS)
        }
        BlocklistCommand::Remove { out, key } => {
            let key = BlockKey::parse(&key)?;
            edit(&out, false, cfg, |list| if list.remove(&key) { Ok(()) } else { bail!("{key} is not in the block list") })?;
            println!("removed {key}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
