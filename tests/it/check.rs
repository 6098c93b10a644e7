//! `fetchpool check` against the loopback test server: UP and DOWN with their reasons,
//! the HEAD-to-GET fallback, --expect-status, rounds, JSON, ordering and exit statuses.

use std::io::Write;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::server::{Reply, Route, Server};
use crate::support::{Pat, command, fetchpool, fifo_producer, temp_dir, wait_until, write_file};

/// Every check here finishes in seconds; past this the harness kills it and fails the test.
const BOUND: Duration = Duration::from_secs(20);

/// A URL on a port where nothing listens: bound, then released.
fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/gone")
}

/// The lines of `text` that start with UP or DOWN, in order.
fn probe_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("UP ") || l.starts_with("DOWN "))
        .collect()
}

#[test]
fn a_live_url_is_up_with_its_status_and_latency_and_exits_0() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"hello").expect(1));
    let url = srv.url("/ok");
    let run = fetchpool().args(["check", &url]).timeout(BOUND).run();
    run.assert(0, Pat::has(&["UP    200 ", " ms  ", &url]), Pat::empty());
    assert_eq!(probe_lines(&run.stdout_str()).len(), 1, "{run}");
    let methods: Vec<String> = srv.log().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["HEAD"], "a probe is one HEAD and nothing more");
}

#[test]
fn a_port_with_no_listener_is_down_as_connection_refused_and_exits_1() {
    let url = refused_url();
    fetchpool()
        .args(["check", &url])
        .timeout(BOUND)
        .run()
        .assert(
            1,
            Pat::has(&["DOWN  -", &url, "(connection refused)"]),
            Pat::empty(),
        );
}

#[test]
fn a_500_is_down_as_unexpected_status_and_exits_1() {
    let srv = Server::start();
    srv.route("/broken", Route::script(vec![Reply::status(500)]).expect(1));
    let url = srv.url("/broken");
    fetchpool()
        .args(["check", &url])
        .timeout(BOUND)
        .run()
        .assert(
            1,
            Pat::has(&["DOWN  500 ", &url, "(unexpected status 500)"]),
            Pat::empty(),
        );
}

#[test]
fn a_server_slower_than_the_timeout_is_down_as_timed_out_within_the_timeout() {
    let srv = Server::start();
    srv.route("/slow", Route::file(b"late").delay(Duration::from_secs(30)));
    let url = srv.url("/slow");
    let started = Instant::now();
    let run = fetchpool()
        .args(["check", "--timeout", "1", &url])
        .timeout(BOUND)
        .run();
    run.assert(
        1,
        Pat::has(&["DOWN  -", &url, "(timed out after 1 s)"]),
        Pat::empty(),
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}: {run}");
}

#[test]
fn a_refused_head_falls_back_to_a_one_byte_get() {
    let srv = Server::start();
    srv.route(
        "/nohead",
        Route::file(vec![7u8; 100_000]).refuse_head(405).expect(2),
    );
    let url = srv.url("/nohead");
    // The 206 answer to the Range request counts as 200, so an exact `200` still holds.
    fetchpool()
        .args(["check", "--expect-status", "200", &url])
        .timeout(BOUND)
        .run()
        .assert(0, Pat::has(&["UP    206 ", &url]), Pat::empty());
    let log = srv.log();
    let seen: Vec<(&str, Option<&str>)> = log
        .iter()
        .map(|r| (r.method.as_str(), r.header("Range")))
        .collect();
    assert_eq!(seen, [("HEAD", None), ("GET", Some("bytes=0-0"))]);
    assert!(srv.body_bytes_sent("/nohead") <= 1, "no more than one byte");
}

#[test]
fn a_head_answered_501_falls_back_to_a_one_byte_get_too() {
    let srv = Server::start();
    srv.route("/h", Route::file(b"x").refuse_head(501).expect(2));
    fetchpool()
        .args(["check", &srv.url("/h")])
        .timeout(BOUND)
        .run()
        .assert(0, Pat::has(&["UP    206 "]), Pat::empty());
}

#[test]
fn redirects_are_followed_to_the_final_status() {
    let srv = Server::start();
    srv.route("/old", Route::script(vec![Reply::redirect(301, "/new")]));
    srv.route("/new", Route::file(b"here").expect(1));
    fetchpool()
        .args(["check", &srv.url("/old")])
        .timeout(BOUND)
        .run()
        .assert(0, Pat::has(&["UP    200 "]), Pat::empty());
}

#[test]
fn expect_status_decides_what_counts_as_up() {
    let srv = Server::start();
    srv.route("/missing", Route::script(vec![Reply::status(404)]));
    srv.route("/ok", Route::file(b"ok"));
    let (missing, ok) = (srv.url("/missing"), srv.url("/ok"));
    fetchpool()
        .args(["check", "--expect-status", "404,410", &missing])
        .timeout(BOUND)
        .run()
        .assert(0, Pat::has(&["UP    404 "]), Pat::empty());
    fetchpool()
        .args(["check", "--expect-status", "204", &ok])
        .timeout(BOUND)
        .run()
        .assert(
            1,
            Pat::has(&["DOWN  200 ", "(unexpected status 200)"]),
            Pat::empty(),
        );
    fetchpool()
        .args(["check", "--expect-status", "200-499", &missing, &ok])
        .timeout(BOUND)
        .run()
        .assert(0, Pat::has(&["UP    404 ", "UP    200 "]), Pat::empty());
}

#[test]
fn a_malformed_expect_status_is_a_usage_error_before_any_request() {
    let srv = Server::start();
    let url = srv.url("/never");
    fetchpool()
        .args(["check", "--expect-status", "2x", &url])
        .timeout(BOUND)
        .run()
        .assert(2, Pat::empty(), Pat::has(&["'2x' is not a status"]));
    assert!(srv.log().is_empty());
}

#[test]
fn exits_1_when_any_url_is_down_and_still_checks_every_url() {
    let srv = Server::start();
    srv.route("/a", Route::file(b"a").expect(1));
    srv.route("/c", Route::file(b"c").expect(1));
    let down = refused_url();
    let run = fetchpool()
        .args(["check", &srv.url("/a"), &down, &srv.url("/c")])
        .timeout(BOUND)
        .run();
    run.assert(1, Pat::has(&["UP ", "DOWN "]), Pat::empty());
    assert_eq!(probe_lines(&run.stdout_str()).len(), 3, "{run}");
}

#[test]
fn usage_and_input_errors_exit_2_before_any_request() {
    let srv = Server::start();
    let url = srv.url("/never");
    fetchpool()
        .args(["check"])
        .run()
        .assert(2, Pat::empty(), Pat::has(&["nothing to check"]));
    fetchpool()
        .args(["check", "-i", "/nonexistent/urls.txt", &url])
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["/nonexistent/urls.txt: cannot read"]),
        );
    fetchpool()
        .args(["check", "--timeout", "0", &url])
        .run()
        .assert(2, Pat::empty(), Pat::has(&["--timeout"]));
    fetchpool()
        .args(["check", "--interval", "1", &url])
        .run()
        .assert(2, Pat::empty(), Pat::has(&["--count"]));
    fetchpool()
        .args(["check", "ftp://example.org/x", &url])
        .run()
        .assert(2, Pat::empty(), Pat::has(&["fetchpool: argument:1: "]));
    assert!(srv.log().is_empty(), "no request before the input is valid");
}

#[test]
fn urls_come_from_lists_and_stdin_after_the_arguments() {
    let srv = Server::start();
    for path in ["/arg", "/file", "/stdin"] {
        srv.route(path, Route::file(b"x").expect(1));
    }
    let dir = temp_dir();
    let list = format!("# services\n{} out=ignored.bin\n\n", srv.url("/file"));
    let list = write_file(dir.path(), "urls.txt", list.as_bytes());
    let run = fetchpool()
        .args(["check", &srv.url("/arg"), "-i"])
        .arg(&list)
        .args(["-i", "-"])
        .stdin(format!("{}\n", srv.url("/stdin")))
        .timeout(BOUND)
        .run();
    run.assert(0, Pat::any(), Pat::empty());
    let lines = probe_lines(&run.stdout_str())
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(
        lines,
        [srv.url("/arg"), srv.url("/file"), srv.url("/stdin")]
    );
}

#[test]
fn a_malformed_list_line_exits_2_naming_file_and_line() {
    let srv = Server::start();
    let dir = temp_dir();
    let list = format!("{}\nnot a url\n", srv.url("/a"));
    let list = write_file(dir.path(), "urls.txt", list.as_bytes());
    fetchpool().args(["check", "-i"]).arg(&list).run().assert(
        2,
        Pat::empty(),
        Pat::has(&["urls.txt:2: "]),
    );
    assert!(srv.log().is_empty());
}

#[test]
fn results_come_out_in_input_order_whatever_order_they_finish_in() {
    let srv = Server::start();
    srv.route("/slow", Route::file(b"s").delay(Duration::from_millis(600)));
    srv.route("/fast", Route::file(b"f"));
    let (slow, fast) = (srv.url("/slow"), srv.url("/fast"));
    let run = fetchpool()
        .args(["check", "-j", "2", &slow, &fast, &slow, &fast])
        .timeout(BOUND)
        .run();
    run.assert(0, Pat::any(), Pat::empty());
    let stdout = run.stdout_str();
    let order: Vec<bool> = probe_lines(&stdout)
        .iter()
        .map(|l| l.ends_with("/slow"))
        .collect();
    assert_eq!(order, [true, false, true, false], "{run}");
}

#[test]
fn rounds_repeat_at_the_interval_and_end_with_a_summary_per_url() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"ok").expect(3));
    srv.route(
        "/flaky",
        Route::script(vec![Reply::status(503), Reply::file(b"back")]),
    );
    let (ok, flaky) = (srv.url("/ok"), srv.url("/flaky"));
    let started = Instant::now();
    let run = fetchpool()
        .args(["check", "--interval", "0.2", "--count", "3", &ok, &flaky])
        .timeout(BOUND)
        .run();
    let took = started.elapsed();
    run.assert(
        1,
        Pat::has(&[
            "summary of 3 rounds:",
            "3/3 up  min ",
            "2/3 up  min ",
            " median ",
        ]),
        Pat::empty(),
    );
    assert_eq!(probe_lines(&run.stdout_str()).len(), 6, "{run}");
    assert_eq!(srv.requests("/ok"), 3);
    assert!(
        took >= Duration::from_millis(400),
        "rounds 0.2 s apart: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn quiet_prints_only_down_lines() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"ok"));
    let down = refused_url();
    fetchpool()
        .args([
            "check",
            "-q",
            "--count",
            "2",
            "--interval",
            "0",
            &srv.url("/ok"),
        ])
        .timeout(BOUND)
        .run()
        .assert(0, Pat::empty(), Pat::empty());
    fetchpool()
        .args(["check", "-q", &srv.url("/ok"), &down])
        .timeout(BOUND)
        .run()
        .assert(
            1,
            Pat::has(&["DOWN ", &down]).and_not(&["UP "]),
            Pat::empty(),
        );
}

#[test]
fn json_gives_one_object_per_probe_and_a_summary_with_human_lines_on_stderr() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"ok"));
    srv.route("/broken", Route::script(vec![Reply::status(500)]));
    let (ok, broken, down) = (srv.url("/ok"), srv.url("/broken"), refused_url());
    let run = fetchpool()
        .args(["check", "--json", "--count", "2", "--interval", "0"])
        .args([&ok, &broken, &down])
        .timeout(BOUND)
        .run();
    run.assert(
        1,
        Pat::any(),
        Pat::has(&["UP    200 ", "summary of 2 rounds"]),
    );
    let objects: Vec<Value> = run
        .stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(objects.len(), 7, "6 probes and a summary: {run}");
    let first = &objects[0];
    assert_eq!(first["url"], ok.as_str());
    assert_eq!(first["status"], "up");
    assert_eq!(first["http_status"], 200);
    assert!(first["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert_eq!(first["error"], Value::Null);
    assert_eq!(first["round"], 1);
    assert_eq!(objects[1]["status"], "down");
    assert_eq!(objects[1]["http_status"], 500);
    assert_eq!(objects[1]["error"], "unexpected status 500");
    assert_eq!(objects[2]["http_status"], Value::Null);
    assert_eq!(objects[2]["latency_ms"], Value::Null);
    assert_eq!(objects[2]["error"], "connection refused");
    assert_eq!(objects[5]["round"], 2);
    let summary = &objects[6];
    assert_eq!(summary["summary"], true);
    assert_eq!(summary["rounds"], 2);
    assert_eq!(summary["probes"], 6);
    assert_eq!(summary["up"], 2);
    assert_eq!(summary["down"], 4);
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["urls"][0]["up_ratio"], 1.0);
    assert_eq!(summary["urls"][2]["median_ms"], Value::Null);
}

#[test]
fn urls_are_shown_without_their_userinfo() {
    let srv = Server::start();
    srv.route("/private", Route::file(b"p"));
    let url = srv
        .url("/private")
        .replace("http://", "http://admin:hunter2@");
    fetchpool()
        .args(["check", "--json", &url])
        .timeout(BOUND)
        .run()
        .assert(
            0,
            Pat::has(&[&srv.url("/private")]).and_not(&["hunter2", "admin"]),
            Pat::has(&["UP "]).and_not(&["hunter2", "admin"]),
        );
}

#[test]
fn a_peer_that_does_not_speak_tls_is_down_as_a_tls_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            thread::sleep(Duration::from_millis(200));
        }
    });
    let url = format!("https://127.0.0.1:{port}/");
    fetchpool()
        .args(["check", "--timeout", "5", &url])
        .timeout(BOUND)
        .run()
        .assert(1, Pat::has(&["DOWN  -", "(TLS error: "]), Pat::empty());
    answer.join().unwrap();
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"ok"));
    let url = srv.url("/ok");
    // `head` leaves after one line; the rounds after that must find stdout closed and stop.
    let script =
        r#""$0" check --count 200 --interval 0.01 "$1" | head -n 1; echo "rc=${PIPESTATUS[0]}""#;
    let run = command("bash")
        .args(["-c", script, env!("CARGO_BIN_EXE_fetchpool"), &url])
        .timeout(BOUND)
        .run();
    run.assert(0, Pat::has(&["UP    200 ", "rc=0"]), Pat::empty());
    assert!(
        srv.requests("/ok") < 200,
        "stopped early: {}",
        srv.requests("/ok")
    );
}

#[test]
fn an_interrupt_stops_the_rounds_prints_the_summary_and_exits_130() {
    let srv = Server::start();
    srv.route("/ok", Route::file(b"ok"));
    let running = fetchpool()
        .args([
            "check",
            "--count",
            "1000",
            "--interval",
            "0.05",
            &srv.url("/ok"),
        ])
        .timeout(BOUND)
        .spawn();
    wait_until(Duration::from_secs(10), "the first probe line", || {
        running.stdout_so_far().contains("UP ")
    });
    running.signal(2);
    let run = running.wait();
    run.assert(130, Pat::has(&["UP    200 ", "summary of "]), Pat::empty());
    assert!(srv.requests("/ok") < 1000);
}

#[test]
fn cacert_makes_a_private_ca_service_up_that_is_down_without_it() {
    use crate::support::tls::{Canned, TlsServer};
    let srv = TlsServer::start(vec![("/health", Canned::ok(b"ok"))]);
    let dir = temp_dir();
    let ca = write_file(dir.path(), "ca.pem", srv.ca_pem().as_bytes());
    let url = srv.url("/health");
    fetchpool()
        .args(["check", &url])
        .timeout(BOUND)
        .run()
        .assert(1, Pat::has(&["DOWN", "TLS error", &url]), Pat::empty());
    fetchpool()
        .args(["check", "--cacert"])
        .arg(&ca)
        .arg(&url)
        .timeout(BOUND)
        .run()
        .assert(0, Pat::has(&["UP    200 ", &url]), Pat::empty());
}

#[test]
fn header_options_go_with_every_probe_and_the_fallback_get() {
    let srv = Server::start();
    srv.route("/api", Route::file(b"x").refuse_head(405));
    let url = srv.url("/api");
    fetchpool()
        .args([
            "check",
            "-H",
            "X-Probe: yes",
            "-H",
            "Authorization: Bearer t0k",
            &url,
        ])
        .timeout(BOUND)
        .run()
        .assert(0, Pat::has(&["UP    206 "]), Pat::empty().and_not(&["t0k"]));
    let log = srv.log();
    assert_eq!(log.len(), 2, "HEAD, then the one-byte GET");
    for request in &log {
        assert_eq!(request.header("x-probe"), Some("yes"), "{}", request.method);
        assert_eq!(request.header("authorization"), Some("Bearer t0k"));
    }
}

#[test]
fn proxy_option_routes_probes_through_the_proxy() {
    use crate::support::proxy::HttpProxy;
    let srv = Server::start();
    srv.route("/p", Route::file(b"via proxy"));
    let proxy = HttpProxy::start(srv.addr());
    fetchpool()
        .args(["check", "--proxy", &proxy.url(), "http://files.invalid/p"])
        .timeout(BOUND)
        .run()
        .assert(
            0,
            Pat::has(&["UP    200 ", "http://files.invalid/p"]),
            Pat::empty(),
        );
    // Plain http goes to an HTTP proxy as an absolute-form request.
    let targets: Vec<String> = proxy.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["http://files.invalid/p"]);
}

#[test]
fn retries_probe_again_after_a_transient_failure_and_default_to_none() {
    let srv = Server::start();
    srv.route(
        "/flaky",
        Route::script(vec![Reply::status(503), Reply::file(b"ok")]),
    );
    let url = srv.url("/flaky");
    fetchpool()
        .args(["check", &url])
        .timeout(BOUND)
        .run()
        .assert(1, Pat::has(&["DOWN  503"]), Pat::empty());
    let srv = Server::start();
    srv.route(
        "/flaky",
        Route::script(vec![Reply::status(503), Reply::file(b"ok")]),
    );
    let url = srv.url("/flaky");
    fetchpool()
        .env("FETCHPOOL_TEST_BACKOFF_MS", "10")
        .args(["check", "--retries", "2", &url])
        .timeout(BOUND)
        .run()
        .assert(0, Pat::has(&["UP    200 "]), Pat::empty());
    assert_eq!(srv.requests("/flaky"), 2);
}

/// `producer | fetchpool check -i -`: each URL is probed as soon as its line is read. The
/// producer writes a line, waits until that URL's probe has reached the server, then
/// writes the next: with standard input read to its end first, the run would never end.
#[test]
fn check_from_standard_input_probes_each_url_as_its_line_arrives() {
    let srv = Server::start();
    for i in 0..3 {
        srv.route(&format!("/s{i}"), Route::file(b"x").expect(1));
    }
    let dir = temp_dir();
    let (fifo, mut producer) = fifo_producer(dir.path(), "lines");
    let running = command("sh")
        .args(["-c", "exec \"$0\" check -i - < \"$1\""])
        .arg(env!("CARGO_BIN_EXE_fetchpool"))
        .arg(&fifo)
        .timeout(BOUND)
        .spawn();
    for i in 0..3 {
        writeln!(producer, "{}", srv.url(&format!("/s{i}"))).unwrap();
        producer.flush().unwrap();
        let path = format!("/s{i}");
        wait_until(BOUND, "the probe of the line just written", || {
            srv.requests(&path) == 1
        });
        // Shown as soon as it and every one before it are in, before the next line.
        wait_until(BOUND, "its UP line", || {
            probe_lines(&running.stdout_so_far()).len() == i + 1
        });
    }
    drop(producer);
    let run = running.wait();
    run.assert(0, Pat::any(), Pat::empty());
    let urls: Vec<String> = probe_lines(&run.stdout_str())
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(urls, [srv.url("/s0"), srv.url("/s1"), srv.url("/s2")]);
}

/// Round one streams standard input and keeps a copy; the later rounds read the copy.
#[test]
fn count_2_on_standard_input_probes_every_url_twice_and_sums_up_each() {
    let srv = Server::start();
    let paths = ["/a", "/b", "/c"];
    for path in paths {
        srv.route(path, Route::file(b"x").expect(2));
    }
    let list: String = paths.iter().map(|p| srv.url(p) + "\n").collect();
    let arg = srv.url("/arg");
    srv.route("/arg", Route::file(b"x").expect(2));
    let run = fetchpool()
        .args(["check", "--count", "2", "--interval", "0", &arg, "-i", "-"])
        .stdin(format!("# streamed\n{list}"))
        .timeout(BOUND)
        .run();
    run.assert(0, Pat::has(&["summary of 2 rounds:"]), Pat::empty());
    let stdout = run.stdout_str();
    let probed: Vec<String> = probe_lines(&stdout)
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    let once = [arg.clone(), srv.url("/a"), srv.url("/b"), srv.url("/c")];
    assert_eq!(probed, [once.clone(), once.clone()].concat(), "{run}");
    for path in ["/arg", "/a", "/b", "/c"] {
        assert_eq!(srv.requests(path), 2, "{path}: {run}");
    }
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("summary of"))
        .skip(1)
        .collect();
    assert_eq!(summary.len(), 4, "a summary line per URL: {run}");
    for (line, url) in summary.iter().zip(&once) {
        assert!(
            line.contains(url.as_str()) && line.contains("2/2"),
            "{line}: {run}"
        );
    }
}

/// A bad line of a stream cannot be refused before the first probe: it ends the run at
/// that line with 2, after the URLs before it were probed, and no later round starts.
#[test]
fn a_bad_line_in_the_stream_ends_the_check_there_with_2() {
    let srv = Server::start();
    srv.route("/a", Route::file(b"x").expect(1));
    let run = fetchpool()
        .args(["check", "--count", "3", "--interval", "0", "-i", "-"])
        .stdin(format!(
            "{}\nftp://x/y\n{}\n",
            srv.url("/a"),
            srv.url("/never")
        ))
        .timeout(BOUND)
        .run();
    run.assert(
        2,
        Pat::has(&["UP    200 ", "summary of 1 rounds:"]),
        Pat::has(&["fetchpool: -:2: not an http(s) URL"]),
    );
    assert_eq!(probe_lines(&run.stdout_str()).len(), 1, "{run}");
    assert_eq!(srv.requests("/never"), 0);
}

/// Ctrl-C while the producer still has more to say: the run does not wait for its next
/// line; it prints what it has (a summary with the one URL seen) and exits 130.
#[test]
fn an_interrupt_while_the_stream_is_open_prints_the_summary_and_exits_130() {
    let srv = Server::start();
    srv.route("/one", Route::file(b"x").expect(1));
    let dir = temp_dir();
    let (fifo, mut producer) = fifo_producer(dir.path(), "lines");
    let running = command("sh")
        .args(["-c", "exec \"$0\" check --count 5 -i - < \"$1\""])
        .arg(env!("CARGO_BIN_EXE_fetchpool"))
        .arg(&fifo)
        .timeout(BOUND)
        .spawn();
    writeln!(producer, "{}", srv.url("/one")).unwrap();
    producer.flush().unwrap();
    wait_until(BOUND, "the first probe line", || {
        running.stdout_so_far().contains("UP ")
    });
    running.signal(2);
    let run = running.wait();
    drop(producer);
    run.assert(
        130,
        Pat::has(&["summary of 1 rounds:", "1/1 up", &srv.url("/one")]),
        Pat::empty(),
    );
}

#[test]
fn an_empty_standard_input_is_nothing_to_check() {
    fetchpool()
        .args(["check", "-i", "-"])
        .stdin("# nothing\n\n")
        .timeout(BOUND)
        .run()
        .assert(2, Pat::empty(), Pat::has(&["nothing to check"]));
}
