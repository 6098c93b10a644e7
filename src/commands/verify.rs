//! `fetchpool verify MANIFEST...`: a parallel `sha256sum -c`. Wiring only: manifests in,
//! files hashed on the pool in manifest order, outcomes out to `report::sums::VerifyPrinter`.
//! Names are relative to the current directory, as with sha256sum, or to `-C DIR`.
//!
//! Every manifest is read twice: a first pass checks every line, so a malformed one stops
//! the run (exit 2) before any file is hashed; the second pass streams entries into the
//! pool. Memory stays flat however long a manifest file is; a manifest on stdin (which
//! cannot be read twice) is spooled to an unnamed temporary file. Opening them is
//! `input/source.rs`'s.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::VerifyArgs;
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::hashpool::{self, HashError, HashPool};
use crate::input::source::{self, ManifestInput};
use crate::report::sums::{Tally, Verdict, VerifyMode, VerifyPrinter, quote_name};
use crate::report::{self, Closed};
use crate::trust::{self, Keyring, locate};

pub(crate) fn run(args: VerifyArgs) -> Result<Exit, Error> {
    let keys = crate::settings::keyring(&args.signed_by)?;
    if args.signature.is_some() && args.manifests.len() > 1 {
        return Err(Error::Usage(
            "--signature needs exactly one MANIFEST".into(),
        ));
    }
    let signature = args.signature.as_deref().map(|p| p.to_string_lossy());
    let say = match (args.status, args.json) {
        (true, _) => Say::Nothing,
        (false, true) => Say::Json,
        (false, false) => Say::Note,
    };
    let paths = match args.manifests.is_empty() {
        // As `sha256sum -c` with no FILE.
        true => vec![PathBuf::from("-")],
        false => args.manifests.clone(),
    };
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(Error::Usage(
            "standard input ('-') can be given only once".into(),
        ));
    }
    let base = args.directory.clone().unwrap_or_default();
    if !base.as_os_str().is_empty() && !base.is_dir() {
        return Err(Error::Usage(format!(
            "-C {}: not a directory",
            base.display()
        )));
    }
    let manifests = paths
        .iter()
        .map(|path| Manifest::check(path, &base, keys.as_deref(), signature.as_deref(), say))
        .collect::<Result<Vec<_>, _>>()?;

    let config = crate::settings::pool_config(args.hash_workers)?;
    let workers = config.workers.get();
    let pool = HashPool::spawn(config, report::worker_stderr)?;
    let mut printer = VerifyPrinter::new(if args.status {
        VerifyMode::Status
    } else if args.json {
        VerifyMode::Json
    } else if args.quiet {
        VerifyMode::Quiet
    } else {
        VerifyMode::Normal
    });
    let ((mut items, total, stop), interrupted) =
        super::with_interrupts(&pool, |interrupted: &AtomicBool| {
            // Each manifest's files counted into one exit tally as they are told.
            let mut items = exit::Tally::default();
            let mut total = Tally::default();
            for manifest in &manifests {
                let (tally, stop) = verify_one(
                    &pool,
                    workers,
                    manifest,
                    args.ignore_missing,
                    &mut printer,
                    interrupted,
                );
                if let Some(stop) = stop {
                    return (items, total, Some(stop));
                }
                if interrupted.load(Ordering::Relaxed) {
                    // What was checked is still told (the warnings), but not "no file was
                    // verified": the interrupt, not the manifest, cut it short.
                    printer.manifest_done(&manifest.whole_name(), &tally, false);
                    tally.count_into(&mut items, false);
                    total.add(&tally);
                    break;
                }
                printer.manifest_done(&manifest.whole_name(), &tally, args.ignore_missing);
                tally.count_into(&mut items, args.ignore_missing);
                total.add(&tally);
            }
            (items, total, None)
        });
    items.interrupt = interrupted;
    let status = exit::status(&items);
    match stop {
        // A closed stdout (`| head`): stop quietly; dropping the pool kills the workers.
        Some(Stop::Output(closed)) => return closed.ends_run(status),
        Some(Stop::Fatal(e)) => return Err(e),
        None => {}
    }
    pool.shutdown();
    if let Err(closed) = printer.summary(&total, status) {
        return closed.ends_run(status);
    }
    Ok(status)
}

/// Why the second pass over a manifest ended early.
enum Stop {
    /// Standard output takes no more.
    Output(Closed),
    Fatal(Error),
}

/// One manifest that passed the first (checking) pass.
struct Manifest {
    path: PathBuf,
    /// Read from standard input (`-`).
    is_stdin: bool,
    /// Names resolve against this directory (`-C DIR`; "": the current directory).
    dir: PathBuf,
    /// What is read: the file, standard input's spooled copy, or (with --signed-by) the
    /// text its signature covers, which is all that is read then.
    input: ManifestInput,
}

impl Manifest {
    /// The first pass: the signature, when keys are given, checked before anything else;
    /// then every line must parse, and at least one must be an entry. The files it names
    /// are looked for in `base` ("": the current directory).
    fn check(
        path: &Path,
        base: &Path,
        keys: Option<&Keyring>,
        signature: Option<&str>,
        say: Say,
    ) -> Result<Manifest, Error> {
        let is_stdin = path.as_os_str() == "-";
        let name = path.to_string_lossy();
        // Paths only: `verify` reads no URL.
        let mut input = match is_stdin {
            true => source::stdin_manifest()?,
            false => source::open_manifest(&name, &name, None)?,
        };
        if let Some(keys) = keys {
            let signed = vouch(path, &input, is_stdin, keys, signature, say)?;
            input = ManifestInput::signed(&signed, &name)?;
        }
        let manifest = Manifest {
            path: path.to_owned(),
            is_stdin,
            dir: base.to_owned(),
            input,
        };
        let mut entries = 0usize;
        for entry in manifest.input.entries()? {
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
        if self.is_stdin {
            quote_name(b"standard input")
        } else {
            quote_name(self.path.as_os_str().as_bytes())
        }
    }

    /// Where the file named by an entry is, or why we refuse to look: a manifest must not
    /// make us read outside the directory it is checked in (absolute names, `..`).
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

/// How a good signature is told: a note on stderr, a JSON object on stdout, or not at
/// all (`--status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Say {
    Note,
    Json,
    Nothing,
}

/// Checks the signature of the manifest `input` read from `path` (standard input's, whose
/// signature must be given, when `is_stdin`) and gives the text it covers.
fn vouch(
    path: &Path,
    input: &ManifestInput,
    is_stdin: bool,
    keys: &Keyring,
    signature: Option<&str>,
    say: Say,
) -> Result<Vec<u8>, Error> {
    let name = path.to_string_lossy();
    // Signatures are paths here too.
    let read = |at: &str| source::read_whole(at, None);
    let bytes = input.bytes()?;
    let vouched = if is_stdin && signature.is_none() && !trust::is_embedded(&bytes) {
        // Nothing is beside standard input.
        Err(locate::Unvouched {
            signature: "(none: give --signature for a manifest on standard input)".into(),
            refusal: trust::Refusal {
                key: keys.describe(),
                reason: "no signature found".into(),
            },
        })
    } else {
        locate::vouch(&name, &bytes, signature, keys, &read)
    };
    let vouched = vouched.map_err(|e| Error::Signature {
        manifest: name.to_string(),
        signature: e.signature,
        key: e.refusal.key,
        reason: e.refusal.reason,
    })?;
    let signed = vouched.signed;
    if say == Say::Json {
        // Only the signer's object: verify's stdout is for the files' lines.
        let output = crate::settings::Output {
            progress: crate::settings::Progress::Quiet,
            json: true,
            plain_tick: std::time::Duration::ZERO,
            manifests: false,
        };
        let _ = report::signed(
            &output,
            &name,
            &vouched.signature,
            signed.form.word(),
            &signed.key,
        );
    } else if say == Say::Note {
        report::note(&format!(
            "{name}: good {} signature by {} ({})",
            signed.form.word(),
            signed.key,
            vouched.signature
        ));
    }
    Ok(signed.text)
}

/// The second pass over one manifest: hash in order, print, count; until the end, an
/// interrupt, or a reason to stop (given with the count so far).
fn verify_one(
    pool: &HashPool,
    workers: usize,
    manifest: &Manifest,
    ignore_missing: bool,
    printer: &mut VerifyPrinter,
    interrupted: &AtomicBool,
) -> (Tally, Option<Stop>) {
    let mut tally = Tally::default();
    let entries = match manifest.input.entries() {
        Ok(entries) => entries.take_while(|_| !interrupted.load(Ordering::Relaxed)),
        Err(e) => return (tally, Some(Stop::Fatal(e))),
    };
    let items = entries.map(|entry| {
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
    for (item, answer) in hashpool::hash_in_order(pool, workers, items) {
        // Past an interrupt, what comes back was cut short by it: not a result.
        if interrupted.load(Ordering::Relaxed) {
            break;
        }
        let (entry, refusal) = match item {
            Ok(item) => item,
            Err(e) => return (tally, Some(Stop::Fatal(e))),
        };
        let outcome = match (answer, refusal) {
            (Some(Ok(got)), _) if got == entry.digest => Verdict::Ok(got),
            (Some(Ok(got)), _) => Verdict::Mismatch(got),
            (Some(Err(HashError::Io { kind, .. })), _)
                if ignore_missing && kind == io::ErrorKind::NotFound =>
            {
                Verdict::IgnoredMissing
            }
            (Some(Err(e)), _) => Verdict::Unreadable(e.to_string()),
            (None, Some(refusal)) => Verdict::Unreadable(refusal.to_string()),
            (None, None) => unreachable!("an entry without a request was refused"),
        };
        if let Err(closed) = printer.file(&entry, &outcome) {
            return (tally, Some(Stop::Output(closed)));
        }
        tally.count(&outcome);
    }
    (tally, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_absolute_and_parent_names() {
        let manifest = Manifest {
            path: PathBuf::from("elsewhere/m.sha256"),
            is_stdin: false,
            dir: PathBuf::from("sums"),
            input: ManifestInput::File(PathBuf::from("elsewhere/m.sha256")),
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
