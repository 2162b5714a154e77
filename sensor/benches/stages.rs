//! Per-stage benchmarks over real captures, with `Throughput::Bytes` so criterion reports
//! bytes per second. Input: `bench/data/api-200M.pcap` when it exists (made by
//! `bench/make-capture.sh`; the first 64 MB are used), else the fixtures.
//!
//!   cargo bench -p apitap-sensor --bench stages
//!
//! Stages: decode only; decode + flows + reassembly + HTTP (records built, not written);
//! record serialization to JSON; HTTP parsing of one conversation without TCP.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sensor::capture::{FileSource, OwnedPacket, PacketSource};
use sensor::config::HttpConfig;
use sensor::flow::Side;
use sensor::hash::CredentialHasher;
use sensor::http::{HttpConn, HttpCtx};
use sensor::pipeline::{Mode, Pipeline, WithRecords};
use sensor::{SensorConfig, Timestamp};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(limit: usize) -> (String, Vec<OwnedPacket>) {
    let big = root().join("bench/data/api-200M.pcap");
    let paths: Vec<PathBuf> = if big.exists() {
        vec![big]
    } else {
        vec![root().join("fixtures/api-sample.pcap"), root().join("fixtures/corpus/pipelined-requests.pcap")]
    };
    let mut pkts = Vec::new();
    let mut bytes = 0;
    for p in &paths {
        let mut src = FileSource::open(p, None).expect("open capture");
        while let Ok(Some(p)) = src.next_packet() {
            bytes += p.data.len();
            pkts.push(OwnedPacket { ts: p.ts, wire_len: p.wire_len, link: p.link, data: p.data.to_vec() });
            if bytes >= limit {
                break;
            }
        }
    }
    (paths[0].file_name().unwrap().to_string_lossy().into_owned(), pkts)
}

fn bench_stages(c: &mut Criterion) {
    let (name, pkts) = load(64 << 20);
    let bytes: u64 = pkts.iter().map(|p| p.data.len() as u64).sum();

    let mut g = c.benchmark_group(format!("stages/{name}"));
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut d = sensor::decode::Decoder::new(Default::default());
            let mut n = 0u64;
            for p in &pkts {
                d.decode(&p.borrow(), &mut |s| n += s.payload.len() as u64);
            }
            n
        })
    });
    g.bench_function("decode+flow+http", |b| {
        b.iter(|| {
            let mut pl = Pipeline::new(SensorConfig::default(), 1, Mode::Replay);
            let mut n = 0u64;
            let mut sink = |_c: Option<&sensor::ApiCall>, _line: &[u8]| n += 1;
            for p in &pkts {
                pl.packet(&p.borrow(), &mut sink);
            }
            pl.finish(&mut sink);
            n
        })
    });
    g.finish();

    // Serialization of the records this input produces.
    let mut calls = Vec::new();
    let mut pl = Pipeline::new(SensorConfig::default(), 1, Mode::Replay);
    let mut sink = WithRecords(|c: &sensor::ApiCall, _line: &[u8]| calls.push(c.clone()));
    for p in &pkts {
        pl.packet(&p.borrow(), &mut sink);
    }
    pl.finish(&mut sink);
    let json_bytes: u64 = calls.iter().map(|c| serde_json::to_vec(c).unwrap().len() as u64 + 1).sum();
    let mut g = c.benchmark_group(format!("records/{name}"));
    g.sample_size(10);
    g.throughput(Throughput::Bytes(json_bytes));
    g.bench_function("to_jsonl", |b| {
        let mut buf = Vec::with_capacity(json_bytes as usize);
        b.iter(|| {
            buf.clear();
            for c in &calls {
                serde_json::to_writer(&mut buf, c).unwrap();
                buf.push(b'\n');
            }
            buf.len()
        })
    });
    g.finish();
}

fn bench_http(c: &mut Criterion) {
    // One keep-alive conversation: 200 request/response pairs with JSON bodies.
    let mut req = Vec::new();
    let mut rsp = Vec::new();
    for i in 0..200 {
        req.extend_from_slice(format!("GET /api/v1/users/{i}?fields=name,email HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nAuthorization: Bearer tok-{i}\r\n\r\n").as_bytes());
        let body = format!("{{\"id\":{i},\"name\":\"user{i}\",\"email\":\"user{i}@example.com\",\"pad\":\"{}\"}}", "x".repeat(400));
        rsp.extend_from_slice(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }
    let cfg = HttpConfig::default();
    let hasher = CredentialHasher::new([0; 32]);
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Bytes((req.len() + rsp.len()) as u64));
    g.bench_function("conversation_1400B_segments", |b| {
        b.iter_batched(
            HttpConn::new,
            |mut conn| {
                let mut n = 0u32;
                let mut emit = |_t| n += 1;
                let mut ctx = HttpCtx { cfg: &cfg, hasher: &hasher, emit: &mut emit };
                let ts = Timestamp::ZERO;
                let (mut ro, mut so) = (0u64, 0u64);
                for (rq, rs) in req.chunks(1400).zip(rsp.chunks(1400)) {
                    conn.on_data(Side::Lo, ro, rq, ts, Some(so), &mut ctx);
                    ro += rq.len() as u64;
                    conn.on_data(Side::Hi, so, rs, ts, Some(ro), &mut ctx);
                    so += rs.len() as u64;
                }
                for rs in rsp.chunks(1400).skip(req.len().div_ceil(1400)) {
                    conn.on_data(Side::Hi, so, rs, ts, Some(ro), &mut ctx);
                    so += rs.len() as u64;
                }
                conn.close(ts, [ro, so], &mut ctx);
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_stages, bench_http);
criterion_main!(benches);
