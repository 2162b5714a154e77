//! Output files: the records writer and the credential-hash key.

use anyhow::{bail, Context, Result};
use sensor::ApiCall;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Writes records as JSON lines. Write errors are kept and reported once at the end, so a
/// full disk is one clear error rather than one per record.
pub struct RecordWriter {
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
    error: Option<std::io::Error>,
    pub written: u64,
}

impl RecordWriter {
    pub fn create(path: &Path) -> Result<RecordWriter> {
        let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(RecordWriter { path: path.into(), out: BufWriter::with_capacity(256 << 10, f), line: Vec::with_capacity(4096), error: None, written: 0 })
    }

    pub fn write(&mut self, call: &ApiCall) {
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        call.write_jsonl(&mut self.line);
        match self.out.write_all(&self.line) {
            Ok(()) => self.written += 1,
            Err(e) => self.error = Some(e),
        }
    }

    pub fn finish(mut self) -> Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e).with_context(|| format!("cannot write {}", self.path.display()));
        }
        self.out.flush().with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(self.written)
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
}
