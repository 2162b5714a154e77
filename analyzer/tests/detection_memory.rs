//! Detection's byte budgets against the heap they really take: `Rows::bytes` (the feature
//! window) and the per-identity state's `bytes` are estimates from sizes, so this holds them
//! to what an allocator that counts sees, on typical traffic and on calls made to be as large
//! as the event's limits let them be.

use analyzer::detect::features::{Row, Rows};
use analyzer::detect::identity::{IdentityGraph, IdentityKind};
use analyzer::detect::sequence::Sessions;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the bytes each thread holds (freed on another thread
/// counts there): each test runs on its own thread, so its own count is exact.
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: a thread being torn down has no counter left, and needs none.
    let _ = HELD.try_with(|h| h.set(h.get() + delta));
}

// SAFETY: forwards to the system allocator with the same layout; counting touches only a
// const-initialised thread-local cell, which allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn held() -> isize {
    HELD.with(Cell::get)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn text(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from(b'a' + self.below(26) as u8)).collect()
    }
}

const AGENTS: [&str; 3] =
    ["okhttp/4.12.0", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "python-requests/2.32.3"];

/// A call as detection sees them on a busy API: a few thousand clients, their tokens, a
/// handful of agents, some dozens of endpoints, a connection uid per few calls.
fn typical(rows: &mut Rows, rng: &mut Rng, i: u64) -> Row {
    let client = rng.below(3000);
    let ep = rng.below(40);
    let endpoint = format!("10.0.0.1:8080 GET /api/v1/things{ep}/{{thing{ep}_id}}");
    let uid = format!("C{:017x}", (i / 4) * 0x9e37_79b9);
    let r = row(rows, i as f64 * 0.002, &uid, &format!("10.{}.{}.{}", client >> 16, (client >> 8) & 255, client & 255));
    Row {
        credential: Some(rows.intern(&format!("bearer:{:016x}", client * 7919))),
        user: (client % 3 == 0).then(|| rows.intern(&format!("user{client}@example.com"))),
        agent: rows.intern(AGENTS[(client % 3) as usize]),
        endpoint_name: rows.intern(&endpoint[14..]),
        endpoint: rows.intern(&endpoint),
        object: Some(rows.digest(&(&endpoint, rng.next()))),
        ..r
    }
}

/// A call whose every text is new and as long as the event lets it be.
fn hostile(rows: &mut Rows, rng: &mut Rng, i: u64) -> Row {
    let uid = rng.text(64);
    let r = row(rows, i as f64 * 0.002, &uid, &format!("2001:db8::{:x}:{:x}", i >> 16, i & 0xffff));
    Row {
        credential: Some(rows.intern(&rng.text(256))),
        user: Some(rows.intern(&rng.text(256))),
        agent: rows.intern(&rng.text(512)),
        endpoint: rows.intern(&rng.text(512)),
        endpoint_name: rows.intern(&rng.text(512)),
        ..r
    }
}

fn row(rows: &mut Rows, ts: f64, uid: &str, ip: &str) -> Row {
    let none = rows.intern("-");
    Row {
        ts,
        uid: uid.into(),
        ip: rows.intern(ip),
        credential: None,
        user: None,
        agent: none.clone(),
        endpoint: none.clone(),
        endpoint_name: none,
        object: None,
        owned: false,
        page: None,
        status: 200,
        login_failed: false,
        login_user: None,
        new_origin: false,
        resp_bytes: 1000.0,
        resp_ratio: 1.0,
        array_ratio: 0.0,
        destructive: false,
        req_ratio: 1.0,
        req_bytes: 0.0,
        latency: 3.0,
        latency_ratio: 1.0,
        sqli: false,
        code: false,
        scanner: false,
        vuln_path: false,
        unknown_endpoint: false,
        surprisal: None,
        incomplete: false,
        new_client: false,
    }
}

type Make = fn(&mut Rows, &mut Rng, u64) -> Row;

/// Fills a window of `budget` bytes with `n` calls made by `make`, stepping every 5,000
/// calls as detection does, and returns the heap it holds with what it says it holds.
fn fill(make: Make, n: u64, budget: usize) -> (Rows, isize) {
    let before = held();
    let mut rows = Rows::with_budget(budget);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for i in 0..n {
        let r = make(&mut rows, &mut rng, i);
        rows.push(r);
        assert!(rows.bytes() <= budget);
        if i % 5000 == 4999 {
            drop(rows.step(i as f64 * 0.002, &[60.0, 600.0], 10.0));
        }
    }
    drop(rows.step(n as f64 * 0.002, &[60.0, 600.0], 10.0));
    let heap = held() - before;
    (rows, heap)
}

fn ratio(heap: isize, rows: &Rows) -> f64 {
    heap as f64 / rows.bytes() as f64
}

#[test]
fn the_budget_measures_the_heap_of_typical_calls() {
    let (rows, heap) = fill(typical, 200_000, usize::MAX);
    let r = ratio(heap, &rows);
    assert_eq!(rows.dropped, 0);
    // About 390 bytes a call with the window's spare slots: half of what rows with strings of
    // their own took.
    assert!(rows.bytes() / rows.len() < 450, "{} bytes a row", rows.bytes() / rows.len());
    assert!((0.75..=1.25).contains(&r), "heap {heap}, estimated {}: {r:.2}", rows.bytes());
}

#[test]
fn the_budget_holds_the_heap_of_calls_made_large() {
    let budget = 16 << 20;
    let (rows, heap) = fill(hostile, 20_000, budget);
    let r = ratio(heap, &rows);
    assert!(rows.dropped > 0 && rows.len() > 1000, "{} kept, {} dropped", rows.len(), rows.dropped);
    assert!((0.75..=1.25).contains(&r), "heap {heap}, estimated {}: {r:.2}", rows.bytes());
    assert!(heap as f64 <= budget as f64 * 1.25, "heap {heap} against a budget of {budget}");
}

/// The identity graph and sessions, filled with identities whose names are as long as events
/// keep them, hold what they estimate, and stay within their budgets.
#[test]
fn the_identity_state_measures_its_heap_and_keeps_its_budget() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (budget, long) in [(usize::MAX, false), (usize::MAX, true), (4 << 20, true)] {
        let before = held();
        let mut graph = IdentityGraph::with_budget(budget);
        let mut sessions = Sessions::with_budget(budget);
        for i in 0..30_000u32 {
            let (user, agent) =
                if long { (rng.text(256), rng.text(120)) } else { (format!("user{i}@example.com"), "okhttp/4.12.0".into()) };
            let ip = std::net::IpAddr::from([10, 0, (i >> 8) as u8, i as u8]);
            graph.observe(IdentityKind::User, &user, f64::from(i), ip, &agent);
            graph.observe(IdentityKind::User, &user, f64::from(i) + 1.0, [10, 1, 0, 1].into(), "other/1.0");
            sessions.step(&user, "10.0.0.1:80 GET /api/items/{item_id}", f64::from(i));
        }
        let heap = held() - before;
        let estimated = graph.bytes() + sessions.bytes();
        let r = heap as f64 / estimated as f64;
        assert!((0.75..=1.25).contains(&r), "budget {budget}, long {long}: heap {heap}, estimated {estimated}: {r:.2}");
        if budget < usize::MAX {
            assert!(graph.bytes() <= budget && sessions.bytes() <= budget);
            assert!(graph.evicted() > 0 && sessions.dropped() > 0);
        }
    }
}
