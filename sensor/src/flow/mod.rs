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

struct Flow {
    uid: String,
    key: FlowKey,
    last_ts: Timestamp,
    orig: Side,
    tcp: TcpState,
    half: [HalfStream; 2],
    http: Option<Box<HttpConn>>,
    /// False once the HTTP layer gave up on both directions.
    parsing: bool,
    meta: PacketMeta,
    anomalies: AnomalySet,
    ended: [bool; 2],
    /// Per side: its SYN was seen, so its stream is known from the start.
    syn_seen: [bool; 2],
    closing_since: Option<Timestamp>,
    mem: usize,
    conflicts_seen: [u64; 2],
}

const FLOW_OVERHEAD: usize = std::mem::size_of::<Flow>() + 96;

impl Flow {
    fn held(&self) -> usize {
        FLOW_OVERHEAD
            + self.uid.capacity()
            + self.half[0].buffered()
            + self.half[1].buffered()
            + self.http.as_ref().map_or(0, |h| std::mem::size_of::<HttpConn>() + h.held_bytes())
    }
}

/// Everything needed to turn stream events into records, borrowed apart from the flow's
/// streams so both can be used at once.
struct Emit<'a> {
    /// Packet time of the event being processed.
    now: Timestamp,
    http_cfg: &'a HttpConfig,
    hasher: &'a CredentialHasher,
    sink: &'a mut dyn FnMut(ApiCall),
    transactions: &'a mut u64,
}

impl Emit<'_> {
    /// Runs `f` with an HTTP context whose finished transactions become records of `conn`.
    fn http<R>(&mut self, conn: &ConnInfo<'_>, f: impl FnOnce(&mut HttpCtx<'_>) -> R) -> R {
        let sink = &mut *self.sink;
        let count = &mut *self.transactions;
        let mut emit = |tx| {
            *count += 1;
            sink(ApiCall::from_transaction(tx, conn));
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

/// The table of live connections.
pub struct FlowTable {
    flows: LinkedHashMap<FlowKey, Flow, foldhash::fast::RandomState>,
    closing: VecDeque<(Timestamp, FlowKey)>,
    cfg: FlowConfig,
    http_cfg: HttpConfig,
    hasher: CredentialHasher,
    max_memory: usize,
    mem: usize,
    now: Timestamp,
    last_sweep: Timestamp,
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
            now: Timestamp::ZERO,
            last_sweep: Timestamp::ZERO,
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

    /// Feeds one TCP segment; records that complete go to `sink`.
    pub fn process(&mut self, seg: &TcpSegment<'_>, sink: &mut dyn FnMut(ApiCall)) {
        self.stats.segments += 1;
        if seg.ts > self.now {
            self.now = seg.ts;
        }
        if self.now.0 - self.last_sweep.0 >= 1_000_000_000 {
            self.sweep(sink);
        }
        let src = Endpoint { ip: seg.src, port: seg.src_port };
        let dst = Endpoint { ip: seg.dst, port: seg.dst_port };
        let (key, side) = FlowKey::of(src, dst);
        let syn_only = seg.flags.syn() && !seg.flags.ack();

        let mut exists = self.flows.to_back(&key).is_some();
        if exists && syn_only {
            let reopen = match self.flows.get(&key) {
                Some(f) => {
                    matches!(f.tcp, TcpState::Closed | TcpState::Reset)
                        || (f.half[side.index()].started()
                            && f.half[side.index()].offset_of(Seq(seg.seq).wrapping_add(1)).is_none_or(|o| o > 0)
                            && f.half[side.index()].next_offset() > 0)
                }
                None => false,
            };
            if reopen {
                self.stats.reused += 1;
                self.finish(&key, FinishReason::Reused, sink);
                exists = false;
            }
        }
        if !exists {
            let has_data = !seg.payload.is_empty() || seg.missing > 0;
            if !(seg.flags.syn() || has_data || seg.flags.fin()) {
                self.stats.orphan_segments += 1;
                return;
            }
            while self.flows.len() >= self.cfg.max_flows.max(1) {
                let Some(oldest) = self.flows.front().map(|(k, _)| *k) else { break };
                self.stats.evicted_flow_limit += 1;
                self.finish(&oldest, FinishReason::Evicted, sink);
            }
            let orig = guess_originator(seg, side);
            let flow = Flow {
                uid: make_uid(&key, seg.ts.0, seg.seq),
                key,
                last_ts: seg.ts,
                orig,
                tcp: TcpState::Unknown,
                half: [HalfStream::default(), HalfStream::default()],
                http: None,
                parsing: true,
                meta: seg.meta,
                anomalies: AnomalySet::default(),
                ended: [false; 2],
                syn_seen: [false; 2],
                closing_since: None,
                mem: 0,
                conflicts_seen: [0; 2],
            };
            self.stats.flows += 1;
            self.flows.insert(key, flow);
        }
        let Some(flow) = self.flows.get_mut(&key) else { return };
        let before = flow.mem;
        let finished = Self::segment(flow, seg, side, &self.cfg, &mut Emit {
            now: seg.ts,
            http_cfg: &self.http_cfg,
            hasher: &self.hasher,
            sink,
            transactions: &mut self.transactions,
        });
        flow.mem = flow.held();
        self.mem = self.mem.saturating_sub(before) + flow.mem;
        if flow.tcp == TcpState::Reset && flow.closing_since.is_none() {
            flow.closing_since = Some(seg.ts);
            self.closing.push_back((seg.ts, key));
        }
        if finished {
            self.finish(&key, FinishReason::Closed, sink);
        }
        self.stats.peak_memory = self.stats.peak_memory.max(self.mem);
        while self.mem > self.max_memory {
            let Some(oldest) = self.flows.front().map(|(k, _)| *k) else { break };
            self.stats.evicted_memory += 1;
            self.finish(&oldest, FinishReason::Evicted, sink);
        }
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
        if seg.flags.syn() && flow.half[s].on_syn(Seq(seg.seq)) && flow.half[s].next_offset() == 0 {
            flow.syn_seen[s] = true;
        }
        let Flow { http, parsing, half, uid, key, meta, anomalies, ended, conflicts_seen, syn_seen, .. } = flow;
        let syn_seen = *syn_seen;
        let conn = ConnInfo { uid, key, meta, anomalies };
        let (lo, hi) = half.split_at_mut(1);
        let (mine, theirs) = if s == 0 { (&mut lo[0], &mut hi[0]) } else { (&mut hi[0], &mut lo[0]) };
        let has_data = !seg.payload.is_empty() || seg.missing > 0;

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

    /// Finishes flows whose time is up. Called as packet time advances.
    pub fn sweep(&mut self, sink: &mut dyn FnMut(ApiCall)) {
        self.last_sweep = self.now;
        let idle = (self.cfg.idle_timeout_secs as i64).saturating_mul(1_000_000_000);
        while let Some((k, f)) = self.flows.front() {
            if self.now.0.saturating_sub(f.last_ts.0) <= idle {
                break;
            }
            let k = *k;
            self.stats.timed_out += 1;
            self.finish(&k, FinishReason::Idle, sink);
        }
        let linger = (self.cfg.closed_linger_secs as i64).saturating_mul(1_000_000_000);
        while let Some(&(since, k)) = self.closing.front() {
            if self.now.0.saturating_sub(since.0) <= linger {
                break;
            }
            self.closing.pop_front();
            let still = self.flows.get(&k).is_some_and(|f| f.closing_since == Some(since));
            if still {
                // Data after the RST means the receiver ignored it; keep following the flow.
                let active = self.flows.get(&k).is_some_and(|f| f.last_ts.0 > since.0 + linger);
                if !active {
                    self.stats.reset += 1;
                    self.finish(&k, FinishReason::Reset, sink);
                }
            }
        }
    }

    /// Finishes every flow (end of input), oldest activity first.
    pub fn finish_all(&mut self, sink: &mut dyn FnMut(ApiCall)) {
        while let Some(k) = self.flows.front().map(|(k, _)| *k) {
            self.finish(&k, FinishReason::Shutdown, sink);
        }
        self.closing.clear();
    }

    fn finish(&mut self, key: &FlowKey, reason: FinishReason, sink: &mut dyn FnMut(ApiCall)) {
        let Some(mut flow) = self.flows.remove(key) else { return };
        self.mem = self.mem.saturating_sub(flow.mem);
        if reason == FinishReason::Closed {
            self.stats.closed += 1;
        }
        if reason == FinishReason::Evicted {
            flow.anomalies.insert(Anomaly::FlowEvicted);
            tracing::debug!(uid = %flow.uid, held = flow.mem, table = self.mem, "flow evicted under its bounds");
        }
        let ts = flow.last_ts;
        let mut e = Emit { now: ts, http_cfg: &self.http_cfg, hasher: &self.hasher, sink, transactions: &mut self.transactions };
        let syn_seen = flow.syn_seen;
        let Flow { http, parsing, half, uid, key, meta, anomalies, .. } = &mut flow;
        let conn = ConnInfo { uid, key, meta, anomalies };
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
