//! Alerts: one per incident, updated while the incident goes on.
//!
//! A detection (an identity whose window deviated, named with an attack class) joins the
//! open incident of the same actor: the same identity, or a client address in common,
//! seen within [`INCIDENT_GAP`] seconds. An incident takes the most specific class any of
//! its detections had (see [`Attack::priority`]); the others stay in its evidence. The
//! alert's times are packet times.
//!
//! Bounded: at most [`MAX_ALERTS`] incidents are kept; past that, new incidents are counted
//! and dropped, updates to kept ones go on.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const INCIDENT_GAP: f64 = 600.0;
pub const MAX_ALERTS: usize = 100_000;
/// Sample record uids kept per alert.
pub const SAMPLE_UIDS: usize = 10;
/// Client addresses listed per alert (a DDoS can have thousands; the count is kept).
pub const MAX_SRC_IPS: usize = 1000;

macro_rules! attacks {
    ($($id:ident = $name:literal, $sev:ident;)*) => {
        /// The attack classes, most specific first: an incident is named by the first that
        /// any of its detections had.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Attack { $($id),* }
        impl Attack {
            pub const ALL: &'static [Attack] = &[$(Attack::$id),*];
            pub fn name(self) -> &'static str { match self { $(Attack::$id => $name),* } }
            /// The severity when the score is moderate; a high score raises it one level.
            pub fn base_severity(self) -> Severity { match self { $(Attack::$id => Severity::$sev),* } }
        }
    };
}

attacks! {
    VulnerabilityScan = "vulnerability_scan", Medium;
    SqlInjection = "sql_injection", High;
    CodeInjection = "code_injection", High;
    CredentialStuffing = "credential_stuffing", High;
    AccountTakeover = "account_takeover", High;
    Bola = "bola", High;
    OversizedPayload = "oversized_payload", Medium;
    DataExfiltration = "data_exfiltration", High;
    DataManipulation = "data_manipulation", High;
    DataScraping = "data_scraping", Medium;
    ExpensiveCallAbuse = "expensive_call_abuse", Medium;
    Slowloris = "slowloris", High;
    ProbingFuzzing = "probing_fuzzing", Medium;
    TargetedDdos = "targeted_ddos", High;
    ExtremeClientActivity = "extreme_client_activity", Medium;
    SequenceAnomaly = "sequence_anomaly", Low;
}

impl Attack {
    pub fn priority(self) -> usize {
        self as usize
    }

    /// Classes in one group compete on evidence (which defining feature deviates most);
    /// a lower group wins outright: a tool's signature over credentials over data and
    /// resources over the generic classes.
    pub fn group(self) -> u8 {
        match self {
            Attack::VulnerabilityScan | Attack::SqlInjection | Attack::CodeInjection => 0,
            Attack::CredentialStuffing | Attack::AccountTakeover => 1,
            Attack::TargetedDdos | Attack::ExtremeClientActivity | Attack::SequenceAnomaly => 3,
            _ => 2,
        }
    }

    pub fn from_name(s: &str) -> Option<Attack> {
        Attack::ALL.iter().copied().find(|a| a.name() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Stable name, as in alerts.jsonl.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity a stable name names.
    pub fn from_name(s: &str) -> Option<Severity> {
        [Severity::Low, Severity::Medium, Severity::High, Severity::Critical].into_iter().find(|v| v.name() == s)
    }

    fn up(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }
}

/// Who an alert is about. Credentials appear only as their keyed hash.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdentityRef {
    pub kind: String,
    pub value: String,
}

/// One feature's value against its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureEvidence {
    pub feature: String,
    pub window: String,
    pub value: f64,
    pub baseline_median: f64,
    pub baseline_p999: f64,
    pub z: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub features: Vec<FeatureEvidence>,
    /// Other classes the deviations also fit.
    pub also: Vec<String>,
    /// Distance of the window's feature vector from the nearest k-means centroid, in units
    /// of the 99th percentile of normal windows (above 1 is unusual as a whole).
    pub multivariate: Option<f64>,
    pub sample_uids: Vec<String>,
    /// Identities linked to the actor (credential hashes, users) with where else they came from.
    pub linked: Vec<String>,
    /// How many client addresses took part, when more than `src_ips` lists.
    pub src_ip_count: usize,
}

/// An alert as written to `alerts.jsonl` (see docs/alert-schema.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub attack: Attack,
    pub severity: Severity,
    pub score: f64,
    pub first_seen: f64,
    pub last_seen: f64,
    /// Packet time of the step at which the incident was first detected.
    pub detected_at: f64,
    pub src_ips: Vec<String>,
    pub identity: IdentityRef,
    pub endpoints: Vec<String>,
    pub summary: String,
    pub evidence: Evidence,
    /// Windows (steps) in which the incident was seen deviating.
    pub detections: u64,
}

/// A detection from one step, before it joins an incident.
#[derive(Clone, Debug)]
pub struct Detection {
    pub attack: Attack,
    pub also: Vec<Attack>,
    pub score: f64,
    pub first_seen: f64,
    pub last_seen: f64,
    pub now: f64,
    pub src_ips: Vec<String>,
    pub identity: IdentityRef,
    pub endpoints: Vec<String>,
    pub summary: String,
    pub features: Vec<FeatureEvidence>,
    pub multivariate: Option<f64>,
    pub sample_uids: Vec<String>,
    pub linked: Vec<String>,
}

fn severity(attack: Attack, score: f64) -> Severity {
    let s = attack.base_severity();
    if score >= 0.9 {
        s.up()
    } else {
        s
    }
}

/// All incidents, open and closed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Incidents {
    pub alerts: Vec<Alert>,
    next_id: u64,
    pub dropped: u64,
    #[serde(skip)]
    pub changed: bool,
}

impl Incidents {
    fn find(&self, d: &Detection) -> Option<usize> {
        // Endpoint-level incidents (DDoS) join only their own endpoint; actor incidents
        // join by identity or a shared address.
        let endpoint_kind = d.identity.kind == "endpoint";
        self.alerts.iter().rposition(|a| {
            d.now - a.last_seen <= INCIDENT_GAP
                && (a.identity == d.identity
                    || (!endpoint_kind && a.identity.kind != "endpoint" && a.src_ips.iter().any(|ip| d.src_ips.contains(ip))))
        })
    }

    /// Adds a detection: a new incident, or an update of the open one it belongs to.
    pub fn add(&mut self, d: Detection) {
        self.changed = true;
        match self.find(&d) {
            Some(i) => {
                let a = &mut self.alerts[i];
                let mut also: Vec<String> = a.evidence.also.clone();
                let better = d.attack.group() < a.attack.group()
                    || (d.attack.group() == a.attack.group() && d.attack != a.attack && d.score > a.score);
                if better {
                    also.push(a.attack.name().to_string());
                    a.attack = d.attack;
                    a.summary = d.summary.clone();
                    a.evidence.features = d.features.clone();
                } else if d.attack != a.attack {
                    also.push(d.attack.name().to_string());
                } else if d.score >= a.score {
                    a.summary = d.summary.clone();
                    a.evidence.features = d.features.clone();
                }
                also.extend(d.also.iter().map(|x| x.name().to_string()));
                also.sort();
                also.dedup();
                also.retain(|x| x != a.attack.name());
                a.evidence.also = also;
                a.score = a.score.max(d.score);
                a.severity = severity(a.attack, a.score);
                a.first_seen = a.first_seen.min(d.first_seen);
                a.last_seen = a.last_seen.max(d.last_seen);
                a.detections += 1;
                for ip in d.src_ips {
                    if !a.src_ips.contains(&ip) {
                        a.evidence.src_ip_count += 1;
                        if a.src_ips.len() < MAX_SRC_IPS {
                            a.src_ips.push(ip);
                        }
                    }
                }
                for e in d.endpoints {
                    if !a.endpoints.contains(&e) && a.endpoints.len() < 50 {
                        a.endpoints.push(e);
                    }
                }
                for u in d.sample_uids {
                    if a.evidence.sample_uids.len() < SAMPLE_UIDS && !a.evidence.sample_uids.contains(&u) {
                        a.evidence.sample_uids.push(u);
                    }
                }
                for l in d.linked {
                    if !a.evidence.linked.contains(&l) && a.evidence.linked.len() < 20 {
                        a.evidence.linked.push(l);
                    }
                }
                if let Some(m) = d.multivariate {
                    a.evidence.multivariate = Some(a.evidence.multivariate.unwrap_or(0.0).max(m));
                }
            }
            None => {
                if self.alerts.len() >= MAX_ALERTS {
                    self.dropped += 1;
                    return;
                }
                self.next_id += 1;
                let mut src_ips = d.src_ips;
                let count = src_ips.len();
                src_ips.truncate(MAX_SRC_IPS);
                let mut also: Vec<String> = d.also.iter().map(|a| a.name().to_string()).collect();
                also.sort();
                also.dedup();
                self.alerts.push(Alert {
                    id: format!("A{:06}", self.next_id),
                    attack: d.attack,
                    severity: severity(d.attack, d.score),
                    score: d.score,
                    first_seen: d.first_seen,
                    last_seen: d.last_seen,
                    detected_at: d.now,
                    src_ips,
                    identity: d.identity,
                    endpoints: d.endpoints,
                    summary: d.summary,
                    evidence: Evidence {
                        features: d.features,
                        also,
                        multivariate: d.multivariate,
                        sample_uids: d.sample_uids,
                        linked: d.linked,
                        src_ip_count: count,
                    },
                    detections: 1,
                });
            }
        }
    }

    /// Client addresses with an open incident at `now`, with its class.
    pub fn open_actors(&self, now: f64) -> BTreeMap<String, Attack> {
        let mut m = BTreeMap::new();
        for a in &self.alerts {
            if now - a.last_seen <= INCIDENT_GAP && a.identity.kind != "endpoint" {
                for ip in &a.src_ips {
                    m.entry(ip.clone()).and_modify(|x: &mut Attack| *x = (*x).min(a.attack)).or_insert(a.attack);
                }
            }
        }
        m
    }

    /// The alerts as JSON lines, in id order.
    pub fn to_jsonl(&self) -> String {
        let mut s = String::new();
        for a in &self.alerts {
            if let Ok(line) = serde_json::to_string(a) {
                s.push_str(&line);
                s.push('\n');
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(attack: Attack, ip: &str, now: f64) -> Detection {
        Detection {
            attack,
            also: vec![],
            score: 0.7,
            first_seen: now - 5.0,
            last_seen: now,
            now,
            src_ips: vec![ip.into()],
            identity: IdentityRef { kind: "ip".into(), value: ip.into() },
            endpoints: vec!["GET /a".into()],
            summary: format!("{} from {ip}", attack.name()),
            features: vec![],
            multivariate: None,
            sample_uids: vec!["C1".into()],
            linked: vec![],
        }
    }

    #[test]
    fn one_incident_one_alert() {
        let mut inc = Incidents::default();
        inc.add(det(Attack::ExtremeClientActivity, "1.1.1.1", 100.0));
        inc.add(det(Attack::ExtremeClientActivity, "1.1.1.1", 110.0));
        inc.add(det(Attack::CredentialStuffing, "1.1.1.1", 120.0));
        assert_eq!(inc.alerts.len(), 1);
        let a = &inc.alerts[0];
        assert_eq!(a.attack, Attack::CredentialStuffing);
        assert_eq!(a.evidence.also, ["extreme_client_activity"]);
        assert_eq!((a.first_seen, a.last_seen, a.detected_at, a.detections), (95.0, 120.0, 100.0, 3));
        // After a quiet gap, a new incident.
        inc.add(det(Attack::CredentialStuffing, "1.1.1.1", 120.0 + INCIDENT_GAP + 1.0));
        inc.add(det(Attack::Bola, "2.2.2.2", 130.0));
        assert_eq!(inc.alerts.len(), 3);
        assert!(inc.to_jsonl().lines().all(|l| l.contains("\"attack\"")));
    }

    #[test]
    fn names_are_the_documented_ones() {
        let names: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names.len(), 16);
        for a in Attack::ALL {
            assert_eq!(serde_json::to_string(a).unwrap(), format!("\"{}\"", a.name()));
            assert_eq!(Attack::from_name(a.name()), Some(*a));
        }
        for s in [Severity::Low, Severity::Medium, Severity::High, Severity::Critical] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
        }
    }
}
