//! Self-tests of the server's gates (`support/server/gate.rs`): a held reply waits for the
//! test, counts as in flight meanwhile, and is let go when the server is dropped.

use std::io::Write;
use std::thread;
use std::time::Duration;

use super::{Client, get};
use crate::support::server::{Gate, Reply, Route, Server};
use crate::support::wait_until;

#[test]
fn a_held_reply_goes_out_only_once_the_gate_is_open() {
    let srv = Server::start();
    let gate = Gate::new();
    srv.route("/a.bin", Route::file(b"abc").hold(&gate));
    let client = thread::scope(|s| {
        let client = s.spawn(|| {
            let response = get(&srv, "/a.bin", &[]);
            // Whenever it arrives, the gate must already be open.
            (response, gate.is_open())
        });
        wait_until(Duration::from_secs(10), "the held request", || {
            srv.requests("/a.bin") == 1
        });
        // Logged, and answered by nobody yet: in flight.
        assert_eq!(srv.max_concurrent_requests(), 1);
        assert!(!client.is_finished(), "answered before the gate opened");
        gate.open();
        client.join().unwrap()
    });
    let (response, open_when_answered) = client;
    assert!(open_when_answered);
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"abc"[..])
    );
}

#[test]
fn held_requests_are_in_flight_together_until_the_gate_opens() {
    let srv = Server::start();
    let gate = Gate::new();
    srv.route(
        "/a.bin",
        Route::script(vec![Reply::file(b"abc").hold(&gate)]),
    );
    thread::scope(|s| {
        let clients: Vec<_> = (0..3)
            .map(|_| s.spawn(|| get(&srv, "/a.bin", &[]).status))
            .collect();
        wait_until(Duration::from_secs(10), "three held requests", || {
            srv.max_concurrent_requests() == 3
        });
        gate.open();
        for client in clients {
            assert_eq!(client.join().unwrap(), 200);
        }
    });
    assert_eq!(srv.requests("/a.bin"), 3);
}

#[test]
fn dropping_the_server_lets_a_held_reply_go_unanswered() {
    let srv = Server::start();
    let gate = Gate::new();
    srv.route("/a.bin", Route::file(b"abc").hold(&gate));
    let mut client = Client::connect(&srv);
    client
        .reader
        .get_mut()
        .write_all(b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    wait_until(Duration::from_secs(10), "the held request", || {
        srv.requests("/a.bin") == 1
    });
    drop(srv);
    assert!(client.is_closed(), "closed without an answer");
}
