//! Connections: the accept loop, a thread per connection reading request heads (bounded in
//! size and idle time), and the counts of open connections and requests in flight.

use std::io::{self, BufRead, BufReader, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::Shared;
use super::response::write_head;
use super::script::{Request, answer};

/// How long a connection may sit without sending a request before the server closes it, so no
/// connection thread outlives a test that forgot about it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one write may block on a client that stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A request head larger than this is refused (400) and the connection closed.
const MAX_HEAD_BYTES: usize = 64 * 1024;

pub(super) fn accept_connections(listener: &TcpListener, shared: &Arc<Shared>) {
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
pub(super) struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    pub(super) fn begin(shared: &'a Shared) -> InFlight<'a> {
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
        at: Instant::now(),
    };
    Some((request, version.to_owned()))
}
