//! One `get` job on a download thread: skip (and verify) a final file that is already
//! there, wait for its host, fetch the body (`download/`), and hand the complete bytes to
//! `land.rs`. Knows nothing about scheduling, hashing or the terminal.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::digest::Digest;
use crate::download::hosts::{HostPauses, HostSlots, host_key};
use crate::download::limit::RateLimit;
use crate::download::{self, Fetch, Fetched, Sink};
use crate::error::Failure;
use crate::job::{Event, JobId, JobSpec};
use crate::land::{Body, Lander, part_path};
use crate::pool::Work;
use crate::settings::Http;

/// What every download thread shares.
pub(crate) struct Fetcher {
    pub agent: Agent,
    pub http: Http,
    /// Resume `.part` files left by earlier runs (off with --no-continue).
    pub resume: bool,
    /// The output directory was new or empty when the run began: no final name, `.part` or
    /// sidecar can be there unless this run put it there, so the per-file lookups for them
    /// are skipped (two of the six file-system calls of a small file). Landing still never
    /// replaces a file.
    pub fresh_dir: bool,
    /// --max-per-host.
    pub host_slots: Option<HostSlots>,
    /// Hosts that answered 429 or 503 with Retry-After, until when.
    pub pauses: HostPauses,
    /// --limit-rate, shared by every download.
    pub limit: Option<RateLimit>,
    /// --fsync: each file is synced before it gets its final name.
    pub fsync: bool,
    /// Test hook (`FETCHPOOL_TEST_PANIC_ON`): panic on the job with this output name.
    pub panic_on: Option<String>,
    pub lander: Arc<Lander>,
}

impl Work<JobSpec> for Fetcher {
    fn run(&self, id: JobId, spec: &Arc<JobSpec>) {
        let start = Instant::now();
        let lander = &*self.lander;
        let land = &lander.settings;
        let mut outcome = lander.outcome(id, spec);
        if self.panic_on.as_deref() == Some(spec.name.as_str()) {
            panic!("test hook: FETCHPOOL_TEST_PANIC_ON={}", spec.name);
        }
        if land.cancel.load(Ordering::Relaxed) {
            return lander.failed(outcome, start, Failure::Interrupted);
        }
        let final_path = land.dir.join(&spec.name);
        if !land.overwrite && !self.fresh_dir && final_path.exists() {
            return lander.present(outcome, start, final_path);
        }
        let part = part_path(&final_path);
        let bytes_done = Arc::new(AtomicU64::new(0));
        let started = std::sync::Once::new();
        let on_size = |size: Option<u64>| {
            started.call_once(|| {
                land.events.send(Event::Started {
                    id,
                    name: spec.name.clone(),
                    size,
                    bytes_done: Arc::clone(&bytes_done),
                });
            });
        };
        let host = host_key(&spec.url);
        let on_retry = |attempt: u32, wait: Duration, why: &Failure| {
            // The server asked for a pause: no other download starts there meanwhile.
            if let Failure::Http {
                status: 429 | 503,
                retry_after: Some(_),
            } = why
            {
                self.pauses.pause(&host, Instant::now() + wait);
            }
            land.events.send(Event::Retrying {
                name: spec.name.clone(),
                attempt: attempt + 1,
                wait,
                reason: why.to_string(),
            });
        };
        let sink = Sink {
            bytes_done: &bytes_done,
            cancel: &land.cancel,
            on_size: &on_size,
            on_retry: &on_retry,
        };
        let job = Fetch {
            url: &spec.url,
            part: &part,
            http: &self.http,
            limit: self.limit.as_ref(),
            fsync: self.fsync,
            resume: self.resume,
            may_have_sidecar: !self.fresh_dir,
            may_be_unnamed: land.linker.is_some() && !land.overwrite,
            digest: spec.expect.as_ref().map(Digest::algo).or(land.digest_all),
        };
        if !self.pauses.wait(&host, &land.cancel) {
            return lander.failed(outcome, start, Failure::Interrupted);
        }
        let slot = self.host_slots.as_ref().map(|s| s.take(host.clone()));
        let mut transfer = download::fetch(&self.agent, &job, &sink);
        drop(slot);
        outcome.attempts = transfer.attempts;
        outcome.bytes = transfer.received;
        match transfer.result {
            Ok(Fetched {
                http_status,
                unnamed,
                digest,
            }) => {
                outcome.http_status = Some(http_status);
                let body = Body {
                    part,
                    sidecar: transfer.sidecar,
                    unnamed,
                    digest,
                };
                lander.fetched(outcome, start, body, final_path);
            }
            Err(failed) => {
                outcome.http_status = failed.http_status;
                // Keep what a later run can resume; anything else is just clutter.
                if !transfer.sidecar.is_resumable() {
                    transfer.sidecar.discard(&part);
                    let _ = fs::remove_file(&part);
                }
                lander.failed(outcome, start, failed.failure);
            }
        }
    }

    /// A job whose thread panicked (a bug) fails like any other: it is reported and
    /// counted, and the run's exit status says so.
    fn panicked(&self, id: JobId, spec: &Arc<JobSpec>, message: String) {
        let outcome = self.lander.outcome(id, spec);
        self.lander
            .failed(outcome, Instant::now(), Failure::Panicked(message));
    }
}
