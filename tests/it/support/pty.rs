//! Runs `fetchpool` on a pseudo-terminal of a fixed size, as a person's terminal runs it,
//! and renders what it wrote with a terminal emulator (`vt100`), so tests can assert on
//! the screen and its scrollback rather than on bytes. Knows nothing about HTTP.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

/// How long a run on the terminal may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A fetchpool command line to run on a terminal of `cols` x `rows`.
pub struct PtyCmd {
    command: Command,
    rows: u16,
    cols: u16,
    /// Standard output on the terminal too (default: a pipe, collected apart).
    stdout_on_terminal: bool,
}

/// What a run on the terminal left.
pub struct PtyRun {
    pub code: Option<i32>,
    /// Every byte written to the terminal, in order.
    pub raw: Vec<u8>,
    /// Standard output, when it was a pipe.
    pub stdout: String,
    rows: u16,
    cols: u16,
}

/// `fetchpool ARGS` on a terminal of `cols` columns and `rows` rows, in an environment
/// holding only `PATH` and `TERM=xterm-256color` (add more with `env`).
pub fn on_terminal(cols: u16, rows: u16) -> PtyCmd {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fetchpool"));
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.env("TERM", "xterm-256color");
    PtyCmd {
        command,
        rows,
        cols,
        stdout_on_terminal: false,
    }
}

impl PtyCmd {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.command.arg(a);
        self
    }

    pub fn args<I, S>(mut self, a: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(a);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.command.env(k, v);
        self
    }

    /// Standard output goes to the same terminal as standard error.
    pub fn stdout_on_terminal(mut self) -> Self {
        self.stdout_on_terminal = true;
        self
    }

    /// Runs to completion (bounded by `TIMEOUT`), reading the terminal meanwhile.
    pub fn run(mut self) -> PtyRun {
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        tcsetwinsize(
            &master,
            Winsize {
                ws_row: self.rows,
                ws_col: self.cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .expect("setting the terminal size");
        let slave: OwnedFd = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("opening the terminal");
        let stdout = match self.stdout_on_terminal {
            true => Stdio::from(slave.try_clone().unwrap()),
            false => Stdio::piped(),
        };
        let mut child = self
            .command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("starting fetchpool");
        // The command holds its copies of the terminal until dropped: without this the
        // reader never sees the terminal close.
        drop(self.command);
        let mut master = File::from(master);
        let reader = thread::spawn(move || {
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match master.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // EIO: every process holding the terminal has closed it.
                    Err(_) => break,
                }
            }
            raw
        });
        let piped = child.stdout.take().map(|mut out| {
            thread::spawn(move || {
                let mut s = String::new();
                let _ = out.read_to_string(&mut s);
                s
            })
        });
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for fetchpool") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("fetchpool on a terminal did not finish within {TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        let raw = reader.join().expect("the terminal reader");
        let stdout = piped.map(|t| t.join().unwrap()).unwrap_or_default();
        PtyRun {
            code: status.code(),
            raw,
            stdout,
            rows: self.rows,
            cols: self.cols,
        }
    }
}

impl PtyRun {
    /// The terminal after the run: every line of the scrollback and the screen, top to
    /// bottom, right-trimmed, with the blank lines at the bottom left out.
    pub fn lines(&self) -> Vec<String> {
        let mut parser = vt100::Parser::new(nz(self.rows), nz(self.cols), 10_000);
        parser.process(&self.raw);
        all_lines(&mut parser)
    }

    /// Like `lines`, but with wrapped rows joined into the line they belong to.
    pub fn logical_lines(&self) -> Vec<String> {
        let mut parser = vt100::Parser::new(nz(self.rows), nz(self.cols), 10_000);
        parser.process(&self.raw);
        let screen = parser.screen_mut();
        let back = screen.scrollback_len();
        let mut out: Vec<String> = Vec::new();
        let mut joining = false;
        for i in 0..back + usize::from(self.rows) {
            let (row, wrapped) = row_at(screen, back, i);
            if joining {
                out.last_mut().unwrap().push_str(&row);
            } else {
                out.push(row);
            }
            joining = wrapped;
        }
        trim(out)
    }

    /// Replays the output a piece at a time (as a terminal receives it) and calls `look`
    /// on the screen after each piece: what the screen showed during the run.
    pub fn replay(&self, piece: usize, mut look: impl FnMut(&vt100::Screen)) {
        let mut parser = vt100::Parser::new(nz(self.rows), nz(self.cols), 0);
        for chunk in self.raw.chunks(piece) {
            parser.process(chunk);
            look(parser.screen());
        }
    }

    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

fn nz(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("a terminal has rows and columns")
}

fn all_lines(parser: &mut vt100::Parser) -> Vec<String> {
    let screen = parser.screen_mut();
    let back = screen.scrollback_len();
    let rows = usize::from(screen.size().0.get());
    let lines = (0..back + rows)
        .map(|i| row_at(screen, back, i).0)
        .collect();
    trim(lines)
}

/// Row `i` of scrollback-then-screen, and whether it wraps into the next.
fn row_at(screen: &mut vt100::Screen, back: usize, i: usize) -> (String, bool) {
    let cols = screen.size().1.get();
    if i < back {
        // Scrolled back by `back - i`, history row `i` is the top row of the view.
        screen.set_scrollback(back - i);
        let row = screen.rows(0, cols).next().unwrap_or_default();
        let wrapped = screen.row_wrapped(0);
        screen.set_scrollback(0);
        (row.trim_end().to_string(), wrapped)
    } else {
        let r = (i - back) as u16;
        let row = screen.rows(0, cols).nth(usize::from(r)).unwrap_or_default();
        (row.trim_end().to_string(), screen.row_wrapped(r))
    }
}

fn trim(mut lines: Vec<String>) -> Vec<String> {
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}
