//! Standard output as every subcommand writes it: whole writes, flushed at once, and one
//! way to meet a closed pipe (`fetchpool hash * | head`): stop writing, quietly, no panic.
//! (ripgrep's `main.rs` BrokenPipe check.) What a closed stdout means for the run is the
//! caller's to decide.

use std::io::{self, Write};
use std::path::PathBuf;

use crate::error::Error;
use crate::exit::Exit;

/// Why standard output takes no more.
#[derive(Debug)]
pub(crate) enum Closed {
    /// The reader is gone (`| head`), or output had already stopped: end quietly.
    Pipe,
    /// Any other write error, given once; later writes say `Pipe`.
    Failed(io::Error),
}

impl Closed {
    /// For a command whose output is its result (hash, verify): a closed pipe ends the run
    /// with the status so far; any other write error is fatal.
    pub(crate) fn ends_run(self, status: Exit) -> Result<Exit, Error> {
        match self {
            Closed::Pipe => Ok(status),
            Closed::Failed(io_error) => Err(Error::WriteOutput {
                path: PathBuf::from("standard output"),
                io_error,
            }),
        }
    }
}

/// Standard output (or, in unit tests, any writer) that stops at its first write error.
pub(crate) struct Stdout<W: Write = io::Stdout> {
    inner: W,
    is_open: bool,
}

impl Stdout {
    pub(crate) fn new() -> Stdout {
        Stdout::to(io::stdout())
    }
}

impl<W: Write> Stdout<W> {
    pub(crate) fn to(inner: W) -> Stdout<W> {
        Stdout {
            inner,
            is_open: true,
        }
    }

    /// False once a write has failed: nothing more is written.
    pub(crate) fn is_open(&self) -> bool {
        self.is_open
    }

    /// Writes all of `bytes` and flushes, so a reader sees each line as it is made.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), Closed> {
        if !self.is_open {
            return Err(Closed::Pipe);
        }
        match self
            .inner
            .write_all(bytes)
            .and_then(|()| self.inner.flush())
        {
            Ok(()) => Ok(()),
            Err(e) => {
                self.is_open = false;
                if e.kind() == io::ErrorKind::BrokenPipe {
                    Err(Closed::Pipe)
                } else {
                    Err(Closed::Failed(e))
                }
            }
        }
    }

    /// `text` and a newline, in one write.
    pub(crate) fn line(&mut self, text: &str) -> Result<(), Closed> {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        self.write(&bytes)
    }

    /// What has been written, for unit tests.
    #[cfg(test)]
    pub(crate) fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `room` bytes, then fails every write with `kind`.
    struct Full {
        room: usize,
        kind: io::ErrorKind,
        written: Vec<u8>,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(self.kind.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_stops_output_quietly() {
        let mut out = Stdout::to(Full {
            room: 4,
            kind: io::ErrorKind::BrokenPipe,
            written: Vec::new(),
        });
        assert!(out.line("abc").is_ok());
        assert!(matches!(out.line("def"), Err(Closed::Pipe)));
        assert!(matches!(out.line("ghi"), Err(Closed::Pipe)));
        assert_eq!(out.into_inner().written, b"abc\n");
        assert_eq!(Closed::Pipe.ends_run(Exit::Failed).unwrap(), Exit::Failed);
    }

    #[test]
    fn another_write_error_is_given_once_then_output_stays_stopped() {
        let mut out = Stdout::to(Full {
            room: 0,
            kind: io::ErrorKind::StorageFull,
            written: Vec::new(),
        });
        let Err(Closed::Failed(e)) = out.line("x") else {
            panic!("the first failure carries its error");
        };
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(matches!(out.line("y"), Err(Closed::Pipe)));
        let fatal = Closed::Failed(e).ends_run(Exit::Ok).unwrap_err();
        assert!(
            fatal
                .to_string()
                .starts_with("standard output: cannot write: ")
        );
    }
}
