//! Which calls have their bodies analysed. Every call of a kind while the kind is new,
//! then a shrinking share: after [`FIRST`] calls, one in 2, then one in 4 from twice as
//! many, and so on, so each doubling of traffic adds [`FIRST`] bodies. A kind is the
//! method, host and path shape (literal segments, and the kind of each value segment), so
//! `/users/1` and `/users/2` share a schedule. The choice depends only on the order of
//! calls: a replay analyses the same bodies whatever the thread count.
//!
//! Parsing JSON bodies is the inventory's one cost that grows with bytes rather than calls;
//! the schedule keeps it from setting the pace of the sensor on busy endpoints, while new and
//! rare endpoints are always seen in full. Counts that come from bodies (fields, sensitive
//! data) are out of [`super::EndpointStats::bodies`] calls, not all calls.

use super::path::split_extension;
use super::segment::{classify, SegmentKind};
use super::sketch::stable_hash;
use std::collections::HashMap;

/// Calls of each kind analysed in full, and the number added by each doubling after.
pub const FIRST: u64 = 128;
/// Kinds tracked one by one; calls of kinds beyond it share one schedule.
const MAX_KINDS: usize = 65_536;

#[derive(Debug, Default)]
pub struct BodySampler {
    calls: HashMap<u64, u64>,
    /// Calls of kinds that did not fit in the table.
    overflow: u64,
}

impl BodySampler {
    /// Whether to analyse the bodies of this call.
    pub fn take(&mut self, host: &str, method: &str, segments: &[String]) -> bool {
        let kind = kind_of(host, method, segments);
        let room = self.calls.len() < MAX_KINDS;
        let n = match self.calls.get_mut(&kind) {
            Some(n) => {
                *n += 1;
                *n
            }
            None if room => {
                self.calls.insert(kind, 1);
                1
            }
            None => {
                self.overflow += 1;
                self.overflow
            }
        };
        due(n)
    }
}

/// The `n`th call of a kind (from 1): all up to `2 × FIRST`, then every `2^k`th call
/// between `FIRST × 2^k` and `FIRST × 2^(k+1)`.
fn due(n: u64) -> bool {
    let ratio = n / FIRST;
    if ratio < 2 {
        return true;
    }
    let step = 1u64 << ratio.ilog2();
    n % step == 0
}

fn kind_of(host: &str, method: &str, segments: &[String]) -> u64 {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(method.as_bytes());
    key.push(b' ');
    key.extend_from_slice(host.as_bytes());
    for s in segments {
        key.push(b'/');
        // `{id}.json` as the tree sees it: the stem is the value.
        let (stem, ext) = split_extension(s).unwrap_or((s, ""));
        match classify(stem) {
            SegmentKind::Literal => key.extend_from_slice(s.as_bytes()),
            // A value segment keys on its kind alone. A literal spelt the same would only
            // share a schedule; the key is never stored.
            k => {
                key.extend_from_slice(&[b'{', k as u8, b'}']);
                key.extend_from_slice(ext.as_bytes());
            }
        }
    }
    stable_hash(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_doubling_adds_first() {
        let taken = |n: u64| (1..=n).filter(|i| due(*i)).count() as u64;
        assert_eq!(taken(FIRST), FIRST);
        assert_eq!(taken(2 * FIRST - 1), 2 * FIRST - 1);
        let per_doubling = taken(8 * FIRST) - taken(4 * FIRST);
        assert!((FIRST / 2..=FIRST * 2).contains(&per_doubling), "{per_doubling}");
        // A million calls of one kind: a few thousand bodies.
        let m = taken(1_000_000);
        assert!(m < 4_000, "{m}");
    }

    #[test]
    fn values_share_a_kind() {
        let mut s = BodySampler::default();
        let seg = |id: &str| vec!["users".to_string(), id.to_string()];
        for i in 0..10_000 {
            s.take("h", "GET", &seg(&i.to_string()));
        }
        for i in 0..100 {
            s.take("h", "GET", &seg(&format!("{i}.json")));
        }
        assert_eq!(s.calls.len(), 2);
        // A new literal path is a new kind, analysed from its first call.
        assert!(s.take("h", "GET", &seg("search")));
    }
}
