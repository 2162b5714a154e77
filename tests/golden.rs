//! Golden end-to-end outputs: `apitap replay` on each capture in fixtures/ must write
//! exactly the records in fixtures/golden/NAME.records.jsonl. Records are deterministic
//! (packet time, derived uids, a fixed hash key), so nothing is masked but the run time.
//!
//! Regenerate after an intended change with `APITAP_BLESS=1 cargo test --test golden`, and
//! read the diff before committing it.

mod common;
use common::*;

const CAPTURES: &[&str] = &[
    "api-sample.pcap",
    "corpus/pipelined-requests.pcap",
    "corpus/100-continue.pcap",
    "corpus/vxlan-encapsulated-http.pcap",
    "corpus/gtp1_gn_normal_incl_fragmentation.pcap",
    "corpus/nflog-http.pcap",
    "corpus/mixed-vlan-mpls.pcap",
    "corpus/suricata-http-gap-double.pcap",
    "corpus/suricata-tcp-fastopen.pcap",
    "corpus/suricata-pppoe-session-http.pcap",
    "corpus/simple_http_tzsp.pcapng",
];

#[test]
fn replay_matches_goldens() {
    let bless = std::env::var_os("APITAP_BLESS").is_some();
    let mut failures = Vec::new();
    for name in CAPTURES {
        let out = TempDir::new("golden");
        let o = replay(&[&fixture(name)], out.path(), &["--body-sample", "64", "-q"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let got = std::fs::read_to_string(out.path().join("records.jsonl")).unwrap();
        let stem = std::path::Path::new(name).file_name().unwrap().to_string_lossy().into_owned();
        let golden = fixture("golden").join(format!("{stem}.records.jsonl"));
        if bless {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| panic!("{} missing: bless it", golden.display()));
        if want != got {
            failures.push(format!("{name}: records differ from {}\n--- want\n{want}\n--- got\n{got}", golden.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn goldens_say_what_the_captures_hold() {
    // Spot checks that keep the goldens honest: a blessed regression would fail these.
    let out = TempDir::new("spot");
    let o = replay(&[&fixture("api-sample.pcap")], out.path(), &["-q"]);
    assert!(o.status.success());
    let recs = records(out.path());
    assert_eq!(recs.len(), 20);
    assert!(recs.iter().all(|r| r["quality"] == "complete" && r["anomalies"].as_array().unwrap().is_empty()));
    let logins: Vec<_> = recs.iter().filter(|r| r["path"] == "/api/v1/login").map(|r| r["status_code"].as_u64().unwrap()).collect();
    assert_eq!(logins, vec![401, 401, 401, 400, 200]);
    let export = recs.iter().find(|r| r["path"] == "/api/v1/export").unwrap();
    assert_eq!(export["response_body_len"], 205);
    let user1 = recs.iter().find(|r| r["uri"] == "/api/v1/users/1").unwrap();
    assert_eq!(user1["response_content_encoding"], "gzip");
    assert_eq!(user1["auth_scheme"], "bearer");
    assert_eq!(user1["auth_hash"].as_str().unwrap().len(), 32);
    // Credentials never appear in records.
    let text = std::fs::read_to_string(out.path().join("records.jsonl")).unwrap();
    for secret in ["tok-alice-7f3a9c", "tok-bob-22e1d0", "k-3c0ffee", "s-alice", "correct horse"] {
        assert!(!text.contains(secret), "{secret} leaked into records");
    }

    let out = TempDir::new("spot");
    replay(&[&fixture("corpus/suricata-http-gap-double.pcap")], out.path(), &["-q"]);
    let recs = records(out.path());
    let uris: Vec<_> = recs.iter().map(|r| (r["uri"].clone(), r["status_code"].clone(), r["quality"].clone())).collect();
    assert_eq!(uris.len(), 3, "{uris:?}");
    assert!(recs.iter().all(|r| r["status_code"] == 200));
    // Both removed packets were inside /2's 70-byte body (suricata-verify expects the same:
    // two clean files and one with gaps).
    let gapped: Vec<_> = recs.iter().filter(|r| r["quality"] == "gap").collect();
    assert_eq!(gapped.len(), 1);
    assert_eq!((gapped[0]["uri"].clone(), gapped[0]["missed_bytes"].clone()), ("/2".into(), 28.into()));
    assert_eq!(gapped[0]["response_body_len"], 70);
}
