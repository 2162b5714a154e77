//! Output files: the records writer (with rotation), the sink that feeds it and the
//! inventory, and the credential-hash key.

use anyhow::{bail, Context, Result};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// Bytes gathered before a buffer goes to the writer thread.
const CHUNK: usize = 1 << 20;
/// Buffers in flight to the writer; when the disk is slower than that, writing waits.
const IN_FLIGHT: usize = 8;
/// A partly filled buffer is sent after this long, so live records reach the file soon.
const FLUSH_AFTER: Duration = Duration::from_millis(500);

/// When `records.jsonl` is closed and a new one started (live capture).
#[derive(Clone, Debug, Default)]
pub struct Rotation {
    /// Rotate once the file holds this many bytes.
    pub max_bytes: Option<u64>,
    /// Rotate once the file is this old.
    pub max_age: Option<Duration>,
    /// Keep at most this many rotated files, deleting the oldest.
    pub keep: Option<usize>,
}

/// Writes JSON lines on a thread of its own, so that neither the file system nor the disk
/// ever stalls the thread reading packets. Buffers of about a megabyte go over a bounded
/// channel and come back empty for reuse. The first write error is kept and reported once,
/// at the end, so a full disk is one clear error rather than one per record.
pub struct RecordWriter {
    path: PathBuf,
    buf: Vec<u8>,
    last_send: Instant,
    to_writer: Option<Sender<Vec<u8>>>,
    empties: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<std::io::Result<u64>>>,
    pub written: u64,
}

struct FileState {
    path: PathBuf,
    file: File,
    bytes: u64,
    opened: Instant,
    rotation: Rotation,
    rotated: u64,
}

impl FileState {
    fn due(&self) -> bool {
        self.bytes > 0
            && (self.rotation.max_bytes.is_some_and(|m| self.bytes >= m)
                || self.rotation.max_age.is_some_and(|a| self.opened.elapsed() >= a))
    }

    /// Closes the current file under a dated name and starts a new one.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let stamp = utc_stamp(SystemTime::now());
        let dir = self.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let stem = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "records".into());
        let mut target = dir.join(format!("{stem}-{stamp}.jsonl"));
        let mut n = 1;
        while target.exists() {
            target = dir.join(format!("{stem}-{stamp}-{n}.jsonl"));
            n += 1;
        }
        std::fs::rename(&self.path, &target)?;
        self.file = File::create(&self.path)?;
        self.bytes = 0;
        self.opened = Instant::now();
        self.rotated += 1;
        if let Some(keep) = self.rotation.keep {
            let prefix = format!("{stem}-");
            let mut old: Vec<PathBuf> = std::fs::read_dir(&dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    name.starts_with(&prefix) && name.ends_with(".jsonl")
                })
                .collect();
            old.sort();
            while old.len() > keep {
                let victim = old.remove(0);
                let _ = std::fs::remove_file(victim);
            }
        }
        Ok(())
    }
}

/// `YYYYmmddTHHMMSSZ` of a wall-clock time, for rotated file names.
fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let full = crate::summary::utc(sensor::Timestamp::from_parts(secs, 0));
    // "2026-11-21 12:00:00 UTC" -> "20261121T120000Z"
    full.replace(" UTC", "Z").replace(['-', ':'], "").replace(' ', "T")
}

impl RecordWriter {
    /// A writer of `path` that never rotates.
    pub fn create(path: &Path) -> Result<RecordWriter> {
        Self::with_rotation(path, Rotation::default())
    }

    pub fn with_rotation(path: &Path, rotation: Rotation) -> Result<RecordWriter> {
        let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let (tx, rx) = bounded::<Vec<u8>>(IN_FLIGHT);
        let (empty_tx, empty_rx) = bounded::<Vec<u8>>(IN_FLIGHT + 1);
        let mut state = FileState { path: path.into(), file, bytes: 0, opened: Instant::now(), rotation, rotated: 0 };
        let handle = std::thread::Builder::new()
            .name("apitap-writer".into())
            .spawn(move || -> std::io::Result<u64> {
                let mut result = Ok(());
                loop {
                    let msg = rx.recv_timeout(Duration::from_secs(1));
                    let mut buf = match msg {
                        Ok(b) => b,
                        Err(RecvTimeoutError::Timeout) => Vec::new(),
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    if result.is_ok() && !buf.is_empty() {
                        result = state.file.write_all(&buf);
                        state.bytes += buf.len() as u64;
                    }
                    if result.is_ok() && state.due() {
                        result = state.rotate();
                    }
                    buf.clear();
                    let _ = empty_tx.try_send(buf);
                }
                result.and_then(|_| state.file.flush()).map(|_| state.rotated)
            })
            .context("cannot start the writer thread")?;
        Ok(RecordWriter {
            path: path.into(),
            buf: Vec::with_capacity(CHUNK + 64 * 1024),
            last_send: Instant::now(),
            to_writer: Some(tx),
            empties: empty_rx,
            handle: Some(handle),
            written: 0,
        })
    }

    /// Writes one record's line (from `ApiCall::write_jsonl`, newline included).
    pub fn write_line(&mut self, line: &[u8]) {
        self.buf.extend_from_slice(line);
        self.written += 1;
        if self.buf.len() >= CHUNK {
            self.send();
        }
    }

    /// Sends a partly filled buffer that has waited long enough (live capture calls this
    /// when the network is quiet).
    pub fn idle(&mut self) {
        if !self.buf.is_empty() && self.last_send.elapsed() >= FLUSH_AFTER {
            self.send();
        }
    }

    fn send(&mut self) {
        let fresh = self.empties.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK + 64 * 1024));
        let full = std::mem::replace(&mut self.buf, fresh);
        self.last_send = Instant::now();
        if let Some(tx) = &self.to_writer {
            // The writer stops only after an error; that error is reported by finish().
            let _ = tx.send(full);
        }
    }

    /// Writes what is left and waits for the file to be complete. Returns the records
    /// written and how many times the file was rotated.
    pub fn finish(mut self) -> Result<(u64, u64)> {
        if !self.buf.is_empty() {
            self.send();
        }
        drop(self.to_writer.take());
        let done = self.handle.take().map(|h| h.join());
        match done {
            Some(Ok(Ok(rotated))) => Ok((self.written, rotated)),
            None => Ok((self.written, 0)),
            Some(Ok(Err(e))) => Err(e).with_context(|| format!("cannot write {}", self.path.display())),
            Some(Err(_)) => bail!("the writer thread for {} failed", self.path.display()),
        }
    }
}

/// The key for credential hashes: from a file, from APITAP_HASH_KEY, or DIR/hash.key
/// (created at random, mode 0600, and reused so hashes stay comparable across runs).
pub fn hash_key(explicit: Option<&Path>, out_dir: &Path) -> Result<[u8; 32]> {
    if let Some(p) = explicit {
        let text = std::fs::read_to_string(p).with_context(|| format!("cannot read hash key {}", p.display()))?;
        return parse_key(text.trim()).with_context(|| format!("hash key {}", p.display()));
    }
    if let Ok(v) = std::env::var("APITAP_HASH_KEY") {
        return parse_key(v.trim()).context("APITAP_HASH_KEY");
    }
    let p = out_dir.join("hash.key");
    if p.exists() {
        let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        return parse_key(text.trim()).with_context(|| format!("hash key {}", p.display()));
    }
    let mut key = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .context("cannot read /dev/urandom for a hash key")?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&p, format!("{hex}\n").as_bytes()).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(key)
}

fn parse_key(s: &str) -> Result<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("must be 64 hex characters (32 bytes)");
    }
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16)?;
    }
    Ok(key)
}

fn write_private(p: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(p)?.write_all(data)
}

/// Where each record goes: its line to records.jsonl, the record itself to the inventory
/// when one is kept.
pub struct RecordOutputs<'a> {
    pub writer: &'a mut RecordWriter,
    pub feed: Option<&'a mut crate::analyze::InventoryFeed>,
}

impl sensor::pipeline::RecordSink for RecordOutputs<'_> {
    fn emit(&mut self, call: Option<&sensor::ApiCall>, line: &[u8]) {
        self.writer.write_line(line);
        if let (Some(feed), Some(call)) = (self.feed.as_deref_mut(), call) {
            feed.send(Box::new(call.clone()));
        }
    }

    fn emit_owned(&mut self, call: Option<Box<sensor::ApiCall>>, line: &[u8]) {
        self.writer.write_line(line);
        if let (Some(feed), Some(call)) = (self.feed.as_deref_mut(), call) {
            feed.send(call);
        }
    }

    fn wants_records(&self) -> bool {
        self.feed.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("apitap-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn keys() {
        assert!(parse_key(&"ab".repeat(32)).is_ok());
        assert!(parse_key("abc").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn writer_keeps_order_and_reports_count() {
        let dir = tmp("writer");
        let p = dir.join("r.jsonl");
        let mut w = RecordWriter::create(&p).unwrap();
        let mut want = Vec::new();
        for i in 0..50_000 {
            let line = format!("{{\"n\":{i}}}\n");
            w.write_line(line.as_bytes());
            want.extend_from_slice(line.as_bytes());
        }
        assert_eq!(w.finish().unwrap(), (50_000, 0));
        assert_eq!(std::fs::read(&p).unwrap(), want);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rotation_by_size_keeps_whole_lines_and_the_newest_files() {
        let dir = tmp("rotate");
        let p = dir.join("records.jsonl");
        let rot = Rotation { max_bytes: Some(2 << 20), max_age: None, keep: Some(2) };
        let mut w = RecordWriter::with_rotation(&p, rot).unwrap();
        let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(1000));
        for _ in 0..8000 {
            w.write_line(line.as_bytes());
        }
        let (n, rotated) = w.finish().unwrap();
        assert_eq!(n, 8000);
        assert!(rotated >= 3, "rotated {rotated}");
        let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 3, "{files:?}");
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.lines().all(|l| l.len() == line.len() - 1), "{}", f.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_263_415)), "20261121T121655Z");
    }
}

