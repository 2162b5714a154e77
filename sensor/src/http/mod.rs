//! HTTP/1.0 and 1.1 over reassembled TCP streams.
//!
//! - [`parse`] is pure syntax (httparse fast path, lax fallback).
//! - [`message`] interprets heads: fields, framing, credentials.
//! - [`body`] follows bodies and decodes content encodings.
//! - [`websocket`] peels WebSocket frames off upgraded connections.
//! - [`conn`] is the per-connection state: which side is the client, pending requests,
//!   pipelining, pairing, resynchronization after gaps, tunnels.
//!
//! The contract with reassembly is Suricata's app-layer one: the connection is fed data and
//! gaps for each direction, consumes what it can, and when a gap or garbage breaks message
//! framing it probes forward for the next request or status line instead of giving up.

pub mod body;
pub mod conn;
pub mod jwt;
pub mod message;
pub mod parse;
pub mod websocket;

pub use conn::{HttpConn, HttpCtx};

use crate::anomaly::AnomalySet;
use crate::flow::Side;
use crate::time::Timestamp;
use message::{RequestInfo, ResponseInfo};

/// How much of one message was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Not seen at all.
    Absent,
    /// Started, not finished yet.
    Open,
    /// Seen to its end (possibly with bytes missing in a gap).
    Complete,
    /// The stream ended before the message's framing did.
    Truncated,
    /// Lost to a gap: the response to this request was never found.
    Lost,
}

/// One request/response exchange as the HTTP layer saw it. The flow adds addresses and
/// the connection uid to make the record.
#[derive(Clone, Debug)]
pub struct HttpTransaction {
    /// Which side of the flow sent the request.
    pub client: Side,
    /// 1-based position of this exchange on its connection (Zeek's `trans_depth`).
    pub depth: u32,
    pub request: Option<RequestInfo>,
    pub response: Option<ResponseInfo>,
    pub request_part: Part,
    pub response_part: Part,
    /// Packet time of the first byte of the request, and of its last byte.
    pub request_ts: Option<Timestamp>,
    pub request_end_ts: Option<Timestamp>,
    /// Packet time of the first byte of the final response, and of its last byte.
    pub response_ts: Option<Timestamp>,
    pub response_end_ts: Option<Timestamp>,
    /// Body bytes after de-chunking and content decoding (Zeek's body lengths).
    pub request_body_len: u64,
    pub response_body_len: u64,
    /// Bytes on the wire: head plus body as framed.
    pub request_wire_len: u64,
    pub response_wire_len: u64,
    /// The first `body_sample` decoded bytes of each body, for the record.
    pub request_body_sample: Option<Vec<u8>>,
    pub response_body_sample: Option<Vec<u8>>,
    /// The first `capture_bodies` decoded bytes of JSON and form bodies, for analysis.
    pub request_body_capture: Option<Vec<u8>>,
    pub response_body_capture: Option<Vec<u8>>,
    /// The last interim (1xx) response before the final one.
    pub info_code: Option<u16>,
    pub info_msg: Option<String>,
    pub anomalies: AnomalySet,
    /// Bytes of this exchange missing from the capture.
    pub missed_bytes: u64,
    /// Some bytes were cut by the snaplen.
    pub snaplen_truncated: bool,
}
