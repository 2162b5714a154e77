//! Detection: learn what normal looks like, then name what is not.
//!
//! Each call becomes an [`event::Event`] and a [`features::Row`]. Every `step` seconds of
//! packet time the rows of the last `window`s are summed per identity (address,
//! credential, user) and per endpoint ([`features`]), giving one feature vector per active
//! identity. During training the vectors feed the baselines ([`baseline`]), the k-means
//! model ([`model::Clusters`]) and the transition model ([`sequence`]); after it, each
//! vector is judged against them, the features that deviate name an attack class
//! ([`rules`]), and detections become alerts ([`alerts`]). Windows that raise nothing keep
//! the baselines learning.
//!
//! Everything runs on packet time, so a replay gives the same alerts however fast it runs.
//! The whole state persists ([`state`]), so a restart or a second replay resumes it.

pub mod alerts;
pub mod baseline;
pub mod bounded;
pub mod eval;
pub mod event;
pub mod features;
pub mod identity;
pub mod login;
pub mod model;
pub mod rules;
pub mod sequence;
pub mod signatures;
pub mod state;

use alerts::{Attack, Detection, FeatureEvidence, IdentityRef, Incidents};
use baseline::{Baseline, SelfBaseline};
use bounded::BoundedLru;
use event::Event;
use features::{Row, Rows, Sym, FEATURES, NF};
use identity::{IdentityGraph, IdentityKind, TrustedProxies};
use sensor::ApiCall;
use sequence::Sessions;
use state::State;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DetectError {
    #[error("detector state does not parse: {0}")]
    State(#[from] serde_json::Error),
}

/// When training ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Training {
    /// After this many seconds of packet time.
    Seconds(f64),
    /// After this many records.
    Records(u64),
}

/// How detection runs. Every number here is a knob of the method, not of any traffic.
#[derive(Clone, Debug)]
pub struct DetectConfig {
    /// Window lengths in seconds, shortest first.
    pub windows: Vec<f64>,
    /// Seconds of packet time between evaluations.
    pub step: f64,
    pub training: Training,
    /// Robust z score a feature must reach (and its 99.9th percentile it must pass) to
    /// deviate.
    pub z_threshold: f64,
    pub trusted_proxies: TrustedProxies,
    /// Bytes the feature window's calls may take ([`features::Rows::bytes`]); past it the
    /// oldest go first, counted, and the window covers less time.
    pub window_bytes: usize,
    /// Bytes the per-identity state may take: half for the identity graph, a quarter each
    /// for sessions and identities' own baselines, the least recently seen let go of first.
    pub state_bytes: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            windows: vec![60.0, 600.0],
            step: 10.0,
            training: Training::Seconds(300.0),
            z_threshold: 6.0,
            trusted_proxies: TrustedProxies::default(),
            window_bytes: features::WINDOW_BYTES,
            state_bytes: STATE_BYTES,
        }
    }
}

/// Baseline samples needed before a feature is judged at all.
const MIN_SAMPLES: u64 = 100;
/// Endpoint windows needed before an endpoint's own rate is judged.
const ENDPOINT_MIN_WINDOWS: u32 = 20;
/// The norm that endpoints past [`state::MAX_ENDPOINTS`] share.
const OVERFLOW_ENDPOINT: &str = "(endpoints over the bound)";
/// Samples an endpoint's size and latency norms need before calls are measured against them.
const NORM_MIN_SAMPLES: u64 = 20;
/// Calls in a window before the mean surprisal of its transitions is judged.
const SEQUENCE_MIN_CALLS: f64 = 8.0;
/// Objects tracked per endpoint to learn whether its objects belong to one user each.
const OWNERSHIP_OBJECTS: usize = 4096;
/// Per-identity baselines kept (least recently seen dropped).
const SELF_BASELINES: usize = 100_000;
/// The per-identity state's default budget ([`DetectConfig::state_bytes`]). At typical
/// sizes (about 320 bytes an identity in the graph, 180 a session, 410 a baseline) it holds
/// the 100,000 identities seen last in the graph, 90,000 sessions and 40,000 baselines; with
/// names as long as events keep, a third of that.
pub const STATE_BYTES: usize = 64 << 20;
/// Identities whose links and own baselines a save keeps, the most recently seen.
const SAVED_IDENTITIES: usize = 50_000;
/// Windows kept for re-fitting the k-means model and distilling rules.
const MODEL_SAMPLES: usize = 20_000;
/// Calls timed further than this from 1970, in seconds (about the year 33,700), are not
/// judged: no capture format writes such times, and beyond 2^53 / 10 s adding a step no
/// longer moves a float, so the step loop could not advance.
const MAX_TIME: f64 = 1e12;

/// Counts of what detection did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DetectCounts {
    pub records: u64,
    pub steps: u64,
    pub windows_judged: u64,
    pub detections: u64,
    /// Calls the feature window let go of before the longest window had passed, to stay
    /// within its budget.
    pub rows_dropped: u64,
    /// The most the feature window held, in bytes ([`features::Rows::bytes`]).
    pub window_peak: u64,
    /// What the per-identity state (graph, sessions, baselines) held at the last step, in
    /// bytes, estimated as its budget is.
    pub state_bytes: u64,
    /// Identities, sessions and baselines let go of to stay within their bounds.
    pub state_evicted: u64,
    /// Calls to new endpoints once [`state::MAX_ENDPOINTS`] were known: they share one norm.
    pub endpoints_over_bound: u64,
}

pub struct Detector {
    cfg: DetectConfig,
    st: State,
    rows: Rows,
    graph: IdentityGraph,
    sessions: Sessions,
    self_base: BoundedLru<String, SelfBaseline>,
    /// Packet time of the next evaluation.
    next_step: Option<f64>,
    /// Latest packet time seen.
    now: f64,
    /// Addresses with an open incident, as of the last step: their traffic teaches nothing.
    open_ips: HashSet<String>,
    pub counts: DetectCounts,
}

fn window_name(w: f64) -> String {
    if w >= 3600.0 && w % 3600.0 == 0.0 {
        format!("{}h", w / 3600.0)
    } else if w >= 60.0 && w % 60.0 == 0.0 {
        format!("{}m", w / 60.0)
    } else {
        format!("{w}s")
    }
}

/// What an identity's own baseline holds on the heap, for its budget.
fn self_baseline_heap(k: &String, b: &SelfBaseline) -> usize {
    k.capacity() + (b.mean.capacity() + b.dev.capacity()) * std::mem::size_of::<f32>()
}

impl Detector {
    pub fn new(cfg: DetectConfig) -> Detector {
        let state = cfg.state_bytes;
        Detector {
            rows: Rows::with_budget(cfg.window_bytes),
            cfg,
            st: State::default(),
            graph: IdentityGraph::with_budget(state / 2),
            sessions: Sessions::with_budget(state / 4),
            self_base: BoundedLru::new(SELF_BASELINES, state / 4, self_baseline_heap),
            next_step: None,
            now: 0.0,
            open_ips: Default::default(),
            counts: DetectCounts::default(),
        }
    }

    /// Resumes from a saved state (see [`Detector::saved`]).
    pub fn restore(&mut self, json: &str) -> Result<(), DetectError> {
        let saved: state::Saved = serde_json::from_str(json)?;
        self.graph.restore(saved.graph);
        // Most recent last, so it is the most recently used again.
        for (k, b) in saved.self_baselines.into_iter().rev() {
            self.self_base.insert(k, b);
        }
        self.st = saved.state;
        Ok(())
    }

    /// The whole state, borrowed, for the store to serialise ([`Detector::restore`] reads
    /// it back).
    pub fn saved(&self) -> state::SavedRef<'_> {
        state::SavedRef {
            state: &self.st,
            graph: self.graph.recent(SAVED_IDENTITIES),
            // Most recently used first, as the graph's.
            self_baselines: self.self_base.iter().rev().take(SAVED_IDENTITIES).collect(),
        }
    }

    /// The whole state as JSON.
    pub fn state_json(&self) -> Result<String, DetectError> {
        Ok(serde_json::to_string(&self.saved())?)
    }

    pub fn trained(&self) -> bool {
        self.st.trained_at.is_some()
    }

    /// The feature window's and the per-identity state's budgets, in bytes.
    pub fn budgets(&self) -> (usize, usize) {
        (self.cfg.window_bytes, self.cfg.state_bytes)
    }

    pub fn incidents(&self) -> &Incidents {
        &self.st.incidents
    }

    /// Whether the alerts changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.st.incidents.changed)
    }

    pub fn rules(&self) -> &[model::Rule] {
        &self.st.rules
    }

    /// Takes one call. Evaluation happens as packet time crosses step boundaries.
    pub fn observe(&mut self, call: &ApiCall) {
        if call.method.is_none() && call.status_code.is_none() {
            return;
        }
        let ts = call.ts;
        if !ts.is_finite() || ts.abs() > MAX_TIME {
            return;
        }
        // Steps due before this call are evaluated before it joins the rows.
        while let Some(at) = self.next_step {
            if ts < at {
                break;
            }
            self.step(at);
            let mut next = at + self.cfg.step;
            // With no rows left, every step before this call's finds nothing to judge: go
            // straight to it, counting the ones passed. Packet times can leap by years (a
            // merged capture, a clock jump, a forged timestamp in analysed records), and
            // stepping through each 10 s of the leap took seconds, or forever.
            if self.rows.is_empty() && ts >= next + self.cfg.step {
                let skip = ((ts - next) / self.cfg.step).floor();
                next += skip * self.cfg.step;
                self.counts.steps += skip as u64;
            }
            self.next_step = Some(next);
        }
        if self.next_step.is_none() {
            self.next_step = Some((ts / self.cfg.step).floor() * self.cfg.step + self.cfg.step);
        }
        self.counts.records += 1;
        self.st.records += 1;
        if self.st.started.is_none() {
            self.st.started = Some(ts);
        }
        let norms = &self.st.norms;
        let ev = event::from_call(call, &self.cfg.trusted_proxies, &|k| norms.get(k).is_some_and(|n| n.issuer));
        let mut row = self.annotate(ev);
        self.now = self.now.max(ts);
        // An exchange is counted when it ended, and a record that arrives late (a request
        // held open for a minute, then cut) at the time it became known: windows already
        // judged are not reopened.
        let end = call.response_ts.unwrap_or(ts).max(ts + call.duration_ms.unwrap_or(0.0) / 1000.0);
        row.ts = end.min(self.now + self.cfg.step);
        if let Some(next) = self.next_step {
            row.ts = row.ts.max(next - self.cfg.step + 1e-6);
        }
        self.rows.push(row);
    }

    /// Evaluates what is pending (the end of a replay, or a pause in live traffic).
    pub fn flush(&mut self) {
        if let Some(at) = self.next_step.take() {
            if self.now > at - self.cfg.step {
                self.step(self.now.max(at - self.cfg.step));
            }
        }
        self.refit();
    }

    /// Joins an event with what the state knows, and learns from it the things that are
    /// learned per call (endpoint norms, ownership, transitions, the identity graph). Takes
    /// the event by value: its strings move into the row.
    fn annotate(&mut self, ev: Event) -> Row {
        let training = !self.trained();
        let unknown = !self.st.norms.contains_key(&ev.endpoint_key);
        let ip = ev.ip.to_string();
        // Actors with an open incident teach nothing.
        let learns = training || !self.open_ips.contains(&ip);
        let owner = ev.user.clone().or_else(|| ev.credential.clone()).unwrap_or_else(|| ip.clone());
        // Past the bound, new endpoints share one norm (counted) rather than growing the map.
        let norm_key = if unknown && self.st.norms.len() >= state::MAX_ENDPOINTS {
            self.counts.endpoints_over_bound += 1;
            OVERFLOW_ENDPOINT
        } else {
            ev.endpoint_key.as_str()
        };
        let norm = self.st.norms.entry(norm_key.to_string()).or_default();
        // Against the endpoint's norm; neutral (1) until the endpoint has a norm, so the
        // first calls of a new endpoint are not measured against nothing.
        let ratio = |x: f64, r: &mut baseline::Reservoir| {
            if r.seen() < NORM_MIN_SAMPLES {
                return 1.0;
            }
            let s = r.summary_lazy();
            x / s.median.max(s.q90 / 4.0).max(1.0)
        };
        let resp_ratio = ratio(ev.resp_bytes as f64, &mut norm.resp);
        let req_ratio = ratio(ev.req_bytes as f64, &mut norm.req);
        let latency_ratio = ratio(ev.latency_ms, &mut norm.latency);
        let array_ratio = if ev.array_len > 0 { ratio(ev.array_len as f64, &mut norm.array) } else { 0.0 };
        // A response whose request was not seen has no endpoint to compare with.
        let (resp_ratio, req_ratio, latency_ratio) =
            if ev.method == "-" { (1.0, 1.0, 1.0) } else { (resp_ratio, req_ratio, latency_ratio) };
        let owned = norm.owned();
        let new_client = norm.client(&ip, ev.ts);
        if let Some(o) = ev.object.as_ref().filter(|_| learns) {
            norm.object(o, &owner, OWNERSHIP_OBJECTS);
        }
        if ev.login.as_ref().is_some_and(|a| a.issued) {
            norm.issuer = true;
        }
        // Norms learn from calls that succeeded and carried no attack payload.
        let clean = (200..400).contains(&ev.status) && !ev.hits.sqli && !ev.hits.code();
        if clean && learns {
            norm.resp.add(ev.resp_bytes as f64);
            if ev.req_bytes > 0 {
                norm.req.add(ev.req_bytes as f64);
            }
            if ev.latency_ms > 0.0 {
                norm.latency.add(ev.latency_ms);
            }
            if ev.array_len > 0 {
                norm.array.add(ev.array_len as f64);
            }
        }
        norm.calls += 1;
        // Transitions.
        let session = ev.credential.clone().unwrap_or_else(|| format!("{ip}|{}", ev.agent));
        let prev = self.sessions.step(&session, &ev.endpoint_key, ev.ts);
        let surprisal = prev.as_ref().map(|p| self.st.transitions.surprisal(p, &ev.endpoint_key));
        if let Some(p) = prev.as_ref().filter(|_| learns) {
            self.st.transitions.learn(p, &ev.endpoint_key);
        }
        // Identity graph: a credential or user showing up from a new address and agent.
        let mut new_origin = false;
        for (kind, key) in [(IdentityKind::Credential, &ev.credential), (IdentityKind::User, &ev.user)] {
            if let Some(k) = key {
                // Login names are claims, not proof: only authenticated identities count.
                if kind == IdentityKind::User && k.starts_with("login:") {
                    continue;
                }
                let n = self.graph.observe(kind, k, ev.ts, ev.ip, &ev.agent);
                new_origin |= n.new_ip && n.new_agent;
                new_origin |= self.graph.get(kind, k).is_some_and(|l| l.recent_origin(ev.ts, ev.ip, identity::ua_hash(&ev.agent)));
            }
        }
        let login_failed = ev.login.as_ref().is_some_and(|a| a.outcome == login::Outcome::Failure);
        let destructive = ev.destructive();
        // Objects read, not written: reading others' objects is BOLA, writing them is
        // manipulation.
        let read = ev.method == "GET" || ev.method == "HEAD";
        let object = ev.object.filter(|_| read).map(|o| self.rows.digest(&(&ev.endpoint_key, o)));
        let page = ev.query.map(|q| self.rows.digest(&(&ev.endpoint_key, q)));
        let login_user = ev.login.and_then(|a| a.username).map(|u| self.rows.digest(&u));
        let rows = &mut self.rows;
        Row {
            ts: ev.ts,
            uid: ev.uid.into(),
            ip: rows.intern(&ip),
            credential: ev.credential.map(|c| rows.intern(&c)),
            user: ev.user.map(|u| rows.intern(&u)),
            agent: rows.intern(&ev.agent),
            endpoint: rows.intern(&ev.endpoint_key),
            endpoint_name: rows.intern(&ev.endpoint),
            object,
            owned,
            page,
            status: ev.status,
            login_failed,
            login_user,
            new_origin,
            resp_bytes: ev.resp_bytes as f64,
            resp_ratio,
            array_ratio,
            destructive,
            req_ratio,
            req_bytes: ev.req_bytes as f64,
            latency: ev.latency_ms,
            latency_ratio,
            sqli: ev.hits.sqli,
            code: ev.hits.code(),
            scanner: ev.hits.scanner_agent,
            vuln_path: ev.hits.vuln_path,
            unknown_endpoint: unknown && !training,
            surprisal,
            incomplete: ev.incomplete,
            new_client: new_client && !training,
        }
    }

    /// Latency against what other clients of the same endpoint saw in the same step, so a
    /// server slowing down for everyone does not make every client look expensive.
    fn relative_latency(&mut self, now: f64) {
        let from = now - self.cfg.step;
        let mut per: HashMap<Sym, (Vec<f64>, HashSet<Sym>)> = HashMap::new();
        for r in self.rows.iter().rev().take_while(|r| r.ts > from) {
            let e = per.entry(r.endpoint.clone()).or_default();
            e.0.push(r.latency);
            e.1.insert(r.ip.clone());
        }
        let medians: HashMap<Sym, f64> = per
            .into_iter()
            .filter(|(_, (_, ips))| ips.len() >= 3)
            .map(|(k, (mut v, _))| {
                v.sort_by(f64::total_cmp);
                (k, v[v.len() / 2])
            })
            .collect();
        for (endpoint, latency, ratio) in self.rows.latency_ratios_after(from) {
            if let Some(m) = medians.get(endpoint).filter(|m| **m > 0.0) {
                let hist = if *ratio > 0.0 { latency / *ratio } else { 0.0 };
                // The larger of the concurrent and historical medians.
                *ratio = latency / m.max(hist);
            }
        }
    }

    fn train_done(&self, now: f64) -> bool {
        match self.cfg.training {
            Training::Seconds(s) => self.st.started.is_some_and(|t| now - t >= s),
            Training::Records(n) => self.st.records >= n,
        }
    }

    fn step(&mut self, now: f64) {
        self.counts.steps += 1;
        let longest = self.cfg.windows.iter().copied().fold(self.cfg.step, f64::max);
        self.rows.expire(now - longest);
        self.counts.rows_dropped = self.rows.dropped;
        self.counts.window_peak = self.rows.peak as u64;
        self.counts.state_bytes = (self.graph.bytes() + self.sessions.bytes() + self.self_base.bytes()) as u64;
        self.counts.state_evicted = self.graph.evicted() + self.sessions.dropped() + self.self_base.evicted;
        if self.rows.is_empty() {
            return;
        }
        self.relative_latency(now);
        self.evaluate(now);
        if !self.trained() && self.train_done(now) {
            self.st.trained_at = Some(now);
            for n in self.st.norms.values_mut() {
                if n.objects.len() >= 20 {
                    n.scoped = Some(n.owner_scoped());
                }
            }
            self.refit();
        }
    }

    fn evaluate(&mut self, now: f64) {
        let windows = self.cfg.windows.clone();
        let computed = self.rows.step(now, &windows, self.cfg.step);
        let started = self.st.started.unwrap_or(now);
        let training = !self.trained();
        let open = self.st.incidents.open_actors(now);
        let mut detections: Vec<Detection> = Vec::new();
        // Where, in `computed`, the windows to learn from are: (window, kind, index).
        let mut learn: Vec<(usize, usize, usize)> = Vec::new();
        for ((wi, &w), (identities, endpoints)) in windows.iter().enumerate().zip(computed.identities.iter().zip(&computed.endpoints)) {
            // A window longer than the traffic so far is not yet comparable with full ones.
            let full = now - started >= w;
            let wname = window_name(w);
            for (g, (kind, ws)) in features::IDENTITY_KINDS.into_iter().zip(identities).enumerate() {
                for (idx, iw) in ws.iter().enumerate() {
                    self.counts.windows_judged += 1;
                    let self_key = format!("{}/{wname}/{}", kind.name(), iw.key);
                    let actor_open = match kind {
                        IdentityKind::Ip => open.contains_key(iw.key.as_str()),
                        _ => false,
                    };
                    let mut verdict = None;
                    if !training {
                        let judged = self.judge(kind, &wname, &iw.values, &self_key, now);
                        if let Some(j) = judged {
                            verdict = Some(j);
                        }
                    }
                    let flagged = verdict.is_some();
                    if wi == 0 && kind == IdentityKind::Ip {
                        let label = verdict.as_ref().map_or(0, |(a, _, _): &(Attack, Vec<Attack>, Vec<FeatureEvidence>)| a.priority() + 1);
                        self.st.sample(iw.values.to_vec(), label, flagged || self.counts.windows_judged % 10 == 0, MODEL_SAMPLES);
                    }
                    match verdict {
                        Some((attack, also, evidence)) => {
                            detections.push(self.detection(kind, &iw.key, w, now, attack, also, evidence, &iw.values));
                        }
                        None if full && !actor_open => {
                            // Learned after the whole step is judged: a baseline changing
                            // mid-step would be re-summarised for every identity.
                            learn.push((wi, g, idx));
                        }
                        None => {}
                    }
                }
            }
            if full {
                for ew in endpoints {
                    let key = format!("endpoint/{wname}/{}", ew.endpoint);
                    let b = self.st.endpoints.entry(key).or_default();
                    let mut dev = [false; 3];
                    let mut ev = Vec::new();
                    if !training && b.windows >= ENDPOINT_MIN_WINDOWS {
                        for (i, def) in features::ENDPOINT_FEATURES.iter().enumerate() {
                            let floor = match def.scale {
                                baseline::Scale::Count => 1.0_f64.max(0.1 * f64::from(b.mean[i])),
                                _ => 1.0,
                            };
                            if let Some(z) = b.z(i, ew.values[i], floor) {
                                if z >= self.cfg.z_threshold {
                                    dev[i] = true;
                                    ev.push(FeatureEvidence {
                                        feature: def.name.into(),
                                        window: wname.clone(),
                                        value: ew.values[i],
                                        baseline_median: f64::from(b.mean[i]),
                                        baseline_p999: f64::from(b.mean[i] + 3.0 * 1.253 * b.dev[i]),
                                        z,
                                    });
                                }
                            }
                        }
                    }
                    // A rate spike carried by many clients, each of them new here.
                    if dev[0] && (dev[1] || dev[2]) {
                        if let Some(d) = self.ddos_detection(&ew.endpoint, w, now, ev) {
                            detections.push(d);
                        }
                    } else if !dev.iter().any(|d| *d) {
                        // Only windows where nothing deviated teach the endpoint's norm: a
                        // scanner's burst must not raise the bar for the next flood.
                        let b = self.st.endpoints.entry(format!("endpoint/{wname}/{}", ew.endpoint)).or_default();
                        b.add(&ew.values);
                    }
                }
            }
        }
        for (wi, g, idx) in learn {
            let (kind, wname, values) = (features::IDENTITY_KINDS[g], window_name(windows[wi]), &computed.identities[wi][g][idx].values);
            let self_key = format!("{}/{wname}/{}", kind.name(), computed.identities[wi][g][idx].key);
            let bs = self.st.population.entry(format!("{}/{wname}", kind.name())).or_insert_with(|| vec![Baseline::default(); NF]);
            for (b, &v) in bs.iter_mut().zip(values) {
                b.add(v, now);
            }
            self.self_base.update(self_key, SelfBaseline::default, |b| b.add(values));
        }
        self.counts.detections += detections.len() as u64;
        for d in detections {
            self.st.incidents.add(d);
        }
        self.open_ips = self.st.incidents.open_actors(now).into_keys().collect();
    }

    /// Judges one identity window: the deviating features, and the attack they name.
    fn judge(
        &mut self,
        kind: IdentityKind,
        wname: &str,
        x: &[f64; NF],
        self_key: &str,
        now: f64,
    ) -> Option<(Attack, Vec<Attack>, Vec<FeatureEvidence>)> {
        let own = self.self_base.get(self_key).cloned();
        let mut dev = [false; NF];
        let mut ev = Vec::new();
        let bs = self.st.population.get_mut(&format!("{}/{wname}", kind.name()))?;
        for ((i, def), b) in FEATURES.iter().enumerate().zip(bs.iter_mut()) {
            if b.all.seen() < MIN_SAMPLES {
                continue;
            }
            let s = b.summary(now);
            let mut z = s.z(x[i], def.scale);
            if let Some(zs) = own.as_ref().and_then(|o| o.z(i, x[i], s.scale(def.scale))) {
                z = z.min(zs);
            }
            if z >= self.cfg.z_threshold && x[i] > s.q999 {
                dev[i] = true;
                ev.push(FeatureEvidence {
                    feature: def.name.into(),
                    window: wname.into(),
                    value: x[i],
                    baseline_median: s.median,
                    baseline_p999: s.q999,
                    z,
                });
            }
        }
        if ev.is_empty() {
            return None;
        }
        let mut zs = [0.0; NF];
        for e in &ev {
            if let Some(i) = FEATURES.iter().position(|d| d.name == e.feature) {
                zs[i] = e.z;
            }
        }
        let classes = rules::classify(kind, &dev, &zs, x, SEQUENCE_MIN_CALLS);
        let (first, rest) = classes.split_first()?;
        ev.sort_by(|a, b| b.z.total_cmp(&a.z));
        // The features that named the class lead the evidence.
        let lead = rules::primary(*first);
        ev.sort_by_key(|e| !lead.contains(&e.feature.as_str()));
        Some((*first, rest.to_vec(), ev))
    }

    #[allow(clippy::too_many_arguments)]
    fn detection(
        &mut self,
        kind: IdentityKind,
        key: &str,
        w: f64,
        now: f64,
        attack: Attack,
        also: Vec<Attack>,
        features: Vec<FeatureEvidence>,
        values: &[f64; NF],
    ) -> Detection {
        let from = now - w;
        let mut ips: BTreeMap<String, usize> = BTreeMap::new();
        let mut eps: BTreeMap<String, usize> = BTreeMap::new();
        let mut uids = Vec::new();
        let mut first = now;
        let mut last = from;
        let mut linked = BTreeSet::new();
        let mut all_ips = BTreeSet::new();
        let mine: Vec<&Row> = self
            .rows
            .of(kind, key)
            .filter(|r| r.ts > from && r.ts <= now)
            // A takeover's actor is the newcomer, not the account's owner.
            .filter(|r| attack != Attack::AccountTakeover || r.new_origin)
            .collect();
        for r in &mine {
            if rules::row_supports(attack, r) {
                uids.push(r.uid.to_string());
                *ips.entry(r.ip.to_string()).or_default() += 1;
            }
            all_ips.insert(r.ip.to_string());
        }
        // The actor is the addresses that did what the class is about; the identity's other
        // addresses (a user whose name a brute force tried, say) are not part of it.
        for r in mine.iter().filter(|r| ips.is_empty() || ips.contains_key(r.ip.as_str())) {
            *eps.entry(r.endpoint_name.to_string()).or_default() += 1;
            first = first.min(r.ts);
            last = last.max(r.ts);
            if kind == IdentityKind::Ip {
                if let Some(c) = &r.credential {
                    linked.insert(c.to_string());
                }
                if let Some(u) = &r.user {
                    linked.insert(u.to_string());
                }
            }
        }
        if attack == Attack::AccountTakeover {
            if let Some(l) = self.graph.get(kind, key) {
                for (ip, _, _) in &l.ips {
                    if !ips.contains_key(&ip.to_string()) {
                        linked.insert(format!("also used from {ip}"));
                    }
                }
            }
        }
        // The addresses that did what the class is about; all of the identity's when no
        // single call shows it (rates, sequences).
        if ips.is_empty() {
            ips = all_ips.into_iter().map(|ip| (ip, 1)).collect();
        }
        uids.reverse();
        uids.truncate(alerts::SAMPLE_UIDS);
        let mut endpoints: Vec<(String, usize)> = eps.into_iter().collect();
        endpoints.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let multivariate = self.st.clusters.as_ref().and_then(|c| c.score(values));
        let top_z = features.first().map_or(0.0, |f| f.z);
        let mut score = top_z / (top_z + self.cfg.z_threshold);
        if let Some(m) = multivariate {
            score = score.max(m / (m + 1.0));
        }
        let src_ips: Vec<String> = ips.into_keys().collect();
        let actor = match kind {
            IdentityKind::Ip => key.to_string(),
            IdentityKind::Credential => {
                format!("credential {} (from {})", short(key), src_ips.join(", "))
            }
            _ => format!("user {key} (from {})", src_ips.join(", ")),
        };
        Detection {
            attack,
            also,
            score: (score * 1000.0).round() / 1000.0,
            first_seen: first.min(last),
            last_seen: last,
            now,
            summary: rules::summary(attack, &actor, &features, window_name(w).as_str()),
            src_ips,
            identity: IdentityRef { kind: kind.name().into(), value: key.to_string() },
            endpoints: endpoints.into_iter().take(10).map(|(e, _)| e).collect(),
            features,
            multivariate: multivariate.map(|m| (m * 100.0).round() / 100.0),
            sample_uids: uids,
            linked: linked.into_iter().take(10).collect(),
        }
    }

    /// A DDoS detection for `endpoint`: the clients that made it (those for whom this endpoint
    /// was most of what they did in the window).
    fn ddos_detection(&self, endpoint: &str, w: f64, now: f64, features: Vec<FeatureEvidence>) -> Option<Detection> {
        let from = now - w;
        let mut per_ip: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut name = String::new();
        let mut uids = Vec::new();
        let mut first = now;
        for r in self.rows.iter().filter(|r| r.ts > from && r.ts <= now) {
            let e = per_ip.entry(r.ip.as_str()).or_default();
            e.1 += 1;
            if r.endpoint.as_str() == endpoint {
                e.0 += 1;
                name = r.endpoint_name.to_string();
                first = first.min(r.ts);
                if uids.len() < alerts::SAMPLE_UIDS * 4 {
                    uids.push(r.uid.to_string());
                }
            }
        }
        // Participants: clients for whom this endpoint was most of what they did, each
        // within what a single client normally does (a single loud client is another
        // class); together they must carry most of the endpoint's calls.
        let per_client_limit = self
            .st
            .population
            .get(&format!("ip/{}", window_name(w)))
            .and_then(|bs| bs.get(features::F::Calls as usize))
            .map(|b| b.all.clone().summary().q999)
            .filter(|q: &f64| *q > 0.0)
            .unwrap_or(f64::INFINITY);
        let total: usize = per_ip.values().map(|(here, _)| *here).sum();
        // ... and new to the endpoint since the incident could have begun: regular users
        // of it who happen to be busy with it are not the flood.
        let norm = self.st.norms.get(endpoint);
        let since = now - alerts::INCIDENT_GAP;
        let parts: Vec<(&str, usize)> = per_ip
            .iter()
            .filter(|(ip, (here, all))| {
                *here >= 2 && *here * 2 > *all && (*all as f64) <= per_client_limit && norm.is_none_or(|n| n.new_since(ip, since))
            })
            .map(|(ip, (here, _))| (*ip, *here))
            .collect();
        let carried: usize = parts.iter().map(|(_, n)| *n).sum();
        if parts.len() < 2 || carried * 2 < total {
            return None;
        }
        let src: Vec<String> = parts.into_iter().map(|(ip, _)| ip.to_string()).collect();
        let top_z = features.first().map_or(0.0, |f| f.z);
        uids.truncate(alerts::SAMPLE_UIDS);
        let actor = format!("{} clients", src.len());
        Some(Detection {
            attack: Attack::TargetedDdos,
            also: vec![],
            score: ((top_z / (top_z + self.cfg.z_threshold)) * 1000.0).round() / 1000.0,
            first_seen: first,
            last_seen: now,
            now,
            summary: rules::summary(Attack::TargetedDdos, &actor, &features, &window_name(w)).replace("{endpoint}", &name),
            src_ips: src,
            identity: IdentityRef { kind: "endpoint".into(), value: name.clone() },
            endpoints: vec![name],
            features,
            multivariate: None,
            sample_uids: uids,
            linked: vec![],
        })
    }

    /// Re-fits the k-means model and re-distils the rules from the windows kept.
    fn refit(&mut self) {
        let normal: Vec<Vec<f64>> = self.st.samples.iter().filter(|(_, l)| *l == 0).map(|(v, _)| v.clone()).collect();
        if let Some(c) = model::Clusters::fit(&normal) {
            self.st.clusters = Some(c);
        }
        if self.trained() {
            let names: Vec<String> = FEATURES.iter().map(|f| format!("{}_{}", f.name, window_name(self.cfg.windows[0]))).collect();
            let classes: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
            let (v, l): (Vec<Vec<f64>>, Vec<usize>) = self.st.samples.iter().cloned().unzip();
            self.st.rules = model::distill(&v, &l, &names, &classes);
        }
    }
}

fn short(h: &str) -> String {
    match h.split_once(':') {
        Some((scheme, hash)) => format!("{scheme}:{}…", &hash[..hash.len().min(12)]),
        None => h.chars().take(16).collect(),
    }
}

#[cfg(test)]
mod tests;
