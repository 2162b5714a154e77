//! `apitap analyze`: records.jsonl files in, DIR/inventory.db created or merged into. Also
//! the inventory that replay and capture keep in-process ([`LiveInventory`]).

use crate::cli::AnalyzeArgs;
use analyzer::inventory::{Inventory, Observation};
use analyzer::store::Store;
use anyhow::{Context, Result};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender, TrySendError};
use sensor::ApiCall;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of each JSON or form body the sensor keeps in memory for the inventory (request
/// fields, response fields, sensitive data), whether or not records.jsonl holds bodies.
pub const INVENTORY_BODY_BYTES: usize = 16 << 10;
/// Records go to the analysis thread in batches of this many: one wake-up per batch, not
/// per record.
const FEED_BATCH: usize = 256;
/// Batches in flight to the analysis thread. With bodies of at most 2 × 16 KiB each, this
/// bounds what waiting records hold to about 64 MiB in the worst case (1 MiB typically).
const FEED_DEPTH: usize = 8;

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    if args.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        anyhow::bail!("stdin ('-') can be read only once");
    }
    // Open every input before touching the database.
    let mut inputs: Vec<(PathBuf, Box<dyn BufRead>)> = Vec::new();
    for f in &args.files {
        let r: Box<dyn BufRead> = if f.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(f).with_context(|| format!("cannot open records file {}", f.display()))?;
            Box::new(std::io::BufReader::with_capacity(1 << 20, file))
        };
        inputs.push((f.clone(), r));
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create output directory {}", args.out.display()))?;
    let mut live = LiveInventory::open(&args.out)?;
    let mut bad_lines = 0u64;
    let mut first_bad: Option<String> = None;
    for (path, r) in inputs {
        for (i, line) in r.lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<ApiCall>(&line) {
                Ok(call) => live.inventory.observe(&Observation::from_record(&call)),
                Err(e) => {
                    bad_lines += 1;
                    if first_bad.is_none() {
                        first_bad = Some(format!("{} line {}: {e}", path.display(), i + 1));
                    }
                }
            }
        }
    }
    let summary = live.save()?;
    if !args.quiet {
        print!("{summary}");
    }
    if let Some(first) = first_bad {
        eprintln!("apitap: warning: {bad_lines} lines were not API call records and were skipped (first: {first})");
    }
    Ok(ExitCode::SUCCESS)
}

/// An inventory kept beside replay or capture, saved to DIR/inventory.db.
pub struct LiveInventory {
    pub inventory: Inventory,
    store: Store,
    path: PathBuf,
    loaded: usize,
}

impl LiveInventory {
    /// Opens DIR/inventory.db and loads what it holds, so this run merges into it.
    pub fn open(dir: &Path) -> Result<LiveInventory> {
        let path = dir.join("inventory.db");
        let mut store = Store::open(&path)?;
        let mut inventory = Inventory::new();
        let loaded = store.load(&mut inventory)?;
        if store.skipped_rows > 0 {
            eprintln!("apitap: warning: {} inventory rows in {} did not parse and were left out", store.skipped_rows, path.display());
        }
        Ok(LiveInventory { inventory, store, path, loaded })
    }

    /// Writes the inventory as it stands; returns a summary to print.
    pub fn save(&mut self) -> Result<String> {
        let eps = self.inventory.endpoints();
        self.store.save(&eps).with_context(|| format!("cannot save the inventory to {}", self.path.display()))?;
        let hosts = eps.iter().map(|e| e.host.as_str()).collect::<std::collections::BTreeSet<_>>().len();
        // Flags beyond what the other counts already say.
        let flagged = eps
            .iter()
            .filter(|e| e.flags.iter().any(|f| *f != analyzer::inventory::flags::NOT_FOUND_ONLY && *f != analyzer::inventory::flags::SENSITIVE_DATA))
            .count();
        let sensitive = eps.iter().filter(|e| !e.stats().sensitive.is_empty()).count();
        let probing = eps.iter().filter(|e| e.flags.contains(&analyzer::inventory::flags::NOT_FOUND_ONLY)).count();
        let c = &self.inventory.counts;
        let mut s = String::from("apitap inventory\n");
        s += &format!(
            "  records       {:>12}  ({} without a request, {} over bounds)\n",
            crate::summary::thousands(c.records),
            crate::summary::thousands(c.without_request),
            crate::summary::thousands(c.over_bounds)
        );
        s += &format!(
            "  endpoints     {:>12}  ({} hosts; {} with sensitive data, {} flagged; {} paths only ever 404)\n",
            crate::summary::thousands((eps.len() - probing) as u64),
            hosts,
            sensitive,
            flagged,
            probing
        );
        if self.loaded > 0 {
            s += &format!("  merged into   {:>12}  endpoints already in the database\n", crate::summary::thousands(self.loaded as u64));
        }
        s += &format!("  inventory     {}\n", self.path.display());
        Ok(s)
    }
}

/// The inventory built beside replay or capture, on a thread of its own: records go to it
/// over a bounded channel. Replay waits when it is full (every record is analysed, in
/// order, so the inventory is the same whatever the thread count); live capture never
/// waits, and counts the records it had to leave out.
// The records arrive boxed from the pipeline; keeping the box moves a pointer, not the record.
#[allow(clippy::vec_box)]
pub struct InventoryFeed {
    tx: Option<Sender<Vec<Box<ApiCall>>>>,
    batch: Vec<Box<ApiCall>>,
    live: bool,
    pub dropped: u64,
    handle: Option<JoinHandle<Result<String>>>,
}

impl InventoryFeed {
    /// Opens DIR/inventory.db (merging into what it holds) and starts the analysis thread.
    /// `save_every` saves periodically (live capture); otherwise it is saved at the end.
    pub fn start(dir: &Path, live: bool, save_every: Option<Duration>) -> Result<InventoryFeed> {
        let mut inv = LiveInventory::open(dir)?;
        let (tx, rx) = bounded::<Vec<Box<ApiCall>>>(FEED_DEPTH);
        let handle = std::thread::Builder::new()
            .name("apitap-inventory".into())
            .spawn(move || {
                let mut saved = Instant::now();
                loop {
                    match rx.recv_timeout(Duration::from_millis(500)) {
                        Ok(batch) => {
                            for call in batch {
                                inv.inventory.observe(&Observation::from_call(&call));
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if save_every.is_some_and(|every| saved.elapsed() >= every) {
                        saved = Instant::now();
                        // A failed periodic save is retried at the next one; the final
                        // save reports the error.
                        if let Err(e) = inv.save() {
                            tracing::warn!("cannot save the inventory: {e:#}");
                        }
                    }
                }
                inv.save()
            })
            .context("cannot start the inventory thread")?;
        Ok(InventoryFeed { tx: Some(tx), batch: Vec::with_capacity(FEED_BATCH), live, dropped: 0, handle: Some(handle) })
    }

    pub fn send(&mut self, call: Box<ApiCall>) {
        self.batch.push(call);
        if self.batch.len() >= FEED_BATCH {
            self.flush();
        }
    }

    /// Hands over the records gathered so far (live capture calls it when traffic pauses).
    pub fn flush(&mut self) {
        let Some(tx) = &self.tx else { return };
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(FEED_BATCH));
        if self.live {
            if let Err(TrySendError::Full(b)) = tx.try_send(batch) {
                self.dropped += b.len() as u64;
            }
        } else {
            // Only fails once the thread is gone, whose error `finish` reports.
            let _ = tx.send(batch);
        }
    }

    /// Analyses what is still queued, saves, and returns the summary to print.
    pub fn finish(mut self) -> Result<String> {
        self.flush();
        drop(self.tx.take());
        let mut summary = match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r?,
            Some(Err(_)) => anyhow::bail!("the inventory thread failed; records.jsonl is complete and `apitap analyze` can rebuild the inventory"),
            None => String::new(),
        };
        if self.dropped > 0 {
            summary += &format!(
                "  not analysed  {:>12}  records (the inventory fell behind the capture)\n",
                crate::summary::thousands(self.dropped)
            );
        }
        Ok(summary)
    }
}
