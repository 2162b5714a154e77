//! Robust baselines: what a feature's values look like in normal traffic, and how far a
//! new value is from them.
//!
//! - Population baselines keep a uniform reservoir of [`RESERVOIR`] values per feature and
//!   summarise it by median, MAD and upper quantiles. A value deviates when its robust z
//!   score passes the configured threshold *and* it exceeds the 99.9th percentile of what
//!   was seen: both learned, neither a constant about any attack.
//! - Per-identity baselines are exponentially weighted mean and absolute deviation of an
//!   identity's own windows, so a client that is always busy is judged against itself.
//! - Seasonal: per hour of day, once a feature has [`SEASONAL_MIN`] values in that hour
//!   (a day or more of history); before that, the whole-day baseline.
//!
//! Scales never collapse to zero: a count moves by at least 1, a ratio by 5% of its
//! median, so an all-zero history does not make the first nonzero value infinite.

use serde::{Deserialize, Serialize};

pub const RESERVOIR: usize = 2048;
pub const SEASONAL_MIN: u64 = 200;

/// How a feature's scale is floored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Event counts: at least 1.
    Count,
    /// Continuous magnitudes (bytes, ms, ratios): at least 5% of the median, and 1.
    Magnitude,
    /// Average surprisal in nats: at least 0.25.
    Nats,
}

/// A summary of a reservoir.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub n: u64,
    pub median: f64,
    pub mad: f64,
    pub q90: f64,
    pub q999: f64,
    pub max: f64,
}

impl Summary {
    pub fn scale(&self, kind: Scale) -> f64 {
        let spread = (1.4826 * self.mad).max((self.q90 - self.median) / 1.2816);
        let floor = match kind {
            Scale::Count => 1.0,
            Scale::Magnitude => (0.05 * self.median.abs()).max(1.0),
            Scale::Nats => 0.25,
        };
        spread.max(floor)
    }

    pub fn z(&self, x: f64, kind: Scale) -> f64 {
        (x - self.median) / self.scale(kind)
    }
}

/// A uniform sample of everything added, with a deterministic generator so that replays
/// give the same baselines.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Reservoir {
    values: Vec<f32>,
    seen: u64,
    state: u64,
    #[serde(skip)]
    cached: Option<Summary>,
    /// Values added since `cached` was computed.
    #[serde(skip)]
    stale: u32,
}

/// Values a lazily summarised reservoir may take before its summary is recomputed: a norm
/// read on every call would otherwise sort its reservoir on every call.
const LAZY_REFRESH: u32 = 64;

impl Reservoir {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.seen += 1;
        self.stale = self.stale.saturating_add(1);
        if self.values.len() < RESERVOIR {
            self.values.push(v as f32);
        } else {
            let j = self.next() % self.seen;
            if (j as usize) < RESERVOIR {
                self.values[j as usize] = v as f32;
            }
        }
    }

    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The summary of everything added so far.
    pub fn summary(&mut self) -> Summary {
        match self.cached {
            Some(s) if self.stale == 0 => s,
            _ => self.refresh(),
        }
    }

    /// The summary, recomputed once [`LAZY_REFRESH`] values or a sixteenth of all seen
    /// (whichever is more) have arrived since: a long history moves slowly, and sorting the
    /// reservoir for every judgement would cost more than the judgement.
    pub fn summary_lazy(&mut self) -> Summary {
        let limit = u64::from(LAZY_REFRESH).max(self.seen / 16);
        match self.cached {
            Some(s) if u64::from(self.stale) < limit && self.seen > u64::from(LAZY_REFRESH) => s,
            _ => self.refresh(),
        }
    }

    fn refresh(&mut self) -> Summary {
        let s = summarize(&self.values, self.seen);
        self.cached = Some(s);
        self.stale = 0;
        s
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn summarize(values: &[f32], seen: u64) -> Summary {
    let mut v: Vec<f64> = values.iter().map(|x| f64::from(*x)).collect();
    v.sort_by(f64::total_cmp);
    let median = quantile(&v, 0.5);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    Summary {
        n: seen,
        median,
        mad: quantile(&dev, 0.5),
        q90: quantile(&v, 0.9),
        q999: quantile(&v, 0.999),
        max: v.last().copied().unwrap_or(0.0),
    }
}

/// A feature's population baseline, whole-day and per hour of day.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub all: Reservoir,
    pub hourly: Vec<Reservoir>,
}

impl Baseline {
    pub fn add(&mut self, v: f64, ts: f64) {
        self.all.add(v);
        if self.hourly.len() != 24 {
            self.hourly = vec![Reservoir::default(); 24];
        }
        self.hourly[hour(ts)].add(v);
    }

    /// The summary to judge a value at `ts` by: the hour's once it has enough history.
    /// Lazily refreshed (see [`Reservoir::summary_lazy`]).
    pub fn summary(&mut self, ts: f64) -> Summary {
        if let Some(h) = self.hourly.get_mut(hour(ts)) {
            if h.seen() >= SEASONAL_MIN && self.all.seen() >= SEASONAL_MIN * 24 {
                let s = h.summary_lazy();
                let a = self.all.summary_lazy();
                // Seasonal only raises the bar at busy hours, never lowers it below the
                // whole-day tail (a quiet hour is not a reason to alert on a normal load).
                return Summary { q999: s.q999.max(a.q999), ..s };
            }
        }
        self.all.summary_lazy()
    }
}

fn hour(ts: f64) -> usize {
    ((ts.max(0.0) as u64 / 3600) % 24) as usize
}

/// An identity's own history of one feature vector: EWMA mean and absolute deviation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SelfBaseline {
    pub windows: u32,
    pub mean: Vec<f32>,
    pub dev: Vec<f32>,
}

/// Weight of a new window in an identity's own baseline.
const ALPHA: f32 = 0.05;
/// Windows before an identity's own baseline is used.
pub const SELF_MIN_WINDOWS: u32 = 30;

impl SelfBaseline {
    pub fn add(&mut self, x: &[f64]) {
        if self.mean.len() != x.len() {
            self.mean = x.iter().map(|v| *v as f32).collect();
            self.dev = vec![0.0; x.len()];
            self.windows = 1;
            return;
        }
        for (i, v) in x.iter().enumerate() {
            let v = *v as f32;
            let d = (v - self.mean[i]).abs();
            self.mean[i] += ALPHA * (v - self.mean[i]);
            self.dev[i] += ALPHA * (d - self.dev[i]);
        }
        self.windows = self.windows.saturating_add(1);
    }

    /// z of `x` for feature `i` against this identity's own history, if it has enough.
    pub fn z(&self, i: usize, x: f64, floor: f64) -> Option<f64> {
        if self.windows < SELF_MIN_WINDOWS || i >= self.mean.len() {
            return None;
        }
        let scale = (1.253 * f64::from(self.dev[i])).max(floor);
        Some((x - f64::from(self.mean[i])) / scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_summary_ignores_outliers() {
        let mut r = Reservoir::default();
        for i in 0..1000 {
            r.add(10.0 + f64::from(i % 5));
        }
        r.add(1e9);
        let s = r.summary();
        assert_eq!(s.median, 12.0);
        assert!(s.mad <= 1.0 + 1e-9);
        assert!(s.z(1e9, Scale::Count) > 1e6);
        assert!(s.z(13.0, Scale::Count) < 1.0);
    }

    #[test]
    fn zero_history_has_a_floor() {
        let mut r = Reservoir::default();
        for _ in 0..500 {
            r.add(0.0);
        }
        let s = r.summary();
        assert_eq!(s.z(3.0, Scale::Count), 3.0);
    }

    #[test]
    fn reservoir_stays_bounded_and_uniform() {
        let mut r = Reservoir::default();
        for i in 0..100_000 {
            r.add(f64::from(i));
        }
        assert_eq!(r.values.len(), RESERVOIR);
        let m = r.summary().median;
        assert!((m - 50_000.0).abs() < 5_000.0, "{m}");
    }

    #[test]
    fn self_baseline_judges_a_busy_client_by_itself() {
        let mut b = SelfBaseline::default();
        for _ in 0..40 {
            b.add(&[100.0]);
        }
        assert!(b.z(0, 110.0, 1.0).unwrap() < 20.0);
        assert!(b.z(0, 1000.0, 1.0).unwrap() > 100.0);
    }
}
