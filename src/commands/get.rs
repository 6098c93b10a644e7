//! `fetchpool get`: wiring only. Validates the plan, starts the hash pool, the reporter and
//! the download pool, and turns what happened into an exit status.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::digest::Algo;
use crate::download::http::{self, redact_url};
use crate::download::limit::RateLimit;
use crate::download::unnamed::{self, Linker};
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::hashpool::HashPool;
use crate::input::expected::Expected;
use crate::input::manifest;
use crate::input::plan::{ListInput, ManifestInput, Plan};
use crate::job::{Event, JobSpec};
use crate::job_lines::JobLines;
use crate::pool::{self, HostPauses, HostSlots, Landing};
use crate::report;
use crate::settings::{self, ListSource};
use crate::signals;

pub(crate) fn run(get: settings::Get) -> Result<Exit, Error> {
    let agent = http::agent(&get.http);
    let mut manifests = Vec::new();
    for source in &get.checksums {
        manifests.push(load_manifest(&agent, &get.http, source)?);
    }
    // Expected digests by name, for jobs that come from elsewhere (arguments, lists). With
    // --base-url alone the manifests are the whole plan, each job carrying its own digest:
    // then nothing is held, however many lines they have.
    let expected = if get.base_url.is_none() || !get.urls.is_empty() || !get.lists.is_empty() {
        Expected::load(&manifests)?
    } else {
        Expected::default()
    };
    let mut lists = Vec::new();
    for list in &get.lists {
        lists.push(match list {
            ListSource::File(path) => ListInput::File(path.clone()),
            ListSource::Stdin => ListInput::Stream,
        });
    }
    let plan = Plan {
        args: get.urls.clone(),
        lists,
        from_manifest: get.base_url.clone().map(|base| (base, manifests)),
        expected: Arc::new(expected),
    };
    let checked = plan.validate()?;
    // Only now, with the input known good: a run that exits 2 leaves nothing on disk.
    let out_dir = prepare_dir(&get.dir)?;
    let planned = get
        .shard
        .map_or(checked.jobs, |shard| shard.jobs_in(checked.jobs));

    // A stream may bring digests later: have the pool ready for them.
    let needs_hashing = get.write_checksums.is_some()
        || plan.from_manifest.is_some()
        || !plan.expected.is_empty()
        || checked.any_digest
        || checked.streaming;
    let hashes = if needs_hashing {
        Some(Arc::new(HashPool::spawn(get.hash.clone())?))
    } else {
        None
    };

    let cancel = Arc::new(AtomicBool::new(false));
    // First SIGINT/SIGTERM: stop starting work and let running downloads stop, keeping
    // their .part files.
    signals::survive_file_size_limit();
    signals::on_interrupt(&cancel, &[]);
    let (events, reporter) = report::spawn(get.output, get.failed.is_some());
    events.send(Event::Planned { jobs: planned });
    if checked.streaming {
        events.send(Event::Streaming);
    }
    let landed = get
        .write_checksums
        .as_ref()
        .map(|_| Arc::new(Mutex::new(JobLines::default())));
    let landing = Arc::new(Landing {
        agent,
        http: get.http.clone(),
        dir: get.dir.clone(),
        overwrite: get.overwrite,
        resume: get.resume,
        fresh_dir: out_dir.fresh,
        linker: out_dir.linker,
        hashes: hashes.clone(),
        digest_all: get.write_checksums.as_ref().map(|_| Algo::Sha256),
        events,
        cancel: Arc::clone(&cancel),
        landed: landed.clone(),
        host_slots: get.max_per_host.map(HostSlots::new),
        pauses: HostPauses::default(),
        limit: get
            .limit_rate
            .map(|rate| RateLimit::new(rate, Instant::now())),
        fsync: get.fsync,
    });

    // The plan was validated, so the second pass yields no errors unless a list changed
    // under us; then we stop feeding and say so.
    let late_error = Arc::new(Mutex::new(None));
    let shard = get.shard;
    let read = plan.jobs().map_while({
        let late_error = Arc::clone(&late_error);
        move |job| job.map_err(|e| *lock(&late_error) = Some(e)).ok()
    });
    let read = match checked.streaming {
        true => Box::new(total_at_end(read, shard, landing.events.clone()))
            as Box<dyn Iterator<Item = _> + Send>,
        false => Box::new(read),
    };
    let jobs = read
        .enumerate()
        .map(|(i, job)| (i as u64, job))
        .filter(move |(i, _)| shard.is_none_or(|shard| shard.takes(*i)));
    pool::run(jobs, get.jobs, Arc::clone(&landing));
    let events = landing.events.clone();
    drop(landing);
    let interrupted = cancel.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(hashes) = hashes {
        if interrupted {
            hashes.stop();
        }
        // Download threads an interrupt left behind may still hold the pool; then its
        // children were killed by stop() and are reaped by its feeders.
        if let Some(pool) = Arc::into_inner(hashes) {
            pool.shutdown();
        }
    }
    // With --fsync the renames themselves are durable only once the directory is.
    let dir_synced = match get.fsync {
        true => fs::File::open(&get.dir).and_then(|d| d.sync_all()),
        false => Ok(()),
    };
    events.send(Event::Shutdown);
    drop(events);
    let summary = reporter
        .finish()
        .expect("the reporter thread does not panic");
    let mut status = summary.exit;
    if let Err(io_error) = dir_synced {
        let e = Error::WriteOutput {
            path: get.dir.clone(),
            io_error,
        };
        report::fatal(&e);
        status = exit::merge(status, Exit::Failed);
    }
    if let Some(e) = lock(&late_error).take() {
        report::fatal(&e);
        status = exit::merge(status, e.exit());
    }
    if let (Some(path), Some(landed)) = (&get.write_checksums, landed) {
        write_checksums(path, &get.dir, std::mem::take(&mut *lock(&landed)))?;
    }
    if let Some(path) = &get.failed {
        write_lines(path, summary.failed_jobs)?;
    }
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        status = exit::merge(status, Exit::Interrupted);
    }
    Ok(status)
}

/// Passes `jobs` on and, once they end (standard input reached its end, or a bad line
/// stopped it), tells the reporter the exact total: until then it was unknown.
fn total_at_end(
    mut jobs: impl Iterator<Item = JobSpec> + Send,
    shard: Option<crate::input::shard::Shard>,
    events: report::Events,
) -> impl Iterator<Item = JobSpec> + Send {
    let mut count = 0u64;
    let mut told = false;
    std::iter::from_fn(move || match jobs.next() {
        Some(job) => {
            count += 1;
            Some(job)
        }
        None => {
            if !std::mem::replace(&mut told, true) {
                let jobs = shard.map_or(count, |shard| shard.jobs_in(count));
                events.send(Event::Planned { jobs });
            }
            None
        }
    })
}

/// The output directory, ready.
struct OutputDir {
    /// This run created it or found it empty, so it holds nothing this run did not put
    /// there (or a concurrent run into the same directory, whose names landing still never
    /// replaces).
    fresh: bool,
    linker: Option<Linker>,
}

/// Creates the output directory and proves it writable before any download starts, with
/// an unnamed file when it can: that also finds how unnamed files get their names here.
fn prepare_dir(dir: &Path) -> Result<OutputDir, Error> {
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

/// A `-c` manifest: a path, or an http(s) URL whose body is copied to an unnamed
/// temporary file (so it can be read twice without being held in memory).
fn load_manifest(
    agent: &ureq::Agent,
    settings: &crate::settings::Http,
    source: &str,
) -> Result<ManifestInput, Error> {
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        let path = PathBuf::from(source);
        // Opened now, so a missing manifest stops the run before anything else.
        fs::File::open(&path).map_err(|io_error| Error::ReadInput {
            path: path.clone(),
            io_error,
        })?;
        return Ok(ManifestInput::File(path));
    }
    let name: Arc<str> = Arc::from(redact_url(source).as_str());
    let fetch_err = |why: String| Error::ReadInput {
        path: PathBuf::from(&*name),
        io_error: std::io::Error::other(why),
    };
    let mut response =
        http::get(agent, settings, source, &[]).map_err(|e| fetch_err(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(fetch_err(format!("HTTP {status}")));
    }
    let mut spool = crate::input::plan::tempfile_in_tmp().map_err(|e| fetch_err(e.to_string()))?;
    let mut body = response
        .body_mut()
        .with_config()
        .limit(MANIFEST_MAX_BYTES)
        .reader();
    std::io::copy(&mut body, &mut spool).map_err(|e| fetch_err(e.to_string()))?;
    Ok(ManifestInput::Spool(Arc::new(spool), name))
}

/// The largest manifest fetched by URL (it goes to a temporary file, not to memory).
const MANIFEST_MAX_BYTES: u64 = 4 << 30;

/// Writes `lines` in job order to `path` (--write-checksums, --failed).
fn write_lines(path: &Path, lines: JobLines) -> Result<(), Error> {
    let written = fs::File::create(path).and_then(|file| {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
        lines.write_to(&mut out)
    });
    written.map_err(|io_error| Error::WriteOutput {
        path: path.to_path_buf(),
        io_error,
    })
}

/// `--write-checksums FILE`: the landed files' lines, with names relative to FILE's own
/// directory (not to -d), so `cd` there and `sha256sum -c FILE` finds the files.
fn write_checksums(path: &Path, dir: &Path, lines: JobLines) -> Result<(), Error> {
    let err = |io_error| Error::WriteOutput {
        path: path.to_path_buf(),
        io_error,
    };
    let prefix = dir_relative_to_file(path, dir).map_err(err)?;
    let written = fs::File::create(path).and_then(|file| {
        let mut out = Prefixed {
            out: std::io::BufWriter::with_capacity(256 * 1024, file),
            prefix,
            pending: Vec::new(),
        };
        lines.write_to(&mut out)?;
        out.out.flush()
    });
    written.map_err(err)
}

/// How `dir` is reached from the directory holding `file`, as a name prefix ("" when it
/// is that directory, `set/` or `../data/` otherwise).
fn dir_relative_to_file(file: &Path, dir: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let base = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let (base, dir) = (fs::canonicalize(base)?, fs::canonicalize(dir)?);
    let common = base
        .components()
        .zip(dir.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut relative = PathBuf::new();
    for _ in base.components().skip(common) {
        relative.push("..");
    }
    for part in dir.components().skip(common) {
        relative.push(part);
    }
    let mut prefix = relative.as_os_str().as_bytes().to_vec();
    if !prefix.is_empty() {
        prefix.push(b'/');
    }
    Ok(prefix)
}

/// Rewrites sha256sum lines as they pass, putting `prefix` before each name (escaping it
/// again as sha256sum would).
struct Prefixed<W: Write> {
    out: W,
    prefix: Vec<u8>,
    /// The start of a line not yet complete.
    pending: Vec<u8>,
}

impl<W: Write> Write for Prefixed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.prefix.is_empty() {
            return self.out.write(bytes);
        }
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let line = &self.pending[start..start + end];
            let Ok(Some((name, digest, style))) = manifest::parse_line(line) else {
                return Err(std::io::Error::other("a landed line does not parse"));
            };
            let mut full = self.prefix.clone();
            full.extend_from_slice(&name);
            self.out
                .write_all(&manifest::format_line(&full, &digest, style))?;
            start += end + 1;
        }
        self.pending.drain(..start);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A lock that a panicked holder did not spoil: the data is a plain slot.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
