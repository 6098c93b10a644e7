//! Self-tests of the server's limits (`support/server/limits.rs`): requests at once per path,
//! and a resource that changes after N bytes served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use super::{CLIENT_TIMEOUT, Client, get};
use crate::support::server::{Gate, Over, Reply, Route, Server};
use crate::support::wait_until;

#[test]
fn at_most_at_once_turns_away_the_request_over_the_limit_with_its_status_or_a_close() {
    for over in [Over::Status(429), Over::Close] {
        let srv = Server::start();
        let gate = Gate::new();
        srv.route(
            "/one",
            Route::file(b"hello").hold(&gate).at_most_at_once(1, over),
        );
        let mut first = Client::connect(&srv);
        let held = thread::spawn(move || first.send("GET", "/one", &[]));
        wait_until(Duration::from_secs(10), "the first request", || {
            srv.requests("/one") == 1
        });
        match over {
            Over::Status(code) => {
                let refused = get(&srv, "/one", &[]);
                assert_eq!(refused.status, code);
                assert_eq!(refused.header("Retry-After"), Some("1"));
            }
            Over::Close => {
                let mut raw = TcpStream::connect(srv.addr()).unwrap();
                raw.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
                raw.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut answer = Vec::new();
                let _ = raw.read_to_end(&mut answer);
                assert!(answer.is_empty(), "closed without an answer");
            }
        }
        gate.open();
        let served = held.join().unwrap();
        assert_eq!(
            (served.status, served.body.as_slice()),
            (200, &b"hello"[..])
        );
        assert_eq!(srv.requests_over_limit("/one"), 1);
        assert_eq!(srv.max_concurrent_requests_to("/one"), 2);
        // One at a time is fine.
        assert_eq!(get(&srv, "/one", &[]).status, 200);
    }
}

#[test]
fn changes_after_serves_the_new_version_once_enough_bytes_went_out() {
    let srv = Server::start();
    srv.route(
        "/doc",
        Route::file(b"version one").changes_after(5, Reply::file(b"version two!")),
    );
    let first = get(&srv, "/doc", &[]);
    assert_eq!(first.body, b"version one");
    let second = get(&srv, "/doc", &[]);
    assert_eq!(second.body, b"version two!");
    assert_ne!(first.header("ETag"), second.header("ETag"));
    // A range under the old validator now gets the whole new version.
    let etag = first.header("ETag").unwrap();
    let ranged = get(&srv, "/doc", &[("Range", "bytes=8-"), ("If-Range", etag)]);
    assert_eq!(
        (ranged.status, ranged.body.as_slice()),
        (200, &b"version two!"[..])
    );
}
