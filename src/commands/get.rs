//! `fetchpool get`: wiring only. Validates the plan, starts the hash pool, the reporter and
//! the download pool, and turns what happened into an exit status.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::digest::Algo;
use crate::download::http::{self, redact_url};
use crate::download::limit::RateLimit;
use crate::download::unnamed::{self, Linker};
use crate::error::Error;
use crate::error::Failure;
use crate::exit::{self, Exit};
use crate::hashpool::HashPool;
use crate::input::expected::Expected;
use crate::input::plan::{ListInput, ManifestInput, Plan, spool_stdin};
use crate::job::{Event, JobId, JobSpec, Outcome, Status};
use crate::job_lines::JobLines;
use crate::pool::{self, HostPauses, HostSlots, Landing};
use crate::report;
use crate::settings::{self, ListSource};
use crate::signals;
use crate::trust::{Keyring, locate};

pub(crate) fn run(get: settings::Get) -> Result<Exit, Error> {
    let agent = http::agent(&get.http);
    let mut manifests = Vec::new();
    for source in &get.checksums {
        manifests.push(match &get.signed_by {
            Some(keys) => load_signed_manifest(&agent, &get, keys, source)?,
            None => load_manifest(&agent, &get.http, source)?,
        });
    }
    // Only now, with every manifest believed: nothing is written for an untrusted one.
    let out_dir = prepare_dir(&get.dir)?;
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
            ListSource::File(path) if is_url(&path.to_string_lossy()) => {
                fetch_list(&agent, &get.http, &path.to_string_lossy())?
            }
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
    let jobs = plan
        .jobs()
        .map_while({
            let late_error = Arc::clone(&late_error);
            move |job| job.map_err(|e| *lock(&late_error) = Some(e)).ok()
        })
        .enumerate()
        .map(|(i, job)| (i as u64, job))
        .filter(move |(i, _)| shard.is_none_or(|shard| shard.takes(*i)))
        .filter({
            let (events, dir) = (landing.events.clone(), get.dir.clone());
            let require_digest = get.require_digest;
            move |(id, job)| {
                let refused = require_digest && job.expect.is_none();
                if refused {
                    events.send(Event::Finished(Box::new(unverifiable(*id, job, &dir))));
                }
                !refused
            }
        })
        .inspect({
            let dir = get.dir.clone();
            move |(_, job)| make_parent(&dir, &job.name)
        });
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
        write_lines(path, std::mem::take(&mut *lock(&landed)))?;
    }
    if let Some(path) = &get.failed {
        write_lines(path, summary.failed_jobs)?;
    }
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        status = exit::merge(status, Exit::Interrupted);
    }
    Ok(status)
}

/// A Metalink name with directories (checked: relative, no `.` or `..`) gets them made
/// inside the output directory just before its job starts. If that fails, the download
/// fails on its own when it cannot create its `.part`, and says why.
fn make_parent(dir: &Path, name: &str) {
    if let Some((parent, _)) = name.rsplit_once('/') {
        let _ = fs::create_dir_all(dir.join(parent));
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// `-i URL`: a URL list or Metalink document fetched first, to an unnamed temporary file.
fn fetch_list(
    agent: &ureq::Agent,
    settings: &crate::settings::Http,
    url: &str,
) -> Result<ListInput, Error> {
    let name = redact_url(url);
    let err = |io_error| Error::ReadInput {
        path: PathBuf::from(&name),
        io_error,
    };
    let bytes = read_source(agent, settings, url)
        .map_err(|why| err(std::io::Error::other(why)))?
        .ok_or_else(|| err(std::io::Error::other("HTTP 404")))?;
    let mut spool = crate::input::plan::tempfile_in_tmp().map_err(err)?;
    spool.write_all(&bytes).map_err(err)?;
    Ok(ListInput::Fetched(
        Arc::new(spool),
        Arc::from(name.as_str()),
    ))
}

/// A job `--require-digest` refuses: no digest is known for it, so it is not downloaded.
fn unverifiable(id: JobId, job: &JobSpec, dir: &Path) -> Outcome {
    let path = dir.join(&job.name);
    Outcome {
        id,
        url: redact_url(&job.url),
        path: path
            .strip_prefix(".")
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned(),
        status: Status::Failed(Failure::NoDigest),
        verified: false,
        http_status: None,
        bytes: 0,
        elapsed: std::time::Duration::ZERO,
        attempts: 0,
        digest: None,
        job: Arc::new(job.clone()),
    }
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

/// A `-c` manifest that must be signed by one of `keys`: read whole (path or URL), its
/// signature found and checked, and only the signed text kept, in an unnamed temporary
/// file (what was checked is what is parsed, even if the source changes meanwhile).
fn load_signed_manifest(
    agent: &ureq::Agent,
    get: &settings::Get,
    keys: &Keyring,
    source: &str,
) -> Result<ManifestInput, Error> {
    let name = redact_url(source);
    let fetch = |at: &str| read_source(agent, &get.http, at);
    let bytes = fetch(source)
        .map_err(|why| Error::ReadInput {
            path: PathBuf::from(&name),
            io_error: std::io::Error::other(why),
        })?
        .ok_or_else(|| Error::ReadInput {
            path: PathBuf::from(&name),
            io_error: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
    let vouched =
        locate::vouch(source, &bytes, get.signature.as_deref(), keys, &fetch).map_err(|e| {
            Error::Signature {
                manifest: name.clone(),
                signature: redact_list(&e.signature),
                key: e.refusal.key,
                reason: e.refusal.reason,
            }
        })?;
    let signature = redact_url(&vouched.signature);
    let signed = vouched.signed;
    // A closed stdout is met again, and handled, by the reporter.
    let _ = report::signed(
        &get.output,
        &name,
        &signature,
        signed.form.word(),
        &signed.key,
    );
    let spool_err = |io_error| Error::ReadInput {
        path: PathBuf::from(&name),
        io_error,
    };
    let mut spool = crate::input::plan::tempfile_in_tmp().map_err(spool_err)?;
    spool.write_all(&signed.text).map_err(spool_err)?;
    Ok(ManifestInput::Spool(
        Arc::new(spool),
        Arc::from(name.as_str()),
    ))
}

/// Reads a path or an http(s) URL whole: `Ok(None)` when it does not exist (no such file,
/// HTTP 404 or 410).
fn read_source(
    agent: &ureq::Agent,
    settings: &crate::settings::Http,
    at: &str,
) -> Result<Option<Vec<u8>>, String> {
    if !is_url(at) {
        return match fs::read(at) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::error::plain_io(&e)),
        };
    }
    let mut response = http::get(agent, settings, at, &[]).map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        200 => {}
        404 | 410 => return Ok(None),
        status => return Err(format!("HTTP {status}")),
    }
    let mut bytes = Vec::new();
    response
        .body_mut()
        .with_config()
        .limit(SIGNED_MANIFEST_MAX_BYTES)
        .reader()
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(Some(bytes))
}

/// The largest signed manifest or signature (read into memory to be checked whole).
const SIGNED_MANIFEST_MAX_BYTES: u64 = 256 << 20;

/// `a, b, c` with any URL userinfo removed from each.
fn redact_list(list: &str) -> String {
    let parts: Vec<String> = list.split(", ").map(redact_url).collect();
    parts.join(", ")
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
