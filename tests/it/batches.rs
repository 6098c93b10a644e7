//! Big batches (README "Big batches"): `--shard`, `--limit-rate`, `--max-per-host`, a
//! host paused by `Retry-After`, `--fsync`; the fast landing paths (unnamed files, a new
//! output directory) keeping the never-clobber contract; resumed and reruns verified.
//! Concurrency and ordering are asserted from the server's counts and log, with replies
//! held on a `Gate` rather than timed, so a loaded machine cannot make them flake.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::server::{Gate, Reply, Route, Server};
use crate::support::{
    Pat, fetchpool, list_dir, payload, sha256_hex, temp_dir, wait_until, write_file,
};

/// Routes `/f0.bin` … and returns the list text, one URL a line.
fn serve_files(srv: &Server, count: usize, len: usize) -> String {
    let mut list = String::new();
    for i in 0..count {
        let path = format!("/f{i}.bin");
        srv.route(&path, Route::file(payload(i as u64, len)));
        list += &format!("{}\n", srv.url(&path));
    }
    list
}

#[test]
fn shards_take_every_nth_job_and_together_cover_the_list_once() {
    let srv = Server::start();
    let dir = temp_dir();
    // Comments and blank lines are not jobs: they don't shift the split.
    let list = format!("# ten files\n\n{}", serve_files(&srv, 10, 1000));
    let listfile = write_file(dir.path(), "urls.txt", list.as_bytes());
    let mut seen = Vec::new();
    for (k, want) in [(1, 4), (2, 3), (3, 3)] {
        let out = dir.path().join(format!("shard{k}"));
        fetchpool()
            .args(["get", "--shard", &format!("{k}/3"), "-i"])
            .arg(&listfile)
            .arg("-d")
            .arg(&out)
            .run()
            .assert(
                0,
                Pat::empty(),
                Pat::has(&[&format!("{want} ok, 0 failed")]),
            );
        let names = list_dir(&out);
        for name in &names {
            let i: usize = name[1..name.len() - 4].parse().unwrap();
            assert_eq!(i % 3, k - 1, "{name} is not shard {k}'s");
        }
        seen.extend(names);
    }
    seen.sort();
    let mut all: Vec<String> = (0..10).map(|i| format!("f{i}.bin")).collect();
    all.sort();
    assert_eq!(seen, all);
    for i in 0..10 {
        assert_eq!(srv.requests(&format!("/f{i}.bin")), 1, "f{i}.bin once");
    }
}

#[test]
fn a_shard_still_validates_the_whole_list() {
    let srv = Server::start();
    let dir = temp_dir();
    // Lines 1 and 3 clash; shard 2/2 takes neither of them, and still refuses to start.
    let list = format!(
        "{}\n{}\n{} out=a.bin\n{}\n",
        srv.url("/a.bin"),
        srv.url("/b.bin"),
        srv.url("/c.bin"),
        srv.url("/d.bin")
    );
    let listfile = write_file(dir.path(), "urls.txt", list.as_bytes());
    fetchpool()
        .args(["get", "--shard", "2/2", "-i"])
        .arg(&listfile)
        .arg("-d")
        .arg(dir.path().join("out"))
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["urls.txt:3: output name 'a.bin' is also the output of"]),
        );
    assert!(srv.log().is_empty(), "nothing downloaded");
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    for bad in ["0/3", "4/3", "3", "1/0"] {
        fetchpool()
            .args(["get", "--shard", bad, "http://127.0.0.1:9/x"])
            .run()
            .assert(2, Pat::empty(), Pat::has(&["--shard <K/N>", bad]));
    }
}

#[test]
fn limit_rate_holds_the_whole_run_under_the_rate() {
    let srv = Server::start();
    let dir = temp_dir();
    // 1 MiB over four parallel downloads at 512 KiB/s: about 1.9 s (a tenth of a second
    // of burst at the start), where unlimited it takes milliseconds.
    let list = serve_files(&srv, 4, 256 * 1024);
    let listfile = write_file(dir.path(), "urls.txt", list.as_bytes());
    let start = Instant::now();
    fetchpool()
        .args(["get", "-j", "4", "--limit-rate", "512K", "-i"])
        .arg(&listfile)
        .arg("-d")
        .arg(dir.path().join("out"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["4 ok"]));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1700),
        "1 MiB at 512 KiB/s took only {took:?}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    for i in 0..4 {
        let got = fs::read(dir.path().join(format!("out/f{i}.bin"))).unwrap();
        assert!(got == payload(i, 256 * 1024), "f{i}.bin differs");
    }
}

#[test]
fn limit_rate_refuses_what_is_not_a_rate() {
    fetchpool()
        .args(["get", "--limit-rate", "fast", "http://127.0.0.1:9/x"])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["'fast' is not a rate (expected e.g. 500K, 10M, 1.5G)"]),
        );
}

/// Eight files at -j 8 against one server, every answer held back until `held` requests
/// are in flight at once; returns the most requests the server had in flight.
fn peak_requests(extra: &[&str], held: usize) -> usize {
    let srv = Server::start();
    let gate = Gate::new();
    let dir = temp_dir();
    let mut list = String::new();
    for i in 0..8 {
        let path = format!("/held{i}.bin");
        srv.route(&path, Route::file(payload(i, 1000)).hold(&gate));
        list += &format!("{}\n", srv.url(&path));
    }
    let listfile = write_file(dir.path(), "urls.txt", list.as_bytes());
    let running = fetchpool()
        .args(["get", "-j", "8"])
        .args(extra)
        .arg("-i")
        .arg(&listfile)
        .arg("-d")
        .arg(dir.path().join("out"))
        .spawn();
    wait_until(
        Duration::from_secs(20),
        &format!("{held} requests in flight"),
        || srv.max_concurrent_requests() >= held,
    );
    // Time for a request past a cap to show up if the cap let one through. Only the power
    // to catch a broken cap depends on this, never the verdict on a working one.
    std::thread::sleep(Duration::from_millis(200));
    gate.open();
    running.wait().assert(0, Pat::empty(), Pat::has(&["8 ok"]));
    assert_eq!(srv.total_body_bytes_sent(), 8 * 1000);
    srv.max_concurrent_requests()
}

#[test]
fn max_per_host_caps_the_downloads_running_at_once_on_one_host() {
    assert_eq!(
        peak_requests(&[], 8),
        8,
        "uncapped, -j 8 runs all eight at once"
    );
    assert_eq!(peak_requests(&["--max-per-host", "2"], 2), 2);
}

#[test]
fn fsync_lands_small_large_and_verified_files_intact() {
    let srv = Server::start();
    let dir = temp_dir();
    let small = payload(1, 10_000);
    let large = payload(2, 1536 * 1024);
    srv.route("/small.bin", Route::file(&small));
    srv.route("/large.bin", Route::file(&large));
    // Hashed on the way in (--write-checksums): every body goes through NAME.part.
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "--fsync", "--write-checksums"])
        .arg(dir.path().join("landed.sha256"))
        .arg("-d")
        .arg(&out)
        .args([srv.url("/small.bin"), srv.url("/large.bin")])
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok"]));
    assert!(fs::read(out.join("small.bin")).unwrap() == small);
    assert!(fs::read(out.join("large.bin")).unwrap() == large);
    let manifest = fs::read_to_string(dir.path().join("landed.sha256")).unwrap();
    assert_eq!(manifest.lines().count(), 2, "{manifest}");
    // Without digests (the unnamed-file path for the small one).
    let out2 = dir.path().join("out2");
    fetchpool()
        .args(["get", "--fsync", "-d"])
        .arg(&out2)
        .args([srv.url("/small.bin"), srv.url("/large.bin")])
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok"]));
    assert_eq!(list_dir(&out2), ["large.bin", "small.bin"]);
    assert!(fs::read(out2.join("small.bin")).unwrap() == small);
    assert!(fs::read(out2.join("large.bin")).unwrap() == large);
}

/// Starts a download of `len` bytes into an empty directory, puts a file under the final
/// name while the server holds the answer back, and checks that the file is kept and that
/// the directory then holds `left`.
fn appearing_file_is_kept(len: usize, left: &[&str]) {
    let srv = Server::start();
    let gate = Gate::new();
    let dir = temp_dir();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    srv.route("/x.bin", Route::file(payload(3, len)).hold(&gate));
    let running = fetchpool()
        .args(["get", "-d"])
        .arg(&out)
        .arg(srv.url("/x.bin"))
        .spawn();
    wait_until(Duration::from_secs(10), "the request", || {
        srv.requests("/x.bin") == 1
    });
    fs::write(out.join("x.bin"), b"mine").unwrap();
    gate.open();
    running.wait().assert(
        1,
        Pat::empty(),
        Pat::has(&["x.bin", "a file appeared under the final name", "1 failed"]),
    );
    assert_eq!(fs::read(out.join("x.bin")).unwrap(), b"mine");
    assert_eq!(list_dir(&out), left);
}

#[test]
fn a_small_file_that_appears_under_its_name_mid_download_is_never_replaced() {
    // The download went to an unnamed file: nothing of it is left.
    appearing_file_is_kept(10_000, &["x.bin"]);
}

#[test]
fn a_large_file_that_appears_under_its_name_mid_download_is_never_replaced() {
    // The download went through x.bin.part, which stays beside it ("kept both").
    appearing_file_is_kept(1536 * 1024, &["x.bin", "x.bin.part"]);
}

#[test]
fn a_rerun_into_a_used_directory_still_skips_what_is_there() {
    let srv = Server::start();
    let dir = temp_dir();
    let list = serve_files(&srv, 3, 2000);
    let listfile = write_file(dir.path(), "urls.txt", list.as_bytes());
    let out = dir.path().join("out");
    let get = || {
        fetchpool()
            .args(["get", "-i"])
            .arg(&listfile)
            .arg("-d")
            .arg(&out)
            .run()
    };
    get().assert(0, Pat::empty(), Pat::has(&["3 ok"]));
    fs::remove_file(out.join("f1.bin")).unwrap();
    get().assert(0, Pat::empty(), Pat::has(&["1 ok, 2 skipped, 0 failed"]));
    assert_eq!(srv.requests("/f0.bin"), 1);
    assert_eq!(srv.requests("/f1.bin"), 2);
}

#[test]
fn a_resumable_body_is_verified_by_the_pool_and_a_mismatch_leaves_nothing() {
    let srv = Server::start();
    // Over 1 MiB and with an ETag: written through big.bin.part with a resume sidecar.
    let body = payload(4, 1536 * 1024);
    srv.route("/big.bin", Route::file(&body));
    let dir = temp_dir();
    let url = srv.url("/big.bin");
    let wrong = "0".repeat(64);
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path().join("bad"))
        .arg(format!("{url} sha256={wrong}"))
        .run()
        .assert(3, Pat::empty(), Pat::has(&["big.bin", "1 mismatch"]));
    assert!(
        list_dir(&dir.path().join("bad")).is_empty(),
        "no .part, no sidecar"
    );
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path().join("good"))
        .arg(format!("{url} sha256={}", sha256_hex(&body)))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok, 0 failed; 1 verified"]));
    assert_eq!(list_dir(&dir.path().join("good")), ["big.bin"]);
}

#[test]
fn a_body_resumed_from_an_earlier_run_is_verified_by_the_hash_workers() {
    let srv = Server::start();
    let body = payload(5, 4 * 1024 * 1024);
    // The first run gets 2 MiB, then the server stalls (until it is dropped): it is killed
    // mid-body however slow the machine.
    let stall = Duration::from_secs(120);
    srv.route(
        "/slow.bin",
        Route::script(vec![Reply::stall(&body, 2 * 1024 * 1024, stall)]),
    );
    let dir = temp_dir();
    let line = format!("{} sha256={}", srv.url("/slow.bin"), sha256_hex(&body));
    let get = || {
        fetchpool()
            .env("FETCHPOOL_TEST_BACKOFF_MS", "20")
            .args(["get", "-d"])
            .arg(dir.path())
            .arg(&line)
    };
    let running = get().spawn();
    let part = dir.path().join("slow.bin.part");
    wait_until(Duration::from_secs(20), "a MiB in slow.bin.part", || {
        fs::metadata(&part).is_ok_and(|m| m.len() >= 1024 * 1024)
    });
    running.signal(9);
    running.wait();
    srv.route("/slow.bin", Route::file(&body));
    // The first MiB came in the killed run: this run cannot hash the body on the way in,
    // so a hash worker reads it; one that always dies proves it was asked.
    get()
        .env("FETCHPOOL_TEST_WORKER_ABORT", "always:slow.bin.part")
        .run()
        .assert(1, Pat::empty(), Pat::has(&["slow.bin: hashing failed"]));
    assert!(!dir.path().join("slow.bin").exists());
    get()
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok, 0 failed; 1 verified"]));
    assert!(fs::read(dir.path().join("slow.bin")).unwrap() == body);
}

#[test]
fn a_503_with_retry_after_pauses_new_downloads_from_that_host() {
    let srv = Server::start();
    srv.route(
        "/busy",
        Route::script(vec![
            Reply::status(503).header("Retry-After", "1"),
            Reply::file(b"finally"),
        ]),
    );
    // a is held until fetchpool has taken the 503 in (it pauses the host, then prints the
    // RETRY line), so the thread that downloads a looks for b while the pause is on.
    let gate = Gate::new();
    srv.route("/a", Route::file(b"a").hold(&gate));
    srv.route("/b", Route::file(b"b"));
    let dir = temp_dir();
    let running = fetchpool()
        // Every wait, Retry-After's too, becomes 400 ms.
        .env("FETCHPOOL_TEST_BACKOFF_MS", "400")
        .args(["get", "-j", "2", "-d"])
        .arg(dir.path())
        .args([srv.url("/busy"), srv.url("/a"), srv.url("/b")])
        .spawn();
    wait_until(Duration::from_secs(20), "the RETRY line", || {
        running.stderr_so_far().contains("RETRY    busy")
    });
    gate.open();
    running
        .wait()
        .assert(0, Pat::empty(), Pat::has(&["RETRY    busy", "3 ok"]));
    let log = srv.log();
    let first = |path: &str| {
        log.iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("no request for {path} in {log:?}"))
            .at
    };
    // The pause began after the 503's request arrived and lasts 400 ms, so b cannot have
    // been asked for sooner: a lower bound, which a slow machine only makes easier to keep.
    // Unpaused, b would follow a at once, a few ms after the 503.
    let waited = first("/b").duration_since(first("/busy"));
    assert!(
        waited >= Duration::from_millis(400),
        "b was asked for {waited:?} after the request that got the 503"
    );
    assert_eq!(srv.requests("/busy"), 2);
}

#[test]
fn a_list_digest_that_disagrees_with_the_manifest_names_both_lines() {
    let srv = Server::start();
    let body = payload(9, 3000);
    srv.route("/a.bin", Route::file(&body));
    srv.route("/b.bin", Route::file(&body));
    let dir = temp_dir();
    let good = sha256_hex(&body);
    let other = "1".repeat(64);
    // The manifest lists b.bin with the right digest, then a.bin twice: the later wins.
    let sums = write_file(
        dir.path(),
        "m.sums",
        format!("{good}  ./b.bin\n{good}  a.bin\n{other}  a.bin\n").as_bytes(),
    );
    let list = write_file(
        dir.path(),
        "urls.txt",
        format!(
            "{}\n{} sha256={good}\n",
            srv.url("/b.bin"),
            srv.url("/a.bin")
        )
        .as_bytes(),
    );
    let get = || {
        fetchpool()
            .args(["get", "-i"])
            .arg(&list)
            .arg("-c")
            .arg(&sums)
            .arg("-d")
            .arg(dir.path().join("out"))
    };
    let line = format!(
        "urls.txt:2: digest sha256:{good} for 'a.bin' disagrees with {}:3 (sha256:{other})",
        sums.display()
    );
    get().run().assert(2, Pat::empty(), Pat::has(&[&line]));
    assert!(srv.log().is_empty(), "nothing downloaded");
    // Without the clash, b.bin gets its digest from the manifest and is verified.
    fs::write(&sums, format!("{good}  ./b.bin\n{good}  a.bin\n")).unwrap();
    get()
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok, 0 failed; 2 verified"]));
}
