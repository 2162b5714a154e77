//! The packet path wired end to end, on one thread or several.
//!
//! One thread captures, decodes and dispatches (it owns IP fragment reassembly, which cannot
//! be sharded by flow because fragments carry no ports). With one worker it also does all
//! the rest, inline and without copying a byte. With N workers, each TCP segment goes, in
//! batches over bounded crossbeam channels, to the worker that owns its flow (a symmetric
//! hash of the connection's addresses), so a flow has one owner and needs no lock. Workers
//! write their records as JSON lines themselves and send them back tagged with where they
//! were written; the dispatching thread merges them.
//!
//! Guarantees:
//! - Replay output is the same records in the same order at any thread count: every record
//!   sorts by (packet sequence, [`EmitPoint`], order of writing), timeouts run on ticks the
//!   dispatcher sends to all workers at the same packets, and records are released only up
//!   to the point every worker has passed. (Evictions under memory pressure are the one
//!   exception: each worker holds its share of the flow budget.)
//! - In replay a full queue blocks the dispatcher (backpressure, nothing dropped); live, a
//!   full queue drops the batch and counts its packets, and capture never blocks.
//! - Bounded: each worker's queue holds `QUEUE_DEPTH` batches of at most `FLUSH_EVERY`
//!   packets and `BATCH_BYTES` of payload; a worker has at most `MAX_OUTPUTS` output buffers
//!   unreleased; batch and output buffers are recycled rather than reallocated. What this
//!   can hold is [`memory_reserve`], taken out of `max_memory` before the flow tables get
//!   theirs.
//! - Input errors never lose what was read: reading stops, every flow is finished and
//!   written, and the error is reported beside the summary.

use crate::capture::{CaptureError, Packet, PacketSource, SharedBlock};
use crate::config::SensorConfig;
use crate::decode::{DecodeStats, Decoder, PacketMeta, TcpFlags, TcpSegment};
use crate::flow::{EmitPoint, FlowStats, FlowTable};
use crate::hash::CredentialHasher;
use crate::record::{ApiCall, Quality};
use crate::time::Timestamp;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TrySendError};
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::ops::Range;
use std::thread::JoinHandle;

/// What one run saw.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub packets: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub decode: DecodeStats,
    pub flows: FlowStats,
    pub transactions: u64,
    /// Records by anomaly name.
    pub anomalies: BTreeMap<String, u64>,
    pub complete: u64,
    pub gap: u64,
    pub one_sided: u64,
    pub truncated: u64,
    /// Bytes missing from reassembled streams.
    pub missed_bytes: u64,
    /// Packets whose time went backwards (unsorted input).
    pub time_reversals: u64,
    /// Segments dropped because a worker's queue was full (live capture only).
    pub queue_drops: u64,
    /// Flow worker threads used.
    pub workers: usize,
    /// What the flow tables could hold in all (`max_memory` less the pipeline's buffers).
    pub flow_budget: usize,
}

impl Summary {
    /// Seconds between the first and last packet.
    pub fn span_secs(&self) -> f64 {
        match (self.first_ts, self.last_ts) {
            (Some(a), Some(b)) => b.secs_since(a).max(0.0),
            _ => 0.0,
        }
    }

    /// Total anomaly occurrences on records.
    pub fn anomaly_total(&self) -> u64 {
        self.anomalies.values().sum()
    }
}

/// Counters the flow stages report while a run goes on (cumulative), so a live capture can
/// publish them before [`Pipeline::finish`] gathers the exact totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub transactions: u64,
    pub flows: u64,
    pub http_flows: u64,
    /// Records by anomaly name.
    pub anomalies: BTreeMap<String, u64>,
}

impl LiveCounts {
    fn of(counts: &RecordCounts, flows: &FlowStats) -> LiveCounts {
        LiveCounts { transactions: counts.transactions, flows: flows.flows, http_flows: flows.http_flows, anomalies: counts.anomalies.clone() }
    }

    fn add(&mut self, o: &LiveCounts) {
        self.transactions += o.transactions;
        self.flows += o.flows;
        self.http_flows += o.http_flows;
        for (k, v) in &o.anomalies {
            *self.anomalies.entry(k.clone()).or_default() += v;
        }
    }
}

/// Per-record counts, kept where the records are made and added up at the end.
#[derive(Clone, Debug, Default)]
struct RecordCounts {
    transactions: u64,
    anomalies: BTreeMap<String, u64>,
    quality: [u64; 4],
}

impl RecordCounts {
    fn count(&mut self, call: &ApiCall) {
        self.transactions += 1;
        for a in &call.anomalies {
            match self.anomalies.get_mut(a) {
                Some(n) => *n += 1,
                None => {
                    self.anomalies.insert(a.clone(), 1);
                }
            }
        }
        self.quality[match call.quality {
            Quality::Complete => 0,
            Quality::Gap => 1,
            Quality::OneSided => 2,
            Quality::Truncated => 3,
        }] += 1;
    }

    fn add_to(&self, s: &mut Summary) {
        s.transactions += self.transactions;
        for (k, v) in &self.anomalies {
            *s.anomalies.entry(k.clone()).or_default() += v;
        }
        s.complete += self.quality[0];
        s.gap += self.quality[1];
        s.one_sided += self.quality[2];
        s.truncated += self.quality[3];
    }
}

/// How a run ended.
pub struct RunOutcome {
    pub summary: Summary,
    /// An input error that stopped reading early; everything before it was processed.
    pub error: Option<CaptureError>,
}

/// Replay applies backpressure; live capture drops and counts rather than block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Replay,
    Live,
}

/// Where records go, in output order.
pub trait RecordSink {
    /// One record: its JSON line (newline included), and the record itself when
    /// [`RecordSink::wants_records`] says so.
    fn emit(&mut self, call: Option<&ApiCall>, line: &[u8]);

    /// Whether records are wanted beside their lines. With several workers they then cross
    /// threads, which costs; replay that only writes lines does not need them.
    fn wants_records(&self) -> bool {
        false
    }

    /// As [`RecordSink::emit`], handing over the record the pipeline is done with, so a
    /// sink that sends records on (to an analysis thread) need not copy them.
    fn emit_owned(&mut self, call: Option<Box<ApiCall>>, line: &[u8]) {
        self.emit(call.as_deref(), line)
    }
}

/// Any closure over (record, line) is a sink that takes lines only.
impl<F: FnMut(Option<&ApiCall>, &[u8])> RecordSink for F {
    fn emit(&mut self, call: Option<&ApiCall>, line: &[u8]) {
        self(call, line)
    }
}

/// A sink that wants the records too.
pub struct WithRecords<F: FnMut(&ApiCall, &[u8])>(pub F);

impl<F: FnMut(&ApiCall, &[u8])> RecordSink for WithRecords<F> {
    fn emit(&mut self, call: Option<&ApiCall>, line: &[u8]) {
        if let Some(c) = call {
            (self.0)(c, line)
        }
    }
    fn wants_records(&self) -> bool {
        true
    }
}

type Sink<'a> = dyn RecordSink + 'a;

/// Where a record sorts in the output: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    seq: u64,
    at: EmitPoint,
    n: u64,
}

/// How often, in packet time, idle flows are looked for.
const TICK_NS: i64 = 1_000_000_000;
/// Packets between flushes of every worker's batch (and so between watermarks).
const FLUSH_EVERY: u64 = 1024;
/// Payload bytes dispatched before every worker's batch is flushed, whatever the packet
/// count: with jumbo frames a packet-count bound alone would pin hundreds of megabytes.
const BATCH_BYTES: usize = 1 << 20;
/// Batches waiting per worker.
const QUEUE_DEPTH: usize = 8;
/// Records, and line bytes, a worker gathers before sending them on, even mid-batch: the
/// end of a capture finishes every open flow in one batch, and the merger must not hold
/// them all at once.
const OUTPUT_CHUNK: usize = 1024;
const OUTPUT_BYTES: usize = 512 << 10;
/// Output buffers a worker may have unreleased; beyond it the worker waits for the merger
/// to write some out, so a worker far ahead of the others cannot pile up records. Each
/// batch yields at least one, so fewer than the queue holds would stall steady work.
const MAX_OUTPUTS: usize = QUEUE_DEPTH + 4;

/// The least the flow tables are given, however small `max_memory` is.
pub const MIN_FLOW_BUDGET: usize = 16 << 20;

/// Memory the packet path itself holds outside the flow tables, for `workers` workers: the
/// binary and allocator, capture blocks, the record writer's queue and IP fragments, and
/// with several workers the batches in flight and the workers' unreleased output. The flow
/// tables get `max_memory` less this (see [`Pipeline::flow_budget`]).
pub fn memory_reserve(cfg: &SensorConfig, workers: usize) -> usize {
    const BASE: usize = 24 << 20;
    let fragments = cfg.decode.max_fragment_bytes + cfg.decode.max_fragment_bytes / 4;
    let threaded = if workers > 1 {
        // Blocks pinned by queued batches (each up to BATCH_BYTES, plus the block it ends
        // in), the batches' segment lists, and each worker's output buffers and heap.
        (QUEUE_DEPTH + 2) * (BATCH_BYTES + (1 << 20))
            + workers * (QUEUE_DEPTH + 2) * FLUSH_EVERY as usize * std::mem::size_of::<Item>()
            + workers * (MAX_OUTPUTS + 1) * (OUTPUT_BYTES + OUTPUT_CHUNK * 64)
            + workers * (4 << 20)
    } else {
        0
    };
    BASE + fragments + threaded
}

/// A TCP segment owned by a batch: the header fields and where its payload sits.
struct SegHead {
    ts: Timestamp,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    missing: u32,
    meta: PacketMeta,
    /// Where the payload sits: in `Batch::data`, or in one of `Batch::blocks`.
    block: u32,
    payload: Range<usize>,
}

/// `SegHead::block` for a payload copied into the batch.
const COPIED: u32 = u32::MAX;

enum Item {
    Seg { seq: u64, head: SegHead },
    Tick { seq: u64, now: Timestamp },
}

struct Batch {
    items: Vec<Item>,
    /// Payloads that could not be shared (reassembled fragments, libpcap's buffer).
    data: Vec<u8>,
    /// Capture blocks payloads are borrowed from, held until the worker is done.
    blocks: Vec<SharedBlock>,
    /// Every packet up to here has been dispatched.
    watermark: u64,
    finish: Option<u64>,
}

fn new_batch() -> Batch {
    Batch { items: Vec::with_capacity(1024), data: Vec::new(), blocks: Vec::new(), watermark: 0, finish: None }
}

/// A worker's output for one batch: records in key order, each with its line's place in
/// `lines` and, when the sink wants it, the record.
#[derive(Default)]
struct Output {
    records: Vec<(OrderKey, Option<Box<ApiCall>>, Range<usize>)>,
    lines: Vec<u8>,
}

struct WorkerOut {
    worker: usize,
    out: Output,
    watermark: u64,
    done: Option<(FlowStats, RecordCounts)>,
    /// The worker's counters so far, sent with each batch's output (not with the chunks
    /// sent mid-batch: once per batch is often enough and costs a map clone).
    live: Option<LiveCounts>,
}

struct Worker {
    tx: Sender<Batch>,
    /// Emptied outputs going back to this worker for reuse.
    give_back: Sender<Output>,
    pending: Batch,
    handle: Option<JoinHandle<()>>,
    /// Output received and not yet released, oldest first; `next` indexes the front's
    /// records.
    queue: VecDeque<Output>,
    next: usize,
    watermark: u64,
    finished: Option<(FlowStats, RecordCounts)>,
    live: LiveCounts,
}

struct Threaded {
    workers: Vec<Worker>,
    /// Payload bytes in the pending batches.
    pending_bytes: usize,
    out: Receiver<WorkerOut>,
    /// Batches the workers are done with, for reuse (fresh memory costs page faults).
    spare: Receiver<Batch>,
}

// One per pipeline, never moved in a loop: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Inline { table: FlowTable, line: Vec<u8>, counts: RecordCounts },
    Threaded(Threaded),
}

/// Decoder, flow tables and the threads between them, for one stream of packets.
pub struct Pipeline {
    decoder: Decoder,
    engine: Engine,
    mode: Mode,
    seq: u64,
    max_ts: Timestamp,
    last_tick: Option<Timestamp>,
    summary: Summary,
}

struct WorkerChannels {
    rx: Receiver<Batch>,
    out: Sender<WorkerOut>,
    spare: Sender<Batch>,
    given: Receiver<Output>,
}

fn worker_loop(id: usize, mut table: FlowTable, ch: WorkerChannels, keep_records: bool) {
    let mut n = 0u64;
    let mut counts = RecordCounts::default();
    let mut watermark = 0u64;
    // At most MAX_OUTPUTS buffers exist; once all are out, wait for the merger to hand one
    // back (it always can: see Pipeline::drain).
    let mut created = 0usize;
    let mut fresh = |given: &Receiver<Output>| {
        let mut o = match given.try_recv() {
            Ok(o) => o,
            Err(_) if created < MAX_OUTPUTS => {
                created += 1;
                Output::default()
            }
            Err(_) => given.recv().unwrap_or_default(),
        };
        o.records.clear();
        o.lines.clear();
        o
    };
    while let Ok(mut batch) = ch.rx.recv() {
        let mut out = fresh(&ch.given);
        let mut push = |call: ApiCall, at: EmitPoint, seq: u64| {
            counts.count(&call);
            let start = out.lines.len();
            call.write_jsonl(&mut out.lines);
            let range = start..out.lines.len();
            out.records.push((OrderKey { seq, at, n }, keep_records.then(|| Box::new(call)), range));
            n += 1;
            if out.records.len() >= OUTPUT_CHUNK || out.lines.len() >= OUTPUT_BYTES {
                // Send what there is now; the watermark stays where the last batch left it.
                // Send before taking a fresh buffer: taking one may wait for the merger,
                // which may need these very records to make progress.
                let full = std::mem::take(&mut out);
                let _ = ch.out.send(WorkerOut { worker: id, out: full, watermark, done: None, live: None });
                out = fresh(&ch.given);
            }
        };
        for item in &batch.items {
            match item {
                Item::Seg { seq, head } => {
                    let seg = TcpSegment {
                        ts: head.ts,
                        src: head.src,
                        dst: head.dst,
                        src_port: head.src_port,
                        dst_port: head.dst_port,
                        seq: head.seq,
                        ack: head.ack,
                        flags: head.flags,
                        window: head.window,
                        payload: match batch.blocks.get(head.block as usize) {
                            Some(b) => b.get(head.payload.clone()),
                            None => batch.data.get(head.payload.clone()).unwrap_or(&[]),
                        },
                        missing: head.missing,
                        meta: head.meta,
                    };
                    let seq = *seq;
                    table.process(&seg, seq, &mut |c, at| push(c, at, seq));
                }
                Item::Tick { seq, now } => {
                    let seq = *seq;
                    table.tick(*now, &mut |c, at| push(c, at, seq));
                }
            }
        }
        let mut done = None;
        if let Some(end) = batch.finish {
            table.finish_all(&mut |c, at| push(c, at, end));
            done = Some((table.stats.clone(), std::mem::take(&mut counts)));
        }
        // The last output carries the exact totals instead.
        let live = done.is_none().then(|| LiveCounts::of(&counts, &table.stats));
        let last = done.is_some();
        watermark = if last { u64::MAX } else { batch.watermark };
        batch.items.clear();
        batch.data.clear();
        // Release the capture blocks now, so the reader can reuse them.
        batch.blocks.clear();
        let _ = ch.spare.send(batch);
        if ch.out.send(WorkerOut { worker: id, out, watermark, done, live }).is_err() || last {
            break;
        }
    }
}

/// The worker a segment's flow belongs to. Symmetric (both directions agree) and cheap:
/// the dispatcher computes it for every segment.
fn shard(seg: &TcpSegment<'_>, n: usize) -> usize {
    fn fold(ip: &IpAddr) -> u64 {
        match ip {
            IpAddr::V4(a) => u64::from(u32::from_be_bytes(a.octets())),
            IpAddr::V6(a) => {
                let v = u128::from_be_bytes(a.octets());
                (v as u64) ^ ((v >> 64) as u64)
            }
        }
    }
    let a = fold(&seg.src) ^ (u64::from(seg.src_port) << 32);
    let b = fold(&seg.dst) ^ (u64::from(seg.dst_port) << 32);
    // Order-independent combination, then a multiplicative mix so ports spread out.
    let h = (a ^ b).wrapping_add(a.wrapping_mul(b) >> 7).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((h >> 32) % n as u64) as usize
}

impl Pipeline {
    /// A pipeline with `workers` flow workers (1: everything on the calling thread).
    /// `keep_records` asks workers to send records, not just lines, for sinks that want
    /// them.
    pub fn new(cfg: SensorConfig, workers: usize, mode: Mode) -> Pipeline {
        Self::with_records(cfg, workers, mode, false)
    }

    /// As [`Pipeline::new`], sending records across threads when `keep_records`.
    pub fn with_records(cfg: SensorConfig, workers: usize, mode: Mode, keep_records: bool) -> Pipeline {
        let workers = workers.max(1);
        let hasher = CredentialHasher::new(cfg.hash_key);
        let budget = Self::flow_budget(&cfg, workers);
        let engine = if workers == 1 {
            Engine::Inline {
                table: FlowTable::new(cfg.flow.clone(), cfg.http.clone(), hasher, budget),
                line: Vec::with_capacity(4096),
                counts: RecordCounts::default(),
            }
        } else {
            let (out_tx, out_rx) = unbounded();
            let (spare_tx, spare_rx) = unbounded();
            let mut flow_cfg = cfg.flow.clone();
            flow_cfg.max_flows = (flow_cfg.max_flows / workers).max(1);
            let ws = (0..workers)
                .map(|id| {
                    let (tx, rx) = bounded(QUEUE_DEPTH);
                    let (give_back, given) = unbounded();
                    let table = FlowTable::new(flow_cfg.clone(), cfg.http.clone(), hasher.clone(), budget / workers);
                    let ch = WorkerChannels { rx, out: out_tx.clone(), spare: spare_tx.clone(), given };
                    let handle = std::thread::Builder::new()
                        .name(format!("apitap-flow-{id}"))
                        .spawn(move || worker_loop(id, table, ch, keep_records))
                        .ok();
                    Worker {
                        tx,
                        give_back,
                        pending: new_batch(),
                        handle,
                        queue: VecDeque::new(),
                        next: 0,
                        watermark: 0,
                        finished: None,
                        live: LiveCounts::default(),
                    }
                })
                .collect();
            Engine::Threaded(Threaded { workers: ws, pending_bytes: 0, out: out_rx, spare: spare_rx })
        };
        Pipeline {
            decoder: Decoder::new(cfg.decode.clone()),
            engine,
            mode,
            seq: 0,
            max_ts: Timestamp::ZERO,
            last_tick: None,
            summary: Summary { workers, flow_budget: budget, ..Summary::default() },
        }
    }

    /// What the flow tables may hold in all: `max_memory` less [`memory_reserve`], and at
    /// least [`MIN_FLOW_BUDGET`] (callers should refuse a `max_memory` that leaves less).
    pub fn flow_budget(cfg: &SensorConfig, workers: usize) -> usize {
        cfg.max_memory.saturating_sub(memory_reserve(cfg, workers)).max(MIN_FLOW_BUDGET)
    }

    /// Reads `src` to its end, then finishes every flow.
    pub fn run(mut self, src: &mut dyn PacketSource, sink: &mut Sink<'_>) -> RunOutcome {
        let mut error = None;
        loop {
            match src.next_packet() {
                Ok(Some(pkt)) => self.packet(&pkt, sink),
                Ok(None) => break,
                Err(e) => {
                    let fatal = !e.is_truncation();
                    error = Some(e);
                    if fatal {
                        break;
                    }
                    // A merged source reports a truncated file and goes on with the others.
                }
            }
        }
        let summary = self.finish(sink);
        tracing::info!(
            packets = summary.packets,
            flows = summary.flows.flows,
            transactions = summary.transactions,
            peak_memory = summary.flows.peak_memory,
            evicted = summary.flows.evicted_memory + summary.flows.evicted_flow_limit,
            "replay finished"
        );
        RunOutcome { summary, error }
    }

    /// Processes one frame.
    pub fn packet(&mut self, pkt: &Packet<'_>, sink: &mut Sink<'_>) {
        self.seq += 1;
        let seq = self.seq;
        let s = &mut self.summary;
        s.packets += 1;
        if s.first_ts.is_none() {
            s.first_ts = Some(pkt.ts);
        }
        match s.last_ts {
            Some(l) if pkt.ts < l => s.time_reversals += 1,
            _ => s.last_ts = Some(pkt.ts),
        }
        // Timeouts run on ticks of packet time, before the packet that crosses the second,
        // at the same place whatever the thread count.
        if pkt.ts > self.max_ts {
            self.max_ts = pkt.ts;
        }
        match self.last_tick {
            None => self.last_tick = Some(self.max_ts),
            Some(t) if self.max_ts.0 - t.0 >= TICK_NS => {
                self.last_tick = Some(self.max_ts);
                self.tick(seq, self.max_ts, sink);
            }
            Some(_) => {}
        }
        match &mut self.engine {
            Engine::Inline { table, line, counts } => {
                let wants = sink.wants_records();
                let mut emit = |call: ApiCall, _at: EmitPoint| inline_emit(counts, line, sink, wants, call);
                self.decoder.decode(pkt, &mut |seg| table.process(seg, seq, &mut emit));
            }
            Engine::Threaded(t) => {
                let n = t.workers.len();
                let workers = &mut t.workers;
                let pending_bytes = &mut t.pending_bytes;
                let shared = pkt.block;
                self.decoder.decode(pkt, &mut |seg| {
                    *pending_bytes += seg.payload.len();
                    let b = &mut workers[shard(seg, n)].pending;
                    // Borrow the payload from the capture block when it lies in one; copy
                    // it otherwise.
                    let (block, payload) = match shared.and_then(|sb| Some((sb, sb.range_of(seg.payload)?))) {
                        Some((sb, range)) => {
                            if !b.blocks.last().is_some_and(|l| l.same(sb)) {
                                b.blocks.push(sb.clone());
                            }
                            ((b.blocks.len() - 1) as u32, range)
                        }
                        None => {
                            let start = b.data.len();
                            b.data.extend_from_slice(seg.payload);
                            (COPIED, start..b.data.len())
                        }
                    };
                    b.items.push(Item::Seg {
                        seq,
                        head: SegHead {
                            ts: seg.ts,
                            src: seg.src,
                            dst: seg.dst,
                            src_port: seg.src_port,
                            dst_port: seg.dst_port,
                            seq: seg.seq,
                            ack: seg.ack,
                            flags: seg.flags,
                            window: seg.window,
                            missing: seg.missing,
                            meta: seg.meta,
                            block,
                            payload,
                        },
                    });
                });
                if seq % FLUSH_EVERY == 0 || t.pending_bytes >= BATCH_BYTES {
                    self.flush(sink);
                }
            }
        }
    }

    fn tick(&mut self, seq: u64, now: Timestamp, sink: &mut Sink<'_>) {
        match &mut self.engine {
            Engine::Inline { table, line, counts } => {
                let wants = sink.wants_records();
                table.tick(now, &mut |call, _at| inline_emit(counts, line, sink, wants, call));
            }
            Engine::Threaded(t) => {
                for w in t.workers.iter_mut() {
                    w.pending.items.push(Item::Tick { seq, now });
                }
            }
        }
    }

    /// Live capture on a quiet network: time moves on to `now` (the clock, which live packet
    /// times follow) so timeouts still fire, and pending work is pushed out so records do
    /// not wait for the next packets.
    pub fn idle(&mut self, now: Timestamp, sink: &mut Sink<'_>) {
        if now > self.max_ts {
            self.max_ts = now;
        }
        if let Some(t) = self.last_tick {
            if self.max_ts.0 - t.0 >= TICK_NS {
                self.last_tick = Some(self.max_ts);
                self.seq += 1;
                let (seq, ts) = (self.seq, self.max_ts);
                self.tick(seq, ts, sink);
            }
        }
        self.flush(sink);
    }

    /// Sends every pending batch and writes the records that are ready.
    pub fn flush(&mut self, sink: &mut Sink<'_>) {
        let Engine::Threaded(t) = &mut self.engine else { return };
        let watermark = self.seq;
        t.pending_bytes = 0;
        for i in 0..t.workers.len() {
            let fresh = t.spare.try_recv().unwrap_or_else(|_| new_batch());
            let w = &mut t.workers[i];
            let mut batch = std::mem::replace(&mut w.pending, fresh);
            batch.watermark = watermark;
            match self.mode {
                Mode::Replay => Self::send_waiting(t, i, batch, sink),
                Mode::Live => {
                    if let Err(TrySendError::Full(b)) = w.tx.try_send(batch) {
                        self.summary.queue_drops += b.items.iter().filter(|i| matches!(i, Item::Seg { .. })).count() as u64;
                    }
                }
            }
        }
        Self::drain(t, sink, false);
    }

    /// Sends a batch to worker `i`, waiting for room; meanwhile takes output and writes what
    /// is ready, so no worker waits on us while we wait on it.
    fn send_waiting(t: &mut Threaded, i: usize, batch: Batch, sink: &mut Sink<'_>) {
        let tx = t.workers[i].tx.clone();
        let mut b = batch;
        loop {
            match tx.try_send(b) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    b = back;
                    if let Ok(o) = t.out.recv_timeout(std::time::Duration::from_millis(1)) {
                        take_output(&mut t.workers, o);
                        Self::drain(t, sink, false);
                    }
                }
            }
        }
    }

    /// Takes worker output that has arrived and releases records every worker has passed,
    /// merging the workers' queues (each already in order) by key. With `wait_all`, keeps
    /// at it until every worker has finished.
    fn drain(t: &mut Threaded, sink: &mut Sink<'_>, wait_all: bool) {
        loop {
            while let Ok(o) = t.out.try_recv() {
                take_output(&mut t.workers, o);
            }
            // Releasing hands buffers back, which a worker waiting for one needs before it
            // can send more: release before waiting again.
            Self::release(t, sink);
            if !wait_all || t.workers.iter().all(|w| w.finished.is_some()) {
                return;
            }
            match t.out.recv() {
                Ok(o) => take_output(&mut t.workers, o),
                Err(_) => return,
            }
        }
    }

    /// Writes records in key order as far as it is settled.
    fn release(t: &mut Threaded, sink: &mut Sink<'_>) {
        // Each worker's records arrive in key order. The smallest head record may go out
        // once no worker could still send a smaller one: each other worker has a record
        // waiting (necessarily larger), has finished, or has passed that packet.
        loop {
            let mut best: Option<(usize, OrderKey)> = None;
            for (i, w) in t.workers.iter_mut().enumerate() {
                // Drop fully released outputs, handing their buffers back.
                while w.queue.front().is_some_and(|o| w.next >= o.records.len()) {
                    if let Some(o) = w.queue.pop_front() {
                        let _ = w.give_back.send(o);
                    }
                    w.next = 0;
                }
                if let Some(o) = w.queue.front() {
                    let k = o.records[w.next].0;
                    if best.is_none_or(|(_, b)| k < b) {
                        best = Some((i, k));
                    }
                }
            }
            let Some((i, k)) = best else { break };
            let safe = t.workers.iter().all(|w| !w.queue.is_empty() || w.finished.is_some() || w.watermark >= k.seq);
            if !safe {
                break;
            }
            let w = &mut t.workers[i];
            let Some(o) = w.queue.front_mut() else { break };
            let (_, call, range) = &mut o.records[w.next];
            sink.emit_owned(call.take(), o.lines.get(range.clone()).unwrap_or(&[]));
            w.next += 1;
        }
    }

    /// The counters kept on the capture thread so far (packets, decoding, queue drops); flow
    /// and record counters join them only at [`Pipeline::finish`].
    pub fn progress(&self) -> &Summary {
        &self.summary
    }

    /// Transactions, flows and anomalies so far, as the flow workers last reported them (at
    /// most one batch behind); [`Pipeline::finish`] gives the exact totals.
    pub fn live_counts(&self) -> LiveCounts {
        match &self.engine {
            Engine::Inline { table, counts, .. } => LiveCounts::of(counts, &table.stats),
            Engine::Threaded(t) => {
                let mut all = LiveCounts::default();
                for w in &t.workers {
                    all.add(&w.live);
                }
                all
            }
        }
    }

    /// Finishes every flow and returns the counters.
    pub fn finish(mut self, sink: &mut Sink<'_>) -> Summary {
        let end = self.seq + 1;
        let summary = &mut self.summary;
        match &mut self.engine {
            Engine::Inline { table, line, counts } => {
                let wants = sink.wants_records();
                table.finish_all(&mut |call, _at| inline_emit(counts, line, sink, wants, call));
                summary.flows = table.stats.clone();
                counts.add_to(summary);
            }
            Engine::Threaded(t) => {
                for i in 0..t.workers.len() {
                    let mut batch = std::mem::replace(&mut t.workers[i].pending, new_batch());
                    batch.watermark = end;
                    batch.finish = Some(end);
                    // The end must get through even live: wait for room.
                    Self::send_waiting(t, i, batch, sink);
                }
                Self::drain(t, sink, true);
                for w in t.workers.iter_mut() {
                    if let Some(h) = w.handle.take() {
                        let _ = h.join();
                    }
                }
                let mut flows = FlowStats::default();
                for (st, counts) in t.workers.iter().filter_map(|w| w.finished.as_ref()) {
                    flows.add(st);
                    counts.add_to(summary);
                }
                summary.flows = flows;
            }
        }
        let mut s = std::mem::take(&mut self.summary);
        s.decode = self.decoder.stats();
        s.missed_bytes = s.flows.streams.missed;
        s
    }
}

fn inline_emit(counts: &mut RecordCounts, line: &mut Vec<u8>, sink: &mut Sink<'_>, wants: bool, call: ApiCall) {
    counts.count(&call);
    line.clear();
    call.write_jsonl(line);
    if wants {
        sink.emit_owned(Some(Box::new(call)), line);
    } else {
        sink.emit(None, line);
    }
}

fn take_output(workers: &mut [Worker], mut o: WorkerOut) {
    let Some(w) = workers.get_mut(o.worker) else { return };
    w.watermark = w.watermark.max(o.watermark);
    if let Some(d) = o.done.take() {
        w.finished = Some(d);
    }
    if let Some(l) = o.live.take() {
        w.live = l;
    }
    w.queue.push_back(o.out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::PacketMeta;

    fn seg(src: &str, sp: u16, dst: &str, dp: u16) -> TcpSegment<'static> {
        TcpSegment {
            ts: Timestamp::ZERO,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: sp,
            dst_port: dp,
            seq: 0,
            ack: 0,
            flags: TcpFlags(0),
            window: 0,
            payload: &[],
            missing: 0,
            meta: PacketMeta::default(),
        }
    }

    #[test]
    fn shard_is_symmetric_and_spreads() {
        let mut counts = [0usize; 4];
        for p in 0..4000u16 {
            let a = seg("10.0.0.1", 30000 + p, "10.0.0.2", 80);
            let b = seg("10.0.0.2", 80, "10.0.0.1", 30000 + p);
            assert_eq!(shard(&a, 4), shard(&b, 4));
            counts[shard(&a, 4)] += 1;
        }
        assert!(counts.iter().all(|c| *c > 800), "{counts:?}");
        let v6 = seg("2001:db8::1", 5, "2001:db8::2", 6);
        assert!(shard(&v6, 3) < 3);
    }
}
