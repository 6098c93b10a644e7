//! The command line as a user meets it: values refused with what is allowed, nothing left
//! on disk by a run that exits 2, -v, and the README's recipes run as written.

use std::fs;

use crate::support::server::{Reply, Route, Server};
use crate::support::{
    Pat, command, fetchpool, fifo_producer, list_dir, payload, temp_dir, write_file,
};

#[test]
fn bad_values_say_what_is_allowed() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["get", "-j", "0", "http://h/x"],
            "invalid value '0' for '--jobs <N>': expected a whole number >= 1, got 0",
        ),
        (
            &["get", "--hash-workers", "-2", "http://h/x"],
            "expected a whole number >= 1, got -2",
        ),
        (
            &["check", "--timeout", "-1", "http://h/"],
            "expected a number of seconds >= 0, like 2 or 0.5, got -1",
        ),
        (
            &["get", "--timeout", "-1", "http://h/x"],
            "expected a number of seconds >= 0, like 2 or 0.5, got -1",
        ),
        (
            &["get", "--retries", "-1", "http://h/x"],
            "expected a whole number >= 0, got -1",
        ),
        (
            &["check", "--timeout", "0", "http://h/"],
            "expected a number of seconds > 0, got 0",
        ),
        (
            &["check", "--count", "x", "http://h/"],
            "expected a whole number >= 1, got x",
        ),
        (
            &["get", "--max-connections-per-file", "0", "http://h/x"],
            "expected a whole number >= 1, got 0",
        ),
        (
            &["get", "--min-split-size", "-1", "http://h/x"],
            "expected a size of at least 1 byte, like 512K, 4M or 1G, got -1",
        ),
        (
            &["get", "--min-split-size", "0", "http://h/x"],
            "expected a size of at least 1 byte, like 512K, 4M or 1G, got 0",
        ),
    ];
    for (args, message) in cases {
        fetchpool().args(*args).run().assert(
            2,
            Pat::empty(),
            Pat::has(&[*message]).and_not(&["'-- "]),
        );
    }
}

#[test]
fn quiet_is_accepted_by_every_subcommand_that_prints() {
    let dir = temp_dir();
    write_file(dir.path(), "a", b"a\n");
    let sums = "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7  a\n";
    write_file(dir.path(), "a.sha256", sums.as_bytes());
    fetchpool()
        .current_dir(dir.path())
        .args(["verify", "-q", "a.sha256"])
        .run()
        .assert(0, Pat::empty(), Pat::empty());
    fetchpool()
        .current_dir(dir.path())
        .args(["hash", "-q", "a"])
        .run()
        .assert(0, Pat::eq(sums), Pat::empty());
    for sub in ["get", "check", "demo"] {
        fetchpool()
            .args([sub, "--help"])
            .run()
            .assert(0, Pat::has(&["-q, --quiet"]), Pat::empty());
    }
}

/// Every option sits under a heading (input, output, verification, limits, network,
/// progress): only clap's own -h and -V are left under "Options", and no default is
/// shown twice (our help texts say "(default …)" themselves).
#[test]
fn help_groups_every_option_under_a_heading_and_shows_each_default_once() {
    for sub in [
        "get",
        "verify",
        "hash",
        "check",
        "demo",
        "completions",
        "man",
    ] {
        for flag in ["-h", "--help"] {
            let run = fetchpool().args([sub, flag]).env("COLUMNS", "100").run();
            run.assert(0, Pat::any(), Pat::empty());
            let stdout = run.stdout_str();
            let ungrouped: Vec<&str> = stdout
                .lines()
                .skip_while(|l| *l != "Options:")
                .skip(1)
                .take_while(|l| !l.is_empty())
                .filter(|l| l.trim_start().starts_with('-'))
                .filter(|l| !l.contains("-h, --help") && !l.contains("-V, --version"))
                .collect();
            assert_eq!(ungrouped, Vec::<&str>::new(), "{sub} {flag}: {run}");
            assert!(!stdout.contains("[default:"), "{sub} {flag}: {run}");
        }
    }
}

#[test]
fn a_run_that_exits_2_creates_nothing_on_disk() {
    let dir = temp_dir();
    let out = dir.path().join("new").join("out");
    let bad_list = write_file(dir.path(), "bad.txt", b"http://h/a\nnot a url\n");
    for args in [
        vec!["-i".to_string(), "missing.txt".to_string()],
        vec!["-i".to_string(), bad_list.display().to_string()],
        vec![
            "-c".to_string(),
            "missing.sha256".to_string(),
            "http://h/a".into(),
        ],
    ] {
        fetchpool()
            .current_dir(dir.path())
            .arg("get")
            .arg("-d")
            .arg(&out)
            .args(&args)
            .args(["--write-checksums", "w.sha256", "--failed", "f.txt"])
            .run()
            .assert(2, Pat::empty(), Pat::has(&["fetchpool: "]));
        assert_eq!(list_dir(dir.path()), ["bad.txt"], "after get {args:?}");
    }
}

/// README, "Recipes": `fetchpool get -j 16 -i dataset-urls.txt -d /data/set
/// --write-checksums /data/set.sha256`, then the manifest verifies where it was written.
#[test]
fn the_readme_write_checksums_recipe_verifies_with_sha256sum_and_fetchpool() {
    let srv = Server::start();
    let mut list = String::new();
    for i in 0..4u64 {
        let path = format!("/f{i}.bin");
        srv.route(&path, Route::file(payload(i, 10_000 + i as usize)));
        list += &format!("{}\n", srv.url(&path));
    }
    list += &format!("{} out=copy.bin\n", srv.url("/f0.bin"));
    let data = temp_dir();
    let urls = write_file(data.path(), "dataset-urls.txt", list.as_bytes());
    let set = data.path().join("set");
    let manifest = data.path().join("set.sha256");
    fetchpool()
        .args(["get", "-j", "16", "-i"])
        .arg(&urls)
        .arg("-d")
        .arg(&set)
        .arg("--write-checksums")
        .arg(&manifest)
        .run()
        .assert(0, Pat::empty(), Pat::has(&["5 ok"]));
    let text = fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("  set/f0.bin\n"), "{text}");
    command("sha256sum")
        .args(["-c", "set.sha256"])
        .current_dir(data.path())
        .run()
        .assert(0, Pat::has(&["set/f3.bin: OK"]), Pat::empty());
    for verify in [&["verify"][..], &["verify", "-c"][..]] {
        fetchpool()
            .args(verify)
            .arg("set.sha256")
            .current_dir(data.path())
            .run()
            .assert(
                0,
                Pat::has(&["set/f3.bin: OK", "set/copy.bin: OK"]),
                Pat::empty(),
            );
    }
    // Written inside -d, the names are bare.
    let again = temp_dir();
    fetchpool()
        .args(["get", "-i"])
        .arg(&urls)
        .arg("-d")
        .arg(again.path())
        .arg("--write-checksums")
        .arg(again.path().join("SHA256SUMS"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["5 ok"]));
    let text = fs::read_to_string(again.path().join("SHA256SUMS")).unwrap();
    assert!(text.contains("  f0.bin\n"), "{text}");
}

#[test]
fn verbose_says_which_trust_and_proxy_and_each_redirect() {
    let srv = Server::start();
    srv.route("/from", Route::script(vec![Reply::redirect(302, "/to")]));
    srv.route("/to", Route::file(b"landed\n"));
    let dir = temp_dir();
    fetchpool()
        .args(["get", "-v", "--progress", "plain", "-d"])
        .arg(dir.path())
        .arg(srv.url("/from"))
        .run()
        .assert(
            0,
            Pat::empty(),
            Pat::has(&[
                "fetchpool: proxy: http: direct, https: direct",
                "fetchpool: TLS: ",
                " trusted certificates from ",
                "fetchpool: redirect: ",
                "/from -> ",
                "/to (302)",
            ]),
        );
    // -vv adds every request and its status.
    fs::remove_file(dir.path().join("from")).unwrap();
    fetchpool()
        .args(["get", "-vv", "--progress", "plain", "-d"])
        .arg(dir.path())
        .arg(srv.url("/from"))
        .run()
        .assert(0, Pat::empty(), Pat::has(&["/from -> 302", "/to -> 200"]));
    // Without -v, none of it; with -q, none of it either.
    for flags in [&[][..], &["-v", "-q"][..]] {
        fs::remove_file(dir.path().join("from")).unwrap();
        fetchpool()
            .args(["get", "--progress", "plain"])
            .args(flags)
            .arg("-d")
            .arg(dir.path())
            .arg(srv.url("/from"))
            .run()
            .assert(
                0,
                Pat::empty(),
                Pat::any().and_not(&["redirect:", "fetchpool: TLS: ", "fetchpool: proxy: "]),
            );
    }
}

/// `producer | fetchpool get -i -`: each download starts as soon as its line is read. The
/// producer here writes a line, waits until that file has landed, then writes the next:
/// with standard input read to its end first, the run would never finish.
#[test]
fn get_from_standard_input_starts_each_download_as_its_line_arrives() {
    use std::io::Write;
    let srv = Server::start();
    for i in 0..3u64 {
        srv.route(&format!("/s{i}"), Route::file(payload(i, 2000)));
    }
    let dir = temp_dir();
    let (fifo, mut producer) = fifo_producer(dir.path(), "lines");
    let out = dir.path().join("out");
    let running = command("sh")
        .args([
            "-c",
            "exec \"$0\" get --progress plain -i - -d \"$1\" < \"$2\"",
        ])
        .arg(env!("CARGO_BIN_EXE_fetchpool"))
        .arg(&out)
        .arg(&fifo)
        .env("FETCHPOOL_TEST_PROGRESS_MS", "50")
        .spawn();
    for i in 0..3 {
        writeln!(producer, "{}", srv.url(&format!("/s{i}"))).unwrap();
        producer.flush().unwrap();
        let landed = out.join(format!("s{i}"));
        crate::support::wait_until(
            std::time::Duration::from_secs(20),
            "the file of the line just written",
            || landed.exists(),
        );
    }
    // While the stream is open the total is unknown; at its end it is exact.
    crate::support::wait_until(
        std::time::Duration::from_secs(20),
        "a progress line with an unknown total",
        || running.stderr_so_far().contains("/? files"),
    );
    drop(producer);
    running
        .wait()
        .assert(0, Pat::empty(), Pat::has(&["OK", "3 ok"]));
}

#[test]
fn a_name_taken_twice_or_a_bad_line_in_the_stream_stops_it_with_2() {
    let srv = Server::start();
    srv.route("/a", Route::file(b"a"));
    let dir = temp_dir();
    let a = srv.url("/a");
    fetchpool()
        .args(["get", "--progress", "plain", "-d"])
        .arg(dir.path().join("one"))
        .args(["-i", "-"])
        .stdin(format!("{a}\n# c\n{a}\n"))
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["fetchpool: -:3: output name 'a' is also the output of -:1"]),
        );
    // Against a name from the arguments, which came first.
    fetchpool()
        .args(["get", "--progress", "plain", "-d"])
        .arg(dir.path().join("two"))
        .arg(&a)
        .args(["-i", "-"])
        .stdin(format!("{a}\n"))
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["fetchpool: -:1: output name 'a' is also the output of argument:1"]),
        );
    fetchpool()
        .args(["get", "--progress", "plain", "-d"])
        .arg(dir.path().join("three"))
        .args(["-i", "-"])
        .stdin(format!("{a}\nftp://x/y\n"))
        .run()
        .assert(
            2,
            Pat::empty(),
            Pat::has(&["fetchpool: -:2: not an http(s) URL"]),
        );
}

/// Ctrl-C while standard input is still open (the producer has more to say) ends the run
/// with its summary, not silently.
#[test]
fn an_interrupt_while_the_stream_is_open_prints_the_summary_and_exits_130() {
    use std::io::Write;
    let srv = Server::start();
    srv.route("/one", Route::file(payload(7, 1000)));
    let dir = temp_dir();
    let (fifo, mut producer) = fifo_producer(dir.path(), "lines");
    let out = dir.path().join("out");
    let running = command("sh")
        .args([
            "-c",
            "exec \"$0\" get --progress plain -i - -d \"$1\" < \"$2\"",
        ])
        .arg(env!("CARGO_BIN_EXE_fetchpool"))
        .arg(&out)
        .arg(&fifo)
        .spawn();
    writeln!(producer, "{}", srv.url("/one")).unwrap();
    producer.flush().unwrap();
    let landed = out.join("one");
    crate::support::wait_until(std::time::Duration::from_secs(20), "the first file", || {
        landed.exists()
    });
    running.signal(2);
    let run = running.wait();
    drop(producer);
    run.assert(130, Pat::empty(), Pat::has(&["1 ok"]));
}

/// `demo` in miniature (file sizes and pace divided by 1024: the same few seconds, 195 KiB)
/// with its temporary directory under `tmp`.
fn mini_demo(tmp: &std::path::Path) -> crate::support::Cmd {
    fetchpool()
        .args(["demo", "--progress", "plain"])
        .env("TMPDIR", tmp)
        .env("FETCHPOOL_TEST_DEMO_SHRINK", "1024")
        .timeout(std::time::Duration::from_secs(30))
}

/// The files of the demo (`demo_server::demo_files`).
const DEMO_FILES: usize = 36;

#[test]
fn demo_says_where_it_writes_first_and_removes_its_temporary_directory_at_the_end() {
    let tmp = temp_dir();
    let run = mini_demo(tmp.path()).run();
    let into = format!("into {}/fetchpool-demo-", tmp.path().display());
    run.assert(
        0,
        Pat::empty(),
        Pat::has(&[
            "demo: downloading 36 files",
            &into,
            "removed at the end",
            "demo: removed ",
        ]),
    );
    let stderr = run.stderr_str();
    assert!(
        stderr.lines().next().is_some_and(|l| l.contains(&into)),
        "the first line says where: {run}"
    );
    assert_eq!(stderr.matches("\nOK ").count(), DEMO_FILES, "{run}");
    assert_eq!(list_dir(tmp.path()), Vec::<String>::new(), "{run}");
}

#[test]
fn an_interrupted_demo_still_removes_its_temporary_directory() {
    let tmp = temp_dir();
    let running = mini_demo(tmp.path()).spawn();
    // Some files have landed, the big ones are still coming.
    crate::support::wait_until(
        std::time::Duration::from_secs(20),
        "a finished file",
        || running.stderr_so_far().contains("\nOK "),
    );
    running.signal(2);
    let run = running.wait();
    run.assert(
        130,
        Pat::empty(),
        Pat::has(&["interrupted", "demo: removed "]),
    );
    assert_eq!(list_dir(tmp.path()), Vec::<String>::new(), "{run}");
}

#[test]
fn a_demo_into_dir_keeps_its_files_and_a_rerun_clobbers_none() {
    let tmp = temp_dir();
    let dir = tmp.path().join("mine");
    let run = mini_demo(tmp.path()).arg("-d").arg(&dir).run();
    let kept = format!("demo: files are in {}", dir.display());
    run.assert(0, Pat::empty(), Pat::has(&[&kept]).and_not(&["removed"]));
    assert_eq!(
        list_dir(tmp.path()),
        ["mine"],
        "no temporary directory: {run}"
    );
    let files = list_dir(&dir);
    assert_eq!(files.len(), DEMO_FILES, "{files:?}");
    assert!(
        files.contains(&"release-1.2.tar.gz".to_string()),
        "{files:?}"
    );
    // A file of the user's under a demo name stays as it was (and fails its digest).
    fs::write(dir.join("README.md"), b"mine").unwrap();
    mini_demo(tmp.path()).arg("-d").arg(&dir).run().assert(
        3,
        Pat::empty(),
        Pat::has(&["README.md", &kept]),
    );
    assert_eq!(fs::read(dir.join("README.md")).unwrap(), b"mine");
}
