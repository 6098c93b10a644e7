//! Limits per path, as real servers and CDNs impose them on a client that opens several
//! connections for one file: how many requests a path answers at once (one more gets a
//! status such as 429, or its connection closed), and a resource that changes (body and
//! ETag) once N of its body bytes were served. Counts the most requests each path had at once.
//!
//! A per-connection cap needs nothing here: `throttle` (see `faults.rs`) paces each response
//! from its first byte with no burst, and a connection carries one response at a time, so a
//! throttled route caps every connection at that rate however many requests it carries
//! (unlike nginx's `limit_rate`, which lets each request's first second through).

use std::collections::HashMap;

use super::script::{Reply, Route};
use super::{Server, Shared};

/// What a path does beyond its script.
#[derive(Clone, Debug, Default)]
pub(super) struct Limits {
    /// At most this many requests at once; the one over gets `Over`.
    at_once: Option<(usize, Over)>,
    /// Once this many body bytes of the path were served, requests get this reply instead.
    change: Option<(u64, Box<Reply>)>,
}

/// What a request over `Route::at_most_at_once` gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// This status with `Retry-After: 1` and an empty body (429, 503).
    Status(u16),
    /// Its connection closed without an answer, as a server at its connection limit does.
    Close,
}

impl Route {
    /// At most `n` requests to this path are answered at once; a request beyond that gets
    /// `over`. Concurrent means from request head read to response written.
    pub fn at_most_at_once(mut self, n: usize, over: Over) -> Route {
        self.limits.at_once = Some((n, over));
        self
    }

    /// Once `after` body bytes of this path were served (all requests together), every
    /// later request gets `then` instead of the script: a file replaced on the server while
    /// a client is downloading it. `Reply::file` of other bytes also has another ETag.
    pub fn changes_after(mut self, after: u64, then: Reply) -> Route {
        self.limits.change = Some((after, Box::new(then)));
        self
    }
}

impl Server {
    /// The most requests to `path` (without query) being answered at one moment.
    pub fn max_concurrent_requests_to(&self, path: &str) -> usize {
        let state = self.shared.state();
        state.paths.most.get(path).copied().unwrap_or(0)
    }

    /// Requests to `path` turned away by `Route::at_most_at_once`.
    pub fn requests_over_limit(&self, path: &str) -> usize {
        let state = self.shared.state();
        state.paths.over.get(path).copied().unwrap_or(0)
    }
}

/// Requests per path now, the most at once, and those turned away.
#[derive(Default)]
pub(super) struct PathCounts {
    now: HashMap<String, usize>,
    most: HashMap<String, usize>,
    over: HashMap<String, usize>,
}

/// A request counted on its path until dropped.
pub(super) struct OnPath<'a> {
    shared: &'a Shared,
    path: String,
}

impl Drop for OnPath<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        if let Some(n) = state.paths.now.get_mut(&self.path) {
            *n -= 1;
        }
    }
}

/// Counts the request on `path` and applies the path's limits to its scripted `reply`:
/// the reply to send (`None`: close the connection without one) and the count's guard.
pub(super) fn admit<'a>(
    shared: &'a Shared,
    path: &str,
    limits: &Limits,
    reply: Reply,
) -> (Option<Reply>, OnPath<'a>) {
    let mut state = shared.state();
    let now = {
        let n = state.paths.now.entry(path.to_owned()).or_insert(0);
        *n += 1;
        *n
    };
    let most = state.paths.most.entry(path.to_owned()).or_insert(0);
    *most = (*most).max(now);
    let served = state.body_bytes_sent.get(path).copied().unwrap_or(0);
    let mut reply = Some(reply);
    if let Some((after, then)) = &limits.change
        && served >= *after
    {
        reply = Some((**then).clone());
    }
    if let Some((n, over)) = limits.at_once
        && now > n
    {
        *state.paths.over.entry(path.to_owned()).or_insert(0) += 1;
        reply = match over {
            Over::Status(code) => Some(Reply::status(code).header("Retry-After", "1")),
            Over::Close => None,
        };
    }
    drop(state);
    let guard = OnPath {
        shared,
        path: path.to_owned(),
    };
    (reply, guard)
}
