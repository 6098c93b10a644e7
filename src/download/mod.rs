//! One HTTP transfer into `NAME.part`: request, status check, body streamed to disk,
//! length check, and the advisory lock that makes a `.part` one process's at a time.
//! Knows nothing about final names, digests or the terminal.

pub(crate) mod hosts;
pub(crate) mod http;
pub(crate) mod limit;
pub(crate) mod netrc;
pub(crate) mod proxy;
pub(crate) mod resume;
pub(crate) mod retry;
pub(crate) mod segment;
pub(crate) mod segments;
pub(crate) mod tls;
pub(crate) mod unnamed;
pub(crate) mod whole;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
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
    /// Hash with `digest` even a body that can be resumed, as it arrives (a resumed
    /// `.part`'s bytes on disk read through the hasher first): for a job with a known
    /// digest and another mirror left, whose mismatch must be known on this thread so the
    /// next mirror can be tried. Without it such a body goes to the hash pool.
    pub hash_resumable: bool,
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
    // A `.part` already there may be another run's, still being written: take it (lock
    // first, then read its sidecar), or leave it alone. A new directory has none.
    let lock = match job.may_have_sidecar {
        true => PartLock::take_existing(job.part),
        false => Ok(None),
    };
    let lock = match lock {
        Ok(lock) => lock,
        Err(failure) => {
            return Transfer {
                result: Err(failure.into()),
                attempts,
                received,
                sidecar: Sidecar {
                    foreign: true,
                    ..Sidecar::default()
                },
            };
        }
    };
    let mut sidecar = if job.may_have_sidecar {
        Sidecar::read(job.part)
    } else {
        Sidecar::default()
    };
    sidecar.lock = lock;
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
        if let Err(Failed {
            failure: Failure::Busy { .. },
            ..
        }) = &result
        {
            // Another run took the `.part` first: it is theirs to finish or remove.
            carry.sidecar.foreign = true;
        }
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
        if !crate::cancel::sleep(wait, sink.cancel) {
            return Transfer {
                result: Err(Failure::Interrupted.into()),
                attempts,
                received,
                sidecar: carry.sidecar,
            };
        }
    }
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
    let header = |name: &str| http::header(&response, name);
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
                if let Some(algo) = job.digest.filter(|_| job.hash_resumable)
                    && carry.hashing.as_ref().is_none_or(|h| h.bytes != *len)
                {
                    carry.hashing = hash_prefix(part, *len, algo);
                }
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
        _ => return Err(fail(http::status_failure(&response))),
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
        open_part_append(part, &mut sidecar.lock)
    } else {
        // Save the validator only where a resume can pay for the extra file.
        let worth_it = total.is_none_or(|t| t >= resume::MIN_RESUMABLE_BYTES);
        let validator = resume::validator(
            header("etag").as_deref(),
            header("last-modified").as_deref(),
        );
        let saved = validator
            .filter(|_| worth_it)
            .map(|validator| resume::Saved {
                url_id: resume::url_id(url),
                validator,
            });
        // Not resumable: nobody needs its name before it lands. Filesystems without
        // O_TMPFILE answer EOPNOTSUPP (or EISDIR on old kernels): use the .part then.
        // The sidecar is written only once the .part is this run's (locked).
        let unnamed_dir = carry.unnamed_dir.filter(|_| saved.is_none());
        let opened = match unnamed_dir {
            Some(dir) => match unnamed::open_in(dir) {
                Ok(file) => {
                    unnamed = true;
                    Ok(file)
                }
                Err(_) => create_part(part, &mut sidecar.lock),
            },
            None => create_part(part, &mut sidecar.lock),
        };
        if opened.is_ok() {
            match saved {
                Some(saved) => sidecar.save(part, saved),
                None => sidecar.discard(part),
            }
        }
        opened
    };
    let mut file = file.map_err(fail)?;
    // Bodies that cannot be resumed (under 1 MiB, or without a validator) are hashed as
    // they stream in: a round trip to a hash worker would cost more than the hashing, and
    // an unnamed file has no path to hand over. A resumable body lands as NAME.part and
    // goes to the worker pool once complete, so this thread takes the next URL while a
    // worker hashes it, unless another mirror is left (`hash_resumable`). Hashing
    // continues only where the last attempt's stopped.
    if let Some(algo) = job
        .digest
        .filter(|_| job.hash_resumable || !sidecar.is_resumable())
        && carry.hashing.as_ref().is_none_or(|h| h.bytes != start)
    {
        carry.hashing = match start {
            0 => Some(Hashing {
                hasher: Hasher::new(algo),
                bytes: 0,
            }),
            // The bytes an earlier attempt or run left, hashed before the rest arrives.
            _ if job.hash_resumable => hash_prefix(part, start, algo),
            _ => None,
        };
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

/// The first `len` bytes of `part` through a new hasher; `None` when they cannot all be
/// read (the body is then hashed once complete, on the pool).
fn hash_prefix(part: &Path, len: u64, algo: Algo) -> Option<Hashing> {
    let mut hasher = Hasher::new(algo);
    let file = File::open(part).ok()?;
    let mut prefix = io::BufReader::with_capacity(COPY_BUF_BYTES, file.take(len));
    let bytes = io::copy(&mut prefix, &mut HashWriter(&mut hasher)).ok()?;
    (bytes == len).then_some(Hashing { hasher, bytes })
}

/// Bytes written to it go through a hasher.
struct HashWriter<'a>(&'a mut Hasher);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The digest of a complete body of `size` bytes, if all of them were hashed.
fn finish_hashing(hashing: &mut Option<Hashing>, size: u64) -> Option<Digest> {
    hashing
        .take()
        .filter(|h| h.bytes == size)
        .map(|h| h.hasher.finish())
}

/// Opens the `.part` to resume it. It must be there (a new file would take the tail of
/// the body at offset 0) and be this run's: locked by it already, or lockable now.
fn open_part_append(part: &Path, lock: &mut Option<Arc<PartLock>>) -> Result<File, Failure> {
    let file = OpenOptions::new()
        .append(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(part)
        .map_err(|e| Failure::io("open", part, &e))?;
    PartLock::hold(&file, part, lock)?;
    Ok(file)
}

/// Opens `NAME.part` for writing from its start, without following a symlink planted in
/// its place, and empties it only once it is locked: another run's `.part` is never
/// truncated under it.
fn create_part(part: &Path, lock: &mut Option<Arc<PartLock>>) -> Result<File, Failure> {
    let open = |new: bool| {
        OpenOptions::new()
            .write(true)
            .create_new(new)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(part)
    };
    // Usually the `.part` is new: created empty, nothing to truncate or look at. ext4
    // flushes a file truncated to 0 when it is closed (`auto_da_alloc`), which would hold
    // up the landing of a big body, so only an old `.part` with bytes in it is emptied.
    let (file, is_new) = match open(true) {
        Ok(file) => (file, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match open(false) {
            Ok(file) => (file, false),
            // Removed in between: it is new after all.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                open(true).map_err(|e| Failure::io("create", part, &e))?,
                true,
            ),
            Err(e) => return Err(Failure::io("create", part, &e)),
        },
        Err(e) => return Err(Failure::io("create", part, &e)),
    };
    PartLock::hold(&file, part, lock)?;
    if !is_new {
        let len = file
            .metadata()
            .map_err(|e| Failure::io("stat", part, &e))?
            .len();
        if len > 0 {
            file.set_len(0)
                .map_err(|e| Failure::io("truncate", part, &e))?;
        }
    }
    Ok(file)
}

/// The `.part` locks this process holds, by (device, inode).
static HELD_LOCKS: Mutex<BTreeMap<(u64, u64), Weak<PartLock>>> = Mutex::new(BTreeMap::new());

/// An advisory, exclusive `flock` on a `.part`, held from before its first byte is written
/// until it has landed (or failed): two runs into one directory never write one `.part`
/// together. The other run does not wait: it reports the file as `busy` (a failure, so
/// its exit status is 1 and `--failed` lists it for a later run). `flock` follows the open
/// file, not the name, so a `.part` renamed into place stays locked until we let go.
#[derive(Debug)]
pub(crate) struct PartLock {
    /// A handle of the locked file: the lock lasts as long as it is open.
    _file: File,
    /// Which file it is (device, inode).
    id: (u64, u64),
}

impl PartialEq for PartLock {
    fn eq(&self, other: &PartLock) -> bool {
        self.id == other.id
    }
}

impl Eq for PartLock {}

impl PartLock {
    /// Locks the `.part` that is already there, if any; `Err(Busy)` when another process
    /// holds it. Errors other than "not there" are left for the open that follows.
    fn take_existing(part: &Path) -> Result<Option<Arc<PartLock>>, Failure> {
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(part)
        else {
            return Ok(None);
        };
        let mut lock = None;
        PartLock::hold(&file, part, &mut lock)?;
        Ok(lock)
    }

    /// Makes sure `lock` holds the file `file` is open on: already held (same inode), or
    /// locked now. `Err(Busy)` when another process holds it.
    pub(crate) fn hold(
        file: &File,
        part: &Path,
        lock: &mut Option<Arc<PartLock>>,
    ) -> Result<(), Failure> {
        let meta = file.metadata().map_err(|e| Failure::io("open", part, &e))?;
        let id = (meta.dev(), meta.ino());
        if lock.as_ref().is_some_and(|l| l.id == id) {
            return Ok(());
        }
        // Threads of this run share a lock (a file split into segments is written by
        // several): `flock` belongs to an open file, so a second open here would be
        // refused by our own lock.
        let mut held = HELD_LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ours) = held.get(&id).and_then(Weak::upgrade) {
            *lock = Some(ours);
            return Ok(());
        }
        use rustix::fs::{FlockOperation, flock};
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(Failure::Busy {
                    part: part.to_path_buf(),
                });
            }
            Err(e) => return Err(Failure::io("lock", part, &io::Error::from(e))),
        }
        let handle = file
            .try_clone()
            .map_err(|e| Failure::io("lock", part, &e))?;
        let ours = Arc::new(PartLock { _file: handle, id });
        held.retain(|_, weak| weak.strong_count() > 0);
        held.insert(id, Arc::downgrade(&ours));
        *lock = Some(ours);
        Ok(())
    }
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
                if !wait.is_zero() && !crate::cancel::sleep(wait, sink.cancel) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_locked_elsewhere_is_busy_and_this_runs_threads_share_their_lock() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("f.part");
        fs::write(&part, b"x").unwrap();
        // Another open file holding the lock stands for another process.
        let theirs = File::open(&part).unwrap();
        rustix::fs::flock(
            &theirs,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        )
        .unwrap();
        assert_eq!(
            PartLock::take_existing(&part),
            Err(Failure::Busy { part: part.clone() })
        );
        drop(theirs);

        let mine = PartLock::take_existing(&part).unwrap().unwrap();
        let mut again = None;
        let file = open_part_append(&part, &mut again).unwrap();
        assert!(
            Arc::ptr_eq(&mine, again.as_ref().unwrap()),
            "shared, not refused"
        );
        drop(file);
        let other = File::open(&part).unwrap();
        assert!(
            rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                .is_err(),
            "held while any holder lives"
        );
        drop((mine, again));
        assert!(
            rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok(),
            "released with the last holder"
        );
        assert_eq!(
            PartLock::take_existing(&dir.path().join("none.part")),
            Ok(None)
        );
    }
}
