//! The flow table: one entry per TCP connection, its TCP state, its two reassembled
//! streams, and its HTTP state.
//!
//! Guarantees and bounds:
//! - At most `max_flows` connections are tracked, and the memory they hold (flow entries,
//!   out-of-order buffers, HTTP heads, body decoders and queued transactions) stays under
//!   the global `max_memory`. Beyond either bound the least recently active connection is
//!   finished early: its records are written, flagged `flow_evicted`, and the eviction is
//!   counted. State is never wiped wholesale.
//! - Time is packet time. A connection idle for `idle_timeout_secs` is finished; one that
//!   was reset lingers `closed_linger_secs` for late segments (RST evasion tricks send data
//!   after a RST the receiver ignored).
//! - A SYN on a connection that already ended starts a new connection with a new uid.
//! - Connections whose bytes are not HTTP stop being reassembled once the HTTP layer gives
//!   up on both directions.

mod key;
pub mod tcp;

pub use key::{make_uid, Endpoint, FlowKey, Side};

use crate::anomaly::{Anomaly, AnomalySet};
use crate::config::{FlowConfig, HttpConfig};
use crate::decode::{PacketMeta, TcpSegment};
use crate::hash::CredentialHasher;
use crate::http::{HttpConn, HttpCtx};
use crate::reassembly::{HalfStream, Seq, StreamEvent, StreamStats};
use crate::record::{ApiCall, ConnInfo};
use crate::time::Timestamp;
use hashlink::LinkedHashMap;
use std::collections::VecDeque;
use tcp::{TcpEvent, TcpState};

/// Why a flow was finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// Both FINs seen and both streams delivered.
    Closed,
    /// Reset, after the linger time.
    Reset,
    /// No packet for the idle timeout.
    Idle,
    /// A new connection reused the ports.
    Reused,
    /// Memory or flow-count pressure.
    Evicted,
    /// End of input.
    Shutdown,
}

/// Where in the processing a record was written, relative to the packet or tick being
/// handled. Records sort by (packet sequence, [`EmitPoint`], order of writing); that order
/// is the same whether one table or several sharded tables did the work, which is how
/// replay output stays the same at any thread count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct EmitPoint {
    /// 0: timeouts of idle flows; 1: the linger of reset flows ending; 2: the packet itself
    /// (and the end of input).
    pub phase: u8,
    /// For timeouts, lingers and the end of input: the sequence number of the flow's last
    /// packet (or of its RST), the order a single table finishes them in.
    pub flow_seq: u64,
}

impl EmitPoint {
    pub const PACKET: EmitPoint = EmitPoint { phase: 2, flow_seq: 0 };
}

/// Counters of the flow table.
#[derive(Clone, Debug, Default)]
pub struct FlowStats {
    pub flows: u64,
    pub segments: u64,
    /// Segments that matched no flow and could not start one (stray ACKs and RSTs).
    pub orphan_segments: u64,
    pub reused: u64,
    pub closed: u64,
    pub reset: u64,
    pub timed_out: u64,
    pub evicted_memory: u64,
    pub evicted_flow_limit: u64,
    pub http_flows: u64,
    pub streams: StreamStats,
    /// Highest memory held at once.
    pub peak_memory: usize,
}

impl FlowStats {
    /// Adds another table's counters (several shards make one summary).
    pub fn add(&mut self, o: &FlowStats) {
        self.flows += o.flows;
        self.segments += o.segments;
        self.orphan_segments += o.orphan_segments;
        self.reused += o.reused;
        self.closed += o.closed;
        self.reset += o.reset;
        self.timed_out += o.timed_out;
        self.evicted_memory += o.evicted_memory;
        self.evicted_flow_limit += o.evicted_flow_limit;
        self.http_flows += o.http_flows;
        add_stats(&mut self.streams, &o.streams);
        // Shards peak at different moments; the sum bounds the whole from above.
        self.peak_memory += o.peak_memory;
    }
}

/// A connection's state that exists from its first packet. Kept small: a SYN flood makes
/// millions of these and nothing more.
struct Flow {
    key: FlowKey,
    first_ts: Timestamp,
    first_seq: u32,
    last_ts: Timestamp,
    /// Sequence number of the last packet seen (its place in the input).
    last_seq: u64,
    orig: Side,
    tcp: TcpState,
    /// ISNs seen before any data made the streams.
    isn: [Option<u32>; 2],
    closing_since: Option<Timestamp>,
    mem: usize,
    meta: PacketMeta,
    /// Streams and HTTP state, from the first byte of payload on.
    conn: Option<Box<Conn>>,
}

/// What a connection that carried data holds.
struct Conn {
    uid: String,
    half: [HalfStream; 2],
    http: Option<Box<HttpConn>>,
    /// False once the HTTP layer gave up on both directions.
    parsing: bool,
    anomalies: AnomalySet,
    ended: [bool; 2],
    /// Per side: its SYN was seen, so its stream is known from the start.
    syn_seen: [bool; 2],
    conflicts_seen: [u64; 2],
}

/// Memory of a flow entry in the table: the entry, its key stored by the map, the map's
/// list links and slot, and the allocator's overhead.
const FLOW_OVERHEAD: usize = std::mem::size_of::<Flow>() + std::mem::size_of::<FlowKey>() + 48;
const CONN_OVERHEAD: usize = std::mem::size_of::<Conn>() + 16;

impl Flow {
    fn held(&self) -> usize {
        FLOW_OVERHEAD
            + self.conn.as_ref().map_or(0, |c| {
                CONN_OVERHEAD
                    + c.uid.capacity()
                    + c.half[0].footprint()
                    + c.half[1].footprint()
                    + c.http.as_ref().map_or(0, |h| std::mem::size_of::<HttpConn>() + h.held_bytes())
            })
    }

    /// Whether a SYN from `side` starts a new connection on these ports: the old one ended,
    /// or data flowed and the SYN's sequence number is not this stream's.
    fn reopened_by(&self, side: Side, seq: u32) -> bool {
        if matches!(self.tcp, TcpState::Closed | TcpState::Reset) {
            return true;
        }
        let Some(c) = &self.conn else {
            return self.isn[side.index()].is_some_and(|isn| isn != seq) && self.tcp == TcpState::Established;
        };
        let h = &c.half[side.index()];
        h.started() && h.next_offset() > 0 && h.offset_of(Seq(seq).wrapping_add(1)).is_none_or(|o| o > 0)
    }

    /// The streams, made on first need with whatever SYNs were seen.
    fn conn(&mut self) -> &mut Conn {
        let (key, first_ts, first_seq, isn) = (self.key, self.first_ts, self.first_seq, self.isn);
        self.conn.get_or_insert_with(|| {
            let mut c = Box::new(Conn {
                uid: make_uid(&key, first_ts.0, first_seq),
                half: [HalfStream::default(), HalfStream::default()],
                http: None,
                parsing: true,
                anomalies: AnomalySet::default(),
                ended: [false; 2],
                syn_seen: [false; 2],
                conflicts_seen: [0; 2],
            });
            for (i, isn) in isn.iter().enumerate() {
                if let Some(isn) = isn {
                    c.half[i].on_syn(Seq(*isn));
                    c.syn_seen[i] = true;
                }
            }
            c
        })
    }
}

/// Everything needed to turn stream events into records, borrowed apart from the flow's
/// streams so both can be used at once.
struct Emit<'a> {
    /// Packet time of the event being processed.
    now: Timestamp,
    at: EmitPoint,
    http_cfg: &'a HttpConfig,
    hasher: &'a CredentialHasher,
    sink: &'a mut dyn FnMut(ApiCall, EmitPoint),
    transactions: &'a mut u64,
}

impl Emit<'_> {
    /// Runs `f` with an HTTP context whose finished transactions become records of `conn`.
    fn http<R>(&mut self, conn: &ConnInfo<'_>, f: impl FnOnce(&mut HttpCtx<'_>) -> R) -> R {
        let sink = &mut *self.sink;
        let count = &mut *self.transactions;
        let at = self.at;
        let mut emit = |tx| {
            *count += 1;
            sink(ApiCall::from_transaction(tx, conn), at);
        };
        f(&mut HttpCtx { cfg: self.http_cfg, hasher: self.hasher, emit: &mut emit })
    }
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    http: &mut Option<Box<HttpConn>>,
    parsing: &mut bool,
    syn_seen: [bool; 2],
    conn: &ConnInfo<'_>,
    side: Side,
    ev: StreamEvent<'_>,
    e: &mut Emit<'_>,
) {
    if !*parsing {
        return;
    }
    let h = http.get_or_insert_with(|| Box::new(HttpConn::new()));
    h.set_stream_starts(syn_seen);
    let now = e.now;
    e.http(conn, |ctx| match ev {
        StreamEvent::Data { offset, data, ts, peer_ack } => h.on_data(side, offset, data, ts, peer_ack, ctx),
        StreamEvent::Gap { offset, len, kind } => h.on_gap(side, offset, len, kind, now, ctx),
    });
    if h.is_off() {
        *parsing = false;
        // Not HTTP (TLS, SSH...) and nothing left to write: free the state now rather than
        // when the connection ends.
        if h.is_idle() {
            *http = None;
        }
    }
}

/// What applying a segment did, for the table to account for after the flow's borrow.
struct Applied {
    mem_before: usize,
    mem_after: usize,
    closed: bool,
    reset_at: Option<Timestamp>,
}

/// The table of live connections.
pub struct FlowTable {
    flows: LinkedHashMap<FlowKey, Flow, foldhash::fast::RandomState>,
    /// Reset flows waiting out their linger: (time of the RST, its packet, the flow).
    closing: VecDeque<(Timestamp, u64, FlowKey)>,
    cfg: FlowConfig,
    http_cfg: HttpConfig,
    hasher: CredentialHasher,
    max_memory: usize,
    mem: usize,
    transactions: u64,
    pub stats: FlowStats,
}

impl FlowTable {
    pub fn new(cfg: FlowConfig, http_cfg: HttpConfig, hasher: CredentialHasher, max_memory: usize) -> FlowTable {
        FlowTable {
            flows: LinkedHashMap::with_hasher(foldhash::fast::RandomState::default()),
            closing: VecDeque::new(),
            cfg,
            http_cfg,
            hasher,
            max_memory,
            mem: 0,
            transactions: 0,
            stats: FlowStats::default(),
        }
    }

    /// Connections tracked now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Bytes held by all connections now.
    pub fn memory(&self) -> usize {
        self.mem
    }

    /// Records written so far.
    pub fn transactions(&self) -> u64 {
        self.transactions
    }

    /// Feeds one TCP segment, the `seq`-th packet of the input; records that complete go to
    /// `sink`. Timeouts are not checked here: call [`FlowTable::tick`] as packet time moves.
    pub fn process(&mut self, seg: &TcpSegment<'_>, seq: u64, sink: &mut dyn FnMut(ApiCall, EmitPoint)) {
        self.stats.segments += 1;
        let src = Endpoint { ip: seg.src, port: seg.src_port };
        let dst = Endpoint { ip: seg.dst, port: seg.dst_port };
        let (key, side) = FlowKey::of(src, dst);
        let syn_only = seg.flags.syn() && !seg.flags.ack();

        // The common case, an existing flow, costs one lookup: apply the segment inside it.
        let mut reopen = false;
        let applied = {
            let FlowTable { flows, cfg, http_cfg, hasher, transactions, .. } = self;
            match flows.to_back(&key) {
                Some(flow) if syn_only && flow.reopened_by(side, seg.seq) => {
                    reopen = true;
                    None
                }
                Some(flow) => Some(Self::apply(flow, seg, side, seq, cfg, &mut Emit {
                    now: seg.ts,
                    at: EmitPoint::PACKET,
                    http_cfg,
                    hasher,
                    sink: &mut *sink,
                    transactions,
                })),
                None => None,
            }
        };
        let applied = match applied {
            Some(a) => a,
            None => {
                if reopen {
                    self.stats.reused += 1;
                    self.finish(&key, FinishReason::Reused, EmitPoint::PACKET, sink);
                }
                let has_data = !seg.payload.is_empty() || seg.missing > 0;
                if !(seg.flags.syn() || has_data || seg.flags.fin()) {
                    self.stats.orphan_segments += 1;
                    return;
                }
                while self.flows.len() >= self.cfg.max_flows.max(1) {
                    let Some(oldest) = self.flows.front().map(|(k, _)| *k) else { break };
                    self.stats.evicted_flow_limit += 1;
                    self.finish(&oldest, FinishReason::Evicted, EmitPoint::PACKET, sink);
                }
                let flow = Flow {
                    key,
                    first_ts: seg.ts,
                    first_seq: seg.seq,
                    last_ts: seg.ts,
                    last_seq: seq,
                    orig: guess_originator(seg, side),
                    tcp: TcpState::Unknown,
                    isn: [None; 2],
                    closing_since: None,
                    mem: 0,
                    meta: seg.meta,
                    conn: None,
                };
                self.stats.flows += 1;
                self.flows.insert(key, flow);
                let FlowTable { flows, cfg, http_cfg, hasher, transactions, .. } = self;
                let Some(flow) = flows.get_mut(&key) else { return };
                Self::apply(flow, seg, side, seq, cfg, &mut Emit {
                    now: seg.ts,
                    at: EmitPoint::PACKET,
                    http_cfg,
                    hasher,
                    sink: &mut *sink,
                    transactions,
                })
            }
        };
        self.mem = self.mem.saturating_sub(applied.mem_before) + applied.mem_after;
        if let Some(at) = applied.reset_at {
            self.closing.push_back((at, seq, key));
        }
        if applied.closed {
            self.stats.closed += 1;
            self.finish(&key, FinishReason::Closed, EmitPoint::PACKET, sink);
        }
        self.stats.peak_memory = self.stats.peak_memory.max(self.mem);
        while self.mem > self.max_memory {
            let Some(oldest) = self.flows.front().map(|(k, _)| *k) else { break };
            self.stats.evicted_memory += 1;
            self.finish(&oldest, FinishReason::Evicted, EmitPoint::PACKET, sink);
        }
    }

    /// Applies a segment to a flow.
    fn apply(flow: &mut Flow, seg: &TcpSegment<'_>, side: Side, seq: u64, cfg: &FlowConfig, e: &mut Emit<'_>) -> Applied {
        let mem_before = flow.mem;
        let closed = Self::segment(flow, seg, side, cfg, e);
        flow.last_seq = seq;
        flow.mem = flow.held();
        let reset_at = (flow.tcp == TcpState::Reset && flow.closing_since.is_none()).then(|| {
            flow.closing_since = Some(seg.ts);
            seg.ts
        });
        Applied { mem_before, mem_after: flow.mem, closed, reset_at }
    }

    /// Applies a segment to a flow. Returns true when the connection is fully closed.
    fn segment(flow: &mut Flow, seg: &TcpSegment<'_>, side: Side, cfg: &FlowConfig, e: &mut Emit<'_>) -> bool {
        flow.last_ts = seg.ts;
        let s = side.index();
        let peer = side.opposite();
        let (state, event) = tcp::transition(flow.tcp, side == flow.orig, seg.flags);
        flow.tcp = state;
        if event == TcpEvent::Opening && seg.flags.syn() {
            flow.orig = if seg.flags.ack() { peer } else { side };
        }
        let has_data = !seg.payload.is_empty() || seg.missing > 0;
        if seg.flags.syn() {
            match flow.conn.as_mut() {
                None => flow.isn[s] = Some(seg.seq),
                Some(c) => {
                    if c.half[s].on_syn(Seq(seg.seq)) && c.half[s].next_offset() == 0 {
                        c.syn_seen[s] = true;
                    }
                }
            }
        }
        // Streams exist from the first payload (or FIN after payload) on; until then the
        // TCP state is all there is to a connection.
        if flow.conn.is_none() {
            if !has_data {
                return flow.tcp == TcpState::Closed;
            }
            flow.conn();
        }
        let Some(c) = flow.conn.as_deref_mut() else { return false };
        let Conn { http, parsing, half, uid, anomalies, ended, conflicts_seen, syn_seen, .. } = c;
        let syn_seen = *syn_seen;
        let conn = ConnInfo { uid, key: &flow.key, meta: &flow.meta, anomalies };
        let (lo, hi) = half.split_at_mut(1);
        let (mine, theirs) = if s == 0 { (&mut lo[0], &mut hi[0]) } else { (&mut hi[0], &mut lo[0]) };

        // What this packet acknowledges of the opposite stream. When it carries data, the
        // sender had received everything up to there: deliver the opposite stream to that
        // point first (holes become gaps), so requests are parsed before their responses.
        let mut peer_ack = None;
        if seg.flags.ack() && theirs.started() {
            peer_ack = theirs.offset_of(Seq(seg.ack));
            if let Some(ack_off) = theirs.on_peer_ack(Seq(seg.ack)) {
                if (has_data || seg.flags.fin() || theirs.buffered() > 0) && *parsing {
                    let target = match theirs.fin_offset() {
                        Some(f) if ack_off == f + 1 => f,
                        _ => ack_off,
                    };
                    theirs.flush_to(target, &mut |ev| deliver(http, parsing, syn_seen, &conn, peer, ev, e));
                }
            }
        }
        if *parsing && (has_data || seg.flags.fin()) {
            // Data on a SYN (TCP Fast Open) starts after the SYN's own sequence number.
            let seq = if seg.flags.syn() { Seq(seg.seq).wrapping_add(1) } else { Seq(seg.seq) };
            mine.push(
                seq,
                seg.payload,
                seg.missing,
                seg.flags.fin(),
                seg.ts,
                peer_ack,
                cfg.max_buffered_per_stream,
                &mut |ev| deliver(http, parsing, syn_seen, &conn, side, ev, e),
            );
        }
        // Conflicting retransmissions are evasion-shaped: flag the message they hit.
        for (st, which) in [(&*mine, side), (&*theirs, peer)] {
            let seen = &mut conflicts_seen[which.index()];
            if st.stats.conflicts > *seen {
                *seen = st.stats.conflicts;
                if let Some(h) = http.as_mut() {
                    h.note(which, Anomaly::ConflictingOverlap);
                }
            }
        }
        for (st, which) in [(&*mine, side), (&*theirs, peer)] {
            if st.finished() && !ended[which.index()] {
                ended[which.index()] = true;
                if let Some(h) = http.as_mut() {
                    e.http(&conn, |ctx| h.on_end(which, seg.ts, st.next_offset(), ctx));
                }
            }
        }
        ended[0] && ended[1]
    }

    /// Finishes flows whose time is up at packet time `now`. The pipeline calls it as time
    /// moves (every second of packet time), the same way whatever the thread count.
    pub fn tick(&mut self, now: Timestamp, sink: &mut dyn FnMut(ApiCall, EmitPoint)) {
        let idle = (self.cfg.idle_timeout_secs as i64).saturating_mul(1_000_000_000);
        while let Some((k, f)) = self.flows.front() {
            if now.0.saturating_sub(f.last_ts.0) <= idle {
                break;
            }
            let (k, at) = (*k, EmitPoint { phase: 0, flow_seq: f.last_seq });
            self.stats.timed_out += 1;
            self.finish(&k, FinishReason::Idle, at, sink);
        }
        let linger = (self.cfg.closed_linger_secs as i64).saturating_mul(1_000_000_000);
        while let Some(&(since, rst_seq, k)) = self.closing.front() {
            if now.0.saturating_sub(since.0) <= linger {
                break;
            }
            self.closing.pop_front();
            let still = self.flows.get(&k).is_some_and(|f| f.closing_since == Some(since));
            // Data after the RST means the receiver ignored it; keep following the flow.
            let active = self.flows.get(&k).is_some_and(|f| f.last_ts.0 > since.0 + linger);
            if still && !active {
                self.stats.reset += 1;
                self.finish(&k, FinishReason::Reset, EmitPoint { phase: 1, flow_seq: rst_seq }, sink);
            }
        }
    }

    /// Finishes every flow (end of input), oldest activity first.
    pub fn finish_all(&mut self, sink: &mut dyn FnMut(ApiCall, EmitPoint)) {
        while let Some((k, f)) = self.flows.front() {
            let (k, at) = (*k, EmitPoint { phase: 2, flow_seq: f.last_seq });
            self.finish(&k, FinishReason::Shutdown, at, sink);
        }
        self.closing.clear();
    }

    fn finish(&mut self, key: &FlowKey, reason: FinishReason, at: EmitPoint, sink: &mut dyn FnMut(ApiCall, EmitPoint)) {
        let Some(mut flow) = self.flows.remove(key) else { return };
        self.mem = self.mem.saturating_sub(flow.mem);
        let ts = flow.last_ts;
        let Some(c) = flow.conn.as_deref_mut() else { return };
        if reason == FinishReason::Evicted {
            c.anomalies.insert(Anomaly::FlowEvicted);
            tracing::debug!(uid = %c.uid, held = flow.mem, table = self.mem, "flow evicted under its bounds");
        }
        let mut e = Emit { now: ts, at, http_cfg: &self.http_cfg, hasher: &self.hasher, sink, transactions: &mut self.transactions };
        let syn_seen = c.syn_seen;
        let Conn { http, parsing, half, uid, anomalies, .. } = c;
        let conn = ConnInfo { uid, key: &flow.key, meta: &flow.meta, anomalies };
        for side in [Side::Lo, Side::Hi] {
            half[side.index()].flush_all(&mut |ev| deliver(http, parsing, syn_seen, &conn, side, ev, &mut e));
        }
        if let Some(h) = http.as_mut() {
            let offs = [half[0].next_offset(), half[1].next_offset()];
            e.http(&conn, |ctx| h.close(ts, offs, ctx));
            self.stats.http_flows += u64::from(h.client_side().is_some());
        }
        for h in half.iter() {
            add_stats(&mut self.stats.streams, &h.stats);
        }
    }
}

fn add_stats(total: &mut StreamStats, s: &StreamStats) {
    total.delivered += s.delivered;
    total.missed += s.missed;
    total.gaps += s.gaps;
    total.retransmitted += s.retransmitted;
    total.conflicts += s.conflicts;
    total.out_of_window += s.out_of_window;
    total.forced_gaps += s.forced_gaps;
}

/// The originator of a connection first seen on this segment: the SYN's sender, the
/// SYN-ACK's receiver, or for a midstream pickup the side on an ephemeral port talking to a
/// well-known one (the HTTP layer later confirms roles from the bytes).
fn guess_originator(seg: &TcpSegment<'_>, side: Side) -> Side {
    if seg.flags.syn() {
        return if seg.flags.ack() { side.opposite() } else { side };
    }
    if seg.src_port < 1024 && seg.dst_port >= 1024 {
        side.opposite()
    } else {
        side
    }
}
