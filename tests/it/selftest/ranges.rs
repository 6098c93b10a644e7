//! Self-tests of the server's file replies (`support/server/ranges.rs`): whole files with
//! validators, Range and If-Range, 416, HEAD.

use super::{Client, get};
use crate::support::payload;
use crate::support::server::{Route, Server};

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
fn etag_and_last_modified_set_to_none_send_no_validators() {
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
