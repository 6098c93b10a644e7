//! A scripted, fault-injecting HTTP/1.1 server on 127.0.0.1:0 for the integration tests: each
//! path answers from its script, and every request, connection and body byte is counted.
//! Std only, a thread per connection. Knows nothing about fetchpool or the harness.
//!
//! ```ignore
//! let srv = Server::start();
//! srv.route("/a.bin", Route::file(payload(1, 1 << 20)).expect(1));
//! srv.route("/b.bin", Route::script(vec![Reply::status(503).header("Retry-After", "1"), Reply::file(b"ok")]));
//! // ... run fetchpool against srv.url("/a.bin") ...
//! assert_eq!(srv.requests("/b.bin"), 2);
//! ```

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a connection may sit without sending a request before the server closes it, so no
/// connection thread outlives a test that forgot about it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one write may block on a client that stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest any scripted `delay` or `stall` sleeps, whatever the script says.
const MAX_SLEEP: Duration = Duration::from_secs(120);

/// Bodies go out in writes this large: the server must keep up with tens of MiB per test.
const WRITE_CHUNK: usize = 256 * 1024;

/// A request head larger than this is refused (400) and the connection closed.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long `drop` waits for the server's threads before leaving them behind.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long an observation waits for responses still being written (see `Server::settle`).
const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// The Last-Modified of every file route unless a test sets another: fixed, so tests are
/// repeatable, and long past, so no client thinks the resource is still changing.
const DEFAULT_LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent, query included.
    pub path: String,
    /// Header names as the client spelled them, values trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    /// Which connection carried it: 0 for the first the server accepted, and so on.
    pub connection: usize,
}

impl Request {
    /// The first value of header `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query: what routes are looked up by.
    fn route_path(&self) -> &str {
        route_path(&self.path)
    }
}

fn route_path(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// What a path answers, request after request: the replies of its script in order, the last
/// one repeating. Builder methods on a `Route` apply to every reply in it.
#[derive(Clone, Debug)]
pub struct Route {
    replies: Vec<Reply>,
    /// At least this many requests must arrive before the server drops.
    expect: Option<usize>,
}

impl Route {
    /// A static file: see `Reply::file`.
    pub fn file(bytes: impl AsRef<[u8]>) -> Route {
        Route::script(vec![Reply::file(bytes)])
    }

    /// Each request takes the next reply; the last one repeats for every request after it.
    pub fn script(replies: Vec<Reply>) -> Route {
        assert!(
            !replies.is_empty(),
            "a route's script needs at least one reply"
        );
        Route {
            replies,
            expect: None,
        }
    }

    /// The test fails (the server panics on drop) unless at least `n` requests reach this
    /// route. Not checked when the test is already panicking.
    pub fn expect(mut self, n: usize) -> Route {
        self.expect = Some(n);
        self
    }

    pub fn etag(self, etag: Option<&str>) -> Route {
        self.each(|r| r.etag(etag))
    }

    pub fn last_modified(self, date: Option<&str>) -> Route {
        self.each(|r| r.last_modified(date))
    }

    pub fn ignore_range(self) -> Route {
        self.each(Reply::ignore_range)
    }

    pub fn throttle(self, bytes_per_sec: u64) -> Route {
        self.each(|r| r.throttle(bytes_per_sec))
    }

    pub fn chunked(self) -> Route {
        self.each(Reply::chunked)
    }

    pub fn refuse_head(self, status: u16) -> Route {
        self.each(|r| r.refuse_head(status))
    }

    pub fn header(self, name: &str, value: &str) -> Route {
        self.each(|r| r.header(name, value))
    }

    pub fn delay(self, pause: Duration) -> Route {
        self.each(|r| r.delay(pause))
    }

    fn each(mut self, f: impl Fn(Reply) -> Reply) -> Route {
        self.replies = self.replies.into_iter().map(f).collect();
        self
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    kind: Kind,
    /// Extra response headers; one named like a header the server writes replaces it, so a
    /// test can make the server lie (e.g. about Content-Length).
    headers: Vec<(String, String)>,
    delay: Duration,
    /// File replies only: `None` sends no ETag.
    etag: Option<String>,
    /// File replies only: `None` sends no Last-Modified.
    last_modified: Option<String>,
    /// File replies only: answer every request with the whole file, as if Range were unknown.
    ignore_range: bool,
    /// File replies only: the status a HEAD request gets instead of the headers.
    refuse_head: Option<u16>,
    throttle_bytes_per_sec: Option<u64>,
    chunked: bool,
}

#[derive(Clone, Debug)]
enum Kind {
    /// A fixed status and body, whatever the request.
    Body { status: u16, body: Arc<[u8]> },
    /// A resource: Range, If-Range, HEAD and validators honoured, with an optional fault.
    File { body: Arc<[u8]>, cut: Option<Cut> },
    /// Close the connection without a word.
    Drop,
}

/// A fault at an offset into a file's bytes. The offset counts from the start of the file,
/// not of the response, so it means the same whether or not the request had a Range.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Send the bytes before `at`, then close the connection mid-body.
    Truncate { at: usize },
    /// Send the bytes before `at`, pause, then send the rest.
    Stall { at: usize, pause: Duration },
}

impl Reply {
    fn new(kind: Kind) -> Reply {
        Reply {
            kind,
            headers: Vec::new(),
            delay: Duration::ZERO,
            etag: None,
            last_modified: None,
            ignore_range: false,
            refuse_head: None,
            throttle_bytes_per_sec: None,
            chunked: false,
        }
    }

    /// `code` with an empty body.
    pub fn status(code: u16) -> Reply {
        Reply::body(code, [])
    }

    /// `code` with this body, whatever the method or Range.
    pub fn body(code: u16, bytes: impl AsRef<[u8]>) -> Reply {
        Reply::new(Kind::Body {
            status: code,
            body: Arc::from(bytes.as_ref()),
        })
    }

    /// A file: 200 with Content-Length, an ETag (a quoted hash of the bytes) and a fixed
    /// Last-Modified; `Range: bytes=N-`, `N-M` and `-N` give 206 with Content-Range, a range
    /// past the end gives 416 with `Content-Range: bytes */LEN`; `If-Range` must match the
    /// ETag (strongly) or the date exactly, else the whole file comes back with 200.
    pub fn file(bytes: impl AsRef<[u8]>) -> Reply {
        Reply::file_with_cut(bytes.as_ref(), None)
    }

    /// Like `file`, but the connection closes once the bytes before offset `at` are sent
    /// (Content-Length still promises the whole).
    pub fn truncate(bytes: impl AsRef<[u8]>, at: usize) -> Reply {
        Reply::file_with_cut(bytes.as_ref(), Some(Cut::Truncate { at }))
    }

    /// Like `file`, but the server pauses for `pause` (at most 120 s, and less if the server
    /// is dropped) once the bytes before offset `at` are sent, then sends the rest.
    pub fn stall(bytes: impl AsRef<[u8]>, at: usize, pause: Duration) -> Reply {
        Reply::file_with_cut(bytes.as_ref(), Some(Cut::Stall { at, pause }))
    }

    fn file_with_cut(bytes: &[u8], cut: Option<Cut>) -> Reply {
        let mut reply = Reply::new(Kind::File {
            body: Arc::from(bytes),
            cut,
        });
        reply.etag = Some(format!("\"{:016x}\"", content_hash(bytes)));
        reply.last_modified = Some(DEFAULT_LAST_MODIFIED.to_owned());
        reply
    }

    /// A redirect (301, 302, 303, 307, 308) to `location`, sent as given.
    pub fn redirect(code: u16, location: &str) -> Reply {
        Reply::status(code).header("Location", location)
    }

    /// Closes the connection without sending anything.
    pub fn drop_connection() -> Reply {
        Reply::new(Kind::Drop)
    }

    /// The ETag to send (quoted for you unless it starts with `"` or `W/`); `None` sends none.
    pub fn etag(mut self, etag: Option<&str>) -> Reply {
        self.etag = etag.map(|e| {
            if e.starts_with('"') || e.starts_with("W/") {
                e.to_owned()
            } else {
                format!("\"{e}\"")
            }
        });
        self
    }

    /// The Last-Modified date to send, as given; `None` sends none.
    pub fn last_modified(mut self, date: Option<&str>) -> Reply {
        self.last_modified = date.map(str::to_owned);
        self
    }

    /// Serve the whole file with 200 whatever the Range, and send no `Accept-Ranges`.
    pub fn ignore_range(mut self) -> Reply {
        self.ignore_range = true;
        self
    }

    /// Send the body at about this rate (in slices every 50 ms).
    pub fn throttle(mut self, bytes_per_sec: u64) -> Reply {
        assert!(
            bytes_per_sec > 0,
            "a throttle of 0 bytes/s would never finish"
        );
        self.throttle_bytes_per_sec = Some(bytes_per_sec);
        self
    }

    /// Send the body with `Transfer-Encoding: chunked` and no Content-Length.
    pub fn chunked(mut self) -> Reply {
        self.chunked = true;
        self
    }

    /// Answer HEAD with `status` and no headers of the file (e.g. 405, as some CDNs do).
    pub fn refuse_head(mut self, status: u16) -> Reply {
        self.refuse_head = Some(status);
        self
    }

    /// An extra response header; it replaces a header of the same name the server would send.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Wait this long (at most 120 s) after reading the request, before answering.
    pub fn delay(mut self, pause: Duration) -> Reply {
        self.delay = pause;
        self
    }
}

/// A cheap 64-bit hash for ETags: different test payloads must get different tags, and tens of
/// MiB must hash quickly even unoptimised, so it eats a word at a time.
fn content_hash(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = (hash ^ u64::from_le_bytes(word)).wrapping_mul(0x0000_0100_0000_01b3);
        hash ^= hash >> 29;
    }
    hash
}

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

struct Scripted {
    route: Route,
    served: usize,
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

fn accept_connections(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.is_stopping() {
            return;
        }
        let Ok(stream) = stream else {
            // Out of descriptors, say: wait a little rather than spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let mut state = shared.state();
        let id = state.connections_opened;
        state.connections_opened += 1;
        state.connections_open += 1;
        state.max_connections_open = state.max_connections_open.max(state.connections_open);
        if let Ok(clone) = stream.try_clone() {
            state.sockets.insert(id, clone);
        }
        state.threads.retain(|t| !t.is_finished());
        let spawned = thread::Builder::new()
            .name(format!("test-server-conn-{id}"))
            .spawn({
                let shared = Arc::clone(shared);
                move || {
                    let _open = OpenConnection {
                        shared: &shared,
                        id,
                    };
                    serve_connection(&shared, id, &stream);
                }
            });
        match spawned {
            Ok(thread) => state.threads.push(thread),
            Err(_) => {
                state.connections_open -= 1;
                state.sockets.remove(&id);
            }
        }
    }
}

/// Counts a connection as closed when its thread ends, however it ends.
struct OpenConnection<'a> {
    shared: &'a Shared,
    id: usize,
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.connections_open -= 1;
        state.sockets.remove(&self.id);
    }
}

/// Counts a request as in flight until its response is written, however that ends.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn begin(shared: &'a Shared) -> InFlight<'a> {
        let mut state = shared.state();
        state.requests_in_flight += 1;
        state.max_requests_in_flight = state.max_requests_in_flight.max(state.requests_in_flight);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.state().requests_in_flight -= 1;
    }
}

/// Answers requests on one connection until the client closes it, asks to, goes idle for
/// longer than `IDLE_TIMEOUT`, or a reply closes it.
fn serve_connection(shared: &Shared, id: usize, stream: &TcpStream) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    // Heads and bodies go in separate writes; Nagle would hold the second back for an ACK.
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    while !shared.is_stopping() {
        let head = match read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) | Err(_) => break,
        };
        let Some((request, version)) = parse_head(&head, id) else {
            let _ = write_head(stream, 400, &[("Content-Length".into(), "0".into())], true);
            break;
        };
        // GET and HEAD carry no body, but a client may send one anyway: skip it, bounded.
        let body_len: u64 = request
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let chunked_request = request
            .header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if body_len > 0 && io::copy(&mut (&mut reader).take(body_len), &mut io::sink()).is_err() {
            break;
        }
        let wants_close = version == "HTTP/1.0"
            || chunked_request
            || request
                .header("Connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match answer(shared, stream, request, wants_close) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads one request head, up to and including its blank line. `None` at a clean end of
/// stream between requests.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let room = (MAX_HEAD_BYTES - head.len()) as u64;
        let start = head.len();
        let n = reader.take(room).read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if !head.ends_with(b"\n") {
            return Err(io::Error::other("request head too large"));
        }
        let line = &head[start..];
        let blank = line == b"\r\n" || line == b"\n";
        if blank && start == 0 {
            // Blank lines before a request line are allowed (RFC 9112 §2.2): skip them.
            head.clear();
        } else if blank {
            return Ok(Some(head));
        }
    }
}

/// The request and its HTTP version, or `None` if the head is malformed.
fn parse_head(head: &[u8], connection: usize) -> Option<(Request, String)> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, path, version) = (first.next()?, first.next()?, first.next()?);
    if first.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        connection,
    };
    Some((request, version.to_owned()))
}

/// Logs the request, takes the next reply of its route and sends it. Says whether the
/// connection may carry another request.
fn answer(
    shared: &Shared,
    stream: &TcpStream,
    request: Request,
    wants_close: bool,
) -> io::Result<bool> {
    let _in_flight = InFlight::begin(shared);
    let path = request.route_path().to_owned();
    let reply = {
        let mut state = shared.state();
        state.log.push(request.clone());
        state.routes.get_mut(&path).map(|scripted| {
            let replies = &scripted.route.replies;
            let reply = replies[scripted.served.min(replies.len() - 1)].clone();
            scripted.served += 1;
            reply
        })
    };
    let reply = reply.unwrap_or_else(|| Reply::body(404, "no route for this path\n"));
    if !shared.nap(reply.delay) {
        return Ok(false);
    }
    let is_head = request.method == "HEAD";
    let closes = wants_close
        || reply
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("Connection") && v.eq_ignore_ascii_case("close"));
    let out = Out {
        shared,
        stream,
        path: &path,
    };
    match &reply.kind {
        Kind::Drop => Ok(false),
        Kind::Body { status, body } => {
            out.respond(&reply, *status, Vec::new(), body, is_head, closes, None)?;
            Ok(!closes)
        }
        Kind::File { body, cut } => answer_file(&out, &request, &reply, body, *cut, closes),
    }
}

/// The file logic: method, HEAD, Range and If-Range decide what part goes out.
fn answer_file(
    out: &Out<'_>,
    request: &Request,
    reply: &Reply,
    body: &[u8],
    cut: Option<Cut>,
    closes: bool,
) -> io::Result<bool> {
    let is_head = request.method == "HEAD";
    if !is_head && request.method != "GET" {
        let allow = vec![("Allow".to_owned(), "GET, HEAD".to_owned())];
        out.respond(reply, 405, allow, &[], false, closes, None)?;
        return Ok(!closes);
    }
    if let (true, Some(status)) = (is_head, reply.refuse_head) {
        let allow = vec![("Allow".to_owned(), "GET".to_owned())];
        out.respond(reply, status, allow, &[], true, closes, None)?;
        return Ok(!closes);
    }
    let mut headers = Vec::new();
    if !reply.ignore_range {
        headers.push(("Accept-Ranges".to_owned(), "bytes".to_owned()));
    }
    if let Some(etag) = &reply.etag {
        headers.push(("ETag".to_owned(), etag.clone()));
    }
    if let Some(date) = &reply.last_modified {
        headers.push(("Last-Modified".to_owned(), date.clone()));
    }
    headers.push((
        "Content-Type".to_owned(),
        "application/octet-stream".to_owned(),
    ));
    // Range applies to GET only (RFC 9110 §14.2), and If-Range guards it (§13.1.5).
    let range = match request.header("Range") {
        Some(range) if !is_head && !reply.ignore_range && if_range_holds(request, reply) => {
            parse_range(range, body.len())
        }
        _ => Span::Whole,
    };
    let len = body.len();
    let (status, start, end) = match range {
        Span::Whole => (200, 0, len),
        Span::Part { start, end } => {
            headers.push((
                "Content-Range".to_owned(),
                format!("bytes {start}-{}/{len}", end - 1),
            ));
            (206, start, end)
        }
        Span::Unsatisfiable => {
            headers.push(("Content-Range".to_owned(), format!("bytes */{len}")));
            out.respond(reply, 416, headers, &[], is_head, closes, None)?;
            return Ok(!closes);
        }
    };
    // The cut offset counts from the start of the file; turn it into one within this body.
    let cut = cut.map(|cut| match cut {
        Cut::Truncate { at } => Cut::Truncate {
            at: at.clamp(start, end) - start,
        },
        Cut::Stall { at, pause } => Cut::Stall {
            at: at.clamp(start, end) - start,
            pause,
        },
    });
    out.respond(
        reply,
        status,
        headers,
        &body[start..end],
        is_head,
        closes,
        cut,
    )?;
    Ok(!closes && !matches!(cut, Some(Cut::Truncate { .. })))
}

/// Whether a Range may be honoured: no If-Range, or one that names this very version.
fn if_range_holds(request: &Request, reply: &Reply) -> bool {
    let Some(wanted) = request.header("If-Range") else {
        return true;
    };
    if wanted.starts_with('"') || wanted.starts_with("W/") {
        // If-Range compares entity tags strongly: a weak tag never matches (RFC 9110 §13.1.5).
        reply
            .etag
            .as_deref()
            .is_some_and(|etag| etag == wanted && !etag.starts_with("W/"))
    } else {
        reply.last_modified.as_deref() == Some(wanted)
    }
}

/// What part of a file a Range asks for. `end` is exclusive.
#[derive(Debug, PartialEq)]
enum Span {
    Whole,
    Part { start: usize, end: usize },
    Unsatisfiable,
}

/// Reads `bytes=N-`, `bytes=N-M` and `bytes=-N`. Anything else (other units, several ranges,
/// nonsense) is ignored and the whole file served, as RFC 9110 §14.2 allows.
fn parse_range(value: &str, len: usize) -> Span {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Span::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Span::Whole;
    };
    if spec.contains(',') {
        return Span::Whole;
    }
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return match last.parse::<usize>() {
            Ok(0) => Span::Unsatisfiable,
            Ok(_) if len == 0 => Span::Unsatisfiable,
            Ok(suffix) => Span::Part {
                start: len.saturating_sub(suffix),
                end: len,
            },
            Err(_) => Span::Whole,
        };
    }
    let Ok(start) = first.parse::<usize>() else {
        return Span::Whole;
    };
    let end = if last.is_empty() {
        len
    } else {
        match last.parse::<usize>() {
            Ok(last) if last >= start => last.saturating_add(1).min(len),
            _ => return Span::Whole,
        }
    };
    if start >= len {
        Span::Unsatisfiable
    } else {
        Span::Part { start, end }
    }
}

/// Where a response goes, and whose byte counts it adds to.
struct Out<'a> {
    shared: &'a Shared,
    stream: &'a TcpStream,
    path: &'a str,
}

impl Out<'_> {
    /// Writes a whole response: status line, `headers` (then the reply's own, which replace
    /// any of the same name), then `body` unless this answers a HEAD, faults included.
    #[expect(
        clippy::too_many_arguments,
        reason = "one response's every knob, used twice"
    )]
    fn respond(
        &self,
        reply: &Reply,
        status: u16,
        mut headers: Vec<(String, String)>,
        body: &[u8],
        is_head: bool,
        closes: bool,
        cut: Option<Cut>,
    ) -> io::Result<()> {
        // 1xx, 204 and 304 never have a body, so they say nothing about its length.
        let bodiless = status < 200 || status == 204 || status == 304;
        if reply.chunked && !bodiless {
            headers.push(("Transfer-Encoding".to_owned(), "chunked".to_owned()));
        } else if !bodiless {
            headers.push(("Content-Length".to_owned(), body.len().to_string()));
        }
        for (name, value) in &reply.headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        write_head(self.stream, status, &headers, closes)?;
        if is_head || bodiless {
            return Ok(());
        }
        let chunked = reply.chunked;
        let throttle = reply.throttle_bytes_per_sec;
        match cut {
            None => {
                self.send_body(body, chunked, throttle)?;
            }
            Some(Cut::Truncate { at }) => {
                self.send_body(&body[..at], chunked, throttle)?;
                // Closing now, with bytes still owed, is the whole point.
                let _ = self.stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Cut::Stall { at, pause }) => {
                self.send_body(&body[..at], chunked, throttle)?;
                if !self.shared.nap(pause) {
                    return Err(io::Error::other("server stopping"));
                }
                self.send_body(&body[at..], chunked, throttle)?;
            }
        }
        if chunked {
            write_all(self.stream, b"0\r\n\r\n")?;
        }
        Ok(())
    }

    /// Sends body bytes in large writes (throttled: a slice every 50 ms), counting each write.
    fn send_body(&self, bytes: &[u8], chunked: bool, throttle: Option<u64>) -> io::Result<()> {
        let slice = throttle.map_or(WRITE_CHUNK, |rate| {
            usize::try_from(rate / 20)
                .unwrap_or(WRITE_CHUNK)
                .clamp(1, WRITE_CHUNK)
        });
        let started = Instant::now();
        let mut sent = 0u64;
        for piece in bytes.chunks(slice) {
            if let Some(rate) = throttle {
                let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
                if !self.shared.sleep_until(due) {
                    return Err(io::Error::other("server stopping"));
                }
            }
            if chunked {
                write_all(self.stream, format!("{:x}\r\n", piece.len()).as_bytes())?;
            }
            let mut written = 0;
            while written < piece.len() {
                match (&mut &*self.stream).write(&piece[written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        written += n;
                        self.shared.count_body_bytes(self.path, n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if chunked {
                write_all(self.stream, b"\r\n")?;
            }
            sent += piece.len() as u64;
        }
        Ok(())
    }
}

fn write_all(mut stream: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes)
}

/// Writes the status line and headers in one write.
fn write_head(
    stream: &TcpStream,
    status: u16,
    headers: &[(String, String)],
    closes: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let says_close = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("Connection"));
    if closes && !says_close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    write_all(stream, head.as_bytes())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
