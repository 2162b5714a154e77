//! The packet path wired end to end: a source's frames are decoded and fed to the flow
//! table, and the records that complete go to a sink. This is the single-threaded form used
//! for replay; the counters it returns are what `apitap replay` prints.
//!
//! Input errors never lose what was already read: on a truncated or unreadable capture the
//! pipeline stops reading, finishes every flow (writing its records), and then reports the
//! error beside the summary.

use crate::capture::{CaptureError, PacketSource};
use crate::config::SensorConfig;
use crate::decode::{DecodeStats, Decoder};
use crate::flow::{FlowStats, FlowTable};
use crate::hash::CredentialHasher;
use crate::record::{ApiCall, Quality};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// What one run saw.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub packets: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub decode: DecodeStats,
    pub flows: FlowStats,
    pub transactions: u64,
    /// Records by anomaly name.
    pub anomalies: BTreeMap<String, u64>,
    pub complete: u64,
    pub gap: u64,
    pub one_sided: u64,
    pub truncated: u64,
    /// Bytes missing from reassembled streams.
    pub missed_bytes: u64,
    /// Packets whose time went backwards (unsorted input).
    pub time_reversals: u64,
}

impl Summary {
    fn count(&mut self, call: &ApiCall) {
        self.transactions += 1;
        for a in &call.anomalies {
            *self.anomalies.entry(a.clone()).or_default() += 1;
        }
        match call.quality {
            Quality::Complete => self.complete += 1,
            Quality::Gap => self.gap += 1,
            Quality::OneSided => self.one_sided += 1,
            Quality::Truncated => self.truncated += 1,
        }
    }

    /// Seconds between the first and last packet.
    pub fn span_secs(&self) -> f64 {
        match (self.first_ts, self.last_ts) {
            (Some(a), Some(b)) => b.secs_since(a).max(0.0),
            _ => 0.0,
        }
    }

    /// Total anomaly occurrences on records.
    pub fn anomaly_total(&self) -> u64 {
        self.anomalies.values().sum()
    }
}

/// `sink`, counting each record into `summary` on the way.
fn counted<'a>(summary: &'a mut Summary, sink: &'a mut dyn FnMut(ApiCall)) -> impl FnMut(ApiCall) + 'a {
    move |call| {
        summary.count(&call);
        sink(call);
    }
}

/// How a run ended.
pub struct RunOutcome {
    pub summary: Summary,
    /// An input error that stopped reading early; everything before it was processed.
    pub error: Option<CaptureError>,
}

/// Decoder and flow table for one stream of packets.
pub struct Pipeline {
    decoder: Decoder,
    flows: FlowTable,
    summary: Summary,
}

impl Pipeline {
    pub fn new(cfg: SensorConfig) -> Pipeline {
        let hasher = CredentialHasher::new(cfg.hash_key);
        Pipeline {
            decoder: Decoder::new(cfg.decode.clone()),
            flows: FlowTable::new(cfg.flow.clone(), cfg.http.clone(), hasher, cfg.max_memory),
            summary: Summary::default(),
        }
    }

    /// Reads `src` to its end, then finishes every flow.
    pub fn run(mut self, src: &mut dyn PacketSource, sink: &mut dyn FnMut(ApiCall)) -> RunOutcome {
        let mut error = None;
        loop {
            match src.next_packet() {
                Ok(Some(pkt)) => self.packet(&pkt, sink),
                Ok(None) => break,
                Err(e) => {
                    let fatal = !e.is_truncation();
                    error = Some(e);
                    if fatal {
                        break;
                    }
                    // A merged source reports a truncated file and goes on with the others.
                }
            }
        }
        let summary = self.finish(sink);
        tracing::info!(
            packets = summary.packets,
            flows = summary.flows.flows,
            transactions = summary.transactions,
            peak_memory = summary.flows.peak_memory,
            evicted = summary.flows.evicted_memory + summary.flows.evicted_flow_limit,
            "replay finished"
        );
        RunOutcome { summary, error }
    }

    /// Processes one frame.
    pub fn packet(&mut self, pkt: &crate::capture::Packet<'_>, sink: &mut dyn FnMut(ApiCall)) {
        let s = &mut self.summary;
        s.packets += 1;
        if s.first_ts.is_none() {
            s.first_ts = Some(pkt.ts);
        }
        match s.last_ts {
            Some(l) if pkt.ts < l => s.time_reversals += 1,
            _ => s.last_ts = Some(pkt.ts),
        }
        let flows = &mut self.flows;
        let mut counting = counted(&mut self.summary, sink);
        self.decoder.decode(pkt, &mut |seg| flows.process(seg, &mut counting));
    }

    /// Finishes every flow and returns the counters.
    pub fn finish(mut self, sink: &mut dyn FnMut(ApiCall)) -> Summary {
        self.flows.finish_all(&mut counted(&mut self.summary, sink));
        let mut s = self.summary;
        s.decode = self.decoder.stats();
        s.flows = self.flows.stats.clone();
        s.missed_bytes = s.flows.streams.missed;
        s
    }
}
