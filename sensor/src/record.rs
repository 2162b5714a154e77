//! The API call record: one JSON object per HTTP exchange, the contract between the sensor
//! and the analyzer. Field names follow Zeek's http.log where Zeek has the field;
//! `docs/record-schema.md` documents every field and bumps [`SCHEMA_VERSION`] on change.
//! Records never hold a credential: only its scheme and a keyed hash.

use crate::anomaly::{Anomaly, AnomalySet};
use crate::decode::tunnel::TunnelKind;
use crate::decode::PacketMeta;
use crate::flow::FlowKey;
use crate::http::message::{path_of, query_of};
use crate::http::parse::escape_bytes;
use crate::http::{HttpTransaction, Part};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Version of the record schema; bumped on any change a consumer could notice.
pub const SCHEMA_VERSION: u32 = 1;

/// How completely the capture saw this exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Request and response seen in full.
    Complete,
    /// Bytes of the exchange are missing from the capture (`missed_bytes` says how many).
    Gap,
    /// Only the request or only the response was seen.
    OneSided,
    /// A message ended before its framing said (connection closed early, snaplen).
    Truncated,
}

/// The tunnel a connection arrived in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRecord {
    pub kind: String,
    /// VNI, GRE key, ERSPAN session id or GTP TEID.
    pub id: Option<u32>,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
}

/// One API call. See `docs/record-schema.md` for each field.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiCall {
    pub schema_version: u32,
    pub ts: f64,
    pub uid: String,
    pub orig_h: IpAddr,
    pub orig_p: u16,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    pub trans_depth: u32,
    pub method: Option<String>,
    pub host: Option<String>,
    pub uri: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
    pub version: Option<String>,
    pub user_agent: Option<String>,
    pub status_code: Option<u16>,
    pub status_msg: Option<String>,
    pub info_code: Option<u16>,
    pub response_ts: Option<f64>,
    pub latency_ms: Option<f64>,
    pub duration_ms: Option<f64>,
    pub request_body_len: u64,
    pub response_body_len: u64,
    pub request_len: u64,
    pub response_len: u64,
    pub request_content_type: Option<String>,
    pub response_content_type: Option<String>,
    pub response_content_encoding: Option<String>,
    pub x_forwarded_for: Option<String>,
    pub cookie_names: Vec<String>,
    pub set_cookie_names: Vec<String>,
    pub auth_scheme: Option<String>,
    pub auth_hash: Option<String>,
    pub auth_user: Option<String>,
    pub upgrade: Option<String>,
    pub anomalies: Vec<String>,
    pub missed_bytes: u64,
    pub quality: Quality,
    pub vlan: Option<u16>,
    pub tunnel: Option<TunnelRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// What the flow knows about the connection an exchange belongs to.
pub struct ConnInfo<'a> {
    pub uid: &'a str,
    pub key: &'a FlowKey,
    pub meta: &'a PacketMeta,
    /// Anomalies of the connection (conflicting overlaps, eviction) to add to every record.
    pub anomalies: &'a AnomalySet,
}

fn ms(later: Option<Timestamp>, earlier: Option<Timestamp>) -> Option<f64> {
    let (l, e) = (later?, earlier?);
    Some(((l.0 - e.0).max(0) as f64 / 1e3).round() / 1e3)
}

fn tunnel_name(k: TunnelKind) -> String {
    k.name().to_string()
}

impl ApiCall {
    /// Builds the record of one exchange.
    pub fn from_transaction(tx: HttpTransaction, conn: &ConnInfo<'_>) -> ApiCall {
        let client = conn.key.endpoint(tx.client);
        let server = conn.key.endpoint(tx.client.opposite());
        let mut anomalies = tx.anomalies;
        anomalies.extend(conn.anomalies);
        let req = tx.request.as_ref();
        let rsp = tx.response.as_ref();
        let ts = tx.request_ts.or(tx.response_ts).unwrap_or_default();
        let lost = tx.response_part == Part::Lost
            || anomalies.contains(Anomaly::GapInRequest)
            || anomalies.contains(Anomaly::GapInResponse);
        let quality = if tx.missed_bytes > 0 && !tx.snaplen_truncated || lost {
            Quality::Gap
        } else if req.is_none() || rsp.is_none() {
            Quality::OneSided
        } else if tx.snaplen_truncated
            || matches!(tx.request_part, Part::Truncated)
            || matches!(tx.response_part, Part::Truncated)
        {
            Quality::Truncated
        } else {
            Quality::Complete
        };
        let credential = req.and_then(|r| r.credential.as_ref());
        ApiCall {
            schema_version: SCHEMA_VERSION,
            ts: ts.as_secs_f64(),
            uid: conn.uid.to_string(),
            orig_h: client.ip,
            orig_p: client.port,
            resp_h: server.ip,
            resp_p: server.port,
            trans_depth: tx.depth,
            method: req.map(|r| r.method.clone()),
            host: req.and_then(|r| r.host.clone()),
            uri: req.map(|r| r.uri.clone()),
            path: req.map(|r| escape_bytes(path_of(r.uri.as_bytes()))),
            query: req.and_then(|r| query_of(r.uri.as_bytes()).map(escape_bytes)),
            version: req.and_then(|r| r.version.clone()).or_else(|| req.map(|_| "0.9".to_string())),
            user_agent: req.and_then(|r| r.user_agent.clone()),
            status_code: rsp.map(|r| r.code).filter(|c| *c != 0),
            status_msg: rsp.filter(|r| r.code != 0).map(|r| r.reason.clone()),
            info_code: tx.info_code,
            response_ts: tx.response_ts.map(|t| t.as_secs_f64()),
            latency_ms: ms(tx.response_ts, tx.request_end_ts),
            duration_ms: ms(tx.response_end_ts, tx.request_ts),
            request_body_len: tx.request_body_len,
            response_body_len: tx.response_body_len,
            request_len: tx.request_wire_len,
            response_len: tx.response_wire_len,
            request_content_type: req.and_then(|r| r.content_type.clone()),
            response_content_type: rsp.and_then(|r| r.content_type.clone()),
            response_content_encoding: rsp.and_then(|r| r.content_encoding.clone()),
            x_forwarded_for: req.and_then(|r| r.x_forwarded_for.clone()),
            cookie_names: req.map(|r| r.cookie_names.clone()).unwrap_or_default(),
            set_cookie_names: rsp.map(|r| r.set_cookie_names.clone()).unwrap_or_default(),
            auth_scheme: credential.map(|c| c.scheme.clone()),
            auth_hash: credential.map(|c| c.hash.clone()),
            auth_user: credential.and_then(|c| c.user.clone()),
            upgrade: rsp
                .filter(|r| r.code == 101)
                .and_then(|r| r.upgrade.clone())
                .or_else(|| req.filter(|r| r.is_connect() && rsp.is_some_and(|p| (200..300).contains(&p.code))).map(|_| "connect".into())),
            anomalies: anomalies.iter().map(|a| a.as_str().to_string()).collect(),
            missed_bytes: tx.missed_bytes,
            quality,
            vlan: conn.meta.vlan,
            tunnel: conn.meta.tunnel.map(|t| TunnelRecord {
                kind: tunnel_name(t.kind),
                id: t.id,
                outer_src: t.outer_src,
                outer_dst: t.outer_dst,
            }),
            request_body: tx.request_body_sample.as_deref().map(escape_bytes),
            response_body: tx.response_body_sample.as_deref().map(escape_bytes),
        }
    }
}
