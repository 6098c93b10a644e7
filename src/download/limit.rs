//! `--limit-rate`: one token bucket shared by every download thread, so the run as a whole
//! stays under the rate however many files are in flight. Pure arithmetic on a clock the
//! caller passes in; the copy loop does the sleeping.

use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate in bytes per second, as `--limit-rate` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BytesPerSecond(pub NonZeroU64);

impl BytesPerSecond {
    /// Parses `500K`, `10M`, `1.5G` or a plain number of bytes. K, M and G are binary
    /// multiples (1024), as in curl and wget; a trailing `B` or `/s` is allowed.
    pub fn parse(s: &str) -> Result<BytesPerSecond, String> {
        let bad = || format!("'{s}' is not a rate (expected e.g. 500K, 10M, 1.5G)");
        let t = s.trim();
        let t = t.strip_suffix("/s").unwrap_or(t);
        let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
        let (number, unit) = match t.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
            _ => (t, ' '),
        };
        let scale: f64 = match unit {
            ' ' => 1.0,
            'K' => 1024.0,
            'M' => 1024.0 * 1024.0,
            'G' => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        let value: f64 = number.trim().parse().map_err(|_| bad())?;
        let bytes = value * scale;
        if !(1.0..=1e15).contains(&bytes) {
            return Err(format!("'{s}' must be at least 1 byte a second"));
        }
        Ok(BytesPerSecond(
            NonZeroU64::new(bytes as u64).expect("at least 1"),
        ))
    }
}

/// The shared bucket. Bytes are taken on credit: a reader that takes more than is there
/// drives the level below zero and is told how long to wait, so every thread pays for
/// exactly what it read, in the order it read it, and the long-run rate is exact.
#[derive(Debug)]
pub(crate) struct RateLimit {
    bytes_per_sec: f64,
    /// Most bytes the bucket holds: a tenth of a second's worth. An idle spell buys at
    /// most this much burst.
    capacity: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may go now (negative: bytes already taken on credit).
    level: f64,
    /// When `level` was last brought up to date.
    at: Instant,
}

impl RateLimit {
    /// A full bucket at `now`.
    pub(crate) fn new(rate: BytesPerSecond, now: Instant) -> RateLimit {
        let bytes_per_sec = rate.0.get() as f64;
        let capacity = (bytes_per_sec / 10.0).max(1.0);
        RateLimit {
            bytes_per_sec,
            capacity,
            bucket: Mutex::new(Bucket {
                level: capacity,
                at: now,
            }),
        }
    }

    /// How many bytes one read should ask for (at most): about a tenth of a second's
    /// worth, so that a slow rate gives short waits between small writes rather than long
    /// waits between big ones, and progress moves smoothly.
    pub(crate) fn read_size(&self, buf_len: usize) -> usize {
        (self.capacity as usize).clamp(1, buf_len.max(1))
    }

    /// Takes `bytes` at `now` and returns how long the caller must wait before it writes
    /// them (zero while there is credit).
    pub(crate) fn take(&self, bytes: u64, now: Instant) -> Duration {
        let mut b = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A clock read before another thread's later one counts as no time passing.
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.level = (b.level + elapsed * self.bytes_per_sec).min(self.capacity);
        b.at = b.at.max(now);
        b.level -= bytes as f64;
        if b.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.level / self.bytes_per_sec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> u64 {
        BytesPerSecond::parse(s).unwrap().0.get()
    }

    #[test]
    fn parses_rates_with_binary_suffixes() {
        assert_eq!(rate("2048"), 2048);
        assert_eq!(rate("500K"), 500 * 1024);
        assert_eq!(rate("500k"), 500 * 1024);
        assert_eq!(rate("10M"), 10 * 1024 * 1024);
        assert_eq!(rate("1.5G"), 3 * 512 * 1024 * 1024);
        assert_eq!(rate("64KB"), 64 * 1024);
        assert_eq!(rate("1M/s"), 1024 * 1024);
        for bad in ["", "0", "0K", "-1M", "ten", "5X", "K", "nan", "inf"] {
            assert!(BytesPerSecond::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_full_bucket_lets_a_tenth_of_a_second_through_then_charges_for_the_rest() {
        let t0 = Instant::now();
        let limit = RateLimit::new(BytesPerSecond(NonZeroU64::new(1000).unwrap()), t0);
        assert_eq!(limit.take(100, t0), Duration::ZERO);
        // 100 more bytes on credit: 0.1 s at 1000 B/s.
        assert_eq!(limit.take(100, t0), Duration::from_millis(100));
        // Another 300: the debt is now 400 bytes.
        assert_eq!(limit.take(300, t0), Duration::from_millis(400));
    }

    #[test]
    fn time_refills_the_bucket_but_never_past_its_capacity() {
        let t0 = Instant::now();
        let limit = RateLimit::new(BytesPerSecond(NonZeroU64::new(1000).unwrap()), t0);
        assert_eq!(limit.take(600, t0), Duration::from_millis(500));
        // Half a second repays the debt exactly.
        assert_eq!(
            limit.take(0, t0 + Duration::from_millis(500)),
            Duration::ZERO
        );
        // An hour idle buys only the capacity (100 bytes).
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(limit.take(100, later), Duration::ZERO);
        assert_eq!(limit.take(50, later), Duration::from_millis(50));
    }

    #[test]
    fn many_threads_share_one_rate() {
        // Eight readers taking 1 KiB each at the same instant wait 0.0, 1, 2, … 7 × the
        // time one KiB takes: their total is paid for once, in the order they asked.
        let t0 = Instant::now();
        let limit = RateLimit::new(BytesPerSecond(NonZeroU64::new(10240).unwrap()), t0);
        let waits: Vec<Duration> = (0..8).map(|_| limit.take(1024, t0)).collect();
        let step = Duration::from_secs_f64(1024.0 / 10240.0);
        for (i, w) in waits.iter().enumerate() {
            let want = step * i as u32;
            assert!(w.abs_diff(want) < Duration::from_micros(10), "{i}: {w:?}");
        }
    }

    #[test]
    fn an_earlier_clock_reading_counts_as_no_time() {
        let t0 = Instant::now();
        let limit = RateLimit::new(BytesPerSecond(NonZeroU64::new(1000).unwrap()), t0);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(limit.take(100, t1), Duration::ZERO);
        assert_eq!(limit.take(100, t0), Duration::from_millis(100));
    }

    #[test]
    fn reads_are_sized_to_a_tenth_of_a_second() {
        let at = |bps: u64| {
            RateLimit::new(
                BytesPerSecond(NonZeroU64::new(bps).unwrap()),
                Instant::now(),
            )
            .read_size(256 * 1024)
        };
        assert_eq!(at(500 * 1024), 51_200);
        assert_eq!(at(100 * 1024 * 1024), 256 * 1024);
        assert_eq!(at(5), 1);
    }
}
