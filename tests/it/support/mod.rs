//! Test harness: runs the real `fetchpool` binary in a scrubbed environment and checks its exit
//! status, stdout and stderr in one call, showing all three when they differ.
//! Knows nothing about HTTP; the loopback test server lives in `server/`.

// Each test module uses its own slice of the harness, so some of it is always unused somewhere.
#![allow(dead_code, reason = "not every test module uses every helper")]

pub mod proxy;
pub mod pty;
pub mod server;
pub mod socks;
pub mod tls;

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a command may run before it is killed (see `Cmd::timeout`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long stdout and stderr may stay open after the child has exited. A pipe still open
/// after that is held by a process the child started and left behind.
const PIPE_GRACE: Duration = Duration::from_secs(5);

/// How much of each stream a failure message shows (head and tail, half each).
const SHOWN_BYTES: usize = 64 * 1024;

/// Variables that would route fetchpool's traffic through a proxy or change how it prints.
/// ureq reads the proxy variables in both cases; a proxy would turn 127.0.0.1 into the network.
const SCRUBBED_ENV: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
    "COLUMNS",
];

/// Test hooks share this prefix (see STYLE.md); a test sets the ones it wants explicitly,
/// so none leak in from the shell that ran `cargo test`.
const HOOK_PREFIX: &str = "FETCHPOOL_";

/// A `fetchpool` command line to run, in a scrubbed environment with `NO_COLOR=1`.
pub fn fetchpool() -> Cmd {
    command(env!("CARGO_BIN_EXE_fetchpool"))
}

/// Any program, in the same scrubbed environment as `fetchpool()` (the harness tests itself
/// with `sleep` and `cat`; a test may need a second tool beside fetchpool).
pub fn command(program: impl AsRef<OsStr>) -> Cmd {
    let program = program.as_ref();
    let mut command = Command::new(program);
    for name in SCRUBBED_ENV {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with(HOOK_PREFIX) {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1");
    // Show the bare program name: the full path to target/debug is noise in a failure message.
    let shown = Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned();
    Cmd {
        command,
        shown,
        stdin: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
        stdout_lines: None,
    }
}

/// A command about to run. Build it with the methods below, then `run()` or `spawn()`.
pub struct Cmd {
    command: Command,
    /// The command line as a failure message shows it.
    shown: String,
    stdin: Vec<u8>,
    timeout: Duration,
    /// With `close_stdout_after`: how many lines to read before closing the pipe.
    stdout_lines: Option<usize>,
}

impl Cmd {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.shown.push(' ');
        self.shown.push_str(&quote(a.as_ref()));
        self.command.arg(a);
        self
    }

    pub fn args<I, S>(self, a: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        a.into_iter().fold(self, |cmd, a| cmd.arg(a))
    }

    /// Working directory (default: the one `cargo test` runs in, so tests that write files
    /// should set this or pass `--dir`).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.command.env(k, v);
        self
    }

    /// Bytes on standard input, then end-of-file (default: end-of-file at once; the test's own
    /// stdin is never inherited).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// How long the command may run (default 60 s). Past it the child is killed and the test
    /// panics with what the child had printed so far.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Reads `lines` lines of stdout, then closes the pipe, as `| head -n LINES` does; the
    /// run's stdout is exactly those lines (what came with them in the same read is
    /// dropped, unseen, as `head` drops it).
    pub fn close_stdout_after(mut self, lines: usize) -> Self {
        self.stdout_lines = Some(lines);
        self
    }

    /// Runs to completion and returns what happened. Does not check anything: call `assert`.
    pub fn run(self) -> Run {
        self.spawn().wait()
    }

    /// Starts the command and returns at once, for tests that act while it runs (signals).
    pub fn spawn(mut self) -> Running {
        let started = Instant::now();
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", self.shown));
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let bytes = self.stdin;
        // Fed from a thread: a child that never reads its stdin must not block the test. The
        // write ends with an error when the child exits unread; that is the child's business.
        thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
        let stdout = Capture::start(
            child.stdout.take().expect("stdout is piped"),
            self.stdout_lines,
        );
        let stderr = Capture::start(child.stderr.take().expect("stderr is piped"), None);
        Running {
            child: Some(child),
            stdout,
            stderr,
            deadline: started + self.timeout,
            timeout: self.timeout,
            shown: self.shown,
        }
    }
}

/// A command that is running. Dropping it without `wait` kills the child.
pub struct Running {
    /// `None` once reaped, so `Drop` knows there is nothing left to kill.
    child: Option<Child>,
    stdout: Capture,
    stderr: Capture,
    deadline: Instant,
    timeout: Duration,
    shown: String,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child not yet reaped").id()
    }

    /// Sends signal `sig` (e.g. 2 for SIGINT) through the `kill` command, which keeps the
    /// tests free of `unsafe` and of libc.
    pub fn signal(&self, sig: i32) {
        let pid = self.pid();
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run `kill -{sig} {pid}`: {e}"));
        assert!(status.success(), "`kill -{sig} {pid}` failed: {status}");
    }

    /// Output so far, lossily decoded, e.g. to wait until the child has reached some point.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.bytes()).into_owned()
    }

    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.bytes()).into_owned()
    }

    /// Waits for the child to exit, bounded by the timeout counted from `spawn`.
    pub fn wait(mut self) -> Run {
        let mut child = self.child.take().expect("child not yet reaped");
        let mut nap = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => panic!("cannot wait for `{}`: {e}", self.shown),
            }
            if Instant::now() >= self.deadline {
                let _ = child.kill();
                let status = child.wait().ok();
                // The child is gone, so its pipes close unless something it started holds them.
                self.stdout
                    .wait_until(Instant::now() + Duration::from_secs(1));
                self.stderr
                    .wait_until(Instant::now() + Duration::from_secs(1));
                let run = self.collect(status.and_then(|s| s.code()), status.and_then(signal_of));
                panic!(
                    "`{}` did not finish within {:?} and was killed; what it printed so far:\n{}",
                    self.shown, self.timeout, run
                );
            }
            thread::sleep(nap);
            // Short naps first so quick commands stay quick, then at most 20 ms of latency.
            nap = (nap * 2).min(Duration::from_millis(20));
        };
        let pipes_deadline = Instant::now() + PIPE_GRACE;
        let closed =
            self.stdout.wait_until(pipes_deadline) && self.stderr.wait_until(pipes_deadline);
        let run = self.collect(status.code(), signal_of(status));
        assert!(
            closed,
            "`{}` exited but its stdout or stderr stayed open for {PIPE_GRACE:?}: \
             a process it started is still running\n{run}",
            self.shown
        );
        run
    }

    fn collect(&self, code: Option<i32>, signal: Option<i32>) -> Run {
        Run {
            code,
            signal,
            stdout: self.stdout.bytes(),
            stderr: self.stderr.bytes(),
            command: self.shown.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked between spawn and wait must not leave the child running.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(unix)]
fn signal_of(status: std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(not(unix))]
fn signal_of(_: std::process::ExitStatus) -> Option<i32> {
    None
}

/// One output pipe, drained on its own thread so the child never blocks on a full pipe.
struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: JoinHandle<()>,
}

impl Capture {
    /// Drains `pipe` to its end, or, given `lines`, until that many lines have come; then
    /// the pipe is closed (dropped with the thread).
    fn start(mut pipe: impl Read + Send + 'static, lines: Option<usize>) -> Capture {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bytes);
        let reader = thread::spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            let mut lines_left = lines;
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let (kept, done) = match &mut lines_left {
                            None => (n, false),
                            Some(left) => keep_lines(&buf[..n], left),
                        };
                        sink.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .extend_from_slice(&buf[..kept]);
                        if done {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
        Capture { bytes, reader }
    }

    /// Waits for end-of-file until `deadline`; says whether it came.
    fn wait_until(&self, deadline: Instant) -> bool {
        while !self.reader.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
        true
    }

    fn bytes(&self) -> Vec<u8> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How much of `chunk` to keep while `left` lines are still wanted (counting them down),
/// and whether that was the last of them.
fn keep_lines(chunk: &[u8], left: &mut usize) -> (usize, bool) {
    if *left == 0 {
        return (0, true);
    }
    for (i, _) in chunk.iter().enumerate().filter(|&(_, &b)| b == b'\n') {
        *left -= 1;
        if *left == 0 {
            return (i + 1, true);
        }
    }
    (chunk.len(), false)
}

/// What a finished command did. `Display` shows status, stdout and stderr, for messages of
/// one's own: `assert!(dir_is_empty, "{run}")`.
pub struct Run {
    /// Exit code; `None` if killed by a signal.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The command line, as failure messages show it.
    pub command: String,
}

impl Run {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// One call per scenario: the exit code, stdout and stderr are all checked, and a failure
    /// shows every one of them (what was wanted, then all three as they were).
    #[track_caller]
    pub fn assert(&self, code: i32, stdout: Pat, stderr: Pat) -> &Self {
        let mut problems = Vec::new();
        if self.code != Some(code) {
            problems.push(format!(
                "status: want exit {code}, got {}",
                status_text(self.code, self.signal)
            ));
        }
        if let Err(why) = stdout.check(&self.stdout) {
            problems.push(format!("stdout: {why}"));
        }
        if let Err(why) = stderr.check(&self.stderr) {
            problems.push(format!("stderr: {why}"));
        }
        if !problems.is_empty() {
            panic!(
                "`{}` did not do what was expected:\n  {}\n{self}",
                self.command,
                problems.join("\n  ")
            );
        }
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- status: {}", status_text(self.code, self.signal))?;
        for (name, bytes) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            writeln!(f, "--- {name} ({} bytes):", bytes.len())?;
            let text = shown_text(bytes);
            f.write_str(&text)?;
            if !text.is_empty() && !text.ends_with('\n') {
                writeln!(f, "\n[no newline at end of {name}]")?;
            }
        }
        writeln!(f, "--- end")
    }
}

fn status_text(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "no exit status".to_owned(),
    }
}

/// A stream as a failure message shows it: lossily decoded, escape characters made visible
/// (so a stray colour code is seen, not obeyed), and the middle of a huge stream left out.
fn shown_text(bytes: &[u8]) -> String {
    let text = if bytes.len() <= SHOWN_BYTES {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        let half = SHOWN_BYTES / 2;
        format!(
            "{}\n[... {} bytes left out ...]\n{}",
            String::from_utf8_lossy(&bytes[..half]),
            bytes.len() - 2 * half,
            String::from_utf8_lossy(&bytes[bytes.len() - half..])
        )
    };
    text.replace('\x1b', "\\x1b")
}

/// Quotes an argument for display when it would otherwise be ambiguous.
fn quote(arg: &OsStr) -> String {
    let arg = arg.to_string_lossy();
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        arg.into_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// What a stream must look like. Build with the constructors; `and_not` adds exclusions.
#[derive(Clone, Debug)]
pub enum Pat {
    /// Anything at all.
    Any,
    /// Nothing: zero bytes.
    Empty,
    /// Exactly this text.
    Eq(String),
    /// Exactly these bytes, for output that need not be UTF-8 (file names as they are).
    Bytes(Vec<u8>),
    /// Every one of these substrings, anywhere and in any order.
    Has(Vec<String>),
    /// The inner pattern, and none of these substrings.
    AndNot(Box<Pat>, Vec<String>),
}

impl Pat {
    pub fn any() -> Pat {
        Pat::Any
    }

    pub fn empty() -> Pat {
        Pat::Empty
    }

    pub fn eq(s: impl Into<String>) -> Pat {
        Pat::Eq(s.into())
    }

    /// Exactly these bytes: unlike `eq`, which compares text, two different invalid UTF-8
    /// bytes are told apart.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Pat {
        Pat::Bytes(b.into())
    }

    /// Every one of these substrings is present.
    pub fn has<S: AsRef<str>>(parts: &[S]) -> Pat {
        Pat::Has(parts.iter().map(|s| s.as_ref().to_owned()).collect())
    }

    /// This pattern, and none of these substrings (e.g. `"\x1b["`, `"panicked"`).
    pub fn and_not<S: AsRef<str>>(self, parts: &[S]) -> Pat {
        Pat::AndNot(
            Box::new(self),
            parts.iter().map(|s| s.as_ref().to_owned()).collect(),
        )
    }

    /// Says why `bytes` do not match, if they do not. All but `Bytes` look at them as text
    /// (lossily decoded).
    fn check(&self, bytes: &[u8]) -> Result<(), String> {
        let text = &*String::from_utf8_lossy(bytes);
        match self {
            Pat::Any => Ok(()),
            Pat::Empty if bytes.is_empty() => Ok(()),
            Pat::Empty => Err(format!("want nothing, got {} bytes", bytes.len())),
            Pat::Bytes(want) if want == bytes => Ok(()),
            Pat::Bytes(want) => Err(format!(
                "want exactly these bytes ({}):\n{}\n[end of wanted bytes]",
                first_byte_difference(want, bytes),
                shown_text(want)
            )),
            Pat::Eq(want) if want == text => Ok(()),
            Pat::Eq(want) => Err(format!(
                "want exactly this ({}):\n{}\n[end of wanted text]",
                first_difference(want, text),
                want.replace('\x1b', "\\x1b")
            )),
            Pat::Has(parts) => {
                let missing: Vec<&String> = parts.iter().filter(|p| !text.contains(*p)).collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("missing {missing:?} (want all of {parts:?})"))
                }
            }
            Pat::AndNot(inner, banned) => {
                inner.check(bytes)?;
                let present: Vec<&String> = banned.iter().filter(|b| text.contains(*b)).collect();
                if present.is_empty() {
                    Ok(())
                } else {
                    Err(format!("must not contain {present:?}"))
                }
            }
        }
    }
}

/// Where two texts first part ways, as "line N differs" (one line of context for the eye).
fn first_difference(want: &str, got: &str) -> String {
    let mut want_lines = want.split_inclusive('\n');
    let mut got_lines = got.split_inclusive('\n');
    for line in 1.. {
        match (want_lines.next(), got_lines.next()) {
            (Some(w), Some(g)) if w == g => {}
            (Some(w), Some(g)) => return format!("line {line} differs: want {w:?}, got {g:?}"),
            (Some(w), None) => return format!("output ends before line {line} {w:?}"),
            (None, Some(g)) => return format!("extra output from line {line}: {g:?}"),
            (None, None) => break,
        }
    }
    "texts differ".to_owned()
}

/// `first_difference` for bytes: lines shown with non-ASCII bytes escaped (`\xff`).
fn first_byte_difference(want: &[u8], got: &[u8]) -> String {
    let shown = |line: &[u8]| format!("\"{}\"", line.escape_ascii());
    let mut want_lines = want.split_inclusive(|&b| b == b'\n');
    let mut got_lines = got.split_inclusive(|&b| b == b'\n');
    for line in 1.. {
        match (want_lines.next(), got_lines.next()) {
            (Some(w), Some(g)) if w == g => {}
            (Some(w), Some(g)) => {
                return format!("line {line} differs: want {}, got {}", shown(w), shown(g));
            }
            (Some(w), None) => return format!("output ends before line {line} {}", shown(w)),
            (None, Some(g)) => return format!("extra output from line {line}: {}", shown(g)),
            (None, None) => break,
        }
    }
    "bytes differ".to_owned()
}

/// Polls `condition` every 10 ms until it holds; panics naming `what` if it does not within
/// `within`. For tests that must act at a moment: "signal once the first request has come".
#[track_caller]
pub fn wait_until(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up after {within:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh directory, removed when the guard drops.
/// A named pipe at `dir/name` (made with mkfifo(1)).
pub fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    command("mkfifo")
        .arg(&path)
        .run()
        .assert(0, Pat::empty(), Pat::empty());
    path
}

/// A named pipe at `dir/name` and its one writer: a producer of lines for a fetchpool that
/// reads the pipe as standard input. Opened read-write, so opening never blocks; dropping
/// the handle is the producer's end of file.
pub fn fifo_producer(dir: &Path, name: &str) -> (PathBuf, std::fs::File) {
    let path = fifo(dir, name);
    let producer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("cannot open the named pipe");
    (path, producer)
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fetchpool-it-")
        .tempdir()
        .expect("cannot create a temporary directory")
}

/// Writes `bytes` to `dir/name` (creating parent directories) and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// The names in `dir`, sorted, e.g. to check that no `.part` file was left behind.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// `len` deterministic pseudo-random bytes (xorshift64*): the same `seed` always gives the
/// The lower-case hex SHA-256 of `bytes`, as sha256sum prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    fetchpool::digest::hash_reader(fetchpool::digest::Algo::Sha256, bytes)
        .unwrap()
        .to_hex()
}

/// same bytes, and different seeds give different ones. Cheap enough for tens of MiB.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    // splitmix64 spreads the seed first: xorshift is stuck at 0 and weak for small seeds.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let mut state = (z ^ (z >> 31)) | 1;
    let mut out = vec![0u8; len];
    for chunk in out.chunks_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    out
}
