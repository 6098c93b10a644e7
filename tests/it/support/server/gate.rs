//! Gates: a reply that waits for the test rather than for the clock. `Reply::hold(&gate)`
//! keeps the answer back until the test calls `gate.open()`, so a test can have requests
//! in flight, or change the world between a request and its answer, with no timing margin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::script::{Reply, Route};
use super::{MAX_SLEEP, Shared};

/// How often a held reply looks at its gate.
const GATE_POLL: Duration = Duration::from_millis(2);

/// Closed until `open`; clones share one state. A held reply waits at most 120 s (and less
/// if the server is dropped), so a test that never opens its gate still ends.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<AtomicBool>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Lets every reply held by this gate go, now and from now on.
    pub fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Reply {
    /// Answer only once `gate` is open (after any `delay`). The request is logged and
    /// counted as in flight while it waits.
    pub fn hold(mut self, gate: &Gate) -> Reply {
        self.gate = Some(gate.clone());
        self
    }
}

impl Route {
    pub fn hold(self, gate: &Gate) -> Route {
        self.each(|r| r.hold(gate))
    }
}

impl Shared {
    /// Waits until `gate` opens; false if the server stopped (or 120 s passed) first.
    pub(super) fn wait_for_gate(&self, gate: &Gate) -> bool {
        let deadline = Instant::now() + MAX_SLEEP;
        while !gate.is_open() {
            if self.is_stopping() || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(GATE_POLL);
        }
        true
    }
}
