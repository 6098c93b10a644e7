//! The records passed between stages: what to fetch (`JobSpec`), what is happening
//! (`Event`) and how it ended (`Outcome`, in the one vocabulary of `End`). Plain data; no
//! behaviour beyond small accessors.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::digest::Digest;
use crate::error::Failure;

/// Where a job or manifest entry came from, for `FILE:LINE:` messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// A path as the user gave it, `-` for stdin, or `argument` for the command line.
    pub source: Arc<str>,
    /// 1-based line (or argument position).
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.line)
    }
}

/// One download as the input describes it, already checked and named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    pub origin: Origin,
    /// An absolute http(s) URL.
    pub url: String,
    /// The output file name: one safe path component (never absolute, `..` or a separator).
    pub name: String,
    /// The digest the bytes must have, when known (from the list line or a manifest).
    pub expect: Option<Digest>,
}

/// Sequence number of a job in input order (0-based), used to route events.
pub type JobId = u64;

/// What workers tell the reporter. Only `report/` turns these into output.
#[derive(Debug)]
pub enum Event {
    /// The input was validated: this many jobs will follow.
    Planned { jobs: u64 },
    /// More jobs than `Planned` said may follow (standard input is read as it streams):
    /// the total is unknown until the next `Planned`, sent when the stream ends.
    Streaming,
    /// A download started; `bytes_done` is updated in place by the downloader and sampled
    /// by the reporter on its own tick (no event per read).
    Started {
        id: JobId,
        name: String,
        size: Option<u64>,
        bytes_done: Arc<AtomicU64>,
    },
    /// The bytes are complete and the file is waiting for (or in) a hash worker.
    Verifying { id: JobId },
    /// A retry is about to start (after `wait`).
    Retrying {
        name: String,
        attempt: u32,
        wait: Duration,
        reason: String,
    },
    /// The job ended.
    Finished(Box<Outcome>),
    /// Something that is not one job's went wrong at the end of the run (the directory
    /// could not be synced, a list changed under the run, `--write-checksums` could not be
    /// written): said once, and counted in the exit status the summary shows.
    RunError(Box<crate::error::Error>),
    /// Nothing more will be reported: print the summary and stop (sent by the command once
    /// all work is done, or when an interrupt cuts it short).
    Shutdown,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Downloaded (and verified, when `verified`).
    Ok,
    /// The final file already existed and was left alone (verified, when `verified`).
    Skipped,
    Failed(Failure),
    /// An interrupt stopped the run before this job was taken up.
    NotStarted,
}

impl Status {
    /// Where this status stands in the one vocabulary.
    pub fn end(&self) -> End {
        match self {
            Status::Ok => End::Ok,
            Status::Skipped => End::Skipped,
            Status::Failed(Failure::Mismatch { .. }) => End::Mismatch,
            Status::Failed(Failure::Interrupted) => End::Interrupted,
            Status::Failed(_) => End::Failed,
            Status::NotStarted => End::NotStarted,
        }
    }

    /// The JSON word (see `End::json_word`).
    pub fn word(&self) -> &'static str {
        self.end().json_word()
    }
}

/// The one vocabulary: every job ends as exactly one of these, and the per-file lines,
/// the summary, `--json`, `--failed` and the exit status all use these words and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum End {
    Ok,
    Skipped,
    Failed,
    Mismatch,
    Interrupted,
    NotStarted,
}

impl End {
    /// Every end, in the order the summary names them.
    pub const ALL: [End; 6] = [
        End::Ok,
        End::Skipped,
        End::Failed,
        End::Mismatch,
        End::Interrupted,
        End::NotStarted,
    ];

    /// For people: `ok`, `skipped`, `failed`, `mismatch`, `interrupted`, `not started`.
    pub fn word(self) -> &'static str {
        match self {
            End::NotStarted => "not started",
            other => other.json_word(),
        }
    }

    /// For JSON (a status value and a summary key): as `word`, `not_started` in one word.
    pub fn json_word(self) -> &'static str {
        match self {
            End::Ok => "ok",
            End::Skipped => "skipped",
            End::Failed => "failed",
            End::Mismatch => "mismatch",
            End::Interrupted => "interrupted",
            End::NotStarted => "not_started",
        }
    }

    /// Everything asked for is there: the job needs no rerun (and stays off `--failed`).
    pub fn is_settled(self) -> bool {
        matches!(self, End::Ok | End::Skipped)
    }
}

/// The end of one job, as reported (one line, one JSON object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: JobId,
    /// The URL with any userinfo removed.
    pub url: String,
    /// The path written (or that would have been), relative to where the user is.
    pub path: String,
    pub status: Status,
    /// The digest was checked against an expected one and matched.
    pub verified: bool,
    pub http_status: Option<u16>,
    /// Body bytes received in this run (a resumed file's earlier bytes are not counted;
    /// a restarted one's wasted bytes are).
    pub bytes: u64,
    pub elapsed: Duration,
    pub attempts: u32,
    /// The digest computed, when one was.
    pub digest: Option<Digest>,
    /// The job itself, so a failure can be written back as a list line (--failed).
    pub job: Arc<JobSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_end_and_one_word() {
        let d = crate::digest::Digest::from_hex_guess(&"0".repeat(64)).unwrap();
        let cases = [
            (Status::Ok, End::Ok, "ok"),
            (Status::Skipped, End::Skipped, "skipped"),
            (Status::Failed(Failure::Timeout), End::Failed, "failed"),
            (
                Status::Failed(Failure::Hashing("x".into())),
                End::Failed,
                "failed",
            ),
            (
                Status::Failed(Failure::Mismatch {
                    want: d.clone(),
                    got: d,
                }),
                End::Mismatch,
                "mismatch",
            ),
            (
                Status::Failed(Failure::Interrupted),
                End::Interrupted,
                "interrupted",
            ),
            (Status::NotStarted, End::NotStarted, "not_started"),
        ];
        for (status, end, word) in cases {
            assert_eq!(status.end(), end, "{status:?}");
            assert_eq!(status.word(), word, "{status:?}");
        }
        assert_eq!(End::NotStarted.word(), "not started");
        let settled: Vec<End> = End::ALL.into_iter().filter(|e| e.is_settled()).collect();
        assert_eq!(settled, [End::Ok, End::Skipped]);
    }
}
