//! `apitap capture`: live interfaces in, DIR/records.jsonl out (rotated if asked), until
//! SIGINT, SIGTERM or `--duration`; then every pending exchange is finished and written.

use crate::cli::{default_threads, CaptureArgs};
use crate::analyze::InventoryFeed;
use crate::output::{RecordOutputs, RecordWriter, Rotation};
use crate::replay::sensor_config;
use crate::summary::{self, thousands};
use anyhow::{Context, Result};
use sensor::capture::{IfaceStats, LiveOptions, LiveSource};
use sensor::pipeline::{Mode, Pipeline};
use sensor::Timestamp;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

fn wall_now() -> Timestamp {
    let d = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_parts(d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

fn iface_lines(stats: &[IfaceStats]) -> Vec<String> {
    stats
        .iter()
        .map(|s| {
            format!(
                "interface {:<8} {} received by the kernel, {} dropped by the kernel, {} by the interface",
                s.name,
                thousands(s.received),
                thousands(s.dropped),
                thousands(s.if_dropped)
            )
        })
        .collect()
}

pub fn run(args: CaptureArgs, config: std::sync::Arc<crate::config::Resolved>) -> Result<ExitCode> {
    let c = &args.common;
    let opts = LiveOptions {
        snaplen: args.snaplen.min(i32::MAX as u32) as i32,
        promisc: !args.no_promisc,
        buffer_size: args.buffer_size.min(i32::MAX as usize) as i32,
        filter: c.filter.clone(),
        immediate: args.immediate,
    };
    let threads = c.threads.map_or_else(default_threads, usize::from);
    // Each interface's kernel ring is mapped into the process and, once the kernel has gone
    // round it, resident: part of what --max-memory bounds, so the flows get less.
    let rings = usize::try_from(opts.buffer_size).unwrap_or(0).saturating_mul(args.interfaces.len());
    crate::replay::check_memory(c, threads, rings, sensor::pipeline::Mode::Live)?;
    // Open the interfaces first: that is what needs privileges, and what most often fails.
    let mut src = LiveSource::open(&args.interfaces, &opts)?;
    std::fs::create_dir_all(&c.out).with_context(|| format!("cannot create output directory {}", c.out.display()))?;
    let mut cfg = sensor_config(c)?;
    cfg.max_memory = cfg.max_memory.saturating_sub(rings);
    let records_path = c.out.join("records.jsonl");
    let rotation = Rotation {
        max_bytes: args.rotate_size.map(|b| b as u64),
        max_age: args.rotate_interval,
        keep: args.rotate_keep,
    };
    let mut writer = RecordWriter::with_rotation(&records_path, rotation)?;
    if let Some(user) = &args.user {
        crate::privs::drop_to(user, &c.out)?;
    }
    // After the drop, so the inventory's files belong to the user that goes on writing them.
    let mut feed = if c.no_inventory { None } else { Some(InventoryFeed::start(c, &config, true, Some(args.inventory_interval))?) };

    if let Some(listen) = &args.serve {
        // The service reads what this capture writes to DIR/inventory.db; it lives as long
        // as the process.
        let opts = crate::serve::ServeOptions { dir: c.out.clone(), listen: listen.clone(), hash_key: cfg.hash_key, cfg: Arc::clone(&config) };
        std::thread::Builder::new()
            .name("apitap-serve".into())
            .spawn(move || {
                if let Err(e) = crate::serve::run(opts, false) {
                    eprintln!("apitap: error: the decision service stopped: {e:#}");
                }
            })
            .context("cannot start the decision service")?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("cannot install signal handlers")?;
    }
    let mut pipeline = Pipeline::with_records(cfg, threads, Mode::Live, feed.is_some());
    if !c.quiet {
        eprintln!(
            "apitap: capturing on {} with {threads} thread{}; records in {} (Ctrl-C to stop)",
            args.interfaces.join(", "),
            if threads == 1 { "" } else { "s" },
            records_path.display()
        );
    }
    let started = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_drops = 0u64;
    let mut error = None;
    while !stop.load(Ordering::Relaxed) {
        if args.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let read = src.read(100, 4096, &mut |pkt| {
            pipeline.packet(pkt, &mut RecordOutputs { writer: &mut writer, feed: feed.as_mut() });
        });
        match read {
            Ok(0) => {
                pipeline.idle(wall_now(), &mut RecordOutputs { writer: &mut writer, feed: feed.as_mut() });
                writer.idle();
                if let Some(f) = feed.as_mut() {
                    f.flush();
                }
            }
            Ok(_) => writer.idle(),
            Err(e) => {
                // An interface went away: finish what was captured and report it.
                error = Some(e);
                break;
            }
        }
        if last_stats.elapsed() >= args.stats_interval {
            last_stats = Instant::now();
            let stats = src.stats();
            let drops: u64 = stats.iter().map(|s| s.dropped + s.if_dropped).sum();
            for l in iface_lines(&stats) {
                if drops > last_drops {
                    tracing::warn!("{l}");
                } else {
                    tracing::info!("{l}");
                }
            }
            last_drops = drops;
            tracing::info!(records = writer.written, "capture running");
            let p = pipeline.progress();
            let live = pipeline.live_counts();
            crate::metrics::SensorMetrics {
                running: true,
                updated: crate::metrics::wall_now(),
                packets: p.packets,
                queue_drops: p.queue_drops,
                out_of_order: p.out_of_order,
                not_analysed: feed.as_ref().map_or(0, |f| f.dropped),
                flows: live.flows,
                http_flows: live.http_flows,
                transactions: live.transactions,
                anomalies: live.anomalies,
                ..Default::default()
            }
            .with_interfaces(&stats)
            .write(&c.out);
        }
    }
    let stats = src.stats();
    let summary = pipeline.finish(&mut RecordOutputs { writer: &mut writer, feed: feed.as_mut() });
    let (_, rotated) = writer.finish()?;
    let not_analysed = feed.as_ref().map_or(0, |f| f.dropped);
    let inventory = feed.map(InventoryFeed::finish).transpose()?;
    let m = crate::metrics::SensorMetrics { not_analysed, ..crate::metrics::SensorMetrics::from_summary(&summary) };
    m.with_interfaces(&stats).write(&c.out);
    let elapsed = started.elapsed();
    if !c.quiet {
        let mut extra = iface_lines(&stats);
        if rotated > 0 {
            extra.push(format!("rotated       {:>12}  (older records in records-<UTC time>.jsonl)", thousands(rotated)));
        }
        print!("{}", summary::render("apitap capture summary", &summary, &extra, &records_path, elapsed));
        if let Some(s) = inventory {
            print!("{s}");
        }
    }
    match error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => Err(anyhow::Error::new(e).context("capture stopped; every record up to that point was written")),
    }
}
