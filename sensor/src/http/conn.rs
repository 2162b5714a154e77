//! Per-connection HTTP state: roles, request queue, pairing, resync, tunnels.
//!
//! Guarantees and bounds:
//! - Which side is the client is decided from the bytes (a request line or a status line),
//!   not the port, so HTTP is found on any port and on connections picked up midstream.
//!   Each side probes at most `max_probe_bytes` before it is left alone.
//! - A head is held up to `max_head_bytes`; beyond, what was read is used, the rest of the
//!   head skipped, and `header_too_long` noted.
//! - At most `max_pending` requests wait for responses (pipelining); beyond, the oldest is
//!   written without one.
//! - Responses pair with requests in order. After a gap or garbage broke the response
//!   stream, the next response pairs with the newest request the server had fully received
//!   when it answered (from the response's TCP acknowledgment), and the requests skipped are
//!   written as having lost their responses. This keeps a lost response from shifting every
//!   later pair by one.
//! - Every request and every response becomes a record, paired or not, and nothing waits
//!   past the end of the connection.

use super::body::{BodyReader, ContentDecoder, Framing};
use super::message::{request_info, response_info, RequestInfo, ResponseInfo};
use super::parse::{
    find_request_start, find_status_start, head_end, head_end_resume, is_tchar, line_end, parse_headers,
    is_known_method, parse_request_line, parse_status_line, probe_request, probe_status, strict_request, strict_response, Probe,
    RawHeader,
};
use super::websocket::Deframer;
use super::{HttpTransaction, Part};
use crate::anomaly::{Anomaly, AnomalySet};
use crate::config::HttpConfig;
use crate::flow::Side;
use crate::hash::CredentialHasher;
use crate::reassembly::GapKind;
use crate::time::Timestamp;
use std::collections::VecDeque;

/// Headers room made once per head, so typical heads never regrow the list.
const HEADERS_CAPACITY: usize = 24;

/// Whether the analyzer reads the fields of bodies of this content type (JSON, forms).
fn analyzable(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let base = ct.split(';').next().unwrap_or("").trim().as_bytes();
    let ends_json = base.len() >= 5 && base[base.len() - 5..].eq_ignore_ascii_case(b"+json");
    ends_json || ["application/json", "text/json", "application/x-www-form-urlencoded"].iter().any(|t| base.eq_ignore_ascii_case(t.as_bytes()))
}

/// Decoded bytes to keep of a body: for the record's sample, and for analysis.
fn sample_cap(cfg: &HttpConfig, content_type: Option<&str>) -> usize {
    let capture = if cfg.capture_bodies > 0 && analyzable(content_type) { cfg.capture_bodies } else { 0 };
    cfg.body_sample.max(capture)
}

/// The kept bytes as the record's sample and the analysis capture, each cut to its size;
/// one copy at most, when both are wanted.
fn split_sample(mut kept: Vec<u8>, cfg: &HttpConfig, content_type: Option<&str>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    if kept.is_empty() {
        return (None, None);
    }
    let want_capture = cfg.capture_bodies > 0 && analyzable(content_type);
    let want_sample = cfg.body_sample > 0;
    match (want_sample, want_capture) {
        (false, false) => (None, None),
        (true, false) => {
            kept.truncate(cfg.body_sample);
            (Some(kept), None)
        }
        (false, true) => {
            kept.truncate(cfg.capture_bodies);
            (None, Some(kept))
        }
        (true, true) => {
            let sample = kept[..kept.len().min(cfg.body_sample)].to_vec();
            kept.truncate(cfg.capture_bodies);
            (Some(sample), Some(kept))
        }
    }
}

/// What the HTTP layer needs from its caller on every call.
pub struct HttpCtx<'a> {
    pub cfg: &'a HttpConfig,
    pub hasher: &'a CredentialHasher,
    pub emit: &'a mut dyn FnMut(HttpTransaction),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Unknown,
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Between messages.
    Idle,
    /// Reading a head.
    Head,
    /// Reading a body.
    Body,
    /// Discarding the rest of an over-long head.
    SkipHead,
    /// Looking for the next message start after a gap or garbage.
    Resync,
    /// After a CONNECT request, holding client bytes until the response says whether a
    /// tunnel opened.
    Hold,
    /// After a 2xx CONNECT or a 101: the next bytes decide whether HTTP continues inside.
    Tunnel,
    /// Nothing more is parsed in this direction.
    Off,
}

const RESYNC_CARRY: usize = 16 << 10;

struct Dir {
    role: Role,
    st: St,
    buf: Vec<u8>,
    scan: usize,
    msg_ts: Timestamp,
    msg_off: u64,
    msg_ack: Option<u64>,
    body: Option<BodyReader>,
    /// Depth of the transaction whose message this direction is reading.
    tx: Option<u32>,
    /// A gap or garbage came before the next message.
    resynced: bool,
    at_line_start: bool,
    messages: u32,
    pending: AnomalySet,
    probed: usize,
    probe_ts: Timestamp,
    probe_off: u64,
    ended: bool,
    /// Where to go once an over-long head has been skipped.
    after_skip: St,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            role: Role::Unknown,
            st: St::Idle,
            buf: Vec::new(),
            scan: 0,
            msg_ts: Timestamp::ZERO,
            msg_off: 0,
            msg_ack: None,
            body: None,
            tx: None,
            resynced: false,
            at_line_start: true,
            messages: 0,
            pending: AnomalySet::default(),
            probed: 0,
            probe_ts: Timestamp::ZERO,
            probe_off: 0,
            ended: false,
            after_skip: St::Idle,
        }
    }
}

struct Tx {
    depth: u32,
    req: Option<RequestInfo>,
    rsp: Option<ResponseInfo>,
    req_part: Part,
    rsp_part: Part,
    req_ts: Option<Timestamp>,
    req_end_ts: Option<Timestamp>,
    rsp_ts: Option<Timestamp>,
    rsp_end_ts: Option<Timestamp>,
    req_end_off: Option<u64>,
    req_start_off: u64,
    req_body_len: u64,
    rsp_body_len: u64,
    req_wire: u64,
    rsp_wire: u64,
    req_sample: Option<Vec<u8>>,
    rsp_sample: Option<Vec<u8>>,
    req_capture: Option<Vec<u8>>,
    rsp_capture: Option<Vec<u8>>,
    info_code: Option<u16>,
    info_msg: Option<String>,
    interims: u32,
    anomalies: AnomalySet,
    missed: u64,
    snaplen: bool,
}

impl Tx {
    fn new(depth: u32) -> Tx {
        Tx {
            depth,
            req: None,
            rsp: None,
            req_part: Part::Absent,
            rsp_part: Part::Absent,
            req_ts: None,
            req_end_ts: None,
            rsp_ts: None,
            rsp_end_ts: None,
            req_end_off: None,
            req_start_off: 0,
            req_body_len: 0,
            rsp_body_len: 0,
            req_wire: 0,
            rsp_wire: 0,
            req_sample: None,
            rsp_sample: None,
            req_capture: None,
            rsp_capture: None,
            info_code: None,
            info_msg: None,
            interims: 0,
            anomalies: AnomalySet::default(),
            missed: 0,
            snaplen: false,
        }
    }

    fn awaiting_response(&self) -> bool {
        self.req.is_some() && self.rsp_part == Part::Absent
    }

    fn settled(&self) -> bool {
        !matches!(self.req_part, Part::Open) && !matches!(self.rsp_part, Part::Open | Part::Absent)
    }
}

/// HTTP state of one TCP connection.
pub struct HttpConn {
    dirs: [Dir; 2],
    /// Boxed: a transaction is large and moves through the queue.
    txs: VecDeque<Box<Tx>>,
    next_depth: u32,
    client: Option<Side>,
    /// After a WebSocket upgrade: the frame decoders, and how many payload bytes each
    /// direction has produced (the offsets of the tunneled streams).
    ws: Option<Box<([Deframer; 2], [u64; 2])>>,
    /// Per side: offset 0 is the true start of the stream (its SYN was seen).
    starts_known: [bool; 2],
}

impl Default for HttpConn {
    fn default() -> Self {
        Self::new()
    }
}

fn other(s: Side) -> Side {
    s.opposite()
}

enum HeadEnd {
    Found(usize),
    /// Not yet; resume the search here next time.
    Need(usize),
    /// Not a request line after all (see [`plausible_first_request`]).
    Reject,
}

/// Whether a line can start the first request of a direction. Later requests on an HTTP
/// connection may use any method token, as Zeek accepts; the first one, which also decides
/// that a connection is HTTP at all, needs a version or a known method, so that prose in a
/// body picked up midstream ("rest of the upload") is not taken for a request.
fn plausible_first_request(line: &[u8]) -> bool {
    let mut scratch = AnomalySet::default();
    parse_request_line(line, &mut scratch).is_some_and(|rl| rl.version.is_some() || is_known_method(rl.method))
}

/// [`probe_request`] for the first bytes of a direction whose role is unknown.
fn probe_first_request(d: &[u8]) -> Probe {
    match probe_request(d) {
        Probe::No => Probe::No,
        p => match line_end(d) {
            Some((end, _)) => {
                if plausible_first_request(&d[..end]) { Probe::Yes } else { Probe::No }
            }
            None if d.len() > RESYNC_CARRY => Probe::No,
            None => {
                let m = d.iter().take_while(|b| is_tchar(**b)).count();
                if p == Probe::Yes && is_known_method(&d[..m]) { Probe::Yes } else { Probe::NeedMore }
            }
        },
    }
}

/// After a request line without a version: `Some(true)` when a header line comes before
/// the first blank line, `Some(false)` when a blank line or the end of the lines comes
/// first without one, `None` when more bytes are needed to tell.
fn headers_follow(mut rest: &[u8]) -> Option<bool> {
    loop {
        let (end, next) = line_end(rest)?;
        let line = &rest[..end];
        if line.is_empty() {
            return Some(false);
        }
        let name = line.iter().take_while(|c| is_tchar(**c)).count();
        if name > 0 && line.get(name) == Some(&b':') {
            return Some(true);
        }
        rest = &rest[next..];
    }
}

impl HttpConn {
    pub fn new() -> HttpConn {
        HttpConn { dirs: [Dir::new(), Dir::new()], txs: VecDeque::new(), next_depth: 1, client: None, ws: None, starts_known: [false; 2] }
    }

    /// Tells which streams were seen from their SYN, so their first bytes are known to be
    /// the start of the conversation rather than a midstream pickup.
    pub fn set_stream_starts(&mut self, known: [bool; 2]) {
        self.starts_known = known;
    }

    /// The side that sends requests, once known.
    pub fn client_side(&self) -> Option<Side> {
        self.client
    }

    /// True when neither direction will be parsed again: the caller may stop reassembling.
    pub fn is_off(&self) -> bool {
        self.dirs.iter().all(|d| d.st == St::Off)
    }

    /// True when no transaction is waiting to be written.
    pub fn is_idle(&self) -> bool {
        self.txs.is_empty()
    }

    /// Bytes held (head buffers, body decoders, queued transactions), for memory accounting.
    pub fn held_bytes(&self) -> usize {
        let dirs: usize = self
            .dirs
            .iter()
            .map(|d| d.buf.capacity() + d.body.as_ref().map_or(0, |b| b.held_bytes()))
            .sum();
        // A pending transaction's strings are bounded by the heads they came from.
        let txs: usize = self
            .txs
            .iter()
            .map(|t| {
                let kept = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::capacity);
                std::mem::size_of::<Tx>()
                    + t.req.as_ref().map_or(0, |r| r.head_len as usize)
                    + t.rsp.as_ref().map_or(0, |r| r.head_len as usize)
                    + kept(&t.req_sample)
                    + kept(&t.rsp_sample)
                    + kept(&t.req_capture)
                    + kept(&t.rsp_capture)
            })
            .sum();
        dirs + txs
    }

    // ---------------------------------------------------------------- entry points

    /// Attaches a connection-level anomaly (from reassembly) to the message a direction is
    /// reading, or to its next message.
    pub fn note(&mut self, side: Side, a: Anomaly) {
        let d = &mut self.dirs[side.index()];
        match d.tx {
            Some(depth) => {
                if let Some(tx) = self.tx_mut(depth) {
                    tx.anomalies.insert(a);
                }
            }
            None => d.pending.insert(a),
        }
    }

    /// In-order bytes of one direction, starting at stream offset `off`, from a packet at
    /// `ts` that acknowledged `ack` in the opposite stream.
    pub fn on_data(&mut self, side: Side, off: u64, data: &[u8], ts: Timestamp, ack: Option<u64>, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        if self.dirs[s].st == St::Off || data.is_empty() {
            return;
        }
        if let Some(ws) = self.ws.as_mut() {
            let mut inner = Vec::new();
            ws.0[s].feed(data, &mut inner);
            let off = ws.1[s];
            ws.1[s] += inner.len() as u64;
            if !inner.is_empty() {
                self.run(side, off, &inner, ts, None, ctx);
                self.emit_ready(ctx);
            }
            return;
        }
        if self.dirs[s].role == Role::Unknown {
            self.probe(side, off, data, ts, ack, ctx);
        } else {
            if self.dirs[s].role == Role::Server {
                self.settle_client_head(ctx);
            }
            self.run(side, off, data, ts, ack, ctx);
        }
        self.emit_ready(ctx);
    }

    /// `len` bytes of one direction are missing.
    pub fn on_gap(&mut self, side: Side, off: u64, len: u64, kind: GapKind, ts: Timestamp, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        if self.ws.is_some() {
            // Frame boundaries are lost with the bytes: nothing inside can be followed.
            self.tunnel_off();
            return;
        }
        let d = &mut self.dirs[s];
        d.at_line_start = true;
        match d.role {
            Role::Unknown => {
                // Probe bytes cannot be replayed across a hole.
                d.buf.clear();
                d.probed = 0;
                return;
            }
            Role::Client | Role::Server => {}
        }
        let role = d.role;
        // Bytes the snaplen cut were captured on the wire, just not stored: the exchange is
        // truncated, not lost.
        let gap_anomaly = match (kind, role) {
            (GapKind::Snaplen, _) => Anomaly::SnaplenTruncated,
            (GapKind::Lost, Role::Client) => Anomaly::GapInRequest,
            (GapKind::Lost, _) => Anomaly::GapInResponse,
        };
        match d.st {
            St::Off | St::Tunnel | St::Hold => {}
            St::Idle | St::Resync | St::SkipHead => {
                d.st = St::Resync;
                d.resynced = true;
                d.buf.clear();
            }
            St::Head => {
                // Whatever of the head arrived still makes a record, flagged; a body the
                // partial head announced is lost with it.
                let depth = self.finish_partial_head(side, ts, ctx);
                if self.dirs[s].st == St::Body {
                    self.finish_message(side, ts, off, true, ctx);
                }
                if let Some(tx) = depth.and_then(|dp| self.tx_mut(dp)) {
                    tx.anomalies.insert(gap_anomaly);
                    tx.missed += len;
                    if kind == GapKind::Snaplen {
                        tx.snaplen = true;
                    }
                }
                let d = &mut self.dirs[s];
                if d.st != St::Off {
                    d.st = St::Resync;
                    d.resynced = true;
                    d.buf.clear();
                }
            }
            St::Body => {
                let depth = d.tx;
                let Some(body) = d.body.as_mut() else {
                    d.st = St::Resync;
                    return;
                };
                let p = body.gap(len);
                if let Some(tx) = depth.and_then(|dp| self.tx_mut(dp)) {
                    tx.anomalies.insert(gap_anomaly);
                    tx.missed += if p.lost { len } else { p.consumed };
                    if kind == GapKind::Snaplen {
                        tx.snaplen = true;
                    }
                }
                if p.done || p.lost {
                    self.finish_message(side, ts, off + p.consumed, p.lost, ctx);
                    let d = &mut self.dirs[s];
                    if p.lost || p.consumed < len {
                        d.st = St::Resync;
                        d.resynced = true;
                    }
                }
            }
        }
        self.emit_ready(ctx);
    }

    /// The direction's stream ended (its FIN was reached).
    pub fn on_end(&mut self, side: Side, ts: Timestamp, off: u64, ctx: &mut HttpCtx<'_>) {
        self.end_dir(side, ts, off, ctx);
        self.emit_ready(ctx);
    }

    /// The connection is over: finish every message and write every transaction.
    pub fn close(&mut self, ts: Timestamp, offs: [u64; 2], ctx: &mut HttpCtx<'_>) {
        for side in [Side::Lo, Side::Hi] {
            self.end_dir(side, ts, offs[side.index()], ctx);
        }
        while let Some(mut tx) = self.txs.pop_front() {
            if tx.req.is_some() && tx.rsp_part == Part::Absent {
                tx.anomalies.insert(Anomaly::NoResponse);
            }
            self.emit(tx, ctx);
        }
    }

    // ---------------------------------------------------------------- roles

    fn set_roles(&mut self, client: Side) {
        self.client = Some(client);
        self.dirs[client.index()].role = Role::Client;
        self.dirs[other(client).index()].role = Role::Server;
    }

    /// Bytes from a direction whose role is not known yet.
    fn probe(&mut self, side: Side, off: u64, data: &[u8], ts: Timestamp, ack: Option<u64>, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        let peer = self.dirs[other(side).index()].role;
        if peer != Role::Unknown {
            let client = if peer == Role::Server { side } else { other(side) };
            self.set_roles(client);
            self.replay_probe(side, ctx);
            if self.dirs[s].role == Role::Server {
                self.settle_client_head(ctx);
            }
            self.run(side, off, data, ts, ack, ctx);
            return;
        }
        let d = &mut self.dirs[s];
        if d.buf.is_empty() {
            d.probe_ts = ts;
            d.probe_off = off;
        }
        d.buf.extend_from_slice(data);
        d.probed += data.len();
        let start = d.buf.iter().take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t')).count();
        let b = &d.buf[start..];
        if b.starts_with(&[0x16, 0x03]) || b.starts_with(b"SSH-") {
            // TLS or SSH: not HTTP, and not worth scanning.
            d.buf = Vec::new();
            d.st = St::Off;
            return;
        }
        let at_start = self.starts_known[s] && d.probe_off == 0;
        let req_probe = if at_start { probe_request(b) } else { probe_first_request(b) };
        let decided = match (req_probe, probe_status(b)) {
            (Probe::Yes, _) => Some(Role::Client),
            (_, Probe::Yes) => Some(Role::Server),
            (Probe::NeedMore, _) | (_, Probe::NeedMore) => None,
            (Probe::No, Probe::No) => {
                let r = find_request_start(&d.buf, 0);
                let st = find_status_start(&d.buf, 0);
                match (r, st) {
                    (Some(a), Some(b)) if b < a => Some(Role::Server),
                    (Some(_), _) => Some(Role::Client),
                    (None, Some(_)) => Some(Role::Server),
                    (None, None) => {
                        if d.probed > ctx.cfg.max_probe_bytes {
                            d.buf = Vec::new();
                            d.st = St::Off;
                        } else if d.buf.len() > RESYNC_CARRY {
                            // Keep only the unfinished last line: complete lines were no start.
                            let cut = memchr::memrchr(b'\n', &d.buf).map_or(0, |p| p + 1);
                            d.probe_off += cut as u64;
                            d.buf.drain(..cut);
                            if d.buf.len() > RESYNC_CARRY {
                                d.probe_off += d.buf.len() as u64;
                                d.buf.clear();
                            }
                        }
                        None
                    }
                }
            }
        };
        if let Some(role) = decided {
            let client = if role == Role::Client { side } else { other(side) };
            self.set_roles(client);
            // The peer may have bytes waiting too; they came first in time.
            self.replay_probe(other(side), ctx);
            self.replay_probe(side, ctx);
        }
    }

    /// Runs bytes buffered while the role was unknown through the parser.
    fn replay_probe(&mut self, side: Side, ctx: &mut HttpCtx<'_>) {
        let d = &mut self.dirs[side.index()];
        if d.buf.is_empty() || d.st == St::Off {
            return;
        }
        let buf = std::mem::take(&mut d.buf);
        let (ts, off) = (d.probe_ts, d.probe_off);
        self.run(side, off, &buf, ts, None, ctx);
    }

    // ---------------------------------------------------------------- the byte loop

    fn run(&mut self, side: Side, mut off: u64, mut d: &[u8], ts: Timestamp, ack: Option<u64>, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        // Each pass consumes bytes or changes state; the bound is a guard, not a limit.
        let mut guard = 0u32;
        while !d.is_empty() {
            guard += 1;
            if guard > 100_000 {
                break;
            }
            let consumed = match self.dirs[s].st {
                St::Off => return,
                St::Idle => self.idle(side, off, d, ts, ack, ctx),
                St::Head => self.head(side, off, d, ts, ctx),
                St::Body => self.body(side, off, d, ts, ctx),
                St::SkipHead => self.skip_head(side, d),
                St::Resync => self.resync(side, off, d, ts, ack),
                St::Hold => {
                    let dir = &mut self.dirs[s];
                    if dir.buf.is_empty() {
                        dir.probe_ts = ts;
                        dir.probe_off = off;
                    }
                    let room = RESYNC_CARRY.saturating_sub(dir.buf.len());
                    dir.buf.extend_from_slice(&d[..d.len().min(room)]);
                    d.len()
                }
                St::Tunnel => self.tunnel(side, off, d, ts, ctx),
            };
            let consumed = consumed.min(d.len());
            if consumed > 0 {
                self.dirs[s].at_line_start = d[consumed - 1] == b'\n';
            }
            d = &d[consumed..];
            off += consumed as u64;
        }
    }

    fn idle(&mut self, side: Side, off: u64, d: &[u8], ts: Timestamp, ack: Option<u64>, ctx: &mut HttpCtx<'_>) -> usize {
        let s = side.index();
        let role = self.dirs[s].role;
        // Blank lines between messages are tolerated (RFC 9112 §2.2).
        let skip = d.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        if skip > 0 {
            return skip;
        }
        let probe = if role == Role::Client { probe_request(d) } else { probe_status(d) };
        if role == Role::Server && probe == Probe::No {
            if let Some(idx) = self.next_awaiting() {
                if self.txs[idx].req.as_ref().is_some_and(|r| r.is_http09()) {
                    // HTTP/0.9: the whole response is body, until the connection closes.
                    self.start_http09_response(side, idx, off, ts, ctx);
                    return 0;
                }
            }
        }
        let dir = &mut self.dirs[s];
        match probe {
            Probe::No => {
                dir.pending.insert(if dir.messages == 0 {
                    if role == Role::Client { Anomaly::DataBeforeRequest } else { Anomaly::DataBeforeResponse }
                } else if role == Role::Client {
                    Anomaly::BadRequestLine
                } else {
                    Anomaly::BadStatusLine
                });
                dir.st = St::Resync;
                dir.resynced = true;
                0
            }
            Probe::Yes | Probe::NeedMore => {
                dir.st = St::Head;
                dir.msg_ts = ts;
                dir.msg_off = off;
                dir.msg_ack = ack;
                dir.scan = 0;
                dir.buf.clear();
                0
            }
        }
    }

    /// Where the head in `b` ends. Requests without a version end at their line (HTTP/0.9)
    /// unless header lines follow. `scan` is where an earlier call left off, so a head that
    /// arrives a byte at a time costs linear time.
    fn find_head_end(role: Role, b: &[u8], scan: usize, first: bool) -> HeadEnd {
        let mut from = scan;
        if role == Role::Client && scan == 0 {
            let Some((end, next)) = line_end(b) else { return HeadEnd::Need(0) };
            let line = &b[..end];
            if first && !plausible_first_request(line) {
                return HeadEnd::Reject;
            }
            static VERSION: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
                std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"HTTP/"));
            // A loop over find rather than find_iter, which allocates its state on each call.
            let mut at = 0;
            let has_version = loop {
                match line.get(at..).and_then(|rest| VERSION.find(rest)) {
                    Some(i) if at + i > 0 && matches!(line[at + i - 1], b' ' | b'\t') => break true,
                    Some(i) => at += i + 1,
                    None => break false,
                }
            };
            if !has_version && probe_request(line) == Probe::Yes {
                // HTTP/0.9 ends at its line, unless header lines follow before a blank
                // line (libhtp reads those; they matter, e.g. a User-Agent).
                match headers_follow(&b[next..]) {
                    Some(true) => {}
                    Some(false) => {
                        let rest = &b[next..];
                        let blank = match rest {
                            [b'\n', ..] => 1,
                            [b'\r', b'\n', ..] => 2,
                            _ => 0,
                        };
                        return HeadEnd::Found(next + blank);
                    }
                    None => return HeadEnd::Need(0),
                }
            }
            from = next - 1;
        }
        match head_end(b, from) {
            Some(e) => HeadEnd::Found(e),
            None => HeadEnd::Need(head_end_resume(b).max(from).max(1)),
        }
    }

    fn head(&mut self, side: Side, off: u64, d: &[u8], ts: Timestamp, ctx: &mut HttpCtx<'_>) -> usize {
        let s = side.index();
        let role = self.dirs[s].role;
        // Midstream, the first request must look like one beyond doubt.
        let first = self.dirs[s].messages == 0 && !(self.starts_known[s] && self.dirs[s].msg_off == 0);
        let max = ctx.cfg.max_head_bytes;
        if self.dirs[s].buf.is_empty() {
            match Self::find_head_end(role, d, 0, first) {
                HeadEnd::Found(e) if e <= max => {
                    self.handle_head(side, &d[..e], false, off + e as u64, ts, ctx);
                    return e;
                }
                HeadEnd::Reject => {
                    self.reject_head(side);
                    return 0;
                }
                _ => {}
            }
        }
        let dir = &mut self.dirs[s];
        let prev = dir.buf.len();
        let room = (max + 1).saturating_sub(prev);
        let take = d.len().min(room);
        dir.buf.extend_from_slice(&d[..take]);
        match Self::find_head_end(role, &dir.buf, dir.scan, first) {
            HeadEnd::Reject => {
                // Bytes held so far were no request: hand them to resync, then `d`.
                dir.buf.truncate(prev);
                let held = std::mem::take(&mut dir.buf);
                let held_off = dir.msg_off;
                self.reject_head(side);
                self.run(side, held_off, &held, ts, None, ctx);
                0
            }
            HeadEnd::Found(e) if e <= max && e >= prev => {
                let used = e - prev;
                dir.buf.truncate(e);
                let buf = std::mem::take(&mut dir.buf);
                self.handle_head(side, &buf, false, off + used as u64, ts, ctx);
                let dir = &mut self.dirs[s];
                dir.buf = buf;
                dir.buf.clear();
                used
            }
            HeadEnd::Found(e) if e <= max => {
                // The head ended inside bytes held from before (an HTTP/0.9 line whose end
                // only the next bytes revealed): the rest of those bytes come next, then `d`.
                dir.buf.truncate(prev);
                let mut head = std::mem::take(&mut dir.buf);
                let rest = head.split_off(e);
                let rest_off = dir.msg_off.saturating_add(e as u64);
                self.handle_head(side, &head, false, rest_off, ts, ctx);
                self.run(side, rest_off, &rest, ts, None, ctx);
                0
            }
            _ if dir.buf.len() > max => {
                // Over the bound: parse what fits, skip the rest of the head, then read the
                // body the head announced.
                dir.buf.truncate(max);
                let buf = std::mem::take(&mut dir.buf);
                self.handle_head(side, &buf, true, off + take as u64, ts, ctx);
                let dir = &mut self.dirs[s];
                dir.buf = buf;
                dir.buf.clear();
                if !matches!(dir.st, St::Off | St::Resync) {
                    dir.after_skip = dir.st;
                    dir.st = St::SkipHead;
                }
                take
            }
            HeadEnd::Found(_) => take,
            HeadEnd::Need(resume) => {
                dir.scan = resume;
                take
            }
        }
    }

    /// What looked like the start of a first request is not one.
    fn reject_head(&mut self, side: Side) {
        let dir = &mut self.dirs[side.index()];
        dir.pending.insert(Anomaly::DataBeforeRequest);
        dir.st = St::Resync;
        dir.resynced = true;
        dir.scan = 0;
    }

    /// A complete (or over-long) head: make or pair the transaction and pick the framing.
    fn handle_head(&mut self, side: Side, head: &[u8], too_long: bool, end_off: u64, ts: Timestamp, ctx: &mut HttpCtx<'_>) {
        match self.dirs[side.index()].role {
            Role::Client => self.handle_request_head(side, head, too_long, end_off, ts, ctx),
            _ => self.handle_response_head(side, head, too_long, ts, ctx),
        }
    }

    fn handle_request_head(&mut self, side: Side, head: &[u8], too_long: bool, end_off: u64, ts: Timestamp, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        let mut anomalies = std::mem::take(&mut self.dirs[s].pending);
        if too_long {
            anomalies.insert(Anomaly::HeaderTooLong);
        }
        let mut headers: Vec<RawHeader<'_>> = Vec::with_capacity(HEADERS_CAPACITY);
        let line = match strict_request(head, ctx.cfg.max_headers, &mut headers) {
            Some(l) => Some(l),
            None => {
                headers.clear();
                let (le, next) = line_end(head).unwrap_or((head.len(), head.len()));
                parse_request_line(&head[..le], &mut anomalies).inspect(|_| {
                    parse_headers(&head[next..], ctx.cfg.max_headers, &mut headers, &mut anomalies);
                })
            }
        };
        let Some(line) = line else {
            let dir = &mut self.dirs[s];
            anomalies.insert(Anomaly::BadRequestLine);
            dir.pending = anomalies;
            dir.st = St::Resync;
            dir.resynced = true;
            return;
        };
        let info = request_info(&line, &headers, head.len(), ctx.hasher, &mut anomalies);
        let dir = &mut self.dirs[s];
        if std::mem::take(&mut dir.resynced) && dir.messages > 0 {
            anomalies.insert(Anomaly::Resynced);
        }
        dir.messages += 1;
        let depth = self.next_depth;
        self.next_depth += 1;
        let mut tx = Box::new(Tx::new(depth));
        tx.req_ts = Some(dir.msg_ts);
        tx.req_start_off = dir.msg_off;
        tx.req_wire = head.len() as u64;
        tx.anomalies = anomalies;
        let framing = info.framing.unwrap_or(Framing::None);
        let connect = info.is_connect();
        let decoder = ContentDecoder::inflating(
            info.coding.unwrap_or(super::body::Coding::Identity),
            ctx.cfg.max_decoded_body,
            sample_cap(ctx.cfg, info.content_type.as_deref()),
        );
        tx.req = Some(info);
        tx.req_part = Part::Open;
        self.push_tx(tx, ctx);
        let dir = &mut self.dirs[s];
        dir.tx = Some(depth);
        dir.body = Some(BodyReader::new(framing, decoder));
        if matches!(framing, Framing::None | Framing::Length(0)) {
            self.finish_message(side, ts, end_off, false, ctx);
            if connect {
                self.dirs[s].st = St::Hold;
            }
        } else {
            self.dirs[s].st = St::Body;
        }
    }

    fn handle_response_head(&mut self, side: Side, head: &[u8], too_long: bool, ts: Timestamp, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        let mut anomalies = std::mem::take(&mut self.dirs[s].pending);
        if too_long {
            anomalies.insert(Anomaly::HeaderTooLong);
        }
        let mut headers = Vec::with_capacity(HEADERS_CAPACITY);
        let status = match strict_response(head, ctx.cfg.max_headers, &mut headers) {
            Some(st) => Some(st),
            None => {
                headers.clear();
                let (le, next) = line_end(head).unwrap_or((head.len(), head.len()));
                parse_status_line(&head[..le], &mut anomalies).inspect(|_| {
                    parse_headers(&head[next..], ctx.cfg.max_headers, &mut headers, &mut anomalies);
                })
            }
        };
        let Some(status) = status else {
            let dir = &mut self.dirs[s];
            anomalies.insert(Anomaly::BadStatusLine);
            dir.pending = anomalies;
            dir.st = St::Resync;
            dir.resynced = true;
            return;
        };
        let dir = &mut self.dirs[s];
        let resynced = std::mem::take(&mut dir.resynced);
        let (msg_ts, msg_ack) = (dir.msg_ts, dir.msg_ack);
        dir.messages += 1;
        let idx = self.pair_response(resynced, msg_ack);
        let req = idx.and_then(|i| self.txs[i].req.as_ref());
        let info = response_info(&status, &headers, head.len(), req, &mut anomalies);
        let code = info.code;
        if resynced && self.dirs[s].messages > 1 {
            anomalies.insert(Anomaly::Resynced);
        }
        let idx = match idx {
            Some(i) => i,
            None => {
                let depth = self.next_depth;
                self.next_depth += 1;
                let mut tx = Box::new(Tx::new(depth));
                tx.anomalies.insert(Anomaly::UnmatchedResponse);
                self.push_tx(tx, ctx);
                self.txs.len() - 1
            }
        };
        let interim = (100..200).contains(&code) && code != 101;
        let tx = &mut self.txs[idx];
        tx.anomalies.extend(&anomalies);
        if interim {
            tx.interims += 1;
            if tx.interims > 1 {
                tx.anomalies.insert(Anomaly::RepeatedInterimResponse);
            }
            tx.info_code = Some(code);
            tx.info_msg = Some(info.reason.to_string());
            self.dirs[s].st = St::Idle;
            return;
        }
        // A 1.1 server answering a 1.0 request with "HTTP/1.1" is normal (RFC 9110 §6.2);
        // a different major version is not.
        if let Some(qv) = tx.req.as_ref().and_then(|r| r.version.as_deref()) {
            fn major(v: &str) -> &str {
                v.split('.').next().unwrap_or_default()
            }
            if major(qv) != major(&info.version) {
                tx.anomalies.insert(Anomaly::VersionMismatch);
            }
        }
        let tunnel = code == 101 || (tx.req.as_ref().is_some_and(|r| r.is_connect()) && (200..300).contains(&code));
        let websocket = code == 101 && info.upgrade.as_deref().is_some_and(|u| u.to_ascii_lowercase().contains("websocket"));
        let framing = info.framing.unwrap_or(Framing::Close);
        let coding = info.coding.unwrap_or(super::body::Coding::Identity);
        let cap = sample_cap(ctx.cfg, info.content_type.as_deref());
        tx.rsp_ts = Some(msg_ts);
        tx.rsp_wire = head.len() as u64;
        tx.rsp = Some(info);
        tx.rsp_part = Part::Open;
        let depth = tx.depth;
        let dir = &mut self.dirs[s];
        dir.tx = Some(depth);
        dir.body = Some(BodyReader::new(framing, ContentDecoder::new(coding, ctx.cfg.max_decoded_body, cap)));
        if matches!(framing, Framing::None | Framing::Length(0)) {
            let off = dir.msg_off + head.len() as u64;
            self.finish_message(side, ts, off, false, ctx);
        } else {
            dir.st = St::Body;
        }
        if tunnel {
            if websocket {
                self.ws = Some(Box::default());
            }
            self.open_tunnel(ctx);
        } else {
            // A refused CONNECT: the client bytes held back are ordinary HTTP again.
            let c = other(side).index();
            if self.dirs[c].st == St::Hold {
                self.dirs[c].st = St::Idle;
                let (ts, off) = (self.dirs[c].probe_ts, self.dirs[c].probe_off);
                let held = std::mem::take(&mut self.dirs[c].buf);
                self.run(other(side), off, &held, ts, None, ctx);
            }
        }
    }

    /// Which waiting request a response answers. See the module docs for the rule after a
    /// resync.
    fn pair_response(&mut self, resynced: bool, ack: Option<u64>) -> Option<usize> {
        let first = self.next_awaiting()?;
        if !resynced {
            return Some(first);
        }
        let Some(ack) = ack else { return Some(first) };
        let mut chosen = first;
        for (i, tx) in self.txs.iter().enumerate().skip(first) {
            if tx.awaiting_response() && tx.req_end_off.is_some_and(|e| e <= ack) {
                chosen = i;
            }
        }
        for i in first..chosen {
            let tx = &mut self.txs[i];
            if tx.awaiting_response() {
                tx.rsp_part = Part::Lost;
                tx.anomalies.insert(Anomaly::NoResponse);
                tx.anomalies.insert(Anomaly::GapInResponse);
            }
        }
        Some(chosen)
    }

    fn next_awaiting(&self) -> Option<usize> {
        self.txs.iter().position(|t| t.awaiting_response())
    }

    fn start_http09_response(&mut self, side: Side, idx: usize, off: u64, ts: Timestamp, ctx: &mut HttpCtx<'_>) {
        let tx = &mut self.txs[idx];
        tx.rsp = Some(ResponseInfo { version: "0.9".into(), framing: Some(Framing::Close), ..Default::default() });
        tx.rsp_part = Part::Open;
        tx.rsp_ts = Some(ts);
        let depth = tx.depth;
        let dir = &mut self.dirs[side.index()];
        dir.tx = Some(depth);
        dir.msg_ts = ts;
        dir.msg_off = off;
        dir.messages += 1;
        dir.body = Some(BodyReader::new(
            Framing::Close,
            ContentDecoder::new(super::body::Coding::Identity, ctx.cfg.max_decoded_body, ctx.cfg.body_sample),
        ));
        dir.st = St::Body;
    }

    fn body(&mut self, side: Side, off: u64, d: &[u8], ts: Timestamp, ctx: &mut HttpCtx<'_>) -> usize {
        let s = side.index();
        let dir = &mut self.dirs[s];
        let depth = dir.tx;
        let Some(body) = dir.body.as_mut() else {
            dir.st = St::Idle;
            return 0;
        };
        let mut scratch = AnomalySet::default();
        let p = body.feed(d, &mut scratch);
        if let Some(tx) = depth.and_then(|dp| self.tx_mut(dp)) {
            tx.anomalies.extend(&scratch);
        }
        let used = p.consumed as usize;
        if p.done || p.lost {
            self.finish_message(side, ts, off + used as u64, p.lost, ctx);
            if p.lost {
                let dir = &mut self.dirs[s];
                dir.st = St::Resync;
                dir.resynced = true;
            }
        }
        used
    }

    /// The message this direction was reading is over: record its sizes and timing.
    fn finish_message(&mut self, side: Side, ts: Timestamp, end_off: u64, truncated: bool, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        let dir = &mut self.dirs[s];
        let role = dir.role;
        let depth = dir.tx.take();
        let body = dir.body.take();
        if dir.st != St::Off {
            dir.st = St::Idle;
        }
        let msg_off = dir.msg_off;
        let Some(tx) = depth.and_then(|dp| self.tx_mut(dp)) else { return };
        // Body length counts decoded bytes plus the bytes a gap took (as Zeek does): it
        // describes the message; `missed_bytes` says how much of it the capture lacked.
        let (decoded, sample, mut anomalies) = match body {
            Some(mut b) => {
                b.finish_decoder(!truncated);
                let mut a = AnomalySet::default();
                b.decoder().anomalies(&mut a);
                let missing = b.missing;
                let mut dec = b.into_decoder();
                let sample = dec.take_sample();
                (dec.decoded + missing, sample, a)
            }
            None => (0, Vec::new(), AnomalySet::default()),
        };
        let part = if truncated { Part::Truncated } else { Part::Complete };
        let wire = end_off.saturating_sub(msg_off);
        let ct = match role {
            Role::Client => tx.req.as_ref().and_then(|r| r.content_type.as_deref()),
            _ => tx.rsp.as_ref().and_then(|r| r.content_type.as_deref()),
        };
        let (sample, capture) = split_sample(sample, ctx.cfg, ct);
        if role == Role::Client {
            tx.req_part = part;
            tx.req_end_ts = Some(ts);
            tx.req_end_off = Some(end_off);
            tx.req_body_len = decoded;
            tx.req_wire = tx.req_wire.max(wire);
            tx.req_sample = sample;
            tx.req_capture = capture;
            if truncated {
                anomalies.insert(Anomaly::RequestTruncated);
            }
        } else {
            tx.rsp_part = part;
            tx.rsp_end_ts = Some(ts);
            tx.rsp_body_len = decoded;
            tx.rsp_wire = tx.rsp_wire.max(wire);
            tx.rsp_sample = sample;
            tx.rsp_capture = capture;
            if truncated {
                anomalies.insert(Anomaly::ResponseTruncated);
            }
        }
        tx.anomalies.extend(&anomalies);
    }

    fn skip_head(&mut self, side: Side, d: &[u8]) -> usize {
        let dir = &mut self.dirs[side.index()];
        // Keep the last few bytes so a blank line split across calls is still found.
        let keep = dir.buf.len();
        dir.buf.extend_from_slice(&d[..d.len().min(RESYNC_CARRY)]);
        match head_end(&dir.buf, 0) {
            Some(e) => {
                dir.buf.clear();
                dir.st = dir.after_skip;
                e.saturating_sub(keep).min(d.len())
            }
            None => {
                let tail = dir.buf.len().saturating_sub(3);
                dir.buf.drain(..tail);
                d.len().min(RESYNC_CARRY)
            }
        }
    }

    fn resync(&mut self, side: Side, off: u64, d: &[u8], ts: Timestamp, ack: Option<u64>) -> usize {
        let dir = &mut self.dirs[side.index()];
        let client = dir.role == Role::Client;
        let find = |b: &[u8]| if client { find_request_start(b, 0) } else { find_status_start(b, 0) };
        if !dir.buf.is_empty() {
            // Complete the carried partial line and test it alone.
            let Some(nl) = memchr::memchr(b'\n', d) else {
                let room = RESYNC_CARRY.saturating_sub(dir.buf.len());
                dir.buf.extend_from_slice(&d[..d.len().min(room)]);
                return d.len();
            };
            let mut line = std::mem::take(&mut dir.buf);
            let had = line.len();
            line.extend_from_slice(&d[..=nl]);
            if find(&line) == Some(0) {
                // The message started in the carried bytes: continue it as a head.
                dir.buf = line;
                dir.st = St::Head;
                dir.scan = 0;
                dir.msg_off = off.saturating_sub(had as u64);
                dir.msg_ts = ts;
                dir.msg_ack = ack;
                return nl + 1;
            }
            dir.buf = Vec::new();
            return nl + 1;
        }
        let from = if dir.at_line_start { 0 } else { memchr::memchr(b'\n', d).map_or(d.len(), |p| p + 1) };
        if from >= d.len() {
            return d.len();
        }
        match find(&d[from..]) {
            Some(p) => {
                dir.st = St::Idle;
                // Make sure the loop lands exactly on the start.
                if from + p == 0 {
                    // Nothing to skip: let Idle take it.
                    return 0;
                }
                from + p
            }
            None => {
                let rest = &d[from..];
                let cut = memchr::memrchr(b'\n', rest).map_or(0, |p| p + 1);
                let tail = &rest[cut..];
                if tail.len() <= RESYNC_CARRY {
                    dir.buf.extend_from_slice(tail);
                }
                d.len()
            }
        }
    }

    fn open_tunnel(&mut self, ctx: &mut HttpCtx<'_>) {
        let mut held = None;
        for d in self.dirs.iter_mut() {
            if d.st == St::Hold {
                held = Some((std::mem::take(&mut d.buf), d.probe_off, d.probe_ts));
            }
            if d.st != St::Off {
                d.st = St::Tunnel;
                d.body = None;
                d.tx = None;
            }
        }
        // Client bytes sent before the tunnel was confirmed are its first bytes.
        if let (Some(c), Some((buf, off, ts))) = (self.client, held) {
            if !buf.is_empty() {
                self.run(c, off, &buf, ts, None, ctx);
            }
        }
    }

    /// Bytes inside a tunnel: HTTP carries on only if the client speaks it.
    fn tunnel(&mut self, side: Side, off: u64, d: &[u8], ts: Timestamp, ctx: &mut HttpCtx<'_>) -> usize {
        let s = side.index();
        // Stray line ends after the CONNECT exchange are not the tunnel's first bytes.
        let ws = d.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        if ws > 0 && self.dirs[s].buf.is_empty() {
            return ws;
        }
        if self.dirs[s].role != Role::Client {
            // The server spoke first (SMTP banner, TLS from a server...): not HTTP.
            self.tunnel_off();
            return d.len();
        }
        let dir = &mut self.dirs[s];
        if dir.buf.is_empty() {
            dir.probe_ts = ts;
            dir.probe_off = off;
        }
        let room = RESYNC_CARRY.saturating_sub(dir.buf.len());
        let take = d.len().min(room);
        dir.buf.extend_from_slice(&d[..take]);
        match probe_request(&dir.buf) {
            Probe::Yes => {
                let held = std::mem::take(&mut dir.buf);
                for dd in self.dirs.iter_mut() {
                    if dd.st == St::Tunnel {
                        dd.st = St::Idle;
                        dd.messages = 0;
                    }
                }
                let (ts, off) = (self.dirs[s].probe_ts, self.dirs[s].probe_off);
                self.run(side, off, &held, ts, None, ctx);
                take
            }
            Probe::NeedMore if take == d.len() => take,
            _ => {
                self.tunnel_off();
                d.len()
            }
        }
    }

    fn tunnel_off(&mut self) {
        for d in self.dirs.iter_mut() {
            d.st = St::Off;
            d.buf = Vec::new();
        }
    }

    /// The server is talking while the client's head is still incomplete: the request is
    /// whatever the client sent (HTTP/0.9 lines, heads without a blank line).
    ///
    /// Only when every earlier request has its response: otherwise the server is answering
    /// one of those, and the partial head is just a pipelined request still arriving.
    fn settle_client_head(&mut self, ctx: &mut HttpCtx<'_>) {
        let Some(c) = self.client else { return };
        if self.next_awaiting().is_some() || self.dirs[c.opposite().index()].st != St::Idle {
            return;
        }
        let d = &self.dirs[c.index()];
        if d.st == St::Head && line_end(&d.buf).is_some() {
            let ts = d.msg_ts;
            self.finish_partial_head(c, ts, ctx);
        }
    }

    /// Turns a partial head into a message. Returns the depth of the transaction it made.
    fn finish_partial_head(&mut self, side: Side, ts: Timestamp, ctx: &mut HttpCtx<'_>) -> Option<u32> {
        let s = side.index();
        let dir = &mut self.dirs[s];
        if dir.st != St::Head || dir.buf.is_empty() {
            return None;
        }
        let mut buf = std::mem::take(&mut dir.buf);
        // An unfinished last header line is not evidence of anything; keep whole lines.
        if let Some(nl) = memchr::memrchr(b'\n', &buf) {
            if line_end(&buf).is_some_and(|(_, first_next)| first_next <= nl + 1) {
                buf.truncate(nl + 1);
            }
        }
        let end = dir.msg_off + buf.len() as u64;
        let before = self.next_depth;
        self.handle_head(side, &buf, false, end, ts, ctx);
        let d = &mut self.dirs[s];
        d.buf = buf;
        d.buf.clear();
        match d.role {
            Role::Client => {
                let depth = (self.next_depth > before).then(|| self.next_depth - 1)?;
                // The Host header may simply be past the cut.
                if let Some(tx) = self.tx_mut(depth) {
                    tx.anomalies.remove(Anomaly::MissingHost);
                }
                Some(depth)
            }
            _ => self.txs.iter().rev().find(|t| t.rsp_part != Part::Absent).map(|t| t.depth),
        }
    }

    fn end_dir(&mut self, side: Side, ts: Timestamp, off: u64, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        if self.dirs[s].ended {
            return;
        }
        self.dirs[s].ended = true;
        match self.dirs[s].st {
            St::Head => {
                if let Some(depth) = self.finish_partial_head(side, ts, ctx) {
                    if let Some(tx) = self.tx_mut(depth) {
                        let ins = if tx.rsp_part == Part::Absent && tx.req_part != Part::Absent {
                            Anomaly::RequestTruncated
                        } else {
                            Anomaly::ResponseTruncated
                        };
                        tx.anomalies.insert(ins);
                    }
                }
                // The head may have opened a body that the end of stream now closes.
                if self.dirs[s].st == St::Body {
                    self.end_body(side, ts, off, ctx);
                }
            }
            St::Body => self.end_body(side, ts, off, ctx),
            _ => {}
        }
        let d = &mut self.dirs[s];
        d.st = St::Off;
        d.buf = Vec::new();
    }

    fn end_body(&mut self, side: Side, ts: Timestamp, off: u64, ctx: &mut HttpCtx<'_>) {
        let s = side.index();
        let complete = self.dirs[s].body.as_mut().is_some_and(|b| b.end_of_stream());
        self.finish_message(side, ts, off, !complete, ctx);
    }

    // ---------------------------------------------------------------- transactions

    fn tx_mut(&mut self, depth: u32) -> Option<&mut Tx> {
        let front = self.txs.front()?.depth;
        let i = depth.checked_sub(front)? as usize;
        // Depths are increasing but not always contiguous after emission; search near i.
        match self.txs.get(i) {
            Some(t) if t.depth == depth => self.txs.get_mut(i).map(|b| &mut **b),
            _ => self.txs.iter_mut().find(|t| t.depth == depth).map(|b| &mut **b),
        }
    }

    fn push_tx(&mut self, tx: Box<Tx>, ctx: &mut HttpCtx<'_>) {
        self.txs.push_back(tx);
        while self.txs.len() > ctx.cfg.max_pending.max(1) {
            let Some(mut old) = self.txs.pop_front() else { break };
            old.anomalies.insert(Anomaly::TooManyPendingRequests);
            if old.rsp_part == Part::Absent && old.req.is_some() {
                old.anomalies.insert(Anomaly::NoResponse);
            }
            // Directions reading this transaction's messages stop referring to it.
            for d in self.dirs.iter_mut() {
                if d.tx == Some(old.depth) {
                    d.tx = None;
                }
            }
            self.emit(old, ctx);
        }
    }

    fn emit_ready(&mut self, ctx: &mut HttpCtx<'_>) {
        while self.txs.front().is_some_and(|t| t.settled()) {
            if let Some(tx) = self.txs.pop_front() {
                self.emit(tx, ctx);
            }
        }
    }

    fn emit(&mut self, mut tx: Box<Tx>, ctx: &mut HttpCtx<'_>) {
        let client = self.client.unwrap_or(Side::Lo);
        if tx.req_part == Part::Open {
            tx.req_part = Part::Truncated;
            tx.anomalies.insert(Anomaly::RequestTruncated);
        }
        if tx.rsp_part == Part::Open {
            tx.rsp_part = Part::Truncated;
            tx.anomalies.insert(Anomaly::ResponseTruncated);
        }
        if tx.snaplen {
            tx.anomalies.insert(Anomaly::SnaplenTruncated);
        }
        (ctx.emit)(HttpTransaction {
            client,
            depth: tx.depth,
            request: tx.req,
            response: tx.rsp,
            request_part: tx.req_part,
            response_part: tx.rsp_part,
            request_ts: tx.req_ts,
            request_end_ts: tx.req_end_ts,
            response_ts: tx.rsp_ts,
            response_end_ts: tx.rsp_end_ts,
            request_body_len: tx.req_body_len,
            response_body_len: tx.rsp_body_len,
            request_wire_len: tx.req_wire,
            response_wire_len: tx.rsp_wire,
            request_body_sample: tx.req_sample,
            response_body_sample: tx.rsp_sample,
            request_body_capture: tx.req_capture,
            response_body_capture: tx.rsp_capture,
            info_code: tx.info_code,
            info_msg: tx.info_msg,
            anomalies: tx.anomalies,
            missed_bytes: tx.missed,
            snaplen_truncated: tx.snaplen,
        });
    }
}

#[cfg(test)]
mod tests;
