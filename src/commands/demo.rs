//! `fetchpool demo`: starts a throttled HTTP server on 127.0.0.1 inside this process and
//! downloads its files through exactly the code path of `get`. Needs no network. Without
//! -d, the files go to a new temporary directory, named at the start, removed at the end.

use std::path::PathBuf;

use crate::cli::DemoArgs;
use crate::demo_server::{DemoServer, demo_files, fill_body};
use crate::digest::{Algo, Hasher};
use crate::error::Error;
use crate::exit::Exit;
use crate::settings::{self, Output};

/// Per-connection pacing: the whole demo takes a few seconds at `-j 8`.
const DEMO_RATE_BYTES_PER_SEC: u64 = 12 * 1024 * 1024;

pub(crate) fn run(args: DemoArgs) -> Result<Exit, Error> {
    let shrink = settings::demo_shrink();
    let files: Vec<(String, u64)> = demo_files()
        .into_iter()
        .map(|(name, size)| (name, (size / shrink).max(1)))
        .collect();
    let rate = (DEMO_RATE_BYTES_PER_SEC / shrink).max(1);
    let server = DemoServer::start(files.clone(), rate)
        .map_err(|e| Error::Setup(format!("cannot start the demo server on 127.0.0.1: {e}")))?;
    // Our own temporary directory is removed at the end; a -d DIR is the user's to keep.
    let (dir, is_temporary) = match args.dir {
        Some(dir) => (dir, false),
        None => (fresh_temp_dir()?, true),
    };
    let base = server.base_url();
    let total_bytes: u64 = files.iter().map(|(_, size)| size).sum();
    crate::report::note(&format!(
        "demo: downloading {} files ({} MiB) from {base} into {}{}",
        files.len(),
        total_bytes >> 20,
        dir.display(),
        match is_temporary {
            true => ", removed at the end (-d DIR keeps them)",
            false => "",
        }
    ));
    let get = settings::Get {
        // Each URL carries its digest, so the demo shows verification on the hash pool too.
        urls: files
            .iter()
            .map(|(name, size)| format!("{base}{name} sha256={}", digest_of(name, *size)))
            .collect(),
        lists: Vec::new(),
        dir: dir.clone(),
        jobs: args.jobs,
        // Never clobbers: a rerun into the same -d DIR finds the files there and verifies
        // them (a fresh temporary directory has none).
        overwrite: false,
        resume: true,
        checksums: Vec::new(),
        base_url: None,
        write_checksums: None,
        failed: None,
        hash: settings::pool_config(None)?,
        http: settings::Http::for_jobs(args.jobs),
        output: Output::from_args(&args.output),
        shard: None,
        max_per_host: None,
        limit_rate: None,
        fsync: false,
        // The demo shows many files at once, one connection each.
        split: None,
        panic_on: None,
        signed_by: None,
        signature: None,
        require_digest: false,
    };
    let result = super::get::run(get);
    if is_temporary {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => crate::report::note(&format!("demo: removed {}", dir.display())),
            Err(e) => crate::report::note(&format!(
                "demo: cannot remove {}: {}",
                dir.display(),
                crate::error::plain_io(&e)
            )),
        }
    } else {
        crate::report::note(&format!("demo: files are in {}", dir.display()));
    }
    result
}

/// The sha256 of a demo file, computed from the generator rather than downloaded.
fn digest_of(name: &str, size: u64) -> String {
    let mut hasher = Hasher::new(Algo::Sha256);
    let mut buf = vec![0u8; 256 * 1024];
    let mut offset = 0u64;
    while offset < size {
        let n = (size - offset).min(buf.len() as u64) as usize;
        fill_body(name, offset, &mut buf[..n]);
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    hasher.finish().to_hex()
}

/// A new directory under the system temp dir, named for this process.
fn fresh_temp_dir() -> Result<PathBuf, Error> {
    let base = std::env::temp_dir();
    for n in 0..1000u32 {
        let dir = base.join(format!("fetchpool-demo-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(io_error) => {
                return Err(Error::OutputDir {
                    path: dir,
                    io_error,
                });
            }
        }
    }
    Err(Error::Setup("no free name for a demo directory".into()))
}
