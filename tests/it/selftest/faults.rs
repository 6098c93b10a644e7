//! Self-tests of the server's faults (`support/server/faults.rs`): truncate, stall, throttle,
//! delay, dropped connections, and chunked bodies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{CLIENT_TIMEOUT, Client, get};
use crate::support::payload;
use crate::support::server::{Reply, Route, Server};

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
