//! Waiting that a cancel flag (set on SIGINT/SIGTERM, or when a server stops) cuts short.
//! One sleep for every wait in the program: retries' backoff, host pauses, pacing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a set flag may go unnoticed.
const SLICE: Duration = Duration::from_millis(50);

/// Sleeps until `due` in short slices; false (at once) when `cancel` is set.
pub(crate) fn sleep_until(due: Instant, cancel: &AtomicBool) -> bool {
    loop {
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        std::thread::sleep((due - now).min(SLICE));
    }
}

/// `sleep_until(now + wait)`.
pub(crate) fn sleep(wait: Duration, cancel: &AtomicBool) -> bool {
    sleep_until(Instant::now() + wait, cancel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_flag_ends_the_sleep_at_once_and_says_so() {
        let cancel = AtomicBool::new(true);
        assert!(!sleep(Duration::from_secs(3600), &cancel));
        let cancel = AtomicBool::new(false);
        assert!(sleep(Duration::ZERO, &cancel));
        assert!(sleep_until(
            Instant::now() + Duration::from_millis(5),
            &cancel
        ));
    }
}
