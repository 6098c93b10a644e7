//! The records passed between stages: what to fetch (`JobSpec`), what is happening
//! (`Event`) and how it ended (`Outcome`). Plain data; no behaviour beyond small accessors.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
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
    /// A download started; `bytes_done` is updated in place by the downloader and sampled
    /// by the reporter on its own tick (no event per read).
    Started {
        id: JobId,
        name: String,
        size: Option<u64>,
        bytes_done: Arc<AtomicU64>,
        /// Connections the download uses now (more than 1: a split file); updated in place.
        connections: Arc<AtomicUsize>,
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
}

impl Status {
    /// The JSON word: `ok`, `skipped`, `failed` or `mismatch`.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Failed(Failure::Mismatch { .. }) => "mismatch",
            Status::Failed(_) => "failed",
        }
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
    /// Body bytes received in this run.
    pub bytes: u64,
    pub elapsed: Duration,
    pub attempts: u32,
    /// The most connections the body came over at once (more than 1: a split file; 0:
    /// nothing was fetched).
    pub connections: usize,
    /// Byte ranges requested (1 for a file fetched in one piece).
    pub ranges: usize,
    /// The digest computed, when one was.
    pub digest: Option<Digest>,
    /// The job itself, so a failure can be written back as a list line (--failed).
    pub job: Arc<JobSpec>,
}
