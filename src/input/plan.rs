//! The download plan of `get`: every source of jobs (arguments, `-i` lists, stdin, a
//! manifest with `--base-url`) read as one stream of named `JobSpec`s, with expected
//! digests from `-c` manifests attached. The plan is read twice: once to validate
//! everything before any download starts, once to feed the pool. Each pass is an
//! iterator that owns what it reads, so download threads can share it. Standard input is
//! the exception: it is read once, as it streams (the first download starts as soon as
//! its line is read), and its lines are checked as they come.

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Error;
use crate::input::expected::Expected;
use crate::input::source::{ListInput, ManifestInput, open_list};
use crate::input::{manifest, metalink, names, url_list};
use crate::job::{JobSpec, Origin};

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
                    return Err(name_taken_twice(&job, first));
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
                return Err(name_taken_twice(&job, first));
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
                    Ok((mut reader, source)) => {
                        // A Metalink document is recognised by content, not by name.
                        match reader.fill_buf() {
                            Ok(head) if metalink::sniff(head) => {
                                Box::new(metalink_jobs(reader, source).into_iter())
                            }
                            _ => Box::new(url_list::parse(reader, source)),
                        }
                    }
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

/// `job`'s output name was already claimed by the job at `first`.
fn name_taken_twice(job: &JobSpec, first: impl std::fmt::Display) -> Error {
    Error::Input {
        source: job.origin.source.clone(),
        line: job.origin.line,
        reason: format!(
            "output name '{}' is also the output of {first} (use out=NAME to rename one)",
            job.name
        ),
    }
}

/// A whole Metalink document (held in memory to be parsed, up to `metalink::MAX_BYTES`).
fn metalink_jobs(reader: impl Read, source: Arc<str>) -> Vec<Result<JobSpec, Error>> {
    let mut text = String::new();
    let read = reader
        .take(metalink::MAX_BYTES + 1)
        .read_to_string(&mut text);
    let too_big = text.len() as u64 > metalink::MAX_BYTES;
    match read {
        Err(io_error) => vec![Err(Error::ReadInput {
            path: PathBuf::from(&*source),
            io_error,
        })],
        Ok(_) if too_big => vec![Err(Error::Input {
            source,
            line: 1,
            reason: format!(
                "Metalink document larger than {} MiB",
                metalink::MAX_BYTES >> 20
            ),
        })],
        Ok(_) => match metalink::parse(&text, source) {
            Ok(jobs) => jobs.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        },
    }
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
        mirrors: Vec::new(),
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
