//! `fetchpool get`: wiring only. Validates the plan, starts the hash pool, the reporter and
//! the download pool, and turns what happened into an exit status.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::digest::Algo;
use crate::download::hosts::{HostPauses, HostSlots};
use crate::download::http::{self, redact_url};
use crate::download::limit::RateLimit;
use crate::error::Error;
use crate::exit::Exit;
use crate::fetch_job::Fetcher;
use crate::hashpool::HashPool;
use crate::input::expected::Expected;
use crate::input::plan::Plan;
use crate::input::source::{ListInput, ManifestInput};
use crate::job::{Event, JobSpec};
use crate::job_lines::JobLines;
use crate::land::{LandSettings, Lander, OutputDir};
use crate::pool;
use crate::report;
use crate::settings::{self, ListSource};
use crate::signals;
use crate::split::SplitFiles;
use crate::trust::{Keyring, locate};

pub(crate) fn run(get: settings::Get) -> Result<Exit, Error> {
    // First SIGINT/SIGTERM: stop starting work and let running downloads stop, keeping
    // their .part files. Set up before standard input is read, so an interrupt while a
    // list still streams in ends with the summary (every job not started) too.
    let cancel = Arc::new(AtomicBool::new(false));
    signals::survive_file_size_limit();
    // Also set by the first SIGINT/SIGTERM: a stream on stdin then reads no further.
    let stream_stop = Arc::new(AtomicBool::new(false));
    let interrupt = signals::on_interrupt(&cancel, &[&stream_stop]);
    let agent = http::agent(&get.http);
    let mut manifests = Vec::new();
    for source in &get.checksums {
        manifests.push(match &get.signed_by {
            Some(keys) => load_signed_manifest(&agent, &get, keys, source)?,
            None => load_manifest(&agent, &get.http, source)?,
        });
    }
    // Nothing is written before every manifest is believed and the plan checked: see
    // `OutputDir::prepare` below.
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
            ListSource::Stdin => ListInput::Stream(Arc::clone(&stream_stop)),
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
    // Only now, with the input known good (every manifest believed, every line checked): a
    // run that exits 2 or 3 here leaves nothing on disk.
    let out_dir = OutputDir::prepare(&get.dir)?;
    let checksums_prefix = match &get.write_checksums {
        Some(path) => {
            dir_relative_to_file(path, &get.dir).map_err(|io_error| Error::WriteOutput {
                path: path.clone(),
                io_error,
            })?
        }
        None => Vec::new(),
    };

    let needs_hashing = get.write_checksums.is_some()
        || plan.from_manifest.is_some()
        || !plan.expected.is_empty()
        || checked.any_digest
        // A stream may bring digests later: have the pool ready for them.
        || checked.streaming;
    let hashes = if needs_hashing {
        Some(Arc::new(HashPool::spawn(
            get.hash.clone(),
            report::worker_stderr,
        )?))
    } else {
        None
    };

    let checksums = get
        .write_checksums
        .as_ref()
        .map(|_| Arc::new(Mutex::new(JobLines::default())));
    // The plan as the download threads take it: whatever they do not finish is still
    // accounted for (interrupted, not started) in the summary, --json and --failed. The
    // plan was validated, so the second pass yields no errors unless a list changed
    // under us; then we stop feeding and say so.
    let shard = get.shard;
    let late_error = Arc::new(Mutex::new(None));
    let read = plan.jobs().map_while({
        let late_error = Arc::clone(&late_error);
        move |job| job.map_err(|e| *lock(&late_error) = Some(e)).ok()
    });
    // A streamed list's total is known at its end; the reporter hears it then.
    let total_to = Arc::new(OnceLock::new());
    let read = match checked.streaming {
        true => Box::new(total_at_end(read, shard, Arc::clone(&total_to)))
            as Box<dyn Iterator<Item = _> + Send>,
        false => Box::new(read),
    };
    let ledger = report::Ledger::new(
        read.enumerate()
            .map(|(i, job)| (i as u64, job))
            .filter(move |(i, _)| shard.is_none_or(|shard| shard.takes(*i))),
        &get.dir,
    );
    let record = report::Record {
        failed: get.failed.clone(),
        ledger: Some(Arc::clone(&ledger)),
        interrupt,
    };
    let (events, reporter) = report::spawn(get.output, record);
    events.send(Event::Planned { jobs: planned });
    if checked.streaming {
        events.send(Event::Streaming);
        let _ = total_to.set(events.clone());
    }
    let (lander, hashed) = Lander::new(LandSettings {
        dir: get.dir.clone(),
        overwrite: get.overwrite,
        linker: out_dir.linker,
        hashes: hashes.clone(),
        digest_all: get.write_checksums.as_ref().map(|_| Algo::Sha256),
        events: events.clone(),
        cancel: Arc::clone(&cancel),
        checksums: checksums.clone(),
        checksums_prefix,
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
        require_digest: get.require_digest,
        lander: Arc::clone(&lander),
        split: get.split.map(SplitFiles::new),
    });
    let downloads = pool::spawn(ledger.track(), get.jobs, fetcher, Arc::clone(&cancel));
    // This thread lands the files whose digests come back from the hash pool, until the
    // downloads are over and nothing waits for a digest.
    lander.finish_hashed(&hashed, |wait| downloads.is_busy_after(wait, &cancel));
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
    // With --fsync the renames themselves are durable only once the directory is. Errors
    // of the run as a whole go to the reporter before the summary, so the status it
    // shows is the process's.
    if get.fsync
        && let Err(io_error) = fs::File::open(&get.dir).and_then(|d| d.sync_all())
    {
        let e = Error::WriteOutput {
            path: get.dir.clone(),
            io_error,
        };
        events.send(Event::RunError(Box::new(e)));
    }
    if let Some(e) = lock(&late_error).take() {
        events.send(Event::RunError(Box::new(e)));
    }
    if let (Some(path), Some(lines)) = (&get.write_checksums, checksums)
        && let Err(e) = std::mem::take(&mut *lock(&lines)).write_file(path)
    {
        events.send(Event::RunError(Box::new(e)));
    }
    events.send(Event::Shutdown);
    drop(events);
    let summary = reporter
        .finish()
        .expect("the reporter thread does not panic");
    Ok(summary.exit)
}

/// Passes `jobs` on and, once they end (standard input reached its end, or a bad line
/// stopped it), tells the reporter the exact total: until then it was unknown.
fn total_at_end(
    mut jobs: impl Iterator<Item = JobSpec> + Send,
    shard: Option<crate::input::shard::Shard>,
    events: Arc<OnceLock<report::Events>>,
) -> impl Iterator<Item = JobSpec> + Send {
    let mut count = 0u64;
    let mut told = false;
    std::iter::from_fn(move || match jobs.next() {
        Some(job) => {
            count += 1;
            Some(job)
        }
        None => {
            if !std::mem::replace(&mut told, true)
                && let Some(events) = events.get()
            {
                let jobs = shard.map_or(count, |shard| shard.jobs_in(count));
                events.send(Event::Planned { jobs });
            }
            None
        }
    })
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
    let mut spool =
        crate::input::source::tempfile_in_tmp().map_err(|e| fetch_err(e.to_string()))?;
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
    let mut spool = crate::input::source::tempfile_in_tmp().map_err(spool_err)?;
    spool.write_all(&signed.text).map_err(spool_err)?;
    Ok(ManifestInput::Spool(
        Arc::new(spool),
        Arc::from(name.as_str()),
    ))
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
    let mut spool = crate::input::source::tempfile_in_tmp().map_err(err)?;
    spool.write_all(&bytes).map_err(err)?;
    Ok(ListInput::Fetched(
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

/// The largest signed manifest, signature or list read by URL (held in memory whole).
const SIGNED_MANIFEST_MAX_BYTES: u64 = 256 << 20;

/// `a, b, c` with any URL userinfo removed from each.
fn redact_list(list: &str) -> String {
    let parts: Vec<String> = list.split(", ").map(redact_url).collect();
    parts.join(", ")
}

/// The largest manifest fetched by URL (it goes to a temporary file, not to memory).
const MANIFEST_MAX_BYTES: u64 = 4 << 30;

/// A lock that a panicked holder did not spoil: the data is a plain slot.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
