//! `fetchpool verify MANIFEST...`: a parallel `sha256sum -c`. Wiring (manifests in, files
//! hashed on the pool in manifest order, outcomes out) plus `Printer`, the one place this
//! command writes, until report.rs takes over the terminal.
//!
//! Every manifest is read twice: a first pass checks every line, so a malformed one stops
//! the run (exit 2) before any file is hashed; the second pass streams entries into the
//! pool. Memory stays flat however long a manifest file is; a manifest on stdin (which
//! cannot be read twice) is held in memory as its raw bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::cli::VerifyArgs;
use crate::digest::Digest;
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::hashpool::{self, HashError, HashPool};
use crate::input::manifest::{self, Entry};

use super::hash::quote_name;

pub(crate) fn run(args: VerifyArgs) -> Result<Exit, Error> {
    let manifests = args
        .manifests
        .iter()
        .map(|path| Manifest::check(path))
        .collect::<Result<Vec<_>, _>>()?;

    let config = crate::settings::pool_config(args.hash_workers)?;
    let workers = config.workers.get();
    let pool = HashPool::spawn(config)?;
    let mut printer = Printer {
        out: io::stdout().lock(),
        err: io::stderr(),
        mode: if args.status {
            Mode::Status
        } else if args.json {
            Mode::Json
        } else if args.quiet {
            Mode::Quiet
        } else {
            Mode::Normal
        },
    };
    let mut status = Exit::Ok;
    let mut total = Tally::default();
    for manifest in &manifests {
        let tally = match verify_one(&pool, workers, manifest, args.ignore_missing, &mut printer) {
            Ok(tally) => tally,
            // A closed stdout (`| head`): stop quietly; dropping the pool kills the workers.
            Err(Stop::Pipe) => return Ok(status),
            Err(Stop::Fatal(e)) => return Err(e),
        };
        printer.manifest_done(&manifest.whole_name(), &tally, args.ignore_missing);
        status = exit::merge(status, tally.exit(args.ignore_missing));
        total.add(&tally);
    }
    match printer.summary(&total).and_then(|()| printer.out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(status),
        Err(io_error) => return Err(stdout_error(io_error)),
        Ok(()) => {}
    }
    pool.shutdown();
    Ok(status)
}

enum Stop {
    Pipe,
    Fatal(Error),
}

fn stdout_error(io_error: io::Error) -> Error {
    Error::WriteOutput {
        path: PathBuf::from("standard output"),
        io_error,
    }
}

/// One manifest that passed the first (checking) pass.
struct Manifest {
    path: PathBuf,
    /// As messages name it: the path as given, `-` for stdin.
    source: Arc<str>,
    /// Names resolve against this directory (the manifest's own; "" for stdin).
    dir: PathBuf,
    /// The bytes of a manifest read from stdin, which cannot be read twice.
    stdin_bytes: Option<Vec<u8>>,
}

impl Manifest {
    /// The first pass: every line must parse, and at least one must be an entry.
    fn check(path: &Path) -> Result<Manifest, Error> {
        let source: Arc<str> = Arc::from(path.to_string_lossy());
        let read_error = |io_error| Error::ReadInput {
            path: path.to_owned(),
            io_error,
        };
        let (dir, stdin_bytes) = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(read_error)?;
            (PathBuf::new(), Some(bytes))
        } else {
            let dir = path.parent().map(Path::to_owned).unwrap_or_default();
            (dir, None)
        };
        let manifest = Manifest {
            path: path.to_owned(),
            source,
            dir,
            stdin_bytes,
        };
        let mut entries = 0usize;
        for entry in manifest::parse(manifest.open()?, Arc::clone(&manifest.source)) {
            entry?;
            entries += 1;
        }
        if entries == 0 {
            return Err(Error::Usage(format!(
                "{}: no properly formatted checksum lines found",
                manifest.whole_name()
            )));
        }
        Ok(manifest)
    }

    /// How coreutils names a whole manifest in its messages: quoted, stdin in words.
    fn whole_name(&self) -> String {
        if self.stdin_bytes.is_some() {
            quote_name(b"standard input")
        } else {
            quote_name(self.path.as_os_str().as_bytes())
        }
    }

    fn open(&self) -> Result<Box<dyn BufRead + '_>, Error> {
        match &self.stdin_bytes {
            Some(bytes) => Ok(Box::new(&bytes[..])),
            None => File::open(&self.path)
                .map(|file| Box::new(BufReader::new(file)) as Box<dyn BufRead>)
                .map_err(|io_error| Error::ReadInput {
                    path: self.path.clone(),
                    io_error,
                }),
        }
    }

    /// Where the file named by an entry is, or why we refuse to look: a manifest must not
    /// make us read outside its directory (absolute names, `..`).
    fn resolve(&self, name: &[u8]) -> Result<PathBuf, &'static str> {
        let name = Path::new(std::ffi::OsStr::from_bytes(name));
        if name.is_absolute() {
            return Err("refusing an absolute name in a manifest");
        }
        if name.components().any(|c| c == Component::ParentDir) {
            return Err("refusing a name with a '..' component in a manifest");
        }
        Ok(self.dir.join(name))
    }
}

/// The second pass over one manifest: hash in order, print, count.
fn verify_one<O: Write, E: Write>(
    pool: &HashPool,
    workers: usize,
    manifest: &Manifest,
    ignore_missing: bool,
    printer: &mut Printer<O, E>,
) -> Result<Tally, Stop> {
    let reader = manifest.open().map_err(Stop::Fatal)?;
    let items = manifest::parse(reader, Arc::clone(&manifest.source)).map(|entry| {
        let Ok(entry) = entry else {
            // The first pass accepted this manifest: it changed under us.
            return (entry.map(|e| (e, None)), None);
        };
        match manifest.resolve(&entry.name) {
            Ok(path) => {
                let algo = entry.digest.algo();
                (Ok((entry, None)), Some((path, algo)))
            }
            Err(refusal) => (Ok((entry, Some(refusal))), None),
        }
    });
    let mut tally = Tally::default();
    for (item, answer) in hashpool::hash_in_order(pool, workers, items) {
        let (entry, refusal) = item.map_err(Stop::Fatal)?;
        let outcome = match (answer, refusal) {
            (Some(Ok(got)), _) if got == entry.digest => Outcome::Ok(got),
            (Some(Ok(got)), _) => Outcome::Mismatch(got),
            (Some(Err(HashError::Io { kind, .. })), _)
                if ignore_missing && kind == io::ErrorKind::NotFound =>
            {
                Outcome::IgnoredMissing
            }
            (Some(Err(e)), _) => Outcome::Unreadable(e.to_string()),
            (None, Some(refusal)) => Outcome::Unreadable(refusal.to_string()),
            (None, None) => unreachable!("an entry without a request was refused"),
        };
        match printer.file(&entry, &outcome) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(Stop::Pipe),
            Err(io_error) => return Err(Stop::Fatal(stdout_error(io_error))),
        }
        tally.count(&outcome);
    }
    Ok(tally)
}

/// How one listed file fared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok(Digest),
    Mismatch(Digest),
    /// Missing, unreadable, refused, or its worker died: the reason, for stderr.
    Unreadable(String),
    /// Missing, with `--ignore-missing`: not reported, not counted as a failure.
    IgnoredMissing,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tally {
    ok: usize,
    mismatched: usize,
    unreadable: usize,
    ignored: usize,
}

impl Tally {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Ok(_) => self.ok += 1,
            Outcome::Mismatch(_) => self.mismatched += 1,
            Outcome::Unreadable(_) => self.unreadable += 1,
            Outcome::IgnoredMissing => self.ignored += 1,
        }
    }

    fn add(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.mismatched += other.mismatched;
        self.unreadable += other.unreadable;
        self.ignored += other.ignored;
    }

    /// Like coreutils, `--ignore-missing` with nothing left to check is a failure.
    fn is_nothing_verified(&self, ignore_missing: bool) -> bool {
        ignore_missing && self.ok + self.mismatched + self.unreadable == 0
    }

    fn exit(&self, ignore_missing: bool) -> Exit {
        let mut exit = Exit::Ok;
        if self.unreadable > 0 || self.is_nothing_verified(ignore_missing) {
            exit = exit::merge(exit, Exit::Failed);
        }
        if self.mismatched > 0 {
            exit = exit::merge(exit, Exit::Mismatch);
        }
        exit
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `NAME: OK` and failures.
    Normal,
    /// `--quiet`: failures and warnings only.
    Quiet,
    /// `--status`: nothing at all.
    Status,
    /// `--json`: one object per file and a summary, on stdout only.
    Json,
}

/// Everything `verify` writes, in coreutils' words. Errors writing to `out` are returned
/// (a closed pipe ends the command); errors writing to `err` are ignored.
struct Printer<O: Write, E: Write> {
    out: O,
    err: E,
    mode: Mode,
}

impl<O: Write, E: Write> Printer<O, E> {
    fn file(&mut self, entry: &Entry, outcome: &Outcome) -> io::Result<()> {
        if self.mode == Mode::Json {
            return self.json_file(entry, outcome);
        }
        let word: &[u8] = match (outcome, self.mode) {
            (_, Mode::Status) | (Outcome::IgnoredMissing, _) | (Outcome::Ok(_), Mode::Quiet) => {
                return Ok(());
            }
            (Outcome::Ok(_), _) => b"OK",
            (Outcome::Mismatch(_), _) => b"FAILED",
            (Outcome::Unreadable(reason), _) => {
                let _ = writeln!(self.err, "fetchpool: {}: {reason}", quote_name(&entry.name));
                b"FAILED open or read"
            }
        };
        let mut line = Vec::with_capacity(entry.name.len() + 24);
        // sha256sum -c escapes a name only when it holds a newline (coreutils 9).
        if entry.name.contains(&b'\n') {
            line.push(b'\\');
            manifest::push_escaped(&mut line, &entry.name);
        } else {
            line.extend_from_slice(&entry.name);
        }
        line.extend_from_slice(b": ");
        line.extend_from_slice(word);
        line.push(b'\n');
        self.out.write_all(&line)
    }

    fn json_file(&mut self, entry: &Entry, outcome: &Outcome) -> io::Result<()> {
        let (status, digest, error) = match outcome {
            Outcome::IgnoredMissing => return Ok(()),
            Outcome::Ok(got) => ("ok", Some(got), None),
            Outcome::Mismatch(got) => ("mismatch", Some(got), None),
            Outcome::Unreadable(reason) => ("failed", None, Some(reason)),
        };
        let object = serde_json::json!({
            "path": String::from_utf8_lossy(&entry.name),
            "status": status,
            "digest": digest.map(Digest::to_string),
            "expected": entry.digest.to_string(),
            "error": error,
        });
        writeln!(self.out, "{object}")
    }

    /// coreutils' per-manifest warnings, on stderr.
    fn manifest_done(&mut self, whole_name: &str, tally: &Tally, ignore_missing: bool) {
        if matches!(self.mode, Mode::Status | Mode::Json) {
            return;
        }
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        if tally.unreadable > 0 {
            let n = tally.unreadable;
            let _ = writeln!(
                self.err,
                "fetchpool: WARNING: {n} listed file{} could not be read",
                plural(n)
            );
        }
        if tally.mismatched > 0 {
            let n = tally.mismatched;
            let _ = writeln!(
                self.err,
                "fetchpool: WARNING: {n} computed checksum{} did NOT match",
                plural(n)
            );
        }
        if tally.is_nothing_verified(ignore_missing) {
            let _ = writeln!(self.err, "fetchpool: {whole_name}: no file was verified");
        }
    }

    fn summary(&mut self, total: &Tally) -> io::Result<()> {
        if self.mode != Mode::Json {
            return Ok(());
        }
        let object = serde_json::json!({
            "summary": {
                "ok": total.ok,
                "mismatch": total.mismatched,
                "failed": total.unreadable,
                "ignored_missing": total.ignored,
            }
        });
        writeln!(self.out, "{object}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::manifest::Style;
    use crate::job::Origin;

    fn entry(name: &[u8]) -> Entry {
        Entry {
            origin: Origin {
                source: Arc::from("m"),
                line: 1,
            },
            name: name.to_vec(),
            digest: crate::digest::hash_reader(crate::digest::Algo::Sha256, &b""[..]).unwrap(),
            style: Style::Gnu { binary: false },
        }
    }

    fn printed(mode: Mode, outcomes: &[(&[u8], Outcome)]) -> (String, String) {
        let mut printer = Printer {
            out: Vec::new(),
            err: Vec::new(),
            mode,
        };
        let mut tally = Tally::default();
        for (name, outcome) in outcomes {
            printer.file(&entry(name), outcome).unwrap();
            tally.count(outcome);
        }
        printer.manifest_done("m", &tally, false);
        printer.summary(&tally).unwrap();
        (
            String::from_utf8(printer.out).unwrap(),
            String::from_utf8(printer.err).unwrap(),
        )
    }

    fn some_digest() -> Digest {
        crate::digest::hash_reader(crate::digest::Algo::Sha256, &b"x"[..]).unwrap()
    }

    #[test]
    fn prints_ok_failed_and_warnings_like_sha256sum_c() {
        let (out, err) = printed(
            Mode::Normal,
            &[
                (b"a", Outcome::Ok(some_digest())),
                (b"b\\c", Outcome::Mismatch(some_digest())),
                (
                    b"n\nl",
                    Outcome::Unreadable("No such file or directory".into()),
                ),
                (b"gone", Outcome::IgnoredMissing),
            ],
        );
        assert_eq!(out, "a: OK\nb\\c: FAILED\n\\n\\nl: FAILED open or read\n");
        assert_eq!(
            err,
            "fetchpool: 'n'$'\\n''l': No such file or directory\n\
             fetchpool: WARNING: 1 listed file could not be read\n\
             fetchpool: WARNING: 1 computed checksum did NOT match\n"
        );
    }

    #[test]
    fn quiet_drops_ok_lines_and_status_drops_everything() {
        let outcomes: &[(&[u8], Outcome)] = &[
            (b"a", Outcome::Ok(some_digest())),
            (b"b", Outcome::Mismatch(some_digest())),
            (b"c", Outcome::Mismatch(some_digest())),
        ];
        let (out, err) = printed(Mode::Quiet, outcomes);
        assert_eq!(out, "b: FAILED\nc: FAILED\n");
        assert_eq!(
            err,
            "fetchpool: WARNING: 2 computed checksums did NOT match\n"
        );
        assert_eq!(
            printed(Mode::Status, outcomes),
            (String::new(), String::new())
        );
    }

    #[test]
    fn json_has_one_object_per_file_and_a_summary() {
        let (out, err) = printed(
            Mode::Json,
            &[
                (b"a", Outcome::Mismatch(some_digest())),
                (b"b", Outcome::Unreadable("Is a directory".into())),
            ],
        );
        assert_eq!(err, "");
        let objects: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(objects.len(), 3);
        assert_eq!(objects[0]["status"], "mismatch");
        assert_eq!(objects[0]["digest"], some_digest().to_string());
        assert_eq!(objects[1]["error"], "Is a directory");
        assert_eq!(objects[2]["summary"]["mismatch"], 1);
        assert_eq!(objects[2]["summary"]["failed"], 1);
    }

    #[test]
    fn mismatch_wins_over_unreadable_and_nothing_verified_fails() {
        let tally = Tally {
            mismatched: 1,
            unreadable: 1,
            ..Tally::default()
        };
        assert_eq!(tally.exit(false), Exit::Mismatch);
        let all_missing = Tally {
            ignored: 2,
            ..Tally::default()
        };
        assert_eq!(all_missing.exit(true), Exit::Failed);
        assert_eq!(
            Tally {
                ok: 1,
                ..all_missing
            }
            .exit(true),
            Exit::Ok
        );
    }

    #[test]
    fn refuses_absolute_and_parent_names() {
        let manifest = Manifest {
            path: PathBuf::from("sums/m.sha256"),
            source: Arc::from("sums/m.sha256"),
            dir: PathBuf::from("sums"),
            stdin_bytes: None,
        };
        assert_eq!(manifest.resolve(b"a/b"), Ok(PathBuf::from("sums/a/b")));
        assert!(manifest.resolve(b"/etc/passwd").is_err());
        assert!(manifest.resolve(b"a/../../b").is_err());
        assert!(manifest.resolve(b"..").is_err());
        assert_eq!(
            manifest.resolve(b"./x..y"),
            Ok(PathBuf::from("sums/./x..y"))
        );
    }
}
