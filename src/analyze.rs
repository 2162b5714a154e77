//! `apitap analyze`: records.jsonl files in, DIR/inventory.db created or merged into and
//! DIR/alerts.jsonl written. Also the analysis replay and capture run in-process
//! ([`LiveInventory`]): the inventory and detection, fed on one thread.

use crate::cli::{AnalyzeArgs, DetectArgs};
use crate::config::Resolved;
use crate::metrics::wall_now;
use crate::replay::DetectionShare;
use analyzer::detect::Detector;
use analyzer::enforce::blocklist::BlockList;
use analyzer::enforce::notify::Notifier;
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
/// The analysis thread's nice value in live capture. Against a busy nice-0 thread it gets
/// about a tenth of a core (the kernel's weights 110 and 1024); alone, all of it.
const LIVE_ANALYSIS_NICE: libc::c_int = 10;

/// Live, the packet path comes first: a record the analysis cannot take is counted and
/// stays in records.jsonl for `apitap analyze`, but a frame the kernel ring drops is lost
/// with its connection's records. Sharing cores as equals, the analysis thread (detection
/// then cost 25 to 130 µs a record, 18 to 25 since) left the capture thread half a core, and the ring
/// overflowed at 3.4 Gbit/s (docs/performance.md, live capture). So it yields when they
/// contend. Only this thread's priority changes: Linux takes a thread id for `setpriority`.
fn yield_to_the_packet_path() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions, and setpriority on the calling thread's own
        // id changes nothing but that thread's nice value (lowering it needs no privilege).
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, LIVE_ANALYSIS_NICE) };
        if r != 0 {
            tracing::debug!("cannot lower the analysis thread's priority: {}", std::io::Error::last_os_error());
        }
    }
}

pub fn run(args: AnalyzeArgs, cfg: &Resolved) -> Result<ExitCode> {
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
    let mut live = LiveInventory::open(&args.out, &args.detect, cfg, DetectionShare::ALONE)?;
    let mut bad_lines = 0u64;
    let mut first_bad: Option<String> = None;
    for (path, r) in inputs {
        for (i, line) in r.lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<ApiCall>(&line) {
                Ok(call) => live.observe(&call, false),
                Err(e) => {
                    bad_lines += 1;
                    if first_bad.is_none() {
                        first_bad = Some(format!("{} line {}: {e}", path.display(), i + 1));
                    }
                }
            }
        }
    }
    live.finish();
    let summary = live.save()?;
    if !args.quiet {
        print!("{summary}");
    }
    if let Some(first) = first_bad {
        eprintln!("apitap: warning: {bad_lines} lines were not API call records and were skipped (first: {first})");
    }
    Ok(ExitCode::SUCCESS)
}

/// The analysis kept beside replay or capture: the inventory, saved to DIR/inventory.db;
/// detection, whose state is saved there too and whose alerts go to DIR/alerts.jsonl; and
/// enforcement: the block list (in the database, updated at every detection step that
/// changed it) and the alert outputs.
pub struct LiveInventory {
    pub inventory: Inventory,
    detector: Option<Detector>,
    blocklist: Option<BlockList>,
    notifier: Option<Notifier>,
    /// The detector's step count when enforcement last looked at its alerts.
    steps_seen: u64,
    store: Store,
    path: PathBuf,
    dir: PathBuf,
    loaded: usize,
    resumed: bool,
}

impl LiveInventory {
    /// Opens DIR/inventory.db and loads what it holds (the inventory and the detector's
    /// learned state), so this run merges into it and resumes learning. Detection holds up to
    /// `share`.
    pub fn open(dir: &Path, detect: &DetectArgs, cfg: &Resolved, share: DetectionShare) -> Result<LiveInventory> {
        let path = dir.join("inventory.db");
        let mut store = Store::open(&path)?;
        let mut inventory = Inventory::new();
        let loaded = store.load(&mut inventory)?;
        if store.skipped_rows > 0 {
            eprintln!("apitap: warning: {} inventory rows in {} did not parse and were left out", store.skipped_rows, path.display());
        }
        let mut resumed = false;
        let detector = if detect.no_detect {
            None
        } else {
            let dcfg = detect.config(&cfg.raw.detect).map_err(|e| anyhow::anyhow!(e))?;
            let dcfg = analyzer::detect::DetectConfig { window_bytes: share.window, state_bytes: share.state, ..dcfg };
            let mut d = Detector::new(dcfg);
            if let Some(state) = store.load_detector_state()? {
                match d.restore(&state) {
                    Ok(()) => resumed = true,
                    Err(e) => {
                        eprintln!("apitap: warning: the detector state in {} did not load ({e}); learning starts over", path.display())
                    }
                }
            }
            Some(d)
        };
        let blocklist = match (&detector, cfg.raw.blocklist.enabled) {
            (Some(d), true) => {
                let mut b = BlockList::new(cfg.policy.clone());
                b.restore(store.load_blocklist()?);
                b.mark_applied(&d.incidents().alerts);
                Some(b)
            }
            _ => None,
        };
        let notifier = match &detector {
            Some(_) if !cfg.outputs.is_empty() => Some(Notifier::start(cfg.outputs.clone())?),
            _ => None,
        };
        Ok(LiveInventory { inventory, detector, blocklist, notifier, steps_seen: 0, store, path, dir: dir.to_path_buf(), loaded, resumed })
    }

    /// Hands the alerts to the block list and the outputs after a detection step.
    fn enforce(&mut self) {
        let Some(d) = &self.detector else { return };
        let alerts = &d.incidents().alerts;
        if let Some(b) = &mut self.blocklist {
            let now = wall_now();
            b.apply_alerts(alerts, now);
            b.expire(now);
            let (changed, removed) = b.take_changes();
            // A failed write is retried with the next change: the list in memory is whole.
            if let Err(e) = self.store.save_blocklist(&changed, &removed) {
                tracing::warn!("cannot save the block list: {e}");
                b.requeue(&changed, &removed);
            }
        }
        if let Some(n) = &mut self.notifier {
            n.alerts(alerts);
        }
    }

    /// Analyses one call. `live` says the bodies the sensor captured are attached.
    pub fn observe(&mut self, call: &ApiCall, live: bool) {
        let o = if live { Observation::from_call(call) } else { Observation::from_record(call) };
        self.inventory.observe(&o);
        if let Some(d) = &mut self.detector {
            d.observe(call);
            if d.counts.steps != self.steps_seen {
                self.steps_seen = d.counts.steps;
                self.enforce();
            }
        }
    }

    /// Evaluates what detection still has pending (end of input, or a pause).
    pub fn finish(&mut self) {
        if let Some(d) = &mut self.detector {
            d.flush();
        }
        self.enforce();
    }

    /// Writes the inventory, the detector state and the alerts; returns a summary to print.
    pub fn save(&mut self) -> Result<String> {
        let eps = self.inventory.endpoints();
        self.store.save(&eps).with_context(|| format!("cannot save the inventory to {}", self.path.display()))?;
        let detection = match &mut self.detector {
            Some(d) => Some(save_detection(d, &mut self.store, &self.dir, &self.path)?),
            None => None,
        };
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
        if let Some(d) = detection {
            if self.resumed {
                s += "  detection     resumed from the state saved in the inventory database\n";
            }
            s += &d;
        }
        if let Some(b) = &self.blocklist {
            let now = wall_now();
            let active = b.entries().iter().filter(|e| e.active(now)).count();
            let c = &b.counts;
            s += &format!(
                "  block list    {:>12}  active entries{} ({} allow-listed, {} not blocked by policy, {} too wide, {} refused as full)\n",
                crate::summary::thousands(active as u64),
                if b.policy.dry_run { ", dry run" } else { "" },
                c.allowlisted,
                c.below_policy,
                c.too_wide,
                c.refused_full
            );
        }
        if let Some(n) = &self.notifier {
            for (name, st) in n.stats() {
                use std::sync::atomic::Ordering::Relaxed;
                s += &format!(
                    "  output {:<7}{:>12}  alerts sent ({} dropped, {} failed)\n",
                    name,
                    st.sent.load(Relaxed),
                    st.dropped.load(Relaxed),
                    st.failed.load(Relaxed)
                );
            }
        }
        Ok(s)
    }
}

impl Drop for LiveInventory {
    /// Gives the alert outputs a few seconds to deliver what is queued.
    fn drop(&mut self) {
        if let Some(n) = self.notifier.take() {
            for (name, sent, dropped, failed) in n.finish(Duration::from_secs(10)) {
                if dropped + failed > 0 {
                    eprintln!("apitap: warning: output {name}: {sent} alerts sent, {dropped} dropped, {failed} failed");
                }
            }
        }
    }
}

/// Saves the detector's state and alerts, writes DIR/alerts.jsonl (replaced atomically, so
/// readers never see half a file) and returns the summary lines.
fn save_detection(d: &mut Detector, store: &mut Store, dir: &Path, db: &Path) -> Result<String> {
    let alerts = &d.incidents().alerts;
    let now = alerts.iter().map(|a| a.last_seen).fold(0.0, f64::max);
    store.save_detection(&d.saved(), now, alerts, d.rules()).with_context(|| format!("cannot save detection to {}", db.display()))?;
    let path = dir.join("alerts.jsonl");
    let tmp = dir.join(".alerts.jsonl.tmp");
    std::fs::write(&tmp, d.incidents().to_jsonl()).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    let c = &d.counts;
    let mut by_class: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for a in alerts {
        *by_class.entry(a.attack.name()).or_default() += 1;
    }
    let mut s = String::from("apitap detection\n");
    s += &format!(
        "  state         {}\n",
        if d.trained() {
            "detecting (training done)".to_string()
        } else {
            "training (no alerts until the training period ends)".to_string()
        }
    );
    s += &format!(
        "  windows       {:>12}  judged over {} steps\n",
        crate::summary::thousands(c.windows_judged),
        crate::summary::thousands(c.steps)
    );
    s += &format!("  alerts        {:>12}", crate::summary::thousands(alerts.len() as u64));
    if !by_class.is_empty() {
        s += &format!("  ({})", by_class.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
    }
    s += "\n";
    let (window, state) = d.budgets();
    // What a budget held, and what it let go of to stay within it.
    let budget_line = |label: &str, held: u64, when: &str, budget: usize, gone: u64, what: &str| {
        let mut l = format!("  {label:<13} {:>8.1} MiB  {when}, of {} MiB", held as f64 / f64::from(1 << 20), budget >> 20);
        if gone > 0 {
            l += &format!("; {} {what}", crate::summary::thousands(gone));
        }
        l + "\n"
    };
    s += &budget_line(
        "window memory",
        c.window_peak,
        "at most",
        window,
        c.rows_dropped,
        "calls let go of early to stay within it (the longest window covered less time)",
    );
    s += &budget_line(
        "state memory",
        c.state_bytes,
        "at the end",
        state,
        c.state_evicted,
        "identities, sessions and baselines let go of, least recently seen first",
    );
    if c.endpoints_over_bound > 0 {
        s += &format!(
            "  over bounds   {:>12}  calls to endpoints past the {} the detector keeps norms for\n",
            crate::summary::thousands(c.endpoints_over_bound),
            crate::summary::thousands(analyzer::detect::state::MAX_ENDPOINTS as u64)
        );
    }
    s += &format!("  alerts file   {}\n", path.display());
    Ok(s)
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
    /// Opens DIR/inventory.db (merging into what it holds) and starts the analysis thread,
    /// detection taking its share of `--max-memory`. `save_every` saves
    /// periodically (live capture); otherwise it is saved at the end.
    pub fn start(common: &crate::cli::Common, cfg: &Resolved, live: bool, save_every: Option<Duration>) -> Result<InventoryFeed> {
        let mut inv = LiveInventory::open(&common.out, &common.detect, cfg, DetectionShare::of(common))?;
        let (tx, rx) = bounded::<Vec<Box<ApiCall>>>(FEED_DEPTH);
        let handle = std::thread::Builder::new()
            .name("apitap-inventory".into())
            .spawn(move || {
                if live {
                    yield_to_the_packet_path();
                }
                let mut saved = Instant::now();
                loop {
                    match rx.recv_timeout(Duration::from_millis(500)) {
                        Ok(batch) => {
                            for call in batch {
                                inv.observe(&call, true);
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            inv.finish();
                            break;
                        }
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
