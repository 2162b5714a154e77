//! Helpers for the end-to-end tests: run the real `apitap` binary on real captures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_apitap"))
}

/// A fresh temporary directory under target/, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = root().join("target").join("test-tmp");
        std::fs::create_dir_all(&base).unwrap();
        let p = base.join(format!("{tag}-{}-{}", std::process::id(), next_id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Runs `apitap replay FILES --out DIR` with the golden hash key and extra args.
pub fn replay(files: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut c = bin();
    c.arg("replay");
    for f in files {
        c.arg(f);
    }
    c.arg("--out").arg(out).arg("--hash-key-file").arg(fixture("golden/hash.key")).args(extra);
    c.stdin(Stdio::null()).output().expect("run apitap")
}

pub fn records(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("records.jsonl")).unwrap_or_default();
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("record is JSON")).collect()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
