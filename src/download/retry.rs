//! When to try again: exponential backoff with jitter, and `Retry-After` (RFC 9110 §10.2.3)
//! in either form. Pure: the clock and the randomness are passed in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The retry policy of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// Retries after the first attempt (`--retries`, default 3).
    pub retries: u32,
    /// Wait before the first retry (`--retry-wait`, default 1 s); doubles each time.
    pub base: Duration,
    /// No computed wait is longer than this (default 30 s).
    pub max: Duration,
    /// A server's `Retry-After` is honoured up to this (default 120 s).
    pub max_retry_after: Duration,
}

impl Backoff {
    /// The wait before retry number `retry` (1-based). `jitter` is uniform in [0, 1): the
    /// wait is drawn from [exp/2, exp) ("equal jitter") so many clients that failed
    /// together do not come back together. A server's Retry-After wins when it is longer.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(
                1u32.checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.max);
        let jittered = exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        match retry_after {
            Some(server) => server.min(self.max_retry_after).max(jittered),
            None => jittered,
        }
    }
}

/// Parses a `Retry-After` value: delta-seconds or an IMF-fixdate HTTP-date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let rest = s.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = 1 + [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + (*h * 3600 + *m * 60 + *sec) as i64;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff {
        retries: 3,
        base: Duration::from_secs(1),
        max: Duration::from_secs(30),
        max_retry_after: Duration::from_secs(120),
    };

    #[test]
    fn backoff_doubles_within_equal_jitter_and_is_capped() {
        assert_eq!(POLICY.delay(1, None, 0.0), Duration::from_millis(500));
        assert_eq!(POLICY.delay(1, None, 0.999_999).as_millis(), 999);
        assert_eq!(POLICY.delay(3, None, 0.0), Duration::from_secs(2));
        assert_eq!(POLICY.delay(40, None, 0.0), Duration::from_secs(15));
        assert!(POLICY.delay(40, None, 1.0) <= POLICY.max);
    }

    #[test]
    fn retry_after_wins_when_longer_and_is_capped() {
        assert_eq!(
            POLICY.delay(1, Some(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
        assert_eq!(
            POLICY.delay(1, Some(Duration::from_secs(10_000)), 0.0),
            Duration::from_secs(120)
        );
        assert_eq!(
            POLICY.delay(3, Some(Duration::ZERO), 0.0),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn parses_retry_after_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 27), 20_784);
    }
}
