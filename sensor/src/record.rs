//! The API call record: one JSON object per HTTP exchange, the contract between the sensor
//! and the analyzer. Field names follow Zeek's http.log where Zeek has the field;
//! `docs/record-schema.md` documents every field and bumps [`SCHEMA_VERSION`] on change.
//! Records never hold a credential: only its scheme and a keyed hash.

use crate::anomaly::{Anomaly, AnomalySet};
use crate::decode::PacketMeta;
use crate::flow::FlowKey;
use crate::http::message::{path_of, query_of};
use crate::http::parse::escape_bytes;
use crate::http::{HttpTransaction, Part};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

mod json;

/// A record string that is nearly always one of a few constants (a method, a version, a
/// reason phrase, an auth scheme, an anomaly name, a tunnel kind): those are borrowed, the
/// rest owned, so the common record allocates nothing for them. Reads like a `String`
/// (`as_deref`, `==`, `Display`); deserialized records own theirs.
pub type Text = std::borrow::Cow<'static, str>;

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
    pub kind: Text,
    /// VNI, GRE key, ERSPAN session id or GTP TEID.
    pub id: Option<u32>,
    pub outer_src: IpAddr,
    pub outer_dst: IpAddr,
}

/// What a bearer JWT said about itself. Claim values other than the issuer, the subject
/// and the two times are never kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtRecord {
    pub alg: String,
    pub iss: Option<String>,
    /// The subject (`sub`), decoded without verification: who the token says it is.
    #[serde(default)]
    pub sub: Option<String>,
    /// Claim names, sorted.
    pub claims: Vec<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
}

/// Decoded body bytes kept in memory beside a record for analysis; never written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapturedBodies {
    pub request: Option<Vec<u8>>,
    pub response: Option<Vec<u8>>,
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
    pub method: Option<Text>,
    pub host: Option<String>,
    pub uri: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
    pub version: Option<Text>,
    pub user_agent: Option<String>,
    pub status_code: Option<u16>,
    pub status_msg: Option<Text>,
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
    /// The RFC 7239 `Forwarded` header, as sent.
    #[serde(default)]
    pub forwarded: Option<String>,
    /// `True-Client-IP` (Akamai, Cloudflare), as sent.
    #[serde(default)]
    pub true_client_ip: Option<String>,
    pub cookie_names: Vec<String>,
    pub set_cookie_names: Vec<String>,
    pub auth_scheme: Option<Text>,
    pub auth_hash: Option<String>,
    pub auth_user: Option<String>,
    pub auth_jwt: Option<JwtRecord>,
    pub upgrade: Option<String>,
    pub anomalies: Vec<Text>,
    pub missed_bytes: u64,
    pub quality: Quality,
    pub vlan: Option<u16>,
    pub tunnel: Option<TunnelRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// Bodies the sensor captured for analysis (`capture_bodies`); not part of the JSON.
    #[serde(skip)]
    pub captured: Option<Box<CapturedBodies>>,
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

impl ApiCall {
    /// Builds the record of one exchange, moving its strings rather than copying them.
    pub fn from_transaction(tx: HttpTransaction, conn: &ConnInfo<'_>) -> ApiCall {
        let client = conn.key.endpoint(tx.client);
        let server = conn.key.endpoint(tx.client.opposite());
        let mut anomalies = tx.anomalies;
        anomalies.extend(conn.anomalies);
        let ts = tx.request_ts.or(tx.response_ts).unwrap_or_default();
        let lost =
            tx.response_part == Part::Lost || anomalies.contains(Anomaly::GapInRequest) || anomalies.contains(Anomaly::GapInResponse);
        let (has_req, has_rsp) = (tx.request.is_some(), tx.response.is_some());
        let quality = if tx.missed_bytes > 0 && !tx.snaplen_truncated || lost {
            Quality::Gap
        } else if !has_req || !has_rsp {
            Quality::OneSided
        } else if tx.snaplen_truncated || matches!(tx.request_part, Part::Truncated) || matches!(tx.response_part, Part::Truncated) {
            Quality::Truncated
        } else {
            Quality::Complete
        };
        let mut call = ApiCall {
            schema_version: SCHEMA_VERSION,
            ts: ts.as_secs_f64(),
            uid: conn.uid.to_string(),
            orig_h: client.ip,
            orig_p: client.port,
            resp_h: server.ip,
            resp_p: server.port,
            trans_depth: tx.depth,
            method: None,
            host: None,
            uri: None,
            path: None,
            query: None,
            version: None,
            user_agent: None,
            status_code: None,
            status_msg: None,
            info_code: tx.info_code,
            response_ts: tx.response_ts.map(|t| t.as_secs_f64()),
            latency_ms: ms(tx.response_ts, tx.request_end_ts),
            duration_ms: ms(tx.response_end_ts, tx.request_ts),
            request_body_len: tx.request_body_len,
            response_body_len: tx.response_body_len,
            request_len: tx.request_wire_len,
            response_len: tx.response_wire_len,
            request_content_type: None,
            response_content_type: None,
            response_content_encoding: None,
            x_forwarded_for: None,
            forwarded: None,
            true_client_ip: None,
            cookie_names: Vec::new(),
            set_cookie_names: Vec::new(),
            auth_scheme: None,
            auth_hash: None,
            auth_user: None,
            auth_jwt: None,
            upgrade: None,
            anomalies: anomalies.iter().map(|a| Text::Borrowed(a.as_str())).collect(),
            missed_bytes: tx.missed_bytes,
            quality,
            vlan: conn.meta.vlan,
            tunnel: conn.meta.tunnel.map(|t| TunnelRecord {
                kind: Text::Borrowed(t.kind.name()),
                id: t.id,
                outer_src: t.outer_src,
                outer_dst: t.outer_dst,
            }),
            request_body: tx.request_body_sample.as_deref().map(escape_bytes),
            response_body: tx.response_body_sample.as_deref().map(escape_bytes),
            captured: match (tx.request_body_capture, tx.response_body_capture) {
                (None, None) => None,
                (request, response) => Some(Box::new(CapturedBodies { request, response })),
            },
        };
        let connect_ok =
            tx.request.as_ref().is_some_and(|r| r.is_connect()) && tx.response.as_ref().is_some_and(|p| (200..300).contains(&p.code));
        if let Some(rsp) = tx.response {
            if rsp.code != 0 {
                call.status_code = Some(rsp.code);
                call.status_msg = Some(rsp.reason);
            }
            call.response_content_type = rsp.content_type;
            call.response_content_encoding = rsp.content_encoding;
            call.set_cookie_names = rsp.set_cookie_names;
            if rsp.code == 101 {
                call.upgrade = rsp.upgrade;
            }
        }
        if let Some(req) = tx.request {
            call.path = Some(escape_bytes(path_of(req.uri.as_bytes())));
            call.query = query_of(req.uri.as_bytes()).map(escape_bytes);
            call.version = Some(req.version.unwrap_or(Text::Borrowed("0.9")));
            if connect_ok {
                call.upgrade = Some("connect".into());
            }
            if let Some(c) = req.credential {
                call.auth_scheme = Some(c.scheme);
                call.auth_hash = Some(c.hash);
                call.auth_user = c.user;
                call.auth_jwt = c.jwt;
            }
            call.method = Some(req.method);
            call.host = req.host;
            call.uri = Some(req.uri);
            call.user_agent = req.user_agent;
            call.request_content_type = req.content_type;
            call.x_forwarded_for = req.x_forwarded_for;
            call.forwarded = req.forwarded;
            call.true_client_ip = req.true_client_ip;
            call.cookie_names = req.cookie_names;
        }
        call
    }
}
