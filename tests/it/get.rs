//! `fetchpool get` against the loopback test server: parallel downloads, landing only
//! complete files, safe names, input errors, skip/overwrite and output modes.

use std::fs;

use crate::support::server::{Reply, Route, Server};
use crate::support::{Pat, fetchpool, list_dir, payload, temp_dir, write_file};

#[test]
fn fifty_files_arrive_byte_identical_on_at_most_eight_reused_connections() {
    let srv = Server::start();
    let dir = temp_dir();
    let mut list = String::new();
    let mut bodies = Vec::new();
    for i in 0..50u64 {
        // Sizes from empty to ~1.5 MiB, so some bodies take many reads.
        let len = ((i * i * 997) % 1_600_000) as usize;
        let name = format!("f{i:02}.bin");
        let body = payload(i, len);
        srv.route(&format!("/{name}"), Route::file(body.clone()).expect(1));
        list += &format!("{}\n", srv.url(&format!("/{name}")));
        bodies.push((name, body));
    }
    let listfile = write_file(dir.path(), "urls.txt", list.as_bytes());
    let out = dir.path().join("out");
    fetchpool()
        .args(["get", "-j", "8", "-i"])
        .arg(&listfile)
        .arg("-d")
        .arg(&out)
        .run()
        .assert(0, Pat::empty(), Pat::has(&["50 ok", "0 failed"]));
    for (name, body) in &bodies {
        assert!(fs::read(out.join(name)).unwrap() == *body, "{name} differs");
    }
    assert_eq!(
        list_dir(&out).len(),
        50,
        "no .part files left: {:?}",
        list_dir(&out)
    );
    assert!(srv.max_concurrent_connections() <= 8);
    assert!(
        srv.connections_opened() < 50,
        "connections are reused: {} opened for 50 files",
        srv.connections_opened()
    );
}

#[test]
fn a_404_and_a_dropped_body_fail_alone_and_leave_nothing_under_final_names() {
    let srv = Server::start();
    let dir = temp_dir();
    let good = payload(7, 300_000);
    srv.route("/good.bin", Route::file(good.clone()));
    srv.route(
        "/cut.bin",
        Route::script(vec![Reply::truncate(payload(8, 200_000), 50_000)]),
    );
    let out = dir.path().join("out");
    let run = fetchpool()
        .args(["get", "-j", "2", "-d"])
        .arg(&out)
        .args([
            srv.url("/good.bin"),
            srv.url("/missing.bin"),
            srv.url("/cut.bin"),
        ])
        .run();
    run.assert(
        1,
        Pat::empty(),
        Pat::has(&[
            "FAILED   ",
            "missing.bin: HTTP 404 Not Found",
            "cut.bin: connection closed after 50000 of 200000 bytes",
            "1 ok, 2 failed",
        ]),
    );
    assert_eq!(fs::read(out.join("good.bin")).unwrap(), good);
    assert_eq!(list_dir(&out), ["good.bin"]);
}

#[test]
fn urls_that_decode_to_traversal_are_written_inside_the_directory() {
    let srv = Server::start();
    let dir = temp_dir();
    for path in ["/a/%2e%2e%2f", "/b/..%2Fx", "/c/%2E%2E"] {
        srv.route(path, Route::file(b"payload"));
    }
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    fetchpool()
        .args(["get", "-d"])
        .arg(&out)
        .args([srv.url("/a/%2e%2e%2f"), srv.url("/b/..%2Fx")])
        .run()
        .assert(0, Pat::empty(), Pat::has(&["2 ok"]));
    let names = list_dir(&out);
    assert_eq!(names.len(), 2, "{names:?}");
    for n in &names {
        assert!(!n.contains('/') && n != ".." && n != ".", "{n}");
    }
    assert_eq!(
        list_dir(dir.path()),
        ["out"],
        "nothing written beside the output dir"
    );
}

#[test]
fn out_fields_that_escape_the_directory_are_input_errors() {
    let dir = temp_dir();
    for (field, reason) in [
        ("out=../x", "out="),
        ("out=/etc/x", "out="),
        ("out=a/b", "out="),
    ] {
        let list = write_file(
            dir.path(),
            "urls.txt",
            format!("# header\nhttp://127.0.0.1:9/f {field}\n").as_bytes(),
        );
        fetchpool()
            .args(["get", "-d"])
            .arg(dir.path().join("out"))
            .arg("-i")
            .arg(&list)
            .run()
            .assert(2, Pat::empty(), Pat::has(&["urls.txt:2: ", reason]));
    }
    // A run that exits 2 creates nothing, not even -d.
    assert_eq!(list_dir(dir.path()), ["urls.txt"]);
}

#[test]
fn a_malformed_line_stops_the_run_before_any_download() {
    let srv = Server::start();
    srv.route("/a", Route::file(b"a"));
    let dir = temp_dir();
    let list = format!("{}\n\nftp://example/x\n", srv.url("/a"));
    let listfile = write_file(dir.path(), "urls.txt", list.as_bytes());
    fetchpool()
        .args(["get", "-i"])
        .arg(&listfile)
        .arg("-d")
        .arg(dir.path())
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["urls.txt:3: ", "ftp://example/x"]),
        );
    assert_eq!(srv.requests("/a"), 0);
}

#[test]
fn an_unknown_field_is_named_with_its_line() {
    let dir = temp_dir();
    let listfile = write_file(dir.path(), "urls.txt", b"http://127.0.0.1:9/a sah256=00\n");
    fetchpool().args(["get", "-i"]).arg(&listfile).run().assert(
        2,
        Pat::empty(),
        Pat::has(&["urls.txt:1: unknown field 'sah256='"]),
    );
}

#[test]
fn two_jobs_with_one_output_name_are_an_input_error_naming_both_lines() {
    let dir = temp_dir();
    let listfile = write_file(
        dir.path(),
        "urls.txt",
        b"http://127.0.0.1:9/a/data.bin\nhttp://127.0.0.1:9/b/data.bin\n",
    );
    fetchpool()
        .args(["get", "-i"])
        .arg(&listfile)
        .arg("-d")
        .arg(dir.path())
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["urls.txt:2: ", "data.bin", "urls.txt:1"]),
        );
}

#[test]
fn a_list_on_stdin_is_read_with_its_comments_and_out_fields() {
    let srv = Server::start();
    srv.route("/s.txt", Route::file(b"from stdin"));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-i", "-", "-d"])
        .arg(dir.path())
        .stdin(format!("# list\n{} out=renamed.txt\n", srv.url("/s.txt")))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["OK       ", "renamed.txt", "1 ok"]),
        );
    assert_eq!(
        fs::read(dir.path().join("renamed.txt")).unwrap(),
        b"from stdin"
    );
}

#[test]
fn an_existing_file_is_skipped_unless_overwrite() {
    let srv = Server::start();
    srv.route("/e.txt", Route::file(b"new"));
    let dir = temp_dir();
    write_file(dir.path(), "e.txt", b"mine");
    let get = || {
        fetchpool()
            .args(["get", "-d"])
            .arg(dir.path())
            .arg(srv.url("/e.txt"))
    };
    get()
        .run()
        .assert(0, Pat::empty(), Pat::has(&["SKIPPED  ", "1 skipped"]));
    assert_eq!(fs::read(dir.path().join("e.txt")).unwrap(), b"mine");
    assert_eq!(srv.requests("/e.txt"), 0);
    get()
        .arg("--overwrite")
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(fs::read(dir.path().join("e.txt")).unwrap(), b"new");
}

#[test]
fn output_off_a_terminal_has_no_escape_codes_and_quiet_prints_nothing() {
    let srv = Server::start();
    srv.route("/q.bin", Route::file(payload(3, 100_000)));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-d"])
        .arg(dir.path().join("plain"))
        .arg(srv.url("/q.bin"))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["OK       ", "q.bin (97.66 KiB)"]).and_not(&["\x1b["]),
        );
    fetchpool()
        .args(["get", "-q", "-d"])
        .arg(dir.path().join("quiet"))
        .arg(srv.url("/q.bin"))
        .run()
        .assert(0, Pat::empty(), Pat::empty());
}

#[test]
fn an_unwritable_output_directory_is_a_clear_usage_error() {
    let dir = temp_dir();
    let file = write_file(dir.path(), "not-a-dir", b"x");
    fetchpool()
        .args(["get", "-d"])
        .arg(file.join("sub"))
        .arg("http://127.0.0.1:9/x")
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["not-a-dir/sub: cannot use as output directory"]),
        );
}

#[test]
fn json_lines_carry_the_documented_fields_and_stdout_nothing_else() {
    let srv = Server::start();
    srv.route("/j.bin", Route::file(payload(5, 1234)));
    let dir = temp_dir();
    let run = fetchpool()
        .args(["get", "--json", "-d"])
        .arg(dir.path())
        .args([srv.url("/j.bin"), srv.url("/nope")])
        .run();
    run.assert(1, Pat::any(), Pat::has(&["1 ok, 1 failed"]));
    let lines: Vec<serde_json::Value> = run
        .stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "two items and a summary");
    let ok = lines.iter().find(|v| v["status"] == "ok").unwrap();
    assert_eq!(ok["bytes"], 1234);
    assert_eq!(ok["http_status"], 200);
    assert!(ok["url"].as_str().unwrap().ends_with("/j.bin"));
    let failed = lines.iter().find(|v| v["status"] == "failed").unwrap();
    assert_eq!(failed["http_status"], 404);
    assert!(failed["error"].as_str().unwrap().contains("404"));
    assert_eq!(lines[2]["summary"], true);
    assert_eq!(lines[2]["exit_code"], 1);
}

#[test]
fn no_urls_at_all_is_a_usage_error() {
    fetchpool()
        .arg("get")
        .run()
        .assert(2, Pat::empty(), Pat::has(&["nothing to download"]));
}

#[test]
fn a_long_batch_off_a_terminal_prints_progress_lines() {
    let srv = Server::start();
    srv.route(
        "/slow.bin",
        Route::file(payload(9, 600_000)).throttle(600_000),
    );
    let dir = temp_dir();
    fetchpool()
        .env("FETCHPOOL_TEST_PROGRESS_MS", "200")
        .args(["get", "-d"])
        .arg(dir.path())
        .arg(srv.url("/slow.bin"))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["progress: 0/1 files, ", "/s", "1 ok"]).and_not(&["\x1b["]),
        );
}

#[test]
fn failed_writes_the_failures_as_a_list_that_retries_exactly_them() {
    let srv = Server::start();
    srv.route("/ok.bin", Route::file(b"fine"));
    srv.route("/other.bin", Route::file(b"fine"));
    srv.route(
        "/flaky.bin",
        Route::script(vec![Reply::status(404), Reply::file(b"back")]),
    );
    let dir = temp_dir();
    let failed = dir.path().join("failed.txt");
    let sha = "ab".repeat(32);
    fetchpool()
        .args(["get", "--failed"])
        .arg(&failed)
        .arg("-d")
        .arg(dir.path().join("out"))
        .arg(srv.url("/ok.bin"))
        .arg(format!("{} out=renamed.bin", srv.url("/flaky.bin")))
        .arg(format!("{} sha256={sha}", srv.url("/other.bin?again")))
        .run()
        .assert(
            3,
            Pat::empty(),
            Pat::has(&["HTTP 404", "checksum mismatch"]),
        );
    assert_eq!(
        fs::read_to_string(&failed).unwrap(),
        format!(
            "{} out=renamed.bin\n{} sha256={sha}\n",
            srv.url("/flaky.bin"),
            srv.url("/other.bin?again")
        )
    );
    fs::write(
        &failed,
        format!("{} out=renamed.bin\n", srv.url("/flaky.bin")),
    )
    .unwrap();
    fetchpool()
        .args(["get", "-i"])
        .arg(&failed)
        .arg("--failed")
        .arg(&failed)
        .arg("-d")
        .arg(dir.path().join("out"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["1 ok"]));
    assert_eq!(
        fs::read_to_string(&failed).unwrap(),
        "",
        "nothing failed this time"
    );
    assert_eq!(
        fs::read(dir.path().join("out/renamed.bin")).unwrap(),
        b"back"
    );
}

#[test]
fn json_covers_every_status_and_a_closed_stdout_ends_the_run_quietly() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"ok"));
    srv.route("/have", Route::file(b"have"));
    srv.route("/bad", Route::file(b"bad"));
    let dir = temp_dir();
    write_file(dir.path(), "have", b"have");
    let run = fetchpool()
        .args(["get", "--json", "--progress", "none", "-d"])
        .arg(dir.path())
        .args([srv.url("/ok"), srv.url("/have"), srv.url("/missing")])
        .arg(format!("{} sha256={}", srv.url("/bad"), "0".repeat(64)))
        .run();
    run.assert(
        3,
        Pat::any(),
        Pat::has(&["FAILED   ", "1 ok, 1 skipped, 1 failed, 1 mismatch"])
            .and_not(&["OK       ", "SKIPPED  "]),
    );
    let objects: Vec<serde_json::Value> = run
        .stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fields = [
        "url",
        "path",
        "status",
        "http_status",
        "bytes",
        "elapsed_ms",
        "attempts",
        "digest",
        "error",
    ];
    let mut statuses: Vec<&str> = Vec::new();
    for o in &objects[..4] {
        for f in fields {
            assert!(o.get(f).is_some(), "{f} missing in {o}");
        }
        statuses.push(o["status"].as_str().unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, ["failed", "mismatch", "ok", "skipped"]);
    let mismatch = objects.iter().find(|o| o["status"] == "mismatch").unwrap();
    assert!(mismatch["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(objects[4]["summary"], true);

    // `| head -1`: the reader goes away after one line; fetchpool finishes without a panic.
    let urls: Vec<String> = (0..20).map(|i| srv.url(&format!("/ok?{i}"))).collect();
    let script = format!(
        "set -o pipefail; {} get --json --overwrite -d {} {} -i - | head -1 >/dev/null; echo status=${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_fetchpool"),
        dir.path().join("many").display(),
        ""
    );
    let list: String = urls
        .iter()
        .enumerate()
        .map(|(i, u)| format!("{u} out=f{i}\n"))
        .collect();
    crate::support::command("bash")
        .args(["-c", &script])
        .stdin(list)
        .run()
        .assert(
            0,
            Pat::eq("status=0\n"),
            Pat::has(&["20 ok"]).and_not(&["panicked"]),
        );
}

#[test]
fn a_panic_in_a_download_thread_fails_that_file_and_the_thread_goes_on() {
    let srv = Server::start();
    let dir = temp_dir();
    for name in ["a.bin", "b.bin", "c.bin"] {
        srv.route(&format!("/{name}"), Route::file(payload(3, 1000)));
    }
    let out = dir.path().join("out");
    // One thread: c.bin can only arrive if the thread that panicked on b.bin lives on.
    fetchpool()
        .args(["get", "-j", "1", "-d"])
        .arg(&out)
        .args([srv.url("/a.bin"), srv.url("/b.bin"), srv.url("/c.bin")])
        .env("FETCHPOOL_TEST_PANIC_ON", "b.bin")
        .run()
        .assert(
            1,
            Pat::empty(),
            Pat::has(&[
                "b.bin: internal error (a bug in fetchpool, please report it): \
                 test hook: FETCHPOOL_TEST_PANIC_ON=b.bin",
                "2 ok, 1 failed",
            ]),
        );
    assert_eq!(list_dir(&out), ["a.bin", "c.bin"]);
}
