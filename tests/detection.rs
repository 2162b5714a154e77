//! Detection as users meet it, on the labeled benchmark (fixtures/attack-bench/): real attack
//! tools (hydra, sqlmap, ffuf, nmap NSE, wfuzz, ab, slowhttptest) and scripted attacks against
//! a REST API among 100 human-paced users, captured with tcpdump. The committed fixture is
//! the records `apitap replay --body-sample 300` made of that capture (the capture itself is
//! 86 MB, mostly the oversized-payload attack's random bytes); `run.sh` rebuilds both.
//!
//! The bar is the issue's: every class detected, recall and precision at least 90%, at most
//! 2% of benign clients alerted, median detection delay at most 60 s of packet time.

mod common;
use common::*;
use serde_json::Value;
use std::io::Read;

fn bench_records(dir: &std::path::Path) -> std::path::PathBuf {
    let gz = root().join("fixtures/attack-bench/seed0/records.jsonl.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).expect("fixture present")).read_to_string(&mut text).expect("gzip");
    let path = dir.join("bench.records.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

fn eval(out: &std::path::Path) -> Value {
    let labels = root().join("fixtures/attack-bench/seed0/labels.json");
    let o = bin().arg("eval").arg("--labels").arg(&labels).arg("--out").arg(out).arg("--json").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("eval --json is JSON")
}

#[test]
fn the_labeled_benchmark_meets_the_bar() {
    let tmp = TempDir::new("detect");
    let records = bench_records(tmp.path());
    let out = tmp.path().join("out");
    // The benchmark's users trained for 6 minutes before the first attack.
    let o = bin().arg("analyze").arg(&records).arg("--out").arg(&out).args(["--train", "6m"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("apitap detection"), "{}", stdout(&o));
    let r = eval(&out);
    let table = serde_json::to_string_pretty(&r).unwrap();
    for c in r["classes"].as_array().unwrap() {
        if c["labels"].as_u64().unwrap() > 0 {
            assert!(c["pairs_detected"].as_u64().unwrap() > 0, "{} not detected:\n{table}", c["attack"]);
        }
    }
    assert!(r["recall"].as_f64().unwrap() >= 0.9, "{table}");
    assert!(r["precision"].as_f64().unwrap() >= 0.9, "{table}");
    assert!(r["benign_alerted_share"].as_f64().unwrap() <= 0.02, "{table}");
    assert!(r["median_delay"].as_f64().unwrap() <= 60.0, "{table}");

    // Every alert explains itself.
    let alerts = std::fs::read_to_string(out.join("alerts.jsonl")).unwrap();
    for line in alerts.lines() {
        let a: Value = serde_json::from_str(line).unwrap();
        for k in ["id", "attack", "severity", "score", "first_seen", "last_seen", "src_ips", "identity", "endpoints", "summary", "evidence"]
        {
            assert!(!a[k].is_null(), "alert without {k}: {line}");
        }
        assert!(a["summary"].as_str().unwrap().contains("baseline"), "{line}");
        assert!(!a["evidence"]["features"].as_array().unwrap().is_empty(), "{line}");
        assert!(!a["evidence"]["sample_uids"].as_array().unwrap().is_empty(), "{line}");
    }

    // `alerts` lists them.
    let o = bin().arg("alerts").arg("--out").arg(&out).args(["--format", "json"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), alerts.lines().count());

    // A second run into the same directory resumes the learned state instead of training again.
    let o = bin().arg("analyze").arg(&records).arg("--out").arg(&out).args(["--train", "6m"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("resumed"), "{}", stdout(&o));
}

#[test]
fn replay_writes_records_inventory_and_alerts_in_one_run() {
    let out = TempDir::new("detect-replay");
    let o = replay(&[&fixture("api-sample.pcap")], out.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["records.jsonl", "inventory.db", "alerts.jsonl"] {
        assert!(out.path().join(f).exists(), "{f} missing");
    }
    // A few seconds of traffic is all training: no alerts, and the summary says why.
    assert!(stdout(&o).contains("training"), "{}", stdout(&o));
    let o = replay(&[&fixture("api-sample.pcap")], &out.path().join("nodetect"), &["--no-detect"]);
    assert!(o.status.success());
    assert!(!out.path().join("nodetect/alerts.jsonl").exists());
}

#[test]
fn bad_detection_options_are_clear_errors() {
    let out = TempDir::new("detect-bad");
    for (args, msg) in [
        (&["--trusted-proxy", "not-an-address"][..], "trusted proxy"),
        (&["--train", "5x"][..], "duration"),
        (&["--windows", "5s", "--step", "10s"][..], "--step"),
    ] {
        let o = replay(&[&fixture("api-sample.pcap")], out.path(), args);
        assert!(!o.status.success(), "{args:?} accepted");
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
    }
}
