//! Self-tests of the test machinery: the harness that runs commands, and the scripted server,
//! driven here by a small std-only HTTP client so that a fetchpool bug cannot hide a server bug.

use std::any::Any;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::server::{Reply, Route, Server};
use crate::support::{Pat, Run, command, fetchpool, payload, wait_until};

/// Every client read gives up after this, so a server bug fails the test instead of hanging it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as the tiny client saw it.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Whether the body arrived in full (all of Content-Length, or the last chunk).
    complete: bool,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One client connection, kept alive across requests.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(srv: &Server) -> Client {
        let stream = TcpStream::connect(srv.addr()).expect("connect to the test server");
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.reader.get_mut().write_all(head.as_bytes()).unwrap();
        self.read_response(method == "HEAD")
    }

    fn read_response(&mut self, is_head: bool) -> Response {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header line");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header has a colon");
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            complete: true,
        };
        if is_head || status == 204 || status == 304 {
            return response;
        }
        if response.header("Transfer-Encoding") == Some("chunked") {
            response.complete = self.read_chunks(&mut response.body);
        } else if let Some(len) = response.header("Content-Length") {
            let len: u64 = len.parse().unwrap();
            // A short read (connection closed early) is data, not an error, for these tests.
            let _ = (&mut self.reader).take(len).read_to_end(&mut response.body);
            response.complete = response.body.len() as u64 == len;
        } else {
            self.reader.read_to_end(&mut response.body).unwrap();
        }
        response
    }

    fn read_chunks(&mut self, body: &mut Vec<u8>) -> bool {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                return false;
            }
            let size = usize::from_str_radix(line.trim(), 16).expect("chunk size");
            let mut chunk = vec![0; size + 2];
            if self.reader.read_exact(&mut chunk).is_err() {
                return false;
            }
            if size == 0 {
                return true;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    /// Whether the server has closed this connection (reads end-of-file).
    fn is_closed(&mut self) -> bool {
        matches!(self.reader.fill_buf(), Ok([]) | Err(_))
    }
}

/// One GET on a fresh connection.
fn get(srv: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    Client::connect(srv).send("GET", path, headers)
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "<non-text panic>".to_owned(), |s| (*s).to_owned()),
    }
}

/// Runs `f`, which must panic, and returns its message.
fn panic_of(f: impl FnOnce()) -> String {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected a panic, got none"),
        Err(payload) => panic_message(payload),
    }
}

// ---- The harness ----

#[test]
fn version_prints_the_name_on_stdout_and_nothing_on_stderr() {
    fetchpool()
        .arg("--version")
        .run()
        .assert(0, Pat::has(&["fetchpool"]), Pat::empty());
}

#[test]
fn a_failing_assert_shows_status_stdout_and_stderr() {
    let run = fetchpool().arg("--no-such-flag").run();
    let message = panic_of(|| {
        run.assert(0, Pat::has(&["usage"]), Pat::empty());
    });
    for part in [
        "fetchpool --no-such-flag",
        "status: want exit 0, got exit 2",
        "stdout: missing [\"usage\"]",
        "stderr: want nothing, got",
        "--- status: exit 2",
        "--- stdout (0 bytes)",
        "--- stderr (",
        "--no-such-flag",
    ] {
        assert!(message.contains(part), "{part:?} not in:\n{message}");
    }
}

#[test]
fn pat_and_not_names_the_banned_text_it_found() {
    let run = Run {
        code: Some(0),
        signal: None,
        stdout: b"done\n".to_vec(),
        stderr: b"\x1b[1mbold\x1b[0m\n".to_vec(),
        command: "demo".to_owned(),
    };
    run.assert(0, Pat::eq("done\n"), Pat::has(&["bold"]));
    let message = panic_of(|| {
        run.assert(0, Pat::any(), Pat::has(&["bold"]).and_not(&["\x1b["]));
    });
    assert!(message.contains("stderr: must not contain"), "{message}");
    // The escape is shown, not obeyed, so a reader sees it on a terminal.
    assert!(message.contains("\\x1b[1mbold"), "{message}");
}

#[test]
fn pat_eq_points_at_the_first_line_that_differs() {
    let run = Run {
        code: Some(1),
        signal: None,
        stdout: b"one\ntwo\nthree\n".to_vec(),
        stderr: Vec::new(),
        command: "demo".to_owned(),
    };
    let message = panic_of(|| {
        run.assert(1, Pat::eq("one\n2\nthree\n"), Pat::empty());
    });
    assert!(
        message.contains("line 2 differs: want \"2\\n\", got \"two\\n\""),
        "{message}"
    );
}

#[test]
fn pat_bytes_tells_apart_invalid_utf8_that_pat_eq_cannot() {
    let run = Run {
        code: Some(0),
        signal: None,
        stdout: b"ok\n\xff name\n".to_vec(),
        stderr: Vec::new(),
        command: "demo".to_owned(),
    };
    run.assert(0, Pat::bytes(&b"ok\n\xff name\n"[..]), Pat::empty());
    // Lossily decoded, \xfe and \xff are one replacement character: text cannot see it.
    run.assert(0, Pat::eq("ok\n\u{fffd} name\n"), Pat::empty());
    let message = panic_of(|| {
        run.assert(0, Pat::bytes(&b"ok\n\xfe name\n"[..]), Pat::empty());
    });
    assert!(
        message.contains("line 2 differs: want \"\\xfe name\\n\", got \"\\xff name\\n\""),
        "{message}"
    );
}

#[test]
fn close_stdout_after_keeps_those_lines_and_closes_the_pipe() {
    // `yes` writes until its stdout closes; then it dies of SIGPIPE, as under `| head -2`.
    let run = command("yes")
        .close_stdout_after(2)
        .timeout(Duration::from_secs(10))
        .run();
    assert_eq!(run.stdout, b"y\ny\n", "{run}");
    assert_eq!(run.signal, Some(13), "{run}");
}

#[test]
fn stdin_is_fed_then_closed_and_never_inherited() {
    command("cat")
        .stdin("hello\n")
        .timeout(Duration::from_secs(10))
        .run()
        .assert(0, Pat::eq("hello\n"), Pat::empty());
    // Without stdin bytes, cat must see end-of-file at once rather than wait on ours.
    command("cat")
        .timeout(Duration::from_secs(10))
        .run()
        .assert(0, Pat::empty(), Pat::empty());
}

#[test]
fn proxy_variables_are_removed_and_no_color_is_set() {
    command("sh")
        .args([
            "-c",
            "echo ${http_proxy-none} ${HTTPS_PROXY-none} ${ALL_PROXY-none} ${NO_COLOR-none}",
        ])
        .run()
        .assert(0, Pat::eq("none none none 1\n"), Pat::empty());
}

#[test]
fn a_timeout_kills_the_child_and_shows_what_it_printed() {
    let started = Instant::now();
    let message = panic_of(|| {
        command("sh")
            .args(["-c", "echo started; echo oops >&2; exec sleep 30"])
            .timeout(Duration::from_secs(1))
            .run();
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    for part in [
        "did not finish within 1s",
        "started",
        "oops",
        "killed by signal 9",
    ] {
        assert!(message.contains(part), "{part:?} not in:\n{message}");
    }
}

#[test]
fn a_spawned_child_can_be_signalled_and_the_signal_is_reported() {
    let running = command("sleep")
        .arg("30")
        .timeout(Duration::from_secs(10))
        .spawn();
    assert!(running.pid() > 0);
    running.signal(15);
    let run = running.wait();
    assert_eq!((run.code, run.signal), (None, Some(15)), "{run}");
}

#[test]
fn a_test_can_wait_for_output_before_signalling() {
    let running = command("sh")
        .args(["-c", "echo ready >&2; exec sleep 30"])
        .timeout(Duration::from_secs(10))
        .spawn();
    wait_until(Duration::from_secs(5), "`ready` on stderr", || {
        running.stderr_so_far().contains("ready")
    });
    running.signal(2);
    let run = running.wait();
    assert_eq!(run.signal, Some(2), "{run}");
}

#[test]
fn wait_until_gives_up_and_names_what_it_waited_for() {
    let message = panic_of(|| wait_until(Duration::from_millis(50), "pigs to fly", || false));
    assert!(message.contains("waiting for pigs to fly"), "{message}");
}

#[test]
fn payload_is_the_same_for_a_seed_and_differs_between_seeds() {
    assert_eq!(payload(7, 1000), payload(7, 1000));
    assert_ne!(payload(7, 1000), payload(8, 1000));
    assert_eq!(payload(7, 13), payload(7, 1000)[..13]);
    assert_ne!(payload(0, 64), vec![0; 64]);
}

// ---- The server: files and ranges ----

#[test]
fn serves_a_file_whole_with_length_etag_and_last_modified() {
    let srv = Server::start();
    let data = payload(1, 10_000);
    srv.route("/a.bin", Route::file(&data));
    let r = get(&srv, "/a.bin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("Content-Length"), Some("10000"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert!(
        r.header("ETag").is_some_and(|e| e.starts_with('"')),
        "{r:?}"
    );
    assert!(r.header("Last-Modified").is_some(), "{r:?}");
    // Different bytes, different tag: If-Range depends on it.
    srv.route("/b.bin", Route::file(payload(2, 10_000)));
    assert_ne!(get(&srv, "/b.bin", &[]).header("ETag"), r.header("ETag"));
}

#[test]
fn answers_ranges_with_206_and_content_range() {
    let srv = Server::start();
    let data = payload(3, 1000);
    srv.route("/a.bin", Route::file(&data));

    let open = get(&srv, "/a.bin", &[("Range", "bytes=100-")]);
    assert_eq!(open.status, 206);
    assert_eq!(open.header("Content-Range"), Some("bytes 100-999/1000"));
    assert_eq!(open.header("Content-Length"), Some("900"));
    assert_eq!(open.body, data[100..]);

    let closed = get(&srv, "/a.bin", &[("Range", "bytes=10-19")]);
    assert_eq!(closed.status, 206);
    assert_eq!(closed.header("Content-Range"), Some("bytes 10-19/1000"));
    assert_eq!(closed.body, data[10..20]);

    let past_end = get(&srv, "/a.bin", &[("Range", "bytes=990-5000")]);
    assert_eq!(past_end.header("Content-Range"), Some("bytes 990-999/1000"));
    assert_eq!(past_end.body, data[990..]);

    let suffix = get(&srv, "/a.bin", &[("Range", "bytes=-5")]);
    assert_eq!(suffix.header("Content-Range"), Some("bytes 995-999/1000"));
    assert_eq!(suffix.body, data[995..]);
}

#[test]
fn answers_416_with_the_length_for_a_range_past_the_end() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(payload(4, 1000)));
    let r = get(&srv, "/a.bin", &[("Range", "bytes=1000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */1000"));
    assert!(r.body.is_empty());
}

#[test]
fn honours_a_range_when_if_range_matches_the_etag_or_the_date() {
    let srv = Server::start();
    let data = payload(5, 1000);
    srv.route("/a.bin", Route::file(&data));
    let whole = get(&srv, "/a.bin", &[]);
    for validator in [whole.header("ETag"), whole.header("Last-Modified")] {
        let validator = validator.expect("file routes send both validators");
        let r = get(
            &srv,
            "/a.bin",
            &[("Range", "bytes=500-"), ("If-Range", validator)],
        );
        assert_eq!(
            (r.status, r.body.as_slice()),
            (206, &data[500..]),
            "{validator}"
        );
    }
}

#[test]
fn serves_the_whole_file_with_200_when_if_range_does_not_match() {
    let srv = Server::start();
    let data = payload(6, 1000);
    srv.route("/a.bin", Route::file(&data).etag(Some("v2")));
    for stale in ["\"v1\"", "W/\"v2\"", "Thu, 01 Jan 2015 00:00:00 GMT"] {
        let r = get(
            &srv,
            "/a.bin",
            &[("Range", "bytes=500-"), ("If-Range", stale)],
        );
        assert_eq!(r.status, 200, "If-Range {stale}");
        assert_eq!(r.body, data);
        assert_eq!(r.header("ETag"), Some("\"v2\""));
    }
    let r = get(
        &srv,
        "/a.bin",
        &[("Range", "bytes=500-"), ("If-Range", "\"v2\"")],
    );
    assert_eq!(r.status, 206);
}

#[test]
fn ignore_range_serves_the_whole_file_with_200() {
    let srv = Server::start();
    let data = payload(7, 1000);
    srv.route("/a.bin", Route::file(&data).ignore_range());
    let r = get(&srv, "/a.bin", &[("Range", "bytes=500-")]);
    assert_eq!((r.status, r.header("Accept-Ranges")), (200, None));
    assert_eq!(r.body, data);
}

#[test]
fn validators_can_be_removed() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"abc").etag(None).last_modified(None));
    let r = get(&srv, "/a.bin", &[]);
    assert_eq!((r.header("ETag"), r.header("Last-Modified")), (None, None));
}

#[test]
fn head_sends_the_headers_of_a_get_without_a_body() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(payload(8, 5000)));
    let mut client = Client::connect(&srv);
    let head = client.send("HEAD", "/a.bin", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("5000"));
    assert!(head.header("ETag").is_some());
    // Had the server sent a body, it would now be read as the next response's status line.
    let next = client.send("GET", "/a.bin", &[("Range", "bytes=4990-")]);
    assert_eq!((next.status, next.body.len()), (206, 10));
    assert_eq!(srv.body_bytes_sent("/a.bin"), 10);
}

#[test]
fn refuse_head_answers_head_with_the_given_status() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"abc").refuse_head(405));
    let mut client = Client::connect(&srv);
    let head = client.send("HEAD", "/a.bin", &[]);
    assert_eq!((head.status, head.header("ETag")), (405, None));
    assert_eq!(client.send("GET", "/a.bin", &[]).body, b"abc");
}

#[test]
fn answers_404_for_a_path_without_a_route() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"abc"));
    assert_eq!(get(&srv, "/nope.bin", &[]).status, 404);
    assert_eq!(srv.requests("/nope.bin"), 1);
}

#[test]
fn routes_match_the_path_without_its_query() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"abc"));
    assert_eq!(get(&srv, "/a.bin?token=1", &[]).body, b"abc");
    assert_eq!(srv.requests("/a.bin"), 1);
    assert_eq!(srv.requests("/a.bin?token=1"), 1);
    assert_eq!(srv.log()[0].path, "/a.bin?token=1");
}

// ---- The server: faults ----

#[test]
fn truncate_closes_the_connection_at_the_given_offset() {
    let srv = Server::start();
    let data = payload(9, 1000);
    srv.route(
        "/a.bin",
        Route::script(vec![
            Reply::truncate(&data, 300),
            Reply::truncate(&data, 600),
        ]),
    );
    let mut client = Client::connect(&srv);
    let first = client.send("GET", "/a.bin", &[]);
    assert_eq!(first.header("Content-Length"), Some("1000"));
    assert_eq!(
        (first.complete, first.body.as_slice()),
        (false, &data[..300])
    );
    assert!(client.is_closed());
    // The offset counts into the file, so a resumed request is cut at the same place.
    let resumed = get(&srv, "/a.bin", &[("Range", "bytes=300-")]);
    assert_eq!(resumed.status, 206);
    assert_eq!(
        (resumed.complete, resumed.body.as_slice()),
        (false, &data[300..600])
    );
    assert_eq!(srv.body_bytes_sent("/a.bin"), 600);
}

#[test]
fn stall_pauses_mid_body_then_sends_the_rest() {
    let srv = Server::start();
    let data = payload(10, 1000);
    let pause = Duration::from_millis(500);
    srv.route(
        "/a.bin",
        Route::script(vec![Reply::stall(&data, 400, pause)]),
    );
    let mut stream = TcpStream::connect(srv.addr()).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream
        .write_all(b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    let mut first_part_at = None;
    while !seen.ends_with(&data) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early");
        seen.extend_from_slice(&buf[..n]);
        if first_part_at.is_none() && seen.ends_with(&data[..400]) {
            first_part_at = Some(Instant::now());
        }
    }
    let first_part_at = first_part_at.expect("the first 400 bytes arrived on their own");
    assert!(
        started.elapsed() >= pause,
        "whole body took {:?}",
        started.elapsed()
    );
    // Only a lower bound is safe on a busy machine, and a late first read shortens the gap.
    let gap = first_part_at.elapsed();
    assert!(
        gap >= pause / 2,
        "the rest came {gap:?} after the first part"
    );
}

#[test]
fn throttle_slows_the_body_down() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(payload(11, 4000)).throttle(10_000));
    let started = Instant::now();
    let r = get(&srv, "/a.bin", &[]);
    assert_eq!(r.body.len(), 4000);
    // 4000 bytes at 10 000 B/s: 0.4 s, the first slice free. Only the lower bound is safe.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn delay_waits_before_answering() {
    let srv = Server::start();
    srv.route(
        "/a.bin",
        Route::file(b"abc").delay(Duration::from_millis(200)),
    );
    let started = Instant::now();
    assert_eq!(get(&srv, "/a.bin", &[]).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn chunked_sends_no_content_length_and_a_last_chunk() {
    let srv = Server::start();
    let data = payload(12, 600_000);
    srv.route("/a.bin", Route::file(&data).chunked());
    let mut client = Client::connect(&srv);
    let r = client.send("GET", "/a.bin", &[]);
    assert_eq!(r.header("Content-Length"), None);
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    assert!(r.complete);
    assert_eq!(r.body, data);
    // The framing ended cleanly, so the connection carries another request.
    assert_eq!(client.send("GET", "/a.bin", &[]).body.len(), data.len());
    assert_eq!(srv.connections_opened(), 1);
}

#[test]
fn drop_connection_closes_without_a_response() {
    let srv = Server::start();
    srv.route("/a.bin", Route::script(vec![Reply::drop_connection()]));
    let mut client = Client::connect(&srv);
    client
        .reader
        .get_mut()
        .write_all(b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(client.is_closed());
    assert_eq!(srv.requests("/a.bin"), 1);
}

#[test]
fn redirect_and_extra_headers_are_sent_as_given() {
    let srv = Server::start();
    srv.route(
        "/old",
        Route::script(vec![Reply::redirect(302, "/new").header("X-Why", "moved")]),
    );
    srv.route(
        "/new",
        Route::file(b"abc").header("Content-Type", "text/plain"),
    );
    let r = get(&srv, "/old", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(
        (r.header("Location"), r.header("X-Why")),
        (Some("/new"), Some("moved"))
    );
    let r = get(&srv, "/new", &[]);
    // A test header replaces the server's own rather than doubling it.
    let types: Vec<_> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
        .collect();
    assert_eq!(
        types,
        [&("Content-Type".to_owned(), "text/plain".to_owned())]
    );
}

// ---- The server: scripts, connections, counts ----

#[test]
fn script_replies_in_order_and_repeats_the_last() {
    let srv = Server::start();
    srv.route(
        "/a.bin",
        Route::script(vec![
            Reply::status(503).header("Retry-After", "1"),
            Reply::body(429, "slow down"),
            Reply::file(b"abc"),
        ]),
    );
    let mut client = Client::connect(&srv);
    let first = client.send("GET", "/a.bin", &[]);
    assert_eq!(
        (first.status, first.header("Retry-After")),
        (503, Some("1"))
    );
    let second = client.send("GET", "/a.bin", &[]);
    assert_eq!(
        (second.status, second.body.as_slice()),
        (429, &b"slow down"[..])
    );
    for _ in 0..2 {
        let r = client.send("GET", "/a.bin", &[]);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
    }
    assert_eq!(srv.requests("/a.bin"), 4);
}

#[test]
fn keep_alive_reuses_one_connection_and_the_server_counts_it() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(payload(13, 2000)));
    let mut client = Client::connect(&srv);
    for _ in 0..3 {
        assert_eq!(client.send("GET", "/a.bin", &[]).status, 200);
    }
    assert_eq!(get(&srv, "/a.bin", &[]).status, 200);
    assert_eq!(srv.connections_opened(), 2);
    assert_eq!(srv.requests("/a.bin"), 4);
    let connections: Vec<usize> = srv.log().iter().map(|r| r.connection).collect();
    assert_eq!(connections, [0, 0, 0, 1]);
    assert_eq!(srv.body_bytes_sent("/a.bin"), 8000);
}

#[test]
fn connection_close_from_the_client_is_honoured() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"abc"));
    let mut client = Client::connect(&srv);
    let r = client.send("GET", "/a.bin", &[("Connection", "close")]);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(client.is_closed());
}

#[test]
fn the_log_keeps_method_path_and_headers() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"abc"));
    Client::connect(&srv).send("HEAD", "/a.bin", &[("If-Range", "\"x\"")]);
    let log = srv.log();
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("HEAD", "/a.bin")
    );
    assert_eq!(log[0].header("if-range"), Some("\"x\""));
}

#[test]
fn counts_concurrent_connections_and_requests() {
    let srv = Server::start();
    srv.route(
        "/slow.bin",
        Route::file(b"abc").delay(Duration::from_millis(500)),
    );
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| assert_eq!(get(&srv, "/slow.bin", &[]).status, 200));
        }
    });
    assert_eq!(srv.max_concurrent_connections(), 3);
    assert_eq!(srv.max_concurrent_requests(), 3);
}

#[test]
fn request_counts_are_seen_at_once_while_a_response_is_still_going_out() {
    let srv = Server::start();
    srv.route(
        "/a.bin",
        Route::script(vec![Reply::stall(b"abcdef", 3, Duration::from_secs(30))]),
    );
    let mut client = Client::connect(&srv);
    client
        .reader
        .get_mut()
        .write_all(b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    wait_until(Duration::from_secs(5), "the request", || {
        srv.requests("/a.bin") == 1
    });
    let started = Instant::now();
    assert_eq!((srv.log().len(), srv.connections_opened()), (1, 1));
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn serves_tens_of_mib_intact() {
    let srv = Server::start();
    let data = payload(14, 24 << 20);
    srv.route("/big.bin", Route::file(&data));
    let r = get(&srv, "/big.bin", &[]);
    assert!(r.complete);
    assert!(r.body == data, "24 MiB body differs");
    assert_eq!(srv.body_bytes_sent("/big.bin"), 24 << 20);
}

// ---- The server: expectations and shutdown ----

#[test]
fn expect_panics_on_drop_when_too_few_requests_came() {
    let message = panic_of(|| {
        let srv = Server::start();
        srv.route("/a.bin", Route::file(b"abc").expect(2));
        srv.route("/b.bin", Route::file(b"abc").expect(1));
        get(&srv, "/a.bin", &[]);
    });
    assert!(
        message.contains("/a.bin: expected at least 2 request(s), got 1"),
        "{message}"
    );
    assert!(
        message.contains("/b.bin: expected at least 1 request(s), got 0"),
        "{message}"
    );
}

#[test]
fn expect_is_quiet_when_met_and_still_counts_after_a_route_is_replaced() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"abc").expect(1));
    get(&srv, "/a.bin", &[]);
    srv.route("/a.bin", Route::file(b"xyz").expect(1));
    assert_eq!(get(&srv, "/a.bin", &[]).body, b"xyz");
    drop(srv);

    let message = panic_of(|| {
        let srv = Server::start();
        srv.route("/a.bin", Route::file(b"abc").expect(1));
        srv.route("/a.bin", Route::file(b"xyz"));
        get(&srv, "/a.bin", &[]);
    });
    assert!(message.contains("/a.bin: expected at least 1"), "{message}");
}

#[test]
fn dropping_the_server_stops_it_promptly_even_mid_stall() {
    let srv = Server::start();
    let addr = srv.addr();
    srv.route(
        "/a.bin",
        Route::script(vec![Reply::stall(b"abcdef", 3, Duration::from_secs(60))]),
    );
    let mut client = Client::connect(&srv);
    client
        .reader
        .get_mut()
        .write_all(b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Wait for the stall to begin: the head and the first 3 bytes have arrived.
    let mut seen = Vec::new();
    while !seen.ends_with(b"abc") {
        let mut buf = [0; 256];
        let n = client.reader.read(&mut buf).unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    let started = Instant::now();
    drop(srv);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(client.is_closed());
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after drop"
    );
}
