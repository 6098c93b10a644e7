//! `fetchpool get`: wiring only. Validates the plan, starts the hash pool, the reporter and
//! the download pool, and turns what happened into an exit status.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::digest::Algo;
use crate::download::hosts::{HostPauses, HostSlots};
use crate::download::http;
use crate::download::limit::RateLimit;
use crate::download::whole::{self, Whole};
use crate::error::Error;
use crate::exit::Exit;
use crate::fetch_job::Fetcher;
use crate::hashpool::HashPool;
use crate::input::expected::Expected;
use crate::input::plan::Plan;
use crate::input::source::{self, FetchUrl, ListInput, ManifestInput, UrlBody};
use crate::job::{Event, JobSpec};
use crate::job_lines::JobLines;
use crate::land::{LandSettings, Lander, OutputDir};
use crate::pool;
use crate::report;
use crate::settings::{self, ListSource};
use crate::signals;
use crate::split::SplitFiles;
use crate::trust::{Keyring, locate};
use crate::url::redact_url;

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
    // Manifests, signatures and lists by URL: read now, with the downloads' retry policy.
    let opened = open_inputs(&get, &url_reader(&agent, &get, &cancel), &stream_stop);
    let (manifests, expected, lists) = match opened {
        Ok(opened) => opened,
        // Interrupted while a manifest or list was fetched: said, and the interrupt's status.
        Err(e) if cancel.load(std::sync::atomic::Ordering::Relaxed) => {
            report::fatal(&e);
            return Ok(interrupt.exit().unwrap_or(Exit::Interrupted));
        }
        Err(e) => return Err(e),
    };
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

/// The `-c` manifests (each believed first with --signed-by), the expected digests from
/// them, and the `-i` lists, opened (`input/source.rs`; URLs read by `fetch`).
fn open_inputs(
    get: &settings::Get,
    fetch: &FetchUrl<'_>,
    stream_stop: &Arc<AtomicBool>,
) -> Result<(Vec<ManifestInput>, Expected, Vec<ListInput>), Error> {
    let mut manifests = Vec::new();
    for at in &get.checksums {
        manifests.push(match &get.signed_by {
            Some(keys) => load_signed_manifest(get, keys, at, fetch)?,
            None => source::open_manifest(at, &redact_url(at), Some(fetch))?,
        });
    }
    // Nothing is written before every manifest is believed and the plan checked: see
    // `OutputDir::prepare`.
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
            ListSource::File(path) => {
                let name = redact_url(&path.to_string_lossy());
                source::open_list_at(path, &name, fetch)?
            }
            ListSource::Stdin => ListInput::Stream(Arc::clone(stream_stop)),
        });
    }
    Ok((manifests, expected, lists))
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

/// A `-c` manifest that must be signed by one of `keys`: read whole (path or URL), its
/// signature found (beside it, path or URL, or `--signature`) and checked, and only the
/// signed text kept.
fn load_signed_manifest(
    get: &settings::Get,
    keys: &Keyring,
    source: &str,
    fetch: &FetchUrl<'_>,
) -> Result<ManifestInput, Error> {
    let name = redact_url(source);
    let bytes = source::open_manifest(source, &name, Some(fetch))?.bytes()?;
    let read = |at: &str| source::read_whole(at, Some(fetch));
    let vouched =
        locate::vouch(source, &bytes, get.signature.as_deref(), keys, &read).map_err(|e| {
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
    ManifestInput::signed(&signed.text, &name)
}

/// How `get` reads a manifest, signature or list by URL (`input/source.rs` is handed it):
/// `download::whole` with the run's retry policy, the run's agent (TLS, proxies, stall
/// timeout), a retry said as a file's is, and a failure said with the HTTP status or the
/// transport error.
fn url_reader<'a>(
    agent: &'a ureq::Agent,
    get: &'a settings::Get,
    cancel: &'a AtomicBool,
) -> impl Fn(&str, u64, &mut fs::File) -> Result<UrlBody, String> + 'a {
    move |url: &str, cap: u64, into: &mut fs::File| {
        let name = redact_url(url);
        let on_retry = |retry: u32, wait: std::time::Duration, why: &crate::error::Failure| {
            report::retrying(&get.output, &name, retry + 1, wait, &why.to_string());
        };
        let reading = whole::Reading {
            agent,
            http: &get.http,
            cancel,
            on_retry: &on_retry,
        };
        match whole::read(&reading, url, cap, into) {
            Ok(Whole::Complete { .. }) => Ok(UrlBody::Complete),
            Ok(Whole::Missing { status }) => Ok(UrlBody::Missing(
                crate::error::Failure::Http {
                    status,
                    retry_after: None,
                }
                .to_string(),
            )),
            Err(failure) => Err(failure.to_string()),
        }
    }
}

/// `a, b, c` with any URL userinfo removed from each.
fn redact_list(list: &str) -> String {
    let parts: Vec<String> = list.split(", ").map(redact_url).collect();
    parts.join(", ")
}

/// A lock that a panicked holder did not spoil: the data is a plain slot.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
