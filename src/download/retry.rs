//! When to try again: exponential backoff with jitter, and `Retry-After` (RFC 9110 §10.2.3)
//! as seconds or as an HTTP-date in any of its three forms. Pure: the clock and the
//! randomness are passed in.

use std::time::{Duration, SystemTime};

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

/// Parses a `Retry-After` value: delta-seconds, or an HTTP-date in any of the three forms
/// RFC 9110 §5.6.7 has recipients accept (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`,
/// obsolete RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`, asctime `Sun Nov  6 08:49:37 1994`).
/// A date in the past means now. The caller caps the wait (`Backoff::max_retry_after`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long values saturate; the cap applies later.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

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
    fn parses_retry_after_seconds_and_all_three_http_date_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        for form in [
            "Sun, 06 Nov 1994 08:50:07 GMT",
            "Sunday, 06-Nov-94 08:50:07 GMT",
            "Sun Nov  6 08:50:07 1994",
        ] {
            assert_eq!(
                parse_retry_after(form, now),
                Some(Duration::from_secs(30)),
                "{form}"
            );
        }
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }
}
