//! Features over sliding windows of packet time, computed incrementally per identity.
//!
//! Every call becomes a [`Row`] (its event plus what the state knew when it arrived: size
//! ratios against the endpoint's norm, whether its object belongs to one owner, the
//! surprisal of its transition). Rows are indexed by the identities they belong to
//! (address, credential, user) and by endpoint. At each step only the identities and
//! endpoints that called since the step before are visited, each one's rows scanned once
//! for every window length, so a step costs the rows of the active identities rather than
//! a pass per identity kind and window over every row kept. The values equal the
//! definition as polars group-bys over the window's rows (`reference.rs`, which the tests
//! hold this to). Distinct addresses, agents and endpoints are exact (interned texts,
//! [`Sym`]); distinct objects, pages and login names compare 64-bit digests keyed at random
//! per process and taken when the row arrives: two values in one identity's window
//! colliding, odds about n²/2⁶⁴ for n values, would count as one.
//!
//! Bounded: rows are kept within a budget of bytes ([`WINDOW_BYTES`] by default), oldest
//! dropped first and counted, which shortens the window when traffic is heavy; the indexes
//! hold one entry per row kept and let go of a key with its last row, and a text goes with
//! the last row (or carried key) holding it. A step only reports identities that made a call
//! within it.

use super::baseline::Scale;
use super::identity::IdentityKind;
use std::collections::{HashMap, HashSet, VecDeque};

#[cfg(test)]
mod reference;
mod sym;

pub use sym::{Interner, Sym};

/// The window's default budget: rows, their index entries and their texts, estimated from
/// their sizes ([`Rows::bytes`]). About 400,000 calls of typical traffic.
pub const WINDOW_BYTES: usize = 128 << 20;
/// A row's slot in the window; slots are counted by capacity, not by rows held.
const ROW_SLOT: usize = std::mem::size_of::<Row>();
/// What a row costs besides its slot and its uid's text: its entries in the four indexes
/// (sequence numbers in deques that grow by doubling) and its uid's allocation.
const ROW_OVERHEAD: usize = 4 * 12 + 16;
/// What a key of an index costs: its slot in the map (a sym and a deque, at the map's
/// load) and its deque's first allocation.
const INDEX_KEY: usize = 80;
/// Slots added at least when the window grows and the budget has room.
const MIN_GROWTH: usize = 1024;

/// One identity feature: its column name, how its scale is floored, and what it means.
pub struct FeatureDef {
    pub name: &'static str,
    pub scale: Scale,
    pub what: &'static str,
}

macro_rules! features {
    ($($id:ident = $name:literal, $scale:ident, $what:literal;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum F { $($id),* }
        pub const FEATURES: &[FeatureDef] = &[$(FeatureDef { name: $name, scale: Scale::$scale, what: $what }),*];
    };
}

features! {
    Calls = "calls", Count, "calls";
    Endpoints = "endpoints", Count, "distinct endpoints";
    OwnedObjects = "owned_objects", Count, "distinct objects read on endpoints whose objects each belong to one user";
    SharedObjects = "shared_objects", Count, "distinct objects read on endpoints whose objects many users share";
    Pages = "pages", Count, "distinct query strings (pages, filters)";
    AuthErrors = "auth_errors", Count, "401/403 answers";
    NotFound = "not_found", Count, "404 answers";
    ServerErrors = "server_errors", Count, "5xx answers";
    LoginFailures = "login_failures", Count, "failed logins";
    LoginUsers = "login_users", Count, "distinct user names tried at login";
    Ips = "ips", Count, "distinct client addresses";
    Agents = "agents", Count, "distinct user agents";
    NewOrigin = "new_origin", Count, "calls from an address and user agent never seen for this credential or user";
    RespBytes = "resp_bytes", Magnitude, "response bytes";
    RespRatio = "resp_ratio", Magnitude, "largest response against its endpoint's median";
    ArrayRatio = "array_ratio", Magnitude, "largest JSON array against its endpoint's median";
    Destructive = "destructive", Count, "DELETE, PUT and PATCH calls";
    ReqRatio = "req_ratio", Magnitude, "largest request body against its endpoint's median";
    ReqBytesMax = "req_bytes_max", Magnitude, "largest request body, bytes";
    LatencySum = "latency_sum", Magnitude, "server time consumed, ms";
    LatencyRatio = "latency_ratio", Magnitude, "slowest call against its endpoint's median latency";
    LatencyMean = "latency_mean", Magnitude, "mean server latency per call, ms";
    SqliHits = "sqli_hits", Count, "requests matching SQL injection signatures";
    CodeHits = "code_hits", Count, "requests matching code injection signatures (XSS, command, traversal, template, JNDI)";
    ScannerHits = "scanner_hits", Count, "requests with a vulnerability scanner's user agent";
    VulnPaths = "vuln_paths", Count, "requests for paths of known-vulnerable software or leaked files";
    UnknownEndpoints = "unknown_endpoints", Count, "calls to endpoints never seen before";
    Surprisal = "surprisal", Nats, "mean surprisal of the endpoint transitions (nats)";
    Incomplete = "incomplete", Count, "requests left incomplete or unanswered";
}

pub const NF: usize = FEATURES.len();

/// Endpoint features, judged against the endpoint's own history.
pub const ENDPOINT_FEATURES: &[FeatureDef] = &[
    FeatureDef { name: "calls", scale: Scale::Count, what: "calls" },
    FeatureDef { name: "clients", scale: Scale::Count, what: "distinct client addresses" },
    FeatureDef { name: "new_clients", scale: Scale::Count, what: "client addresses never seen on this endpoint" },
];

/// A call with the state's annotations. The texts that repeat from call to call are
/// interned by the rows' [`Interner`]; the values only ever counted distinct (objects, pages,
/// login names) are kept as keyed digests, so a row costs about 230 bytes plus its uid.
#[derive(Clone, Debug)]
pub struct Row {
    pub ts: f64,
    pub uid: Box<str>,
    pub ip: Sym,
    pub credential: Option<Sym>,
    pub user: Option<Sym>,
    pub agent: Sym,
    /// Server, method and template: the grouping key.
    pub endpoint: Sym,
    /// `METHOD /template`, for people.
    pub endpoint_name: Sym,
    /// The object read, with its endpoint.
    pub object: Option<Digest>,
    pub owned: bool,
    /// The query string, with its endpoint.
    pub page: Option<Digest>,
    pub status: u16,
    pub login_failed: bool,
    pub login_user: Option<Digest>,
    pub new_origin: bool,
    pub resp_bytes: f64,
    pub resp_ratio: f64,
    pub array_ratio: f64,
    pub destructive: bool,
    pub req_ratio: f64,
    pub req_bytes: f64,
    pub latency: f64,
    pub latency_ratio: f64,
    pub sqli: bool,
    pub code: bool,
    pub scanner: bool,
    pub vuln_path: bool,
    pub unknown_endpoint: bool,
    pub surprisal: Option<f64>,
    pub incomplete: bool,
    pub new_client: bool,
}

/// A keyed 64-bit digest of a value ([`Interner::digest`]).
pub type Digest = std::num::NonZeroU64;

/// One identity's features in one window.
#[derive(Clone, Debug)]
pub struct IdentityWindow {
    pub key: Sym,
    pub values: [f64; NF],
}

/// One endpoint's features in one window.
#[derive(Clone, Debug)]
pub struct EndpointWindow {
    pub endpoint: String,
    pub values: [f64; 3],
}

/// What a step reports: for each window length (in the order given), the identities of each
/// kind (address, credential, user) and the endpoints that called within the step, sorted by key.
#[derive(Debug, Default)]
pub struct StepWindows {
    pub identities: Vec<[Vec<IdentityWindow>; 3]>,
    pub endpoints: Vec<Vec<EndpointWindow>>,
}

/// The identity kinds in the order of [`StepWindows::identities`].
pub const IDENTITY_KINDS: [IdentityKind; 3] = [IdentityKind::Ip, IdentityKind::Credential, IdentityKind::User];
/// The groups rows are indexed by, in the order of `Rows::index`: the identity kinds, then
/// endpoints.
const GROUPS: [IdentityKind; 4] = [IDENTITY_KINDS[0], IDENTITY_KINDS[1], IDENTITY_KINDS[2], IdentityKind::Endpoint];

fn group_key(r: &Row, kind: IdentityKind) -> Option<&Sym> {
    match kind {
        IdentityKind::Ip => Some(&r.ip),
        IdentityKind::Credential => r.credential.as_ref(),
        IdentityKind::User => r.user.as_ref(),
        IdentityKind::Endpoint => Some(&r.endpoint),
    }
}

/// The rows of the longest window, and for each group the sequence numbers of its rows,
/// oldest first.
pub struct Rows {
    rows: VecDeque<Row>,
    /// Sequence number of `rows[0]`.
    first: u64,
    /// Sequence number of the first row pushed since the last step.
    since_step: u64,
    /// Per group, the keys that held rows timed within a step of the last step's end, with
    /// their latest row's time: they may be active at the next step without having called
    /// since (rows timed after a step's end, or a step closer than `step` to the last, as
    /// at the end of a replay).
    carried: [Vec<(Sym, f64)>; GROUPS.len()],
    index: [HashMap<Sym, VecDeque<u64>, foldhash::fast::FixedState>; GROUPS.len()],
    texts: Interner,
    /// What the rows cost besides their slots and texts, index keys included.
    row_bytes: usize,
    budget: usize,
    pub dropped: u64,
    /// The most [`Rows::bytes`] has been after a push.
    pub peak: usize,
}

impl Default for Rows {
    fn default() -> Self {
        Rows::with_budget(WINDOW_BYTES)
    }
}

fn row_cost(r: &Row) -> usize {
    ROW_OVERHEAD + r.uid.len()
}

impl Rows {
    /// Rows kept within `budget` bytes ([`Rows::bytes`]); the newest row is always kept.
    pub fn with_budget(budget: usize) -> Rows {
        Rows {
            rows: VecDeque::new(),
            first: 0,
            since_step: 0,
            carried: Default::default(),
            index: Default::default(),
            texts: Interner::default(),
            row_bytes: 0,
            budget,
            dropped: 0,
            peak: 0,
        }
    }

    /// What the rows, their index entries and their texts cost, estimated from their sizes
    /// (allocator rounding and map slack included as averages): the budget's measure.
    pub fn bytes(&self) -> usize {
        self.rows.capacity() * ROW_SLOT + self.row_bytes + self.texts.bytes()
    }

    /// The sym of `s`, for a row about to be pushed.
    pub fn intern(&mut self, s: &str) -> Sym {
        self.texts.intern(s)
    }

    /// The digest of `parts`, for a row about to be pushed.
    pub fn digest<T: std::hash::Hash + ?Sized>(&self, parts: &T) -> Digest {
        self.texts.digest(parts)
    }

    /// Keeps `r`, its texts already interned, dropping the oldest rows while the budget
    /// would be passed. The window's slots grow by doubling while the budget has room for
    /// them, then by what it has room for, then not at all: a deque doubled past the
    /// budget would hold up to twice it.
    pub fn push(&mut self, r: Row) {
        let cost = row_cost(&r);
        // As if all its keys were new to the indexes: what it can add at most.
        let most = cost + GROUPS.len() * INDEX_KEY;
        while !self.rows.is_empty() {
            let needed = self.bytes() + most;
            if self.rows.len() < self.rows.capacity() {
                if needed <= self.budget {
                    break;
                }
            } else {
                let room = self.budget.saturating_sub(needed);
                // Slots the budget could fill with rows like this one.
                let more = self.rows.capacity().max(MIN_GROWTH).min(room / (ROW_SLOT + cost));
                if more > 0 {
                    self.rows.reserve_exact(more);
                    break;
                }
            }
            self.pop();
            self.dropped += 1;
        }
        self.row_bytes += cost;
        let seq = self.first + self.rows.len() as u64;
        for (index, kind) in self.index.iter_mut().zip(GROUPS) {
            if let Some(k) = group_key(&r, kind) {
                match index.get_mut(k) {
                    Some(seqs) => seqs.push_back(seq),
                    None => {
                        index.insert(k.clone(), VecDeque::from([seq]));
                        self.row_bytes += INDEX_KEY;
                    }
                }
            }
        }
        self.rows.push_back(r);
        self.peak = self.peak.max(self.bytes());
    }

    fn pop(&mut self) {
        let Some(r) = self.rows.pop_front() else { return };
        self.first += 1;
        self.row_bytes -= row_cost(&r);
        for (index, kind) in self.index.iter_mut().zip(GROUPS) {
            let Some(k) = group_key(&r, kind) else { continue };
            // Rows leave in the order they came, so the oldest of its group is this one.
            if let Some(seqs) = index.get_mut(k) {
                seqs.pop_front();
                if seqs.is_empty() {
                    index.remove(k);
                    self.row_bytes -= INDEX_KEY;
                }
            }
        }
        let Row { ip, credential, user, agent, endpoint, endpoint_name, .. } = r;
        for t in [Some(ip), credential, user, Some(agent), Some(endpoint), Some(endpoint_name)].into_iter().flatten() {
            self.texts.release(t);
        }
    }

    /// Forgets rows older than `horizon`, from the oldest pushed until one is not.
    pub fn expire(&mut self, horizon: f64) {
        while self.rows.front().is_some_and(|r| r.ts < horizon) {
            self.pop();
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Distinct texts held for the rows and the keys carried to the next step.
    pub fn texts(&self) -> usize {
        self.texts.len()
    }

    pub fn iter(&self) -> std::collections::vec_deque::Iter<'_, Row> {
        self.rows.iter()
    }

    /// The rows of one address, credential, user or endpoint, oldest pushed first: from the
    /// index, so an alert's evidence costs that identity's rows, not every row kept.
    pub fn of<'a>(&'a self, kind: IdentityKind, key: &str) -> impl Iterator<Item = &'a Row> + 'a {
        let group = GROUPS.iter().position(|k| *k == kind);
        let seqs = group.zip(self.texts.get(key)).and_then(|(g, k)| self.index[g].get(&k)).into_iter().flatten();
        seqs.map(move |&seq| &self.rows[(seq - self.first) as usize])
    }

    /// The endpoint, latency and latency ratio of the rows pushed last, newest first, while
    /// they are timed after `from`. Only the ratio can change: the rows' keys are indexed.
    pub fn latency_ratios_after(&mut self, from: f64) -> impl Iterator<Item = (&Sym, f64, &mut f64)> {
        self.rows.iter_mut().rev().take_while(move |r| r.ts > from).map(|r| {
            let Row { endpoint, latency, latency_ratio, .. } = r;
            (&*endpoint, *latency, latency_ratio)
        })
    }

    /// Ends the step at `now`: the features over `(now - w, now]` for each `w` in `windows`
    /// of every identity and endpoint with a call in `(now - step, now]`.
    pub fn step(&mut self, now: f64, windows: &[f64], step: f64) -> StepWindows {
        let mut out = StepWindows {
            identities: windows.iter().map(|_| Default::default()).collect(),
            endpoints: vec![Vec::new(); windows.len()],
        };
        let mut acc: Vec<Acc> = windows.iter().map(|_| Acc::default()).collect();
        let mut carried: [Vec<(Sym, f64)>; GROUPS.len()] = Default::default();
        let recent = self.since_step.saturating_sub(self.first) as usize;
        for ((g, carry), kind) in carried.iter_mut().enumerate().zip(GROUPS) {
            // Whoever called since the last step, or held calls it could still count.
            let mut keys: Vec<&Sym> =
                self.carried[g].iter().filter(|(_, latest)| *latest > now - step).map(|(k, _)| k).collect();
            keys.extend(self.rows.range(recent.min(self.rows.len())..).filter_map(|r| group_key(r, kind)));
            // By text, for the report's order; equal texts are one sym.
            keys.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
            keys.dedup();
            for key in keys {
                let Some(seqs) = self.index[g].get(key) else { continue };
                acc.iter_mut().for_each(Acc::reset);
                let mut latest = f64::NEG_INFINITY;
                for &seq in seqs {
                    let r = &self.rows[(seq - self.first) as usize];
                    latest = latest.max(r.ts);
                    if r.ts > now {
                        continue;
                    }
                    for (a, &w) in acc.iter_mut().zip(windows) {
                        if r.ts > now - w {
                            if kind == IdentityKind::Endpoint {
                                a.add_endpoint(r);
                            } else {
                                a.add(r);
                            }
                        }
                    }
                }
                if latest > now - step {
                    carry.push((key.clone(), latest));
                }
                for (wi, a) in acc.iter().enumerate() {
                    if a.calls == 0 || a.last <= now - step {
                        continue;
                    }
                    if kind == IdentityKind::Endpoint {
                        out.endpoints[wi].push(EndpointWindow { endpoint: key.to_string(), values: a.endpoint_values() });
                    } else {
                        out.identities[wi][g].push(IdentityWindow { key: key.clone(), values: a.values() });
                    }
                }
            }
        }
        self.carried = carried;
        self.since_step = self.first + self.rows.len() as u64;
        self.texts.sweep();
        // After a burst, the slots it needed go back; a quarter full, half of them stay.
        if self.rows.capacity() > 4 * MIN_GROWTH && self.rows.len() < self.rows.capacity() / 4 {
            self.rows.shrink_to(self.rows.len() * 2);
        }
        out
    }
}

type Distinct = HashSet<u64, foldhash::fast::FixedState>;

/// One key's sums over one window.
#[derive(Default)]
struct Acc {
    calls: u32,
    last: f64,
    counts: [u32; NF],
    resp_bytes: f64,
    latency: f64,
    surprisal: f64,
    surprisal_n: u32,
    resp_ratio: f64,
    array_ratio: f64,
    req_ratio: f64,
    req_bytes: f64,
    latency_ratio: f64,
    endpoints: Distinct,
    owned_objects: Distinct,
    shared_objects: Distinct,
    pages: Distinct,
    login_users: Distinct,
    ips: Distinct,
    agents: Distinct,
    new_clients: Distinct,
}

fn clear(s: &mut Distinct) {
    // A heavy key's set would make clearing cost its capacity for every small key after it.
    if s.capacity() > 4096 {
        *s = Distinct::default();
    } else {
        s.clear();
    }
}

impl Acc {
    fn reset(&mut self) {
        self.calls = 0;
        self.last = f64::NEG_INFINITY;
        self.counts = [0; NF];
        self.resp_bytes = 0.0;
        self.latency = 0.0;
        self.surprisal = 0.0;
        self.surprisal_n = 0;
        self.resp_ratio = f64::NEG_INFINITY;
        self.array_ratio = f64::NEG_INFINITY;
        self.req_ratio = f64::NEG_INFINITY;
        self.req_bytes = f64::NEG_INFINITY;
        self.latency_ratio = f64::NEG_INFINITY;
        for s in [
            &mut self.endpoints,
            &mut self.owned_objects,
            &mut self.shared_objects,
            &mut self.pages,
            &mut self.login_users,
            &mut self.ips,
            &mut self.agents,
            &mut self.new_clients,
        ] {
            clear(s);
        }
    }

    fn add(&mut self, r: &Row) {
        self.calls += 1;
        self.last = self.last.max(r.ts);
        let mut count = |f: F, yes: bool| self.counts[f as usize] += u32::from(yes);
        count(F::AuthErrors, r.status == 401 || r.status == 403);
        count(F::NotFound, r.status == 404);
        count(F::ServerErrors, (500..600).contains(&r.status));
        count(F::LoginFailures, r.login_failed);
        count(F::NewOrigin, r.new_origin);
        count(F::Destructive, r.destructive);
        count(F::SqliHits, r.sqli);
        count(F::CodeHits, r.code);
        count(F::ScannerHits, r.scanner);
        count(F::VulnPaths, r.vuln_path);
        count(F::UnknownEndpoints, r.unknown_endpoint);
        count(F::Incomplete, r.incomplete);
        self.resp_bytes += r.resp_bytes;
        self.latency += r.latency;
        if let Some(s) = r.surprisal {
            self.surprisal += s;
            self.surprisal_n += 1;
        }
        self.resp_ratio = self.resp_ratio.max(r.resp_ratio);
        self.array_ratio = self.array_ratio.max(r.array_ratio);
        self.req_ratio = self.req_ratio.max(r.req_ratio);
        self.req_bytes = self.req_bytes.max(r.req_bytes);
        self.latency_ratio = self.latency_ratio.max(r.latency_ratio);
        self.endpoints.insert(r.endpoint.id());
        if let Some(o) = r.object.map(Digest::get) {
            if r.owned { &mut self.owned_objects } else { &mut self.shared_objects }.insert(o);
        }
        if let Some(p) = r.page.map(Digest::get) {
            self.pages.insert(p);
        }
        if let Some(u) = r.login_user.map(Digest::get) {
            self.login_users.insert(u);
        }
        self.ips.insert(r.ip.id());
        self.agents.insert(r.agent.id());
    }

    fn add_endpoint(&mut self, r: &Row) {
        self.calls += 1;
        self.last = self.last.max(r.ts);
        self.ips.insert(r.ip.id());
        if r.new_client {
            self.new_clients.insert(r.ip.id());
        }
    }

    fn values(&self) -> [f64; NF] {
        let mut v = [0.0; NF];
        for (x, c) in v.iter_mut().zip(self.counts) {
            *x = f64::from(c);
        }
        let n = f64::from(self.calls);
        let mut set = |f: F, x: f64| v[f as usize] = x;
        let size = |s: &Distinct| s.len() as f64;
        set(F::Calls, n);
        set(F::Endpoints, size(&self.endpoints));
        set(F::OwnedObjects, size(&self.owned_objects));
        set(F::SharedObjects, size(&self.shared_objects));
        set(F::Pages, size(&self.pages));
        set(F::LoginUsers, size(&self.login_users));
        set(F::Ips, size(&self.ips));
        set(F::Agents, size(&self.agents));
        set(F::RespBytes, self.resp_bytes);
        set(F::RespRatio, self.resp_ratio);
        set(F::ArrayRatio, self.array_ratio);
        set(F::ReqRatio, self.req_ratio);
        set(F::ReqBytesMax, self.req_bytes);
        set(F::LatencySum, self.latency);
        set(F::LatencyRatio, self.latency_ratio);
        set(F::LatencyMean, self.latency / n);
        set(F::Surprisal, if self.surprisal_n > 0 { self.surprisal / f64::from(self.surprisal_n) } else { 0.0 });
        v
    }

    fn endpoint_values(&self) -> [f64; 3] {
        [f64::from(self.calls), self.ips.len() as f64, self.new_clients.len() as f64]
    }
}

#[cfg(test)]
mod tests {
    use super::reference::{self, GroupBy};
    use super::*;

    fn row(rows: &mut Rows, ts: f64, ip: &str, ep: &str, status: u16) -> Row {
        Row {
            ts,
            uid: format!("C{ts}").into(),
            ip: rows.intern(ip),
            credential: Some(rows.intern(&format!("tok-{ip}"))),
            user: None,
            agent: rows.intern("ua"),
            endpoint: rows.intern(ep),
            endpoint_name: rows.intern(ep),
            object: Some(rows.digest(&(ep, ts.to_bits()))),
            owned: true,
            page: None,
            status,
            login_failed: status == 401,
            login_user: Some(rows.digest(&format!("u{}", ts as u64 % 3))),
            new_origin: false,
            resp_bytes: 100.0,
            resp_ratio: 1.0,
            array_ratio: 0.0,
            destructive: false,
            req_ratio: 0.0,
            req_bytes: 0.0,
            latency: 5.0,
            latency_ratio: 1.0,
            sqli: false,
            code: false,
            scanner: false,
            vuln_path: false,
            unknown_endpoint: false,
            surprisal: None,
            incomplete: false,
            new_client: ts > 50.0,
        }
    }

    #[test]
    fn windows_and_steps() {
        let mut rows = Rows::default();
        for i in 0..60 {
            let r = row(&mut rows, f64::from(i), "a", "GET /x/{id}", 200);
            rows.push(r);
        }
        for i in 0..10 {
            let r = row(&mut rows, 55.0 + f64::from(i) * 0.1, "b", "POST /login", 401);
            rows.push(r);
        }
        let s = rows.step(60.0, &[30.0, 60.0], 10.0);
        let w = &s.identities[0][0];
        assert_eq!(w.len(), 2);
        let a = &w[0];
        assert_eq!(a.key.as_str(), "a");
        assert_eq!(a.values[F::Calls as usize], 29.0);
        assert_eq!(a.values[F::OwnedObjects as usize], 29.0);
        let b = &w[1];
        assert_eq!(b.values[F::LoginFailures as usize], 10.0);
        assert_eq!(b.values[F::AuthErrors as usize], 10.0);
        assert_eq!(b.values[F::LoginUsers as usize], 1.0);
        let x = s.endpoints[1].iter().find(|e| e.endpoint == "GET /x/{id}").unwrap();
        assert_eq!(x.values, [59.0, 1.0, 1.0]);
        // Only identities active in the last step are reported: nobody called since.
        let later = rows.step(100.0, &[300.0], 10.0);
        assert!(later.identities[0].iter().all(Vec::is_empty) && later.endpoints[0].is_empty());
        // Expired rows leave the indexes with them.
        rows.expire(1000.0);
        assert!(rows.is_empty() && rows.index.iter().all(HashMap::is_empty));
        // And their texts with the next step, once no report holds them.
        drop((s, later));
        rows.step(1000.0, &[300.0], 10.0);
        assert_eq!((rows.texts(), rows.bytes() - rows.rows.capacity() * ROW_SLOT), (0, 0));
    }

    /// The window's slots count against the budget by capacity, grow no further than it
    /// allows, and go back once a burst has passed.
    #[test]
    fn slots_stay_within_the_budget_and_go_back_after_a_burst() {
        let budget = 20_000 * (ROW_SLOT + ROW_OVERHEAD + 8);
        let mut rows = Rows::with_budget(budget);
        for i in 0..50_000 {
            let r = row(&mut rows, f64::from(i) * 0.001, "a", "GET /x", 200);
            rows.push(r);
            assert!(rows.bytes() <= budget && rows.rows.capacity() * ROW_SLOT <= budget);
        }
        assert!(rows.dropped > 0 && rows.len() > 18_000, "{} kept, {} slots, {} bytes", rows.len(), rows.rows.capacity(), rows.bytes());
        // A doubling would have left 16,384 slots or passed the budget with 32,768.
        assert!(rows.rows.capacity() > 16_384, "{} slots", rows.rows.capacity());
        rows.expire(49.99);
        rows.step(50.0, &[60.0], 10.0);
        assert!(rows.rows.capacity() < 1000, "{} slots for {} rows", rows.rows.capacity(), rows.len());
    }

    /// What the window's memory is sized by (`docs/ARCHITECTURE.md`): a row's own bytes,
    /// besides its uid's text and four index entries.
    #[test]
    fn a_row_stays_compact() {
        assert!(std::mem::size_of::<Row>() <= 232, "{}", std::mem::size_of::<Row>());
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
        fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
            of[self.below(of.len() as u64) as usize]
        }
        fn maybe(&mut self, of: &[&str]) -> Option<String> {
            (self.below(4) > 0).then(|| self.pick(of).to_string())
        }
    }

    fn random_row(rng: &mut Rng, rows: &mut Rows, ts: f64) -> Row {
        let mut r = row(rows, ts, "", "", 200);
        r.ip = rows.intern(rng.pick(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "::1"]));
        r.credential = rng.maybe(&["bearer:a", "bearer:b", "basic:c", "cookie:d"]).map(|s| rows.intern(&s));
        r.user = rng.maybe(&["alice", "bob", "login:carol"]).map(|s| rows.intern(&s));
        r.agent = rows.intern(rng.pick(&["curl", "app/1", "Mozilla"]));
        r.endpoint = rows.intern(rng.pick(&["GET /a", "GET /b/{id}", "POST /login", "DELETE /b/{id}", "GET /c"]));
        r.object = rng.maybe(&["1", "2", "3", "4", "5", "6", "7", "8", "9"]).map(|s| rows.digest(&s));
        r.owned = rng.below(2) == 0;
        r.page = rng.maybe(&["p1", "p2", "p3"]).map(|s| rows.digest(&s));
        r.status = [200, 201, 302, 401, 403, 404, 500, 503][rng.below(8) as usize];
        r.login_failed = rng.below(5) == 0;
        r.login_user = rng.maybe(&["u1", "u2", "u3", "u4"]).map(|s| rows.digest(&s));
        r.new_origin = rng.below(7) == 0;
        r.resp_bytes = rng.below(50_000) as f64;
        r.resp_ratio = rng.below(1000) as f64 / 37.0;
        r.array_ratio = rng.below(100) as f64 / 7.0;
        r.destructive = rng.below(6) == 0;
        r.req_ratio = rng.below(1000) as f64 / 13.0;
        r.req_bytes = rng.below(9000) as f64;
        r.latency = rng.below(100_000) as f64 / 1000.0;
        r.latency_ratio = rng.below(300) as f64 / 11.0;
        r.sqli = rng.below(9) == 0;
        r.code = rng.below(9) == 0;
        r.scanner = rng.below(9) == 0;
        r.vuln_path = rng.below(9) == 0;
        r.unknown_endpoint = rng.below(9) == 0;
        r.surprisal = (rng.below(3) > 0).then(|| rng.below(5000) as f64 / 1000.0);
        r.incomplete = rng.below(9) == 0;
        r.new_client = rng.below(4) == 0;
        r
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    /// Random traffic stepped through as the detector does (rows timed up to a step past
    /// the boundary, out of order, expired by age and by the row bound, some steps off the
    /// grid as at the end of a replay): every step's windows equal polars' group-bys over
    /// the rows kept.
    #[test]
    fn incremental_windows_equal_group_bys_over_the_rows() {
        let windows = [20.0, 60.0, 7.0];
        let step = 10.0;
        // Budgets of no bound, about 60 rows and about 25 (the texts take about 2 KB).
        let rows_of = |n: usize| n * (ROW_SLOT + ROW_OVERHEAD + 8) + 2000;
        for (seed, budget) in [(1u64, usize::MAX), (7, rows_of(60)), (99, rows_of(25))] {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut rows = Rows::with_budget(budget);
            let mut reported = 0;
            let mut now = 1000.0;
            for k in 0..40 {
                for _ in 0..rng.below(30) {
                    // Mostly within the step, some late by up to a step, a few far back.
                    let ts = match rng.below(10) {
                        0 => now + step + rng.below(1000) as f64 / 100.0,
                        1 => now - rng.below(30_000) as f64 / 100.0,
                        _ => now + rng.below(1000) as f64 / 100.0,
                    };
                    let r = random_row(&mut rng, &mut rows, ts);
                    rows.push(r);
                    assert!(rows.bytes() <= budget);
                }
                // Some steps leave a gap; one lands off the grid.
                now += if k % 9 == 8 { 3.5 * step } else if k == 30 { 4.25 } else { step };
                rows.expire(now - 60.0);
                let got = rows.step(now, &windows, step);
                let df = reference::frame_of(rows.iter()).unwrap();
                for (wi, &w) in windows.iter().enumerate() {
                    for (g, by) in [GroupBy::Ip, GroupBy::Credential, GroupBy::User].into_iter().enumerate() {
                        let want = reference::identity_windows(&df, by, now, w, step).unwrap();
                        let have = &got.identities[wi][g];
                        let have_keys: Vec<&str> = have.iter().map(|x| x.key.as_str()).collect();
                        let want_keys: Vec<&str> = want.iter().map(|x| x.key.as_str()).collect();
                        assert_eq!(have_keys, want_keys, "seed {seed} step {k} window {w} {by:?}");
                        for (h, x) in have.iter().zip(&want) {
                            for (i, def) in FEATURES.iter().enumerate() {
                                assert!(close(h.values[i], x.values[i]), "{} {} {}: {} != {}", h.key, def.name, w, h.values[i], x.values[i]);
                            }
                        }
                        reported += have.len();
                    }
                    let want = reference::endpoint_windows(&df, now, w, step).unwrap();
                    let have = &got.endpoints[wi];
                    assert_eq!(have.len(), want.len(), "seed {seed} step {k} window {w} endpoints");
                    for (h, x) in have.iter().zip(&want) {
                        assert_eq!((&h.endpoint, h.values), (&x.endpoint, x.values));
                    }
                }
            }
            assert!(reported > 200, "the traffic reports identities: {reported}");
            if budget < usize::MAX {
                assert!(rows.dropped > 0);
            }
            // The indexes hold exactly the rows kept, in the order they came.
            for (index, kind) in rows.index.iter().zip(GROUPS) {
                let held: usize = index.values().map(VecDeque::len).sum();
                assert_eq!(held, rows.iter().filter(|r| group_key(r, kind).is_some()).count());
            }
            for (index, kind) in rows.index.iter().zip(GROUPS) {
                for key in index.keys() {
                    let via: Vec<*const Row> = rows.of(kind, key).map(std::ptr::from_ref).collect();
                    let scan: Vec<*const Row> =
                        rows.iter().filter(|r| group_key(r, kind).map(Sym::as_str) == Some(key)).map(std::ptr::from_ref).collect();
                    assert_eq!(via, scan);
                }
            }
        }
    }
}
