//! Packet time. Every timestamp in apitap is the capture time of a packet, never the wall
//! clock, so a replay gives the same records whenever it runs.

use std::fmt;

/// Nanoseconds since the Unix epoch, as stamped by the capture.
///
/// i64 nanoseconds cover the years 1678 to 2262, which is every capture we will see; pcap
/// headers with absurd values saturate rather than wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    /// From seconds and a sub-second part in nanoseconds.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    pub fn from_secs_f64(secs: f64) -> Self {
        Timestamp((secs * 1e9) as i64)
    }

    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Seconds as a float, rounded to the microsecond as Zeek logs them.
    pub fn as_secs_f64(self) -> f64 {
        (self.0 as f64 / 1_000.0).round() / 1_000_000.0
    }

    /// Signed difference `self - earlier` in seconds.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1e9
    }

    pub fn saturating_add_secs(self, secs: u64) -> Self {
        Timestamp(self.0.saturating_add((secs as i64).saturating_mul(1_000_000_000)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        write!(f, "{secs}.{:06}", nanos / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_float() {
        let t = Timestamp::from_parts(1_258_567_191, 405_770_000);
        assert_eq!(t.to_string(), "1258567191.405770");
        assert!((t.as_secs_f64() - 1_258_567_191.405_77).abs() < 1e-6);
        assert_eq!(Timestamp::from_parts(2, 0).secs_since(Timestamp::from_parts(1, 500_000_000)), 0.5);
    }

    #[test]
    fn saturates() {
        assert_eq!(Timestamp::from_parts(i64::MAX, 5).0, i64::MAX);
    }
}
