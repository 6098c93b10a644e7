//! `fetchpool hash [FILE...]`: digests computed on the hash pool, in argument order, handed
//! to `report::sums::HashPrinter` (which prints them as sha256sum, or `--tag`, does).
//! Standard input's bytes (`-`, or no FILE) are hashed here, in their turn. Wiring only.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::{AlgoArg, HashArgs};
use crate::digest::{self, Algo, Digest};
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::hashpool::{self, HashError, HashPool};
use crate::input::manifest::Style;
use crate::report::sums::{HashPrinter, LineEnd};

/// What one output line is about.
enum Item {
    /// Standard input's bytes, printed as `-`, as sha256sum does.
    Stdin,
    /// A file, by its name as given (raw bytes).
    File(Vec<u8>),
}

pub(crate) fn run(args: HashArgs) -> Result<Exit, Error> {
    let algo = algo_of(args.algo);
    let style = if args.tag {
        Style::Bsd
    } else {
        Style::Gnu {
            binary: args.binary,
        }
    };
    let end = if args.zero {
        LineEnd::Nul
    } else {
        LineEnd::Newline
    };
    let mut files: Vec<Vec<u8>> = args
        .files
        .into_iter()
        .map(|f| f.into_os_string().into_vec())
        .collect();
    let names_from_stdin = args.files_from.as_deref() == Some(Path::new("-"));
    if names_from_stdin && files.iter().any(|f| f == b"-") {
        return Err(Error::Usage(
            "standard input can be read only once: give '-' or '--files-from -', not both".into(),
        ));
    }
    if files.is_empty() && args.files_from.is_none() {
        files.push(b"-".to_vec());
    }
    // Opened now, so a missing list stops the run (exit 2) before any hashing.
    let names_from = match &args.files_from {
        None => None,
        Some(_) if names_from_stdin => Some(Box::new(io::stdin().lock()) as Box<dyn BufRead>),
        Some(path) => Some(
            Box::new(BufReader::new(File::open(path).map_err(|io_error| {
                Error::ReadInput {
                    path: path.clone(),
                    io_error,
                }
            })?)) as Box<dyn BufRead>,
        ),
    };
    let delimiter = if args.null { b'\0' } else { b'\n' };
    let source = args
        .files_from
        .as_deref()
        .map(|p| p.to_string_lossy().into_owned());

    let config = crate::settings::pool_config(args.hash_workers)?;
    let workers = config.workers.get();
    let pool = HashPool::spawn(config, crate::report::worker_stderr)?;
    let mut printer = HashPrinter::new(style, end, args.json);
    let ((ok, failed, closed), interrupted) =
        super::with_interrupts(&pool, |interrupted: &AtomicBool| {
            let listed = names_from
                .into_iter()
                .flat_map(|reader| names(reader, delimiter));
            let items = files
                .into_iter()
                .map(Ok)
                .chain(listed)
                .take_while(|_| !interrupted.load(Ordering::Relaxed))
                .map(|name| match name {
                    Ok(name) if name == b"-" => (Ok(Item::Stdin), None),
                    Ok(name) => {
                        let path = PathBuf::from(OsString::from_vec(name.clone()));
                        (Ok(Item::File(name)), Some((path, algo)))
                    }
                    Err(e) => (Err(e), None),
                });
            let (mut ok, mut failed) = (0u64, 0u64);
            for (item, answer) in hashpool::hash_in_order(&pool, workers, items) {
                // Past an interrupt, what comes back was cut short by it: not a result.
                if interrupted.load(Ordering::Relaxed) {
                    break;
                }
                let written = match (&item, answer) {
                    (Ok(Item::File(name)), Some(result)) => printer.file(name, &result),
                    (Ok(Item::Stdin), _) => printer.file(b"-", &hash_stdin(algo)),
                    (Err(e), _) => {
                        printer.names_unreadable(source.as_deref(), e);
                        Ok(false)
                    }
                    (Ok(Item::File(_)), None) => unreachable!("every file is hashed"),
                };
                match written {
                    Ok(true) => ok += 1,
                    Ok(false) => failed += 1,
                    // `fetchpool hash * | head -1`: the reader is gone; stop quietly.
                    Err(closed) => return (ok, failed, Some(closed)),
                }
            }
            (ok, failed, None)
        });
    let mut tally = exit::Tally::items(failed, 0);
    tally.interrupt = interrupted;
    let status = exit::status(&tally);
    if let Some(closed) = closed {
        // Dropping the pool (not shutting it down) kills the workers instead of finishing.
        return closed.ends_run(status);
    }
    pool.shutdown();
    if let Err(closed) = printer.summary(ok, failed, status) {
        return closed.ends_run(status);
    }
    Ok(status)
}

/// Standard input's bytes, hashed here: a pipe cannot be handed to a worker process.
fn hash_stdin(algo: Algo) -> Result<Digest, HashError> {
    digest::hash_reader(algo, io::stdin().lock()).map_err(|e| HashError::Io {
        kind: e.kind(),
        message: crate::error::plain_io(&e),
    })
}

fn algo_of(arg: AlgoArg) -> Algo {
    match arg {
        AlgoArg::Sha224 => Algo::Sha224,
        AlgoArg::Sha256 => Algo::Sha256,
        AlgoArg::Sha384 => Algo::Sha384,
        AlgoArg::Sha512 => Algo::Sha512,
    }
}

/// The names in a `--files-from` list, lazily, ended by `delimiter` (newline or NUL; empty
/// names skipped). A read error ends the list after yielding the error.
fn names(
    mut reader: Box<dyn BufRead + '_>,
    delimiter: u8,
) -> impl Iterator<Item = io::Result<Vec<u8>>> + '_ {
    let mut done = false;
    std::iter::from_fn(move || {
        let mut name = Vec::new();
        while !done {
            name.clear();
            match reader.read_until(delimiter, &mut name) {
                Ok(0) => done = true,
                Ok(_) => {
                    if name.last() == Some(&delimiter) {
                        name.pop();
                    }
                    if !name.is_empty() {
                        return Some(Ok(name));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &'static [u8], delimiter: u8) -> Vec<Vec<u8>> {
        names(Box::new(bytes), delimiter)
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn names_split_on_newlines_or_nul_and_skip_empty_ones() {
        assert_eq!(all(b"a\n\nb c\nd", b'\n'), [&b"a"[..], b"b c", b"d"]);
        assert_eq!(all(b"new\nline\0x\0\0", b'\0'), [&b"new\nline"[..], b"x"]);
    }
}
