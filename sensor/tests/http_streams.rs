//! HTTP stream scripts in libhtp's style, run through the HTTP layer under many
//! segmentations of the same bytes. Every segmentation must give the golden transactions.
//!
//! Script format (`tests/streams/*.t`):
//! - `>>>` starts client bytes, `<<<` server bytes. Each following text line is sent with
//!   CRLF appended, until the next marker.
//! - `>>> raw` / `<<< raw`: the following text is sent exactly as written, with escapes
//!   `\r`, `\n`, `\t`, `\\` and `\xNN`, and no implicit line ends.
//! - `>>> gap N` / `<<< gap N`: N bytes of that direction are missing.
//! - `>>> fin` / `<<< fin`: that direction ends.
//! - `#` starts a comment line.
//!
//! Goldens are `NAME.expected` (one JSON summary per transaction). Regenerate with
//! `APITAP_BLESS=1 cargo test -p apitap-sensor --test http_streams` and review the diff.

use sensor::config::HttpConfig;
use sensor::flow::Side;
use sensor::hash::CredentialHasher;
use sensor::http::{HttpConn, HttpCtx, HttpTransaction};
use sensor::reassembly::GapKind;
use sensor::Timestamp;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
enum Step {
    Data(Side, Vec<u8>),
    Gap(Side, u64),
    Fin(Side),
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' if i + 3 < b.len() => {
                    out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).expect("bad \\x escape"));
                    i += 2;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn parse_script(text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut cur: Option<(Side, bool, Vec<u8>)> = None;
    let flush = |cur: &mut Option<(Side, bool, Vec<u8>)>, steps: &mut Vec<Step>| {
        if let Some((side, _, data)) = cur.take() {
            if !data.is_empty() {
                steps.push(Step::Data(side, data));
            }
        }
    };
    for line in text.lines() {
        let marker = line.strip_prefix(">>>").map(|r| (Side::Lo, r)).or_else(|| line.strip_prefix("<<<").map(|r| (Side::Hi, r)));
        if let Some((side, rest)) = marker {
            flush(&mut cur, &mut steps);
            let rest = rest.trim();
            if let Some(n) = rest.strip_prefix("gap ") {
                steps.push(Step::Gap(side, n.trim().parse().expect("gap length")));
            } else if rest == "fin" {
                steps.push(Step::Fin(side));
            } else {
                cur = Some((side, rest == "raw", Vec::new()));
            }
            continue;
        }
        if line.starts_with('#') && cur.is_none() {
            continue;
        }
        if let Some((_, raw, data)) = cur.as_mut() {
            if *raw {
                data.extend(unescape(line));
            } else {
                data.extend_from_slice(line.as_bytes());
                data.extend_from_slice(b"\r\n");
            }
        }
    }
    flush(&mut cur, &mut steps);
    steps
}

fn summarize(tx: &HttpTransaction) -> String {
    let req = tx.request.as_ref();
    let rsp = tx.response.as_ref();
    let v = serde_json::json!({
        "depth": tx.depth,
        "method": req.map(|r| r.method.clone()),
        "uri": req.map(|r| r.uri.clone()),
        "version": req.and_then(|r| r.version.clone()),
        "host": req.and_then(|r| r.host.clone()),
        "status": rsp.map(|r| r.code),
        "info_code": tx.info_code,
        "request_body_len": tx.request_body_len,
        "response_body_len": tx.response_body_len,
        "request": format!("{:?}", tx.request_part),
        "response": format!("{:?}", tx.response_part),
        "missed_bytes": tx.missed_bytes,
        "anomalies": tx.anomalies.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "req_ts": tx.request_ts.map(|t| t.0),
        "rsp_ts": tx.response_ts.map(|t| t.0),
    });
    v.to_string()
}

/// Runs the steps, splitting each data step at `splits(len)` cut points.
fn run(steps: &[Step], splits: &dyn Fn(usize, usize) -> Vec<usize>) -> Vec<String> {
    let cfg = HttpConfig { body_sample: 16, ..HttpConfig::default() };
    let hasher = CredentialHasher::new([0; 32]);
    let mut out = Vec::new();
    let mut emit = |tx: HttpTransaction| out.push(summarize(&tx));
    let mut ctx = HttpCtx { cfg: &cfg, hasher: &hasher, emit: &mut emit };
    let mut conn = HttpConn::new();
    let mut off = [0u64; 2];
    for (i, step) in steps.iter().enumerate() {
        let ts = Timestamp::from_parts(1000 + i as i64, 0);
        match step {
            Step::Data(side, data) => {
                let peer_ack = Some(off[side.opposite().index()]);
                let mut last = 0;
                let mut cuts = splits(data.len(), i);
                cuts.push(data.len());
                for c in cuts {
                    if c <= last || c > data.len() {
                        continue;
                    }
                    conn.on_data(*side, off[side.index()], &data[last..c], ts, peer_ack, &mut ctx);
                    off[side.index()] += (c - last) as u64;
                    last = c;
                }
            }
            Step::Gap(side, n) => {
                conn.on_gap(*side, off[side.index()], *n, GapKind::Lost, ts, &mut ctx);
                off[side.index()] += n;
            }
            Step::Fin(side) => conn.on_end(*side, ts, off[side.index()], &mut ctx),
        }
    }
    conn.close(Timestamp::from_parts(9999, 0), off, &mut ctx);
    out
}

fn lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        s >> 33
    }
}

/// Cut points for a data step of `len` bytes, the `step`-th of its script.
type Splitter = Box<dyn Fn(usize, usize) -> Vec<usize>>;

/// The segmentations every script is run under.
fn segmentations() -> Vec<(String, Splitter)> {
    let mut v: Vec<(String, Splitter)> = vec![
        ("whole".into(), Box::new(|_, _| vec![])),
        ("bytes".into(), Box::new(|len, _| (1..len).collect())),
    ];
    for size in [2usize, 3, 5, 7, 13, 64] {
        v.push((format!("every {size}"), Box::new(move |len, _| (1..len).filter(|i| i % size == 0).collect())));
    }
    for seed in 1..=24u64 {
        v.push((
            format!("random {seed}"),
            Box::new(move |len, step| {
                let mut r = lcg(seed * 1000 + step as u64);
                let mut cuts: Vec<usize> = (0..(r() % 6)).map(|_| (r() as usize) % len.max(1)).collect();
                cuts.sort_unstable();
                cuts
            }),
        ));
    }
    v
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/streams")
}

#[test]
fn stream_scripts_match_goldens_under_every_segmentation() {
    let bless = std::env::var_os("APITAP_BLESS").is_some();
    let mut names: Vec<PathBuf> = std::fs::read_dir(scripts_dir())
        .expect("tests/streams")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "t"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "expected the stream scripts, found {}", names.len());
    let mut failures = Vec::new();
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        let steps = parse_script(&text);
        let baseline = run(&steps, &|_, _| vec![]);
        let golden_path = path.with_extension("expected");
        let golden = baseline.join("\n") + "\n";
        if bless {
            std::fs::write(&golden_path, &golden).unwrap();
        } else {
            let want = std::fs::read_to_string(&golden_path)
                .unwrap_or_else(|_| panic!("{} missing; run with APITAP_BLESS=1", golden_path.display()));
            if want != golden {
                failures.push(format!("{}: output differs from golden\n--- want\n{want}--- got\n{golden}", path.display()));
                continue;
            }
        }
        for (name, seg) in segmentations() {
            let got = run(&steps, &*seg);
            if got != baseline {
                failures.push(format!(
                    "{}: segmentation '{name}' differs\n--- whole\n{}\n--- {name}\n{}",
                    path.display(),
                    baseline.join("\n"),
                    got.join("\n")
                ));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

mod soup {
    //! Random HTTP-shaped input must never panic the HTTP layer, whatever the order,
    //! segmentation and gaps, and what comes out must be well formed.
    use super::*;
    use proptest::prelude::*;

    const PIECES: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n",
        b"POST /api/v1/items?id=7 HTTP/1.1\r\n",
        b"HEAD /x HTTP/1.0\r\n",
        b"CONNECT h:443 HTTP/1.1\r\n",
        b"GET /nover\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        b"http/1.0 404\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"Host: example.com\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Content-Encoding: gzip\r\n",
        b"Content-Encoding: br\r\n",
        b"Expect: 100-continue\r\n",
        b" folded\r\n",
        b"\r\n",
        b"\n",
        b"hello",
        b"5\r\nhello\r\n",
        b"0\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
        b"\x82\x05hello",
        b"\x16\x03\x01\x00\x05",
        b"\x00\xff\xfe",
    ];

    #[derive(Debug, Clone)]
    enum Op {
        Data(bool, Vec<u8>),
        Gap(bool, u16),
        Fin(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (any::<bool>(), prop::collection::vec(0..PIECES.len(), 1..8))
                .prop_map(|(c, idx)| Op::Data(c, idx.iter().flat_map(|i| PIECES[*i].iter().copied()).collect())),
            2 => (any::<bool>(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(|(c, b)| Op::Data(c, b)),
            1 => (any::<bool>(), 1u16..2000).prop_map(|(c, n)| Op::Gap(c, n)),
            1 => any::<bool>().prop_map(Op::Fin),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]
        #[test]
        fn never_panics(ops in prop::collection::vec(op(), 1..30)) {
            let cfg = HttpConfig { max_pending: 8, max_head_bytes: 256, body_sample: 4, ..HttpConfig::default() };
            let hasher = CredentialHasher::new([0; 32]);
            let mut depths = Vec::new();
            let mut emit = |tx: HttpTransaction| depths.push(tx.depth);
            let mut ctx = HttpCtx { cfg: &cfg, hasher: &hasher, emit: &mut emit };
            let mut conn = HttpConn::new();
            let mut off = [0u64; 2];
            for (i, o) in ops.iter().enumerate() {
                let ts = Timestamp::from_parts(i as i64, 0);
                let side = |c: bool| if c { Side::Lo } else { Side::Hi };
                match o {
                    Op::Data(c, d) => {
                        let s = side(*c);
                        conn.on_data(s, off[s.index()], d, ts, Some(off[s.opposite().index()]), &mut ctx);
                        off[s.index()] += d.len() as u64;
                    }
                    Op::Gap(c, n) => {
                        let s = side(*c);
                        conn.on_gap(s, off[s.index()], u64::from(*n), GapKind::Lost, ts, &mut ctx);
                        off[s.index()] += u64::from(*n);
                    }
                    Op::Fin(c) => {
                        let s = side(*c);
                        conn.on_end(s, ts, off[s.index()], &mut ctx);
                    }
                }
                prop_assert!(conn.held_bytes() < 1 << 20);
            }
            conn.close(Timestamp::from_parts(10_000, 0), off, &mut ctx);
            // Depths are unique and each transaction is written once.
            let mut sorted = depths.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), depths.len());
        }
    }
}
