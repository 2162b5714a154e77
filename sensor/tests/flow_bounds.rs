//! The flow table's bounds and lifecycle: evictions are counted and flagged, memory stays
//! under the bound, time is packet time, ports can be reused, data after a RST is kept.

use sensor::config::{FlowConfig, HttpConfig};
mod support;

use sensor::decode::TcpFlags;
use sensor::flow::FlowTable;
use sensor::hash::CredentialHasher;
use sensor::{ApiCall, Timestamp};
use std::net::{IpAddr, Ipv4Addr};

struct Net {
    table: FlowTable,
    out: Vec<ApiCall>,
    seq: u64,
    last_tick: Option<Timestamp>,
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, last))
}

impl Net {
    fn new(cfg: FlowConfig, max_memory: usize) -> Net {
        Net {
            table: FlowTable::new(cfg, HttpConfig::default(), CredentialHasher::new([1; 32]), max_memory),
            out: Vec::new(),
            seq: 0,
            last_tick: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seg(&mut self, t: f64, client: bool, port: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) {
        let (src, dst, sp, dp) = if client { (ip(1), ip(2), port, 80) } else { (ip(2), ip(1), 80, port) };
        let s = support::segment(Timestamp::from_secs_f64(1_700_000_000.0 + t), (src, sp), (dst, dp), seq, ack, flags, payload);
        let out = &mut self.out;
        self.seq += 1;
        // Ticks every second of packet time, as the pipeline sends them.
        match self.last_tick {
            Some(t) if s.ts.0 - t.0 >= 1_000_000_000 => {
                self.last_tick = Some(s.ts);
                self.table.tick(s.ts, &mut |c, _| out.push(c));
            }
            None => self.last_tick = Some(s.ts),
            _ => {}
        }
        self.table.process(&s, self.seq, &mut |c, _| out.push(c));
    }

    fn handshake(&mut self, t: f64, port: u16) {
        self.seg(t, true, port, 100, 0, TcpFlags::SYN, b"");
        self.seg(t, false, port, 500, 101, TcpFlags::SYN | TcpFlags::ACK, b"");
        self.seg(t, true, port, 101, 501, TcpFlags::ACK, b"");
    }

    fn finish(&mut self) {
        let out = &mut self.out;
        self.table.finish_all(&mut |c, _| out.push(c));
    }
}

const ACK: u8 = TcpFlags::ACK;
const PSH: u8 = TcpFlags::ACK | TcpFlags::PSH;
const REQ: &[u8] = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n";

#[test]
fn flow_limit_evicts_oldest_and_flags_its_records() {
    let mut n = Net::new(FlowConfig { max_flows: 10, ..FlowConfig::default() }, 1 << 30);
    for p in 0..50u16 {
        n.handshake(p as f64, 1000 + p);
        n.seg(p as f64, true, 1000 + p, 101, 501, PSH, REQ);
        assert!(n.table.len() <= 10);
    }
    assert_eq!(n.table.stats.evicted_flow_limit, 40);
    n.finish();
    assert_eq!(n.out.len(), 50);
    let evicted = n.out.iter().filter(|c| c.anomalies.iter().any(|a| a == "flow_evicted")).count();
    assert_eq!(evicted, 40);
    // The oldest went first: the first records written are the first flows.
    assert_eq!(n.out[0].orig_p, 1000);
}

#[test]
fn memory_bound_holds_under_out_of_order_floods() {
    let max = 2 << 20;
    let mut n = Net::new(FlowConfig::default(), max);
    let junk = vec![b'x'; 1400];
    for p in 0..200u16 {
        n.handshake(0.0, 2000 + p);
        // A hole at the start, then buffered out-of-order data that can never be delivered.
        for i in 1..40u32 {
            n.seg(0.0, true, 2000 + p, 101 + i * 1400, 501, PSH, &junk);
            assert!(n.table.memory() <= max, "memory {} over bound {max}", n.table.memory());
        }
    }
    assert!(n.table.stats.evicted_memory > 0);
    assert!(n.table.stats.peak_memory <= max + 64 * 1024, "peak {}", n.table.stats.peak_memory);
}

#[test]
fn idle_flows_time_out_in_packet_time() {
    let mut n = Net::new(FlowConfig { idle_timeout_secs: 60, ..FlowConfig::default() }, 1 << 30);
    n.handshake(0.0, 3000);
    n.seg(0.0, true, 3000, 101, 501, PSH, REQ);
    n.seg(30.0, true, 3001, 1, 1, PSH, REQ);
    assert_eq!(n.table.len(), 2);
    // A packet two minutes later (on another flow) sweeps the idle one.
    n.seg(120.0, true, 3002, 1, 1, PSH, REQ);
    assert_eq!(n.table.stats.timed_out, 2);
    assert_eq!(n.out.len(), 2);
    assert!(n.out.iter().all(|c| c.anomalies.iter().any(|a| a == "no_response")));
}

#[test]
fn syn_after_close_is_a_new_connection() {
    let mut n = Net::new(FlowConfig::default(), 1 << 30);
    n.handshake(0.0, 4000);
    n.seg(0.1, true, 4000, 101, 501, PSH, REQ);
    n.seg(0.2, false, 4000, 501, 101 + REQ.len() as u32, TcpFlags::RST, b"");
    // Same ports, new ISN: a new connection with its own uid.
    n.seg(0.5, true, 4000, 90_000, 0, TcpFlags::SYN, b"");
    n.seg(0.5, false, 4000, 70_000, 90_001, TcpFlags::SYN | ACK, b"");
    n.seg(0.5, true, 4000, 90_001, 70_001, PSH, b"GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
    n.finish();
    assert_eq!(n.out.len(), 2);
    assert_ne!(n.out[0].uid, n.out[1].uid);
    assert_eq!(n.out[1].uri.as_deref(), Some("/second"));
    assert_eq!(n.table.stats.reused, 1);
}

#[test]
fn data_after_an_ignored_rst_is_kept() {
    // RST evasion: the receiver ignored the RST and the conversation went on.
    let mut n = Net::new(FlowConfig::default(), 1 << 30);
    n.handshake(0.0, 5000);
    n.seg(0.1, true, 5000, 101, 501, TcpFlags::RST, b"");
    n.seg(0.2, true, 5000, 101, 501, PSH, REQ);
    let rsp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    n.seg(0.3, false, 5000, 501, 101 + REQ.len() as u32, PSH, rsp);
    n.finish();
    assert_eq!(n.out.len(), 1);
    assert_eq!(n.out[0].status_code, Some(200));
}

#[test]
fn fin_from_both_sides_writes_records_at_once() {
    let mut n = Net::new(FlowConfig::default(), 1 << 30);
    n.handshake(0.0, 6000);
    n.seg(0.1, true, 6000, 101, 501, PSH, REQ);
    let rsp = b"HTTP/1.0 200 OK\r\n\r\nclose-delimited body";
    n.seg(0.2, false, 6000, 501, 101 + REQ.len() as u32, PSH, rsp);
    n.seg(0.3, false, 6000, 501 + rsp.len() as u32, 101 + REQ.len() as u32, TcpFlags::FIN | ACK, b"");
    n.seg(0.3, true, 6000, 101 + REQ.len() as u32, 502 + rsp.len() as u32, TcpFlags::FIN | ACK, b"");
    assert_eq!(n.out.len(), 1, "written when the connection closed, not at the end of input");
    assert_eq!(n.out[0].response_body_len, 20);
    assert_eq!(n.table.len(), 0);
    assert_eq!(n.table.stats.closed, 1);
}

#[test]
fn lost_request_segment_is_a_gap_not_a_stall() {
    let mut n = Net::new(FlowConfig::default(), 1 << 30);
    n.handshake(0.0, 7000);
    let body = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n0123456789abcdefghij0123456789";
    let split = 60;
    // The segment holding body bytes 60..70 is never captured.
    n.seg(0.1, true, 7000, 101, 501, PSH, &body[..split]);
    n.seg(0.1, true, 7000, 101 + split as u32 + 10, 501, PSH, &body[split + 10..]);
    // The server's response acknowledges the whole request.
    let rsp = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    n.seg(0.2, false, 7000, 501, 101 + body.len() as u32, PSH, rsp);
    assert_eq!(n.out.len(), 1, "the response completes the exchange without waiting");
    let c = &n.out[0];
    assert_eq!((c.status_code, c.request_body_len, c.missed_bytes), (Some(201), 30, 10));
    assert_eq!(c.quality, sensor::record::Quality::Gap);
    assert!(c.anomalies.iter().any(|a| a == "gap_in_request"));
}
