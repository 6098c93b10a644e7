//! One `get` job on a download thread: skip (and verify) a final file that is already
//! there, wait for its host, fetch the body (`download/`; a big file is driven over several
//! connections by `split.rs`, and an earlier run's split file resumed; its mirrors one
//! after another when a URL fails or serves the wrong bytes), and hand the complete bytes
//! to `land.rs`. Knows nothing about scheduling or the terminal.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::digest::Digest;
use crate::download::PartLock;
use crate::download::hosts::{HostPauses, HostSlots, host_key};
use crate::download::limit::RateLimit;
use crate::download::resume::{self, Sidecar};
use crate::download::segments::SegmentRecord;
use crate::download::{self, Fetch, Fetched, Sink, Transfer};
use crate::error::Failure;
use crate::job::{Event, JobId, JobSpec, Outcome};
use crate::land::{Body, Lander, part_path};
use crate::pool::{Help, Work};
use crate::settings::Http;
use crate::split::{Driven, Net, Progress, SplitFile, SplitFiles, SplitStats};
use crate::url::redact_url;

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
    /// --require-digest (on with --signed-by): a job without a known digest fails, unfetched.
    pub require_digest: bool,
    pub lander: Arc<Lander>,
    /// Big files split over idle threads (none with --no-split).
    pub split: Option<SplitFiles>,
}

impl Work<JobSpec> for Fetcher {
    fn run(&self, id: JobId, spec: &Arc<JobSpec>) {
        let start = Instant::now();
        let lander = &*self.lander;
        let land = &lander.settings;
        let mut outcome = lander.outcome(id, spec);
        // A test hook: compiled out of release builds, like its reading in settings.rs.
        if cfg!(debug_assertions) && self.panic_on.as_deref() == Some(spec.name.as_str()) {
            panic!("test hook: FETCHPOOL_TEST_PANIC_ON={}", spec.name);
        }
        if land.cancel.load(Ordering::Relaxed) {
            return lander.failed(outcome, start, Failure::Interrupted);
        }
        if self.require_digest && spec.expect.is_none() {
            return lander.failed(outcome, start, Failure::NoDigest);
        }
        let final_path = land.dir.join(&spec.name);
        // A Metalink name may hold directories (checked: relative, no `.` or `..`): they
        // are made inside -d now. If that fails, creating the .part fails and says why.
        if let Some((parent, _)) = spec.name.rsplit_once('/') {
            let _ = fs::create_dir_all(land.dir.join(parent));
        }
        if !land.overwrite && !self.fresh_dir && final_path.exists() {
            return lander.present(outcome, start, final_path);
        }
        let part = part_path(&final_path);
        let bytes_done = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicUsize::new(1));
        let progress = Progress {
            bytes_done: Arc::clone(&bytes_done),
            connections: Arc::clone(&connections),
        };
        let started = std::sync::Once::new();
        let on_size = |size: Option<u64>| {
            started.call_once(|| {
                land.events.send(Event::Started {
                    id,
                    name: spec.name.clone(),
                    size,
                    bytes_done: Arc::clone(&bytes_done),
                    connections: Arc::clone(&connections),
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
        let has_digest = spec.expect.is_some();
        let hash = spec.expect.as_ref().map(Digest::algo).or(land.digest_all);
        let offer_split = |offer: &download::segment::SplitOffer| {
            self.split
                .as_ref()
                .is_some_and(|files| files.should_split(offer, has_digest, true))
        };
        let mut job = Fetch {
            url: &spec.url,
            part: &part,
            http: &self.http,
            limit: self.limit.as_ref(),
            fsync: self.fsync,
            resume: self.resume,
            may_have_sidecar: !self.fresh_dir,
            may_be_unnamed: land.linker.is_some() && !land.overwrite,
            digest: hash,
            // With another mirror to try, a wrong body must be known here (see the loop
            // over mirrors below), not later on the hash pool.
            hash_resumable: has_digest && !spec.mirrors.is_empty(),
            split: self.split.as_ref().map(|_| &offer_split as _),
        };
        if !self.pauses.wait(&host, &land.cancel) {
            return lander.failed(outcome, start, Failure::Interrupted);
        }
        let slot = self.host_slots.as_ref().map(|s| s.take(host.clone()));
        // A split file an earlier run left: fetch only its missing ranges.
        let mut wrong_split = None;
        if let Some(file) = self.resumable_split(spec, &part, &host, &progress) {
            on_size(Some(file.total()));
            match self.drive_split(&file, None, hash) {
                Ok(driven) => {
                    if let Some(done) = self.split_ended(driven, &mut outcome, &part, 206) {
                        if let Some(got) = wrong_with_mirror_left(&done, spec) {
                            // To the mirrors below, as if the first URL had served it.
                            wrong_split = Some(got);
                        } else {
                            drop(slot);
                            let lock = file.part_lock();
                            return self.land_split(done, lock, outcome, start, part, final_path);
                        }
                    }
                }
                Err(failure) => {
                    drop(slot);
                    return lander.failed(outcome, start, failure);
                }
            }
            // The file changed: it starts over, and may be split again.
        }
        let mut transfer = match wrong_split {
            Some(got) => Transfer {
                result: Ok(Fetched {
                    http_status: 206,
                    unnamed: None,
                    digest: Some(got),
                    handover: None,
                }),
                attempts: 1,
                received: 0,
                // The segment record, removed with the `.part` below.
                sidecar: Sidecar {
                    on_disk: true,
                    ..Sidecar::default()
                },
            },
            None => download::fetch(&self.agent, &job, &sink),
        };
        let handover = match &mut transfer.result {
            Ok(fetched) => fetched.handover.take(),
            Err(_) => None,
        };
        if let Some(handover) = handover {
            outcome.attempts = transfer.attempts;
            let opened = self.split.as_ref().map(|files| {
                files.open(
                    &spec.url,
                    &host,
                    &part,
                    handover.total,
                    handover.validator.clone(),
                    None,
                    self.fsync,
                    progress.clone(),
                )
            });
            let first = handover.response.into_body();
            let lock = opened
                .as_ref()
                .and_then(|o| o.as_ref().ok())
                .and_then(|f| f.part_lock());
            let driven = match opened {
                Some(Ok(file)) => self.drive_split(&file, Some(first), hash),
                Some(Err(failure)) => Err(failure),
                None => unreachable!("only a run that splits takes a response over"),
            };
            match driven {
                Ok(driven) => match self.split_ended(driven, &mut outcome, &part, 200) {
                    Some(done) => {
                        let Some(got) = wrong_with_mirror_left(&done, spec) else {
                            drop(slot);
                            return self.land_split(done, lock, outcome, start, part, final_path);
                        };
                        // To the mirrors below, with the segment record and the `.part`.
                        transfer.result = Ok(Fetched {
                            http_status: 200,
                            unnamed: None,
                            digest: Some(got),
                            handover: None,
                        });
                        transfer.sidecar.on_disk = true;
                    }
                    None => {
                        // Never a splice: what is on disk is dropped and the file is
                        // fetched again as one stream from scratch.
                        job.split = None;
                        job.resume = false;
                        let received = outcome.bytes;
                        transfer = download::fetch(&self.agent, &job, &sink);
                        transfer.received += received;
                        transfer.attempts += outcome.attempts;
                    }
                },
                Err(failure) => {
                    drop(slot);
                    // Another run's `.part` (busy) is left to it.
                    if !matches!(failure, Failure::Busy { .. }) {
                        let _ = fs::remove_file(&part);
                    }
                    return lander.failed(outcome, start, failure);
                }
            }
        }
        drop(slot);
        let (mut attempts, mut received) = (transfer.attempts, transfer.received);
        // Mirrors (Metalink <url>s, `mirror=` fields): a URL that failed for good (connect
        // error, 4xx/5xx, stall, after its own retries) or served the wrong bytes hands
        // over to the next. A mirror's bytes are never resumed into another's: the .part
        // starts over.
        for (i, mirror) in spec.mirrors.iter().enumerate() {
            let failure = match (&transfer.result, &spec.expect) {
                (Err(failed), _) if !matches!(failed.failure, Failure::Interrupted) => {
                    failed.failure.to_string()
                }
                // A body that is not the expected one: the next mirror may have the right
                // bytes. While a mirror is left every body is hashed on the way in
                // (`hash_resumable`, a resumed `.part`'s prefix included), so it is known
                // here; the last mirror's may be hashed on the pool, and a mismatch there
                // fails the file (exit 3).
                (
                    Ok(Fetched {
                        digest: Some(got), ..
                    }),
                    Some(want),
                ) if got != want => Failure::Mismatch {
                    want: want.clone(),
                    got: got.clone(),
                }
                .to_string(),
                _ => break,
            };
            if land.cancel.load(Ordering::Relaxed) {
                break;
            }
            transfer.sidecar.discard(&part);
            let _ = fs::remove_file(&part);
            land.events.send(Event::Retrying {
                name: spec.name.clone(),
                attempt: attempts + 1,
                wait: Duration::ZERO,
                reason: format!(
                    "{failure} from {}; trying mirror {}",
                    redact_url(job.url),
                    redact_url(mirror)
                ),
            });
            job.url = mirror;
            // A mirror's body comes as one stream, from the start: ranges of one file
            // are never taken from two servers here.
            job.split = None;
            job.resume = false;
            job.hash_resumable = has_digest && i + 1 < spec.mirrors.len();
            let mirror_host = host_key(mirror);
            let slot = self.host_slots.as_ref().map(|s| s.take(mirror_host));
            transfer = download::fetch(&self.agent, &job, &sink);
            drop(slot);
            attempts += transfer.attempts;
            received += transfer.received;
        }
        // Says which mirror delivered (or failed last).
        outcome.url = redact_url(job.url);
        outcome.attempts = attempts;
        outcome.bytes += received;
        outcome.connections = outcome.connections.max(1);
        outcome.ranges += 1;
        match transfer.result {
            Ok(Fetched {
                http_status,
                unnamed,
                digest,
                handover: _,
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

    /// An idle thread takes a range of a big file in flight (see `split.rs`).
    fn help(&self) -> Help {
        match &self.split {
            Some(files) => files.help(&self.net()),
            None => Help::Idle,
        }
    }
}

/// The digest of a split file's bytes when it is not the one expected and the job has a
/// mirror to try instead: such a file is not landed (it would fail as a mismatch).
fn wrong_with_mirror_left(done: &Result<SplitDone, Failure>, spec: &JobSpec) -> Option<Digest> {
    match (done, &spec.expect) {
        (Ok(SplitDone { digest: Some(got) }), Some(want))
            if got != want && !spec.mirrors.is_empty() =>
        {
            Some(got.clone())
        }
        _ => None,
    }
}

/// A split file whose every byte is on disk.
struct SplitDone {
    digest: Option<Digest>,
}

impl Fetcher {
    fn net(&self) -> Net<'_> {
        Net {
            agent: &self.agent,
            http: &self.http,
            limit: self.limit.as_ref(),
            cancel: &self.lander.settings.cancel,
            host_slots: self.host_slots.as_ref(),
        }
    }

    /// The split file `part` an earlier run left, when its record is for this URL and the
    /// `.part` has the recorded length; anything else is left to `download::fetch`, which
    /// discards a sidecar it cannot use.
    fn resumable_split(
        &self,
        spec: &JobSpec,
        part: &std::path::Path,
        host: &str,
        progress: &Progress,
    ) -> Option<Arc<SplitFile>> {
        let files = self.split.as_ref()?;
        if !self.resume || self.fresh_dir {
            return None;
        }
        let record = SegmentRecord::read(part)?;
        let len = fs::symlink_metadata(part)
            .ok()
            .filter(|m| m.is_file())?
            .len();
        if record.url_id != resume::url_id(&spec.url) || len != record.total {
            return None;
        }
        files
            .open(
                &spec.url,
                host,
                part,
                record.total,
                Some(record.validator),
                Some(record.on_disk),
                self.fsync,
                progress.clone(),
            )
            .ok()
    }

    fn drive_split(
        &self,
        file: &Arc<SplitFile>,
        first: Option<ureq::Body>,
        hash: Option<crate::digest::Algo>,
    ) -> Result<Driven, Failure> {
        let files = self
            .split
            .as_ref()
            .expect("a split file implies a run that splits");
        Ok(files.drive(&self.net(), file, first, hash))
    }

    /// Books a split file's end in `outcome`. `Some` when its bytes are complete; `None` when
    /// a splice was refused and the file must start over (the `.part` and sidecar are gone).
    fn split_ended(
        &self,
        driven: Driven,
        outcome: &mut Outcome,
        part: &std::path::Path,
        http_status: u16,
    ) -> Option<Result<SplitDone, Failure>> {
        let add = |outcome: &mut Outcome, stats: &SplitStats| {
            outcome.bytes += stats.received;
            outcome.connections = outcome.connections.max(stats.connections);
            outcome.ranges += stats.ranges;
        };
        match driven {
            Driven::Complete { digest, stats } => {
                add(outcome, &stats);
                outcome.http_status = Some(http_status);
                Some(Ok(SplitDone { digest }))
            }
            Driven::Splice { why, stats } => {
                add(outcome, &stats);
                let mut sidecar = Sidecar {
                    saved: None,
                    on_disk: true,
                    ..Sidecar::default()
                };
                sidecar.discard(part);
                let _ = fs::remove_file(part);
                self.lander.settings.events.send(Event::Retrying {
                    name: outcome.job.name.clone(),
                    attempt: outcome.attempts + 1,
                    wait: Duration::ZERO,
                    reason: format!("{why}; starting over as one stream"),
                });
                None
            }
            Driven::Failed { failure, stats } => {
                add(outcome, &stats);
                // Without a validator there is no record, and nothing a later run could
                // resume safely.
                if SegmentRecord::read(part).is_none() {
                    let _ = fs::remove_file(part);
                }
                Some(Err(failure))
            }
        }
    }

    fn land_split(
        &self,
        done: Result<SplitDone, Failure>,
        lock: Option<Arc<PartLock>>,
        outcome: Outcome,
        start: Instant,
        part: std::path::PathBuf,
        final_path: std::path::PathBuf,
    ) {
        match done {
            Ok(SplitDone { digest }) => {
                let body = Body {
                    part,
                    // The segment record goes when the file lands (or fails to verify).
                    sidecar: Sidecar {
                        saved: None,
                        on_disk: true,
                        lock,
                        foreign: false,
                    },
                    unnamed: None,
                    digest,
                };
                self.lander.fetched(outcome, start, body, final_path);
            }
            Err(failure) => self.lander.failed(outcome, start, failure),
        }
    }
}
