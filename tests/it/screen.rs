//! What a person sees: `get` runs on a pseudo-terminal of a fixed size and its output is
//! rendered by a terminal emulator (vt100). After a run the screen and its scrollback hold
//! one line per file and the summary, and nothing else; bars never wrap, whatever the
//! width; JSON lines on the same terminal are never erased; `TERM=dumb` gets plain lines.

use std::path::Path;

use crate::support::pty::{PtyRun, on_terminal};
use crate::support::server::{Route, Server};
use crate::support::{payload, temp_dir};

const KIB: usize = 1024;

/// `n` files named `NAME-i.bin`, each `len` bytes served at `rate` bytes/s per
/// connection (slow enough for the bars to be drawn a few times), and their URLs.
fn slow_files(srv: &Server, stem: &str, n: usize, len: usize, rate: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let path = format!("/{stem}-{i}.bin");
            srv.route(&path, Route::file(payload(i as u64, len)).throttle(rate));
            srv.url(&path)
        })
        .collect()
}

fn get_on(cols: u16, rows: u16, dir: &Path, urls: &[String]) -> crate::support::pty::PtyCmd {
    on_terminal(cols, rows)
        .args(["get", "-j", "4", "-d"])
        .arg(dir)
        .args(urls)
}

/// The lines a run leaves: exactly one `OK` line per file (in any order: downloads finish
/// in their own order) and the summary last, nothing else.
#[track_caller]
fn assert_one_line_per_file_and_the_summary(lines: &[String], stem: &str, n: usize) {
    let shown = lines.join("\n");
    assert_eq!(
        lines.len(),
        n + 1,
        "one line per file and the summary:\n{shown}"
    );
    let mut names: Vec<String> = lines[..n]
        .iter()
        .map(|l| {
            assert!(l.starts_with("OK       "), "not an OK line: {l:?}\n{shown}");
            l["OK       ".len()..]
                .split(" (")
                .next()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("{stem}-{i}.bin")).collect();
    want.sort();
    assert_eq!(names, want, "{shown}");
    assert!(
        lines[n].starts_with(&format!("fetchpool: {n} ok, 0 failed;")),
        "the summary is last: {shown}"
    );
}

/// No bar row was ever wider than the terminal: the frame never wrapped.
#[track_caller]
fn assert_frames_never_wrap(run: &PtyRun, rows: u16) {
    let mut frames = 0;
    run.replay(97, |screen| {
        for r in 0..rows {
            if screen.row_wrapped(r) {
                let text: Vec<String> = screen.rows(0, 500).collect();
                panic!("row {r} wrapped:\n{}", text.join("\n"));
            }
        }
        frames += 1;
    });
    assert!(frames > 0);
}

/// The run drew bars (so the test saw what it meant to see).
#[track_caller]
fn assert_bars_were_drawn(run: &PtyRun) {
    let raw = run.raw_text();
    assert!(raw.contains("total  "), "no total line was drawn: {raw:?}");
    assert!(raw.contains("\x1b[J"), "no frame was erased: {raw:?}");
}

#[test]
fn bars_at_80x24_leave_one_ok_line_per_file_and_the_summary() {
    let srv = Server::start();
    let urls = slow_files(&srv, "data", 12, 192 * KIB, 384 * KIB as u64);
    let dir = temp_dir();
    let run = get_on(80, 24, dir.path(), &urls).run();
    assert_eq!(run.code, Some(0), "{}", run.raw_text());
    assert_bars_were_drawn(&run);
    assert_one_line_per_file_and_the_summary(&run.lines(), "data", 12);
    assert_frames_never_wrap(&run, 24);
}

#[test]
fn bars_at_120x30_leave_nothing_but_the_record_even_with_more_files_than_rows() {
    let srv = Server::start();
    // 40 files on 30 rows: the frame holds what fits; the record scrolls into history.
    let urls = slow_files(&srv, "many", 40, 96 * KIB, 512 * KIB as u64);
    let dir = temp_dir();
    let run = on_terminal(120, 30)
        .args(["get", "-j", "32", "-d"])
        .arg(dir.path())
        .args(&urls)
        .run();
    assert_eq!(run.code, Some(0), "{}", run.raw_text());
    assert_bars_were_drawn(&run);
    assert_one_line_per_file_and_the_summary(&run.lines(), "many", 40);
    assert_frames_never_wrap(&run, 30);
}

#[test]
fn a_one_file_run_leaves_no_total_line_behind() {
    let srv = Server::start();
    let urls = slow_files(&srv, "one", 1, 256 * KIB, 512 * KIB as u64);
    let dir = temp_dir();
    let run = get_on(80, 24, dir.path(), &urls).run();
    assert_eq!(run.code, Some(0), "{}", run.raw_text());
    assert_bars_were_drawn(&run);
    assert_one_line_per_file_and_the_summary(&run.lines(), "one", 1);
}

#[test]
fn a_40_column_terminal_cuts_bars_with_long_names_and_keeps_every_line() {
    let srv = Server::start();
    let stem = "a-rather-long-release-name-for-a-narrow-terminal";
    let urls = slow_files(&srv, stem, 6, 192 * KIB, 384 * KIB as u64);
    let dir = temp_dir();
    let run = get_on(40, 24, dir.path(), &urls).run();
    assert_eq!(run.code, Some(0), "{}", run.raw_text());
    assert_bars_were_drawn(&run);
    // The bars never wrapped; the finished lines may (they stay, whole).
    let mut frames_seen = 0;
    run.replay(61, |screen| {
        for (r, text) in screen.rows(0, 40).enumerate() {
            let is_frame = text.starts_with("total") || text.contains("KiB/s") || text == "-";
            if is_frame && screen.row_wrapped(r as u16) {
                panic!("a bar row wrapped: {text:?}");
            }
            frames_seen += usize::from(text.starts_with("total"));
        }
    });
    assert!(frames_seen > 0);
    assert_one_line_per_file_and_the_summary(&run.logical_lines(), stem, 6);
}

#[test]
fn term_dumb_on_a_terminal_still_prints_a_line_per_file_and_no_escapes() {
    let srv = Server::start();
    let urls = slow_files(&srv, "dumb", 5, 64 * KIB, 512 * KIB as u64);
    for progress in [None, Some("bar")] {
        let dir = temp_dir();
        let mut cmd = get_on(80, 24, dir.path(), &urls).env("TERM", "dumb");
        if let Some(p) = progress {
            cmd = cmd.args(["--progress", p]);
        }
        let run = cmd.run();
        assert_eq!(run.code, Some(0), "{}", run.raw_text());
        assert!(!run.raw_text().contains('\x1b'), "{:?}", run.raw_text());
        assert_one_line_per_file_and_the_summary(&run.lines(), "dumb", 5);
    }
}

#[test]
fn no_color_and_clicolor_force_change_nothing_about_the_record() {
    let srv = Server::start();
    let urls = slow_files(&srv, "color", 4, 128 * KIB, 512 * KIB as u64);
    for (k, v) in [("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")] {
        let dir = temp_dir();
        let run = get_on(80, 24, dir.path(), &urls).env(k, v).run();
        assert_eq!(run.code, Some(0), "{}", run.raw_text());
        assert_one_line_per_file_and_the_summary(&run.lines(), "color", 4);
    }
}

#[test]
fn json_lines_on_the_same_terminal_are_never_erased() {
    let srv = Server::start();
    let urls = slow_files(&srv, "json", 6, 192 * KIB, 384 * KIB as u64);
    let dir = temp_dir();
    let run = get_on(200, 40, dir.path(), &urls)
        .arg("--json")
        .stdout_on_terminal()
        .run();
    assert_eq!(run.code, Some(0), "{}", run.raw_text());
    assert_bars_were_drawn(&run);
    // JSON lines are wider than the terminal: they wrap, and stay whole.
    let lines = run.logical_lines();
    let json: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let files: Vec<&serde_json::Value> = json.iter().filter(|v| v.get("path").is_some()).collect();
    assert_eq!(files.len(), 6, "{}", lines.join("\n"));
    assert!(files.iter().all(|v| v["status"] == "ok"));
    assert_eq!(json.last().unwrap()["summary"], true);
    assert_eq!(json.last().unwrap()["exit_code"], 0);
    let ok_lines = lines.iter().filter(|l| l.starts_with("OK ")).count();
    assert_eq!(ok_lines, 6, "{}", lines.join("\n"));
    assert_eq!(
        lines.len(),
        6 + 6 + 2,
        "JSON, OK lines, summary and its JSON"
    );
}
