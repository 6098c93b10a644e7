//! The only writer to the terminal. This file: `get`'s reporter (workers talk to it through
//! `Event`s): a line per finished file, in the one vocabulary of `job::End`, progress bars
//! on a terminal that can draw them (`bars`) or plain progress lines, JSON lines on stdout,
//! `--failed`, and the summary, which accounts for every job (`ledger`); also fatal errors,
//! notes and hash workers' stderr. `sums`: what `hash` and `verify` print. `check`: what
//! `check` prints. `stdout`: the closed-pipe rule for all.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use indicatif::HumanBytes;
use serde_json::json;

use crate::error::{Error, Failure};
use crate::exit::{self, Exit};
use crate::job::{End, Event, JobId, Outcome, Status};
use crate::job_lines::JobLines;
use crate::settings::{Output, Progress};
use crate::signals::Interrupt;
use bars::{Above, FileBar, FileRow, Frame, Meter, TotalRow, eta_text, name_column, rate_text};
pub(crate) use ledger::Ledger;

mod bars;
pub(crate) mod check;
mod ledger;
mod stdout;
pub(crate) mod sums;

pub(crate) use stdout::{Closed, Stdout};

/// How often the reporter wakes: takes the events that came in, refreshes bars from the
/// downloaders' byte counters. Events never wake it (see `Running`).
const TICK: Duration = Duration::from_millis(100);

/// How much `-v` asked for: 0 (default) prints nothing extra; 1 what a user debugging a
/// run needs (retries, redirects, proxy and TLS roots, each new connection); 2 also every
/// request. Set once, at start.
static VERBOSITY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

pub(crate) fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// Prints `message()` on stderr (`fetchpool: ...`) when -v was given at least `level`
/// times. The message is built only then: a call costs one atomic load when -v is off, and
/// no caller sits in a per-read loop (at most one call per request).
pub(crate) fn verbose(level: u8, message: impl FnOnce() -> String) {
    if VERBOSITY.load(Ordering::Relaxed) >= level {
        note(&message());
    }
}

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

/// A manifest's signature checked out: who signed it, on stderr (unless quiet) and, with
/// --json, as a `{"signature": {...}}` object on stdout before any file's.
pub(crate) fn signed(
    output: &Output,
    manifest: &str,
    signature: &str,
    form: &str,
    key: &str,
) -> Result<(), Closed> {
    if output.progress != Progress::Quiet {
        note(&format!(
            "{manifest}: good {form} signature by {key} ({signature})"
        ));
    }
    if output.json {
        let line = json!({
            "signature": {
                "manifest": manifest,
                "signature": signature,
                "form": form,
                "key": key,
                "status": "good",
            }
        });
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        Stdout::new().write(&bytes)?;
    }
    Ok(())
}

/// A manifest, signature or list read by URL (before the downloads start) is tried again:
/// said as a file's retry is, on stderr, unless quiet.
pub(crate) fn retrying(output: &Output, name: &str, attempt: u32, wait: Duration, reason: &str) {
    if output.progress != Progress::Quiet {
        note(&format!(
            "RETRY {name}: {reason}; attempt {attempt} in {:.1} s",
            wait.as_secs_f64()
        ));
    }
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
    {
        let mut held = held_lines();
        if let Some(held) = held.as_mut() {
            held.extend_from_slice(bytes);
            return;
        }
    }
    let _ = io::stderr().lock().write_all(bytes);
}

/// While bars are drawn, lines from elsewhere (notes, hash workers' stderr) wait here and
/// the reporter prints them above the frame at its next draw, so none lands inside a
/// frame. `None`: no bars; lines go straight to stderr.
static HELD: std::sync::Mutex<Option<Vec<u8>>> = std::sync::Mutex::new(None);

fn held_lines() -> std::sync::MutexGuard<'static, Option<Vec<u8>>> {
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lines held so far, as lines to print above the frame.
fn take_held() -> Vec<Above> {
    let bytes = held_lines()
        .as_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| Above::Stderr(l.to_string()))
        .collect()
}

/// Counts of a finished run, one per word of the vocabulary (`End`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub ok: u64,
    pub skipped: u64,
    pub failed: u64,
    pub mismatch: u64,
    pub interrupted: u64,
    /// Planned jobs that no download thread took up (an interrupt stopped the run first).
    pub not_started: u64,
    /// Of `ok` and `skipped`: checked against an expected digest.
    pub verified: u64,
    /// Body bytes received in this run.
    pub bytes: u64,
    pub elapsed: Duration,
    /// What the jobs, the interrupt and any error of the run mean for the exit status.
    pub tally: exit::Tally,
    /// The process's exit status, `exit::status` of the tally so far. The summary line
    /// and the JSON summary show this one.
    pub exit: Exit,
}

impl Summary {
    fn count(&mut self, o: &Outcome) {
        self.bytes += o.bytes;
        self.verified += u64::from(o.verified);
        let end = o.status.end();
        *self.slot(end) += 1;
        match (&o.status, end) {
            (_, End::Ok | End::Skipped) => {}
            (Status::Failed(f), _) => self.tally.failure(f),
            _ => self.tally.failed += 1,
        }
        self.settle();
    }

    /// The exit status for the tally as it stands.
    fn settle(&mut self) {
        self.exit = exit::status(&self.tally);
    }

    fn slot(&mut self, end: End) -> &mut u64 {
        match end {
            End::Ok => &mut self.ok,
            End::Skipped => &mut self.skipped,
            End::Failed => &mut self.failed,
            End::Mismatch => &mut self.mismatch,
            End::Interrupted => &mut self.interrupted,
            End::NotStarted => &mut self.not_started,
        }
    }

    pub(crate) fn of(&self, end: End) -> u64 {
        self.clone().slot(end).to_owned()
    }

    /// Jobs accounted for.
    fn ended(&self) -> u64 {
        End::ALL.iter().map(|e| self.of(*e)).sum()
    }

    /// `3 ok, 1 failed, 2 interrupted, 10 not started; 2 verified; 3.00 MiB in 1.2 s
    /// (2.50 MiB/s)`: `ok` and `failed` always, the other words when they happened.
    fn line(&self) -> String {
        let mut parts = Vec::new();
        for end in End::ALL {
            let n = self.of(end);
            if n == 0 && !matches!(end, End::Ok | End::Failed) {
                continue;
            }
            parts.push(format!("{n} {}", end.word()));
        }
        let mut counts = parts.join(", ");
        if self.verified > 0 {
            // Of ok and skipped files alike.
            counts += &format!("; {} verified", self.verified);
        }
        let rate = self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-3);
        format!(
            "{counts}; {} in {:.1} s ({}/s)",
            HumanBytes(self.bytes),
            self.elapsed.as_secs_f64(),
            HumanBytes(rate as u64)
        )
    }

    fn json(&self) -> serde_json::Value {
        let mut v = json!({ "summary": true });
        for end in End::ALL {
            v[end.json_word()] = self.of(end).into();
        }
        v["verified"] = self.verified.into();
        v["bytes"] = self.bytes.into();
        v["elapsed_ms"] = (self.elapsed.as_millis() as u64).into();
        v["exit_code"] = self.exit.code().into();
        v
    }
}

/// What `get`'s reporter keeps besides the screen: the record of every job.
#[derive(Default)]
pub(crate) struct Record {
    /// `--failed FILE`: every job that did not end ok or skipped, as URL-list lines.
    pub failed: Option<PathBuf>,
    /// The plan's jobs, so none is lost when the run is cut short (see `ledger`).
    pub ledger: Option<Arc<Ledger>>,
    /// Which interrupt stopped the run, if one did.
    pub interrupt: Interrupt,
}

/// Events waiting for the reporter past which a sender wakes it before its tick.
const WAKE_AT: usize = 1024;
/// Events waiting past which a sender waits for the reporter to catch up (a terminal
/// slower than the downloads must not make the queue grow without end).
const WAIT_AT: usize = 16 * WAKE_AT;

/// Starts `get`'s reporter thread. It ends on `Event::Shutdown` or when every `Events` is
/// dropped: then it accounts for every job of the ledger, writes `--failed`, prints the
/// summary; `finish` waits for that and returns the summary.
pub(crate) fn spawn(output: Output, record: Record) -> (Events, Running) {
    let (tx, rx) = channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    let thread = std::thread::Builder::new()
        .name("report".into())
        .spawn({
            let backlog = Arc::clone(&backlog);
            move || Reporter::new(output, record).run(rx, &backlog)
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

/// A file being downloaded, and whether it has a row on screen.
struct Active {
    name: String,
    size: Option<u64>,
    /// Where the file is, as the downloader counts it (a resumed file starts at what it
    /// had on disk).
    bytes_done: Arc<AtomicU64>,
    /// The counter's first sample: bytes this run = now - base.
    base: Option<u64>,
    meter: Meter,
    /// Connections of a split file (see `Event::Started`); its row says how many.
    connections: Arc<AtomicUsize>,
    verifying: bool,
    /// Its bar, while it has a row on screen.
    bar: Option<FileBar>,
}

impl Active {
    fn done(&self) -> u64 {
        self.bytes_done.load(Ordering::Relaxed)
    }
}

/// Per-file lines for jobs that never started are shown for this many; the rest are in
/// the count, `--failed` and `--json`.
const NOT_STARTED_SHOWN: u64 = 10;

struct Reporter {
    output: Output,
    start: Instant,
    summary: Summary,
    planned: u64,
    /// Standard input is still being read: `planned` is only a floor.
    total_unknown: bool,
    active: HashMap<JobId, Active>,
    /// Active files with a row on screen, in the order they got it.
    rows: Vec<JobId>,
    /// Active files waiting for a row (more files than terminal rows).
    rowless: VecDeque<JobId>,
    /// The live frame, when stderr is a terminal that can draw one.
    screen: Option<Frame>,
    /// Lines waiting to be printed above the frame at the next draw.
    above: Vec<Above>,
    /// Bytes received this run by finished files, and all files, for the total rate.
    finished_bytes: u64,
    total_meter: Meter,
    /// Sizes of finished files whose size was known, to guess what is left.
    sized: (u64, u64),
    last_plain_tick: Instant,
    stdout: Stdout,
    failed_path: Option<PathBuf>,
    failed: JobLines,
    ledger: Option<Arc<Ledger>>,
    interrupt: Interrupt,
    /// At the end of a run, JSON lines are written in batches, not a system call each.
    json_batch: Option<String>,
}

/// Bars need a terminal that can move its cursor: not a pipe, not `TERM=dumb`.
fn can_draw_bars() -> bool {
    let term = std::env::var_os("TERM");
    io::stderr().is_terminal() && term.is_some_and(|t| !t.is_empty() && t != "dumb")
}

impl Reporter {
    fn new(mut output: Output, record: Record) -> Reporter {
        // Bars asked for where none can be drawn: plain lines, so every finished file
        // still leaves its line.
        if output.progress == Progress::Bars && !can_draw_bars() {
            output.progress = Progress::Plain;
        }
        let now = Instant::now();
        if output.progress == Progress::Bars {
            *held_lines() = Some(Vec::new());
        }
        Reporter {
            output,
            start: now,
            summary: Summary::default(),
            planned: 0,
            total_unknown: false,
            active: HashMap::new(),
            rows: Vec::new(),
            rowless: VecDeque::new(),
            screen: (output.progress == Progress::Bars).then(Frame::stderr),
            above: Vec::new(),
            finished_bytes: 0,
            total_meter: Meter::default(),
            sized: (0, 0),
            last_plain_tick: now,
            stdout: Stdout::new(),
            failed_path: record.failed,
            failed: JobLines::default(),
            ledger: record.ledger,
            interrupt: record.interrupt,
            json_batch: None,
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
            Event::Streaming => self.total_unknown = true,
            Event::Planned { jobs } => {
                self.total_unknown = false;
                self.planned = jobs;
            }
            Event::Started {
                id,
                name,
                size,
                bytes_done,
                connections,
            } => {
                self.active.insert(
                    id,
                    Active {
                        name,
                        size,
                        bytes_done,
                        connections,
                        base: None,
                        meter: Meter::default(),
                        verifying: false,
                        bar: None,
                    },
                );
                if self.screen.is_some() {
                    // It gets a row (and a bar) at the next draw, if one is free.
                    self.rowless.push_back(id);
                }
            }
            Event::Verifying { id } => {
                if let Some(a) = self.active.get_mut(&id) {
                    a.verifying = true;
                }
            }
            Event::Retrying {
                name,
                attempt,
                wait,
                reason,
            } => {
                if self.output.progress != Progress::Quiet {
                    self.line(format!(
                        "RETRY    {name}: {reason}; attempt {attempt} in {:.1} s",
                        wait.as_secs_f64()
                    ));
                }
            }
            Event::Finished(outcome) => self.finished(*outcome),
            Event::RunError(e) => {
                self.summary.tally.error(&e);
                self.summary.settle();
                self.line(format!("fetchpool: {e}"));
            }
            Event::Shutdown => {}
        }
    }

    /// Rows the terminal has for file bars: all but the total line and one spare, so the
    /// frame never scrolls (a frame taller than the screen cannot be erased).
    fn max_rows(&self) -> usize {
        let rows = self.screen.as_ref().map_or(0, Frame::height);
        rows.saturating_sub(2).max(1)
    }

    fn finished(&mut self, mut o: Outcome) {
        if let Some(ledger) = &self.ledger {
            ledger.ended(o.id);
        }
        // The hash pool is stopped by an interrupt: what it had not hashed yet was
        // interrupted, not broken.
        if self.interrupt.exit().is_some()
            && matches!(o.status, Status::Failed(Failure::Hashing(_)))
        {
            o.status = Status::Failed(Failure::Interrupted);
        }
        self.summary.count(&o);
        let end = o.status.end();
        if self.failed_path.is_some() && !end.is_settled() {
            let line = crate::input::url_list::format_line(&o.job) + "\n";
            self.failed.push(o.id, line.as_bytes());
        }
        let mut size = None;
        if let Some(mut a) = self.active.remove(&o.id) {
            if let (Some(screen), Some(bar)) = (&self.screen, a.bar.take()) {
                screen.remove(bar);
            }
            self.finished_bytes += o.bytes;
            if let Some(s) = a.size {
                self.sized = (self.sized.0 + s, self.sized.1 + 1);
            }
            size = a.size.or(Some(a.done())).filter(|_| end == End::Ok);
            self.free_row(o.id);
        } else {
            self.finished_bytes += o.bytes;
        }
        let show = match self.output.progress {
            Progress::Bars | Progress::Plain => true,
            Progress::Summary => !end.is_settled(),
            Progress::Quiet => false,
        } && (end != End::NotStarted || self.summary.not_started <= NOT_STARTED_SHOWN);
        // With -c, a file no manifest (nor its list line) gave a digest for landed
        // unverified: its line and JSON say so.
        let unlisted = self.output.manifests
            && o.job.expect.is_none()
            && matches!(o.status, Status::Ok | Status::Skipped);
        if show {
            let mut line = outcome_line(&o, size);
            if unlisted && line.ends_with(')') {
                line.insert_str(line.len() - 1, ", not in manifest, not verified");
            }
            self.line(line);
        }
        if self.output.json {
            let mut object = outcome_json(&o, size);
            object["not_in_manifest"] = json!(unlisted);
            self.json(object.to_string());
        }
    }

    /// A finished file's row is free (the next draw hands it on).
    fn free_row(&mut self, id: JobId) {
        match self.rows.iter().position(|r| *r == id) {
            Some(at) => {
                self.rows.remove(at);
            }
            None => self.rowless.retain(|r| *r != id),
        }
    }

    /// As many files have a row (and a bar) as the window has rows for now: rows a
    /// shrunk window lacks go back to the front of the queue, free rows go to the files
    /// waiting longest.
    fn fit_rows(&mut self) {
        let Some(screen) = &self.screen else {
            return;
        };
        let max = self.max_rows();
        while self.rows.len() > max {
            let Some(id) = self.rows.pop() else { break };
            if let Some(bar) = self.active.get_mut(&id).and_then(|a| a.bar.take()) {
                screen.remove(bar);
            }
            self.rowless.push_front(id);
        }
        while self.rows.len() < max {
            let Some(id) = self.rowless.pop_front() else {
                break;
            };
            if let Some(a) = self.active.get_mut(&id) {
                a.bar = Some(screen.add_file());
                self.rows.push(id);
            }
        }
    }

    /// Samples the downloaders' counters; draws the frame, or prints the plain progress
    /// line when its time has come.
    fn refresh(&mut self) {
        let now = Instant::now();
        let mut active_bytes = 0;
        for a in self.active.values_mut() {
            let done = a.done();
            let base = *a.base.get_or_insert(done);
            a.meter.sample(now, done);
            active_bytes += done.saturating_sub(base);
        }
        let bytes = self.finished_bytes + active_bytes;
        self.total_meter.sample(now, bytes);
        if self.screen.is_some() {
            self.draw();
        } else if self.output.progress == Progress::Plain
            && self.last_plain_tick.elapsed() >= self.output.plain_tick
        {
            self.last_plain_tick = now;
            let done = self.summary.ended();
            let total = match self.total_unknown {
                true => "?".to_string(),
                false => self.planned.to_string(),
            };
            let line = format!(
                "progress: {done}/{total} files, {}, {}, ETA {}",
                HumanBytes(bytes),
                rate_text(self.total_meter.rate()),
                eta_text(self.total_meter.eta_opt(self.bytes_left()))
            );
            self.line(line);
        }
    }

    /// A guess at the bytes still to come: what active files lack, and for files not
    /// started yet the mean size of those seen. `None` when a size is unknown.
    fn bytes_left(&self) -> Option<u64> {
        if self.total_unknown {
            return None;
        }
        let mut left = 0;
        for a in self.active.values() {
            left += a.size?.saturating_sub(a.done());
        }
        let waiting = self
            .planned
            .saturating_sub(self.summary.ended() + self.active.len() as u64);
        if waiting > 0 {
            let (sum, n) = self.sized;
            let known = self.active.values().filter_map(|a| a.size);
            let (sum, n) = known.fold((sum, n), |(s, n), size| (s + size, n + 1));
            if n == 0 {
                return None;
            }
            left += waiting * (sum / n);
        }
        Some(left)
    }

    /// Shows each file with a row on its bar, fitted to a window `width` columns wide,
    /// and the total.
    fn show(&mut self, width: usize) {
        let Some(screen) = &self.screen else {
            return;
        };
        let name_col = name_column(
            self.rows
                .iter()
                .filter_map(|id| self.active.get(id))
                .map(|a| a.name.as_str()),
        );
        for id in &self.rows {
            let Some(a) = self.active.get_mut(id) else {
                continue;
            };
            let done = a.done();
            let row = FileRow {
                name: &a.name,
                done,
                size: a.size,
                rate: a.meter.rate(),
                eta: a
                    .size
                    .and_then(|s| a.meter.eta(s.saturating_sub(done)))
                    .filter(|_| !a.verifying),
                verifying: a.verifying,
                connections: a.connections.load(Ordering::Relaxed),
            };
            if let Some(bar) = &mut a.bar {
                screen.show_file(bar, &row, name_col, width);
            }
        }
        let shown = self.rows.len();
        screen.show_total(
            &TotalRow {
                done: self.summary.ended(),
                planned: (!self.total_unknown).then_some(self.planned),
                bytes: self.total_meter.last().unwrap_or(0),
                rate: self.total_meter.rate(),
                eta: self.total_meter.eta_opt(self.bytes_left()),
                rowless: self.active.len().saturating_sub(shown),
            },
            width,
        );
    }

    /// Fits the rows to the window, prints the lines waiting above the frame, then brings
    /// the bars up to date.
    fn draw(&mut self) {
        self.fit_rows();
        self.print_above();
        let width = self.screen.as_ref().map_or(0, Frame::width);
        self.show(width);
    }

    /// Prints what waits to be printed above the frame: lines held from other threads,
    /// then this thread's.
    fn print_above(&mut self) {
        let mut above = take_held();
        above.append(&mut self.above);
        if above.is_empty() {
            return;
        }
        let stdout = &mut self.stdout;
        if let Some(screen) = &self.screen {
            screen.print(above, &mut |line| {
                let _ = stdout.line(line);
            });
        }
    }

    fn finish(mut self) -> Summary {
        // The frame goes first: what follows may be a line for each of millions of jobs
        // not started, which go straight out rather than wait above a frame.
        self.close_screen();
        // Jobs a download thread took and never reported, then those none took: every
        // planned job is accounted for.
        if let Some(ledger) = self.ledger.clone() {
            self.json_batch = Some(String::new());
            for o in ledger.unreported() {
                self.finished(o);
            }
            for o in ledger.not_started() {
                self.finished(o);
            }
            self.flush_json_batch();
            self.json_batch = None;
        }
        let shown = self.summary.not_started.min(NOT_STARTED_SHOWN);
        if self.summary.not_started > shown && self.output.progress != Progress::Quiet {
            self.line(format!(
                "NOT STARTED … and {} more",
                self.summary.not_started - shown
            ));
        }
        // Jobs no ledger could name (a list that changed under the run) are still counted.
        let unnamed = self.planned.saturating_sub(self.summary.ended());
        self.summary.not_started += unnamed;
        self.summary.tally.failed += unnamed;
        self.summary.tally.interrupt = self.interrupt.signal();
        self.summary.settle();
        self.summary.elapsed = self.start.elapsed();
        if let Some(path) = self.failed_path.take() {
            let lines = std::mem::take(&mut self.failed);
            if let Err(e) = lines.write_file(&path) {
                self.summary.tally.error(&e);
                self.summary.settle();
                self.line(format!("fetchpool: {e}"));
            }
        }
        if self.output.progress != Progress::Quiet {
            self.line(format!("fetchpool: {}", self.summary.line()));
        }
        if self.output.json {
            self.json(self.summary.json().to_string());
        }
        self.summary
    }

    /// Prints what waits above the frame, erases the frame for good, and lets lines go
    /// straight to the terminal from now on.
    fn close_screen(&mut self) {
        if self.screen.is_none() {
            return;
        }
        self.print_above();
        let Some(screen) = self.screen.take() else {
            return;
        };
        self.rows.clear();
        self.rowless.clear();
        screen.close(self.active.values_mut().filter_map(|a| a.bar.take()));
        // Lines that came meanwhile go first.
        let rest = held_lines().take();
        if let Some(rest) = rest {
            stderr_bytes(&rest);
        }
    }

    /// Writes the JSON lines batched so far.
    fn flush_json_batch(&mut self) {
        if let Some(batch) = self.json_batch.as_mut().filter(|b| !b.is_empty()) {
            let _ = self.stdout.write(batch.as_bytes());
            batch.clear();
        }
    }

    /// A human line on stderr, above the frame when there is one.
    fn line(&mut self, text: String) {
        match self.screen {
            Some(_) => self.above.push(Above::Stderr(text)),
            None => stderr_line(&text),
        }
    }

    /// One JSON object on stdout (above the frame, when there is one: a terminal showing
    /// both keeps it). A closed stdout (`| head`) stops JSON output quietly, as does any
    /// other write error on it: the downloads carry on.
    fn json(&mut self, text: String) {
        if let Some(batch) = &mut self.json_batch {
            batch.push_str(&text);
            batch.push('\n');
            if batch.len() >= 64 * 1024 {
                self.flush_json_batch();
            }
            return;
        }
        match self.screen {
            Some(_) => self.above.push(Above::Stdout(text)),
            None => {
                let _ = self.stdout.line(&text);
            }
        }
    }
}

/// The per-file line: `OK       a.bin (2.67 MiB, 371.78 KiB fetched, sha256 verified)`,
/// `FAILED   b.bin: HTTP 404 Not Found (URL)`. `size` is the file's size when known.
fn outcome_line(o: &Outcome, size: Option<u64>) -> String {
    let word = o.status.end().word().to_ascii_uppercase();
    match &o.status {
        Status::Ok => {
            let mut s = format!("{word:<8} {} (", o.path);
            match size {
                Some(size) if size != o.bytes => {
                    s += &format!("{}, {} fetched", HumanBytes(size), HumanBytes(o.bytes));
                }
                _ => s += &HumanBytes(o.bytes).to_string(),
            }
            if o.connections > 1 {
                s += &format!(", {} connections, {} ranges", o.connections, o.ranges);
            }
            if o.verified
                && let Some(d) = &o.digest
            {
                s += &format!(", {} verified", d.algo());
            }
            // A mirror delivered it, not the job's first URL.
            if !o.job.mirrors.is_empty() && o.url != crate::url::redact_url(&o.job.url) {
                s += &format!(", from mirror {}", o.url);
            }
            s + ")"
        }
        Status::Skipped if o.verified => format!("{word:<8} {} (exists, verified)", o.path),
        Status::Skipped => format!("{word:<8} {} (exists)", o.path),
        Status::Failed(Failure::Interrupted) | Status::NotStarted => {
            format!("{word:<8} {} ({})", o.path, o.url)
        }
        Status::Failed(f) => format!("{word:<8} {}: {f} ({})", o.path, o.url),
    }
}

/// The per-file JSON object (README "Output" lists the fields).
fn outcome_json(o: &Outcome, size: Option<u64>) -> serde_json::Value {
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
        "size": size,
        "bytes": o.bytes,
        "elapsed_ms": o.elapsed.as_millis() as u64,
        "attempts": o.attempts,
        "connections": o.connections,
        "ranges": o.ranges,
        "digest": o.digest.as_ref().map(ToString::to_string),
        "error": error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::job::{JobSpec, Origin};

    fn spec(n: u64) -> Arc<JobSpec> {
        Arc::new(JobSpec {
            origin: Origin {
                source: Arc::from("list"),
                line: n as usize + 1,
            },
            url: format!("http://h/f{n}"),
            name: format!("f{n}"),
            expect: None,
            mirrors: Vec::new(),
        })
    }

    fn outcome(id: u64, status: Status) -> Outcome {
        Outcome {
            id,
            url: format!("http://h/f{id}"),
            path: format!("out/f{id}"),
            status,
            verified: false,
            http_status: Some(200),
            bytes: 100,
            elapsed: Duration::from_millis(7),
            attempts: 1,
            digest: None,
            job: spec(id),
            connections: 0,
            ranges: 0,
        }
    }

    fn digest() -> Digest {
        Digest::from_hex_guess(&"ab".repeat(32)).unwrap()
    }

    fn every_end() -> Vec<Outcome> {
        let mismatch = Failure::Mismatch {
            want: digest(),
            got: digest(),
        };
        vec![
            Outcome {
                verified: true,
                ..outcome(0, Status::Ok)
            },
            outcome(1, Status::Ok),
            outcome(2, Status::Skipped),
            outcome(3, Status::Failed(Failure::Timeout)),
            outcome(4, Status::Failed(mismatch)),
            outcome(5, Status::Failed(Failure::Interrupted)),
            outcome(6, Status::Failed(Failure::Interrupted)),
            outcome(7, Status::NotStarted),
        ]
    }

    #[test]
    fn the_summary_counts_each_end_once_in_its_own_word() {
        let mut s = Summary::default();
        for o in every_end() {
            s.count(&o);
        }
        assert_eq!(
            (
                s.ok,
                s.skipped,
                s.failed,
                s.mismatch,
                s.interrupted,
                s.not_started
            ),
            (2, 1, 1, 1, 2, 1)
        );
        assert_eq!((s.verified, s.bytes, s.ended()), (1, 800, 8));
        assert_eq!(
            s.exit,
            Exit::Mismatch,
            "a mismatch is louder than a failure"
        );
        s.elapsed = Duration::from_secs(2);
        assert_eq!(
            s.line(),
            "2 ok, 1 skipped, 1 failed, 1 mismatch, 2 interrupted, 1 not started; \
             1 verified; 800 B in 2.0 s (400 B/s)"
        );
        assert_eq!(
            s.json(),
            json!({"summary": true, "ok": 2, "skipped": 1, "failed": 1, "mismatch": 1,
                   "interrupted": 2, "not_started": 1, "verified": 1, "bytes": 800,
                   "elapsed_ms": 2000, "exit_code": 3})
        );
        let quiet = Summary {
            ok: 3,
            elapsed: Duration::from_secs(1),
            ..Summary::default()
        };
        assert_eq!(quiet.line(), "3 ok, 0 failed; 0 B in 1.0 s (0 B/s)");
    }

    #[test]
    fn a_clean_run_exits_0_and_any_unsettled_job_does_not() {
        for (status, exit) in [
            (Status::Ok, Exit::Ok),
            (Status::Skipped, Exit::Ok),
            (Status::Failed(Failure::Timeout), Exit::Failed),
            (Status::Failed(Failure::Interrupted), Exit::Failed),
            (Status::NotStarted, Exit::Failed),
        ] {
            let mut s = Summary::default();
            s.count(&outcome(0, status.clone()));
            assert_eq!(s.exit, exit, "{status:?}");
        }
    }

    #[test]
    fn per_file_json_carries_every_field() {
        let o = Outcome {
            verified: true,
            digest: Some(digest()),
            attempts: 2,
            connections: 3,
            ranges: 5,
            ..outcome(4, Status::Ok)
        };
        assert_eq!(
            outcome_json(&o, Some(250)),
            json!({"url": "http://h/f4", "path": "out/f4", "status": "ok", "verified": true,
                   "http_status": 200, "size": 250, "bytes": 100, "elapsed_ms": 7,
                   "attempts": 2, "connections": 3, "ranges": 5,
                   "digest": format!("sha256:{}", "ab".repeat(32)),
                   "error": null})
        );
        let failed = outcome_json(&outcome(1, Status::Failed(Failure::Timeout)), None);
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["error"], "timed out");
        assert_eq!(failed["size"], serde_json::Value::Null);
        let words: Vec<serde_json::Value> = every_end()
            .iter()
            .map(|o| outcome_json(o, None)["status"].clone())
            .collect();
        assert_eq!(
            words,
            [
                "ok",
                "ok",
                "skipped",
                "failed",
                "mismatch",
                "interrupted",
                "interrupted",
                "not_started"
            ]
        );
    }

    #[test]
    fn per_file_lines_use_the_summary_words_and_show_the_file_size() {
        let lines: Vec<String> = every_end()
            .iter()
            .map(|o| outcome_line(o, Some(100)))
            .collect();
        assert_eq!(
            lines,
            [
                "OK       out/f0 (100 B)",
                "OK       out/f1 (100 B)",
                "SKIPPED  out/f2 (exists)",
                "FAILED   out/f3: timed out (http://h/f3)",
                &format!(
                    "MISMATCH out/f4: checksum mismatch: want sha256:{0}, got sha256:{0} \
                     (http://h/f4)",
                    "ab".repeat(32)
                ),
                "INTERRUPTED out/f5 (http://h/f5)",
                "INTERRUPTED out/f6 (http://h/f6)",
                "NOT STARTED out/f7 (http://h/f7)",
            ]
        );
        let resumed = Outcome {
            bytes: 371_780,
            ..outcome(0, Status::Ok)
        };
        assert_eq!(
            outcome_line(&resumed, Some(2_800_000)),
            "OK       out/f0 (2.67 MiB, 363.07 KiB fetched)"
        );
    }

    /// A reporter that prints nothing (`-q`, no JSON), for what it records.
    fn silent(record: Record) -> Reporter {
        let output = Output {
            progress: Progress::Quiet,
            json: false,
            plain_tick: Duration::from_secs(10),
            manifests: false,
        };
        Reporter::new(output, record)
    }

    #[test]
    fn after_an_interrupt_a_stopped_hash_is_an_interruption_and_the_exit_is_130_or_143() {
        for (signal, code) in [(2, 130), (15, 143)] {
            let mut r = silent(Record {
                interrupt: Interrupt::arrived(signal),
                ..Record::default()
            });
            r.planned = 2;
            r.finished(outcome(0, Status::Ok));
            r.finished(outcome(
                1,
                Status::Failed(Failure::Hashing("hash pool stopped".into())),
            ));
            let s = r.finish();
            assert_eq!((s.ok, s.failed, s.interrupted), (1, 0, 1));
            assert_eq!(s.exit.code(), code);
        }
        // Without an interrupt, a hashing failure is a failure.
        let mut r = silent(Record::default());
        r.planned = 1;
        r.finished(outcome(
            0,
            Status::Failed(Failure::Hashing("worker died".into())),
        ));
        let s = r.finish();
        assert_eq!((s.failed, s.interrupted, s.exit), (1, 0, Exit::Failed));
    }

    #[test]
    fn every_planned_job_is_accounted_for_and_listed_in_failed() {
        let dir = tempfile::tempdir().unwrap();
        let failed = dir.path().join("failed.txt");
        let plan = (0..6u64).map(|n| (n, (*spec(n)).clone()));
        let ledger = Ledger::new(plan, std::path::Path::new("out"));
        let mut taken = ledger.track();
        let mut r = silent(Record {
            failed: Some(failed.clone()),
            ledger: Some(Arc::clone(&ledger)),
            interrupt: Interrupt::arrived(2),
        });
        r.planned = 6;
        // Three jobs taken: one ends ok, one is interrupted, one never reports.
        for _ in 0..3 {
            taken.next().unwrap();
        }
        r.finished(outcome(0, Status::Ok));
        r.finished(outcome(1, Status::Failed(Failure::Interrupted)));
        let s = r.finish();
        assert_eq!((s.ok, s.interrupted, s.not_started), (1, 2, 3));
        assert_eq!(s.exit, Exit::Interrupted);
        assert_eq!(
            std::fs::read_to_string(&failed).unwrap(),
            "http://h/f1\nhttp://h/f2\nhttp://h/f3\nhttp://h/f4\nhttp://h/f5\n"
        );
    }

    #[test]
    fn a_run_error_counts_in_the_exit_status_the_summary_shows() {
        let mut r = silent(Record::default());
        r.planned = 1;
        r.finished(outcome(0, Status::Ok));
        r.handle(Event::RunError(Box::new(Error::Setup("x".into()))));
        assert_eq!(r.finish().exit, Exit::Failed);
        // Planned jobs nobody could name (the list changed) are not started, and fail.
        let mut r = silent(Record::default());
        r.planned = 3;
        r.finished(outcome(0, Status::Ok));
        let s = r.finish();
        assert_eq!((s.ok, s.not_started, s.exit), (1, 2, Exit::Failed));
    }
}
