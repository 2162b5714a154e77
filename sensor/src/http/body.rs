//! Message bodies: framing (Content-Length, chunked with trailers, close-delimited) and
//! content decoding (gzip, x-gzip, deflate with or without the zlib header, brotli).
//!
//! Bounds: a chunk-size or trailer line is held up to 4 KiB; decoding stops after
//! `max_decoded` output bytes (a decompression bomb costs at most that much CPU and no
//! memory beyond a 16 KiB scratch buffer); body samples are capped by the caller. Gaps
//! inside a body keep the framing in step when the length is known, and say when it was
//! lost.

use super::parse::{line_end, parse_chunk_size, trim};
use crate::anomaly::{Anomaly, AnomalySet};
use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use flate2::{Decompress, FlushDecompress, Status};
use std::cell::RefCell;

thread_local! {
    /// Output space for decoders. Decoding is synchronous, so one buffer per thread serves
    /// every body; output is counted and sampled, never kept.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 32 << 10]);
    /// Inflate states waiting for reuse: building one costs far more than resetting it, and
    /// a busy sensor starts one per compressed body. Boxed so they move between this pool
    /// and decoders without copying the state.
    #[allow(clippy::vec_box)]
    static INFLATERS: RefCell<Vec<Box<Decompress>>> = const { RefCell::new(Vec::new()) };
}

const INFLATER_POOL: usize = 64;

fn take_inflater(zlib: bool) -> Box<Decompress> {
    match INFLATERS.with(|p| p.borrow_mut().pop()) {
        Some(mut d) => {
            d.reset(zlib);
            d
        }
        None => Box::new(Decompress::new(zlib)),
    }
}

fn give_inflater(d: Box<Decompress>) {
    INFLATERS.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < INFLATER_POOL {
            p.push(d);
        }
    });
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

const MAX_LINE: usize = 4096;

#[derive(Debug)]
enum Chunk {
    /// Reading a chunk-size line.
    Size { line: Vec<u8> },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// After chunk data, expecting CRLF; `seen` counts CR/LF bytes consumed.
    DataEnd { seen: u8 },
    /// Reading trailer lines after the last chunk.
    Trailer { line: Vec<u8>, fields: bool },
}

#[derive(Debug)]
enum State {
    Length { remaining: u64 },
    Chunked(Chunk),
    Close,
    Done,
}

/// Outcome of feeding bytes or a gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input that belonged to the body.
    pub consumed: u64,
    /// The body is complete.
    pub done: bool,
    /// The framing was lost (a gap inside chunk framing, or a bad chunk size): the body
    /// ended here, incomplete, and the stream must resynchronize.
    pub lost: bool,
}

/// Reads one body off a stream, decoding it on the way.
pub struct BodyReader {
    state: State,
    /// Body bytes after de-chunking, before content decoding.
    pub entity_len: u64,
    /// Body bytes missing from the capture.
    pub missing: u64,
    decoder: ContentDecoder,
}

impl BodyReader {
    pub fn new(framing: Framing, decoder: ContentDecoder) -> BodyReader {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length { remaining: n },
            Framing::Chunked => State::Chunked(Chunk::Size { line: Vec::new() }),
            Framing::Close => State::Close,
        };
        BodyReader { state, entity_len: 0, missing: 0, decoder }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    pub fn decoder(&self) -> &ContentDecoder {
        &self.decoder
    }

    pub fn into_decoder(self) -> ContentDecoder {
        self.decoder
    }

    /// Bytes held by this reader (line buffers, decoder state), for memory accounting.
    pub fn held_bytes(&self) -> usize {
        let line = match &self.state {
            State::Chunked(Chunk::Size { line }) | State::Chunked(Chunk::Trailer { line, .. }) => line.capacity(),
            _ => 0,
        };
        line + self.decoder.held_bytes()
    }

    fn entity(&mut self, d: &[u8]) {
        self.entity_len += d.len() as u64;
        self.decoder.feed(d);
    }

    /// Feeds stream bytes; returns how many belonged to the body.
    pub fn feed(&mut self, d: &[u8], anomalies: &mut AnomalySet) -> Progress {
        let mut used = 0usize;
        loop {
            let rest = &d[used..];
            match &mut self.state {
                State::Done => return Progress { consumed: used as u64, done: true, lost: false },
                State::Close => {
                    self.entity(rest);
                    return Progress { consumed: d.len() as u64, done: false, lost: false };
                }
                State::Length { remaining } => {
                    let n = (*remaining).min(rest.len() as u64) as usize;
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = State::Done;
                    }
                    self.entity(&rest[..n]);
                    used += n;
                    if n == rest.len() && !self.is_done() {
                        return Progress { consumed: used as u64, done: false, lost: false };
                    }
                }
                State::Chunked(chunk) => {
                    if rest.is_empty() {
                        return Progress { consumed: used as u64, done: false, lost: false };
                    }
                    match chunk {
                        Chunk::Size { line } => {
                            let Some(step) = take_line(line, rest) else {
                                used = d.len();
                                if line.len() > MAX_LINE {
                                    anomalies.insert(Anomaly::BadChunkSize);
                                    self.state = State::Done;
                                    return Progress { consumed: used as u64, done: false, lost: true };
                                }
                                continue;
                            };
                            used += step;
                            let content = strip_eol(line);
                            if trim(content).is_empty() {
                                // A stray empty line between chunks: tolerated as servers do.
                                line.clear();
                                continue;
                            }
                            match parse_chunk_size(content) {
                                Some(0) => *chunk = Chunk::Trailer { line: Vec::new(), fields: false },
                                Some(n) => *chunk = Chunk::Data { remaining: n },
                                None => {
                                    anomalies.insert(Anomaly::BadChunkSize);
                                    self.state = State::Done;
                                    return Progress { consumed: used as u64, done: false, lost: true };
                                }
                            }
                        }
                        Chunk::Data { remaining } => {
                            let n = (*remaining).min(rest.len() as u64) as usize;
                            *remaining -= n as u64;
                            if *remaining == 0 {
                                *chunk = Chunk::DataEnd { seen: 0 };
                            }
                            used += n;
                            self.entity(&rest[..n]);
                        }
                        Chunk::DataEnd { seen } => {
                            match rest[0] {
                                b'\r' if *seen == 0 => {
                                    *seen = 1;
                                    used += 1;
                                }
                                b'\n' => {
                                    used += 1;
                                    *chunk = Chunk::Size { line: Vec::new() };
                                }
                                _ => {
                                    // Data longer than its size line said: note it and read
                                    // the next size line from here, as libhtp does.
                                    anomalies.insert(Anomaly::BadChunkTerminator);
                                    *chunk = Chunk::Size { line: Vec::new() };
                                }
                            }
                        }
                        Chunk::Trailer { line, fields } => {
                            let Some(step) = take_line(line, rest) else {
                                used = d.len();
                                if line.len() > MAX_LINE {
                                    self.state = State::Done;
                                    return Progress { consumed: used as u64, done: true, lost: false };
                                }
                                continue;
                            };
                            used += step;
                            if strip_eol(line).is_empty() {
                                if *fields {
                                    anomalies.insert(Anomaly::ChunkedTrailers);
                                }
                                self.state = State::Done;
                            } else {
                                *fields = true;
                                line.clear();
                            }
                        }
                    }
                }
            }
        }
    }

    /// A gap of `len` bytes in the stream while this body is being read.
    pub fn gap(&mut self, len: u64) -> Progress {
        match &mut self.state {
            State::Done => Progress { consumed: 0, done: true, lost: false },
            State::Close => {
                self.missing += len;
                self.decoder.gap();
                Progress { consumed: len, done: false, lost: false }
            }
            State::Length { remaining } => {
                let n = (*remaining).min(len);
                *remaining -= n;
                self.missing += n;
                self.decoder.gap();
                if *remaining == 0 {
                    self.state = State::Done;
                    Progress { consumed: n, done: true, lost: false }
                } else {
                    Progress { consumed: n, done: false, lost: false }
                }
            }
            State::Chunked(Chunk::Data { remaining }) if len <= *remaining => {
                *remaining -= len;
                self.missing += len;
                self.decoder.gap();
                if *remaining == 0 {
                    self.state = State::Chunked(Chunk::DataEnd { seen: 0 });
                }
                Progress { consumed: len, done: false, lost: false }
            }
            State::Chunked(chunk) => {
                // The gap swallowed chunk framing: the body cannot be followed further. Only
                // the rest of the current chunk is known to be body.
                let body = match chunk {
                    Chunk::Data { remaining } => *remaining,
                    _ => 0,
                };
                self.missing += body;
                self.decoder.gap();
                self.state = State::Done;
                Progress { consumed: body, done: false, lost: true }
            }
        }
    }

    /// The stream ended. True when that completes the body (close-delimited bodies).
    pub fn end_of_stream(&mut self) -> bool {
        let complete = matches!(self.state, State::Close | State::Done);
        self.state = State::Done;
        self.decoder.finish(complete);
        complete
    }

    /// The body is over; `complete` when its framing ended normally.
    pub fn finish_decoder(&mut self, complete: bool) {
        self.decoder.finish(complete);
    }
}

/// Appends bytes up to and including the next LF to `line`; returns how many bytes of `d`
/// were taken, or `None` (with all of `d` taken) when no LF was found.
fn take_line(line: &mut Vec<u8>, d: &[u8]) -> Option<usize> {
    match memchr::memchr(b'\n', d) {
        Some(p) => {
            if line.len() <= MAX_LINE {
                line.extend_from_slice(&d[..=p]);
            }
            Some(p + 1)
        }
        None => {
            if line.len() <= MAX_LINE {
                line.extend_from_slice(&d[..d.len().min(MAX_LINE + 1 - line.len().min(MAX_LINE + 1))]);
            }
            None
        }
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    line_end(line).map_or(line, |(end, _)| &line[..end])
}

/// The content codings apitap decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    /// Anything else, or several codings stacked: counted as sent.
    Unknown,
}

impl Coding {
    /// From a Content-Encoding header value.
    pub fn from_header(v: &[u8]) -> Coding {
        let v = trim(v);
        if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Coding::Gzip
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Coding::Deflate
        } else if v.eq_ignore_ascii_case(b"br") {
            Coding::Brotli
        } else if v.is_empty() || v.eq_ignore_ascii_case(b"identity") {
            Coding::Identity
        } else {
            Coding::Unknown
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeStatus {
    Ok,
    /// The compressed data was corrupt; output stopped.
    Failed,
    /// Output reached the bound; decoding stopped.
    Capped,
    /// A gap interrupted the compressed stream; output stopped.
    Interrupted,
}

enum Engine {
    Identity,
    Unknown,
    /// A gzip body whose bytes nobody wants: its decoded length comes from the trailer
    /// (RFC 1952 ISIZE) instead of inflating it. `head` keeps the first 3 bytes to check the
    /// magic, `tail` the last 8, `seen` counts encoded bytes.
    GzipTrailer { head: [u8; 3], tail: [u8; 8], seen: u64 },
    /// Collecting the gzip header before the deflate stream.
    GzipHeader(Vec<u8>),
    /// Waiting for the first two bytes to tell zlib-wrapped from raw deflate.
    DeflateSniff(Vec<u8>),
    Inflate(Box<Decompress>),
    Brotli(Box<BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>>),
    Stopped,
}

/// Streaming content decoder that counts its output and keeps the first bytes of it.
pub struct ContentDecoder {
    engine: Engine,
    coding: Coding,
    /// Decoded bytes produced.
    pub decoded: u64,
    cap: u64,
    pub status: DecodeStatus,
    sample: Vec<u8>,
    sample_cap: usize,
}

impl Drop for ContentDecoder {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ContentDecoder {
    /// `cap` bounds output; the first `sample_cap` decoded bytes are kept. With no sample
    /// wanted, a gzip body is not inflated: its trailer says how long it decodes to. For
    /// bodies from the server, which does not gain by lying about its own lengths.
    pub fn new(coding: Coding, cap: u64, sample_cap: usize) -> ContentDecoder {
        Self::build(coding, cap, sample_cap, true)
    }

    /// As [`ContentDecoder::new`], but always inflating: for request bodies, whose gzip
    /// trailer the client (possibly the attacker) writes, so a lying length cannot hide an
    /// oversized or bomb-shaped body.
    pub fn inflating(coding: Coding, cap: u64, sample_cap: usize) -> ContentDecoder {
        Self::build(coding, cap, sample_cap, false)
    }

    fn build(coding: Coding, cap: u64, sample_cap: usize, trust_trailer: bool) -> ContentDecoder {
        let engine = match coding {
            Coding::Identity => Engine::Identity,
            Coding::Unknown => Engine::Unknown,
            Coding::Gzip if sample_cap == 0 && trust_trailer => Engine::GzipTrailer { head: [0; 3], tail: [0; 8], seen: 0 },
            Coding::Gzip => Engine::GzipHeader(Vec::new()),
            Coding::Deflate => Engine::DeflateSniff(Vec::new()),
            Coding::Brotli => {
                let mut st = BrotliState::new(StandardAlloc::default(), StandardAlloc::default(), StandardAlloc::default());
                // Large windows (up to 1 GiB) are a memory bomb vector; HTTP's `br` is standard.
                st.large_window = false;
                Engine::Brotli(Box::new(st))
            }
        };
        ContentDecoder { engine, coding, decoded: 0, cap, status: DecodeStatus::Ok, sample: Vec::new(), sample_cap }
    }

    pub fn coding(&self) -> Coding {
        self.coding
    }

    /// The first decoded bytes, up to the sample bound.
    pub fn sample(&self) -> &[u8] {
        &self.sample
    }

    pub fn take_sample(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.sample)
    }

    pub(crate) fn held_bytes(&self) -> usize {
        self.sample.capacity()
            + match &self.engine {
                Engine::Inflate(_) => 48 << 10,
                Engine::Brotli(_) => 64 << 10,
                Engine::GzipHeader(b) | Engine::DeflateSniff(b) => b.capacity(),
                _ => 0,
            }
    }

    fn emit(&mut self, out: &[u8]) -> bool {
        let room = self.cap.saturating_sub(self.decoded);
        let n = (out.len() as u64).min(room) as usize;
        if self.sample.len() < self.sample_cap {
            let k = (self.sample_cap - self.sample.len()).min(n);
            self.sample.extend_from_slice(&out[..k]);
        }
        self.decoded += n as u64;
        if n < out.len() || self.decoded >= self.cap {
            self.status = DecodeStatus::Capped;
            self.stop();
            return false;
        }
        true
    }

    /// No more decoding: hand pooled state back.
    fn stop(&mut self) {
        if let Engine::Inflate(d) = std::mem::replace(&mut self.engine, Engine::Stopped) {
            give_inflater(d);
        }
    }

    /// Feeds body bytes (after de-chunking).
    pub fn feed(&mut self, mut input: &[u8]) {
        if input.is_empty() {
            return;
        }
        loop {
            match &mut self.engine {
                Engine::Identity | Engine::Unknown => {
                    self.emit(input);
                    return;
                }
                Engine::GzipTrailer { head, tail, seen } => {
                    for (i, b) in input.iter().take(3).enumerate() {
                        if let Some(h) = head.get_mut(*seen as usize + i) {
                            *h = *b;
                        }
                    }
                    *seen += input.len() as u64;
                    if input.len() >= 8 {
                        tail.copy_from_slice(&input[input.len() - 8..]);
                    } else {
                        tail.rotate_left(input.len());
                        tail[8 - input.len()..].copy_from_slice(input);
                    }
                    return;
                }
                Engine::Stopped => return,
                Engine::GzipHeader(buf) => {
                    let before = buf.len();
                    buf.extend_from_slice(&input[..input.len().min(4096)]);
                    match gzip_header_len(buf) {
                        GzipHeader::Complete(n) => {
                            let from_input = n.saturating_sub(before);
                            input = input.get(from_input..).unwrap_or(&[]);
                            self.engine = Engine::Inflate(take_inflater(false));
                        }
                        GzipHeader::NeedMore if buf.len() < 4096 => return,
                        _ => {
                            self.status = DecodeStatus::Failed;
                            self.engine = Engine::Stopped;
                            return;
                        }
                    }
                }
                Engine::DeflateSniff(buf) => {
                    let take = 2usize.saturating_sub(buf.len()).min(input.len());
                    buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let [cmf, flg] = buf[..] else { return };
                    // RFC 1950: method 8, window <= 32K, header checksum. Servers often send
                    // raw deflate despite the name; accept both as browsers do.
                    let zlib = cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
                    let sniffed = [cmf, flg];
                    self.engine = Engine::Inflate(take_inflater(zlib));
                    self.inflate(&sniffed);
                }
                Engine::Inflate(_) => {
                    self.inflate(input);
                    return;
                }
                Engine::Brotli(_) => {
                    self.brotli(input);
                    return;
                }
            }
            if input.is_empty() {
                return;
            }
        }
    }

    fn inflate(&mut self, mut input: &[u8]) {
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            while !input.is_empty() {
                let Engine::Inflate(z) = &mut self.engine else { break };
                let (in0, out0) = (z.total_in(), z.total_out());
                let res = z.decompress(input, &mut scratch, FlushDecompress::None);
                let used = (z.total_in() - in0) as usize;
                let produced = (z.total_out() - out0) as usize;
                input = input.get(used..).unwrap_or(&[]);
                if produced > 0 && !self.emit(&scratch[..produced]) {
                    break;
                }
                match res {
                    Ok(Status::StreamEnd) => {
                        // Trailer and any further gzip member are not decoded.
                        self.stop();
                        break;
                    }
                    Ok(_) if used == 0 && produced == 0 => break,
                    Ok(_) => {}
                    Err(_) => {
                        self.status = DecodeStatus::Failed;
                        self.stop();
                        break;
                    }
                }
            }
        });
    }

    fn brotli(&mut self, input: &[u8]) {
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let mut avail_in = input.len();
            let mut in_off = 0usize;
            while let Engine::Brotli(st) = &mut self.engine {
                let mut avail_out = scratch.len();
                let mut out_off = 0usize;
                let mut total = 0usize;
                let res = BrotliDecompressStream(
                    &mut avail_in,
                    &mut in_off,
                    input,
                    &mut avail_out,
                    &mut out_off,
                    &mut scratch,
                    &mut total,
                    st,
                );
                if out_off > 0 && !self.emit(&scratch[..out_off]) {
                    break;
                }
                match res {
                    BrotliResult::NeedsMoreOutput => continue,
                    BrotliResult::NeedsMoreInput => break,
                    BrotliResult::ResultSuccess => {
                        self.engine = Engine::Stopped;
                        break;
                    }
                    BrotliResult::ResultFailure => {
                        self.status = DecodeStatus::Failed;
                        self.engine = Engine::Stopped;
                        break;
                    }
                }
            }
        });
    }

    /// Bytes of the encoded body were lost: a compressed stream cannot continue past them.
    pub fn gap(&mut self) {
        match self.engine {
            Engine::Identity | Engine::Unknown | Engine::Stopped => {}
            Engine::GzipTrailer { seen, .. } => {
                // No trailer to trust now: count what was sent, as for an unknown coding.
                self.decoded = seen.min(self.cap);
                if self.status == DecodeStatus::Ok {
                    self.status = DecodeStatus::Interrupted;
                }
                self.engine = Engine::Stopped;
            }
            _ => {
                if self.status == DecodeStatus::Ok {
                    self.status = DecodeStatus::Interrupted;
                }
                self.stop();
            }
        }
    }

    /// Releases decoder state once the body is over (`complete` when its framing ended
    /// normally). A compressed stream that had not reached its end by then was cut short (or
    /// lies about its length): a decoding error.
    pub fn finish(&mut self, complete: bool) {
        match self.engine {
            Engine::Identity | Engine::Unknown | Engine::Stopped => {}
            Engine::GzipTrailer { head, tail, seen } => {
                self.engine = Engine::Stopped;
                if seen == 0 {
                    return;
                }
                let isize = u64::from(u32::from_le_bytes([tail[4], tail[5], tail[6], tail[7]]));
                // A gzip member is at least 18 bytes, and deflate cannot expand more than
                // about 1032:1: anything else is not a trailer to believe.
                let plausible = complete && head == [0x1f, 0x8b, 8] && seen >= 18 && isize <= seen.saturating_mul(1032);
                if !plausible {
                    self.status = DecodeStatus::Failed;
                    self.decoded = if head == [0x1f, 0x8b, 8] { seen.min(self.cap) } else { 0 };
                } else if isize > self.cap {
                    self.status = DecodeStatus::Capped;
                    self.decoded = self.cap;
                } else {
                    self.decoded = isize;
                }
            }
            Engine::GzipHeader(ref b) | Engine::DeflateSniff(ref b) if b.is_empty() => self.engine = Engine::Stopped,
            _ => {
                if self.status == DecodeStatus::Ok {
                    self.status = DecodeStatus::Failed;
                }
                self.stop();
            }
        }
    }

    /// Anomalies this decoder's outcome implies.
    pub fn anomalies(&self, out: &mut AnomalySet) {
        match self.status {
            DecodeStatus::Failed => out.insert(Anomaly::ContentDecodingError),
            DecodeStatus::Capped => out.insert(Anomaly::DecompressionLimit),
            _ => {}
        }
        if self.coding == Coding::Unknown {
            out.insert(Anomaly::UnknownContentEncoding);
        }
    }
}

enum GzipHeader {
    Complete(usize),
    NeedMore,
    Invalid,
}

/// Length of a gzip member header (RFC 1952) at the start of `b`.
fn gzip_header_len(b: &[u8]) -> GzipHeader {
    if b.len() < 10 {
        return if b.iter().zip([0x1f, 0x8b, 8]).all(|(x, y)| *x == y) { GzipHeader::NeedMore } else { GzipHeader::Invalid };
    }
    if b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
        return GzipHeader::Invalid;
    }
    let flags = b[3];
    let mut off = 10usize;
    if flags & 0x04 != 0 {
        let Some(x) = b.get(off..off + 2) else { return GzipHeader::NeedMore };
        off += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for bit in [0x08u8, 0x10] {
        if flags & bit != 0 {
            match b.get(off..).and_then(|r| memchr::memchr(0, r)) {
                Some(p) => off += p + 1,
                None => return GzipHeader::NeedMore,
            }
        }
    }
    if flags & 0x02 != 0 {
        off += 2;
    }
    if b.len() < off {
        GzipHeader::NeedMore
    } else {
        GzipHeader::Complete(off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn chunked(body: &[u8], splits: &[usize]) -> (BodyReader, AnomalySet, u64) {
        let mut r = BodyReader::new(Framing::Chunked, ContentDecoder::new(Coding::Identity, 1 << 20, 64));
        let mut a = AnomalySet::default();
        let mut consumed = 0;
        let mut last = 0;
        for &s in splits.iter().chain(std::iter::once(&body.len())) {
            let p = r.feed(&body[last..s], &mut a);
            consumed += p.consumed;
            last = s;
        }
        (r, a, consumed)
    }

    #[test]
    fn chunked_any_split() {
        let body = b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nTrailer: 1\r\n\r\nNEXT";
        for s in 0..body.len() {
            let (r, a, consumed) = chunked(body, &[s]);
            assert!(r.is_done(), "split {s}");
            assert_eq!(consumed as usize, body.len() - 4, "split {s}");
            assert_eq!(r.entity_len, 9);
            assert_eq!(r.decoder().sample(), b"Wikipedia");
            assert!(a.contains(Anomaly::ChunkedTrailers));
        }
    }

    #[test]
    fn bad_chunk_size_loses_framing() {
        let mut r = BodyReader::new(Framing::Chunked, ContentDecoder::new(Coding::Identity, 1 << 20, 0));
        let mut a = AnomalySet::default();
        let p = r.feed(b"10000000000000000\r\n\r\nGET / HTTP/1.1\r\n", &mut a);
        assert!(p.lost);
        assert_eq!(p.consumed, 19);
        assert!(a.contains(Anomaly::BadChunkSize));
    }

    #[test]
    fn gap_in_length_body_keeps_sync() {
        let mut r = BodyReader::new(Framing::Length(10), ContentDecoder::new(Coding::Identity, 1 << 20, 0));
        let mut a = AnomalySet::default();
        r.feed(b"abc", &mut a);
        let g = r.gap(4);
        assert_eq!((g.consumed, g.done), (4, false));
        let p = r.feed(b"defXYZ", &mut a);
        assert_eq!((p.consumed, p.done), (3, true));
        assert_eq!((r.entity_len, r.missing), (6, 4));
        // a gap running past the end of the body
        let mut r = BodyReader::new(Framing::Length(5), ContentDecoder::new(Coding::Identity, 1 << 20, 0));
        let g = r.gap(20);
        assert_eq!((g.consumed, g.done), (5, true));
    }

    #[test]
    fn gzip_deflate_brotli() {
        let plain = b"hello hello hello hello hello".repeat(20);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zl.write_all(&plain).unwrap();
        let zl = zl.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&plain).unwrap();
        let raw = raw.finish().unwrap();
        for (coding, data) in [(Coding::Gzip, &gz), (Coding::Deflate, &zl), (Coding::Deflate, &raw)] {
            for split in [1, 2, 5, 11, data.len()] {
                let mut d = ContentDecoder::new(coding, 1 << 20, 8);
                for part in data.chunks(split) {
                    d.feed(part);
                }
                assert_eq!(d.decoded, plain.len() as u64, "{coding:?} split {split}");
                assert_eq!(d.sample(), b"hello he");
                assert_eq!(d.status, DecodeStatus::Ok);
            }
        }
        // "hello" brotli-compressed by the reference encoder
        let br = [0x0b, 0x02, 0x80, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x03];
        let mut d = ContentDecoder::new(Coding::Brotli, 1 << 20, 16);
        d.feed(&br);
        assert_eq!(d.sample(), b"hello");
    }

    #[test]
    fn bomb_is_capped() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 10 << 20]).unwrap();
        let gz = gz.finish().unwrap();
        // Read by its trailer: never inflated at all.
        let mut t = ContentDecoder::new(Coding::Gzip, 1 << 20, 0);
        t.feed(&gz);
        t.finish(true);
        assert_eq!((t.decoded, t.status), (1 << 20, DecodeStatus::Capped));
        // Inflated (a sample is wanted): stops at the cap.
        let mut d = ContentDecoder::new(Coding::Gzip, 1 << 20, 1);
        d.feed(&gz);
        assert_eq!(d.decoded, 1 << 20);
        assert_eq!(d.status, DecodeStatus::Capped);
        let mut a = AnomalySet::default();
        d.anomalies(&mut a);
        assert!(a.contains(Anomaly::DecompressionLimit));
    }

    #[test]
    fn a_lying_trailer_is_believed_only_where_allowed() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'a'; 100_000]).unwrap();
        let mut gz = gz.finish().unwrap();
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        let mut trusted = ContentDecoder::new(Coding::Gzip, 1 << 20, 0);
        trusted.feed(&gz);
        trusted.finish(true);
        assert_eq!(trusted.decoded, 10);
        let mut inflated = ContentDecoder::inflating(Coding::Gzip, 1 << 20, 0);
        inflated.feed(&gz);
        inflated.finish(true);
        assert_eq!(inflated.decoded, 100_000);
    }

    #[test]
    fn cut_short_stream_is_an_error_empty_body_is_not() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b"some text ".repeat(100)).unwrap();
        let gz = gz.finish().unwrap();
        let mut d = ContentDecoder::new(Coding::Gzip, 1 << 20, 0);
        d.feed(&gz[..gz.len() / 2]);
        d.finish(false);
        assert_eq!(d.status, DecodeStatus::Failed);
        let mut d = ContentDecoder::new(Coding::Gzip, 1 << 20, 0);
        d.finish(true);
        assert_eq!(d.status, DecodeStatus::Ok);
    }

    #[test]
    fn corrupt_gzip_fails_cleanly() {
        for sample in [0, 1] {
            let mut d = ContentDecoder::new(Coding::Gzip, 1 << 20, sample);
            d.feed(b"not gzip at all, not even close");
            d.finish(true);
            assert_eq!((d.status, d.decoded), (DecodeStatus::Failed, 0), "sample {sample}");
        }
        let mut d = ContentDecoder::new(Coding::Gzip, 1 << 20, 1);
        d.feed(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff");
        assert_eq!(d.status, DecodeStatus::Failed);
        // A trailer claiming more than deflate can expand to is not believed.
        let mut t = ContentDecoder::new(Coding::Gzip, 1 << 30, 0);
        t.feed(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x03\x00\x00\x00\x00\x00\xff\xff\xff\x7f");
        t.finish(true);
        assert_eq!(t.status, DecodeStatus::Failed);
    }

    #[test]
    fn trailer_length_equals_inflated_length() {
        let plain = b"{\"id\": 1, \"name\": \"alice\"}".repeat(300);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        for split in [1, 3, 7, 8, 9, 100, gz.len()] {
            let mut t = ContentDecoder::new(Coding::Gzip, 1 << 20, 0);
            let mut d = ContentDecoder::new(Coding::Gzip, 1 << 20, 1);
            for part in gz.chunks(split) {
                t.feed(part);
                d.feed(part);
            }
            t.finish(true);
            d.finish(true);
            assert_eq!((t.decoded, t.status), (plain.len() as u64, DecodeStatus::Ok), "split {split}");
            assert_eq!(t.decoded, d.decoded);
        }
        // Cut short, or interrupted by a gap: the encoded bytes seen, flagged.
        let mut t = ContentDecoder::new(Coding::Gzip, 1 << 20, 0);
        t.feed(&gz[..gz.len() / 2]);
        t.finish(false);
        assert_eq!((t.decoded, t.status), ((gz.len() / 2) as u64, DecodeStatus::Failed));
        let mut t = ContentDecoder::new(Coding::Gzip, 1 << 20, 0);
        t.feed(&gz[..10]);
        t.gap();
        assert_eq!((t.decoded, t.status), (10, DecodeStatus::Interrupted));
    }
}
