//! Live capture end to end: a veth pair into a network namespace, `apitap capture` on the
//! namespace's end, the fixture pcap replayed onto the other end with tcpreplay. The records
//! must equal what `apitap replay` makes of the same file, but for the fields that come from
//! capture time (timestamps, latencies, and the uid, which is derived from the first
//! packet's time).
//!
//! Needs root, iproute2 and tcpreplay. Without root it is skipped, unless
//! APITAP_LIVE_TESTS=1 (which .ci/run sets), where skipping would hide a broken CI machine.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0]).args(&args[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        sh(&["ip", "netns", "del", &self.0]);
        sh(&["ip", "link", "del", &format!("{}a", &self.0[..self.0.len().min(10)])]);
    }
}

fn without_capture_time(recs: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    recs.into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            for k in ["ts", "response_ts", "latency_ms", "duration_ms", "uid"] {
                o.remove(k);
            }
            r
        })
        .collect()
}

/// The nice value of `pid`'s thread whose name starts with `name` (names are cut to 15
/// bytes), from /proc.
fn thread_nice(pid: u32, name: &str) -> Option<i64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(name) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // Fields after "(comm)" start at the third, the state; nice is the nineteenth.
        let rest = &stat[stat.rfind(')')? + 1..];
        return rest.split_whitespace().nth(16)?.parse().ok();
    }
    None
}

#[test]
fn capture_on_a_veth_equals_replay_of_the_same_file() {
    capture_equals_replay(&[], "b");
}

/// libpcap's immediate mode takes another kernel ring (TPACKET_V2 on Linux) and read path.
#[test]
fn immediate_mode_capture_equals_replay_too() {
    capture_equals_replay(&["--immediate"], "i");
}

/// Runs `apitap capture` with `extra` arguments on a fresh veth pair (`tag` keeps the names
/// of concurrent runs apart) and compares its records with replay's.
fn capture_equals_replay(extra: &[&str], tag: &str) {
    let required = std::env::var_os("APITAP_LIVE_TESTS").is_some();
    if !is_root() || !sh(&["which", "tcpreplay"]) {
        assert!(!required, "APITAP_LIVE_TESTS is set but this is not root with tcpreplay installed");
        eprintln!("skipped: needs root and tcpreplay");
        return;
    }
    let name = format!("apl{}{tag}", std::process::id() % 100_000);
    let ns = Netns(name.clone());
    let (a, b) = (format!("{}a", &name[..name.len().min(10)]), format!("{}b", &name[..name.len().min(10)]));
    sh(&["ip", "netns", "del", &name]);
    assert!(sh(&["ip", "netns", "add", &name]), "ip netns add");
    assert!(sh(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]));
    assert!(sh(&["ip", "link", "set", &b, "netns", &name]));
    assert!(sh(&["ip", "link", "set", &a, "up"]));
    assert!(sh(&["ip", "-n", &name, "link", "set", &b, "up"]));

    let out = TempDir::new("live");
    // The output directory must be reachable by the user capture drops to.
    std::fs::set_permissions(out.path().parent().unwrap(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).ok();
    let live_dir = out.path().join("live");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &name])
        .arg(env!("CARGO_BIN_EXE_apitap"))
        .args(["capture", "-i", &b, "--threads", "2", "--user", "nobody", "--stats-interval", "1s", "--out"])
        .arg(&live_dir)
        .args(extra)
        .arg("--hash-key-file")
        .arg(fixture("golden/hash.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start apitap capture");
    // Wait until the capture is up (it says so on stderr after opening the interface).
    let t0 = Instant::now();
    while !live_dir.join("records.jsonl").exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    // Live, the analysis thread yields the cores to the packet path.
    assert_eq!(thread_nice(child.id(), "apitap-inventor"), Some(10));
    let replayed = Command::new("tcpreplay")
        .args(["-i", &a, "--pps", "2000"])
        .arg(fixture("api-sample.pcap"))
        .output()
        .expect("run tcpreplay");
    assert!(replayed.status.success(), "tcpreplay: {}", String::from_utf8_lossy(&replayed.stderr));
    std::thread::sleep(Duration::from_millis(500));
    // SIGTERM must flush every pending exchange and close the files cleanly.
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "capture did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(status.success(), "capture failed: {}\n{stdout}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("received by the kernel"), "{stdout}");

    let replay_dir = out.path().join("replay");
    let r = replay(&[&fixture("api-sample.pcap")], &replay_dir, &["-q"]);
    assert!(r.status.success());
    let live = without_capture_time(records(&live_dir));
    let want = without_capture_time(records(&replay_dir));
    assert_eq!(live.len(), want.len(), "{stdout}");
    assert_eq!(live, want);
    // The capture ran as nobody after opening the interface.
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(live_dir.join("records.jsonl")).unwrap());
    assert_ne!(owner, 0, "records.jsonl should belong to the user capture dropped to");
    drop(ns);
}
