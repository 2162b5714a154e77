//! Mergeable summaries of unbounded streams, in bounded space, that survive a round trip
//! through the inventory database: quantiles (a log-bucketed histogram in the manner of
//! DDSketch, 1% relative error) and distinct counts (exact up to 64, then HyperLogLog with
//! 1024 registers, about 3% error). Merging two sketches gives the sketch of both streams,
//! which is what lets a second replay add to an inventory.

use std::collections::BTreeMap;

/// Bucket growth factor: every value is reported within 1% of itself.
const GAMMA: f64 = 1.02;

/// Quantiles of non-negative values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quantiles {
    zeros: u64,
    buckets: BTreeMap<i32, u64>,
}

impl Quantiles {
    pub fn add(&mut self, v: f64) {
        if v.is_nan() || v <= 0.0 || !v.is_finite() {
            // Zero, negative (never expected) and NaN all count as zero.
            self.zeros += 1;
            return;
        }
        let k = (v.ln() / GAMMA.ln()).ceil().clamp(-2000.0, 4000.0) as i32;
        *self.buckets.entry(k).or_default() += 1;
    }

    pub fn count(&self) -> u64 {
        self.zeros + self.buckets.values().sum::<u64>()
    }

    pub fn merge(&mut self, o: &Quantiles) {
        self.zeros += o.zeros;
        for (k, n) in &o.buckets {
            *self.buckets.entry(*k).or_default() += n;
        }
    }

    /// The `q`-quantile (0..=1), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        // The rank of the quantile, 0-based, as nearest-rank does it.
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1) - 1;
        if rank < self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        for (k, c) in &self.buckets {
            seen += c;
            if seen > rank {
                // The bucket (gamma^(k-1), gamma^k]; its midpoint in log space.
                return Some(2.0 * GAMMA.powi(*k) / (1.0 + GAMMA));
            }
        }
        None
    }

    /// Compact bytes for the database.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.buckets.len() * 12);
        out.extend_from_slice(&self.zeros.to_le_bytes());
        out.extend_from_slice(&(self.buckets.len() as u32).to_le_bytes());
        for (k, c) in &self.buckets {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    /// The inverse of [`Quantiles::to_bytes`]; `None` for bytes it did not write.
    pub fn from_bytes(b: &[u8]) -> Option<Quantiles> {
        let zeros = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
        let n = u32::from_le_bytes(b.get(8..12)?.try_into().ok()?) as usize;
        if b.len() != 12 + n * 12 {
            return None;
        }
        let mut buckets = BTreeMap::new();
        for i in 0..n {
            let at = 12 + i * 12;
            let k = i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?);
            let c = u64::from_le_bytes(b.get(at + 4..at + 12)?.try_into().ok()?);
            buckets.insert(k, c);
        }
        Some(Quantiles { zeros, buckets })
    }
}

/// Registers of the HyperLogLog once the exact set is full.
const HLL_BITS: u32 = 10;
const HLL_M: usize = 1 << HLL_BITS;
/// Distinct values counted exactly before switching to HyperLogLog.
const EXACT: usize = 64;

/// Count of distinct values, given their [`stable_hash`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Distinct {
    Exact(Vec<u64>),
    Hll(Box<[u8; HLL_M]>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(Vec::new())
    }
}

impl Distinct {
    pub fn add(&mut self, h: u64) {
        match self {
            Distinct::Exact(v) => {
                if let Err(at) = v.binary_search(&h) {
                    if v.len() < EXACT {
                        v.insert(at, h);
                    } else {
                        let mut regs = Box::new([0u8; HLL_M]);
                        for x in v.iter() {
                            hll_add(&mut regs, *x);
                        }
                        hll_add(&mut regs, h);
                        *self = Distinct::Hll(regs);
                    }
                }
            }
            Distinct::Hll(regs) => hll_add(regs, h),
        }
    }

    pub fn merge(&mut self, o: &Distinct) {
        match o {
            Distinct::Exact(v) => {
                for h in v {
                    self.add(*h);
                }
            }
            Distinct::Hll(theirs) => {
                let mut regs = match std::mem::take(self) {
                    Distinct::Hll(r) => r,
                    Distinct::Exact(v) => {
                        let mut r = Box::new([0u8; HLL_M]);
                        for h in v {
                            hll_add(&mut r, h);
                        }
                        r
                    }
                };
                for (a, b) in regs.iter_mut().zip(theirs.iter()) {
                    *a = (*a).max(*b);
                }
                *self = Distinct::Hll(regs);
            }
        }
    }

    pub fn estimate(&self) -> u64 {
        match self {
            Distinct::Exact(v) => v.len() as u64,
            Distinct::Hll(regs) => {
                let m = HLL_M as f64;
                let sum: f64 = regs.iter().map(|r| 2f64.powi(-i32::from(*r))).sum();
                let zeros = regs.iter().filter(|r| **r == 0).count();
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let e = alpha * m * m / sum;
                // Linear counting while many registers are empty (the small-range correction).
                let e = if e <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { e };
                e.round() as u64
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Distinct::Exact(v) => {
                let mut out = vec![0u8];
                for h in v {
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            Distinct::Hll(regs) => {
                let mut out = vec![1u8];
                out.extend_from_slice(&regs[..]);
                out
            }
        }
    }

    pub fn from_bytes(b: &[u8]) -> Option<Distinct> {
        match b.split_first()? {
            (0, rest) if rest.len() % 8 == 0 && rest.len() / 8 <= EXACT => {
                let mut v: Vec<u64> = rest.chunks_exact(8).filter_map(|c| c.try_into().ok().map(u64::from_le_bytes)).collect();
                v.sort_unstable();
                v.dedup();
                Some(Distinct::Exact(v))
            }
            (1, rest) if rest.len() == HLL_M => {
                let mut regs = Box::new([0u8; HLL_M]);
                regs.copy_from_slice(rest);
                Some(Distinct::Hll(regs))
            }
            _ => None,
        }
    }
}

fn hll_add(regs: &mut [u8; HLL_M], h: u64) {
    let idx = (h >> (64 - HLL_BITS)) as usize;
    let rest = h << HLL_BITS;
    let rank = (rest.leading_zeros() + 1).min(64 - HLL_BITS + 1) as u8;
    if let Some(r) = regs.get_mut(idx) {
        *r = (*r).max(rank);
    }
}

/// A 64-bit hash that is the same on every run and build: sketches in the database are
/// merged with new ones, so their hashes must agree. FNV-1a, then a splitmix64 finish for
/// avalanche.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_one_percent() {
        let mut q = Quantiles::default();
        for i in 1..=10_000 {
            q.add(f64::from(i));
        }
        for (p, want) in [(0.5, 5000.0), (0.95, 9500.0), (0.99, 9900.0), (1.0, 10_000.0)] {
            let got = q.quantile(p).unwrap();
            assert!((got - want).abs() / want < 0.011, "p{p}: {got} vs {want}");
        }
        assert_eq!(Quantiles::default().quantile(0.5), None);
        let mut z = Quantiles::default();
        z.add(0.0);
        z.add(f64::NAN);
        z.add(5.0);
        assert_eq!(z.quantile(0.5), Some(0.0));
    }

    #[test]
    fn quantiles_merge_and_round_trip() {
        let (mut a, mut b, mut all) = (Quantiles::default(), Quantiles::default(), Quantiles::default());
        for i in 0..1000 {
            let v = f64::from(i) * 1.7;
            if i % 3 == 0 { a.add(v) } else { b.add(v) }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(Quantiles::from_bytes(&a.to_bytes()), Some(a));
        assert_eq!(Quantiles::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn distinct_exact_then_estimated() {
        let mut d = Distinct::default();
        for i in 0..50u64 {
            d.add(stable_hash(&i.to_le_bytes()));
            d.add(stable_hash(&i.to_le_bytes()));
        }
        assert_eq!(d.estimate(), 50);
        for i in 50..20_000u64 {
            d.add(stable_hash(&i.to_le_bytes()));
        }
        let e = d.estimate() as f64;
        assert!((e - 20_000.0).abs() / 20_000.0 < 0.08, "{e}");
        assert_eq!(Distinct::from_bytes(&d.to_bytes()), Some(d.clone()));

        // Merging overlapping streams counts the union.
        let (mut a, mut b) = (Distinct::default(), Distinct::default());
        for i in 0..3000u64 {
            a.add(stable_hash(&i.to_le_bytes()));
        }
        for i in 2000..5000u64 {
            b.add(stable_hash(&i.to_le_bytes()));
        }
        a.merge(&b);
        let e = a.estimate() as f64;
        assert!((e - 5000.0).abs() / 5000.0 < 0.08, "{e}");
        assert_eq!(Distinct::from_bytes(&[7]), None);
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: changing it would break merging with existing databases.
        assert_eq!(stable_hash(b"apitap"), 0x44a8_0438_613c_d8b1);
        assert_eq!(stable_hash(b""), 0xf52a_15e9_a9b5_e89b);
    }
}
