//! `apitap replay`: capture files in, DIR/records.jsonl out, a summary on stdout.

use crate::analyze::InventoryFeed;
use crate::cli::{Common, ReplayArgs};
use crate::output::{hash_key, RecordOutputs, RecordWriter};
use crate::summary;
use anyhow::{Context, Result};
use sensor::capture::{FileSource, MergedSource, PacketSource};
use sensor::pipeline::{Mode, Pipeline};
use sensor::SensorConfig;
use std::process::ExitCode;

pub fn run(args: ReplayArgs, config: &crate::config::Resolved) -> Result<ExitCode> {
    let c = &args.common;
    // Open every input before creating any output: a typo in the third file name should
    // not leave a half-written directory behind.
    let mut sources = Vec::with_capacity(args.files.len());
    for f in &args.files {
        sources.push(FileSource::open(f, c.filter.as_deref())?);
    }
    if args.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        anyhow::bail!("stdin ('-') can be read only once");
    }
    let threads = c.threads.map_or_else(crate::cli::default_threads, usize::from);
    check_memory(c, threads, 0, sensor::pipeline::Mode::Replay)?;
    std::fs::create_dir_all(&c.out).with_context(|| format!("cannot create output directory {}", c.out.display()))?;
    let cfg = sensor_config(c)?;

    let records_path = c.out.join("records.jsonl");
    let mut writer = RecordWriter::create(&records_path)?;
    let mut feed = if c.no_inventory { None } else { Some(InventoryFeed::start(c, config, false, None)?) };
    let started = std::time::Instant::now();
    let outcome = {
        let src: &mut dyn PacketSource = if sources.len() == 1 {
            &mut sources.pop().context("no input")?
        } else {
            &mut MergedSource::new(sources)
        };
        let mut sink = RecordOutputs { writer: &mut writer, feed: feed.as_mut() };
        Pipeline::with_records(cfg, threads, Mode::Replay, sink.feed.is_some()).run(src, &mut sink)
    };
    writer.finish()?;
    let inventory = feed.map(InventoryFeed::finish).transpose()?;
    let elapsed = started.elapsed();
    crate::metrics::SensorMetrics::from_summary(&outcome.summary).write(&c.out);

    if !c.quiet {
        print!("{}", summary::render("apitap replay summary", &outcome.summary, &[], &records_path, elapsed));
        if let Some(s) = inventory {
            print!("{s}");
        }
    }
    match outcome.error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) if e.is_truncation() => {
            eprintln!("apitap: warning: {e}; every record up to that point was written");
            Ok(ExitCode::SUCCESS)
        }
        Some(e) => Err(anyhow::Error::new(e).context("the capture could not be read to its end; records up to that point were written")),
    }
}

/// What detection may hold beside replay or capture, out of `--max-memory` (taken from the
/// flows' share, not added to the bound): its feature window a quarter, so 128 MiB of the
/// default 512 (about 400,000 calls of typical traffic, ten minutes at 650 a second), and
/// its per-identity state an eighth (the 100,000 identities seen last, at typical sizes).
#[derive(Clone, Copy, Debug)]
pub struct DetectionShare {
    pub window: usize,
    pub state: usize,
}

impl DetectionShare {
    /// What `apitap analyze` gives detection, with no `--max-memory` to share.
    pub const ALONE: DetectionShare =
        DetectionShare { window: analyzer::detect::features::WINDOW_BYTES, state: analyzer::detect::STATE_BYTES };

    pub fn of(c: &Common) -> DetectionShare {
        if c.no_inventory || c.detect.no_detect {
            DetectionShare { window: 0, state: 0 }
        } else {
            DetectionShare { window: c.max_memory / 4, state: c.max_memory / 8 }
        }
    }

    pub fn total(self) -> usize {
        self.window + self.state
    }
}

/// Refuses a `--max-memory` that leaves the flow tables less than their minimum once the
/// pipeline's own buffers for `threads` threads in `mode`, `rings` bytes held outside it
/// (live capture's kernel rings) and detection's share are set aside.
pub fn check_memory(c: &Common, threads: usize, rings: usize, mode: sensor::pipeline::Mode) -> Result<()> {
    let cfg = SensorConfig { max_memory: c.max_memory, ..SensorConfig::default() };
    let reserve = sensor::pipeline::memory_reserve(&cfg, threads, mode) + rings;
    let detection = DetectionShare::of(c).total();
    let least = reserve + sensor::pipeline::MIN_FLOW_BUDGET;
    if c.max_memory < least + detection {
        // Detection's share grows with the bound: the least bound leaves it its three eighths.
        let least = if detection > 0 { least * 8 / 5 + 1 } else { least };
        anyhow::bail!(
            "--max-memory {} MiB is too small for {threads} thread{}: buffers take {} MiB{}{} and flows need at least {} MiB (use {} MiB or more, or fewer threads)",
            c.max_memory >> 20,
            if threads == 1 { "" } else { "s" },
            reserve >> 20,
            if rings > 0 { format!(" (the kernel capture rings, --buffer-size per interface, {} MiB of it)", rings >> 20) } else { String::new() },
            if detection > 0 { ", detection three eighths of the bound," } else { "" },
            sensor::pipeline::MIN_FLOW_BUDGET >> 20,
            least.div_ceil(1 << 20),
        );
    }
    Ok(())
}

/// The sensor configuration the common options describe.
pub fn sensor_config(c: &Common) -> Result<SensorConfig> {
    let mut cfg = SensorConfig::default();
    cfg.http.body_sample = c.body_sample;
    if !c.no_inventory {
        cfg.http.capture_bodies = crate::analyze::INVENTORY_BODY_BYTES;
    }
    cfg.max_memory = c.max_memory - DetectionShare::of(c).total();
    cfg.decode.vxlan_ports = c.vxlan_port.clone();
    cfg.decode.geneve_ports = c.geneve_port.clone();
    cfg.hash_key = hash_key(c.hash_key_file.as_deref(), &c.out)?;
    Ok(cfg)
}
