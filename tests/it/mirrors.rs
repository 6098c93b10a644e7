//! Mirrors: a file that fails on one URL (HTTP error, refused connection) is fetched from
//! the next (`mirror=URL` list fields, Metalink `<url>`s by priority) before it counts as
//! failed, and the output says which mirror delivered it.

use std::fs;
use std::net::TcpListener;

use crate::support::server::{Reply, Route, Server};
use crate::support::{Pat, fetchpool, list_dir, payload, sha256_hex, temp_dir, write_file};

/// A loopback URL nothing listens on (the port was bound, then released).
fn refused_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}{path}")
}

#[test]
fn a_404_on_the_first_mirror_hands_over_to_the_second() {
    let srv = Server::start();
    let body = payload(51, 50_000);
    srv.route(
        "/one/f.bin",
        Route::script(vec![Reply::status(404)]).expect(1),
    );
    srv.route("/two/f.bin", Route::file(&body).expect(1));
    let dir = temp_dir();
    let line = format!(
        "{} mirror={} sha256={}\n",
        srv.url("/one/f.bin"),
        srv.url("/two/f.bin"),
        sha256_hex(&body)
    );
    let list = write_file(dir.path(), "urls.txt", line.as_bytes());
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "--json", "--progress", "plain", "-i"])
        .arg(&list)
        .arg("-d")
        .arg(&out)
        .run()
        .assert(
            0,
            Pat::has(&[
                format!(r#""url":"{}""#, srv.url("/two/f.bin")).as_str(),
                r#""status":"ok""#,
                r#""verified":true"#,
            ]),
            Pat::has(&[
                "HTTP 404 Not Found from",
                &format!("trying mirror {}", srv.url("/two/f.bin")),
                &format!("sha256 verified, from mirror {})", srv.url("/two/f.bin")),
            ]),
        );
    assert_eq!(fs::read(out.join("f.bin")).unwrap(), body);
    assert_eq!(list_dir(&out), ["f.bin"]);
}

#[test]
fn a_refused_connection_hands_over_to_the_next_mirror() {
    let srv = Server::start();
    srv.route("/f", Route::file(b"from the mirror").expect(1));
    let dir = temp_dir();
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "1")
        .args(["get", "--retries", "1", "-d"])
        .arg(dir.path())
        .arg(format!("{} mirror={}", refused_url("/f"), srv.url("/f")))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["trying mirror", "from mirror"]));
    assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"from the mirror");
}

#[test]
fn a_file_fails_only_when_every_mirror_failed() {
    let srv = Server::start();
    srv.route("/a/f", Route::script(vec![Reply::status(404)]).expect(1));
    srv.route("/b/f", Route::script(vec![Reply::status(403)]).expect(1));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path())
        .arg(format!("{} mirror={}", srv.url("/a/f"), srv.url("/b/f")))
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&["f: HTTP 403 Forbidden", &srv.url("/b/f")]),
        );
    assert!(list_dir(dir.path()).is_empty());
}

#[test]
fn metalink_urls_fail_over_in_priority_order() {
    let srv = Server::start();
    let body = payload(52, 20_000);
    srv.route("/p1/x.bin", Route::script(vec![Reply::status(503)]));
    srv.route("/p2/x.bin", Route::file(&body).expect(1));
    srv.route("/p3/x.bin", Route::file(&body));
    let meta = format!(
        "<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n<file name=\"x.bin\">\n\
         <hash type=\"sha-256\">{}</hash>\n<url priority=\"3\">{}</url>\n\
         <url priority=\"1\">{}</url>\n<url priority=\"2\">{}</url>\n</file>\n</metalink>\n",
        sha256_hex(&body),
        srv.url("/p3/x.bin"),
        srv.url("/p1/x.bin"),
        srv.url("/p2/x.bin"),
    );
    let dir = temp_dir();
    let list = write_file(dir.path(), "x.meta4", meta.as_bytes());
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "1")
        .args(["get", "--retries", "0", "-i"])
        .arg(&list)
        .arg("-d")
        .arg(dir.path().join("out"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["from mirror", "/p2/x.bin"]));
    assert_eq!(srv.requests("/p3/x.bin"), 0);
    assert_eq!(fs::read(dir.path().join("out/x.bin")).unwrap(), body);
}

#[test]
fn a_mirror_serving_different_bytes_hands_over_to_the_next() {
    let srv = Server::start();
    let good = payload(53, 40_000);
    let evil = payload(54, 40_000);
    srv.route("/one/f.bin", Route::file(&evil).expect(1));
    srv.route("/two/f.bin", Route::file(&good).expect(1));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "--progress", "plain", "-d"])
        .arg(dir.path())
        .arg(format!(
            "{} mirror={} sha256={}",
            srv.url("/one/f.bin"),
            srv.url("/two/f.bin"),
            sha256_hex(&good)
        ))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&[
                format!("checksum mismatch: want sha256:{}", sha256_hex(&good)).as_str(),
                format!("trying mirror {}", srv.url("/two/f.bin")).as_str(),
                "sha256 verified, from mirror",
            ]),
        );
    assert_eq!(fs::read(dir.path().join("f.bin")).unwrap(), good);
    assert_eq!(list_dir(dir.path()), ["f.bin"]);
}

#[test]
fn when_every_mirror_serves_different_bytes_the_file_is_a_mismatch() {
    let srv = Server::start();
    srv.route("/one/f", Route::file(b"one").expect(1));
    srv.route("/two/f", Route::file(b"two").expect(1));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path())
        .arg(format!(
            "{} mirror={} sha256={}",
            srv.url("/one/f"),
            srv.url("/two/f"),
            "0".repeat(64)
        ))
        .run()
        .assert(3, Pat::empty(), Pat::has(&["f: checksum mismatch"]));
    assert!(list_dir(dir.path()).is_empty());
}

/// Bodies this large (over 1 MiB, with a validator) can be resumed, so without another
/// mirror they are hashed on the hash pool once complete, not as they arrive.
const RESUMABLE: usize = 2 * 1024 * 1024 + 123;

#[test]
fn a_large_body_with_the_wrong_bytes_hands_over_to_the_next_mirror_and_lands_verified() {
    let srv = Server::start();
    let good = payload(55, RESUMABLE);
    let evil = payload(56, RESUMABLE);
    srv.route("/one/big.bin", Route::file(&evil).expect(1));
    srv.route("/two/big.bin", Route::file(&good).expect(1));
    let dir = temp_dir();
    let run = fetchpool()
        .args(["get", "--json", "--progress", "plain", "-d"])
        .arg(dir.path())
        .arg(format!(
            "{} mirror={} sha256={}",
            srv.url("/one/big.bin"),
            srv.url("/two/big.bin"),
            sha256_hex(&good)
        ))
        .run();
    run.assert(
        0,
        Pat::has(&[
            format!(r#""url":"{}""#, srv.url("/two/big.bin")).as_str(),
            r#""status":"ok""#,
            r#""verified":true"#,
        ]),
        Pat::has(&[
            format!(
                "checksum mismatch: want sha256:{}, got sha256:{} from {}; trying mirror {}",
                sha256_hex(&good),
                sha256_hex(&evil),
                srv.url("/one/big.bin"),
                srv.url("/two/big.bin")
            )
            .as_str(),
            &format!("sha256 verified, from mirror {})", srv.url("/two/big.bin")),
            "1 ok, 0 failed; 1 verified",
        ]),
    );
    assert!(fs::read(dir.path().join("big.bin")).unwrap() == good);
    assert_eq!(list_dir(dir.path()), ["big.bin"], "no .part, no sidecar");
}

#[test]
fn a_part_resumed_from_an_earlier_run_with_the_wrong_bytes_hands_over_to_the_next_mirror() {
    let srv = Server::start();
    let good = payload(57, RESUMABLE);
    let evil = payload(58, RESUMABLE);
    // The first run is cut after 1 MiB and keeps its .part; the second resumes it.
    srv.route(
        "/one/big.bin",
        Route::script(vec![
            Reply::truncate(&evil, 1024 * 1024),
            Reply::file(&evil),
        ])
        .expect(2),
    );
    srv.route("/two/big.bin", Route::file(&good).expect(1));
    let dir = temp_dir();
    let digest = format!("sha256={}", sha256_hex(&good));
    fetchpool()
        .args(["get", "-q", "--retries", "0", "-d"])
        .arg(dir.path())
        .arg(format!("{} {digest}", srv.url("/one/big.bin")))
        .run()
        .assert(1, Pat::empty(), Pat::empty());
    assert!(dir.path().join("big.bin.part").exists(), "kept: resumable");
    assert_eq!(srv.requests("/two/big.bin"), 0);
    fetchpool()
        .args(["get", "--progress", "plain", "-d"])
        .arg(dir.path())
        .arg(format!(
            "{} mirror={} {digest}",
            srv.url("/one/big.bin"),
            srv.url("/two/big.bin")
        ))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&[
                format!("got sha256:{} from", sha256_hex(&evil)).as_str(),
                &format!("trying mirror {}", srv.url("/two/big.bin")),
                &format!("sha256 verified, from mirror {})", srv.url("/two/big.bin")),
            ]),
        );
    let resumed = &srv.log()[1];
    assert_eq!(resumed.path, "/one/big.bin");
    assert_eq!(
        resumed.header("Range"),
        Some("bytes=1048576-"),
        "it was resumed"
    );
    assert_eq!(
        srv.log()[2].header("Range"),
        None,
        "the mirror's body from the start"
    );
    assert!(fs::read(dir.path().join("big.bin")).unwrap() == good);
    assert_eq!(list_dir(dir.path()), ["big.bin"], "no .part, no sidecar");
}

#[test]
fn when_every_mirror_serves_different_large_bodies_the_file_is_a_mismatch_and_nothing_stays() {
    let srv = Server::start();
    srv.route(
        "/one/big.bin",
        Route::file(payload(59, RESUMABLE)).expect(1),
    );
    srv.route(
        "/two/big.bin",
        Route::file(payload(60, RESUMABLE)).expect(1),
    );
    srv.route(
        "/three/big.bin",
        Route::file(payload(61, RESUMABLE)).expect(1),
    );
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path())
        .arg(format!(
            "{} mirror={} mirror={} sha256={}",
            srv.url("/one/big.bin"),
            srv.url("/two/big.bin"),
            srv.url("/three/big.bin"),
            "0".repeat(64)
        ))
        .run()
        .assert(3, Pat::empty(), Pat::has(&["big.bin: checksum mismatch"]));
    assert!(
        list_dir(dir.path()).is_empty(),
        "{:?}",
        list_dir(dir.path())
    );
}

#[test]
fn a_split_body_with_the_wrong_bytes_hands_over_to_the_next_mirror_too() {
    let srv = Server::start();
    let good = payload(62, 3 * 1024 * 1024);
    let evil = payload(63, 3 * 1024 * 1024);
    // Paced, as a far-away server is: only a file one connection would take long for is
    // split (see split.rs), so an unpaced loopback body may land before a split starts.
    srv.route(
        "/one/split.bin",
        Route::file(&evil).throttle(2 * 1024 * 1024).expect(1),
    );
    srv.route("/two/split.bin", Route::file(&good).expect(1));
    let dir = temp_dir();
    let run = fetchpool()
        .args([
            "get",
            "--progress",
            "plain",
            "-j",
            "4",
            "--min-split-size",
            "256K",
        ])
        .arg("-d")
        .arg(dir.path())
        .arg(format!(
            "{} mirror={} sha256={}",
            srv.url("/one/split.bin"),
            srv.url("/two/split.bin"),
            sha256_hex(&good)
        ))
        .run();
    run.assert(
        0,
        Pat::empty(),
        Pat::has(&[
            format!("got sha256:{} from", sha256_hex(&evil)).as_str(),
            &format!(
                "sha256 verified, from mirror {})",
                srv.url("/two/split.bin")
            ),
        ]),
    );
    assert!(
        srv.requests("/one/split.bin") > 1,
        "the first mirror's body was split"
    );
    assert_eq!(
        srv.requests("/two/split.bin"),
        1,
        "the next one's is one stream"
    );
    assert!(fs::read(dir.path().join("split.bin")).unwrap() == good);
    assert_eq!(list_dir(dir.path()), ["split.bin"], "no .part, no record");
}

#[test]
fn a_split_file_resumed_from_an_earlier_run_with_the_wrong_bytes_hands_over_to_the_next_mirror() {
    const MIB: usize = 1024 * 1024;
    let srv = Server::start();
    let good = payload(64, 16 * MIB);
    let evil = payload(65, 16 * MIB);
    srv.route(
        "/one/split.bin",
        Route::file(&evil).throttle(4 * MIB as u64),
    );
    srv.route("/two/split.bin", Route::file(&good));
    let dir = temp_dir();
    let digest = format!("sha256={}", sha256_hex(&good));
    let get = || {
        fetchpool()
            .env("FETCHPOOL_TEST_BACKOFF_MS", "20")
            .args(["get", "-j", "4", "--min-split-size", "1M", "-d"])
            .arg(dir.path())
    };
    // The first run splits the first mirror's body and is interrupted with ranges on disk.
    let running = get()
        .arg(format!("{} {digest}", srv.url("/one/split.bin")))
        .spawn();
    let record = dir.path().join("split.bin.part.fetchpool");
    crate::support::wait_until(
        std::time::Duration::from_secs(20),
        "a segment record with ranges",
        || fs::read_to_string(&record).is_ok_and(|t| t.lines().count() > 4),
    );
    running.signal(2);
    running.wait().assert(130, Pat::empty(), Pat::any());
    assert!(dir.path().join("split.bin.part").exists());
    srv.route("/one/split.bin", Route::file(&evil));
    let before = srv.log().len();
    get()
        .args(["--progress", "plain"])
        .arg(format!(
            "{} mirror={} {digest}",
            srv.url("/one/split.bin"),
            srv.url("/two/split.bin")
        ))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&[
                format!("got sha256:{} from", sha256_hex(&evil)).as_str(),
                &format!(
                    "sha256 verified, from mirror {})",
                    srv.url("/two/split.bin")
                ),
            ]),
        );
    let resumed: Vec<_> = srv.log()[before..]
        .iter()
        .filter(|r| r.path == "/one/split.bin")
        .map(|r| r.header("If-Range").is_some())
        .collect();
    assert!(
        !resumed.is_empty() && resumed.iter().all(|&ranged| ranged),
        "the first mirror's missing ranges were fetched under If-Range: {resumed:?}"
    );
    assert!(fs::read(dir.path().join("split.bin")).unwrap() == good);
    assert_eq!(list_dir(dir.path()), ["split.bin"], "no .part, no record");
}
