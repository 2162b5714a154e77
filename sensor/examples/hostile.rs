//! Writes the hostile captures the memory bound is measured against (bench/hostile.sh):
//!
//!   cargo run --release -p apitap-sensor --example hostile -- KIND OUT.pcap [N]
//!
//! KIND:
//! - `synflood`: N distinct flows (default 1,000,000), each a lone SYN.
//! - `slowloris`: N connections (default 100,000) opened, then each sending one byte of a
//!   request head a second, for 20 seconds, all at once.
//! - `overlap`: N connections (default 700) each sending 980 KB out of order behind a hole
//!   that never fills (under the 1 MiB per-stream bound, so only the global bound can act:
//!   670 MiB in all against the default 512 MiB), every tenth segment again with different
//!   bytes; then N more each sending a giant (never-ending) request head.
//! - `callers`: N complete calls (default 200,000), each on a connection of its own, every
//!   one with a user agent, Basic credential and user name never seen before and longer
//!   than detection keeps (600, 300 and 280 bytes): what detection's window holds per call
//!   at its largest, for the analysis's share of the bound.
//!
//! Synthetic by necessity (no real stack sends this), built with etherparse.

use etherparse::PacketBuilder;
use std::io::{BufWriter, Write};

#[derive(Clone, Copy)]
enum Flag {
    None,
    Syn,
    Fin,
}

struct Pcap<W: Write> {
    out: W,
}

impl<W: Write> Pcap<W> {
    fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&65535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(Pcap { out })
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(&mut self, t_us: u64, src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, seq: u32, ack: Option<u32>, flag: Flag, payload: &[u8]) -> std::io::Result<()> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(src, dst, 64);
        let mut t = b.tcp(sp, dp, seq, 65535);
        match flag {
            Flag::Syn => t = t.syn(),
            Flag::Fin => t = t.fin(),
            Flag::None => {}
        }
        if let Some(a) = ack {
            t = t.ack(a);
        }
        let mut frame = Vec::with_capacity(64 + payload.len());
        t.write(&mut frame, payload).map_err(std::io::Error::other)?;
        self.out.write_all(&((t_us / 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&((t_us % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&(frame.len() as u32).to_le_bytes())?;
        self.out.write_all(&frame)
    }
}

fn client(i: u64) -> ([u8; 4], u16) {
    let ip = 0x0a00_0000u32 + (i / 50_000) as u32 + 1;
    (ip.to_be_bytes(), 10_000 + (i % 50_000) as u16)
}

const SERVER: [u8; 4] = [192, 168, 1, 1];
const T0: u64 = 1_700_000_000_000_000;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: hostile synflood|slowloris|overlap|callers OUT.pcap [N]");
        std::process::exit(2);
    };
    let n: Option<u64> = args.get(3).and_then(|s| s.parse().ok());
    let mut p = Pcap::new(BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?))?;
    match kind.as_str() {
        "synflood" => {
            for i in 0..n.unwrap_or(1_000_000) {
                let (ip, port) = client(i);
                p.tcp(T0 + i, ip, SERVER, port, 80, i as u32, None, Flag::Syn, b"")?;
            }
        }
        "slowloris" => {
            let n = n.unwrap_or(100_000);
            for i in 0..n {
                let (ip, port) = client(i);
                let t = T0 + i * 5;
                p.tcp(t, ip, SERVER, port, 80, 1000, None, Flag::Syn, b"")?;
                p.tcp(t, SERVER, ip, 80, port, 5000, Some(1001), Flag::Syn, b"")?;
                p.tcp(t, ip, SERVER, port, 80, 1001, Some(5001), Flag::None, b"")?;
            }
            let head = b"GET /slow HTTP/1.1\r\n";
            for sec in 0..20u64 {
                for i in 0..n {
                    let (ip, port) = client(i);
                    let k = (sec as usize) % head.len();
                    p.tcp(T0 + (sec + 1) * 1_000_000 + i * 5, ip, SERVER, port, 80, 1001 + sec as u32, Some(5001), Flag::None, &head[k..=k])?;
                }
            }
        }
        "overlap" => {
            let n = n.unwrap_or(700);
            let chunk = vec![b'A'; 1400];
            let other = vec![b'B'; 1400];
            for i in 0..n {
                let (ip, port) = client(i);
                let t = T0 + i * 1000;
                p.tcp(t, ip, SERVER, port, 80, 1000, None, Flag::Syn, b"")?;
                p.tcp(t, SERVER, ip, 80, port, 5000, Some(1001), Flag::Syn, b"")?;
                // A 1400-byte hole at the start, then 980 KB that can never be delivered,
                // every tenth segment sent again with different bytes.
                for k in 1..=700u32 {
                    let seq = 1001 + k * 1400;
                    p.tcp(t + u64::from(k), ip, SERVER, port, 80, seq, Some(5001), Flag::None, &chunk)?;
                    if k % 10 == 0 {
                        p.tcp(t + u64::from(k), ip, SERVER, port, 80, seq, Some(5001), Flag::None, &other)?;
                    }
                }
            }
            // Giant heads: a request line and headers that never end.
            for i in n..2 * n {
                let (ip, port) = client(i);
                let t = T0 + 5_000_000 + i * 1000;
                p.tcp(t, ip, SERVER, port, 80, 1000, None, Flag::Syn, b"")?;
                p.tcp(t, SERVER, ip, 80, port, 5000, Some(1001), Flag::Syn, b"")?;
                let mut seq = 1001u32;
                p.tcp(t, ip, SERVER, port, 80, seq, Some(5001), Flag::None, b"GET /giant HTTP/1.1\r\n")?;
                seq += 21;
                let header = format!("X-Pad: {}\r\n", "p".repeat(1380));
                for k in 0..200u32 {
                    p.tcp(t + u64::from(k), ip, SERVER, port, 80, seq, Some(5001), Flag::None, header.as_bytes())?;
                    seq += header.len() as u32;
                }
            }
        }
        "callers" => {
            use base64::Engine;
            let mut rng = 0x9e37_79b9_7f4a_7c15u64;
            let mut text = |len: usize| -> String {
                (0..len)
                    .map(|_| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        char::from(b'a' + (rng % 26) as u8)
                    })
                    .collect()
            };
            for i in 0..n.unwrap_or(200_000) {
                let (ip, port) = client(i);
                let t = T0 + i * 200;
                let agent = format!("Mozilla/5.0 (caller {i}) {}", text(580));
                let login = format!("user{i}-{}:{}", text(270), text(30));
                let basic = base64::engine::general_purpose::STANDARD.encode(login);
                let request = format!(
                    "GET /api/items/{i} HTTP/1.1\r\nHost: api.example\r\nUser-Agent: {agent}\r\nAuthorization: Basic {basic}\r\n\r\n"
                );
                let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
                let (req, resp) = (request.len() as u32, response.len() as u32);
                p.tcp(t, ip, SERVER, port, 80, 1000, None, Flag::Syn, b"")?;
                p.tcp(t + 10, SERVER, ip, 80, port, 5000, Some(1001), Flag::Syn, b"")?;
                p.tcp(t + 20, ip, SERVER, port, 80, 1001, Some(5001), Flag::None, request.as_bytes())?;
                p.tcp(t + 60, SERVER, ip, 80, port, 5001, Some(1001 + req), Flag::None, response.as_bytes())?;
                p.tcp(t + 70, ip, SERVER, port, 80, 1001 + req, Some(5001 + resp), Flag::Fin, b"")?;
                p.tcp(t + 80, SERVER, ip, 80, port, 5001 + resp, Some(1002 + req), Flag::Fin, b"")?;
            }
        }
        other => {
            eprintln!("unknown kind {other}");
            std::process::exit(2);
        }
    }
    p.out.flush()
}
