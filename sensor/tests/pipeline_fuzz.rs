//! Hostile input through the whole packet path: real frames from the fixtures, with bytes
//! flipped, frames cut short, dropped, duplicated and reordered. Nothing may panic, and what
//! comes out must still be well-formed records.

use proptest::prelude::*;
use sensor::capture::{FileSource, OwnedPacket, PacketSource};
use sensor::pipeline::{Mode, Pipeline, WithRecords};
use sensor::SensorConfig;
use std::path::Path;
use std::sync::OnceLock;

fn packets() -> &'static Vec<OwnedPacket> {
    static P: OnceLock<Vec<OwnedPacket>> = OnceLock::new();
    P.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let mut out = Vec::new();
        for f in ["api-sample.pcap", "corpus/pipelined-requests.pcap", "corpus/vxlan-encapsulated-http.pcap", "corpus/suricata-pppoe-session-http.pcap"] {
            let mut src = FileSource::open(&root.join(f), None).unwrap();
            while let Ok(Some(p)) = src.next_packet() {
                out.push(OwnedPacket { ts: p.ts, wire_len: p.wire_len, link: p.link, data: p.data.to_vec() });
            }
        }
        out
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { packet: usize, at: usize, value: u8 },
    Cut { packet: usize, len: usize },
    Drop { packet: usize },
    Dup { packet: usize },
    Swap { packet: usize, dist: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = packets().len();
    prop_oneof![
        4 => (0..n, any::<usize>(), any::<u8>()).prop_map(|(packet, at, value)| Mutation::Flip { packet, at, value }),
        2 => (0..n, any::<usize>()).prop_map(|(packet, len)| Mutation::Cut { packet, len }),
        1 => (0..n).prop_map(|packet| Mutation::Drop { packet }),
        1 => (0..n).prop_map(|packet| Mutation::Dup { packet }),
        2 => (0..n, 1usize..8).prop_map(|(packet, dist)| Mutation::Swap { packet, dist }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn mutated_captures_never_panic(muts in prop::collection::vec(mutation(), 1..60)) {
        let mut pkts = packets().clone();
        for m in muts {
            let n = pkts.len();
            if n == 0 {
                break;
            }
            match m {
                Mutation::Flip { packet, at, value } => {
                    let p = &mut pkts[packet % n];
                    if !p.data.is_empty() {
                        let i = at % p.data.len();
                        p.data[i] = value;
                    }
                }
                Mutation::Cut { packet, len } => {
                    let p = &mut pkts[packet % n];
                    let l = len % (p.data.len() + 1);
                    p.data.truncate(l);
                }
                Mutation::Drop { packet } => {
                    pkts.remove(packet % n);
                }
                Mutation::Dup { packet } => {
                    let p = pkts[packet % n].clone();
                    pkts.insert(packet % n, p);
                }
                Mutation::Swap { packet, dist } => {
                    let a = packet % n;
                    pkts.swap(a, (a + dist).min(n - 1));
                }
            }
        }
        // One thread, two (the dispatcher keeps about 29% of the flows) and three (about
        // 5%, two workers) must write the same lines in the same order.
        let mut outputs = Vec::new();
        for threads in [1, 2, 3] {
            let mut pl = Pipeline::with_records(SensorConfig::default(), threads, Mode::Replay, true);
            let mut recs = Vec::new();
            let mut lines = Vec::new();
            let mut sink = WithRecords(|c: &sensor::ApiCall, line: &[u8]| {
                recs.push(c.clone());
                lines.extend_from_slice(line);
            });
            for p in &pkts {
                pl.packet(&p.borrow(), &mut sink);
            }
            let summary = pl.finish(&mut sink);
            prop_assert_eq!(summary.transactions as usize, recs.len());
            for r in &recs {
                prop_assert!(r.method.is_some() || r.status_code.is_some() || !r.anomalies.is_empty());
            }
            outputs.push(lines);
        }
        prop_assert_eq!(String::from_utf8_lossy(&outputs[0]), String::from_utf8_lossy(&outputs[1]));
        prop_assert_eq!(String::from_utf8_lossy(&outputs[0]), String::from_utf8_lossy(&outputs[2]));
    }
}
