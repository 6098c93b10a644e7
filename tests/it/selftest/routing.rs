//! Self-tests of the server's routing and scripting (`support/server/script.rs`) and of the
//! server itself: 404s, queries, redirects and headers, scripts, connections and counts,
//! expectations checked on drop, and shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use super::{Client, get, panic_of};
use crate::support::server::{Reply, Route, Server};
use crate::support::{payload, wait_until};

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
fn the_log_records_when_each_request_arrived_in_arrival_order() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"abc"));
    let before = Instant::now();
    let mut client = Client::connect(&srv);
    client.send("GET", "/a.bin", &[]);
    client.send("GET", "/a.bin", &[]);
    let after = Instant::now();
    let log = srv.log();
    assert!(before <= log[0].at && log[0].at <= log[1].at && log[1].at <= after);
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
    // Waiting for the response would take the 2 s settle limit; a busy machine keeps 1.5 s.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
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
