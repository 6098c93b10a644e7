//! Where lines come from, opened one way for every reader: a list or manifest at a path
//! (reopened for each pass), standard input (streamed once, spooled to be read again, or
//! both: streamed and copied for later passes), or a body fetched by URL (spooled). Knows
//! nothing about what the lines say.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;
use crate::input::manifest;

/// Read buffer for lists and manifests.
const READ_BUF_BYTES: usize = 64 * 1024;

/// One source of URL lines.
#[derive(Clone)]
pub(crate) enum ListInput {
    /// A list file, reopened for each pass.
    File(PathBuf),
    /// Standard input, read once, by the second pass only: `validate` cannot see it. Once
    /// the flag is set (an interrupt), it reads no more: what the producer has not yet
    /// written is not part of the plan, and draining it would wait for the producer.
    Stream(Arc<AtomicBool>),
    /// The copy of standard input a `Tee` made, rewound for each pass: for a plan read many
    /// times (`check`'s rounds after the first).
    Spool(Arc<File>),
    /// A list fetched by URL (`-i URL`), spooled the same way, and its (redacted) URL.
    Fetched(Arc<File>, Arc<str>),
    /// Standard input read as it streams, like `Stream`, and copied as it is read to the
    /// end of this unnamed file: a plan read many times starts at the first line, and its
    /// later passes read the copy as a `Spool`. Read it once.
    Tee(Arc<File>, Arc<AtomicBool>),
}

/// A `-c` manifest, read anew for each pass: a file, or a copy of one fetched by URL.
#[derive(Clone)]
pub(crate) enum ManifestInput {
    File(PathBuf),
    /// The fetched body in an unnamed temporary file, and the (redacted) URL it came from.
    Spool(Arc<File>, Arc<str>),
}

impl ManifestInput {
    /// Its entries, streamed.
    pub(crate) fn entries(
        &self,
    ) -> Result<impl Iterator<Item = Result<manifest::Entry, Error>> + Send + 'static, Error> {
        let (reader, source) = match self {
            ManifestInput::File(path) => (open_path(path)?, name_of(path)),
            ManifestInput::Spool(file, name) => (rewound(file, name)?, Arc::clone(name)),
        };
        Ok(manifest::parse(reader, source))
    }
}

/// A list's lines from the top, and the name its errors give (`FILE`, `-`, the URL).
pub(crate) fn open_list(list: ListInput) -> Result<(Box<dyn BufRead + Send>, Arc<str>), Error> {
    match list {
        ListInput::File(path) => Ok((open_path(&path)?, name_of(&path))),
        // `Stdin` (not its lock, which cannot move between the download threads that pull
        // jobs): a line is handed on as soon as it is read.
        ListInput::Stream(stop) => Ok((
            Box::new(BufReader::with_capacity(
                READ_BUF_BYTES,
                Stoppable {
                    inner: io::stdin(),
                    stop,
                },
            )),
            Arc::from("-"),
        )),
        ListInput::Spool(file) => Ok((rewound(&file, "-")?, Arc::from("-"))),
        ListInput::Fetched(file, name) => Ok((rewound(&file, &name)?, name)),
        ListInput::Tee(copy, stop) => Ok((
            Box::new(BufReader::with_capacity(
                READ_BUF_BYTES,
                Tee {
                    inner: io::stdin(),
                    stop,
                    copy,
                    copied: 0,
                },
            )),
            Arc::from("-"),
        )),
    }
}

fn open_path(path: &Path) -> Result<Box<dyn BufRead + Send>, Error> {
    let file = File::open(path).map_err(|io_error| Error::ReadInput {
        path: path.to_path_buf(),
        io_error,
    })?;
    Ok(Box::new(BufReader::with_capacity(READ_BUF_BYTES, file)))
}

fn name_of(path: &Path) -> Arc<str> {
    Arc::from(path.to_string_lossy().as_ref())
}

/// A spooled file read from its start, through a shared handle.
fn rewound(file: &Arc<File>, name: &str) -> Result<Box<dyn BufRead + Send>, Error> {
    (&**file).rewind().map_err(|io_error| Error::ReadInput {
        path: PathBuf::from(name),
        io_error,
    })?;
    Ok(Box::new(BufReader::with_capacity(
        READ_BUF_BYTES,
        Spooled(Arc::clone(file)),
    )))
}

/// Standard input that reads as end of file once `stop` is set.
struct Stoppable {
    inner: io::Stdin,
    stop: Arc<AtomicBool>,
}

impl Read for Stoppable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(0);
        }
        self.inner.read(buf)
    }
}

/// Standard input copied, as it is read, to the end of a spool. Positional writes leave the
/// spool's offset alone, so a pass reading the spool is never disturbed; what is read after
/// `stop` is set is dropped, neither passed on nor copied.
struct Tee {
    inner: io::Stdin,
    stop: Arc<AtomicBool>,
    copy: Arc<File>,
    copied: u64,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if self.stop.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if self.stop.load(Ordering::Relaxed) {
            return Ok(0);
        }
        self.copy.write_all_at(&buf[..n], self.copied)?;
        self.copied += n as u64;
        Ok(n)
    }
}

/// A spooled file (a body fetched by URL, or standard input), read through a shared handle.
struct Spooled(Arc<File>);

impl Read for Spooled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

/// An unnamed file in the temp dir (created and unlinked at once).
pub(crate) fn tempfile_in_tmp() -> io::Result<File> {
    let dir = std::env::temp_dir();
    for attempt in 0..100u32 {
        let path = dir.join(format!(".fetchpool-spool-{}-{attempt}", std::process::id()));
        match File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free temporary file name"))
}
