//! Classic pcap files read in large shared blocks. A frame handed out is a slice of a
//! reference-counted block, so the pipeline can pass payloads to worker threads without
//! copying them, and one `read` brings in a megabyte rather than two `fread`s per frame.
//!
//! Guarantees:
//! - It accepts what libpcap's savefile reader accepts for the formats it takes (pcap 2.x,
//!   micro- or nanosecond, either byte order) and reports damage the way libpcap does, in
//!   the same words: a cut header or frame is a truncation (what came before stays good), an
//!   impossible capture length is an error. Frames longer than the file's snaplen are cut to
//!   it, as libpcap does. Tests check the two readers agree on every capture in the corpus
//!   and on damaged copies of them.
//! - Files it does not take (pcapng, Kuznetsov's modified format, link types apitap does not
//!   decode, byte-swapped NFLOG whose headers libpcap rewrites) are left to libpcap.
//! - Memory is the blocks still referenced by frames in flight plus a small pool of free
//!   ones; a block is reused only once nothing refers to it.

use super::SharedBlock;
use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

/// Bytes read at a time. A block holds at least one whole frame: larger frames get a block
/// of their own size.
const BLOCK: usize = 1 << 20;
/// Blocks kept for reuse, free or still referenced; beyond it blocks are released to the
/// allocator. More than the pipeline keeps in flight (see `pipeline::memory_reserve`).
const POOL: usize = 32;
/// libpcap's MAXIMUM_SNAPLEN: the largest frame it reads for the link types apitap decodes.
pub(super) const MAX_SNAPLEN: u32 = 262_144;

const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
const MAGIC_NANO: u32 = 0xa1b2_3c4d;
const LINKTYPE_NFLOG: u32 = 239;

/// A frame as the file records it.
pub(super) struct RawFrame<'a> {
    pub secs: u32,
    /// Nanoseconds (microsecond files are scaled).
    pub nanos: u64,
    pub wire_len: u32,
    pub data: &'a [u8],
    pub block: &'a SharedBlock,
}

/// Why reading stopped early, in libpcap's words.
pub(super) enum ReadFail {
    /// The file ends inside a record.
    Truncated(String),
    /// A record that cannot be right, or an I/O error.
    Invalid(String),
}

pub(super) struct PcapBlockReader {
    file: File,
    little_endian: bool,
    nanos: bool,
    snaplen: u32,
    linktype: u32,
    block: SharedBlock,
    /// Next record in `block`, and the end of valid bytes in it.
    pos: usize,
    end: usize,
    eof: bool,
    pool: Vec<SharedBlock>,
}

/// What the 24-byte file header says, when it is a header this reader takes.
struct FileHeader {
    little_endian: bool,
    nanos: bool,
    snaplen: u32,
    linktype: u32,
}

fn header(h: &[u8; 24]) -> Option<FileHeader> {
    let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let (little_endian, nanos) = match (magic, magic.swap_bytes()) {
        (MAGIC_MICRO, _) => (true, false),
        (MAGIC_NANO, _) => (true, true),
        (_, MAGIC_MICRO) => (false, false),
        (_, MAGIC_NANO) => (false, true),
        _ => return None,
    };
    let u32_at = |o: usize| read_u32(h, o, little_endian);
    let u16_at = |o: usize| if little_endian { u16::from_le_bytes([h[o], h[o + 1]]) } else { u16::from_be_bytes([h[o], h[o + 1]]) };
    // Versions before 2.4 may have the two lengths swapped, which libpcap untangles.
    if (u16_at(4), u16_at(6)) != (2, 4) {
        return None;
    }
    // The upper bits of the link type carry FCS information; libpcap masks them off.
    Some(FileHeader { little_endian, nanos, snaplen: u32_at(16), linktype: u32_at(20) & 0x03ff_ffff })
}

fn read_u32(b: &[u8], o: usize, little_endian: bool) -> u32 {
    let v = b.get(o..o + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()).unwrap_or([0; 4]);
    if little_endian { u32::from_le_bytes(v) } else { u32::from_be_bytes(v) }
}

impl PcapBlockReader {
    /// A reader when `file` starts with a classic pcap header of a link type `supported`
    /// accepts; otherwise the file back, rewound, for libpcap to read.
    pub fn open(mut file: File, supported: impl Fn(i32) -> bool) -> io::Result<Result<PcapBlockReader, File>> {
        use std::io::Seek;
        let mut h = [0u8; 24];
        let got = read_full(&mut file, &mut h)?;
        let parsed = if got == 24 { header(&h) } else { None };
        let Some(FileHeader { little_endian, nanos, snaplen, linktype }) = parsed else {
            file.rewind()?;
            return Ok(Err(file));
        };
        let dlt = i32::try_from(linktype).unwrap_or(-1);
        // NFLOG headers are in the writer's byte order; libpcap rewrites them on swapped files.
        let swapped = little_endian != cfg!(target_endian = "little");
        if !supported(dlt) || (swapped && linktype == LINKTYPE_NFLOG) {
            file.rewind()?;
            return Ok(Err(file));
        }
        advise_sequential(&file);
        // libpcap takes a zero or oversized snaplen as the largest it supports.
        let snaplen = if snaplen == 0 || snaplen > MAX_SNAPLEN { MAX_SNAPLEN } else { snaplen };
        Ok(Ok(PcapBlockReader {
            file,
            little_endian,
            nanos,
            snaplen,
            linktype,
            block: SharedBlock(Arc::new(Vec::new())),
            pos: 0,
            end: 0,
            eof: false,
            pool: Vec::new(),
        }))
    }

    pub fn linktype(&self) -> i32 {
        i32::try_from(self.linktype).unwrap_or(-1)
    }

    fn u32_at(&self, o: usize) -> u32 {
        read_u32(&self.block.0, o, self.little_endian)
    }

    /// Makes `need` bytes from `pos` available, moving the unread tail to a block nothing
    /// else refers to and reading behind it. Returns how many are available.
    fn fill(&mut self, need: usize) -> io::Result<usize> {
        let have = self.end - self.pos;
        if have >= need || self.eof {
            return Ok(have);
        }
        let size = BLOCK.max(need);
        let mut buf = self.take_free(size);
        buf[..have].copy_from_slice(&self.block.0[self.pos..self.end]);
        // read_full stops short only at the end of the file.
        let n = read_full(&mut self.file, &mut buf[have..])?;
        self.end = have + n;
        self.eof = self.end < buf.len();
        let old = std::mem::replace(&mut self.block, SharedBlock(Arc::new(buf)));
        self.give_back(old);
        self.pos = 0;
        Ok(self.end)
    }

    /// A buffer of at least `size` bytes: a pooled block nothing refers to any more, or a
    /// new one.
    fn take_free(&mut self, size: usize) -> Vec<u8> {
        while let Some(i) = self.pool.iter().position(|b| b.0.len() >= size && Arc::strong_count(&b.0) == 1) {
            let b = self.pool.swap_remove(i);
            if let Ok(v) = Arc::try_unwrap(b.0) {
                return v;
            }
        }
        vec![0u8; size]
    }

    fn give_back(&mut self, b: SharedBlock) {
        if b.0.len() >= BLOCK {
            if self.pool.len() >= POOL {
                // Drop a block still in use rather than one that is free.
                if let Some(i) = self.pool.iter().position(|b| Arc::strong_count(&b.0) > 1) {
                    self.pool.swap_remove(i);
                } else {
                    return;
                }
            }
            self.pool.push(b);
        }
    }

    pub fn next(&mut self) -> Result<Option<RawFrame<'_>>, ReadFail> {
        let io_fail = |e: io::Error| ReadFail::Invalid(e.to_string());
        let have = self.fill(16).map_err(io_fail)?;
        if have == 0 {
            return Ok(None);
        }
        if have < 16 {
            self.pos = self.end;
            return Err(ReadFail::Truncated(format!(
                "truncated dump file; tried to read 16 header bytes, only got {have}"
            )));
        }
        let p = self.pos;
        let secs = self.u32_at(p);
        let frac = self.u32_at(p + 4);
        let caplen = self.u32_at(p + 8);
        let wire_len = self.u32_at(p + 12);
        if caplen > MAX_SNAPLEN {
            let snaplen = self.snaplen;
            return Err(ReadFail::Invalid(if caplen > snaplen {
                format!("invalid packet capture length {caplen}, bigger than snaplen of {snaplen}")
            } else {
                format!("invalid packet capture length {caplen}, bigger than maximum of {MAX_SNAPLEN}")
            }));
        }
        let record = 16 + caplen as usize;
        let have = self.fill(record).map_err(io_fail)?;
        if have < record {
            let got = have - 16;
            self.pos = self.end;
            // libpcap reads a frame over the snaplen in two steps, the kept part and the
            // rest, and names the step that came up short.
            let wanted = if caplen > self.snaplen && got < self.snaplen as usize { self.snaplen } else { caplen };
            return Err(ReadFail::Truncated(format!(
                "truncated dump file; tried to read {wanted} captured bytes, only got {got}"
            )));
        }
        let start = self.pos + 16;
        self.pos += record;
        let keep = caplen.min(self.snaplen) as usize;
        let nanos = if self.nanos { u64::from(frac) } else { u64::from(frac) * 1000 };
        Ok(Some(RawFrame {
            secs,
            nanos,
            wire_len,
            data: self.block.0.get(start..start + keep).unwrap_or(&[]),
            block: &self.block,
        }))
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn advise_sequential(file: &File) {
    use std::os::fd::AsRawFd;
    // A hint for more readahead; failure changes nothing.
    // SAFETY: the descriptor is open for the duration of the call.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
}
