//! Big files over several connections: idle threads split the largest remaining range of a
//! file in flight. Counted in the server (requests, ranges, connections, bytes served),
//! never timed; every wait is bounded.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::server::{Over, Reply, Route, Server};
use crate::support::{Cmd, Pat, fetchpool, list_dir, payload, sha256_hex, temp_dir, write_file};

const MIB: usize = 1024 * 1024;

/// `get` with short backoff, 4 threads and 1 MiB ranges: an 8 MiB file splits.
fn get(dir: &Path) -> Cmd {
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "20")
        .args(["get", "-j", "4", "--min-split-size", "1M", "-d"])
        .arg(dir)
}

/// Requests for `path` that asked for a range.
fn ranged(srv: &Server, path: &str) -> Vec<String> {
    srv.log()
        .iter()
        .filter(|r| r.path == path)
        .filter_map(|r| r.header("Range").map(str::to_string))
        .collect()
}

/// `bytes=A-B` ─► (A, B), both inclusive.
fn parse_range(header: &str) -> (u64, u64) {
    let (a, b) = header
        .strip_prefix("bytes=")
        .unwrap()
        .split_once('-')
        .unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

/// The ranges (half-open, merged) a split file's sidecar says are on disk: its range lines
/// and its connections' slots (`START END CHECK`, the check left to fetchpool). None while
/// there is no sidecar.
fn recorded(part: &Path) -> Vec<(u64, u64)> {
    let mut sidecar = part.as_os_str().to_owned();
    sidecar.push(".fetchpool");
    let Ok(text) = fs::read_to_string(sidecar) else {
        return Vec::new();
    };
    let mut ranges: Vec<(u64, u64)> = text
        .lines()
        .skip(4)
        .filter_map(|l| {
            let mut fields = l.split(' ');
            Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
        })
        .filter(|(a, b)| a < b)
        .collect();
    ranges.sort();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

fn recorded_bytes(part: &Path) -> u64 {
    recorded(part).iter().map(|(a, b)| b - a).sum()
}

/// Waits (at most 20 s) until the sidecar of `part` records at least `bytes`.
fn wait_for_recorded(part: &Path, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while recorded_bytes(part) < bytes {
        assert!(
            Instant::now() < deadline,
            "{} never recorded {bytes} bytes",
            part.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_big_file_is_split_over_several_connections_and_lands_byte_for_byte() {
    let srv = Server::start();
    let body = payload(41, 8 * MIB);
    srv.route("/big.iso", Route::file(&body).throttle(4 * MIB as u64));
    let dir = temp_dir();
    let run = get(dir.path()).arg("--json").arg(srv.url("/big.iso")).run();
    run.assert(
        0,
        Pat::has(&["\"connections\":"]),
        Pat::has(&["connections", "1 ok"]),
    );
    assert!(fs::read(dir.path().join("big.iso")).unwrap() == body);
    assert_eq!(
        list_dir(dir.path()),
        ["big.iso"],
        "no .part or sidecar left"
    );
    let ranges = ranged(&srv, "/big.iso");
    assert!(!ranges.is_empty(), "idle threads asked for ranges");
    assert!(
        srv.log()
            .iter()
            .filter(|r| r.header("Range").is_some())
            .all(|r| r.header("If-Range").is_some()),
        "every range carries If-Range"
    );
    assert!(
        srv.max_concurrent_requests() >= 2,
        "more than one connection at once"
    );
    assert!(srv.max_concurrent_requests() <= 4, "never more than -j");
    // Splits fall on 64 KiB boundaries, and each one starts a new range.
    let mut starts: Vec<u64> = ranges.iter().map(|r| parse_range(r).0).collect();
    assert!(starts.iter().all(|s| s % (64 * 1024) == 0), "{ranges:?}");
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), ranges.len(), "{ranges:?}");
    let json = run.stdout_str();
    let line = json.lines().find(|l| l.contains("big.iso")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(v["connections"].as_u64().unwrap() >= 2, "{line}");
    assert_eq!(
        v["ranges"].as_u64().unwrap() as usize,
        ranges.len() + 1,
        "{line}"
    );
}

#[test]
fn no_split_without_a_validator_or_a_digest_and_none_with_no_split() {
    let srv = Server::start();
    let body = payload(42, 8 * MIB);
    srv.route(
        "/anon.bin",
        Route::file(&body)
            .etag(None)
            .last_modified(None)
            .throttle(8 * MIB as u64),
    );
    srv.route("/plain.bin", Route::file(&body).throttle(8 * MIB as u64));
    let dir = temp_dir();
    get(dir.path())
        .arg(srv.url("/anon.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    get(dir.path())
        .arg("--no-split")
        .arg(srv.url("/plain.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(srv.requests("/anon.bin"), 1);
    assert_eq!(srv.requests("/plain.bin"), 1);
    assert!(fs::read(dir.path().join("anon.bin")).unwrap() == body);
    assert!(fs::read(dir.path().join("plain.bin")).unwrap() == body);
}

#[test]
fn a_known_digest_allows_a_split_without_a_validator_and_verifies_it() {
    let srv = Server::start();
    let body = payload(43, 8 * MIB);
    srv.route(
        "/anon.bin",
        Route::file(&body)
            .etag(None)
            .last_modified(None)
            .throttle(4 * MIB as u64),
    );
    let dir = temp_dir();
    let sums = write_file(
        dir.path(),
        "SHA256SUMS",
        format!("{}  anon.bin\n", sha256_hex(&body)).as_bytes(),
    );
    let out = dir.path().join("out");
    get(&out)
        .arg("-c")
        .arg(&sums)
        .arg(srv.url("/anon.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["sha256 verified", "1 ok"]));
    assert!(fs::read(out.join("anon.bin")).unwrap() == body);
    assert!(
        !ranged(&srv, "/anon.bin").is_empty(),
        "split on the digest's word"
    );

    // A wrong digest: exit 3, and nothing under the final name or as a .part.
    let bad = write_file(
        dir.path(),
        "BAD.SUMS",
        format!("{}  anon.bin\n", sha256_hex(b"something else")).as_bytes(),
    );
    let out = dir.path().join("bad");
    get(&out)
        .arg("-c")
        .arg(&bad)
        .arg(srv.url("/anon.bin"))
        .run()
        .assert(3, Pat::empty(), Pat::has(&["checksum mismatch"]));
    assert_eq!(list_dir(&out), Vec::<String>::new());
}

#[test]
fn a_server_that_answers_ranges_with_200_is_never_spliced() {
    let srv = Server::start();
    let body = payload(44, 8 * MIB);
    // Claims range support, then sends the whole file to every range request.
    srv.route(
        "/liar.bin",
        Route::file(&body)
            .ignore_range()
            .header("Accept-Ranges", "bytes")
            .throttle(4 * MIB as u64),
    );
    let dir = temp_dir();
    get(dir.path()).arg(srv.url("/liar.bin")).run().assert(
        0,
        Pat::empty(),
        Pat::has(&["whole file", "starting over as one stream", "1 ok"]),
    );
    assert!(fs::read(dir.path().join("liar.bin")).unwrap() == body);
    assert_eq!(list_dir(dir.path()), ["liar.bin"]);
}

#[test]
fn a_file_that_changes_mid_download_is_fetched_again_whole_never_mixed() {
    let srv = Server::start();
    let v1 = payload(45, 8 * MIB);
    let v2 = payload(46, 8 * MIB);
    // The first answer is v1; every later one (the ranges, with If-Range: v1) is v2.
    srv.route(
        "/moving.bin",
        Route::script(vec![Reply::file(&v1), Reply::file(&v2)]).throttle(4 * MIB as u64),
    );
    let dir = temp_dir();
    get(dir.path()).arg(srv.url("/moving.bin")).run().assert(
        0,
        Pat::empty(),
        Pat::has(&["starting over as one stream", "1 ok"]),
    );
    assert!(fs::read(dir.path().join("moving.bin")).unwrap() == v2);
}

#[test]
fn a_content_range_other_than_asked_is_refused() {
    let srv = Server::start();
    let body = payload(47, 8 * MIB);
    srv.route(
        "/shifty.bin",
        Route::script(vec![
            Reply::file(&body),
            Reply::file(&body).header("Content-Range", "bytes 0-1023/8388608"),
            Reply::file(&body),
        ])
        .throttle(4 * MIB as u64),
    );
    let dir = temp_dir();
    get(dir.path()).arg(srv.url("/shifty.bin")).run().assert(
        0,
        Pat::empty(),
        Pat::has(&["other bytes than asked", "1 ok"]),
    );
    assert!(fs::read(dir.path().join("shifty.bin")).unwrap() == body);
}

#[test]
fn a_429_on_an_extra_connection_gives_its_range_back_and_the_file_completes() {
    let srv = Server::start();
    let body = payload(48, 8 * MIB);
    srv.route(
        "/busy.bin",
        Route::script(vec![
            Reply::file(&body),
            Reply::status(429),
            Reply::file(&body),
        ])
        .throttle(4 * MIB as u64),
    );
    let dir = temp_dir();
    get(dir.path()).arg(srv.url("/busy.bin")).run().assert(
        0,
        Pat::empty(),
        Pat::has(&["1 ok"]).and_not(&["FAILED"]),
    );
    assert!(fs::read(dir.path().join("busy.bin")).unwrap() == body);
}

#[test]
fn a_server_at_its_connection_limit_slows_the_file_but_never_fails_it() {
    for (name, over) in [("/429.bin", Over::Status(429)), ("/full.bin", Over::Close)] {
        let srv = Server::start();
        let body = payload(54, 8 * MIB);
        srv.route(
            name,
            Route::file(&body)
                .throttle(4 * MIB as u64)
                .at_most_at_once(1, over),
        );
        let dir = temp_dir();
        get(dir.path()).arg(srv.url(name)).run().assert(
            0,
            Pat::empty(),
            Pat::has(&["1 ok"]).and_not(&["FAILED"]),
        );
        let file = dir.path().join(name.trim_start_matches('/'));
        assert!(fs::read(file).unwrap() == body, "{name}");
        assert!(
            srv.requests_over_limit(name) >= 1,
            "{name}: an extra connection was tried"
        );
        // Turned away, the file lowers its connection count and waits before it tries
        // again: a few refusals in all (1-3 seen), where a client retrying each refused
        // range at the test backoff (20 ms) through this 2 s file would meet ~100.
        assert!(
            srv.requests_over_limit(name) <= 8,
            "{name}: {} requests turned away",
            srv.requests_over_limit(name)
        );
        // The served request and, at most, a refusal still being answered while the next
        // attempt arrives (seen once on a loaded machine); -j 4 would allow three extras.
        assert!(
            srv.max_concurrent_requests_to(name) <= 3,
            "{name}: {} requests at once",
            srv.max_concurrent_requests_to(name)
        );
    }
}

#[test]
fn a_file_replaced_on_the_server_mid_download_lands_in_one_version_only() {
    let srv = Server::start();
    let v1 = payload(55, 8 * MIB);
    let v2 = payload(56, 8 * MIB);
    srv.route(
        "/swap.bin",
        Route::file(&v1)
            .throttle(4 * MIB as u64)
            .changes_after(MIB as u64, Reply::file(&v2).throttle(8 * MIB as u64)),
    );
    let dir = temp_dir();
    get(dir.path())
        .arg(srv.url("/swap.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    // Which version depends on when the ranges were asked for; one of them, whole, it is.
    let got = fs::read(dir.path().join("swap.bin")).unwrap();
    assert!(got == v1 || got == v2, "bytes of two versions were spliced");
    assert_eq!(list_dir(dir.path()), ["swap.bin"]);
}

#[test]
fn max_per_host_counts_the_connections_of_split_files() {
    let srv = Server::start();
    let body = payload(49, 8 * MIB);
    srv.route("/capped.bin", Route::file(&body).throttle(4 * MIB as u64));
    let dir = temp_dir();
    get(dir.path())
        .args(["--max-per-host", "2"])
        .arg(srv.url("/capped.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(fs::read(dir.path().join("capped.bin")).unwrap() == body);
    assert_eq!(
        srv.max_concurrent_requests(),
        2,
        "split, but at most 2 at once"
    );
}

#[test]
fn max_connections_per_file_caps_the_split() {
    let srv = Server::start();
    let body = payload(50, 8 * MIB);
    srv.route("/two.bin", Route::file(&body).throttle(4 * MIB as u64));
    let dir = temp_dir();
    get(dir.path())
        .args(["--max-connections-per-file", "2"])
        .arg(srv.url("/two.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(fs::read(dir.path().join("two.bin")).unwrap() == body);
    assert!(srv.max_concurrent_requests() <= 2);
}

#[test]
fn a_killed_split_download_resumes_only_its_missing_ranges() {
    let srv = Server::start();
    let body = payload(51, 32 * MIB);
    srv.route("/kill.bin", Route::file(&body).throttle(4 * MIB as u64));
    let dir = temp_dir();
    let running = get(dir.path()).arg(srv.url("/kill.bin")).spawn();
    let part = dir.path().join("kill.bin.part");
    wait_for_recorded(&part, 4 * MIB as u64);
    running.signal(9);
    assert_eq!(running.wait().signal, Some(9));
    assert!(!dir.path().join("kill.bin").exists());
    let had = recorded(&part);
    assert!(!had.is_empty());
    let served_first = srv.body_bytes_sent("/kill.bin");

    // Throttled too, so a range halved in flight has little on its way.
    srv.route("/kill.bin", Route::file(&body).throttle(8 * MIB as u64));
    let before = srv.log().len();
    let served_before = srv.body_bytes_sent("/kill.bin");
    get(dir.path())
        .arg(srv.url("/kill.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(fs::read(dir.path().join("kill.bin")).unwrap() == body);
    assert_eq!(list_dir(dir.path()), ["kill.bin"]);
    let rerun = &srv.log()[before..];
    assert!(
        rerun
            .iter()
            .all(|r| r.header("Range").is_some() && r.header("If-Range").is_some()),
        "the rerun asks only for ranges, under If-Range"
    );
    // Not one byte the sidecar recorded is asked for again.
    for r in rerun {
        let (a, b) = parse_range(r.header("Range").unwrap());
        for &(start, end) in &had {
            assert!(
                b < start || a >= end,
                "asked {a}-{b} again; on disk: {had:?}"
            );
        }
    }
    let missing = body.len() as u64 - had.iter().map(|(a, b)| b - a).sum::<u64>();
    let served = srv.body_bytes_sent("/kill.bin") - served_before;
    eprintln!("first run {served_first} bytes served, rerun {served} for {missing} missing");
    // The record follows the bytes on disk closely (each connection's slot after every
    // 256 KiB it wrote): kill + rerun cost little more than the file.
    let size = body.len() as u64;
    assert!(
        served_first + served <= size + size / 10,
        "{served_first} + {served} bytes served for a file of {size}"
    );
}

#[test]
fn a_split_file_whose_validator_changed_between_runs_starts_over() {
    let srv = Server::start();
    let v1 = payload(52, 32 * MIB);
    let v2 = payload(53, 32 * MIB);
    srv.route("/v.bin", Route::file(&v1).throttle(4 * MIB as u64));
    let dir = temp_dir();
    let running = get(dir.path()).arg(srv.url("/v.bin")).spawn();
    let part = dir.path().join("v.bin.part");
    wait_for_recorded(&part, 2 * MIB as u64);
    running.signal(9);
    assert_eq!(running.wait().signal, Some(9));

    srv.route("/v.bin", Route::file(&v2));
    get(dir.path()).arg(srv.url("/v.bin")).run().assert(
        0,
        Pat::empty(),
        Pat::has(&["starting over as one stream", "1 ok"]),
    );
    assert!(fs::read(dir.path().join("v.bin")).unwrap() == v2);
    assert_eq!(list_dir(dir.path()), ["v.bin"]);
}

#[test]
fn ctrl_c_on_a_split_file_exits_130_keeping_its_ranges_for_the_rerun() {
    let srv = Server::start();
    let body = payload(57, 16 * MIB);
    srv.route("/int.bin", Route::file(&body).throttle(4 * MIB as u64));
    let dir = temp_dir();
    let running = get(dir.path()).arg(srv.url("/int.bin")).spawn();
    let part = dir.path().join("int.bin.part");
    wait_for_recorded(&part, 2 * MIB as u64);
    running.signal(2);
    running
        .wait()
        .assert(130, Pat::empty(), Pat::has(&["interrupted"]));
    assert!(!dir.path().join("int.bin").exists());
    let had = recorded(&part);
    assert!(!had.is_empty(), "the sidecar keeps the ranges on disk");

    srv.route("/int.bin", Route::file(&body));
    let before = srv.log().len();
    get(dir.path())
        .arg(srv.url("/int.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(fs::read(dir.path().join("int.bin")).unwrap() == body);
    for r in &srv.log()[before..] {
        let (a, b) = parse_range(r.header("Range").expect("only ranges"));
        for &(start, end) in &had {
            assert!(
                b < start || a >= end,
                "asked {a}-{b} again; on disk: {had:?}"
            );
        }
    }
}

#[test]
fn a_split_files_bar_says_how_many_connections_it_has() {
    // A terminal is needed for bars: `script` (util-linux) gives fetchpool one.
    if crate::support::command("script").arg("-V").run().code != Some(0) {
        eprintln!("note: `script` (util-linux) is missing; bar not checked");
        return;
    }
    let srv = Server::start();
    let body = payload(58, 8 * MIB);
    srv.route("/bar.bin", Route::file(&body).throttle(4 * MIB as u64));
    let dir = temp_dir();
    let cmd = format!(
        "{} get -j 4 --min-split-size 1M -d {} {}",
        env!("CARGO_BIN_EXE_fetchpool"),
        dir.path().display(),
        srv.url("/bar.bin")
    );
    let run = crate::support::command("script")
        .env("TERM", "xterm")
        .args(["-qec", &cmd, "/dev/null"])
        .run();
    run.assert(0, Pat::has(&["4 conns", "1 ok"]), Pat::any());
    assert!(fs::read(dir.path().join("bar.bin")).unwrap() == body);
}

#[test]
fn several_files_split_at_once_are_each_byte_correct_and_verified() {
    let srv = Server::start();
    let bodies: Vec<Vec<u8>> = (0..3).map(|i| payload(60 + i, 6 * MIB)).collect();
    let mut sums = String::new();
    let mut urls = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let path = format!("/f{i}.bin");
        srv.route(&path, Route::file(body).throttle(4 * MIB as u64));
        sums.push_str(&format!("{}  f{i}.bin\n", sha256_hex(body)));
        urls.push(srv.url(&path));
    }
    let dir = temp_dir();
    let manifest = write_file(dir.path(), "SHA256SUMS", sums.as_bytes());
    let out = dir.path().join("out");
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "20")
        .args(["get", "-j", "8", "--min-split-size", "1M", "-c"])
        .arg(&manifest)
        .arg("-d")
        .arg(&out)
        .args(&urls)
        .run()
        .assert(0, Pat::empty(), Pat::has(&["3 ok, 0 failed; 3 verified"]));
    for (i, body) in bodies.iter().enumerate() {
        assert!(
            fs::read(out.join(format!("f{i}.bin"))).unwrap() == *body,
            "f{i}.bin"
        );
    }
    assert!(
        srv.log().iter().any(|r| r.header("Range").is_some()),
        "idle threads split them"
    );
}

#[test]
fn a_file_one_connection_fetches_fast_is_not_split() {
    // Unthrottled on loopback, 2 MiB take one connection far less than a quarter of a
    // second: another connection would win nothing (it would have to move under 8 MiB/s
    // to split).
    let srv = Server::start();
    let body = payload(64, 2 * MIB);
    srv.route("/fast.bin", Route::file(&body));
    let dir = temp_dir();
    get(dir.path())
        .arg(srv.url("/fast.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert!(fs::read(dir.path().join("fast.bin")).unwrap() == body);
    assert_eq!(
        srv.requests("/fast.bin"),
        1,
        "{:?}",
        ranged(&srv, "/fast.bin")
    );
}

#[test]
fn a_hashed_split_file_is_fetched_in_order_over_reused_connections() {
    let srv = Server::start();
    let body = payload(65, 8 * MIB);
    srv.route("/sum.bin", Route::file(&body).throttle(4 * MIB as u64));
    let dir = temp_dir();
    let sums = write_file(
        dir.path(),
        "SHA256SUMS",
        format!("{}  sum.bin\n", sha256_hex(&body)).as_bytes(),
    );
    let out = dir.path().join("out");
    get(&out)
        .arg("-c")
        .arg(&sums)
        .arg(srv.url("/sum.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["sha256 verified", "1 ok"]));
    assert!(fs::read(out.join("sum.bin")).unwrap() == body);
    // Pieces of the lowest missing bytes, each asked for once, so the prefix (which the
    // hash follows) grows all the time: more ranges than connections.
    let mut ranges: Vec<(u64, u64)> = ranged(&srv, "/sum.bin")
        .iter()
        .map(|r| parse_range(r))
        .collect();
    assert!(ranges.len() > 4, "{ranges:?}");
    ranges.sort();
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].1 + 1, pair[1].0, "{ranges:?}");
    }
    assert_eq!(ranges.last().unwrap().1 + 1, body.len() as u64);
    // A range read to its end leaves its connection open for the next one.
    assert!(
        srv.connections_opened() < srv.requests("/sum.bin"),
        "{} connections for {} requests",
        srv.connections_opened(),
        srv.requests("/sum.bin")
    );
}
