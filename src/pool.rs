//! The download pool: `-j N` threads pull jobs one at a time from the lazily read plan, so
//! memory stays flat however long the list. Each job is downloaded to `NAME.part`, handed
//! to the hash pool when a digest is wanted (the thread moves on to the next URL at once),
//! and landed under `NAME` only when complete and verified.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use threadpool::ThreadPool;
use ureq::Agent;

use crate::digest::{Algo, Digest};
use crate::download::http::origin;
use crate::download::limit::RateLimit;
use crate::download::resume::Sidecar;
use crate::download::unnamed::{self, Linker};
use crate::download::{self, Fetch, Fetched, Sink, http::redact_url};
use crate::error::Failure;
use crate::hashpool::{HashError, HashPool};
use crate::input::manifest;
use crate::job::{Event, JobId, JobSpec, Outcome, Status};
use crate::job_lines::JobLines;
use crate::report::Events;
use crate::settings::Http;

/// Manifest lines (sha256sum's format) of the files that landed, for --write-checksums.
pub(crate) type Landed = Mutex<JobLines>;

/// What every download thread shares.
pub(crate) struct Landing {
    pub agent: Agent,
    pub http: Http,
    pub dir: PathBuf,
    pub overwrite: bool,
    /// Resume `.part` files left by earlier runs (off with --no-continue).
    pub resume: bool,
    /// `dir` was new or empty when the run began: no final name, `.part` or sidecar can be there
    /// unless this run put it there, so the per-file lookups for them are skipped (two of
    /// the six file-system calls of a small file). Landing still never replaces a file.
    pub fresh_dir: bool,
    /// How unnamed files get their names in `dir` (see `download::unnamed`); `None`: they
    /// can't, and every body goes through `NAME.part`.
    pub linker: Option<Linker>,
    /// Present when any file will need a digest.
    pub hashes: Option<Arc<HashPool>>,
    /// Hash every landed file (for --write-checksums) with this algorithm when no
    /// expected digest says otherwise.
    pub digest_all: Option<Algo>,
    pub events: Events,
    pub cancel: Arc<AtomicBool>,
    /// With --write-checksums: (job, name, digest) of every file that landed or was
    /// verified in place.
    pub landed: Option<Arc<Landed>>,
    /// --max-per-host.
    pub host_slots: Option<HostSlots>,
    /// Hosts that answered 429 or 503 with Retry-After, until when.
    pub pauses: HostPauses,
    /// --limit-rate, shared by every download.
    pub limit: Option<RateLimit>,
    /// --fsync: each file is synced before it gets its final name.
    pub fsync: bool,
}

/// `--max-per-host N`: at most N downloads at once per `host:port`. A thread whose next
/// job is on a busy host waits for a slot there. Only hosts with a download running have
/// an entry, so the map stays as small as `-j`.
pub(crate) struct HostSlots {
    max: NonZeroUsize,
    busy: Mutex<HashMap<String, usize>>,
    freed: Condvar,
}

/// A download's place on its host, given back on drop.
struct HostSlot<'a> {
    slots: &'a HostSlots,
    host: String,
}

impl HostSlots {
    pub(crate) fn new(max: NonZeroUsize) -> HostSlots {
        HostSlots {
            max,
            busy: Mutex::new(HashMap::new()),
            freed: Condvar::new(),
        }
    }

    /// Waits until `host` has a free slot and takes it.
    fn take(&self, host: String) -> HostSlot<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while busy.get(&host).is_some_and(|n| *n >= self.max.get()) {
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *busy.entry(host.clone()).or_insert(0) += 1;
        HostSlot { slots: self, host }
    }
}

impl Drop for HostSlot<'_> {
    fn drop(&mut self) {
        let mut busy = self
            .slots
            .busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = busy.get_mut(&self.host) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.host);
            }
        }
        // Waiters may be waiting for other hosts: wake them all to look (at most -j).
        self.slots.freed.notify_all();
    }
}

/// A 429 or 503 with Retry-After pauses its whole host: no download starts there, from any
/// thread, until the wait the server asked for (capped as a retry's is) is over. Downloads
/// already in their retry loop keep their own waits. An entry goes when a thread finds its
/// pause over, so the map holds little more than the hosts paused now.
#[derive(Default)]
pub(crate) struct HostPauses {
    until: Mutex<HashMap<String, Instant>>,
}

impl HostPauses {
    fn pause(&self, host: &str, until: Instant) {
        let mut map = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        let at = map.entry(host.to_string()).or_insert(until);
        *at = (*at).max(until);
    }

    /// Waits out `host`'s pause, if it has one; false when cancelled meanwhile.
    fn wait(&self, host: &str, cancel: &AtomicBool) -> bool {
        loop {
            let until = {
                let mut map = self.until.lock().unwrap_or_else(PoisonError::into_inner);
                match map.get(host) {
                    Some(until) if *until > Instant::now() => *until,
                    Some(_) => {
                        map.remove(host);
                        return true;
                    }
                    None => return true,
                }
            };
            if cancel.load(Ordering::Relaxed) {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// `scheme://user@Host:port/path` ─► `host:port`, with the scheme's default port, so
/// `http://h/` and `http://H:80/` count as one host.
fn host_key(url: &str) -> String {
    // The same origin rule as redirects and credentials use; a URL without a scheme
    // (never produced by the list parser) keys as itself.
    origin(url).map_or_else(|| url.to_ascii_lowercase(), |(_, host_port)| host_port)
}

/// Runs `jobs` on a `threadpool::ThreadPool` of `threads` download threads and waits for them (after an interrupt, only
/// `INTERRUPT_GRACE`). Hash work may still be in flight in the hash pool when this returns.
///
/// Each thread takes its next job straight from the iterator (which reads and parses the
/// list lazily) under a lock held for one `next()`: no queue to bound and no hand-off
/// between threads per job, which at thousands of small files a second cost two context
/// switches each.
pub(crate) fn run(
    jobs: impl Iterator<Item = (JobId, JobSpec)> + Send + 'static,
    threads: NonZeroUsize,
    landing: Arc<Landing>,
) {
    let jobs = Arc::new(Mutex::new(jobs));
    // Each thread holds a sender until it ends: the receiver hears the last one go.
    let (running, all_done) = std::sync::mpsc::channel::<()>();
    let pool = ThreadPool::with_name("download".into(), threads.get());
    for _ in 0..threads.get() {
        let jobs = Arc::clone(&jobs);
        let landing = Arc::clone(&landing);
        let running = running.clone();
        pool.execute(move || {
            // Locals drop in reverse order: this thread's hold on the landing (and so
            // on the hash pool) goes before the sender that says it is done.
            let _running = running;
            let (jobs, landing) = (jobs, landing);
            // SIGINT: stop starting work; running downloads stop on their own.
            while !landing.cancel.load(Ordering::Relaxed) {
                // A poisoned lock means a thread panicked mid-`next()`: stop too.
                let next = jobs.lock().ok().and_then(|mut jobs| jobs.next());
                let Some((id, spec)) = next else { break };
                landing.run_job(id, spec);
            }
        });
    }
    drop(running);
    wait_unless_interrupted(&all_done, &landing.cancel);
}

/// `threads` threads (a threadpool) taking jobs from a bounded channel: however long the
/// input, at most `2 × threads` jobs wait in memory. Drop the sender to let them finish.
pub(crate) fn bounded_workers<J: Send + 'static>(
    name: &str,
    threads: NonZeroUsize,
    work: impl Fn(J) + Send + Sync + 'static,
) -> (SyncSender<J>, ThreadPool) {
    let (tx, rx) = sync_channel::<J>(threads.get() * 2);
    let rx = Arc::new(Mutex::new(rx));
    let work = Arc::new(work);
    let pool = ThreadPool::with_name(name.into(), threads.get());
    for _ in 0..threads.get() {
        let rx = Arc::clone(&rx);
        let work = Arc::clone(&work);
        pool.execute(move || {
            loop {
                // The lock is held only while waiting for the next job, never during one.
                let next = rx.lock().map(|r| r.recv());
                let Ok(Ok(job)) = next else { break };
                work(job);
            }
        });
    }
    (tx, pool)
}

/// After an interrupt, running downloads stop at their next read; one blocked on a silent
/// server would hold the run until its stall timeout, so wait only this long for them.
/// Their `.part` files are on disk either way.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// Waits until every sender of `all_done` is gone, or `INTERRUPT_GRACE` after `cancel`.
fn wait_unless_interrupted(all_done: &Receiver<()>, cancel: &AtomicBool) {
    let mut cancelled_at: Option<Instant> = None;
    loop {
        match all_done.recv_timeout(Duration::from_millis(50)) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if cancel.load(Ordering::Relaxed) {
            let since = *cancelled_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= INTERRUPT_GRACE {
                return;
            }
        }
    }
}

impl Landing {
    fn run_job(&self, id: JobId, spec: JobSpec) {
        let spec = Arc::new(spec);
        let start = Instant::now();
        let final_path = self.dir.join(&spec.name);
        let mut outcome = Outcome {
            id,
            url: redact_url(&spec.url),
            path: display_path(&final_path),
            status: Status::Ok,
            verified: false,
            http_status: None,
            bytes: 0,
            elapsed: Duration::ZERO,
            attempts: 0,
            digest: None,
            job: Arc::clone(&spec),
        };
        if self.cancel.load(Ordering::Relaxed) {
            return self.finish(outcome, start, Status::Failed(Failure::Interrupted));
        }
        if !self.overwrite && !self.fresh_dir && final_path.exists() {
            return self.skip_existing(outcome, start, &spec, final_path);
        }
        let part = part_path(&final_path);
        let bytes_done = Arc::new(AtomicU64::new(0));
        let started = std::sync::Once::new();
        let on_size = |size: Option<u64>| {
            started.call_once(|| {
                self.events.send(Event::Started {
                    id,
                    name: spec.name.clone(),
                    size,
                    bytes_done: Arc::clone(&bytes_done),
                });
            });
        };
        let host = host_key(&spec.url);
        let on_retry = |attempt: u32, wait: Duration, why: &Failure| {
            // The server asked for a pause: no other download starts there meanwhile.
            if let Failure::Http {
                status: 429 | 503,
                retry_after: Some(_),
            } = why
            {
                self.pauses.pause(&host, Instant::now() + wait);
            }
            self.events.send(Event::Retrying {
                name: spec.name.clone(),
                attempt: attempt + 1,
                wait,
                reason: why.to_string(),
            });
        };
        let sink = Sink {
            bytes_done: &bytes_done,
            cancel: &self.cancel,
            on_size: &on_size,
            on_retry: &on_retry,
        };
        let job = Fetch {
            url: &spec.url,
            part: &part,
            http: &self.http,
            limit: self.limit.as_ref(),
            fsync: self.fsync,
            resume: self.resume,
            may_have_sidecar: !self.fresh_dir,
            may_be_unnamed: self.linker.is_some() && !self.overwrite,
            digest: spec.expect.as_ref().map(Digest::algo).or(self.digest_all),
        };
        if !self.pauses.wait(&host, &self.cancel) {
            return self.finish(outcome, start, Status::Failed(Failure::Interrupted));
        }
        let slot = self.host_slots.as_ref().map(|s| s.take(host.clone()));
        let mut transfer = download::fetch(&self.agent, &job, &sink);
        drop(slot);
        outcome.attempts = transfer.attempts;
        outcome.bytes = transfer.received;
        match transfer.result {
            Ok(Fetched {
                http_status,
                unnamed,
                digest,
            }) => {
                outcome.http_status = Some(http_status);
                let parts = Part {
                    path: part,
                    sidecar: transfer.sidecar,
                    unnamed,
                    digest,
                };
                self.land(outcome, start, spec.expect.clone(), parts, final_path);
            }
            Err(failed) => {
                outcome.http_status = failed.http_status;
                // Keep what a later run can resume; anything else is just clutter.
                if !transfer.sidecar.is_resumable() {
                    transfer.sidecar.discard(&part);
                    let _ = fs::remove_file(&part);
                }
                self.finish(outcome, start, Status::Failed(failed.failure));
            }
        }
    }

    /// The bytes are complete in `part`: verify (on the hash pool) when a digest is wanted,
    /// then rename to the final name. This thread returns at once when hashing is needed.
    fn land(
        &self,
        outcome: Outcome,
        start: Instant,
        expect: Option<Digest>,
        mut part: Part,
        final_path: PathBuf,
    ) {
        if let Some(got) = part.digest.take() {
            // Hashed on the way in: verify and land here, no hash worker needed.
            let mut outcome = outcome;
            let status = match check_digest(Ok(got), expect.as_ref(), &part.path) {
                Ok(got) => {
                    outcome.verified = expect.is_some();
                    outcome.digest = Some(got);
                    match self.place(&mut part, &final_path) {
                        Ok(()) => {
                            let name = file_name(&final_path);
                            record(self.landed.as_deref(), outcome.id, name, &outcome.digest);
                            Status::Ok
                        }
                        Err(failure) => Status::Failed(failure),
                    }
                }
                Err(failure) => {
                    // Unverified bytes never stay where a rerun could mistake them for a
                    // good partial download (an unnamed body just goes with its handle).
                    if part.unnamed.take().is_none() {
                        part.sidecar.discard(&part.path);
                        let _ = fs::remove_file(&part.path);
                    }
                    Status::Failed(failure)
                }
            };
            return self.finish(outcome, start, status);
        }
        let algo = expect.as_ref().map(Digest::algo).or(self.digest_all);
        let (Some(algo), Some(hashes)) = (algo, &self.hashes) else {
            let status = match self.place(&mut part, &final_path) {
                Ok(()) => Status::Ok,
                Err(failure) => Status::Failed(failure),
            };
            return self.finish(outcome, start, status);
        };
        // A body that was not hashed on the way in is always in `.part`.
        debug_assert!(part.unnamed.is_none());
        self.events.send(Event::Verifying { id: outcome.id });
        let events = self.events.clone();
        let overwrite = self.overwrite;
        let landed = self.landed.clone();
        let cancel = Arc::clone(&self.cancel);
        let name = file_name(&final_path);
        hashes.submit(
            part.path.clone(),
            algo,
            Box::new(move |result| {
                let mut outcome = outcome;
                let mut part = part;
                let status = match check_digest(result, expect.as_ref(), &part.path) {
                    Ok(got) => {
                        outcome.verified = expect.is_some();
                        outcome.digest = Some(got);
                        match rename_into_place(&mut part, &final_path, overwrite) {
                            Ok(()) => {
                                record(landed.as_deref(), outcome.id, name, &outcome.digest);
                                Status::Ok
                            }
                            Err(failure) => Status::Failed(failure),
                        }
                    }
                    // Stopped by an interrupt: the bytes are complete, keep them for the
                    // next run (it verifies them before they get their final name).
                    Err(Failure::Hashing(_)) if cancel.load(Ordering::Relaxed) => {
                        Status::Failed(Failure::Interrupted)
                    }
                    Err(failure) => {
                        // Unverified bytes never stay where a rerun could mistake them for
                        // a good partial download.
                        part.sidecar.discard(&part.path);
                        let _ = fs::remove_file(&part.path);
                        Status::Failed(failure)
                    }
                };
                send_finished(&events, outcome, start, status);
            }),
        );
    }

    /// Gives a complete (and verified) body its final name.
    fn place(&self, part: &mut Part, final_path: &Path) -> Result<(), Failure> {
        match (part.unnamed.take(), self.linker) {
            (Some(file), Some(linker)) => link_into_place(&file, final_path, linker),
            _ => rename_into_place(part, final_path, self.overwrite),
        }
    }

    /// The final file exists and --overwrite was not given: leave it, but verify it when
    /// its digest is known.
    fn skip_existing(&self, outcome: Outcome, start: Instant, spec: &JobSpec, path: PathBuf) {
        let algo = spec.expect.as_ref().map(Digest::algo).or(self.digest_all);
        let (Some(algo), Some(hashes)) = (algo, &self.hashes) else {
            return self.finish(outcome, start, Status::Skipped);
        };
        self.events.send(Event::Verifying { id: outcome.id });
        let events = self.events.clone();
        let landed = self.landed.clone();
        let expect = spec.expect.clone();
        hashes.submit(
            path.clone(),
            algo,
            Box::new(move |result| {
                let mut outcome = outcome;
                let status = match check_digest(result, expect.as_ref(), &path) {
                    Ok(got) => {
                        outcome.verified = expect.is_some();
                        outcome.digest = Some(got);
                        record(
                            landed.as_deref(),
                            outcome.id,
                            file_name(&path),
                            &outcome.digest,
                        );
                        Status::Skipped
                    }
                    Err(failure) => Status::Failed(failure),
                };
                send_finished(&events, outcome, start, status);
            }),
        );
    }

    fn finish(&self, outcome: Outcome, start: Instant, status: Status) {
        send_finished(&self.events, outcome, start, status);
    }
}

fn record(landed: Option<&Landed>, id: JobId, name: String, digest: &Option<Digest>) {
    if let (Some(landed), Some(digest)) = (landed, digest)
        && let Ok(mut landed) = landed.lock()
    {
        let style = manifest::Style::Gnu { binary: false };
        landed.push(id, &manifest::format_line(name.as_bytes(), digest, style));
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn send_finished(events: &Events, mut outcome: Outcome, start: Instant, status: Status) {
    // A mismatch reports the digest that was computed, like a success does.
    if let Status::Failed(Failure::Mismatch { got, .. }) = &status {
        outcome.digest = Some(got.clone());
    }
    outcome.status = status;
    outcome.elapsed = start.elapsed();
    events.send(Event::Finished(Box::new(outcome)));
}

/// Compares a hash-pool result with the expected digest.
fn check_digest(
    result: Result<Digest, HashError>,
    expect: Option<&Digest>,
    path: &Path,
) -> Result<Digest, Failure> {
    let got = result.map_err(|e| match e {
        HashError::Io { message, .. } => Failure::Io {
            op: "read",
            path: path.to_path_buf(),
            message,
        },
        HashError::WorkerDied(why) => Failure::Hashing(why),
    })?;
    match expect {
        Some(want) if *want != got => Err(Failure::Mismatch {
            want: want.clone(),
            got,
        }),
        _ => Ok(got),
    }
}

/// `dir/NAME` ─► `dir/NAME.part`.
pub(crate) fn part_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// A complete body on its way to the final name: in `.part` with its resume sidecar, or
/// in an unnamed file.
struct Part {
    path: PathBuf,
    sidecar: Sidecar,
    /// The body, when it is in an unnamed file rather than at `path`.
    unnamed: Option<fs::File>,
    /// The body's digest, when it was hashed on the way in.
    digest: Option<Digest>,
}

/// Names a complete unnamed file; never replaces a file that appeared meanwhile.
fn link_into_place(file: &fs::File, final_path: &Path, linker: Linker) -> Result<(), Failure> {
    unnamed::link(file, final_path, linker).map_err(|e| {
        let op = if e.kind() == io::ErrorKind::AlreadyExists {
            "link into place (a file appeared under the final name; kept it)"
        } else {
            "link into place"
        };
        Failure::io(op, final_path, &e)
    })
}

/// Moves a complete (and verified) `.part` to its final name. Without `overwrite` this
/// never replaces a file that appeared meanwhile: `renameat2(RENAME_NOREPLACE)` fails if
/// the name exists, where a plain rename would silently clobber it. Filesystems without
/// that flag get a hard link (which fails the same way) and an unlink of the `.part`.
fn rename_into_place(part: &mut Part, final_path: &Path, overwrite: bool) -> Result<(), Failure> {
    part.sidecar.discard(&part.path);
    let path = part.path.as_path();
    if overwrite {
        return fs::rename(path, final_path).map_err(|e| Failure::io("rename", path, &e));
    }
    let appeared = |e: &io::Error| {
        Failure::io(
            "rename into place (a file appeared under the final name; kept both)",
            final_path,
            e,
        )
    };
    match rename_noreplace(path, final_path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(appeared(&e)),
        // EINVAL/ENOSYS (no RENAME_NOREPLACE here): link and unlink instead. Anything
        // else (a vanished .part, EACCES) the link reports as well as the rename would.
        Err(_) => {}
    }
    match fs::hard_link(path, final_path) {
        Ok(()) => fs::remove_file(path).map_err(|e| Failure::io("remove", path, &e)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(appeared(&e)),
        // Filesystems without hard links: fall back to a plain rename.
        Err(_) => fs::rename(path, final_path).map_err(|e| Failure::io("rename", path, &e)),
    }
}

/// `rename(from, to)` that fails with `AlreadyExists` instead of replacing `to`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn rename_noreplace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Paths as the user will recognise them: `-d .` gives `NAME`, not `./NAME`.
fn display_path(path: &Path) -> String {
    path.strip_prefix(".")
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_name_host_and_port_with_the_default_port_filled_in() {
        assert_eq!(host_key("http://Example.org/a"), "example.org:80");
        assert_eq!(host_key("https://example.org"), "example.org:443");
        assert_eq!(
            host_key("HTTPS://u:p@example.org:8443/x?y#z"),
            "example.org:8443"
        );
        assert_eq!(host_key("http://[::1]/"), "[::1]:80");
        assert_eq!(host_key("http://[::1]:8080/"), "[::1]:8080");
        assert_eq!(host_key("http://h?q"), "h:80");
    }

    #[test]
    fn host_slots_hold_at_most_max_per_host_and_free_on_drop() {
        let slots = HostSlots::new(NonZeroUsize::new(2).unwrap());
        let a1 = slots.take("a:80".into());
        let _a2 = slots.take("a:80".into());
        let _b1 = slots.take("b:80".into());
        assert_eq!(slots.busy.lock().unwrap().get("a:80"), Some(&2));
        std::thread::scope(|s| {
            let waiter = s.spawn(|| drop(slots.take("a:80".into())));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiter.is_finished(), "a third slot on a:80 waits");
            drop(a1);
            waiter.join().unwrap();
        });
        assert_eq!(slots.busy.lock().unwrap().get("a:80"), Some(&1));
    }
}
