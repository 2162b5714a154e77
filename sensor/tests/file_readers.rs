//! The shared-block pcap reader against libpcap: on every capture in the fixtures and the
//! shared corpus, and on damaged copies (cut anywhere, impossible lengths, frames over the
//! snaplen), both readers must hand out the same frames and stop with the same error.

use sensor::capture::{CaptureError, FileSource, PacketSource, Reader};
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq)]
struct Frame {
    ts: i64,
    wire_len: u32,
    link: String,
    data: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum End {
    Clean,
    Truncated { packets: u64, reason: String },
    Read { packets: u64, reason: String },
    Open(String),
}

/// Every frame and how reading ended; also whether frames came from shared blocks.
fn read_all(path: &Path, reader: Reader) -> (Vec<Frame>, End, bool) {
    let mut src = match FileSource::open_with(path, None, reader) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), End::Open(e.to_string()), false),
    };
    let mut frames = Vec::new();
    let mut shared = false;
    loop {
        match src.next_packet() {
            Ok(Some(p)) => {
                shared |= p.block.is_some();
                frames.push(Frame { ts: p.ts.0, wire_len: p.wire_len, link: p.link.name().into(), data: p.data.to_vec() });
            }
            Ok(None) => return (frames, End::Clean, shared),
            Err(CaptureError::Truncated { packets, reason, .. }) => {
                return (frames, End::Truncated { packets, reason }, shared)
            }
            Err(CaptureError::Read { packets, reason, .. }) => return (frames, End::Read { packets, reason }, shared),
            Err(e) => return (frames, End::Open(e.to_string()), shared),
        }
    }
}

/// Asserts both readers agree on `path`; returns whether the block reader took it.
fn agree(path: &Path) -> bool {
    let (a, a_end, shared) = read_all(path, Reader::Auto);
    let (b, b_end, _) = read_all(path, Reader::Libpcap);
    assert_eq!(a.len(), b.len(), "{}: frame count ({a_end:?} vs {b_end:?})", path.display());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "{}: frame {i}", path.display());
    }
    assert_eq!(a_end, b_end, "{}", path.display());
    shared
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap" || x == "trace") {
            out.push(p);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn readers_agree_on_every_capture() {
    let mut files = Vec::new();
    captures(&root().join("fixtures"), &mut files);
    captures(&root().join("../shared/corpus"), &mut files);
    files.sort();
    assert!(!files.is_empty());
    let taken = files.iter().filter(|f| agree(f)).count();
    // The fixtures alone hold classic pcaps the block reader must take.
    assert!(taken >= 5, "block reader took {taken} of {} captures", files.len());
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("apitap-readers-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

#[test]
fn readers_agree_on_damaged_captures() {
    let orig = std::fs::read(root().join("fixtures/api-sample.pcap")).unwrap();
    let path = scratch("cut.pcap");
    // Cut at every offset through the header and the first frames, then at a stride.
    let cuts = (0..400).chain((400..orig.len()).step_by(97));
    for cut in cuts {
        std::fs::write(&path, &orig[..cut]).unwrap();
        agree(&path);
    }

    // Frame lengths libpcap refuses, or cuts to the snaplen.
    let first_caplen = 24 + 8;
    for caplen in [0u32, 1, 70_000, 262_144, 262_145, 1 << 20, u32::MAX] {
        let mut d = orig.clone();
        d[first_caplen..first_caplen + 4].copy_from_slice(&le32(caplen));
        std::fs::write(&path, &d).unwrap();
        agree(&path);
    }
    for snaplen in [0u32, 20, 64, 65_535, 300_000, u32::MAX] {
        let mut d = orig.clone();
        d[16..20].copy_from_slice(&le32(snaplen));
        std::fs::write(&path, &d).unwrap();
        agree(&path);
        // And cut inside a frame longer than that snaplen.
        std::fs::write(&path, &d[..24 + 16 + 50]).unwrap();
        agree(&path);
    }
    // Microsecond fields at or past a second, and the FCS bits of the link type.
    let mut d = orig.clone();
    d[24 + 4..24 + 8].copy_from_slice(&le32(1_999_999));
    d[20..24].copy_from_slice(&le32(1 | 0x1000_0000 | 0x0400_0000));
    std::fs::write(&path, &d).unwrap();
    assert!(agree(&path));
    let _ = std::fs::remove_file(&path);
}

/// The same capture written big-endian and with nanosecond stamps reads the same.
#[test]
fn byte_order_and_precision_variants() {
    let orig = std::fs::read(root().join("fixtures/api-sample.pcap")).unwrap();
    let mut be = Vec::with_capacity(orig.len());
    let mut ns = Vec::with_capacity(orig.len());
    let swap = |b: &[u8]| -> [u8; 4] { let mut a = [b[0], b[1], b[2], b[3]]; a.reverse(); a };
    be.extend_from_slice(&swap(&orig[0..4]));
    be.extend_from_slice(&[orig[5], orig[4], orig[7], orig[6]]);
    for o in (8..24).step_by(4) {
        be.extend_from_slice(&swap(&orig[o..o + 4]));
    }
    ns.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    ns.extend_from_slice(&orig[4..24]);
    let mut o = 24;
    while o + 16 <= orig.len() {
        let caplen = u32::from_le_bytes([orig[o + 8], orig[o + 9], orig[o + 10], orig[o + 11]]) as usize;
        for f in 0..4 {
            be.extend_from_slice(&swap(&orig[o + 4 * f..o + 4 * f + 4]));
        }
        let usec = u32::from_le_bytes([orig[o + 4], orig[o + 5], orig[o + 6], orig[o + 7]]);
        ns.extend_from_slice(&orig[o..o + 4]);
        ns.extend_from_slice(&(usec * 1000 + 7).to_le_bytes());
        ns.extend_from_slice(&orig[o + 8..o + 16]);
        be.extend_from_slice(&orig[o + 16..o + 16 + caplen]);
        ns.extend_from_slice(&orig[o + 16..o + 16 + caplen]);
        o += 16 + caplen;
    }
    for (name, bytes) in [("be.pcap", be), ("ns.pcap", ns)] {
        let p = scratch(name);
        std::fs::write(&p, bytes).unwrap();
        assert!(agree(&p), "{name} went to libpcap");
        let _ = std::fs::remove_file(&p);
    }
}

/// A capture spanning many blocks, with frames straddling block ends: frames kept by
/// holding their block stay intact while the reader goes on and reuses blocks.
#[test]
fn frames_held_across_blocks_stay_intact() {
    let orig = std::fs::read(root().join("fixtures/api-sample.pcap")).unwrap();
    let mut big = orig.clone();
    // An odd-sized filler frame each round shifts where frames fall against block ends.
    for round in 0..200u32 {
        big.extend_from_slice(&orig[24..]);
        let len = 1000 + (round * 37) % 9000;
        big.extend_from_slice(&[0; 8]);
        big.extend_from_slice(&len.to_le_bytes());
        big.extend_from_slice(&len.to_le_bytes());
        big.extend(std::iter::repeat_n(round as u8, len as usize));
    }
    let path = scratch("big.pcap");
    std::fs::write(&path, &big).unwrap();
    assert!(agree(&path));

    let (expected, _, _) = read_all(&path, Reader::Libpcap);
    let mut src = FileSource::open(&path, None).unwrap();
    let mut held = Vec::new();
    while let Ok(Some(p)) = src.next_packet() {
        let block = p.block.expect("shared block").clone();
        let range = block.range_of(p.data).expect("frame inside its block");
        // Keep every 3rd frame alive; let the others' blocks be reused.
        if held.len() % 3 == 0 || held.is_empty() {
            held.push(Some((block, range)));
        } else {
            held.push(None);
        }
    }
    assert_eq!(held.len(), expected.len());
    for (i, h) in held.iter().enumerate() {
        if let Some((b, r)) = h {
            assert_eq!(b.get(r.clone()), &expected[i].data[..], "frame {i}");
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Workers borrowing payloads from shared blocks write what one thread reading through
/// libpcap writes, fragments (copied, not borrowed) included.
#[test]
fn threaded_pipeline_on_shared_blocks_matches_inline_libpcap() {
    use sensor::pipeline::{Mode, Pipeline};
    use sensor::SensorConfig;
    let run = |path: &Path, reader: Reader, workers: usize| {
        let mut src = FileSource::open_with(path, None, reader).unwrap();
        let mut lines = Vec::new();
        let mut sink = |_c: Option<&sensor::ApiCall>, line: &[u8]| lines.extend_from_slice(line);
        let out = Pipeline::new(SensorConfig::default(), workers, Mode::Replay).run(&mut src, &mut sink);
        assert!(out.error.is_none());
        lines
    };
    for f in ["api-sample.pcap", "corpus/pipelined-requests.pcap", "corpus/gtp1_gn_normal_incl_fragmentation.pcap", "corpus/100-continue.pcap"] {
        let p = root().join("fixtures").join(f);
        let inline = run(&p, Reader::Libpcap, 1);
        assert!(!inline.is_empty(), "{f}");
        assert_eq!(run(&p, Reader::Auto, 3), inline, "{f}");
        assert_eq!(run(&p, Reader::Auto, 2), inline, "{f}");
    }
}
