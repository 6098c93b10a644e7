//! Routing and scripting: what a request is, what each path answers (a `Route`: a script of
//! `Reply`s, the last one repeating), and the lookup that picks the next reply. How a file reply
//! serves ranges is in `ranges.rs`; the builders that break replies are in `faults.rs`.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;
use super::connection::InFlight;
use super::faults::Cut;
use super::gate::Gate;
use super::ranges::answer_file;
use super::response::Out;

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
    /// When the server had read its head (before any reply, delay or gate).
    pub at: Instant,
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
    pub(super) fn route_path(&self) -> &str {
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
    pub(super) replies: Vec<Reply>,
    /// At least this many requests must arrive before the server drops.
    pub(super) expect: Option<usize>,
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

    pub(super) fn each(mut self, f: impl Fn(Reply) -> Reply) -> Route {
        self.replies = self.replies.into_iter().map(f).collect();
        self
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub(super) kind: Kind,
    /// Extra response headers; one named like a header the server writes replaces it, so a
    /// test can make the server lie (e.g. about Content-Length).
    pub(super) headers: Vec<(String, String)>,
    pub(super) delay: Duration,
    /// Held until the test opens this gate (see `gate.rs`).
    pub(super) gate: Option<Gate>,
    /// File replies only: `None` sends no ETag.
    pub(super) etag: Option<String>,
    /// File replies only: `None` sends no Last-Modified.
    pub(super) last_modified: Option<String>,
    /// File replies only: answer every request with the whole file, as if Range were unknown.
    pub(super) ignore_range: bool,
    /// File replies only: the status a HEAD request gets instead of the headers.
    pub(super) refuse_head: Option<u16>,
    pub(super) throttle_bytes_per_sec: Option<u64>,
    pub(super) chunked: bool,
}

#[derive(Clone, Debug)]
pub(super) enum Kind {
    /// A fixed status and body, whatever the request.
    Body { status: u16, body: Arc<[u8]> },
    /// A resource: Range, If-Range, HEAD and validators honoured, with an optional fault.
    File { body: Arc<[u8]>, cut: Option<Cut> },
    /// Close the connection without a word.
    Drop,
}

impl Reply {
    pub(super) fn new(kind: Kind) -> Reply {
        Reply {
            kind,
            headers: Vec::new(),
            delay: Duration::ZERO,
            gate: None,
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

    pub(super) fn file_with_cut(bytes: &[u8], cut: Option<Cut>) -> Reply {
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

pub(super) struct Scripted {
    pub(super) route: Route,
    pub(super) served: usize,
}

/// Logs the request, takes the next reply of its route and sends it. Says whether the
/// connection may carry another request.
pub(super) fn answer(
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
    if let Some(gate) = &reply.gate
        && !shared.wait_for_gate(gate)
    {
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
