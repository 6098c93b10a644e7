//! Fatal errors (they end the run, usually before any work) and per-file failures (values
//! that the reporter counts). Both have hand-written messages.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::digest::Digest;

/// A problem that stops the whole run. Printed once by `run()` as `fetchpool: {self}`.
#[derive(Debug)]
pub enum Error {
    /// Bad options or arguments (clap's own errors are printed by clap).
    Usage(String),
    /// A bad line in a URL list or manifest: `FILE:LINE: reason`.
    Input {
        source: Arc<str>,
        line: usize,
        reason: String,
    },
    /// A list, manifest or file that could not be opened or read.
    ReadInput { path: PathBuf, io_error: io::Error },
    /// The output directory cannot be created or written.
    OutputDir { path: PathBuf, io_error: io::Error },
    /// A file we must write (e.g. `--write-checksums`) cannot be written.
    WriteOutput { path: PathBuf, io_error: io::Error },
    /// The hash worker processes could not be started.
    SpawnWorkers { exe: PathBuf, io_error: io::Error },
    /// The download agent could not be set up (TLS roots, proxy...).
    Setup(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => f.write_str(msg),
            Error::Input {
                source,
                line,
                reason,
            } => write!(f, "{source}:{line}: {reason}"),
            Error::ReadInput { path, io_error } => {
                write!(f, "{}: cannot read: {}", path.display(), plain_io(io_error))
            }
            Error::OutputDir { path, io_error } => write!(
                f,
                "{}: cannot use as output directory: {}",
                path.display(),
                plain_io(io_error)
            ),
            Error::WriteOutput { path, io_error } => {
                write!(
                    f,
                    "{}: cannot write: {}",
                    path.display(),
                    plain_io(io_error)
                )
            }
            Error::SpawnWorkers { exe, io_error } => write!(
                f,
                "cannot start hash workers ({}): {}",
                exe.display(),
                plain_io(io_error)
            ),
            Error::Setup(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

/// An io::Error without Rust's " (os error N)" suffix, for people.
pub(crate) fn plain_io(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Why one file (or one URL) did not make it. A value, not an early return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with a status we do not accept.
    Http {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Could not connect, TLS failed, the connection reset, a malformed response...
    Transport(String),
    /// A connect or overall deadline passed.
    Timeout,
    /// No body bytes arrived for this long.
    Stalled { after: Duration },
    /// The body ended before its Content-Length.
    ShortBody { got: u64, want: u64 },
    /// Too many redirects, a loop, or a refused downgrade.
    Redirect(String),
    /// A local file operation failed (`op` is a verb: "write", "rename", "open").
    Io {
        op: &'static str,
        path: PathBuf,
        message: String,
    },
    /// The bytes are complete but their digest is not the expected one.
    Mismatch { want: Digest, got: Digest },
    /// A hash worker could not produce a digest (it died twice, or the pool is gone).
    Hashing(String),
    /// The run was interrupted before this item finished.
    Interrupted,
    /// A bug: the thread working on this item panicked. The run goes on without it.
    Panicked(String),
    /// A certificate or handshake problem: retrying cannot help.
    Tls(String),
    /// Another process holds the `.part` (an advisory lock): it is downloading this file.
    Busy { part: PathBuf },
}

impl Failure {
    /// Worth another attempt: transient network trouble and the statuses servers use for
    /// "later" (RFC 9110 §15.5.9 408, RFC 6585 429, §15.6 5xx gateway/unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Http { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            Failure::Transport(_)
            | Failure::Timeout
            | Failure::Stalled { .. }
            | Failure::ShortBody { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, e: &io::Error) -> Failure {
        Failure::Io {
            op,
            path: path.into(),
            message: plain_io(e),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Http { status, .. } => {
                write!(f, "HTTP {status}")?;
                if let Some(reason) = reason_phrase(*status) {
                    write!(f, " {reason}")?;
                }
                Ok(())
            }
            Failure::Transport(msg) => f.write_str(msg),
            Failure::Timeout => f.write_str("timed out"),
            Failure::Stalled { after } => {
                write!(f, "stalled: no data for {} s", after.as_secs_f64())
            }
            Failure::ShortBody { got, want } => {
                write!(f, "connection closed after {got} of {want} bytes")
            }
            Failure::Redirect(msg) => f.write_str(msg),
            Failure::Io { op, path, message } => {
                write!(f, "cannot {op} {}: {message}", path.display())
            }
            Failure::Mismatch { want, got } => {
                write!(f, "checksum mismatch: want {want}, got {got}")
            }
            Failure::Hashing(msg) => write!(f, "hashing failed: {msg}"),
            Failure::Interrupted => f.write_str("interrupted"),
            Failure::Panicked(msg) => {
                write!(
                    f,
                    "internal error (a bug in fetchpool, please report it): {msg}"
                )
            }
            Failure::Tls(msg) => f.write_str(msg),
            Failure::Busy { part } => write!(
                f,
                "busy: another fetchpool run is downloading {} (left to it)",
                part.display()
            ),
        }
    }
}

fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses_are_the_retryable_ones() {
        let retry: Vec<u16> = (100..600)
            .filter(|&s| {
                Failure::Http {
                    status: s,
                    retry_after: None,
                }
                .is_transient()
            })
            .collect();
        assert_eq!(retry, [408, 429, 500, 502, 503, 504]);
    }

    #[test]
    fn io_messages_drop_the_os_error_number() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(plain_io(&e), "No such file or directory");
    }
}
