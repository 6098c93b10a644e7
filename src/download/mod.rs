//! One HTTP transfer into `NAME.part`: request, status check, body streamed to disk,
//! length check. Knows nothing about final names, digests or the terminal.

pub(crate) mod http;
pub(crate) mod retry;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ureq::Agent;

use crate::error::Failure;
use crate::settings::Http;

/// Body copy buffer: large reads keep syscalls per byte low on fast links.
const COPY_BUF_BYTES: usize = 256 * 1024;

/// A complete transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fetched {
    pub http_status: u16,
    /// Body bytes received and written.
    pub bytes: u64,
}

/// A failed transfer, with the status when the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failed {
    pub failure: Failure,
    pub http_status: Option<u16>,
}

impl From<Failure> for Failed {
    fn from(failure: Failure) -> Failed {
        Failed {
            failure,
            http_status: None,
        }
    }
}

/// Where a transfer reports to.
pub(crate) struct Sink<'a> {
    /// Updated in place after every read; sampled by the reporter.
    pub bytes_done: &'a AtomicU64,
    /// Set on SIGINT: stop reading, keep what is on disk.
    pub cancel: &'a AtomicBool,
}

/// GETs `url` into `part` (created or truncated). `on_size` hears the expected length
/// (Content-Length) as soon as the headers are in.
pub(crate) fn fetch_to_part(
    agent: &Agent,
    http: &Http,
    url: &str,
    part: &Path,
    sink: &Sink<'_>,
    on_size: impl FnOnce(Option<u64>),
) -> Result<Fetched, Failed> {
    let response = agent
        .get(url)
        .call()
        .map_err(|e| Failed::from(http::failure(e, http)))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(Failed {
            failure: Failure::Http {
                status,
                retry_after: None,
            },
            http_status: Some(status),
        });
    }
    let mut body = response.into_body();
    let want = body.content_length();
    on_size(want);
    let fail = |failure| Failed {
        failure,
        http_status: Some(status),
    };
    let mut file = create_part(part).map_err(|e| fail(Failure::io("create", part, &e)))?;
    let reader = body.with_config().limit(u64::MAX).reader();
    let got = copy_body(reader, &mut file, part, want.is_some(), http, sink).map_err(fail)?;
    if let Some(want) = want
        && got != want
    {
        return Err(fail(Failure::ShortBody { got, want }));
    }
    Ok(Fetched {
        http_status: status,
        bytes: got,
    })
}

/// Opens `NAME.part` for writing without following a symlink planted in its place.
fn create_part(part: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(part)
}

/// Streams the body into `file` with one reused buffer; returns the bytes written.
fn copy_body(
    mut reader: impl Read,
    file: &mut File,
    part: &Path,
    has_length: bool,
    http: &Http,
    sink: &Sink<'_>,
) -> Result<u64, Failure> {
    let mut buf = vec![0u8; COPY_BUF_BYTES];
    let mut total = 0u64;
    loop {
        if sink.cancel.load(Ordering::Relaxed) {
            return Err(Failure::Interrupted);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A body cut short surfaces as UnexpectedEof; with a Content-Length the caller's
            // length check names it precisely, without one the cut is all we know.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && has_length => return Ok(total),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(Failure::Transport(
                    "connection closed before the body ended".into(),
                ));
            }
            Err(e) => return Err(http::io_failure(&e, http)),
        };
        file.write_all(&buf[..n])
            .map_err(|e| Failure::io("write", part, &e))?;
        total += n as u64;
        sink.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
    }
}
