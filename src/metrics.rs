//! The sensor's counters as a file, DIR/metrics.json, so that `apitap serve` (in the capture
//! process or another one) can publish them: capture rewrites it every stats interval and at
//! the end, replay at the end. Written to a temporary file and renamed, so a reader never
//! sees half of it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SensorMetrics {
    /// Whether a capture is still running (false once it has finished, and for replay).
    pub running: bool,
    /// Wall-clock Unix seconds of this snapshot.
    pub updated: f64,
    pub packets: u64,
    pub kernel_drops: u64,
    pub interface_drops: u64,
    /// Segments dropped because a flow worker's queue was full (live capture).
    pub queue_drops: u64,
    /// Records written ahead of older ones a flow worker still held, rather than wait for it
    /// (live capture).
    #[serde(default)]
    pub out_of_order: u64,
    /// Records the analysis thread could not take in time (live capture).
    pub not_analysed: u64,
    /// TCP flows and those that carried HTTP (while capturing, as the flow workers last
    /// reported them: at most a batch behind).
    pub flows: u64,
    pub http_flows: u64,
    /// Transactions (API call records) written.
    pub transactions: u64,
    /// Records by anomaly name.
    pub anomalies: BTreeMap<String, u64>,
}

pub fn wall_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl SensorMetrics {
    /// The final counters of a run.
    pub fn from_summary(s: &sensor::pipeline::Summary) -> SensorMetrics {
        SensorMetrics {
            running: false,
            updated: wall_now(),
            packets: s.packets,
            queue_drops: s.queue_drops,
            out_of_order: s.out_of_order,
            flows: s.flows.flows,
            http_flows: s.flows.http_flows,
            transactions: s.transactions,
            anomalies: s.anomalies.clone(),
            ..SensorMetrics::default()
        }
    }

    /// With the interfaces' kernel and interface drop counters.
    pub fn with_interfaces(self, stats: &[sensor::capture::IfaceStats]) -> SensorMetrics {
        SensorMetrics {
            kernel_drops: stats.iter().map(|s| s.dropped).sum(),
            interface_drops: stats.iter().map(|s| s.if_dropped).sum(),
            ..self
        }
    }

    /// Writes DIR/metrics.json atomically; a failure is logged, never fatal (the records are
    /// what matters).
    pub fn write(&self, dir: &Path) {
        let tmp = dir.join(".metrics.json.tmp");
        let path = dir.join("metrics.json");
        let r = serde_json::to_vec(self).map_err(std::io::Error::other).and_then(|b| std::fs::write(&tmp, b)).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = r {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }

    pub fn read(dir: &Path) -> Option<SensorMetrics> {
        serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).ok()?).ok()
    }
}
