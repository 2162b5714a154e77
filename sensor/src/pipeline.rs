//! The packet path wired end to end, on one thread or several.
//!
//! One thread captures, decodes and dispatches (it owns IP fragment reassembly, which cannot
//! be sharded by flow because fragments carry no ports). On one thread it also does all the
//! rest, inline and without copying a byte. On N threads, N - 1 workers and the dispatcher
//! itself share the flows by a symmetric hash of the connection's addresses, so a flow has
//! one owner and needs no lock. The dispatcher keeps the share that leaves it as busy as a
//! worker ([`Split`]): on two cores two busy threads, not three taking turns. Each segment
//! of a worker's flow goes to it in batches over bounded crossbeam channels; workers write
//! their records as JSON lines themselves and send them back tagged with where they were
//! written; the dispatcher merges them with its own.
//!
//! Guarantees:
//! - Replay output is the same records in the same order at any thread count: every record
//!   sorts by (packet sequence, [`EmitPoint`], order of writing), timeouts run on ticks the
//!   dispatcher sends to all workers at the same packets, and records are released only up
//!   to the point every thread has passed. (Evictions under memory pressure are the one
//!   exception: each table holds the part of the flow budget its share of the flows gets.)
//! - In replay a full queue blocks the dispatcher (backpressure, nothing dropped); live, a
//!   full queue drops the batch and counts its packets, and capture never waits for the
//!   workers until the end: when they are so far behind that the dispatcher's own records
//!   would exceed their bound, its oldest go out ahead of the merge, counted in
//!   [`Summary::out_of_order`], rather than wait (a record once made is never dropped).
//! - Bounded: each worker's queue holds `QUEUE_DEPTH` batches (`LIVE_QUEUE_DEPTH` live) of
//!   at most `FLUSH_EVERY` packets and `BATCH_BYTES` of payload; each thread has at most
//!   about `SPARE_OUTPUTS` output buffers more than that unreleased; batch and output
//!   buffers are recycled rather than reallocated. What this can hold is
//!   [`memory_reserve`], taken out of `max_memory` before the flow tables get theirs.
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
    /// Records the capturing thread wrote ahead of older ones still with a worker, rather
    /// than wait for it (live capture only, when a worker falls far behind).
    pub out_of_order: u64,
    /// Threads that owned flows (with more than one, the dispatching thread is one of them).
    pub threads: usize,
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
            match self.anomalies.get_mut(&**a) {
                Some(n) => *n += 1,
                None => {
                    self.anomalies.insert(a.to_string(), 1);
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
/// Batches waiting per worker in replay, where a full queue only makes the reader wait.
const QUEUE_DEPTH: usize = 8;
/// Batches waiting per worker in live capture, where a full queue loses its batch. A
/// worker sharing two cores with the capture thread, the analysis and whatever else the
/// host runs can be descheduled for tens of milliseconds; at 4 Gbit/s eight batches were
/// about 11 ms of its traffic, and a top-speed run lost 30,000 to 70,000 segments there
/// while the kernel ring behind it (64 MiB, over 100 ms) lost none. 32 hold about 45 ms
/// at that rate, 180 ms at 1 Gbit/s, for about 80 MiB more of `memory_reserve`.
const LIVE_QUEUE_DEPTH: usize = 32;

/// Batches waiting per worker in `mode`.
fn queue_depth(mode: Mode) -> usize {
    match mode {
        Mode::Replay => QUEUE_DEPTH,
        Mode::Live => LIVE_QUEUE_DEPTH,
    }
}
/// Records, and line bytes, a worker gathers before sending them on, even mid-batch: the
/// end of a capture finishes every open flow in one batch, and the merger must not hold
/// them all at once.
const OUTPUT_CHUNK: usize = 1024;
const OUTPUT_BYTES: usize = 512 << 10;
/// Output buffers a worker may have unreleased beyond its queue's depth; past that the
/// worker waits for the merger to write some out, so a worker far ahead of the others
/// cannot pile up records. Each batch yields at least one, so fewer than the queue holds
/// would stall steady work.
const SPARE_OUTPUTS: usize = 4;
/// Output buffers a worker may have unreleased in `mode`.
fn max_outputs(mode: Mode) -> usize {
    queue_depth(mode) + SPARE_OUTPUTS
}

/// The least the flow tables are given, however small `max_memory` is.
pub const MIN_FLOW_BUDGET: usize = 16 << 20;

/// Memory the packet path itself holds outside the flow tables, on `threads` threads in
/// `mode`: the binary and allocator, capture blocks, the record writer's queue and IP
/// fragments, and on several threads the batches in flight and each thread's unreleased
/// output. The flow tables get `max_memory` less this (see [`Pipeline::flow_budget`]).
pub fn memory_reserve(cfg: &SensorConfig, threads: usize, mode: Mode) -> usize {
    const BASE: usize = 24 << 20;
    let fragments = cfg.decode.max_fragment_bytes + cfg.decode.max_fragment_bytes / 4;
    let threaded = if threads > 1 {
        // Blocks pinned by queued batches (each up to BATCH_BYTES, plus the block it ends
        // in), the batches' segment lists, and each thread's output buffers and heap (the
        // dispatcher's own output counts as one more worker's, rounding up).
        let (depth, outputs) = (queue_depth(mode), max_outputs(mode));
        (depth + 2) * (BATCH_BYTES + (1 << 20))
            + threads * (depth + 2) * FLUSH_EVERY as usize * std::mem::size_of::<Item>()
            + threads * (outputs + 2) * (OUTPUT_BYTES + OUTPUT_CHUNK * 64)
            + threads * (4 << 20)
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

impl Output {
    /// Writes `call`'s JSON line, returning where it lies in `lines`. (The caller pushes the
    /// record itself: passing the 900-byte record in here costs a copy of it, measured.)
    fn line(&mut self, call: &ApiCall) -> Range<usize> {
        let start = self.lines.len();
        call.write_jsonl(&mut self.lines);
        start..self.lines.len()
    }

    /// Whether the buffer should go to the merge now rather than take more records.
    fn full(&self) -> bool {
        self.records.len() >= OUTPUT_CHUNK || self.lines.len() >= OUTPUT_BYTES
    }

    /// Empties a buffer for reuse, keeping its capacity.
    fn clear(&mut self) {
        self.records.clear();
        self.lines.clear();
    }
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

/// The records one flow-owning thread has made, waiting in key order for the merge.
#[derive(Default)]
struct Lane {
    /// Output not yet released, oldest first; `next` indexes the front's records.
    queue: VecDeque<Output>,
    next: usize,
    /// Every packet up to here has been worked.
    watermark: u64,
    finished: Option<(FlowStats, RecordCounts)>,
    live: LiveCounts,
}

impl Lane {
    /// Drops fully released outputs from the front, handing each to `give_back`.
    fn recycle(&mut self, mut give_back: impl FnMut(Output)) {
        while self.queue.front().is_some_and(|o| self.next >= o.records.len()) {
            if let Some(o) = self.queue.pop_front() {
                give_back(o);
            }
            self.next = 0;
        }
    }

    fn head(&self) -> Option<OrderKey> {
        self.queue.front().and_then(|o| o.records.get(self.next)).map(|r| r.0)
    }

    /// Whether this lane can no longer make a record at packet `seq` smaller than one it
    /// has not sent yet: it has a record waiting (larger, since lanes are in order), has
    /// finished, or has worked past that packet.
    fn passed(&self, seq: u64) -> bool {
        !self.queue.is_empty() || self.finished.is_some() || self.watermark >= seq
    }

    fn emit_next(&mut self, sink: &mut Sink<'_>) {
        let Some(o) = self.queue.front_mut() else { return };
        if let Some((_, call, range)) = o.records.get_mut(self.next) {
            sink.emit_owned(call.take(), o.lines.get(range.clone()).unwrap_or(&[]));
        }
        self.next += 1;
    }
}

struct Worker {
    tx: Sender<Batch>,
    /// Emptied outputs going back to this worker for reuse.
    give_back: Sender<Output>,
    pending: Batch,
    handle: Option<JoinHandle<()>>,
    lane: Lane,
}

/// The records of the dispatcher's own share of the flows. They wait in a lane like a
/// worker's, since the workers' may have to go out first.
struct LocalRecords {
    counts: RecordCounts,
    /// Records made so far: the last part of their keys.
    n: u64,
    /// Being filled; [`LocalRecords::seal`] moves it into the lane.
    out: Output,
    lane: Lane,
    /// Released outputs, for reuse.
    spare: Vec<Output>,
    /// The most outputs the lane held at once, for the tests of its bound (shared, so it
    /// can be read after `finish` consumed the pipeline).
    #[cfg(test)]
    peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl LocalRecords {
    fn push(&mut self, call: ApiCall, at: EmitPoint, seq: u64, keep: bool) {
        self.counts.count(&call);
        let range = self.out.line(&call);
        self.out.records.push((OrderKey { seq, at, n: self.n }, keep.then(|| Box::new(call)), range));
        self.n += 1;
        if self.out.full() {
            self.seal();
        }
    }

    /// Puts what has been made into the lane, where the merge sees it.
    fn seal(&mut self) {
        if self.out.records.is_empty() {
            return;
        }
        let mut fresh = self.spare.pop().unwrap_or_default();
        fresh.clear();
        self.lane.queue.push_back(std::mem::replace(&mut self.out, fresh));
        #[cfg(test)]
        self.peak.fetch_max(self.lane.queue.len(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// Which thread owns a flow: with [`Split::local`] > 0 the dispatcher keeps that many
/// 1024ths of the flows, and the workers share the rest equally.
#[derive(Clone, Copy, Debug)]
struct Split {
    workers: usize,
    local: u32,
}

impl Split {
    /// `threads` threads own flows: the dispatcher and `threads - 1` workers. The
    /// dispatcher's share leaves it as busy as each worker, given that reading, decoding
    /// and batching a packet cost [`DISPATCH_COST`] of working its flow; with many threads
    /// dispatching alone is a full load and it keeps none.
    fn for_threads(threads: usize) -> Split {
        let n = threads.max(2) as f64;
        let share = ((1.0 - DISPATCH_COST * (n - 1.0)) / n).max(0.0);
        Split { workers: threads.max(2) - 1, local: (share * 1024.0).round() as u32 }
    }

    /// The worker that owns `seg`'s flow, or `None` for the dispatcher.
    fn owner(&self, seg: &TcpSegment<'_>) -> Option<usize> {
        let h = flow_hash(seg);
        // The top bits pick the dispatcher's share, the bottom ones the worker, so the
        // workers' shares stay even.
        if h >> 22 < self.local {
            None
        } else {
            Some(h as usize % self.workers)
        }
    }

    /// The part of a budget (flows or bytes) the dispatcher's table gets; each worker gets
    /// an equal part of the rest.
    fn local_part(&self, total: usize) -> usize {
        (total as u128 * u128::from(self.local) / 1024) as usize
    }

    fn worker_part(&self, total: usize) -> usize {
        (total - self.local_part(total)) / self.workers
    }
}

/// What reading, decoding and batching a packet costs the dispatcher, against working its
/// flow inline (HTTP, reassembly, the record), on the benchmark's API traffic: see
/// docs/performance.md.
const DISPATCH_COST: f64 = 0.42;

struct Threaded {
    /// The dispatcher's own share of the flows ([`Split`]), worked inline as on one thread.
    own: Option<FlowTable>,
    x: Exchange,
}

/// The workers, the dispatcher's own records, and everything between them and the sink.
struct Exchange {
    workers: Vec<Worker>,
    local: Option<LocalRecords>,
    split: Split,
    /// Payload bytes in the pending batches.
    pending_bytes: usize,
    out: Receiver<WorkerOut>,
    /// Batches the workers are done with, for reuse (fresh memory costs page faults).
    spare: Receiver<Batch>,
    /// Whether the sink wants records beside their lines (the workers were told at start).
    keep_records: bool,
    /// Live capture, which must not wait for the workers (but at the end).
    live: bool,
    /// Output buffers each thread may have unreleased (`max_outputs` of the mode).
    max_outputs: usize,
    #[cfg(test)]
    gate: std::sync::Arc<std::sync::RwLock<()>>,
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
    /// Held for writing, stalls the workers before their next batch (tests of a worker
    /// falling behind).
    #[cfg(test)]
    gate: std::sync::Arc<std::sync::RwLock<()>>,
}

fn worker_loop(id: usize, mut table: FlowTable, ch: WorkerChannels, keep_records: bool, max_outputs: usize) {
    let mut n = 0u64;
    let mut counts = RecordCounts::default();
    let mut watermark = 0u64;
    // At most `max_outputs` buffers exist; once all are out, wait for the merger to hand one
    // back (it always can: see Pipeline::drain).
    let mut created = 0usize;
    let mut fresh = |given: &Receiver<Output>| {
        let mut o = match given.try_recv() {
            Ok(o) => o,
            Err(_) if created < max_outputs => {
                created += 1;
                Output::default()
            }
            Err(_) => given.recv().unwrap_or_default(),
        };
        o.clear();
        o
    };
    while let Ok(mut batch) = ch.rx.recv() {
        #[cfg(test)]
        drop(ch.gate.read());
        let mut out = fresh(&ch.given);
        let mut push = |call: ApiCall, at: EmitPoint, seq: u64| {
            counts.count(&call);
            let range = out.line(&call);
            out.records.push((OrderKey { seq, at, n }, keep_records.then(|| Box::new(call)), range));
            n += 1;
            if out.full() {
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

/// A hash of a segment's connection that picks its owner. Symmetric (both directions
/// agree) and cheap: the dispatcher computes it for every segment.
fn flow_hash(seg: &TcpSegment<'_>) -> u32 {
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
    (h >> 32) as u32
}

impl Pipeline {
    /// A pipeline on `threads` threads that own flows (1: everything on the calling thread;
    /// more: the calling thread dispatches and keeps a share, see [`Split::for_threads`]).
    pub fn new(cfg: SensorConfig, threads: usize, mode: Mode) -> Pipeline {
        Self::with_records(cfg, threads, mode, false)
    }

    /// As [`Pipeline::new`]; `keep_records` asks workers to send records, not just lines,
    /// across threads for sinks that want them.
    pub fn with_records(cfg: SensorConfig, threads: usize, mode: Mode, keep_records: bool) -> Pipeline {
        let threads = threads.max(1);
        let hasher = CredentialHasher::new(cfg.hash_key);
        let budget = Self::flow_budget(&cfg, threads, mode);
        let engine = if threads == 1 {
            Engine::Inline {
                table: FlowTable::new(cfg.flow.clone(), cfg.http.clone(), hasher, budget),
                line: Vec::with_capacity(4096),
                counts: RecordCounts::default(),
            }
        } else {
            let split = Split::for_threads(threads);
            let (out_tx, out_rx) = unbounded();
            let (spare_tx, spare_rx) = unbounded();
            #[cfg(test)]
            let gate = std::sync::Arc::new(std::sync::RwLock::new(()));
            let mut flow_cfg = cfg.flow.clone();
            flow_cfg.max_flows = split.worker_part(cfg.flow.max_flows).max(1);
            let ws = (0..split.workers)
                .map(|id| {
                    let (tx, rx) = bounded(queue_depth(mode));
                    let (give_back, given) = unbounded();
                    let table = FlowTable::new(flow_cfg.clone(), cfg.http.clone(), hasher.clone(), split.worker_part(budget));
                    let ch = WorkerChannels {
                        rx,
                        out: out_tx.clone(),
                        spare: spare_tx.clone(),
                        given,
                        #[cfg(test)]
                        gate: gate.clone(),
                    };
                    let handle = std::thread::Builder::new()
                        .name(format!("apitap-flow-{id}"))
                        .spawn(move || worker_loop(id, table, ch, keep_records, max_outputs(mode)))
                        .ok();
                    Worker { tx, give_back, pending: new_batch(), handle, lane: Lane::default() }
                })
                .collect();
            let own = (split.local > 0).then(|| {
                let mut own_cfg = cfg.flow.clone();
                own_cfg.max_flows = split.local_part(cfg.flow.max_flows).max(1);
                FlowTable::new(own_cfg, cfg.http.clone(), hasher.clone(), split.local_part(budget))
            });
            let local = own.is_some().then(|| LocalRecords {
                counts: RecordCounts::default(),
                n: 0,
                out: Output::default(),
                lane: Lane::default(),
                spare: Vec::new(),
                #[cfg(test)]
                peak: Default::default(),
            });
            let x = Exchange {
                workers: ws,
                local,
                split,
                pending_bytes: 0,
                out: out_rx,
                spare: spare_rx,
                keep_records,
                live: mode == Mode::Live,
                max_outputs: max_outputs(mode),
                #[cfg(test)]
                gate,
            };
            Engine::Threaded(Threaded { own, x })
        };
        Pipeline {
            decoder: Decoder::new(cfg.decode.clone()),
            engine,
            mode,
            seq: 0,
            max_ts: Timestamp::ZERO,
            last_tick: None,
            summary: Summary { threads, flow_budget: budget, ..Summary::default() },
        }
    }

    /// What the flow tables may hold in all: `max_memory` less [`memory_reserve`], and at
    /// least [`MIN_FLOW_BUDGET`] (callers should refuse a `max_memory` that leaves less).
    pub fn flow_budget(cfg: &SensorConfig, threads: usize, mode: Mode) -> usize {
        cfg.max_memory.saturating_sub(memory_reserve(cfg, threads, mode)).max(MIN_FLOW_BUDGET)
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
                let x = &mut t.x;
                let (split, keep) = (x.split, x.keep_records);
                let (workers, local, pending_bytes) = (&mut x.workers, &mut x.local, &mut x.pending_bytes);
                let own = &mut t.own;
                let shared = pkt.block;
                self.decoder.decode(pkt, &mut |seg| {
                    let Some(i) = split.owner(seg) else {
                        if let (Some(table), Some(rec)) = (own.as_mut(), local.as_mut()) {
                            table.process(seg, seq, &mut |c, at| rec.push(c, at, seq, keep));
                        }
                        return;
                    };
                    *pending_bytes += seg.payload.len();
                    let b = &mut workers[i].pending;
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
                if let Some(rec) = &mut t.x.local {
                    rec.lane.watermark = seq;
                    if rec.lane.queue.len() > t.x.max_outputs {
                        let s = &mut self.summary;
                        t.x.make_room(seq, Some(&mut s.queue_drops), &mut s.out_of_order, sink);
                    }
                }
                if seq % FLUSH_EVERY == 0 || t.x.pending_bytes >= BATCH_BYTES {
                    t.x.flush(seq, self.mode, &mut self.summary.queue_drops, sink);
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
                for w in t.x.workers.iter_mut() {
                    w.pending.items.push(Item::Tick { seq, now });
                }
                let Some(table) = &mut t.own else { return };
                // A tick can time out many flows at once. For the dispatcher to merge its
                // share of them a part at a time, the workers must have this tick: send it
                // now (in replay waiting for room; live, a full queue drops it as any
                // batch). No worker can make a record at `seq` after it but from packet
                // `seq` itself, which has one owner, so the batches may say they cover `seq`.
                t.x.send_all(seq, self.mode == Mode::Replay, &mut self.summary.queue_drops, sink);
                let ahead = &mut self.summary.out_of_order;
                table.tick(now, &mut |call, at| t.x.push_local(call, at, seq, ahead, sink));
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
        if let Engine::Threaded(t) = &mut self.engine {
            t.x.flush(self.seq, self.mode, &mut self.summary.queue_drops, sink);
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
                for w in &t.x.workers {
                    all.add(&w.lane.live);
                }
                if let (Some(table), Some(rec)) = (&t.own, &t.x.local) {
                    all.add(&LiveCounts::of(&rec.counts, &table.stats));
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
                let x = &mut t.x;
                // The end must get through even live, and in order: from here on, wait.
                x.live = false;
                for i in 0..x.workers.len() {
                    let mut batch = std::mem::replace(&mut x.workers[i].pending, new_batch());
                    batch.watermark = end;
                    batch.finish = Some(end);
                    // The end must get through even live: wait for room.
                    x.send_waiting(i, batch, sink);
                }
                // The workers finish their flows meanwhile; the dispatcher's own records
                // go out as their turn comes.
                if let Some(table) = &mut t.own {
                    table.finish_all(&mut |call, at| x.push_local(call, at, end, &mut summary.out_of_order, sink));
                    if let Some(rec) = &mut x.local {
                        rec.seal();
                        rec.lane.finished = Some((table.stats.clone(), std::mem::take(&mut rec.counts)));
                    }
                }
                x.drain(sink, true);
                for w in x.workers.iter_mut() {
                    if let Some(h) = w.handle.take() {
                        let _ = h.join();
                    }
                }
                let mut flows = FlowStats::default();
                let lanes = x.workers.iter().map(|w| &w.lane).chain(x.local.as_ref().map(|r| &r.lane));
                for (st, counts) in lanes.filter_map(|l| l.finished.as_ref()) {
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

impl Exchange {
    /// Sends every pending batch, saying the packets up to `watermark` are all dispatched,
    /// and writes the records that are ready. Replay waits for room; live drops a batch that
    /// finds its queue full, counting its segments in `drops`.
    fn flush(&mut self, watermark: u64, mode: Mode, drops: &mut u64, sink: &mut Sink<'_>) {
        self.send_all(watermark, mode == Mode::Replay, drops, sink);
    }

    fn send_all(&mut self, watermark: u64, wait: bool, drops: &mut u64, sink: &mut Sink<'_>) {
        self.pending_bytes = 0;
        for i in 0..self.workers.len() {
            let fresh = self.spare.try_recv().unwrap_or_else(|_| new_batch());
            let mut batch = std::mem::replace(&mut self.workers[i].pending, fresh);
            batch.watermark = watermark;
            if wait {
                self.send_waiting(i, batch, sink);
            } else if let Err(TrySendError::Full(b)) = self.workers[i].tx.try_send(batch) {
                *drops += b.items.iter().filter(|i| matches!(i, Item::Seg { .. })).count() as u64;
            }
        }
        self.drain(sink, false);
    }

    /// Sends a batch to worker `i`, waiting for room; meanwhile takes output and writes what
    /// is ready, so no worker waits on us while we wait on it.
    fn send_waiting(&mut self, i: usize, batch: Batch, sink: &mut Sink<'_>) {
        let tx = self.workers[i].tx.clone();
        let mut b = batch;
        loop {
            match tx.try_send(b) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    b = back;
                    // Merge even when nothing arrives: the worker may be waiting for its
                    // buffers back, and what made its records releasable may have been
                    // our own records, not its output.
                    match self.out.recv_timeout(std::time::Duration::from_millis(1)) {
                        Ok(o) => {
                            self.take_output(o);
                            self.drain(sink, false);
                        }
                        Err(_) => self.release(sink),
                    }
                }
            }
        }
    }

    /// Keeps a record of the dispatcher's own share made by a tick or at the end of input,
    /// when the workers already have every batch up to `seq`: a crowd of flows finishing at
    /// once is merged a part at a time.
    fn push_local(&mut self, call: ApiCall, at: EmitPoint, seq: u64, ahead: &mut u64, sink: &mut Sink<'_>) {
        let keep = self.keep_records;
        let Some(rec) = &mut self.local else { return };
        rec.push(call, at, seq, keep);
        if rec.lane.queue.len() > self.max_outputs {
            self.make_room(seq, None, ahead, sink);
        }
    }

    /// Holds the dispatcher's unreleased records to `max_outputs` buffers, as a worker's
    /// are, by merging until enough has gone out. The workers must have every packet up to
    /// `seq` for that: with `send` (counting live drops there), the pending batches go now;
    /// without, the caller has sent them (a tick, the end of input), and sending more would
    /// queue batches behind a worker that may be waiting for its buffers. Replay waits for
    /// the workers; live capture does not: what the merge cannot take yet goes out ahead,
    /// counted in `ahead` ([`Summary::out_of_order`]).
    fn make_room(&mut self, seq: u64, send: Option<&mut u64>, ahead: &mut u64, sink: &mut Sink<'_>) {
        if let Some(drops) = send {
            self.send_all(seq, !self.live, drops, sink);
        }
        loop {
            // Merge before waiting: a worker waiting for buffers sends nothing more, and
            // our lane, never empty here, may be all its records were waiting for.
            self.release(sink);
            let Some(rec) = &mut self.local else { return };
            if rec.lane.queue.len() <= self.max_outputs {
                return;
            }
            if self.live {
                let spare = &mut rec.spare;
                while rec.lane.queue.len() > self.max_outputs {
                    while rec.lane.head().is_some() {
                        rec.lane.emit_next(sink);
                        *ahead += 1;
                    }
                    rec.lane.recycle(|o| spare.push(o));
                }
                return;
            }
            match self.out.recv() {
                Ok(o) => self.take_output(o),
                Err(_) => return,
            }
        }
    }

    /// Takes worker output that has arrived and releases records every lane has passed,
    /// merging the lanes (each already in order) by key. With `wait_all`, keeps at it until
    /// every worker has finished.
    fn drain(&mut self, sink: &mut Sink<'_>, wait_all: bool) {
        loop {
            while let Ok(o) = self.out.try_recv() {
                self.take_output(o);
            }
            // Releasing hands buffers back, which a worker waiting for one needs before it
            // can send more: release before waiting again.
            self.release(sink);
            if !wait_all || self.workers.iter().all(|w| w.lane.finished.is_some()) {
                return;
            }
            match self.out.recv() {
                Ok(o) => self.take_output(o),
                Err(_) => return,
            }
        }
    }

    /// Writes records in key order as far as it is settled.
    fn release(&mut self, sink: &mut Sink<'_>) {
        if let Some(rec) = &mut self.local {
            rec.seal();
        }
        // Each lane's records are in key order. The smallest head record may go out once
        // every other lane has passed its packet.
        let own = self.workers.len();
        loop {
            let mut best: Option<(usize, OrderKey)> = None;
            for (i, w) in self.workers.iter_mut().enumerate() {
                let give_back = &w.give_back;
                w.lane.recycle(|o| {
                    let _ = give_back.send(o);
                });
                if let Some(k) = w.lane.head() {
                    if best.is_none_or(|(_, b)| k < b) {
                        best = Some((i, k));
                    }
                }
            }
            if let Some(rec) = &mut self.local {
                let spare = &mut rec.spare;
                rec.lane.recycle(|o| spare.push(o));
                if let Some(k) = rec.lane.head() {
                    if best.is_none_or(|(_, b)| k < b) {
                        best = Some((own, k));
                    }
                }
            }
            let Some((i, k)) = best else { break };
            let safe = self.workers.iter().all(|w| w.lane.passed(k.seq)) && self.local.as_ref().is_none_or(|r| r.lane.passed(k.seq));
            if !safe {
                break;
            }
            match self.workers.get_mut(i) {
                Some(w) => w.lane.emit_next(sink),
                None => {
                    if let Some(rec) = &mut self.local {
                        rec.lane.emit_next(sink);
                    }
                }
            }
        }
    }

    fn take_output(&mut self, mut o: WorkerOut) {
        let Some(w) = self.workers.get_mut(o.worker) else { return };
        let lane = &mut w.lane;
        lane.watermark = lane.watermark.max(o.watermark);
        if let Some(d) = o.done.take() {
            lane.finished = Some(d);
        }
        if let Some(l) = o.live.take() {
            lane.live = l;
        }
        lane.queue.push_back(o.out);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::decode::PacketMeta;
    use etherparse::PacketBuilder;

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

    /// Owners by flow for `split`, over 4000 client ports: the dispatcher's count, then
    /// each worker's.
    fn spread(split: Split) -> (usize, Vec<usize>) {
        let (mut own, mut workers) = (0, vec![0usize; split.workers]);
        for p in 0..4000u16 {
            let a = seg("10.0.0.1", 30000 + p, "10.0.0.2", 80);
            let b = seg("10.0.0.2", 80, "10.0.0.1", 30000 + p);
            assert_eq!(split.owner(&a), split.owner(&b), "both directions have one owner");
            match split.owner(&a) {
                None => own += 1,
                Some(i) => workers[i] += 1,
            }
        }
        (own, workers)
    }

    #[test]
    fn flows_spread_over_the_threads_in_their_shares() {
        // Two threads: the dispatcher keeps (1 - DISPATCH_COST) / 2 of the flows.
        let two = Split::for_threads(2);
        assert_eq!((two.workers, two.local), (1, 297));
        let (own, w) = spread(two);
        assert!((1000..1350).contains(&own), "{own} {w:?}");
        // Three: a small share; four and more: dispatching is the dispatcher's whole load.
        let three = Split::for_threads(3);
        assert_eq!((three.workers, three.local), (2, 55));
        let (own, w) = spread(three);
        assert!((120..320).contains(&own) && w.iter().all(|c| (1700..2100).contains(c)), "{own} {w:?}");
        for n in [4, 16] {
            let split = Split::for_threads(n);
            assert_eq!((split.workers, split.local), (n - 1, 0));
            let (own, w) = spread(split);
            assert_eq!(own, 0);
            assert!(w.iter().all(|c| *c > 4000 / (n - 1) * 4 / 5), "{n}: {w:?}");
        }
        let v6 = seg("2001:db8::1", 5, "2001:db8::2", 6);
        assert!(Split::for_threads(4).owner(&v6).is_some_and(|i| i < 3));
    }

    #[test]
    fn budgets_split_in_the_same_shares_and_add_up() {
        for n in 2..8 {
            let split = Split::for_threads(n);
            let total = 512 << 20;
            let parts = split.local_part(total) + split.workers * split.worker_part(total);
            assert!(parts <= total && total - parts < split.workers, "{n}");
        }
    }

    /// `flows` connections that each send one request and never hear back, within a tenth
    /// of a second; then, with `late`, a packet past the idle timeout, whose tick times
    /// them all out at once.
    fn crowd(flows: u32, late: bool) -> Vec<(Timestamp, Vec<u8>)> {
        let frame = |i: u32, payload: &[u8]| {
            let src = [10, 1, 0, (i / 1000) as u8];
            let b = PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4(src, [10, 0, 0, 2], 64).tcp(10000 + (i % 1000) as u16, 80, 7, 65535).ack(9).psh();
            let mut v = Vec::new();
            b.write(&mut v, payload).unwrap();
            v
        };
        let mut out: Vec<_> = (0..flows)
            .map(|i| (Timestamp(i64::from(i) * 2_000), frame(i, format!("GET /items/{i} HTTP/1.1\r\nHost: api\r\n\r\n").as_bytes())))
            .collect();
        if late {
            out.push((Timestamp(400_000_000_000), frame(flows, b"GET /late HTTP/1.1\r\nHost: api\r\n\r\n")));
        }
        out
    }

    #[test]
    fn live_capture_writes_ahead_rather_than_wait_for_a_stalled_worker() {
        // The dispatcher's ~29% share must make well over the records its lane may hold
        // live, (LIVE_QUEUE_DEPTH + 5) × OUTPUT_CHUNK, for some to go out ahead.
        let frames = crowd(200_000, true);
        assert!(200_000 * 29 / 100 > (max_outputs(Mode::Live) + 1) * OUTPUT_CHUNK + 20_000);
        // Room for every flow, so no eviction under memory pressure makes the runs differ.
        let cfg = SensorConfig { max_memory: 4 << 30, ..SensorConfig::default() };
        let (one, _, _) = run_with(cfg.clone(), &frames, 1);
        let one: std::collections::HashSet<&[u8]> = one.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let mut pl = Pipeline::new(cfg, 2, Mode::Live);
        let Engine::Threaded(t) = &pl.engine else { panic!("two threads") };
        let (gate, peak) = (t.x.gate.clone(), t.x.local.as_ref().map(|r| r.peak.clone()).expect("a local share"));
        // The worker stalls at its next batch; then its queue fills. Every packet must still
        // be taken, and the crowd's timeouts in the dispatcher's share written.
        let stall = gate.write().unwrap();
        let (fed, done) = std::sync::mpsc::channel();
        let feeder = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut sink = |_: Option<&ApiCall>, line: &[u8]| lines.extend_from_slice(line);
            for (ts, f) in &frames {
                pl.packet(&Packet::new(*ts, f.len() as u32, LinkType::Ethernet, f), &mut sink);
            }
            let _ = fed.send(());
            (pl, lines)
        });
        done.recv_timeout(std::time::Duration::from_secs(120)).expect("the capture thread waited for a stalled worker");
        let (pl, mut lines) = feeder.join().unwrap();
        let ahead = lines.iter().filter(|b| **b == b'\n').count();
        drop(stall);
        let s = pl.finish(&mut |_: Option<&ApiCall>, line: &[u8]| lines.extend_from_slice(line));
        let written: Vec<&[u8]> = lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        // Nothing made is lost or written twice; what went out ahead is counted.
        assert_eq!(written.len() as u64, s.transactions);
        assert_eq!(written.iter().collect::<std::collections::HashSet<_>>().len(), written.len());
        assert!(written.iter().all(|l| one.contains(l)));
        assert!(s.queue_drops > 0, "the stalled worker's queue never filled");
        assert!(ahead > 20_000 && s.out_of_order > 0 && s.out_of_order <= ahead as u64, "{ahead} {}", s.out_of_order);
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        // The bound is checked after each packet: a flush seals the partial output (one
        // over), and the next packet can fill one more before the check (what
        // memory_reserve's `outputs + 2` allows for).
        assert!(peak <= max_outputs(Mode::Live) + 2, "the dispatcher held {peak} outputs");
    }

    /// Lines written, transactions, and the most outputs the dispatcher's lane held.
    fn run(frames: &[(Timestamp, Vec<u8>)], threads: usize) -> (Vec<u8>, u64, usize) {
        run_with(SensorConfig::default(), frames, threads)
    }

    fn run_with(cfg: SensorConfig, frames: &[(Timestamp, Vec<u8>)], threads: usize) -> (Vec<u8>, u64, usize) {
        let mut pl = Pipeline::new(cfg, threads, Mode::Replay);
        let mut lines = Vec::new();
        let mut sink = |_: Option<&ApiCall>, line: &[u8]| lines.extend_from_slice(line);
        for (ts, f) in frames {
            pl.packet(&Packet::new(*ts, f.len() as u32, LinkType::Ethernet, f), &mut sink);
        }
        let peak = match &pl.engine {
            Engine::Threaded(t) => t.x.local.as_ref().map(|r| r.peak.clone()),
            Engine::Inline { .. } => None,
        };
        let s = pl.finish(&mut sink);
        (lines, s.transactions, peak.map_or(0, |p| p.load(std::sync::atomic::Ordering::Relaxed)))
    }

    #[test]
    fn a_crowd_of_flows_ending_at_once_merges_in_order_within_the_bound() {
        const FLOWS: u32 = 100_000;
        // The dispatcher's ~29% of the flows make about 29,000 records: more than twice
        // `max_outputs` buffers' worth, so it must merge part of them before making the rest,
        // many times over while the worker, with more, waits for its own buffers.
        assert!(FLOWS as usize * 297 / 1024 > (max_outputs(Mode::Replay) + 2) * OUTPUT_CHUNK);
        for late in [true, false] {
            let frames = crowd(FLOWS, late);
            let (one, n, _) = run(&frames, 1);
            assert_eq!(n, u64::from(FLOWS) + u64::from(late), "late {late}");
            for threads in [2, 3] {
                let (lines, n2, peak) = run(&frames, threads);
                assert_eq!(n2, n);
                assert!(lines == one, "{threads} threads, late {late}: records differ from one thread's");
                // As in the live test: a flush's partial output and one more before the check.
                assert!(peak <= max_outputs(Mode::Replay) + 2, "{threads} threads, late {late}: the dispatcher held {peak} outputs");
            }
        }
    }
}
