//! The counters a live capture publishes before the run ends (`Pipeline::live_counts`): on
//! one thread or several, they appear while the run goes on, never run ahead of the final
//! totals, and name only anomalies the totals count.

use sensor::capture::{FileSource, PacketSource};
use sensor::pipeline::{Mode, Pipeline, WithRecords};
use sensor::SensorConfig;
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn live_counts_follow_the_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    for threads in [1, 2] {
        let mut src = FileSource::open(&root.join("api-sample.pcap"), None).unwrap();
        let mut pl = Pipeline::with_records(SensorConfig::default(), threads, Mode::Live, false);
        let mut emitted = 0u64;
        let mut sink = WithRecords(|_: &sensor::ApiCall, _: &[u8]| emitted += 1);
        while let Ok(Some(p)) = src.next_packet() {
            pl.packet(&p, &mut sink);
        }
        // Let the workers report: flushing hands them the pending batch.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            pl.flush(&mut sink);
            let live = pl.live_counts();
            if live.transactions > 0 && live.flows > 0 {
                break;
            }
            assert!(Instant::now() < until, "{threads} threads: no live counts");
            std::thread::sleep(Duration::from_millis(10));
        }
        let live = pl.live_counts();
        let summary = pl.finish(&mut sink);
        assert!(live.transactions <= summary.transactions, "{threads}: {live:?}");
        assert!(live.http_flows <= summary.flows.http_flows && live.flows <= summary.flows.flows, "{threads}: {live:?}");
        for (name, n) in &live.anomalies {
            assert!(summary.anomalies.get(name).is_some_and(|t| t >= n), "{threads}: {name}");
        }
    }
}
