//! What detection has learned, as one serialisable value: baselines, endpoint norms,
//! ownership, transitions, the k-means model, distilled rules, incidents. The store keeps
//! it as JSON in the inventory database, so a restart or a second replay resumes it.
//!
//! Bounded: [`MAX_ENDPOINTS`] endpoint norms, [`MAX_CLIENTS`] known clients per endpoint,
//! plus the bounds of each part.

use super::alerts::Incidents;
use super::baseline::{Baseline, Reservoir, SelfBaseline};
use super::identity::{IdentityKind, Links};
use super::model::{Clusters, Rule};
use super::sequence::Transitions;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const MAX_ENDPOINTS: usize = 20_000;
pub const MAX_CLIENTS: usize = 20_000;

/// What is normal for one endpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EndpointNorm {
    pub calls: u64,
    pub resp: Reservoir,
    pub req: Reservoir,
    pub latency: Reservoir,
    pub array: Reservoir,
    /// Whether the endpoint has issued tokens or cookies at login.
    pub issuer: bool,
    /// Object id → (first owner, whether a second owner has read it).
    pub objects: HashMap<String, (String, bool)>,
    /// Client address → when it first called this endpoint.
    pub clients: HashMap<String, f64>,
    /// Whether objects belong to one owner each, as decided when training ended: frozen so
    /// that an attacker reading everyone's objects cannot teach that they are shared.
    pub scoped: Option<bool>,
}

impl EndpointNorm {
    /// Records that `owner` read object `id`.
    pub fn object(&mut self, id: &str, owner: &str, cap: usize) {
        let room = self.objects.len() < cap;
        match self.objects.get_mut(id) {
            Some((first, shared)) => *shared |= first != owner,
            None if room => {
                self.objects.insert(id.to_string(), (owner.to_string(), false));
            }
            None => {}
        }
    }

    /// Whether the endpoint's objects each belong to one user: the decision frozen at the
    /// end of training, else what the objects seen so far say.
    pub fn owned(&self) -> bool {
        self.scoped.unwrap_or_else(|| self.owner_scoped())
    }

    /// Whether the endpoint's objects each belong to one user: at least 20 objects seen,
    /// at most one in ten read by more than one identity.
    pub fn owner_scoped(&self) -> bool {
        let n = self.objects.len();
        n >= 20 && self.objects.values().filter(|(_, s)| *s).count() * 10 <= n
    }

    /// Notes client `ip` at `ts`; returns whether it is new to this endpoint.
    pub fn client(&mut self, ip: &str, ts: f64) -> bool {
        if self.clients.contains_key(ip) {
            return false;
        }
        if self.clients.len() < MAX_CLIENTS {
            self.clients.insert(ip.to_string(), ts);
        }
        true
    }

    /// Whether `ip` first called this endpoint at or after `since` (unknown clients, past
    /// the bound, count as new).
    pub fn new_since(&self, ip: &str, since: f64) -> bool {
        self.clients.get(ip).is_none_or(|t| *t >= since)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub started: Option<f64>,
    pub trained_at: Option<f64>,
    pub records: u64,
    /// `kind/window` → the population baseline of each feature, in [`super::features::FEATURES`] order.
    pub population: HashMap<String, Vec<Baseline>>,
    /// `endpoint/window/key` → the endpoint's own history of calls, clients, new clients.
    pub endpoints: HashMap<String, SelfBaseline>,
    pub norms: HashMap<String, EndpointNorm>,
    pub transitions: Transitions,
    pub clusters: Option<Clusters>,
    pub rules: Vec<Rule>,
    pub incidents: Incidents,
    /// Feature vectors of the shortest window (address identities) with their label
    /// (0 normal, else attack priority + 1), for re-fitting and distilling.
    pub samples: Vec<(Vec<f64>, usize)>,
    samples_seen: u64,
}

impl State {
    /// Keeps a window's vector for the models: every flagged one, and `keep`-selected normal
    /// ones, replacing at random once full.
    pub fn sample(&mut self, v: Vec<f64>, label: usize, keep: bool, cap: usize) {
        if !keep {
            return;
        }
        self.samples_seen += 1;
        if self.samples.len() < cap {
            self.samples.push((v, label));
        } else {
            let j = (self.samples_seen.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as usize % cap;
            // Flagged windows are rare; keep them over normal ones.
            if self.samples[j].1 == 0 || label != 0 {
                self.samples[j] = (v, label);
            }
        }
    }
}

/// What is saved.
#[derive(Deserialize)]
pub struct Saved {
    pub state: State,
    pub graph: Vec<((IdentityKind, String), Links)>,
    pub self_baselines: Vec<(String, SelfBaseline)>,
}

/// What is saved, borrowed from the detector: saving copies nothing but the JSON.
#[derive(Serialize)]
pub struct SavedRef<'a> {
    pub state: &'a State,
    pub graph: Vec<(&'a (IdentityKind, String), &'a Links)>,
    pub self_baselines: Vec<(&'a String, &'a SelfBaseline)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_learned() {
        let mut n = EndpointNorm::default();
        for i in 0..30 {
            n.object(&i.to_string(), &format!("user{i}"), 100);
        }
        assert!(n.owner_scoped());
        for i in 0..30 {
            n.object(&i.to_string(), "someone-else", 100);
        }
        assert!(!n.owner_scoped());
    }
}
