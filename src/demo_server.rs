//! A small HTTP/1.1 file server on 127.0.0.1 for `fetchpool demo`, so a machine with no
//! network can still watch the tool work: made-up files whose bytes are generated on the
//! fly, paced so that progress bars move. std only; it serves nothing from disk.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest body write, and the pacing step at demo rates: small enough for smooth bars,
/// large enough that syscalls cost nothing.
const CHUNK_BYTES: usize = 64 * 1024;
/// Smallest pacing step, for very low rates (still about 20 steps a second above 80 KB/s).
const MIN_CHUNK_BYTES: usize = 4 * 1024;
/// How often a blocked read or a pacing sleep looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// A keep-alive connection with no request for this long is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// A client that reads nothing for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request line plus headers; ours are a few hundred bytes.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long stopping waits for threads before leaving them to exit on their own.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A running demo server. Dropping it stops it.
pub(crate) struct DemoServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What every connection thread reads.
struct Shared {
    /// File name (the URL path without its `/`) to size in bytes.
    files: HashMap<String, u64>,
    /// Per connection; 0 means unpaced.
    rate_bytes_per_sec: u64,
    stop: AtomicBool,
}

impl DemoServer {
    /// Serves `files` (name, size in bytes) at `/NAME` on 127.0.0.1 and a free port, each
    /// connection paced to `rate_bytes_per_sec` (0: as fast as possible).
    pub(crate) fn start(
        files: Vec<(String, u64)>,
        rate_bytes_per_sec: u64,
    ) -> io::Result<DemoServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            files: files.into_iter().collect(),
            rate_bytes_per_sec,
            stop: AtomicBool::new(false),
        });
        let acceptor = thread::Builder::new()
            .name("demo-server".to_string())
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept_loop(&listener, &shared)
            })?;
        Ok(DemoServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT/`: append a file name to get its URL.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // accept() has no timeout: a connection of our own wakes it up to see the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            // The acceptor itself waits up to STOP_GRACE for the connection threads.
            join_until(
                acceptor,
                Instant::now() + STOP_GRACE + Duration::from_millis(500),
            );
        }
    }
}

/// Joins `handle` if it ends before `deadline`; otherwise leaves it running (detached)
/// rather than hang whoever is stopping us.
fn join_until(handle: JoinHandle<()>, deadline: Instant) {
    while !handle.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    if handle.is_finished() {
        let _ = handle.join();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        connections.retain(|c| !c.is_finished());
        match stream {
            Ok(stream) => {
                let shared = Arc::clone(shared);
                let spawned = thread::Builder::new()
                    .name("demo-connection".to_string())
                    .spawn(move || {
                        // A client that goes away mid-response is not our problem.
                        let _ = serve_connection(stream, &shared);
                    });
                if let Ok(handle) = spawned {
                    connections.push(handle);
                }
            }
            // Out of file descriptors, say: do not spin while it lasts.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    for connection in connections {
        join_until(connection, deadline);
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    // Reads time out so that an idle keep-alive connection still notices `stop`.
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(head) = read_head(&mut reader, shared)? {
        let keep_alive = match parse_head(&head) {
            Ok(request) => respond(&mut writer, &request, shared)?,
            Err(status) => {
                write_head(&mut writer, status, &[], 0, true)?;
                false
            }
        };
        if !keep_alive {
            break;
        }
    }
    Ok(())
}

/// Reads a request line and headers (without the blank line ending them). `None` when
/// the client closes, stays idle too long, or the server stops.
fn read_head(
    reader: &mut BufReader<TcpStream>,
    shared: &Shared,
) -> io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    // The current line; after a read timeout it keeps the bytes read so far.
    let mut line = Vec::new();
    // Bytes in `lines`, with their line ends.
    let mut head_bytes = 0;
    let idle_since = Instant::now();
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let room = MAX_HEAD_BYTES.saturating_sub(head_bytes + line.len());
        if room == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        match reader
            .by_ref()
            .take(room as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => return Ok(None),
            // The client closed mid-line (next read: 0), or `room` ran out (next: error).
            Ok(_) if !line.ends_with(b"\n") => continue,
            Ok(_) => {
                head_bytes += line.len();
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                line.clear();
                if !text.is_empty() {
                    lines.push(text);
                } else if !lines.is_empty() {
                    return Ok(Some(lines));
                }
                // An empty line before a request line is ignored (RFC 9112 §2.2).
            }
            // A read timeout: bytes read so far stay in `line`.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if lines.is_empty() && line.is_empty() && idle_since.elapsed() > IDLE_LIMIT {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The parts of a request the demo cares about.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    /// The request target without its query.
    path: String,
    range: Option<String>,
    if_range: Option<String>,
    /// Close after responding: HTTP/1.0 without keep-alive, `Connection: close`, or a
    /// request body we do not want to parse.
    close: bool,
}

/// Parses the head's lines; `Err(status)` for a request we cannot answer normally.
fn parse_head(lines: &[String]) -> Result<Request, u16> {
    let mut parts = lines.first().ok_or(400_u16)?.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let mut request = Request {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or_default().to_string(),
        range: None,
        if_range: None,
        close: match version {
            "HTTP/1.1" => false,
            "HTTP/1.0" => true,
            _ => return Err(505),
        },
    };
    for line in &lines[1..] {
        let (name, value) = line.split_once(':').ok_or(400_u16)?;
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "range" => request.range = Some(value.to_string()),
            "if-range" => request.if_range = Some(value.to_string()),
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        request.close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && version == "HTTP/1.0" {
                        request.close = false;
                    }
                }
            }
            // Rather than skip a body we never use, answer and close the connection.
            "transfer-encoding" => request.close = true,
            "content-length" if value != "0" => request.close = true,
            // Accept-Encoding and the rest are ignored: bodies are always sent as is.
            _ => {}
        }
    }
    Ok(request)
}

/// Answers one request; `Ok(true)` when the connection may serve another.
fn respond(w: &mut TcpStream, request: &Request, shared: &Shared) -> io::Result<bool> {
    let keep_alive = !request.close;
    let is_head = match request.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => {
            write_head(
                w,
                405,
                &[("Allow", "GET, HEAD".to_string())],
                0,
                !keep_alive,
            )?;
            return Ok(keep_alive);
        }
    };
    let name = request.path.strip_prefix('/').unwrap_or(&request.path);
    let Some(&size) = shared.files.get(name) else {
        let body = b"not found\n";
        write_head(w, 404, &[], body.len() as u64, !keep_alive)?;
        if !is_head {
            w.write_all(body)?;
        }
        return Ok(keep_alive);
    };
    let etag = etag(name, size);
    let mut headers = vec![
        ("Content-Type", "application/octet-stream".to_string()),
        ("ETag", etag.clone()),
        ("Accept-Ranges", "bytes".to_string()),
    ];
    // If-Range: the Range applies only to the version the client already holds part of
    // (RFC 9110 §13.1.5); a date never matches, since we send no Last-Modified.
    let range = match (&request.range, &request.if_range) {
        (Some(range), None) => Some(range),
        (Some(range), Some(tag)) if *tag == etag => Some(range),
        _ => None,
    };
    let (status, start, len) = match range.map(|r| parse_range(r, size)) {
        None | Some(Ok(None)) => (200, 0, size),
        Some(Ok(Some((first, last)))) => {
            headers.push(("Content-Range", format!("bytes {first}-{last}/{size}")));
            (206, first, last - first + 1)
        }
        Some(Err(Unsatisfiable)) => {
            headers.push(("Content-Range", format!("bytes */{size}")));
            write_head(w, 416, &headers, 0, !keep_alive)?;
            return Ok(keep_alive);
        }
    };
    write_head(w, status, &headers, len, !keep_alive)?;
    if !is_head {
        send_body(w, name, start, len, shared)?;
    }
    Ok(keep_alive)
}

/// A Range that starts at or past the end (RFC 9110 §14.1.1): answered with 416.
#[derive(Debug, PartialEq, Eq)]
struct Unsatisfiable;

/// Parses `bytes=N-`, `bytes=N-M` and `bytes=-N` into an inclusive (first, last).
/// `Ok(None)` means "ignore the header and send it all", which RFC 9110 §14.2 allows for
/// anything we do not handle (several ranges, other units, bad syntax).
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (first, last) = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(first), _) if last.is_empty() => (first, size.saturating_sub(1)),
        (Ok(first), Ok(last)) if first <= last => (first, last.min(size.saturating_sub(1))),
        (Err(_), Ok(suffix)) if first.is_empty() => {
            if suffix == 0 {
                return Err(Unsatisfiable);
            }
            (size.saturating_sub(suffix), size.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if first >= size {
        return Err(Unsatisfiable);
    }
    Ok(Some((first, last)))
}

fn write_head(
    w: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    content_length: u64,
    close: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        505 => "HTTP Version Not Supported",
        _ => "",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nServer: fetchpool-demo\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {content_length}\r\n");
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())
}

/// Writes `len` bytes of `name` from `start`, paced: after each chunk it sleeps until the
/// moment those bytes are due at the configured rate, so the average holds however long
/// each write took.
fn send_body(
    w: &mut TcpStream,
    name: &str,
    start: u64,
    len: u64,
    shared: &Shared,
) -> io::Result<()> {
    let rate = shared.rate_bytes_per_sec;
    // About 20 steps a second, so a bar moves smoothly even at low rates.
    let chunk = if rate == 0 {
        CHUNK_BYTES
    } else {
        usize::try_from(rate / 20)
            .unwrap_or(CHUNK_BYTES)
            .clamp(MIN_CHUNK_BYTES, CHUNK_BYTES)
    };
    let mut buf = vec![0; chunk];
    let began = Instant::now();
    let mut sent: u64 = 0;
    while sent < len {
        if shared.stop.load(Ordering::SeqCst) {
            return Err(io::Error::other("demo server stopping"));
        }
        let n = usize::try_from(len - sent).map_or(chunk, |left| left.min(chunk));
        fill_body(name, start + sent, &mut buf[..n]);
        w.write_all(&buf[..n])?;
        sent += n as u64;
        if rate > 0 {
            let due = began + Duration::from_secs_f64(sent as f64 / rate as f64);
            crate::cancel::sleep_until(due, &shared.stop);
        }
    }
    Ok(())
}

/// A strong validator that changes with the name and the size: the bytes are a function
/// of the name, so the same name and size always serve the same bytes.
fn etag(name: &str, size: u64) -> String {
    format!("\"{:016x}-{size:x}\"", fnv1a(name))
}

/// Fills `buf` with bytes `offset..` of the demo file `name`: a splitmix64 stream seeded
/// by the name, computable at any offset, so nothing is held in memory and a resumed
/// download continues the very same bytes. Also lets a caller know a file's digest
/// without downloading it.
pub(crate) fn fill_body(name: &str, offset: u64, buf: &mut [u8]) {
    let seed = fnv1a(name);
    let mut pos = offset;
    let mut filled = 0;
    while filled < buf.len() {
        let word = splitmix64(seed, pos / 8).to_le_bytes();
        let skip = (pos % 8) as usize;
        let n = (8 - skip).min(buf.len() - filled);
        buf[filled..filled + n].copy_from_slice(&word[skip..skip + n]);
        filled += n;
        pos += n as u64;
    }
}

/// FNV-1a, 64 bits: a fixed, tiny hash (std's `DefaultHasher` may change between
/// releases, and demo bytes should not).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Word `index` of the splitmix64 sequence that starts at `seed` (Steele, Lea, Flood,
/// "Fast splittable pseudorandom number generators", 2014).
fn splitmix64(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The demo catalogue: 36 files from 4 KiB to about 40 MiB, about 200 MiB in all, named
/// like the things people fetch in bulk (datasets, release archives, docs).
pub(crate) fn demo_files() -> Vec<(String, u64)> {
    // Sizes in KiB, spread over three orders of magnitude on purpose: the small files
    // finish at once and leave their one line, the large ones keep bars moving.
    const DATASET_KIB: [u64; 24] = [
        4, 9, 27, 180, 950, 2_300, 64, 5_120, 730, 12, 3_900, 1_450, 310, 7_800, 88, 2_760, 6,
        4_410, 1_020, 150, 3_350, 540, 8_900, 26,
    ];
    const OTHERS_KIB: [(&str, u64); 12] = [
        ("release-1.2.tar.gz", 40_448),
        ("release-1.2.zip", 34_816),
        ("release-1.1.tar.gz", 27_904),
        ("release-1.2-src.tar.gz", 9_728),
        ("backup-2024-06-01.sql.gz", 12_610),
        ("images-2024-q1.tar", 18_432),
        ("docs-1.2.pdf", 3_482),
        ("changelog-1.2.html", 46),
        ("logo.png", 14),
        ("LICENSE.txt", 11),
        ("weights-small.bin", 7_168),
        ("README.md", 5),
    ];
    let datasets = DATASET_KIB
        .iter()
        .enumerate()
        .map(|(i, &kib)| (format!("dataset-{:03}.csv", i + 1), kib));
    let others = OTHERS_KIB
        .iter()
        .map(|&(name, kib)| (name.to_string(), kib));
    datasets
        .chain(others)
        .enumerate()
        // Odd byte counts, as real files have; deterministic.
        .map(|(i, (name, kib))| (name, kib * 1024 - (i as u64 * 389) % 1024))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A minimal client: one connection, requests one after another.
    struct Client {
        reader: BufReader<TcpStream>,
    }

    #[derive(Debug)]
    struct Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Response {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    impl Client {
        fn connect(server: &DemoServer) -> Client {
            let stream = TcpStream::connect_timeout(&server.addr, TIMEOUT).unwrap();
            stream.set_read_timeout(Some(TIMEOUT)).unwrap();
            stream.set_write_timeout(Some(TIMEOUT)).unwrap();
            Client {
                reader: BufReader::new(stream),
            }
        }

        fn send(&mut self, method: &str, path: &str, headers: &str) -> Response {
            let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
            self.reader.get_mut().write_all(request.as_bytes()).unwrap();
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let status = line.split(' ').nth(1).unwrap().parse().unwrap();
            let mut headers = Vec::new();
            loop {
                line.clear();
                self.reader.read_line(&mut line).unwrap();
                let Some((name, value)) = line.trim_end().split_once(':') else {
                    break;
                };
                headers.push((name.to_string(), value.trim().to_string()));
            }
            let mut response = Response {
                status,
                headers,
                body: Vec::new(),
            };
            if method != "HEAD" {
                let len: usize = response.header("content-length").unwrap().parse().unwrap();
                response.body = vec![0; len];
                self.reader.read_exact(&mut response.body).unwrap();
            }
            response
        }
    }

    fn body(name: &str, offset: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        fill_body(name, offset, &mut buf);
        buf
    }

    fn small_server() -> DemoServer {
        let files = vec![("a.bin".to_string(), 200_000), ("empty".to_string(), 0)];
        DemoServer::start(files, 0).unwrap()
    }

    #[test]
    fn serves_a_whole_file_with_its_length_and_an_etag() {
        let server = small_server();
        assert!(server.base_url().starts_with("http://127.0.0.1:"));
        assert!(server.base_url().ends_with('/'));
        let response = Client::connect(&server).send("GET", "/a.bin", "");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-length"), Some("200000"));
        assert_eq!(response.body, body("a.bin", 0, 200_000));
        assert!(response.header("etag").unwrap().starts_with('"'));
        assert_eq!(response.header("accept-ranges"), Some("bytes"));
    }

    #[test]
    fn a_range_request_gets_206_and_the_rest_of_the_file() {
        let server = small_server();
        let response = Client::connect(&server).send("GET", "/a.bin", "Range: bytes=150000-\r\n");
        assert_eq!(response.status, 206);
        assert_eq!(
            response.header("content-range"),
            Some("bytes 150000-199999/200000")
        );
        assert_eq!(response.body, body("a.bin", 150_000, 50_000));
    }

    #[test]
    fn a_range_with_a_matching_if_range_resumes_and_a_stale_one_restarts() {
        let server = small_server();
        let mut client = Client::connect(&server);
        let etag = client
            .send("HEAD", "/a.bin", "")
            .header("etag")
            .unwrap()
            .to_string();
        let resumed = client.send(
            "GET",
            "/a.bin",
            &format!("Range: bytes=10-\r\nIf-Range: {etag}\r\n"),
        );
        assert_eq!(resumed.status, 206);
        let restarted = client.send("GET", "/a.bin", "Range: bytes=10-\r\nIf-Range: \"old\"\r\n");
        assert_eq!(restarted.status, 200);
        assert_eq!(restarted.body.len(), 200_000);
    }

    #[test]
    fn keeps_the_connection_alive_for_head_get_and_errors() {
        let server = small_server();
        let mut client = Client::connect(&server);
        let head = client.send("HEAD", "/a.bin", "Accept-Encoding: gzip\r\n");
        assert_eq!(
            (head.status, head.header("content-length")),
            (200, Some("200000"))
        );
        assert_eq!(client.send("GET", "/nope", "").status, 404);
        assert_eq!(client.send("GET", "/a.bin?x=1", "").body.len(), 200_000);
        assert_eq!(client.send("GET", "/empty", "").body, b"");
        assert_eq!(client.send("POST", "/a.bin", "").status, 405);
        assert_eq!(
            client
                .send("GET", "/a.bin", "Range: bytes=200000-\r\n")
                .status,
            416
        );
    }

    #[test]
    fn connection_close_is_honoured() {
        let server = small_server();
        let mut client = Client::connect(&server);
        let response = client.send("GET", "/empty", "Connection: close\r\n");
        assert_eq!(response.header("connection"), Some("close"));
        let mut rest = Vec::new();
        assert_eq!(client.reader.read_to_end(&mut rest).unwrap(), 0);
    }

    #[test]
    fn paces_each_connection_to_the_rate() {
        // 256 KiB at 1 MiB/s is due after 250 ms: sleeps make that a lower bound.
        let files = vec![("slow.bin".to_string(), 256 * 1024)];
        let server = DemoServer::start(files, 1024 * 1024).unwrap();
        let began = Instant::now();
        let response = Client::connect(&server).send("GET", "/slow.bin", "");
        let elapsed = began.elapsed();
        assert_eq!(response.body.len(), 256 * 1024);
        assert!(elapsed >= Duration::from_millis(240), "{elapsed:?}");
        assert!(elapsed < TIMEOUT, "{elapsed:?}");
    }

    #[test]
    fn dropping_the_server_stops_it_promptly_even_with_clients_connected() {
        let files = vec![("big.bin".to_string(), 100 << 20)];
        let server = DemoServer::start(files, 64 * 1024).unwrap();
        let addr = server.addr;
        let _idle = Client::connect(&server);
        let mut busy = Client::connect(&server);
        busy.reader
            .get_mut()
            .write_all(b"GET /big.bin HTTP/1.1\r\n\r\n")
            .unwrap();
        thread::sleep(Duration::from_millis(100));
        let began = Instant::now();
        drop(server);
        assert!(began.elapsed() < STOP_GRACE, "{:?}", began.elapsed());
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    }

    #[test]
    fn parses_the_ranges_a_resume_sends() {
        assert_eq!(parse_range("bytes=0-", 10), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=9-", 10), Ok(Some((9, 9))));
        assert_eq!(parse_range("bytes=2-4", 10), Ok(Some((2, 4))));
        assert_eq!(parse_range("bytes=2-400", 10), Ok(Some((2, 9))));
        assert_eq!(parse_range("bytes=-3", 10), Ok(Some((7, 9))));
        assert_eq!(parse_range("bytes=-30", 10), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=10-", 10), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-", 0), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 10), Err(Unsatisfiable));
    }

    #[test]
    fn ignores_ranges_it_does_not_handle() {
        for value in [
            "items=0-",
            "bytes=0-1,4-5",
            "bytes=4-2",
            "bytes=x-",
            "bytes=",
            "bytes=-",
        ] {
            assert_eq!(parse_range(value, 10), Ok(None), "{value}");
        }
    }

    #[test]
    fn bodies_are_the_same_bytes_from_any_offset() {
        let whole = body("f", 0, 100);
        assert_eq!(body("f", 37, 63), whole[37..]);
        assert_eq!(body("f", 0, 100), whole);
        assert_ne!(body("g", 0, 100), whole);
    }

    #[test]
    fn the_demo_catalogue_is_a_realistic_few_hundred_mib() {
        let files = demo_files();
        assert!((24..=48).contains(&files.len()), "{}", files.len());
        let total: u64 = files.iter().map(|(_, size)| size).sum();
        assert!((150 << 20..=250 << 20).contains(&total), "{total}");
        let sizes = files.iter().map(|&(_, size)| size);
        assert!(sizes.clone().min().unwrap() >= 2 * 1024);
        assert!(sizes.max().unwrap() <= 40 << 20);
        let mut names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"dataset-017.csv") && names.contains(&"release-1.2.tar.gz"));
        for name in &names {
            assert_eq!(
                crate::input::names::validate_out_name(name).as_deref(),
                Ok(*name)
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), files.len());
    }
}
