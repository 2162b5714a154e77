//! Traffic as AWS VPC Traffic Mirroring delivers it: every frame of a real capture wrapped
//! in VXLAN (UDP 4789, the session's VNI) from the mirror source to the target, and frames
//! too big for the target's MTU truncated inside an outer packet that is itself complete.
//! apitap must find the same API calls, name the tunnel, and mark the cut ones `truncated`,
//! not `gap`.

mod common;
use common::*;
use serde_json::Value;

const VNI: u32 = 4_242_424;
const OUTER_SRC: [u8; 4] = [172, 31, 5, 10];
const OUTER_DST: [u8; 4] = [172, 31, 9, 20];

/// Frames of a little-endian microsecond pcap: (header, frame).
fn frames(pcap: &[u8]) -> Vec<([u8; 16], Vec<u8>)> {
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= pcap.len() {
        let mut h = [0u8; 16];
        h.copy_from_slice(&pcap[o..o + 16]);
        let caplen = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        out.push((h, pcap[o + 16..o + 16 + caplen].to_vec()));
        o += 16 + caplen;
    }
    out
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The inner frame, cut to `keep` bytes, inside Ethernet/IPv4/UDP/VXLAN whose lengths
/// describe exactly what is there.
fn mirror(inner: &[u8], keep: usize) -> Vec<u8> {
    let inner = &inner[..inner.len().min(keep)];
    let mut f = Vec::new();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x20, 0x02, 0, 0, 0, 0, 0x10, 0x08, 0x00]);
    let udp_len = 8 + 8 + inner.len();
    let ip_len = 20 + udp_len;
    let mut ip = vec![0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&OUTER_SRC);
    ip.extend_from_slice(&OUTER_DST);
    let c = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0xc3, 0x50, 0x12, 0xb5, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    f.extend_from_slice(&[0x08, 0, 0, 0]);
    f.extend_from_slice(&(VNI << 8).to_be_bytes());
    f.extend_from_slice(inner);
    f
}

fn write_pcap(path: &std::path::Path, frames: &[([u8; 16], Vec<u8>)]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (h, f) in frames {
        let mut h = *h;
        let n = (f.len() as u32).to_le_bytes();
        h[8..12].copy_from_slice(&n);
        h[12..16].copy_from_slice(&n);
        out.extend_from_slice(&h);
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

fn key(r: &Value) -> String {
    format!("{} {} {} {} {}", r["orig_p"], r["trans_depth"], r["method"], r["uri"], r["status_code"])
}

#[test]
fn aws_mirrored_vxlan_with_truncation() {
    let tmp = TempDir::new("mirror");
    let plain = frames(&std::fs::read(fixture("api-sample.pcap")).unwrap());
    // AWS cuts what does not fit the target's MTU; 320 bytes of inner frame leaves every
    // head whole here and cuts the larger bodies.
    let keep = 320;
    let wrapped: Vec<_> = plain.iter().map(|(h, f)| (*h, mirror(f, keep))).collect();
    assert!(plain.iter().any(|(_, f)| f.len() > keep), "the fixture needs frames to cut");
    let cap = tmp.path().join("mirrored.pcap");
    write_pcap(&cap, &wrapped);

    let o = replay(&[&fixture("api-sample.pcap")], &tmp.path().join("plain"), &["-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = replay(&[&cap], &tmp.path().join("mirrored"), &["-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plain_recs = records(&tmp.path().join("plain"));
    let mirrored = records(&tmp.path().join("mirrored"));

    // The same calls.
    let mut a: Vec<String> = plain_recs.iter().map(key).collect();
    let mut b: Vec<String> = mirrored.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(!mirrored.is_empty());

    let mut cut = 0;
    for r in &mirrored {
        let t = &r["tunnel"];
        assert_eq!(t["kind"], "vxlan", "{r}");
        assert_eq!(t["id"], VNI, "{r}");
        assert_eq!(t["outer_src"], "172.31.5.10", "{r}");
        assert_eq!(t["outer_dst"], "172.31.9.20", "{r}");
        assert_ne!(r["quality"], "gap", "truncation by the mirror is not loss: {r}");
        if r["quality"] == "truncated" {
            cut += 1;
            // Lengths still come from the message framing, not from what was captured.
            let twin = plain_recs.iter().find(|p| key(p) == key(r)).unwrap();
            assert_eq!(r["response_body_len"], twin["response_body_len"], "{r}");
            assert!(r["missed_bytes"].as_u64().unwrap_or(0) > 0, "what was cut is counted: {r}");
        }
    }
    assert!(cut > 0, "no record was marked truncated");
}
