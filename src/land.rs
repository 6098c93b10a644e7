//! The one path from complete bytes to a published file, for every kind of file: digest
//! (hashed on the way in, or by the hash pool) ─► compare ─► record (`--write-checksums`)
//! ─► publish (rename / link, never clobbering) or drop the bytes ─► one `Finished` event.
//! Also readies the output directory before the run. Knows nothing about HTTP or
//! scheduling; hears hash results as values on a channel.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::digest::{Algo, Digest};
use crate::download::resume::Sidecar;
use crate::download::unnamed::{self, Linker};
use crate::error::{Error, Failure};
use crate::hashpool::{HashError, HashPool, Hashed};
use crate::input::manifest;
use crate::job::{Event, JobId, JobSpec, Outcome, Status};
use crate::job_lines::JobLines;
use crate::report::Events;

/// Manifest lines (sha256sum's format) of the files that landed, for `--write-checksums`.
pub(crate) type ChecksumLines = Mutex<JobLines>;

/// How files are published, and where their outcomes go.
pub(crate) struct LandSettings {
    pub dir: PathBuf,
    pub overwrite: bool,
    /// How unnamed files get their names in `dir` (see `download::unnamed`).
    pub linker: Option<Linker>,
    /// Present when any file will need a digest.
    pub hashes: Option<Arc<HashPool>>,
    /// Hash every landed file (for --write-checksums) with this algorithm when no
    /// expected digest says otherwise.
    pub digest_all: Option<Algo>,
    pub events: Events,
    pub cancel: Arc<AtomicBool>,
    /// With --write-checksums: a manifest line for every file that landed or was verified
    /// in place.
    pub checksums: Option<Arc<ChecksumLines>>,
    /// Put before each name in those lines: how `dir` is reached from the checksum file's
    /// directory (`""`, `set/`, `../data/`), so `sha256sum -c` works where the file is.
    pub checksums_prefix: Vec<u8>,
}

/// Lands files as their bytes complete. Shared by every download thread; the hash
/// results are read by whoever calls `finish_hashed`.
pub(crate) struct Lander {
    pub settings: LandSettings,
    /// Files whose digest the hash pool is computing, by ticket.
    waiting: Mutex<HashMap<u64, Landing>>,
    next_ticket: AtomicU64,
    /// Where the hash pool answers; `finish_hashed` reads the other end.
    hashed_to: Sender<Hashed>,
}

/// A complete body on its way to its final name: in `.part` with its resume sidecar, or in
/// an unnamed file.
pub(crate) struct Body {
    pub part: PathBuf,
    pub sidecar: Sidecar,
    /// The body, when it is in an unnamed file rather than at `part`.
    pub unnamed: Option<fs::File>,
    /// The body's digest, when it was hashed on the way in.
    pub digest: Option<Digest>,
}

/// A job whose bytes are complete, waiting for its digest (when one is wanted).
/// The digest it must have is its job's (`outcome.job.expect`).
struct Landing {
    outcome: Outcome,
    start: Instant,
    file: Arrival,
}

enum Arrival {
    /// Bytes fetched by this run (possibly resumed), to be published under `final_path`.
    Fetched { body: Body, final_path: PathBuf },
    /// The final file was already there (no --overwrite): verified in place, never moved.
    Present { path: PathBuf },
}

impl Arrival {
    /// The bytes to hash.
    fn bytes_at(&self) -> &Path {
        match self {
            Arrival::Fetched { body, .. } => &body.part,
            Arrival::Present { path } => path,
        }
    }
}

impl Lander {
    /// The lander and the receiving end of its hash results (for `finish_hashed`).
    pub(crate) fn new(settings: LandSettings) -> (Lander, Receiver<Hashed>) {
        let (hashed_to, hashed) = channel();
        let lander = Lander {
            settings,
            waiting: Mutex::new(HashMap::new()),
            next_ticket: AtomicU64::new(0),
            hashed_to,
        };
        (lander, hashed)
    }

    /// The outcome a job starts with: nothing done yet.
    pub(crate) fn outcome(&self, id: JobId, spec: &Arc<JobSpec>) -> Outcome {
        Outcome {
            id,
            url: crate::url::redact_url(&spec.url),
            path: display_path(&self.settings.dir.join(&spec.name)),
            status: Status::Ok,
            verified: false,
            http_status: None,
            bytes: 0,
            elapsed: Duration::ZERO,
            attempts: 0,
            connections: 0,
            ranges: 0,
            digest: None,
            job: Arc::clone(spec),
        }
    }

    /// The body of `outcome`'s job is complete: verify, record and publish it under
    /// `final_path`. Returns at once when a hash worker must compute the digest.
    pub(crate) fn fetched(
        &self,
        outcome: Outcome,
        start: Instant,
        mut body: Body,
        final_path: PathBuf,
    ) {
        let inline = body.digest.take();
        let file = Arrival::Fetched { body, final_path };
        self.arrive(
            Landing {
                outcome,
                start,
                file,
            },
            inline,
        );
    }

    /// The final file already exists and --overwrite was not given: leave it, but verify
    /// it when its digest is known.
    pub(crate) fn present(&self, outcome: Outcome, start: Instant, path: PathBuf) {
        let file = Arrival::Present { path };
        self.arrive(
            Landing {
                outcome,
                start,
                file,
            },
            None,
        );
    }

    /// The job ended before it had bytes to land.
    pub(crate) fn failed(&self, outcome: Outcome, start: Instant, failure: Failure) {
        send_finished(
            &self.settings.events,
            outcome,
            start,
            Status::Failed(failure),
        );
    }

    fn arrive(&self, landing: Landing, inline: Option<Digest>) {
        if inline.is_some() {
            return self.complete(landing, Ok(inline));
        }
        let algo = landing
            .outcome
            .job
            .expect
            .as_ref()
            .map(Digest::algo)
            .or(self.settings.digest_all);
        let (Some(algo), Some(hashes)) = (algo, &self.settings.hashes) else {
            return self.complete(landing, Ok(None));
        };
        // A body that was not hashed on the way in is always in `.part`.
        debug_assert!(matches!(
            &landing.file,
            Arrival::Present { .. }
                | Arrival::Fetched {
                    body: Body { unnamed: None, .. },
                    ..
                }
        ));
        self.settings.events.send(Event::Verifying {
            id: landing.outcome.id,
        });
        let path = landing.file.bytes_at().to_path_buf();
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        // In the map before the pool can answer.
        lock(&self.waiting).insert(ticket, landing);
        hashes.submit(path, algo, ticket, &self.hashed_to);
    }

    /// Runs on the calling thread while `busy_after(wait)` (which may wait that long for
    /// the downloads to end) says files may still arrive, and then until no file waits for
    /// its digest: lands each file whose digest the hash pool sends back. After an
    /// interrupt it stops the hash pool, which answers at once.
    pub(crate) fn finish_hashed(
        &self,
        hashed: &Receiver<Hashed>,
        busy_after: impl Fn(Duration) -> bool,
    ) {
        loop {
            while let Ok(Hashed { ticket, result }) = hashed.try_recv() {
                self.land_hashed(ticket, result);
            }
            if self.settings.cancel.load(Ordering::Relaxed)
                && let Some(hashes) = &self.settings.hashes
            {
                hashes.stop();
            }
            let nothing_waits = lock(&self.waiting).is_empty();
            if nothing_waits {
                // Wait on the downloads, whose end is heard at once; a file they hand to
                // the hash pool meanwhile is noticed within the nap.
                if !busy_after(Duration::from_millis(10)) && lock(&self.waiting).is_empty() {
                    return;
                }
                continue;
            }
            match hashed.recv_timeout(Duration::from_millis(50)) {
                Ok(Hashed { ticket, result }) => self.land_hashed(ticket, result),
                Err(RecvTimeoutError::Timeout) => {}
                // `self` holds a sender: never.
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Lands the file `ticket` stands for with the digest (or error) the hash pool sent.
    fn land_hashed(&self, ticket: u64, result: Result<Digest, HashError>) {
        let landing = lock(&self.waiting).remove(&ticket);
        if let Some(landing) = landing {
            self.complete_guarded(landing, result.map(Some));
        }
    }

    /// `complete`, with a panic turned into that file's failure: the run goes on.
    fn complete_guarded(&self, landing: Landing, digest: Result<Option<Digest>, HashError>) {
        let (outcome, start) = (landing.outcome.clone(), landing.start);
        let run = std::panic::AssertUnwindSafe(|| self.complete(landing, digest));
        if let Err(panic) = std::panic::catch_unwind(run) {
            let failure = Failure::Panicked(panic_message(panic.as_ref()));
            self.failed(outcome, start, failure);
        }
    }

    /// Verify ─► record ─► publish, written once for every kind of file.
    fn complete(&self, landing: Landing, digest: Result<Option<Digest>, HashError>) {
        let Landing {
            mut outcome,
            start,
            file,
        } = landing;
        let job = Arc::clone(&outcome.job);
        let expect = job.expect.as_ref();
        let status = match check_digest(digest, expect, file.bytes_at()) {
            Ok(got) => {
                outcome.verified = expect.is_some() && got.is_some();
                outcome.digest = got;
                let published = match file {
                    Arrival::Fetched {
                        mut body,
                        final_path,
                    } => self
                        .publish(&mut body, &final_path)
                        .map(|()| (final_path, Status::Ok)),
                    Arrival::Present { path } => Ok((path, Status::Skipped)),
                };
                match published {
                    Ok((path, status)) => {
                        self.record(outcome.id, &path, outcome.digest.as_ref());
                        status
                    }
                    Err(failure) => Status::Failed(failure),
                }
            }
            // Stopped by an interrupt: complete bytes stay as they are (a `.part` is
            // verified by the next run before it gets its final name).
            Err(Failure::Hashing(_)) if self.settings.cancel.load(Ordering::Relaxed) => {
                Status::Failed(Failure::Interrupted)
            }
            Err(failure) => {
                if let Arrival::Fetched { body, .. } = file {
                    discard(body);
                }
                Status::Failed(failure)
            }
        };
        send_finished(&self.settings.events, outcome, start, status);
    }

    /// Gives a complete (and verified) body its final name.
    fn publish(&self, body: &mut Body, final_path: &Path) -> Result<(), Failure> {
        match (body.unnamed.take(), self.settings.linker) {
            (Some(file), Some(linker)) => link_into_place(&file, final_path, linker),
            _ => rename_into_place(body, final_path, self.settings.overwrite),
        }
    }

    fn record(&self, id: JobId, path: &Path, digest: Option<&Digest>) {
        if let (Some(lines), Some(digest)) = (&self.settings.checksums, digest) {
            let mut name = self.settings.checksums_prefix.clone();
            name.extend_from_slice(path.file_name().unwrap_or_default().as_bytes());
            let style = manifest::Style::Gnu { binary: false };
            lock(lines).push(id, &manifest::format_line(&name, digest, style));
        }
    }
}

/// Unverified bytes never stay where a rerun could mistake them for a good partial
/// download (an unnamed body just goes with its handle).
fn discard(mut body: Body) {
    if body.unnamed.is_none() {
        body.sidecar.discard(&body.part);
        let _ = fs::remove_file(&body.part);
    }
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

/// Compares a digest (or the reason there is none) with the expected one. `Ok(None)`: no
/// digest was computed because none was wanted.
fn check_digest(
    result: Result<Option<Digest>, HashError>,
    expect: Option<&Digest>,
    path: &Path,
) -> Result<Option<Digest>, Failure> {
    let got = result.map_err(|e| match e {
        HashError::Io { message, .. } => Failure::Io {
            op: "read",
            path: path.to_path_buf(),
            message,
        },
        HashError::WorkerDied(why) => Failure::Hashing(why),
    })?;
    match (expect, got) {
        (Some(want), Some(got)) if *want != got => Err(Failure::Mismatch {
            want: want.clone(),
            got,
        }),
        (_, got) => Ok(got),
    }
}

/// What a panic said, for the failure that reports it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// `dir/NAME` ─► `dir/NAME.part`.
pub(crate) fn part_path(final_path: &Path) -> PathBuf {
    let mut s = final_path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
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
fn rename_into_place(body: &mut Body, final_path: &Path, overwrite: bool) -> Result<(), Failure> {
    body.sidecar.discard(&body.part);
    let path = body.part.as_path();
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

/// The output directory, ready.
pub(crate) struct OutputDir {
    /// This run created it or found it empty, so it holds nothing this run did not put
    /// there (or a concurrent run into the same directory, whose names landing still never
    /// replaces).
    pub fresh: bool,
    pub linker: Option<Linker>,
}

impl OutputDir {
    /// Creates the output directory and proves it writable before any download starts, with
    /// an unnamed file when it can: that also finds how unnamed files get their names here.
    pub(crate) fn prepare(dir: &Path) -> Result<OutputDir, Error> {
        let err = |io_error| Error::OutputDir {
            path: dir.to_path_buf(),
            io_error,
        };
        let created = create_dir_new(dir).map_err(err)?;
        // Reads one getdents buffer, however large the directory.
        let fresh = created || fs::read_dir(dir).map_err(err)?.next().is_none();
        let probe = dir.join(format!(".fetchpool-probe-{}", std::process::id()));
        let linker = unnamed::probe(dir, &probe).map_err(err)?;
        if linker.is_none() {
            fs::File::create(&probe).map_err(err)?;
            fs::remove_file(&probe).map_err(err)?;
        }
        Ok(OutputDir { fresh, linker })
    }
}

/// `mkdir -p`, telling whether the last component was made here (`create_dir` is atomic:
/// of two runs racing to make it, one hears `false`).
fn create_dir_new(dir: &Path) -> std::io::Result<bool> {
    use std::io::ErrorKind::{AlreadyExists, NotFound};
    if dir.as_os_str().is_empty() {
        return Ok(false);
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == AlreadyExists => Ok(false),
        Err(e) if e.kind() == NotFound => {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent)?;
            }
            match fs::create_dir(dir) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// A lock that a panicked holder did not spoil: the data stays consistent between calls.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algo;

    fn digest(hex_char: char) -> Digest {
        let hex: String = std::iter::repeat_n(hex_char, 64).collect();
        Digest::from_hex(Algo::Sha256, &hex).unwrap()
    }

    #[test]
    fn a_matching_or_unwanted_digest_passes_and_a_different_one_is_a_mismatch() {
        let path = Path::new("x");
        let (a, b) = (digest('a'), digest('b'));
        assert_eq!(check_digest(Ok(None), None, path), Ok(None));
        assert_eq!(
            check_digest(Ok(Some(a.clone())), Some(&a), path),
            Ok(Some(a.clone()))
        );
        assert_eq!(
            check_digest(Ok(Some(b.clone())), Some(&a), path),
            Err(Failure::Mismatch { want: a, got: b })
        );
    }

    #[test]
    fn a_hash_error_becomes_a_read_failure_or_a_hashing_failure() {
        let read = HashError::Io {
            kind: io::ErrorKind::NotFound,
            message: "No such file or directory".into(),
        };
        assert_eq!(
            check_digest(Err(read), None, Path::new("d/x.part")),
            Err(Failure::Io {
                op: "read",
                path: PathBuf::from("d/x.part"),
                message: "No such file or directory".into()
            })
        );
        let died = HashError::WorkerDied("hash pool stopped".into());
        assert_eq!(
            check_digest(Err(died), None, Path::new("x")),
            Err(Failure::Hashing("hash pool stopped".into()))
        );
    }

    #[test]
    fn part_paths_add_a_suffix_and_display_paths_drop_a_leading_dot() {
        assert_eq!(
            part_path(Path::new("d/a.iso")),
            PathBuf::from("d/a.iso.part")
        );
        assert_eq!(display_path(Path::new("./a.iso")), "a.iso");
        assert_eq!(display_path(Path::new("d/a.iso")), "d/a.iso");
    }

    #[test]
    fn panic_messages_are_read_from_str_and_string_payloads() {
        let p = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "plain");
        let p = std::panic::catch_unwind(|| panic!("{} {}", "formatted", 1)).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "formatted 1");
    }
}
