//! Where lines come from, opened one way for every reader: a list or manifest at a path
//! (reopened for each pass), standard input (streamed once, spooled to be read again, or
//! both: streamed and copied for later passes), or a body fetched by URL (spooled).
//! Reading a URL is the caller's (`FetchUrl`, handed in), so this file knows nothing about
//! HTTP, nor about what the lines say.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
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

/// Reads the body at a URL into the (empty) file given, at most `cap` bytes: the download
/// side's (`download::whole`), handed in by the command. `Err` says why it could not, in
/// words that follow the URL ("HTTP 503 Service Unavailable", "connection refused").
pub(crate) type FetchUrl<'a> = dyn Fn(&str, u64, &mut File) -> Result<UrlBody, String> + 'a;

/// What a URL held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlBody {
    /// The body is in the file.
    Complete,
    /// Nothing is there (HTTP 404 or 410), said in words.
    Missing(String),
}

/// The largest list or manifest read by URL (it goes to a temporary file, not to memory).
pub(crate) const SPOOLED_MAX_BYTES: u64 = 4 << 30;

/// The largest manifest or signature read whole into memory (to check its signature).
pub(crate) const HELD_MAX_BYTES: u64 = 256 << 20;

/// An http(s) URL, rather than a path.
pub(crate) fn is_url(at: &str) -> bool {
    at.starts_with("http://") || at.starts_with("https://")
}

/// A `-c` or `verify` manifest: at a path (opened now, so a missing one stops the run
/// before anything else), or at a URL (fetched now, spooled). `name` is how messages name
/// it (a URL redacted). Without `fetch`, a URL is taken for a path.
pub(crate) fn open_manifest(
    at: &str,
    name: &str,
    fetch: Option<&FetchUrl<'_>>,
) -> Result<ManifestInput, Error> {
    let Some(fetch) = fetch.filter(|_| is_url(at)) else {
        let path = PathBuf::from(at);
        File::open(&path).map_err(|io_error| Error::ReadInput {
            path: path.clone(),
            io_error,
        })?;
        return Ok(ManifestInput::File(path));
    };
    let spool = fetch_spooled(at, name, SPOOLED_MAX_BYTES, fetch)?;
    Ok(ManifestInput::Spool(Arc::new(spool), Arc::from(name)))
}

/// A manifest on standard input (`verify -`), spooled: it is read more than once.
pub(crate) fn stdin_manifest() -> Result<ManifestInput, Error> {
    Ok(ManifestInput::Spool(
        Arc::new(spool_stdin()?),
        Arc::from("-"),
    ))
}

/// A `-i` list at a path (read when the plan is), or at a URL (fetched now, spooled).
pub(crate) fn open_list_at(
    at: &Path,
    name: &str,
    fetch: &FetchUrl<'_>,
) -> Result<ListInput, Error> {
    let text = at.to_string_lossy();
    if !is_url(&text) {
        return Ok(ListInput::File(at.to_path_buf()));
    }
    let spool = fetch_spooled(&text, name, SPOOLED_MAX_BYTES, fetch)?;
    Ok(ListInput::Fetched(Arc::new(spool), Arc::from(name)))
}

/// A signature (or a manifest to check one against) read whole, from a path or a URL:
/// `Ok(None)` when there is nothing there (no such file, HTTP 404 or 410), `Err` for any
/// other trouble, which is not the same as missing. Without `fetch`, a URL is read as a
/// path.
pub(crate) fn read_whole(
    at: &str,
    fetch: Option<&FetchUrl<'_>>,
) -> Result<Option<Vec<u8>>, String> {
    let Some(fetch) = fetch.filter(|_| is_url(at)) else {
        return match std::fs::read(at) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::error::plain_io(&e)),
        };
    };
    let mut spool = tempfile_in_tmp().map_err(|e| crate::error::plain_io(&e))?;
    match fetch(at, HELD_MAX_BYTES, &mut spool)? {
        UrlBody::Complete => {}
        UrlBody::Missing(_) => return Ok(None),
    }
    let mut bytes = Vec::new();
    spool
        .rewind()
        .and_then(|()| spool.read_to_end(&mut bytes))
        .map_err(|e| crate::error::plain_io(&e))?;
    Ok(Some(bytes))
}

/// The body at URL `at` in an unnamed temporary file; a URL with nothing there is an error.
fn fetch_spooled(at: &str, name: &str, cap: u64, fetch: &FetchUrl<'_>) -> Result<File, Error> {
    let err = |io_error| Error::ReadInput {
        path: PathBuf::from(name),
        io_error,
    };
    let mut spool = tempfile_in_tmp().map_err(err)?;
    match fetch(at, cap, &mut spool).map_err(|why| err(io::Error::other(why)))? {
        UrlBody::Complete => Ok(spool),
        UrlBody::Missing(why) => Err(err(io::Error::other(why))),
    }
}

impl ManifestInput {
    /// What checked signed text is read from: `text`, in an unnamed temporary file (what
    /// was checked is what is parsed, even if the source changes meanwhile).
    pub(crate) fn signed(text: &[u8], name: &str) -> Result<ManifestInput, Error> {
        let err = |io_error| Error::ReadInput {
            path: PathBuf::from(name),
            io_error,
        };
        let mut spool = tempfile_in_tmp().map_err(err)?;
        spool.write_all(text).map_err(err)?;
        Ok(ManifestInput::Spool(Arc::new(spool), Arc::from(name)))
    }

    /// All of it, for a signature check: at most `HELD_MAX_BYTES`.
    pub(crate) fn bytes(&self) -> Result<Vec<u8>, Error> {
        let (mut reader, name) = match self {
            ManifestInput::File(path) => (open_path(path)?, name_of(path)),
            ManifestInput::Spool(file, name) => (rewound(file, name)?, Arc::clone(name)),
        };
        let err = |io_error| Error::ReadInput {
            path: PathBuf::from(&*name),
            io_error,
        };
        let mut bytes = Vec::new();
        (&mut reader)
            .take(HELD_MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(err)?;
        if bytes.len() as u64 > HELD_MAX_BYTES {
            return Err(err(io::Error::other(format!(
                "over {} MiB, the most a signed manifest may hold",
                HELD_MAX_BYTES >> 20
            ))));
        }
        Ok(bytes)
    }

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

/// Standard input copied whole to an unnamed temporary file, to be read more than once.
fn spool_stdin() -> Result<File, Error> {
    let err = |io_error| Error::ReadInput {
        path: PathBuf::from("-"),
        io_error,
    };
    let mut spool = tempfile_in_tmp().map_err(err)?;
    io::copy(&mut io::stdin().lock(), &mut spool).map_err(err)?;
    Ok(spool)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A `FetchUrl` over fixed answers by URL; records what was asked.
    fn answers<'a>(
        have: &'a [(&'a str, Result<&'a [u8], &'a str>)],
        asked: &'a RefCell<Vec<String>>,
    ) -> impl Fn(&str, u64, &mut File) -> Result<UrlBody, String> + 'a {
        move |url, _cap, into| {
            asked.borrow_mut().push(url.to_string());
            match have.iter().find(|(at, _)| *at == url).map(|(_, a)| a) {
                Some(Ok(bytes)) => {
                    into.write_all(bytes).map_err(|e| e.to_string())?;
                    Ok(UrlBody::Complete)
                }
                Some(Err(why)) => Err(why.to_string()),
                None => Ok(UrlBody::Missing("HTTP 404 Not Found".into())),
            }
        }
    }

    #[test]
    fn a_manifest_by_url_is_fetched_once_and_read_from_its_spool_on_every_pass() {
        let have = [("https://h/SUMS", Ok(&b"00  a\n"[..]))];
        let asked = RefCell::default();
        let fetch = answers(&have, &asked);
        let input = open_manifest("https://h/SUMS", "https://h/SUMS", Some(&fetch)).unwrap();
        assert_eq!(input.bytes().unwrap(), b"00  a\n");
        assert_eq!(input.bytes().unwrap(), b"00  a\n", "rewound for each pass");
        assert_eq!(asked.take(), ["https://h/SUMS"]);
    }

    #[test]
    fn a_url_with_nothing_there_or_that_fails_is_an_error_naming_it() {
        let have = [("https://h/bad", Err("HTTP 503 Service Unavailable"))];
        let asked = RefCell::default();
        let fetch = answers(&have, &asked);
        let e = open_manifest("https://h/none", "https://h/none", Some(&fetch))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "https://h/none: cannot read: HTTP 404 Not Found"
        );
        let e = open_list_at(Path::new("https://h/bad"), "https://h/bad", &fetch)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "https://h/bad: cannot read: HTTP 503 Service Unavailable"
        );
    }

    #[test]
    fn read_whole_tells_missing_from_failing_and_reads_urls_as_paths_without_a_fetch() {
        let have = [
            ("https://h/S.sig", Ok(&b"sig"[..])),
            ("https://h/S.bad", Err("connection refused")),
        ];
        let asked = RefCell::default();
        let fetch = answers(&have, &asked);
        assert_eq!(
            read_whole("https://h/S.sig", Some(&fetch)),
            Ok(Some(b"sig".to_vec()))
        );
        assert_eq!(read_whole("https://h/S.asc", Some(&fetch)), Ok(None));
        assert_eq!(
            read_whole("https://h/S.bad", Some(&fetch)),
            Err("connection refused".into())
        );
        assert_eq!(
            read_whole("https://h/S.sig", None),
            Ok(None),
            "no such path"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("S.minisig");
        std::fs::write(&path, b"on disk").unwrap();
        assert_eq!(
            read_whole(&path.to_string_lossy(), Some(&fetch)),
            Ok(Some(b"on disk".to_vec()))
        );
        assert_eq!(
            asked.take(),
            ["https://h/S.sig", "https://h/S.asc", "https://h/S.bad"]
        );
    }
}
