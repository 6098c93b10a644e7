//! The bounded download pool: `-j N` threads (threadpool) take jobs from a bounded
//! channel, so memory stays flat however long the list. Each job is downloaded to
//! `NAME.part`, handed to the hash pool when a digest is wanted (the thread moves on to
//! the next URL at once), and landed under `NAME` only when complete and verified.

use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use threadpool::ThreadPool;
use ureq::Agent;

use crate::digest::{Algo, Digest};
use crate::download::{self, Fetched, Sink, http::redact_url};
use crate::error::Failure;
use crate::hashpool::{HashError, HashPool};
use crate::job::{Event, JobId, JobSpec, Outcome, Status};
use crate::settings::Http;

/// (job, file name, digest) of files that landed, for --write-checksums.
pub(crate) type Landed = Mutex<Vec<(JobId, String, Digest)>>;

/// What every download thread shares.
pub(crate) struct Landing {
    pub agent: Agent,
    pub http: Http,
    pub dir: PathBuf,
    pub overwrite: bool,
    /// Resume `.part` files left by earlier runs (off with --no-continue).
    pub resume: bool,
    /// Present when any file will need a digest.
    pub hashes: Option<Arc<HashPool>>,
    /// Hash every landed file (for --write-checksums) with this algorithm when no
    /// expected digest says otherwise.
    pub digest_all: Option<Algo>,
    pub events: Sender<Event>,
    pub cancel: Arc<AtomicBool>,
    /// With --write-checksums: (job, name, digest) of every file that landed or was
    /// verified in place.
    pub landed: Option<Arc<Landed>>,
}

/// Feeds `jobs` through a bounded channel to `threads` download threads and waits for
/// them. Hash work may still be in flight in the hash pool when this returns.
pub(crate) fn run(
    jobs: impl Iterator<Item = (JobId, JobSpec)>,
    threads: NonZeroUsize,
    landing: Arc<Landing>,
) {
    let worker = Arc::clone(&landing);
    let (tx, pool) = bounded_workers("download", threads, move |(id, spec): (JobId, JobSpec)| {
        worker.run_job(id, spec)
    });
    for job in jobs {
        if landing.cancel.load(Ordering::Relaxed) || tx.send(job).is_err() {
            break;
        }
    }
    drop(tx);
    join_unless_interrupted(pool, &landing.cancel);
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

fn join_unless_interrupted(pool: ThreadPool, cancel: &AtomicBool) {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        pool.join();
        let _ = done_tx.send(());
    });
    let mut cancelled_at: Option<Instant> = None;
    loop {
        match done_rx.recv_timeout(Duration::from_millis(50)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
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
        if !self.overwrite && final_path.exists() {
            return self.skip_existing(outcome, start, &spec, final_path);
        }
        let part = part_path(&final_path);
        if !self.resume {
            download::discard_resume(&part);
        }
        let bytes_done = Arc::new(AtomicU64::new(0));
        let started = std::sync::Once::new();
        let on_size = |size: Option<u64>| {
            started.call_once(|| {
                let _ = self.events.send(Event::Started {
                    id,
                    name: spec.name.clone(),
                    size,
                    bytes_done: Arc::clone(&bytes_done),
                });
            });
        };
        let on_retry = |attempt: u32, wait: Duration, why: &Failure| {
            let _ = self.events.send(Event::Retrying {
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
        let transfer = download::fetch(
            &self.agent,
            &self.http,
            &self.http.backoff,
            &spec.url,
            &part,
            &sink,
        );
        outcome.attempts = transfer.attempts;
        outcome.bytes = transfer.received;
        match transfer.result {
            Ok(Fetched { http_status, .. }) => {
                outcome.http_status = Some(http_status);
                self.land(outcome, start, spec.expect.clone(), part, final_path);
            }
            Err(failed) => {
                outcome.http_status = failed.http_status;
                // Keep what a later run can resume; anything else is just clutter.
                if !download::is_resumable(&part) {
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
        part: PathBuf,
        final_path: PathBuf,
    ) {
        let algo = expect.as_ref().map(Digest::algo).or(self.digest_all);
        let (Some(algo), Some(hashes)) = (algo, &self.hashes) else {
            let status = match rename_into_place(&part, &final_path, self.overwrite) {
                Ok(()) => Status::Ok,
                Err(failure) => Status::Failed(failure),
            };
            return self.finish(outcome, start, status);
        };
        let _ = self.events.send(Event::Verifying { id: outcome.id });
        let events = self.events.clone();
        let overwrite = self.overwrite;
        let landed = self.landed.clone();
        let cancel = Arc::clone(&self.cancel);
        let name = file_name(&final_path);
        hashes.submit(
            part.clone(),
            algo,
            Box::new(move |result| {
                let mut outcome = outcome;
                let status = match check_digest(result, expect.as_ref(), &part) {
                    Ok(got) => {
                        outcome.verified = expect.is_some();
                        outcome.digest = Some(got);
                        match rename_into_place(&part, &final_path, overwrite) {
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
                        download::discard_resume(&part);
                        let _ = fs::remove_file(&part);
                        Status::Failed(failure)
                    }
                };
                send_finished(&events, outcome, start, status);
            }),
        );
    }

    /// The final file exists and --overwrite was not given: leave it, but verify it when
    /// its digest is known.
    fn skip_existing(&self, outcome: Outcome, start: Instant, spec: &JobSpec, path: PathBuf) {
        let algo = spec.expect.as_ref().map(Digest::algo).or(self.digest_all);
        let (Some(algo), Some(hashes)) = (algo, &self.hashes) else {
            return self.finish(outcome, start, Status::Skipped);
        };
        let _ = self.events.send(Event::Verifying { id: outcome.id });
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
        landed.push((id, name, digest.clone()));
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn send_finished(events: &Sender<Event>, mut outcome: Outcome, start: Instant, status: Status) {
    // A mismatch reports the digest that was computed, like a success does.
    if let Status::Failed(Failure::Mismatch { got, .. }) = &status {
        outcome.digest = Some(got.clone());
    }
    outcome.status = status;
    outcome.elapsed = start.elapsed();
    let _ = events.send(Event::Finished(Box::new(outcome)));
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

/// Moves a complete (and verified) `.part` to its final name. Without `overwrite` this
/// never replaces a file that appeared meanwhile: a hard link fails if the name exists,
/// where a rename would silently clobber it.
fn rename_into_place(part: &Path, final_path: &Path, overwrite: bool) -> Result<(), Failure> {
    download::discard_resume(part);
    if overwrite {
        return fs::rename(part, final_path).map_err(|e| Failure::io("rename", part, &e));
    }
    match fs::hard_link(part, final_path) {
        Ok(()) => fs::remove_file(part).map_err(|e| Failure::io("remove", part, &e)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Failure::io(
            "rename into place (a file appeared under the final name; kept both)",
            final_path,
            &e,
        )),
        // Filesystems without hard links: fall back to a plain rename.
        Err(_) => fs::rename(part, final_path).map_err(|e| Failure::io("rename", part, &e)),
    }
}

/// Paths as the user will recognise them: `-d .` gives `NAME`, not `./NAME`.
fn display_path(path: &Path) -> String {
    path.strip_prefix(".")
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
