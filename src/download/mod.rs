//! One HTTP transfer into `NAME.part`: request, status check, body streamed to disk,
//! length check. Knows nothing about final names, digests or the terminal.

pub(crate) mod hosts;
pub(crate) mod http;
pub(crate) mod limit;
pub(crate) mod netrc;
pub(crate) mod resume;
pub(crate) mod retry;
pub(crate) mod segment;
pub(crate) mod segments;
pub(crate) mod unnamed;

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::digest::{Algo, Digest, Hasher};
use crate::error::Failure;
use crate::settings::Http;
use limit::RateLimit;
use resume::Sidecar;

/// Body copy buffer: large reads keep syscalls per byte low on fast links.
const COPY_BUF_BYTES: usize = 256 * 1024;

thread_local! {
    /// One copy buffer per download thread, reused for every file: allocating (and so
    /// zeroing) 256 KiB per file showed as 5% of the CPU time of 16 KiB downloads.
    static COPY_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// One file to fetch, and how.
pub(crate) struct Fetch<'a> {
    pub url: &'a str,
    /// Where the body goes: `NAME.part`.
    pub part: &'a Path,
    pub http: &'a Http,
    /// --limit-rate: consulted before each write.
    pub limit: Option<&'a RateLimit>,
    /// --fsync: sync the complete body to disk before reporting it complete.
    pub fsync: bool,
    /// Resume a `.part` left by an earlier attempt or run when its sidecar allows; when
    /// false (--no-continue) a leftover sidecar is discarded and the file starts over.
    pub resume: bool,
    /// False when the directory is known to hold no sidecar (it is new): skip the look.
    pub may_have_sidecar: bool,
    /// A body that cannot be resumed may go to an unnamed file (`unnamed`) instead of
    /// `part` (landing then links it; not with --overwrite, which replaces by rename).
    pub may_be_unnamed: bool,
    /// Hash the body with this algorithm as it arrives, when it cannot be resumed and every
    /// byte of it passes
    /// through this run (not after a resume from an earlier run): hashing overlaps the
    /// transfer, and a small body costs microseconds here where a round trip to a hash
    /// worker costs a named file and a rename. A body that cannot be resumed is always
    /// hashed so, which is what lets a verified body be unnamed too.
    pub digest: Option<Algo>,
    /// Asked when a fresh 200 with a length comes in: true takes the response over, unread,
    /// to split it over several connections (`Fetched::handover`).
    pub split: Option<&'a dyn Fn(&segment::SplitOffer) -> bool>,
}

/// What one transfer carries from attempt to attempt.
struct Carry<'a> {
    sidecar: Sidecar,
    /// Where a body that cannot be resumed may go unnamed.
    unnamed_dir: Option<&'a Path>,
    /// The body's digest so far, while every byte on disk went through it.
    hashing: Option<Hashing>,
}

struct Hashing {
    hasher: Hasher,
    /// Bytes hashed: the length of the file on disk while they agree.
    bytes: u64,
}

/// A complete transfer.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub http_status: u16,
    /// The body, when it went to an unnamed file rather than `part` (see `unnamed`).
    pub unnamed: Option<File>,
    /// The body's digest, when it was hashed on the way in (see `Fetch::digest`).
    pub digest: Option<Digest>,
    /// The response, unread, when `Fetch::split` took it over.
    pub handover: Option<segment::Handover>,
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
    /// The `.part`'s resume sidecar as it is now on disk.
    pub sidecar: Sidecar,
}

/// GETs `url` into `part`, resuming a `.part` left by an earlier attempt or run when its
/// saved validator allows, and retrying transient failures with backoff.
pub(crate) fn fetch(agent: &Agent, job: &Fetch<'_>, sink: &Sink<'_>) -> Transfer {
    let policy = &job.http.backoff;
    let mut received = 0u64;
    let mut attempts = 0u32;
    let sidecar = if job.may_have_sidecar {
        Sidecar::read(job.part)
    } else {
        Sidecar::default()
    };
    // A sidecar means a `.part` from an earlier run is likely there: go through it, so a
    // body that turns out not to be resumable still replaces (and so removes) it.
    let unnamed_dir = job
        .part
        .parent()
        .filter(|_| job.may_be_unnamed && !sidecar.on_disk);
    let mut carry = Carry {
        sidecar,
        unnamed_dir,
        hashing: None,
    };
    if !job.resume {
        carry.sidecar.discard(job.part);
    }
    loop {
        attempts += 1;
        let result = fetch_once(agent, job, &mut carry, sink, &mut received);
        let failure = match &result {
            Err(failed) if failed.failure.is_transient() && attempts <= policy.retries => {
                &failed.failure
            }
            _ => {
                return Transfer {
                    result,
                    attempts,
                    received,
                    sidecar: carry.sidecar,
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
                sidecar: carry.sidecar,
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
    job: &Fetch<'_>,
    carry: &mut Carry<'_>,
    sink: &Sink<'_>,
    received: &mut u64,
) -> Result<Fetched, Failed> {
    let (http, url, part) = (job.http, job.url, job.part);
    let sidecar = &mut carry.sidecar;
    // The URL's id is a sha256: computed only when there is a sidecar to compare it with.
    let offset = match &sidecar.saved {
        Some(saved) if saved.url_id == resume::url_id(url) => fs::metadata(part)
            .ok()
            .filter(|m| m.is_file() && m.len() > 0)
            .map(|m| (m.len(), saved.validator.clone())),
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
                    sidecar.discard(part);
                    return Err(fail(Failure::Transport(
                        "server answered a resume with a different range".into(),
                    )));
                }
            }
        }
        (416, Some((len, _))) => {
            let total = header("content-range").and_then(|v| resume::unsatisfied_total(&v));
            sidecar.discard(part);
            if total == Some(*len) {
                // The .part is already complete (its validator still matched, or the
                // server would have answered 200): nothing left to fetch.
                if job.fsync {
                    File::open(part)
                        .and_then(|f| f.sync_all())
                        .map_err(|e| fail(Failure::io("fsync", part, &e)))?;
                }
                sink.bytes_done.store(*len, Ordering::Relaxed);
                (sink.on_size)(Some(*len));
                return Ok(Fetched {
                    http_status: status,
                    unnamed: None,
                    digest: finish_hashing(&mut carry.hashing, *len),
                    handover: None,
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
    if let (0, 200, Some(offer_to), Some(total)) = (start, status, job.split, total) {
        let offer = segment::SplitOffer {
            total,
            ranges: header("accept-ranges").is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes")),
            validator: resume::validator(
                header("etag").as_deref(),
                header("last-modified").as_deref(),
            ),
        };
        if offer_to(&offer) {
            sidecar.discard(part);
            let handover = segment::Handover {
                response,
                total,
                validator: offer.validator,
            };
            return Ok(Fetched {
                http_status: status,
                unnamed: None,
                digest: None,
                handover: Some(handover),
            });
        }
    }
    let mut unnamed = false;
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
                let url_id = resume::url_id(url);
                sidecar.save(part, resume::Saved { url_id, validator });
            }
            _ => sidecar.discard(part),
        }
        // Not resumable: nobody needs its name before it lands. Filesystems without
        // O_TMPFILE answer EOPNOTSUPP (or EISDIR on old kernels): use the .part then.
        match carry.unnamed_dir.filter(|_| !sidecar.is_resumable()) {
            Some(dir) => unnamed::open_in(dir)
                .inspect(|_| unnamed = true)
                .or_else(|_| create_part(part)),
            None => create_part(part),
        }
    };
    let mut file = file.map_err(|e| fail(Failure::io("create", part, &e)))?;
    // Bodies that cannot be resumed (under 1 MiB, or without a validator) are hashed as
    // they stream in: a round trip to a hash worker would cost more than the hashing, and
    // an unnamed file has no path to hand over. A resumable body lands as NAME.part and
    // goes to the worker pool once complete, so this thread takes the next URL while a
    // worker hashes it. Hashing continues only where the last attempt's stopped.
    if let Some(algo) = job.digest.filter(|_| !sidecar.is_resumable())
        && carry.hashing.as_ref().is_none_or(|h| h.bytes != start)
    {
        carry.hashing = (start == 0).then(|| Hashing {
            hasher: Hasher::new(algo),
            bytes: 0,
        });
    }
    let reader = response
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .reader();
    let got = copy_body(
        reader,
        &mut file,
        job,
        total.is_some(),
        sink,
        received,
        carry.hashing.as_mut(),
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
    if job.fsync {
        file.sync_all()
            .map_err(|e| fail(Failure::io("fsync", part, &e)))?;
    }
    Ok(Fetched {
        http_status: status,
        unnamed: unnamed.then_some(file),
        digest: finish_hashing(&mut carry.hashing, size),
        handover: None,
    })
}

/// The digest of a complete body of `size` bytes, if all of them were hashed.
fn finish_hashing(hashing: &mut Option<Hashing>, size: u64) -> Option<Digest> {
    hashing
        .take()
        .filter(|h| h.bytes == size)
        .map(|h| h.hasher.finish())
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

/// Streams the body into `file` with this thread's reused buffer; returns the bytes
/// written.
fn copy_body(
    mut reader: impl Read,
    file: &mut File,
    job: &Fetch<'_>,
    has_length: bool,
    sink: &Sink<'_>,
    received: &mut u64,
    mut hashing: Option<&mut Hashing>,
) -> Result<u64, Failure> {
    COPY_BUF.with_borrow_mut(|buf| {
        buf.resize(COPY_BUF_BYTES, 0);
        // Under --limit-rate, small reads: the bytes wait in ureq's buffer and the
        // socket's, and TCP slows the sender down.
        let read_size = job.limit.map_or(buf.len(), |l| l.read_size(buf.len()));
        let mut total = 0u64;
        loop {
            if sink.cancel.load(Ordering::Relaxed) {
                return Err(Failure::Interrupted);
            }
            let n = match reader.read(&mut buf[..read_size]) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A body cut short surfaces as UnexpectedEof; with a Content-Length the
                // caller's length check names it precisely, without one the cut is all we
                // know.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && has_length => {
                    return Ok(total);
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Failure::Transport(
                        "connection closed before the body ended".into(),
                    ));
                }
                Err(e) => return Err(http::io_failure(&e, job.http)),
            };
            if let Some(limit) = job.limit {
                let wait = limit.take(n as u64, Instant::now());
                if !wait.is_zero() && !sleep_unless_cancelled(wait, sink.cancel) {
                    return Err(Failure::Interrupted);
                }
            }
            file.write_all(&buf[..n])
                .map_err(|e| Failure::io("write", job.part, &e))?;
            if let Some(h) = hashing.as_deref_mut() {
                h.hasher.update(&buf[..n]);
                h.bytes += n as u64;
            }
            total += n as u64;
            *received += n as u64;
            sink.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
        }
    })
}
