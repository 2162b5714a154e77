//! Scoring alerts against labels: per attack class, recall, precision and detection delay,
//! plus the share of benign clients that were alerted on.
//!
//! - A label is one attack: its class, source addresses and time span.
//! - Recall counts (label, source address) pairs: a pair is detected when an alert of the
//!   same class lists the address and overlaps the span (extended by [`LATE`] seconds, as
//!   windows see an attack after it starts). A DDoS of 40 bots is 40 pairs.
//! - Precision counts alerts: an alert of class C is right when it matches a label of
//!   class C by address and time.
//! - Delay is, per label, the first matching alert's `detected_at` minus the label's start.
//! - Benign clients alerted: the labels' benign addresses listed in any alert.

use super::alerts::{Alert, Attack};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Seconds after a label's end during which an alert still counts for it.
pub const LATE: f64 = 600.0;

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Label {
    pub attack: String,
    pub src_ips: Vec<String>,
    pub start: f64,
    pub end: f64,
    #[serde(default)]
    pub tool: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Labels {
    pub attacks: Vec<Label>,
    /// Addresses of clients known to be benign.
    #[serde(default)]
    pub benign_ips: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ClassScore {
    pub attack: String,
    pub labels: usize,
    pub pairs: usize,
    pub pairs_detected: usize,
    pub recall: f64,
    pub alerts: usize,
    pub alerts_correct: usize,
    /// `None` when the class raised no alert.
    pub precision: Option<f64>,
    pub median_delay: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub classes: Vec<ClassScore>,
    pub recall: f64,
    pub precision: f64,
    pub benign_clients: usize,
    pub benign_clients_alerted: usize,
    pub benign_alerted_share: f64,
    pub median_delay: Option<f64>,
    /// Alerts whose class no label has.
    pub unlabeled_alerts: usize,
}

fn overlaps(a: &Alert, l: &Label) -> bool {
    a.first_seen <= l.end + LATE && a.last_seen >= l.start
}

fn matches(a: &Alert, l: &Label) -> bool {
    a.attack.name() == l.attack && overlaps(a, l) && a.src_ips.iter().any(|ip| l.src_ips.contains(ip))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

pub fn evaluate(alerts: &[Alert], labels: &Labels) -> Report {
    let mut classes: BTreeMap<String, ClassScore> = BTreeMap::new();
    for a in Attack::ALL {
        classes.insert(a.name().to_string(), ClassScore { attack: a.name().to_string(), ..Default::default() });
    }
    let mut delays_all = Vec::new();
    let mut delays: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for l in &labels.attacks {
        let c = classes.entry(l.attack.clone()).or_insert_with(|| ClassScore { attack: l.attack.clone(), ..Default::default() });
        c.labels += 1;
        for ip in &l.src_ips {
            c.pairs += 1;
            if alerts.iter().any(|a| a.attack.name() == l.attack && overlaps(a, l) && a.src_ips.contains(ip)) {
                c.pairs_detected += 1;
            }
        }
        if let Some(d) = alerts.iter().filter(|a| matches(a, l)).map(|a| (a.detected_at - l.start).max(0.0)).reduce(f64::min) {
            delays.entry(l.attack.clone()).or_default().push(d);
            delays_all.push(d);
        }
    }
    let mut unlabeled = 0;
    for a in alerts {
        let c = classes.entry(a.attack.name().to_string()).or_default();
        c.alerts += 1;
        if labels.attacks.iter().any(|l| matches(a, l)) {
            c.alerts_correct += 1;
        }
        if !labels.attacks.iter().any(|l| l.attack == a.attack.name()) {
            unlabeled += 1;
        }
    }
    let (mut pairs, mut found, mut n_alerts, mut correct) = (0, 0, 0, 0);
    for (name, c) in classes.iter_mut() {
        c.recall = if c.pairs > 0 { c.pairs_detected as f64 / c.pairs as f64 } else { 0.0 };
        c.precision = (c.alerts > 0).then(|| c.alerts_correct as f64 / c.alerts as f64);
        c.median_delay = delays.remove(name).and_then(median);
        pairs += c.pairs;
        found += c.pairs_detected;
        n_alerts += c.alerts;
        correct += c.alerts_correct;
    }
    let benign: BTreeSet<&String> = labels.benign_ips.iter().collect();
    let alerted: BTreeSet<&String> = alerts.iter().flat_map(|a| a.src_ips.iter()).filter(|ip| benign.contains(ip)).collect();
    Report {
        classes: classes.into_values().filter(|c| c.labels > 0 || c.alerts > 0).collect(),
        recall: if pairs > 0 { found as f64 / pairs as f64 } else { 0.0 },
        precision: if n_alerts > 0 { correct as f64 / n_alerts as f64 } else { 0.0 },
        benign_clients: benign.len(),
        benign_clients_alerted: alerted.len(),
        benign_alerted_share: if benign.is_empty() { 0.0 } else { alerted.len() as f64 / benign.len() as f64 },
        median_delay: median(delays_all),
        unlabeled_alerts: unlabeled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::alerts::{Evidence, IdentityRef, Severity};

    fn alert(attack: Attack, ips: &[&str], first: f64, detected: f64) -> Alert {
        Alert {
            id: "A1".into(),
            attack,
            severity: Severity::High,
            score: 0.9,
            first_seen: first,
            last_seen: first + 30.0,
            detected_at: detected,
            src_ips: ips.iter().map(|s| s.to_string()).collect(),
            identity: IdentityRef { kind: "ip".into(), value: ips[0].into() },
            endpoints: vec![],
            summary: String::new(),
            evidence: Evidence::default(),
            detections: 1,
        }
    }

    #[test]
    fn scores_recall_precision_delay_and_benign() {
        let labels = Labels {
            attacks: vec![
                Label { attack: "bola".into(), src_ips: vec!["1.1.1.1".into()], start: 100.0, end: 200.0, tool: None },
                Label {
                    attack: "targeted_ddos".into(),
                    src_ips: vec!["2.0.0.1".into(), "2.0.0.2".into()],
                    start: 100.0,
                    end: 200.0,
                    tool: None,
                },
            ],
            benign_ips: vec!["9.9.9.1".into(), "9.9.9.2".into()],
        };
        let alerts = vec![
            alert(Attack::Bola, &["1.1.1.1"], 110.0, 120.0),
            alert(Attack::TargetedDdos, &["2.0.0.1", "9.9.9.1"], 130.0, 160.0),
            alert(Attack::DataScraping, &["9.9.9.2"], 10.0, 20.0),
        ];
        let r = evaluate(&alerts, &labels);
        let bola = r.classes.iter().find(|c| c.attack == "bola").unwrap();
        assert_eq!((bola.recall, bola.precision, bola.median_delay), (1.0, Some(1.0), Some(20.0)));
        let ddos = r.classes.iter().find(|c| c.attack == "targeted_ddos").unwrap();
        assert_eq!(ddos.recall, 0.5);
        assert_eq!((r.benign_clients_alerted, r.benign_alerted_share), (2, 1.0));
        assert_eq!(r.unlabeled_alerts, 1);
        assert!((r.precision - 2.0 / 3.0).abs() < 1e-9);
    }
}
