//! The record as one JSON line, written straight into a byte buffer.
//!
//! The output is byte for byte what `serde_json::to_writer` gives for [`ApiCall`] (a test
//! holds the two together over every golden record and random ones); writing it by hand
//! skips serde's generic machinery, which was a fifth of replay time.

use super::{ApiCall, JwtRecord, Quality, TunnelRecord};
use std::net::IpAddr;

/// Bytes that JSON strings must escape, as serde_json escapes them.
static ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any of the eight bytes in `w` is one [`ESCAPE`] marks: below 0x20, `"` or `\\`.
/// Exact for the word as a whole (the classic has-less/has-zero bit tricks).
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    (below_space | (quote.wrapping_sub(ONES) & !quote) | (backslash.wrapping_sub(ONES) & !backslash)) & HIGH != 0
}

/// Loads up to eight bytes as one little-endian word without reading past `b`: from
/// four bytes up, two overlapping halves (a byte may appear twice, which a yes-or-no scan
/// does not mind); below that, the missing bytes are spaces, which never need escaping.
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    let at = |i: usize| u64::from(b[i]);
    if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        u64::from(lo) | u64::from(hi) << 32
    } else {
        const SPACES: u64 = 0x2020_2020_2020_2020;
        match n {
            3 => at(0) | at(1) << 8 | at(2) << 16 | SPACES << 24,
            2 => at(0) | at(1) << 8 | SPACES << 16,
            1 => at(0) | SPACES << 8,
            _ => SPACES,
        }
    }
}

/// Whether any byte of `b` must be escaped, checked a word at a time (the last word
/// overlapping the one before it, or built by [`short_word`] when `b` is shorter).
fn needs_escape(b: &[u8]) -> bool {
    let n = b.len();
    if n < 8 {
        return word_needs_escape(short_word(b));
    }
    let word = |w: &[u8]| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    if b.chunks_exact(8).any(|w| word_needs_escape(word(w))) {
        return true;
    }
    word_needs_escape(word(&b[n - 8..]))
}

fn string(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    // Almost every string needs no escape: copy it whole.
    if !needs_escape(b) {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if !ESCAPE[c as usize] {
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn opt_int(out: &mut Vec<u8>, v: Option<impl itoa::Integer>) {
    match v {
        Some(v) => int(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn opt_float(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) => float(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn ip(out: &mut Vec<u8>, a: &IpAddr) {
    out.push(b'"');
    match a {
        IpAddr::V4(v4) => {
            // Two addresses in every record: digits by hand, into one buffer.
            let mut buf = [0u8; 15];
            let mut n = 0;
            for (i, &b) in v4.octets().iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if b >= 100 {
                    buf[n] = b'0' + b / 100;
                    n += 1;
                }
                if b >= 10 {
                    buf[n] = b'0' + b / 10 % 10;
                    n += 1;
                }
                buf[n] = b'0' + b % 10;
                n += 1;
            }
            out.extend_from_slice(&buf[..n]);
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
    out.push(b'"');
}

fn strings(out: &mut Vec<u8>, v: &[impl AsRef<str>]) {
    out.push(b'[');
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s.as_ref());
    }
    out.push(b']');
}

impl ApiCall {
    /// Appends this record as one line of JSON, newline included.
    pub fn write_jsonl(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"schema_version\":");
        int(out, self.schema_version);
        out.extend_from_slice(b",\"ts\":");
        float(out, self.ts);
        out.extend_from_slice(b",\"uid\":");
        string(out, &self.uid);
        out.extend_from_slice(b",\"orig_h\":");
        ip(out, &self.orig_h);
        out.extend_from_slice(b",\"orig_p\":");
        int(out, self.orig_p);
        out.extend_from_slice(b",\"resp_h\":");
        ip(out, &self.resp_h);
        out.extend_from_slice(b",\"resp_p\":");
        int(out, self.resp_p);
        out.extend_from_slice(b",\"trans_depth\":");
        int(out, self.trans_depth);
        for (k, v) in [
            (&b",\"method\":"[..], self.method.as_deref()),
            (&b",\"host\":"[..], self.host.as_deref()),
            (&b",\"uri\":"[..], self.uri.as_deref()),
            (&b",\"path\":"[..], self.path.as_deref()),
            (&b",\"query\":"[..], self.query.as_deref()),
            (&b",\"version\":"[..], self.version.as_deref()),
            (&b",\"user_agent\":"[..], self.user_agent.as_deref()),
        ] {
            out.extend_from_slice(k);
            opt_string(out, v);
        }
        out.extend_from_slice(b",\"status_code\":");
        opt_int(out, self.status_code);
        out.extend_from_slice(b",\"status_msg\":");
        opt_string(out, self.status_msg.as_deref());
        out.extend_from_slice(b",\"info_code\":");
        opt_int(out, self.info_code);
        out.extend_from_slice(b",\"response_ts\":");
        opt_float(out, self.response_ts);
        out.extend_from_slice(b",\"latency_ms\":");
        opt_float(out, self.latency_ms);
        out.extend_from_slice(b",\"duration_ms\":");
        opt_float(out, self.duration_ms);
        for (k, v) in [
            (&b",\"request_body_len\":"[..], self.request_body_len),
            (&b",\"response_body_len\":"[..], self.response_body_len),
            (&b",\"request_len\":"[..], self.request_len),
            (&b",\"response_len\":"[..], self.response_len),
        ] {
            out.extend_from_slice(k);
            int(out, v);
        }
        for (k, v) in [
            (&b",\"request_content_type\":"[..], self.request_content_type.as_deref()),
            (&b",\"response_content_type\":"[..], self.response_content_type.as_deref()),
            (&b",\"response_content_encoding\":"[..], self.response_content_encoding.as_deref()),
            (&b",\"x_forwarded_for\":"[..], self.x_forwarded_for.as_deref()),
            (&b",\"forwarded\":"[..], self.forwarded.as_deref()),
            (&b",\"true_client_ip\":"[..], self.true_client_ip.as_deref()),
        ] {
            out.extend_from_slice(k);
            opt_string(out, v);
        }
        out.extend_from_slice(b",\"cookie_names\":");
        strings(out, &self.cookie_names);
        out.extend_from_slice(b",\"set_cookie_names\":");
        strings(out, &self.set_cookie_names);
        for (k, v) in [
            (&b",\"auth_scheme\":"[..], self.auth_scheme.as_deref()),
            (&b",\"auth_hash\":"[..], self.auth_hash.as_deref()),
            (&b",\"auth_user\":"[..], self.auth_user.as_deref()),
        ] {
            out.extend_from_slice(k);
            opt_string(out, v);
        }
        out.extend_from_slice(b",\"auth_jwt\":");
        match &self.auth_jwt {
            None => out.extend_from_slice(b"null"),
            Some(JwtRecord { alg, iss, sub, claims, exp, iat }) => {
                out.extend_from_slice(b"{\"alg\":");
                string(out, alg);
                out.extend_from_slice(b",\"iss\":");
                opt_string(out, iss.as_deref());
                out.extend_from_slice(b",\"sub\":");
                opt_string(out, sub.as_deref());
                out.extend_from_slice(b",\"claims\":");
                strings(out, claims);
                out.extend_from_slice(b",\"exp\":");
                opt_int(out, *exp);
                out.extend_from_slice(b",\"iat\":");
                opt_int(out, *iat);
                out.push(b'}');
            }
        }
        out.extend_from_slice(b",\"upgrade\":");
        opt_string(out, self.upgrade.as_deref());
        out.extend_from_slice(b",\"anomalies\":");
        strings(out, &self.anomalies);
        out.extend_from_slice(b",\"missed_bytes\":");
        int(out, self.missed_bytes);
        out.extend_from_slice(b",\"quality\":");
        out.extend_from_slice(match self.quality {
            Quality::Complete => b"\"complete\"",
            Quality::Gap => b"\"gap\"",
            Quality::OneSided => b"\"one_sided\"",
            Quality::Truncated => b"\"truncated\"",
        });
        out.extend_from_slice(b",\"vlan\":");
        opt_int(out, self.vlan);
        out.extend_from_slice(b",\"tunnel\":");
        match &self.tunnel {
            None => out.extend_from_slice(b"null"),
            Some(TunnelRecord { kind, id, outer_src, outer_dst }) => {
                out.extend_from_slice(b"{\"kind\":");
                string(out, kind);
                out.extend_from_slice(b",\"id\":");
                opt_int(out, *id);
                out.extend_from_slice(b",\"outer_src\":");
                ip(out, outer_src);
                out.extend_from_slice(b",\"outer_dst\":");
                ip(out, outer_dst);
                out.push(b'}');
            }
        }
        if let Some(b) = &self.request_body {
            out.extend_from_slice(b",\"request_body\":");
            string(out, b);
        }
        if let Some(b) = &self.response_body {
            out.extend_from_slice(b",\"response_body\":");
            string(out, b);
        }
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn word_scan_agrees_with_the_escape_table() {
        for pos in 0..8 {
            for c in 0..=255u8 {
                let mut w = [b'a'; 8];
                w[pos] = c;
                assert_eq!(word_needs_escape(u64::from_le_bytes(w)), ESCAPE[c as usize], "byte {c:#x} at {pos}");
            }
        }
        for (text, escape) in [("", false), ("1234567", false), ("12345678", false), ("123456789\"", true), ("abc\n", true)] {
            assert_eq!(needs_escape(text.as_bytes()), escape, "{text:?}");
        }
        // Every length around the word and half-word edges, each byte position, bytes on
        // both sides of each boundary the bit tricks test.
        for len in 0..=24 {
            for pos in 0..len {
                for c in [0x00, 0x1f, b' ', b'!', b'"', b'#', b'[', b'\\', b']', b'a', 0x7f, 0x80, 0xff] {
                    let mut b = vec![b'a'; len];
                    b[pos] = c;
                    assert_eq!(needs_escape(&b), ESCAPE[c as usize], "byte {c:#x} at {pos} of {len}");
                }
            }
        }
        let mut out = Vec::new();
        for text in ["0123456789abcdef\"q\u{7f}é\n", "plain ascii, longer than a word", "tab\tend", "é\\\u{1}"] {
            out.clear();
            string(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }

    fn serde_line(c: &ApiCall) -> Vec<u8> {
        let mut v = serde_json::to_vec(c).unwrap();
        v.push(b'\n');
        v
    }

    #[test]
    fn same_bytes_as_serde_on_every_golden_record() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/golden");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if !p.to_string_lossy().ends_with(".records.jsonl") {
                continue;
            }
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                let c: ApiCall = serde_json::from_str(line).unwrap();
                let mut mine = Vec::new();
                c.write_jsonl(&mut mine);
                assert_eq!(String::from_utf8_lossy(&mine), String::from_utf8_lossy(&serde_line(&c)));
                assert_eq!(&mine[..mine.len() - 1], line.as_bytes());
                n += 1;
            }
        }
        assert!(n >= 39, "expected the golden records, read {n}");
    }

    proptest! {
        #[test]
        fn same_bytes_as_serde_on_random_records(
            s in "\\PC*", ctl in prop::collection::vec(0u8..0x80, 0..20), f in any::<f64>(),
            n in any::<u64>(), opt in any::<bool>(), v6 in any::<bool>(),
        ) {
            let text = format!("{s}{}", ctl.iter().map(|b| *b as char).collect::<String>());
            let addr: IpAddr = if v6 { "2001:db8::1".parse().unwrap() } else { "10.0.0.1".parse().unwrap() };
            let c = ApiCall {
                schema_version: 1, ts: f, uid: text.clone(), orig_h: addr, orig_p: n as u16, resp_h: addr, resp_p: 80,
                trans_depth: n as u32, method: opt.then(|| text.clone().into()), host: Some(text.clone()), uri: None,
                path: Some("/".into()), query: opt.then(|| "a=1".into()), version: Some("1.1".into()), user_agent: None,
                status_code: opt.then_some(200), status_msg: None, info_code: None, response_ts: opt.then_some(f / 3.0),
                latency_ms: Some(f * 1e-9), duration_ms: None, request_body_len: n, response_body_len: n / 3,
                request_len: 0, response_len: u64::MAX, request_content_type: None, response_content_type: Some(text.clone()),
                response_content_encoding: None, x_forwarded_for: None, forwarded: opt.then(|| text.clone()), true_client_ip: None, cookie_names: vec![text.clone(), "b".into()],
                set_cookie_names: vec![], auth_scheme: None, auth_hash: None, auth_user: Some(text.clone()),
                auth_jwt: opt.then(|| JwtRecord { alg: text.clone(), iss: None, sub: Some(text.clone()), claims: vec![text.clone()], exp: Some(n as i64), iat: None }),
                upgrade: None,
                anomalies: vec!["http09".into()], missed_bytes: 7, quality: if opt { Quality::Gap } else { Quality::OneSided },
                vlan: opt.then_some(4093), tunnel: opt.then(|| TunnelRecord { kind: "vxlan".into(), id: Some(5), outer_src: addr, outer_dst: addr }),
                request_body: opt.then(|| text.clone()), response_body: None, captured: None,
            };
            let mut mine = Vec::new();
            c.write_jsonl(&mut mine);
            prop_assert_eq!(mine, serde_line(&c));
        }
    }
}
