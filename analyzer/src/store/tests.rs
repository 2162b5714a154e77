//! The database round trip: what is saved reads back the same, a second run merges.

use super::*;
use crate::inventory::Observation;
use crate::testutil::call;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("apitap-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&d);
    let _ = std::fs::remove_file(d.with_extension("db-wal"));
    d
}

fn fill(inv: &mut Inventory, n: u64) {
    for i in 0..n {
        let mut c = call("GET", "api.example.com", &format!("/v1/orders/{}?limit={}", 100 + i, i));
        c.ts += i as f64;
        c.request_content_type = Some("application/json".into());
        inv.observe(&Observation { call: &c, request_body: Some(br#"{"email":"a@b.com"}"#), response_body: Some(br#"{"id":1}"#) });
    }
}

#[test]
fn round_trip_and_merge() {
    let path = tmp("rt.db");
    let mut inv = Inventory::new();
    fill(&mut inv, 10);
    let saved = inv.endpoints();
    {
        let mut st = Store::open(&path).unwrap();
        st.save(&saved).unwrap();
    }
    let mut st = Store::open(&path).unwrap();
    assert_eq!(st.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let back = st.endpoints().unwrap();
    assert_eq!(back.len(), saved.len());
    let (a, b) = (&saved[0], &back[0]);
    assert_eq!((b.host.as_str(), b.method.as_str(), b.path.clone()), (a.host.as_str(), a.method.as_str(), a.path()));
    assert_eq!(b.stats.calls, 10);
    assert_eq!(b.stats.params, a.stats().params);
    assert_eq!(b.stats.sensitive, a.stats().sensitive);
    assert_eq!(b.stats.statuses, a.stats().statuses);
    assert_eq!(b.stats.latency_ms, a.stats().latency_ms);
    assert_eq!(b.stats.clients, a.stats().clients);
    assert_eq!(b.flags, a.flags.iter().map(|f| f.to_string()).collect::<Vec<_>>());
    assert_eq!(st.skipped_rows, 0);

    // A second run loads, adds, saves: counts add up, the template holds.
    let mut inv2 = Inventory::new();
    assert_eq!(st.load(&mut inv2).unwrap(), 1);
    fill(&mut inv2, 5);
    let merged = inv2.endpoints();
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].stats().calls, 15);
    assert_eq!(merged[0].path(), "/v1/orders/{order_id}");
    let limit = &merged[0].stats().params[&(Location::Query, "limit".to_string())];
    assert_eq!(limit.present, 15);
    let id = &merged[0].stats().params[&(Location::Path, "order_id".to_string())];
    assert_eq!((id.present, id.num_min, id.num_max), (15, Some(100.0), Some(109.0)));
    st.save(&merged).unwrap();
    assert_eq!(Store::open(&path).unwrap().endpoints().unwrap()[0].stats.calls, 15);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn refuses_newer_schema_and_survives_bad_rows() {
    let path = tmp("new.db");
    {
        let st = Store::open(&path).unwrap();
        st.conn.pragma_update(None, "user_version", 99).unwrap();
    }
    match Store::open(&path) {
        Err(StoreError::TooNew { found: 99, .. }) => {}
        other => panic!("{:?}", other.err()),
    }
    let _ = std::fs::remove_file(&path);

    let path = tmp("bad.db");
    let mut inv = Inventory::new();
    fill(&mut inv, 2);
    let mut st = Store::open(&path).unwrap();
    st.save(&inv.endpoints()).unwrap();
    st.conn.execute("UPDATE endpoints SET sketches = x'0102'", []).unwrap();
    st.conn.execute("UPDATE parameters SET location = 'nowhere'", []).unwrap();
    let back = st.endpoints().unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(st.skipped_rows, 1);
    assert!(back[0].stats.params.is_empty());
    let _ = std::fs::remove_file(&path);
}

/// The detector's state reads back as the JSON it serialises to, replaced by the next save,
/// and a state written as text (before it was written in place as a blob) still loads.
#[test]
fn detector_state_round_trip() {
    let path = tmp("state.db");
    let mut st = Store::open(&path).unwrap();
    assert_eq!(st.load_detector_state().unwrap(), None);
    let big = serde_json::json!({ "k": format!("{}é", "x".repeat(3 << 20)), "n": [1.5, 2.0] });
    st.save_detection(&big, 1.0, &[], &[]).unwrap();
    assert_eq!(st.load_detector_state().unwrap(), Some(serde_json::to_string(&big).unwrap()));
    st.save_detection(&serde_json::json!({ "k": 1 }), 2.0, &[], &[]).unwrap();
    drop(st);
    let st = Store::open(&path).unwrap();
    assert_eq!(st.load_detector_state().unwrap().as_deref(), Some("{\"k\":1}"));
    st.conn.execute("UPDATE detector_state SET state = '{\"old\":true}' WHERE id = 1", []).unwrap();
    assert_eq!(st.load_detector_state().unwrap().as_deref(), Some("{\"old\":true}"));
}

/// A state that serialises differently the second time is refused, not written cut or
/// padded with zeros, and the state saved before stays.
#[test]
fn a_state_that_changes_between_passes_is_refused() {
    struct Flaky(std::cell::Cell<usize>);
    impl serde::Serialize for Flaky {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.set(self.0.get() + 1);
            s.serialize_str(&"x".repeat(self.0.get()))
        }
    }
    let path = tmp("flaky.db");
    let mut st = Store::open(&path).unwrap();
    st.save_detection(&serde_json::json!({ "k": 1 }), 1.0, &[], &[]).unwrap();
    let e = st.save_detection(&Flaky(0.into()), 2.0, &[], &[]).unwrap_err();
    assert!(e.to_string().contains("cannot write the detector state"), "{e}");
    assert_eq!(st.load_detector_state().unwrap().as_deref(), Some("{\"k\":1}"));
}
