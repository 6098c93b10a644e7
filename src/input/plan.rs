//! The download plan of `get`: every source of jobs (arguments, `-i` lists, stdin, a
//! manifest with `--base-url`) read as one stream of named `JobSpec`s, with expected
//! digests from `-c` manifests attached. The plan is read twice: once to validate
//! everything before any download starts, once to feed the pool. Each pass is an
//! iterator that owns what it reads, so download threads can share it. Standard input is
//! the exception: it is read once, as it streams (the first download starts as soon as
//! its line is read), and its lines are checked as they come.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;
use crate::input::expected::Expected;
use crate::input::{manifest, names, url_list};
use crate::job::{JobSpec, Origin};

/// One source of URL lines.
#[derive(Clone)]
pub(crate) enum ListInput {
    /// A list file, reopened for each pass.
    File(PathBuf),
    /// Standard input, read once, by the second pass only: `validate` cannot see it. Once
    /// the flag is set (an interrupt), it reads no more: what the producer has not yet
    /// written is not part of the plan, and draining it would wait for the producer.
    Stream(Arc<AtomicBool>),
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
        let (reader, source): (Box<dyn BufRead + Send>, Arc<str>) = match self {
            ManifestInput::File(path) => {
                let file = File::open(path).map_err(|io_error| Error::ReadInput {
                    path: path.clone(),
                    io_error,
                })?;
                let source = Arc::from(path.to_string_lossy().as_ref());
                (Box::new(BufReader::with_capacity(64 * 1024, file)), source)
            }
            ManifestInput::Spool(file, name) => {
                (&**file).rewind().map_err(|io_error| Error::ReadInput {
                    path: PathBuf::from(&**name),
                    io_error,
                })?;
                let reader = BufReader::with_capacity(64 * 1024, Spooled(Arc::clone(file)));
                (Box::new(reader), Arc::clone(name))
            }
        };
        Ok(manifest::parse(reader, source))
    }
}

/// Everything that yields jobs, in order: arguments, lists, then a manifest plan.
pub(crate) struct Plan {
    pub args: Vec<String>,
    pub lists: Vec<ListInput>,
    /// `--base-url` with the manifests whose entries name the files to fetch from it, read
    /// anew for each pass (a manifest of millions of lines is never held in memory).
    pub from_manifest: Option<(String, Vec<ManifestInput>)>,
    /// Expected digests by output name, from `-c` manifests.
    pub expected: Arc<Expected>,
}

/// What validating the plan found out, besides that it is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Jobs in the plan, not counting a stream's (unknown until it ends).
    pub jobs: u64,
    /// Some job carries an expected digest.
    pub any_digest: bool,
    /// Standard input is in the plan: more jobs will come, checked as they are read.
    pub streaming: bool,
}

impl Plan {
    /// Checks every job (syntax, names, duplicates, digest conflicts) and counts them.
    /// Nothing is downloaded before this has passed.
    ///
    /// Duplicate names are found in 8 bytes a job (`names::TakenNames`), so a list of
    /// millions of lines validates in bounded memory; errors come out as a one-pass check
    /// would give them: the first bad line, whether a syntax error or a name taken twice.
    pub(crate) fn validate(&self) -> Result<Checked, Error> {
        let mut taken = names::TakenNames::default();
        let mut any_digest = false;
        let mut bad_line = None;
        for job in self.pass(false) {
            match job {
                Ok(job) => {
                    taken.insert(&job.name);
                    any_digest |= job.expect.is_some();
                }
                Err(e) => {
                    bad_line = Some(e);
                    break;
                }
            }
        }
        let jobs = taken.len();
        if let Some(mut clashes) = taken.into_clashes() {
            // Only the jobs before a bad line were taken: look no further than them.
            for job in self.pass(false).take(jobs) {
                let job = job?;
                if let Err(first) = clashes.claim(&job.name, &job.origin) {
                    return Err(Error::Input {
                        source: job.origin.source.clone(),
                        line: job.origin.line,
                        reason: format!(
                            "output name '{}' is also the output of {first} (use out=NAME to rename one)",
                            job.name
                        ),
                    });
                }
            }
        }
        match bad_line {
            Some(e) => Err(e),
            None => Ok(Checked {
                jobs: jobs as u64,
                any_digest,
                streaming: self.is_streaming(),
            }),
        }
    }

    fn is_streaming(&self) -> bool {
        self.lists.iter().any(|l| matches!(l, ListInput::Stream(_)))
    }

    /// Streams the jobs, standard input included (read as it comes, once: call this once).
    /// With standard input in the plan, each name is claimed as its job passes (`Claims`,
    /// about 16 bytes a job), since `validate` could not see the stream: a name taken twice
    /// is an `Error::Input` item there, like a malformed line of the stream.
    pub(crate) fn jobs(&self) -> impl Iterator<Item = Result<JobSpec, Error>> + Send + 'static {
        let mut claims = self.is_streaming().then(names::Claims::default);
        self.pass(true).map(move |job| {
            let job = job?;
            if let Some(claims) = &mut claims
                && let Err(first) = claims.claim(&job.name, &job.origin)
            {
                return Err(Error::Input {
                    source: job.origin.source.clone(),
                    line: job.origin.line,
                    reason: format!(
                        "output name '{}' is also the output of {first} (use out=NAME to rename one)",
                        job.name
                    ),
                });
            }
            Ok(job)
        })
    }

    /// One pass from the top; `with_stream`: standard input too (else it is skipped).
    fn pass(
        &self,
        with_stream: bool,
    ) -> impl Iterator<Item = Result<JobSpec, Error>> + Send + 'static {
        let args_source: Arc<str> = Arc::from("argument");
        let args = self
            .args
            .clone()
            .into_iter()
            .enumerate()
            .filter_map(move |(i, url)| {
                let origin = Origin {
                    source: args_source.clone(),
                    line: i + 1,
                };
                url_list::parse_line(&url, origin).transpose()
            });
        let lists = self
            .lists
            .clone()
            .into_iter()
            .filter(move |list| with_stream || !matches!(list, ListInput::Stream(_)))
            .flat_map(|list| -> Box<dyn Iterator<Item = _> + Send> {
                match open_list(list) {
                    Ok((reader, source)) => Box::new(url_list::parse(reader, source)),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                }
            });
        let manifest_jobs = self
            .from_manifest
            .clone()
            .into_iter()
            .flat_map(|(base, manifests)| {
                manifests.into_iter().flat_map(
                    move |manifest| -> Box<dyn Iterator<Item = _> + Send> {
                        let base = base.clone();
                        match manifest.entries() {
                            Ok(entries) => {
                                Box::new(entries.map(move |entry| job_from_entry(&base, &entry?)))
                            }
                            Err(e) => Box::new(std::iter::once(Err(e))),
                        }
                    },
                )
            });
        let expected = Arc::clone(&self.expected);
        args.chain(lists)
            .chain(manifest_jobs)
            .map(move |job| attach_digest(job?, &expected))
    }
}

/// A spooled file (a manifest fetched by URL), read through a shared handle.
struct Spooled(Arc<File>);

impl Read for Spooled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

fn open_list(list: ListInput) -> Result<(Box<dyn BufRead + Send>, Arc<str>), Error> {
    match list {
        ListInput::File(path) => {
            let file = File::open(&path).map_err(|io_error| Error::ReadInput {
                path: path.clone(),
                io_error,
            })?;
            let source: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
            Ok((Box::new(BufReader::with_capacity(64 * 1024, file)), source))
        }
        // `Stdin` (not its lock, which cannot move between the download threads that pull
        // jobs): a line is handed on as soon as it is read.
        ListInput::Stream(stop) => Ok((
            Box::new(BufReader::with_capacity(
                64 * 1024,
                Stoppable {
                    inner: io::stdin(),
                    stop,
                },
            )),
            Arc::from("-"),
        )),
    }
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

/// An unnamed file in the temp dir (O_TMPFILE where supported, else create + unlink).
pub(crate) fn tempfile_in_tmp() -> io::Result<File> {
    let dir = std::env::temp_dir();
    for attempt in 0..100u32 {
        let path = dir.join(format!(".fetchpool-stdin-{}-{attempt}", std::process::id()));
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

/// `--base-url URL -c MANIFEST`: a manifest line becomes a job for `URL/NAME`.
fn job_from_entry(base: &str, e: &manifest::Entry) -> Result<JobSpec, Error> {
    let input_err = |reason: String| Error::Input {
        source: e.origin.source.clone(),
        line: e.origin.line,
        reason,
    };
    let raw = String::from_utf8(e.name.clone())
        .map_err(|_| input_err("file name is not valid UTF-8; cannot build a URL for it".into()))?;
    let rel = raw.strip_prefix("./").unwrap_or(&raw);
    let name = names::validate_out_name(rel)
        .map_err(|reason| input_err(format!("file name: {reason}")))?;
    let sep = if base.ends_with('/') { "" } else { "/" };
    Ok(JobSpec {
        origin: e.origin.clone(),
        url: format!("{base}{sep}{}", percent_encode_segment(&name)),
        name,
        expect: Some(e.digest.clone()),
    })
}

/// Percent-encodes one URL path segment (RFC 3986 §3.3: keep unreserved and sub-delims).
fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Adds the `-c` digest for this output name; a line's own digest must agree with it.
fn attach_digest(mut job: JobSpec, expected: &Expected) -> Result<JobSpec, Error> {
    if let Some(found) = expected.get(&job.name) {
        let want = &found.digest;
        match &job.expect {
            Some(own) if own != want => {
                let from = expected.origin(&found);
                return Err(Error::Input {
                    source: job.origin.source.clone(),
                    line: job.origin.line,
                    reason: format!(
                        "digest {own} for '{}' disagrees with {from} ({want})",
                        job.name
                    ),
                });
            }
            Some(_) => {}
            None => job.expect = Some(found.digest),
        }
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Plan {
        Plan {
            args: args.iter().map(|a| a.to_string()).collect(),
            lists: Vec::new(),
            from_manifest: None,
            expected: Arc::new(Expected::default()),
        }
    }

    fn first_error(args: &[&str]) -> String {
        match plan(args).validate() {
            Err(Error::Input { line, reason, .. }) => format!("{line}: {reason}"),
            other => panic!("not an input error: {other:?}"),
        }
    }

    #[test]
    fn validation_reports_the_first_bad_line_be_it_a_clash_or_a_syntax_error() {
        let (a, b) = ("http://h/a", "http://h/b");
        let checked = plan(&[a, b]).validate().unwrap();
        assert_eq!(
            checked,
            Checked {
                jobs: 2,
                any_digest: false,
                streaming: false
            }
        );
        let clash = "3: output name 'a' is also the output of argument:1";
        assert!(first_error(&[a, b, a, "ftp://h/x"]).starts_with(clash));
        assert!(first_error(&[a, b, "ftp://h/x", a]).starts_with("3: "));
        assert!(!first_error(&[a, b, "ftp://h/x", a]).contains("output name"));
        assert!(first_error(&[a, b, a, b]).starts_with(clash));
    }

    #[test]
    fn percent_encodes_what_a_path_segment_cannot_hold() {
        assert_eq!(
            percent_encode_segment("a b#?%.tar.gz"),
            "a%20b%23%3F%25.tar.gz"
        );
        assert_eq!(percent_encode_segment("é"), "%C3%A9");
    }
}
