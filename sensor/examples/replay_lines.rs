//! The packet path alone, for profiling: replays a capture through the pipeline and writes
//! the records' JSON lines to a file, as `apitap replay` does, without the binary's outputs,
//! inventory or detection (and so without their build time).
//!
//!   cargo build --release -p apitap-sensor --example replay_lines
//!   target/release/examples/replay_lines CAPTURE OUT.jsonl [THREADS]
//!
//! `valgrind --tool=callgrind` over it counts instructions per function exactly, which a
//! noisy machine's wall clock cannot for changes of a few percent.

use sensor::capture::{FileSource, PacketSource};
use sensor::config::SensorConfig;
use sensor::pipeline::{Mode, Pipeline};
use std::io::Write;

#[global_allocator]
static GLOBAL: sensor::alloc::Allocator = sensor::alloc::Allocator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, capture, out, rest @ ..] = args.as_slice() else {
        return Err("usage: replay_lines CAPTURE OUT.jsonl [THREADS]".into());
    };
    let threads = rest.first().map(|t| t.parse()).transpose()?.unwrap_or(1);
    let mut src = FileSource::open(capture.as_ref(), None)?;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let mut sink = |_: Option<&sensor::ApiCall>, line: &[u8]| {
        let _ = file.write_all(line);
    };
    let outcome = Pipeline::new(SensorConfig::default(), threads, Mode::Replay).run(&mut src as &mut dyn PacketSource, &mut sink);
    file.flush()?;
    let s = outcome.summary;
    println!("{} packets, {} transactions", s.packets, s.transactions);
    if let Some(e) = outcome.error {
        return Err(e.into());
    }
    Ok(())
}
