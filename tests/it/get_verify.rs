//! `get` with digests: verification on the hash pool before a file gets its final name,
//! manifests as digest sources and as the plan, mismatches, and --write-checksums.

use std::fs;

use crate::support::server::{Reply, Route, Server};
use crate::support::{
    Pat, command, fetchpool, list_dir, payload, sha256_hex, temp_dir, write_file,
};

#[test]
fn a_file_with_the_right_digest_is_verified_and_one_with_a_wrong_digest_never_lands() {
    let srv = Server::start();
    let good = payload(1, 500_000);
    let bad = payload(2, 400_000);
    srv.route("/good.bin", Route::file(&good));
    srv.route("/bad.bin", Route::file(&bad));
    let dir = temp_dir();
    let list = format!(
        "{} sha256={}\n{} sha256={}\n",
        srv.url("/good.bin"),
        sha256_hex(&good),
        srv.url("/bad.bin"),
        sha256_hex(&good),
    );
    let listfile = write_file(dir.path(), "urls.txt", list.as_bytes());
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "-i"])
        .arg(&listfile)
        .arg("-d")
        .arg(&out)
        .run()
        .assert(
            3,
            Pat::empty(),
            Pat::has(&[
                "good.bin (488.28 KiB, sha256 verified)",
                "bad.bin: checksum mismatch: want sha256:",
                &format!("got sha256:{}", sha256_hex(&bad)),
                "1 ok, 0 failed, 1 mismatch; 1 verified",
                "1 mismatch",
            ]),
        );
    assert_eq!(list_dir(&out), ["good.bin"], "no bad.bin, no bad.bin.part");
}

#[test]
fn a_mismatch_wins_over_a_failure_in_the_exit_status() {
    let srv = Server::start();
    srv.route("/x", Route::file(b"x"));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path())
        .arg(format!("{} sha256={}", srv.url("/x"), "0".repeat(64)))
        .arg(srv.url("/missing"))
        .run()
        .assert(
            3,
            Pat::empty(),
            Pat::has(&["checksum mismatch", "HTTP 404"]),
        );
}

#[test]
fn a_manifest_supplies_digests_by_output_name() {
    let srv = Server::start();
    let a = payload(3, 70_000);
    let b = payload(4, 80_000);
    srv.route("/dl/a.tar.gz", Route::file(&a));
    srv.route("/dl/b.tar.gz", Route::file(&b));
    let dir = temp_dir();
    let manifest = format!(
        "{}  a.tar.gz\nSHA256 (b.tar.gz) = {}\n{}  unrelated.iso\n",
        sha256_hex(&a),
        sha256_hex(&b),
        "1".repeat(64)
    );
    let sums = write_file(dir.path(), "SHA256SUMS", manifest.as_bytes());
    fetchpool()
        .args(["get", "-c"])
        .arg(&sums)
        .arg("-d")
        .arg(dir.path().join("out"))
        .args([srv.url("/dl/a.tar.gz"), srv.url("/dl/b.tar.gz")])
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok, 0 failed; 2 verified"]));
}

#[test]
fn a_malformed_manifest_line_stops_the_run_before_any_download() {
    let srv = Server::start();
    srv.route("/a", Route::file(b"a"));
    let dir = temp_dir();
    let sums = write_file(dir.path(), "SUMS", b"# sums\nnot-hex  a\n");
    fetchpool()
        .args(["get", "-c"])
        .arg(&sums)
        .arg("-d")
        .arg(dir.path())
        .arg(srv.url("/a"))
        .run()
        .assert(2, Pat::empty(), Pat::has(&["SUMS:2: "]));
    assert_eq!(srv.requests("/a"), 0);
}

#[test]
fn a_manifest_url_with_a_base_url_is_the_whole_download_plan() {
    let srv = Server::start();
    let one = payload(5, 10_000);
    let two = payload(6, 20_000);
    srv.route("/rel/one file.bin", Route::file(&one));
    srv.route("/rel/one%20file.bin", Route::file(&one));
    srv.route("/rel/two.bin", Route::file(&two));
    let manifest = format!(
        "{}  one file.bin\n{} *./two.bin\n",
        sha256_hex(&one),
        sha256_hex(&two)
    );
    srv.route("/rel/SHA256SUMS", Route::file(manifest.as_bytes()));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "--base-url"])
        .arg(srv.url("/rel/"))
        .arg("-c")
        .arg(srv.url("/rel/SHA256SUMS"))
        .arg("-d")
        .arg(dir.path())
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok, 0 failed; 2 verified"]));
    assert!(fs::read(dir.path().join("one file.bin")).unwrap() == one);
    assert!(fs::read(dir.path().join("two.bin")).unwrap() == two);
}

#[test]
fn an_existing_file_is_verified_instead_of_skipped_blindly() {
    let srv = Server::start();
    let body = payload(7, 30_000);
    srv.route("/have.bin", Route::file(&body));
    let dir = temp_dir();
    write_file(dir.path(), "have.bin", b"tampered");
    let arg = format!("{} sha256={}", srv.url("/have.bin"), sha256_hex(&body));
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path())
        .arg(&arg)
        .run()
        .assert(3, Pat::empty(), Pat::has(&["have.bin: checksum mismatch"]));
    assert_eq!(
        fs::read(dir.path().join("have.bin")).unwrap(),
        b"tampered",
        "never clobbered"
    );
    assert_eq!(srv.requests("/have.bin"), 0);
    fetchpool()
        .args(["get", "--overwrite", "-d"])
        .arg(dir.path())
        .arg(&arg)
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok, 0 failed; 1 verified"]));
    assert!(fs::read(dir.path().join("have.bin")).unwrap() == body);
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path())
        .arg(&arg)
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["SKIPPED  ", "(exists, verified)"]),
        );
    assert_eq!(srv.requests("/have.bin"), 1, "a rerun moves no bytes");
}

#[test]
fn write_checksums_records_what_landed_in_a_format_sha256sum_checks() {
    let srv = Server::start();
    for i in 0..5u64 {
        srv.route(
            &format!("/f{i}"),
            Route::file(payload(i, 1000 * i as usize)),
        );
    }
    let dir = temp_dir();
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "-d"])
        .arg(&out)
        .arg("--write-checksums")
        .arg(out.join("SHA256SUMS"))
        .args((0..5).map(|i| srv.url(&format!("/f{i}"))))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["5 ok"]));
    let sums = fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 5, "{sums}");
    assert!(
        sums.lines().next().unwrap().ends_with("  f0"),
        "input order: {sums}"
    );
    command("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out)
        .run()
        .assert(0, Pat::has(&["f0: OK", "f4: OK"]), Pat::empty());
}

#[test]
fn a_hash_worker_killed_mid_run_is_replaced_and_the_file_retried() {
    // Bodies of 1 MiB and more (with a validator) land as NAME.part and are hashed by the
    // worker pool; smaller ones are hashed as they stream in.
    let srv = Server::start();
    let mut args = Vec::new();
    for i in 0..6u64 {
        let body = payload(10 + i, 1_500_000);
        srv.route(&format!("/w{i}.bin"), Route::file(&body));
        args.push(format!(
            "{} sha256={}",
            srv.url(&format!("/w{i}.bin")),
            sha256_hex(&body)
        ));
    }
    // Downloads are hashed on the way in; the hash workers check what is already on disk
    // (and bodies resumed from an earlier run). So: download, then verify in place.
    let dir = temp_dir();
    for sub in ["once", "always"] {
        fetchpool()
            .args(["get", "-d"])
            .arg(dir.path().join(sub))
            .args(&args)
            .run()
            .assert(0, Pat::empty(), Pat::has(&["6 ok, 0 failed; 6 verified"]));
    }
    fetchpool()
        .env("FETCHPOOL_TEST_WORKER_ABORT", "once:w3.bin")
        .args(["get", "--hash-workers", "2", "-d"])
        .arg(dir.path().join("once"))
        .args(&args)
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["0 ok, 6 skipped, 0 failed; 6 verified", "6 skipped"]),
        );
    fetchpool()
        .env("FETCHPOOL_TEST_WORKER_ABORT", "always:w3.bin")
        .args(["get", "--hash-workers", "2", "-d"])
        .arg(dir.path().join("always"))
        .args(&args)
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&[
                "w3.bin: hashing failed",
                "0 ok, 5 skipped, 1 failed; 5 verified",
            ]),
        );
    // A file that could not be checked is left as it was.
    assert!(dir.path().join("always/w3.bin").exists());
}

/// A route that answers 503 twice (the first with Retry-After), then serves `bytes`.
fn after_two_503s(bytes: &[u8]) -> Route {
    Route::script(vec![
        Reply::status(503).header("Retry-After", "1"),
        Reply::status(503),
        Reply::file(bytes),
    ])
    .expect(3)
}

#[test]
fn a_manifest_url_that_answers_503_twice_is_retried_like_a_download_and_used() {
    let srv = Server::start();
    let one = payload(8, 10_000);
    srv.route("/rel/one.bin", Route::file(&one).expect(1));
    let manifest = format!("{}  one.bin\n", sha256_hex(&one));
    srv.route("/rel/SHA256SUMS", after_two_503s(manifest.as_bytes()));
    let dir = temp_dir();
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "1")
        .args(["get", "--progress", "plain", "-c"])
        .arg(srv.url("/rel/SHA256SUMS"))
        .arg("-d")
        .arg(dir.path())
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&[
                format!(
                    "fetchpool: RETRY {}: HTTP 503 Service Unavailable; attempt 2 in",
                    srv.url("/rel/SHA256SUMS")
                )
                .as_str(),
                "attempt 3 in",
                "1 ok, 0 failed; 1 verified",
            ]),
        );
    assert_eq!(srv.requests("/rel/SHA256SUMS"), 3);
    assert_eq!(fs::read(dir.path().join("one.bin")).unwrap(), one);
}

#[test]
fn a_list_url_that_answers_503_twice_is_retried_and_read() {
    let srv = Server::start();
    let body = payload(9, 10_000);
    srv.route("/f.bin", Route::file(&body).expect(1));
    let list = format!("{} sha256={}\n", srv.url("/f.bin"), sha256_hex(&body));
    srv.route("/urls.txt", after_two_503s(list.as_bytes()));
    let dir = temp_dir();
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "1")
        .args(["get", "-q", "-i"])
        .arg(srv.url("/urls.txt"))
        .arg("-d")
        .arg(dir.path())
        .run()
        .assert(0, Pat::empty(), Pat::empty());
    assert_eq!(srv.requests("/urls.txt"), 3);
    assert_eq!(fs::read(dir.path().join("f.bin")).unwrap(), body);
}

#[test]
fn a_manifest_or_list_url_that_is_not_there_stops_the_run_naming_it_and_writes_nothing() {
    let srv = Server::start();
    srv.route("/a", Route::file(b"a"));
    srv.route(
        "/rel/SHA256SUMS",
        Route::script(vec![Reply::status(404)]).expect(1),
    );
    srv.route(
        "/gone.txt",
        Route::script(vec![Reply::status(410)]).expect(1),
    );
    let dir = temp_dir();
    let out = dir.path().join("out");
    let manifest = srv.url("/rel/SHA256SUMS");
    fetchpool()
        .args(["get", "-c", &manifest, "-d"])
        .arg(&out)
        .arg(srv.url("/a"))
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::eq(format!(
                "fetchpool: {manifest}: cannot read: HTTP 404 Not Found\n"
            )),
        );
    let list = srv.url("/gone.txt");
    fetchpool()
        .args(["get", "-i", &list, "-d"])
        .arg(&out)
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::eq(format!("fetchpool: {list}: cannot read: HTTP 410 Gone\n")),
        );
    assert_eq!(srv.requests("/rel/SHA256SUMS"), 1, "a 404 is not retried");
    assert_eq!(srv.requests("/a"), 0);
    assert!(!out.exists(), "the output directory was created");
}

#[test]
fn a_manifest_url_whose_body_stalls_is_retried_within_the_stall_timeout() {
    let srv = Server::start();
    let one = payload(10, 10_000);
    srv.route("/rel/one.bin", Route::file(&one).expect(1));
    let manifest = format!("{}  one.bin\n", sha256_hex(&one));
    srv.route(
        "/rel/SHA256SUMS",
        Route::script(vec![
            Reply::stall(manifest.as_bytes(), 10, std::time::Duration::from_secs(30)),
            Reply::file(manifest.as_bytes()),
        ])
        .expect(2),
    );
    let dir = temp_dir();
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "1")
        .args(["get", "--progress", "plain", "--timeout", "0.5", "-c"])
        .arg(srv.url("/rel/SHA256SUMS"))
        .arg("-d")
        .arg(dir.path())
        .timeout(std::time::Duration::from_secs(20))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&[
                "SHA256SUMS: stalled: no data for 0.5 s; attempt 2 in",
                "1 ok, 0 failed; 1 verified",
            ]),
        );
    assert_eq!(fs::read(dir.path().join("one.bin")).unwrap(), one);
}

#[test]
fn an_interrupt_while_a_manifest_url_waits_for_its_retry_ends_the_run_with_130() {
    let srv = Server::start();
    srv.route("/rel/SHA256SUMS", Route::script(vec![Reply::status(503)]));
    let dir = temp_dir();
    let out = dir.path().join("out");
    let running = fetchpool()
        .args(["get", "--retry-wait", "60", "-c"])
        .arg(srv.url("/rel/SHA256SUMS"))
        .arg("-d")
        .arg(&out)
        .timeout(std::time::Duration::from_secs(30))
        .spawn();
    crate::support::wait_until(
        std::time::Duration::from_secs(20),
        "the first retry's wait",
        || running.stderr_so_far().contains("attempt 2 in"),
    );
    running.signal(2);
    running.wait().assert(
        130,
        Pat::empty(),
        Pat::has(&[format!(
            "fetchpool: {}: cannot read: interrupted\n",
            srv.url("/rel/SHA256SUMS")
        )]),
    );
    assert_eq!(srv.requests("/rel/SHA256SUMS"), 1);
    assert!(!out.exists(), "the output directory was created");
}
