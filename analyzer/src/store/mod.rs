//! The inventory database: SQLite through rusqlite, the only module that touches it.
//!
//! - Migrations are the SQL files in `migrations/`, applied in order and recorded in
//!   `PRAGMA user_version`; a database from a newer apitap is refused, not damaged.
//! - WAL journal, so `sqlite3` users can read while a capture writes.
//! - [`Store::save`] replaces the inventory in one transaction: templates are re-derived
//!   from all traffic each time, so an endpoint can be renamed (a literal that turned out
//!   to be a parameter) and readers never see a half-written state.
//! - [`Store::load`] reads every endpoint back with the sketches behind its statistics, so
//!   a later run merges into it rather than starting over.
//! - Rows whose contents do not parse (edited by hand, say) are skipped and counted, never
//!   a panic.

use crate::detect::alerts::Alert;
use crate::detect::model::Rule;
use crate::enforce::blocklist::{BlockEntry, BlockKey, BlockKind, Origin};
use crate::inventory::endpoint::{EndpointStats, JwtStats, Location};
use crate::inventory::sensitive::Sensitive;
use crate::inventory::sketch::{Distinct, Quantiles};
use crate::inventory::values::{format_bits, type_bits, ParamStats};
use crate::inventory::{Endpoint, Inventory};
use rusqlite::{params, Connection, OptionalExtension};

/// Serialising anything to a JSON string for a TEXT column.
mod erased {
    pub trait Ser {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The migrations, in order; the database's `user_version` is how many were applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_inventory", include_str!("migrations/001_inventory.sql")),
    ("002_detection", include_str!("migrations/002_detection.sql")),
    ("003_blocklist", include_str!("migrations/003_blocklist.sql")),
];

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open inventory database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("inventory database {path} has schema version {found}; this apitap knows up to {known}")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("inventory database {path}: migration {name} failed: {source}")]
    Migration { path: PathBuf, name: &'static str, source: rusqlite::Error },
    #[error("inventory database {path}: {source}")]
    Query { path: PathBuf, source: rusqlite::Error },
    #[error("inventory database {path}: cannot write the detector state: {source}")]
    State { path: PathBuf, source: std::io::Error },
}

/// Counts the bytes written through it, passing them on to `W`.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An endpoint as stored.
#[derive(Clone, Debug)]
pub struct StoredEndpoint {
    pub host: String,
    pub method: String,
    pub path: String,
    pub confidence: f64,
    pub flags: Vec<String>,
    pub stats: EndpointStats,
}

impl From<&Endpoint> for StoredEndpoint {
    fn from(e: &Endpoint) -> StoredEndpoint {
        StoredEndpoint {
            host: e.host.clone(),
            method: e.method.clone(),
            path: e.path(),
            confidence: e.template.confidence,
            flags: e.flags.iter().map(|f| f.to_string()).collect(),
            stats: e.stats().clone(),
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Rows skipped on load because their contents did not parse.
    pub skipped_rows: u64,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open { path: path.into(), source })?;
        let mut s = Store { conn, path: path.into(), skipped_rows: 0 };
        s.conn
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
            .map_err(|source| StoreError::Open { path: path.into(), source })?;
        s.migrate()?;
        Ok(s)
    }

    fn q(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Query { path: self.path.clone(), source }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(self.q())?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew { path: self.path.clone(), found: version, known });
        }
        for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let path = self.path.clone();
            let tx = self.conn.transaction().map_err(|source| StoreError::Migration { path: path.clone(), name, source })?;
            tx.execute_batch(sql).map_err(|source| StoreError::Migration { path: path.clone(), name, source })?;
            tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(|source| StoreError::Migration {
                path: path.clone(),
                name,
                source,
            })?;
            tx.commit().map_err(|source| StoreError::Migration { path, name, source })?;
        }
        Ok(())
    }

    /// Saves detection: its learned state (as JSON), every alert and the distilled rules, in
    /// one transaction.
    pub fn save_detection<S: serde::Serialize>(&mut self, state: &S, saved_at: f64, alerts: &[Alert], rules: &[Rule]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let q = |source| StoreError::Query { path: path.clone(), source };
        let io = |source| StoreError::State { path: path.clone(), source };
        // The state is the largest thing detection saves (tens of MB with many identities).
        // It is serialised twice, never held: once to learn its length, then straight into
        // a blob of that length, in place. As a string bound as a parameter, it was held
        // three times (the string, SQLite's copy of the binding, the record).
        let mut length = Counted { inner: std::io::sink(), bytes: 0 };
        serde_json::to_writer(&mut length, state).map_err(|e| io(e.into()))?;
        let tx = self.conn.transaction().map_err(q)?;
        tx.execute(
            "INSERT OR REPLACE INTO detector_state (id, saved_at, state) VALUES (1, ?1, zeroblob(?2))",
            params![saved_at, length.bytes as i64],
        )
        .map_err(q)?;
        {
            let blob = tx.blob_open("main", "detector_state", "state", 1, false).map_err(q)?;
            let mut out = Counted { inner: std::io::BufWriter::with_capacity(1 << 16, blob), bytes: 0 };
            serde_json::to_writer(&mut out, state).map_err(|e| io(e.into()))?;
            std::io::Write::flush(&mut out).map_err(io)?;
            if out.bytes != length.bytes {
                let e = format!("the state serialised to {} bytes, then to {}", length.bytes, out.bytes);
                return Err(io(std::io::Error::other(e)));
            }
        }
        tx.execute_batch("DELETE FROM alerts; DELETE FROM detection_rules;").map_err(q)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO alerts (id, attack, severity, score, first_seen, last_seen, detected_at, identity_kind,
                     identity_value, src_ips, endpoints, summary, alert) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(q)?;
            for a in alerts {
                let json = |v: &dyn erased::Ser| v.to_json();
                ins.execute(params![
                    a.id,
                    a.attack.name(),
                    a.severity.name(),
                    a.score,
                    a.first_seen,
                    a.last_seen,
                    a.detected_at,
                    a.identity.kind,
                    a.identity.value,
                    json(&a.src_ips),
                    json(&a.endpoints),
                    a.summary,
                    json(a),
                ])
                .map_err(q)?;
            }
            let mut rule = tx.prepare("INSERT INTO detection_rules VALUES (?1, ?2, ?3)").map_err(q)?;
            for r in rules {
                rule.execute(params![r.attack, r.conditions.join(" and "), r.support as i64]).map_err(q)?;
            }
        }
        tx.commit().map_err(q)
    }

    /// Writes block-list changes (entries added or changed, keys removed) in one transaction.
    pub fn save_blocklist(&mut self, changed: &[BlockEntry], removed: &[BlockKey]) -> Result<(), StoreError> {
        if changed.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let q = |source| StoreError::Query { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(q)?;
        {
            let mut del = tx.prepare("DELETE FROM blocklist WHERE kind = ?1 AND value = ?2").map_err(q)?;
            for k in removed {
                del.execute(params![k.kind.name(), k.value]).map_err(q)?;
            }
            let mut ins = tx
                .prepare(
                    "INSERT OR REPLACE INTO blocklist (kind, value, attack, severity, alert_ids, origin, created, updated, expires, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(q)?;
            for e in changed {
                ins.execute(params![
                    e.key.kind.name(),
                    e.key.value,
                    e.attack,
                    e.severity.name(),
                    serde_json::to_string(&e.alert_ids).unwrap_or_default(),
                    e.origin.name(),
                    e.created,
                    e.updated,
                    e.expires,
                    e.reason,
                ])
                .map_err(q)?;
            }
        }
        tx.commit().map_err(q)
    }

    /// Every stored block-list entry, expired ones included; rows that do not parse are
    /// skipped and counted in `skipped_rows`.
    pub fn load_blocklist(&mut self) -> Result<Vec<BlockEntry>, StoreError> {
        let path = self.path.clone();
        let q = |source| StoreError::Query { path: path.clone(), source };
        let mut st = self
            .conn
            .prepare("SELECT kind, value, attack, severity, alert_ids, origin, created, updated, expires, reason FROM blocklist ORDER BY kind, value")
            .map_err(q)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, f64>(6)?,
                    r.get::<_, f64>(7)?,
                    r.get::<_, f64>(8)?,
                    r.get::<_, String>(9)?,
                ))
            })
            .map_err(q)?;
        let mut out = Vec::new();
        let mut skipped = 0;
        for row in rows {
            let (kind, value, attack, severity, ids, origin, created, updated, expires, reason) = row.map_err(q)?;
            let key = BlockKind::from_name(&kind).and_then(|k| BlockKey::new(k, &value).ok());
            let severity = crate::detect::alerts::Severity::from_name(&severity);
            let origin = match origin.as_str() {
                "alert" => Some(Origin::Alert),
                "manual" => Some(Origin::Manual),
                _ => None,
            };
            let alert_ids = serde_json::from_str::<Vec<String>>(&ids).ok();
            match (key, severity, origin, alert_ids) {
                (Some(key), Some(severity), Some(origin), Some(alert_ids)) => {
                    out.push(BlockEntry { key, attack, severity, alert_ids, origin, created, updated, expires, reason })
                }
                _ => skipped += 1,
            }
        }
        drop(st);
        self.skipped_rows += skipped;
        Ok(out)
    }

    /// Every stored alert (rows that do not parse are skipped and counted).
    pub fn load_alerts(&mut self) -> Result<Vec<Alert>, StoreError> {
        let path = self.path.clone();
        let q = |source| StoreError::Query { path: path.clone(), source };
        let mut st = self.conn.prepare("SELECT alert FROM alerts ORDER BY detected_at, id").map_err(q)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(q)?;
        let mut out = Vec::new();
        let mut skipped = 0;
        for row in rows {
            match serde_json::from_str::<Alert>(&row.map_err(q)?) {
                Ok(a) => out.push(a),
                Err(_) => skipped += 1,
            }
        }
        drop(st);
        self.skipped_rows += skipped;
        Ok(out)
    }

    /// Changes whenever another connection commits: a reader polls it to know when to reload.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(self.q())
    }

    /// The detector state last saved, if any.
    /// The saved state: UTF-8 JSON, as text (databases written before 2026-11-22) or as a
    /// blob (written in place since).
    pub fn load_detector_state(&self) -> Result<Option<String>, StoreError> {
        let text = |r: &rusqlite::Row<'_>| -> rusqlite::Result<String> {
            let bytes = match r.get_ref(0)? {
                rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => b,
                other => return Err(rusqlite::Error::InvalidColumnType(0, "state".into(), other.data_type())),
            };
            String::from_utf8(bytes.to_vec()).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e)))
        };
        self.conn.query_row("SELECT state FROM detector_state WHERE id = 1", [], text).optional().map_err(self.q())
    }

    /// Schema version (applied migrations).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(self.q())
    }

    /// Replaces the stored inventory with `endpoints`, in one transaction.
    pub fn save(&mut self, endpoints: &[Endpoint]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let q = |source| StoreError::Query { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(q)?;
        tx.execute_batch("DELETE FROM endpoints;").map_err(q)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO endpoints (host, method, path, first_seen, last_seen, calls, confidence, auth, flags,
                     clients, credentials, latency_p50_ms, latency_p95_ms, request_bytes_p50, request_bytes_p95,
                     response_bytes_p50, response_bytes_p95, unauth_success, jwt_seen, jwt_alg_none, jwt_no_exp,
                     jwt_long_lived, jwt_max_lifetime_s, dropped, bodies_analyzed, sketches)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                     ?21, ?22, ?23, ?24, ?25, ?26)",
                )
                .map_err(q)?;
            let mut status = tx.prepare("INSERT INTO statuses VALUES (?1, ?2, ?3)").map_err(q)?;
            let mut auth = tx.prepare("INSERT INTO auth_schemes VALUES (?1, ?2, ?3)").map_err(q)?;
            let mut jwt = tx.prepare("INSERT INTO jwt_facts VALUES (?1, ?2, ?3, ?4)").map_err(q)?;
            let mut ct = tx.prepare("INSERT INTO content_types VALUES (?1, ?2, ?3, ?4)").map_err(q)?;
            let mut param = tx.prepare("INSERT INTO parameters VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)").map_err(q)?;
            let mut sens = tx.prepare("INSERT INTO sensitive_data VALUES (?1, ?2, ?3, ?4, ?5)").map_err(q)?;
            for e in endpoints {
                let s = e.stats();
                ins.execute(params![
                    e.host,
                    e.method,
                    e.path(),
                    s.first_seen,
                    s.last_seen,
                    s.calls as i64,
                    e.template.confidence,
                    auth_summary(s),
                    e.flags.join(","),
                    s.clients.estimate() as i64,
                    s.credentials.estimate() as i64,
                    s.latency_ms.quantile(0.5),
                    s.latency_ms.quantile(0.95),
                    s.request_bytes.quantile(0.5),
                    s.request_bytes.quantile(0.95),
                    s.response_bytes.quantile(0.5),
                    s.response_bytes.quantile(0.95),
                    s.unauth_success as i64,
                    s.jwt.seen as i64,
                    s.jwt.alg_none as i64,
                    s.jwt.no_exp as i64,
                    s.jwt.long_lived as i64,
                    s.jwt.max_lifetime_secs,
                    s.dropped as i64,
                    s.bodies as i64,
                    sketch_blob(s),
                ])
                .map_err(q)?;
                let id = tx.last_insert_rowid();
                for (code, n) in &s.statuses {
                    status.execute(params![id, code, *n as i64]).map_err(q)?;
                }
                for (scheme, n) in &s.auth {
                    auth.execute(params![id, scheme, *n as i64]).map_err(q)?;
                }
                for (kind, m) in [("alg", &s.jwt.algs), ("issuer", &s.jwt.issuers), ("claim", &s.jwt.claims)] {
                    for (v, n) in m {
                        jwt.execute(params![id, kind, v, *n as i64]).map_err(q)?;
                    }
                }
                for ((dir, t), n) in &s.content_types {
                    ct.execute(params![id, dir, t, *n as i64]).map_err(q)?;
                }
                for ((loc, name), p) in &s.params {
                    param
                        .execute(params![
                            id,
                            loc.name(),
                            name,
                            p.present as i64,
                            p.type_names(),
                            p.format_names(),
                            p.num_min,
                            p.num_max,
                            p.len_min,
                            p.len_max,
                            p.example
                        ])
                        .map_err(q)?;
                }
                for ((loc, field, kind), n) in &s.sensitive {
                    sens.execute(params![id, loc.name(), field, kind.name(), *n as i64]).map_err(q)?;
                }
            }
        }
        tx.execute("INSERT OR REPLACE INTO meta VALUES ('saved_by', ?1)", [concat!("apitap ", env!("CARGO_PKG_VERSION"))]).map_err(q)?;
        tx.commit().map_err(q)
    }

    /// Every stored endpoint with its statistics.
    pub fn endpoints(&mut self) -> Result<Vec<StoredEndpoint>, StoreError> {
        let path = self.path.clone();
        let q = |source| StoreError::Query { path: path.clone(), source };
        let mut out: Vec<(i64, StoredEndpoint)> = Vec::new();
        {
            let mut st = self
                .conn
                .prepare(
                    "SELECT id, host, method, path, first_seen, last_seen, calls, confidence, flags, unauth_success,
                     jwt_seen, jwt_alg_none, jwt_no_exp, jwt_long_lived, jwt_max_lifetime_s, dropped, sketches, bodies_analyzed
                     FROM endpoints ORDER BY host, path, method",
                )
                .map_err(q)?;
            let rows = st
                .query_map([], |r| {
                    let mut s = EndpointStats {
                        first_seen: r.get(4)?,
                        last_seen: r.get(5)?,
                        calls: r.get::<_, i64>(6)?.max(0) as u64,
                        unauth_success: r.get::<_, i64>(9)?.max(0) as u64,
                        jwt: JwtStats {
                            seen: r.get::<_, i64>(10)?.max(0) as u64,
                            alg_none: r.get::<_, i64>(11)?.max(0) as u64,
                            no_exp: r.get::<_, i64>(12)?.max(0) as u64,
                            long_lived: r.get::<_, i64>(13)?.max(0) as u64,
                            max_lifetime_secs: r.get(14)?,
                            ..Default::default()
                        },
                        dropped: r.get::<_, i64>(15)?.max(0) as u64,
                        bodies: r.get::<_, i64>(17)?.max(0) as u64,
                        ..Default::default()
                    };
                    let blob: Vec<u8> = r.get(16)?;
                    let ok = read_sketches(&blob, &mut s);
                    let flags: String = r.get(8)?;
                    Ok((
                        r.get::<_, i64>(0)?,
                        ok,
                        StoredEndpoint {
                            host: r.get(1)?,
                            method: r.get(2)?,
                            path: r.get(3)?,
                            confidence: r.get(7)?,
                            flags: flags.split(',').filter(|f| !f.is_empty()).map(str::to_string).collect(),
                            stats: s,
                        },
                    ))
                })
                .map_err(q)?;
            for row in rows {
                let (id, ok, e) = row.map_err(q)?;
                if !ok {
                    self.skipped_rows += 1;
                }
                out.push((id, e));
            }
        }
        let index: std::collections::HashMap<i64, usize> = out.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
        let get = |id: i64| index.get(&id).copied();
        self.each("SELECT endpoint_id, status, count FROM statuses", |r| {
            let (id, code, n): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(get(id).map(|i| (i, code, n)))
        })?
        .into_iter()
        .for_each(|(i, code, n)| {
            if let Ok(code) = u16::try_from(code) {
                out[i].1.stats.statuses.insert(code, n.max(0) as u64);
            }
        });
        self.each("SELECT endpoint_id, scheme, count FROM auth_schemes", |r| {
            let (id, scheme, n): (i64, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(get(id).map(|i| (i, scheme, n)))
        })?
        .into_iter()
        .for_each(|(i, scheme, n)| {
            out[i].1.stats.auth.insert(scheme, n.max(0) as u64);
        });
        self.each("SELECT endpoint_id, kind, value, count FROM jwt_facts", |r| {
            let (id, kind, v, n): (i64, String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            Ok(get(id).map(|i| (i, kind, v, n)))
        })?
        .into_iter()
        .for_each(|(i, kind, v, n)| {
            let j = &mut out[i].1.stats.jwt;
            let m = match kind.as_str() {
                "alg" => &mut j.algs,
                "issuer" => &mut j.issuers,
                _ => &mut j.claims,
            };
            m.insert(v, n.max(0) as u64);
        });
        self.each("SELECT endpoint_id, direction, content_type, count FROM content_types", |r| {
            let (id, d, t, n): (i64, String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            Ok(get(id).map(|i| (i, d, t, n)))
        })?
        .into_iter()
        .for_each(|(i, d, t, n)| {
            out[i].1.stats.content_types.insert((d, t), n.max(0) as u64);
        });
        let params = self.each(
            "SELECT endpoint_id, location, name, present, types, formats, min, max, min_length, max_length, example FROM parameters",
            |r| {
                let id: i64 = r.get(0)?;
                let loc: String = r.get(1)?;
                let p = ParamStats {
                    present: r.get::<_, i64>(3)?.max(0) as u64,
                    types: type_bits(&r.get::<_, String>(4)?),
                    formats: format_bits(&r.get::<_, String>(5)?),
                    num_min: r.get(6)?,
                    num_max: r.get(7)?,
                    len_min: r.get(8)?,
                    len_max: r.get(9)?,
                    example: r.get(10)?,
                };
                Ok(get(id).zip(Location::from_name(&loc)).map(|(i, l)| (i, l, r.get::<_, String>(2), p)))
            },
        )?;
        for (i, loc, name, p) in params {
            if let Ok(name) = name {
                out[i].1.stats.params.insert((loc, name), p);
            }
        }
        let sens = self.each("SELECT endpoint_id, location, field, kind, count FROM sensitive_data", |r| {
            let (id, loc, field, kind, n): (i64, String, String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            Ok(get(id).zip(Location::from_name(&loc)).zip(Sensitive::from_name(&kind)).map(|((i, l), k)| (i, l, field, k, n)))
        })?;
        for (i, loc, field, kind, n) in sens {
            out[i].1.stats.sensitive.insert((loc, field, kind), n.max(0) as u64);
        }
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    /// Runs `sql`, keeping the rows `f` maps to `Some`.
    fn each<T>(&self, sql: &str, f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<Option<T>>) -> Result<Vec<T>, StoreError> {
        let mut st = self.conn.prepare(sql).map_err(self.q())?;
        let rows = st.query_map([], f).map_err(self.q())?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(v) = r.map_err(self.q())? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Seeds `inv` with every stored endpoint, so new traffic merges into them.
    pub fn load(&mut self, inv: &mut Inventory) -> Result<usize, StoreError> {
        let eps = self.endpoints()?;
        let n = eps.len();
        for e in eps {
            inv.seed(&e.host, &e.method, &e.path, e.stats);
        }
        Ok(n)
    }

    /// A value from the `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(self.q())
    }
}

/// Auth schemes by share of calls, most used first: `bearer`, or `bearer,none`.
pub fn auth_summary(s: &EndpointStats) -> String {
    let mut v: Vec<(&String, &u64)> = s.auth.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(",")
}

/// Quantile and distinct-count sketches as one blob: five length-prefixed sections.
fn sketch_blob(s: &EndpointStats) -> Vec<u8> {
    let mut out = Vec::new();
    for part in
        [s.latency_ms.to_bytes(), s.request_bytes.to_bytes(), s.response_bytes.to_bytes(), s.clients.to_bytes(), s.credentials.to_bytes()]
    {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(&part);
    }
    out
}

/// Reads [`sketch_blob`]'s output into `s`; false (and nothing read) when it does not parse.
fn read_sketches(b: &[u8], s: &mut EndpointStats) -> bool {
    let mut parts = Vec::with_capacity(5);
    let mut at = 0usize;
    while at < b.len() && parts.len() < 5 {
        let Some(n) = b.get(at..at + 4).and_then(|x| x.try_into().ok()).map(u32::from_le_bytes) else {
            return false;
        };
        let Some(part) = b.get(at + 4..at + 4 + n as usize) else {
            return false;
        };
        parts.push(part);
        at += 4 + n as usize;
    }
    let [lat, req, rsp, cli, cred] = parts[..] else {
        return false;
    };
    match (
        Quantiles::from_bytes(lat),
        Quantiles::from_bytes(req),
        Quantiles::from_bytes(rsp),
        Distinct::from_bytes(cli),
        Distinct::from_bytes(cred),
    ) {
        (Some(a), Some(b), Some(c), Some(d), Some(e)) => {
            s.latency_ms = a;
            s.request_bytes = b;
            s.response_bytes = c;
            s.clients = d;
            s.credentials = e;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
