//! Output files: the records writer and the credential-hash key.

use anyhow::{bail, Context, Result};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Bytes gathered before a buffer goes to the writer thread.
const CHUNK: usize = 1 << 20;
/// Buffers in flight to the writer; when the disk is slower than that, writing waits.
const IN_FLIGHT: usize = 8;

/// Writes JSON lines on a thread of its own, so that neither the file system nor the disk
/// ever stalls the thread reading packets. Buffers of about a megabyte go over a bounded
/// channel and come back empty for reuse. The first write error is kept and reported once,
/// at the end, so a full disk is one clear error rather than one per record.
pub struct RecordWriter {
    path: PathBuf,
    buf: Vec<u8>,
    to_writer: Option<Sender<Vec<u8>>>,
    empties: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    pub written: u64,
}

impl RecordWriter {
    pub fn create(path: &Path) -> Result<RecordWriter> {
        let mut file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let (tx, rx) = bounded::<Vec<u8>>(IN_FLIGHT);
        let (empty_tx, empty_rx) = bounded::<Vec<u8>>(IN_FLIGHT + 1);
        let handle = std::thread::Builder::new()
            .name("apitap-writer".into())
            .spawn(move || -> std::io::Result<()> {
                let mut result = Ok(());
                for mut buf in rx {
                    if result.is_ok() {
                        result = file.write_all(&buf);
                    }
                    buf.clear();
                    let _ = empty_tx.try_send(buf);
                }
                result.and_then(|_| file.flush())
            })
            .context("cannot start the writer thread")?;
        Ok(RecordWriter {
            path: path.into(),
            buf: Vec::with_capacity(CHUNK + 64 * 1024),
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

    fn send(&mut self) {
        let fresh = self.empties.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK + 64 * 1024));
        let full = std::mem::replace(&mut self.buf, fresh);
        if let Some(tx) = &self.to_writer {
            // The writer stopped only after an error; that error is reported by finish().
            let _ = tx.send(full);
        }
    }

    /// Writes what is left and waits for the file to be complete.
    pub fn finish(mut self) -> Result<u64> {
        if !self.buf.is_empty() {
            self.send();
        }
        drop(self.to_writer.take());
        let done = self.handle.take().map(|h| h.join());
        match done {
            Some(Ok(Ok(()))) | None => Ok(self.written),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(parse_key(&"ab".repeat(32)).is_ok());
        assert!(parse_key("abc").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn writer_keeps_order_and_reports_count() {
        let dir = std::env::temp_dir().join(format!("apitap-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.jsonl");
        let mut w = RecordWriter::create(&p).unwrap();
        let mut want = Vec::new();
        for i in 0..50_000 {
            let line = format!("{{\"n\":{i}}}\n");
            w.write_line(line.as_bytes());
            want.extend_from_slice(line.as_bytes());
        }
        assert_eq!(w.finish().unwrap(), 50_000);
        assert_eq!(std::fs::read(&p).unwrap(), want);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
