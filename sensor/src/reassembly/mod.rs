//! One direction of a TCP connection turned into an ordered byte stream with gaps.
//!
//! Guarantees:
//! - Bytes are delivered in stream order exactly once; in-order segments are delivered
//!   straight from the packet without a copy.
//! - Overlaps keep the first copy of every byte. A later copy with different bytes is
//!   reported as a conflict (the shape of TCP evasion); for bytes already delivered this is
//!   checked against fingerprints of the last few delivered segments.
//! - A hole never stalls the stream: it is declared a gap of a known number of missing bytes
//!   when the peer acknowledges past it, when buffered bytes exceed the per-stream bound, or
//!   when the connection ends. Gaps are events with their length, so parsers keep their
//!   place in the stream.
//! - Sequence numbers wrap (they are unwrapped into 64-bit stream offsets), and segments far
//!   outside the window are dropped and counted, so one bogus segment cannot fake gigabytes
//!   of loss.

mod fingerprint;

use crate::time::Timestamp;
use fingerprint::fingerprint;

/// A TCP sequence number; arithmetic wraps modulo 2^32 and comparison is by signed distance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seq(pub u32);

impl Seq {
    pub fn wrapping_add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }

    /// `self - other` as a signed distance, valid while the two are within 2^31.
    pub fn distance(self, other: Seq) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }
}

/// Why bytes are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapKind {
    /// Never captured (capture loss, or the segment was before the capture began).
    Lost,
    /// Captured, but cut off by the snaplen.
    Snaplen,
}

/// What a stream delivers, in order.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// `data` starts at stream offset `offset`, carried by a packet at `ts`. `peer_ack` is the
    /// offset in the opposite stream that packet acknowledged, when known.
    Data { offset: u64, data: &'a [u8], ts: Timestamp, peer_ack: Option<u64> },
    /// `len` bytes starting at `offset` are missing.
    Gap { offset: u64, len: u64, kind: GapKind },
}

/// Counters for one stream; the flow table sums them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub delivered: u64,
    pub missed: u64,
    pub gaps: u64,
    pub retransmitted: u64,
    pub conflicts: u64,
    pub out_of_window: u64,
    pub forced_gaps: u64,
}

#[derive(Debug)]
enum Piece {
    Data(Vec<u8>),
    Missing(u64),
}

#[derive(Debug)]
struct Chunk {
    offset: u64,
    piece: Piece,
    ts: Timestamp,
    peer_ack: Option<u64>,
}

impl Chunk {
    fn len(&self) -> u64 {
        match &self.piece {
            Piece::Data(d) => d.len() as u64,
            Piece::Missing(n) => *n,
        }
    }
    fn end(&self) -> u64 {
        self.offset + self.len()
    }
}

/// Fingerprint of a delivered segment, to notice retransmissions with different bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Delivered {
    offset: u64,
    len: u32,
    hash: u64,
}

const RECENT: usize = 4;
/// Allocator bookkeeping and alignment per piece allocation, beyond size-class rounding.
const PIECE_ALLOC_OVERHEAD: usize = 16;
/// Segments further than this beyond what is known are treated as bogus.
const MAX_WINDOW: u64 = 64 << 20;
/// After this many consecutive out-of-window segments the stream jumps to them: a long
/// capture outage looks exactly like that.
const JUMP_AFTER: u32 = 16;

/// Reassembly state of one direction.
#[derive(Debug)]
pub struct HalfStream {
    /// Sequence number of stream offset 0; unset until the first SYN or data segment.
    base: Option<Seq>,
    next: u64,
    ooo: Vec<Chunk>,
    ooo_bytes: usize,
    fin: Option<u64>,
    fin_delivered: bool,
    acked: u64,
    recent: [Delivered; RECENT],
    recent_at: usize,
    out_of_window_run: u32,
    pub stats: StreamStats,
}

impl Default for HalfStream {
    fn default() -> Self {
        HalfStream {
            base: None,
            next: 0,
            ooo: Vec::new(),
            ooo_bytes: 0,
            fin: None,
            fin_delivered: false,
            acked: 0,
            recent: [Delivered::default(); RECENT],
            recent_at: 0,
            out_of_window_run: 0,
            stats: StreamStats::default(),
        }
    }
}

impl HalfStream {
    /// True once a SYN or data fixed where the stream starts.
    pub fn started(&self) -> bool {
        self.base.is_some()
    }

    /// Offset of the next byte to deliver.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Out-of-order bytes held.
    pub fn buffered(&self) -> usize {
        self.ooo_bytes
    }

    /// Heap memory the held bytes cost: each piece is its own allocation (the allocator
    /// rounds it up to a size class, up to an eighth more) and has an entry in the list.
    pub fn footprint(&self) -> usize {
        if self.ooo.capacity() == 0 {
            return 0;
        }
        self.ooo_bytes + self.ooo_bytes / 8 + self.ooo.len() * PIECE_ALLOC_OVERHEAD + self.ooo.capacity() * std::mem::size_of::<Chunk>()
    }

    /// True once the FIN has been reached and reported.
    pub fn finished(&self) -> bool {
        self.fin_delivered
    }

    pub fn fin_offset(&self) -> Option<u64> {
        self.fin
    }

    /// A SYN (or SYN-ACK) with initial sequence number `isn`. Returns false when the stream
    /// already started from a different ISN (the caller decides whether that is a new
    /// connection).
    pub fn on_syn(&mut self, isn: Seq) -> bool {
        let start = isn.wrapping_add(1);
        match self.base {
            Some(b) if b == start => true,
            // A SYN retransmitted with a new ISN before any data: follow the latest.
            None => {
                self.base = Some(start);
                true
            }
            Some(_) if self.next == 0 && self.ooo.is_empty() => {
                self.base = Some(start);
                true
            }
            Some(_) => false,
        }
    }

    /// The stream offset of a sequence number, if it is within reach of the stream.
    pub fn offset_of(&self, seq: Seq) -> Option<u64> {
        let base = self.base?;
        let here = base.wrapping_add(self.next as u32);
        let off = self.next as i64 + seq.distance(here);
        u64::try_from(off).ok()
    }

    /// Records that the peer acknowledged up to `ack` (a sequence number in this stream).
    /// Returns the offset when it is ahead of what was delivered and plausible.
    pub fn on_peer_ack(&mut self, ack: Seq) -> Option<u64> {
        let off = self.offset_of(ack)?;
        if off > self.next && off - self.next <= MAX_WINDOW {
            self.acked = self.acked.max(off);
            Some(off)
        } else {
            None
        }
    }

    /// Highest offset the peer acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Adds a segment: `payload` captured bytes at `seq`, followed by `missing` bytes the
    /// snaplen cut off, with `fin` if the segment carried a FIN. Delivers whatever became
    /// contiguous.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        seq: Seq,
        payload: &[u8],
        missing: u32,
        fin: bool,
        ts: Timestamp,
        peer_ack: Option<u64>,
        max_buffered: usize,
        out: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        if self.base.is_none() {
            if payload.is_empty() && missing == 0 && !fin {
                return;
            }
            self.base = Some(seq);
        }
        let Some(mut off) = self.offset_of(seq) else {
            // Before the start of the stream (midstream pickup saw a later segment first).
            self.stats.out_of_window += 1;
            return;
        };
        let total = payload.len() as u64 + u64::from(missing);
        let frontier = self.next.max(self.acked).max(self.ooo.last().map_or(0, |c| c.end()));
        if off > frontier + MAX_WINDOW {
            self.stats.out_of_window += 1;
            self.out_of_window_run += 1;
            if self.out_of_window_run < JUMP_AFTER {
                return;
            }
            // Consistent far-away segments: the capture lost a long stretch. Jump there.
            self.stats.forced_gaps += 1;
            self.flush_to(off, out);
        }
        self.out_of_window_run = 0;
        if fin {
            let f = off + total;
            if self.fin.is_none_or(|old| f < old || old < self.next) {
                self.fin = Some(f);
            }
        }
        let mut payload = payload;
        let mut missing = u64::from(missing);
        // Trim what was already delivered, checking retransmissions against fingerprints.
        if off < self.next {
            let dup = (self.next - off).min(total);
            if dup == total {
                self.stats.retransmitted += 1;
                self.check_delivered(off, payload);
                self.deliver_fin();
                return;
            }
            let dup_data = (dup as usize).min(payload.len());
            payload = payload.get(dup_data..).unwrap_or(&[]);
            missing -= dup - dup_data as u64;
            off = self.next;
        }
        if off == self.next && self.ooo.is_empty() {
            // The hot path: in order, nothing buffered, deliver from the packet.
            self.deliver_data(off, payload, ts, peer_ack, out);
            if missing > 0 {
                self.deliver_gap(missing, GapKind::Snaplen, out);
            }
            self.deliver_fin();
            return;
        }
        if !payload.is_empty() {
            self.insert(off, Piece::Data(payload.to_vec()), ts, peer_ack);
        }
        if missing > 0 {
            self.insert(off + payload.len() as u64, Piece::Missing(missing), ts, peer_ack);
        }
        self.drain(out);
        if self.ooo_bytes > max_buffered {
            // Declare the first hole a gap until back under the bound.
            self.stats.forced_gaps += 1;
            while self.ooo_bytes > max_buffered / 2 {
                let Some(first) = self.ooo.first() else { break };
                let target = first.end();
                self.flush_to(target, out);
            }
        }
        self.deliver_fin();
    }

    /// Delivers everything before `target`, declaring holes gaps.
    pub fn flush_to(&mut self, target: u64, out: &mut dyn FnMut(StreamEvent<'_>)) {
        while self.next < target {
            let hole_end = match self.ooo.first() {
                Some(c) if c.offset <= self.next => {
                    self.drain(out);
                    continue;
                }
                Some(c) => c.offset.min(target),
                None => target,
            };
            let len = hole_end - self.next;
            self.deliver_gap(len, GapKind::Lost, out);
            self.drain(out);
        }
        self.deliver_fin();
    }

    /// End of the connection: deliver all buffered data and declare every hole, including
    /// bytes the peer acknowledged or the FIN covers but the capture never saw.
    pub fn flush_all(&mut self, out: &mut dyn FnMut(StreamEvent<'_>)) {
        let seen_end = self.ooo.last().map_or(self.next, |c| c.end());
        // The peer acknowledges the FIN itself, which is not a byte of data; when the FIN was
        // not captured, an acknowledgment exactly one past the data is read the same way.
        let acked_data = match self.fin {
            Some(f) if self.acked == f + 1 => f,
            None if self.acked == seen_end + 1 => seen_end,
            _ => self.acked,
        };
        let end = seen_end.max(acked_data).max(self.fin.unwrap_or(0));
        self.flush_to(end, out);
    }

    fn check_delivered(&mut self, off: u64, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        if let Some(r) = self.recent.iter().find(|r| r.offset == off && r.len as usize == payload.len() && r.len > 0) {
            if r.hash != fingerprint(payload) {
                self.stats.conflicts += 1;
            }
        }
    }

    fn deliver_data(
        &mut self,
        off: u64,
        data: &[u8],
        ts: Timestamp,
        peer_ack: Option<u64>,
        out: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        if data.is_empty() {
            return;
        }
        self.recent[self.recent_at] = Delivered { offset: off, len: data.len() as u32, hash: fingerprint(data) };
        self.recent_at = (self.recent_at + 1) % RECENT;
        self.next = off + data.len() as u64;
        self.stats.delivered += data.len() as u64;
        out(StreamEvent::Data { offset: off, data, ts, peer_ack });
    }

    fn deliver_gap(&mut self, len: u64, kind: GapKind, out: &mut dyn FnMut(StreamEvent<'_>)) {
        if len == 0 {
            return;
        }
        let offset = self.next;
        self.next += len;
        self.stats.missed += len;
        self.stats.gaps += 1;
        out(StreamEvent::Gap { offset, len, kind });
    }

    fn deliver_fin(&mut self) {
        if !self.fin_delivered && self.fin.is_some_and(|f| self.next >= f) && self.ooo.is_empty() {
            self.fin_delivered = true;
        }
    }

    /// Delivers buffered chunks that start at or before `next`.
    fn drain(&mut self, out: &mut dyn FnMut(StreamEvent<'_>)) {
        while let Some(first) = self.ooo.first() {
            if first.offset > self.next {
                break;
            }
            let c = self.ooo.remove(0);
            let len = c.len();
            self.ooo_bytes = self.ooo_bytes.saturating_sub(len as usize);
            if c.end() <= self.next {
                continue;
            }
            let skip = self.next - c.offset;
            match c.piece {
                Piece::Data(d) => {
                    let rest = d.get(skip as usize..).unwrap_or(&[]);
                    self.deliver_data(self.next, rest, c.ts, c.peer_ack, out);
                }
                Piece::Missing(n) => self.deliver_gap(n - skip, GapKind::Snaplen, out),
            }
        }
    }

    /// Inserts a piece into the out-of-order list, keeping earlier bytes where they overlap.
    fn insert(&mut self, off: u64, piece: Piece, ts: Timestamp, peer_ack: Option<u64>) {
        let len = match &piece {
            Piece::Data(d) => d.len() as u64,
            Piece::Missing(n) => *n,
        };
        let end = off + len;
        // Walk existing chunks; cut the new piece into the parts that fill holes.
        let mut cursor = off;
        let mut new_parts: Vec<Chunk> = Vec::new();
        let mut conflict = false;
        let slice_piece = |from: u64, to: u64| -> Piece {
            match &piece {
                Piece::Data(d) => Piece::Data(d.get((from - off) as usize..(to - off) as usize).unwrap_or(&[]).to_vec()),
                Piece::Missing(_) => Piece::Missing(to - from),
            }
        };
        for c in self.ooo.iter() {
            if c.end() <= cursor {
                continue;
            }
            if c.offset >= end {
                break;
            }
            if c.offset > cursor {
                new_parts.push(Chunk { offset: cursor, piece: slice_piece(cursor, c.offset), ts, peer_ack });
            }
            // Overlap [max(c.offset, cursor), min(c.end, end)): first copy wins; compare.
            let (os, oe) = (c.offset.max(cursor), c.end().min(end));
            if let (Piece::Data(old), Piece::Data(new)) = (&c.piece, &piece) {
                let a = old.get((os - c.offset) as usize..(oe - c.offset) as usize);
                let b = new.get((os - off) as usize..(oe - off) as usize);
                if a != b {
                    conflict = true;
                }
            }
            cursor = cursor.max(c.end());
        }
        if cursor < end {
            new_parts.push(Chunk { offset: cursor, piece: slice_piece(cursor, end), ts, peer_ack });
        }
        if conflict {
            self.stats.conflicts += 1;
        }
        if new_parts.is_empty() {
            self.stats.retransmitted += 1;
        }
        for p in new_parts {
            self.ooo_bytes += p.len() as usize;
            let at = self.ooo.partition_point(|c| c.offset < p.offset);
            self.ooo.insert(at, p);
        }
    }
}

#[cfg(test)]
mod tests;
