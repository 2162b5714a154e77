//! Chunking invariance through the whole flow path: a conversation's byte streams split
//! into TCP segments in any way, reordered, duplicated and overlapped, give the same records
//! as the streams sent in one piece.

use proptest::prelude::*;
use sensor::config::{FlowConfig, HttpConfig};
mod support;

use sensor::decode::TcpFlags;
use sensor::flow::{EmitPoint, FlowTable};
use sensor::hash::CredentialHasher;
use sensor::{ApiCall, Timestamp};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const CISN: u32 = 0xffff_ff00; // wraps within the conversation
const SISN: u32 = 7_000;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn conversation() -> (Vec<u8>, Vec<u8>) {
    let mut c = Vec::new();
    c.extend_from_slice(b"GET /api/users/17 HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer abc.def.ghi\r\n\r\n");
    c.extend_from_slice(b"POST /api/orders HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"sku\":\"A-1\",\"qty\":[1,2,3]}");
    c.extend_from_slice(b"DELETE /api/orders/5 HTTP/1.1\r\nHost: api\r\n\r\n");
    let body = br#"{"id":17,"name":"alice","orders":[1,2,3,4,5,6,7,8,9,10]}"#.repeat(20);
    let z = gzip(&body);
    let mut s = Vec::new();
    s.extend_from_slice(format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", z.len()).as_bytes());
    s.extend_from_slice(&z);
    s.extend_from_slice(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"ok\":1\r\n1\r\n}\r\n0\r\n\r\n");
    s.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
    (c, s)
}

#[derive(Clone, Debug)]
struct Seg {
    client: bool,
    rel: u32,
    data: Vec<u8>,
    flags: u8,
}

fn packets(c: &[u8], s: &[u8], c_cuts: &[usize], s_cuts: &[usize]) -> (Vec<Seg>, Vec<Seg>) {
    let split = |data: &[u8], cuts: &[usize], client: bool| {
        let mut pts: Vec<usize> = cuts.iter().map(|x| x % data.len().max(1)).filter(|x| *x > 0).collect();
        pts.sort_unstable();
        pts.dedup();
        pts.push(data.len());
        let mut out = Vec::new();
        let mut last = 0;
        for p in pts {
            out.push(Seg { client, rel: last as u32, data: data[last..p].to_vec(), flags: TcpFlags::ACK | TcpFlags::PSH });
            last = p;
        }
        out
    };
    (split(c, c_cuts, true), split(s, s_cuts, false))
}

fn feed(order: &[Seg], c_len: usize, s_len: usize) -> Vec<serde_json::Value> {
    let mut table = FlowTable::new(FlowConfig::default(), HttpConfig::default(), CredentialHasher::new([9; 32]), 1 << 30);
    let mut out = Vec::new();
    let mut sink = |call: ApiCall, _at: EmitPoint| out.push(call);
    let mut n = 0i64;
    let mut send = |table: &mut FlowTable, client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8], sink: &mut dyn FnMut(ApiCall, EmitPoint)| {
        n += 1;
        let (src, dst, sp, dp) = if client { (CLIENT, SERVER, 40000, 80) } else { (SERVER, CLIENT, 80, 40000) };
        let seg = support::segment(Timestamp::from_parts(1_700_000_000, n * 1000), (src, sp), (dst, dp), seq, ack, flags, payload);
        table.process(&seg, n as u64, sink);
    };
    send(&mut table, true, CISN, 0, TcpFlags::SYN, &[], &mut sink);
    send(&mut table, false, SISN, CISN.wrapping_add(1), TcpFlags::SYN | TcpFlags::ACK, &[], &mut sink);
    send(&mut table, true, CISN.wrapping_add(1), SISN + 1, TcpFlags::ACK, &[], &mut sink);
    for p in order {
        // Client segments acknowledge nothing of the server; server segments acknowledge the
        // whole request stream (the server answered after reading it).
        let (seq, ack) = if p.client {
            (CISN.wrapping_add(1).wrapping_add(p.rel), SISN + 1)
        } else {
            (SISN + 1 + p.rel, CISN.wrapping_add(1).wrapping_add(c_len as u32))
        };
        send(&mut table, p.client, seq, ack, p.flags, &p.data, &mut sink);
    }
    let cfin = CISN.wrapping_add(1).wrapping_add(c_len as u32);
    let sfin = SISN + 1 + s_len as u32;
    send(&mut table, true, cfin, sfin, TcpFlags::FIN | TcpFlags::ACK, &[], &mut sink);
    send(&mut table, false, sfin, cfin.wrapping_add(1), TcpFlags::FIN | TcpFlags::ACK, &[], &mut sink);
    table.finish_all(&mut sink);
    out.into_iter()
        .map(|c| {
            let mut v = serde_json::to_value(&c).unwrap();
            // Packet times of first bytes move with the segmentation; nothing else may.
            for k in ["ts", "response_ts", "latency_ms", "duration_ms"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        })
        .collect()
}

fn baseline() -> Vec<serde_json::Value> {
    let (c, s) = conversation();
    let (cs, ss) = packets(&c, &s, &[], &[]);
    let order: Vec<Seg> = cs.into_iter().chain(ss).collect();
    feed(&order, c.len(), s.len())
}

#[test]
fn baseline_is_what_the_conversation_says() {
    let recs = baseline();
    assert_eq!(recs.len(), 3);
    let get = |i: usize, k: &str| recs[i][k].clone();
    assert_eq!(get(0, "method"), "GET");
    assert_eq!(get(0, "response_body_len"), 56 * 20);
    assert_eq!(get(0, "auth_scheme"), "bearer");
    assert_eq!(get(1, "request_body_len"), 27);
    assert_eq!(get(1, "status_code"), 201);
    assert_eq!(get(1, "response_body_len"), 8);
    assert_eq!(get(2, "status_code"), 204);
    for r in &recs {
        assert_eq!(r["quality"], "complete", "{r}");
        assert_eq!(r["anomalies"], serde_json::json!([]), "{r}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn any_segmentation_order_and_overlap_gives_the_same_records(
        c_cuts in prop::collection::vec(any::<usize>(), 0..25),
        s_cuts in prop::collection::vec(any::<usize>(), 0..40),
        swaps in prop::collection::vec((any::<usize>(), 1usize..4), 0..30),
        dups in prop::collection::vec(any::<usize>(), 0..6),
        overlaps in prop::collection::vec((any::<bool>(), any::<usize>(), 1usize..300), 0..4),
    ) {
        let (c, s) = conversation();
        let want = baseline();
        let (mut cs, mut ss) = packets(&c, &s, &c_cuts, &s_cuts);
        // Reorder within each direction: swap segments a short distance apart.
        for (i, dist) in &swaps {
            for v in [&mut cs, &mut ss] {
                if v.len() > 1 {
                    let a = i % v.len();
                    let b = (a + dist).min(v.len() - 1);
                    v.swap(a, b);
                }
            }
        }
        // Retransmissions, and segments that overlap others with the same bytes.
        for d in &dups {
            for v in [&mut cs, &mut ss] {
                if !v.is_empty() {
                    let x = v[d % v.len()].clone();
                    v.insert((d / 7) % (v.len() + 1), x);
                }
            }
        }
        for (client, start, len) in &overlaps {
            let (data, v) = if *client { (&c, &mut cs) } else { (&s, &mut ss) };
            let st = start % data.len();
            let en = (st + len).min(data.len());
            let seg = Seg { client: *client, rel: st as u32, data: data[st..en].to_vec(), flags: TcpFlags::ACK };
            v.insert(start % (v.len() + 1), seg);
        }
        let order: Vec<Seg> = cs.into_iter().chain(ss).collect();
        let got = feed(&order, c.len(), s.len());
        prop_assert_eq!(got, want);
    }
}
