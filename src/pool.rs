//! Scheduling only: `-j N` threads of a `threadpool::ThreadPool` pull jobs one at a time
//! from the lazily read plan, so memory stays flat however long the list; a panic in a
//! job is caught and handed back as that job's failure, and the thread takes the next one.
//! Knows nothing about HTTP, digests or the terminal.

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use threadpool::ThreadPool;

use crate::job::JobId;
use crate::land::panic_message;

/// After an interrupt, running jobs stop at their next read; one blocked on a silent
/// server would hold the run until its stall timeout, so wait only this long for them.
/// Their `.part` files are on disk either way.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// What a pool thread does with a job, and with a job whose run panicked.
pub(crate) trait Work<J>: Send + Sync + 'static {
    fn run(&self, id: JobId, job: &Arc<J>);
    fn panicked(&self, id: JobId, job: &Arc<J>, message: String);
}

/// The download threads of a run, as `spawn` left them running.
pub(crate) struct Running {
    /// Hears the last thread go (each holds a sender until it ends).
    all_done: Receiver<()>,
    done: AtomicBool,
    cancelled_at: Mutex<Option<Instant>>,
    _pool: ThreadPool,
}

/// Runs `jobs` on `threads` threads of a `threadpool::ThreadPool`, and returns at once.
///
/// Each thread takes its next job straight from the iterator (which reads and parses the
/// list lazily) under a lock held for one `next()`: no queue to bound and no hand-off
/// between threads per job, which at thousands of small files a second cost two context
/// switches each. After `cancel` no thread starts another job.
pub(crate) fn spawn<J: Send + Sync + 'static>(
    jobs: impl Iterator<Item = (JobId, J)> + Send + 'static,
    threads: NonZeroUsize,
    work: Arc<dyn Work<J>>,
    cancel: Arc<AtomicBool>,
) -> Running {
    let jobs = Arc::new(Mutex::new(jobs));
    let (running, all_done) = std::sync::mpsc::channel::<()>();
    let pool = ThreadPool::with_name("download".into(), threads.get());
    for _ in 0..threads.get() {
        let jobs = Arc::clone(&jobs);
        let work = Arc::clone(&work);
        let cancel = Arc::clone(&cancel);
        let running = running.clone();
        pool.execute(move || {
            // Locals drop in reverse order: this thread's hold on the work (and so on
            // the hash pool) goes before the sender that says it is done.
            let _running = running;
            let (jobs, work) = (jobs, work);
            while !cancel.load(Ordering::Relaxed) {
                // A poisoned lock means a thread panicked mid-`next()`: stop too.
                let next = jobs.lock().ok().and_then(|mut jobs| jobs.next());
                let Some((id, job)) = next else { break };
                let job = Arc::new(job);
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| work.run(id, &job))) {
                    work.panicked(id, &job, panic_message(panic.as_ref()));
                }
            }
        });
    }
    Running {
        all_done,
        done: AtomicBool::new(false),
        cancelled_at: Mutex::new(None),
        _pool: pool,
    }
}

impl Running {
    /// Whether any thread may still be working: false once all have ended, or
    /// `INTERRUPT_GRACE` after `cancel` was first seen set (threads still stuck then are
    /// left behind; the process is about to end).
    pub(crate) fn is_busy(&self, cancel: &AtomicBool) -> bool {
        if self.done.load(Ordering::Relaxed) {
            return false;
        }
        if let Err(TryRecvError::Disconnected) = self.all_done.try_recv() {
            self.done.store(true, Ordering::Relaxed);
            return false;
        }
        if cancel.load(Ordering::Relaxed) {
            let mut at = self.cancelled_at.lock().unwrap_or_else(|e| e.into_inner());
            if at.get_or_insert_with(Instant::now).elapsed() >= INTERRUPT_GRACE {
                return false;
            }
        }
        true
    }

    /// Waits until `is_busy` says no.
    #[cfg(test)]
    pub(crate) fn wait(&self, cancel: &AtomicBool) {
        while self.is_busy(cancel) {
            let _ = self.all_done.recv_timeout(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count {
        ran: AtomicUsize,
        panicked: Mutex<Vec<(JobId, String)>>,
    }

    impl Work<&'static str> for Count {
        fn run(&self, id: JobId, _job: &Arc<&'static str>) {
            if id == 3 {
                panic!("job three");
            }
            self.ran.fetch_add(1, Ordering::Relaxed);
        }
        fn panicked(&self, id: JobId, job: &Arc<&'static str>, message: String) {
            self.panicked
                .lock()
                .unwrap()
                .push((id, format!("{job}: {message}")));
        }
    }

    #[test]
    fn a_panicking_job_is_handed_back_and_its_thread_runs_the_rest() {
        let count = Arc::new(Count {
            ran: AtomicUsize::new(0),
            panicked: Mutex::new(Vec::new()),
        });
        let cancel = Arc::new(AtomicBool::new(false));
        // One thread: the job after the panic runs on the thread that panicked.
        let jobs = (0..10).map(|id| (id, "a job"));
        let running = spawn(jobs, NonZeroUsize::MIN, count.clone(), cancel.clone());
        running.wait(&cancel);
        assert_eq!(count.ran.load(Ordering::Relaxed), 9);
        assert_eq!(
            *count.panicked.lock().unwrap(),
            [(3, "a job: job three".into())]
        );
    }
}
