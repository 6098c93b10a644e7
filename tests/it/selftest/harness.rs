//! Self-tests of the harness in `support/mod.rs`: how it runs a command, feeds and closes its
//! pipes, scrubs the environment, times out, signals, and shows what differed.

use std::time::{Duration, Instant};

use super::panic_of;
use crate::support::{Pat, Run, command, fetchpool, payload, wait_until};

#[test]
fn version_prints_the_name_on_stdout_and_nothing_on_stderr() {
    fetchpool()
        .arg("--version")
        .run()
        .assert(0, Pat::has(&["fetchpool"]), Pat::empty());
}

#[test]
fn a_failing_assert_shows_status_stdout_and_stderr() {
    let run = fetchpool().arg("--no-such-flag").run();
    let message = panic_of(|| {
        run.assert(0, Pat::has(&["usage"]), Pat::empty());
    });
    for part in [
        "fetchpool --no-such-flag",
        "status: want exit 0, got exit 2",
        "stdout: missing [\"usage\"]",
        "stderr: want nothing, got",
        "--- status: exit 2",
        "--- stdout (0 bytes)",
        "--- stderr (",
        "--no-such-flag",
    ] {
        assert!(message.contains(part), "{part:?} not in:\n{message}");
    }
}

#[test]
fn pat_and_not_names_the_banned_text_it_found() {
    let run = Run {
        code: Some(0),
        signal: None,
        stdout: b"done\n".to_vec(),
        stderr: b"\x1b[1mbold\x1b[0m\n".to_vec(),
        command: "demo".to_owned(),
    };
    run.assert(0, Pat::eq("done\n"), Pat::has(&["bold"]));
    let message = panic_of(|| {
        run.assert(0, Pat::any(), Pat::has(&["bold"]).and_not(&["\x1b["]));
    });
    assert!(message.contains("stderr: must not contain"), "{message}");
    // The escape is shown, not obeyed, so a reader sees it on a terminal.
    assert!(message.contains("\\x1b[1mbold"), "{message}");
}

#[test]
fn pat_eq_points_at_the_first_line_that_differs() {
    let run = Run {
        code: Some(1),
        signal: None,
        stdout: b"one\ntwo\nthree\n".to_vec(),
        stderr: Vec::new(),
        command: "demo".to_owned(),
    };
    let message = panic_of(|| {
        run.assert(1, Pat::eq("one\n2\nthree\n"), Pat::empty());
    });
    assert!(
        message.contains("line 2 differs: want \"2\\n\", got \"two\\n\""),
        "{message}"
    );
}

#[test]
fn pat_bytes_tells_apart_invalid_utf8_that_pat_eq_cannot() {
    let run = Run {
        code: Some(0),
        signal: None,
        stdout: b"ok\n\xff name\n".to_vec(),
        stderr: Vec::new(),
        command: "demo".to_owned(),
    };
    run.assert(0, Pat::bytes(&b"ok\n\xff name\n"[..]), Pat::empty());
    // Lossily decoded, \xfe and \xff are one replacement character: text cannot see it.
    run.assert(0, Pat::eq("ok\n\u{fffd} name\n"), Pat::empty());
    let message = panic_of(|| {
        run.assert(0, Pat::bytes(&b"ok\n\xfe name\n"[..]), Pat::empty());
    });
    assert!(
        message.contains("line 2 differs: want \"\\xfe name\\n\", got \"\\xff name\\n\""),
        "{message}"
    );
}

#[test]
fn close_stdout_after_keeps_those_lines_and_closes_the_pipe() {
    // `yes` writes until its stdout closes; then it dies of SIGPIPE, as under `| head -2`.
    let run = command("yes")
        .close_stdout_after(2)
        .timeout(Duration::from_secs(10))
        .run();
    assert_eq!(run.stdout, b"y\ny\n", "{run}");
    assert_eq!(run.signal, Some(13), "{run}");
}

#[test]
fn stdin_is_fed_then_closed_and_never_inherited() {
    command("cat")
        .stdin("hello\n")
        .timeout(Duration::from_secs(10))
        .run()
        .assert(0, Pat::eq("hello\n"), Pat::empty());
    // Without stdin bytes, cat must see end-of-file at once rather than wait on ours.
    command("cat")
        .timeout(Duration::from_secs(10))
        .run()
        .assert(0, Pat::empty(), Pat::empty());
}

#[test]
fn proxy_variables_are_removed_and_no_color_is_set() {
    command("sh")
        .args([
            "-c",
            "echo ${http_proxy-none} ${HTTPS_PROXY-none} ${ALL_PROXY-none} ${NO_COLOR-none}",
        ])
        .run()
        .assert(0, Pat::eq("none none none 1\n"), Pat::empty());
}

#[test]
fn a_timeout_kills_the_child_and_shows_what_it_printed() {
    let started = Instant::now();
    let message = panic_of(|| {
        command("sh")
            .args(["-c", "echo started; echo oops >&2; exec sleep 30"])
            .timeout(Duration::from_secs(1))
            .run();
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    for part in [
        "did not finish within 1s",
        "started",
        "oops",
        "killed by signal 9",
    ] {
        assert!(message.contains(part), "{part:?} not in:\n{message}");
    }
}

#[test]
fn a_spawned_child_can_be_signalled_and_the_signal_is_reported() {
    let running = command("sleep")
        .arg("30")
        .timeout(Duration::from_secs(10))
        .spawn();
    assert!(running.pid() > 0);
    running.signal(15);
    let run = running.wait();
    assert_eq!((run.code, run.signal), (None, Some(15)), "{run}");
}

#[test]
fn a_test_can_wait_for_output_before_signalling() {
    let running = command("sh")
        .args(["-c", "echo ready >&2; exec sleep 30"])
        .timeout(Duration::from_secs(10))
        .spawn();
    wait_until(Duration::from_secs(5), "`ready` on stderr", || {
        running.stderr_so_far().contains("ready")
    });
    running.signal(2);
    let run = running.wait();
    assert_eq!(run.signal, Some(2), "{run}");
}

#[test]
fn wait_until_gives_up_and_names_what_it_waited_for() {
    let message = panic_of(|| wait_until(Duration::from_millis(50), "pigs to fly", || false));
    assert!(message.contains("waiting for pigs to fly"), "{message}");
}

#[test]
fn payload_is_the_same_for_a_seed_and_differs_between_seeds() {
    assert_eq!(payload(7, 1000), payload(7, 1000));
    assert_ne!(payload(7, 1000), payload(8, 1000));
    assert_eq!(payload(7, 13), payload(7, 1000)[..13]);
    assert_ne!(payload(0, 64), vec![0; 64]);
}
