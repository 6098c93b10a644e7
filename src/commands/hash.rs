//! `fetchpool hash FILE...`: digests computed on the hash pool, in argument order, handed
//! to `report::sums::HashPrinter` (which prints them as sha256sum, or `--tag`, does).
//! Wiring only.

use std::ffi::OsString;
use std::io::{self, BufRead};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::cli::{AlgoArg, HashArgs};
use crate::digest::Algo;
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::hashpool::{self, HashPool};
use crate::input::manifest::Style;
use crate::report;
use crate::report::sums::HashPrinter;

pub(crate) fn run(args: HashArgs) -> Result<Exit, Error> {
    let algo = algo_of(args.algo);
    let style = if args.tag {
        Style::Bsd
    } else {
        Style::Gnu { binary: false }
    };
    let config = crate::settings::pool_config(args.hash_workers)?;
    let workers = config.workers.get();
    let pool = HashPool::spawn(config, report::worker_stderr)?;

    let items = names(args.files).map(|name| match name {
        Ok(name) => {
            let path = PathBuf::from(OsString::from_vec(name.clone()));
            (Ok(name), Some((path, algo)))
        }
        Err(e) => (Err(e), None),
    });
    let mut printer = HashPrinter::new(style, args.json);
    let mut status = Exit::Ok;
    let (mut ok, mut failed) = (0u64, 0u64);
    for (name, answer) in hashpool::hash_in_order(&pool, workers, items) {
        let written = match (&name, answer) {
            (Ok(name), Some(result)) => printer.file(name, &result),
            (Err(e), _) => Ok(printer.names_unreadable(e)),
            (Ok(_), None) => unreachable!("every name is hashed"),
        };
        match written {
            Ok(exit) => {
                if exit == Exit::Ok {
                    ok += 1;
                } else {
                    failed += 1;
                }
                status = exit::merge(status, exit);
            }
            // `fetchpool hash * | head -1`: the reader is gone; stop quietly. Dropping
            // the pool (not shutting it down) kills the workers instead of finishing.
            Err(closed) => return closed.ends_run(status),
        }
    }
    if let Err(closed) = printer.summary(ok, failed, status) {
        return closed.ends_run(status);
    }
    pool.shutdown();
    Ok(status)
}

fn algo_of(arg: AlgoArg) -> Algo {
    match arg {
        AlgoArg::Sha224 => Algo::Sha224,
        AlgoArg::Sha256 => Algo::Sha256,
        AlgoArg::Sha384 => Algo::Sha384,
        AlgoArg::Sha512 => Algo::Sha512,
    }
}

/// The file names in argument order; `-` expands lazily to the lines of stdin (raw bytes,
/// blank lines skipped). A read error on stdin ends the list after yielding the error.
fn names(files: Vec<PathBuf>) -> impl Iterator<Item = io::Result<Vec<u8>>> {
    files.into_iter().flat_map(|file| {
        let from_stdin = file.as_os_str() == "-";
        let mut single = Some(file.into_os_string().into_vec());
        let mut stdin = from_stdin.then(|| io::stdin().lock());
        std::iter::from_fn(move || {
            let Some(reader) = stdin.as_mut() else {
                return single.take().map(Ok);
            };
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return None,
                    Ok(_) => {
                        let name = line.strip_suffix(b"\n").unwrap_or(&line);
                        if !name.is_empty() {
                            return Some(Ok(name.to_vec()));
                        }
                    }
                    Err(e) => {
                        stdin = None;
                        single = None;
                        return Some(Err(e));
                    }
                }
            }
        })
    })
}
