//! The command line as users meet it: bad input gives one clear line and a non-zero exit,
//! truncated captures keep what they hold, stdin and several files work, filters apply.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

fn assert_one_line_error(o: &std::process::Output, needle: &str) {
    assert!(!o.status.success(), "expected failure");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {err}");
    assert!(lines[0].starts_with("apitap: error: "), "{err}");
    assert!(err.contains(needle), "'{needle}' not in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_file() {
    let out = TempDir::new("cli");
    let o = replay(&[std::path::Path::new("/nonexistent/x.pcap")], out.path(), &[]);
    assert_one_line_error(&o, "cannot open capture '/nonexistent/x.pcap': no such file");
}

#[test]
fn not_a_capture() {
    let out = TempDir::new("cli");
    let f = out.path().join("notes.txt");
    std::fs::write(&f, "this is not a pcap, just text long enough to have a header\n").unwrap();
    let o = replay(&[&f], &out.path().join("o"), &[]);
    assert_one_line_error(&o, "is not a pcap or pcapng capture");
    // Nothing is created when the input is refused.
    assert!(!out.path().join("o").exists());
}

#[test]
fn empty_file_is_not_a_capture() {
    let out = TempDir::new("cli");
    let f = out.path().join("empty.pcap");
    std::fs::write(&f, b"").unwrap();
    let o = replay(&[&f], &out.path().join("o"), &[]);
    assert_one_line_error(&o, "is not a pcap or pcapng capture");
}

fn pcap_header(linktype: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&linktype.to_le_bytes());
    h
}

#[test]
fn unsupported_link_type() {
    let out = TempDir::new("cli");
    let f = out.path().join("usb.pcap");
    std::fs::write(&f, pcap_header(189)).unwrap();
    let o = replay(&[&f], &out.path().join("o"), &[]);
    assert_one_line_error(&o, "link type 189");
    assert!(stderr(&o).contains("is not supported"));
}

#[test]
fn bad_filter() {
    let out = TempDir::new("cli");
    let o = replay(&[&fixture("api-sample.pcap")], out.path(), &["-f", "port nonsense ((("]);
    assert_one_line_error(&o, "bad capture filter");
}

#[test]
fn truncated_capture_keeps_what_it_has() {
    let out = TempDir::new("cli");
    let full = std::fs::read(fixture("api-sample.pcap")).unwrap();
    // Cut inside the last third: the header of a packet promises more than follows.
    let cut = full.len() * 2 / 3;
    let f = out.path().join("cut.pcap");
    std::fs::write(&f, &full[..cut]).unwrap();
    let o = replay(&[&f], &out.path().join("o"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning") && err.contains("truncated"), "{err}");
    let recs = records(&out.path().join("o"));
    let whole = TempDir::new("cli");
    replay(&[&fixture("api-sample.pcap")], whole.path(), &["-q"]);
    let all = records(whole.path());
    assert!(recs.len() >= 8 && recs.len() <= all.len(), "{} of {}", recs.len(), all.len());
    assert!(stdout(&o).contains("transactions"));
}

#[test]
fn stdin_is_a_capture() {
    let out = TempDir::new("cli");
    let mut child = bin()
        .args(["replay", "-", "--out"])
        .arg(out.path())
        .args(["--hash-key-file"])
        .arg(fixture("golden/hash.key"))
        .arg("-q")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&std::fs::read(fixture("api-sample.pcap")).unwrap()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let from_file = TempDir::new("cli");
    replay(&[&fixture("api-sample.pcap")], from_file.path(), &["-q"]);
    assert_eq!(records(out.path()), records(from_file.path()));
}

#[test]
fn several_files_merge_in_time_order() {
    let a = fixture("api-sample.pcap");
    let b = fixture("corpus/pipelined-requests.pcap");
    let both = TempDir::new("cli");
    let o = replay(&[&b, &a], both.path(), &["-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let merged = records(both.path());
    let (ra, rb) = (TempDir::new("cli"), TempDir::new("cli"));
    replay(&[&a], ra.path(), &["-q"]);
    replay(&[&b], rb.path(), &["-q"]);
    assert_eq!(merged.len(), records(ra.path()).len() + records(rb.path()).len());
    // pipelined-requests is from 2009, api-sample from later: the 2009 flow ends first.
    assert_eq!(merged[0]["host"], "www.mozilla.org");
}

#[test]
fn a_capture_merged_with_itself_gives_the_same_records() {
    // Every packet arrives twice, in time order: the copies are retransmissions.
    let a = fixture("api-sample.pcap");
    let (twice, once) = (TempDir::new("cli"), TempDir::new("cli"));
    replay(&[&a, &a], twice.path(), &["-q"]);
    replay(&[&a], once.path(), &["-q"]);
    assert_eq!(records(twice.path()), records(once.path()));
}

#[test]
fn bpf_filter_applies() {
    let out = TempDir::new("cli");
    let o = replay(&[&fixture("api-sample.pcap")], out.path(), &["-f", "tcp port 8080", "-q"]);
    assert!(o.status.success());
    assert_eq!(records(out.path()).len(), 20);
    let none = TempDir::new("cli");
    replay(&[&fixture("api-sample.pcap")], none.path(), &["-f", "tcp port 9", "-q"]);
    assert!(records(none.path()).is_empty());
}

#[test]
fn body_samples_when_asked_and_only_then() {
    let out = TempDir::new("cli");
    replay(&[&fixture("api-sample.pcap")], out.path(), &["--body-sample", "24", "-q"]);
    let recs = records(out.path());
    let export = recs.iter().find(|r| r["path"] == "/api/v1/export").unwrap();
    assert_eq!(export["response_body"], "{\"row\": 0, \"email\": \"use");
    let user1 = recs.iter().find(|r| r["uri"] == "/api/v1/users/1").unwrap();
    // Decoded (gunzipped) bytes, not the wire bytes.
    assert!(user1["response_body"].as_str().unwrap().starts_with("{\"id\": 1"));
    let plain = TempDir::new("cli");
    replay(&[&fixture("api-sample.pcap")], plain.path(), &["-q"]);
    assert!(records(plain.path()).iter().all(|r| r.get("response_body").is_none()));
}

#[test]
fn summary_names_the_counts_and_the_output() {
    let out = TempDir::new("cli");
    let o = replay(&[&fixture("api-sample.pcap")], out.path(), &[]);
    let s = stdout(&o);
    for word in ["packets", "flows", "transactions", "anomalies", "gaps", "time span", "records.jsonl"] {
        assert!(s.contains(word), "summary lacks {word}: {s}");
    }
}

#[test]
fn hash_key_is_created_once_and_reused() {
    let out = TempDir::new("cli");
    let run = || {
        bin().args(["replay"]).arg(fixture("api-sample.pcap")).arg("--out").arg(out.path()).arg("-q").env_remove("APITAP_HASH_KEY").output().unwrap()
    };
    assert!(run().status.success());
    let key = std::fs::read_to_string(out.path().join("hash.key")).unwrap();
    assert_eq!(key.trim().len(), 64);
    let first = records(out.path());
    assert!(run().status.success());
    assert_eq!(std::fs::read_to_string(out.path().join("hash.key")).unwrap(), key);
    assert_eq!(first, records(out.path()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.path().join("hash.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "hash.key must not be readable by others");
    }
}

/// Rewrites a little-endian microsecond pcap so that no frame keeps more than `snap` bytes,
/// as a capture taken with `tcpdump -s SNAP` would be.
fn with_snaplen(pcap: &[u8], snap: u32) -> Vec<u8> {
    let mut out = pcap[..24].to_vec();
    out[16..20].copy_from_slice(&snap.to_le_bytes());
    let mut i = 24;
    while i + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[i + 8..i + 12].try_into().unwrap()) as usize;
        let keep = caplen.min(snap as usize);
        out.extend_from_slice(&pcap[i..i + 8]);
        out.extend_from_slice(&(keep as u32).to_le_bytes());
        out.extend_from_slice(&pcap[i + 12..i + 16]);
        out.extend_from_slice(&pcap[i + 16..i + 16 + keep]);
        i += 16 + caplen;
    }
    out
}

#[test]
fn snaplen_cut_capture_keeps_every_exchange_marked_truncated() {
    let dir = TempDir::new("cli");
    let full = std::fs::read(fixture("api-sample.pcap")).unwrap();
    assert_eq!(&full[..4], &0xa1b2c3d4u32.to_le_bytes(), "fixture is a little-endian pcap");
    let f = dir.path().join("snap120.pcap");
    std::fs::write(&f, with_snaplen(&full, 120)).unwrap();
    let o = replay(&[&f], &dir.path().join("o"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("cut by snaplen"));
    let recs = records(&dir.path().join("o"));
    assert_eq!(recs.len(), 20, "every exchange still makes a record");
    for r in &recs {
        assert_ne!(r["quality"], "complete", "{r}");
        assert_ne!(r["quality"], "gap", "snaplen cuts are truncation, not loss: {r}");
        assert!(r["missed_bytes"].as_u64().unwrap() > 0 || r["anomalies"].as_array().unwrap().iter().any(|a| a == "no_response"));
        assert!(!r["anomalies"].as_array().unwrap().iter().any(|a| a == "missing_host"), "{r}");
    }
    // Request lines fit in 120 bytes: every request is still named.
    assert!(recs.iter().filter(|r| r["method"].is_string()).count() >= 17);
}

/// Live capture's kernel rings live in the process, so they come out of `--max-memory` too,
/// and a bound they leave too little of is refused before any interface is opened (so this
/// needs no privileges and no such interface).
#[test]
fn capture_counts_its_kernel_rings_in_max_memory() {
    let out = TempDir::new("cli");
    let dir = out.path().join("o");
    let o = bin()
        .args(["capture", "-i", "apitap-none0", "-i", "apitap-none1", "-t", "1", "--max-memory", "150M", "--buffer-size", "64M", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_one_line_error(&o, "--max-memory 150 MiB is too small for 1 thread");
    assert!(stderr(&o).contains("kernel capture rings, --buffer-size per interface, 128 MiB"), "{}", stderr(&o));
    assert!(!dir.exists());
    // With smaller rings the same bound is enough, and the error is the missing interface's.
    let o = bin()
        .args(["capture", "-i", "apitap-none0", "-i", "apitap-none1", "-t", "1", "--max-memory", "150M", "--buffer-size", "8M", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("--max-memory"), "{}", stderr(&o));
    assert!(stderr(&o).contains("apitap-none0"), "{}", stderr(&o));
}

#[test]
fn max_memory_too_small_for_the_threads_is_refused_before_any_output() {
    let out = TempDir::new("cli");
    let o = replay(&[&fixture("api-sample.pcap")], &out.path().join("o"), &["--max-memory", "40M", "-t", "2"]);
    assert_one_line_error(&o, "--max-memory 40 MiB is too small for 2 threads");
    assert!(!out.path().join("o").exists());
    // It says what would do.
    assert!(stderr(&o).contains("MiB or more"), "{}", stderr(&o));
}
