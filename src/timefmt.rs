//! UTC calendar times without a date library: epoch seconds to `2026-11-21T10:00:00Z` and
//! back (Howard Hinnant's civil-from-days algorithms), and `--since` arguments.

pub use sensor::time::civil;

/// Days since 1970-01-01 of a calendar date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-21T10:00:00Z`.
pub fn rfc3339(secs: f64) -> String {
    let (y, m, d, hh, mm, ss) = civil(secs.floor() as i64);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// A point in time for `--since`: `2026-11-21`, `2026-11-21T10:00:00Z` (or with a space,
/// seconds optional), or a duration back from `now` (`24h`, `7d`, `30m`).
pub fn parse_since(s: &str, now: f64) -> Result<f64, String> {
    let s = s.trim();
    if let Ok(d) = crate::cli::parse_duration(s) {
        return Ok(now - d.as_secs_f64());
    }
    let bad = || format!("'{s}' is not a time (examples: 2026-11-21, 2026-11-21T10:00:00Z, 24h, 7d)");
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|t| t.bytes().all(|b| b.is_ascii_digit())).and_then(|t| t.parse::<i64>().ok());
    let (y, m, d) = (num(0..4).ok_or_else(bad)?, num(5..7).ok_or_else(bad)?, num(8..10).ok_or_else(bad)?);
    if s.as_bytes().get(4) != Some(&b'-') || s.as_bytes().get(7) != Some(&b'-') || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if s.len() > 10 {
        let t = s[10..].trim_start_matches(['T', 't', ' ']).trim_end_matches(['Z', 'z']);
        let parts: Vec<&str> = t.split(':').collect();
        let field = |i: usize, max: i64| -> Result<i64, String> {
            match parts.get(i) {
                None if i == 2 => Ok(0),
                Some(p) => p.parse::<i64>().ok().filter(|v| (0..max).contains(v)).ok_or_else(bad),
                None => Err(bad()),
            }
        };
        if parts.len() > 3 {
            return Err(bad());
        }
        secs += field(0, 24)? * 3600 + field(1, 60)? * 60 + field(2, 61)?;
    }
    Ok(secs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_263_415.9), "2026-11-21T12:16:55Z");
        assert_eq!(parse_since("2026-11-21T09:36:55Z", 0.0), Ok(1_795_253_815.0));
        assert_eq!(parse_since("2026-11-21", 0.0), Ok(1_795_219_200.0));
        assert_eq!(parse_since("2026-11-21 09:36", 0.0), Ok(1_795_253_760.0));
        assert_eq!(parse_since("24h", 100_000.0), Ok(13_600.0));
        for bad in ["yesterday", "2026-13-01", "2026-11-21T25:00", "2026/11/21", "2026-11-21T1:2:3:4", ""] {
            assert!(parse_since(bad, 0.0).is_err(), "{bad}");
        }
    }
}
