//! A first-order Markov model of endpoint transitions within a session, with additive
//! smoothing: how surprising is it that a client went from endpoint A to endpoint B?
//! Surprisal is `-ln P(B | A)` in nats; an endpoint never seen as a destination gets the
//! smoothed floor, so probing for unknown paths is maximally surprising.
//!
//! Sessions are keyed by credential, else address and user agent, and end after
//! [`SESSION_IDLE`] seconds of silence. Bounded: [`MAX_PAIRS`] transition counts,
//! [`MAX_SESSIONS`] open sessions (oldest dropped, counted).

use super::bounded::BoundedLru;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const MAX_PAIRS: usize = 200_000;
pub const MAX_SESSIONS: usize = 200_000;
pub const SESSION_IDLE: f64 = 1800.0;
/// Additive smoothing: half a pseudo-count per possible destination.
const ALPHA: f64 = 0.5;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Transitions {
    /// (from, to) → count.
    pairs: HashMap<String, HashMap<String, u32>>,
    /// from → total count.
    from: HashMap<String, u32>,
    /// Endpoints seen as destinations (the vocabulary).
    vocabulary: HashMap<String, u32>,
    pair_count: usize,
    pub dropped: u64,
}

impl Transitions {
    pub fn learn(&mut self, from: &str, to: &str) {
        let known = self.pairs.get(from).is_some_and(|m| m.contains_key(to));
        if !known && self.pair_count >= MAX_PAIRS {
            self.dropped += 1;
            return;
        }
        if !known {
            self.pair_count += 1;
        }
        *self.pairs.entry(from.to_string()).or_default().entry(to.to_string()).or_default() += 1;
        *self.from.entry(from.to_string()).or_default() += 1;
        *self.vocabulary.entry(to.to_string()).or_default() += 1;
    }

    /// `-ln P(to | from)`.
    pub fn surprisal(&self, from: &str, to: &str) -> f64 {
        let v = (self.vocabulary.len() + 1) as f64;
        let n = self.pairs.get(from).and_then(|m| m.get(to)).copied().unwrap_or(0) as f64;
        let total = self.from.get(from).copied().unwrap_or(0) as f64;
        -((n + ALPHA) / (total + ALPHA * v)).ln()
    }

    pub fn is_empty(&self) -> bool {
        self.pair_count == 0
    }
}

/// Where each open session was last.
pub struct Sessions {
    last: BoundedLru<String, (String, f64)>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_budget(usize::MAX)
    }
}

fn session_heap(k: &String, v: &(String, f64)) -> usize {
    k.capacity() + v.0.capacity()
}

impl Sessions {
    /// At most [`MAX_SESSIONS`] sessions in about `budget` bytes, the least recently active
    /// let go of first.
    pub fn with_budget(budget: usize) -> Sessions {
        Sessions { last: BoundedLru::new(MAX_SESSIONS, budget, session_heap) }
    }

    /// Sessions let go of to stay within the bounds.
    pub fn dropped(&self) -> u64 {
        self.last.evicted
    }

    /// The estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.last.bytes()
    }

    /// Moves session `key` to `endpoint` at `ts`; returns the endpoint it came from, if the
    /// session was open.
    pub fn step(&mut self, key: &str, endpoint: &str, ts: f64) -> Option<String> {
        // One lookup per call: a new session starts as one last seen never.
        let never = || (String::new(), f64::NEG_INFINITY);
        self.last.update(key.to_string(), never, |last| {
            let (e, t) = std::mem::replace(last, (endpoint.to_string(), ts));
            (ts - t <= SESSION_IDLE).then_some(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_paths_are_less_surprising_than_unseen() {
        let mut t = Transitions::default();
        for _ in 0..50 {
            t.learn("login", "list");
            t.learn("list", "item");
        }
        t.learn("list", "checkout");
        assert!(t.surprisal("login", "list") < 0.2);
        assert!(t.surprisal("list", "checkout") > t.surprisal("list", "item"));
        assert!(t.surprisal("login", "delete") > 3.0);
        assert!(t.surprisal("never", "list").is_finite());
    }

    #[test]
    fn sessions_expire() {
        let mut s = Sessions::default();
        assert_eq!(s.step("a", "x", 0.0), None);
        assert_eq!(s.step("a", "y", 1.0).as_deref(), Some("x"));
        assert_eq!(s.step("a", "z", 1.0 + SESSION_IDLE + 1.0), None);
    }
}
