//! No job lost from the record: which of `get`'s jobs were handed to the download threads
//! and have not ended, and what is left of the plan. After an interrupt the reporter turns
//! them into `interrupted` and `not started` outcomes, so the summary, `--json` and
//! `--failed` account for every job. Holds no file and prints nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use crate::error::Failure;
use crate::job::{JobId, JobSpec, Outcome, Status};
use crate::url::redact_url;

/// How long the end of a run waits for a plan another thread is reading.
const PLAN_BUSY_GRACE: Duration = Duration::from_millis(500);

/// What is left of a plan: the jobs no download thread has taken yet.
type Rest = Box<dyn Iterator<Item = (JobId, JobSpec)> + Send>;

/// Shared by the plan's iterator (see `track`) and the reporter.
pub(crate) struct Ledger {
    /// Taken by a download thread, not yet reported as ended.
    handed: Mutex<HashMap<JobId, Arc<JobSpec>>>,
    /// `None` once the plan has run dry.
    rest: Mutex<Option<Rest>>,
    /// The output directory, for the paths of jobs that never reported.
    dir: PathBuf,
}

impl Ledger {
    /// A ledger of the plan `jobs`, whose files go to `dir`.
    pub(crate) fn new(
        jobs: impl Iterator<Item = (JobId, JobSpec)> + Send + 'static,
        dir: &Path,
    ) -> Arc<Ledger> {
        Arc::new(Ledger {
            handed: Mutex::new(HashMap::new()),
            rest: Mutex::new(Some(Box::new(jobs))),
            dir: dir.to_path_buf(),
        })
    }

    /// The plan, for the download threads: each job they take is written down until the
    /// reporter hears that it ended.
    pub(crate) fn track(self: &Arc<Ledger>) -> Tracked {
        Tracked(Arc::clone(self))
    }

    /// The reporter heard job `id` end.
    pub(crate) fn ended(&self, id: JobId) {
        lock(&self.handed).remove(&id);
    }

    /// At the end of the run: the jobs that were taken and never reported (a thread still
    /// busy when an interrupt's grace ran out), as `interrupted` outcomes, in job order.
    pub(crate) fn unreported(&self) -> Vec<Outcome> {
        let mut left: Vec<(JobId, Arc<JobSpec>)> = lock(&self.handed).drain().collect();
        left.sort_unstable_by_key(|(id, _)| *id);
        left.into_iter()
            .map(|(id, job)| self.outcome(id, job, Status::Failed(Failure::Interrupted)))
            .collect()
    }

    /// At the end of the run: every job no thread took, as a `not started` outcome, in
    /// job order. Empty unless the run was cut short, or when a download thread is still
    /// inside the plan (blocked reading a list that streams in): then the reporter counts
    /// what it cannot name.
    pub(crate) fn not_started(&self) -> impl Iterator<Item = Outcome> + '_ {
        let deadline = Instant::now() + PLAN_BUSY_GRACE;
        let rest = loop {
            match self.rest.try_lock() {
                Ok(mut rest) => break rest.take(),
                Err(TryLockError::Poisoned(p)) => break p.into_inner().take(),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => break None,
            }
        };
        rest.into_iter()
            .flatten()
            .map(|(id, job)| self.outcome(id, Arc::new(job), Status::NotStarted))
    }

    fn outcome(&self, id: JobId, job: Arc<JobSpec>, status: Status) -> Outcome {
        Outcome {
            id,
            url: redact_url(&job.url),
            path: display_path(&self.dir.join(&job.name)),
            status,
            verified: false,
            http_status: None,
            bytes: 0,
            elapsed: Duration::ZERO,
            attempts: 0,
            digest: None,
            connections: 0,
            ranges: 0,
            job,
        }
    }
}

/// The plan's jobs as the download threads take them (see `Ledger::track`).
pub(crate) struct Tracked(Arc<Ledger>);

impl Iterator for Tracked {
    type Item = (JobId, JobSpec);

    fn next(&mut self) -> Option<(JobId, JobSpec)> {
        let mut rest = lock(&self.0.rest);
        let next = rest.as_mut()?.next();
        match &next {
            Some((id, job)) => {
                lock(&self.0.handed).insert(*id, Arc::new(job.clone()));
            }
            // Fused: a plan that ran dry is not asked again.
            None => *rest = None,
        }
        next
    }
}

/// Paths as the user will recognise them: `-d .` gives `NAME`, not `./NAME` (as the
/// landing shows them).
fn display_path(path: &Path) -> String {
    path.strip_prefix(".")
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// A lock that a panicked holder did not spoil: the data is plain bookkeeping.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{End, Origin};

    fn job(n: usize) -> (JobId, JobSpec) {
        let spec = JobSpec {
            origin: Origin {
                source: Arc::from("list"),
                line: n + 1,
            },
            url: format!("http://u:secret@h/f{n}"),
            name: format!("f{n}"),
            expect: None,
            mirrors: Vec::new(),
        };
        (n as JobId, spec)
    }

    #[test]
    fn every_job_is_ended_unreported_or_not_started() {
        let ledger = Ledger::new((0..6).map(job), Path::new("./out"));
        let mut taken = ledger.track();
        let firsts: Vec<JobId> = taken.by_ref().take(3).map(|(id, _)| id).collect();
        assert_eq!(firsts, [0, 1, 2]);
        ledger.ended(1);
        let unreported = ledger.unreported();
        let ids: Vec<JobId> = unreported.iter().map(|o| o.id).collect();
        assert_eq!(ids, [0, 2]);
        assert!(
            unreported
                .iter()
                .all(|o| o.status.end() == End::Interrupted)
        );
        assert_eq!(unreported[0].path, "out/f0");
        assert_eq!(unreported[0].url, "http://h/f0", "userinfo is redacted");
        let rest: Vec<(JobId, End)> = ledger
            .not_started()
            .map(|o| (o.id, o.status.end()))
            .collect();
        assert_eq!(
            rest,
            [3, 4, 5].map(|id| (id, End::NotStarted)),
            "what no thread took"
        );
        assert_eq!(taken.next(), None, "the plan is drained once");
        assert_eq!(ledger.not_started().count(), 0);
    }

    #[test]
    fn a_finished_plan_leaves_nothing_to_account_for() {
        let ledger = Ledger::new((0..3).map(job), Path::new("d"));
        let taken: Vec<JobId> = ledger.track().map(|(id, _)| id).collect();
        for id in &taken {
            ledger.ended(*id);
        }
        assert_eq!(taken.len(), 3);
        assert!(ledger.unreported().is_empty());
        assert_eq!(ledger.not_started().count(), 0);
    }
}
