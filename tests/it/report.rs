//! The record a script relies on: one vocabulary (ok, skipped, failed, mismatch,
//! interrupted, not started) in per-file lines, the summary, `--json` and the exit status;
//! `--failed` listing every job that is not ok or skipped, so a rerun of it completes the
//! batch; exit statuses that do not depend on which download finishes first.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::server::{Reply, Route, Server};
use crate::support::{Cmd, Pat, Run, fetchpool, payload, sha256_hex, temp_dir};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn get(dir: &Path) -> Cmd {
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "20")
        .args(["get", "--progress", "plain", "-d"])
        .arg(dir)
}

/// The JSON lines of a run's stdout: (per-file objects, the summary).
fn json_of(run: &Run) -> (Vec<Value>, Value) {
    let mut all: Vec<Value> = run
        .stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{run}")))
        .collect();
    let summary = all.pop().expect("a summary object");
    assert_eq!(summary["summary"], true, "{run}");
    (all, summary)
}

/// The summary's count of `word`, and how many per-file objects carry it as status.
fn counts(files: &[Value], summary: &Value, word: &str) -> (u64, u64) {
    let objects = files.iter().filter(|o| o["status"] == word).count() as u64;
    (summary[word].as_u64().unwrap(), objects)
}

#[test]
fn an_interrupted_20_file_run_lists_every_unfinished_job_and_its_rerun_completes() {
    let srv = Server::start();
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| payload(100 + i, 256 * KIB)).collect();
    let mut urls = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let path = format!("/f{i:02}.bin");
        // The first two are quick; the rest crawl, so the interrupt finds work in flight
        // and work not started whatever the order of events.
        let route = match i {
            0 | 1 => Route::file(body),
            _ => Route::file(body).throttle(64 * KIB as u64),
        };
        srv.route(&path, route);
        urls.push(srv.url(&path));
    }
    let dir = temp_dir();
    let out = dir.path().join("out");
    let failed = dir.path().join("failed.txt");
    let running = get(&out)
        .args(["-j", "4", "--json", "--failed"])
        .arg(&failed)
        .args(&urls)
        .spawn();
    // Bounded wait until the quick files landed and slow ones are under way.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(out.join("f00.bin").exists() && out.join("f01.bin").exists()) {
        assert!(Instant::now() < deadline, "the quick files never landed");
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(2);
    let run = running.wait();
    run.assert(130, Pat::any(), Pat::has(&["interrupted", "not started"]));
    let (files, summary) = json_of(&run);
    assert_eq!(
        summary["exit_code"], 130,
        "the JSON says what the process exits with"
    );
    // Every job once, and the same counts in the lines, the objects and the summary.
    assert_eq!(files.len(), 20, "{run}");
    let mut total = 0;
    for word in [
        "ok",
        "skipped",
        "failed",
        "mismatch",
        "interrupted",
        "not_started",
    ] {
        let (in_summary, in_objects) = counts(&files, &summary, word);
        assert_eq!(in_summary, in_objects, "{word}: {run}");
        total += in_summary;
    }
    assert_eq!(total, 20);
    let ok = summary["ok"].as_u64().unwrap();
    assert!(ok >= 2, "{run}");
    assert!(summary["interrupted"].as_u64().unwrap() >= 1, "{run}");
    assert!(summary["not_started"].as_u64().unwrap() >= 1, "{run}");
    let stderr = run.stderr_str();
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("OK ")).count() as u64,
        ok,
        "{run}"
    );
    assert!(stderr.contains(&format!(
        "{} interrupted, {} not started",
        summary["interrupted"], summary["not_started"]
    )));
    // --failed holds exactly the jobs that did not end ok, in input order.
    let listed = fs::read_to_string(&failed).unwrap();
    let want: Vec<&str> = files
        .iter()
        .filter(|o| o["status"] != "ok")
        .map(|o| o["url"].as_str().unwrap())
        .collect();
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(listed.lines().collect::<Vec<_>>(), sorted, "{run}");
    assert_eq!(listed.lines().count() as u64, 20 - ok);

    // The README's recipe: rerun the failed list, and the batch is complete.
    for (i, body) in bodies.iter().enumerate() {
        srv.route(&format!("/f{i:02}.bin"), Route::file(body));
    }
    let rerun = get(&out).arg("-i").arg(&failed).run();
    rerun.assert(
        0,
        Pat::empty(),
        Pat::has(&[format!("{} ok, 0 failed", 20 - ok)]),
    );
    for (i, body) in bodies.iter().enumerate() {
        assert!(
            fs::read(out.join(format!("f{i:02}.bin"))).unwrap() == *body,
            "f{i:02}.bin"
        );
    }
}

#[test]
fn sigterm_exits_143_and_the_json_summary_says_143() {
    let srv = Server::start();
    srv.route(
        "/slow.bin",
        Route::file(payload(3, 2 * MIB)).throttle(256 * KIB as u64),
    );
    let dir = temp_dir();
    let part = dir.path().join("slow.bin.part");
    let running = get(dir.path())
        .arg("--json")
        .arg(srv.url("/slow.bin"))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::metadata(&part).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(15);
    let run = running.wait();
    run.assert(
        143,
        Pat::any(),
        Pat::has(&["INTERRUPTED ", "slow.bin (http", "1 interrupted"]),
    );
    let (files, summary) = json_of(&run);
    assert_eq!(files[0]["status"], "interrupted");
    assert_eq!(summary["exit_code"], 143);
}

#[test]
fn a_resumed_file_shows_its_size_and_what_this_run_fetched() {
    let srv = Server::start();
    let body = payload(4, 4 * MIB);
    srv.route("/big.bin", Route::file(&body).throttle(MIB as u64));
    let dir = temp_dir();
    let part = dir.path().join("big.bin.part");
    let running = get(dir.path()).arg(srv.url("/big.bin")).spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::metadata(&part).map_or(0, |m| m.len()) < MIB as u64 {
        assert!(Instant::now() < deadline, "the download never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(2);
    running.wait().assert(130, Pat::empty(), Pat::any());
    let kept = fs::metadata(&part).unwrap().len();
    srv.route("/big.bin", Route::file(&body));
    let fetched = (4 * MIB) as u64 - kept;
    let run = get(dir.path()).arg("--json").arg(srv.url("/big.bin")).run();
    run.assert(
        0,
        Pat::any(),
        Pat::has(&[
            "OK       ".to_string(),
            format!("big.bin (4.00 MiB, {} fetched)", indicatif_bytes(fetched)),
        ]),
    );
    let (files, summary) = json_of(&run);
    assert_eq!(files[0]["size"], 4 * MIB as u64);
    assert_eq!(files[0]["bytes"], fetched);
    assert_eq!(summary["bytes"], fetched);
}

/// `HumanBytes` as fetchpool prints it (binary units, two decimals).
fn indicatif_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{n} B"),
        _ => format!("{v:.2} {}", units[u]),
    }
}

#[test]
fn progress_bar_off_a_terminal_falls_back_to_plain_lines() {
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"aaa"));
    srv.route("/b.bin", Route::file(b"bbb"));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "--progress", "bar", "-d"])
        .arg(dir.path())
        .args([srv.url("/a.bin"), srv.url("/b.bin")])
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&["OK       ", "a.bin (3 B)", "b.bin (3 B)", "2 ok, 0 failed"])
                .and_not(&["\x1b"]),
        );
}

/// Runs `get` on a mismatching file and a missing one, with `slow` held back so the other
/// finishes first, and returns the run.
fn mismatch_and_404(slow: &str) -> Run {
    let srv = Server::start();
    let hold = |route: Route, path: &str| match path == slow {
        true => route.delay(Duration::from_millis(400)),
        false => route,
    };
    srv.route("/bad.bin", hold(Route::file(b"tampered"), "/bad.bin"));
    srv.route(
        "/gone.bin",
        hold(Route::script(vec![Reply::status(404)]), "/gone.bin"),
    );
    let dir = temp_dir();
    get(dir.path())
        .args(["-j", "2", "--json"])
        .arg(format!(
            "{} sha256={}",
            srv.url("/bad.bin"),
            sha256_hex(b"what was meant")
        ))
        .arg(srv.url("/gone.bin"))
        .run()
}

#[test]
fn a_mismatch_exits_3_whichever_of_it_and_a_failure_ends_first() {
    for slow in ["/bad.bin", "/gone.bin"] {
        let run = mismatch_and_404(slow);
        run.assert(
            3,
            Pat::any(),
            Pat::has(&[
                "MISMATCH ",
                "bad.bin: checksum mismatch",
                "FAILED   ",
                "gone.bin: HTTP 404",
                "0 ok, 1 failed, 1 mismatch",
            ]),
        );
        let (files, summary) = json_of(&run);
        let first = files[0]["path"].as_str().unwrap();
        let first = first.rsplit('/').next().unwrap();
        assert!(
            !slow.ends_with(first),
            "{slow} was held back, yet it ended first: {run}"
        );
        assert_eq!(summary["exit_code"], 3);
        assert_eq!(
            (summary["mismatch"].clone(), summary["failed"].clone()),
            (1.into(), 1.into())
        );
    }
}

#[test]
fn an_interrupt_exits_130_even_after_a_mismatch() {
    let srv = Server::start();
    srv.route("/bad.bin", Route::file(b"tampered"));
    srv.route(
        "/slow.bin",
        Route::file(payload(5, 2 * MIB)).throttle(256 * KIB as u64),
    );
    let dir = temp_dir();
    let running = get(dir.path())
        .args(["-j", "2", "--json"])
        .arg(format!(
            "{} sha256={}",
            srv.url("/bad.bin"),
            sha256_hex(b"x")
        ))
        .arg(srv.url("/slow.bin"))
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !running.stderr_so_far().contains("MISMATCH") {
        assert!(Instant::now() < deadline, "no mismatch line");
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal(2);
    let run = running.wait();
    run.assert(130, Pat::any(), Pat::has(&["1 mismatch, 1 interrupted"]));
    assert_eq!(json_of(&run).1["exit_code"], 130);
}

#[test]
fn an_interrupt_while_stdin_is_still_open_ends_with_the_summary_and_130() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let srv = Server::start();
    srv.route("/a.bin", Route::file(b"a"));
    let dir = temp_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fetchpool"))
        .args(["get", "--progress", "plain", "--json", "-i", "-", "-d"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", srv.url("/a.bin")).unwrap();
    // The list is still open: fetchpool is reading it when the interrupt comes. Wait for
    // its first request (its signal handlers are in place by then), not for a fixed time
    // that a loaded machine may not honour.
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.requests("/a.bin") == 0 {
        assert!(
            Instant::now() < deadline,
            "fetchpool never asked for /a.bin"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    std::thread::sleep(Duration::from_millis(100));
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "fetchpool did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // Standard input streams: its first job may already have landed when the interrupt
    // comes, or be cut short by it. Either way the run ends with its summary and 130, and
    // the job is accounted for once.
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("fetchpool: "), "a summary: {err}");
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["exit_code"], 130);
    let counted: u64 = ["ok", "interrupted", "not_started"]
        .iter()
        .map(|k| summary[*k].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 1, "{summary}");
}
