//! One HTTP transfer into `NAME.part`: request, status check, body streamed to disk,
//! length check. Knows nothing about final names, digests or the terminal.

pub(crate) mod http;
pub(crate) mod netrc;
pub(crate) mod resume;
pub(crate) mod retry;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::error::Failure;
use crate::settings::Http;
use retry::Backoff;

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
    /// Bytes of the file on disk so far (a resumed file starts at its offset); updated in
    /// place after every read and sampled by the reporter.
    pub bytes_done: &'a AtomicU64,
    /// Set on SIGINT: stop reading, keep what is on disk.
    pub cancel: &'a AtomicBool,
    /// Hears the file's full length (when known) once the headers of an attempt are in.
    pub on_size: &'a dyn Fn(Option<u64>),
    /// Hears each retry before its wait: (retry number, wait, why).
    pub on_retry: &'a dyn Fn(u32, Duration, &Failure),
}

/// A transfer's end, with how many attempts it took.
pub(crate) struct Transfer {
    pub result: Result<Fetched, Failed>,
    pub attempts: u32,
    /// Body bytes received in this run, over all attempts.
    pub received: u64,
}

/// GETs `url` into `part`, resuming a `.part` left by an earlier attempt or run when its
/// saved validator allows, and retrying transient failures with backoff.
pub(crate) fn fetch(
    agent: &Agent,
    http: &Http,
    policy: &Backoff,
    url: &str,
    part: &Path,
    sink: &Sink<'_>,
) -> Transfer {
    let mut received = 0u64;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let result = fetch_once(agent, http, url, part, sink, &mut received);
        let failure = match &result {
            Err(failed) if failed.failure.is_transient() && attempts <= policy.retries => {
                &failed.failure
            }
            _ => {
                return Transfer {
                    result,
                    attempts,
                    received,
                };
            }
        };
        let retry_after = match failure {
            Failure::Http { retry_after, .. } => *retry_after,
            _ => None,
        };
        let wait = policy.delay(attempts, retry_after, jitter());
        (sink.on_retry)(attempts, wait, failure);
        if !sleep_unless_cancelled(wait, sink.cancel) {
            return Transfer {
                result: Err(Failure::Interrupted.into()),
                attempts,
                received,
            };
        }
    }
}

/// Sleeps in short slices so a Ctrl-C is not kept waiting; false when cancelled.
fn sleep_unless_cancelled(wait: Duration, cancel: &AtomicBool) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if cancel.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    !cancel.load(Ordering::Relaxed)
}

/// Uniform in [0, 1), from a randomly keyed hash of the clock and the thread: enough to
/// spread retries of threads that failed together.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    Instant::now().hash(&mut h);
    std::thread::current().id().hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// One attempt. Resumes with `Range` + `If-Range` when the `.part` has a saved validator
/// for this URL; a `200` answer means the resource changed (or Range is unsupported) and
/// the file starts over; a `416` for a complete `.part` finishes it.
fn fetch_once(
    agent: &Agent,
    http: &Http,
    url: &str,
    part: &Path,
    sink: &Sink<'_>,
    received: &mut u64,
) -> Result<Fetched, Failed> {
    let url_id = resume::url_id(url);
    let offset = match resume::load(part) {
        Some(saved) if saved.url_id == url_id => fs::metadata(part)
            .ok()
            .filter(|m| m.is_file() && m.len() > 0)
            .map(|m| (m.len(), saved.validator)),
        _ => None,
    };
    let range;
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if let Some((len, validator)) = &offset {
        range = format!("bytes={len}-");
        extra.push(("Range", &range));
        extra.push(("If-Range", validator));
    }
    let response = http::get(agent, http, url, &extra).map_err(Failed::from)?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let fail = |failure| Failed {
        failure,
        http_status: Some(status),
    };
    let (start, total) = match (status, &offset) {
        (206, Some((len, _))) => {
            let range = header("content-range").and_then(|v| resume::parse_content_range(&v));
            match range {
                Some(r) if r.start == *len => (*len, r.total),
                // Not the range we asked for: never splice it; the next attempt starts over.
                _ => {
                    resume::discard(part);
                    return Err(fail(Failure::Transport(
                        "server answered a resume with a different range".into(),
                    )));
                }
            }
        }
        (416, Some((len, _))) => {
            let total = header("content-range").and_then(|v| resume::unsatisfied_total(&v));
            resume::discard(part);
            if total == Some(*len) {
                // The .part is already complete (its validator still matched, or the
                // server would have answered 200): nothing left to fetch.
                sink.bytes_done.store(*len, Ordering::Relaxed);
                (sink.on_size)(Some(*len));
                return Ok(Fetched {
                    http_status: status,
                    bytes: *len,
                });
            }
            let _ = fs::remove_file(part);
            return Err(fail(Failure::Transport(
                "server refused the resume range; starting over".into(),
            )));
        }
        (200..=299, _) => (
            0,
            header("content-length").and_then(|v| v.parse::<u64>().ok()),
        ),
        _ => {
            let retry_after = header("retry-after")
                .and_then(|v| retry::parse_retry_after(&v, std::time::SystemTime::now()));
            return Err(fail(Failure::Http {
                status,
                retry_after,
            }));
        }
    };
    (sink.on_size)(total);
    sink.bytes_done.store(start, Ordering::Relaxed);
    let file = if start > 0 {
        open_part_append(part)
    } else {
        // Save the validator only where a resume can pay for the extra file.
        let worth_it = total.is_none_or(|t| t >= resume::MIN_RESUMABLE_BYTES);
        let validator = resume::validator(
            header("etag").as_deref(),
            header("last-modified").as_deref(),
        );
        match validator {
            Some(validator) if worth_it => {
                let _ = resume::save(part, &resume::Saved { url_id, validator });
            }
            _ => resume::discard(part),
        }
        create_part(part)
    };
    let mut file = file.map_err(|e| fail(Failure::io("create", part, &e)))?;
    let reader = response
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .reader();
    let got = copy_body(
        reader,
        &mut file,
        part,
        total.is_some(),
        http,
        sink,
        received,
    )
    .map_err(fail)?;
    let size = start + got;
    if let Some(total) = total
        && size != total
    {
        return Err(fail(Failure::ShortBody {
            got: size,
            want: total,
        }));
    }
    Ok(Fetched {
        http_status: status,
        bytes: size,
    })
}

/// Forgets how to resume a `.part` (its bytes stay until removed or overwritten).
pub(crate) fn discard_resume(part: &Path) {
    resume::discard(part);
}

/// True when a `.part` can be resumed by a later run (it has a saved validator).
pub(crate) fn is_resumable(part: &Path) -> bool {
    resume::load(part).is_some()
}

fn open_part_append(part: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(part)
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
    received: &mut u64,
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
        *received += n as u64;
        sink.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
    }
}
