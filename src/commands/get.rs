//! `fetchpool get`: wiring only. Validates the plan, starts the hash pool, the reporter and
//! the download pool, and turns what happened into an exit status.

use std::collections::HashMap;
use std::fs;
use std::io::{BufReader, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};

use crate::digest::Algo;
use crate::download::http::{self, redact_url};
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::hashpool::HashPool;
use crate::input::plan::{ListInput, Plan, spool_stdin};
use crate::input::{manifest, url_list};
use crate::job::Event;
use crate::pool::{self, Landing};
use crate::report;
use crate::settings::{self, ListSource};
use crate::signals;

pub(crate) fn run(get: settings::Get) -> Result<Exit, Error> {
    prepare_dir(&get.dir)?;
    let agent = http::agent(&get.http);
    let mut expected = HashMap::new();
    let mut entries = Vec::new();
    for source in &get.checksums {
        for entry in load_manifest(&agent, &get.http, source)? {
            let entry = entry?;
            if let Ok(name) = std::str::from_utf8(&entry.name) {
                let name = name.strip_prefix("./").unwrap_or(name).to_string();
                expected.insert(name, (entry.digest.clone(), entry.origin.clone()));
            }
            if get.base_url.is_some() {
                entries.push(entry);
            }
        }
    }
    let mut lists = Vec::new();
    for list in &get.lists {
        lists.push(match list {
            ListSource::File(path) => ListInput::File(path.clone()),
            ListSource::Stdin => ListInput::Spool(spool_stdin()?),
        });
    }
    let mut plan = Plan {
        args: get.urls.clone(),
        lists,
        from_manifest: get.base_url.clone().map(|base| (base, entries)),
        expected,
    };
    let planned = plan.validate()?;

    let needs_hashing = get.write_checksums.is_some()
        || plan.from_manifest.is_some()
        || !plan.expected.is_empty()
        || plan.jobs().any(|j| j.is_ok_and(|j| j.expect.is_some()));
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
    let (events, rx) = channel();
    let reporter = report::spawn(get.output, get.failed.is_some(), rx);
    let _ = events.send(Event::Planned { jobs: planned });
    let landed = get
        .write_checksums
        .as_ref()
        .map(|_| Arc::new(Mutex::new(Vec::new())));
    let landing = Arc::new(Landing {
        agent,
        http: get.http.clone(),
        dir: get.dir.clone(),
        overwrite: get.overwrite,
        resume: get.resume,
        hashes: hashes.clone(),
        digest_all: get.write_checksums.as_ref().map(|_| Algo::Sha256),
        events,
        cancel: Arc::clone(&cancel),
        landed: landed.clone(),
    });

    // The plan was validated, so the second pass yields no errors unless a list changed
    // under us; then we stop feeding and say so.
    let mut late_error = None;
    let jobs = plan
        .jobs()
        .map_while(|job| job.map_err(|e| late_error = Some(e)).ok())
        .enumerate()
        .map(|(i, job)| (i as u64, job));
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
    let _ = events.send(Event::Shutdown);
    drop(events);
    let summary = reporter.join().expect("the reporter thread does not panic");
    let mut status = summary.exit;
    if let Some(e) = late_error {
        report::fatal(&e);
        status = exit::merge(status, e.exit());
    }
    if let (Some(path), Some(landed)) = (&get.write_checksums, landed) {
        let mut landed = std::mem::take(&mut *landed.lock().expect("no poisoned lock"));
        landed.sort_by_key(|(id, _, _)| *id);
        write_checksums(path, &landed)?;
    }
    if let Some(path) = &get.failed {
        let lines: String = summary
            .failed_jobs
            .iter()
            .map(|job| url_list::format_line(job) + "\n")
            .collect();
        fs::write(path, lines).map_err(|io_error| Error::WriteOutput {
            path: path.clone(),
            io_error,
        })?;
    }
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        status = exit::merge(status, Exit::Interrupted);
    }
    Ok(status)
}

/// Creates the output directory and proves it writable before any download starts.
fn prepare_dir(dir: &Path) -> Result<(), Error> {
    let err = |io_error| Error::OutputDir {
        path: dir.to_path_buf(),
        io_error,
    };
    fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(format!(".fetchpool-probe-{}", std::process::id()));
    fs::File::create(&probe).map_err(err)?;
    fs::remove_file(&probe).map_err(err)
}

/// Reads a `-c` manifest from a path or an http(s) URL.
fn load_manifest(
    agent: &ureq::Agent,
    settings: &crate::settings::Http,
    source: &str,
) -> Result<impl Iterator<Item = Result<manifest::Entry, Error>>, Error> {
    let name: Arc<str> = Arc::from(redact_url(source).as_str());
    if source.starts_with("http://") || source.starts_with("https://") {
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
        let bytes = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| fetch_err(e.to_string()))?;
        let reader: Box<dyn std::io::BufRead> = Box::new(Cursor::new(bytes));
        Ok(manifest::parse(reader, name))
    } else {
        let file = fs::File::open(source).map_err(|io_error| Error::ReadInput {
            path: PathBuf::from(source),
            io_error,
        })?;
        let reader: Box<dyn std::io::BufRead> = Box::new(BufReader::new(file));
        Ok(manifest::parse(reader, name))
    }
}

fn write_checksums(
    path: &Path,
    landed: &[(u64, String, crate::digest::Digest)],
) -> Result<(), Error> {
    let err = |io_error| Error::WriteOutput {
        path: path.to_path_buf(),
        io_error,
    };
    let mut out = Vec::new();
    for (_, name, digest) in landed {
        out.extend(manifest::format_line(
            name.as_bytes(),
            digest,
            manifest::Style::Gnu { binary: false },
        ));
    }
    let mut file = fs::File::create(path).map_err(err)?;
    file.write_all(&out).map_err(err)
}
