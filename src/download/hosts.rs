//! Per-host politeness: `--max-per-host` slots and the pause a 429/503 with Retry-After
//! asks of a whole host. Keyed by `host:port`; knows nothing about files or the terminal.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::url::Url;

/// `--max-per-host N`: at most N downloads at once per `host:port`. A thread whose next
/// job is on a busy host waits for a slot there. Only hosts with a download running have
/// an entry, so the map stays as small as `-j`.
pub(crate) struct HostSlots {
    max: NonZeroUsize,
    busy: Mutex<HashMap<String, usize>>,
    freed: Condvar,
}

/// A download's place on its host, given back on drop.
pub(crate) struct HostSlot<'a> {
    slots: &'a HostSlots,
    host: String,
}

impl HostSlots {
    pub(crate) fn new(max: NonZeroUsize) -> HostSlots {
        HostSlots {
            max,
            busy: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
        }
    }

    /// Waits until `host` has a free slot and takes it.
    pub(crate) fn take(&self, host: String) -> HostSlot<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while busy.get(&host).is_some_and(|n| *n >= self.max.get()) {
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *busy.entry(host.clone()).or_insert(0) += 1;
        HostSlot { slots: self, host }
    }

    /// A slot on `host` if one is free now: an extra connection of a split file never
    /// waits for one (it is an optimisation; the file's first connection goes on).
    pub(crate) fn try_take(&self, host: &str) -> Option<HostSlot<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let n = busy.entry(host.to_string()).or_insert(0);
        if *n >= self.max.get() {
            return None;
        }
        *n += 1;
        Some(HostSlot {
            slots: self,
            host: host.to_string(),
        })
    }
}

impl Drop for HostSlot<'_> {
    fn drop(&mut self) {
        let mut busy = self
            .slots
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = busy.get_mut(&self.host) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.host);
            }
        }
        // Waiters may be waiting for other hosts: wake them all to look (at most -j).
        self.slots.freed.notify_all();
    }
}

/// A 429 or 503 with Retry-After pauses its whole host: no download starts there, from any
/// thread, until the wait the server asked for (capped as a retry's is) is over. Downloads
/// already in their retry loop keep their own waits. An entry goes when a thread finds its
/// pause over, so the map holds little more than the hosts paused now.
#[derive(Default)]
pub(crate) struct HostPauses {
    until: Mutex<HashMap<String, Instant>>,
}

impl HostPauses {
    pub(crate) fn pause(&self, host: &str, until: Instant) {
        let mut map = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        let at = map.entry(host.to_string()).or_insert(until);
        *at = (*at).max(until);
    }

    /// Waits out `host`'s pause, if it has one; false when cancelled meanwhile.
    pub(crate) fn wait(&self, host: &str, cancel: &AtomicBool) -> bool {
        loop {
            let until = {
                let mut map = self.until.lock().unwrap_or_else(PoisonError::into_inner);
                match map.get(host) {
                    Some(until) if *until > Instant::now() => *until,
                    Some(_) => {
                        map.remove(host);
                        return true;
                    }
                    None => return true,
                }
            };
            // Sleep a slice at most: another thread may extend the pause meanwhile.
            let slice = Instant::now() + Duration::from_millis(50);
            if !crate::cancel::sleep_until(until.min(slice), cancel) {
                return false;
            }
        }
    }
}

/// `scheme://user@Host:port/path` ─► `host:port`, with the scheme's default port, so
/// `http://h/` and `http://H:80/` count as one host.
pub(crate) fn host_key(url: &str) -> String {
    // The same origin rule as redirects and credentials use; a URL without a scheme
    // (never produced by the list parser) keys as itself.
    Url::parse(url).map_or_else(|| url.to_ascii_lowercase(), |u| u.origin().host_port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_name_host_and_port_with_the_default_port_filled_in() {
        assert_eq!(host_key("http://Example.org/a"), "example.org:80");
        assert_eq!(host_key("https://example.org"), "example.org:443");
        assert_eq!(
            host_key("HTTPS://u:p@example.org:8443/x?y#z"),
            "example.org:8443"
        );
        assert_eq!(host_key("http://[::1]/"), "[::1]:80");
        assert_eq!(host_key("http://[::1]:8080/"), "[::1]:8080");
        assert_eq!(host_key("http://h?q"), "h:80");
    }

    #[test]
    fn host_slots_hold_at_most_max_per_host_and_free_on_drop() {
        let slots = HostSlots::new(NonZeroUsize::new(2).unwrap());
        let a1 = slots.take("a:80".into());
        let _a2 = slots.take("a:80".into());
        let _b1 = slots.take("b:80".into());
        assert_eq!(slots.busy.lock().unwrap().get("a:80"), Some(&2));
        std::thread::scope(|s| {
            let waiter = s.spawn(|| drop(slots.take("a:80".into())));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiter.is_finished(), "a third slot on a:80 waits");
            drop(a1);
            waiter.join().unwrap();
        });
        assert_eq!(slots.busy.lock().unwrap().get("a:80"), Some(&1));
        let _a3 = slots.try_take("a:80").expect("a:80 has a free slot again");
        assert!(
            slots.try_take("a:80").is_none(),
            "no waiting for an extra slot"
        );
        assert!(slots.try_take("c:80").is_some());
    }
}
