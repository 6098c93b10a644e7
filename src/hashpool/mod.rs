//! A pool of hash worker processes (children of this executable running the hidden
//! `hash-worker` subcommand). Owns the children, their pipes and their reaping; knows
//! nothing about manifests or output.
//!
//! Shape: a bounded queue of jobs; one feeder thread per child takes the next job, writes
//! one request, reads one reply and sends the result back as a value (`Hashed`) on the
//! channel the job came with. It never calls into its callers. One request in flight per
//! child means no pipe can fill up on both ends, and a child that finishes early simply takes
//! the next job. A child that dies is reaped and replaced, and its job retried once.

mod in_order;
pub(crate) mod protocol;
pub(crate) mod worker;

pub(crate) use in_order::hash_in_order;

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Write};
use std::num::NonZeroUsize;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::digest::{Algo, Digest};
use crate::error::Error;
use protocol::{FrameError, Reply as WireReply};

/// Jobs waiting in the queue, per worker: enough that a child never waits for the producer,
/// few enough that memory does not grow with the input.
const QUEUED_JOBS_PER_WORKER: usize = 2 * MAX_BATCH;

/// At most this many small files go to a worker in one write (see `Feeder::take_batch`).
const MAX_BATCH: usize = 16;

/// Files up to this size ride in batches: hashing one takes less than a round trip through
/// the pipes (about 11 µs for 16 KiB with the SHA extensions).
const SMALL_FILE_BYTES: u64 = 256 * 1024;

/// How long a child may take to exit (after closing its stdout, or after we closed its
/// stdin) before we kill it.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How to start the pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The executable to run as `EXE hash-worker` (default: `current_exe()`).
    pub exe: PathBuf,
    pub workers: NonZeroUsize,
    /// Test hook (`FETCHPOOL_TEST_WORKER_ABORT`): `once:NAME` makes the first children
    /// abort when asked for a file named NAME (respawned children do not), `always:NAME`
    /// makes every child abort on it.
    pub abort_on: Option<OsString>,
}

/// Why a file has no digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// The worker could not open or read the file.
    Io {
        kind: std::io::ErrorKind,
        message: String,
    },
    /// The worker died on this file twice (or the pool is shutting down).
    WorkerDied(String),
}

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashError::Io { message, .. } => f.write_str(message),
            HashError::WorkerDied(why) => f.write_str(why),
        }
    }
}

/// The answer to one submitted file, sent exactly once on the channel it was submitted
/// with: the caller's `ticket` and the digest, or why there is none.
#[derive(Debug)]
pub(crate) struct Hashed {
    pub ticket: u64,
    pub result: Result<Digest, HashError>,
}

/// A file waiting in the queue (or on a worker), and where its answer goes.
struct HashJob {
    path: PathBuf,
    algo: Algo,
    ticket: u64,
    /// Taken by `answer`; still here on drop means no answer was sent.
    reply_to: Option<Sender<Hashed>>,
}

impl HashJob {
    /// Sends the result back. A caller that stopped listening (a closed stdout ended the
    /// run) is no error here: the answer just goes nowhere.
    fn answer(mut self, result: Result<Digest, HashError>) {
        if let Some(to) = self.reply_to.take() {
            let _ = to.send(Hashed {
                ticket: self.ticket,
                result,
            });
        }
    }
}

impl Drop for HashJob {
    /// A job dropped unanswered (a feeder thread that panicked, a bug) still gets its
    /// answer: the caller waiting for it must never wait forever.
    fn drop(&mut self) {
        if let Some(to) = self.reply_to.take() {
            let _ = to.send(Hashed {
                ticket: self.ticket,
                result: Err(HashError::WorkerDied(
                    "hash feeder ended without an answer (a bug in fetchpool)".into(),
                )),
            });
        }
    }
}

fn stopped() -> HashError {
    HashError::WorkerDied("hash pool stopped".into())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AbortHook {
    Once(OsString),
    Always(OsString),
}

impl AbortHook {
    fn parse(raw: &OsStr) -> Option<AbortHook> {
        let raw = raw.as_bytes();
        if let Some(name) = raw.strip_prefix(b"once:") {
            Some(AbortHook::Once(OsStr::from_bytes(name).to_owned()))
        } else {
            raw.strip_prefix(b"always:")
                .map(|name| AbortHook::Always(OsStr::from_bytes(name).to_owned()))
        }
    }

    /// The name to pass a child: every first child gets it, a replacement only for `always:`.
    fn name_for(&self, replacement: bool) -> Option<&OsStr> {
        match self {
            AbortHook::Once(_) if replacement => None,
            AbortHook::Once(name) | AbortHook::Always(name) => Some(name),
        }
    }
}

/// Where the lines a worker writes on its stderr go (the caller passes the reporter's).
pub(crate) type StderrSink = fn(&[u8]);

/// What the feeders and the pool handle share.
struct Shared {
    exe: PathBuf,
    stderr_to: StderrSink,
    hook: Option<AbortHook>,
    /// Set when the pool is dropped without `shutdown`: no more respawns, jobs fail fast.
    stopping: AtomicBool,
    /// The child of each feeder, kept here (pipes taken out) so the pool can kill it.
    children: Vec<Mutex<Option<Child>>>,
}

impl Shared {
    fn child_slot(&self, index: usize) -> MutexGuard<'_, Option<Child>> {
        self.children[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// N worker processes behind a bounded queue. `Send + Sync`: share it by reference.
pub struct HashPool {
    queue: Option<SyncSender<HashJob>>,
    feeders: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl HashPool {
    /// Starts `config.workers` children, whose stderr lines go to `stderr_to`. Fails if one
    /// cannot be started (and reaps the others), or if the abort hook is not `once:NAME` /
    /// `always:NAME`.
    pub(crate) fn spawn(config: PoolConfig, stderr_to: StderrSink) -> Result<HashPool, Error> {
        // A test hook: compiled out of release builds, like its reading in settings.rs.
        let hook = match &config.abort_on {
            Some(raw) if cfg!(debug_assertions) => {
                Some(AbortHook::parse(raw).ok_or_else(|| {
                    Error::Usage(format!(
                        "FETCHPOOL_TEST_WORKER_ABORT must be once:NAME or always:NAME, not {:?}",
                        raw
                    ))
                })?)
            }
            _ => None,
        };
        let workers = config.workers.get();
        let shared = Arc::new(Shared {
            exe: config.exe,
            stderr_to,
            hook,
            stopping: AtomicBool::new(false),
            children: (0..workers).map(|_| Mutex::new(None)).collect(),
        });
        let (sender, receiver) = mpsc::sync_channel(workers * QUEUED_JOBS_PER_WORKER);
        let receiver = Arc::new(Mutex::new(receiver));
        // From here on, an early return drops `pool`, which reaps what was started.
        let mut pool = HashPool {
            queue: Some(sender),
            feeders: Vec::with_capacity(workers),
            shared,
        };
        for index in 0..workers {
            let worker = Worker::start(&pool.shared, index, false).map_err(|io_error| {
                Error::SpawnWorkers {
                    exe: pool.shared.exe.clone(),
                    io_error,
                }
            })?;
            let feeder = Feeder {
                shared: Arc::clone(&pool.shared),
                index,
                queue: Arc::clone(&receiver),
                worker: Some(worker),
            };
            let handle = thread::Builder::new()
                .name(format!("hash-feeder-{index}"))
                .spawn(move || feeder.run())
                .map_err(|io_error| Error::SpawnWorkers {
                    exe: pool.shared.exe.clone(),
                    io_error,
                })?;
            pool.feeders.push(handle);
        }
        Ok(pool)
    }

    /// Queues `path` for hashing; its `Hashed` answer, carrying `ticket`, comes back on
    /// `reply_to` exactly once. Blocks while the queue is full (bounded), so a fast
    /// producer cannot grow memory.
    pub(crate) fn submit(&self, path: PathBuf, algo: Algo, ticket: u64, reply_to: &Sender<Hashed>) {
        let job = HashJob {
            path,
            algo,
            ticket,
            reply_to: Some(reply_to.clone()),
        };
        let rejected = match &self.queue {
            Some(queue) => queue.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        // Only possible if every feeder thread is gone.
        if let Some(job) = rejected {
            job.answer(Err(stopped()));
        }
    }

    /// Hashes one file and waits for the result.
    #[cfg(test)]
    pub(crate) fn hash(&self, path: PathBuf, algo: Algo) -> Result<Digest, HashError> {
        let (sender, receiver) = mpsc::channel();
        self.submit(path, algo, 0, &sender);
        receiver
            .recv()
            .map_or_else(|_| Err(stopped()), |hashed| hashed.result)
    }

    /// Stops at once, through a shared reference (on SIGINT, while download threads still
    /// hold the pool): kills the children, starts no replacements, and answers what is
    /// queued or in flight with `WorkerDied`. The feeders reap the killed children.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for index in 0..self.shared.children.len() {
            if let Some(child) = self.shared.child_slot(index).as_mut() {
                let _ = child.kill();
            }
        }
    }

    /// Finishes queued work, then closes the children's stdin and reaps them all (killing
    /// any that has not exited 2 s later).
    pub fn shutdown(mut self) {
        self.finish(true);
    }

    /// `graceful`: let the feeders drain the queue. Otherwise kill the children first, and
    /// the feeders answer whatever is queued with `WorkerDied`.
    fn finish(&mut self, graceful: bool) {
        if !graceful {
            self.shared.stopping.store(true, Ordering::SeqCst);
            for index in 0..self.shared.children.len() {
                if let Some(child) = self.shared.child_slot(index).as_mut() {
                    let _ = child.kill();
                }
            }
        }
        drop(self.queue.take());
        for feeder in self.feeders.drain(..) {
            let _ = feeder.join();
        }
        // A feeder that panicked left its child here: reap it anyway.
        for index in 0..self.shared.children.len() {
            if let Some(mut child) = self.shared.child_slot(index).take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        if self.queue.is_some() || !self.feeders.is_empty() {
            self.finish(false);
        }
    }
}

/// The pipes of one running child (the `Child` itself sits in `Shared::children`).
struct Worker {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the child for slot `index` and stores it there. Under the slot's lock, so a
    /// pool being dropped either sees the new child (and kills it) or stops us first.
    fn start(shared: &Shared, index: usize, replacement: bool) -> io::Result<Worker> {
        let mut slot = shared.child_slot(index);
        if shared.is_stopping() {
            return Err(io::Error::other("hash pool stopped"));
        }
        let mut command = Command::new(&shared.exe);
        command
            .arg("hash-worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(name) = shared.hook.as_ref().and_then(|h| h.name_for(replacement)) {
            command.arg("--abort-on").arg(name);
        }
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            unreachable!("all three pipes were requested");
        };
        let stderr_to = shared.stderr_to;
        let stderr_thread = thread::Builder::new()
            .name(format!("hash-stderr-{index}"))
            .spawn(move || forward_stderr(stderr, stderr_to));
        let stderr_thread = match stderr_thread {
            Ok(handle) => handle,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        *slot = Some(child);
        Ok(Worker {
            stdin,
            stdout: BufReader::new(stdout),
            stderr_thread: Some(stderr_thread),
        })
    }

    /// One request, one reply.
    fn exchange(&mut self, path: &std::path::Path, algo: Algo) -> Result<WireReply, FrameError> {
        protocol::write_request(&mut self.stdin, algo, path)?;
        self.stdin.flush()?;
        protocol::read_reply(&mut self.stdout, algo)
    }

    /// Several requests in one write; their replies are then read in the same order.
    fn send_all(&mut self, jobs: &[HashJob]) -> io::Result<()> {
        let mut frames = Vec::with_capacity(jobs.len() * 64);
        for job in jobs {
            protocol::write_request(&mut frames, job.algo, &job.path)?;
        }
        self.stdin.write_all(&frames)?;
        self.stdin.flush()
    }
}

/// Hands a child's stderr on, a line at a time.
fn forward_stderr(stderr: std::process::ChildStderr, stderr_to: StderrSink) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => stderr_to(&line),
        }
    }
}

/// A feeder thread: owns one child's pipes, takes jobs from the shared queue.
struct Feeder {
    shared: Arc<Shared>,
    index: usize,
    queue: Arc<Mutex<Receiver<HashJob>>>,
    worker: Option<Worker>,
}

impl Feeder {
    fn run(mut self) {
        while let Some(batch) = self.take_batch() {
            if self.shared.is_stopping() {
                for job in batch {
                    job.answer(Err(stopped()));
                }
            } else if batch.len() == 1 {
                for job in batch {
                    let result = self.hash(&job.path, job.algo, 2);
                    job.answer(result);
                }
            } else {
                self.hash_batch(batch);
            }
        }
        self.retire();
    }

    /// The next job, and when it is a small file, the small files queued right behind it
    /// (up to `MAX_BATCH`): one wake-up of the worker for all of them. A large file ends a
    /// batch, so large files still spread over the workers one at a time.
    fn take_batch(&self) -> Option<Vec<HashJob>> {
        // The lock is held while waiting: the feeders take turns at the queue's head.
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let first = queue.recv().ok()?;
        let mut batch = vec![first];
        if !is_small(&batch[0].path) {
            return Some(batch);
        }
        while batch.len() < MAX_BATCH {
            let Ok(job) = queue.try_recv() else { break };
            let small = is_small(&job.path);
            batch.push(job);
            if !small {
                break;
            }
        }
        Some(batch)
    }

    /// Sends a batch in one write and answers each job as its reply comes back. If the
    /// child dies mid-batch, the job it was on is retried once (like a single job), and
    /// the jobs after it, which it never started, go through the normal path.
    fn hash_batch(&mut self, batch: Vec<HashJob>) {
        let sent = match self.worker.as_mut() {
            Some(worker) => worker.send_all(&batch).is_ok(),
            None => false,
        };
        let mut jobs = batch.into_iter();
        if sent {
            let worker = self.worker.as_mut().expect("checked above");
            for job in jobs.by_ref() {
                match protocol::read_reply(&mut worker.stdout, job.algo) {
                    Ok(reply) => job.answer(answer(reply)),
                    Err(e) => {
                        self.death(e);
                        // One more attempt: with the death just seen, that is two.
                        let result = if self.shared.is_stopping() {
                            Err(stopped())
                        } else {
                            self.hash(&job.path, job.algo, 1)
                        };
                        job.answer(result);
                        break;
                    }
                }
            }
        }
        // Not sent (no child yet, or the write failed), or left after a death.
        for job in jobs {
            let result = self.hash(&job.path, job.algo, 2);
            job.answer(result);
        }
    }

    /// Buries the child after a broken exchange; says how it ended.
    fn death(&mut self, e: FrameError) -> String {
        // A malformed frame means a confused child: don't wait for it to exit.
        match e {
            FrameError::Io(_) => self.bury(EXIT_GRACE),
            FrameError::Malformed(why) => {
                format!(
                    "{} after a malformed reply: {why}",
                    self.bury(Duration::ZERO)
                )
            }
        }
    }

    /// Hashes on this feeder's child, starting a replacement when it dies, `attempts`
    /// times at most.
    fn hash(
        &mut self,
        path: &std::path::Path,
        algo: Algo,
        attempts: u32,
    ) -> Result<Digest, HashError> {
        if path.as_os_str().len() > protocol::MAX_PATH_BYTES {
            return Err(io_error(io::Error::from_raw_os_error(
                rustix::io::Errno::NAMETOOLONG.raw_os_error(),
            )));
        }
        let mut death = String::new();
        for _attempt in 0..attempts {
            let worker = match self.worker.as_mut() {
                Some(worker) => worker,
                None => match Worker::start(&self.shared, self.index, true) {
                    Ok(worker) => self.worker.insert(worker),
                    Err(e) => {
                        return Err(if self.shared.is_stopping() {
                            stopped()
                        } else {
                            HashError::WorkerDied(format!(
                                "cannot restart hash worker: {}",
                                crate::error::plain_io(&e)
                            ))
                        });
                    }
                },
            };
            match worker.exchange(path, algo) {
                Ok(reply) => return answer(reply),
                Err(e) => {
                    death = self.death(e);
                    if self.shared.is_stopping() {
                        return Err(stopped());
                    }
                }
            }
        }
        Err(HashError::WorkerDied(format!(
            "hash worker died twice on this file: {death}"
        )))
    }

    /// Reaps this feeder's child after its pipes broke; describes how it ended.
    fn bury(&mut self, grace: Duration) -> String {
        let worker = self.worker.take();
        let child = self.shared.child_slot(self.index).take();
        let status = match child {
            Some(mut child) => describe_exit(reap(&mut child, grace)),
            None => "was already reaped".into(),
        };
        if let Some(handle) = worker.and_then(|mut w| w.stderr_thread.take()) {
            let _ = handle.join();
        }
        status
    }

    /// The queue is closed: close the child's stdin so it exits, and reap it.
    fn retire(&mut self) {
        let Some(Worker {
            stdin,
            stdout,
            stderr_thread,
        }) = self.worker.take()
        else {
            return;
        };
        // EOF on its stdin is the worker's signal to exit 0; one that hangs is killed, so
        // shutdown always ends.
        drop(stdin);
        drop(stdout);
        if let Some(mut child) = self.shared.child_slot(self.index).take() {
            let _ = reap(&mut child, EXIT_GRACE);
        }
        if let Some(handle) = stderr_thread {
            let _ = handle.join();
        }
    }
}

/// A worker's reply as the caller's result.
fn answer(reply: WireReply) -> Result<Digest, HashError> {
    match reply {
        WireReply::Digest(digest) => Ok(digest),
        WireReply::Io { errno, message } => {
            let kind = errno.map_or(io::ErrorKind::Other, |n| {
                io::Error::from_raw_os_error(n).kind()
            });
            Err(HashError::Io { kind, message })
        }
    }
}

/// A file small enough to batch (a file we cannot stat fails fast, so it counts as small).
fn is_small(path: &std::path::Path) -> bool {
    std::fs::metadata(path).map_or(true, |m| m.len() <= SMALL_FILE_BYTES)
}

fn io_error(e: io::Error) -> HashError {
    HashError::Io {
        kind: e.kind(),
        message: crate::error::plain_io(&e),
    }
}

/// Waits up to `grace` for a child to exit on its own, then kills it; never leaves a zombie.
fn reap(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    let deadline = Instant::now() + grace;
    // A worker told to stop exits within a fraction of a millisecond: start polling fast,
    // back off to 5 ms.
    let mut nap = Duration::from_micros(50);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait()
}

/// `killed by signal 6 (status 134)`: the number a shell would show, 128 + N.
fn describe_exit(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => match (status.signal(), status.code()) {
            (Some(signal), _) => format!("killed by signal {signal} (status {})", 128 + signal),
            (None, Some(code)) => format!("exited with status {code}"),
            (None, None) => format!("ended: {status}"),
        },
        Err(e) => format!("could not be reaped: {}", crate::error::plain_io(&e)),
    }
}

#[cfg(test)]
mod tests {
    //! The pool against stand-in workers (shell scripts): deaths, signals, hangs. The real
    //! worker is exercised through the CLI in tests/it/verify_hash.rs.

    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::mpsc;

    /// A pool whose workers run `script` (sh). Returns the tempdir to keep it alive.
    fn pool_of(script: &str, workers: usize) -> (HashPool, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("fake-worker");
        std::fs::write(&exe, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = PoolConfig {
            exe,
            workers: NonZeroUsize::new(workers).unwrap(),
            abort_on: None,
        };
        // Another test thread may fork while our script is still open for writing, and
        // exec fails with "text file busy" until that child execs in turn: retry briefly.
        for _ in 0..200 {
            match HashPool::spawn(config.clone(), |_| {}) {
                Err(Error::SpawnWorkers { io_error, .. })
                    if io_error.raw_os_error()
                        == Some(rustix::io::Errno::TXTBSY.raw_os_error()) =>
                {
                    thread::sleep(Duration::from_millis(10));
                }
                Ok(pool) => return (pool, dir),
                Err(e) => panic!("{e}"),
            }
        }
        panic!("fake worker stayed busy");
    }

    fn died(result: Result<Digest, HashError>) -> String {
        match result {
            Err(HashError::WorkerDied(why)) => why,
            other => panic!("expected WorkerDied, got {other:?}"),
        }
    }

    #[test]
    fn a_job_dropped_unanswered_still_answers_its_caller() {
        let (sender, receiver) = mpsc::channel();
        let job = HashJob {
            path: "a".into(),
            algo: Algo::Sha256,
            ticket: 7,
            reply_to: Some(sender),
        };
        // As when a feeder thread panics holding it.
        drop(job);
        let hashed = receiver.recv().unwrap();
        assert_eq!(hashed.ticket, 7);
        assert!(died(hashed.result).contains("without an answer"));
    }

    #[test]
    fn the_pool_can_be_shared_between_threads() {
        fn is_send_sync<T: Send + Sync>() {}
        is_send_sync::<HashPool>();
    }

    #[test]
    fn spawning_a_missing_executable_names_it() {
        let config = PoolConfig {
            exe: PathBuf::from("/nonexistent/fetchpool"),
            workers: NonZeroUsize::MIN,
            abort_on: None,
        };
        let Err(e) = HashPool::spawn(config, |_| {}) else {
            panic!("spawned a missing executable")
        };
        assert_eq!(
            e.to_string(),
            "cannot start hash workers (/nonexistent/fetchpool): No such file or directory"
        );
    }

    #[test]
    fn a_worker_that_keeps_exiting_fails_the_file_with_its_status() {
        let (pool, _dir) = pool_of("exit 7", 1);
        let why = died(pool.hash("a".into(), Algo::Sha256));
        assert_eq!(
            why,
            "hash worker died twice on this file: exited with status 7"
        );
        // The feeder keeps going: the next file gets a fresh child (and fails the same way).
        assert!(died(pool.hash("b".into(), Algo::Sha256)).contains("status 7"));
        pool.shutdown();
    }

    #[test]
    fn a_worker_killed_by_a_signal_is_reported_as_128_plus_n() {
        let (pool, _dir) = pool_of("kill -9 $$", 2);
        let why = died(pool.hash("a".into(), Algo::Sha256));
        assert_eq!(
            why,
            "hash worker died twice on this file: killed by signal 9 (status 137)"
        );
        pool.shutdown();
    }

    #[test]
    fn a_worker_sending_garbage_is_killed_and_replaced() {
        let (pool, _dir) = pool_of(r"printf '\011\000\000\000\000'; exec sleep 30", 1);
        let started = Instant::now();
        let why = died(pool.hash("a".into(), Algo::Sha256));
        assert_eq!(
            why,
            "hash worker died twice on this file: killed by signal 9 (status 137) \
             after a malformed reply: unknown reply tag 9"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(pool);
    }

    #[test]
    fn dropping_the_pool_kills_hung_workers_and_answers_every_job() {
        // `exec`: the hung process is the child itself, so killing it closes its pipes.
        let (pool, _dir) = pool_of("exec sleep 30", 1);
        let (sender, receiver) = mpsc::channel();
        // One in flight, two queued: the most that fits without blocking `submit`.
        for (ticket, name) in ["a", "b", "c"].into_iter().enumerate() {
            pool.submit(name.into(), Algo::Sha256, ticket as u64, &sender);
        }
        drop(sender);
        thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        drop(pool);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "drop took {:?}",
            started.elapsed()
        );
        let replies: Vec<_> = receiver.iter().map(|hashed| died(hashed.result)).collect();
        assert_eq!(replies, ["hash pool stopped"; 3]);
    }

    #[test]
    fn shutdown_kills_a_worker_that_ignores_the_end_of_its_stdin() {
        let (pool, _dir) = pool_of("exec sleep 30", 2);
        let started = Instant::now();
        pool.shutdown();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_abort_hook_spares_replacements_only_when_once() {
        let once = AbortHook::parse(OsStr::new("once:b.bin")).unwrap();
        assert_eq!(once.name_for(false), Some(OsStr::new("b.bin")));
        assert_eq!(once.name_for(true), None);
        let always = AbortHook::parse(OsStr::new("always:b.bin")).unwrap();
        assert_eq!(always.name_for(true), Some(OsStr::new("b.bin")));
        assert_eq!(AbortHook::parse(OsStr::new("b.bin")), None);
    }

    #[test]
    fn exit_statuses_read_like_a_shell_would_show_them() {
        assert_eq!(
            describe_exit(Ok(ExitStatus::from_raw(6))),
            "killed by signal 6 (status 134)"
        );
        assert_eq!(
            describe_exit(Ok(ExitStatus::from_raw(3 << 8))),
            "exited with status 3"
        );
    }
}
