//! The detector end to end on synthetic traffic: benign users train it, then attackers act
//! beside them. Real-capture tests live in tests/detection.rs.

use super::alerts::Attack;
use super::{DetectConfig, Detector, Training};
use crate::testutil::call;
use sensor::ApiCall;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn api(ts: f64, ip: &str, token: &str, method: &str, path: &str, status: u16) -> ApiCall {
    let mut c = call(method, "api.example", path);
    c.ts = ts;
    c.response_ts = Some(ts + 0.01);
    c.orig_h = ip.parse().unwrap();
    c.auth_hash = Some(token.into());
    c.status_code = Some(status);
    c.user_agent = Some(format!("app/{ip}"));
    c.uid = format!("C{}", (ts * 1000.0) as u64);
    c
}

/// 30 users browsing for `seconds`, about one call every 6 s each.
fn benign(start: f64, seconds: f64, rng: &mut Rng) -> Vec<ApiCall> {
    let mut out = Vec::new();
    for u in 1..=30u32 {
        let ip = format!("10.1.0.{u}");
        let tok = format!("tok{u}");
        let mut t = start + rng.next() * 5.0;
        while t < start + seconds {
            let r = rng.next();
            let (m, p) = if r < 0.4 {
                ("GET", format!("/api/products/{}", 1 + (rng.next() * 50.0) as u32))
            } else if r < 0.7 {
                ("GET", format!("/api/users/{u}"))
            } else if r < 0.9 {
                ("GET", "/api/products?page=1".to_string())
            } else {
                ("POST", "/api/orders".to_string())
            };
            out.push(api(t, &ip, &tok, m, &p, 200));
            t += 2.0 + rng.next() * 8.0;
        }
    }
    out
}

fn run(mut calls: Vec<ApiCall>) -> Detector {
    calls.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    let mut d = Detector::new(DetectConfig { training: Training::Seconds(300.0), ..DetectConfig::default() });
    for c in &calls {
        d.observe(c);
    }
    d.flush();
    d
}

#[test]
fn attacks_after_training_are_named_and_benign_users_are_not() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let t0 = 1_700_000_000.0;
    let mut calls = benign(t0, 600.0, &mut rng);
    // Brute force from one address, after training.
    for i in 0..120 {
        let mut c = api(t0 + 420.0 + f64::from(i) * 0.5, "10.9.0.1", "x", "POST", "/api/login", 401);
        c.auth_hash = None;
        c.request_content_type = Some("application/json".into());
        c.request_body = Some(r#"{"username":"alice","password":"guess"}"#.into());
        calls.push(c);
    }
    // SQL injection from another.
    for i in 0..40 {
        calls.push(api(t0 + 450.0 + f64::from(i), "10.9.0.2", "tok-sqli", "GET", &format!("/api/products?page=1'%20OR%20{i}={i}--"), 500));
    }
    // A valid account reading every user's profile.
    for i in 0..150 {
        calls.push(api(t0 + 480.0 + f64::from(i) * 0.3, "10.9.0.3", "tok-bola", "GET", &format!("/api/users/{}", i + 1), 200));
    }
    let d = run(calls);
    assert!(d.trained());
    let alerts = &d.incidents().alerts;
    let find = |ip: &str| alerts.iter().find(|a| a.src_ips.iter().any(|s| s == ip)).map(|a| a.attack);
    assert_eq!(find("10.9.0.1"), Some(Attack::CredentialStuffing), "{alerts:#?}");
    assert_eq!(find("10.9.0.2"), Some(Attack::SqlInjection), "{alerts:#?}");
    assert_eq!(find("10.9.0.3"), Some(Attack::Bola), "{alerts:#?}");
    let benign: Vec<_> = alerts.iter().filter(|a| a.src_ips.iter().any(|s| s.starts_with("10.1."))).collect();
    assert!(benign.is_empty(), "benign users alerted: {benign:#?}");
    for a in alerts {
        assert!(a.summary.contains("baseline"), "{}", a.summary);
        assert!(!a.evidence.features.is_empty());
        assert!(a.detected_at >= t0 + 300.0, "no alert during training");
    }
}

#[test]
fn nothing_is_alerted_during_training_or_on_benign_traffic() {
    let mut rng = Rng(42);
    let d = run(benign(1_700_000_000.0, 900.0, &mut rng));
    assert!(d.incidents().alerts.is_empty(), "{:#?}", d.incidents().alerts);
}

#[test]
fn state_round_trips_and_resumes() {
    let mut rng = Rng(7);
    let d = run(benign(1_700_000_000.0, 400.0, &mut rng));
    let json = d.state_json().unwrap();
    let mut e = Detector::new(DetectConfig::default());
    e.restore(&json).unwrap();
    assert!(e.trained(), "a restored detector does not train again");
    assert!(e.restore("{not json").is_err());
}

#[test]
fn leaps_in_time_are_crossed_at_once_and_counted() {
    let t0 = 1_700_000_003.5;
    // A minute of calls, then one ten million seconds later (a million 10-second steps).
    let mut calls: Vec<ApiCall> = (0..60).map(|i| api(t0 + f64::from(i), "10.1.0.1", "t", "GET", "/api/a", 200)).collect();
    let last = t0 + 60.0 + 1e7;
    calls.push(api(last, "10.1.0.1", "t", "GET", "/api/a", 200));
    let d = run(calls);
    // Every 10-second point from the first call's to the last call, and the flush's step.
    let mut want = 1;
    let mut g = (t0 / 10.0).floor() * 10.0 + 10.0;
    while g <= last {
        want += 1;
        g += 10.0;
    }
    assert_eq!(d.counts.steps, want);
}

#[test]
fn a_forged_timestamp_far_ahead_does_not_stall_detection() {
    // 1e12 s ahead (the furthest judged): a hundred billion steps, one at a time.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let calls = vec![
            api(1_700_000_000.0, "10.1.0.1", "t", "GET", "/api/a", 200),
            api(1e12, "10.1.0.1", "t", "GET", "/api/a", 200),
        ];
        let _ = tx.send(run(calls).counts.steps);
    });
    let steps = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("detection stalled on a leap in time");
    assert!(steps > 99_000_000_000, "{steps}");
}

#[test]
fn times_no_capture_writes_are_not_judged() {
    // Past 2^53 / 10 s a 10-second step no longer moves the clock: such calls are left out
    // rather than loop, whichever comes first.
    let first = || api(1_700_000_003.0, "10.1.0.1", "t", "GET", "/api/a", 200);
    let alone = run(vec![first()]).counts;
    for far in [1e17, 1e300, -1e300] {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(run(vec![first(), api(far, "10.1.0.1", "t", "GET", "/api/a", 200)]).counts);
        });
        let counts = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("detection stalled");
        assert_eq!(counts, alone, "{far}");
    }
}

/// A save keeps the identities' own baselines used last, and a restore makes them the most
/// recently used again: with more than a save keeps, the ones gone are the oldest.
#[test]
fn saved_baselines_are_the_most_recent() {
    let mut d = Detector::new(DetectConfig::default());
    let n = super::SAVED_IDENTITIES + 100;
    for i in 0..n {
        d.self_base.update(format!("ip/1m/10.0.{i}"), super::SelfBaseline::default, |b| b.add(&[i as f64]));
    }
    let mut e = Detector::new(DetectConfig::default());
    e.restore(&d.state_json().unwrap()).unwrap();
    assert_eq!(e.self_base.len(), super::SAVED_IDENTITIES);
    assert!(e.self_base.peek("ip/1m/10.0.99").is_none() && e.self_base.peek("ip/1m/10.0.100").is_some());
    let newest = format!("ip/1m/10.0.{}", n - 1);
    assert_eq!(e.self_base.iter().next_back().map(|(k, _)| k.as_str()), Some(newest.as_str()));
}
