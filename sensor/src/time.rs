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

/// (year, month, day, hour, minute, second) in UTC of Unix seconds, without a date library
/// (Howard Hinnant's civil-from-days algorithm).
pub fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `2026-11-21T10:00:00.250Z` of Unix seconds (milliseconds kept).
pub fn rfc3339_millis(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as i64;
    let (y, m, d, hh, mm, ss) = civil(ms.div_euclid(1000));
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:03}Z", ms.rem_euclid(1000))
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
