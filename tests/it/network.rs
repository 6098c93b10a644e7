//! Downloads that survive real networks: retries, resume with If-Range, stalls, redirects,
//! interrupts, IPv6 literals, failures named in one line, credentials kept at their origin
//! across redirects, and two runs sharing one directory (the `.part` lock). Every wait is
//! bounded; backoff is shortened with FETCHPOOL_TEST_BACKOFF_MS.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::proxy::{Asked, HttpProxy};
use crate::support::server::{Reply, Route, Server};
use crate::support::{Cmd, Pat, fetchpool, list_dir, payload, sha256_hex, temp_dir, write_file};

const MIB: usize = 1024 * 1024;

fn get(dir: &Path) -> Cmd {
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "20")
        .args(["get", "-d"])
        .arg(dir)
}

/// Waits (at most 20 s) until `path` holds at least `bytes`.
fn wait_for_size(path: &Path, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::metadata(path).map_or(0, |m| m.len()) < bytes {
        assert!(
            Instant::now() < deadline,
            "{} never reached {bytes} bytes",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_truncated_body_is_retried_and_resumed_from_where_it_stopped() {
    let srv = Server::start();
    let body = payload(1, 3 * MIB);
    srv.route(
        "/big.bin",
        Route::script(vec![Reply::truncate(&body, 2 * MIB), Reply::file(&body)]),
    );
    let dir = temp_dir();
    get(dir.path()).arg(srv.url("/big.bin")).run().assert(
        0,
        Pat::empty(),
        Pat::has(&["RETRY    big.bin", "1 ok"]),
    );
    assert!(fs::read(dir.path().join("big.bin")).unwrap() == body);
    let log = srv.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].header("Range"), Some("bytes=2097152-"));
    assert!(
        log[1].header("If-Range").is_some(),
        "resume carries its validator"
    );
    assert_eq!(
        srv.body_bytes_sent("/big.bin"),
        3 * MIB as u64,
        "no byte sent twice"
    );
    assert_eq!(
        list_dir(dir.path()),
        ["big.bin"],
        "no .part or sidecar left"
    );
}

#[test]
fn a_503_with_retry_after_is_retried_and_a_404_is_not() {
    let srv = Server::start();
    srv.route(
        "/busy",
        Route::script(vec![
            Reply::status(503).header("Retry-After", "1"),
            Reply::file(b"finally"),
        ]),
    );
    let dir = temp_dir();
    get(dir.path())
        .args([srv.url("/busy"), srv.url("/gone")])
        .arg("--json")
        .run()
        .assert(
            1,
            Pat::has(&["\"attempts\":2"]),
            Pat::has(&["HTTP 503", "HTTP 404", "1 ok, 1 failed"]),
        );
    assert_eq!(fs::read(dir.path().join("busy")).unwrap(), b"finally");
    assert_eq!(srv.requests("/gone"), 1, "a 404 is final");
}

#[test]
fn a_persistent_500_is_asked_retries_plus_one_times_then_the_file_fails() {
    let srv = Server::start();
    srv.route("/down", Route::script(vec![Reply::status(500)]));
    let dir = temp_dir();
    get(dir.path())
        .args(["--retries", "2"])
        .arg(srv.url("/down"))
        .run()
        .assert(1, Pat::empty(), Pat::has(&["HTTP 500", "1 failed"]));
    assert_eq!(srv.requests("/down"), 3);
}

#[test]
fn a_server_that_ignores_range_gives_the_whole_file_again_cleanly() {
    let srv = Server::start();
    let body = payload(2, 2 * MIB);
    srv.route(
        "/norange.bin",
        Route::script(vec![
            Reply::truncate(&body, MIB + 17),
            Reply::file(&body).ignore_range(),
        ]),
    );
    let dir = temp_dir();
    get(dir.path())
        .arg(srv.url("/norange.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(fs::read(dir.path().join("norange.bin")).unwrap() == body);
}

#[test]
fn a_resource_that_changed_between_attempts_arrives_whole_in_its_new_version() {
    let srv = Server::start();
    let old = payload(3, 2 * MIB);
    let new = payload(4, 2 * MIB + 5);
    srv.route(
        "/moving.bin",
        Route::script(vec![Reply::truncate(&old, MIB + 3), Reply::file(&new)]),
    );
    let dir = temp_dir();
    get(dir.path())
        .arg(srv.url("/moving.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(
        fs::read(dir.path().join("moving.bin")).unwrap() == new,
        "If-Range did not match, so the new version came whole: no splice"
    );
}

#[test]
fn a_stalled_body_fails_within_the_stall_timeout_and_the_retry_succeeds() {
    let srv = Server::start();
    let body = payload(5, 2 * MIB);
    srv.route(
        "/stall.bin",
        Route::script(vec![
            Reply::stall(&body, MIB, Duration::from_secs(30)),
            Reply::file(&body),
        ]),
    );
    let dir = temp_dir();
    let started = Instant::now();
    get(dir.path())
        .args(["--timeout", "0.5"])
        .arg(srv.url("/stall.bin"))
        .timeout(Duration::from_secs(20))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["stalled", "1 ok"]));
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(fs::read(dir.path().join("stall.bin")).unwrap() == body);
}

#[test]
fn a_killed_run_resumes_and_transfers_only_the_remainder() {
    let srv = Server::start();
    let body = payload(6, 4 * MIB);
    // 4 s for the whole body: the kill after the first MiB has 3 s to spare on a busy
    // machine. (A stall would be exact, but would hold the byte counts below in `settle`.)
    srv.route("/slow.bin", Route::file(&body).throttle(MIB as u64));
    let dir = temp_dir();
    let running = get(dir.path()).arg(srv.url("/slow.bin")).spawn();
    let part = dir.path().join("slow.bin.part");
    wait_for_size(&part, MIB as u64);
    running.signal(9);
    let killed = running.wait();
    assert_eq!(killed.signal, Some(9));
    let have = fs::metadata(&part).unwrap().len();
    assert!(!dir.path().join("slow.bin").exists());

    srv.route("/slow.bin", Route::file(&body));
    let before = srv.total_body_bytes_sent();
    get(dir.path())
        .arg(srv.url("/slow.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(fs::read(dir.path().join("slow.bin")).unwrap() == body);
    assert_eq!(
        srv.total_body_bytes_sent() - before,
        body.len() as u64 - have,
        "the rerun fetched only what the killed run did not have"
    );
}

#[test]
fn sigint_mid_batch_exits_130_and_leaves_nothing_partial_under_a_final_name() {
    let srv = Server::start();
    let body = payload(7, 4 * MIB);
    srv.route("/a.bin", Route::file(&body).throttle(MIB as u64));
    srv.route("/b.bin", Route::file(&body).throttle(MIB as u64));
    let dir = temp_dir();
    let running = get(dir.path())
        .args(["-j", "2"])
        .args([srv.url("/a.bin"), srv.url("/b.bin")])
        .spawn();
    wait_for_size(&dir.path().join("a.bin.part"), 256 * 1024);
    running.signal(2);
    let run = running.wait();
    run.assert(130, Pat::empty(), Pat::has(&["interrupted"]));
    assert!(!dir.path().join("a.bin").exists());
    assert!(!dir.path().join("b.bin").exists());
    assert!(dir.path().join("a.bin.part").exists(), "kept for resume");

    srv.route("/a.bin", Route::file(&body));
    srv.route("/b.bin", Route::file(&body));
    get(dir.path())
        .args([srv.url("/a.bin"), srv.url("/b.bin")])
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok"]));
    assert!(fs::read(dir.path().join("a.bin")).unwrap() == body);
}

#[test]
fn redirects_are_followed_and_the_name_comes_from_the_original_url() {
    let srv = Server::start();
    srv.route(
        "/start.txt",
        Route::script(vec![Reply::redirect(302, "/hop")]),
    );
    srv.route(
        "/hop",
        Route::script(vec![Reply::redirect(301, "/real/file.bin")]),
    );
    srv.route("/real/file.bin", Route::file(b"landed"));
    srv.route("/loop", Route::script(vec![Reply::redirect(302, "/loop")]));
    let dir = temp_dir();
    get(dir.path())
        .args([srv.url("/start.txt"), srv.url("/loop")])
        .run()
        .assert(1, Pat::empty(), Pat::has(&["redirect", "1 ok, 1 failed"]));
    assert_eq!(fs::read(dir.path().join("start.txt")).unwrap(), b"landed");
    assert!(srv.requests("/loop") <= 12, "the loop was cut off");
}

#[test]
fn sigint_stops_a_download_stalled_on_a_silent_server_at_once() {
    let srv = Server::start();
    let body = payload(8, 2 * MIB);
    srv.route(
        "/silent.bin",
        Route::script(vec![Reply::stall(&body, MIB, Duration::from_secs(60))]),
    );
    let dir = temp_dir();
    let running = get(dir.path()).arg(srv.url("/silent.bin")).spawn();
    let part = dir.path().join("silent.bin.part");
    wait_for_size(&part, MIB as u64);
    let asked = Instant::now();
    // SIGTERM here (the other interrupt tests send SIGINT): both stop a run the same way.
    running.signal(15);
    running
        .wait()
        .assert(143, Pat::empty(), Pat::has(&["1 interrupted"]));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(
        fs::metadata(&part).unwrap().len(),
        MIB as u64,
        "kept for resume"
    );
    assert!(!dir.path().join("silent.bin").exists());
}

#[test]
fn a_write_error_fails_that_file_keeps_its_part_and_the_run_goes_on() {
    let srv = Server::start();
    let big = payload(9, 3 * MIB);
    srv.route("/big.bin", Route::file(&big));
    srv.route("/small.bin", Route::file(b"fits"));
    let dir = temp_dir();
    // A 1 MiB file-size limit stands in for a full disk: writes past it fail with EFBIG.
    crate::support::command("prlimit")
        .arg(format!("--fsize={MIB}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_fetchpool"))
        .args(["get", "-j", "1", "-d"])
        .arg(dir.path())
        .args([srv.url("/big.bin"), srv.url("/small.bin")])
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&["big.bin.part: File too large", "1 ok, 1 failed"]).and_not(&["panicked"]),
        );
    assert_eq!(fs::read(dir.path().join("small.bin")).unwrap(), b"fits");
    assert_eq!(
        fs::metadata(dir.path().join("big.bin.part")).unwrap().len(),
        MIB as u64
    );
    assert!(!dir.path().join("big.bin").exists());
}

#[test]
fn a_proxy_from_the_option_or_the_environment_carries_the_requests() {
    let srv = Server::start();
    srv.route("/p.txt", Route::file(b"via proxy"));
    let proxy = HttpProxy::start(srv.addr());
    let dir = temp_dir();
    get(&dir.path().join("option"))
        .arg("--proxy")
        .arg(proxy.url())
        .arg("http://files.invalid/p.txt")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    get(&dir.path().join("env"))
        .env("http_proxy", proxy.url())
        .arg("http://files.invalid/p.txt")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    let targets: Vec<String> = proxy.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        ["http://files.invalid/p.txt", "http://files.invalid/p.txt"]
    );
    assert_eq!(
        fs::read(dir.path().join("env/p.txt")).unwrap(),
        b"via proxy"
    );
    get(&dir.path().join("no_proxy"))
        .env("http_proxy", proxy.url())
        .env("no_proxy", "127.0.0.1")
        .arg(srv.url("/p.txt"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(
        proxy.count(Asked::Absolute),
        2,
        "no_proxy hosts are fetched directly"
    );
}

#[test]
fn retry_after_is_honoured_before_the_next_attempt() {
    let srv = Server::start();
    srv.route(
        "/later",
        Route::script(vec![
            Reply::status(429).header("Retry-After", "1"),
            Reply::file(b"now"),
        ]),
    );
    let dir = temp_dir();
    let started = Instant::now();
    // No backoff hook here: the real policy, with a tiny base wait, so only the server's
    // Retry-After can make the run take a second.
    fetchpool()
        .args(["get", "--retry-wait", "0.01", "-d"])
        .arg(dir.path())
        .arg(srv.url("/later"))
        .timeout(Duration::from_secs(20))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["HTTP 429", "1 ok"]));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(950), "waited only {took:?}");
    assert!(took < Duration::from_secs(10), "waited {took:?}");
}

#[test]
fn a_complete_part_file_is_finished_by_a_416_without_moving_its_bytes_again() {
    let srv = Server::start();
    let body = payload(11, 2 * MIB);
    srv.route("/done.bin", Route::file(&body).etag(Some("v1")));
    let dir = temp_dir();
    let url = srv.url("/done.bin");
    // What a run killed between the last byte and the rename leaves behind.
    fs::write(dir.path().join("done.bin.part"), &body).unwrap();
    let url_id = sha256_hex(url.as_bytes());
    fs::write(
        dir.path().join("done.bin.part.fetchpool"),
        format!("fetchpool-part 1\n{url_id}\n\"v1\"\n"),
    )
    .unwrap();
    get(dir.path())
        .arg(&url)
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(srv.log()[0].header("Range"), Some("bytes=2097152-"));
    assert_eq!(srv.body_bytes_sent("/done.bin"), 0);
    assert!(fs::read(dir.path().join("done.bin")).unwrap() == body);
    assert_eq!(list_dir(dir.path()), ["done.bin"]);
}

#[test]
fn without_a_validator_a_retry_starts_over_instead_of_resuming() {
    let srv = Server::start();
    let body = payload(12, 2 * MIB);
    srv.route(
        "/plain.bin",
        Route::script(vec![
            Reply::truncate(&body, MIB).etag(None).last_modified(None),
            Reply::file(&body).etag(None).last_modified(None),
        ]),
    );
    let dir = temp_dir();
    get(dir.path())
        .arg(srv.url("/plain.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(
        srv.log()[1].header("Range"),
        None,
        "nothing to prove the bytes match"
    );
    assert!(fs::read(dir.path().join("plain.bin")).unwrap() == body);
}

#[test]
fn no_continue_discards_an_old_part_and_fetches_the_whole_file() {
    let srv = Server::start();
    let body = payload(13, 2 * MIB);
    srv.route(
        "/again.bin",
        Route::script(vec![Reply::truncate(&body, MIB), Reply::file(&body)]),
    );
    let dir = temp_dir();
    get(dir.path())
        .args(["--retries", "0"])
        .arg(srv.url("/again.bin"))
        .run()
        .assert(1, Pat::empty(), Pat::has(&["1 failed"]));
    assert!(
        dir.path().join("again.bin.part").exists(),
        "kept: it has a validator"
    );
    get(dir.path())
        .arg("--no-continue")
        .arg(srv.url("/again.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(srv.log()[1].header("Range"), None);
    assert!(fs::read(dir.path().join("again.bin")).unwrap() == body);
}

#[test]
fn a_server_that_never_accepts_fails_within_the_connect_timeout() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    // hangs until the client gives up. Fill it with connections nobody accepts.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..1024 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    assert!(held.len() < 1024, "the accept queue never filled");
    let dir = temp_dir();
    let started = Instant::now();
    get(dir.path())
        .args(["--connect-timeout", "0.5", "--retries", "1"])
        .arg(format!("http://{addr}/never"))
        .timeout(Duration::from_secs(20))
        .run()
        .assert(1, Pat::empty(), Pat::has(&["timed out", "1 failed"]));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
}

/// Pids of the direct children of `pid` (from /proc, thread by thread).
fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            kids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    kids
}

#[test]
fn an_interrupt_leaves_no_hash_worker_behind() {
    let srv = Server::start();
    let body = payload(14, 2 * MIB);
    // The body stops at 1 MiB until the server is dropped: the download is still running
    // when the interrupt comes, however slow the machine.
    srv.route(
        "/v.bin",
        Route::script(vec![Reply::stall(&body, MIB, Duration::from_secs(120))]),
    );
    let sha = sha256_hex(&body);
    let dir = temp_dir();
    let running = get(dir.path())
        .args(["--hash-workers", "2"])
        .arg(format!("{} sha256={sha}", srv.url("/v.bin")))
        .spawn();
    wait_for_size(&dir.path().join("v.bin.part"), 256 * 1024);
    let workers = children_of(running.pid());
    assert_eq!(workers.len(), 2, "two hash workers run: {workers:?}");
    running.signal(2);
    running.wait().assert(130, Pat::empty(), Pat::any());
    let deadline = Instant::now() + Duration::from_secs(5);
    for pid in workers {
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                Instant::now() < deadline,
                "hash worker {pid} outlived the run"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_second_interrupt_exits_at_once_without_the_summary() {
    let srv = Server::start();
    let body = payload(15, 2 * MIB);
    srv.route(
        "/hang.bin",
        Route::script(vec![Reply::stall(&body, MIB, Duration::from_secs(60))]),
    );
    let dir = temp_dir();
    let running = get(dir.path()).arg(srv.url("/hang.bin")).spawn();
    wait_for_size(&dir.path().join("hang.bin.part"), MIB as u64);
    // The first interrupt starts an orderly stop (a second's grace for the stalled read); the
    // second, sent within it, ends the process before any summary is printed. Not at once:
    // two SIGINTs pending together are one signal to the kernel.
    running.signal(2);
    std::thread::sleep(Duration::from_millis(200));
    running.signal(2);
    running
        .wait()
        .assert(130, Pat::empty(), Pat::empty().and_not(&["panicked"]));
    assert!(dir.path().join("hang.bin.part").exists());
}

/// Two runs of `first` and `second` into one directory: the second arrives while the first
/// is writing `big.bin.part`. The first lands the file whole, the second reports it busy,
/// and nothing of the second run's ever touches the `.part`.
fn two_runs_one_directory(first: &[&str], second: &[&str]) {
    let srv = Server::start();
    let body = payload(21, 2 * MIB);
    srv.route("/big.bin", Route::file(&body).throttle(MIB as u64));
    let dir = temp_dir();
    let running = get(dir.path()).args(first).arg(srv.url("/big.bin")).spawn();
    wait_for_size(&dir.path().join("big.bin.part"), 64 * 1024);
    get(dir.path())
        .args(second)
        .arg(srv.url("/big.bin"))
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&[
                "busy: another fetchpool run is downloading",
                "big.bin.part",
                "1 failed",
            ]),
        );
    running.wait().assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(
        fs::read(dir.path().join("big.bin")).unwrap() == body,
        "landed whole"
    );
    assert_eq!(list_dir(dir.path()), ["big.bin"]);
    assert_eq!(srv.requests("/big.bin"), 1, "the busy run asked nothing");
}

#[test]
fn a_second_run_into_the_same_directory_leaves_the_part_file_to_the_first() {
    two_runs_one_directory(&[], &["--no-continue"]);
}

#[test]
fn a_second_run_into_the_same_directory_leaves_the_part_file_to_the_first_in_either_order() {
    two_runs_one_directory(&["--no-continue"], &[]);
}

#[test]
fn a_run_resuming_a_leftover_part_holds_it_against_a_second_run() {
    let srv = Server::start();
    let body = payload(22, 3 * MIB);
    srv.route(
        "/big.bin",
        Route::script(vec![
            Reply::truncate(&body, MIB),
            Reply::file(&body).throttle(MIB as u64),
        ]),
    );
    let dir = temp_dir();
    // A first run leaves 1 MiB and its sidecar behind.
    get(dir.path())
        .args(["--retries", "0"])
        .arg(srv.url("/big.bin"))
        .run()
        .assert(1, Pat::empty(), Pat::has(&["1 failed"]));
    assert_eq!(
        list_dir(dir.path()),
        ["big.bin.part", "big.bin.part.fetchpool"]
    );
    let resuming = get(dir.path()).arg(srv.url("/big.bin")).spawn();
    wait_for_size(&dir.path().join("big.bin.part"), MIB as u64 + 64 * 1024);
    get(dir.path()).arg(srv.url("/big.bin")).run().assert(
        1,
        Pat::empty(),
        Pat::has(&["busy: another fetchpool run"]),
    );
    resuming.wait().assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(fs::read(dir.path().join("big.bin")).unwrap() == body);
    assert_eq!(list_dir(dir.path()), ["big.bin"]);
    assert_eq!(srv.body_bytes_sent("/big.bin"), 3 * MIB as u64);
}

#[test]
fn two_runs_started_together_into_a_new_directory_land_one_whole_file() {
    let srv = Server::start();
    let body = payload(23, 2 * MIB);
    srv.route("/big.bin", Route::file(&body).throttle(2 * MIB as u64));
    let dir = temp_dir();
    let out = dir.path().join("new");
    let a = get(&out).arg(srv.url("/big.bin")).spawn();
    let b = get(&out).arg(srv.url("/big.bin")).spawn();
    let (a, b) = (a.wait(), b.wait());
    for run in [&a, &b] {
        // Whoever lost the race says why; nobody lands a spliced file.
        if run.code != Some(0) {
            run.assert(1, Pat::empty(), Pat::has(&["busy: another fetchpool run"]));
        }
    }
    assert!(a.code == Some(0) || b.code == Some(0));
    assert!(fs::read(out.join("big.bin")).unwrap() == body);
    assert_eq!(list_dir(&out), ["big.bin"]);
}

#[test]
fn an_ipv6_literal_url_is_fetched_and_named_by_its_path() {
    let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n")
            && std::io::Read::read(&mut conn, &mut byte).unwrap() == 1
        {
            head.push(byte[0]);
        }
        std::io::Write::write_all(
            &mut conn,
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nv6ok",
        )
        .unwrap();
        String::from_utf8(head).unwrap()
    });
    let dir = temp_dir();
    get(dir.path())
        .arg(format!("http://[::1]:{port}/v6.txt"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    let head = server.join().unwrap();
    assert!(head.starts_with("GET /v6.txt HTTP/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nhost: [::1]:{port}\r\n"))
            || head.contains(&format!("\r\nHost: [::1]:{port}\r\n")),
        "{head}"
    );
    assert_eq!(fs::read(dir.path().join("v6.txt")).unwrap(), b"v6ok");
}

#[test]
fn refused_connections_and_failed_lookups_are_named_in_one_line() {
    let dir = temp_dir();
    get(dir.path())
        .args([
            "--retries",
            "0",
            "http://127.0.0.1:1/a",
            "http://nowhere.invalid/b",
        ])
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&[
                "connection refused by 127.0.0.1 (http://127.0.0.1:1/a)",
                "DNS lookup failed for nowhere.invalid",
                "2 failed",
            ]),
        );
}

#[test]
fn cookie_and_authorization_headers_stay_with_their_origin_across_redirects() {
    let other = Server::start();
    other.route("/data", Route::file(b"elsewhere"));
    let first = Server::start();
    let other_url = other.url("/data").replace("127.0.0.1", "localhost");
    first.route(
        "/start",
        Route::script(vec![Reply::redirect(302, &other_url)]),
    );
    let dir = temp_dir();
    get(dir.path())
        .args([
            "-H",
            "Cookie: sid=c00kie",
            "-H",
            "Authorization: Bearer t0ken",
        ])
        .arg(first.url("/start"))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["1 ok"]).and_not(&["c00kie", "t0ken"]),
        );
    assert_eq!(first.log()[0].header("Cookie"), Some("sid=c00kie"));
    assert_eq!(first.log()[0].header("Authorization"), Some("Bearer t0ken"));
    let redirected = &other.log()[0];
    assert_eq!(
        redirected.header("Cookie"),
        None,
        "no cookie for another host"
    );
    assert_eq!(redirected.header("Authorization"), None);
}

#[test]
fn netrc_logins_stay_with_their_host_across_redirects_and_never_go_out_in_the_clear() {
    let plain = Server::start();
    plain.route("/data", Route::file(b"data"));
    let plain_localhost = plain.url("/data").replace("127.0.0.1", "localhost");
    let first = Server::start();
    first.route(
        "/start",
        Route::script(vec![Reply::redirect(302, &plain_localhost)]),
    );
    let tls = crate::support::tls::TlsServer::start(vec![(
        "/secure",
        crate::support::tls::Canned::redirect(&plain_localhost),
    )]);
    let dir = temp_dir();
    let ca = write_file(dir.path(), "ca.pem", tls.ca_pem().as_bytes());
    let netrc = write_file(
        dir.path(),
        "netrc",
        b"machine 127.0.0.1 login alice password \"wonder land\"\n\
          machine localhost login carol password \"s3cret #1\" # for the TLS host\n",
    );
    // Cross-host: 127.0.0.1's login is not sent to localhost... whose own login is.
    get(&dir.path().join("cross"))
        .env("NETRC", &netrc)
        .arg("--netrc")
        .arg(first.url("/start"))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["1 ok"]).and_not(&["wonder", "s3cret"]),
        );
    assert_eq!(
        first.log()[0].header("Authorization"),
        Some("Basic YWxpY2U6d29uZGVyIGxhbmQ="),
        "the quoted password, space included"
    );
    assert_eq!(
        plain.log()[0].header("Authorization"),
        Some("Basic Y2Fyb2w6czNjcmV0ICMx"),
        "localhost has a login of its own"
    );
    // https ─► http on the same host: the login is not sent over plain http.
    get(&dir.path().join("downgrade"))
        .arg("--netrc-file")
        .arg(&netrc)
        .arg("--cacert")
        .arg(&ca)
        .arg("--allow-insecure-redirect")
        .arg(tls.url("/secure"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(plain.log().len(), 2);
    assert_eq!(plain.log()[1].header("Authorization"), None);
}

/// `-v` says whether each request opened a connection or reused a kept one: with one
/// download thread, the second file rides the first file's connection.
#[test]
fn verbose_says_the_second_file_reuses_the_first_files_connection() {
    let srv = Server::start();
    srv.route("/a", Route::file(b"first"));
    srv.route("/b", Route::file(b"second"));
    let dir = temp_dir();
    let host = srv.url("/").replace("http://", "").replace('/', "");
    let run = get(dir.path())
        .args(["-j", "1", "-v", "--progress", "plain"])
        .arg(srv.url("/a"))
        .arg(srv.url("/b"))
        .run();
    run.assert(
        0,
        Pat::empty(),
        Pat::has(&[
            format!("fetchpool: connected to {host}\n").as_str(),
            format!("fetchpool: reusing connection to {host}\n").as_str(),
            "2 ok",
        ]),
    );
    let stderr = run.stderr_str();
    let first = stderr.find("connected to").unwrap();
    assert!(
        first < stderr.find("reusing connection").unwrap(),
        "{stderr}"
    );
    assert_eq!(stderr.matches("connected to ").count(), 1, "{stderr}");
    assert_eq!(srv.connections_opened(), 1);
    // Without -v, neither line.
    get(&dir.path().join("quiet"))
        .args(["-j", "1", "--progress", "plain"])
        .arg(srv.url("/a"))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::any().and_not(&["connected to", "reusing"]),
        );
}
