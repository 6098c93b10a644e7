//! `fetchpool get`: wiring only. Validates the plan, starts the hash pool, the reporter and
//! the download pool, and turns what happened into an exit status.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::digest::Algo;
use crate::download::hosts::{HostPauses, HostSlots};
use crate::download::http::{self, redact_url};
use crate::download::limit::RateLimit;
use crate::download::unnamed::{self, Linker};
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::fetch_job::Fetcher;
use crate::hashpool::HashPool;
use crate::input::expected::Expected;
use crate::input::plan::{ListInput, ManifestInput, Plan, spool_stdin};
use crate::job::Event;
use crate::job_lines::JobLines;
use crate::land::{Lander, LanderConfig};
use crate::pool;
use crate::report;
use crate::settings::{self, ListSource};
use crate::signals;
use crate::split::SplitFiles;

pub(crate) fn run(get: settings::Get) -> Result<Exit, Error> {
    let out_dir = prepare_dir(&get.dir)?;
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
            ListSource::Stdin => ListInput::Spool(Arc::new(spool_stdin()?)),
        });
    }
    let plan = Plan {
        args: get.urls.clone(),
        lists,
        from_manifest: get.base_url.clone().map(|base| (base, manifests)),
        expected: Arc::new(expected),
    };
    let checked = plan.validate()?;
    let planned = get
        .shard
        .map_or(checked.jobs, |shard| shard.jobs_in(checked.jobs));

    let needs_hashing = get.write_checksums.is_some()
        || plan.from_manifest.is_some()
        || !plan.expected.is_empty()
        || checked.any_digest;
    let hashes = if needs_hashing {
        Some(Arc::new(HashPool::spawn(
            get.hash.clone(),
            report::worker_stderr,
        )?))
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
    let checksums = get
        .write_checksums
        .as_ref()
        .map(|_| Arc::new(Mutex::new(JobLines::default())));
    let (lander, hashed) = Lander::new(LanderConfig {
        dir: get.dir.clone(),
        overwrite: get.overwrite,
        linker: out_dir.linker,
        hashes: hashes.clone(),
        digest_all: get.write_checksums.as_ref().map(|_| Algo::Sha256),
        events: events.clone(),
        cancel: Arc::clone(&cancel),
        checksums: checksums.clone(),
    });
    let lander = Arc::new(lander);
    let fetcher = Arc::new(Fetcher {
        agent,
        http: get.http.clone(),
        resume: get.resume,
        fresh_dir: out_dir.fresh,
        host_slots: get.max_per_host.map(HostSlots::new),
        pauses: HostPauses::default(),
        limit: get
            .limit_rate
            .map(|rate| RateLimit::new(rate, Instant::now())),
        fsync: get.fsync,
        panic_on: get.panic_on.clone(),
        lander: Arc::clone(&lander),
        split: get.split.map(SplitFiles::new),
    });

    // The plan was validated, so the second pass yields no errors unless a list changed
    // under us; then we stop feeding and say so.
    let late_error = Arc::new(Mutex::new(None));
    let shard = get.shard;
    let jobs = plan
        .jobs()
        .map_while({
            let late_error = Arc::clone(&late_error);
            move |job| job.map_err(|e| *lock(&late_error) = Some(e)).ok()
        })
        .enumerate()
        .map(|(i, job)| (i as u64, job))
        .filter(move |(i, _)| shard.is_none_or(|shard| shard.takes(*i)));
    let downloads = pool::spawn(jobs, get.jobs, fetcher, Arc::clone(&cancel));
    // This thread lands the files whose digests come back from the hash pool, until the
    // downloads are over and nothing waits for a digest.
    lander.finish_hashed(&hashed, || downloads.is_busy(&cancel));
    drop(lander);
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
    if let (Some(path), Some(lines)) = (&get.write_checksums, checksums) {
        write_lines(path, std::mem::take(&mut *lock(&lines)))?;
    }
    if let Some(path) = &get.failed {
        write_lines(path, summary.failed_jobs)?;
    }
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        status = exit::merge(status, Exit::Interrupted);
    }
    Ok(status)
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

/// A lock that a panicked holder did not spoil: the data is a plain slot.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
