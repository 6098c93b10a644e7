//! The only writer to the terminal. This file: `get`'s reporter (progress bars (indicatif)
//! on a TTY, plain lines otherwise, JSON lines on stdout, and the summary; workers talk to
//! it through `Event`s), fatal errors, notes and hash workers' stderr. `sums`: what `hash`
//! and `verify` print. `check`: what `check` prints. `stdout`: the closed-pipe rule for all.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanDuration, MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::error::Error;
use crate::exit::{self, Exit};
use crate::job::{Event, JobId, Outcome, Status};
use crate::job_lines::JobLines;
use crate::settings::{Display, Output};

pub(crate) mod check;
mod stdout;
pub(crate) mod sums;

pub(crate) use stdout::{Closed, Stdout};

/// How often the reporter wakes: takes the events that came in, refreshes bars from the
/// downloaders' byte counters. Events never wake it (see `Running`).
const TICK: Duration = Duration::from_millis(100);

/// Prints a fatal error, once, as `fetchpool: message`.
pub(crate) fn fatal(e: &Error) {
    stderr_line(&format!("fetchpool: {e}"));
}

/// Prints an informational line on stderr (`fetchpool: msg`).
pub(crate) fn note(msg: &str) {
    stderr_line(&format!("fetchpool: {msg}"));
}

/// One line a hash worker wrote on its stderr (with or without its newline), passed on
/// naming where it comes from.
pub(crate) fn worker_stderr(line: &[u8]) {
    let mut message = b"fetchpool: hash worker: ".to_vec();
    message.extend_from_slice(line);
    if message.last() != Some(&b'\n') {
        message.push(b'\n');
    }
    stderr_bytes(&message);
}

/// In a hash worker: why it gives up, on its stderr, which the parent passes on through
/// `worker_stderr`.
pub(crate) fn worker_message(msg: &dyn std::fmt::Display) {
    stderr_line(&msg.to_string());
}

/// `text` and a newline on stderr, in one write. An error is ignored: there is nowhere
/// left to say it.
fn stderr_line(text: &str) {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    stderr_bytes(&bytes);
}

fn stderr_bytes(bytes: &[u8]) {
    let _ = io::stderr().lock().write_all(bytes);
}

/// Counts of a finished run.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub ok: u64,
    pub skipped: u64,
    pub failed: u64,
    pub mismatched: u64,
    pub verified: u64,
    pub interrupted: u64,
    /// Planned jobs that never reported (an interrupt stopped the run first).
    pub not_done: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub exit: Exit,
    /// With `collect_failed`: the jobs that failed, as URL-list lines.
    pub failed_jobs: JobLines,
}

impl Summary {
    fn count(&mut self, o: &Outcome) {
        self.bytes += o.bytes;
        self.verified += u64::from(o.verified);
        let exit = match &o.status {
            Status::Ok => {
                self.ok += 1;
                Exit::Ok
            }
            Status::Skipped => {
                self.skipped += 1;
                Exit::Ok
            }
            Status::Failed(f) => {
                match f {
                    crate::error::Failure::Mismatch { .. } => self.mismatched += 1,
                    crate::error::Failure::Interrupted => self.interrupted += 1,
                    _ => self.failed += 1,
                }
                f.exit()
            }
        };
        self.exit = exit::merge(self.exit, exit);
    }

    fn line(&self) -> String {
        let rate = self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-3);
        let mut s = format!("{} ok", self.ok);
        if self.verified > 0 {
            s += &format!(" ({} verified)", self.verified);
        }
        s += &format!(", {} failed", self.failed);
        if self.mismatched > 0 {
            s += &format!(", {} checksum mismatch", self.mismatched);
        }
        if self.interrupted > 0 {
            s += &format!(", {} interrupted", self.interrupted);
        }
        if self.not_done > 0 {
            s += &format!(", {} not done", self.not_done);
        }
        s += &format!(
            ", {} skipped; {} in {:.1} s ({}/s)",
            self.skipped,
            HumanBytes(self.bytes),
            self.elapsed.as_secs_f64(),
            HumanBytes(rate as u64)
        );
        s
    }
}

/// Events waiting for the reporter past which a sender wakes it before its tick.
const WAKE_AT: usize = 1024;
/// Events waiting past which a sender waits for the reporter to catch up (a terminal
/// slower than the downloads must not make the queue grow without end).
const WAIT_AT: usize = 16 * WAKE_AT;

/// Starts the reporter thread. It ends on `Event::Shutdown` or when every `Events` is
/// dropped; `finish` waits for that and returns the summary (already printed).
pub(crate) fn spawn(output: Output, collect_failed: bool) -> (Events, Running) {
    let (tx, rx) = channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    let thread = std::thread::Builder::new()
        .name("report".into())
        .spawn({
            let backlog = Arc::clone(&backlog);
            move || Reporter::new(output, collect_failed).run(rx, &backlog)
        })
        .expect("spawning the reporter thread");
    let events = Events {
        tx,
        backlog,
        reporter: thread.thread().clone(),
    };
    (events, Running { thread })
}

/// Where workers send `Event`s. The reporter polls every `TICK` instead of blocking on its
/// channel: a blocked receiver costs every sender a futex wake and the reporter a context
/// switch, two per file, which at thousands of small files a second is measurable. A
/// sender wakes it early only when `WAKE_AT` events wait (skipping existing files ends
/// hundreds of thousands of jobs a second), so the queue stays short.
#[derive(Clone)]
pub(crate) struct Events {
    tx: Sender<Event>,
    backlog: Arc<AtomicUsize>,
    reporter: Thread,
}

impl Events {
    pub(crate) fn send(&self, event: Event) {
        // Counted before it is sent, so the reporter never takes more than was counted.
        let waiting = self.backlog.fetch_add(1, Ordering::Relaxed) + 1;
        if self.tx.send(event).is_err() {
            self.backlog.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        if waiting >= WAKE_AT {
            // A syscall only when the reporter is parked.
            self.reporter.unpark();
        }
        while self.backlog.load(Ordering::Relaxed) >= WAIT_AT {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The reporter thread.
pub(crate) struct Running {
    thread: JoinHandle<Summary>,
}

impl Running {
    /// Call once `Event::Shutdown` is sent (or every sender dropped): wakes the reporter
    /// at once (instead of at its next tick) and returns the summary.
    pub(crate) fn finish(self) -> std::thread::Result<Summary> {
        self.thread.thread().unpark();
        self.thread.join()
    }
}

/// A file being downloaded, and its bar if it has one.
struct Active {
    name: String,
    size: Option<u64>,
    bytes_done: Arc<AtomicU64>,
    /// Connections of a split file (see `Event::Started`); the bar's prefix says how many.
    connections: Arc<AtomicUsize>,
    /// The connection count the prefix shows now.
    shown_connections: usize,
    bar: Option<ProgressBar>,
    verifying: bool,
}

struct Reporter {
    output: Output,
    start: Instant,
    summary: Summary,
    planned: u64,
    active: HashMap<JobId, Active>,
    /// Ids of active files waiting for a bar (more files than terminal rows).
    barless: VecDeque<JobId>,
    bars: Option<Bars>,
    last_plain_tick: Instant,
    stdout: Stdout,
    collect_failed: bool,
    failed: JobLines,
}

struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    max_file_bars: usize,
    file_style: ProgressStyle,
    spinner_style: ProgressStyle,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::new();
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>10.bold} [{bar:30.cyan/blue}] {pos}/{len} files {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        total.set_prefix("total");
        let rows = console::Term::stderr().size().0 as usize;
        // Rows for the total and for the finished-file line printed above the bars, and one
        // spare: indicatif garbles the screen once its bars need more rows than there are.
        let max_file_bars = rows.saturating_sub(3).max(1);
        Bars {
            multi,
            total,
            max_file_bars,
            file_style: ProgressStyle::with_template(
                "{prefix:>10} {msg:30!} [{bar:25}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4}",
            )
            .expect("valid template")
            .progress_chars("=> "),
            spinner_style: ProgressStyle::with_template(
                "{prefix:>10} {msg:30!} {spinner} {bytes:>10} {bytes_per_sec:>12}",
            )
            .expect("valid template"),
        }
    }

    fn bar_for(&self, a: &Active) -> ProgressBar {
        let bar = match a.size {
            Some(len) => ProgressBar::new(len).with_style(self.file_style.clone()),
            None => ProgressBar::no_length().with_style(self.spinner_style.clone()),
        };
        // A file that waited for a row already has bytes: start the bar there, so its rate
        // and ETA count only what arrives from now on.
        let bar = bar.with_position(a.bytes_done.load(Ordering::Relaxed));
        bar.reset_eta();
        bar.set_message(a.name.clone());
        bar.set_prefix(if a.verifying { "verifying" } else { "" });
        self.multi.insert_from_back(1, bar)
    }
}

impl Reporter {
    fn new(output: Output, collect_failed: bool) -> Reporter {
        Reporter {
            output,
            start: Instant::now(),
            summary: Summary::default(),
            planned: 0,
            active: HashMap::new(),
            barless: VecDeque::new(),
            bars: (output.display == Display::Bars).then(Bars::new),
            last_plain_tick: Instant::now(),
            stdout: Stdout::new(),
            collect_failed,
            failed: JobLines::default(),
        }
    }

    fn run(mut self, rx: Receiver<Event>, backlog: &AtomicUsize) -> Summary {
        let tick = TICK.min(self.output.plain_tick);
        loop {
            loop {
                match rx.try_recv() {
                    Ok(Event::Shutdown) | Err(TryRecvError::Disconnected) => {
                        return self.finish();
                    }
                    Ok(event) => {
                        backlog.fetch_sub(1, Ordering::Relaxed);
                        self.handle(event);
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.refresh();
            std::thread::park_timeout(tick);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Planned { jobs } => {
                self.planned = jobs;
                if let Some(bars) = &self.bars {
                    bars.total.set_length(jobs);
                }
            }
            Event::Started {
                id,
                name,
                size,
                bytes_done,
                connections,
            } => {
                let mut a = Active {
                    name,
                    size,
                    bytes_done,
                    connections,
                    shown_connections: 0,
                    bar: None,
                    verifying: false,
                };
                if let Some(bars) = &self.bars {
                    if self.active.values().filter(|a| a.bar.is_some()).count() < bars.max_file_bars
                    {
                        a.bar = Some(bars.bar_for(&a));
                    } else {
                        self.barless.push_back(id);
                    }
                }
                self.active.insert(id, a);
            }
            Event::Verifying { id } => {
                if let Some(a) = self.active.get_mut(&id) {
                    a.verifying = true;
                    if let Some(bar) = &a.bar {
                        bar.set_prefix("verifying");
                    }
                }
            }
            Event::Retrying {
                name,
                attempt,
                wait,
                reason,
            } => {
                if self.output.display != Display::Quiet {
                    self.line(&format!(
                        "RETRY    {name}: {reason}; attempt {attempt} in {:.1} s",
                        wait.as_secs_f64()
                    ));
                }
            }
            Event::Finished(outcome) => self.finished(&outcome),
            Event::Shutdown => {}
        }
    }

    fn finished(&mut self, o: &Outcome) {
        self.summary.count(o);
        if self.collect_failed && matches!(o.status, Status::Failed(_)) {
            self.failed.push(
                o.id,
                (crate::input::url_list::format_line(&o.job) + "\n").as_bytes(),
            );
        }
        if let Some(a) = self.active.remove(&o.id)
            && let Some(bar) = a.bar
        {
            bar.finish_and_clear();
            if let Some(bars) = &self.bars {
                bars.multi.remove(&bar);
                // Hand the freed row to a file that had none.
                while let Some(next) = self.barless.pop_front() {
                    if let Some(waiting) = self.active.get_mut(&next) {
                        waiting.bar = Some(bars.bar_for(waiting));
                        break;
                    }
                }
            }
        }
        if let Some(bars) = &self.bars {
            bars.total.inc(1);
        }
        let is_failure = matches!(o.status, Status::Failed(_));
        let show = match self.output.display {
            Display::Bars | Display::Plain => true,
            Display::Summary | Display::Quiet => is_failure,
        };
        if show {
            self.line(&outcome_line(o));
        }
        if self.output.json {
            self.json(&outcome_json(o));
        }
    }

    /// Samples the downloaders' counters into the bars, or prints the plain progress line.
    fn refresh(&mut self) {
        let done_bytes = self.summary.bytes;
        let active_bytes: u64 = self
            .active
            .values()
            .map(|a| a.bytes_done.load(Ordering::Relaxed))
            .sum();
        if let Some(bars) = &self.bars {
            for a in self.active.values_mut() {
                if let Some(bar) = &a.bar {
                    bar.set_position(a.bytes_done.load(Ordering::Relaxed));
                    let connections = a.connections.load(Ordering::Relaxed);
                    if !a.verifying && connections != a.shown_connections {
                        a.shown_connections = connections;
                        bar.set_prefix(match connections {
                            0 | 1 => String::new(),
                            n => format!("{n} conns"),
                        });
                    }
                }
            }
            let elapsed = self.start.elapsed().as_secs_f64().max(1e-3);
            let bytes = done_bytes + active_bytes;
            let hidden =
                self.active.len() - self.active.values().filter(|a| a.bar.is_some()).count();
            let mut msg = format!(
                "{}  {}/s",
                HumanBytes(bytes),
                HumanBytes((bytes as f64 / elapsed) as u64)
            );
            if hidden > 0 {
                msg += &format!("  (+{hidden} active without a bar)");
            }
            bars.total.set_message(msg);
        } else if self.output.display == Display::Plain
            && self.last_plain_tick.elapsed() >= self.output.plain_tick
        {
            self.last_plain_tick = Instant::now();
            let elapsed = self.start.elapsed();
            let bytes = done_bytes + active_bytes;
            let rate = bytes as f64 / elapsed.as_secs_f64().max(1e-3);
            let done = self.done();
            let mut line = format!(
                "progress: {done}/{} files, {}, {}/s",
                self.planned,
                HumanBytes(bytes),
                HumanBytes(rate as u64)
            );
            if done > 0 && done < self.planned {
                let per_file = elapsed.as_secs_f64() / done as f64;
                let eta = Duration::from_secs_f64(per_file * (self.planned - done) as f64);
                line += &format!(", ETA {}", HumanDuration(eta));
            }
            self.line(&line);
        }
    }

    fn done(&self) -> u64 {
        let s = &self.summary;
        s.ok + s.skipped + s.failed + s.mismatched + s.interrupted
    }

    fn finish(mut self) -> Summary {
        self.summary.elapsed = self.start.elapsed();
        self.summary.not_done = self.planned.saturating_sub(self.done());
        self.summary.failed_jobs = std::mem::take(&mut self.failed);
        if let Some(bars) = self.bars.take() {
            bars.total.finish_and_clear();
            let _ = bars.multi.clear();
        }
        if self.output.display != Display::Quiet {
            stderr_line(&format!("fetchpool: {}", self.summary.line()));
        }
        if self.output.json {
            let s = &self.summary;
            let summary = json!({
                "summary": true,
                "ok": s.ok,
                "skipped": s.skipped,
                "failed": s.failed,
                "mismatch": s.mismatched,
                "interrupted": s.interrupted,
                "not_done": s.not_done,
                "verified": s.verified,
                "bytes": s.bytes,
                "elapsed_ms": s.elapsed.as_millis() as u64,
                "exit_code": s.exit.code(),
            });
            self.json(&summary);
        }
        self.summary
    }

    /// A human line on stderr, above the bars when there are bars.
    fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(text);
            }
            None => stderr_line(text),
        }
    }

    /// One JSON object on stdout. A closed stdout (`| head`) stops JSON output quietly,
    /// as does any other write error on it: the downloads carry on.
    fn json(&mut self, value: &serde_json::Value) {
        let _ = self.stdout.line(&value.to_string());
    }
}

fn outcome_line(o: &Outcome) -> String {
    match &o.status {
        Status::Ok => {
            let mut s = format!("OK       {} ({}", o.path, HumanBytes(o.bytes));
            if o.connections > 1 {
                s += &format!(", {} connections, {} ranges", o.connections, o.ranges);
            }
            if o.verified
                && let Some(d) = &o.digest
            {
                s += &format!(", {} verified", d.algo());
            }
            s + ")"
        }
        Status::Skipped if o.verified => format!("SKIPPED  {} (exists, verified)", o.path),
        Status::Skipped => format!("SKIPPED  {} (exists)", o.path),
        Status::Failed(f) => format!("FAILED   {}: {f} ({})", o.path, o.url),
    }
}

fn outcome_json(o: &Outcome) -> serde_json::Value {
    let error = match &o.status {
        Status::Failed(f) => Some(f.to_string()),
        _ => None,
    };
    json!({
        "url": o.url,
        "path": o.path,
        "status": o.status.word(),
        "verified": o.verified,
        "http_status": o.http_status,
        "bytes": o.bytes,
        "elapsed_ms": o.elapsed.as_millis() as u64,
        "attempts": o.attempts,
        "connections": o.connections,
        "ranges": o.ranges,
        "digest": o.digest.as_ref().map(ToString::to_string),
        "error": error,
    })
}
