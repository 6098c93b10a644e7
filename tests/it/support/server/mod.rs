//! A scripted, fault-injecting HTTP/1.1 server on 127.0.0.1:0 for the integration tests: each
//! path answers from its script, and every request, connection and body byte is counted.
//! Std only, a thread per connection. Knows nothing about fetchpool or the harness.
//! This file holds the running server (start, observations, shutdown); `script.rs` routes and
//! scripts replies, `ranges.rs` serves files with Range/If-Range, `faults.rs` breaks them,
//! `gate.rs` holds them until the test says, `connection.rs` reads requests and
//! `response.rs` writes answers.
//!
//! ```ignore
//! let srv = Server::start();
//! srv.route("/a.bin", Route::file(payload(1, 1 << 20)).expect(1));
//! srv.route("/b.bin", Route::script(vec![Reply::status(503).header("Retry-After", "1"), Reply::file(b"ok")]));
//! // ... run fetchpool against srv.url("/a.bin") ...
//! assert_eq!(srv.requests("/b.bin"), 2);
//! ```

mod connection;
mod faults;
mod gate;
mod ranges;
mod response;
mod script;

use std::collections::HashMap;
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use connection::accept_connections;
pub use gate::Gate;
use script::Scripted;
pub use script::{Reply, Request, Route};

/// The longest any scripted `delay`, `stall` or `hold` waits, whatever the script says.
const MAX_SLEEP: Duration = Duration::from_secs(120);

/// How long `drop` waits for the server's threads before leaving them behind.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long an observation waits for responses still being written (see `Server::settle`).
const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// The running server. Dropping it stops it, then panics if a route's `expect` went unmet.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stopping: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Scripted>,
    /// Routes since replaced by `Server::route`: their expectations still count.
    retired: Vec<(String, Scripted)>,
    log: Vec<Request>,
    body_bytes_sent: HashMap<String, u64>,
    connections_opened: usize,
    connections_open: usize,
    max_connections_open: usize,
    requests_in_flight: usize,
    max_requests_in_flight: usize,
    /// Clones of the open connections' sockets, so `drop` can shut them and wake their threads.
    sockets: HashMap<usize, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1 on a free port and starts accepting.
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("test server cannot bind 127.0.0.1");
        let addr = listener.local_addr().expect("test server has no address");
        let shared = Arc::new(Shared::default());
        let acceptor = thread::Builder::new()
            .name("test-server-accept".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept_connections(&listener, &shared)
            })
            .expect("cannot start the test server's accept thread");
        Server {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path` (a `/` is put in front if missing).
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://{}{slash}{path}", self.addr)
    }

    /// Scripts `path` (without query), replacing what it answered before. Requests to a path
    /// with no route get 404. A whole URL (`http://host/path`) scripts what the server
    /// answers as a proxy, which is asked in absolute form.
    pub fn route(&self, path: &str, route: Route) {
        assert!(
            path.starts_with('/') || path.starts_with("http://"),
            "route paths start with '/' (or are absolute URLs, for proxy tests): {path:?}"
        );
        let mut state = self.shared.state();
        let fresh = Scripted { route, served: 0 };
        if let Some(old) = state.routes.insert(path.to_owned(), fresh) {
            state.retired.push((path.to_owned(), old));
        }
    }

    /// Requests received for `path`: matched without the query, or with it if `path` has one.
    pub fn requests(&self, path: &str) -> usize {
        let state = self.shared.state();
        state
            .log
            .iter()
            .filter(|r| r.path == path || r.route_path() == path)
            .count()
    }

    /// Body bytes written to clients for `path` (without query), over all its requests;
    /// headers and chunk framing not included. Waits for responses in flight (see `settle`).
    pub fn body_bytes_sent(&self, path: &str) -> u64 {
        self.settle();
        let state = self.shared.state();
        state.body_bytes_sent.get(path).copied().unwrap_or(0)
    }

    /// Body bytes written to clients, all paths together.
    pub fn total_body_bytes_sent(&self) -> u64 {
        self.settle();
        self.shared.state().body_bytes_sent.values().sum()
    }

    /// Every request so far, in the order they arrived.
    pub fn log(&self) -> Vec<Request> {
        self.shared.state().log.clone()
    }

    /// Connections accepted so far. Fewer than the requests means keep-alive reuse.
    pub fn connections_opened(&self) -> usize {
        self.shared.state().connections_opened
    }

    pub fn max_concurrent_connections(&self) -> usize {
        self.shared.state().max_connections_open
    }

    /// The most requests being answered at one moment (from request head read to response
    /// written).
    pub fn max_concurrent_requests(&self) -> usize {
        self.shared.state().max_requests_in_flight
    }

    /// Waits (at most 2 s) until no response is being written. A client can read the last
    /// bytes of a body before the server thread that wrote them has counted them; once the
    /// client has exited, this makes byte counts final. Only byte counts need it (a request
    /// is logged before any answer goes out), so only they may take up to 2 s while a
    /// download is running.
    fn settle(&self) {
        let deadline = Instant::now() + SETTLE_LIMIT;
        while self.shared.state().requests_in_flight > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // accept() only returns for a connection, so make one.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let deadline = Instant::now() + STOP_GRACE;
        if let Some(acceptor) = self.acceptor.take() {
            join_by(acceptor, deadline);
        }
        // Shutting a socket wakes its thread from a blocked read or write.
        let (sockets, threads) = {
            let mut state = self.shared.state();
            (mem::take(&mut state.sockets), mem::take(&mut state.threads))
        };
        for socket in sockets.values() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        for thread in threads {
            join_by(thread, deadline);
        }
        if thread::panicking() {
            return;
        }
        let state = self.shared.state();
        let retired = state.retired.iter().map(|(p, s)| (p, s));
        let mut unmet: Vec<String> = (state.routes.iter().chain(retired))
            .filter_map(|(path, s)| match s.route.expect {
                Some(n) if s.served < n => Some(format!(
                    "{path}: expected at least {n} request(s), got {}",
                    s.served
                )),
                _ => None,
            })
            .collect();
        unmet.sort();
        drop(state);
        assert!(
            unmet.is_empty(),
            "test server: unmet expectations:\n  {}",
            unmet.join("\n  ")
        );
    }
}

/// Joins `thread` if it ends by `deadline`; otherwise leaves it behind rather than hang.
fn join_by(thread: JoinHandle<()>, deadline: Instant) {
    while !thread.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(2));
    }
    if thread.is_finished() {
        let _ = thread.join();
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take every later observation down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sleeps until `until` or until the server stops; says whether it slept the whole way.
    fn sleep_until(&self, until: Instant) -> bool {
        loop {
            if self.is_stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }

    fn nap(&self, pause: Duration) -> bool {
        self.sleep_until(Instant::now() + pause.min(MAX_SLEEP))
    }

    fn count_body_bytes(&self, path: &str, n: usize) {
        *self
            .state()
            .body_bytes_sent
            .entry(path.to_owned())
            .or_default() += n as u64;
    }
}
